//! Writing results: every output format of `ctlake query`, used by the shell too, and the
//! printer of query errors. Row formats (csv, tsv, ndjson, parquet) stream batch by batch; the
//! others need the whole result to lay it out.

use std::io::{self, Write};
use std::sync::Arc;
use std::time::Instant;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use ctlake_query::aws::{QueryStatistics, write_query_results};
use ctlake_query::display::{display_options, string_rows};
use ctlake_query::{Error, Lake, ScanStatistics};
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

/// Runs a planned statement and writes its result in `format`.
pub async fn write(
    lake: &Lake,
    frame: DataFrame,
    format: Format,
    out: &mut (dyn Write + Send),
    started: Instant,
) -> anyhow::Result<Written> {
    let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
    let mut stream = lake.execute(frame).await?;
    let mut rows = 0u64;
    // Row formats: each batch is written as it comes.
    match format {
        Format::Csv | Format::Tsv => {
            let delimiter = if format == Format::Csv { b',' } else { b'\t' };
            let mut w = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .with_delimiter(delimiter)
                .build(&mut *out);
            let mut wrote = false;
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                rows += batch.num_rows() as u64;
                w.write(&batch)?;
                wrote = true;
            }
            if !wrote {
                // The header alone, so an empty result still says its columns.
                w.write(&RecordBatch::new_empty(schema))?;
            }
            return Ok(Written {
                rows,
                statistics: stream.statistics(),
            });
        }
        Format::Ndjson => {
            let mut w = arrow::json::LineDelimitedWriter::new(&mut *out);
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                rows += batch.num_rows() as u64;
                w.write(&batch)?;
            }
            w.finish()?;
            return Ok(Written {
                rows,
                statistics: stream.statistics(),
            });
        }
        Format::Parquet => {
            let mut w = parquet::arrow::ArrowWriter::try_new(&mut *out, schema, None)?;
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                rows += batch.num_rows() as u64;
                w.write(&batch)?;
            }
            w.close()?;
            return Ok(Written {
                rows,
                statistics: stream.statistics(),
            });
        }
        Format::Table | Format::Json | Format::Markdown | Format::Lake => {}
    }
    // Laid-out formats: the whole result first.
    let mut batches = Vec::new();
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        rows += batch.num_rows() as u64;
        batches.push(batch);
    }
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
        // Table, and the row formats, which returned above.
        _ => table(out, &schema, &batches)?,
    }
    Ok(Written {
        rows,
        statistics: stream.statistics(),
    })
}

/// An aligned text table; an empty result prints its column names and `(0 rows)`.
fn table(out: &mut dyn Write, schema: &SchemaRef, batches: &[RecordBatch]) -> anyhow::Result<()> {
    if batches.iter().all(|b| b.num_rows() == 0) {
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        writeln!(out, "{}", names.join(" | "))?;
        writeln!(out, "(0 rows)")?;
        return Ok(());
    }
    let table =
        arrow::util::pretty::pretty_format_batches_with_options(batches, &display_options(false))?;
    writeln!(out, "{table}")?;
    Ok(())
}

/// One JSON array of objects (`[]` when empty).
fn json(out: &mut dyn Write, batches: &[RecordBatch]) -> anyhow::Result<()> {
    let mut w = arrow::json::ArrayWriter::new(&mut *out);
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
