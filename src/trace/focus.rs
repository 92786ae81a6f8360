//! Conference focus dialogs (RFC 4579 `isfocus`), by focus URI.
//!
//! A dialog is a focus dialog when a Contact in its INVITE or in the 2xx
//! answering it carries `;isfocus`. The focus URI is that Contact's URI;
//! the participant is the other side, named by its remote target (its
//! Contact). PoC uses them twice: client B's pre-established session is a
//! focus dialog whose focus Contact reaches client B; the PoC session's
//! dialogs (one per participating server) share the session's URI.
//!
//! Pre-established sessions last long and a trace may hold hundreds of
//! thousands, so dialogs are kept compactly: Call-IDs and focus URIs by
//! their 64-bit fingerprints ([`call_id_key`](super::call_id_key), [`canonical_hash`]), only
//! the participant's URI as text.

use std::collections::VecDeque;
use std::net::IpAddr;

use rustc_hash::FxHashMap as HashMap;

use super::Msg;
use super::uri::canonical_hash;
use crate::capture::Timestamp;

/// How long an INVITE waits for its final response (ringing can be long).
const INVITE_HORIZON_NS: i128 = 180_000_000_000;
/// How long a dialog stays known after its BYE (so a flow still in
/// progress can look it up).
const ENDED_HORIZON_NS: i128 = 64_000_000_000;
/// How long a dialog whose end the capture never shows stays known: a day
/// of capture time (pre-established sessions last long; memory must not
/// grow with the file's length all the same).
const DIALOG_HORIZON_NS: i128 = 86_400_000_000_000;

/// One participant dialog of a conference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FocusDialog {
    /// The dialog's Call-ID, as [`call_id_key`](super::call_id_key) fingerprints it.
    pub call_id: u64,
    /// The participant's remote target (its Contact URI, or the INVITE's
    /// Request-URI until its 2xx is seen).
    pub participant: Box<str>,
    /// The nodes the dialog's setup touched (the INVITE's sender, every
    /// node the focus Contact was delivered to; at most [`MAX_NODES`]):
    /// they tell which participating server the dialog serves, whatever
    /// proxies lie between.
    pub nodes: Vec<IpAddr>,
    /// Its INVITE was answered 2xx (the dialog exists).
    pub established: bool,
}

/// A focus dialog answered 2xx: the moment a PoC session is set up with a
/// participating server (flows.md, "When flow 3 is due").
#[derive(Debug, Clone)]
pub struct Established {
    /// The focus URI (the session).
    pub focus_uri: Box<str>,
    /// The nodes the dialog's setup touched.
    pub nodes: Vec<IpAddr>,
}

/// The most INVITEs awaiting a final response, and the most focus dialogs,
/// kept at once: beyond either, the oldest is dropped first (counted). A
/// flood of INVITEs never answered cannot grow memory past it.
pub const MAX_PENDING: usize = 200_000;

/// The most nodes kept per dialog (a chain longer than this is unusual;
/// the first ones are kept).
pub const MAX_NODES: usize = 8;

#[derive(Debug, Default)]
struct Focus {
    /// The focus URI as first written.
    uri: Box<str>,
    dialogs: Vec<FocusDialog>,
    delivered_to: Vec<IpAddr>,
}

#[derive(Debug, Default)]
pub(super) struct FocusRegistry {
    /// Focus URI fingerprint → its dialogs and the nodes its Contact reached.
    by_uri: HashMap<u64, Focus>,
    /// Call-ID fingerprint → focus URI fingerprint.
    dialog_focus: HashMap<u64, u64>,
    /// INVITEs awaiting their final response: Call-ID → (Contact, time,
    /// the first hop's sender).
    invites: HashMap<u64, (Box<str>, Timestamp, IpAddr)>,
    invite_order: VecDeque<(Timestamp, u64)>,
    ended: VecDeque<(Timestamp, u64)>,
    /// Dialogs in order of creation, for the [`DIALOG_HORIZON_NS`] bound.
    created: VecDeque<(Timestamp, u64)>,
    /// Dropped by the count bound: INVITEs awaiting an answer, dialogs.
    pub(super) evicted_invites: u64,
    pub(super) evicted_dialogs: u64,
}

fn contact_of<'a>(msg: &Msg<'a>) -> Option<(&'a str, bool)> {
    let na = msg.sip.contact()?;
    Some((na.uri_str()?, na.param("isfocus").is_some()))
}

/// Can the Contact carry `;isfocus`? A byte scan that rules out most
/// messages before the Contact is parsed.
fn may_be_focus(msg: &Msg<'_>) -> bool {
    msg.sip
        .raw_header(crate::sip::HeaderKind::Contact)
        .is_some_and(holds_isfocus)
}

/// Does `v` hold `isfocus` in any case? Contacts seldom hold an 'f': find
/// those, then compare.
fn holds_isfocus(v: &[u8]) -> bool {
    const NEEDLE: &[u8] = b"isfocus";
    memchr::memchr2_iter(b'f', b'F', v).any(|at| {
        at >= 2
            && v.get(at - 2..at - 2 + NEEDLE.len())
                .is_some_and(|w| w.eq_ignore_ascii_case(NEEDLE))
    })
}

fn is(method: &str, name: &str) -> bool {
    method == name || method.eq_ignore_ascii_case(name)
}

impl FocusRegistry {
    /// Observe one message; returns the focus dialog it establishes, if
    /// it is the first 2xx to a focus dialog's INVITE.
    pub(super) fn observe(&mut self, msg: &Msg<'_>) -> Option<Established> {
        self.observe_dialogs(msg);
        let ok = msg.status.is_some_and(|s| (200..300).contains(&s));
        if !ok || !is(msg.cseq_method, "INVITE") {
            return None;
        }
        let key = *self.dialog_focus.get(&msg.call_key)?;
        let focus = self.by_uri.get_mut(&key)?;
        let d = focus
            .dialogs
            .iter_mut()
            .find(|d| d.call_id == msg.call_key)?;
        if d.established {
            return None;
        }
        d.established = true;
        Some(Established {
            focus_uri: focus.uri.clone(),
            nodes: d.nodes.clone(),
        })
    }

    fn observe_dialogs(&mut self, msg: &Msg<'_>) {
        let call = msg.call_key;
        match (msg.method, msg.status) {
            (Some(m), _) if is(m, "INVITE") => {
                // Most INVITEs are ruled out as focus ones by a byte scan.
                let focus = may_be_focus(msg)
                    .then(|| contact_of(msg))
                    .flatten()
                    .filter(|&(_, isfocus)| isfocus);
                if let Some((contact, _)) = focus {
                    // The focus invites a participant: the participant is
                    // the Request-URI until its 2xx names its Contact.
                    let target = msg.sip.request_uri_str().unwrap_or_default();
                    let key = self.add_dialog(contact, call, target, msg.time);
                    self.touch(key, call, msg.src.ip());
                    self.deliver(key, call, msg.dst.ip());
                } else if let std::collections::hash_map::Entry::Vacant(e) =
                    self.invites.entry(call)
                    && let Some((contact, _)) = contact_of(msg)
                {
                    // The first hop of an INVITE waits for its final
                    // response; a later hop changes nothing.
                    e.insert((contact.into(), msg.time, msg.src.ip()));
                    self.invite_order.push_back((msg.time, call));
                    while self.invites.len() > MAX_PENDING {
                        let Some((t, old)) = self.invite_order.pop_front() else {
                            break;
                        };
                        if self.invites.get(&old).is_some_and(|(_, at, _)| *at == t) {
                            self.invites.remove(&old);
                            self.evicted_invites += 1;
                        }
                    }
                }
            }
            (Some(m), _) if is(m, "BYE") && self.dialog_focus.contains_key(&call) => {
                self.ended.push_back((msg.time, call));
            }
            (None, Some(status)) if status >= 200 && is(msg.cseq_method, "INVITE") => {
                if status >= 300 {
                    // A failed INVITE makes no dialog: stop waiting for its 2xx.
                    self.invites.remove(&call);
                    return;
                }
                // The first 2xx hop seen pairs the INVITE; the others (the
                // same 2xx proxied) find the dialog by its Call-ID.
                let invite = self.invites.remove(&call);
                let invite_sender = invite.as_ref().map(|i| i.2);
                let invite_contact = invite.map(|(c, _, _)| c);
                let known = self.dialog_focus.get(&call).copied();
                if may_be_focus(msg) {
                    let Some((contact, isfocus)) = contact_of(msg) else {
                        return;
                    };
                    if isfocus {
                        let key = match (known, invite_contact.as_deref()) {
                            // A later hop of the focus's 2xx.
                            (Some(key), None) => key,
                            (_, participant) => self.add_dialog(
                                contact,
                                call,
                                participant.unwrap_or_default(),
                                msg.time,
                            ),
                        };
                        if let Some(sender) = invite_sender {
                            self.touch(key, call, sender);
                        }
                        self.deliver(key, call, msg.dst.ip());
                        return;
                    }
                }
                if let Some(key) = known
                    && let Some((contact, _)) = contact_of(msg)
                {
                    // The participant answered the focus's INVITE: its
                    // Contact is the remote target.
                    if let Some(d) = self
                        .by_uri
                        .get_mut(&key)
                        .and_then(|f| f.dialogs.iter_mut().find(|d| d.call_id == call))
                        && *d.participant != *contact
                    {
                        d.participant = contact.into();
                    }
                }
            }
            _ => {}
        }
    }

    /// Records a focus dialog; returns the focus URI's fingerprint.
    fn add_dialog(
        &mut self,
        focus_uri: &str,
        call: u64,
        participant: &str,
        time: Timestamp,
    ) -> u64 {
        let key = canonical_hash(focus_uri);
        let focus = self.by_uri.entry(key).or_default();
        if focus.uri.is_empty() {
            focus.uri = focus_uri.into();
        }
        match focus.dialogs.iter_mut().find(|d| d.call_id == call) {
            Some(d) => {
                if !participant.is_empty() && *d.participant != *participant {
                    d.participant = participant.into();
                }
            }
            None => {
                if self.dialog_focus.len() >= MAX_PENDING
                    && let Some((_, old)) = self.created.pop_front()
                {
                    self.evicted_dialogs += 1;
                    let focus_key = self.dialog_focus.remove(&old);
                    if let Some(f) = focus_key.and_then(|k| self.by_uri.get_mut(&k)) {
                        f.dialogs.retain(|d| d.call_id != old);
                    }
                }
                let focus = self.by_uri.entry(key).or_default();
                focus.dialogs.push(FocusDialog {
                    call_id: call,
                    participant: participant.into(),
                    nodes: Vec::new(),
                    established: false,
                });
                self.created.push_back((time, call));
            }
        }
        self.dialog_focus.insert(call, key);
        key
    }

    fn deliver(&mut self, key: u64, call: u64, node: IpAddr) {
        let focus = self.by_uri.entry(key).or_default();
        if !focus.delivered_to.contains(&node) {
            focus.delivered_to.push(node);
        }
        self.touch(key, call, node);
    }

    /// Notes a node the setup of dialog `call` touched.
    fn touch(&mut self, key: u64, call: u64, node: IpAddr) {
        let focus = self.by_uri.entry(key).or_default();
        if let Some(d) = focus.dialogs.iter_mut().find(|d| d.call_id == call)
            && d.nodes.len() < MAX_NODES
            && !d.nodes.contains(&node)
        {
            d.nodes.push(node);
        }
    }

    /// Did the setup of this focus dialog touch `node`? `None` when the
    /// Call-ID is not a known focus dialog.
    pub(super) fn dialog_touches(&self, call_key: u64, node: IpAddr) -> Option<bool> {
        let key = self.dialog_focus.get(&call_key)?;
        let d = self
            .by_uri
            .get(key)?
            .dialogs
            .iter()
            .find(|d| d.call_id == call_key)?;
        Some(d.nodes.contains(&node))
    }

    pub(super) fn dialogs(&self, focus_uri: &str) -> &[FocusDialog] {
        self.by_uri
            .get(&canonical_hash(focus_uri))
            .map(|f| f.dialogs.as_slice())
            .unwrap_or_default()
    }

    pub(super) fn delivered_to(&self, focus_uri: &str, node: IpAddr) -> Option<bool> {
        self.by_uri
            .get(&canonical_hash(focus_uri))
            .map(|f| f.delivered_to.contains(&node))
    }

    pub(super) fn is_focus_dialog(&self, call_key: u64) -> bool {
        self.dialog_focus.contains_key(&call_key)
    }

    pub(super) fn expire(&mut self, now: Timestamp) {
        let age = |t: Timestamp| now.as_nanos() - t.as_nanos();
        while let Some(&(t, call)) = self.invite_order.front() {
            if age(t) <= INVITE_HORIZON_NS {
                break;
            }
            self.invite_order.pop_front();
            if self.invites.get(&call).is_some_and(|(_, at, _)| *at == t) {
                self.invites.remove(&call);
            }
        }
        while let Some(&(t, call)) = self.ended.front() {
            if age(t) <= ENDED_HORIZON_NS {
                break;
            }
            self.ended.pop_front();
            self.forget(call);
        }
        while let Some(&(t, call)) = self.created.front() {
            if age(t) <= DIALOG_HORIZON_NS {
                break;
            }
            self.created.pop_front();
            self.forget(call);
        }
    }

    fn forget(&mut self, call: u64) {
        if let Some(key) = self.dialog_focus.remove(&call)
            && let Some(focus) = self.by_uri.get_mut(&key)
        {
            focus.dialogs.retain(|d| d.call_id != call);
            if focus.dialogs.is_empty() {
                self.by_uri.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::holds_isfocus;

    #[test]
    fn isfocus_is_found_in_any_case_and_place() {
        for yes in [
            &b"<sip:conf@x>;isfocus"[..],
            b"isfocus",
            b"<sip:conf@x;IsFocus>",
            b"<sip:f@ffff.example>;ffisfocusf",
        ] {
            assert!(holds_isfocus(yes), "{}", String::from_utf8_lossy(yes));
        }
        for no in [
            &b"<sip:conf@x>;focus"[..],
            b"<sip:f@x>;isfocu",
            b"sfocus",
            b"",
            b"<sip:a@x>;is-focus",
        ] {
            assert!(!holds_isfocus(no), "{}", String::from_utf8_lossy(no));
        }
    }
}
