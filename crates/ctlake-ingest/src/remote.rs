//! Sources on S3: finding a trail's deliveries incrementally and reading them.
//!
//! A trail bucket can hold tens of millions of objects, so a re-run must not list it all
//! again. The listing therefore descends the delivery layout with delimiter listings
//! (`AWSLogs/` → accounts → `CloudTrail/` → regions: a few requests per account) and lists
//! each `<account>/CloudTrail/<region>/` prefix with ListObjectsV2 `start-after`: after the
//! day folder of the last key the lake stored from it (its *cursor*, kept in the commit log),
//! less a look-back of whole days so that late deliveries into a recent day are still found.
//! Objects in that window that the lake already holds are skipped by the sources index
//! without being read.
//!
//! The region listings are merged lazily, a page at a time, into the local walk's order (by
//! day, then region, across accounts), so one partition's deliveries arrive together and
//! memory holds one page per region prefix, whatever the bucket's size. Prefixes outside the
//! layout are listed whole, before the layout's day folders, like loose files locally.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::io::Read;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use chrono::NaiveDate;
use ctlake_schema::awskey;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};

use crate::source::{Found, Passed, SourceFile};
use crate::{Error, Result};

/// An S3 object to read, and where it advances a listing cursor.
#[derive(Debug, Clone)]
pub struct RemoteObject {
    /// The bucket's store.
    pub store: Arc<dyn ObjectStore>,
    /// The object's key.
    pub key: ObjectPath,
    /// The region prefix (`s3://bucket/AWSLogs/<account>/CloudTrail/<region>/`) whose cursor
    /// this object advances once it is stored, for objects of the delivery layout.
    pub cursor_prefix: Option<String>,
}

impl PartialEq for RemoteObject {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key && self.cursor_prefix == other.cursor_prefix
    }
}

impl Eq for RemoteObject {}

/// How the listing of S3 sources behaves.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    /// The lake's cursors (see `ctlake_log::Commit::cursors`).
    pub cursors: BTreeMap<String, String>,
    /// Whole day folders listed again before a cursor's day (1: the cursor's own day).
    pub lookback_days: u32,
}

/// The runtime S3 sources are read on; the readers are plain threads that wait on it.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("ctlake-s3")
            .enable_all()
            .build()
            .expect("a tokio runtime starts")
    })
}

fn has_glob_chars(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Splits `s3://bucket/key...` into the bucket's store, the bucket and the key part.
fn parse(arg: &str) -> Result<(Arc<dyn ObjectStore>, String, String)> {
    let rest = arg.strip_prefix("s3://").unwrap_or(arg);
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(Error::SourceNotFound(arg.to_string()));
    }
    Ok((
        ctlake_store::s3_bucket(bucket)?,
        bucket.to_string(),
        key.to_string(),
    ))
}

fn store_error(op: &'static str, bucket: &str, key: &str, source: object_store::Error) -> Error {
    Error::Store(ctlake_store::Error::Store {
        op,
        location: format!("s3://{bucket}/{key}"),
        cause: source,
    })
}

/// Checks that an S3 source exists (an object, or a prefix holding something; for a glob,
/// the prefix before its first wildcard), so a typo or missing access fails before anything
/// is written, with one line that says which.
pub fn check(arg: &str) -> Result<()> {
    let (store, bucket, key) = parse(arg)?;
    let prefix = literal_prefix(&key);
    runtime().block_on(async {
        if !has_glob_chars(&key) && !key.is_empty() && !key.ends_with('/') {
            match store.head(&ObjectPath::from(key.as_str())).await {
                Ok(_) => return Ok(()),
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(store_error("read", &bucket, &key, e)),
            }
        }
        let path = ObjectPath::from(prefix.as_str());
        let mut listing = store.list(Some(&path));
        match listing.next().await {
            Some(Ok(_)) => Ok(()),
            None => Err(Error::SourceNotFound(arg.to_string())),
            Some(Err(e)) => Err(store_error("list", &bucket, &prefix, e)),
        }
    })
}

/// The part of a key pattern before its first wildcard, cut back to a whole folder.
fn literal_prefix(key: &str) -> String {
    match key.find(['*', '?', '[']) {
        Some(i) => key[..i]
            .rfind('/')
            .map_or(String::new(), |j| key[..=j].to_string()),
        None => key.to_string(),
    }
}

/// Where a listing of one prefix starts, and how its keys are ordered in the merge.
struct Stream {
    items: BoxStream<'static, object_store::Result<ObjectMeta>>,
    /// The region prefix URI, for cursored (delivery layout) listings.
    cursor_prefix: Option<String>,
    region: String,
    /// The listed prefix, for messages.
    shown: String,
}

/// Lists an S3 source (a prefix, an object or a glob over keys) and hands each object to
/// `sink` in the order described in the module docs, until `sink` returns false. Returns
/// false when the sink stopped the walk.
pub fn walk(arg: &str, listing: &Listing, sink: &mut dyn FnMut(Found) -> bool) -> Result<bool> {
    let (store, bucket, key) = parse(arg)?;
    let pattern = if has_glob_chars(&key) {
        let p = glob::Pattern::new(&key).map_err(|e| Error::Glob {
            pattern: arg.to_string(),
            message: e.to_string(),
        })?;
        Some(p)
    } else {
        None
    };
    let glob_opts = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: false,
    };
    runtime().block_on(async {
        // A single object named in full.
        if pattern.is_none() && !key.is_empty() && !key.ends_with('/') {
            match store.head(&ObjectPath::from(key.as_str())).await {
                Ok(meta) => {
                    let file = source_file(&store, &bucket, meta, None);
                    return Ok(sink(Found::File(file)));
                }
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(store_error("read", &bucket, &key, e)),
            }
        }
        let mut prefix = literal_prefix(&key);
        if !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }
        let mut streams = Vec::new();
        expand(&store, &bucket, &prefix, listing, &mut streams).await?;
        // Listings outside the layout first, each in key order; then the layout's, merged.
        let (plain, layout): (Vec<Stream>, Vec<Stream>) =
            streams.into_iter().partition(|s| s.cursor_prefix.is_none());
        let explicit = pattern.is_some();
        let mut emit = |meta: ObjectMeta, cursor_prefix: Option<String>| -> Option<bool> {
            let key = meta.location.to_string();
            if let Some(p) = &pattern
                && !p.matches_with(&key, glob_opts)
            {
                return None;
            }
            let name = key.rsplit('/').next().unwrap_or(&key);
            if awskey::is_insight_path(&key) {
                return Some(sink(Found::Insight(Passed {
                    path: format!("s3://{bucket}/{key}"),
                    reason: "CloudTrail Insights file (stored in the insights table)".into(),
                })));
            }
            if awskey::is_digest_path(&key) {
                return Some(sink(Found::Digest(Passed {
                    path: format!("s3://{bucket}/{key}"),
                    reason: "CloudTrail digest file (integrity record, not events)".into(),
                })));
            }
            if !explicit && !crate::source::looks_like_event_file(name.as_bytes()) {
                return Some(sink(Found::Ignored));
            }
            Some(sink(Found::File(source_file(
                &store,
                &bucket,
                meta,
                cursor_prefix,
            ))))
        };
        for mut s in plain {
            while let Some(item) = s.items.next().await {
                let meta = item.map_err(|e| store_error("list", &bucket, &s.shown, e))?;
                if emit(meta, None) == Some(false) {
                    return Ok(false);
                }
            }
        }
        // A k-way merge by (day, region, key) over the region listings, a page each at a time.
        let mut heads: BinaryHeap<Reverse<(NaiveDate, String, String, usize)>> = BinaryHeap::new();
        let mut pending: Vec<Option<ObjectMeta>> = vec![None; layout.len()];
        let mut layout = layout;
        for i in 0..layout.len() {
            advance(&mut layout, &mut pending, &mut heads, i, &bucket).await?;
        }
        while let Some(Reverse((_, _, _, i))) = heads.pop() {
            let meta = pending[i].take().expect("a head has its object");
            if emit(meta, layout[i].cursor_prefix.clone()) == Some(false) {
                return Ok(false);
            }
            advance(&mut layout, &mut pending, &mut heads, i, &bucket).await?;
        }
        Ok(true)
    })
}

/// Takes the next object of listing `i` into the merge.
async fn advance(
    streams: &mut [Stream],
    pending: &mut [Option<ObjectMeta>],
    heads: &mut BinaryHeap<Reverse<(NaiveDate, String, String, usize)>>,
    i: usize,
    bucket: &str,
) -> Result<()> {
    let s = &mut streams[i];
    if let Some(item) = s.items.next().await {
        let meta = item.map_err(|e| store_error("list", bucket, &s.shown, e))?;
        let key = meta.location.to_string();
        let parent = key.rsplit_once('/').map_or("", |(p, _)| p);
        // Keys outside day folders (rare) sort first in their listing.
        let date = awskey::day_folder(parent).map_or(NaiveDate::MIN, |d| d.date);
        heads.push(Reverse((date, s.region.clone(), key, i)));
        pending[i] = Some(meta);
    }
    Ok(())
}

fn source_file(
    store: &Arc<dyn ObjectStore>,
    bucket: &str,
    meta: ObjectMeta,
    cursor_prefix: Option<String>,
) -> SourceFile {
    let uri = format!("s3://{bucket}/{}", meta.location);
    let mtime_ns = meta
        .last_modified
        .timestamp_nanos_opt()
        .unwrap_or_else(|| meta.last_modified.timestamp() * 1_000_000_000);
    SourceFile {
        path: PathBuf::from(&uri),
        uri,
        size: meta.size,
        mtime_ns,
        remote: Some(RemoteObject {
            store: Arc::clone(store),
            key: meta.location,
            cursor_prefix,
        }),
    }
}

/// What a folder name in the delivery layout is, for the descent.
enum Level {
    /// `AWSLogs`, an account or an organization: descend with a delimiter listing.
    Above,
    /// `CloudTrail` or `CloudTrail-Insight`: its children are region prefixes.
    Kind,
    /// `CloudTrail-Digest`: no events.
    Digest,
    /// Anything else: listed whole.
    Other,
}

fn level(name: &str) -> Level {
    let account = name.len() == 12 && name.bytes().all(|b| b.is_ascii_digit());
    match name {
        "AWSLogs" => Level::Above,
        "CloudTrail" | "CloudTrail-Insight" => Level::Kind,
        "CloudTrail-Digest" => Level::Digest,
        _ if account || name.starts_with("o-") => Level::Above,
        _ => Level::Other,
    }
}

/// Expands `prefix` (empty or ending in `/`) into listings: region prefixes of the layout
/// (cursored) and other prefixes (whole).
async fn expand(
    store: &Arc<dyn ObjectStore>,
    bucket: &str,
    prefix: &str,
    listing: &Listing,
    out: &mut Vec<Stream>,
) -> Result<()> {
    let segments: Vec<&str> = prefix.split('/').filter(|s| !s.is_empty()).collect();
    // Inside a region prefix already (`.../CloudTrail/<region>/...`): list it from its cursor.
    if let Some(i) = segments
        .iter()
        .position(|s| matches!(level(s), Level::Kind))
        && let Some(region) = segments.get(i + 1)
    {
        let region_prefix = format!("{}/", segments[..=i + 1].join("/"));
        out.push(cursored(
            store,
            bucket,
            &region_prefix,
            prefix,
            region,
            listing,
        ));
        return Ok(());
    }
    if segments.iter().any(|s| matches!(level(s), Level::Digest)) {
        return Ok(());
    }
    let here = segments.last().map(|s| level(s));
    let path = (!prefix.is_empty()).then(|| ObjectPath::from(prefix));
    let result = store
        .list_with_delimiter(path.as_ref())
        .await
        .map_err(|e| store_error("list", bucket, prefix, e))?;
    if !result.objects.is_empty() {
        // Loose objects at this level: listed (once) by a non-recursive pass.
        let objects = result.objects;
        out.push(Stream {
            items: futures::stream::iter(objects.into_iter().map(Ok)).boxed(),
            cursor_prefix: None,
            region: String::new(),
            shown: prefix.to_string(),
        });
    }
    for child in result.common_prefixes {
        let child = format!("{child}/");
        let name = child.trim_end_matches('/').rsplit('/').next().unwrap_or("");
        match (here.as_ref(), level(name)) {
            (Some(Level::Kind), _) => {
                out.push(cursored(store, bucket, &child, &child, name, listing));
            }
            (_, Level::Digest) => {}
            (_, Level::Above | Level::Kind) => {
                Box::pin(expand(store, bucket, &child, listing, out)).await?;
            }
            (_, Level::Other) => {
                let path = ObjectPath::from(child.as_str());
                out.push(Stream {
                    items: store.list(Some(&path)),
                    cursor_prefix: None,
                    region: String::new(),
                    shown: child.clone(),
                });
            }
        }
    }
    Ok(())
}

/// A listing of `prefix` (inside the region prefix `region_prefix`) that starts at the
/// cursor's day folder less the look-back.
fn cursored(
    store: &Arc<dyn ObjectStore>,
    bucket: &str,
    region_prefix: &str,
    prefix: &str,
    region: &str,
    listing: &Listing,
) -> Stream {
    let id = format!("s3://{bucket}/{region_prefix}");
    let offset = listing
        .cursors
        .get(&id)
        .and_then(|key| start_after(region_prefix, key, listing.lookback_days));
    let path = ObjectPath::from(prefix);
    let items = match offset {
        Some(offset) => store.list_with_offset(Some(&path), &ObjectPath::from(offset.as_str())),
        None => store.list(Some(&path)),
    };
    Stream {
        items,
        cursor_prefix: Some(id),
        region: region.to_string(),
        shown: prefix.to_string(),
    }
}

/// The key to list after: the day folder `lookback_days - 1` days before the cursor's, so
/// that day folder and the ones after it are listed again (a look-back of 0 lists only what
/// sorts after the cursor itself).
fn start_after(region_prefix: &str, cursor: &str, lookback_days: u32) -> Option<String> {
    if lookback_days == 0 {
        return Some(cursor.to_string());
    }
    let rest = cursor.strip_prefix(region_prefix)?;
    let mut parts = rest.split('/');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    let date = NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)?;
    let from = date - chrono::Days::new(u64::from(lookback_days - 1));
    // `.../YYYY/MM/DD` sorts before every key in that folder and after the days before it.
    Some(format!("{region_prefix}{}", from.format("%Y/%m/%d")))
}

/// Reads a small object whole.
pub fn read_whole(object: &RemoteObject) -> std::result::Result<Vec<u8>, String> {
    runtime().block_on(async {
        let result = object
            .store
            .get(&object.key)
            .await
            .map_err(|e| ctlake_store::explain(&e))?;
        let bytes = result
            .bytes()
            .await
            .map_err(|e| ctlake_store::explain(&e))?;
        Ok(bytes.to_vec())
    })
}

/// A reader over a large object, fetched chunk by chunk as the decoder asks for more, so it
/// never sits in memory whole.
pub fn open(object: &RemoteObject) -> std::result::Result<Box<dyn Read + Send>, String> {
    let stream = runtime()
        .block_on(object.store.get(&object.key))
        .map_err(|e| ctlake_store::explain(&e))?
        .into_stream();
    let mut reader = ChunkReader {
        stream,
        chunk: Bytes::new(),
    };
    // Decide gzip by content, as for local files.
    let mut head = [0u8; 2];
    let n = read_full(&mut reader, &mut head).map_err(|e| e.to_string())?;
    let prefix = std::io::Cursor::new(head[..n].to_vec());
    let whole = prefix.chain(reader);
    if n == 2 && head == [0x1f, 0x8b] {
        Ok(Box::new(flate2::read::MultiGzDecoder::new(whole)))
    } else {
        Ok(Box::new(whole))
    }
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

struct ChunkReader {
    stream: BoxStream<'static, object_store::Result<Bytes>>,
    chunk: Bytes,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.chunk.is_empty() {
            match runtime().block_on(self.stream.next()) {
                Some(Ok(chunk)) => self.chunk = chunk,
                Some(Err(e)) => return Err(std::io::Error::other(ctlake_store::explain(&e))),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk.split_to(n));
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_look_back_starts_at_whole_day_folders() {
        let p = "AWSLogs/111122223333/CloudTrail/us-east-1/";
        let cursor =
            format!("{p}2026/11/03/111122223333_CloudTrail_us-east-1_20261103T2355Z_x.json.gz");
        assert_eq!(
            start_after(p, &cursor, 1).as_deref(),
            Some("AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/03")
        );
        assert_eq!(
            start_after(p, &cursor, 3).as_deref(),
            Some("AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/01")
        );
        assert_eq!(start_after(p, &cursor, 0), Some(cursor.clone()));
        // Every key of the cursor's day sorts after the offset, every earlier day's before.
        let offset = start_after(p, &cursor, 1).unwrap();
        assert!(format!("{p}2026/11/03/a.json.gz") > offset);
        assert!(format!("{p}2026/11/02/z.json.gz") < offset);
        assert_eq!(start_after(p, "elsewhere/x", 1), None);
    }

    #[test]
    fn glob_prefixes_stop_at_the_folder_before_the_wildcard() {
        assert_eq!(literal_prefix("AWSLogs/*/CloudTrail/**"), "AWSLogs/");
        assert_eq!(
            literal_prefix("AWSLogs/1/CloudTrail/us-east-1/2026/11/**"),
            "AWSLogs/1/CloudTrail/us-east-1/2026/11/"
        );
        assert_eq!(literal_prefix("a*"), "");
        assert_eq!(literal_prefix("AWSLogs/"), "AWSLogs/");
    }
}
