//! Trino's `url_extract_*` functions. Trino reads URLs with Java's `java.net.URI` (RFC 2396):
//! the parts are split by the RFC's own regular expression, path, query and fragment are
//! percent-decoded, a part that is absent is an empty string, a port only when written, and
//! a string that is not a URI gives NULL. A WHATWG parser (browsers', the `url` crate) would
//! answer differently (it lowercases hosts, drops default ports), so this is written to the RFC.

use std::sync::Arc;

use arrow::array::{Array, Int64Builder, StringBuilder};
use datafusion::common::Result;
use datafusion::common::cast::as_string_array;
use datafusion::logical_expr::ColumnarValue;

use super::array;

/// Which part `url_extract_<part>` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Part {
    Protocol,
    Host,
    Port,
    Path,
    Query,
    Fragment,
    Parameter,
}

/// A URI split into its parts, still encoded.
#[derive(Debug, Default, PartialEq)]
struct Uri<'a> {
    scheme: Option<&'a str>,
    host: Option<&'a str>,
    port: Option<i64>,
    path: &'a str,
    query: Option<&'a str>,
    fragment: Option<&'a str>,
}

/// Characters `java.net.URI` refuses anywhere in a URI.
fn illegal(c: char) -> bool {
    c.is_ascii_control() || " \"<>\\^`{|}".contains(c)
}

/// Splits by RFC 3986's appendix B: `^(([^:/?#]+):)?(//([^/?#]*))?([^?#]*)(\?([^#]*))?(#(.*))?`.
fn split(s: &str) -> Option<Uri<'_>> {
    if s.chars().any(illegal) {
        return None;
    }
    let mut uri = Uri::default();
    let (rest, fragment) = match s.split_once('#') {
        Some((r, f)) => (r, Some(f)),
        None => (s, None),
    };
    if fragment.is_some_and(|f| f.contains('#')) {
        return None;
    }
    uri.fragment = fragment;
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, Some(q)),
        None => (rest, None),
    };
    uri.query = query;
    let mut rest = rest;
    if let Some(colon) = rest.find(':')
        && colon > 0
        && !rest[..colon].contains('/')
    {
        let scheme = &rest[..colon];
        let valid = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
        if !valid {
            return None;
        }
        uri.scheme = Some(scheme);
        rest = &rest[colon + 1..];
    }
    if let Some(after) = rest.strip_prefix("//") {
        let end = after.find('/').unwrap_or(after.len());
        let authority = &after[..end];
        rest = &after[end..];
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let (host, port) = if host_port.starts_with('[') {
            match host_port.find(']') {
                Some(close) => (&host_port[..=close], &host_port[close + 1..]),
                None => return None,
            }
        } else {
            match host_port.rfind(':') {
                Some(at) => (&host_port[..at], &host_port[at..]),
                None => (host_port, ""),
            }
        };
        if let Some(port) = port.strip_prefix(':') {
            if !port.is_empty() {
                uri.port = Some(port.parse().ok()?);
            }
        } else if !port.is_empty() {
            return None;
        }
        uri.host = (!host.is_empty()).then_some(host);
    }
    uri.path = rest;
    Some(uri)
}

/// `%XX` escapes decoded; `None` for a malformed escape, as `java.net.URI` refuses it.
fn decode(s: &str) -> Option<String> {
    if !s.contains('%') {
        return Some(s.to_string());
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// The first value of query parameter `name` (`""` when it has no `=`), as Trino finds it:
/// the decoded query split at `&`, each argument at its first `=`.
fn parameter(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|arg| {
        let (key, value) = arg.split_once('=').unwrap_or((arg, ""));
        (key == name).then(|| value.to_string())
    })
}

fn text_part(u: &Uri<'_>, part: Part) -> Option<String> {
    let or_empty = |s: Option<&str>| s.unwrap_or("").to_string();
    match part {
        Part::Protocol => Some(or_empty(u.scheme)),
        Part::Host => Some(or_empty(u.host)),
        Part::Path => decode(u.path),
        Part::Query => decode(u.query.unwrap_or("")),
        Part::Fragment => decode(u.fragment.unwrap_or("")),
        Part::Port | Part::Parameter => None,
    }
}

pub(super) fn extract(args: &[ColumnarValue], rows: usize, part: Part) -> Result<ColumnarValue> {
    let urls = array(&args[0], rows)?;
    let urls = as_string_array(&urls)?;
    if part == Part::Port {
        let mut out = Int64Builder::with_capacity(rows);
        for s in urls.iter() {
            out.append_option(s.and_then(split).and_then(|u| u.port));
        }
        return Ok(ColumnarValue::Array(Arc::new(out.finish())));
    }
    let names = match part {
        Part::Parameter => Some(array(&args[1], rows)?),
        _ => None,
    };
    let names = names.as_ref().map(|n| as_string_array(n)).transpose()?;
    let mut out = StringBuilder::with_capacity(rows, rows * 16);
    for (row, s) in urls.iter().enumerate() {
        let Some(u) = s.and_then(split) else {
            out.append_null();
            continue;
        };
        let value = match (part, names) {
            (Part::Parameter, Some(names)) if names.is_valid(row) => u
                .query
                .and_then(decode)
                .and_then(|q| parameter(&q, names.value(row))),
            (Part::Parameter, _) => None,
            _ => text_part(&u, part),
        };
        out.append_option(value);
    }
    Ok(ColumnarValue::Array(Arc::new(out.finish())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_as_java_uri_does() {
        // Expected values are java.net.URI's getters, as Trino's documentation shows them.
        let u = split("https://user@Example.com:8443/a%20b/c?x=1&y=%3D2#top").unwrap();
        assert_eq!(u.scheme, Some("https"));
        assert_eq!(u.host, Some("Example.com"));
        assert_eq!(u.port, Some(8443));
        assert_eq!(decode(u.path).unwrap(), "/a b/c");
        assert_eq!(decode(u.query.unwrap()).unwrap(), "x=1&y==2");
        assert_eq!(u.fragment, Some("top"));
        assert_eq!(parameter("x=1&y==2&x=3", "x").as_deref(), Some("1"));
        assert_eq!(parameter("x=1&y==2", "y").as_deref(), Some("=2"));
        assert_eq!(parameter("flag&x=1", "flag").as_deref(), Some(""));
        assert_eq!(parameter("x=1", "z"), None);
        let v = split("http://[::1]/p").unwrap();
        assert_eq!((v.host, v.port, v.path), (Some("[::1]"), None, "/p"));
        assert!(split("http://a b/").is_none());
        assert!(split("1http://a/").is_none());
        assert!(split("http://a:xx/").is_none());
        assert_eq!(decode("%zz"), None);
        let w = split("mailto:someone@example.com").unwrap();
        assert_eq!(
            (w.scheme, w.host, w.path),
            (Some("mailto"), None, "someone@example.com")
        );
    }
}
