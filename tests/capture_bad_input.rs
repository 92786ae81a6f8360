//! Bad input built from real captures: cut, patched, padded with garbage,
//! compressed and cut again. Whatever the damage, the reader never panics,
//! delivers every frame before it intact, reports one problem with its
//! byte offset (and frame), and resynchronises where it can.
//!
//! The undamaged files' frames are the reference; `capture_corpus.rs`
//! checks those against tshark. Record and block offsets are computed here
//! from the formats' layout (24-byte pcap file header, 16-byte record
//! header; pcapng block lengths), independently of the reader.

use std::io::Write;
use std::path::PathBuf;

use sipflow::capture::{
    self, CaptureReader, INITIAL_BUFFER_BYTES, Item, MAX_BUFFER_BYTES, OpenErrorKind, Timestamp,
};
use sipflow::problem::{Problem, ProblemKind};

fn corpus() -> Option<PathBuf> {
    match std::env::var_os("SIPFLOW_CORPUS") {
        Some(p) => Some(PathBuf::from(p)),
        None => {
            eprintln!("SIPFLOW_CORPUS is not set: test not run");
            None
        }
    }
}

/// A classic little-endian µs pcap of 852 Ethernet frames.
const PCAP: &str = "captures/sipnab/sip-rtp-g711.pcap";
/// A little-endian pcapng of 416 frames.
const PCAPNG: &str = "captures/sipnab/b2bua-asterisk.pcapng";

#[derive(Debug, Clone, PartialEq)]
struct F {
    number: u64,
    time: Timestamp,
    orig_len: u32,
    data: Vec<u8>,
}

#[derive(Debug, Default)]
struct Got {
    frames: Vec<F>,
    /// (frames delivered before it, problem)
    problems: Vec<(usize, Problem)>,
    capacity: usize,
    format: String,
}

fn drain(mut r: CaptureReader) -> Got {
    let mut got = Got {
        format: r.format_name().to_string(),
        ..Got::default()
    };
    while let Some(item) = r.next() {
        match item {
            Item::Frame(f) => got.frames.push(F {
                number: f.number,
                time: f.time,
                orig_len: f.orig_len,
                data: f.data.to_vec(),
            }),
            Item::Problem(p) => got.problems.push((got.frames.len(), p)),
        }
        got.capacity = got.capacity.max(r.buffer_capacity());
    }
    got
}

fn read_bytes(bytes: &[u8]) -> Got {
    let r = CaptureReader::from_reader(Box::new(std::io::Cursor::new(bytes.to_vec())), "t".into())
        .unwrap_or_else(|e| panic!("open failed: {e}"));
    drain(r)
}

fn load(root: &std::path::Path, rel: &str) -> (Vec<u8>, Got) {
    let bytes = std::fs::read(root.join(rel)).unwrap();
    let got = read_bytes(&bytes);
    assert!(got.problems.is_empty(), "{rel} reads cleanly");
    (bytes, got)
}

/// Start offsets of the records of a classic pcap, from its frames.
fn pcap_offsets(frames: &[F]) -> Vec<usize> {
    let mut off = 24;
    frames
        .iter()
        .map(|f| {
            let o = off;
            off += 16 + f.data.len();
            o
        })
        .collect()
}

/// (type, start, length) of every block of a little-endian pcapng.
fn pcapng_blocks(bytes: &[u8]) -> Vec<(u32, usize, usize)> {
    let mut out = Vec::new();
    let mut off = 0;
    while off + 8 <= bytes.len() {
        let t = u32::from_le_bytes(bytes[off..off + 4].try_into().unwrap());
        let len = u32::from_le_bytes(bytes[off + 4..off + 8].try_into().unwrap()) as usize;
        out.push((t, off, len));
        off += len;
    }
    out
}

fn one_problem(got: &Got) -> &Problem {
    assert_eq!(got.problems.len(), 1, "problems: {:?}", got.problems);
    &got.problems[0].1
}

#[test]
fn pcap_cut_anywhere_keeps_the_frames_before_and_reports_one_truncation() {
    let Some(root) = corpus() else { return };
    let (bytes, full) = load(&root, PCAP);
    let offs = pcap_offsets(&full.frames);
    assert_eq!(offs.len(), 852);
    // (cut at, frames before, problem frame, problem offset)
    let cases = [
        (10, 0, None, 0),                                // inside the file header
        (offs[4] + 7, 4, Some(5), offs[4]),              // inside record 5's header
        (offs[4] + 16 + 10, 4, Some(5), offs[4]),        // inside record 5's data
        (offs[851] + 16 + 1, 851, Some(852), offs[851]), // one byte of the last packet
    ];
    for (cut, before, frame, offset) in cases {
        let got = read_bytes(&bytes[..cut]);
        assert_eq!(got.frames, full.frames[..before], "cut at {cut}");
        let p = one_problem(&got);
        assert_eq!(got.problems[0].0, before);
        assert_eq!(p.kind, ProblemKind::Truncated, "cut at {cut}: {p}");
        assert_eq!((p.frame, p.offset), (frame, Some(offset as u64)), "{p}");
    }
    // Cut exactly between records: a clean, shorter capture.
    let got = read_bytes(&bytes[..offs[4]]);
    assert_eq!(got.frames, full.frames[..4]);
    assert!(got.problems.is_empty());
}

#[test]
fn pcapng_cut_anywhere_keeps_the_frames_before_and_reports_one_truncation() {
    let Some(root) = corpus() else { return };
    let (bytes, full) = load(&root, PCAPNG);
    let epbs: Vec<(usize, usize)> = pcapng_blocks(&bytes)
        .into_iter()
        .filter(|b| b.0 == 6)
        .map(|b| (b.1, b.2))
        .collect();
    assert_eq!(epbs.len(), full.frames.len());
    let (e5, len5) = epbs[4];
    for (cut, before, frame, offset) in [
        (20, 0, None, 0),                // inside the Section Header Block
        (e5 + 6, 4, None, e5),           // inside block 5's header: type unknown yet
        (e5 + 40, 4, Some(5), e5),       // inside the packet data
        (e5 + len5 - 1, 4, Some(5), e5), // one byte short of the trailer
    ] {
        let got = read_bytes(&bytes[..cut]);
        assert_eq!(got.frames, full.frames[..before], "cut at {cut}");
        let p = one_problem(&got);
        assert_eq!(p.kind, ProblemKind::Truncated, "cut at {cut}: {p}");
        assert_eq!((p.frame, p.offset), (frame, Some(offset as u64)), "{p}");
    }
}

#[test]
fn pcap_absurd_caplen_is_reported_and_reading_resumes_at_the_next_record() {
    let Some(root) = corpus() else { return };
    let (mut bytes, full) = load(&root, PCAP);
    let offs = pcap_offsets(&full.frames);
    bytes[offs[4] + 8..offs[4] + 12].copy_from_slice(&0x00ff_0000u32.to_le_bytes());
    let got = read_bytes(&bytes);
    let p = one_problem(&got);
    assert_eq!(p.kind, ProblemKind::Corrupt, "{p}");
    assert_eq!((p.frame, p.offset), (Some(5), Some(offs[4] as u64)));
    assert!(
        p.message.contains(&format!("byte offset {}", offs[5])),
        "{p}"
    );
    assert_eq!(got.problems[0].0, 4);
    // Frames 6.. come back with the numbers they have in the intact file:
    // the damaged record was a packet and keeps its number 5.
    assert_eq!(got.frames.len(), full.frames.len() - 1);
    assert_eq!(got.frames[..4], full.frames[..4]);
    assert_eq!(got.frames[4..], full.frames[5..]);
}

#[test]
fn pcap_garbage_between_records_is_skipped_and_every_frame_kept() {
    let Some(root) = corpus() else { return };
    let (bytes, full) = load(&root, PCAP);
    let offs = pcap_offsets(&full.frames);
    let mut damaged = bytes[..offs[10]].to_vec();
    damaged.extend(std::iter::repeat_n(0xee, 1000));
    damaged.extend(&bytes[offs[10]..]);
    let got = read_bytes(&damaged);
    let p = one_problem(&got);
    assert_eq!(p.kind, ProblemKind::Corrupt);
    assert_eq!(p.offset, Some(offs[10] as u64));
    assert!(p.message.contains("skipped 1000 bytes"), "{p}");
    // The garbage was no record: the numbering is the original one.
    assert_eq!(got.frames, full.frames);
}

#[test]
fn pcap_damage_with_nothing_plausible_after_it_stops_with_that_problem() {
    let Some(root) = corpus() else { return };
    let (bytes, full) = load(&root, PCAP);
    let offs = pcap_offsets(&full.frames);
    let mut damaged = bytes[..offs[3]].to_vec();
    damaged.extend(std::iter::repeat_n(0xee, 5000));
    let got = read_bytes(&damaged);
    let p = one_problem(&got);
    assert_eq!(p.kind, ProblemKind::Corrupt);
    assert!(p.message.contains("stopped reading"), "{p}");
    assert_eq!(got.frames, full.frames[..3]);
}

#[test]
fn pcap_packets_longer_than_the_snaplen_are_still_delivered() {
    let Some(root) = corpus() else { return };
    let (mut bytes, full) = load(&root, PCAP);
    assert!(full.frames.iter().any(|f| f.data.len() > 64));
    bytes[16..20].copy_from_slice(&64u32.to_le_bytes());
    let got = read_bytes(&bytes);
    assert!(got.problems.is_empty());
    assert_eq!(got.frames, full.frames);
}

#[test]
fn pcapng_bad_block_lengths_are_reported_and_reading_resumes_at_the_next_block() {
    let Some(root) = corpus() else { return };
    let (bytes, full) = load(&root, PCAPNG);
    let blocks = pcapng_blocks(&bytes);
    let epbs: Vec<(usize, usize)> = blocks
        .iter()
        .filter(|b| b.0 == 6)
        .map(|b| (b.1, b.2))
        .collect();
    let (e5, len5) = epbs[4];
    let patches: [(&str, usize, u32); 4] = [
        ("absurd", e5 + 4, 0x7fff_fff0),
        ("not a multiple of 4", e5 + 4, len5 as u32 + 2),
        ("below the minimum", e5 + 4, 8),
        ("trailing copy differs", e5 + len5 - 4, len5 as u32 + 4),
    ];
    for (what, at, value) in patches {
        let mut damaged = bytes.clone();
        damaged[at..at + 4].copy_from_slice(&value.to_le_bytes());
        let got = read_bytes(&damaged);
        let p = one_problem(&got);
        assert_eq!(p.kind, ProblemKind::Corrupt, "{what}: {p}");
        assert_eq!(
            (p.frame, p.offset),
            (Some(5), Some(e5 as u64)),
            "{what}: {p}"
        );
        assert!(
            p.message.contains(&format!("byte offset {}", e5 + len5)),
            "{what}: {p}"
        );
        assert_eq!(got.frames[..4], full.frames[..4], "{what}");
        assert_eq!(got.frames.len(), full.frames.len() - 1, "{what}");
        for (g, f) in got.frames[4..].iter().zip(&full.frames[5..]) {
            assert_eq!((g.time, &g.data), (f.time, &f.data), "{what}");
        }
        assert!(got.capacity <= MAX_BUFFER_BYTES);
    }
}

#[test]
fn giant_length_fields_allocate_nothing_giant() {
    let Some(root) = corpus() else { return };
    let (bytes, full) = load(&root, PCAP);
    let offs = pcap_offsets(&full.frames);
    // The real file header, then a record header claiming caplen
    // 0xFFFFFFF0, then the file's first ten records.
    let mut evil = bytes[..24].to_vec();
    evil.extend(1_500_000_000u32.to_le_bytes());
    evil.extend(0u32.to_le_bytes());
    evil.extend(0xffff_fff0u32.to_le_bytes());
    evil.extend(0xffff_fff0u32.to_le_bytes());
    evil.extend(&bytes[24..offs[10]]);
    let got = read_bytes(&evil);
    assert_eq!(one_problem(&got).kind, ProblemKind::Corrupt);
    assert_eq!(got.capacity, INITIAL_BUFFER_BYTES, "buffer never grew");
    assert_eq!(got.frames, full.frames[..10], "resynchronised on record 1");

    // pcapng: a block claiming just under the 16 MiB cap in a short file
    // may grow the buffer up to the cap while it waits, never beyond.
    let (ng, _) = load(&root, PCAPNG);
    let idb_end = pcapng_blocks(&ng)
        .iter()
        .find(|b| b.0 == 1)
        .map(|b| b.1 + b.2)
        .unwrap();
    let mut evil = ng[..idb_end].to_vec();
    evil.extend(6u32.to_le_bytes());
    evil.extend(((16u32 << 20) - 4).to_le_bytes());
    evil.extend(std::iter::repeat_n(0u8, 100_000));
    let got = read_bytes(&evil);
    assert_eq!(one_problem(&got).kind, ProblemKind::Truncated);
    assert!(got.capacity <= MAX_BUFFER_BYTES);
    // And one claiming more than the cap is corrupt, never buffered.
    evil[idb_end + 4..idb_end + 8].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
    let got = read_bytes(&evil);
    assert_eq!(one_problem(&got).kind, ProblemKind::Corrupt);
    assert_eq!(got.capacity, INITIAL_BUFFER_BYTES);
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

#[test]
fn gzip_single_and_multi_member_read_as_the_plain_file() {
    let Some(root) = corpus() else { return };
    for rel in [PCAP, PCAPNG] {
        let (bytes, full) = load(&root, rel);
        let got = read_bytes(&gzip(&bytes));
        assert!(got.problems.is_empty());
        assert!(got.format.ends_with("(gzip)"), "{}", got.format);
        assert_eq!(got.frames, full.frames);
        // Two members, split at an arbitrary byte (inside a record).
        let mut two = gzip(&bytes[..bytes.len() / 3]);
        two.extend(gzip(&bytes[bytes.len() / 3..]));
        let got = read_bytes(&two);
        assert!(got.problems.is_empty(), "{:?}", got.problems);
        assert_eq!(got.frames, full.frames);
    }
}

#[test]
fn gzip_cut_short_keeps_what_was_readable_and_reports_it() {
    let Some(root) = corpus() else { return };
    let (bytes, full) = load(&root, PCAP);
    let gz = gzip(&bytes);
    for cut in [gz.len() / 2, gz.len() - 5] {
        let got = read_bytes(&gz[..cut]);
        let p = one_problem(&got);
        assert!(
            matches!(p.kind, ProblemKind::Truncated | ProblemKind::Corrupt),
            "{p}"
        );
        let n = got.frames.len();
        assert_eq!(got.problems[0].0, n, "the problem comes last");
        assert_eq!(got.frames, full.frames[..n]);
        if cut == gz.len() / 2 {
            assert!(n > 100 && n < full.frames.len(), "{n} frames");
        }
    }
}

#[test]
fn zstd_multi_frame_with_a_skippable_frame_reads_as_the_plain_file() {
    let Some(root) = corpus() else { return };
    let (bytes, full) = load(&root, PCAPNG);
    let level = ruzstd::encoding::CompressionLevel::Fastest;
    let mut z = ruzstd::encoding::compress_to_vec(&bytes[..1000], level);
    // A skippable frame (magic 0x184D2A5?, length, payload) between frames.
    z.extend(0x184d_2a53u32.to_le_bytes());
    z.extend(5u32.to_le_bytes());
    z.extend(b"skip!");
    z.extend(ruzstd::encoding::compress_to_vec(&bytes[1000..], level));
    let got = read_bytes(&z);
    assert_eq!(got.format, "pcapng (zstd)");
    assert!(got.problems.is_empty(), "{:?}", got.problems);
    assert_eq!(got.frames, full.frames);
    // Cut short: frames before intact, one problem at the end.
    let got = read_bytes(&z[..z.len() * 2 / 3]);
    let p = one_problem(&got);
    assert_eq!(got.frames, full.frames[..got.frames.len()], "{p}");
}

/// LZ4 frame format in 64 KiB blocks (so a cut leaves whole blocks before
/// it), as `lz4 -B4` writes it.
fn lz4(data: &[u8]) -> Vec<u8> {
    let info = lz4_flex::frame::FrameInfo::new().block_size(lz4_flex::frame::BlockSize::Max64KB);
    let mut enc = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

#[test]
fn lz4_frames_read_as_the_plain_file_and_a_cut_keeps_what_was_readable() {
    let Some(root) = corpus() else { return };
    for rel in [PCAP, PCAPNG] {
        let (bytes, full) = load(&root, rel);
        let got = read_bytes(&lz4(&bytes));
        assert!(got.problems.is_empty(), "{:?}", got.problems);
        assert_eq!(
            got.format.rsplit(' ').next(),
            Some("(lz4)"),
            "{}",
            got.format
        );
        assert_eq!(got.frames, full.frames);
        // Two frames, split inside a record: read on as one stream.
        let mut two = lz4(&bytes[..bytes.len() / 3]);
        two.extend(lz4(&bytes[bytes.len() / 3..]));
        let got = read_bytes(&two);
        assert!(got.problems.is_empty(), "{:?}", got.problems);
        assert_eq!(got.frames, full.frames);
        // Cut short: the frames of the whole blocks before the cut, then
        // one problem.
        let z = lz4(&bytes);
        let got = read_bytes(&z[..z.len() * 2 / 3]);
        let p = one_problem(&got);
        assert!(
            matches!(p.kind, ProblemKind::Truncated | ProblemKind::Corrupt),
            "{p}"
        );
        let n = got.frames.len();
        assert_eq!(got.frames, full.frames[..n]);
        assert!(n > 0 && n < full.frames.len(), "{rel}: {n} frames");
        // Garbage after the last frame is reported, the frames kept.
        let mut tail = z.clone();
        tail.extend(b"not lz4 at all");
        let got = read_bytes(&tail);
        one_problem(&got);
        assert_eq!(got.frames, full.frames);
    }
}

const SNOOP: &str = "format/pcapplusplus/solaris.snoop";

#[test]
fn snoop_damage_costs_the_damaged_part_only() {
    let Some(root) = corpus() else { return };
    let (bytes, full) = load(&root, SNOOP);
    assert_eq!(full.format, "snoop");
    assert_eq!(full.frames.len(), 250);
    // Record offsets: 16-byte file header, then record lengths.
    let mut offsets = Vec::new();
    let mut at = 16;
    while at + 24 <= bytes.len() {
        offsets.push(at);
        at += u32::from_be_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
    }
    assert_eq!(offsets.len(), 250);
    // Cut inside the file header: one truncation, nothing else.
    let got = read_bytes(&bytes[..10]);
    assert_eq!(one_problem(&got).kind, ProblemKind::Truncated);
    assert!(got.frames.is_empty());
    // Cut inside record 101: 100 frames, then one truncation.
    let got = read_bytes(&bytes[..offsets[100] + 30]);
    assert_eq!(one_problem(&got).kind, ProblemKind::Truncated);
    assert_eq!(got.frames, full.frames[..100]);
    // Garbage between records 50 and 51: reported, then every later frame
    // read with the number it has in the intact file.
    let mut g = bytes[..offsets[50]].to_vec();
    g.extend(std::iter::repeat_n(0xee_u8, 300));
    g.extend_from_slice(&bytes[offsets[50]..]);
    let got = read_bytes(&g);
    let p = one_problem(&got);
    assert_eq!(
        (p.kind, p.offset),
        (ProblemKind::Corrupt, Some(offsets[50] as u64))
    );
    assert_eq!(got.frames, full.frames);
    // A record whose lengths are damaged: that frame is lost (keeping its
    // number), the rest read.
    let mut d = bytes.clone();
    d[offsets[7] + 4..offsets[7] + 8].copy_from_slice(&0x00ff_ffffu32.to_le_bytes());
    let got = read_bytes(&d);
    assert_eq!(one_problem(&got).frame, Some(8));
    let want: Vec<&F> = full.frames.iter().filter(|f| f.number != 8).collect();
    assert_eq!(got.frames.iter().collect::<Vec<_>>(), want);
}

const NETMON: &str = "captures/sipnab/c07-sip-r2.cap";

#[test]
fn netmon_damage_costs_the_damaged_frames_only() {
    let Some(root) = corpus() else { return };
    let bytes = std::fs::read(root.join(NETMON)).unwrap();
    let full = drain(capture::open(&root.join(NETMON)).unwrap());
    assert_eq!(full.format, "NetMon 2.x");
    assert!(full.problems.is_empty() && full.frames.len() == 39);
    // Read from a stream (held in memory whole) it is the same.
    assert_eq!(read_bytes(&bytes).frames, full.frames);
    let table = u32::from_le_bytes(bytes[24..28].try_into().unwrap()) as usize;
    let entry = |i: usize| table + 4 * i;
    // Frame 5's table entry points past the end; frame 9's header claims
    // an absurd length. Both are reported; every other frame is read, with
    // its own number.
    let mut bad = bytes.clone();
    bad[entry(4)..entry(4) + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    let at9 = u32::from_le_bytes(bad[entry(8)..entry(8) + 4].try_into().unwrap()) as usize;
    bad[at9 + 12..at9 + 16].copy_from_slice(&0x4000_0000u32.to_le_bytes());
    let got = read_bytes(&bad);
    let numbers: Vec<Option<u64>> = got.problems.iter().map(|(_, p)| p.frame).collect();
    assert_eq!(numbers, vec![Some(5), Some(9)], "{:?}", got.problems);
    assert!(
        got.problems
            .iter()
            .all(|(_, p)| p.kind == ProblemKind::Corrupt)
    );
    let want: Vec<&F> = full
        .frames
        .iter()
        .filter(|f| f.number != 5 && f.number != 9)
        .collect();
    assert_eq!(got.frames.iter().collect::<Vec<_>>(), want);
    // A frame table that lies outside the file (the file was cut short):
    // refused with the reason, as tshark refuses it.
    let Err(e) = CaptureReader::from_reader(
        Box::new(std::io::Cursor::new(bytes[..60_000].to_vec())),
        "cut.cap".into(),
    ) else {
        panic!("a cut NetMon file was opened");
    };
    assert_eq!(*e.kind(), OpenErrorKind::Corrupt);
    assert!(e.to_string().contains("frame table"), "{e}");
}

#[test]
fn files_that_are_not_captures_are_refused_with_a_reason() {
    let Some(root) = corpus() else { return };
    let dir = tempfile::tempdir().unwrap();

    let empty = dir.path().join("empty.pcap");
    std::fs::write(&empty, b"").unwrap();
    let e = capture::open(&empty).err().expect("empty file refused");
    assert_eq!(*e.kind(), OpenErrorKind::Empty);
    assert!(e.to_string().contains("empty.pcap") && e.to_string().contains("empty file"));

    // A SIP message saved as a file (RFC 4475 torture test).
    let sip = root.join("torture/rfc4475/wsinv.dat");
    let e = capture::open(&sip).err().expect("SIP text refused");
    assert_eq!(*e.kind(), OpenErrorKind::NotACapture);
    let first = std::fs::read(&sip).unwrap();
    let hex = format!("{:02x} {:02x} {:02x}", first[0], first[1], first[2]);
    let msg = e.to_string();
    assert!(msg.contains("wsinv.dat") && msg.contains(&hex), "{msg}");
    assert!(msg.contains("pcap") && msg.contains("gzip"), "{msg}");

    // gzip of something that is not a capture, and gzip of nothing.
    let e = CaptureReader::from_reader(Box::new(std::io::Cursor::new(gzip(&first))), "x.gz".into())
        .err()
        .expect("gzipped text refused");
    assert_eq!(*e.kind(), OpenErrorKind::NotACapture);
    assert!(e.to_string().contains("inside gzip"), "{e}");
    let e = CaptureReader::from_reader(Box::new(std::io::Cursor::new(gzip(b""))), "e.gz".into())
        .err()
        .expect("empty gzip refused");
    assert_eq!(*e.kind(), OpenErrorKind::Empty);

    // Garbage that starts like gzip but is not.
    let mut bad = vec![0x1f, 0x8b];
    bad.extend(&first[..200]);
    let e = CaptureReader::from_reader(Box::new(std::io::Cursor::new(bad)), "b.gz".into())
        .err()
        .expect("bad gzip refused");
    assert_eq!(*e.kind(), OpenErrorKind::Corrupt, "{e}");

    let missing = dir.path().join("missing.pcap");
    let e = capture::open(&missing).err().expect("missing file refused");
    assert_eq!(*e.kind(), OpenErrorKind::Io);
    assert!(e.to_string().contains("missing.pcap"));
}

/// A small deterministic generator (xorshift64*), so failures replay.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[test]
fn random_damage_never_panics_and_keeps_frames_in_order() {
    let Some(root) = corpus() else { return };
    let files = [
        PCAP,
        PCAPNG,
        "format/pcapng-test-generator/be/test202.pcapng",
        "format/pcapplusplus/nanosecs_big_endian.pcap",
        "format/pcap-parser/modified-format.pcap",
        "format/scapy/bgp_fragmented.pcap.gz",
    ];
    let mut rng = Rng(0x5eed_cafe_f00d_d00d);
    for rel in files {
        let bytes = std::fs::read(root.join(rel)).unwrap();
        for round in 0..150 {
            let mut b = bytes.clone();
            match round % 4 {
                0 => {
                    for _ in 0..1 + rng.below(8) {
                        let i = rng.below(b.len());
                        b[i] ^= 1 << rng.below(8);
                    }
                }
                1 => {
                    // Overwrite a 32-bit field with an extreme value.
                    let i = rng.below(b.len().saturating_sub(4));
                    let v = [0u32, 1, 0xffff_ffff, 0x7fff_fffc, 0x0001_0000][rng.below(5)];
                    b[i..i + 4].copy_from_slice(&v.to_le_bytes());
                }
                2 => b.truncate(rng.below(b.len())),
                _ => {
                    let i = rng.below(b.len());
                    let junk: Vec<u8> = (0..rng.below(300)).map(|_| rng.next() as u8).collect();
                    b.splice(i..i, junk);
                }
            }
            let Ok(r) = CaptureReader::from_reader(Box::new(std::io::Cursor::new(b)), "f".into())
            else {
                continue; // damaged magic: refused at open, which is fine
            };
            let got = drain(r);
            assert!(got.capacity <= MAX_BUFFER_BYTES, "{rel} round {round}");
            for w in got.frames.windows(2) {
                assert!(
                    w[0].number < w[1].number,
                    "{rel} round {round}: numbers go back"
                );
            }
        }
    }
}
