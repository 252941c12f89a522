//! Times as people type them at a prompt: `-15m`, `-7d`, `-2w`, `today`, `yesterday`, `now`,
//! and ISO dates or timestamps. Everything is UTC, like `eventtime`.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};

use crate::error::{Error, Result};

/// Reads a time relative to `now`.
pub fn parse_at(text: &str, now: DateTime<Utc>) -> Result<NaiveDateTime> {
    let s = text.trim();
    let now = now.naive_utc();
    let midnight = now.date().and_hms_opt(0, 0, 0).unwrap_or(now);
    match s.to_ascii_lowercase().as_str() {
        "now" => return Ok(now),
        "today" => return Ok(midnight),
        "yesterday" => return Ok(midnight - Duration::days(1)),
        "tomorrow" => return Ok(midnight + Duration::days(1)),
        _ => {}
    }
    if let Some(rest) = s.strip_prefix('-').or_else(|| s.strip_prefix('+')) {
        let sign = if s.starts_with('-') { -1 } else { 1 };
        let split = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (n, unit) = rest.split_at(split);
        if let Ok(n) = n.parse::<i64>() {
            let step = match unit {
                "s" => Some(Duration::seconds(n)),
                "m" | "min" => Some(Duration::minutes(n)),
                "h" => Some(Duration::hours(n)),
                "d" => Some(Duration::days(n)),
                "w" => Some(Duration::weeks(n)),
                _ => None,
            };
            if let Some(step) = step {
                return Ok(now + step * sign);
            }
        }
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.naive_utc());
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
            return Ok(t);
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).unwrap_or_default());
    }
    Err(Error::Time {
        text: text.to_string(),
    })
}

/// Reads a time relative to the current moment.
pub fn parse(text: &str) -> Result<NaiveDateTime> {
    parse_at(text, Utc::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_and_absolute_times() {
        let now = DateTime::parse_from_rfc3339("2026-11-22T10:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let at = |s| parse_at(s, now).unwrap().to_string();
        assert_eq!(at("now"), "2026-11-22 10:30:00");
        assert_eq!(at("today"), "2026-11-22 00:00:00");
        assert_eq!(at("yesterday"), "2026-11-21 00:00:00");
        assert_eq!(at("-15m"), "2026-11-22 10:15:00");
        assert_eq!(at("-7d"), "2026-11-15 10:30:00");
        assert_eq!(at("-2w"), "2026-11-08 10:30:00");
        assert_eq!(at("-36h"), "2026-11-20 22:30:00");
        assert_eq!(at("2026-11-10"), "2026-11-10 00:00:00");
        assert_eq!(at("2026-11-10T08:00:00Z"), "2026-11-10 08:00:00");
        assert_eq!(at("2026-11-10T08:00:00+02:00"), "2026-11-10 06:00:00");
        assert!(parse_at("last tuesday", now).is_err());
        assert!(parse_at("-7x", now).is_err());
    }
}
