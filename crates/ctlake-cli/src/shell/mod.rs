//! `ctlake shell`: the interactive SQL shell over a lake.
//!
//! It is the library's `Lake` with a line editor in front: multi-line statements until `;`,
//! history in the user's state directory, completion of columns down to nested struct paths
//! and of map keys seen in the lake, backslash commands (`\?`), a session time window, and
//! results that fit the terminal. A running query is a task the shell can abort on Ctrl-C;
//! the shell itself stays.

mod helper;
mod meta;
mod render;

use std::collections::BTreeMap;
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use anyhow::Context as _;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use ctlake_query::{Error, Lake, ScanStatistics, saved};
use datafusion::common::ScalarValue;
use datafusion::prelude::DataFrame;
use futures::FutureExt;
use rustyline::error::ReadlineError;
use rustyline::history::FileHistory;
use rustyline::{CompletionType, Config, Editor};

use crate::Global;
use crate::format::{bytes, count, skipped};
use crate::output::{self, Format, print_query_error};
use helper::{ShellHelper, Vocabulary};
use meta::Next;
use render::Expanded;

/// Rows a table result shows on screen; `\o FILE` writes them all.
const MAX_SHOWN: usize = 10_000;

/// The shell's session state, changed by backslash commands.
struct Settings {
    timing: bool,
    expanded: Expanded,
    format: Format,
    output: Option<PathBuf>,
    params: BTreeMap<String, String>,
    from: Option<String>,
    to: Option<String>,
    pager: bool,
}

/// Ctrl-C while a query runs. The handler is installed once, when the shell starts, so an
/// interrupt between two queries never kills the shell either. It runs on its own thread and
/// wakes the waiting shell directly: the query's tasks may keep every runtime worker busy, so
/// nothing that needs a worker to notice the signal would do.
struct Interrupts {
    notify: Arc<tokio::sync::Notify>,
}

impl Interrupts {
    fn new() -> anyhow::Result<Self> {
        let notify = Arc::new(tokio::sync::Notify::new());
        let handler = Arc::clone(&notify);
        crate::signals::on_interrupt(move || handler.notify_one())?;
        Ok(Self { notify })
    }

    async fn next(&self) {
        self.notify.notified().await;
    }

    /// Forgets an interrupt that arrived while no query ran.
    fn drain(&self) {
        let _ = self.notify.notified().now_or_never();
    }
}

/// The shell.
pub struct Shell {
    runtime: tokio::runtime::Runtime,
    lake: Arc<Lake>,
    lake_dir: PathBuf,
    /// The query options the shell opens (and reopens) its lake with.
    global: Global,
    library: saved::Library,
    settings: Settings,
    map_keys: Arc<RwLock<BTreeMap<String, Vec<String>>>>,
    window_applied: bool,
    /// Installed once the line editor exists: rustyline sets its own SIGINT action when it
    /// opens the terminal, and ours must be the one in force while a query runs.
    interrupts: Option<Interrupts>,
}

/// Where history is kept: `$CTLAKE_HISTORY`, else `$XDG_STATE_HOME/ctlake/history`, else
/// `~/.local/state/ctlake/history` (never the working directory).
pub fn history_path(given: Option<PathBuf>) -> Option<PathBuf> {
    if let Some(p) = given {
        return Some(p);
    }
    let state = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))?;
    Some(state.join("ctlake").join("history"))
}

/// Opens the shell on the lake at `lake_dir` (ingesting `sources` into it first) and runs it
/// until `\q` or Ctrl-D.
pub fn run(
    lake_dir: &Path,
    sources: &[String],
    history: Option<PathBuf>,
    global: &Global,
) -> anyhow::Result<u8> {
    if !sources.is_empty() {
        let fresh = !lake_dir.join(ctlake_schema::layout::LAKE_FILE).exists();
        // Re-reading a source already in the lake only skips its files: say nothing then.
        let code = crate::commands::ingest::ingest(sources, lake_dir, &Default::default(), !fresh)?;
        if code != 0 {
            eprintln!("warning: some input was not ingested (see above); opening the lake anyway");
        }
    }
    let runtime = global.runtime()?;
    let lake = match runtime.block_on(global.open(lake_dir)) {
        Ok(lake) => lake,
        Err(e) => {
            eprintln!("error: {e}");
            eprintln!(
                "Create it from CloudTrail files first: ctlake ingest --lake {} <files or folders>\n\
                 or open the bundled sample: ctlake shell --lake {} --ingest data",
                lake_dir.display(),
                lake_dir.display()
            );
            return Ok(crate::EXIT_USAGE);
        }
    };
    let library = saved::Library::standard(lake.root())?;
    for o in library.overrides() {
        crate::commands::saved::warn_override(o);
    }
    let mut shell = Shell {
        runtime,
        lake: Arc::new(lake),
        lake_dir: lake_dir.to_path_buf(),
        global: global.clone(),
        library,
        settings: Settings {
            timing: false,
            expanded: Expanded::Off,
            format: Format::Table,
            output: None,
            params: BTreeMap::new(),
            from: None,
            to: None,
            pager: true,
        },
        map_keys: Arc::default(),
        window_applied: false,
        interrupts: None,
    };
    shell.sample_map_keys();
    shell.interact(history_path(history))
}

impl Shell {
    fn vocabulary(&self) -> Vocabulary {
        let state = self.lake.context().state();
        let mut functions: Vec<String> = state
            .scalar_functions()
            .keys()
            .chain(state.aggregate_functions().keys())
            .chain(state.window_functions().keys())
            .map(|f| f.to_ascii_lowercase())
            .collect();
        functions.sort();
        functions.dedup();
        Vocabulary {
            columns: ctlake_query::suggest::column_paths(),
            functions,
            tables: vec![
                ctlake_query::TABLE.to_string(),
                format!("\"{}\"", self.lake.id()),
            ],
            saved: self.library.iter().map(|q| q.name.clone()).collect(),
            map_keys: Arc::clone(&self.map_keys),
        }
    }

    /// Fills the map-key cache in the background from a sample of the lake.
    fn sample_map_keys(&self) {
        let lake = Arc::clone(&self.lake);
        let cache = Arc::clone(&self.map_keys);
        self.runtime.spawn(async move {
            if let Ok(keys) = lake.map_key_sample(20_000, 500).await
                && let Ok(mut cache) = cache.write()
            {
                *cache = keys;
            }
        });
    }

    fn interact(&mut self, history: Option<PathBuf>) -> anyhow::Result<u8> {
        let config = Config::builder()
            .max_history_size(10_000)?
            .history_ignore_dups(true)?
            .history_ignore_space(true)
            .completion_type(CompletionType::List)
            .auto_add_history(false)
            .build();
        let mut editor: Editor<ShellHelper, FileHistory> = Editor::with_config(config)?;
        self.interrupts = Some(Interrupts::new()?);
        let color = std::env::var_os("NO_COLOR").is_none() && io::stdout().is_terminal();
        editor.set_helper(Some(ShellHelper::new(self.vocabulary(), color)));
        if let Some(path) = &history {
            if let Some(dir) = path.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            if path.exists() {
                editor
                    .load_history(path)
                    .with_context(|| format!("reading history {}", path.display()))?;
            }
        }
        self.print(&self.summary());
        loop {
            match editor.readline(&self.prompt()) {
                Ok(entry) => {
                    if entry.trim().is_empty() {
                        continue;
                    }
                    editor.add_history_entry(entry.trim_end())?;
                    if let Some(path) = &history
                        && let Err(e) = editor.append_history(path)
                    {
                        eprintln!("warning: history not saved to {}: {e}", path.display());
                    }
                    match self.entry(&entry) {
                        Next::Quit => break,
                        Next::History => {
                            let mut text = String::new();
                            for (i, h) in editor.history().iter().enumerate() {
                                text.push_str(&format!("{:5}  {}\n", i + 1, h));
                            }
                            self.print(text.trim_end());
                        }
                        Next::Continue | Next::Include(_) => {}
                    }
                }
                // Ctrl-C at the prompt drops the statement being typed, as in psql.
                Err(ReadlineError::Interrupted) => continue,
                Err(ReadlineError::Eof) => break,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(0)
    }

    /// Runs one entry: a backslash command or SQL.
    fn entry(&mut self, entry: &str) -> Next {
        // What was committed since the last entry (ingest or compaction in another terminal)
        // is part of the answer; queries catch up themselves, `\d` and `\l` through this.
        if let Err(e) = self.runtime.block_on(self.lake.refresh()) {
            print_query_error(&e, "");
        }
        if entry.trim_start().starts_with('\\') {
            match self.meta(entry) {
                Ok(Next::Include(text)) => {
                    self.script(&text);
                    Next::Continue
                }
                Ok(next) => next,
                Err(e) => {
                    eprintln!("error: {}", crate::error_text(&e));
                    Next::Continue
                }
            }
        } else {
            self.sql(entry);
            Next::Continue
        }
    }

    /// `\i`: lines run as if typed, SQL gathered until its `;`.
    fn script(&mut self, text: &str) {
        let mut pending = String::new();
        for line in text.lines() {
            if pending.trim().is_empty() && line.trim_start().starts_with('\\') {
                if let Next::Quit = self.entry(line) {
                    return;
                }
                continue;
            }
            pending.push_str(line);
            pending.push('\n');
            if helper::is_complete(&pending) {
                self.sql(&pending);
                pending.clear();
            }
        }
        if !pending.trim().is_empty() {
            self.sql(&pending);
        }
    }

    fn prompt(&self) -> String {
        match (&self.settings.from, &self.settings.to) {
            (None, None) => "ctlake> ".to_string(),
            (from, to) => format!(
                "ctlake [{}..{}]> ",
                from.as_deref().unwrap_or(""),
                to.as_deref().unwrap_or("")
            ),
        }
    }

    fn window_text(&self) -> String {
        let show = |spec: &Option<String>| match spec {
            None => "open".to_string(),
            Some(s) => match ctlake_query::timespec::parse(s) {
                Ok(t) if s.starts_with('-') || s.chars().all(char::is_alphabetic) => {
                    format!("{s} (now {})", t.format("%Y-%m-%d %H:%M:%S"))
                }
                _ => s.clone(),
            },
        };
        if self.settings.from.is_none() && self.settings.to.is_none() {
            return "No time window: queries see every event.".to_string();
        }
        format!(
            "Time window: eventtime from {} to {}; every query sees only these events.",
            show(&self.settings.from),
            show(&self.settings.to)
        )
    }

    /// What the lake holds, and what to try.
    fn summary(&self) -> String {
        let snap = self.lake.snapshot();
        let files = &snap.files;
        let version = env!("CARGO_PKG_VERSION");
        let dir = self.lake_dir.display();
        if files.is_empty() {
            return format!(
                "ctlake {version}: the lake at {dir} holds no events yet.\n\
                 Ingest CloudTrail logs into it (in another terminal), then \\reload:\n  \
                 ctlake ingest --lake {dir} <files, folders or globs of .json.gz>\n  \
                 ctlake ingest --lake {dir} data        (the bundled sample)\n\
                 Type \\? for help, \\q to quit."
            );
        }
        let events: u64 = files.values().map(|f| f.rows).sum();
        let regions: std::collections::BTreeSet<&str> =
            files.values().map(|f| f.region.as_str()).collect();
        let time = |us: i64| {
            chrono::DateTime::from_timestamp_micros(us)
                .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                .unwrap_or_default()
        };
        let cluster = self
            .lake
            .runs_on()
            .map(|url| format!("Queries run on the cluster {url} (\\connect local: here).\n"))
            .unwrap_or_default();
        let first = files.values().map(|f| f.min_time_us).min().unwrap_or(0);
        let last = files.values().map(|f| f.max_time_us).max().unwrap_or(0);
        format!(
            "ctlake {version}: {} events in {dir}, {} .. {}, {} regions (event data store {}).\n\
             {cluster}Type \\? for help, \\q to quit; statements end with ;. Try:\n  \
             SELECT eventname, count(*) AS n FROM cloudtrail GROUP BY eventname ORDER BY n DESC LIMIT 10;\n  \
             \\run console-logins-without-mfa",
            count(events),
            time(first),
            time(last),
            regions.len(),
            self.lake.id()
        )
    }

    fn reload(&mut self) -> anyhow::Result<()> {
        let lake = self.runtime.block_on(self.global.open(&self.lake_dir))?;
        self.lake = Arc::new(lake);
        self.library = saved::Library::standard(self.lake.root())?;
        self.window_applied = false;
        self.sample_map_keys();
        Ok(())
    }

    /// Bounds the table to the session window, evaluated now (`-7d` moves with the clock).
    fn apply_window(&mut self) -> ctlake_query::Result<()> {
        let parse = |s: &Option<String>| s.as_deref().map(ctlake_query::timespec::parse);
        let from = parse(&self.settings.from).transpose()?;
        let to = parse(&self.settings.to).transpose()?;
        if from.is_some() || to.is_some() || self.window_applied {
            self.lake.set_window(from, to)?;
            self.window_applied = from.is_some() || to.is_some();
        }
        Ok(())
    }

    /// Runs SQL text: every statement in it, each result shown before the next runs.
    fn sql(&mut self, sql: &str) {
        if let Err(e) = self.apply_window() {
            print_query_error(&e, "");
            return;
        }
        let translated = match self.lake.translate(sql) {
            Ok(t) => t,
            Err(e) => {
                print_query_error(&e, sql);
                return;
            }
        };
        for notice in &translated.notices {
            eprintln!("{notice}");
        }
        for statement in translated.statements {
            let started = Instant::now();
            let planned = self
                .runtime
                .block_on(self.lake.plan(statement))
                .and_then(|frame| self.bind(frame));
            match planned {
                Ok(frame) => {
                    if !self.execute(frame, sql, started) {
                        return;
                    }
                }
                Err(e) => {
                    print_query_error(&e, sql);
                    return;
                }
            }
        }
    }

    /// `\set` values for the statement's `$name` placeholders, typed by their look.
    fn bind(&self, frame: DataFrame) -> ctlake_query::Result<DataFrame> {
        if self.settings.params.is_empty() {
            return Ok(frame);
        }
        let values: Vec<(String, ScalarValue)> = self
            .settings
            .params
            .iter()
            .map(|(k, v)| {
                let value = if let Ok(i) = v.parse::<i64>() {
                    ScalarValue::Int64(Some(i))
                } else if let Ok(b) = v.parse::<bool>() {
                    ScalarValue::Boolean(Some(b))
                } else {
                    ScalarValue::Utf8(Some(v.clone()))
                };
                (k.clone(), value)
            })
            .collect();
        Ok(frame.with_param_values(values)?)
    }

    /// `\run NAME k=v ...`: `\set` values, then the window, then the given ones.
    fn run_saved(&mut self, name: &str, given: BTreeMap<String, String>) {
        if let Err(e) = self.apply_window() {
            print_query_error(&e, "");
            return;
        }
        let query = match self.library.get(name) {
            Ok(q) => q.clone(),
            Err(e) => {
                print_query_error(&e, "");
                return;
            }
        };
        let mut params = BTreeMap::new();
        for p in &query.params {
            if let Some(v) = self.settings.params.get(&p.name) {
                params.insert(p.name.clone(), v.clone());
            }
        }
        if let Some(from) = &self.settings.from {
            params.insert("start".into(), from.clone());
        }
        if let Some(to) = &self.settings.to {
            params.insert("end".into(), to.clone());
        }
        params.extend(given);
        params.retain(|k, _| query.params.iter().any(|p| &p.name == k) || k == "start");
        let started = Instant::now();
        match self.runtime.block_on(self.lake.saved(&query, &params)) {
            Ok(planned) => {
                for notice in &planned.notices {
                    eprintln!("{notice}");
                }
                self.execute(planned.frame, &query.sql, started);
            }
            Err(e) => {
                print_query_error(&e, &query.sql);
            }
        }
    }

    /// Runs a planned statement as an abortable task and shows its result. False when it
    /// failed or was cancelled (the rest of the entry is not run).
    fn execute(&mut self, frame: DataFrame, sql: &str, started: Instant) -> bool {
        let lake = Arc::clone(&self.lake);
        let format = self.settings.format;
        let output = self.settings.output.clone();
        // Each query runs on a runtime of its own: a cancelled query's operators only stop
        // at their next yield, and dropping its runtime lets the next query start at once on
        // fresh threads instead of queueing behind them.
        let runtime = match self.global.runtime() {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {}", crate::error_text(&e));
                return false;
            }
        };
        let task = runtime
            .spawn(async move { collect(&lake, frame, format, output.as_deref(), started).await });
        let abort = task.abort_handle();
        let interrupts = self.interrupts.as_ref();
        if let Some(i) = interrupts {
            i.drain();
        }
        let finished = runtime.block_on(async {
            let interrupted = async {
                match interrupts {
                    Some(i) => i.next().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                done = task => Some(done),
                () = interrupted => None,
            }
        });
        if finished.is_none() {
            abort.abort();
            runtime.shutdown_background();
        }
        let outcome = match finished {
            None => {
                eprintln!("cancelled after {:.1} s", started.elapsed().as_secs_f64());
                return false;
            }
            Some(Err(join)) => {
                eprintln!("error: the query stopped: {join}");
                return false;
            }
            Some(Ok(Err(e))) => {
                match e.downcast::<Error>() {
                    Ok(e) => print_query_error(&e, sql),
                    Err(e) => {
                        eprintln!("error: {}", crate::error_text(&e));
                        1
                    }
                };
                return false;
            }
            Some(Ok(Ok(done))) => done,
        };
        let (outcome, s) = outcome;
        let text = self.show(outcome, &s, started.elapsed());
        self.print(&text);
        if let Some(hint) = s.hint(ctlake_query::LARGE_SCAN_BYTES) {
            eprintln!("{hint} (or \\from -7d)");
        }
        true
    }

    /// What the screen shows for a finished query: its rows, or where they went, and with
    /// `\timing` what it read.
    fn show(&self, outcome: Outcome, s: &ScanStatistics, elapsed: std::time::Duration) -> String {
        let (width, _) = terminal();
        let mut text = match outcome {
            Outcome::Rows {
                schema,
                batches,
                rows,
            } => {
                let body = match render::cells(&batches) {
                    Ok(cells) => render::render(&schema, &cells, width, self.settings.expanded),
                    Err(e) => format!("error: {}", crate::error_text(&e)),
                };
                let shown: usize = batches.iter().map(|b| b.num_rows()).sum();
                let footer = if (shown as u64) < rows {
                    format!(
                        "({} rows; showing the first {}: \\o FILE writes them all)",
                        count(rows),
                        count(shown as u64)
                    )
                } else if rows == 1 {
                    "(1 row)".to_string()
                } else {
                    format!("({} rows)", count(rows))
                };
                format!("{body}\n{footer}")
            }
            Outcome::Text { text } => String::from_utf8_lossy(&text).trim_end().to_string(),
            Outcome::File { rows } => format!(
                "({} rows written to {})",
                count(rows),
                self.settings
                    .output
                    .as_deref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            ),
        };
        if self.settings.timing && s.remote {
            text.push_str(&format!(
                "\nTime: {:.3} s on the cluster (its executors keep the scan counters)",
                elapsed.as_secs_f64()
            ));
        } else if self.settings.timing {
            text.push_str(&format!(
                "\nTime: {:.3} s; scanned {} of {} files in {} partitions, {}, {} events{}",
                elapsed.as_secs_f64(),
                count(s.files_scanned),
                count(s.files_total),
                count(s.partitions_scanned),
                bytes(s.bytes_scanned),
                count(s.rows_scanned),
                skipped(s)
            ));
        }
        text
    }

    /// Prints text, through the pager when it is taller than the terminal.
    fn print(&self, text: &str) {
        let (_, height) = terminal();
        let tall = text.lines().count() + 2 > height;
        if self.settings.pager && tall && io::stdout().is_terminal() && page(text) {
            return;
        }
        let mut out = io::stdout().lock();
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    }
}

/// What a finished query produced.
enum Outcome {
    /// A table's rows (at most [`MAX_SHOWN`]) and the full count.
    Rows {
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
        rows: u64,
    },
    /// Formatted output for the screen.
    Text { text: Vec<u8> },
    /// Written to the `\o` file.
    File { rows: u64 },
}

/// Runs a query to its end (this is the part Ctrl-C aborts); returns what it produced and
/// what it read.
async fn collect(
    lake: &Lake,
    frame: DataFrame,
    format: Format,
    output: Option<&Path>,
    started: Instant,
) -> anyhow::Result<(Outcome, ScanStatistics)> {
    if let Some(path) = output {
        let file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        let mut w = io::BufWriter::new(file);
        let written = output::write(lake, frame, format, &mut w, started, false).await?;
        w.flush()?;
        let rows = written.rows;
        return Ok((Outcome::File { rows }, written.statistics));
    }
    if format != Format::Table {
        let mut text = Vec::new();
        let written = output::write(lake, frame, format, &mut text, started, true).await?;
        return Ok((Outcome::Text { text }, written.statistics));
    }
    let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
    let mut stream = lake.execute(frame).await?;
    let (mut batches, mut rows, mut shown) = (Vec::new(), 0u64, 0usize);
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        rows += batch.num_rows() as u64;
        let room = MAX_SHOWN - shown;
        if room > 0 {
            let keep = batch.slice(0, batch.num_rows().min(room));
            shown += keep.num_rows();
            batches.push(keep);
        }
    }
    let outcome = Outcome::Rows {
        schema,
        batches,
        rows,
    };
    Ok((outcome, stream.statistics()))
}

/// The terminal's width and height, or 120 x 40 when there is none.
fn terminal() -> (usize, usize) {
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse().ok());
    match terminal_size::terminal_size() {
        Some((w, h)) => (w.0 as usize, h.0 as usize),
        None => (env("COLUMNS").unwrap_or(120), env("LINES").unwrap_or(40)),
    }
}

/// Shows `text` in `$PAGER` (default `less -SRFX`); false when no pager could run.
fn page(text: &str) -> bool {
    let pager = std::env::var("PAGER")
        .ok()
        .filter(|p| !p.trim().is_empty())
        .unwrap_or_else(|| "less -SRFX".to_string());
    let child = std::process::Command::new("sh")
        .arg("-c")
        .arg(&pager)
        .stdin(std::process::Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        return false;
    };
    if let Some(mut stdin) = child.stdin.take() {
        // The reader may quit early (`q` in less): a broken pipe is the normal end.
        let _ = writeln!(stdin, "{text}");
    }
    matches!(child.wait(), Ok(status) if status.code() != Some(127))
}
