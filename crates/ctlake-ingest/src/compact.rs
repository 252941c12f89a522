//! Compaction: a partition's many small files become a few files of the target size.
//!
//! Incremental ingestion of 5-minute deliveries leaves one small file per partition per run;
//! every query then pays an open and a footer read per file. Compaction rewrites them with the
//! same guarantees as ingestion:
//!
//! - rows are unchanged (same events, same values; deduplication already happened at ingest),
//!   and each output file is sorted by `eventtime` like every data file;
//! - the new files are staged, moved and committed with one log entry that adds them and
//!   removes the old ones, so a reader of the log sees either the old files or the new ones,
//!   never both and never neither; the commit's pending marker names the old files until
//!   they are deleted, so a crash at any point leaves nothing recovery cannot finish or undo;
//! - the old files are deleted only when no query can still read them: locally at once if no
//!   query runs (queries hold the readers' lock), else by a later writer; on S3 by a writer
//!   an hour later. A query that planned before the commit thus reads the old files to its end.
//!
//! Memory stays bounded by streaming: input files are taken in time order; files whose time
//! ranges overlap (one ingest run that flushed a partition several times writes such files)
//! are merged a batch of each at a time (`merge`), the rest are copied through batch by batch,
//! into the current output file, which is closed when it reaches the target size.

use arrow::array::AsArray;
use arrow::datatypes::{SchemaRef, TimestampMicrosecondType};
use bytes::Bytes;
use ctlake_schema::event_schema;
use ctlake_schema::layout::PartitionKey;
use ctlake_schema::schema::{EVENT_TIME, file_schema_id};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::DEFAULT_CREATED_BY;
use rayon::prelude::*;

use crate::Result;
use crate::lake::LakeWriter;
use crate::manifest::{self, Commit, CommitCounts, FileEntry, Snapshot, Staged};
use crate::merge::{self, Input, Merge};
use crate::store::LakeStore;
use crate::writer;

/// The size compaction aims each file at.
pub const TARGET_BYTES: u64 = 128 << 20;

/// How many files smaller than half the target a partition may hold before `ctlake ingest`
/// compacts it.
pub const AUTO_MIN_SMALL_FILES: usize = 8;

/// What to compact.
#[derive(Debug, Clone)]
pub struct CompactOptions {
    /// Bytes per output file.
    pub target_bytes: u64,
    /// Only these partitions (all when empty).
    pub partitions: Vec<PartitionKey>,
    /// Only partitions holding at least this many files smaller than half the target.
    pub min_small_files: usize,
}

impl Default for CompactOptions {
    fn default() -> Self {
        Self {
            target_bytes: TARGET_BYTES,
            partitions: Vec::new(),
            min_small_files: 2,
        }
    }
}

/// What a compaction did.
#[derive(Debug, Default, Clone)]
pub struct CompactReport {
    /// Partitions rewritten.
    pub partitions: usize,
    /// Files replaced.
    pub files_before: usize,
    /// Files written in their place.
    pub files_after: usize,
    /// Bytes of the replaced files.
    pub bytes_before: u64,
    /// Bytes of the new files.
    pub bytes_after: u64,
    /// Rows moved.
    pub rows: u64,
    /// Wall time.
    pub seconds: f64,
    /// Partitions left as they were because another writer compacted them first (S3).
    pub conflicts: usize,
    /// Partitions left as they were because one of their files could not be read (the path
    /// is the partition's folder).
    pub damaged: Vec<crate::FileProblem>,
}

/// Compacts the lake's partitions (see the module docs). Takes the write lock.
pub fn compact(lake: &LakeWriter, opts: &CompactOptions) -> Result<CompactReport> {
    let _lock = lake.lock()?;
    let mut snap = lake.snapshot()?;
    manifest::recover(lake.store(), &snap)?;
    let _run = lake.announce_run()?;
    compact_locked(lake.store(), &mut snap, opts)
}

/// Compaction for a caller that already holds the write lock (ingest's automatic pass).
pub(crate) fn compact_locked(
    store: &LakeStore,
    snap: &mut Snapshot,
    opts: &CompactOptions,
) -> Result<CompactReport> {
    let started = std::time::Instant::now();
    let small = opts.target_bytes / 2;
    let mut work: Vec<(PartitionKey, Vec<FileEntry>)> = snap
        .partitions()
        .into_iter()
        .filter(|(key, _)| opts.partitions.is_empty() || opts.partitions.contains(key))
        .filter_map(|(key, files)| {
            let mut small_files: Vec<FileEntry> = files
                .into_iter()
                .filter(|f| f.bytes < small)
                .cloned()
                .collect();
            (small_files.len() >= opts.min_small_files.max(2)).then(|| {
                small_files.sort_by_key(|f| (f.min_time_us, f.max_time_us));
                (key, small_files)
            })
        })
        .collect();
    work.sort_by(|a, b| a.0.cmp(&b.0));
    let mut report = CompactReport::default();
    if work.is_empty() {
        return Ok(report);
    }
    let run = uuid::Uuid::now_v7().to_string();
    let schema = event_schema();
    let threads = rayon::current_num_threads().max(1);
    // A round of partitions per core at a time, each committed as soon as it is written: the
    // cores stay busy, memory holds one partition's merge per core, and a crash loses at most
    // the round in flight.
    let mut batch = 0u32;
    for round in work.chunks(threads) {
        let staged: Vec<Result<Vec<Staged>>> = round
            .par_iter()
            .map(|(key, files)| rewrite(store, &schema, &run, key, files, opts.target_bytes))
            .collect();
        for ((key, old), new) in round.iter().zip(staged) {
            let new = match new {
                // A damaged input leaves its partition as it is; the others are compacted.
                Err(e @ (crate::Error::Parquet(_) | crate::Error::Arrow(_))) => {
                    report.damaged.push(crate::FileProblem {
                        path: key.dir(),
                        reason: format!("not compacted, a file of it cannot be read: {e}"),
                    });
                    continue;
                }
                other => other?,
            };
            let entry = Commit {
                seq: 0,
                run: run.clone(),
                batch,
                committed_at: chrono::Utc::now().to_rfc3339(),
                writer: format!("ctlake {} compact", env!("CARGO_PKG_VERSION")),
                sources: Vec::new(),
                sources_file: None,
                source_count: 0,
                add: new.iter().map(|s| s.entry.clone()).collect(),
                remove: old.iter().map(|f| f.path.clone()).collect(),
                rejects_file: None,
                counts: CommitCounts::default(),
                cursors: Default::default(),
                proven: None,
            };
            batch += 1;
            let moves = new
                .iter()
                .map(|s| (s.from.clone(), s.entry.path.clone()))
                .collect();
            let deletes: Vec<String> = old.iter().map(|f| f.path.clone()).collect();
            match manifest::commit_replacing(store, snap, entry, moves, deletes) {
                // On S3 another compaction replaced some of these files first: its result
                // stands and this partition is left for the next pass.
                Err(crate::Error::CommitConflict(_)) if !store.renames() => {
                    report.conflicts += 1;
                    continue;
                }
                other => other?,
            }
            report.partitions += 1;
            report.files_before += old.len();
            report.files_after += new.len();
            report.bytes_before += old.iter().map(|f| f.bytes).sum::<u64>();
            report.bytes_after += new.iter().map(|s| s.entry.bytes).sum::<u64>();
            report.rows += new.iter().map(|s| s.entry.rows).sum::<u64>();
        }
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// An output file being filled.
struct Output {
    writer: ArrowWriter<Vec<u8>>,
    rows: u64,
    min_time: i64,
    max_time: i64,
}

/// Rewrites one partition's files into staged files of about `target` bytes.
fn rewrite(
    store: &LakeStore,
    schema: &SchemaRef,
    run: &str,
    key: &PartitionKey,
    files: &[FileEntry],
    target: u64,
) -> Result<Vec<Staged>> {
    let mut staged = Vec::new();
    let mut out: Option<Output> = None;
    let rows_hint = files.iter().map(|f| f.rows as usize).sum::<usize>();
    let finish = |out: Output, staged: &mut Vec<Staged>| -> Result<()> {
        let file = writer::EncodedFile {
            bytes: Bytes::from(out.writer.into_inner()?),
            rows: out.rows,
            min_time: out.min_time,
            max_time: out.max_time,
            schema_id: file_schema_id(&ctlake_schema::shred::file_schema(), DEFAULT_CREATED_BY),
        };
        staged.push(manifest::stage(store, run, key, file)?);
        Ok(())
    };
    let scratch = merge::scratch_dir(store, run, &key.to_string());
    for group in overlapping(files) {
        // A file overlapping nothing is sorted already and copied through batch by batch;
        // overlapping ones are merged, holding a batch of each.
        let inputs = group.iter().map(Input::Lake).collect();
        let inputs = merge::reduce(store, schema, &scratch, inputs, merge::FAN_IN)?;
        for batch in Merge::open(store, &inputs)? {
            let batch = batch?;
            if batch.num_rows() == 0 {
                continue;
            }
            let times = batch
                .column_by_name(EVENT_TIME)
                .expect("eventtime column")
                .as_primitive::<TimestampMicrosecondType>();
            let (first, last) = (times.value(0), times.value(batch.num_rows() - 1));
            let o = match out.as_mut() {
                Some(o) => o,
                None => out.insert(Output {
                    writer: ArrowWriter::try_new(
                        Vec::new(),
                        ctlake_schema::shred::file_schema(),
                        Some(writer::writer_properties(
                            &ctlake_schema::shred::file_schema(),
                            rows_hint,
                        )),
                    )?,
                    rows: 0,
                    min_time: first,
                    max_time: last,
                }),
            };
            o.min_time = o.min_time.min(first);
            o.max_time = o.max_time.max(last);
            o.rows += batch.num_rows() as u64;
            o.writer.write(&writer::with_copies(&batch)?)?;
            let size = o.writer.bytes_written() as u64 + o.writer.in_progress_size() as u64;
            if size >= target {
                let full = out.take().expect("present");
                finish(full, &mut staged)?;
            }
        }
    }
    if let Some(last) = out.take() {
        finish(last, &mut staged)?;
    }
    if scratch.exists() {
        // Best effort: recovery empties the staging folder anyway.
        let _ = std::fs::remove_dir_all(&scratch);
    }
    Ok(staged)
}

/// Files in time order, grouped where their time ranges overlap (those must be merged).
fn overlapping(files: &[FileEntry]) -> Vec<&[FileEntry]> {
    let mut groups = Vec::new();
    let mut start = 0;
    let mut reach = i64::MIN;
    for (i, f) in files.iter().enumerate() {
        if i > start && f.min_time_us > reach {
            groups.push(&files[start..i]);
            start = i;
        }
        reach = if i == start {
            f.max_time_us
        } else {
            reach.max(f.max_time_us)
        };
    }
    if start < files.len() {
        groups.push(&files[start..]);
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(min: i64, max: i64) -> FileEntry {
        FileEntry {
            path: format!("f{min}-{max}"),
            region: "us-east-1".into(),
            date: chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
            rows: 1,
            bytes: 1,
            min_time_us: min,
            max_time_us: max,
            sha256: None,
            copies: 0,
            footer: 0,
            schema: None,
        }
    }

    #[test]
    fn overlapping_ranges_are_merged_together_and_the_rest_copied() {
        let files = [
            file(0, 10),
            file(5, 20),
            file(21, 30),
            file(31, 40),
            file(35, 36),
        ];
        let groups: Vec<Vec<&str>> = overlapping(&files)
            .iter()
            .map(|g| g.iter().map(|f| f.path.as_str()).collect())
            .collect();
        assert_eq!(
            groups,
            [
                vec!["f0-10", "f5-20"],
                vec!["f21-30"],
                vec!["f31-40", "f35-36"]
            ]
        );
        assert!(overlapping(&[]).is_empty());
    }
}
