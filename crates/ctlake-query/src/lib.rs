//! Opens a ctlake lake as a DataFusion session: the library API of ctlake.
//!
//! [`Lake::open`] reads the lake's commit log and registers the table `cloudtrail` (also under
//! the lake's event data store ID, so `FROM "<id>"` works as in CloudTrail Lake): the table
//! schema from `ctlake-schema`, with the partition columns `region` (string) and `date` (date),
//! over exactly the committed data files. Queries return Arrow record batches, whole or as a
//! stream.
//!
//! ```no_run
//! # async fn example() -> ctlake_query::Result<()> {
//! let lake = ctlake_query::Lake::open("lake").await?;
//! let batches = lake
//!     .query("SELECT eventname, count(*) AS n FROM cloudtrail GROUP BY eventname ORDER BY n DESC LIMIT 5")
//!     .await?;
//! println!("{}", arrow::util::pretty::pretty_format_batches(&batches).unwrap());
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

mod error;
pub mod table;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use ctlake_ingest::manifest::{Commit, LakeInfo, Snapshot};
use ctlake_schema::layout;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::prelude::{DataFrame, SessionConfig, SessionContext};
use futures::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};

pub use error::{Error, Result};
pub use table::{LakeTable, ScanStats};

/// The table name every lake has.
pub const TABLE: &str = "cloudtrail";

/// An opened lake: a DataFusion session with the `cloudtrail` table.
pub struct Lake {
    ctx: SessionContext,
    info: LakeInfo,
    root: PathBuf,
    stats: Arc<ScanStats>,
    snapshot: Snapshot,
}

impl Lake {
    /// Opens the lake in a local folder.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let not_a_lake = |message: &str| Error::Lake {
            location: path.display().to_string(),
            message: message.to_string(),
        };
        let root = path
            .canonicalize()
            .map_err(|e| not_a_lake(&format!("{e} (run `ctlake ingest` first)")))?;
        if !root.join(layout::LAKE_FILE).is_file() {
            return Err(not_a_lake("no lake here (run `ctlake ingest` first)"));
        }
        let store: Arc<dyn ObjectStore> = Arc::new(LocalFileSystem::new_with_prefix(&root)?);
        let info: LakeInfo = read_json(store.as_ref(), layout::LAKE_FILE).await?;
        let snapshot = load_snapshot(store.as_ref()).await?;

        let config = SessionConfig::new()
            .with_information_schema(true)
            .with_default_catalog_and_schema("ctlake", "default");
        let ctx = SessionContext::new_with_config(config);
        // One store per lake, named by the lake's id, so several lakes can share a session.
        let url = format!("ctlake://{}/", info.id);
        let store_url = url::Url::parse(&url).map_err(|e| not_a_lake(&e.to_string()))?;
        ctx.register_object_store(&store_url, Arc::clone(&store));
        let files = snapshot.files.values().cloned().collect();
        let table = Arc::new(LakeTable::new(ObjectStoreUrl::parse(&url)?, files));
        let stats = table.stats();
        ctx.register_table(TABLE, table.clone())?;
        ctx.register_table(format!("\"{}\"", info.id).as_str(), table)?;
        Ok(Self {
            ctx,
            info,
            root,
            stats,
            snapshot,
        })
    }

    /// The lake's event data store ID.
    pub fn id(&self) -> &str {
        &self.info.id
    }

    /// The lake's folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The DataFusion session, for anything this API does not cover.
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// The table state the lake was opened at.
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// What the last scan of the table read.
    pub fn scan_stats(&self) -> &ScanStats {
        &self.stats
    }

    /// Plans a query.
    pub async fn sql(&self, sql: &str) -> Result<DataFrame> {
        Ok(self.ctx.sql(sql).await?)
    }

    /// Runs a query and collects its result.
    pub async fn query(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        Ok(self.sql(sql).await?.collect().await?)
    }
}

async fn read_json<T: serde::de::DeserializeOwned>(
    store: &dyn ObjectStore,
    path: &str,
) -> Result<T> {
    let bytes = store.get(&ObjectPath::from(path)).await?.bytes().await?;
    serde_json::from_slice(&bytes).map_err(|source| Error::Metadata {
        path: path.to_string(),
        source,
    })
}

/// Replays the commit log.
async fn load_snapshot(store: &dyn ObjectStore) -> Result<Snapshot> {
    let mut entries: Vec<_> = store
        .list(Some(&ObjectPath::from(layout::LOG_DIR)))
        .try_collect()
        .await?;
    entries.sort_by(|a, b| a.location.cmp(&b.location));
    let mut snapshot = Snapshot::default();
    for meta in entries {
        let path = meta.location.to_string();
        if layout::log_entry_seq(&path).is_none() {
            continue;
        }
        let commit: Commit = read_json(store, &path).await?;
        snapshot.apply(&commit);
    }
    Ok(snapshot)
}
