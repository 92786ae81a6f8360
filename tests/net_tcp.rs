//! TCP reassembly, one direction at a time, on real segments (headers and
//! checksums from etherparse). No segment in these tests is acknowledged:
//! a trace may hold one direction only.

mod net_util;

use net_util::*;
use sipflow::capture::{Frame, LinkType};
use sipflow::net::{Decoder, NetConfig};
use sipflow::problem::ProblemKind;

const ISN: u32 = 1000;

fn msg() -> Vec<u8> {
    let mut m = b"INVITE sip:bob@example.com SIP/2.0\r\nContent-Length: 300\r\n\r\n".to_vec();
    m.extend((0..300u32).map(|i| b'a' + (i % 26) as u8));
    m
}

/// Segments of `data` starting at sequence number `seq`, `size` bytes each.
fn segments(seq: u32, data: &[u8], size: usize) -> Vec<(u32, Vec<u8>)> {
    data.chunks(size)
        .enumerate()
        .map(|(i, c)| (seq.wrapping_add((i * size) as u32), c.to_vec()))
        .collect()
}

fn raw(seq: u32, flags: Flags, payload: &[u8]) -> Vec<u8> {
    tcp4(seq, flags, payload)
}

#[test]
fn in_order_with_syn_and_fin() {
    let m = msg();
    let segs = segments(ISN + 1, &m, 100);
    let mut frames = vec![raw(ISN, SYN, &[])];
    frames.extend(segs.iter().map(|(s, d)| raw(*s, NONE, d)));
    frames.push(raw(ISN + 1 + m.len() as u32, FIN, &[]));
    let out = run(LinkType::RAW, &frames);
    assert_eq!(out.stream_bytes(), m);
    let frames_delivered: Vec<u64> = out.chunks().iter().map(|c| c.0).collect();
    assert_eq!(frames_delivered, vec![2, 3, 4, 5]);
    assert!(out.chunks().iter().all(|c| !c.2));
    assert_eq!(out.ends(), vec![6]);
    assert!(out.problems().is_empty());
}

#[test]
fn reordered_segments_are_delivered_when_the_hole_fills() {
    let m = msg();
    let s = segments(ISN + 1, &m, 100);
    let frames = vec![
        raw(ISN, SYN, &[]),
        raw(s[0].0, NONE, &s[0].1),
        raw(s[2].0, NONE, &s[2].1),
        raw(s[3].0, NONE, &s[3].1),
        raw(s[1].0, NONE, &s[1].1),
    ];
    let out = run(LinkType::RAW, &frames);
    assert_eq!(out.stream_bytes(), m);
    let c = out.chunks();
    assert_eq!(c.len(), 2);
    assert_eq!((c[0].0, c[0].1.len()), (2, 100));
    // Segments 2..4 complete in frame 5, the one that filled the hole.
    assert_eq!((c[1].0, c[1].1.len()), (5, m.len() - 100));
    assert!(out.problems().is_empty());
}

#[test]
fn retransmissions_and_keepalives_are_dropped() {
    let m = msg();
    let s = segments(ISN + 1, &m, 100);
    let frames = vec![
        raw(ISN, SYN, &[]),
        raw(s[0].0, NONE, &s[0].1),
        raw(s[0].0, NONE, &s[0].1), // retransmission
        raw(s[1].0, NONE, &s[1].1),
        raw(s[1].0 + 99, NONE, &s[1].1[99..]), // keep-alive: 1 old byte
        raw(s[2].0, NONE, &[]),                // zero-length ACK
        raw(s[2].0, NONE, &s[2].1),
        raw(s[3].0, NONE, &s[3].1),
        raw(s[3].0, NONE, &s[3].1),
    ];
    let out = run(LinkType::RAW, &frames);
    assert_eq!(out.stream_bytes(), m);
    assert_eq!(out.stats.tcp_bytes_duplicate, 100 + 1 + s[3].1.len() as u64);
    assert!(out.problems().is_empty());
}

#[test]
fn overlapping_segments_keep_the_first_copy() {
    let m = msg();
    let s = segments(ISN + 1, &m, 100);
    let forged = vec![b'#'; 150];
    // Delivered bytes win over a later overlap that reaches past them.
    let frames = vec![
        raw(ISN, SYN, &[]),
        raw(s[0].0, NONE, &s[0].1),
        {
            let mut d = forged.clone();
            d[50..].copy_from_slice(&m[100..200]);
            raw(s[0].0 + 50, NONE, &d) // bytes 50..200: 50 old (forged) + 100 new
        },
        raw(s[2].0, NONE, &s[2].1),
        raw(s[3].0, NONE, &s[3].1),
    ];
    let out = run(LinkType::RAW, &frames);
    assert_eq!(out.stream_bytes(), m);
    // Buffered bytes win over a later overlap that fills the hole.
    let frames = vec![
        raw(ISN, SYN, &[]),
        raw(s[0].0, NONE, &s[0].1),
        raw(s[2].0, NONE, &s[2].1), // buffered 200..300
        raw(s[1].0, NONE, &[&m[100..200], &forged[..50]].concat()), // 100..250, forged tail
        raw(s[3].0, NONE, &s[3].1),
    ];
    let out = run(LinkType::RAW, &frames);
    assert_eq!(out.stream_bytes(), m);
    let c = out.chunks();
    assert_eq!(c.iter().map(|c| c.0).collect::<Vec<_>>(), vec![2, 4, 5]);
}

#[test]
fn missing_segment_becomes_a_gap_after_the_horizon() {
    let m = msg();
    let s = segments(ISN + 1, &m, 100);
    let config = NetConfig {
        tcp_gap_timeout: secs(5),
        ..NetConfig::default()
    };
    let frames = vec![
        (0.0, raw(ISN, SYN, &[])),
        (0.1, raw(s[0].0, NONE, &s[0].1)),
        (0.2, raw(s[2].0, NONE, &s[2].1)), // segment 1 never comes
        (0.3, raw(s[3].0, NONE, &s[3].1)),
        (4.0, udp4(5060, 5060, SIP)),
        (6.0, udp4(5060, 5060, SIP)),
    ];
    let out = run_timed(LinkType::RAW, &frames, config);
    let order: Vec<String> = out
        .events
        .iter()
        .map(|e| match e {
            Ev::Datagram { frame, .. } => format!("D{frame}"),
            Ev::Stream {
                frame, data, gap, ..
            } => format!("S{frame}:{}:{gap}", data.len()),
            Ev::Problem(p) => format!("P{}:{}", p.frame.unwrap_or(0), p.kind.as_str()),
            Ev::End { frame, .. } => format!("E{frame}"),
        })
        .collect();
    // The gap is skipped when frame 6's time passes the horizon: reported at
    // the first frame after the hole, and the rest delivered (with the frame
    // that last contributed) flagged as following a gap.
    let rest = m.len() - 200;
    assert_eq!(
        order,
        vec![
            "S2:100:false".to_string(),
            "D5".to_string(),
            "P3:tcp-gap".to_string(),
            format!("S4:{rest}:true"),
            "D6".to_string(),
            "E4".to_string(),
        ]
    );
    let gap = out.problems_of(ProblemKind::TcpGap);
    assert!(
        gap[0].message.contains("100 bytes missing"),
        "{}",
        gap[0].message
    );
    assert_eq!(out.stats.tcp_bytes_lost, 100);
}

#[test]
fn gap_still_open_at_end_of_capture_is_reported() {
    let m = msg();
    let s = segments(ISN + 1, &m, 100);
    let frames = vec![raw(ISN, SYN, &[]), raw(s[1].0, NONE, &s[1].1)];
    let out = run(LinkType::RAW, &frames);
    assert_eq!(out.problems_of(ProblemKind::TcpGap).len(), 1);
    assert_eq!(out.chunks(), vec![(2, s[1].1.clone(), true)]);
    assert_eq!(out.ends(), vec![2]);
}

#[test]
fn full_window_forces_the_gap() {
    let config = NetConfig {
        tcp_stream_buffer: 1000,
        ..NetConfig::default()
    };
    let data: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
    let s = segments(ISN + 1, &data, 500);
    // Segment 0 lost; 1..5 arrive; the window holds 1000 bytes past the
    // next expected one, so segment 2 already cannot be buffered.
    let mut frames = vec![(0.0, raw(ISN, SYN, &[]))];
    frames.extend(
        s[1..]
            .iter()
            .enumerate()
            .map(|(i, (q, d))| (0.01 * i as f64, raw(*q, NONE, d))),
    );
    let out = run_timed(LinkType::RAW, &frames, config);
    assert_eq!(out.stream_bytes(), data[500..].to_vec());
    let gaps = out.problems_of(ProblemKind::TcpGap);
    assert_eq!(gaps.len(), 1);
    assert_eq!(gaps[0].frame, Some(2));
    assert!(out.chunks()[0].2);
    assert!(out.chunks()[1..].iter().all(|c| !c.2));
}

#[test]
fn stream_first_seen_mid_way_starts_at_its_first_segment() {
    let m = msg();
    let s = segments(777_777, &m, 100);
    let frames: Vec<Vec<u8>> = s[1..].iter().map(|(q, d)| raw(*q, NONE, d)).collect();
    let out = run(LinkType::RAW, &frames);
    assert_eq!(out.stream_bytes(), m[100..].to_vec());
    assert!(out.problems().is_empty());
    // The first delivery says "resynchronise"; the rest follow on.
    let gaps: Vec<bool> = out.chunks().iter().map(|c| c.2).collect();
    assert_eq!(gaps, vec![true, false, false]);
}

#[test]
fn sequence_numbers_wrap_around() {
    let m = msg();
    let isn = u32::MAX - 150;
    let s = segments(isn.wrapping_add(1), &m, 100);
    assert!(s[2].0 < 1000, "the stream must cross zero");
    let frames = vec![
        raw(isn, SYN, &[]),
        raw(s[0].0, NONE, &s[0].1),
        raw(s[3].0, NONE, &s[3].1),
        raw(s[2].0, NONE, &s[2].1),
        raw(s[1].0, NONE, &s[1].1),
        raw(s[1].0, NONE, &s[1].1), // retransmission across the wrap
        raw(s[3].0.wrapping_add(s[3].1.len() as u32), FIN, &[]),
    ];
    let out = run(LinkType::RAW, &frames);
    assert_eq!(out.stream_bytes(), m);
    assert_eq!(out.ends(), vec![7]);
    assert!(out.problems().is_empty());
}

#[test]
fn syn_with_data_and_rst() {
    let frames = vec![
        raw(ISN, SYN, b"OPTIONS "),
        raw(ISN + 9, NONE, b"sip:x SIP/2.0\r\n"),
        raw(ISN + 24, RST, &[]),
    ];
    let out = run(LinkType::RAW, &frames);
    assert_eq!(out.stream_bytes(), b"OPTIONS sip:x SIP/2.0\r\n".to_vec());
    assert_eq!(out.ends(), vec![3]);
}

#[test]
fn data_after_fin_is_not_delivered_again() {
    let frames = vec![
        raw(ISN, SYN, &[]),
        raw(ISN + 1, FIN, b"BYE"),
        raw(ISN + 1, FIN, b"BYE"), // retransmitted FIN with data
        raw(ISN + 1, NONE, b"BYE"),
    ];
    let out = run(LinkType::RAW, &frames);
    assert_eq!(out.chunks(), vec![(2, b"BYE".to_vec(), false)]);
    assert_eq!(out.ends(), vec![2]);
}

#[test]
fn fin_waits_for_missing_bytes() {
    let frames = vec![
        raw(ISN, SYN, &[]),
        raw(ISN + 4, FIN, b"def"), // FIN arrives before "abc"
        raw(ISN + 1, NONE, b"abc"),
    ];
    let out = run(LinkType::RAW, &frames);
    assert_eq!(out.chunks(), vec![(3, b"abcdef".to_vec(), false)]);
    assert_eq!(out.ends(), vec![3]);
}

#[test]
fn new_syn_on_the_same_ports_starts_a_new_stream() {
    let frames = vec![
        raw(ISN, SYN, &[]),
        raw(ISN + 1, NONE, b"first"),
        raw(90_000, SYN, &[]),
        raw(90_001, NONE, b"second"),
    ];
    let out = run(LinkType::RAW, &frames);
    assert_eq!(
        out.chunks(),
        vec![
            (2, b"first".to_vec(), false),
            (4, b"second".to_vec(), false)
        ]
    );
    assert_eq!(out.ends(), vec![3, 4]);
}

#[test]
fn directions_are_independent() {
    let frames = vec![
        tcp4_ports(40000, 5060, 100, NONE, b"request"),
        tcp4_between(B4, A4, 5060, 40000, 9000, NONE, b"response"),
        tcp4_ports(40000, 5060, 107, NONE, b" more"),
    ];
    let out = run(LinkType::RAW, &frames);
    let c = out.chunks();
    assert_eq!(c.len(), 3);
    assert_eq!(c[2], (3, b" more".to_vec(), false));
    assert!(c[0].2 && c[1].2, "both directions start mid-way");
    match (&out.events[0], &out.events[1]) {
        (Ev::Stream { flow: a, .. }, Ev::Stream { flow: b, .. }) => {
            assert_eq!(a.src, b.dst);
            assert_eq!(a.dst, b.src);
        }
        e => panic!("{e:?}"),
    }
}

#[test]
fn cut_segment_counts_as_lost() {
    let full = raw(ISN + 1, NONE, b"hello world");
    let mut decoder = Decoder::new(NetConfig::default());
    let mut events = Vec::new();
    {
        let mut sink = record(&mut events);
        let mut push = |n: u64, data: &[u8], orig: usize| {
            let frame = Frame {
                number: n,
                time: at(0.0),
                link_type: LinkType::RAW,
                data,
                orig_len: orig as u32,
            };
            decoder.push(&frame, &mut sink);
        };
        let syn = raw(ISN, SYN, &[]);
        push(1, &syn, syn.len());
        push(2, &full[..full.len() - 5], full.len()); // snaplen cut
        let next = raw(ISN + 12, NONE, b"!");
        push(3, &next, next.len());
        decoder.finish(&mut sink);
    }
    let mut it = events.iter();
    assert!(
        matches!(it.next(), Some(Ev::Problem(p)) if p.kind == ProblemKind::Truncated && p.frame == Some(2))
    );
    assert!(
        matches!(it.next(), Some(Ev::Stream { frame: 3, data, gap: true, .. }) if data == b"!")
    );
    assert!(matches!(it.next(), Some(Ev::End { frame: 3, .. })));
    assert!(it.next().is_none());
}

#[test]
fn idle_streams_end_after_the_horizon() {
    let config = NetConfig {
        tcp_idle_timeout: secs(60),
        ..NetConfig::default()
    };
    let frames = vec![
        (0.0, raw(ISN, SYN, &[])),
        (1.0, raw(ISN + 1, NONE, b"abc")),
        (30.0, raw(ISN + 4, NONE, b"def")), // re-arms the idle deadline
        (70.0, udp4(5060, 5060, SIP)),
        (95.0, udp4(5060, 5060, SIP)),
    ];
    let out = run_timed(LinkType::RAW, &frames, config);
    let order: Vec<String> = out
        .events
        .iter()
        .map(|e| match e {
            Ev::Datagram { frame, .. } => format!("D{frame}"),
            Ev::Stream { frame, .. } => format!("S{frame}"),
            Ev::End { frame, .. } => format!("E{frame}"),
            Ev::Problem(p) => format!("P{p}"),
        })
        .collect();
    assert_eq!(order, vec!["S2", "S3", "D4", "E3", "D5"]);
}

#[test]
fn too_many_streams_evicts_the_oldest_with_a_problem() {
    let config = NetConfig {
        tcp_max_streams: 10,
        ..NetConfig::default()
    };
    let frames: Vec<(f64, Vec<u8>)> = (0..20u16)
        .map(|i| (f64::from(i), tcp4_ports(30000 + i, 5060, 1, NONE, b"x")))
        .collect();
    let out = run_timed(LinkType::RAW, &frames, config);
    assert_eq!(out.chunks().len(), 20);
    let over = out.problems_of(ProblemKind::Overload);
    assert_eq!(over.len(), 10);
    assert_eq!(over[0].frame, Some(11));
    assert_eq!(out.ends().len(), 20);
}

#[test]
fn total_buffer_cap_forces_the_oldest_gap() {
    let config = NetConfig {
        tcp_total_buffer: 10_000,
        ..NetConfig::default()
    };
    // 30 streams each with a 1-byte hole and 1000 bytes buffered behind it.
    let mut frames = Vec::new();
    for i in 0..30u16 {
        frames.push((0.0, tcp4_ports(30000 + i, 5060, 1, NONE, b"a")));
        frames.push((0.0, tcp4_ports(30000 + i, 5060, 3, NONE, &[b'c'; 1000])));
    }
    let mut decoder = Decoder::new(config);
    let mut events = Vec::new();
    let mut peak = 0;
    {
        let mut sink = record(&mut events);
        for (i, (_, data)) in frames.iter().enumerate() {
            let frame = Frame {
                number: i as u64 + 1,
                time: at(0.0),
                link_type: LinkType::RAW,
                data,
                orig_len: data.len() as u32,
            };
            decoder.push(&frame, &mut sink);
            peak = peak.max(decoder.buffered_bytes());
        }
        decoder.finish(&mut sink);
    }
    assert!(peak <= 10_000 + 4096, "peak {peak}");
    let gaps = events
        .iter()
        .filter(|e| matches!(e, Ev::Problem(p) if p.kind == ProblemKind::TcpGap))
        .count();
    assert_eq!(gaps, 30);
    let bytes: usize = events
        .iter()
        .map(|e| {
            if let Ev::Stream { data, .. } = e {
                data.len()
            } else {
                0
            }
        })
        .sum();
    assert_eq!(bytes, 30 * 1001);
}

/// A small deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn random_orders_overlaps_and_duplicates_reassemble_exactly() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for trial in 0..300 {
        let len = 1 + rng.below(6000);
        let data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let isn = rng.next() as u32;
        // Pieces: a cover of the data plus random overlapping extras.
        let mut pieces = Vec::new();
        let mut at = 0;
        while at < len {
            let n = 1 + rng.below(700);
            pieces.push((at, (at + n).min(len)));
            at += n;
        }
        for _ in 0..rng.below(10) {
            let a = rng.below(len);
            let b = (a + 1 + rng.below(900)).min(len);
            pieces.push((a, b));
        }
        // Shuffle, but keep the first piece first (the stream starts there
        // when no SYN is seen) in half the trials; the others open with SYN.
        let with_syn = trial % 2 == 0;
        for i in (1..pieces.len()).rev() {
            let j = if with_syn {
                rng.below(i + 1)
            } else {
                1 + rng.below(i)
            };
            pieces.swap(i, j);
        }
        if !with_syn {
            let first = pieces.iter().position(|p| p.0 == 0).unwrap();
            pieces.swap(0, first);
        }
        let mut frames = Vec::new();
        if with_syn {
            frames.push(raw(isn, SYN, &[]));
        }
        for (a, b) in &pieces {
            frames.push(raw(isn.wrapping_add(1 + *a as u32), NONE, &data[*a..*b]));
        }
        let out = run(LinkType::RAW, &frames);
        assert_eq!(out.stream_bytes(), data, "trial {trial}");
        assert!(
            out.problems().is_empty(),
            "trial {trial}: {:?}",
            out.problems()
        );
    }
}
