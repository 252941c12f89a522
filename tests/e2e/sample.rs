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

/// The plan of `sql` over `lake` with its metrics, as `EXPLAIN ANALYZE` prints it.
fn explain_analyze(lake: &str, sql: &str) -> String {
    let explain = run(&[
        "query",
        "--lake",
        lake,
        "--format",
        "csv",
        &format!("EXPLAIN ANALYZE {sql}"),
    ]);
    assert_eq!(explain.code, 0, "{}", explain.stderr);
    explain.stdout
}

/// Row groups DataFusion's bloom filters let through for `column = value`, from EXPLAIN ANALYZE,
/// and the rows the query returns.
fn bloom_matched(lake: &str, column: &str, value: &str) -> (u64, usize) {
    let sql = format!("SELECT eventname FROM cloudtrail WHERE {column} = '{value}'");
    let explain = explain_analyze(lake, &sql);
    let metric = "row_groups_pruned_bloom_filter=";
    let at = explain.find(metric).unwrap_or_else(|| panic!("{explain}")) + metric.len();
    // "<total> total → <matched> matched"
    let text = &explain[at..];
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

/// The file ranges a scan could open and those it did, from EXPLAIN ANALYZE's
/// `files_ranges_pruned_statistics=<total> total → <matched> matched`, summed over the scans.
fn files_opened(lake: &str, sql: &str) -> (u64, u64) {
    let explain = explain_analyze(lake, sql);
    let metric = "files_ranges_pruned_statistics=";
    let (mut total, mut matched) = (0, 0);
    for part in explain.split(metric).skip(1) {
        let mut words = part.split_whitespace();
        total += words.next().unwrap().parse::<u64>().unwrap();
        // "total", "→", then the matched count.
        matched += words.nth(2).unwrap().parse::<u64>().unwrap();
    }
    assert!(total > 0, "{explain}");
    (total, matched)
}

/// Opening a data file reads its footer and nothing more: the log records each footer's
/// length, so a scan asks for exactly those bytes (it read 64 KB, or the whole of a smaller
/// file, before). `count(*)` needs no column, only each file's footer.
#[test]
fn opening_a_file_reads_exactly_its_footer() {
    let (_dir, lake, _expected) = sample_lake();
    // Each footer's length, off the file's own last 8 bytes: its length, then `PAR1`.
    let mut footers = Vec::new();
    let mut stack = vec![lake.join("cloudtrail")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "parquet") {
                let bytes = std::fs::read(&path).unwrap();
                let tail = &bytes[bytes.len() - 8..];
                assert_eq!(&tail[4..], b"PAR1");
                footers.push(u32::from_le_bytes(tail[..4].try_into().unwrap()) as f64 + 8.0);
            }
        }
    }
    let total: f64 = footers.iter().sum();
    let largest = footers.iter().cloned().fold(0.0, f64::max);

    let lake_s = lake.display().to_string();
    let sql = "SELECT count(*) FROM cloudtrail";
    let explain = explain_analyze(&lake_s, sql);
    // DataFusion prints the count with four significant digits ("640.5 K").
    let scanned: f64 = explain
        .split(" bytes_scanned=")
        .skip(1)
        .map(|part| {
            let mut words = part.split_whitespace();
            let number: f64 = words.next().unwrap().trim_end_matches(',').parse().unwrap();
            match words.next().map(|w| w.trim_end_matches(',')) {
                Some("K") => number * 1e3,
                Some("M") => number * 1e6,
                _ => number,
            }
        })
        .sum();
    let (ranges, _) = files_opened(&lake_s, sql);
    // A file DataFusion splits into two ranges has its footer read once for each.
    let extra = (ranges as f64 - footers.len() as f64) * largest;
    assert!(
        scanned >= total * 0.995 && scanned <= (total + extra) * 1.005,
        "read {scanned} bytes to open {} files ({ranges} ranges) whose footers are {total} bytes",
        footers.len()
    );
}

/// An investigation's usual question, the latest events of one principal, reads the newest
/// files and skips the others: each file's time range comes from the commit log, and the
/// top-n's bound rules older files out before their footers are read.
#[test]
fn the_latest_events_of_a_principal_skip_older_files() {
    let (_dir, lake, _expected) = sample_lake();
    let lake_s = lake.display().to_string();
    let glob = format!("{}/cloudtrail/**/*.parquet", lake.display());
    // DuckDB picks the principal with events on the most days and lists its five latest
    // events, and counts the data files.
    let script = format!(
        r#"
import duckdb
t = "read_parquet('{glob}')"
arn = duckdb.sql(f"select useridentity.arn from {{t}} where useridentity.arn is not null group by 1 order by count(distinct eventtime::date) desc, 1 limit 1").fetchall()[0][0]
rows = duckdb.sql(f"select eventid from {{t}} where useridentity.arn = '{{arn}}' order by eventtime desc, eventid limit 5").fetchall()
files = duckdb.sql(f"select count(distinct filename) from read_parquet('{glob}', filename=true)").fetchall()[0][0]
print(arn, files, *[r[0] for r in rows])
"#
    );
    let Some(out) = duckdb(&script) else { return };
    let mut words = out.split_whitespace();
    let arn = words.next().unwrap().to_string();
    let files: u64 = words.next().unwrap().parse().unwrap();
    let latest: Vec<&str> = words.collect();
    assert_eq!(latest.len(), 5);

    let sql = format!(
        "SELECT eventid FROM cloudtrail WHERE useridentity.arn = '{arn}' \
         ORDER BY eventtime DESC, eventid LIMIT 5"
    );
    let r = run(&["query", "--lake", &lake_s, "--format", "csv", &sql]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let got: Vec<&str> = r.stdout.lines().skip(1).collect();
    assert_eq!(got, latest);

    // Ranges, not files: DataFusion may split a large file in two to keep both cores busy.
    let (ranges, opened) = files_opened(&lake_s, &sql);
    assert!(
        (files..files + 3).contains(&ranges),
        "{ranges} ranges of {files} files"
    );
    // The sample spans more than a week and its principal acts on most days: the latest five
    // events sit in the newest files, and most of the rest are never opened.
    assert!(
        opened * 2 < files,
        "opened {opened} of {ranges} file ranges"
    );
}
