//! Merging data files that are each sorted by `eventtime` into one sorted stream, in bounded
//! memory whatever the number and size of the files.
//!
//! Compaction meets overlapping files wherever one ingest run flushed a partition several
//! times: a bulk load of a busy account writes dozens to thousands of files per partition,
//! each covering the whole day. Reading them all to sort them would make compaction's memory
//! grow with the partition. Instead each input is read a small batch at a time, and each step
//! emits every row at or below the smallest "last key" among the inputs' current batches: the
//! inputs are sorted, so no row still unread can come before those. Memory is one batch and one
//! page per column per input; beyond [`FAN_IN`] inputs, merges run in passes through scratch
//! files in the lake's staging folder (which recovery empties after a crash).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{RecordBatch, RecordBatchReader};
use arrow::datatypes::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};

use crate::manifest::FileEntry;
use crate::store::LakeStore;
use crate::writer::{self, SortKey};
use crate::{Error, Result};

/// Inputs merged at once. Each open input holds a batch and a decoded page per column (a few
/// MB with `eventjson`), so 16 keep a merge's inputs near 100 MB.
pub(crate) const FAN_IN: usize = 16;

/// Rows held across a merge's current batches, shared out among the inputs.
const MERGE_ROWS: usize = 32_768;

/// A file to merge: a data file of the lake, or a scratch file of an earlier pass.
pub(crate) enum Input<'a> {
    /// A committed data file.
    Lake(&'a FileEntry),
    /// An intermediate file, deleted when dropped.
    Scratch(tempfile::TempPath),
}

impl Input<'_> {
    fn open(&self, store: &LakeStore, batch_rows: usize) -> Result<ParquetRecordBatchReader> {
        let builder = match self {
            // A local file is read page by page; only a remote one is fetched whole.
            Input::Lake(f) => match store.local_root() {
                Some(root) => {
                    let path = root.join(&f.path);
                    let file = File::open(&path).map_err(|e| Error::io(path.display(), e))?;
                    ParquetRecordBatchReaderBuilder::try_new(file)
                }
                None => {
                    let bytes = store.get(&f.path)?.ok_or_else(|| Error::Lake {
                        location: store.location().to_string(),
                        message: format!("data file {} is in the log but missing", f.path),
                    })?;
                    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes)?;
                    let mask = writer::event_columns(builder.parquet_schema());
                    return Ok(builder
                        .with_projection(mask)
                        .with_batch_size(batch_rows)
                        .build()?);
                }
            },
            Input::Scratch(path) => {
                let file = File::open(path).map_err(|e| Error::io(path.display(), e))?;
                ParquetRecordBatchReaderBuilder::try_new(file)
            }
        }?;
        let mask = writer::event_columns(builder.parquet_schema());
        Ok(builder
            .with_projection(mask)
            .with_batch_size(batch_rows)
            .build()?)
    }
}

/// The rows of several sorted inputs, sorted, as batches of at most [`MERGE_ROWS`] rows.
pub(crate) struct Merge {
    cursors: Vec<Cursor>,
}

struct Cursor {
    reader: ParquetRecordBatchReader,
    /// The current batch's rows not yet emitted.
    rest: RecordBatch,
}

impl Merge {
    /// Opens every input (at most [`FAN_IN`] of them: see [`reduce`]).
    pub(crate) fn open(store: &LakeStore, inputs: &[Input<'_>]) -> Result<Self> {
        let batch_rows = (MERGE_ROWS / inputs.len().max(1)).clamp(256, 8192);
        let mut cursors = Vec::with_capacity(inputs.len());
        for input in inputs {
            let reader = input.open(store, batch_rows)?;
            let rest = RecordBatch::new_empty(reader.schema());
            cursors.push(Cursor { reader, rest });
        }
        Ok(Self { cursors })
    }

    fn step(&mut self) -> Result<Option<RecordBatch>> {
        // Refill the cursors whose batch is used up; drop the finished ones.
        let mut i = 0;
        while i < self.cursors.len() {
            let c = &mut self.cursors[i];
            while c.rest.num_rows() == 0 {
                match c.reader.next() {
                    Some(batch) => c.rest = batch?,
                    None => break,
                }
            }
            if c.rest.num_rows() == 0 {
                self.cursors.swap_remove(i);
            } else {
                i += 1;
            }
        }
        match self.cursors.len() {
            0 => return Ok(None),
            1 => {
                let c = &mut self.cursors[0];
                let schema = c.rest.schema();
                return Ok(Some(std::mem::replace(
                    &mut c.rest,
                    RecordBatch::new_empty(schema),
                )));
            }
            _ => {}
        }
        // Every row at or below the smallest last key is final.
        let frontier = self
            .cursors
            .iter()
            .map(|c| SortKey::of(&c.rest).at(c.rest.num_rows() - 1))
            .min()
            .map(|(t, id)| (t, id.to_owned()))
            .expect("two cursors or more");
        let frontier = (frontier.0, frontier.1.as_str());
        let mut parts = Vec::with_capacity(self.cursors.len());
        for c in &mut self.cursors {
            let n = c.rest.num_rows();
            let key = SortKey::of(&c.rest);
            let take = partition_point(n, |row| key.at(row) <= frontier);
            if take > 0 {
                parts.push(c.rest.slice(0, take));
                c.rest = c.rest.slice(take, n - take);
            }
        }
        Ok(Some(writer::sort_rows(&parts)?))
    }
}

/// The first row in `0..n` for which `below` is false (rows are sorted).
fn partition_point(n: usize, below: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if below(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

impl Iterator for Merge {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        self.step().transpose()
    }
}

/// Merges `inputs` in passes of `fan_in` files into scratch files under `scratch` until at
/// most `fan_in` remain, ready for one final [`Merge`].
pub(crate) fn reduce<'a>(
    store: &LakeStore,
    schema: &SchemaRef,
    scratch: &Path,
    mut inputs: Vec<Input<'a>>,
    fan_in: usize,
) -> Result<Vec<Input<'a>>> {
    let fan_in = fan_in.max(2);
    while inputs.len() > fan_in {
        std::fs::create_dir_all(scratch).map_err(|e| Error::io(scratch.display(), e))?;
        let mut next = Vec::with_capacity(inputs.len().div_ceil(fan_in));
        let mut rest = inputs.into_iter().peekable();
        while rest.peek().is_some() {
            let chunk: Vec<Input<'a>> = rest.by_ref().take(fan_in).collect();
            if chunk.len() == 1 {
                next.extend(chunk);
                continue;
            }
            next.push(Input::Scratch(merge_to_scratch(
                store, schema, scratch, &chunk,
            )?));
            // `chunk` dropped here: the scratch files it merged are deleted.
        }
        inputs = next;
    }
    Ok(inputs)
}

fn merge_to_scratch(
    store: &LakeStore,
    schema: &SchemaRef,
    scratch: &Path,
    chunk: &[Input<'_>],
) -> Result<tempfile::TempPath> {
    let io = |e| Error::io(scratch.display(), e);
    let (file, path) = tempfile::Builder::new()
        .prefix("merge-")
        .suffix(".parquet")
        .tempfile_in(scratch)
        .map_err(io)?
        .into_parts();
    let mut out =
        ArrowWriter::try_new(file, Arc::clone(schema), Some(writer::scratch_properties()))?;
    for batch in Merge::open(store, chunk)? {
        out.write(&batch?)?;
    }
    out.close()?;
    Ok(path)
}

/// Where compaction run `run` keeps its scratch files for a partition.
pub(crate) fn scratch_dir(store: &LakeStore, run: &str, partition: &str) -> PathBuf {
    let base = match store.local_root() {
        Some(root) => root.join(ctlake_schema::layout::STAGING_DIR),
        None => std::env::temp_dir().join("ctlake-staging"),
    };
    base.join(run).join("merge").join(partition)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, StringArray, TimestampMicrosecondArray};
    use ctlake_schema::event_schema;
    use ctlake_schema::schema::{EVENT_ID, EVENT_TIME};

    /// A data file of `rows` (time, id) pairs, sorted, every other column null.
    fn data_file(store: &LakeStore, name: &str, rows: &[(i64, String)]) -> FileEntry {
        let schema = event_schema();
        let mut sorted = rows.to_vec();
        sorted.sort();
        let columns: Vec<ArrayRef> = schema
            .fields()
            .iter()
            .map(|f| -> ArrayRef {
                match f.name().as_str() {
                    EVENT_TIME => Arc::new(TimestampMicrosecondArray::from_iter_values(
                        sorted.iter().map(|r| r.0),
                    )),
                    EVENT_ID => Arc::new(StringArray::from_iter_values(
                        sorted.iter().map(|r| r.1.as_str()),
                    )),
                    _ => arrow::array::new_null_array(f.data_type(), sorted.len()),
                }
            })
            .collect();
        let batch = RecordBatch::try_new(Arc::clone(&schema), columns).unwrap();
        let path = store.local_root().unwrap().join(name);
        let mut w = ArrowWriter::try_new(File::create(&path).unwrap(), schema, None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        FileEntry {
            path: name.into(),
            region: "us-east-1".into(),
            date: chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
            rows: sorted.len() as u64,
            bytes: 0,
            min_time_us: sorted.first().map_or(0, |r| r.0),
            max_time_us: sorted.last().map_or(0, |r| r.0),
            sha256: None,
            copies: 0,
            footer: 0,
            schema: None,
        }
    }

    #[test]
    fn many_overlapping_files_merge_in_passes_into_one_sorted_stream() {
        let dir = tempfile::tempdir().unwrap();
        let store = LakeStore::local(dir.path(), false).unwrap();
        // 23 files with interleaved times, equal times across files, and an empty file; a
        // fan-in of 3 forces three passes through scratch files.
        let mut expected = Vec::new();
        let mut files = Vec::new();
        for f in 0..23i64 {
            // Up to 20,000 rows: several batches per input, so steps end mid-batch.
            let rows: Vec<(i64, String)> = (0..(f * 3701) % 20_000)
                .map(|i| ((i * 7919 + f * 13) % 50_000, format!("id-{f:02}-{i:05}")))
                .collect();
            expected.extend(rows.iter().cloned());
            files.push(data_file(&store, &format!("f{f}.parquet"), &rows));
        }
        expected.sort();
        let scratch = dir.path().join("scratch");
        let inputs = files.iter().map(Input::Lake).collect();
        let inputs = reduce(&store, &event_schema(), &scratch, inputs, 3).unwrap();
        assert!(inputs.len() <= 3);
        let mut got = Vec::new();
        for batch in Merge::open(&store, &inputs).unwrap() {
            let batch = batch.unwrap();
            let key = SortKey::of(&batch);
            for row in 0..batch.num_rows() {
                let (t, id) = key.at(row);
                got.push((t, id.to_owned()));
            }
        }
        assert_eq!(got.len(), expected.len());
        assert_eq!(got, expected);
        drop(inputs);
        // The scratch files are gone once merged.
        assert_eq!(std::fs::read_dir(&scratch).unwrap().count(), 0);
    }
}
