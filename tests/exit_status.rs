//! The exit status of `check` (docs/report-json.md): 0 every instance
//! passed or was partial, or the capture holds readable SIP but no flow of
//! the rules · 1 a flow failed, or an `--expect`ed rule has no instance ·
//! 2 could not run · 3 nothing could be judged: no instance, and no
//! readable SIP or input problems that hid SIP (frames cut at the snaplen,
//! TCP gaps, damaged records). Precedence 2, 1, 3, 0. The table says why
//! in one line.

mod report_util;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use report_util::*;

const OK_UDP: &str = "samples/flows/poc-preest-release-self/ok-udp.pcap";
const OK_TCP: &str = "samples/flows/poc-preest-release-self/ok-tcp.pcap";
const WRONG: &str = "samples/flows/poc-preest-release-self/wrong.pcap";

/// Frames of `sample` that carry a SIP message, as `messages` lists them.
fn sip_frames(sample: &str) -> BTreeSet<u64> {
    sipflow(&["messages", "--format", "json", sample])
        .json()
        .iter()
        .filter(|v| v["type"] == "message")
        .map(|v| v["frame"].as_u64().unwrap())
        .collect()
}

/// `sample` with every frame cut to 200 bytes, as `tcpdump -s 200` keeps
/// them: written here (record by record) and, when installed, by
/// `editcap -s 200`.
fn cut_at_200(dir: &tempfile::TempDir, sample: &str) -> Vec<PathBuf> {
    let (header, mut recs) = records(&std::fs::read(root().join(sample)).unwrap());
    for r in &mut recs {
        r.data.truncate(200);
    }
    let mut header = header;
    header[16..20].copy_from_slice(&200u32.to_le_bytes());
    let mut out = vec![write(dir, "cut-here.pcap", &from_records(&header, &recs))];
    let by_editcap = dir.path().join("cut-editcap.pcap");
    match Command::new("editcap")
        .args(["-s", "200"])
        .arg(root().join(sample))
        .arg(&by_editcap)
        .output()
    {
        Ok(o) if o.status.success() => out.push(by_editcap),
        _ => eprintln!("editcap not installed: the capture cut by editcap is not checked"),
    }
    out
}

#[test]
fn every_sip_frame_cut_at_the_snaplen_exits_3_with_one_line() {
    for sample in [OK_UDP, OK_TCP] {
        let dir = tempfile::tempdir().unwrap();
        every_sip_frame_cut(&dir, sample);
    }
}

fn every_sip_frame_cut(dir: &tempfile::TempDir, sample: &str) {
    let n = sip_frames(sample).len();
    assert!(n > 10, "{sample}: {n}");
    for p in cut_at_200(dir, sample) {
        let file = p.to_str().unwrap();
        let out = sipflow(&["check", file]);
        assert_eq!(out.code, 3, "{}", out.stderr());
        // One line says why, instead of a warning per frame.
        assert_eq!(
            out.stderr(),
            format!(
                "warning: {file}: {n} of {n} SIP frames were cut at the capture's snaplen of \
                 200 bytes: capture again with -s 0\n"
            )
        );
        assert!(out.stdout().contains("no flow instance found"));
        // JSON: the same status; every cut frame is a `truncated` error.
        let out = sipflow(&["check", "--format", "json", file]);
        assert_eq!(out.code, 3);
        let lines = out.json();
        let summary = lines.last().unwrap();
        assert_eq!(summary["messages"], 0);
        assert_eq!(summary["errors_by_kind"]["truncated"], n as u64);
        // Nothing hidden: --all-errors prints them all, then the line.
        let out = sipflow(&["check", "--all-errors", file]);
        assert_eq!(out.code, 3);
        let err = out.stderr();
        assert_eq!(
            err.lines().filter(|l| l.contains(": frame ")).count(),
            n,
            "{err}"
        );
        assert!(
            err.contains(&format!("{n} of {n} SIP frames were cut")),
            "{err}"
        );
        // `messages` says it too (and still exits 0: nothing is judged).
        let out = sipflow(&["messages", file]);
        assert_eq!(out.code, 0);
        assert!(
            out.stderr()
                .contains("SIP frames were cut at the capture's snaplen of 200 bytes")
        );
    }
}

/// Only some frames cut: the line counts them among the SIP frames; the
/// flow is found in what is left or not, and the status follows it.
#[test]
fn some_sip_frames_cut_are_counted_among_all_sip_frames() {
    let dir = tempfile::tempdir().unwrap();
    let frames = sip_frames(OK_UDP);
    let (header, mut recs) = records(&std::fs::read(root().join(OK_UDP)).unwrap());
    // Cut the first two SIP frames (a REGISTER and its 200 OK, before the
    // flow) to 120 bytes.
    let cut: Vec<u64> = frames.iter().take(2).copied().collect();
    for &f in &cut {
        recs[f as usize - 1].data.truncate(120);
    }
    let p = write(&dir, "two-cut.pcap", &from_records(&header, &recs));
    let file = p.to_str().unwrap();
    let out = sipflow(&["check", file]);
    let n = frames.len();
    assert_eq!(
        out.stderr(),
        format!(
            "warning: {file}: 2 of {n} SIP frames were cut at the capture's snaplen of 120 \
             bytes: capture again with -s 0\n"
        )
    );
    // The flow is still found whole: the status is its verdict.
    assert_eq!(out.code, 0, "{}", out.stdout());
}

#[test]
fn a_capture_without_sip_exits_3_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let packets: Vec<Packet> = (0..3)
        .map(|i| {
            Packet::whole(udp(
                [10, 0, 0, 1],
                [10, 0, 0, 53],
                3000 + i,
                53,
                b"\x12\x34\x01\x00\x00\x01dns?",
            ))
        })
        .collect();
    let p = write(&dir, "dns.pcap", &pcap(&packets, 65535));
    let file = p.to_str().unwrap();
    let out = sipflow(&["check", file]);
    assert_eq!(out.code, 3);
    assert_eq!(
        out.stderr(),
        format!(
            "warning: no SIP message in {file}: none of its 3 frames carries readable SIP over \
             UDP, TCP or SCTP\n"
        )
    );
    let out = sipflow(&["check", "--format", "json", file]);
    assert_eq!(out.code, 3);
    assert_eq!(out.json().last().unwrap()["messages"], 0);
    // An empty capture too.
    let empty = write(&dir, "empty.pcap", &pcap(&[], 65535));
    let out = sipflow(&["check", empty.to_str().unwrap()]);
    assert_eq!(out.code, 3);
    assert!(
        out.stderr().contains("it holds no frames"),
        "{}",
        out.stderr()
    );
}

#[test]
fn readable_sip_without_a_flow_exits_0_unless_a_rule_is_expected() {
    // A call and its OPTIONS: SIP, but no flow of the built-in rules.
    let f = "samples/messages/udp.pcap";
    let out = sipflow(&["check", f]);
    assert_eq!(out.code, 0);
    assert_eq!(out.stderr(), "");
    let out = sipflow(&["check", "--format", "json", f]);
    assert_eq!(out.code, 0);
    assert_eq!(out.json().last().unwrap()["instances"], 0);
    let out = sipflow(&["check", "--expect", "poc-preest-release-self", f]);
    assert_eq!(out.code, 1);
    assert!(out.stderr().contains("no instance of this flow was found"));
}

/// A SIP message that does not parse beside readable ones hides nothing:
/// it was seen and reported.
#[test]
fn malformed_sip_beside_readable_sip_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let packets = [
        Packet::whole(udp(
            [10, 0, 0, 1],
            [10, 0, 0, 2],
            5060,
            5060,
            &options(b"ok-1"),
        )),
        Packet::whole(malformed_sip(1)),
    ];
    let p = write(&dir, "malformed.pcap", &pcap(&packets, 65535));
    let out = sipflow(&["check", p.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stderr());
}

/// A TCP segment missing: the stream's gap may have hidden SIP, and no
/// flow was found: nothing could be judged.
#[test]
fn a_tcp_gap_with_no_flow_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let sample = "samples/messages/tcp.pcap";
    let frames = sip_frames(sample);
    let (header, mut recs) = records(&std::fs::read(root().join(sample)).unwrap());
    // Drop the second SIP frame (the 200 OK to the REGISTER).
    let gone = *frames.iter().nth(1).unwrap();
    recs.remove(gone as usize - 1);
    let p = write(&dir, "gap.pcap", &from_records(&header, &recs));
    let file = p.to_str().unwrap();
    let out = sipflow(&["check", "--format", "json", file]);
    let summary = out.json().pop().unwrap();
    assert!(
        summary["errors_by_kind"]["tcp-gap"].as_u64() >= Some(1),
        "{summary}"
    );
    assert!(summary["messages"].as_u64() > Some(0));
    assert_eq!(out.code, 3, "{summary}");
    let out = sipflow(&["check", file]);
    assert_eq!(out.code, 3);
    assert!(
        out.stderr()
            .contains(&format!("warning: no flow instance in {file}, and ")),
        "{}",
        out.stderr()
    );
    // The same capture uncut: readable SIP, no flow, nothing hidden.
    assert_eq!(sipflow(&["check", sample]).code, 0);
}

#[test]
fn precedence_is_2_then_1_then_3_then_0() {
    let dir = tempfile::tempdir().unwrap();
    let cut = cut_at_200(&dir, OK_UDP).remove(0);
    let cut = cut.to_str().unwrap();
    let junk = write(&dir, "notes.txt", b"not a capture\n");
    let junk = junk.to_str().unwrap();
    let code = |files: &[&str]| {
        let mut args = vec!["check", "--format", "json"];
        args.extend_from_slice(files);
        sipflow(&args).code
    };
    assert_eq!(code(&[cut]), 3);
    assert_eq!(code(&[WRONG, cut]), 1, "a failed flow beats nothing judged");
    assert_eq!(code(&[junk, WRONG, cut]), 2, "could not run beats all");
    assert_eq!(code(&[junk, cut]), 2);
    // An instance was found (and passed): something was judged.
    assert_eq!(code(&[OK_UDP, cut]), 0);
    let args = ["check", "--expect", "poc-preest-release-session", cut];
    assert_eq!(sipflow(&args).code, 1, "a missing --expect is 1, not 3");
}
