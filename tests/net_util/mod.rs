//! Packet builders and a decoder harness shared by the `net_*` tests.
//! IP, UDP and TCP headers come from etherparse's `PacketBuilder` (with
//! valid checksums); link layers, tunnels and fragments are laid out by hand
//! from their specifications.
#![allow(dead_code)]

use std::time::Duration;

use etherparse::{IpNumber, PacketBuilder};
use sipflow::capture::{Frame, LinkType, Timestamp};
use sipflow::net::{Decoder, FlowKey, NetConfig, NetEvent, NetStats};
use sipflow::problem::{Problem, ProblemKind};

pub const A4: [u8; 4] = [10, 0, 0, 1];
pub const B4: [u8; 4] = [10, 0, 0, 2];
pub const A6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
pub const B6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

pub const SIP: &[u8] = b"OPTIONS sip:bob@example.com SIP/2.0\r\nCall-ID: x\r\n\r\n";

/// IPv4 + UDP.
pub fn udp4(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    udp4_between(A4, B4, sport, dport, payload)
}

pub fn udp4_between(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ipv4(src, dst, 64)
        .udp(sport, dport)
        .write(&mut v, payload)
        .unwrap();
    v
}

/// IPv6 + UDP.
pub fn udp6(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ipv6(A6, B6, 64)
        .udp(sport, dport)
        .write(&mut v, payload)
        .unwrap();
    v
}

/// An IPv4 packet carrying `payload` as protocol `proto` (tunnels, ICMP).
pub fn ip4(src: [u8; 4], dst: [u8; 4], proto: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ipv4(src, dst, 64)
        .write(&mut v, IpNumber(proto), payload)
        .unwrap();
    v
}

/// An IPv6 packet carrying `payload` as next header `proto`.
pub fn ip6(src: [u8; 16], dst: [u8; 16], proto: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ipv6(src, dst, 64)
        .write(&mut v, IpNumber(proto), payload)
        .unwrap();
    v
}

/// TCP flags for [`tcp4`].
#[derive(Clone, Copy, Default)]
pub struct Flags {
    pub syn: bool,
    pub fin: bool,
    pub rst: bool,
}
pub const NONE: Flags = Flags {
    syn: false,
    fin: false,
    rst: false,
};
pub const SYN: Flags = Flags {
    syn: true,
    fin: false,
    rst: false,
};
pub const FIN: Flags = Flags {
    syn: false,
    fin: true,
    rst: false,
};
pub const RST: Flags = Flags {
    syn: false,
    fin: false,
    rst: true,
};

/// IPv4 + TCP from A4:5060 to B4:5060 (ACK set, as mid-connection).
pub fn tcp4(seq: u32, flags: Flags, payload: &[u8]) -> Vec<u8> {
    tcp4_ports(40000, 5060, seq, flags, payload)
}

pub fn tcp4_ports(sport: u16, dport: u16, seq: u32, flags: Flags, payload: &[u8]) -> Vec<u8> {
    tcp4_between(A4, B4, sport, dport, seq, flags, payload)
}

pub fn tcp4_between(
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    seq: u32,
    flags: Flags,
    payload: &[u8],
) -> Vec<u8> {
    let mut b = PacketBuilder::ipv4(src, dst, 64).tcp(sport, dport, seq, 65535);
    if flags.syn {
        b = b.syn();
    } else {
        b = b.ack(1);
    }
    if flags.fin {
        b = b.fin();
    }
    if flags.rst {
        b = b.rst();
    }
    let mut v = Vec::new();
    b.write(&mut v, payload).unwrap();
    v
}

/// An Ethernet II frame.
pub fn eth(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1];
    v.extend_from_slice(&ethertype.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

pub fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// Splits an IPv4 packet into fragments of `size` payload bytes (a
/// multiple of 8), as a router would.
pub fn fragment4(packet: &[u8], size: usize) -> Vec<Vec<u8>> {
    assert_eq!(size % 8, 0);
    let ihl = usize::from(packet[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([packet[2], packet[3]]));
    let payload = &packet[ihl..total];
    let mut out = Vec::new();
    for (i, chunk) in payload.chunks(size).enumerate() {
        let mut h = packet[..ihl].to_vec();
        let len = (ihl + chunk.len()) as u16;
        h[2..4].copy_from_slice(&len.to_be_bytes());
        let more = (i + 1) * size < payload.len();
        let field = ((i * size / 8) as u16) | if more { 0x2000 } else { 0 };
        h[6..8].copy_from_slice(&field.to_be_bytes());
        h[10..12].copy_from_slice(&[0, 0]);
        let sum = checksum(&h);
        h[10..12].copy_from_slice(&sum.to_be_bytes());
        h.extend_from_slice(chunk);
        out.push(h);
    }
    out
}

fn checksum(h: &[u8]) -> u16 {
    let mut s: u32 = h
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// Splits an IPv6 packet (no extension headers) into fragments of `size`
/// bytes with identification `id`.
pub fn fragment6(packet: &[u8], size: usize, id: u32) -> Vec<Vec<u8>> {
    assert_eq!(size % 8, 0);
    let next = packet[6];
    let payload = &packet[40..];
    let mut out = Vec::new();
    for (i, chunk) in payload.chunks(size).enumerate() {
        let mut h = packet[..40].to_vec();
        h[4..6].copy_from_slice(&((8 + chunk.len()) as u16).to_be_bytes());
        h[6] = 44;
        let more = (i + 1) * size < payload.len();
        let field = (((i * size / 8) as u16) << 3) | u16::from(more);
        h.extend_from_slice(&[next, 0]);
        h.extend_from_slice(&field.to_be_bytes());
        h.extend_from_slice(&id.to_be_bytes());
        h.extend_from_slice(chunk);
        out.push(h);
    }
    out
}

/// One event, owned.
#[derive(Debug, Clone, PartialEq)]
pub enum Ev {
    Datagram {
        frame: u64,
        flow: FlowKey,
        data: Vec<u8>,
    },
    Stream {
        frame: u64,
        flow: FlowKey,
        data: Vec<u8>,
        gap: bool,
    },
    End {
        frame: u64,
        flow: FlowKey,
    },
    Problem(Problem),
}

/// What a decoder produced for a sequence of frames.
pub struct Out {
    pub events: Vec<Ev>,
    pub stats: NetStats,
}

impl Out {
    pub fn datagrams(&self) -> Vec<(u64, Vec<u8>)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Ev::Datagram { frame, data, .. } => Some((*frame, data.clone())),
                _ => None,
            })
            .collect()
    }

    pub fn problems(&self) -> Vec<&Problem> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Ev::Problem(p) => Some(p),
                _ => None,
            })
            .collect()
    }

    pub fn problems_of(&self, kind: ProblemKind) -> Vec<&Problem> {
        self.problems()
            .into_iter()
            .filter(|p| p.kind == kind)
            .collect()
    }

    /// (frame, bytes, gap) of every stream delivery.
    pub fn chunks(&self) -> Vec<(u64, Vec<u8>, bool)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Ev::Stream {
                    frame, data, gap, ..
                } => Some((*frame, data.clone(), *gap)),
                _ => None,
            })
            .collect()
    }

    /// All delivered stream bytes, concatenated.
    pub fn stream_bytes(&self) -> Vec<u8> {
        self.chunks().into_iter().flat_map(|c| c.1).collect()
    }

    pub fn ends(&self) -> Vec<u64> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Ev::End { frame, .. } => Some(*frame),
                _ => None,
            })
            .collect()
    }
}

pub fn record(events: &mut Vec<Ev>) -> impl FnMut(NetEvent<'_>) + '_ {
    |ev| {
        events.push(match ev {
            NetEvent::Datagram {
                frame, flow, data, ..
            } => Ev::Datagram {
                frame,
                flow,
                data: data.to_vec(),
            },
            NetEvent::Stream {
                frame,
                flow,
                data,
                gap,
                ..
            } => Ev::Stream {
                frame,
                flow,
                data: data.to_vec(),
                gap,
            },
            NetEvent::StreamEnd { frame, flow } => Ev::End { frame, flow },
            NetEvent::Problem(p) => Ev::Problem(p),
        })
    }
}

/// A timestamp `secs` seconds into the capture.
pub fn at(secs: f64) -> Timestamp {
    let base = 1_700_000_000.0 + secs;
    Timestamp {
        secs: base.floor() as i64,
        nanos: ((base - base.floor()) * 1e9) as u32,
    }
}

/// Decodes frames of one link type, 1 ms apart, then finishes.
pub fn run(link: LinkType, frames: &[Vec<u8>]) -> Out {
    let timed: Vec<(f64, Vec<u8>)> = frames
        .iter()
        .enumerate()
        .map(|(i, f)| (i as f64 * 0.001, f.clone()))
        .collect();
    run_timed(link, &timed, NetConfig::default())
}

/// Decodes frames at the given times (seconds), then finishes.
pub fn run_timed(link: LinkType, frames: &[(f64, Vec<u8>)], config: NetConfig) -> Out {
    let mut decoder = Decoder::new(config);
    let mut events = Vec::new();
    {
        let mut sink = record(&mut events);
        for (i, (t, data)) in frames.iter().enumerate() {
            let frame = Frame {
                number: i as u64 + 1,
                time: at(*t),
                link_type: link,
                data,
                orig_len: data.len() as u32,
            };
            decoder.push(&frame, &mut sink);
        }
        decoder.finish(&mut sink);
    }
    Out {
        events,
        stats: decoder.stats().clone(),
    }
}

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}
