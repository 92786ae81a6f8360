//! Stage 2: frames → transport payloads.
//!
//! Strips link layers and tunnels, reassembles IP fragments and TCP
//! streams, and hands the next stage UDP datagrams and in-order TCP bytes,
//! each tagged with the frame that completed it.

use std::net::SocketAddr;

use crate::capture::Timestamp;
use crate::problem::Problem;

/// The transport a payload travelled over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
}

impl Transport {
    /// Lower-case name, as in the JSON report (`"udp"`, `"tcp"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        }
    }
}

/// One direction of a transport conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowKey {
    pub src: SocketAddr,
    pub dst: SocketAddr,
}

/// What the network stage hands to the SIP stage.
#[derive(Debug)]
pub enum NetEvent<'a> {
    /// A whole UDP payload (after IP defragmentation), completed at `frame`.
    Datagram {
        frame: u64,
        time: Timestamp,
        flow: FlowKey,
        data: &'a [u8],
    },
    /// The next in-order bytes of one TCP direction, delivered at `frame`.
    /// `gap` is true when bytes before these were lost (the receiver of the
    /// stream must resynchronise).
    Stream {
        frame: u64,
        time: Timestamp,
        flow: FlowKey,
        data: &'a [u8],
        gap: bool,
    },
    /// A TCP direction ended (FIN, RST or expiry): buffered bytes for it
    /// will never complete.
    StreamEnd { frame: u64, flow: FlowKey },
    /// Something in the frame could not be decoded.
    Problem(Problem),
}
