//! `ctlake validate`: signed digest chains made here with a test RSA key (made by `openssl`
//! in the test, never an AWS key), over generated trails and over real log files of the
//! sans504 corpus; each kind of damage gives its line, in `validate-logs`' words, and its
//! exit status, locally and on the loopback S3 server.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;
use crate::s3::S3Server;

/// A fresh 2048-bit RSA key, PEM.
fn test_key(dir: &Path) -> PathBuf {
    let key = dir.join("test-key.pem");
    let ok = Command::new("openssl")
        .args(["genrsa", "-out", key.to_str().unwrap(), "2048"])
        .output()
        .expect("openssl is needed to make the test key (apt-get install openssl)")
        .status
        .success();
    assert!(ok, "openssl genrsa failed");
    key
}

/// A generated trail of one account, two regions and two days, signed with `key`; the
/// public key is in `<trail>.public-keys.json`, beside it.
fn signed_trail(dir: &Path, name: &str, key: &Path, start: &str, days: &str) -> PathBuf {
    let out = dir.join(name);
    let r = run(&[
        "generate",
        "--out",
        out.to_str().unwrap(),
        "--events",
        "1500",
        "--days",
        days,
        "--start",
        start,
        "--regions",
        "2",
        "--accounts",
        "1",
        "--seed",
        "7",
        "--digests",
        key.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    out
}

fn keys_of(trail: &Path) -> PathBuf {
    PathBuf::from(format!("{}.public-keys.json", trail.display()))
}

fn copy_tree(from: &Path, to: &Path) {
    for f in files_under(from) {
        let target = to.join(f.strip_prefix(from).unwrap());
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(&f, &target).unwrap();
    }
}

fn validate(args: &[&str]) -> Run {
    let mut all = vec!["validate"];
    all.extend_from_slice(args);
    run(&all)
}

/// Digest files (not signatures) and log files in a tree, found by walking it.
fn digests_and_logs(root: &Path) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let files = files_under(root);
    let digests = files
        .iter()
        .filter(|f| {
            let s = f.to_string_lossy();
            s.contains("/CloudTrail-Digest/") && s.ends_with(".json.gz")
        })
        .cloned()
        .collect();
    let logs = files
        .iter()
        .filter(|f| f.to_string_lossy().contains("/CloudTrail/"))
        .cloned()
        .collect();
    (digests, logs)
}

/// A digest's JSON, read here with flate2 and serde_json.
fn digest_json(path: &Path) -> serde_json::Value {
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The report's lines for `path` (stdout and stderr), as `(what, message)`.
fn lines_for(r: &Run, path: &Path) -> Vec<(String, String)> {
    let p = path.to_str().unwrap();
    r.stdout
        .lines()
        .chain(r.stderr.lines())
        .filter_map(|l| {
            let mut parts = l.split('\t');
            let (what, url, message) = (parts.next()?, parts.next()?, parts.next()?);
            (url == p).then(|| (what.to_string(), message.to_string()))
        })
        .collect()
}

#[test]
fn an_intact_signed_trail_is_valid_line_by_line() {
    let dir = tempfile::tempdir().unwrap();
    let key = test_key(dir.path());
    let trail = signed_trail(dir.path(), "trail", &key, "2026-11-01", "2");
    let keys = keys_of(&trail);
    let (digests, logs) = digests_and_logs(&trail);
    // Hours with no delivery still have a digest, with an empty list.
    let empty = digests
        .iter()
        .filter(|d| digest_json(d)["logFiles"].as_array().unwrap().is_empty())
        .count();
    assert!(empty > 0, "the trail must have an empty-hour digest");
    // Each region's chain starts with a digest whose previous fields are null.
    let firsts = digests
        .iter()
        .filter(|d| digest_json(d)["previousDigestSignature"].is_null())
        .count();
    assert_eq!(firsts, 2, "one chain per region");
    let r = validate(&[
        trail.to_str().unwrap(),
        "--public-keys",
        keys.to_str().unwrap(),
        "--verbose",
    ]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let n = |s: &str| {
        r.stdout
            .lines()
            .filter(|l| l.starts_with(s) && l.ends_with("\tvalid"))
            .count()
    };
    assert_eq!(n("Digest file\t"), digests.len());
    assert_eq!(n("Log file\t"), logs.len());
    assert!(
        r.stdout
            .contains(&format!("{0}/{0} digest files valid", digests.len()))
            && r.stdout
                .contains(&format!("{0}/{0} log files valid", logs.len())),
        "{}",
        r.stdout
    );
    assert_eq!(r.stderr.trim(), "", "no INVALID line");
    // A window: only the digests written from the second day on (by their names' times).
    let second_day = digests
        .iter()
        .filter(|d| {
            let name = d.file_name().unwrap().to_str().unwrap();
            name.rsplit('_').next().unwrap() >= "20261102T000000Z.json.gz"
        })
        .count();
    assert!(second_day > 0 && second_day < digests.len());
    let r = validate(&[
        trail.to_str().unwrap(),
        "--public-keys",
        keys.to_str().unwrap(),
        "--from",
        "2026-11-02",
    ]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains(&format!("{0}/{0} digest files valid", second_day)),
        "{}",
        r.stdout
    );
    // Without --verbose, valid files are not listed, only the summary.
    let quiet = validate(&[
        trail.to_str().unwrap(),
        "--public-keys",
        keys.to_str().unwrap(),
    ]);
    assert_eq!(quiet.code, 0);
    assert!(!quiet.stdout.contains("\tvalid"), "{}", quiet.stdout);
}

#[test]
fn each_kind_of_damage_has_its_line_and_exit_status() {
    let dir = tempfile::tempdir().unwrap();
    let key = test_key(dir.path());
    let trail = signed_trail(dir.path(), "trail", &key, "2026-11-01", "2");
    let keys = keys_of(&trail);
    let (digests, logs) = digests_and_logs(&trail);
    let fresh = |name: &str| {
        let copy = dir.path().join(name);
        copy_tree(&trail, &copy);
        copy
    };
    let moved_to = |copy: &Path, f: &Path| copy.join(f.strip_prefix(&trail).unwrap());
    let check = |copy: &Path, target: &Path, what: &str, message: &str| {
        let r = validate(&[
            copy.to_str().unwrap(),
            "--public-keys",
            keys.to_str().unwrap(),
        ]);
        assert_eq!(r.code, 1, "{message}: {}\n{}", r.stdout, r.stderr);
        assert!(
            lines_for(&r, target).contains(&(what.to_string(), message.to_string())),
            "expected {what} {} {message}:\n{}\n{}",
            target.display(),
            r.stdout,
            r.stderr
        );
        r
    };

    // A log file changed by one byte of its uncompressed content.
    let copy = fresh("changed-log");
    let log = moved_to(&copy, &logs[10]);
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&log).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    let at = text.find("\"eventName\":\"").unwrap() + 13;
    let mut bytes = text.into_bytes();
    bytes[at] ^= 0x20; // the case of one letter
    write_gz(&log, std::str::from_utf8(&bytes).unwrap());
    check(&copy, &log, "Log file", "INVALID: hash value doesn't match");

    // A log file deleted.
    let copy = fresh("deleted-log");
    let log = moved_to(&copy, &logs[20]);
    std::fs::remove_file(&log).unwrap();
    check(&copy, &log, "Log file", "INVALID: not found");

    // A digest changed (one field of its JSON, re-gzipped).
    let copy = fresh("changed-digest");
    let d = moved_to(&copy, &digests[3]);
    let mut v = digest_json(&d);
    v["oldestEventTime"] = serde_json::json!("2000-01-01T00:00:00Z");
    write_gz(&d, &v.to_string());
    check(
        &copy,
        &d,
        "Digest file",
        "INVALID: hash value doesn't match",
    );

    // A digest deleted in the middle of its chain.
    let copy = fresh("deleted-digest");
    let d = moved_to(&copy, &digests[5]);
    std::fs::remove_file(&d).unwrap();
    std::fs::remove_file(format!("{}.sig", d.display())).unwrap();
    check(&copy, &d, "Digest file", "INVALID: not found");

    // A digest moved to another place (another day folder, its name following).
    let copy = fresh("moved-digest");
    let d = moved_to(&copy, &digests[7]);
    let name = d.file_name().unwrap().to_str().unwrap();
    let stamp_at = name.rfind('_').unwrap() + 1;
    let moved_name = format!("{}20300101T000000Z.json.gz", &name[..stamp_at]);
    let region_dir = d
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .parent()
        .unwrap();
    let target = region_dir.join("2030/01/01").join(&moved_name);
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    std::fs::rename(&d, &target).unwrap();
    check(
        &copy,
        &target,
        "Digest file",
        "INVALID: has been moved from its original location",
    );

    // A truncated digest, and one that is not gzip at all.
    let copy = fresh("broken-digests");
    let d1 = moved_to(&copy, &digests[9]);
    let bytes = std::fs::read(&d1).unwrap();
    std::fs::write(&d1, &bytes[..bytes.len() / 2]).unwrap();
    let d2 = moved_to(&copy, &digests[12]);
    std::fs::write(&d2, "not a digest").unwrap();
    let r = check(&copy, &d1, "Digest file", "INVALID: invalid format");
    assert!(lines_for(&r, &d2).contains(&("Digest file".into(), "INVALID: invalid format".into())));

    // A log file no digest lists.
    let copy = fresh("extra-log");
    let first = moved_to(&copy, &logs[0]);
    let extra = first.with_file_name(
        first
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .replace(".json.gz", "")
            .rsplit_once('_')
            .map(|(head, _)| format!("{head}_ExtraFileNotFromAWS.json.gz"))
            .unwrap(),
    );
    std::fs::copy(&first, &extra).unwrap();
    let r = check(
        &copy,
        &extra,
        "Log file",
        "INVALID: not listed by any digest",
    );
    assert!(
        r.stdout.contains("1 log file not listed by any digest"),
        "{}",
        r.stdout
    );

    // The keys file holds another key under the trail's fingerprint: signatures fail.
    let other_dir = dir.path().join("other-key");
    std::fs::create_dir_all(&other_dir).unwrap();
    let other = test_key(&other_dir);
    let mut wrong: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&keys).unwrap()).unwrap();
    let other_trail = signed_trail(dir.path(), "other-trail", &other, "2026-11-01", "1");
    let other_keys: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(keys_of(&other_trail)).unwrap()).unwrap();
    wrong["PublicKeyList"][0]["Value"] = other_keys["PublicKeyList"][0]["Value"].clone();
    let wrong_file = dir.path().join("wrong-keys.json");
    std::fs::write(&wrong_file, wrong.to_string()).unwrap();
    let r = validate(&[
        trail.to_str().unwrap(),
        "--public-keys",
        wrong_file.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 1);
    assert!(
        lines_for(&r, &digests[0]).contains(&(
            "Digest file".into(),
            "INVALID: signature verification failed".into()
        )),
        "{}",
        r.stderr
    );
    // ... and a keys file without the trail's fingerprint: the key is not found.
    let fingerprint = digest_json(&digests[0])["digestPublicKeyFingerprint"]
        .as_str()
        .unwrap()
        .to_string();
    let r = validate(&[
        trail.to_str().unwrap(),
        "--public-keys",
        keys_of(&other_trail).to_str().unwrap(),
    ]);
    assert_eq!(r.code, 1);
    assert!(
        lines_for(&r, &digests[0]).contains(&(
            "Digest file".into(),
            format!("INVALID: public key not found for fingerprint {fingerprint}")
        )),
        "{}",
        r.stderr
    );
    assert!(
        r.stdout.contains(&format!(
            "0/{0} digest files valid, {0}/{0} digest files INVALID",
            digests.len()
        )),
        "{}",
        r.stdout
    );

    // The newest digest without its signature file: not verifiable, not invalid.
    let copy = fresh("newest-unsigned");
    let newest = digests
        .iter()
        .max_by_key(|d| {
            d.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .rsplit('_')
                .next()
                .unwrap()
                .to_string()
        })
        .unwrap();
    let newest = moved_to(&copy, newest);
    std::fs::remove_file(format!("{}.sig", newest.display())).unwrap();
    let r = validate(&[
        copy.to_str().unwrap(),
        "--public-keys",
        keys.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let lines = lines_for(&r, &newest);
    assert_eq!(lines.len(), 1, "{}", r.stdout);
    assert!(
        lines[0].1.starts_with("not verifiable by signature"),
        "{lines:?}"
    );
    assert!(
        r.stdout
            .contains(&format!("1/{} digest files not verifiable", digests.len()))
    );

    // Usage errors are exit 2: a keys file that is not there, and no --public-keys at all.
    let r = validate(&[
        trail.to_str().unwrap(),
        "--public-keys",
        "/nonexistent/keys.json",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("/nonexistent/keys.json"), "{}", r.stderr);
    assert_eq!(validate(&[trail.to_str().unwrap()]).code, 2);
    let r = validate(&[
        dir.path().join("other-key").to_str().unwrap(),
        "--public-keys",
        keys.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("no AWSLogs/ folder"), "{}", r.stderr);
}

#[test]
fn a_gap_and_a_backfill_digest() {
    let dir = tempfile::tempdir().unwrap();
    let key = test_key(dir.path());
    // Logging stopped for two days: two chains, the second starting afresh.
    let a = signed_trail(dir.path(), "a", &key, "2026-11-01", "1");
    let b = signed_trail(dir.path(), "b", &key, "2026-11-04", "1");
    let both = dir.path().join("both");
    copy_tree(&a, &both);
    copy_tree(&b, &both);
    let keys = keys_of(&a);
    let r = validate(&[
        both.to_str().unwrap(),
        "--public-keys",
        keys.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("No log files were delivered by CloudTrail between 2026-11-02T00:00:00Z and 2026-11-04T00:00:00Z"),
        "{}",
        r.stderr
    );
    // A backfill digest (written late, outside the chain), signed with the trail's key.
    let (digests, logs) = digests_and_logs(&both);
    let signer = ctlake_digest::Signer::read(&key).unwrap();
    let template = digest_json(&digests[0]);
    let log = &logs[0];
    let log_key = log
        .strip_prefix(&both)
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let mut content = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(log).unwrap())
        .read_to_string(&mut content)
        .unwrap();
    let name = digests[0]
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .replace(".json.gz", "_backfill.json.gz");
    let backfill = digests[0].with_file_name(&name);
    let backfill_key = backfill
        .strip_prefix(&both)
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let body = serde_json::json!({
        "digestStartTime": template["digestStartTime"],
        "digestEndTime": template["digestEndTime"],
        "digestS3Bucket": template["digestS3Bucket"],
        "digestS3Object": backfill_key,
        "digestPublicKeyFingerprint": signer.fingerprint(),
        "digestSignatureAlgorithm": "SHA256withRSA",
        "previousDigestS3Bucket": null,
        "previousDigestS3Object": null,
        "previousDigestHashValue": null,
        "previousDigestSignature": null,
        "logFiles": [{
            "s3Bucket": template["digestS3Bucket"],
            "s3Object": log_key,
            "hashValue": sha256_hex(content.as_bytes()),
            "hashAlgorithm": "SHA-256",
        }],
    })
    .to_string();
    write_gz(&backfill, &body);
    // The signed string, as AWS documents it, built here.
    let to_sign = format!(
        "{}\n{}/{}\n{}\nnull",
        template["digestEndTime"].as_str().unwrap(),
        template["digestS3Bucket"].as_str().unwrap(),
        backfill_key,
        sha256_hex(body.as_bytes())
    );
    std::fs::write(
        format!("{}.sig", backfill.display()),
        signer.sign(to_sign.as_bytes()),
    )
    .unwrap();
    let r = validate(&[
        both.to_str().unwrap(),
        "--public-keys",
        keys.to_str().unwrap(),
        "--verbose",
    ]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(
        lines_for(&r, &backfill),
        vec![("Digest file".to_string(), "valid".to_string())]
    );
}

fn sha256_hex(bytes: &[u8]) -> String {
    python_with_input(
        "import hashlib,sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())",
        bytes,
    )
    .trim()
    .to_string()
}

#[test]
fn real_log_files_signed_and_the_real_digest_sample() {
    let (Some(sans), Some(sample)) = (corpus("sans504"), corpus("digest-sample")) else {
        return;
    };
    // The published digest parses: its fields, its five log files.
    let digest = files_under(&sample)
        .into_iter()
        .find(|f| f.to_string_lossy().contains("CloudTrail-Digest"))
        .unwrap();
    let d = ctlake_digest::format::parse_digest(&std::fs::read(&digest).unwrap()).unwrap();
    assert_eq!(d.fingerprint, "be2f0b997552f44942837300ba1aba9d");
    assert_eq!(d.logs.len(), 5);
    assert_eq!(d.end, "2023-10-15T23:04:04Z");
    // Without AWS's key its signature cannot be checked: the key is named as not found.
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("no-keys.json");
    std::fs::write(&empty, r#"{"PublicKeyList":[]}"#).unwrap();
    let r = validate(&[
        sample.to_str().unwrap(),
        "--public-keys",
        empty.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 1);
    assert!(
        lines_for(&r, &digest).contains(&(
            "Digest file".into(),
            "INVALID: public key not found for fingerprint be2f0b997552f44942837300ba1aba9d".into()
        )),
        "{}",
        r.stderr
    );

    // Real log files (SANS SEC504's trail) signed here: all valid, then one changed.
    let copy = dir.path().join("sans504");
    copy_tree(&sans, &copy);
    let key = test_key(dir.path());
    let signer = ctlake_digest::Signer::read(&key).unwrap();
    let trail = ctlake_digest::Trail {
        name: "sec504".into(),
        home_region: "us-east-1".into(),
        bucket: "sec504-trail".into(),
    };
    let w = ctlake_digest::write_digests(&copy, &trail, &signer).unwrap();
    let mut keys = ctlake_digest::PublicKeys::default();
    keys.insert(signer.fingerprint().to_string(), signer.public_der());
    let keys_file = dir.path().join("keys.json");
    std::fs::write(&keys_file, keys.to_json()).unwrap();
    let (_, logs) = digests_and_logs(&copy);
    assert_eq!(w.logs as usize, logs.len());
    let r = validate(&[
        copy.to_str().unwrap(),
        "--public-keys",
        keys_file.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains(&format!("{0}/{0} log files valid", logs.len())),
        "{}",
        r.stdout
    );
    let victim = &logs[logs.len() / 2];
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(victim).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    write_gz(
        victim,
        &text.replacen("\"eventName\":\"", "\"eventName\":\"x", 1),
    );
    let r = validate(&[
        copy.to_str().unwrap(),
        "--public-keys",
        keys_file.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 1);
    assert_eq!(
        lines_for(&r, victim),
        vec![(
            "Log file".to_string(),
            "INVALID: hash value doesn't match".to_string()
        )]
    );
}

#[test]
fn a_trail_on_s3_with_signatures_in_object_metadata() {
    let Some(s3) = S3Server::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let key = test_key(dir.path());
    let trail = signed_trail(dir.path(), "trail", &key, "2026-11-01", "1");
    let keys = keys_of(&trail);
    let (digests, logs) = digests_and_logs(&trail);
    let tree = dir.path().join("upload");
    copy_tree(&trail.join("AWSLogs"), &tree.join("AWSLogs"));
    s3.create_bucket("trail-copy");
    s3.upload_trail("trail-copy", &tree);
    let r = s3.run(&[
        "validate",
        "s3://trail-copy",
        "--public-keys",
        keys.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    // Every digest proven, the newest too: its signature is in its metadata.
    assert!(
        r.stdout
            .contains(&format!("{0}/{0} digest files valid", digests.len()))
            && r.stdout
                .contains(&format!("{0}/{0} log files valid", logs.len()))
            && !r.stdout.contains("not verifiable"),
        "{}",
        r.stdout
    );
    // One log file replaced by another's bytes, one deleted, a digest deleted mid-chain,
    // another one changed, and a log file added that no digest lists.
    let key_of = |p: &Path| {
        p.strip_prefix(&trail)
            .unwrap()
            .to_str()
            .unwrap()
            .to_string()
    };
    let victim = key_of(&logs[3]);
    std::fs::copy(&logs[4], tree.join(&victim)).unwrap();
    let changed_digest = key_of(&digests[10]);
    let mut v = digest_json(&digests[10]);
    v["oldestEventTime"] = serde_json::json!("2000-01-01T00:00:00Z");
    write_gz(&tree.join(&changed_digest), &v.to_string());
    let extra = format!(
        "{}_NotFromCloudTrail.json.gz",
        victim
            .trim_end_matches(".json.gz")
            .rsplit_once('_')
            .unwrap()
            .0
    );
    std::fs::copy(&logs[4], tree.join(&extra)).unwrap();
    s3.upload_trail("trail-copy", &tree);
    let deleted_log = key_of(&logs[30]);
    let deleted_digest = key_of(&digests[5]);
    s3.delete("trail-copy", &deleted_log);
    s3.delete("trail-copy", &deleted_digest);
    let r = s3.run(&[
        "validate",
        "s3://trail-copy",
        "--public-keys",
        keys.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    for (what, key, message) in [
        ("Log file", &victim, "INVALID: hash value doesn't match"),
        ("Log file", &deleted_log, "INVALID: not found"),
        ("Log file", &extra, "INVALID: not listed by any digest"),
        ("Digest file", &deleted_digest, "INVALID: not found"),
        (
            "Digest file",
            &changed_digest,
            "INVALID: hash value doesn't match",
        ),
    ] {
        assert!(
            r.stderr
                .contains(&format!("{what}\ts3://trail-copy/{key}\t{message}")),
            "{what} {key} {message}:\n{}",
            r.stderr
        );
    }
}

#[test]
fn ingest_verify_stores_proven_log_files_only() {
    let dir = tempfile::tempdir().unwrap();
    let key = test_key(dir.path());
    let trail = signed_trail(dir.path(), "trail", &key, "2026-11-01", "1");
    let keys = keys_of(&trail);
    let copy = dir.path().join("copy");
    copy_tree(&trail, &copy);
    let (_, logs) = digests_and_logs(&copy);
    // One log file changed, one added that no digest lists.
    let changed = &logs[5];
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(changed).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    write_gz(
        changed,
        &text.replacen("\"eventName\":\"", "\"eventName\":\"x", 1),
    );
    let extra = changed.with_file_name(
        changed
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .rsplit_once('_')
            .map(|(head, _)| format!("{head}_NotFromCloudTrail.json.gz"))
            .unwrap(),
    );
    write_gz(
        &extra,
        &format!(
            "{{\"Records\":[{}]}}",
            record("planted-1", "us-east-1", "2026-11-01T10:00:00Z")
        ),
    );
    // What should be stored: every log file but those two, counted by the independent reader.
    let proven = dir.path().join("proven");
    copy_tree(&trail, &proven);
    std::fs::remove_file(proven.join(changed.strip_prefix(&copy).unwrap())).unwrap();
    let want = expected(&[&proven.join("AWSLogs")]);

    let lake = dir.path().join("lake");
    let r = run(&[
        "ingest",
        copy.to_str().unwrap(),
        "--lake",
        lake.to_str().unwrap(),
        "--verify",
        "--public-keys",
        keys.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let skipped = |p: &Path, why: &str| {
        r.stderr.lines().any(|l| {
            l.starts_with("skipped: ") && l.contains(p.to_str().unwrap()) && l.ends_with(why)
        })
    };
    assert!(
        skipped(changed, "not proven: INVALID: hash value doesn't match"),
        "{}",
        r.stderr
    );
    assert!(
        skipped(&extra, "not proven: no digest lists it"),
        "{}",
        r.stderr
    );
    assert_eq!(info(&lake)["events"].as_u64().unwrap(), want.events);
    assert_eq!(info(&lake)["proven_only"], serde_json::json!(true));
    let text = run(&["info", "--lake", lake.to_str().unwrap()]);
    assert!(
        text.stdout
            .contains("integrity:         every source file was proven by CloudTrail's digests"),
        "{}",
        text.stdout
    );
    // The same trail ingested without --verify: the lake says so.
    let plain = dir.path().join("plain");
    ingest(&plain, &[&trail], 0);
    assert_eq!(info(&plain)["proven_only"], serde_json::json!(false));
    // --verify needs the keys.
    let r = run(&[
        "ingest",
        copy.to_str().unwrap(),
        "--lake",
        plain.to_str().unwrap(),
        "--verify",
    ]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("--public-keys"), "{}", r.stderr);
}
