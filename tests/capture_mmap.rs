//! A capture file is read through a memory map, other inputs (pipes,
//! standard input, compressed files) as a stream. Both paths must give the
//! same messages, problems, frame numbers and byte offsets, for intact and
//! damaged files alike: `SIPFLOW_NO_MMAP=1` forces the stream path.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn run(args: &[&str], file: &Path, no_mmap: bool) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sipflow"));
    cmd.args(args).arg(file);
    if no_mmap {
        cmd.env("SIPFLOW_NO_MMAP", "1");
    } else {
        cmd.env_remove("SIPFLOW_NO_MMAP");
    }
    cmd.output().unwrap()
}

fn same_both_ways(file: &Path) {
    for args in [
        &["messages", "--format", "json"][..],
        &["check", "--format", "json"][..],
    ] {
        let mapped = run(args, file, false);
        let streamed = run(args, file, true);
        assert_eq!(
            String::from_utf8_lossy(&mapped.stdout),
            String::from_utf8_lossy(&streamed.stdout),
            "{args:?} {}",
            file.display()
        );
        assert_eq!(
            mapped.status.code(),
            streamed.status.code(),
            "{}",
            file.display()
        );
    }
}

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("samples")
}

#[test]
fn mapped_and_streamed_reads_agree_on_every_sample() {
    let files = common::capture_files(&samples());
    assert!(files.len() > 20, "only {} sample captures", files.len());
    for f in &files {
        same_both_ways(f);
    }
}

#[test]
fn mapped_and_streamed_reads_agree_on_damaged_files() {
    let dir = tempfile::tempdir().unwrap();
    let src = samples().join("flows/poc-preest-release-self/ok-udp.pcap");
    let bytes = std::fs::read(&src).unwrap();
    assert!(bytes.len() > 2000, "{}", src.display());
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    // Cut inside a record, and inside the file header.
    cases.push(("cut.pcap", bytes[..bytes.len() * 2 / 3].to_vec()));
    cases.push(("header.pcap", bytes[..10].to_vec()));
    // An absurd record length in the middle, then the rest intact.
    let mut absurd = bytes.clone();
    let at = 24 + 16 + u32::from_le_bytes(bytes[24 + 8..24 + 12].try_into().unwrap()) as usize;
    absurd[at + 8..at + 12].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
    cases.push(("absurd.pcap", absurd));
    // Garbage between records.
    let mut garbage = bytes[..at].to_vec();
    garbage.extend_from_slice(&[0xa5; 777]);
    garbage.extend_from_slice(&bytes[at..]);
    cases.push(("garbage.pcap", garbage));
    for (name, data) in cases {
        let p = dir.path().join(name);
        std::fs::write(&p, &data).unwrap();
        same_both_ways(&p);
    }
}

#[test]
fn mapped_and_streamed_reads_agree_on_the_corpus() {
    let Some(corpus) = std::env::var_os("SIPFLOW_CORPUS").map(PathBuf::from) else {
        eprintln!("NOT RUN: set SIPFLOW_CORPUS to the external corpus (../shared/corpus)");
        return;
    };
    for f in common::capture_files(&corpus) {
        same_both_ways(&f);
    }
}
