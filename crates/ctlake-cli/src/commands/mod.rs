//! One module per command: its arguments, checked while clap parses, and its `run`. A new
//! command is a new module here and one arm of [`Command`].

pub mod cluster;
pub mod compact;
pub mod ddl;
pub mod generate;
pub mod info;
pub mod ingest;
pub mod insights;
pub mod lookup;
pub mod query;
pub mod repair;
pub mod report;
pub mod saved;
pub mod shell;
pub mod vacuum;
pub mod validate;
pub mod verify;
pub mod watch;

use crate::Global;

/// The commands. A variant's doc comment is its line in `ctlake --help`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// The interactive SQL shell (also plain `ctlake` on a terminal). `\\?` lists its commands.
    Shell(shell::Args),
    /// Ingest CloudTrail files (`.json`, `.json.gz`, folders, globs, `s3://` prefixes) into the
    /// lake.
    Ingest(ingest::Args),
    /// Merge each partition's small files into files of the target size (ingest does this by
    /// itself once a partition holds 8 small files). Readers see every event exactly once
    /// throughout.
    Compact(compact::Args),
    /// Remove data files that no commit references: what runs that were killed before their
    /// commit left behind (ingest removes them itself on a local disk; on S3 a writer removes
    /// them only once they are an hour old, since another writer may still commit them).
    Vacuum(vacuum::Args),
    /// Check the lake against its commit log: gaps in the log, data files missing, resized,
    /// changed (SHA-256) or unreadable, files no commit names; `--deep` re-hashes every event.
    /// Names every damaged file; exit 1 if any.
    Verify(verify::Args),
    /// Remove files no commit names and, with `--drop-damaged`, take damaged data files out
    /// of the table, naming the sources that restore their events.
    Repair(repair::Args),
    /// Run CloudTrail Lake SQL over the lake (the table is `cloudtrail`, the lake's event data
    /// store ID, or `$EDS_ID`). Several statements separated by `;` run in turn.
    Query(query::Args),
    /// Look up events by CloudTrail Event history's attributes (several at once), newest first.
    Lookup(lookup::Args),
    /// Run a set of saved queries and write index.html, report.md and a CSV and a JSON file per
    /// query into a folder.
    Report(report::Args),
    /// List the saved queries (the lake's `queries/`, `$CTLAKE_QUERIES`, the built-in library).
    Saved(saved::Args),
    /// Show what the lake holds: regions, dates, partitions, files, events, time range.
    Info(info::Args),
    /// Compute CloudTrail Insights (unusual rates of write calls and of errors against each
    /// API's seven-day baseline), store them as the `insights` table, and print them.
    Insights(insights::Args),
    /// Validate a trail copy (local or `s3://`) against its digest files, as `aws cloudtrail
    /// validate-logs` does online: changed, missing, moved or unlisted files, broken chains and
    /// signatures. Exit 1 if anything is invalid, 2 for a usage error.
    Validate(validate::Args),
    /// Keep the lake current as CloudTrail delivers: ingest every interval, run the
    /// detections over what each commit added, and deliver each alert once (file, stdout,
    /// webhooks). Ctrl-C or SIGTERM finish the current step and exit 0.
    Watch(watch::Args),
    /// Print the lake's table definition for Athena (with partition projection), Trino, Spark
    /// or DuckDB, so those engines read the same files.
    Ddl(ddl::Args),
    /// Run a scheduler or an executor of a Ballista cluster, on which `--cluster
    /// df://HOST:PORT` runs queries (query, shell, lookup, report).
    Cluster(cluster::Args),
    /// Generate realistic CloudTrail delivery files (AWS layout) for trials and benchmarks.
    Generate(generate::Args),
}

impl Command {
    /// Runs the command; returns the exit code.
    pub fn run(self, global: &Global) -> anyhow::Result<u8> {
        match self {
            Self::Shell(a) => a.run(global),
            Self::Ingest(a) => a.run(global),
            Self::Compact(a) => a.run(global),
            Self::Vacuum(a) => a.run(global),
            Self::Verify(a) => a.run(global),
            Self::Repair(a) => a.run(global),
            Self::Query(a) => a.run(global),
            Self::Lookup(a) => a.run(global),
            Self::Report(a) => a.run(global),
            Self::Saved(a) => a.run(global),
            Self::Info(a) => a.run(global),
            Self::Insights(a) => a.run(global),
            Self::Validate(a) => a.run(global),
            Self::Watch(a) => a.run(global),
            Self::Ddl(a) => a.run(global),
            Self::Cluster(a) => a.run(global),
            Self::Generate(a) => a.run(global),
        }
    }
}
