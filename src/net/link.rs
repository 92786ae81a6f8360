//! Link layers: a frame's bytes → the IP packet inside.
//!
//! Handles the link types SIP traces come in (Ethernet with VLAN tags, MPLS
//! and PPPoE; Linux cooked capture v1 and v2; raw IP; BSD NULL/LOOP; PPP;
//! Cisco HDLC) and the same Ethernet/PPP decoding that tunnels (GRE, VXLAN)
//! reuse. Everything here is a pure function over a byte slice: no state,
//! no allocation.

use crate::capture::LinkType;

/// What a link layer carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum L3<'a> {
    /// An IPv4 packet (header first, possibly with trailing padding).
    Ipv4(&'a [u8]),
    /// An IPv6 packet.
    Ipv6(&'a [u8]),
    /// Something that is not IP (ARP, LLDP, PPP control, ...): not ours.
    NotIp,
    /// The bytes end inside the named header.
    Truncated(&'static str),
    /// A header that cannot be what it claims.
    Malformed(&'static str),
    /// A link type sipflow does not decode.
    UnsupportedLink,
}

const ETH_IPV4: u16 = 0x0800;
const ETH_IPV6: u16 = 0x86dd;
const ETH_VLAN: u16 = 0x8100;
const ETH_QINQ: u16 = 0x88a8;
const ETH_QINQ_OLD: u16 = 0x9100;
const ETH_QINQ_OLD2: u16 = 0x9200;
const ETH_MPLS: u16 = 0x8847;
const ETH_MPLS_MULTICAST: u16 = 0x8848;
const ETH_PPPOE_SESSION: u16 = 0x8864;

/// How many VLAN tags, MPLS labels or nested Ethernet headers one frame may
/// stack before it is called malformed (real traces use two or three).
const MAX_LAYERS: u8 = 16;

/// Decodes the link layer of a frame of type `link`.
pub(crate) fn decode(link: LinkType, data: &[u8]) -> L3<'_> {
    match link.0 {
        0 | 108 => null_loop(data),
        1 => ethernet(data, 0),
        9 | 50 => ppp(data),
        51 => pppoe(data, 0),
        104 => cisco_hdlc(data),
        12 | 14 | 101 => raw_ip(data),
        228 => match raw_ip(data) {
            L3::Ipv6(_) => L3::Malformed("IPv4 header (link type 228 holds IPv4 only)"),
            other => other,
        },
        229 => match raw_ip(data) {
            L3::Ipv4(_) => L3::Malformed("IPv6 header (link type 229 holds IPv6 only)"),
            other => other,
        },
        113 => linux_sll(data),
        276 => linux_sll2(data),
        _ => L3::UnsupportedLink,
    }
}

/// A human name for a link type, for problem messages.
pub(crate) fn link_type_name(link: LinkType) -> &'static str {
    match link.0 {
        6 => "IEEE 802.5 Token Ring",
        10 => "FDDI",
        105 => "IEEE 802.11",
        119 => "Prism 802.11",
        127 => "802.11 radiotap",
        147..=162 => "user-defined (DLT_USER)",
        187 => "Bluetooth HCI",
        192 => "PPI",
        195 => "IEEE 802.15.4",
        201 => "Bluetooth HCI with direction",
        220 => "USB Linux mmapped",
        227 => "SocketCAN",
        249 => "Netlink",
        _ => "unknown",
    }
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// Raw IP: the version nibble says which.
fn raw_ip(data: &[u8]) -> L3<'_> {
    match data.first().map(|b| b >> 4) {
        None => L3::Truncated("IP"),
        Some(4) => L3::Ipv4(data),
        Some(6) => L3::Ipv6(data),
        Some(_) => L3::Malformed("IP header (version is neither 4 nor 6)"),
    }
}

/// BSD NULL (host byte order) and LOOP (network byte order): a 4-byte
/// address family. Both byte orders are accepted for both, since files move
/// between machines; IPv6 has three values depending on the BSD.
fn null_loop(data: &[u8]) -> L3<'_> {
    let (Some(head), Some(rest)) = (data.get(..4), data.get(4..)) else {
        return L3::Truncated("loopback");
    };
    let head = [head[0], head[1], head[2], head[3]];
    let families = [u32::from_le_bytes(head), u32::from_be_bytes(head)];
    if families.contains(&2) {
        L3::Ipv4(rest)
    } else if families.iter().any(|f| matches!(f, 10 | 24 | 28 | 30)) {
        // 10 is Linux's AF_INET6, seen in files written by some tools.
        L3::Ipv6(rest)
    } else {
        L3::NotIp
    }
}

/// Ethernet II (or 802.3 with LLC/SNAP), then whatever the EtherType says.
pub(crate) fn ethernet(data: &[u8], depth: u8) -> L3<'_> {
    let (Some(ty), Some(rest)) = (be16(data, 12), data.get(14..)) else {
        return L3::Truncated("Ethernet");
    };
    if ty <= 1500 {
        // 802.3 length field: LLC follows; only SNAP carries an EtherType.
        let payload = rest.get(..usize::from(ty)).unwrap_or(rest);
        return match payload {
            [0xaa, 0xaa, 0x03, _, _, _, t0, t1, inner @ ..] => {
                ethertype(u16::from_be_bytes([*t0, *t1]), inner, depth)
            }
            _ => L3::NotIp,
        };
    }
    ethertype(ty, rest, depth)
}

/// Dispatches on an EtherType (also GRE's protocol type and Linux cooked
/// capture's protocol), peeling VLAN tags, MPLS labels and PPPoE.
pub(crate) fn ethertype(mut ty: u16, mut data: &[u8], depth: u8) -> L3<'_> {
    if depth >= MAX_LAYERS {
        return L3::Malformed("link layer (too many nested headers)");
    }
    for _ in 0..MAX_LAYERS {
        match ty {
            ETH_IPV4 => return L3::Ipv4(data),
            ETH_IPV6 => return L3::Ipv6(data),
            ETH_VLAN | ETH_QINQ | ETH_QINQ_OLD | ETH_QINQ_OLD2 => {
                let (Some(next), Some(rest)) = (be16(data, 2), data.get(4..)) else {
                    return L3::Truncated("VLAN tag");
                };
                ty = next;
                data = rest;
            }
            ETH_MPLS | ETH_MPLS_MULTICAST => return mpls(data, depth),
            ETH_PPPOE_SESSION => return pppoe(data, depth),
            _ => return L3::NotIp,
        }
    }
    L3::Malformed("link layer (too many VLAN tags)")
}

/// An MPLS label stack; what follows the bottom label is guessed from its
/// first nibble as every analyser does (MPLS does not say): 4 or 6 is IP,
/// 0 is a pseudowire control word followed by Ethernet.
fn mpls(mut data: &[u8], depth: u8) -> L3<'_> {
    for _ in 0..MAX_LAYERS {
        let (Some(label), Some(rest)) = (data.get(..4), data.get(4..)) else {
            return L3::Truncated("MPLS label");
        };
        data = rest;
        if label[2] & 0x01 != 0 {
            return match data.first().map(|b| b >> 4) {
                None => L3::Truncated("MPLS payload"),
                Some(4) => L3::Ipv4(data),
                Some(6) => L3::Ipv6(data),
                Some(0) => match data.get(4..) {
                    Some(eth) => ethernet(eth, depth + 1),
                    None => L3::Truncated("MPLS pseudowire control word"),
                },
                Some(_) => L3::NotIp,
            };
        }
    }
    L3::Malformed("MPLS label stack (too many labels)")
}

/// A PPPoE session header, then PPP; the PPPoE length bounds the payload.
fn pppoe(data: &[u8], _depth: u8) -> L3<'_> {
    let (Some(len), Some(rest)) = (be16(data, 4), data.get(6..)) else {
        return L3::Truncated("PPPoE");
    };
    if data[0] != 0x11 {
        return L3::Malformed("PPPoE header (version/type is not 1/1)");
    }
    let payload = rest.get(..usize::from(len)).unwrap_or(rest);
    ppp(payload)
}

/// PPP, with or without the HDLC address/control bytes (FF 03) and with or
/// without protocol-field compression.
pub(crate) fn ppp(data: &[u8]) -> L3<'_> {
    let data = match data {
        [0xff, 0x03, rest @ ..] => rest,
        _ => data,
    };
    let (proto, rest) = match data {
        [p, rest @ ..] if p & 1 == 1 => (u16::from(*p), rest),
        [p0, p1, rest @ ..] => (u16::from_be_bytes([*p0, *p1]), rest),
        _ => return L3::Truncated("PPP"),
    };
    match proto {
        0x0021 => L3::Ipv4(rest),
        0x0057 => L3::Ipv6(rest),
        _ => L3::NotIp,
    }
}

/// Cisco HDLC: address, control, EtherType.
fn cisco_hdlc(data: &[u8]) -> L3<'_> {
    match (be16(data, 2), data.get(4..)) {
        (Some(ty), Some(rest)) => ethertype(ty, rest, 0),
        _ => L3::Truncated("Cisco HDLC"),
    }
}

/// Linux cooked capture v1: 16 bytes, protocol (an EtherType) last.
fn linux_sll(data: &[u8]) -> L3<'_> {
    let (Some(hatype), Some(proto), Some(rest)) = (be16(data, 2), be16(data, 14), data.get(16..))
    else {
        return L3::Truncated("Linux cooked capture");
    };
    sll_payload(hatype, proto, rest)
}

/// Linux cooked capture v2: 20 bytes, protocol first.
fn linux_sll2(data: &[u8]) -> L3<'_> {
    let (Some(proto), Some(hatype), Some(rest)) = (be16(data, 0), be16(data, 8), data.get(20..))
    else {
        return L3::Truncated("Linux cooked capture v2");
    };
    sll_payload(hatype, proto, rest)
}

fn sll_payload(hatype: u16, proto: u16, rest: &[u8]) -> L3<'_> {
    const ARPHRD_NETLINK: u16 = 824;
    if hatype == ARPHRD_NETLINK || proto < 0x0600 {
        // Netlink messages, or 802.2 LLC / 802.3 frames without EtherType.
        return L3::NotIp;
    }
    ethertype(proto, rest, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP4: [u8; 2] = [0x45, 0x00];
    const IP6: [u8; 2] = [0x60, 0x00];

    fn eth(ty: u16, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![0u8; 12];
        v.extend_from_slice(&ty.to_be_bytes());
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn ethernet_with_stacked_vlans() {
        let mut inner = vec![0x00, 0x05, 0x81, 0x00, 0x00, 0x06, 0x08, 0x00];
        inner.extend_from_slice(&IP4);
        let f = eth(0x88a8, &inner);
        assert_eq!(decode(LinkType::ETHERNET, &f), L3::Ipv4(&IP4));
        let f = eth(0x9100, &[0, 1, 0x86, 0xdd, 0x60, 0]);
        assert_eq!(decode(LinkType::ETHERNET, &f), L3::Ipv6(&IP6));
        let f = eth(0x0806, &[0; 28]);
        assert_eq!(decode(LinkType::ETHERNET, &f), L3::NotIp);
        assert_eq!(
            decode(LinkType::ETHERNET, &[0; 13]),
            L3::Truncated("Ethernet")
        );
        let f = eth(0x8100, &[0, 1]);
        assert_eq!(decode(LinkType::ETHERNET, &f), L3::Truncated("VLAN tag"));
    }

    #[test]
    fn ethernet_llc_snap() {
        let mut p = vec![0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00];
        p.extend_from_slice(&IP4);
        let f = eth(p.len() as u16, &p);
        assert_eq!(decode(LinkType::ETHERNET, &f), L3::Ipv4(&IP4));
        // Plain LLC (spanning tree) is not IP.
        let f = eth(3, &[0x42, 0x42, 0x03]);
        assert_eq!(decode(LinkType::ETHERNET, &f), L3::NotIp);
    }

    #[test]
    fn mpls_stacks() {
        // Two labels, the second with bottom-of-stack, then IPv4.
        let mut p = vec![0, 0x10, 0x00, 0x40, 0, 0x20, 0x01, 0x40];
        p.extend_from_slice(&IP4);
        assert_eq!(decode(LinkType::ETHERNET, &eth(0x8847, &p)), L3::Ipv4(&IP4));
        // Pseudowire: control word, then a whole Ethernet frame.
        let mut p = vec![0, 0x10, 0x01, 0x40, 0, 0, 0, 0];
        p.extend_from_slice(&eth(0x86dd, &IP6));
        assert_eq!(decode(LinkType::ETHERNET, &eth(0x8847, &p)), L3::Ipv6(&IP6));
        let p = [0u8, 0x10, 0x00, 0x40];
        assert_eq!(
            decode(LinkType::ETHERNET, &eth(0x8847, &p)),
            L3::Truncated("MPLS label")
        );
    }

    #[test]
    fn pppoe_session_trims_to_its_length() {
        let mut p = vec![0x11, 0x00, 0x12, 0x34, 0x00, 0x04, 0x00, 0x21];
        p.extend_from_slice(&IP4);
        p.extend_from_slice(&[0xee; 6]); // Ethernet padding
        assert_eq!(decode(LinkType::ETHERNET, &eth(0x8864, &p)), L3::Ipv4(&IP4));
        // LCP is not IP.
        let p = [0x11, 0x00, 0x12, 0x34, 0x00, 0x02, 0xc0, 0x21];
        assert_eq!(decode(LinkType::ETHERNET, &eth(0x8864, &p)), L3::NotIp);
    }

    #[test]
    fn ppp_variants() {
        assert_eq!(
            decode(LinkType::PPP, &[0xff, 0x03, 0x00, 0x21, 0x45]),
            L3::Ipv4(&[0x45])
        );
        assert_eq!(
            decode(LinkType::PPP, &[0x00, 0x57, 0x60]),
            L3::Ipv6(&[0x60])
        );
        assert_eq!(decode(LinkType::PPP, &[0x21, 0x45]), L3::Ipv4(&[0x45]));
        assert_eq!(decode(LinkType::PPP, &[0xff, 0x03]), L3::Truncated("PPP"));
    }

    #[test]
    fn null_and_loop_in_both_byte_orders() {
        for link in [LinkType::NULL, LinkType::LOOP] {
            assert_eq!(decode(link, &[2, 0, 0, 0, 0x45]), L3::Ipv4(&[0x45]));
            assert_eq!(decode(link, &[0, 0, 0, 2, 0x45]), L3::Ipv4(&[0x45]));
            for af in [24u32, 28, 30] {
                let mut f = af.to_le_bytes().to_vec();
                f.push(0x60);
                assert_eq!(decode(link, &f), L3::Ipv6(&[0x60]));
                let mut f = af.to_be_bytes().to_vec();
                f.push(0x60);
                assert_eq!(decode(link, &f), L3::Ipv6(&[0x60]));
            }
            assert_eq!(decode(link, &[7, 0, 0, 0, 0x45]), L3::NotIp);
            assert_eq!(decode(link, &[2, 0]), L3::Truncated("loopback"));
        }
    }

    #[test]
    fn raw_ip_link_types() {
        for n in [12, 14, 101] {
            assert_eq!(decode(LinkType(n), &IP4), L3::Ipv4(&IP4));
            assert_eq!(decode(LinkType(n), &IP6), L3::Ipv6(&IP6));
        }
        assert_eq!(decode(LinkType::IPV4, &IP4), L3::Ipv4(&IP4));
        assert!(matches!(decode(LinkType::IPV4, &IP6), L3::Malformed(_)));
        assert_eq!(decode(LinkType::IPV6, &IP6), L3::Ipv6(&IP6));
        assert!(matches!(decode(LinkType(101), &[0x20]), L3::Malformed(_)));
        assert_eq!(decode(LinkType(101), &[]), L3::Truncated("IP"));
    }

    #[test]
    fn linux_cooked_v1_and_v2() {
        let mut f = vec![0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x08, 0x00];
        f.extend_from_slice(&IP4);
        assert_eq!(decode(LinkType::LINUX_SLL, &f), L3::Ipv4(&IP4));
        let mut f = vec![
            0x86, 0xdd, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0,
        ];
        f.extend_from_slice(&IP6);
        assert_eq!(decode(LinkType::LINUX_SLL2, &f), L3::Ipv6(&IP6));
        // Netlink over SLL2 is not IP even if the protocol field looks like it.
        let mut f = vec![
            0x08, 0x00, 0, 0, 0, 0, 0, 2, 0x03, 0x38, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        f.extend_from_slice(&IP4);
        assert_eq!(decode(LinkType::LINUX_SLL2, &f), L3::NotIp);
        assert!(matches!(
            decode(LinkType::LINUX_SLL2, &f[..10]),
            L3::Truncated(_)
        ));
    }

    #[test]
    fn other_link_types_are_unsupported() {
        assert_eq!(decode(LinkType(105), &IP4), L3::UnsupportedLink);
        assert_eq!(decode(LinkType(u32::MAX), &[]), L3::UnsupportedLink);
    }
}
