//! Helpers of the output tests (`output_safety`, `output_errors`,
//! `exit_status`): hand-written classic pcaps, rewritten samples, and runs
//! of the binary.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use etherparse::PacketBuilder;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// What one run of the binary gave.
pub struct Out {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub code: i32,
}

impl Out {
    pub fn stdout(&self) -> String {
        String::from_utf8(self.stdout.clone()).expect("standard output is UTF-8")
    }
    pub fn stderr(&self) -> String {
        String::from_utf8(self.stderr.clone()).expect("standard error is UTF-8")
    }
    /// Standard output as JSON lines (each must parse).
    pub fn json(&self) -> Vec<serde_json::Value> {
        self.stdout()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
            .collect()
    }
}

pub fn sipflow<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Out {
    let out = Command::new(env!("CARGO_BIN_EXE_sipflow"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap();
    let r = Out {
        stdout: out.stdout,
        stderr: out.stderr,
        code: out.status.code().unwrap_or(-1),
    };
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(!err.contains("panicked"), "{err}");
    r
}

/// One packet of a hand-written capture: the bytes kept and the length the
/// packet had on the wire (more when the capture cut it).
pub struct Packet {
    pub data: Vec<u8>,
    pub orig_len: u32,
}

impl Packet {
    pub fn whole(data: Vec<u8>) -> Packet {
        let orig_len = data.len() as u32;
        Packet { data, orig_len }
    }

    /// The packet as a capture with this snaplen keeps it.
    pub fn cut(data: Vec<u8>, snaplen: usize) -> Packet {
        let orig_len = data.len() as u32;
        let mut data = data;
        data.truncate(snaplen);
        Packet { data, orig_len }
    }
}

/// A classic pcap (little-endian, microseconds, Ethernet), one packet a
/// millisecond.
pub fn pcap(packets: &[Packet], snaplen: u32) -> Vec<u8> {
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
        out.extend_from_slice(&(p.data.len() as u32).to_le_bytes());
        out.extend_from_slice(&p.orig_len.to_le_bytes());
        out.extend_from_slice(&p.data);
    }
    out
}

/// An Ethernet/IPv4/UDP packet.
pub fn udp(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(src, dst, 64)
        .udp(sport, dport);
    let mut out = Vec::new();
    b.write(&mut out, payload).unwrap();
    out
}

/// Replace every `from` by `to` in `data`.
pub fn replace(data: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        if data[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(data[i]);
            i += 1;
        }
    }
    out
}

/// Set a SIP message's Content-Length to the length of its body.
pub fn fix_content_length(msg: &[u8]) -> Vec<u8> {
    let Some(end) = msg.windows(4).position(|w| w == b"\r\n\r\n") else {
        return msg.to_vec();
    };
    let body_len = msg.len() - end - 4;
    let mut out = Vec::new();
    for (i, line) in msg[..end].split(|&b| b == b'\n').enumerate() {
        if i > 0 {
            out.push(b'\n');
        }
        if line.to_ascii_lowercase().starts_with(b"content-length:") {
            out.extend_from_slice(format!("Content-Length: {body_len}\r").as_bytes());
        } else {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(&msg[end..]);
    out
}

/// A sample capture (classic pcap, Ethernet, IPv4/UDP SIP) with its SIP
/// payloads rewritten by `subs` (each pair: bytes to find, bytes to put),
/// Content-Length kept true; times and addresses kept.
pub fn rewrite_sample(sample: &Path, subs: &[(&[u8], &[u8])]) -> Vec<u8> {
    let bytes = std::fs::read(sample).unwrap();
    assert_eq!(&bytes[..4], &0xa1b2c3d4u32.to_le_bytes(), "a LE pcap");
    let mut out = bytes[..24].to_vec();
    // A snaplen that keeps every rewritten packet whole.
    out[16..20].copy_from_slice(&262_144u32.to_le_bytes());
    let mut at = 24;
    let mut rewritten = 0;
    while at + 16 <= bytes.len() {
        let caplen = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        let data = &bytes[at + 16..at + 16 + caplen];
        let ts = &bytes[at..at + 8];
        at += 16 + caplen;
        let mut packet = data.to_vec();
        // Ethernet, IPv4, UDP.
        if data.len() > 42 && data[12..14] == [8, 0] && data[14] == 0x45 && data[23] == 17 {
            let src: [u8; 4] = data[26..30].try_into().unwrap();
            let dst: [u8; 4] = data[30..34].try_into().unwrap();
            let sport = u16::from_be_bytes([data[34], data[35]]);
            let dport = u16::from_be_bytes([data[36], data[37]]);
            let mut payload = data[42..].to_vec();
            for (from, to) in subs {
                payload = replace(&payload, from, to);
            }
            payload = fix_content_length(&payload);
            packet = udp(src, dst, sport, dport, &payload);
            rewritten += 1;
        }
        out.extend_from_slice(ts);
        out.extend_from_slice(&(packet.len() as u32).to_le_bytes());
        out.extend_from_slice(&(packet.len() as u32).to_le_bytes());
        out.extend_from_slice(&packet);
    }
    assert!(
        rewritten > 0,
        "{}: no UDP packet rewritten",
        sample.display()
    );
    out
}

/// A SIP OPTIONS request, Call-ID `call_id`.
pub fn options(call_id: &[u8]) -> Vec<u8> {
    let mut m = b"OPTIONS sip:b@10.0.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\nFrom: <sip:a@10.0.0.1>;tag=1\r\nTo: <sip:b@10.0.0.2>\r\nCall-ID: ".to_vec();
    m.extend_from_slice(call_id);
    m.extend_from_slice(b"\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n");
    m
}

pub fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// One record of a classic pcap: its time stamp bytes, captured bytes and
/// length on the wire.
pub struct Record {
    pub ts: [u8; 8],
    pub data: Vec<u8>,
    pub orig_len: u32,
}

/// The file header and the records of a little-endian classic pcap.
pub fn records(bytes: &[u8]) -> (Vec<u8>, Vec<Record>) {
    assert_eq!(&bytes[..4], &0xa1b2c3d4u32.to_le_bytes(), "a LE pcap");
    let mut out = Vec::new();
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let caplen = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        let orig_len = u32::from_le_bytes(bytes[at + 12..at + 16].try_into().unwrap());
        out.push(Record {
            ts: bytes[at..at + 8].try_into().unwrap(),
            data: bytes[at + 16..at + 16 + caplen].to_vec(),
            orig_len,
        });
        at += 16 + caplen;
    }
    (bytes[..24].to_vec(), out)
}

/// A classic pcap of `header` and `records`.
pub fn from_records(header: &[u8], records: &[Record]) -> Vec<u8> {
    let mut out = header.to_vec();
    for r in records {
        out.extend_from_slice(&r.ts);
        out.extend_from_slice(&(r.data.len() as u32).to_le_bytes());
        out.extend_from_slice(&r.orig_len.to_le_bytes());
        out.extend_from_slice(&r.data);
    }
    out
}

/// A first IPv4 fragment (more fragments follow) of a UDP datagram that
/// never completes; `id` makes each a datagram of its own.
pub fn lone_fragment(id: u16) -> Vec<u8> {
    let mut p = udp([10, 0, 0, 1], [10, 0, 0, 2], 40000, 40000, &[0u8; 600]);
    let ip = 14;
    p[ip + 4..ip + 6].copy_from_slice(&id.to_be_bytes());
    p[ip + 6] = 0x20; // more fragments
    p
}

/// A UDP datagram that starts like SIP but breaks the start-line grammar
/// (a control character in the Request-URI): a `malformed-sip` problem.
pub fn malformed_sip(n: u32) -> Vec<u8> {
    let payload = format!("OPTIONS sip:\u{1}{n}@b SIP/2.0\r\nCall-ID: m{n}\r\n\r\n");
    udp([10, 0, 0, 1], [10, 0, 0, 2], 5060, 5060, payload.as_bytes())
}
