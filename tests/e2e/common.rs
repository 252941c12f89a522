//! Helpers: run the binary, compute expectations independently, read a lake back.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use arrow::array::{Array, AsArray};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// The `ctlake` command under test.
pub fn ctlake() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ctlake-e2e"));
    c.env_remove("CTLAKE_LAKE");
    c.env_remove("CTLAKE_QUERIES");
    c
}

/// The result of one run.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(args: &[&str]) -> Run {
    run_env(args, &[])
}

/// Runs ctlake with extra environment variables.
pub fn run_env(args: &[&str], env: &[(&str, &Path)]) -> Run {
    let mut c = ctlake();
    for (k, v) in env {
        c.env(k, v);
    }
    let out: Output = c.args(args).output().expect("run ctlake");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Ingests `sources` into `lake`, asserting the exit code.
pub fn ingest(lake: &Path, sources: &[&Path], expect_code: i32) -> Run {
    let mut args = vec![
        "ingest".to_string(),
        "--lake".into(),
        lake.display().to_string(),
    ];
    args.extend(sources.iter().map(|s| s.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = run(&args);
    assert_eq!(
        r.code, expect_code,
        "ingest exit code\nstdout:\n{}\nstderr:\n{}",
        r.stdout, r.stderr
    );
    r
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repo root")
        .to_path_buf()
}

/// `../shared/corpora/<name>` when present; otherwise prints why the test is skipped.
pub fn corpus(name: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("CTLAKE_CORPORA")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared/corpora"))
        .join(name);
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "SKIP: corpus {} not found (the shared corpora sit beside the project root; set CTLAKE_CORPORA to use another place)",
            dir.display()
        );
        None
    }
}

/// What the independent Python reader (`tests/scripts/expected.py`) says a lake of these
/// sources must hold.
pub struct Expected {
    pub events: u64,
    pub rejects: u64,
    pub partitions: BTreeMap<String, u64>,
    pub by_file: BTreeMap<String, Vec<Option<String>>>,
}

pub fn expected(sources: &[&Path]) -> Expected {
    let script = repo_root().join("tests/scripts/expected.py");
    let out = Command::new("python3")
        .arg(script)
        .args(sources)
        .output()
        .expect("python3 is needed by the end-to-end tests");
    assert!(
        out.status.success(),
        "expected.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("expected.py prints JSON");
    Expected {
        events: v["events"].as_u64().unwrap(),
        rejects: v["rejects"].as_u64().unwrap(),
        partitions: v["partitions"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, n)| (k.clone(), n.as_u64().unwrap()))
            .collect(),
        by_file: v["by_file"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, ids)| {
                let ids = ids
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|i| i.as_str().map(str::to_string))
                    .collect();
                (k.clone(), ids)
            })
            .collect(),
    }
}

impl Expected {
    /// Events per region, summed over the partitions.
    pub fn by_region(&self) -> BTreeMap<String, u64> {
        let mut want: BTreeMap<String, u64> = BTreeMap::new();
        for (part, n) in &self.partitions {
            let region = part
                .split('/')
                .next()
                .unwrap()
                .trim_start_matches("region=");
            *want.entry(region.to_string()).or_default() += n;
        }
        want
    }
}

/// `name,count` lines as a map.
pub fn counts<'a>(lines: impl Iterator<Item = &'a str>) -> BTreeMap<String, u64> {
    lines
        .map(|l| {
            let (name, n) = l.rsplit_once(',').unwrap();
            (name.to_string(), n.parse().unwrap())
        })
        .collect()
}

/// Every Parquet file a plain directory reader (DuckDB, Spark) sees under the table.
pub fn table_files(lake: &Path) -> Vec<PathBuf> {
    files_under(&lake.join("cloudtrail"))
}

/// Every file under `dir`, sorted (none if `dir` does not exist).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The data files the commit log names (what ctlake's readers see), relative to the lake.
pub fn committed_files(lake: &Path) -> Vec<PathBuf> {
    let mut live = std::collections::BTreeSet::new();
    let Ok(entries) = std::fs::read_dir(lake.join("_ctlake/log")) else {
        return Vec::new();
    };
    // `name#N` is the object store's temporary file of a write a kill interrupted: not an
    // entry, and ctlake's readers do not list it either.
    let mut names: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| !p.to_string_lossy().contains('#'))
        .collect();
    names.sort();
    for n in names {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&n).unwrap()).unwrap();
        for r in v["remove"].as_array().into_iter().flatten() {
            live.remove(r.as_str().unwrap());
        }
        for a in v["add"].as_array().unwrap() {
            live.insert(a["path"].as_str().unwrap().to_string());
        }
    }
    live.into_iter().map(|p| lake.join(p)).collect()
}

/// One string column of a data file.
pub fn column(file: &Path, name: &str) -> Vec<Option<String>> {
    let f = File::open(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let b = ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap_or_else(|e| panic!("{} is not a readable Parquet file: {e}", file.display()));
    let mask = ProjectionMask::columns(b.parquet_schema(), [name]);
    let mut out = Vec::new();
    for batch in b.with_projection(mask).build().unwrap() {
        let batch = batch.unwrap();
        let col = batch.column(0).as_string::<i32>();
        for i in 0..col.len() {
            out.push(col.is_valid(i).then(|| col.value(i).to_string()));
        }
    }
    out
}

/// `region=r/date=d` of a data file.
pub fn partition_of(file: &Path) -> String {
    let dir = file.parent().unwrap();
    format!(
        "{}/{}",
        dir.parent().unwrap().file_name().unwrap().to_string_lossy(),
        dir.file_name().unwrap().to_string_lossy()
    )
}

/// Rows per partition as read from the given data files.
pub fn rows_by_partition(files: &[PathBuf]) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for f in files {
        *m.entry(partition_of(f)).or_default() += column(f, "eventid").len() as u64;
    }
    m
}

/// Every (partition, eventid) stored, sorted.
pub fn stored_ids(files: &[PathBuf]) -> Vec<(String, String)> {
    let mut v = Vec::new();
    for f in files {
        let p = partition_of(f);
        for id in column(f, "eventid") {
            v.push((p.clone(), id.unwrap_or_default()));
        }
    }
    v.sort();
    v
}

/// `ctlake info --json`.
pub fn info(lake: &Path) -> serde_json::Value {
    let r = run(&["info", "--json", "--lake", &lake.display().to_string()]);
    assert_eq!(r.code, 0, "info failed: {}", r.stderr);
    serde_json::from_str(&r.stdout).expect("info --json prints JSON")
}

/// Whether Python has DuckDB; when not, says the test is skipped (and fails instead when
/// `CTLAKE_REQUIRE_DUCKDB` is set).
pub fn duckdb_available() -> bool {
    let probe = Command::new("python3")
        .args(["-c", "import duckdb"])
        .output();
    if probe.is_ok_and(|o| o.status.success()) {
        return true;
    }
    assert!(
        std::env::var_os("CTLAKE_REQUIRE_DUCKDB").is_none(),
        "CTLAKE_REQUIRE_DUCKDB is set but the duckdb Python package is missing"
    );
    eprintln!("SKIP: the duckdb Python package is not installed (pip install duckdb)");
    false
}

/// Runs Python with DuckDB, or says why not. CI sets `CTLAKE_REQUIRE_DUCKDB=1` so that a
/// missing DuckDB fails instead of skipping.
pub fn duckdb(script: &str) -> Option<String> {
    if !duckdb_available() {
        return None;
    }
    let out = Command::new("python3")
        .args(["-c", script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "duckdb script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Writes `text` gzipped.
pub fn write_gz(path: &Path, text: &str) {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(text.as_bytes()).unwrap();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, enc.finish().unwrap()).unwrap();
}

/// A minimal valid record.
pub fn record(id: &str, region: &str, time: &str) -> String {
    format!(
        r#"{{"eventVersion":"1.08","userIdentity":{{"type":"IAMUser","userName":"t"}},"eventTime":"{time}","eventSource":"s3.amazonaws.com","eventName":"ListBuckets","awsRegion":"{region}","sourceIPAddress":"192.0.2.1","eventID":"{id}","readOnly":true}}"#
    )
}

/// Generated deliveries (`ctlake generate`): `events` distinct events, none delivered twice,
/// over two days, two regions and two accounts, one file per 5 minutes.
pub fn deliveries(dir: &Path, events: &str, seed: &str) -> PathBuf {
    deliveries_in(dir, events, seed, "2")
}

/// [`deliveries`] over `regions` regions.
pub fn deliveries_in(dir: &Path, events: &str, seed: &str, regions: &str) -> PathBuf {
    let src = dir.join("src");
    let g = run(&[
        "generate",
        "--out",
        src.to_str().unwrap(),
        "--events",
        events,
        "--days",
        "2",
        "--regions",
        regions,
        "--accounts",
        "2",
        "--duplicate-rate",
        "0",
        "--seed",
        seed,
    ]);
    assert_eq!(g.code, 0, "{}", g.stderr);
    src.canonicalize().unwrap()
}

/// The bundled sample ingested into a fresh lake, with what the oracle expects of it.
pub fn sample_lake() -> (tempfile::TempDir, PathBuf, Expected) {
    let data = repo_root().join("data");
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    ingest(&lake, &[&data], 0);
    let expected = expected(&[&data]);
    (dir, lake, expected)
}

/// The user agent of [`hostile_lake`]'s one event: erase the screen, write the clipboard
/// (OSC 52), set the title, return the carriage, reverse the text, raw HTML.
pub const HOSTILE_AGENT: &str =
    "evil\u{1b}[2J\u{1b}]52;c;aGk=\u{7}\u{1b}]0;title\u{7}\r\u{202e}gpj|<b>x</b>";

/// [`HOSTILE_AGENT`] as the human-facing outputs must show it.
pub const HOSTILE_SHOWN: &str = "evil\\x1b[2J\\x1b]52;c;aGk=\\x07\\x1b]0;title\\x07\\r\\u{202e}gpj";

/// A lake of one root-user event (so the security report shows it) whose user agent holds
/// terminal escape sequences.
pub fn hostile_lake(dir: &Path) -> PathBuf {
    let record = serde_json::json!({
        "eventVersion": "1.08",
        "userIdentity": {"type": "Root", "arn": "arn:aws:iam::111122223333:root"},
        "eventTime": "2026-11-01T00:00:00Z",
        "eventSource": "s3.amazonaws.com",
        "eventName": "ListBuckets",
        "eventType": "AwsApiCall",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "192.0.2.1",
        "eventID": "e-hostile",
        "readOnly": true,
        "userAgent": HOSTILE_AGENT,
    });
    let src = dir.join("hostile");
    write_gz(
        &src.join("a.json.gz"),
        &serde_json::json!({"Records": [record]}).to_string(),
    );
    let lake = dir.join("hostile-lake");
    ingest(&lake, &[&src], 0);
    lake
}

/// Ingests `src` without compaction, `batch_files` delivery files per commit: a lake of many
/// small files.
pub fn fragmented_lake(lake: &Path, src: &Path, batch_files: &str) {
    let r = run(&[
        "ingest",
        "--quiet",
        "--no-compact",
        "--batch-files",
        batch_files,
        "--lake",
        lake.to_str().unwrap(),
        src.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

/// `ctlake query --format FORMAT` over the lake; the query must succeed.
pub fn query_as(lake: &Path, format: &str, sql: &str) -> String {
    let r = run(&[
        "query",
        "--format",
        format,
        "--lake",
        lake.to_str().unwrap(),
        sql,
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.stdout
}

/// A count as the CLI prints it (`3,036`), computed here, not by the code under test.
pub fn count_text(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// What a Python script prints, run with `args` (an independent count or reading).
pub fn python_args(script: &str, args: &[&Path]) -> String {
    let out = Command::new("python3")
        .args(["-c", script])
        .args(args)
        .output()
        .expect("python3 is needed by the end-to-end tests");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Runs a Python script with `input` on its stdin and returns what it prints: the independent
/// reader of what ctlake writes (csv, hashes).
pub fn python_with_input(script: &str, input: &[u8]) -> String {
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 is needed by the end-to-end tests");
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "python failed: {script}");
    String::from_utf8(out.stdout).unwrap()
}

/// A loopback port nothing listens on (for a server a test starts).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Waits up to a minute for `what` to listen on the loopback `port`.
pub fn wait_for_port(port: u16, what: &str) {
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "{what} did not listen on {port}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
