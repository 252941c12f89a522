//! CloudTrail Lake compatibility, round two: nested values in every text format, strings
//! compared with boolean literals as Lake does.

use crate::common::*;

#[test]
fn nested_columns_export_as_json_in_csv_tsv_and_json() {
    let dir = tempfile::tempdir().unwrap();
    // A hand-written event: what each format must show is read off it.
    let record = r#"{"eventVersion":"1.08","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/Admin/alice","accountId":"111122223333"},"eventTime":"2026-11-01T00:00:00Z","eventSource":"s3.amazonaws.com","eventName":"PutObject","awsRegion":"us-east-1","sourceIPAddress":"192.0.2.9","eventID":"n-1","requestParameters":{"bucketName":"b1","key":"k,1"},"resources":[{"type":"AWS::S3::Object","ARN":"arn:aws:s3:::b1/k,1"},{"accountId":"111122223333","type":"AWS::S3::Bucket","ARN":"arn:aws:s3:::b1"}]}"#;
    let src = dir.path().join("src");
    write_gz(
        &src.join("a.json.gz"),
        &format!("{{\"Records\":[{record}]}}"),
    );
    let lake = dir.path().join("lake");
    ingest(&lake, &[&src], 0);
    let sql =
        "SELECT eventname, useridentity, resources, requestparameters, errorcode FROM cloudtrail";
    for (format, sep) in [("csv", ','), ("tsv", '\t')] {
        let out = query_as(&lake, format, sql);
        // Parse the one data row with Python's csv module, an independent reader.
        let script = format!(
            "import csv, io, json, sys\nrows = list(csv.reader(io.StringIO(sys.stdin.read()), delimiter={:?}))\n\
             h, r = rows[0], rows[1]\nd = dict(zip(h, r))\n\
             u = json.loads(d['useridentity']); res = json.loads(d['resources']); rp = json.loads(d['requestparameters'])\n\
             print(u['arn'], u['type'], u['principalid'], res[0]['arn'], res[0]['accountid'], res[1]['accountid'], rp['key'], repr(d['errorcode']))",
            sep.to_string()
        );
        let got = python_with_input(&script, out.as_bytes());
        assert_eq!(
            got.trim(),
            "arn:aws:sts::111122223333:assumed-role/Admin/alice AssumedRole None arn:aws:s3:::b1/k,1 None 111122223333 k,1 ''",
            "{format}: {out}"
        );
    }
    // JSON keeps real nesting, nulls inside as null.
    let v: serde_json::Value = serde_json::from_str(&query_as(&lake, "json", sql)).unwrap();
    assert_eq!(v[0]["resources"][0]["accountid"], serde_json::Value::Null);
    assert_eq!(v[0]["resources"][1]["arn"], "arn:aws:s3:::b1");
    assert_eq!(v[0]["requestparameters"]["bucketName"], "b1");
    // Markdown and the table show the same JSON text.
    let md = query_as(&lake, "markdown", "SELECT resources FROM cloudtrail");
    assert!(
        md.contains(r#"[{"accountid":null,"type":"AWS::S3::Object","arn":"arn:aws:s3:::b1/k,1","#),
        "{md}"
    );
}

#[test]
fn text_columns_compare_with_boolean_literals_as_text() {
    let dir = tempfile::tempdir().unwrap();
    let rec = |id: &str, console: Option<&str>| {
        let extra = console
            .map(|c| format!(r#","sessionCredentialFromConsole":"{c}""#))
            .unwrap_or_default();
        format!(
            r#"{{"eventTime":"2026-11-01T00:00:00Z","awsRegion":"us-east-1","eventID":"{id}","eventName":"X","readOnly":true{extra}}}"#
        )
    };
    let src = dir.path().join("src");
    write_gz(
        &src.join("a.json.gz"),
        &format!(
            "{{\"Records\":[{},{},{}]}}",
            rec("t", Some("true")),
            rec("f", Some("false")),
            rec("n", None)
        ),
    );
    let lake = dir.path().join("lake");
    ingest(&lake, &[&src], 0);
    let out = query_as(
        &lake,
        "csv",
        "SELECT count(*) FILTER (WHERE sessioncredentialfromconsole = true) AS eq, \
         count(*) FILTER (WHERE false = c.sessioncredentialfromconsole) AS eq_rev, \
         count(*) FILTER (WHERE sessioncredentialfromconsole <> false) AS ne, \
         count(*) FILTER (WHERE sessioncredentialfromconsole IN (true, false)) AS in_list, \
         count(*) FILTER (WHERE readonly = true) AS boolean_column FROM cloudtrail c",
    );
    assert_eq!(out.trim(), "eq,eq_rev,ne,in_list,boolean_column\n1,1,1,2,3");
}

#[test]
fn describe_lists_each_partition_column_once() {
    let (_dir, lake, _) = sample_lake();
    let mut child = ctlake()
        .args(["shell", "--lake"])
        .arg(&lake)
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"\\d cloudtrail\n").unwrap();
    drop(child.stdin.take());
    let out = String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap();
    let named = |name: &str| {
        out.lines()
            .filter(|l| l.split_whitespace().next() == Some(name))
            .count()
    };
    assert_eq!(named("region"), 1, "{out}");
    assert_eq!(named("date"), 1, "{out}");
    assert_eq!(named("eventtime"), 1, "{out}");
}

#[test]
fn invalid_utf8_in_a_record_is_said_where_and_the_good_records_kept() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let bad = b"{\"eventTime\":\"2026-11-01T00:00:00Z\",\"awsRegion\":\"us-east-1\",\"eventID\":\"b1\",\"eventName\":\"X\",\"userAgent\":\"a\xff\xfeb\"}";
    // One file of the bad record alone, one with a good record after it.
    let write = |name: &str, records: &[&[u8]]| {
        let mut body = b"{\"Records\":[".to_vec();
        body.extend(records.join(&b","[..]));
        body.extend(b"]}");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut enc, &body).unwrap();
        std::fs::write(src.join(name), enc.finish().unwrap()).unwrap();
    };
    let good = record("g1", "us-east-1", "2026-11-01T00:00:01Z");
    write("alone.json.gz", &[bad]);
    write("mixed.json.gz", &[bad, good.as_bytes()]);
    let lake = dir.path().join("lake");
    let r = run(&[
        "ingest",
        "--lake",
        lake.to_str().unwrap(),
        src.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(!r.stderr.contains("not CloudTrail"), "{}", r.stderr);
    assert!(
        r.stdout
            .contains("1 written, 0 duplicates dropped, 2 rejected"),
        "{}",
        r.stdout
    );
    let rejects = std::fs::read_to_string(&files_under(&lake.join("_rejects"))[0]).unwrap();
    // The bad byte's 0-based offset in the record, as Python's bytes.index finds it.
    assert_eq!(
        rejects
            .matches("invalid UTF-8 at byte 105 of the record")
            .count(),
        2,
        "{rejects}"
    );
}

/// Lake-style queries of our own (IDs in FROM, `SELECT *`, row fields, maps, lambdas, Joda
/// dates), each run through `csv`, `tsv` and `json`: every format writes every column type,
/// the three agree row for row, and the row counts are DuckDB's over the raw JSON.
#[test]
fn lake_style_queries_run_in_every_text_format() {
    let (_dir, lake, _) = sample_lake();
    let id = info(&lake)["event_data_store"]
        .as_str()
        .unwrap()
        .to_string();
    // (ctlake query, DuckDB count of the rows it returns, over the oracle's `events`)
    let cases = [
        (
            format!("SELECT * FROM {id} WHERE eventname = 'ConsoleLogin' ORDER BY eventid"),
            "SELECT count(*) FROM events WHERE eventname = 'ConsoleLogin'",
        ),
        (
            format!(
                "SELECT eventid, eventtime, useridentity, requestparameters, responseelements, resources \
                 FROM {id} WHERE eventsource = 's3.amazonaws.com' ORDER BY eventid LIMIT 40"
            ),
            "SELECT least(40, count(*)) FROM events WHERE eventsource = 's3.amazonaws.com'",
        ),
        (
            format!(
                "SELECT element_at(resources, 1).arn AS first_arn, count(*) AS n FROM {id} \
                 WHERE cardinality(resources) > 0 GROUP BY 1 ORDER BY 1"
            ),
            "SELECT count(DISTINCT resources->0->>'ARN') FROM events WHERE json_array_length(resources) > 0",
        ),
        (
            format!(
                "SELECT format_datetime(eventtime, 'yyyy-MM-dd') AS day, count_if(errorcode IS NOT NULL) AS errors \
                 FROM {id} GROUP BY 1 ORDER BY 1"
            ),
            "SELECT count(DISTINCT CAST(eventtime AS DATE)) FROM events",
        ),
        (
            format!(
                "SELECT eventid, transform(resources, r -> r.arn) AS arns, \
                 map_filter(requestparameters, (k, v) -> k = 'bucketName') AS bucket \
                 FROM {id} WHERE eventsource = 's3.amazonaws.com' ORDER BY eventid"
            ),
            "SELECT count(*) FROM events WHERE eventsource = 's3.amazonaws.com'",
        ),
    ];
    let script = format!(
        "import sys\nsys.path.insert(0, {:?})\nimport slt_oracle\ncon = slt_oracle.load({:?})\n\
         for q in {:?}:\n    print(con.sql(q).fetchall()[0][0])",
        repo_root().join("tests/scripts").to_str().unwrap(),
        repo_root().join("data").to_str().unwrap(),
        cases.iter().map(|c| c.1).collect::<Vec<_>>()
    );
    let Some(counts) = duckdb(&script) else {
        return;
    };
    let counts: Vec<usize> = counts.lines().map(|l| l.parse().unwrap()).collect();
    for ((sql, _), want) in cases.iter().zip(counts) {
        assert!(want > 0, "the sample must exercise {sql}");
        let mut firsts = Vec::new();
        for (format, sep) in [("csv", ','), ("tsv", '\t')] {
            let out = query_as(&lake, format, sql);
            let script = format!(
                "import csv, io, sys\nrows = list(csv.reader(io.StringIO(sys.stdin.read()), delimiter={:?}))\n\
                 print(len(rows) - 1)\nfor r in rows: print(r[0])",
                sep.to_string()
            );
            let got = python_with_input(&script, out.as_bytes());
            let mut lines = got.lines();
            assert_eq!(
                lines.next(),
                Some(want.to_string().as_str()),
                "{format}: {sql}"
            );
            // The header's first name, then the first column.
            firsts.push(lines.map(str::to_string).collect::<Vec<_>>());
        }
        let json: serde_json::Value = serde_json::from_str(&query_as(&lake, "json", sql)).unwrap();
        let rows = json.as_array().unwrap();
        assert_eq!(rows.len(), want, "json: {sql}");
        assert_eq!(firsts[0], firsts[1], "csv and tsv differ: {sql}");
        let name = &firsts[0][0];
        let first_column: Vec<String> = rows
            .iter()
            .map(|r| {
                let v = &r[name.as_str()];
                v.as_str().map_or_else(|| v.to_string(), str::to_string)
            })
            .collect();
        // JSON keeps timestamps and text as strings: the same first column as CSV's.
        assert_eq!(first_column, firsts[0][1..], "json and csv differ: {sql}");
    }
}
