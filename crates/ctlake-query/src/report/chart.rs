//! Charts as inline SVG: no script, no network, and the same picture in every browser.

use std::fmt::Write;

use arrow::datatypes::DataType;

use super::markup::escape;
use super::{Chart, Section};

const PALETTE: [&str; 9] = [
    "#4269d0", "#efb118", "#ff725c", "#6cc5b0", "#3ca951", "#ff8ab7", "#a463f2", "#97bbf5",
    "#9c6b4e",
];
const WIDTH: f64 = 760.0;

fn numeric(t: &DataType) -> bool {
    t.is_numeric()
}

fn temporal(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Timestamp(..) | DataType::Date32 | DataType::Date64
    )
}

/// The SVG for a section, or `None` when it has no chart or nothing to draw.
pub(super) fn svg(s: &Section) -> Option<String> {
    if s.rows.is_empty() {
        return None;
    }
    let fields = s.schema.fields();
    let index = |name: &str| fields.iter().position(|f| f.name() == name);
    let value = fields.iter().position(|f| numeric(f.data_type()))?;
    if s.item.chart == Chart::Insights {
        return (!s.series.is_empty()).then(|| insights(s));
    }
    match s.item.chart {
        Chart::None | Chart::Insights => None,
        Chart::Bar => {
            let label = s
                .item
                .label
                .as_deref()
                .and_then(index)
                .or_else(|| fields.iter().position(|f| !numeric(f.data_type())))
                .unwrap_or(0);
            Some(bars(s, label, value))
        }
        Chart::Line | Chart::Area => {
            let x = fields.iter().position(|f| temporal(f.data_type()))?;
            let series = s.item.label.as_deref().and_then(index).or_else(|| {
                fields
                    .iter()
                    .enumerate()
                    .position(|(i, f)| i != x && !numeric(f.data_type()))
            });
            Some(over_time(s, x, series, value, s.item.chart == Chart::Area))
        }
    }
}

fn number(v: &Option<String>) -> f64 {
    v.as_deref().and_then(|v| v.parse().ok()).unwrap_or(0.0)
}

fn bars(s: &Section, label: usize, value: usize) -> String {
    let rows: Vec<_> = s.rows.iter().take(15).collect();
    let max = rows
        .iter()
        .map(|r| number(&r[value]))
        .fold(0.0, f64::max)
        .max(1.0);
    let (left, bar_h, gap) = (260.0, 18.0, 6.0);
    let height = rows.len() as f64 * (bar_h + gap) + gap;
    let mut out = format!(
        r#"<svg class="chart" role="img" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" xmlns="http://www.w3.org/2000/svg">"#
    );
    for (i, r) in rows.iter().enumerate() {
        let y = gap + i as f64 * (bar_h + gap);
        let v = number(&r[value]);
        let w = (WIDTH - left - 90.0) * v / max;
        let name = r[label].as_deref().unwrap_or("(null)");
        let shown: String = name.chars().take(40).collect();
        let _ = write!(
            out,
            r#"<text x="{}" y="{}" text-anchor="end" class="label">{}</text><rect x="{left}" y="{y}" width="{w:.1}" height="{bar_h}" fill="{}"><title>{}: {}</title></rect><text x="{:.1}" y="{}" class="value">{}</text>"#,
            left - 8.0,
            y + bar_h - 5.0,
            escape(&shown),
            PALETTE[0],
            escape(name),
            escape(r[value].as_deref().unwrap_or("")),
            left + w + 6.0,
            y + bar_h - 5.0,
            escape(r[value].as_deref().unwrap_or("")),
        );
    }
    out.push_str("</svg>");
    out
}

/// A shown time value (`2021-07-28`, `2021-07-28T10:00:00`, `...+09:00`) in seconds.
fn instant(s: &str) -> Option<f64> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime};
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_micros() as f64 / 1e6);
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
            return Some(t.and_utc().timestamp_micros() as f64 / 1e6);
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp() as f64)
}

/// The points of a time chart: each distinct time at its place along the axis (0 to 1) with
/// its index in `xs`, and, where buckets are missing (a gap of more than one and a half of
/// the smallest step), points of value zero one step after the last bucket and one step
/// before the next: two years without events show as two years at zero, not as a slope
/// between neighbours. Times that do not read as times are placed evenly.
fn timeline(xs: &[String]) -> Vec<(f64, Option<usize>)> {
    let times: Option<Vec<f64>> = xs.iter().map(|x| instant(x)).collect();
    let even = || -> Vec<(f64, Option<usize>)> {
        (0..xs.len())
            .map(|i| {
                let f = if xs.len() > 1 {
                    i as f64 / (xs.len() - 1) as f64
                } else {
                    0.5
                };
                (f, Some(i))
            })
            .collect()
    };
    let Some(times) = times else {
        return even();
    };
    let (first, last) = (times[0], times[times.len() - 1]);
    let span = last - first;
    if times.len() < 2 || span <= 0.0 {
        return even();
    }
    let step = times
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|d| *d > 0.0)
        .fold(f64::INFINITY, f64::min);
    let at = |t: f64| (t - first) / span;
    let mut out = Vec::with_capacity(times.len() + 8);
    for (i, t) in times.iter().enumerate() {
        out.push((at(*t), Some(i)));
        if let Some(next) = times.get(i + 1)
            && next - t > 1.5 * step
        {
            out.push((at(t + step), None));
            if next - step > t + step {
                out.push((at(next - step), None));
            }
        }
    }
    out
}

fn over_time(s: &Section, x: usize, series: Option<usize>, value: usize, stacked: bool) -> String {
    // Points per (x, series); series ordered by their totals, the smallest folded into "other".
    let mut xs: Vec<String> = s.rows.iter().filter_map(|r| r[x].clone()).collect();
    xs.sort();
    xs.dedup();
    let name_of = |r: &Vec<Option<String>>| {
        series
            .map(|c| r[c].clone().unwrap_or_else(|| "(null)".into()))
            .unwrap_or_else(|| s.schema.field(value).name().clone())
    };
    let mut totals: Vec<(String, f64)> = Vec::new();
    for r in &s.rows {
        let n = name_of(r);
        match totals.iter_mut().find(|(k, _)| *k == n) {
            Some((_, t)) => *t += number(&r[value]),
            None => totals.push((n, number(&r[value]))),
        }
    }
    totals.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let keep: Vec<String> = totals.iter().take(8).map(|(n, _)| n.clone()).collect();
    let mut names = keep.clone();
    if totals.len() > keep.len() {
        names.push("other".into());
    }
    let mut grid = vec![vec![0.0; xs.len()]; names.len()];
    for r in &s.rows {
        let Some(xv) = &r[x] else { continue };
        let Ok(xi) = xs.binary_search(xv) else {
            continue;
        };
        let n = name_of(r);
        let si = keep.iter().position(|k| *k == n).unwrap_or(names.len() - 1);
        grid[si][xi] += number(&r[value]);
    }
    let (left, top, plot_w, plot_h) = (56.0, 10.0, WIDTH - 76.0, 200.0);
    let legend_rows = names.len().div_ceil(4) as f64;
    let height = top + plot_h + 30.0 + legend_rows * 18.0;
    // Where each point sits along the time axis, and zero points where buckets are missing.
    let points = timeline(&xs);
    let value_at = |g: &Vec<f64>, p: &(f64, Option<usize>)| p.1.map_or(0.0, |i| g[i]);
    let column_max = (0..xs.len())
        .map(|i| {
            if stacked {
                grid.iter().map(|g| g[i]).sum()
            } else {
                grid.iter().map(|g| g[i]).fold(0.0, f64::max)
            }
        })
        .fold(0.0, f64::max)
        .max(1.0);
    let px = |fraction: f64| left + plot_w * fraction;
    let py = |v: f64| top + plot_h - plot_h * v / column_max;
    let mut out = format!(
        r#"<svg class="chart" role="img" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" xmlns="http://www.w3.org/2000/svg">"#
    );
    let _ = write!(
        out,
        r##"<line x1="{left}" y1="{0}" x2="{1}" y2="{0}" stroke="#999"/><line x1="{left}" y1="{top}" x2="{left}" y2="{0}" stroke="#999"/><text x="{2}" y="{3}" text-anchor="end" class="value">{4}</text><text x="{2}" y="{0}" text-anchor="end" class="value">0</text>"##,
        top + plot_h,
        left + plot_w,
        left - 6.0,
        top + 10.0,
        column_max,
    );
    let mut base = vec![0.0; points.len()];
    for (si, name) in names.iter().enumerate() {
        let color = PALETTE[si % PALETTE.len()];
        let tops: Vec<f64> = points
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let v = value_at(&grid[si], p);
                if stacked { base[i] + v } else { v }
            })
            .collect();
        let line: Vec<String> = points
            .iter()
            .zip(&tops)
            .map(|(p, top)| format!("{:.1},{:.1}", px(p.0), py(*top)))
            .collect();
        if stacked {
            let under: Vec<String> = points
                .iter()
                .zip(&base)
                .rev()
                .map(|(p, b)| format!("{:.1},{:.1}", px(p.0), py(*b)))
                .collect();
            let _ = write!(
                out,
                r#"<polygon points="{} {}" fill="{color}" fill-opacity="0.85"><title>{}</title></polygon>"#,
                line.join(" "),
                under.join(" "),
                escape(name)
            );
        } else {
            let _ = write!(
                out,
                r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2"><title>{}</title></polyline>"#,
                line.join(" "),
                escape(name)
            );
        }
        // A dot on each bucket with events: a lone day in a span of years stays visible.
        for ((p, top), below) in points.iter().zip(&tops).zip(&base) {
            if let Some(i) = p.1
                && grid[si][i] > 0.0
                && (!stacked || top > below)
            {
                let _ = write!(
                    out,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="2.5" fill="{color}"><title>{}: {} {}</title></circle>"#,
                    px(p.0),
                    py(*top),
                    escape(name),
                    escape(&xs[i]),
                    grid[si][i]
                );
            }
        }
        if stacked {
            base = tops;
        }
    }
    if let (Some(first), Some(last)) = (xs.first(), xs.last()) {
        let _ = write!(
            out,
            r#"<text x="{left}" y="{0}" class="value">{1}</text><text x="{2}" y="{0}" text-anchor="end" class="value">{3}</text>"#,
            top + plot_h + 16.0,
            escape(first),
            left + plot_w,
            escape(last)
        );
    }
    for (si, name) in names.iter().enumerate() {
        let (col, row) = ((si % 4) as f64, (si / 4) as f64);
        let (lx, ly) = (left + col * 170.0, top + plot_h + 34.0 + row * 18.0);
        let _ = write!(
            out,
            r#"<rect x="{lx}" y="{}" width="10" height="10" fill="{}"/><text x="{}" y="{ly}" class="label">{}</text>"#,
            ly - 9.0,
            PALETTE[si % PALETTE.len()],
            lx + 14.0,
            escape(name)
        );
    }
    out.push_str("</svg>");
    out
}

/// Small multiples, one per insight: its series' calls a minute from half an hour before to
/// half an hour after, the insight shaded, and the baseline as a dashed line.
fn insights(s: &Section) -> String {
    let (w, h, pad) = (360.0, 120.0, 28.0);
    let per_row = 2usize;
    let rows = s.series.len().div_ceil(per_row);
    let height = rows as f64 * (h + 34.0);
    let mut out = format!(
        r#"<svg class="chart insight-chart" role="img" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" xmlns="http://www.w3.org/2000/svg">"#
    );
    for (k, series) in s.series.iter().enumerate() {
        let (ox, oy) = (
            (k % per_row) as f64 * (w + 40.0),
            (k / per_row) as f64 * (h + 34.0),
        );
        let (lo, hi) = series.span;
        let top = series
            .minutes
            .iter()
            .map(|(_, n)| *n as f64)
            .fold(series.baseline, f64::max)
            .max(1.0);
        let x = |m: i64| ox + pad + (w - pad) * (m - lo) as f64 / (hi - lo).max(1) as f64;
        let y = |v: f64| oy + 18.0 + (h - 18.0) * (1.0 - v / top);
        let _ = write!(
            out,
            r##"<text x="{ox}" y="{}" class="label">{}</text><rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="#ff725c" fill-opacity="0.15"/><line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#999" stroke-dasharray="4 3"><title>baseline {:.4}/min</title></line>"##,
            oy + 12.0,
            escape(&series.title),
            x(series.insight.0),
            oy + 18.0,
            x(series.insight.1) - x(series.insight.0),
            h - 18.0,
            x(lo),
            y(series.baseline),
            x(hi),
            y(series.baseline),
            series.baseline
        );
        // Every minute of the span, zero where there were no calls.
        let mut points = Vec::new();
        let mut it = series.minutes.iter().peekable();
        for m in lo..=hi {
            let n = match it.peek() {
                Some((at, n)) if *at == m => {
                    it.next();
                    *n
                }
                _ => 0,
            };
            points.push(format!("{:.1},{:.1}", x(m), y(n as f64)));
        }
        let _ = write!(
            out,
            r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="1.5"/><text x="{:.1}" y="{:.1}" text-anchor="end" class="value">{}</text>"#,
            points.join(" "),
            PALETTE[0],
            ox + pad - 4.0,
            y(top) + 8.0,
            top
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::timeline;

    #[test]
    fn points_sit_at_their_time_and_gaps_drop_to_zero() {
        let days = |d: &[&str]| d.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        // Days 1, 2, 3 and then 11: the eight missing days are zero.
        let t = timeline(&days(&[
            "2021-07-01",
            "2021-07-02",
            "2021-07-03",
            "2021-07-11",
        ]));
        let f = |d: f64| d / 10.0;
        assert_eq!(
            t,
            vec![
                (f(0.0), Some(0)),
                (f(1.0), Some(1)),
                (f(2.0), Some(2)),
                (f(3.0), None),
                (f(9.0), None),
                (f(10.0), Some(3)),
            ]
        );
        // Two years between monthly points: placed by time, not side by side.
        let m = timeline(&days(&["2019-01-01", "2019-02-01", "2021-02-01"]));
        assert!(m[1].0 < 0.05, "{m:?}");
        assert_eq!(m.last(), Some(&(1.0, Some(2))));
        // Not times: evenly spaced, as before.
        assert_eq!(
            timeline(&days(&["a", "b"])),
            vec![(0.0, Some(0)), (1.0, Some(1))]
        );
    }
}
