//! Error lines that stay readable: after the first 100 problems of one kind
//! in a file only their number goes on (a line per kind at the end of the
//! file in tables, `errors_by_kind` in the JSON summary); `--all-errors`
//! lists them all, for `messages` and `check`.

mod report_util;

use report_util::*;
use serde_json::Value;

/// 250 fragments that never complete, 130 datagrams that are not valid
/// SIP, and one OPTIONS.
fn flood(dir: &tempfile::TempDir, name: &str) -> std::path::PathBuf {
    let mut packets: Vec<Packet> = (0..250u16)
        .map(|id| Packet::whole(lone_fragment(id + 1)))
        .collect();
    packets.extend((0..130).map(|n| Packet::whole(malformed_sip(n))));
    packets.push(Packet::whole(udp(
        [10, 0, 0, 1],
        [10, 0, 0, 2],
        5060,
        5060,
        &options(b"ok-1"),
    )));
    write(dir, name, &pcap(&packets, 65535))
}

fn errors_of<'a>(lines: &'a [Value], kind: &str) -> Vec<&'a Value> {
    lines
        .iter()
        .filter(|v| v["type"] == "error" && v["kind"] == kind)
        .collect()
}

#[test]
fn json_lists_100_of_a_kind_and_counts_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let p = flood(&dir, "flood.pcap");
    for command in ["messages", "check"] {
        let out = sipflow(&[command, "--format", "json", p.to_str().unwrap()]);
        let lines = out.json();
        assert_eq!(errors_of(&lines, "fragment").len(), 100, "{command}");
        assert_eq!(errors_of(&lines, "malformed-sip").len(), 100, "{command}");
        // The first ones, in capture order.
        assert_eq!(errors_of(&lines, "malformed-sip")[0]["frame"], 251);
        assert_eq!(errors_of(&lines, "malformed-sip")[99]["frame"], 350);
        let summary = lines.last().unwrap();
        assert_eq!(summary["type"], "summary");
        assert_eq!(summary["errors"], 380, "{command}: {summary}");
        assert_eq!(
            summary["errors_by_kind"],
            serde_json::json!({"fragment": 250, "malformed-sip": 130}),
            "{command}"
        );
        assert_eq!(summary["messages"], 1);
        let all = sipflow(&[
            command,
            "--format",
            "json",
            "--all-errors",
            p.to_str().unwrap(),
        ]);
        let lines = all.json();
        assert_eq!(errors_of(&lines, "fragment").len(), 250, "{command}");
        assert_eq!(errors_of(&lines, "malformed-sip").len(), 130, "{command}");
        assert_eq!(lines.last().unwrap()["errors"], 380);
    }
}

#[test]
fn tables_print_100_of_a_kind_then_one_line_with_the_count() {
    let dir = tempfile::tempdir().unwrap();
    let p = flood(&dir, "flood.pcap");
    let file = p.to_str().unwrap();
    for command in ["messages", "check"] {
        let out = sipflow(&[command, file]);
        let err = out.stderr();
        let warnings = |what: &str| {
            err.lines()
                .filter(|l| l.starts_with("warning: ") && l.contains(what))
                .count()
        };
        assert_eq!(warnings("still incomplete"), 100, "{command}: {err}");
        assert_eq!(warnings("not a valid SIP message"), 100, "{command}: {err}");
        let more: Vec<&str> = err.lines().filter(|l| l.starts_with("… and ")).collect();
        assert_eq!(
            more,
            vec![
                format!("… and 150 more `fragment` problems in {file} (--all-errors lists them)"),
                format!(
                    "… and 30 more `malformed-sip` problems in {file} (--all-errors lists them)"
                ),
            ],
            "{command}"
        );
        if command == "check" {
            // No flow, and the fragments may have hidden SIP: exit 3, and
            // why in one line.
            assert_eq!(out.code, 3);
            assert!(err.ends_with(&format!(
                "warning: no flow instance in {file}, and 250 input problems (250 fragment) \
                 may have hidden SIP messages: nothing could be judged\n"
            )));
            assert_eq!(err.lines().count(), 203, "{command}: {err}");
        } else {
            assert_eq!(out.code, 0);
            assert_eq!(err.lines().count(), 202, "{command}: {err}");
        }
        // The totals, per kind, on the summary line.
        assert!(
            out.stdout()
                .contains("380 input problems (250 fragment, 130 malformed-sip)"),
            "{command}: {}",
            out.stdout()
        );
        let all = sipflow(&[command, "--all-errors", file]);
        let err = all.stderr();
        assert_eq!(
            err.lines()
                .filter(|l| l.contains("still incomplete"))
                .count(),
            250
        );
        assert_eq!(
            err.lines()
                .filter(|l| l.contains("not a valid SIP"))
                .count(),
            130
        );
        assert!(!err.contains("… and"), "{err}");
    }
}

/// The limit is per file: each of two files lists its first 100.
#[test]
fn the_limit_is_per_file_and_the_totals_per_run() {
    let dir = tempfile::tempdir().unwrap();
    let a = flood(&dir, "a.pcap");
    let b = flood(&dir, "b.pcap");
    let out = sipflow(&[
        "messages",
        "--format",
        "json",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
    ]);
    let lines = out.json();
    for f in [&a, &b] {
        let n = lines
            .iter()
            .filter(|v| {
                v["type"] == "error" && v["kind"] == "fragment" && v["file"] == f.to_str().unwrap()
            })
            .count();
        assert_eq!(n, 100);
    }
    let summary = lines.last().unwrap();
    assert_eq!(summary["errors"], 760);
    assert_eq!(summary["errors_by_kind"]["fragment"], 500);
}

/// A clean run still has the field, empty.
#[test]
fn a_clean_run_has_no_errors_by_kind() {
    let out = sipflow(&["messages", "--format", "json", "samples/messages/udp.pcap"]);
    let summary = out.json().pop().unwrap();
    assert_eq!(summary["errors"], 0);
    assert_eq!(summary["errors_by_kind"], serde_json::json!({}));
}
