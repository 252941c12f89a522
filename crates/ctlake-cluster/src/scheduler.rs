//! `ctlake cluster scheduler`: Ballista's scheduler with ctlake's functions and the lakes'
//! stores, so it can decode the plans ctlake clients submit and split them into stages.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ballista_core::serde::protobuf::executor_status;
use ballista_scheduler::cluster::{BallistaCluster, ClusterState};
use ballista_scheduler::config::SchedulerConfig;
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionConfig;

use crate::Result;

/// How a scheduler runs.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// Where it listens for clients and executors.
    pub bind: SocketAddr,
    /// The host executors and clients reach it by, when not `bind`'s (behind NAT, in a
    /// container).
    pub external_host: Option<String>,
    /// An executor silent this long is taken out of the cluster, and a query with no
    /// executor left this long after the last one went fails.
    pub executor_timeout: Duration,
}

/// Runs a scheduler until the process is stopped.
pub async fn run(options: &SchedulerOptions) -> Result<()> {
    let seconds = options.executor_timeout.as_secs().max(1);
    let stores = crate::stores::Stores::default();
    // Set once the cluster exists, which needs the config that holds this closure.
    let executors: Arc<OnceLock<Arc<dyn ClusterState>>> = Arc::default();
    let known = Arc::clone(&executors);
    let config = SchedulerConfig {
        bind_host: options.bind.ip().to_string(),
        bind_port: options.bind.port(),
        external_host: options
            .external_host
            .clone()
            .unwrap_or_else(|| options.bind.ip().to_string()),
        executor_timeout_seconds: seconds,
        no_executors_grace_period_seconds: seconds,
        // Checked often enough to notice a dead executor within the timeout.
        expire_dead_executor_interval_seconds: (seconds / 2).clamp(1, 15),
        override_config_producer: Some(Arc::new(crate::settings::config)),
        override_session_builder: Some(Arc::new(move |config: SessionConfig| {
            // A query with no executor to run it would wait in the queue until one joins
            // (Ballista's rule, for clusters that scale from zero): refuse it instead.
            if reads_a_lake(&config)
                && let Some(cluster) = known.get()
                && alive(cluster.as_ref(), seconds) == 0
            {
                return Err(DataFusionError::Execution(format!(
                    "no executor has been alive in the last {seconds} s: start one with \
                     `ctlake cluster executor --scheduler HOST:PORT`"
                )));
            }
            let state = crate::functions::session_state(config)?;
            stores.register(state.config(), state.runtime_env())?;
            Ok(state)
        })),
        ..Default::default()
    };
    let cluster = BallistaCluster::new_from_config(&config).await?;
    let _ = executors.set(cluster.cluster_state());
    ballista_scheduler::scheduler_process::start_server(cluster, options.bind, Arc::new(config))
        .await?;
    Ok(())
}

/// Whether a session is a ctlake query's (it names the lakes it reads).
fn reads_a_lake(config: &SessionConfig) -> bool {
    config
        .options()
        .extensions
        .get::<crate::settings::CtlakeSettings>()
        .is_some_and(|s| !s.lakes().is_empty())
}

/// Executors active and heard from in the last `seconds`, as Ballista counts them.
fn alive(cluster: &dyn ClusterState, seconds: u64) -> usize {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    cluster
        .executor_heartbeats()
        .values()
        .filter(|h| {
            matches!(
                h.status.as_ref().and_then(|s| s.status.as_ref()),
                Some(executor_status::Status::Active(_))
            ) && h.timestamp + seconds > now
        })
        .count()
}
