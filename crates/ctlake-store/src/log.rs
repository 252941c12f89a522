//! Reading a lake's identity and commit log through its object store.
//!
//! Entries are fetched concurrently (a long log on S3 is many small GETs) and replayed by
//! [`ctlake_log::Snapshot::replay`], the one replay the writer and every reader share.

use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};

use ctlake_log::{LakeInfo, Snapshot};
use ctlake_schema::layout;

use crate::{Error, Result};

/// Log entries fetched at once.
const CONCURRENT_GETS: usize = 32;

/// The object at `path`, or `None` when there is none.
async fn get(store: &dyn ObjectStore, path: &str) -> Result<Option<bytes::Bytes>> {
    let got = match store.get(&ObjectPath::from(path)).await {
        Ok(r) => r.bytes().await,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => Err(e),
    };
    got.map(Some).map_err(|source| Error::Store {
        op: "read",
        location: path.into(),
        cause: source,
    })
}

/// The lake's identity, or `None` where there is no lake.
pub async fn read_info(store: &dyn ObjectStore) -> Result<Option<LakeInfo>> {
    let Some(bytes) = get(store, layout::LAKE_FILE).await? else {
        return Ok(None);
    };
    Ok(Some(LakeInfo::parse(layout::LAKE_FILE, &bytes)?))
}

/// Replays the whole commit log.
pub async fn read_snapshot(store: &dyn ObjectStore) -> Result<Snapshot> {
    let prefix = ObjectPath::from(layout::LOG_DIR);
    let listed: Vec<_> = store
        .list(Some(&prefix))
        .try_collect()
        .await
        .map_err(|source| Error::Store {
            op: "list",
            location: layout::LOG_DIR.into(),
            cause: source,
        })?;
    let entries: Vec<(String, bytes::Bytes)> = futures::stream::iter(
        listed
            .into_iter()
            .map(|m| m.location.to_string())
            .filter(|p| layout::log_entry_seq(p).is_some()),
    )
    .map(|path| async move {
        // Listed a moment ago: gone now means the log changed under the reader.
        let bytes = get(store, &path).await?.ok_or_else(|| Error::Store {
            op: "read",
            location: path.clone(),
            cause: object_store::Error::NotFound {
                path: path.clone(),
                source: "log entry removed while the log was read".into(),
            },
        })?;
        Ok::<_, Error>((path, bytes))
    })
    .buffer_unordered(CONCURRENT_GETS)
    .try_collect()
    .await?;
    Ok(Snapshot::replay(entries)?)
}

/// The log entries committed after entry `seq`, in order, as `(path, bytes)` (usually none:
/// one GET that finds nothing). A reader calls it before each query, so a long-lived session
/// (the shell) answers from the lake as it is now and never plans with files a later commit
/// replaced.
pub async fn entries_after(
    store: &dyn ObjectStore,
    seq: u64,
) -> Result<Vec<(String, bytes::Bytes)>> {
    let mut entries = Vec::new();
    loop {
        let path = layout::log_entry_path(seq + 1 + entries.len() as u64);
        match get(store, &path).await? {
            Some(bytes) => entries.push((path, bytes)),
            None => return Ok(entries),
        }
    }
}

/// What to say when a lake's identity file is missing: "no lake here", unless the log is
/// there (the identity was deleted; creating a new one would give the lake another event data
/// store ID).
pub async fn missing_identity(store: &dyn ObjectStore) -> String {
    let prefix = ObjectPath::from(layout::LOG_DIR);
    let entries: Vec<_> = store
        .list(Some(&prefix))
        .try_collect()
        .await
        .unwrap_or_default();
    let commits = entries
        .iter()
        .filter(|m| layout::log_entry_seq(m.location.as_ref()).is_some())
        .count();
    if commits == 0 {
        "no lake here (run `ctlake ingest` first)".to_string()
    } else {
        format!(
            "{} is missing but the commit log holds {commits} entries: the lake's identity was \
             deleted; restore it from a backup (ctlake will not mint a new event data store ID \
             for an existing lake)",
            layout::LAKE_FILE
        )
    }
}
