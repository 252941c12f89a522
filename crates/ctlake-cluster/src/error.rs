//! The crate's error type.

/// What can go wrong starting a cluster's processes or reaching one.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An address or cluster URL that does not parse.
    #[error("{what}: {message}")]
    Address {
        /// The text given.
        what: String,
        /// Why it is refused.
        message: String,
    },
    /// Ballista refused to start or failed.
    #[error("{0}")]
    Ballista(#[from] ballista_core::error::BallistaError),
    /// Setting up a session failed.
    #[error("{0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),
    /// A working directory could not be made.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
