//! What the lake's metadata files hold, as they are serialised.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use ctlake_schema::layout::PartitionKey;
use serde::{Deserialize, Serialize};

/// The lake's identity (`_ctlake/lake.json`), written once when the lake is created.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LakeInfo {
    /// The event data store ID: a UUID that names the table in CloudTrail Lake-style queries.
    pub id: String,
    /// When the lake was created (RFC 3339).
    pub created: String,
    /// The layout version.
    pub format: u32,
}

impl LakeInfo {
    /// Parses `_ctlake/lake.json`.
    pub fn parse(path: &str, bytes: &[u8]) -> crate::Result<Self> {
        serde_json::from_slice(bytes).map_err(|source| crate::Error::Corrupt {
            path: path.to_string(),
            source,
        })
    }
}

/// A source file whose events a commit stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceEntry {
    /// The source's URI (`file:///...` or `s3://bucket/key`).
    pub uri: String,
    /// Its size in bytes when read.
    pub size: u64,
    /// Its modification time when read, nanoseconds since the epoch.
    pub mtime_ns: i64,
    /// Records read from it.
    pub events: u64,
}

/// A data file of the table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Path relative to the lake root.
    pub path: String,
    /// The partition's region.
    pub region: String,
    /// The partition's date.
    pub date: NaiveDate,
    /// Rows in the file.
    pub rows: u64,
    /// Size in bytes.
    pub bytes: u64,
    /// Smallest `eventtime` (microseconds since the epoch).
    pub min_time_us: i64,
    /// Largest `eventtime` (microseconds since the epoch).
    pub max_time_us: i64,
    /// Hex SHA-256 of the file's bytes, checked by `ctlake verify` (files written before it was
    /// recorded have none). Parquet's page checksums would localise damage further, but the
    /// Parquet writer ctlake uses (parquet 59) cannot write them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// The version of the set of flat copies of nested values the file carries
    /// (`ctlake_schema::shred::VERSION`); 0, and not written, for files from before them.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub copies: u32,
    /// Length of the file's Parquet footer with its 8-byte trailer, so that a scan reads it in
    /// one read of exactly that many bytes from the end; 0, and not written, when unknown.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub footer: u32,
    /// The identity of the schema the file was written with
    /// (`ctlake_schema::schema::file_schema_id`); absent for files written before it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl FileEntry {
    /// The file's partition.
    pub fn partition(&self) -> PartitionKey {
        PartitionKey {
            region: self.region.clone(),
            date: self.date,
        }
    }
}

impl Commit {
    /// Parses the log entry stored at `path` (`_ctlake/log/<seq>.json`), checking that the
    /// sequence number inside agrees with its name.
    pub fn parse(path: &str, bytes: &[u8]) -> crate::Result<Self> {
        match ctlake_schema::layout::log_entry_seq(path) {
            Some(seq) => Self::parse_at(path, seq, bytes),
            None => Self::parse_json(path, bytes),
        }
    }

    pub(crate) fn parse_at(path: &str, seq: u64, bytes: &[u8]) -> crate::Result<Self> {
        let commit = Self::parse_json(path, bytes)?;
        if commit.seq != seq {
            return Err(crate::Error::Misplaced {
                path: path.to_string(),
                expected: seq,
                found: commit.seq,
            });
        }
        Ok(commit)
    }

    fn parse_json(path: &str, bytes: &[u8]) -> crate::Result<Self> {
        serde_json::from_slice(bytes).map_err(|source| crate::Error::Corrupt {
            path: path.to_string(),
            source,
        })
    }
}

/// Counts recorded with a commit, for `ctlake info` and audits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitCounts {
    /// Rows added.
    pub events: u64,
    /// Records dropped as duplicates of stored events.
    pub duplicates: u64,
    /// Records written to `_rejects/`.
    pub rejects: u64,
}

/// One entry of the commit log.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Commit {
    /// Position in the log.
    pub seq: u64,
    /// The run that wrote it.
    pub run: String,
    /// The run's batch number.
    pub batch: u32,
    /// When (RFC 3339).
    pub committed_at: String,
    /// Which program wrote it.
    pub writer: String,
    /// Sources whose events this commit stored, inline (lakes written before
    /// [`Commit::sources_file`]; new commits leave it empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<SourceEntry>,
    /// The Parquet file listing the sources whose events this commit stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sources_file: Option<String>,
    /// How many sources that file lists.
    #[serde(default)]
    pub source_count: u64,
    /// Data files added.
    pub add: Vec<FileEntry>,
    /// Data files removed (paths).
    #[serde(default)]
    pub remove: Vec<String>,
    /// The rejects file written with this commit, if any.
    #[serde(default)]
    pub rejects_file: Option<String>,
    /// Counts.
    #[serde(default)]
    pub counts: CommitCounts,
    /// Listing cursors: for each S3 prefix of one account's region
    /// (`s3://bucket/AWSLogs/<account>/CloudTrail/<region>/`), the last key whose events this
    /// commit stored. The next run lists after it instead of listing the whole bucket again.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub cursors: BTreeMap<String, String>,
    /// `Some(true)` when every source this commit stored was a log file proven by CloudTrail's
    /// digests (`ingest --verify`); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proven: Option<bool>,
}
