//! Input problems as data.
//!
//! Every stage that meets something it cannot read (a truncated file, a
//! corrupt block, a fragment that never completed, a TCP gap, a SIP message
//! that does not parse) reports a [`Problem`] instead of panicking or
//! skipping silently. Problems travel through the same sinks as results and
//! become the `{"type":"error",...}` lines of the JSON report
//! (`shared/spec/report-json.md`).

use std::fmt;

/// What kind of problem was met; its [`ProblemKind::as_str`] is the `kind`
/// field of the JSON `error` line, so the strings never change meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProblemKind {
    /// The input ends in the middle of a record, block or packet.
    Truncated,
    /// A record or block that cannot be what it claims (absurd length,
    /// bad magic, inconsistent fields).
    Corrupt,
    /// A format, link type or encapsulation sipflow does not read.
    Unsupported,
    /// An IP datagram whose fragments never all arrived, or were evicted.
    Fragment,
    /// Bytes missing from a TCP stream.
    TcpGap,
    /// A payload that starts like SIP but is not a well-formed message.
    MalformedSip,
    /// A bounded structure was full and something was dropped (reported,
    /// never silent).
    Overload,
    /// The input could not be opened or is not a capture file at all.
    Unreadable,
}

impl ProblemKind {
    /// The stable name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemKind::Truncated => "truncated",
            ProblemKind::Corrupt => "corrupt",
            ProblemKind::Unsupported => "unsupported",
            ProblemKind::Fragment => "fragment",
            ProblemKind::TcpGap => "tcp-gap",
            ProblemKind::MalformedSip => "malformed-sip",
            ProblemKind::Overload => "overload",
            ProblemKind::Unreadable => "unreadable",
        }
    }
}

/// One problem met while reading one input file.
///
/// `frame` is the 1-based Wireshark frame number when the problem belongs to
/// a frame; `offset` is the byte offset in the (decompressed) file when it
/// belongs to the file's structure. At least one of them is set whenever
/// the position is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub kind: ProblemKind,
    pub frame: Option<u64>,
    pub offset: Option<u64>,
    /// A sentence for people: what went wrong and, where it helps, what to do.
    pub message: String,
}

impl Problem {
    /// A problem tied to a frame.
    pub fn at_frame(kind: ProblemKind, frame: u64, message: impl Into<String>) -> Self {
        Problem {
            kind,
            frame: Some(frame),
            offset: None,
            message: message.into(),
        }
    }

    /// A problem tied to a byte offset in the file.
    pub fn at_offset(kind: ProblemKind, offset: u64, message: impl Into<String>) -> Self {
        Problem {
            kind,
            frame: None,
            offset: Some(offset),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.frame, self.offset) {
            (Some(n), _) => write!(f, "frame {n}: {}", self.message),
            (None, Some(o)) => write!(f, "byte offset {o}: {}", self.message),
            (None, None) => f.write_str(&self.message),
        }
    }
}
