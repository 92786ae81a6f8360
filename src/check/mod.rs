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
mod index;
mod instance;
mod roles;
mod seen;
mod settle;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::net::{IpAddr, SocketAddr};

use rustc_hash::FxHashMap as HashMap;

use crate::capture::Timestamp;
use crate::problem::{Problem, ProblemKind};
use crate::rules::ast::Rule;
use crate::trace::{Msg, Tracker};

pub use eval::{sipfrag_status, xml_value};
use index::{Index, Key};
pub use instance::reason_phrase;
use instance::{Claim, Instance};
use roles::Slot;
pub use seen::Hop;
use settle::{Settled, Why};

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
    /// An optional message that was seen (its `number` is the step it
    /// follows); it never decides the verdict.
    pub optional: bool,
    /// Every hop of the step's message that was seen, in order, when it
    /// crossed more than one (a path through proxies, or a proxy chain).
    pub hops: Vec<Hop>,
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
    /// For a rule with alternatives: the branch(es) the traffic took.
    pub branch: Option<String>,
    /// Each bound role and the node(s) it was bound to (`10.0.0.2:5060`;
    /// a proxy role lists every node of its chain).
    pub roles: Vec<(String, String)>,
}

/// A node a user binds a role to (`--role uac=127.0.0.1:5061`, a topology
/// file): an address, and a port where one address holds several SIP
/// endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Node {
    pub ip: IpAddr,
    pub port: Option<u16>,
}

impl std::str::FromStr for Node {
    type Err = String;

    /// `10.0.0.2`, `10.0.0.2:5060`, `2001:db8::1`, `[2001:db8::1]:5060`.
    fn from_str(s: &str) -> Result<Node, String> {
        let s = s.trim();
        if let Ok(ip) = s.trim_start_matches('[').trim_end_matches(']').parse() {
            return Ok(Node { ip, port: None });
        }
        match s.parse::<SocketAddr>() {
            Ok(a) => Ok(Node {
                ip: a.ip(),
                port: Some(a.port()),
            }),
            Err(_) => Err(format!(
                "`{s}` is not an address: expected an IP (10.0.0.2) or IP:port (127.0.0.1:5061, [2001:db8::1]:5060)"
            )),
        }
    }
}

impl std::fmt::Display for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.port {
            Some(p) => write!(f, "{}", SocketAddr::new(self.ip, p)),
            None => write!(f, "{}", self.ip),
        }
    }
}

/// The most instances open at once in one file. Beyond it the oldest is
/// settled early (its pending steps `unobserved`, a note says why) and the
/// eviction is counted and reported: memory stays bounded under a flood of
/// flows that never complete.
pub const MAX_OPEN_INSTANCES: usize = 100_000;

/// Shorten text for a one-line reason.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max).collect();
        out.push('…');
        out
    }
}

/// Alternatives started by one trigger message.
#[derive(Debug, Default)]
struct Group {
    open: usize,
    settled: Vec<Settled>,
}

/// The matcher for one capture file.
pub struct Checker<'r> {
    /// The rules, each rule's variants (`either` branches) after it.
    rules: Vec<Rule>,
    _given: std::marker::PhantomData<&'r [Rule]>,
    instances: HashMap<u64, Instance>,
    next_id: u64,
    index: Index,
    paths: index::ValuePaths,
    /// Instance ids in the order they opened, for eviction (ids of settled
    /// instances are skipped when met).
    order: VecDeque<u64>,
    /// (deadline, instance): at most one live entry per instance, moved
    /// forward lazily when it fires early.
    timers: BinaryHeap<Reverse<(i128, u64)>>,
    groups: HashMap<u64, Group>,
    /// Role bindings given by the user, per rule.
    preset: Vec<Vec<Slot>>,
    /// Per rule, the steps an instance may start at, with their proxy
    /// depth: step 1, and the hops that forward it (`same-transaction`
    /// chains from step 1), for captures that lack the first hop.
    entries: Vec<Vec<(usize, usize)>>,
    /// Instances evicted to bound memory: how many, and the first.
    evicted: u64,
    evicted_example: Option<(u64, String)>,
    now: Timestamp,
    /// Scratch space reused for every message.
    keys: Vec<Key>,
    candidates: Vec<u64>,
    touched: Vec<u64>,
    claims: Vec<(u64, usize, u64, Claim)>,
    /// Per rule, the closest claim's rank and group.
    best: Vec<Option<(u8, u64)>>,
}

impl<'r> Checker<'r> {
    pub fn new(given: &'r [Rule]) -> Self {
        let rules: Vec<Rule> = given
            .iter()
            .flat_map(|r| std::iter::once(r).chain(&r.variants))
            .map(|r| Rule {
                variants: Vec::new(),
                ..r.clone()
            })
            .collect();
        let mut paths = index::ValuePaths::default();
        for r in &rules {
            index::register(r, &mut paths);
        }
        Checker {
            _given: std::marker::PhantomData,
            instances: HashMap::default(),
            next_id: 0,
            index: Index::default(),
            paths,
            order: VecDeque::new(),
            timers: BinaryHeap::new(),
            groups: HashMap::default(),
            preset: rules
                .iter()
                .map(|r| {
                    r.roles
                        .iter()
                        .enumerate()
                        .map(|(i, _)| {
                            if r.proxies[i] {
                                Slot::Chain(Vec::new())
                            } else {
                                Slot::Free
                            }
                        })
                        .collect()
                })
                .collect(),
            entries: rules.iter().map(entry_steps).collect(),
            rules,
            evicted: 0,
            evicted_example: None,
            now: Timestamp::default(),
            keys: Vec::new(),
            candidates: Vec::new(),
            touched: Vec::new(),
            claims: Vec::new(),
            best: Vec::new(),
        }
    }

    /// Bind roles to nodes before matching (`--role core-b=10.0.0.2`, or a
    /// topology file): every rule that has a role of that name uses it.
    pub fn with_roles(mut self, roles: &[(String, Node)]) -> Self {
        for (ri, rule) in self.rules.iter().enumerate() {
            for (name, node) in roles {
                if let Some(r) = rule.roles.iter().position(|x| x == name) {
                    let addr = SocketAddr::new(node.ip, node.port.unwrap_or(0));
                    self.preset[ri][r] = if rule.proxies[r] {
                        match &self.preset[ri][r] {
                            Slot::Given(m) => {
                                let mut m = m.clone();
                                m.push(addr);
                                Slot::Given(m)
                            }
                            _ => Slot::Given(vec![addr]),
                        }
                    } else {
                        Slot::Node {
                            addr,
                            exact_port: node.port.is_some(),
                            by: None,
                        }
                    };
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
        if msg.time > self.now {
            self.now = msg.time;
        }
        self.expire(msg.time, trace, out);
        let kind = index::kind_of_msg(msg);
        let mut keys = std::mem::take(&mut self.keys);
        keys.clear();
        keys.push(Key::CallId(msg.call_key));
        if self.index.src_keys > 0 {
            keys.push(Key::Src {
                ip: msg.src.ip(),
                kind,
            });
        }
        if self.index.kind_keys > 0 {
            keys.push(Key::Kind(kind));
        }
        self.paths.keys_of(msg, kind, &mut keys);
        let mut candidates = std::mem::take(&mut self.candidates);
        candidates.clear();
        for &k in &keys {
            self.index.gather(k, &mut candidates);
        }
        candidates.sort_unstable();
        candidates.dedup();

        // Each rule gives the message to at most one of its instances: the
        // closest (same transaction, then same dialog, then the earliest).
        // Alternative readings of one trigger (a group) are one instance:
        // each of them takes the message, if the group is the one chosen.
        let mut claims = std::mem::take(&mut self.claims);
        claims.clear();
        let mut best = std::mem::take(&mut self.best);
        best.clear();
        best.resize(self.rules.len(), None);
        for &id in &candidates {
            let Some(inst) = self.instances.get(&id) else {
                continue;
            };
            let rule = &self.rules[inst.rule];
            if let Some(c) = inst.probe(rule, msg, trace) {
                let rank = c.rank();
                let slot = &mut best[inst.rule];
                if slot.is_none_or(|(r, _)| rank < r) {
                    *slot = Some((rank, inst.group));
                }
                claims.push((id, inst.rule, inst.group, c));
            }
        }
        let mut touched = std::mem::take(&mut self.touched);
        touched.clear();
        for (id, rule_idx, group, claim) in claims.drain(..) {
            if best[rule_idx].is_none_or(|(_, g)| g != group) {
                continue;
            }
            if let Some(inst) = self.instances.get_mut(&id) {
                let rule = &self.rules[inst.rule];
                inst.apply(rule, claim, msg, trace);
                touched.push(id);
            }
        }
        self.best = best;
        // Triggers: a message already explained as a step of an open
        // instance starts nothing new (a proxied hop of a trigger, part-b's
        // own REFER in flow 2, ...).
        if touched.is_empty() {
            let mut group_id = None;
            for (ri, rule) in self.rules.iter().enumerate() {
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
                        self.order.push_back(id);
                        touched.push(id);
                    }
                }
            }
        }
        // Flows made due by a context (flows.md, "When flow 3 is due").
        for due in trace.due() {
            for (ri, rule) in self.rules.iter().enumerate() {
                if rule.context.is_none() {
                    continue;
                }
                if let Some(mut inst) = Instance::from_context(ri, rule, &self.preset[ri], due) {
                    let id = self.next_id;
                    self.next_id += 1;
                    inst.group = id;
                    self.groups.entry(id).or_default().open += 1;
                    self.instances.insert(id, inst);
                    self.order.push_back(id);
                    touched.push(id);
                }
            }
        }
        for &id in &touched {
            self.after_change(id, trace, out);
        }
        while self.instances.len() > MAX_OPEN_INSTANCES {
            self.evict_oldest(trace, out);
        }
        self.keys = keys;
        self.candidates = candidates;
        self.touched = touched;
        self.claims = claims;
    }

    /// Settle the oldest open instance early (constant time amortized).
    fn evict_oldest(&mut self, trace: &Tracker, out: &mut dyn FnMut(InstanceReport)) {
        while let Some(id) = self.order.pop_front() {
            if let Some(inst) = self.instances.get(&id) {
                self.evicted += 1;
                if self.evicted_example.is_none() {
                    self.evicted_example =
                        Some((inst.trigger_frame, self.rules[inst.rule].id.clone()));
                }
                let now = self.now;
                self.settle(id, trace, Why::Evicted(now), out);
                return;
            }
        }
    }

    /// Problems met while checking (evictions), once the file is done.
    pub fn problems(&self) -> Vec<Problem> {
        let mut v = Vec::new();
        if let Some((frame, rule)) = &self.evicted_example {
            v.push(Problem::at_frame(
                ProblemKind::Overload,
                *frame,
                format!(
                    "{} flow instances were evicted before they settled, because more than {MAX_OPEN_INSTANCES} were open at once (the first: rule {rule}, trigger frame {frame}); their pending steps are reported unobserved",
                    self.evicted
                ),
            ));
        }
        v
    }

    /// Re-index, re-arm the timer, or settle a changed instance.
    fn after_change(&mut self, id: u64, trace: &Tracker, out: &mut dyn FnMut(InstanceReport)) {
        let Some(inst) = self.instances.get_mut(&id) else {
            return;
        };
        let rule = &self.rules[inst.rule];
        if inst.complete(rule) {
            self.settle(id, trace, Why::Done, out);
            return;
        }
        if inst.overdue_at.is_none() {
            inst.deadline_ns = inst.deadline(rule);
        }
        if inst.armed_at.is_none_or(|at| inst.deadline_ns < at) {
            inst.armed_at = Some(inst.deadline_ns);
            self.timers.push(Reverse((inst.deadline_ns, id)));
        }
        let mut wanted = std::mem::take(&mut self.keys);
        wanted.clear();
        wanted_keys(inst, rule, trace, &mut self.paths, &mut wanted);
        for &k in &wanted {
            if !inst.keys.contains(&k) {
                inst.keys.push(k);
                self.index.insert(k, id);
                if let Key::Value { path, .. } = k {
                    self.paths.waiting[path as usize] += 1;
                }
            }
        }
        self.keys = wanted;
    }

    fn settle(&mut self, id: u64, trace: &Tracker, why: Why, out: &mut dyn FnMut(InstanceReport)) {
        let Some(inst) = self.instances.remove(&id) else {
            return;
        };
        for &k in &inst.keys {
            if let Key::Value { path, .. } = k {
                self.paths.waiting[path as usize] -= 1;
            }
            let instances = &self.instances;
            self.index.remove(k, |x| instances.contains_key(&x));
        }
        let rule = &self.rules[inst.rule];
        let settled = inst.settle(rule, trace, why);
        let gid = settled.group;
        let Some(group) = self.groups.get_mut(&gid) else {
            out(settled.report);
            return;
        };
        group.open = group.open.saturating_sub(1);
        group.settled.push(settled);
        if group.open == 0
            && let Some(group) = self.groups.remove(&gid)
            && let Some(report) = settle::choose(group.settled, &self.rules)
        {
            out(report);
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
            } else if inst.overdue_at.is_none() {
                // The time limit ran out: wait one more limit, so that a
                // message that comes late is reported with its frame.
                let rule = &self.rules[inst.rule];
                let grace = inst.deadline_ns - inst.last_time.as_nanos();
                inst.overdue_at = Some(inst.deadline_ns);
                inst.deadline_ns += grace.max(0);
                inst.armed_at = Some(inst.deadline_ns);
                let _ = rule;
                self.timers.push(Reverse((inst.deadline_ns, id)));
            } else {
                self.settle(id, trace, Why::Done, out);
            }
        }
    }

    /// End of the file: settle everything still open, in trigger order.
    pub fn finish(&mut self, trace: &Tracker, out: &mut dyn FnMut(InstanceReport)) {
        let mut ids: Vec<u64> = self.instances.keys().copied().collect();
        ids.sort_unstable();
        let end = trace.now();
        for id in ids {
            self.settle(id, trace, Why::End(end), out);
        }
        self.timers.clear();
        self.order.clear();
    }
}

/// Step 1 and the steps that forward it hop by hop, with their depth.
fn entry_steps(rule: &Rule) -> Vec<(usize, usize)> {
    let mut entries = vec![(0, 0)];
    for (idx, step) in rule.steps.iter().enumerate().skip(1) {
        if step.optional || step.in_repeat || step.path {
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

/// The index keys under which an instance's pending steps can be found.
fn wanted_keys(
    inst: &Instance,
    rule: &Rule,
    trace: &Tracker,
    paths: &mut index::ValuePaths,
    keys: &mut Vec<Key>,
) {
    use crate::rules::ast::{CondKind, Op, Operand};
    keys.push(Key::CallId(inst.trigger_call_key));
    // Steps tied by a relation, next hops and retransmissions carry a
    // Call-ID the instance has seen (duplicates are dropped on insertion).
    let before = keys.len();
    inst.all_call_ids(&mut |c| {
        let k = Key::CallId(c);
        if !keys[before..].contains(&k) {
            keys.push(k);
        }
    });
    for (idx, step) in rule.steps.iter().enumerate() {
        if step.relation.is_some() || idx == 0 || !inst.pending(rule, idx) {
            continue;
        }
        let kind = index::kind_of_step(&step.message);
        let mut found = false;
        for cond in &step.matches {
            match &cond.kind {
                CondKind::Compare {
                    path,
                    op: Op::Eq(Operand::Var(v)),
                } => {
                    if let Some(Some(value)) = inst.vars.get(*v)
                        && let Some(p) = paths.find(kind, path)
                    {
                        keys.push(Key::Value {
                            path: p,
                            value: index::value_key(value),
                        });
                        found = true;
                    }
                }
                CondKind::DialogOf { var, .. } => {
                    let Some(Some(focus)) = inst.vars.get(*var) else {
                        continue;
                    };
                    let dialogs = trace.focus_dialogs(focus);
                    if !dialogs.is_empty() {
                        // The capture holds the session's setup: its
                        // dialogs are known by Call-ID.
                        keys.extend(dialogs.iter().map(|d| Key::CallId(d.call_id)));
                        found = true;
                    } else {
                        // Without it: the conference named in From or To.
                        for p in index::from_to_uri() {
                            if let Some(id) = paths.find(kind, &p) {
                                keys.push(Key::Value {
                                    path: id,
                                    value: index::value_key(focus),
                                });
                                found = true;
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        if found {
            continue;
        }
        let from = inst.slot(rule, step.from, None).addrs();
        if from.is_empty() {
            keys.push(Key::Kind(kind));
        } else {
            keys.extend(from.iter().map(|a| Key::Src { ip: a.ip(), kind }));
        }
    }
}
