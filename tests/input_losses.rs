//! Silent losses on the reading side, end to end on crafted captures: a
//! message that sipflow cannot read is never dropped without an `error`
//! line naming its frame and why (over-long start lines and header
//! sections, too many headers, junk before a message, absurd
//! Content-Length values over TCP and UDP, NUL bytes before a datagram's
//! start line).

use std::path::{Path, PathBuf};
use std::process::Command;

use etherparse::PacketBuilder;
use serde_json::Value;

struct Run {
    messages: Vec<Value>,
    errors: Vec<Value>,
    summary: Value,
    code: i32,
    stderr: String,
}

fn run(path: &Path) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_sipflow"))
        .args(["messages", "--format", "json"])
        .arg(path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!stderr.contains("panicked"), "{stderr}");
    let mut r = Run {
        messages: Vec::new(),
        errors: Vec::new(),
        summary: Value::Null,
        code: out.status.code().unwrap_or(-1),
        stderr,
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let v: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON: {line}: {e}"));
        match v["type"].as_str() {
            Some("message") => r.messages.push(v),
            Some("error") => r.errors.push(v),
            Some("summary") => r.summary = v,
            _ => panic!("unexpected line {v}"),
        }
    }
    r
}

/// A classic pcap (microseconds, Ethernet) of the given packets.
fn pcap(packets: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&262_144u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    for (i, p) in packets.iter().enumerate() {
        out.extend_from_slice(&(1_700_000_000u32 + i as u32 / 1000).to_le_bytes());
        out.extend_from_slice(&((i as u32 % 1000) * 1000).to_le_bytes());
        out.extend_from_slice(&(p.len() as u32).to_le_bytes());
        out.extend_from_slice(&(p.len() as u32).to_le_bytes());
        out.extend_from_slice(p);
    }
    out
}

fn udp(payload: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .udp(5060, 5060);
    let mut out = Vec::new();
    b.write(&mut out, payload).unwrap();
    out
}

/// One direction of a TCP connection 10.0.0.1:40000 -> 10.0.0.2:5060:
/// the handshake, then `payloads` as consecutive segments.
fn tcp(payloads: &[&[u8]]) -> Vec<Vec<u8>> {
    let seg = |seq: u32, syn: bool, payload: &[u8]| {
        let mut b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(40000, 5060, seq, 65535);
        b = if syn { b.syn() } else { b.ack(1).psh() };
        let mut out = Vec::new();
        b.write(&mut out, payload).unwrap();
        out
    };
    let mut seq = 1000u32;
    let mut out = vec![seg(seq, true, &[])];
    seq += 1;
    for p in payloads {
        out.push(seg(seq, false, p));
        seq = seq.wrapping_add(p.len() as u32);
    }
    out
}

fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// An OPTIONS request with the given request URI and extra header lines.
fn options(uri: &str, extra: &str, call_id: &str) -> String {
    format!(
        "OPTIONS {uri} SIP/2.0\r\nVia: SIP/2.0/TCP 10.0.0.1;branch=z9hG4bK{call_id}\r\n\
         From: <sip:a@10.0.0.1>;tag=1\r\nTo: <sip:b@10.0.0.2>\r\nCall-ID: {call_id}\r\n\
         CSeq: 1 OPTIONS\r\n{extra}Content-Length: 0\r\n\r\n"
    )
}

/// Asserts every error names the file and a frame, and the summary counts
/// them.
fn errors_well_formed(r: &Run, file: &Path) {
    for e in &r.errors {
        assert_eq!(e["file"], file.to_str().unwrap(), "{e}");
        assert!(e["frame"].is_u64(), "{e}");
    }
    assert_eq!(r.summary["errors"].as_u64(), Some(r.errors.len() as u64));
    assert_eq!(r.code, 0, "{}", r.stderr);
}

fn error_texts(r: &Run) -> Vec<(u64, String, String)> {
    r.errors
        .iter()
        .map(|e| {
            (
                e["frame"].as_u64().unwrap_or(0),
                e["kind"].as_str().unwrap_or("").to_string(),
                e["message"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// Cuts `bytes` into segments of `size` bytes, as a sender with that MSS.
fn segments(bytes: &[u8], size: usize) -> Vec<&[u8]> {
    bytes.chunks(size).collect()
}

#[test]
fn a_long_request_line_split_over_tcp_segments_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let long_uri = format!("sip:{}@10.0.0.2", "a".repeat(20_000));
    let big = options(&long_uri, "", "long-1");
    let after = options("sip:b@10.0.0.2", "", "after-1");
    let mut parts = segments(big.as_bytes(), 1400);
    parts.push(after.as_bytes());
    let file = write(&dir, "long-line.pcap", &pcap(&tcp(&parts)));
    let r = run(&file);
    errors_well_formed(&r, &file);
    let errs = error_texts(&r);
    assert_eq!(errs.len(), 1, "{errs:?}");
    let (frame, kind, text) = &errs[0];
    assert_eq!(kind, "overload");
    assert!(
        text.contains("start line")
            && text.contains("16384 bytes")
            && text.contains("OPTIONS sip:aaa"),
        "{text}"
    );
    // Reported in the segment that took the buffered line over the limit:
    // 16384 / 1400 -> the 12th segment, frame 13 (frame 1 is the SYN).
    assert_eq!(*frame, 13);
    // The message after it is still read.
    assert_eq!(r.messages.len(), 1, "{:?}", r.messages);
    assert_eq!(r.messages[0]["call_id"], "after-1");
}

#[test]
fn a_long_start_line_met_while_resynchronising_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let long_uri = format!("sip:{}@10.0.0.2", "b".repeat(20_000));
    let big = options(&long_uri, "", "long-2");
    let after = options("sip:b@10.0.0.2", "", "after-2");
    // The stream begins with the tail of a message (joined mid-stream):
    // the framer is resynchronising when the long line comes.
    let joined = format!("a=rtpmap:0 PCMU/8000\r\n{big}");
    let mut parts = segments(joined.as_bytes(), 1400);
    parts.push(after.as_bytes());
    let file = write(&dir, "long-resync.pcap", &pcap(&tcp(&parts)));
    let r = run(&file);
    errors_well_formed(&r, &file);
    let errs = error_texts(&r);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].1, "overload");
    assert!(errs[0].2.contains("16384 bytes"), "{}", errs[0].2);
    assert_eq!(r.messages.len(), 1);
    assert_eq!(r.messages[0]["call_id"], "after-2");
}

#[test]
fn an_oversized_header_section_over_tcp_is_reported_with_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    // 1.2 MiB of header lines: over the 1 MiB limit on one message.
    let mut extra = String::new();
    let mut i = 0;
    while extra.len() < 1_200_000 {
        extra.push_str(&format!("X-Filler-{i}: {}\r\n", "f".repeat(200)));
        i += 1;
    }
    let big = options("sip:b@10.0.0.2", &extra, "huge-head");
    let after = options("sip:b@10.0.0.2", "", "after-3");
    let mut parts = segments(big.as_bytes(), 60_000);
    parts.push(after.as_bytes());
    let file = write(&dir, "huge-head.pcap", &pcap(&tcp(&parts)));
    let r = run(&file);
    errors_well_formed(&r, &file);
    let errs = error_texts(&r);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].1, "overload");
    assert!(
        errs[0].2.contains("1048576 bytes") && errs[0].2.contains("OPTIONS sip:b@10.0.0.2"),
        "{}",
        errs[0].2
    );
    assert_eq!(r.messages.len(), 1);
    assert_eq!(r.messages[0]["call_id"], "after-3");
}

#[test]
fn many_header_lines_are_read_whole() {
    // No limit on the number of header lines: only on the bytes of a
    // message. 20,000 header lines over TCP and 2,000 in a datagram.
    let dir = tempfile::tempdir().unwrap();
    let lines = |n: usize| (0..n).map(|i| format!("X-H{i}: v\r\n")).collect::<String>();
    let tcp_msg = options("sip:b@10.0.0.2", &lines(20_000), "many-tcp");
    let udp_msg = options("sip:b@10.0.0.2", &lines(2_000), "many-udp");
    let mut packets = tcp(&segments(tcp_msg.as_bytes(), 1400));
    packets.push(udp(udp_msg.as_bytes()));
    let file = write(&dir, "many.pcap", &pcap(&packets));
    let r = run(&file);
    errors_well_formed(&r, &file);
    assert!(r.errors.is_empty(), "{:?}", error_texts(&r));
    let ids: Vec<_> = r.messages.iter().map(|m| m["call_id"].clone()).collect();
    assert_eq!(ids, ["many-tcp", "many-udp"]);
}

#[test]
fn a_message_hidden_at_the_start_of_a_tcp_stream_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let first = options("sip:b@10.0.0.2", "", "hidden-1");
    let bad = options("sip:b@10.0.0.2", "", "bad-1").replacen("OPTIONS ", "OPTIONS  ", 1);
    let after = options("sip:b@10.0.0.2", "", "after-4");
    // NUL bytes before the first message; then a start line with two
    // spaces: neither is read (as tshark), both are reported.
    let nul = [&[0u8; 4][..], first.as_bytes()].concat();
    let file = write(&dir, "hidden.pcap", &pcap(&tcp(&[&nul, after.as_bytes()])));
    let r = run(&file);
    errors_well_formed(&r, &file);
    let errs = error_texts(&r);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].0, 2);
    assert!(
        errs[0].2.contains("4 NUL bytes before a SIP start line")
            && errs[0].2.contains("as Wireshark does")
            && errs[0]
                .2
                .contains("\\x00\\x00\\x00\\x00OPTIONS sip:b@10.0.0.2 SIP/2.0"),
        "{}",
        errs[0].2
    );
    assert_eq!(r.messages.len(), 1);
    assert_eq!(r.messages[0]["call_id"], "after-4");

    // The same with the line split across segments.
    let file = write(
        &dir,
        "hidden-split.pcap",
        &pcap(&tcp(&[&nul[..14], &nul[14..], after.as_bytes()])),
    );
    let r = run(&file);
    errors_well_formed(&r, &file);
    let errs = error_texts(&r);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].0, 3);
    assert!(
        errs[0].2.contains("4 NUL bytes before a SIP start line"),
        "{}",
        errs[0].2
    );
    assert_eq!(r.messages.len(), 1);

    let file = write(
        &dir,
        "bad.pcap",
        &pcap(&tcp(&[bad.as_bytes(), after.as_bytes()])),
    );
    let r = run(&file);
    errors_well_formed(&r, &file);
    let errs = error_texts(&r);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!((errs[0].0, errs[0].1.as_str()), (2, "malformed-sip"));
    assert!(
        errs[0].2.contains("malformed SIP start line") && errs[0].2.contains("single spaces"),
        "{}",
        errs[0].2
    );
    assert_eq!(r.messages.len(), 1);
    assert_eq!(r.messages[0]["call_id"], "after-4");
}

/// tshark 4.0 (`tshark -Y sip`) does not take a datagram whose SIP start
/// line follows NUL bytes for SIP: checked with this very capture. So
/// sipflow does not list it either (`messages` stays tshark's list), but
/// says so, naming the frame.
#[test]
fn a_udp_message_behind_nul_bytes_is_reported_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let m = options("sip:b@10.0.0.2", "", "nul-1");
    let four = [&[0u8; 4][..], m.as_bytes()].concat();
    let one = [&[0u8; 1][..], m.as_bytes()].concat();
    let mixed = [&b"\x00\x01\x7f"[..], m.as_bytes()].concat();
    let packets = vec![
        udp(&four),
        udp(&one),
        udp(&mixed),
        udp(m.as_bytes()),
        // Not SIP and no start line after the NULs: nothing to say.
        udp(&[0u8; 64]),
        udp(&[0x80, 0x00, 0x12, 0x34, 0, 0, 0, 0, 0, 0, 0, 1]),
    ];
    let file = write(&dir, "nul.pcap", &pcap(&packets));
    let r = run(&file);
    errors_well_formed(&r, &file);
    let errs = error_texts(&r);
    assert_eq!(errs.len(), 3, "{errs:?}");
    for ((frame, kind, text), (want_frame, what)) in errs.iter().zip([
        (1, "4 NUL bytes"),
        (2, "1 NUL byte"),
        (3, "3 control bytes"),
    ]) {
        assert_eq!((*frame, kind.as_str()), (want_frame, "malformed-sip"));
        assert!(
            text.contains(&format!("a UDP payload of {what} followed by a SIP start line: not read as SIP, as Wireshark does"))
                && text.contains("OPTIONS sip:b@10.0.0.2 SIP/2.0"),
            "{text}"
        );
    }
    // Only the clean datagram is a message, as tshark lists it.
    assert_eq!(r.messages.len(), 1);
    assert_eq!(r.messages[0]["frame"], 4);
    assert_eq!(r.messages[0]["call_id"], "nul-1");
}

/// Content-Length values beyond 32 bits, as written in the problem texts
/// (the parsed number saturates at 4294967295, which hid them), and a
/// value of thousands of digits cut after 40.
const ABSURD_LENGTHS: [(&str, &str); 5] = [
    ("4294967295", "Content-Length 4294967295 "),
    ("4294967296", "Content-Length 4294967296 "),
    (
        "18446744073709551615",
        "Content-Length 18446744073709551615 ",
    ),
    (
        "100000000000000000000000",
        "Content-Length 100000000000000000000000 ",
    ),
    (
        "",
        "Content-Length 1234567890123456789012345678901234567890... (5000 bytes)",
    ),
];

fn absurd_length(written: &str) -> String {
    if written.is_empty() {
        "1234567890".repeat(500)
    } else {
        written.to_string()
    }
}

#[test]
fn absurd_content_lengths_over_tcp_are_reported_as_written() {
    let dir = tempfile::tempdir().unwrap();
    for (i, (written, shown)) in ABSURD_LENGTHS.iter().enumerate() {
        let len = absurd_length(written);
        let head = format!(
            "MESSAGE sip:b@10.0.0.2 SIP/2.0\r\nCall-ID: big-{i}\r\nCSeq: 1 MESSAGE\r\n\
             Content-Length: {len}\r\n\r\n"
        );
        // 3 MiB of body follow (more than the 1 MiB limit), a line end,
        // then a message.
        let body = "x".repeat(3 << 20) + "\r\n";
        let after = options("sip:b@10.0.0.2", "", "after-big");
        let mut parts = vec![head.as_bytes()];
        parts.extend(segments(body.as_bytes(), 60_000));
        parts.push(after.as_bytes());
        let file = write(&dir, &format!("cl-{i}.pcap"), &pcap(&tcp(&parts)));
        let r = run(&file);
        errors_well_formed(&r, &file);
        let errs = error_texts(&r);
        assert_eq!(errs.len(), 1, "{len}: {errs:?}");
        let (frame, kind, text) = &errs[0];
        assert_eq!((*frame, kind.as_str()), (2, "overload"));
        assert!(text.contains(shown), "{shown}: {text}");
        assert!(
            text.contains("1048576-byte limit on one message over TCP")
                && text.contains("skipped, reading resumes at the next SIP start line"),
            "{text}"
        );
        if !written.starts_with("4294967295") {
            assert!(!text.contains("4294967295"), "{text}");
        }
        assert_eq!(r.messages.len(), 1);
        assert_eq!(r.messages[0]["call_id"], "after-big");
    }
}

/// What bounds the framer's buffer under a Content-Length of 2^32-1: the
/// message is refused from its header section, so nothing of its body is
/// held, whatever arrives after it.
#[test]
fn a_content_length_of_four_gib_does_not_make_the_framer_hold_it() {
    use sipflow::sip::{Framed, Parser, StreamFramer};
    let mut f = StreamFramer::default();
    let mut parser = Parser::new();
    let mut problems = Vec::new();
    let mut messages = Vec::new();
    let mut push = |f: &mut StreamFramer, bytes: &[u8]| {
        f.push(bytes, false, &mut parser, &mut |x| match x {
            Framed::Message(m) => messages.push(m.call_id().unwrap_or("").to_string()),
            Framed::Problem(_, text) => problems.push(text),
        })
    };
    push(
        &mut f,
        b"MESSAGE sip:b@x SIP/2.0\r\nCall-ID: a\r\nCSeq: 1 MESSAGE\r\nContent-Length: 4294967295\r\n\r\n",
    );
    let chunk = vec![b'y'; 64 * 1024];
    let mut most = 0;
    for _ in 0..64 {
        push(&mut f, &chunk);
        most = most.max(f.buffered());
    }
    push(&mut f, b"\r\n");
    push(&mut f, options("sip:b@x", "", "after").as_bytes());
    // Only the partial line of the resynchronisation search is kept, and
    // never more than the start-line limit.
    assert!(most <= sipflow::sip::MAX_START_LINE + chunk.len(), "{most}");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("Content-Length 4294967295 "),
        "{}",
        problems[0]
    );
    assert_eq!(messages, ["after"]);
}

#[test]
fn absurd_content_lengths_over_udp_are_reported_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut packets = Vec::new();
    for (i, (written, _)) in ABSURD_LENGTHS.iter().enumerate() {
        let len = absurd_length(written);
        packets.push(udp(format!(
            "MESSAGE sip:b@10.0.0.2 SIP/2.0\r\nCall-ID: udp-{i}\r\nCSeq: 1 MESSAGE\r\n\
             Content-Length: {len}\r\n\r\nbody"
        )
        .as_bytes()));
    }
    let file = write(&dir, "cl-udp.pcap", &pcap(&packets));
    let r = run(&file);
    errors_well_formed(&r, &file);
    let errs = error_texts(&r);
    assert_eq!(errs.len(), ABSURD_LENGTHS.len(), "{errs:?}");
    for (i, ((frame, kind, text), (_, shown))) in errs.iter().zip(ABSURD_LENGTHS).enumerate() {
        assert_eq!((*frame, kind.as_str()), (i as u64 + 1, "truncated"));
        let want = format!(
            "{}, 4 body bytes present; kept with the body it has",
            shown.trim_end()
        );
        assert!(text.contains(&want), "{want}: {text}");
    }
    // Kept, as tshark shows them, with the body they have.
    assert_eq!(r.messages.len(), ABSURD_LENGTHS.len());
}

/// One TCP segment 10.0.0.1:40000 -> 10.0.0.2:5060 with the given flags.
fn segment(seq: u32, flags: &str, payload: &[u8]) -> Vec<u8> {
    let mut b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .tcp(40000, 5060, seq, 65535);
    for f in flags.chars() {
        b = match f {
            'S' => b.syn(),
            'A' => b.ack(1),
            'P' => b.psh(),
            'F' => b.fin(),
            'R' => b.rst(),
            _ => unreachable!(),
        };
    }
    let mut out = Vec::new();
    b.write(&mut out, payload).unwrap();
    out
}

/// Data after an RST, or past a FIN, on the same ports and without a new
/// SYN: tshark 4.0 lists the SIP message in it (checked with these very
/// segments: frames 2 and 4, and 2 and 3); it was dropped in silence.
#[test]
fn a_message_after_an_rst_or_a_fin_is_read_as_tshark_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let one = options("sip:b@10.0.0.2", "", "one");
    let two = options("sip:b@10.0.0.2", "", "two");
    let n1 = one.len() as u32;
    let n2 = two.len() as u32;
    let rst = vec![
        segment(1000, "S", b""),
        segment(1001, "AP", one.as_bytes()),
        segment(1001 + n1, "AR", b""),
        segment(1001 + n1, "AP", two.as_bytes()),
        // A retransmission of the last bytes: nothing new.
        segment(1001 + n1, "AP", two.as_bytes()),
    ];
    let fin = vec![
        segment(1000, "S", b""),
        segment(1001, "APF", one.as_bytes()),
        segment(1001 + n1 + 1, "AP", two.as_bytes()),
        segment(1001 + n1 + 1 + n2, "AF", b""),
    ];
    for (name, packets, frames) in [("rst.pcap", rst, [2, 4]), ("fin.pcap", fin, [2, 3])] {
        let file = write(&dir, name, &pcap(&packets));
        let r = run(&file);
        errors_well_formed(&r, &file);
        assert!(r.errors.is_empty(), "{name}: {:?}", error_texts(&r));
        let got: Vec<_> = r
            .messages
            .iter()
            .map(|m| {
                (
                    m["frame"].as_u64().unwrap(),
                    m["call_id"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (frames[0], "one".to_string()),
                (frames[1], "two".to_string())
            ],
            "{name}"
        );
    }
}
