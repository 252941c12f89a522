//! Encodes a partition's rows as one Parquet file.
//!
//! Rows are sorted by `eventtime` (then `eventid`, so the output is the same whatever order the
//! decoders finished in) and row groups carry min/max statistics and page indexes, so that a
//! time-bounded query skips row groups and pages. The file is encoded in memory and handed to
//! the object store in one `put`, which is atomic: no reader ever sees half a file.
//!
//! Compression is zstd throughout. Columns whose values repeat (event names, sources, regions,
//! principals) use dictionary encoding; identifiers and `eventjson`, which are all distinct, do
//! not, because a dictionary would only add a copy of every value.

use std::sync::Arc;

use arrow::array::{AsArray, RecordBatch};
use arrow::compute::{
    SortColumn, SortOptions, concat_batches, lexsort_to_indices, take_record_batch,
};
use arrow::datatypes::{SchemaRef, TimestampMicrosecondType};
use bytes::Bytes;
use ctlake_schema::schema::{EVENT_ID, EVENT_JSON, EVENT_JSON_CHECKSUM, EVENT_TIME};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::SortingColumn;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::Result;

/// Rows per row group: small enough that a one-hour query over a busy day skips most of a
/// file, large enough that per-group overhead stays negligible.
pub const ROW_GROUP_ROWS: usize = 128 * 1024;

/// The zstd level of `eventjson`, most of every file's bytes.
pub const EVENT_JSON_ZSTD_LEVEL: i32 = 3;

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
}

/// The writer settings of every data file.
pub fn writer_properties(schema: &SchemaRef) -> WriterProperties {
    let zstd = |level| Compression::ZSTD(ZstdLevel::try_new(level).expect("valid zstd level"));
    let time_col = schema.index_of(EVENT_TIME).expect("eventtime column") as i32;
    let mut props = WriterProperties::builder()
        .set_compression(zstd(3))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_sorting_columns(Some(vec![SortingColumn {
            column_idx: time_col,
            descending: false,
            nulls_first: false,
        }]))
        .set_created_by(format!("ctlake {}", env!("CARGO_PKG_VERSION")));
    for name in [
        EVENT_JSON,
        EVENT_JSON_CHECKSUM,
        EVENT_ID,
        "requestid",
        "sharedeventid",
    ] {
        props = props.set_column_dictionary_enabled(ColumnPath::from(name), false);
    }
    props = props.set_column_compression(ColumnPath::from(EVENT_JSON), zstd(EVENT_JSON_ZSTD_LEVEL));
    props.build()
}

/// Sorts `batches` (all of one partition) by event time and encodes them as one file.
pub fn encode(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<EncodedFile> {
    let batch = concat_batches(schema, batches)?;
    let time = batch
        .column_by_name(EVENT_TIME)
        .expect("eventtime column")
        .clone();
    let id = batch
        .column_by_name(EVENT_ID)
        .expect("eventid column")
        .clone();
    let options = Some(SortOptions {
        descending: false,
        nulls_first: false,
    });
    let indices = lexsort_to_indices(
        &[
            SortColumn {
                values: time,
                options,
            },
            SortColumn {
                values: id,
                options,
            },
        ],
        None,
    )?;
    let batch = take_record_batch(&batch, &indices)?;

    let times = batch
        .column_by_name(EVENT_TIME)
        .expect("eventtime column")
        .as_primitive::<TimestampMicrosecondType>();
    let (min_time, max_time) = if times.is_empty() {
        (0, 0)
    } else {
        (times.value(0), times.value(times.len() - 1))
    };

    let mut out = Vec::with_capacity(batch.get_array_memory_size() / 4);
    let mut writer = ArrowWriter::try_new(
        &mut out,
        Arc::clone(schema),
        Some(writer_properties(schema)),
    )?;
    writer.write(&batch)?;
    writer.close()?;
    Ok(EncodedFile {
        bytes: Bytes::from(out),
        rows: batch.num_rows() as u64,
        min_time,
        max_time,
    })
}
