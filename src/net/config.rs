//! Bounds and horizons of the network stage, and what it counted.

use std::time::Duration;

/// Time horizons and memory bounds of the network stage. Times are capture
/// time (the frames' timestamps), never wall-clock time, so a file gives the
/// same result however fast it is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetConfig {
    /// How long after its first fragment an IP datagram may take to
    /// complete before it is dropped and reported (Linux uses 30 s).
    pub fragment_timeout: Duration,
    /// Memory all IP datagrams in reassembly may use together; the oldest
    /// is dropped (and reported) to stay under it.
    pub fragment_memory: usize,
    /// How long a hole in a TCP stream may wait for its bytes (a
    /// retransmission) before it is skipped and reported as a gap.
    pub tcp_gap_timeout: Duration,
    /// A TCP direction with no segment for this long is ended and
    /// forgotten.
    pub tcp_idle_timeout: Duration,
    /// Out-of-order bytes one TCP direction may buffer (the span from the
    /// next expected byte to the furthest byte held).
    pub tcp_stream_buffer: usize,
    /// Out-of-order bytes all TCP directions together may buffer.
    pub tcp_total_buffer: usize,
    /// TCP directions tracked at once; past it the one idle longest ends.
    pub tcp_max_streams: usize,
    /// Tunnels (IP-in-IP, GRE, VXLAN, GTP-U) one frame may nest.
    pub max_tunnel_depth: u8,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            fragment_timeout: Duration::from_secs(30),
            fragment_memory: 16 << 20,
            tcp_gap_timeout: Duration::from_secs(5),
            tcp_idle_timeout: Duration::from_secs(300),
            tcp_stream_buffer: 1 << 20,
            tcp_total_buffer: 64 << 20,
            // About 0.5 KiB each (index, slot, timers): 64 MiB at most
            // with the windows' 64 MiB, so that a flood of streams leaves
            // room in the 256 MiB a run may use; still twice the
            // directions the SIP stage follows (65,536).
            tcp_max_streams: 1 << 17,
            max_tunnel_depth: 4,
        }
    }
}

/// What the network stage did with the frames it was given, for the
/// summary and for checking that nothing vanished unaccounted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetStats {
    /// Frames pushed.
    pub frames: u64,
    /// Frames of a link type sipflow does not decode.
    pub frames_skipped_unsupported_link: u64,
    /// Frames (or tunnel payloads) that carry no IP: ARP, LLDP, PPP
    /// control, tunnel keep-alives.
    pub not_ip: u64,
    /// Frames or headers cut short by the capture (each reported).
    pub truncated: u64,
    /// Headers that contradict themselves (each reported).
    pub malformed: u64,
    /// IP headers decoded, outer and inner.
    pub ip_packets: u64,
    /// Tunnel headers removed.
    pub tunnels: u64,
    /// IP fragments seen.
    pub ip_fragments: u64,
    /// Datagrams rebuilt from fragments.
    pub ip_reassembled: u64,
    /// Fragments of datagrams that never completed (reported).
    pub ip_fragments_dropped: u64,
    /// UDP datagrams delivered.
    pub udp_datagrams: u64,
    /// ICMP and ICMPv6 packets, skipped whole: what they quote is not
    /// traffic.
    pub icmp_skipped: u64,
    /// Packets of other IP protocols (SCTP, ESP, OSPF, ...).
    pub other_protocols: u64,
    /// SCTP DATA chunks read.
    pub sctp_chunks: u64,
    /// TCP segments seen.
    pub tcp_segments: u64,
    /// TCP directions opened.
    pub tcp_streams: u64,
    /// TCP payload bytes delivered in order.
    pub tcp_bytes: u64,
    /// TCP payload bytes dropped as already delivered or already buffered
    /// (retransmissions, overlaps, keep-alives).
    pub tcp_bytes_duplicate: u64,
    /// TCP payload bytes never captured (skipped gaps, cut segments).
    pub tcp_bytes_lost: u64,
    /// Gaps skipped (each reported).
    pub tcp_gaps: u64,
    /// Problems reported by this stage.
    pub problems: u64,
}
