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

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use arrow::compute::filter_record_batch;
use arrow::datatypes::SchemaRef;
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
use crate::lake::Lake;
use crate::manifest::{
    self, Commit, CommitCounts, FileEntry, Recovery, Snapshot, SourceEntry, Staged,
};
use crate::remote::{self, Listing};
use crate::source::{self, Found, Passed, SourceFile};
use crate::store::LakeStore;
use crate::writer;
use crate::{Error, Result};

/// How a run behaves.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Store events whose `eventID` the partition already holds.
    pub keep_duplicates: bool,
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
    /// Compact the partitions the run touched once they hold
    /// [`compact::AUTO_MIN_SMALL_FILES`] small files (see [`compact`]).
    pub compact: bool,
}

impl Default for IngestOptions {
    fn default() -> Self {
        Self {
            keep_duplicates: false,
            threads: 0,
            io_threads: 0,
            lookback_days: 1,
            memory_budget: 256 << 20,
            dedup_max_ids: DEDUP_MAX_IDS,
            batch_bytes: 2 << 30,
            batch_files: 50_000,
            compact: true,
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
    /// Files read and recorded as ingested.
    pub files_ingested: usize,
    /// Files already ingested by an earlier run (same size and time), not read again.
    pub files_unchanged: usize,
    /// Digest files passed over.
    pub digests: Vec<Passed>,
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
        self.failed.is_empty() && self.skipped.is_empty() && self.rejects == 0
    }
}

enum Outcome {
    Ingested,
    NotCloudTrail(String),
    Digest,
    Failed(String),
}

struct FileResult {
    index: usize,
    file: SourceFile,
    outcome: Outcome,
    records: u64,
    rejects: Vec<u8>,
    reject_count: u64,
}

enum Msg {
    Rows(Vec<PartitionRows>),
    /// Results of files read, sent a few hundred at a time: a message per file kept the
    /// decoders and the writer contending on the channel for every small delivery.
    Files(Vec<FileResult>),
}

/// File results a decoder collects before sending them.
const RESULTS_PER_MSG: usize = 256;

/// A source file handed from the I/O threads to the decoders.
struct Loaded {
    index: usize,
    file: SourceFile,
    content: Content,
}

enum Content {
    /// The whole file, read ahead.
    Whole(Vec<u8>),
    /// Too large to hold whole: the decoder streams it from disk.
    Stream,
    /// Reading failed.
    Failed(String),
}

/// Rows a decoder hands over at a time.
const CHUNK_BYTES: usize = 16 << 20;

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

/// Files read ahead and waiting for a decoder (each at most [`source::WHOLE_FILE_MAX`]).
const READ_AHEAD: usize = 64;

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
    ignored: usize,
    seconds: f64,
}

/// The files of the current commit batch, taken by the decoders from the walk as it finds
/// them, until the batch holds `batch_files` files or `batch_bytes` bytes.
struct Feed<'a> {
    rx: Receiver<SourceFile>,
    opts: &'a IngestOptions,
    state: Mutex<FeedState>,
}

#[derive(Default)]
struct FeedState {
    taken: usize,
    bytes: u64,
    /// The walk has ended and every file it found was taken.
    done: bool,
}

impl Feed<'_> {
    /// The next file of this batch and its index in the batch, or None at the batch's end.
    fn next(&self) -> Option<(usize, SourceFile)> {
        let mut st = self.state.lock().expect("feed lock");
        let full = st.taken > 0
            && (st.taken >= self.opts.batch_files || st.bytes >= self.opts.batch_bytes);
        if st.done || full {
            return None;
        }
        match self.rx.recv() {
            Ok(file) => {
                let index = st.taken;
                st.taken += 1;
                st.bytes += file.size;
                Some((index, file))
            }
            Err(_) => {
                st.done = true;
                None
            }
        }
    }

    /// Starts the next batch; false when there are no more files.
    fn next_batch(&self) -> bool {
        let mut st = self.state.lock().expect("feed lock");
        st.taken = 0;
        st.bytes = 0;
        !st.done
    }
}

/// Runs `ctlake ingest`: reads `sources` (files, folders, globs) into the lake.
pub fn ingest(
    lake: &Lake,
    sources: &[String],
    opts: &IngestOptions,
    progress: &Progress,
) -> Result<IngestReport> {
    let started = Instant::now();
    let _lock = lake.lock()?;
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
        schema: event_schema(),
        id: uuid::Uuid::now_v7().to_string(),
        opts,
        dedup: FxHashMap::default(),
        cursor_floors: FxHashMap::default(),
    };
    // The walk runs ahead of the decoders in its own thread, so reading starts with the first
    // file found and memory holds a bounded window of the file list, not all of it.
    progress.discovering.store(true, Ordering::Relaxed);
    let (tx, rx) = bounded::<SourceFile>(WALK_AHEAD);
    let root = store.local_root();
    let index = &index;
    let listing = &listing;
    std::thread::scope(|scope| -> Result<()> {
        let walker = scope.spawn(move || {
            let started = Instant::now();
            let mut tally = Tally::default();
            let walked = source::walk(sources, root, listing, &mut |item| match item {
                Found::File(f) if index.contains(&f.uri, f.size, f.mtime_ns) => {
                    tally.unchanged += 1;
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
                Found::Ignored => {
                    tally.ignored += 1;
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
        report.ignored = tally.ignored;
        report.discover_seconds = tally.seconds;
        Ok(())
    })?;
    // The deduplication sets are not needed by compaction: free them first.
    drop(run);
    if opts.compact && !report.partitions.is_empty() {
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

struct Run<'a> {
    store: &'a LakeStore,
    schema: SchemaRef,
    id: String,
    opts: &'a IngestOptions,
    /// Event id keys per partition, loaded from the lake when a partition is first touched.
    dedup: FxHashMap<PartitionKey, FxHashSet<u128>>,
    /// Per S3 region prefix, the first key this run failed to read: its cursor must stay
    /// before it, so the next run lists the file again.
    cursor_floors: FxHashMap<String, String>,
}

struct BatchState {
    buffers: FxHashMap<PartitionKey, Buffered>,
    buffered: usize,
    /// Counts the chunks accepted, to tell which partitions were touched last.
    tick: u64,
    staged: Vec<Staged>,
    counts: CommitCounts,
}

/// One partition's rows waiting to be written.
#[derive(Default)]
struct Buffered {
    batches: Vec<RecordBatch>,
    bytes: usize,
    /// The chunk that last added rows.
    touched: u64,
}

/// Partitions handed to the encoder thread to be written as one staged file each.
type Job = Vec<(PartitionKey, Vec<RecordBatch>)>;

impl Run<'_> {
    fn batch(
        &mut self,
        snap: &mut Snapshot,
        feed: &Feed<'_>,
        batch_no: u32,
        threads: usize,
        progress: &Progress,
        report: &mut IngestReport,
    ) -> Result<()> {
        let (tx, rx) = bounded::<Msg>(threads * 2);
        let (loaded_tx, loaded_rx) = bounded::<Loaded>(READ_AHEAD);
        // A job (about a quarter of the budget) is handed over only when the encoder is free:
        // memory holds the budget of buffered rows, one job being encoded and one waiting.
        let (job_tx, job_rx) = bounded::<Job>(0);
        let mut state = BatchState {
            buffers: FxHashMap::default(),
            buffered: 0,
            tick: 0,
            staged: Vec::new(),
            counts: CommitCounts::default(),
        };
        let mut results: Vec<FileResult> = Vec::new();
        let (store, schema, run_id) = (self.store, self.schema.clone(), self.id.clone());
        let outcome: Result<f64> = std::thread::scope(|scope| {
            for _ in 0..self.opts.io_threads.max(1) {
                let loaded_tx = loaded_tx.clone();
                scope.spawn(move || read_files(feed, &loaded_tx));
            }
            drop(loaded_tx);
            for _ in 0..threads {
                let tx = tx.clone();
                let loaded_rx = loaded_rx.clone();
                scope.spawn(move || decode_files(&loaded_rx, &tx, progress));
            }
            drop(tx);
            drop(loaded_rx);
            // Encoding runs beside the decoders instead of stopping them, so both cores stay
            // busy while a flush is written.
            let encoder = scope.spawn(move || encode_jobs(store, &schema, &run_id, job_rx));
            let received = || -> Result<()> {
                for msg in rx {
                    match msg {
                        Msg::Rows(parts) => {
                            state.tick += 1;
                            for part in parts {
                                self.accept(snap, part, &mut state)?;
                            }
                            if state.buffered >= self.opts.memory_budget {
                                let keep = self.opts.memory_budget / 4 * 3;
                                let job = take_coldest(&mut state, keep);
                                if job_tx.send(job).is_err() {
                                    // The encoder failed: its error is reported below.
                                    return Ok(());
                                }
                            }
                        }
                        Msg::Files(r) => results.extend(r),
                    }
                }
                let rest = take_coldest(&mut state, 0);
                if !rest.is_empty() {
                    let _ = job_tx.send(rest);
                }
                Ok(())
            };
            let received = received();
            drop(job_tx);
            let (staged, seconds) = encoder.join().expect("the encoder does not panic");
            received?;
            state.staged = staged?;
            Ok(seconds)
        });
        // On error the receiver is gone, so the decoders stop at their next send.
        report.write_seconds += outcome?;

        results.sort_by_key(|r| r.index);
        let mut sources = Vec::new();
        let mut rejects = Vec::new();
        let mut cursors: BTreeMap<String, String> = BTreeMap::new();
        for r in &results {
            let Some(remote) = &r.file.remote else {
                continue;
            };
            let Some(prefix) = &remote.cursor_prefix else {
                continue;
            };
            if !matches!(r.outcome, Outcome::Ingested) {
                let key = r.file.uri.clone();
                let floor = self
                    .cursor_floors
                    .entry(prefix.clone())
                    .or_insert(key.clone());
                if key < *floor {
                    *floor = key;
                }
            }
        }
        for r in &results {
            let (Some(remote), Outcome::Ingested) = (&r.file.remote, &r.outcome) else {
                continue;
            };
            let Some(prefix) = &remote.cursor_prefix else {
                continue;
            };
            let key = remote.key.to_string();
            let below_floor = self
                .cursor_floors
                .get(prefix)
                .is_none_or(|floor| r.file.uri < *floor);
            let newer = snap.cursors.get(prefix).is_none_or(|old| key > *old)
                && cursors.get(prefix).is_none_or(|c| key > *c);
            if below_floor && newer {
                cursors.insert(prefix.clone(), key);
            }
        }
        for r in results {
            let file = &r.file;
            let path = file.path.display().to_string();
            report.events_read += r.records;
            state.counts.rejects += r.reject_count;
            rejects.extend_from_slice(&r.rejects);
            match r.outcome {
                Outcome::Ingested => {
                    report.files_ingested += 1;
                    sources.push(SourceEntry {
                        uri: file.uri.clone(),
                        size: file.size,
                        mtime_ns: file.mtime_ns,
                        events: r.records,
                    });
                }
                Outcome::Digest => report.digests.push(Passed {
                    path,
                    reason: "CloudTrail digest file (integrity record, not events)".into(),
                }),
                Outcome::NotCloudTrail(reason) => report.skipped.push(FileProblem { path, reason }),
                Outcome::Failed(reason) => report.failed.push(FileProblem { path, reason }),
            }
        }

        let mut moves: Vec<(String, String)> = Vec::new();
        let mut stage = |dir: &str, ext: &str, bytes: Bytes| -> Result<String> {
            let to = format!("{dir}/{}-{batch_no}.{ext}", self.id);
            let from = self.store.stage_path(&self.id, &to);
            self.store.put(&from, bytes)?;
            moves.push((from, to.clone()));
            Ok(to)
        };
        let rejects_file = if rejects.is_empty() {
            None
        } else {
            Some(stage(layout::REJECTS_DIR, "jsonl", Bytes::from(rejects))?)
        };
        if sources.is_empty() && state.staged.is_empty() && rejects_file.is_none() {
            return Ok(());
        }
        let sources_file = if sources.is_empty() {
            None
        } else {
            Some(stage(
                layout::SOURCES_DIR,
                "parquet",
                ingested::encode(&sources)?,
            )?)
        };
        let mut add = Vec::new();
        for s in state.staged {
            report.partitions.insert(s.entry.partition());
            report.files_written += 1;
            report.bytes_written += s.entry.bytes;
            moves.push((s.from, s.entry.path.clone()));
            add.push(s.entry);
        }
        report.events_written += state.counts.events;
        report.duplicates += state.counts.duplicates;
        report.rejects += state.counts.rejects;
        let entry = Commit {
            seq: 0,
            run: self.id.clone(),
            batch: batch_no,
            committed_at: chrono::Utc::now().to_rfc3339(),
            writer: format!("ctlake {}", env!("CARGO_PKG_VERSION")),
            sources: Vec::new(),
            sources_file,
            source_count: sources.len() as u64,
            add,
            remove: Vec::new(),
            rejects_file,
            counts: state.counts,
            cursors,
        };
        let t = Instant::now();
        let mut rebased = false;
        let keep_duplicates = self.opts.keep_duplicates;
        manifest::commit_rebasing(
            self.store,
            snap,
            entry,
            moves,
            Vec::new(),
            |snap, theirs, r| {
                rebased = true;
                if keep_duplicates {
                    return Ok(());
                }
                rebase(self.store, &self.schema, &self.id, snap, theirs, r, report)
            },
        )?;
        if rebased {
            // The sets no longer hold everything the partitions do: rebuild them from the lake.
            self.dedup = FxHashMap::default();
        }
        report.commit_seconds += t.elapsed().as_secs_f64();
        // Everything the sets hold is now in committed files, so they can be rebuilt.
        if self.dedup.values().map(|s| s.len()).sum::<usize>() > self.opts.dedup_max_ids {
            self.dedup = FxHashMap::default();
        }
        Ok(())
    }

    /// Deduplicates a decoder's rows for one partition and buffers them.
    fn accept(
        &mut self,
        snap: &Snapshot,
        part: PartitionRows,
        state: &mut BatchState,
    ) -> Result<()> {
        let PartitionRows { key, batch, ids } = part;
        let batch = if self.opts.keep_duplicates {
            batch
        } else {
            if !self.dedup.contains_key(&key) {
                let existing = load_ids(self.store, &snap.partition_files(&key))?;
                self.dedup.insert(key.clone(), existing);
            }
            let seen = self.dedup.get_mut(&key).expect("inserted above");
            let keep: Vec<bool> = ids.iter().map(|id| seen.insert(*id)).collect();
            let dropped = keep.iter().filter(|k| !**k).count();
            state.counts.duplicates += dropped as u64;
            if dropped == 0 {
                batch
            } else {
                filter_record_batch(&batch, &BooleanArray::from(keep))?
            }
        };
        if batch.num_rows() == 0 {
            return Ok(());
        }
        state.counts.events += batch.num_rows() as u64;
        let bytes = batch.get_array_memory_size();
        state.buffered += bytes;
        let buffered = state.buffers.entry(key).or_default();
        buffered.bytes += bytes;
        buffered.touched = state.tick;
        buffered.batches.push(batch);
        Ok(())
    }
}

/// Adapts a commit that lost the race for its log entry to the entries that won (`theirs`, now
/// in `snap`): rows of this commit's files whose events a winner stored in the same partition
/// are dropped (each such file is rewritten without them, or removed when nothing is left), so
/// two runs over the same sources store every event once.
fn rebase(
    store: &LakeStore,
    schema: &SchemaRef,
    run: &str,
    snap: &Snapshot,
    theirs: &[Commit],
    r: manifest::Rebase<'_>,
    report: &mut IngestReport,
) -> Result<()> {
    let mut added: FxHashMap<PartitionKey, Vec<&FileEntry>> = FxHashMap::default();
    for c in theirs {
        for f in &c.add {
            if snap.files.contains_key(&f.path) {
                added.entry(f.partition()).or_default().push(f);
            }
        }
    }
    let mut keep = Vec::new();
    let mut moves = Vec::new();
    for f in std::mem::take(&mut r.entry.add) {
        let Some(their_files) = added.get(&f.partition()) else {
            moves.push((f.path.clone(), f.path.clone()));
            keep.push(f);
            continue;
        };
        let stored = load_ids(store, their_files)?;
        let bytes = store.get(&f.path)?.ok_or_else(|| Error::Lake {
            location: store.location(),
            message: format!("data file {} written by this run is missing", f.path),
        })?;
        let mut batches = Vec::new();
        let mut dropped = 0u64;
        let builder = ParquetRecordBatchReaderBuilder::try_new(bytes)?;
        for batch in builder.build()? {
            let batch = batch?;
            let ids = batch
                .column_by_name(EVENT_ID)
                .map(|c| c.as_string::<i32>().clone());
            let json = batch
                .column_by_name(EVENT_JSON)
                .map(|c| c.as_string::<i32>().clone());
            let mask: BooleanArray = (0..batch.num_rows())
                .map(|i| {
                    let id = match (&ids, &json) {
                        (Some(ids), _) if ids.is_valid(i) => id_key(ids.value(i)),
                        (_, Some(json)) => id_key(json.value(i)),
                        _ => return Some(true),
                    };
                    Some(!stored.contains(&id))
                })
                .collect();
            let filtered = filter_record_batch(&batch, &mask)?;
            dropped += (batch.num_rows() - filtered.num_rows()) as u64;
            if filtered.num_rows() > 0 {
                batches.push(filtered);
            }
        }
        if dropped == 0 {
            moves.push((f.path.clone(), f.path.clone()));
            keep.push(f);
            continue;
        }
        r.entry.counts.events -= dropped;
        r.entry.counts.duplicates += dropped;
        report.events_written -= dropped;
        report.duplicates += dropped;
        if !batches.is_empty() {
            let file = writer::encode(schema, &batches)?;
            let staged = manifest::stage(store, run, &f.partition(), file)?;
            moves.push((staged.from.clone(), staged.entry.path.clone()));
            keep.push(staged.entry);
        }
        store.delete(&f.path)?;
    }
    r.entry.add = keep;
    // The rejects and sources files stay as they are.
    r.moves.retain(|(_, to)| !to.starts_with(layout::TABLE_DIR));
    r.moves.extend(moves);
    Ok(())
}

/// Takes the partitions touched longest ago out of the buffer until at most `keep` bytes are
/// left. The walk delivers a partition's files together (see [`source::walk`]), so the coldest
/// partitions are the finished ones, and each is written once instead of once per flush.
fn take_coldest(state: &mut BatchState, keep: usize) -> Job {
    let mut order: Vec<(u64, PartitionKey)> = state
        .buffers
        .iter()
        .map(|(key, b)| (b.touched, key.clone()))
        .collect();
    order.sort_unstable();
    let mut job = Vec::new();
    for (_, key) in order {
        if state.buffered <= keep {
            break;
        }
        if let Some(b) = state.buffers.remove(&key) {
            state.buffered -= b.bytes;
            job.push((key, b.batches));
        }
    }
    job
}

/// The encoder thread: writes each job's partitions to staged files, using all cores, until
/// the jobs end or one fails. Returns the staged files and the seconds spent.
fn encode_jobs(
    store: &LakeStore,
    schema: &SchemaRef,
    run_id: &str,
    jobs: Receiver<Job>,
) -> (Result<Vec<Staged>>, f64) {
    let mut staged = Vec::new();
    let mut seconds = 0.0;
    for job in jobs {
        let t = Instant::now();
        let done: Vec<Result<Staged>> = job
            .into_par_iter()
            .map(|(key, batches)| {
                let file = writer::encode(schema, &batches)?;
                drop(batches);
                manifest::stage(store, run_id, &key, file)
            })
            .collect();
        seconds += t.elapsed().as_secs_f64();
        for s in done {
            match s {
                Ok(s) => staged.push(s),
                // Returning drops the receiver, so the next job's send fails and the batch stops.
                Err(e) => return (Err(e), seconds),
            }
        }
    }
    (Ok(staged), seconds)
}

/// The event id keys already stored in a partition's files.
fn load_ids(store: &LakeStore, files: &[&FileEntry]) -> Result<FxHashSet<u128>> {
    let mut ids = FxHashSet::default();
    for f in files {
        let bytes = store.get(&f.path)?.ok_or_else(|| Error::Lake {
            location: store.location(),
            message: format!("data file {} is in the log but missing", f.path),
        })?;
        let mut missing_rows = Vec::new();
        let mut row = 0usize;
        let builder = ParquetRecordBatchReaderBuilder::try_new(bytes.clone())?;
        let mask = ProjectionMask::columns(builder.parquet_schema(), [EVENT_ID]);
        for batch in builder.with_projection(mask).build()? {
            let batch = batch?;
            let col = batch.column(0).as_string::<i32>();
            for i in 0..col.len() {
                if col.is_valid(i) {
                    ids.insert(id_key(col.value(i)));
                } else {
                    missing_rows.push(row + i);
                }
            }
            row += col.len();
        }
        if !missing_rows.is_empty() {
            // Events without an id were deduplicated by their whole text.
            let builder = ParquetRecordBatchReaderBuilder::try_new(bytes)?;
            let mask = ProjectionMask::columns(builder.parquet_schema(), [EVENT_JSON]);
            let mut row = 0usize;
            let mut wanted = missing_rows.iter().peekable();
            for batch in builder.with_projection(mask).build()? {
                let batch = batch?;
                let col = batch.column(0).as_string::<i32>();
                while let Some(&&r) = wanted.peek() {
                    if r >= row + col.len() {
                        break;
                    }
                    ids.insert(id_key(col.value(r - row)));
                    wanted.next();
                }
                row += col.len();
            }
        }
    }
    Ok(ids)
}

/// An I/O thread: takes the batch's files from the feed and reads the small ones whole.
fn read_files(feed: &Feed<'_>, tx: &Sender<Loaded>) {
    while let Some((index, file)) = feed.next() {
        let content = if file.size <= source::WHOLE_FILE_MAX {
            let read = match &file.remote {
                Some(object) => remote::read_whole(object),
                None => source::read_whole(&file.path, file.size).map_err(|e| e.to_string()),
            };
            match read {
                Ok(bytes) => Content::Whole(bytes),
                Err(e) => Content::Failed(format!("cannot read: {e}")),
            }
        } else {
            Content::Stream
        };
        if tx
            .send(Loaded {
                index,
                file,
                content,
            })
            .is_err()
        {
            return;
        }
    }
}

fn decode_files(rx: &Receiver<Loaded>, tx: &Sender<Msg>, progress: &Progress) {
    let mut decoder = Decoder::new(event_schema());
    let mut buffer = Vec::new();
    let mut results = Vec::new();
    for Loaded {
        index,
        file,
        content,
    } in rx
    {
        let size = file.size;
        let result = decode_file(index, file, content, &mut decoder, tx, &mut buffer);
        progress.files_done.fetch_add(1, Ordering::Relaxed);
        progress.bytes_done.fetch_add(size, Ordering::Relaxed);
        progress.events.fetch_add(result.records, Ordering::Relaxed);
        results.push(result);
        if decoder.buffered_bytes() >= CHUNK_BYTES && tx.send(Msg::Rows(decoder.take())).is_err() {
            return;
        }
        if results.len() >= RESULTS_PER_MSG
            && tx.send(Msg::Files(std::mem::take(&mut results))).is_err()
        {
            return;
        }
    }
    if decoder.rows() > 0 && tx.send(Msg::Rows(decoder.take())).is_err() {
        return;
    }
    if !results.is_empty() {
        let _ = tx.send(Msg::Files(results));
    }
}

/// One line of a rejects file.
#[derive(serde::Serialize)]
struct RejectLine<'a> {
    source: &'a str,
    record: u64,
    offset: u64,
    reason: &'a str,
    event: &'a str,
}

fn decode_file(
    index: usize,
    file: SourceFile,
    content: Content,
    decoder: &mut Decoder,
    tx: &Sender<Msg>,
    buffer: &mut Vec<u8>,
) -> FileResult {
    let path = file.path.display().to_string();
    let reader = match content {
        Content::Whole(bytes) => Ok(source::open_bytes(bytes)),
        Content::Stream => match &file.remote {
            Some(object) => remote::open(object).map_err(|e| format!("cannot open: {e}")),
            None => source::open(&file.path).map_err(|e| format!("cannot open: {e}")),
        },
        Content::Failed(why) => Err(why),
    };
    let mut result = FileResult {
        index,
        file,
        outcome: Outcome::Ingested,
        records: 0,
        rejects: Vec::new(),
        reject_count: 0,
    };
    let reader = match reader {
        Ok(r) => r,
        Err(why) => {
            result.outcome = Outcome::Failed(why);
            return result;
        }
    };
    let mut stored = 0u64;
    let mut event_like = 0u64;
    let mut first_foreign: Option<String> = None;
    let reject = |result: &mut FileResult, frame: &crate::framing::Frame<'_>, reason: &str| {
        let text = String::from_utf8_lossy(frame.json);
        let line = RejectLine {
            source: &path,
            record: frame.index + 1,
            offset: frame.offset,
            reason,
            event: &text,
        };
        if serde_json::to_writer(&mut result.rejects, &line).is_ok() {
            result.rejects.push(b'\n');
        }
        result.reject_count += 1;
    };
    let mut framer = Framer::with_buffer(reader, std::mem::take(buffer));
    let framed = framer.run(|item| {
        result.records += 1;
        match item {
            Item::Record(frame) => match decoder.decode(frame.json) {
                Ok(()) => stored += 1,
                Err(rej) => {
                    if rej.event_like {
                        event_like += 1;
                    } else if first_foreign.is_none() {
                        first_foreign = Some(
                            String::from_utf8_lossy(&frame.json[..frame.json.len().min(4096)])
                                .into_owned(),
                        );
                    }
                    reject(&mut result, &frame, &rej.reason);
                }
            },
            Item::Bad(frame, why) => reject(&mut result, &frame, &why),
        }
        if decoder.buffered_bytes() >= CHUNK_BYTES {
            // A huge file: hand rows over as we go so memory stays bounded.
            let _ = tx.send(Msg::Rows(decoder.take()));
        }
    });
    *buffer = framer.into_buffer();
    match framed {
        Ok(_)
            if result.records > 0 && stored == 0 && event_like == 0 && first_foreign.is_some() =>
        {
            // Nothing in it looks like an event: a foreign JSON file, not bad CloudTrail.
            let digest = first_foreign
                .as_deref()
                .is_some_and(|t| t.contains("\"digestStartTime\""));
            result.outcome = if digest {
                Outcome::Digest
            } else {
                Outcome::NotCloudTrail(
                    "not CloudTrail: JSON without Records or event fields".into(),
                )
            };
            result.rejects.clear();
            result.reject_count = 0;
        }
        Ok(_) => {}
        Err(FrameError::Empty) => result.outcome = Outcome::Failed("empty file".into()),
        Err(e) => {
            let kept = if stored > 0 {
                format!(" ({stored} complete records before it were kept)")
            } else {
                String::new()
            };
            result.outcome = Outcome::Failed(format!("{e}{kept}"));
        }
    }
    result
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
        let lake = Lake::create(dir.path().join("lake")).unwrap();
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
