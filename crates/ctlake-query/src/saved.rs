//! Saved queries: `.sql` files with a header of comment lines, kept in git and run the same way
//! from the shell, cron and CI.
//!
//! ```sql
//! -- name: console-logins-without-mfa
//! -- description: Successful console sign-ins that did not use MFA.
//! -- tags: security, iam
//! -- param: start timestamp = -7d
//! -- param: end timestamp = now
//! SELECT ... WHERE eventtime >= $start AND eventtime < $end
//! ```
//!
//! Parameters are bound as typed values (a value is data, never SQL). A given value is read by
//! its type only; a default may also be a SQL expression (`now() - interval '7' day`), since
//! the query's author wrote it. Queries are looked up in the lake's `queries/` folder, then in
//! the folders of `$CTLAKE_QUERIES`, then in the library built into ctlake; the nearer wins.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use datafusion::common::ScalarValue;
use include_dir::{Dir, include_dir};

use crate::error::{Error, Result};
use crate::timespec;

/// The query library built into ctlake (the repository's `queries/`).
static BUILT_IN: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/../../queries");

/// A file of the built-in library (e.g. `reports/security.toml`).
pub fn built_in_file(path: &str) -> Option<&'static str> {
    BUILT_IN.get_file(path).and_then(|f| f.contents_utf8())
}

/// The type of a parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamType {
    /// A time: relative (`-7d`, `today`, `now`) or ISO.
    Timestamp,
    /// Text.
    String,
    /// A whole number.
    Integer,
    /// `true` or `false`.
    Boolean,
}

impl ParamType {
    fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "timestamp" | "time" => Self::Timestamp,
            "string" | "varchar" | "text" => Self::String,
            "integer" | "bigint" | "int" => Self::Integer,
            "boolean" | "bool" => Self::Boolean,
            _ => return None,
        })
    }

    /// The type's name as written in headers.
    pub fn name(self) -> &'static str {
        match self {
            Self::Timestamp => "timestamp",
            Self::String => "string",
            Self::Integer => "integer",
            Self::Boolean => "boolean",
        }
    }
}

/// A parameter of a saved query.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    /// Its name, written `$name` in the SQL.
    pub name: String,
    /// Its type.
    pub ty: ParamType,
    /// The default, as written in the header.
    pub default: Option<String>,
}

impl Param {
    /// How listings show it: `name=default`, or `name=<type>` when it must be given.
    pub fn usage(&self) -> String {
        match &self.default {
            Some(d) => format!("{}={d}", self.name),
            None => format!("{}=<{}>", self.name, self.ty.name()),
        }
    }
}

/// Where a saved query was found.
#[derive(Debug, Clone, PartialEq)]
pub enum Origin {
    /// The library built into ctlake.
    BuiltIn,
    /// A file.
    File(PathBuf),
}

/// A saved query.
#[derive(Debug, Clone, PartialEq)]
pub struct SavedQuery {
    /// Its name (the header's, or the file name without `.sql`).
    pub name: String,
    /// One line on what it finds.
    pub description: String,
    /// Tags, e.g. `security`, `detection`.
    pub tags: Vec<String>,
    /// Its parameters, in header order.
    pub params: Vec<Param>,
    /// The whole file (header included, so it reads the same everywhere).
    pub sql: String,
    /// Where it came from.
    pub origin: Origin,
}

impl SavedQuery {
    /// Reads a saved query from its text; `file_name` names it when the header does not.
    pub fn parse(file_name: &str, text: &str, origin: Origin) -> Result<Self> {
        let stem = file_name.trim_end_matches(".sql");
        let bad = |message: String| Error::Saved {
            name: stem.to_string(),
            message,
        };
        let mut q = SavedQuery {
            name: stem.to_string(),
            description: String::new(),
            tags: Vec::new(),
            params: Vec::new(),
            sql: text.to_string(),
            origin,
        };
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let Some(comment) = line.strip_prefix("--") else {
                break;
            };
            let Some((key, value)) = comment.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match key.trim().to_ascii_lowercase().as_str() {
                "name" => q.name = value.to_string(),
                "description" => {
                    if !q.description.is_empty() {
                        q.description.push(' ');
                    }
                    q.description.push_str(value);
                }
                "tags" => {
                    q.tags = value
                        .split(',')
                        .map(|t| t.trim().to_string())
                        .filter(|t| !t.is_empty())
                        .collect()
                }
                "param" => {
                    let (decl, default) = match value.split_once('=') {
                        Some((d, v)) => (d.trim(), Some(v.trim().to_string())),
                        None => (value, None),
                    };
                    let mut words = decl.split_whitespace();
                    let (Some(name), ty, None) = (words.next(), words.next(), words.next()) else {
                        return Err(bad(format!("cannot read parameter line {value:?}")));
                    };
                    let ty = match ty {
                        None => ParamType::String,
                        Some(t) => ParamType::parse(t)
                            .ok_or_else(|| bad(format!("unknown parameter type {t:?}")))?,
                    };
                    q.params.push(Param {
                        name: name.trim_start_matches('$').to_string(),
                        ty,
                        default,
                    });
                }
                _ => {}
            }
        }
        Ok(q)
    }

    /// The parameter called `name`.
    pub fn param(&self, name: &str) -> Option<&Param> {
        self.params.iter().find(|p| p.name == name)
    }
}

/// Reads a value given for a parameter (never SQL).
pub fn value_of(param: &Param, text: &str) -> Result<ScalarValue> {
    let bad = |why: &str| Error::Saved {
        name: format!("${}", param.name),
        message: format!("{text:?} is not a valid {}: {why}", param.ty.name()),
    };
    Ok(match param.ty {
        ParamType::String => ScalarValue::Utf8(Some(text.to_string())),
        ParamType::Integer => ScalarValue::Int64(Some(
            text.trim()
                .parse()
                .map_err(|_| bad("expected a whole number"))?,
        )),
        ParamType::Boolean => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => ScalarValue::Boolean(Some(true)),
            "false" | "no" | "0" => ScalarValue::Boolean(Some(false)),
            _ => return Err(bad("expected true or false")),
        },
        ParamType::Timestamp => {
            let t = timespec::parse(text).map_err(|_| {
                bad("expected -15m, -36h, -7d, -2w, now, today, yesterday or an ISO date")
            })?;
            ScalarValue::TimestampMicrosecond(Some(t.and_utc().timestamp_micros()), None)
        }
    })
}

/// The saved queries visible from a lake, the nearer folder overriding the farther.
#[derive(Debug, Default)]
pub struct Library {
    queries: BTreeMap<String, SavedQuery>,
    overrides: Vec<Override>,
}

/// A saved query that replaces one of the same name from a farther folder or the built-in
/// library. Whoever can write a lake's `queries/` folder could switch a detection off this way,
/// so the CLI and reports announce every override they use.
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    /// The query's name.
    pub name: String,
    /// The file that wins.
    pub by: PathBuf,
    /// What it replaces.
    pub replaces: Origin,
}

impl std::fmt::Display for Override {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let replaced = match &self.replaces {
            Origin::BuiltIn => "the built-in query".to_string(),
            Origin::File(p) => p.display().to_string(),
        };
        write!(
            f,
            "saved query {} is overridden: {} replaces {replaced}",
            self.name,
            self.by.display()
        )
    }
}

impl Library {
    /// The built-in library, then `$CTLAKE_QUERIES` (folders separated by `:`), then the
    /// lake's own `queries/` folder.
    pub fn standard(lake: Option<&Path>) -> Result<Self> {
        let mut folders: Vec<PathBuf> = std::env::var_os("CTLAKE_QUERIES")
            .map(|v| std::env::split_paths(&v).collect())
            .unwrap_or_default();
        folders.extend(lake.map(|l| l.join("queries")));
        Self::with_folders(&folders)
    }

    /// The built-in library, overridden by `folders` in order (the last wins).
    pub fn with_folders(folders: &[PathBuf]) -> Result<Self> {
        let mut lib = Library::default();
        let mut files: Vec<_> = BUILT_IN.files().collect();
        files.sort_by_key(|f| f.path());
        for f in files {
            let name = f.path().to_string_lossy();
            if !name.ends_with(".sql") {
                continue;
            }
            let text = f.contents_utf8().ok_or_else(|| Error::Saved {
                name: name.to_string(),
                message: "not UTF-8".into(),
            })?;
            lib.add(SavedQuery::parse(&name, text, Origin::BuiltIn)?);
        }
        for folder in folders {
            let Ok(entries) = std::fs::read_dir(folder) else {
                continue;
            };
            let mut paths: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "sql"))
                .collect();
            paths.sort();
            for path in paths {
                let text = std::fs::read_to_string(&path).map_err(|e| Error::Saved {
                    name: path.display().to_string(),
                    message: e.to_string(),
                })?;
                let file_name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                lib.add(SavedQuery::parse(&file_name, &text, Origin::File(path))?);
            }
        }
        Ok(lib)
    }

    /// The built-in library alone, ignoring every folder (`--builtin-only`).
    pub fn built_in() -> Result<Self> {
        Self::with_folders(&[])
    }

    fn add(&mut self, q: SavedQuery) {
        if let (Some(old), Origin::File(by)) = (self.queries.get(&q.name), &q.origin) {
            // Through a chain of folders, what matters is what was replaced first.
            let replaces = self
                .override_of(&q.name)
                .map_or_else(|| old.origin.clone(), |o| o.replaces.clone());
            self.overrides.retain(|o| o.name != q.name);
            self.overrides.push(Override {
                name: q.name.clone(),
                by: by.clone(),
                replaces,
            });
        }
        self.queries.insert(q.name.clone(), q);
    }

    /// Every query that replaces another of its name (see [`Override`]).
    pub fn overrides(&self) -> &[Override] {
        &self.overrides
    }

    /// The override of the query called `name`, if it has one.
    pub fn override_of(&self, name: &str) -> Option<&Override> {
        self.overrides.iter().find(|o| o.name == name)
    }

    /// The query called `name`.
    pub fn get(&self, name: &str) -> Result<&SavedQuery> {
        self.queries.get(name).ok_or_else(|| Error::Saved {
            name: name.to_string(),
            message: match crate::suggest::nearest(name, self.queries.keys().map(String::as_str)) {
                Some(s) => format!("no such query; did you mean {s}? (`ctlake saved` lists them)"),
                None => "no such query (`ctlake saved` lists them)".to_string(),
            },
        })
    }

    /// Every query, by name.
    pub fn iter(&self) -> impl Iterator<Item = &SavedQuery> {
        self.queries.values()
    }
}

/// Parameter values ready to bind, by name.
pub type Values = HashMap<String, ScalarValue>;

/// Defaults written as SQL expressions, for the caller to evaluate: (name, type, expression).
pub type SqlDefaults = Vec<(String, ParamType, String)>;

/// Values for every parameter: the given ones read by type, the rest from defaults (read as a
/// time or value first, else left to the caller as SQL).
pub fn bind(q: &SavedQuery, given: &BTreeMap<String, String>) -> Result<(Values, SqlDefaults)> {
    for name in given.keys() {
        if q.param(name).is_none() {
            let known: Vec<&str> = q.params.iter().map(|p| p.name.as_str()).collect();
            return Err(Error::Saved {
                name: q.name.clone(),
                message: format!(
                    "it has no parameter {name} (its parameters: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            });
        }
    }
    let mut values = HashMap::new();
    let mut sql_defaults = Vec::new();
    for p in &q.params {
        match (given.get(&p.name), &p.default) {
            (Some(v), _) => {
                values.insert(p.name.clone(), value_of(p, v)?);
            }
            (None, Some(d)) => match value_of(p, d.trim_matches('\'')) {
                Ok(v) => {
                    values.insert(p.name.clone(), v);
                }
                Err(_) => sql_defaults.push((p.name.clone(), p.ty, d.clone())),
            },
            (None, None) => {
                return Err(Error::Saved {
                    name: q.name.clone(),
                    message: format!(
                        "parameter {} has no default: give --param {}=...",
                        p.name, p.name
                    ),
                });
            }
        }
    }
    Ok((values, sql_defaults))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "-- name: who-did-it\n-- description: Everything a principal did.\n-- tags: investigation, iam\n-- param: arn string\n-- param: start timestamp = 2026-11-01\n-- param: n integer = 10\nSELECT 1";

    #[test]
    fn headers_are_read() {
        let q = SavedQuery::parse("x.sql", TEXT, Origin::BuiltIn).unwrap();
        assert_eq!(q.name, "who-did-it");
        assert_eq!(q.description, "Everything a principal did.");
        assert_eq!(q.tags, ["investigation", "iam"]);
        assert_eq!(q.params.len(), 3);
        assert_eq!(q.params[1].ty, ParamType::Timestamp);
        assert_eq!(q.params[1].default.as_deref(), Some("2026-11-01"));
    }

    #[test]
    fn values_are_data() {
        let q = SavedQuery::parse("x.sql", TEXT, Origin::BuiltIn).unwrap();
        let given = BTreeMap::from([("arn".to_string(), "x' OR '1'='1".to_string())]);
        let (values, sql) = bind(&q, &given).unwrap();
        assert_eq!(
            values["arn"],
            ScalarValue::Utf8(Some("x' OR '1'='1".into()))
        );
        assert_eq!(values["n"], ScalarValue::Int64(Some(10)));
        assert!(sql.is_empty());
        let missing = bind(&q, &BTreeMap::new()).unwrap_err().to_string();
        assert!(
            missing.contains("parameter arn has no default"),
            "{missing}"
        );
        let wrong = BTreeMap::from([
            ("arn".to_string(), "a".to_string()),
            ("n".to_string(), "ten".to_string()),
        ]);
        assert!(
            bind(&q, &wrong)
                .unwrap_err()
                .to_string()
                .contains("not a valid integer")
        );
    }
}
