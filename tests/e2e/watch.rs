//! `ctlake watch` as a user runs it: a watcher on a folder that deliveries keep arriving in,
//! alerts to a file and to a loopback webhook that fails its first posts, stopped with SIGTERM
//! and killed with SIGKILL and started again. The alerts expected are the planted events'
//! IDs, found by DuckDB over the delivered JSON, not by ctlake.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::*;

/// A loopback HTTP server that answers 500 to its first `fail_first` requests, then 200, and
/// keeps every request body it answered 200 to.
struct Receiver {
    url: String,
    received: Arc<Mutex<Vec<String>>>,
    failures: Arc<Mutex<u32>>,
}

impl Receiver {
    fn start(fail_first: u32) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let failures = Arc::new(Mutex::new(0));
        let (r, f) = (Arc::clone(&received), Arc::clone(&failures));
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (r, f) = (Arc::clone(&r), Arc::clone(&f));
                std::thread::spawn(move || serve(conn, fail_first, &r, &f));
            }
        });
        Self {
            url,
            received,
            failures,
        }
    }

    fn bodies(&self) -> Vec<serde_json::Value> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .map(|b| serde_json::from_str(b).unwrap())
            .collect()
    }
}

/// Answers the requests of one connection (keep-alive).
fn serve(
    conn: std::net::TcpStream,
    fail_first: u32,
    received: &Mutex<Vec<String>>,
    failures: &Mutex<u32>,
) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut writer = conn;
    loop {
        let mut length = 0usize;
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            if h == "\r\n" {
                break;
            }
            if let Some((k, v)) = h.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let fail = {
            let mut n = failures.lock().unwrap();
            *n += 1;
            *n <= fail_first
        };
        let status = if fail {
            "500 Internal Server Error"
        } else {
            received
                .lock()
                .unwrap()
                .push(String::from_utf8(body).unwrap());
            "200 OK"
        };
        if write!(writer, "HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n").is_err() {
            return;
        }
    }
}

/// A generated trail (`ctlake generate` with `args`) in `<dir>/gen`.
fn generate(dir: &Path, args: &[&str]) -> PathBuf {
    let out = dir.join("gen");
    let mut all = vec!["generate", "--out", out.to_str().unwrap()];
    all.extend_from_slice(args);
    let r = run(&all);
    assert_eq!(r.code, 0, "{}", r.stderr);
    out
}

fn wait_until(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn state(lake: &Path) -> serde_json::Value {
    std::fs::read_to_string(lake.join("_ctlake/watch/state.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(serde_json::Value::Null)
}

fn start_watch(src: &Path, lake: &Path, hook: &str, alerts: &Path, spec: &Path) -> Child {
    ctlake()
        .args([
            "watch",
            src.to_str().unwrap(),
            "--lake",
            lake.to_str().unwrap(),
            "--interval",
            "1s",
            "--webhook",
            hook,
            "--alerts",
            alerts.to_str().unwrap(),
            "--detections",
            spec.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn signal(child: &Child, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

/// The files of a delivery tree in time order (their names carry the delivery time), in
/// `parts` groups.
fn batches(tree: &Path, parts: usize) -> Vec<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = files_under(tree)
        .into_iter()
        .filter(|f| f.to_string_lossy().ends_with(".json.gz"))
        .collect();
    let stamp = |f: &PathBuf| {
        f.file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .split('_')
            .nth(3)
            .unwrap_or("")
            .to_string()
    };
    files.sort_by_key(stamp);
    let per = files.len().div_ceil(parts);
    files.chunks(per).map(|c| c.to_vec()).collect()
}

fn deliver(files: &[PathBuf], from: &Path, to: &Path) {
    for f in files {
        let target = to.join(f.strip_prefix(from).unwrap());
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        // Written under a temporary name and renamed, as a sync tool does.
        let tmp = target.with_extension("partial");
        std::fs::copy(f, &tmp).unwrap();
        std::fs::rename(&tmp, &target).unwrap();
    }
}

/// The alert IDs the two detections must raise over `src`, by DuckDB over the raw JSON.
fn expected_ids(src: &Path) -> Option<BTreeSet<String>> {
    let script = format!(
        "import sys\nsys.path.insert(0, {:?})\nimport slt_oracle\ncon = slt_oracle.load({:?})\n\
         checks = [('cloudtrail-tampering', \"eventsource = 'cloudtrail.amazonaws.com' AND eventname IN \
         ('StopLogging', 'DeleteTrail', 'UpdateTrail', 'PutEventSelectors', 'PutInsightSelectors')\"), \
         ('console-logins-without-mfa', \"eventname = 'ConsoleLogin' AND (additionaleventdata->>'MFAUsed') = 'No' \
         AND (responseelements->>'ConsoleLogin') = 'Success'\")]\n\
         for name, cond in checks:\n    for (i,) in con.sql('SELECT eventid FROM events WHERE ' + cond).fetchall():\n        print(name + ':' + i)",
        repo_root().join("tests/scripts").to_str().unwrap(),
        src.to_str().unwrap()
    );
    let out = duckdb(&script)?;
    Some(out.lines().map(str::to_string).collect())
}

fn spec(dir: &Path) -> PathBuf {
    let spec = dir.join("detections.toml");
    std::fs::write(
        &spec,
        "title = \"watch\"\n[[query]]\nname = \"cloudtrail-tampering\"\n[[query]]\nname = \"console-logins-without-mfa\"\n",
    )
    .unwrap();
    spec
}

/// A watcher's places under `dir`: the (empty) delivery folder, the lake, the alerts file and
/// the detections spec.
fn places(dir: &Path) -> (PathBuf, PathBuf, PathBuf, PathBuf) {
    let src = dir.join("in");
    std::fs::create_dir_all(&src).unwrap();
    (src, dir.join("lake"), dir.join("alerts.jsonl"), spec(dir))
}

fn ids_in_file(alerts: &Path) -> Vec<String> {
    std::fs::read_to_string(alerts)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[test]
fn a_watcher_follows_deliveries_and_alerts_each_detection_once() {
    let dir = tempfile::tempdir().unwrap();
    let generated = generate(
        dir.path(),
        &[
            "--events",
            "3000",
            "--days",
            "2",
            "--regions",
            "2",
            "--plant",
        ],
    );
    // A late delivery for an old day, with a StopLogging of its own.
    let late = dir.path().join("late");
    let mut stop = record("late-stop-1", "us-east-1", "2025-01-15T08:00:00Z");
    stop = stop
        .replace(
            "\"eventSource\":\"s3.amazonaws.com\"",
            "\"eventSource\":\"cloudtrail.amazonaws.com\"",
        )
        .replace(
            "\"eventName\":\"ListBuckets\"",
            "\"eventName\":\"StopLogging\"",
        );
    write_gz(
        &late.join("AWSLogs/111122223333/CloudTrail/us-east-1/2025/01/15/111122223333_CloudTrail_us-east-1_20250115T0805Z_late.json.gz"),
        &format!("{{\"Records\":[{stop}]}}"),
    );
    let (src, lake, alerts, spec) = places(dir.path());
    let hook = Receiver::start(3);
    let parts = batches(&generated, 3);

    // Round one: the first third; the webhook fails its first three posts, then takes them.
    let mut w = start_watch(&src, &lake, &hook.url, &alerts, &spec);
    deliver(&parts[0], &generated, &src);
    wait_until(
        "the first deliveries checked",
        Duration::from_secs(90),
        || state(&lake)["checked_seq"].as_u64().unwrap_or(0) >= 1,
    );
    // A second watcher on the same lake is refused.
    let second = run(&[
        "watch",
        src.to_str().unwrap(),
        "--lake",
        lake.to_str().unwrap(),
        "--once",
    ]);
    assert_ne!(second.code, 0);
    assert!(
        second
            .stderr
            .contains("another `ctlake watch` is already watching"),
        "{}",
        second.stderr
    );
    // SIGTERM: the current step finishes, exit 0.
    deliver(&parts[1], &generated, &src);
    std::thread::sleep(Duration::from_millis(1500));
    signal(&w, "-TERM");
    let status = w.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let mut err = String::new();
    w.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(err.contains("watch: round 1:"), "{err}");
    assert!(
        err.contains("failed (HTTP 500"),
        "the first posts fail: {err}"
    );

    // Restarted; the rest arrives, and the late file for an old day.
    let mut w = start_watch(&src, &lake, &hook.url, &alerts, &spec);
    deliver(&parts[2], &generated, &src);
    deliver(&files_under(&late), &late, &src);
    let want = expected_ids(&src);
    let want_n = want.as_ref().map_or(0, |w| w.len());
    wait_until("every alert delivered", Duration::from_secs(120), || {
        let s = state(&lake);
        let next = s["next_alert"].as_u64().unwrap_or(0);
        let done = |k: String| s["delivered"][k].as_u64().unwrap_or(0);
        want.is_some()
            && next > want_n as u64
            && done(format!("webhook:{}", hook.url)) + 1 == next
            && done(format!("file:{}", alerts.display())) + 1 == next
    });
    signal(&w, "-TERM");
    assert_eq!(w.wait().unwrap().code(), Some(0));

    // Exactly the planted detections, each once, in the file and at the webhook.
    let Some(want) = want else { return };
    assert!(
        want.contains("cloudtrail-tampering:late-stop-1"),
        "{want:?}"
    );
    let file_ids = ids_in_file(&alerts);
    assert_eq!(file_ids.iter().cloned().collect::<BTreeSet<_>>(), want);
    assert_eq!(file_ids.len(), want.len(), "an alert twice in the file");
    let posted: Vec<String> = hook
        .bodies()
        .iter()
        .map(|b| b["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(posted.iter().cloned().collect::<BTreeSet<_>>(), want);
    assert_eq!(posted.len(), want.len(), "an alert posted twice");
    assert!(
        *hook.failures.lock().unwrap() > 3,
        "the failed posts were made"
    );
    // The alert carries the event.
    let stop = hook
        .bodies()
        .into_iter()
        .find(|b| b["eventid"] == "late-stop-1")
        .unwrap();
    assert_eq!(stop["event_name"], "StopLogging");
    assert_eq!(stop["account"], serde_json::Value::Null);
    assert_eq!(stop["region"], "us-east-1");
    assert_eq!(stop["eventtime"], "2025-01-15T08:00:00");
    // The lake holds every delivered event once (the independent reader's count).
    assert_eq!(
        info(&lake)["events"].as_u64().unwrap(),
        expected(&[&src]).events
    );
}

#[test]
fn killed_watchers_lose_no_alert_and_check_no_event_twice() {
    let dir = tempfile::tempdir().unwrap();
    let generated = generate(
        dir.path(),
        &[
            "--events",
            "3000",
            "--days",
            "2",
            "--regions",
            "2",
            "--plant",
            "--seed",
            "11",
        ],
    );
    let (src, lake, alerts, spec) = places(dir.path());
    let hook = Receiver::start(0);
    let parts = batches(&generated, 4);
    for (i, part) in parts.iter().enumerate() {
        deliver(part, &generated, &src);
        let mut w = start_watch(&src, &lake, &hook.url, &alerts, &spec);
        // Killed at a different point each time: early, during the round, after it.
        std::thread::sleep(Duration::from_millis([300, 900, 1500, 2500][i % 4]));
        signal(&w, "-KILL");
        let _ = w.wait();
    }
    // A last, undisturbed watcher finishes the work.
    let mut w = start_watch(&src, &lake, &hook.url, &alerts, &spec);
    let Some(want) = expected_ids(&src) else {
        signal(&w, "-KILL");
        let _ = w.wait();
        return;
    };
    wait_until(
        "every alert delivered after the kills",
        Duration::from_secs(120),
        || {
            let s = state(&lake);
            let next = s["next_alert"].as_u64().unwrap_or(0);
            let done = |k: String| s["delivered"][k].as_u64().unwrap_or(0);
            next > want.len() as u64
                && done(format!("webhook:{}", hook.url)) + 1 == next
                && done(format!("file:{}", alerts.display())) + 1 == next
        },
    );
    signal(&w, "-TERM");
    assert_eq!(w.wait().unwrap().code(), Some(0));
    // No alert lost; each raised once (one alert number each); the file has each once (it
    // says how far it got); the webhook may have had one post repeated by a kill, never
    // more, and the repeat carries the same id.
    let s = state(&lake);
    assert_eq!(s["next_alert"].as_u64().unwrap() - 1, want.len() as u64);
    let file_ids = ids_in_file(&alerts);
    assert_eq!(file_ids.iter().cloned().collect::<BTreeSet<_>>(), want);
    assert_eq!(file_ids.len(), want.len());
    let mut posts: BTreeMap<String, usize> = BTreeMap::new();
    for b in hook.bodies() {
        *posts
            .entry(b["id"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    assert_eq!(posts.keys().cloned().collect::<BTreeSet<_>>(), want);
    let repeats: usize = posts.values().map(|n| n - 1).sum();
    assert!(repeats <= parts.len(), "{posts:?}");
    assert_eq!(
        info(&lake)["events"].as_u64().unwrap(),
        expected(&[&src]).events
    );
}

#[test]
fn a_watcher_from_s3_to_an_s3_lake() {
    let Some(s3) = crate::s3::S3Server::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let generated = generate(
        dir.path(),
        &[
            "--events",
            "2000",
            "--days",
            "1",
            "--regions",
            "2",
            "--plant",
            "--seed",
            "5",
        ],
    );
    let spec = spec(dir.path());
    let hook = Receiver::start(2);
    let parts = batches(&generated, 2);
    s3.create_bucket("trail");
    s3.create_bucket("lakes");
    let staged = dir.path().join("staged");
    for part in &parts {
        // The trail bucket receives the next deliveries; one round (as cron runs --once).
        deliver(part, &generated, &staged);
        s3.upload("trail", &staged);
        let r = s3.run(&[
            "watch",
            "s3://trail/AWSLogs/",
            "--lake",
            "s3://lakes/prod",
            "--once",
            "--webhook",
            &hook.url,
            "--detections",
            spec.to_str().unwrap(),
        ]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(r.stderr.contains("watch: round 1:"), "{}", r.stderr);
    }
    let Some(want) = expected_ids(&generated) else {
        return;
    };
    let posted: Vec<String> = hook
        .bodies()
        .iter()
        .map(|b| b["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(posted.iter().cloned().collect::<BTreeSet<_>>(), want);
    assert_eq!(posted.len(), want.len(), "an alert posted twice");
    let r = s3.run(&["info", "--json", "--lake", "s3://lakes/prod"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        v["events"].as_u64().unwrap(),
        expected(&[&generated]).events
    );
}

#[test]
fn a_first_watcher_on_a_full_lake_alerts_on_what_arrives_from_then_on() {
    let dir = tempfile::tempdir().unwrap();
    let generated = generate(
        dir.path(),
        &["--events", "1000", "--days", "1", "--plant", "--seed", "3"],
    );
    let lake = dir.path().join("lake");
    ingest(&lake, &[&generated], 0);
    let alerts = dir.path().join("alerts.jsonl");
    let spec = spec(dir.path());
    let watch_once = |src: &Path| {
        run(&[
            "watch",
            src.to_str().unwrap(),
            "--lake",
            lake.to_str().unwrap(),
            "--once",
            "--alerts",
            alerts.to_str().unwrap(),
            "--detections",
            spec.to_str().unwrap(),
        ])
    };
    // The planted StopLogging is already in the lake: no alert for it.
    let r = watch_once(&generated);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("the lake already holds 1 commit;"),
        "{}",
        r.stderr
    );
    assert!(ids_in_file(&alerts).is_empty());
    // A new delivery with a StopLogging of its own: one alert.
    let late = dir.path().join("late");
    let stop = record("new-stop-1", "us-east-1", "2026-11-02T08:00:00Z")
        .replace(
            "\"eventSource\":\"s3.amazonaws.com\"",
            "\"eventSource\":\"cloudtrail.amazonaws.com\"",
        )
        .replace(
            "\"eventName\":\"ListBuckets\"",
            "\"eventName\":\"StopLogging\"",
        );
    write_gz(
        &late.join("AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/02/111122223333_CloudTrail_us-east-1_20261102T0805Z_new.json.gz"),
        &format!("{{\"Records\":[{stop}]}}"),
    );
    let r = watch_once(&late);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        ids_in_file(&alerts),
        vec!["cloudtrail-tampering:new-stop-1".to_string()]
    );
}
