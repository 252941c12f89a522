//! Ingests AWS CloudTrail logs into ctlake's Parquet lake.
//!
//! ```text
//! sources ──► framing ──► decode ──► (dedup) ──► writer ──► staging ──► manifest commit
//!  files,     record      Arrow       per         Parquet    invisible    one atomic
//!  folders,   boundaries  builders,   partition   per        to readers   log entry
//!  globs      (streamed)  per core    eventID     partition
//! ```
//!
//! - [`source`] finds and opens the input files (gzip decided by content); [`remote`] does
//!   the same for `s3://` sources, listing incrementally from cursors kept in the log;
//! - [`framing`] splits each stream into records without parsing, so files of any size stream;
//! - [`decode`] parses each record once, straight into Arrow column builders, one decoder
//!   thread per core;
//! - [`writer`] sorts each partition's rows by event time and encodes Parquet;
//! - [`compact`] rewrites a partition's small files into files of the target size, merging
//!   overlapping ones in bounded memory (`merge`);
//! - [`manifest`] commits a run's files and sources atomically and recovers after crashes;
//! - [`ingested`] records which source files the lake holds, so re-runs skip them;
//! - [`pipeline`] runs the whole thing with bounded memory.
//!
//! The lake layout and table schema are defined in `ctlake-schema`.
#![warn(missing_docs)]

pub mod compact;
mod decode;
mod error;
mod framing;
pub mod ingested;
mod keycheck;
pub mod lake;
pub mod manifest;
mod merge;
pub mod pipeline;
pub mod remote;
pub mod source;
mod store;
mod tape;
pub mod verify;
mod writer;

pub use compact::{CompactOptions, CompactReport, compact};
pub use error::{Error, Result};
pub use lake::LakeWriter;
pub use manifest::LakeSummary;
pub use pipeline::{Admission, FileProblem, IngestOptions, IngestReport, Progress, ingest};
pub use store::LakeStore;

/// The decoder, framer and Parquet encoder, for this crate's micro-benchmarks (`examples/`)
/// only: they are internals, not part of the API, and change without notice.
#[doc(hidden)]
pub mod internals {
    pub use crate::decode::Decoder;
    pub use crate::framing::{Framer, Item};
    pub use crate::writer::encode;
}
