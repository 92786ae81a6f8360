//! Settling an instance: every step's status, and the report.

use std::net::SocketAddr;

use super::instance::Instance;
use super::seen::Seen;
use super::{InstanceReport, Status, StepReport, Verdict};
use crate::capture::Timestamp;
use crate::rules::ast::{CondKind, MessagePattern, Rule, StepIdx};
use crate::trace::Tracker;

/// A settled instance awaiting the other alternatives of its trigger.
#[derive(Debug)]
pub(super) struct Settled {
    pub group: u64,
    pub rule: usize,
    pub score: (usize, u32, std::cmp::Reverse<usize>),
    pub report: InstanceReport,
}

/// Why an instance is settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Why {
    /// Every step was seen, or the time limit of what is pending ran out.
    Done,
    /// The capture ended at this time, before the time limit ran out.
    End(Timestamp),
    /// Evicted to keep memory bounded, at this capture time.
    Evicted(Timestamp),
}

fn in_block(rule: &Rule, idx: StepIdx) -> bool {
    rule.repeat
        .as_ref()
        .is_some_and(|r| idx >= r.first && idx <= r.last)
}

struct Entry<'s> {
    idx: StepIdx,
    iter: Option<usize>,
    seen: Option<&'s Seen>,
}

impl Instance {
    /// Decide every step's status and build the report.
    pub(super) fn settle(self, rule: &Rule, trace: &Tracker, why: Why) -> Settled {
        // A block with no participant at all is reported as missing, unless
        // steps outside it are numbered like it (they stand for one
        // participant, and the block for the others, who may be none).
        let block_alone = rule.repeat.as_ref().is_some_and(|r| {
            let (a, b) = (rule.steps[r.first].number, rule.steps[r.last].number);
            !rule.steps.iter().enumerate().any(|(i, s)| {
                !in_block(rule, i) && s.number.is_some_and(|n| Some(n) >= a && Some(n) <= b)
            })
        });
        let mut entries: Vec<Entry<'_>> = Vec::new();
        for (idx, step) in rule.steps.iter().enumerate() {
            if in_block(rule, idx) {
                if self.iterations.is_empty() && !step.optional && block_alone {
                    entries.push(Entry {
                        idx,
                        iter: None,
                        seen: None,
                    });
                }
                for (i, it) in self.iterations.iter().enumerate() {
                    if !step.optional || it.seen.get(idx).is_some() {
                        entries.push(Entry {
                            idx,
                            iter: Some(i),
                            seen: it.seen.get(idx),
                        });
                    }
                }
            } else if !step.optional || self.seen.get(idx).is_some() {
                entries.push(Entry {
                    idx,
                    iter: None,
                    seen: self.seen.get(idx),
                });
            }
        }
        // The step numbers a `repeat` block spans: outer steps numbered
        // inside that span run beside each participant's block (flow 2's
        // hops toward part-b), not before or after it.
        let span = rule
            .repeat
            .as_ref()
            .and_then(|r| Some((rule.steps[r.first].number?, rule.steps[r.last].number?)));
        let beside = |n: u32| span.is_some_and(|(a, b)| n >= a && n <= b);
        let ordered =
            |a: &Entry<'_>, b: &Entry<'_>| match (in_block(rule, a.idx), in_block(rule, b.idx)) {
                (true, true) => a.iter == b.iter,
                (true, false) => !rule.steps[b.idx].number.is_some_and(beside),
                (false, true) => !rule.steps[a.idx].number.is_some_and(beside),
                (false, false) => true,
            };
        // The nodes the instance knows.
        let known_for = |iter: Option<usize>| -> Vec<std::net::IpAddr> {
            (0..self.slots.len())
                .flat_map(|r| self.slot(rule, r, iter).addrs().to_vec())
                .map(|a| a.ip())
                .collect()
        };
        let latest = entries
            .iter()
            .filter_map(|e| e.seen)
            .max_by_key(|s| s.hop.time);
        let deadline = self.deadline(rule);
        // Unbound roles whose node a seen hop's second Via names: the node
        // that sent the copy before a seen request, or that a seen response
        // goes to next.
        let mut inferred: std::collections::HashMap<(usize, Option<usize>), std::net::IpAddr> =
            std::collections::HashMap::new();
        for e in entries.iter().filter(|e| e.seen.is_none()) {
            let step = &rule.steps[e.idx];
            let request = matches!(step.message, MessagePattern::Request { .. });
            let group = rule.txn_group[e.idx];
            for f in entries.iter().filter(|f| rule.txn_group[f.idx] == group) {
                let (Some(fs), ft) = (f.seen, &rule.steps[f.idx]) else {
                    continue;
                };
                if std::mem::discriminant(&ft.message) != std::mem::discriminant(&step.message) {
                    continue;
                }
                let free = |r: usize| self.slot(rule, r, e.iter).addrs().is_empty();
                if request
                    && free(step.from)
                    && ft.from == step.to
                    && f.idx > e.idx
                    && let Some(n) = fs.via2_node()
                {
                    inferred.entry((step.from, e.iter)).or_insert(n);
                }
                if !request
                    && free(step.to)
                    && ft.to == step.from
                    && f.idx < e.idx
                    && let Some(n) = fs.via2_node()
                {
                    inferred.entry((step.to, e.iter)).or_insert(n);
                }
            }
        }
        let mut steps = Vec::with_capacity(entries.len());
        let mut seen_count = 0;
        let mut last_number = 0;
        for e in &entries {
            let step = &rule.steps[e.idx];
            let number = step.number.unwrap_or(last_number);
            last_number = number;
            let participant = match e.iter {
                Some(i) => Some(self.iterations[i].participant.clone()),
                None => self.dialog_participant(rule, trace, e.idx),
            };
            let (status, frame, time, detail) = match e.seen {
                Some(s) if s.arrived => {
                    seen_count += 1;
                    // The closest earlier step seen later than this one.
                    let violator = entries
                        .iter()
                        .filter(|f| match (step.number, rule.steps[f.idx].number) {
                            (Some(n), Some(m)) => m < n,
                            _ => false,
                        })
                        .filter(|f| ordered(e, f))
                        .filter_map(|f| f.seen.map(|fs| (f.idx, fs)))
                        .filter(|(_, fs)| fs.hop.frame > s.hop.frame)
                        .max_by_key(|(idx, _)| rule.steps[*idx].number);
                    if let Some(late) = s.late {
                        (
                            Status::Missing,
                            Some(s.hop.frame),
                            Some(s.hop.time),
                            Some(format!(
                                "seen late, at frame {}: {:.1} s after its time limit ({} s) ran out",
                                s.hop.frame,
                                late.max(0) as f64 / 1e9,
                                step.timeout.as_secs()
                            )),
                        )
                    } else if let Some(w) = &s.wrong {
                        (
                            Status::Wrong,
                            Some(s.hop.frame),
                            Some(s.hop.time),
                            Some(w.clone()),
                        )
                    } else if let Some((vidx, vs)) = violator {
                        let vn = rule.steps[vidx].number.unwrap_or(0);
                        (
                            Status::OutOfOrder,
                            Some(s.hop.frame),
                            Some(s.hop.time),
                            Some(format!(
                                "seen at frame {}, before step {vn} (frame {})",
                                s.hop.frame, vs.hop.frame
                            )),
                        )
                    } else {
                        (Status::Ok, Some(s.hop.frame), Some(s.hop.time), None)
                    }
                }
                Some(s) => (
                    // A path that never reached its receiving role.
                    Status::Missing,
                    None,
                    None,
                    Some(format!(
                        "reached {} only (frame {}), never {}",
                        show(s.hop.dst),
                        s.hop.frame,
                        rule.roles[step.to]
                    )),
                ),
                None => {
                    let names = format!("{} and {}", rule.roles[step.from], rule.roles[step.to]);
                    let mut from: Vec<std::net::IpAddr> = self
                        .slot(rule, step.from, e.iter)
                        .addrs()
                        .iter()
                        .map(|a| a.ip())
                        .collect();
                    let mut to: Vec<std::net::IpAddr> = self
                        .slot(rule, step.to, e.iter)
                        .addrs()
                        .iter()
                        .map(|a| a.ip())
                        .collect();
                    // An unbound end named by a neighbouring hop's Via (the
                    // capture lacks this hop, not the message).
                    if from.is_empty() {
                        from.extend(inferred.get(&(step.from, e.iter)).copied());
                    }
                    if to.is_empty() {
                        to.extend(inferred.get(&(step.to, e.iter)).copied());
                    }
                    let known = known_for(e.iter);
                    let covered = if step.path && !(from.is_empty() && to.is_empty()) {
                        // A path may leave its sender on any link: covered
                        // when the capture holds the sender's SIP at all.
                        from.iter()
                            .chain(to.iter())
                            .any(|a| trace.has_peer_outside(*a, &[]))
                    } else {
                        match (from.is_empty(), to.is_empty()) {
                            (false, false) => from
                                .iter()
                                .any(|a| to.iter().any(|b| trace.link_seen(*a, *b))),
                            (false, true) => {
                                from.iter().any(|a| trace.has_peer_outside(*a, &known))
                            }
                            (true, false) => to.iter().any(|a| trace.has_peer_outside(*a, &known)),
                            // Neither end known: covered when the nodes the
                            // instance knows talk to others too (the capture
                            // is not taken at one point of this flow alone).
                            (true, true) => {
                                trace.has_link_outside(&known)
                                    && known.iter().any(|k| trace.has_peer_outside(*k, &known))
                            }
                        }
                    };
                    match why {
                        Why::End(end) if end.as_nanos() <= deadline && self.overdue_at.is_none() => (
                            Status::Unobserved,
                            None,
                            None,
                            Some(match latest {
                                Some(l) => format!(
                                    "the capture ends {:.1} s after frame {}, before this step's time limit ({} s) ran out",
                                    (end.as_nanos() - l.hop.time.as_nanos()).max(0) as f64 / 1e9,
                                    l.hop.frame,
                                    step.timeout.as_secs()
                                ),
                                None => "the capture ends before this step's time limit ran out"
                                    .to_string(),
                            }),
                        ),
                        Why::Evicted(_) => (
                            Status::Unobserved,
                            None,
                            None,
                            Some("not judged: the instance was evicted to bound memory (too many open instances)".to_string()),
                        ),
                        _ if covered => (
                            Status::Missing,
                            None,
                            None,
                            Some(format!(
                                "not seen (the capture holds other SIP between {names})"
                            )),
                        ),
                        _ => (
                            Status::Unobserved,
                            None,
                            None,
                            Some(format!("the capture holds no SIP between {names}")),
                        ),
                    }
                }
            };
            let hops = e
                .seen
                .map(|s| s.all_hops())
                .filter(|h| h.len() > 1)
                .unwrap_or_default();
            steps.push(StepReport {
                number,
                optional: step.optional,
                participant,
                expected: step.summary.clone(),
                status,
                frame,
                time,
                detail,
                hops,
            });
        }
        // In the spec's order: by step number (a block's steps that carry
        // outer numbers come beside them; optional messages after the step
        // they follow).
        steps.sort_by_key(|s| (s.number, s.optional));
        let mut notes = Vec::new();
        if rule.repeat.is_some() && !self.from_setup {
            notes.push(
                "the capture does not hold the session's setup: participants are the dialogs the focus sent BYEs in".to_string(),
            );
        }
        if let Why::Evicted(_) = why {
            notes.push("evicted before it settled: too many instances were open at once".into());
        }
        let verdict = Verdict::of(steps.iter().filter(|s| !s.optional).map(|s| s.status));
        // A context instance's trigger is its first step once seen, else
        // the context message.
        let (trigger_frame, trigger_call_id) = match (self.seen.get(0), self.first_call_id) {
            (Some(s), Some(c)) if self.from_context => (s.hop.frame, c),
            _ => (self.trigger_frame, self.trigger_call_id),
        };
        if self.from_context && self.seen.get(0).is_none() {
            notes.push(format!(
                "due since frame {}: the subscriber's conference subscription was accepted, then a session was set up with the notifier for it",
                self.trigger_frame
            ));
        }
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
                trigger_frame,
                trigger_call_id,
                branch: rule.branch.clone(),
                session: rule.session_var.and_then(|v| self.vars[v].clone()),
                verdict,
                steps,
                notes,
                roles: (0..self.slots.len())
                    .filter_map(|r| {
                        let a = self.slots[r].addrs();
                        (!a.is_empty()).then(|| {
                            (
                                rule.roles[r].clone(),
                                a.iter().map(|x| show(*x)).collect::<Vec<_>>().join(" "),
                            )
                        })
                    })
                    .collect(),
            },
        }
    }

    /// For a step outside the per-participant block that is tied to one
    /// participant's dialog (`dialog-of $v with ROLE`, directly or along
    /// its relations): that participant (the dialog's remote target).
    fn dialog_participant(&self, rule: &Rule, trace: &Tracker, idx: StepIdx) -> Option<String> {
        let names = |i: StepIdx| {
            rule.steps[i].matches.iter().any(|c| {
                matches!(
                    c.kind,
                    CondKind::DialogOf {
                        peer: Some((_, false)),
                        ..
                    }
                )
            })
        };
        let mut cur = idx;
        for _ in 0..rule.steps.len() {
            if names(cur) {
                // Any request of that transaction seen carries the
                // dialog's remote target (the root itself may be on a link
                // the capture lacks).
                let group = rule.txn_group[cur];
                let seen = self
                    .seen
                    .iter()
                    .filter(|(i, _)| rule.txn_group[*i] == group)
                    .find_map(|(_, s)| s.request_uri().map(str::to_string));
                // Nothing of it seen: the dialog the session's setup shows
                // with that participant, if the capture holds it.
                return seen.or_else(|| {
                    rule.steps[cur].matches.iter().find_map(|c| match c.kind {
                        CondKind::DialogOf {
                            var,
                            peer: Some((role, false)),
                        } => {
                            let focus = self.vars.get(var)?.as_deref()?;
                            let node = self.slots[role].addr()?.ip();
                            trace
                                .focus_dialogs(focus)
                                .iter()
                                .find(|d| d.nodes.contains(&node))
                                .map(|d| d.participant.to_string())
                        }
                        _ => None,
                    })
                });
            }
            cur = rule.steps[cur].relation?.target();
        }
        None
    }
}

/// An address as reports write it (`[v6]:port` for IPv6).
pub(super) fn show(a: SocketAddr) -> String {
    if a.port() == 0 {
        // A node the user gave without a port.
        a.ip().to_string()
    } else {
        a.to_string()
    }
}

/// Of the instances one message started, the one that explains the most
/// steps (then: with setup evidence; then: the earlier rule).
pub(super) fn choose(mut settled: Vec<Settled>, rules: &[Rule]) -> Option<InstanceReport> {
    settled.sort_by(|a, b| b.score.cmp(&a.score).then(a.rule.cmp(&b.rule)));
    let mut it = settled.into_iter();
    let mut best = it.next()?;
    if let Some(second) = it.next()
        && second.score == best.score
    {
        if rules[second.rule].id == rules[best.rule].id {
            best.report.notes.push(format!(
                "the traffic fits branch `{}` equally well; reported as `{}`",
                rules[second.rule].branch.as_deref().unwrap_or("?"),
                rules[best.rule].branch.as_deref().unwrap_or("?")
            ));
            return Some(best.report);
        }
        best.report.notes.push(format!(
            "the trigger fits rule {} equally well; reported as {} (the capture cannot tell them apart)",
            rules[second.rule].id, rules[best.rule].id
        ));
    }
    Some(best.report)
}
