//! The bundled sample in `data/`: what the README's first command ingests.

use crate::common::*;

#[test]
fn the_bundled_sample_ingests_completely() {
    let (_dir, lake, expected) = sample_lake();
    let files = table_files(&lake);
    assert_eq!(rows_by_partition(&files), expected.partitions);
    let info = info(&lake);
    assert_eq!(info["events"], expected.events);
    // Several accounts, regions and days, as the sample promises.
    assert!(info["regions"].as_object().unwrap().len() >= 4, "{info}");
    assert!(info["dates"].as_array().unwrap().len() >= 7, "{info}");
    let id = info["event_data_store"].as_str().unwrap();
    assert_eq!(id.len(), 36);
    assert_eq!(id.matches('-').count(), 4);
}

#[test]
fn duckdb_reads_the_lake_as_plain_parquet() {
    let (_dir, lake, expected) = sample_lake();
    let glob = format!("{}/cloudtrail/**/*.parquet", lake.display());
    let script = format!(
        r#"
import duckdb
con = duckdb.connect()
t = "read_parquet('{glob}', hive_partitioning=true)"
n, d = con.sql(f"select count(*), count(distinct region || '/' || date::varchar || '/' || eventid) from {{t}}").fetchall()[0]
mfa = con.sql(f"select count(*) from {{t}} where eventname = 'ConsoleLogin' and element_at(additionaleventdata, 'MFAUsed')[1] = 'No'").fetchall()[0][0]
arn = con.sql(f"select count(*) from {{t}} where useridentity.sessioncontext.sessionissuer.arn like '%:role/Admin'").fetchall()[0][0] > 0
unsorted = con.sql(f"select count(*) from (select eventtime < lag(eventtime) over (partition by filename order by file_row_number) as back from read_parquet('{glob}', filename=true, file_row_number=true)) where back").fetchall()[0][0]
print(n, d, mfa, arn, unsorted)
"#
    );
    let Some(out) = duckdb(&script) else { return };
    // The sample plants exactly eight console logins without MFA: root, bob's six failures
    // and carol (see ctlake-generate's `planted` module).
    assert_eq!(
        out,
        format!("{} {} 8 True 0", expected.events, expected.events)
    );
}

#[test]
fn the_sources_read_are_listed_apart_from_the_log() {
    let (_dir, lake, expected) = sample_lake();
    // Queries replay the log, so it must not carry a line per source file.
    let log = lake.join("_ctlake/log");
    let mut entries = 0;
    for e in std::fs::read_dir(&log).unwrap() {
        let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert!(
            v.get("sources").is_none(),
            "sources inline in the log: {text}"
        );
        assert!(v["sources_file"].is_string(), "{text}");
        entries += 1;
    }
    assert!(entries >= 1);
    // The lists are plain Parquet: DuckDB reads them. The Python reader says which files
    // hold events and how many records each.
    let files = expected.by_file.len();
    let records: usize =
        expected.by_file.values().map(Vec::len).sum::<usize>() + expected.rejects as usize;
    let glob = format!("{}/_ctlake/sources/*.parquet", lake.display());
    let script = format!(
        r#"
import duckdb
print(*duckdb.sql("select count(*), count(distinct uri), sum(events), count(distinct uri_key), bool_and(uri like 'file:///%.json.gz') from read_parquet('{glob}')").fetchall()[0])
"#
    );
    let Some(out) = duckdb(&script) else { return };
    assert_eq!(out, format!("{files} {files} {records} {files} True"));
}

/// Row groups DataFusion's bloom filters let through for `column = value`, from EXPLAIN ANALYZE,
/// and the rows the query returns.
fn bloom_matched(lake: &str, column: &str, value: &str) -> (u64, usize) {
    let sql = format!("SELECT eventname FROM cloudtrail WHERE {column} = '{value}'");
    let explain = run(&[
        "query",
        "--lake",
        lake,
        "--format",
        "csv",
        &format!("EXPLAIN ANALYZE {sql}"),
    ]);
    assert_eq!(explain.code, 0, "{}", explain.stderr);
    let metric = "row_groups_pruned_bloom_filter=";
    let at = explain
        .stdout
        .find(metric)
        .unwrap_or_else(|| panic!("{}", explain.stdout))
        + metric.len();
    // "<total> total → <matched> matched"
    let text = &explain.stdout[at..];
    let matched = text
        .split('→')
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .unwrap();
    let rows = run(&["query", "--lake", lake, "--format", "csv", &sql]);
    assert_eq!(rows.code, 0, "{}", rows.stderr);
    (matched.parse().unwrap(), rows.stdout.lines().count() - 1)
}

#[test]
fn point_lookups_skip_files_by_bloom_filter() {
    let (_dir, lake, expected) = sample_lake();
    let lake_s = lake.display().to_string();
    // An id of the sample (the Python reader's) is in exactly one file; an id that is nowhere
    // but within every file's min/max (so statistics cannot rule it out) is let through by no
    // file's filter.
    let id = expected
        .by_file
        .values()
        .flatten()
        .flatten()
        .next()
        .unwrap()
        .clone();
    assert_eq!(bloom_matched(&lake_s, "eventid", &id), (1, 1));
    let absent = "55555555-5555-4555-8555-555555555555";
    assert_eq!(bloom_matched(&lake_s, "eventid", absent), (0, 0));
    // The planted root login's address: DuckDB counts the files and rows that hold it.
    let glob = format!("{}/cloudtrail/**/*.parquet", lake.display());
    let script = format!(
        r#"
import duckdb
print(*duckdb.sql("select count(distinct filename), count(*) from read_parquet('{glob}', filename=true) where sourceipaddress = '203.0.113.200'").fetchall()[0])
"#
    );
    let Some(out) = duckdb(&script) else { return };
    let (files, rows) = bloom_matched(&lake_s, "sourceipaddress", "203.0.113.200");
    assert_eq!(format!("{files} {rows}"), out);
    assert_eq!(
        bloom_matched(&lake_s, "sourceipaddress", "192.0.2.254"),
        (0, 0)
    );
}
