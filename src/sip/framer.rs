//! Cutting one TCP direction's byte stream into SIP messages.
//!
//! RFC 3261 18.3: over a stream, a message is its header section (up to the
//! empty line) plus Content-Length bytes of body. The framer buffers only
//! what it must: when a chunk holds whole messages they are handed out
//! straight from the chunk, and only an incomplete tail is copied.
//!
//! The header section is indexed once, by the message parser: the framer
//! reads the Content-Length from that index and hands the message out
//! already parsed. (Scanning the head for its length and then parsing it
//! again cost a third of the reading thread's time on TCP messages.)

use crate::problem::ProblemKind;

use super::detect;
use super::message::{Message, Parser, StreamLength};

/// Default limit on one message (header section plus body) and so on the
/// bytes buffered for one stream direction.
pub const DEFAULT_MAX_MESSAGE: usize = 1 << 20;

/// The longest start line waited for over TCP: a start line still without
/// its line end after this many bytes (it came in several segments) is
/// given up, reported as an `overload` problem naming the limit, and
/// reading resumes at the next SIP start line. (A longer start line that
/// arrives whole in one segment is read, as tshark reads it; tshark does
/// not read a start line split across segments at all.) Bytes at a message
/// boundary that do not begin like SIP are given up after this many too.
pub const MAX_START_LINE: usize = 16 * 1024;

/// What the framer hands out.
#[derive(Debug)]
pub enum Framed<'b> {
    /// One whole message (from its start line to the end of its body),
    /// borrowed from the chunk or the framer's buffer, already parsed: the
    /// framer indexes its header section once, for its length and for the
    /// message.
    Message(Message<'b>),
    /// A framing problem (the caller knows the frame).
    Problem(ProblemKind, String),
}

/// Finds the end of the header section in `rest` (which starts at a start
/// line): the offset just past the empty line. `scanned` remembers how far
/// earlier calls got, so a head arriving byte by byte is scanned once.
fn head_end(rest: &[u8], scanned: &mut usize) -> Option<usize> {
    let mut i = *scanned;
    while let Some(rel) = memchr::memchr(b'\n', rest.get(i..)?) {
        let lf = i + rel;
        match rest.get(lf + 1) {
            None => {
                *scanned = lf;
                return None;
            }
            Some(b'\n') => return Some(lf + 2),
            Some(b'\r') => match rest.get(lf + 2) {
                None => {
                    *scanned = lf;
                    return None;
                }
                Some(b'\n') => return Some(lf + 3),
                Some(_) => {}
            },
            Some(_) => {}
        }
        i = lf + 1;
    }
    *scanned = rest.len();
    None
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// At a message boundary: after CR/LF keep-alives the next bytes must
    /// be a start line.
    Boundary,
    /// Looking for the next line that is a SIP start line.
    Resync,
}

/// The framer's state apart from its buffer (so that messages can borrow
/// the buffer while the state changes).
#[derive(Debug)]
struct Scan {
    mode: Mode,
    /// In `Resync`: the first pending byte begins a line.
    line_start: bool,
    /// The message start was found by resynchronising: it must carry a
    /// Call-ID or CSeq to be believed (a `message/sipfrag` body holds a
    /// status line too).
    validate: bool,
    /// Head-end search progress from the message start (0: not begun).
    scanned: usize,
    /// The head of the message at the boundary was read and says the
    /// message is this long; its body is still coming.
    pending_total: Option<usize>,
    /// A message was framed on this stream (so junk after it is news).
    synced: bool,
    /// The last message had no usable Content-Length: bytes after it that
    /// are not SIP were expected and already reported.
    expect_junk: bool,
    max_message: usize,
}

/// Frames one direction of one TCP connection.
///
/// Handles several messages in one chunk, one message over many chunks,
/// CRLF keep-alives (RFC 5626 4.4.1), a stream joined mid-message or after
/// a gap (resynchronise at the next start line whose header section has a
/// Call-ID or CSeq), a missing or unreadable Content-Length (RFC 3261
/// 20.14 makes it mandatory here: taken as 0 and reported), and messages
/// larger than a cap (reported and skipped). At most about `max_message`
/// bytes are buffered.
#[derive(Debug)]
pub struct StreamFramer {
    buf: Vec<u8>,
    scan: Scan,
}

impl Default for StreamFramer {
    fn default() -> Self {
        StreamFramer::new(DEFAULT_MAX_MESSAGE)
    }
}

impl StreamFramer {
    /// A framer for a stream that begins now, accepting messages of up to
    /// `max_message` bytes.
    pub fn new(max_message: usize) -> StreamFramer {
        StreamFramer {
            buf: Vec::new(),
            scan: Scan {
                mode: Mode::Boundary,
                line_start: true,
                validate: false,
                scanned: 0,
                pending_total: None,
                synced: false,
                expect_junk: false,
                max_message: max_message.max(1),
            },
        }
    }

    /// Bytes held back waiting for the rest of a message.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// True when the buffered bytes are part of a message: the stream is
    /// at a message boundary, and either it already carried SIP or the
    /// bytes begin like a SIP start line. Keep-alive line breaks and the
    /// partial line of a resynchronisation search are not.
    fn holds_partial_message(&self) -> bool {
        if self.scan.mode != Mode::Boundary {
            return false;
        }
        let at = detect::skip_line_breaks(&self.buf);
        let rest = &self.buf[at..];
        !rest.is_empty() && (self.scan.synced || detect::starts_like_sip(rest))
    }

    /// Feeds the next in-order bytes. `gap` says bytes before `data` were
    /// lost: whatever was buffered is dropped (the network stage reports
    /// the gap) and the framer resynchronises.
    /// `parser` holds the header index of each message handed out.
    pub fn push(
        &mut self,
        data: &[u8],
        gap: bool,
        parser: &mut Parser,
        out: &mut dyn FnMut(Framed<'_>),
    ) {
        if gap {
            self.buf.clear();
            self.scan.mode = Mode::Resync;
            self.scan.line_start = true;
            self.scan.scanned = 0;
            self.scan.expect_junk = true;
        }
        if self.buf.is_empty() {
            // Zero-copy path: frame straight from the chunk.
            let used = self.scan.run(data, parser, out);
            self.buf.extend_from_slice(&data[used..]);
            return;
        }
        // Append in pieces no larger than the cap, so the buffer stays
        // bounded whatever the chunk size.
        for piece in data.chunks(self.scan.max_message) {
            self.buf.extend_from_slice(piece);
            let used = self.scan.run(&self.buf, parser, out);
            self.buf.drain(..used);
        }
    }

    /// The stream ended: reports a message left incomplete, if any, and
    /// forgets everything.
    pub fn finish(&mut self) -> Option<(ProblemKind, String)> {
        let lost = self.holds_partial_message().then(|| {
            (
                ProblemKind::Truncated,
                format!(
                    "TCP stream ended inside a SIP message; {} buffered bytes dropped",
                    self.buf.len()
                ),
            )
        });
        self.buf = Vec::new();
        self.scan.mode = Mode::Boundary;
        self.scan.scanned = 0;
        self.scan.pending_total = None;
        lost
    }
}

impl Scan {
    fn resync(&mut self, line_start: bool) {
        self.mode = Mode::Resync;
        self.line_start = line_start;
        self.scanned = 0;
        self.pending_total = None;
    }

    /// Frames what it can from `r`; returns how many leading bytes of `r`
    /// are done with (the rest must be kept for the next call).
    fn run(&mut self, r: &[u8], parser: &mut Parser, out: &mut dyn FnMut(Framed<'_>)) -> usize {
        let mut pos = 0;
        loop {
            match self.mode {
                Mode::Boundary => {
                    let skip = r[pos..]
                        .iter()
                        .take_while(|&&c| c == b'\r' || c == b'\n')
                        .count();
                    if skip > 0 {
                        pos += skip;
                        self.scanned = 0;
                        self.pending_total = None;
                    }
                    let rest = &r[pos..];
                    if rest.is_empty() {
                        return pos;
                    }
                    let Some(lf) = memchr::memchr(b'\n', rest) else {
                        if rest.len() > MAX_START_LINE && detect::starts_like_sip(rest) {
                            out(Framed::Problem(
                                ProblemKind::Overload,
                                long_start_line(rest),
                            ));
                            self.expect_junk = true;
                            self.validate = true;
                            self.resync(false);
                            continue;
                        }
                        if rest.len() > MAX_START_LINE
                            || !(super::lex::is_token_char(rest[0])
                                || detect::junk_then_like_sip(rest))
                        {
                            self.not_a_message(rest, false, out);
                            continue;
                        }
                        // A start line (perhaps behind control bytes, to
                        // be reported once its line is complete) has begun.
                        return pos;
                    };
                    if let Some(total) = self.pending_total
                        && rest.len() < total
                    {
                        // The head was read; the body is still coming.
                        return pos;
                    }
                    if self.pending_total.is_none() && detect::start_line(r, pos).is_err() {
                        self.not_a_message(rest, true, out);
                        continue;
                    }
                    // The head is indexed once, when complete. While it is
                    // not, only the new bytes are searched for its end, so
                    // a head arriving in small pieces is scanned once.
                    let parsed = if self.scanned == 0 {
                        parser.parse_head(rest)
                    } else {
                        match head_end(rest, &mut self.scanned) {
                            Some(len) => parser.parse_head(&rest[..len]),
                            None => Ok(None),
                        }
                    };
                    let head = match parsed {
                        Ok(Some(head)) => head,
                        Ok(None) => {
                            if self.scanned == 0 {
                                let _ = head_end(rest, &mut self.scanned);
                                self.scanned = self.scanned.max(1);
                            }
                            if rest.len() > self.max_message {
                                pos += lf + 1;
                                self.head_too_long(rest, out);
                                continue;
                            }
                            return pos;
                        }
                        Err(_) => {
                            self.not_a_message(rest, true, out);
                            continue;
                        }
                    };
                    let head_len = head.len;
                    if head_len > self.max_message {
                        // As if its end had not arrived yet (it would not
                        // have, in smaller segments).
                        pos += lf + 1;
                        self.head_too_long(rest, out);
                        continue;
                    }
                    if self.validate && !head.plausible {
                        // A start line inside a body, most likely.
                        pos += lf + 1;
                        self.resync(true);
                        continue;
                    }
                    // The value as written, for the texts: the parsed one
                    // saturates at 2^32-1.
                    let written = || {
                        super::message::quote_length(
                            parser.content_length_text(rest).unwrap_or_default(),
                        )
                    };
                    let (body_len, problem) = match head.length() {
                        StreamLength::Value(n) => (n, None),
                        StreamLength::Missing => (
                            0,
                            Some(
                                "SIP message over TCP has no Content-Length (mandatory on streams, \
                                 RFC 3261 20.14); body taken as empty"
                                    .to_string(),
                            ),
                        ),
                        StreamLength::Invalid => (
                            0,
                            Some(format!(
                                "SIP message over TCP has a Content-Length that is not a number \
                                 ('{}'); body taken as empty",
                                written()
                            )),
                        ),
                        StreamLength::Conflict(first) => (
                            first,
                            Some(format!(
                                "SIP message over TCP has several Content-Length values that \
                                 disagree; the first ({}) is used",
                                written()
                            )),
                        ),
                    };
                    let total = head_len as u64 + u64::from(body_len);
                    if total > self.max_message as u64 {
                        // Nothing of it is buffered: the framer goes on
                        // after its header section, looking for the next
                        // start line, so the buffer stays within the limit
                        // whatever the Content-Length says.
                        out(Framed::Problem(
                            ProblemKind::Overload,
                            format!(
                                "SIP message with Content-Length {} after a {head_len}-byte \
                                 header section exceeds the {}-byte limit on one message over \
                                 TCP: '{}'; skipped, reading resumes at the next SIP start line",
                                written(),
                                self.max_message,
                                detect::quote_line(rest, 80)
                            ),
                        ));
                        pos += head_len;
                        self.validate = true;
                        self.expect_junk = true;
                        self.resync(true);
                        continue;
                    }
                    let total = total as usize;
                    if rest.len() < total {
                        self.pending_total = Some(total);
                        self.scanned = 0;
                        return pos;
                    }
                    self.expect_junk = problem.is_some();
                    if let Some(p) = problem {
                        out(Framed::Problem(ProblemKind::MalformedSip, p));
                    }
                    out(Framed::Message(parser.framed(rest, head, total)));
                    pos += total;
                    self.synced = true;
                    self.validate = false;
                    self.scanned = 0;
                    self.pending_total = None;
                }
                Mode::Resync => {
                    let mut at = pos;
                    if !self.line_start {
                        match memchr::memchr(b'\n', &r[at..]) {
                            Some(i) => at += i + 1,
                            None => return r.len(),
                        }
                        self.line_start = true;
                    }
                    loop {
                        let rest = &r[at..];
                        let Some(lf) = memchr::memchr(b'\n', rest) else {
                            if rest.len() > MAX_START_LINE {
                                if detect::starts_like_sip(rest) {
                                    out(Framed::Problem(
                                        ProblemKind::Overload,
                                        long_start_line(rest),
                                    ));
                                }
                                self.line_start = false;
                                return r.len();
                            }
                            return at;
                        };
                        if detect::start_line(r, at).is_ok() {
                            pos = at;
                            self.mode = Mode::Boundary;
                            self.validate = true;
                            self.scanned = 0;
                            break;
                        }
                        at += lf + 1;
                    }
                }
            }
        }
    }

    /// The header section at the boundary is longer than the cap: reported,
    /// its start line skipped, and the next start line searched for. Done
    /// the same whether the section's end has arrived or not, so that the
    /// messages framed do not depend on how the stream was cut into
    /// segments (found by the `sip` fuzz target).
    fn head_too_long(&mut self, rest: &[u8], out: &mut dyn FnMut(Framed<'_>)) {
        out(Framed::Problem(
            ProblemKind::Overload,
            format!(
                "SIP header section longer than {} bytes (the limit on one message over TCP): \
                 '{}'; message skipped, reading resumes at the next SIP start line",
                self.max_message,
                detect::quote_line(rest, 80)
            ),
        ));
        self.validate = true;
        self.resync(true);
    }

    /// The bytes at a message boundary (`rest`; `complete`: its first line
    /// has its line end) do not start a message. A message hidden there (a
    /// malformed start line, control bytes before a start line) is always
    /// reported; other bytes once per episode after a framed message.
    fn not_a_message(&mut self, rest: &[u8], complete: bool, out: &mut dyn FnMut(Framed<'_>)) {
        let hidden = if complete {
            match detect::start_line(rest, 0) {
                Err(detect::StartError::Malformed(why)) => Some(format!(
                    "malformed SIP start line on a TCP stream ({why}): '{}'; message skipped, \
                     reading resumes at the next SIP start line",
                    detect::quote_line(rest, 120)
                )),
                _ => detect::junk_before_start_line(rest).map(|n| {
                    format!(
                        "{} before a SIP start line on a TCP stream: not read as SIP, as \
                         Wireshark does: '{}'; reading resumes at the next SIP start line",
                        detect::describe_junk(rest, n),
                        detect::quote_line(rest, 120)
                    )
                }),
            }
        } else {
            None
        };
        if let Some(text) = hidden {
            out(Framed::Problem(ProblemKind::MalformedSip, text));
        } else if self.synced && !self.expect_junk {
            out(Framed::Problem(
                ProblemKind::MalformedSip,
                "bytes after a SIP message on a TCP stream do not start a SIP message; skipping to the next SIP start line".to_string(),
            ));
        }
        self.expect_junk = true;
        self.validate = true;
        self.resync(true);
    }
}

/// The problem text for a start line that did not end within
/// [`MAX_START_LINE`] bytes (`rest` begins with it).
fn long_start_line(rest: &[u8]) -> String {
    format!(
        "SIP start line with no line end within {MAX_START_LINE} bytes (the limit on a start \
         line split across TCP segments): '{}'; message skipped, reading resumes at the next \
         SIP start line",
        detect::quote_line(rest, 80)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_end_forms() {
        let mut s = 0;
        assert_eq!(head_end(b"A\r\nB: c\r\n\r\nbody", &mut s), Some(11));
        let mut s = 0;
        assert_eq!(head_end(b"A\nB: c\n\nbody", &mut s), Some(8));
        let mut s = 0;
        assert_eq!(head_end(b"A\r\nB: c\r\n\r", &mut s), None);
        assert_eq!(head_end(b"A\r\nB: c\r\n\r\n", &mut s), Some(11));
    }

    #[test]
    fn head_lengths() {
        let mut p = Parser::new();
        let mut l = |h: &[u8]| p.parse_head(h).unwrap().map(|h| h.length());
        assert_eq!(
            l(b"X sip:a SIP/2.0\r\nl: 5\r\n\r\n"),
            Some(StreamLength::Value(5))
        );
        assert_eq!(
            l(b"X sip:a SIP/2.0\r\nContent-Length : 5\r\n\r\n"),
            Some(StreamLength::Value(5))
        );
        assert_eq!(
            l(b"X sip:a SIP/2.0\r\nCall-ID: a\r\n\r\n"),
            Some(StreamLength::Missing)
        );
        assert_eq!(
            l(b"X sip:a SIP/2.0\r\nContent-Length: bad\r\n\r\n"),
            Some(StreamLength::Invalid)
        );
        assert_eq!(
            l(b"X sip:a SIP/2.0\r\nContent-Length: -999\r\n\r\n"),
            Some(StreamLength::Invalid)
        );
        assert_eq!(
            l(b"X sip:a SIP/2.0\r\nl: 13\r\nl: 5\r\n\r\n"),
            Some(StreamLength::Conflict(13))
        );
        assert_eq!(
            l(b"X sip:a SIP/2.0\r\nl: 5\r\nl: 5\r\n\r\n"),
            Some(StreamLength::Value(5))
        );
        // Incomplete: no empty line yet, or a lone CR at the end.
        assert_eq!(l(b"X sip:a SIP/2.0\r\nl: 5\r\n"), None);
        assert_eq!(l(b"X sip:a SIP/2.0\r\nl: 5\r\n\r"), None);
        let mut plausible = |h: &[u8]| p.parse_head(h).unwrap().unwrap().plausible;
        assert!(plausible(b"X sip:a SIP/2.0\r\ni: a\r\n\r\n"));
        assert!(!plausible(b"X sip:a SIP/2.0\r\nTo: a\r\n\r\n"));
        assert!(!plausible(
            b"X sip:a SIP/2.0\r\nACK sip:a@b SIP/2.0\r\nCSeq: 1 ACK\r\n\r\n"
        ));
    }
}
