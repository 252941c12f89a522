//! Trino's JSON functions over JSON text (`eventjson`, map values holding nested objects).
//!
//! Paths are JSONPath (`$.a.b`, `$.a[0]`, `$["x-y"]`), compiled once per query when constant.
//! As in Trino, a path that matches nothing, or JSON that does not parse, gives NULL rather
//! than failing the query; only `json_parse` fails on bad JSON (and `try(json_parse(..))` not).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray};
use datafusion::common::cast::as_string_array;
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::ColumnarValue;
use serde_json::Value;
use serde_json_path::JsonPath;

use super::{array, bad_value, constant_str};

fn strings(arg: &ColumnarValue, rows: usize) -> Result<ArrayRef> {
    array(arg, rows)
}

/// Applies `f` to each non-null string, building a column of `A` (NULL stays NULL).
fn map_rows<T, A>(
    input: &StringArray,
    mut f: impl FnMut(usize, &str) -> Result<Option<T>>,
) -> Result<ColumnarValue>
where
    A: FromIterator<Option<T>> + Array + 'static,
{
    let out: A = (0..input.len())
        .map(|row| {
            if input.is_null(row) {
                Ok(None)
            } else {
                f(row, input.value(row))
            }
        })
        .collect::<Result<A>>()?;
    Ok(ColumnarValue::Array(Arc::new(out)))
}

fn map_text(
    input: &StringArray,
    f: impl FnMut(usize, &str) -> Result<Option<String>>,
) -> Result<ColumnarValue> {
    map_rows::<_, StringArray>(input, f)
}

fn map_int(
    input: &StringArray,
    f: impl FnMut(usize, &str) -> Result<Option<i64>>,
) -> Result<ColumnarValue> {
    map_rows::<_, Int64Array>(input, f)
}

fn map_bool(
    input: &StringArray,
    f: impl FnMut(usize, &str) -> Result<Option<bool>>,
) -> Result<ColumnarValue> {
    map_rows::<_, BooleanArray>(input, f)
}

/// Compact JSON text, as Trino prints a JSON value.
fn to_text(v: &Value) -> String {
    v.to_string()
}

/// `json_parse`: validates and normalises JSON text.
pub(super) fn parse(args: &[ColumnarValue], rows: usize, lenient: bool) -> Result<ColumnarValue> {
    let input = strings(&args[0], rows)?;
    map_text(
        as_string_array(&input)?,
        |_, s| match serde_json::from_str::<Value>(s) {
            Ok(v) => Ok(Some(to_text(&v))),
            Err(_) if lenient => Ok(None),
            Err(e) => bad_value("json_parse", s, e),
        },
    )
}

/// `json_format`: JSON text back to text (normalised).
pub(super) fn format(args: &[ColumnarValue], rows: usize) -> Result<ColumnarValue> {
    let input = strings(&args[0], rows)?;
    map_text(as_string_array(&input)?, |_, s| {
        Ok(parse_value(s).map(|v| to_text(&v)))
    })
}

fn parse_value(s: &str) -> Option<Value> {
    serde_json::from_str(s).ok()
}

pub(super) fn is_scalar(args: &[ColumnarValue], rows: usize) -> Result<ColumnarValue> {
    let input = strings(&args[0], rows)?;
    map_bool(as_string_array(&input)?, |_, s| {
        Ok(parse_value(s).map(|v| !matches!(v, Value::Array(_) | Value::Object(_))))
    })
}

/// Compiled paths: one for a constant path, or one per row.
enum Paths {
    Constant(Option<JsonPath>),
    PerRow(ArrayRef),
}

impl Paths {
    fn new(arg: &ColumnarValue, rows: usize) -> Result<Self> {
        if let Some(path) = constant_str(arg) {
            return Ok(Self::Constant(match path {
                Some(p) => Some(compile(p)?),
                None => None,
            }));
        }
        Ok(Self::PerRow(array(arg, rows)?))
    }

    fn get(&self, row: usize) -> Result<Option<JsonPath>> {
        match self {
            Self::Constant(p) => Ok(p.clone()),
            Self::PerRow(a) => {
                let a = as_string_array(a)?;
                if a.is_null(row) {
                    Ok(None)
                } else {
                    compile(a.value(row)).map(Some)
                }
            }
        }
    }
}

fn compile(path: &str) -> Result<JsonPath> {
    match JsonPath::parse(path) {
        Ok(p) => Ok(p),
        Err(e) => exec_err!("invalid JSON path {path:?}: {e}"),
    }
}

/// The value a path selects: the one node, an array of several (wildcards), or none.
fn select(value: &Value, path: &JsonPath) -> Option<Value> {
    let nodes = path.query(value).all();
    match nodes.len() {
        0 => None,
        1 => Some(nodes[0].clone()),
        _ => Some(Value::Array(nodes.into_iter().cloned().collect())),
    }
}

pub(super) fn extract(args: &[ColumnarValue], rows: usize, scalar: bool) -> Result<ColumnarValue> {
    let input = strings(&args[0], rows)?;
    let paths = Paths::new(&args[1], rows)?;
    map_text(as_string_array(&input)?, |row, s| {
        let Some(path) = paths.get(row)? else {
            return Ok(None);
        };
        let Some(found) = parse_value(s).and_then(|v| select(&v, &path)) else {
            return Ok(None);
        };
        Ok(if scalar {
            match found {
                Value::String(s) => Some(s),
                Value::Number(n) => Some(n.to_string()),
                Value::Bool(b) => Some(b.to_string()),
                Value::Null | Value::Array(_) | Value::Object(_) => None,
            }
        } else {
            Some(to_text(&found))
        })
    })
}

pub(super) fn size(args: &[ColumnarValue], rows: usize) -> Result<ColumnarValue> {
    let input = strings(&args[0], rows)?;
    let paths = Paths::new(&args[1], rows)?;
    map_int(as_string_array(&input)?, |row, s| {
        let Some(path) = paths.get(row)? else {
            return Ok(None);
        };
        Ok(parse_value(s)
            .and_then(|v| select(&v, &path))
            .map(|found| match found {
                Value::Array(a) => a.len() as i64,
                Value::Object(o) => o.len() as i64,
                _ => 0,
            }))
    })
}

pub(super) fn array_length(args: &[ColumnarValue], rows: usize) -> Result<ColumnarValue> {
    let input = strings(&args[0], rows)?;
    map_int(as_string_array(&input)?, |_, s| {
        Ok(match parse_value(s) {
            Some(Value::Array(a)) => Some(a.len() as i64),
            _ => None,
        })
    })
}

pub(super) fn array_get(args: &[ColumnarValue], rows: usize) -> Result<ColumnarValue> {
    let input = strings(&args[0], rows)?;
    let index = array(&args[1], rows)?;
    let Some(index) = index.as_any().downcast_ref::<Int64Array>() else {
        return exec_err!("json_array_get: the index must be an integer");
    };
    map_text(as_string_array(&input)?, |row, s| {
        if index.is_null(row) {
            return Ok(None);
        }
        let Some(Value::Array(a)) = parse_value(s) else {
            return Ok(None);
        };
        // Zero-based; negative counts from the end (-1 is the last element).
        let i = index.value(row);
        let at = if i >= 0 { i } else { a.len() as i64 + i };
        Ok(usize::try_from(at)
            .ok()
            .and_then(|at| a.get(at))
            .map(to_text))
    })
}

pub(super) fn array_contains(args: &[ColumnarValue], rows: usize) -> Result<ColumnarValue> {
    let input = strings(&args[0], rows)?;
    let needle = array(&args[1], rows)?;
    let want = |row: usize| -> Option<Value> {
        if needle.is_null(row) {
            return None;
        }
        let any = needle.as_any();
        if let Some(b) = any.downcast_ref::<BooleanArray>() {
            Some(Value::Bool(b.value(row)))
        } else if let Some(f) = any.downcast_ref::<Float64Array>() {
            serde_json::Number::from_f64(f.value(row)).map(Value::Number)
        } else {
            any.downcast_ref::<StringArray>()
                .map(|s| Value::String(s.value(row).to_string()))
        }
    };
    map_bool(as_string_array(&input)?, |row, s| {
        let Some(want) = want(row) else {
            return Ok(None);
        };
        let Some(Value::Array(items)) = parse_value(s) else {
            return Ok(None);
        };
        Ok(Some(items.iter().any(|item| match (item, &want) {
            (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
            (a, b) => a == b,
        })))
    })
}
