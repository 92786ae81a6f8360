//! Conference subscriptions (RFC 4575 `Event: conference`) and the flow-3
//! notifications they make due.
//!
//! flows.md ("When flow 3 is due"): once client A's subscription to its
//! pre-established session is accepted by server-a, and a PoC session
//! dialog is then set up with server-a for client A (its To names client
//! A's address of record, the From of the SUBSCRIBE), server-a owes client
//! A a NOTIFY naming that session. The trace turns that pair of facts into
//! a [`Due`] the checker opens an instance at, so a NOTIFY that never came
//! is a step that is missing, not a flow that never started.
//!
//! Bounded: SUBSCRIBEs awaiting their answer for [`PENDING_HORIZON_NS`],
//! accepted subscriptions for their `Expires` (at most a day), and at most
//! [`MAX_SUBSCRIPTIONS`] of each, the oldest evicted first (counted).

use std::collections::VecDeque;
use std::net::IpAddr;

use rustc_hash::FxHashMap as HashMap;

use super::Msg;
use super::focus::Established;
use super::uri::canonical_hash;
use crate::capture::Timestamp;

/// How long a SUBSCRIBE waits for its 2xx.
const PENDING_HORIZON_NS: i128 = 64_000_000_000;
/// The longest a subscription is kept without a refresh (a day).
const MAX_LIFETIME_NS: i128 = 86_400_000_000_000;
/// The most subscriptions (and pending SUBSCRIBEs) kept at once.
pub const MAX_SUBSCRIPTIONS: usize = 200_000;

/// A notification that became due.
#[derive(Debug, Clone)]
pub struct Due {
    /// The PoC session (the focus URI of the session dialog).
    pub session: Box<str>,
    /// The subscribed conference: client A's pre-established session.
    pub subscribed: Box<str>,
    /// server-a: the node that accepted the subscription.
    pub notifier: IpAddr,
    /// client A's node (the SUBSCRIBE's sender).
    pub subscriber: IpAddr,
    /// The subscription dialog's Call-ID fingerprint (the NOTIFY's).
    pub subscription_call: u64,
    /// The message that made it due: the session dialog's 2xx.
    pub frame: u64,
    pub time: Timestamp,
    pub call_id: String,
}

#[derive(Debug, Clone)]
struct Subscription {
    call: u64,
    subscribed: Box<str>,
    notifier: IpAddr,
    subscriber: IpAddr,
    until: i128,
}

#[derive(Debug)]
struct Pending {
    subscribed: Box<str>,
    aor: u64,
    subscriber: IpAddr,
    time: Timestamp,
}

/// The conference subscriptions of one capture.
#[derive(Debug, Default)]
pub(super) struct Subscriptions {
    pending: HashMap<u64, Pending>,
    pending_order: VecDeque<(Timestamp, u64)>,
    /// Address of record (canonical fingerprint) → its subscriptions.
    by_aor: HashMap<u64, Vec<Subscription>>,
    order: VecDeque<(i128, u64, u64)>,
    count: usize,
    /// Evicted by the count bound.
    pub evicted: u64,
}

fn conference_event(msg: &Msg<'_>) -> bool {
    msg.sip.header("event").is_some_and(|v| {
        let t = v.text();
        let t = t.split(';').next().unwrap_or("").trim();
        t.eq_ignore_ascii_case("conference")
    })
}

impl Subscriptions {
    pub(super) fn observe(&mut self, msg: &Msg<'_>) {
        let is = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
        match (msg.method, msg.status) {
            (Some(m), _) if is(m, "SUBSCRIBE") => {
                if self.pending.contains_key(&msg.call_key) || !conference_event(msg) {
                    return;
                }
                let (Some(ruri), Some(from)) = (
                    msg.sip.request_uri_str(),
                    msg.sip.from().and_then(|f| f.uri_str().map(str::to_string)),
                ) else {
                    return;
                };
                if self.pending.len() >= MAX_SUBSCRIPTIONS
                    && let Some((_, old)) = self.pending_order.pop_front()
                {
                    self.pending.remove(&old);
                    self.evicted += 1;
                }
                self.pending.insert(
                    msg.call_key,
                    Pending {
                        subscribed: ruri.into(),
                        aor: canonical_hash(&from),
                        subscriber: msg.src.ip(),
                        time: msg.time,
                    },
                );
                self.pending_order.push_back((msg.time, msg.call_key));
            }
            (None, Some(s)) if (200..300).contains(&s) && is(msg.cseq_method, "SUBSCRIBE") => {
                let Some(p) = self.pending.remove(&msg.call_key) else {
                    return;
                };
                let until = msg.time.as_nanos()
                    + msg
                        .sip
                        .header("expires")
                        .and_then(|v| v.text().trim().parse::<i128>().ok())
                        .map_or(MAX_LIFETIME_NS, |e| {
                            (e * 1_000_000_000).min(MAX_LIFETIME_NS)
                        });
                if self.count >= MAX_SUBSCRIPTIONS {
                    self.evict_oldest();
                }
                self.by_aor.entry(p.aor).or_default().push(Subscription {
                    call: msg.call_key,
                    subscribed: p.subscribed,
                    // The first 2xx hop is sent by the notifier.
                    notifier: msg.src.ip(),
                    subscriber: p.subscriber,
                    until,
                });
                self.count += 1;
                self.order.push_back((until, p.aor, msg.call_key));
            }
            _ => {}
        }
    }

    /// The notifications a just-established session dialog makes due.
    pub(super) fn due(&self, msg: &Msg<'_>, e: &Established, out: &mut Vec<Due>) {
        let Some(to) = msg.sip.to().and_then(|t| t.uri_str().map(str::to_string)) else {
            return;
        };
        let Some(subs) = self.by_aor.get(&canonical_hash(&to)) else {
            return;
        };
        for s in subs {
            if e.nodes.contains(&s.notifier) && s.until >= msg.time.as_nanos() {
                out.push(Due {
                    session: e.focus_uri.clone(),
                    subscribed: s.subscribed.clone(),
                    notifier: s.notifier,
                    subscriber: s.subscriber,
                    subscription_call: s.call,
                    frame: msg.frame,
                    time: msg.time,
                    call_id: msg
                        .sip
                        .call_id_bytes()
                        .map(|b| String::from_utf8_lossy(b).into_owned())
                        .unwrap_or_default(),
                });
            }
        }
    }

    fn evict_oldest(&mut self) {
        if let Some((_, aor, call)) = self.order.pop_front() {
            self.remove(aor, call);
            self.evicted += 1;
        }
    }

    fn remove(&mut self, aor: u64, call: u64) {
        if let Some(v) = self.by_aor.get_mut(&aor) {
            let before = v.len();
            v.retain(|s| s.call != call);
            self.count -= before - v.len();
            if v.is_empty() {
                self.by_aor.remove(&aor);
            }
        }
    }

    pub(super) fn expire(&mut self, now: Timestamp) {
        let now = now.as_nanos();
        while let Some(&(t, call)) = self.pending_order.front() {
            if now - t.as_nanos() <= PENDING_HORIZON_NS {
                break;
            }
            self.pending_order.pop_front();
            if self.pending.get(&call).is_some_and(|p| p.time == t) {
                self.pending.remove(&call);
            }
        }
        while let Some(&(until, aor, call)) = self.order.front() {
            if until >= now {
                break;
            }
            self.order.pop_front();
            self.remove(aor, call);
        }
    }
}
