//! The truth file: what each PoC instance's report must say, computed from
//! the frames the generator actually wrote.
//!
//! Statuses follow report-json.md: a step never written is `missing`; a
//! step k is `out-of-order` when some step j < k of the same chain was
//! written in a later frame; a step written with the wrong content (a 481
//! where a 200 OK is expected, a sipfrag with a failure status) is `wrong`.
//! In flow 2, steps 6-11 form one chain per participating server, after
//! steps 1-5 and before steps 12-18.
//!
//! Format 2 (traces with topology variants): flow 2's steps 7-10 are
//! part-b's only (each other participating server has steps 6 and 11); a
//! step on a link the capture leaves out (`one-vantage`) is `unobserved`
//! (and flow 2's other participating servers, whose dialogs the capture
//! never holds there, have no steps),
//! and an instance whose only non-ok steps are unobserved is `partial`;
//! each line names its `topology` and, for flow 2, its `participants`
//! (the Request-URI of ctrl-a's BYE toward each participating server,
//! part-b first); a flow 3 made due by its context names that context in
//! `due` (frame and Call-ID of the session dialog's 2xx), which is the
//! instance's trigger when the NOTIFY never comes (else step 1 is, as
//! always); //! NOTIFY's first frame, when there is one).

use std::io::{self, Write};

use crate::poc::{PocInstance, Rule};
use crate::script::StepTag;
use crate::topology;
use crate::variant::Topology;

/// A step's status other than ok.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Never written.
    Missing,
    /// Written before a step it must follow.
    OutOfOrder,
    /// Written with the wrong content.
    Wrong,
    /// On a link the capture leaves out.
    Unobserved,
}

impl Status {
    /// The status as report-json.md spells it.
    pub fn name(self) -> &'static str {
        match self {
            Status::Missing => "missing",
            Status::OutOfOrder => "out-of-order",
            Status::Wrong => "wrong",
            Status::Unobserved => "unobserved",
        }
    }
}

/// The expected report of one instance.
#[derive(Debug, Clone)]
pub struct Truth {
    /// Its rule.
    pub rule: Rule,
    /// Frame of step 1.
    pub trigger_frame: u64,
    /// Call-ID of step 1.
    pub call_id: String,
    /// Every step that is not ok, in step order, with the frame it was
    /// written in (0 when missing).
    pub steps: Vec<(StepTag, Status, u64)>,
    /// Participant URIs (flow 2) by index.
    pub participants: Vec<String>,
    /// Format 2: the instance's topology variant.
    pub topo: Option<Topology>,
    /// Format 2, flow 3 made due by its context: frame and Call-ID of the
    /// session dialog's 2xx.
    pub due: Option<(u64, String)>,
}

impl Truth {
    /// Whether the instance passes.
    pub fn pass(&self) -> bool {
        self.steps.is_empty()
    }

    /// The verdict of report-json.md.
    pub fn verdict(&self) -> &'static str {
        if self.pass() {
            "pass"
        } else if self.steps.iter().all(|s| s.1 == Status::Unobserved) {
            "partial"
        } else {
            "fail"
        }
    }

    /// Write the truth as one JSON line.
    pub fn write_json(&self, out: &mut dyn Write) -> io::Result<()> {
        write!(
            out,
            "{{\"rule\":\"{}\",\"trigger_frame\":{},\"call_id\":\"{}\",\"verdict\":\"{}\",",
            self.rule.id(),
            self.trigger_frame,
            self.call_id,
            self.verdict()
        )?;
        if let Some(t) = self.topo {
            write!(out, "\"topology\":\"{}\",", t.name())?;
            if let Some((frame, cid)) = &self.due {
                write!(out, "\"due\":{{\"frame\":{frame},\"call_id\":\"{cid}\"}},")?;
            }
            if !self.participants.is_empty() {
                out.write_all(b"\"participants\":[")?;
                for (i, p) in self.participants.iter().enumerate() {
                    if i > 0 {
                        out.write_all(b",")?;
                    }
                    write!(out, "\"{p}\"")?;
                }
                out.write_all(b"],")?;
            }
        }
        out.write_all(b"\"steps\":[")?;
        for (i, (tag, status, frame)) in self.steps.iter().enumerate() {
            if i > 0 {
                out.write_all(b",")?;
            }
            write!(
                out,
                "{{\"step\":{},\"status\":\"{}\"",
                tag.step,
                status.name()
            )?;
            if *frame != 0 {
                write!(out, ",\"frame\":{frame}")?;
            }
            if self.rule.per_participant(tag.step)
                && let Some(p) = self.participants.get(usize::from(tag.part))
            {
                write!(out, ",\"participant\":\"{p}\"")?;
            }
            out.write_all(b"}")?;
        }
        out.write_all(b"]}\n")
    }
}

/// Whether step `j` must come before step `k` in `rule`'s chain.
fn precedes(rule: Rule, j: StepTag, k: StepTag) -> bool {
    if j.step >= k.step {
        return false;
    }
    if rule.per_participant(j.step) && rule.per_participant(k.step) {
        return j.part == k.part;
    }
    true
}

/// Compute the truth of a played instance.
pub fn of(inst: &PocInstance) -> Truth {
    let rule = inst.rule;
    let v2 = inst.topo.is_some();
    let vantage = inst.topo == Some(Topology::OneVantage);
    // One-vantage: flow 2's other participating servers are reached on
    // links the capture leaves out (their dialogs too): no step of theirs
    // can be known, so only part-b's are listed.
    let known = if vantage { 1 } else { inst.participants.len() };
    let parts = known.max(1);
    // Every step of the rule, once (per participant where it repeats).
    let mut tags: Vec<StepTag> = Vec::new();
    for step in 1..=rule.steps() {
        if rule.per_participant(step) {
            tags.extend(
                (0..parts)
                    .map(|p| StepTag {
                        step,
                        part: p as u8,
                    })
                    .filter(|t| rule.has_step(t.step, t.part, v2)),
            );
        } else {
            tags.push(StepTag { step, part: 0 });
        }
    }
    // Frame and content of each, from its first transmission.
    let seen: Vec<(StepTag, u64, bool)> = tags
        .iter()
        .map(|&tag| {
            inst.script
                .msgs
                .iter()
                .find(|m| m.step == Some(tag) && !m.omitted && m.frame != 0)
                .map_or((tag, 0, false), |m| (tag, m.frame, m.wrong))
        })
        .collect();
    // One-vantage: a step whose link the capture leaves out.
    let unobserved = |tag: StepTag| {
        vantage
            && inst.script.msgs.iter().any(|m| {
                m.step == Some(tag)
                    && inst.script.txns.get(m.txn as usize).is_some_and(|t| {
                        let (a, b) = t.endpoints(m.kind);
                        !topology::captured(a, b)
                    })
            })
    };
    let mut steps = Vec::new();
    for &(tag, frame, wrong) in &seen {
        let status = if frame == 0 && unobserved(tag) {
            Some(Status::Unobserved)
        } else if frame == 0 {
            Some(Status::Missing)
        } else if seen
            .iter()
            .any(|&(j, fj, _)| fj > frame && precedes(rule, j, tag))
        {
            Some(Status::OutOfOrder)
        } else if wrong {
            Some(Status::Wrong)
        } else {
            None
        };
        if let Some(st) = status {
            steps.push((tag, st, frame));
        }
    }
    // The trigger: step 1; where the capture leaves it out, the first step
    // it holds; a due flow 3 whose NOTIFY never came: the due context's 2xx.
    let frame_of = |id: usize| inst.script.msgs.get(id).map_or(0, |m| m.frame);
    let mut trigger_frame = frame_of(inst.trigger);
    let mut call_id = inst.call_id.to_text();
    let due = inst.due.map(|(id, cid)| (frame_of(id), cid.to_text()));
    if trigger_frame == 0
        && let Some((f, cid)) = &due
    {
        trigger_frame = *f;
        call_id = cid.clone();
    }
    if trigger_frame == 0 && vantage {
        trigger_frame = seen
            .iter()
            .map(|s| s.1)
            .filter(|&f| f != 0)
            .min()
            .unwrap_or(0);
    }
    Truth {
        rule,
        trigger_frame,
        call_id,
        steps,
        participants: inst
            .participants
            .iter()
            .take(known)
            .map(|u| u.to_text())
            .collect(),
        topo: inst.topo,
        due,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::poc::{PocInstance, Rule};
    use crate::script::Script;
    use crate::sip::{CallId, Kind};
    use crate::uri::Uri;

    fn played(rule: Rule, frames: &[(u8, u8, u64)], parts: usize) -> PocInstance {
        let mut s = Script::new(0, None);
        for &(step, part, frame) in frames {
            let id = s.step(
                &[],
                1,
                0,
                Kind::Req { hop: 0 },
                Some(StepTag { step, part }),
            );
            s.msgs[id].frame = frame;
        }
        PocInstance {
            rule,
            script: s,
            trigger: 0,
            call_id: CallId { id: 1, host: 2 },
            participants: (0..parts).map(|i| Uri::Domain { net: i as u8 }).collect(),
            topo: None,
            due: None,
        }
    }

    #[test]
    fn in_order_flow_passes() {
        let t = of(&played(
            Rule::ParticipantNotify,
            &[(1, 0, 5), (2, 0, 6), (3, 0, 9), (4, 0, 12)],
            0,
        ));
        assert!(t.pass());
        assert_eq!(t.trigger_frame, 5);
    }

    #[test]
    fn early_step_is_out_of_order_and_unseen_step_missing() {
        // Step 4 written at frame 7, before step 3 at frame 9.
        let t = of(&played(
            Rule::ParticipantNotify,
            &[(1, 0, 5), (2, 0, 6), (3, 0, 9), (4, 0, 7)],
            0,
        ));
        assert_eq!(
            t.steps,
            vec![(StepTag { step: 4, part: 0 }, Status::OutOfOrder, 7)]
        );
        let t = of(&played(Rule::ParticipantNotify, &[(1, 0, 5), (2, 0, 6)], 0));
        assert_eq!(t.steps.len(), 2);
        assert!(t.steps.iter().all(|s| s.1 == Status::Missing));
    }

    #[test]
    fn participants_chains_are_independent() {
        // Participant 1's BYE chain runs entirely before participant 0's:
        // not out of order. Step 12 before participant 0's step 11 is.
        let mut f = vec![(1, 0, 1), (2, 0, 2), (3, 0, 3), (4, 0, 4), (5, 0, 5)];
        for (i, step) in (6..=11).enumerate() {
            f.push((step, 1, 10 + i as u64));
            f.push((step, 0, 20 + i as u64));
        }
        f.push((12, 0, 24));
        for step in 13..=18 {
            f.push((step, 0, 30 + u64::from(step)));
        }
        let t = of(&played(Rule::ReleaseSession, &f, 2));
        let bad: Vec<_> = t.steps.iter().map(|s| (s.0.step, s.1)).collect();
        assert_eq!(bad, vec![(12, Status::OutOfOrder)]);
        let mut out = Vec::new();
        t.write_json(&mut out).unwrap();
        let line = String::from_utf8(out).unwrap();
        assert!(line.contains("\"verdict\":\"fail\""), "{line}");
        assert!(
            line.contains("{\"step\":12,\"status\":\"out-of-order\",\"frame\":24}"),
            "{line}"
        );
    }
}
