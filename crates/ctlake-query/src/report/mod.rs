//! Batch reports: a set of saved queries run over one time window and written as a
//! self-contained HTML page (charts drawn as inline SVG, so it opens offline), a Markdown file
//! with the same content, and one CSV and one JSON file per query.
//!
//! A report spec is a small TOML file:
//!
//! ```toml
//! title = "Security findings"
//! [[query]]
//! name = "failed-console-logins"   # a saved query
//! chart = "bar"                    # none (default), bar, line or area
//! label = "sourceipaddress"        # optional: the bar labels / the series column
//! params = { min_denials = "5" }   # optional parameter values
//! ```
//!
//! A query tagged `detection` counts its rows as findings.

mod chart;
mod html;
mod markdown;
mod markup;

use std::collections::BTreeMap;
use std::path::Path;

use arrow::array::Array;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use arrow::util::display::FormatOptions;
use chrono::NaiveDateTime;
use serde::Deserialize;

use crate::Lake;
use crate::error::{Error, Result};
use crate::saved::{Library, SavedQuery};

/// How a query's result is drawn.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Chart {
    /// A table only.
    #[default]
    None,
    /// Horizontal bars: a label per row, its first numeric column as the length (top-N).
    Bar,
    /// A line per series over time.
    Line,
    /// Stacked areas per series over time.
    Area,
    /// For the `insights` query: per insight, its series' calls a minute around it, with its
    /// baseline.
    Insights,
}

/// One query of a report.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    /// The saved query's name.
    pub name: String,
    /// How to draw it.
    #[serde(default)]
    pub chart: Chart,
    /// The column of bar labels, or of series for line and area charts.
    pub label: Option<String>,
    /// Parameter values.
    #[serde(default)]
    pub params: BTreeMap<String, String>,
}

/// A report: a title and its queries.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// The page's title.
    pub title: String,
    /// A line under the title.
    #[serde(default)]
    pub description: String,
    /// The queries, in order.
    #[serde(rename = "query")]
    pub queries: Vec<Item>,
}

impl Spec {
    /// Reads a spec from TOML.
    pub fn parse(origin: &str, text: &str) -> Result<Self> {
        toml::from_str(text).map_err(|e| Error::Saved {
            name: origin.to_string(),
            message: e.to_string(),
        })
    }

    /// A built-in report: `overview` or `security`.
    pub fn built_in(name: &str) -> Result<Self> {
        let file =
            crate::saved::built_in_file(&format!("reports/{name}.toml")).ok_or_else(|| {
                Error::Saved {
                    name: name.to_string(),
                    message: "no such built-in report (overview, security)".into(),
                }
            })?;
        Self::parse(name, file)
    }
}

/// One query's result in a report.
#[derive(Debug)]
pub struct Section {
    /// The saved query.
    pub query: SavedQuery,
    /// How it is drawn.
    pub item: Item,
    /// Its result's schema.
    pub schema: SchemaRef,
    /// Its result.
    pub batches: Vec<RecordBatch>,
    /// Each row's values as text (`None` for NULL).
    pub rows: Vec<Vec<Option<String>>>,
    /// Whether its rows are findings (the query is tagged `detection`).
    pub detection: bool,
    /// For an insights chart: per row, the calls a minute of its series around it.
    pub series: Vec<InsightSeries>,
}

/// One insight's series for its chart: `(minute, calls)` from half an hour before it to half
/// an hour after, and the insight's bounds and baseline.
#[derive(Debug, Clone)]
pub struct InsightSeries {
    /// A title: type and API.
    pub title: String,
    /// Calls per minute (minutes since the epoch); minutes without calls are absent.
    pub minutes: Vec<(i64, u64)>,
    /// The first and the last minute drawn.
    pub span: (i64, i64),
    /// The insight's first minute and the minute after its last.
    pub insight: (i64, i64),
    /// The baseline's calls a minute.
    pub baseline: f64,
}

/// A report's results.
#[derive(Debug)]
pub struct Report {
    /// The spec's title.
    pub title: String,
    /// The spec's description.
    pub description: String,
    /// The time window.
    pub from: NaiveDateTime,
    /// Its end (exclusive).
    pub to: NaiveDateTime,
    /// Events in the window.
    pub events: u64,
    /// The queries' results, in spec order.
    pub sections: Vec<Section>,
    /// The report's queries that a folder's file overrides (see [`crate::saved::Override`]),
    /// said at the top of the report: a replaced detection must not pass unnoticed.
    pub overrides: Vec<crate::saved::Override>,
}

impl Report {
    /// Findings: rows of detection queries.
    pub fn findings(&self) -> usize {
        self.sections
            .iter()
            .filter(|s| s.detection)
            .map(|s| s.rows.len())
            .sum()
    }

    /// Writes `index.html`, `report.md` and a CSV and a JSON file per query into `dir`.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let io = |e: std::io::Error| Error::Saved {
            name: dir.display().to_string(),
            message: e.to_string(),
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        std::fs::write(dir.join("index.html"), html::render(self)).map_err(io)?;
        std::fs::write(dir.join("report.md"), markdown::render(self)).map_err(io)?;
        for s in &self.sections {
            let csv =
                std::fs::File::create(dir.join(format!("{}.csv", s.query.name))).map_err(io)?;
            let mut w = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(csv);
            if s.batches.is_empty() {
                w.write(&crate::display::nested_as_json(&RecordBatch::new_empty(
                    s.schema.clone(),
                ))?)?;
            }
            for b in &s.batches {
                w.write(&crate::display::nested_as_json(b)?)?;
            }
            let json =
                std::fs::File::create(dir.join(format!("{}.json", s.query.name))).map_err(io)?;
            let mut w = arrow::json::ArrayWriter::new(json);
            for b in &s.batches {
                w.write(b)?;
            }
            w.finish()?;
        }
        Ok(())
    }
}

/// For each row of the `insights` query, its series' calls a minute around it.
async fn insight_series(
    lake: &Lake,
    schema: &SchemaRef,
    rows: &[Vec<Option<String>>],
) -> Result<Vec<InsightSeries>> {
    let col = |name: &str| schema.fields().iter().position(|f| f.name() == name);
    let (
        Some(started),
        Some(ended),
        Some(kind),
        Some(account),
        Some(region),
        Some(source),
        Some(name),
        Some(code),
        Some(base),
    ) = (
        col("started"),
        col("ended"),
        col("insight_type"),
        col("account"),
        col("region"),
        col("event_source"),
        col("event_name"),
        col("error_code"),
        col("baseline_per_minute"),
    )
    else {
        return Ok(Vec::new());
    };
    let minute = |t: &Option<String>| {
        t.as_deref()
            .and_then(|t| {
                NaiveDateTime::parse_from_str(&t.replace('T', " "), "%Y-%m-%d %H:%M:%S").ok()
            })
            .map(|t| t.and_utc().timestamp() / 60)
    };
    let text = |s: &str| format!("'{}'", s.replace('\'', "''"));
    let mut out = Vec::new();
    for r in rows.iter().take(20) {
        let (Some(s), e) = (minute(&r[started]), minute(&r[ended])) else {
            continue;
        };
        let e = e.unwrap_or(s + 1);
        let span = (s - 30, e + 30);
        let error = r[kind].as_deref() == Some("ApiErrorRateInsight");
        let filter = if error {
            format!("errorcode = {}", text(r[code].as_deref().unwrap_or("")))
        } else {
            "readonly = false AND coalesce(eventcategory, 'Management') = 'Management'".to_string()
        };
        let at = |m: i64| {
            chrono::DateTime::from_timestamp(m * 60, 0)
                .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                .unwrap_or_default()
        };
        let sql = format!(
            "SELECT CAST(floor(to_unixtime(eventtime) / 60) AS BIGINT) AS m, count(*) AS n FROM cloudtrail \
             WHERE eventtime >= TIMESTAMP '{}' AND eventtime < TIMESTAMP '{}' AND recipientaccountid = {} \
             AND awsregion = {} AND eventsource = {} AND eventname = {} AND {filter} GROUP BY 1 ORDER BY 1",
            at(span.0),
            at(span.1),
            text(r[account].as_deref().unwrap_or("")),
            text(r[region].as_deref().unwrap_or("")),
            text(r[source].as_deref().unwrap_or("")),
            text(r[name].as_deref().unwrap_or("")),
        );
        let mut minutes = Vec::new();
        for b in lake.query(&sql).await? {
            let m = arrow::compute::cast(b.column(0), &arrow::datatypes::DataType::Int64)?;
            let n = arrow::compute::cast(b.column(1), &arrow::datatypes::DataType::Int64)?;
            let (m, n) = (
                m.as_any().downcast_ref::<arrow::array::Int64Array>(),
                n.as_any().downcast_ref::<arrow::array::Int64Array>(),
            );
            if let (Some(m), Some(n)) = (m, n) {
                minutes.extend(
                    m.values()
                        .iter()
                        .zip(n.values())
                        .map(|(m, n)| (*m, (*n).max(0) as u64)),
                );
            }
        }
        out.push(InsightSeries {
            title: format!(
                "{} {}{}",
                r[kind].as_deref().unwrap_or(""),
                r[name].as_deref().unwrap_or(""),
                r[code]
                    .as_deref()
                    .map(|c| format!(" ({c})"))
                    .unwrap_or_default()
            ),
            minutes,
            span,
            insight: (s, e),
            baseline: r[base]
                .as_deref()
                .and_then(|b| b.parse().ok())
                .unwrap_or(0.0),
        });
    }
    Ok(out)
}

/// Runs every query of `spec` on `lake` over `[from, to)`.
pub async fn run(
    lake: &Lake,
    library: &Library,
    spec: &Spec,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> Result<Report> {
    let micros = |t: NaiveDateTime| t.and_utc().timestamp_micros();
    let events = lake
        .sql(&format!(
            "SELECT count(*) FROM cloudtrail WHERE eventtime >= to_timestamp_micros({}) AND eventtime < to_timestamp_micros({})",
            micros(from),
            micros(to)
        ))
        .await?
        .collect()
        .await?;
    let events = events
        .first()
        .and_then(|b| {
            b.column(0)
                .as_any()
                .downcast_ref::<arrow::array::Int64Array>()
                .map(|a| a.value(0) as u64)
        })
        .unwrap_or(0);
    let window = |t: NaiveDateTime| t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let mut sections = Vec::with_capacity(spec.queries.len());
    for item in &spec.queries {
        let query = library.get(&item.name)?.clone();
        let mut params = item.params.clone();
        for (name, t) in [("start", from), ("end", to)] {
            if query.param(name).is_some() {
                params.entry(name.to_string()).or_insert_with(|| window(t));
            }
        }
        let frame = lake.saved(&query, &params).await?.frame;
        let schema: SchemaRef = std::sync::Arc::new(frame.schema().as_arrow().clone());
        let batches = lake.run(frame).await?.batches;
        let rows = text_rows(&batches)?;
        let detection = query.tags.iter().any(|t| t == "detection");
        let series = if item.chart == Chart::Insights {
            insight_series(lake, &schema, &rows).await?
        } else {
            Vec::new()
        };
        sections.push(Section {
            query,
            item: item.clone(),
            schema,
            batches,
            rows,
            detection,
            series,
        });
    }
    Ok(Report {
        title: spec.title.clone(),
        description: spec.description.clone(),
        from,
        to,
        events,
        overrides: spec
            .queries
            .iter()
            .filter_map(|item| library.override_of(&item.name).cloned())
            .collect(),
        sections,
    })
}

/// The report's cells: timestamps to the second, NULL as `None`.
fn text_rows(batches: &[RecordBatch]) -> Result<Vec<Vec<Option<String>>>> {
    let options = FormatOptions::default().with_timestamp_format(Some("%Y-%m-%d %H:%M:%S"));
    crate::display::string_rows(batches, &options)
}

/// The heading a section is shown under: the query's name in words.
pub fn heading(s: &Section) -> String {
    s.query.name.replace('-', " ")
}
