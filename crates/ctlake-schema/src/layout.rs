//! Where things live under a lake root.
//!
//! ```text
//! <lake>/cloudtrail/region=<awsRegion>/date=<YYYY-MM-DD>/part-<uuid>.parquet   the table
//! <lake>/_ctlake/lake.json                                                   lake identity
//! <lake>/_ctlake/log/<seq>.json                                              commit log
//! <lake>/_ctlake/pending/<run>-<batch>.json                                  commits in flight
//! <lake>/_ctlake/staging/<run>/...                                           files not yet committed (local lakes)
//! <lake>/_ctlake/runs/<run>.json                                             runs under way (S3 lakes)
//! <lake>/_ctlake/sources/<run>-<batch>.parquet                               sources each commit stored
//! <lake>/_rejects/<run>-<batch>.jsonl                                        records that could not be placed
//! ```
//!
//! The table directory is plain Hive layout, so DuckDB, Spark and Athena read it as it is.
//! Everything else starts with `_`, which those engines skip, and sits outside `cloudtrail/`.
//!
//! The partition of a record comes from the record itself (its `awsRegion` and the UTC date of
//! its `eventTime`), never from the folder it was delivered in, and the region must be safe as a
//! path segment: a hostile `awsRegion` such as `../../x` must not choose where a file is written.

use std::fmt;

use chrono::NaiveDate;

/// The table's directory under the lake root.
pub const TABLE_DIR: &str = "cloudtrail";
/// The directory of ctlake's own metadata under the lake root.
pub const META_DIR: &str = "_ctlake";
/// The lake identity file, relative to the lake root.
pub const LAKE_FILE: &str = "_ctlake/lake.json";
/// The commit log directory, relative to the lake root.
pub const LOG_DIR: &str = "_ctlake/log";
/// Markers of commits in flight, relative to the lake root.
pub const PENDING_DIR: &str = "_ctlake/pending";
/// Files written by a run before it commits, relative to the lake root.
pub const STAGING_DIR: &str = "_ctlake/staging";
/// The lists of source files each commit stored, relative to the lake root (one Parquet file
/// per commit, apart from the log so that readers of the table never load them).
pub const SOURCES_DIR: &str = "_ctlake/sources";
/// The readers' lock file on a local disk, relative to the lake root: each local query holds it
/// shared while it runs, and a writer deletes the files a commit replaced only when it can take
/// it exclusively, so no running query loses a file it is reading.
pub const READERS_FILE: &str = "_ctlake/readers";
/// Rejected records, relative to the lake root.
pub const REJECTS_DIR: &str = "_rejects";

/// Longest region name accepted as a partition value.
pub const MAX_REGION_LEN: usize = 32;

/// Why a record's partition could not be decided.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PartitionError {
    /// The record has no `awsRegion`.
    #[error("no awsRegion")]
    MissingRegion,
    /// The `awsRegion` is not usable as a directory name.
    #[error("awsRegion {0:?} is not a safe partition value ([a-z0-9-], at most 32 characters)")]
    UnsafeRegion(String),
    /// A partition directory name did not parse.
    #[error("{0:?} is not a partition path of the form region=<r>/date=<YYYY-MM-DD>")]
    BadPath(String),
}

/// One Hive partition of the table: a region and a UTC day.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartitionKey {
    /// The record's `awsRegion`, validated by [`validate_region`].
    pub region: String,
    /// The UTC date of the record's `eventTime`.
    pub date: NaiveDate,
}

/// Checks that `region` can be used as a partition directory name.
pub fn validate_region(region: &str) -> Result<(), PartitionError> {
    if region.is_empty() {
        return Err(PartitionError::MissingRegion);
    }
    let safe = region.len() <= MAX_REGION_LEN
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if safe {
        Ok(())
    } else {
        Err(PartitionError::UnsafeRegion(region.to_string()))
    }
}

impl PartitionKey {
    /// A key from a region (validated) and a date.
    pub fn new(region: &str, date: NaiveDate) -> Result<Self, PartitionError> {
        validate_region(region)?;
        Ok(Self {
            region: region.to_string(),
            date,
        })
    }

    /// The partition's directory relative to the lake root, without a trailing slash:
    /// `cloudtrail/region=us-east-1/date=2024-05-01`.
    pub fn dir(&self) -> String {
        format!("{TABLE_DIR}/{self}")
    }

    /// Parses the `region=<r>/date=<d>` part of a path (anything before it, such as the lake
    /// root and `cloudtrail/`, and any file name after it are ignored).
    pub fn from_path(path: &str) -> Result<Self, PartitionError> {
        let bad = || PartitionError::BadPath(path.to_string());
        let mut region = None;
        let mut date = None;
        for segment in path.split('/') {
            if let Some(r) = segment.strip_prefix("region=") {
                region = Some(r);
            } else if let Some(d) = segment.strip_prefix("date=") {
                date = Some(NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| bad())?);
            }
        }
        match (region, date) {
            (Some(r), Some(d)) => Self::new(r, d),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for PartitionKey {
    /// The Hive form `region=<r>/date=<YYYY-MM-DD>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "region={}/date={}",
            self.region,
            self.date.format("%Y-%m-%d")
        )
    }
}

/// The name of a committed log entry: zero-padded so that names sort in commit order.
pub fn log_entry_path(seq: u64) -> String {
    format!("{LOG_DIR}/{seq:020}.json")
}

/// Parses the sequence number back out of a log entry path.
pub fn log_entry_seq(path: &str) -> Option<u64> {
    let name = path.rsplit('/').next()?;
    name.strip_suffix(".json")?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn hive_paths() {
        let k = PartitionKey::new("us-east-1", d("2024-05-01")).unwrap();
        assert_eq!(k.dir(), "cloudtrail/region=us-east-1/date=2024-05-01");
        assert_eq!(
            PartitionKey::from_path("lake/cloudtrail/region=us-east-1/date=2024-05-01/x.parquet")
                .unwrap(),
            k
        );
    }

    #[test]
    fn unsafe_regions_are_refused() {
        for r in [
            "../../x",
            "US-EAST-1",
            "us_east_1",
            "us-east-1/..",
            "a b",
            "",
            "abcdefghijklmnopqrstuvwxyz0123456789",
        ] {
            assert!(validate_region(r).is_err(), "{r:?} accepted");
        }
        for r in [
            "us-east-1",
            "me-isob-eastcentral-1r",
            "us-gov-west-1",
            "cn-north-1",
        ] {
            assert!(validate_region(r).is_ok(), "{r:?} refused");
        }
        assert_eq!(validate_region(""), Err(PartitionError::MissingRegion));
    }

    #[test]
    fn log_names_sort_and_parse() {
        assert_eq!(log_entry_path(7), "_ctlake/log/00000000000000000007.json");
        assert!(log_entry_path(10) > log_entry_path(9));
        assert_eq!(log_entry_seq(&log_entry_path(12345)), Some(12345));
        assert_eq!(log_entry_seq("_ctlake/log/x.json"), None);
    }
}
