//! IP fragment reassembly on real fragments: built whole with etherparse,
//! then split the way a router splits them.

mod net_util;

use net_util::*;
use sipflow::capture::{Frame, LinkType};
use sipflow::net::{Decoder, NetConfig, NetEvent};
use sipflow::problem::ProblemKind;

/// A SIP INVITE of about 3 KB, every byte position distinguishable.
fn big_sip() -> Vec<u8> {
    let mut m = b"INVITE sip:bob@example.com SIP/2.0\r\nContent-Length: 3000\r\n\r\n".to_vec();
    m.extend((0..3000u32).map(|i| b'a' + (i % 26) as u8));
    m
}

fn frames_of(pieces: &[Vec<u8>], order: &[usize]) -> Vec<Vec<u8>> {
    order.iter().map(|&i| eth(0x0800, &pieces[i])).collect()
}

#[test]
fn ipv4_in_order_reversed_and_shuffled() {
    let msg = big_sip();
    let pieces = fragment4(&udp4(5060, 5060, &msg), 1200);
    assert_eq!(pieces.len(), 3);
    for order in [[0, 1, 2], [2, 1, 0], [1, 2, 0], [2, 0, 1]] {
        let out = run(LinkType::ETHERNET, &frames_of(&pieces, &order));
        // Completed at the frame of the last fragment received.
        assert_eq!(out.datagrams(), vec![(3, msg.clone())], "order {order:?}");
        assert!(out.problems().is_empty(), "{:?}", out.problems());
        assert_eq!(out.stats.ip_reassembled, 1);
    }
}

#[test]
fn ipv6_in_order_and_reversed() {
    let msg = big_sip();
    let pieces = fragment6(&udp6(5060, 5060, &msg), 1232, 0xdead_beef);
    assert_eq!(pieces.len(), 3);
    for order in [[0, 1, 2], [2, 1, 0]] {
        let frames: Vec<Vec<u8>> = order.iter().map(|&i| eth(0x86dd, &pieces[i])).collect();
        let out = run(LinkType::ETHERNET, &frames);
        assert_eq!(out.datagrams(), vec![(3, msg.clone())], "order {order:?}");
        match &out.events[0] {
            Ev::Datagram { flow, .. } => assert_eq!(flow.src.to_string(), "[2001:db8::1]:5060"),
            e => panic!("{e:?}"),
        }
    }
}

#[test]
fn duplicates_are_ignored() {
    let msg = big_sip();
    let pieces = fragment4(&udp4(5060, 5060, &msg), 1200);
    let out = run(LinkType::ETHERNET, &frames_of(&pieces, &[0, 0, 1, 1, 2]));
    assert_eq!(out.datagrams(), vec![(5, msg)]);
    // A duplicate arriving after completion starts a new datagram that never
    // completes: reported at the end, not delivered twice.
    let out = run(LinkType::ETHERNET, &frames_of(&pieces, &[0, 1, 2, 1]));
    assert_eq!(out.datagrams().len(), 1);
    let p = out.problems_of(ProblemKind::Fragment);
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].frame, Some(4));
}

#[test]
fn overlaps_keep_the_first_copy() {
    let msg = big_sip();
    let whole = udp4(5060, 5060, &msg);
    let a = fragment4(&whole, 1024); // [0,1024) [1024,2048) [2048,..)
    assert_eq!(a.len(), 3);
    let b = fragment4(&whole, 512); // finer pieces overlapping a's
    // A forged overlap: b's second piece ([512,1024)) with different bytes,
    // sent after a[0] already covered it.
    let mut forged = b[1].clone();
    let ihl = 20;
    for byte in &mut forged[ihl..] {
        *byte = b'#';
    }
    let frames = vec![
        eth(0x0800, &a[0]),
        eth(0x0800, &forged),
        eth(0x0800, &a[2]),
        eth(0x0800, &a[1]),
    ];
    let out = run(LinkType::ETHERNET, &frames);
    assert_eq!(out.datagrams(), vec![(4, msg.clone())]);
    // Forged bytes first: they win where they arrived first.
    let frames = vec![
        eth(0x0800, &forged),
        eth(0x0800, &a[0]),
        eth(0x0800, &a[1]),
        eth(0x0800, &a[2]),
    ];
    let out = run(LinkType::ETHERNET, &frames);
    let (frame, data) = out.datagrams().remove(0);
    assert_eq!(frame, 4);
    // UDP payload offset = IP payload offset - 8.
    assert!(data[504..1016].iter().all(|&b| b == b'#'));
    assert_eq!(&data[..504], &msg[..504]);
    assert_eq!(&data[1016..], &msg[1016..]);
}

#[test]
fn missing_fragment_is_reported_at_finish_with_its_first_frame() {
    let msg = big_sip();
    let pieces = fragment4(&udp4(5060, 5060, &msg), 1200);
    let other = eth(0x0800, &udp4(5060, 5060, SIP));
    let frames = vec![
        other.clone(),
        eth(0x0800, &pieces[2]),
        other,
        eth(0x0800, &pieces[0]),
    ];
    let out = run(LinkType::ETHERNET, &frames);
    assert_eq!(out.datagrams().len(), 2); // the two plain ones
    let p = out.problems();
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!((p[0].kind, p[0].frame), (ProblemKind::Fragment, Some(2)));
    assert!(p[0].message.contains("2 fragment(s)"), "{}", p[0].message);
}

#[test]
fn incomplete_datagrams_expire_after_the_horizon() {
    let msg = big_sip();
    let pieces = fragment4(&udp4(5060, 5060, &msg), 1200);
    let config = NetConfig {
        fragment_timeout: secs(30),
        ..NetConfig::default()
    };
    let frames = vec![
        (0.0, eth(0x0800, &pieces[0])),
        (29.0, eth(0x0800, &udp4(5060, 5060, SIP))),
        (31.0, eth(0x0800, &udp4(5060, 5060, SIP))),
        (32.0, eth(0x0800, &pieces[1])),
        (33.0, eth(0x0800, &pieces[2])),
    ];
    let out = run_timed(LinkType::ETHERNET, &frames, config);
    // Expired when frame 3's time passed the deadline: reported before
    // frame 3's datagram; the late fragments then never complete either.
    let kinds: Vec<String> = out
        .events
        .iter()
        .map(|e| match e {
            Ev::Datagram { frame, .. } => format!("D{frame}"),
            Ev::Problem(p) => format!("P{}", p.frame.unwrap_or(0)),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(kinds, vec!["D2", "P1", "D3", "P4"]);
    assert_eq!(out.problems_of(ProblemKind::Fragment).len(), 2);
}

#[test]
fn fragments_are_keyed_by_id_not_ports() {
    let m1 = big_sip();
    let mut m2 = big_sip();
    m2[0] = b'X';
    let p1 = fragment4(&udp4(5060, 5060, &m1), 1200);
    let mut p2 = fragment4(&udp4(5060, 5060, &m2), 1200);
    for p in &mut p2 {
        p[4..6].copy_from_slice(&[0x77, 0x77]); // another identification
    }
    let frames = frames_of(
        &[
            p1[0].clone(),
            p2[0].clone(),
            p1[1].clone(),
            p2[1].clone(),
            p2[2].clone(),
            p1[2].clone(),
        ],
        &[0, 1, 2, 3, 4, 5],
    );
    let out = run(LinkType::ETHERNET, &frames);
    assert_eq!(out.datagrams(), vec![(5, m2), (6, m1)]);
}

#[test]
fn fragment_beyond_64k_is_rejected() {
    let pieces = fragment4(&udp4(5060, 5060, &big_sip()), 1200);
    let mut bad = pieces[1].clone();
    bad[6..8].copy_from_slice(&(0x2000u16 | 8190).to_be_bytes()); // offset 65520
    let out = run(LinkType::ETHERNET, &[eth(0x0800, &bad)]);
    let p = out.problems();
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].kind, ProblemKind::Corrupt);
}

#[test]
fn flood_of_incomplete_fragments_stays_under_the_memory_cap() {
    let cap = 4 << 20;
    let config = NetConfig {
        fragment_memory: cap,
        ..NetConfig::default()
    };
    let mut decoder = Decoder::new(config);
    let overload = std::cell::Cell::new(0u64);
    let fragment = std::cell::Cell::new(0u64);
    let mut datagrams = Vec::new();
    let mut sink = |ev: NetEvent<'_>| match ev {
        NetEvent::Problem(p) if p.kind == ProblemKind::Overload => overload.set(overload.get() + 1),
        NetEvent::Problem(p) if p.kind == ProblemKind::Fragment => fragment.set(fragment.get() + 1),
        NetEvent::Datagram { frame, data, .. } => datagrams.push((frame, data.len())),
        NetEvent::Problem(p) => panic!("{p}"),
        _ => {}
    };
    // 100k first fragments of distinct datagrams (distinct ids and sources),
    // all within one second: none completes.
    let template = fragment4(&udp4(5060, 5060, &big_sip()), 1200);
    let mut peak = 0;
    for i in 0..100_000u32 {
        let mut f = template[0].clone();
        f[4..6].copy_from_slice(&(i as u16).to_be_bytes());
        f[12..14].copy_from_slice(&((i >> 16) as u16).to_be_bytes());
        let data = eth(0x0800, &f);
        let frame = Frame {
            number: u64::from(i) + 1,
            time: at(f64::from(i) * 1e-5),
            link_type: LinkType::ETHERNET,
            data: &data,
            orig_len: data.len() as u32,
        };
        decoder.push(&frame, &mut sink);
        peak = peak.max(decoder.buffered_bytes());
    }
    assert!(peak <= cap, "peak {peak} over cap {cap}");
    assert!(
        overload.get() > 90_000,
        "only {} overload problems",
        overload.get()
    );
    // Still working: a complete datagram reassembles.
    let pieces = fragment4(&udp4(5060, 5060, &big_sip()), 1200);
    for (i, p) in pieces.iter().enumerate() {
        let data = eth(0x0800, p);
        let frame = Frame {
            number: 100_001 + i as u64,
            time: at(1.0),
            link_type: LinkType::ETHERNET,
            data: &data,
            orig_len: data.len() as u32,
        };
        decoder.push(&frame, &mut sink);
    }
    decoder.finish(&mut sink);
    assert_eq!(datagrams, vec![(100_003, big_sip().len())]);
    // Every datagram is accounted for: evicted for memory or reported at end.
    assert_eq!(overload.get() + fragment.get(), 100_000);
}

#[test]
fn truncated_fragment_is_reported() {
    let pieces = fragment4(&udp4(5060, 5060, &big_sip()), 1200);
    let full = eth(0x0800, &pieces[0]);
    let mut decoder = Decoder::new(NetConfig::default());
    let mut events = Vec::new();
    {
        let mut sink = record(&mut events);
        let frame = Frame {
            number: 1,
            time: at(0.0),
            link_type: LinkType::ETHERNET,
            data: &full[..200],
            orig_len: full.len() as u32,
        };
        decoder.push(&frame, &mut sink);
        decoder.finish(&mut sink);
    }
    assert_eq!(events.len(), 1);
    assert!(
        matches!(&events[0], Ev::Problem(p) if p.kind == ProblemKind::Truncated && p.frame == Some(1))
    );
}
