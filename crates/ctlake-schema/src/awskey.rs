//! The object keys and file names AWS delivers CloudTrail files under.
//!
//! ```text
//! AWSLogs/[o-<org>/]<account>/CloudTrail/<region>/YYYY/MM/DD/<account>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<rand>.json.gz
//! AWSLogs/[o-<org>/]<account>/CloudTrail-Digest/<region>/YYYY/MM/DD/<account>_CloudTrail-Digest_<region>_<trail>_<home>_<YYYYMMDDTHHmmssZ>.json.gz
//! AWSLogs/[o-<org>/]<account>/CloudTrail-Insight/<region>/YYYY/MM/DD/<account>_CloudTrail-Insight_<region>_<YYYYMMDDTHHmmZ>_<rand>.json.gz
//! ```
//!
//! Ingestion uses this to tell digest files (integrity records, never events) from log files
//! before opening them, and to show where a delivery came from. The partition of an event is
//! never taken from here: it comes from the event itself (see [`crate::layout`]).

use chrono::{NaiveDate, NaiveDateTime};

/// What a delivered file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogKind {
    /// Events (`CloudTrail/`).
    Events,
    /// Integrity digests (`CloudTrail-Digest/`): never read as events.
    Digest,
    /// CloudTrail Insights events (`CloudTrail-Insight/`).
    Insight,
}

impl LogKind {
    fn from_dir(dir: &str) -> Option<Self> {
        match dir {
            "CloudTrail" => Some(Self::Events),
            "CloudTrail-Digest" => Some(Self::Digest),
            "CloudTrail-Insight" => Some(Self::Insight),
            _ => None,
        }
    }
}

/// A parsed AWS delivery key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogKey {
    /// The organization id (`o-...`) of an organization trail.
    pub organization: Option<String>,
    /// The account the logs belong to.
    pub account: String,
    /// What the file holds.
    pub kind: LogKind,
    /// The region folder the file was delivered in.
    pub region: String,
    /// The day folder the file was delivered in.
    pub date: NaiveDate,
    /// The delivery time in the file name, when it has one.
    pub delivered: Option<NaiveDateTime>,
}

fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Parses a key or path containing `AWSLogs/...` in the delivery layout. Anything before
/// `AWSLogs` (a bucket, a local folder) is ignored. Returns `None` for other paths.
pub fn parse_key(path: &str) -> Option<LogKey> {
    let segments: Vec<&str> = path.split(['/', '\\']).collect();
    let start = segments.iter().rposition(|s| *s == "AWSLogs")?;
    let mut rest = segments[start + 1..].iter().copied();
    let mut first = rest.next()?;
    let organization = if first.starts_with("o-") {
        let org = first.to_string();
        first = rest.next()?;
        Some(org)
    } else {
        None
    };
    if !is_account(first) {
        return None;
    }
    let kind = LogKind::from_dir(rest.next()?)?;
    let region = rest.next()?.to_string();
    let (y, m, d) = (rest.next()?, rest.next()?, rest.next()?);
    let date = NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)?;
    let delivered = rest
        .next()
        .and_then(|name| parse_file_name(name)?.delivered);
    Some(LogKey {
        organization,
        account: first.to_string(),
        kind,
        region,
        date,
        delivered,
    })
}

/// What a delivery file name says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileName {
    /// The account in the name.
    pub account: String,
    /// What the file holds.
    pub kind: LogKind,
    /// The region in the name.
    pub region: String,
    /// The delivery time in the name.
    pub delivered: Option<NaiveDateTime>,
}

/// Parses `<account>_CloudTrail[-Digest|-Insight]_<region>_..._<YYYYMMDDTHHmm[ss]Z>[_<rand>].json[.gz]`.
pub fn parse_file_name(name: &str) -> Option<FileName> {
    let mut parts = name.split('_');
    let account = parts.next()?;
    if !is_account(account) {
        return None;
    }
    let kind = LogKind::from_dir(parts.next()?)?;
    let region = parts.next()?.to_string();
    let delivered = parts.find_map(|p| {
        let stamp = p.split('.').next()?;
        NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%MZ")
            .or_else(|_| NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%SZ"))
            .ok()
    });
    Some(FileName {
        account: account.to_string(),
        kind,
        region,
        delivered,
    })
}

/// A delivery day folder: `.../CloudTrail[-Insight]/<region>/YYYY/MM/DD`. Ordered by day,
/// then region: global services' events (IAM, sign-in) name `us-east-1` whatever folder
/// they are delivered in, so a day's folders are best visited together.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DayFolder {
    /// The day.
    pub date: NaiveDate,
    /// The region folder.
    pub region: String,
}

/// Recognises a day folder of the delivery layout by its last five segments, so a walk can
/// visit the folders of one region and day (the table's partition) together, whatever
/// account or organization they sit under. Digest folders are not day folders: they hold no
/// events.
pub fn day_folder(path: &str) -> Option<DayFolder> {
    let mut segments = path.trim_end_matches(['/', '\\']).rsplit(['/', '\\']);
    let (d, m, y) = (segments.next()?, segments.next()?, segments.next()?);
    let region = segments.next()?;
    let kind = LogKind::from_dir(segments.next()?)?;
    if kind == LogKind::Digest || y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)?;
    Some(DayFolder {
        date,
        region: region.to_string(),
    })
}

/// True when the path is a CloudTrail Insights file (`CloudTrail-Insight/`), by its folder or
/// its name: Insights records, not API events.
pub fn is_insight_path(path: &str) -> bool {
    // Both tests need the word: most paths are ruled out by one search instead of a split.
    path.contains("CloudTrail-Insight")
        && (path
            .split(['/', '\\'])
            .any(|segment| segment == "CloudTrail-Insight")
            || path
                .rsplit(['/', '\\'])
                .next()
                .is_some_and(|name| name.contains("_CloudTrail-Insight_")))
}

/// True when the path is a CloudTrail digest file, by its folder or its name.
pub fn is_digest_path(path: &str) -> bool {
    if !path.contains("CloudTrail-Digest") {
        return false;
    }
    if path
        .split(['/', '\\'])
        .any(|segment| segment == "CloudTrail-Digest")
    {
        return true;
    }
    let name = path.rsplit(['/', '\\']).next().unwrap_or(path);
    name.contains("_CloudTrail-Digest_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_delivery_key() {
        let k = parse_key("s3://bucket/AWSLogs/342082656213/CloudTrail/us-east-2/2021/07/29/342082656213_CloudTrail_us-east-2_20210729T2355Z_1lQFb8HU3K2s72AX.json.gz").unwrap();
        assert_eq!(k.account, "342082656213");
        assert_eq!(k.organization, None);
        assert_eq!(k.kind, LogKind::Events);
        assert_eq!(k.region, "us-east-2");
        assert_eq!(k.date, NaiveDate::from_ymd_opt(2021, 7, 29).unwrap());
        assert_eq!(
            k.delivered.unwrap().to_string(),
            "2021-07-29 23:55:00".to_string()
        );
    }

    #[test]
    fn parses_an_organization_trail_key() {
        let k = parse_key("AWSLogs/o-abc123xyz/111122223333/CloudTrail/eu-west-1/2024/02/29/111122223333_CloudTrail_eu-west-1_20240229T0005Z_x.json.gz").unwrap();
        assert_eq!(k.organization.as_deref(), Some("o-abc123xyz"));
        assert_eq!(k.account, "111122223333");
    }

    #[test]
    fn recognises_digests() {
        let p = "AWSLogs/327878933619/CloudTrail-Digest/ap-northeast-1/2023/10/15/327878933619_CloudTrail-Digest_ap-northeast-1_llm-guard-trail_us-west-2_20231015T230404Z.json";
        assert!(is_digest_path(p));
        assert_eq!(parse_key(p).unwrap().kind, LogKind::Digest);
        let n = parse_file_name("327878933619_CloudTrail-Digest_ap-northeast-1_llm-guard-trail_us-west-2_20231015T230404Z.json").unwrap();
        assert_eq!(n.kind, LogKind::Digest);
        assert_eq!(n.delivered.unwrap().to_string(), "2023-10-15 23:04:04");
        assert!(is_digest_path(
            "x/327878933619_CloudTrail-Digest_ap-northeast-1_t_us-west-2_20231015T230404Z.json.gz"
        ));
        assert!(!is_digest_path(
            "AWSLogs/327878933619/CloudTrail/us-east-1/2023/10/15/a.json.gz"
        ));
    }

    #[test]
    fn recognises_day_folders() {
        let f =
            day_folder("/b/AWSLogs/o-abc/111122223333/CloudTrail/eu-west-1/2024/02/29/").unwrap();
        assert_eq!(f.region, "eu-west-1");
        assert_eq!(f.date, NaiveDate::from_ymd_opt(2024, 2, 29).unwrap());
        assert!(day_folder("AWSLogs/1/CloudTrail-Insight/us-east-1/2024/01/01").is_some());
        assert_eq!(
            day_folder("AWSLogs/1/CloudTrail-Digest/us-east-1/2024/01/01"),
            None
        );
        assert_eq!(day_folder("AWSLogs/1/CloudTrail/us-east-1/2024/01"), None);
        assert_eq!(
            day_folder("AWSLogs/1/CloudTrail/us-east-1/2024/02/30"),
            None
        );
        assert_eq!(day_folder("logs/us-east-1/2024/01/01"), None);
    }

    #[test]
    fn other_paths_are_not_keys() {
        assert_eq!(parse_key("logs/2024/file.json"), None);
        assert_eq!(
            parse_key("AWSLogs/notanaccount/CloudTrail/us-east-1/2024/01/01/x"),
            None
        );
        assert_eq!(
            parse_key("AWSLogs/111122223333/CloudTrail/us-east-1/2024/13/01/x"),
            None
        );
    }
}
