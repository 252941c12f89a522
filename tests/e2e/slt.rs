//! The sqllogictest suite (`tests/slt/*.slt`) over lakes built by the real binary.
//!
//! Expected values are never ctlake's own output: function results are Trino's documented
//! ones, and queries over the sample carry the DuckDB query that computes them from the raw
//! JSON (`tests/scripts/slt_oracle.py` re-checks every such block, see `duckdb_agrees`).
//! `__LAKE_ID__` in a file stands for the lake's event data store ID.

use std::path::{Path, PathBuf};

use arrow::array::Array;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use sqllogictest::{DBOutput, DefaultColumnType};

use crate::common::*;

struct LakeDb {
    lake: ctlake_query::Lake,
}

#[derive(Debug)]
struct SltError(String);

impl std::fmt::Display for SltError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SltError {}

#[async_trait::async_trait]
impl sqllogictest::AsyncDB for LakeDb {
    type Error = SltError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, SltError> {
        let err = |e: ctlake_query::Error| SltError(e.to_string());
        let frame = self.lake.sql(sql).await.map_err(err)?;
        let batches = frame
            .collect()
            .await
            .map_err(|e| err(ctlake_query::Error::from(e)))?;
        let options = FormatOptions::default()
            .with_null("NULL")
            .with_timestamp_format(Some("%Y-%m-%d %H:%M:%S%.3f"));
        let mut rows = Vec::new();
        let mut columns = 0;
        for batch in &batches {
            columns = batch.num_columns();
            let formatters: Vec<_> = batch
                .columns()
                .iter()
                .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap())
                .collect();
            for row in 0..batch.num_rows() {
                rows.push(
                    formatters
                        .iter()
                        .zip(batch.columns())
                        .map(|(f, c)| {
                            let v = f.value(row).to_string();
                            if !c.is_null(row) && v.is_empty() {
                                "(empty)".to_string()
                            } else {
                                v
                            }
                        })
                        .collect(),
                );
            }
        }
        Ok(DBOutput::Rows {
            types: vec![DefaultColumnType::Any; columns],
            rows,
        })
    }

    async fn shutdown(&mut self) {}
}

fn slt_dir() -> PathBuf {
    repo_root().join("tests/slt")
}

/// Runs one `.slt` file against `lake`, with `__LAKE_ID__` replaced by the lake's ID.
fn run_file(file: &Path, lake: &Path) {
    let id = info(lake)["event_data_store"].as_str().unwrap().to_string();
    let text = std::fs::read_to_string(file)
        .unwrap()
        .replace("__LAKE_ID__", &id);
    let tmp = tempfile::Builder::new().suffix(".slt").tempfile().unwrap();
    std::fs::write(tmp.path(), text).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let lake = lake.to_path_buf();
    let mut runner = sqllogictest::Runner::new(move || {
        let lake = lake.clone();
        async move {
            let lake = ctlake_query::Lake::open(&lake)
                .await
                .map_err(|e| SltError(e.to_string()))?;
            Ok::<_, SltError>(LakeDb { lake })
        }
    });
    if let Err(e) = runtime.block_on(runner.run_file_async(tmp.path())) {
        panic!("{}: {}", file.display(), e.display(true));
    }
}

#[test]
fn functions_and_dialect() {
    let (_dir, lake, _) = sample_lake();
    for name in ["functions.slt", "dialect.slt"] {
        run_file(&slt_dir().join(name), &lake);
    }
}

#[test]
fn cloudtrail_lake_samples_on_the_sample() {
    let (_dir, lake, _) = sample_lake();
    run_file(&slt_dir().join("sample.slt"), &lake);
}

/// DuckDB, over the raw JSON of `data/`, computes what every annotated block of `sample.slt`
/// expects.
#[test]
fn duckdb_agrees() {
    if duckdb_available() {
        oracle_check("sample.slt", &repo_root().join("data"));
    }
}

fn oracle_check(slt: &str, data: &Path) {
    let out = std::process::Command::new("python3")
        .arg(repo_root().join("tests/scripts/slt_oracle.py"))
        .arg("--check")
        .arg(slt_dir().join(slt))
        .arg(data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn queries_over_a_real_corpus() {
    let Some(src) = corpus("sans504") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    ingest(&lake, &[&src], 0);
    run_file(&slt_dir().join("sans504.slt"), &lake);
    if duckdb_available() {
        oracle_check("sans504.slt", &src);
    }
}
