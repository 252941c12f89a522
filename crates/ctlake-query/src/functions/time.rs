//! Trino's date and time functions over ctlake's UTC timestamps.
//!
//! Every time value arrives as UTC microseconds (the type of `eventtime`), a date or a string is
//! cast to it first. A timestamp with a zone (`eventtime AT TIME ZONE 'Asia/Tokyo'`) keeps its
//! zone where Trino reads the wall clock (the field functions, `date_format`,
//! `format_datetime`, `to_iso8601`): `hour(...)` is the hour in Tokyo. The field functions
//! follow Trino: ISO weeks, Monday = 1, `second` as a whole number.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, Date32Array, Date32Builder, Float64Array, Float64Builder, Int64Array,
    Int64Builder, StringBuilder, TimestampMicrosecondArray, TimestampMicrosecondBuilder,
};
use chrono::{
    DateTime, Datelike, FixedOffset, Months, NaiveDate, NaiveDateTime, TimeDelta, TimeZone,
    Timelike,
};
use datafusion::common::cast::as_string_array;
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::ColumnarValue;

use super::{array, bad_value, constant_str, joda};

/// A field of a timestamp, as Trino's `year(..)`, `hour(..)`, ... return it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Field {
    Year,
    Quarter,
    Month,
    Week,
    YearOfWeek,
    Day,
    DayOfWeek,
    DayOfYear,
    Hour,
    Minute,
    Second,
    Millisecond,
}

const UNIX_EPOCH_DAYS_FROM_CE: i32 = 719_163;

fn to_datetime(micros: i64) -> Option<NaiveDateTime> {
    DateTime::from_timestamp_micros(micros).map(|d| d.naive_utc())
}

fn from_datetime(t: NaiveDateTime) -> i64 {
    t.and_utc().timestamp_micros()
}

fn to_date(days: i32) -> Option<NaiveDate> {
    NaiveDate::from_num_days_from_ce_opt(days.checked_add(UNIX_EPOCH_DAYS_FROM_CE)?)
}

fn from_date(d: NaiveDate) -> i32 {
    d.num_days_from_ce() - UNIX_EPOCH_DAYS_FROM_CE
}

fn micros_array(arg: &ColumnarValue, rows: usize, function: &str) -> Result<ArrayRef> {
    let a = array(arg, rows)?;
    if a.as_any().is::<TimestampMicrosecondArray>() {
        Ok(a)
    } else {
        exec_err!("{function}: expected a timestamp, got {}", a.data_type())
    }
}

fn micros_of(a: &ArrayRef) -> &TimestampMicrosecondArray {
    a.as_any()
        .downcast_ref::<TimestampMicrosecondArray>()
        .expect("checked by micros_array")
}

/// The zone a timestamp array's values are shown in: UTC unless its type names one.
#[derive(Debug, Clone, Copy)]
pub(super) enum Zone {
    Utc,
    Fixed(FixedOffset),
    Named(chrono_tz::Tz),
}

impl Zone {
    fn of(a: &ArrayRef, function: &str) -> Result<Self> {
        let Some(name) = micros_of(a).timezone() else {
            return Ok(Zone::Utc);
        };
        if name.starts_with(['+', '-']) {
            use chrono::Offset;
            return match name.parse::<arrow::array::timezone::Tz>() {
                Ok(tz) => Ok(Zone::Fixed(
                    tz.offset_from_utc_datetime(&NaiveDateTime::default()).fix(),
                )),
                Err(e) => exec_err!("{function}: unknown time zone {name:?}: {e}"),
            };
        }
        match name.parse::<chrono_tz::Tz>() {
            Ok(chrono_tz::Tz::UTC) => Ok(Zone::Utc),
            Ok(tz) => Ok(Zone::Named(tz)),
            Err(e) => exec_err!("{function}: unknown time zone {name:?}: {e}"),
        }
    }

    /// The instant as a date and time in this zone, with its offset.
    fn at(self, micros: i64) -> Option<DateTime<FixedOffset>> {
        let utc = DateTime::from_timestamp_micros(micros)?;
        Some(match self {
            Zone::Utc => utc.fixed_offset(),
            Zone::Fixed(o) => utc.with_timezone(&o),
            Zone::Named(tz) => utc.with_timezone(&tz).fixed_offset(),
        })
    }

    /// The wall clock in this zone.
    fn local(self, micros: i64) -> Option<NaiveDateTime> {
        self.at(micros).map(|t| t.naive_local())
    }

    /// The zone's id (`UTC`, `America/New_York`, `+09:00`) and its abbreviation at `micros`.
    fn names(self, micros: i64) -> (String, String) {
        match self {
            Zone::Utc => ("UTC".into(), "UTC".into()),
            Zone::Fixed(o) => (o.to_string(), o.to_string()),
            Zone::Named(tz) => {
                let abbreviation = DateTime::from_timestamp_micros(micros)
                    .map(|t| t.with_timezone(&tz).format("%Z").to_string())
                    .unwrap_or_default();
                (tz.name().to_string(), abbreviation)
            }
        }
    }
}

pub(super) fn field(args: &[ColumnarValue], rows: usize, field: Field) -> Result<ColumnarValue> {
    let a = micros_array(&args[0], rows, "date field")?;
    let zone = Zone::of(&a, "date field")?;
    let ts = micros_of(&a);
    let out: Int64Array = ts
        .iter()
        .map(|v| {
            let t = zone.local(v?)?;
            Some(match field {
                Field::Year => t.year() as i64,
                Field::Quarter => (t.month0() / 3 + 1) as i64,
                Field::Month => t.month() as i64,
                Field::Week => t.iso_week().week() as i64,
                Field::YearOfWeek => t.iso_week().year() as i64,
                Field::Day => t.day() as i64,
                Field::DayOfWeek => t.weekday().number_from_monday() as i64,
                Field::DayOfYear => t.ordinal() as i64,
                Field::Hour => t.hour() as i64,
                Field::Minute => t.minute() as i64,
                Field::Second => t.second() as i64,
                Field::Millisecond => (t.nanosecond() / 1_000_000 % 1000) as i64,
            })
        })
        .collect();
    Ok(ColumnarValue::Array(Arc::new(out)))
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Unit {
    Millisecond,
    Second,
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

impl Unit {
    fn parse(function: &str, s: &str) -> Result<Self> {
        Ok(match s.trim().to_ascii_lowercase().trim_end_matches('s') {
            "millisecond" => Self::Millisecond,
            "second" => Self::Second,
            "minute" => Self::Minute,
            "hour" => Self::Hour,
            "day" => Self::Day,
            "week" => Self::Week,
            "month" => Self::Month,
            "quarter" => Self::Quarter,
            "year" => Self::Year,
            _ => {
                return exec_err!(
                    "{function}: unknown unit {s:?} (millisecond, second, minute, hour, day, week, month, quarter, year)"
                );
            }
        })
    }

    /// The unit's length in microseconds, for the units of fixed length.
    fn micros(self) -> Option<i64> {
        Some(match self {
            Self::Millisecond => 1_000,
            Self::Second => 1_000_000,
            Self::Minute => 60_000_000,
            Self::Hour => 3_600_000_000,
            Self::Day => 86_400_000_000,
            Self::Week => 7 * 86_400_000_000,
            Self::Month | Self::Quarter | Self::Year => return None,
        })
    }

    fn months(self) -> i64 {
        match self {
            Self::Quarter => 3,
            Self::Year => 12,
            _ => 1,
        }
    }
}

/// Per-row units: nearly always one constant, parsed once.
fn units(arg: &ColumnarValue, rows: usize, function: &str) -> Result<Vec<Option<Unit>>> {
    if let Some(unit) = constant_str(arg) {
        let unit = unit.map(|u| Unit::parse(function, u)).transpose()?;
        return Ok(vec![unit; rows]);
    }
    let a = array(arg, rows)?;
    as_string_array(&a)?
        .iter()
        .map(|u| u.map(|u| Unit::parse(function, u)).transpose())
        .collect()
}

fn add(t: NaiveDateTime, unit: Unit, n: i64) -> Option<NaiveDateTime> {
    match unit.micros() {
        Some(m) => t.checked_add_signed(TimeDelta::microseconds(n.checked_mul(m)?)),
        None => {
            let months = n.checked_mul(unit.months())?;
            let m = Months::new(u32::try_from(months.unsigned_abs()).ok()?);
            if months >= 0 {
                t.checked_add_months(m)
            } else {
                t.checked_sub_months(m)
            }
        }
    }
}

pub(super) fn date_add(args: &[ColumnarValue], rows: usize) -> Result<ColumnarValue> {
    let units = units(&args[0], rows, "date_add")?;
    let amount = array(&args[1], rows)?;
    let Some(amount) = amount.as_any().downcast_ref::<Int64Array>() else {
        return exec_err!("date_add: the amount must be an integer");
    };
    let value = array(&args[2], rows)?;
    if let Some(dates) = value.as_any().downcast_ref::<Date32Array>() {
        let mut out = Date32Builder::with_capacity(rows);
        for (row, &unit) in units.iter().enumerate() {
            let (Some(unit), true, true) = (unit, amount.is_valid(row), dates.is_valid(row)) else {
                out.append_null();
                continue;
            };
            if unit.micros().is_some_and(|m| m < 86_400_000_000) {
                return exec_err!("date_add: a date cannot take {unit:?} units");
            }
            let t = to_date(dates.value(row)).and_then(|d| {
                add(d.and_hms_opt(0, 0, 0)?, unit, amount.value(row)).map(|t| from_date(t.date()))
            });
            out.append_option(t);
        }
        return Ok(ColumnarValue::Array(Arc::new(out.finish())));
    }
    let value = micros_array(&args[2], rows, "date_add")?;
    let ts = micros_of(&value);
    let mut out = TimestampMicrosecondBuilder::with_capacity(rows);
    for (row, &unit) in units.iter().enumerate() {
        let (Some(unit), true, true) = (unit, amount.is_valid(row), ts.is_valid(row)) else {
            out.append_null();
            continue;
        };
        let t = to_datetime(ts.value(row))
            .and_then(|t| add(t, unit, amount.value(row)))
            .map(from_datetime);
        out.append_option(t);
    }
    Ok(ColumnarValue::Array(Arc::new(out.finish())))
}

/// Whole calendar months from `a` to `b` as Trino (Joda) counts them: the most months that,
/// added to `a` (clamped to the month's end), do not pass `b`.
fn months_between(a: NaiveDateTime, b: NaiveDateTime) -> i64 {
    let months = (b.year() as i64 - a.year() as i64) * 12 + b.month() as i64 - a.month() as i64;
    match add(a, Unit::Month, months) {
        Some(t) if months > 0 && t > b => months - 1,
        Some(t) if months < 0 && t < b => months + 1,
        _ => months,
    }
}

pub(super) fn date_diff(args: &[ColumnarValue], rows: usize) -> Result<ColumnarValue> {
    let units = units(&args[0], rows, "date_diff")?;
    let (a, b) = (
        micros_array(&args[1], rows, "date_diff")?,
        micros_array(&args[2], rows, "date_diff")?,
    );
    let (a, b) = (micros_of(&a), micros_of(&b));
    let mut out = Int64Builder::with_capacity(rows);
    for (row, &unit) in units.iter().enumerate() {
        let (Some(unit), true, true) = (unit, a.is_valid(row), b.is_valid(row)) else {
            out.append_null();
            continue;
        };
        let (x, y) = (a.value(row), b.value(row));
        let diff = match unit.micros() {
            Some(m) => Some((y - x) / m),
            None => match (to_datetime(x), to_datetime(y)) {
                (Some(x), Some(y)) => Some(months_between(x, y) / unit.months()),
                _ => None,
            },
        };
        out.append_option(diff);
    }
    Ok(ColumnarValue::Array(Arc::new(out.finish())))
}

/// Translates a MySQL-style format (Trino's `date_format`/`date_parse`) into chrono's.
fn mysql_format(function: &str, format: &str) -> Result<String> {
    let mut out = String::with_capacity(format.len() + 8);
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(spec) = chars.next() else {
            return exec_err!("{function}: format {format:?} ends with a lone %");
        };
        out.push_str(match spec {
            'a' => "%a",
            'b' => "%b",
            'c' => "%-m",
            'd' => "%d",
            'e' => "%-d",
            'f' => "%6f",
            'H' => "%H",
            'h' | 'I' => "%I",
            'i' => "%M",
            'j' => "%j",
            'k' => "%-H",
            'l' => "%-I",
            'M' => "%B",
            'm' => "%m",
            'p' => "%p",
            'r' => "%I:%M:%S %p",
            'S' | 's' => "%S",
            'T' => "%H:%M:%S",
            'v' => "%V",
            'W' => "%A",
            'x' => "%G",
            'Y' => "%Y",
            'y' => "%y",
            '%' => "%%",
            other => {
                return exec_err!("{function}: format specifier %{other} is not supported");
            }
        });
    }
    Ok(out)
}

/// Per-row formats, translated once when constant.
fn formats(arg: &ColumnarValue, rows: usize, function: &str) -> Result<Vec<Option<String>>> {
    translated(arg, rows, |f| mysql_format(function, f))
}

/// A format argument per row, each translated by `translate` (once when it is a constant).
fn translated<T: Clone>(
    arg: &ColumnarValue,
    rows: usize,
    translate: impl Fn(&str) -> Result<T>,
) -> Result<Vec<Option<T>>> {
    if let Some(f) = constant_str(arg) {
        return Ok(vec![f.map(&translate).transpose()?; rows]);
    }
    let a = array(arg, rows)?;
    as_string_array(&a)?
        .iter()
        .map(|f| f.map(&translate).transpose())
        .collect()
}

/// Parses each row's string by its chrono format; `zoned` formats read an offset (the time
/// is then converted to UTC), the others are UTC already, a date alone is its midnight.
fn parse_times(
    arg: &ColumnarValue,
    rows: usize,
    formats: &[Option<(String, bool)>],
    function: &str,
    lenient: bool,
) -> Result<ColumnarValue> {
    let input = array(arg, rows)?;
    let input = as_string_array(&input)?;
    let mut out = TimestampMicrosecondBuilder::with_capacity(rows);
    for (row, format) in formats.iter().enumerate() {
        let (Some((format, zoned)), true) = (format, input.is_valid(row)) else {
            out.append_null();
            continue;
        };
        let s = input.value(row);
        let parsed = if *zoned {
            DateTime::parse_from_str(s, format).map(|t| t.naive_utc())
        } else {
            NaiveDateTime::parse_from_str(s, format).or_else(|e| {
                NaiveDate::parse_from_str(s, format)
                    .map(|d| d.and_time(Default::default()))
                    .map_err(|_| e)
            })
        };
        match parsed {
            Ok(t) => out.append_value(from_datetime(t)),
            Err(_) if lenient => out.append_null(),
            Err(e) => return bad_value(function, s, e),
        }
    }
    Ok(ColumnarValue::Array(Arc::new(out.finish())))
}

pub(super) fn date_format(args: &[ColumnarValue], rows: usize) -> Result<ColumnarValue> {
    let value = micros_array(&args[0], rows, "date_format")?;
    let zone = Zone::of(&value, "date_format")?;
    let ts = micros_of(&value);
    let formats = formats(&args[1], rows, "date_format")?;
    let mut out = StringBuilder::with_capacity(rows, rows * 20);
    for (row, format) in formats.iter().enumerate() {
        match (ts.is_valid(row), format, zone.local(ts.value(row))) {
            (true, Some(format), Some(t)) => out.append_value(t.format(format).to_string()),
            _ => out.append_null(),
        }
    }
    Ok(ColumnarValue::Array(Arc::new(out.finish())))
}

pub(super) fn date_parse(
    args: &[ColumnarValue],
    rows: usize,
    lenient: bool,
) -> Result<ColumnarValue> {
    let formats = translated(&args[1], rows, |f| {
        Ok((mysql_format("date_parse", f)?, false))
    })?;
    parse_times(&args[0], rows, &formats, "date_parse", lenient)
}

/// Trino's `format_datetime(timestamp, pattern)`: a Joda-Time pattern, in the value's zone.
pub(super) fn format_datetime(args: &[ColumnarValue], rows: usize) -> Result<ColumnarValue> {
    let value = micros_array(&args[0], rows, "format_datetime")?;
    let zone = Zone::of(&value, "format_datetime")?;
    let ts = micros_of(&value);
    let patterns = translated(&args[1], rows, |p| Ok(p.to_string()))?;
    let mut out = StringBuilder::with_capacity(rows, rows * 20);
    for (row, pattern) in patterns.iter().enumerate() {
        let micros = ts.value(row);
        match (ts.is_valid(row), pattern, zone.at(micros)) {
            (true, Some(pattern), Some(t)) => {
                let (id, abbreviation) = zone.names(micros);
                match joda::format(&t, pattern, &id, &abbreviation) {
                    Ok(s) => out.append_value(s),
                    Err(e) => return exec_err!("format_datetime: {e}"),
                }
            }
            _ => out.append_null(),
        }
    }
    Ok(ColumnarValue::Array(Arc::new(out.finish())))
}

/// Trino's `parse_datetime(string, pattern)`: a Joda-Time pattern; a parsed offset is honoured,
/// and a time without one is UTC (CloudTrail Lake's session zone).
pub(super) fn parse_datetime(
    args: &[ColumnarValue],
    rows: usize,
    lenient: bool,
) -> Result<ColumnarValue> {
    let formats = translated(&args[1], rows, |p| {
        joda::parsing_format(p).map_err(|e| {
            datafusion::common::DataFusionError::Execution(format!("parse_datetime: {e}"))
        })
    })?;
    parse_times(&args[0], rows, &formats, "parse_datetime", lenient)
}

/// An ISO 8601 timestamp, with or without a zone (none means UTC), or a bare date.
fn parse_iso8601(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.naive_utc());
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%dT%H:%M%#z"] {
        if let Ok(t) = DateTime::parse_from_str(s, format) {
            return Some(t.naive_utc());
        }
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S%.f",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
            return Some(t);
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .map(|d| d.and_time(Default::default()))
}

pub(super) fn from_iso8601_timestamp(
    args: &[ColumnarValue],
    rows: usize,
    lenient: bool,
) -> Result<ColumnarValue> {
    let input = array(&args[0], rows)?;
    let input = as_string_array(&input)?;
    let mut out = TimestampMicrosecondBuilder::with_capacity(rows);
    for s in input.iter() {
        match s.map(|s| (s, parse_iso8601(s))) {
            None => out.append_null(),
            Some((_, Some(t))) => out.append_value(from_datetime(t)),
            Some((_, None)) if lenient => out.append_null(),
            Some((s, None)) => return bad_value("from_iso8601_timestamp", s, "not ISO 8601"),
        }
    }
    Ok(ColumnarValue::Array(Arc::new(out.finish())))
}

pub(super) fn from_iso8601_date(
    args: &[ColumnarValue],
    rows: usize,
    lenient: bool,
) -> Result<ColumnarValue> {
    let input = array(&args[0], rows)?;
    let input = as_string_array(&input)?;
    let mut out = Date32Builder::with_capacity(rows);
    for s in input.iter() {
        match s.map(|s| (s, NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d"))) {
            None => out.append_null(),
            Some((_, Ok(d))) => out.append_value(from_date(d)),
            Some((_, Err(_))) if lenient => out.append_null(),
            Some((s, Err(e))) => return bad_value("from_iso8601_date", s, e),
        }
    }
    Ok(ColumnarValue::Array(Arc::new(out.finish())))
}

pub(super) fn to_iso8601(args: &[ColumnarValue], rows: usize) -> Result<ColumnarValue> {
    let value = array(&args[0], rows)?;
    let mut out = StringBuilder::with_capacity(rows, rows * 24);
    if let Some(dates) = value.as_any().downcast_ref::<Date32Array>() {
        for d in dates.iter() {
            out.append_option(
                d.and_then(to_date)
                    .map(|d| d.format("%Y-%m-%d").to_string()),
            );
        }
    } else {
        let value = micros_array(&args[0], rows, "to_iso8601")?;
        let zone = Zone::of(&value, "to_iso8601")?;
        let zoned = micros_of(&value).timezone().is_some();
        for t in micros_of(&value).iter() {
            // Trino writes a timestamp with a zone with its offset (`Z` for UTC).
            out.append_option(t.and_then(|t| zone.at(t)).map(|t| {
                if zoned {
                    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                } else {
                    t.naive_local().format("%Y-%m-%dT%H:%M:%S%.3f").to_string()
                }
            }));
        }
    }
    Ok(ColumnarValue::Array(Arc::new(out.finish())))
}

pub(super) fn from_unixtime(args: &[ColumnarValue], rows: usize) -> Result<ColumnarValue> {
    let value = array(&args[0], rows)?;
    let Some(seconds) = value.as_any().downcast_ref::<Float64Array>() else {
        return exec_err!("from_unixtime: expected a number");
    };
    let out: TimestampMicrosecondArray = seconds
        .iter()
        .map(|s| {
            let micros = s? * 1e6;
            (micros.is_finite() && micros.abs() < i64::MAX as f64).then(|| micros.round() as i64)
        })
        .collect();
    Ok(ColumnarValue::Array(Arc::new(out)))
}

pub(super) fn to_unixtime(args: &[ColumnarValue], rows: usize) -> Result<ColumnarValue> {
    let value = micros_array(&args[0], rows, "to_unixtime")?;
    let mut out = Float64Builder::with_capacity(rows);
    for t in micros_of(&value).iter() {
        out.append_option(t.map(|t| t as f64 / 1e6));
    }
    Ok(ColumnarValue::Array(Arc::new(out.finish())))
}
