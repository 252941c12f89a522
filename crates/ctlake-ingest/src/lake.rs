//! A lake handle for writers: its storage, identity, write lock and a summary of what it holds.

use std::ffi::OsStr;
use std::fs::File;

use bytes::Bytes;
use ctlake_schema::layout;
use ctlake_store::Location;

use crate::manifest::{self, LakeInfo, LakeSummary, Snapshot};
use crate::store::LakeStore;
use crate::{Error, Result};

/// A lake opened for writing (ingest, compaction, vacuum). Readers use `ctlake-query`'s.
pub struct LakeWriter {
    store: LakeStore,
    info: LakeInfo,
}

/// Holds the lake's write lock until dropped.
pub struct WriteLock {
    _file: Option<File>,
}

/// Announces a run on S3 until dropped (see [`manifest::RUNS_DIR`]): a marker left behind
/// tells the next writer that a run ended without finishing.
pub struct RunMarker<'a> {
    store: Option<&'a LakeStore>,
    path: String,
}

impl Drop for RunMarker<'_> {
    fn drop(&mut self) {
        if let Some(store) = self.store {
            let _ = store.delete(&self.path);
        }
    }
}

impl LakeWriter {
    /// Opens an existing lake: a local folder or `s3://bucket/prefix`.
    pub fn open(location: impl AsRef<OsStr>) -> Result<Self> {
        let location = Location::parse(&location.as_ref().to_string_lossy())?;
        if let Location::Local(p) = &location
            && !p.join(layout::META_DIR).is_dir()
        {
            return Err(Error::Lake {
                location: location.to_string(),
                message: "no lake here (run `ctlake ingest` first)".into(),
            });
        }
        let store = LakeStore::open(&location, false)?;
        match manifest::lake_info(&store, false)? {
            Some(info) => Ok(Self { store, info }),
            None => Err(Error::Lake {
                location: location.to_string(),
                message: store.block_on(ctlake_store::log::missing_identity(
                    store.object_store().as_ref(),
                )),
            }),
        }
    }

    /// Opens the lake at a local folder or `s3://bucket/prefix`, creating it if needed.
    pub fn create(location: impl AsRef<OsStr>) -> Result<Self> {
        let location = Location::parse(&location.as_ref().to_string_lossy())?;
        let store = LakeStore::open(&location, true)?;
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
        manifest::load(&self.store)
    }

    /// Takes the lake's write lock: one writer at a time, readers are never blocked. On S3
    /// there is no lock: writers race for each log entry instead (see [`manifest`]).
    pub fn lock(&self) -> Result<WriteLock> {
        let Some(root) = self.store.local_root() else {
            return Ok(WriteLock { _file: None });
        };
        let dir = root.join(layout::META_DIR);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(dir.display(), e))?;
        let path = dir.join("lock");
        let file = ctlake_store::open_lock_file(&path).map_err(|e| Error::io(path.display(), e))?;
        match file.try_lock() {
            Ok(()) => Ok(WriteLock { _file: Some(file) }),
            Err(std::fs::TryLockError::WouldBlock) => {
                Err(Error::Locked(self.store.location().to_string()))
            }
            Err(std::fs::TryLockError::Error(e)) => Err(Error::io(path.display(), e)),
        }
    }

    /// [`LakeWriter::lock`], waiting for another writer to finish instead of failing.
    pub fn lock_waiting(&self) -> Result<WriteLock> {
        loop {
            match self.lock() {
                Err(Error::Locked(_)) => std::thread::sleep(std::time::Duration::from_millis(200)),
                other => return other,
            }
        }
    }

    /// Announces a writing run on S3 (nothing locally, where the lock does that).
    pub fn announce_run(&self) -> Result<RunMarker<'_>> {
        let path = format!("{}/{}.json", manifest::RUNS_DIR, uuid::Uuid::now_v7());
        if self.store.renames() {
            return Ok(RunMarker { store: None, path });
        }
        let body = format!(
            "{{\"started\":\"{}\",\"pid\":{}}}",
            chrono::Utc::now().to_rfc3339(),
            std::process::id()
        );
        self.store.put(&path, Bytes::from(body))?;
        Ok(RunMarker {
            store: Some(&self.store),
            path,
        })
    }

    /// Summarises the lake from its log.
    pub fn summary(&self) -> Result<LakeSummary> {
        Ok(self.snapshot()?.summary(&self.info.id))
    }
}
