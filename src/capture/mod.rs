//! Stage 1: bytes on disk → frames.
//!
//! A capture file (classic pcap, pcapng, possibly gzip-compressed, possibly
//! standard input) is read front to back, once, as a stream; each packet
//! record becomes a [`Frame`] numbered exactly as Wireshark numbers it.

use std::fmt;

/// A capture timestamp: seconds and nanoseconds since the Unix epoch.
///
/// Computed by sipflow itself from each format's resolution fields, so it
/// is exact to the nanosecond whatever the file's resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp {
    pub secs: i64,
    pub nanos: u32,
}

impl Timestamp {
    /// Seconds since the epoch as a float (for JSON `time`).
    pub fn as_secs_f64(self) -> f64 {
        self.secs as f64 + self.nanos as f64 / 1e9
    }

    /// Nanoseconds since the epoch (saturating), handy for differences.
    pub fn as_nanos(self) -> i128 {
        self.secs as i128 * 1_000_000_000 + self.nanos as i128
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:09}", self.secs, self.nanos)
    }
}

/// A link-layer header type (the LINKTYPE_* registry of tcpdump.org).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LinkType(pub u32);

impl LinkType {
    pub const NULL: LinkType = LinkType(0);
    pub const ETHERNET: LinkType = LinkType(1);
    pub const PPP: LinkType = LinkType(9);
    pub const RAW: LinkType = LinkType(101);
    pub const LOOP: LinkType = LinkType(108);
    pub const LINUX_SLL: LinkType = LinkType(113);
    pub const IPV4: LinkType = LinkType(228);
    pub const IPV6: LinkType = LinkType(229);
    pub const LINUX_SLL2: LinkType = LinkType(276);
}

/// One packet record of a capture, borrowed from the reader's buffer.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// 1-based, every packet record counted, as Wireshark's `frame.number`.
    pub number: u64,
    pub time: Timestamp,
    pub link_type: LinkType,
    /// The captured bytes (`caplen` of them).
    pub data: &'a [u8],
    /// The packet's length on the wire (may exceed `data.len()` when the
    /// capture's snaplen cut it).
    pub orig_len: u32,
}
