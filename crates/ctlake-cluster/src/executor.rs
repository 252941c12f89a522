//! `ctlake cluster executor`: Ballista's executor with ctlake's functions and the lakes'
//! object stores (see [`crate::stores`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::SessionConfig;

use crate::Result;
use crate::stores::Stores;

/// How an executor runs.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// The scheduler: `host:port`.
    pub scheduler: String,
    /// Where it serves shuffle data and results (Arrow Flight).
    pub bind: SocketAddr,
    /// Where it takes tasks from the scheduler (gRPC).
    pub grpc_bind: SocketAddr,
    /// The host the scheduler, other executors and clients reach it by, when not `bind`'s.
    pub external_host: Option<String>,
    /// Where shuffle files and spills go (a temporary folder when `None`).
    pub work_dir: Option<PathBuf>,
    /// Tasks it runs at once (all cores when 0).
    pub concurrent_tasks: usize,
    /// How often it tells the scheduler it is alive.
    pub heartbeat: Duration,
}

/// Runs an executor until the process is stopped (SIGTERM and Ctrl-C stop it gracefully:
/// it tells the scheduler it is leaving).
pub async fn run(options: &ExecutorOptions) -> Result<()> {
    let (scheduler_host, scheduler_port) = split_host_port(&options.scheduler)?;
    let work_dir = match &options.work_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            dir.clone()
        }
        None => std::env::temp_dir().join(format!("ctlake-executor-{}", std::process::id())),
    };
    std::fs::create_dir_all(&work_dir)?;
    let stores = Stores::default();
    let spill_dir = work_dir.clone();
    let config = ExecutorProcessConfig {
        bind_host: options.bind.ip().to_string(),
        port: options.bind.port(),
        grpc_port: options.grpc_bind.port(),
        external_host: options.external_host.clone(),
        scheduler_host,
        scheduler_port,
        // Keep trying while the scheduler starts.
        scheduler_connect_timeout_seconds: 30,
        vcores: options.concurrent_tasks,
        work_dir: Some(work_dir.to_string_lossy().into_owned()),
        executor_heartbeat_interval_seconds: options.heartbeat.as_secs().max(1),
        override_function_registry: Some(crate::functions::registry()?),
        override_config_producer: Some(Arc::new(crate::settings::config)),
        override_runtime_producer: Some(Arc::new(move |config: &SessionConfig| {
            let runtime = RuntimeEnvBuilder::new()
                .with_temp_file_path(&spill_dir)
                .build()?;
            stores.register(config, &runtime)?;
            Ok(Arc::new(runtime))
        })),
        ..Default::default()
    };
    start_executor_process(Arc::new(config)).await?;
    Ok(())
}

/// `host:port` into its parts.
pub(crate) fn split_host_port(text: &str) -> Result<(String, u16)> {
    let bad = |message: &str| crate::Error::Address {
        what: text.to_string(),
        message: message.to_string(),
    };
    let (host, port) = text
        .rsplit_once(':')
        .ok_or_else(|| bad("expected HOST:PORT"))?;
    let port = port
        .parse()
        .map_err(|_| bad("the port is not a number from 1 to 65535"))?;
    if host.is_empty() {
        return Err(bad("expected HOST:PORT"));
    }
    Ok((host.trim_matches(['[', ']']).to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduler_addresses() {
        assert_eq!(
            split_host_port("10.0.0.5:50050").ok(),
            Some(("10.0.0.5".to_string(), 50050))
        );
        assert_eq!(
            split_host_port("scheduler.internal:7000").ok(),
            Some(("scheduler.internal".to_string(), 7000))
        );
        assert_eq!(
            split_host_port("[::1]:7000").ok(),
            Some(("::1".to_string(), 7000))
        );
        for bad in ["scheduler", ":7000", "host:port", "host:70000"] {
            assert!(split_host_port(bad).is_err(), "{bad}");
        }
    }
}
