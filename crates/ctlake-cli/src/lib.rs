//! The `ctlake` command line: argument parsing, progress display and output formatting over
//! the `ctlake-ingest` and `ctlake-generate` libraries. Nothing here decides what goes into a
//! lake; it only says what happened.
//!
//! Exit codes:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success: everything read went into the lake |
//! | 1 | usage or environment error (bad arguments, missing source, unusable lake), or a query that fails (syntax, unknown column, refused statement) |
//! | 2 | the run finished, but some input was not ingested (a bad or foreign file, rejected records) |
//! | 3 | `ctlake report --fail-on-findings`: a detection query returned rows |
#![warn(missing_docs)]

use std::ffi::OsString;
use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, Subcommand};
use ctlake_ingest::{IngestOptions, IngestReport, Lake, Progress};

mod format;
mod query;
mod shell;

/// Exit code: usage or environment error.
pub const EXIT_USAGE: u8 = 1;
/// Exit code: some input was not ingested.
pub const EXIT_PARTIAL: u8 = 2;

/// Turns AWS CloudTrail logs into a SQL-queryable Parquet event lake.
#[derive(Debug, Parser)]
#[command(name = "ctlake", version, about, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Memory the query engine may hold (query, shell, lookup, report), e.g. 512M or 4G;
    /// sorts and aggregations spill to temporary files beyond it. `none`: no limit.
    /// [default: half the machine's memory]
    #[arg(long, global = true, env = "CTLAKE_MEMORY_LIMIT", value_name = "SIZE", value_parser = parse_size)]
    memory_limit: Option<MemoryLimit>,
}

/// `--memory-limit`: bytes, or no limit.
#[derive(Debug, Clone, Copy)]
struct MemoryLimit(Option<usize>);

/// `512M`, `4G`, `100k`, a plain byte count, or `none`.
fn parse_size(s: &str) -> Result<MemoryLimit, String> {
    let t = s.trim().to_ascii_lowercase();
    if t == "none" || t == "0" {
        return Ok(MemoryLimit(None));
    }
    let (digits, unit) = t.split_at(
        t.find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(t.len()),
    );
    let shift = match unit.trim().trim_end_matches("ib").trim_end_matches('b') {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        _ => return Err(format!("{s}: expected a size such as 512M or 4G")),
    };
    let n: f64 = digits
        .parse()
        .map_err(|_| format!("{s}: expected a size such as 512M or 4G"))?;
    Ok(MemoryLimit(Some((n * (1u64 << shift) as f64) as usize)))
}

#[derive(Debug, clap::Args)]
struct LakeArg {
    /// The lake: a folder, or `s3://bucket/prefix` (credentials and endpoint as the AWS CLI
    /// finds them).
    #[arg(
        long,
        env = "CTLAKE_LAKE",
        default_value = "lake",
        value_name = "DIR|S3URL"
    )]
    lake: PathBuf,
}

#[derive(Debug, Subcommand)]
enum SavedAction {
    /// List them with descriptions and parameters (the default).
    List,
    /// Print one in full, with where it was found.
    Show {
        /// Its name.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The interactive SQL shell (also plain `ctlake` on a terminal). `\\?` lists its commands.
    Shell {
        #[command(flatten)]
        lake: LakeArg,
        /// Ingest these files or folders first (only what the lake does not hold yet), e.g.
        /// `--ingest data` for the bundled sample.
        #[arg(long = "ingest", value_name = "SRC")]
        ingest: Vec<String>,
        /// The history file [default: $XDG_STATE_HOME/ctlake/history].
        #[arg(long, env = "CTLAKE_HISTORY", value_name = "FILE")]
        history: Option<PathBuf>,
    },
    /// Ingest CloudTrail files (`.json`, `.json.gz`, folders, globs, `s3://` prefixes) into the
    /// lake.
    Ingest {
        /// Files, folders (walked recursively), glob patterns, and `s3://bucket/prefix` (listed
        /// incrementally; globs work on keys).
        #[arg(required = true, value_name = "SRC")]
        sources: Vec<String>,
        #[command(flatten)]
        lake: LakeArg,
        /// Store events whose eventID their partition already holds.
        #[arg(long)]
        keep_duplicates: bool,
        /// No progress and no summary.
        #[arg(long, short)]
        quiet: bool,
        /// Decoder threads (default: one per core).
        #[arg(long, default_value_t = 0)]
        threads: usize,
        /// Reads in flight ahead of the decoders: more keep a slow disk or S3 busy
        /// [default: 8, or 48 when a source is on S3].
        #[arg(long, value_name = "N")]
        io_threads: Option<usize>,
        /// Day folders of each S3 region prefix listed again before the last one ingested, so
        /// late deliveries are found (1: that day only).
        #[arg(long, default_value_t = 1, value_name = "DAYS")]
        lookback: u32,
        /// Megabytes of decoded rows buffered before writing.
        #[arg(long, default_value_t = 256, value_name = "MB")]
        memory_budget: usize,
        /// Source files per commit: a crash loses at most this many files' work.
        #[arg(long, default_value_t = 50_000, value_name = "N")]
        batch_files: usize,
        /// Do not compact the partitions this run touched, however many small files they hold.
        #[arg(long)]
        no_compact: bool,
    },
    /// Merge each partition's small files into files of the target size (ingest does this by
    /// itself once a partition holds 8 small files). Readers see every event exactly once
    /// throughout.
    Compact {
        #[command(flatten)]
        lake: LakeArg,
        /// Only this partition: `REGION/YYYY-MM-DD` or `region=R/date=D` (repeat for several).
        #[arg(long = "partition", value_name = "PARTITION")]
        partitions: Vec<String>,
        /// Megabytes per output file.
        #[arg(long, default_value_t = 128, value_name = "MB")]
        target_mb: u64,
        /// No summary.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Remove data files that no commit references: what runs that were killed before their
    /// commit left behind (ingest removes them itself on a local disk; on S3 a writer removes
    /// them only once they are an hour old, since another writer may still commit them).
    Vacuum {
        #[command(flatten)]
        lake: LakeArg,
        /// Only files at least this old: 30m, 1h, 2d [default: 1h; 0 on a local lake, whose
        /// writers hold a lock].
        #[arg(long, value_name = "AGE")]
        older_than: Option<String>,
        /// Say what would be removed, remove nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Run CloudTrail Lake SQL over the lake (the table is `cloudtrail`, the lake's event data
    /// store ID, or `$EDS_ID`). Several statements separated by `;` run in turn.
    Query {
        /// The query (or use -c / -f).
        #[arg(value_name = "SQL", conflicts_with_all = ["command", "file"])]
        sql: Option<String>,
        /// The query, as an option.
        #[arg(
            short = 'c',
            long = "command",
            value_name = "SQL",
            conflicts_with = "file"
        )]
        command: Option<String>,
        /// Read the query from a file.
        #[arg(short = 'f', long = "file", value_name = "FILE")]
        file: Option<PathBuf>,
        #[command(flatten)]
        lake: LakeArg,
        /// Output format.
        #[arg(long, value_enum, default_value_t = query::Format::Table)]
        format: query::Format,
        /// Write the result to a file instead of standard output.
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
        /// After the result, print rows, files and partitions scanned, bytes and time (to stderr).
        #[arg(long)]
        stats: bool,
        /// Run a saved query by name (`ctlake saved` lists them).
        #[arg(long, value_name = "NAME", conflicts_with_all = ["sql", "command", "file"])]
        saved: Option<String>,
        /// A saved query's parameter value, bound as data (repeat for several).
        #[arg(
            long = "param",
            value_name = "NAME=VALUE",
            requires = "saved",
            allow_hyphen_values = true
        )]
        params: Vec<String>,
        /// Start of the time window: -15m, -36h, -7d, -2w, today, yesterday, now or an ISO date
        /// (a saved query's `start`).
        #[arg(
            long,
            value_name = "TIME",
            requires = "saved",
            allow_hyphen_values = true
        )]
        from: Option<String>,
        /// End of the time window (a saved query's `end`).
        #[arg(
            long,
            value_name = "TIME",
            requires = "saved",
            allow_hyphen_values = true
        )]
        to: Option<String>,
    },
    /// Look up events by CloudTrail Event history's attributes (several at once), newest first.
    Lookup {
        /// NAME=VALUE, NAME one of EventId, EventName, ReadOnly, Username, ResourceType,
        /// ResourceName, EventSource, AccessKeyId (repeat: all must match).
        #[arg(
            long = "attribute",
            short = 'a',
            value_name = "NAME=VALUE",
            required = true
        )]
        attributes: Vec<String>,
        #[command(flatten)]
        lake: LakeArg,
        /// Start: -15m, -36h, -7d, -2w, today, yesterday, now or an ISO date.
        #[arg(
            long,
            value_name = "TIME",
            default_value = "-90d",
            allow_hyphen_values = true
        )]
        from: String,
        /// End (exclusive).
        #[arg(
            long,
            value_name = "TIME",
            default_value = "now",
            allow_hyphen_values = true
        )]
        to: String,
        /// At most this many events.
        #[arg(long, default_value_t = 50, value_name = "N")]
        max_results: usize,
        /// `json` prints `aws cloudtrail lookup-events` output (Events, with CloudTrailEvent).
        #[arg(long, value_enum, default_value_t = query::LookupOutput::Table)]
        output: query::LookupOutput,
    },
    /// Run a set of saved queries and write index.html, report.md and a CSV and a JSON file per
    /// query into a folder.
    Report {
        /// The report: `overview`, `security`, or a TOML spec file.
        #[arg(long, default_value = "security", value_name = "NAME|FILE")]
        spec: String,
        #[command(flatten)]
        lake: LakeArg,
        /// Start: -15m, -36h, -7d, -2w, today, yesterday, now or an ISO date.
        #[arg(
            long,
            value_name = "TIME",
            default_value = "-30d",
            allow_hyphen_values = true
        )]
        from: String,
        /// End (exclusive).
        #[arg(
            long,
            value_name = "TIME",
            default_value = "now",
            allow_hyphen_values = true
        )]
        to: String,
        /// The folder to write.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Exit with status 3 when a detection query returns rows (for CI and cron).
        #[arg(long)]
        fail_on_findings: bool,
    },
    /// List the saved queries (the lake's `queries/`, `$CTLAKE_QUERIES`, the built-in library).
    Saved {
        #[command(subcommand)]
        action: Option<SavedAction>,
        #[command(flatten)]
        lake: LakeArg,
    },
    /// Show what the lake holds: regions, dates, partitions, files, events, time range.
    Info {
        #[command(flatten)]
        lake: LakeArg,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Generate realistic CloudTrail delivery files (AWS layout) for trials and benchmarks.
    Generate {
        /// Output folder.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Distinct events.
        #[arg(long, default_value_t = 100_000)]
        events: u64,
        /// First day (YYYY-MM-DD).
        #[arg(long, default_value = "2026-11-01")]
        start: chrono::NaiveDate,
        /// Days.
        #[arg(long, default_value_t = 7)]
        days: u32,
        /// Regions (1 to 17).
        #[arg(long, default_value_t = 4)]
        regions: usize,
        /// Accounts.
        #[arg(long, default_value_t = 3)]
        accounts: usize,
        /// Random seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Fraction of events delivered twice.
        #[arg(long, default_value_t = 0.002)]
        duplicate_rate: f64,
        /// Minutes of events per delivery file.
        #[arg(long, default_value_t = 5)]
        file_minutes: u32,
        /// Organization id, for the organization trail layout.
        #[arg(long)]
        organization: Option<String>,
        /// Add the planted security scenarios (see the generator's docs).
        #[arg(long)]
        plant: bool,
    },
}

/// Runs the command line and returns the process exit code.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            if is_broken_pipe(&e) {
                // The reader went away (`| head`): not an error worth a word.
                return ExitCode::SUCCESS;
            }
            let _ = writeln!(io::stderr(), "error: {e:#}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    if let Some(limit) = cli.memory_limit {
        query::set_memory_limit(limit.0);
    }
    let Some(command) = cli.command else {
        if io::stdin().is_terminal() && io::stdout().is_terminal() {
            let lake = std::env::var_os("CTLAKE_LAKE")
                .map_or_else(|| PathBuf::from("lake"), PathBuf::from);
            let history = std::env::var_os("CTLAKE_HISTORY").map(PathBuf::from);
            return shell::run(&lake, &[], history);
        }
        let _ = <Cli as clap::CommandFactory>::command().print_help();
        return Ok(EXIT_USAGE);
    };
    match command {
        Command::Shell {
            lake,
            ingest,
            history,
        } => shell::run(&lake.lake, &ingest, history),
        Command::Ingest {
            sources,
            lake,
            keep_duplicates,
            quiet,
            threads,
            io_threads,
            lookback,
            memory_budget,
            batch_files,
            no_compact,
        } => {
            let opts = IngestOptions {
                keep_duplicates,
                threads,
                io_threads: io_threads.unwrap_or(0),
                lookback_days: lookback,
                memory_budget: memory_budget.max(16) << 20,
                batch_files: batch_files.max(1),
                compact: !no_compact,
                ..Default::default()
            };
            ingest(&sources, &lake.lake, &opts, quiet)
        }
        Command::Compact {
            lake,
            partitions,
            target_mb,
            quiet,
        } => {
            let mut keys = Vec::new();
            for p in &partitions {
                let hive = match p.split_once('/') {
                    Some((r, d)) if !p.contains('=') => format!("region={r}/date={d}"),
                    _ => p.clone(),
                };
                keys.push(
                    ctlake_schema::layout::PartitionKey::from_path(&hive)
                        .with_context(|| format!("--partition {p}: expected REGION/YYYY-MM-DD"))?,
                );
            }
            let l = Lake::open(&lake.lake)?;
            let opts = ctlake_ingest::CompactOptions {
                target_bytes: target_mb.max(1) << 20,
                partitions: keys,
                ..Default::default()
            };
            let r = ctlake_ingest::compact(&l, &opts)?;
            if !quiet {
                format::compact_summary(&mut io::stdout().lock(), &r)?;
            }
            Ok(0)
        }
        Command::Vacuum {
            lake,
            older_than,
            dry_run,
        } => vacuum(&lake.lake, older_than.as_deref(), dry_run),
        Command::Query {
            sql,
            command,
            file,
            lake,
            format,
            output,
            stats,
            saved,
            params,
            from,
            to,
        } => {
            let what = match (saved, sql, command, file) {
                (Some(name), ..) => {
                    let mut given = std::collections::BTreeMap::new();
                    for p in params {
                        let (k, v) = p
                            .split_once('=')
                            .with_context(|| format!("--param {p}: expected NAME=VALUE"))?;
                        given.insert(k.trim().trim_start_matches('$').to_string(), v.to_string());
                    }
                    given.extend(from.map(|f| ("start".to_string(), f)));
                    given.extend(to.map(|t| ("end".to_string(), t)));
                    query::What::Saved {
                        name,
                        params: given,
                    }
                }
                (None, Some(s), _, _) | (None, None, Some(s), _) => query::What::Sql(s),
                (None, None, None, Some(f)) => query::What::Sql(
                    std::fs::read_to_string(&f)
                        .with_context(|| format!("reading {}", f.display()))?,
                ),
                (None, None, None, None) => {
                    anyhow::bail!("no query: give SQL, -c SQL, -f FILE or --saved NAME")
                }
            };
            query::run(&lake.lake, what, format, output.as_deref(), stats)
        }
        Command::Lookup {
            attributes,
            lake,
            from,
            to,
            max_results,
            output,
        } => {
            let mut pairs = Vec::new();
            for a in &attributes {
                let (k, v) = a
                    .split_once('=')
                    .with_context(|| format!("--attribute {a}: expected NAME=VALUE"))?;
                pairs.push((
                    ctlake_query::lookup::Attribute::parse(k.trim())?,
                    v.to_string(),
                ));
            }
            let lookup = ctlake_query::lookup::Lookup {
                attributes: pairs,
                from: ctlake_query::timespec::parse(&from)?,
                to: ctlake_query::timespec::parse(&to)?,
                max_results,
            };
            query::lookup(&lake.lake, &lookup, output)
        }
        Command::Report {
            spec,
            lake,
            from,
            to,
            out,
            fail_on_findings,
        } => query::run_report(
            &lake.lake,
            &spec,
            ctlake_query::timespec::parse(&from)?,
            ctlake_query::timespec::parse(&to)?,
            &out,
            fail_on_findings,
        ),
        Command::Saved { action, lake } => match action {
            None | Some(SavedAction::List) => query::saved_list(&lake.lake, None),
            Some(SavedAction::Show { name }) => query::saved_list(&lake.lake, Some(&name)),
        },
        Command::Info { lake, json } => {
            let l = Lake::open(&lake.lake)?;
            let summary = l.summary()?;
            let mut out = io::stdout().lock();
            if json {
                format::info_json(&mut out, &lake.lake, &summary)?;
            } else {
                format::info_text(&mut out, &lake.lake, &summary)?;
            }
            Ok(0)
        }
        Command::Generate {
            out,
            events,
            start,
            days,
            regions,
            accounts,
            seed,
            duplicate_rate,
            file_minutes,
            organization,
            plant,
        } => {
            let opts = ctlake_generate::Options {
                out: out.clone(),
                events,
                start,
                days,
                regions,
                accounts,
                seed,
                duplicate_rate,
                file_minutes,
                organization,
                plant,
            };
            let t = Instant::now();
            let r = ctlake_generate::generate(&opts).context("generate")?;
            writeln!(
                io::stdout(),
                "generated {} events ({} records with {} re-deliveries) in {} files, {} gzipped, under {} in {:.1} s",
                format::count(r.events),
                format::count(r.records),
                format::count(r.duplicates),
                format::count(r.files),
                format::bytes(r.bytes),
                out.display(),
                t.elapsed().as_secs_f64()
            )?;
            Ok(0)
        }
    }
}

fn ingest(
    sources: &[String],
    lake_dir: &std::path::Path,
    opts: &IngestOptions,
    quiet: bool,
) -> anyhow::Result<u8> {
    ctlake_ingest::source::check_sources(sources)?;
    let lake = Lake::create(lake_dir)?;
    let progress = Arc::new(Progress::default());
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
    let mut err = io::stderr().lock();
    for f in &report.failed {
        writeln!(err, "error: {}: {}", f.path, f.reason)?;
    }
    for f in &report.skipped {
        writeln!(err, "skipped: {}: {}", f.path, f.reason)?;
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
    Ok(exit_code(&report))
}

fn vacuum(
    lake_dir: &std::path::Path,
    older_than: Option<&str>,
    dry_run: bool,
) -> anyhow::Result<u8> {
    let lake = Lake::open(lake_dir)?;
    let age = match older_than {
        Some(text) => parse_age(text)?,
        None if lake.store().renames() => Duration::ZERO,
        None => ctlake_ingest::manifest::ORPHAN_AGE,
    };
    let _lock = lake.lock()?;
    let snap = lake.snapshot()?;
    let orphans = ctlake_ingest::manifest::vacuum(lake.store(), &snap, age, dry_run)?;
    let mut out = io::stdout().lock();
    let verb = if dry_run { "would remove" } else { "removed" };
    for o in &orphans {
        writeln!(
            out,
            "{verb} {} ({}, written {})",
            o.path,
            format::bytes(o.bytes),
            o.written
        )?;
    }
    writeln!(
        out,
        "{verb} {} unreferenced files, {} (files younger than {} kept)",
        orphans.len(),
        format::bytes(orphans.iter().map(|o| o.bytes).sum()),
        older_than.unwrap_or(if age.is_zero() { "0s" } else { "1h" })
    )?;
    Ok(0)
}

/// `30m`, `1h`, `2d`, `90s` or plain seconds.
fn parse_age(text: &str) -> anyhow::Result<Duration> {
    let t = text.trim();
    let (digits, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u64 = digits
        .parse()
        .with_context(|| format!("--older-than {text}: expected an age such as 30m, 1h or 2d"))?;
    let seconds = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => anyhow::bail!("--older-than {text}: expected an age such as 30m, 1h or 2d"),
    };
    Ok(Duration::from_secs(n * seconds))
}

fn exit_code(report: &IngestReport) -> u8 {
    if report.is_clean() { 0 } else { EXIT_PARTIAL }
}

/// Shared by the progress display: true when stderr is a terminal.
fn stderr_is_terminal() -> bool {
    io::stderr().is_terminal()
}

/// How often plain progress lines are printed when stderr is not a terminal.
const PLAIN_PROGRESS_EVERY: Duration = Duration::from_secs(5);
