//! A commit batch: the writer side of a run. Rows from the decoders are deduplicated and
//! buffered per partition, the coldest partitions go to an encoder thread as the buffer
//! fills, and the batch's staged files and sources are committed together.

use super::decoding::{FileResult, Msg, Outcome, decode_files};
use super::dedup::{load_ids, rebase};
use super::feed::{Feed, Loaded, READ_AHEAD, read_files};
use super::*;
use crate::writer::Rows;
use arrow::buffer::BooleanBuffer;

pub(super) struct Run<'a> {
    pub(super) store: &'a LakeStore,
    pub(super) id: String,
    pub(super) opts: &'a IngestOptions,
    /// Event id keys per partition, loaded from the lake when a partition is first touched.
    pub(super) dedup: FxHashMap<PartitionKey, FxHashSet<u128>>,
    /// Per S3 region prefix, the first key this run failed to read: its cursor must stay
    /// before it, so the next run lists the file again.
    pub(super) cursor_floors: FxHashMap<String, String>,
    /// Data files of the lake that could not be read for deduplication.
    pub(super) damaged: Vec<crate::FileProblem>,
}

pub(super) struct BatchState {
    pub(super) buffers: FxHashMap<PartitionKey, Buffered>,
    pub(super) buffered: usize,
    /// Counts the chunks accepted, to tell which partitions were touched last.
    pub(super) tick: u64,
    pub(super) staged: Vec<Staged>,
    pub(super) counts: CommitCounts,
}

/// One partition's rows waiting to be written.
#[derive(Default)]
pub(super) struct Buffered {
    pub(super) batches: Vec<Rows>,
    pub(super) bytes: usize,
    /// The chunk that last added rows.
    pub(super) touched: u64,
}

/// Partitions handed to the encoder thread to be written as one staged file each.
pub(super) type Job = Vec<(PartitionKey, Vec<Rows>)>;

impl Run<'_> {
    pub(super) fn batch(
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
        let (store, run_id) = (self.store, self.id.clone());
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
            let encoder = scope.spawn(move || encode_jobs(store, &run_id, job_rx));
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
            let path = || file.path.display().to_string();
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
                    path: path(),
                    reason: "CloudTrail digest file (integrity record, not events)".into(),
                }),
                Outcome::NotCloudTrail(reason) => report.skipped.push(FileProblem {
                    path: path(),
                    reason,
                }),
                Outcome::Failed(reason) => report.failed.push(FileProblem {
                    path: path(),
                    reason,
                }),
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
        report.damaged.append(&mut self.damaged);
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
            proven: self.opts.admit.as_ref().map(|_| true),
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
                rebase(self.store, &self.id, snap, theirs, r, report)
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
    pub(super) fn accept(
        &mut self,
        snap: &Snapshot,
        part: PartitionRows,
        state: &mut BatchState,
    ) -> Result<()> {
        let PartitionRows { key, batch, ids } = part;
        let rows = if self.opts.keep_duplicates {
            Rows::from(batch)
        } else {
            if !self.dedup.contains_key(&key) {
                let existing =
                    load_ids(self.store, &snap.partition_files(&key), &mut self.damaged)?;
                self.dedup.insert(key.clone(), existing);
            }
            let seen = self.dedup.get_mut(&key).expect("inserted above");
            let keep: BooleanBuffer = ids.iter().map(|id| seen.insert(*id)).collect();
            let dropped = keep.len() - keep.count_set_bits();
            state.counts.duplicates += dropped as u64;
            if dropped == 0 {
                Rows::from(batch)
            } else if dropped * 2 > batch.num_rows() {
                // Mostly re-delivered rows: holding them until the write would spend the
                // memory budget on rows that are never written.
                let keep = BooleanArray::new(keep, None);
                Rows::from(filter_record_batch(&batch, &keep)?)
            } else {
                Rows {
                    batch,
                    keep: Some(keep),
                }
            }
        };
        let kept = rows.kept();
        if kept == 0 {
            return Ok(());
        }
        state.counts.events += kept as u64;
        let bytes = rows.batch.get_array_memory_size();
        state.buffered += bytes;
        let buffered = state.buffers.entry(key).or_default();
        buffered.bytes += bytes;
        buffered.touched = state.tick;
        buffered.batches.push(rows);
        Ok(())
    }
}

/// Takes the partitions touched longest ago out of the buffer until at most `keep` bytes are
/// left. The walk delivers a partition's files together (see [`source::walk`]), so the coldest
/// partitions are the finished ones, and each is written once instead of once per flush.
pub(super) fn take_coldest(state: &mut BatchState, keep: usize) -> Job {
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
pub(super) fn encode_jobs(
    store: &LakeStore,
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
                let file = writer::encode_kept(&batches)?;
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
