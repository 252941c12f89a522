//! Replaying the log into the table's state.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use ctlake_schema::layout::{self, PartitionKey};

use crate::entry::{Commit, FileEntry, SourceEntry};
use crate::{Error, Result};

/// The state of the lake at one point of the log.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The last commit applied (0 for an empty lake).
    pub seq: u64,
    /// Live data files by path.
    pub files: BTreeMap<String, FileEntry>,
    /// The sources files of the commits (only ingest reads them, to skip what is stored).
    pub source_files: Vec<String>,
    /// Sources recorded, counted once per commit that read them.
    pub source_count: u64,
    /// Sources recorded inline in the log by older commits.
    pub inline_sources: Vec<SourceEntry>,
    /// Applied `(run, batch)` pairs, to tell finished commits from abandoned ones.
    pub committed: HashSet<(String, u32)>,
    /// The newest listing cursor of each S3 prefix (see [`Commit::cursors`]).
    pub cursors: BTreeMap<String, String>,
    /// Commits that stored sources, all proven by CloudTrail's digests ([`Commit::proven`]).
    pub proven_commits: u64,
    /// Commits that stored sources not proven that way.
    pub unproven_commits: u64,
}

impl Snapshot {
    /// Replays log entries given as `(path, bytes)`, in any order. Paths that are not log
    /// entries are ignored. A missing entry in the sequence is an error: a reader must not
    /// answer from part of the lake.
    pub fn replay<P, B>(entries: impl IntoIterator<Item = (P, B)>) -> Result<Self>
    where
        P: AsRef<str>,
        B: AsRef<[u8]>,
    {
        let mut parsed: Vec<(u64, Commit)> = Vec::new();
        for (path, bytes) in entries {
            let path = path.as_ref();
            let Some(seq) = layout::log_entry_seq(path) else {
                continue;
            };
            parsed.push((seq, Commit::parse_at(path, seq, bytes.as_ref())?));
        }
        parsed.sort_by_key(|(seq, _)| *seq);
        let mut snap = Snapshot::default();
        for (_, commit) in &parsed {
            snap.apply_next(commit)?;
        }
        Ok(snap)
    }

    /// Applies the entry that follows this snapshot, parsed from `bytes` (for readers that
    /// follow a growing log without replaying it from the start).
    pub fn apply_bytes(&mut self, path: &str, bytes: &[u8]) -> Result<()> {
        let seq = layout::log_entry_seq(path).unwrap_or(self.seq + 1);
        self.apply_next(&Commit::parse_at(path, seq, bytes)?)
    }

    /// Applies `commit`, which must be the next entry of the log.
    pub fn apply_next(&mut self, commit: &Commit) -> Result<()> {
        if commit.seq != self.seq + 1 {
            return Err(Error::Gap {
                missing: self.seq + 1,
                last: commit.seq,
            });
        }
        self.apply(commit);
        Ok(())
    }

    /// Applies one commit (the writer's own, just written).
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
        if commit.source_count + commit.sources.len() as u64 > 0 {
            match commit.proven {
                Some(true) => self.proven_commits += 1,
                _ => self.unproven_commits += 1,
            }
        }
        for (prefix, key) in &commit.cursors {
            let newer = self.cursors.get(prefix).is_none_or(|old| key > old);
            if newer {
                self.cursors.insert(prefix.clone(), key.clone());
            }
        }
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

    /// What the snapshot holds, for `ctlake info` and the shell's banner.
    pub fn summary(&self, id: &str) -> LakeSummary {
        let mut s = LakeSummary {
            id: id.to_string(),
            files: self.files.len(),
            sources: self.source_count as usize,
            commits: self.seq,
            proven_commits: self.proven_commits,
            unproven_commits: self.unproven_commits,
            ..Default::default()
        };
        let mut partitions = BTreeSet::new();
        for f in self.files.values() {
            *s.regions.entry(f.region.clone()).or_default() += f.rows;
            s.dates.insert(f.date);
            partitions.insert((f.region.as_str(), f.date));
            s.events += f.rows;
            s.bytes += f.bytes;
            s.time_range = Some(match s.time_range {
                None => (f.min_time_us, f.max_time_us),
                Some((lo, hi)) => (lo.min(f.min_time_us), hi.max(f.max_time_us)),
            });
        }
        s.partitions = partitions.len();
        s
    }
}

/// What a lake holds, from its commit log (no data file is opened).
#[derive(Debug, Clone, Default)]
pub struct LakeSummary {
    /// The event data store ID.
    pub id: String,
    /// Events per region.
    pub regions: BTreeMap<String, u64>,
    /// Distinct dates.
    pub dates: BTreeSet<chrono::NaiveDate>,
    /// Partitions.
    pub partitions: usize,
    /// Data files.
    pub files: usize,
    /// Events.
    pub events: u64,
    /// Bytes of data files.
    pub bytes: u64,
    /// Earliest and latest event time (microseconds since the epoch).
    pub time_range: Option<(i64, i64)>,
    /// Source files ingested.
    pub sources: usize,
    /// Commits in the log.
    pub commits: u64,
    /// Commits that stored sources all proven by CloudTrail's digests (`ingest --verify`).
    pub proven_commits: u64,
    /// Commits that stored sources without that proof.
    pub unproven_commits: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hand-written entry, as a writer of any version would serialise it.
    fn entry(seq: u64, add: &[&str], remove: &[&str], cursor: Option<(&str, &str)>) -> String {
        let add: Vec<String> = add
            .iter()
            .map(|p| {
                format!(
                    r#"{{"path":"{p}","region":"us-east-1","date":"2024-05-01","rows":2,"bytes":10,"min_time_us":1,"max_time_us":5}}"#
                )
            })
            .collect();
        let remove: Vec<String> = remove.iter().map(|p| format!("\"{p}\"")).collect();
        let cursors = cursor
            .map(|(p, k)| format!(r#","cursors":{{"{p}":"{k}"}}"#))
            .unwrap_or_default();
        format!(
            r#"{{"seq":{seq},"run":"r{seq}","batch":0,"committed_at":"","writer":"t","source_count":1,"add":[{}],"remove":[{}]{cursors}}}"#,
            add.join(","),
            remove.join(",")
        )
    }

    fn path(seq: u64) -> String {
        layout::log_entry_path(seq)
    }

    #[test]
    fn replay_applies_entries_in_sequence_order() {
        let p = "s3://b/AWSLogs/1/CloudTrail/us-east-1/";
        let entries = vec![
            (path(2), entry(2, &["b"], &["a"], Some((p, "k2")))),
            (path(1), entry(1, &["a"], &[], Some((p, "k1")))),
            (path(3), entry(3, &["c"], &[], None)),
            ("_ctlake/log/README".to_string(), "not json".to_string()),
        ];
        let snap = Snapshot::replay(entries).unwrap();
        assert_eq!(snap.seq, 3);
        assert_eq!(snap.files.keys().collect::<Vec<_>>(), ["b", "c"]);
        assert_eq!(snap.source_count, 3);
        assert_eq!(snap.cursors[p], "k2");
        let s = snap.summary("id");
        assert_eq!((s.events, s.files, s.partitions, s.commits), (4, 2, 1, 3));
        assert_eq!(s.time_range, Some((1, 5)));
    }

    #[test]
    fn a_missing_entry_is_a_gap_not_a_smaller_lake() {
        let entries = vec![
            (path(1), entry(1, &["a"], &[], None)),
            (path(3), entry(3, &["c"], &[], None)),
        ];
        match Snapshot::replay(entries) {
            Err(Error::Gap { missing, last }) => assert_eq!((missing, last), (2, 3)),
            other => panic!("expected a gap, got {other:?}"),
        }
        // A log starting after 1 has lost its first entries.
        let entries = vec![(path(2), entry(2, &["a"], &[], None))];
        assert!(matches!(
            Snapshot::replay(entries),
            Err(Error::Gap { missing: 1, .. })
        ));
    }

    #[test]
    fn corrupt_and_misplaced_entries_are_named() {
        let err = Snapshot::replay(vec![(path(1), "{\"seq\":".to_string())]).unwrap_err();
        assert!(err.to_string().contains(&path(1)), "{err}");
        let err = Snapshot::replay(vec![(path(1), entry(4, &[], &[], None))]).unwrap_err();
        assert!(matches!(
            err,
            Error::Misplaced {
                expected: 1,
                found: 4,
                ..
            }
        ));
    }

    #[test]
    fn an_old_cursor_never_moves_a_newer_one_back() {
        let p = "s3://b/p/";
        let entries = vec![
            (path(1), entry(1, &[], &[], Some((p, "2024/05/02/x")))),
            (path(2), entry(2, &[], &[], Some((p, "2024/05/01/y")))),
        ];
        assert_eq!(
            Snapshot::replay(entries).unwrap().cursors[p],
            "2024/05/02/x"
        );
    }
}
