//! One flow instance as a causal script of timed messages.
//!
//! Every message is created with the messages it depends on (`after`) and
//! a delay; its time is the latest of theirs plus the delay, so time order
//! is causal order. A message is omitted when a message it depends on is
//! omitted, or when it is the step a "missing hop" fault removes: the step
//! and everything that causally follows it then never happens, while
//! independent traffic (a 202 Accepted, a retransmission) still does.
//! The scheduler later merges many scripts by time and records the frame
//! each message was completed in, from which the truth is computed.

use crate::sip::{Kind, Txn};

/// Index of a message in its script.
pub type MsgId = usize;

/// A step of a flow, as numbered in flows.md; `part` tells which
/// participating server a per-participant step (flow 2, steps 6-11) is
/// about (0 for every other step).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct StepTag {
    /// Step number.
    pub step: u8,
    /// Participant index.
    pub part: u8,
}

/// One message of a script.
#[derive(Debug, Clone)]
pub struct Msg {
    /// Send time, microseconds since the epoch.
    pub t: u64,
    /// Never sent (a missing-hop fault, or something that depends on one).
    pub omitted: bool,
    /// Index of its transaction.
    pub txn: u32,
    /// Which message of the transaction.
    pub kind: Kind,
    /// The flow step it is (first transmissions only).
    pub step: Option<StepTag>,
    /// The step carries the wrong content (a wrong-response fault).
    pub wrong: bool,
    /// Written in the same TCP write as this earlier message.
    pub with: Option<MsgId>,
    /// A retransmission of an earlier message.
    pub retrans: bool,
    /// Frame in which it was completed (0 until written).
    pub frame: u64,
}

/// A group of messages written together (one, or two sharing a TCP write).
#[derive(Debug, Clone, Copy)]
pub struct Event {
    /// Send time.
    pub t: u64,
    /// First message.
    pub a: MsgId,
    /// Second message, if coalesced with the first.
    pub b: Option<MsgId>,
}

/// A flow instance being built, then played.
#[derive(Debug, Default)]
pub struct Script {
    /// Transactions referred to by the messages.
    pub txns: Vec<Txn>,
    /// Messages in creation (causal) order.
    pub msgs: Vec<Msg>,
    t0: u64,
    missing: Option<StepTag>,
}

impl Script {
    /// A script starting at `t0`; `missing` is the step a missing-hop fault
    /// removes, if any.
    pub fn new(t0: u64, missing: Option<StepTag>) -> Self {
        Script {
            t0,
            missing,
            ..Default::default()
        }
    }

    /// Add a transaction; returns its index.
    pub fn txn(&mut self, t: Txn) -> usize {
        self.txns.push(t);
        self.txns.len() - 1
    }

    /// Time of message `id`.
    pub fn time(&self, id: MsgId) -> u64 {
        self.msgs.get(id).map_or(self.t0, |m| m.t)
    }

    /// Whether message `id` is omitted.
    #[cfg(test)]
    pub fn omitted(&self, id: MsgId) -> bool {
        self.msgs.get(id).is_some_and(|m| m.omitted)
    }

    fn when(&self, after: &[MsgId]) -> (u64, bool) {
        let mut t = self.t0;
        let mut omitted = false;
        for &a in after {
            if let Some(m) = self.msgs.get(a) {
                t = t.max(m.t);
                omitted |= m.omitted;
            }
        }
        (t, omitted)
    }

    fn push(
        &mut self,
        t: u64,
        omitted: bool,
        txn: usize,
        kind: Kind,
        step: Option<StepTag>,
    ) -> MsgId {
        let omitted = omitted || (step.is_some() && step == self.missing);
        self.msgs.push(Msg {
            t,
            omitted,
            txn: txn as u32,
            kind,
            step,
            wrong: false,
            with: None,
            retrans: false,
            frame: 0,
        });
        self.msgs.len() - 1
    }

    /// Send message `kind` of `txn` `delay` µs after the latest of `after`.
    pub fn send(&mut self, after: &[MsgId], delay: u64, txn: usize, kind: Kind) -> MsgId {
        let (t, om) = self.when(after);
        self.push(t + delay.max(1), om, txn, kind, None)
    }

    /// Like [`send`](Self::send), for a message that is a flow step.
    pub fn step(
        &mut self,
        after: &[MsgId],
        delay: u64,
        txn: usize,
        kind: Kind,
        step: Option<StepTag>,
    ) -> MsgId {
        let (t, om) = self.when(after);
        self.push(t + delay.max(1), om, txn, kind, step)
    }

    /// Send at an explicit time `t` (an out-of-order fault: a node acting
    /// before what it should wait for), omitted if any of `after` is.
    pub fn step_at(
        &mut self,
        t: u64,
        after: &[MsgId],
        txn: usize,
        kind: Kind,
        step: Option<StepTag>,
    ) -> MsgId {
        let (_, om) = self.when(after);
        self.push(t, om, txn, kind, step)
    }

    /// Send in the same TCP write as `leader` (same time), depending on
    /// `after`.
    pub fn together(
        &mut self,
        leader: MsgId,
        after: &[MsgId],
        txn: usize,
        kind: Kind,
        step: Option<StepTag>,
    ) -> MsgId {
        let (_, om) = self.when(after);
        let t = self.time(leader);
        let id = self.push(t, om, txn, kind, step);
        if let Some(m) = self.msgs.get_mut(id) {
            m.with = Some(leader);
        }
        id
    }

    /// A retransmission of `of`, `delay` µs after it: the same bytes again,
    /// not a step.
    pub fn retransmit(&mut self, of: MsgId, delay: u64) -> MsgId {
        let (txn, kind) = match self.msgs.get(of) {
            Some(m) => (m.txn as usize, m.kind),
            None => return of,
        };
        let id = self.send(&[of], delay, txn, kind);
        if let Some(m) = self.msgs.get_mut(id) {
            m.retrans = true;
        }
        id
    }

    /// Mark a step as carrying the wrong content.
    pub fn mark_wrong(&mut self, id: MsgId) {
        if let Some(m) = self.msgs.get_mut(id) {
            m.wrong = true;
        }
    }

    /// The send events in time order (ties in causal order); coalesced
    /// pairs whose leader is omitted are sent alone.
    pub fn events(&self) -> Vec<Event> {
        let mut ev: Vec<Event> = Vec::with_capacity(self.msgs.len());
        let mut slot: Vec<Option<usize>> = vec![None; self.msgs.len()];
        for (id, m) in self.msgs.iter().enumerate() {
            if m.omitted {
                continue;
            }
            if let Some(l) = m.with
                && let Some(Some(e)) = slot.get(l).copied()
                && let Some(event) = ev.get_mut(e)
                && event.b.is_none()
            {
                event.b = Some(id);
                continue;
            }
            slot[id] = Some(ev.len());
            ev.push(Event {
                t: m.t,
                a: id,
                b: None,
            });
        }
        ev.sort_by_key(|e| (e.t, e.a));
        ev
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::Kind;

    fn tag(step: u8) -> Option<StepTag> {
        Some(StepTag { step, part: 0 })
    }

    #[test]
    fn missing_step_removes_it_and_its_dependents_only() {
        let mut s = Script::new(1000, tag(2));
        let k = Kind::Req { hop: 0 };
        let a = s.step(&[], 5, 0, k, tag(1));
        let b = s.step(&[a], 5, 0, k, tag(2));
        let c = s.step(&[b], 5, 0, k, tag(3));
        let side = s.send(&[a], 7, 0, k);
        let r = s.retransmit(a, 500);
        assert!(!s.omitted(a) && s.omitted(b) && s.omitted(c));
        assert!(!s.omitted(side) && !s.omitted(r));
        assert_eq!(s.time(side), 1012);
        let ev = s.events();
        assert_eq!(ev.iter().map(|e| e.a).collect::<Vec<_>>(), vec![a, side, r]);
    }

    #[test]
    fn coalesced_messages_share_one_event() {
        let mut s = Script::new(0, None);
        let k = Kind::Req { hop: 0 };
        let a = s.send(&[], 10, 0, k);
        let b = s.send(&[a], 10, 0, k);
        let c = s.together(b, &[a], 0, k, None);
        let ev = s.events();
        assert_eq!(ev.len(), 2);
        assert_eq!((ev[1].a, ev[1].b), (b, Some(c)));
    }
}
