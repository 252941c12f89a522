//! Opens a ctlake lake as a DataFusion session: the library API of ctlake.
//!
//! [`Lake::open`] reads the lake's commit log and registers the table `cloudtrail` (also under
//! the lake's event data store ID, so `FROM "<id>"` works as in CloudTrail Lake): the table
//! schema from `ctlake-schema`, with the partition columns `region` (string) and `date` (date),
//! over exactly the committed data files. Queries return Arrow record batches, whole or as a
//! stream.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # // Build a lake from the bundled sample, as `ctlake ingest data` would.
//! # let dir = tempfile::tempdir()?;
//! # let path = dir.path().join("lake");
//! # let sample = format!("{}/../../data", env!("CARGO_MANIFEST_DIR"));
//! # let writer = ctlake_ingest::LakeWriter::create(&path)?;
//! # ctlake_ingest::ingest(&writer, &[sample], &Default::default(), &Default::default())?;
//! # drop(writer);
//! use arrow::array::AsArray;
//!
//! let runtime = tokio::runtime::Runtime::new()?;
//! runtime.block_on(async {
//!     let lake = ctlake_query::Lake::open(&path).await?;
//!     // CloudTrail Lake SQL: the event data store ID would do as well as `cloudtrail`.
//!     let batches = lake
//!         .query(
//!             "SELECT eventtime, principal_name(useridentity) AS who, sourceipaddress
//!              FROM cloudtrail WHERE eventname = 'StopLogging'",
//!         )
//!         .await?;
//!     println!("{}", arrow::util::pretty::pretty_format_batches(&batches)?);
//!     let who = batches[0].column_by_name("who").unwrap().as_string::<i32>();
//!     assert_eq!(who.value(0), "Admin");
//!     Ok::<_, Box<dyn std::error::Error>>(())
//! })?;
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

pub mod aws;
mod copies;
pub mod dialect;
pub mod display;
mod error;
mod footer;
mod functions;
pub mod insights;
pub mod lexer;
pub mod lookup;
pub mod report;
pub mod runner;
pub mod saved;
mod statistics;
pub mod suggest;
pub mod table;
pub mod timespec;

use std::ffi::OsStr;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use arrow::record_batch::RecordBatch;
use ctlake_log::{LakeInfo, LakeSummary, Snapshot};
use ctlake_schema::layout;
use ctlake_store::Location;
use datafusion::catalog::TableProvider;
use datafusion::execution::context::SQLOptions;
use datafusion::execution::memory_pool::{FairSpillPool, TrackConsumersPool};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::prelude::{DataFrame, SessionConfig, SessionContext};
use datafusion::sql::parser::Statement;
use object_store::ObjectStore;

pub use dialect::Translated;
pub use error::{Error, Result};
pub use runner::{LakeStore, Runner};
pub use statistics::{Execution, Hint, QueryResult, ScanStatistics};
pub use table::LakeTable;

/// The table name every lake has.
pub const TABLE: &str = "cloudtrail";

/// An opened lake: a DataFusion session with the `cloudtrail` table.
pub struct Lake {
    ctx: SessionContext,
    info: LakeInfo,
    location: Location,
    root: Option<PathBuf>,
    // The newest snapshot seen: `execute` catches it up with the log before each query.
    snapshot: RwLock<Arc<Snapshot>>,
    store: Arc<dyn ObjectStore>,
    table: Arc<LakeTable>,
    url: ObjectStoreUrl,
    // Set by `scope_to`: the table reads these files only, whatever the log adds.
    scoped: std::sync::atomic::AtomicBool,
    // Where plans run (`None`: here), and the session settings from before a runner's.
    runner: RwLock<Option<Arc<dyn Runner>>>,
    local_config: SessionConfig,
}

/// How a lake's query session is set up.
#[derive(Debug, Clone)]
pub struct Options {
    /// Bytes the session's operators may hold (sorts, aggregations, joins); beyond it they
    /// spill to temporary files where DataFusion can, and fail with a clear error where it
    /// cannot. `None`: no limit.
    pub memory_limit: Option<usize>,
    /// Where queries run: `None` here, or a cluster (see [`Lake::set_runner`]).
    pub runner: Option<Arc<dyn Runner>>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            memory_limit: Some(default_memory_limit()),
            runner: None,
        }
    }
}

/// Registers ctlake's functions (the Trino functions, ARN helpers, lambdas, and the output
/// guards of `repeat`, `lpad` and `rpad` at `memory_limit` bytes, 4 GiB without one) in
/// `ctx`: what a lake's session has, and what a process that runs its plans needs.
pub fn register_functions(ctx: &SessionContext, memory_limit: Option<usize>) {
    functions::register(ctx);
    // Scalar functions allocate outside the pool: the biggest ones are checked against
    // the same limit.
    functions::guard::register(ctx, memory_limit.unwrap_or(4 << 30));
}

/// Half the machine's memory (4 GiB when it cannot be read): a `GROUP BY eventid` over a
/// whole lake spills rather than take the machine down with it.
pub fn default_memory_limit() -> usize {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
        })
        .map_or(4 << 30, |kb| kb * 1024 / 2)
}

impl Lake {
    /// Opens the lake at a local folder or `s3://bucket/prefix` with the default [`Options`].
    pub async fn open(location: impl AsRef<OsStr>) -> Result<Self> {
        Self::open_with(location, &Options::default()).await
    }

    /// Opens the lake at a local folder or `s3://bucket/prefix`.
    pub async fn open_with(location: impl AsRef<OsStr>, options: &Options) -> Result<Self> {
        let location = Location::parse(&location.as_ref().to_string_lossy())?;
        let not_a_lake = |message: &str| Error::Lake {
            location: location.to_string(),
            message: message.to_string(),
        };
        let root = match &location {
            Location::Local(path) => {
                let root = path
                    .canonicalize()
                    .map_err(|e| not_a_lake(&format!("{e} (run `ctlake ingest` first)")))?;
                Some(root)
            }
            Location::S3 { .. } => None,
        };
        let store: Arc<dyn ObjectStore> = ctlake_store::open(&location, false)?;
        let info = match ctlake_store::log::read_info(store.as_ref()).await? {
            Some(info) => info,
            None => {
                return Err(not_a_lake(
                    &ctlake_store::log::missing_identity(store.as_ref()).await,
                ));
            }
        };
        let snapshot = ctlake_store::log::read_snapshot(store.as_ref()).await?;

        let mut config = SessionConfig::new()
            .with_information_schema(true)
            .with_default_catalog_and_schema("ctlake", "default");
        // Filters are applied while Parquet pages are decoded, not by a filter above the scan:
        // that filter gathers 8,192 matching rows before it passes any on, so for a rare
        // principal a top-n got its first rows, and could skip older files, only after most
        // files were read. Decoding only the matching rows of the other columns also helps
        // every selective query.
        config.options_mut().execution.parquet.pushdown_filters = true;
        let mut runtime = datafusion::execution::runtime_env::RuntimeEnvBuilder::new();
        if let Some(limit) = options.memory_limit {
            // A fair pool, not DataFusion's greedy default: under a greedy pool one partition's
            // aggregation can take the whole limit and another then fails outright, holding
            // nothing it could spill. A fair pool caps each spilling operator at its share, so
            // each spills its own state instead. The tracking wrapper names the top consumers
            // when an allocation fails.
            let pool = TrackConsumersPool::new(
                FairSpillPool::new(limit),
                NonZeroUsize::new(5).expect("non-zero"),
            );
            runtime = runtime.with_memory_pool(Arc::new(pool));
        }
        // Scans read the flat copies before DataFusion pushes sorts and dynamic filters into
        // them (it runs its dynamic filter pushdown last because a plan changed after it can
        // lose the filters): a scan rebuilt afterwards would drop the file order a top-n
        // pushed into it.
        let mut rules = datafusion::physical_optimizer::optimizer::PhysicalOptimizer::new().rules;
        let before_sort = rules
            .iter()
            .position(|r| r.name() == "PushdownSort")
            .unwrap_or(rules.len());
        rules.insert(before_sort, Arc::new(copies::ReadCopies));
        let state = datafusion::execution::SessionStateBuilder::new()
            .with_config(config.clone())
            .with_runtime_env(runtime.build_arc()?)
            .with_default_features()
            .with_physical_optimizer_rules(rules)
            .build();
        let ctx = SessionContext::new_with_state(state);
        register_functions(&ctx, options.memory_limit);
        // One store per lake, named by the lake's id, so several lakes can share a session.
        let url = format!("ctlake://{}/", info.id);
        let store_url = url::Url::parse(&url).map_err(|e| not_a_lake(&e.to_string()))?;
        ctx.register_object_store(&store_url, Arc::clone(&store) as Arc<dyn ObjectStore>);
        let files = snapshot.files.values().cloned().collect();
        let url = ObjectStoreUrl::parse(&url)?;
        let table = Arc::new(LakeTable::new(url.clone(), files).with_local_root(root.clone()));
        let lake = Self {
            ctx,
            info,
            location,
            root,
            snapshot: RwLock::new(Arc::new(snapshot)),
            store,
            table,
            url,
            scoped: std::sync::atomic::AtomicBool::new(false),
            runner: RwLock::new(None),
            local_config: config,
        };
        lake.set_runner(options.runner.clone());
        lake.register(lake.table.clone())?;
        lake.register_insights().await?;
        Ok(lake)
    }

    /// Runs later queries on `runner` (a cluster), planned with its settings, or here again
    /// with `None`. Planning stays here either way: see [`runner`].
    pub fn set_runner(&self, runner: Option<Arc<dyn Runner>>) {
        let config = match &runner {
            Some(r) => r.configure(self.local_config.clone()),
            None => self.local_config.clone(),
        };
        *self.ctx.state_ref().write().config_mut() = config;
        *self.runner.write().unwrap_or_else(|e| e.into_inner()) = runner;
    }

    /// Where queries run: `None` here, else the runner's name (`df://host:port`).
    pub fn runs_on(&self) -> Option<String> {
        self.runner().map(|r| r.name())
    }

    fn runner(&self) -> Option<Arc<dyn Runner>> {
        self.runner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Registers `provider` as the table, under its name and the lake's event data store ID.
    fn register(&self, provider: Arc<dyn TableProvider>) -> Result<()> {
        for name in [TABLE.to_string(), format!("\"{}\"", self.info.id)] {
            self.ctx.deregister_table(name.as_str())?;
            self.ctx
                .register_table(name.as_str(), Arc::clone(&provider))?;
        }
        Ok(())
    }

    /// Bounds every later query's view of the table to `from <= eventtime < to` (either end
    /// open when `None`), as the shell's `\from` and `\to` do. The bound is a filter under
    /// the table name, so it prunes files and row groups like a `WHERE` on `eventtime`.
    pub fn set_window(
        &self,
        from: Option<chrono::NaiveDateTime>,
        to: Option<chrono::NaiveDateTime>,
    ) -> Result<()> {
        use datafusion::prelude::{col, lit};
        let micros = |t: chrono::NaiveDateTime| {
            lit(datafusion::common::ScalarValue::TimestampMicrosecond(
                Some(t.and_utc().timestamp_micros()),
                None,
            ))
        };
        let time = || col(ctlake_schema::schema::EVENT_TIME);
        let bounds: Vec<_> = [
            from.map(|f| time().gt_eq(micros(f))),
            to.map(|t| time().lt(micros(t))),
        ]
        .into_iter()
        .flatten()
        .collect();
        let provider: Arc<dyn TableProvider> =
            match datafusion::logical_expr::utils::conjunction(bounds) {
                None => self.table.clone(),
                Some(bound) => self
                    .ctx
                    .read_table(self.table.clone())?
                    .filter(bound)?
                    .into_view(),
            };
        self.register(provider)
    }

    /// Registers the `insights` table as the lake stores it (empty when none were computed).
    async fn register_insights(&self) -> Result<()> {
        let batches = insights::load(self.store.as_ref()).await?;
        let table = datafusion::datasource::MemTable::try_new(insights::schema(), vec![batches])?;
        self.ctx.deregister_table(insights::TABLE)?;
        self.ctx.register_table(insights::TABLE, Arc::new(table))?;
        Ok(())
    }

    /// Computes the insights that start in `[from, to)`, stores them in the lake's `insights`
    /// table (replacing that window's), and returns them with their delivered-shape records
    /// (a Start and an End each).
    ///
    /// With `go_on`, and when the last run ended at `from`, the baselines it kept are used and
    /// only the events from `from` on are read; otherwise the seven days before `from` too.
    pub async fn compute_insights(
        &self,
        from: chrono::NaiveDateTime,
        to: chrono::NaiveDateTime,
        params: &insights::Params,
        go_on: bool,
    ) -> Result<insights::Computed> {
        use chrono::{DurationRound, TimeDelta};
        // Whole minutes: the next run goes on from the minute this one ends at.
        let minute =
            |t: chrono::NaiveDateTime| t.duration_trunc(TimeDelta::minutes(1)).unwrap_or(t);
        let (from, to) = (minute(from), minute(to));
        let store = self.store.as_ref();
        let kept = if go_on && insights::analysed_to(store).await? == Some(from) {
            insights::load_baselines(store).await?
        } else {
            None
        };
        let went_on = kept.is_some();
        let (found, baselines) = insights::analyse(self, from, to, params, kept).await?;
        let records: Vec<serde_json::Value> =
            found.iter().flat_map(|i| i.records(params)).collect();
        insights::store(store, &records, from, to, &baselines).await?;
        self.register_insights().await?;
        Ok(insights::Computed {
            insights: found,
            records,
            from,
            to,
            went_on,
        })
    }

    /// The window `ctlake insights` analyses unless told: from a full baseline after the
    /// lake's first event (with `go_on`, from where the last run ended) to its newest event.
    /// `None` for an empty lake.
    pub async fn insight_window(
        &self,
        params: &insights::Params,
        go_on: bool,
    ) -> Result<Option<(chrono::NaiveDateTime, chrono::NaiveDateTime)>> {
        let at = |us: i64| chrono::DateTime::from_timestamp_micros(us).map(|t| t.naive_utc());
        let Some((first, newest)) = self
            .summary()
            .time_range
            .and_then(|(lo, hi)| Some((at(lo)?, at(hi)?)))
        else {
            return Ok(None);
        };
        let last = match go_on {
            true => insights::analysed_to(self.store.as_ref()).await?,
            false => None,
        };
        let from =
            last.unwrap_or(first + chrono::Duration::minutes(params.baseline + params.window));
        Ok(Some((from, newest)))
    }

    /// Adds delivered Insights records (the JSON of `CloudTrail-Insight/` files) to the
    /// `insights` table; records already there (by `eventID`) are not added twice.
    pub async fn add_insight_records(&self, records: &[serde_json::Value]) -> Result<usize> {
        let n = insights::append(self.store.as_ref(), records).await?;
        self.register_insights().await?;
        Ok(n)
    }

    /// Reads only `files` (data files of the log, e.g. those one commit added) until called
    /// with `None`, which goes back to the whole lake as the log has it: how `ctlake watch`
    /// runs its detections over the events a commit added, and only those.
    pub fn scope_to(&self, files: Option<Vec<ctlake_log::FileEntry>>) {
        use std::sync::atomic::Ordering;
        match files {
            Some(files) => {
                self.scoped.store(true, Ordering::Relaxed);
                self.table.set_files(files);
            }
            None => {
                self.scoped.store(false, Ordering::Relaxed);
                self.table
                    .set_files(self.snapshot().files.values().cloned().collect());
            }
        }
    }

    /// Up to `per_column` distinct keys of each map column (`requestparameters`,
    /// `useridentity.sessioncontext.attributes`, ...) among the first `rows` events that have
    /// one: what the shell completes after `element_at(requestparameters, '`. It reads through
    /// its own table and session, so it stays out of the user's catalog and can run beside a
    /// query.
    pub async fn map_key_sample(
        &self,
        rows: usize,
        per_column: usize,
    ) -> Result<std::collections::BTreeMap<String, Vec<String>>> {
        use arrow::array::AsArray;
        // A private session over the same store: the sample's table name stays out of the
        // user's catalog.
        let ctx = SessionContext::new_with_config_rt(SessionConfig::new(), self.ctx.runtime_env());
        let files = self.table.files().to_vec();
        let table = LakeTable::new(self.url.clone(), files).with_local_root(self.root.clone());
        ctx.register_table("sample", Arc::new(table))?;
        let mut out = std::collections::BTreeMap::new();
        for path in suggest::map_paths() {
            let mut parts = path.split('.');
            let mut column = parts.next().unwrap_or_default().to_string();
            for p in parts {
                column.push_str(&format!("['{p}']"));
            }
            let sql = format!(
                "SELECT DISTINCT k FROM (SELECT unnest(map_keys(m)) AS k FROM \
                 (SELECT {column} AS m FROM sample WHERE {column} IS NOT NULL LIMIT {rows})) \
                 ORDER BY k LIMIT {per_column}"
            );
            let mut keys = Vec::new();
            for batch in ctx.sql(&sql).await?.collect().await? {
                if let Some(k) = batch.column(0).as_string_opt::<i32>() {
                    keys.extend(k.iter().flatten().map(str::to_string));
                }
            }
            if !keys.is_empty() {
                out.insert(path, keys);
            }
        }
        Ok(out)
    }

    /// The lake's event data store ID.
    pub fn id(&self) -> &str {
        &self.info.id
    }

    /// The lake's folder, for a local lake.
    pub fn root(&self) -> Option<&Path> {
        self.root.as_deref()
    }

    /// Where the lake is, as given.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// What the lake held when it last caught up with its log (at open, and before each
    /// query: see [`Lake::refresh`]).
    pub fn summary(&self) -> LakeSummary {
        self.snapshot().summary(&self.info.id)
    }

    /// The DataFusion session, for anything this API does not cover.
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// The table state the lake last caught up with (at open, and before each query).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.snapshot.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Catches up with the commits made since the lake was opened or last refreshed (the
    /// table then scans their files); returns whether there were any. [`Lake::execute`] does
    /// this before each query.
    pub async fn refresh(&self) -> Result<bool> {
        let current = self.snapshot();
        let new = ctlake_store::log::entries_after(self.store.as_ref(), current.seq).await?;
        if new.is_empty() {
            return Ok(false);
        }
        let mut snap = (*current).clone();
        for (path, bytes) in &new {
            snap.apply_bytes(path, bytes)
                .map_err(ctlake_store::Error::from)?;
        }
        if !self.scoped.load(std::sync::atomic::Ordering::Relaxed) {
            self.table.set_files(snap.files.values().cloned().collect());
        }
        *self.snapshot.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(snap);
        Ok(true)
    }

    /// On a local lake, holds the readers' lock shared until the query ends, so a writer
    /// never deletes a file it reads (see [`layout::READERS_FILE`]). A lake on a read-only
    /// disk has no writers to fear: no lock then.
    fn read_lock(&self) -> Result<Option<std::fs::File>> {
        let Some(root) = &self.root else {
            return Ok(None);
        };
        let path = root.join(layout::READERS_FILE);
        let Ok(file) = ctlake_store::open_lock_file(&path) else {
            return Ok(None);
        };
        file.lock_shared().map_err(|e| Error::Lake {
            location: self.location.to_string(),
            message: format!("cannot lock {}: {e}", path.display()),
        })?;
        Ok(Some(file))
    }

    /// Translates CloudTrail Lake SQL (one or more statements) for this lake, refusing
    /// anything that is not a read. See [`dialect`].
    pub fn translate(&self, sql: &str) -> Result<Translated> {
        dialect::translate(sql, &self.info.id)
    }

    /// Plans one translated statement.
    pub async fn plan(&self, statement: Statement) -> Result<DataFrame> {
        let state = self.ctx.state();
        let plan = state
            .statement_to_plan(statement)
            .await
            .map_err(suggest::explain)?;
        // The dialect already refused writes; this is the second lock on the same door.
        SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false)
            .verify_plan(&plan)?;
        Ok(DataFrame::new(state, plan))
    }

    /// Plans one statement of CloudTrail Lake SQL. Notices (an event data store ID this lake
    /// does not know, ...) are dropped: [`Lake::translate`] and [`Lake::plan`] give them.
    pub async fn sql(&self, sql: &str) -> Result<DataFrame> {
        self.sql_noting(sql, &mut Vec::new()).await
    }

    /// [`Lake::sql`], adding the translation's notices to `notes`.
    async fn sql_noting(&self, sql: &str, notes: &mut Vec<String>) -> Result<DataFrame> {
        let Translated {
            mut statements,
            notices,
        } = self.translate(sql)?;
        if statements.len() != 1 {
            return Err(Error::Unsupported {
                what: format!(
                    "{} statements in one call; run them one at a time",
                    statements.len()
                ),
            });
        }
        notes.extend(notices);
        self.plan(statements.remove(0)).await
    }

    /// Plans a saved query with its parameters bound as typed values: `given` values are read
    /// by the parameter's type (never as SQL); the others take their defaults.
    pub async fn saved(
        &self,
        query: &saved::SavedQuery,
        given: &std::collections::BTreeMap<String, String>,
    ) -> Result<Planned> {
        let values = self.bound_values(query, given).await?;
        let mut notices = Vec::new();
        let frame = self
            .sql_noting(&query.sql, &mut notices)
            .await
            .map_err(|e| in_saved(e, &query.name))?;
        let frame = frame.with_param_values(values)?;
        Ok(Planned { frame, notices })
    }

    /// A saved query's parameter values: given ones read by type, defaults evaluated.
    async fn bound_values(
        &self,
        query: &saved::SavedQuery,
        given: &std::collections::BTreeMap<String, String>,
    ) -> Result<Vec<(String, datafusion::common::ScalarValue)>> {
        let (mut values, sql_defaults) = saved::bind(query, given)?;
        for (name, ty, expr) in sql_defaults {
            let cast = match ty {
                saved::ParamType::Timestamp => "TIMESTAMP",
                saved::ParamType::String => "VARCHAR",
                saved::ParamType::Integer => "BIGINT",
                saved::ParamType::Boolean => "BOOLEAN",
            };
            let bad = |message: String| Error::Saved {
                name: query.name.clone(),
                message: format!("default of {name} ({expr}): {message}"),
            };
            let batches = self
                .sql(&format!("SELECT CAST(({expr}) AS {cast})"))
                .await
                .map_err(|e| bad(e.to_string()))?
                .collect()
                .await
                .map_err(|e| bad(e.to_string()))?;
            let value = batches
                .first()
                .filter(|b| b.num_rows() == 1)
                .map(|b| datafusion::common::ScalarValue::try_from_array(b.column(0), 0))
                .transpose()?
                .ok_or_else(|| bad("no value".into()))?;
            values.insert(name, value);
        }
        Ok(values.into_iter().collect())
    }

    /// Plans a saved query as a detection: as [`Lake::saved`], with the matching event's
    /// identity added as the columns of [`dialect::IDENTITY`] (`_event_id`, `_event_time`,
    /// `_account`, `_region`, `_principal`, `_source_ip`, `_event_name`) where the query
    /// returns one row per event (a plain SELECT over the table). The bool says whether they
    /// were added; a query whose rows are groups keeps its own columns.
    pub async fn detection(
        &self,
        query: &saved::SavedQuery,
        given: &std::collections::BTreeMap<String, String>,
    ) -> Result<(Planned, bool)> {
        let values = self.bound_values(query, given).await?;
        let mut translated = self.translate(&query.sql)?;
        if translated.statements.len() == 1
            && dialect::add_identity(&mut translated.statements[0])
            // A query that cannot carry them (an aggregate without GROUP BY, ...) plans plain.
            && let Ok(frame) = self.plan(translated.statements.remove(0)).await
            && let Ok(frame) = frame.with_param_values(values.clone())
        {
            let notices = translated.notices;
            return Ok((Planned { frame, notices }, true));
        }
        let mut notices = Vec::new();
        let frame = self
            .sql_noting(&query.sql, &mut notices)
            .await
            .map_err(|e| in_saved(e, &query.name))?
            .with_param_values(values)?;
        Ok((Planned { frame, notices }, false))
    }

    /// Plans an Event history lookup (see [`lookup`]).
    pub async fn lookup(&self, lookup: &lookup::Lookup) -> Result<DataFrame> {
        let (sql, values) = lookup.sql()?;
        Ok(self
            .sql(&sql)
            .await?
            .with_param_values(values.into_iter().collect::<Vec<_>>())?)
    }

    /// Runs one statement and collects its result.
    pub async fn query(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        let frame = self.sql(sql).await?;
        Ok(self.run(frame).await?.batches)
    }

    /// Starts a planned query: its batches stream from the returned [`Execution`], which
    /// then tells what the query's scans read. The query reads the lake as the log has it
    /// now (commits made since the plan was made included), and on a local disk no writer
    /// deletes a file it may read until the [`Execution`] is dropped.
    ///
    /// A data file that vanished between the log's reading and the scan (on S3, where a
    /// writer deletes replaced files an hour after a compaction) makes the query catch up with
    /// the log and start again, once, if nothing was returned yet.
    pub async fn execute(&self, frame: DataFrame) -> Result<Execution> {
        let mut retried = false;
        loop {
            let reader = self.read_lock()?;
            self.refresh().await?;
            let task = Arc::new(frame.task_ctx());
            let plan = frame.clone().create_physical_plan().await?;
            // EXPLAIN shows the plan a runner would get without running it: made here.
            let runner = self.runner().filter(|_| {
                plan.downcast_ref::<datafusion::physical_plan::explain::ExplainExec>()
                    .is_none()
            });
            let mut stream = match &runner {
                None => datafusion::physical_plan::execute_stream(Arc::clone(&plan), task)?,
                Some(runner) => {
                    let lake = LakeStore {
                        url: self.url.as_str().to_string(),
                        location: match &self.root {
                            Some(root) => Location::Local(root.clone()),
                            None => self.location.clone(),
                        },
                    };
                    runner
                        .execute(Arc::clone(&plan), task.session_config(), &lake)
                        .await?
                }
            };
            let first = futures::StreamExt::next(&mut stream)
                .await
                .map(|b| b.map_err(Error::from));
            if !retried && matches!(&first, Some(Err(e)) if vanished(e)) {
                retried = true;
                continue;
            }
            return Ok(Execution {
                plan,
                stream,
                files_total: self.table.files().len() as u64,
                ran_on: runner.map(|r| r.name()),
                _reader: reader,
                first: Some(first),
            });
        }
    }

    /// Runs a planned query to its end: the rows and what reading them took.
    pub async fn run(&self, frame: DataFrame) -> Result<QueryResult> {
        self.execute(frame).await?.collect().await
    }
}

/// A syntax error in a saved query names the query.
fn in_saved(e: Error, name: &str) -> Error {
    match e {
        Error::Syntax {
            message,
            line,
            column,
        } => Error::Syntax {
            message: format!("{message} (in saved query {name})"),
            line,
            column,
        },
        other => other,
    }
}

/// Whether a query failed because a data file it planned to read is gone.
fn vanished(e: &Error) -> bool {
    let text = e.to_string();
    text.contains("not found") && text.contains(layout::TABLE_DIR)
}

/// A planned query with the notices its translation gave (an event data store ID this lake
/// does not know, ...), to show beside its result.
pub struct Planned {
    /// The plan.
    pub frame: DataFrame,
    /// What the translation noted.
    pub notices: Vec<String>,
}

/// A type's name as Trino (and so CloudTrail Lake) writes it: `varchar`, `timestamp(6)`,
/// `map(varchar, varchar)`, `array(row(...))`.
pub fn type_name(t: &arrow::datatypes::DataType) -> String {
    functions::text::trino_type(t)
}

/// The size from which reading a whole lake earns [`Hint::WholeLakeScan`].
pub const LARGE_SCAN_BYTES: u64 = 1 << 30;

// The README's Rust example is compiled with the doc tests, so it cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;
