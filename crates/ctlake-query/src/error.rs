//! The crate's error type.

use std::fmt;

use datafusion::error::DataFusionError;

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
    /// The query does not parse. `line` and `column` (1-based) point into the text as written;
    /// both are 0 when the parser gave no position.
    #[error("{}", Position(.message, *.line, *.column))]
    Syntax {
        /// What the parser expected.
        message: String,
        /// Line of the error.
        line: usize,
        /// Column of the error, in characters.
        column: usize,
    },
    /// The statement would write or reach outside the lake.
    #[error(
        "ctlake is read-only: {statement} is refused (SELECT, WITH, EXPLAIN, DESCRIBE and SHOW run)"
    )]
    ReadOnly {
        /// The refused statement's kind, e.g. `DROP TABLE`.
        statement: String,
    },
    /// A construct ctlake does not support yet.
    #[error("not supported yet: {what}")]
    Unsupported {
        /// What, and how to write it instead where there is a way.
        what: String,
    },
    /// The query goes beyond one of ctlake's limits (expression depth, a function's output
    /// size, the time allowed).
    #[error("query refused: {what}")]
    Limit {
        /// Which limit, and how to stay within it.
        what: String,
    },
    /// A column or struct field that does not exist.
    #[error("unknown column {name}{}", .suggestion.as_ref().map(|s| format!("; did you mean {s}?")).unwrap_or_default())]
    UnknownColumn {
        /// The name as written.
        name: String,
        /// The nearest real name.
        suggestion: Option<String>,
    },
    /// A time that is neither relative (`-7d`, `today`, `now`) nor an ISO date or timestamp.
    #[error(
        "cannot read {text:?} as a time: use -15m, -36h, -7d, -2w, now, today, yesterday or an ISO date"
    )]
    Time {
        /// The text given.
        text: String,
    },
    /// A saved query that cannot be found, read or bound.
    #[error("saved query {name}: {message}")]
    Saved {
        /// The query's name (or file).
        name: String,
        /// What is wrong.
        message: String,
    },
    /// The cluster a query was sent to could not be reached or could not run it.
    #[error("cluster {cluster}: {message}")]
    Cluster {
        /// The cluster (`df://host:port`).
        cluster: String,
        /// What went wrong.
        message: String,
    },
    /// Planning or running a query failed.
    #[error("{}", clean(.0))]
    DataFusion(DataFusionError),
    /// Writing a result failed.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// Reading the lake's objects failed.
    #[error("{}", ctlake_store::explain(.0))]
    ObjectStore(#[from] object_store::Error),
    /// Opening the lake's storage or replaying its log failed.
    #[error(transparent)]
    Store(#[from] ctlake_store::Error),
    /// Writing a result out failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

// Not `#[from]`: that would make the DataFusion error a `source`, and error reporters would
// print its message twice.
impl From<DataFusionError> for Error {
    fn from(e: DataFusionError) -> Self {
        Self::DataFusion(e)
    }
}

struct Position<'a>(&'a str, usize, usize);

impl fmt::Display for Position<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.1, self.2) {
            (0, _) => write!(f, "syntax error: {}", self.0),
            (line, column) => write!(
                f,
                "syntax error at line {line}, column {column}: {}",
                self.0
            ),
        }
    }
}

/// DataFusion's innermost message without its category prefix or backtrace: the part a user
/// can act on.
fn clean(e: &DataFusionError) -> String {
    let message = e.find_root().strip_backtrace();
    let mut m = message.as_str();
    for prefix in [
        "Error during planning: ",
        "Execution error: ",
        "This feature is not implemented: ",
        "Schema error: ",
        "Arrow error: ",
    ] {
        m = m.strip_prefix(prefix).unwrap_or(m);
    }
    // A data file that does not decode: the Parquet reader repeats its prefix at each layer,
    // and only sometimes names the file.
    if m.contains("Parquet error: ") {
        let mut text = m.trim().to_string();
        while text.contains("Parquet error: Parquet error: ") {
            text = text.replace("Parquet error: Parquet error: ", "Parquet error: ");
        }
        return format!(
            "{text} (a data file of the lake may be damaged: `ctlake verify` names damaged \
             files, `ctlake repair --drop-damaged` takes them out of the table)"
        );
    }
    m.trim().to_string()
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
