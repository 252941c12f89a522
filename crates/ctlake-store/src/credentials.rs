//! The AWS credential chain, resolved as the AWS CLI resolves it.
//!
//! `object_store` reads the environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_SESSION_TOKEN`, `AWS_REGION`, `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`, a web identity
//! token, ECS container credentials) and falls back to EC2 instance metadata, but it does not
//! read the shared `~/.aws/credentials` and `~/.aws/config` files. This module adds them, in
//! the CLI's order: environment keys, then a web identity or container, then the profile's
//! static keys (`AWS_PROFILE`, else `default`), then instance metadata. The profile also gives
//! the region and `endpoint_url` when the environment does not.
//!
//! With `AWS_EC2_METADATA_DISABLED=true` (the SDKs' own switch) and nothing else found, the
//! answer is "no credentials found" at once instead of a request to the metadata address.

use std::path::PathBuf;
use std::time::Duration;

use object_store::RetryConfig;
use object_store::aws::{AmazonS3, AmazonS3Builder};

use crate::{Error, Result};

/// What a profile of the shared files gives.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Profile {
    /// `aws_access_key_id`.
    pub access_key_id: Option<String>,
    /// `aws_secret_access_key`.
    pub secret_access_key: Option<String>,
    /// `aws_session_token`.
    pub session_token: Option<String>,
    /// `region`.
    pub region: Option<String>,
    /// `endpoint_url`.
    pub endpoint_url: Option<String>,
    /// A way of getting credentials that ctlake does not run itself (`role_arn`,
    /// `sso_session`, `credential_process`, ...), if the profile uses one.
    pub unsupported: Option<String>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn truthy(name: &str) -> bool {
    env(name).is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

fn home_file(var: &str, name: &str) -> Option<PathBuf> {
    env(var)
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".aws").join(name)))
}

/// Reads profile `name` from the shared credentials and config files (`None` when neither
/// has it).
pub fn read_profile(name: &str) -> Result<Option<Profile>> {
    let mut profile = Profile::default();
    let mut found = false;
    let files = [
        (
            home_file("AWS_SHARED_CREDENTIALS_FILE", "credentials"),
            name.to_string(),
        ),
        (
            home_file("AWS_CONFIG_FILE", "config"),
            if name == "default" {
                "default".to_string()
            } else {
                format!("profile {name}")
            },
        ),
    ];
    for (path, section) in files {
        let Some(path) = path.filter(|p| p.is_file()) else {
            continue;
        };
        let ini = ini::Ini::load_from_file(&path).map_err(|e| Error::Profile {
            profile: name.to_string(),
            message: format!("{}: {e}", path.display()),
        })?;
        let Some(props) = ini.section(Some(section.as_str())) else {
            continue;
        };
        found = true;
        let take = |key: &str, slot: &mut Option<String>| {
            if slot.is_none() {
                *slot = props.get(key).map(str::to_string).filter(|v| !v.is_empty());
            }
        };
        take("aws_access_key_id", &mut profile.access_key_id);
        take("aws_secret_access_key", &mut profile.secret_access_key);
        take("aws_session_token", &mut profile.session_token);
        take("region", &mut profile.region);
        take("endpoint_url", &mut profile.endpoint_url);
        for key in [
            "role_arn",
            "sso_session",
            "sso_start_url",
            "credential_process",
        ] {
            if profile.unsupported.is_none() && props.get(key).is_some() {
                profile.unsupported = Some(key.to_string());
            }
        }
    }
    Ok(found.then_some(profile))
}

/// The S3 store of one bucket, with the credential chain above.
pub(crate) fn build_s3(bucket: &str) -> Result<AmazonS3> {
    let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
    let explicit = env("AWS_PROFILE").or_else(|| env("AWS_DEFAULT_PROFILE"));
    let name = explicit.clone().unwrap_or_else(|| "default".to_string());
    let profile = read_profile(&name)?;
    if explicit.is_some() && profile.is_none() {
        return Err(Error::Profile {
            profile: name,
            message: "not found in the shared credentials or config file".into(),
        });
    }
    let profile = profile.unwrap_or_default();

    let env_keys = env("AWS_ACCESS_KEY_ID").is_some();
    let delegated = env("AWS_WEB_IDENTITY_TOKEN_FILE").is_some()
        || env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI").is_some()
        || env("AWS_CONTAINER_CREDENTIALS_FULL_URI").is_some();
    let anonymous = truthy("AWS_SKIP_SIGNATURE");
    let mut have = env_keys || delegated || anonymous;
    if !have {
        if let (Some(key), Some(secret)) = (&profile.access_key_id, &profile.secret_access_key) {
            builder = builder
                .with_access_key_id(key)
                .with_secret_access_key(secret);
            if let Some(token) = &profile.session_token {
                builder = builder.with_token(token);
            }
            have = true;
        } else if let Some(how) = &profile.unsupported {
            return Err(Error::Profile {
                profile: name.clone(),
                message: format!(
                    "uses {how}, which ctlake does not resolve itself; export its credentials first: \
                     eval \"$(aws configure export-credentials --profile {name} --format env)\""
                ),
            });
        }
    }
    if !have && truthy("AWS_EC2_METADATA_DISABLED") {
        return Err(Error::NoCredentials {
            location: format!("s3://{bucket}"),
        });
    }
    if env("AWS_REGION").is_none() && env("AWS_DEFAULT_REGION").is_none() {
        builder = builder.with_region(profile.region.as_deref().unwrap_or("us-east-1"));
    }
    if env("AWS_ENDPOINT_URL").is_none()
        && env("AWS_ENDPOINT_URL_S3").is_none()
        && env("AWS_ENDPOINT").is_none()
        && let Some(endpoint) = &profile.endpoint_url
    {
        builder = builder.with_endpoint(endpoint);
    }
    builder = builder.with_retry(retry_config());
    builder.build().map_err(|source| Error::Store {
        op: "open",
        location: format!("s3://{bucket}"),
        cause: source,
    })
}

/// Throttling (503 SlowDown), 5xx answers and dropped connections are retried with exponential
/// backoff. `CTLAKE_S3_MAX_RETRIES` lowers the number of retries for scripts that would rather
/// fail fast than wait out an endpoint that is down.
fn retry_config() -> RetryConfig {
    let mut retry = RetryConfig::default();
    if let Some(n) = env("CTLAKE_S3_MAX_RETRIES").and_then(|v| v.parse().ok()) {
        retry.max_retries = n;
        retry.retry_timeout = Duration::from_secs(10 + 10 * n as u64);
    }
    retry
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_come_from_both_shared_files() {
        let dir = std::env::temp_dir().join(format!("ctlake-profile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let creds = dir.join("credentials");
        let config = dir.join("config");
        std::fs::write(
            &creds,
            "[default]\naws_access_key_id = AKIADEFAULT\naws_secret_access_key = s1\n\n\
             [audit]\naws_access_key_id = AKIAAUDIT\naws_secret_access_key = s2\naws_session_token = t2\n",
        )
        .unwrap();
        std::fs::write(
            &config,
            "[default]\nregion = eu-west-1\n\n[profile audit]\nregion = eu-central-1\n\
             endpoint_url = http://127.0.0.1:9000\n\n[profile sso]\nsso_session = corp\n",
        )
        .unwrap();
        // SAFETY: this is the only test in the crate that touches the environment.
        unsafe {
            std::env::set_var("AWS_SHARED_CREDENTIALS_FILE", &creds);
            std::env::set_var("AWS_CONFIG_FILE", &config);
        }
        let audit = read_profile("audit").unwrap().unwrap();
        assert_eq!(audit.access_key_id.as_deref(), Some("AKIAAUDIT"));
        assert_eq!(audit.session_token.as_deref(), Some("t2"));
        assert_eq!(audit.region.as_deref(), Some("eu-central-1"));
        assert_eq!(audit.endpoint_url.as_deref(), Some("http://127.0.0.1:9000"));
        let default = read_profile("default").unwrap().unwrap();
        assert_eq!(default.access_key_id.as_deref(), Some("AKIADEFAULT"));
        assert_eq!(default.region.as_deref(), Some("eu-west-1"));
        let sso = read_profile("sso").unwrap().unwrap();
        assert_eq!(sso.access_key_id, None);
        assert_eq!(sso.unsupported.as_deref(), Some("sso_session"));
        assert_eq!(read_profile("nope").unwrap(), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
