//! Saved queries: the built-in library on the sample, whose generator plants known security
//! events (crates/ctlake-generate/src/planted.rs); the expected rows below are those plants,
//! written out by hand, not read back from ctlake.

use std::path::Path;

use crate::common::*;

/// The sample's days, so no result depends on today's date.
const WINDOW: [&str; 4] = ["--from", "2026-11-01", "--to", "2026-12-01"];

fn saved(lake: &Path, name: &str, extra: &[&str]) -> Vec<Vec<String>> {
    let lake_s = lake.display().to_string();
    let mut args = vec![
        "query", "--lake", &lake_s, "--format", "csv", "--saved", name,
    ];
    args.extend_from_slice(&WINDOW);
    args.extend_from_slice(extra);
    let r = run(&args);
    assert_eq!(r.code, 0, "{name}: {}", r.stderr);
    r.stdout
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

fn names(lake: &Path) -> Vec<String> {
    let r = run(&["saved", "--lake", &lake.display().to_string()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.stdout
        .lines()
        .filter(|l| !l.starts_with(' '))
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect()
}

#[test]
fn every_built_in_query_runs_and_detections_find_the_plants() {
    let (_dir, lake, _) = sample_lake();
    let all = names(&lake);
    assert!(all.len() >= 30, "{} queries: {all:?}", all.len());
    for name in &all {
        let extra: &[&str] = match name.as_str() {
            "principal-activity" => &["--param", "arn=arn:aws:iam::670846141787:user/dave"],
            "ip-activity" => &["--param", "ip=203.0.113.66"],
            "resource-activity" => &["--param", "resource=arn:aws:s3:::backups-6708"],
            "access-key-activity" => &["--param", "access_key=AKIAIOSFODNN7EXAMPLE"],
            _ => &[],
        };
        saved(&lake, name, extra);
    }

    // (query, number of rows, a value each planted row has, in column order)
    let planted: &[(&str, usize, &[&str])] = &[
        ("root-account-use", 1, &["ConsoleLogin", "203.0.113.200"]),
        ("console-logins-without-mfa", 2, &[]),
        ("failed-console-logins", 1, &["203.0.113.66", "6"]),
        ("cloudtrail-tampering", 1, &["StopLogging"]),
        ("detectors-disabled", 2, &[]),
        ("iam-users-created", 1, &["backdoor-user"]),
        ("access-keys-created", 1, &["backdoor-user"]),
        (
            "login-profiles-created",
            1,
            &["CreateLoginProfile", "backdoor-user"],
        ),
        (
            "admin-policy-attached",
            1,
            &[
                "backdoor-user",
                "arn:aws:iam::aws:policy/AdministratorAccess",
            ],
        ),
        (
            "security-group-open-to-world",
            1,
            &["AuthorizeSecurityGroupIngress"],
        ),
        ("s3-bucket-made-public", 2, &[]),
        ("kms-key-deletion", 1, &["ScheduleKeyDeletion", "7"]),
        ("ec2-user-data-read", 1, &["i-0a1b2c3d4e5f60718"]),
        ("ssm-remote-commands", 2, &[]),
        (
            "cross-account-assume-role",
            1,
            &["arn:aws:iam::670846141787:role/OrganizationAccountAccessRole"],
        ),
        ("unusual-region-activity", 1, &["ap-east-1", "RunInstances"]),
        (
            "access-denied-bursts",
            1,
            &["arn:aws:iam::670846141787:user/ci-deployer"],
        ),
    ];
    for (name, rows, values) in planted {
        let got = saved(&lake, name, &[]);
        assert_eq!(got.len(), *rows, "{name}: {got:?}");
        for row in &got {
            for v in *values {
                assert!(row.iter().any(|c| c == v), "{name}: {v} not in {row:?}");
            }
        }
    }
    // Which rows, where the count alone says little.
    let mfa: Vec<String> = saved(&lake, "console-logins-without-mfa", &[])
        .into_iter()
        .map(|r| r[1].clone())
        .collect();
    assert_eq!(
        mfa,
        [
            "arn:aws:iam::670846141787:root",
            "arn:aws:iam::670846141787:user/carol"
        ]
    );
    let events = |name| -> Vec<String> {
        saved(&lake, name, &[])
            .into_iter()
            .map(|r| r[1].clone())
            .collect()
    };
    assert_eq!(
        events("detectors-disabled"),
        ["guardduty.amazonaws.com", "config.amazonaws.com"]
    );
    assert_eq!(
        events("s3-bucket-made-public"),
        ["PutBucketPolicy", "PutBucketAcl"]
    );
    assert_eq!(
        events("ssm-remote-commands"),
        ["SendCommand", "StartSession"]
    );
    let burst = &saved(&lake, "access-denied-bursts", &[])[0];
    assert!(burst[2].parse::<u64>().unwrap() >= 12, "{burst:?}");
}

#[test]
fn parameters_are_data_and_times_read_as_typed() {
    let (_dir, lake, _) = sample_lake();
    // The planted attacker IP: six failed logins and twelve AccessDenied calls are among its calls.
    let from_ip = saved(&lake, "ip-activity", &["--param", "ip=203.0.113.66"]);
    assert!(from_ip.len() >= 18, "{}", from_ip.len());
    // A hostile value is a string to compare, not SQL.
    let hostile = saved(&lake, "ip-activity", &["--param", "ip=x' OR '1'='1"]);
    assert!(hostile.is_empty(), "{hostile:?}");
    // Relative times: the sample ended before today, so the last day holds nothing.
    let lake_s = lake.display().to_string();
    let r = run(&[
        "query",
        "--lake",
        &lake_s,
        "--format",
        "csv",
        "--saved",
        "root-account-use",
        "--from",
        "-1d",
    ]);
    assert_eq!((r.code, r.stdout.lines().count()), (0, 1), "{}", r.stderr);
    let r = run(&[
        "query",
        "--lake",
        &lake_s,
        "--saved",
        "root-account-use",
        "--from",
        "last tuesday",
    ]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("\"last tuesday\" is not a valid timestamp"),
        "{}",
        r.stderr
    );
    let r = run(&["query", "--lake", &lake_s, "--saved", "ip-activity"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("parameter ip has no default"),
        "{}",
        r.stderr
    );
    let r = run(&["query", "--lake", &lake_s, "--saved", "root-acount-use"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("did you mean root-account-use?"),
        "{}",
        r.stderr
    );
}

#[test]
fn nearer_folders_override_the_built_in_library() {
    let (dir, lake, expected) = sample_lake();
    let env_dir = dir.path().join("team-queries");
    std::fs::create_dir_all(&env_dir).unwrap();
    std::fs::create_dir_all(lake.join("queries")).unwrap();
    let write = |path: std::path::PathBuf, origin: &str| {
        std::fs::write(
            path,
            format!("-- description: from {origin}\nSELECT '{origin}' AS origin\n"),
        )
        .unwrap()
    };
    write(env_dir.join("top-callers.sql"), "env");
    write(env_dir.join("team-only.sql"), "env");
    write(lake.join("queries/team-only.sql"), "lake");
    let lake_s = lake.display().to_string();
    let ask = |name: &str| {
        let r = run_env(
            &[
                "query", "--lake", &lake_s, "--format", "csv", "--saved", name,
            ],
            &[("CTLAKE_QUERIES", &env_dir)],
        );
        assert_eq!(r.code, 0, "{}", r.stderr);
        r.stdout
    };
    assert_eq!(
        ask("top-callers"),
        "origin\nenv\n",
        "$CTLAKE_QUERIES overrides the built-in"
    );
    assert_eq!(
        ask("team-only"),
        "origin\nlake\n",
        "the lake's folder overrides $CTLAKE_QUERIES"
    );
    // A default may be a SQL expression (the author's); it is evaluated, then bound.
    std::fs::write(
        lake.join("queries/sql-default.sql"),
        "-- param: start timestamp = now() - interval '3650' day\n-- param: n integer = 1 + 1\nSELECT count(*) AS c, $n AS n FROM cloudtrail WHERE eventtime > $start\n",
    )
    .unwrap();
    assert_eq!(ask("sql-default"), format!("c,n\n{},2\n", expected.events));
    let r = run_env(
        &["saved", "--lake", &lake_s, "show", "team-only"],
        &[("CTLAKE_QUERIES", &env_dir)],
    );
    assert!(r.stdout.contains("queries/team-only.sql"), "{}", r.stdout);
}

#[test]
fn lookup_prints_lookup_events_output() {
    let (_dir, lake, _) = sample_lake();
    let lake_s = lake.display().to_string();
    let look = |extra: &[&str]| {
        let mut args = vec![
            "lookup",
            "--lake",
            &lake_s,
            "--from",
            "2026-11-01",
            "--to",
            "2026-12-01",
        ];
        args.extend_from_slice(extra);
        run(&args)
    };
    // The planted StopLogging: by bob's Admin session, 2026-11-12 03:10:00.
    let r = look(&["-a", "EventName=StopLogging", "--output", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let events = v["Events"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(e["EventName"], "StopLogging");
    assert_eq!(e["EventSource"], "cloudtrail.amazonaws.com");
    assert_eq!(e["ReadOnly"], "false");
    assert_eq!(e["Username"], "bob");
    assert_eq!(e["EventTime"], "2026-11-12T03:10:00+00:00");
    assert!(e["Resources"].is_array());
    let full: serde_json::Value =
        serde_json::from_str(e["CloudTrailEvent"].as_str().unwrap()).unwrap();
    assert_eq!(full["eventID"], e["EventId"]);
    assert_eq!(full["eventTime"], "2026-11-12T03:10:00Z");
    assert_eq!(e["AccessKeyId"], full["userIdentity"]["accessKeyId"]);

    // Several attributes at once (Event history takes one): the planted CreateUser.
    let r = look(&[
        "-a",
        "EventSource=iam.amazonaws.com",
        "-a",
        "EventName=CreateUser",
        "-a",
        "ReadOnly=false",
        "--output",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["Events"].as_array().unwrap().len(), 1, "{}", r.stdout);

    // Newest first, at most --max-results.
    let r = look(&[
        "-a",
        "Username=ci-deployer",
        "--max-results",
        "3",
        "--output",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let times: Vec<&str> = v["Events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["EventTime"].as_str().unwrap())
        .collect();
    assert_eq!(times.len(), 3);
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");

    let r = look(&["-a", "Color=blue"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("EventId, EventName, ReadOnly"),
        "{}",
        r.stderr
    );
}
