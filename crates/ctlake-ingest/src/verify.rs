//! Checking a lake for damage, and taking damaged files out of it.
//!
//! An audit trail is only worth what its integrity is. The commit log says which files make the
//! table, with each file's size, row count and (since it is recorded) SHA-256; [`verify`]
//! checks the lake against it: a gap in the log's sequence, a file missing or of another size,
//! bytes that no longer hash to the recorded SHA-256, a footer that does not read or a row
//! count that disagrees, and data files that no commit names (a directory reader such as
//! DuckDB or Athena counts their events, ctlake does not). With `deep`, every page is decoded
//! and every `eventjson` re-hashed against its `eventjsonchecksum`, which also finds damage in
//! files written before their SHA-256 was recorded, and names the events.
//!
//! [`drop_damaged`] removes damaged files from the table in a commit of its own, so queries
//! answer from the rest and re-ingesting the sources restores the events (ingest drops the ones
//! still stored as duplicates).

use std::collections::{BTreeMap, HashSet};

use arrow::array::{Array, AsArray};
use bytes::Bytes;
use ctlake_schema::layout;
use ctlake_schema::schema::{EVENT_ID, EVENT_JSON, EVENT_JSON_CHECKSUM};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::manifest::{self, Commit, CommitCounts, FileEntry, Snapshot};
use crate::{LakeStore, Result};

/// One problem found, with the file (or log entry) it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// The data file, relative to the lake root (the log folder for log problems).
    pub path: String,
    /// Its partition (`region=.../date=...`), when it is a data file.
    pub partition: Option<String>,
    /// What is wrong, in one line.
    pub problem: String,
}

/// What [`verify`] found.
#[derive(Debug, Default)]
pub struct VerifyReport {
    /// Data files the log names, all checked.
    pub files: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Events they hold, by the log.
    pub events: u64,
    /// Events whose `eventjson` was re-hashed (`deep`).
    pub events_rehashed: u64,
    /// Files without a recorded SHA-256 (written before it was recorded): only `deep` checks
    /// their values.
    pub without_sha256: usize,
    /// Damaged files of the table and log problems.
    pub damaged: Vec<Damage>,
    /// Data files no commit names, with the events each holds (when its footer reads).
    pub unreferenced: Vec<(Damage, Option<u64>)>,
}

impl VerifyReport {
    /// Whether the lake is intact.
    pub fn is_clean(&self) -> bool {
        self.damaged.is_empty() && self.unreferenced.is_empty()
    }
}

/// Checks the lake against its log (see the module docs). A log that does not replay is
/// reported as damage, and then no file can be checked.
pub fn verify(store: &LakeStore, deep: bool) -> Result<VerifyReport> {
    match manifest::load(store) {
        Ok(snap) => verify_snapshot(store, &snap, deep),
        Err(e @ (crate::Error::Log(_) | crate::Error::Store(_))) => Ok(VerifyReport {
            damaged: vec![Damage {
                path: layout::LOG_DIR.to_string(),
                partition: None,
                problem: e.to_string(),
            }],
            ..Default::default()
        }),
        Err(e) => Err(e),
    }
}

/// [`verify`] for a caller that has replayed the log already.
pub fn verify_snapshot(store: &LakeStore, snap: &Snapshot, deep: bool) -> Result<VerifyReport> {
    let mut report = VerifyReport::default();
    let listed: BTreeMap<String, u64> = store
        .list(layout::TABLE_DIR)?
        .into_iter()
        .map(|m| (m.location.to_string(), m.size))
        .collect();
    let files: Vec<&FileEntry> = snap.files.values().collect();
    report.files = files.len();
    report.bytes = files.iter().map(|f| f.bytes).sum();
    report.events = files.iter().map(|f| f.rows).sum();
    report.without_sha256 = files.iter().filter(|f| f.sha256.is_none()).count();
    let checked: Vec<Result<(Vec<Damage>, u64)>> = files
        .par_iter()
        .map(|f| check_file(store, f, listed.get(&f.path).copied(), deep))
        .collect();
    for c in checked {
        let (damage, rehashed) = c?;
        report.damaged.extend(damage);
        report.events_rehashed += rehashed;
    }
    let retired: HashSet<String> = manifest::retired(store, snap)?.into_iter().collect();
    for (path, size) in &listed {
        if snap.files.contains_key(path) || retired.contains(path) {
            continue;
        }
        let rows = store
            .get(path)?
            .and_then(|b| ParquetRecordBatchReaderBuilder::try_new(b).ok())
            .map(|b| b.metadata().file_metadata().num_rows() as u64);
        report.unreferenced.push((
            Damage {
                path: path.clone(),
                partition: partition_of(path),
                problem: format!(
                    "no commit names this file ({size} bytes, {} events): ctlake does not read \
                     it, a directory reader (DuckDB, Athena) counts it",
                    rows.map_or_else(|| "unreadable".to_string(), |r| r.to_string())
                ),
            },
            rows,
        ));
    }
    report.damaged.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(report)
}

fn partition_of(path: &str) -> Option<String> {
    path.rsplit_once('/').map(|(dir, _)| dir.to_string())
}

/// Checks one file of the table: its problems, and how many events were re-hashed.
fn check_file(
    store: &LakeStore,
    f: &FileEntry,
    listed_size: Option<u64>,
    deep: bool,
) -> Result<(Vec<Damage>, u64)> {
    let damage = |problem: String| Damage {
        path: f.path.clone(),
        partition: Some(f.partition().dir()),
        problem,
    };
    let Some(size) = listed_size else {
        return Ok((vec![damage("missing (the log names it)".into())], 0));
    };
    if size != f.bytes {
        return Ok((
            vec![damage(format!(
                "{size} bytes where the log recorded {}",
                f.bytes
            ))],
            0,
        ));
    }
    let Some(bytes) = store.get(&f.path)? else {
        return Ok((vec![damage("missing (the log names it)".into())], 0));
    };
    let mut found = Vec::new();
    if let Some(expected) = &f.sha256 {
        let actual = hex::encode(Sha256::digest(&bytes));
        if &actual != expected {
            found.push(damage(format!(
                "its bytes changed: SHA-256 {actual}, the log recorded {expected}"
            )));
            if !deep {
                return Ok((found, 0));
            }
        }
    }
    match read_file(bytes, f.rows, deep) {
        Ok((problems, rehashed)) => {
            found.extend(problems.into_iter().map(damage));
            Ok((found, rehashed))
        }
        Err(e) => {
            found.push(damage(format!("does not read: {e}")));
            Ok((found, 0))
        }
    }
}

/// Reads a data file's footer (and with `deep` every page, re-hashing each `eventjson`).
fn read_file(bytes: Bytes, rows: u64, deep: bool) -> Result<(Vec<String>, u64)> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes)?;
    let mut problems = Vec::new();
    let in_footer = builder.metadata().file_metadata().num_rows() as u64;
    if in_footer != rows {
        problems.push(format!(
            "{in_footer} events in its footer where the log recorded {rows}"
        ));
    }
    if !deep {
        return Ok((problems, 0));
    }
    let mut rehashed = 0u64;
    let mut bad_events = Vec::new();
    let mut read_rows = 0u64;
    // Every column is decoded, so a damaged page anywhere is found; the event columns are
    // read off the same batches.
    for batch in builder.build()? {
        let batch = batch?;
        read_rows += batch.num_rows() as u64;
        let (Some(ids), Some(json), Some(sums)) = (
            batch.column_by_name(EVENT_ID),
            batch.column_by_name(EVENT_JSON),
            batch.column_by_name(EVENT_JSON_CHECKSUM),
        ) else {
            problems.push("lacks the eventjson or eventjsonchecksum column".into());
            break;
        };
        let (ids, json, sums) = (
            ids.as_string::<i32>(),
            json.as_string::<i32>(),
            sums.as_string::<i32>(),
        );
        for i in 0..batch.num_rows() {
            rehashed += 1;
            let actual = hex::encode(Sha256::digest(json.value(i).as_bytes()));
            if sums.is_null(i) || actual != sums.value(i) {
                bad_events.push(if ids.is_null(i) {
                    format!("row {}", rehashed)
                } else {
                    ids.value(i).to_string()
                });
            }
        }
    }
    if read_rows != in_footer {
        problems.push(format!(
            "{read_rows} events read where its footer says {in_footer}"
        ));
    }
    if !bad_events.is_empty() {
        let shown: Vec<&str> = bad_events.iter().take(5).map(String::as_str).collect();
        problems.push(format!(
            "{} events whose eventjson no longer matches its eventjsonchecksum (eventid {}{})",
            bad_events.len(),
            shown.join(", "),
            if bad_events.len() > 5 { ", ..." } else { "" }
        ));
    }
    Ok((problems, rehashed))
}

/// Takes `paths` out of the table in a commit of their own (the files themselves are deleted
/// once no query can be reading them). Returns the entries removed.
pub fn drop_files(
    store: &LakeStore,
    snap: &mut Snapshot,
    paths: &[String],
) -> Result<Vec<FileEntry>> {
    let removed: Vec<FileEntry> = paths
        .iter()
        .filter_map(|p| snap.files.get(p).cloned())
        .collect();
    if removed.is_empty() {
        return Ok(removed);
    }
    let entry = Commit {
        seq: 0,
        run: uuid::Uuid::now_v7().to_string(),
        batch: 0,
        committed_at: chrono::Utc::now().to_rfc3339(),
        writer: format!("ctlake {} repair", env!("CARGO_PKG_VERSION")),
        sources: Vec::new(),
        sources_file: None,
        source_count: 0,
        add: Vec::new(),
        remove: removed.iter().map(|f| f.path.clone()).collect(),
        rejects_file: None,
        counts: CommitCounts::default(),
        cursors: Default::default(),
        proven: None,
    };
    let deletes = entry.remove.clone();
    manifest::commit_replacing(store, snap, entry, Vec::new(), deletes)?;
    Ok(removed)
}

/// Every source the lake has recorded (read once, for [`sources_of`]).
pub fn source_uris(store: &LakeStore, snap: &Snapshot) -> Result<Vec<String>> {
    let mut uris: Vec<String> = snap.inline_sources.iter().map(|s| s.uri.clone()).collect();
    for path in &snap.source_files {
        uris.extend(
            crate::ingested::read(store, path)?
                .into_iter()
                .map(|s| s.uri),
        );
    }
    Ok(uris)
}

/// The sources among `uris` that can hold events of `file`'s partition: delivery files of its
/// region delivered on its date or the day after (CloudTrail delivers within minutes, and a
/// late event lands in the next day's folder). Sources not in AWS's layout cannot be placed
/// and are not listed.
pub fn sources_of(uris: &[String], file: &FileEntry) -> Vec<String> {
    let next = file.date.succ_opt().unwrap_or(file.date);
    let mut out: Vec<String> = uris
        .iter()
        .filter(|uri| {
            ctlake_schema::awskey::parse_key(uri).is_some_and(|k| {
                k.kind == ctlake_schema::awskey::LogKind::Events
                    && k.region == file.region
                    && (k.date == file.date || k.date == next)
            })
        })
        .cloned()
        .collect();
    out.sort();
    out.dedup();
    out
}
