//! Floods: captures made to fill one bounded structure of sipflow each,
//! with one valid PoC flow (flow 1, the client releasing itself) after the
//! flood, whose verdict must still come out `pass`.
//!
//! `sipflow-gen --flood KIND [--count N] --out F.pcap` writes:
//!
//! - `fragments`: N first IPv4 fragments (offset 0, more-fragments set) of
//!   large UDP INVITEs whose other fragments never come, each its own
//!   (source, destination, identification);
//! - `tcp-gaps`: N TCP streams (client to core proxy, port 5060), each a
//!   SYN, the first part of an INVITE, and its last part after a hole that
//!   is never filled;
//! - `refers`: N REFERs of client B with `Refer-To: <SESSION;method=BYE>`
//!   (the trigger of flows 1 and 2, alternately to `PRE` and to `SESSION`),
//!   client B to its core proxy, with nothing after them;
//! - `invites`: N INVITEs (with SDP), client to core proxy, never answered;
//! - `content-length`: one TCP connection whose INVITE claims
//!   `Content-Length: 4294967295`, followed by N full segments of its body
//!   (the receiver acknowledging every 16th);
//! - `all`: the five above one after the other in one capture, each with N
//!   items (or its own full size).
//!
//! Without `--count`, each flood has its full size (the sizes of the
//! project's "nothing breaks it" issue). Flood packets go out every
//! [`GAP_US`] of capture time, so a flood is dense: time horizons alone
//! do not bound what is kept, the count bounds must. The valid flow
//! starts one second after the last flood packet, over UDP, between the
//! same kind of nodes (10.N.x.y) as the flood's SIP traffic.
//!
//! Every packet is well formed: correct IPv4 header, UDP and TCP
//! checksums (a first fragment's UDP checksum covers the whole datagram),
//! SIP text rendered by the same code as the rest of the generator.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use crate::hops;
use crate::link::{Link, Route, SIP_PORT};
use crate::pcap::PcapWriter;
use crate::poc::{self, PocInstance};
use crate::rng::Rng;
use crate::scheduler::EPOCH_US;
use crate::sip::{Body, Extra, Kind as MsgKind, Method, SdpKind, Txn};
use crate::text::Text;
use crate::topology::{self, Net, client, core, poc as poc_server};
use crate::truth;
use crate::uri::{ContactUser, Uri};
use crate::wire::{self, Ipv4, Tcp, flags};

/// Capture time between two flood packets (500,000 packets a second).
pub const GAP_US: u64 = 2;

/// What a flood is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// First IPv4 fragments whose siblings never come.
    Fragments,
    /// TCP streams with a hole never filled.
    TcpGaps,
    /// REFER(BYE)s never answered nor followed.
    Refers,
    /// INVITEs never answered.
    Invites,
    /// One TCP message claiming a 4 GiB body.
    ContentLength,
    /// All of the above, one after the other.
    All,
}

impl Kind {
    /// The single floods, in the order `all` writes them.
    pub const SINGLE: [Kind; 5] = [
        Kind::Fragments,
        Kind::TcpGaps,
        Kind::Refers,
        Kind::Invites,
        Kind::ContentLength,
    ];

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Fragments => "fragments",
            Kind::TcpGaps => "tcp-gaps",
            Kind::Refers => "refers",
            Kind::Invites => "invites",
            Kind::ContentLength => "content-length",
            Kind::All => "all",
        }
    }

    /// Items of the full-size flood (for `content-length`: body segments).
    pub fn full_count(self) -> u64 {
        match self {
            Kind::Fragments => 1_000_000,
            Kind::TcpGaps => 400_000,
            Kind::Refers => 500_000,
            Kind::Invites => 2_000_000,
            Kind::ContentLength => 100_000,
            Kind::All => 0,
        }
    }
}

/// Parse `--flood KIND`.
pub fn parse_kind(s: &str) -> Result<Kind, String> {
    Kind::SINGLE
        .into_iter()
        .chain([Kind::All])
        .find(|k| k.name() == s)
        .ok_or_else(|| {
            format!(
                "unknown flood '{s}' (use fragments, tcp-gaps, refers, invites, content-length or all)"
            )
        })
}

/// Write the flood `kind` (`count` items each, else the full size) and the
/// valid flow after it into `out`; the valid flow's truth line goes to
/// `truth_out` when given. Prints a summary on standard error.
pub fn generate(
    kind: Kind,
    count: Option<u64>,
    seed: u64,
    out: &Path,
    truth_out: Option<&Path>,
) -> Result<(), String> {
    let file = File::create(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let pcap = PcapWriter::new(BufWriter::with_capacity(1 << 20, file))
        .map_err(|e| format!("writing {}: {e}", out.display()))?;
    let mut f = Flood {
        pcap,
        rng: Rng::new(seed),
        t: EPOCH_US,
        buf: Vec::with_capacity(4096),
        body: Vec::with_capacity(4096),
    };
    let kinds: &[Kind] = if kind == Kind::All {
        &Kind::SINGLE
    } else {
        std::slice::from_ref(&kind)
    };
    let werr = |e: io::Error| format!("writing {}: {e}", out.display());
    for &k in kinds {
        let n = count.unwrap_or(k.full_count());
        let first = f.pcap.frames() + 1;
        f.write(k, n).map_err(werr)?;
        eprintln!(
            "flood {} items {n} frames {first}-{}",
            k.name(),
            f.pcap.frames()
        );
    }
    let t0 = f.t + 1_000_000;
    let mut rng = f.rng.fork();
    let Flood { pcap, .. } = f;
    let mut link = Link::new(pcap, rng.fork(), 0.0);
    let inst = valid_flow(&mut rng, t0).ok_or("could not build the valid flow")?;
    let inst = play(&mut link, inst).map_err(werr)?;
    let truth = truth::of(&inst);
    if !truth.pass() {
        return Err("the valid flow does not pass (a generator bug)".into());
    }
    let mut line = Vec::new();
    truth.write_json(&mut line).map_err(werr)?;
    if let Some(p) = truth_out {
        std::fs::write(p, &line).map_err(|e| format!("writing {}: {e}", p.display()))?;
    }
    let (frames, bytes) = (link.frames(), link.bytes());
    link.finish().map_err(werr)?;
    eprint!("valid-flow {}", String::from_utf8_lossy(&line));
    eprintln!("frames {frames}");
    eprintln!("bytes {bytes}");
    Ok(())
}

/// A flow-1 instance without fault whose signalling runs over UDP.
fn valid_flow(rng: &mut Rng, t0: u64) -> Option<PocInstance> {
    (0..1000)
        .filter_map(|_| {
            poc::release_self(&mut rng.fork(), t0, None, &crate::variant::Ctx::legacy())
        })
        .find(|p| p.script.txns.iter().all(|t| !t.tcp))
}

/// Put every message of `inst` on the wire in time order and record the
/// frame each is complete in (as the scheduler does for one instance).
fn play<W: Write>(link: &mut Link<W>, mut inst: PocInstance) -> io::Result<PocInstance> {
    let (mut buf, mut body, mut done) = (Vec::new(), Vec::new(), [0u64; 2]);
    for ev in inst.script.events() {
        for id in [Some(ev.a), ev.b].into_iter().flatten() {
            let s = &inst.script;
            let Some(m) = s.msgs.get(id) else { continue };
            let Some(tx) = s.txns.get(m.txn as usize) else {
                continue;
            };
            buf.clear();
            tx.render(m.kind, &mut buf, &mut body);
            let (src, dst) = tx.endpoints(m.kind);
            let route = Route {
                src,
                dst,
                tcp: tx.tcp,
            };
            link.send(ev.t, route, &buf, &[buf.len()], &mut done)?;
            if let Some(m) = inst.script.msgs.get_mut(id) {
                m.frame = done[0];
            }
        }
    }
    Ok(inst)
}

/// The writer and clock of the flood part.
struct Flood<W: Write> {
    pcap: PcapWriter<W>,
    rng: Rng,
    /// Capture time of the next packet, µs.
    t: u64,
    buf: Vec<u8>,
    body: Vec<u8>,
}

/// Item `i`'s client: cycles through every client of every network.
fn nth_client(i: u64) -> (Net, u32, u32) {
    let per = u64::from(topology::CLIENTS_PER_NET);
    let net = ((i / per) % u64::from(topology::NETS)) as Net;
    let user = (i % per) as u32;
    (net, user, client(net, user))
}

/// How many distinct clients [`nth_client`] cycles through.
const CLIENTS: u64 = topology::NETS as u64 * topology::CLIENTS_PER_NET as u64;

impl<W: Write> Flood<W> {
    fn write(&mut self, kind: Kind, n: u64) -> io::Result<()> {
        match kind {
            Kind::Fragments => (0..n).try_for_each(|i| self.fragment(i)),
            Kind::TcpGaps => (0..n).try_for_each(|i| self.tcp_gap(i)),
            Kind::Refers => (0..n).try_for_each(|i| self.refer(i)),
            Kind::Invites => (0..n).try_for_each(|i| self.invite(i)),
            Kind::ContentLength => self.content_length(n),
            Kind::All => Ok(()),
        }
    }

    fn tick(&mut self) -> u64 {
        let t = self.t;
        self.t += GAP_US;
        t
    }

    /// An INVITE from client `ip` of `net` to a user of another network,
    /// through its core proxy; `sdp` is the kind of its offer.
    fn invite_txn(&mut self, net: Net, user: u32, ip: u32, sdp: SdpKind, tcp: bool) -> Txn {
        let rng = &mut self.rng;
        let k = topology::other_net(rng, &[net]);
        let callee = Uri::Aor {
            net: k,
            user: topology::any_client(rng),
        };
        let cseq = rng.range(1, 5000) as u32;
        let mut t = hops::txn(
            rng,
            Method::Invite,
            callee,
            &[ip, core(net), core(k)],
            tcp,
            ip,
            cseq,
            Uri::Aor { net, user },
            callee,
        );
        t.contact = Some(Uri::Contact {
            user: ContactUser::User(user),
            ip,
            tcp,
        });
        t.record_route = true;
        t.extra = Extra::Invite;
        t.body = Body::Sdp {
            ip,
            sess: rng.next_u64(),
            port: 10_000 + 2 * rng.below(20_000) as u16,
            kind: sdp,
        };
        t
    }

    /// Render hop 0 of `t` into `self.buf`.
    fn render(&mut self, t: &Txn) {
        self.buf.clear();
        t.render(MsgKind::Req { hop: 0 }, &mut self.buf, &mut self.body);
    }

    /// One UDP datagram, unfragmented, from `src` to `dst` (both port 5060).
    fn udp(&mut self, src: u32, dst: u32, id: u16) -> io::Result<()> {
        let ts = self.tick();
        let mut h = [0u8; wire::ETH_LEN + wire::IP_LEN + wire::UDP_LEN];
        let total = wire::UDP_LEN + self.buf.len();
        wire::ethernet(&mut h, src, dst);
        wire::ipv4(
            &mut h[wire::ETH_LEN..],
            &ip(total, id, true, false, src, dst),
        );
        wire::udp(
            &mut h[wire::ETH_LEN + wire::IP_LEN..],
            src,
            dst,
            SIP_PORT,
            SIP_PORT,
            &self.buf,
        );
        self.pcap.frame(ts, &[&h, &self.buf])?;
        Ok(())
    }

    /// Flood 1: the first fragment of a large INVITE over UDP.
    fn fragment(&mut self, i: u64) -> io::Result<()> {
        let (net, user, src) = nth_client(i);
        let t = self.invite_txn(net, user, src, SdpKind::Big, false);
        self.render(&t);
        let dst = core(net);
        let room = wire::MTU - wire::IP_LEN - wire::UDP_LEN;
        if self.buf.len() <= room {
            return Err(io::Error::other("a large INVITE fits in one packet"));
        }
        // Each client sends its k-th datagram with identification k + 1.
        let id = (i / CLIENTS + 1) as u16;
        let ts = self.tick();
        let mut h = [0u8; wire::ETH_LEN + wire::IP_LEN + wire::UDP_LEN];
        wire::ethernet(&mut h, src, dst);
        wire::ipv4(
            &mut h[wire::ETH_LEN..],
            &ip(wire::MTU - wire::IP_LEN, id, false, true, src, dst),
        );
        wire::udp(
            &mut h[wire::ETH_LEN + wire::IP_LEN..],
            src,
            dst,
            SIP_PORT,
            SIP_PORT,
            &self.buf,
        );
        self.pcap.frame(ts, &[&h, &self.buf[..room]])?;
        Ok(())
    }

    /// One TCP segment.
    #[allow(clippy::too_many_arguments)]
    fn segment(
        &mut self,
        (src, sport): (u32, u16),
        (dst, dport): (u32, u16),
        seq: u32,
        ack: u32,
        fl: u8,
        payload: std::ops::Range<usize>,
        id: u16,
    ) -> io::Result<()> {
        let ts = self.tick();
        let data = self.buf.get(payload).unwrap_or_default();
        let mut h = [0u8; wire::ETH_LEN + wire::IP_LEN + wire::TCP_LEN + 4];
        let at = wire::ETH_LEN + wire::IP_LEN;
        let tcp = Tcp {
            sport,
            dport,
            seq,
            ack,
            flags: fl,
            mss_option: fl & flags::SYN != 0,
        };
        let hlen = wire::tcp(&mut h[at..], src, dst, &tcp, data);
        wire::ethernet(&mut h, src, dst);
        wire::ipv4(
            &mut h[wire::ETH_LEN..],
            &Ipv4 {
                proto: wire::PROTO_TCP,
                ..ip(hlen + data.len(), id, true, false, src, dst)
            },
        );
        self.pcap.frame(ts, &[&h[..at + hlen], data])?;
        Ok(())
    }

    /// Flood 2: a SYN, the first part of an INVITE, and its end after a
    /// hole of a few hundred bytes that never comes.
    fn tcp_gap(&mut self, i: u64) -> io::Result<()> {
        let (net, user, src) = nth_client(i);
        let t = self.invite_txn(net, user, src, SdpKind::Call, true);
        self.render(&t);
        let sport = 20_000 + (i / CLIENTS) as u16;
        let (a, b) = ((src, sport), (core(net), SIP_PORT));
        let isn = self.rng.next_u64() as u32;
        let peer = self.rng.next_u64() as u32;
        let len = self.buf.len();
        let (cut, resume) = (len / 3, 2 * len / 3);
        self.segment(a, b, isn, 0, flags::SYN, 0..0, 1)?;
        let seq = isn.wrapping_add(1);
        let push = flags::PSH | flags::ACK;
        self.segment(a, b, seq, peer, push, 0..cut, 2)?;
        let later = seq.wrapping_add(resume as u32);
        self.segment(a, b, later, peer, push, resume..len, 3)
    }

    /// Client B's REFER with `Refer-To: <SESSION;method=BYE>`, first hop.
    fn refer(&mut self, i: u64) -> io::Result<()> {
        let (b, ub, ip) = nth_client(i);
        let rng = &mut self.rng;
        let a = topology::other_net(rng, &[b]);
        let session = Uri::Session {
            net: a,
            id: rng.next_u64(),
        };
        // Flow 1 refers to the pre-established session, flow 2 to the
        // PoC session itself.
        let ruri = if i.is_multiple_of(2) {
            Uri::Pre {
                net: b,
                id: rng.next_u64(),
            }
        } else {
            session
        };
        let me = Uri::Aor { net: b, user: ub };
        let mut t = hops::txn(
            rng,
            Method::Refer,
            ruri,
            &[ip, core(b), poc_server(b)],
            false,
            ip,
            1,
            me,
            ruri,
        );
        t.contact = Some(Uri::Contact {
            user: ContactUser::User(ub),
            ip,
            tcp: false,
        });
        t.record_route = true;
        t.extra = Extra::ReferBye {
            target: session,
            referred_by: me,
        };
        t.poc = true;
        self.render(&t);
        self.udp(ip, core(b), (i / CLIENTS) as u16)
    }

    /// Flood 4: an INVITE, first hop, never answered.
    fn invite(&mut self, i: u64) -> io::Result<()> {
        let (net, user, ip) = nth_client(i);
        let t = self.invite_txn(net, user, ip, SdpKind::Call, false);
        self.render(&t);
        self.udp(ip, core(net), (i / CLIENTS) as u16)
    }

    /// Flood 5: one connection whose INVITE claims a 4 GiB body, then
    /// `segments` full segments of that body.
    fn content_length(&mut self, segments: u64) -> io::Result<()> {
        let (net, user, src) = nth_client(self.rng.below(CLIENTS));
        let mut t = self.invite_txn(net, user, src, SdpKind::Call, true);
        t.body = Body::None;
        self.render(&t);
        let claim = b"Content-Length: 0\r\n\r\n";
        let at = self
            .buf
            .windows(claim.len())
            .position(|w| w == claim)
            .ok_or_else(|| io::Error::other("no Content-Length in the INVITE"))?;
        self.buf.truncate(at);
        self.buf.s("Content-Length: 4294967295\r\n\r\n");
        let head = self.buf.len();
        // The body: SDP-like attribute lines, one segment's worth.
        let mss = wire::MSS;
        let mut line = 0u64;
        while self.buf.len() < head + mss {
            self.buf.s("a=x-flood:").hex(line, 16).s("\r\n");
            line += 1;
        }
        let a = (src, 40_000 + self.rng.below(20_000) as u16);
        let b = (core(net), SIP_PORT);
        let (isn_a, isn_b) = (self.rng.next_u64() as u32, self.rng.next_u64() as u32);
        let mut id: u16 = 1;
        self.segment(a, b, isn_a, 0, flags::SYN, 0..0, id)?;
        let syn_ack = flags::SYN | flags::ACK;
        self.segment(b, a, isn_b, isn_a.wrapping_add(1), syn_ack, 0..0, 1)?;
        let ack_b = isn_b.wrapping_add(1);
        let mut seq = isn_a.wrapping_add(1);
        self.segment(a, b, seq, ack_b, flags::ACK, 0..0, 2)?;
        self.segment(a, b, seq, ack_b, flags::PSH | flags::ACK, 0..head, 3)?;
        seq = seq.wrapping_add(head as u32);
        for k in 0..segments {
            id = id.wrapping_add(1);
            self.segment(a, b, seq, ack_b, flags::ACK, head..head + mss, id)?;
            seq = seq.wrapping_add(mss as u32);
            if k % 16 == 15 {
                self.segment(b, a, ack_b, seq, flags::ACK, 0..0, id)?;
            }
        }
        Ok(())
    }
}

/// IPv4 fields of a UDP packet (or first fragment) of `len` bytes after
/// the IP header.
fn ip(len: usize, id: u16, df: bool, mf: bool, src: u32, dst: u32) -> Ipv4 {
    Ipv4 {
        total_len: (wire::IP_LEN + len) as u16,
        id,
        df,
        mf,
        frag_offset: 0,
        proto: wire::PROTO_UDP,
        src,
        dst,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{fold, sum_be16};

    fn flood(kind: Kind, n: u64) -> Vec<u8> {
        let mut f = Flood {
            pcap: PcapWriter::new(Vec::new()).unwrap(),
            rng: Rng::new(7),
            t: EPOCH_US,
            buf: Vec::new(),
            body: Vec::new(),
        };
        f.write(kind, n).unwrap();
        f.pcap.finish().unwrap()
    }

    /// The frames of a capture written by `flood`.
    fn frames(pcap: &[u8]) -> Vec<&[u8]> {
        let mut out = Vec::new();
        let mut at = 24;
        while at + 16 <= pcap.len() {
            let len = u32::from_le_bytes(pcap[at + 8..at + 12].try_into().unwrap()) as usize;
            out.push(&pcap[at + 16..at + 16 + len]);
            at += 16 + len;
        }
        out
    }

    #[test]
    fn kinds_parse_by_name() {
        for k in Kind::SINGLE.into_iter().chain([Kind::All]) {
            assert_eq!(parse_kind(k.name()), Ok(k));
        }
        assert!(parse_kind("syn").is_err());
    }

    #[test]
    fn fragments_are_distinct_first_fragments_with_valid_headers() {
        let pcap = flood(Kind::Fragments, 3);
        let fr = frames(&pcap);
        assert_eq!(fr.len(), 3);
        let mut keys = std::collections::HashSet::new();
        for f in fr {
            assert_eq!(f.len(), wire::ETH_LEN + wire::MTU);
            let iph = &f[14..34];
            assert_eq!(!fold(sum_be16(iph, 0)), 0, "IPv4 header checksum");
            assert_eq!(u16::from_be_bytes([iph[6], iph[7]]), 0x2000, "MF, offset 0");
            let udp_len = u16::from_be_bytes([f[38], f[39]]) as usize;
            assert!(udp_len > wire::MTU - wire::IP_LEN, "the datagram is larger");
            assert!(f[42..].starts_with(b"INVITE sip:"));
            assert!(keys.insert((&iph[12..20], iph[4], iph[5])));
        }
    }

    #[test]
    fn a_tcp_gap_stream_leaves_a_hole() {
        let pcap = flood(Kind::TcpGaps, 1);
        let fr = frames(&pcap);
        assert_eq!(fr.len(), 3);
        let seq = |f: &[u8]| u32::from_be_bytes(f[38..42].try_into().unwrap());
        let data = |f: &[u8]| f.len() - 54;
        assert_eq!(fr[0][47] & flags::SYN, flags::SYN);
        assert_eq!(seq(fr[1]), seq(fr[0]).wrapping_add(1));
        let hole = seq(fr[2]).wrapping_sub(seq(fr[1])) as usize - data(fr[1]);
        assert!(hole > 100, "hole of {hole} bytes");
        assert!(fr[1][54..].starts_with(b"INVITE sip:"));
    }

    #[test]
    fn refers_carry_refer_to_with_method_bye() {
        let pcap = flood(Kind::Refers, 2);
        let fr = frames(&pcap);
        assert_eq!(fr.len(), 2);
        for f in fr {
            let text = String::from_utf8_lossy(&f[42..]);
            assert!(text.starts_with("REFER sip:"), "{text}");
            assert!(text.contains(";method=BYE>\r\n"), "{text}");
        }
    }

    #[test]
    fn the_content_length_claims_four_gib() {
        let pcap = flood(Kind::ContentLength, 32);
        let fr = frames(&pcap);
        // Handshake, the header, 32 body segments, 2 acknowledgments.
        assert_eq!(fr.len(), 3 + 1 + 32 + 2);
        let head = String::from_utf8_lossy(&fr[3][54..]);
        assert!(
            head.ends_with("Content-Length: 4294967295\r\n\r\n"),
            "{head}"
        );
        assert_eq!(fr[4].len() - 54, wire::MSS);
    }

    #[test]
    fn the_valid_flow_passes() {
        let mut rng = Rng::new(3);
        let inst = valid_flow(&mut rng, EPOCH_US).unwrap();
        let mut link = Link::new(PcapWriter::new(Vec::new()).unwrap(), rng.fork(), 0.0);
        let inst = play(&mut link, inst).unwrap();
        let t = truth::of(&inst);
        assert!(t.pass(), "{:?}", t.steps);
        assert!(t.trigger_frame > 0);
    }
}
