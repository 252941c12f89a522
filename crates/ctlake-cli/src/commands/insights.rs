//! `ctlake insights`: CloudTrail Insights computed from the lake and stored in it as the
//! `insights` table, from `ctlake_query::insights`.

use std::io::{self, Write};

use chrono::NaiveDateTime;
use ctlake_query::insights::{Insight, Params};

use crate::args::{self, LakeArg};
use crate::{Global, format};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// One line per insight.
    Table,
    /// The Start and End records, as one JSON array.
    Json,
    /// One record per line, in the shape trails deliver under `CloudTrail-Insight/`.
    Ndjson,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    lake: LakeArg,
    /// Insights starting from this time [default: seven days after the lake's first event,
    /// so every minute has a full baseline].
    #[arg(long, value_name = "TIME", value_parser = args::instant)]
    from: Option<NaiveDateTime>,
    /// Up to this time [default: the lake's newest event].
    #[arg(long, value_name = "TIME", value_parser = args::instant)]
    to: Option<NaiveDateTime>,
    /// Go on from the end of the last window analysed (the minutes since then only).
    #[arg(long, conflicts_with = "from")]
    since_last: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

impl Args {
    pub fn run(self, global: &Global) -> anyhow::Result<u8> {
        let runtime = global.runtime()?;
        let lake = runtime.block_on(global.open(&self.lake.lake))?;
        let params = Params::default();
        let Some((default_from, newest)) =
            runtime.block_on(lake.insight_window(&params, self.since_last))?
        else {
            writeln!(io::stderr(), "the lake is empty: no insights")?;
            return Ok(0);
        };
        let (from, to) = (self.from.unwrap_or(default_from), self.to.unwrap_or(newest));
        let done = runtime.block_on(lake.compute_insights(from, to, &params, self.since_last))?;
        let (found, records) = (&done.insights, &done.records);
        let mut out = io::stdout().lock();
        match self.format {
            Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(records)?)?,
            Format::Ndjson => {
                for r in records {
                    writeln!(out, "{r}")?;
                }
            }
            Format::Table => table(&mut out, found)?,
        }
        writeln!(
            io::stderr(),
            "{} insights from {} to {}{}; stored in the lake's `insights` table",
            format::count(found.len() as u64),
            done.from.format("%Y-%m-%d %H:%M"),
            done.to.format("%Y-%m-%d %H:%M"),
            if done.went_on {
                " (the baselines kept by the last run, and this window's events)"
            } else {
                ""
            }
        )?;
        Ok(0)
    }
}

fn table(out: &mut impl Write, found: &[Insight]) -> io::Result<()> {
    let time = |m: i64| {
        chrono::DateTime::from_timestamp(m * 60, 0)
            .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_default()
    };
    for i in found {
        let top = i
            .attributions
            .iter()
            .find(|a| a.attribute == "userIdentityArn")
            .and_then(|a| a.insight.first())
            .map(|(v, _)| v.as_str())
            .unwrap_or("-");
        writeln!(
            out,
            "{} .. {}  {:<19} {} {} {}:{}{}  {:.4}/min over a baseline of {:.4}/min; top principal {}",
            time(i.found.start),
            time(i.found.end),
            i.kind.name(),
            i.account,
            i.region,
            i.source,
            i.name,
            i.error_code
                .as_deref()
                .map(|c| format!(" ({c})"))
                .unwrap_or_default(),
            i.found.average(),
            i.found.baseline_average,
            top
        )?;
    }
    Ok(())
}
