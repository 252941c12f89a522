//! End-to-end tests of ctlake: the real binary on real and generated CloudTrail, with expected
//! values from independent sources (the shared corpora's published counts, a Python reader of
//! the same files, DuckDB reading the lake).

mod bad_input;
mod cluster;
mod common;
mod compact;
mod compat;
mod corpora;
mod crash;
mod ddl;
mod formats;
mod insights;
mod query;
mod reliability;
mod report;
mod s3;
mod sample;
mod saved;
mod shell;
mod slt;
mod validate;
mod watch;
