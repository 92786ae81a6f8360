//! Network events in, SIP events out.

use crate::capture::Timestamp;
use crate::net::{FlowKey, NetEvent, Transport};
use crate::problem::{Problem, ProblemKind};

use super::anomalies::Anomalies;
use super::flows::FlowTable;
use super::framer::{DEFAULT_MAX_MESSAGE, Framed, StreamFramer};
use super::message::{Message, ParseError, Parser};

/// What the SIP stage hands to the next one.
#[derive(Debug)]
pub enum SipEvent<'a> {
    /// One SIP message. `frame` is the frame that completed it (for a
    /// message over several TCP segments, the last one); `msg` borrows the
    /// datagram or the stream buffer and is valid only during the call.
    Message {
        /// 1-based frame number, as Wireshark numbers it.
        frame: u64,
        /// Capture time of that frame.
        time: Timestamp,
        /// Source and destination of the datagram or stream direction.
        flow: FlowKey,
        /// UDP or TCP.
        transport: Transport,
        /// The message itself.
        msg: Message<'a>,
    },
    /// A malformed or lost message, or a problem passed on from the
    /// network stage.
    Problem(Problem),
}

/// Limits of the stream state kept by an [`Extractor`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtractorConfig {
    /// Largest message accepted over TCP (header section plus body).
    pub max_message: usize,
    /// Most TCP directions tracked at once; beyond it the least recently
    /// active one is evicted.
    pub max_streams: usize,
    /// A TCP direction idle for longer (capture time) is evicted.
    pub idle_timeout_secs: u32,
    /// Most bytes buffered over all directions together.
    pub max_buffered: usize,
}

impl Default for ExtractorConfig {
    fn default() -> Self {
        ExtractorConfig {
            max_message: DEFAULT_MAX_MESSAGE,
            max_streams: 65_536,
            idle_timeout_secs: 60,
            // A quarter of the 256 MiB the whole run may use: a flood of
            // streams each inside a long message must leave room for the
            // other stages.
            max_buffered: 64 << 20,
        }
    }
}

/// The SIP stage: parses datagrams, frames streams, reports problems.
///
/// Keeps one [`StreamFramer`] per TCP direction, in least-recently-used
/// order: a direction that ends (`StreamEnd`) is dropped at once, one idle
/// for `idle_timeout_secs` is evicted, and the limits on directions and
/// buffered bytes evict the least recently active. Evicting a direction
/// that holds part of a message is reported, never silent.
#[derive(Debug)]
pub struct Extractor {
    config: ExtractorConfig,
    parser: Parser,
    flows: FlowTable,
    buffered: usize,
}

impl Default for Extractor {
    fn default() -> Self {
        Extractor::new(ExtractorConfig::default())
    }
}

/// Anomalies worth a problem report for a datagram.
const UDP_REPORTED: Anomalies = Anomalies::BAD_CONTENT_LENGTH
    .union(Anomalies::CONFLICTING_CONTENT_LENGTH)
    .union(Anomalies::BODY_TRUNCATED)
    .union(Anomalies::NO_EMPTY_LINE)
    .union(Anomalies::BAD_HEADER_LINE);

/// Anomalies worth a report for a framed stream message (Content-Length
/// trouble is reported by the framer, which had to decide the length).
const TCP_REPORTED: Anomalies = Anomalies::NO_EMPTY_LINE.union(Anomalies::BAD_HEADER_LINE);

/// The problem for a parsed message's reported anomalies, if any.
fn anomaly_problem(msg: &Message<'_>, frame: u64, reported: Anomalies) -> Option<Problem> {
    let a = msg.anomalies().intersection(reported);
    if a.is_empty() {
        return None;
    }
    let mut text = format!("SIP {}", msg.summary());
    if let Some(id) = msg.call_id() {
        text.push_str(&format!(" (Call-ID {id})"));
    }
    text.push_str(": ");
    let mut first = true;
    for d in a.descriptions() {
        if !first {
            text.push_str("; ");
        }
        first = false;
        text.push_str(d);
    }
    // The value as written: the parsed one saturates at 2^32-1.
    let written = || super::message::quote_length(msg.content_length_text().unwrap_or_default());
    if a.contains(Anomalies::BODY_TRUNCATED) {
        text.push_str(&format!(
            " (Content-Length {}, {} body bytes present; kept with the body it has)",
            written(),
            msg.body().len()
        ));
    } else if !a
        .intersection(Anomalies::BAD_CONTENT_LENGTH.union(Anomalies::CONFLICTING_CONTENT_LENGTH))
        .is_empty()
    {
        text.push_str(&format!(
            " (Content-Length '{}'; the body is the rest of the datagram, {} bytes)",
            written(),
            msg.body().len()
        ));
    }
    let kind = if a == Anomalies::BODY_TRUNCATED {
        ProblemKind::Truncated
    } else {
        ProblemKind::MalformedSip
    };
    Some(Problem::at_frame(kind, frame, text))
}

/// The payload's first line (after line breaks), at most 120 bytes, with
/// non-printable bytes escaped: enough for a person to recognise it.
fn first_line(data: &[u8]) -> String {
    super::detect::quote_line(data, 120)
}

impl Extractor {
    /// An extractor with the given limits.
    pub fn new(config: ExtractorConfig) -> Extractor {
        Extractor {
            config,
            parser: Parser::new(),
            flows: FlowTable::new(),
            buffered: 0,
        }
    }

    /// TCP directions currently tracked.
    pub fn open_streams(&self) -> usize {
        self.flows.len()
    }

    /// Bytes buffered over all TCP directions.
    pub fn buffered_bytes(&self) -> usize {
        self.buffered
    }

    /// Consumes one network event; calls `sink` for each resulting event.
    pub fn push(&mut self, ev: NetEvent<'_>, sink: &mut dyn FnMut(SipEvent<'_>)) {
        match ev {
            NetEvent::Datagram {
                frame,
                time,
                flow,
                transport,
                data,
            } => {
                self.expire(time, sink);
                self.datagram(frame, time, flow, transport, data, sink);
            }
            NetEvent::Stream {
                frame,
                time,
                flow,
                data,
                gap,
            } => {
                self.expire(time, sink);
                self.stream(frame, time, flow, data, gap, sink);
            }
            NetEvent::StreamEnd { frame, flow } => {
                if let Some(mut f) = self.flows.remove(&flow) {
                    self.buffered = self.buffered.saturating_sub(f.framer.buffered());
                    if let Some((kind, text)) = f.framer.finish() {
                        sink(SipEvent::Problem(Problem::at_frame(kind, frame, text)));
                    }
                }
            }
            NetEvent::Problem(p) => sink(SipEvent::Problem(p)),
        }
    }

    /// End of input: reports every stream left inside a message.
    pub fn finish(&mut self, sink: &mut dyn FnMut(SipEvent<'_>)) {
        while let Some(f) = self.flows.pop_oldest() {
            self.evicted(f, "the capture ended", ProblemKind::Truncated, sink);
        }
        self.buffered = 0;
    }

    fn datagram(
        &mut self,
        frame: u64,
        time: Timestamp,
        flow: FlowKey,
        transport: Transport,
        data: &[u8],
        sink: &mut dyn FnMut(SipEvent<'_>),
    ) {
        match self.parser.parse(data) {
            Ok(msg) => {
                if let Some(p) = anomaly_problem(&msg, frame, UDP_REPORTED) {
                    sink(SipEvent::Problem(p));
                }
                sink(SipEvent::Message {
                    frame,
                    time,
                    flow,
                    transport,
                    msg,
                });
            }
            Err(ParseError::NotSip) => {
                // A message behind NUL (or other control) bytes: tshark does
                // not take it for SIP and neither does sipflow, but it is
                // not lost in silence. (RTP and other traffic start with a
                // byte that ends this check at once.)
                if let Some(n) = super::detect::junk_before_start_line(data) {
                    sink(SipEvent::Problem(Problem::at_frame(
                        ProblemKind::MalformedSip,
                        frame,
                        format!(
                            "a {} payload of {} followed by a SIP start line: not read as SIP, \
                             as Wireshark does: '{}'",
                            transport.as_str().to_uppercase(),
                            super::detect::describe_junk(data, n),
                            first_line(data)
                        ),
                    )))
                }
            }
            Err(e) => sink(SipEvent::Problem(Problem::at_frame(
                ProblemKind::MalformedSip,
                frame,
                format!(
                    "{} payload is not a valid SIP message: {e}: '{}'",
                    transport.as_str().to_uppercase(),
                    first_line(data)
                ),
            ))),
        }
    }

    fn stream(
        &mut self,
        frame: u64,
        time: Timestamp,
        flow: FlowKey,
        data: &[u8],
        gap: bool,
        sink: &mut dyn FnMut(SipEvent<'_>),
    ) {
        let max_message = self.config.max_message;
        let full = self.flows.len() >= self.config.max_streams.max(1);
        if full
            && !self.flows.contains(&flow)
            && let Some(old) = self.flows.pop_oldest()
        {
            self.buffered = self.buffered.saturating_sub(old.framer.buffered());
            self.evicted(
                old,
                "too many TCP streams are open at once",
                ProblemKind::Overload,
                sink,
            );
        }
        let Extractor {
            parser,
            flows,
            buffered,
            ..
        } = self;
        let f = flows.touch(flow, time.as_nanos(), frame, || {
            StreamFramer::new(max_message)
        });
        let before = f.framer.buffered();
        f.framer
            .push(data, gap, parser, &mut |framed| match framed {
                Framed::Message(msg) => {
                    if let Some(p) = anomaly_problem(&msg, frame, TCP_REPORTED) {
                        sink(SipEvent::Problem(p));
                    }
                    sink(SipEvent::Message {
                        frame,
                        time,
                        flow,
                        transport: Transport::Tcp,
                        msg,
                    });
                }
                Framed::Problem(kind, text) => {
                    sink(SipEvent::Problem(Problem::at_frame(kind, frame, text)))
                }
            });
        *buffered = buffered.saturating_sub(before) + f.framer.buffered();
        while self.buffered > self.config.max_buffered {
            let Some(old) = self.flows.pop_oldest() else {
                break;
            };
            self.buffered = self.buffered.saturating_sub(old.framer.buffered());
            self.evicted(
                old,
                "the SIP stage's stream buffer limit was reached",
                ProblemKind::Overload,
                sink,
            );
        }
    }

    /// Evicts directions idle for longer than the timeout.
    fn expire(&mut self, now: Timestamp, sink: &mut dyn FnMut(SipEvent<'_>)) {
        let horizon = i128::from(self.config.idle_timeout_secs) * 1_000_000_000;
        let now = now.as_nanos();
        while self
            .flows
            .oldest()
            .is_some_and(|f| now - f.last_time > horizon)
        {
            let Some(old) = self.flows.pop_oldest() else {
                break;
            };
            self.buffered = self.buffered.saturating_sub(old.framer.buffered());
            let why = format!(
                "the TCP stream was idle for more than {} s",
                self.config.idle_timeout_secs
            );
            self.evicted(old, &why, ProblemKind::Truncated, sink);
        }
    }

    fn evicted(
        &mut self,
        mut f: super::flows::Flow,
        why: &str,
        kind: ProblemKind,
        sink: &mut dyn FnMut(SipEvent<'_>),
    ) {
        let held = f.framer.buffered();
        if f.framer.finish().is_some() {
            sink(SipEvent::Problem(Problem::at_frame(
                kind,
                f.last_frame,
                format!(
                    "incomplete SIP message on TCP {} -> {} dropped because {why} ({held} bytes)",
                    f.key.src, f.key.dst
                ),
            )));
        }
    }
}
