//! Writing results: every output format of `ctlake query`, used by the shell too, and the
//! printer of query errors. Row formats (csv, tsv, ndjson, parquet) stream batch by batch; the
//! others need the whole result to lay it out.

use std::io::{self, Write};
use std::sync::Arc;
use std::time::Instant;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use ctlake_query::aws::{QueryStatistics, write_query_results};
use ctlake_query::display::{
    display_options, escape_batch, escape_controls, nested_as_json, safe_rows,
};
use ctlake_query::{Error, Execution, Lake, ScanStatistics};
use datafusion::prelude::DataFrame;

use crate::EXIT_QUERY;

/// Output formats of `ctlake query` and the shell's `\format`.
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

/// Prints a query error, with the offending line and a caret for syntax errors; returns the
/// exit code of a failed query.
pub fn print_query_error(e: &Error, sql: &str) -> u8 {
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

/// What writing a result did.
#[derive(Debug, Clone, Copy)]
pub struct Written {
    /// Rows written.
    pub rows: u64,
    /// What the query read.
    pub statistics: ScanStatistics,
}

/// Runs a planned statement and writes its result in `format`. Values shown to a person
/// (table, Markdown, and CSV or TSV when `terminal`) have control characters escaped (see
/// [`escape_controls`]); JSON escapes them its own way; files keep the bytes.
pub async fn write(
    lake: &Lake,
    frame: DataFrame,
    format: Format,
    out: &mut (dyn Write + Send),
    started: Instant,
    terminal: bool,
) -> anyhow::Result<Written> {
    let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
    let mut stream = lake.execute(frame).await?;
    let rows = match format {
        Format::Csv | Format::Tsv | Format::Ndjson | Format::Parquet => {
            stream_rows(&mut stream, format, schema, out, terminal).await?
        }
        Format::Table | Format::Json | Format::Markdown | Format::Lake => {
            // Laid-out formats: the whole result first.
            let mut batches = Vec::new();
            while let Some(batch) = stream.next().await {
                batches.push(batch?);
            }
            let rows = batches.iter().map(|b| b.num_rows() as u64).sum();
            match format {
                Format::Json => json(out, &batches)?,
                Format::Markdown => markdown(out, &schema, &batches)?,
                Format::Lake => {
                    let s = stream.statistics();
                    let statistics = QueryStatistics {
                        results_count: rows,
                        events_scanned: s.rows_scanned,
                        bytes_scanned: s.bytes_scanned,
                        execution_time_millis: started.elapsed().as_millis() as u64,
                    };
                    write_query_results(out, &schema, &batches, &statistics)?;
                }
                _ => table(out, &schema, &batches)?,
            }
            rows
        }
    };
    Ok(Written {
        rows,
        statistics: stream.statistics(),
    })
}

/// A row format (csv, tsv, ndjson, parquet): each batch is written as it comes, so memory
/// holds one batch whatever the result's size. Returns the row count.
async fn stream_rows(
    stream: &mut Execution,
    format: Format,
    schema: SchemaRef,
    out: &mut (dyn Write + Send),
    terminal: bool,
) -> anyhow::Result<u64> {
    /// The writers' one difference that matters here.
    enum Writer<'a> {
        Csv(arrow::csv::Writer<&'a mut (dyn Write + Send)>),
        Ndjson(arrow::json::LineDelimitedWriter<&'a mut (dyn Write + Send)>),
        Parquet(parquet::arrow::ArrowWriter<&'a mut (dyn Write + Send)>),
    }
    let mut w = match format {
        Format::Ndjson => Writer::Ndjson(
            arrow::json::WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, arrow::json::writer::LineDelimited>(out),
        ),
        Format::Parquet => Writer::Parquet(parquet::arrow::ArrowWriter::try_new(
            out,
            Arc::clone(&schema),
            None,
        )?),
        _ => Writer::Csv(
            arrow::csv::WriterBuilder::new()
                .with_header(true)
                .with_delimiter(if format == Format::Tsv { b'\t' } else { b',' })
                .build(out),
        ),
    };
    let mut rows = 0u64;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        rows += batch.num_rows() as u64;
        match &mut w {
            Writer::Csv(w) if terminal => w.write(&escape_batch(&nested_as_json(&batch)?)?)?,
            Writer::Csv(w) => w.write(&nested_as_json(&batch)?)?,
            Writer::Ndjson(w) => w.write(&batch)?,
            Writer::Parquet(w) => w.write(&batch)?,
        }
    }
    match w {
        // The header alone, so an empty result still says its columns.
        Writer::Csv(mut w) if rows == 0 => {
            w.write(&nested_as_json(&RecordBatch::new_empty(schema))?)?
        }
        Writer::Csv(_) => {}
        Writer::Ndjson(mut w) => w.finish()?,
        Writer::Parquet(w) => {
            w.close()?;
        }
    }
    Ok(rows)
}

/// An aligned text table, laid out as Arrow's pretty printer does; an empty result prints its
/// column names and `(0 rows)`.
fn table(out: &mut dyn Write, schema: &SchemaRef, batches: &[RecordBatch]) -> anyhow::Result<()> {
    let names: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| escape_controls(f.name()).into_owned())
        .collect();
    if batches.iter().all(|b| b.num_rows() == 0) {
        writeln!(out, "{}", names.join(" | "))?;
        writeln!(out, "(0 rows)")?;
        return Ok(());
    }
    let mut table = comfy_table::Table::new();
    table.load_preset("||--+-++|    ++++++").set_header(names);
    for row in safe_rows(batches, &display_options(false))? {
        table.add_row(row.into_iter().map(|v| v.unwrap_or_else(|| "NULL".into())));
    }
    writeln!(out, "{table}")?;
    Ok(())
}

/// One JSON array of objects (`[]` when empty).
fn json(out: &mut dyn Write, batches: &[RecordBatch]) -> anyhow::Result<()> {
    let mut w = arrow::json::WriterBuilder::new()
        .with_explicit_nulls(true)
        .build::<_, arrow::json::writer::JsonArray>(&mut *out);
    for b in batches {
        w.write(b)?;
    }
    w.finish()?;
    if batches.is_empty() {
        write!(out, "[]")?;
    }
    writeln!(out)?;
    Ok(())
}

fn markdown(
    out: &mut dyn Write,
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> anyhow::Result<()> {
    let escape = ctlake_query::display::markdown_cell;
    let names: Vec<String> = schema.fields().iter().map(|f| escape(f.name())).collect();
    writeln!(out, "| {} |", names.join(" | "))?;
    writeln!(out, "|{}", "---|".repeat(names.len()))?;
    for row in safe_rows(batches, &display_options(false))? {
        let cells: Vec<String> = row
            .iter()
            .map(|v| v.as_deref().map_or(String::new(), escape))
            .collect();
        writeln!(out, "| {} |", cells.join(" | "))?;
    }
    Ok(())
}
