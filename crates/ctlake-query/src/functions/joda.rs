//! Joda-Time patterns, as Trino's `format_datetime` and `parse_datetime` read them
//! (`yyyy-MM-dd HH:mm:ss.SSS ZZ`), where `date_format` reads MySQL's `%Y-%m-%d`.
//!
//! Formatting is written out letter by letter rather than translated to chrono's specifiers:
//! Joda's letters count (`M`, `MM`, `MMM`, `MMMM` are four different things) in a way no
//! strftime pattern mirrors. Parsing translates to chrono's parser, and names any letter it
//! cannot translate.

use chrono::{DateTime, Datelike, FixedOffset, Timelike};

/// One piece of a pattern.
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text(String),
    /// A pattern letter and how many times it repeats.
    Letter(char, usize),
}

/// Splits a Joda pattern: runs of one letter, `'quoted text'` (`''` is a quote), and
/// everything else as it is.
fn pieces(pattern: &str) -> Result<Vec<Piece>, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let text = |out: &mut Vec<Piece>, s: &str| match out.last_mut() {
        Some(Piece::Text(t)) => t.push_str(s),
        _ => out.push(Piece::Text(s.to_string())),
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            if chars.get(i + 1) == Some(&'\'') {
                text(&mut out, "'");
                i += 2;
                continue;
            }
            let mut j = i + 1;
            let mut quoted = String::new();
            loop {
                match chars.get(j) {
                    None => return Err(format!("unterminated quote in pattern {pattern:?}")),
                    Some('\'') if chars.get(j + 1) == Some(&'\'') => {
                        quoted.push('\'');
                        j += 2;
                    }
                    Some('\'') => break,
                    Some(&q) => {
                        quoted.push(q);
                        j += 1;
                    }
                }
            }
            text(&mut out, &quoted);
            i = j + 1;
        } else if c.is_ascii_alphabetic() {
            let run = chars[i..].iter().take_while(|&&d| d == c).count();
            out.push(Piece::Letter(c, run));
            i += run;
        } else {
            text(&mut out, &c.to_string());
            i += 1;
        }
    }
    Ok(out)
}

/// Formats `t` (in its own zone, whose id and abbreviation at `t` are given) by a Joda
/// pattern.
pub(super) fn format(
    t: &DateTime<FixedOffset>,
    pattern: &str,
    zone_id: &str,
    abbreviation: &str,
) -> Result<String, String> {
    let mut out = String::with_capacity(pattern.len() + 8);
    let pad = |out: &mut String, v: i64, n: usize| {
        out.push_str(&format!("{v:0n$}"));
    };
    for piece in pieces(pattern)? {
        let (c, n) = match piece {
            Piece::Text(s) => {
                out.push_str(&s);
                continue;
            }
            Piece::Letter(c, n) => (c, n),
        };
        match c {
            'G' => out.push_str(if t.year() > 0 { "AD" } else { "BC" }),
            'C' => pad(&mut out, (t.year() / 100) as i64, n),
            'Y' | 'y' | 'x' => {
                let year = if c == 'x' {
                    t.iso_week().year()
                } else {
                    t.year()
                };
                if n == 2 {
                    pad(&mut out, year.rem_euclid(100) as i64, 2)
                } else {
                    pad(&mut out, year as i64, n)
                }
            }
            'w' => pad(&mut out, t.iso_week().week() as i64, n),
            'e' => pad(&mut out, t.weekday().number_from_monday() as i64, n),
            'E' if n >= 4 => out.push_str(&t.format("%A").to_string()),
            'E' => out.push_str(&t.format("%a").to_string()),
            'D' => pad(&mut out, t.ordinal() as i64, n),
            'M' if n >= 4 => out.push_str(&t.format("%B").to_string()),
            'M' if n == 3 => out.push_str(&t.format("%b").to_string()),
            'M' => pad(&mut out, t.month() as i64, n),
            'd' => pad(&mut out, t.day() as i64, n),
            'a' => out.push_str(if t.hour() < 12 { "AM" } else { "PM" }),
            'K' => pad(&mut out, (t.hour() % 12) as i64, n),
            'h' => pad(&mut out, ((t.hour() + 11) % 12 + 1) as i64, n),
            'H' => pad(&mut out, t.hour() as i64, n),
            'k' => pad(
                &mut out,
                if t.hour() == 0 { 24 } else { t.hour() as i64 },
                n,
            ),
            'm' => pad(&mut out, t.minute() as i64, n),
            's' => pad(&mut out, t.second() as i64, n),
            'S' => {
                // A fraction of a second to n digits, cut (not rounded), as Joda does.
                let nanos = format!("{:09}", t.nanosecond() % 1_000_000_000);
                let digits: String = nanos
                    .chars()
                    .chain(std::iter::repeat('0'))
                    .take(n)
                    .collect();
                out.push_str(&digits);
            }
            'z' if n >= 4 => out.push_str(zone_id),
            'z' => out.push_str(abbreviation),
            'Z' if n == 1 => out.push_str(&t.format("%z").to_string()),
            'Z' if n == 2 => out.push_str(&t.format("%:z").to_string()),
            'Z' => out.push_str(zone_id),
            other => return Err(format!("pattern letter {other:?} is not supported")),
        }
    }
    Ok(out)
}

/// A Joda pattern as chrono's parsing format, and whether it reads a zone offset.
pub(super) fn parsing_format(pattern: &str) -> Result<(String, bool), String> {
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut zoned = false;
    for piece in pieces(pattern)? {
        let (c, n) = match piece {
            Piece::Text(s) => {
                out.push_str(&s.replace('%', "%%"));
                continue;
            }
            Piece::Letter(c, n) => (c, n),
        };
        out.push_str(match (c, n) {
            ('y' | 'Y', 2) => "%y",
            ('y' | 'Y', _) => "%Y",
            ('x', _) => "%G",
            ('w', _) => "%V",
            ('M', 1 | 2) => "%m",
            ('M', 3) => "%b",
            ('M', _) => "%B",
            ('d', _) => "%d",
            ('D', _) => "%j",
            ('E', 1..=3) => "%a",
            ('E', _) => "%A",
            ('e', _) => "%u",
            ('a', _) => "%p",
            ('H', _) => "%H",
            ('k', _) => "%k",
            ('h', _) => "%I",
            ('K', _) => "%l",
            ('m', _) => "%M",
            ('s', _) => "%S",
            ('S', 3) => "%3f",
            ('S', 6) => "%6f",
            ('S', 9) => "%9f",
            ('Z', 1) => {
                zoned = true;
                "%z"
            }
            ('Z', 2) => {
                zoned = true;
                "%:z"
            }
            (c, n) => {
                return Err(format!(
                    "pattern {:?} cannot be parsed yet",
                    c.to_string().repeat(n)
                ));
            }
        });
    }
    Ok((out, zoned))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    #[test]
    fn formats_as_joda_does() {
        // 2021-07-28 10:05:03.042 UTC was a Wednesday; checked against Joda's documentation.
        let t = Utc
            .with_ymd_and_hms(2021, 7, 28, 10, 5, 3)
            .unwrap()
            .with_nanosecond(42_000_000)
            .unwrap()
            .fixed_offset();
        let f = |p: &str| format(&t, p, "UTC", "UTC").unwrap();
        assert_eq!(f("yyyy-MM-dd HH:mm:ss.SSS"), "2021-07-28 10:05:03.042");
        assert_eq!(f("yy/M/d h:m a"), "21/7/28 10:5 AM");
        assert_eq!(f("EEE, dd MMM yyyy"), "Wed, 28 Jul 2021");
        assert_eq!(f("EEEE MMMM D"), "Wednesday July 209");
        assert_eq!(
            f("'week' w 'of' xxxx, 'it''s' e ''"),
            "week 30 of 2021, it's 3 '"
        );
        assert_eq!(f("Z ZZ z"), "+0000 +00:00 UTC");
        let east = t.with_timezone(&FixedOffset::east_opt(9 * 3600).unwrap());
        assert_eq!(
            format(&east, "HH:mm ZZ z ZZZ", "Asia/Tokyo", "JST").unwrap(),
            "19:05 +09:00 JST Asia/Tokyo"
        );
        assert!(
            format(&t, "yyyy q", "UTC", "UTC")
                .unwrap_err()
                .contains("'q'")
        );
    }

    #[test]
    fn translates_patterns_for_parsing() {
        assert_eq!(
            parsing_format("yyyy-MM-dd'T'HH:mm:ss.SSSZ").unwrap(),
            ("%Y-%m-%dT%H:%M:%S.%3f%z".to_string(), true)
        );
        assert_eq!(
            parsing_format("dd/MMM/yyyy:HH:mm:ss").unwrap(),
            ("%d/%b/%Y:%H:%M:%S".to_string(), false)
        );
        assert!(parsing_format("yyyy z").unwrap_err().contains("\"z\""));
    }
}
