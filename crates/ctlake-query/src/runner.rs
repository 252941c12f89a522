//! Where a lake's planned queries run. By default in this process; a [`Runner`] sends the
//! physical plan elsewhere (a Ballista cluster, `ctlake-cluster`) and streams the result back.
//!
//! The plan is made here either way, by the same session: the dialect, the functions, pruning
//! by `eventtime` and `region` against the commit log's file list, the flat copies. A runner
//! only moves a finished plan, so a query means the same on a cluster as on one machine, and
//! this crate does not depend on any cluster's code.

use std::sync::Arc;

use async_trait::async_trait;
use ctlake_store::Location;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionConfig;

use crate::Result;

/// The lake a plan reads: its scans name `url` as their object store, which a runner's
/// workers map to `location`.
#[derive(Debug, Clone)]
pub struct LakeStore {
    /// The object store URL the plan's scans use (`ctlake://<event data store id>/`).
    pub url: String,
    /// Where the lake is: an absolute folder, or `s3://bucket/prefix`.
    pub location: Location,
}

/// Runs physical plans somewhere other than this process.
#[async_trait]
pub trait Runner: Send + Sync + std::fmt::Debug {
    /// Where the plans run, for messages: `df://host:port`.
    fn name(&self) -> String;

    /// The session settings queries are planned with when they run here (the number of
    /// partitions a scan is split into, settings the workers cannot honour).
    fn configure(&self, config: SessionConfig) -> SessionConfig;

    /// Runs `plan`, made with `config`, over `lake`, and streams its result. Fails, saying
    /// why, when the plan cannot run there: never runs it locally instead.
    async fn execute(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        config: &SessionConfig,
        lake: &LakeStore,
    ) -> Result<SendableRecordBatchStream>;
}
