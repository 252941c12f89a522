//! A lake handle: its storage, identity, write lock and a summary of what it holds.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::Path;

use ctlake_schema::layout;

use crate::manifest::{self, LakeInfo, Snapshot};
use crate::store::LakeStore;
use crate::{Error, Result};

/// An opened lake.
pub struct Lake {
    store: LakeStore,
    info: LakeInfo,
}

/// Holds the lake's write lock until dropped.
pub struct WriteLock {
    _file: Option<File>,
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
}

impl Lake {
    /// Opens an existing lake at a local folder.
    pub fn open(location: &Path) -> Result<Self> {
        if !location.join(layout::LAKE_FILE).is_file() {
            return Err(Error::Lake {
                location: location.display().to_string(),
                message: "no lake here (run `ctlake ingest` first)".into(),
            });
        }
        let store = LakeStore::local(location, false)?;
        let info = manifest::lake_info(&store, false)?.ok_or_else(|| Error::Lake {
            location: location.display().to_string(),
            message: "no lake identity".into(),
        })?;
        Ok(Self { store, info })
    }

    /// Opens the lake at a local folder, creating it if needed.
    pub fn create(location: &Path) -> Result<Self> {
        let store = LakeStore::local(location, true)?;
        let info = manifest::lake_info(&store, true)?.expect("created");
        Ok(Self { store, info })
    }

    /// The lake's event data store ID.
    pub fn id(&self) -> &str {
        &self.info.id
    }

    /// The lake's storage.
    pub fn store(&self) -> &LakeStore {
        &self.store
    }

    /// The current state of the table.
    pub fn snapshot(&self) -> Result<Snapshot> {
        Snapshot::load(&self.store)
    }

    /// Takes the lake's write lock: one writer at a time, readers are never blocked.
    pub fn lock(&self) -> Result<WriteLock> {
        let Some(root) = self.store.local_root() else {
            // Object stores rely on put-if-absent commits instead (see `manifest`).
            return Ok(WriteLock { _file: None });
        };
        let dir = root.join(layout::META_DIR);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(dir.display(), e))?;
        let path = dir.join("lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(path.display(), e))?;
        match file.try_lock() {
            Ok(()) => Ok(WriteLock { _file: Some(file) }),
            Err(std::fs::TryLockError::WouldBlock) => {
                Err(Error::Locked(self.store.location().to_string()))
            }
            Err(std::fs::TryLockError::Error(e)) => Err(Error::io(path.display(), e)),
        }
    }

    /// Summarises the lake from its log.
    pub fn summary(&self) -> Result<LakeSummary> {
        let snap = self.snapshot()?;
        let mut s = LakeSummary {
            id: self.info.id.clone(),
            files: snap.files.len(),
            sources: snap.source_count as usize,
            commits: snap.seq,
            ..Default::default()
        };
        let mut partitions = BTreeSet::new();
        for f in snap.files.values() {
            *s.regions.entry(f.region.clone()).or_default() += f.rows;
            s.dates.insert(f.date);
            partitions.insert((f.region.clone(), f.date));
            s.events += f.rows;
            s.bytes += f.bytes;
            s.time_range = Some(match s.time_range {
                None => (f.min_time_us, f.max_time_us),
                Some((lo, hi)) => (lo.min(f.min_time_us), hi.max(f.max_time_us)),
            });
        }
        s.partitions = partitions.len();
        Ok(s)
    }
}
