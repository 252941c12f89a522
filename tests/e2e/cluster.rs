//! The Ballista cluster: a scheduler and two executors started as separate `ctlake cluster`
//! processes on free loopback ports. Every query runs on the cluster and here, and the two
//! results must be the same rows; the per-region counts also equal the Python reader's. Then
//! the cluster loses its executors (the query must fail saying so, not run here), and a lake
//! on the loopback S3 server is read by executors that have only the S3 environment.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

/// A scheduler and two executors, killed when dropped. Their stderr goes to files in `dir`,
/// shown when a test fails.
pub struct LocalCluster {
    pub url: String,
    scheduler: Child,
    executors: Vec<Child>,
    dir: tempfile::TempDir,
}

impl LocalCluster {
    /// Starts the processes; executors get `env` (an S3 endpoint and keys, say).
    pub fn start(env: &[(&'static str, String)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let log = |name: &str| Stdio::from(std::fs::File::create(dir.path().join(name)).unwrap());
        let scheduler = ctlake()
            .args(["cluster", "scheduler", "--bind"])
            .arg(format!("127.0.0.1:{port}"))
            // Short, so that losing every executor fails a query in seconds.
            .args(["--executor-timeout", "5s"])
            .stdout(Stdio::null())
            .stderr(log("scheduler.log"))
            .spawn()
            .expect("start the scheduler");
        wait_for_port(port, "the scheduler");
        let mut executors = Vec::new();
        for i in 0..2 {
            let (flight, grpc) = (free_port(), free_port());
            let mut c = ctlake();
            c.envs(env.iter().map(|(k, v)| (k, v)));
            let child = c
                .args(["cluster", "executor", "--scheduler"])
                .arg(format!("127.0.0.1:{port}"))
                .arg("--bind")
                .arg(format!("127.0.0.1:{flight}"))
                .arg("--grpc-bind")
                .arg(format!("127.0.0.1:{grpc}"))
                .arg("--work-dir")
                .arg(dir.path().join(format!("work{i}")))
                .args(["--concurrent-tasks", "2", "--heartbeat", "1s"])
                .stdout(Stdio::null())
                .stderr(log(&format!("executor{i}.log")))
                .spawn()
                .expect("start an executor");
            executors.push(child);
            wait_for_port(flight, "an executor");
            wait_for_port(grpc, "an executor");
        }
        Self {
            url: format!("df://127.0.0.1:{port}"),
            scheduler,
            executors,
            dir,
        }
    }

    /// Waits until the executors have joined: until a query over `lake` runs (the scheduler
    /// refuses queries while no executor is alive).
    pub fn wait_ready(&self, lake: &str, env: &[(&'static str, String)]) {
        let started = Instant::now();
        loop {
            let mut c = ctlake();
            c.envs(env.iter().map(|(k, v)| (k, v)));
            let out = c
                .args(["query", "--lake", lake, "--cluster", &self.url, "SELECT 1"])
                .output()
                .expect("run ctlake");
            if out.status.success() {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the cluster did not become ready: {}\n{}",
                String::from_utf8_lossy(&out.stderr),
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The processes' stderr, for a failure message.
    pub fn logs(&self) -> String {
        let mut text = String::new();
        for name in ["scheduler.log", "executor0.log", "executor1.log"] {
            let log = std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(20).collect();
            text.push_str(&format!("--- {name}\n"));
            for line in tail.into_iter().rev() {
                text.push_str(line);
                text.push('\n');
            }
        }
        text
    }

    /// Stops the executors as an operator would (SIGTERM) and waits for them to exit.
    pub fn stop_executors(&mut self) {
        for e in &mut self.executors {
            let _ = Command::new("kill")
                .args(["-TERM", &e.id().to_string()])
                .status();
        }
        for e in &mut self.executors {
            let started = Instant::now();
            while e.try_wait().ok().flatten().is_none() {
                if started.elapsed() > Duration::from_secs(20) {
                    let _ = e.kill();
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        for c in self.executors.iter_mut().chain([&mut self.scheduler]) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `ctlake query --format csv` over `lake`, here or on `cluster`, with extra arguments
/// (`--saved NAME --param ...`); must succeed.
fn csv(
    lake: &str,
    cluster: Option<&LocalCluster>,
    args: &[&str],
    env: &[(&str, String)],
) -> String {
    let mut c = ctlake();
    c.envs(env.iter().map(|(k, v)| (k, v)));
    c.args(["query", "--format", "csv", "--lake", lake]);
    if let Some(cluster) = cluster {
        c.args(["--cluster", &cluster.url]);
    }
    let out = c.args(args).output().expect("run ctlake");
    assert!(
        out.status.success(),
        "query {args:?} on {:?} failed: {}\n{}",
        cluster.map(|c| &c.url),
        String::from_utf8_lossy(&out.stderr),
        cluster.map(LocalCluster::logs).unwrap_or_default()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The queries both ways must answer alike: aggregations, eventtime windows, map lookups
/// (also through the flat copies), json_extract_scalar, UNNEST, window functions, lambdas, a
/// join, a subquery, ctlake's own functions. Each orders its rows completely.
const QUERIES: &[&str] = &[
    "SELECT eventsource, eventname, count(*) AS n FROM cloudtrail GROUP BY 1, 2 ORDER BY n DESC, 1, 2",
    "SELECT awsregion, count(DISTINCT sourceipaddress) AS ips, min(eventtime) AS first, max(eventtime) AS last \
     FROM cloudtrail GROUP BY 1 ORDER BY 1",
    "SELECT date_trunc('hour', eventtime) AS hour, count(*) AS n FROM cloudtrail \
     WHERE eventtime >= (SELECT min(eventtime) FROM cloudtrail) + INTERVAL '1' DAY \
       AND eventtime < (SELECT max(eventtime) FROM cloudtrail) - INTERVAL '1' DAY \
     GROUP BY 1 ORDER BY 1",
    "SELECT element_at(requestparameters, 'bucketName') AS bucket, count(*) AS n FROM cloudtrail \
     WHERE element_at(requestparameters, 'bucketName') IS NOT NULL GROUP BY 1 ORDER BY n DESC, 1",
    "SELECT eventid, eventname FROM cloudtrail WHERE useridentity.accesskeyid = \
     (SELECT max(useridentity.accesskeyid) FROM cloudtrail) ORDER BY eventid",
    "SELECT json_extract_scalar(eventjson, '$.userIdentity.type') AS kind, count(*) AS n \
     FROM cloudtrail GROUP BY 1 ORDER BY n DESC, 1",
    "SELECT r.type, count(*) AS n FROM cloudtrail, UNNEST(resources) AS t(r) GROUP BY 1 ORDER BY n DESC, 1",
    "SELECT principal_name(useridentity) AS who, eventname, eventid, \
     row_number() OVER (PARTITION BY principal_name(useridentity) ORDER BY eventtime, eventid) AS nth \
     FROM cloudtrail WHERE errorcode IS NOT NULL ORDER BY who, nth",
    "SELECT eventid, transform(resources, r -> r.arn) AS arns, \
     filter(resources, r -> r.type LIKE 'AWS::S3::%') AS s3, \
     array_sort(transform(resources, r -> r.arn), (a, b) -> IF(a < b, 1, IF(a = b, 0, -1))) AS desc_arns \
     FROM cloudtrail WHERE cardinality(resources) > 0 ORDER BY eventid",
    "SELECT a.eventname, count(*) AS n FROM cloudtrail a \
     JOIN (SELECT eventid FROM cloudtrail WHERE errorcode IS NOT NULL) b ON a.eventid = b.eventid \
     GROUP BY 1 ORDER BY n DESC, 1",
    "SELECT additionaleventdata['MFAUsed'] AS mfa, responseelements['ConsoleLogin'] AS result, count(*) AS n \
     FROM cloudtrail WHERE eventname = 'ConsoleLogin' GROUP BY 1, 2 ORDER BY 1, 2",
    "SELECT region, date, count(*) AS n FROM cloudtrail GROUP BY 1, 2 ORDER BY 1, 2",
];

fn lines_sorted(text: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort_unstable();
    lines
}

#[test]
fn queries_and_saved_queries_on_a_cluster_equal_local_then_no_executors_is_an_error() {
    let (_dir, lake, expected) = sample_lake();
    let lake = lake.to_str().unwrap();
    let mut cluster = LocalCluster::start(&[]);
    cluster.wait_ready(lake, &[]);

    for sql in QUERIES {
        let here = csv(lake, None, &[sql], &[]);
        let there = csv(lake, Some(&cluster), &[sql], &[]);
        assert!(
            here.lines().count() > 1,
            "{sql} returned no rows here:\n{here}"
        );
        assert_eq!(there, here, "{sql}");
    }

    // Independent of both: events per region as the Python reader of the sample counts them.
    let per_region = csv(
        lake,
        Some(&cluster),
        &["SELECT awsregion, count(*) FROM cloudtrail GROUP BY 1 ORDER BY 1"],
        &[],
    );
    let got: std::collections::BTreeMap<String, u64> = per_region
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(','))
        .map(|(r, n)| (r.to_string(), n.parse().unwrap()))
        .collect();
    assert_eq!(got, expected.by_region());

    // Every saved query of the library, over the whole sample, with values for the required
    // parameters taken from the sample. Saved queries break ties as they like, so rows are
    // compared as sets.
    let top = |sql: &str| {
        csv(lake, None, &[sql], &[])
            .lines()
            .nth(1)
            .unwrap_or_default()
            .to_string()
    };
    let ip =
        top("SELECT sourceipaddress FROM cloudtrail GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1");
    let key = top(
        "SELECT useridentity.accesskeyid FROM cloudtrail WHERE useridentity.accesskeyid IS NOT NULL \
         GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1",
    );
    let arn = top(
        "SELECT useridentity.arn FROM cloudtrail WHERE useridentity.arn IS NOT NULL \
         GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1",
    );
    let bucket = top(
        "SELECT element_at(requestparameters, 'bucketName') FROM cloudtrail \
         WHERE element_at(requestparameters, 'bucketName') IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1",
    );
    let mut names: Vec<String> = std::fs::read_dir(repo_root().join("queries"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_suffix(".sql")
                .map(str::to_string)
        })
        .collect();
    names.sort();
    assert!(names.len() >= 30, "{names:?}");
    let mut with_rows = 0;
    for name in &names {
        let params = [
            format!("ip={ip}"),
            format!("access_key={key}"),
            format!("arn={arn}"),
            format!("resource={bucket}"),
        ];
        let mut args = vec![
            "--saved",
            name,
            "--from",
            "2000-01-01",
            "--to",
            "2100-01-01",
        ];
        let sql = std::fs::read_to_string(repo_root().join("queries").join(format!("{name}.sql")))
            .unwrap();
        for p in &params {
            let param = p.split_once('=').unwrap().0;
            if sql.contains(&format!("-- param: {param} ")) {
                args.extend(["--param", p]);
            }
        }
        let here = csv(lake, None, &args, &[]);
        let there = csv(lake, Some(&cluster), &args, &[]);
        assert_eq!(
            lines_sorted(&there),
            lines_sorted(&here),
            "saved query {name}"
        );
        with_rows += usize::from(here.lines().count() > 1);
    }
    // The comparison means something only if most queries find rows in the sample.
    assert!(
        with_rows >= names.len() / 2,
        "{with_rows} of {} saved queries found rows",
        names.len()
    );

    // The shell: `\connect` says where queries run, moves them, and brings them back.
    let mut shell = ctlake()
        .args(["shell", "--lake", lake])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the shell");
    let script = format!(
        "\\connect {}\nSELECT count(*) FROM cloudtrail;\n\\connect local\n\\connect\n",
        cluster.url
    );
    std::io::Write::write_all(shell.stdin.as_mut().unwrap(), script.as_bytes()).unwrap();
    let out = shell.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let on = format!("Queries run on the cluster {}.", cluster.url);
    let (before, after) = text.split_once(&on).unwrap_or_else(|| panic!("{text}"));
    assert!(!before.contains("Queries run here."), "{text}");
    assert!(after.contains(&expected.events.to_string()), "{text}");
    assert_eq!(after.matches("Queries run here.").count(), 2, "{text}");

    // No executor left: the query fails naming the cluster, and does not run here instead.
    cluster.stop_executors();
    // Past the scheduler's executor timeout, so the answer does not hang on whether the
    // executors' goodbyes arrived; --timeout keeps a wrong answer from hanging the test.
    std::thread::sleep(Duration::from_secs(6));
    let started = Instant::now();
    let r = run(&[
        "query",
        "--lake",
        lake,
        "--cluster",
        &cluster.url,
        "--timeout",
        "60s",
        "SELECT count(*) FROM cloudtrail",
    ]);
    assert_eq!(r.code, 1, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    assert!(
        r.stderr.contains(&format!(
            "cluster {}: no executor has been alive",
            cluster.url
        )),
        "{}",
        r.stderr
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn no_scheduler_is_one_clear_error() {
    let (_dir, lake, _) = sample_lake();
    let url = format!("df://127.0.0.1:{}", free_port());
    let r = run(&[
        "query",
        "--lake",
        lake.to_str().unwrap(),
        "--cluster",
        &url,
        "SELECT count(*) FROM cloudtrail",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    assert!(
        r.stderr
            .contains(&format!("cluster {url}: cannot reach the scheduler")),
        "{}",
        r.stderr
    );
    // A URL that is not a cluster's is a usage error before anything runs.
    let r = run(&[
        "query",
        "--lake",
        lake.to_str().unwrap(),
        "--cluster",
        "http://x:1",
        "SELECT 1",
    ]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("df://HOST:PORT"), "{}", r.stderr);
}

#[test]
fn an_s3_lake_is_read_by_the_executors() {
    let Some(s3) = crate::s3::S3Server::start() else {
        return;
    };
    s3.create_bucket("lake");
    let data = repo_root().join("data");
    let r = s3.run(&[
        "ingest",
        "--quiet",
        "--lake",
        "s3://lake/ct",
        data.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let env = s3.env();
    let cluster = LocalCluster::start(&env);
    cluster.wait_ready("s3://lake/ct", &env);
    let expected = expected(&[&data]);
    for sql in [
        "SELECT awsregion, count(*) FROM cloudtrail GROUP BY 1 ORDER BY 1",
        QUERIES[3],
        QUERIES[6],
    ] {
        let here = csv("s3://lake/ct", None, &[sql], &env);
        let there = csv("s3://lake/ct", Some(&cluster), &[sql], &env);
        assert_eq!(there, here, "{sql}");
    }
    let there = csv(
        "s3://lake/ct",
        Some(&cluster),
        &["SELECT count(*) FROM cloudtrail"],
        &env,
    );
    assert_eq!(
        there.lines().nth(1),
        Some(expected.events.to_string().as_str())
    );
}
