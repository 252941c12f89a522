//! Writing signed digest chains for a local trail copy, as CloudTrail writes them each hour:
//! for generated trails (`ctlake generate --digests`) and for tests, with a key of ours.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, DurationRound, Utc};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::format::{self, log_file_time};
use crate::keys::Signer;
use crate::{Error, Result};

/// How the digests name their trail.
#[derive(Debug, Clone)]
pub struct Trail {
    /// The trail's name.
    pub name: String,
    /// Its home region.
    pub home_region: String,
    /// The bucket the keys are said to be in.
    pub bucket: String,
}

/// What [`write_digests`] wrote.
#[derive(Debug, Default, Clone, Copy)]
pub struct Written {
    /// Digest files (one per hour and region, empty hours included).
    pub digests: u64,
    /// Log files they list.
    pub logs: u64,
}

/// One log file found under `root`.
struct Log {
    key: String,
    time: DateTime<Utc>,
    path: PathBuf,
}

/// Writes an hourly, chained, signed digest for every region of every account under
/// `root/AWSLogs`, from the hour of the first delivery to the hour of the last, and each
/// digest's signature beside it as `<digest>.sig` (hex, as S3 keeps it in
/// `x-amz-meta-signature`).
pub fn write_digests(root: &Path, trail: &Trail, signer: &Signer) -> Result<Written> {
    let io = |op: &'static str, p: &Path, e: std::io::Error| Error::Io {
        op,
        location: p.display().to_string(),
        message: e.to_string(),
    };
    let awslogs = root.join("AWSLogs");
    if !awslogs.is_dir() {
        return Err(Error::NoTrail {
            location: root.display().to_string(),
        });
    }
    // (account folder key, region) -> logs
    let mut groups: BTreeMap<(String, String), Vec<Log>> = BTreeMap::new();
    let mut stack = vec![awslogs.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).map_err(|e| io("read", &dir, e))? {
            let entry = entry.map_err(|e| io("read", &dir, e))?;
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let Ok(rel) = path.strip_prefix(root) else {
                continue;
            };
            let key = rel.to_string_lossy().replace('\\', "/");
            let Some(at) = key.find("/CloudTrail/") else {
                continue;
            };
            let account_root = key[..at].to_string();
            let region = key[at + 12..].split('/').next().unwrap_or("").to_string();
            let name = key.rsplit('/').next().unwrap_or("");
            let Some(time) = log_file_time(name) else {
                continue;
            };
            groups
                .entry((account_root, region))
                .or_default()
                .push(Log { key, time, path });
        }
    }
    let mut written = Written::default();
    for ((account_root, region), mut logs) in groups {
        logs.sort_by(|a, b| a.time.cmp(&b.time).then(a.key.cmp(&b.key)));
        let account = account_root.rsplit('/').next().unwrap_or("").to_string();
        let hour = |t: DateTime<Utc>| t.duration_trunc(Duration::hours(1)).unwrap_or(t);
        let (Some(first), Some(last)) = (logs.first(), logs.last()) else {
            continue;
        };
        let (mut start, end_all) = (hour(first.time), hour(last.time) + Duration::hours(1));
        let mut previous: Option<(String, String, String)> = None; // key, hash, signature
        let mut next_log = 0;
        while start < end_all {
            let end = start + Duration::hours(1);
            let mut files = Vec::new();
            while next_log < logs.len() && logs[next_log].time < end {
                let log = &logs[next_log];
                next_log += 1;
                let raw = std::fs::read(&log.path).map_err(|e| io("read", &log.path, e))?;
                let Some(content) = format::inflate(&raw) else {
                    continue;
                };
                let (oldest, newest) = event_times(&content);
                files.push(json!({
                    "s3Bucket": trail.bucket,
                    "s3Object": log.key,
                    "hashValue": hex::encode(Sha256::digest(&content)),
                    "hashAlgorithm": "SHA-256",
                    "newestEventTime": newest,
                    "oldestEventTime": oldest,
                }));
            }
            written.logs += files.len() as u64;
            let stamp = end.format("%Y%m%dT%H%M%SZ");
            let key = format!(
                "{account_root}/CloudTrail-Digest/{region}/{}/{account}_CloudTrail-Digest_{region}_{}_{}_{stamp}.json.gz",
                end.format("%Y/%m/%d"),
                trail.name,
                trail.home_region
            );
            let body = json!({
                "awsAccountId": account,
                "digestStartTime": start.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                "digestEndTime": end.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                "digestS3Bucket": trail.bucket,
                "digestS3Object": key,
                "digestPublicKeyFingerprint": signer.fingerprint(),
                "digestSignatureAlgorithm": "SHA256withRSA",
                "previousDigestS3Bucket": previous.as_ref().map(|_| trail.bucket.clone()),
                "previousDigestS3Object": previous.as_ref().map(|p| p.0.clone()),
                "previousDigestHashValue": previous.as_ref().map(|p| p.1.clone()),
                "previousDigestHashAlgorithm": previous.as_ref().map(|_| "SHA-256"),
                "previousDigestSignature": previous.as_ref().map(|p| p.2.clone()),
                "logFiles": files,
            });
            let content = serde_json::to_vec(&body).unwrap_or_default();
            let Some(digest) = format::parse_digest(&content) else {
                start = end;
                continue;
            };
            let signature = signer.sign(format::string_to_sign(&digest).as_bytes());
            let path = root.join(&key);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| io("create", dir, e))?;
            }
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            gz.write_all(&content).map_err(|e| io("write", &path, e))?;
            let gz = gz.finish().map_err(|e| io("write", &path, e))?;
            std::fs::write(&path, gz).map_err(|e| io("write", &path, e))?;
            let sig_path = signature_path(&path);
            std::fs::write(&sig_path, &signature).map_err(|e| io("write", &sig_path, e))?;
            written.digests += 1;
            previous = Some((key, digest.content_hash, signature));
            start = end;
        }
    }
    Ok(written)
}

/// Where a local digest's own signature is kept: `<digest file>.sig`.
pub fn signature_path(digest: &Path) -> PathBuf {
    let mut name = digest.as_os_str().to_os_string();
    name.push(".sig");
    PathBuf::from(name)
}

/// The oldest and newest `eventTime` of a log file's records.
fn event_times(content: &[u8]) -> (Value, Value) {
    let v: Value = serde_json::from_slice(content).unwrap_or(Value::Null);
    let mut times: Vec<&str> = v
        .get("Records")
        .and_then(Value::as_array)
        .map(|r| {
            r.iter()
                .filter_map(|e| e.get("eventTime").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    times.sort_unstable();
    (
        times.first().map_or(Value::Null, |t| json!(t)),
        times.last().map_or(Value::Null, |t| json!(t)),
    )
}
