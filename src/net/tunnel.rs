//! Tunnel headers that carry SIP in field traces: GRE (RFC 2784/2890 and
//! the enhanced GRE of PPTP, RFC 2637), ERSPAN inside GRE, VXLAN (RFC 7348)
//! and GTP-U (3GPP TS 29.281). IP-in-IP needs no header of its own and is
//! handled by the decoder directly.

/// What a tunnel header said comes next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Inner<'a> {
    /// An EtherType and the bytes it describes (IPv4, IPv6, MPLS, ...).
    Ethertype(u16, &'a [u8]),
    /// A whole Ethernet frame (transparent bridging, ERSPAN, VXLAN).
    Ethernet(&'a [u8]),
    /// A PPP frame (PPTP's enhanced GRE).
    Ppp(&'a [u8]),
    /// An IP packet (GTP-U), version by its first nibble.
    Ip(&'a [u8]),
    /// A tunnel control message (GTP echo, GRE keepalive without payload):
    /// nothing to decode.
    Control,
}

/// Why a tunnel header could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TunnelError {
    Truncated(&'static str),
    Malformed(&'static str),
    /// Valid, but a variant sipflow does not decode.
    Unsupported(&'static str),
}

const GRE_CHECKSUM: u16 = 0x8000;
const GRE_ROUTING: u16 = 0x4000;
const GRE_KEY: u16 = 0x2000;
const GRE_SEQUENCE: u16 = 0x1000;
const GRE_ACK: u16 = 0x0080;

/// Decodes a GRE header (version 0, or version 1 as PPTP uses).
pub(crate) fn gre(data: &[u8]) -> Result<Inner<'_>, TunnelError> {
    let Some(&[f0, f1, p0, p1]) = data.get(..4) else {
        return Err(TunnelError::Truncated("GRE header"));
    };
    let flags = u16::from_be_bytes([f0, f1]);
    let proto = u16::from_be_bytes([p0, p1]);
    let mut len = 4usize;
    match flags & 0x0007 {
        0 => {
            if flags & GRE_ROUTING != 0 {
                return Err(TunnelError::Unsupported("GRE with source routing"));
            }
            if flags & GRE_CHECKSUM != 0 {
                len += 4;
            }
            if flags & GRE_KEY != 0 {
                len += 4;
            }
            if flags & GRE_SEQUENCE != 0 {
                len += 4;
            }
        }
        1 => {
            // Enhanced GRE: key (payload length + call id) always there.
            len += 4;
            if flags & GRE_SEQUENCE != 0 {
                len += 4;
            }
            if flags & GRE_ACK != 0 {
                len += 4;
            }
        }
        _ => return Err(TunnelError::Unsupported("GRE version other than 0 and 1")),
    }
    let Some(payload) = data.get(len..) else {
        return Err(TunnelError::Truncated("GRE header"));
    };
    if payload.is_empty() {
        return Ok(Inner::Control);
    }
    Ok(match proto {
        0x6558 => Inner::Ethernet(payload),
        0x880b => Inner::Ppp(payload),
        0x88be => {
            // ERSPAN type II: 8-byte header (type I, without a sequence
            // number, has none).
            if flags & GRE_SEQUENCE == 0 {
                Inner::Ethernet(payload)
            } else {
                match payload.get(8..) {
                    Some(eth) => Inner::Ethernet(eth),
                    None => return Err(TunnelError::Truncated("ERSPAN header")),
                }
            }
        }
        0x22eb => {
            // ERSPAN type III: 12 bytes, plus 8 when the O bit says a
            // platform sub-header follows.
            let Some(&last) = payload.get(11) else {
                return Err(TunnelError::Truncated("ERSPAN header"));
            };
            let skip = if last & 1 != 0 { 20 } else { 12 };
            match payload.get(skip..) {
                Some(eth) => Inner::Ethernet(eth),
                None => return Err(TunnelError::Truncated("ERSPAN header")),
            }
        }
        _ => Inner::Ethertype(proto, payload),
    })
}

/// The UDP port VXLAN uses (IANA).
pub(crate) const VXLAN_PORT: u16 = 4789;
/// The UDP port GTP-U uses.
pub(crate) const GTP_U_PORT: u16 = 2152;

/// Decodes a VXLAN header; `None` when the bytes are not VXLAN (the I flag
/// is not set), so the datagram is delivered as it is.
pub(crate) fn vxlan(data: &[u8]) -> Option<Inner<'_>> {
    let header = data.get(..8)?;
    if header[0] & 0x08 == 0 {
        return None;
    }
    Some(Inner::Ethernet(data.get(8..)?))
}

/// Decodes a GTP-U (version 1) header with its optional fields and
/// extension headers; `None` when the bytes are not GTP-U version 1, so the
/// datagram is delivered as it is.
pub(crate) fn gtp_u(data: &[u8]) -> Option<Result<Inner<'_>, TunnelError>> {
    let &[flags, msg_type, l0, l1, ..] = data.get(..8)? else {
        return None;
    };
    if flags >> 5 != 1 || flags & 0x10 == 0 {
        return None;
    }
    let end = (8 + usize::from(u16::from_be_bytes([l0, l1]))).min(data.len());
    let mut offset = 8usize;
    if flags & 0x07 != 0 {
        // Sequence number, N-PDU number, next extension header type.
        let Some(&next) = data.get(11) else {
            return Some(Err(TunnelError::Truncated("GTP-U header")));
        };
        offset = 12;
        let mut next = if flags & 0x04 != 0 { next } else { 0 };
        let mut count = 0;
        while next != 0 {
            count += 1;
            let Some(&units) = data.get(offset) else {
                return Some(Err(TunnelError::Truncated("GTP-U extension header")));
            };
            if units == 0 || count > 16 {
                return Some(Err(TunnelError::Malformed("GTP-U extension header")));
            }
            offset += usize::from(units) * 4;
            let Some(&n) = data.get(offset - 1) else {
                return Some(Err(TunnelError::Truncated("GTP-U extension header")));
            };
            next = n;
        }
    }
    if msg_type != 0xff {
        return Some(Ok(Inner::Control));
    }
    let payload = data.get(offset..end.max(offset)).unwrap_or(&[]);
    Some(Ok(match payload.first().map(|b| b >> 4) {
        Some(4) | Some(6) => Inner::Ip(payload),
        _ => Inner::Control,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gre_optional_fields() {
        assert_eq!(
            gre(&[0, 0, 0x08, 0, 0x45]),
            Ok(Inner::Ethertype(0x0800, &[0x45]))
        );
        // Checksum + key + sequence.
        let mut p = vec![0xb0, 0x00, 0x86, 0xdd];
        p.extend_from_slice(&[0; 12]);
        p.push(0x60);
        assert_eq!(gre(&p), Ok(Inner::Ethertype(0x86dd, &[0x60])));
        assert_eq!(gre(&p[..10]), Err(TunnelError::Truncated("GRE header")));
        assert!(matches!(
            gre(&[0x40, 0, 8, 0, 0, 0, 0, 0]),
            Err(TunnelError::Unsupported(_))
        ));
        assert!(matches!(
            gre(&[0, 2, 8, 0]),
            Err(TunnelError::Unsupported(_))
        ));
    }

    #[test]
    fn enhanced_gre_carries_ppp() {
        // Flags as in the nDPI sample: key, sequence, ack, version 1.
        let mut p = vec![0x30, 0x81, 0x88, 0x0b, 0, 4, 0, 1, 0, 0, 0, 9, 0, 0, 0, 8];
        p.extend_from_slice(&[0xff, 0x03, 0x00, 0x21]);
        assert_eq!(gre(&p), Ok(Inner::Ppp(&[0xff, 0x03, 0x00, 0x21])));
        // An acknowledgement-only packet has no payload.
        assert_eq!(
            gre(&[0x20, 0x81, 0x88, 0x0b, 0, 0, 0, 1, 0, 0, 0, 9, 0, 0, 0, 8][..12]),
            Ok(Inner::Control)
        );
    }

    #[test]
    fn gre_bridging_and_erspan() {
        assert_eq!(gre(&[0, 0, 0x65, 0x58, 1, 2]), Ok(Inner::Ethernet(&[1, 2])));
        let mut p = vec![0x10, 0, 0x88, 0xbe, 0, 0, 0, 1];
        p.extend_from_slice(&[0x10, 0, 0, 0, 0, 0, 0, 0, 7]);
        assert_eq!(gre(&p), Ok(Inner::Ethernet(&[7])));
        let mut p = vec![0x10, 0, 0x22, 0xeb, 0, 0, 0, 1];
        p.extend_from_slice(&[0; 11]);
        p.push(1);
        p.extend_from_slice(&[0; 8]);
        p.push(7);
        assert_eq!(gre(&p), Ok(Inner::Ethernet(&[7])));
    }

    #[test]
    fn vxlan_needs_the_i_flag() {
        assert_eq!(
            vxlan(&[0x08, 0, 0, 0, 0, 0, 1, 0, 9]),
            Some(Inner::Ethernet(&[9]))
        );
        assert_eq!(vxlan(&[0x00, 0, 0, 0, 0, 0, 1, 0, 9]), None);
        assert_eq!(vxlan(&[0x08, 0, 0]), None);
    }

    #[test]
    fn gtp_u_headers() {
        // Plain G-PDU, length 2, trailing padding beyond the length.
        let p = [0x30, 0xff, 0, 2, 0, 0, 0, 1, 0x45, 0x00, 0xee, 0xee];
        assert_eq!(gtp_u(&p), Some(Ok(Inner::Ip(&[0x45, 0x00]))));
        // With a sequence number and one PDU-session extension header.
        let p = [
            0x34, 0xff, 0, 10, 0, 0, 0, 1, 0, 7, 0, 0x85, 1, 0x10, 0x01, 0, 0x60, 0,
        ];
        assert_eq!(gtp_u(&p), Some(Ok(Inner::Ip(&[0x60, 0]))));
        // Echo request is control.
        let p = [0x32, 0x01, 0, 4, 0, 0, 0, 0, 0, 1, 0, 0];
        assert_eq!(gtp_u(&p), Some(Ok(Inner::Control)));
        // Version 2 (GTP-C) or PT=0 is not GTP-U.
        assert_eq!(gtp_u(&[0x48, 0xff, 0, 0, 0, 0, 0, 0]), None);
        assert_eq!(gtp_u(&[0x20, 0xff, 0, 0, 0, 0, 0, 0]), None);
        // Extension header with zero length.
        let p = [0x34, 0xff, 0, 8, 0, 0, 0, 1, 0, 7, 0, 0x85, 0, 0, 0, 0];
        assert!(matches!(gtp_u(&p), Some(Err(TunnelError::Malformed(_)))));
    }
}
