//! The capture reader (pcap, pcapng, NetMon 2.x, snoop; gzip, zstd, lz4)
//! through the entry points the CLI uses: `capture::open` on a file (the
//! memory-mapped path of `sipflow FILE`) and `CaptureReader::from_reader`
//! on a stream (the path of `sipflow -`).
//!
//! Input: one mode byte, then the capture. Mode % 4: 0 = the bytes as
//! they are; 1, 2, 3 = the bytes gzip-, zstd- or lz4-compressed by the
//! harness first, so that mutations reach the formats inside the
//! decompressors (mutating compressed bytes mostly only breaks them).
//!
//! Invariants beyond "no panic":
//! - frame numbers strictly increase, by exactly one from the last frame
//!   or from the last frame a problem named (except across pcapng blocks
//!   that are numbered but not delivered);
//! - a frame's bytes are never more than the buffer bound, its nanoseconds
//!   below 10^9, and the reader's buffer never grows past its bound;
//! - every problem names a frame or a byte offset;
//! - the file path and the stream path read the same frames and problems.
#![no_main]

use std::io::{Cursor, Write};
use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sipflow::capture::{self, CaptureReader, Item, MAX_BUFFER_BYTES};

/// What one read produced, for comparing the two paths.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Frame {
        number: u64,
        secs: i64,
        nanos: u32,
        link: u32,
        data: Vec<u8>,
        orig_len: u32,
    },
    Problem {
        kind: &'static str,
        frame: Option<u64>,
        offset: Option<u64>,
    },
}

fn drain(reader: &mut CaptureReader, input_len: usize) -> Vec<Seen> {
    let pcapng = reader.format_name().starts_with("pcapng");
    let mut seen = Vec::new();
    let mut last: Option<u64> = None;
    // The highest frame number given out so far, to a frame or to a
    // problem about a frame that could not be read.
    let mut accounted = 0u64;
    // Each item consumes input; a reader that yields more items than this
    // is looping (decompressed data is bounded by the decompressors'
    // ratios: lz4 and zstd at most ~255x and ~1000x is far above it, so
    // count only a generous multiple).
    let cap = 64 * 1024 + input_len * 1024;
    while let Some(item) = reader.next() {
        assert!(
            seen.len() < cap,
            "reader does not end ({} items)",
            seen.len()
        );
        match item {
            Item::Frame(f) => {
                assert!(f.number >= 1);
                if let Some(prev) = last {
                    assert!(f.number > prev, "frame {} after frame {prev}", f.number);
                }
                // Numbered on from the last frame (after a resynchronisation)
                // or from the frame a problem took (NetMon's damaged frames).
                let from_last = last.map_or(1, |l| l + 1);
                assert!(
                    pcapng || f.number == from_last || f.number == accounted + 1,
                    "frame {} skips numbers (after {:?})",
                    f.number,
                    seen.iter()
                        .rev()
                        .take(4)
                        .map(|s| match s {
                            Seen::Frame { number, .. } => format!("frame {number}"),
                            p => format!("{p:?}"),
                        })
                        .collect::<Vec<_>>()
                );
                last = Some(f.number);
                accounted = accounted.max(f.number);
                assert!(f.time.nanos < 1_000_000_000);
                assert!(f.data.len() <= MAX_BUFFER_BYTES);
                seen.push(Seen::Frame {
                    number: f.number,
                    secs: f.time.secs,
                    nanos: f.time.nanos,
                    link: f.link_type.0,
                    data: f.data.to_vec(),
                    orig_len: f.orig_len,
                });
            }
            Item::Problem(p) => {
                assert!(
                    p.frame.is_some() || p.offset.is_some(),
                    "problem without a position: {p:?}"
                );
                assert!(!p.message.is_empty());
                if let Some(n) = p.frame {
                    accounted = accounted.max(n);
                }
                seen.push(Seen::Problem {
                    kind: p.kind.as_str(),
                    frame: p.frame,
                    offset: p.offset,
                });
            }
        }
        assert!(reader.buffer_capacity() <= MAX_BUFFER_BYTES);
    }
    // The end is sticky.
    assert!(reader.next().is_none());
    seen
}

fn temp_path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        dir.join(format!("sipflow-fuzz-capture-{}", std::process::id()))
    })
}

fn wrap(mode: u8, body: &[u8]) -> Vec<u8> {
    match mode % 4 {
        1 => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(body).unwrap();
            e.finish().unwrap()
        }
        2 => ruzstd::encoding::compress_to_vec(
            Cursor::new(body),
            ruzstd::encoding::CompressionLevel::Fastest,
        ),
        3 => {
            let mut e = lz4_flex::frame::FrameEncoder::new(Vec::new());
            e.write_all(body).unwrap();
            e.finish().unwrap()
        }
        _ => body.to_vec(),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let bytes = wrap(mode, body);

    // The stream path (`sipflow -`).
    let stream = CaptureReader::from_reader(Box::new(Cursor::new(bytes.clone())), "-".into());
    let from_stream = match stream {
        Ok(mut r) => Ok(drain(&mut r, bytes.len())),
        Err(e) => {
            assert!(!e.reason().is_empty());
            assert!(e.to_string().starts_with("-: "));
            Err(e.kind().clone())
        }
    };

    // The file path (`sipflow FILE`): memory-mapped when uncompressed.
    let path = temp_path();
    std::fs::write(path, &bytes).unwrap();
    let from_file = match capture::open(path) {
        Ok(mut r) => Ok(drain(&mut r, bytes.len())),
        Err(e) => {
            assert!(!e.reason().is_empty());
            Err(e.kind().clone())
        }
    };
    let _ = std::fs::remove_file(path);

    match (&from_stream, &from_file) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "stream and file read differently"),
        // An empty file cannot be mapped; both say so in their own way.
        (Err(a), Err(b)) => assert_eq!(a, b, "stream and file refuse differently"),
        _ => panic!("stream {from_stream:?} but file {from_file:?}"),
    }
});
