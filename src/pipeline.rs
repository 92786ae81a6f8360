//! Drives the stages over input files and feeds a report sink.
//!
//! One pass per file, front to back: capture → net → sip → (trace → check)
//! → sink. Nothing is collected: each stage hands the next borrowed data
//! through a callback, and only what is still open (fragments, stream
//! bytes, transactions, flow instances) is kept between frames.
//!
//! The pass runs on two threads, split where the work halves: one reads
//! the capture, decodes the network layers and frames the SIP messages;
//! the other runs the trace, the checker and the output. Between them
//! travel batches of messages with their parse (layout and header index,
//! so nothing is parsed twice), in capture order, through a channel of
//! `BATCHES_IN_FLIGHT` batches that are reused: memory stays bounded
//! (a few MiB), and the order of every event is the capture's. Measured on
//! a 195 MB generated trace (2 cores): `check` 1.17 s on one thread.
//!
//! A message's bytes travel as a range of the input when the input is held
//! in memory (a mapped file: [`SharedInput`]) and the message lies in one
//! packet; otherwise (a stream, a message reassembled from TCP segments or
//! IP fragments) they are copied into the batch. Copying was ~15 % of the
//! reading thread on the 1 GiB bench trace. The pages of a shared input
//! are handed back once the batches that refer to them have come back.

use std::borrow::Cow;
use std::io;
use std::ops::Range;
use std::path::Path;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, channel, sync_channel};

use crate::capture::{self, CaptureReader, Item, OpenError, OpenErrorKind, SharedInput, Timestamp};
use crate::check::{Checker, InstanceReport, Verdict};
use crate::net::{Decoder, FlowKey, NetConfig, Transport};
use crate::problem::{Problem, ProblemKind};
use crate::report::{FileEnd, LISTED_PER_KIND, MessageLine, Sink, Summary};
use crate::rules::Rule;
use crate::sip::{Entry, Extractor, ExtractorConfig, Layout, Message, SipEvent};
use crate::trace::Tracker;

/// What to do with the SIP messages of each file.
pub enum Job<'r> {
    /// List them (`sipflow messages`).
    Messages,
    /// Check them against rules (`sipflow check`).
    Check {
        rules: &'r [Rule],
        /// Roles bound by the user (`--role core-b=10.0.0.2`).
        roles: &'r [(String, crate::check::Node)],
    },
}

/// Which input problems reach the sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    /// The first [`LISTED_PER_KIND`] of each kind in each file; the rest
    /// are counted (the default).
    Capped,
    /// Every one (`--all-errors`).
    All,
}

/// The outcome of a run, for the exit status.
#[derive(Debug, Default, Clone)]
pub struct Outcome {
    pub summary: Summary,
    /// Some input could not be read as a capture at all.
    pub unreadable: bool,
    /// Input problems (or the snaplen) may have hidden SIP messages in
    /// some file ([`FileEnd::sip_hidden`]).
    pub sip_hidden: bool,
    /// Rule ids with at least one instance.
    pub rules_seen: Vec<String>,
    /// Per node bound with `--role` (in the job's order): did any SIP
    /// message of the input come from or go to it?
    pub roles_met: Vec<bool>,
}

/// Open an input: a path, or `-` for standard input (streamed).
pub fn open_input(input: &str) -> Result<CaptureReader, OpenError> {
    if input == "-" {
        CaptureReader::from_reader(Box::new(io::stdin()), "-".to_string())
    } else {
        capture::open(Path::new(input))
    }
}

/// Run `job` over every input, in order, writing to `sink`. I/O errors of
/// the sink (a closed pipe) end the run.
pub fn run(
    inputs: &[String],
    job: &Job<'_>,
    sink: &mut dyn Sink,
    listing: Listing,
) -> io::Result<Outcome> {
    let mut outcome = Outcome::default();
    for input in inputs {
        outcome.summary.files += 1;
        sink.begin_file(input)?;
        match open_input(input) {
            Ok(reader) => run_file(input, reader, job, sink, listing, &mut outcome)?,
            Err(e) => {
                outcome.unreadable = true;
                let kind = match e.kind() {
                    OpenErrorKind::OtherFormat(_) => ProblemKind::Unsupported,
                    OpenErrorKind::Corrupt => ProblemKind::Corrupt,
                    _ => ProblemKind::Unreadable,
                };
                let p = Problem {
                    kind,
                    frame: None,
                    offset: None,
                    message: e.reason().to_string(),
                };
                outcome.summary.errors += 1;
                outcome.summary.errors_by_kind[kind.index()] += 1;
                let mut end = FileEnd {
                    unreadable: true,
                    ..FileEnd::default()
                };
                end.problems[kind.index()].total = 1;
                end.problems[kind.index()].listed = 1;
                sink.problem(input, &p)?;
                sink.end_file(input, &end)?;
            }
        }
    }
    sink.end(&outcome.summary)?;
    Ok(outcome)
}

/// Messages and problems of a stretch of one capture, in capture order.
/// Message bytes are ranges of the shared input or copies (see the module
/// documentation), so the reading thread can reuse its buffers at once;
/// batches travel through a bounded channel and come back to be reused, so
/// memory stays bounded.
#[derive(Default)]
struct Batch {
    /// Copied message bytes.
    bytes: Vec<u8>,
    /// The header index entries of every message, one run per message.
    entries: Vec<Entry>,
    events: Vec<Event>,
    /// Frames read into this batch.
    frames: u64,
    /// The reader's input offset when the batch began to fill, and when it
    /// was sent: no later batch refers to input bytes before `sent_at`.
    started_at: u64,
    sent_at: u64,
}

/// Where a message's bytes travel.
enum MessageBytes {
    /// A range of the shared input.
    Input(Range<usize>),
    /// A range of `Batch::bytes`.
    Copied(Range<usize>),
}

/// One event of a [`Batch`].
enum Event {
    FirstTime(Timestamp),
    Message {
        frame: u64,
        time: Timestamp,
        flow: FlowKey,
        transport: Transport,
        bytes: MessageBytes,
        /// Its parse: the layout, and its header entries in `Batch::entries`.
        layout: Layout,
        entries: Range<usize>,
    },
    /// An input problem; `cut_sip` when it belongs to a frame whose SIP
    /// the capture's snaplen cut.
    Problem {
        problem: Problem,
        cut_sip: bool,
    },
    /// A frame whose payload looks like SIP but that the capture cut short
    /// (its problems precede this event).
    CutSipFrame {
        caplen: u64,
    },
}

const BATCH_EVENTS: usize = 1024;
const BATCH_BYTES: usize = 1 << 20;
/// A batch is sent once the reader has moved this far in the input, so
/// that the shared input's pages are handed back even where SIP is sparse.
const BATCH_SPAN: u64 = 4 << 20;
const BATCHES_IN_FLIGHT: usize = 4;

/// Whether the bytes of a frame the capture cut short look like SIP: a
/// start line's `SIP/2.0` or a request's ` sip:` / ` sips:` URI. The frame
/// is searched whole (where the transport payload starts is the network
/// stage's business); the snaplen cuts the end of a frame, and a SIP
/// message's start line is at its beginning.
fn looks_like_cut_sip(frame: &[u8]) -> bool {
    use memchr::memmem;
    memmem::find(frame, b"SIP/2.0").is_some()
        || memmem::find(frame, b" sip:").is_some()
        || memmem::find(frame, b" sips:").is_some()
}

impl Batch {
    /// The capture cut frame `number` short: if the network stage said so
    /// (a `truncated` problem of that frame among the events pushed since
    /// `from`) and its bytes look like SIP, mark those problems and count
    /// the frame as SIP cut by the snaplen.
    fn mark_cut_sip(&mut self, from: usize, number: u64, data: &[u8]) {
        let mut cut = false;
        let mut checked = None;
        for ev in self.events.get_mut(from..).unwrap_or_default() {
            if let Event::Problem { problem, cut_sip } = ev
                && problem.kind == ProblemKind::Truncated
                && problem.frame == Some(number)
                && *checked.get_or_insert_with(|| looks_like_cut_sip(data))
            {
                *cut_sip = true;
                cut = true;
            }
        }
        if cut {
            self.events.push(Event::CutSipFrame {
                caplen: data.len() as u64,
            });
        }
    }

    fn full(&self, offset: u64) -> bool {
        self.events.len() >= BATCH_EVENTS
            || self.bytes.len() >= BATCH_BYTES
            || offset.saturating_sub(self.started_at) >= BATCH_SPAN
    }

    fn push_sip(&mut self, ev: SipEvent<'_>, input: Option<&SharedInput>) {
        match ev {
            SipEvent::Problem(p) => self.events.push(Event::Problem {
                problem: p,
                cut_sip: false,
            }),
            SipEvent::Message {
                frame,
                time,
                flow,
                transport,
                msg,
            } => {
                let (data, layout, entries) = msg.parts();
                let bytes = match input.and_then(|i| i.range_of(data)) {
                    Some(range) => MessageBytes::Input(range),
                    None => {
                        let start = self.bytes.len();
                        self.bytes.extend_from_slice(data);
                        MessageBytes::Copied(start..self.bytes.len())
                    }
                };
                let first = self.entries.len();
                self.entries.extend_from_slice(entries);
                self.events.push(Event::Message {
                    frame,
                    time,
                    flow,
                    transport,
                    bytes,
                    layout,
                    entries: first..self.entries.len(),
                });
            }
        }
    }
}

/// The first half of the pipeline, on its own thread: capture → net → SIP
/// framing, into batches.
fn read_messages(
    mut reader: CaptureReader,
    input: Option<SharedInput>,
    full: SyncSender<Batch>,
    empty: Receiver<Batch>,
    stop: &AtomicBool,
) {
    let input = input.as_ref();
    let mut net = Decoder::new(NetConfig::default());
    let mut sip = Extractor::new(ExtractorConfig::default());
    let mut batch = Batch::default();
    let mut spare: Vec<Batch> = Vec::new();
    let mut first = true;
    let mut send = |batch: &mut Batch, offset: u64| -> bool {
        // Batches that came back are done with: so is the input before
        // where they were sent.
        while let Ok(back) = empty.try_recv() {
            if let Some(input) = input {
                input.release_before(back.sent_at);
            }
            spare.push(back);
        }
        let mut next = spare.pop().unwrap_or_default();
        next.started_at = offset;
        batch.sent_at = offset;
        full.send(std::mem::replace(batch, next)).is_ok()
    };
    while let Some(item) = reader.next() {
        match item {
            Item::Problem(p) => batch.events.push(Event::Problem {
                problem: p,
                cut_sip: false,
            }),
            Item::Frame(frame) => {
                if first {
                    first = false;
                    batch.events.push(Event::FirstTime(frame.time));
                }
                batch.frames += 1;
                let before = batch.events.len();
                net.push(&frame, &mut |ev| {
                    sip.push(ev, &mut |sev| batch.push_sip(sev, input))
                });
                if frame.data.len() < frame.orig_len as usize {
                    batch.mark_cut_sip(before, frame.number, frame.data);
                }
            }
        }
        let offset = reader.offset();
        if batch.full(offset) && (stop.load(Ordering::Relaxed) || !send(&mut batch, offset)) {
            return;
        }
    }
    net.finish(&mut |ev| sip.push(ev, &mut |sev| batch.push_sip(sev, input)));
    sip.finish(&mut |sev| batch.push_sip(sev, input));
    send(&mut batch, reader.offset());
}

fn run_file(
    file: &str,
    mut reader: CaptureReader,
    job: &Job<'_>,
    sink: &mut dyn Sink,
    listing: Listing,
    outcome: &mut Outcome,
) -> io::Result<()> {
    let mut stage = SipStage::new(file, job, sink, listing, outcome);
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let (full_tx, full_rx) = sync_channel::<Batch>(BATCHES_IN_FLIGHT);
        let (empty_tx, empty_rx) = channel::<Batch>();
        let stop = &stop;
        let input = reader.share_input();
        let shared = input.clone();
        let reading = std::thread::Builder::new()
            .name("sipflow-read".into())
            .spawn_scoped(scope, move || {
                read_messages(reader, shared, full_tx, empty_rx, stop)
            });
        if let Err(e) = reading {
            stage.error = Some(e);
            return;
        }
        for mut batch in full_rx {
            // Read in place (an event is a few hundred bytes: moving each
            // out of the batch was a copy per message).
            stage.end.frames += batch.frames;
            batch.frames = 0;
            for ev in &batch.events {
                match ev {
                    Event::FirstTime(t) => stage.sink.first_time(*t),
                    Event::Problem { problem, cut_sip } => stage.problem(problem, *cut_sip),
                    Event::CutSipFrame { caplen } => {
                        stage.end.cut_sip_frames += 1;
                        stage.end.sip_frames += 1;
                        stage.end.snaplen = stage.end.snaplen.max(*caplen);
                    }
                    Event::Message {
                        frame,
                        time,
                        flow,
                        transport,
                        bytes,
                        layout,
                        entries,
                    } => {
                        // The SIP stage's own parse, over the same bytes.
                        let data = match bytes {
                            MessageBytes::Input(r) => {
                                input.as_ref().and_then(|i| i.bytes().get(r.clone()))
                            }
                            MessageBytes::Copied(r) => batch.bytes.get(r.clone()),
                        };
                        if let (Some(data), Some(entries)) =
                            (data, batch.entries.get(entries.clone()))
                        {
                            let msg = Message::from_parts(data, *layout, entries);
                            stage.on_message(*frame, *time, *flow, *transport, msg);
                        }
                    }
                }
                if stage.error.is_some() {
                    break;
                }
            }
            batch.events.clear();
            if stage.error.is_some() {
                stop.store(true, Ordering::Relaxed);
                break;
            }
            batch.bytes.clear();
            batch.entries.clear();
            let _ = empty_tx.send(batch);
        }
    });
    stage.finish();
    if stage.error.is_none() {
        let r = stage.sink.end_file(file, &stage.end);
        stage.keep(r);
    }
    stage.outcome.sip_hidden |= stage.end.sip_hidden();
    match stage.error.take() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// The part of the pipeline after the SIP stage, for one file.
struct SipStage<'s, 'r> {
    file: &'s str,
    job: &'s Job<'r>,
    sink: &'s mut dyn Sink,
    outcome: &'s mut Outcome,
    trace: Tracker,
    checker: Option<Checker<'r>>,
    error: Option<io::Error>,
    since_expiry: u32,
    /// Reused for the instances one message settles.
    settled: Vec<InstanceReport>,
    listing: Listing,
    /// What the file held so far.
    end: FileEnd,
    /// The last frame a message was read from.
    last_message_frame: Option<u64>,
}

impl<'s, 'r> SipStage<'s, 'r> {
    fn new(
        file: &'s str,
        job: &'s Job<'r>,
        sink: &'s mut dyn Sink,
        listing: Listing,
        outcome: &'s mut Outcome,
    ) -> Self {
        let checker = match job {
            Job::Messages => None,
            Job::Check { rules, roles } => Some(Checker::new(rules).with_roles(roles)),
        };
        SipStage {
            file,
            job,
            sink,
            outcome,
            trace: Tracker::new(),
            checker,
            error: None,
            since_expiry: 0,
            settled: Vec::new(),
            listing,
            end: FileEnd::default(),
            last_message_frame: None,
        }
    }

    fn keep(&mut self, r: io::Result<()>) {
        if let Err(e) = r
            && self.error.is_none()
        {
            self.error = Some(e);
        }
    }

    /// Count a problem; list it while its kind is under the file's limit.
    fn problem(&mut self, p: &Problem, cut_sip: bool) {
        let k = p.kind.index();
        self.outcome.summary.errors += 1;
        self.outcome.summary.errors_by_kind[k] += 1;
        if cut_sip {
            self.end.cut_sip_problems += 1;
        }
        let count = &mut self.end.problems[k];
        count.total += 1;
        if self.listing == Listing::Capped && count.listed >= LISTED_PER_KIND {
            return;
        }
        count.listed += 1;
        let r = if cut_sip {
            self.sink.cut_sip_problem(self.file, p)
        } else {
            self.sink.problem(self.file, p)
        };
        self.keep(r);
    }

    fn on_message(
        &mut self,
        frame: u64,
        time: Timestamp,
        flow: FlowKey,
        transport: Transport,
        msg: Message<'_>,
    ) {
        if self.error.is_some() {
            return;
        }
        self.outcome.summary.messages += 1;
        self.end.messages += 1;
        if self.last_message_frame != Some(frame) {
            self.last_message_frame = Some(frame);
            self.end.sip_frames += 1;
        }
        match self.job {
            Job::Messages => {
                let cseq = msg.cseq();
                // The Call-ID's bytes as written; a folded one (rare) as
                // its unfolded text.
                let call_id = msg.header("call-id").map(|v| {
                    let raw = v.as_bytes();
                    if memchr::memchr2(b'\r', b'\n', raw).is_none() {
                        Cow::Borrowed(raw)
                    } else {
                        Cow::Owned(v.text().into_owned().into_bytes())
                    }
                });
                let line = MessageLine {
                    frame,
                    time,
                    src: flow.src,
                    dst: flow.dst,
                    transport,
                    method: msg.method(),
                    status: msg.status(),
                    cseq: cseq.as_ref().map(|c| (c.number, c.method)),
                    call_id: call_id.as_deref(),
                    start_line: msg.start_line(),
                };
                let r = self.sink.message(self.file, &line);
                self.keep(r);
            }
            Job::Check { roles, .. } => {
                if !roles.is_empty() {
                    let met = &mut self.outcome.roles_met;
                    met.resize(roles.len(), false);
                    for (i, (_, node)) in roles.iter().enumerate() {
                        let is = |a: std::net::SocketAddr| {
                            a.ip() == node.ip && node.port.is_none_or(|p| p == a.port())
                        };
                        if is(flow.src) || is(flow.dst) {
                            met[i] = true;
                        }
                    }
                }
                let Some(checker) = self.checker.as_mut() else {
                    return;
                };
                let Some(m) = self
                    .trace
                    .observe(frame, time, flow.src, flow.dst, transport, &msg)
                else {
                    return;
                };
                let mut settled = std::mem::take(&mut self.settled);
                checker.on_message(&m, &self.trace, &mut |r| settled.push(r));
                self.since_expiry += 1;
                if self.since_expiry >= 64 {
                    self.since_expiry = 0;
                    self.trace.expire();
                }
                for r in settled.drain(..) {
                    self.emit(r);
                }
                self.settled = settled;
            }
        }
    }

    fn emit(&mut self, r: InstanceReport) {
        let s = &mut self.outcome.summary;
        s.instances += 1;
        self.end.instances += 1;
        match r.verdict {
            Verdict::Pass => s.pass += 1,
            Verdict::Fail => s.fail += 1,
            Verdict::Partial => s.partial += 1,
        }
        if !self.outcome.rules_seen.contains(&r.rule) {
            self.outcome.rules_seen.push(r.rule.clone());
        }
        let res = self.sink.instance(self.file, &r);
        self.keep(res);
    }

    fn finish(&mut self) {
        let Some(checker) = self.checker.as_mut() else {
            return;
        };
        let mut settled = Vec::new();
        checker.finish(&self.trace, &mut |r| settled.push(r));
        let mut problems = checker.problems();
        problems.extend(self.trace.problems());
        for r in settled {
            self.emit(r);
        }
        for p in &problems {
            self.problem(p, false);
        }
    }
}
