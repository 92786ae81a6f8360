//! A capture file cut short while sipflow reads it through its memory map
//! (another program truncating it, e.g. a capture being rotated): before,
//! touching a vanished page raised SIGBUS and the process died with exit
//! 135, no summary and no word. Now reading stops with a `truncated` error
//! naming the file and the offset ("the file was cut short while being
//! read"), and the run ends with its summary.
//!
//! Deterministic: the library test cuts the file between two reads on one
//! thread; the end-to-end test cuts it while the binary is held back by
//! its own bounded pipeline (its output pipe is full and not read), far
//! ahead of where its reader can be.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use etherparse::PacketBuilder;
use sipflow::capture::{self, Item};
use sipflow::problem::ProblemKind;

/// One UDP SIP datagram (Ethernet frame) with its own Call-ID.
fn datagram(i: usize) -> Vec<u8> {
    let msg = format!(
        "OPTIONS sip:b@10.0.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK{i}\r\n\
         From: <sip:a@10.0.0.1>;tag={i}\r\nTo: <sip:b@10.0.0.2>\r\nCall-ID: cut-{i}\r\n\
         CSeq: 1 OPTIONS\r\nX-Pad: {}\r\nContent-Length: 0\r\n\r\n",
        "p".repeat(i % 97)
    );
    let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .udp(5060, 5060);
    let mut out = Vec::new();
    b.write(&mut out, msg.as_bytes()).unwrap();
    out
}

/// A pcap of `n` datagrams, and the file offset where each record ends.
fn capture(n: usize) -> (Vec<u8>, Vec<usize>) {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    let mut ends = Vec::with_capacity(n);
    for i in 0..n {
        let p = datagram(i);
        out.extend_from_slice(&(1_700_000_000u32 + (i / 1000) as u32).to_le_bytes());
        out.extend_from_slice(&((i % 1000) as u32 * 1000).to_le_bytes());
        out.extend_from_slice(&(p.len() as u32).to_le_bytes());
        out.extend_from_slice(&(p.len() as u32).to_le_bytes());
        out.extend_from_slice(&p);
        ends.push(out.len());
    }
    (out, ends)
}

fn mapping_on() {
    assert!(
        std::env::var_os("SIPFLOW_NO_MMAP").is_none_or(|v| v == "0"),
        "SIPFLOW_NO_MMAP is set: these tests are about the mapped path; unset it"
    );
}

/// Reads `path` through the library, cutting the file to `cut` bytes once
/// `before` frames were read; checks every frame handed out is intact and
/// the cut is reported where it is.
fn cut_while_reading(path: &Path, bytes: &[u8], ends: &[usize], before: usize, cut: usize) {
    std::fs::write(path, bytes).unwrap();
    let mut reader = capture::open(path).unwrap();
    assert_eq!(reader.format_name(), "pcap");
    let mut frames = 0usize;
    let mut problems = Vec::new();
    while let Some(item) = reader.next() {
        match item {
            Item::Frame(f) => {
                // Every frame handed out is the one written, not zeros.
                let start = ends[frames] - f.data.len();
                assert_eq!(f.data, &bytes[start..ends[frames]], "frame {}", f.number);
                assert_eq!(f.number, frames as u64 + 1);
                frames += 1;
                if frames == before {
                    OpenOptions::new()
                        .write(true)
                        .open(path)
                        .unwrap()
                        .set_len(cut as u64)
                        .unwrap();
                }
            }
            Item::Problem(p) => problems.push(p),
        }
    }
    // Every record that lies whole before the cut was read, and no other.
    let whole = ends.iter().take_while(|&&e| e <= cut).count();
    assert_eq!(frames, whole, "cut at {cut}");
    assert_eq!(problems.len(), 1, "{problems:?}");
    let p = &problems[0];
    assert_eq!(p.kind, ProblemKind::Truncated);
    assert_eq!(p.frame, None);
    // Named by the offset of the first record that is gone.
    assert_eq!(p.offset, Some(ends[whole - 1] as u64), "{p:?}");
    assert!(
        p.message
            .contains("the file was cut short while being read")
            && p.message
                .contains(&format!("it is now {cut} bytes long ({} when", bytes.len())),
        "{}",
        p.message
    );
}

#[test]
fn a_file_cut_while_it_is_read_through_the_map_is_reported_not_a_signal() {
    mapping_on();
    let (bytes, ends) = capture(30_000);
    assert!(bytes.len() > 8 << 20, "{}", bytes.len());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.pcap");
    // Inside a record and inside a page (the rest of that page reads as
    // zeros without a fault); on a page boundary; inside the file's last
    // page (no page after it to fault); right behind the reader.
    cut_while_reading(&path, &bytes, &ends, 1000, (2 << 20) + 123);
    cut_while_reading(&path, &bytes, &ends, 1000, 2 << 20);
    cut_while_reading(&path, &bytes, &ends, 1000, bytes.len() - 50);
    cut_while_reading(&path, &bytes, &ends, 1000, ends[1000] + 5);
}

#[test]
fn the_binary_reports_a_file_cut_while_it_runs_and_ends_with_its_summary() {
    mapping_on();
    let (bytes, ends) = capture(60_000);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.pcap");
    std::fs::write(&path, &bytes).unwrap();
    let cut = bytes.len() / 2 + 77;
    let mut child = Command::new(env!("CARGO_BIN_EXE_sipflow"))
        .args(["messages", "--format", "json"])
        .arg(&path)
        .env_remove("SIPFLOW_NO_MMAP")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    assert!(first.contains("\"type\":\"message\""), "{first}");
    // The reader is held back by the pipeline's bounded batches while the
    // output is not read: a few MiB in, far from the cut.
    File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(cut as u64)
        .unwrap();
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), None, "killed by a signal; {stderr}");
    }
    assert_eq!(status.code(), Some(0), "{stderr}");
    let lines: Vec<serde_json::Value> = std::iter::once(first.as_str())
        .chain(rest.lines())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let messages = lines.iter().filter(|v| v["type"] == "message").count();
    let errors: Vec<_> = lines.iter().filter(|v| v["type"] == "error").collect();
    let whole = ends.iter().take_while(|&&e| e <= cut).count();
    assert_eq!(messages, whole);
    assert_eq!(errors.len(), 1, "{errors:?}");
    let e = errors[0];
    assert_eq!(e["kind"], "truncated");
    assert_eq!(e["file"], path.to_str().unwrap());
    assert_eq!(e["offset"].as_u64(), Some(ends[whole - 1] as u64), "{e}");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("the file was cut short while being read"),
        "{e}"
    );
    let summary = lines.last().unwrap();
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["messages"].as_u64(), Some(whole as u64));
    assert_eq!(summary["errors"].as_u64(), Some(1));
    let _ = std::io::stdout().flush();
}
