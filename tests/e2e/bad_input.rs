//! Bad input: each kind gets its one-line error naming the file, every good file still goes
//! in, what the lake already held is untouched, and the exit status is 2.

use crate::common::*;

fn recs(prefix: &str, n: u32) -> Vec<String> {
    (0..n)
        .map(|i| {
            record(
                &format!("{prefix}-{i}"),
                "us-west-2",
                "2024-06-01T12:00:00Z",
            )
        })
        .collect()
}

#[test]
fn bad_files_are_reported_and_good_ones_go_in() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let prior = dir.path().join("prior.json");
    std::fs::write(&prior, format!("[{}]", recs("prior", 3).join(","))).unwrap();
    ingest(&lake, &[&prior], 0);
    let prior_files = table_files(&lake);
    let prior_bytes: Vec<Vec<u8>> = prior_files
        .iter()
        .map(|f| std::fs::read(f).unwrap())
        .collect();

    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    write_gz(
        &src.join("good1.json.gz"),
        &format!(r#"{{"Records":[{}]}}"#, recs("good1", 2).join(",")),
    );
    std::fs::write(
        src.join("good2.json"),
        format!(r#"{{"Records":[{}]}}"#, recs("good2", 1).join(",")),
    )
    .unwrap();
    // A corrupt gzip: the magic bytes, then garbage.
    let mut corrupt = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
    corrupt.extend(std::iter::repeat_n(0xA5u8, 200));
    std::fs::write(src.join("corrupt.json.gz"), corrupt).unwrap();
    // A gzip cut in half.
    let full = src.join("full.tmp");
    write_gz(
        &full,
        &format!(r#"{{"Records":[{}]}}"#, recs("cut", 50).join(",")),
    );
    let bytes = std::fs::read(&full).unwrap();
    std::fs::remove_file(&full).unwrap();
    std::fs::write(src.join("truncated.json.gz"), &bytes[..bytes.len() / 2]).unwrap();
    // Plain JSON that stops after two complete records.
    let two = recs("partial", 2).join(",");
    std::fs::write(
        src.join("stops.json"),
        format!(r#"{{"Records":[{two},{{"eventTime":"#),
    )
    .unwrap();
    // Broken structure.
    std::fs::write(src.join("invalid.json"), r#"{"Records":[{"a":1}}"#).unwrap();
    std::fs::write(src.join("empty.json"), b"").unwrap();
    std::fs::write(src.join("blank.json"), b"  \n\t").unwrap();
    std::fs::write(src.join("notjson.json"), b"this is not json").unwrap();
    std::fs::write(src.join("other.json"), br#"{"hello":"world","n":[1,2]}"#).unwrap();

    let r = ingest(&lake, &[&src], 2);
    let line = |name: &str| -> String {
        let path = src.join(name).display().to_string();
        r.stderr
            .lines()
            .find(|l| l.contains(&path))
            .unwrap_or_else(|| panic!("no line for {name} in:\n{}", r.stderr))
            .to_string()
    };
    assert!(
        line("corrupt.json.gz").starts_with("error: "),
        "{}",
        r.stderr
    );
    assert!(line("truncated.json.gz").starts_with("error: "));
    assert!(
        line("stops.json").contains("unexpected end of input"),
        "{}",
        line("stops.json")
    );
    assert!(line("stops.json").contains("2 complete records before it were kept"));
    assert!(
        line("invalid.json").contains("mismatched bracket at byte")
            || line("invalid.json").contains("invalid JSON"),
        "{}",
        line("invalid.json")
    );
    assert!(line("empty.json").ends_with("empty file"));
    assert!(line("blank.json").ends_with("empty file"));
    assert!(
        line("notjson.json").contains("invalid JSON at byte 0"),
        "{}",
        line("notjson.json")
    );
    assert!(
        line("other.json").starts_with("skipped: ")
            && line("other.json").contains("not CloudTrail")
    );
    assert!(!r.stderr.contains("good1") && !r.stderr.contains("good2"));
    assert!(r.stdout.contains("2 ingested"), "{}", r.stdout);

    // The lake holds the prior events, the good files and the complete records of the
    // broken ones; the prior data file is byte for byte what it was.
    let ids: Vec<String> = stored_ids(&table_files(&lake))
        .into_iter()
        .map(|(_, id)| id)
        .collect();
    for want in [
        "prior-0",
        "prior-2",
        "good1-0",
        "good1-1",
        "good2-0",
        "partial-0",
        "partial-1",
    ] {
        assert!(ids.contains(&want.to_string()), "{want} missing");
    }
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!(unique.len(), ids.len());
    for (f, b) in prior_files.iter().zip(&prior_bytes) {
        assert_eq!(&std::fs::read(f).unwrap(), b, "{} changed", f.display());
    }

    // Running again reports the bad files again and adds nothing.
    let before = ids.len();
    let again = ingest(&lake, &[&src], 2);
    assert!(
        again.stdout.contains("0 ingested, 2 unchanged"),
        "{}",
        again.stdout
    );
    assert_eq!(stored_ids(&table_files(&lake)).len(), before);
}

#[test]
fn a_broken_json_line_is_rejected_alone() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("lines.jsonl");
    let r = recs("line", 3);
    std::fs::write(
        &src,
        format!("{}\n{{\"eventTime\" oops}}\n{}\n{}\n", r[0], r[1], r[2]),
    )
    .unwrap();
    let lake = dir.path().join("lake");
    let out = ingest(&lake, &[&src], 2);
    assert!(out.stdout.contains("1 ingested"), "{}", out.stdout);
    assert!(out.stderr.contains("rejected: 1 records"), "{}", out.stderr);
    assert_eq!(info(&lake)["events"], 3);
}

#[test]
fn a_50_mb_record_goes_in_whole() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("big.json.gz");
    let blob = "x".repeat(50 << 20);
    let big = format!(
        r#"{{"eventTime":"2024-06-01T00:00:00Z","awsRegion":"us-east-1","eventID":"big","requestParameters":{{"blob":"{blob}"}}}}"#
    );
    let small = record("small", "us-east-1", "2024-06-01T00:00:01Z");
    write_gz(&src, &format!(r#"{{"Records":[{big},{small}]}}"#));
    let lake = dir.path().join("lake");
    ingest(&lake, &[&src], 0);
    let files = table_files(&lake);
    assert_eq!(files.len(), 1);
    let json = column(&files[0], "eventjson");
    assert_eq!(json.len(), 2);
    assert_eq!(json[0].as_ref().unwrap().len(), big.len());
}

#[test]
fn usage_errors_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake").display().to_string();
    let missing = dir.path().join("nope").display().to_string();
    let r = run(&["ingest", "--lake", &lake, &missing]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("no such file or folder"), "{}", r.stderr);
    assert_eq!(run(&["ingest"]).code, 1);
    assert_eq!(run(&["frobnicate"]).code, 1);
    let r = run(&["info", "--lake", &lake]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("no lake here"), "{}", r.stderr);
    assert_eq!(run(&["--help"]).code, 0);
}
