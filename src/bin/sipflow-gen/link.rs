//! Puts SIP payloads on the wire: UDP datagrams (fragmented above the MTU)
//! and TCP connections (handshake, sequence numbers, ACKs, messages split
//! over segments or sharing one), written as pcap frames.
//!
//! It returns, for each message, the frame in which the message is
//! complete (the last fragment or segment holding its bytes), which is the
//! frame number Wireshark shows the message at.

use std::collections::HashMap;
use std::io::{self, Write};

use crate::pcap::PcapWriter;
use crate::rng::Rng;
use crate::wire::{self, Ipv4, Tcp, flags};

/// The SIP port every node listens on.
pub const SIP_PORT: u16 = 5060;

/// Counters about what the link wrote, for the summary.
#[derive(Debug, Default, Clone)]
pub struct LinkStats {
    /// SIP messages sent over UDP.
    pub udp_messages: u64,
    /// SIP messages sent over TCP.
    pub tcp_messages: u64,
    /// UDP messages that needed IP fragmentation.
    pub fragmented: u64,
    /// TCP messages spread over more than one segment.
    pub tcp_split: u64,
    /// TCP segments holding bytes of two messages.
    pub tcp_shared_segments: u64,
    /// TCP connections opened (three-way handshakes).
    pub tcp_connections: u64,
}

/// Where a write goes: from `src` to `dst`, over TCP or UDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Route {
    /// Sender's address.
    pub src: u32,
    /// Receiver's address.
    pub dst: u32,
    /// Over TCP (else UDP).
    pub tcp: bool,
}

/// One TCP connection between two nodes; `a` opened it.
struct Conn {
    a_ip: u32,
    a_port: u16,
    b_port: u16,
    /// Next sequence number `a` sends.
    a_seq: u32,
    /// Next sequence number `b` sends.
    b_seq: u32,
}

/// The wire: owns the pcap writer, the clock, IP identification and the
/// open TCP connections.
pub struct Link<W: Write> {
    pcap: PcapWriter<W>,
    clock_us: u64,
    ip_id: u16,
    conns: HashMap<(u32, u32), Conn>,
    rng: Rng,
    /// Probability that a TCP write is spread over 2-3 segments.
    split_prob: f64,
    cuts: Vec<usize>,
    hdr: [u8; 64],
    /// What was written.
    pub stats: LinkStats,
}

impl<W: Write> Link<W> {
    /// A link writing into `pcap`; `split_prob` is the share of TCP writes
    /// deliberately split over several segments.
    pub fn new(pcap: PcapWriter<W>, rng: Rng, split_prob: f64) -> Self {
        Link {
            pcap,
            clock_us: 0,
            ip_id: 1,
            conns: HashMap::new(),
            rng,
            split_prob,
            cuts: Vec::new(),
            hdr: [0; 64],
            stats: LinkStats::default(),
        }
    }

    /// Bytes written so far.
    pub fn bytes(&self) -> u64 {
        self.pcap.bytes()
    }

    /// Frames written so far.
    pub fn frames(&self) -> u64 {
        self.pcap.frames()
    }

    /// Flush the capture and return the writer.
    pub fn finish(self) -> io::Result<W> {
        self.pcap.finish()
    }

    /// Timestamp for the next frame: never earlier than the last one.
    fn tick(&mut self, at: u64) -> u64 {
        self.clock_us = self.clock_us.max(at);
        let t = self.clock_us;
        self.clock_us += 1 + self.rng.below(3);
        t
    }

    /// Send `data` (one or more SIP messages back to back; `ends[i]` is the
    /// end offset of message i) along `route` at time `at`; the frame in
    /// which each message is complete is stored in `done[i]`.
    pub fn send(
        &mut self,
        at: u64,
        route: Route,
        data: &[u8],
        ends: &[usize],
        done: &mut [u64],
    ) -> io::Result<()> {
        let Route { src, dst, tcp } = route;
        if tcp {
            self.send_tcp(at, src, dst, data, ends, done)
        } else {
            let mut start = 0;
            for (i, &end) in ends.iter().enumerate() {
                let msg = data.get(start..end).unwrap_or_default();
                let frame = self.send_udp(at, src, dst, msg)?;
                if let Some(d) = done.get_mut(i) {
                    *d = frame;
                }
                start = end;
            }
            Ok(())
        }
    }

    /// One UDP datagram, fragmented if it exceeds the MTU; returns the
    /// number of its last frame.
    fn send_udp(&mut self, at: u64, src: u32, dst: u32, payload: &[u8]) -> io::Result<u64> {
        self.stats.udp_messages += 1;
        let id = self.next_ip_id();
        let mut udp_h = [0u8; wire::UDP_LEN];
        wire::udp(&mut udp_h, src, dst, SIP_PORT, SIP_PORT, payload);
        let total = wire::UDP_LEN + payload.len();
        let max_frag = wire::MTU - wire::IP_LEN; // 1480, a multiple of 8
        if total <= max_frag {
            let ts = self.tick(at);
            let mut h = [0u8; wire::ETH_LEN + wire::IP_LEN];
            wire::ethernet(&mut h, src, dst);
            wire::ipv4(
                &mut h[wire::ETH_LEN..],
                &ip_fields(total, id, false, false, 0, wire::PROTO_UDP, src, dst),
            );
            return self.pcap.frame(ts, &[&h, &udp_h, payload]);
        }
        self.stats.fragmented += 1;
        let mut off = 0;
        let mut last = 0;
        while off < total {
            let n = max_frag.min(total - off);
            let more = off + n < total;
            let ts = self.tick(at);
            let mut h = [0u8; wire::ETH_LEN + wire::IP_LEN];
            wire::ethernet(&mut h, src, dst);
            wire::ipv4(
                &mut h[wire::ETH_LEN..],
                &ip_fields(n, id, false, more, off, wire::PROTO_UDP, src, dst),
            );
            last = if off == 0 {
                let body = payload.get(..n - wire::UDP_LEN).unwrap_or_default();
                self.pcap.frame(ts, &[&h, &udp_h, body])?
            } else {
                let a = off - wire::UDP_LEN;
                let body = payload.get(a..a + n).unwrap_or_default();
                self.pcap.frame(ts, &[&h, body])?
            };
            off += n;
        }
        Ok(last)
    }

    fn next_ip_id(&mut self) -> u16 {
        self.ip_id = self.ip_id.wrapping_add(1);
        self.ip_id
    }

    /// Write one TCP segment; returns its frame number.
    #[allow(clippy::too_many_arguments)]
    fn segment(
        &mut self,
        at: u64,
        src: u32,
        dst: u32,
        sport: u16,
        dport: u16,
        seq: u32,
        ack: u32,
        fl: u8,
        payload: &[u8],
    ) -> io::Result<u64> {
        let ts = self.tick(at);
        let id = self.next_ip_id();
        let mut hdr = self.hdr;
        let mss_option = fl & flags::SYN != 0;
        let tcp_at = wire::ETH_LEN + wire::IP_LEN;
        let hlen = wire::tcp(
            &mut hdr[tcp_at..],
            src,
            dst,
            &Tcp {
                sport,
                dport,
                seq,
                ack,
                flags: fl,
                mss_option,
            },
            payload,
        );
        wire::ethernet(&mut hdr, src, dst);
        wire::ipv4(
            &mut hdr[wire::ETH_LEN..],
            &ip_fields(
                hlen + payload.len(),
                id,
                true,
                false,
                0,
                wire::PROTO_TCP,
                src,
                dst,
            ),
        );
        let frame = self.pcap.frame(ts, &[&hdr[..tcp_at + hlen], payload])?;
        Ok(frame)
    }

    fn send_tcp(
        &mut self,
        at: u64,
        src: u32,
        dst: u32,
        data: &[u8],
        ends: &[usize],
        done: &mut [u64],
    ) -> io::Result<()> {
        self.stats.tcp_messages += ends.len() as u64;
        let key = (src.min(dst), src.max(dst));
        if !self.conns.contains_key(&key) {
            self.open(at, src, dst, key)?;
        }
        let Some(c) = self.conns.get(&key) else {
            return Err(io::Error::other("TCP connection vanished"));
        };
        let from_a = c.a_ip == src;
        let (sport, dport) = if from_a {
            (c.a_port, c.b_port)
        } else {
            (c.b_port, c.a_port)
        };
        let (mut seq, peer_seq) = if from_a {
            (c.a_seq, c.b_seq)
        } else {
            (c.b_seq, c.a_seq)
        };

        // Choose the segment boundaries: deliberate splits, then the MSS.
        let mut cuts = std::mem::take(&mut self.cuts);
        cuts.clear();
        if data.len() > 8 && self.rng.chance(self.split_prob) {
            let extra = 1 + self.rng.below(2);
            for _ in 0..extra {
                cuts.push(1 + self.rng.below(data.len() as u64 - 1) as usize);
            }
        }
        cuts.push(data.len());
        cuts.sort_unstable();
        cuts.dedup();

        let mut start = 0;
        let mut msg = 0; // index of the first message not yet complete
        // First segment of each message (messages past the fourth are not
        // tracked for the split statistics).
        let mut msg_first_seg = [0u64; 4];
        for &cut in &cuts {
            while start < cut {
                let end = cut.min(start + wire::MSS);
                let payload = data.get(start..end).unwrap_or_default();
                let frame = self.segment(
                    at,
                    src,
                    dst,
                    sport,
                    dport,
                    seq,
                    peer_seq,
                    flags::PSH | flags::ACK,
                    payload,
                )?;
                seq = seq.wrapping_add(payload.len() as u32);
                // Which messages have bytes in [start, end)?
                let mut holders = 0;
                let mut m = msg;
                while m < ends.len() {
                    let m_start = if m == 0 { 0 } else { ends[m - 1] };
                    if m_start >= end {
                        break;
                    }
                    holders += 1;
                    if let Some(f) = msg_first_seg.get_mut(m)
                        && *f == 0
                    {
                        *f = frame;
                    }
                    if ends[m] <= end {
                        if let Some(d) = done.get_mut(m) {
                            *d = frame;
                        }
                        if msg_first_seg.get(m).is_some_and(|&f| f != frame) {
                            self.stats.tcp_split += 1;
                        }
                        msg = m + 1;
                    }
                    m += 1;
                }
                if holders > 1 {
                    self.stats.tcp_shared_segments += 1;
                }
                start = end;
            }
        }
        self.cuts = cuts;

        // The receiver acknowledges what it got.
        self.segment(at, dst, src, dport, sport, peer_seq, seq, flags::ACK, &[])?;
        if let Some(c) = self.conns.get_mut(&key) {
            if from_a {
                c.a_seq = seq;
            } else {
                c.b_seq = seq;
            }
        }
        Ok(())
    }

    /// Three-way handshake from `src` (ephemeral port) to `dst`:5060.
    fn open(&mut self, at: u64, src: u32, dst: u32, key: (u32, u32)) -> io::Result<()> {
        self.stats.tcp_connections += 1;
        let a_port = 32768 + self.rng.below(28000) as u16;
        let isn_a = self.rng.next_u64() as u32;
        let isn_b = self.rng.next_u64() as u32;
        self.segment(at, src, dst, a_port, SIP_PORT, isn_a, 0, flags::SYN, &[])?;
        self.segment(
            at,
            dst,
            src,
            SIP_PORT,
            a_port,
            isn_b,
            isn_a.wrapping_add(1),
            flags::SYN | flags::ACK,
            &[],
        )?;
        self.segment(
            at,
            src,
            dst,
            a_port,
            SIP_PORT,
            isn_a.wrapping_add(1),
            isn_b.wrapping_add(1),
            flags::ACK,
            &[],
        )?;
        self.conns.insert(
            key,
            Conn {
                a_ip: src,
                a_port,
                b_port: SIP_PORT,
                a_seq: isn_a.wrapping_add(1),
                b_seq: isn_b.wrapping_add(1),
            },
        );
        Ok(())
    }
}

#[allow(clippy::too_many_arguments)]
fn ip_fields(
    payload_len: usize,
    id: u16,
    df: bool,
    mf: bool,
    frag_offset: usize,
    proto: u8,
    src: u32,
    dst: u32,
) -> Ipv4 {
    Ipv4 {
        total_len: (wire::IP_LEN + payload_len) as u16,
        id,
        df,
        mf,
        frag_offset,
        proto,
        src,
        dst,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Split a pcap into (timestamp µs, frame bytes).
    fn frames(pcap: &[u8]) -> Vec<(u64, Vec<u8>)> {
        let mut out = Vec::new();
        let mut off = 24;
        while off + 16 <= pcap.len() {
            let r = |i: usize| u32::from_le_bytes(pcap[off + i..off + i + 4].try_into().unwrap());
            let ts = u64::from(r(0)) * 1_000_000 + u64::from(r(4));
            let len = r(8) as usize;
            out.push((ts, pcap[off + 16..off + 16 + len].to_vec()));
            off += 16 + len;
        }
        out
    }

    fn be32(b: &[u8], at: usize) -> u32 {
        u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
    }

    const A: u32 = 0x0a01_0101;
    const B: u32 = 0x0a01_000a;

    #[test]
    fn udp_above_the_mtu_is_fragmented_in_order() {
        let mut link = Link::new(PcapWriter::new(Vec::new()).unwrap(), Rng::new(1), 0.0);
        let msg = vec![b'x'; 3000];
        let mut done = [0u64; 1];
        let route = Route {
            src: A,
            dst: B,
            tcp: false,
        };
        link.send(10, route, &msg, &[3000], &mut done).unwrap();
        let out = link.finish().unwrap();
        let f = frames(&out);
        assert_eq!(f.len(), 3);
        assert_eq!(done[0], 3);
        let mut payload = 0;
        for (i, (_, fr)) in f.iter().enumerate() {
            let ip = &fr[14..];
            let frag = u16::from_be_bytes([ip[6], ip[7]]);
            assert_eq!(
                usize::from(frag & 0x1fff) * 8,
                payload,
                "offset of fragment {i}"
            );
            assert_eq!(frag & 0x2000 != 0, i < 2, "MF of fragment {i}");
            assert_eq!(
                usize::from(u16::from_be_bytes([ip[2], ip[3]])),
                fr.len() - 14
            );
            payload += fr.len() - 34;
        }
        assert_eq!(payload, 8 + 3000);
        assert!(f.windows(2).all(|w| w[0].0 < w[1].0), "timestamps increase");
    }

    #[test]
    fn tcp_handshake_sequence_numbers_and_acks() {
        let mut link = Link::new(PcapWriter::new(Vec::new()).unwrap(), Rng::new(2), 0.0);
        let mut done = [0u64; 2];
        let data = b"first message|second";
        let ab = Route {
            src: A,
            dst: B,
            tcp: true,
        };
        link.send(10, ab, data, &[14, data.len()], &mut done)
            .unwrap();
        // Both messages in one segment (frame 4), after SYN, SYN-ACK, ACK.
        assert_eq!(done, [4, 4]);
        let ba = Route {
            src: B,
            dst: A,
            tcp: true,
        };
        link.send(20, ba, b"reply", &[5], &mut done[..1]).unwrap();
        assert_eq!(done[0], 6);
        assert_eq!(link.stats.tcp_connections, 1);
        assert_eq!(link.stats.tcp_shared_segments, 1);
        let f = frames(&link.finish().unwrap());
        assert_eq!(f.len(), 7);
        let tcp = |i: usize| f[i].1[34..].to_vec();
        let (syn, synack, data_a, ack_b, data_b, ack_a) =
            (tcp(0), tcp(1), tcp(3), tcp(4), tcp(5), tcp(6));
        assert_eq!(syn[13], flags::SYN);
        assert_eq!(synack[13], flags::SYN | flags::ACK);
        assert_eq!(be32(&synack, 8), be32(&syn, 4).wrapping_add(1));
        assert_eq!(be32(&data_a, 4), be32(&syn, 4).wrapping_add(1));
        assert_eq!(be32(&data_a, 8), be32(&synack, 4).wrapping_add(1));
        assert_eq!(
            be32(&ack_b, 8),
            be32(&data_a, 4).wrapping_add(data.len() as u32)
        );
        assert_eq!(be32(&data_b, 4), be32(&synack, 4).wrapping_add(1));
        assert_eq!(be32(&ack_a, 8), be32(&data_b, 4).wrapping_add(5));
        // Same ports both ways, the server on 5060.
        assert_eq!(u16::from_be_bytes([syn[2], syn[3]]), SIP_PORT);
        assert_eq!(data_b[0..2], syn[2..4]);
    }

    #[test]
    fn forced_splits_complete_each_message_in_its_last_segment() {
        let mut link = Link::new(PcapWriter::new(Vec::new()).unwrap(), Rng::new(3), 1.0);
        let data = vec![b'y'; 4000];
        let mut done = [0u64; 2];
        let route = Route {
            src: A,
            dst: B,
            tcp: true,
        };
        link.send(10, route, &data, &[1000, 4000], &mut done)
            .unwrap();
        let f = frames(&link.finish().unwrap());
        // Handshake (3), then segments, then the receiver's ACK.
        let segs: Vec<usize> = f[3..f.len() - 1]
            .iter()
            .map(|(_, fr)| fr.len() - 54)
            .collect();
        assert_eq!(segs.iter().sum::<usize>(), 4000);
        assert!(segs.iter().all(|&n| n > 0 && n <= wire::MSS));
        let mut end = 0;
        for (i, n) in segs.iter().enumerate() {
            end += n;
            let frame = 4 + i as u64;
            if end >= 1000 && end - n < 1000 {
                assert_eq!(done[0], frame);
            }
        }
        assert_eq!(done[1], 3 + segs.len() as u64);
    }
}
