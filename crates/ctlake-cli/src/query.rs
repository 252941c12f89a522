//! `ctlake query`: runs SQL over a lake and writes the result in the chosen format.

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Instant;

use anyhow::Context;
use arrow::record_batch::RecordBatch;

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
}

/// Runs `sql` on the lake at `lake` and writes the result.
pub fn run(
    lake: &Path,
    sql: &str,
    format: Format,
    output: Option<&Path>,
    stats: bool,
) -> anyhow::Result<u8> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the query runtime")?;
    runtime.block_on(async {
        let started = Instant::now();
        let lake = ctlake_query::Lake::open(lake).await?;
        let batches = lake.query(sql).await?;
        let elapsed = started.elapsed();
        let mut out: Box<dyn Write> = match output {
            Some(path) => Box::new(BufWriter::new(
                File::create(path).with_context(|| format!("creating {}", path.display()))?,
            )),
            None => Box::new(BufWriter::new(io::stdout().lock())),
        };
        write(&mut out, &batches, format)?;
        out.flush()?;
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        if stats {
            let s = lake.scan_stats();
            eprintln!(
                "{} rows; scanned {} of {} files ({}, {} rows); {:.3} s",
                count(rows as u64),
                count(s.files_scanned.load(Ordering::Relaxed)),
                count(s.files_total.load(Ordering::Relaxed)),
                bytes(s.bytes_scanned.load(Ordering::Relaxed)),
                count(s.rows_scanned.load(Ordering::Relaxed)),
                elapsed.as_secs_f64()
            );
        } else if format == Format::Table && io::stderr().is_terminal() {
            eprintln!(
                "{} rows in {:.3} s",
                count(rows as u64),
                elapsed.as_secs_f64()
            );
        }
        Ok(0)
    })
}

fn write(out: &mut dyn Write, batches: &[RecordBatch], format: Format) -> anyhow::Result<()> {
    match format {
        Format::Table => {
            writeln!(
                out,
                "{}",
                arrow::util::pretty::pretty_format_batches(batches)?
            )?;
        }
        Format::Csv | Format::Tsv => {
            let delimiter = if format == Format::Csv { b',' } else { b'\t' };
            let mut w = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .with_delimiter(delimiter)
                .build(out);
            for b in batches {
                w.write(b)?;
            }
        }
        Format::Json => {
            let mut w = arrow::json::ArrayWriter::new(out);
            for b in batches {
                w.write(b)?;
            }
            w.finish()?;
        }
        Format::Ndjson => {
            let mut w = arrow::json::LineDelimitedWriter::new(out);
            for b in batches {
                w.write(b)?;
            }
            w.finish()?;
        }
    }
    Ok(())
}
