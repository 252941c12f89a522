//! The CloudTrail Lake dialect: turns a query written for CloudTrail Lake (Trino SQL over an
//! event data store) into one DataFusion plans the same way.
//!
//! Three passes, each where it is simplest:
//! 1. **Text**: event data store names in `FROM` (the lake's ID unquoted, quoted or backquoted,
//!    `$EDS_ID`, or another store's UUID) become `cloudtrail`. An unquoted hyphenated UUID is
//!    not one token to any SQL tokenizer, so this happens before parsing, outside strings and
//!    comments, and positions of later errors are mapped back to the text the user wrote.
//! 2. **Checks**: only statements that read run (SELECT, WITH, set operations, EXPLAIN,
//!    DESCRIBE, SHOW); anything that writes, sets options or reads outside the lake is refused.
//! 3. **Rewrites** of the syntax tree: Trino functions that are another DataFusion function in
//!    disguise (`if`, `count_if`, `max_by`, `transform`, `all_match`, `date`, `try`, ...),
//!    `UNNEST` in `FROM` as an implicit cross join, and Trino's `_col0` names for unnamed result
//!    columns.

use std::collections::HashSet;
use std::ops::ControlFlow;

use datafusion::sql::parser::{DFParserBuilder, Statement as DFStatement};
use datafusion::sql::sqlparser::ast::{
    CastKind, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Ident, ObjectName,
    ObjectNamePart, Query, Select, SelectItem, SetExpr, Statement, TableFactor, TableWithJoins,
    visit_expressions_mut,
};
use datafusion::sql::sqlparser::dialect::{Dialect, DuckDbDialect};

/// The parser's dialect. Trino has none in sqlparser; DuckDB's is the nearest that parses
/// lambdas (`x -> x > 1`), `INTERVAL '7' DAY`, typed literals, map and struct access. It is
/// DuckDB's with one difference: DuckDB reads `f(a = b)` as a named argument `a`, where Trino
/// (named arguments are `a => b`) reads a comparison, as in `if(eventname = 'X', 1, 0)`.
#[derive(Debug, Default)]
struct SqlDialect {
    duckdb: DuckDbDialect,
}

/// Every choice DuckDB's dialect makes, delegated, except named arguments with `=`.
impl Dialect for SqlDialect {
    fn dialect(&self) -> std::any::TypeId {
        // The parser asks "is this DuckDB?" for a few constructs (`STRUCT(..)` types, ...).
        std::any::TypeId::of::<DuckDbDialect>()
    }
    fn is_identifier_start(&self, ch: char) -> bool {
        self.duckdb.is_identifier_start(ch)
    }
    fn is_identifier_part(&self, ch: char) -> bool {
        self.duckdb.is_identifier_part(ch)
    }
    fn supports_named_fn_args_with_eq_operator(&self) -> bool {
        false
    }
    fn supports_trailing_commas(&self) -> bool {
        self.duckdb.supports_trailing_commas()
    }
    fn supports_filter_during_aggregation(&self) -> bool {
        self.duckdb.supports_filter_during_aggregation()
    }
    fn supports_group_by_expr(&self) -> bool {
        self.duckdb.supports_group_by_expr()
    }
    fn supports_bitwise_shift_operators(&self) -> bool {
        self.duckdb.supports_bitwise_shift_operators()
    }
    fn supports_named_fn_args_with_assignment_operator(&self) -> bool {
        self.duckdb
            .supports_named_fn_args_with_assignment_operator()
    }
    fn supports_dictionary_syntax(&self) -> bool {
        self.duckdb.supports_dictionary_syntax()
    }
    fn support_map_literal_syntax(&self) -> bool {
        self.duckdb.support_map_literal_syntax()
    }
    fn supports_lambda_functions(&self) -> bool {
        self.duckdb.supports_lambda_functions()
    }
    fn allow_extract_single_quotes(&self) -> bool {
        self.duckdb.allow_extract_single_quotes()
    }
    fn supports_array_typedef_with_brackets(&self) -> bool {
        self.duckdb.supports_array_typedef_with_brackets()
    }
    fn supports_order_by_all(&self) -> bool {
        self.duckdb.supports_order_by_all()
    }
    fn supports_select_wildcard_exclude(&self) -> bool {
        self.duckdb.supports_select_wildcard_exclude()
    }
    fn supports_select_wildcard_replace(&self) -> bool {
        self.duckdb.supports_select_wildcard_replace()
    }
    fn supports_notnull_operator(&self) -> bool {
        self.duckdb.supports_notnull_operator()
    }
    fn supports_comma_separated_trim(&self) -> bool {
        self.duckdb.supports_comma_separated_trim()
    }
}
use datafusion::sql::sqlparser::parser::Parser;

use crate::TABLE;
use crate::error::{Error, Result};
use crate::functions::{FALLIBLE, lenient_name};
use crate::lexer::{self, Kind};

/// A query translated for DataFusion.
#[derive(Debug)]
pub struct Translated {
    /// The statements, checked and rewritten.
    pub statements: Vec<DFStatement>,
    /// One-line notices for the user (an event data store ID this lake does not know, ...).
    pub notices: Vec<String>,
}

/// Translates CloudTrail Lake SQL for the lake whose event data store ID is `lake_id`.
pub fn translate(sql: &str, lake_id: &str) -> Result<Translated> {
    let scanned = Scanned::new(sql, lake_id);
    let dialect = SqlDialect::default();
    let parsed = DFParserBuilder::new(scanned.sql.as_str())
        .with_dialect(&dialect)
        .build()
        .and_then(|mut p| p.parse_statements())
        .map_err(|e| {
            if bare_values(&scanned.sql) {
                return Error::Unsupported {
                    what: "VALUES rows without parentheses; write VALUES (1), (2), (3)".into(),
                };
            }
            scanned.syntax_error(sql, &e.strip_backtrace())
        })?;
    let mut statements = Vec::with_capacity(parsed.len());
    for mut statement in parsed {
        balance_chains(&mut statement)?;
        check_read_only(&statement)?;
        rewrite(&mut statement)?;
        statements.push(statement);
    }
    if statements.is_empty() {
        return Err(Error::Syntax {
            message: "no statement".into(),
            line: 1,
            column: 1,
        });
    }
    Ok(Translated {
        statements,
        notices: scanned.notices,
    })
}

/// Whether `sql` has a `VALUES` not followed by `(`: Trino's `VALUES 1, 2, 3` (one column
/// per row, no parentheses), which the parser does not read.
fn bare_values(sql: &str) -> bool {
    lexer::spans(sql)
        .iter()
        .filter(|s| s.kind == Kind::Code)
        .any(|s| {
            let code = &sql[s.start..s.end];
            let lower = code.to_ascii_lowercase();
            lower.match_indices("values").any(|(at, w)| {
                let before = code[..at].bytes().next_back();
                let after = code[at + w.len()..].trim_start();
                before.is_none_or(|c| !is_word(c))
                    && code[at + w.len()..]
                        .bytes()
                        .next()
                        .is_none_or(|c| !is_word(c))
                    && !after.is_empty()
                    && !after.starts_with('(')
            })
        })
}

/// Operands from which a chain of `OR` (or `AND`) is rebuilt as a balanced tree.
const LONG_CHAIN: usize = 32;

/// How deep expressions may nest once chains are balanced.
pub const MAX_EXPR_DEPTH: usize = 500;

/// The most terms an `AND` chain may have once lists are folded: DataFusion rebuilds
/// conjunctions as left-nested chains wherever it moves filters, and recurses once per term.
pub const MAX_AND_TERMS: usize = 1000;

/// Rebuilds long chains of `OR` and of `AND`. The parser nests `a OR b OR c ...` to the left,
/// one level per term, and planning and evaluation recurse once per level: a list of 10,000
/// IOCs overflowed the stack. Both operators are associative in SQL's three-valued logic, so
/// terms `x = literal` of one `x` joined by `OR` become `x IN (...)` (and `x <> literal`
/// joined by `AND` become `x NOT IN (...)`: the same truth values, NULLs included, and a hash
/// lookup instead of a scan of the terms), and the remaining terms of an `OR` are rebuilt as
/// a balanced tree (depth log2 of the terms). Chains are taken apart and rebuilt without
/// recursion, before anything else walks the tree.
fn balance_chains(statement: &mut DFStatement) -> Result<()> {
    use datafusion::sql::sqlparser::ast::{VisitMut, VisitorMut};
    /// Balances chains on the way down, and counts how deep expressions nest: what still
    /// nests deeper than [`MAX_EXPR_DEPTH`] (`1 + 1 + ...` of thousands of terms) is refused
    /// before anything recurses through it.
    struct Balancer {
        depth: usize,
    }
    impl VisitorMut for Balancer {
        type Break = Error;
        fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<Error> {
            if let Err(e) = balance(expr) {
                return ControlFlow::Break(e);
            }
            self.depth += 1;
            if self.depth > MAX_EXPR_DEPTH {
                return ControlFlow::Break(Error::Limit {
                    what: format!(
                        "expressions nested more than {MAX_EXPR_DEPTH} levels deep \
                         (a long chain of one operator other than AND and OR?)"
                    ),
                });
            }
            ControlFlow::Continue(())
        }
        fn post_visit_expr(&mut self, _: &mut Expr) -> ControlFlow<Error> {
            self.depth -= 1;
            ControlFlow::Continue(())
        }
    }
    match statement {
        DFStatement::Explain(e) => balance_chains(&mut e.statement),
        DFStatement::Statement(s) => match s.visit(&mut Balancer { depth: 0 }) {
            ControlFlow::Break(e) => Err(e),
            ControlFlow::Continue(()) => Ok(()),
        },
        _ => Ok(()),
    }
}

fn balance(expr: &mut Expr) -> Result<()> {
    use datafusion::sql::sqlparser::ast::{BinaryOperator, Value};
    let op = match expr {
        Expr::BinaryOp {
            op: op @ (BinaryOperator::Or | BinaryOperator::And),
            left,
            ..
        } if matches!(left.as_ref(), Expr::BinaryOp { op: inner, .. } if inner == op) => op.clone(),
        _ => return Ok(()),
    };
    // The terms, left to right.
    let mut terms = Vec::new();
    let mut stack = vec![std::mem::replace(expr, Expr::value(Value::Null))];
    while let Some(e) = stack.pop() {
        match e {
            Expr::BinaryOp { left, op: o, right } if o == op => {
                stack.push(*right);
                stack.push(*left);
            }
            other => terms.push(other),
        }
    }
    let long = terms.len() > LONG_CHAIN;
    if long {
        terms = fold_lists(terms, &op);
    }
    if op == BinaryOperator::And && terms.len() > MAX_AND_TERMS {
        return Err(Error::Limit {
            what: format!(
                "a condition of {} terms joined by AND (at most {MAX_AND_TERMS}); \
                 a list of values is `column NOT IN (...)` or `column IN (...)`",
                terms.len()
            ),
        });
    }
    fn build(mut terms: Vec<Expr>, op: &BinaryOperator, balanced: bool) -> Expr {
        if !balanced || terms.len() <= 2 {
            let mut it = terms.into_iter();
            let first = it.next().unwrap_or(Expr::value(Value::Null));
            return it.fold(first, |left, right| Expr::BinaryOp {
                left: Box::new(left),
                op: op.clone(),
                right: Box::new(right),
            });
        }
        let right = terms.split_off(terms.len() / 2);
        Expr::BinaryOp {
            left: Box::new(build(terms, op, true)),
            op: op.clone(),
            right: Box::new(build(right, op, true)),
        }
    }
    *expr = build(terms, &op, long);
    Ok(())
}

/// Folds the terms `x = literal` of an `OR` chain (`x <> literal` of an `AND` chain) into one
/// `x IN (...)` (`x NOT IN (...)`) per `x`, where the first of them stood.
fn fold_lists(terms: Vec<Expr>, op: &datafusion::sql::sqlparser::ast::BinaryOperator) -> Vec<Expr> {
    use datafusion::sql::sqlparser::ast::BinaryOperator;
    let (compare, negated) = match op {
        BinaryOperator::Or => (BinaryOperator::Eq, false),
        _ => (BinaryOperator::NotEq, true),
    };
    enum Slot {
        Term(Expr),
        List(Expr, Vec<Expr>),
    }
    let mut slots: Vec<Slot> = Vec::with_capacity(terms.len());
    let mut lists: Vec<usize> = Vec::new();
    for term in terms {
        let (subject, value) = match term {
            Expr::BinaryOp { left, op, right }
                if op == compare && matches!(right.as_ref(), Expr::Value(_)) =>
            {
                (*left, *right)
            }
            Expr::BinaryOp { left, op, right }
                if op == compare && matches!(left.as_ref(), Expr::Value(_)) =>
            {
                (*right, *left)
            }
            other => {
                slots.push(Slot::Term(other));
                continue;
            }
        };
        let found = lists
            .iter()
            .copied()
            .find(|i| matches!(&slots[*i], Slot::List(s, _) if *s == subject));
        match found {
            Some(i) => {
                if let Slot::List(_, values) = &mut slots[i] {
                    values.push(value);
                }
            }
            None => {
                lists.push(slots.len());
                slots.push(Slot::List(subject, vec![value]));
            }
        }
    }
    slots
        .into_iter()
        .map(|slot| match slot {
            Slot::Term(t) => t,
            Slot::List(subject, mut values) if values.len() == 1 => Expr::BinaryOp {
                left: Box::new(subject),
                op: compare.clone(),
                right: Box::new(values.remove(0)),
            },
            Slot::List(subject, values) => Expr::InList {
                expr: Box::new(subject),
                list: values,
                negated,
            },
        })
        .collect()
}

/// The SQL text with event data store names replaced, and where it was changed.
struct Scanned {
    sql: String,
    /// (offset in the rewritten text, bytes there, bytes in the original), in order.
    edits: Vec<(usize, usize, usize)>,
    notices: Vec<String>,
}

fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$'
}

impl Scanned {
    fn new(sql: &str, lake_id: &str) -> Self {
        let b = sql.as_bytes();
        let mut out = Self {
            sql: String::with_capacity(sql.len()),
            edits: Vec::new(),
            notices: Vec::new(),
        };
        let mut copied = 0;
        let replace = |out: &mut Self, copied: &mut usize, start: usize, end: usize, name: &str| {
            out.sql.push_str(&sql[*copied..start]);
            out.edits.push((out.sql.len(), TABLE.len(), end - start));
            out.sql.push_str(TABLE);
            *copied = end;
            if is_uuid(name) && !name.eq_ignore_ascii_case(lake_id) {
                let notice = format!(
                    "notice: event data store {name} is not this lake's ({lake_id}); reading this lake"
                );
                if !out.notices.contains(&notice) {
                    out.notices.push(notice);
                }
            }
        };
        for span in lexer::spans(sql) {
            match span.kind {
                Kind::Quoted => {
                    let inner =
                        &sql[span.start + 1..span.end.saturating_sub(1).max(span.start + 1)];
                    if span.end - span.start == 38 && is_uuid(inner) {
                        replace(&mut out, &mut copied, span.start, span.end, inner);
                    }
                }
                Kind::Code => {
                    let mut i = span.start;
                    while i < span.end {
                        if i > 0 && is_word(b[i - 1]) {
                            i += 1;
                            continue;
                        }
                        let word_end = b[i..span.end]
                            .iter()
                            .position(|&c| !is_word(c))
                            .map_or(span.end, |p| i + p);
                        let uuid_end = i + 36;
                        if b[i] == b'$' && sql[i..word_end].eq_ignore_ascii_case("$EDS_ID") {
                            replace(&mut out, &mut copied, i, word_end, "$EDS_ID");
                        } else if uuid_end <= span.end
                            && sql.get(i..uuid_end).is_some_and(is_uuid)
                            && b.get(uuid_end).is_none_or(|&c| !is_word(c) && c != b'-')
                        {
                            replace(&mut out, &mut copied, i, uuid_end, &sql[i..uuid_end]);
                            i = uuid_end;
                            continue;
                        }
                        i = word_end.max(i + 1);
                    }
                }
                Kind::String | Kind::LineComment | Kind::BlockComment => {}
            }
        }
        out.sql.push_str(&sql[copied..]);
        out
    }

    /// The offset in the original text of an offset in the rewritten one.
    fn original_offset(&self, offset: usize) -> usize {
        let mut shift: isize = 0;
        for &(at, new_len, old_len) in &self.edits {
            if offset < at {
                break;
            }
            if offset < at + new_len {
                return (at as isize + shift) as usize;
            }
            shift += old_len as isize - new_len as isize;
        }
        (offset as isize + shift).max(0) as usize
    }

    /// A parser error, its position mapped back to the user's text.
    fn syntax_error(&self, original: &str, message: &str) -> Error {
        let message = message
            .trim_start_matches("SQL error: ")
            .trim_start_matches("sql parser error: ");
        let message = message
            .strip_prefix("ParserError(\"")
            .and_then(|m| m.strip_suffix("\")"))
            .unwrap_or(message);
        let (text, position) = match message.rfind(" at Line: ") {
            Some(at) => (&message[..at], parse_position(&message[at + 10..])),
            None => (message, None),
        };
        let (line, column) = match position {
            Some((line, column)) => {
                let offset = offset_of(&self.sql, line, column);
                position_of(original, self.original_offset(offset))
            }
            None => (0, 0),
        };
        Error::Syntax {
            message: text.to_string(),
            line,
            column,
        }
    }
}

/// `"3, Column: 10"` as (3, 10).
fn parse_position(s: &str) -> Option<(usize, usize)> {
    let (line, rest) = s.split_once(", Column: ")?;
    let column: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    Some((line.trim().parse().ok()?, column.parse().ok()?))
}

/// The byte offset of a 1-based line and character column.
fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let mut offset = 0;
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i + 1 == line {
            return offset
                + l.char_indices()
                    .nth(column.saturating_sub(1))
                    .map_or(l.len(), |(o, _)| o);
        }
        offset += l.len();
    }
    offset
}

/// The 1-based line and character column of a byte offset.
pub fn position_of(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..text.floor_char_boundary(offset)];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Refuses anything that is not a read of the lake.
fn check_read_only(statement: &DFStatement) -> Result<()> {
    let refuse = |what: &str| {
        Err(Error::ReadOnly {
            statement: what.to_string(),
        })
    };
    match statement {
        DFStatement::Explain(e) => check_read_only(&e.statement),
        DFStatement::CreateExternalTable(_) => refuse("CREATE EXTERNAL TABLE"),
        DFStatement::CopyTo(_) => refuse("COPY"),
        DFStatement::Reset(_) => refuse("RESET"),
        DFStatement::Statement(s) => match s.as_ref() {
            Statement::Query(_)
            | Statement::ExplainTable { .. }
            | Statement::ShowTables { .. }
            | Statement::ShowColumns { .. }
            | Statement::ShowFunctions { .. }
            | Statement::ShowVariable { .. }
            | Statement::ShowVariables { .. }
            | Statement::ShowSchemas { .. }
            | Statement::ShowDatabases { .. }
            | Statement::ShowCatalogs { .. }
            | Statement::ShowCreate { .. } => Ok(()),
            Statement::Explain { statement, .. } => {
                check_read_only(&DFStatement::Statement(statement.clone()))
            }
            other => {
                let text = other.to_string();
                let words: Vec<&str> = text.split_whitespace().take(2).collect();
                let what = match words.as_slice() {
                    [first, second]
                        if ["CREATE", "DROP", "ALTER", "SHOW"]
                            .contains(&first.to_uppercase().as_str()) =>
                    {
                        format!("{} {}", first.to_uppercase(), second.to_uppercase())
                    }
                    [first, ..] => first.to_uppercase(),
                    [] => "this statement".to_string(),
                };
                refuse(&what)
            }
        },
    }
}

fn parse_expr(sql: &str) -> Result<Expr> {
    Parser::new(&SqlDialect::default())
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_expr())
        .map_err(|e| Error::Unsupported {
            what: format!("internal rewrite produced bad SQL {sql:?}: {e}"),
        })
}

fn parse_table_factor(sql: &str) -> Result<TableFactor> {
    let query = format!("SELECT * FROM {sql}");
    let mut statements =
        Parser::parse_sql(&SqlDialect::default(), &query).map_err(|e| Error::Unsupported {
            what: format!("internal rewrite produced bad SQL {query:?}: {e}"),
        })?;
    if let Some(Statement::Query(q)) = statements.pop()
        && let SetExpr::Select(mut s) = *q.body
        && let Some(t) = s.from.pop()
    {
        return Ok(t.relation);
    }
    Err(Error::Unsupported {
        what: format!("internal rewrite of {sql:?}"),
    })
}

fn rewrite(statement: &mut DFStatement) -> Result<()> {
    match statement {
        DFStatement::Explain(e) => rewrite(&mut e.statement),
        DFStatement::Statement(s) => {
            let s = s.as_mut();
            rewrite_clauses(s)?;
            let mut renames = Vec::new();
            let query = match s {
                Statement::Query(q) => Some(q.as_mut()),
                Statement::Explain { statement, .. } => match statement.as_mut() {
                    Statement::Query(q) => Some(q.as_mut()),
                    _ => None,
                },
                _ => None,
            };
            if let Some(query) = query {
                walk_selects(query, &mut |select| rewrite_unnest(select, &mut renames))?;
                if !renames.is_empty() {
                    rename_qualifiers(query, &renames);
                }
                name_columns(query);
            }
            rewrite_functions(s)
        }
        _ => Ok(()),
    }
}

/// The identity of the event a row is about, as `ctlake watch` names it in an alert.
pub const IDENTITY: [(&str, &str); 7] = [
    ("eventid", "_event_id"),
    ("eventtime", "_event_time"),
    ("recipientaccountid", "_account"),
    ("awsregion", "_region"),
    ("useridentity['arn']", "_principal"),
    ("sourceipaddress", "_source_ip"),
    ("eventname", "_event_name"),
];

/// Adds the [`IDENTITY`] columns to a translated query whose rows are events: one SELECT
/// over one table, without GROUP BY, DISTINCT or set operations. False when the query has
/// another shape (its rows are then not single events).
pub fn add_identity(statement: &mut DFStatement) -> bool {
    let DFStatement::Statement(s) = statement else {
        return false;
    };
    let Statement::Query(q) = s.as_mut() else {
        return false;
    };
    let SetExpr::Select(select) = q.body.as_mut() else {
        return false;
    };
    let grouped = match &select.group_by {
        datafusion::sql::sqlparser::ast::GroupByExpr::All(_) => true,
        datafusion::sql::sqlparser::ast::GroupByExpr::Expressions(e, _) => !e.is_empty(),
    };
    if grouped
        || select.distinct.is_some()
        || select.from.len() != 1
        || !select.from[0].joins.is_empty()
    {
        return false;
    }
    for (expr, name) in IDENTITY {
        let Ok(expr) = parse_expr(expr) else {
            return false;
        };
        select.projection.push(SelectItem::ExprWithAlias {
            expr,
            alias: Ident::new(name),
        });
    }
    true
}

/// Trino clauses DataFusion plans under another name, in every query of a statement:
/// `FETCH FIRST n ROWS ONLY` is `LIMIT n`, and `TABLESAMPLE BERNOULLI|SYSTEM (p)` keeps each
/// row with probability p% (DataFusion parses `TABLESAMPLE` and then ignores it, which would
/// answer over the whole table).
fn rewrite_clauses(statement: &mut Statement) -> Result<()> {
    use datafusion::sql::sqlparser::ast::{VisitMut, VisitorMut};
    struct Clauses;
    impl VisitorMut for Clauses {
        type Break = Error;
        fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<Error> {
            match fetch_as_limit(query) {
                Ok(()) => ControlFlow::Continue(()),
                Err(e) => ControlFlow::Break(e),
            }
        }
        fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<Error> {
            match sample_as_filter(factor) {
                Ok(()) => ControlFlow::Continue(()),
                Err(e) => ControlFlow::Break(e),
            }
        }
    }
    match statement.visit(&mut Clauses) {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(()),
    }
}

/// `[OFFSET m] FETCH { FIRST | NEXT } [n] { ROW | ROWS } ONLY` as `LIMIT n [OFFSET m]`.
fn fetch_as_limit(query: &mut Query) -> Result<()> {
    use datafusion::sql::sqlparser::ast::{LimitClause, Value};
    let Some(fetch) = query.fetch.take() else {
        return Ok(());
    };
    if fetch.with_ties {
        return Err(Error::Unsupported {
            what: "FETCH FIRST ... WITH TIES (use rank() OVER (ORDER BY ...) <= n)".into(),
        });
    }
    if fetch.percent {
        return Err(Error::Unsupported {
            what: "FETCH FIRST ... PERCENT (Trino has no such clause)".into(),
        });
    }
    let n = fetch
        .quantity
        .unwrap_or_else(|| Expr::value(Value::Number("1".into(), false)));
    match &mut query.limit_clause {
        None => {
            query.limit_clause = Some(LimitClause::LimitOffset {
                limit: Some(n),
                offset: None,
                limit_by: Vec::new(),
            })
        }
        Some(LimitClause::LimitOffset {
            limit: l @ None, ..
        }) => *l = Some(n),
        Some(_) => {
            return Err(Error::Syntax {
                message: "a query has either LIMIT or FETCH FIRST, not both".into(),
                line: 1,
                column: 1,
            });
        }
    }
    Ok(())
}

/// `t [AS a] TABLESAMPLE BERNOULLI (p)` as `(SELECT * FROM t WHERE random() < p / 100) AS a`.
/// Trino's `SYSTEM` may sample whole blocks; sampling rows is one valid way to do it, and the
/// same one.
fn sample_as_filter(factor: &mut TableFactor) -> Result<()> {
    use datafusion::sql::sqlparser::ast::{TableSampleKind, TableSampleUnit};
    let TableFactor::Table {
        name,
        alias,
        sample,
        ..
    } = factor
    else {
        return Ok(());
    };
    let Some(kind) = sample.take() else {
        return Ok(());
    };
    let (TableSampleKind::BeforeTableAlias(s) | TableSampleKind::AfterTableAlias(s)) = kind;
    let unsupported = |what: &str| Error::Unsupported {
        what: format!(
            "TABLESAMPLE {what} (Trino's are BERNOULLI (p) and SYSTEM (p), p in percent)"
        ),
    };
    if s.seed.is_some() || s.bucket.is_some() || s.offset.is_some() {
        return Err(unsupported("with a seed, buckets or an offset"));
    }
    let Some(quantity) = &s.quantity else {
        return Err(unsupported("without a percentage"));
    };
    if matches!(quantity.unit, Some(TableSampleUnit::Rows)) {
        return Err(unsupported("of a number of rows"));
    }
    let alias = match alias.take() {
        Some(mut a) => {
            a.explicit = false;
            a.to_string()
        }
        None => name
            .0
            .last()
            .map(|p| p.to_string())
            .unwrap_or_else(|| TABLE.to_string()),
    };
    *factor = parse_table_factor(&format!(
        "(SELECT * FROM {name} WHERE random() * 100 < ({})) AS {alias}",
        quantity.value
    ))?;
    Ok(())
}

/// Calls `f` on every SELECT of a query: its body, CTEs and derived tables.
fn walk_selects(query: &mut Query, f: &mut impl FnMut(&mut Select) -> Result<()>) -> Result<()> {
    if let Some(with) = &mut query.with {
        for cte in &mut with.cte_tables {
            walk_selects(&mut cte.query, f)?;
        }
    }
    walk_set_expr(&mut query.body, f)
}

fn walk_set_expr(body: &mut SetExpr, f: &mut impl FnMut(&mut Select) -> Result<()>) -> Result<()> {
    match body {
        SetExpr::Select(select) => {
            for twj in &mut select.from {
                walk_factor(&mut twj.relation, f)?;
                for join in &mut twj.joins {
                    walk_factor(&mut join.relation, f)?;
                }
            }
            f(select)
        }
        SetExpr::Query(q) => walk_selects(q, f),
        SetExpr::SetOperation { left, right, .. } => {
            walk_set_expr(left, f)?;
            walk_set_expr(right, f)
        }
        _ => Ok(()),
    }
}

fn walk_factor(
    factor: &mut TableFactor,
    f: &mut impl FnMut(&mut Select) -> Result<()>,
) -> Result<()> {
    match factor {
        TableFactor::Derived { subquery, .. } => walk_selects(subquery, f),
        TableFactor::NestedJoin {
            table_with_joins, ..
        } => {
            walk_factor(&mut table_with_joins.relation, f)?;
            for join in &mut table_with_joins.joins {
                walk_factor(&mut join.relation, f)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// `FROM t [AS a], UNNEST(x) AS u(c)` (or `CROSS JOIN UNNEST`): Trino's implicit lateral join,
/// which DataFusion plans only as `unnest` in a projection. The base table becomes
/// `(SELECT a.*, unnest(x) AS c FROM t AS a) AS a`, and `u.c` is renamed `a.c`.
fn rewrite_unnest(select: &mut Select, renames: &mut Vec<(String, String)>) -> Result<()> {
    for (i, twj) in select.from.iter_mut().enumerate() {
        as_unnest(&mut twj.relation);
        if i == 0 {
            standalone_unnest(&mut twj.relation)?;
        }
        for join in &mut twj.joins {
            as_unnest(&mut join.relation);
        }
    }
    let is_unnest = |f: &TableFactor| matches!(f, TableFactor::UNNEST { .. });
    let comma_unnests = select
        .from
        .iter()
        .skip(1)
        .filter(|t| is_unnest(&t.relation))
        .count();
    let join_unnests = select.from.first().map_or(0, |t| {
        t.joins.iter().filter(|j| is_unnest(&j.relation)).count()
    });
    if comma_unnests == 0 && join_unnests == 0 {
        return Ok(());
    }
    let unsupported = |why: &str| Error::Unsupported {
        what: format!("UNNEST here: {why}"),
    };
    if select.from.len() != 1 + comma_unnests
        || select.from.iter().skip(1).any(|t| !t.joins.is_empty())
        || select.from[0].joins.len() != join_unnests
    {
        return Err(unsupported(
            "ctlake supports `FROM <table> [AS a], UNNEST(..) AS t(c)` and `CROSS JOIN UNNEST`; move other joins into a subquery",
        ));
    }
    let mut factors: Vec<TableFactor> =
        select.from[0].joins.drain(..).map(|j| j.relation).collect();
    factors.extend(select.from.drain(1..).map(|t| t.relation));

    let base = &select.from[0].relation;
    let (mut source, base_alias) = match base {
        TableFactor::Table {
            name,
            alias,
            args: None,
            ..
        } => {
            let alias = alias.as_ref().map_or_else(
                || name.0.last().map(|p| p.to_string()).unwrap_or_default(),
                |a| a.name.to_string(),
            );
            (name.to_string(), alias)
        }
        TableFactor::Derived {
            subquery,
            alias: Some(alias),
            ..
        } => (format!("({subquery})"), alias.name.to_string()),
        _ => {
            return Err(unsupported(
                "the table before UNNEST must be a table or an aliased subquery",
            ));
        }
    };
    for factor in factors {
        let Some((alias, items)) = unnest_items(factor)? else {
            unreachable!("only UNNEST factors were collected")
        };
        source = format!(
            "(SELECT {base_alias}.*, {} FROM {source} AS {base_alias})",
            items.join(", ")
        );
        renames.push((alias.value.to_lowercase(), base_alias.clone()));
    }
    select.from[0] = TableWithJoins {
        relation: parse_table_factor(&format!("{source} AS {base_alias}"))?,
        joins: Vec::new(),
    };
    Ok(())
}

/// `FROM UNNEST(a, b) AS t(x, y)` with no table before it: a derived table of the arrays'
/// elements, side by side (the shorter padded with NULLs, as Trino does).
fn standalone_unnest(factor: &mut TableFactor) -> Result<()> {
    if !matches!(factor, TableFactor::UNNEST { .. }) {
        return Ok(());
    }
    if let Some((alias, items)) = unnest_items(factor.clone())? {
        *factor = parse_table_factor(&format!("(SELECT {}) AS {alias}", items.join(", ")))?;
    }
    Ok(())
}

/// An UNNEST factor's alias and its projection items, `unnest(x) AS c` per array; `None`
/// for another factor. Refuses what the rewrites cannot express.
fn unnest_items(factor: TableFactor) -> Result<Option<(Ident, Vec<String>)>> {
    let TableFactor::UNNEST {
        alias,
        array_exprs,
        with_offset,
        with_ordinality,
        ..
    } = factor
    else {
        return Ok(None);
    };
    let unsupported = |why: &str| Error::Unsupported {
        what: format!("UNNEST here: {why}"),
    };
    if with_offset || with_ordinality {
        return Err(unsupported(
            "WITH ORDINALITY / WITH OFFSET are not supported yet",
        ));
    }
    let alias = alias.ok_or_else(|| unsupported("name the columns: UNNEST(x) AS t(c)"))?;
    let columns: Vec<String> = if alias.columns.is_empty() && array_exprs.len() == 1 {
        vec![alias.name.to_string()]
    } else {
        alias.columns.iter().map(|c| c.name.to_string()).collect()
    };
    if columns.len() != array_exprs.len() {
        return Err(unsupported(&format!(
            "{} arrays need {} column names in AS t(..); to read fields of an array of rows, name one column and use c.field",
            array_exprs.len(),
            array_exprs.len()
        )));
    }
    let items = array_exprs
        .iter()
        .zip(&columns)
        .map(|(e, c)| format!("unnest({e}) AS {c}"))
        .collect();
    Ok(Some((alias.name, items)))
}

/// DuckDB's parser reads `UNNEST(x)` in `FROM` as a table function; make it the UNNEST factor.
fn as_unnest(factor: &mut TableFactor) {
    let TableFactor::Table {
        name,
        alias,
        args: Some(args),
        ..
    } = factor
    else {
        return;
    };
    if function_name(name).as_deref() != Some("unnest") {
        return;
    }
    let exprs: Option<Vec<Expr>> = args
        .args
        .iter()
        .map(|a| match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e.clone()),
            _ => None,
        })
        .collect();
    if let Some(array_exprs) = exprs {
        *factor = TableFactor::UNNEST {
            alias: alias.take(),
            array_exprs,
            with_offset: false,
            with_offset_alias: None,
            with_ordinality: false,
        };
    }
}

/// Renames the qualifier of `u.c` references after an UNNEST rewrite.
fn rename_qualifiers(query: &mut Query, renames: &[(String, String)]) {
    let _ = visit_expressions_mut(query, |e| {
        if let Expr::CompoundIdentifier(parts) = e
            && parts.len() >= 2
            && let Some((_, to)) = renames
                .iter()
                .find(|(from, _)| parts[0].value.eq_ignore_ascii_case(from))
        {
            parts[0] = Ident::new(to.clone());
        }
        ControlFlow::<()>::Continue(())
    });
}

/// Trino's names for unnamed result columns: a column keeps its name, a field access
/// (`useridentity.arn`) is named by the field, anything else is `_col<position>`.
fn name_columns(query: &mut Query) {
    if let Some(with) = &mut query.with {
        for cte in &mut with.cte_tables {
            name_columns(&mut cte.query);
        }
    }
    let mut body = query.body.as_mut();
    loop {
        match body {
            SetExpr::SetOperation { left, .. } => body = left.as_mut(),
            SetExpr::Query(q) => body = q.body.as_mut(),
            _ => break,
        }
    }
    let SetExpr::Select(select) = body else {
        return;
    };
    // Inner queries get Trino's names too, so `SELECT _col0 FROM (SELECT count(*) ...)` works.
    for twj in &mut select.from {
        for factor in
            std::iter::once(&mut twj.relation).chain(twj.joins.iter_mut().map(|j| &mut j.relation))
        {
            if let TableFactor::Derived { subquery, .. } = factor {
                name_columns(subquery);
            }
        }
    }
    let field_name = |e: &Expr| match e {
        Expr::CompoundIdentifier(parts) => parts.last().map(|p| p.value.to_lowercase()),
        _ => None,
    };
    // Names already taken, so a field access is named by its field only when unambiguous.
    let mut taken: HashSet<String> = HashSet::new();
    let mut field_counts: std::collections::HashMap<String, usize> = Default::default();
    for item in &select.projection {
        match item {
            SelectItem::ExprWithAlias { alias, .. } => {
                taken.insert(alias.value.to_lowercase());
            }
            SelectItem::UnnamedExpr(Expr::Identifier(i)) => {
                taken.insert(i.value.to_lowercase());
            }
            SelectItem::UnnamedExpr(e) => {
                if let Some(f) = field_name(e) {
                    *field_counts.entry(f).or_default() += 1;
                }
            }
            _ => {}
        }
    }
    for (i, item) in select.projection.iter_mut().enumerate() {
        let SelectItem::UnnamedExpr(expr) = item else {
            continue;
        };
        let alias = match &*expr {
            Expr::Identifier(_) => continue,
            e => match field_name(e) {
                Some(f) if field_counts[&f] == 1 && !taken.contains(&f) => f,
                Some(_) => continue,
                None => format!("_col{i}"),
            },
        };
        *item = SelectItem::ExprWithAlias {
            expr: expr.clone(),
            alias: Ident::new(alias),
        };
    }
}

fn function_name(name: &ObjectName) -> Option<String> {
    match name.0.as_slice() {
        [ObjectNamePart::Identifier(i)] => Some(i.value.to_lowercase()),
        _ => None,
    }
}

fn set_function_name(name: &mut ObjectName, to: &str) {
    name.0 = vec![ObjectNamePart::Identifier(Ident::new(to))];
}

/// The plain positional arguments of a call, or `None` for other shapes.
fn plain_args(args: &FunctionArguments) -> Option<Vec<&Expr>> {
    match args {
        FunctionArguments::List(list)
            if list.duplicate_treatment.is_none() && list.clauses.is_empty() =>
        {
            list.args
                .iter()
                .map(|a| match a {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
                    _ => None,
                })
                .collect()
        }
        _ => None,
    }
}

fn rewrite_functions(statement: &mut Statement) -> Result<()> {
    let flow = visit_expressions_mut(statement, |expr| match rewrite_call(expr) {
        Ok(()) => ControlFlow::Continue(()),
        Err(e) => ControlFlow::Break(e),
    });
    match flow {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(()),
    }
}

/// Trino reads a field of any row value: `element_at(resources, 1).arn`, `resources[1].arn`,
/// `(useridentity).sessioncontext.sessionissuer.arn`. DataFusion's planner takes a field name
/// after a non-column only as a string (`.'arn'`): names become lower-case strings (ctlake's
/// fields are lower case, and Trino's field names are case-insensitive).
fn named_field_access(expr: &mut Expr) {
    use datafusion::sql::sqlparser::ast::{AccessExpr, Value};
    let Expr::CompoundFieldAccess { access_chain, .. } = expr else {
        return;
    };
    let name = |i: &Ident| {
        AccessExpr::Dot(Expr::value(Value::SingleQuotedString(
            i.value.to_lowercase(),
        )))
    };
    let mut chain = Vec::with_capacity(access_chain.len());
    for access in access_chain.drain(..) {
        match access {
            AccessExpr::Dot(Expr::Identifier(i)) => chain.push(name(&i)),
            AccessExpr::Dot(Expr::CompoundIdentifier(parts)) => {
                chain.extend(parts.iter().map(name));
            }
            other => chain.push(other),
        }
    }
    *access_chain = chain;
}

/// Whether `e` names a text column of the table (`sessioncredentialfromconsole`,
/// `c.useridentity.type`), looked up in the schema.
fn is_text_column(e: &Expr) -> bool {
    use arrow::datatypes::DataType;
    let parts: Vec<String> = match e {
        Expr::Identifier(i) => vec![i.value.to_lowercase()],
        Expr::CompoundIdentifier(p) => p.iter().map(|i| i.value.to_lowercase()).collect(),
        _ => return false,
    };
    let schema = ctlake_schema::table_schema();
    let resolve = |path: &[String]| {
        let mut fields = schema.fields().clone();
        let mut found = None;
        for name in path {
            let f = fields.iter().find(|f| f.name() == name)?.clone();
            if let DataType::Struct(children) = f.data_type() {
                fields = children.clone();
            }
            found = Some(f);
        }
        found.map(|f| matches!(f.data_type(), DataType::Utf8 | DataType::Utf8View))
    };
    // A qualified name may start with the table or an alias.
    resolve(&parts)
        .or_else(|| parts.get(1..).and_then(resolve))
        .unwrap_or(false)
}

/// CloudTrail Lake compares a text column with a boolean literal as text
/// (`sessioncredentialfromconsole = true`, a column holding `"true"`); DataFusion finds no
/// common type. The literal becomes `'true'`/`'false'` where the other side is a text column,
/// in `=`, `<>` and `IN`, in either order.
fn compare_booleans_as_text(expr: &mut Expr) {
    use datafusion::sql::sqlparser::ast::{BinaryOperator, Value};
    let as_text = |e: &mut Expr| {
        if let Expr::Value(v) = e
            && let Value::Boolean(b) = v.value
        {
            *e = Expr::value(Value::SingleQuotedString(b.to_string()));
        }
    };
    match expr {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Eq | BinaryOperator::NotEq,
            right,
        } => {
            if is_text_column(left) {
                as_text(right);
            } else if is_text_column(right) {
                as_text(left);
            }
        }
        Expr::InList {
            expr: subject,
            list,
            ..
        } if is_text_column(subject) => list.iter_mut().for_each(as_text),
        _ => {}
    }
}

/// `t AT TIME ZONE z`: Trino reads a timestamp without a zone (`eventtime`, a `TIMESTAMP '...'`
/// literal) as UTC, CloudTrail Lake's session zone, and shows that instant in `z`; DataFusion
/// would read its wall clock as already in `z`. Pinning the operand to UTC first gives Trino's
/// answer, and changes nothing for a timestamp that has a zone.
fn at_time_zone_from_utc(expr: &mut Expr) {
    use datafusion::sql::sqlparser::ast::{BinaryOperator, Value};
    let utc = Expr::value(Value::SingleQuotedString("UTC".into()));
    let zoned = |e: &Expr| {
        let mut e = e;
        while let Expr::Nested(inner) = e {
            e = inner;
        }
        matches!(e, Expr::AtTimeZone { .. })
    };
    let pin = |e: &mut Expr| {
        let operand = std::mem::replace(e, Expr::value(Value::Null));
        *e = Expr::Nested(Box::new(Expr::AtTimeZone {
            timestamp: Box::new(operand),
            time_zone: Box::new(utc.clone()),
        }));
    };
    // Compared with a timestamp in a zone, a timestamp without one is a UTC instant too
    // (DataFusion would read its wall clock in the other operand's zone).
    match expr {
        Expr::BinaryOp {
            left,
            op:
                BinaryOperator::Eq
                | BinaryOperator::NotEq
                | BinaryOperator::Lt
                | BinaryOperator::LtEq
                | BinaryOperator::Gt
                | BinaryOperator::GtEq,
            right,
        } => {
            match (zoned(left), zoned(right)) {
                (true, false) => pin(right),
                (false, true) => pin(left),
                _ => {}
            }
            return;
        }
        Expr::Between {
            expr: subject,
            low,
            high,
            ..
        } if zoned(subject) => {
            for bound in [low, high] {
                if !zoned(bound) {
                    pin(bound);
                }
            }
            return;
        }
        _ => {}
    }
    let Expr::AtTimeZone { timestamp, .. } = expr else {
        return;
    };
    let pinned = matches!(timestamp.as_ref(), Expr::AtTimeZone { time_zone, .. } if **time_zone == utc)
        || matches!(timestamp.as_ref(), Expr::Nested(inner)
            if matches!(inner.as_ref(), Expr::AtTimeZone { time_zone, .. } if **time_zone == utc));
    if !pinned {
        pin(timestamp);
    }
}

/// Rewrites one call of a Trino function that DataFusion has under another shape.
fn rewrite_call(expr: &mut Expr) -> Result<()> {
    // Trino folds quoted names to lower case too, and every ctlake column is lower case:
    // `"eventName"` is `eventname`.
    match expr {
        Expr::Identifier(i) if i.quote_style.is_some() => i.value = i.value.to_lowercase(),
        Expr::CompoundIdentifier(parts) => {
            for i in parts.iter_mut().filter(|i| i.quote_style.is_some()) {
                i.value = i.value.to_lowercase();
            }
        }
        _ => {}
    }
    compare_booleans_as_text(expr);
    named_field_access(expr);
    at_time_zone_from_utc(expr);
    if let Expr::Lambda(lambda) = expr {
        return rewrite_lambda_fields(lambda);
    }
    let Expr::Function(f) = expr else {
        return Ok(());
    };
    let Some(name) = function_name(&f.name) else {
        return Ok(());
    };
    let args = plain_args(&f.args);
    let arg = |i: usize| args.as_ref().and_then(|a| a.get(i)).map(|e| e.to_string());
    let n = args.as_ref().map_or(0, Vec::len);
    let is_lambda =
        |i: usize| matches!(args.as_ref().and_then(|a| a.get(i)), Some(Expr::Lambda(_)));
    let replacement = match (name.as_str(), n) {
        ("if", 2) => Some(format!(
            "CASE WHEN {} THEN {} END",
            arg(0).unwrap_or_default(),
            arg(1).unwrap_or_default()
        )),
        ("if", 3) => Some(format!(
            "CASE WHEN {} THEN {} ELSE {} END",
            arg(0).unwrap_or_default(),
            arg(1).unwrap_or_default(),
            arg(2).unwrap_or_default()
        )),
        ("count_if", 1) => Some(format!(
            "count(CASE WHEN {} THEN 1 END)",
            arg(0).unwrap_or_default()
        )),
        ("max_by" | "min_by", 2) => {
            let (x, y) = (arg(0).unwrap_or_default(), arg(1).unwrap_or_default());
            let order = if name == "max_by" { "DESC" } else { "ASC" };
            Some(format!(
                "first_value(CASE WHEN {y} IS NOT NULL THEN {x} END ORDER BY {y} {order} NULLS LAST)"
            ))
        }
        ("arbitrary" | "any_value", 1) => {
            set_function_name(&mut f.name, "first_value");
            None
        }
        ("transform", 2) if is_lambda(1) => {
            set_function_name(&mut f.name, "array_transform");
            None
        }
        ("filter", 2) if is_lambda(1) => {
            set_function_name(&mut f.name, "array_filter");
            None
        }
        ("array_sort", 2) if is_lambda(1) => {
            set_function_name(&mut f.name, crate::functions::lambda::ARRAY_SORT_BY);
            None
        }
        // Trino's is 0 (not NULL) for an element that is not there.
        ("array_position", 2) => {
            let (a, e) = (arg(0).unwrap_or_default(), arg(1).unwrap_or_default());
            Some(format!(
                "CASE WHEN ({a}) IS NULL OR ({e}) IS NULL THEN NULL \
                 ELSE coalesce(array_position({a}, {e}), 0) END"
            ))
        }
        ("array_position", 3) => {
            return Err(Error::Unsupported {
                what: "array_position with an instance argument".into(),
            });
        }
        ("zip", _) => {
            set_function_name(&mut f.name, "arrays_zip");
            None
        }
        ("none_match", 2) if is_lambda(1) => Some(format!(
            "NOT array_any_match({}, {})",
            arg(0).unwrap_or_default(),
            arg(1).unwrap_or_default()
        )),
        ("all_match", 2) if is_lambda(1) => {
            let Some(Expr::Lambda(l)) = args.as_ref().and_then(|a| a.get(1)).copied() else {
                unreachable!("checked by is_lambda")
            };
            Some(format!(
                "NOT array_any_match({}, {} -> NOT ({}))",
                arg(0).unwrap_or_default(),
                l.params,
                l.body
            ))
        }
        ("date", 1) => Some(format!("CAST({} AS DATE)", arg(0).unwrap_or_default())),
        // The instant seen in another zone; `with_timezone` reads the wall clock as in it.
        ("at_timezone", 2) => Some(format!(
            "({} AT TIME ZONE 'UTC') AT TIME ZONE {}",
            arg(0).unwrap_or_default(),
            arg(1).unwrap_or_default()
        )),
        ("with_timezone", 2) => Some(format!(
            "{} AT TIME ZONE {}",
            arg(0).unwrap_or_default(),
            arg(1).unwrap_or_default()
        )),
        ("replace", 2) => Some(format!(
            "replace({}, {}, '')",
            arg(0).unwrap_or_default(),
            arg(1).unwrap_or_default()
        )),
        ("split", 2) => {
            set_function_name(&mut f.name, "string_to_array");
            None
        }
        ("try", 1) => {
            let inner = args.as_ref().and_then(|a| a.first()).map(|e| (*e).clone());
            let Some(mut inner) = inner else {
                return Ok(());
            };
            match &mut inner {
                Expr::Cast { kind, .. } => *kind = CastKind::TryCast,
                Expr::Function(g) => {
                    if let Some(gname) = function_name(&g.name)
                        && FALLIBLE.contains(&gname.as_str())
                    {
                        set_function_name(&mut g.name, &lenient_name(&gname));
                    }
                }
                _ => {}
            }
            *expr = inner;
            return Ok(());
        }
        _ => None,
    };
    if let Some(sql) = replacement {
        let mut new = parse_expr(&sql)?;
        if let (Expr::Function(old), Expr::Function(g)) = (&mut *expr, &mut new) {
            g.over = old.over.take();
            g.filter = old.filter.take();
        } else if let Expr::Function(old) = &*expr
            && (old.over.is_some() || old.filter.is_some())
        {
            return Err(Error::Unsupported {
                what: format!("{name}(..) with OVER or FILTER"),
            });
        }
        *expr = new;
    }
    Ok(())
}

/// Inside a lambda, `r.arn` (Trino's field access on the lambda's row parameter) becomes
/// `r['arn']`, since DataFusion reads `r.arn` as column `arn` of a table `r`.
fn rewrite_lambda_fields(
    lambda: &mut datafusion::sql::sqlparser::ast::LambdaFunction,
) -> Result<()> {
    let params: Vec<String> = lambda
        .params
        .iter()
        .map(|p| p.name.value.to_lowercase())
        .collect();
    let mut failed = None;
    let _ = visit_expressions_mut(lambda.body.as_mut(), |e| {
        if let Expr::CompoundIdentifier(parts) = e
            && parts.len() >= 2
            && params.contains(&parts[0].value.to_lowercase())
        {
            let fields: String = parts[1..]
                .iter()
                .map(|f| format!("['{}']", f.value.to_lowercase().replace('\'', "''")))
                .collect();
            match parse_expr(&format!("{}{fields}", parts[0])) {
                Ok(new) => *e = new,
                Err(err) => failed = Some(err),
            }
        }
        ControlFlow::<()>::Continue(())
    });
    failed.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "8c3a62f7-1bb5-4c93-9f0e-6a2f7a1d5e10";

    fn one(sql: &str) -> String {
        let t = translate(sql, ID).unwrap();
        t.statements[0].to_string()
    }

    #[test]
    fn store_names_become_the_table() {
        assert_eq!(
            one(&format!("SELECT 1 FROM {ID}")),
            "SELECT 1 AS _col0 FROM cloudtrail"
        );
        assert_eq!(
            one(&format!("select 1 from \"{ID}\" a")),
            "SELECT 1 AS _col0 FROM cloudtrail a"
        );
        assert_eq!(
            one(&format!("select 1 from `{ID}`")),
            "SELECT 1 AS _col0 FROM cloudtrail"
        );
        assert_eq!(
            one("select eventname from $EDS_ID"),
            "SELECT eventname FROM cloudtrail"
        );
        // A string that looks like an ID stays a string.
        assert_eq!(
            one(&format!(
                "select eventname from cloudtrail where eventid = '{ID}'"
            )),
            format!("SELECT eventname FROM cloudtrail WHERE eventid = '{ID}'")
        );
        let other = "00000000-1111-2222-3333-444444444444";
        let t = translate(
            &format!("SELECT 1 FROM {other} UNION ALL SELECT 2 FROM {other}"),
            ID,
        )
        .unwrap();
        assert_eq!(t.notices.len(), 1, "{:?}", t.notices);
        assert!(t.notices[0].contains(other));
    }

    #[test]
    fn syntax_errors_point_at_what_the_user_wrote() {
        let sql = format!("SELECT eventname\nFROM {ID} WHERE eventname = = 'x'");
        let Err(Error::Syntax { line, column, .. }) = translate(&sql, ID) else {
            panic!("expected a syntax error")
        };
        // The second `=` is at line 2, column 61 of the original text (the ID is 36 characters).
        assert_eq!((line, column), (2, 61));
    }

    #[test]
    fn only_reads_run() {
        for (sql, what) in [
            ("INSERT INTO cloudtrail VALUES (1)", "INSERT"),
            ("DROP TABLE cloudtrail", "DROP TABLE"),
            ("CREATE TABLE x AS SELECT 1", "CREATE TABLE"),
            ("COPY (SELECT 1) TO '/tmp/x.csv'", "COPY"),
            (
                "CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '/etc/'",
                "CREATE EXTERNAL TABLE",
            ),
            ("SET datafusion.execution.batch_size = 1", "SET"),
            ("EXPLAIN DELETE FROM cloudtrail", "DELETE"),
        ] {
            match translate(sql, ID) {
                Err(Error::ReadOnly { statement }) => assert_eq!(statement, what, "{sql}"),
                other => panic!("{sql}: {other:?}"),
            }
        }
        for sql in [
            "SHOW TABLES",
            "DESCRIBE cloudtrail",
            "EXPLAIN SELECT 1",
            "WITH a AS (SELECT 1) SELECT * FROM a",
        ] {
            translate(sql, ID).unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    }

    #[test]
    fn trino_calls_are_rewritten() {
        assert_eq!(
            one("SELECT if(a, 1, 2) AS x FROM t"),
            "SELECT CASE WHEN a THEN 1 ELSE 2 END AS x FROM t"
        );
        assert_eq!(
            one("SELECT count_if(a > 1) AS x FROM t"),
            "SELECT count(CASE WHEN a > 1 THEN 1 END) AS x FROM t"
        );
        assert_eq!(
            one("SELECT max_by(a, b) AS x FROM t"),
            "SELECT first_value(CASE WHEN b IS NOT NULL THEN a END ORDER BY b DESC NULLS LAST) AS x FROM t"
        );
        assert_eq!(
            one("SELECT try(CAST(a AS BIGINT)) AS x FROM t"),
            "SELECT TRY_CAST(a AS BIGINT) AS x FROM t"
        );
        assert_eq!(
            one("SELECT try(json_parse(a)) AS x FROM t"),
            "SELECT try_json_parse(a) AS x FROM t"
        );
        assert_eq!(
            one("SELECT any_match(resources, r -> r.arn = 'x') AS y FROM t"),
            "SELECT any_match(resources, r -> r['arn'] = 'x') AS y FROM t"
        );
        assert_eq!(
            one("SELECT all_match(a, x -> x > 1) AS y FROM t"),
            "SELECT NOT array_any_match(a, x -> NOT (x > 1)) AS y FROM t"
        );
    }

    #[test]
    fn unnest_in_from_is_a_lateral_join() {
        assert_eq!(
            one(
                "SELECT c.eventname, t.r.arn AS arn FROM cloudtrail c, UNNEST(c.resources) AS t(r)"
            ),
            "SELECT c.eventname AS eventname, c.r.arn AS arn FROM (SELECT c.*, unnest(c.resources) AS r FROM cloudtrail AS c) AS c"
        );
        assert_eq!(
            one("SELECT r FROM cloudtrail CROSS JOIN UNNEST(resources) AS t (r)"),
            "SELECT r FROM (SELECT cloudtrail.*, unnest(resources) AS r FROM cloudtrail AS cloudtrail) AS cloudtrail"
        );
    }

    #[test]
    fn unnamed_columns_get_trino_names() {
        assert_eq!(
            one(
                "SELECT eventname, useridentity.arn, count(*), 1 AS one FROM cloudtrail GROUP BY 1, 2"
            ),
            "SELECT eventname, useridentity.arn AS arn, count(*) AS _col2, 1 AS one FROM cloudtrail GROUP BY 1, 2"
        );
    }
}
