//! Finding and opening source files.
//!
//! `ctlake ingest` takes files, folders (walked recursively, in name order so runs are
//! repeatable, with the delivery layout's day folders grouped by day and region) and glob
//! patterns (expanded here, so that a quoted `'AWSLogs/**/*.json.gz'` over millions of files
//! does not hit the shell's argument limit). A file named on the command line
//! is always read; in a folder, only names that can hold CloudTrail JSON are (`.json`,
//! `.json.gz`, `.jsonl`, `.ndjson`, `.gz`, `.cloudtrail`), so a `README` or a `.DS_Store` is not
//! reported as a bad file. Compression is decided by content (the gzip magic bytes), not by
//! name. Digest files are never read as events.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use ctlake_schema::awskey::{self, DayFolder};
use flate2::read::MultiGzDecoder;
use rustc_hash::FxHashSet;

use crate::remote::{self, Listing, RemoteObject};
use crate::{Error, Result};

/// A source file to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// Where it is.
    pub path: PathBuf,
    /// Its identity in the manifest: the `file://` URI of its canonical path.
    pub uri: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its modification time, nanoseconds since the epoch.
    pub mtime_ns: i64,
    /// Where it is on S3, for a remote source (`path` then only shows its URI).
    pub remote: Option<RemoteObject>,
}

/// A file passed over without reading it as events, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passed {
    /// The file.
    pub path: String,
    /// Why.
    pub reason: String,
}

/// What discovery found.
#[derive(Debug, Default)]
pub struct Discovered {
    /// Files to read, in order, each once.
    pub files: Vec<SourceFile>,
    /// Digest files passed over (an expected part of the AWS layout).
    pub digests: Vec<Passed>,
    /// Files in walked folders whose names cannot hold CloudTrail JSON.
    pub ignored: usize,
}

const EVENT_FILE_SUFFIXES: [&str; 6] = [
    ".json",
    ".jsonl",
    ".ndjson",
    ".gz",
    ".cloudtrail",
    ".json.gz",
];

pub(crate) fn looks_like_event_file(name: &[u8]) -> bool {
    EVENT_FILE_SUFFIXES.iter().any(|s| {
        name.len() >= s.len() && name[name.len() - s.len()..].eq_ignore_ascii_case(s.as_bytes())
    })
}

/// The bytes a `file://` URI's path keeps as they are: `url`'s path-segment set lets these
/// through unencoded, and `/` separates the segments.
const URI_PLAIN: [bool; 256] = {
    let mut plain = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        plain[b] = c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~' | b'/');
        b += 1;
    }
    let mut i = 0;
    let more = b"!$&'()*+,;=:@";
    while i < more.len() {
        plain[more[i] as usize] = true;
        i += 1;
    }
    plain
};

/// The `file://` URI of a canonical path, the source's identity in the manifest. A path of
/// the characters a URI path keeps as they are is written out directly; any other goes
/// through `url` (for its percent-encoding), which parses the path's components again and
/// cost a sixth of the walk's instructions over a tree of small delivery files.
pub(crate) fn file_uri(canonical: &Path) -> String {
    if cfg!(unix)
        && let Some(text) = canonical.to_str()
        && text.starts_with('/')
        && !text.ends_with('/')
        && text.bytes().all(|b| URI_PLAIN[b as usize])
        // `.`, `..` and empty segments, which `url` folds; a canonical path has none, but a
        // name starting with a dot (`/.x`) takes the slow way too rather than be told apart.
        && memchr::memmem::find(text.as_bytes(), b"//").is_none()
        && memchr::memmem::find(text.as_bytes(), b"/.").is_none()
    {
        let mut uri = String::with_capacity(7 + text.len());
        uri.push_str("file://");
        uri.push_str(text);
        return uri;
    }
    url::Url::from_file_path(canonical)
        .map(|u| u.to_string())
        .unwrap_or_else(|_| canonical.display().to_string())
}

/// The last segment of a path, without parsing its components (a walk asks it of every
/// entry).
fn last_name(path: &Path) -> &[u8] {
    let bytes = path.as_os_str().as_encoded_bytes();
    match memchr::memrchr(b'/', bytes) {
        Some(at) => &bytes[at + 1..],
        None => bytes,
    }
}

fn has_glob_chars(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Checks that every source exists (or, for a glob, matches something) without walking
/// folders, so a typo fails before anything is created.
pub fn check_sources(args: &[String]) -> Result<()> {
    for arg in args {
        if arg.starts_with("s3://") {
            remote::check(arg)?;
            continue;
        }
        if Path::new(arg).exists() {
            continue;
        }
        let matched = has_glob_chars(arg)
            && glob::glob(arg)
                .map_err(|e| Error::Glob {
                    pattern: arg.clone(),
                    message: e.to_string(),
                })?
                .next()
                .is_some();
        if !matched {
            return Err(Error::SourceNotFound(arg.clone()));
        }
    }
    Ok(())
}

/// One thing the walk found.
#[derive(Debug)]
pub enum Found {
    /// A file to read.
    File(SourceFile),
    /// A digest file, passed over.
    Digest(Passed),
    /// A CloudTrail Insights file (`CloudTrail-Insight/`): not API events; its path is kept
    /// for the `insights` table.
    Insight(Passed),
    /// A file in a walked folder whose name cannot hold CloudTrail JSON.
    Ignored,
    /// An entry of a walked folder that cannot be read (no permission, a link that loops or
    /// points nowhere): said, and the walk goes on.
    Unreadable(Passed),
}

/// Expands the command-line sources and collects what they hold. For millions of files use
/// [`walk`], which hands files over one at a time.
pub fn discover(args: &[String], exclude: Option<&Path>) -> Result<Discovered> {
    let mut found = Discovered::default();
    walk(args, exclude, &Listing::default(), &mut |item| {
        match item {
            Found::File(f) => found.files.push(f),
            Found::Digest(p) | Found::Insight(p) => found.digests.push(p),
            Found::Ignored | Found::Unreadable(_) => found.ignored += 1,
        }
        true
    })?;
    Ok(found)
}

/// Expands the command-line sources, handing each file to `sink` as it is found (folders in
/// name order, day folders by day and region after the rest, each file once), until `sink`
/// returns false. `exclude` (the lake itself, when it sits inside a source folder) is never
/// walked.
///
/// Nothing is kept per file but a 16-byte hash of its path (to pass over a file named twice),
/// and per day folder its path, so a walk over millions of files runs in little memory while
/// the files are read. `s3://` sources are listed as [`remote`] describes, from the cursors in
/// `listing`.
pub fn walk(
    args: &[String],
    exclude: Option<&Path>,
    listing: &Listing,
    sink: &mut dyn FnMut(Found) -> bool,
) -> Result<()> {
    let exclude = exclude.and_then(|p| p.canonicalize().ok());
    let mut walk = Walk {
        exclude: exclude.as_deref(),
        seen: FxHashSet::default(),
        dirs: FxHashSet::default(),
        sink,
        stopped: false,
    };
    for arg in args {
        let path = Path::new(arg);
        if arg.starts_with("s3://") {
            if !remote::walk(arg, listing, &mut *walk.sink)? {
                return Ok(());
            }
            continue;
        }
        if path.exists() {
            walk.path(path, true)?;
        } else if has_glob_chars(arg) {
            let matches = glob::glob(arg).map_err(|e| Error::Glob {
                pattern: arg.clone(),
                message: e.to_string(),
            })?;
            let mut any = false;
            for m in matches {
                let m = m.map_err(|e| {
                    let path = e.path().display().to_string();
                    Error::io(path, e.into())
                })?;
                any = true;
                walk.path(&m, true)?;
                if walk.stopped {
                    return Ok(());
                }
            }
            if !any {
                return Err(Error::SourceNotFound(arg.clone()));
            }
        } else {
            return Err(Error::SourceNotFound(arg.clone()));
        }
        if walk.stopped {
            return Ok(());
        }
    }
    Ok(())
}

struct Walk<'a> {
    exclude: Option<&'a Path>,
    seen: FxHashSet<u128>,
    /// Folders walked, canonical: a link back to one of them (a loop) is not walked again.
    dirs: FxHashSet<PathBuf>,
    sink: &'a mut dyn FnMut(Found) -> bool,
    stopped: bool,
}

impl Walk<'_> {
    fn emit(&mut self, item: Found) {
        if !(self.sink)(item) {
            self.stopped = true;
        }
    }

    fn path(&mut self, path: &Path, explicit: bool) -> Result<()> {
        let display = path.display().to_string();
        // Canonicalise the argument once; entries below a canonical folder are canonical as
        // walked (resolving each of millions of files again costs a path walk in the kernel).
        let root = path.canonicalize().map_err(|e| Error::io(&display, e))?;
        if !root.is_dir() {
            return self.file(path.to_path_buf(), Some(root), explicit);
        }
        if !self.dirs.insert(root.clone()) {
            return Ok(());
        }
        // The delivery layout puts the account above the region and the day, so a walk in
        // name order would visit every partition once per account, and each visit would end
        // as a small file of its own. Day folders are therefore set aside (one entry per
        // folder, not per file) and walked after the rest, by day and region: one
        // partition's deliveries then arrive together, and are written together.
        let mut days = Vec::new();
        self.dir(path, &root, Some(&mut days))?;
        days.sort();
        for (_, shown, canonical) in days {
            if self.stopped {
                return Ok(());
            }
            self.dir(&shown, &canonical, None)?;
        }
        Ok(())
    }

    /// Walks one folder in name order. With `days`, day folders below it are not entered but
    /// listed there for later.
    fn dir(
        &mut self,
        shown_root: &Path,
        root: &Path,
        mut days: Option<&mut Vec<(DayFolder, PathBuf, PathBuf)>>,
    ) -> Result<()> {
        let exclude = self.exclude;
        // Byte for byte: `Path`'s `==` would call `a/./b` and `a/b` the same.
        let same = shown_root.as_os_str() == root.as_os_str();
        let root_text = root.to_str();
        let mut walker = walkdir::WalkDir::new(root)
            // The entries sorted share their folder, so their paths order as their names do;
            // comparing names instead parsed both paths' components on every comparison
            // (2% of an ingest of tiny files).
            .sort_by(|a, b| a.path().as_os_str().cmp(b.path().as_os_str()))
            .into_iter()
            .filter_entry(|e| {
                let hidden = e.depth() > 0 && last_name(e.path()).starts_with(b".");
                // Both canonical: their bytes tell (`Path`'s `==` parses both).
                !hidden && exclude.is_none_or(|x| x.as_os_str() != e.path().as_os_str())
            });
        while let Some(entry) = walker.next() {
            if self.stopped {
                return Ok(());
            }
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => {
                    let path = e.path().map_or_else(
                        || shown_root.display().to_string(),
                        |p| p.display().to_string(),
                    );
                    let reason = e
                        .io_error()
                        .map_or_else(|| e.to_string(), |io| io.to_string());
                    self.emit(Found::Unreadable(Passed { path, reason }));
                    continue;
                }
            };
            let file_type = entry.file_type();
            // The path as the user named its folder. walkdir joins names to `root`, so what
            // follows `root` and a `/` is the part below it (`strip_prefix` parsed both
            // paths' components for every file).
            let shown = || {
                if same {
                    return entry.path().to_path_buf();
                }
                let below = root_text
                    .and_then(|root| entry.path().to_str()?.strip_prefix(root)?.strip_prefix('/'));
                match below {
                    Some(below) => shown_root.join(below),
                    None => {
                        shown_root.join(entry.path().strip_prefix(root).unwrap_or(entry.path()))
                    }
                }
            };
            if file_type.is_dir() && entry.depth() > 0 {
                if let Some(days) = days.as_deref_mut()
                    && let Some(day) = awskey::day_folder(&entry.path().to_string_lossy())
                {
                    days.push((day, shown(), entry.into_path()));
                    walker.skip_current_dir();
                }
            } else if file_type.is_file() {
                if same {
                    self.file(entry.into_path(), None, false)?;
                } else {
                    let shown = shown();
                    self.file(shown, Some(entry.into_path()), false)?;
                }
            } else if file_type.is_symlink() {
                // A link is followed to what it names, which may lie outside the walked folder.
                let shown = shown();
                match entry.path().canonicalize() {
                    Ok(target) if target.is_dir() => self.path(&shown, false)?,
                    Ok(target) => self.file(shown, Some(target), false)?,
                    Err(e) => self.emit(Found::Unreadable(Passed {
                        path: shown.display().to_string(),
                        reason: format!("link that cannot be followed: {e}"),
                    })),
                }
            }
        }
        Ok(())
    }

    /// One file: `path` as the user sees it, `canonical` as the manifest names it (None: the
    /// same path).
    fn file(&mut self, path: PathBuf, canonical: Option<PathBuf>, explicit: bool) -> Result<()> {
        let canonical = canonical.as_deref().unwrap_or(&path);
        let key = xxhash_rust::xxh3::xxh3_128(canonical.as_os_str().as_encoded_bytes());
        if !self.seen.insert(key) {
            return Ok(());
        }
        if !explicit && !looks_like_event_file(last_name(&path)) {
            self.emit(Found::Ignored);
            return Ok(());
        }
        let shown = path
            .to_str()
            .map_or_else(|| path.to_string_lossy(), std::borrow::Cow::Borrowed);
        if awskey::is_insight_path(&shown) {
            self.emit(Found::Insight(Passed {
                path: shown.into_owned(),
                reason: "CloudTrail Insights file (stored in the insights table)".into(),
            }));
            return Ok(());
        }
        if awskey::is_digest_path(&shown) {
            self.emit(Found::Digest(Passed {
                path: shown.into_owned(),
                reason: "CloudTrail digest file (integrity record, not events)".into(),
            }));
            return Ok(());
        }
        let meta = std::fs::metadata(canonical).map_err(|e| Error::io(&*shown, e))?;
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0);
        let uri = file_uri(canonical);
        self.emit(Found::File(SourceFile {
            path,
            uri,
            size: meta.len(),
            mtime_ns,
            remote: None,
        }));
        Ok(())
    }
}

/// Files up to this size are read whole by the I/O threads (see [`read_whole`]); larger ones
/// are streamed by their decoder, so a huge file never sits in memory whole.
pub const WHOLE_FILE_MAX: u64 = 1 << 20;

/// Reads a small source file whole. Delivered CloudTrail files are a few kilobytes, and a
/// cold read waits on the disk for far longer than decoding takes: several threads reading
/// whole files ahead of the decoders keep the disk's queue full and the cores busy.
///
/// It reads the `size` bytes the walk saw, which is the size the manifest records: usually
/// one `read`, where reading on to the end took a second one to see it. A file that grew
/// since has another size at the next run, which reads it again.
pub fn read_whole(path: &Path, size: u64) -> std::io::Result<Vec<u8>> {
    let file = File::open(path)?;
    let mut bytes = Vec::with_capacity(size as usize);
    // Through `take`: `File::read_to_end` first asks the file its size and position (a statx
    // and an lseek), which the walk already knows; and at `size` bytes it stops without
    // another call.
    file.take(size).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// A reader over whole source files, one after another, decompressing those that start with
/// the gzip magic (as [`open`] does for a file). It keeps one inflate state for all of them:
/// creating one per file (as `MultiGzDecoder::new` does) allocates and zeroes some 40 KB, 3%
/// of the instructions of an ingest of delivery files of a few events each.
pub struct WholeReader {
    gzip: flate2::bufread::GzDecoder<std::io::Cursor<Vec<u8>>>,
    plain: std::io::Cursor<Vec<u8>>,
    /// Whether the current file is read through `gzip`.
    gzipped: bool,
}

impl Default for WholeReader {
    fn default() -> Self {
        Self::new()
    }
}

impl WholeReader {
    /// A reader with nothing to read yet.
    pub fn new() -> Self {
        Self {
            gzip: flate2::bufread::GzDecoder::new(std::io::Cursor::new(Vec::new())),
            plain: std::io::Cursor::new(Vec::new()),
            gzipped: false,
        }
    }

    /// Starts reading `bytes`, a whole source file.
    pub fn start(&mut self, bytes: Vec<u8>) {
        self.gzipped = bytes.starts_with(&[0x1f, 0x8b]);
        if self.gzipped {
            // Resetting keeps the inflate state's memory and restarts it.
            self.gzip.reset(std::io::Cursor::new(bytes));
            self.plain = std::io::Cursor::new(Vec::new());
        } else {
            self.plain = std::io::Cursor::new(bytes);
        }
    }
}

impl Read for WholeReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if !self.gzipped {
            return self.plain.read(out);
        }
        loop {
            let n = self.gzip.read(out)?;
            let input = self.gzip.get_ref();
            if n > 0 || out.is_empty() || input.position() >= input.get_ref().len() as u64 {
                return Ok(n);
            }
            // The end of one gzip member with bytes after it: concatenated gzip streams are one
            // file to gunzip, so to us (as for `MultiGzDecoder`, what follows must be another
            // member). The decoder reads no further than its member's trailer.
            let input = self.gzip.reset(std::io::Cursor::new(Vec::new()));
            self.gzip.reset(input);
        }
    }
}

/// Opens a source for reading, decompressing it when its first bytes are the gzip magic.
pub fn open(path: &Path) -> std::io::Result<Box<dyn Read + Send>> {
    let file = File::open(path)?;
    // Below glibc's mmap threshold (128 KiB), so opening one of millions of small files does
    // not cost an mmap, page faults and an munmap.
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    let head = reader.fill_buf()?;
    if head.starts_with(&[0x1f, 0x8b]) {
        // Multi-member: concatenated gzip streams are one file to gunzip, so to us.
        Ok(Box::new(MultiGzDecoder::new(reader)))
    } else {
        Ok(Box::new(reader))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn walks_folders_in_order_and_filters_names() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let d = root.join("AWSLogs/111122223333/CloudTrail/us-east-1/2024/05/01");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("b.json.gz"), b"x").unwrap();
        std::fs::write(d.join("a.json"), b"x").unwrap();
        std::fs::write(d.join("README.txt"), b"x").unwrap();
        std::fs::write(d.join(".hidden.json"), b"x").unwrap();
        let dg = root.join("AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/05/01");
        std::fs::create_dir_all(&dg).unwrap();
        std::fs::write(
            dg.join(
                "111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_20240501T000000Z.json.gz",
            ),
            b"x",
        )
        .unwrap();
        let lake = root.join("lake");
        std::fs::create_dir_all(lake.join("_rejects")).unwrap();
        std::fs::write(lake.join("_rejects/r.jsonl"), b"x").unwrap();

        let arg = root.display().to_string();
        let found = discover(&[arg.clone(), arg], Some(&lake)).unwrap();
        let names: Vec<String> = found
            .files
            .iter()
            .map(|f| f.path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["a.json", "b.json.gz"]);
        assert_eq!(found.digests.len(), 1);
        assert_eq!(found.ignored, 1);
        assert!(found.files[0].uri.starts_with("file:///"));
    }

    /// Day folders are visited by day and region, whatever account they sit under, after
    /// the files outside the delivery layout.
    #[test]
    fn day_folders_are_walked_by_day_and_region_across_accounts() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for account in ["111111111111", "222222222222"] {
            for region in ["us-east-1", "eu-west-1"] {
                for day in ["01", "02"] {
                    let d = root.join(format!(
                        "AWSLogs/{account}/CloudTrail/{region}/2024/05/{day}"
                    ));
                    std::fs::create_dir_all(&d).unwrap();
                    std::fs::write(d.join(format!("{account}-{region}-{day}.json")), b"x").unwrap();
                }
            }
        }
        std::fs::write(root.join("AWSLogs/loose.json"), b"x").unwrap();
        let found = discover(&[root.display().to_string()], None).unwrap();
        let names: Vec<String> = found
            .files
            .iter()
            .map(|f| f.path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "loose.json",
                "111111111111-eu-west-1-01.json",
                "222222222222-eu-west-1-01.json",
                "111111111111-us-east-1-01.json",
                "222222222222-us-east-1-01.json",
                "111111111111-eu-west-1-02.json",
                "222222222222-eu-west-1-02.json",
                "111111111111-us-east-1-02.json",
                "222222222222-us-east-1-02.json",
            ]
        );
        // The paths shown keep the folders they were found under.
        assert!(found.files[1].path.ends_with(
            "AWSLogs/111111111111/CloudTrail/eu-west-1/2024/05/01/111111111111-eu-west-1-01.json"
        ));
    }

    /// Files are shown under the folder as it was named (here through a link to it) and
    /// known to the manifest by their canonical path.
    #[cfg(unix)]
    #[test]
    fn files_are_shown_as_named_and_identified_by_canonical_path() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().canonicalize().unwrap().join("real");
        let day = real.join("AWSLogs/111122223333/CloudTrail/us-east-1/2024/05/01");
        std::fs::create_dir_all(&day).unwrap();
        std::fs::write(day.join("a b.json"), b"x").unwrap();
        std::fs::write(real.join("top.json"), b"x").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let named = format!("{}/./", link.display());
        let found = discover(std::slice::from_ref(&named), None).unwrap();
        let shown: Vec<String> = found
            .files
            .iter()
            .map(|f| f.path.display().to_string())
            .collect();
        assert_eq!(
            shown,
            [
                format!("{named}top.json"),
                format!("{named}AWSLogs/111122223333/CloudTrail/us-east-1/2024/05/01/a b.json"),
            ]
        );
        let uris: Vec<&str> = found.files.iter().map(|f| f.uri.as_str()).collect();
        let real_uri = format!("file://{}", real.display());
        assert_eq!(
            uris,
            [
                format!("{real_uri}/top.json"),
                format!(
                    "{real_uri}/AWSLogs/111122223333/CloudTrail/us-east-1/2024/05/01/a%20b.json"
                ),
            ]
        );
    }

    #[test]
    fn globs_expand_and_missing_sources_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("x.json"), b"{}").unwrap();
        std::fs::write(dir.path().join("y.json"), b"{}").unwrap();
        let pattern = format!("{}/*.json", dir.path().display());
        assert_eq!(discover(&[pattern], None).unwrap().files.len(), 2);
        let missing = format!("{}/nope.json", dir.path().display());
        assert!(matches!(
            discover(&[missing], None),
            Err(Error::SourceNotFound(_))
        ));
        let no_match = format!("{}/*.nothing", dir.path().display());
        assert!(matches!(
            discover(&[no_match], None),
            Err(Error::SourceNotFound(_))
        ));
    }

    /// One reader over many files: gzip and plain in turn, a file of two gzip members, and a
    /// broken one that does not spoil the file after it.
    #[test]
    fn whole_reader_reads_files_one_after_another() {
        let gz = |text: &[u8]| {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            enc.write_all(text).unwrap();
            enc.finish().unwrap()
        };
        // What flate2's MultiGzDecoder makes of the same bytes, read from scratch, is the
        // reference: the reused reader must agree with it, on errors too.
        let read = |reader: &mut WholeReader, bytes: Vec<u8>| {
            let mut fresh = String::new();
            let fresh = if bytes.starts_with(&[0x1f, 0x8b]) {
                MultiGzDecoder::new(&bytes[..]).read_to_string(&mut fresh)
            } else {
                (&bytes[..]).read_to_string(&mut fresh)
            }
            .map(|_| fresh)
            .map_err(|e| e.kind());
            reader.start(bytes);
            let mut s = String::new();
            let got = reader.read_to_string(&mut s).map(|_| s);
            assert_eq!(
                got.as_ref().map_err(|e| e.kind()),
                fresh.as_ref().map_err(|e| *e)
            );
            got
        };
        let mut reader = WholeReader::new();
        assert_eq!(read(&mut reader, gz(b"first")).unwrap(), "first");
        assert_eq!(read(&mut reader, b"plain".to_vec()).unwrap(), "plain");
        let mut two = gz(b"one,");
        two.extend(gz(b"two"));
        assert_eq!(read(&mut reader, two).unwrap(), "one,two");
        let mut cut = gz(b"a longer text, cut off before its end");
        cut.truncate(cut.len() - 12);
        assert!(read(&mut reader, cut).is_err());
        let mut trailing = gz(b"x");
        trailing.extend_from_slice(b"garbage");
        assert!(read(&mut reader, trailing).is_err());
        assert_eq!(read(&mut reader, gz(b"after")).unwrap(), "after");
    }

    /// The direct URI is the one `url` makes, for plain paths and for those that need it.
    #[test]
    fn file_uris_are_urls() {
        let paths = [
            "/",
            "/a",
            "/work/AWSLogs/o-abc123/111122223333/CloudTrail/us-east-1/2024/05/01/\
             111122223333_CloudTrail_us-east-1_20240501T0005Z_Ab9-x.json.gz",
            "/x/with space/a#b?c%d.json",
            "/x/ümlaut/é.json",
            "/x/.hidden/a.json",
            "/x/a.json.",
            "/x/a~b!c$d&e'f(g)h*i+j,k;l=m:n@o.json",
            "/x/back\\slash/`tick`/{brace}/<lt>/\"q\".json",
        ];
        for p in paths {
            let path = Path::new(p);
            let expected = url::Url::from_file_path(path).unwrap().to_string();
            assert_eq!(file_uri(path), expected, "{p}");
        }
        assert!(looks_like_event_file(b"a.JSON.GZ"));
        assert!(looks_like_event_file(b".json"));
        assert!(!looks_like_event_file(b"json"));
        assert!(!looks_like_event_file(b"README"));
    }

    #[test]
    fn gzip_is_detected_by_content() {
        let dir = tempfile::tempdir().unwrap();
        let gz = dir.path().join("plain-name.json");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(b"{\"Records\":[]}").unwrap();
        std::fs::write(&gz, enc.finish().unwrap()).unwrap();
        let mut s = String::new();
        open(&gz).unwrap().read_to_string(&mut s).unwrap();
        assert_eq!(s, "{\"Records\":[]}");
    }
}
