//! `sipflow messages` agrees with tshark: on every capture of `samples/`
//! and of the external corpus (`$SIPFLOW_CORPUS`), the list of
//! (frame, method or status, Call-ID) is tshark's
//! (`tshark -r F -Y sip -T fields -e frame.number -e sip.Method
//! -e sip.Status-Code -e sip.Call-ID`).
//!
//! Where sipflow deliberately differs, the difference is listed below with
//! the file and the reason; nothing is skipped silently.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// One SIP message: frame, method or status, Call-ID.
type Entry = (u64, String, String);

/// Deliberate differences from tshark, by file name (relative to the
/// corpus or samples root). Each names a tshark display filter that selects
/// the frames concerned, and why sipflow differs there.
struct Deviation {
    file: &'static str,
    /// Frames matching this filter are left out of both lists.
    tshark_filter: &'static str,
    why: &'static str,
}

const DEVIATIONS: &[Deviation] = &[
    Deviation {
        file: "captures/ipfixprobe/sip.pcap",
        tshark_filter: "icmp",
        why: "SIP quoted inside an ICMP error is the datagram that caused the error, not traffic; tshark dissects the quote as a message",
    },
    Deviation {
        file: "captures/ndpi/fuzz-2006-06-26-2594.pcap",
        tshark_filter: "frame.number == 182 || frame.number == 247",
        why: "fuzzed bytes: frame 182's Call-ID holds a NUL byte (tshark's field output stops at it, sipflow reports the whole value); \
              frame 247's request line ends with a lone CR (tshark takes it for a line end, sipflow follows RFC 3261: CRLF, or LF alone)",
    },
];

/// The frames a deviation names.
fn frames_matching(path: &Path, filter: &str) -> BTreeSet<u64> {
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(path)
        .args(["-Y", filter, "-T", "fields", "-e", "frame.number"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

fn corpus() -> Option<PathBuf> {
    std::env::var_os("SIPFLOW_CORPUS").map(PathBuf::from)
}

fn have_tshark() -> bool {
    Command::new("tshark")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// tshark's messages, or None when tshark cannot read the file.
fn tshark_messages(path: &Path) -> Option<Vec<Entry>> {
    let filter = "sip";
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(path)
        .args([
            "-Y",
            filter,
            "-T",
            "fields",
            "-E",
            "occurrence=a",
            "-E",
            "aggregator=\u{1}",
        ])
        .args([
            "-e",
            "frame.number",
            "-e",
            "sip.Method",
            "-e",
            "sip.Status-Code",
            "-e",
            "sip.Call-ID",
        ])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() && text.trim().is_empty() {
        return None;
    }
    let mut entries = Vec::new();
    for line in text.lines() {
        let cols: Vec<&str> = line.split('\t').collect();
        let frame: u64 = cols[0].parse().ok()?;
        let methods: Vec<&str> = cols
            .get(1)
            .map(|c| c.split('\u{1}').collect())
            .unwrap_or_default();
        let statuses: Vec<&str> = cols
            .get(2)
            .map(|c| c.split('\u{1}').collect())
            .unwrap_or_default();
        let call_ids: Vec<&str> = cols
            .get(3)
            .map(|c| c.split('\u{1}').collect())
            .unwrap_or_default();
        // tshark gives one value per message for each field it has; a frame
        // with two messages gives two methods/statuses in message order only
        // when both are of one kind, so pair kinds with Call-IDs in order.
        let kinds: Vec<String> = methods
            .iter()
            .filter(|m| !m.is_empty())
            .map(|m| m.to_string())
            .chain(
                statuses
                    .iter()
                    .filter(|s| !s.is_empty())
                    .map(|s| s.to_string()),
            )
            .collect();
        for (i, kind) in kinds.iter().enumerate() {
            let call_id = call_ids.get(i).copied().unwrap_or("").to_string();
            entries.push((frame, kind.clone(), call_id));
        }
    }
    Some(entries)
}

fn sipflow_messages(path: &Path) -> (Vec<Entry>, Vec<Value>, i32) {
    let out = Command::new(env!("CARGO_BIN_EXE_sipflow"))
        .args(["messages", "--format", "json"])
        .arg(path)
        .output()
        .unwrap();
    let mut entries = Vec::new();
    let mut errors = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("{}: not JSON: {line}: {e}", path.display()));
        match v["type"].as_str() {
            Some("message") => {
                let kind = match (&v["method"], &v["status"]) {
                    (Value::String(m), _) => m.clone(),
                    (_, Value::Number(n)) => n.to_string(),
                    _ => panic!("message without method or status: {v}"),
                };
                entries.push((
                    v["frame"].as_u64().unwrap(),
                    kind,
                    v["call_id"].as_str().unwrap_or("").to_string(),
                ));
            }
            Some("error") => errors.push(v),
            _ => {}
        }
    }
    (entries, errors, out.status.code().unwrap_or(-1))
}

/// Compare as sets of (frame, kind, call-id) with multiplicity per frame
/// ignored for ordering inside one frame.
fn compare(name: &str, ours: &[Entry], theirs: &[Entry]) -> Result<(), String> {
    let a: BTreeSet<&Entry> = ours.iter().collect();
    let b: BTreeSet<&Entry> = theirs.iter().collect();
    if a == b && ours.len() == theirs.len() {
        return Ok(());
    }
    let only_ours: Vec<_> = a.difference(&b).take(5).collect();
    let only_theirs: Vec<_> = b.difference(&a).take(5).collect();
    Err(format!(
        "{name}: sipflow {} messages, tshark {}; only sipflow: {only_ours:?}; only tshark: {only_theirs:?}",
        ours.len(),
        theirs.len()
    ))
}

fn check_tree(root: &Path, label: &str) -> (usize, Vec<String>) {
    let files = common::capture_files(root);
    let mut failures = Vec::new();
    let mut compared = 0;
    for path in files {
        let rel = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let deviation = DEVIATIONS.iter().find(|d| d.file == rel);
        let Some(mut theirs) = tshark_messages(&path) else {
            // tshark cannot read it: sipflow must say why, not crash.
            let (_, _, code) = sipflow_messages(&path);
            assert!(code == 0 || code == 2, "{label}/{rel}: exit {code}");
            eprintln!("{label}/{rel}: tshark cannot read it; sipflow exit {code}");
            continue;
        };
        let (mut ours, errors, code) = sipflow_messages(&path);
        if let Some(d) = deviation {
            let skip = frames_matching(&path, d.tshark_filter);
            assert!(
                !skip.is_empty(),
                "{label}/{rel}: deviation `{}` matches no frame",
                d.tshark_filter
            );
            theirs.retain(|e| !skip.contains(&e.0));
            ours.retain(|e| !skip.contains(&e.0));
        }
        if code != 0 {
            // Not a capture sipflow reads (NetMon, snoop): exit 2 with a message.
            assert_eq!(code, 2, "{label}/{rel}");
            assert!(
                theirs.is_empty() || !errors.is_empty(),
                "{label}/{rel}: exit 2 without an error line"
            );
            eprintln!(
                "{label}/{rel}: not read by sipflow ({}), tshark finds {} messages",
                errors[0]["message"],
                theirs.len()
            );
            if !theirs.is_empty() && !rel.ends_with(".cap") && !rel.ends_with(".snoop") {
                failures.push(format!(
                    "{label}/{rel}: sipflow refused a file tshark reads"
                ));
            }
            continue;
        }
        compared += 1;
        if let Some(d) = deviation {
            eprintln!(
                "{label}/{rel}: differs from tshark on purpose where `{}`: {}",
                d.tshark_filter, d.why
            );
        }
        if let Err(e) = compare(&format!("{label}/{rel}"), &ours, &theirs) {
            failures.push(e);
        }
    }
    (compared, failures)
}

#[test]
fn samples_agree_with_tshark() {
    if !have_tshark() {
        eprintln!("NOT RUN: tshark is not installed (apt-get install tshark)");
        return;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("samples");
    let (compared, failures) = check_tree(&root, "samples");
    assert!(compared >= 30, "only {compared} samples compared");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn corpus_agrees_with_tshark() {
    let Some(corpus) = corpus() else {
        eprintln!("NOT RUN: set SIPFLOW_CORPUS to the external corpus (../shared/corpus)");
        return;
    };
    if !have_tshark() {
        eprintln!("NOT RUN: tshark is not installed (apt-get install tshark)");
        return;
    }
    let (compared, failures) = check_tree(&corpus, "corpus");
    assert!(compared >= 100, "only {compared} corpus files compared");
    assert!(
        failures.is_empty(),
        "{} files differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
