//! What a stream is, told by its first bytes (never by the file's name).

/// How many leading bytes [`detect`] looks at (and a "not a capture file"
/// message shows).
pub(crate) const PREFIX_LEN: usize = 16;

/// Byte order of a capture's numeric fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endian {
    Little,
    Big,
}

impl Endian {
    pub(crate) fn u16(self, b: [u8; 2]) -> u16 {
        match self {
            Endian::Little => u16::from_le_bytes(b),
            Endian::Big => u16::from_be_bytes(b),
        }
    }

    pub(crate) fn u32(self, b: [u8; 4]) -> u32 {
        match self {
            Endian::Little => u32::from_le_bytes(b),
            Endian::Big => u32::from_be_bytes(b),
        }
    }

    pub(crate) fn u64(self, b: [u8; 8]) -> u64 {
        match self {
            Endian::Little => u64::from_le_bytes(b),
            Endian::Big => u64::from_be_bytes(b),
        }
    }
}

/// The flavour of a classic pcap file, from its magic number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PcapMagic {
    pub(crate) endian: Endian,
    /// The fraction field counts nanoseconds (magic a1b23c4d), not µs.
    pub(crate) nanos: bool,
    /// Alexey Kuznetsov's patched libpcap (magic a1b2cd34): 24-byte record
    /// headers (ifindex, protocol, packet type and padding appended).
    pub(crate) modified: bool,
}

/// What the first bytes of a stream say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Detected {
    Pcap(PcapMagic),
    Pcapng,
    Gzip,
    Zstd,
    /// Microsoft Network Monitor 2.x (read from a file only: its frame
    /// table is at the end).
    Netmon,
    /// Solaris snoop (RFC 1761).
    Snoop,
    /// The LZ4 frame format (`lz4`, and Wireshark's lz4-compressed pcapng).
    Lz4,
    /// A capture or container format sipflow recognises but does not read;
    /// the value is its name for people, the second a hint on what to do.
    Other(&'static str, OtherHint),
    /// Nothing sipflow knows.
    Unknown,
}

/// What to tell someone whose file is in a format sipflow does not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OtherHint {
    /// A capture format Wireshark reads: convert it with editcap.
    Convert,
    /// A compressed or archived file: unpack it first with this tool.
    Unpack(&'static str),
}

/// Known magics of formats sipflow does not read, with their names.
const OTHER_MAGICS: &[(&[u8], &str, OtherHint)] = &[
    (b"RTSS", "Microsoft NetMon 1.x capture", OtherHint::Convert),
    (
        b"btsnoop\0",
        "btsnoop (Bluetooth HCI) capture",
        OtherHint::Convert,
    ),
    (
        b"XCP\0",
        "NetXRay / Sniffer (Windows) capture",
        OtherHint::Convert,
    ),
    (b"TRSNIFF data", "Sniffer (DOS) capture", OtherHint::Convert),
    (b"iptrace 1.0", "AIX iptrace capture", OtherHint::Convert),
    (b"iptrace 2.0", "AIX iptrace capture", OtherHint::Convert),
    (
        b"ObserverPktBuffe",
        "Network Instruments Observer capture",
        OtherHint::Convert,
    ),
    (b"\x7fver", "Peek (tagged) capture", OtherHint::Convert),
    (
        &[0xac, 0x01, 0x00, 0x1c],
        "IXIA lcap capture",
        OtherHint::Convert,
    ),
    (
        &[0x1c, 0x00, 0x01, 0xac],
        "IXIA lcap capture",
        OtherHint::Convert,
    ),
    (
        &[0xab, 0x01, 0x00, 0x1c],
        "IXIA lcap capture",
        OtherHint::Convert,
    ),
    (
        &[0x1c, 0x00, 0x01, 0xab],
        "IXIA lcap capture",
        OtherHint::Convert,
    ),
    (
        &[0x02, 0x21, 0x4c, 0x18],
        "lz4-compressed (legacy) file",
        OtherHint::Unpack("lz4 -d"),
    ),
    (
        &[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00],
        "xz-compressed file",
        OtherHint::Unpack("xz -d"),
    ),
    (
        b"BZh",
        "bzip2-compressed file",
        OtherHint::Unpack("bunzip2"),
    ),
    (b"PK\x03\x04", "zip archive", OtherHint::Unpack("unzip")),
];

/// Tells what a stream is from its first bytes (up to [`PREFIX_LEN`]).
pub(crate) fn detect(prefix: &[u8]) -> Detected {
    let Some(magic) = prefix.first_chunk::<4>() else {
        return short_prefix(prefix);
    };
    let pcap = |endian, nanos, modified| {
        Detected::Pcap(PcapMagic {
            endian,
            nanos,
            modified,
        })
    };
    match *magic {
        [0xd4, 0xc3, 0xb2, 0xa1] => return pcap(Endian::Little, false, false),
        [0xa1, 0xb2, 0xc3, 0xd4] => return pcap(Endian::Big, false, false),
        [0x4d, 0x3c, 0xb2, 0xa1] => return pcap(Endian::Little, true, false),
        [0xa1, 0xb2, 0x3c, 0x4d] => return pcap(Endian::Big, true, false),
        [0x34, 0xcd, 0xb2, 0xa1] => return pcap(Endian::Little, false, true),
        [0xa1, 0xb2, 0xcd, 0x34] => return pcap(Endian::Big, false, true),
        [0x0a, 0x0d, 0x0d, 0x0a] => return Detected::Pcapng,
        [0x28, 0xb5, 0x2f, 0xfd] => return Detected::Zstd,
        [0x04, 0x22, 0x4d, 0x18] => return Detected::Lz4,
        [b'G', b'M', b'B', b'U'] => return Detected::Netmon,
        [b's', b'n', b'o', b'o'] if prefix.starts_with(b"snoop\0\0\0") => return Detected::Snoop,
        [0x1f, 0x8b, ..] => return Detected::Gzip,
        _ => {}
    }
    for &(m, name, hint) in OTHER_MAGICS {
        if prefix.starts_with(m) {
            // "BZh" alone is too weak: bzip2 also has the block size digit.
            if m == b"BZh" && !matches!(prefix.get(3), Some(b'1'..=b'9')) {
                continue;
            }
            return Detected::Other(name, hint);
        }
    }
    Detected::Unknown
}

/// A stream of fewer than 4 bytes can still be recognised as the start of
/// a gzip stream; otherwise it is nothing sipflow reads.
fn short_prefix(prefix: &[u8]) -> Detected {
    if prefix.starts_with(&[0x1f, 0x8b]) {
        Detected::Gzip
    } else {
        Detected::Unknown
    }
}

/// The prefix as spaced hex, for "not a capture file" messages.
pub(crate) fn hex(prefix: &[u8]) -> String {
    let mut s = String::with_capacity(prefix.len() * 3);
    for (i, b) in prefix.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(&format!("{b:02x}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magics_are_told_apart() {
        // The six classic pcap magics as written by each byte order.
        assert_eq!(
            detect(&[0xd4, 0xc3, 0xb2, 0xa1, 2, 0]),
            Detected::Pcap(PcapMagic {
                endian: Endian::Little,
                nanos: false,
                modified: false
            })
        );
        assert_eq!(
            detect(&[0xa1, 0xb2, 0x3c, 0x4d]),
            Detected::Pcap(PcapMagic {
                endian: Endian::Big,
                nanos: true,
                modified: false
            })
        );
        assert!(matches!(detect(b"snoop\0\0\0\0\0\0\x02"), Detected::Snoop));
        assert!(matches!(detect(b"BZh9"), Detected::Other(..)));
        assert_eq!(detect(b"BZhello"), Detected::Unknown);
        assert_eq!(detect(b"INVITE sip:bob@b"), Detected::Unknown);
        assert_eq!(detect(&[0x1f, 0x8b]), Detected::Gzip);
        assert_eq!(detect(&[]), Detected::Unknown);
        assert_eq!(hex(&[0, 0xab, 0x10]), "00 ab 10");
    }
}
