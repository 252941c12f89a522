//! The line editor's helper: completion, highlighting, hints and the "is this statement
//! finished" check. Everything here runs on each keystroke, so it works on the text alone and
//! on caches filled elsewhere; it never queries the lake.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use rustyline::completion::{Completer, FilenameCompleter, Pair};
use rustyline::highlight::{CmdKind, Highlighter};
use rustyline::hint::{Hinter, HistoryHinter};
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Helper};

use ctlake_query::lexer::{self, Kind};

use super::meta::COMMANDS;

/// What completion draws on, filled when the shell starts (map keys arrive later).
#[derive(Default)]
pub struct Vocabulary {
    /// Column names and nested struct paths.
    pub columns: Vec<String>,
    /// Function names, lower case.
    pub functions: Vec<String>,
    /// Table names and the lake's event data store ID.
    pub tables: Vec<String>,
    /// Saved query names.
    pub saved: Vec<String>,
    /// Map column path → keys seen in a sample of the lake.
    pub map_keys: Arc<RwLock<BTreeMap<String, Vec<String>>>>,
}

/// The rustyline helper of the shell.
pub struct ShellHelper {
    vocabulary: Vocabulary,
    files: FilenameCompleter,
    history: HistoryHinter,
    /// ANSI colours; off when the terminal asks for none (`NO_COLOR`).
    color: bool,
}

impl ShellHelper {
    pub fn new(vocabulary: Vocabulary, color: bool) -> Self {
        Self {
            vocabulary,
            files: FilenameCompleter::new(),
            history: HistoryHinter::new(),
            color,
        }
    }
}

/// SQL words offered by completion and shown in colour.
const KEYWORDS: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "GROUP",
    "BY",
    "ORDER",
    "HAVING",
    "LIMIT",
    "OFFSET",
    "AS",
    "AND",
    "OR",
    "NOT",
    "IN",
    "IS",
    "NULL",
    "LIKE",
    "ILIKE",
    "BETWEEN",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
    "DISTINCT",
    "JOIN",
    "LEFT",
    "RIGHT",
    "FULL",
    "INNER",
    "OUTER",
    "CROSS",
    "ON",
    "USING",
    "UNION",
    "ALL",
    "INTERSECT",
    "EXCEPT",
    "WITH",
    "ASC",
    "DESC",
    "NULLS",
    "FIRST",
    "LAST",
    "INTERVAL",
    "DAY",
    "HOUR",
    "MINUTE",
    "SECOND",
    "MONTH",
    "YEAR",
    "TIMESTAMP",
    "DATE",
    "CAST",
    "TRY_CAST",
    "TRUE",
    "FALSE",
    "OVER",
    "PARTITION",
    "ROWS",
    "RANGE",
    "UNNEST",
    "EXISTS",
    "EXPLAIN",
    "ANALYZE",
    "DESCRIBE",
    "SHOW",
    "TABLES",
    "COLUMNS",
    "VARCHAR",
    "BIGINT",
    "DOUBLE",
    "BOOLEAN",
    "FILTER",
    "LATERAL",
    "CURRENT_TIMESTAMP",
    "CURRENT_DATE",
];

fn is_keyword(word: &str) -> bool {
    KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(word))
}

/// Where the cursor is in SQL text: inside a string (from the byte after its quote), a quoted
/// identifier, a comment, or plain code.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum Lexical {
    Code,
    String { start: usize },
    Quoted,
    Comment,
}

/// Says where the end of `text` is (see [`ctlake_query::lexer`]); also whether a `;` ended a
/// statement there (only whitespace and comments after it).
fn scan(text: &str) -> (Lexical, bool) {
    let spans = lexer::spans(text);
    let state = match spans.last() {
        Some(s) if s.kind == Kind::LineComment => Lexical::Comment,
        Some(s) if !s.closed => match s.kind {
            Kind::String => Lexical::String { start: s.start + 1 },
            Kind::Quoted => Lexical::Quoted,
            _ => Lexical::Comment,
        },
        _ => Lexical::Code,
    };
    let ended = spans
        .iter()
        .rev()
        .filter(|s| !matches!(s.kind, Kind::LineComment | Kind::BlockComment))
        .find_map(|s| match s.kind {
            Kind::Code => {
                let code = text[s.start..s.end].trim_end();
                (!code.is_empty()).then(|| code.ends_with(';'))
            }
            _ => Some(false),
        })
        .unwrap_or(false);
    (state, ended)
}

/// True when `input` is a whole entry: a meta-command, or SQL ending in `;`.
pub fn is_complete(input: &str) -> bool {
    let trimmed = input.trim();
    if trimmed.is_empty() || trimmed.starts_with('\\') {
        return true;
    }
    let (state, ended) = scan(input);
    matches!(state, Lexical::Code | Lexical::Comment) && ended
}

/// The identifier-ish word that ends at `pos`, and where it starts.
fn word_before(line: &str, pos: usize) -> (usize, &str) {
    let start = line[..pos]
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_alphanumeric() || matches!(c, '_' | '.' | '$'))
        .last()
        .map_or(pos, |(i, _)| i);
    (start, &line[start..pos])
}

/// The map column of `element_at(<column>, '` or `<column>['` just before a string's quote.
fn map_column_before(code: &str) -> Option<String> {
    let code = code.trim_end();
    let found = |column: &str| (!column.is_empty()).then(|| column.to_ascii_lowercase());
    if let Some(c) = code.strip_suffix('[') {
        return found(word_before(c, c.len()).1);
    }
    let c = code.strip_suffix(',')?.trim_end();
    let (start, column) = word_before(c, c.len());
    let before = c[..start].trim_end().to_ascii_lowercase();
    before
        .ends_with("element_at(")
        .then(|| found(column))
        .flatten()
}

fn pairs(candidates: impl IntoIterator<Item = String>) -> Vec<Pair> {
    candidates
        .into_iter()
        .map(|c| Pair {
            display: c.clone(),
            replacement: c,
        })
        .collect()
}

impl ShellHelper {
    fn complete_meta(&self, line: &str, pos: usize, ctx: &Context<'_>) -> (usize, Vec<Pair>) {
        let text = &line[..pos];
        let Some((command, rest)) = text.split_once(char::is_whitespace) else {
            let names = COMMANDS
                .iter()
                .map(|c| c.name)
                .filter(|n| n.starts_with(text))
                .map(str::to_string);
            return (0, pairs(names));
        };
        let arg_start = pos - rest.len();
        let word_start = arg_start + rest.rfind(char::is_whitespace).map_or(0, |i| i + 1);
        let partial = &line[word_start..pos];
        let from = |options: &[&str]| {
            pairs(
                options
                    .iter()
                    .filter(|o| o.starts_with(partial))
                    .map(|o| o.to_string()),
            )
        };
        match command {
            "\\run" | "\\saved" if word_start == arg_start => (
                word_start,
                pairs(
                    self.vocabulary
                        .saved
                        .iter()
                        .filter(|s| s.starts_with(partial))
                        .cloned(),
                ),
            ),
            "\\i" | "\\o" => self.files.complete(line, pos, ctx).unwrap_or_default(),
            "\\format" => (
                word_start,
                from(&["table", "csv", "tsv", "json", "ndjson", "markdown", "lake"]),
            ),
            "\\x" => (word_start, from(&["on", "off", "auto"])),
            "\\timing" | "\\pager" => (word_start, from(&["on", "off"])),
            "\\d" => (
                word_start,
                pairs(
                    self.vocabulary
                        .tables
                        .iter()
                        .filter(|t| t.starts_with(partial))
                        .cloned(),
                ),
            ),
            "\\from" | "\\to" => (
                word_start,
                from(&[
                    "-15m",
                    "-1h",
                    "-24h",
                    "-7d",
                    "-30d",
                    "today",
                    "yesterday",
                    "now",
                ]),
            ),
            _ => (pos, Vec::new()),
        }
    }

    fn complete_sql(&self, line: &str, pos: usize) -> (usize, Vec<Pair>) {
        let (state, _) = scan(&line[..pos]);
        if let Lexical::String { start } = state {
            let quote = start - 1;
            let Some(column) = map_column_before(&line[..quote]) else {
                return (pos, Vec::new());
            };
            let partial = &line[start..pos];
            let keys = self
                .vocabulary
                .map_keys
                .read()
                .map(|m| m.get(&column).cloned().unwrap_or_default())
                .unwrap_or_default();
            let found = keys
                .into_iter()
                .filter(|k| k.starts_with(partial))
                .map(|k| format!("{k}'"));
            return (start, pairs(found));
        }
        if state != Lexical::Code {
            return (pos, Vec::new());
        }
        let (start, word) = word_before(line, pos);
        if word.is_empty() {
            return (pos, Vec::new());
        }
        let lower = word.to_ascii_lowercase();
        if word.contains('.') {
            // A nested path: offer the next level only, so each Tab goes one step deeper.
            let depth = word.matches('.').count();
            let mut found: Vec<String> = self
                .vocabulary
                .columns
                .iter()
                .filter(|c| c.starts_with(&lower) && c.matches('.').count() == depth)
                .cloned()
                .collect();
            found.sort();
            found.dedup();
            return (start, pairs(found));
        }
        let upper = word.chars().next().is_some_and(char::is_uppercase);
        let mut found: Vec<String> = KEYWORDS
            .iter()
            .filter(|k| k.to_ascii_lowercase().starts_with(&lower))
            .map(|k| {
                if upper {
                    k.to_string()
                } else {
                    k.to_ascii_lowercase()
                }
            })
            .collect();
        let v = &self.vocabulary;
        found.extend(
            v.columns
                .iter()
                .filter(|c| !c.contains('.'))
                .chain(&v.tables)
                .chain(&v.functions)
                .filter(|c| c.starts_with(&lower))
                .cloned(),
        );
        found.sort();
        found.dedup();
        (start, pairs(found))
    }
}

impl Completer for ShellHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        if line.trim_start().starts_with('\\') {
            let skipped = line.len() - line.trim_start().len();
            let (start, found) = self.complete_meta(&line[skipped..], pos - skipped, ctx);
            return Ok((start + skipped, found));
        }
        Ok(self.complete_sql(line, pos))
    }
}

impl Hinter for ShellHelper {
    type Hint = String;

    fn hint(&self, line: &str, pos: usize, ctx: &Context<'_>) -> Option<String> {
        if pos < line.len() {
            return None;
        }
        if let Some(text) = line.strip_prefix('\\') {
            // The usage of the command being typed, once its name is unambiguous.
            let matching: Vec<_> = COMMANDS
                .iter()
                .filter(|c| c.name[1..].starts_with(text.trim_end()))
                .collect();
            if let [only] = matching.as_slice()
                && !text.contains(' ')
            {
                let rest = &only.name[1 + text.len()..];
                let args = if only.args.is_empty() {
                    String::new()
                } else {
                    format!(" {}", only.args)
                };
                return Some(format!("{rest}{args}  -- {}", only.help));
            }
            return None;
        }
        self.history.hint(line, pos, ctx)
    }
}

impl Highlighter for ShellHelper {
    fn highlight<'l>(&self, line: &'l str, _pos: usize) -> Cow<'l, str> {
        if !self.color || line.is_empty() {
            return Cow::Borrowed(line);
        }
        if line.trim_start().starts_with('\\') {
            return Cow::Owned(format!("\x1b[1;35m{line}\x1b[0m"));
        }
        Cow::Owned(colorize(line))
    }

    fn highlight_hint<'h>(&self, hint: &'h str) -> Cow<'h, str> {
        if self.color {
            Cow::Owned(format!("\x1b[2m{hint}\x1b[0m"))
        } else {
            Cow::Borrowed(hint)
        }
    }

    fn highlight_char(&self, _line: &str, _pos: usize, _kind: CmdKind) -> bool {
        self.color
    }
}

const KEYWORD: &str = "\x1b[1;34m";
const STRING: &str = "\x1b[32m";
const NUMBER: &str = "\x1b[33m";
const COMMENT: &str = "\x1b[2m";
const RESET: &str = "\x1b[0m";

fn paint(out: &mut String, color: &str, text: &str) {
    out.push_str(color);
    out.push_str(text);
    out.push_str(RESET);
}

/// SQL with keywords, strings, numbers and comments in ANSI colours. The visible text is
/// unchanged, so the cursor stays where the editor thinks it is.
fn colorize(line: &str) -> String {
    let mut out = String::with_capacity(line.len() * 2);
    for span in lexer::spans(line) {
        let text = &line[span.start..span.end];
        match span.kind {
            Kind::String => paint(&mut out, STRING, text),
            Kind::LineComment | Kind::BlockComment => paint(&mut out, COMMENT, text),
            Kind::Quoted => out.push_str(text),
            Kind::Code => colorize_code(&mut out, text),
        }
    }
    out
}

/// The keywords and numbers of a code span, coloured.
fn colorize_code(out: &mut String, code: &str) {
    let chars: Vec<(usize, char)> = code.char_indices().collect();
    let end_of = |k: usize| chars.get(k).map_or(code.len(), |c| c.0);
    let run = |from: usize, part: fn(char) -> bool| {
        (from..chars.len())
            .find(|&j| !part(chars[j].1))
            .unwrap_or(chars.len())
    };
    let mut k = 0;
    while k < chars.len() {
        let (i, c) = chars[k];
        if c.is_alphabetic() || c == '_' {
            let j = run(k, |c| c.is_alphanumeric() || c == '_');
            let word = &code[i..end_of(j)];
            if is_keyword(word) {
                paint(out, KEYWORD, word);
            } else {
                out.push_str(word);
            }
            k = j;
        } else if c.is_ascii_digit() {
            let j = run(k, |c| c.is_ascii_digit() || c == '.');
            paint(out, NUMBER, &code[i..end_of(j)]);
            k = j;
        } else {
            out.push(c);
            k += 1;
        }
    }
}

impl Validator for ShellHelper {
    fn validate(&self, ctx: &mut ValidationContext<'_>) -> rustyline::Result<ValidationResult> {
        Ok(if is_complete(ctx.input()) {
            ValidationResult::Valid(None)
        } else {
            ValidationResult::Incomplete
        })
    }
}

impl Helper for ShellHelper {}

#[cfg(test)]
mod tests {
    use super::*;

    fn helper() -> ShellHelper {
        let v = Vocabulary {
            columns: ctlake_query::suggest::column_paths(),
            functions: vec!["element_at".into(), "json_extract_scalar".into()],
            tables: vec!["cloudtrail".into()],
            saved: vec!["root-activity".into(), "console-logins-without-mfa".into()],
            ..Default::default()
        };
        v.map_keys.write().unwrap().insert(
            "requestparameters".into(),
            vec!["bucketName".into(), "key".into()],
        );
        ShellHelper::new(v, false)
    }

    fn completions(line: &str) -> (usize, Vec<String>) {
        let h = helper();
        let (start, found) = h.complete_sql(line, line.len());
        (start, found.into_iter().map(|p| p.replacement).collect())
    }

    #[test]
    fn statements_end_at_a_semicolon_outside_strings_and_comments() {
        assert!(!is_complete("SELECT 1"));
        assert!(is_complete("SELECT 1;"));
        assert!(is_complete("SELECT 1;  \n"));
        assert!(!is_complete("SELECT ';'"));
        assert!(!is_complete("SELECT 1 -- ;"));
        assert!(is_complete("SELECT 1; -- done"));
        assert!(!is_complete("SELECT 'it''s;"));
        assert!(is_complete("\\timing"));
        assert!(is_complete(""));
    }

    #[test]
    fn nested_paths_complete_one_level_at_a_time() {
        let (start, found) = completions("SELECT useridentity.sessioncontext.sessioni");
        assert_eq!(start, 7);
        assert_eq!(found, ["useridentity.sessioncontext.sessionissuer"]);
        let (_, found) = completions("SELECT useridentity.sessioncontext.sessionissuer.a");
        assert_eq!(
            found,
            [
                "useridentity.sessioncontext.sessionissuer.accountid",
                "useridentity.sessioncontext.sessionissuer.arn"
            ]
        );
    }

    #[test]
    fn keywords_keep_the_case_typed_and_columns_come_too() {
        let (_, found) = completions("SEL");
        assert_eq!(found, ["SELECT"]);
        let (_, found) = completions("select eventn");
        assert_eq!(found, ["eventname"]);
    }

    #[test]
    fn map_keys_complete_inside_element_at_and_subscripts() {
        let (start, found) = completions("SELECT element_at(requestparameters, 'bu");
        assert_eq!(start, 38);
        assert_eq!(found, ["bucketName'"]);
        let (_, found) = completions("SELECT requestparameters['k");
        assert_eq!(found, ["key'"]);
        // Other strings complete nothing.
        let (_, found) = completions("SELECT * FROM cloudtrail WHERE eventname = 'bu");
        assert!(found.is_empty());
    }

    #[test]
    fn highlighting_keeps_the_text() {
        let sql = "SELECT 'a''b', 12 FROM t -- note";
        let coloured = colorize(sql);
        let plain: String = {
            let mut s = String::new();
            let mut chars = coloured.chars();
            while let Some(c) = chars.next() {
                if c == '\x1b' {
                    for c in chars.by_ref() {
                        if c == 'm' {
                            break;
                        }
                    }
                } else {
                    s.push(c);
                }
            }
            s
        };
        assert_eq!(plain, sql);
        assert!(coloured.contains("\x1b[1;34mSELECT"));
        assert!(coloured.contains("\x1b[32m'a''b'"));
    }
}
