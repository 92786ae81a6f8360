//! What an instance keeps of a message once it is a step: an owned record
//! of the correlation fields later steps are tied by, and where it was seen.
//!
//! Messages are found through 64-bit fingerprints (the index), but two
//! messages are related only once their bytes are equal: the record keeps
//! the Call-ID, branches and tags as bytes, and every relation compares
//! them. A crafted Call-ID that shares another's fingerprint never links
//! unrelated messages.

use std::net::SocketAddr;

use crate::capture::Timestamp;
use crate::trace::Msg;

/// One hop of a message: a copy of it between two nodes. Reports list a
/// step's hops when its message crossed proxies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hop {
    pub frame: u64,
    pub time: Timestamp,
    pub src: SocketAddr,
    pub dst: SocketAddr,
}

/// The second Via's branch of a message (the hop before a proxy's).
pub(super) fn second_branch<'a>(msg: &Msg<'a>) -> Option<&'a str> {
    msg.sip.vias().nth(1).and_then(|v| v.branch())
}

/// A message seen as a step.
#[derive(Debug, Clone)]
pub(super) struct Seen {
    /// The hop the step names (for a path, or a step whose message a proxy
    /// chain forwarded on, the latest hop).
    pub hop: Hop,
    /// The message's other hops that belong to this step, in order
    /// (earlier hops of a path; hops inside a proxy chain).
    pub hops: Vec<Hop>,
    /// A path step whose message has not yet reached its receiving role.
    pub arrived: bool,
    /// The latest hop of the message when a proxy chain forwarded it on
    /// past the hop the step names (with that copy's branches), so the
    /// next forwarding is still recognised.
    tail: Option<(Hop, Option<Box<str>>, Option<Box<str>>)>,
    pub call_key: u64,
    call_id: Box<[u8]>,
    pub cseq: u32,
    cseq_method: Box<str>,
    branch: Option<Box<str>>,
    via2: Option<Box<str>>,
    from_tag: Option<Box<str>>,
    pub status: Option<u16>,
    /// The Request-URI, kept for steps that name a participant's dialog.
    pub request_uri: Option<Box<str>>,
    /// Why the message, though it is this step, has the wrong content.
    pub wrong: Option<String>,
    /// Seen after the instance's time limit ran out: by how much (ns).
    pub late: Option<i128>,
}

impl Seen {
    /// Record `msg` (its correlation fields as bytes).
    pub fn of(msg: &Msg<'_>, wrong: Option<String>, keep_uri: bool) -> Seen {
        Seen {
            hop: hop_of(msg),
            hops: Vec::new(),
            arrived: true,
            tail: None,
            call_key: msg.call_key,
            call_id: msg.sip.call_id_bytes().unwrap_or_default().into(),
            cseq: msg.cseq,
            cseq_method: msg.cseq_method.into(),
            branch: msg.top_branch().map(Into::into),
            via2: second_branch(msg).map(Into::into),
            from_tag: msg.from_tag().map(Into::into),
            status: msg.status,
            request_uri: if keep_uri {
                msg.sip.request_uri_str().map(Into::into)
            } else {
                None
            },
            wrong,
            late: None,
        }
    }

    /// The same Call-ID, by fingerprint and then by bytes.
    pub fn same_call(&self, msg: &Msg<'_>) -> bool {
        self.call_key == msg.call_key
            && msg.sip.call_id_bytes().unwrap_or_default() == &*self.call_id
    }

    /// The same Call-ID and CSeq (number and method).
    pub fn same_cseq(&self, msg: &Msg<'_>) -> bool {
        self.cseq == msg.cseq && *self.cseq_method == *msg.cseq_method && self.same_call(msg)
    }

    /// Does `msg` carry this step's top Via branch (a response to it)?
    pub fn answered_by(&self, msg: &Msg<'_>) -> bool {
        match (msg.top_branch(), self.branch.as_deref()) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        }
    }

    /// Is `msg` in this message's dialog: the same Call-ID, and its tags
    /// agree with this message's From tag.
    pub fn same_dialog(&self, msg: &Msg<'_>) -> bool {
        self.same_call(msg)
            && match self.from_tag.as_deref() {
                Some(tag) => msg.to_tag() == Some(tag) || msg.from_tag() == Some(tag),
                None => true,
            }
    }

    /// Is `msg` this message again on one of its hops (a retransmission)?
    pub fn again(&self, msg: &Msg<'_>) -> bool {
        let on_hop = |h: &Hop| h.src.ip() == msg.src.ip() && h.dst.ip() == msg.dst.ip();
        let named = on_hop(&self.hop)
            && msg.top_branch().map(str::as_bytes) == self.branch.as_deref().map(str::as_bytes);
        (named || self.hops.iter().any(on_hop) || self.tail.as_ref().is_some_and(|t| on_hop(&t.0)))
            && self.status == msg.status
            && self.same_cseq(msg)
    }

    /// Is `msg` this message forwarded one hop on by the node that
    /// received it (a proxy): sent by that node, the same transaction, and
    /// for a request the proxy's Via pushed on ours, for a response ours
    /// popped?
    pub fn forwarded_as(&self, msg: &Msg<'_>) -> bool {
        let (last, branch, via2) = match &self.tail {
            Some((h, b, v)) => (h, b.as_deref(), v.as_deref()),
            None => (&self.hop, self.branch.as_deref(), self.via2.as_deref()),
        };
        if msg.src.ip() != last.dst.ip() || msg.status != self.status || !self.same_cseq(msg) {
            return false;
        }
        let linked = if self.status.is_some() {
            (msg.top_branch(), via2)
        } else {
            (second_branch(msg), branch)
        };
        matches!(linked, (Some(a), Some(b)) if a == b)
    }

    /// The step names the next hop of the same message (a path going on,
    /// or the receiver turned out to be a proxy): the current hop joins the
    /// step's hops.
    pub fn advance(&mut self, msg: &Msg<'_>) {
        self.hops.push(self.hop);
        if let Some((h, _, _)) = self.tail.take() {
            self.hops.push(h);
        }
        self.hop = hop_of(msg);
        self.branch = msg.top_branch().map(Into::into);
        self.via2 = second_branch(msg).map(Into::into);
    }

    /// A hop inside a proxy chain after the hop the step names: shown
    /// with the step, which keeps naming its hop.
    pub fn pass_through(&mut self, msg: &Msg<'_>) {
        if let Some((h, _, _)) = self.tail.take() {
            self.hops.push(h);
        }
        self.tail = Some((
            hop_of(msg),
            msg.top_branch().map(Into::into),
            second_branch(msg).map(Into::into),
        ));
    }

    /// Every hop of the step, in frame order.
    pub fn all_hops(&self) -> Vec<Hop> {
        let mut v = self.hops.clone();
        v.push(self.hop);
        v.extend(self.tail.as_ref().map(|t| t.0));
        v.sort_by_key(|h| h.frame);
        v
    }
}

/// The hop `msg` was seen on.
pub(super) fn hop_of(msg: &Msg<'_>) -> Hop {
    Hop {
        frame: msg.frame,
        time: msg.time,
        src: msg.src,
        dst: msg.dst,
    }
}
