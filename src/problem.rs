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
#[repr(u8)]
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
    /// Every kind, in the order of [`ProblemKind::index`]: reports count
    /// problems per kind in arrays.
    pub const ALL: [ProblemKind; 8] = [
        ProblemKind::Truncated,
        ProblemKind::Corrupt,
        ProblemKind::Unsupported,
        ProblemKind::Fragment,
        ProblemKind::TcpGap,
        ProblemKind::MalformedSip,
        ProblemKind::Overload,
        ProblemKind::Unreadable,
    ];

    /// The kind's place in [`ProblemKind::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Whether a problem of this kind can hide SIP messages (bytes cut,
    /// damaged, lost or dropped: frames cut short, damaged records, TCP
    /// gaps, fragments that never completed, things dropped to stay
    /// bounded), so that a capture in which no flow was found cannot be
    /// judged (exit status 3). Not: `malformed-sip` (the message was seen,
    /// and either read despite the flaw or shown not to be SIP), a link
    /// type sipflow does not read (reported once, the rest of the file is
    /// read) and a file that is not a capture (exit status 2).
    pub fn can_hide_sip(self) -> bool {
        !matches!(
            self,
            ProblemKind::MalformedSip | ProblemKind::Unsupported | ProblemKind::Unreadable
        )
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_at_its_index() {
        for (i, k) in ProblemKind::ALL.iter().enumerate() {
            assert_eq!(k.index(), i, "{}", k.as_str());
        }
    }
}
