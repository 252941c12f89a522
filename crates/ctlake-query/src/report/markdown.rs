//! The report as Markdown, for pull requests and tickets.

use std::fmt::Write;

use super::{Report, heading};

/// Rows shown per table (the CSV and JSON files hold them all).
const TABLE_ROWS: usize = 50;

use crate::display::markdown_cell as cell;

/// The Markdown text.
pub(super) fn render(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {}\n\n{}\n", cell(&r.title), cell(&r.description));
    let _ = writeln!(
        out,
        "- Time range: {} .. {} (UTC)\n- Events in range: {}\n- Findings: {}\n",
        r.from.format("%Y-%m-%d %H:%M"),
        r.to.format("%Y-%m-%d %H:%M"),
        r.events,
        r.findings()
    );
    for o in &r.overrides {
        let _ = writeln!(out, "> **Warning:** {}\n", cell(&o.to_string()));
    }
    let _ = writeln!(out, "| query | what it finds | rows |\n|---|---|---|");
    for s in &r.sections {
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            s.query.name,
            cell(&s.query.description),
            s.rows.len()
        );
    }
    for s in &r.sections {
        let _ = writeln!(
            out,
            "\n## {}\n\n{} ({} rows; `ctlake query --saved {}`)\n",
            cell(&heading(s)),
            cell(&s.query.description),
            s.rows.len(),
            s.query.name
        );
        if s.rows.is_empty() {
            let _ = writeln!(out, "Nothing found.");
            continue;
        }
        let names: Vec<String> = s.schema.fields().iter().map(|f| cell(f.name())).collect();
        let _ = writeln!(
            out,
            "| {} |\n|{}",
            names.join(" | "),
            "---|".repeat(names.len())
        );
        for row in s.rows.iter().take(TABLE_ROWS) {
            let cells: Vec<String> = row
                .iter()
                .map(|v| cell(v.as_deref().unwrap_or("")))
                .collect();
            let _ = writeln!(out, "| {} |", cells.join(" | "));
        }
        if s.rows.len() > TABLE_ROWS {
            let _ = writeln!(
                out,
                "\nFirst {TABLE_ROWS} of {} rows; all are in {}.csv.",
                s.rows.len(),
                s.query.name
            );
        }
    }
    out
}
