//! Opening data files: what the commit log already knows, a scan does not re-derive.
//!
//! A lake partitioned by region and day has many small files (1,121 for 5 million events), so
//! opening a file is a cost of its own, and it was most of a whole-lake query's. DataFusion read
//! 64 KB from each file's end to find a footer of about 22 KB, and decoded each footer's Parquet
//! schema (150 columns) and Arrow schema, though all were the same; object_store's local store
//! opened the file again for every read and handed each read to a blocking thread. The log
//! records each file's footer length and the identity of its schema
//! (`ctlake_schema::schema::file_schema_id`), so a scan reads exactly the footer, decodes the
//! Parquet schema once for all the files that share an identity, and reads files written with
//! the current schema as that schema without decoding the Arrow one; a local lake's files are
//! read in place. Files from before the log recorded these are opened as any Parquet file is.

use std::collections::HashMap;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::parquet::{
    DefaultParquetFileReaderFactory, ParquetFileMetrics, ParquetFileReaderFactory,
};
use datafusion::physical_plan::metrics::{Count, ExecutionPlanMetricsSet};
use futures::FutureExt;
use futures::future::BoxFuture;
use object_store::ObjectStore;
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::{AsyncFileReader, MetadataFetch};
use parquet::errors::ParquetError;
use parquet::file::metadata::{
    PageIndexPolicy, ParquetMetaData, ParquetMetaDataOptions, ParquetMetaDataReader,
};
use parquet::schema::types::SchemaDescPtr;

/// A file's schema identity from the log, attached to its `PartitionedFile`.
#[derive(Debug, Clone)]
pub(crate) struct SchemaId(pub Arc<str>);

/// Opens the files of one scan, sharing decoded Parquet schemas among files with one identity.
#[derive(Debug)]
pub(crate) struct FooterReaderFactory {
    inner: DefaultParquetFileReaderFactory,
    /// The lake's folder, when it is on a local disk: its files are read directly.
    local: Option<PathBuf>,
    schemas: Arc<Mutex<HashMap<Arc<str>, SchemaDescPtr>>>,
}

impl FooterReaderFactory {
    pub(crate) fn new(store: Arc<dyn ObjectStore>, local: Option<PathBuf>) -> Self {
        Self {
            inner: DefaultParquetFileReaderFactory::new(store),
            local,
            schemas: Arc::default(),
        }
    }
}

impl ParquetFileReaderFactory for FooterReaderFactory {
    fn create_reader(
        &self,
        partition_index: usize,
        file: PartitionedFile,
        metadata_size_hint: Option<usize>,
        metrics: &ExecutionPlanMetricsSet,
    ) -> datafusion::error::Result<Box<dyn AsyncFileReader + Send>> {
        let id = file.extensions.get::<SchemaId>().map(|s| Arc::clone(&s.0));
        let path = file.object_meta.location.to_string();
        let size = file.object_meta.size;
        let inner: Box<dyn AsyncFileReader + Send> = match &self.local {
            Some(root) => Box::new(LocalFile {
                path: root.join(file.object_meta.location.as_ref()),
                file: None,
                bytes_scanned: ParquetFileMetrics::new(partition_index, &path, metrics)
                    .bytes_scanned,
            }),
            // The default reader reads bytes and counts them in the scan's metrics.
            None => self
                .inner
                .create_reader(partition_index, file, metadata_size_hint, metrics)?,
        };
        Ok(Box::new(FooterReader {
            inner,
            path,
            size,
            hint: metadata_size_hint,
            id,
            schemas: Arc::clone(&self.schemas),
        }))
    }
}

struct FooterReader {
    inner: Box<dyn AsyncFileReader + Send>,
    path: String,
    size: u64,
    hint: Option<usize>,
    id: Option<Arc<str>>,
    schemas: Arc<Mutex<HashMap<Arc<str>, SchemaDescPtr>>>,
}

impl FooterReader {
    fn known_schema(&self) -> Option<SchemaDescPtr> {
        let id = self.id.as_ref()?;
        self.schemas.lock().ok()?.get(id).cloned()
    }
}

impl AsyncFileReader for FooterReader {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        self.inner.get_bytes(range)
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<Range<u64>>,
    ) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        self.inner.get_byte_ranges(ranges)
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        async move {
            let known = self.known_schema();
            let reader = ParquetMetaDataReader::new()
                .with_prefetch_hint(self.hint)
                .with_page_index_policy(
                    options.map_or(PageIndexPolicy::Optional, |o| o.column_index_policy()),
                )
                .with_metadata_options(
                    known
                        .clone()
                        .map(|schema| ParquetMetaDataOptions::new().with_schema(schema)),
                );
            let size = self.size;
            let metadata = reader
                .load_and_finish(Fetch(self.inner.as_mut()), size)
                .await
                .map_err(|e| ParquetError::General(format!("{}: {e}", self.path)))?;
            // The first file of an identity in this scan lends its decoded schema to the rest.
            if known.is_none()
                && let Some(id) = &self.id
                && let Ok(mut schemas) = self.schemas.lock()
            {
                schemas
                    .entry(Arc::clone(id))
                    .or_insert_with(|| metadata.file_metadata().schema_descr_ptr());
            }
            Ok(Arc::new(metadata))
        }
        .boxed()
    }
}

/// The footer's bytes through the scan's reader, so that they count in its metrics.
struct Fetch<'a>(&'a mut (dyn AsyncFileReader + Send));

impl MetadataFetch for Fetch<'_> {
    fn fetch(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        self.0.get_bytes(range)
    }
}

/// A data file of a lake on a local disk, opened once and read in place. object_store's local
/// store opens the file again for each read and hands each read to a blocking thread: for a
/// footer in the page cache, those hand-offs cost more than the read (8 context switches a
/// file, measured over 1,110 files). Reading in place blocks the scan's thread while the disk
/// answers, which only that scan's stream was waiting for anyway.
struct LocalFile {
    path: PathBuf,
    file: Option<std::fs::File>,
    bytes_scanned: Count,
}

impl LocalFile {
    fn read(&mut self, range: Range<u64>) -> parquet::errors::Result<Bytes> {
        let failed =
            |e: std::io::Error| ParquetError::General(format!("{}: {e}", self.path.display()));
        let file = match &mut self.file {
            Some(file) => file,
            None => self
                .file
                .insert(std::fs::File::open(&self.path).map_err(failed)?),
        };
        let len = usize::try_from(range.end.saturating_sub(range.start))
            .map_err(|e| ParquetError::General(e.to_string()))?;
        let mut buf = vec![0; len];
        file.read_exact_at(&mut buf, range.start).map_err(failed)?;
        self.bytes_scanned.add(len);
        Ok(Bytes::from(buf))
    }
}

impl AsyncFileReader for LocalFile {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        futures::future::ready(self.read(range)).boxed()
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<Range<u64>>,
    ) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        let read = ranges.into_iter().map(|r| self.read(r)).collect();
        futures::future::ready(read).boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        _options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        // `FooterReader` reads the footer through `get_bytes`.
        futures::future::ready(Err(ParquetError::General(format!(
            "{}: the footer is read by the scan's reader",
            self.path.display()
        ))))
        .boxed()
    }
}
