//! Bad input, end to end: `sipflow messages --format json` on damaged
//! captures never panics, names the file and the frame or byte offset of
//! each problem in an `error` line, still lists the readable rest, and
//! exits 2 only for a file that is not a capture at all.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use etherparse::PacketBuilder;
use serde_json::Value;

fn sample(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("samples")
        .join(rel)
}

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
    parse(out)
}

fn parse(out: std::process::Output) -> Run {
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
fn pcap(packets: &[Vec<u8>], snaplen: u32) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&snaplen.to_le_bytes());
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

const OPTIONS: &str = "OPTIONS sip:b@10.0.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\nFrom: <sip:a@10.0.0.1>;tag=1\r\nTo: <sip:b@10.0.0.2>\r\nCall-ID: ok-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";

fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn truncated_last_packet() {
    let dir = tempfile::tempdir().unwrap();
    let whole = std::fs::read(sample("messages/udp.pcap")).unwrap();
    let all = run(&sample("messages/udp.pcap"));
    assert!(all.errors.is_empty());
    let cut = write(&dir, "cut.pcap", &whole[..whole.len() - 30]);
    let r = run(&cut);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Every message but the last is still listed, with the same frames.
    assert_eq!(r.messages.len(), all.messages.len() - 1);
    for (a, b) in r.messages.iter().zip(&all.messages) {
        assert_eq!(a["frame"], b["frame"]);
    }
    let e = &r.errors[0];
    assert_eq!(e["kind"], "truncated");
    assert_eq!(e["file"], cut.to_str().unwrap());
    assert!(e["frame"].is_u64() || e["offset"].is_u64(), "{e}");
    assert_eq!(r.summary["errors"].as_u64(), Some(r.errors.len() as u64));
}

#[test]
fn file_cut_inside_its_header() {
    let dir = tempfile::tempdir().unwrap();
    let whole = std::fs::read(sample("messages/udp.pcap")).unwrap();
    let cut = write(&dir, "head.pcap", &whole[..10]);
    let r = run(&cut);
    assert!(r.messages.is_empty());
    assert_eq!(r.errors.len(), 1, "{:?}", r.errors);
    assert_eq!(r.errors[0]["file"], cut.to_str().unwrap());
    assert!(!r.errors[0]["message"].as_str().unwrap().is_empty());
    assert!(r.code == 0 || r.code == 2);
}

#[test]
fn garbage_and_non_capture_files_exit_2_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let mut noise = vec![0u8; 4096];
    let mut x: u32 = 12345;
    for b in noise.iter_mut() {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        *b = (x >> 16) as u8;
    }
    for (name, bytes) in [
        ("noise.bin", noise),
        ("notes.txt", b"INVITE is not a capture\n".to_vec()),
    ] {
        let p = write(&dir, name, &bytes);
        let r = run(&p);
        assert_eq!(r.code, 2, "{name}");
        // The error line names the file (once: in `file`, not again in
        // the message) and says what is wrong.
        let msg = r.errors[0]["message"].as_str().unwrap();
        let file = r.errors[0]["file"].as_str().unwrap();
        assert!(file.ends_with(name), "{file}");
        assert!(
            msg.contains("not a capture") && !msg.contains(name),
            "{msg}"
        );
    }
}

#[test]
fn pcapng_block_with_an_absurd_length_is_skipped_and_the_rest_read() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = std::fs::read(sample("formats/udp.pcapng")).unwrap();
    let good = run(&sample("formats/udp.pcapng"));
    // Find the third Enhanced Packet Block and give it an absurd length.
    let mut pos = 0;
    let mut epb = 0;
    let target = loop {
        let t = u32::from_le_bytes(bytes[pos..pos + 4].try_into().unwrap());
        let len = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().unwrap()) as usize;
        if t == 6 {
            epb += 1;
            if epb == 3 {
                break pos;
            }
        }
        pos += len;
    };
    bytes[target + 4..target + 8].copy_from_slice(&0x7fff_fff0u32.to_le_bytes());
    let p = write(&dir, "absurd.pcapng", &bytes);
    let r = run(&p);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let e = r
        .errors
        .iter()
        .find(|e| e["kind"] == "corrupt")
        .expect("a corrupt error");
    assert_eq!(e["offset"].as_u64(), Some(target as u64), "{e}");
    // The frames after the damaged block are still read.
    let last_good = good.messages.last().unwrap()["frame"].as_u64().unwrap();
    assert!(
        r.messages
            .iter()
            .any(|m| m["frame"].as_u64() == Some(last_good)),
        "{:?}",
        r.messages
    );
    assert!(r.messages.len() >= good.messages.len() - 1);
}

#[test]
fn packets_longer_than_the_snaplen_are_still_read() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(&dir, "snap.pcap", &pcap(&[udp(OPTIONS.as_bytes())], 64));
    let r = run(&p);
    assert_eq!(r.code, 0);
    assert_eq!(r.messages.len(), 1, "{:?}", r.errors);
    assert_eq!(r.messages[0]["call_id"], "ok-1");
}

#[test]
fn content_length_beyond_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let long = OPTIONS
        .replace("Content-Length: 0", "Content-Length: 9999")
        .replace("ok-1", "long-1");
    let p = write(
        &dir,
        "cl.pcap",
        &pcap(&[udp(long.as_bytes()), udp(OPTIONS.as_bytes())], 65535),
    );
    let r = run(&p);
    assert_eq!(r.code, 0);
    // Still listed (Wireshark shows it), and the problem names its frame.
    assert_eq!(r.messages.len(), 2);
    assert_eq!(r.messages[0]["call_id"], "long-1");
    let e = &r.errors[0];
    assert_eq!(e["frame"], 1);
    assert!(e["message"].as_str().unwrap().contains("9999"), "{e}");
}

#[test]
fn fragment_flood_is_bounded_and_reported_and_the_rest_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let mut packets = Vec::new();
    // 60,000 first fragments that never complete, each a different datagram.
    for id in 0..60_000u32 {
        let mut p = udp(&[0u8; 1200]);
        let ip = 14;
        p[ip + 4..ip + 6].copy_from_slice(&((id & 0xffff) as u16).to_be_bytes());
        p[ip + 12] = 10;
        p[ip + 13] = (id >> 16) as u8 + 1;
        p[ip + 6] = 0x20; // more fragments
        p[ip + 10] = 0;
        p[ip + 11] = 0;
        packets.push(p);
    }
    packets.push(udp(OPTIONS.as_bytes()));
    let p = write(&dir, "flood.pcap", &pcap(&packets, 65535));
    // Every problem listed (by default the listing stops after 100 of a
    // kind: tests/output_errors.rs).
    let child = Command::new(env!("CARGO_BIN_EXE_sipflow"))
        .args(["messages", "--format", "json", "--all-errors"])
        .arg(&p)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    let r = parse(out);
    assert_eq!(r.code, 0);
    assert_eq!(r.messages.len(), 1);
    assert_eq!(r.messages[0]["frame"], 60_001);
    // Every incomplete datagram is accounted for: dropped to stay bounded
    // (overload) or never completed (fragment), each with its frame.
    assert!(
        r.errors
            .iter()
            .all(|e| e["kind"] == "overload" || e["kind"] == "fragment"),
        "{:?}",
        &r.errors[..3]
    );
    assert!(r.errors.iter().all(|e| e["frame"].is_u64()));
    assert!(r.errors.len() >= 60_000, "{}", r.errors.len());
    let _ = pid;
}

#[test]
fn standard_input_is_read_as_a_stream() {
    let bytes = std::fs::read(sample("messages/tcp.pcap")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sipflow"))
        .args(["messages", "--format", "json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        // Small writes, as a pipe from tcpdump delivers them.
        for chunk in bytes.chunks(97) {
            stdin.write_all(chunk).unwrap();
        }
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    let r = parse(out);
    let file = run(&sample("messages/tcp.pcap"));
    assert_eq!(r.code, 0);
    assert_eq!(r.messages.len(), file.messages.len());
    for (a, b) in r.messages.iter().zip(&file.messages) {
        assert_eq!(a["frame"], b["frame"]);
        assert_eq!(a["call_id"], b["call_id"]);
        assert_eq!(a["file"], "-");
    }
}
