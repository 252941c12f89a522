//! The record of ingested source files: what makes a re-run skip what it already read.
//!
//! A busy organisation delivers millions of small files, so this record cannot live in the
//! commit log: every query replays the log to find the table's files, and a log holding a
//! line per source would make each query parse hundreds of megabytes it never uses. Each
//! commit therefore writes its sources to a Parquet file of their own under
//! `_ctlake/sources/` (staged and moved with the commit's data files, so it is in the lake
//! exactly when its log entry is), and names that file in its log entry.
//!
//! Only ingest reads these lists, through [`SourceIndex`]: a hash of each URI with the size
//! and modification time it was read at, 40 bytes a source in memory. Each file carries that
//! hash as a column, so loading the index reads 32 bytes per source rather than the URIs.
//! The URIs stay in the files for people and other engines (`SELECT * FROM
//! '_ctlake/sources/*.parquet'` in DuckDB lists what a lake was built from).

use std::sync::Arc;

use arrow::array::{
    Array, AsArray, FixedSizeBinaryArray, Int64Array, RecordBatch, StringArray, UInt64Array,
};
use arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef, UInt64Type};
use bytes::Bytes;
use futures::StreamExt;
use object_store::ObjectStoreExt;
use parquet::arrow::ArrowWriter;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::manifest::{Snapshot, SourceEntry};
use crate::store::LakeStore;
use crate::{Error, Result};

/// Columns of a sources file.
const URI: &str = "uri";
const SIZE: &str = "size";
const MTIME_NS: &str = "mtime_ns";
const EVENTS: &str = "events";
const URI_KEY: &str = "uri_key";

/// The schema of a sources file.
pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(URI, DataType::Utf8, false),
        Field::new(SIZE, DataType::UInt64, false),
        Field::new(MTIME_NS, DataType::Int64, false),
        Field::new(EVENTS, DataType::UInt64, false),
        Field::new(URI_KEY, DataType::FixedSizeBinary(16), false),
    ]))
}

/// The 128-bit key of a source URI.
pub fn uri_key(uri: &str) -> u128 {
    xxhash_rust::xxh3::xxh3_128(uri.as_bytes())
}

/// Encodes a commit's sources as a Parquet file.
pub fn encode(sources: &[SourceEntry]) -> Result<Bytes> {
    let keys: Vec<[u8; 16]> = sources
        .iter()
        .map(|s| uri_key(&s.uri).to_le_bytes())
        .collect();
    let columns: Vec<Arc<dyn Array>> = vec![
        Arc::new(StringArray::from_iter_values(
            sources.iter().map(|s| s.uri.as_str()),
        )),
        Arc::new(UInt64Array::from_iter_values(
            sources.iter().map(|s| s.size),
        )),
        Arc::new(Int64Array::from_iter_values(
            sources.iter().map(|s| s.mtime_ns),
        )),
        Arc::new(UInt64Array::from_iter_values(
            sources.iter().map(|s| s.events),
        )),
        Arc::new(
            FixedSizeBinaryArray::try_from_iter(keys.iter())
                .expect("16-byte keys make a fixed-size array"),
        ),
    ];
    let batch = RecordBatch::try_new(schema(), columns)?;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, schema(), Some(props))?;
    writer.write(&batch)?;
    writer.close()?;
    Ok(Bytes::from(out))
}

/// Reads the sources of one file (all columns), for audits and tests.
pub fn read(store: &LakeStore, path: &str) -> Result<Vec<SourceEntry>> {
    let bytes = get(store, path)?;
    let mut out = Vec::new();
    for batch in ParquetRecordBatchReaderBuilder::try_new(bytes)?.build()? {
        let batch = batch?;
        let uri = batch.column(0).as_string::<i32>();
        let size = batch.column(1).as_primitive::<UInt64Type>();
        let mtime = batch.column(2).as_primitive::<Int64Type>();
        let events = batch.column(3).as_primitive::<UInt64Type>();
        for i in 0..batch.num_rows() {
            out.push(SourceEntry {
                uri: uri.value(i).to_string(),
                size: size.value(i),
                mtime_ns: mtime.value(i),
                events: events.value(i),
            });
        }
    }
    Ok(out)
}

fn get(store: &LakeStore, path: &str) -> Result<Bytes> {
    store.get(path)?.ok_or_else(|| Error::Lake {
        location: store.location().to_string(),
        message: format!("sources file {path} is in the log but missing"),
    })
}

/// Which sources the lake holds, keyed by URI hash: `(size, mtime_ns)` when read.
#[derive(Debug, Default)]
pub struct SourceIndex {
    sources: FxHashMap<u128, (u64, i64)>,
}

impl SourceIndex {
    /// Loads the sources of every commit in `snap` (the files in parallel).
    pub fn load(store: &LakeStore, snap: &Snapshot) -> Result<Self> {
        // Fetched many at a time (on S3 each is a round trip), decoded on every core.
        let object_store = store.object_store();
        let fetched: Vec<Result<(String, Bytes)>> = store.block_on(
            futures::stream::iter(snap.source_files.iter().cloned())
                .map(|path| {
                    let object_store = Arc::clone(&object_store);
                    async move {
                        let location = object_store::path::Path::from(path.as_str());
                        let got = match object_store.get(&location).await {
                            Ok(r) => r.bytes().await,
                            Err(e) => Err(e),
                        };
                        got.map(|b| (path, b)).map_err(Error::from)
                    }
                })
                .buffered(32)
                .collect(),
        );
        let parts: Vec<Result<Vec<(u128, u64, i64)>>> = fetched
            .into_par_iter()
            .map(|f| f.and_then(|(path, bytes)| read_keys(store, &path, bytes)))
            .collect();
        let mut index = SourceIndex::default();
        index
            .sources
            .reserve(snap.source_count as usize + snap.inline_sources.len());
        // Later commits win: a file re-read after it changed is known by its new size.
        for part in parts {
            for (key, size, mtime) in part? {
                index.sources.insert(key, (size, mtime));
            }
        }
        for s in &snap.inline_sources {
            index.sources.insert(uri_key(&s.uri), (s.size, s.mtime_ns));
        }
        Ok(index)
    }

    /// True if the source was ingested with this size and modification time.
    pub fn contains(&self, uri: &str, size: u64, mtime_ns: i64) -> bool {
        self.sources.get(&uri_key(uri)) == Some(&(size, mtime_ns))
    }

    /// True if a source of this URI was ingested (in whatever state).
    pub fn knows(&self, uri: &str) -> bool {
        self.sources.contains_key(&uri_key(uri))
    }

    /// Sources known.
    pub fn len(&self) -> usize {
        self.sources.len()
    }

    /// True when no source is known.
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }
}

/// The (key, size, mtime) columns of one sources file.
fn read_keys(store: &LakeStore, path: &str, bytes: Bytes) -> Result<Vec<(u128, u64, i64)>> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes)?;
    let mask = ProjectionMask::columns(builder.parquet_schema(), [SIZE, MTIME_NS, URI_KEY]);
    let mut out = Vec::new();
    for batch in builder.with_projection(mask).build()? {
        let batch = batch?;
        let column = |name: &str| {
            batch.column_by_name(name).ok_or_else(|| Error::Lake {
                location: store.location().to_string(),
                message: format!("sources file {path} has no column {name}"),
            })
        };
        let size = column(SIZE)?.as_primitive::<UInt64Type>();
        let mtime = column(MTIME_NS)?.as_primitive::<Int64Type>();
        let key = column(URI_KEY)?.as_fixed_size_binary();
        out.reserve(batch.num_rows());
        for i in 0..batch.num_rows() {
            let bytes: [u8; 16] = key.value(i).try_into().map_err(|_| Error::Lake {
                location: store.location().to_string(),
                message: format!("sources file {path}: a uri_key is not 16 bytes"),
            })?;
            out.push((u128::from_le_bytes(bytes), size.value(i), mtime.value(i)));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_round_trip_and_answer_by_size_and_time() {
        let dir = tempfile::tempdir().unwrap();
        let store = LakeStore::local(dir.path(), true).unwrap();
        let entries = vec![
            SourceEntry {
                uri: "file:///a/1.json.gz".into(),
                size: 10,
                mtime_ns: 7,
                events: 3,
            },
            SourceEntry {
                uri: "file:///a/2.json.gz".into(),
                size: 20,
                mtime_ns: 8,
                events: 4,
            },
        ];
        store
            .put("_ctlake/sources/r-0.parquet", encode(&entries).unwrap())
            .unwrap();
        assert_eq!(
            read(&store, "_ctlake/sources/r-0.parquet").unwrap(),
            entries
        );
        let snap = Snapshot {
            source_files: vec!["_ctlake/sources/r-0.parquet".into()],
            source_count: 2,
            ..Default::default()
        };
        let index = SourceIndex::load(&store, &snap).unwrap();
        assert_eq!(index.len(), 2);
        assert!(index.contains("file:///a/1.json.gz", 10, 7));
        assert!(
            !index.contains("file:///a/1.json.gz", 11, 7),
            "size changed"
        );
        assert!(!index.contains("file:///a/1.json.gz", 10, 9), "rewritten");
        assert!(!index.contains("file:///a/3.json.gz", 10, 7));
    }
}
