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

/// Waits for the next prompt and returns it. Keys typed before the editor takes the terminal
/// again can be lost (the line discipline is in cooked mode while a command runs), so every
/// input waits for its prompt, as a person would.
fn prompt(p: &mut PtySession) -> String {
    let found = match p.exp_regex(r"ctlake( \[[^\]]*\])?> ") {
        Ok((_, prompt)) => prompt,
        Err(e) => panic!("shell never showed its prompt: {e}"),
    };
    std::thread::sleep(Duration::from_millis(150));
    found
}

/// Types a whole line at the next prompt.
fn say(p: &mut PtySession, line: &str) {
    prompt(p);
    p.send_line(line).unwrap();
}

/// Types text without Enter at the next prompt (the rest of the line follows with `send`).
fn start(p: &mut PtySession, text: &str) {
    prompt(p);
    p.send(text).unwrap();
    p.flush().unwrap();
}

/// Sends keys within the line being edited.
fn keys(p: &mut PtySession, text: &str) {
    p.send(text).unwrap();
    p.flush().unwrap();
    std::thread::sleep(Duration::from_millis(100));
}

#[test]
fn a_session_in_the_shell() {
    let (_dir, lake, expected) = sample_lake();
    let history = lake.parent().unwrap().join("state/ctlake/history");
    let mut p = shell(&lake, &history);
    // The banner names the sample's size (the Python reader's count) and two queries to try.
    let events = format!("{}", expected.events);
    let with_commas = crate::common::count_text(expected.events);
    expect(&mut p, &format!("{with_commas} events"));
    expect(&mut p, "Try:");
    expect(&mut p, "\\run console-logins-without-mfa");

    // Multi-line input runs at the `;`.
    say(&mut p, "SELECT count(*) AS n");
    p.send_line("FROM cloudtrail;").unwrap();
    expect(&mut p, &format!("| {events} |"));
    expect(&mut p, "(1 row)");

    // Tab completes a nested struct path one level at a time; a wrong completion would leave
    // `sessioni.ar`, which is no column, and the query would fail instead of answering.
    start(
        &mut p,
        "SELECT count(DISTINCT useridentity.sessioncontext.sessioni",
    );
    keys(&mut p, "\t");
    keys(&mut p, ".ar");
    keys(&mut p, "\t");
    p.send_line(") AS issuers FROM cloudtrail;").unwrap();
    expect(&mut p, "issuers");
    let answer = expect(&mut p, "(1 row)");
    assert!(!answer.contains("error"), "{answer}");

    // Map keys seen in the lake complete inside element_at(..., '
    start(
        &mut p,
        "SELECT count(element_at(requestparameters, 'bucketN",
    );
    keys(&mut p, "\t");
    p.send_line(")) AS with_bucket FROM cloudtrail;").unwrap();
    expect(&mut p, "with_bucket");
    let answer = expect(&mut p, "(1 row)");
    assert!(!answer.contains("error"), "{answer}");

    // \d cloudtrail lists columns with types, nested paths included.
    say(&mut p, "\\d cloudtrail");
    expect(&mut p, "useridentity.sessioncontext.sessionissuer.arn");
    expect(&mut p, "timestamp(6)");

    // \timing adds time and what was scanned.
    say(&mut p, "\\timing");
    expect(&mut p, "Timing is on.");
    say(
        &mut p,
        "SELECT count(*) AS n FROM cloudtrail WHERE region = 'ap-east-1';",
    );
    expect(&mut p, "Time: ");
    expect(&mut p, "scanned 1 of 29 files in 1 partitions");
    say(&mut p, "\\timing off");
    expect(&mut p, "Timing is off.");

    // \format csv.
    say(&mut p, "\\format csv");
    expect(&mut p, "Output format is csv.");
    say(
        &mut p,
        "SELECT eventname, sourceipaddress FROM cloudtrail WHERE eventname = 'StopLogging';",
    );
    expect(&mut p, "eventname,sourceipaddress");
    expect(&mut p, "StopLogging,");
    say(&mut p, "\\format table");
    expect(&mut p, "Output format is table.");

    // \run: the planted root login.
    say(&mut p, "\\run root-account-use");
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
    say(&mut p, "\\from 2026-11-12");
    expect(&mut p, "Time window: eventtime from 2026-11-12");
    say(&mut p, "\\to 2026-11-13");
    expect(&mut p, "Time window: eventtime from 2026-11-12");
    assert_eq!(prompt(&mut p), "ctlake [2026-11-12..2026-11-13]> ");
    p.send_line("SELECT count(*) AS n FROM cloudtrail;")
        .unwrap();
    expect(&mut p, &format!("| {day} |"));
    // Relative times: the sample lies in the past, so nothing is newer than a minute ago.
    say(&mut p, "\\from -1m");
    expect(&mut p, "Time window: eventtime from -1m");
    say(&mut p, "\\to");
    expect(&mut p, "Time window: eventtime from -1m");
    assert_eq!(prompt(&mut p), "ctlake [-1m..]> ");
    p.send_line("SELECT count(*) AS n FROM cloudtrail;")
        .unwrap();
    expect(&mut p, "| 0 |");
    say(&mut p, "\\from");
    expect(&mut p, "No time window");
    say(&mut p, "SELECT count(*) AS n FROM cloudtrail;");
    expect(&mut p, &format!("| {events} |"));

    // An error is shown with its position, and the shell goes on.
    say(
        &mut p,
        "SELECT eventname FROM cloudtrail WHERE event_name = 'x';",
    );
    expect(&mut p, "did you mean eventname");
    say(&mut p, "SELECT 6 * 7 AS answer;");
    expect(&mut p, "| 42 ");

    // Ctrl-C cancels a long query and leaves the shell running.
    say(
        &mut p,
        "SELECT sum(length(a.eventid || b.eventid || c.eventid)) FROM cloudtrail a, cloudtrail b, cloudtrail c;",
    );
    std::thread::sleep(Duration::from_millis(1500));
    p.send_control('c').unwrap();
    expect(&mut p, "cancelled after");
    say(&mut p, "SELECT 'still here' AS status;");
    expect(&mut p, "| still here |");
    expect(&mut p, "(1 row)");

    say(&mut p, "\\q");
    p.exp_eof().expect("\\q ends the shell");

    // History survives a restart: \history lists the last session, Ctrl-R finds a statement.
    assert!(history.is_file(), "history file at {}", history.display());
    let mut p = shell(&lake, &history);
    expect(&mut p, "Try:");
    say(&mut p, "\\history");
    expect(&mut p, "SELECT 6 * 7 AS answer;");
    prompt(&mut p);
    p.send_control('r').unwrap();
    expect(&mut p, "(reverse-i-search)");
    // Typed key by key, as a person would; the search updates on each.
    for key in ["6", " ", "*", " ", "7"] {
        keys(&mut p, key);
    }
    expect(&mut p, "SELECT 6 * 7 AS answer;");
    keys(&mut p, "\r");
    expect(&mut p, "| 42 ");
    expect(&mut p, "(1 row)");
    prompt(&mut p);
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
    say(&mut p, "\\?");
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
    say(&mut p, "\\q");
    p.exp_eof().unwrap();
}

#[test]
fn the_shell_answers_after_a_compaction_in_another_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let src = crate::common::deliveries(dir.path(), "2000", "21");
    let events = crate::common::expected(&[&src]).events;
    let lake = dir.path().join("lake");
    let lake_arg = lake.to_str().unwrap();
    crate::common::fragmented_lake(&lake, &src, "10");
    let mut p = shell(&lake, &dir.path().join("history"));
    say(&mut p, "SELECT count(*) AS n FROM cloudtrail;");
    expect(&mut p, &format!("| {events} |"));
    // Compaction replaces every file the shell's first snapshot named.
    let r = run(&["compact", "--lake", lake_arg]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    say(&mut p, "SELECT count(*) AS n FROM cloudtrail;");
    let answer = expect(&mut p, "(1 row)");
    assert!(answer.contains(&format!("| {events} |")), "{answer}");
    say(&mut p, "\\d");
    expect(
        &mut p,
        &format!("in {} files", crate::common::committed_files(&lake).len()),
    );
    say(&mut p, "\\q");
}

#[test]
fn escape_sequences_are_shown_in_the_shell_and_in_csv_on_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let lake = crate::common::hostile_lake(dir.path());
    let mut p = shell(&lake, &dir.path().join("history"));
    for mode in ["\\x off", "\\x on"] {
        say(&mut p, mode);
        say(&mut p, "SELECT useragent AS agent FROM cloudtrail;");
        let shown = expect(&mut p, "(1 row)");
        assert!(shown.contains("evil\\x1b[2J\\x1b]52;c;aGk="), "{shown:?}");
        assert!(!shown.contains("\u{1b}]52"), "{mode}: {shown:?}");
        assert!(!shown.contains('\u{202e}'), "{mode}: {shown:?}");
    }
    // A device is refused, not read until memory runs out.
    say(&mut p, "\\i /dev/zero");
    expect(&mut p, "/dev/zero is not a file of SQL");
    // 10,000 OR terms from a file, as an IOC list is pasted.
    let ioc = dir.path().join("ioc.sql");
    let terms: Vec<String> = (0..10_000)
        .map(|i| format!("sourceipaddress = '10.0.{}.{}'", i / 256, i % 256))
        .collect();
    std::fs::write(
        &ioc,
        format!(
            "SELECT count(*) AS hits FROM cloudtrail WHERE {};",
            terms.join(" OR ")
        ),
    )
    .unwrap();
    say(&mut p, "\\x off");
    say(&mut p, &format!("\\i {}", ioc.display()));
    expect(&mut p, "hits");
    let shown = expect(&mut p, "(1 row)");
    assert!(shown.contains("| 0 "), "{shown:?}");
    say(&mut p, "\\q");

    // `ctlake query --format csv` with a terminal for standard output.
    let mut c: Command = ctlake();
    c.args(["query", "--format", "csv", "--lake"])
        .arg(&lake)
        .arg("SELECT useragent FROM cloudtrail")
        .env("NO_COLOR", "1");
    let mut p = spawn_command(c, Some(TIMEOUT_MS)).unwrap();
    let shown = p.exp_eof().unwrap();
    assert!(shown.contains(crate::common::HOSTILE_SHOWN), "{shown:?}");
    assert!(!shown.contains('\u{1b}'), "{shown:?}");
}
