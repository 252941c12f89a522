//! The crate's error type.

/// Everything that can go wrong opening or querying a lake.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The location is not a lake.
    #[error("lake {location}: {message}")]
    Lake {
        /// The location.
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
    /// Planning or running a query failed.
    #[error("{0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),
    /// Reading the lake's objects failed.
    #[error("object store: {0}")]
    ObjectStore(#[from] object_store::Error),
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
