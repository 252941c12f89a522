//! The shell's backslash commands: what `\?` lists and what each does. Every command here is
//! in [`COMMANDS`], so help, completion and hints cannot disagree with what runs.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::str::FromStr;

use anyhow::Context;
use ctlake_query::saved;

use super::Shell;
use super::render::Expanded;
use crate::format::{bytes, count};
use crate::output::Format;

/// A backslash command: its name, its arguments and one line of help.
pub struct Command {
    pub name: &'static str,
    pub args: &'static str,
    pub help: &'static str,
}

/// Every backslash command, in the order `\?` lists them.
#[rustfmt::skip]
pub const COMMANDS: &[Command] = &[
    Command { name: "\\?", args: "", help: "list these commands" },
    Command { name: "\\d", args: "[TABLE]", help: "list tables, or a table's columns with types and nested paths" },
    Command { name: "\\l", args: "", help: "partitions: per region, the days, files, events and bytes" },
    Command { name: "\\timing", args: "[on|off]", help: "show time, files and bytes scanned under each result (toggle)" },
    Command { name: "\\x", args: "[on|off|auto]", help: "expanded rows: one record per block, values whole (toggle)" },
    Command { name: "\\format", args: "table|csv|tsv|json|ndjson|markdown|lake", help: "output format" },
    Command { name: "\\o", args: "[FILE]", help: "send results to FILE (whole, in the output format); \\o alone: back to the screen" },
    Command { name: "\\i", args: "FILE", help: "run the statements and commands in FILE" },
    Command { name: "\\saved", args: "[NAME]", help: "list saved queries, or show one" },
    Command { name: "\\run", args: "NAME [k=v ...]", help: "run a saved query (\\set values, \\from and \\to fill its parameters)" },
    Command { name: "\\set", args: "[NAME [VALUE]]", help: "set $NAME for queries; alone: list the values" },
    Command { name: "\\unset", args: "NAME", help: "forget $NAME" },
    Command { name: "\\from", args: "[TIME]", help: "bound every query to eventtime >= TIME (-15m, -7d, today, 2026-11-01); alone: no bound" },
    Command { name: "\\to", args: "[TIME]", help: "bound every query to eventtime < TIME; alone: no bound" },
    Command { name: "\\pager", args: "[on|off]", help: "page results taller than the screen with $PAGER or less (toggle)" },
    Command { name: "\\reload", args: "", help: "reopen the lake to see what was ingested since" },
    Command { name: "\\connect", args: "[df://HOST:PORT|local]", help: "run queries on a `ctlake cluster` (its scheduler), or here again; alone: say where they run" },
    Command { name: "\\history", args: "", help: "list the statements entered" },
    Command { name: "\\q", args: "", help: "quit (or Ctrl-D)" },
];

/// What the loop does after a command.
pub enum Next {
    Continue,
    Quit,
    /// `\history`, which needs the editor.
    History,
    /// `\i FILE`: these lines, run as if typed.
    Include(String),
}

/// A backslash command with its arguments checked: parsing refuses what running could not
/// do, and [`Shell::meta`] matches every variant, so a command cannot parse and then find no
/// code to run it.
#[derive(Debug, PartialEq)]
pub enum Meta {
    Help,
    Quit,
    History,
    /// `\d [TABLE]`.
    Describe(Option<String>),
    Partitions,
    /// `\timing [on|off]`; `None` toggles.
    Timing(Option<bool>),
    /// `\x [on|off|auto]`; `None` toggles between on and off.
    Expanded(Option<Expanded>),
    Format(Format),
    /// `\o [FILE]`; `None`: back to the screen.
    Output(Option<PathBuf>),
    Include(PathBuf),
    /// `\saved [NAME]`.
    Saved(Option<String>),
    Run {
        name: String,
        params: BTreeMap<String, String>,
    },
    /// `\set [NAME [VALUE]]`; `None` lists the values.
    Set(Option<(String, String)>),
    Unset(String),
    /// `\from [TIME]`, kept as written: `-7d` keeps meaning the last week at each query.
    From(Option<String>),
    /// `\to [TIME]`.
    To(Option<String>),
    /// `\pager [on|off]`; `None` toggles.
    Pager(Option<bool>),
    Reload,
    /// `\connect [df://HOST:PORT|local]`: `Some(None)` runs queries here again, `None` says
    /// where they run.
    Connect(Option<Option<crate::args::ClusterArg>>),
}

/// `on`/`off` and their spellings; empty: toggle.
fn switch(arg: &str) -> anyhow::Result<Option<bool>> {
    match arg {
        "" => Ok(None),
        "on" | "true" | "1" => Ok(Some(true)),
        "off" | "false" | "0" => Ok(Some(false)),
        other => anyhow::bail!("expected on or off, not {other}"),
    }
}

fn toggle(current: bool, given: Option<bool>) -> bool {
    given.unwrap_or(!current)
}

/// A `\from`/`\to` argument: checked now, evaluated at each query.
fn window_bound(arg: &str) -> anyhow::Result<Option<String>> {
    if arg.is_empty() {
        return Ok(None);
    }
    ctlake_query::timespec::parse(arg)?;
    Ok(Some(arg.to_string()))
}

impl FromStr for Meta {
    type Err = anyhow::Error;

    fn from_str(line: &str) -> anyhow::Result<Self> {
        let line = line.trim().trim_end_matches(';').trim_end();
        let (name, arg) = line
            .split_once(char::is_whitespace)
            .map_or((line, ""), |(n, a)| (n, a.trim()));
        let optional = |a: &str| (!a.is_empty()).then(|| a.to_string());
        Ok(match name {
            "\\?" => Self::Help,
            "\\q" => Self::Quit,
            "\\history" => Self::History,
            "\\d" => Self::Describe(optional(arg.trim_matches('"'))),
            "\\l" => Self::Partitions,
            "\\timing" => Self::Timing(switch(arg)?),
            "\\x" => Self::Expanded(match arg {
                "" => None,
                "on" => Some(Expanded::On),
                "off" => Some(Expanded::Off),
                "auto" => Some(Expanded::Auto),
                other => anyhow::bail!("\\x takes on, off or auto, not {other}"),
            }),
            "\\format" => {
                use clap::ValueEnum;
                let format = Format::from_str(arg, true).map_err(|_| {
                    anyhow::anyhow!(
                        "\\format takes table, csv, tsv, json, ndjson, markdown or lake, not {arg:?}"
                    )
                })?;
                anyhow::ensure!(
                    format != Format::Parquet,
                    "parquet is binary; use `ctlake query --format parquet -o FILE`"
                );
                Self::Format(format)
            }
            "\\o" => Self::Output(optional(arg).map(PathBuf::from)),
            "\\i" => {
                anyhow::ensure!(!arg.is_empty(), "\\i needs a file");
                Self::Include(PathBuf::from(arg))
            }
            "\\saved" => Self::Saved(optional(arg)),
            "\\run" => {
                let mut words = arg.split_whitespace();
                let name = words.next().context("\\run needs a saved query's name")?;
                let mut params = BTreeMap::new();
                for w in words {
                    let (k, v) = w
                        .split_once('=')
                        .with_context(|| format!("{w}: expected NAME=VALUE"))?;
                    params.insert(k.trim_start_matches('$').to_string(), v.to_string());
                }
                Self::Run {
                    name: name.to_string(),
                    params,
                }
            }
            "\\set" if arg.is_empty() => Self::Set(None),
            "\\set" => {
                let (k, v) = arg
                    .split_once(char::is_whitespace)
                    .map_or((arg, ""), |(k, v)| (k, v.trim()));
                let k = k.trim_start_matches('$');
                anyhow::ensure!(
                    !k.is_empty() && k.chars().all(|c| c.is_alphanumeric() || c == '_'),
                    "\\set NAME VALUE: {k:?} is not a name"
                );
                Self::Set(Some((k.to_string(), v.trim_matches('\'').to_string())))
            }
            "\\unset" => Self::Unset(arg.trim_start_matches('$').to_string()),
            "\\from" => Self::From(window_bound(arg)?),
            "\\to" => Self::To(window_bound(arg)?),
            "\\pager" => Self::Pager(switch(arg)?),
            "\\reload" => Self::Reload,
            "\\connect" => Self::Connect(match arg {
                "" => None,
                "local" => Some(None),
                url => Some(Some(crate::args::cluster(url).map_err(anyhow::Error::msg)?)),
            }),
            _ => {
                let names = COMMANDS.iter().map(|c| c.name);
                let hint = ctlake_query::suggest::nearest(name, names)
                    .map(|n| format!(" (did you mean {n}?)"))
                    .unwrap_or_default();
                anyhow::bail!("unknown command {name}{hint}; \\? lists them");
            }
        })
    }
}

/// `\?`: every command with its arguments and help.
fn help() -> String {
    let width = COMMANDS
        .iter()
        .map(|c| c.name.len() + c.args.len() + 1)
        .max()
        .unwrap_or(0);
    let mut text = String::new();
    for c in COMMANDS {
        let usage = format!("{} {}", c.name, c.args);
        let _ = writeln!(text, "  {usage:width$}  {}", c.help);
    }
    text.push_str(
        "SQL ends with ; and may span lines. Tab completes; Ctrl-R searches history; Ctrl-C cancels a running query.",
    );
    text
}

impl Shell {
    /// Runs one backslash command line.
    pub(super) fn meta(&mut self, line: &str) -> anyhow::Result<Next> {
        match line.parse::<Meta>()? {
            Meta::Help => self.print(&help()),
            Meta::Quit => return Ok(Next::Quit),
            Meta::History => return Ok(Next::History),
            Meta::Describe(table) => self.describe(table.as_deref().unwrap_or(""))?,
            Meta::Partitions => self.partitions(),
            Meta::Timing(on) => {
                self.settings.timing = toggle(self.settings.timing, on);
                let state = if self.settings.timing { "on" } else { "off" };
                self.print(&format!("Timing is {state}."));
            }
            Meta::Expanded(given) => {
                self.settings.expanded = given.unwrap_or(match self.settings.expanded {
                    Expanded::Off => Expanded::On,
                    _ => Expanded::Off,
                });
                let state = match self.settings.expanded {
                    Expanded::On => "on",
                    Expanded::Off => "off",
                    Expanded::Auto => "auto",
                };
                self.print(&format!("Expanded display is {state}."));
            }
            Meta::Format(format) => {
                self.settings.format = format;
                let name = clap::ValueEnum::to_possible_value(&format)
                    .map(|v| v.get_name().to_string())
                    .unwrap_or_default();
                self.print(&format!("Output format is {name}."));
            }
            Meta::Output(None) => {
                self.settings.output = None;
                self.print("Results go to the screen.");
            }
            Meta::Output(Some(path)) => {
                std::fs::File::create(&path)
                    .with_context(|| format!("creating {}", path.display()))?;
                self.print(&format!("Results go to {}.", path.display()));
                self.settings.output = Some(path);
            }
            Meta::Include(path) => {
                return Ok(Next::Include(crate::args::read_sql_file(&path)?));
            }
            Meta::Saved(name) => self.saved(name.as_deref().unwrap_or(""))?,
            Meta::Run { name, params } => self.run_saved(&name, params),
            Meta::Set(None) => {
                let mut text = String::new();
                for (k, v) in &self.settings.params {
                    writeln!(text, "${k} = {v}")?;
                }
                if text.is_empty() {
                    text = "No values set; \\set NAME VALUE sets $NAME.".into();
                }
                self.print(text.trim_end());
            }
            Meta::Set(Some((k, v))) => {
                self.print(&format!("${k} = {v}"));
                self.settings.params.insert(k, v);
            }
            Meta::Unset(k) => {
                anyhow::ensure!(self.settings.params.remove(&k).is_some(), "${k} is not set");
            }
            Meta::From(bound) => {
                self.settings.from = bound;
                self.print(&self.window_text());
            }
            Meta::To(bound) => {
                self.settings.to = bound;
                self.print(&self.window_text());
            }
            Meta::Pager(on) => {
                self.settings.pager = toggle(self.settings.pager, on);
                let state = if self.settings.pager { "on" } else { "off" };
                self.print(&format!("Pager is {state}."));
            }
            Meta::Reload => {
                self.reload()?;
                self.print(&self.summary());
            }
            Meta::Connect(to) => {
                if let Some(cluster) = to {
                    let runner = cluster.as_ref().map(crate::args::ClusterArg::runner);
                    // Kept for \reload, which reopens the lake.
                    self.global.query.runner = runner.clone();
                    self.lake.set_runner(runner);
                }
                self.print(&match self.lake.runs_on() {
                    Some(url) => format!("Queries run on the cluster {url}."),
                    None => "Queries run here.".to_string(),
                });
            }
        }
        Ok(Next::Continue)
    }

    /// `\d` and `\d TABLE`.
    fn describe(&self, table: &str) -> anyhow::Result<()> {
        if table.is_empty() {
            let snap = self.lake.snapshot();
            let files = snap.files.len();
            let events: u64 = snap.files.values().map(|f| f.rows).sum();
            self.print(&format!(
                "cloudtrail  the lake's events: {} in {} files\n\"{}\"  the same table by its event data store ID (as in CloudTrail Lake)",
                count(events),
                count(files as u64),
                self.lake.id()
            ));
            return Ok(());
        }
        anyhow::ensure!(
            table.eq_ignore_ascii_case(ctlake_query::TABLE) || table == self.lake.id(),
            "no table {table}; \\d lists them"
        );
        let columns = ctlake_query::suggest::columns();
        let width = columns.iter().map(|(p, _)| p.len()).max().unwrap_or(0);
        let mut text = String::new();
        // The partition columns are in the column list too: shown once, marked.
        let partition = [
            ctlake_schema::schema::PARTITION_REGION,
            ctlake_schema::schema::PARTITION_DATE,
        ];
        for (path, ty) in columns {
            if partition.contains(&path.as_str()) {
                continue;
            }
            let ty = match ty {
                arrow::datatypes::DataType::Struct(_) => "row".to_string(),
                other => ctlake_query::type_name(&other),
            };
            writeln!(text, "{path:width$}  {ty}")?;
        }
        writeln!(text, "{:width$}  varchar (partition)", "region")?;
        write!(text, "{:width$}  date (partition)", "date")?;
        self.print(&text);
        Ok(())
    }

    /// `\l`: per region, the days it has, files, events and bytes.
    fn partitions(&self) {
        #[derive(Default)]
        struct Region {
            first: Option<chrono::NaiveDate>,
            last: Option<chrono::NaiveDate>,
            days: std::collections::BTreeSet<chrono::NaiveDate>,
            files: u64,
            events: u64,
            bytes: u64,
        }
        let mut regions: BTreeMap<&str, Region> = BTreeMap::new();
        let snap = self.lake.snapshot();
        for f in snap.files.values() {
            let r = regions.entry(f.region.as_str()).or_default();
            r.first = Some(r.first.map_or(f.date, |d| d.min(f.date)));
            r.last = Some(r.last.map_or(f.date, |d| d.max(f.date)));
            r.days.insert(f.date);
            r.files += 1;
            r.events += f.rows;
            r.bytes += f.bytes;
        }
        if regions.is_empty() {
            self.print("No partitions: the lake is empty.");
            return;
        }
        let mut text = format!(
            "{:16} {:10} {:10} {:>5} {:>6} {:>10} {:>10}\n",
            "region", "first day", "last day", "days", "files", "events", "bytes"
        );
        let mut total = Region::default();
        for (name, r) in &regions {
            let day = |d: Option<chrono::NaiveDate>| d.map(|d| d.to_string()).unwrap_or_default();
            let _ = writeln!(
                text,
                "{:16} {:10} {:10} {:>5} {:>6} {:>10} {:>10}",
                name,
                day(r.first),
                day(r.last),
                r.days.len(),
                count(r.files),
                count(r.events),
                bytes(r.bytes)
            );
            total.files += r.files;
            total.events += r.events;
            total.bytes += r.bytes;
            total.days.extend(&r.days);
        }
        let partitions: usize = regions.values().map(|r| r.days.len()).sum();
        let _ = write!(
            text,
            "{} regions, {} partitions, {} files, {} events, {}",
            regions.len(),
            count(partitions as u64),
            count(total.files),
            count(total.events),
            bytes(total.bytes)
        );
        self.print(&text);
    }

    /// `\saved` and `\saved NAME`.
    fn saved(&self, name: &str) -> anyhow::Result<()> {
        if !name.is_empty() {
            let q = self.library.get(name)?;
            let origin = match &q.origin {
                saved::Origin::BuiltIn => "built in".to_string(),
                saved::Origin::File(p) => p.display().to_string(),
            };
            self.print(&format!("-- from: {origin}\n{}", q.sql.trim_end()));
            return Ok(());
        }
        let width = self.library.iter().map(|q| q.name.len()).max().unwrap_or(0);
        let mut text = String::new();
        for q in self.library.iter() {
            let params: Vec<String> = q.params.iter().map(saved::Param::usage).collect();
            writeln!(text, "{:width$}  {}", q.name, q.description)?;
            if !params.is_empty() {
                writeln!(text, "{:width$}    {}", "", params.join(" "))?;
            }
        }
        write!(
            text,
            "\\run NAME [k=v ...] runs one; \\saved NAME shows its SQL."
        )?;
        self.print(&text);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sample argument for each command that takes one.
    fn sample(name: &str) -> &'static str {
        match name {
            "\\format" => "csv",
            "\\i" => "queries.sql",
            "\\run" => "root-account-use",
            "\\unset" => "ip",
            _ => "",
        }
    }

    #[test]
    fn every_listed_command_parses() {
        for c in COMMANDS {
            let line = format!("{} {}", c.name, sample(c.name));
            assert!(line.parse::<Meta>().is_ok(), "{line}");
        }
    }

    #[test]
    fn arguments_are_checked_when_parsed() {
        assert_eq!("\\timing".parse::<Meta>().unwrap(), Meta::Timing(None));
        assert_eq!(
            "\\timing off;".parse::<Meta>().unwrap(),
            Meta::Timing(Some(false))
        );
        assert_eq!(
            "\\x auto".parse::<Meta>().unwrap(),
            Meta::Expanded(Some(Expanded::Auto))
        );
        assert_eq!(
            "\\run cloudtrail-changes $ip=10.0.0.1 limit=5"
                .parse::<Meta>()
                .unwrap(),
            Meta::Run {
                name: "cloudtrail-changes".into(),
                params: BTreeMap::from([
                    ("ip".to_string(), "10.0.0.1".to_string()),
                    ("limit".to_string(), "5".to_string())
                ]),
            }
        );
        assert_eq!(
            "\\set $user 'alice'".parse::<Meta>().unwrap(),
            Meta::Set(Some(("user".into(), "alice".into())))
        );
        assert_eq!(
            "\\from -7d".parse::<Meta>().unwrap(),
            Meta::From(Some("-7d".into()))
        );
        assert_eq!("\\to".parse::<Meta>().unwrap(), Meta::To(None));
        for bad in [
            "\\timing maybe",
            "\\x sideways",
            "\\format parquet",
            "\\format xml",
            "\\i",
            "\\run",
            "\\run q novalue",
            "\\set 1-2 x",
            "\\from last tuesday",
        ] {
            assert!(bad.parse::<Meta>().is_err(), "{bad} parsed");
        }
        let e = "\\timimg".parse::<Meta>().unwrap_err().to_string();
        assert!(e.contains("did you mean \\timing?"), "{e}");
    }
}
