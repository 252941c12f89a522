//! Parsing a location and opening its object store.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::prefix::PrefixStore;

use crate::{Error, Result, credentials};

/// Where a lake or a source lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A local folder.
    Local(PathBuf),
    /// A prefix in an S3 (or S3-compatible) bucket; `prefix` has no leading or trailing `/`.
    S3 {
        /// The bucket.
        bucket: String,
        /// The key prefix, possibly empty.
        prefix: String,
    },
}

impl Location {
    /// Parses what a user typed: `s3://bucket[/prefix]`, `file:///path`, or a path.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = |message: &str| Error::Location {
            location: text.to_string(),
            message: message.to_string(),
        };
        if let Some(rest) = text.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(bad("no bucket name (expected s3://bucket/prefix)"));
            }
            return Ok(Location::S3 {
                bucket: bucket.to_string(),
                prefix: prefix.trim_matches('/').to_string(),
            });
        }
        if let Some(path) = text.strip_prefix("file://") {
            return Ok(Location::Local(PathBuf::from(path)));
        }
        if let Some((scheme, _)) = text.split_once("://") {
            return Err(bad(&format!(
                "{scheme}:// is not supported (use a local folder or s3://bucket/prefix)"
            )));
        }
        Ok(Location::Local(PathBuf::from(text)))
    }

    /// True for a location on S3.
    pub fn is_remote(&self) -> bool {
        matches!(self, Location::S3 { .. })
    }

    /// The local folder, for a local location.
    pub fn local_path(&self) -> Option<&Path> {
        match self {
            Location::Local(p) => Some(p),
            Location::S3 { .. } => None,
        }
    }

    /// The URL of an object below this location, for messages.
    pub fn url_of(&self, key: &str) -> String {
        match self {
            Location::Local(p) => p.join(key).display().to_string(),
            Location::S3 { bucket, prefix } if prefix.is_empty() => format!("s3://{bucket}/{key}"),
            Location::S3 { bucket, prefix } => format!("s3://{bucket}/{prefix}/{key}"),
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Local(p) => write!(f, "{}", p.display()),
            Location::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            Location::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

/// An object store rooted at `location`: object paths are relative to the folder or prefix.
/// A local folder is created first when `create` is set.
pub fn open(location: &Location, create: bool) -> Result<Arc<dyn ObjectStore>> {
    match location {
        Location::Local(path) => {
            let bad = |message: String| Error::Location {
                location: path.display().to_string(),
                message,
            };
            if create {
                std::fs::create_dir_all(path).map_err(|e| bad(e.to_string()))?;
            }
            let root = path.canonicalize().map_err(|e| bad(e.to_string()))?;
            if !root.is_dir() {
                return Err(bad("not a folder".into()));
            }
            let store = LocalFileSystem::new_with_prefix(&root)
                .map_err(|source| Error::Store {
                    op: "open",
                    location: root.display().to_string(),
                    cause: source,
                })?
                .with_automatic_cleanup(true);
            Ok(Arc::new(store))
        }
        Location::S3 { bucket, prefix } => {
            let store = s3_bucket(bucket)?;
            if prefix.is_empty() {
                Ok(store)
            } else {
                Ok(Arc::new(PrefixStore::new(store, prefix.as_str())))
            }
        }
    }
}

/// The object store of a whole bucket (keys are full keys). Stores are shared per bucket, so
/// a run that reads a trail and writes a lake in one bucket keeps one connection pool.
pub fn s3_bucket(bucket: &str) -> Result<Arc<dyn ObjectStore>> {
    static STORES: OnceLock<Mutex<HashMap<String, Arc<dyn ObjectStore>>>> = OnceLock::new();
    let stores = STORES.get_or_init(Mutex::default);
    let mut stores = stores.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(store) = stores.get(bucket) {
        return Ok(Arc::clone(store));
    }
    let store: Arc<dyn ObjectStore> = Arc::new(credentials::build_s3(bucket)?);
    stores.insert(bucket.to_string(), Arc::clone(&store));
    Ok(store)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse() {
        assert_eq!(
            Location::parse("s3://trail/AWSLogs/").unwrap(),
            Location::S3 {
                bucket: "trail".into(),
                prefix: "AWSLogs".into()
            }
        );
        assert_eq!(
            Location::parse("s3://lake").unwrap(),
            Location::S3 {
                bucket: "lake".into(),
                prefix: String::new()
            }
        );
        assert_eq!(
            Location::parse("lake").unwrap(),
            Location::Local(PathBuf::from("lake"))
        );
        assert_eq!(
            Location::parse("file:///tmp/x").unwrap(),
            Location::Local(PathBuf::from("/tmp/x"))
        );
        assert!(Location::parse("s3:///x").is_err());
        let e = Location::parse("gs://b/x").unwrap_err().to_string();
        assert!(e.contains("gs:// is not supported"), "{e}");
        let l = Location::parse("s3://b/p/q/").unwrap();
        assert_eq!(l.to_string(), "s3://b/p/q");
        assert_eq!(
            l.url_of("_ctlake/lake.json"),
            "s3://b/p/q/_ctlake/lake.json"
        );
    }
}
