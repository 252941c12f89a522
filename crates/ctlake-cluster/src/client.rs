//! The client side: a [`Cluster`] is a `ctlake_query::Runner`, so a lake opened with one
//! (`ctlake query --cluster df://host:port`, the shell's `\connect`) sends every planned
//! query to the cluster's scheduler and streams the result back from the executors.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use ballista_core::execution_plans::execute_physical_plan;
use ballista_core::extension::SessionConfigExt;
use ctlake_query::{LakeStore, Runner};
use datafusion::error::DataFusionError;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::prelude::SessionConfig;
use datafusion_proto::protobuf::PhysicalPlanNode;
use futures::TryStreamExt;

use crate::settings::CtlakeSettings;
use crate::{Error, Result};

/// The scheme of a cluster's URL, as Ballista's clients write it.
pub const SCHEME: &str = "df://";

/// Partitions a scan is split into on a cluster unless told (Ballista's default): the unit
/// of work an executor takes.
pub const DEFAULT_PARTITIONS: usize = 16;

/// A Ballista cluster, reached through its scheduler.
#[derive(Debug)]
pub struct Cluster {
    url: String,
    scheduler: String,
    session: String,
    partitions: usize,
}

impl Cluster {
    /// The cluster whose scheduler is at `df://HOST:PORT` (nothing is contacted yet).
    pub fn new(url: &str) -> Result<Self> {
        let address = url.strip_prefix(SCHEME).ok_or_else(|| Error::Address {
            what: url.to_string(),
            message: "expected df://HOST:PORT (the scheduler's address)".to_string(),
        })?;
        let (host, port) = crate::executor::split_host_port(address.trim_end_matches('/'))?;
        let host = match host.contains(':') {
            true => format!("[{host}]"),
            false => host,
        };
        Ok(Self {
            url: format!("{SCHEME}{host}:{port}"),
            scheduler: format!("http://{host}:{port}"),
            // One session per client: the executors keep its stores and footer cache between
            // this client's queries.
            session: format!("ctlake-{}", uuid::Uuid::new_v4()),
            partitions: DEFAULT_PARTITIONS,
        })
    }

    /// Splits scans into `partitions` tasks (at least 1).
    pub fn with_partitions(mut self, partitions: usize) -> Self {
        self.partitions = partitions.max(1);
        self
    }

    /// The cluster's URL: `df://host:port`.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn error(&self, message: String) -> ctlake_query::Error {
        ctlake_query::Error::Cluster {
            cluster: self.url.clone(),
            message,
        }
    }
}

#[async_trait]
impl Runner for Cluster {
    fn name(&self) -> String {
        self.url.clone()
    }

    fn configure(&self, config: SessionConfig) -> SessionConfig {
        config
            .upgrade_for_ballista()
            .with_target_partitions(self.partitions)
    }

    async fn execute(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        config: &SessionConfig,
        lake: &LakeStore,
    ) -> ctlake_query::Result<SendableRecordBatchStream> {
        let lakes = BTreeMap::from([(lake.url.clone(), lake.location.to_string())]);
        let config = config
            .clone()
            .with_option_extension(CtlakeSettings::with_lakes(&lakes));
        let codec = config.ballista_physical_extension_codec();
        let schema = plan.schema();
        let stream = execute_physical_plan::<PhysicalPlanNode>(
            self.scheduler.clone(),
            &config.ballista_config(),
            plan,
            codec.as_ref(),
            self.session.clone(),
            config,
        )
        .await
        .map_err(|e| self.error(explain(&e)))?;
        let url = self.url.clone();
        let stream = stream.map_err(move |e| {
            DataFusionError::Execution(format!("cluster {url}: {}", explain(&e)))
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }
}

/// Ballista's message without the layers of debug formatting it wraps gRPC errors in, and
/// what to do about the common ones.
fn explain(e: &DataFusionError) -> String {
    let text = e.find_root().strip_backtrace();
    let mut text = status_message(&text).unwrap_or(text);
    for prefix in [
        "Execution error: ",
        "Could not parse plan: ",
        "DataFusion error: ",
        "Failed to create SessionContext: ",
    ] {
        while let Some(rest) = text.strip_prefix(prefix) {
            text = rest.to_string();
        }
    }
    // An error the scheduler's session set-up gave, printed with `{:?}`.
    if let Some(inner) = text
        .strip_prefix("DataFusionError(Execution(\"")
        .and_then(|t| t.strip_suffix("\"))"))
    {
        text = inner.replace("\\\"", "\"");
    }
    // DataFusion's "likely a bug" footer is not what a cluster user needs to read.
    if let Some(at) = text.find("\nThis issue was likely caused by a bug") {
        text.truncate(at);
    }
    if let Some(node) = text
        .split("Unsupported plan node, name: [")
        .nth(1)
        .and_then(|rest| rest.split(']').next())
    {
        return format!(
            "cannot run this statement: its plan holds a {node}, which Ballista cannot send to \
             a cluster (catalog statements such as SHOW TABLES read the client's session: run \
             them without --cluster)"
        );
    }
    if text.contains("tcp connect error") || text.contains("Connection refused") {
        let why = match text.contains("Connection refused") {
            true => "connection refused",
            false => text.lines().next().unwrap_or_default(),
        };
        return format!(
            "cannot reach the scheduler (is `ctlake cluster scheduler` running there?): {why}"
        );
    }
    text.trim().to_string()
}

/// The message of a tonic `Status { code: .., message: "..", .. }` printed with `{:?}`.
fn status_message(text: &str) -> Option<String> {
    let start = text.find("message: \"")? + "message: \"".len();
    let rest = &text[start..];
    let end = rest
        .find("\", metadata:")
        .or_else(|| rest.find("\", source:"))?;
    Some(rest[..end].replace("\\n", "\n").replace("\\\"", "\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_errors_read_as_their_message() {
        let e = DataFusionError::Execution(
            "Status { code: InvalidArgument, message: \"Could not parse plan: DataFusion error: \
             Internal error: no store.\\nThis issue was likely caused by a bug in DataFusion's \
             code.\", metadata: MetadataMap { headers: {} }, source: None }"
                .to_string(),
        );
        assert_eq!(explain(&e), "Internal error: no store.");
        let e = DataFusionError::Execution(
            "Status { code: Internal, message: \"Failed to create SessionContext: \
             DataFusionError(Execution(\\\"no executor has been alive\\\"))\", \
             metadata: MetadataMap { headers: {} }, source: None }"
                .to_string(),
        );
        assert_eq!(explain(&e), "no executor has been alive");
        let e = DataFusionError::Internal(
            "failed to serialize physical plan: Internal(\"Unsupported plan and extension codec \
             failed with [Internal error: Unsupported plan node, name: [StreamingTableExec] .]\")"
                .to_string(),
        );
        assert!(
            explain(&e)
                .starts_with("cannot run this statement: its plan holds a StreamingTableExec"),
            "{}",
            explain(&e)
        );
    }

    #[test]
    fn cluster_urls() {
        let c = Cluster::new("df://127.0.0.1:50050").expect("parses");
        assert_eq!(c.url(), "df://127.0.0.1:50050");
        assert_eq!(c.scheduler, "http://127.0.0.1:50050");
        let c = Cluster::new("df://[::1]:7000/").expect("parses");
        assert_eq!(c.scheduler, "http://[::1]:7000");
        for bad in ["127.0.0.1:50050", "http://h:1", "df://host", "df://:5"] {
            assert!(Cluster::new(bad).is_err(), "{bad}");
        }
    }
}
