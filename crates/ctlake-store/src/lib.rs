//! Where ctlake reads and writes: a lake or a source is a local folder or an `s3://` prefix,
//! and both are reached through `object_store`, so nothing above this crate knows which.
//!
//! - [`Location`] parses what a user typed (`lake`, `/data/lake`, `s3://bucket/prefix`);
//! - [`open`] and [`s3_bucket`] build the object store, with the credentials the AWS CLI would
//!   use (see [`credentials`]) and retries with backoff for throttling and 5xx answers;
//! - [`explain`] turns a storage error into one line a user can act on (no credentials, access
//!   denied, no such bucket, an endpoint that does not answer);
//! - [`log`] reads a lake's identity and commit log and hands the entries to the one replay in
//!   `ctlake-log`, so the writer and every reader see the same snapshot.
#![warn(missing_docs)]

pub mod credentials;
mod error;
mod location;
pub mod log;

pub use error::{Error, Result, explain};
pub use location::{Location, open, s3_bucket};

/// Opens (creating it if need be) a lock file of a local lake: the writers' lock and the
/// readers' lock are both `flock`s on such a file, taken by the caller.
pub fn open_lock_file(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
}
