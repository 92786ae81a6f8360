//! Peak memory of a whole run follows what is open, not the file's size,
//! also where the file is memory-mapped and its messages travel to the
//! checking thread as ranges of the mapping: the mapping's pages are
//! handed back behind the batches that refer to them, even where SIP is
//! sparse and a batch spans much of the file.
//!
//! The capture is written here (256 MiB of RTP-sized UDP packets with a SIP
//! OPTIONS every 2,000 packets); the run's peak RSS is read from
//! `/proc/<pid>/status` (Linux) while it runs.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const FILE_BYTES: u64 = 256 << 20;

fn udp_frame(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let udp_len = 8 + payload.len();
    let ip_len = 20 + udp_len;
    let mut f = Vec::with_capacity(14 + ip_len);
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00]);
    f.extend_from_slice(&[
        0x45,
        0,
        (ip_len >> 8) as u8,
        ip_len as u8,
        0,
        0,
        0x40,
        0,
        64,
        17,
        0,
        0,
    ]);
    f.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&(udp_len as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(payload);
    f
}

fn write_sparse_capture(path: &Path) {
    let mut w = BufWriter::new(File::create(path).unwrap());
    // pcap, microseconds, Ethernet.
    w.write_all(&0xa1b2_c3d4u32.to_le_bytes()).unwrap();
    w.write_all(&[2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0]).unwrap();
    w.write_all(&65_535u32.to_le_bytes()).unwrap();
    w.write_all(&1u32.to_le_bytes()).unwrap();
    let rtp = udp_frame(40_000, 40_002, &[0x80; 1_400]);
    let mut written = 24u64;
    let mut n = 0u64;
    while written < FILE_BYTES {
        let frame = if n.is_multiple_of(2_000) {
            let sip = format!(
                "OPTIONS sip:b@10.0.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK{n}\r\n\
                 From: <sip:a@10.0.0.1>;tag={n}\r\nTo: <sip:b@10.0.0.2>\r\nCall-ID: {n}@a\r\n\
                 CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
            );
            udp_frame(5060, 5060, sip.as_bytes())
        } else {
            rtp.clone()
        };
        let (secs, micros) = ((n / 50) as u32, ((n % 50) * 20_000) as u32);
        for v in [secs, micros, frame.len() as u32, frame.len() as u32] {
            w.write_all(&v.to_le_bytes()).unwrap();
        }
        w.write_all(&frame).unwrap();
        written += 16 + frame.len() as u64;
        n += 1;
    }
    w.flush().unwrap();
}

/// Peak resident memory (VmHWM, KiB) of a running process, if readable.
fn peak_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn a_mapped_capture_with_sparse_sip_is_checked_in_bounded_memory() {
    if !Path::new("/proc/self/status").exists() {
        eprintln!("skipped: no /proc to read peak memory from");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sparse.pcap");
    write_sparse_capture(&path);
    for job in ["check", "messages"] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sipflow"))
            .args([job, "--format", "json"])
            .arg(&path)
            .env_remove("SIPFLOW_NO_MMAP")
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut peak = 0;
        let status = loop {
            if let Some(kib) = peak_kib(child.id()) {
                peak = peak.max(kib);
            }
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        assert!(status.code().is_some_and(|c| c <= 1), "{job}: {status}");
        assert!(peak > 0, "{job}: peak memory never read");
        eprintln!("{job}: peak {peak} KiB");
        // Without the pages handed back, the whole file (256 MiB) would
        // stay resident.
        assert!(
            peak < 100 * 1024,
            "{job}: peak RSS {} MiB on a {} MiB capture",
            peak / 1024,
            FILE_BYTES >> 20
        );
    }
}
