//! Reliability as a hostile or unlucky user meets it: queries running beside compaction and
//! ingest, damaged and tampered lakes, input built to crash or blind the tool.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::common::*;

fn count(lake: &Path) -> Run {
    run(&[
        "query",
        "--format",
        "csv",
        "--lake",
        lake.to_str().unwrap(),
        "SELECT count(*) AS n FROM cloudtrail",
    ])
}

/// Splits the generated deliveries of `src` into `parts` folders, file by file.
fn split(src: &Path, dir: &Path, parts: usize) -> Vec<std::path::PathBuf> {
    let files: Vec<_> = files_under(src)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".json.gz"))
        .collect();
    let dirs: Vec<_> = (0..parts).map(|i| dir.join(format!("part{i}"))).collect();
    for (i, f) in files.iter().enumerate() {
        let rel = f.strip_prefix(src).unwrap();
        let to = dirs[i % parts].join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(f, to).unwrap();
    }
    dirs
}

#[test]
fn queries_beside_compaction_and_ingest_never_fail() {
    let dir = tempfile::tempdir().unwrap();
    let src = deliveries(dir.path(), "8000", "17");
    let expected = expected(&[&src]);
    let parts = split(&src, dir.path(), 3);
    let lake = dir.path().join("lake");
    let lake_arg = lake.to_str().unwrap().to_string();
    let ingest_part = |part: &Path, extra: &[&str]| {
        let mut a = vec![
            "ingest",
            "--quiet",
            "--batch-files",
            "5",
            "--lake",
            &lake_arg,
        ];
        a.extend(extra);
        a.push(part.to_str().unwrap());
        let r = run(&a);
        assert_eq!(r.code, 0, "{}", r.stderr);
    };
    ingest_part(&parts[0], &["--no-compact"]);

    // Queries in a loop, each a separate process as users run them, while compaction and
    // ingest (which compacts at its end) replace files under them.
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let stop = Arc::clone(&stop);
        let lake = lake.clone();
        std::thread::spawn(move || {
            let mut answers = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                answers.push(count(&lake));
            }
            answers
        })
    };
    let r = run(&["compact", "--lake", &lake_arg]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    ingest_part(&parts[1], &[]);
    ingest_part(&parts[2], &["--no-compact"]);
    let r = run(&["compact", "--lake", &lake_arg]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    stop.store(true, Ordering::Relaxed);
    let answers = reader.join().unwrap();
    assert!(answers.len() >= 3, "only {} queries ran", answers.len());
    for a in &answers {
        assert_eq!(a.code, 0, "a query beside compaction failed: {}", a.stderr);
    }
    let last = count(&lake);
    assert_eq!(last.stdout.trim(), format!("n\n{}", expected.events));
}

#[test]
fn replaced_files_wait_for_running_queries_then_go() {
    let dir = tempfile::tempdir().unwrap();
    let src = deliveries(dir.path(), "3000", "18");
    let expected = expected(&[&src]);
    let lake = dir.path().join("lake");
    let lake_arg = lake.to_str().unwrap();
    fragmented_lake(&lake, &src, "10");
    let before = table_files(&lake);

    // A query in flight holds the readers' lock shared, as `ctlake query` does while it runs.
    let reader = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lake.join("_ctlake/readers"))
        .unwrap();
    reader.lock_shared().unwrap();
    let r = run(&["compact", "--lake", lake_arg]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let during = table_files(&lake);
    for f in &before {
        assert!(
            during.contains(f),
            "{} deleted under a running query",
            f.display()
        );
    }
    // The table already is the compacted one.
    assert_eq!(committed_files(&lake).len(), expected.partitions.len());
    let r = count(&lake);
    assert_eq!(
        r.stdout.trim(),
        format!("n\n{}", expected.events),
        "{}",
        r.stderr
    );
    drop(reader);

    // The next writer deletes them; a directory reader then sees each event once.
    let r = run(&["vacuum", "--lake", lake_arg]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let after = table_files(&lake);
    assert_eq!(after, committed_files(&lake));
    if let Some(n) = duckdb(&format!(
        "import duckdb; print(duckdb.sql(\"SELECT count(*) FROM read_parquet('{}/cloudtrail/**/*.parquet')\").fetchall()[0][0])",
        lake.display()
    )) {
        assert_eq!(n, expected.events.to_string());
    }
}

#[test]
fn escape_sequences_in_values_never_reach_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let lake = hostile_lake(dir.path());
    let l = lake.to_str().unwrap();
    let sql = "SELECT useragent FROM cloudtrail";
    for format in ["table", "markdown"] {
        let r = run(&["query", "--format", format, "--lake", l, sql]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(!r.stdout.contains('\u{1b}'), "{format}: {:?}", r.stdout);
        assert!(!r.stdout.contains('\r'), "{format}: {:?}", r.stdout);
        assert!(!r.stdout.contains('\u{202e}'), "{format}: {:?}", r.stdout);
        assert!(r.stdout.contains(HOSTILE_SHOWN), "{format}: {}", r.stdout);
    }
    let r = run(&["query", "--format", "markdown", "--lake", l, sql]);
    assert!(
        r.stdout.contains("gpj\\|&lt;b&gt;x&lt;/b&gt;"),
        "{}",
        r.stdout
    );
    // JSON escapes controls as JSON does; what it decodes to is the stored value.
    let r = run(&["query", "--format", "json", "--lake", l, sql]);
    assert!(!r.stdout.contains('\u{1b}'), "{:?}", r.stdout);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v[0]["useragent"], HOSTILE_AGENT);
    // CSV into a file (not a terminal) keeps the bytes.
    let out = dir.path().join("agents.csv");
    let r = run(&[
        "query",
        "--format",
        "csv",
        "-o",
        out.to_str().unwrap(),
        "--lake",
        l,
        sql,
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let csv = std::fs::read_to_string(&out).unwrap();
    assert!(csv.contains("\u{1b}]52;c;aGk="), "{csv:?}");

    // The report's Markdown shows the value escaped and passes no HTML through.
    let report = dir.path().join("report");
    let r = run(&[
        "report",
        "--lake",
        l,
        "--from",
        "2026-01-01",
        "--to",
        "2027-01-01",
        "--out",
        report.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let md = std::fs::read_to_string(report.join("report.md")).unwrap();
    assert!(md.contains(HOSTILE_SHOWN), "{md}");
    assert!(!md.contains('\u{1b}') && !md.contains("<b>"), "{md:?}");
    let html = std::fs::read_to_string(report.join("index.html")).unwrap();
    assert!(!html.contains("<b>x</b>"));
}

#[test]
fn a_detection_overridden_by_the_lake_is_announced_and_can_be_refused() {
    let dir = tempfile::tempdir().unwrap();
    let lake = hostile_lake(dir.path());
    let l = lake.to_str().unwrap();
    // Whoever can write the lake's folder switches the root detection off.
    let builtin =
        std::fs::read_to_string(repo_root().join("queries/root-account-use.sql")).unwrap();
    let queries = lake.join("queries");
    std::fs::create_dir_all(&queries).unwrap();
    let override_file = queries.join("root-account-use.sql");
    std::fs::write(
        &override_file,
        builtin.replace("ORDER BY eventtime", "AND false ORDER BY eventtime"),
    )
    .unwrap();
    let report = |out: &str, extra: &[&str]| {
        let out = dir.path().join(out);
        let mut a = vec![
            "report",
            "--lake",
            l,
            "--from",
            "2026-01-01",
            "--to",
            "2027-01-01",
            "--fail-on-findings",
            "--out",
            out.to_str().unwrap(),
        ];
        a.extend(extra);
        (run(&a), out)
    };
    let (r, out) = report("overridden", &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let warning = format!(
        "saved query root-account-use is overridden: {} replaces the built-in query",
        override_file.canonicalize().unwrap().display()
    );
    assert!(r.stderr.contains(&warning), "{}", r.stderr);
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains(&format!("**Warning:** {warning}")), "{md}");
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(html.contains("class=\"override\""));

    // --builtin-only runs the built-in detection: the root call is a finding (exit 3).
    let (r, out) = report("builtin", &["--builtin-only"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(!r.stderr.contains("overridden"), "{}", r.stderr);
    let csv = std::fs::read_to_string(out.join("root-account-use.csv")).unwrap();
    assert_eq!(csv.lines().count(), 2, "{csv}");

    // The same for one saved query, and the listing marks it.
    let r = run(&[
        "query",
        "--lake",
        l,
        "--saved",
        "root-account-use",
        "--from",
        "2026-01-01",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains(&warning), "{}", r.stderr);
    let r = run(&["saved", "--lake", l]);
    assert!(
        r.stdout.contains("OVERRIDES the built-in query"),
        "{}",
        r.stdout
    );
}

/// What a Python script prints (an independent count).
fn python(script: &str) -> String {
    python_args(script, &[])
}

/// A query whose `WHERE` is `terms` joined by `op`.
fn chain_query(dir: &Path, name: &str, terms: &[String], op: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    let sql = format!(
        "SELECT count(*) AS n FROM cloudtrail WHERE {}",
        terms.join(&format!(" {op} "))
    );
    std::fs::write(&path, sql).unwrap();
    path
}

#[test]
fn ten_thousand_or_terms_answer_and_deeper_nesting_is_refused_cleanly() {
    let (dir, lake, _) = sample_lake();
    let l = lake.to_str().unwrap();
    // An IOC list of 10,000 addresses, two of them in the sample (the Python reader counts
    // their events independently).
    let mut terms: Vec<String> = (0..10_000)
        .map(|i| {
            format!(
                "sourceipaddress = '10.{}.{}.{}'",
                i / 65536,
                i / 256 % 256,
                i % 256
            )
        })
        .collect();
    terms[4000] = "sourceipaddress = '203.0.113.66'".into();
    terms[9999] = "useragent LIKE '%no-such-agent%'".into();
    let file = chain_query(dir.path(), "ioc.sql", &terms, "OR");
    let events = python(&format!(
        "import gzip, json, pathlib\n\
         ids = set()\n\
         for p in pathlib.Path('{}').rglob('*.json.gz'):\n    \
             for r in json.load(gzip.open(p)).get('Records', []):\n        \
                 if r.get('sourceIPAddress') == '203.0.113.66': ids.add(r['eventID'])\n\
         print(len(ids))",
        repo_root().join("data").display()
    ));
    assert_ne!(events, "0");
    let r = run(&[
        "query",
        "--format",
        "csv",
        "--lake",
        l,
        "-f",
        file.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout.trim(), format!("n\n{events}"));

    // Mixed predicates ANDed 10,000 times, and `1 + 1 + ...`: refused with a reason, exit 1.
    let terms: Vec<String> = (0..10_000)
        .map(|i| format!("length(useragent) + {i} <> 0"))
        .collect();
    let file = chain_query(dir.path(), "and.sql", &terms, "AND");
    let r = run(&["query", "--lake", l, "-f", file.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("10000 terms joined by AND (at most 1000)"),
        "{}",
        r.stderr
    );
    let plus = vec!["1".to_string(); 10_000].join(" + ");
    let r = run(&["query", "--lake", l, &format!("SELECT {plus}")]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("nested more than 500 levels"),
        "{}",
        r.stderr
    );
}

/// Runs ctlake under `ulimit -v` (KiB), as a machine with that much memory would.
fn run_limited(kib: u64, args: &[&str]) -> Run {
    let bin = ctlake().get_program().to_owned();
    let mut c = std::process::Command::new("sh");
    c.arg("-c")
        .arg(format!("ulimit -v {kib}; exec \"$0\" \"$@\""))
        .arg(bin)
        .args(args)
        .env_remove("CTLAKE_LAKE");
    let out = c.output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn a_gigabyte_string_in_a_small_gzip_is_rejected_and_the_rest_goes_in() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let bomb = src.join("bomb.json.gz");
    let g = std::process::Command::new("python3")
        .arg(repo_root().join("tests/scripts/huge_record.py"))
        .arg(&bomb)
        .arg("3200")
        .status()
        .unwrap();
    assert!(g.success());
    assert!(std::fs::metadata(&bomb).unwrap().len() < 20 << 20);
    write_gz(
        &src.join("good.json.gz"),
        &format!(
            "{{\"Records\":[{}]}}",
            record("good-1", "eu-west-1", "2026-11-02T00:00:00Z")
        ),
    );
    let lake = dir.path().join("lake");
    // 2 GB of address space: the 3.2 GB string cannot be held, so it must not be.
    let r = run_limited(
        2_000_000,
        &[
            "ingest",
            "--lake",
            lake.to_str().unwrap(),
            src.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("3 written"), "{}", r.stdout);
    let ids: Vec<String> = stored_ids(&committed_files(&lake))
        .into_iter()
        .map(|(_, id)| id)
        .collect();
    let mut ids = ids;
    ids.sort();
    assert_eq!(ids, ["good-1", "id-1", "id-3"]);
    let rejects = files_under(&lake.join("_rejects"));
    assert_eq!(rejects.len(), 1);
    let line: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(&rejects[0]).unwrap().trim()).unwrap();
    assert_eq!(line["record"], 2);
    let reason = line["reason"].as_str().unwrap();
    assert!(
        reason.starts_with(
            "record of 3355443468 bytes at byte 266 is larger than the limit of 67108864"
        ),
        "{reason}"
    );
}

#[test]
fn events_on_thousands_of_dates_stay_within_the_memory_budget() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let day0 = chrono::NaiveDate::from_ymd_opt(2000, 1, 1).unwrap();
    let mut records: Vec<String> = (0..5000)
        .map(|i| {
            let day = day0 + chrono::Duration::days(i);
            record(&format!("d{i}"), "us-east-1", &format!("{day}T00:00:00Z"))
        })
        .collect();
    // Times no CloudTrail has: rejected, not partitions of their own.
    records.push(record("late", "us-east-1", "2263-01-01T00:00:00Z"));
    records.push(record("zero", "us-east-1", "1970-01-01T00:00:00Z"));
    write_gz(
        &src.join("dates.json.gz"),
        &format!("{{\"Records\":[{}]}}", records.join(",")),
    );
    let lake = dir.path().join("lake");
    // Peak memory of the run, measured by the kernel for the child.
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import resource, subprocess, sys\n\
             r = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n\
             print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n\
             print(r.stdout)",
        ])
        .arg(ctlake().get_program())
        .args(["ingest", "--memory-budget", "16", "--lake"])
        .arg(&lake)
        .arg(&src)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut first = text.lines().next().unwrap().split(' ');
    let code: i32 = first.next().unwrap().parse().unwrap();
    let rss_kib: u64 = first.next().unwrap().parse().unwrap();
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("5,000 written"), "{text}");
    assert!(text.contains("2 rejected"), "{text}");
    // Before partitions counted against the budget, the decoder's 5,000 sets of builders
    // alone took about 750 MB.
    assert!(
        rss_kib < 400_000,
        "peak RSS {rss_kib} KiB with a 16 MB budget"
    );
    let rejects = std::fs::read_to_string(&files_under(&lake.join("_rejects"))[0]).unwrap();
    assert!(rejects.contains("eventTime 2263-01-01T00:00:00Z is outside 1990-01-01 .. 2200-01-01"));
    let r = run(&[
        "query",
        "--format",
        "csv",
        "--lake",
        lake.to_str().unwrap(),
        "SELECT count(DISTINCT date_trunc('month', eventtime)) AS months FROM cloudtrail",
    ]);
    assert_eq!(r.stdout.trim(), "months\n165", "{}", r.stderr);
}

fn flip_bit(path: &Path, at: usize) {
    let mut b = std::fs::read(path).unwrap();
    let i = at.min(b.len() - 1);
    b[i] ^= 0x10;
    std::fs::write(path, b).unwrap();
}

#[test]
fn verify_names_damage_and_repair_with_recheck_restores_every_event() {
    let (_dir, lake, expected) = sample_lake();
    let l = lake.to_str().unwrap();
    let r = run(&["verify", "--lake", l, "--deep"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(&format!(
            "{} events, {} eventjson re-hashed): 0 damaged, 0 unreferenced",
            count_text(expected.events),
            count_text(expected.events)
        )),
        "{}",
        r.stdout
    );

    // One flipped bit in the largest data file.
    let mut files = committed_files(&lake);
    files.sort_by_key(|f| std::fs::metadata(f).unwrap().len());
    let victim = files.last().unwrap().clone();
    let rel = victim
        .strip_prefix(&lake)
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let victim_rows = column(&victim, "eventid").len() as u64;
    flip_bit(&victim, 4000);
    let r = run(&["verify", "--lake", l]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout
            .contains(&format!("DAMAGED {rel}: its bytes changed")),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(": 1 damaged, 0 unreferenced"),
        "{}",
        r.stdout
    );

    // Out of the table, then back from the sources.
    let r = run(&["repair", "--drop-damaged", "--lake", l]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(&format!(
            "dropped {rel}: {} events",
            count_text(victim_rows)
        )),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("ingest again with `ctlake ingest --recheck`")
    );
    let r = run(&[
        "query",
        "--format",
        "csv",
        "--lake",
        l,
        "SELECT count(*) AS n FROM cloudtrail",
    ]);
    assert_eq!(
        r.stdout.trim(),
        format!("n\n{}", expected.events - victim_rows)
    );
    let data = repo_root().join("data");
    let r = run(&["ingest", "--recheck", "--lake", l, data.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .contains(&format!("{} written", count_text(victim_rows))),
        "{}",
        r.stdout
    );
    let r = run(&[
        "query",
        "--format",
        "csv",
        "--lake",
        l,
        "SELECT count(*) AS n FROM cloudtrail",
    ]);
    assert_eq!(r.stdout.trim(), format!("n\n{}", expected.events));
    let r = run(&["verify", "--lake", l]);
    assert_eq!(r.code, 0, "{}", r.stdout);
}

#[test]
fn a_damaged_file_is_named_by_ingest_which_goes_on_with_other_partitions() {
    let (_dir, lake, expected) = sample_lake();
    let l = lake.to_str().unwrap();
    let mut files = committed_files(&lake);
    files.sort();
    let victim = files[0].clone();
    let rel = victim
        .strip_prefix(&lake)
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    // Its footer overwritten: no reader can open it.
    let mut b = std::fs::read(&victim).unwrap();
    let n = b.len();
    b[n - 40..n - 4].fill(0xff);
    std::fs::write(&victim, b).unwrap();
    let data = repo_root().join("data");
    let r = run(&["ingest", "--recheck", "--lake", l, data.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains(&format!("damaged: {rel}: unreadable data file")),
        "{}",
        r.stderr
    );
    // Every other partition was read and deduplicated as usual: nothing new there.
    let victim_rows: u64 = expected.partitions[&partition_of(&victim)];
    assert!(
        r.stdout
            .contains(&format!("{} written", count_text(victim_rows))),
        "{}",
        r.stdout
    );
    let r = run(&["verify", "--lake", l]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains(&format!("DAMAGED {rel}")), "{}", r.stdout);
    // A query that reads it fails in one line (a debug build's Parquet reader even panics on
    // this footer), saying what to run; exit 1.
    let r = count(&lake);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stderr.contains("`ctlake verify` names"), "{}", r.stderr);
    assert!(!r.stderr.contains("stack backtrace"), "{}", r.stderr);
}

#[test]
fn a_deleted_log_entry_is_found_and_the_lake_comes_back_exact() {
    let dir = tempfile::tempdir().unwrap();
    let src = deliveries(dir.path(), "3000", "19");
    let expected = expected(&[&src]);
    let parts = split(&src, dir.path(), 3);
    let lake = dir.path().join("lake");
    let l = lake.to_str().unwrap();
    for p in &parts {
        let r = run(&[
            "ingest",
            "--quiet",
            "--no-compact",
            "--lake",
            l,
            p.to_str().unwrap(),
        ]);
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    let log = lake.join("_ctlake/log");
    // A middle entry gone: readers refuse to answer from part of the lake.
    let second = log.join("00000000000000000002.json");
    let saved = std::fs::read(&second).unwrap();
    std::fs::remove_file(&second).unwrap();
    let r = count(&lake);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("the commit log has a gap: entry 2 is missing"),
        "{}",
        r.stderr
    );
    let r = run(&["verify", "--lake", l]);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout
            .contains("DAMAGED _ctlake/log: the commit log has a gap"),
        "{}",
        r.stdout
    );
    std::fs::write(&second, saved).unwrap();

    // The last entry gone: no gap to see, but its files are named by no commit.
    std::fs::remove_file(log.join("00000000000000000003.json")).unwrap();
    let r = run(&["verify", "--lake", l]);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.contains("UNREFERENCED cloudtrail/"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("a directory reader (DuckDB, Athena) counts it")
    );
    let r = run(&["repair", "--lake", l]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // The sources of the lost commit are no longer recorded: ingesting again restores them.
    let r = run(&["ingest", "--quiet", "--lake", l, src.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run(&["verify", "--lake", l]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert_eq!(
        count(&lake).stdout.trim(),
        format!("n\n{}", expected.events)
    );
    if let Some(n) = duckdb(&format!(
        "import duckdb; print(duckdb.sql(\"SELECT count(*) FROM read_parquet('{}/cloudtrail/**/*.parquet')\").fetchall()[0][0])",
        lake.display()
    )) {
        assert_eq!(n, expected.events.to_string());
    }

    // The identity file gone: readers and writers say so, and no new ID is minted.
    std::fs::remove_file(lake.join("_ctlake/lake.json")).unwrap();
    let r = count(&lake);
    assert!(
        r.stderr
            .contains("_ctlake/lake.json is missing but the commit log holds"),
        "{}",
        r.stderr
    );
    let r = run(&["ingest", "--lake", l, src.to_str().unwrap()]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("will not mint a new event data store ID"),
        "{}",
        r.stderr
    );
    assert!(!lake.join("_ctlake/lake.json").exists());
}

#[cfg(unix)]
#[test]
fn link_loops_and_dangling_links_are_skipped_and_the_walk_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("a")).unwrap();
    std::os::unix::fs::symlink("..", src.join("a/loop")).unwrap();
    std::os::unix::fs::symlink("/nonexistent/x.json.gz", src.join("a/dangling.json.gz")).unwrap();
    std::os::unix::fs::symlink(src.join("a/self2"), src.join("a/self1")).unwrap();
    std::os::unix::fs::symlink(src.join("a/self1"), src.join("a/self2")).unwrap();
    // Files after the loops in walk order.
    write_gz(
        &src.join("z/events.json.gz"),
        &format!(
            "{{\"Records\":[{},{}]}}",
            record("z1", "us-east-1", "2026-11-01T00:00:00Z"),
            record("z2", "us-east-1", "2026-11-01T00:01:00Z")
        ),
    );
    let lake = dir.path().join("lake");
    let r = run(&[
        "ingest",
        "--lake",
        lake.to_str().unwrap(),
        src.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("2 written"), "{}", r.stdout);
    assert!(
        r.stderr
            .contains("dangling.json.gz: link that cannot be followed"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("Too many levels of symbolic links"),
        "{}",
        r.stderr
    );
}

#[cfg(unix)]
#[test]
fn sigint_and_sigterm_end_ingest_after_a_commit_with_its_summary() {
    let dir = tempfile::tempdir().unwrap();
    let src = deliveries(dir.path(), "40000", "23");
    let expected = expected(&[&src]);
    let lake = dir.path().join("lake");
    for signal in ["INT", "TERM"] {
        let _ = std::fs::remove_dir_all(&lake);
        let child = ctlake()
            .args(["ingest", "--batch-files", "10", "--threads", "1", "--lake"])
            .arg(&lake)
            .arg(&src)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Once a few commits are in, as a user pressing Ctrl-C would.
        let log = lake.join("_ctlake/log");
        let started = std::time::Instant::now();
        while files_under(&log).len() < 3 && started.elapsed().as_secs() < 60 {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let kill = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(130), "{signal}: {stdout}{stderr}");
        assert!(
            stderr.contains("interrupted: the run stopped after its last commit"),
            "{stderr}"
        );
        assert!(stdout.contains("events:"), "{signal}: no summary: {stdout}");
        let stored = count(&lake);
        let n: u64 = stored
            .stdout
            .trim()
            .trim_start_matches("n\n")
            .parse()
            .unwrap();
        assert!(
            n > 0 && n < expected.events,
            "{signal}: {n} of {}",
            expected.events
        );
        // The same command again stores the rest, each event once.
        let r = run(&[
            "ingest",
            "--quiet",
            "--lake",
            lake.to_str().unwrap(),
            src.to_str().unwrap(),
        ]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert_eq!(
            count(&lake).stdout.trim(),
            format!("n\n{}", expected.events)
        );
    }
}

#[test]
fn a_writer_waits_for_the_lock_when_asked() {
    let (dir, lake, expected) = sample_lake();
    let l = lake.to_str().unwrap();
    let more = dir.path().join("more");
    write_gz(
        &more.join("one.json.gz"),
        &format!(
            "{{\"Records\":[{}]}}",
            record("w1", "us-east-1", "2026-11-03T00:00:00Z")
        ),
    );
    // Another writer holds the lake's lock.
    let holder = File::options()
        .write(true)
        .open(lake.join("_ctlake/lock"))
        .unwrap();
    holder.lock().unwrap();
    let r = run(&["ingest", "--lake", l, more.to_str().unwrap()]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("another ctlake process is writing"),
        "{}",
        r.stderr
    );
    let waiting = ctlake()
        .args(["ingest", "--quiet", "--wait", "--lake", l])
        .arg(&more)
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    drop(holder);
    let status = waiting.wait_with_output().unwrap().status;
    assert_eq!(status.code(), Some(0));
    assert_eq!(
        count(&lake).stdout.trim(),
        format!("n\n{}", expected.events + 1)
    );
}

#[test]
fn a_device_is_no_query_file() {
    let (_dir, lake, _) = sample_lake();
    let r = run(&["query", "--lake", lake.to_str().unwrap(), "-f", "/dev/zero"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("/dev/zero is not a file of SQL"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_query_stops_at_its_timeout() {
    let (_dir, lake, _) = sample_lake();
    let started = std::time::Instant::now();
    let r = run(&[
        "query",
        "--timeout",
        "2s",
        "--lake",
        lake.to_str().unwrap(),
        "SELECT count(*) FROM cloudtrail a, cloudtrail b, cloudtrail c WHERE a.eventid <> c.eventid",
    ]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stderr.contains("ran longer than --timeout 2s"),
        "{}",
        r.stderr
    );
    assert!(started.elapsed().as_secs() < 30);
}

#[test]
fn a_scalar_function_cannot_allocate_past_the_memory_limit() {
    let (_dir, lake, _) = sample_lake();
    let r = run(&[
        "--memory-limit",
        "512M",
        "query",
        "--lake",
        lake.to_str().unwrap(),
        "SELECT max(length(repeat(eventjson, 100000))) FROM cloudtrail",
    ]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("repeat() would produce")
            && r.stderr
                .contains("more than the memory limit of 536870912 bytes"),
        "{}",
        r.stderr
    );
    // Within the limit, the same functions answer as usual.
    let r = run(&[
        "query",
        "--format",
        "csv",
        "--lake",
        lake.to_str().unwrap(),
        "SELECT repeat('ab', 3) AS r, lpad('x', 4, '-') AS l, rpad('x', 3, '.') AS p",
    ]);
    assert_eq!(r.stdout.trim(), "r,l,p\nababab,---x,x..");
}

#[test]
fn a_record_with_two_readings_is_rejected_and_its_neighbours_kept() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let good = record("ok-1", "us-east-1", "2026-11-01T00:00:00Z");
    // Columns would take the first eventTime, the JSON functions the second.
    let twice = r#"{"eventVersion":"1.08","eventTime":"2026-11-01T00:00:00Z","eventSource":"s3.amazonaws.com","eventName":"ListBuckets","awsRegion":"us-east-1","eventID":"dup-1","eventTime":"2020-01-01T00:00:00Z"}"#;
    let deep = format!(
        r#"{{"eventTime":"2026-11-01T00:00:00Z","awsRegion":"us-east-1","eventID":"deep-1","eventName":"X","requestParameters":{{"a":{}1{}}}}}"#,
        "[".repeat(300),
        "]".repeat(300)
    );
    write_gz(
        &src.join("mixed.json.gz"),
        &format!("{{\"Records\":[{twice},{good},{deep}]}}"),
    );
    let lake = dir.path().join("lake");
    let r = run(&[
        "ingest",
        "--lake",
        lake.to_str().unwrap(),
        src.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stdout.contains("1 written") && r.stdout.contains("2 rejected"),
        "{}",
        r.stdout
    );
    let rejects = std::fs::read_to_string(&files_under(&lake.join("_rejects"))[0]).unwrap();
    assert!(
        rejects.contains(r#"record refused: duplicate key \"eventTime\""#),
        "{rejects}"
    );
    assert!(
        rejects.contains("record refused: nested more than 128 levels deep"),
        "{rejects}"
    );
}

#[test]
fn keep_duplicates_never_stores_a_touched_file_twice() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let file = src.join("a.json.gz");
    write_gz(
        &file,
        &format!(
            "{{\"Records\":[{},{}]}}",
            record("k1", "us-east-1", "2026-11-01T00:00:00Z"),
            record("k1", "us-east-1", "2026-11-01T00:00:00Z")
        ),
    );
    let lake = dir.path().join("lake");
    let l = lake.to_str().unwrap();
    let r = run(&[
        "ingest",
        "--keep-duplicates",
        "--lake",
        l,
        src.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(count(&lake).stdout.trim(), "n\n2");
    // Touched: same bytes, a new modification time.
    let f = File::options().append(true).open(&file).unwrap();
    f.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(60))
        .unwrap();
    drop(f);
    let r = run(&[
        "ingest",
        "--keep-duplicates",
        "--lake",
        l,
        src.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(
        r.stderr.contains("changed since it was ingested"),
        "{}",
        r.stderr
    );
    assert_eq!(count(&lake).stdout.trim(), "n\n2");
    // Without the flag it is read again and nothing is stored twice.
    let r = run(&["ingest", "--lake", l, src.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(count(&lake).stdout.trim(), "n\n2");
}
