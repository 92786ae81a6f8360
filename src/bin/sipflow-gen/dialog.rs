//! A SIP dialog's state, to build the requests sent inside it.
//!
//! In-dialog requests go to the remote target (the peer's Contact), carry
//! the route set learnt from Record-Route, and use each side's own CSeq
//! counter; getting these right is what makes a generated trace look like
//! one from real user agents.

use crate::sip::{Body, CallId, Extra, Method, Path, RouteMode, Txn};
use crate::uri::Uri;

/// One side of a dialog.
#[derive(Debug, Clone, Copy)]
pub struct Party {
    /// Address of record (From/To URI).
    pub aor: Uri,
    /// Dialog tag.
    pub tag: u64,
    /// Contact (the remote target for the other side).
    pub contact: Uri,
    /// The contact is a conference focus (`;isfocus`).
    pub focus: bool,
    /// Last CSeq number this side used.
    pub cseq: u32,
}

/// An established dialog.
#[derive(Debug, Clone, Copy)]
pub struct Dialog {
    /// Call-ID.
    pub call_id: CallId,
    /// Nodes from the caller (dialog initiator) to the callee; the proxies
    /// in between are the route set.
    pub path: Path,
    /// Over TCP.
    pub tcp: bool,
    /// The side that sent the dialog-creating request.
    pub caller: Party,
    /// The other side.
    pub callee: Party,
    /// PoC signalling.
    pub poc: bool,
}

impl Dialog {
    /// The dialog created by the 2xx to `t` (UAC = caller).
    pub fn from_txn(t: &Txn) -> Dialog {
        Dialog {
            call_id: t.call_id,
            path: t.path,
            tcp: t.tcp,
            caller: Party {
                aor: t.from,
                tag: t.from_tag,
                contact: t.contact.unwrap_or(t.from),
                focus: t.contact_focus,
                cseq: t.cseq,
            },
            callee: Party {
                aor: t.to,
                tag: t.uas_tag,
                contact: t.uas_contact.unwrap_or(t.to),
                focus: t.uas_focus,
                cseq: 0,
            },
            poc: t.poc,
        }
    }

    /// A new request inside the dialog, from the caller side if
    /// `by_caller`, else from the callee side (next CSeq of that side).
    pub fn request(&mut self, by_caller: bool, method: Method, branch: u64) -> Txn {
        let (me, peer, path) = if by_caller {
            (&mut self.caller, self.callee, self.path)
        } else {
            (&mut self.callee, self.caller, self.path.reversed())
        };
        me.cseq = if me.cseq == 0 { 1 } else { me.cseq + 1 };
        let contact = matches!(method, Method::Notify | Method::Refer | Method::Subscribe);
        Txn {
            method,
            ruri: peer.contact,
            path,
            tcp: self.tcp,
            call_id: self.call_id,
            cseq: me.cseq,
            from: me.aor,
            from_tag: me.tag,
            to: peer.aor,
            to_tag: peer.tag,
            uas_tag: peer.tag,
            contact: contact.then_some(me.contact),
            contact_focus: me.focus,
            uas_contact: None,
            uas_focus: false,
            route: RouteMode::Dialog,
            record_route: false,
            body: Body::None,
            ok_body: Body::None,
            extra: Extra::None,
            branch,
            poc: self.poc,
        }
    }

    /// The ACK for the 2xx of the dialog-creating INVITE `invite`: a new
    /// transaction (own branches) with the INVITE's CSeq number.
    pub fn ack(&self, invite: &Txn, branch: u64) -> Txn {
        Txn {
            method: Method::Ack,
            ruri: self.callee.contact,
            path: self.path,
            tcp: self.tcp,
            call_id: self.call_id,
            cseq: invite.cseq,
            from: self.caller.aor,
            from_tag: self.caller.tag,
            to: self.callee.aor,
            to_tag: self.callee.tag,
            uas_tag: self.callee.tag,
            contact: None,
            contact_focus: false,
            uas_contact: None,
            uas_focus: false,
            route: RouteMode::Dialog,
            record_route: false,
            body: Body::None,
            ok_body: Body::None,
            extra: Extra::None,
            branch,
            poc: self.poc,
        }
    }
}
