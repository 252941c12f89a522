//! Regular expressions with Trino's rules (every match replaced, `$1` group references, NULL when
//! nothing matches), `typeof` with Trino's type names, and `codepoint`.

use std::sync::Arc;

use arrow::array::{Array, Int64Array, Int64Builder, ListBuilder, StringBuilder};
use arrow::datatypes::DataType;
use datafusion::common::cast::as_string_array;
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::ColumnarValue;
use regex::Regex;

use super::{array, constant_str};

/// Trino's name for a type (the table contract's spelling, shared with `ctlake ddl`).
pub(crate) fn trino_type(t: &DataType) -> String {
    ctlake_schema::ddl::trino_type(t)
}

pub(super) fn type_of(t: &DataType) -> ColumnarValue {
    ColumnarValue::Scalar(ScalarValue::Utf8(Some(trino_type(t))))
}

/// Compiled patterns: one for a constant pattern, or one per row.
enum Patterns {
    Constant(Option<Regex>),
    PerRow(arrow::array::ArrayRef),
}

impl Patterns {
    fn new(arg: &ColumnarValue, rows: usize, function: &str) -> Result<Self> {
        if let Some(p) = constant_str(arg) {
            return Ok(Self::Constant(p.map(|p| compile(function, p)).transpose()?));
        }
        Ok(Self::PerRow(array(arg, rows)?))
    }

    fn get(&self, row: usize, function: &str) -> Result<Option<Regex>> {
        match self {
            Self::Constant(r) => Ok(r.clone()),
            Self::PerRow(a) => {
                let a = as_string_array(a)?;
                if a.is_null(row) {
                    Ok(None)
                } else {
                    compile(function, a.value(row)).map(Some)
                }
            }
        }
    }
}

fn compile(function: &str, pattern: &str) -> Result<Regex> {
    match Regex::new(pattern) {
        Ok(r) => Ok(r),
        Err(e) => exec_err!("{function}: invalid pattern {pattern:?}: {e}"),
    }
}

fn groups(args: &[ColumnarValue], rows: usize) -> Result<Option<Int64Array>> {
    match args.get(2) {
        None => Ok(None),
        Some(g) => {
            let g = array(g, rows)?;
            match g.as_any().downcast_ref::<Int64Array>() {
                Some(g) => Ok(Some(g.clone())),
                None => exec_err!("regexp_extract: the group must be an integer"),
            }
        }
    }
}

fn group_of(
    groups: &Option<Int64Array>,
    row: usize,
    re: &Regex,
    function: &str,
) -> Result<Option<usize>> {
    let Some(g) = groups else { return Ok(Some(0)) };
    if g.is_null(row) {
        return Ok(None);
    }
    let n = g.value(row);
    if n < 0 || n as usize >= re.captures_len() {
        return exec_err!(
            "{function}: pattern has {} groups, cannot return group {n}",
            re.captures_len() - 1
        );
    }
    Ok(Some(n as usize))
}

pub(super) fn regexp_extract(args: &[ColumnarValue], rows: usize) -> Result<ColumnarValue> {
    const F: &str = "regexp_extract";
    let input = array(&args[0], rows)?;
    let input = as_string_array(&input)?;
    let patterns = Patterns::new(&args[1], rows, F)?;
    let groups = groups(args, rows)?;
    let mut out = StringBuilder::with_capacity(rows, rows * 8);
    for row in 0..rows {
        let Some(re) = patterns.get(row, F)? else {
            out.append_null();
            continue;
        };
        let Some(g) = group_of(&groups, row, &re, F)? else {
            out.append_null();
            continue;
        };
        if input.is_null(row) {
            out.append_null();
            continue;
        }
        let found = re
            .captures(input.value(row))
            .and_then(|c| c.get(g).map(|m| m.as_str()));
        out.append_option(found);
    }
    Ok(ColumnarValue::Array(Arc::new(out.finish())))
}

pub(super) fn regexp_extract_all(args: &[ColumnarValue], rows: usize) -> Result<ColumnarValue> {
    const F: &str = "regexp_extract_all";
    let input = array(&args[0], rows)?;
    let input = as_string_array(&input)?;
    let patterns = Patterns::new(&args[1], rows, F)?;
    let groups = groups(args, rows)?;
    let mut out = ListBuilder::new(StringBuilder::new());
    for row in 0..rows {
        let (Some(re), false) = (patterns.get(row, F)?, input.is_null(row)) else {
            out.append_null();
            continue;
        };
        let Some(g) = group_of(&groups, row, &re, F)? else {
            out.append_null();
            continue;
        };
        for c in re.captures_iter(input.value(row)) {
            out.values().append_option(c.get(g).map(|m| m.as_str()));
        }
        out.append(true);
    }
    Ok(ColumnarValue::Array(Arc::new(out.finish())))
}

pub(super) fn regexp_replace(args: &[ColumnarValue], rows: usize) -> Result<ColumnarValue> {
    const F: &str = "regexp_replace";
    let input = array(&args[0], rows)?;
    let input = as_string_array(&input)?;
    let patterns = Patterns::new(&args[1], rows, F)?;
    let replacement = match args.get(2) {
        Some(r) => Some(array(r, rows)?),
        None => None,
    };
    let replacement = replacement
        .as_ref()
        .map(|r| as_string_array(r))
        .transpose()?;
    let mut out = StringBuilder::with_capacity(rows, rows * 16);
    for row in 0..rows {
        let Some(re) = patterns.get(row, F)? else {
            out.append_null();
            continue;
        };
        let with = match replacement {
            Some(r) if r.is_null(row) => {
                out.append_null();
                continue;
            }
            Some(r) => r.value(row),
            None => "",
        };
        if input.is_null(row) {
            out.append_null();
        } else {
            out.append_value(re.replace_all(input.value(row), with));
        }
    }
    Ok(ColumnarValue::Array(Arc::new(out.finish())))
}

/// Trino's `codepoint(c)`: the Unicode code point of a one-character string, an error for
/// any other length.
pub(super) fn codepoint(args: &[ColumnarValue], rows: usize) -> Result<ColumnarValue> {
    let input = array(&args[0], rows)?;
    let input = as_string_array(&input)?;
    let mut out = Int64Builder::with_capacity(rows);
    for s in input.iter() {
        match s.map(|s| {
            let mut chars = s.chars();
            (chars.next(), chars.next())
        }) {
            None => out.append_null(),
            Some((Some(c), None)) => out.append_value(c as i64),
            Some(_) => {
                return exec_err!(
                    "codepoint: expected a string of one character, got {:?}",
                    s.unwrap_or_default()
                );
            }
        }
    }
    Ok(ColumnarValue::Array(Arc::new(out.finish())))
}
