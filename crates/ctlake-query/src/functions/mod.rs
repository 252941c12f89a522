//! Trino's functions, with Trino's semantics, where DataFusion's built-ins differ or are missing,
//! and the ARN helpers every CloudTrail question needs.
//!
//! CloudTrail Lake runs Trino, so its queries call `element_at` on maps expecting the value (not
//! DataFusion's one-element list), `date_format` with MySQL specifiers, `regexp_replace` that
//! replaces every match, and JSON functions DataFusion does not have. Each function here is one
//! [`Kind`] of a single [`TrinoFn`] implementation, so registering, typing and dispatch read as
//! one table. Functions that only need a different name or argument shape (`if`, `count_if`,
//! `max_by`, `transform`, ...) are rewritten in the SQL instead, by [`crate::dialect`].

mod arn;
mod collection;
pub(crate) mod guard;
mod joda;
mod json;
pub(crate) mod lambda;
mod sequence;
pub(crate) mod text;
mod time;
mod urls;

use arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;

/// Which function a [`TrinoFn`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    ElementAt,
    Contains,
    Slice,
    Typeof,
    JsonParse,
    JsonFormat,
    IsJsonScalar,
    JsonExtract,
    JsonExtractScalar,
    JsonArrayContains,
    JsonArrayGet,
    JsonArrayLength,
    JsonSize,
    DateAdd,
    DateDiff,
    DateFormat,
    DateParse,
    FormatDatetime,
    ParseDatetime,
    FromIso8601Timestamp,
    FromIso8601Date,
    ToIso8601,
    FromUnixtime,
    ToUnixtime,
    Field(time::Field),
    RegexpExtract,
    RegexpExtractAll,
    RegexpReplace,
    Arn(arn::Part),
    PrincipalName,
    Codepoint,
    Url(urls::Part),
    Sequence,
}

/// Functions that fail on bad data in Trino and so get a lenient twin for `try(...)`.
pub(crate) const FALLIBLE: &[&str] = &[
    "json_parse",
    "date_parse",
    "parse_datetime",
    "from_iso8601_timestamp",
    "from_iso8601_date",
];

/// The name of the lenient twin of a [`FALLIBLE`] function: `try(f(x))` becomes this.
pub(crate) fn lenient_name(name: &str) -> String {
    format!("try_{name}")
}

/// One Trino function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct TrinoFn {
    name: String,
    aliases: Vec<String>,
    kind: Kind,
    /// Returns NULL instead of failing on bad data (the `try(...)` twin).
    lenient: bool,
    signature: Signature,
}

fn all() -> Vec<(Kind, &'static [&'static str])> {
    use Kind::*;
    use arn::Part;
    use time::Field as F;
    vec![
        (ElementAt, &["element_at"]),
        (Contains, &["contains"]),
        (Slice, &["slice"]),
        (Typeof, &["typeof"]),
        (JsonParse, &["json_parse"]),
        (JsonFormat, &["json_format"]),
        (IsJsonScalar, &["is_json_scalar"]),
        (JsonExtract, &["json_extract"]),
        (JsonExtractScalar, &["json_extract_scalar"]),
        (JsonArrayContains, &["json_array_contains"]),
        (JsonArrayGet, &["json_array_get"]),
        (JsonArrayLength, &["json_array_length"]),
        (JsonSize, &["json_size"]),
        (DateAdd, &["date_add"]),
        (DateDiff, &["date_diff"]),
        (DateFormat, &["date_format"]),
        (DateParse, &["date_parse"]),
        (FormatDatetime, &["format_datetime"]),
        (ParseDatetime, &["parse_datetime"]),
        (FromIso8601Timestamp, &["from_iso8601_timestamp"]),
        (FromIso8601Date, &["from_iso8601_date"]),
        (ToIso8601, &["to_iso8601"]),
        (FromUnixtime, &["from_unixtime"]),
        (ToUnixtime, &["to_unixtime"]),
        (Field(F::Year), &["year"]),
        (Field(F::Quarter), &["quarter"]),
        (Field(F::Month), &["month"]),
        (Field(F::Week), &["week", "week_of_year"]),
        (Field(F::YearOfWeek), &["year_of_week", "yow"]),
        (Field(F::Day), &["day", "day_of_month"]),
        (Field(F::DayOfWeek), &["day_of_week", "dow"]),
        (Field(F::DayOfYear), &["day_of_year", "doy"]),
        (Field(F::Hour), &["hour"]),
        (Field(F::Minute), &["minute"]),
        (Field(F::Second), &["second"]),
        (Field(F::Millisecond), &["millisecond"]),
        (RegexpExtract, &["regexp_extract"]),
        (RegexpExtractAll, &["regexp_extract_all"]),
        (RegexpReplace, &["regexp_replace"]),
        (Arn(Part::Partition), &["arn_partition"]),
        (Arn(Part::Service), &["arn_service"]),
        (Arn(Part::Region), &["arn_region"]),
        (Arn(Part::Account), &["arn_account"]),
        (Arn(Part::Resource), &["arn_resource"]),
        (Arn(Part::ResourceType), &["arn_resource_type"]),
        (Arn(Part::ResourceName), &["arn_resource_name"]),
        (PrincipalName, &["principal_name"]),
        (Codepoint, &["codepoint"]),
        (Sequence, &["sequence"]),
        (Url(urls::Part::Protocol), &["url_extract_protocol"]),
        (Url(urls::Part::Host), &["url_extract_host"]),
        (Url(urls::Part::Port), &["url_extract_port"]),
        (Url(urls::Part::Path), &["url_extract_path"]),
        (Url(urls::Part::Query), &["url_extract_query"]),
        (Url(urls::Part::Fragment), &["url_extract_fragment"]),
        (Url(urls::Part::Parameter), &["url_extract_parameter"]),
    ]
}

/// Registers every function in the session, replacing DataFusion's functions of the same
/// names (`element_at`, `contains`, `date_format`, `regexp_replace`, `from_unixtime`).
pub(crate) fn register(ctx: &SessionContext) {
    for (kind, names) in all() {
        let make = |name: String, aliases: Vec<String>, lenient: bool| {
            ScalarUDF::new_from_impl(TrinoFn {
                name,
                aliases,
                kind,
                lenient,
                signature: Signature::user_defined(Volatility::Immutable),
            })
        };
        let aliases = names[1..].iter().map(|s| s.to_string()).collect();
        ctx.register_udf(make(names[0].to_string(), aliases, false));
        if FALLIBLE.contains(&names[0]) {
            ctx.register_udf(make(lenient_name(names[0]), Vec::new(), true));
        }
    }
    // Trino's names for functions DataFusion has under another name.
    let state = ctx.state();
    let renames = [("levenshtein", "levenshtein_distance")];
    for (df, trino) in renames {
        if let Some(udf) = state.scalar_functions().get(df) {
            ctx.register_udf(udf.as_ref().clone().with_aliases([trino]));
        }
    }
    lambda::register(ctx);
}

/// String types are read as `Utf8`.
fn text(t: &DataType, function: &str) -> Result<DataType> {
    match t {
        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 | DataType::Null => {
            Ok(DataType::Utf8)
        }
        other => plan_err!("{function}: expected a string, got {other}"),
    }
}

/// Times are read as UTC microseconds; dates and strings are accepted where Trino takes a
/// timestamp, since CloudTrail Lake users compare `eventtime` with both.
fn timestamp(t: &DataType, function: &str) -> Result<DataType> {
    match t {
        DataType::Timestamp(_, _)
        | DataType::Date32
        | DataType::Date64
        | DataType::Utf8
        | DataType::Utf8View
        | DataType::LargeUtf8
        | DataType::Null => Ok(micros()),
        other => plan_err!("{function}: expected a timestamp, got {other}"),
    }
}

/// A timestamp that keeps its zone, where the function reads the wall clock in it (`hour`,
/// `date_format`): a timestamp with a zone as microseconds in that zone, anything else as
/// [`timestamp`] makes it.
fn zoned(t: &DataType, function: &str) -> Result<DataType> {
    match t {
        DataType::Timestamp(_, Some(tz)) => {
            Ok(DataType::Timestamp(TimeUnit::Microsecond, Some(tz.clone())))
        }
        other => timestamp(other, function),
    }
}

fn integer(t: &DataType, function: &str) -> Result<DataType> {
    if t.is_integer() || t.is_null() {
        Ok(DataType::Int64)
    } else {
        plan_err!("{function}: expected an integer, got {t}")
    }
}

fn number(t: &DataType, function: &str) -> Result<DataType> {
    if t.is_numeric() || t.is_null() {
        Ok(DataType::Float64)
    } else {
        plan_err!("{function}: expected a number, got {t}")
    }
}

/// ctlake's timestamp type: UTC microseconds without a zone, like `eventtime`.
pub(crate) fn micros() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, None)
}

fn arity(function: &str, args: &[DataType], range: std::ops::RangeInclusive<usize>) -> Result<()> {
    if range.contains(&args.len()) {
        Ok(())
    } else if range.start() == range.end() {
        plan_err!(
            "{function} takes {} arguments, got {}",
            range.start(),
            args.len()
        )
    } else {
        plan_err!(
            "{function} takes {} to {} arguments, got {}",
            range.start(),
            range.end(),
            args.len()
        )
    }
}

impl ScalarUDFImpl for TrinoFn {
    fn name(&self) -> &str {
        &self.name
    }

    fn placement(
        &self,
        args: &[datafusion::logical_expr::ExpressionPlacement],
    ) -> datafusion::logical_expr::ExpressionPlacement {
        use datafusion::logical_expr::ExpressionPlacement as P;
        // `element_at(column, 'key')` moves into the scan as `get_field` does, where
        // `copies::ReadCopies` can read a copied key's column instead of the whole map.
        match (&self.kind, args) {
            (Kind::ElementAt, [P::Column | P::MoveTowardsLeafNodes, P::Literal]) => {
                P::MoveTowardsLeafNodes
            }
            _ => P::KeepInPlace,
        }
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        use Kind::*;
        let f = self.name.as_str();
        match self.kind {
            ElementAt => {
                arity(f, args, 2..=2)?;
                collection::coerce_element_at(args)
            }
            Contains => {
                arity(f, args, 2..=2)?;
                collection::coerce_contains(args)
            }
            Slice => {
                arity(f, args, 3..=3)?;
                if !matches!(args[0], DataType::List(_) | DataType::Null) {
                    return plan_err!("slice: expected an array, got {}", args[0]);
                }
                Ok(vec![
                    args[0].clone(),
                    integer(&args[1], f)?,
                    integer(&args[2], f)?,
                ])
            }
            Typeof => {
                arity(f, args, 1..=1)?;
                Ok(args.to_vec())
            }
            JsonParse | JsonFormat | IsJsonScalar | JsonArrayLength => {
                arity(f, args, 1..=1)?;
                Ok(vec![text(&args[0], f)?])
            }
            JsonExtract | JsonExtractScalar | JsonSize => {
                arity(f, args, 2..=2)?;
                Ok(vec![text(&args[0], f)?, text(&args[1], f)?])
            }
            JsonArrayContains => {
                arity(f, args, 2..=2)?;
                let value = match &args[1] {
                    DataType::Boolean => DataType::Boolean,
                    t if t.is_numeric() => DataType::Float64,
                    t => text(t, f)?,
                };
                Ok(vec![text(&args[0], f)?, value])
            }
            JsonArrayGet => {
                arity(f, args, 2..=2)?;
                Ok(vec![text(&args[0], f)?, integer(&args[1], f)?])
            }
            DateAdd => {
                arity(f, args, 3..=3)?;
                let value = if args[2] == DataType::Date32 {
                    DataType::Date32
                } else {
                    timestamp(&args[2], f)?
                };
                Ok(vec![text(&args[0], f)?, integer(&args[1], f)?, value])
            }
            DateDiff => {
                arity(f, args, 3..=3)?;
                Ok(vec![
                    text(&args[0], f)?,
                    timestamp(&args[1], f)?,
                    timestamp(&args[2], f)?,
                ])
            }
            DateFormat | FormatDatetime => {
                arity(f, args, 2..=2)?;
                Ok(vec![zoned(&args[0], f)?, text(&args[1], f)?])
            }
            DateParse | ParseDatetime => {
                arity(f, args, 2..=2)?;
                Ok(vec![text(&args[0], f)?, text(&args[1], f)?])
            }
            FromIso8601Timestamp | FromIso8601Date => {
                arity(f, args, 1..=1)?;
                Ok(vec![text(&args[0], f)?])
            }
            ToIso8601 => {
                arity(f, args, 1..=1)?;
                if args[0] == DataType::Date32 {
                    Ok(vec![DataType::Date32])
                } else {
                    Ok(vec![zoned(&args[0], f)?])
                }
            }
            FromUnixtime => {
                arity(f, args, 1..=1)?;
                Ok(vec![number(&args[0], f)?])
            }
            ToUnixtime => {
                arity(f, args, 1..=1)?;
                Ok(vec![timestamp(&args[0], f)?])
            }
            Field(_) => {
                arity(f, args, 1..=1)?;
                Ok(vec![zoned(&args[0], f)?])
            }
            Codepoint => {
                arity(f, args, 1..=1)?;
                Ok(vec![text(&args[0], f)?])
            }
            Sequence => {
                arity(f, args, 2..=3)?;
                sequence::coerce(args)
            }
            Url(part) => {
                let n = if part == urls::Part::Parameter { 2 } else { 1 };
                arity(f, args, n..=n)?;
                args.iter().map(|t| text(t, f)).collect()
            }
            RegexpExtract | RegexpExtractAll => {
                arity(f, args, 2..=3)?;
                let mut out = vec![text(&args[0], f)?, text(&args[1], f)?];
                if let Some(g) = args.get(2) {
                    out.push(integer(g, f)?);
                }
                Ok(out)
            }
            RegexpReplace => {
                arity(f, args, 2..=3)?;
                args.iter().map(|t| text(t, f)).collect()
            }
            Arn(_) => {
                arity(f, args, 1..=1)?;
                Ok(vec![text(&args[0], f)?])
            }
            PrincipalName => {
                arity(f, args, 1..=1)?;
                match &args[0] {
                    DataType::Struct(_) => Ok(args.to_vec()),
                    other => plan_err!("principal_name: expected useridentity, got {other}"),
                }
            }
        }
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        use Kind::*;
        Ok(match self.kind {
            ElementAt => collection::element_type(&args[0])?,
            Contains | IsJsonScalar | JsonArrayContains => DataType::Boolean,
            Slice => args[0].clone(),
            Typeof | JsonParse | JsonFormat | JsonExtract | JsonExtractScalar | JsonArrayGet
            | DateFormat | FormatDatetime | ToIso8601 | RegexpExtract | RegexpReplace | Arn(_)
            | PrincipalName => DataType::Utf8,
            Url(urls::Part::Port) => DataType::Int64,
            Sequence => sequence::return_type(args),
            Url(_) => DataType::Utf8,
            JsonArrayLength | JsonSize | DateDiff | Field(_) | Codepoint => DataType::Int64,
            DateAdd => args[2].clone(),
            DateParse | ParseDatetime | FromIso8601Timestamp | FromUnixtime => micros(),
            FromIso8601Date => DataType::Date32,
            ToUnixtime => DataType::Float64,
            RegexpExtractAll => DataType::new_list(DataType::Utf8, true),
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        use Kind::*;
        let n = args.number_rows;
        let a = &args.args;
        let lenient = self.lenient;
        match self.kind {
            ElementAt => collection::element_at(a, n),
            Contains => collection::contains(a, n),
            Slice => collection::slice(a, n),
            Typeof => Ok(text::type_of(args.arg_fields[0].data_type())),
            JsonParse => json::parse(a, n, lenient),
            JsonFormat => json::format(a, n),
            IsJsonScalar => json::is_scalar(a, n),
            JsonExtract => json::extract(a, n, false),
            JsonExtractScalar => json::extract(a, n, true),
            JsonArrayContains => json::array_contains(a, n),
            JsonArrayGet => json::array_get(a, n),
            JsonArrayLength => json::array_length(a, n),
            JsonSize => json::size(a, n),
            DateAdd => time::date_add(a, n),
            DateDiff => time::date_diff(a, n),
            DateFormat => time::date_format(a, n),
            DateParse => time::date_parse(a, n, lenient),
            FormatDatetime => time::format_datetime(a, n),
            ParseDatetime => time::parse_datetime(a, n, lenient),
            Codepoint => text::codepoint(a, n),
            Url(part) => urls::extract(a, n, part),
            Sequence => sequence::sequence(a, n),
            FromIso8601Timestamp => time::from_iso8601_timestamp(a, n, lenient),
            FromIso8601Date => time::from_iso8601_date(a, n, lenient),
            ToIso8601 => time::to_iso8601(a, n),
            FromUnixtime => time::from_unixtime(a, n),
            ToUnixtime => time::to_unixtime(a, n),
            Field(field) => time::field(a, n, field),
            RegexpExtract => text::regexp_extract(a, n),
            RegexpExtractAll => text::regexp_extract_all(a, n),
            RegexpReplace => text::regexp_replace(a, n),
            Arn(part) => arn::part(a, n, part),
            PrincipalName => arn::principal_name(a, n),
        }
    }
}

/// The argument as an array of `number_rows` rows.
fn array(arg: &ColumnarValue, rows: usize) -> Result<arrow::array::ArrayRef> {
    arg.to_array(rows)
}

/// A constant argument's string, for arguments that are compiled once (paths, patterns, formats).
fn constant_str(arg: &ColumnarValue) -> Option<Option<&str>> {
    use datafusion::common::ScalarValue;
    match arg {
        ColumnarValue::Scalar(ScalarValue::Utf8(s))
        | ColumnarValue::Scalar(ScalarValue::Utf8View(s))
        | ColumnarValue::Scalar(ScalarValue::LargeUtf8(s)) => Some(s.as_deref()),
        _ => None,
    }
}

/// An error about one row's value, naming the function.
fn bad_value<T>(function: &str, value: &str, why: impl std::fmt::Display) -> Result<T> {
    exec_err!("{function}: cannot read {value:?}: {why}")
}
