//! One flow instance while it is open, and how it is settled.

use std::net::IpAddr;

use super::eval::{Env, Truth, eval_cond, eval_path};
use super::{InstanceReport, Key, Status, StepReport, Verdict};
use crate::capture::Timestamp;
use crate::rules::ast::{CondKind, MessagePattern, Relation, Rule, StatusPattern, StepIdx};
use crate::trace::{Msg, Tracker, call_id_key};

/// What is kept of a message once it is a step: the correlation fields
/// later steps refer to, and where it was seen.
#[derive(Debug, Clone)]
pub(super) struct Seen {
    src: IpAddr,
    dst: IpAddr,
    frame: u64,
    time: Timestamp,
    /// Fingerprints ([`key`]) of the correlation fields: a seen step costs
    /// no allocation.
    call_id: u64,
    cseq: u32,
    cseq_method: u64,
    branch: Option<u64>,
    from_tag: Option<u64>,
    status: Option<u16>,
    /// Why the message, though it is this step, has the wrong content.
    wrong: Option<String>,
}

/// One participant of a per-participant block.
#[derive(Debug, Clone)]
pub(super) struct Iteration {
    pub participant: String,
    /// The participant's dialog, by [`call_id_key`] fingerprint.
    pub call_id: Option<u64>,
    roles: Vec<Option<IpAddr>>,
    seen: Vec<Option<Seen>>,
}

/// An open flow instance.
#[derive(Debug)]
pub(super) struct Instance {
    pub rule: usize,
    pub group: u64,
    trigger_frame: u64,
    trigger_call_id: String,
    /// The trigger's Call-ID fingerprint (an instance is always found by
    /// it, so that a retransmitted trigger meets the instance it started).
    trigger_call_key: u64,
    pub roles: Vec<Option<IpAddr>>,
    pub vars: Vec<Option<String>>,
    seen: Vec<Option<Seen>>,
    pub iterations: Vec<Iteration>,
    snapshot_done: bool,
    from_setup: bool,
    last_time: Timestamp,
    /// When the instance stops waiting (capture time, ns), and the
    /// deadline its live timer entry was set for.
    pub deadline_ns: i128,
    pub armed_at: Option<i128>,
    pub keys: Vec<Key>,
    pub in_scan: bool,
    evidence: u32,
    /// Vias beyond what the entry step's hop needs (0 fits best).
    via_excess: usize,
}

/// A settled instance awaiting the other alternatives of its trigger.
#[derive(Debug)]
pub(super) struct Settled {
    pub group: u64,
    pub rule: usize,
    pub score: (usize, u32, std::cmp::Reverse<usize>),
    pub report: InstanceReport,
}

/// A message accepted as a step, before it is recorded.
struct Accept {
    seen: Seen,
    bind: Vec<(usize, IpAddr)>,
    vars: Option<Vec<Option<String>>>,
    evidence: u32,
}

/// The fingerprint under which strings are kept and compared.
fn key(s: &str) -> u64 {
    call_id_key(s)
}

fn in_block(rule: &Rule, idx: StepIdx) -> bool {
    rule.repeat
        .as_ref()
        .is_some_and(|r| idx >= r.first && idx <= r.last)
}

fn per_participant(rule: &Rule, role: usize) -> bool {
    rule.repeat
        .as_ref()
        .is_some_and(|r| r.roles.contains(&role))
}

impl Instance {
    /// Can `msg` start an instance at step `entry`? The cheap refusal
    /// [`Instance::trigger`] starts with, kept apart so that the common
    /// case (most messages start nothing) costs a compare, not a call.
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
        preset: &[Option<IpAddr>],
        msg: &Msg<'_>,
        trace: &Tracker,
        entry: StepIdx,
        depth: usize,
    ) -> Option<Instance> {
        // Cheap refusals first: the kind of message of the entry step.
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
            // Set once the message is taken (most candidates are not).
            trigger_call_id: String::new(),
            trigger_call_key: msg.call_key,
            roles: preset.to_vec(),
            vars: vec![None; rule.vars.len()],
            seen: vec![None; rule.steps.len()],
            iterations: Vec::new(),
            snapshot_done: false,
            from_setup: false,
            last_time: msg.time,
            deadline_ns: 0,
            armed_at: None,
            keys: Vec::new(),
            in_scan: false,
            evidence: 0,
            via_excess: if depth == 0 {
                msg.sip.vias().count().saturating_sub(1)
            } else {
                vias - (depth + 1)
            },
        };
        if entry > 0 {
            // The message stands for step 1 too: its captures and ties.
            let first = &rule.steps[0];
            if !matches!(&first.message, MessagePattern::Request { method } if msg.method == Some(method.as_str()))
            {
                return None;
            }
            for c in &first.captures {
                inst.vars[c.var] = eval_path(msg, &c.path).map(|x| x.into_owned());
            }
            let roles = inst.roles.clone();
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

    fn role(&self, rule: &Rule, role: usize, iter: Option<usize>) -> Option<IpAddr> {
        match iter {
            Some(i) if per_participant(rule, role) => {
                self.iterations.get(i).and_then(|it| it.roles[role])
            }
            _ => self.roles[role],
        }
    }

    fn seen_at(&self, rule: &Rule, idx: StepIdx, iter: Option<usize>) -> Option<&Seen> {
        match (&rule.repeat, iter) {
            (Some(r), Some(i)) if in_block(rule, idx) => self
                .iterations
                .get(i)
                .and_then(|it| it.seen[idx - r.first].as_ref()),
            (Some(_), None) if in_block(rule, idx) => self
                .iterations
                .iter()
                .filter_map(|it| {
                    it.seen[idx - rule.repeat.as_ref().map_or(0, |r| r.first)].as_ref()
                })
                .next(),
            _ => self.seen[idx].as_ref(),
        }
    }

    /// Call-ID fingerprints of the messages seen as step `idx` (every
    /// participant's), appended to `out`.
    fn seen_call_ids(&self, rule: &Rule, idx: StepIdx, out: &mut Vec<u64>) {
        match &rule.repeat {
            Some(r) if in_block(rule, idx) => out.extend(
                self.iterations
                    .iter()
                    .filter_map(|it| it.seen[idx - r.first].as_ref().map(|s| s.call_id)),
            ),
            _ => out.extend(self.seen[idx].iter().map(|s| s.call_id)),
        }
    }

    /// The Call-IDs (fingerprints) a message must carry to be step `idx`,
    /// appended to `out`: those of the nearest seen step along its chain of
    /// relations (the step it names, or the one that step names, ...).
    /// Nothing when no step of the chain is seen yet: it cannot match then.
    pub(super) fn anchor_call_ids(&self, rule: &Rule, idx: StepIdx, out: &mut Vec<u64>) {
        let mut cur = idx;
        for _ in 0..rule.steps.len() {
            let Some(rel) = rule.steps[cur].relation else {
                return;
            };
            let before = out.len();
            self.seen_call_ids(rule, rel.target(), out);
            if out.len() > before {
                return;
            }
            cur = rel.target();
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
                        .any(|it| it.seen[idx - r.first].is_none())
            }
            _ => self.seen[idx].is_none(),
        }
    }

    /// Is `msg` a retransmission of a message this instance already holds
    /// (the same message again on the same hop)? It is then not a new step.
    fn holds_again(&self, msg: &Msg<'_>) -> bool {
        let same = |s: &Seen| {
            s.call_id == msg.call_key
                && s.cseq == msg.cseq
                && s.status == msg.status
                && s.src == msg.src.ip()
                && s.dst == msg.dst.ip()
                && s.cseq_method == key(msg.cseq_method)
                && s.branch == msg.top_branch().map(key)
        };
        self.seen.iter().flatten().any(same)
            || self
                .iterations
                .iter()
                .any(|it| it.seen.iter().flatten().any(same))
    }

    /// The Call-ID of the trigger: an instance is always found by it, so
    /// that a retransmitted trigger meets the instance it started.
    pub(super) fn trigger_call_key(&self) -> u64 {
        self.trigger_call_key
    }

    /// Try every pending step in rule order; the first that accepts the
    /// message takes it. A retransmission of a step is taken, and changes
    /// nothing.
    pub(super) fn offer(&mut self, rule: &Rule, msg: &Msg<'_>, trace: &Tracker) -> bool {
        if self.holds_again(msg) {
            return true;
        }
        for idx in 1..rule.steps.len() {
            if let Some(r) = rule.repeat.as_ref().filter(|_| in_block(rule, idx)) {
                for i in 0..self.iterations.len() {
                    // A participant's block starts in its own dialog.
                    let other_dialog = idx == r.first
                        && self.iterations[i]
                            .call_id
                            .is_some_and(|c| c != msg.call_key);
                    if !other_dialog
                        && self.iterations[i].seen[idx - r.first].is_none()
                        && let Some(a) = self.try_step(rule, idx, Some(i), msg, trace, false)
                    {
                        self.record(rule, idx, Some(i), a, msg, trace);
                        return true;
                    }
                }
                if idx == r.first && self.may_add_participant(rule) {
                    self.iterations.push(Iteration {
                        participant: msg.sip.request_uri_str().unwrap_or_default().to_string(),
                        call_id: Some(msg.call_key),
                        roles: vec![None; rule.roles.len()],
                        seen: vec![None; r.last - r.first + 1],
                    });
                    let i = self.iterations.len() - 1;
                    if let Some(a) = self.try_step(rule, idx, Some(i), msg, trace, false) {
                        self.record(rule, idx, Some(i), a, msg, trace);
                        return true;
                    }
                    self.iterations.pop();
                }
            } else if self.seen[idx].is_none()
                && let Some(a) = self.try_step(rule, idx, None, msg, trace, false)
            {
                self.record(rule, idx, None, a, msg, trace);
                return true;
            }
        }
        false
    }

    /// Without the session's setup, participants are the dialogs the focus
    /// sends BYEs in, between the step before the block and the step after.
    fn may_add_participant(&self, rule: &Rule) -> bool {
        let Some(r) = &rule.repeat else { return false };
        if self.from_setup {
            return false;
        }
        let before = r
            .first
            .checked_sub(1)
            .is_none_or(|b| self.seen[b].is_some());
        let after_seen = rule
            .steps
            .iter()
            .enumerate()
            .skip(r.last + 1)
            .find(|(_, s)| !s.optional)
            .is_some_and(|(i, _)| self.seen[i].is_some());
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
        let from_ip = msg.src.ip();
        let to_ip = msg.dst.ip();
        // At most two new bindings (sender and receiver): on the stack,
        // since most offered messages are refused.
        let mut bound: [Option<(usize, IpAddr)>; 2] = [None; 2];
        for (role, ip) in [(step.from, from_ip), (step.to, to_ip)] {
            match self.role(rule, role, iter) {
                Some(had) if had != ip => return None,
                Some(_) => {}
                None => {
                    if bound.iter().flatten().any(|&(r, b)| r != role && b == ip)
                        && !per_participant(rule, role)
                    {
                        return None;
                    }
                    if !per_participant(rule, role)
                        && self
                            .roles
                            .iter()
                            .enumerate()
                            .any(|(r, b)| r != role && *b == Some(ip) && !per_participant(rule, r))
                    {
                        return None;
                    }
                    if !bound.iter().flatten().any(|&(r, _)| r == role)
                        && let Some(free) = bound.iter_mut().find(|b| b.is_none())
                    {
                        *free = Some((role, ip));
                    }
                }
            }
        }
        if step.from == step.to && from_ip != to_ip {
            return None;
        }
        // The relation.
        if let Some(rel) = step.relation
            && !entry
            && !self.relation_holds(rule, rel, iter, msg, trace)
        {
            return None;
        }
        // Captures, visible to this step's own conditions.
        let vars = if step.captures.is_empty() {
            None
        } else {
            let mut v = self.vars.clone();
            for c in &step.captures {
                v[c.var] = eval_path(msg, &c.path).map(|x| x.into_owned());
            }
            Some(v)
        };
        // The bindings the conditions see; on the stack for the usual few
        // roles (this runs for every offered message).
        let mut small = [None; 8];
        let mut large = Vec::new();
        let roles: &mut [Option<IpAddr>] = match small.get_mut(..self.roles.len()) {
            Some(s) => {
                s.copy_from_slice(&self.roles);
                s
            }
            None => {
                large.extend_from_slice(&self.roles);
                &mut large
            }
        };
        if let Some(i) = iter {
            for (r, b) in roles.iter_mut().enumerate() {
                if per_participant(rule, r) {
                    *b = self.iterations.get(i).and_then(|it| it.roles[r]);
                }
            }
        }
        for &(r, ip) in bound.iter().flatten() {
            roles[r] = Some(ip);
        }
        let env = Env {
            vars: vars.as_deref().unwrap_or(&self.vars),
            roles,
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
        Some(Accept {
            seen: Seen {
                src: msg.src.ip(),
                dst: msg.dst.ip(),
                frame: msg.frame,
                time: msg.time,
                call_id: msg.call_key,
                cseq: msg.cseq,
                cseq_method: key(msg.cseq_method),
                branch: msg.top_branch().map(key),
                from_tag: msg.from_tag().map(key),
                status: msg.status,
                wrong,
            },
            bind: bound.iter().flatten().copied().collect(),
            vars,
            evidence,
        })
    }

    /// Does `msg` stand in relation `rel` to the step it names? When that
    /// step was not seen (its link was not captured, or it is missing), the
    /// relation is checked against the nearest seen step behind it in the
    /// chain of relations: a request forwarded or answered keeps its
    /// Call-ID and CSeq; a request in a dialog keeps the Call-ID.
    fn relation_holds(
        &self,
        rule: &Rule,
        rel: Relation,
        iter: Option<usize>,
        msg: &Msg<'_>,
        trace: &Tracker,
    ) -> bool {
        let target_iter = |idx: StepIdx| if in_block(rule, idx) { iter } else { None };
        if let Some(t) = self.seen_at(rule, rel.target(), target_iter(rel.target())) {
            let same_cseq = msg.call_key == t.call_id
                && msg.cseq == t.cseq
                && key(msg.cseq_method) == t.cseq_method;
            return match rel {
                Relation::SameTransaction(_) => {
                    same_cseq
                        && match (msg.status, t.status) {
                            (Some(a), Some(b)) => a == b,
                            _ => true,
                        }
                }
                Relation::ResponseTo(_) => {
                    same_cseq
                        && match (msg.top_branch(), t.branch) {
                            (Some(a), Some(b)) => key(a) == b,
                            _ => true,
                        }
                }
                Relation::InDialog(_) => {
                    msg.call_key == t.call_id
                        && match t.from_tag {
                            Some(tag) => {
                                msg.to_tag().map(key) == Some(tag)
                                    || msg.from_tag().map(key) == Some(tag)
                            }
                            None => true,
                        }
                }
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
                let roles = self.roles.clone();
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
                    return false;
                }
            }
            let Some(next) = unseen.relation else {
                return false;
            };
            if matches!(next, Relation::InDialog(_)) {
                strict = false;
            }
            idx = next.target();
            if let Some(t) = self.seen_at(rule, idx, target_iter(idx)) {
                return msg.call_key == t.call_id
                    && (!strict || (msg.cseq == t.cseq && key(msg.cseq_method) == t.cseq_method));
            }
        }
        false
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
        for (role, ip) in a.bind {
            match iter {
                Some(i) if per_participant(rule, role) => self.iterations[i].roles[role] = Some(ip),
                _ => self.roles[role] = Some(ip),
            }
        }
        if let Some(v) = a.vars {
            self.vars = v;
        }
        self.evidence += a.evidence;
        if msg.time > self.last_time {
            self.last_time = msg.time;
        }
        match (iter, &rule.repeat) {
            (Some(i), Some(r)) => self.iterations[i].seen[idx - r.first] = Some(a.seen),
            _ => self.seen[idx] = Some(a.seen),
        }
        self.snapshot_participants(rule, trace);
    }

    /// Once the conference URI is known, the participants are the focus
    /// dialogs the capture holds for it (RFC 4579), if any.
    fn snapshot_participants(&mut self, rule: &Rule, trace: &Tracker) {
        let Some(r) = &rule.repeat else { return };
        if self.snapshot_done {
            return;
        }
        let Some(Some(focus)) = self.vars.get(r.focus_var) else {
            return;
        };
        self.snapshot_done = true;
        let dialogs = trace.focus_dialogs(focus);
        if dialogs.is_empty() {
            return;
        }
        self.from_setup = true;
        for d in dialogs {
            self.iterations.push(Iteration {
                participant: d.participant.to_string(),
                call_id: Some(d.call_id),
                roles: vec![None; rule.roles.len()],
                seen: vec![None; r.last - r.first + 1],
            });
        }
    }

    /// Every required step seen (for each participant).
    pub(super) fn complete(&self, rule: &Rule) -> bool {
        for (idx, step) in rule.steps.iter().enumerate() {
            if step.optional {
                continue;
            }
            match &rule.repeat {
                Some(r) if in_block(rule, idx) => {
                    if self.iterations.is_empty()
                        || self
                            .iterations
                            .iter()
                            .any(|it| it.seen[idx - r.first].is_none())
                    {
                        return false;
                    }
                }
                _ => {
                    if self.seen[idx].is_none() {
                        return false;
                    }
                }
            }
        }
        true
    }

    /// When to stop waiting: the latest step's time plus the longest time
    /// limit of the steps still pending.
    pub(super) fn deadline(&self, rule: &Rule) -> i128 {
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

    /// Decide every step's status and build the report.
    pub(super) fn settle(self, rule: &Rule, trace: &Tracker) -> Settled {
        struct Entry<'s> {
            idx: StepIdx,
            iter: Option<usize>,
            seen: Option<&'s Seen>,
        }
        let mut entries: Vec<Entry<'_>> = Vec::new();
        for (idx, step) in rule.steps.iter().enumerate() {
            if step.optional {
                continue;
            }
            match &rule.repeat {
                Some(r) if in_block(rule, idx) => {
                    if self.iterations.is_empty() {
                        entries.push(Entry {
                            idx,
                            iter: None,
                            seen: None,
                        });
                    }
                    for (i, it) in self.iterations.iter().enumerate() {
                        entries.push(Entry {
                            idx,
                            iter: Some(i),
                            seen: it.seen[idx - r.first].as_ref(),
                        });
                    }
                }
                _ => entries.push(Entry {
                    idx,
                    iter: None,
                    seen: self.seen[idx].as_ref(),
                }),
            }
        }
        // The nodes the instance knows: its own roles, plus (for a
        // per-participant step) that participant's.
        let global: Vec<IpAddr> = self.roles.iter().flatten().copied().collect();
        let known_for = |iter: Option<usize>| -> Vec<IpAddr> {
            let mut k = global.clone();
            if let Some(it) = iter.and_then(|i| self.iterations.get(i)) {
                k.extend(it.roles.iter().flatten());
            }
            k
        };
        let mut steps = Vec::with_capacity(entries.len());
        let mut seen_count = 0;
        for e in &entries {
            let step = &rule.steps[e.idx];
            let number = step.number.unwrap_or(0);
            let participant = e.iter.map(|i| self.iterations[i].participant.clone());
            let (status, frame, time, detail) = match e.seen {
                Some(s) => {
                    seen_count += 1;
                    // The closest earlier step seen later than this one.
                    let violator = entries
                        .iter()
                        .filter(|f| f.idx < e.idx)
                        .filter(|f| match (e.iter, f.iter) {
                            (Some(a), Some(b)) => a == b,
                            _ => true,
                        })
                        .filter_map(|f| f.seen.map(|fs| (f.idx, fs)))
                        .filter(|(_, fs)| fs.frame > s.frame)
                        .max_by_key(|(idx, _)| *idx);
                    if let Some(w) = &s.wrong {
                        (Status::Wrong, Some(s.frame), Some(s.time), Some(w.clone()))
                    } else if let Some((vidx, vs)) = violator {
                        let vn = rule.steps[vidx].number.unwrap_or(0);
                        (
                            Status::OutOfOrder,
                            Some(s.frame),
                            Some(s.time),
                            Some(format!(
                                "seen at frame {}, before step {vn} (frame {})",
                                s.frame, vs.frame
                            )),
                        )
                    } else {
                        (Status::Ok, Some(s.frame), Some(s.time), None)
                    }
                }
                None => {
                    let from = self.role(rule, step.from, e.iter);
                    let to = self.role(rule, step.to, e.iter);
                    let known = known_for(e.iter);
                    let covered = match (from, to) {
                        (Some(a), Some(b)) => trace.link_seen(a, b),
                        (Some(a), None) | (None, Some(a)) => trace.has_peer_outside(a, &known),
                        (None, None) => trace.has_link_outside(&known),
                    };
                    let names = format!("{} and {}", rule.roles[step.from], rule.roles[step.to]);
                    if covered {
                        (
                            Status::Missing,
                            None,
                            None,
                            Some(format!(
                                "not seen (the capture holds other SIP between {names})"
                            )),
                        )
                    } else {
                        (
                            Status::Unobserved,
                            None,
                            None,
                            Some(format!("the capture holds no SIP between {names}")),
                        )
                    }
                }
            };
            steps.push(StepReport {
                number,
                participant,
                expected: step.summary.clone(),
                status,
                frame,
                time,
                detail,
            });
        }
        let mut notes = Vec::new();
        if rule.repeat.is_some() && !self.from_setup {
            notes.push(
                "the capture does not hold the session's setup: participants are the dialogs the focus sent BYEs in".to_string(),
            );
        }
        let verdict = Verdict::of(steps.iter().map(|s| s.status));
        Settled {
            group: self.group,
            rule: self.rule,
            score: (
                seen_count,
                self.evidence,
                std::cmp::Reverse(self.via_excess),
            ),
            report: InstanceReport {
                rule: rule.id.clone(),
                title: rule.title.clone(),
                trigger_frame: self.trigger_frame,
                trigger_call_id: self.trigger_call_id,
                session: rule.session_var.and_then(|v| self.vars[v].clone()),
                verdict,
                steps,
                notes,
            },
        }
    }
}

/// Of the instances one message started, the one that explains the most
/// steps (then: with setup evidence; then: the earlier rule).
pub(super) fn choose(mut settled: Vec<Settled>, rules: &[Rule]) -> InstanceReport {
    settled.sort_by(|a, b| b.score.cmp(&a.score).then(a.rule.cmp(&b.rule)));
    let mut it = settled.into_iter();
    let Some(mut best) = it.next() else {
        return InstanceReport {
            rule: String::new(),
            title: String::new(),
            trigger_frame: 0,
            trigger_call_id: String::new(),
            session: None,
            verdict: Verdict::Fail,
            steps: Vec::new(),
            notes: Vec::new(),
        };
    };
    if let Some(second) = it.next()
        && second.score == best.score
    {
        best.report.notes.push(format!(
            "the trigger fits rule {} equally well; reported as {} (the capture cannot tell them apart)",
            rules[second.rule].id, rules[best.rule].id
        ));
    }
    best.report
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max).collect();
        out.push('…');
        out
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
