//! Results in the shapes AWS's own tools return, so scripts written against CloudTrail keep
//! working: `aws cloudtrail lookup-events` (Event history) and CloudTrail Lake's
//! `GetQueryResults`. Library users get them as the CLI does.

use std::io::Write;

use arrow::array::{Array, AsArray, StringArray, StructArray};
use arrow::datatypes::{SchemaRef, TimestampMicrosecondType};
use arrow::record_batch::RecordBatch;
use serde_json::{Map, Value};

use crate::display::{display_options, string_rows};
use crate::{Error, Result};

/// `QueryStatistics` of a `GetQueryResults` response.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueryStatistics {
    /// Rows returned.
    pub results_count: u64,
    /// Events read from the lake's files.
    pub events_scanned: u64,
    /// Bytes read from the lake's files.
    pub bytes_scanned: u64,
    /// Wall time of the query.
    pub execution_time_millis: u64,
}

/// Writes CloudTrail Lake's `GetQueryResults` response: every value a string keyed by its
/// column, NULL as JSON null, timestamps as `2023-01-22 16:53:53.000`.
pub fn write_query_results(
    out: &mut dyn Write,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    statistics: &QueryStatistics,
) -> Result<()> {
    let names: Vec<&String> = schema.fields().iter().map(|f| f.name()).collect();
    let rows: Vec<Value> = string_rows(batches, &display_options(true))?
        .into_iter()
        .map(|row| {
            names
                .iter()
                .zip(row)
                .map(|(name, v)| serde_json::json!({ name.as_str(): v }))
                .collect()
        })
        .collect();
    let statistics = serde_json::json!({
        "ResultsCount": statistics.results_count,
        "TotalResultsCount": statistics.results_count,
        "EventsScanned": statistics.events_scanned,
        "BytesScanned": statistics.bytes_scanned,
        "ExecutionTimeInMillis": statistics.execution_time_millis,
    });
    // Written key by key to keep the order of AWS's responses (serde_json sorts map keys).
    let pretty = |v: &Value| -> Result<String> {
        Ok(serde_json::to_string_pretty(v)
            .map_err(std::io::Error::from)?
            .replace('\n', "\n  "))
    };
    writeln!(out, "{{")?;
    writeln!(out, "  \"QueryStatus\": \"FINISHED\",")?;
    writeln!(out, "  \"QueryStatistics\": {},", pretty(&statistics)?)?;
    writeln!(
        out,
        "  \"QueryResultRows\": {}",
        pretty(&Value::Array(rows))?
    )?;
    writeln!(out, "}}")?;
    Ok(())
}

/// The rows of a [`crate::Lake::lookup`] as `aws cloudtrail lookup-events` prints them:
/// `{"Events": [...]}`, each with its `CloudTrailEvent` JSON text.
pub fn lookup_events(batches: &[RecordBatch]) -> Result<Value> {
    let mut events = Vec::new();
    for b in batches {
        events.extend(batch_events(b)?);
    }
    Ok(serde_json::json!({ "Events": events }))
}

fn batch_events(b: &RecordBatch) -> Result<Vec<Value>> {
    let missing = |name: &str| Error::Lake {
        location: "lookup".into(),
        message: format!("the result has no column {name} of the expected type"),
    };
    let text = |name: &str| -> Result<&StringArray> {
        b.column_by_name(name)
            .and_then(|c| c.as_string_opt::<i32>())
            .ok_or_else(|| missing(name))
    };
    let (id, name, key, source, user, json) = (
        text("eventid")?,
        text("eventname")?,
        text("accesskeyid")?,
        text("eventsource")?,
        text("username")?,
        text("eventjson")?,
    );
    let readonly = b
        .column_by_name("readonly")
        .and_then(|c| c.as_boolean_opt())
        .ok_or_else(|| missing("readonly"))?;
    let time = b
        .column_by_name("eventtime")
        .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>())
        .ok_or_else(|| missing("eventtime"))?;
    let resources = b
        .column_by_name("resources")
        .and_then(|c| c.as_list_opt::<i32>())
        .ok_or_else(|| missing("resources"))?;
    let mut events = Vec::with_capacity(b.num_rows());
    for row in 0..b.num_rows() {
        let mut e = Map::new();
        let mut put = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                e.insert(k.to_string(), Value::String(v));
            }
        };
        let get = |a: &StringArray| a.is_valid(row).then(|| a.value(row).to_string());
        put("EventId", get(id));
        put("EventName", get(name));
        put(
            "ReadOnly",
            readonly
                .is_valid(row)
                .then(|| readonly.value(row).to_string()),
        );
        put("AccessKeyId", get(key));
        put(
            "EventTime",
            time.value_as_datetime(row)
                .filter(|_| time.is_valid(row))
                .map(|t| t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()),
        );
        put("EventSource", get(source));
        put("Username", get(user));
        let mut list = Vec::new();
        if resources.is_valid(row) {
            let items = resources.value(row);
            if let Some(items) = items.as_any().downcast_ref::<StructArray>() {
                let field = |n: &str| {
                    items
                        .column_by_name(n)
                        .and_then(|c| c.as_string_opt::<i32>().cloned())
                };
                let (ty, arn) = (field("type"), field("arn"));
                for i in 0..items.len() {
                    let v = |a: &Option<StringArray>| {
                        a.as_ref()
                            .filter(|a| a.is_valid(i))
                            .map(|a| a.value(i).to_string())
                    };
                    let mut r = Map::new();
                    if let Some(t) = v(&ty) {
                        r.insert("ResourceType".into(), t.into());
                    }
                    if let Some(n) = v(&arn) {
                        r.insert("ResourceName".into(), n.into());
                    }
                    list.push(Value::Object(r));
                }
            }
        }
        let cloudtrail_event = get(json);
        e.insert("Resources".into(), Value::Array(list));
        if let Some(j) = cloudtrail_event {
            e.insert("CloudTrailEvent".into(), j.into());
        }
        events.push(Value::Object(e));
    }
    Ok(events)
}
