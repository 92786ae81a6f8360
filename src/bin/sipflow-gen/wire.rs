//! Ethernet, IPv4, UDP and TCP headers, written by hand.
//!
//! The generator is the reference sipflow is checked against, so it builds
//! its packets without sharing code with sipflow's own parsers. Header
//! checksums are computed (the IPv4 one must be right; UDP and TCP ones are
//! computed too, so that nothing downstream has to forgive them).

/// Ethernet header length.
pub const ETH_LEN: usize = 14;
/// IPv4 header length (no options).
pub const IP_LEN: usize = 20;
/// UDP header length.
pub const UDP_LEN: usize = 8;
/// TCP header length without options.
pub const TCP_LEN: usize = 20;
/// The link MTU: IP datagrams above it are fragmented.
pub const MTU: usize = 1500;
/// TCP maximum segment size for that MTU.
pub const MSS: usize = MTU - IP_LEN - TCP_LEN;

/// IP protocol number of UDP.
pub const PROTO_UDP: u8 = 17;
/// IP protocol number of TCP.
pub const PROTO_TCP: u8 = 6;

/// TCP flag bits.
pub mod flags {
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;
}

/// A locally administered MAC address derived from an IPv4 address, so
/// each node has a stable, distinct one.
fn mac(ip: u32) -> [u8; 6] {
    let [a, b, c, d] = ip.to_be_bytes();
    [0x02, 0x00, a, b, c, d]
}

/// Write the Ethernet header (type IPv4) into `h[0..14]`.
pub fn ethernet(h: &mut [u8], src_ip: u32, dst_ip: u32) {
    h[0..6].copy_from_slice(&mac(dst_ip));
    h[6..12].copy_from_slice(&mac(src_ip));
    h[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
}

/// The fields of an IPv4 header that vary between packets.
pub struct Ipv4 {
    /// Total length (header plus payload of this packet or fragment).
    pub total_len: u16,
    /// Identification.
    pub id: u16,
    /// Don't-fragment flag.
    pub df: bool,
    /// More-fragments flag.
    pub mf: bool,
    /// Fragment offset in bytes (a multiple of 8).
    pub frag_offset: usize,
    /// Protocol number.
    pub proto: u8,
    /// Source address.
    pub src: u32,
    /// Destination address.
    pub dst: u32,
}

/// Write an IPv4 header with a correct header checksum into `h[0..20]`.
pub fn ipv4(h: &mut [u8], f: &Ipv4) {
    h[0] = 0x45;
    h[1] = 0;
    h[2..4].copy_from_slice(&f.total_len.to_be_bytes());
    h[4..6].copy_from_slice(&f.id.to_be_bytes());
    let mut frag = ((f.frag_offset / 8) as u16) & 0x1fff;
    if f.df {
        frag |= 0x4000;
    }
    if f.mf {
        frag |= 0x2000;
    }
    h[6..8].copy_from_slice(&frag.to_be_bytes());
    h[8] = 64;
    h[9] = f.proto;
    h[10..12].copy_from_slice(&[0, 0]);
    h[12..16].copy_from_slice(&f.src.to_be_bytes());
    h[16..20].copy_from_slice(&f.dst.to_be_bytes());
    let sum = fold(sum_be16(&h[0..IP_LEN], 0));
    h[10..12].copy_from_slice(&(!sum).to_be_bytes());
}

/// Add `data` as big-endian 16-bit words to a running one's-complement sum
/// (an odd trailing byte is padded with zero, as RFC 1071 says).
pub fn sum_be16(data: &[u8], mut acc: u64) -> u64 {
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        let v = u64::from_be_bytes(w);
        acc += (v >> 48) + ((v >> 32) & 0xffff) + ((v >> 16) & 0xffff) + (v & 0xffff);
    }
    let rest = chunks.remainder();
    let mut pairs = rest.chunks_exact(2);
    for p in &mut pairs {
        acc += u64::from(u16::from_be_bytes([p[0], p[1]]));
    }
    if let [last] = pairs.remainder() {
        acc += u64::from(*last) << 8;
    }
    acc
}

/// Fold a running sum into 16 bits.
pub fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// The IPv4 pseudo-header's contribution to a UDP or TCP checksum.
pub fn pseudo_sum(src: u32, dst: u32, proto: u8, len: usize) -> u64 {
    u64::from(src >> 16)
        + u64::from(src & 0xffff)
        + u64::from(dst >> 16)
        + u64::from(dst & 0xffff)
        + u64::from(proto)
        + len as u64
}

/// Write a UDP header with its checksum over `payload` into `h[0..8]`.
pub fn udp(h: &mut [u8], src: u32, dst: u32, sport: u16, dport: u16, payload: &[u8]) {
    let len = UDP_LEN + payload.len();
    h[0..2].copy_from_slice(&sport.to_be_bytes());
    h[2..4].copy_from_slice(&dport.to_be_bytes());
    h[4..6].copy_from_slice(&(len as u16).to_be_bytes());
    h[6..8].copy_from_slice(&[0, 0]);
    let acc = sum_be16(
        payload,
        sum_be16(&h[0..UDP_LEN], pseudo_sum(src, dst, PROTO_UDP, len)),
    );
    let sum = !fold(acc);
    h[6..8].copy_from_slice(&(if sum == 0 { 0xffff } else { sum }).to_be_bytes());
}

/// The fields of a TCP header.
pub struct Tcp {
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number.
    pub ack: u32,
    /// Flag bits (see [`flags`]).
    pub flags: u8,
    /// Whether to carry an MSS option (SYN and SYN-ACK do).
    pub mss_option: bool,
}

/// Write a TCP header (20 bytes, or 24 with the MSS option) with its
/// checksum over `payload` into `h`; returns the header length.
pub fn tcp(h: &mut [u8], src: u32, dst: u32, f: &Tcp, payload: &[u8]) -> usize {
    let hlen = if f.mss_option { TCP_LEN + 4 } else { TCP_LEN };
    h[0..2].copy_from_slice(&f.sport.to_be_bytes());
    h[2..4].copy_from_slice(&f.dport.to_be_bytes());
    h[4..8].copy_from_slice(&f.seq.to_be_bytes());
    h[8..12].copy_from_slice(&f.ack.to_be_bytes());
    h[12] = ((hlen / 4) as u8) << 4;
    h[13] = f.flags;
    h[14..16].copy_from_slice(&65535u16.to_be_bytes());
    h[16..20].copy_from_slice(&[0, 0, 0, 0]);
    if f.mss_option {
        h[20..24].copy_from_slice(&[2, 4, (MSS >> 8) as u8, (MSS & 0xff) as u8]);
    }
    let len = hlen + payload.len();
    let acc = sum_be16(
        payload,
        sum_be16(&h[0..hlen], pseudo_sum(src, dst, PROTO_TCP, len)),
    );
    h[16..18].copy_from_slice(&(!fold(acc)).to_be_bytes());
    hlen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_checksum_verifies_to_zero() {
        let mut h = [0u8; IP_LEN];
        ipv4(
            &mut h,
            &Ipv4 {
                total_len: 1500,
                id: 0x1c46,
                df: false,
                mf: true,
                frag_offset: 1480,
                proto: PROTO_UDP,
                src: 0x0a00_0001,
                dst: 0x0a00_0002,
            },
        );
        assert_eq!(!fold(sum_be16(&h, 0)), 0);
        assert_eq!(u16::from_be_bytes([h[6], h[7]]), 0x2000 | 185);
    }

    #[test]
    fn rfc1071_example_sum() {
        // RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum_be16(&data, 0)), 0xddf2);
        assert_eq!(
            fold(sum_be16(&data[..5], 0)),
            fold(0x0001 + 0xf203 + 0xf400)
        );
    }

    #[test]
    fn udp_checksum_verifies_to_zero() {
        let payload = b"OPTIONS sip:x SIP/2.0\r\n\r\n!";
        let mut h = [0u8; UDP_LEN];
        udp(&mut h, 0x0a01_0203, 0x0a04_0506, 5060, 5060, payload);
        let len = UDP_LEN + payload.len();
        let acc = sum_be16(
            payload,
            sum_be16(&h, pseudo_sum(0x0a01_0203, 0x0a04_0506, PROTO_UDP, len)),
        );
        assert_eq!(!fold(acc), 0);
    }
}
