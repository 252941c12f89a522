//! `ctlake report`: runs a report spec and writes its files.

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use chrono::NaiveDateTime;
use ctlake_query::report::Spec;

use crate::args::{self, LakeArg};
use crate::format::count;
use crate::output::print_query_error;
use crate::{EXIT_FINDINGS, Global};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The report: `overview`, `security`, or a TOML spec file.
    #[arg(long, default_value = "security", value_name = "NAME|FILE")]
    spec: String,
    #[command(flatten)]
    lake: LakeArg,
    #[command(flatten)]
    library: super::saved::LibraryArg,
    /// Start: -15m, -36h, -7d, -2w, today, yesterday, now or an ISO date.
    #[arg(
        long,
        value_name = "TIME",
        default_value = "-30d",
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
    /// The folder to write.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Exit with status 3 when a detection query returns rows (for CI and cron).
    #[arg(long)]
    fail_on_findings: bool,
}

impl Args {
    pub fn run(self, global: &Global) -> anyhow::Result<u8> {
        let spec = match self.spec.as_str() {
            "overview" | "security" => Spec::built_in(&self.spec)?,
            file => Spec::parse(
                file,
                &std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?,
            )?,
        };
        global.runtime()?.block_on(async {
            let lake = global.open(&self.lake.lake).await?;
            let library = self.library.library(lake.root())?;
            let started = Instant::now();
            let r =
                match ctlake_query::report::run(&lake, &library, &spec, self.from, self.to).await {
                    Ok(r) => r,
                    Err(e) => return Ok(print_query_error(&e, "")),
                };
            for o in &r.overrides {
                super::saved::warn_override(o);
            }
            r.write(&self.out)?;
            let findings = r.findings();
            let mut stdout = io::stdout().lock();
            writeln!(
                stdout,
                "{}: {} queries over {} events ({} .. {}), {} findings, in {:.2} s",
                r.title,
                r.sections.len(),
                count(r.events),
                self.from.format("%Y-%m-%d %H:%M"),
                self.to.format("%Y-%m-%d %H:%M"),
                count(findings as u64),
                started.elapsed().as_secs_f64()
            )?;
            writeln!(stdout, "wrote {}", self.out.join("index.html").display())?;
            Ok(if self.fail_on_findings && findings > 0 {
                EXIT_FINDINGS
            } else {
                0
            })
        })
    }
}
