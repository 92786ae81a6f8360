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
    /// end offset of message i) from `src` to `dst` at time `at`; the frame
    /// in which each message is complete is stored in `done[i]`.
    pub fn send(
        &mut self,
        at: u64,
        src: u32,
        dst: u32,
        tcp: bool,
        data: &[u8],
        ends: &[usize],
        done: &mut [u64],
    ) -> io::Result<()> {
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
        let mut msg_first_seg = vec![0u64; ends.len()];
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
                    if msg_first_seg[m] == 0 {
                        msg_first_seg[m] = frame;
                    }
                    if ends[m] <= end {
                        if let Some(d) = done.get_mut(m) {
                            *d = frame;
                        }
                        if msg_first_seg[m] != frame {
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
