//! The interactive shell, driven through a pseudo-terminal as a user would drive it: typed
//! lines, Tab, Ctrl-C, Ctrl-R, and a restart that must find the history again.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use rexpect::session::{PtySession, spawn_command};

use crate::common::{ctlake, run, sample_lake};

/// Seconds any one expected output may take (debug builds on two busy cores).
const TIMEOUT_MS: u64 = 60_000;

fn shell(lake: &Path, history: &Path) -> PtySession {
    let mut c: Command = ctlake();
    c.args(["shell", "--lake"])
        .arg(lake)
        .env("CTLAKE_HISTORY", history)
        .env("NO_COLOR", "1")
        .env("TERM", "xterm")
        // A pager would wait for keys; `cat` shows the same text.
        .env("PAGER", "cat")
        .env("COLUMNS", "200")
        .env("LINES", "50");
    spawn_command(c, Some(TIMEOUT_MS)).expect("spawn the shell in a pty")
}

/// Waits for `text`, with what the shell printed instead on failure.
fn expect(p: &mut PtySession, text: &str) -> String {
    match p.exp_string(text) {
        Ok(before) => before,
        Err(e) => panic!("shell never printed {text:?}: {e}"),
    }
}

#[test]
fn a_session_in_the_shell() {
    let (_dir, lake, expected) = sample_lake();
    let history = lake.parent().unwrap().join("state/ctlake/history");
    let mut p = shell(&lake, &history);
    // The banner names the sample's size (the Python reader's count) and two queries to try.
    let events = format!("{}", expected.events);
    let with_commas = {
        let s = events.as_bytes();
        let mut out = String::new();
        for (i, c) in s.iter().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(*c as char);
        }
        out
    };
    expect(&mut p, &format!("{with_commas} events"));
    expect(&mut p, "Try:");
    expect(&mut p, "\\run console-logins-without-mfa");

    // Multi-line input runs at the `;`.
    p.send_line("SELECT count(*) AS n").unwrap();
    p.send_line("FROM cloudtrail;").unwrap();
    expect(&mut p, &format!("| {events} |"));
    expect(&mut p, "(1 row)");

    // Tab completes a nested struct path one level at a time; a wrong completion would leave
    // `sessioni.ar`, which is no column, and the query would fail instead of answering.
    p.send("SELECT count(DISTINCT useridentity.sessioncontext.sessioni")
        .unwrap();
    p.send("\t").unwrap();
    p.send(".ar").unwrap();
    p.send("\t").unwrap();
    p.send_line(") AS issuers FROM cloudtrail;").unwrap();
    expect(&mut p, "issuers");
    let answer = expect(&mut p, "(1 row)");
    assert!(!answer.contains("error"), "{answer}");

    // Map keys seen in the lake complete inside element_at(..., '
    p.send("SELECT count(element_at(requestparameters, 'bucketN")
        .unwrap();
    p.send("\t").unwrap();
    p.send_line(")) AS with_bucket FROM cloudtrail;").unwrap();
    expect(&mut p, "with_bucket");
    expect(&mut p, "(1 row)");

    // \d cloudtrail lists columns with types, nested paths included.
    p.send_line("\\d cloudtrail").unwrap();
    expect(&mut p, "useridentity.sessioncontext.sessionissuer.arn");
    expect(&mut p, "timestamp(6)");

    // \timing adds time and what was scanned.
    p.send_line("\\timing").unwrap();
    expect(&mut p, "Timing is on.");
    p.send_line("SELECT count(*) AS n FROM cloudtrail WHERE region = 'ap-east-1';")
        .unwrap();
    expect(&mut p, "Time: ");
    expect(&mut p, "scanned 1 of 29 files in 1 partitions");
    p.send_line("\\timing off").unwrap();
    expect(&mut p, "Timing is off.");

    // \format csv.
    p.send_line("\\format csv").unwrap();
    expect(&mut p, "Output format is csv.");
    p.send_line(
        "SELECT eventname, sourceipaddress FROM cloudtrail WHERE eventname = 'StopLogging';",
    )
    .unwrap();
    expect(&mut p, "eventname,sourceipaddress");
    expect(&mut p, "StopLogging,");
    p.send_line("\\format table").unwrap();
    expect(&mut p, "Output format is table.");

    // \run: the planted root login.
    p.send_line("\\run root-account-use").unwrap();
    expect(&mut p, "203.0.113.200");
    expect(&mut p, "(1 row)");

    // A session window bounds every query; the prompt shows it. The expected count is the
    // Python reader's events of that day (partitions are days of eventtime).
    let day: u64 = expected
        .partitions
        .iter()
        .filter(|(k, _)| k.ends_with("date=2026-11-12"))
        .map(|(_, n)| n)
        .sum();
    assert!(day > 0 && day < expected.events);
    p.send_line("\\from 2026-11-12").unwrap();
    expect(&mut p, "Time window: eventtime from 2026-11-12");
    p.send_line("\\to 2026-11-13").unwrap();
    expect(&mut p, "ctlake [2026-11-12..2026-11-13]>");
    p.send_line("SELECT count(*) AS n FROM cloudtrail;")
        .unwrap();
    expect(&mut p, &format!("| {day} |"));
    // Relative times: the sample lies in the past, so nothing is newer than a minute ago.
    // (Each command waits for the last one's answer, as a typist would: the terminal drops
    // what is typed ahead while a command runs.)
    p.send_line("\\from -1m").unwrap();
    expect(&mut p, "Time window: eventtime from -1m");
    p.send_line("\\to").unwrap();
    expect(&mut p, "ctlake [-1m..]>");
    p.send_line("SELECT count(*) AS n FROM cloudtrail;")
        .unwrap();
    expect(&mut p, "| 0 |");
    p.send_line("\\from").unwrap();
    expect(&mut p, "No time window");
    p.send_line("SELECT count(*) AS n FROM cloudtrail;")
        .unwrap();
    expect(&mut p, &format!("| {events} |"));

    // An error is shown with its position, and the shell goes on.
    p.send_line("SELECT eventname FROM cloudtrail WHERE event_name = 'x';")
        .unwrap();
    expect(&mut p, "did you mean eventname");
    p.send_line("SELECT 6 * 7 AS answer;").unwrap();
    expect(&mut p, "| 42 ");

    // Ctrl-C cancels a long query and leaves the shell running.
    p.send_line(
        "SELECT sum(length(a.eventid || b.eventid || c.eventid)) FROM cloudtrail a, cloudtrail b, cloudtrail c;",
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    p.send_control('c').unwrap();
    expect(&mut p, "cancelled after");
    p.send_line("SELECT 'still here' AS status;").unwrap();
    expect(&mut p, "| still here |");
    expect(&mut p, "(1 row)");

    p.send_line("\\q").unwrap();
    p.exp_eof().expect("\\q ends the shell");

    // History survives a restart: \history lists the last session, Ctrl-R finds a statement.
    assert!(history.is_file(), "history file at {}", history.display());
    let mut p = shell(&lake, &history);
    expect(&mut p, "Try:");
    p.send_line("\\history").unwrap();
    expect(&mut p, "SELECT 6 * 7 AS answer;");
    expect(&mut p, "ctlake> ");
    std::thread::sleep(Duration::from_millis(300));
    p.send_control('r').unwrap();
    expect(&mut p, "(reverse-i-search)");
    // Typed key by key, as a person would; the search updates on each.
    for key in ["6", " ", "*", " ", "7"] {
        p.send(key).unwrap();
        p.flush().unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
    expect(&mut p, "SELECT 6 * 7 AS answer;");
    p.send("\r").unwrap();
    p.flush().unwrap();
    expect(&mut p, "| 42 ");
    p.send_control('d').unwrap();
    p.exp_eof().expect("Ctrl-D ends the shell");
}

#[test]
fn without_a_lake_the_shell_says_how_to_make_one() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nothing-here");
    let r = run(&["shell", "--lake", missing.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("ctlake ingest --lake"), "{}", r.stderr);
    assert!(r.stderr.contains("--ingest data"), "{}", r.stderr);
}

#[test]
fn an_empty_lake_explains_how_to_ingest_and_help_lists_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let r = run(&[
        "ingest",
        "--lake",
        lake.to_str().unwrap(),
        empty.to_str().unwrap(),
    ]);
    assert!(
        lake.join("_ctlake/lake.json").is_file(),
        "no lake created: {}",
        r.stderr
    );
    let mut p = shell(&lake, &dir.path().join("history"));
    expect(&mut p, "holds no events yet");
    expect(&mut p, "ctlake ingest --lake");
    p.send_line("\\?").unwrap();
    for command in [
        "\\d",
        "\\l",
        "\\timing",
        "\\x",
        "\\format",
        "\\o",
        "\\i",
        "\\saved",
        "\\run",
        "\\set",
        "\\from",
        "\\to",
        "\\history",
        "\\q",
    ] {
        expect(&mut p, &format!("  {command} "));
    }
    p.send_line("\\q").unwrap();
    p.exp_eof().unwrap();
}
