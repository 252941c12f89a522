//! Maps and arrays with Trino's rules: one-based indexes, negative ones counting from the end,
//! and NULL (not an error, not a list) for a missing key or an index past the end.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, BooleanBuilder, Int64Array, ListArray, UInt32Array,
};
use arrow::buffer::OffsetBuffer;
use arrow::compute::kernels::cmp::eq;
use arrow::compute::take;
use arrow::datatypes::DataType;
use datafusion::common::cast::{as_list_array, as_map_array, as_string_array};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::ColumnarValue;

use super::{array, text};

pub(super) fn coerce_element_at(args: &[DataType]) -> Result<Vec<DataType>> {
    match &args[0] {
        DataType::Map(entries, _) => {
            let key = match entries.data_type() {
                DataType::Struct(fields) if fields.len() == 2 => fields[0].data_type().clone(),
                other => return plan_err!("element_at: unexpected map layout {other}"),
            };
            let key = if key == DataType::Utf8 {
                text(&args[1], "element_at")?
            } else {
                key
            };
            Ok(vec![args[0].clone(), key])
        }
        DataType::List(_) => Ok(vec![
            args[0].clone(),
            super::integer(&args[1], "element_at")?,
        ]),
        other => plan_err!("element_at: expected a map or an array, got {other}"),
    }
}

/// The type `element_at` returns for a container type.
pub(super) fn element_type(t: &DataType) -> Result<DataType> {
    match t {
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(fields) if fields.len() == 2 => Ok(fields[1].data_type().clone()),
            other => plan_err!("element_at: unexpected map layout {other}"),
        },
        DataType::List(f) => Ok(f.data_type().clone()),
        other => plan_err!("element_at: expected a map or an array, got {other}"),
    }
}

pub(super) fn coerce_contains(args: &[DataType]) -> Result<Vec<DataType>> {
    match &args[0] {
        DataType::List(f) => Ok(vec![args[0].clone(), f.data_type().clone()]),
        t => Ok(vec![text(t, "contains")?, text(&args[1], "contains")?]),
    }
}

/// For every child entry of a list or map, the row it belongs to, so a per-row argument can be
/// lined up with the entries and compared in one kernel call.
fn entry_rows(offsets: &[i32], children: usize) -> UInt32Array {
    let mut rows = vec![0u32; children];
    for (row, w) in offsets.windows(2).enumerate() {
        for slot in &mut rows[w[0] as usize..w[1] as usize] {
            *slot = row as u32;
        }
    }
    UInt32Array::from(rows)
}

/// Per row, whether the row's entries match its needle: true if one does, NULL if none does but
/// some comparison was NULL (Trino's three-valued `contains`), false otherwise.
fn matches_per_row(
    offsets: &[i32],
    children: &ArrayRef,
    needle: &ArrayRef,
) -> Result<BooleanArray> {
    let wanted = take(needle.as_ref(), &entry_rows(offsets, children.len()), None)?;
    Ok(eq(children, &wanted)?)
}

/// `element_at(map, 'key')` with a constant string key, the usual lookup
/// (`requestparameters['bucketName']`): each row's entries are compared with the key's bytes
/// in place, instead of lining a copy of the key up with every entry.
fn map_value_for_constant_key(map: &arrow::array::MapArray, key: &str) -> Option<ArrayRef> {
    let keys = map
        .keys()
        .as_any()
        .downcast_ref::<arrow::array::StringArray>()?;
    let offsets = map.value_offsets();
    let picks: UInt32Array = (0..map.len())
        .map(|row| {
            if map.is_null(row) {
                return None;
            }
            (offsets[row] as usize..offsets[row + 1] as usize)
                .find(|&i| keys.is_valid(i) && keys.value(i) == key)
                .map(|i| i as u32)
        })
        .collect();
    take(map.values().as_ref(), &picks, None).ok()
}

pub(super) fn element_at(args: &[ColumnarValue], rows: usize) -> Result<ColumnarValue> {
    let container = array(&args[0], rows)?;
    if let (
        DataType::Map(..),
        ColumnarValue::Scalar(
            datafusion::common::ScalarValue::Utf8(Some(key))
            | datafusion::common::ScalarValue::Utf8View(Some(key))
            | datafusion::common::ScalarValue::LargeUtf8(Some(key)),
        ),
    ) = (container.data_type(), &args[1])
        && let Some(values) = map_value_for_constant_key(as_map_array(&container)?, key)
    {
        return Ok(ColumnarValue::Array(values));
    }
    let key = array(&args[1], rows)?;
    let mut picks: Vec<Option<u32>> = Vec::with_capacity(rows);
    let values = match container.data_type() {
        DataType::Map(..) => {
            let map = as_map_array(&container)?;
            let offsets = map.value_offsets();
            let hits = matches_per_row(offsets, map.keys(), &key)?;
            for row in 0..rows {
                let pick = if map.is_null(row) || key.is_null(row) {
                    None
                } else {
                    (offsets[row]..offsets[row + 1])
                        .find(|&i| hits.is_valid(i as usize) && hits.value(i as usize))
                        .map(|i| i as u32)
                };
                picks.push(pick);
            }
            Arc::clone(map.values())
        }
        DataType::List(_) => {
            let list = as_list_array(&container)?;
            let offsets = list.value_offsets();
            let index = key.as_any().downcast_ref::<Int64Array>();
            let Some(index) = index else {
                return exec_err!("element_at: array index must be an integer");
            };
            for row in 0..rows {
                if list.is_null(row) || index.is_null(row) {
                    picks.push(None);
                    continue;
                }
                let (start, len) = (
                    offsets[row] as i64,
                    (offsets[row + 1] - offsets[row]) as i64,
                );
                let i = index.value(row);
                let pick = match i {
                    0 => return exec_err!("element_at: SQL array indices start at 1"),
                    i if i > 0 && i <= len => Some(start + i - 1),
                    i if i < 0 && -i <= len => Some(start + len + i),
                    _ => None,
                };
                picks.push(pick.map(|p| p as u32));
            }
            Arc::clone(list.values())
        }
        other => return exec_err!("element_at: expected a map or an array, got {other}"),
    };
    Ok(ColumnarValue::Array(take(
        values.as_ref(),
        &UInt32Array::from(picks),
        None,
    )?))
}

pub(super) fn contains(args: &[ColumnarValue], rows: usize) -> Result<ColumnarValue> {
    let haystack = array(&args[0], rows)?;
    let needle = array(&args[1], rows)?;
    let mut out = BooleanBuilder::with_capacity(rows);
    if let DataType::List(_) = haystack.data_type() {
        let list = as_list_array(&haystack)?;
        let offsets = list.value_offsets();
        let hits = matches_per_row(offsets, list.values(), &needle)?;
        for row in 0..rows {
            if list.is_null(row) || needle.is_null(row) {
                out.append_null();
                continue;
            }
            let range = offsets[row] as usize..offsets[row + 1] as usize;
            if range.clone().any(|i| hits.is_valid(i) && hits.value(i)) {
                out.append_value(true);
            } else if range.clone().any(|i| hits.is_null(i)) {
                out.append_null();
            } else {
                out.append_value(false);
            }
        }
    } else {
        // DataFusion's `contains(string, substring)`, kept for queries written for it.
        let (s, sub) = (as_string_array(&haystack)?, as_string_array(&needle)?);
        for row in 0..rows {
            if s.is_null(row) || sub.is_null(row) {
                out.append_null();
            } else {
                out.append_value(s.value(row).contains(sub.value(row)));
            }
        }
    }
    Ok(ColumnarValue::Array(Arc::new(out.finish())))
}

pub(super) fn slice(args: &[ColumnarValue], rows: usize) -> Result<ColumnarValue> {
    let container = array(&args[0], rows)?;
    if container.data_type().is_null() {
        return Ok(ColumnarValue::Array(container));
    }
    let list = as_list_array(&container)?;
    let start = array(&args[1], rows)?;
    let length = array(&args[2], rows)?;
    let (Some(start), Some(length)) = (
        start.as_any().downcast_ref::<Int64Array>(),
        length.as_any().downcast_ref::<Int64Array>(),
    ) else {
        return exec_err!("slice: start and length must be integers");
    };
    let offsets = list.value_offsets();
    let mut picks: Vec<u32> = Vec::new();
    let mut new_offsets = Vec::with_capacity(rows + 1);
    new_offsets.push(0i32);
    let mut nulls = Vec::with_capacity(rows);
    for row in 0..rows {
        let valid = list.is_valid(row) && start.is_valid(row) && length.is_valid(row);
        nulls.push(valid);
        if valid {
            let (base, len) = (
                offsets[row] as i64,
                (offsets[row + 1] - offsets[row]) as i64,
            );
            let (s, l) = (start.value(row), length.value(row));
            if s == 0 {
                return exec_err!("slice: SQL array indices start at 1");
            }
            if l < 0 {
                return exec_err!("slice: length must be 0 or more, got {l}");
            }
            let from = if s > 0 { s - 1 } else { len + s };
            if from >= 0 && from < len {
                let to = (from + l).min(len);
                picks.extend((base + from..base + to).map(|i| i as u32));
            }
        }
        new_offsets.push(picks.len() as i32);
    }
    let values = take(list.values().as_ref(), &UInt32Array::from(picks), None)?;
    let DataType::List(field) = list.data_type() else {
        unreachable!("checked above")
    };
    let out = ListArray::try_new(
        Arc::clone(field),
        OffsetBuffer::new(new_offsets.into()),
        values,
        Some(nulls.into()),
    )?;
    Ok(ColumnarValue::Array(Arc::new(out)))
}
