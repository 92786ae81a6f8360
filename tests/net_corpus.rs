//! The network stage on real captures from the external corpus, checked
//! against tshark 4.0 (the frame lists below were produced with the tshark
//! command quoted next to each, never by sipflow).
//!
//! The corpus is found through `SIPFLOW_CORPUS`; without it the tests say
//! so and return. The capture reader is another stage, so a tiny
//! test-only reader for classic pcap (and the single-interface pcapng of
//! the GRE sample) lives here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use sipflow::capture::{Frame, LinkType, Timestamp};
use sipflow::net::{Decoder, FlowKey, NetConfig, NetEvent, NetStats};
use sipflow::problem::{Problem, ProblemKind};

fn corpus(rel: &str) -> Option<PathBuf> {
    let Some(root) = std::env::var_os("SIPFLOW_CORPUS") else {
        eprintln!("SIPFLOW_CORPUS is not set: corpus test for {rel} not run");
        return None;
    };
    Some(PathBuf::from(root).join("captures").join(rel))
}

struct Record {
    time: Timestamp,
    data: Vec<u8>,
    orig_len: u32,
}

/// Classic pcap (either byte order, micro- or nanosecond) or pcapng with
/// enhanced packet blocks (all taken as the last interface's link type and
/// microseconds: enough for these files). Test-only: panics on anything
/// else.
fn read_capture(path: &PathBuf) -> (LinkType, Vec<Record>) {
    try_read_capture(path).unwrap_or_else(|| panic!("not a capture: {}", path.display()))
}

fn try_read_capture(path: &PathBuf) -> Option<(LinkType, Vec<Record>)> {
    let bytes = std::fs::read(path).expect("read capture");
    if bytes.len() < 24 {
        return None;
    }
    let u32_at = |b: &[u8], at: usize, le: bool| {
        let a = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    };
    let magic = u32_at(&bytes, 0, true);
    if magic == 0x0a0d0d0a {
        let le = u32_at(&bytes, 8, true) == 0x1a2b3c4d;
        let mut link = LinkType(0);
        let mut records = Vec::new();
        let mut at = 0;
        while at + 12 <= bytes.len() {
            let ty = u32_at(&bytes, at, le);
            let len = u32_at(&bytes, at + 4, le) as usize;
            let body = &bytes[at + 8..at + len - 4];
            match ty {
                1 => link = LinkType(u32::from(u16::from_le_bytes([body[0], body[1]]))),
                6 => {
                    let ts =
                        (u64::from(u32_at(body, 4, le)) << 32) | u64::from(u32_at(body, 8, le));
                    let caplen = u32_at(body, 12, le) as usize;
                    records.push(Record {
                        time: Timestamp {
                            secs: (ts / 1_000_000) as i64,
                            nanos: (ts % 1_000_000) as u32 * 1000,
                        },
                        data: body[20..20 + caplen].to_vec(),
                        orig_len: u32_at(body, 16, le),
                    });
                }
                _ => {}
            }
            if len < 12 {
                return None;
            }
            at += len;
        }
        return Some((link, records));
    }
    let (le, nano) = match magic {
        0xa1b2c3d4 => (true, false),
        0xa1b23c4d => (true, true),
        0xd4c3b2a1 => (false, false),
        0x4d3cb2a1 => (false, true),
        _ => return None,
    };
    let link = LinkType(u32_at(&bytes, 20, le) & 0x0fff_ffff);
    let mut records = Vec::new();
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let secs = u32_at(&bytes, at, le);
        let frac = u32_at(&bytes, at + 4, le);
        let caplen = u32_at(&bytes, at + 8, le) as usize;
        let orig_len = u32_at(&bytes, at + 12, le);
        let data = bytes[at + 16..at + 16 + caplen].to_vec();
        records.push(Record {
            time: Timestamp {
                secs: i64::from(secs),
                nanos: if nano { frac } else { frac * 1000 },
            },
            data,
            orig_len,
        });
        at += 16 + caplen;
    }
    Some((link, records))
}

/// What the decoder produced for one file, in owned form.
#[derive(Default)]
struct Output {
    datagrams: Vec<(u64, FlowKey, Vec<u8>)>,
    stream_chunks: Vec<(u64, FlowKey, Vec<u8>, bool)>,
    stream_ends: Vec<(u64, FlowKey)>,
    problems: Vec<Problem>,
    stats: NetStats,
}

impl Output {
    /// The frames whose UDP payload starts with a SIP start line.
    fn sip_datagram_frames(&self) -> BTreeSet<u64> {
        self.datagrams
            .iter()
            .filter(|(_, _, d)| is_sip_start(d))
            .map(|(f, _, _)| *f)
            .collect()
    }

    /// Each TCP direction's bytes, concatenated.
    fn streams(&self) -> BTreeMap<String, Vec<u8>> {
        let mut m: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        for (_, flow, d, _) in &self.stream_chunks {
            m.entry(format!("{} {}", flow.src, flow.dst))
                .or_default()
                .extend_from_slice(d);
        }
        m
    }
}

fn is_sip_start(d: &[u8]) -> bool {
    let line = d.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let line = String::from_utf8_lossy(line);
    line.starts_with("SIP/2.0 ") || line.trim_end().ends_with(" SIP/2.0")
}

fn decode(rel: &str) -> Option<Output> {
    let path = corpus(rel)?;
    let (link, records) = read_capture(&path);
    Some(decode_records(link, &records))
}

fn decode_records(link: LinkType, records: &[Record]) -> Output {
    let mut out = Output::default();
    let mut decoder = Decoder::new(NetConfig::default());
    let mut sink = |ev: NetEvent<'_>| match ev {
        NetEvent::Datagram {
            frame, flow, data, ..
        } => out.datagrams.push((frame, flow, data.to_vec())),
        NetEvent::Stream {
            frame,
            flow,
            data,
            gap,
            ..
        } => out.stream_chunks.push((frame, flow, data.to_vec(), gap)),
        NetEvent::StreamEnd { frame, flow } => out.stream_ends.push((frame, flow)),
        NetEvent::Problem(p) => out.problems.push(p),
    };
    for (i, r) in records.iter().enumerate() {
        let frame = Frame {
            number: i as u64 + 1,
            time: r.time,
            link_type: link,
            data: &r.data,
            orig_len: r.orig_len,
        };
        decoder.push(&frame, &mut sink);
    }
    decoder.finish(&mut sink);
    out.stats = decoder.stats().clone();
    out
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn range(a: u64, b: u64) -> Vec<u64> {
    (a..=b).collect()
}

/// Frames where tshark finds SIP over UDP outside ICMP, from
/// `tshark -r F -Y 'sip && udp && !icmp' -T fields -e frame.number`
/// (for gtp-iphone `-Y 'sip && !tcp'`, its outer UDP being GTP-U).
fn udp_cases() -> Vec<(&'static str, Vec<u64>)> {
    vec![
        ("ndpi/gre.pcapng", vec![1]),
        ("aiengine/gprs_sip_flow.pcap", range(1, 22)),
        ("arkime/gtp-iphone.pcap", vec![31, 34, 90, 91]),
        ("packetnet/udp-ip-fragmented.pcap", range(2, 14)),
        ("sngrep/ipv6frag.pcap", [vec![2, 3], range(5, 34)].concat()),
        ("nextcaller-sip-capture/sip-i.pcap", vec![2, 3]),
        ("nextcaller-sip-capture/sip-frag.pcap", vec![]),
        (
            "ipfixprobe/sip.pcap",
            [
                vec![1, 2, 3, 4, 5, 6, 8, 9, 11, 13],
                range(17, 24),
                range(28, 49),
            ]
            .concat(),
        ),
        ("sipnab/DTMFsipinfo.pcap", range(1, 32)),
        ("heplify/ipip0.pcap", range(1, 8)),
        ("sipnab/h263-over-rtp.pcap", range(1, 4)),
    ]
}

#[test]
fn udp_sip_frames_match_tshark() {
    for (file, expected) in udp_cases() {
        let Some(out) = decode(file) else { return };
        let got: Vec<u64> = out.sip_datagram_frames().into_iter().collect();
        assert_eq!(got, expected, "{file}: frames with a SIP datagram");
        if file != "nextcaller-sip-capture/sip-frag.pcap" {
            assert!(
                out.problems.is_empty(),
                "{file}: unexpected problems {:?}",
                out.problems
            );
        }
    }
}

#[test]
fn fragmented_datagrams_complete_at_their_last_fragment() {
    // tshark: `-T fields -e frame.number -e ip.flags.mf -e ip.frag_offset`
    // shows frames 1 (MF) and 2 (offset 185) of one datagram, 1547 bytes of
    // UDP (8 header + 1539 payload), reassembled in frame 2.
    let Some(out) = decode("nextcaller-sip-capture/sip-i.pcap") else {
        return;
    };
    let (frame, _, data) = &out.datagrams[0];
    assert_eq!((*frame, data.len()), (2, 1539));
    assert!(data.starts_with(b"INVITE sip:+18445618378;cic=0913"));
    // The ISUP part at the very end of the body came from the second
    // fragment: the multipart closing boundary ends the datagram.
    assert!(data.ends_with(b"--sonus-content-delim--\r\n"));
    assert_eq!(out.stats.ip_reassembled, 1);
}

#[test]
fn lone_trailing_fragment_is_reported_at_finish() {
    let Some(out) = decode("nextcaller-sip-capture/sip-frag.pcap") else {
        return;
    };
    assert!(out.datagrams.is_empty());
    assert_eq!(out.problems.len(), 1, "{:?}", out.problems);
    let p = &out.problems[0];
    assert_eq!((p.kind, p.frame), (ProblemKind::Fragment, Some(1)));
    assert!(
        p.message.contains("216.221.155.72 -> 10.0.90.18"),
        "{}",
        p.message
    );
}

#[test]
fn icmp_quotes_are_not_traffic() {
    // tshark -Y icmp: frames 7 10 12 14 15 quote SIP inside ICMP errors.
    let Some(out) = decode("ipfixprobe/sip.pcap") else {
        return;
    };
    let icmp = [7u64, 10, 12, 14, 15];
    assert!(out.datagrams.iter().all(|(f, _, _)| !icmp.contains(f)));
    assert_eq!(out.stats.icmp_skipped, 5);
}

/// Per direction: tshark's `-q -z follow,tcp,raw,N` bytes for every TCP
/// stream, concatenated per (source, destination) in stream order: length
/// and FNV-1a 64 of the bytes.
/// (source destination, byte count, FNV-1a 64 of the bytes).
type Direction = (&'static str, usize, u64);

/// Also whether the capture holds the SYNs (`tshark -Y tcp.flags.syn==1`):
/// without them each direction's first delivery is flagged as after a gap.
fn tcp_cases() -> Vec<(&'static str, bool, Vec<Direction>)> {
    vec![
        (
            "sipnab/sip-over-tcp.pcap",
            true,
            vec![
                (
                    "10.33.6.100:64802 10.33.6.101:5060",
                    1801,
                    0x7ab9caa6b697332b,
                ),
                (
                    "10.33.6.101:5060 10.33.6.100:64802",
                    2234,
                    0xe3054bfe0c145c85,
                ),
            ],
        ),
        (
            "nextcaller-sip-capture/sip-tcp.pcap",
            false,
            vec![
                ("127.0.0.1:36959 127.0.0.1:5060", 1225, 0xba169f622ffe569f),
                ("127.0.0.1:5060 127.0.0.1:36959", 1072, 0xa35d22198c0ce2b5),
                ("127.0.0.1:43661 127.0.0.1:5060", 1225, 0xde0581cc6e4ce9b8),
                ("127.0.0.1:5060 127.0.0.1:43661", 1072, 0x64b0d808a6567365),
                ("127.0.0.1:39311 127.0.0.1:5060", 1225, 0xa9b4df6f94964040),
                ("127.0.0.1:5060 127.0.0.1:39311", 1072, 0xc080b8f4b77b59c1),
                ("127.0.0.1:41721 127.0.0.1:5060", 1225, 0xde2e6b545d1ad7d3),
                ("127.0.0.1:5060 127.0.0.1:41721", 1072, 0xc71c9840bf4a5049),
                ("127.0.0.1:43725 127.0.0.1:5060", 1225, 0x33cfa74c2348b146),
                ("127.0.0.1:5060 127.0.0.1:43725", 1072, 0x5f37313b9b2b401),
            ],
        ),
        (
            "sngrep/ipip.pcap",
            false,
            vec![
                (
                    "10.15.197.103:5090 10.15.193.31:33093",
                    1512,
                    0xf7cafd17c473f658,
                ),
                (
                    "10.15.193.31:33093 10.15.197.103:5090",
                    1237,
                    0x326318d94a21e399,
                ),
            ],
        ),
        (
            "arkime/gtp-iphone.pcap",
            true,
            vec![
                (
                    "[fd00:183:1:1:1886:9040:8605:32b8]:5060 [fd01::183]:5060",
                    8178,
                    0xc2d1648c24af14b8,
                ),
                (
                    "[fd01::183]:5060 [fd00:183:1:1:1886:9040:8605:32b8]:5060",
                    3728,
                    0xc7b6f5d558a9c9bf,
                ),
            ],
        ),
        (
            "suricata-verify/sip-body-large__sip-body-large.pcap",
            true,
            vec![
                ("127.0.0.1:59809 127.0.0.1:5060", 65793, 0xac8d7ac88d35b348),
                ("127.0.0.1:5060 127.0.0.1:59809", 207, 0x790d2025698a77db),
            ],
        ),
        (
            "suricata-verify/sip-tcp-method__sip-tcp.pcap",
            true,
            vec![
                ("127.0.0.1:58882 127.0.0.1:5060", 585, 0x352efa94e99981cc),
                ("127.0.0.1:5060 127.0.0.1:58882", 491, 0xe66a8018ad115095),
            ],
        ),
    ]
}

#[test]
fn tcp_streams_match_tshark_follow() {
    for (file, syn_captured, expected) in tcp_cases() {
        let Some(out) = decode(file) else { return };
        let streams = out.streams();
        let got: Vec<(String, usize, u64)> = streams
            .iter()
            .map(|(k, v)| (k.clone(), v.len(), fnv1a(v)))
            .collect();
        let mut want: Vec<(String, usize, u64)> = expected
            .iter()
            .map(|(k, n, h)| (k.to_string(), *n, *h))
            .collect();
        want.sort();
        assert_eq!(got, want, "{file}: reassembled TCP directions");
        assert!(out.problems.is_empty(), "{file}: {:?}", out.problems);
        let mut seen = BTreeSet::new();
        for (frame, flow, _, gap) in &out.stream_chunks {
            let first = seen.insert(format!("{} {}", flow.src, flow.dst));
            let expected_gap = first && !syn_captured;
            assert_eq!(*gap, expected_gap, "{file}: frame {frame}");
        }
        // Every direction that carried data was ended (FIN or end of file).
        let ended: BTreeSet<String> = out
            .stream_ends
            .iter()
            .map(|(_, f)| format!("{} {}", f.src, f.dst))
            .collect();
        assert!(
            streams.keys().all(|k| ended.contains(k)),
            "{file}: {ended:?}"
        );
    }
}

#[test]
fn tcp_sip_messages_complete_in_delivered_frames() {
    // `tshark -r gtp-iphone.pcap -Y 'sip && tcp' -T fields -e frame.number`:
    // the frames where tshark completes each SIP message over TCP.
    let Some(out) = decode("arkime/gtp-iphone.pcap") else {
        return;
    };
    let delivered: BTreeSet<u64> = out.stream_chunks.iter().map(|c| c.0).collect();
    for f in [14, 16, 27, 29, 40, 43, 45, 47, 52, 80, 86, 100, 102] {
        assert!(
            delivered.contains(&f),
            "no TCP bytes delivered at frame {f}"
        );
    }
    // tshark: connections 0..3 reuse the same ports; FINs at 18/19, 32/33,
    // 92/93, 104/105.
    let ends: Vec<u64> = out.stream_ends.iter().map(|e| e.0).collect();
    assert_eq!(ends, vec![18, 19, 32, 33, 92, 93, 104, 105]);
}

#[test]
fn every_corpus_capture_decodes_and_accounts_for_its_frames() {
    let Some(dir) = corpus("") else { return };
    let mut files = Vec::new();
    for source in std::fs::read_dir(&dir).expect("captures dir") {
        for f in std::fs::read_dir(source.unwrap().path()).unwrap() {
            files.push(f.unwrap().path());
        }
    }
    files.sort();
    let mut decoded = 0;
    for path in &files {
        let Some((link, records)) = try_read_capture(path) else {
            eprintln!("skipped (not classic pcap/pcapng): {}", path.display());
            continue;
        };
        let out = decode_records(link, &records);
        decoded += 1;
        assert_eq!(out.stats.frames, records.len() as u64, "{}", path.display());
        // Every problem names a frame of the file.
        for p in &out.problems {
            let f = p.frame.expect("problem without a frame");
            assert!(
                (1..=records.len() as u64).contains(&f),
                "{}: {p}",
                path.display()
            );
        }
        // Every stream delivery is one of the file's frames too.
        for (f, _, _) in &out.datagrams {
            assert!((1..=records.len() as u64).contains(f));
        }
        eprintln!(
            "{}: {} frames, {} datagrams, {} TCP bytes, {} problems",
            path.display(),
            records.len(),
            out.datagrams.len(),
            out.stats.tcp_bytes,
            out.problems.len()
        );
        for p in &out.problems {
            eprintln!("  {} {p}", p.kind.as_str());
        }
    }
    assert!(decoded >= 50, "only {decoded} captures decoded");
}
