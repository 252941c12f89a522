//! `ctlake query`: runs CloudTrail Lake SQL, or a saved query, over a lake and writes each
//! result in the chosen format.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use ctlake_query::{Error, Lake};
use datafusion::prelude::DataFrame;

use crate::Global;
use crate::args::{self, LakeArg, NameValue};
use crate::format::{bytes, count, skipped};
use crate::output::{self, Format, print_query_error};

#[derive(Debug, clap::Args)]
pub struct Args {
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
    #[command(flatten)]
    library: super::saved::LibraryArg,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Write the result to a file instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    /// After the result, print rows, files and partitions scanned, bytes and time (to stderr).
    #[arg(long)]
    stats: bool,
    /// Give up when the query runs longer than this: 30s, 5m (exit 1).
    #[arg(long, value_name = "TIME", value_parser = args::age)]
    timeout: Option<std::time::Duration>,
    /// Run a saved query by name (`ctlake saved` lists them).
    #[arg(long, value_name = "NAME", conflicts_with_all = ["sql", "command", "file"])]
    saved: Option<String>,
    /// A saved query's parameter value, bound as data (repeat for several).
    #[arg(
        long = "param",
        value_name = "NAME=VALUE",
        requires = "saved",
        allow_hyphen_values = true,
        value_parser = args::name_value
    )]
    pub(crate) params: Vec<NameValue>,
    /// Start of the time window: -15m, -36h, -7d, -2w, today, yesterday, now or an ISO date
    /// (a saved query's `start`, read by that parameter's type when the query is bound).
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
}

/// What a run executes.
enum Query {
    /// SQL text: one or more statements.
    Sql(String),
    /// A saved query with parameter values (`--from`/`--to` are `start`/`end`).
    Saved {
        name: String,
        params: BTreeMap<String, String>,
    },
}

/// Where results go, and what is printed beside them.
struct Sink {
    out: Box<dyn Write + Send>,
    format: Format,
    stats: bool,
    /// Standard output on a terminal: CSV and TSV show control characters escaped.
    terminal: bool,
}

impl Args {
    pub fn run(self, global: &Global) -> anyhow::Result<u8> {
        if self.format == Format::Parquet && self.output.is_none() && io::stdout().is_terminal() {
            anyhow::bail!(
                "--format parquet writes binary: give -o FILE or redirect standard output"
            );
        }
        let query = match (self.saved, self.sql.or(self.command), self.file) {
            (Some(name), ..) => {
                let mut params: BTreeMap<String, String> =
                    self.params.into_iter().map(|p| (p.name, p.value)).collect();
                params.extend(self.from.map(|f| ("start".to_string(), f)));
                params.extend(self.to.map(|t| ("end".to_string(), t)));
                Query::Saved { name, params }
            }
            (None, Some(sql), _) => Query::Sql(sql),
            (None, None, Some(f)) => Query::Sql(args::read_sql_file(&f)?),
            (None, None, None) => {
                anyhow::bail!("no query: give SQL, -c SQL, -f FILE or --saved NAME")
            }
        };
        let out: Box<dyn Write + Send> = match &self.output {
            Some(path) => Box::new(BufWriter::new(
                File::create(path).with_context(|| format!("creating {}", path.display()))?,
            )),
            None => Box::new(BufWriter::new(io::stdout())),
        };
        let mut sink = Sink {
            out,
            format: self.format,
            stats: self.stats,
            terminal: self.output.is_none() && io::stdout().is_terminal(),
        };
        if let Some(limit) = self.timeout {
            // A watchdog thread, not a timer of the runtime: a query's operators can keep
            // every worker busy for minutes without yielding to it.
            std::thread::spawn(move || {
                std::thread::sleep(limit);
                let e = Error::Limit {
                    what: format!(
                        "it ran longer than --timeout {} and was stopped",
                        crate::format::age(limit)
                    ),
                };
                std::process::exit(print_query_error(&e, "").into());
            });
        }
        global.runtime()?.block_on(async {
            let lake = global.open(&self.lake.lake).await?;
            match query {
                Query::Saved { name, params } => {
                    run_saved(&lake, &self.library, &name, &params, &mut sink).await
                }
                Query::Sql(sql) => run_sql(&lake, &sql, &mut sink).await,
            }
        })
    }
}

async fn run_saved(
    lake: &Lake,
    library: &super::saved::LibraryArg,
    name: &str,
    params: &BTreeMap<String, String>,
    sink: &mut Sink,
) -> anyhow::Result<u8> {
    let library = library.library(lake.root())?;
    let query = match library.get(name) {
        Ok(q) => q,
        Err(e) => return Ok(print_query_error(&e, "")),
    };
    if let Some(o) = library.override_of(name) {
        super::saved::warn_override(o);
    }
    let started = Instant::now();
    let planned = match lake.saved(query, params).await {
        Ok(p) => p,
        Err(e) => return Ok(print_query_error(&e, &query.sql)),
    };
    for notice in &planned.notices {
        eprintln!("{notice}");
    }
    write_result(lake, planned.frame, sink, started, &query.sql).await
}

async fn run_sql(lake: &Lake, sql: &str, sink: &mut Sink) -> anyhow::Result<u8> {
    let translated = match lake.translate(sql) {
        Ok(t) => t,
        Err(e) => return Ok(print_query_error(&e, sql)),
    };
    for notice in &translated.notices {
        eprintln!("{notice}");
    }
    for statement in translated.statements {
        let started = Instant::now();
        let frame = match lake.plan(statement).await {
            Ok(f) => f,
            Err(e) => return Ok(print_query_error(&e, sql)),
        };
        let code = write_result(lake, frame, sink, started, sql).await?;
        if code != 0 {
            return Ok(code);
        }
    }
    Ok(0)
}

/// Runs a planned statement, writes its result and what `--stats` asks for.
async fn write_result(
    lake: &Lake,
    frame: DataFrame,
    sink: &mut Sink,
    started: Instant,
    sql: &str,
) -> anyhow::Result<u8> {
    let written = match output::write(
        lake,
        frame,
        sink.format,
        sink.out.as_mut(),
        started,
        sink.terminal,
    )
    .await
    {
        Ok(w) => w,
        Err(e) => match e.downcast::<Error>() {
            Ok(e) => return Ok(print_query_error(&e, sql)),
            Err(e) => return Err(e),
        },
    };
    sink.out.flush()?;
    let elapsed = started.elapsed();
    let s = written.statistics;
    if sink.stats && s.remote {
        eprintln!(
            "{} rows; ran on the cluster, whose executors keep the scan counters ({} files in \
             the table); {:.3} s",
            count(written.rows),
            count(s.files_total),
            elapsed.as_secs_f64()
        );
    } else if sink.stats {
        eprintln!(
            "{} rows; scanned {} of {} files in {} partitions ({}, {} rows){}; {:.3} s",
            count(written.rows),
            count(s.files_scanned),
            count(s.files_total),
            count(s.partitions_scanned),
            bytes(s.bytes_scanned),
            count(s.rows_scanned),
            skipped(&s),
            elapsed.as_secs_f64()
        );
    } else if sink.format == Format::Table && io::stderr().is_terminal() {
        eprintln!(
            "{} rows in {:.3} s",
            count(written.rows),
            elapsed.as_secs_f64()
        );
    }
    if let Some(hint) = s.hint(ctlake_query::LARGE_SCAN_BYTES) {
        eprintln!("{hint}");
    }
    Ok(0)
}

/// Writes a planned statement's result as a table to standard output (`ctlake lookup`).
pub async fn print_table(lake: &Lake, frame: DataFrame) -> anyhow::Result<u8> {
    let mut sink = Sink {
        out: Box::new(BufWriter::new(io::stdout())),
        format: Format::Table,
        stats: false,
        terminal: io::stdout().is_terminal(),
    };
    write_result(lake, frame, &mut sink, Instant::now(), "").await
}
