//! The duplicate-key and depth check of a record, in one scan of its bytes.
//!
//! Every record is checked for keys that appear twice in one object and for nesting beyond
//! serde_json's 128 levels (see `decode::duplicate_key`, whose rules this follows exactly).
//! Doing that with serde_json meant parsing each record a second time, about a tenth of
//! ingest's CPU. The record has already been parsed once as valid JSON when this runs, so this
//! scan trusts the syntax and only tracks strings, brackets and keys: a few instructions per
//! byte outside strings, `memchr` inside them.
//!
//! Where the rules need a real decoder, it declines (returns `None`) and the caller runs the
//! serde check: a key containing an escape (two spellings of one key must compare equal), and
//! any `\u` escape in the record (serde refuses lone surrogates anywhere, which the first parse
//! does not check).

use rustc_hash::FxHashSet;
use smallvec::SmallVec;

/// serde_json's recursion limit: a value nested this deep is refused.
const MAX_DEPTH: usize = 128;

/// Objects with more keys than this are checked with a set instead of a scan per key.
const SCAN_KEYS: usize = 32;

struct Level<'a> {
    object: bool,
    /// Index in `keys` of this object's first key.
    start: usize,
    /// The next string is a key.
    expect_key: bool,
    /// This object's keys, once it has many (lowercased at the top level).
    set: Option<FxHashSet<std::borrow::Cow<'a, [u8]>>>,
}

/// `Some(Ok(()))` when `json` (a valid JSON text) has no duplicate key and is not too deep,
/// `Some(Err(why))` when it has or is, `None` when the serde check must decide.
pub(crate) fn check(json: &str) -> Option<Result<(), String>> {
    let b = json.as_bytes();
    if memchr::memmem::find(b, b"\\u").is_some() {
        return None;
    }
    let mut levels: SmallVec<[Level<'_>; 16]> = SmallVec::new();
    let mut keys: SmallVec<[&[u8]; 64]> = SmallVec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            open @ (b'{' | b'[') => {
                if levels.len() + 1 >= MAX_DEPTH {
                    return Some(Err("nested more than 128 levels deep".into()));
                }
                levels.push(Level {
                    object: open == b'{',
                    start: keys.len(),
                    expect_key: open == b'{',
                    set: None,
                });
                i += 1;
            }
            b'}' | b']' => {
                if let Some(level) = levels.pop() {
                    keys.truncate(level.start);
                }
                i += 1;
            }
            b',' => {
                if let Some(level) = levels.last_mut() {
                    level.expect_key = level.object;
                }
                i += 1;
            }
            b'"' => {
                let start = i + 1;
                let mut end = start;
                let mut escaped = false;
                loop {
                    match memchr::memchr2(b'"', b'\\', &b[end..]) {
                        Some(n) if b[end + n] == b'\\' => {
                            escaped = true;
                            end += n + 2;
                        }
                        Some(n) => {
                            end += n;
                            break;
                        }
                        // Cannot happen in valid JSON; let serde say what is wrong.
                        None => return None,
                    }
                }
                i = end + 1;
                let top = levels.len() == 1;
                let Some(level) = levels.last_mut() else {
                    continue;
                };
                if !(level.object && level.expect_key) {
                    continue;
                }
                level.expect_key = false;
                if escaped {
                    return None;
                }
                let key = &b[start..end];
                let duplicate = match &mut level.set {
                    Some(set) => !set.insert(fold(key, top)),
                    None => {
                        let ours = &keys[level.start..];
                        let dup = if top {
                            ours.iter().any(|k| k.eq_ignore_ascii_case(key))
                        } else {
                            ours.contains(&key)
                        };
                        if !dup && ours.len() == SCAN_KEYS {
                            let mut set: FxHashSet<_> = ours.iter().map(|k| fold(k, top)).collect();
                            set.insert(fold(key, top));
                            keys.truncate(level.start);
                            level.set = Some(set);
                        } else if !dup {
                            keys.push(key);
                        }
                        dup
                    }
                };
                if duplicate {
                    // No escapes: the bytes are the key's text. The position is serde's:
                    // the colon after the key, as line and byte column.
                    let text = std::str::from_utf8(key).unwrap_or_default();
                    let at = i + b[i..]
                        .iter()
                        .take_while(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
                        .count();
                    let line_start = memchr::memrchr(b'\n', &b[..at]).map_or(0, |p| p + 1);
                    let line = 1 + memchr::memchr_iter(b'\n', &b[..line_start]).count();
                    let column = at - line_start;
                    return Some(Err(format!(
                        "duplicate key {text:?} at line {line} column {column}"
                    )));
                }
            }
            _ => i += 1,
        }
    }
    Some(Ok(()))
}

/// A key as compared: ASCII-lowercased at the top level, where columns match that way.
fn fold(key: &[u8], top: bool) -> std::borrow::Cow<'_, [u8]> {
    if top && key.iter().any(u8::is_ascii_uppercase) {
        std::borrow::Cow::Owned(key.to_ascii_lowercase())
    } else {
        std::borrow::Cow::Borrowed(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The serde-based check, the reference: the scan agrees with it wherever it answers.
    fn agree(json: &str) -> Option<Result<(), String>> {
        serde_json::from_str::<serde::de::IgnoredAny>(json).expect("valid JSON in the test");
        let fast = check(json);
        if let Some(fast) = &fast {
            assert_eq!(fast, &crate::decode::duplicate_key(json), "{json}");
        }
        fast
    }

    #[test]
    fn agrees_with_the_serde_check() {
        for json in [
            r#"{"a":1,"b":{"c":[1,{"d":2,"e":"x,y:z}{"}],"C":3}}"#,
            r#"{"a":1,"A":2}"#,
            r#"{"eventName":"x","eventname":"y"}"#,
            r#"{"a":{"k":1,"K":2}}"#,
            r#"{"a":{"k":1,"k":2}}"#,
            r#"{"a":[{"k":1},{"k":2}],"b":[[],{}],"c":"\"k\":1,\"k\":2"}"#,
            r#"{"a":[{"k":1,"j":2,"k":3}]}"#,
            r#"{"s":"a\\\"b","t":"\\","k":{"x":"y"},"k2":{"x":"y"}}"#,
            r#"{"a":{"b":1},"c":{"b":1}}"#,
            r#"{ "a" : 1 , "b" : [ 1 , 2 ] , "a" : 3 }"#,
            "{\n \"a\": {\"x\": 1,\n  \"x\": 2}}",
            "{\"a\":1,\"a\"\n\n  :2}",
            "{\"a\":1,\"a\"\r\n\t:2}",
        ] {
            assert!(agree(json).is_some(), "{json}");
        }
        // Many keys: the set takes over from the scan, with the same answers.
        let many = |dup: &str| {
            let keys: Vec<String> = (0..40).map(|i| format!("\"Key{i}\":{i}")).collect();
            format!("{{{},{dup}}}", keys.join(","))
        };
        assert_eq!(
            agree(&many("\"KEY39\":0")),
            Some(Err("duplicate key \"KEY39\" at line 1 column 428".into()))
        );
        assert_eq!(agree(&many("\"Key40\":0")), Some(Ok(())));
        let nested = |dup: &str| format!("{{\"n\":{}}}", many(dup));
        assert!(matches!(agree(&nested("\"KEY39\":0")), Some(Ok(()))));
        assert!(matches!(agree(&nested("\"Key39\":0")), Some(Err(_))));
    }

    /// Every record of the shared real-world corpora, when present: the scan answers for
    /// (nearly) all of them, the same as serde.
    #[test]
    fn agrees_on_the_real_corpora() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpora");
        if !root.is_dir() {
            eprintln!("SKIP: {} not found (the shared corpora)", root.display());
            return;
        }
        let (mut records, mut answered) = (0u64, 0u64);
        for entry in walkdir::WalkDir::new(&root).sort_by_file_name() {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().to_string();
            if !entry.file_type().is_file()
                || !(name.ends_with(".json.gz") || name.ends_with(".json"))
            {
                continue;
            }
            let Ok(reader) = crate::source::open(entry.path()) else {
                continue;
            };
            let _ = crate::framing::Framer::new(reader).run(|item| {
                if let crate::framing::Item::Record(frame) = item
                    && let Ok(json) = std::str::from_utf8(frame.json)
                    && serde_json::from_str::<serde::de::IgnoredAny>(json).is_ok()
                {
                    records += 1;
                    answered += u64::from(agree(json).is_some());
                }
            });
        }
        assert!(records > 20_000, "{records} records");
        assert!(
            answered * 100 >= records * 95,
            "{answered} of {records} answered"
        );
    }

    #[test]
    fn depth_limit_is_serdes() {
        for depth in [126, 127, 128, 129, 200] {
            let json = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
            let json = format!("{{\"a\":{json}}}");
            assert!(agree(&json).is_some(), "{depth}");
        }
    }

    #[test]
    fn declines_where_serde_must_decide() {
        assert_eq!(check(r#"{"a\"b":1,"a\"b":2}"#), None);
        assert_eq!(check(r#"{"a":"\u00e9"}"#), None);
    }
}
