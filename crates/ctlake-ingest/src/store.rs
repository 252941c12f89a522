//! A lake's storage: an object store rooted at the lake, driven synchronously.
//!
//! Every byte of the lake is written through `object_store`, so nothing above this module
//! assumes a local path and an S3 lake needs only another store here. The async API is driven
//! by a small private runtime: ingestion is CPU-bound and its threads are plain threads.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

use crate::{Error, Result};

/// Synchronous access to the objects of one lake.
pub struct LakeStore {
    store: Arc<dyn ObjectStore>,
    runtime: tokio::runtime::Runtime,
    location: String,
    local_root: Option<PathBuf>,
}

impl LakeStore {
    /// Opens the lake at a local folder, creating the folder when `create` is set.
    pub fn local(root: &Path, create: bool) -> Result<Self> {
        if create {
            std::fs::create_dir_all(root).map_err(|e| Error::io(root.display(), e))?;
        }
        let location = root.display().to_string();
        let root = root.canonicalize().map_err(|e| Error::Lake {
            location: location.clone(),
            message: e.to_string(),
        })?;
        if !root.is_dir() {
            return Err(Error::Lake {
                location,
                message: "not a folder".into(),
            });
        }
        let store = LocalFileSystem::new_with_prefix(&root)?.with_automatic_cleanup(true);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("ctlake-io")
            .enable_all()
            .build()
            .map_err(|e| Error::io("tokio runtime", e))?;
        Ok(Self {
            store: Arc::new(store),
            runtime,
            location,
            local_root: Some(root),
        })
    }

    /// The lake location as the user gave it.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The lake's folder, for a local lake.
    pub fn local_root(&self) -> Option<&Path> {
        self.local_root.as_deref()
    }

    /// The underlying object store (rooted at the lake).
    pub fn object_store(&self) -> Arc<dyn ObjectStore> {
        Arc::clone(&self.store)
    }

    fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        // Callable from any thread, including rayon workers: the runtime's own workers run
        // the IO, this thread just waits.
        self.runtime.handle().block_on(f)
    }

    /// Writes an object atomically (readers see all of it or none of it).
    pub fn put(&self, path: &str, bytes: Bytes) -> Result<()> {
        let path = ObjectPath::from(path);
        self.block_on(self.store.put(&path, PutPayload::from(bytes)))?;
        Ok(())
    }

    /// Writes an object only if it does not exist yet; `false` if it did.
    pub fn put_if_absent(&self, path: &str, bytes: Bytes) -> Result<bool> {
        let path = ObjectPath::from(path);
        let opts = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        match self.block_on(self.store.put_opts(&path, PutPayload::from(bytes), opts)) {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Reads a whole object; `None` if it does not exist.
    pub fn get(&self, path: &str) -> Result<Option<Bytes>> {
        let path = ObjectPath::from(path);
        let result = self.block_on(async {
            match self.store.get(&path).await {
                Ok(r) => r.bytes().await.map(Some),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        })?;
        Ok(result)
    }

    /// Lists every object under a prefix (recursively).
    pub fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>> {
        let prefix = ObjectPath::from(prefix);
        let mut objects: Vec<ObjectMeta> =
            self.block_on(self.store.list(Some(&prefix)).try_collect())?;
        objects.sort_by(|a, b| a.location.cmp(&b.location));
        Ok(objects)
    }

    /// Moves an object (atomically on a local filesystem).
    pub fn rename(&self, from: &str, to: &str) -> Result<()> {
        let (from, to) = (ObjectPath::from(from), ObjectPath::from(to));
        self.block_on(self.store.rename(&from, &to))?;
        Ok(())
    }

    /// Deletes an object; a missing object is not an error.
    pub fn delete(&self, path: &str) -> Result<()> {
        let path = ObjectPath::from(path);
        match self.block_on(self.store.delete(&path)) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
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
        let path = ObjectPath::from(path);
        match self.block_on(self.store.head(&path)) {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}
