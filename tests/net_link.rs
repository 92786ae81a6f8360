//! Link layers and tunnels: the same SIP datagram wrapped every way a
//! field trace wraps it must come out whole, with its addresses.

mod net_util;

use net_util::*;
use sipflow::capture::{Frame, LinkType};
use sipflow::net::{Decoder, NetConfig};
use sipflow::problem::ProblemKind;

/// Asserts that exactly one datagram, `SIP` from A:5060 to B:5060, came
/// out of frame 1 and nothing went wrong.
fn assert_one_sip(out: &Out, what: &str) {
    assert!(out.problems().is_empty(), "{what}: {:?}", out.problems());
    let d = out.datagrams();
    assert_eq!(d, vec![(1, SIP.to_vec())], "{what}");
    match &out.events[0] {
        Ev::Datagram { flow, .. } => {
            assert_eq!(flow.src.port(), 5060, "{what}");
            assert_eq!(flow.dst.port(), 5060, "{what}");
            let src = flow.src.ip().to_string();
            assert!(src == "10.0.0.1" || src == "2001:db8::1", "{what}: {src}");
        }
        other => panic!("{what}: {other:?}"),
    }
}

#[test]
fn ethernet_vlan_qinq_mpls_pppoe() {
    let ip = udp4(5060, 5060, SIP);
    let ip6 = udp6(5060, 5060, SIP);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("ethernet", eth(0x0800, &ip)),
        ("ethernet ipv6", eth(0x86dd, &ip6)),
        (
            "802.1Q",
            eth(0x8100, &cat(&[&[0x00, 0x64, 0x08, 0x00], &ip])),
        ),
        (
            "QinQ 88a8",
            eth(
                0x88a8,
                &cat(&[&[0, 10, 0x81, 0x00, 0, 20, 0x08, 0x00], &ip]),
            ),
        ),
        (
            "QinQ 9100",
            eth(
                0x9100,
                &cat(&[&[0, 10, 0x81, 0x00, 0, 20, 0x86, 0xdd], &ip6]),
            ),
        ),
        (
            "MPLS two labels",
            eth(
                0x8847,
                &cat(&[&[0, 0x01, 0x00, 0xff, 0, 0x02, 0x01, 0xff], &ip]),
            ),
        ),
        (
            "PPPoE session",
            eth(
                0x8864,
                &cat(&[
                    &[0x11, 0x00, 0x00, 0x01],
                    &((ip.len() + 2) as u16).to_be_bytes(),
                    &[0x00, 0x21],
                    &ip,
                ]),
            ),
        ),
        (
            "VLAN + PPPoE + IPv6",
            eth(
                0x8100,
                &cat(&[
                    &[0, 5, 0x88, 0x64, 0x11, 0x00, 0x00, 0x01],
                    &((ip6.len() + 2) as u16).to_be_bytes(),
                    &[0x00, 0x57],
                    &ip6,
                ]),
            ),
        ),
    ];
    for (what, frame) in cases {
        assert_one_sip(&run(LinkType::ETHERNET, &[frame]), what);
    }
}

#[test]
fn ethernet_padding_is_trimmed() {
    let ip = udp4(5060, 5060, b"x");
    let mut frame = eth(0x0800, &ip);
    frame.resize(60, 0); // minimum Ethernet frame
    frame.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]); // and an FCS
    let out = run(LinkType::ETHERNET, &[frame]);
    assert_eq!(out.datagrams(), vec![(1, b"x".to_vec())]);
}

#[test]
fn linux_cooked_raw_null_loop_ppp() {
    let ip = udp4(5060, 5060, SIP);
    let ip6 = udp6(5060, 5060, SIP);
    let sll = |proto: u16, p: &[u8]| {
        cat(&[
            &[0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0],
            &proto.to_be_bytes(),
            p,
        ])
    };
    let sll2 = |proto: u16, p: &[u8]| {
        cat(&[
            &proto.to_be_bytes(),
            &[0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0],
            p,
        ])
    };
    let mut cases: Vec<(&str, LinkType, Vec<u8>)> = vec![
        ("SLL v4", LinkType::LINUX_SLL, sll(0x0800, &ip)),
        ("SLL v6", LinkType::LINUX_SLL, sll(0x86dd, &ip6)),
        (
            "SLL VLAN",
            LinkType::LINUX_SLL,
            sll(0x8100, &cat(&[&[0, 7, 0x08, 0x00], &ip])),
        ),
        ("SLL2 v4", LinkType::LINUX_SLL2, sll2(0x0800, &ip)),
        ("SLL2 v6", LinkType::LINUX_SLL2, sll2(0x86dd, &ip6)),
        ("raw 101 v4", LinkType::RAW, ip.clone()),
        ("raw 101 v6", LinkType::RAW, ip6.clone()),
        ("raw 228", LinkType::IPV4, ip.clone()),
        ("raw 229", LinkType::IPV6, ip6.clone()),
        ("raw 12", LinkType(12), ip.clone()),
        ("raw 14", LinkType(14), ip6.clone()),
        (
            "PPP HDLC",
            LinkType::PPP,
            cat(&[&[0xff, 0x03, 0x00, 0x21], &ip]),
        ),
        ("PPP compressed", LinkType::PPP, cat(&[&[0x57], &ip6])),
    ];
    for link in [LinkType::NULL, LinkType::LOOP] {
        cases.push((
            "NULL/LOOP AF_INET le",
            link,
            cat(&[&2u32.to_le_bytes(), &ip]),
        ));
        cases.push((
            "NULL/LOOP AF_INET be",
            link,
            cat(&[&2u32.to_be_bytes(), &ip]),
        ));
        for af in [24u32, 28, 30] {
            cases.push((
                "NULL/LOOP AF_INET6 le",
                link,
                cat(&[&af.to_le_bytes(), &ip6]),
            ));
            cases.push((
                "NULL/LOOP AF_INET6 be",
                link,
                cat(&[&af.to_be_bytes(), &ip6]),
            ));
        }
    }
    for (what, link, frame) in cases {
        assert_one_sip(&run(link, &[frame]), what);
    }
}

#[test]
fn unsupported_link_type_gives_one_problem_per_file() {
    let ip = udp4(5060, 5060, SIP);
    let frames = vec![ip.clone(); 5];
    let out = run(LinkType(105), &frames);
    assert!(out.datagrams().is_empty());
    let p = out.problems();
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!((p[0].kind, p[0].frame), (ProblemKind::Unsupported, Some(1)));
    assert!(
        p[0].message.contains("105") && p[0].message.contains("5 frame"),
        "{}",
        p[0].message
    );
    assert_eq!(out.stats.frames_skipped_unsupported_link, 5);
}

#[test]
fn non_ip_frames_are_counted_not_reported() {
    let arp = eth(0x0806, &[0u8; 28]);
    let out = run(LinkType::ETHERNET, &[arp]);
    assert!(out.events.is_empty());
    assert_eq!(out.stats.not_ip, 1);
}

#[test]
fn ip_in_ip_every_family_pair() {
    let inner4 = udp4(5060, 5060, SIP);
    let inner6 = udp6(5060, 5060, SIP);
    let cases = [
        ("4in4", ip4([192, 0, 2, 1], [192, 0, 2, 2], 4, &inner4)),
        ("6in4", ip4([192, 0, 2, 1], [192, 0, 2, 2], 41, &inner6)),
        ("4in6", ip6(B6, A6, 4, &inner4)),
        ("6in6", ip6(B6, A6, 41, &inner6)),
    ];
    for (what, outer) in cases {
        let out = run(
            LinkType::ETHERNET,
            &[eth(
                if outer[0] >> 4 == 4 { 0x0800 } else { 0x86dd },
                &outer,
            )],
        );
        assert_one_sip(&out, what);
        assert_eq!(out.stats.tunnels, 1, "{what}");
    }
}

#[test]
fn gre_variants() {
    let inner4 = udp4(5060, 5060, SIP);
    let inner6 = udp6(5060, 5060, SIP);
    let outer = |gre: Vec<u8>| eth(0x0800, &ip4([192, 0, 2, 1], [192, 0, 2, 2], 47, &gre));
    let cases = [
        ("GRE IPv4", outer(cat(&[&[0, 0, 0x08, 0x00], &inner4]))),
        (
            "GRE key+seq IPv6",
            outer(cat(&[
                &[0x30, 0, 0x86, 0xdd, 0, 0, 0, 9, 0, 0, 0, 1],
                &inner6,
            ])),
        ),
        (
            "GRE checksum",
            outer(cat(&[&[0x80, 0, 0x08, 0x00, 0, 0, 0, 0], &inner4])),
        ),
        (
            "enhanced GRE (PPTP) + PPP",
            outer(cat(&[
                &[0x30, 0x81, 0x88, 0x0b],
                &((inner4.len() + 4) as u16).to_be_bytes(),
                &[0, 1, 0, 0, 0, 5, 0, 0, 0, 4, 0xff, 0x03, 0x00, 0x21],
                &inner4,
            ])),
        ),
        (
            "GRE transparent Ethernet bridging",
            outer(cat(&[&[0, 0, 0x65, 0x58], &eth(0x0800, &inner4)])),
        ),
        (
            "GRE ERSPAN II",
            outer(cat(&[
                &[0x10, 0, 0x88, 0xbe, 0, 0, 0, 1],
                &[0x10, 0, 0, 1, 0, 0, 0, 0],
                &eth(0x0800, &inner4),
            ])),
        ),
    ];
    for (what, frame) in cases {
        let out = run(LinkType::ETHERNET, &[frame]);
        assert_one_sip(&out, what);
        assert_eq!(out.stats.tunnels, 1, "{what}");
    }
}

#[test]
fn vxlan_and_gtp_u() {
    let inner4 = udp4(5060, 5060, SIP);
    let inner6 = udp6(5060, 5060, SIP);
    let vxlan = udp4_between(
        [192, 0, 2, 1],
        [192, 0, 2, 2],
        49152,
        4789,
        &cat(&[&[0x08, 0, 0, 0, 0, 0, 42, 0], &eth(0x0800, &inner4)]),
    );
    let gtp_plain = {
        let mut g = vec![0x30, 0xff];
        g.extend_from_slice(&(inner4.len() as u16).to_be_bytes());
        g.extend_from_slice(&[0, 0, 0, 7]);
        g.extend_from_slice(&inner4);
        udp4_between([192, 0, 2, 1], [192, 0, 2, 2], 2152, 2152, &g)
    };
    let gtp_ext = {
        // Sequence number present, one PDU session container extension.
        let mut g = vec![0x34, 0xff];
        g.extend_from_slice(&((inner6.len() + 8) as u16).to_be_bytes());
        g.extend_from_slice(&[0, 0, 0, 7, 0x12, 0x34, 0, 0x85, 1, 0x10, 0x01, 0x00]);
        g.extend_from_slice(&inner6);
        udp4_between([192, 0, 2, 1], [192, 0, 2, 2], 2152, 2152, &g)
    };
    for (what, frame) in [
        ("VXLAN", vxlan),
        ("GTP-U", gtp_plain),
        ("GTP-U with extension", gtp_ext),
    ] {
        let out = run(LinkType::RAW, &[frame]);
        assert_one_sip(&out, what);
        assert_eq!(out.stats.tunnels, 1, "{what}");
    }
    // A GTP echo request carries nothing.
    let echo = udp4_between(
        [192, 0, 2, 1],
        [192, 0, 2, 2],
        2152,
        2152,
        &[0x32, 0x01, 0, 4, 0, 0, 0, 0, 0, 1, 0, 0],
    );
    let out = run(LinkType::RAW, &[echo]);
    assert!(out.events.is_empty(), "{:?}", out.events);
}

#[test]
fn tunnel_nesting_is_bounded() {
    let mut p = udp4(5060, 5060, SIP);
    for _ in 0..10 {
        p = ip4([192, 0, 2, 1], [192, 0, 2, 2], 4, &p);
    }
    let out = run(LinkType::RAW, &[p]);
    assert!(out.datagrams().is_empty());
    let probs = out.problems_of(ProblemKind::Unsupported);
    assert_eq!(probs.len(), 1);
    assert!(probs[0].message.contains("nested"), "{}", probs[0].message);
    // Within the bound it decodes.
    let mut p = udp4(5060, 5060, SIP);
    for _ in 0..4 {
        p = ip4([192, 0, 2, 1], [192, 0, 2, 2], 4, &p);
    }
    assert_one_sip(&run(LinkType::RAW, &[p]), "4 nested");
}

#[test]
fn icmp_errors_quoting_sip_give_no_datagram() {
    let quoted = udp4(5060, 5060, SIP);
    let icmp = cat(&[&[3, 3, 0, 0, 0, 0, 0, 0], &quoted]); // port unreachable
    let frame = eth(0x0800, &ip4(B4, A4, 1, &icmp));
    let icmp6 = cat(&[&[1, 4, 0, 0, 0, 0, 0, 0], &udp6(5060, 5060, SIP)]);
    let frame6 = eth(0x86dd, &ip6(B6, A6, 58, &icmp6));
    let out = run(LinkType::ETHERNET, &[frame, frame6]);
    assert!(out.events.is_empty(), "{:?}", out.events);
    assert_eq!(out.stats.icmp_skipped, 2);
}

#[test]
fn snaplen_cut_udp_is_reported_not_delivered() {
    let full = eth(0x0800, &udp4(5060, 5060, SIP));
    let cut = &full[..full.len() - 10];
    let mut decoder = Decoder::new(NetConfig::default());
    let mut events = Vec::new();
    {
        let mut sink = record(&mut events);
        let frame = Frame {
            number: 7,
            time: at(0.0),
            link_type: LinkType::ETHERNET,
            data: cut,
            orig_len: full.len() as u32,
        };
        decoder.push(&frame, &mut sink);
        // Cut inside the Ethernet header.
        let frame = Frame {
            number: 8,
            time: at(0.0),
            link_type: LinkType::ETHERNET,
            data: &full[..10],
            orig_len: full.len() as u32,
        };
        decoder.push(&frame, &mut sink);
        decoder.finish(&mut sink);
    }
    assert_eq!(events.len(), 2, "{events:?}");
    for (ev, frame) in events.iter().zip([7, 8]) {
        match ev {
            Ev::Problem(p) => assert_eq!((p.kind, p.frame), (ProblemKind::Truncated, Some(frame))),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn garbage_never_panics() {
    // Every prefix of every kind of frame, and bytes flipped, under every
    // link type: no panic, and nothing delivered that was not there.
    let ip = udp4(5060, 5060, SIP);
    let frames = [
        eth(0x0800, &ip),
        eth(0x8864, &cat(&[&[0x11, 0, 0, 1, 0xff, 0xff, 0, 0x21], &ip])),
        ip4(
            [192, 0, 2, 1],
            [192, 0, 2, 2],
            47,
            &cat(&[
                &[
                    0x30, 0x81, 0x88, 0x0b, 0xff, 0xff, 0, 1, 0, 0, 0, 5, 0, 0, 0, 4,
                ],
                &ip,
            ]),
        ),
        udp4(
            2152,
            2152,
            &cat(&[
                &[0x37, 0xff, 0xff, 0xff, 0, 0, 0, 7, 0, 0, 0, 0x85, 0xff],
                &ip,
            ]),
        ),
        tcp4(1, NONE, SIP),
    ];
    let mut decoder = Decoder::new(NetConfig::default());
    let mut sink = |_ev: sipflow::net::NetEvent<'_>| {};
    let mut n = 0;
    for link in [0u32, 1, 9, 12, 101, 108, 113, 228, 229, 276, 104, 51] {
        for f in &frames {
            for cut in 0..=f.len() {
                for flip in [None, Some(cut / 2)] {
                    let mut data = f[..cut].to_vec();
                    if let Some(i) = flip.filter(|&i| i < data.len()) {
                        data[i] ^= 0xff;
                    }
                    n += 1;
                    let frame = Frame {
                        number: n,
                        time: at(0.0),
                        link_type: LinkType(link),
                        data: &data,
                        orig_len: f.len() as u32,
                    };
                    decoder.push(&frame, &mut sink);
                }
            }
        }
    }
    decoder.finish(&mut sink);
    assert_eq!(decoder.stats().frames, n);
}
