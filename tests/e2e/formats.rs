//! Every input shape the ingest issue lists, and where each record lands.

use crate::common::*;

#[test]
fn every_input_shape_goes_in() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let r = |i: u32, day: u32| {
        record(
            &format!("id-{i}"),
            "us-east-1",
            &format!("2024-05-{day:02}T10:00:00Z"),
        )
    };
    // A delivery file in an organization trail layout, delivered into the next day's folder.
    write_gz(
        &src.join("AWSLogs/o-abc123/111122223333/CloudTrail/us-east-1/2024/05/02/111122223333_CloudTrail_us-east-1_20240502T0005Z_abc.json.gz"),
        &format!(r#"{{"Records":[{},{}]}}"#, r(1, 1), r(2, 1)),
    );
    // A JSON array, pretty-printed.
    std::fs::write(
        src.join("array.json"),
        format!("[\n  {},\n  {}\n]\n", r(3, 1), r(4, 2)),
    )
    .unwrap();
    // A single record object.
    std::fs::write(src.join("single.json"), r(5, 2)).unwrap();
    // JSON Lines.
    std::fs::write(
        src.join("lines.jsonl"),
        format!("{}\n{}\n", r(6, 3), r(7, 3)),
    )
    .unwrap();
    // `aws cloudtrail lookup-events` output.
    let ev = serde_json::to_string(&r(8, 3)).unwrap();
    std::fs::write(
        src.join("lookup.json"),
        format!(r#"{{"Events":[{{"EventId":"id-8","CloudTrailEvent":{ev}}}]}}"#),
    )
    .unwrap();
    // Gzip under a plain name, decided by content.
    write_gz(
        &src.join("plain-name.json"),
        &format!(r#"{{"Records":[{}]}}"#, r(9, 3)),
    );

    let lake = dir.path().join("lake");
    ingest(&lake, &[&src], 0);
    let by_part = rows_by_partition(&table_files(&lake));
    let want: std::collections::BTreeMap<String, u64> = [
        ("region=us-east-1/date=2024-05-01".to_string(), 3),
        ("region=us-east-1/date=2024-05-02".to_string(), 2),
        ("region=us-east-1/date=2024-05-03".to_string(), 4),
    ]
    .into();
    assert_eq!(by_part, want);
    assert_eq!(expected(&[&src]).partitions, want);
}

#[test]
fn records_that_cannot_be_placed_go_to_rejects() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("mixed.json");
    let good = record("good", "eu-west-1", "2024-05-01T00:00:00Z");
    let evil = record("evil", "../../x", "2024-05-01T00:00:00Z");
    let timeless = r#"{"eventID":"timeless","awsRegion":"eu-west-1","eventName":"X"}"#;
    let badtime = record("badtime", "eu-west-1", "not-a-time");
    std::fs::write(
        &src,
        format!(r#"{{"Records":[{good},{evil},{timeless},{badtime}]}}"#),
    )
    .unwrap();
    let lake = dir.path().join("lake");
    let r = ingest(&lake, &[&src], 2);
    assert!(r.stderr.contains("rejected: 3 records"), "{}", r.stderr);
    assert_eq!(info(&lake)["events"], 1);
    // Nothing escaped the lake through the hostile region.
    assert!(!dir.path().join("x").exists() && !lake.join("cloudtrail/region=..").exists());

    let rejects: Vec<serde_json::Value> = std::fs::read_dir(lake.join("_rejects"))
        .unwrap()
        .flat_map(|e| {
            let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
            text.lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    let summary: Vec<(u64, String)> = rejects
        .iter()
        .map(|r| {
            (
                r["record"].as_u64().unwrap(),
                r["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(summary.len(), 3);
    assert_eq!(summary[0].0, 2);
    assert!(
        summary[0]
            .1
            .contains("\"../../x\" is not a safe partition value"),
        "{summary:?}"
    );
    assert_eq!(summary[1], (3, "no eventTime".to_string()));
    assert!(summary[2].1.contains("not a timestamp"), "{summary:?}");
    for r in &rejects {
        assert_eq!(r["source"].as_str().unwrap(), src.display().to_string());
        assert!(r["event"].as_str().unwrap().starts_with('{'));
        assert!(r["offset"].as_u64().unwrap() > 0);
    }
    // The oracle agrees on what is rejected.
    assert_eq!(expected(&[&src]).rejects, 3);
}

#[test]
fn map_columns_follow_the_map_rule() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("maps.json");
    std::fs::write(
        &src,
        r#"{"eventTime":"2024-05-01T00:00:00Z","awsRegion":"us-east-1","eventID":"m1",
            "requestParameters": {"maxResults": 5, "ratio": 0.0, "name": "a\u003db", "tags": [ {"k": "v"} ], "none": null},
            "responseElements": {"instancesSet": {"items": [ {"instanceId": "i-123"} ]}}}"#,
    )
    .unwrap();
    let lake = dir.path().join("lake");
    ingest(&lake, &[&src], 0);
    let glob = format!("{}/cloudtrail/**/*.parquet", lake.display());
    let script = format!(
        r#"
import duckdb
r = duckdb.sql("select requestparameters, element_at(responseelements, 'instancesSet')[1] like '%\"instanceId\":\"i-123\"%' from read_parquet('{glob}')").fetchall()[0]
print(sorted(r[0].items()), r[1])
"#
    );
    let Some(out) = duckdb(&script) else { return };
    assert_eq!(
        out,
        r#"[('maxResults', '5'), ('name', 'a=b'), ('none', None), ('ratio', '0.0'), ('tags', '[{"k":"v"}]')] True"#
    );
}
