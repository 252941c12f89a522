//! The decoder against the one it replaced (`reference`, serde_json in several passes):
//! every record of the shared real-world corpora, of a generated corpus with the planted
//! scenarios, and of thousands of damaged copies must give the same rows, column by column,
//! and the same rejects, word for word.

use std::path::Path;

use ctlake_schema::event_schema;

use super::{Decoder, reference};

/// Both decoders, fed the same records; their output is compared every `FLUSH` records.
struct Pair {
    new: Decoder,
    old: reference::Decoder,
    records: u64,
    accepted: u64,
    rejected: u64,
}

const FLUSH: u64 = 5_000;

impl Pair {
    fn new() -> Self {
        Self {
            new: Decoder::new(event_schema()),
            old: reference::Decoder::new(event_schema()),
            records: 0,
            accepted: 0,
            rejected: 0,
        }
    }

    fn feed(&mut self, json: &[u8], origin: &str) {
        let new = self.new.decode(json);
        let old = self.old.decode(json);
        assert_eq!(
            new,
            old,
            "{origin}: the decoders disagree on {:?}",
            String::from_utf8_lossy(json)
        );
        self.records += 1;
        if new.is_ok() {
            self.accepted += 1;
        } else {
            self.rejected += 1;
        }
        assert_eq!(self.new.rows(), self.old.rows());
        assert_eq!(self.new.buffered_bytes(), self.old.buffered_bytes());
        if self.records.is_multiple_of(FLUSH) {
            self.compare(origin);
        }
    }

    fn compare(&mut self, origin: &str) {
        let new = self.new.take();
        let old = self.old.take();
        assert_eq!(new.len(), old.len(), "{origin}: partitions");
        for (n, o) in new.iter().zip(&old) {
            assert_eq!(n.key, o.key, "{origin}");
            assert_eq!(n.ids, o.ids, "{origin}: {}", n.key);
            assert_eq!(n.batch.schema(), o.batch.schema());
            for (i, field) in n.batch.schema().fields().iter().enumerate() {
                assert_eq!(
                    n.batch.column(i).to_data(),
                    o.batch.column(i).to_data(),
                    "{origin}: column {} of {}",
                    field.name(),
                    n.key
                );
            }
        }
    }
}

/// Every record of every `.json` / `.json.gz` file under `root`, with its file's path.
fn each_record(root: &Path, mut f: impl FnMut(&[u8], &str)) {
    for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
        let entry = entry.expect("readable folder");
        let name = entry.file_name().to_string_lossy().to_string();
        if !entry.file_type().is_file() || !(name.ends_with(".json.gz") || name.ends_with(".json"))
        {
            continue;
        }
        let Ok(reader) = crate::source::open(entry.path()) else {
            continue;
        };
        let origin = entry.path().display().to_string();
        let _ = crate::framing::Framer::new(reader).run(|item| {
            if let crate::framing::Item::Record(frame) = item {
                f(frame.json, &origin);
            }
        });
    }
}

/// Damaged and re-spelled copies of a record: bytes dropped or inserted at a spread of
/// places, keys doubled, the record pretty-printed, strings re-escaped.
fn variants(json: &[u8], seed: usize) -> Vec<Vec<u8>> {
    const INSERTS: [&[u8]; 14] = [
        b"\"",
        b"\\",
        b",",
        b"}",
        b"]",
        b"{",
        b" \n\t",
        b"0",
        b"-",
        b"\x01",
        b"\\u",
        b"\\uD800",
        b"e",
        b"\"eventName\":\"x\",",
    ];
    let mut out = Vec::new();
    let len = json.len();
    for k in 0..6 {
        let at = (seed * 7919 + k * 104_729) % len.max(1);
        let mut dropped = json.to_vec();
        dropped.remove(at);
        out.push(dropped);
        let mut inserted = json.to_vec();
        let what = INSERTS[(seed + k) % INSERTS.len()];
        inserted.splice(at..at, what.iter().copied());
        out.push(inserted);
    }
    // Keys doubled: the first key again (a duplicate), in other case at the top level (a
    // duplicate there), and a nested one.
    if let Some(end) = json.iter().position(|&c| c == b',') {
        let first = &json[1..end];
        let mut doubled = json.to_vec();
        doubled.splice(1..1, [first, b","].concat());
        out.push(doubled);
        let mut upper = json.to_vec();
        upper.splice(1..1, [&first.to_ascii_uppercase()[..], b","].concat());
        out.push(upper);
    }
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(json) {
        if let Ok(pretty) = serde_json::to_vec_pretty(&value) {
            out.push(pretty);
        }
        // Every non-ASCII character and slash escaped, as some writers do.
        let text = serde_json::to_string(&value).unwrap_or_default();
        let mut escaped = String::new();
        for c in text.chars() {
            if c == '/' {
                escaped.push_str("\\/");
            } else if !c.is_ascii() {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    escaped.push_str(&format!("\\u{unit:04X}"));
                }
            } else {
                escaped.push(c);
            }
        }
        out.push(escaped.into_bytes());
    }
    out
}

/// Feeds every record under `root` to both decoders, and damaged copies of one record in
/// `every`, and compares what each pair built; returns the two pairs for their counts.
fn compare_under(root: &Path, every: u64, what: &str) -> (Pair, Pair) {
    let mut pair = Pair::new();
    let mut damaged = Pair::new();
    each_record(root, |json, origin| {
        pair.feed(json, origin);
        if pair.records.is_multiple_of(every) {
            for v in variants(json, pair.records as usize) {
                damaged.feed(&v, origin);
            }
        }
    });
    pair.compare(what);
    damaged.compare("damaged copies");
    (pair, damaged)
}

#[test]
fn same_rows_and_rejects_on_the_real_corpora() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpora");
    if !root.is_dir() {
        eprintln!("SKIP: {} not found (the shared corpora)", root.display());
        return;
    }
    // Damaged copies of one record in 25 (the corpora hold about 100,000).
    let (pair, damaged) = compare_under(&root, 25, "the corpora");
    eprintln!(
        "corpora: {} records ({} stored); damaged copies: {} ({} stored, {} rejected)",
        pair.records, pair.accepted, damaged.records, damaged.accepted, damaged.rejected
    );
    assert!(pair.records > 20_000, "{} records", pair.records);
    // The damage is real: many copies are refused, many still decode.
    assert!(damaged.rejected > damaged.records / 5);
    assert!(damaged.accepted > damaged.records / 5);
}

#[test]
fn same_rows_and_rejects_on_generated_cloudtrail() {
    let dir = tempfile::tempdir().expect("temp dir");
    let opts = ctlake_generate::Options {
        out: dir.path().to_path_buf(),
        events: 20_000,
        days: 3,
        regions: 3,
        accounts: 2,
        seed: 7,
        plant: true,
        ..Default::default()
    };
    let report = ctlake_generate::generate(&opts).expect("generated corpus");
    let (pair, damaged) = compare_under(dir.path(), 50, "generated");
    assert_eq!(pair.records, report.records);
    assert_eq!(pair.accepted, report.records);
    assert!(damaged.rejected > damaged.records / 5);
    assert!(damaged.accepted > damaged.records / 5);
}
