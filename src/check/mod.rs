//! Stage 6: compiled flow rules × the trace → flow instances with a status
//! per step.
//!
//! An instance starts at each message that matches a rule's first step (its
//! trigger) and is not already a step of an open instance.
//! Every later message is offered to the open instances that could want it,
//! found through an index keyed by what the message can be matched on
//! (Call-ID, Request-URI, sending node), so each message costs a few hash
//! lookups, not a scan over everything open. An instance is settled when all
//! its steps are seen, when its next step's time limit passes (capture
//! time), or at the end of the file; only then are order, `missing` and
//! `unobserved` decided and the instance reported. Memory follows the
//! instances still open.
//!
//! A retransmission (the same message again on the same hop) of a message an
//! instance holds is recognised by that instance and is never a new step.
//!
//! Instances started by the same message (flows 1 and 2 both start at a
//! REFER(BYE)) are alternatives: when all have settled, the one that
//! explains more of the capture is reported and the others are dropped, so
//! one REFER is one instance of one flow.

mod eval;
mod instance;

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rustc_hash::FxHashMap as HashMap;
use std::net::IpAddr;

use crate::capture::Timestamp;
use crate::rules::ast::{CondKind, Op, Operand, Rule};
use crate::trace::{Msg, Tracker, uri};

pub use eval::{sipfrag_status, xml_value};
use instance::{Instance, Settled};

/// A step's outcome, as `report-json.md` defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Ok,
    Missing,
    OutOfOrder,
    Wrong,
    Unobserved,
}

impl Status {
    /// The contract's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Missing => "missing",
            Status::OutOfOrder => "out-of-order",
            Status::Wrong => "wrong",
            Status::Unobserved => "unobserved",
        }
    }
}

/// An instance's verdict: `fail` if any step is missing, out of order or
/// wrong; else `partial` if any is unobserved; else `pass`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    Pass,
    Fail,
    Partial,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Partial => "partial",
        }
    }

    /// The verdict that follows from step statuses.
    pub fn of(statuses: impl IntoIterator<Item = Status>) -> Verdict {
        let mut partial = false;
        for s in statuses {
            match s {
                Status::Missing | Status::OutOfOrder | Status::Wrong => return Verdict::Fail,
                Status::Unobserved => partial = true,
                Status::Ok => {}
            }
        }
        if partial {
            Verdict::Partial
        } else {
            Verdict::Pass
        }
    }
}

/// One step of a settled instance.
#[derive(Debug, Clone, PartialEq)]
pub struct StepReport {
    /// The step number of the spec.
    pub number: u32,
    /// For steps repeated per participant: the participant (the remote
    /// target of its dialog with the focus).
    pub participant: Option<String>,
    /// The step as the rule writes it (`client-b -> core-b REFER`); shared
    /// with the rule (one report per step of every instance).
    pub expected: std::sync::Arc<str>,
    pub status: Status,
    pub frame: Option<u64>,
    pub time: Option<Timestamp>,
    /// Why the status is not `ok`, in one line.
    pub detail: Option<String>,
}

/// A settled flow instance: what the reports print.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceReport {
    pub rule: String,
    pub title: String,
    pub trigger_frame: u64,
    pub trigger_call_id: String,
    pub session: Option<String>,
    pub verdict: Verdict,
    pub steps: Vec<StepReport>,
    /// Things the user should know about how the instance was read
    /// (participants inferred, an ambiguous trigger, ...).
    pub notes: Vec<String>,
}

/// What an index entry is keyed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    CallId(u64),
    /// A Request-URI (canonical fingerprint) awaited in a request of this
    /// method (fingerprint): the lookup is made only for such methods.
    Uri {
        uri: u64,
        method: u64,
    },
    Src(IpAddr),
}

fn hash_str(s: &str) -> u64 {
    crate::trace::call_id_key(s)
}

/// Alternatives started by one trigger message.
#[derive(Debug, Default)]
struct Group {
    open: usize,
    settled: Vec<Settled>,
}

/// The matcher for one capture file.
pub struct Checker<'r> {
    rules: &'r [Rule],
    instances: HashMap<u64, Instance>,
    next_id: u64,
    index: HashMap<Key, Vec<u64>>,
    scan: Vec<u64>,
    /// (deadline, instance): at most one live entry per instance, moved
    /// forward lazily when it fires early.
    timers: BinaryHeap<Reverse<(i128, u64)>>,
    groups: HashMap<u64, Group>,
    /// Role bindings given by the user, per rule.
    preset: Vec<Vec<Option<IpAddr>>>,
    /// Per rule, the steps an instance may start at, with their proxy
    /// depth: step 1, and the hops that forward it (`same-transaction`
    /// chains from step 1), for captures that lack the first hop.
    entries: Vec<Vec<(usize, usize)>>,
    /// Methods (fingerprints) with Request-URI keys in the index, and how
    /// many: a request of another method skips that lookup.
    uri_methods: HashMap<u64, usize>,
    /// How many sender keys the index holds (none: skip that lookup).
    src_keys: usize,
    /// Scratch for the keys an instance wants.
    wanted: Vec<Option<Key>>,
    anchors: Vec<u64>,
    /// Scratch space reused for every message.
    candidates: Vec<u64>,
    touched: Vec<u64>,
}

impl<'r> Checker<'r> {
    pub fn new(rules: &'r [Rule]) -> Self {
        Checker {
            rules,
            instances: HashMap::default(),
            next_id: 0,
            index: HashMap::default(),
            scan: Vec::new(),
            timers: BinaryHeap::new(),
            groups: HashMap::default(),
            preset: rules.iter().map(|r| vec![None; r.roles.len()]).collect(),
            entries: rules.iter().map(entry_steps).collect(),
            uri_methods: HashMap::default(),
            src_keys: 0,
            wanted: Vec::new(),
            anchors: Vec::new(),
            candidates: Vec::new(),
            touched: Vec::new(),
        }
    }

    /// Bind roles to nodes before matching (`--role core-b=10.0.0.2`, or a
    /// topology file): every rule that has a role of that name uses it.
    pub fn with_roles(mut self, roles: &[(String, IpAddr)]) -> Self {
        for (ri, rule) in self.rules.iter().enumerate() {
            for (name, ip) in roles {
                if let Some(r) = rule.roles.iter().position(|x| x == name) {
                    self.preset[ri][r] = Some(*ip);
                }
            }
        }
        self
    }

    /// Offer one message. Settled instances are passed to `out`.
    pub fn on_message(
        &mut self,
        msg: &Msg<'_>,
        trace: &Tracker,
        out: &mut dyn FnMut(InstanceReport),
    ) {
        self.expire(msg.time, trace, out);
        let mut candidates = std::mem::take(&mut self.candidates);
        candidates.clear();
        let mut gather = |index: &HashMap<Key, Vec<u64>>, k: Key| {
            if let Some(ids) = index.get(&k) {
                candidates.extend_from_slice(ids);
            }
        };
        gather(&self.index, Key::CallId(msg.call_key));
        if self.src_keys > 0 {
            gather(&self.index, Key::Src(msg.src.ip()));
        }
        if let Some(method) = msg.method.map(hash_str)
            && self.uri_methods.contains_key(&method)
            && let Some(ruri) = msg.sip.request_uri_str()
        {
            let uri = uri::canonical_hash(ruri);
            gather(&self.index, Key::Uri { uri, method });
        }
        candidates.extend_from_slice(&self.scan);
        candidates.sort_unstable();
        candidates.dedup();

        let mut consumed = false;
        let mut touched = std::mem::take(&mut self.touched);
        touched.clear();
        for &id in &candidates {
            let Some(inst) = self.instances.get_mut(&id) else {
                continue;
            };
            let rule = &self.rules[inst.rule];
            if inst.offer(rule, msg, trace) {
                consumed = true;
                touched.push(id);
            }
        }
        // Triggers: a message already explained as a step of an open
        // instance starts nothing new (a proxied hop of a trigger, part-b's
        // own REFER in flow 2, ...).
        let mut group_id = None;
        for (ri, rule) in self.rules.iter().enumerate() {
            if consumed {
                break;
            }
            for &(entry, depth) in &self.entries[ri] {
                if !Instance::may_trigger(rule, msg, entry) {
                    continue;
                }
                if let Some(mut inst) =
                    Instance::trigger(ri, rule, &self.preset[ri], msg, trace, entry, depth)
                {
                    let gid = *group_id.get_or_insert(self.next_id);
                    inst.group = gid;
                    self.groups.entry(gid).or_default().open += 1;
                    let id = self.next_id;
                    self.next_id += 1;
                    self.instances.insert(id, inst);
                    touched.push(id);
                }
            }
        }
        for &id in &touched {
            self.after_change(id, trace, out);
        }
        self.candidates = candidates;
        self.touched = touched;
    }

    /// Re-index, re-arm the timer, or settle a changed instance.
    fn after_change(&mut self, id: u64, trace: &Tracker, out: &mut dyn FnMut(InstanceReport)) {
        let Some(inst) = self.instances.get_mut(&id) else {
            return;
        };
        let rule = &self.rules[inst.rule];
        if inst.complete(rule) {
            self.settle(id, trace, out);
            return;
        }
        inst.deadline_ns = inst.deadline(rule);
        if inst.armed_at.is_none_or(|at| inst.deadline_ns < at) {
            inst.armed_at = Some(inst.deadline_ns);
            self.timers.push(Reverse((inst.deadline_ns, id)));
        }
        let mut wanted = std::mem::take(&mut self.wanted);
        let mut anchors = std::mem::take(&mut self.anchors);
        wanted_keys(inst, rule, &mut wanted, &mut anchors);
        for &key in &wanted {
            match key {
                None => {
                    if !inst.in_scan {
                        inst.in_scan = true;
                        self.scan.push(id);
                    }
                }
                Some(k) => {
                    if !inst.keys.contains(&k) {
                        inst.keys.push(k);
                        self.index.entry(k).or_default().push(id);
                        match k {
                            Key::Uri { method, .. } => {
                                *self.uri_methods.entry(method).or_default() += 1
                            }
                            Key::Src(_) => self.src_keys += 1,
                            Key::CallId(_) => {}
                        }
                    }
                }
            }
        }
        self.wanted = wanted;
        self.anchors = anchors;
    }

    fn settle(&mut self, id: u64, trace: &Tracker, out: &mut dyn FnMut(InstanceReport)) {
        let Some(inst) = self.instances.remove(&id) else {
            return;
        };
        for k in &inst.keys {
            match k {
                Key::Uri { method, .. } => {
                    if let Some(n) = self.uri_methods.get_mut(method) {
                        *n -= 1;
                        if *n == 0 {
                            self.uri_methods.remove(method);
                        }
                    }
                }
                Key::Src(_) => self.src_keys -= 1,
                Key::CallId(_) => {}
            }
            if let Some(v) = self.index.get_mut(k) {
                v.retain(|&x| x != id);
                if v.is_empty() {
                    self.index.remove(k);
                }
            }
        }
        if inst.in_scan {
            self.scan.retain(|&x| x != id);
        }
        let rule = &self.rules[inst.rule];
        let settled = inst.settle(rule, trace);
        let gid = settled.group;
        let Some(group) = self.groups.get_mut(&gid) else {
            out(settled.report);
            return;
        };
        group.open = group.open.saturating_sub(1);
        group.settled.push(settled);
        if group.open == 0
            && let Some(group) = self.groups.remove(&gid)
        {
            out(instance::choose(group.settled, self.rules));
        }
    }

    /// Settle every instance whose time limit passed before `now`.
    pub fn expire(&mut self, now: Timestamp, trace: &Tracker, out: &mut dyn FnMut(InstanceReport)) {
        let now = now.as_nanos();
        while let Some(Reverse((deadline, id))) = self.timers.peek().copied() {
            if deadline >= now {
                break;
            }
            self.timers.pop();
            let Some(inst) = self.instances.get_mut(&id) else {
                continue;
            };
            if inst.armed_at != Some(deadline) {
                continue; // superseded by an earlier entry
            }
            if inst.deadline_ns >= now {
                // Progress moved the deadline on since this entry was set.
                inst.armed_at = Some(inst.deadline_ns);
                self.timers.push(Reverse((inst.deadline_ns, id)));
            } else {
                self.settle(id, trace, out);
            }
        }
    }

    /// End of the file: settle everything still open, in trigger order.
    pub fn finish(&mut self, trace: &Tracker, out: &mut dyn FnMut(InstanceReport)) {
        let mut ids: Vec<u64> = self.instances.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            self.settle(id, trace, out);
        }
        self.timers.clear();
    }
}

/// Step 1 and the steps that forward it hop by hop, with their depth.
fn entry_steps(rule: &Rule) -> Vec<(usize, usize)> {
    let mut entries = vec![(0, 0)];
    for (idx, step) in rule.steps.iter().enumerate().skip(1) {
        if step.optional || step.in_repeat {
            continue;
        }
        if let Some(crate::rules::ast::Relation::SameTransaction(t)) = step.relation
            && let Some(&(_, d)) = entries.iter().find(|(e, _)| *e == t)
        {
            entries.push((idx, d + 1));
        }
    }
    entries
}

/// The index keys under which an instance's pending steps can be found
/// (`None`: only by scanning).
fn wanted_keys(inst: &Instance, rule: &Rule, keys: &mut Vec<Option<Key>>, anchors: &mut Vec<u64>) {
    keys.clear();
    keys.push(Some(Key::CallId(inst.trigger_call_key())));
    for (idx, step) in rule.steps.iter().enumerate() {
        if !inst.pending(rule, idx) {
            continue;
        }
        if step.relation.is_some() {
            // A related step is found by the Call-ID of the nearest seen
            // step behind it; until there is one, it cannot match at all.
            anchors.clear();
            inst.anchor_call_ids(rule, idx, anchors);
            keys.extend(anchors.iter().map(|&c| Some(Key::CallId(c))));
            continue;
        }
        let mut found = false;
        for cond in &step.matches {
            match &cond.kind {
                CondKind::Compare {
                    path,
                    op: Op::Eq(Operand::Var(v)),
                } if path.base == crate::rules::ast::Base::RequestUri
                    && path.accessors.is_empty() =>
                {
                    if let (
                        Some(Some(value)),
                        crate::rules::ast::MessagePattern::Request { method },
                    ) = (inst.vars.get(*v), &step.message)
                    {
                        keys.push(Some(Key::Uri {
                            uri: uri::canonical_hash(value),
                            method: hash_str(method),
                        }));
                        found = true;
                    }
                }
                CondKind::DialogOf { .. } => {
                    for it in &inst.iterations {
                        if let Some(c) = it.call_id {
                            keys.push(Some(Key::CallId(c)));
                            found = true;
                        }
                    }
                }
                _ => {}
            }
        }
        if !found {
            match inst.roles.get(step.from).copied().flatten() {
                Some(ip) => keys.push(Some(Key::Src(ip))),
                None => keys.push(None),
            }
        }
    }
}
