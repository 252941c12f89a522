//! `ctlake query` over the bundled sample, against the independent Python reader.

use std::collections::BTreeMap;

use crate::common::*;

fn query(lake: &std::path::Path, args: &[&str]) -> Run {
    let lake = lake.display().to_string();
    let mut all = vec!["query", "--lake", lake.as_str()];
    all.extend_from_slice(args);
    let r = run(&all);
    assert_eq!(r.code, 0, "query failed: {}", r.stderr);
    r
}

#[test]
fn counts_by_region_match_the_sources() {
    let (_dir, lake, expected) = sample_lake();
    let r = query(
        &lake,
        &[
            "--format",
            "csv",
            "SELECT region, count(*) AS n FROM cloudtrail GROUP BY region ORDER BY region",
        ],
    );
    let mut want: BTreeMap<String, u64> = BTreeMap::new();
    for (part, n) in &expected.partitions {
        let region = part
            .split('/')
            .next()
            .unwrap()
            .trim_start_matches("region=");
        *want.entry(region.to_string()).or_default() += n;
    }
    let got: BTreeMap<String, u64> = r
        .stdout
        .lines()
        .skip(1)
        .map(|l| {
            let (region, n) = l.split_once(',').unwrap();
            (region.to_string(), n.parse().unwrap())
        })
        .collect();
    assert_eq!(got, want);
}

#[test]
fn a_time_bounded_query_opens_only_that_days_files() {
    let (_dir, lake, expected) = sample_lake();
    let day: Vec<(&String, &u64)> = expected
        .partitions
        .iter()
        .filter(|(p, _)| p.ends_with("date=2026-11-12"))
        .collect();
    let want_rows: u64 = day.iter().map(|(_, n)| **n).sum();
    let r = query(
        &lake,
        &[
            "--stats",
            "--format",
            "csv",
            "SELECT count(*) AS n FROM cloudtrail WHERE eventTime >= '2026-11-12 00:00:00' AND eventtime < '2026-11-13'",
        ],
    );
    assert_eq!(r.stdout.lines().nth(1).unwrap(), want_rows.to_string());
    let total = expected.partitions.len();
    assert!(
        r.stderr
            .contains(&format!("scanned {} of {total} files", day.len())),
        "{}",
        r.stderr
    );
    // A region predicate prunes by the region partition too.
    let r = query(
        &lake,
        &[
            "--stats",
            "--format",
            "csv",
            "SELECT count(*) FROM cloudtrail WHERE awsregion = 'ap-east-1'",
        ],
    );
    assert_eq!(r.stdout.lines().nth(1).unwrap(), "1");
    assert!(
        r.stderr.contains(&format!("scanned 1 of {total} files")),
        "{}",
        r.stderr
    );
}

#[test]
fn the_event_data_store_id_names_the_table_and_formats_parse() {
    let (_dir, lake, expected) = sample_lake();
    let id = info(&lake)["event_data_store"]
        .as_str()
        .unwrap()
        .to_string();
    let sql = format!("SELECT count(*) AS n FROM \"{id}\"");
    let r = query(&lake, &["--format", "json", &sql]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v[0]["n"], expected.events);

    let r = query(
        &lake,
        &[
            "--format",
            "ndjson",
            "-c",
            "SELECT eventid, eventname FROM cloudtrail WHERE eventname = 'StopLogging'",
        ],
    );
    let rows: Vec<serde_json::Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // The generator plants exactly one StopLogging.
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["eventname"], "StopLogging");

    let r = query(&lake, &["--format", "tsv", "SELECT 'a' AS x, 2 AS y"]);
    assert_eq!(r.stdout, "x\ty\na\t2\n");
    let r = query(&lake, &["SELECT 1 AS one"]);
    assert!(r.stdout.contains("| one |"), "{}", r.stdout);
}
