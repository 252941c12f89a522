//! The ingest run: discovery, parallel decoding, deduplication, writing and commits.
//!
//! The walk streams the files it finds to a few I/O threads, which read small files whole (a
//! cold read waits on the disk far longer than decoding takes, so several are kept in flight).
//! One decoder thread per core decodes them and sends rows, grouped by partition, through a
//! bounded channel to the writer (this thread). The writer drops events whose
//! `eventID` its partition already holds and buffers rows per partition. When the buffer
//! reaches the memory budget, the partitions touched longest ago (with the walk's order, the
//! finished ones) go to an encoder thread, which writes each to a staged Parquet file while
//! the decoders go on. Memory is therefore bounded by about one and a half times the budget
//! plus a few chunks in flight, whatever the input.
//!
//! Sources are committed in batches (by bytes and file count). A batch's staged files and the
//! list of its sources go into the lake in one commit (see [`crate::manifest`]), so a source's
//! events are in the lake entirely or not at all, and a crash costs at most one batch of work.
//!
//! A file that breaks part-way (a truncated gzip, a stray bracket) is reported as failed and is
//! not recorded as ingested, but the complete records read before the break are kept: good data
//! is never thrown away, the next run reads the file again, and deduplication makes that
//! re-read add only what was missing.

mod batch;
mod decoding;
mod dedup;
mod feed;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arrow::array::{Array, AsArray, BooleanArray};
use arrow::compute::filter_record_batch;
use bytes::Bytes;
use crossbeam_channel::{Receiver, Sender, bounded};
use ctlake_schema::event_schema;
use ctlake_schema::layout::{self, PartitionKey};
use ctlake_schema::schema::{EVENT_ID, EVENT_JSON};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};

use crate::compact;
use crate::decode::{Decoder, PartitionRows, id_key};
use crate::framing::{FrameError, Framer, Item};
use crate::ingested::{self, SourceIndex};
use crate::lake::LakeWriter;
use crate::manifest::{
    self, Commit, CommitCounts, FileEntry, Recovery, Snapshot, SourceEntry, Staged,
};
use crate::remote::{self, Listing};
use crate::source::{self, Found, Passed, SourceFile};
use crate::store::LakeStore;
use crate::writer;
use crate::{Error, Result};

use batch::Run;
use feed::{Feed, FeedState};

/// How a run behaves.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Store events whose `eventID` the partition already holds.
    pub keep_duplicates: bool,
    /// Read sources the lake has already stored too (their events already stored are dropped
    /// as duplicates): what restores the events of a file `ctlake repair` dropped.
    pub recheck: bool,
    /// Decoder threads; 0 means one per core.
    pub threads: usize,
    /// Threads reading small files whole ahead of the decoders; 0 means [`IO_THREADS`] for
    /// local sources and [`S3_IO_THREADS`] when any source is on S3.
    pub io_threads: usize,
    /// Whole day folders of each S3 region prefix listed again before its cursor's day, so
    /// late deliveries are found (see [`crate::remote`]).
    pub lookback_days: u32,
    /// Bytes of decoded rows buffered before they are written out.
    pub memory_budget: usize,
    /// Event id keys held for deduplication before they are released at a commit (and
    /// reloaded from the lake as partitions are touched again); see [`DEDUP_MAX_IDS`].
    pub dedup_max_ids: usize,
    /// Source bytes per commit.
    pub batch_bytes: u64,
    /// Source files per commit.
    pub batch_files: usize,
    /// Wait for another writer's lock instead of failing at once.
    pub wait: bool,
    /// Compact the partitions the run touched once they hold
    /// [`compact::AUTO_MIN_SMALL_FILES`] small files (see [`compact`]).
    pub compact: bool,
    /// Which source files may be read at all (`ingest --verify`: only log files proven by
    /// CloudTrail's digests); the others are reported as skipped with the reason given, and
    /// the run's commits are marked as proven.
    pub admit: Option<Admission>,
}

/// Whether a source file (by URI) may be ingested: `Err` says why not.
pub type Admit = dyn Fn(&str) -> std::result::Result<(), String> + Send + Sync;

/// Decides, by a source file's URI, whether it may be ingested.
#[derive(Clone)]
pub struct Admission(pub Arc<Admit>);

impl std::fmt::Debug for Admission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Admission(..)")
    }
}

impl Default for IngestOptions {
    fn default() -> Self {
        Self {
            keep_duplicates: false,
            recheck: false,
            wait: false,
            threads: 0,
            io_threads: 0,
            lookback_days: 1,
            memory_budget: 256 << 20,
            dedup_max_ids: DEDUP_MAX_IDS,
            batch_bytes: 2 << 30,
            batch_files: 50_000,
            compact: true,
            admit: None,
        }
    }
}

/// Live counters of a run, for progress displays (read them from another thread).
#[derive(Debug, Default)]
pub struct Progress {
    /// Files to read this run.
    pub files_total: AtomicU64,
    /// Their bytes.
    pub bytes_total: AtomicU64,
    /// Files read so far.
    pub files_done: AtomicU64,
    /// Bytes read so far.
    pub bytes_done: AtomicU64,
    /// Records read so far.
    pub events: AtomicU64,
    /// True while the walk is still finding files: until then the totals grow.
    pub discovering: AtomicBool,
    /// Set (by a Ctrl-C or SIGTERM handler) to end the run early: no file is taken after it,
    /// the files already taken are written and committed, the rest is left for the next run.
    pub stop: AtomicBool,
}

/// A file that was not ingested, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProblem {
    /// The file.
    pub path: String,
    /// One line: why, and where in the file.
    pub reason: String,
}

/// What a run did.
#[derive(Debug, Default)]
pub struct IngestReport {
    /// The run was asked to stop ([`Progress::stop`]) and ended after its last commit.
    pub interrupted: bool,
    /// Data files of the lake that could not be read (to drop duplicates against them); the
    /// run went on without them. `ctlake verify` and `ctlake repair` deal with them.
    pub damaged: Vec<FileProblem>,
    /// Files read and recorded as ingested.
    pub files_ingested: usize,
    /// Files already ingested by an earlier run (same size and time), not read again.
    pub files_unchanged: usize,
    /// Digest files passed over.
    pub digests: Vec<Passed>,
    /// CloudTrail Insights files found (paths or `s3://` URLs): not read as events; `ctlake
    /// ingest` stores their records in the `insights` table.
    pub insights: Vec<String>,
    /// Files in walked folders whose names cannot hold CloudTrail.
    pub ignored: usize,
    /// Files that are JSON but not CloudTrail.
    pub skipped: Vec<FileProblem>,
    /// Files that could not be read to the end.
    pub failed: Vec<FileProblem>,
    /// Records read.
    pub events_read: u64,
    /// Rows stored.
    pub events_written: u64,
    /// Records dropped because their partition already held their `eventID`.
    pub duplicates: u64,
    /// Records written to `_rejects/`.
    pub rejects: u64,
    /// Partitions that received rows.
    pub partitions: BTreeSet<PartitionKey>,
    /// Data files written.
    pub files_written: usize,
    /// Their bytes.
    pub bytes_written: u64,
    /// Wall time.
    pub seconds: f64,
    /// Of which: finding the sources.
    pub discover_seconds: f64,
    /// Encoding and staging data files (beside the decoders, on the encoder thread).
    pub write_seconds: f64,
    /// Of which: committing (moves and log entries).
    pub commit_seconds: f64,
    /// What recovery cleaned up from earlier crashed runs.
    pub recovery: Recovery,
    /// What the automatic compaction of the touched partitions did.
    pub compaction: compact::CompactReport,
}

impl IngestReport {
    /// True when everything that was read went into the lake: no failed or foreign files and
    /// no rejected records.
    pub fn is_clean(&self) -> bool {
        self.failed.is_empty()
            && self.skipped.is_empty()
            && self.rejects == 0
            && self.damaged.is_empty()
            && self.compaction.damaged.is_empty()
    }
}

/// Files the walk may find ahead of the decoders.
const WALK_AHEAD: usize = 16_384;

/// Threads reading small files whole ahead of the decoders, by default. They spend their time
/// waiting on the disk, not the CPU, so they are not counted against the cores: on the 2-core
/// benchmark machine, one account of the 5-million-event corpus (85,139 files, page cache
/// emptied) took 28 s when the decoders read their own files and 11-12 s with readers ahead
/// of them; between 2 and 16 readers made no difference there, and more help a remote disk.
pub const IO_THREADS: usize = 8;

/// Requests in flight reading S3 sources, by default: S3's latency (tens of milliseconds per
/// GET), not the CPU, bounds a remote ingest.
pub const S3_IO_THREADS: usize = 48;

/// Event id keys kept for deduplication across all partitions, by default (16 bytes each,
/// about 40 MB with the table's overhead). Past it, the sets are dropped at the next commit and
/// reloaded from the committed files when their partitions are touched again, so memory stays
/// flat however large the run.
pub const DEDUP_MAX_IDS: usize = 2_000_000;

/// What the walk counted besides the files it handed over.
#[derive(Default)]
struct Tally {
    unchanged: usize,
    digests: Vec<Passed>,
    insights: Vec<String>,
    ignored: usize,
    unreadable: Vec<FileProblem>,
    seconds: f64,
}

/// Runs `ctlake ingest`: reads `sources` (files, folders, globs) into the lake.
pub fn ingest(
    lake: &LakeWriter,
    sources: &[String],
    opts: &IngestOptions,
    progress: &Progress,
) -> Result<IngestReport> {
    let started = Instant::now();
    let _lock = if opts.wait {
        lake.lock_waiting()?
    } else {
        lake.lock()?
    };
    let store = lake.store();
    let mut snap = lake.snapshot()?;
    let mut report = IngestReport {
        recovery: manifest::recover(store, &snap)?,
        ..Default::default()
    };
    let _run = lake.announce_run()?;
    let listing = Listing {
        cursors: snap.cursors.clone(),
        lookback_days: opts.lookback_days,
    };
    let mut opts = opts.clone();
    if opts.io_threads == 0 {
        let remote = sources.iter().any(|s| s.starts_with("s3://"));
        opts.io_threads = if remote { S3_IO_THREADS } else { IO_THREADS };
    }
    let opts = &opts;
    let index = SourceIndex::load(store, &snap)?;
    let threads = match opts.threads {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    };
    let mut run = Run {
        store,
        id: uuid::Uuid::now_v7().to_string(),
        opts,
        dedup: FxHashMap::default(),
        cursor_floors: FxHashMap::default(),
        damaged: Vec::new(),
    };
    // The walk runs ahead of the decoders in its own thread, so reading starts with the first
    // file found and memory holds a bounded window of the file list, not all of it.
    progress.discovering.store(true, Ordering::Relaxed);
    let (tx, rx) = bounded::<SourceFile>(WALK_AHEAD);
    let root = store.local_root();
    let index = &index;
    let listing = &listing;
    let recheck = opts.recheck;
    let keep_duplicates = opts.keep_duplicates;
    let admit = opts.admit.as_ref();
    std::thread::scope(|scope| -> Result<()> {
        let walker = scope.spawn(move || {
            let started = Instant::now();
            let mut tally = Tally::default();
            let walked = source::walk(sources, root, listing, &mut |item| match item {
                Found::File(f) if !recheck && index.contains(&f.uri, f.size, f.mtime_ns) => {
                    tally.unchanged += 1;
                    true
                }
                // Nothing would drop the events it already gave: every one would be stored
                // twice. Without --keep-duplicates, the new ones go in and the rest are
                // dropped as duplicates.
                Found::File(f) if keep_duplicates && index.knows(&f.uri) => {
                    tally.unreadable.push(FileProblem {
                        path: f.uri.clone(),
                        reason: "changed since it was ingested; with --keep-duplicates its \
                                 events would all be stored again: ingest it without \
                                 --keep-duplicates"
                            .into(),
                    });
                    true
                }
                Found::File(f) if let Some(Err(reason)) = admit.map(|a| (a.0)(&f.uri)) => {
                    tally.unreadable.push(FileProblem {
                        path: f.uri.clone(),
                        reason,
                    });
                    true
                }
                Found::File(f) => {
                    progress.files_total.fetch_add(1, Ordering::Relaxed);
                    progress.bytes_total.fetch_add(f.size, Ordering::Relaxed);
                    tx.send(f).is_ok()
                }
                Found::Digest(p) => {
                    tally.digests.push(p);
                    true
                }
                Found::Insight(p) => {
                    tally.insights.push(p.path);
                    true
                }
                Found::Ignored => {
                    tally.ignored += 1;
                    true
                }
                Found::Unreadable(p) => {
                    tally.unreadable.push(FileProblem {
                        path: p.path,
                        reason: p.reason,
                    });
                    true
                }
            });
            drop(tx);
            progress.discovering.store(false, Ordering::Relaxed);
            tally.seconds = started.elapsed().as_secs_f64();
            (walked, tally)
        });
        let feed = Feed {
            rx,
            opts,
            stop: &progress.stop,
            state: Mutex::new(FeedState::default()),
        };
        let mut batch_no = 0u32;
        let mut outcome = Ok(());
        while feed.next_batch() {
            if let Err(e) = run.batch(&mut snap, &feed, batch_no, threads, progress, &mut report) {
                outcome = Err(e);
                break;
            }
            batch_no += 1;
        }
        // Dropping the feed stops a walk still under way (its next send fails).
        drop(feed);
        let (walked, tally) = walker.join().expect("the walk does not panic");
        outcome?;
        walked?;
        report.files_unchanged = tally.unchanged;
        report.digests.splice(0..0, tally.digests);
        report.insights.extend(tally.insights);
        report.ignored = tally.ignored;
        report.skipped.extend(tally.unreadable);
        report.discover_seconds = tally.seconds;
        Ok(())
    })?;
    // The deduplication sets are not needed by compaction: free them first.
    drop(run);
    report.interrupted = progress.stop.load(Ordering::Relaxed);
    if opts.compact && !report.partitions.is_empty() && !report.interrupted {
        let compaction = compact::CompactOptions {
            partitions: report.partitions.iter().cloned().collect(),
            min_small_files: compact::AUTO_MIN_SMALL_FILES,
            ..Default::default()
        };
        report.compaction = compact::compact_locked(store, &mut snap, &compaction)?;
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn record(id: &str) -> String {
        format!(
            r#"{{"eventVersion":"1.08","eventTime":"2024-05-01T10:00:00Z","awsRegion":"us-east-1","eventName":"GetObject","eventSource":"s3.amazonaws.com","eventID":"{id}"}}"#
        )
    }

    /// Duplicates across commits are found even after the id sets were released and have to
    /// be reloaded from the committed files.
    #[test]
    fn released_id_sets_are_reloaded_from_the_lake() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::create_dir_all(&src).unwrap();
        // Walked in name order, one file per commit: e2 and e1 come back in later files.
        for (name, ids) in [
            ("a.json", ["e1", "e2"]),
            ("b.json", ["e2", "e3"]),
            ("c.json", ["e1", "e4"]),
        ] {
            let records: Vec<String> = ids.iter().map(|id| record(id)).collect();
            let mut f = std::fs::File::create(src.join(name)).unwrap();
            write!(f, r#"{{"Records":[{}]}}"#, records.join(",")).unwrap();
        }
        let lake = LakeWriter::create(dir.path().join("lake")).unwrap();
        let opts = IngestOptions {
            batch_files: 1,
            dedup_max_ids: 1,
            compact: false,
            ..Default::default()
        };
        let report = ingest(
            &lake,
            &[src.display().to_string()],
            &opts,
            &Progress::default(),
        )
        .unwrap();
        assert_eq!(report.files_ingested, 3);
        assert_eq!(report.events_read, 6);
        assert_eq!(report.events_written, 4);
        assert_eq!(report.duplicates, 2);
    }
}
