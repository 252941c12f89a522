//! Results as the shell shows them: a table that fits the terminal (long values cut with an
//! ellipsis, one line per row), or expanded records (`\x`) that show every value whole.

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use comfy_table::{ContentArrangement, Table};

/// How rows are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expanded {
    /// Always a table.
    Off,
    /// Always one record per block.
    On,
    /// Records when the table would not fit the terminal.
    Auto,
}

/// Values as display strings (`NULL` for null), row by row.
pub fn cells(batches: &[RecordBatch]) -> anyhow::Result<Vec<Vec<String>>> {
    Ok(
        ctlake_query::display::safe_rows(batches, &ctlake_query::display::display_options(false))?
            .into_iter()
            .map(|row| {
                row.into_iter()
                    .map(|v| v.unwrap_or_else(|| "NULL".into()))
                    .collect()
            })
            .collect(),
    )
}

/// The width of the table with every value whole.
fn natural_width(names: &[String], rows: &[Vec<String>]) -> usize {
    let mut widths: Vec<usize> = names.iter().map(|n| n.chars().count()).collect();
    for row in rows {
        for (w, v) in widths.iter_mut().zip(row) {
            *w = (*w).max(v.chars().count());
        }
    }
    // "| " before each column, " " after, and the closing "|".
    widths.iter().map(|w| w + 3).sum::<usize>() + 1
}

/// Renders rows as a table no wider than `width`, or as records (see [`Expanded`]).
pub fn render(
    schema: &SchemaRef,
    rows: &[Vec<String>],
    width: usize,
    expanded: Expanded,
) -> String {
    let names: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| ctlake_query::display::escape_controls(f.name()).into_owned())
        .collect();
    let records = match expanded {
        Expanded::On => true,
        Expanded::Off => false,
        Expanded::Auto => natural_width(&names, rows) > width,
    };
    if records && !rows.is_empty() {
        return expanded_records(&names, rows, width);
    }
    let mut table = Table::new();
    table
        .load_preset(comfy_table::presets::ASCII_MARKDOWN)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(width.clamp(20, u16::MAX as usize) as u16)
        .set_truncation_indicator("…")
        .set_header(names);
    for row in rows {
        let mut r = comfy_table::Row::from(row.clone());
        r.max_height(1);
        table.add_row(r);
    }
    table.to_string()
}

/// psql's expanded display: one block per record, names left, values whole.
fn expanded_records(names: &[String], rows: &[Vec<String>], width: usize) -> String {
    let name_width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
    let mut out = String::new();
    for (i, row) in rows.iter().enumerate() {
        let title = format!("-[ RECORD {} ]", i + 1);
        let rule = width
            .min(name_width + 40)
            .saturating_sub(title.chars().count());
        out.push_str(&title);
        out.push_str(&"-".repeat(rule.max(3)));
        out.push('\n');
        for (name, value) in names.iter().zip(row) {
            out.push_str(&format!("{name:name_width$} | {value}\n"));
        }
    }
    out.pop();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("eventname", DataType::Utf8, true),
            Field::new("eventjson", DataType::Utf8, true),
        ]))
    }

    #[test]
    fn long_values_are_cut_to_fit_the_width() {
        let rows = vec![vec!["GetObject".to_string(), "x".repeat(300)]];
        let text = render(&schema(), &rows, 60, Expanded::Off);
        for line in text.lines() {
            assert!(line.chars().count() <= 60, "{line:?} is wider than 60");
        }
        assert!(text.contains('…'), "{text}");
        assert!(text.contains("GetObject"));
        assert_eq!(text.lines().count(), 3, "one line per row:\n{text}");
    }

    #[test]
    fn expanded_shows_values_whole() {
        let rows = vec![
            vec!["GetObject".to_string(), "x".repeat(300)],
            vec!["PutObject".to_string(), "NULL".to_string()],
        ];
        let text = render(&schema(), &rows, 60, Expanded::On);
        assert!(text.starts_with("-[ RECORD 1 ]"));
        assert!(text.contains(&format!("eventjson | {}", "x".repeat(300))));
        assert!(text.contains("-[ RECORD 2 ]"));
        assert!(text.contains("eventname | PutObject"));
        // Auto picks records only when the table would not fit.
        let auto = render(&schema(), &rows, 60, Expanded::Auto);
        assert!(auto.starts_with("-[ RECORD 1 ]"));
        let narrow = vec![vec!["GetObject".to_string(), "{}".to_string()]];
        assert!(render(&schema(), &narrow, 60, Expanded::Auto).starts_with('|'));
    }
}
