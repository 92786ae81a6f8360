//! Stage 7: printers as sinks.
//!
//! The pipeline produces a stream of events (a SIP message seen, a flow
//! instance settled, an input problem, the end of a file) and each output
//! format is a [`Sink`] consuming it, like ripgrep's printers: adding a
//! format never touches the checker. The JSON lines are a contract
//! (`shared/spec/report-json.md`).

pub mod escape;
mod json;
mod table;

use std::io;
use std::net::SocketAddr;

use crate::capture::Timestamp;
use crate::check::InstanceReport;
use crate::net::Transport;
use crate::problem::{Problem, ProblemKind};

pub use json::JsonSink;
pub use table::{CheckTable, MessageTable, TimeMode};

/// One SIP message, borrowed for the time of one call.
pub struct MessageLine<'a> {
    pub frame: u64,
    pub time: Timestamp,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub transport: Transport,
    pub method: Option<&'a str>,
    pub status: Option<u16>,
    pub cseq: Option<(u32, &'a str)>,
    /// The Call-ID's bytes as written (folded lines unfolded): untrusted,
    /// each sink escapes them its way (see [`escape`]).
    pub call_id: Option<&'a [u8]>,
    /// The start line as written, without its line break: the table's
    /// summary (like Wireshark's Info column: `REFER sip:x@y`,
    /// `200 OK (BYE)`) is made from it, escaped.
    pub start_line: &'a [u8],
}

/// The totals of a run, printed last.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub files: u64,
    pub messages: u64,
    pub instances: u64,
    pub pass: u64,
    pub fail: u64,
    pub partial: u64,
    /// Every input problem met, listed or not.
    pub errors: u64,
    /// `errors` per kind, indexed by [`ProblemKind::index`]: the listing
    /// stops after [`LISTED_PER_KIND`] problems of a kind in a file, the
    /// count does not.
    pub errors_by_kind: [u64; ProblemKind::ALL.len()],
}

/// How many problems of one kind a file lists before only their count
/// goes on (unless `--all-errors`): one line per dropped fragment gave
/// 992,719 lines (260 MB of JSON) for one capture.
pub const LISTED_PER_KIND: u64 = 100;

/// Problems of one kind in one file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KindCount {
    /// Every problem of the kind met in the file.
    pub total: u64,
    /// Those handed to the sink (all of them with `--all-errors`).
    pub listed: u64,
}

/// What one file held, given to the sink when the file ends: enough to
/// say in one line why nothing could be read or judged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileEnd {
    /// The file could not be read as a capture at all.
    pub unreadable: bool,
    /// Frames read.
    pub frames: u64,
    /// SIP messages read.
    pub messages: u64,
    /// Frames that carried SIP: those a message was read from, and those
    /// the capture's snaplen cut.
    pub sip_frames: u64,
    /// Frames whose payload looks like SIP but that the capture cut short
    /// (captured length below the length on the wire): the snaplen.
    pub cut_sip_frames: u64,
    /// The `truncated` problems those frames gave.
    pub cut_sip_problems: u64,
    /// The largest captured length of a cut SIP frame: the snaplen.
    pub snaplen: u64,
    /// Flow instances reported (`check`).
    pub instances: u64,
    /// Problems per kind, indexed by [`ProblemKind::index`].
    pub problems: [KindCount; ProblemKind::ALL.len()],
}

impl FileEnd {
    /// Whether input problems (or the snaplen) may have hidden SIP
    /// messages: then a file without a flow instance cannot be judged.
    pub fn sip_hidden(&self) -> bool {
        self.cut_sip_frames > 0
            || ProblemKind::ALL
                .iter()
                .any(|k| k.can_hide_sip() && self.problems[k.index()].total > 0)
    }

    /// Every problem of the file.
    pub fn problem_count(&self) -> u64 {
        self.problems.iter().map(|k| k.total).sum()
    }
}

/// `992719` as `992,719`, for counts people read.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A consumer of pipeline events.
pub trait Sink {
    /// A new input file starts; `first_time` is its first frame's time.
    fn begin_file(&mut self, _file: &str) -> io::Result<()> {
        Ok(())
    }
    /// The first frame's time of the current file is known.
    fn first_time(&mut self, _time: Timestamp) {}
    fn message(&mut self, _file: &str, _m: &MessageLine<'_>) -> io::Result<()> {
        Ok(())
    }
    fn instance(&mut self, _file: &str, _r: &InstanceReport) -> io::Result<()> {
        Ok(())
    }
    /// A problem to list (the first [`LISTED_PER_KIND`] of its kind in the
    /// file, or every one with `--all-errors`).
    fn problem(&mut self, file: &str, p: &Problem) -> io::Result<()>;
    /// A problem of a frame whose SIP the capture's snaplen cut: listed
    /// like the others unless the sink says it in one line at the end of
    /// the file (the tables).
    fn cut_sip_problem(&mut self, file: &str, p: &Problem) -> io::Result<()> {
        self.problem(file, p)
    }
    /// The current file is over: what it held, for the sink's last words
    /// on it (problems not listed, why nothing was read).
    fn end_file(&mut self, _file: &str, _end: &FileEnd) -> io::Result<()> {
        Ok(())
    }
    /// The run is over.
    fn end(&mut self, summary: &Summary) -> io::Result<()>;
}

/// Format a timestamp as seconds since the epoch with nanoseconds.
pub fn epoch_seconds(t: Timestamp) -> String {
    if t.secs < 0 {
        return format!("{}", t.as_secs_f64());
    }
    format!("{}.{:09}", t.secs, t.nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separated() {
        for (n, s) in [
            (0, "0"),
            (999, "999"),
            (1000, "1,000"),
            (992_719, "992,719"),
            (1_234_567, "1,234,567"),
        ] {
            assert_eq!(thousands(n), s);
        }
    }
}
