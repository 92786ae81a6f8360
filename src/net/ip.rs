//! IPv4 and IPv6 headers: addresses, protocol, payload, fragment fields.
//!
//! The payload is trimmed to the length the header claims (dropping
//! Ethernet padding and trailers); when fewer bytes were captured than the
//! header claims, the captured part is returned together with the claimed
//! length so the caller can tell "cut short by the snaplen" from "whole".

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IP protocol numbers the stage cares about.
pub(crate) mod proto {
    pub const HOP_BY_HOP: u8 = 0;
    pub const ICMP: u8 = 1;
    pub const IPIP: u8 = 4;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const IPV6: u8 = 41;
    pub const ROUTING: u8 = 43;
    pub const FRAGMENT: u8 = 44;
    pub const GRE: u8 = 47;
    pub const SCTP: u8 = 132;
    pub const AH: u8 = 51;
    pub const ICMPV6: u8 = 58;
    pub const DEST_OPTS: u8 = 60;
}

/// Fragment fields of a packet that is one piece of a larger datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FragmentInfo {
    /// Identification (16 bits for IPv4, 32 for IPv6).
    pub id: u32,
    /// Byte offset of this piece in the reassembled payload.
    pub offset: u32,
    /// More fragments follow.
    pub more: bool,
}

/// A decoded IP header and what follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IpPacket<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// The upper-layer protocol (for an IPv6 fragment: the protocol of the
    /// fragmentable part, which may itself start with extension headers).
    pub proto: u8,
    /// The captured payload bytes, at most `claimed_len` of them.
    pub payload: &'a [u8],
    /// The payload length the header claims.
    pub claimed_len: usize,
    pub fragment: Option<FragmentInfo>,
    pub version: u8,
}

impl IpPacket<'_> {
    /// True when the capture holds fewer payload bytes than the header says.
    pub fn is_cut(&self) -> bool {
        self.payload.len() < self.claimed_len
    }
}

/// Why an IP header could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IpError {
    /// The bytes end inside the named header.
    Truncated(&'static str),
    /// The header contradicts itself.
    Malformed(&'static str),
}

/// How many IPv6 extension headers one packet may chain.
const MAX_EXTENSIONS: usize = 16;

/// Decodes an IPv4 header.
pub(crate) fn ipv4(data: &[u8]) -> Result<IpPacket<'_>, IpError> {
    let Some(h) = data.get(..20) else {
        return Err(IpError::Truncated("IPv4 header"));
    };
    if h[0] >> 4 != 4 {
        return Err(IpError::Malformed("IPv4 header (version is not 4)"));
    }
    let header_len = usize::from(h[0] & 0x0f) * 4;
    if header_len < 20 {
        return Err(IpError::Malformed("IPv4 header (header length below 20)"));
    }
    if data.len() < header_len {
        return Err(IpError::Truncated("IPv4 options"));
    }
    let mut total = usize::from(u16::from_be_bytes([h[2], h[3]]));
    if total == 0 {
        // Segmentation offload: the capture saw the packet before the NIC
        // split it and filled in the length; the capture length is the truth.
        total = data.len();
    }
    if total < header_len {
        return Err(IpError::Malformed(
            "IPv4 header (total length below header length)",
        ));
    }
    let frag = u16::from_be_bytes([h[6], h[7]]);
    let more = frag & 0x2000 != 0;
    let offset = u32::from(frag & 0x1fff) * 8;
    let fragment = (more || offset != 0).then_some(FragmentInfo {
        id: u32::from(u16::from_be_bytes([h[4], h[5]])),
        offset,
        more,
    });
    Ok(IpPacket {
        src: IpAddr::V4(Ipv4Addr::new(h[12], h[13], h[14], h[15])),
        dst: IpAddr::V4(Ipv4Addr::new(h[16], h[17], h[18], h[19])),
        proto: h[9],
        payload: data.get(header_len..total.min(data.len())).unwrap_or(&[]),
        claimed_len: total - header_len,
        fragment,
        version: 4,
    })
}

/// Decodes an IPv6 header and its extension headers up to the upper-layer
/// protocol or the fragment header, whichever comes first.
pub(crate) fn ipv6(data: &[u8]) -> Result<IpPacket<'_>, IpError> {
    let Some(h) = data.get(..40) else {
        return Err(IpError::Truncated("IPv6 header"));
    };
    if h[0] >> 4 != 6 {
        return Err(IpError::Malformed("IPv6 header (version is not 6)"));
    }
    let mut claimed = usize::from(u16::from_be_bytes([h[4], h[5]]));
    if claimed == 0 {
        // A jumbogram (or offload, as for IPv4): take what was captured.
        claimed = data.len() - 40;
    }
    let body = data.get(40..(40 + claimed).min(data.len())).unwrap_or(&[]);
    let src: [u8; 16] = h[8..24].try_into().unwrap_or([0; 16]);
    let dst: [u8; 16] = h[24..40].try_into().unwrap_or([0; 16]);
    let ext = extensions(h[6], body)?;
    Ok(IpPacket {
        src: IpAddr::V6(Ipv6Addr::from(src)),
        dst: IpAddr::V6(Ipv6Addr::from(dst)),
        proto: ext.proto,
        payload: body.get(ext.offset..).unwrap_or(&[]),
        claimed_len: claimed.saturating_sub(ext.offset),
        fragment: ext.fragment,
        version: 6,
    })
}

/// The end of an IPv6 extension-header chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Extensions {
    /// The protocol that follows (the fragment's next header when
    /// `fragment` is set).
    pub proto: u8,
    /// Where it starts in the bytes walked.
    pub offset: usize,
    pub fragment: Option<FragmentInfo>,
}

/// Walks IPv6 extension headers starting with `next`, stopping at the first
/// upper-layer protocol (or ESP / no-next-header, which end decoding), or
/// just after a fragment header. Also used on a reassembled payload, whose
/// fragmentable part may start with destination options.
pub(crate) fn extensions(mut next: u8, body: &[u8]) -> Result<Extensions, IpError> {
    let mut offset = 0usize;
    for _ in 0..MAX_EXTENSIONS {
        match next {
            proto::HOP_BY_HOP | proto::ROUTING | proto::DEST_OPTS => {
                let Some(&[nh, len]) = body.get(offset..offset + 2) else {
                    return Err(IpError::Truncated("IPv6 extension header"));
                };
                next = nh;
                offset += (usize::from(len) + 1) * 8;
                if offset > body.len() {
                    return Err(IpError::Truncated("IPv6 extension header"));
                }
            }
            proto::FRAGMENT => {
                let Some(f) = body.get(offset..offset + 8) else {
                    return Err(IpError::Truncated("IPv6 fragment header"));
                };
                let field = u16::from_be_bytes([f[2], f[3]]);
                let info = FragmentInfo {
                    id: u32::from_be_bytes([f[4], f[5], f[6], f[7]]),
                    offset: u32::from(field >> 3) * 8,
                    more: field & 1 != 0,
                };
                let fragment = (info.more || info.offset != 0).then_some(info);
                return Ok(Extensions {
                    proto: f[0],
                    offset: offset + 8,
                    fragment,
                });
            }
            _ => {
                return Ok(Extensions {
                    proto: next,
                    offset,
                    fragment: None,
                });
            }
        }
    }
    Err(IpError::Malformed(
        "IPv6 header (too many extension headers)",
    ))
}

/// Skips an authentication header (either IP version) and returns the
/// protocol after it and the rest.
pub(crate) fn skip_ah(data: &[u8]) -> Result<(u8, &[u8]), IpError> {
    let Some(&[next, len]) = data.get(..2) else {
        return Err(IpError::Truncated("IPsec authentication header"));
    };
    let size = (usize::from(len) + 2) * 4;
    match data.get(size..) {
        Some(rest) => Ok((next, rest)),
        None => Err(IpError::Truncated("IPsec authentication header")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(total: u16, frag: u16, proto: u8, extra: usize) -> Vec<u8> {
        let mut h = vec![
            0x45, 0, 0, 0, 0x12, 0x34, 0, 0, 64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        h[2..4].copy_from_slice(&total.to_be_bytes());
        h[6..8].copy_from_slice(&frag.to_be_bytes());
        h.extend(std::iter::repeat_n(0xab, extra));
        h
    }

    #[test]
    fn ipv4_trims_padding_and_reports_cuts() {
        let pkt = v4(28, 0, 17, 8 + 18);
        let p = ipv4(&pkt).unwrap();
        assert_eq!(p.payload.len(), 8);
        assert_eq!(p.claimed_len, 8);
        assert!(!p.is_cut());
        assert_eq!(p.fragment, None);
        assert_eq!(p.src, "10.0.0.1".parse::<IpAddr>().unwrap());
        let pkt = v4(1500, 0, 17, 100);
        let p = ipv4(&pkt).unwrap();
        assert!(p.is_cut());
        assert_eq!((p.payload.len(), p.claimed_len), (100, 1480));
        // Offloaded packet with length 0: the capture decides.
        let pkt = v4(0, 0, 6, 40);
        let p = ipv4(&pkt).unwrap();
        assert_eq!(p.claimed_len, 40);
    }

    #[test]
    fn ipv4_fragment_fields() {
        let pkt = v4(28, 0x2000, 17, 8);
        let p = ipv4(&pkt).unwrap();
        assert_eq!(
            p.fragment,
            Some(FragmentInfo {
                id: 0x1234,
                offset: 0,
                more: true
            })
        );
        let pkt = v4(28, 0x0003, 17, 8);
        let p = ipv4(&pkt).unwrap();
        assert_eq!(
            p.fragment,
            Some(FragmentInfo {
                id: 0x1234,
                offset: 24,
                more: false
            })
        );
        // DF alone is not a fragment.
        assert_eq!(ipv4(&v4(28, 0x4000, 17, 8)).unwrap().fragment, None);
    }

    #[test]
    fn ipv4_errors() {
        assert!(matches!(ipv4(&[0x45; 10]), Err(IpError::Truncated(_))));
        let mut h = v4(28, 0, 17, 8);
        h[0] = 0x44;
        assert!(matches!(ipv4(&h), Err(IpError::Malformed(_))));
        h[0] = 0x4f;
        assert!(matches!(ipv4(&h), Err(IpError::Truncated(_))));
        assert!(matches!(
            ipv4(&v4(10, 0, 17, 8)),
            Err(IpError::Malformed(_))
        ));
    }

    fn v6(next: u8, body: &[u8]) -> Vec<u8> {
        let mut h = vec![0x60, 0, 0, 0];
        h.extend_from_slice(&(body.len() as u16).to_be_bytes());
        h.push(next);
        h.push(64);
        h.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        h.extend_from_slice(&[0; 11]);
        h.push(1);
        h.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        h.extend_from_slice(&[0; 11]);
        h.push(2);
        h.extend_from_slice(body);
        h
    }

    #[test]
    fn ipv6_walks_extension_headers() {
        // Hop-by-hop (8 bytes) → destination options (16 bytes) → UDP.
        let mut body = vec![60, 0, 0, 0, 0, 0, 0, 0];
        body.extend_from_slice(&[17, 1]);
        body.extend_from_slice(&[0; 14]);
        body.extend_from_slice(&[1, 2, 3, 4, 0, 8, 0, 0]);
        let pkt = v6(0, &body);
        let p = ipv6(&pkt).unwrap();
        assert_eq!(p.proto, 17);
        assert_eq!(p.payload, &[1, 2, 3, 4, 0, 8, 0, 0]);
        assert_eq!(p.claimed_len, 8);
        assert_eq!(p.src, "2001:db8::1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn ipv6_fragment_header() {
        let mut body = vec![17, 0, 0x05, 0x39, 0xde, 0xad, 0xbe, 0xef];
        body.extend_from_slice(&[9; 16]);
        let pkt = v6(44, &body);
        let p = ipv6(&pkt).unwrap();
        assert_eq!(p.proto, 17);
        assert_eq!(
            p.fragment,
            Some(FragmentInfo {
                id: 0xdeadbeef,
                offset: 0x0538,
                more: true
            })
        );
        assert_eq!(p.payload.len(), 16);
        // An "atomic" fragment (offset 0, no more) is a whole datagram.
        let body = [17, 0, 0, 0, 0, 0, 0, 1, 9, 9];
        let pkt = v6(44, &body);
        let p = ipv6(&pkt).unwrap();
        assert_eq!((p.fragment, p.payload.len()), (None, 2));
    }

    #[test]
    fn ipv6_stops_at_esp_and_bounds_chains() {
        let pkt = v6(50, &[0; 16]);
        let p = ipv6(&pkt).unwrap();
        assert_eq!(p.proto, 50);
        let chain: Vec<u8> = (0..20).flat_map(|_| [60u8, 0, 0, 0, 0, 0, 0, 0]).collect();
        assert!(matches!(ipv6(&v6(60, &chain)), Err(IpError::Malformed(_))));
        assert!(matches!(
            ipv6(&v6(60, &[17, 3, 0, 0])),
            Err(IpError::Truncated(_))
        ));
    }
}
