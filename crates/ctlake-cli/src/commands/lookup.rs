//! `ctlake lookup`: CloudTrail Event history's lookup over the lake, as a table or as
//! `aws cloudtrail lookup-events` JSON.

use std::io::{self, BufWriter, Write};

use chrono::NaiveDateTime;
use ctlake_query::aws;
use ctlake_query::lookup::{Attribute, Lookup};

use crate::Global;
use crate::args::{self, LakeArg};
use crate::output::print_query_error;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// NAME=VALUE, NAME one of EventId, EventName, ReadOnly, Username, ResourceType,
    /// ResourceName, EventSource, AccessKeyId (repeat: all must match).
    #[arg(
        long = "attribute",
        short = 'a',
        value_name = "NAME=VALUE",
        required = true,
        value_parser = args::lookup_attribute
    )]
    attributes: Vec<(Attribute, String)>,
    #[command(flatten)]
    lake: LakeArg,
    /// Start: -15m, -36h, -7d, -2w, today, yesterday, now or an ISO date.
    #[arg(
        long,
        value_name = "TIME",
        default_value = "-90d",
        allow_hyphen_values = true,
        value_parser = args::instant
    )]
    from: NaiveDateTime,
    /// End (exclusive).
    #[arg(
        long,
        value_name = "TIME",
        default_value = "now",
        allow_hyphen_values = true,
        value_parser = args::instant
    )]
    to: NaiveDateTime,
    /// At most this many events.
    #[arg(long, default_value_t = 50, value_name = "N")]
    max_results: usize,
    /// `json` prints `aws cloudtrail lookup-events` output (Events, with CloudTrailEvent).
    #[arg(long, value_enum, default_value_t = Output::Table)]
    output: Output,
}

/// What `ctlake lookup` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Output {
    /// A table of time, event, user, source and key.
    Table,
    /// `aws cloudtrail lookup-events` JSON.
    Json,
}

impl Args {
    pub fn run(self, global: &Global) -> anyhow::Result<u8> {
        let lookup = Lookup {
            attributes: self.attributes,
            from: self.from,
            to: self.to,
            max_results: self.max_results,
        };
        global.runtime()?.block_on(async {
            let lake = global.open(&self.lake.lake).await?;
            let frame = match lake.lookup(&lookup).await {
                Ok(f) => f,
                Err(e) => return Ok(print_query_error(&e, "")),
            };
            if self.output == Output::Table {
                let frame = frame.select_columns(&[
                    "eventtime",
                    "eventname",
                    "username",
                    "eventsource",
                    "accesskeyid",
                    "readonly",
                ])?;
                return super::query::print_table(&lake, frame).await;
            }
            let batches = lake.run(frame).await?.batches;
            let mut out = BufWriter::new(io::stdout());
            serde_json::to_writer_pretty(&mut out, &aws::lookup_events(&batches)?)?;
            writeln!(out)?;
            out.flush()?;
            Ok(0)
        })
    }
}
