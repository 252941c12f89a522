//! A lake's storage: an object store rooted at the lake, driven synchronously.
//!
//! Every byte of the lake is written through `object_store` (opened by `ctlake-store`), so
//! nothing above this module assumes a local path. The two kinds differ in one way that the
//! commit protocol cares about: a local folder renames atomically, so data files are staged
//! outside the table and moved in; S3 has no rename, so data files are written straight to
//! their final keys and the log entry alone makes them part of the table (see
//! [`crate::manifest`]). [`LakeStore::stage_path`] hides the difference.
//!
//! The async API is driven by a small private runtime: ingestion is CPU-bound and its threads
//! are plain threads; S3 requests from many threads run concurrently on it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use ctlake_schema::layout;
use ctlake_store::Location;
use futures::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

use crate::{Error, Result};

/// Synchronous access to the objects of one lake.
pub struct LakeStore {
    store: Arc<dyn ObjectStore>,
    runtime: tokio::runtime::Runtime,
    location: Location,
    local_root: Option<PathBuf>,
}

impl LakeStore {
    /// Opens the lake at a local folder, creating the folder when `create` is set.
    pub fn local(root: &Path, create: bool) -> Result<Self> {
        Self::open(&Location::Local(root.to_path_buf()), create)
    }

    /// Opens the lake at `location`, creating a local folder when `create` is set.
    pub fn open(location: &Location, create: bool) -> Result<Self> {
        let store = ctlake_store::open(location, create)?;
        let local_root = match location {
            Location::Local(p) => Some(p.canonicalize().map_err(|e| Error::io(p.display(), e))?),
            Location::S3 { .. } => None,
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("ctlake-io")
            .enable_all()
            .build()
            .map_err(|e| Error::io("tokio runtime", e))?;
        Ok(Self {
            store,
            runtime,
            location: location.clone(),
            local_root,
        })
    }

    /// The lake location as the user gave it.
    pub fn location(&self) -> String {
        self.location.to_string()
    }

    /// The lake location.
    pub fn lake_location(&self) -> &Location {
        &self.location
    }

    /// The lake's folder, for a local lake.
    pub fn local_root(&self) -> Option<&Path> {
        self.local_root.as_deref()
    }

    /// True where files can be moved atomically (a local folder), so they are staged first.
    pub fn renames(&self) -> bool {
        self.local_root.is_some()
    }

    /// Where run `run` writes a file that its commit puts at `final_path`: under the run's
    /// staging folder on a local disk, the final key itself on S3.
    pub fn stage_path(&self, run: &str, final_path: &str) -> String {
        if self.renames() {
            format!("{}/{run}/{final_path}", layout::STAGING_DIR)
        } else {
            final_path.to_string()
        }
    }

    /// The underlying object store (rooted at the lake).
    pub fn object_store(&self) -> Arc<dyn ObjectStore> {
        Arc::clone(&self.store)
    }

    /// Runs a future on the store's runtime and waits for it. Callable from any thread,
    /// including rayon workers: the runtime's own workers run the I/O, this thread just waits.
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.runtime.handle().block_on(f)
    }

    fn failed(&self, op: &'static str, path: &str, source: object_store::Error) -> Error {
        Error::Store(ctlake_store::Error::Store {
            op,
            location: self.location.url_of(path),
            cause: source,
        })
    }

    /// Writes an object atomically (readers see all of it or none of it).
    pub fn put(&self, path: &str, bytes: Bytes) -> Result<()> {
        let location = ObjectPath::from(path);
        self.block_on(self.store.put(&location, PutPayload::from(bytes)))
            .map_err(|e| self.failed("write", path, e))?;
        Ok(())
    }

    /// Writes an object only if it does not exist yet; `false` if it did.
    pub fn put_if_absent(&self, path: &str, bytes: Bytes) -> Result<bool> {
        let location = ObjectPath::from(path);
        let opts = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        match self.block_on(
            self.store
                .put_opts(&location, PutPayload::from(bytes), opts),
        ) {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(self.failed("write", path, e)),
        }
    }

    /// Reads a whole object; `None` if it does not exist.
    pub fn get(&self, path: &str) -> Result<Option<Bytes>> {
        let location = ObjectPath::from(path);
        self.block_on(async {
            match self.store.get(&location).await {
                Ok(r) => r.bytes().await.map(Some),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        })
        .map_err(|e| self.failed("read", path, e))
    }

    /// Lists every object under a prefix (recursively), in name order.
    pub fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>> {
        let location = ObjectPath::from(prefix);
        let mut objects: Vec<ObjectMeta> = self
            .block_on(self.store.list(Some(&location)).try_collect())
            .map_err(|e| self.failed("list", prefix, e))?;
        objects.sort_by(|a, b| a.location.cmp(&b.location));
        Ok(objects)
    }

    /// Moves an object (atomically on a local filesystem); a move to itself does nothing.
    pub fn rename(&self, from: &str, to: &str) -> Result<()> {
        if from == to {
            return Ok(());
        }
        let (f, t) = (ObjectPath::from(from), ObjectPath::from(to));
        self.block_on(self.store.rename(&f, &t))
            .map_err(|e| self.failed("move", from, e))?;
        Ok(())
    }

    /// Deletes an object; a missing object is not an error.
    pub fn delete(&self, path: &str) -> Result<()> {
        let location = ObjectPath::from(path);
        match self.block_on(self.store.delete(&location)) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.failed("delete", path, e)),
        }
    }

    /// Removes what is left of a folder once its objects are gone (a local filesystem keeps
    /// empty directories after moves; object stores have none).
    pub fn remove_empty_tree(&self, prefix: &str) {
        if let Some(root) = &self.local_root {
            let dir = root.join(prefix);
            if walkdir::WalkDir::new(&dir)
                .into_iter()
                .flatten()
                .all(|e| e.file_type().is_dir())
            {
                let _ = std::fs::remove_dir_all(&dir);
            }
        }
    }

    /// True if the object exists.
    pub fn exists(&self, path: &str) -> Result<bool> {
        let location = ObjectPath::from(path);
        match self.block_on(self.store.head(&location)) {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.failed("read", path, e)),
        }
    }
}
