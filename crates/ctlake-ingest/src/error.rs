//! The crate's error type.

use std::io;

/// Everything that can stop an ingest run or a lake operation.
///
/// Problems with one input file or one record are not errors: they are reported in the run's
/// [`crate::IngestReport`] and the run goes on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A source named on the command line does not exist.
    #[error("no such file or folder: {0}")]
    SourceNotFound(String),
    /// A glob pattern is malformed.
    #[error("bad glob pattern {pattern:?}: {message}")]
    Glob {
        /// The pattern.
        pattern: String,
        /// What is wrong with it.
        message: String,
    },
    /// A local file or folder could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: String,
        /// The underlying error.
        source: io::Error,
    },
    /// The lake location is not usable.
    #[error("lake {location}: {message}")]
    Lake {
        /// The lake location.
        location: String,
        /// What is wrong.
        message: String,
    },
    /// A file of the lake's metadata does not parse.
    #[error("lake metadata {path} is corrupt: {source}")]
    Metadata {
        /// The file.
        path: String,
        /// The parse error.
        source: serde_json::Error,
    },
    /// Another process is writing to the lake.
    #[error("another ctlake process is writing to the lake at {0}; try again when it has finished")]
    Locked(String),
    /// Another writer committed the same log entry first.
    #[error("commit {0} was written by another process at the same time; run again")]
    CommitConflict(u64),
    /// A storage operation failed (named, with its location).
    #[error(transparent)]
    Store(#[from] ctlake_store::Error),
    /// The commit log does not replay.
    #[error(transparent)]
    Log(#[from] ctlake_log::Error),
    /// An object store operation failed.
    #[error("{}", ctlake_store::explain(.0))]
    ObjectStore(#[from] object_store::Error),
    /// An Arrow operation failed.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// Parquet encoding or decoding failed.
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl std::fmt::Display, source: io::Error) -> Self {
        Error::Io {
            path: path.to_string(),
            source,
        }
    }
}
