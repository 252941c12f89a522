//! The commit log of a ctlake lake: the contract between the writer and the readers.
//!
//! A lake's state is the replay of `_ctlake/log/<seq>.json`, one [`Commit`] per entry: the data
//! files it added and removed, the source files whose events it stored, and the listing
//! cursors of the S3 prefixes it read. The log, not a directory listing, is the truth: a data
//! file is part of the table from the moment an entry naming it exists, and entries are written
//! with put-if-absent, so a commit is one atomic step on a local disk and on S3 alike.
//!
//! This crate is pure: [`Snapshot::replay`] takes the entries as bytes and does no I/O. The
//! writer (`ctlake-ingest`) and the reader (`ctlake-query`) each fetch the entries through
//! `object_store` (see `ctlake-store`) and call the same replay, so they cannot disagree on
//! what a lake holds.
#![warn(missing_docs)]

mod entry;
mod error;
mod snapshot;

pub use entry::{Commit, CommitCounts, FileEntry, LakeInfo, SourceEntry};
pub use error::{Error, Result};
pub use snapshot::{LakeSummary, Snapshot};

/// Formats microseconds since the epoch as RFC 3339 (seconds).
pub fn format_micros(us: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_micros(us)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| us.to_string())
}
