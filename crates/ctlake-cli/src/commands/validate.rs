//! `ctlake validate`: CloudTrail log file integrity validation of a trail copy (local or
//! `s3://`), in the words of `aws cloudtrail validate-logs`, from `ctlake-digest`.

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::Context;
use chrono::NaiveDateTime;
use ctlake_digest::{Event, Options, PublicKeys, Subject, Summary, Verdict};
use ctlake_store::Location;

use crate::{EXIT_DAMAGED, Global, args, format};

/// Exit code of `validate` for a usage error (bad arguments, unreadable keys, no trail).
pub const EXIT_VALIDATE_USAGE: u8 = 2;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A trail copy: an `AWSLogs/` folder, a folder above it, or an `s3://bucket/prefix`.
    #[arg(value_name = "SRC", required = true)]
    sources: Vec<String>,
    /// AWS's public keys, as `aws cloudtrail list-public-keys --start-time .. > keys.json`
    /// prints them.
    #[arg(long, value_name = "FILE")]
    public_keys: PathBuf,
    /// Validate digests and log files from this time (`-7d`, an ISO date, ...).
    #[arg(long, value_name = "TIME", value_parser = args::instant)]
    from: Option<NaiveDateTime>,
    /// Up to this time.
    #[arg(long, value_name = "TIME", value_parser = args::instant)]
    to: Option<NaiveDateTime>,
    /// Also print a line for every valid digest and log file.
    #[arg(long)]
    verbose: bool,
}

impl Args {
    pub fn run(self, _: &Global) -> anyhow::Result<u8> {
        match self.validate() {
            Ok(code) => Ok(code),
            Err(e) if crate::is_broken_pipe(&e) => Err(e),
            Err(e) => {
                let _ = writeln!(io::stderr(), "error: {}", crate::error_text(&e));
                Ok(EXIT_VALIDATE_USAGE)
            }
        }
    }

    fn validate(self) -> anyhow::Result<u8> {
        let keys = PublicKeys::read(&self.public_keys)?;
        let locations = self
            .sources
            .iter()
            .map(|s| Location::parse(s))
            .collect::<Result<Vec<_>, _>>()?;
        let options = Options {
            from: self.from.map(|t| t.and_utc()),
            to: self.to.map(|t| t.and_utc()),
        };
        // Local reads run on tokio's blocking threads; a few suffice for 8 reads in flight,
        // and each idle thread kept holds memory of its own.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .max_blocking_threads(16)
            .build()
            .context("starting the runtime")?;
        let mut total = Summary::default();
        let progress = io::stderr().is_terminal().then(|| {
            let p = indicatif::ProgressBar::new_spinner();
            p.enable_steady_tick(std::time::Duration::from_millis(200));
            p
        });
        for location in &locations {
            let mut out = io::stdout().lock();
            writeln!(
                out,
                "Validating the trail copy at {location}{}",
                window(&options)
            )?;
            drop(out);
            let mut seen = 0u64;
            let mut failed: Option<io::Error> = None;
            let mut on_event = |e: &Event| {
                seen += 1;
                if let Some(p) = &progress {
                    p.set_message(format!("{} files checked", format::count(seen)));
                }
                let line = line(e, self.verbose);
                let write = || -> io::Result<()> {
                    match line {
                        Some((true, text)) => writeln!(io::stderr(), "{text}"),
                        Some((false, text)) => writeln!(io::stdout(), "{text}"),
                        None => Ok(()),
                    }
                };
                let result = match &progress {
                    Some(p) => p.suspend(write),
                    None => write(),
                };
                if let Err(e) = result
                    && failed.is_none()
                {
                    failed = Some(e);
                }
            };
            let summary = runtime
                .block_on(ctlake_digest::validate(
                    location,
                    &keys,
                    &options,
                    &mut on_event,
                ))
                .with_context(|| format!("validating {location}"))?;
            if let Some(e) = failed {
                return Err(e.into());
            }
            if let Some(p) = &progress {
                p.set_message("");
            }
            print_summary(&mut io::stdout().lock(), location, &summary)?;
            total.add(&summary);
        }
        if let Some(p) = progress {
            p.finish_and_clear();
        }
        Ok(if total.clean() { 0 } else { EXIT_DAMAGED })
    }
}

fn window(o: &Options) -> String {
    let show = |t: &chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    match (&o.from, &o.to) {
        (None, None) => String::new(),
        (Some(f), None) => format!(" from {}", show(f)),
        (None, Some(t)) => format!(" up to {}", show(t)),
        (Some(f), Some(t)) => format!(" between {} and {}", show(f), show(t)),
    }
}

/// The line for an event and whether it goes to stderr (as `validate-logs` writes INVALID
/// lines), or `None` for a valid file without `--verbose`.
fn line(e: &Event, verbose: bool) -> Option<(bool, String)> {
    match e {
        Event::Gap { from, to } => Some((
            true,
            format!("No log files were delivered by CloudTrail between {from} and {to}"),
        )),
        Event::File {
            subject,
            url,
            verdict,
        } => {
            let what = match subject {
                Subject::Digest => "Digest file",
                Subject::Log => "Log file",
            };
            let (error, message) = match verdict {
                Verdict::Valid if !verbose => return None,
                Verdict::Valid => (false, "valid".to_string()),
                Verdict::Invalid(m) => (true, format!("INVALID: {m}")),
                Verdict::Unverifiable(m) => (false, m.clone()),
                Verdict::Unlisted => (true, "INVALID: not listed by any digest".into()),
                Verdict::Uncovered => (
                    false,
                    "not covered yet: delivered after the newest digest".into(),
                ),
            };
            Some((error, format!("{what}\t{url}\t{message}")))
        }
    }
}

/// `1 log file`, `2 log files`.
fn files(n: u64) -> String {
    format!("{n} log file{}", if n == 1 { "" } else { "s" })
}

/// `validate-logs`' summary lines, and ours for what it has no words for.
fn print_summary(out: &mut impl Write, location: &Location, s: &Summary) -> io::Result<()> {
    writeln!(out, "\nResults for {location}:")?;
    let digests = s.digests_valid + s.digests_invalid + s.digests_unverifiable;
    let logs = s.logs_valid + s.logs_invalid + s.logs_unlisted;
    if digests == 0 {
        writeln!(out, "No digests found")?;
    }
    let ratio = |out: &mut dyn Write, valid: u64, invalid: u64, total: u64, name: &str| {
        if total == 0 {
            return Ok(());
        }
        write!(out, "{valid}/{total} {name} files valid")?;
        if invalid > 0 {
            write!(out, ", {invalid}/{total} {name} files INVALID")?;
        }
        writeln!(out)
    };
    ratio(out, s.digests_valid, s.digests_invalid, digests, "digest")?;
    if s.digests_unverifiable > 0 {
        writeln!(
            out,
            "{}/{digests} digest files not verifiable by signature (see the lines above)",
            s.digests_unverifiable
        )?;
    }
    ratio(
        out,
        s.logs_valid,
        s.logs_invalid + s.logs_unlisted,
        logs,
        "log",
    )?;
    if s.logs_unlisted > 0 {
        writeln!(
            out,
            "{} not listed by any digest (not delivered by CloudTrail, or their digest is missing)",
            files(s.logs_unlisted)
        )?;
    }
    if s.logs_uncovered > 0 {
        writeln!(
            out,
            "{} delivered after the newest digest, not covered yet",
            files(s.logs_uncovered)
        )?;
    }
    writeln!(out)
}
