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

/// The correlation texts of a seen message, in one allocation (a seen step
/// costs one allocation, not six): the Call-ID, the CSeq method, the top
/// and second Via branches, the From tag and the Request-URI.
#[derive(Debug, Clone)]
struct Texts {
    buf: Box<[u8]>,
    /// Where each field ends in `buf` (it starts where the one before ends).
    ends: [u32; FIELDS],
    /// Which fields are present.
    present: u8,
}

const FIELDS: usize = 7;
const CALL: usize = 0;
const METHOD: usize = 1;
const BRANCH: usize = 2;
const VIA2: usize = 3;
const FROM_TAG: usize = 4;
const RURI: usize = 5;
const VIA2_HOST: usize = 6;

impl Texts {
    fn new(fields: [Option<&[u8]>; FIELDS]) -> Texts {
        let len: usize = fields.iter().flatten().map(|f| f.len()).sum();
        let mut buf = Vec::with_capacity(len);
        let mut ends = [0u32; FIELDS];
        let mut present = 0u8;
        for (i, f) in fields.iter().enumerate() {
            if let Some(f) = f {
                buf.extend_from_slice(f);
                present |= 1 << i;
            }
            ends[i] = buf.len() as u32;
        }
        Texts {
            buf: buf.into_boxed_slice(),
            ends,
            present,
        }
    }

    fn get(&self, i: usize) -> Option<&[u8]> {
        if self.present & (1 << i) == 0 {
            return None;
        }
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        self.buf.get(start..self.ends[i] as usize)
    }

    fn fields(&self) -> [Option<&[u8]>; FIELDS] {
        std::array::from_fn(|i| self.get(i))
    }

    /// The same texts with the two branches replaced.
    fn with_branches(&self, branch: Option<&[u8]>, via2: Option<&[u8]>) -> Texts {
        let mut f = self.fields();
        f[BRANCH] = branch;
        f[VIA2] = via2;
        Texts::new(f)
    }
}

/// The latest hop of a message past the hop its step names, with that
/// copy's top and second Via branches.
type Tail = (Hop, Option<Box<str>>, Option<Box<str>>);

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
    tail: Option<Tail>,
    pub call_key: u64,
    pub cseq: u32,
    texts: Texts,
    pub status: Option<u16>,
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
            cseq: msg.cseq,
            texts: Texts::new([
                Some(msg.sip.call_id_bytes().unwrap_or_default()),
                Some(msg.cseq_method.as_bytes()),
                msg.top_branch().map(str::as_bytes),
                second_branch(msg).map(str::as_bytes),
                msg.from_tag().map(str::as_bytes),
                if keep_uri {
                    msg.sip.request_uri_str().map(str::as_bytes)
                } else {
                    None
                },
                msg.sip
                    .vias()
                    .nth(1)
                    .and_then(|v| v.host())
                    .map(str::as_bytes),
            ]),
            status: msg.status,
            wrong,
            late: None,
        }
    }

    /// The same Call-ID, by fingerprint and then by bytes.
    pub fn same_call(&self, msg: &Msg<'_>) -> bool {
        self.call_key == msg.call_key
            && Some(msg.sip.call_id_bytes().unwrap_or_default()) == self.texts.get(CALL)
    }

    /// The same Call-ID and CSeq (number and method).
    pub fn same_cseq(&self, msg: &Msg<'_>) -> bool {
        self.cseq == msg.cseq
            && self.texts.get(METHOD) == Some(msg.cseq_method.as_bytes())
            && self.same_call(msg)
    }

    /// Does `msg` carry this step's top Via branch (a response to it)?
    pub fn answered_by(&self, msg: &Msg<'_>) -> bool {
        match (msg.top_branch(), self.texts.get(BRANCH)) {
            (Some(a), Some(b)) => a.as_bytes() == b,
            _ => true,
        }
    }

    /// Is `msg` in this message's dialog: the same Call-ID, and its tags
    /// agree with this message's From tag.
    pub fn same_dialog(&self, msg: &Msg<'_>) -> bool {
        self.same_call(msg)
            && match self.texts.get(FROM_TAG) {
                Some(tag) => {
                    msg.to_tag().map(str::as_bytes) == Some(tag)
                        || msg.from_tag().map(str::as_bytes) == Some(tag)
                }
                None => true,
            }
    }

    /// Is `msg` this message again on one of its hops (a retransmission)?
    pub fn again(&self, msg: &Msg<'_>) -> bool {
        let on_hop = |h: &Hop| h.src.ip() == msg.src.ip() && h.dst.ip() == msg.dst.ip();
        let named =
            on_hop(&self.hop) && msg.top_branch().map(str::as_bytes) == self.texts.get(BRANCH);
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
            Some((h, b, v)) => (
                h,
                b.as_deref().map(str::as_bytes),
                v.as_deref().map(str::as_bytes),
            ),
            None => (&self.hop, self.texts.get(BRANCH), self.texts.get(VIA2)),
        };
        if msg.src.ip() != last.dst.ip() || msg.status != self.status || !self.same_cseq(msg) {
            return false;
        }
        let linked = if self.status.is_some() {
            (msg.top_branch(), via2)
        } else {
            (second_branch(msg), branch)
        };
        matches!(linked, (Some(a), Some(b)) if a.as_bytes() == b)
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
        self.texts = self.texts.with_branches(
            msg.top_branch().map(str::as_bytes),
            second_branch(msg).map(str::as_bytes),
        );
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

    /// The node the second Via names, when it is an address: for a
    /// request, the node that sent the copy before this one; for a
    /// response, the node it goes to next. It tells an unbound role's node
    /// from a hop the capture lacks.
    pub fn via2_node(&self) -> Option<std::net::IpAddr> {
        let h = std::str::from_utf8(self.texts.get(VIA2_HOST)?).ok()?;
        h.trim_start_matches('[').trim_end_matches(']').parse().ok()
    }

    /// The Request-URI, kept for requests.
    pub fn request_uri(&self) -> Option<&str> {
        std::str::from_utf8(self.texts.get(RURI)?).ok()
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
