//! The digest file format as AWS documents it: its name, its JSON fields, and the string its
//! signature covers.

use std::io::Read;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

/// What a digest file's name says:
/// `<account>_CloudTrail-Digest_<region>_<trail>_<home region>_<YYYYMMDDTHHMMSSZ>[_backfill].json[.gz]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestName {
    /// The trail's name (it may hold underscores).
    pub trail: String,
    /// The trail's home region.
    pub home_region: String,
    /// When the digest was written (its end time).
    pub time: DateTime<Utc>,
    /// A backfill digest, written late and outside the chain.
    pub backfill: bool,
}

/// Reads a digest file's name; `None` when it is not one.
pub fn parse_digest_name(name: &str) -> Option<DigestName> {
    let stem = name
        .strip_suffix(".json.gz")
        .or_else(|| name.strip_suffix(".json"))?;
    let (stem, backfill) = match stem.strip_suffix("_backfill") {
        Some(s) => (s, true),
        None => (stem, false),
    };
    let (_, rest) = stem.split_once("_CloudTrail-Digest_")?;
    let (region, rest) = rest.split_once('_')?;
    let (rest, stamp) = rest.rsplit_once('_')?;
    let (trail, home) = rest.rsplit_once('_')?;
    if region.is_empty() || trail.is_empty() || home.is_empty() {
        return None;
    }
    let time = NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%SZ")
        .ok()?
        .and_utc();
    Some(DigestName {
        trail: trail.to_string(),
        home_region: home.to_string(),
        time,
        backfill,
    })
}

/// The time in a log file's name (`..._<YYYYMMDDTHHmmZ>_<rand>.json.gz`).
pub fn log_file_time(name: &str) -> Option<DateTime<Utc>> {
    let stem = name.split('.').next()?;
    let mut parts = stem.rsplit('_');
    parts.next()?;
    let stamp = parts.next()?;
    NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%MZ")
        .ok()
        .map(|t| t.and_utc())
}

/// One log file a digest lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFile {
    /// Its bucket.
    pub bucket: String,
    /// Its key.
    pub key: String,
    /// The hex SHA-256 of its uncompressed content.
    pub hash: String,
}

/// A digest file, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest {
    /// `digestStartTime`.
    pub start: String,
    /// `digestEndTime`.
    pub end: String,
    /// `digestS3Bucket`.
    pub bucket: String,
    /// `digestS3Object`.
    pub key: String,
    /// `digestPublicKeyFingerprint`.
    pub fingerprint: String,
    /// `previousDigestS3Bucket`, `None` in a chain's first digest.
    pub previous_bucket: Option<String>,
    /// `previousDigestS3Object`.
    pub previous_key: Option<String>,
    /// `previousDigestHashValue`: the SHA-256 of the previous digest's uncompressed content.
    pub previous_hash: Option<String>,
    /// `previousDigestSignature`: the previous digest's signature, hex.
    pub previous_signature: Option<String>,
    /// The log files delivered in its hour.
    pub logs: Vec<LogFile>,
    /// The hex SHA-256 of the uncompressed digest (what the next digest names).
    pub content_hash: String,
}

/// The fields `aws cloudtrail validate-logs` requires before it looks further.
const REQUIRED: [&str; 6] = [
    "digestPublicKeyFingerprint",
    "digestS3Bucket",
    "digestS3Object",
    "previousDigestSignature",
    "digestEndTime",
    "digestStartTime",
];

/// The uncompressed bytes of a file that may be gzipped; `None` for a broken gzip stream.
pub fn inflate(bytes: &[u8]) -> Option<Vec<u8>> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::with_capacity(bytes.len() * 8);
        flate2::read::MultiGzDecoder::new(bytes)
            .read_to_end(&mut out)
            .ok()?;
        Some(out)
    } else {
        Some(bytes.to_vec())
    }
}

/// Reads a digest from its file's bytes (gzipped or not); `None` when it is not a digest
/// (not gzip, not JSON, or a required field missing).
pub fn parse_digest(bytes: &[u8]) -> Option<Digest> {
    let content = inflate(bytes)?;
    let v: Value = serde_json::from_slice(&content).ok()?;
    let obj = v.as_object()?;
    if REQUIRED.iter().any(|k| !obj.contains_key(*k)) {
        return None;
    }
    let text = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_string);
    let logs = match obj.get("logFiles") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|l| {
                Some(LogFile {
                    bucket: l.get("s3Bucket")?.as_str()?.to_string(),
                    key: l.get("s3Object")?.as_str()?.to_string(),
                    hash: l.get("hashValue")?.as_str()?.to_ascii_lowercase(),
                })
            })
            .collect::<Option<Vec<_>>>()?,
        Some(_) => return None,
    };
    Some(Digest {
        start: text("digestStartTime")?,
        end: text("digestEndTime")?,
        bucket: text("digestS3Bucket")?,
        key: text("digestS3Object")?,
        fingerprint: text("digestPublicKeyFingerprint")?,
        previous_bucket: text("previousDigestS3Bucket"),
        previous_key: text("previousDigestS3Object"),
        previous_hash: text("previousDigestHashValue").map(|h| h.to_ascii_lowercase()),
        previous_signature: text("previousDigestSignature"),
        logs,
        content_hash: hex::encode(Sha256::digest(&content)),
    })
}

/// The string a digest's signature covers:
/// `digestEndTime \n digestS3Bucket/digestS3Object \n hex(SHA-256 of the uncompressed digest)
/// \n previousDigestSignature` (the word `null` in a chain's first digest).
pub fn string_to_sign(d: &Digest) -> String {
    format!(
        "{}\n{}/{}\n{}\n{}",
        d.end,
        d.bucket,
        d.key,
        d.content_hash,
        d.previous_signature.as_deref().unwrap_or("null")
    )
}

/// The part of a key from `AWSLogs/` on (an S3 key may have the trail's prefix before it).
pub fn below_prefix(key: &str) -> &str {
    if key.starts_with("AWSLogs/") {
        return key;
    }
    key.find("/AWSLogs/").map_or(key, |at| &key[at + 1..])
}

/// Whether two keys name the same object, up to the trail's prefix and a `.gz` dropped by a
/// local `gunzip` (the hash covers the uncompressed content, so it still checks).
pub fn same_object(a: &str, b: &str) -> bool {
    let strip = |k: &str| {
        let k = below_prefix(k);
        k.strip_suffix(".gz").unwrap_or(k).to_string()
    };
    strip(a) == strip(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "327878933619_CloudTrail-Digest_ap-northeast-1_llm-guard-trail_us-west-2_20231015T230404Z.json.gz";

    #[test]
    fn reads_digest_names() {
        let n = parse_digest_name(SAMPLE).unwrap();
        assert_eq!(n.trail, "llm-guard-trail");
        assert_eq!(n.home_region, "us-west-2");
        assert_eq!(n.time.to_rfc3339(), "2023-10-15T23:04:04+00:00");
        assert!(!n.backfill);
        let b = parse_digest_name(
            "111122223333_CloudTrail-Digest_eu-west-1_my_trail_us-east-1_20240101T010203Z_backfill.json.gz",
        )
        .unwrap();
        assert_eq!((b.trail.as_str(), b.backfill), ("my_trail", true));
        assert!(
            parse_digest_name("111122223333_CloudTrail_us-east-1_20240101T0100Z_a.json.gz")
                .is_none()
        );
        assert_eq!(
            log_file_time("111122223333_CloudTrail_us-east-1_20240101T0105Z_aBc.json.gz")
                .unwrap()
                .to_rfc3339(),
            "2024-01-01T01:05:00+00:00"
        );
    }

    #[test]
    fn signs_the_documented_string() {
        let body = br#"{"digestStartTime":"s","digestEndTime":"2024-01-01T01:00:00Z","digestS3Bucket":"b","digestS3Object":"AWSLogs/1/k.json.gz","digestPublicKeyFingerprint":"f","previousDigestSignature":null,"logFiles":[]}"#;
        let d = parse_digest(body).unwrap();
        assert_eq!(
            string_to_sign(&d),
            format!(
                "2024-01-01T01:00:00Z\nb/AWSLogs/1/k.json.gz\n{}\nnull",
                hex::encode(Sha256::digest(body))
            )
        );
        assert!(parse_digest(b"{\"digestS3Bucket\":\"b\"}").is_none());
        assert!(parse_digest(&[0x1f, 0x8b, 1, 2]).is_none());
    }

    #[test]
    fn matches_keys_up_to_prefix_and_gz() {
        assert!(same_object("p/AWSLogs/1/a.json.gz", "AWSLogs/1/a.json"));
        assert!(!same_object("AWSLogs/1/a.json.gz", "AWSLogs/2/a.json.gz"));
    }
}
