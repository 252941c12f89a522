//! How results are shown: numbers, sizes, the progress display and summaries.

use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ctlake_ingest::manifest::format_micros;
use ctlake_ingest::{IngestReport, LakeSummary, Progress};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// `1234567` as `1,234,567`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A byte count in B, KB, MB or GB (decimal units).
pub fn bytes(n: u64) -> String {
    let n = n as f64;
    if n < 1e3 {
        format!("{n} B")
    } else if n < 1e6 {
        format!("{:.1} KB", n / 1e3)
    } else if n < 1e9 {
        format!("{:.1} MB", n / 1e6)
    } else {
        format!("{:.2} GB", n / 1e9)
    }
}

/// What a query's statistics line adds when it skipped files as it ran (`""` otherwise).
pub fn skipped(s: &ctlake_query::ScanStatistics) -> String {
    if s.files_skipped == 0 {
        return String::new();
    }
    format!(
        ", of which {} skipped unread once its top rows were found",
        count(s.files_skipped)
    )
}

/// How often plain progress lines are printed when stderr is not a terminal.
const PLAIN_PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// An age as `--older-than` takes it: `0s`, `90s`, `30m`, `1h`, `2d`.
pub fn age(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => "0s".into(),
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// Shows progress until `done`: a bar on a terminal, a plain line every few seconds otherwise.
pub fn show_progress(p: &Progress, done: &AtomicBool) {
    let started = Instant::now();
    if io::stderr().is_terminal() {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr_with_hz(8));
        bar.set_style(
            ProgressStyle::with_template("{bar:30.cyan/blue} {percent:>3}% {msg} ETA {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        while !done.load(Ordering::Relaxed) {
            let total = p.bytes_total.load(Ordering::Relaxed);
            bar.set_length(total.max(1));
            bar.set_position(p.bytes_done.load(Ordering::Relaxed));
            bar.set_message(line(p, started));
            std::thread::sleep(Duration::from_millis(100));
        }
        bar.finish_and_clear();
    } else {
        let mut last = Instant::now();
        while !done.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(100));
            if last.elapsed() >= PLAIN_PROGRESS_EVERY {
                last = Instant::now();
                let _ = writeln!(io::stderr(), "ingest: {}", line(p, started));
            }
        }
    }
}

fn line(p: &Progress, started: Instant) -> String {
    let events = p.events.load(Ordering::Relaxed);
    let secs = started.elapsed().as_secs_f64().max(1e-3);
    // While the walk is still finding files the totals grow: say so.
    let more = if p.discovering.load(Ordering::Relaxed) {
        "+"
    } else {
        ""
    };
    format!(
        "{}/{}{more} files, {} events, {}/{}, {} events/s",
        count(p.files_done.load(Ordering::Relaxed)),
        count(p.files_total.load(Ordering::Relaxed)),
        count(events),
        bytes(p.bytes_done.load(Ordering::Relaxed)),
        bytes(p.bytes_total.load(Ordering::Relaxed)),
        count((events as f64 / secs) as u64)
    )
}

/// The end-of-run summary of `ctlake ingest`.
pub fn ingest_summary(
    out: &mut impl Write,
    r: &IngestReport,
    lake: &Path,
    id: &str,
) -> io::Result<()> {
    let rate = r.events_read as f64 / r.seconds.max(1e-6);
    writeln!(
        out,
        "files:      {} ingested, {} unchanged, {} skipped, {} failed, {} digests passed over",
        count(r.files_ingested as u64),
        count(r.files_unchanged as u64),
        count(r.skipped.len() as u64),
        count(r.failed.len() as u64),
        count(r.digests.len() as u64),
    )?;
    writeln!(
        out,
        "events:     {} read, {} written, {} duplicates dropped, {} rejected",
        count(r.events_read),
        count(r.events_written),
        count(r.duplicates),
        count(r.rejects)
    )?;
    writeln!(
        out,
        "partitions: {} touched, {} data files written ({})",
        count(r.partitions.len() as u64),
        count(r.files_written as u64),
        bytes(r.bytes_written)
    )?;
    writeln!(
        out,
        "time:       {:.2} s, {} events/s (finding files {:.2} s, writing {:.2} s, committing {:.2} s)",
        r.seconds,
        count(rate as u64),
        r.discover_seconds,
        r.write_seconds,
        r.commit_seconds
    )?;
    if r.compaction.partitions > 0 {
        writeln!(
            out,
            "compacted:  {} partitions, {} small files into {} in {:.2} s",
            count(r.compaction.partitions as u64),
            count(r.compaction.files_before as u64),
            count(r.compaction.files_after as u64),
            r.compaction.seconds
        )?;
    }
    writeln!(
        out,
        "lake:       {} (event data store {id})",
        lake.display()
    )?;
    Ok(())
}

/// What `ctlake compact` did.
pub fn compact_summary(out: &mut impl Write, r: &ctlake_ingest::CompactReport) -> io::Result<()> {
    if r.partitions == 0 {
        return writeln!(
            out,
            "nothing to compact: no partition holds several small files"
        );
    }
    writeln!(
        out,
        "compacted {} partitions: {} files ({}) into {} ({}), {} events, in {:.2} s",
        count(r.partitions as u64),
        count(r.files_before as u64),
        bytes(r.bytes_before),
        count(r.files_after as u64),
        bytes(r.bytes_after),
        count(r.rows),
        r.seconds
    )
}

/// `ctlake info` as text.
pub fn info_text(out: &mut impl Write, lake: &Path, s: &LakeSummary) -> io::Result<()> {
    let mut row = |label: &str, value: String| writeln!(out, "{:<19}{value}", format!("{label}:"));
    row("lake", lake.display().to_string())?;
    row("event data store", s.id.clone())?;
    row("events", count(s.events))?;
    row(
        "time range",
        match s.time_range {
            Some((lo, hi)) => format!("{} .. {}", format_micros(lo), format_micros(hi)),
            None => "(empty lake)".into(),
        },
    )?;
    let regions: Vec<String> = s
        .regions
        .iter()
        .map(|(r, n)| format!("{r} ({})", count(*n)))
        .collect();
    row(
        &format!("regions ({})", s.regions.len()),
        regions.join(", "),
    )?;
    row(
        &format!("dates ({})", s.dates.len()),
        match (s.dates.first(), s.dates.last()) {
            (Some(a), Some(b)) => format!("{a} .. {b}"),
            _ => "none".into(),
        },
    )?;
    row("partitions", count(s.partitions as u64))?;
    row(
        "data files",
        format!("{} ({})", count(s.files as u64), bytes(s.bytes)),
    )?;
    row(
        "sources ingested",
        format!(
            "{} files in {}",
            count(s.sources as u64),
            commits(s.commits)
        ),
    )?;
    row("integrity", integrity(s))?;
    Ok(())
}

/// `1 commit`, `2 commits`.
fn commits(n: u64) -> String {
    format!("{} commit{}", count(n), if n == 1 { "" } else { "s" })
}

/// Whether the lake was built from log files proven by CloudTrail's digests only.
fn integrity(s: &LakeSummary) -> String {
    match (s.proven_commits, s.unproven_commits) {
        (0, 0) => "nothing ingested yet".into(),
        (_, 0) => "every source file was proven by CloudTrail's digests (ingest --verify)".into(),
        (0, n) => format!(
            "sources not checked against CloudTrail's digests ({} without ingest --verify)",
            commits(n)
        ),
        (p, n) => format!(
            "mixed: {} of proven sources (ingest --verify), {} without",
            commits(p),
            commits(n)
        ),
    }
}

/// `ctlake info --json`.
pub fn info_json(out: &mut impl Write, lake: &Path, s: &LakeSummary) -> io::Result<()> {
    let (lo, hi) = s.time_range.map_or((None, None), |(a, b)| {
        (Some(format_micros(a)), Some(format_micros(b)))
    });
    let regions: serde_json::Map<String, serde_json::Value> = s
        .regions
        .iter()
        .map(|(r, n)| (r.clone(), serde_json::json!(n)))
        .collect();
    let v = serde_json::json!({
        "lake": lake.display().to_string(),
        "event_data_store": s.id,
        "events": s.events,
        "time_range": [lo, hi],
        "regions": regions,
        "dates": s.dates.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
        "partitions": s.partitions,
        "files": s.files,
        "bytes": s.bytes,
        "sources": s.sources,
        "commits": s.commits,
        "proven_commits": s.proven_commits,
        "unproven_commits": s.unproven_commits,
        "proven_only": s.proven_commits > 0 && s.unproven_commits == 0,
    });
    writeln!(
        out,
        "{}",
        serde_json::to_string_pretty(&v).unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(23981), "23,981");
        assert_eq!(count(1234567), "1,234,567");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(2_300_000), "2.3 MB");
        assert_eq!(age(Duration::ZERO), "0s");
        assert_eq!(age(Duration::from_secs(3600)), "1h");
        assert_eq!(age(Duration::from_secs(90)), "90s");
        assert_eq!(age(Duration::from_secs(1800)), "30m");
        assert_eq!(age(Duration::from_secs(2 * 86_400)), "2d");
    }
}
