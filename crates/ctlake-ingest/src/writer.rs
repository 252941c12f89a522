//! Encodes a partition's rows as one Parquet file.
//!
//! Rows are sorted by `eventtime` (then `eventid`, so the output is the same whatever order the
//! decoders finished in) and row groups carry min/max statistics and page indexes, so that a
//! time-bounded query skips row groups and pages. The file is encoded in memory and handed to
//! the object store in one `put`, which is atomic: no reader ever sees half a file.
//!
//! Compression is zstd (level 1, see [`ZSTD_LEVEL`]) throughout. Columns whose values repeat (event names, sources, regions,
//! principals) use dictionary encoding; identifiers and `eventjson`, which are all distinct, do
//! not, because a dictionary would only add a copy of every value.
//!
//! Every file also carries the flat copies of `ctlake_schema::shred` (principals, common map
//! keys), each with a bloom filter, so that lookups by those values skip files.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, RecordBatch, StringArray, StringBuilder, TimestampMicrosecondArray,
};
use arrow::buffer::{BooleanBuffer, NullBuffer};
use arrow::compute::interleave_record_batch;
use arrow::datatypes::{SchemaRef, TimestampMicrosecondType};
use bytes::Bytes;
use ctlake_schema::schema::{
    EVENT_ID, EVENT_JSON, EVENT_JSON_CHECKSUM, EVENT_TIME, SOURCE_IP, file_schema_id,
};
use ctlake_schema::shred::{self, Path, SHREDDED};
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::SortingColumn;
use parquet::file::properties::{
    DEFAULT_CREATED_BY, EnabledStatistics, WriterProperties, WriterPropertiesBuilder,
};
use parquet::schema::types::ColumnPath;

use crate::Result;

/// Rows per row group: small enough that a one-hour query over a busy day skips most of a
/// file, large enough that per-group overhead stays negligible.
pub const ROW_GROUP_ROWS: usize = 128 * 1024;

/// The zstd level of every column. Measured on real logs (sans504) and generated ones, level 1
/// made lakes as small as levels 3 to 9 (within 2%) and wrote them a third faster: the
/// redundancy in CloudTrail is across records, and zstd's fast levels already reach it within
/// a page.
pub const ZSTD_LEVEL: i32 = 1;

/// The sort key of every data file's rows: (`eventtime`, `eventid`).
pub(crate) struct SortKey<'a> {
    times: &'a TimestampMicrosecondArray,
    ids: &'a StringArray,
}

impl<'a> SortKey<'a> {
    /// The key columns of an event batch.
    pub(crate) fn of(batch: &'a RecordBatch) -> Self {
        let column = |name| batch.column_by_name(name).expect("event schema column");
        Self {
            times: column(EVENT_TIME).as_primitive::<TimestampMicrosecondType>(),
            ids: column(EVENT_ID).as_string::<i32>(),
        }
    }

    /// Row `row`'s key. Rows without an id sort first among equal times; decoders always set
    /// the time.
    pub(crate) fn at(&self, row: usize) -> (i64, &'a str) {
        let id = if self.ids.is_valid(row) {
            self.ids.value(row)
        } else {
            ""
        };
        (self.times.value(row), id)
    }
}

/// Decoded rows waiting to be written: a batch and, when some of its rows turned out to be
/// duplicates, which of them to keep. The rows are selected where [`sort_rows`] gathers them
/// into order anyway; filtering each batch as it arrived copied every kept row once more
/// (5% of an ingest's CPU at the usual 0.2% of re-delivered events).
#[derive(Debug, Clone)]
pub struct Rows {
    /// The decoded rows.
    pub batch: RecordBatch,
    /// The rows to keep (set bits); all of them when `None`.
    pub keep: Option<BooleanBuffer>,
}

impl Rows {
    /// How many rows are kept.
    pub fn kept(&self) -> usize {
        self.keep
            .as_ref()
            .map_or(self.batch.num_rows(), |k| k.count_set_bits())
    }
}

impl From<RecordBatch> for Rows {
    fn from(batch: RecordBatch) -> Self {
        Self { batch, keep: None }
    }
}

/// The rows of `batches` as one batch ordered by (`eventtime`, `eventid`): the order of every
/// data file, whatever order the decoders (or the files being compacted) delivered them in.
pub fn sort_rows(batches: &[RecordBatch]) -> Result<RecordBatch> {
    let rows: Vec<Rows> = batches.iter().cloned().map(Rows::from).collect();
    sort_kept(&rows)
}

/// The kept rows of `batches`, ordered as [`sort_rows`] orders them.
pub fn sort_kept(batches: &[Rows]) -> Result<RecordBatch> {
    // Sort (batch, row) positions, then gather the rows in that order in one pass: one copy
    // of the data, not a concatenation and then a sorted copy of it.
    let mut keys: Vec<(i64, &str, u32, u32)> =
        Vec::with_capacity(batches.iter().map(Rows::kept).sum());
    for (bi, rows) in batches.iter().enumerate() {
        let key = SortKey::of(&rows.batch);
        let mut push = |row: usize| {
            let (time, id) = key.at(row);
            keys.push((time, id, bi as u32, row as u32));
        };
        match &rows.keep {
            None => (0..rows.batch.num_rows()).for_each(&mut push),
            Some(keep) => keep.set_indices().for_each(&mut push),
        }
    }
    keys.sort_unstable();
    let indices: Vec<(usize, usize)> = keys.iter().map(|k| (k.2 as usize, k.3 as usize)).collect();
    drop(keys);
    if let [only] = batches
        && only.keep.is_none()
        && indices.iter().enumerate().all(|(i, k)| k.1 == i)
    {
        return Ok(only.batch.clone());
    }
    if batches.is_empty() {
        return Ok(RecordBatch::new_empty(ctlake_schema::event_schema()));
    }
    let refs: Vec<&RecordBatch> = batches.iter().map(|b| &b.batch).collect();
    Ok(interleave_record_batch(&refs, &indices)?)
}

/// A Parquet file encoded in memory.
#[derive(Debug)]
pub struct EncodedFile {
    /// The file's bytes.
    pub bytes: Bytes,
    /// Rows in the file.
    pub rows: u64,
    /// Smallest `eventtime`, microseconds since the epoch.
    pub min_time: i64,
    /// Largest `eventtime`, microseconds since the epoch.
    pub max_time: i64,
    /// The identity of the schema it was written with (`file_schema_id`).
    pub schema_id: String,
}

/// Columns with a bloom filter per row group: the top-level columns that incident responders
/// look up by one value ("this event", "every call from this IP"). With them a point lookup
/// reads a few kilobytes of filter per file instead of the column. (DataFusion 55 consults
/// bloom filters only for predicates on plain columns, so nested paths like `useridentity.arn`
/// get none.)
pub const BLOOM_FILTER_COLUMNS: [&str; 2] = [EVENT_ID, SOURCE_IP];

/// The bloom filters' false-positive rate: one file in a hundred read for nothing.
const BLOOM_FPP: f64 = 0.01;

/// The writer settings of every data file; `rows` is how many rows the file will hold (an
/// upper bound is fine), which sizes the bloom filters.
pub fn writer_properties(schema: &SchemaRef, rows: usize) -> WriterProperties {
    let time_col = schema.index_of(EVENT_TIME).expect("eventtime column") as i32;
    let mut props = base_properties()
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_sorting_columns(Some(vec![SortingColumn {
            column_idx: time_col,
            descending: false,
            nulls_first: false,
        }]))
        .set_created_by(format!("ctlake {}", env!("CARGO_PKG_VERSION")));
    // Minimum and maximum of the whole event's text or of its hash prune nothing, and
    // computing them compares every kilobyte-long value with the page's extremes.
    for name in [EVENT_JSON, EVENT_JSON_CHECKSUM] {
        props =
            props.set_column_statistics_enabled(ColumnPath::from(name), EnabledStatistics::None);
    }
    // A filter per row group, started for that many distinct values (exact for eventid, an
    // upper bound for addresses); the writer folds each down to the values it saw.
    let ndv = rows.clamp(1, ROW_GROUP_ROWS) as u64;
    let copies = SHREDDED.iter().map(|s| s.column);
    for name in BLOOM_FILTER_COLUMNS.into_iter().chain(copies) {
        let col = ColumnPath::from(name);
        props = props
            .set_column_bloom_filter_enabled(col.clone(), true)
            .set_column_bloom_filter_fpp(col.clone(), BLOOM_FPP)
            .set_column_bloom_filter_max_ndv(col, ndv);
    }
    props.build()
}

/// The writer settings of compaction's scratch files (read once, by the next merge pass):
/// compressed like data files, since they can be as large as a partition, but without the
/// statistics and bloom filters that only queries use.
pub(crate) fn scratch_properties() -> WriterProperties {
    base_properties()
        .set_statistics_enabled(EnabledStatistics::None)
        .build()
}

/// Compression, row groups and dictionaries, shared by data and scratch files.
fn base_properties() -> WriterPropertiesBuilder {
    let zstd = ZstdLevel::try_new(ZSTD_LEVEL).expect("valid zstd level");
    let mut props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(zstd))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS));
    for name in [
        EVENT_JSON,
        EVENT_JSON_CHECKSUM,
        EVENT_ID,
        "requestid",
        "sharedeventid",
    ] {
        props = props.set_column_dictionary_enabled(ColumnPath::from(name), false);
    }
    props
}

/// The event columns of a data file, without its flat copies (which writers recompute): what
/// compaction and deduplication read back.
pub(crate) fn event_columns(parquet: &parquet::schema::types::SchemaDescriptor) -> ProjectionMask {
    ProjectionMask::roots(parquet, 0..ctlake_schema::event_schema().fields().len())
}

/// An event batch with the flat copies of [`ctlake_schema::shred`] appended: a batch of
/// [`shred::file_schema`], as data files store it.
pub fn with_copies(batch: &RecordBatch) -> Result<RecordBatch> {
    let mut columns = batch.columns().to_vec();
    for s in SHREDDED {
        columns.push(copy(batch, s.path));
    }
    Ok(RecordBatch::try_new(shred::file_schema(), columns)?)
}

/// The values at `path` in each row of `batch`, null where any level is null or the key absent.
fn copy(batch: &RecordBatch, path: Path) -> ArrayRef {
    let rows = batch.num_rows();
    let nulls = || Arc::new(StringArray::new_null(rows)) as ArrayRef;
    match path {
        Path::Field(column, fields) => {
            let Some(mut array) = batch.column_by_name(column).cloned() else {
                return nulls();
            };
            let mut valid = array.logical_nulls();
            for field in fields {
                let Some(child) = array
                    .as_struct_opt()
                    .and_then(|s| s.column_by_name(field))
                    .cloned()
                else {
                    return nulls();
                };
                array = child;
                valid = NullBuffer::union(valid.as_ref(), array.logical_nulls().as_ref());
            }
            match array.as_string_opt::<i32>() {
                Some(strings) => {
                    let (offsets, values, _) = strings.clone().into_parts();
                    Arc::new(StringArray::new(offsets, values, valid))
                }
                None => nulls(),
            }
        }
        Path::MapKey(column, key) => {
            let Some(map) = batch.column_by_name(column).and_then(|c| c.as_map_opt()) else {
                return nulls();
            };
            let (Some(keys), Some(values)) = (
                map.keys().as_string_opt::<i32>(),
                map.values().as_string_opt::<i32>(),
            ) else {
                return nulls();
            };
            let offsets = map.value_offsets();
            let mut out = StringBuilder::with_capacity(rows, rows * 16);
            for row in 0..rows {
                let found = map
                    .is_valid(row)
                    .then(|| {
                        (offsets[row] as usize..offsets[row + 1] as usize)
                            .find(|&i| keys.value(i) == key)
                    })
                    .flatten();
                out.append_option(
                    found
                        .filter(|&i| values.is_valid(i))
                        .map(|i| values.value(i)),
                );
            }
            Arc::new(out.finish())
        }
    }
}

/// Sorts `batches` (all of one partition) by event time and encodes them as one file.
pub fn encode(batches: &[RecordBatch]) -> Result<EncodedFile> {
    let rows: Vec<Rows> = batches.iter().cloned().map(Rows::from).collect();
    encode_kept(&rows)
}

/// As [`encode`], writing only the kept rows of each batch.
pub fn encode_kept(batches: &[Rows]) -> Result<EncodedFile> {
    let batch = with_copies(&sort_kept(batches)?)?;
    let schema = &batch.schema();
    let times = batch
        .column_by_name(EVENT_TIME)
        .expect("eventtime column")
        .as_primitive::<TimestampMicrosecondType>();
    let (min_time, max_time) = match times.len() {
        0 => (0, 0),
        n => (times.value(0), times.value(n - 1)),
    };
    let mut out = Vec::with_capacity(batch.get_array_memory_size() / 4);
    let mut writer = ArrowWriter::try_new(
        &mut out,
        Arc::clone(schema),
        Some(writer_properties(schema, batch.num_rows())),
    )?;
    writer.write(&batch)?;
    writer.close()?;
    Ok(EncodedFile {
        bytes: Bytes::from(out),
        rows: batch.num_rows() as u64,
        min_time,
        max_time,
        schema_id: file_schema_id(schema, DEFAULT_CREATED_BY),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Decoder;
    use ctlake_schema::event_schema;

    /// One batch of the records `(eventID, second of 2024-05-01T12:00)`, in the order given.
    fn batch(events: &[(&str, u32)]) -> RecordBatch {
        let mut d = Decoder::new(event_schema());
        for (id, second) in events {
            let json = format!(
                r#"{{"eventTime":"2024-05-01T12:00:{second:02}Z","eventID":"{id}","awsRegion":"us-east-1"}}"#
            );
            d.decode(json.as_bytes()).unwrap();
        }
        let mut parts = d.take();
        assert_eq!(parts.len(), 1);
        parts.remove(0).batch
    }

    fn ids(batch: &RecordBatch) -> Vec<String> {
        let ids = batch.column_by_name(EVENT_ID).unwrap().as_string::<i32>();
        ids.iter().map(|v| v.unwrap().to_string()).collect()
    }

    #[test]
    fn sort_kept_drops_unkept_rows_and_orders_the_rest() {
        let a = Rows {
            batch: batch(&[("a3", 3), ("a1", 1), ("a5", 5)]),
            keep: Some(BooleanBuffer::from(vec![true, false, true])),
        };
        let b = Rows::from(batch(&[("b2", 2), ("b4", 4)]));
        let sorted = sort_kept(&[a, b]).unwrap();
        assert_eq!(ids(&sorted), ["b2", "a3", "b4", "a5"]);
    }

    #[test]
    fn sort_kept_of_one_ordered_batch_still_drops_rows() {
        // The shortcut for a batch already in order must not skip the mask.
        let only = Rows {
            batch: batch(&[("x1", 1), ("x2", 2)]),
            keep: Some(BooleanBuffer::from(vec![false, true])),
        };
        assert_eq!(ids(&sort_kept(&[only]).unwrap()), ["x2"]);
    }
}
