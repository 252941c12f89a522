//! CloudTrail Lake SQL on an Apache DataFusion Ballista cluster: the scheduler and executor
//! processes with ctlake's functions and lake stores, and the client side that sends a lake's
//! planned queries to them.
//!
//! The client plans as it does locally (`ctlake-query`: the dialect, the functions, pruning
//! against the commit log, the flat copies) and submits the finished physical plan; the
//! scheduler splits it into stages at its exchanges and the executors run them. So a query
//! means the same on a cluster as on one machine, and nothing here re-implements planning.
//! What a worker needs that a plan does not carry travels beside it:
//! - the functions, by name: every process registers the same set ([`functions`]);
//! - the lake's storage: the plan's scans name `ctlake://<id>/`, and the session's
//!   `ctlake.lakes` setting maps it to the lake's folder or `s3://` prefix ([`settings`]),
//!   which the scheduler and each executor open with the usual AWS credentials chain.
//!
//! A plan the cluster cannot run (a node the wire format does not carry, no executor) is an
//! error naming the cluster, never a quiet run on the client.
#![warn(missing_docs)]

pub mod client;
mod error;
pub mod executor;
pub mod functions;
pub mod scheduler;
pub mod settings;
mod stores;

pub use client::Cluster;
pub use error::{Error, Result};
