//! `ctlake report` on the sample: the files it writes, the findings the generator planted, and
//! the page rendered by a real headless browser.

use std::path::Path;
use std::process::Command;

use crate::common::*;

/// Rows the security report's detection queries must return on the sample: the plants of
/// crates/ctlake-generate/src/planted.rs (see also `saved::every_built_in_query_...`).
const PLANTED_FINDINGS: usize = 1 + 2 + 1 + 1 + 2 + 1 + 1 + 1 + 1 + 1 + 2 + 1 + 1 + 2 + 1 + 1 + 1;

fn report(lake: &Path, out: &Path, extra: &[&str]) -> Run {
    let (lake_s, out_s) = (lake.display().to_string(), out.display().to_string());
    let mut args = vec![
        "report",
        "--lake",
        &lake_s,
        "--from",
        "2026-11-01",
        "--to",
        "2026-12-01",
        "--out",
        &out_s,
    ];
    args.extend_from_slice(extra);
    run(&args)
}

#[test]
fn security_report_files_hold_the_planted_findings() {
    let (dir, lake, expected) = sample_lake();
    let out = dir.path().join("report");
    let r = report(&lake, &out, &["--fail-on-findings"]);
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(&format!("{PLANTED_FINDINGS} findings")),
        "{}",
        r.stdout
    );
    let r = report(&lake, &out, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);

    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        md.contains(&format!("- Findings: {PLANTED_FINDINGS}")),
        "{md}"
    );
    assert!(md.contains(&format!("- Events in range: {}", expected.events)));
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(html.contains(&format!("<dd id=\"findings\">{PLANTED_FINDINGS}</dd>")));
    assert!(
        !html.contains("http://") || !html.contains("<script"),
        "no scripts, no fetches"
    );
    // The Markdown's per-query row counts are the HTML's.
    let rows: Vec<(String, String)> = md
        .lines()
        .skip_while(|l| !l.starts_with("| query |"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            let c: Vec<&str> = l.split(" | ").collect();
            (
                c[0].trim_start_matches("| ").to_string(),
                c[c.len() - 1].trim_end_matches(" |").to_string(),
            )
        })
        .collect();
    assert_eq!(rows.len(), 19);
    for (name, n) in &rows {
        let cell = format!("<a href=\"#{name}\">{name}</a></td>");
        let at = html
            .find(&cell)
            .unwrap_or_else(|| panic!("{name} not in the summary"));
        let rest = &html[at..];
        let count = rest.split("</td><td").nth(2).unwrap();
        assert!(
            count.contains(&format!(">{n}</td>")),
            "{name}: {n} vs {count:.60}"
        );
    }
    // A chart for each charted query with rows: failed-console-logins and access-denied-bursts.
    assert_eq!(html.matches("<svg").count(), 2);
    // One CSV and one JSON per query; the failed logins are the six by 203.0.113.66.
    let csv = std::fs::read_to_string(out.join("failed-console-logins.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(
        lines[1].starts_with("203.0.113.66,") && lines[1].contains(",6,"),
        "{csv}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("kms-key-deletion.json")).unwrap())
            .unwrap();
    assert_eq!(json[0]["eventname"], "ScheduleKeyDeletion");
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 2 + 2 * 19);

    let html_ok = Command::new("python3")
        .arg("-c")
        .arg(HTML_CHECK)
        .arg(out.join("index.html"))
        .output()
        .unwrap();
    assert!(
        html_ok.status.success(),
        "{}",
        String::from_utf8_lossy(&html_ok.stderr)
    );
    browser_renders(&out.join("index.html"), dir.path());
}

/// Parses the page with Python's HTML parser and checks every element is closed.
const HTML_CHECK: &str = r#"
import sys
from html.parser import HTMLParser
VOID = {"meta", "br", "img", "input", "link", "hr", "rect", "line", "polygon", "polyline"}
class Check(HTMLParser):
    def __init__(self):
        super().__init__()
        self.stack = []
    def handle_starttag(self, tag, attrs):
        if tag not in VOID:
            self.stack.append(tag)
    def handle_startendtag(self, tag, attrs):
        pass
    def handle_endtag(self, tag):
        if tag in VOID:
            return
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-3:]}"
        self.stack.pop()
c = Check()
c.feed(open(sys.argv[1]).read())
assert not c.stack, f"unclosed: {c.stack}"
"#;

/// Renders the page in headless Chromium: no console errors, and a screenshot that is not
/// blank (far larger than the same browser's screenshot of an empty page).
fn browser_renders(page: &Path, tmp: &Path) {
    let chromium = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| {
            Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        });
    let Some(chromium) = chromium else {
        assert!(
            std::env::var_os("CTLAKE_REQUIRE_CHROMIUM").is_none(),
            "CTLAKE_REQUIRE_CHROMIUM is set but no chromium is installed"
        );
        eprintln!("SKIP: no chromium to render the report in (apt-get install chromium)");
        return;
    };
    let shot = |url: &str, png: &Path| {
        let out = Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--enable-logging=stderr",
                "--v=0",
                "--window-size=1200,1600",
            ])
            .arg(format!("--screenshot={}", png.display()))
            .arg(url)
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(png.is_file(), "no screenshot of {url}: {log}");
        (std::fs::metadata(png).unwrap().len(), log)
    };
    let (blank, _) = shot("about:blank", &tmp.join("blank.png"));
    let (size, log) = shot(
        &format!("file://{}", page.display()),
        &tmp.join("report.png"),
    );
    let console: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(":CONSOLE(") || l.contains("Uncaught"))
        .collect();
    assert!(console.is_empty(), "console messages: {console:?}");
    assert!(
        size > 10 * blank,
        "screenshot {size} bytes, a blank page {blank}"
    );
}
