//! The table contract of a ctlake lake.
//!
//! Everything that both the writer (`ctlake-ingest`) and the readers (`ctlake-query`, DuckDB,
//! Spark, Athena) must agree on lives here and nowhere else:
//!
//! - [`schema`]: the event table's Arrow schema, CloudTrail Lake's columns in lowercase;
//! - [`layout`]: where partitions, data files and lake metadata live under the lake root;
//! - [`jsonmap`]: the rule that turns a JSON object into a `map<string,string>` column value;
//! - [`shred`]: the flat copies of nested values that data files carry for file skipping;
//! - [`ddl`]: the table as Athena, Trino, Spark and DuckDB declare it;
//! - [`awskey`]: parsing of the object keys and file names AWS delivers CloudTrail files under.
//!
//! The crate deliberately has no DataFusion or Parquet dependency, so that a tool which only
//! needs the contract stays small.
#![warn(missing_docs)]

pub mod awskey;
pub mod ddl;
pub mod jsonmap;
pub mod layout;
pub mod schema;
pub mod shred;

pub use layout::{PartitionError, PartitionKey};
pub use schema::{event_schema, table_schema};
