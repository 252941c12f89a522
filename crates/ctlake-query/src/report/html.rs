//! The report as one self-contained HTML page: inline CSS and SVG, nothing fetched.

use std::fmt::Write;

use super::markup::escape;
use super::{Report, Section, chart, heading};

/// Rows shown per table (the CSV and JSON files hold them all).
const TABLE_ROWS: usize = 200;

const STYLE: &str = r#"
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2330; margin: 0; background: #f6f7f9; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 32px 48px; }
h1 { margin: 0 0 4px; font-size: 26px; }
h2 { margin: 0 0 2px; font-size: 18px; text-transform: capitalize; }
.lead { color: #4a5263; margin: 0 0 20px; }
section { background: #fff; border: 1px solid #e1e4ea; border-radius: 8px; padding: 18px 20px; margin: 16px 0; }
dl { display: grid; grid-template-columns: repeat(4, 1fr); gap: 8px 24px; margin: 0 0 14px; }
dt { color: #6a7283; font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
dd { margin: 0; font-size: 20px; font-weight: 600; }
table { border-collapse: collapse; width: 100%; font-size: 13px; margin-top: 10px; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #edf0f4; vertical-align: top; }
th { background: #f0f2f6; font-weight: 600; }
td { max-width: 420px; overflow-wrap: anywhere; }
.meta { color: #6a7283; margin: 0 0 8px; font-size: 12px; }
.finding { color: #b3261e; font-weight: 600; }
.override { color: #b3261e; border-left: 4px solid #b3261e; padding-left: .5em; }
.clear { color: #2e7d32; }
.chart { max-width: 100%; height: auto; display: block; margin: 8px 0; }
.chart .label { font-size: 12px; fill: #1d2330; }
.chart .value { font-size: 11px; fill: #4a5263; }
footer { color: #6a7283; font-size: 12px; margin-top: 24px; }
a { color: #2c5cc5; text-decoration: none; }
"#;

/// The page.
pub(super) fn render(r: &Report) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{}</title><style>{STYLE}</style></head><body><main>",
        escape(&r.title)
    );
    let _ = write!(
        out,
        "<h1>{}</h1><p class=\"lead\">{}</p>",
        escape(&r.title),
        escape(&r.description)
    );
    let _ = write!(
        out,
        "<section class=\"summary\"><dl><div><dt>From</dt><dd>{}</dd></div><div><dt>To</dt><dd>{}</dd></div><div><dt>Events in range</dt><dd id=\"events\">{}</dd></div><div><dt>Findings</dt><dd id=\"findings\">{}</dd></div></dl>",
        r.from.format("%Y-%m-%d %H:%M"),
        r.to.format("%Y-%m-%d %H:%M"),
        r.events,
        r.findings()
    );
    for o in &r.overrides {
        let _ = write!(
            out,
            "<p class=\"override\"><strong>Warning:</strong> {}</p>",
            escape(&o.to_string())
        );
    }
    out.push_str(
        "<table><thead><tr><th>Query</th><th>What it finds</th><th>Rows</th></tr></thead><tbody>",
    );
    for s in &r.sections {
        let class = match (s.detection, s.rows.is_empty()) {
            (true, false) => " class=\"finding\"",
            (true, true) => " class=\"clear\"",
            _ => "",
        };
        let _ = write!(
            out,
            "<tr><td><a href=\"#{0}\">{0}</a></td><td>{1}</td><td{class}>{2}</td></tr>",
            escape(&s.query.name),
            escape(&s.query.description),
            s.rows.len()
        );
    }
    out.push_str("</tbody></table></section>");
    for s in &r.sections {
        section(&mut out, s);
    }
    let _ = writeln!(
        out,
        "<footer>Made by ctlake {} from the saved queries named above; each query's full result is in &lt;name&gt;.csv and &lt;name&gt;.json beside this page.</footer></main></body></html>",
        env!("CARGO_PKG_VERSION")
    );
    out
}

fn section(out: &mut String, s: &Section) {
    let _ = write!(
        out,
        "<section id=\"{}\"><h2>{}</h2><p class=\"meta\">{} rows · <code>ctlake query --saved {}</code>{}</p><p>{}</p>",
        escape(&s.query.name),
        escape(&heading(s)),
        s.rows.len(),
        escape(&s.query.name),
        if s.query.tags.is_empty() {
            String::new()
        } else {
            format!(" · {}", escape(&s.query.tags.join(", ")))
        },
        escape(&s.query.description)
    );
    if let Some(svg) = chart::svg(s) {
        out.push_str(&svg);
    }
    if s.rows.is_empty() {
        out.push_str("<p class=\"clear\">Nothing found.</p></section>");
        return;
    }
    out.push_str("<table><thead><tr>");
    for f in s.schema.fields() {
        let _ = write!(out, "<th>{}</th>", escape(f.name()));
    }
    out.push_str("</tr></thead><tbody>");
    for row in s.rows.iter().take(TABLE_ROWS) {
        out.push_str("<tr>");
        for v in row {
            let _ = write!(out, "<td>{}</td>", escape(v.as_deref().unwrap_or("")));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    if s.rows.len() > TABLE_ROWS {
        let _ = write!(
            out,
            "<p class=\"meta\">First {TABLE_ROWS} of {} rows; all are in {}.csv.</p>",
            s.rows.len(),
            escape(&s.query.name)
        );
    }
    out.push_str("</section>");
}
