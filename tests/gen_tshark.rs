//! The trace generator, checked against tshark (the reference reader).
//!
//! sipflow-gen is used to check sipflow, so these tests never use sipflow's
//! own parsers: every property is read back with tshark. They generate one
//! small trace with faults, then check that tshark reads it without any
//! malformed packet or error, finds exactly the SIP messages the generator
//! says it wrote (including those split over TCP segments or IP
//! fragments), and sees every step the truth file points at as the message
//! flows.md says that step is.
//!
//! tshark is required; when it is not installed the tests say so and pass.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// A generated trace, its truth lines and the generator's summary.
struct Trace {
    _dir: tempfile::TempDir,
    pcap: PathBuf,
    truth: Vec<serde_json::Value>,
    summary: HashMap<String, u64>,
}

fn tshark_available() -> bool {
    Command::new("tshark")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Run sipflow-gen with `args` plus `--out DIR/t.pcap --truth DIR/t.truth`.
fn generate(args: &[&str]) -> Trace {
    let dir = tempfile::tempdir().expect("temporary directory");
    let pcap = dir.path().join("t.pcap");
    let truth = dir.path().join("t.truth");
    let out = Command::new(env!("CARGO_BIN_EXE_sipflow-gen"))
        .args(args)
        .arg("--out")
        .arg(&pcap)
        .arg("--truth")
        .arg(&truth)
        .output()
        .expect("run sipflow-gen");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "sipflow-gen failed: {stderr}");
    // Summary lines are "key value" or "instances RULE pass N fail M".
    let mut summary = HashMap::new();
    for line in stderr.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        match w.as_slice() {
            ["instances", rule, "pass", p, "fail", f] => {
                summary.insert(format!("{rule} pass"), p.parse().expect("count"));
                summary.insert(format!("{rule} fail"), f.parse().expect("count"));
            }
            [key, value] => {
                if let Ok(v) = value.parse() {
                    summary.insert(key.to_string(), v);
                }
            }
            _ => {}
        }
    }
    let truth = std::fs::read_to_string(&truth)
        .expect("truth file")
        .lines()
        .map(|l| serde_json::from_str(l).expect("truth line is JSON"))
        .collect();
    Trace {
        _dir: dir,
        pcap,
        truth,
        summary,
    }
}

/// The shared trace: about 4 MB, a fifth of the PoC instances faulty.
fn trace() -> &'static Trace {
    static T: OnceLock<Trace> = OnceLock::new();
    T.get_or_init(|| generate(&["--size", "4MB", "--seed", "7", "--faults", "0.2"]))
}

/// Run tshark on `pcap` with extra arguments; returns its standard output.
fn tshark(pcap: &Path, args: &[&str]) -> String {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(pcap)
        .args(args)
        .output()
        .expect("run tshark");
    assert!(
        out.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Fields of every SIP frame, one row per frame; several messages in one
/// frame give `|`-separated values.
fn sip_fields(pcap: &Path, fields: &[&str]) -> Vec<Vec<String>> {
    let mut args = vec![
        "-Y",
        "sip",
        "-T",
        "fields",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=|",
    ];
    for f in fields {
        args.push("-e");
        args.push(f);
    }
    tshark(pcap, &args)
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

fn count_values(rows: &[Vec<String>], col: usize) -> u64 {
    rows.iter()
        .filter_map(|r| r.get(col))
        .filter(|v| !v.is_empty())
        .map(|v| v.split('|').count() as u64)
        .sum()
}

macro_rules! require_tshark {
    () => {
        if !tshark_available() {
            eprintln!("tshark is not installed: generator test not run");
            return;
        }
    };
}

#[test]
fn tshark_reads_the_trace_without_malformed_packets_or_errors() {
    require_tshark!();
    let t = trace();
    let bad = tshark(
        &t.pcap,
        &["-Y", "_ws.malformed || _ws.expert.severity >= error"],
    );
    assert!(bad.is_empty(), "tshark flags packets:\n{bad}");
    // Not even warnings (TCP sequence trouble, bad checksums, SIP
    // Content-Length mismatches would be warnings).
    let warn = tshark(&t.pcap, &["-Y", "_ws.expert.severity >= warning"]);
    assert!(warn.is_empty(), "tshark warns about packets:\n{warn}");
    let frames = tshark(&t.pcap, &["-T", "fields", "-e", "frame.number"])
        .lines()
        .count() as u64;
    assert_eq!(Some(&frames), t.summary.get("frames"));
    // With checksum validation on (off by default), every IPv4, UDP and
    // TCP checksum verifies.
    let check = [
        "-o",
        "ip.check_checksum:TRUE",
        "-o",
        "udp.check_checksum:TRUE",
        "-o",
        "tcp.check_checksum:TRUE",
    ];
    let mut args = check.to_vec();
    args.extend([
        "-Y",
        "ip.checksum.status != 1 || udp.checksum.status == 0 || tcp.checksum.status == 0",
    ]);
    let bad = tshark(&t.pcap, &args);
    assert!(bad.is_empty(), "bad checksums:\n{bad}");
    let mut args = check.to_vec();
    args.extend(["-Y", "udp.checksum.status == 1 || tcp.checksum.status == 1"]);
    let good = tshark(&t.pcap, &args).lines().count() as u64;
    // Every frame but the later IP fragments has a verified checksum.
    assert!(
        good + t.summary["fragmented-messages"] * 2 >= frames,
        "{good} of {frames}"
    );
}

#[test]
fn tshark_finds_every_sip_message_the_generator_wrote() {
    require_tshark!();
    let t = trace();
    let rows = sip_fields(
        &t.pcap,
        &[
            "sip.Call-ID",
            "tcp.stream",
            "tcp.reassembled.length",
            "ip.fragment.count",
        ],
    );
    let written = t.summary["sip-messages"];
    assert!(written > 2000, "too small a trace: {written}");
    assert_eq!(count_values(&rows, 0), written, "SIP messages");
    // Over TCP: every message, and the split ones reassembled.
    let over_tcp: u64 = rows
        .iter()
        .filter(|r| r.get(1).is_some_and(|s| !s.is_empty()))
        .map(|r| r[0].split('|').count() as u64)
        .sum();
    assert_eq!(over_tcp, t.summary["tcp-messages"], "SIP messages over TCP");
    let split = t.summary["tcp-split-messages"];
    assert!(split > 0, "no TCP message was split");
    assert_eq!(
        count_values(&rows, 2),
        split,
        "TCP-split messages tshark reassembled"
    );
    // UDP messages above the MTU, reassembled from IP fragments.
    let frag = t.summary["fragmented-messages"];
    assert!(frag > 0, "no message was fragmented");
    let reassembled = rows
        .iter()
        .filter(|r| r.get(3).is_some_and(|s| !s.is_empty()))
        .count() as u64;
    assert_eq!(
        reassembled, frag,
        "fragmented SIP messages tshark reassembled"
    );
    // Some segments carry two messages: tshark shows two Call-IDs there.
    let shared = rows.iter().filter(|r| r[0].contains('|')).count() as u64;
    assert!(shared > 0 && t.summary["tcp-shared-segments"] > 0);
}

/// The message flows.md says each step is: a request method, or a response
/// to a method.
fn expected(rule: &str, step: u64) -> (&'static str, bool) {
    let (req, resp) = (false, true);
    match (rule, step) {
        ("poc-preest-release-self", 1..=2) => ("REFER", req),
        ("poc-preest-release-self", 3..=5) => ("BYE", req),
        ("poc-preest-release-self", 6..=8) => ("BYE", resp),
        ("poc-preest-release-self", 9..=10) => ("NOTIFY", req),
        ("poc-preest-release-self", 11..=12) => ("NOTIFY", resp),
        ("poc-preest-release-session", 1..=5) => ("REFER", req),
        ("poc-preest-release-session", 6..=8) => ("BYE", req),
        ("poc-preest-release-session", 9..=11) => ("BYE", resp),
        ("poc-preest-release-session", 12..=14) => ("REFER", resp),
        ("poc-preest-release-session", 15..=16) => ("NOTIFY", req),
        ("poc-preest-release-session", 17..=18) => ("NOTIFY", resp),
        ("poc-preest-participant-notify", 1..=2) => ("NOTIFY", req),
        ("poc-preest-participant-notify", 3..=4) => ("NOTIFY", resp),
        _ => panic!("no step {step} in {rule}"),
    }
}

#[test]
fn truth_points_at_the_right_messages() {
    require_tshark!();
    let t = trace();
    let rows = sip_fields(
        &t.pcap,
        &[
            "frame.number",
            "sip.Method",
            "sip.Status-Code",
            "sip.CSeq.method",
            "sip.Call-ID",
            "sip.r-uri",
            "sipfrag.line",
        ],
    );
    let by_frame: HashMap<u64, &Vec<String>> = rows
        .iter()
        .filter_map(|r| Some((r.first()?.parse().ok()?, r)))
        .collect();
    let col = |f: u64, i: usize| -> Vec<String> {
        by_frame
            .get(&f)
            .and_then(|r| r.get(i))
            .map(|v| v.split('|').map(str::to_string).collect())
            .unwrap_or_default()
    };

    // One truth line per PoC instance, as many as the summary counts.
    let mut per_verdict: HashMap<String, u64> = HashMap::new();
    for line in &t.truth {
        let key = format!(
            "{} {}",
            line["rule"].as_str().unwrap(),
            line["verdict"].as_str().unwrap()
        );
        *per_verdict.entry(key).or_default() += 1;
    }
    for (k, v) in &per_verdict {
        assert_eq!(t.summary.get(k), Some(v), "{k}");
    }
    assert!(
        per_verdict.keys().filter(|k| k.ends_with("fail")).count() == 3,
        "{per_verdict:?}"
    );

    let mut checked = (0, 0, 0);
    for line in &t.truth {
        let rule = line["rule"].as_str().unwrap();
        let trigger = line["trigger_frame"].as_u64().unwrap();
        let call_id = line["call_id"].as_str().unwrap();
        // The trigger is step 1: a REFER (flows 1, 2) or NOTIFY (flow 3)
        // request with the instance's Call-ID.
        let (method, _) = expected(rule, 1);
        assert!(col(trigger, 1).iter().any(|m| m == method), "{line}");
        assert!(col(trigger, 4).iter().any(|c| c == call_id), "{line}");
        let ruri = col(trigger, 5).join("|");
        match rule {
            "poc-preest-release-self" => assert!(ruri.contains("sip:pre-"), "{line}"),
            "poc-preest-release-session" => assert!(ruri.contains("sip:session-"), "{line}"),
            _ => {}
        }
        let verdict = line["verdict"].as_str().unwrap();
        let steps = line["steps"].as_array().unwrap();
        assert_eq!(verdict == "pass", steps.is_empty(), "{line}");
        let mut last_step = 0;
        for s in steps {
            let n = s["step"].as_u64().unwrap();
            assert!(n >= last_step, "steps out of order in {line}");
            last_step = n;
            let status = s["status"].as_str().unwrap();
            assert!(n > 1 || status != "missing", "trigger missing: {line}");
            let Some(frame) = s["frame"].as_u64() else {
                assert_eq!(status, "missing", "{line}");
                continue;
            };
            // A step that was seen: tshark shows the expected message there.
            let (m, is_resp) = expected(rule, n);
            let shown = if is_resp {
                col(frame, 3)
            } else {
                col(frame, 1)
            };
            assert!(
                shown.iter().any(|x| x == m),
                "step {n} at frame {frame} is not {m}: {line}"
            );
            if is_resp {
                assert!(
                    !col(frame, 2).is_empty(),
                    "step {n} at frame {frame} is no response"
                );
            }
            if status == "wrong" {
                // A failure status, or a sipfrag carrying one.
                let codes = col(frame, 2);
                let frag = col(frame, 6).join(" ");
                let bad = codes.iter().any(|c| c != "200" && !c.is_empty())
                    || (frag.contains("SIP/2.0") && !frag.contains("SIP/2.0 200"));
                assert!(
                    bad,
                    "step {n} at frame {frame} marked wrong but looks right: {line}"
                );
                checked.0 += 1;
            }
            if status == "out-of-order" {
                checked.1 += 1;
            }
            if let Some(p) = s.get("participant") {
                // ctrl-a's BYE toward that server has it as Request-URI.
                if (6..=8).contains(&n) {
                    let p = p.as_str().unwrap();
                    assert!(col(frame, 5).iter().any(|u| u == p), "{line}");
                }
                checked.2 += 1;
            }
        }
    }
    assert!(
        checked.0 > 0 && checked.1 > 0,
        "no wrong or out-of-order step checked: {checked:?}"
    );
}

#[test]
fn instance_count_mode_and_seed_reproducibility() {
    let a = generate(&["--instances", "30", "--seed", "3"]);
    let b = generate(&["--instances", "30", "--seed", "3"]);
    let c = generate(&["--instances", "30", "--seed", "4"]);
    assert_eq!(a.truth.len(), 30);
    let (fa, fb, fc) = (
        std::fs::read(&a.pcap).unwrap(),
        std::fs::read(&b.pcap).unwrap(),
        std::fs::read(&c.pcap).unwrap(),
    );
    assert_eq!(fa, fb, "same seed, different capture");
    assert_ne!(fa, fc, "different seeds, same capture");
    // Without --faults every instance passes.
    assert!(a.truth.iter().all(|l| l["verdict"] == "pass"));
    // Classic pcap, little-endian, microseconds, Ethernet.
    assert_eq!(&fa[0..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
    assert_eq!(u32::from_le_bytes(fa[20..24].try_into().unwrap()), 1);
}

#[test]
fn bad_arguments_are_refused() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_sipflow-gen"))
            .args(args)
            .output()
            .expect("run sipflow-gen")
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.pcap");
    let out = out.to_str().unwrap();
    for args in [
        vec!["--out", out],
        vec!["--out", out, "--size", "12 parsecs"],
        vec!["--out", out, "--size", "1MB", "--faults", "1.5"],
        vec!["--out", out, "--size", "1MB", "--instances", "3"],
    ] {
        let o = run(&args);
        assert!(!o.status.success(), "{args:?} accepted");
        assert!(!o.stderr.is_empty(), "{args:?}: no message");
    }
}
