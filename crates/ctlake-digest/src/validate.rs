//! Validating a trail copy (a local `AWSLogs/` tree or an `s3://` prefix) against its digests.
//!
//! Each account and region is walked one day folder at a time, in time order, so memory holds
//! a day or two of one region, never the trail. A digest is proven by the next one in its
//! chain (which carries its hash and signature), or by its own signature (S3 metadata
//! `x-amz-meta-signature`, or a `.sig` file beside a local copy); so each digest's verdict waits
//! for its successor, and the newest one of a chain without its own signature is reported as
//! not verifiable rather than invalid. Log files listed by a digest that is not invalid are
//! hashed (uncompressed) and compared; log files in the tree that no digest lists are named.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use futures::StreamExt;
use object_store::path::Path as StorePath;
use object_store::{Attribute, ObjectStore, ObjectStoreExt};
use sha2::{Digest as _, Sha256};

use ctlake_store::Location;

use crate::format::{self, Digest, LogFile, log_file_time, parse_digest_name, same_object};
use crate::keys::PublicKeys;
use crate::{Error, Result};

/// What to validate.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Digests and log files from this time on.
    pub from: Option<DateTime<Utc>>,
    /// Up to this time.
    pub to: Option<DateTime<Utc>>,
}

/// Which kind of file a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// A digest file.
    Digest,
    /// A log file.
    Log,
}

/// The verdict on one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Proven intact.
    Valid,
    /// Changed, missing, moved or unreadable: the message says which, in AWS's words.
    Invalid(String),
    /// Intact as far as can be seen, but its signature cannot be checked (why).
    Unverifiable(String),
    /// A log file that no digest lists.
    Unlisted,
    /// A log file delivered after the newest digest of its region (not covered yet).
    Uncovered,
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A verdict on a file, by its URL or path.
    File {
        /// Digest or log file.
        subject: Subject,
        /// Where it is (or should be).
        url: String,
        /// The verdict.
        verdict: Verdict,
    },
    /// A chain restarts: CloudTrail delivered nothing between these times (logging was off).
    Gap {
        /// The end of the digest before the gap.
        from: String,
        /// The start of the digest after it.
        to: String,
    },
}

/// Counts of verdicts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Digests proven intact.
    pub digests_valid: u64,
    /// Digests invalid (including missing ones).
    pub digests_invalid: u64,
    /// Digests whose signature could not be checked.
    pub digests_unverifiable: u64,
    /// Log files proven intact.
    pub logs_valid: u64,
    /// Log files invalid.
    pub logs_invalid: u64,
    /// Log files no digest lists.
    pub logs_unlisted: u64,
    /// Log files newer than the newest digest.
    pub logs_uncovered: u64,
}

impl Summary {
    /// Adds another source's counts to these.
    pub fn add(&mut self, s: &Summary) {
        self.digests_valid += s.digests_valid;
        self.digests_invalid += s.digests_invalid;
        self.digests_unverifiable += s.digests_unverifiable;
        self.logs_valid += s.logs_valid;
        self.logs_invalid += s.logs_invalid;
        self.logs_unlisted += s.logs_unlisted;
        self.logs_uncovered += s.logs_uncovered;
    }

    /// True when nothing is invalid or unlisted.
    pub fn clean(&self) -> bool {
        self.digests_invalid == 0 && self.logs_invalid == 0 && self.logs_unlisted == 0
    }

    fn count(&mut self, e: &Event) {
        if let Event::File {
            subject, verdict, ..
        } = e
        {
            let n = match (subject, verdict) {
                (Subject::Digest, Verdict::Valid) => &mut self.digests_valid,
                (Subject::Digest, Verdict::Invalid(_)) => &mut self.digests_invalid,
                (Subject::Digest, _) => &mut self.digests_unverifiable,
                (Subject::Log, Verdict::Valid) => &mut self.logs_valid,
                (Subject::Log, Verdict::Invalid(_)) => &mut self.logs_invalid,
                (Subject::Log, Verdict::Unlisted) => &mut self.logs_unlisted,
                (Subject::Log, _) => &mut self.logs_uncovered,
            };
            *n += 1;
        }
    }
}

/// How many of a chain's latest digest keys are remembered.
const JUDGED_KEPT: usize = 48;

/// How many files are read and hashed at once.
const PARALLEL_READS: usize = 8;

/// Validates the trail copy at `location`, calling `report` with each event in order.
pub async fn validate(
    location: &Location,
    keys: &PublicKeys,
    options: &Options,
    report: &mut (dyn FnMut(&Event) + Send),
) -> Result<Summary> {
    let trail = Trail::open(location).await?;
    let mut run = Run {
        trail: &trail,
        keys,
        options,
        summary: Summary::default(),
        report,
    };
    for account in trail.accounts().await? {
        let mut regions = BTreeSet::new();
        for kind in ["CloudTrail-Digest", "CloudTrail"] {
            regions.extend(trail.children(&format!("{account}/{kind}")).await?);
        }
        for region in regions {
            run.region(&account, &region).await?;
        }
    }
    Ok(run.summary)
}

/// Where the trail's files are and how their keys map to AWS's keys.
struct Trail {
    location: Location,
    store: Arc<dyn ObjectStore>,
    /// The AWS key (from `AWSLogs/`) of the store's root, with a trailing `/`, or empty when
    /// `AWSLogs/` is a folder below the root.
    root_key: String,
}

impl Trail {
    async fn open(location: &Location) -> Result<Self> {
        let store = ctlake_store::open(location, false)?;
        let listing = store
            .list_with_delimiter(None)
            .await
            .map_err(|e| Error::Io {
                op: "list",
                location: location.to_string(),
                message: ctlake_store::explain(&e),
            })?;
        let has_awslogs = listing
            .common_prefixes
            .iter()
            .any(|p| p.as_ref() == "AWSLogs");
        let root_key = if has_awslogs {
            String::new()
        } else {
            let text = location.to_string().replace('\\', "/");
            match text.find("AWSLogs") {
                Some(at) if text[..at].is_empty() || text[..at].ends_with('/') => {
                    format!("{}/", text[at..].trim_end_matches('/'))
                }
                _ => {
                    return Err(Error::NoTrail {
                        location: location.to_string(),
                    });
                }
            }
        };
        Ok(Self {
            location: location.clone(),
            store,
            root_key,
        })
    }

    /// The store path of an AWS key, `None` when it lies outside this copy.
    fn store_key(&self, aws_key: &str) -> Option<String> {
        let aws_key = format::below_prefix(aws_key);
        if self.root_key.is_empty() {
            Some(aws_key.to_string())
        } else {
            aws_key.strip_prefix(&self.root_key).map(str::to_string)
        }
    }

    fn aws_key(&self, store_key: &str) -> String {
        format!("{}{store_key}", self.root_key)
    }

    fn url(&self, aws_key: &str) -> String {
        match self.store_key(aws_key) {
            Some(k) => self.location.url_of(&k),
            None => aws_key.to_string(),
        }
    }

    /// Folder names directly below an AWS key prefix.
    async fn children(&self, aws_prefix: &str) -> Result<Vec<String>> {
        let Some(prefix) = self.store_key(&format!("{aws_prefix}/")) else {
            return Ok(Vec::new());
        };
        let prefix = StorePath::from(prefix.trim_end_matches('/'));
        let prefix = (!prefix.as_ref().is_empty()).then_some(prefix);
        let listing = self
            .store
            .list_with_delimiter(prefix.as_ref())
            .await
            .map_err(|e| self.io("list", aws_prefix, &e))?;
        let mut names: Vec<String> = listing
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_string))
            .collect();
        names.sort();
        Ok(names)
    }

    /// The files directly in a folder, as (AWS key, file name), sorted.
    async fn files(&self, aws_prefix: &str) -> Result<Vec<(String, String)>> {
        let Some(prefix) = self.store_key(&format!("{aws_prefix}/")) else {
            return Ok(Vec::new());
        };
        let prefix = StorePath::from(prefix.trim_end_matches('/'));
        let listing = self
            .store
            .list_with_delimiter(Some(&prefix))
            .await
            .map_err(|e| self.io("list", aws_prefix, &e))?;
        let mut files: Vec<(String, String)> = listing
            .objects
            .iter()
            .filter_map(|o| {
                let name = o.location.filename()?.to_string();
                Some((self.aws_key(o.location.as_ref()), name))
            })
            .collect();
        files.sort();
        Ok(files)
    }

    /// The accounts' key prefixes: `AWSLogs/<account>` or `AWSLogs/<org>/<account>`.
    async fn accounts(&self) -> Result<Vec<String>> {
        let root = self.root_key.trim_end_matches('/');
        let root = if root.is_empty() { "AWSLogs" } else { root };
        let is_account = |s: &str| s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit());
        let last = root.rsplit('/').next().unwrap_or(root);
        if is_account(last) {
            return Ok(vec![root.to_string()]);
        }
        let mut out = Vec::new();
        for child in self.children(root).await? {
            if is_account(&child) {
                out.push(format!("{root}/{child}"));
            } else if child.starts_with("o-") {
                for account in self.children(&format!("{root}/{child}")).await? {
                    if is_account(&account) {
                        out.push(format!("{root}/{child}/{account}"));
                    }
                }
            }
        }
        Ok(out)
    }

    /// The day folders (`YYYY/MM/DD`) below a region folder.
    async fn days(&self, aws_prefix: &str) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for y in self.children(aws_prefix).await? {
            for m in self.children(&format!("{aws_prefix}/{y}")).await? {
                for d in self.children(&format!("{aws_prefix}/{y}/{m}")).await? {
                    out.push(format!("{y}/{m}/{d}"));
                }
            }
        }
        Ok(out)
    }

    /// A file's bytes and its stored signature (S3 metadata, or `<file>.sig` beside a local
    /// copy); `None` when the file is not there.
    async fn read(
        &self,
        aws_key: &str,
        with_signature: bool,
    ) -> Result<Option<(Vec<u8>, Option<String>)>> {
        let Some(key) = self.store_key(aws_key) else {
            return Ok(None);
        };
        let path = StorePath::from(key.as_str());
        let got = match self.store.get(&path).await {
            Ok(g) => g,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(self.io("read", aws_key, &e)),
        };
        let mut signature = got
            .attributes
            .get(&Attribute::Metadata("signature".into()))
            .map(|v| v.to_string());
        let bytes = got
            .bytes()
            .await
            .map_err(|e| self.io("read", aws_key, &e))?;
        if with_signature && signature.is_none() && !self.location.is_remote() {
            let sig = StorePath::from(format!("{key}.sig"));
            if let Ok(g) = self.store.get(&sig).await
                && let Ok(b) = g.bytes().await
            {
                signature = Some(String::from_utf8_lossy(&b).trim().to_string());
            }
        }
        Ok(Some((bytes.to_vec(), signature)))
    }

    fn io(&self, op: &'static str, key: &str, e: &object_store::Error) -> Error {
        Error::Io {
            op,
            location: self.url(key),
            message: ctlake_store::explain(e),
        }
    }
}

/// A digest read and checked, waiting for its successor's word on it.
struct Pending {
    aws_key: String,
    url: String,
    digest: Digest,
    /// Its own signature's check: `None` when it has none.
    own: Option<bool>,
}

#[derive(Default)]
struct Chain {
    pending: Option<Pending>,
    /// Keys of this chain's latest digests already judged (valid or not): a successor pointing
    /// at one of them does not make it "not found". Only the last [`JUDGED_KEPT`] are kept:
    /// a successor names the digest just before it.
    judged: std::collections::VecDeque<String>,
    seen: bool,
}

impl Chain {
    fn judge(&mut self, key: &str) {
        if self.judged.len() == JUDGED_KEPT {
            self.judged.pop_front();
        }
        self.judged.push_back(key.to_string());
    }
}

struct Run<'a> {
    trail: &'a Trail,
    keys: &'a PublicKeys,
    options: &'a Options,
    summary: Summary,
    report: &'a mut (dyn FnMut(&Event) + Send),
}

/// A log file key without a `.gz`, so a gunzipped local copy matches its listing.
fn log_id(key: &str) -> String {
    let key = format::below_prefix(key);
    key.strip_suffix(".gz").unwrap_or(key).to_string()
}

/// The `YYYY/MM/DD` of a log file's key.
fn day_of(key: &str) -> Option<String> {
    let parts: Vec<&str> = key.split('/').collect();
    let n = parts.len();
    (n >= 4).then(|| format!("{}/{}/{}", parts[n - 4], parts[n - 3], parts[n - 2]))
}

impl Run<'_> {
    fn emit(&mut self, e: Event) {
        self.summary.count(&e);
        (self.report)(&e);
    }

    fn in_window(&self, t: DateTime<Utc>, slack: Duration) -> bool {
        self.options.from.is_none_or(|f| t >= f) && self.options.to.is_none_or(|to| t <= to + slack)
    }

    async fn region(&mut self, account: &str, region: &str) -> Result<()> {
        let digest_root = format!("{account}/CloudTrail-Digest/{region}");
        let log_root = format!("{account}/CloudTrail/{region}");
        let mut days: BTreeSet<String> = self.trail.days(&digest_root).await?.into_iter().collect();
        let log_days: BTreeSet<String> = self.trail.days(&log_root).await?.into_iter().collect();
        days.extend(log_days.iter().cloned());
        let mut chains: HashMap<(String, String), Chain> = HashMap::new();
        let mut listed: BTreeMap<String, HashSet<String>> = BTreeMap::new();
        let mut newest_digest: Option<DateTime<Utc>> = None;
        let mut unchecked_log_days: Vec<String> = Vec::new();
        for day in &days {
            let mut digests: Vec<(DateTime<Utc>, String, format::DigestName)> = Vec::new();
            for (key, name) in self.trail.files(&format!("{digest_root}/{day}")).await? {
                if let Some(n) = parse_digest_name(&name) {
                    digests.push((n.time, key, n));
                }
            }
            digests.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
            // Read a few ahead, in order: judging is sequential, reading need not be.
            let reads = futures::stream::iter(digests.into_iter().map(|(time, key, name)| {
                let trail = self.trail;
                async move {
                    let read = trail.read(&key, true).await;
                    (time, key, name, read)
                }
            }))
            .buffered(PARALLEL_READS)
            .collect::<Vec<_>>()
            .await;
            let mut to_check: Vec<LogFile> = Vec::new();
            for (time, key, name, read) in reads {
                if !self.in_window(time, Duration::hours(1)) {
                    continue;
                }
                newest_digest = newest_digest.max(Some(time));
                let Some((bytes, own)) = read? else { continue };
                let chain = chains
                    .entry((name.trail.clone(), name.home_region.clone()))
                    .or_default();
                let url = self.trail.url(&key);
                let parsed = format::parse_digest(&bytes);
                if let Some(d) = &parsed {
                    for log in &d.logs {
                        if let Some(day) = day_of(&log.key) {
                            listed.entry(day).or_default().insert(log_id(&log.key));
                        }
                    }
                }
                let trail = self.trail;
                let outcome = judge(
                    self.keys,
                    chain,
                    Seen {
                        key: &key,
                        url: &url,
                        parsed,
                        own_signature: own,
                        backfill: name.backfill,
                    },
                    self.options,
                    &|k| trail.url(k),
                );
                for e in outcome.events {
                    self.emit(e);
                }
                to_check.extend(outcome.logs_to_check);
            }
            self.check_logs(to_check).await?;
            // Log days up to the day before this one are now fully listed (a log file is in a
            // digest of its own day or of the next).
            if log_days.contains(day) {
                unchecked_log_days.push(day.clone());
            }
            let ready: Vec<String> = unchecked_log_days
                .iter()
                .filter(|d| d.as_str() < day.as_str())
                .cloned()
                .collect();
            for d in ready {
                self.unlisted(&log_root, &d, &listed, newest_digest).await?;
                unchecked_log_days.retain(|x| *x != d);
            }
            // What no later log day needs any more.
            let keep_from = unchecked_log_days
                .first()
                .cloned()
                .unwrap_or_else(|| day.clone());
            listed.retain(|d, _| *d >= keep_from);
        }
        // The newest digest of each chain has no successor.
        let mut to_check = Vec::new();
        let mut chains: Vec<_> = chains.into_iter().collect();
        chains.sort_by(|a, b| a.0.cmp(&b.0));
        for (_, mut chain) in chains {
            if let Some(p) = chain.pending.take() {
                let (e, ok) = resolve_alone(
                    p.url,
                    p.own,
                    "not verifiable by signature: the newest digest of its chain, and no \
                     signature was kept with it (S3 metadata or a .sig file)",
                );
                self.emit(e);
                if ok {
                    to_check.extend(p.digest.logs);
                }
            }
        }
        self.check_logs(to_check).await?;
        for d in std::mem::take(&mut unchecked_log_days) {
            self.unlisted(&log_root, &d, &listed, newest_digest).await?;
        }
        Ok(())
    }

    /// Hashes the listed log files, several at once, and reports them in listing order.
    async fn check_logs(&mut self, logs: Vec<LogFile>) -> Result<()> {
        let trail = self.trail;
        let results = futures::stream::iter(logs.into_iter().map(|log| async move {
            let verdict = match trail.read(&log.key, false).await {
                Err(e) => return Err(e),
                Ok(None) => {
                    // A gunzipped local copy (`.json`) still checks: the hash is of the content.
                    match log.key.strip_suffix(".gz") {
                        Some(plain) => trail.read(plain, false).await?,
                        None => None,
                    }
                    .map_or(Verdict::Invalid("not found".into()), |(b, _)| {
                        hash_verdict(&b, &log.hash)
                    })
                }
                Ok(Some((bytes, _))) => hash_verdict(&bytes, &log.hash),
            };
            Ok((trail.url(&log.key), verdict))
        }))
        .buffered(PARALLEL_READS)
        .collect::<Vec<_>>()
        .await;
        for r in results {
            let (url, verdict) = r?;
            self.emit(Event::File {
                subject: Subject::Log,
                url,
                verdict,
            });
        }
        Ok(())
    }

    /// Reports the log files of one day folder that no digest lists.
    async fn unlisted(
        &mut self,
        log_root: &str,
        day: &str,
        listed: &BTreeMap<String, HashSet<String>>,
        newest_digest: Option<DateTime<Utc>>,
    ) -> Result<()> {
        let empty = HashSet::new();
        let names = listed.get(day).unwrap_or(&empty);
        for (key, name) in self.trail.files(&format!("{log_root}/{day}")).await? {
            let Some(time) = log_file_time(&name) else {
                continue;
            };
            if !self.in_window(time, Duration::zero()) || names.contains(&log_id(&key)) {
                continue;
            }
            // Delivered in the newest digest's hour or after it: not digested yet.
            let verdict = if newest_digest.is_none_or(|n| time >= n - Duration::hours(1)) {
                Verdict::Uncovered
            } else {
                Verdict::Unlisted
            };
            self.emit(Event::File {
                subject: Subject::Log,
                url: self.trail.url(&key),
                verdict,
            });
        }
        Ok(())
    }
}

fn hash_verdict(bytes: &[u8], expected: &str) -> Verdict {
    match format::inflate(bytes) {
        None => Verdict::Invalid("invalid format".into()),
        Some(content) if hex::encode(Sha256::digest(&content)) == expected => Verdict::Valid,
        Some(_) => Verdict::Invalid("hash value doesn't match".into()),
    }
}

/// A digest judged by its own signature alone; the bool says whether its logs are checked.
fn resolve_alone(url: String, own: Option<bool>, why_unverifiable: &str) -> (Event, bool) {
    let (verdict, ok) = match own {
        Some(true) => (Verdict::Valid, true),
        Some(false) => (
            Verdict::Invalid("signature verification failed".into()),
            false,
        ),
        None => (Verdict::Unverifiable(why_unverifiable.to_string()), true),
    };
    (
        Event::File {
            subject: Subject::Digest,
            url,
            verdict,
        },
        ok,
    )
}

struct Outcome {
    events: Vec<Event>,
    logs_to_check: Vec<LogFile>,
}

/// A digest file as read.
struct Seen<'a> {
    key: &'a str,
    url: &'a str,
    parsed: Option<Digest>,
    own_signature: Option<String>,
    backfill: bool,
}

/// Judges one digest in its chain: settles its predecessor with what it says about it, and
/// either settles itself (invalid, backfill) or waits for its successor.
fn judge(
    keys: &PublicKeys,
    chain: &mut Chain,
    seen: Seen<'_>,
    options: &Options,
    url_of: &dyn Fn(&str) -> String,
) -> Outcome {
    let Seen {
        key,
        url,
        parsed,
        own_signature,
        backfill,
    } = seen;
    let mut out = Outcome {
        events: Vec::new(),
        logs_to_check: Vec::new(),
    };
    let invalid = |message: &str| Event::File {
        subject: Subject::Digest,
        url: url.to_string(),
        verdict: Verdict::Invalid(message.to_string()),
    };
    let settle_pending_alone = |chain: &mut Chain, out: &mut Outcome, why: &str| {
        if let Some(p) = chain.pending.take() {
            let (e, ok) = resolve_alone(p.url, p.own, why);
            out.events.push(e);
            if ok {
                out.logs_to_check.extend(p.digest.logs);
            }
        }
    };
    let orphaned = "not verifiable by signature: the digest after it is missing or invalid, \
                    and no signature was kept with it (S3 metadata or a .sig file)";
    // An unreadable or moved digest takes no part in the chain: the digest before it is
    // settled when the one after it arrives (by its own signature, since the link is broken).
    let Some(d) = parsed else {
        chain.judge(key);
        out.events.push(invalid("invalid format"));
        return out;
    };
    if !same_object(&d.key, key) {
        chain.judge(key);
        out.events
            .push(invalid("has been moved from its original location"));
        return out;
    }
    let own = own_signature
        .map(|s| keys.verify(&d.fingerprint, format::string_to_sign(&d).as_bytes(), &s));
    if !backfill {
        // What this digest says about the one before it.
        match d.previous_key.as_deref() {
            None => {
                if let Some(p) = &chain.pending {
                    out.events.push(Event::Gap {
                        from: p.digest.end.clone(),
                        to: d.start.clone(),
                    });
                }
                settle_pending_alone(chain, &mut out, orphaned);
            }
            Some(previous) => {
                let is_pending = chain
                    .pending
                    .as_ref()
                    .is_some_and(|p| same_object(&p.aws_key, previous));
                if is_pending {
                    let Some(p) = chain.pending.take() else {
                        unreachable!("checked above")
                    };
                    let hash_ok =
                        d.previous_hash.as_deref() == Some(p.digest.content_hash.as_str());
                    let chained_sig_ok = d.previous_signature.as_deref().is_some_and(|s| {
                        keys.verify(
                            &p.digest.fingerprint,
                            format::string_to_sign(&p.digest).as_bytes(),
                            s,
                        )
                    });
                    let verdict = if !hash_ok {
                        Verdict::Invalid("hash value doesn't match".into())
                    } else if !chained_sig_ok || p.own == Some(false) {
                        Verdict::Invalid("signature verification failed".into())
                    } else {
                        Verdict::Valid
                    };
                    if verdict == Verdict::Valid {
                        out.logs_to_check.extend(p.digest.logs);
                    }
                    out.events.push(Event::File {
                        subject: Subject::Digest,
                        url: p.url,
                        verdict,
                    });
                } else {
                    let known = chain.judged.iter().any(|k| same_object(k, previous));
                    let before_window =
                        parse_digest_name(previous.rsplit('/').next().unwrap_or(""))
                            .is_some_and(|n| options.from.is_some_and(|f| n.time < f));
                    // The first digest of a copy may point at one the copy does not hold.
                    if chain.seen && !known && !before_window {
                        out.events.push(Event::File {
                            subject: Subject::Digest,
                            url: url_of(previous),
                            verdict: Verdict::Invalid("not found".into()),
                        });
                    }
                    settle_pending_alone(chain, &mut out, orphaned);
                }
            }
        }
        chain.seen = true;
    }
    chain.judge(key);
    if !keys.has(&d.fingerprint) {
        out.events.push(invalid(&format!(
            "public key not found for fingerprint {}",
            d.fingerprint
        )));
        return out;
    }
    if backfill {
        let (e, ok) = resolve_alone(
            url.to_string(),
            own,
            "not verifiable by signature: a backfill digest, and no signature was kept with \
             it (S3 metadata or a .sig file)",
        );
        out.events.push(e);
        if ok {
            out.logs_to_check.extend(d.logs);
        }
        return out;
    }
    chain.pending = Some(Pending {
        aws_key: key.to_string(),
        url: url.to_string(),
        digest: d,
        own,
    });
    out
}
