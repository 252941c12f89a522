//! Crash safety: `kill -9` at any moment, then a re-run, gives the same lake as one
//! uninterrupted run, and a reader never sees part of a source file's events.

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use crate::common::*;

#[test]
fn kill_9_at_any_point_then_rerun_gives_the_same_lake() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let g = run(&[
        "generate",
        "--out",
        &src.display().to_string(),
        "--events",
        "30000",
        "--days",
        "3",
        "--regions",
        "3",
        "--accounts",
        "2",
        "--duplicate-rate",
        "0",
        "--seed",
        "11",
    ]);
    assert_eq!(g.code, 0, "{}", g.stderr);
    let src = src.canonicalize().unwrap();
    let expected = expected(&[&src]);

    let reference = dir.path().join("reference");
    ingest(&reference, &[&src], 0);
    let want = stored_ids(&table_files(&reference));
    assert_eq!(want.len() as u64, expected.events);

    let lake = dir.path().join("lake");
    let lake_arg = lake.display().to_string();
    let src_arg = src.display().to_string();
    let mut crashed_with_commits = 0;
    for delay_ms in [20u64, 60, 120, 250, 400, 700, 1000, 1500, 2500] {
        let mut child = ctlake()
            .args([
                "ingest",
                "--quiet",
                "--batch-files",
                "40",
                "--lake",
                &lake_arg,
                &src_arg,
            ])
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();

        // Every file a plain reader sees is a whole Parquet file (`column` fails otherwise).
        for f in table_files(&lake) {
            assert!(
                f.extension().is_some_and(|e| e == "parquet"),
                "{} visible",
                f.display()
            );
            column(&f, "eventid");
        }
        // ctlake's view: each source file's events are all there or none are, never twice.
        let stored = stored_ids(&committed_files(&lake));
        let ids: HashSet<&str> = stored.iter().map(|(_, id)| id.as_str()).collect();
        assert_eq!(
            ids.len(),
            stored.len(),
            "an event stored twice after a crash at {delay_ms} ms"
        );
        for (file, file_ids) in &expected.by_file {
            let present = file_ids
                .iter()
                .filter(|id| ids.contains(id.as_deref().unwrap()))
                .count();
            assert!(
                present == 0 || present == file_ids.len(),
                "{file}: {present} of {} events visible after a crash at {delay_ms} ms",
                file_ids.len()
            );
        }
        if !stored.is_empty() && stored.len() < want.len() {
            crashed_with_commits += 1;
        }
    }
    ingest(&lake, &[&src], 0);
    assert_eq!(stored_ids(&table_files(&lake)), want);
    assert_eq!(
        table_files(&lake).into_iter().collect::<BTreeSet<_>>(),
        committed_files(&lake).into_iter().collect::<BTreeSet<_>>(),
        "files left behind by the crashes"
    );
    let staging: Vec<_> = walkdir_all(&lake.join("_ctlake/staging"));
    assert!(staging.is_empty(), "left in staging: {staging:?}");
    // The kills must have hit mid-run at least once for this test to mean anything.
    assert!(
        crashed_with_commits > 0,
        "no kill landed between two commits; the corpus is too small for this machine"
    );
}

/// Every path under `dir` (files and folders), empty when it does not exist.
fn walkdir_all(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p.clone());
            }
            out.push(p);
        }
    }
    out
}
