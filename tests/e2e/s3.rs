//! S3: a trail bucket as the source and a bucket as the lake, against a real S3-compatible
//! server (moto's, started on a free loopback port), never a mock. The server's access log
//! counts the requests a run makes. Expected values come from the Python oracle over the same
//! files kept locally, and the S3 lake is checked by downloading its committed files and
//! reading them with the Parquet reader, not with ctlake.
//!
//! Without `moto_server` the tests say `SKIP:`; CI sets `CTLAKE_REQUIRE_S3=1`, which makes a
//! missing server a failure.

use std::collections::BTreeSet;
use std::io::{BufRead, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::common::*;

/// A moto S3 server on a free loopback port, stopped when dropped.
pub struct S3Server {
    child: Child,
    pub endpoint: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

fn moto_command() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CTLAKE_MOTO_SERVER") {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("moto_server"))
            .find(|p| p.is_file())
    })
}

impl S3Server {
    /// Starts a server, or says why the test is skipped (`None`).
    pub fn start() -> Option<Self> {
        let Some(moto) = moto_command() else {
            assert!(
                std::env::var_os("CTLAKE_REQUIRE_S3").is_none(),
                "CTLAKE_REQUIRE_S3 is set but moto_server was not found (pip install 'moto[server]')"
            );
            eprintln!(
                "SKIP: moto_server not found (pip install 'moto[server]', or set CTLAKE_MOTO_SERVER)"
            );
            return None;
        };
        let port = free_port();
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("access.log");
        let child = Command::new(&moto)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", moto.display()));
        let endpoint = format!("http://127.0.0.1:{port}");
        wait_for_port(port, "moto_server");
        Some(Self {
            child,
            endpoint,
            log,
            _dir: dir,
        })
    }

    /// The environment a user of this server sets.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ]
    }

    /// A ctlake command with this server's environment.
    pub fn command(&self) -> Command {
        let mut c = ctlake();
        for (k, v) in self.env() {
            c.env(k, v);
        }
        c
    }

    /// Runs ctlake against this server.
    pub fn run(&self, args: &[&str]) -> Run {
        output(self.command().args(args))
    }

    fn store(&self, bucket: &str) -> Arc<dyn ObjectStore> {
        Arc::new(
            AmazonS3Builder::new()
                .with_bucket_name(bucket)
                .with_region("us-east-1")
                .with_endpoint(&self.endpoint)
                .with_allow_http(true)
                .with_access_key_id("testing")
                .with_secret_access_key("testing")
                .build()
                .unwrap(),
        )
    }

    /// Creates a bucket (a plain `PUT /bucket`, which moto accepts unsigned).
    pub fn create_bucket(&self, bucket: &str) {
        let addr = self.endpoint.trim_start_matches("http://");
        let mut s = TcpStream::connect(addr).unwrap();
        write!(
            s,
            "PUT /{bucket} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut status = String::new();
        std::io::BufReader::new(s).read_line(&mut status).unwrap();
        assert!(status.contains(" 200 "), "create bucket {bucket}: {status}");
    }

    /// Uploads every file under `dir` to `bucket`, keyed by its path below `dir`.
    pub fn upload(&self, bucket: &str, dir: &Path) -> usize {
        self.put_tree(bucket, dir, false)
    }

    /// Uploads a signed trail copy as CloudTrail keeps it: each `<digest>.sig` is not an
    /// object but its digest's `x-amz-meta-signature`.
    pub fn upload_trail(&self, bucket: &str, dir: &Path) -> usize {
        self.put_tree(bucket, dir, true)
    }

    /// Uploads the files under `dir`; with `signatures`, a `<file>.sig` becomes its file's
    /// `x-amz-meta-signature` instead of an object.
    fn put_tree(&self, bucket: &str, dir: &Path, signatures: bool) -> usize {
        use object_store::{Attribute, Attributes, PutOptions};
        let store = self.store(bucket);
        let files: Vec<PathBuf> = files_under(dir)
            .into_iter()
            .filter(|f| !signatures || f.extension().is_none_or(|e| e != "sig"))
            .collect();
        tokio_rt().block_on(async {
            for f in &files {
                let key = f
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                let mut attributes = Attributes::new();
                let sig = PathBuf::from(format!("{}.sig", f.display()));
                if let Some(signature) = signatures
                    .then(|| std::fs::read_to_string(&sig).ok())
                    .flatten()
                {
                    attributes.insert(Attribute::Metadata("signature".into()), signature.into());
                    attributes.insert(
                        Attribute::Metadata("signature-algorithm".into()),
                        "SHA256withRSA".into(),
                    );
                }
                let opts = PutOptions {
                    attributes,
                    ..Default::default()
                };
                store
                    .put_opts(
                        &ObjectPath::from(key.as_str()),
                        PutPayload::from(std::fs::read(f).unwrap()),
                        opts,
                    )
                    .await
                    .unwrap();
            }
        });
        files.len()
    }

    /// Copies every object under `prefix` of `bucket` into `dir`, so a lake on S3 can be
    /// checked with the same file readers as a local one.
    pub fn download(&self, bucket: &str, prefix: &str, dir: &Path) -> usize {
        let store = self.store(bucket);
        tokio_rt().block_on(async {
            let p = ObjectPath::from(prefix);
            let objects: Vec<_> = store.list(Some(&p)).try_collect().await.unwrap();
            for o in &objects {
                let key = o.location.to_string();
                let rel = key.strip_prefix(prefix).unwrap().trim_start_matches('/');
                let to = dir.join(rel);
                std::fs::create_dir_all(to.parent().unwrap()).unwrap();
                let bytes = store.get(&o.location).await.unwrap().bytes().await.unwrap();
                std::fs::write(to, bytes).unwrap();
            }
            objects.len()
        })
    }

    /// Deletes one object.
    pub fn delete(&self, bucket: &str, key: &str) {
        let store = self.store(bucket);
        tokio_rt().block_on(async { store.delete(&ObjectPath::from(key)).await.unwrap() });
    }

    /// The keys under `prefix`.
    pub fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let store = self.store(bucket);
        tokio_rt().block_on(async {
            let p = ObjectPath::from(prefix);
            let objects: Vec<_> = store.list(Some(&p)).try_collect().await.unwrap();
            objects
                .into_iter()
                .map(|o| o.location.to_string())
                .collect()
        })
    }

    /// Requests the server has logged so far (method and target), for counting.
    pub fn requests(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(strip_colour)
            .filter_map(|l| {
                let start = l.find('"')? + 1;
                let end = start + l[start..].find('"')?;
                Some(l[start..end].to_string())
            })
            .collect()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The server colours error lines of its log with terminal escapes.
fn strip_colour(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn output(c: &mut Command) -> Run {
    let out = c.output().expect("run ctlake");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Every (partition, eventid) the S3 lake at `s3://bucket/prefix` holds, read from its
/// committed files after downloading them; also asserts no committed file is missing.
fn s3_lake_ids(s3: &S3Server, bucket: &str, prefix: &str) -> Vec<(String, String)> {
    let dir = tempfile::tempdir().unwrap();
    s3.download(bucket, prefix, dir.path());
    let files = committed_files(dir.path());
    for f in &files {
        assert!(
            f.is_file(),
            "{} is in the log but not in the bucket",
            f.display()
        );
    }
    stored_ids(&files)
}

/// Generated deliveries in the AWS layout: `events` events, none delivered twice.
fn trail(dir: &Path, events: &str, days: &str, seed: &str) -> PathBuf {
    let src = dir.join("trail");
    let g = run(&[
        "generate",
        "--out",
        src.to_str().unwrap(),
        "--events",
        events,
        "--days",
        days,
        "--regions",
        "2",
        "--accounts",
        "2",
        "--duplicate-rate",
        "0",
        "--seed",
        seed,
        "--start",
        "2026-11-01",
    ]);
    assert_eq!(g.code, 0, "{}", g.stderr);
    src.canonicalize().unwrap()
}

fn json_field(stdout: &str, field: &str) -> u64 {
    let v: serde_json::Value = serde_json::from_str(stdout).expect("JSON");
    v[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} in {stdout}"))
}

/// S3 trail to a local lake, then again with nothing new (listed after the cursors, nothing
/// read), then with new deliveries (found, including a late one into an earlier day).
#[test]
fn s3_trail_to_local_lake_incrementally() {
    let Some(s3) = S3Server::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let src = trail(dir.path(), "4000", "3", "21");
    s3.create_bucket("trail");
    let objects = s3.upload("trail", &src);
    let want = expected(&[&src]);
    let lake = dir.path().join("lake");
    let lake_arg = lake.display().to_string();

    let r = s3.run(&["ingest", "--lake", &lake_arg, "s3://trail/AWSLogs/"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let ids = stored_ids(&committed_files(&lake));
    assert_eq!(ids.len() as u64, want.events);
    assert_eq!(rows_by_partition(&committed_files(&lake)), want.partitions);
    let info = info(&lake);
    assert_eq!(info["sources"].as_u64(), Some(objects as u64));

    // Nothing new: the region prefixes are listed after their cursors' day, nothing is read.
    let before = s3.requests().len();
    let r = s3.run(&["ingest", "--lake", &lake_arg, "s3://trail/AWSLogs/"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("0 ingested"), "{}", r.stdout);
    let rerun: Vec<String> = s3.requests()[before..].to_vec();
    let gets = rerun
        .iter()
        .filter(|r| r.starts_with("GET /trail/AWSLogs/") && !r.contains('?'))
        .count();
    assert_eq!(gets, 0, "a re-run read objects: {rerun:?}");
    let region_lists: Vec<&String> = rerun
        .iter()
        .filter(|r| {
            // The server logs targets decoded or not, depending on its version.
            let region_prefix = r.contains("/CloudTrail/") || r.contains("%2FCloudTrail%2F");
            r.contains("list-type=2") && region_prefix && !r.contains("delimiter")
        })
        .collect();
    // Two accounts × two regions, each listed once, from its cursor's day folder.
    assert_eq!(region_lists.len(), 4, "{rerun:#?}");
    for l in &region_lists {
        assert!(l.contains("start-after="), "listed without a cursor: {l}");
    }
    // The whole re-run: a handful of requests, not one per object.
    assert!(
        rerun.len() < 20,
        "{} requests for a no-op re-run: {rerun:#?}",
        rerun.len()
    );

    // New deliveries: a later day, and a late file into the last day already listed.
    let more = dir.path().join("more");
    let src2 = trail(&more, "600", "4", "22");
    let mut added = Vec::new();
    for f in files_under(&src2) {
        let key = f.strip_prefix(&src2).unwrap().to_string_lossy().to_string();
        if key.contains("/2026/11/04/") || (key.contains("/2026/11/03/") && added.len() < 200) {
            let to = dir.path().join("new").join(&key);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(&f, &to).unwrap();
            added.push(key);
        }
    }
    assert!(added.iter().any(|k| k.contains("/2026/11/03/")));
    assert!(added.iter().any(|k| k.contains("/2026/11/04/")));
    s3.upload("trail", &dir.path().join("new"));
    let both = expected(&[&src, &dir.path().join("new")]);
    let r = s3.run(&["ingest", "--lake", &lake_arg, "s3://trail/AWSLogs/"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(&format!("{} ingested", added.len())),
        "{}",
        r.stdout
    );
    let ids = stored_ids(&committed_files(&lake));
    assert_eq!(ids.len() as u64, both.events);
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), ids.len());
}

/// S3 to S3, and every read-side command on the S3 lake; local to S3 into the same lake
/// adds only what it lacks.
#[test]
fn s3_lake_read_and_written_by_every_command() {
    let Some(s3) = S3Server::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let src = trail(dir.path(), "3000", "2", "23");
    s3.create_bucket("trail");
    s3.create_bucket("lake");
    s3.upload("trail", &src);
    let expected = expected(&[&src]);
    let lake = "s3://lake/prod";

    let r = s3.run(&[
        "ingest",
        "--lake",
        lake,
        "--batch-files",
        "100",
        "s3://trail/AWSLogs/",
    ]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let ids = s3_lake_ids(&s3, "lake", "prod");
    assert_eq!(ids.len() as u64, expected.events);
    // Nothing of a run is left outside the table: no staging, no run marker, no pending marker.
    let meta: Vec<String> = s3.keys("lake", "prod/_ctlake");
    assert!(
        meta.iter()
            .all(|k| k.contains("/log/") || k.contains("/sources/") || k.ends_with("lake.json")),
        "{meta:#?}"
    );

    // Local to S3: the same events from local copies are duplicates of stored ones.
    let r = s3.run(&["ingest", "--lake", lake, &src.display().to_string()]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(
        s3_lake_ids(&s3, "lake", "prod").len() as u64,
        expected.events
    );

    let r = s3.run(&["info", "--json", "--lake", lake]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(json_field(&r.stdout, "events"), expected.events);

    let r = s3.run(&[
        "query",
        "--lake",
        lake,
        "--format",
        "csv",
        "SELECT count(*) AS n, count(DISTINCT eventid) AS d FROM cloudtrail",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout.trim(),
        format!("n,d\n{},{}", expected.events, expected.events)
    );
    // Partition pruning works on S3 as locally: a region's count from the oracle.
    let (part, n) = expected.partitions.iter().next().unwrap();
    let region = part
        .split('/')
        .next()
        .unwrap()
        .trim_start_matches("region=");
    let date = part.split('/').nth(1).unwrap().trim_start_matches("date=");
    let r = s3.run(&[
        "query",
        "--lake",
        lake,
        "--format",
        "csv",
        &format!(
            "SELECT count(*) FROM cloudtrail WHERE region = '{region}' AND date = DATE '{date}'"
        ),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout.lines().nth(1), Some(n.to_string().as_str()));

    let r = s3.run(&[
        "lookup",
        "--lake",
        lake,
        "-a",
        "ReadOnly=false",
        "--from",
        "2026-10-01",
        "--to",
        "2026-12-01",
        "--max-results",
        "3",
        "--output",
        "json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["Events"].as_array().unwrap().len(), 3);

    let r = s3.run(&["saved", "--lake", lake]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("console-logins-without-mfa"),
        "{}",
        r.stdout
    );
    let r = s3.run(&[
        "query",
        "--lake",
        lake,
        "--saved",
        "top-event-names",
        "--from",
        "2026-10-01",
        "--to",
        "2026-12-01",
        "--format",
        "csv",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);

    let out = dir.path().join("report");
    let r = s3.run(&[
        "report",
        "--lake",
        lake,
        "--spec",
        "overview",
        "--from",
        "2026-10-01",
        "--to",
        "2026-12-01",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(out.join("index.html").is_file());

    let r = s3.run(&["compact", "--lake", lake]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        s3_lake_ids(&s3, "lake", "prod").len() as u64,
        expected.events
    );
    let r = s3.run(&[
        "query",
        "--lake",
        lake,
        "--format",
        "csv",
        "SELECT count(*) FROM cloudtrail",
    ]);
    assert_eq!(
        r.stdout.lines().nth(1),
        Some(expected.events.to_string().as_str())
    );
}

/// `kill -9` in the middle of an S3 ingest into an S3 lake, then a re-run: exactly the events
/// of an uninterrupted run; `vacuum` removes what the killed runs left.
#[test]
fn kill_9_during_an_s3_ingest_then_rerun_is_exact() {
    let Some(s3) = S3Server::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let src = trail(dir.path(), "6000", "2", "24");
    s3.create_bucket("trail");
    s3.create_bucket("lake");
    s3.upload("trail", &src);
    let expected = expected(&[&src]);
    let lake = "s3://lake/k";
    let mut crashed_with_commits = 0;
    for delay_ms in [300u64, 800, 1500, 2500] {
        let mut child = s3
            .command()
            .args([
                "ingest",
                "--quiet",
                "--batch-files",
                "30",
                "--lake",
                lake,
                "s3://trail/AWSLogs/",
            ])
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        let ids = s3_lake_ids(&s3, "lake", "k");
        let distinct: BTreeSet<&(String, String)> = ids.iter().collect();
        assert_eq!(
            distinct.len(),
            ids.len(),
            "an event stored twice after a kill at {delay_ms} ms"
        );
        if !ids.is_empty() && (ids.len() as u64) < expected.events {
            crashed_with_commits += 1;
        }
    }
    let r = s3.run(&["ingest", "--lake", lake, "s3://trail/AWSLogs/"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let ids = s3_lake_ids(&s3, "lake", "k");
    assert_eq!(ids.len() as u64, expected.events);
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), ids.len());
    assert!(
        crashed_with_commits > 0,
        "no kill landed between two commits; the corpus is too small for this machine"
    );
    // What the killed runs wrote but never committed is removed by vacuum (a writer would
    // wait an hour); afterwards the table holds exactly the committed files.
    let r = s3.run(&["vacuum", "--lake", lake, "--older-than", "0s"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let dl = tempfile::tempdir().unwrap();
    s3.download("lake", "k", dl.path());
    assert_eq!(
        table_files(dl.path()).into_iter().collect::<BTreeSet<_>>(),
        committed_files(dl.path())
            .into_iter()
            .collect::<BTreeSet<_>>(),
        "files left behind after vacuum: {}",
        r.stdout
    );
    assert_eq!(s3_lake_ids(&s3, "lake", "k").len() as u64, expected.events);
}

/// Two ingests of the same trail into one S3 lake at the same time: they race for each log
/// entry, and the loser drops what the winner stored, so every event is stored once.
#[test]
fn two_concurrent_ingests_into_one_s3_lake_store_every_event_once() {
    let Some(s3) = S3Server::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let src = trail(dir.path(), "4000", "2", "25");
    s3.create_bucket("trail");
    s3.create_bucket("lake");
    s3.upload("trail", &src);
    let expected = expected(&[&src]);
    let lake = "s3://lake/shared";
    // Both create the lake too: the identity is written with put-if-absent, so one wins.
    let spawn = || {
        let mut c = s3.command();
        c.args([
            "ingest",
            "--quiet",
            "--batch-files",
            "40",
            "--no-compact",
            "--lake",
            lake,
            "s3://trail/AWSLogs/",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let ids = s3_lake_ids(&s3, "lake", "shared");
    assert_eq!(
        ids.iter().collect::<BTreeSet<_>>().len(),
        ids.len(),
        "an event stored twice"
    );
    assert_eq!(ids.len() as u64, expected.events);
    let r = s3.run(&[
        "query",
        "--lake",
        lake,
        "--format",
        "csv",
        "SELECT count(*) FROM cloudtrail",
    ]);
    assert_eq!(
        r.stdout.lines().nth(1),
        Some(expected.events.to_string().as_str())
    );
    // One identity: the loser of the put-if-absent took the winner's.
    let identities: Vec<String> = s3
        .keys("lake", "shared/_ctlake")
        .into_iter()
        .filter(|k| k.ends_with("/lake.json"))
        .collect();
    assert_eq!(identities, ["shared/_ctlake/lake.json"]);
}

/// Globs on keys pick out one region of one account.
#[test]
fn globs_select_keys() {
    let Some(s3) = S3Server::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let src = trail(dir.path(), "2000", "2", "26");
    s3.create_bucket("trail");
    s3.upload("trail", &src);
    let account = std::fs::read_dir(src.join("AWSLogs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .min()
        .unwrap();
    let region_dir = src.join("AWSLogs").join(&account).join("CloudTrail");
    let region = std::fs::read_dir(&region_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .min()
        .unwrap();
    let one = region_dir.join(&region);
    let want = expected(&[&one]);
    let lake = dir.path().join("lake");
    let pattern = format!("s3://trail/AWSLogs/*/CloudTrail/{region}/2026/11/**");
    let r = s3.run(&["ingest", "--lake", lake.to_str().unwrap(), &pattern]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let files_in_region: usize = files_under(&src)
        .iter()
        .filter(|f| {
            f.to_string_lossy()
                .contains(&format!("/CloudTrail/{region}/"))
        })
        .count();
    assert!(
        r.stdout.contains(&format!("{files_in_region} ingested")),
        "{}",
        r.stdout
    );
    // Both accounts' files of that region; the oracle counted one account's.
    assert!(stored_ids(&committed_files(&lake)).len() as u64 > want.events);
}

/// The error lines a user meets: each one line that says what to fix, never a stack of
/// wrapped client errors.
#[test]
fn s3_errors_are_one_clear_line() {
    let Some(s3) = S3Server::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let lake = lake.to_str().unwrap();

    let r = s3.run(&["ingest", "--lake", lake, "s3://no-such-bucket/AWSLogs/"]);
    assert_eq!(r.code, 1);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("s3://no-such-bucket/AWSLogs/") && r.stderr.contains("no such bucket"),
        "{}",
        r.stderr
    );

    s3.create_bucket("empty");
    let r = s3.run(&["ingest", "--lake", lake, "s3://empty/AWSLogs/"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("no such file or folder: s3://empty/AWSLogs/"),
        "{}",
        r.stderr
    );

    let r = s3.run(&["query", "--lake", "s3://empty/nolake", "SELECT 1"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("no lake here"), "{}", r.stderr);

    // No credentials anywhere (and no instance metadata to ask).
    let mut c = ctlake();
    c.env("AWS_ENDPOINT_URL", &s3.endpoint)
        .env("AWS_ALLOW_HTTP", "true")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("HOME", dir.path())
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_PROFILE");
    let r = output(c.args(["ingest", "--lake", lake, "s3://empty/AWSLogs/"]));
    assert_eq!(r.code, 1);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("no AWS credentials found"),
        "{}",
        r.stderr
    );

    // A profile from the shared files works where the environment has no keys.
    let aws = dir.path().join(".aws");
    std::fs::create_dir_all(&aws).unwrap();
    std::fs::write(
        aws.join("credentials"),
        "[audit]\naws_access_key_id = testing\naws_secret_access_key = testing\n",
    )
    .unwrap();
    std::fs::write(
        aws.join("config"),
        format!(
            "[profile audit]\nregion = us-east-1\nendpoint_url = {}\n",
            s3.endpoint
        ),
    )
    .unwrap();
    let mut c = ctlake();
    c.env("AWS_ALLOW_HTTP", "true")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("HOME", dir.path())
        .env("AWS_PROFILE", "audit")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_ENDPOINT_URL");
    let r = output(c.args(["ingest", "--lake", lake, "s3://empty/AWSLogs/"]));
    assert!(
        r.stderr
            .contains("no such file or folder: s3://empty/AWSLogs/"),
        "{}",
        r.stderr
    );

    // An endpoint that does not answer.
    let port = free_port();
    let mut c = s3.command();
    c.env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"))
        .env("CTLAKE_S3_MAX_RETRIES", "1");
    let r = output(c.args(["ingest", "--lake", lake, "s3://trail/AWSLogs/"]));
    assert_eq!(r.code, 1);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(r.stderr.contains("does not answer"), "{}", r.stderr);
}
