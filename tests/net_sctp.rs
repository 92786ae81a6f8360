//! SIP over SCTP (RFC 4168), end to end and against tshark: single-chunk
//! messages, DATA bundled with control chunks, and a message split over two
//! packets.

use std::process::Command;

use serde_json::Value;

fn ipv4_sctp(src: [u8; 4], dst: [u8; 4], sctp: &[u8]) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    let total = (20 + sctp.len()) as u16;
    let mut ip = vec![0x45, 0];
    ip.extend(total.to_be_bytes());
    ip.extend([0, 1, 0x40, 0, 64, 132, 0, 0]);
    ip.extend(src);
    ip.extend(dst);
    let mut sum: u32 = 0;
    for w in ip.chunks(2) {
        sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let ck = !(sum as u16);
    ip[10..12].copy_from_slice(&ck.to_be_bytes());
    f.extend(ip);
    f.extend(sctp);
    f
}

fn sctp(chunks: &[Vec<u8>]) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend(5060u16.to_be_bytes());
    p.extend(5060u16.to_be_bytes());
    p.extend(0x1234_5678u32.to_be_bytes());
    p.extend(0u32.to_be_bytes()); // checksum (not verified)
    for c in chunks {
        p.extend(c);
    }
    p
}

/// A DATA chunk on stream 0; fragments of one message share their stream
/// sequence number `ssn`.
fn data(tsn: u32, ssn: u16, b: bool, e: bool, payload: &[u8]) -> Vec<u8> {
    let mut c = vec![0, (b as u8) << 1 | e as u8];
    c.extend(((16 + payload.len()) as u16).to_be_bytes());
    c.extend(tsn.to_be_bytes());
    c.extend(0u16.to_be_bytes());
    c.extend(ssn.to_be_bytes());
    c.extend(0u32.to_be_bytes());
    c.extend(payload);
    while c.len() % 4 != 0 {
        c.push(0);
    }
    c
}

fn sip(start: &str, call_id: &str, cseq: &str) -> Vec<u8> {
    format!(
        "{start}\r\nVia: SIP/2.0/SCTP 10.0.0.1;branch=z9hG4bK{call_id}\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@y>\r\nCall-ID: {call_id}\r\nCSeq: {cseq}\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

fn pcap(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for v in [0xa1b2c3d4u32, 0x0004_0002, 0, 0, 65535, 1] {
        out.extend(v.to_le_bytes());
    }
    for (i, f) in frames.iter().enumerate() {
        for v in [1_700_000_000 + i as u32, 0, f.len() as u32, f.len() as u32] {
            out.extend(v.to_le_bytes());
        }
        out.extend(f);
    }
    out
}

#[test]
fn sip_over_sctp_is_read_like_tshark_reads_it() {
    let (a, b) = ([10, 0, 0, 1], [10, 0, 0, 2]);
    let init = vec![
        1, 0, 0, 20, 0, 0, 0, 1, 0, 1, 0, 0, 0, 10, 0, 10, 0, 0, 0, 1,
    ];
    let sack = vec![3, 0, 0, 16, 0, 0, 0, 1, 0, 0, 0x10, 0, 0, 0, 0, 0];
    let big = sip("MESSAGE sip:b@y SIP/2.0", "split-1", "2 MESSAGE");
    let (head, tail) = big.split_at(60);
    let frames = vec![
        ipv4_sctp(a, b, &sctp(&[init])),
        ipv4_sctp(
            a,
            b,
            &sctp(&[data(
                1,
                0,
                true,
                true,
                &sip("INVITE sip:b@y SIP/2.0", "sctp-1", "1 INVITE"),
            )]),
        ),
        ipv4_sctp(
            b,
            a,
            &sctp(&[
                sack,
                data(
                    100,
                    0,
                    true,
                    true,
                    &sip("SIP/2.0 200 OK", "sctp-1", "1 INVITE"),
                ),
            ]),
        ),
        ipv4_sctp(a, b, &sctp(&[data(2, 1, true, false, head)])),
        ipv4_sctp(a, b, &sctp(&[data(3, 1, false, true, tail)])),
    ];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sctp.pcap");
    std::fs::write(&path, pcap(&frames)).unwrap();

    let out = Command::new(env!("CARGO_BIN_EXE_sipflow"))
        .args(["messages", "--format", "json"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let msgs: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["type"] == "message")
        .collect();
    let got: Vec<(u64, String, String)> = msgs
        .iter()
        .map(|m| {
            assert_eq!(m["transport"], "sctp");
            let kind = m["method"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| m["status"].to_string());
            (
                m["frame"].as_u64().unwrap(),
                kind,
                m["call_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (2, "INVITE".to_string(), "sctp-1".to_string()),
            (3, "200".to_string(), "sctp-1".to_string()),
            (5, "MESSAGE".to_string(), "split-1".to_string()),
        ]
    );

    // tshark, where installed, sees the same messages in the same frames.
    let Ok(t) = Command::new("tshark")
        .args(["-n", "-o", "sctp.reassembly:TRUE", "-r"])
        .arg(&path)
        .args([
            "-Y",
            "sip",
            "-T",
            "fields",
            "-e",
            "frame.number",
            "-e",
            "sip.Call-ID",
        ])
        .output()
    else {
        eprintln!("NOT RUN: the tshark comparison (tshark is not installed)");
        return;
    };
    let theirs: Vec<(u64, String)> = String::from_utf8_lossy(&t.stdout)
        .lines()
        .map(|l| {
            let (f, c) = l.split_once('\t').unwrap();
            (f.parse().unwrap(), c.to_string())
        })
        .collect();
    let ours: Vec<(u64, String)> = got.into_iter().map(|(f, _, c)| (f, c)).collect();
    assert_eq!(ours, theirs);
}
