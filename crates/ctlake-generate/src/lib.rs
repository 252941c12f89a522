//! Generates realistic CloudTrail deliveries for ctlake's sample data, tests and benchmarks.
//!
//! Output is what a trail writes to S3: gzipped `{"Records":[...]}` files under
//! `AWSLogs/[o-org/]<account>/CloudTrail/<region>/YYYY/MM/DD/`, named
//! `<account>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<rand>.json.gz`, one file per account,
//! region and delivery window, delivered into the folder of the delivery time (so events just
//! before midnight arrive in the next day's folder, as in real buckets).
//!
//! The events have real shapes: IAM users, assumed roles, AWS services and the root user;
//! management and data events; read and write calls; errors; console logins with and without
//! MFA; drifting JSON types (`maxResults` as a number or a string, `bytesTransferredIn` as
//! `0.0`); older records without `eventCategory`; and byte-identical re-deliveries of some
//! events in a second file, as CloudTrail does.
//!
//! With [`Options::plant`], a fixed set of security scenarios (see [`planted`]) is added, so that
//! detection queries have known answers. Everything is a pure function of the options and the
//! seed: the same options give the same bytes, whatever the thread count.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{Duration, NaiveDate, NaiveDateTime};
use flate2::Compression;
use flate2::write::GzEncoder;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde_json::{Value, json};

pub mod planted;

/// Errors of the generator.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Writing an output file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The options are inconsistent.
    #[error("{0}")]
    Options(String),
}

/// The generator's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Regions in the order the generator uses them (the first is every account's home region).
pub const REGIONS: [&str; 17] = [
    "us-east-1",
    "us-west-2",
    "eu-west-1",
    "eu-central-1",
    "ap-southeast-1",
    "ap-northeast-1",
    "us-east-2",
    "us-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-north-1",
    "ap-south-1",
    "ap-southeast-2",
    "ap-northeast-2",
    "ca-central-1",
    "sa-east-1",
    "ap-northeast-3",
];

/// What to generate.
#[derive(Debug, Clone)]
pub struct Options {
    /// Output folder (the `AWSLogs` folder is made inside it).
    pub out: PathBuf,
    /// Distinct events to generate (re-deliveries and planted events come on top).
    pub events: u64,
    /// First day.
    pub start: NaiveDate,
    /// Number of days.
    pub days: u32,
    /// Regions used (the first `regions` of [`REGIONS`]).
    pub regions: usize,
    /// Accounts.
    pub accounts: usize,
    /// Seed of every random choice.
    pub seed: u64,
    /// Fraction of events delivered a second time in another file.
    pub duplicate_rate: f64,
    /// Minutes of events per delivery file.
    pub file_minutes: u32,
    /// Organization id for an organization trail layout (`AWSLogs/o-.../<account>/...`).
    pub organization: Option<String>,
    /// Add the planted security scenarios.
    pub plant: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            out: PathBuf::from("corpus"),
            events: 100_000,
            start: NaiveDate::from_ymd_opt(2026, 11, 1).expect("valid date"),
            days: 7,
            regions: 4,
            accounts: 3,
            seed: 1,
            duplicate_rate: 0.002,
            file_minutes: 5,
            organization: None,
            plant: false,
        }
    }
}

/// What was generated.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// Files written.
    pub files: u64,
    /// Records written, re-deliveries included.
    pub records: u64,
    /// Distinct events (distinct eventIDs).
    pub events: u64,
    /// Re-delivered copies.
    pub duplicates: u64,
    /// Bytes written.
    pub bytes: u64,
}

/// The account ids of a generated corpus.
pub fn account_ids(seed: u64, accounts: usize) -> Vec<String> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xACC0_0000);
    (0..accounts)
        .map(|_| {
            format!(
                "{:012}",
                rng.random_range(100_000_000_000u64..999_999_999_999)
            )
        })
        .collect()
}

/// One generated event, placed.
#[derive(Clone)]
pub struct Event {
    /// The account whose trail delivers it.
    pub account: usize,
    /// The region.
    pub region: &'static str,
    /// Event time (UTC).
    pub time: NaiveDateTime,
    /// The record.
    pub record: Value,
}

/// Generates a corpus.
pub fn generate(opts: &Options) -> Result<Report> {
    if opts.regions == 0 || opts.regions > REGIONS.len() || opts.accounts == 0 || opts.days == 0 {
        return Err(Error::Options(format!(
            "need 1..={} regions, at least one account and one day",
            REGIONS.len()
        )));
    }
    let world = World::new(opts);
    let planted = if opts.plant {
        planted::events(&world, opts.start, opts.days)
    } else {
        Vec::new()
    };
    let per_day = opts.events / opts.days as u64;
    let extra = opts.events % opts.days as u64;
    let reports: Vec<Result<Report>> = (0..opts.days)
        .into_par_iter()
        .map(|d| {
            let n = per_day + u64::from((d as u64) < extra);
            let day = opts.start + Duration::days(d as i64);
            let mut rng =
                ChaCha8Rng::seed_from_u64(opts.seed.wrapping_mul(1_000_003).wrapping_add(d as u64));
            let mut events: Vec<Event> =
                (0..n).map(|_| world.random_event(&mut rng, day)).collect();
            events.extend(planted.iter().filter(|e| e.time.date() == day).cloned());
            write_day(opts, &world, events, &mut rng)
        })
        .collect();
    let mut total = Report::default();
    for r in reports {
        let r = r?;
        total.files += r.files;
        total.records += r.records;
        total.events += r.events;
        total.duplicates += r.duplicates;
        total.bytes += r.bytes;
    }
    Ok(total)
}

fn write_day(
    opts: &Options,
    world: &World,
    mut events: Vec<Event>,
    rng: &mut ChaCha8Rng,
) -> Result<Report> {
    let mut report = Report::default();
    events.sort_by(|a, b| (a.account, a.region, a.time).cmp(&(b.account, b.region, b.time)));
    let window = i64::from(opts.file_minutes.max(1)) * 60;
    let mut redeliver: Vec<(usize, &'static str, NaiveDateTime, String)> = Vec::new();
    let mut i = 0;
    while i < events.len() {
        let (account, region) = (events[i].account, events[i].region);
        let bucket = events[i].time.and_utc().timestamp().div_euclid(window);
        let mut j = i;
        let mut records = Vec::new();
        while j < events.len()
            && events[j].account == account
            && events[j].region == region
            && events[j].time.and_utc().timestamp().div_euclid(window) == bucket
        {
            let text = events[j].record.to_string();
            if rng.random_bool(opts.duplicate_rate.clamp(0.0, 1.0)) {
                redeliver.push((account, region, events[j].time, text.clone()));
            }
            records.push(text);
            j += 1;
        }
        // Delivered a few minutes after the window closes.
        let delivered =
            chrono::DateTime::from_timestamp((bucket + 1) * window + rng.random_range(60..600), 0)
                .expect("in range")
                .naive_utc();
        report.bytes += write_file(opts, world, account, region, delivered, &records, rng)?;
        report.files += 1;
        report.records += records.len() as u64;
        report.events += records.len() as u64;
        i = j;
    }
    // Re-deliveries: the same bytes again, in a later file of the same account and region.
    redeliver.sort_by(|a, b| (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)));
    let mut k = 0;
    while k < redeliver.len() {
        let (account, region) = (redeliver[k].0, redeliver[k].1);
        let mut records = Vec::new();
        let mut last = redeliver[k].2;
        while k < redeliver.len() && redeliver[k].0 == account && redeliver[k].1 == region {
            records.push(std::mem::take(&mut redeliver[k].3));
            last = redeliver[k].2;
            k += 1;
        }
        let delivered = last + Duration::minutes(47);
        report.bytes += write_file(opts, world, account, region, delivered, &records, rng)?;
        report.files += 1;
        report.records += records.len() as u64;
        report.duplicates += records.len() as u64;
    }
    Ok(report)
}

fn write_file(
    opts: &Options,
    world: &World,
    account: usize,
    region: &str,
    delivered: NaiveDateTime,
    records: &[String],
    rng: &mut ChaCha8Rng,
) -> Result<u64> {
    let acct = &world.accounts[account];
    let mut dir = opts.out.join("AWSLogs");
    if let Some(org) = &opts.organization {
        dir = dir.join(org);
    }
    let dir = dir
        .join(acct)
        .join("CloudTrail")
        .join(region)
        .join(delivered.format("%Y/%m/%d").to_string());
    fs::create_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
    let suffix: String = (0..16)
        .map(|_| ALNUM[rng.random_range(0..ALNUM.len())] as char)
        .collect();
    let name = format!(
        "{acct}_CloudTrail_{region}_{}_{suffix}.json.gz",
        delivered.format("%Y%m%dT%H%MZ")
    );
    let path = dir.join(name);
    let mut body = Vec::with_capacity(records.iter().map(|r| r.len() + 1).sum::<usize>() + 16);
    body.extend_from_slice(b"{\"Records\":[");
    for (n, r) in records.iter().enumerate() {
        if n > 0 {
            body.push(b',');
        }
        body.extend_from_slice(r.as_bytes());
    }
    body.extend_from_slice(b"]}");
    // Level 6, gzip's default, is what CloudTrail deliveries are compressed with.
    let mut enc = GzEncoder::new(Vec::with_capacity(body.len() / 8), Compression::new(6));
    enc.write_all(&body).map_err(|e| io_err(&path, e))?;
    let gz = enc.finish().map_err(|e| io_err(&path, e))?;
    fs::write(&path, &gz).map_err(|e| io_err(&path, e))?;
    Ok(gz.len() as u64)
}

fn io_err(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        source,
    }
}

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const HEX: &[u8] = b"0123456789abcdef";

/// The people, roles and addresses of a generated organization.
pub struct World {
    /// Account ids.
    pub accounts: Vec<String>,
    /// Region names in use.
    pub regions: Vec<&'static str>,
    users: Vec<User>,
}

struct User {
    name: &'static str,
    ips: [&'static str; 2],
    agent: &'static str,
    mfa: bool,
}

const AGENTS: [&str; 5] = [
    "aws-cli/2.15.30 Python/3.11.8 Linux/6.1.0 exe/x86_64.debian.12 prompt/off command/ec2.describe-instances",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Boto3/1.34.51 md/Botocore#1.34.51 ua/2.0 os/linux#6.1.0 md/arch#x86_64 lang/python#3.11.8 cfg/retry-mode#legacy Botocore/1.34.51",
    "terraform-provider-aws/5.40.0 (+https://registry.terraform.io) aws-sdk-go-v2/1.25.2 os/linux lang/go#1.22.1",
    "aws-sdk-java/2.25.6 Linux/5.10 OpenJDK_64-Bit_Server_VM/17.0.10+7-LTS Java/17.0.10 vendor/Amazon.com_Inc. exec-env/AWS_ECS_FARGATE",
];

impl World {
    fn new(opts: &Options) -> Self {
        Self {
            accounts: account_ids(opts.seed, opts.accounts),
            regions: REGIONS[..opts.regions].to_vec(),
            users: vec![
                User {
                    name: "alice",
                    ips: ["198.51.100.23", "198.51.100.24"],
                    agent: AGENTS[1],
                    mfa: true,
                },
                User {
                    name: "bob",
                    ips: ["203.0.113.10", "203.0.113.11"],
                    agent: AGENTS[0],
                    mfa: true,
                },
                User {
                    name: "carol",
                    ips: ["192.0.2.77", "192.0.2.78"],
                    agent: AGENTS[1],
                    mfa: false,
                },
                User {
                    name: "dave",
                    ips: ["198.51.100.90", "198.51.100.91"],
                    agent: AGENTS[2],
                    mfa: true,
                },
                User {
                    name: "ci-deployer",
                    ips: ["52.94.133.10", "52.94.133.11"],
                    agent: AGENTS[3],
                    mfa: false,
                },
            ],
        }
    }

    fn random_event(&self, rng: &mut ChaCha8Rng, day: NaiveDate) -> Event {
        // Working hours are busier; the home region and first account carry most traffic.
        let hour = if rng.random_bool(0.7) {
            rng.random_range(8..19)
        } else {
            rng.random_range(0..24)
        };
        let time = day
            .and_hms_opt(hour, rng.random_range(0..60), rng.random_range(0..60))
            .expect("valid time");
        let account = weighted(rng, self.accounts.len());
        let region = weighted(rng, self.regions.len());
        let ctx = Ctx {
            world: self,
            account,
            region,
            time,
        };
        let record = templates::random(rng, &ctx);
        Event {
            account,
            region: self.regions[region],
            time,
            record,
        }
    }
}

/// Picks 0..n with weights 1/(i+1): the first is the most likely.
fn weighted(rng: &mut ChaCha8Rng, n: usize) -> usize {
    let total: f64 = (1..=n).map(|i| 1.0 / i as f64).sum();
    let mut x = rng.random::<f64>() * total;
    for i in 0..n {
        x -= 1.0 / (i + 1) as f64;
        if x <= 0.0 {
            return i;
        }
    }
    n - 1
}

/// Where and when an event happens.
pub struct Ctx<'a> {
    world: &'a World,
    account: usize,
    region: usize,
    time: NaiveDateTime,
}

impl Ctx<'_> {
    fn account(&self) -> &str {
        &self.world.accounts[self.account]
    }
    fn region(&self) -> &'static str {
        self.world.regions[self.region]
    }
    fn time(&self) -> String {
        self.time.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    }
}

fn uuid(rng: &mut ChaCha8Rng) -> String {
    let mut s = String::with_capacity(36);
    for i in 0..32 {
        if matches!(i, 8 | 12 | 16 | 20) {
            s.push('-');
        }
        let c = match i {
            12 => b'4',
            16 => HEX[8 + rng.random_range(0..4)],
            _ => HEX[rng.random_range(0..16)],
        };
        s.push(c as char);
    }
    s
}

fn upper_id(rng: &mut ChaCha8Rng, prefix: &str, n: usize) -> String {
    const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut s = String::from(prefix);
    for _ in 0..n {
        s.push(UPPER[rng.random_range(0..UPPER.len())] as char);
    }
    s
}

/// Who made a call.
#[derive(Clone)]
pub enum Principal {
    /// An IAM user (index into the world's users).
    User(usize),
    /// A role session: role name, session name.
    Role(&'static str, String),
    /// An AWS service acting for the account.
    Service(&'static str),
    /// The root user.
    Root,
}

fn identity(
    rng: &mut ChaCha8Rng,
    ctx: &Ctx<'_>,
    who: &Principal,
    mfa: bool,
) -> (Value, String, String) {
    let acct = ctx.account();
    match who {
        Principal::User(u) => {
            let user = &ctx.world.users[*u];
            let id = json!({
                "type": "IAMUser",
                "principalId": upper_id(rng, "AIDA", 17),
                "arn": format!("arn:aws:iam::{acct}:user/{}", user.name),
                "accountId": acct,
                "accessKeyId": upper_id(rng, "AKIA", 16),
                "userName": user.name,
                "sessionContext": {
                    "sessionIssuer": {},
                    "webIdFederationData": {},
                    "attributes": {
                        "creationDate": (ctx.time - Duration::minutes(rng.random_range(1..600))).format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                        "mfaAuthenticated": if mfa { "true" } else { "false" }
                    }
                }
            });
            (
                id,
                user.ips[rng.random_range(0..2)].to_string(),
                user.agent.to_string(),
            )
        }
        Principal::Role(role, session) => {
            let role_id = upper_id(rng, "AROA", 17);
            let id = json!({
                "type": "AssumedRole",
                "principalId": format!("{role_id}:{session}"),
                "arn": format!("arn:aws:sts::{acct}:assumed-role/{role}/{session}"),
                "accountId": acct,
                "accessKeyId": upper_id(rng, "ASIA", 16),
                "sessionContext": {
                    "sessionIssuer": {
                        "type": "Role",
                        "principalId": role_id,
                        "arn": format!("arn:aws:iam::{acct}:role/{role}"),
                        "accountId": acct,
                        "userName": role
                    },
                    "webIdFederationData": {},
                    "attributes": {
                        "creationDate": (ctx.time - Duration::minutes(rng.random_range(1..60))).format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                        "mfaAuthenticated": if mfa { "true" } else { "false" }
                    }
                }
            });
            let ip = if role.starts_with("lambda") {
                format!(
                    "3.{}.{}.{}",
                    rng.random_range(80..95),
                    rng.random_range(0..255),
                    rng.random_range(1..255)
                )
            } else {
                "198.51.100.23".to_string()
            };
            (id, ip, AGENTS[rng.random_range(2..5)].to_string())
        }
        Principal::Service(svc) => (
            json!({"type": "AWSService", "invokedBy": svc}),
            svc.to_string(),
            svc.to_string(),
        ),
        Principal::Root => (
            json!({
                "type": "Root",
                "principalId": acct,
                "arn": format!("arn:aws:iam::{acct}:root"),
                "accountId": acct,
                "accessKeyId": ""
            }),
            "203.0.113.200".to_string(),
            AGENTS[1].to_string(),
        ),
    }
}

/// Builds a record, evaluating `extra` before `record` borrows the generator.
macro_rules! rec {
    ($rng:expr, $ctx:expr, $who:expr, $source:expr, $name:expr, $read_only:expr, $extra:expr) => {{
        let extra = $extra;
        $crate::record($rng, $ctx, $who, $source, $name, $read_only, extra)
    }};
}

mod templates;

/// Common parts of a record; `extra` is merged over them.
fn record(
    rng: &mut ChaCha8Rng,
    ctx: &Ctx<'_>,
    who: &Principal,
    source: &str,
    name: &str,
    read_only: bool,
    extra: Value,
) -> Value {
    let mfa = match who {
        Principal::User(u) => ctx.world.users[*u].mfa,
        _ => true,
    };
    let (identity, ip, agent) = identity(rng, ctx, who, mfa);
    let mut r = json!({
        "eventVersion": "1.09",
        "userIdentity": identity,
        "eventTime": ctx.time(),
        "eventSource": source,
        "eventName": name,
        "awsRegion": ctx.region(),
        "sourceIPAddress": ip,
        "userAgent": agent,
        "requestParameters": null,
        "responseElements": null,
        "requestID": uuid(rng),
        "eventID": uuid(rng),
        "readOnly": read_only,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": ctx.account(),
        "eventCategory": "Management",
        "tlsDetails": {
            "tlsVersion": "TLSv1.3",
            "cipherSuite": "TLS_AES_128_GCM_SHA256",
            "clientProvidedHostHeader": format!("{}.{}.amazonaws.com", source.trim_end_matches(".amazonaws.com"), ctx.region())
        }
    });
    if let (Value::Object(base), Value::Object(extra)) = (&mut r, extra) {
        for (k, v) in extra {
            if v.is_null() && k.starts_with('-') {
                base.remove(&k[1..]);
            } else {
                base.insert(k, v);
            }
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_options_same_bytes() {
        let a = tempfile_dir("a");
        let b = tempfile_dir("b");
        let opts = |out: &Path| Options {
            out: out.to_path_buf(),
            events: 500,
            days: 2,
            plant: true,
            ..Default::default()
        };
        let ra = generate(&opts(&a)).unwrap();
        let rb = generate(&opts(&b)).unwrap();
        assert_eq!(ra, rb);
        assert_eq!(ra.events, 500 + planted::TOTAL as u64);
        let list = |root: &Path| {
            let mut v: Vec<(String, Vec<u8>)> = walk(root)
                .into_iter()
                .map(|p| {
                    (
                        p.strip_prefix(root).unwrap().display().to_string(),
                        fs::read(&p).unwrap(),
                    )
                })
                .collect();
            v.sort();
            v
        };
        assert_eq!(list(&a), list(&b));
        fs::remove_dir_all(&a).unwrap();
        fs::remove_dir_all(&b).unwrap();
    }

    fn tempfile_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ctlake-gen-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    fn walk(root: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for e in fs::read_dir(root).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
        out
    }

    #[test]
    fn weighted_choice_favours_the_first() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut counts = [0; 4];
        for _ in 0..10_000 {
            counts[weighted(&mut rng, 4)] += 1;
        }
        assert!(counts[0] > counts[1] && counts[1] > counts[3]);
    }

    #[test]
    fn uuids_have_the_v4_shape() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let u = uuid(&mut rng);
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert_eq!(u.matches('-').count(), 4);
    }
}
