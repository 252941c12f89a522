//! The crate's error type.

/// Why a log could not be replayed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An entry or the identity file does not parse.
    #[error("lake metadata {path} is corrupt: {source}")]
    Corrupt {
        /// The entry.
        path: String,
        /// The parse error.
        source: serde_json::Error,
    },
    /// The log's sequence has a hole: answering from the rest would silently leave out the
    /// missing commits' events.
    #[error(
        "the commit log has a gap: entry {missing} is missing (found entries up to {last}); the lake's answers would be incomplete"
    )]
    Gap {
        /// The first missing sequence number.
        missing: u64,
        /// The highest entry present.
        last: u64,
    },
    /// An entry's own sequence number disagrees with its name.
    #[error("lake metadata {path} says it is commit {found}, but its name says {expected}")]
    Misplaced {
        /// The entry.
        path: String,
        /// The number in its name.
        expected: u64,
        /// The number inside it.
        found: u64,
    },
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
