//! The capture stage against tshark on every file of the external corpus
//! (`$SIPFLOW_CORPUS/format/` and `$SIPFLOW_CORPUS/captures/`): frame
//! numbers, timestamps (to the nanosecond), original and captured lengths
//! and link types must be what tshark reports. Files tshark reads
//! differently are listed in [`EXCEPTIONS`] with the reason; every other
//! file must agree exactly.

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::Command;

use sipflow::capture::{self, CaptureReader, Item, LinkType, OpenErrorKind, Timestamp};
use sipflow::problem::{Problem, ProblemKind};

fn corpus() -> Option<PathBuf> {
    match std::env::var_os("SIPFLOW_CORPUS") {
        Some(p) => Some(PathBuf::from(p)),
        None => {
            eprintln!("SIPFLOW_CORPUS is not set: corpus test not run");
            None
        }
    }
}

/// One frame as tshark prints it.
#[derive(Debug)]
struct Row {
    number: u64,
    /// Nanoseconds since the epoch; None when the record has no time
    /// (Simple Packet Blocks, Custom Blocks).
    time: Option<i128>,
    len: u32,
    cap_len: u32,
    /// Wireshark's WTAP_ENCAP number; None for records that are not
    /// packets (pcapng Custom Blocks).
    encap: Option<i32>,
}

/// tshark's view of a file, or None when tshark is not installed.
fn tshark(path: &Path) -> Option<Vec<Row>> {
    // NetMon 2.x stores its start time without a zone: tshark applies the
    // reading machine's, sipflow reads UTC. Compare both in UTC.
    let out = Command::new("tshark")
        .env("TZ", "UTC")
        .arg("-r")
        .arg(path)
        .args(["-T", "fields", "-E", "separator=/t"])
        .args(["-e", "frame.number", "-e", "frame.time_epoch"])
        .args([
            "-e",
            "frame.len",
            "-e",
            "frame.cap_len",
            "-e",
            "frame.encap_type",
        ])
        .output();
    let out = match out {
        Ok(o) => o,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
        Err(e) => panic!("cannot run tshark: {e}"),
    };
    let text = String::from_utf8(out.stdout).expect("tshark prints UTF-8");
    let rows = text
        .lines()
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            assert_eq!(f.len(), 5, "unexpected tshark line {line:?}");
            Row {
                number: f[0].parse().expect("frame.number"),
                time: (!f[1].is_empty()).then(|| parse_epoch(f[1])),
                len: f[2].parse().expect("frame.len"),
                cap_len: f[3].parse().expect("frame.cap_len"),
                encap: (!f[4].is_empty()).then(|| f[4].parse().expect("frame.encap_type")),
            }
        })
        .collect();
    Some(rows)
}

/// tshark prints `secs.nsecs` with nsecs as `%09d` (so a denormal value of
/// 10 digits, as a fuzzed file can hold, still means nanoseconds).
fn parse_epoch(s: &str) -> i128 {
    let (neg, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (secs, frac) = s.split_once('.').expect("time_epoch has a dot");
    assert!(frac.len() >= 9, "time_epoch {s} has fewer than 9 decimals");
    let ns = secs.parse::<i128>().unwrap() * 1_000_000_000 + frac.parse::<i128>().unwrap();
    if neg { -ns } else { ns }
}

/// Wireshark's WTAP_ENCAP numbers for the LINKTYPE values in the corpus
/// (wiretap/pcap-common.c maps one to the other).
fn wtap_encap(link: LinkType) -> Option<i32> {
    Some(match link.0 {
        0 => 15,    // NULL/Loopback
        1 => 1,     // Ethernet
        9 => 4,     // PPP
        101 => 7,   // Raw IP
        113 => 25,  // Linux cooked v1
        228 => 129, // Raw IPv4
        229 => 130, // Raw IPv6
        253 => 158, // Linux Netlink
        276 => 210, // Linux cooked v2
        _ => return None,
    })
}

/// One of our frames, owned.
#[derive(Debug, Clone, PartialEq)]
struct Ours {
    number: u64,
    time: Timestamp,
    link: LinkType,
    orig_len: u32,
    data: Vec<u8>,
}

/// Everything a reader yields, in order.
#[derive(Debug, Default, PartialEq)]
struct Read_ {
    frames: Vec<Ours>,
    problems: Vec<(usize, Problem)>, // (frames delivered before it, problem)
}

fn drain(mut r: CaptureReader) -> Read_ {
    let mut out = Read_::default();
    while let Some(item) = r.next() {
        match item {
            Item::Frame(f) => out.frames.push(Ours {
                number: f.number,
                time: f.time,
                link: f.link_type,
                orig_len: f.orig_len,
                data: f.data.to_vec(),
            }),
            Item::Problem(p) => out.problems.push((out.frames.len(), p)),
        }
    }
    out
}

/// Hands out a few bytes per read, like a pipe (no seeking possible).
struct Trickle<R> {
    inner: R,
    step: usize,
}

impl<R: Read> Read for Trickle<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.step);
        self.inner.read(&mut buf[..n])
    }
}

/// Checks that our first `n` frames are tshark's first `n` packets.
fn agree(ours: &[Ours], rows: &[Row], n: usize) -> Result<(), String> {
    let packets: Vec<&Row> = rows.iter().filter(|r| r.encap.is_some()).collect();
    if ours.len() < n || packets.len() < n {
        return Err(format!(
            "expected {n} agreeing frames, have {} (tshark {})",
            ours.len(),
            packets.len()
        ));
    }
    let mut previous_time = Timestamp::default();
    for (o, t) in ours.iter().zip(packets).take(n) {
        let at = format!("frame {}", t.number);
        if o.number != t.number {
            return Err(format!("{at}: our number is {}", o.number));
        }
        if o.orig_len != t.len || o.data.len() != t.cap_len as usize {
            return Err(format!(
                "{at}: len/caplen {}/{} but tshark {}/{}",
                o.orig_len,
                o.data.len(),
                t.len,
                t.cap_len
            ));
        }
        match t.time {
            Some(ns) if o.time.as_nanos() != ns => {
                return Err(format!("{at}: time {} but tshark {ns} ns", o.time));
            }
            // No time in the file (Simple Packet Block): ours is the
            // previous packet's, as documented.
            None if o.time != previous_time => {
                return Err(format!("{at}: SPB time {} is not the previous one", o.time));
            }
            _ => {}
        }
        match wtap_encap(o.link) {
            Some(e) if Some(e) == t.encap => {}
            Some(e) => return Err(format!("{at}: encap {e} but tshark {:?}", t.encap)),
            None => return Err(format!("{at}: no WTAP mapping for link type {}", o.link.0)),
        }
        previous_time = o.time;
    }
    Ok(())
}

/// How a file departs from "every frame agrees with tshark, no problem".
enum Expect {
    /// Not a capture file at all for sipflow.
    NotACapture,
    /// The first `frames` frames agree with tshark, then a problem of this
    /// kind (tshark stops with an error at the same place).
    AgreeThenProblem { frames: usize, kind: ProblemKind },
}

/// Every file that does not simply agree with tshark, and why.
const EXCEPTIONS: &[(&str, Expect, &str)] = &[
    (
        "format/pcap-parser/err-eof.bin",
        Expect::NotACapture,
        "136 bytes without a magic; tshark guesses CommView and reports damage",
    ),
    (
        "format/gopacket/le/test901.pcapng",
        Expect::AgreeThenProblem {
            frames: 1,
            kind: ProblemKind::Unsupported,
        },
        "second section has SHB version 2.0: tshark stops, sipflow skips to section 3",
    ),
    (
        "format/gopacket/be/test901.pcapng",
        Expect::AgreeThenProblem {
            frames: 1,
            kind: ProblemKind::Unsupported,
        },
        "big-endian twin of le/test901",
    ),
    (
        "format/ndpi/fuzz-2021-10-13.pcap",
        Expect::AgreeThenProblem {
            frames: 1,
            kind: ProblemKind::Truncated,
        },
        "fuzzed: first record fine, file cut inside the second (tshark: cut short)",
    ),
    (
        "format/suricata-verify/bug-6875-01__fuzz.pcap",
        Expect::AgreeThenProblem {
            frames: 1,
            kind: ProblemKind::Corrupt,
        },
        "fuzzed: record 2's caplen is absurd; tshark's 'Nokia pcap' heuristic then reads \
         24-byte headers and shows a bogus frame 2 before failing, sipflow reports the damage",
    ),
];

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Checks one file; returns what was checked, for the log.
fn check_file(root: &Path, path: &Path) -> Result<String, String> {
    let rel = path
        .strip_prefix(root)
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let expect = EXCEPTIONS.iter().find(|(p, ..)| *p == rel);
    let rows = tshark(path).expect("tshark checked before");
    let opened = capture::open(path);
    match (expect, opened) {
        (Some((_, Expect::NotACapture, _)), Err(e)) => {
            if *e.kind() != OpenErrorKind::NotACapture {
                return Err(format!("expected NotACapture, got {e}"));
            }
            Ok(format!("refused: {e}"))
        }
        (Some((_, Expect::AgreeThenProblem { frames, kind }, _)), Ok(r)) => {
            let ours = drain(r);
            agree(&ours.frames, &rows, *frames)?;
            match ours.problems.first() {
                Some((before, p)) if *before == *frames && p.kind == *kind => Ok(format!(
                    "{frames} frames agree, then {}: {p}",
                    kind.as_str()
                )),
                other => Err(format!(
                    "expected {kind:?} after {frames} frames, got {other:?}"
                )),
            }
        }
        (Some(_), res) => Err(format!(
            "listed as an exception but opened as {:?}",
            res.map(|r| r.format_name().to_string())
        )),
        (None, Err(e)) => Err(format!("cannot open: {e}")),
        (None, Ok(r)) => {
            let format = r.format_name().to_string();
            let ours = drain(r);
            if !ours.problems.is_empty() {
                return Err(format!("unexpected problems: {:?}", ours.problems));
            }
            let packets = rows.iter().filter(|r| r.encap.is_some()).count();
            if ours.frames.len() != packets {
                return Err(format!(
                    "{} frames but tshark has {packets} packets",
                    ours.frames.len()
                ));
            }
            agree(&ours.frames, &rows, packets)?;
            // The same bytes through a pipe-like reader give the same result.
            let file = std::fs::File::open(path).unwrap();
            let piped = CaptureReader::from_reader(
                Box::new(Trickle {
                    inner: file,
                    step: 61,
                }),
                rel.clone(),
            )
            .map_err(|e| e.to_string())?;
            if drain(piped) != ours {
                return Err("read through small reads differs".into());
            }
            Ok(format!("{format}: {packets} frames agree"))
        }
    }
}

#[test]
fn every_corpus_file_reads_as_tshark_reads_it() {
    let Some(root) = corpus() else { return };
    if tshark(&root.join("format/tcpdump/empty.pcap")).is_none() {
        eprintln!("tshark is not installed: corpus comparison not run");
        return;
    }
    let mut files = Vec::new();
    files_under(&root.join("format"), &mut files);
    files_under(&root.join("captures"), &mut files);
    assert!(
        files.len() > 100,
        "corpus looks incomplete: {} files",
        files.len()
    );
    for (p, _, _) in EXCEPTIONS {
        assert!(root.join(p).is_file(), "exception {p} is not in the corpus");
    }
    let mut failures = Vec::new();
    for f in &files {
        match check_file(&root, f) {
            Ok(what) => eprintln!("ok   {}: {what}", f.display()),
            Err(why) => {
                eprintln!("FAIL {}: {why}", f.display());
                failures.push(format!("{}: {why}", f.display()));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} files disagree:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Reads `bytes` (written to a scratch file) and returns ours and
/// tshark's view of them.
fn both(bytes: &[u8]) -> (Read_, Vec<Row>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.pcapng");
    std::fs::write(&path, bytes).unwrap();
    let ours = drain(capture::open(&path).unwrap());
    let rows = tshark(&path).expect("tshark checked before");
    (ours, rows)
}

#[test]
fn unsupported_section_is_skipped_and_the_next_section_read_as_tshark_reads_it() {
    let Some(root) = corpus() else { return };
    for endian in ["le", "be"] {
        let path = root.join(format!("format/gopacket/{endian}/test901.pcapng"));
        if tshark(&path).is_none() {
            eprintln!("tshark is not installed: test not run");
            return;
        }
        let bytes = std::fs::read(&path).unwrap();
        let ours = drain(capture::open(&path).unwrap());
        // Sections start at 0, 0x1e0 (version 2.0) and 0x3dc: tshark reads
        // the third one alone when it is cut out as a file of its own.
        assert_eq!(&bytes[0x3dc..0x3e0], &[0x0a, 0x0d, 0x0d, 0x0a]);
        let (_, tail_rows) = both(&bytes[0x3dc..]);
        assert_eq!(tail_rows.len(), 1);
        assert_eq!(ours.frames.len(), 2, "{endian}: {:?}", ours.problems);
        let mut second = ours.frames[1].clone();
        assert_eq!(second.number, 2, "numbered on after the skipped section");
        second.number = 1;
        agree(&[second], &tail_rows, 1).unwrap();
        assert_eq!(ours.problems.len(), 1);
        assert_eq!(ours.problems[0].1.offset, Some(0x1e0));
    }
}

/// Rebuilds a pcapng file block by block: `edit(type, block, big_endian)`
/// returns a replacement body (the bytes between the length fields) or
/// None to keep the block; lengths are recomputed.
fn rewrite_blocks(
    file: &[u8],
    mut edit: impl FnMut(u32, &[u8], bool) -> Option<(u32, Vec<u8>)>,
) -> Vec<u8> {
    let mut out = Vec::new();
    let mut off = 0;
    let mut big = false;
    while off + 12 <= file.len() {
        let b = &file[off..];
        if b[..4] == [0x0a, 0x0d, 0x0d, 0x0a] {
            big = b[8..12] == [0x1a, 0x2b, 0x3c, 0x4d];
        }
        let rd = |i: usize| {
            let w = [b[i], b[i + 1], b[i + 2], b[i + 3]];
            if big {
                u32::from_be_bytes(w)
            } else {
                u32::from_le_bytes(w)
            }
        };
        let (btype, len) = (rd(0), rd(4) as usize);
        let u32b = |v: u32| {
            if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        match edit(btype, &b[..len], big) {
            Some((new_type, body)) => {
                let total = (body.len() + 12) as u32;
                out.extend(u32b(new_type));
                out.extend(u32b(total));
                out.extend(body);
                out.extend(u32b(total));
            }
            None => out.extend(&b[..len]),
        }
        off += len;
    }
    out
}

/// Rewrites every Interface Description Block of a pcapng file to carry
/// the given options (existing options dropped), in the section's byte
/// order.
fn with_idb_options(file: &[u8], options: &[(u16, Vec<u8>)]) -> Vec<u8> {
    rewrite_blocks(file, |btype, b, big| {
        if btype != 1 {
            return None;
        }
        let u16b = |v: u16| {
            if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let mut body = b[8..16].to_vec(); // link type, reserved, snaplen
        for (code, value) in options {
            body.extend(u16b(*code));
            body.extend(u16b(value.len() as u16));
            body.extend(value);
            body.resize(body.len().div_ceil(4) * 4, 0);
        }
        body.extend([0, 0, 0, 0]); // opt_endofopt
        Some((1, body))
    })
}

#[test]
fn obsolete_packet_blocks_read_as_tshark_reads_them() {
    let Some(root) = corpus() else { return };
    if tshark(&root.join("format/tcpdump/empty.pcap")).is_none() {
        eprintln!("tshark is not installed: test not run");
        return;
    }
    // No corpus file has Packet Blocks (type 2, the pre-EPB packet block):
    // turn every EPB into one (16-bit interface id + 16-bit drop count
    // instead of a 32-bit interface id; the rest is laid out alike).
    for file in [
        "format/pcapng-test-generator/le/test202.pcapng",
        "format/pcapng-test-generator/be/test202.pcapng",
        "format/pcapplusplus/many_interfaces-1.pcapng",
    ] {
        let bytes = std::fs::read(root.join(file)).unwrap();
        let patched = rewrite_blocks(&bytes, |btype, b, big| {
            if btype != 6 {
                return None;
            }
            let mut body = b[8..b.len() - 4].to_vec();
            let iface = if big { &body[2..4] } else { &body[0..2] };
            let iface = [iface[0], iface[1]];
            body[0..2].copy_from_slice(&iface);
            body[2..4].copy_from_slice(&[0, 0]);
            Some((2, body))
        });
        assert_ne!(patched, bytes);
        let (ours, rows) = both(&patched);
        assert!(ours.problems.is_empty(), "{file}: {:?}", ours.problems);
        let packets = rows.iter().filter(|r| r.encap.is_some()).count();
        assert!(packets > 0);
        assert_eq!(ours.frames.len(), packets, "{file}");
        agree(&ours.frames, &rows, packets).unwrap_or_else(|e| panic!("{file}: {e}"));
    }
}

#[test]
fn power_of_two_resolution_and_time_offset_match_tshark_in_both_byte_orders() {
    let Some(root) = corpus() else { return };
    if tshark(&root.join("format/tcpdump/empty.pcap")).is_none() {
        eprintln!("tshark is not installed: test not run");
        return;
    }
    for (file, big) in [
        ("format/pcapng-test-generator/le/test004.pcapng", false),
        ("format/pcapng-test-generator/be/test004.pcapng", true),
        ("captures/sipnab/sip-auth-failure.pcapng", false),
    ] {
        let bytes = std::fs::read(root.join(file)).unwrap();
        let offset: i64 = 86_400 * 365;
        let offset_bytes = if big {
            offset.to_be_bytes()
        } else {
            offset.to_le_bytes()
        };
        for resol in [0x80 | 20, 0x80 | 30, 0x80 | 7, 3, 9] {
            let patched =
                with_idb_options(&bytes, &[(9, vec![resol]), (14, offset_bytes.to_vec())]);
            let (ours, rows) = both(&patched);
            assert!(ours.problems.is_empty(), "{file}: {:?}", ours.problems);
            assert_eq!(ours.frames.len(), rows.len(), "{file}");
            agree(&ours.frames, &rows, rows.len())
                .unwrap_or_else(|e| panic!("{file} if_tsresol {resol:#x}: {e}"));
        }
    }
}
