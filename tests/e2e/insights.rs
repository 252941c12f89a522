//! `ctlake insights` on traffic made here: nine days of calls with a daily cycle, and bursts
//! planted at known minutes (two sizes of write bursts, one error burst, each by a principal
//! of its own). Expected: each burst one Start near its first minute and an End shortly after
//! its last, with the right type, API, error code and top principal; the same traffic without
//! the bursts gives nothing.

use std::path::Path;

use crate::common::*;

const ACCOUNT: &str = "111122223333";
const REGION: &str = "us-east-1";

/// A planted burst: API, error code, principal, first minute (of 2026-10-08), minutes, calls
/// a minute.
struct Burst {
    source: &'static str,
    name: &'static str,
    error: Option<&'static str>,
    principal: &'static str,
    start: (u32, u32),
    minutes: u32,
    per_minute: u32,
}

/// `principal` of a burst spread over twelve principals (no one stands out).
const SPREAD: &str = "*";

const BURSTS: [Burst; 4] = [
    Burst {
        source: "ec2.amazonaws.com",
        name: "RunInstances",
        error: None,
        principal: "arn:aws:iam::111122223333:user/intruder",
        start: (10, 0),
        minutes: 5,
        per_minute: 12,
    },
    Burst {
        source: "iam.amazonaws.com",
        name: "CreateUser",
        error: None,
        principal: "arn:aws:iam::111122223333:user/intruder2",
        start: (13, 30),
        minutes: 2,
        per_minute: 8,
    },
    Burst {
        source: "ec2.amazonaws.com",
        name: "TerminateInstances",
        error: None,
        principal: SPREAD,
        start: (20, 0),
        minutes: 4,
        per_minute: 12,
    },
    Burst {
        source: "ec2.amazonaws.com",
        name: "DescribeInstances",
        error: Some("Client.UnauthorizedOperation"),
        principal: "arn:aws:iam::111122223333:user/prober",
        start: (16, 0),
        minutes: 4,
        per_minute: 10,
    },
];

fn next(seed: &mut u64) -> f64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    (*seed >> 11) as f64 / (1u64 << 53) as f64
}

#[allow(clippy::too_many_arguments)]
fn event(
    id: u64,
    time: &str,
    source: &str,
    name: &str,
    read_only: bool,
    error: Option<&str>,
    principal: &str,
) -> String {
    let error = error
        .map(|e| format!(r#","errorCode":"{e}","errorMessage":"denied""#))
        .unwrap_or_default();
    format!(
        r#"{{"eventVersion":"1.08","userIdentity":{{"type":"IAMUser","arn":"{principal}","accountId":"{ACCOUNT}"}},"eventTime":"{time}","eventSource":"{source}","eventName":"{name}","awsRegion":"{REGION}","sourceIPAddress":"192.0.2.10","userAgent":"aws-cli/2.15","eventID":"ev-{id}","readOnly":{read_only},"eventType":"AwsApiCall","managementEvent":true,"eventCategory":"Management","recipientAccountId":"{ACCOUNT}"{error}}}"#
    )
}

/// Nine days from 2026-10-01 of background calls (a daily cycle), with the bursts when
/// `planted`; one delivery file an hour.
fn traffic(dir: &Path, planted: bool) {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut id = 0u64;
    for day in 0..9u32 {
        for hour in 0..24u32 {
            let mut records = Vec::new();
            for minute in 0..60u32 {
                let t = format!("2026-10-{:02}T{hour:02}:{minute:02}", day + 1);
                let cycle = 1.0
                    + (std::f64::consts::TAU * (hour as f64 * 60.0 + minute as f64) / 1440.0).sin()
                        * 0.8;
                let background: [(&str, &str, bool, Option<&str>, f64); 4] = [
                    (
                        "ec2.amazonaws.com",
                        "RunInstances",
                        false,
                        None,
                        0.05 * cycle,
                    ),
                    ("iam.amazonaws.com", "CreateUser", false, None, 0.01 * cycle),
                    (
                        "ec2.amazonaws.com",
                        "DescribeInstances",
                        true,
                        Some("Client.UnauthorizedOperation"),
                        0.02 * cycle,
                    ),
                    ("ssm.amazonaws.com", "GetParameter", true, None, 0.3 * cycle),
                ];
                for (source, name, ro, err, rate) in background {
                    // At most two calls a minute, with about the given mean.
                    for _ in 0..2 {
                        if next(&mut seed) < rate / 2.0 {
                            id += 1;
                            let s = (next(&mut seed) * 60.0) as u32;
                            records.push(event(
                                id,
                                &format!("{t}:{s:02}Z"),
                                source,
                                name,
                                ro,
                                err,
                                "arn:aws:iam::111122223333:role/app",
                            ));
                        }
                    }
                }
                if planted && day == 7 {
                    for b in &BURSTS {
                        let first = b.start.0 * 60 + b.start.1;
                        let now = hour * 60 + minute;
                        if now >= first && now < first + b.minutes {
                            for k in 0..b.per_minute {
                                id += 1;
                                let worker = format!("arn:aws:iam::111122223333:user/worker-{k}");
                                let who = if b.principal == SPREAD {
                                    worker.as_str()
                                } else {
                                    b.principal
                                };
                                records.push(event(
                                    id,
                                    &format!("{t}:{:02}Z", k * 59 / b.per_minute),
                                    b.source,
                                    b.name,
                                    b.error.is_some(),
                                    b.error,
                                    who,
                                ));
                            }
                        }
                    }
                }
            }
            let path = dir.join(format!(
                "AWSLogs/{ACCOUNT}/CloudTrail/{REGION}/2026/10/{:02}/{ACCOUNT}_CloudTrail_{REGION}_202610{:02}T{hour:02}00Z_x{day}{hour}.json.gz",
                day + 1,
                day + 1
            ));
            write_gz(&path, &format!("{{\"Records\":[{}]}}", records.join(",")));
        }
    }
}

/// `ctlake insights` on `lake` with `args`, which must succeed.
fn insights(lake: &Path, args: &[&str]) -> Run {
    let mut all = vec!["insights", "--lake", lake.to_str().unwrap()];
    all.extend_from_slice(args);
    let r = run(&all);
    assert_eq!(r.code, 0, "{}", r.stderr);
    r
}

fn minutes_of(t: &str) -> i64 {
    let t = chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%SZ").unwrap();
    t.and_utc().timestamp() / 60
}

#[test]
fn planted_bursts_are_found_and_flat_traffic_gives_none() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("planted");
    traffic(&src, true);
    let lake = dir.path().join("lake");
    // First the deliveries up to the morning of the eighth, before any burst: nothing yet.
    let early = dir.path().join("early");
    for f in files_under(&src) {
        let name = f.file_name().unwrap().to_str().unwrap().to_string();
        if name.split('_').nth(3).unwrap() < "20261008T0900Z" {
            let to = early.join(f.strip_prefix(&src).unwrap());
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(&f, &to).unwrap();
        }
    }
    ingest(&lake, &[&early], 0);
    let r = insights(&lake, &["--format", "ndjson"]);
    assert_eq!(r.stdout, "");
    // Then the rest: `--since-last` analyses only the minutes after the last analysed one.
    ingest(&lake, &[&src], 0);
    let r = insights(&lake, &["--since-last", "--format", "ndjson"]);
    assert!(r.stderr.contains("from 2026-10-08 08:"), "{}", r.stderr);
    assert!(
        r.stderr.contains("(the baselines kept by the last run"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stdout.lines().count(), 2 * BURSTS.len(), "{}", r.stdout);
    let ids = |out: &str| -> Vec<String> {
        let mut v: Vec<String> = out
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["eventID"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        v.sort();
        v
    };
    let incremental = ids(&r.stdout);
    let r = insights(&lake, &["--format", "ndjson"]);
    // Going on from the kept baselines finds what a run over the whole window finds.
    assert_eq!(ids(&r.stdout), incremental);
    let records: Vec<serde_json::Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 2 * BURSTS.len(), "{}", r.stdout);
    for b in &BURSTS {
        let kind = if b.error.is_some() {
            "ApiErrorRateInsight"
        } else {
            "ApiCallRateInsight"
        };
        let mine: Vec<&serde_json::Value> = records
            .iter()
            .filter(|r| {
                r["insightDetails"]["eventName"] == b.name
                    && r["insightDetails"]["insightType"] == kind
            })
            .collect();
        assert_eq!(mine.len(), 2, "{}: {mine:?}", b.name);
        let (start, end) = (mine[0], mine[1]);
        assert_eq!(start["insightDetails"]["state"], "Start");
        assert_eq!(end["insightDetails"]["state"], "End");
        assert_eq!(start["sharedEventID"], end["sharedEventID"]);
        assert_eq!(start["eventType"], "AwsCloudTrailInsight");
        assert_eq!(start["eventCategory"], "Insight");
        assert_eq!(start["recipientAccountId"], ACCOUNT);
        assert_eq!(start["awsRegion"], REGION);
        assert_eq!(start["insightDetails"]["eventSource"], b.source);
        match b.error {
            Some(code) => assert_eq!(start["insightDetails"]["errorCode"], code),
            None => assert!(start["insightDetails"]["errorCode"].is_null()),
        }
        let planted = minutes_of(&format!("2026-10-08T{:02}:{:02}:00Z", b.start.0, b.start.1));
        let s = minutes_of(start["eventTime"].as_str().unwrap());
        let e = minutes_of(end["eventTime"].as_str().unwrap());
        assert!(
            (planted - 1..=planted + 1).contains(&s),
            "{}: start {s} vs {planted}",
            b.name
        );
        let planted_end = planted + b.minutes as i64;
        assert!(
            (planted_end..=planted_end + 6).contains(&e),
            "{}: end {e} vs {planted_end}",
            b.name
        );
        let stats = &start["insightDetails"]["insightContext"]["statistics"];
        assert_eq!(stats["baselineDuration"], 10080);
        assert_eq!(stats["insightDuration"].as_i64().unwrap(), e - s);
        // The insight's average is at least the burst's rate spread over the insight.
        let calls = (b.minutes * b.per_minute) as f64;
        assert!(stats["insight"]["average"].as_f64().unwrap() >= calls / (e - s) as f64 - 1e-9);
        assert!(stats["baseline"]["average"].as_f64().unwrap() < 0.2);
        let attributions = start["insightDetails"]["insightContext"]["attributions"]
            .as_array()
            .unwrap();
        let principal = attributions
            .iter()
            .find(|a| a["attribute"] == "userIdentityArn")
            .unwrap();
        if b.principal == SPREAD {
            // No one principal: the top one has a share of the calls, not all of them.
            let top = principal["insight"][0]["value"].as_str().unwrap();
            assert!(
                top.starts_with("arn:aws:iam::111122223333:user/worker-"),
                "{top}"
            );
            let share = principal["insight"][0]["average"].as_f64().unwrap();
            assert!(
                share < stats["insight"]["average"].as_f64().unwrap() / 4.0,
                "{principal}"
            );
            assert_eq!(principal["insight"].as_array().unwrap().len(), 5);
        } else {
            assert_eq!(principal["insight"][0]["value"], b.principal, "{}", b.name);
        }
    }
    // Stored as a table: queryable, and joinable with cloudtrail.
    let q = run(&[
        "query",
        "--lake",
        lake.to_str().unwrap(),
        "--format",
        "csv",
        "SELECT insightdetails.insighttype, insightdetails.eventname, count(*) FROM insights GROUP BY 1, 2 ORDER BY 1, 2",
    ]);
    assert_eq!(q.code, 0, "{}", q.stderr);
    assert_eq!(
        q.stdout,
        "insighttype,eventname,_col2\nApiCallRateInsight,CreateUser,2\nApiCallRateInsight,RunInstances,2\nApiCallRateInsight,TerminateInstances,2\nApiErrorRateInsight,DescribeInstances,2\n"
    );
    let j = run(&[
        "query",
        "--lake",
        lake.to_str().unwrap(),
        "--format",
        "csv",
        "SELECT count(*) FROM insights i JOIN cloudtrail c ON c.eventname = i.insightdetails.eventname \
         AND c.eventtime >= i.eventtime AND c.eventtime < i.eventtime + INTERVAL '5' MINUTE \
         WHERE i.insightdetails.state = 'Start' AND i.insightdetails.eventname = 'RunInstances' \
         AND c.useridentity.arn = 'arn:aws:iam::111122223333:user/intruder'",
    ]);
    assert_eq!(j.code, 0, "{}", j.stderr);
    assert!(
        j.stdout.ends_with("\n60\n") || j.stdout.contains("\n60\n"),
        "{}",
        j.stdout
    );
    // Running again over the same window replaces, never duplicates.
    insights(&lake, &["--format", "json"]);
    let q2 = run(&[
        "query",
        "--lake",
        lake.to_str().unwrap(),
        "--format",
        "csv",
        "SELECT count(*) FROM insights",
    ]);
    assert_eq!(q2.stdout, format!("_col0\n{}\n", 2 * BURSTS.len()));

    // An Insights file a trail delivered goes to the insights table, not among the events;
    // reading it again adds nothing, and recomputing keeps it.
    let events_before = info(&lake)["events"].as_u64().unwrap();
    let delivered = dir.path().join("delivered");
    let record = |state: &str, time: &str| {
        format!(
            r#"{{"eventVersion":"1.07","eventTime":"{time}","awsRegion":"{REGION}","eventID":"aws-{state}","eventType":"AwsCloudTrailInsight","recipientAccountId":"{ACCOUNT}","sharedEventID":"aws-shared-1","insightDetails":{{"state":"{state}","eventSource":"s3.amazonaws.com","eventName":"DeleteBucket","insightType":"ApiCallRateInsight","insightContext":{{"statistics":{{"baseline":{{"average":0.0000882}},"insight":{{"average":0.6}},"insightDuration":5,"baselineDuration":11336}},"attributions":[]}}}},"eventCategory":"Insight"}}"#
        )
    };
    write_gz(
        &delivered.join(format!(
            "AWSLogs/{ACCOUNT}/CloudTrail-Insight/{REGION}/2026/10/09/{ACCOUNT}_CloudTrail-Insight_{REGION}_20261009T1205Z_aws.json.gz"
        )),
        &format!(
            "{{\"Records\":[{},{}]}}",
            record("Start", "2026-10-09T12:00:00Z"),
            record("End", "2026-10-09T12:05:00Z")
        ),
    );
    for _ in 0..2 {
        let r = run(&[
            "ingest",
            delivered.to_str().unwrap(),
            "--lake",
            lake.to_str().unwrap(),
        ]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(
            r.stderr
                .contains("2 CloudTrail Insights records from 1 files"),
            "{}",
            r.stderr
        );
    }
    assert_eq!(info(&lake)["events"].as_u64().unwrap(), events_before);
    insights(&lake, &["--format", "json"]);
    let q3 = run(&[
        "query",
        "--lake",
        lake.to_str().unwrap(),
        "--format",
        "csv",
        "SELECT origin, insightdetails.eventname, insightdetails.insightcontext.statistics.insight.average, count(*) \
         FROM insights GROUP BY 1, 2, 3 ORDER BY 1, 2",
    ]);
    assert_eq!(q3.code, 0, "{}", q3.stderr);
    let lines: Vec<&str> = q3.stdout.lines().collect();
    assert_eq!(lines[1], "CloudTrail,DeleteBucket,0.6,2", "{}", q3.stdout);
    assert_eq!(lines.len(), 1 + 1 + BURSTS.len(), "{}", q3.stdout);

    // The security report has an Insights section: the rows, and a chart per insight.
    let out = dir.path().join("report");
    let r = run(&[
        "report",
        "--lake",
        lake.to_str().unwrap(),
        "--spec",
        "security",
        "--from",
        "2026-10-01",
        "--to",
        "2026-10-10",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        md.lines().any(|l| l.starts_with("| 2026-10-08 10:00:00 | 2026-10-08 10:")
            && l.contains("| ApiCallRateInsight | 111122223333 | us-east-1 | ec2.amazonaws.com | RunInstances |")),
        "{md}"
    );
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert_eq!(html.matches("insight-chart").count(), 1);
    assert_eq!(
        html.matches("<title>baseline ").count(),
        BURSTS.len() + 1,
        "a chart per insight: the computed ones and the delivered one"
    );

    // The same traffic without the bursts: nothing.
    let flat = dir.path().join("flat");
    traffic(&flat, false);
    let flat_lake = dir.path().join("flat-lake");
    ingest(&flat_lake, &[&flat], 0);
    let r = insights(&flat_lake, &["--format", "ndjson"]);
    assert_eq!(r.stdout, "", "no insight on flat traffic");
    assert!(r.stderr.starts_with("0 insights"), "{}", r.stderr);
}
