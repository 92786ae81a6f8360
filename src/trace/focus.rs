//! Conference focus dialogs (RFC 4579 `isfocus`), by focus URI.
//!
//! A dialog is a focus dialog when a Contact in its INVITE or in the 2xx
//! answering it carries `;isfocus`. The focus URI is that Contact's URI;
//! the participant is the other side, named by its remote target (its
//! Contact). PoC uses them twice: client B's pre-established session is a
//! focus dialog whose focus Contact reaches client B; the PoC session's
//! dialogs (one per participating server) share the session's URI.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use super::Msg;
use super::uri::canonical;
use crate::capture::Timestamp;

/// How long an INVITE waits for its 2xx to be paired (ringing can be long).
const INVITE_HORIZON_NS: i128 = 180_000_000_000;
/// How long a dialog stays known after its BYE (so a flow still in
/// progress can look it up).
const ENDED_HORIZON_NS: i128 = 64_000_000_000;

/// One participant dialog of a conference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FocusDialog {
    pub call_id: String,
    /// The participant's remote target (its Contact URI, or the INVITE's
    /// Request-URI until its 2xx is seen).
    pub participant: String,
}

#[derive(Debug, Default)]
struct Focus {
    dialogs: Vec<FocusDialog>,
    delivered_to: Vec<IpAddr>,
}

#[derive(Debug, Default)]
pub(super) struct FocusRegistry {
    by_uri: HashMap<String, Focus>,
    /// Call-ID → focus URI key, for dialogs and for INVITEs awaiting a 2xx.
    dialog_focus: HashMap<String, String>,
    /// INVITEs seen, awaiting their 2xx: Call-ID → (Contact URI, time).
    invites: HashMap<String, (String, Timestamp)>,
    invite_order: VecDeque<(Timestamp, String)>,
    ended: VecDeque<(Timestamp, String)>,
}

fn contact_of<'a>(msg: &Msg<'a>) -> Option<(String, bool)> {
    let value = msg.sip.header("contact")?;
    let na = value.name_addr()?;
    let uri = na.uri_str()?.to_string();
    let isfocus = na.param("isfocus").is_some();
    Some((uri, isfocus))
}

impl FocusRegistry {
    pub(super) fn observe(&mut self, msg: &Msg<'_>) {
        let is_invite = msg.cseq_method.eq_ignore_ascii_case("INVITE");
        match (msg.sip.method(), msg.sip.status()) {
            (Some(m), _) if m.eq_ignore_ascii_case("INVITE") => {
                let Some((contact, isfocus)) = contact_of(msg) else {
                    return;
                };
                if isfocus {
                    // The focus invites a participant: the participant is
                    // the Request-URI until its 2xx names its Contact.
                    let target = msg.sip.request_uri_str().unwrap_or_default().to_string();
                    self.add_dialog(&contact, msg.call_id, target);
                    self.deliver(&contact, msg.dst.ip());
                } else if !self.invites.contains_key(msg.call_id) {
                    self.invites
                        .insert(msg.call_id.to_string(), (contact, msg.time));
                    self.invite_order
                        .push_back((msg.time, msg.call_id.to_string()));
                }
            }
            (Some(m), _)
                if m.eq_ignore_ascii_case("BYE") && self.dialog_focus.contains_key(msg.call_id) =>
            {
                self.ended.push_back((msg.time, msg.call_id.to_string()));
            }
            (None, Some(status)) if is_invite && (200..300).contains(&status) => {
                let Some((contact, isfocus)) = contact_of(msg) else {
                    return;
                };
                if isfocus {
                    let participant = self
                        .invites
                        .get(msg.call_id)
                        .map(|(c, _)| c.clone())
                        .unwrap_or_default();
                    self.add_dialog(&contact, msg.call_id, participant);
                    self.deliver(&contact, msg.dst.ip());
                } else if let Some(key) = self.dialog_focus.get(msg.call_id).cloned() {
                    // The participant answered the focus's INVITE: its
                    // Contact is the remote target.
                    if let Some(d) = self
                        .by_uri
                        .get_mut(&key)
                        .and_then(|f| f.dialogs.iter_mut().find(|d| d.call_id == msg.call_id))
                    {
                        d.participant = contact;
                    }
                }
            }
            _ => {}
        }
    }

    fn add_dialog(&mut self, focus_uri: &str, call_id: &str, participant: String) {
        let key = canonical(focus_uri);
        let focus = self.by_uri.entry(key.clone()).or_default();
        match focus.dialogs.iter_mut().find(|d| d.call_id == call_id) {
            Some(d) => {
                if !participant.is_empty() {
                    d.participant = participant;
                }
            }
            None => focus.dialogs.push(FocusDialog {
                call_id: call_id.to_string(),
                participant,
            }),
        }
        self.dialog_focus.insert(call_id.to_string(), key);
    }

    fn deliver(&mut self, focus_uri: &str, node: IpAddr) {
        let focus = self.by_uri.entry(canonical(focus_uri)).or_default();
        if !focus.delivered_to.contains(&node) {
            focus.delivered_to.push(node);
        }
    }

    pub(super) fn dialogs(&self, focus_uri: &str) -> Vec<FocusDialog> {
        self.by_uri
            .get(&canonical(focus_uri))
            .map(|f| f.dialogs.clone())
            .unwrap_or_default()
    }

    pub(super) fn delivered_to(&self, focus_uri: &str, node: IpAddr) -> Option<bool> {
        self.by_uri
            .get(&canonical(focus_uri))
            .map(|f| f.delivered_to.contains(&node))
    }

    pub(super) fn focus_of_dialog(&self, call_id: &str) -> Option<&str> {
        self.dialog_focus.get(call_id).map(String::as_str)
    }

    pub(super) fn expire(&mut self, now: Timestamp) {
        let age = |t: Timestamp| now.as_nanos() - t.as_nanos();
        while let Some((t, _)) = self.invite_order.front() {
            if age(*t) <= INVITE_HORIZON_NS {
                break;
            }
            if let Some((t, call_id)) = self.invite_order.pop_front()
                && self.invites.get(&call_id).is_some_and(|(_, at)| *at == t)
            {
                self.invites.remove(&call_id);
            }
        }
        while let Some((t, _)) = self.ended.front() {
            if age(*t) <= ENDED_HORIZON_NS {
                break;
            }
            let Some((_, call_id)) = self.ended.pop_front() else {
                break;
            };
            if let Some(key) = self.dialog_focus.remove(&call_id)
                && let Some(focus) = self.by_uri.get_mut(&key)
            {
                focus.dialogs.retain(|d| d.call_id != call_id);
                if focus.dialogs.is_empty() {
                    self.by_uri.remove(&key);
                }
            }
        }
    }
}
