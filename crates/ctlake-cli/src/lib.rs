//! The `ctlake` command line: argument parsing, progress display and output formatting over
//! the `ctlake-ingest`, `ctlake-query` and `ctlake-generate` libraries. Nothing here decides
//! what goes into a lake or what a query means; it only says what happened.
//!
//! Each command is one module of [`commands`] holding its arguments (validated by clap's value
//! parsers before anything runs) and its `run`; adding a command is one module and one arm of
//! [`commands::Command`]. What every command shares (the query engine's options) travels in a
//! [`Global`] value, not in process globals.
//!
//! Exit codes:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success: everything read went into the lake |
//! | 1 | usage or environment error (bad arguments, missing source, unusable lake), or a query that fails (syntax, unknown column, refused statement) |
//! | 2 | the run finished, but some input was not ingested (a bad or foreign file, rejected records) |
//! | 3 | `ctlake report --fail-on-findings`: a detection query returned rows |
//!
//! A closed standard output (`ctlake query ... | head`) ends the command quietly with 0.
#![warn(missing_docs)]

use std::ffi::OsString;
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;

mod args;
mod commands;
mod format;
mod output;
mod shell;
mod signals;

/// Exit code: usage or environment error.
pub const EXIT_USAGE: u8 = 1;
/// Exit code: some input was not ingested.
pub const EXIT_PARTIAL: u8 = 2;
/// Exit code: a query failed (syntax, unknown column, refused statement, ...).
pub const EXIT_QUERY: u8 = 1;
/// Exit code: ingest was interrupted (Ctrl-C, SIGTERM) and stopped after a commit.
pub const EXIT_INTERRUPTED: u8 = 130;
/// Exit code: `ctlake verify` (or `repair`) found damage.
pub const EXIT_DAMAGED: u8 = 1;
/// Exit code: `ctlake report --fail-on-findings` and a detection query returned rows.
pub const EXIT_FINDINGS: u8 = 3;

/// Turns AWS CloudTrail logs into a SQL-queryable Parquet event lake.
#[derive(Debug, Parser)]
#[command(name = "ctlake", version, about, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Option<commands::Command>,
    #[command(flatten)]
    global: args::GlobalArgs,
}

/// What every command gets besides its own arguments.
#[derive(Debug, Clone)]
pub struct Global {
    /// How lakes are opened for queries (the memory limit, the cluster).
    pub query: ctlake_query::Options,
}

impl Global {
    fn new(args: &args::GlobalArgs) -> Self {
        let mut query = ctlake_query::Options::default();
        if let Some(limit) = args.memory_limit {
            query.memory_limit = limit.0;
        }
        query.runner = args.cluster.as_ref().map(args::ClusterArg::runner);
        Self { query }
    }

    /// Opens the lake at `path` for queries with these options.
    pub async fn open(&self, path: &Path) -> ctlake_query::Result<ctlake_query::Lake> {
        ctlake_query::Lake::open_with(path, &self.query).await
    }

    /// The runtime every query command runs in.
    pub fn runtime(&self) -> anyhow::Result<tokio::runtime::Runtime> {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("starting the query runtime")
    }
}

/// Runs the command line and returns the process exit code.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let args: Vec<OsString> = args.into_iter().collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if !e.use_stderr() {
                0
            } else if cli_command(&args) == Some("validate") {
                // `validate` answers as `aws cloudtrail validate-logs`' scripts expect.
                commands::validate::EXIT_VALIDATE_USAGE
            } else {
                EXIT_USAGE
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let global = Global::new(&cli.global);
    // A panic (a bug, or a damaged data file tripping a check inside the Parquet reader) is
    // one line and exit 1, not a backtrace: ctlake's work is committed or not, never half.
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let at = info
            .location()
            .map(|l| format!(" ({}:{})", l.file(), l.line()))
            .unwrap_or_default();
        let _ = writeln!(
            io::stderr(),
            "error: internal error: {message}{at}; if a data file of the lake is damaged, \
             `ctlake verify` names it, otherwise please report this"
        );
    }));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match cli.command {
        Some(command) => command.run(&global),
        None => no_command(&global),
    }));
    let Ok(result) = result else {
        return ExitCode::from(EXIT_USAGE);
    };
    match result {
        Ok(code) => ExitCode::from(code),
        // The reader went away (`| head`): not an error worth a word.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(io::stderr(), "error: {}", error_text(&e));
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// The subcommand named on a command line: its first argument that is not an option or an
/// option's value.
fn cli_command(args: &[OsString]) -> Option<&str> {
    let mut words = args.iter().skip(1).filter_map(|a| a.to_str());
    while let Some(w) = words.next() {
        if w == "--memory-limit" {
            words.next();
        } else if !w.starts_with('-') {
            return Some(w);
        }
    }
    None
}

/// Plain `ctlake`: the shell on a terminal, the help otherwise.
fn no_command(global: &Global) -> anyhow::Result<u8> {
    if io::stdin().is_terminal() && io::stdout().is_terminal() {
        let lake =
            std::env::var_os("CTLAKE_LAKE").map_or_else(|| PathBuf::from("lake"), PathBuf::from);
        let history = std::env::var_os("CTLAKE_HISTORY").map(PathBuf::from);
        return shell::run(&lake, &[], history, global);
    }
    let _ = <Cli as clap::CommandFactory>::command().print_help();
    Ok(EXIT_USAGE)
}

/// An error and its causes in one line, each said once: library errors already include
/// their cause's text ("path: No space left on device"), and printing the chain as well
/// repeated it ("X: X").
pub(crate) fn error_text(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let line = cause.to_string();
        if line.is_empty() || text.contains(&line) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&line);
    }
    text
}

pub(crate) fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
            || c.downcast_ref::<ctlake_query::Error>()
                .is_some_and(|q| matches!(q, ctlake_query::Error::Io(io) if io.kind() == io::ErrorKind::BrokenPipe))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_consistent() {
        // clap's own checks: conflicting names, `requires` on unknown arguments, defaults that
        // its value parsers reject.
        <Cli as clap::CommandFactory>::command().debug_assert();
    }

    #[test]
    fn bad_values_are_refused_before_anything_runs() {
        for bad in [
            &["ctlake", "--memory-limit", "lots", "info"][..],
            &["ctlake", "compact", "--partition", "us-east-1"],
            &["ctlake", "vacuum", "--older-than", "soon"],
            &["ctlake", "lookup", "-a", "Colour=red"],
            &["ctlake", "lookup", "-a", "EventName"],
            &[
                "ctlake",
                "lookup",
                "-a",
                "EventName=x",
                "--from",
                "last tuesday",
            ],
            &["ctlake", "query", "--saved", "x", "--param", "novalue"],
            &["ctlake", "ingest", "--batch-files", "0", "x"],
        ] {
            assert!(Cli::try_parse_from(bad).is_err(), "{bad:?} parsed");
        }
        let ok = Cli::try_parse_from([
            "ctlake",
            "query",
            "--saved",
            "q",
            "--param",
            "$ip=10.0.0.1",
            "--from",
            "-7d",
        ])
        .unwrap();
        let Some(commands::Command::Query(q)) = ok.command else {
            panic!("not a query")
        };
        assert_eq!(q.params[0].name, "ip");
        assert_eq!(q.params[0].value, "10.0.0.1");
    }
}
