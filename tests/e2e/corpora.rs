//! The shared corpora of real CloudTrail logs, against their published counts
//! (`../shared/README.md`) and the independent Python reader.

use std::path::Path;

use crate::common::*;

fn check_lake(lake: &Path, events: u64, partitions: u64) {
    let info = info(lake);
    assert_eq!(info["events"], events);
    assert_eq!(info["partitions"], partitions);
    // What plain readers see is what the log says, and every eventID is stored once per
    // partition.
    let files = table_files(lake);
    assert_eq!(files, committed_files(lake));
    let ids = stored_ids(&files);
    assert_eq!(ids.len() as u64, events);
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!(
        unique.len(),
        ids.len(),
        "an eventID is stored twice in a partition"
    );
}

#[test]
fn sans504_stores_23981_events_in_19_partitions() {
    let Some(src) = corpus("sans504") else { return };
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let r = ingest(&lake, &[&src], 0);
    assert!(
        r.stdout
            .contains("30,477 read, 23,981 written, 6,496 duplicates dropped, 0 rejected"),
        "{}",
        r.stdout
    );
    check_lake(&lake, 23_981, 19);
    let expected = expected(&[&src]);
    assert_eq!(expected.events, 23_981);
    assert_eq!(rows_by_partition(&table_files(&lake)), expected.partitions);

    // Re-ingesting the same sources adds nothing and rewrites nothing.
    let before = table_files(&lake);
    let again = ingest(&lake, &[&src], 0);
    assert!(
        again.stdout.contains("0 ingested, 3,872 unchanged"),
        "{}",
        again.stdout
    );
    assert_eq!(table_files(&lake), before);
}

#[test]
fn every_log_set_matches_its_published_count() {
    let names = ["invictus", "flaws2", "traildiscover"];
    let counts = [2_900u64, 37, 314];
    let mut all = Vec::new();
    for (name, count) in names.iter().zip(counts) {
        let Some(src) = corpus(name) else { return };
        let dir = tempfile::tempdir().unwrap();
        let lake = dir.path().join("lake");
        ingest(&lake, &[&src], 0);
        let info = info(&lake);
        assert_eq!(info["events"], count, "{name}");
        assert_eq!(
            rows_by_partition(&table_files(&lake)),
            expected(&[&src]).partitions,
            "{name}"
        );
        all.push(src);
    }
    let Some(sans) = corpus("sans504") else {
        return;
    };
    all.push(sans);
    let Some(digest) = corpus("digest-sample") else {
        return;
    };
    all.push(digest);
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let paths: Vec<&Path> = all.iter().map(|p| p.as_path()).collect();
    let r = ingest(&lake, &paths, 0);
    assert!(r.stdout.contains("1 digests passed over"), "{}", r.stdout);
    check_lake(&lake, 27_232, info(&lake)["partitions"].as_u64().unwrap());
}

#[test]
fn a_digest_file_is_never_read_as_events() {
    let Some(src) = corpus("digest-sample") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    // Named directly, by its file path, it is still passed over.
    let file = walk_one(&src);
    let r = ingest(&lake, &[&file], 0);
    assert!(
        r.stdout.contains("0 ingested") && r.stdout.contains("1 digests passed over"),
        "{}",
        r.stdout
    );
    assert_eq!(info(&lake)["events"], 0);
}

fn walk_one(dir: &Path) -> std::path::PathBuf {
    let mut d = dir.to_path_buf();
    loop {
        let mut entries: Vec<_> = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        let next = entries
            .into_iter()
            .find(|p| p.is_dir() || p.extension().is_some_and(|e| e == "json"))
            .unwrap();
        if next.is_dir() {
            d = next;
        } else {
            return next;
        }
    }
}
