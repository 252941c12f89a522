//! Deduplication against what the lake holds: the event id keys of a partition's committed
//! files, and the rebase of a commit that lost the race for its log entry to another writer.

use super::*;

/// Adapts a commit that lost the race for its log entry to the entries that won (`theirs`, now
/// in `snap`): rows of this commit's files whose events a winner stored in the same partition
/// are dropped (each such file is rewritten without them, or removed when nothing is left), so
/// two runs over the same sources store every event once.
pub(super) fn rebase(
    store: &LakeStore,
    run: &str,
    snap: &Snapshot,
    theirs: &[Commit],
    r: manifest::Rebase<'_>,
    report: &mut IngestReport,
) -> Result<()> {
    let mut added: FxHashMap<PartitionKey, Vec<&FileEntry>> = FxHashMap::default();
    for c in theirs {
        for f in &c.add {
            if snap.files.contains_key(&f.path) {
                added.entry(f.partition()).or_default().push(f);
            }
        }
    }
    let mut keep = Vec::new();
    let mut moves = Vec::new();
    for f in std::mem::take(&mut r.entry.add) {
        let Some(their_files) = added.get(&f.partition()) else {
            moves.push((f.path.clone(), f.path.clone()));
            keep.push(f);
            continue;
        };
        // A winner's file that cannot be read is named as damaged, not passed over quietly:
        // its events may then be stored twice, and the user must hear of it.
        let stored = load_ids(store, their_files, &mut report.damaged)?;
        let bytes = store.get(&f.path)?.ok_or_else(|| Error::Lake {
            location: store.location(),
            message: format!("data file {} written by this run is missing", f.path),
        })?;
        let mut batches = Vec::new();
        let mut dropped = 0u64;
        let builder = ParquetRecordBatchReaderBuilder::try_new(bytes)?;
        let mask = writer::event_columns(builder.parquet_schema());
        for batch in builder.with_projection(mask).build()? {
            let batch = batch?;
            let ids = batch
                .column_by_name(EVENT_ID)
                .map(|c| c.as_string::<i32>().clone());
            let json = batch
                .column_by_name(EVENT_JSON)
                .map(|c| c.as_string::<i32>().clone());
            fn text(a: &Option<arrow::array::StringArray>, i: usize) -> Option<&str> {
                a.as_ref().filter(|a| a.is_valid(i)).map(|a| a.value(i))
            }
            let mask: BooleanArray = (0..batch.num_rows())
                .map(|i| {
                    let key = stored_key(text(&ids, i), || text(&json, i));
                    Some(key.is_none_or(|k| !stored.contains(&k)))
                })
                .collect();
            let filtered = filter_record_batch(&batch, &mask)?;
            dropped += (batch.num_rows() - filtered.num_rows()) as u64;
            if filtered.num_rows() > 0 {
                batches.push(filtered);
            }
        }
        if dropped == 0 {
            moves.push((f.path.clone(), f.path.clone()));
            keep.push(f);
            continue;
        }
        r.entry.counts.events -= dropped;
        r.entry.counts.duplicates += dropped;
        report.events_written -= dropped;
        report.duplicates += dropped;
        if !batches.is_empty() {
            let file = writer::encode(&batches)?;
            let staged = manifest::stage(store, run, &f.partition(), file)?;
            moves.push((staged.from.clone(), staged.entry.path.clone()));
            keep.push(staged.entry);
        }
        store.delete(&f.path)?;
    }
    r.entry.add = keep;
    // The rejects and sources files stay as they are.
    r.moves.retain(|(_, to)| !to.starts_with(layout::TABLE_DIR));
    r.moves.extend(moves);
    Ok(())
}

/// The key a stored event is deduplicated by, the decoder's rule: its `eventID`'s, or for an
/// event without one its whole JSON text's (`json` is only read then); `None` without either.
fn stored_key<'a>(id: Option<&'a str>, json: impl FnOnce() -> Option<&'a str>) -> Option<u128> {
    id.or_else(json).map(id_key)
}

/// The event id keys already stored in a partition's files. A file that cannot be read
/// (damaged, or missing) is named in `damaged` and passed over: its events then go in again,
/// which is what restores them once `ctlake repair --drop-damaged` has taken it out.
pub(super) fn load_ids(
    store: &LakeStore,
    files: &[&FileEntry],
    damaged: &mut Vec<crate::FileProblem>,
) -> Result<FxHashSet<u128>> {
    let mut ids = FxHashSet::default();
    for f in files {
        match file_ids(store, f, &mut ids) {
            Err(Error::Parquet(e)) => damaged.push(crate::FileProblem {
                path: f.path.clone(),
                reason: format!("unreadable data file: {e}"),
            }),
            Err(Error::Arrow(e)) => damaged.push(crate::FileProblem {
                path: f.path.clone(),
                reason: format!("unreadable data file: {e}"),
            }),
            Err(Error::Lake { message, .. }) if message.ends_with("missing") => {
                damaged.push(crate::FileProblem {
                    path: f.path.clone(),
                    reason: "the log names it but it is missing".into(),
                })
            }
            other => other?,
        }
    }
    Ok(ids)
}

fn file_ids(store: &LakeStore, f: &FileEntry, ids: &mut FxHashSet<u128>) -> Result<()> {
    {
        let bytes = store.get(&f.path)?.ok_or_else(|| Error::Lake {
            location: store.location(),
            message: format!("data file {} is in the log but missing", f.path),
        })?;
        let mut missing_rows = Vec::new();
        let mut row = 0usize;
        let builder = ParquetRecordBatchReaderBuilder::try_new(bytes.clone())?;
        let mask = ProjectionMask::columns(builder.parquet_schema(), [EVENT_ID]);
        for batch in builder.with_projection(mask).build()? {
            let batch = batch?;
            let col = batch.column(0).as_string::<i32>();
            for i in 0..col.len() {
                match stored_key(col.is_valid(i).then(|| col.value(i)), || None) {
                    Some(key) => ids.insert(key),
                    // Read in a second pass, from the JSON column only where needed.
                    None => {
                        missing_rows.push(row + i);
                        false
                    }
                };
            }
            row += col.len();
        }
        if !missing_rows.is_empty() {
            // Events without an id were deduplicated by their whole text.
            let builder = ParquetRecordBatchReaderBuilder::try_new(bytes)?;
            let mask = ProjectionMask::columns(builder.parquet_schema(), [EVENT_JSON]);
            let mut row = 0usize;
            let mut wanted = missing_rows.iter().peekable();
            for batch in builder.with_projection(mask).build()? {
                let batch = batch?;
                let col = batch.column(0).as_string::<i32>();
                while let Some(&&r) = wanted.peek() {
                    if r >= row + col.len() {
                        break;
                    }
                    ids.extend(stored_key(None, || Some(col.value(r - row))));
                    wanted.next();
                }
                row += col.len();
            }
        }
    }
    Ok(())
}
