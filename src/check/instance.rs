//! One flow instance while it is open: its bindings and seen steps, and
//! how a message is matched to one of its steps.
//!
//! Matching is two-phase: [`Instance::probe`] says whether and how a
//! message would fit (without changing anything), so that the checker can
//! give a message to the closest of several competing instances;
//! [`Instance::apply`] then records it.

use std::net::{IpAddr, SocketAddr};

use super::eval::{Env, Truth, eval_cond, eval_path};
use super::roles::{Fit, Slot, View, bind};
use super::seen::Seen;
use super::{Key, truncate};
use crate::capture::Timestamp;
use crate::rules::ast::{CondKind, MessagePattern, Relation, Rule, StatusPattern, StepIdx};
use crate::trace::{Msg, Tracker};

/// Steps seen, by rule index (only those reached: memory follows the
/// steps an instance actually saw, not the rule's length), with a position
/// per step up to the last one seen for constant-time lookups.
#[derive(Debug, Clone, Default)]
pub(super) struct SeenSteps {
    items: Vec<(StepIdx, Seen)>,
    /// Per step index: its position in `items` plus one (0: not seen).
    pos: Vec<u16>,
}

impl SeenSteps {
    pub fn get(&self, idx: StepIdx) -> Option<&Seen> {
        match self.pos.get(idx) {
            Some(&p) if p > 0 => self.items.get(p as usize - 1).map(|(_, s)| s),
            _ => None,
        }
    }
    fn get_mut(&mut self, idx: StepIdx) -> Option<&mut Seen> {
        match self.pos.get(idx) {
            Some(&p) if p > 0 => self.items.get_mut(p as usize - 1).map(|(_, s)| s),
            _ => None,
        }
    }
    fn set(&mut self, idx: StepIdx, seen: Seen) {
        if let Some(s) = self.get_mut(idx) {
            *s = seen;
            return;
        }
        if self.pos.len() <= idx {
            self.pos.resize(idx + 1, 0);
        }
        self.items.push((idx, seen));
        // Rules have at most 256 steps (rules::MAX_STEPS).
        self.pos[idx] = self.items.len() as u16;
    }
    pub fn iter(&self) -> impl Iterator<Item = &(StepIdx, Seen)> {
        self.items.iter()
    }
}

/// One participant of a per-participant block.
#[derive(Debug, Clone)]
pub(super) struct Iteration {
    pub participant: String,
    /// The participant's dialog, by [`crate::trace::call_id_key`] fingerprint.
    pub call_id: Option<u64>,
    pub slots: Vec<Slot>,
    pub seen: SeenSteps,
}

/// An open flow instance.
#[derive(Debug)]
pub(super) struct Instance {
    pub rule: usize,
    pub group: u64,
    pub trigger_frame: u64,
    pub trigger_call_id: String,
    /// The trigger's Call-ID fingerprint (an instance is always found by
    /// it, so that a retransmitted trigger meets the instance it started).
    pub trigger_call_key: u64,
    pub slots: Vec<Slot>,
    pub vars: Vec<Option<String>>,
    pub seen: SeenSteps,
    pub iterations: Vec<Iteration>,
    snapshot_done: bool,
    pub from_setup: bool,
    pub last_time: Timestamp,
    /// When the instance stops waiting (capture time, ns), and the
    /// deadline its live timer entry was set for.
    pub deadline_ns: i128,
    pub armed_at: Option<i128>,
    pub keys: Vec<Key>,
    pub evidence: u32,
    /// Vias beyond what the entry step's hop needs (0 fits best).
    pub via_excess: usize,
    /// Opened by the rule's context, before its first step.
    pub from_context: bool,
    /// The deadline that ran out (capture time, ns): the instance waits
    /// one more time limit, so that a late message is reported as late,
    /// with its frame, rather than not seen.
    pub overdue_at: Option<i128>,
    /// The Call-ID of step 1's message, once seen (a context instance
    /// reports it as its trigger).
    pub first_call_id: Option<String>,
}

/// A message accepted as a step, before it is recorded.
#[derive(Debug)]
pub(super) struct Accept {
    seen: Seen,
    bind: [Option<(usize, SocketAddr)>; 2],
    vars: Option<Vec<Option<String>>>,
    evidence: u32,
    /// How close the message is to the instance: 0 the same transaction,
    /// 1 the same dialog, 2 tied otherwise (captured values, roles).
    pub rank: u8,
}

/// How a message would fit an instance.
#[derive(Debug)]
pub(super) enum Claim {
    /// A retransmission of a message the instance holds.
    Again,
    /// A new step.
    Step {
        idx: StepIdx,
        iter: Option<usize>,
        /// A participant met for the first time (no setup in the capture).
        new_participant: Option<String>,
        accept: Box<Accept>,
    },
    /// The next hop of a message the instance holds as step `idx`.
    Hop {
        idx: StepIdx,
        iter: Option<usize>,
        how: HopKind,
    },
}

impl Claim {
    /// 0 is closest (see [`Accept::rank`]).
    pub fn rank(&self) -> u8 {
        match self {
            Claim::Again | Claim::Hop { .. } => 0,
            Claim::Step { accept, .. } => accept.rank,
        }
    }
}

/// What the next hop of a step's message means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HopKind {
    /// A path goes on (`A -> ... -> B`).
    Path,
    /// The node the step delivered to forwarded it: it was a proxy, and
    /// the step names the new hop.
    Retarget,
    /// A hop inside the proxy chain the step delivered to.
    Through,
}

fn in_block(rule: &Rule, idx: StepIdx) -> bool {
    rule.repeat
        .as_ref()
        .is_some_and(|r| idx >= r.first && idx <= r.last)
}

pub(super) fn per_participant(rule: &Rule, role: usize) -> bool {
    rule.repeat
        .as_ref()
        .is_some_and(|r| r.roles.contains(&role))
}

impl Instance {
    /// Can `msg` start an instance at step `entry`? The cheap refusal
    /// [`Instance::trigger`] starts with.
    #[inline]
    pub(super) fn may_trigger(rule: &Rule, msg: &Msg<'_>, entry: StepIdx) -> bool {
        matches!(&rule.steps[entry].message,
            MessagePattern::Request { method } if msg.method == Some(method.as_str()))
    }

    /// Start an instance if `msg` matches the rule's step `entry` (the
    /// first step, or a later hop of the same request: `depth` proxies
    /// after it, for a capture that lacks the first hop). Step 1's captures
    /// and `match`es apply to the message either way.
    pub(super) fn trigger(
        ri: usize,
        rule: &Rule,
        preset: &[Slot],
        msg: &Msg<'_>,
        trace: &Tracker,
        entry: StepIdx,
        depth: usize,
    ) -> Option<Instance> {
        if !Self::may_trigger(rule, msg, entry) {
            return None;
        }
        let vias = if depth == 0 {
            1
        } else {
            msg.sip.vias().count()
        };
        if vias < depth + 1 {
            // A request forwarded `depth` times carries at least depth+1 Vias.
            return None;
        }
        let mut inst = Instance {
            rule: ri,
            group: 0,
            trigger_frame: msg.frame,
            trigger_call_id: String::new(),
            trigger_call_key: msg.call_key,
            slots: preset.to_vec(),
            vars: vec![None; rule.vars.len()],
            seen: SeenSteps::default(),
            iterations: Vec::new(),
            snapshot_done: false,
            from_setup: false,
            last_time: msg.time,
            deadline_ns: 0,
            armed_at: None,
            keys: Vec::new(),
            evidence: 0,
            from_context: false,
            overdue_at: None,
            first_call_id: None,
            via_excess: if depth == 0 {
                msg.sip.vias().count().saturating_sub(1)
            } else {
                vias - (depth + 1)
            },
        };
        if entry > 0 {
            // The message stands for step 1 too: its captures and ties.
            let first = &rule.steps[0];
            if !Self::may_trigger(rule, msg, 0) {
                return None;
            }
            for c in &first.captures {
                inst.vars[c.var] = eval_path(msg, &c.path).map(|x| x.into_owned());
            }
            let roles = inst.role_ips(rule, None);
            let env = Env {
                vars: &inst.vars,
                roles: &roles,
                trace,
            };
            if first
                .matches
                .iter()
                .any(|c| eval_cond(msg, &c.kind, &env) == Truth::False)
            {
                return None;
            }
        }
        let accept = inst.try_step(rule, entry, None, msg, trace, entry > 0)?;
        // The trigger must be right in every respect, not merely related.
        if accept.seen.wrong.is_some() {
            return None;
        }
        // Reported as written, even when it is not UTF-8.
        inst.trigger_call_id = msg
            .sip
            .call_id_bytes()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default();
        inst.record(rule, entry, None, accept, msg, trace);
        Some(inst)
    }

    /// Open an instance at a context (flows.md, "When flow 3 is due"):
    /// its first step is due from the context message on.
    pub(super) fn from_context(
        ri: usize,
        rule: &Rule,
        preset: &[Slot],
        due: &crate::trace::Due,
    ) -> Option<Instance> {
        let ctx = rule.context.as_ref()?;
        let mut slots = preset.to_vec();
        for (role, ip) in [
            (ctx.notifier, due.notifier),
            (ctx.subscriber, due.subscriber),
        ] {
            let Some(role) = role else { continue };
            let addr = SocketAddr::new(ip, 0);
            match &slots[role] {
                Slot::Free | Slot::Chain(_) => {
                    slots[role] = Slot::Given(vec![addr]);
                }
                other if other.addrs().iter().any(|a| a.ip() == ip) => {}
                _ => return None, // the user bound that role elsewhere
            }
        }
        let mut vars = vec![None; rule.vars.len()];
        if let Some(v) = ctx.session {
            vars[v] = Some(due.session.to_string());
        }
        if let Some(v) = ctx.subscribed {
            vars[v] = Some(due.subscribed.to_string());
        }
        Some(Instance {
            rule: ri,
            group: 0,
            trigger_frame: due.frame,
            trigger_call_id: due.call_id.clone(),
            // Found by the subscription's Call-ID: the NOTIFY carries it.
            trigger_call_key: due.subscription_call,
            slots,
            vars,
            seen: SeenSteps::default(),
            iterations: Vec::new(),
            snapshot_done: false,
            from_setup: false,
            last_time: due.time,
            deadline_ns: 0,
            armed_at: None,
            keys: Vec::new(),
            evidence: 0,
            via_excess: 0,
            from_context: true,
            overdue_at: None,
            first_call_id: None,
        })
    }

    fn view<'a>(
        &'a self,
        rule: &'a Rule,
        iter: Option<usize>,
        pp: &'a dyn Fn(usize) -> bool,
    ) -> View<'a> {
        let _ = rule;
        View {
            slots: &self.slots,
            over: iter
                .and_then(|i| self.iterations.get(i))
                .map(|it| it.slots.as_slice()),
            fresh: iter.is_some_and(|i| i >= self.iterations.len()),
            per_participant: pp,
        }
    }

    /// The first address of each role (for conditions that name roles).
    pub(super) fn role_ips(&self, rule: &Rule, iter: Option<usize>) -> Vec<Option<IpAddr>> {
        (0..self.slots.len())
            .map(|r| self.slot(rule, r, iter).addr().map(|a| a.ip()))
            .collect()
    }

    pub(super) fn slot(&self, rule: &Rule, role: usize, iter: Option<usize>) -> &Slot {
        static FREE: Slot = Slot::Free;
        match iter {
            Some(i) if per_participant(rule, role) => self
                .iterations
                .get(i)
                .map(|it| &it.slots[role])
                .unwrap_or(&FREE),
            _ => &self.slots[role],
        }
    }

    fn slot_mut(&mut self, rule: &Rule, role: usize, iter: Option<usize>) -> &mut Slot {
        match iter {
            Some(i) if per_participant(rule, role) && i < self.iterations.len() => {
                &mut self.iterations[i].slots[role]
            }
            _ => &mut self.slots[role],
        }
    }

    pub(super) fn seen_at(&self, rule: &Rule, idx: StepIdx, iter: Option<usize>) -> Option<&Seen> {
        if in_block(rule, idx) {
            match iter {
                Some(i) => self.iterations.get(i).and_then(|it| it.seen.get(idx)),
                None => self.iterations.iter().find_map(|it| it.seen.get(idx)),
            }
        } else {
            self.seen.get(idx)
        }
    }

    fn seen_mut(&mut self, rule: &Rule, idx: StepIdx, iter: Option<usize>) -> Option<&mut Seen> {
        if in_block(rule, idx) {
            self.iterations.get_mut(iter?)?.seen.get_mut(idx)
        } else {
            self.seen.get_mut(idx)
        }
    }

    /// Every Call-ID the instance has seen (a message forwarding one of
    /// its messages on carries one of them).
    pub(super) fn all_call_ids(&self, out: &mut dyn FnMut(u64)) {
        for (_, s) in self.seen.iter() {
            out(s.call_key);
        }
        for it in &self.iterations {
            for (_, s) in it.seen.iter() {
                out(s.call_key);
            }
        }
    }

    /// Could step `idx` still be seen?
    pub(super) fn pending(&self, rule: &Rule, idx: StepIdx) -> bool {
        match &rule.repeat {
            Some(r) if in_block(rule, idx) => {
                (idx == r.first && !self.from_setup)
                    || self
                        .iterations
                        .iter()
                        .any(|it| it.seen.get(idx).is_none_or(|s| !s.arrived))
            }
            _ => self.seen.get(idx).is_none_or(|s| !s.arrived),
        }
    }

    /// How would `msg` fit this instance, if at all? Changes nothing.
    pub(super) fn probe(&self, rule: &Rule, msg: &Msg<'_>, trace: &Tracker) -> Option<Claim> {
        // One pass over what the instance holds: a retransmission, or the
        // next hop of a held message (a copy a proxy forwarded).
        let mut fwd: Option<(StepIdx, Option<usize>)> = None;
        let outer = self.seen.iter().map(|(i, s)| (*i, None, s));
        let inner = self
            .iterations
            .iter()
            .enumerate()
            .flat_map(|(n, it)| it.seen.iter().map(move |(i, s)| (*i, Some(n), s)));
        for (idx, iter, s) in outer.chain(inner) {
            if s.again(msg) {
                return Some(Claim::Again);
            }
            if fwd.is_none() && s.forwarded_as(msg) {
                fwd = Some((idx, iter));
            }
        }
        let first = if self.from_context && self.seen.get(0).is_none() {
            0
        } else {
            1
        };
        // A copy a proxy forwarded of a message the instance holds goes on
        // that message's journey: only a step of its transaction group
        // can take it (the REFER a core forwards to part-b is not part-b's
        // own REFER, though it is also addressed to the session).
        let journey = fwd.map(|(idx, _)| rule.txn_group[idx]);
        for idx in first..rule.steps.len() {
            if journey.is_some_and(|g| rule.txn_group[idx] != g) {
                continue;
            }
            if let Some(r) = rule.repeat.as_ref().filter(|_| in_block(rule, idx)) {
                for i in 0..self.iterations.len() {
                    // A participant's block starts in its own dialog.
                    let other_dialog = idx == r.first
                        && self.iterations[i]
                            .call_id
                            .is_some_and(|c| c != msg.call_key);
                    if !other_dialog
                        && self.iterations[i].seen.get(idx).is_none()
                        && let Some(accept) = self.try_step(rule, idx, Some(i), msg, trace, false)
                    {
                        return Some(Claim::Step {
                            idx,
                            iter: Some(i),
                            new_participant: None,
                            accept: Box::new(accept),
                        });
                    }
                }
                if idx == r.first && self.may_add_participant(rule) {
                    // A participant not met yet: an iteration past the last.
                    let fresh = Some(self.iterations.len());
                    if let Some(accept) = self.try_step(rule, idx, fresh, msg, trace, false) {
                        return Some(Claim::Step {
                            idx,
                            iter: None,
                            new_participant: Some(
                                msg.sip.request_uri_str().unwrap_or_default().to_string(),
                            ),
                            accept: Box::new(accept),
                        });
                    }
                }
            } else if self.seen.get(idx).is_none()
                && let Some(accept) = self.try_step(rule, idx, None, msg, trace, false)
            {
                return Some(Claim::Step {
                    idx,
                    iter: None,
                    new_participant: None,
                    accept: Box::new(accept),
                });
            }
        }
        let (idx, iter) = fwd?;
        self.probe_hop(rule, msg, idx, iter)
    }

    /// `msg` forwards step `idx`'s message one hop on: what that hop is.
    fn probe_hop(
        &self,
        rule: &Rule,
        msg: &Msg<'_>,
        idx: StepIdx,
        iter: Option<usize>,
    ) -> Option<Claim> {
        let pp = |r: usize| per_participant(rule, r);
        let step = &rule.steps[idx];
        let how = if step.path {
            HopKind::Path
        } else if rule.proxies[step.to] {
            HopKind::Through
        } else if self.retargetable(rule, idx, iter) {
            HopKind::Retarget
        } else {
            return None;
        };
        // Inside a chain, the next node must be free to join it.
        if how == HopKind::Through
            && self.view(rule, iter, &pp).fit(step.to, msg.dst, true) == Fit::No
        {
            return None;
        }
        Some(Claim::Hop { idx, iter, how })
    }

    /// May step `idx`'s receiving role move on to the next node the
    /// message reaches? Only while that binding is this step's alone.
    fn retargetable(&self, rule: &Rule, idx: StepIdx, iter: Option<usize>) -> bool {
        let to = rule.steps[idx].to;
        if !matches!(self.slot(rule, to, iter), Slot::Node { by: Some(b), .. } if *b == idx) {
            return false;
        }
        let uses = |other: StepIdx| {
            other != idx && (rule.steps[other].from == to || rule.steps[other].to == to)
        };
        !self.seen.iter().any(|(o, _)| uses(*o))
            && !self
                .iterations
                .iter()
                .enumerate()
                .filter(|(i, _)| {
                    per_participant(rule, to).then_some(*i) == iter || !per_participant(rule, to)
                })
                .any(|(_, it)| it.seen.iter().any(|(o, _)| uses(*o)))
    }

    /// Record a claim made by [`Instance::probe`].
    pub(super) fn apply(&mut self, rule: &Rule, claim: Claim, msg: &Msg<'_>, trace: &Tracker) {
        match claim {
            Claim::Again => {}
            Claim::Step {
                idx,
                iter,
                new_participant,
                accept,
            } => {
                let iter = match new_participant {
                    Some(participant) => {
                        self.iterations.push(Iteration {
                            participant,
                            call_id: Some(msg.call_key),
                            slots: vec![Slot::Free; rule.roles.len()],
                            seen: SeenSteps::default(),
                        });
                        Some(self.iterations.len() - 1)
                    }
                    None => iter,
                };
                self.record(rule, idx, iter, *accept, msg, trace);
            }
            Claim::Hop { idx, iter, how } => {
                let step = &rule.steps[idx];
                let (from, to) = (step.from, step.to);
                let pp = |r: usize| per_participant(rule, r);
                let fit = self
                    .view(rule, iter, &pp)
                    .fit(to, msg.dst, rule.proxies[to]);
                match how {
                    HopKind::Through => {
                        if let Some(s) = self.seen_mut(rule, idx, iter) {
                            s.pass_through(msg);
                        }
                        bind(self.slot_mut(rule, to, iter), msg.dst, idx);
                    }
                    HopKind::Path | HopKind::Retarget => {
                        let old = self.seen_at(rule, idx, iter).map(|s| s.hop.dst);
                        if how == HopKind::Retarget
                            && rule.proxies[from]
                            && let Some(old) = old
                        {
                            bind(self.slot_mut(rule, from, iter), old, idx);
                        }
                        let rebind = (matches!(self.slot(rule, to, iter), Slot::Free)
                            || self.retargetable(rule, idx, iter))
                            && !(step.path
                                && (bound_elsewhere(msg)
                                    || trace.is_forwarder(msg.dst, msg.transport)));
                        if rebind {
                            *self.slot_mut(rule, to, iter) = Slot::Free;
                            bind(self.slot_mut(rule, to, iter), msg.dst, idx);
                        }
                        let arrived = rebind || fit == Fit::Yes;
                        if let Some(s) = self.seen_mut(rule, idx, iter) {
                            s.advance(msg);
                            s.arrived = arrived;
                        }
                    }
                }
                if msg.time > self.last_time {
                    self.last_time = msg.time;
                }
            }
        }
    }

    /// Without the session's setup, participants are the dialogs the focus
    /// sends BYEs in, between the step before the block and the step after.
    fn may_add_participant(&self, rule: &Rule) -> bool {
        let Some(r) = &rule.repeat else { return false };
        if self.from_setup {
            return false;
        }
        // By the spec's numbering: the outer steps numbered before the
        // block's first step and after its last (steps outside the block
        // numbered like it run beside it).
        let (first, last) = (rule.steps[r.first].number, rule.steps[r.last].number);
        let outer = |i: usize| !in_block(rule, i) && !rule.steps[i].optional;
        let before = rule
            .steps
            .iter()
            .enumerate()
            .filter(|(i, s)| outer(*i) && s.number < first)
            .max_by_key(|(_, s)| s.number)
            .is_none_or(|(b, _)| self.seen.get(b).is_some());
        let after_seen = rule
            .steps
            .iter()
            .enumerate()
            .filter(|(i, s)| outer(*i) && s.number > last)
            .min_by_key(|(_, s)| s.number)
            .is_some_and(|(a, _)| self.seen.get(a).is_some());
        before && !after_seen
    }

    fn try_step(
        &self,
        rule: &Rule,
        idx: StepIdx,
        iter: Option<usize>,
        msg: &Msg<'_>,
        trace: &Tracker,
        entry: bool,
    ) -> Option<Accept> {
        let step = &rule.steps[idx];
        // The kind of message.
        let mut status_wrong = None;
        match &step.message {
            MessagePattern::Request { method } => {
                if msg.method? != method {
                    return None;
                }
            }
            MessagePattern::Response { status, method } => {
                let s = msg.status?;
                if msg.cseq_method != method {
                    return None;
                }
                let provisional_expected = matches!(status, StatusPattern::Class(1))
                    || matches!(status, StatusPattern::Exact(x) if *x < 200);
                if s < 200 && !provisional_expected {
                    return None;
                }
                if step.optional && !status.accepts(s) {
                    // An optional step accepts only what it names.
                    return None;
                }
                if !status.accepts(s) {
                    let expected = match status {
                        StatusPattern::Exact(x) => format!("{x} {}", reason_phrase(*x)),
                        StatusPattern::Class(c) => format!("a {c}xx response"),
                    };
                    let reason = msg.sip.reason().unwrap_or_default();
                    status_wrong =
                        Some(format!("{s} {reason} where {expected} expected").replace("  ", " "));
                }
            }
        }
        // The nodes.
        let pp = |r: usize| per_participant(rule, r);
        let view = self.view(rule, iter, &pp);
        let from_fit = view.fit(step.from, msg.src, rule.proxies[step.from]);
        if from_fit == Fit::No {
            return None;
        }
        let mut to_fit = view.fit(step.to, msg.dst, rule.proxies[step.to]);
        // A request whose Request-URI names another address is on its way
        // there: its receiver is a proxy, not a free endpoint role (a
        // NOTIFY to sip:alice@10.0.0.6 reaching 10.0.0.4 has not reached
        // Alice).
        // So is a node seen forwarding other requests (a proxy).
        // Only for a copy of an earlier step's message (a hop that may
        // reach a proxy on the way), never for the message that starts a
        // flow or one tied otherwise.
        let forwarded_copy =
            step.path || matches!(step.relation, Some(Relation::SameTransaction(_)));
        let proxy_dst = to_fit == Fit::Bind
            && forwarded_copy
            && (bound_elsewhere(msg) || trace.is_forwarder(msg.dst, msg.transport));
        if proxy_dst && !step.path {
            to_fit = Fit::No;
        }
        let mut arrived = true;
        if to_fit == Fit::No {
            if !step.path {
                return None;
            }
            // A path's first hop need not reach the receiving role.
            arrived = false;
        }
        if step.from == step.to && msg.src.ip() != msg.dst.ip() && !rule.proxies[step.from] {
            return None;
        }
        if step.from != step.to
            && matches!(from_fit, Fit::Bind | Fit::Join)
            && matches!(to_fit, Fit::Bind | Fit::Join)
            && msg.src == msg.dst
        {
            return None;
        }
        if proxy_dst && step.path {
            // A path's copy reached a proxy: on its way, not arrived.
            arrived = false;
        }
        if !arrived {
            to_fit = Fit::Yes;
        }
        let mut bound: [Option<(usize, SocketAddr)>; 2] = [None; 2];
        if matches!(from_fit, Fit::Bind | Fit::Join) {
            bound[0] = Some((step.from, msg.src));
        }
        if matches!(to_fit, Fit::Bind | Fit::Join) {
            bound[1] = Some((step.to, msg.dst));
        }
        // The relation.
        let mut rank = 2;
        if let Some(rel) = step.relation
            && !entry
        {
            rank = self.relation_holds(rule, rel, iter, msg, trace)?;
        }
        // Captures, visible to this step's own conditions.
        let vars = if step.captures.is_empty() {
            None
        } else {
            let mut v = self.vars.clone();
            for c in &step.captures {
                let got = eval_path(msg, &c.path).map(|x| x.into_owned());
                // A value the context gave must be what the step shows.
                if let (Some(had), Some(now)) = (&v[c.var], &got)
                    && !super::eval::values_equal(had, now)
                {
                    return None;
                }
                v[c.var] = got;
            }
            Some(v)
        };
        let mut roles = self.role_ips(rule, iter);
        for &(r, a) in bound.iter().flatten() {
            if roles[r].is_none() {
                roles[r] = Some(a.ip());
            }
        }
        let env = Env {
            vars: vars.as_deref().unwrap_or(&self.vars),
            roles: &roles,
            trace,
        };
        let mut evidence = 0;
        for cond in &step.matches {
            match eval_cond(msg, &cond.kind, &env) {
                Truth::False => return None,
                Truth::True => {
                    if matches!(cond.kind, CondKind::FocusFor { .. }) {
                        evidence += 1;
                    }
                }
                Truth::Unknown => {}
            }
        }
        let mut wrong = status_wrong;
        if wrong.is_none() {
            for cond in &step.expects {
                if eval_cond(msg, &cond.kind, &env) == Truth::False {
                    let found = match &cond.kind {
                        CondKind::Compare { path, .. } => match eval_path(msg, path) {
                            Some(v) => format!("found `{}`", truncate(&v, 60)),
                            None => "it is absent".to_string(),
                        },
                        _ => "it does not hold".to_string(),
                    };
                    wrong = Some(format!("expected `{}`, {found}", cond.text));
                    break;
                }
            }
        }
        let names_dialog = step.matches.iter().any(|c| {
            matches!(
                c.kind,
                CondKind::DialogOf {
                    peer: Some((_, false)),
                    ..
                }
            )
        });
        let mut seen = Seen::of(msg, wrong, names_dialog || msg.method.is_some());
        seen.arrived = arrived;
        seen.late = self.overdue_at.map(|d| msg.time.as_nanos() - d);
        Some(Accept {
            seen,
            bind: bound,
            vars,
            evidence,
            rank,
        })
    }

    /// Does `msg` stand in relation `rel` to the step it names? Returns
    /// how close it is (see [`Accept::rank`]). When that step was not seen
    /// (its link was not captured, or it is missing), the relation is
    /// checked against the nearest seen step behind it in the chain of
    /// relations: a request forwarded or answered keeps its Call-ID and
    /// CSeq; a request in a dialog keeps the Call-ID.
    fn relation_holds(
        &self,
        rule: &Rule,
        rel: Relation,
        iter: Option<usize>,
        msg: &Msg<'_>,
        trace: &Tracker,
    ) -> Option<u8> {
        let target_iter = |idx: StepIdx| if in_block(rule, idx) { iter } else { None };
        let yes = |b: bool, rank: u8| b.then_some(rank);
        if let Some(t) = self.seen_at(rule, rel.target(), target_iter(rel.target())) {
            return match rel {
                Relation::SameTransaction(_) => yes(
                    t.same_cseq(msg)
                        && match (msg.status, t.status) {
                            (Some(a), Some(b)) => a == b,
                            _ => true,
                        },
                    0,
                ),
                Relation::ResponseTo(_) => yes(t.same_cseq(msg) && t.answered_by(msg), 0),
                Relation::InDialog(_) => yes(t.same_dialog(msg), 1),
            };
        }
        // Walk back to a seen step.
        let mut strict = !matches!(rel, Relation::InDialog(_));
        let mut idx = rel.target();
        for _ in 0..rule.steps.len() {
            let unseen = &rule.steps[idx];
            // The unseen step's own ties apply to a message that is (or
            // answers) the same request.
            if matches!(rel, Relation::SameTransaction(_)) && idx == rel.target() {
                let roles = self.role_ips(rule, iter);
                let env = Env {
                    vars: &self.vars,
                    roles: &roles,
                    trace,
                };
                if unseen
                    .matches
                    .iter()
                    .any(|c| eval_cond(msg, &c.kind, &env) == Truth::False)
                {
                    return None;
                }
            }
            let Some(next) = unseen.relation else {
                // The chain starts at an unseen step tied by content (a
                // link the capture lacks): the same request forwarded on
                // is tied by that step's own `match`es.
                let roles = self.role_ips(rule, iter);
                let env = Env {
                    vars: &self.vars,
                    roles: &roles,
                    trace,
                };
                let tied = matches!(rel, Relation::SameTransaction(_))
                    && idx == rel.target()
                    && !unseen.matches.is_empty()
                    && unseen
                        .matches
                        .iter()
                        .all(|c| eval_cond(msg, &c.kind, &env) != Truth::False);
                return tied.then_some(2);
            };
            if matches!(next, Relation::InDialog(_)) {
                strict = false;
            }
            idx = next.target();
            if let Some(t) = self.seen_at(rule, idx, target_iter(idx)) {
                let ok = if strict {
                    t.same_cseq(msg)
                } else {
                    t.same_call(msg)
                };
                return yes(ok, if strict { 0 } else { 1 });
            }
        }
        None
    }

    fn record(
        &mut self,
        rule: &Rule,
        idx: StepIdx,
        iter: Option<usize>,
        a: Accept,
        msg: &Msg<'_>,
        trace: &Tracker,
    ) {
        for (role, addr) in a.bind.into_iter().flatten() {
            bind(self.slot_mut(rule, role, iter), addr, idx);
        }
        if let Some(v) = a.vars {
            self.vars = v;
        }
        self.evidence += a.evidence;
        if msg.time > self.last_time {
            self.last_time = msg.time;
        }
        if idx == 0 && self.from_context {
            self.first_call_id = msg
                .sip
                .call_id_bytes()
                .map(|b| String::from_utf8_lossy(b).into_owned());
        }
        match iter {
            Some(i) if in_block(rule, idx) => self.iterations[i].seen.set(idx, a.seen),
            _ => self.seen.set(idx, a.seen),
        }
        self.snapshot_participants(rule, trace);
    }

    /// Once the conference URI is known (and the role the block's first
    /// step sets apart, if any, is bound), the participants are the focus
    /// dialogs the capture holds for it (RFC 4579), if any.
    fn snapshot_participants(&mut self, rule: &Rule, trace: &Tracker) {
        let Some(r) = &rule.repeat else { return };
        if self.snapshot_done {
            return;
        }
        let Some(Some(focus)) = self.vars.get(r.focus_var) else {
            return;
        };
        // `dialog-of $v with/without ROLE` on the block's first step.
        let mut peer = None;
        for c in &rule.steps[r.first].matches {
            if let CondKind::DialogOf {
                peer: Some((role, negated)),
                ..
            } = c.kind
            {
                let Some(node) = self.slots[role].addr() else {
                    return; // not bound yet: decide later
                };
                peer = Some((node.ip(), negated));
            }
        }
        self.snapshot_done = true;
        let dialogs = trace.focus_dialogs(focus);
        if dialogs.is_empty() {
            return;
        }
        self.from_setup = true;
        for d in dialogs {
            if let Some((node, negated)) = peer
                && d.nodes.contains(&node) == negated
            {
                continue;
            }
            self.iterations.push(Iteration {
                participant: d.participant.to_string(),
                call_id: Some(d.call_id),
                slots: vec![Slot::Free; rule.roles.len()],
                seen: SeenSteps::default(),
            });
        }
    }

    /// Every required step seen (for each participant).
    pub(super) fn complete(&self, rule: &Rule) -> bool {
        for (idx, step) in rule.steps.iter().enumerate() {
            if step.optional {
                continue;
            }
            let done = |s: Option<&Seen>| s.is_some_and(|s| s.arrived);
            if in_block(rule, idx) {
                if self.iterations.is_empty() && !self.from_setup
                    || self.iterations.iter().any(|it| !done(it.seen.get(idx)))
                {
                    return false;
                }
            } else if !done(self.seen.get(idx)) {
                return false;
            }
        }
        true
    }

    /// When to stop waiting: the latest step's time plus the longest time
    /// limit of the steps still pending.
    pub(super) fn deadline(&self, rule: &Rule) -> i128 {
        if rule.steps.iter().all(|s| s.timeout == rule.timeout) {
            // One limit for every step (the usual case): no walk.
            return self.last_time.as_nanos() + rule.timeout.as_nanos() as i128;
        }
        let limit = rule
            .steps
            .iter()
            .enumerate()
            .filter(|(i, s)| !s.optional && self.pending(rule, *i))
            .map(|(_, s)| s.timeout)
            .max()
            .unwrap_or(rule.timeout);
        self.last_time.as_nanos() + limit.as_nanos() as i128
    }
}

/// Does a request's Request-URI name an address other than the node it
/// reached?
fn bound_elsewhere(msg: &Msg<'_>) -> bool {
    // Only in a dialog is the Request-URI the remote target (a Contact);
    // an initial request's names a domain, a registrar, a service.
    if msg.method.is_none() || msg.to_tag().is_none() {
        return false;
    }
    let Some(host) = msg
        .sip
        .request_uri_str()
        .and_then(crate::sip::Uri::parse)
        .and_then(|u| u.host())
    else {
        return false;
    };
    match host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        Ok(ip) => ip != msg.dst.ip(),
        Err(_) => false,
    }
}

/// The usual reason phrase of a status code, for messages to people.
pub fn reason_phrase(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        486 => "Busy Here",
        487 => "Request Terminated",
        489 => "Bad Event",
        500 => "Server Internal Error",
        503 => "Service Unavailable",
        603 => "Decline",
        _ => "",
    }
}
