//! The commit log: what the lake holds, and how a run changes it atomically.
//!
//! A lake's state is the replay of `_ctlake/log/<seq>.json`, one entry per commit: the data
//! files it added (and removed), and the source files whose events it stored. The log, not the
//! directory listing, is the truth: a data file is part of the table from the moment the entry
//! naming it exists, and every entry is written with put-if-absent, so a commit is one atomic
//! step even on S3.
//!
//! A commit runs as follows, and [`recover`] undoes or forgets whatever a crash left:
//!
//! 1. data files are written under `_ctlake/staging/<run>/` (outside the table: no reader sees
//!    them; a crash here leaves only staging files, which recovery deletes);
//! 2. a pending marker lists the moves about to be made;
//! 3. the files are moved into their partitions;
//! 4. the log entry is written: the commit point;
//! 5. the marker is deleted.
//!
//! A crash between 2 and 4 leaves moved files that no log entry names: ctlake's readers never
//! see them, and recovery deletes them before the next run re-ingests their sources, so every
//! source file's events end up in the lake exactly once.

use std::collections::BTreeMap;

use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use ctlake_schema::layout::{self, PartitionKey};
use serde::{Deserialize, Serialize};

use crate::store::LakeStore;
use crate::{Error, Result};

/// The lake's identity, written once when the lake is created.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LakeInfo {
    /// The event data store ID: a UUID that names the table in CloudTrail Lake-style queries.
    pub id: String,
    /// When the lake was created (RFC 3339).
    pub created: String,
    /// The layout version.
    pub format: u32,
}

/// A source file whose events a commit stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceEntry {
    /// The source's URI (`file:///...`).
    pub uri: String,
    /// Its size in bytes when read.
    pub size: u64,
    /// Its modification time when read, nanoseconds since the epoch.
    pub mtime_ns: i64,
    /// Records read from it.
    pub events: u64,
}

/// A data file of the table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Path relative to the lake root.
    pub path: String,
    /// The partition's region.
    pub region: String,
    /// The partition's date.
    pub date: NaiveDate,
    /// Rows in the file.
    pub rows: u64,
    /// Size in bytes.
    pub bytes: u64,
    /// Smallest `eventtime` (microseconds since the epoch).
    pub min_time_us: i64,
    /// Largest `eventtime` (microseconds since the epoch).
    pub max_time_us: i64,
}

impl FileEntry {
    /// The file's partition.
    pub fn partition(&self) -> PartitionKey {
        PartitionKey {
            region: self.region.clone(),
            date: self.date,
        }
    }
}

/// Counts recorded with a commit, for `ctlake info` and audits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitCounts {
    /// Rows added.
    pub events: u64,
    /// Records dropped as duplicates of stored events.
    pub duplicates: u64,
    /// Records written to `_rejects/`.
    pub rejects: u64,
}

/// One entry of the commit log.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Commit {
    /// Position in the log.
    pub seq: u64,
    /// The run that wrote it.
    pub run: String,
    /// The run's batch number.
    pub batch: u32,
    /// When (RFC 3339).
    pub committed_at: String,
    /// Which program wrote it.
    pub writer: String,
    /// Sources whose events this commit stored, inline (lakes written before
    /// [`Commit::sources_file`]; new commits leave it empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<SourceEntry>,
    /// The Parquet file listing the sources whose events this commit stored (see
    /// [`crate::ingested`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sources_file: Option<String>,
    /// How many sources that file lists.
    #[serde(default)]
    pub source_count: u64,
    /// Data files added.
    pub add: Vec<FileEntry>,
    /// Data files removed (paths).
    #[serde(default)]
    pub remove: Vec<String>,
    /// The rejects file written with this commit, if any.
    #[serde(default)]
    pub rejects_file: Option<String>,
    /// Counts.
    #[serde(default)]
    pub counts: CommitCounts,
}

/// A commit in flight: the moves of step 3.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pending {
    /// The run.
    pub run: String,
    /// The batch.
    pub batch: u32,
    /// `(from, to)` pairs.
    pub moves: Vec<(String, String)>,
    /// Files the commit removes from the table, deleted once it is in the log (compaction).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deletes: Vec<String>,
}

/// The state of the lake at one point of the log.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The last commit applied (0 for an empty lake).
    pub seq: u64,
    /// Live data files by path.
    pub files: BTreeMap<String, FileEntry>,
    /// The sources files of the commits, read by [`crate::ingested::SourceIndex`] (only ingest
    /// needs them).
    pub source_files: Vec<String>,
    /// Sources recorded, counted once per commit that read them.
    pub source_count: u64,
    /// Sources recorded inline in the log by older commits.
    pub inline_sources: Vec<SourceEntry>,
    /// Applied `(run, batch)` pairs, to tell finished commits from abandoned ones.
    pub committed: std::collections::HashSet<(String, u32)>,
}

impl Snapshot {
    /// Replays the whole log of a lake.
    pub fn load(store: &LakeStore) -> Result<Self> {
        let mut snap = Snapshot::default();
        for meta in store.list(layout::LOG_DIR)? {
            let path = meta.location.to_string();
            if layout::log_entry_seq(&path).is_none() {
                continue;
            }
            let Some(bytes) = store.get(&path)? else {
                continue;
            };
            let commit: Commit =
                serde_json::from_slice(&bytes).map_err(|source| Error::Metadata {
                    path: path.clone(),
                    source,
                })?;
            snap.apply(&commit);
        }
        Ok(snap)
    }

    /// Applies one commit.
    pub fn apply(&mut self, commit: &Commit) {
        for path in &commit.remove {
            self.files.remove(path);
        }
        for f in &commit.add {
            self.files.insert(f.path.clone(), f.clone());
        }
        self.inline_sources.extend(commit.sources.iter().cloned());
        self.source_count += commit.source_count + commit.sources.len() as u64;
        if let Some(path) = &commit.sources_file {
            self.source_files.push(path.clone());
        }
        self.committed.insert((commit.run.clone(), commit.batch));
        self.seq = self.seq.max(commit.seq);
    }

    /// The live files of each partition.
    pub fn partitions(&self) -> BTreeMap<PartitionKey, Vec<&FileEntry>> {
        let mut parts: BTreeMap<PartitionKey, Vec<&FileEntry>> = BTreeMap::new();
        for f in self.files.values() {
            parts.entry(f.partition()).or_default().push(f);
        }
        parts
    }

    /// The live files of one partition.
    pub fn partition_files(&self, key: &PartitionKey) -> Vec<&FileEntry> {
        self.files
            .values()
            .filter(|f| f.region == key.region && f.date == key.date)
            .collect()
    }
}

/// Reads the lake identity, creating it if the lake is new.
pub fn lake_info(store: &LakeStore, create: bool) -> Result<Option<LakeInfo>> {
    if let Some(bytes) = store.get(layout::LAKE_FILE)? {
        let info = serde_json::from_slice(&bytes).map_err(|source| Error::Metadata {
            path: layout::LAKE_FILE.into(),
            source,
        })?;
        return Ok(Some(info));
    }
    if !create {
        return Ok(None);
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
}

/// Cleans up after runs that crashed. Must run under the lake's write lock.
pub fn recover(store: &LakeStore, snap: &Snapshot) -> Result<Recovery> {
    let mut report = Recovery::default();
    for meta in store.list(layout::PENDING_DIR)? {
        let path = meta.location.to_string();
        let Some(bytes) = store.get(&path)? else {
            continue;
        };
        match serde_json::from_slice::<Pending>(&bytes) {
            Ok(p) if snap.committed.contains(&(p.run.clone(), p.batch)) => {
                // Committed: finish what the crash interrupted (deleting replaced files).
                for path in &p.deletes {
                    store.delete(path)?;
                }
                report.finished += 1;
            }
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
    for meta in store.list(layout::STAGING_DIR)? {
        store.delete(meta.location.as_ref())?;
        report.staging_deleted += 1;
    }
    store.remove_empty_tree(layout::STAGING_DIR);
    Ok(report)
}

/// A data file waiting in the run's staging folder for a commit to move it into the table.
pub(crate) struct Staged {
    /// Where it is staged.
    pub from: String,
    /// What the commit adds to the log; `entry.path` is where the file moves to.
    pub entry: FileEntry,
}

/// Puts an encoded data file of partition `key` into run `run`'s staging folder, under the
/// name it will have in the table.
pub(crate) fn stage(
    store: &LakeStore,
    run: &str,
    key: &PartitionKey,
    file: crate::writer::EncodedFile,
) -> Result<Staged> {
    let name = format!("part-{}.parquet", uuid::Uuid::now_v7());
    let from = format!("{}/{run}/{key}/{name}", layout::STAGING_DIR);
    let bytes = file.bytes.len() as u64;
    store.put(&from, file.bytes)?;
    Ok(Staged {
        from,
        entry: FileEntry {
            path: format!("{}/{name}", key.dir()),
            region: key.region.clone(),
            date: key.date,
            rows: file.rows,
            bytes,
            min_time_us: file.min_time,
            max_time_us: file.max_time,
        },
    })
}

/// Commits staged files: moves them into place and writes the log entry (steps 2 to 5 above).
/// On success the snapshot includes the commit.
pub fn commit(
    store: &LakeStore,
    snap: &mut Snapshot,
    entry: Commit,
    moves: Vec<(String, String)>,
) -> Result<()> {
    commit_replacing(store, snap, entry, moves, Vec::new())
}

/// [`commit`] for a commit that replaces files: `deletes` (the files its entry removes) are
/// deleted after the log entry is written and before the marker goes, so a crash in between
/// is finished by [`recover`].
pub fn commit_replacing(
    store: &LakeStore,
    snap: &mut Snapshot,
    mut entry: Commit,
    moves: Vec<(String, String)>,
    deletes: Vec<String>,
) -> Result<()> {
    entry.seq = snap.seq + 1;
    let pending = Pending {
        run: entry.run.clone(),
        batch: entry.batch,
        moves: moves.clone(),
        deletes,
    };
    let marker = pending_path(&entry.run, entry.batch);
    store.put(
        &marker,
        Bytes::from(serde_json::to_vec(&pending).expect("serialises")),
    )?;
    for (from, to) in &moves {
        store.rename(from, to)?;
    }
    let body = serde_json::to_vec(&entry).expect("commit serialises");
    if !store.put_if_absent(&layout::log_entry_path(entry.seq), Bytes::from(body))? {
        return Err(Error::CommitConflict(entry.seq));
    }
    for path in &pending.deletes {
        store.delete(path)?;
    }
    store.delete(&marker)?;
    store.remove_empty_tree(&format!("{}/{}", layout::STAGING_DIR, entry.run));
    snap.apply(&entry);
    Ok(())
}

/// Formats microseconds since the epoch as RFC 3339.
pub fn format_micros(us: i64) -> String {
    DateTime::<Utc>::from_timestamp_micros(us)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| us.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

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
                })
                .collect(),
            remove: vec![],
            rejects_file: None,
            counts: CommitCounts::default(),
        }
    }

    #[test]
    fn commits_replay_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = LakeStore::local(dir.path(), true).unwrap();
        let mut snap = Snapshot::load(&store).unwrap();
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
        let reloaded = Snapshot::load(&store).unwrap();
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
        let snap = Snapshot::load(&store).unwrap();
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
                staging_deleted: 1
            }
        );
        assert!(!store.exists(to).unwrap());
        assert!(store.list("_ctlake").unwrap().is_empty());
    }

    #[test]
    fn a_second_writer_of_the_same_entry_conflicts() {
        let dir = tempfile::tempdir().unwrap();
        let store = LakeStore::local(dir.path(), true).unwrap();
        let mut a = Snapshot::load(&store).unwrap();
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
