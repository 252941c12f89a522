//! CloudTrail Insights from the lake: unusual rates of write API calls (`ApiCallRateInsight`)
//! and of errors (`ApiErrorRateInsight`) per account, region and API, against each series' own
//! seven-day baseline, found by [`detector`] and kept in the lake as the `insights` table.
//!
//! One aggregation query gives every series' calls per minute, sorted by series, so the
//! detector sees one series at a time (memory bounded by one series' minutes with calls, not
//! by events). Each insight is two records sharing `sharedEventID`, a Start and an End, in the
//! shape trails deliver under `CloudTrail-Insight/`.

pub mod detector;

use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Field, Fields, Int64Type, Schema, SchemaRef, TimeUnit};
use bytes::Bytes;
use chrono::{DateTime, NaiveDateTime, Utc};
use object_store::ObjectStoreExt;
use object_store::path::Path as StorePath;
use serde_json::{Value, json};

use crate::{Error, Lake, Result};
pub use detector::Params;

/// The table's name.
pub const TABLE: &str = "insights";
/// The manifest naming the table's current data file.
const MANIFEST: &str = "_ctlake/insights.json";
/// Where its data files live.
const DIR: &str = "insights";
/// The attributions AWS reports, with the column each is read from.
const ATTRIBUTES: [(&str, &str); 3] = [
    ("userIdentityArn", "useridentity['arn']"),
    ("userAgent", "useragent"),
    ("errorCode", "errorcode"),
];

/// The two kinds of insight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Write management calls per minute.
    ApiCallRate,
    /// Calls that returned an error, per minute and error code.
    ApiErrorRate,
}

impl Kind {
    /// AWS's name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::ApiCallRate => "ApiCallRateInsight",
            Kind::ApiErrorRate => "ApiErrorRateInsight",
        }
    }
}

/// One insight found.
#[derive(Debug, Clone)]
pub struct Insight {
    /// Its kind.
    pub kind: Kind,
    /// `recipientAccountId`.
    pub account: String,
    /// `awsRegion`.
    pub region: String,
    /// `eventSource`.
    pub source: String,
    /// `eventName`.
    pub name: String,
    /// The error code (error insights).
    pub error_code: Option<String>,
    /// What the detector found.
    pub found: detector::Found,
    /// The top values of each attribute.
    pub attributions: Vec<Attribution>,
}

/// The top values of one attribute (`userIdentityArn`, `userAgent`, `errorCode`) with their
/// calls a minute in the insight and in the baseline.
#[derive(Debug, Clone)]
pub struct Attribution {
    /// AWS's name of the attribute.
    pub attribute: String,
    /// Up to five values during the insight.
    pub insight: Vec<(String, f64)>,
    /// Up to five values during the baseline.
    pub baseline: Vec<(String, f64)>,
}

fn minute_time(m: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(m * 60, 0).unwrap_or_default()
}

fn sql_text(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

impl Insight {
    /// The SQL condition selecting this insight's series.
    fn series_condition(&self) -> String {
        let mut c = format!(
            "recipientaccountid = {} AND awsregion = {} AND eventsource = {} AND eventname = {}",
            sql_text(&self.account),
            sql_text(&self.region),
            sql_text(&self.source),
            sql_text(&self.name)
        );
        match (&self.kind, &self.error_code) {
            (Kind::ApiErrorRate, Some(code)) => {
                c.push_str(&format!(" AND errorcode = {}", sql_text(code)))
            }
            _ => c.push_str(
                " AND readonly = false AND coalesce(eventcategory, 'Management') = 'Management'",
            ),
        }
        c
    }

    /// The Start and End records, as trails deliver them (AWS's field names).
    pub fn records(&self, params: &Params) -> [Value; 2] {
        let shared = self.id("shared");
        let list = |v: &[(String, f64)]| -> Vec<Value> {
            v.iter()
                .map(|(value, average)| json!({ "value": value, "average": average }))
                .collect()
        };
        let attributions: Vec<Value> = self
            .attributions
            .iter()
            .map(|a| json!({ "attribute": a.attribute, "insight": list(&a.insight), "baseline": list(&a.baseline) }))
            .collect();
        let context = json!({
            "statistics": {
                "baseline": { "average": self.found.baseline_average },
                "insight": { "average": self.found.average() },
                "insightDuration": self.found.end - self.found.start,
                "baselineDuration": params.baseline,
            },
            "attributions": attributions,
        });
        let record = |state: &str, at: i64| {
            let mut details = json!({
                "state": state,
                "eventSource": self.source,
                "eventName": self.name,
                "insightType": self.kind.name(),
                "insightContext": context,
            });
            if let Some(code) = &self.error_code {
                details["errorCode"] = json!(code);
            }
            json!({
                "eventVersion": "1.08",
                "eventTime": minute_time(at).format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                "awsRegion": self.region,
                "eventID": self.id(state),
                "eventType": "AwsCloudTrailInsight",
                "recipientAccountId": self.account,
                "sharedEventID": shared,
                "insightDetails": details,
                "eventCategory": "Insight",
            })
        };
        [
            record("Start", self.found.start),
            record("End", self.found.end),
        ]
    }

    /// A stable ID: the same insight found again gets the same IDs.
    fn id(&self, what: &str) -> String {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (
            self.kind.name(),
            &self.account,
            &self.region,
            &self.source,
            &self.name,
        )
            .hash(&mut h);
        (&self.error_code, self.found.start, what).hash(&mut h);
        let a = h.finish();
        what.hash(&mut h);
        let b = h.finish();
        format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            b >> 52,
            b & 0xffff_ffff_ffff
        )
    }
}

/// Finds the insights that start in `[from, to)`.
/// What [`Lake::compute_insights`] did.
#[derive(Debug)]
pub struct Computed {
    /// The insights found.
    pub insights: Vec<Insight>,
    /// Their Start and End records.
    pub records: Vec<Value>,
    /// The window analysed, in whole minutes.
    pub from: NaiveDateTime,
    /// Its end.
    pub to: NaiveDateTime,
    /// Whether the last run's kept baselines were used (only the window's events were read).
    pub went_on: bool,
}

/// A series: kind (0 call rate, 1 error rate), then account, region, source, name, error code.
pub type SeriesKey = (i64, [String; 5]);

/// The baseline kept between runs: each series' calls per minute over the last baseline
/// (minutes with calls only), so a run that goes on from the last one reads only the new
/// minutes' events.
pub type Baselines = std::collections::BTreeMap<SeriesKey, Vec<(i64, u64)>>;

/// Finds the insights that start in `[from, to)`. With `kept`, the baselines a run ending
/// at `from` left, only events from `from` on are read; without, the seven days before `from`
/// too. Returns the insights and the baselines to keep for the next run.
pub async fn analyse(
    lake: &Lake,
    from: NaiveDateTime,
    to: NaiveDateTime,
    p: &Params,
    kept: Option<Baselines>,
) -> Result<(Vec<Insight>, Baselines)> {
    let snapshot = lake.snapshot();
    let Some(first_us) = snapshot.files.values().map(|f| f.min_time_us).min() else {
        return Ok((Vec::new(), Baselines::new()));
    };
    let history_from = first_us.div_euclid(60_000_000);
    let analyse_from = from.and_utc().timestamp().div_euclid(60);
    let keep_from = to.and_utc().timestamp().div_euclid(60) - p.baseline - p.window;
    let incremental = kept.is_some();
    let mut kept = kept.unwrap_or_default();
    let mut next = Baselines::new();
    let read_from = if incremental {
        from
    } else {
        from - chrono::Duration::minutes(p.baseline + p.window)
    };
    let window = format!(
        "eventtime >= TIMESTAMP '{}' AND eventtime < TIMESTAMP '{}'",
        read_from.format("%Y-%m-%d %H:%M:%S"),
        to.format("%Y-%m-%d %H:%M:%S")
    );
    let minute = "CAST(floor(to_unixtime(eventtime) / 60) AS BIGINT)";
    let sql = format!(
        "SELECT 0 AS kind, recipientaccountid AS account, awsregion AS region, eventsource AS source, \
           eventname AS name, '' AS code, {minute} AS minute, count(*) AS calls \
         FROM cloudtrail WHERE {window} AND readonly = false \
           AND coalesce(eventcategory, 'Management') = 'Management' \
         GROUP BY 1, 2, 3, 4, 5, 6, 7 \
         UNION ALL \
         SELECT 1, recipientaccountid, awsregion, eventsource, eventname, errorcode, {minute}, count(*) \
         FROM cloudtrail WHERE {window} AND errorcode IS NOT NULL \
         GROUP BY 1, 2, 3, 4, 5, 6, 7 \
         ORDER BY 1, 2, 3, 4, 5, 6, 7"
    );
    let mut stream = lake.execute(lake.sql(&sql).await?).await?;
    let mut insights = Vec::new();
    let mut key: Option<SeriesKey> = None;
    let mut series: Vec<(i64, u64)> = Vec::new();
    let mut finish = |key: &Option<SeriesKey>,
                      series: &mut Vec<(i64, u64)>,
                      kept: &mut Baselines,
                      out: &mut Vec<Insight>| {
        let Some(k) = key else {
            return;
        };
        // The kept minutes come before the new ones (they end where this run starts).
        if let Some(mut old) = kept.remove(k) {
            old.retain(|(m, _)| *m < analyse_from);
            old.append(series);
            *series = old;
        }
        let (kind, [account, region, source, name, code]) = k;
        for found in detector::detect(series, history_from, analyse_from, p) {
            let kind = if *kind == 0 {
                Kind::ApiCallRate
            } else {
                Kind::ApiErrorRate
            };
            out.push(Insight {
                kind,
                account: account.clone(),
                region: region.clone(),
                source: source.clone(),
                name: name.clone(),
                error_code: (kind == Kind::ApiErrorRate).then(|| code.clone()),
                found,
                attributions: Vec::new(),
            });
        }
        let recent: Vec<(i64, u64)> = series
            .iter()
            .copied()
            .filter(|(m, _)| *m > keep_from)
            .collect();
        if !recent.is_empty() {
            next.insert(k.clone(), recent);
        }
        series.clear();
    };
    while let Some(batch) = stream.next().await.transpose()? {
        let text = |i: usize| -> Result<Vec<String>> {
            let a = arrow::compute::cast(batch.column(i), &DataType::Utf8)?;
            Ok(a.as_string::<i32>()
                .iter()
                .map(|v| v.unwrap_or("").to_string())
                .collect())
        };
        let kinds = arrow::compute::cast(batch.column(0), &DataType::Int64)?;
        let kinds = kinds.as_primitive::<Int64Type>();
        let cols: Vec<Vec<String>> = (1..=5).map(text).collect::<Result<_>>()?;
        let minutes = arrow::compute::cast(batch.column(6), &DataType::Int64)?;
        let minutes = minutes.as_primitive::<Int64Type>();
        let calls = arrow::compute::cast(batch.column(7), &DataType::Int64)?;
        let calls = calls.as_primitive::<Int64Type>();
        for (r, kind) in kinds.values().iter().enumerate() {
            let k: (i64, [String; 5]) = (*kind, std::array::from_fn(|c| cols[c][r].clone()));
            if key.as_ref() != Some(&k) {
                finish(&key, &mut series, &mut kept, &mut insights);
                key = Some(k);
            }
            if minutes.is_valid(r) {
                series.push((minutes.value(r), calls.value(r).max(0) as u64));
            }
        }
    }
    finish(&key, &mut series, &mut kept, &mut insights);
    // Series without new calls: their baselines age, nothing else.
    for (k, mut old) in std::mem::take(&mut kept) {
        old.retain(|(m, _)| *m > keep_from);
        if !old.is_empty() {
            next.insert(k, old);
        }
    }
    insights.retain(|i| minute_time(i.found.start).naive_utc() < to);
    for insight in &mut insights {
        insight.attributions = attributions(lake, insight, p).await?;
    }
    insights.sort_by(|a, b| a.found.start.cmp(&b.found.start).then(a.name.cmp(&b.name)));
    Ok((insights, next))
}

fn baselines_schema() -> SchemaRef {
    let s = |n: &str| Field::new(n, DataType::Utf8, false);
    Arc::new(Schema::new(vec![
        Field::new("kind", DataType::Int64, false),
        s("account"),
        s("region"),
        s("source"),
        s("name"),
        s("code"),
        Field::new("minute", DataType::Int64, false),
        Field::new("calls", DataType::Int64, false),
    ]))
}

/// The kept baselines, when a run left them.
pub async fn load_baselines(store: &dyn object_store::ObjectStore) -> Result<Option<Baselines>> {
    let Some(path) = read_manifest(store).await?.baselines else {
        return Ok(None);
    };
    let Some(bytes) = get(store, &path).await? else {
        return Ok(None);
    };
    let mut out = Baselines::new();
    for b in read_parquet(bytes, &path)? {
        let kind = b.column(0).as_primitive::<Int64Type>();
        let text: Vec<_> = (1..=5).map(|i| b.column(i).as_string::<i32>()).collect();
        let minute = b.column(6).as_primitive::<Int64Type>();
        let calls = b.column(7).as_primitive::<Int64Type>();
        for r in 0..b.num_rows() {
            let key = (
                kind.value(r),
                std::array::from_fn(|i| text[i].value(r).to_string()),
            );
            out.entry(key)
                .or_default()
                .push((minute.value(r), calls.value(r).max(0) as u64));
        }
    }
    Ok(Some(out))
}

/// Writes the baselines to keep as one Parquet file; returns its path (for the manifest).
async fn save_baselines(store: &dyn object_store::ObjectStore, b: &Baselines) -> Result<String> {
    use arrow::array::{Int64Builder, StringBuilder};
    let mut kind = Int64Builder::new();
    let mut text: Vec<StringBuilder> = (0..5).map(|_| StringBuilder::new()).collect();
    let mut minute = Int64Builder::new();
    let mut calls = Int64Builder::new();
    for ((k, strings), minutes) in b {
        for (m, n) in minutes {
            kind.append_value(*k);
            for (t, s) in text.iter_mut().zip(strings) {
                t.append_value(s);
            }
            minute.append_value(*m);
            calls.append_value(*n as i64);
        }
    }
    let mut columns: Vec<arrow::array::ArrayRef> = vec![Arc::new(kind.finish())];
    columns.extend(
        text.iter_mut()
            .map(|t| Arc::new(t.finish()) as arrow::array::ArrayRef),
    );
    columns.push(Arc::new(minute.finish()));
    columns.push(Arc::new(calls.finish()));
    let batch = RecordBatch::try_new(baselines_schema(), columns)?;
    let path = format!(
        "{DIR}/baselines-{}.parquet",
        Utc::now().format("%Y%m%dT%H%M%S%.6fZ")
    );
    write_parquet(store, &path, &batch).await?;
    Ok(path)
}

async fn write_parquet(
    store: &dyn object_store::ObjectStore,
    path: &str,
    batch: &RecordBatch,
) -> Result<()> {
    let bad = |e: parquet::errors::ParquetError| Error::Lake {
        location: path.to_string(),
        message: e.to_string(),
    };
    let mut buf = Vec::new();
    let mut w =
        parquet::arrow::ArrowWriter::try_new(&mut buf, batch.schema(), None).map_err(bad)?;
    w.write(batch).map_err(bad)?;
    w.close().map_err(bad)?;
    store
        .put(&StorePath::from(path), Bytes::from(buf).into())
        .await
        .map_err(store_error(path))?;
    Ok(())
}

/// The top five values of each attribute in the insight and in its baseline, as calls a
/// minute.
async fn attributions(lake: &Lake, i: &Insight, p: &Params) -> Result<Vec<Attribution>> {
    let at = |m: i64| minute_time(m).format("%Y-%m-%d %H:%M:%S").to_string();
    let duration = (i.found.end - i.found.start).max(1) as f64;
    let mut out = Vec::new();
    for (attribute, column) in ATTRIBUTES {
        let mut sides = Vec::new();
        for (from, to, minutes) in [
            (i.found.start, i.found.end, duration),
            (i.found.start - p.baseline, i.found.start, p.baseline as f64),
        ] {
            let sql = format!(
                "SELECT CAST({column} AS VARCHAR) AS v, count(*) AS n FROM cloudtrail \
                 WHERE {} AND eventtime >= TIMESTAMP '{}' AND eventtime < TIMESTAMP '{}' \
                 AND {column} IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 5",
                i.series_condition(),
                at(from),
                at(to)
            );
            let mut values = Vec::new();
            for b in lake.query(&sql).await? {
                let v = arrow::compute::cast(b.column(0), &DataType::Utf8)?;
                let v = v.as_string::<i32>();
                let n = arrow::compute::cast(b.column(1), &DataType::Int64)?;
                let n = n.as_primitive::<Int64Type>();
                for r in 0..b.num_rows() {
                    values.push((v.value(r).to_string(), n.value(r) as f64 / minutes));
                }
            }
            sides.push(values);
        }
        let baseline = sides.pop().unwrap_or_default();
        let insight = sides.pop().unwrap_or_default();
        if !insight.is_empty() {
            out.push(Attribution {
                attribute: attribute.to_string(),
                insight,
                baseline,
            });
        }
    }
    Ok(out)
}

/// The `insights` table's schema (CloudTrail Lake's column names, lower case).
pub fn schema() -> SchemaRef {
    let s = |n: &str| Field::new(n, DataType::Utf8, true);
    let avg = Field::new("average", DataType::Float64, true);
    let value_list = |n: &str| {
        Field::new(
            n,
            DataType::new_list(
                DataType::Struct(Fields::from(vec![s("value"), avg.clone()])),
                true,
            ),
            true,
        )
    };
    let statistics = Field::new(
        "statistics",
        DataType::Struct(Fields::from(vec![
            Field::new(
                "baseline",
                DataType::Struct(Fields::from(vec![avg.clone()])),
                true,
            ),
            Field::new(
                "insight",
                DataType::Struct(Fields::from(vec![avg.clone()])),
                true,
            ),
            Field::new("insightduration", DataType::Int64, true),
            Field::new("baselineduration", DataType::Int64, true),
        ])),
        true,
    );
    let attributions = Field::new(
        "attributions",
        DataType::new_list(
            DataType::Struct(Fields::from(vec![
                s("attribute"),
                value_list("insight"),
                value_list("baseline"),
            ])),
            true,
        ),
        true,
    );
    let details = Field::new(
        "insightdetails",
        DataType::Struct(Fields::from(vec![
            s("state"),
            s("eventsource"),
            s("eventname"),
            s("insighttype"),
            s("errorcode"),
            Field::new(
                "insightcontext",
                DataType::Struct(Fields::from(vec![statistics, attributions])),
                true,
            ),
        ])),
        true,
    );
    Arc::new(Schema::new(vec![
        s("eventversion"),
        Field::new(
            "eventtime",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            true,
        ),
        s("awsregion"),
        s("eventid"),
        s("eventtype"),
        s("recipientaccountid"),
        s("sharedeventid"),
        details,
        s("eventcategory"),
        // Not a CloudTrail Lake column: who made the row, [`COMPUTED`] or [`DELIVERED`].
        s("origin"),
    ]))
}

/// `origin` of the insights `ctlake insights` computes.
pub const COMPUTED: &str = "ctlake";
/// `origin` of the Insights records trails delivered (`CloudTrail-Insight/` files).
pub const DELIVERED: &str = "CloudTrail";

/// A JSON value with every object key in lower case (the table's names).
fn lower_keys(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.to_lowercase(), lower_keys(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(lower_keys).collect()),
        other => other.clone(),
    }
}

/// Delivered-shape records as rows of the table, made by `origin`.
pub fn to_batch(records: &[Value], origin: &str) -> Result<RecordBatch> {
    let rows: Vec<Value> = records
        .iter()
        .map(|r| {
            let mut r = lower_keys(r);
            r["origin"] = json!(origin);
            // The table keeps times as timestamps without a zone, as `cloudtrail` does.
            if let Some(t) = r["eventtime"].as_str() {
                r["eventtime"] = json!(t.trim_end_matches('Z'));
            }
            r
        })
        .collect();
    let mut decoder = arrow::json::ReaderBuilder::new(schema()).build_decoder()?;
    decoder.serialize(&rows)?;
    Ok(decoder
        .flush()?
        .unwrap_or_else(|| RecordBatch::new_empty(schema())))
}

/// What `_ctlake/insights.json` says: the table's data file, how far computed insights reach,
/// and the baselines kept for the next run.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct Manifest {
    #[serde(default)]
    files: Vec<String>,
    #[serde(default, with = "minute_time_opt")]
    analysed_to: Option<NaiveDateTime>,
    #[serde(default)]
    baselines: Option<String>,
}

/// `analysed_to` as `2026-10-08T09:00:00`.
mod minute_time_opt {
    use chrono::NaiveDateTime;
    use serde::{Deserialize, Deserializer, Serializer};

    const FORMAT: &str = "%Y-%m-%dT%H:%M:%S";

    pub fn serialize<S: Serializer>(t: &Option<NaiveDateTime>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&t.format(FORMAT).to_string()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDateTime>, D::Error> {
        let text: Option<String> = Option::deserialize(d)?;
        Ok(text.and_then(|t| NaiveDateTime::parse_from_str(&t, FORMAT).ok()))
    }
}

/// The manifest (empty when no insights were stored yet).
async fn read_manifest(store: &dyn object_store::ObjectStore) -> Result<Manifest> {
    let Some(bytes) = get(store, MANIFEST).await? else {
        return Ok(Manifest::default());
    };
    serde_json::from_slice(&bytes).map_err(|e| Error::Lake {
        location: MANIFEST.into(),
        message: e.to_string(),
    })
}

/// Up to when insights were computed (the end of the latest window analysed).
pub async fn analysed_to(store: &dyn object_store::ObjectStore) -> Result<Option<NaiveDateTime>> {
    Ok(read_manifest(store).await?.analysed_to)
}

/// Reads the table's rows from the lake (none when no insights were stored yet).
pub async fn load(store: &dyn object_store::ObjectStore) -> Result<Vec<RecordBatch>> {
    load_files(store, &read_manifest(store).await?.files).await
}

async fn load_files(
    store: &dyn object_store::ObjectStore,
    files: &[String],
) -> Result<Vec<RecordBatch>> {
    let mut out = Vec::new();
    for path in files {
        if let Some(bytes) = get(store, path).await? {
            out.extend(read_parquet(bytes, path)?);
        }
    }
    Ok(out)
}

fn read_parquet(bytes: Bytes, path: &str) -> Result<Vec<RecordBatch>> {
    let bad = |e: parquet::errors::ParquetError| Error::Lake {
        location: path.into(),
        message: e.to_string(),
    };
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
        .and_then(|b| b.build())
        .map_err(bad)?;
    Ok(reader.collect::<std::result::Result<Vec<_>, _>>()?)
}

async fn get(store: &dyn object_store::ObjectStore, path: &str) -> Result<Option<Bytes>> {
    match store.get(&StorePath::from(path)).await {
        Ok(g) => Ok(Some(g.bytes().await.map_err(store_error(path))?)),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(store_error(path)(e)),
    }
}

fn store_error(path: &str) -> impl Fn(object_store::Error) -> Error + '_ {
    move |e| Error::Lake {
        location: path.to_string(),
        message: ctlake_store::explain(&e),
    }
}

/// Replaces the stored insights of `[from, to)` with `records`.
pub async fn store(
    store: &dyn object_store::ObjectStore,
    records: &[Value],
    from: NaiveDateTime,
    to: NaiveDateTime,
    baselines: &Baselines,
) -> Result<usize> {
    let baselines = save_baselines(store, baselines).await?;
    let (lo, hi) = (
        from.and_utc().timestamp_micros(),
        to.and_utc().timestamp_micros(),
    );
    rewrite(
        store,
        records,
        COMPUTED,
        Some(to),
        Some(baselines),
        &|b: &RecordBatch| {
            // The window's computed rows go; delivered ones and other windows' stay.
            let origin = b.column(9).as_string::<i32>();
            let times = b
                .column(1)
                .as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
            times
                .iter()
                .zip(origin.iter())
                .map(|(t, o)| Some(o != Some(COMPUTED) || t.is_none_or(|t| t < lo || t >= hi)))
                .collect()
        },
    )
    .await
}

/// Adds delivered Insights records (from `CloudTrail-Insight/` files); a record already
/// stored (by `eventID`) is replaced, so reading a file again adds nothing.
pub async fn append(store: &dyn object_store::ObjectStore, records: &[Value]) -> Result<usize> {
    let ids: std::collections::HashSet<String> = records
        .iter()
        .filter_map(|r| r["eventID"].as_str().map(str::to_string))
        .collect();
    rewrite(store, records, DELIVERED, None, None, &|b: &RecordBatch| {
        let id = b.column(3).as_string::<i32>();
        id.iter()
            .map(|v| Some(v.is_none_or(|v| !ids.contains(v))))
            .collect()
    })
    .await
}

/// One new data file holding the stored rows `keep` keeps and `records`, then the manifest
/// naming it (the switch), then the old files go.
async fn rewrite(
    store: &dyn object_store::ObjectStore,
    records: &[Value],
    origin: &str,
    analysed_to: Option<NaiveDateTime>,
    baselines: Option<String>,
    keep: &(dyn Fn(&RecordBatch) -> arrow::array::BooleanArray + Sync),
) -> Result<usize> {
    let old = read_manifest(store).await?;
    let mut batches = Vec::new();
    for b in load_files(store, &old.files).await? {
        batches.push(arrow::compute::filter_record_batch(&b, &keep(&b))?);
    }
    batches.push(to_batch(records, origin)?);
    let all = arrow::compute::concat_batches(&schema(), &batches)?;
    let path = format!("{DIR}/{}.parquet", Utc::now().format("%Y%m%dT%H%M%S%.6fZ"));
    write_parquet(store, &path, &all).await?;
    let manifest = Manifest {
        files: vec![path.clone()],
        // How far computed insights reach: where `--since-last` goes on from.
        analysed_to: old.analysed_to.max(analysed_to),
        baselines: baselines.clone().or(old.baselines.clone()),
    };
    let manifest = serde_json::to_vec(&manifest).map_err(|e| Error::Lake {
        location: MANIFEST.into(),
        message: e.to_string(),
    })?;
    store
        .put(&StorePath::from(MANIFEST), Bytes::from(manifest).into())
        .await
        .map_err(store_error(MANIFEST))?;
    for f in old.files.iter().filter(|f| **f != path) {
        let _ = store.delete(&StorePath::from(f.as_str())).await;
    }
    if let (Some(replaced), Some(_)) = (&old.baselines, &baselines) {
        let _ = store.delete(&StorePath::from(replaced.as_str())).await;
    }
    Ok(all.num_rows())
}
