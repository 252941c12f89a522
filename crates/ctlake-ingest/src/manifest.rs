//! The commit log, as the writer uses it: creating a lake's identity, committing a run's files
//! atomically, and recovering after crashes. What the log holds and how it replays are in
//! `ctlake-log`, shared with the readers.
//!
//! A commit runs as follows, and [`recover`] undoes or forgets whatever a crash left:
//!
//! 1. data files are written where [`LakeStore::stage_path`] says: under
//!    `_ctlake/staging/<run>/` on a local disk (outside the table: no reader sees them), at
//!    their final keys on S3, which has no rename (no ctlake reader sees them either: the table
//!    is what the log names);
//! 2. a pending marker lists the moves about to be made;
//! 3. on a local disk, the files are moved into their partitions;
//! 4. the log entry is written with put-if-absent: the commit point;
//! 5. the marker is deleted, once the files the commit replaced (compaction) are: that waits
//!    for the queries that may still read them (see [`delete_replaced`]).
//!
//! On a local disk one writer holds the lake's lock, so the next entry is always free. On S3
//! several writers may race for it: the loser reads the entries it missed, lets the caller
//! rebase its commit on them (ingest drops the events the winner already stored), and tries
//! the next number. A put that S3 answered with an error after it landed (object_store retries
//! 5xx answers) comes back as "already exists": the entry is read back and is ours if it names
//! our run and batch.
//!
//! A crash between 1 and 4 leaves files that no log entry names. Locally, recovery (under the
//! lock) deletes them before the next run re-ingests their sources. On S3 another writer may
//! still be about to commit such files, so they are removed only once they are older than
//! [`ORPHAN_AGE`]: by the next writer when a run marker (`_ctlake/runs/`) shows that a run
//! ended without finishing, and by `ctlake vacuum` (see [`vacuum`]).

use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use ctlake_schema::layout::{self, PartitionKey};
use parquet::file::FOOTER_SIZE;
use parquet::file::metadata::FooterTail;
use serde::{Deserialize, Serialize};

pub use ctlake_log::{
    Commit, CommitCounts, FileEntry, LakeInfo, LakeSummary, Snapshot, SourceEntry, format_micros,
};

use crate::store::LakeStore;
use crate::{Error, Result};

/// How old an uncommitted file must be before a writer on S3 may remove it: older than any
/// batch takes from its first file to its commit, so no live run can still commit it.
pub const ORPHAN_AGE: Duration = Duration::from_secs(3600);

/// Where a run announces itself on S3 (removed when it ends; left behind by a crash).
pub const RUNS_DIR: &str = "_ctlake/runs";

/// A commit in flight: the moves of step 3.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pending {
    /// The run.
    pub run: String,
    /// The batch.
    pub batch: u32,
    /// `(from, to)` pairs (the same path twice on S3).
    pub moves: Vec<(String, String)>,
    /// Files the commit removes from the table, deleted once it is in the log (compaction).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deletes: Vec<String>,
}

/// Replays the lake's whole log.
pub fn load(store: &LakeStore) -> Result<Snapshot> {
    let object_store = store.object_store();
    Ok(store.block_on(ctlake_store::log::read_snapshot(object_store.as_ref()))?)
}

/// Reads one log entry; `None` when it does not exist (yet).
pub fn read_entry(store: &LakeStore, seq: u64) -> Result<Option<Commit>> {
    let path = layout::log_entry_path(seq);
    let Some(bytes) = store.get(&path)? else {
        return Ok(None);
    };
    Ok(Some(Commit::parse(&path, &bytes)?))
}

/// Brings `snap` up to the newest entry of the log; returns the entries it applied.
pub fn catch_up(store: &LakeStore, snap: &mut Snapshot) -> Result<Vec<Commit>> {
    let mut new = Vec::new();
    while let Some(commit) = read_entry(store, snap.seq + 1)? {
        snap.apply_next(&commit)?;
        new.push(commit);
    }
    Ok(new)
}

/// Reads the lake identity, creating it if the lake is new.
pub fn lake_info(store: &LakeStore, create: bool) -> Result<Option<LakeInfo>> {
    let object_store = store.object_store();
    if let Some(info) = store.block_on(ctlake_store::log::read_info(object_store.as_ref()))? {
        return Ok(Some(info));
    }
    if !create {
        return Ok(None);
    }
    if !store.list(layout::LOG_DIR)?.is_empty() {
        return Err(Error::Lake {
            location: store.location(),
            message: store.block_on(ctlake_store::log::missing_identity(object_store.as_ref())),
        });
    }
    let info = LakeInfo {
        id: uuid::Uuid::new_v4().to_string(),
        created: Utc::now().to_rfc3339(),
        format: 1,
    };
    let bytes = serde_json::to_vec_pretty(&info).expect("lake info serialises");
    if store.put_if_absent(layout::LAKE_FILE, Bytes::from(bytes))? {
        Ok(Some(info))
    } else {
        // Another process created it first: theirs is the identity.
        lake_info(store, false)
    }
}

fn pending_path(run: &str, batch: u32) -> String {
    format!("{}/{run}-{batch}.json", layout::PENDING_DIR)
}

/// What recovery found and cleaned.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// Commits in flight that had reached the log (only their markers were left).
    pub finished: usize,
    /// Commits in flight that had not: their moved files were deleted.
    pub abandoned: usize,
    /// Staging objects deleted.
    pub staging_deleted: usize,
    /// Files of runs that ended without committing them, removed on S3 (see [`vacuum`]).
    pub orphans_deleted: usize,
}

fn older_than(meta: &object_store::ObjectMeta, age: Duration) -> bool {
    let age = chrono::Duration::from_std(age).unwrap_or(chrono::Duration::MAX);
    Utc::now() - meta.last_modified >= age
}

/// Cleans up after runs that crashed. Locally it must run under the lake's write lock and
/// cleans everything; on S3, where writers do not lock, it leaves what a live writer may still
/// commit (anything younger than [`ORPHAN_AGE`]).
pub fn recover(store: &LakeStore, snap: &Snapshot) -> Result<Recovery> {
    let age = if store.renames() {
        Duration::ZERO
    } else {
        ORPHAN_AGE
    };
    let mut report = clear_pending(store, snap, age)?;
    if let Some(root) = store.local_root() {
        for meta in store.list(layout::STAGING_DIR)? {
            store.delete(meta.location.as_ref())?;
            report.staging_deleted += 1;
        }
        // A run killed inside a write leaves the store's temporary file (`name#N`), which
        // listing does not show; under the lock nothing else writes here, so the tree goes.
        // The same of a log entry's write; the entry itself was never linked into place.
        if let Ok(entries) = std::fs::read_dir(root.join(layout::LOG_DIR)) {
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().contains('#') {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        let staging = root.join(layout::STAGING_DIR);
        match std::fs::remove_dir_all(&staging) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(Error::Io {
                    path: staging.display().to_string(),
                    source: e,
                });
            }
            _ => {}
        }
    } else if store
        .list(RUNS_DIR)?
        .iter()
        .any(|m| older_than(m, ORPHAN_AGE))
    {
        // A run ended without finishing: what it wrote and never committed goes now.
        report.orphans_deleted = vacuum(store, snap, ORPHAN_AGE, false)?.len();
    }
    Ok(report)
}

/// Finishes or undoes the commits in flight whose markers are at least `min_age` old.
fn clear_pending(store: &LakeStore, snap: &Snapshot, min_age: Duration) -> Result<Recovery> {
    let mut report = Recovery::default();
    for meta in store.list(layout::PENDING_DIR)? {
        let path = meta.location.to_string();
        let Some(bytes) = store.get(&path)? else {
            continue;
        };
        match serde_json::from_slice::<Pending>(&bytes) {
            Ok(p) if snap.committed.contains(&(p.run.clone(), p.batch)) => {
                // Committed: delete the files it replaced once no reader can need them.
                if !delete_replaced(store, &p.deletes, older_than(&meta, min_age))? {
                    continue;
                }
                report.finished += 1;
            }
            Ok(_) if !older_than(&meta, min_age) => continue,
            Ok(p) => {
                for (from, to) in &p.moves {
                    store.delete(to)?;
                    store.delete(from)?;
                }
                report.abandoned += 1;
            }
            // A marker is written atomically, so a corrupt one was not written by ctlake.
            Err(source) => return Err(Error::Metadata { path, source }),
        }
        store.delete(&path)?;
    }
    Ok(report)
}

/// Deletes the files a committed entry replaced (compaction), if no query can still be
/// reading them; returns whether it did. A query that planned before the commit scans them.
/// Locally every query holds the readers' lock shared while it runs ([`layout::READERS_FILE`]),
/// so the files go when that lock can be taken exclusively: at once when no query runs, else by
/// a later writer. On S3, which has no locks, they go once `old_enough` (the commit's marker is
/// older than the reader grace the caller chose, [`ORPHAN_AGE`] by default).
fn delete_replaced(store: &LakeStore, paths: &[String], old_enough: bool) -> Result<bool> {
    if paths.is_empty() {
        return Ok(true);
    }
    let _exclusive = match store.local_root() {
        Some(root) => {
            let path = root.join(layout::READERS_FILE);
            let file =
                ctlake_store::open_lock_file(&path).map_err(|e| Error::io(path.display(), e))?;
            match file.try_lock() {
                Ok(()) => file,
                Err(std::fs::TryLockError::WouldBlock) => return Ok(false),
                Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(path.display(), e)),
            }
        }
        None if old_enough => return delete_all(store, paths),
        None => return Ok(false),
    };
    delete_all(store, paths)
}

fn delete_all(store: &LakeStore, paths: &[String]) -> Result<bool> {
    for path in paths {
        store.delete(path)?;
    }
    Ok(true)
}

/// The files that committed entries replaced and that wait for their readers to finish (see
/// [`delete_replaced`]): not part of the table, but not orphans either.
pub fn retired(store: &LakeStore, snap: &Snapshot) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for meta in store.list(layout::PENDING_DIR)? {
        let path = meta.location.to_string();
        let Some(bytes) = store.get(&path)? else {
            continue;
        };
        if let Ok(p) = serde_json::from_slice::<Pending>(&bytes)
            && snap.committed.contains(&(p.run.clone(), p.batch))
        {
            out.extend(p.deletes);
        }
    }
    Ok(out)
}

/// A file under the table, the rejects or the sources lists that no commit names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orphan {
    /// Its path relative to the lake root.
    pub path: String,
    /// Its size.
    pub bytes: u64,
    /// When it was written (RFC 3339).
    pub written: String,
}

/// Finds (and unless `dry_run`, deletes) the files no commit of `snap` references that are
/// older than `min_age`: what runs that never committed left behind. Younger files are left,
/// since a run still going may be about to commit them. Commit markers and run markers of
/// that age go too (see [`recover`]).
pub fn vacuum(
    store: &LakeStore,
    snap: &Snapshot,
    min_age: Duration,
    dry_run: bool,
) -> Result<Vec<Orphan>> {
    if !dry_run {
        clear_pending(store, snap, min_age)?;
        for meta in store.list(RUNS_DIR)? {
            if older_than(&meta, min_age) {
                store.delete(meta.location.as_ref())?;
            }
        }
    }
    let retired = retired(store, snap)?;
    let mut referenced: std::collections::HashSet<&str> =
        snap.files.keys().map(String::as_str).collect();
    referenced.extend(snap.source_files.iter().map(String::as_str));
    referenced.extend(retired.iter().map(String::as_str));
    let mut orphans = Vec::new();
    for dir in [layout::TABLE_DIR, layout::SOURCES_DIR, layout::REJECTS_DIR] {
        for meta in store.list(dir)? {
            let path = meta.location.to_string();
            if referenced.contains(path.as_str()) || !older_than(&meta, min_age) {
                continue;
            }
            if dir == layout::REJECTS_DIR && rejects_committed(snap, &path) {
                continue;
            }
            if !dry_run {
                store.delete(&path)?;
            }
            orphans.push(Orphan {
                path,
                bytes: meta.size,
                written: meta.last_modified.to_rfc3339(),
            });
        }
    }
    if !dry_run {
        store.remove_empty_tree(layout::TABLE_DIR);
    }
    Ok(orphans)
}

/// Rejects files are named `<run>-<batch>.jsonl`: committed when their commit is.
fn rejects_committed(snap: &Snapshot, path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let Some(stem) = name.strip_suffix(".jsonl") else {
        return true;
    };
    match stem.rsplit_once('-') {
        Some((run, batch)) => batch
            .parse::<u32>()
            .is_ok_and(|b| snap.committed.contains(&(run.to_string(), b))),
        None => true,
    }
}

/// A data file written by a run and waiting for its commit to make it part of the table.
pub(crate) struct Staged {
    /// Where it is written (see [`LakeStore::stage_path`]).
    pub from: String,
    /// What the commit adds to the log; `entry.path` is where the file ends up.
    pub entry: FileEntry,
}

/// Writes an encoded data file of partition `key` for run `run`, under the name it will have
/// in the table.
pub(crate) fn stage(
    store: &LakeStore,
    run: &str,
    key: &PartitionKey,
    file: crate::writer::EncodedFile,
) -> Result<Staged> {
    let path = format!("{}/part-{}.parquet", key.dir(), uuid::Uuid::now_v7());
    let from = store.stage_path(run, &path);
    let bytes = file.bytes.len() as u64;
    // What a scan reads to open the file: its metadata and the 8-byte tail giving its length.
    let footer = file
        .bytes
        .len()
        .checked_sub(FOOTER_SIZE)
        .and_then(|at| <&[u8; FOOTER_SIZE]>::try_from(&file.bytes[at..]).ok())
        .and_then(|tail| FooterTail::try_new(tail).ok())
        .and_then(|tail| u32::try_from(tail.metadata_length() + FOOTER_SIZE).ok())
        .unwrap_or(0);
    let sha256 = Some(hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
        &file.bytes,
    )));
    store.put(&from, file.bytes)?;
    Ok(Staged {
        from,
        entry: FileEntry {
            path,
            region: key.region.clone(),
            date: key.date,
            rows: file.rows,
            bytes,
            min_time_us: file.min_time,
            max_time_us: file.max_time,
            sha256,
            // Both writers (`writer::encode`, compaction) add every copy.
            copies: ctlake_schema::shred::VERSION,
            footer,
            schema: Some(file.schema_id),
        },
    })
}

/// Commits staged files: moves them into place and writes the log entry (steps 2 to 5 above).
/// On success the snapshot includes the commit. Losing a race for the entry is an error here;
/// see [`commit_rebasing`].
pub fn commit(
    store: &LakeStore,
    snap: &mut Snapshot,
    entry: Commit,
    moves: Vec<(String, String)>,
) -> Result<()> {
    commit_rebasing(store, snap, entry, moves, Vec::new(), |_, _, _| {
        Err(Error::CommitConflict(0))
    })
}

/// A commit's files, as the rebase may change them: the entry and the `(from, to)` moves.
pub struct Rebase<'a> {
    /// The entry about to be written.
    pub entry: &'a mut Commit,
    /// Its moves, kept in step with `entry.add`.
    pub moves: &'a mut Vec<(String, String)>,
}

/// [`commit`] for writers that may race (S3): when another writer took the next entry, the
/// entries it missed are applied to `snap` and handed to `rebase` with this commit, which
/// adapts the commit to them (or fails), and the next entry is tried. `deletes` (the files the
/// entry removes) are deleted after the entry is written and before the marker goes, so a crash
/// in between is finished by [`recover`].
pub fn commit_rebasing(
    store: &LakeStore,
    snap: &mut Snapshot,
    mut entry: Commit,
    mut moves: Vec<(String, String)>,
    deletes: Vec<String>,
    mut rebase: impl FnMut(&Snapshot, &[Commit], Rebase<'_>) -> Result<()>,
) -> Result<()> {
    let marker = pending_path(&entry.run, entry.batch);
    loop {
        entry.seq = snap.seq + 1;
        let pending = Pending {
            run: entry.run.clone(),
            batch: entry.batch,
            moves: moves.clone(),
            deletes: deletes.clone(),
        };
        store.put(
            &marker,
            Bytes::from(serde_json::to_vec(&pending).expect("serialises")),
        )?;
        for (from, to) in &moves {
            store.rename(from, to)?;
        }
        let body = serde_json::to_vec(&entry).expect("commit serialises");
        if store.put_if_absent(&layout::log_entry_path(entry.seq), Bytes::from(body))? {
            break;
        }
        // Ours after all, if a retried put landed twice.
        if read_entry(store, entry.seq)?
            .is_some_and(|c| c.run == entry.run && c.batch == entry.batch)
        {
            break;
        }
        if store.renames() {
            // Locally the lock makes this impossible unless someone bypassed it.
            return Err(Error::CommitConflict(entry.seq));
        }
        // Moved files are at their final places on S3, so the moves are now identities.
        let theirs = catch_up(store, snap)?;
        for m in moves.iter_mut() {
            m.0 = m.1.clone();
        }
        rebase(
            snap,
            &theirs,
            Rebase {
                entry: &mut entry,
                moves: &mut moves,
            },
        )
        .map_err(|e| match e {
            Error::CommitConflict(_) => Error::CommitConflict(entry.seq),
            other => other,
        })?;
    }
    // The marker keeps the replaced files' names until they are deleted (see `recover`).
    if delete_replaced(store, &deletes, false)? {
        store.delete(&marker)?;
    }
    store.remove_empty_tree(&format!("{}/{}", layout::STAGING_DIR, entry.run));
    snap.apply(&entry);
    Ok(())
}

/// [`commit`] for a commit that replaces files (compaction): on S3 a race is lost only if the
/// winner removed one of the files this commit replaces; then this commit's files are deleted
/// and the conflict reported.
pub fn commit_replacing(
    store: &LakeStore,
    snap: &mut Snapshot,
    entry: Commit,
    moves: Vec<(String, String)>,
    deletes: Vec<String>,
) -> Result<()> {
    let removes = entry.remove.clone();
    commit_rebasing(store, snap, entry, moves, deletes, |snap, _, r| {
        if removes.iter().all(|p| snap.files.contains_key(p)) {
            Ok(())
        } else {
            for (_, to) in r.moves.iter() {
                store.delete(to)?;
            }
            Err(Error::CommitConflict(0))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn entry(run: &str, add: &[&str], sources: &[&str]) -> Commit {
        Commit {
            seq: 0,
            run: run.into(),
            batch: 0,
            committed_at: String::new(),
            writer: "test".into(),
            sources: sources
                .iter()
                .map(|u| SourceEntry {
                    uri: u.to_string(),
                    size: 10,
                    mtime_ns: 5,
                    events: 1,
                })
                .collect(),
            sources_file: None,
            source_count: 0,
            add: add
                .iter()
                .map(|p| FileEntry {
                    path: p.to_string(),
                    region: "us-east-1".into(),
                    date: NaiveDate::from_ymd_opt(2024, 5, 1).unwrap(),
                    rows: 1,
                    bytes: 1,
                    min_time_us: 0,
                    max_time_us: 0,
                    sha256: None,
                    copies: 0,
                    footer: 0,
                    schema: None,
                })
                .collect(),
            remove: vec![],
            rejects_file: None,
            counts: CommitCounts::default(),
            cursors: Default::default(),
            proven: None,
        }
    }

    #[test]
    fn commits_replay_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = LakeStore::local(dir.path(), true).unwrap();
        let mut snap = load(&store).unwrap();
        assert_eq!(snap.seq, 0);
        store
            .put("_ctlake/staging/r1/a.parquet", Bytes::from_static(b"a"))
            .unwrap();
        let to = "cloudtrail/region=us-east-1/date=2024-05-01/a.parquet";
        commit(
            &store,
            &mut snap,
            entry("r1", &[to], &["file:///s1"]),
            vec![("_ctlake/staging/r1/a.parquet".into(), to.into())],
        )
        .unwrap();
        assert!(store.exists(to).unwrap());
        assert!(!store.exists("_ctlake/staging/r1/a.parquet").unwrap());
        let reloaded = load(&store).unwrap();
        assert_eq!(reloaded.seq, 1);
        assert_eq!(reloaded.files.len(), 1);
        assert_eq!(reloaded.inline_sources.len(), 1);
        assert_eq!(reloaded.source_count, 1);
        let index = crate::ingested::SourceIndex::load(&store, &reloaded).unwrap();
        assert!(index.contains("file:///s1", 10, 5));
        assert!(!index.contains("file:///s1", 11, 5));
        assert!(store.list(layout::PENDING_DIR).unwrap().is_empty());
    }

    #[test]
    fn recovery_deletes_what_an_unfinished_commit_moved() {
        let dir = tempfile::tempdir().unwrap();
        let store = LakeStore::local(dir.path(), true).unwrap();
        let snap = load(&store).unwrap();
        // A crash after step 3: the file was moved, the log entry never written.
        let to = "cloudtrail/region=us-east-1/date=2024-05-01/b.parquet";
        let pending = Pending {
            run: "r2".into(),
            batch: 0,
            moves: vec![("_ctlake/staging/r2/b.parquet".into(), to.into())],
            deletes: Vec::new(),
        };
        store
            .put(
                &pending_path("r2", 0),
                Bytes::from(serde_json::to_vec(&pending).unwrap()),
            )
            .unwrap();
        store.put(to, Bytes::from_static(b"b")).unwrap();
        store
            .put("_ctlake/staging/r3/c.parquet", Bytes::from_static(b"c"))
            .unwrap();
        let r = recover(&store, &snap).unwrap();
        assert_eq!(
            r,
            Recovery {
                finished: 0,
                abandoned: 1,
                staging_deleted: 1,
                orphans_deleted: 0,
            }
        );
        assert!(!store.exists(to).unwrap());
        assert!(store.list("_ctlake").unwrap().is_empty());
    }

    #[test]
    fn a_second_writer_of_the_same_entry_conflicts() {
        let dir = tempfile::tempdir().unwrap();
        let store = LakeStore::local(dir.path(), true).unwrap();
        let mut a = load(&store).unwrap();
        let mut b = a.clone();
        commit(&store, &mut a, entry("ra", &[], &[]), vec![]).unwrap();
        assert!(matches!(
            commit(&store, &mut b, entry("rb", &[], &[]), vec![]),
            Err(Error::CommitConflict(1))
        ));
    }

    #[test]
    fn lake_identity_is_created_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = LakeStore::local(dir.path(), true).unwrap();
        assert!(lake_info(&store, false).unwrap().is_none());
        let first = lake_info(&store, true).unwrap().unwrap();
        let again = lake_info(&store, true).unwrap().unwrap();
        assert_eq!(first.id, again.id);
        assert_eq!(
            uuid::Uuid::parse_str(&first.id).unwrap().get_version_num(),
            4
        );
    }
}
