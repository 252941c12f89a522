//! Trino's higher-order functions that DataFusion lacks: `reduce`, `map_filter` and
//! `array_sort` with a comparator lambda (DataFusion has `transform`, `filter` and
//! `any_match` under other names; [`crate::dialect`] renames those).
//!
//! Each lambda is evaluated once per batch over all the elements it applies to, never once per
//! element: `reduce` steps through the k-th elements of every row together, and a comparator
//! is evaluated once over every pair it may be asked about.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int64Array, ListArray, MapArray, UInt32Array,
    new_null_array,
};
use arrow::buffer::OffsetBuffer;
use arrow::compute::{cast, filter, interleave, take, take_arrays};
use arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::utils::list_values;
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, HigherOrderFunctionArgs, HigherOrderReturnFieldArgs, HigherOrderSignature,
    HigherOrderUDF, HigherOrderUDFImpl, LambdaArgument, LambdaParametersProgress, ValueOrLambda,
    Volatility,
};
use datafusion::prelude::SessionContext;

/// The name `array_sort(array, lambda)` is planned under: DataFusion looks up scalar functions
/// before higher-order ones, and its own `array_sort` takes no lambda.
pub(crate) const ARRAY_SORT_BY: &str = "array_sort_by_comparator";

/// The most comparator evaluations one batch of `array_sort(x, (a, b) -> ...)` may need
/// (every pair of elements of each array): 5,000,000 pairs is one array of about 3,000
/// elements, or 1,000 arrays of 100.
const MAX_PAIRS: usize = 5_000_000;

pub(super) fn register(ctx: &SessionContext) {
    for f in [Hof::Reduce, Hof::MapFilter, Hof::ArraySort] {
        ctx.register_higher_order_function(Arc::new(HigherOrderUDF::new_from_impl(
            HigherOrder::new(f),
        )));
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Hof {
    Reduce,
    MapFilter,
    ArraySort,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct HigherOrder {
    hof: Hof,
    signature: HigherOrderSignature,
}

impl HigherOrder {
    fn new(hof: Hof) -> Self {
        let (v, l) = (ValueOrLambda::Value(()), ValueOrLambda::Lambda(()));
        let args = match hof {
            Hof::Reduce => vec![v.clone(), v, l.clone(), l],
            Hof::MapFilter | Hof::ArraySort => vec![v, l],
        };
        Self {
            hof,
            signature: HigherOrderSignature::exact(args, Volatility::Immutable),
        }
    }
}

/// The element field of a list type.
fn element(t: &DataType, name: &str) -> Result<FieldRef> {
    match t {
        DataType::List(f) => Ok(Arc::clone(f)),
        DataType::Null => Ok(Arc::new(Field::new("item", DataType::Null, true))),
        other => plan_err!("{name}: expected an array, got {other}"),
    }
}

/// The key and value fields of a map type.
fn entry_fields(t: &DataType) -> Result<(FieldRef, FieldRef)> {
    if let DataType::Map(entries, _) = t
        && let DataType::Struct(fields) = entries.data_type()
        && fields.len() == 2
    {
        return Ok((Arc::clone(&fields[0]), Arc::clone(&fields[1])));
    }
    plan_err!("map_filter: expected a map, got {t}")
}

fn values<V, L>(args: &[ValueOrLambda<V, L>]) -> impl Iterator<Item = &V> {
    args.iter().filter_map(|a| match a {
        ValueOrLambda::Value(v) => Some(v),
        ValueOrLambda::Lambda(_) => None,
    })
}

fn lambdas<V, L>(args: &[ValueOrLambda<V, L>]) -> impl Iterator<Item = &L> {
    args.iter().filter_map(|a| match a {
        ValueOrLambda::Value(_) => None,
        ValueOrLambda::Lambda(l) => Some(l),
    })
}

impl HigherOrderUDFImpl for HigherOrder {
    fn name(&self) -> &str {
        match self.hof {
            Hof::Reduce => "reduce",
            Hof::MapFilter => "map_filter",
            Hof::ArraySort => ARRAY_SORT_BY,
        }
    }

    fn signature(&self) -> &HigherOrderSignature {
        &self.signature
    }

    fn lambda_parameters(
        &self,
        _step: usize,
        fields: &[ValueOrLambda<FieldRef, Option<FieldRef>>],
    ) -> Result<LambdaParametersProgress> {
        let vals: Vec<&FieldRef> = values(fields).collect();
        let name = self.name();
        match self.hof {
            Hof::MapFilter => {
                let (k, v) = entry_fields(vals[0].data_type())?;
                Ok(LambdaParametersProgress::Complete(vec![vec![k, v]]))
            }
            Hof::ArraySort => {
                let e = element(vals[0].data_type(), "array_sort")?;
                Ok(LambdaParametersProgress::Complete(vec![vec![
                    Arc::clone(&e),
                    e,
                ]]))
            }
            Hof::Reduce => {
                let e = element(vals[0].data_type(), name)?;
                // The state has the type the input function returns once it is known; the
                // initial value is cast to it (`reduce(xs, 0, (s, x) -> s + x * 1.5, ...)`).
                match lambdas(fields).next() {
                    Some(Some(out)) => {
                        let state = Arc::new(Field::new("s", out.data_type().clone(), true));
                        Ok(LambdaParametersProgress::Complete(vec![
                            vec![Arc::clone(&state), e],
                            vec![state],
                        ]))
                    }
                    _ => Ok(LambdaParametersProgress::Partial(vec![
                        Some(vec![Arc::clone(vals[1]), e]),
                        None,
                    ])),
                }
            }
        }
    }

    fn coerce_value_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        // Checked where the lambdas' parameters are worked out.
        Ok(arg_types.to_vec())
    }

    fn coerce_values_for_lambdas(
        &self,
        fields: &[ValueOrLambda<DataType, DataType>],
    ) -> Result<Option<Vec<DataType>>> {
        if self.hof != Hof::Reduce {
            return Ok(None);
        }
        let list = values(fields).next().cloned();
        let state = lambdas(fields).next().cloned();
        Ok(list.zip(state).map(|(l, s)| vec![l, s]))
    }

    fn return_field_from_args(&self, args: HigherOrderReturnFieldArgs) -> Result<FieldRef> {
        match self.hof {
            Hof::MapFilter | Hof::ArraySort => {
                let v = values(args.arg_fields)
                    .next()
                    .ok_or_else(|| datafusion::common::DataFusionError::Plan("no value".into()))?;
                Ok(Arc::new(Field::new("", v.data_type().clone(), true)))
            }
            Hof::Reduce => {
                let out = lambdas(args.arg_fields)
                    .nth(1)
                    .ok_or_else(|| datafusion::common::DataFusionError::Plan("no lambda".into()))?;
                Ok(Arc::new(Field::new("", out.data_type().clone(), true)))
            }
        }
    }

    fn invoke_with_args(&self, args: HigherOrderFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let vals = values(&args.args)
            .map(|v| v.to_array(n))
            .collect::<Result<Vec<_>>>()?;
        let fns: Vec<&LambdaArgument> = lambdas(&args.args).collect();
        let out = match self.hof {
            Hof::MapFilter => map_filter(&vals[0], fns[0])?,
            Hof::ArraySort => sort_by(&vals[0], fns[0])?,
            Hof::Reduce => reduce(&vals[0], &vals[1], fns[0], fns[1], args.return_type())?,
        };
        Ok(ColumnarValue::Array(out))
    }
}

/// Evaluates a lambda into an array of `len` values.
fn evaluated(v: ColumnarValue, len: usize) -> Result<ArrayRef> {
    v.into_array(len)
}

/// For every child of offsets `offsets`, the row it belongs to.
fn rows_of(offsets: &[i32]) -> UInt32Array {
    let base = offsets.first().copied().unwrap_or(0);
    let mut rows = Vec::with_capacity((offsets.last().copied().unwrap_or(0) - base) as usize);
    for (row, w) in offsets.windows(2).enumerate() {
        rows.extend(std::iter::repeat_n(row as u32, (w[1] - w[0]) as usize));
    }
    UInt32Array::from(rows)
}

fn map_filter(map: &ArrayRef, f: &LambdaArgument) -> Result<ArrayRef> {
    let map: &MapArray = map.as_map();
    let offsets = map.value_offsets();
    let (start, end) = (offsets[0] as usize, offsets[offsets.len() - 1] as usize);
    let entries = map.entries().slice(start, end - start);
    let rows = rows_of(offsets);
    let keys = Arc::clone(entries.column(0));
    let vals = Arc::clone(entries.column(1));
    let kept = evaluated(
        f.evaluate(
            &[&|| Ok(Arc::clone(&keys)), &|| Ok(Arc::clone(&vals))],
            |c| Ok(take_arrays(c, &rows, None)?),
        )?,
        entries.len(),
    )?;
    let Some(kept) = kept.as_any().downcast_ref::<BooleanArray>() else {
        return exec_err!("map_filter: the lambda must return a boolean");
    };
    // NULL from the lambda drops the entry, as false does.
    let kept: BooleanArray = kept.iter().map(|k| Some(k == Some(true))).collect();
    let mut lengths = Vec::with_capacity(map.len());
    for w in offsets.windows(2) {
        let (a, b) = ((w[0] as usize) - start, (w[1] as usize) - start);
        lengths.push((a..b).filter(|&i| kept.value(i)).count());
    }
    let entries = filter(&entries, &kept)?;
    let DataType::Map(field, sorted) = map.data_type() else {
        return exec_err!("map_filter: expected a map");
    };
    Ok(Arc::new(MapArray::try_new(
        Arc::clone(field),
        OffsetBuffer::from_lengths(lengths),
        entries.as_struct().clone(),
        map.nulls().cloned(),
        *sorted,
    )?))
}

fn reduce(
    list: &ArrayRef,
    initial: &ArrayRef,
    input: &LambdaArgument,
    output: &LambdaArgument,
    return_type: &DataType,
) -> Result<ArrayRef> {
    let n = list.len();
    if list.data_type() == &DataType::Null {
        return Ok(new_null_array(return_type, n));
    }
    let lists: &ListArray = list.as_list();
    let values = list_values(list)?;
    let offsets: Vec<usize> = lists.value_offsets().iter().map(|o| *o as usize).collect();
    let base = offsets[0];
    let mut state = Arc::clone(initial);
    let longest = offsets.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
    for k in 0..longest {
        // The rows with a k-th element, and that element: all rows step together.
        let rows: Vec<u32> = (0..n)
            .filter(|&r| offsets[r + 1] - offsets[r] > k)
            .map(|r| r as u32)
            .collect();
        let rows = UInt32Array::from(rows);
        let at = UInt32Array::from_iter_values(
            rows.values()
                .iter()
                .map(|&r| (offsets[r as usize] - base + k) as u32),
        );
        let items = take(values.as_ref(), &at, None)?;
        let before = take(state.as_ref(), &rows, None)?;
        let after = evaluated(
            input.evaluate(
                &[&|| Ok(Arc::clone(&before)), &|| Ok(Arc::clone(&items))],
                |c| Ok(take_arrays(c, &rows, None)?),
            )?,
            rows.len(),
        )?;
        let after = if after.data_type() == state.data_type() {
            after
        } else {
            cast(&after, state.data_type())?
        };
        let mut next = 0usize;
        let mut picks = Vec::with_capacity(n);
        for r in 0..n {
            if rows.values().get(next) == Some(&(r as u32)) {
                picks.push((1, next));
                next += 1;
            } else {
                picks.push((0, r));
            }
        }
        state = interleave(&[state.as_ref(), after.as_ref()], &picks)?;
    }
    let finished = evaluated(
        output.evaluate(&[&|| Ok(Arc::clone(&state))], |c| Ok(c.to_vec()))?,
        n,
    )?;
    // A NULL array reduces to NULL.
    match lists.nulls() {
        Some(nulls) if nulls.null_count() > 0 => {
            let keep = BooleanArray::new(nulls.inner().clone(), None);
            Ok(arrow::compute::nullif(
                &finished,
                &arrow::compute::not(&keep)?,
            )?)
        }
        _ => Ok(finished),
    }
}

/// `array_sort(x, (a, b) -> ...)`: the comparator returns a negative number, zero or a positive
/// number as `a` sorts before, with or after `b`; the sort is stable.
fn sort_by(list: &ArrayRef, f: &LambdaArgument) -> Result<ArrayRef> {
    if list.data_type() == &DataType::Null {
        return Ok(Arc::clone(list));
    }
    let lists: &ListArray = list.as_list();
    let values = list_values(list)?;
    let offsets: Vec<usize> = lists.value_offsets().iter().map(|o| *o as usize).collect();
    let base = offsets[0];
    // Every ordered pair (i < j) of each row, evaluated at once.
    let pairs: usize = offsets
        .windows(2)
        .map(|w| (w[1] - w[0]) * (w[1] - w[0]).saturating_sub(1) / 2)
        .sum();
    if pairs > MAX_PAIRS {
        return exec_err!(
            "array_sort with a comparator: these arrays need {pairs} comparisons, more than \
             {MAX_PAIRS}; sort shorter arrays, or use array_sort(x) without a lambda"
        );
    }
    let (mut left, mut right, mut owner) = (
        Vec::with_capacity(pairs),
        Vec::with_capacity(pairs),
        Vec::with_capacity(pairs),
    );
    for (row, w) in offsets.windows(2).enumerate() {
        for i in w[0]..w[1] {
            for j in i + 1..w[1] {
                left.push((i - base) as u32);
                right.push((j - base) as u32);
                owner.push(row as u32);
            }
        }
    }
    let (left, right, owner) = (
        UInt32Array::from(left),
        UInt32Array::from(right),
        UInt32Array::from(owner),
    );
    let a = take(values.as_ref(), &left, None)?;
    let b = take(values.as_ref(), &right, None)?;
    let result = evaluated(
        f.evaluate(&[&|| Ok(Arc::clone(&a)), &|| Ok(Arc::clone(&b))], |c| {
            Ok(take_arrays(c, &owner, None)?)
        })?,
        pairs,
    )?;
    let result = cast(&result, &DataType::Int64)?;
    let result: &Int64Array = result.as_primitive();
    if result.null_count() > 0 {
        return exec_err!("array_sort: the comparator returned NULL");
    }
    let mut order = Vec::with_capacity(values.len());
    let mut pair_base = 0usize;
    for w in offsets.windows(2) {
        let m = w[1] - w[0];
        // Index of pair (i, j), i < j, among this row's pairs.
        let pair = |i: usize, j: usize| pair_base + i * (2 * m - i - 1) / 2 + (j - i - 1);
        let cmp = |i: usize, j: usize| -> i64 {
            match i.cmp(&j) {
                std::cmp::Ordering::Equal => 0,
                std::cmp::Ordering::Less => result.value(pair(i, j)),
                std::cmp::Ordering::Greater => -result.value(pair(j, i)),
            }
        };
        let mut idx: Vec<usize> = (0..m).collect();
        merge_sort(&mut idx, &|x, y| cmp(x, y) > 0);
        order.extend(idx.into_iter().map(|i| (w[0] - base + i) as u32));
        pair_base += m * m.saturating_sub(1) / 2;
    }
    let sorted = take(values.as_ref(), &UInt32Array::from(order), None)?;
    let DataType::List(field) = list.data_type() else {
        return exec_err!("array_sort: expected an array");
    };
    let lengths = offsets.windows(2).map(|w| w[1] - w[0]);
    Ok(Arc::new(ListArray::try_new(
        Arc::clone(field),
        OffsetBuffer::from_lengths(lengths),
        sorted,
        lists.nulls().cloned(),
    )?))
}

/// A stable merge sort that takes any comparator: a user's lambda need not be a total order,
/// and the standard library's sort may panic on one that is not.
fn merge_sort(v: &mut [usize], after: &dyn Fn(usize, usize) -> bool) {
    if v.len() < 2 {
        return;
    }
    let mid = v.len() / 2;
    merge_sort(&mut v[..mid], after);
    merge_sort(&mut v[mid..], after);
    let mut merged = Vec::with_capacity(v.len());
    let (mut i, mut j) = (0, mid);
    while i < mid && j < v.len() {
        // Take from the right only when the left one sorts strictly after it: stable.
        if after(v[i], v[j]) {
            merged.push(v[j]);
            j += 1;
        } else {
            merged.push(v[i]);
            i += 1;
        }
    }
    merged.extend_from_slice(&v[i..mid]);
    merged.extend_from_slice(&v[j..]);
    v.copy_from_slice(&merged);
}

#[cfg(test)]
mod tests {
    use super::merge_sort;

    #[test]
    fn merge_sort_is_stable_and_survives_an_inconsistent_comparator() {
        let keys = [3, 1, 2, 1, 3];
        let mut v: Vec<usize> = (0..keys.len()).collect();
        merge_sort(&mut v, &|a, b| keys[a] > keys[b]);
        assert_eq!(v, [1, 3, 2, 0, 4]);
        let mut w: Vec<usize> = (0..50).collect();
        merge_sort(&mut w, &|a, b| (a * 7 + b) % 3 == 0);
        let mut sorted = w.clone();
        sorted.sort();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>());
    }
}
