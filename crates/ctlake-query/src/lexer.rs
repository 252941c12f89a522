//! SQL split into spans: code, string literals, quoted identifiers and comments. It is the one
//! place that knows SQL's quoting rules (doubled quotes escape, `--` runs to the end of the
//! line, `/* */` may span lines), so the dialect's rewrite of event data store IDs, the
//! shell's highlighter and its test for a finished statement cannot disagree about where a
//! string or a comment ends. It does not tokenise code: each user looks into code spans for
//! what it needs.

/// What a span of SQL text is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Anything outside quotes and comments.
    Code,
    /// A string literal, quotes included.
    String,
    /// A quoted identifier (`"..."` or `` `...` ``), quotes included.
    Quoted,
    /// A `--` comment, up to (not including) its line's end.
    LineComment,
    /// A `/* ... */` comment.
    BlockComment,
}

/// A span of the text: `text[start..end]` is of kind `kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// What it is.
    pub kind: Kind,
    /// Byte offset of its first character.
    pub start: usize,
    /// Byte offset just past it.
    pub end: usize,
    /// False for a string, quoted identifier or block comment that the text ends inside of.
    pub closed: bool,
}

/// Splits `sql` into consecutive spans covering all of it.
pub fn spans(sql: &str) -> Vec<Span> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut code_start = 0;
    let mut i = 0;
    let push = |out: &mut Vec<Span>, code_start: &mut usize, span: Span| {
        if *code_start < span.start {
            out.push(Span {
                kind: Kind::Code,
                start: *code_start,
                end: span.start,
                closed: true,
            });
        }
        *code_start = span.end;
        out.push(span);
    };
    while i < b.len() {
        let (kind, end, closed) = match b[i] {
            b'\'' => {
                let (end, closed) = skip_quoted(b, i, b'\'');
                (Kind::String, end, closed)
            }
            q @ (b'"' | b'`') => {
                let (end, closed) = skip_quoted(b, i, q);
                (Kind::Quoted, end, closed)
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                let end = b[i..]
                    .iter()
                    .position(|&c| c == b'\n')
                    .map_or(b.len(), |p| i + p);
                (Kind::LineComment, end, true)
            }
            b'/' if b.get(i + 1) == Some(&b'*') => match sql[i + 2..].find("*/") {
                Some(p) => (Kind::BlockComment, i + 2 + p + 2, true),
                None => (Kind::BlockComment, b.len(), false),
            },
            _ => {
                i += 1;
                continue;
            }
        };
        push(
            &mut out,
            &mut code_start,
            Span {
                kind,
                start: i,
                end,
                closed,
            },
        );
        i = end;
    }
    if code_start < b.len() {
        out.push(Span {
            kind: Kind::Code,
            start: code_start,
            end: b.len(),
            closed: true,
        });
    }
    out
}

/// The index just past a quoted token starting at `start` (a doubled quote escapes it), and
/// whether its closing quote was found.
fn skip_quoted(b: &[u8], start: usize, quote: u8) -> (usize, bool) {
    let mut i = start + 1;
    while i < b.len() {
        if b[i] == quote {
            if b.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return (i + 1, true);
        }
        i += 1;
    }
    (b.len(), false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(sql: &str) -> Vec<(Kind, &str, bool)> {
        spans(sql)
            .into_iter()
            .map(|s| (s.kind, &sql[s.start..s.end], s.closed))
            .collect()
    }

    #[test]
    fn quotes_and_comments() {
        use Kind::*;
        assert_eq!(
            kinds("SELECT 'it''s; -- not' -- a comment; 'x'\nFROM \"t\"\"x\" /* b ' */;"),
            vec![
                (Code, "SELECT ", true),
                (String, "'it''s; -- not'", true),
                (Code, " ", true),
                (LineComment, "-- a comment; 'x'", true),
                (Code, "\nFROM ", true),
                (Quoted, "\"t\"\"x\"", true),
                (Code, " ", true),
                (BlockComment, "/* b ' */", true),
                (Code, ";", true),
            ]
        );
        // A backquote does not close a double quote.
        assert_eq!(kinds("\"a`b\"")[0], (Quoted, "\"a`b\"", true));
        assert_eq!(
            kinds("x = 'open"),
            vec![(Code, "x = ", true), (String, "'open", false)]
        );
        assert_eq!(kinds("/* open")[0], (BlockComment, "/* open", false));
        assert_eq!(kinds(""), vec![]);
        // Multi-byte text keeps its offsets on character boundaries.
        assert_eq!(
            kinds("'é' é"),
            vec![(String, "'é'", true), (Code, " é", true)]
        );
    }
}
