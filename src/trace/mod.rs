//! Stage 4: SIP messages → transactions, dialogs, endpoints.
//!
//! The trace keeps, for as long as they are open, the few facts later
//! stages need about what came before a message:
//!
//! - **conference focus dialogs** (RFC 4579): dialogs in which a Contact
//!   carries `;isfocus`, indexed by the focus URI, with the participant's
//!   remote target and the nodes that received the focus Contact. They tell
//!   which participants a PoC session has, and whether a conference URI is a
//!   client's pre-established session;
//! - **coverage**: which pairs of nodes exchanged SIP in the capture (in the
//!   last [`COVERAGE_HORIZON_NS`]), so a check can tell a missing message
//!   from a link the capture never saw.
//!
//! Everything has a time horizon in capture time and is evicted in constant
//! time from the front of a FIFO; memory follows what is open, not the
//! file's length.

mod coverage;
mod focus;
mod subscriptions;
pub mod uri;

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};

use crate::capture::Timestamp;
use crate::net::Transport;
pub use crate::sip::{HeaderValue, Message, NameAddr, Uri};

use coverage::Coverage;
pub use focus::FocusDialog;
use focus::FocusRegistry;
pub use subscriptions::Due;
use subscriptions::Subscriptions;

/// One SIP message as the later stages see it: where and when, the
/// correlation fields every flow needs, and the message view itself for
/// anything else a rule asks about.
#[derive(Debug, Clone, Copy)]
pub struct Msg<'a> {
    pub frame: u64,
    pub time: Timestamp,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub transport: Transport,
    /// [`call_id_key`] of the Call-ID, computed while parsing (its text is
    /// read from `sip` only when needed).
    pub call_key: u64,
    /// The request method or response status, read once.
    pub method: Option<&'a str>,
    pub status: Option<u16>,
    pub cseq: u32,
    pub cseq_method: &'a str,
    pub sip: &'a Message<'a>,
}

impl<'a> Msg<'a> {
    /// The request method, or `None` for a response.
    pub fn method(&self) -> Option<&'a str> {
        self.sip.method()
    }

    /// The top Via's branch (read when asked: most messages never need it).
    pub fn top_branch(&self) -> Option<&'a str> {
        self.sip.top_branch()
    }

    /// The From tag.
    pub fn from_tag(&self) -> Option<&'a str> {
        self.sip.from().and_then(|f| f.tag())
    }

    /// The To tag.
    pub fn to_tag(&self) -> Option<&'a str> {
        self.sip.to().and_then(|t| t.tag())
    }

    /// The response status, or `None` for a request.
    pub fn status(&self) -> Option<u16> {
        self.sip.status()
    }

    /// The first value of a header (long or compact name) as text.
    pub fn header(&self, name: &str) -> Option<Cow<'a, str>> {
        self.sip.header(name).map(|v| v.text())
    }
}

/// The 64-bit fingerprint under which Call-IDs (and other strings rules
/// compare) are kept and indexed: [`crate::sip::call_id_key`] of the text.
pub fn call_id_key(call_id: &str) -> u64 {
    crate::sip::call_id_key(call_id.as_bytes())
}

/// The most forwarding nodes (proxies) remembered at once; the oldest goes.
pub const MAX_FORWARDERS: usize = 65_536;

/// How long a pair of nodes counts as covered by the capture after their
/// latest SIP message: 10 minutes, far beyond any step's time limit, so
/// that coverage follows the traffic of the time, not the whole file.
pub const COVERAGE_HORIZON_NS: i128 = 600_000_000_000;

/// The trace of one capture file.
#[derive(Debug, Default)]
pub struct Tracker {
    focus: FocusRegistry,
    subscriptions: Subscriptions,
    coverage: Coverage,
    now: Timestamp,
    /// The notifications the latest message made due.
    due: Vec<Due>,
    /// Nodes seen forwarding a request (sending a copy with a second Via
    /// under their own): proxies, never the endpoint a request is for.
    /// Time of the latest forward, with a horizon and a count bound.
    forwarders: std::collections::HashMap<SocketAddr, i64>,
    forwarder_order: std::collections::VecDeque<(i64, SocketAddr)>,
    /// The same by address alone (over TCP, ports are a connection's).
    forwarder_ips: std::collections::HashMap<IpAddr, u32>,
    /// Evictions by the count bounds so far, and the frame of the first.
    evictions: u64,
    first_eviction: Option<u64>,
}

impl Tracker {
    pub fn new() -> Self {
        Self::default()
    }

    /// Observe one message. Returns `None` when the message lacks what
    /// every correlation needs (a non-empty Call-ID, a valid CSeq): it is
    /// still a message, but no flow step can be tied to it.
    pub fn observe<'a>(
        &mut self,
        frame: u64,
        time: Timestamp,
        src: SocketAddr,
        dst: SocketAddr,
        transport: Transport,
        sip: &'a Message<'a>,
    ) -> Option<Msg<'a>> {
        if time > self.now {
            self.now = time;
        }
        self.coverage.note(src.ip(), dst.ip(), time);
        // Both read from the parse, not from the message's bytes.
        let call_key = sip.call_id_key()?;
        let cseq = sip.cseq()?;
        let msg = Msg {
            frame,
            time,
            src,
            dst,
            transport,
            call_key,
            method: sip.method(),
            status: sip.status(),
            cseq: cseq.number,
            cseq_method: cseq.method,
            sip,
        };
        if msg.method.is_some() && sip.vias().nth(1).is_some() {
            self.note_forwarder(src, time);
        }
        self.due.clear();
        if let Some(e) = self.focus.observe(&msg) {
            self.subscriptions.due(&msg, &e, &mut self.due);
        }
        self.subscriptions.observe(&msg);
        let evictions = self.eviction_count();
        if evictions != self.evictions {
            self.evictions = evictions;
            self.first_eviction.get_or_insert(frame);
        }
        Some(msg)
    }

    /// Drop what is older than its horizon. Cheap; call it as time moves.
    pub fn expire(&mut self) {
        self.coverage.expire(self.now);
        self.focus.expire(self.now);
        self.subscriptions.expire(self.now);
        let horizon = (COVERAGE_HORIZON_NS / 1_000_000_000) as i64;
        while let Some(&(t, node)) = self.forwarder_order.front() {
            if self.now.secs - t <= horizon {
                break;
            }
            self.forwarder_order.pop_front();
            match self.forwarders.get(&node) {
                Some(&last) if self.now.secs - last <= horizon => {
                    self.forwarder_order.push_back((last, node));
                }
                _ => self.forget_forwarder(node),
            }
        }
    }

    fn note_forwarder(&mut self, node: SocketAddr, time: Timestamp) {
        if let Some(t) = self.forwarders.get_mut(&node) {
            *t = time.secs;
            return;
        }
        if self.forwarders.len() >= MAX_FORWARDERS
            && let Some((_, old)) = self.forwarder_order.pop_front()
        {
            self.forget_forwarder(old);
        }
        self.forwarders.insert(node, time.secs);
        *self.forwarder_ips.entry(node.ip()).or_default() += 1;
        self.forwarder_order.push_back((time.secs, node));
    }

    fn forget_forwarder(&mut self, node: SocketAddr) {
        if self.forwarders.remove(&node).is_some()
            && let Some(n) = self.forwarder_ips.get_mut(&node.ip())
        {
            *n -= 1;
            if *n == 0 {
                self.forwarder_ips.remove(&node.ip());
            }
        }
    }

    /// Was `node` seen forwarding requests (a proxy) lately? Over UDP a
    /// node sends from the address it receives on, so the port counts (two
    /// SIP endpoints may share one address); over TCP the address alone.
    pub fn is_forwarder(&self, node: SocketAddr, transport: Transport) -> bool {
        match transport {
            Transport::Udp => self.forwarders.contains_key(&node),
            _ => self.forwarder_ips.contains_key(&node.ip()),
        }
    }

    fn eviction_count(&self) -> u64 {
        self.coverage.evicted
            + self.focus.evicted_invites
            + self.focus.evicted_dialogs
            + self.subscriptions.evicted
    }

    /// What the count bounds dropped (one problem per structure, with a
    /// count), for the end of the file. Never silent.
    pub fn problems(&self) -> Vec<crate::problem::Problem> {
        use crate::problem::{Problem, ProblemKind};
        let frame = self.first_eviction.unwrap_or(0);
        let mut v = Vec::new();
        let mut say = |n: u64, what: &str, bound: usize, effect: &str| {
            if n > 0 {
                v.push(Problem::at_frame(
                    ProblemKind::Overload,
                    frame,
                    format!(
                        "{n} {what} dropped to bound memory (at most {bound} at once; the first drop near frame {frame}): {effect}"
                    ),
                ));
            }
        };
        say(
            self.focus.evicted_invites,
            "INVITEs awaiting a final response were",
            focus::MAX_PENDING,
            "a conference dialog they would have set up is not known",
        );
        say(
            self.focus.evicted_dialogs,
            "conference (focus) dialogs were",
            focus::MAX_PENDING,
            "steps in them may read as if the capture lacked the session's setup",
        );
        say(
            self.subscriptions.evicted,
            "conference subscriptions were",
            subscriptions::MAX_SUBSCRIPTIONS,
            "a notification they would make due is not expected",
        );
        say(
            self.coverage.evicted,
            "links between nodes were",
            coverage::MAX_LINKS,
            "a step on such a link reads unobserved rather than missing",
        );
        v
    }

    /// The flow-3 notifications the latest message made due (flows.md,
    /// "When flow 3 is due").
    pub fn due(&self) -> &[Due] {
        &self.due
    }

    /// The latest capture time seen.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Did the capture carry any SIP between these two nodes (either way)?
    pub fn link_seen(&self, a: IpAddr, b: IpAddr) -> bool {
        self.coverage.seen(a, b)
    }

    /// Did `a` exchange SIP with any node outside `known`?
    pub fn has_peer_outside(&self, a: IpAddr, known: &[IpAddr]) -> bool {
        self.coverage.peer_outside(a, known)
    }

    /// Did the capture carry SIP between two nodes both outside `known`?
    pub fn has_link_outside(&self, known: &[IpAddr]) -> bool {
        self.coverage.link_outside(known)
    }

    /// The open dialogs whose focus is this conference URI (RFC 4579).
    pub fn focus_dialogs(&self, focus_uri: &str) -> &[FocusDialog] {
        self.focus.dialogs(focus_uri)
    }

    /// Was `uri` seen as a focus Contact delivered to `node`? `None` when
    /// the capture never showed `uri` as a focus at all.
    pub fn is_focus_for(&self, uri: &str, node: IpAddr) -> Option<bool> {
        self.focus.delivered_to(uri, node)
    }

    /// Did the setup of this focus dialog (by [`call_id_key`]) touch
    /// `node`? `None` when it is not a known focus dialog.
    pub fn focus_dialog_touches(&self, call_key: u64, node: IpAddr) -> Option<bool> {
        self.focus.dialog_touches(call_key, node)
    }

    /// Is this dialog (by [`call_id_key`]) a conference focus dialog?
    pub fn is_focus_dialog(&self, call_key: u64) -> bool {
        self.focus.is_focus_dialog(call_key)
    }
}
