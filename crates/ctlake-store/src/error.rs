//! The crate's error type, and storage errors in one line.

/// Why a location could not be opened or read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The location is not a folder or an `s3://bucket/prefix` URL.
    #[error("{location}: {message}")]
    Location {
        /// What the user gave.
        location: String,
        /// What is wrong with it.
        message: String,
    },
    /// No AWS credentials could be found.
    #[error(
        "no AWS credentials found for {location}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE (with ~/.aws/credentials or ~/.aws/config), a web identity token, or run on EC2/ECS with a role"
    )]
    NoCredentials {
        /// The location that needed them.
        location: String,
    },
    /// The shared AWS config or credentials file is unreadable, or names what ctlake cannot use.
    #[error("AWS profile {profile:?}: {message}")]
    Profile {
        /// The profile.
        profile: String,
        /// What is wrong.
        message: String,
    },
    /// A storage operation failed.
    #[error("{op} {location}: {}", explain(.cause))]
    Store {
        /// What was being done (`list`, `read`, `write`, ...).
        op: &'static str,
        /// The object or prefix, as a URL or path.
        location: String,
        /// The underlying error (not a `source`: reporters would print its chain again).
        cause: object_store::Error,
    },
    /// The lake's commit log does not replay.
    #[error(transparent)]
    Log(#[from] ctlake_log::Error),
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One line for a storage error: what went wrong in the words of the person fixing it, not a
/// chain of wrapped client errors.
pub fn explain(e: &object_store::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(" | ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    let has = |needle: &str| text.contains(needle);
    if has("NoSuchBucket") || has("The specified bucket does not exist") {
        return "no such bucket".into();
    }
    if has("InvalidAccessKeyId") || has("SignatureDoesNotMatch") || has("ExpiredToken") {
        return "access denied: the credentials were refused (unknown key, wrong secret or expired token)".into();
    }
    if matches!(
        e,
        object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. }
    ) || has("AccessDenied")
        || has("403 Forbidden")
    {
        return "access denied (check the credentials' S3 permissions and the bucket policy)"
            .into();
    }
    if let object_store::Error::NotFound { .. } = e {
        return "not found".into();
    }
    if has("error sending request")
        || has("Connection refused")
        || has("connection refused")
        || has("dns error")
        || has("timed out")
        || has("operation timed out")
    {
        return "the endpoint does not answer (check AWS_ENDPOINT_URL, the network, or the region)"
            .into();
    }
    if has("PermanentRedirect") || has("301 Moved Permanently") {
        return "the bucket is in another region: set AWS_REGION to the bucket's region".into();
    }
    // Unknown: the innermost message is the informative one.
    let inner = text.rsplit(" | ").next().unwrap_or(&text);
    inner.trim().to_string()
}
