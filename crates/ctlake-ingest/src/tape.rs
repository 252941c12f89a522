//! One pass over a record's bytes: validate it, compact it, and index its values.
//!
//! The decoder used to walk every record about four times (serde_json for the top-level pairs,
//! serde_json again for each nested struct, map and list, a byte scan for duplicate keys, and
//! another to compact `eventjson`). This walks it once: it checks the syntax exactly as
//! serde_json does for the values the decoder reads (the grammar of strings, numbers and
//! literals, control characters in strings, one value with only whitespace around it), writes
//! the record without insignificant whitespace (the verbatim `eventjson`), and records each
//! value as a node of a flat tape: its kind, its byte span, and where the next sibling starts.
//! The decoder then fills its builders from the tape, jumping over what no column wants, and
//! never parses a byte twice.
//!
//! What this pass cannot settle alone it flags for the old checks: a key that appears twice,
//! nesting near serde_json's 128 levels, and `\u` escapes or escaped keys (where serde's rules
//! on lone surrogates and on key spellings decide). Those records are rare and are judged, with
//! serde's own messages, by `keycheck` and `decode::duplicate_key` as before.

use ctlake_schema::jsonmap::Kind;
use rustc_hash::FxHashSet;

/// One JSON value on the tape.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Node {
    pub kind: Kind,
    /// A string (or key) containing a backslash escape.
    pub escaped: bool,
    /// Byte span in the record: from the first byte of the value to just past its last (for a
    /// string, the quotes included; for a container, its brackets).
    pub start: u32,
    pub end: u32,
    /// Index of the node after this value and everything inside it.
    pub next: u32,
}

/// Where the syntax broke (the caller asks serde_json for its message).
#[derive(Debug)]
pub(crate) struct SyntaxError;

/// serde_json's recursion limit, as `keycheck` applies it.
const MAX_DEPTH: usize = 128;
/// Objects with more keys than this are checked with a set instead of a scan per key.
const SCAN_KEYS: usize = 32;

/// A reusable tape: one record's nodes, and what the parse found that needs the old checks.
#[derive(Default)]
pub(crate) struct Tape {
    pub nodes: Vec<Node>,
    /// Open containers: their node indices.
    stack: Vec<u32>,
    /// Some object has a key twice, the nesting nears the limit, or escapes need serde's rules.
    suspect: bool,
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// Bytes of `v` equal to zero (the lowest flagged byte is exact; higher ones may not be).
#[inline]
fn zero_bytes(v: u64) -> u64 {
    v.wrapping_sub(LO) & !v & HI
}

/// The offset of the first byte in `b[i..]` that is `"`, `\` or a control character.
#[inline]
fn string_special(b: &[u8], mut i: usize) -> usize {
    while i + 8 <= b.len() {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[i..i + 8]);
        let v = u64::from_le_bytes(w);
        let mask = zero_bytes(v ^ (LO * b'"' as u64))
            | zero_bytes(v ^ (LO * b'\\' as u64))
            // Bytes below 0x20 (bytes with the top bit set are not flagged).
            | (v.wrapping_sub(LO * 0x20) & !v & HI);
        if mask != 0 {
            return i + (mask.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < b.len() && b[i] != b'"' && b[i] != b'\\' && b[i] >= 0x20 {
        i += 1;
    }
    i
}

#[inline]
fn is_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r')
}

impl Tape {
    /// Parses `json` (one JSON value, whitespace around it allowed) onto the tape and appends
    /// it to `compact` without insignificant whitespace (strings byte for byte).
    pub fn parse(&mut self, json: &str, compact: &mut String) -> Result<(), SyntaxError> {
        self.nodes.clear();
        self.stack.clear();
        self.suspect = false;
        let b = json.as_bytes();
        if b.len() >= u32::MAX as usize {
            return Err(SyntaxError);
        }
        // Start of the bytes not yet copied to `compact`: runs are copied whole.
        let mut run = 0usize;
        let mut i = 0usize;
        macro_rules! skip_ws {
            () => {
                if i < b.len() && is_ws(b[i]) {
                    compact.push_str(&json[run..i]);
                    while i < b.len() && is_ws(b[i]) {
                        i += 1;
                    }
                    run = i;
                }
            };
        }
        // An object member's key and its colon, up to the value.
        macro_rules! member_key {
            () => {
                i = self.string(b, i, true)?;
                skip_ws!();
                if b.get(i) != Some(&b':') {
                    return Err(SyntaxError);
                }
                i += 1;
                skip_ws!();
            };
        }
        skip_ws!();
        // Expecting a value (true) or, inside a container, what follows one (false).
        let mut want_value = true;
        loop {
            if want_value {
                let Some(&c) = b.get(i) else {
                    return Err(SyntaxError);
                };
                let at = self.nodes.len() as u32;
                match c {
                    b'{' | b'[' => {
                        let kind = if c == b'{' { Kind::Object } else { Kind::Array };
                        self.nodes.push(Node {
                            kind,
                            escaped: false,
                            start: i as u32,
                            end: 0,
                            next: 0,
                        });
                        self.stack.push(at);
                        if self.stack.len() + 1 >= MAX_DEPTH {
                            self.suspect = true;
                        }
                        i += 1;
                        skip_ws!();
                        let close = if c == b'{' { b'}' } else { b']' };
                        if b.get(i) == Some(&close) {
                            i += 1;
                            self.close(i);
                            want_value = false;
                        } else if c == b'{' {
                            member_key!();
                        }
                        // Else an array's first value follows.
                    }
                    b'"' => {
                        i = self.string(b, i, false)?;
                        want_value = false;
                    }
                    b't' | b'f' | b'n' => {
                        let (word, kind): (&[u8], _) = match c {
                            b't' => (b"true", Kind::Bool),
                            b'f' => (b"false", Kind::Bool),
                            _ => (b"null", Kind::Null),
                        };
                        if !b[i..].starts_with(word) {
                            return Err(SyntaxError);
                        }
                        self.scalar(kind, i, i + word.len());
                        i += word.len();
                        want_value = false;
                    }
                    b'-' | b'0'..=b'9' => {
                        let end = number_end(b, i).ok_or(SyntaxError)?;
                        self.scalar(Kind::Number, i, end);
                        i = end;
                        want_value = false;
                    }
                    _ => return Err(SyntaxError),
                }
                continue;
            }
            // After a value: the end of the text, a comma, or the close of a container.
            skip_ws!();
            let Some(&top) = self.stack.last() else {
                if i != b.len() {
                    return Err(SyntaxError);
                }
                compact.push_str(&json[run..i]);
                break;
            };
            let in_object = self.nodes[top as usize].kind == Kind::Object;
            match b.get(i) {
                Some(b',') => {
                    i += 1;
                    skip_ws!();
                    if in_object {
                        member_key!();
                    }
                    want_value = true;
                }
                Some(b'}') if in_object => {
                    i += 1;
                    self.close(i);
                }
                Some(b']') if !in_object => {
                    i += 1;
                    self.close(i);
                }
                _ => return Err(SyntaxError),
            }
        }
        if !self.suspect {
            self.suspect = self.has_duplicate_key(json);
        }
        Ok(())
    }

    /// Whether the record needs the old checks (duplicate keys, depth, escapes) to decide.
    pub fn suspect(&self) -> bool {
        self.suspect
    }

    fn scalar(&mut self, kind: Kind, start: usize, end: usize) {
        let next = self.nodes.len() as u32 + 1;
        self.nodes.push(Node {
            kind,
            escaped: false,
            start: start as u32,
            end: end as u32,
            next,
        });
    }

    fn close(&mut self, end: usize) {
        if let Some(open) = self.stack.pop() {
            let next = self.nodes.len() as u32;
            let node = &mut self.nodes[open as usize];
            node.end = end as u32;
            node.next = next;
        }
    }

    /// Parses the string starting at `b[i]` (which must be `"`), pushes its node, and returns
    /// the index past its closing quote.
    fn string(&mut self, b: &[u8], start: usize, key: bool) -> Result<usize, SyntaxError> {
        if b.get(start) != Some(&b'"') {
            return Err(SyntaxError);
        }
        let mut i = start + 1;
        let mut escaped = false;
        loop {
            i = string_special(b, i);
            match b.get(i) {
                Some(b'"') => break,
                Some(b'\\') => {
                    escaped = true;
                    match b.get(i + 1) {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => i += 2,
                        Some(b'u') => {
                            let hex = b.get(i + 2..i + 6).ok_or(SyntaxError)?;
                            if !hex.iter().all(u8::is_ascii_hexdigit) {
                                return Err(SyntaxError);
                            }
                            // serde refuses lone surrogates where it decodes; let it judge.
                            self.suspect = true;
                            i += 6;
                        }
                        _ => return Err(SyntaxError),
                    }
                }
                // A control character, or the end of the text.
                _ => return Err(SyntaxError),
            }
        }
        if key && escaped {
            self.suspect = true;
        }
        let next = self.nodes.len() as u32 + 1;
        self.nodes.push(Node {
            kind: Kind::String,
            escaped,
            start: start as u32,
            end: (i + 1) as u32,
            next,
        });
        Ok(i + 1)
    }

    /// Some object with a key twice (ASCII case folded at the top level, where columns match
    /// that way). Keys are unescaped here: records with escaped keys are suspect already.
    fn has_duplicate_key(&self, json: &str) -> bool {
        let b = json.as_bytes();
        // On the stack: a record's objects have a few dozen keys, and a Vec grown afresh for
        // each record was reallocated four times per record.
        let mut keys: smallvec::SmallVec<[&[u8]; 48]> = smallvec::SmallVec::new();
        for (at, node) in self.nodes.iter().enumerate() {
            if node.kind != Kind::Object {
                continue;
            }
            let top = at == 0;
            keys.clear();
            let mut k = at + 1;
            while k < node.next as usize {
                let key = &self.nodes[k];
                keys.push(&b[key.start as usize + 1..key.end as usize - 1]);
                k = self.nodes[k + 1].next as usize;
            }
            let duplicate = if keys.len() <= SCAN_KEYS {
                keys.iter().enumerate().any(|(n, key)| {
                    keys[..n].iter().any(|other| {
                        if top {
                            other.eq_ignore_ascii_case(key)
                        } else {
                            other == key
                        }
                    })
                })
            } else {
                let mut set = FxHashSet::default();
                !keys.iter().all(|key| {
                    if top {
                        set.insert(key.to_ascii_lowercase())
                    } else {
                        set.insert(key.to_vec())
                    }
                })
            };
            if duplicate {
                return true;
            }
        }
        false
    }

    /// The members of the object at node `at`: (key node, value node) index pairs.
    pub fn members(&self, at: usize) -> Members<'_> {
        Members {
            tape: self,
            next: at + 1,
            end: self.nodes[at].next as usize,
        }
    }

    /// The items of the array at node `at`: node indices.
    pub fn items(&self, at: usize) -> Items<'_> {
        Items {
            tape: self,
            next: at + 1,
            end: self.nodes[at].next as usize,
        }
    }
}

/// See [`Tape::members`].
pub(crate) struct Members<'t> {
    tape: &'t Tape,
    next: usize,
    end: usize,
}

impl Iterator for Members<'_> {
    type Item = (usize, usize);
    fn next(&mut self) -> Option<(usize, usize)> {
        if self.next >= self.end {
            return None;
        }
        let key = self.next;
        self.next = self.tape.nodes[key + 1].next as usize;
        Some((key, key + 1))
    }
}

/// See [`Tape::items`].
pub(crate) struct Items<'t> {
    tape: &'t Tape,
    next: usize,
    end: usize,
}

impl Iterator for Items<'_> {
    type Item = usize;
    fn next(&mut self) -> Option<usize> {
        if self.next >= self.end {
            return None;
        }
        let item = self.next;
        self.next = self.tape.nodes[item].next as usize;
        Some(item)
    }
}

/// The end of the number starting at `b[i]`, by JSON's grammar (serde_json's: one leading
/// zero, digits after a point and in an exponent).
fn number_end(b: &[u8], mut i: usize) -> Option<usize> {
    let digits = |b: &[u8], mut i: usize| {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        (i > start).then_some(i)
    };
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    match b.get(i) {
        Some(b'0') => {
            i += 1;
            if b.get(i).is_some_and(u8::is_ascii_digit) {
                return None;
            }
        }
        Some(b'1'..=b'9') => i = digits(b, i)?,
        _ => return None,
    }
    if b.get(i) == Some(&b'.') {
        i = digits(b, i + 1)?;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        i = digits(b, i)?;
    }
    Some(i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ctlake_schema::jsonmap::{Strings, compact_into};

    /// serde_json's verdict on a value, the reference for acceptance.
    fn serde_accepts(json: &str) -> bool {
        serde_json::from_str::<&serde_json::value::RawValue>(json).is_ok()
    }

    fn parse(json: &str) -> Result<(Tape, String), SyntaxError> {
        let mut tape = Tape::default();
        let mut out = String::new();
        tape.parse(json, &mut out)?;
        Ok((tape, out))
    }

    #[test]
    fn accepts_exactly_what_serde_accepts() {
        let cases = [
            r#"{}"#,
            r#"[]"#,
            r#" { "a" : [ 1 , -0.5e+3 , true , false , null , "x" ] } "#,
            r#"{"a":{"b":{"c":[[],{}]}}}"#,
            r#"{"s":"esc \" \\ \/ \b \f \n \r \t \u00e9 \uD83D\uDE00"}"#,
            r#"{"s":"lone \uD800"}"#,
            "{\"s\":\"caf\u{e9} \u{1F600}\"}",
            r#"{"n":0}"#,
            r#"{"n":-0}"#,
            r#"{"n":01}"#,
            r#"{"n":1.}"#,
            r#"{"n":.5}"#,
            r#"{"n":1e}"#,
            r#"{"n":1e+}"#,
            r#"{"n":+1}"#,
            r#"{"n":-}"#,
            r#"{"n":1.5E-7}"#,
            r#"{"a":1,}"#,
            r#"[1,]"#,
            r#"{"a":1 "b":2}"#,
            r#"{"a" 1}"#,
            r#"{a:1}"#,
            r#"{"a":tru}"#,
            r#"{"a":nul}"#,
            r#"{"a":truex}"#,
            r#"{"a":"x\q"}"#,
            r#"{"a":"x\u12"}"#,
            r#"{"a":"x\u12G4"}"#,
            "{\"a\":\"tab\there\"}",
            "{\"a\":\"nl\nhere\"}",
            r#"{"a":"unterminated}"#,
            r#"{"a":[1,2}"#,
            r#"{"a":1}}"#,
            r#"{"a":1} x"#,
            r#"{"a":1}  "#,
            r#"{"a":1"#,
            r#""#,
            r#"   "#,
            r#"{"a":[1 2]}"#,
            r#"{"a":{"b":1,"b":2}}"#,
            "{\"a\":\"\u{7f}\"}",
        ];
        for json in cases {
            assert_eq!(
                parse(json).is_ok(),
                serde_accepts(json),
                "tape and serde disagree on {json:?}"
            );
        }
    }

    #[test]
    fn compacts_as_the_verbatim_rule_does() {
        for json in [
            " {\n  \"a\" : [ 1 , 2 ] ,\t\"b\" : \"x y \\\" z\" , \"c\": {} }\r\n",
            r#"{"already":"compact","n":[1,{"x":null}]}"#,
            "[ ]",
        ] {
            let (_, out) = parse(json).unwrap();
            let mut expected = String::new();
            compact_into(json.trim(), Strings::Verbatim, &mut expected);
            assert_eq!(out, expected);
        }
    }

    #[test]
    fn nodes_index_spans_and_siblings() {
        let json = r#"{"a":[1,{"b":"x"}],"c":"y\n"}"#;
        let (tape, _) = parse(json).unwrap();
        let text = |n: usize| {
            let node = tape.nodes[n];
            &json[node.start as usize..node.end as usize]
        };
        let members: Vec<(&str, &str)> = tape.members(0).map(|(k, v)| (text(k), text(v))).collect();
        assert_eq!(
            members,
            [("\"a\"", r#"[1,{"b":"x"}]"#), ("\"c\"", "\"y\\n\"")]
        );
        let a = tape.members(0).next().unwrap().1;
        let items: Vec<&str> = tape.items(a).map(text).collect();
        assert_eq!(items, ["1", r#"{"b":"x"}"#]);
        assert!(tape.nodes[tape.members(0).nth(1).unwrap().1].escaped);
        assert!(!tape.suspect());
    }

    #[test]
    fn flags_what_the_old_checks_must_judge() {
        for json in [
            r#"{"a":1,"a":2}"#,
            r#"{"eventName":1,"EVENTNAME":2}"#,
            r#"{"x":{"k":1,"k":2}}"#,
            r#"{"s":"\u0041"}"#,
            r#"{"k\"ey":1}"#,
        ] {
            assert!(parse(json).unwrap().0.suspect(), "{json}");
        }
        for json in [
            r#"{"x":{"k":1,"K":2}}"#,
            r#"{"a":1,"b":{"a":1}}"#,
            r#"{"s":"\n"}"#,
        ] {
            assert!(!parse(json).unwrap().0.suspect(), "{json}");
        }
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(!parse(&deep(100)).unwrap().0.suspect());
        assert!(parse(&deep(127)).unwrap().0.suspect());
        let many: String = (0..40).map(|n| format!("\"k{n}\":{n},")).collect();
        assert!(!parse(&format!("{{{many}\"z\":0}}")).unwrap().0.suspect());
        assert!(parse(&format!("{{{many}\"K39\":0}}")).unwrap().0.suspect());
    }
}
