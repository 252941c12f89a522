//! The shell's backslash commands: what `\?` lists and what each does. Every command here is
//! in [`COMMANDS`], so help, completion and hints cannot disagree with what runs.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Context;
use ctlake_query::saved;

use super::Shell;
use super::render::Expanded;
use crate::format::{bytes, count};
use crate::query::Format;

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

fn toggle(current: bool, arg: &str) -> anyhow::Result<bool> {
    match arg {
        "" => Ok(!current),
        "on" | "true" | "1" => Ok(true),
        "off" | "false" | "0" => Ok(false),
        other => anyhow::bail!("expected on or off, not {other}"),
    }
}

impl Shell {
    /// Runs one backslash command line.
    pub(super) fn meta(&mut self, line: &str) -> anyhow::Result<Next> {
        let line = line.trim().trim_end_matches(';').trim_end();
        let (name, arg) = line
            .split_once(char::is_whitespace)
            .map_or((line, ""), |(n, a)| (n, a.trim()));
        let known = COMMANDS.iter().any(|c| c.name == name);
        if !known {
            let names = COMMANDS.iter().map(|c| c.name);
            let hint = ctlake_query::suggest::nearest(name, names)
                .map(|n| format!(" (did you mean {n}?)"))
                .unwrap_or_default();
            anyhow::bail!("unknown command {name}{hint}; \\? lists them");
        }
        match name {
            "\\?" => {
                let width = COMMANDS
                    .iter()
                    .map(|c| c.name.len() + c.args.len() + 1)
                    .max()
                    .unwrap_or(0);
                let mut text = String::new();
                for c in COMMANDS {
                    let usage = format!("{} {}", c.name, c.args);
                    writeln!(text, "  {usage:width$}  {}", c.help)?;
                }
                writeln!(
                    text,
                    "SQL ends with ; and may span lines. Tab completes; Ctrl-R searches history; Ctrl-C cancels a running query."
                )?;
                self.print(&text);
            }
            "\\q" => return Ok(Next::Quit),
            "\\history" => return Ok(Next::History),
            "\\d" => self.describe(arg)?,
            "\\l" => self.partitions(),
            "\\timing" => {
                self.settings.timing = toggle(self.settings.timing, arg)?;
                let state = if self.settings.timing { "on" } else { "off" };
                self.print(&format!("Timing is {state}."));
            }
            "\\x" => {
                self.settings.expanded = match (arg, self.settings.expanded) {
                    ("", Expanded::Off) | ("on", _) => Expanded::On,
                    ("", _) | ("off", _) => Expanded::Off,
                    ("auto", _) => Expanded::Auto,
                    (other, _) => anyhow::bail!("\\x takes on, off or auto, not {other}"),
                };
                let state = match self.settings.expanded {
                    Expanded::On => "on",
                    Expanded::Off => "off",
                    Expanded::Auto => "auto",
                };
                self.print(&format!("Expanded display is {state}."));
            }
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
                self.settings.format = format;
                self.print(&format!("Output format is {arg}."));
            }
            "\\o" => {
                if arg.is_empty() {
                    self.settings.output = None;
                    self.print("Results go to the screen.");
                } else {
                    let path = PathBuf::from(arg);
                    std::fs::File::create(&path)
                        .with_context(|| format!("creating {}", path.display()))?;
                    self.print(&format!("Results go to {}.", path.display()));
                    self.settings.output = Some(path);
                }
            }
            "\\i" => {
                anyhow::ensure!(!arg.is_empty(), "\\i needs a file");
                let text =
                    std::fs::read_to_string(arg).with_context(|| format!("reading {arg}"))?;
                return Ok(Next::Include(text));
            }
            "\\saved" => self.saved(arg)?,
            "\\run" => {
                let mut words = arg.split_whitespace();
                let name = words.next().context("\\run needs a saved query's name")?;
                let mut given = BTreeMap::new();
                for w in words {
                    let (k, v) = w
                        .split_once('=')
                        .with_context(|| format!("{w}: expected NAME=VALUE"))?;
                    given.insert(k.trim_start_matches('$').to_string(), v.to_string());
                }
                self.run_saved(name, given);
            }
            "\\set" => {
                if arg.is_empty() {
                    let mut text = String::new();
                    for (k, v) in &self.settings.params {
                        writeln!(text, "${k} = {v}")?;
                    }
                    if text.is_empty() {
                        text = "No values set; \\set NAME VALUE sets $NAME.".into();
                    }
                    self.print(text.trim_end());
                } else {
                    let (k, v) = arg
                        .split_once(char::is_whitespace)
                        .map_or((arg, ""), |(k, v)| (k, v.trim()));
                    let k = k.trim_start_matches('$');
                    anyhow::ensure!(
                        !k.is_empty() && k.chars().all(|c| c.is_alphanumeric() || c == '_'),
                        "\\set NAME VALUE: {k:?} is not a name"
                    );
                    let v = v.trim_matches('\'').to_string();
                    self.print(&format!("${k} = {v}"));
                    self.settings.params.insert(k.to_string(), v);
                }
            }
            "\\unset" => {
                let k = arg.trim_start_matches('$');
                anyhow::ensure!(self.settings.params.remove(k).is_some(), "${k} is not set");
            }
            "\\from" | "\\to" => {
                let value = if arg.is_empty() {
                    None
                } else {
                    // Checked now, evaluated at each query: `-7d` keeps meaning the last week.
                    ctlake_query::timespec::parse(arg)?;
                    Some(arg.to_string())
                };
                if name == "\\from" {
                    self.settings.from = value;
                } else {
                    self.settings.to = value;
                }
                self.print(&self.window_text());
            }
            "\\pager" => {
                self.settings.pager = toggle(self.settings.pager, arg)?;
                let state = if self.settings.pager { "on" } else { "off" };
                self.print(&format!("Pager is {state}."));
            }
            "\\reload" => {
                self.reload()?;
                self.print(&self.summary());
            }
            _ => unreachable!("every command in COMMANDS is handled"),
        }
        Ok(Next::Continue)
    }

    /// `\d` and `\d TABLE`.
    fn describe(&self, table: &str) -> anyhow::Result<()> {
        let table = table.trim_matches('"');
        if table.is_empty() {
            let files = self.lake.snapshot().files.len();
            let events: u64 = self.lake.snapshot().files.values().map(|f| f.rows).sum();
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
        for (path, ty) in columns {
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
        for f in self.lake.snapshot().files.values() {
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
            let params: Vec<String> = q
                .params
                .iter()
                .map(|p| match &p.default {
                    Some(d) => format!("{}={d}", p.name),
                    None => format!("{}=<{}>", p.name, p.ty.name()),
                })
                .collect();
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
