//! `ctlake query`: runs CloudTrail Lake SQL over a lake and writes each result in the chosen
//! format. Row formats (csv, tsv, ndjson, parquet) stream batch by batch; the others need the
//! whole result to lay it out.

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Instant;

use anyhow::Context;
use arrow::array::Array;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use std::collections::BTreeMap;

use ctlake_query::{Error, Lake, saved};
use futures::StreamExt;

use crate::format::{bytes, count};

/// Output formats of `ctlake query`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// An aligned text table.
    Table,
    /// Comma-separated values with a header.
    Csv,
    /// Tab-separated values with a header.
    Tsv,
    /// One JSON array of objects.
    Json,
    /// One JSON object per line.
    Ndjson,
    /// A Markdown table, for tickets and pull requests.
    Markdown,
    /// CloudTrail Lake's GetQueryResults response (QueryResultRows, QueryStatistics).
    Lake,
    /// A Parquet file (use -o, or redirect standard output).
    Parquet,
}

/// Exit code of a query that fails (syntax, unknown column, refused statement, ...).
pub const EXIT_QUERY: u8 = 1;

/// What `ctlake query` runs.
pub enum What {
    /// SQL text: one or more statements.
    Sql(String),
    /// A saved query with parameter values (`--from`/`--to` are `start`/`end`).
    Saved {
        /// Its name.
        name: String,
        /// Given values.
        params: BTreeMap<String, String>,
    },
}

/// Runs `what` on the lake at `lake` and writes each result.
pub fn run(
    lake: &Path,
    what: What,
    format: Format,
    output: Option<&Path>,
    stats: bool,
) -> anyhow::Result<u8> {
    if format == Format::Parquet && output.is_none() && io::stdout().is_terminal() {
        anyhow::bail!("--format parquet writes binary: give -o FILE or redirect standard output");
    }
    let runtime = runtime()?;
    runtime.block_on(async {
        let lake = open(lake).await?;
        let mut out: Box<dyn Write + Send> = match output {
            Some(path) => Box::new(BufWriter::new(
                File::create(path).with_context(|| format!("creating {}", path.display()))?,
            )),
            None => Box::new(BufWriter::new(io::stdout())),
        };
        let (sql, statements) = match what {
            What::Saved { name, params } => {
                let library = saved::Library::standard(lake.root())?;
                let query = match library.get(&name) {
                    Ok(q) => q,
                    Err(e) => return Ok(report(&e, "")),
                };
                let started = Instant::now();
                let frame = match lake.saved(query, &params).await {
                    Ok(f) => f,
                    Err(e) => return Ok(report(&e, &query.sql)),
                };
                for notice in lake.take_notices() {
                    eprintln!("{notice}");
                }
                return finish(&lake, frame, format, &mut out, started, stats, &query.sql).await;
            }
            What::Sql(sql) => match lake.translate(&sql) {
                Ok(t) => {
                    for notice in &t.notices {
                        eprintln!("{notice}");
                    }
                    (sql, t.statements)
                }
                Err(e) => return Ok(report(&e, &sql)),
            },
        };
        for statement in statements {
            let started = Instant::now();
            let frame = match lake.plan(statement).await {
                Ok(f) => f,
                Err(e) => return Ok(report(&e, &sql)),
            };
            let code = finish(&lake, frame, format, &mut out, started, stats, &sql).await?;
            if code != 0 {
                return Ok(code);
            }
        }
        Ok(0)
    })
}

/// Runs a planned statement, writes its result and what `--stats` asks for.
async fn finish(
    lake: &Lake,
    frame: datafusion::prelude::DataFrame,
    format: Format,
    out: &mut Box<dyn Write + Send>,
    started: Instant,
    stats: bool,
    sql: &str,
) -> anyhow::Result<u8> {
    let rows = match write(lake, frame, format, out.as_mut(), started).await {
        Ok(rows) => rows,
        Err(e) => match e.downcast::<Error>() {
            Ok(e) => return Ok(report(&e, sql)),
            Err(e) => return Err(e),
        },
    };
    out.flush()?;
    let elapsed = started.elapsed();
    let s = lake.scan_stats();
    if stats {
        eprintln!(
            "{} rows; scanned {} of {} files in {} partitions ({}, {} rows); {:.3} s",
            count(rows),
            count(s.files_scanned.load(Ordering::Relaxed)),
            count(s.files_total.load(Ordering::Relaxed)),
            count(s.partitions_scanned.load(Ordering::Relaxed)),
            bytes(s.bytes_scanned.load(Ordering::Relaxed)),
            count(s.rows_scanned.load(Ordering::Relaxed)),
            elapsed.as_secs_f64()
        );
    } else if format == Format::Table && io::stderr().is_terminal() {
        eprintln!("{} rows in {:.3} s", count(rows), elapsed.as_secs_f64());
    }
    if let Some(hint) = lake.unbounded_hint(ctlake_query::LARGE_SCAN_BYTES) {
        eprintln!("{hint}");
    }
    Ok(0)
}

/// What `ctlake lookup` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LookupOutput {
    /// A table of time, event, user, source and key.
    Table,
    /// `aws cloudtrail lookup-events` JSON.
    Json,
}

/// `ctlake lookup`: Event history's lookup over the lake.
pub fn lookup(
    lake: &Path,
    lookup: &ctlake_query::lookup::Lookup,
    output: LookupOutput,
) -> anyhow::Result<u8> {
    let runtime = runtime()?;
    runtime.block_on(async {
        let lake = open(lake).await?;
        let frame = match lake.lookup(lookup).await {
            Ok(f) => f,
            Err(e) => return Ok(report(&e, "")),
        };
        let mut out: Box<dyn Write + Send> = Box::new(BufWriter::new(io::stdout()));
        if output == LookupOutput::Table {
            let frame = frame.select_columns(&[
                "eventtime",
                "eventname",
                "username",
                "eventsource",
                "accesskeyid",
                "readonly",
            ])?;
            return finish(
                &lake,
                frame,
                Format::Table,
                &mut out,
                Instant::now(),
                false,
                "",
            )
            .await;
        }
        let batches = frame.collect().await.map_err(Error::from)?;
        let mut events = Vec::new();
        for b in &batches {
            events.extend(lookup_events(b)?);
        }
        serde_json::to_writer_pretty(&mut out, &serde_json::json!({ "Events": events }))?;
        writeln!(out)?;
        out.flush()?;
        Ok(0)
    })
}

/// Rows of a lookup as `lookup-events` Events.
fn lookup_events(b: &RecordBatch) -> anyhow::Result<Vec<serde_json::Value>> {
    use arrow::array::{AsArray, StructArray};
    use arrow::datatypes::TimestampMicrosecondType;
    let text = |name: &str| -> anyhow::Result<&arrow::array::StringArray> {
        b.column_by_name(name)
            .and_then(|c| c.as_string_opt::<i32>())
            .with_context(|| format!("lookup: no text column {name}"))
    };
    let (id, name, key, source, user, json) = (
        text("eventid")?,
        text("eventname")?,
        text("accesskeyid")?,
        text("eventsource")?,
        text("username")?,
        text("eventjson")?,
    );
    let readonly = b
        .column_by_name("readonly")
        .context("readonly")?
        .as_boolean();
    let time = b
        .column_by_name("eventtime")
        .context("eventtime")?
        .as_primitive::<TimestampMicrosecondType>();
    let resources = b
        .column_by_name("resources")
        .context("resources")?
        .as_list::<i32>();
    let mut events = Vec::with_capacity(b.num_rows());
    for row in 0..b.num_rows() {
        let mut e = serde_json::Map::new();
        let mut put = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                e.insert(k.to_string(), serde_json::Value::String(v));
            }
        };
        let get = |a: &arrow::array::StringArray| a.is_valid(row).then(|| a.value(row).to_string());
        put("EventId", get(id));
        put("EventName", get(name));
        put(
            "ReadOnly",
            readonly
                .is_valid(row)
                .then(|| readonly.value(row).to_string()),
        );
        put("AccessKeyId", get(key));
        put(
            "EventTime",
            time.value_as_datetime(row)
                .filter(|_| time.is_valid(row))
                .map(|t| t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()),
        );
        put("EventSource", get(source));
        put("Username", get(user));
        let mut list = Vec::new();
        if resources.is_valid(row) {
            let items = resources.value(row);
            if let Some(items) = items.as_any().downcast_ref::<StructArray>() {
                let field = |n: &str| {
                    items
                        .column_by_name(n)
                        .and_then(|c| c.as_string_opt::<i32>().cloned())
                };
                let (ty, arn) = (field("type"), field("arn"));
                for i in 0..items.len() {
                    let v = |a: &Option<arrow::array::StringArray>| {
                        a.as_ref()
                            .filter(|a| a.is_valid(i))
                            .map(|a| a.value(i).to_string())
                    };
                    let mut r = serde_json::Map::new();
                    if let Some(t) = v(&ty) {
                        r.insert("ResourceType".into(), t.into());
                    }
                    if let Some(n) = v(&arn) {
                        r.insert("ResourceName".into(), n.into());
                    }
                    list.push(serde_json::Value::Object(r));
                }
            }
        }
        let cloudtrail_event = get(json);
        e.insert("Resources".into(), serde_json::Value::Array(list));
        if let Some(j) = cloudtrail_event {
            e.insert("CloudTrailEvent".into(), j.into());
        }
        events.push(serde_json::Value::Object(e));
    }
    Ok(events)
}

/// Exit code of `ctlake report --fail-on-findings` when a detection query returns rows.
pub const EXIT_FINDINGS: u8 = 3;

/// `ctlake report`: runs a report spec and writes its files.
pub fn run_report(
    lake: &Path,
    spec: &str,
    from: chrono::NaiveDateTime,
    to: chrono::NaiveDateTime,
    out: &Path,
    fail_on_findings: bool,
) -> anyhow::Result<u8> {
    use ctlake_query::report::Spec;
    let spec = match spec {
        "overview" | "security" => Spec::built_in(spec)?,
        file => Spec::parse(
            file,
            &std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?,
        )?,
    };
    let runtime = runtime()?;
    runtime.block_on(async {
        let lake = open(lake).await?;
        let library = saved::Library::standard(lake.root())?;
        let started = Instant::now();
        let r = match ctlake_query::report::run(&lake, &library, &spec, from, to).await {
            Ok(r) => r,
            Err(e) => return Ok(report(&e, "")),
        };
        r.write(out)?;
        let findings = r.findings();
        let mut stdout = io::stdout().lock();
        writeln!(
            stdout,
            "{}: {} queries over {} events ({} .. {}), {} findings, in {:.2} s",
            r.title,
            r.sections.len(),
            count(r.events),
            from.format("%Y-%m-%d %H:%M"),
            to.format("%Y-%m-%d %H:%M"),
            count(findings as u64),
            started.elapsed().as_secs_f64()
        )?;
        writeln!(stdout, "wrote {}", out.join("index.html").display())?;
        Ok(if fail_on_findings && findings > 0 {
            EXIT_FINDINGS
        } else {
            0
        })
    })
}

/// `ctlake saved`: the saved queries visible from the lake, or one of them in full.
pub fn saved_list(lake: &Path, show: Option<&str>) -> anyhow::Result<u8> {
    let root = lake.canonicalize().ok();
    let library = saved::Library::standard(root.as_deref())?;
    let mut out = io::stdout().lock();
    if let Some(name) = show {
        let q = match library.get(name) {
            Ok(q) => q,
            Err(e) => return Ok(report(&e, "")),
        };
        let origin = match &q.origin {
            saved::Origin::BuiltIn => "built in".to_string(),
            saved::Origin::File(p) => p.display().to_string(),
        };
        writeln!(out, "-- from: {origin}")?;
        write!(out, "{}", q.sql)?;
        if !q.sql.ends_with('\n') {
            writeln!(out)?;
        }
        return Ok(0);
    }
    let width = library.iter().map(|q| q.name.len()).max().unwrap_or(0);
    for q in library.iter() {
        let params: Vec<String> = q
            .params
            .iter()
            .map(|p| match &p.default {
                Some(d) => format!("{}={d}", p.name),
                None => format!("{}=<{}>", p.name, p.ty.name()),
            })
            .collect();
        let origin = match &q.origin {
            saved::Origin::BuiltIn => "",
            saved::Origin::File(_) => " (local)",
        };
        writeln!(out, "{:width$}  {}{origin}", q.name, q.description)?;
        writeln!(
            out,
            "{:width$}  [{}] {}",
            "",
            q.tags.join(", "),
            params.join(" ")
        )?;
    }
    Ok(0)
}

/// `--memory-limit`, when given.
static MEMORY_LIMIT: std::sync::OnceLock<Option<usize>> = std::sync::OnceLock::new();

/// Sets the query memory limit of every lake this process opens (`None`: no limit).
pub(crate) fn set_memory_limit(limit: Option<usize>) {
    let _ = MEMORY_LIMIT.set(limit);
}

/// Opens a lake for queries, with `--memory-limit` applied.
pub(crate) async fn open(path: &Path) -> ctlake_query::Result<Lake> {
    let mut options = ctlake_query::Options::default();
    if let Some(limit) = MEMORY_LIMIT.get() {
        options.memory_limit = *limit;
    }
    Lake::open_with(path, &options).await
}

/// The runtime every query command runs in.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the query runtime")
}

/// Prints a query error, with the offending line and a caret for syntax errors.
pub(crate) fn report(e: &Error, sql: &str) -> u8 {
    let mut err = io::stderr().lock();
    let _ = writeln!(err, "error: {e}");
    if let Error::Syntax { line, column, .. } = e
        && *line > 0
        && let Some(text) = sql.lines().nth(line - 1)
    {
        let _ = writeln!(err, "  {text}");
        let _ = writeln!(err, "  {}^", " ".repeat(column.saturating_sub(1)));
    }
    EXIT_QUERY
}

/// Timestamps as CloudTrail Lake and the shell show them.
pub(crate) fn display_options(lake_style: bool) -> FormatOptions<'static> {
    let format = if lake_style {
        "%Y-%m-%d %H:%M:%S%.3f"
    } else {
        "%Y-%m-%d %H:%M:%S"
    };
    FormatOptions::default()
        .with_timestamp_format(Some(format))
        .with_timestamp_tz_format(Some(format))
        .with_null(if lake_style { "" } else { "NULL" })
}

/// Runs a planned statement and writes its result; returns the row count.
pub(crate) async fn write(
    lake: &Lake,
    frame: datafusion::prelude::DataFrame,
    format: Format,
    out: &mut (dyn Write + Send),
    started: Instant,
) -> anyhow::Result<u64> {
    let schema: SchemaRef = std::sync::Arc::new(frame.schema().as_arrow().clone());
    let mut stream = frame.execute_stream().await.map_err(Error::from)?;
    let mut rows = 0u64;
    match format {
        Format::Csv | Format::Tsv => {
            let delimiter = if format == Format::Csv { b',' } else { b'\t' };
            let mut w = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .with_delimiter(delimiter)
                .build(out);
            let mut wrote = false;
            while let Some(batch) = stream.next().await {
                let batch = batch.map_err(Error::from)?;
                rows += batch.num_rows() as u64;
                w.write(&batch)?;
                wrote = true;
            }
            if !wrote {
                w.write(&RecordBatch::new_empty(schema))?;
            }
        }
        Format::Ndjson => {
            let mut w = arrow::json::LineDelimitedWriter::new(out);
            while let Some(batch) = stream.next().await {
                let batch = batch.map_err(Error::from)?;
                rows += batch.num_rows() as u64;
                w.write(&batch)?;
            }
            w.finish()?;
        }
        Format::Parquet => {
            let mut w = parquet::arrow::ArrowWriter::try_new(out, schema, None)?;
            while let Some(batch) = stream.next().await {
                let batch = batch.map_err(Error::from)?;
                rows += batch.num_rows() as u64;
                w.write(&batch)?;
            }
            w.close()?;
        }
        Format::Table | Format::Json | Format::Markdown | Format::Lake => {
            let mut batches = Vec::new();
            while let Some(batch) = stream.next().await {
                let batch = batch.map_err(Error::from)?;
                rows += batch.num_rows() as u64;
                batches.push(batch);
            }
            match format {
                Format::Table => {
                    let table = arrow::util::pretty::pretty_format_batches_with_options(
                        &batches,
                        &display_options(false),
                    )?;
                    if batches.iter().all(|b| b.num_rows() == 0) {
                        let names: Vec<&str> =
                            schema.fields().iter().map(|f| f.name().as_str()).collect();
                        writeln!(out, "{}", names.join(" | "))?;
                        writeln!(out, "(0 rows)")?;
                    } else {
                        writeln!(out, "{table}")?;
                    }
                }
                Format::Json => {
                    let mut w = arrow::json::ArrayWriter::new(&mut *out);
                    for b in &batches {
                        w.write(b)?;
                    }
                    w.finish()?;
                    if batches.is_empty() {
                        write!(out, "[]")?;
                    }
                    writeln!(out)?;
                }
                Format::Markdown => markdown(out, &schema, &batches)?,
                Format::Lake => {
                    let s = lake.scan_stats();
                    let stats = serde_json::json!({
                        "ResultsCount": rows,
                        "TotalResultsCount": rows,
                        "EventsScanned": s.rows_scanned.load(Ordering::Relaxed),
                        "BytesScanned": s.bytes_scanned.load(Ordering::Relaxed),
                        "ExecutionTimeInMillis": started.elapsed().as_millis() as u64,
                    });
                    lake_results(out, &schema, &batches, stats)?;
                }
                _ => unreachable!("handled above"),
            }
        }
    }
    Ok(rows)
}

/// Each row's values as display strings, `None` for NULL.
pub(crate) fn string_rows(
    batches: &[RecordBatch],
    options: &FormatOptions,
) -> anyhow::Result<Vec<Vec<Option<String>>>> {
    let mut rows = Vec::new();
    for batch in batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), options))
            .collect::<Result<Vec<_>, _>>()?;
        // Logical nulls: a NULL literal's column has no null buffer, only a Null type.
        let nulls: Vec<_> = batch.columns().iter().map(|c| c.logical_nulls()).collect();
        for row in 0..batch.num_rows() {
            rows.push(
                nulls
                    .iter()
                    .zip(&formatters)
                    .map(|(n, f)| {
                        let null = n.as_ref().is_some_and(|n| n.is_null(row));
                        (!null).then(|| f.value(row).to_string())
                    })
                    .collect(),
            );
        }
    }
    Ok(rows)
}

fn markdown(
    out: &mut dyn Write,
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> anyhow::Result<()> {
    let escape = |s: &str| s.replace('|', "\\|").replace('\n', " ");
    let names: Vec<String> = schema.fields().iter().map(|f| escape(f.name())).collect();
    writeln!(out, "| {} |", names.join(" | "))?;
    writeln!(out, "|{}", "---|".repeat(names.len()))?;
    for row in string_rows(batches, &display_options(false))? {
        let cells: Vec<String> = row
            .iter()
            .map(|v| v.as_deref().map_or(String::new(), escape))
            .collect();
        writeln!(out, "| {} |", cells.join(" | "))?;
    }
    Ok(())
}

/// CloudTrail Lake's GetQueryResults: every value a string keyed by its column, NULL as JSON
/// null, timestamps as `2023-01-22 16:53:53.000`.
fn lake_results(
    out: &mut dyn Write,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    statistics: serde_json::Value,
) -> anyhow::Result<()> {
    let names: Vec<&String> = schema.fields().iter().map(|f| f.name()).collect();
    let rows: Vec<serde_json::Value> = string_rows(batches, &display_options(true))?
        .into_iter()
        .map(|row| {
            names
                .iter()
                .zip(row)
                .map(|(name, v)| serde_json::json!({ name.as_str(): v }))
                .collect()
        })
        .collect();
    // Written key by key to keep the order of AWS's responses (serde_json sorts map keys).
    let pretty = |v: &serde_json::Value| -> anyhow::Result<String> {
        Ok(serde_json::to_string_pretty(v)?.replace('\n', "\n  "))
    };
    writeln!(out, "{{")?;
    writeln!(out, "  \"QueryStatus\": \"FINISHED\",")?;
    writeln!(out, "  \"QueryStatistics\": {},", pretty(&statistics)?)?;
    writeln!(
        out,
        "  \"QueryResultRows\": {}",
        pretty(&serde_json::Value::Array(rows))?
    )?;
    writeln!(out, "}}")?;
    Ok(())
}
