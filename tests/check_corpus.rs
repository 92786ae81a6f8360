//! `sipflow check` over every capture of the external corpus (other SIP
//! stacks, other formats, damaged and hostile files): it never panics,
//! writes only well-formed JSON lines with a final summary, and exits 0, 1,
//! 2 (only for files it cannot read as captures) or 3 (no flow found, and
//! no readable SIP or input problems that may have hidden some).

mod common;

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

#[test]
fn check_reads_every_corpus_capture_without_panicking() {
    let Some(corpus) = std::env::var_os("SIPFLOW_CORPUS").map(PathBuf::from) else {
        eprintln!("NOT RUN: set SIPFLOW_CORPUS to the external corpus (../shared/corpus)");
        return;
    };
    let files = common::capture_files(&corpus);
    assert!(files.len() > 100, "only {} files", files.len());
    for f in &files {
        let out = Command::new(env!("CARGO_BIN_EXE_sipflow"))
            .args(["check", "--format", "json"])
            .arg(f)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{}: {stderr}", f.display());
        let code = out.status.code().unwrap_or(-1);
        assert!((0..=3).contains(&code), "{}: exit {code}", f.display());
        let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("{}: not JSON: {l}: {e}", f.display()))
            })
            .collect();
        let summary = lines
            .last()
            .unwrap_or_else(|| panic!("{}: no output", f.display()));
        assert_eq!(summary["type"], "summary", "{}", f.display());
        // Every problem counted per kind; at most 100 of a kind listed.
        let by_kind = summary["errors_by_kind"].as_object().unwrap();
        let total: u64 = by_kind.values().map(|v| v.as_u64().unwrap()).sum();
        assert_eq!(summary["errors"].as_u64(), Some(total), "{}", f.display());
        for (kind, n) in by_kind {
            let listed = lines
                .iter()
                .filter(|v| v["type"] == "error" && v["kind"] == kind.as_str())
                .count() as u64;
            assert_eq!(
                listed,
                n.as_u64().unwrap().min(100),
                "{}: {kind}",
                f.display()
            );
        }
        let errors = lines.iter().filter(|v| v["type"] == "error").count() as u64;
        if code == 2 {
            assert!(errors > 0, "{}: exit 2 without an error line", f.display());
        }
        if code == 3 {
            assert_eq!(summary["instances"], 0, "{}", f.display());
            assert!(
                summary["messages"] == 0 || errors > 0,
                "{}: exit 3 with readable SIP and no problem",
                f.display()
            );
        }
    }
}
