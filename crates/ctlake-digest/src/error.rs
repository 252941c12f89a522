//! The crate's one error type.

/// What can go wrong before a trail is judged: bad arguments, unreadable keys, a store that
/// does not answer. A damaged digest or log file is never an error: it is a finding.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The public keys file could not be read.
    #[error("public keys {path}: {message}")]
    Keys {
        /// The file.
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// The signing key could not be read.
    #[error("signing key {path}: {message}")]
    SigningKey {
        /// The file.
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// A source holds no `AWSLogs/` tree.
    #[error(
        "{location}: no AWSLogs/ folder here (give a trail copy: the AWSLogs folder, a folder above it, or an s3:// prefix)"
    )]
    NoTrail {
        /// The source.
        location: String,
    },
    /// The store failed (listing, reading, writing).
    #[error("{0}")]
    Store(#[from] ctlake_store::Error),
    /// A store operation failed.
    #[error("{op} {location}: {message}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// Where.
        location: String,
        /// Why.
        message: String,
    },
}

/// The crate's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;
