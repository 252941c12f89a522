//! `ctlake query` over the bundled sample, against the independent Python reader.

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
    assert_eq!(counts(r.stdout.lines().skip(1)), expected.by_region());
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

fn query_any(lake: &std::path::Path, args: &[&str]) -> Run {
    let lake = lake.display().to_string();
    let mut all = vec!["query", "--lake", lake.as_str()];
    all.extend_from_slice(args);
    run(&all)
}

#[test]
fn markdown_lake_and_parquet_formats() {
    let (dir, lake, expected) = sample_lake();
    let r = query(
        &lake,
        &[
            "--format",
            "markdown",
            "SELECT 'a|b' AS x, 2 AS y, NULL AS z",
        ],
    );
    assert_eq!(r.stdout, "| x | y | z |\n|---|---|---|\n| a\\|b | 2 |  |\n");

    // CloudTrail Lake's GetQueryResults shape. The planted StopLogging is at 03:10:00 on
    // 2026-11-12 (the generator's scenario; DuckDB agrees in tests/slt/sample.slt).
    let r = query(
        &lake,
        &[
            "--format",
            "lake",
            "SELECT eventname, eventtime, count(*) FROM cloudtrail WHERE eventname = 'StopLogging' GROUP BY 1, 2",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["QueryStatus"], "FINISHED");
    assert_eq!(
        v["QueryResultRows"],
        serde_json::json!([[
            {"eventname": "StopLogging"},
            {"eventtime": "2026-11-12 03:10:00.000"},
            {"_col2": "1"}
        ]])
    );
    let stats = &v["QueryStatistics"];
    assert_eq!(stats["ResultsCount"], 1);
    assert_eq!(stats["EventsScanned"], expected.events);
    assert!(stats["BytesScanned"].as_u64().unwrap() > 0);

    let out = dir.path().join("east.parquet");
    let out_s = out.display().to_string();
    query(
        &lake,
        &[
            "--format",
            "parquet",
            "-o",
            &out_s,
            "SELECT eventid, eventtime FROM cloudtrail WHERE awsregion = 'us-east-1'",
        ],
    );
    let want: u64 = expected
        .partitions
        .iter()
        .filter(|(p, _)| p.starts_with("region=us-east-1/"))
        .map(|(_, n)| n)
        .sum();
    let reader =
        parquet::file::reader::SerializedFileReader::new(std::fs::File::open(&out).unwrap())
            .unwrap();
    use parquet::file::reader::FileReader;
    assert_eq!(reader.metadata().file_metadata().num_rows() as u64, want);
}

#[test]
fn errors_exit_1_and_point_at_the_mistake() {
    let (dir, lake, _) = sample_lake();
    let r = query_any(
        &lake,
        &["SELECT eventname\nFROM cloudtrail\nWHERE eventname = = 'x'"],
    );
    assert_eq!(r.code, 1);
    assert_eq!(
        r.stderr,
        "error: syntax error at line 3, column 19: Expected: an expression, found: =\n  WHERE eventname = = 'x'\n                    ^\n"
    );
    let r = query_any(&lake, &["DROP TABLE cloudtrail"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("read-only: DROP TABLE"), "{}", r.stderr);
    let r = query_any(&lake, &["SELECT sourceIPAddres FROM cloudtrail"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("did you mean sourceipaddress?"),
        "{}",
        r.stderr
    );
    // A lake that is not there is an environment error, also 1.
    let r = query_any(&dir.path().join("nope"), &["SELECT 1"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("run `ctlake ingest` first"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_foreign_store_id_reads_this_lake_with_a_notice_and_files_run_every_statement() {
    let (dir, lake, expected) = sample_lake();
    let r = query(
        &lake,
        &[
            "--format",
            "csv",
            "SELECT count(*) AS n FROM 0f0e0d0c-0b0a-4998-8776-655443322110",
        ],
    );
    assert_eq!(r.stdout, format!("n\n{}\n", expected.events));
    assert_eq!(
        r.stderr
            .lines()
            .filter(|l| l.starts_with("notice: "))
            .count(),
        1,
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("0f0e0d0c-0b0a-4998-8776-655443322110"));

    let file = dir.path().join("two.sql");
    std::fs::write(
        &file,
        "-- two statements\nSELECT 1 AS a;\nSELECT count(*) AS n FROM $EDS_ID WHERE awsregion = 'ap-east-1';\n",
    )
    .unwrap();
    let r = query(
        &lake,
        &["--format", "csv", "-f", &file.display().to_string()],
    );
    assert_eq!(r.stdout, "a\n1\nn\n1\n");
}

/// The library: an empty lake has the whole schema, and reading all of a lake earns the hint
/// to bound `eventtime` only when the lake is large (the threshold is a parameter, so the small
/// sample stands in for a large lake here).
#[test]
fn empty_lakes_have_the_schema_and_unbounded_scans_get_a_hint() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let empty_src = dir.path().join("nothing");
    std::fs::create_dir(&empty_src).unwrap();
    let empty = dir.path().join("empty");
    ingest(&empty, &[&empty_src], 0);
    let (_sample_dir, lake, expected) = sample_lake();
    runtime.block_on(async {
        let l = ctlake_query::Lake::open(&empty).await.unwrap();
        let b = l
            .query("SELECT count(*) AS n FROM cloudtrail WHERE useridentity.sessioncontext.sessionissuer.arn IS NOT NULL")
            .await
            .unwrap();
        assert_eq!(b[0].num_rows(), 1);
        let cols = l
            .query("SELECT column_name FROM information_schema.columns WHERE table_name = 'cloudtrail'")
            .await
            .unwrap();
        // 34 event columns (CloudTrail Lake's, lower case) + region + date.
        assert_eq!(cols.iter().map(|b| b.num_rows()).sum::<usize>(), 36);

        let l = ctlake_query::Lake::open(&lake).await.unwrap();
        // Both planned before either runs, then run interleaved: each query's figures are
        // its own.
        let whole = l.sql("SELECT count(*) FROM cloudtrail").await.unwrap();
        let day = l
            .sql("SELECT count(*) FROM cloudtrail WHERE eventtime >= '2026-11-12' AND eventtime < '2026-11-13'")
            .await
            .unwrap();
        let mut whole = l.execute(whole).await.unwrap();
        let day = l.run(day).await.unwrap();
        while whole.next().await.transpose().unwrap().is_some() {}
        let whole = whole.statistics();
        let files = expected.partitions.len() as u64;
        assert_eq!((whole.files_total, whole.files_scanned), (files, files));
        assert_eq!(whole.rows_scanned, expected.events);
        let day_files = expected
            .partitions
            .keys()
            .filter(|p| p.ends_with("2026-11-12"))
            .count() as u64;
        assert!(day_files > 0 && day_files < files);
        assert_eq!(day.statistics.files_scanned, day_files);
        let hint = whole.hint(1).expect("a whole-lake scan earns the hint").to_string();
        assert!(hint.contains(&format!("all {} files", expected.partitions.len())), "{hint}");
        assert_eq!(whole.hint(u64::MAX), None, "a small lake earns no hint");
        assert_eq!(day.statistics.hint(1), None, "a bounded query earns no hint");
        assert_eq!(whole.files_skipped, 0);
        // The latest events: planned over every file, but most are skipped unread once the
        // top rows are found, so the query earns no hint.
        let latest = l
            .run(l.sql("SELECT eventid FROM cloudtrail ORDER BY eventtime DESC LIMIT 5").await.unwrap())
            .await
            .unwrap();
        assert_eq!(latest.statistics.files_scanned, files);
        assert!(latest.statistics.files_skipped * 2 > files, "{:?}", latest.statistics);
        assert_eq!(latest.statistics.hint(1), None, "a top-n that skipped files earns no hint");
    });
}

#[test]
fn a_memory_limit_spills_or_fails_cleanly_but_never_takes_the_machine() {
    // 50,000 distinct events (none delivered twice): a GROUP BY eventid holds about 6 MB.
    let dir = tempfile::tempdir().unwrap();
    let src = deliveries(dir.path(), "50000", "3");
    let lake = dir.path().join("lake");
    ingest(&lake, &[src.as_path()], 0);
    let lake = lake.display().to_string();
    let sql = "SELECT count(*) AS ids, sum(n) AS events FROM \
               (SELECT eventid, count(*) AS n FROM cloudtrail GROUP BY eventid ORDER BY eventid)";
    let query = |limit: &str, sql: &str| {
        run(&[
            "--memory-limit",
            limit,
            "query",
            "--format",
            "csv",
            "--lake",
            &lake,
            sql,
        ])
    };
    // Spill operations in an EXPLAIN ANALYZE of the query under `limit`.
    let spills = |limit: &str| -> u64 {
        let r = query(limit, &format!("EXPLAIN ANALYZE {sql}"));
        assert_eq!(r.code, 0, "{}", r.stderr);
        r.stdout
            .split("spill_count=")
            .skip(1)
            .map(|s| s.split(|c: char| !c.is_ascii_digit()).next().unwrap())
            .map(|n| n.parse::<u64>().unwrap())
            .sum()
    };
    // Unlimited, nothing spills; under 6 MB the aggregation and the sort spill, and the answer
    // is still every generated event once.
    assert_eq!(spills("none"), 0);
    assert!(spills("6M") > 0);
    let r = query("6M", sql);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "ids,events\n50000,50000\n", "{}", r.stderr);
    // Below what even one batch needs: a clear error and exit 1, not an abort.
    let r = query("1K", sql);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("Failed to allocate"), "{}", r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    // Sizes are checked.
    let r = run(&[
        "--memory-limit",
        "lots",
        "query",
        "--lake",
        &lake,
        "SELECT 1",
    ]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("expected a size such as 512M"),
        "{}",
        r.stderr
    );
}

/// Lookups by a principal or a map key are answered from every file that holds the value and
/// skip the others by the files' flat copies (bloom filters), in a lake whose files all carry
/// the copies and in one where half of them predate the copies. Counts and the files holding
/// each value come from the raw JSON, read by Python.
#[test]
fn principal_and_map_key_lookups_skip_files() {
    let (_dir, lake, _) = sample_lake();
    let lookups = [
        (
            "useridentity.accesskeyid = 'AKIA4OOR6JFUYWFJJ64U'",
            "(r.get('userIdentity') or {}).get('accessKeyId') == 'AKIA4OOR6JFUYWFJJ64U'",
        ),
        (
            "useridentity.arn IN ('arn:aws:sts::777662380410:assumed-role/Admin/dave', 'x')",
            "(r.get('userIdentity') or {}).get('arn') == 'arn:aws:sts::777662380410:assumed-role/Admin/dave'",
        ),
        (
            "useridentity.sessioncontext.sessionissuer.arn = 'arn:aws:iam::777662380410:role/terraform'",
            "((((r.get('userIdentity') or {}).get('sessionContext') or {}).get('sessionIssuer') or {}).get('arn')) == 'arn:aws:iam::777662380410:role/terraform'",
        ),
        (
            "element_at(requestparameters, 'bucketName') = 'app-assets-7776'",
            "(r.get('requestParameters') or {}).get('bucketName') == 'app-assets-7776'",
        ),
        (
            "additionaleventdata['MFAUsed'] = 'No'",
            "(r.get('additionalEventData') or {}).get('MFAUsed') == 'No'",
        ),
    ];
    let tests: Vec<String> = lookups
        .iter()
        .map(|(_, py)| format!("lambda r: {py}"))
        .collect();
    let script = format!(
        "import glob, gzip, json, sys\n\
         tests = [{}]\n\
         seen, found = set(), [[0, set()] for _ in tests]\n\
         for f in sorted(glob.glob(sys.argv[1] + '/**/*.json.gz', recursive=True)):\n    \
             for r in json.load(gzip.open(f))['Records']:\n        \
                 if r['eventID'] in seen:\n            continue\n        \
                 seen.add(r['eventID'])\n        \
                 for t, x in zip(tests, found):\n            \
                     if t(r):\n                \
                         x[0] += 1\n                \
                         x[1].add((r['awsRegion'], r['eventTime'][:10]))\n\
         print(json.dumps([[n, len(p)] for n, p in found]))\n",
        tests.join(", ")
    );
    let out = python_args(&script, &[&repo_root().join("data")]);
    let want: Vec<(u64, u64)> = serde_json::from_str(&out).unwrap();
    assert!(
        want.iter()
            .all(|&(n, files)| n > 0 && files > 0 && files < 20),
        "{want:?}"
    );

    let check = |lake: &std::path::Path, mixed: bool| {
        for ((sql, _), &(n, files)) in lookups.iter().zip(&want) {
            let r = query(
                lake,
                &[
                    "--format",
                    "csv",
                    &format!("SELECT count(*) FROM cloudtrail WHERE {sql}"),
                ],
            );
            assert_eq!(
                r.stdout.lines().nth(1),
                Some(n.to_string().as_str()),
                "{sql}"
            );
            let r = query(
                lake,
                &[
                    "--format",
                    "csv",
                    &format!("EXPLAIN ANALYZE SELECT count(*) FROM cloudtrail WHERE {sql}"),
                ],
            );
            // Row groups left after the bloom filters, summed over the scans. (The sample's
            // files have one row group each.)
            let kept: Vec<u64> = r
                .stdout
                .split("row_groups_pruned_bloom_filter=")
                .skip(1)
                .map(|m| {
                    let matched = m.split(" matched").next().unwrap();
                    matched.rsplit(' ').next().unwrap().parse().unwrap()
                })
                .collect();
            let kept: u64 = kept.iter().sum();
            if mixed {
                // Files without copies are all read; the rest are pruned.
                assert!(
                    kept >= files,
                    "{sql}: {kept} row groups read, {files} hold it"
                );
            } else {
                assert!(
                    (files..=files + 2).contains(&kept),
                    "{sql}: {kept} row groups read, {files} hold it\n{}",
                    r.stdout
                );
            }
        }
    };
    check(&lake, false);

    forget_copies_of_half(&lake);
    check(&lake, true);
}

/// A lookup of a copied map key in SELECT or GROUP BY reads the copy's column, not the map,
/// with the same answers as the raw JSON gives (read by Python); a lake where half the files
/// predate the copies gives the same answers too.
#[test]
fn map_key_lookups_read_the_copies() {
    let (_dir, lake, _) = sample_lake();
    let script = "import glob, gzip, json, sys, collections\n\
        seen, n = set(), collections.Counter()\n\
        for f in sorted(glob.glob(sys.argv[1] + '/**/*.json.gz', recursive=True)):\n    \
            for r in json.load(gzip.open(f))['Records']:\n        \
                if r['eventID'] in seen:\n            continue\n        \
                seen.add(r['eventID'])\n        \
                b = (r.get('requestParameters') or {}).get('bucketName') or '(none)'\n        \
                m = (r.get('additionalEventData') or {}).get('MFAUsed') or '(none)'\n        \
                n[(b, m)] += 1\n\
        for (b, m), c in sorted(n.items()):\n    print(f'{b},{m},{c}')\n";
    let want = python_args(script, &[&repo_root().join("data")]);
    assert!(want.lines().count() > 10, "{want}");
    let sql = "SELECT coalesce(element_at(requestparameters, 'bucketName'), '(none)') AS b, \
               coalesce(additionaleventdata['MFAUsed'], '(none)') AS m, count(*) AS n \
               FROM cloudtrail GROUP BY 1, 2 ORDER BY 1, 2";
    let check = |lake: &std::path::Path, mixed: bool| {
        let r = query(lake, &["--format", "csv", sql]);
        let got: Vec<&str> = r.stdout.lines().skip(1).collect();
        assert_eq!(got, want.lines().collect::<Vec<_>>());
        let r = query(lake, &["--format", "csv", &format!("EXPLAIN {sql}")]);
        let scans: Vec<&str> = r.stdout.split("DataSourceExec").skip(1).collect();
        assert_eq!(scans.len(), if mixed { 2 } else { 1 }, "{}", r.stdout);
        let reads_copies = |scan: &str| {
            scan.contains("_ct_requestparameters_bucketname@")
                && scan.contains("_ct_additionaleventdata_mfaused@")
                && !scan.contains("requestparameters@")
        };
        if !mixed {
            assert!(reads_copies(scans[0]), "{}", r.stdout);
        }
        // With files of both kinds the two scans sit under a union, which DataFusion does
        // not move the lookups through: both read the maps, with the same answers.
    };
    check(&lake, false);
    forget_copies_of_half(&lake);
    check(&lake, true);
}

/// Makes half the lake's files look written before the flat copies existed: the log names
/// none for them (their Parquet still has them, which readers must then not rely on), nor
/// their footer's length and schema, which the log did not record then either.
fn forget_copies_of_half(lake: &std::path::Path) {
    for entry in std::fs::read_dir(lake.join("_ctlake/log")).unwrap() {
        let path = entry.unwrap().path();
        let mut commit: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        for (i, f) in commit["add"].as_array_mut().unwrap().iter_mut().enumerate() {
            if i % 2 == 0 {
                for field in ["copies", "footer", "schema"] {
                    f.as_object_mut().unwrap().remove(field);
                }
            }
        }
        std::fs::write(&path, serde_json::to_vec(&commit).unwrap()).unwrap();
    }
}
