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
use crate::problem::Problem;

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
    pub errors: u64,
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
    fn problem(&mut self, file: &str, p: &Problem) -> io::Result<()>;
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
