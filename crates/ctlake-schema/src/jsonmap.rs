//! The JSON-to-map rule, as CloudTrail Lake applies it.
//!
//! Free-form CloudTrail objects (`requestParameters`, `responseElements`, ...) are stored as
//! `map<string,string>`: the object's top-level keys become map keys and each value becomes a
//! string:
//!
//! - a JSON string is stored decoded (`"a\u003db"` becomes `a=b`);
//! - a number or boolean is stored as its JSON text, untouched (`0.0` stays `0.0`, `1e3` stays
//!   `1e3`): re-printing a parsed number would change what the user sees;
//! - an object or array is stored as compact JSON text with no spaces, so that
//!   `element_at(responseelements, 'instancesSet') LIKE '%"instanceId":"i-123"%'` matches
//!   whether the delivered JSON was compact or pretty-printed;
//! - JSON `null` is a null value.
//!
//! "Compact" here is canonical: insignificant whitespace is removed and string escapes are
//! rewritten the way `serde_json` writes them (only `"`, `\` and control characters escaped),
//! so two spellings of the same value compare equal. Number text is never touched.
//!
//! The functions take JSON text that a parser has already validated; given invalid text they do
//! not panic but the output is unspecified.

/// How [`compact_into`] treats string contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strings {
    /// Copy strings byte for byte (only whitespace between tokens is removed). Used for
    /// `eventjson`, which keeps the record as delivered.
    Verbatim,
    /// Rewrite escapes canonically, as described in the module docs.
    Canonical,
}

/// Appends `raw` (one JSON value) to `out` without insignificant whitespace.
pub fn compact_into(raw: &str, strings: Strings, out: &mut String) {
    let bytes = raw.as_bytes();
    let mut i = 0;
    // Start of the run of bytes not yet copied: copying runs keeps the common case (already
    // compact, no escapes) close to a memcpy.
    let mut run = 0;
    while i < bytes.len() {
        match bytes[i] {
            b' ' | b'\t' | b'\n' | b'\r' => {
                out.push_str(&raw[run..i]);
                i += 1;
                run = i;
            }
            b'"' => {
                let end = string_end(bytes, i);
                match strings {
                    Strings::Verbatim => {}
                    Strings::Canonical => {
                        let body = &raw[i + 1..end.saturating_sub(1).max(i + 1)];
                        if body.contains('\\') {
                            out.push_str(&raw[run..i]);
                            out.push('"');
                            canonical_string_body(body, out);
                            out.push('"');
                            run = end;
                        }
                    }
                }
                i = end;
            }
            _ => i += 1,
        }
    }
    out.push_str(&raw[run..]);
}

/// The index just past the closing quote of the string starting at `start` (or the end of
/// input for an unterminated string).
fn string_end(bytes: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while let Some(off) = memchr::memchr2(b'"', b'\\', &bytes[i.min(bytes.len())..]) {
        i += off;
        if bytes[i] == b'"' {
            return i + 1;
        }
        i += 2;
    }
    bytes.len()
}

/// Applies `f` to each character a JSON string body (between the quotes) decodes to, or to the
/// raw text of an escape that decodes to no character (a lone surrogate).
fn decode_body(body: &str, mut f: impl FnMut(Decoded<'_>)) {
    let bytes = body.as_bytes();
    let mut i = 0;
    let mut run = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            i += 1;
            continue;
        }
        if run < i {
            f(Decoded::Text(&body[run..i]));
        }
        let esc = bytes.get(i + 1).copied().unwrap_or(b'\\');
        let simple = match esc {
            b'"' => Some('"'),
            b'\\' => Some('\\'),
            b'/' => Some('/'),
            b'b' => Some('\u{8}'),
            b'f' => Some('\u{c}'),
            b'n' => Some('\n'),
            b'r' => Some('\r'),
            b't' => Some('\t'),
            _ => None,
        };
        if let Some(c) = simple {
            f(Decoded::Char(c));
            i += 2;
        } else if esc == b'u' {
            let hi = hex4(bytes, i + 2);
            match hi {
                Some(h @ 0xD800..=0xDBFF) => {
                    let lo = if bytes.get(i + 6) == Some(&b'\\') && bytes.get(i + 7) == Some(&b'u')
                    {
                        hex4(bytes, i + 8)
                    } else {
                        None
                    };
                    match lo {
                        Some(l @ 0xDC00..=0xDFFF) => {
                            let c = 0x10000 + ((h - 0xD800) << 10) + (l - 0xDC00);
                            match char::from_u32(c) {
                                Some(c) => f(Decoded::Char(c)),
                                None => f(Decoded::Text(&body[i..i + 12])),
                            }
                            i += 12;
                        }
                        _ => {
                            f(Decoded::Text(&body[i..i + 6]));
                            i += 6;
                        }
                    }
                }
                Some(h) => {
                    match char::from_u32(h) {
                        Some(c) => f(Decoded::Char(c)),
                        None => f(Decoded::Text(&body[i..i + 6])),
                    }
                    i += 6;
                }
                None => {
                    // Invalid escape: keep the rest as it is.
                    f(Decoded::Text(&body[i..]));
                    i = bytes.len();
                }
            }
        } else {
            let end = (i + 2).min(bytes.len());
            f(Decoded::Text(body.get(i..end).unwrap_or("\\")));
            i = end;
        }
        run = i;
    }
    if run < bytes.len() {
        f(Decoded::Text(&body[run..]));
    }
}

enum Decoded<'a> {
    Text(&'a str),
    Char(char),
}

fn hex4(bytes: &[u8], at: usize) -> Option<u32> {
    let digits = bytes.get(at..at + 4)?;
    let s = std::str::from_utf8(digits).ok()?;
    u32::from_str_radix(s, 16).ok()
}

fn canonical_string_body(body: &str, out: &mut String) {
    decode_body(body, |d| match d {
        Decoded::Text(t) => out.push_str(t),
        Decoded::Char(c) => push_escaped(c, out),
    });
}

/// Writes `c` the way serde_json does inside a string literal.
fn push_escaped(c: char, out: &mut String) {
    match c {
        '"' => out.push_str("\\\""),
        '\\' => out.push_str("\\\\"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        c if (c as u32) < 0x20 => {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            let n = c as usize;
            out.push_str("\\u00");
            out.push(HEX[n >> 4] as char);
            out.push(HEX[n & 0xf] as char);
        }
        c => out.push(c),
    }
}

/// Decodes a JSON string literal (with its quotes) into `out`.
pub fn unescape_into(literal: &str, out: &mut String) {
    let body = literal
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(literal);
    if !body.contains('\\') {
        out.push_str(body);
        return;
    }
    decode_body(body, |d| match d {
        Decoded::Text(t) => out.push_str(t),
        Decoded::Char(c) => out.push(c),
    });
}

/// The kind of a JSON value, from its first character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `null`
    Null,
    /// `true` or `false`
    Bool,
    /// A number.
    Number,
    /// A string.
    String,
    /// An array.
    Array,
    /// An object.
    Object,
}

/// The kind of the JSON value `raw` (leading whitespace allowed).
pub fn kind(raw: &str) -> Kind {
    match raw.trim_start().as_bytes().first() {
        Some(b'"') => Kind::String,
        Some(b'{') => Kind::Object,
        Some(b'[') => Kind::Array,
        Some(b't' | b'f') => Kind::Bool,
        Some(b'n') | None => Kind::Null,
        Some(_) => Kind::Number,
    }
}

/// Appends the map-rule string for the JSON value `raw` to `out`; returns `false` (and appends
/// nothing) when the value is JSON null.
pub fn map_value_into(raw: &str, out: &mut String) -> bool {
    let raw = raw.trim();
    match kind(raw) {
        Kind::Null => false,
        Kind::String => {
            unescape_into(raw, out);
            true
        }
        Kind::Object | Kind::Array => {
            compact_into(raw, Strings::Canonical, out);
            true
        }
        Kind::Bool | Kind::Number => {
            out.push_str(raw);
            true
        }
    }
}

/// The map-rule string for the JSON value `raw`, `None` for JSON null.
pub fn map_value(raw: &str) -> Option<String> {
    let mut s = String::new();
    map_value_into(raw, &mut s).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canonical(raw: &str) -> String {
        let mut s = String::new();
        compact_into(raw, Strings::Canonical, &mut s);
        s
    }

    fn verbatim(raw: &str) -> String {
        let mut s = String::new();
        compact_into(raw, Strings::Verbatim, &mut s);
        s
    }

    #[test]
    fn scalars_follow_the_map_rule() {
        assert_eq!(map_value(r#""i-123""#).as_deref(), Some("i-123"));
        assert_eq!(map_value("0.0").as_deref(), Some("0.0"));
        assert_eq!(map_value("1e3").as_deref(), Some("1e3"));
        assert_eq!(map_value("-12").as_deref(), Some("-12"));
        assert_eq!(map_value("true").as_deref(), Some("true"));
        assert_eq!(map_value("false").as_deref(), Some("false"));
        assert_eq!(map_value("null"), None);
        assert_eq!(map_value(r#""""#).as_deref(), Some(""));
    }

    #[test]
    fn strings_are_decoded() {
        assert_eq!(map_value(r#""a\u003db""#).as_deref(), Some("a=b"));
        assert_eq!(map_value(r#""line\nnext""#).as_deref(), Some("line\nnext"));
        assert_eq!(map_value(r#""q\"uote\\""#).as_deref(), Some("q\"uote\\"));
        assert_eq!(map_value(r#""a\/b""#).as_deref(), Some("a/b"));
        // A surrogate pair decodes to one character.
        assert_eq!(map_value(r#""\ud83d\ude00""#).as_deref(), Some("\u{1F600}"));
        // A lone surrogate has no character: its escape is kept.
        assert_eq!(map_value(r#""x\ud800y""#).as_deref(), Some("x\\ud800y"));
        assert_eq!(map_value(r#""é""#).as_deref(), Some("é"));
    }

    #[test]
    fn objects_become_canonical_compact_json() {
        let pretty = "{\n  \"instancesSet\" : { \"items\" : [ { \"instanceId\" : \"i-123\" } ] },\n  \"n\": 0.0 }";
        assert_eq!(
            map_value(pretty).as_deref(),
            Some(r#"{"instancesSet":{"items":[{"instanceId":"i-123"}]},"n":0.0}"#)
        );
        // Spaces inside strings are data and stay.
        assert_eq!(canonical(r#"[ "a b" , 1 ]"#), r#"["a b",1]"#);
        // Escapes are rewritten as serde_json writes them.
        assert_eq!(
            canonical(r#"{"k":"a\u003db\/c\"d\u0001"}"#),
            r#"{"k":"a=b/c\"d\u0001"}"#
        );
        assert_eq!(canonical(r#"{"k":"tab\there"}"#), r#"{"k":"tab\there"}"#);
        // Keys with dots, dashes and colons are ordinary keys.
        assert_eq!(
            canonical(r#"{ "x-amz-id-2": "a", "aws:s3:arn": "b" }"#),
            r#"{"x-amz-id-2":"a","aws:s3:arn":"b"}"#
        );
    }

    #[test]
    fn canonical_form_agrees_with_serde_json() {
        // serde_json re-serialisation is an independent oracle for everything but numbers.
        let samples = [
            r#"{"a":"\u00e9\u003d\/","b":[1,2,{"c":"\n\t"}],"d":{"e":null,"f":true}}"#,
            r#"[ "x\"y" , "\\" , "\u001f" , "\u007f" ]"#,
            "{\"deep\":[[[[[[[[[[[[[\"13\"]]]]]]]]]]]]]}",
        ];
        for s in samples {
            let v: serde_json_oracle::Value = serde_json_oracle::from_str(s).unwrap();
            assert_eq!(
                canonical(s),
                serde_json_oracle::to_string(&v).unwrap(),
                "{s}"
            );
        }
    }

    #[test]
    fn verbatim_keeps_escapes_and_drops_whitespace() {
        assert_eq!(
            verbatim("{ \"a\" : \"x\\u003d y\" ,\n \"b\" : [ 1 , 2 ] }"),
            r#"{"a":"x\u003d y","b":[1,2]}"#
        );
        let compact = r#"{"eventVersion":"1.08","n":0.0}"#;
        assert_eq!(verbatim(compact), compact);
    }

    #[test]
    fn invalid_input_does_not_panic() {
        for s in [
            r#""abc"#,
            r#""\u12""#,
            r#""\"#,
            "{\"a\":\"\\",
            r#""\ud800\u""#,
        ] {
            let _ = map_value(s);
            let _ = canonical(s);
        }
    }
}
