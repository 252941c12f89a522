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

/// Each row's values as display strings, `None` for NULL.
pub fn string_rows(
    batches: &[RecordBatch],
    options: &FormatOptions,
) -> Result<Vec<Vec<Option<String>>>> {
    let mut rows = Vec::new();
    for batch in batches {
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
