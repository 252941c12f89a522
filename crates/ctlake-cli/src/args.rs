//! Arguments shared by several commands, and the value parsers that turn raw text into
//! checked values while clap parses, so a bad `--partition` or `--older-than` is refused with
//! clap's usage error before anything runs, and no command parses text by hand.

use std::path::PathBuf;

use anyhow::Context;
use std::time::Duration;

use chrono::NaiveDateTime;
use ctlake_query::lookup::Attribute;
use ctlake_schema::layout::PartitionKey;

/// `--lake`, flattened into every command that opens a lake.
#[derive(Debug, clap::Args)]
pub struct LakeArg {
    /// The lake: a folder, or `s3://bucket/prefix` (credentials and endpoint as the AWS CLI
    /// finds them).
    #[arg(
        long,
        env = "CTLAKE_LAKE",
        default_value = "lake",
        value_name = "DIR|S3URL"
    )]
    pub lake: PathBuf,
}

/// Options of every command.
#[derive(Debug, clap::Args)]
pub struct GlobalArgs {
    /// Memory the query engine may hold (query, shell, lookup, report), e.g. 512M or 4G;
    /// sorts and aggregations spill to temporary files beyond it. `none`: no limit.
    /// [default: half the machine's memory]
    #[arg(long, global = true, env = "CTLAKE_MEMORY_LIMIT", value_name = "SIZE", value_parser = memory_limit)]
    pub memory_limit: Option<MemoryLimit>,
    /// Run queries (query, shell, lookup, report, insights, watch's detections) on a
    /// Ballista cluster started with `ctlake cluster`: its scheduler's address. Planning stays
    /// here; a query the cluster cannot run fails, it never runs here instead.
    #[arg(long, global = true, env = "CTLAKE_CLUSTER", value_name = "df://HOST:PORT", value_parser = cluster)]
    pub cluster: Option<ClusterArg>,
}

/// `--cluster` (and the shell's `\connect`): the cluster, parsed once.
#[derive(Debug, Clone)]
pub struct ClusterArg(pub std::sync::Arc<ctlake_cluster::Cluster>);

impl ClusterArg {
    /// The cluster as where a lake's queries run.
    pub fn runner(&self) -> std::sync::Arc<dyn ctlake_query::Runner> {
        self.0.clone()
    }
}

impl PartialEq for ClusterArg {
    fn eq(&self, other: &Self) -> bool {
        self.0.url() == other.0.url()
    }
}

/// `df://HOST:PORT`.
pub fn cluster(s: &str) -> Result<ClusterArg, String> {
    ctlake_cluster::Cluster::new(s)
        .map(|c| ClusterArg(std::sync::Arc::new(c)))
        .map_err(|e| e.to_string())
}

/// `--memory-limit`: bytes, or no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryLimit(pub Option<usize>);

/// `512M`, `4G`, `100k`, a plain byte count, or `none`.
pub fn memory_limit(s: &str) -> Result<MemoryLimit, String> {
    let t = s.trim().to_ascii_lowercase();
    if t == "none" || t == "0" {
        return Ok(MemoryLimit(None));
    }
    let bad = || format!("{s}: expected a size such as 512M or 4G");
    let (digits, unit) = t.split_at(
        t.find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(t.len()),
    );
    let shift = match unit.trim().trim_end_matches("ib").trim_end_matches('b') {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        _ => return Err(bad()),
    };
    let n: f64 = digits.parse().map_err(|_| bad())?;
    Ok(MemoryLimit(Some((n * (1u64 << shift) as f64) as usize)))
}

/// A `NAME=VALUE` pair: a saved query's parameter (`$` before the name is allowed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameValue {
    /// The name, without `$`.
    pub name: String,
    /// The value, as given.
    pub value: String,
}

/// `NAME=VALUE` or `$NAME=VALUE`.
pub fn name_value(s: &str) -> Result<NameValue, String> {
    let (name, value) = s
        .split_once('=')
        .ok_or_else(|| format!("{s}: expected NAME=VALUE"))?;
    let name = name.trim().trim_start_matches('$');
    if name.is_empty() {
        return Err(format!("{s}: expected NAME=VALUE"));
    }
    Ok(NameValue {
        name: name.to_string(),
        value: value.to_string(),
    })
}

/// `--attribute NAME=VALUE` of `ctlake lookup`, the name one of Event history's attributes.
pub fn lookup_attribute(s: &str) -> Result<(Attribute, String), String> {
    let (name, value) = s
        .split_once('=')
        .ok_or_else(|| format!("{s}: expected NAME=VALUE"))?;
    let attribute = Attribute::parse(name.trim()).map_err(|e| e.to_string())?;
    Ok((attribute, value.to_string()))
}

/// A partition as `REGION/YYYY-MM-DD` or `region=R/date=D`.
pub fn partition(s: &str) -> Result<PartitionKey, String> {
    let hive = match s.split_once('/') {
        Some((r, d)) if !s.contains('=') => format!("region={r}/date={d}"),
        _ => s.to_string(),
    };
    PartitionKey::from_path(&hive).map_err(|_| format!("{s}: expected REGION/YYYY-MM-DD"))
}

/// A time (`-15m`, `-7d`, `today`, `now`, an ISO date), evaluated now.
pub fn instant(s: &str) -> Result<NaiveDateTime, String> {
    ctlake_query::timespec::parse(s).map_err(|e| e.to_string())
}

/// An age: `30m`, `1h`, `2d`, `90s` or plain seconds.
pub fn age(s: &str) -> Result<Duration, String> {
    let bad = || format!("{s}: expected an age such as 30m, 1h or 2d");
    let t = s.trim();
    let (digits, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let seconds = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    Ok(Duration::from_secs(n * seconds))
}

/// The most a query file (`-f`, `\i`) may hold.
pub const MAX_SQL_FILE: u64 = 16 << 20;

/// Reads a query file: devices (`/dev/zero`) are refused and at most [`MAX_SQL_FILE`] bytes
/// are read, so a wrong path cannot grow memory until the machine gives out. Pipes (`-f
/// <(...)`) work.
pub fn read_sql_file(path: &std::path::Path) -> anyhow::Result<String> {
    use std::io::Read;
    use std::os::unix::fs::FileTypeExt;
    let shown = path.display();
    let meta = std::fs::metadata(path).with_context(|| format!("reading {shown}"))?;
    let kind = meta.file_type();
    if meta.is_dir() || kind.is_char_device() || kind.is_block_device() || kind.is_socket() {
        anyhow::bail!("{shown} is not a file of SQL (a folder or a device)");
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .with_context(|| format!("reading {shown}"))?
        .take(MAX_SQL_FILE + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {shown}"))?;
    if bytes.len() as u64 > MAX_SQL_FILE {
        anyhow::bail!("{shown} holds more than 16 MiB: not a file of SQL");
    }
    String::from_utf8(bytes).map_err(|e| {
        anyhow::anyhow!(
            "{shown} is not UTF-8 text (invalid byte at {})",
            e.utf8_error().valid_up_to()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(memory_limit("512M"), Ok(MemoryLimit(Some(512 << 20))));
        assert_eq!(memory_limit("4g"), Ok(MemoryLimit(Some(4 << 30))));
        assert_eq!(memory_limit("1.5GiB"), Ok(MemoryLimit(Some(3 << 29))));
        assert_eq!(memory_limit("100"), Ok(MemoryLimit(Some(100))));
        assert_eq!(memory_limit("none"), Ok(MemoryLimit(None)));
        assert!(memory_limit("lots").is_err());
        assert!(memory_limit("5q").is_err());
    }

    #[test]
    fn pairs() {
        assert_eq!(
            name_value("$ip=10.0.0.1"),
            Ok(NameValue {
                name: "ip".into(),
                value: "10.0.0.1".into()
            })
        );
        // Only the first `=` splits: values may hold more.
        assert_eq!(name_value("q=a=b").map(|p| p.value), Ok("a=b".into()));
        assert!(name_value("novalue").is_err());
        assert!(name_value("=x").is_err());
        assert_eq!(
            lookup_attribute("eventname=CreateUser"),
            Ok((Attribute::EventName, "CreateUser".into()))
        );
        let e = lookup_attribute("Colour=red").unwrap_err();
        assert!(e.contains("EventId, EventName, ReadOnly"), "{e}");
    }

    #[test]
    fn partitions() {
        let a = partition("us-east-1/2026-11-02").unwrap();
        let b = partition("region=us-east-1/date=2026-11-02").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.region, "us-east-1");
        assert_eq!(a.date.to_string(), "2026-11-02");
        assert!(partition("us-east-1").is_err());
        assert!(partition("us-east-1/yesterday").is_err());
    }

    #[test]
    fn ages_and_times() {
        assert_eq!(age("90"), Ok(Duration::from_secs(90)));
        assert_eq!(age("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(age("2d"), Ok(Duration::from_secs(172_800)));
        assert!(age("1w").is_err());
        assert!(age("soon").is_err());
        assert!(instant("-7d").is_ok());
        assert!(instant("last tuesday").is_err());
        assert_eq!(
            instant("2026-11-02").unwrap().to_string(),
            "2026-11-02 00:00:00"
        );
    }
}
