//! Trino's `sequence(start, stop[, step])` over integers, dates and timestamps. DataFusion's
//! `generate_series` differs where it matters: without a step Trino counts down when `stop`
//! is before `start` (DataFusion returns an empty array), a step that moves away from `stop`
//! is an error, and no array is longer than 10,000 entries.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, Date32Array, Date32Builder, Int64Array, Int64Builder,
    IntervalMonthDayNanoArray, ListBuilder, TimestampMicrosecondArray, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, IntervalMonthDayNano, IntervalUnit, TimeUnit};
use chrono::{DateTime, Months, NaiveDateTime};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::ColumnarValue;

use super::array;

/// Trino's limit on the length of one sequence.
const MAX_ENTRIES: i64 = 10_000;

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// The argument types `sequence` computes with.
pub(super) fn coerce(args: &[DataType]) -> Result<Vec<DataType>> {
    let interval = DataType::Interval(IntervalUnit::MonthDayNano);
    let micros = DataType::Timestamp(TimeUnit::Microsecond, None);
    let is_int = |t: &DataType| t.is_integer() || t.is_null();
    let (start, stop) = (&args[0], &args[1]);
    if is_int(start) && is_int(stop) {
        if args.get(2).is_some_and(|s| !is_int(s)) {
            return plan_err!("sequence: an integer sequence takes an integer step");
        }
        return Ok(vec![DataType::Int64; args.len()]);
    }
    let kind = match (start, stop) {
        (DataType::Date32, DataType::Date32) => DataType::Date32,
        (
            DataType::Timestamp(..) | DataType::Date32,
            DataType::Timestamp(..) | DataType::Date32,
        ) => micros,
        _ => {
            return plan_err!(
                "sequence: expected integers, dates or timestamps, got {start} and {stop}"
            );
        }
    };
    if let Some(step) = args.get(2)
        && !matches!(step, DataType::Interval(_) | DataType::Null)
    {
        return plan_err!("sequence: a sequence of {kind} takes an interval step, got {step}");
    }
    let mut out = vec![kind.clone(), kind];
    if args.len() == 3 {
        out.push(interval);
    }
    Ok(out)
}

/// The type `sequence` returns for its coerced argument types.
pub(super) fn return_type(args: &[DataType]) -> DataType {
    DataType::new_list(args[0].clone(), true)
}

/// Trino's refusal of a step that moves away from `stop`.
fn check_direction(start: i64, stop: i64, step: i64) -> Result<()> {
    if (step > 0 && stop < start) || (step < 0 && stop > start) {
        return exec_err!(
            "sequence: stop must be after start when the step is positive, and before it \
             when the step is negative"
        );
    }
    Ok(())
}

/// How many entries from `start` to `stop` by `step`, checked as Trino checks.
fn count(start: i64, stop: i64, step: i64) -> Result<i64> {
    if step == 0 {
        return exec_err!("sequence: step must not be zero");
    }
    check_direction(start, stop, step)?;
    let n = (stop as i128 - start as i128) / step as i128 + 1;
    if n > MAX_ENTRIES as i128 {
        return exec_err!(
            "sequence: a sequence may have at most {MAX_ENTRIES} entries, this one has {n}"
        );
    }
    Ok(n as i64)
}

/// A step as a fixed number of microseconds, or whole months.
enum Step {
    Micros(i64),
    Months(i32),
}

fn step_of(v: IntervalMonthDayNano) -> Result<Step> {
    match (v.months, v.days, v.nanoseconds) {
        (0, d, n) => Ok(Step::Micros(d as i64 * MICROS_PER_DAY + n / 1_000)),
        (m, 0, 0) => Ok(Step::Months(m)),
        _ => exec_err!("sequence: a step mixes months with days or time; use one or the other"),
    }
}

fn add_months(micros: i64, months: i64) -> Option<i64> {
    let t: NaiveDateTime = DateTime::from_timestamp_micros(micros)?.naive_utc();
    let m = Months::new(months.unsigned_abs().try_into().ok()?);
    let t = if months >= 0 {
        t.checked_add_months(m)?
    } else {
        t.checked_sub_months(m)?
    };
    Some(t.and_utc().timestamp_micros())
}

/// The values of one sequence in microseconds (days for dates are converted by the caller).
fn times(start: i64, stop: i64, step: Step) -> Result<Vec<i64>> {
    match step {
        Step::Micros(s) => {
            let n = count(start, stop, s)?;
            Ok((0..n).map(|k| start + k * s).collect())
        }
        Step::Months(m) => {
            if m == 0 {
                return exec_err!("sequence: step must not be zero");
            }
            check_direction(start, stop, m as i64)?;
            let mut out = Vec::new();
            for k in 0.. {
                let Some(t) = add_months(start, k * m as i64) else {
                    return exec_err!("sequence: a value is out of range");
                };
                if (m > 0 && t > stop) || (m < 0 && t < stop) {
                    break;
                }
                if k >= MAX_ENTRIES {
                    return exec_err!(
                        "sequence: a sequence may have at most {MAX_ENTRIES} entries"
                    );
                }
                out.push(t);
            }
            Ok(out)
        }
    }
}

pub(super) fn sequence(args: &[ColumnarValue], rows: usize) -> Result<ColumnarValue> {
    let a: Vec<ArrayRef> = args.iter().map(|v| array(v, rows)).collect::<Result<_>>()?;
    let steps = a
        .get(2)
        .and_then(|s| s.as_any().downcast_ref::<IntervalMonthDayNanoArray>());
    let out: ArrayRef = match a[0].data_type() {
        DataType::Int64 => {
            let (start, stop) = (ints(&a[0])?, ints(&a[1])?);
            let step = a.get(2).map(ints).transpose()?;
            let mut b = ListBuilder::new(Int64Builder::new());
            for r in 0..rows {
                if start.is_null(r) || stop.is_null(r) || step.is_some_and(|s| s.is_null(r)) {
                    b.append_null();
                    continue;
                }
                let (x, y) = (start.value(r), stop.value(r));
                let s = step.map_or(if x <= y { 1 } else { -1 }, |s| s.value(r));
                let n = count(x, y, s)?;
                b.values().extend((0..n).map(|k| Some(x + k * s)));
                b.append(true);
            }
            Arc::new(b.finish())
        }
        DataType::Date32 => {
            let start = dates(&a[0])?;
            let stop = dates(&a[1])?;
            let mut b = ListBuilder::new(Date32Builder::new());
            for r in 0..rows {
                if start.is_null(r) || stop.is_null(r) || steps.is_some_and(|s| s.is_null(r)) {
                    b.append_null();
                    continue;
                }
                let (x, y) = (start.value(r) as i64, stop.value(r) as i64);
                let step = match steps {
                    Some(s) => step_of(s.value(r))?,
                    None => Step::Micros(if x <= y {
                        MICROS_PER_DAY
                    } else {
                        -MICROS_PER_DAY
                    }),
                };
                if let Step::Micros(m) = step
                    && m % MICROS_PER_DAY != 0
                {
                    return exec_err!(
                        "sequence: a sequence of dates steps by whole days or months"
                    );
                }
                let values = times(x * MICROS_PER_DAY, y * MICROS_PER_DAY, step)?;
                b.values().extend(
                    values
                        .into_iter()
                        .map(|t| Some((t / MICROS_PER_DAY) as i32)),
                );
                b.append(true);
            }
            Arc::new(b.finish())
        }
        _ => {
            let start = micros(&a[0])?;
            let stop = micros(&a[1])?;
            let Some(steps) = steps else {
                return exec_err!(
                    "sequence: a sequence of timestamps needs a step, e.g. INTERVAL '1' HOUR"
                );
            };
            let mut b = ListBuilder::new(TimestampMicrosecondBuilder::new());
            for r in 0..rows {
                if start.is_null(r) || stop.is_null(r) || steps.is_null(r) {
                    b.append_null();
                    continue;
                }
                let values = times(start.value(r), stop.value(r), step_of(steps.value(r))?)?;
                b.values().extend(values.into_iter().map(Some));
                b.append(true);
            }
            Arc::new(b.finish())
        }
    };
    Ok(ColumnarValue::Array(out))
}

fn ints(a: &ArrayRef) -> Result<&Int64Array> {
    a.as_any().downcast_ref().ok_or_else(|| {
        datafusion::common::DataFusionError::Execution("sequence: expected integers".into())
    })
}

fn dates(a: &ArrayRef) -> Result<&Date32Array> {
    a.as_any().downcast_ref().ok_or_else(|| {
        datafusion::common::DataFusionError::Execution("sequence: expected dates".into())
    })
}

fn micros(a: &ArrayRef) -> Result<&TimestampMicrosecondArray> {
    a.as_any().downcast_ref().ok_or_else(|| {
        datafusion::common::DataFusionError::Execution("sequence: expected timestamps".into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_as_trino_does() {
        assert_eq!(count(1, 5, 1).unwrap(), 5);
        assert_eq!(count(5, 1, -2).unwrap(), 3);
        assert_eq!(count(1, 1, 1).unwrap(), 1);
        assert!(count(1, 5, -1).is_err());
        assert!(count(1, 5, 0).is_err());
        assert!(count(0, 10_000, 1).is_err());
        assert_eq!(count(1, 10_000, 1).unwrap(), 10_000);
    }

    #[test]
    fn month_steps_count_from_the_start() {
        // 2021-01-31 plus one month is 2021-02-28, plus two is 2021-03-31 (not 03-28).
        let jan31 = DateTime::parse_from_rfc3339("2021-01-31T00:00:00Z")
            .unwrap()
            .timestamp_micros();
        let may1 = DateTime::parse_from_rfc3339("2021-05-01T00:00:00Z")
            .unwrap()
            .timestamp_micros();
        let got: Vec<String> = times(jan31, may1, Step::Months(1))
            .unwrap()
            .into_iter()
            .map(|t| {
                DateTime::from_timestamp_micros(t)
                    .unwrap()
                    .format("%m-%d")
                    .to_string()
            })
            .collect();
        assert_eq!(got, ["01-31", "02-28", "03-31", "04-30"]);
    }
}
