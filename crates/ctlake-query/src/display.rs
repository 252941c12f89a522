//! Values as people read them: timestamps the way CloudTrail Lake prints them, NULLs told apart
//! from empty strings. The CLI's tables, Markdown, the shell and [`crate::aws`] all print
//! through here, so a value looks the same wherever it is shown.

use arrow::array::Array;
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};

use crate::Result;

/// Display options: `lake_style` is CloudTrail Lake's (`2023-01-22 16:53:53.000`, NULL empty),
/// otherwise the shell's (seconds, NULL as `NULL`).
pub fn display_options(lake_style: bool) -> FormatOptions<'static> {
    let format = if lake_style {
        "%Y-%m-%d %H:%M:%S%.3f"
    } else {
        "%Y-%m-%d %H:%M:%S"
    };
    FormatOptions::default()
        .with_timestamp_format(Some(format))
        .with_timestamp_tz_format(Some(format))
        .with_null(if lake_style { "" } else { "NULL" })
}

/// Whether values of `t` are nested (struct, map, list): text outputs write them as JSON.
fn nested(t: &arrow::datatypes::DataType) -> bool {
    use arrow::datatypes::DataType::*;
    matches!(
        t,
        Struct(_) | Map(_, _) | List(_) | LargeList(_) | FixedSizeList(_, _) | ListView(_)
    )
}

/// `batch` with every nested column (struct, map, list) as JSON text: structs and maps as
/// objects, lists as arrays, a null inside them as `null`, a null value itself as NULL. CSV,
/// TSV, Markdown, tables and the shell show nested values this way, so `SELECT *` and
/// `useridentity` export like any other column.
pub fn nested_as_json(batch: &RecordBatch) -> Result<RecordBatch> {
    use arrow::array::{ArrayRef, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;
    if !batch
        .schema()
        .fields()
        .iter()
        .any(|f| nested(f.data_type()))
    {
        return Ok(batch.clone());
    }
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        if !nested(field.data_type()) {
            fields.push(field.as_ref().clone());
            columns.push(Arc::clone(column));
            continue;
        }
        let one = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new(
                "v",
                field.data_type().clone(),
                true,
            )])),
            vec![Arc::clone(column)],
        )?;
        let mut lines = Vec::new();
        {
            let mut w = arrow::json::WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, arrow::json::writer::LineDelimited>(&mut lines);
            w.write(&one)?;
            w.finish()?;
        }
        let values: Vec<Option<String>> = lines
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|line| {
                // Each line is `{"v":<value>}`: the value's text as written, fields in order.
                let value = line
                    .strip_prefix(br#"{"v":"#)
                    .and_then(|l| l.strip_suffix(b"}"))
                    .ok_or_else(|| {
                        arrow::error::ArrowError::JsonError("unexpected JSON line".into())
                    })?;
                Ok((value != b"null").then(|| String::from_utf8_lossy(value).into_owned()))
            })
            .collect::<std::result::Result<_, arrow::error::ArrowError>>()?;
        fields.push(Field::new(field.name(), DataType::Utf8, true));
        columns.push(Arc::new(StringArray::from(values)));
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

/// Each row's values as display strings, `None` for NULL (nested values as JSON text).
pub fn string_rows(
    batches: &[RecordBatch],
    options: &FormatOptions,
) -> Result<Vec<Vec<Option<String>>>> {
    let mut rows = Vec::new();
    for batch in batches {
        let batch = &nested_as_json(batch)?;
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), options))
            .collect::<Result<Vec<_>, _>>()?;
        // Logical nulls: a NULL literal's column has no null buffer, only a Null type.
        let nulls: Vec<_> = batch.columns().iter().map(|c| c.logical_nulls()).collect();
        for row in 0..batch.num_rows() {
            rows.push(
                nulls
                    .iter()
                    .zip(&formatters)
                    .map(|(n, f)| {
                        let null = n.as_ref().is_some_and(|n| n.is_null(row));
                        (!null).then(|| f.value(row).to_string())
                    })
                    .collect(),
            );
        }
    }
    Ok(rows)
}

/// Whether `c` acts on a terminal or reorders the text around it: C0 and C1 controls (the
/// escape sequences of terminals start with them), DEL, and Unicode's bidirectional controls.
fn unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

/// `s` as it may be shown to a person: characters that would act on the terminal or reorder
/// text (`ESC[2J`, `ESC]52;...` which writes the clipboard, `\r`, bidi overrides) become
/// visible escapes (`\x1b`, `\r`, `\u{202e}`). Values such as `useragent` are chosen by
/// whoever called the API, so every human-facing output goes through this; machine formats
/// (JSON, CSV to a file) keep the bytes.
pub fn escape_controls(s: &str) -> std::borrow::Cow<'_, str> {
    use std::fmt::Write;
    if !s.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if unsafe_char(c) && (c as u32) < 0x100 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if unsafe_char(c) => {
                let _ = write!(out, "\\u{{{:04x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Text for a Markdown table cell: control characters escaped (see [`escape_controls`]),
/// `<`, `>` and `&` as entities (Markdown renderers pass raw HTML through, and a value such as
/// `useragent` is the API caller's choice), `|` escaped.
pub fn markdown_cell(s: &str) -> String {
    escape_controls(s)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('|', "\\|")
}

/// [`string_rows`] with every value through [`escape_controls`]: for tables, Markdown and
/// the shell.
pub fn safe_rows(
    batches: &[RecordBatch],
    options: &FormatOptions,
) -> Result<Vec<Vec<Option<String>>>> {
    let mut rows = string_rows(batches, options)?;
    for v in rows.iter_mut().flatten().flatten() {
        if let std::borrow::Cow::Owned(e) = escape_controls(v) {
            *v = e;
        }
    }
    Ok(rows)
}

/// Text columns of `batch` through [`escape_controls`]: CSV and TSV shown on a terminal.
pub fn escape_batch(batch: &RecordBatch) -> Result<RecordBatch> {
    use arrow::array::{ArrayRef, AsArray, StringArray};
    use arrow::datatypes::DataType;
    let mut changed = false;
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    let mut fields = Vec::with_capacity(batch.num_columns());
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        let strings: Option<Vec<Option<String>>> = match column.data_type() {
            DataType::Utf8 => Some(
                column
                    .as_string::<i32>()
                    .iter()
                    .map(|v| v.map(|s| escape_controls(s).into_owned()))
                    .collect(),
            ),
            DataType::LargeUtf8 => Some(
                column
                    .as_string::<i64>()
                    .iter()
                    .map(|v| v.map(|s| escape_controls(s).into_owned()))
                    .collect(),
            ),
            DataType::Utf8View => Some(
                column
                    .as_string_view()
                    .iter()
                    .map(|v| v.map(|s| escape_controls(s).into_owned()))
                    .collect(),
            ),
            _ => None,
        };
        match strings {
            Some(values) => {
                changed = true;
                columns.push(std::sync::Arc::new(StringArray::from(values)));
                fields.push(field.as_ref().clone().with_data_type(DataType::Utf8));
            }
            None => {
                columns.push(column.clone());
                fields.push(field.as_ref().clone());
            }
        }
    }
    if !changed {
        return Ok(batch.clone());
    }
    let schema = std::sync::Arc::new(arrow::datatypes::Schema::new(fields));
    Ok(RecordBatch::try_new(schema, columns)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_controls_are_shown_not_obeyed() {
        assert_eq!(escape_controls("aws-cli/2.0"), "aws-cli/2.0");
        assert_eq!(escape_controls("a\u{1b}[2Jb"), "a\\x1b[2Jb");
        assert_eq!(
            escape_controls("\u{1b}]52;c;aGk=\u{7}"),
            "\\x1b]52;c;aGk=\\x07"
        );
        assert_eq!(escape_controls("x\ry\n"), "x\\ry\\n");
        assert_eq!(escape_controls("\u{202e}gpj.exe"), "\\u{202e}gpj.exe");
        assert_eq!(escape_controls("\u{9b}31m"), "\\x9b31m");
        assert_eq!(escape_controls("é 日本"), "é 日本");
    }
}
