//! `ctlake ingest`: CloudTrail files into the lake, with a progress display and a summary.

use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use std::collections::{HashMap, HashSet};

use ctlake_ingest::{Admission, IngestOptions, LakeWriter, Progress};

use crate::args::LakeArg;
use crate::{EXIT_INTERRUPTED, EXIT_PARTIAL, Global, format};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files, folders (walked recursively), glob patterns, and `s3://bucket/prefix` (listed
    /// incrementally; globs work on keys).
    #[arg(required = true, value_name = "SRC")]
    sources: Vec<String>,
    #[command(flatten)]
    lake: LakeArg,
    /// Store events whose eventID their partition already holds.
    #[arg(long)]
    keep_duplicates: bool,
    /// Read sources the lake has stored before too; their events already stored are dropped
    /// as duplicates (after `ctlake repair --drop-damaged`, this restores what it dropped).
    #[arg(long, conflicts_with = "keep_duplicates")]
    recheck: bool,
    /// No progress and no summary.
    #[arg(long, short)]
    quiet: bool,
    /// Decoder threads (0: one per core).
    #[arg(long, default_value_t = IngestOptions::default().threads)]
    threads: usize,
    /// Reads in flight ahead of the decoders: more keep a slow disk or S3 busy
    /// [default: 8, or 48 when a source is on S3].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    io_threads: Option<u64>,
    /// Day folders of each S3 region prefix listed again before the last one ingested, so
    /// late deliveries are found (1: that day only).
    #[arg(long, default_value_t = IngestOptions::default().lookback_days, value_name = "DAYS")]
    lookback: u32,
    /// Megabytes of decoded rows buffered before writing (at least 16).
    #[arg(
        long,
        default_value_t = (IngestOptions::default().memory_budget >> 20) as u64,
        value_name = "MB",
        value_parser = clap::value_parser!(u64).range(16..)
    )]
    memory_budget: u64,
    /// Source files per commit: a crash loses at most this many files' work.
    #[arg(
        long,
        default_value_t = IngestOptions::default().batch_files as u64,
        value_name = "N",
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    batch_files: u64,
    /// Do not compact the partitions this run touched, however many small files they hold.
    #[arg(long)]
    no_compact: bool,
    /// When another ctlake process is writing to the lake, wait for it to finish instead of
    /// failing at once.
    #[arg(long)]
    wait: bool,
    /// Validate each source (a trail copy: folder or `s3://` prefix) against its digest files
    /// first, as `ctlake validate` does, and ingest only the log files a valid digest proves;
    /// the others are reported and left out. `ctlake info` then says the lake holds proven
    /// logs only.
    #[arg(long, requires = "public_keys")]
    verify: bool,
    /// AWS's public keys for `--verify` (what `aws cloudtrail list-public-keys` prints).
    #[arg(long, value_name = "FILE", requires = "verify")]
    public_keys: Option<std::path::PathBuf>,
}

impl Args {
    pub fn run(self, global: &Global) -> anyhow::Result<u8> {
        let admit = match &self.public_keys {
            Some(keys) if self.verify => Some(proven_only(&self.sources, keys, global)?),
            _ => None,
        };
        let opts = IngestOptions {
            keep_duplicates: self.keep_duplicates,
            recheck: self.recheck,
            threads: self.threads,
            io_threads: self.io_threads.map_or(0, |n| n as usize),
            lookback_days: self.lookback,
            memory_budget: (self.memory_budget as usize) << 20,
            batch_files: self.batch_files as usize,
            compact: !self.no_compact,
            wait: self.wait,
            admit,
            ..Default::default()
        };
        ingest(&self.sources, &self.lake.lake, &opts, self.quiet)
    }
}

/// Ingests `sources` into the lake at `lake_dir` (created if need be), showing progress and
/// the summary unless `quiet`; problems with single files are printed either way. Returns the
/// exit code. The shell's `--ingest` runs this too.
pub fn ingest(
    sources: &[String],
    lake_dir: &Path,
    opts: &IngestOptions,
    quiet: bool,
) -> anyhow::Result<u8> {
    ctlake_ingest::source::check_sources(sources)?;
    let lake = LakeWriter::create(lake_dir)?;
    let progress = Arc::new(Progress::default());
    {
        // Ctrl-C or SIGTERM: stop taking files, commit what was read, print the summary. A
        // second one ends the process at once (what is not committed is recovered next run).
        let progress = Arc::clone(&progress);
        crate::signals::on_interrupt(move || {
            if progress.stop.swap(true, Ordering::Relaxed) {
                std::process::exit(130);
            }
        })?;
    }
    let done = Arc::new(AtomicBool::new(false));
    let display = (!quiet).then(|| {
        let progress = Arc::clone(&progress);
        let done = Arc::clone(&done);
        std::thread::spawn(move || format::show_progress(&progress, &done))
    });
    let result = ctlake_ingest::ingest(&lake, sources, opts, &progress);
    done.store(true, Ordering::Relaxed);
    if let Some(handle) = display {
        let _ = handle.join();
    }
    let report = result?;
    if !report.insights.is_empty() {
        let n = store_insight_files(lake_dir, &report.insights)?;
        if !quiet {
            writeln!(
                io::stderr(),
                "insights:   {} CloudTrail Insights records from {} files, in the `insights` table",
                format::count(n as u64),
                format::count(report.insights.len() as u64)
            )?;
        }
    }
    let mut err = io::stderr().lock();
    for f in &report.failed {
        writeln!(err, "error: {}: {}", f.path, f.reason)?;
    }
    for f in &report.skipped {
        writeln!(err, "skipped: {}: {}", f.path, f.reason)?;
    }
    for f in report.damaged.iter().chain(&report.compaction.damaged) {
        writeln!(
            err,
            "damaged: {}: {} (the run went on without it; `ctlake verify` checks the whole \
             lake, `ctlake repair --drop-damaged` takes damaged files out of the table)",
            f.path, f.reason
        )?;
    }
    if report.rejects > 0 {
        writeln!(
            err,
            "rejected: {} records could not be placed; they are in {}/_rejects/ with their source, position and reason",
            report.rejects,
            lake_dir.display()
        )?;
    }
    drop(err);
    if !quiet {
        format::ingest_summary(&mut io::stdout().lock(), &report, lake_dir, lake.id())?;
    }
    if report.interrupted {
        eprintln!(
            "interrupted: the run stopped after its last commit (every event of the files it \
             read is stored); run the same command again to ingest the rest"
        );
        return Ok(EXIT_INTERRUPTED);
    }
    Ok(if report.is_clean() { 0 } else { EXIT_PARTIAL })
}

/// Validates every source against its digests and admits only the log files proven valid.
/// The proven files' keys are held in memory (about 100 bytes each).
fn proven_only(sources: &[String], keys: &Path, global: &Global) -> anyhow::Result<Admission> {
    use ctlake_digest::{Event, Subject, Verdict};
    let keys = ctlake_digest::PublicKeys::read(keys)?;
    let runtime = global.runtime()?;
    let mut proven: HashSet<String> = HashSet::new();
    let mut refused: HashMap<String, String> = HashMap::new();
    for source in sources {
        let location = ctlake_store::Location::parse(source)?;
        let summary = runtime.block_on(ctlake_digest::validate(
            &location,
            &keys,
            &ctlake_digest::Options::default(),
            &mut |e: &Event| match e {
                Event::File {
                    subject: Subject::Log,
                    url,
                    verdict,
                } => {
                    let key = log_key(url);
                    match verdict {
                        Verdict::Valid => {
                            proven.insert(key);
                        }
                        Verdict::Invalid(m) => {
                            refused.insert(key, format!("not proven: INVALID: {m}"));
                        }
                        Verdict::Unlisted => {
                            refused.insert(key, "not proven: no digest lists it".into());
                        }
                        _ => {}
                    }
                }
                Event::File {
                    subject: Subject::Digest,
                    url,
                    verdict: Verdict::Invalid(m),
                } => {
                    let _ = writeln!(io::stderr(), "Digest file\t{url}\tINVALID: {m}");
                }
                _ => {}
            },
        ))?;
        let _ = writeln!(
            io::stderr(),
            "verified {source}: {} log files proven by {} valid digests",
            format::count(summary.logs_valid),
            format::count(summary.digests_valid + summary.digests_unverifiable)
        );
    }
    Ok(Admission(Arc::new(move |uri: &str| {
        let key = log_key(uri);
        if proven.contains(&key) {
            Ok(())
        } else {
            Err(refused.get(&key).cloned().unwrap_or_else(|| {
                "not proven: no valid digest covers it (`ctlake validate` says why)".into()
            }))
        }
    })))
}

/// A log file's key from `AWSLogs/` on, without `.gz`: how a path, a URL and a digest's
/// listing name the same file.
fn log_key(uri: &str) -> String {
    let key = ctlake_digest::format::below_prefix(uri.trim_start_matches("file://"));
    key.strip_suffix(".gz").unwrap_or(key).to_string()
}

/// Reads `CloudTrail-Insight/` files (paths or `s3://` URLs) and stores their records in the
/// lake's `insights` table; returns how many records the table holds after.
fn store_insight_files(lake_dir: &Path, files: &[String]) -> anyhow::Result<usize> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut records = Vec::new();
        for f in files {
            let bytes: Vec<u8> = match f.strip_prefix("s3://").and_then(|r| r.split_once('/')) {
                Some((bucket, key)) => {
                    use object_store::ObjectStoreExt;
                    let store = ctlake_store::s3_bucket(bucket)?;
                    store
                        .get(&object_store::path::Path::from(key))
                        .await?
                        .bytes()
                        .await?
                        .to_vec()
                }
                None => std::fs::read(f)?,
            };
            let text = ctlake_digest::format::inflate(&bytes)
                .ok_or_else(|| anyhow::anyhow!("{f}: not a readable gzip file"))?;
            let v: serde_json::Value =
                serde_json::from_slice(&text).map_err(|e| anyhow::anyhow!("{f}: not JSON: {e}"))?;
            records.extend(v["Records"].as_array().cloned().unwrap_or_default());
        }
        let lake = ctlake_query::Lake::open(lake_dir).await?;
        lake.add_insight_records(&records).await?;
        Ok(records.len())
    })
}
