//! The network stage's driver: one frame at a time through link layer,
//! IP, tunnels, defragmentation and transport.

use std::net::{IpAddr, SocketAddr};

use super::config::{NetConfig, NetStats};
use super::defrag::{Defrag, FragKey, Fragment};
use super::ip::{self, IpError, IpPacket, proto};
use super::link::{self, L3};
use super::sctp::{self, DataChunk, Reassembly};
use super::tcp::{Limits, Segment, Tcp};
use super::timers::nanos;
use super::tunnel::{self, Inner, TunnelError};
use super::{At, FlowKey, NetEvent, Transport};
use crate::capture::{Frame, LinkType};
use crate::problem::{Problem, ProblemKind};

/// Turns frames into [`NetEvent`]s: UDP datagrams, in-order TCP bytes, the
/// ends of TCP directions, and problems.
///
/// One decoder reads one capture file, front to back: it keeps the state
/// that spans frames (fragments, TCP streams) within the bounds of its
/// [`NetConfig`]. Call [`Decoder::finish`] after the last frame.
pub struct Decoder {
    config: NetConfig,
    stats: NetStats,
    defrag: Defrag,
    tcp: Tcp,
    sctp: Reassembly,
    unsupported: Vec<UnsupportedLink>,
    /// Latest capture time seen (nanoseconds); time never runs backwards
    /// for expiry.
    now: i64,
}

/// Frames of one link type sipflow cannot decode (one problem per type
/// per file, at the end).
struct UnsupportedLink {
    link: LinkType,
    first_frame: u64,
    frames: u64,
    /// Frames of further unsupported types are counted here too.
    more_types: bool,
}

/// Distinct unsupported link types reported one by one per file.
const MAX_UNSUPPORTED_LINKS: usize = 16;

/// An IP payload on its way to the transport layer.
#[derive(Clone, Copy)]
struct Payload<'a> {
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    /// Captured bytes (at most `claimed`).
    data: &'a [u8],
    /// Length per the IP header.
    claimed: usize,
}

fn duration_nanos(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

impl Decoder {
    /// A decoder for one capture file.
    pub fn new(config: NetConfig) -> Decoder {
        let limits = Limits {
            gap_timeout: duration_nanos(config.tcp_gap_timeout),
            idle_timeout: duration_nanos(config.tcp_idle_timeout),
            stream_buffer: config.tcp_stream_buffer,
            total_buffer: config.tcp_total_buffer,
            max_streams: config.tcp_max_streams.max(1),
        };
        Decoder {
            defrag: Defrag::new(
                config.fragment_memory,
                duration_nanos(config.fragment_timeout),
            ),
            tcp: Tcp::new(limits),
            sctp: Reassembly::default(),
            config,
            stats: NetStats::default(),
            unsupported: Vec::new(),
            now: i64::MIN,
        }
    }

    /// What was counted so far.
    pub fn stats(&self) -> &NetStats {
        &self.stats
    }

    /// Bytes held for reassembly right now (IP fragments and out-of-order
    /// TCP data), for memory accounting.
    pub fn buffered_bytes(&self) -> usize {
        self.defrag.memory_used() + self.tcp.buffered()
    }

    /// IP datagrams in reassembly and TCP directions tracked right now.
    pub fn open_state(&self) -> (usize, usize) {
        (self.defrag.in_progress(), self.tcp.streams())
    }

    /// Decodes one frame. Events for it (and for anything its time made
    /// expire) go to `sink`, in order.
    pub fn push(&mut self, frame: &Frame<'_>, sink: &mut dyn FnMut(NetEvent<'_>)) {
        self.stats.frames += 1;
        let now = nanos(frame.time);
        if now > self.now {
            self.now = now;
            self.defrag.expire(now, sink, &mut self.stats);
            self.tcp.expire(now, sink, &mut self.stats);
        }
        let at = At {
            frame: frame.number,
            time: frame.time,
            now: self.now,
        };
        match link::decode(frame.link_type, frame.data) {
            L3::UnsupportedLink => {
                self.stats.frames_skipped_unsupported_link += 1;
                let known = self.unsupported.len();
                let full = known >= MAX_UNSUPPORTED_LINKS;
                match self
                    .unsupported
                    .iter()
                    .position(|u| u.link == frame.link_type)
                {
                    Some(i) => self.unsupported[i].frames += 1,
                    // A few distinct types per file at most in practice; a
                    // file claiming more shares the last entry's report.
                    None if full => {
                        if let Some(u) = self.unsupported.last_mut() {
                            u.frames += 1;
                            u.more_types = true;
                        }
                    }
                    None => self.unsupported.push(UnsupportedLink {
                        link: frame.link_type,
                        first_frame: frame.number,
                        frames: 1,
                        more_types: false,
                    }),
                }
            }
            L3::Truncated(what) if frame.data.len() < frame.orig_len as usize => {
                let message = format!(
                    "frame cut short by the capture inside the {what} header \
                     ({} of {} bytes captured)",
                    frame.data.len(),
                    frame.orig_len
                );
                self.problem(&at, ProblemKind::Truncated, message, sink);
            }
            l3 => self.l3(&at, l3, 0, sink),
        }
    }

    /// Ends the file: reports IP datagrams still incomplete, skips and
    /// reports the holes of TCP streams, delivers what follows them, ends
    /// every open TCP direction, and reports link types that were skipped.
    pub fn finish(&mut self, sink: &mut dyn FnMut(NetEvent<'_>)) {
        self.defrag.finish(sink, &mut self.stats);
        self.tcp.finish(sink, &mut self.stats);
        for first_frame in self.sctp.unfinished() {
            self.stats.problems += 1;
            sink(NetEvent::Problem(Problem::at_frame(
                ProblemKind::Fragment,
                first_frame,
                "SCTP message never completed: its last fragment is not in the capture".to_string(),
            )));
        }
        for u in std::mem::take(&mut self.unsupported) {
            self.stats.problems += 1;
            sink(NetEvent::Problem(Problem::at_frame(
                ProblemKind::Unsupported,
                u.first_frame,
                format!(
                    "link type {} ({}){} is not supported: {} frame(s) skipped, the first \
                     being this one (sipflow reads Ethernet, Linux cooked capture, raw IP, \
                     BSD loopback, PPP and Cisco HDLC)",
                    u.link.0,
                    link::link_type_name(u.link),
                    if u.more_types {
                        " and other link types"
                    } else {
                        ""
                    },
                    u.frames
                ),
            )));
        }
    }

    fn problem(
        &mut self,
        at: &At,
        kind: ProblemKind,
        message: String,
        sink: &mut dyn FnMut(NetEvent<'_>),
    ) {
        self.stats.problems += 1;
        match kind {
            ProblemKind::Truncated => self.stats.truncated += 1,
            ProblemKind::Corrupt => self.stats.malformed += 1,
            _ => {}
        }
        sink(NetEvent::Problem(Problem::at_frame(
            kind, at.frame, message,
        )));
    }

    fn l3(&mut self, at: &At, l3: L3<'_>, depth: u8, sink: &mut dyn FnMut(NetEvent<'_>)) {
        match l3 {
            L3::Ipv4(data) => self.ip(at, ip::ipv4(data), depth, sink),
            L3::Ipv6(data) => self.ip(at, ip::ipv6(data), depth, sink),
            L3::NotIp => self.stats.not_ip += 1,
            L3::Truncated(what) => self.problem(
                at,
                ProblemKind::Truncated,
                format!("frame ends inside the {what} header"),
                sink,
            ),
            L3::Malformed(what) => {
                self.problem(at, ProblemKind::Corrupt, format!("malformed {what}"), sink)
            }
            L3::UnsupportedLink => self.stats.not_ip += 1,
        }
    }

    fn ip(
        &mut self,
        at: &At,
        parsed: Result<IpPacket<'_>, IpError>,
        depth: u8,
        sink: &mut dyn FnMut(NetEvent<'_>),
    ) {
        let p = match parsed {
            Ok(p) => p,
            Err(IpError::Truncated(what)) => {
                let message = format!("frame ends inside the {what}");
                return self.problem(at, ProblemKind::Truncated, message, sink);
            }
            Err(IpError::Malformed(what)) => {
                return self.problem(at, ProblemKind::Corrupt, format!("malformed {what}"), sink);
            }
        };
        self.stats.ip_packets += 1;
        let Some(frag) = p.fragment else {
            let payload = Payload {
                src: p.src,
                dst: p.dst,
                proto: p.proto,
                data: p.payload,
                claimed: p.claimed_len,
            };
            return self.transport(at, payload, depth, sink);
        };
        if p.is_cut() {
            let message = format!(
                "IP fragment {} -> {} (id {:#x}) cut short by the capture ({} of {} bytes); \
                 its datagram cannot be completed",
                p.src,
                p.dst,
                frag.id,
                p.payload.len(),
                p.claimed_len
            );
            return self.problem(at, ProblemKind::Truncated, message, sink);
        }
        let fragment = Fragment {
            key: FragKey {
                src: p.src,
                dst: p.dst,
                id: frag.id,
                proto: p.proto,
            },
            offset: frag.offset,
            more: frag.more,
            data: p.payload,
        };
        let Some(buf) = self.defrag.insert(fragment, at, sink, &mut self.stats) else {
            return;
        };
        let (proto, offset) = if p.version == 6 {
            match ip::extensions(p.proto, &buf) {
                Ok(ext) => (ext.proto, ext.offset),
                Err(IpError::Truncated(what) | IpError::Malformed(what)) => {
                    let message = format!("malformed {what} in a reassembled IPv6 datagram");
                    self.problem(at, ProblemKind::Corrupt, message, sink);
                    self.defrag.recycle(buf);
                    return;
                }
            }
        } else {
            (p.proto, 0)
        };
        let data = buf.get(offset..).unwrap_or(&[]);
        let payload = Payload {
            src: p.src,
            dst: p.dst,
            proto,
            data,
            claimed: data.len(),
        };
        self.transport(at, payload, depth, sink);
        self.defrag.recycle(buf);
    }

    fn transport(
        &mut self,
        at: &At,
        p: Payload<'_>,
        depth: u8,
        sink: &mut dyn FnMut(NetEvent<'_>),
    ) {
        match p.proto {
            proto::UDP => self.udp(at, p, depth, sink),
            proto::SCTP => self.sctp(at, p, sink),
            proto::TCP => self.tcp(at, p, sink),
            proto::ICMP | proto::ICMPV6 => self.stats.icmp_skipped += 1,
            proto::IPIP => {
                if self.enter_tunnel(at, depth, sink) {
                    self.ip(at, ip::ipv4(p.data), depth + 1, sink);
                }
            }
            proto::IPV6 => {
                if self.enter_tunnel(at, depth, sink) {
                    self.ip(at, ip::ipv6(p.data), depth + 1, sink);
                }
            }
            proto::GRE => {
                if self.enter_tunnel(at, depth, sink) {
                    let inner = tunnel::gre(p.data);
                    self.tunnel(at, inner, depth + 1, sink);
                }
            }
            proto::AH => match ip::skip_ah(p.data) {
                Ok((next, rest)) => {
                    let skipped = p.data.len() - rest.len();
                    let inner = Payload {
                        proto: next,
                        data: rest,
                        claimed: p.claimed.saturating_sub(skipped),
                        ..p
                    };
                    self.transport(at, inner, depth, sink);
                }
                Err(IpError::Truncated(what)) => {
                    let message = format!("frame ends inside the {what}");
                    self.problem(at, ProblemKind::Truncated, message, sink);
                }
                Err(IpError::Malformed(what)) => {
                    self.problem(at, ProblemKind::Corrupt, format!("malformed {what}"), sink);
                }
            },
            _ => self.stats.other_protocols += 1,
        }
    }

    /// Counts a tunnel level; false (and a problem) past the nesting bound.
    fn enter_tunnel(&mut self, at: &At, depth: u8, sink: &mut dyn FnMut(NetEvent<'_>)) -> bool {
        if depth >= self.config.max_tunnel_depth {
            let message = format!(
                "tunnels nested deeper than {} levels; the inner packet is skipped",
                self.config.max_tunnel_depth
            );
            self.problem(at, ProblemKind::Unsupported, message, sink);
            return false;
        }
        self.stats.tunnels += 1;
        true
    }

    fn tunnel(
        &mut self,
        at: &At,
        inner: Result<Inner<'_>, TunnelError>,
        depth: u8,
        sink: &mut dyn FnMut(NetEvent<'_>),
    ) {
        let l3 = match inner {
            Ok(Inner::Ethertype(ty, data)) => link::ethertype(ty, data, 0),
            Ok(Inner::Ethernet(data)) => link::ethernet(data, 0),
            Ok(Inner::Ppp(data)) => link::ppp(data),
            Ok(Inner::Ip(data)) => match data.first().map(|b| b >> 4) {
                Some(4) => L3::Ipv4(data),
                Some(6) => L3::Ipv6(data),
                _ => L3::NotIp,
            },
            Ok(Inner::Control) => return self.stats.not_ip += 1,
            Err(TunnelError::Truncated(what)) => {
                let message = format!("frame ends inside the {what}");
                return self.problem(at, ProblemKind::Truncated, message, sink);
            }
            Err(TunnelError::Malformed(what)) => {
                return self.problem(at, ProblemKind::Corrupt, format!("malformed {what}"), sink);
            }
            Err(TunnelError::Unsupported(what)) => {
                let message = format!("{what} is not supported; the inner packet is skipped");
                return self.problem(at, ProblemKind::Unsupported, message, sink);
            }
        };
        self.l3(at, l3, depth, sink);
    }

    /// SCTP: each DATA chunk holding a whole user message is one message;
    /// fragments are put back together per stream (see [`sctp`]).
    fn sctp(&mut self, at: &At, p: Payload<'_>, sink: &mut dyn FnMut(NetEvent<'_>)) {
        let Some((sport, dport, chunks)) = sctp::header(p.data) else {
            let (kind, message) = if p.claimed < 12 {
                (
                    ProblemKind::Corrupt,
                    "malformed SCTP header (IP payload below 12 bytes)",
                )
            } else {
                (ProblemKind::Truncated, "frame ends inside the SCTP header")
            };
            return self.problem(at, kind, message.to_string(), sink);
        };
        let flow = FlowKey {
            src: SocketAddr::new(p.src, sport),
            dst: SocketAddr::new(p.dst, dport),
        };
        let mut found: Vec<DataChunk<'_>> = Vec::new();
        if sctp::data_chunks(chunks, &mut found).is_err() {
            let message = if p.data.len() < p.claimed {
                "SCTP packet cut short by the capture; its last chunk is not delivered"
            } else {
                "malformed SCTP chunk length; the chunks after it are skipped"
            };
            let kind = if p.data.len() < p.claimed {
                ProblemKind::Truncated
            } else {
                ProblemKind::Corrupt
            };
            self.problem(at, kind, message.to_string(), sink);
        }
        self.stats.sctp_chunks += found.len() as u64;
        for c in found {
            if c.begin && c.end {
                sink(NetEvent::Datagram {
                    frame: at.frame,
                    time: at.time,
                    flow,
                    transport: Transport::Sctp,
                    data: c.data,
                });
                continue;
            }
            match self.sctp.push(flow, &c, at.frame) {
                sctp::Fragment::Pending => {}
                sctp::Fragment::Complete(bytes) => sink(NetEvent::Datagram {
                    frame: at.frame,
                    time: at.time,
                    flow,
                    transport: Transport::Sctp,
                    data: &bytes,
                }),
                sctp::Fragment::Dropped { first_frame, why } => {
                    let message =
                        format!("SCTP message begun at frame {first_frame} dropped: {why}");
                    self.problem(at, ProblemKind::Fragment, message, sink);
                }
            }
        }
    }

    fn udp(&mut self, at: &At, p: Payload<'_>, depth: u8, sink: &mut dyn FnMut(NetEvent<'_>)) {
        let Some(&[s0, s1, d0, d1, l0, l1, _, _]) = p.data.get(..8) else {
            let (kind, message) = if p.claimed < 8 {
                (
                    ProblemKind::Corrupt,
                    "malformed UDP header (IP payload below 8 bytes)",
                )
            } else {
                (ProblemKind::Truncated, "frame ends inside the UDP header")
            };
            return self.problem(at, kind, message.to_string(), sink);
        };
        let sport = u16::from_be_bytes([s0, s1]);
        let dport = u16::from_be_bytes([d0, d1]);
        let len = match usize::from(u16::from_be_bytes([l0, l1])) {
            0 => p.claimed, // IPv6 jumbogram
            n => n,
        };
        if len < 8 {
            let message = format!(
                "malformed UDP header (length {len}, IP payload {} bytes); datagram skipped",
                p.claimed
            );
            return self.problem(at, ProblemKind::Corrupt, message, sink);
        }
        let len = if len > p.claimed {
            // The UDP length claims more than the IP packet holds: use what
            // the packet holds (as Wireshark does), and say so.
            let message = format!(
                "UDP length {len} exceeds the IP payload ({} bytes); the bytes present are used",
                p.claimed
            );
            self.problem(at, ProblemKind::Corrupt, message, sink);
            p.claimed
        } else {
            len
        };
        let Some(data) = p.data.get(8..len) else {
            let message = format!(
                "UDP datagram {}:{sport} -> {}:{dport} cut short by the capture \
                 ({} of {len} bytes captured); not delivered",
                p.src,
                p.dst,
                p.data.len()
            );
            return self.problem(at, ProblemKind::Truncated, message, sink);
        };
        if dport == tunnel::VXLAN_PORT
            && let Some(inner) = tunnel::vxlan(data)
        {
            if self.enter_tunnel(at, depth, sink) {
                self.tunnel(at, Ok(inner), depth + 1, sink);
            }
            return;
        }
        if (dport == tunnel::GTP_U_PORT || sport == tunnel::GTP_U_PORT)
            && let Some(inner) = tunnel::gtp_u(data)
        {
            if self.enter_tunnel(at, depth, sink) {
                self.tunnel(at, inner, depth + 1, sink);
            }
            return;
        }
        self.stats.udp_datagrams += 1;
        sink(NetEvent::Datagram {
            frame: at.frame,
            time: at.time,
            transport: Transport::Udp,
            flow: FlowKey {
                src: SocketAddr::new(p.src, sport),
                dst: SocketAddr::new(p.dst, dport),
            },
            data,
        });
    }

    fn tcp(&mut self, at: &At, p: Payload<'_>, sink: &mut dyn FnMut(NetEvent<'_>)) {
        let Some(h) = p.data.get(..20) else {
            let (kind, message) = if p.claimed < 20 {
                (
                    ProblemKind::Corrupt,
                    "malformed TCP header (IP payload below 20 bytes)",
                )
            } else {
                (ProblemKind::Truncated, "frame ends inside the TCP header")
            };
            return self.problem(at, kind, message.to_string(), sink);
        };
        let header_len = usize::from(h[12] >> 4) * 4;
        if header_len < 20 || header_len > p.claimed {
            let message = format!(
                "malformed TCP header (header length {header_len}, IP payload {} bytes)",
                p.claimed
            );
            return self.problem(at, ProblemKind::Corrupt, message, sink);
        }
        let Some(data) = p.data.get(header_len..) else {
            let message = "frame ends inside the TCP options".to_string();
            return self.problem(at, ProblemKind::Truncated, message, sink);
        };
        let flow = FlowKey {
            src: SocketAddr::new(p.src, u16::from_be_bytes([h[0], h[1]])),
            dst: SocketAddr::new(p.dst, u16::from_be_bytes([h[2], h[3]])),
        };
        let len = p.claimed - header_len;
        if data.len() < len {
            let message = format!(
                "TCP segment {} -> {} cut short by the capture ({} of {len} payload bytes \
                 captured); its bytes count as lost",
                flow.src,
                flow.dst,
                data.len()
            );
            self.problem(at, ProblemKind::Truncated, message, sink);
        }
        self.stats.tcp_segments += 1;
        let flags = h[13];
        let seg = Segment {
            seq: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
            syn: flags & 0x02 != 0,
            fin: flags & 0x01 != 0,
            rst: flags & 0x04 != 0,
            data,
            len: u32::try_from(len).unwrap_or(u32::MAX),
        };
        self.tcp.segment(flow, seg, at, sink, &mut self.stats);
    }
}
