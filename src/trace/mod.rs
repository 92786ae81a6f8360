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
//! - **coverage**: which pairs of nodes exchanged SIP at all in the capture,
//!   so a check can tell a missing message from a link the capture never saw.
//!
//! Everything has a time horizon in capture time and is evicted in constant
//! time from the front of a FIFO; memory follows what is open, not the
//! file's length.

mod focus;
pub mod uri;

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};

use crate::capture::Timestamp;
use crate::net::Transport;
pub use crate::sip::{HeaderValue, Message, NameAddr, Uri};

pub use focus::FocusDialog;
use focus::FocusRegistry;

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
    pub call_id: &'a str,
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

/// The trace of one capture file.
#[derive(Debug, Default)]
pub struct Tracker {
    focus: FocusRegistry,
    links: HashSet<(IpAddr, IpAddr)>,
    peers: HashMap<IpAddr, Vec<IpAddr>>,
    now: Timestamp,
}

impl Tracker {
    pub fn new() -> Self {
        Self::default()
    }

    /// Observe one message. Returns `None` when the message lacks what
    /// every correlation needs (Call-ID, CSeq): it is still a message, but
    /// no flow step can be tied to it.
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
        self.note_link(src.ip(), dst.ip());
        let call_id = sip.call_id()?;
        let cseq = sip.cseq()?;
        let msg = Msg {
            frame,
            time,
            src,
            dst,
            transport,
            call_id,
            cseq: cseq.number,
            cseq_method: cseq.method,
            sip,
        };
        self.focus.observe(&msg);
        Some(msg)
    }

    /// Drop what is older than its horizon. Cheap; call it as time moves.
    pub fn expire(&mut self) {
        self.focus.expire(self.now);
    }

    /// The latest capture time seen.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    fn note_link(&mut self, a: IpAddr, b: IpAddr) {
        let key = if a <= b { (a, b) } else { (b, a) };
        if self.links.insert(key) {
            self.peers.entry(a).or_default().push(b);
            if a != b {
                self.peers.entry(b).or_default().push(a);
            }
        }
    }

    /// Did the capture carry any SIP between these two nodes (either way)?
    pub fn link_seen(&self, a: IpAddr, b: IpAddr) -> bool {
        let key = if a <= b { (a, b) } else { (b, a) };
        self.links.contains(&key)
    }

    /// Did `a` exchange SIP with any node outside `known`?
    pub fn has_peer_outside(&self, a: IpAddr, known: &[IpAddr]) -> bool {
        self.peers
            .get(&a)
            .is_some_and(|p| p.iter().any(|x| !known.contains(x)))
    }

    /// Did the capture carry SIP between two nodes both outside `known`?
    pub fn has_link_outside(&self, known: &[IpAddr]) -> bool {
        self.links
            .iter()
            .any(|(a, b)| !known.contains(a) && !known.contains(b))
    }

    /// The open dialogs whose focus is this conference URI (RFC 4579).
    pub fn focus_dialogs(&self, focus_uri: &str) -> Vec<FocusDialog> {
        self.focus.dialogs(focus_uri)
    }

    /// Was `uri` seen as a focus Contact delivered to `node`? `None` when
    /// the capture never showed `uri` as a focus at all.
    pub fn is_focus_for(&self, uri: &str, node: IpAddr) -> Option<bool> {
        self.focus.delivered_to(uri, node)
    }

    /// The focus URI a dialog (by Call-ID) belongs to, if it is a focus dialog.
    pub fn focus_of_dialog(&self, call_id: &str) -> Option<&str> {
        self.focus.focus_of_dialog(call_id)
    }
}
