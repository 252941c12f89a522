//! `ctlake watch`: keeps a lake current as CloudTrail delivers, runs the detections over the
//! events each commit added, and delivers each alert once.
//!
//! A round ingests what is new (without compacting, so the files a commit added are still
//! there to be read), runs the detection queries over exactly the files of the commits not yet
//! checked, writes the alerts to an outbox in the lake and the new checkpoint after it, then
//! delivers the outbox to each sink from that sink's own cursor, and compacts. Every step's
//! state lives in the lake (`_ctlake/watch/`), so a restart (or a new machine) neither checks
//! an event twice nor loses an alert; a sink gets an alert again only when the process died
//! between its delivery and the cursor's update, and the alert's `id` lets it tell.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use arrow::array::RecordBatch;
use bytes::Bytes;
use ctlake_ingest::{IngestOptions, LakeWriter, Progress};
use serde_json::{Value, json};

use crate::args::{self, LakeArg};
use crate::{Global, format};

/// Where the watcher keeps its state in the lake.
const STATE: &str = "_ctlake/watch/state.json";
/// One outbox file per round that raised alerts, named by its first alert's number.
const OUTBOX: &str = "_ctlake/watch/alerts";
/// The lock one watcher holds (next to the lake's own, in `_ctlake/`).
const LOCK: &str = "watch.lock";
/// Posts to a webhook are tried this many times in a round, with doubling pauses.
const POST_ATTEMPTS: u32 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum WebhookFormat {
    /// The alert object.
    Json,
    /// `{"text": ...}`, for Slack-style incoming webhooks.
    Slack,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where deliveries arrive: folders (walked), globs, `s3://bucket/prefix`.
    #[arg(required = true, value_name = "SRC")]
    sources: Vec<String>,
    #[command(flatten)]
    lake: LakeArg,
    /// Time between rounds (`30s`, `5m`, `1h`).
    #[arg(long, default_value = "5m", value_parser = args::age)]
    interval: Duration,
    /// Append alerts to this file, one JSON object per line.
    #[arg(long, value_name = "FILE")]
    alerts: Option<PathBuf>,
    /// POST each alert to this URL (repeatable).
    #[arg(long, value_name = "URL")]
    webhook: Vec<String>,
    /// The webhooks' body.
    #[arg(long, value_enum, default_value = "json")]
    webhook_format: WebhookFormat,
    /// The detections: a report spec (`security`, or a TOML file) whose queries run;
    /// [default: the saved queries tagged `detection`].
    #[arg(long, value_name = "SPEC")]
    detections: Option<String>,
    /// Also compute CloudTrail Insights each round, for the minutes since the last round's
    /// (see `ctlake insights`).
    #[arg(long)]
    insights: bool,
    /// Run one round and exit (for cron).
    #[arg(long)]
    once: bool,
    /// No status line per round.
    #[arg(long, short)]
    quiet: bool,
}

/// The watcher's state in the lake.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct State {
    /// The last commit whose added events the detections have seen.
    checked_seq: u64,
    /// The number the next alert gets (alerts are numbered from 1).
    next_alert: u64,
    /// Per sink, the last alert number it has been given.
    delivered: BTreeMap<String, u64>,
}

/// Somewhere alerts go.
enum Sink {
    Stdout,
    File(PathBuf),
    Webhook(String),
}

impl Sink {
    fn id(&self) -> String {
        match self {
            Sink::Stdout => "stdout".into(),
            Sink::File(p) => format!("file:{}", p.display()),
            Sink::Webhook(u) => format!("webhook:{u}"),
        }
    }
}

/// Set by Ctrl-C or SIGTERM: the current step finishes, then the watcher exits.
struct Stop {
    flag: AtomicBool,
    lock: Mutex<()>,
    wake: Condvar,
}

impl Stop {
    fn requested(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }

    /// Sleeps up to `d`, waking at once when a stop is requested.
    fn sleep(&self, d: Duration) {
        let guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let _ = self
            .wake
            .wait_timeout_while(guard, d, |_| !self.requested())
            .map(|(g, _)| drop(g));
    }
}

impl Args {
    pub fn run(self, global: &Global) -> anyhow::Result<u8> {
        ctlake_ingest::source::check_sources(&self.sources)?;
        let writer = LakeWriter::create(&self.lake.lake)?;
        // One watcher per lake: a second one would check and alert the same commits.
        let _lock = watch_lock(&writer, &self.lake.lake)?;
        let stop = Arc::new(Stop {
            flag: AtomicBool::new(false),
            lock: Mutex::new(()),
            wake: Condvar::new(),
        });
        let progress = Arc::new(Progress::default());
        {
            let (stop, progress) = (Arc::clone(&stop), Arc::clone(&progress));
            crate::signals::on_interrupt(move || {
                stop.flag.store(true, Ordering::Relaxed);
                progress.stop.store(true, Ordering::Relaxed);
                stop.wake.notify_all();
            })?;
        }
        let mut sinks: Vec<Sink> = self.webhook.iter().cloned().map(Sink::Webhook).collect();
        if let Some(f) = &self.alerts {
            sinks.push(Sink::File(f.clone()));
        }
        if sinks.is_empty() {
            sinks.push(Sink::Stdout);
        }
        let runtime = global.runtime()?;
        let lake = runtime.block_on(global.open(&self.lake.lake))?;
        let library = ctlake_query::saved::Library::standard(lake.root())?;
        let detections = detections(&library, self.detections.as_deref())?;
        // The client's connection pool lives in the runtime that drives its requests.
        let _in_runtime = runtime.enter();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .context("starting the HTTP client")?;
        let mut w = Watcher {
            args: &self,
            writer: &writer,
            lake: &lake,
            runtime: &runtime,
            detections,
            sinks,
            client,
            stop: &stop,
            progress: &progress,
            state: load_state(&writer)?,
        };
        w.fix_file_cursors()?;
        // Saved before the first round: a watcher killed in its first ingest must find, on
        // restart, that those commits are still to be checked.
        w.save_state()?;
        let interval = self.interval.max(Duration::from_secs(1));
        let mut round = 0u64;
        loop {
            round += 1;
            let started = Instant::now();
            let status = w.round()?;
            if !self.quiet {
                writeln!(
                    io::stderr(),
                    "watch: round {round}: {} files, {} events, {} alerts ({} pending delivery){}",
                    format::count(status.files),
                    format::count(status.events),
                    format::count(status.alerts),
                    format::count(status.pending),
                    status
                        .newest
                        .map(|lag| format!(", newest event {} ago", rounded(lag)))
                        .unwrap_or_default()
                )?;
            }
            if self.once || stop.requested() {
                break;
            }
            stop.sleep(interval.saturating_sub(started.elapsed()));
            if stop.requested() {
                break;
            }
        }
        Ok(0)
    }
}

/// A lag as people say it: `40s`, `12m`, `3h`, `2d`.
fn rounded(d: chrono::Duration) -> String {
    let s = d.num_seconds().max(0);
    match s {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// Takes the watcher's lock, or says who holds it.
fn watch_lock(writer: &LakeWriter, lake: &Path) -> anyhow::Result<Option<std::fs::File>> {
    let Some(root) = writer.store().local_root() else {
        // On S3 there is no lock file: run one watcher per lake (the README says so).
        return Ok(None);
    };
    let path = root.join("_ctlake").join(LOCK);
    let file = ctlake_store::open_lock_file(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "another `ctlake watch` is already watching {} (one watcher per lake)",
            lake.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => Err(e).context("locking the watcher"),
    }
}

/// The detection queries: a report spec's, or every saved query tagged `detection`.
fn detections(
    library: &ctlake_query::saved::Library,
    spec: Option<&str>,
) -> anyhow::Result<Vec<ctlake_query::saved::SavedQuery>> {
    let names: Vec<String> = match spec {
        None => library
            .iter()
            .filter(|q| q.tags.iter().any(|t| t == "detection"))
            .map(|q| q.name.clone())
            .collect(),
        Some(name @ ("overview" | "security")) => ctlake_query::report::Spec::built_in(name)?
            .queries
            .into_iter()
            .map(|i| i.name)
            .collect(),
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
            ctlake_query::report::Spec::parse(path, &text)?
                .queries
                .into_iter()
                .map(|i| i.name)
                .collect()
        }
    };
    names.iter().map(|n| Ok(library.get(n)?.clone())).collect()
}

fn load_state(writer: &LakeWriter) -> anyhow::Result<State> {
    match writer.store().get(STATE)? {
        None => {
            // A first watcher on a lake that already holds events alerts on what arrives from
            // now on; what is already there is for `ctlake report`.
            let seq = writer.snapshot()?.seq;
            if seq > 0 {
                writeln!(
                    io::stderr(),
                    "watch: the lake already holds {seq} commit{}; their events are not checked \
                     (`ctlake report --spec security` covers them), new ones are",
                    if seq == 1 { "" } else { "s" }
                )?;
            }
            Ok(State {
                checked_seq: seq,
                next_alert: 1,
                ..Default::default()
            })
        }
        Some(bytes) => {
            serde_json::from_slice(&bytes).with_context(|| format!("reading the lake's {STATE}"))
        }
    }
}

struct RoundStatus {
    files: u64,
    events: u64,
    alerts: u64,
    pending: u64,
    newest: Option<chrono::Duration>,
}

struct Watcher<'a> {
    args: &'a Args,
    writer: &'a LakeWriter,
    lake: &'a ctlake_query::Lake,
    runtime: &'a tokio::runtime::Runtime,
    detections: Vec<ctlake_query::saved::SavedQuery>,
    sinks: Vec<Sink>,
    client: reqwest::Client,
    stop: &'a Stop,
    progress: &'a Progress,
    state: State,
}

impl Watcher<'_> {
    fn save_state(&self) -> anyhow::Result<()> {
        let body = serde_json::to_vec_pretty(&self.state)?;
        self.writer.store().put(STATE, Bytes::from(body))?;
        Ok(())
    }

    /// A crash between appending to the alerts file and saving the cursor would append the
    /// same alerts again: the file itself says how far it got.
    fn fix_file_cursors(&mut self) -> anyhow::Result<()> {
        for sink in &self.sinks {
            let Sink::File(path) = sink else { continue };
            // The last line is enough: read the file's tail, not all of it.
            let Ok(mut f) = std::fs::File::open(path) else {
                continue;
            };
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            let mut tail = Vec::new();
            {
                use std::io::{Read, Seek, SeekFrom};
                f.seek(SeekFrom::Start(len.saturating_sub(1 << 20)))?;
                f.read_to_end(&mut tail)?;
            }
            let text = String::from_utf8_lossy(&tail);
            let last = text
                .lines()
                .rev()
                .find_map(|l| serde_json::from_str::<Value>(l).ok()?["seq"].as_u64());
            if let Some(last) = last {
                let cursor = self.state.delivered.entry(sink.id()).or_default();
                *cursor = (*cursor).max(last);
            }
        }
        Ok(())
    }

    fn round(&mut self) -> anyhow::Result<RoundStatus> {
        // Detections first: commits a killed run made but did not check come before new ones.
        let mut alerts = self.detect()?;
        let mut files = 0;
        let mut events = 0;
        let mut touched = Vec::new();
        if !self.stop.requested() {
            let opts = IngestOptions {
                compact: false,
                ..Default::default()
            };
            let report =
                ctlake_ingest::ingest(self.writer, &self.args.sources, &opts, self.progress)?;
            for f in report.failed.iter().chain(&report.skipped) {
                writeln!(io::stderr(), "watch: {}: {}", f.path, f.reason)?;
            }
            files = report.files_ingested as u64;
            events = report.events_written;
            touched = report.partitions.iter().cloned().collect();
            alerts += self.detect()?;
        }
        self.deliver()?;
        if self.args.insights && !self.stop.requested() {
            self.insights()?;
        }
        if !touched.is_empty() && !self.stop.requested() {
            let opts = ctlake_ingest::compact::CompactOptions {
                partitions: touched,
                min_small_files: ctlake_ingest::compact::AUTO_MIN_SMALL_FILES,
                ..Default::default()
            };
            ctlake_ingest::compact::compact(self.writer, &opts)?;
        }
        let pending = self
            .sinks
            .iter()
            .map(|s| {
                let done = self.state.delivered.get(&s.id()).copied().unwrap_or(0);
                (self.state.next_alert - 1).saturating_sub(done)
            })
            .max()
            .unwrap_or(0);
        // The detection step caught the session up with this round's commits.
        let newest = self
            .lake
            .summary()
            .time_range
            .and_then(|(_, hi)| chrono::DateTime::from_timestamp_micros(hi))
            .map(|t| chrono::Utc::now() - t);
        Ok(RoundStatus {
            files,
            events,
            alerts,
            pending,
            newest,
        })
    }

    /// Runs the detections over the files the commits after the checkpoint added; writes
    /// their alerts to the outbox, then moves the checkpoint. Returns how many alerts.
    fn detect(&mut self) -> anyhow::Result<u64> {
        let store = self.writer.store();
        let entries = store.block_on(ctlake_store::log::entries_after(
            store.object_store().as_ref(),
            self.state.checked_seq,
        ))?;
        let Some((last_path, _)) = entries.last() else {
            return Ok(0);
        };
        let last_seq =
            ctlake_schema::layout::log_entry_seq(last_path).unwrap_or(self.state.checked_seq);
        // The query session's snapshot, caught up with the log: no replay of the whole log.
        self.runtime.block_on(self.lake.refresh())?;
        let snapshot = self.lake.snapshot();
        let mut files = Vec::new();
        for (path, bytes) in &entries {
            let commit = ctlake_log::Commit::parse(path, bytes)?;
            // Ingest commits store sources; compaction and repair commits only move events.
            if commit.source_count + commit.sources.len() as u64 == 0 {
                continue;
            }
            for f in commit.add {
                if snapshot.files.contains_key(&f.path) {
                    files.push(f);
                } else {
                    writeln!(
                        io::stderr(),
                        "watch: {} was compacted away before its events were checked; they are not checked",
                        f.path
                    )?;
                }
            }
        }
        let mut alerts = Vec::new();
        if !files.is_empty() {
            self.lake.scope_to(Some(files));
            let found = self
                .runtime
                .block_on(run_detections(self.lake, &self.detections));
            self.lake.scope_to(None);
            alerts = found?;
        }
        let first = self.state.next_alert;
        if !alerts.is_empty() {
            let mut body = Vec::new();
            for (i, a) in alerts.iter_mut().enumerate() {
                a["seq"] = json!(first + i as u64);
                serde_json::to_writer(&mut body, a)?;
                body.push(b'\n');
            }
            store.put(&outbox_path(first), Bytes::from(body))?;
        }
        self.state.checked_seq = last_seq;
        self.state.next_alert = first + alerts.len() as u64;
        self.save_state()?;
        Ok(alerts.len() as u64)
    }

    /// Computes the insights of the minutes since the last analysed one, up to the newest
    /// event, and says how many it found.
    fn insights(&self) -> anyhow::Result<()> {
        let params = ctlake_query::insights::Params::default();
        self.runtime.block_on(self.lake.refresh())?;
        let Some((from, newest)) = self
            .runtime
            .block_on(self.lake.insight_window(&params, true))?
        else {
            return Ok(());
        };
        if newest <= from {
            return Ok(());
        }
        let found = self
            .runtime
            .block_on(self.lake.compute_insights(from, newest, &params, true))?
            .insights;
        if !found.is_empty() && !self.args.quiet {
            writeln!(
                io::stderr(),
                "watch: {} new insights in the `insights` table",
                format::count(found.len() as u64)
            )?;
        }
        Ok(())
    }

    /// Gives each sink the alerts after its cursor, in order.
    fn deliver(&mut self) -> anyhow::Result<()> {
        let last = self.state.next_alert.saturating_sub(1);
        if self
            .sinks
            .iter()
            .all(|s| self.state.delivered.get(&s.id()).copied().unwrap_or(0) >= last)
        {
            return Ok(());
        }
        let store = self.writer.store();
        let mut outbox: Vec<(u64, String)> = store
            .list(OUTBOX)?
            .into_iter()
            .filter_map(|o| {
                let name = o.location.filename()?.to_string();
                Some((
                    name.strip_suffix(".jsonl")?.parse().ok()?,
                    o.location.to_string(),
                ))
            })
            .collect();
        outbox.sort();
        let mut failed: Vec<String> = Vec::new();
        let oldest_cursor = self
            .sinks
            .iter()
            .map(|s| self.state.delivered.get(&s.id()).copied().unwrap_or(0))
            .min()
            .unwrap_or(0);
        for (i, (_, path)) in outbox.iter().enumerate() {
            // A file whose alerts every sink has: skip it (and it can go).
            let next_first = outbox.get(i + 1).map_or(u64::MAX, |(n, _)| *n);
            if next_first <= oldest_cursor + 1 {
                let _ = store.delete(path);
                continue;
            }
            let Some(bytes) = store.get(path)? else {
                continue;
            };
            let alerts: Vec<Value> = bytes
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .filter_map(|l| serde_json::from_slice(l).ok())
                .collect();
            for alert in &alerts {
                let seq = alert["seq"].as_u64().unwrap_or(0);
                for s in 0..self.sinks.len() {
                    let id = self.sinks[s].id();
                    if self.state.delivered.get(&id).copied().unwrap_or(0) >= seq {
                        continue;
                    }
                    // A sink that fails keeps its cursor: later alerts wait, in order.
                    if failed.contains(&id) {
                        continue;
                    }
                    if self.send(&self.sinks[s], alert)? {
                        self.state.delivered.insert(id, seq);
                        self.save_state()?;
                    } else {
                        failed.push(id);
                    }
                }
                if self.stop.requested() {
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}

impl Watcher<'_> {
    /// Gives one alert to one sink; false when a webhook kept failing (it is tried again next
    /// round, from the same alert).
    fn send(&self, sink: &Sink, alert: &Value) -> anyhow::Result<bool> {
        match sink {
            Sink::Stdout => {
                writeln!(io::stdout(), "{alert}")?;
                Ok(true)
            }
            Sink::File(path) => {
                let mut f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .with_context(|| format!("opening {}", path.display()))?;
                f.write_all(format!("{alert}\n").as_bytes())?;
                f.sync_data()?;
                Ok(true)
            }
            Sink::Webhook(url) => {
                let body = match self.args.webhook_format {
                    WebhookFormat::Json => alert.to_string(),
                    WebhookFormat::Slack => json!({ "text": slack_text(alert) }).to_string(),
                };
                let mut pause = Duration::from_secs(1);
                for attempt in 1..=POST_ATTEMPTS {
                    let sent = self.runtime.block_on(
                        self.client
                            .post(url)
                            .header("content-type", "application/json")
                            .body(body.clone())
                            .send(),
                    );
                    let why = match sent {
                        Ok(r) if r.status().is_success() => return Ok(true),
                        Ok(r) => format!("HTTP {}", r.status()),
                        Err(e) => e.to_string(),
                    };
                    writeln!(
                        io::stderr(),
                        "watch: posting alert {} to {url} failed ({why}); attempt {attempt} of {POST_ATTEMPTS}",
                        alert["seq"]
                    )?;
                    if attempt == POST_ATTEMPTS || self.stop.requested() {
                        break;
                    }
                    self.stop.sleep(pause);
                    pause *= 2;
                }
                Ok(false)
            }
        }
    }
}

/// One line for a chat channel.
fn slack_text(a: &Value) -> String {
    let s = |k: &str| a[k].as_str().unwrap_or("-").to_string();
    format!(
        "ctlake: {} ({}): {} by {} from {} in {} / {} at {} (event {})",
        s("detection"),
        s("title"),
        s("event_name"),
        s("principal"),
        s("source_ip"),
        s("account"),
        s("region"),
        s("eventtime"),
        s("eventid")
    )
}

/// The outbox file whose first alert is number `first`.
fn outbox_path(first: u64) -> String {
    format!("{OUTBOX}/{first:020}.jsonl")
}

/// Runs every detection over the lake as scoped, and makes an alert of each row.
async fn run_detections(
    lake: &ctlake_query::Lake,
    detections: &[ctlake_query::saved::SavedQuery],
) -> anyhow::Result<Vec<Value>> {
    let mut alerts = Vec::new();
    for q in detections {
        // Whatever their eventtime: a late delivery for an old day is checked too.
        let mut given = BTreeMap::new();
        for p in &q.params {
            match p.name.as_str() {
                "start" => given.insert(p.name.clone(), "1970-01-01".to_string()),
                "end" => given.insert(p.name.clone(), "2200-01-01".to_string()),
                _ => None,
            };
        }
        let (planned, identity) = lake
            .detection(q, &given)
            .await
            .with_context(|| format!("planning detection {}", q.name))?;
        let result = lake
            .run(planned.frame)
            .await
            .with_context(|| format!("running detection {}", q.name))?;
        for row in rows_as_json(&result.batches)? {
            alerts.push(alert(q, row, identity));
        }
    }
    Ok(alerts)
}

/// The rows of `batches` as JSON objects (nested values as JSON).
fn rows_as_json(batches: &[RecordBatch]) -> anyhow::Result<Vec<serde_json::Map<String, Value>>> {
    let mut buf = Vec::new();
    {
        let mut w = arrow::json::ArrayWriter::new(&mut buf);
        for b in batches {
            w.write(b)?;
        }
        w.finish()?;
    }
    if buf.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<Value> = serde_json::from_slice(&buf)?;
    Ok(rows
        .into_iter()
        .filter_map(|r| match r {
            Value::Object(m) => Some(m),
            _ => None,
        })
        .collect())
}

/// One alert: the detection, the event (when the rows are events), and the query's row.
fn alert(
    q: &ctlake_query::saved::SavedQuery,
    mut row: serde_json::Map<String, Value>,
    identity: bool,
) -> Value {
    let mut take = |name: &str| row.remove(name).unwrap_or(Value::Null);
    let (event_id, time, account, region, principal, ip, name) = if identity {
        (
            take("_event_id"),
            take("_event_time"),
            take("_account"),
            take("_region"),
            take("_principal"),
            take("_source_ip"),
            take("_event_name"),
        )
    } else {
        Default::default()
    };
    use sha2::Digest;
    let key = match &event_id {
        Value::String(id) => id.clone(),
        _ => hex::encode(&sha2::Sha256::digest(Value::Object(row.clone()).to_string())[..12]),
    };
    json!({
        "id": format!("{}:{key}", q.name),
        "detection": q.name,
        "title": q.description,
        "tags": q.tags,
        "eventid": event_id,
        "eventtime": time,
        "account": account,
        "region": region,
        "principal": principal,
        "source_ip": ip,
        "event_name": name,
        "row": row,
    })
}
