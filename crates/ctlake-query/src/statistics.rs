//! What a query read, per query: the counters each scan of the `cloudtrail` table leaves in
//! its plan's metrics (see [`crate::table`]), summed over the plan once it has run. They live
//! on the plan, not on the lake, so two queries running at once never mix their figures.

use std::fmt;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::metrics::MetricValue;
use futures::StreamExt;

use crate::Result;
use crate::table::metric;

/// Files, bytes and rows of the lake a query's scans opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanStatistics {
    /// Data files in the table the query ran over.
    pub files_total: u64,
    /// Data files its scans opened (a self-join's scans add up).
    pub files_scanned: u64,
    /// Their bytes.
    pub bytes_scanned: u64,
    /// Rows in them: CloudTrail Lake's `EventsScanned`.
    pub rows_scanned: u64,
    /// Partitions (region and date) the opened files belong to, per scan.
    pub partitions_scanned: u64,
    /// Of the files scanned, those skipped unread as the query ran: a top-n by time had
    /// its rows, and their time range could not beat them (counted as DataFusion's file
    /// ranges, one per file unless it split a large file to share it between cores). The
    /// figures above count them; they are known only at planning.
    pub files_skipped: u64,
    /// The query ran on a cluster: its scans' counters stay on the executors, and only
    /// `files_total` is known here.
    pub remote: bool,
}

impl ScanStatistics {
    /// Sums the table's scan counters over `plan`; `files_total` is the table's size.
    pub fn of(plan: &dyn ExecutionPlan, files_total: u64) -> Self {
        let mut s = Self {
            files_total,
            ..Self::default()
        };
        add(plan, &mut s);
        s
    }

    /// A hint for a query that read the whole of a lake of at least `large_bytes` (and more
    /// than one file): bounding `eventtime` would have opened only the days in range.
    pub fn hint(&self, large_bytes: u64) -> Option<Hint> {
        (self.files_total > 1
            && self.files_scanned.saturating_sub(self.files_skipped) >= self.files_total
            && self.bytes_scanned >= large_bytes)
            .then_some(Hint::WholeLakeScan {
                files: self.files_total,
            })
    }
}

fn add(plan: &dyn ExecutionPlan, s: &mut ScanStatistics) {
    if let Some(metrics) = plan.metrics() {
        let get = |name| metrics.sum_by_name(name).map_or(0, |v| v.as_usize() as u64);
        s.files_scanned += get(metric::FILES);
        s.bytes_scanned += get(metric::BYTES);
        s.rows_scanned += get(metric::ROWS);
        s.partitions_scanned += get(metric::PARTITIONS);
        for m in metrics.iter() {
            if let MetricValue::PruningMetrics {
                name,
                pruning_metrics,
            } = m.value()
                && name == "files_ranges_pruned_statistics"
            {
                s.files_skipped += pruning_metrics.pruned() as u64;
            }
        }
    }
    for child in plan.children() {
        add(child.as_ref(), s);
    }
}

/// Advice about how a query ran, for the person who wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hint {
    /// The query opened every file of a large lake, `files` of them.
    WholeLakeScan {
        /// Files in the lake.
        files: u64,
    },
}

impl fmt::Display for Hint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WholeLakeScan { files } => write!(
                f,
                "hint: this query read all {files} files of the lake; bound eventtime \
                 (WHERE eventtime > now() - interval '7' day) to read only the days you need"
            ),
        }
    }
}

/// A running query: its batches as they come, and, once they have come, what it read.
pub struct Execution {
    pub(crate) plan: Arc<dyn ExecutionPlan>,
    pub(crate) stream: SendableRecordBatchStream,
    pub(crate) files_total: u64,
    /// The runner's name when the plan ran elsewhere (its scans' counters stay there).
    pub(crate) ran_on: Option<String>,
    /// The readers' lock, held while the query runs (see `Lake::execute`).
    pub(crate) _reader: Option<std::fs::File>,
    /// The first item of the stream, read ahead by `Lake::execute`.
    pub(crate) first: Option<Option<Result<RecordBatch>>>,
}

impl Execution {
    /// The result's schema.
    pub fn schema(&self) -> SchemaRef {
        self.stream.schema()
    }

    /// The next batch of the result, `None` at its end.
    pub async fn next(&mut self) -> Option<Result<RecordBatch>> {
        if let Some(first) = self.first.take() {
            return first;
        }
        self.stream.next().await.map(|b| b.map_err(Into::into))
    }

    /// Where the query ran: `None` in this process, else the runner's name
    /// (`df://host:port`). The scan counters of [`Execution::statistics`] are this process's
    /// only: a query that ran elsewhere reports the table's size and nothing scanned.
    pub fn ran_on(&self) -> Option<&str> {
        self.ran_on.as_deref()
    }

    /// What the query's scans read (complete once the stream has ended).
    pub fn statistics(&self) -> ScanStatistics {
        let mut s = ScanStatistics::of(self.plan.as_ref(), self.files_total);
        s.remote = self.ran_on.is_some();
        s
    }

    /// Reads the rest of the result.
    pub async fn collect(mut self) -> Result<QueryResult> {
        let mut batches = Vec::new();
        while let Some(b) = self.next().await {
            batches.push(b?);
        }
        Ok(QueryResult {
            statistics: self.statistics(),
            batches,
        })
    }
}

/// A whole result with what producing it read.
#[derive(Debug, Clone)]
pub struct QueryResult {
    /// The rows.
    pub batches: Vec<RecordBatch>,
    /// What the query's scans read.
    pub statistics: ScanStatistics,
}
