//! CloudTrail log file integrity validation, offline and on S3.
//!
//! A trail with log file validation delivers, every hour and region, a digest file listing the
//! log files it delivered with their SHA-256, chained to the previous digest and signed with
//! an AWS key. AWS's `aws cloudtrail validate-logs` checks that chain only online, against the
//! original bucket; this crate checks it wherever the copy is (a local `AWSLogs/` tree or an
//! `s3://` prefix), with the keys `aws cloudtrail list-public-keys` prints, and reports in the
//! same words. It also writes signed digest chains with a key of one's own, for generated
//! trails and tests.

#![warn(missing_docs)]

mod error;
pub mod format;
pub mod keys;
pub mod validate;
pub mod write;

pub use error::{Error, Result};
pub use keys::{PublicKeys, Signer};
pub use validate::{Event, Options, Subject, Summary, Verdict, validate};
pub use write::{Trail, Written, write_digests};
