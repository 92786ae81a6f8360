//! Runs many flow instances at once: starts new ones at random intervals,
//! merges their messages by time onto the wire, records the frame of each
//! step, and writes each PoC instance's truth when its last message is out.
//!
//! Only instances still in progress are kept, so memory follows the
//! concurrency, not the size of the trace.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, Write};

use crate::background;
use crate::link::{Link, LinkStats, Route};
use crate::pcap::PcapWriter;
use crate::poc::{self, Fault, PocInstance, Rule};
use crate::rng::Rng;
use crate::script::{Event, Script};
use crate::topology;
use crate::truth;
use crate::variant::{Ctx, Topology};

/// When to stop starting new instances.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    /// When the capture (with what the running instances still have to
    /// send) reaches this many bytes.
    Bytes(u64),
    /// When this many PoC instances have been started.
    PocInstances(u64),
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct Config {
    /// Size or instance count.
    pub target: Target,
    /// Seed of every random choice.
    pub seed: u64,
    /// Share of PoC instances that get one fault.
    pub faults: f64,
    /// Instance starts per second of trace time.
    pub rate: u64,
    /// Topology variants to draw each PoC instance's from (`None`: the
    /// spec's figure only, and the truth's format 1).
    pub topologies: Option<Vec<Topology>>,
}

/// How long the trace goes on after the last instance's last message when
/// it has variants: longer than any step's time limit (32 s by default),
/// so that no step is unobserved for want of capture time.
pub const TRAILER_US: u64 = 40_000_000;

/// Start time of every trace: 2023-11-14T22:13:20Z, in µs.
pub const EPOCH_US: u64 = 1_700_000_000_000_000;

/// What was generated.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    /// Bytes of the capture file.
    pub bytes: u64,
    /// Frames written.
    pub frames: u64,
    /// SIP messages written (retransmissions included).
    pub sip_messages: u64,
    /// Retransmitted SIP messages among them.
    pub retransmissions: u64,
    /// Wire statistics.
    pub link: LinkStats,
    /// PoC instances per rule (in [`Rule::ALL`] order): pass, fail.
    pub poc: [(u64, u64); 3],
    /// Background calls, registrations, keep-alives.
    pub calls: u64,
    /// Registrations.
    pub registrations: u64,
    /// OPTIONS keep-alives.
    pub options: u64,
    /// Most instances in progress at once.
    pub max_concurrent: usize,
    /// With variants: PoC instances per variant (in [`Topology::ALL`]
    /// order): pass, fail, partial.
    pub topo: [(u64, u64, u64); 7],
    /// With variants: partial PoC instances per rule.
    pub partial: [u64; 3],
}

/// What an instance is.
enum What {
    Poc {
        rule: Rule,
        trigger: usize,
        call_id: crate::sip::CallId,
        participants: Vec<crate::uri::Uri>,
        topo: Option<Topology>,
        due: Option<(usize, crate::sip::CallId)>,
    },
    Background,
}

struct Active {
    script: Script,
    events: Vec<Event>,
    next: usize,
    what: What,
}

/// Generate a capture into `out` (and the truth into `truth_out`).
pub fn run<W: Write>(
    cfg: &Config,
    out: W,
    mut truth_out: Option<&mut dyn Write>,
) -> io::Result<(Summary, W)> {
    let mut rng = Rng::new(cfg.seed);
    let mut link = Link::new(PcapWriter::new(out)?, rng.fork(), 0.25);
    let mut sum = Summary::default();
    let mut slots: Vec<Option<Active>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut heap: BinaryHeap<Reverse<(u64, u64, usize)>> = BinaryHeap::new();
    let mut seq: u64 = 0;
    let mut next_start = EPOCH_US;
    let mut generating = true;
    let mut pending_msgs: u64 = 0;
    let mut poc_started: u64 = 0;
    let mut active = 0usize;
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    let mut body: Vec<u8> = Vec::with_capacity(4096);
    let mut ends: Vec<usize> = Vec::with_capacity(2);
    let mut done = [0u64; 2];
    let gap = 1_000_000 / cfg.rate.max(1);
    let mut notify_seq = 0u64;
    let mut last_t = EPOCH_US;
    let mut trailer = cfg.topologies.is_none();

    loop {
        if !generating && !trailer && heap.is_empty() {
            // The trace goes on past every step's time limit: one OPTIONS.
            trailer = true;
            sum.options += 1;
            let s = background::options(&mut rng.fork(), last_t + TRAILER_US);
            if let Some(s) = s {
                let events = s.events();
                if let Some(first) = events.first() {
                    heap.push(Reverse((first.t, seq, slots.len())));
                    seq += 1;
                    slots.push(Some(Active {
                        script: s,
                        events,
                        next: 0,
                        what: What::Background,
                    }));
                    active += 1;
                }
            }
        }
        let next_ev = heap.peek().map(|r| r.0.0);
        if generating && next_ev.is_none_or(|t| next_start <= t) {
            let mut irng = rng.fork();
            let t0 = next_start;
            next_start += rng.range(1, 2 * gap);
            let built = start(&mut irng, t0, cfg, &mut notify_seq, &mut sum);
            if let Some(a) = built {
                if matches!(a.what, What::Poc { .. }) {
                    poc_started += 1;
                }
                pending_msgs += a
                    .events
                    .iter()
                    .map(|e| 1 + u64::from(e.b.is_some()))
                    .sum::<u64>();
                if let Some(first) = a.events.first() {
                    let slot = free.pop().unwrap_or_else(|| {
                        slots.push(None);
                        slots.len() - 1
                    });
                    heap.push(Reverse((first.t, seq, slot)));
                    seq += 1;
                    slots[slot] = Some(a);
                    active += 1;
                    sum.max_concurrent = sum.max_concurrent.max(active);
                }
            }
            generating = match cfg.target {
                Target::Bytes(b) => {
                    let avg = link.bytes().checked_div(sum.sip_messages).unwrap_or(800);
                    // Messages still to come are mostly the small ones of a flow's end
                    // (BYE, NOTIFY, 200 OK without body): count them at 70% of the
                    // average so that the file reaches the size asked for.
                    link.bytes() + pending_msgs * avg * 7 / 10 < b
                }
                Target::PocInstances(n) => poc_started < n,
            };
            continue;
        }
        let Some(Reverse((t, _, slot))) = heap.pop() else {
            break;
        };
        let Some(act) = slots.get_mut(slot).and_then(|s| s.as_mut()) else {
            continue;
        };
        let Some(&ev) = act.events.get(act.next) else {
            continue;
        };
        act.next += 1;
        last_t = last_t.max(t);
        let vantage = matches!(
            act.what,
            What::Poc {
                topo: Some(Topology::OneVantage),
                ..
            }
        );
        let ids: &[usize] = match ev.b {
            Some(b) => &[ev.a, b],
            None => &[ev.a],
        };
        // Messages of one event share a write only if they share a
        // connection; otherwise each goes alone.
        let same_write = ids.len() == 2 && {
            let (m0, m1) = (&act.script.msgs[ids[0]], &act.script.msgs[ids[1]]);
            let (t0, t1) = (
                &act.script.txns[m0.txn as usize],
                &act.script.txns[m1.txn as usize],
            );
            t0.tcp && t1.tcp && t0.endpoints(m0.kind) == t1.endpoints(m1.kind)
        };
        let groups: &[&[usize]] = if same_write || ids.len() == 1 {
            &[ids]
        } else {
            &[&ids[..1], &ids[1..]]
        };
        for group in groups {
            if vantage && let Some(&id) = group.first() {
                // One-vantage: a link the capture leaves out is not written.
                let m = &act.script.msgs[id];
                let (src, dst) = act.script.txns[m.txn as usize].endpoints(m.kind);
                if !topology::captured(src, dst) {
                    pending_msgs = pending_msgs.saturating_sub(group.len() as u64);
                    continue;
                }
            }
            buf.clear();
            ends.clear();
            let mut route = Route::default();
            for &id in group.iter() {
                let m = &act.script.msgs[id];
                let tx = &act.script.txns[m.txn as usize];
                tx.render(m.kind, &mut buf, &mut body);
                ends.push(buf.len());
                let (src, dst) = tx.endpoints(m.kind);
                route = Route {
                    src,
                    dst,
                    tcp: tx.tcp,
                };
                if m.retrans {
                    sum.retransmissions += 1;
                }
            }
            link.send(t, route, &buf, &ends, &mut done)?;
            for (i, &id) in group.iter().enumerate() {
                act.script.msgs[id].frame = done[i];
            }
            sum.sip_messages += group.len() as u64;
            pending_msgs = pending_msgs.saturating_sub(group.len() as u64);
        }
        if let Some(next) = act.events.get(act.next) {
            heap.push(Reverse((next.t, seq, slot)));
            seq += 1;
        } else if let Some(a) = slots.get_mut(slot).and_then(Option::take) {
            free.push(slot);
            active -= 1;
            finish(a, &mut sum, &mut truth_out)?;
        }
    }
    sum.bytes = link.bytes();
    sum.frames = link.frames();
    sum.link = link.stats.clone();
    let out = link.finish()?;
    Ok((sum, out))
}

/// Start one instance of a random kind at `t0`.
fn start(
    rng: &mut Rng,
    t0: u64,
    cfg: &Config,
    notify_seq: &mut u64,
    sum: &mut Summary,
) -> Option<Active> {
    let faults = cfg.faults;
    let pick = rng.below(100);
    let fault = |rng: &mut Rng| {
        rng.chance(faults).then(|| match rng.below(3) {
            0 => Fault::Missing,
            1 => Fault::OutOfOrder,
            _ => Fault::Wrong,
        })
    };
    let poc_inst = |p: Option<PocInstance>| -> Option<Active> {
        let p = p?;
        let events = p.script.events();
        Some(Active {
            events,
            next: 0,
            what: What::Poc {
                rule: p.rule,
                trigger: p.trigger,
                call_id: p.call_id,
                participants: p.participants,
                topo: p.topo,
                due: p.due,
            },
            script: p.script,
        })
    };
    let bg = |s: Option<Script>| -> Option<Active> {
        let s = s?;
        Some(Active {
            events: s.events(),
            next: 0,
            what: What::Background,
            script: s,
        })
    };
    if pick < 30
        && let Some(list) = &cfg.topologies
        && !list.is_empty()
    {
        // With variants: the variant first, then one of its flows.
        let topo = list[rng.below(list.len() as u64) as usize];
        let rules = topo.rules();
        let rule = rules[rng.below(rules.len() as u64) as usize];
        let f = fault(rng);
        let ctx = Ctx::of(rng, topo, *notify_seq);
        if rule == Rule::ParticipantNotify {
            *notify_seq += 1;
        }
        return poc_inst(match (topo, rule) {
            (Topology::NoAlternative, _) => poc::no_alternative(rng, t0, &ctx),
            (_, Rule::ReleaseSelf) => poc::release_self(rng, t0, f, &ctx),
            (_, Rule::ReleaseSession) => poc::release_session(rng, t0, f, &ctx),
            (_, Rule::ParticipantNotify) => poc::participant_notify(rng, t0, f, &ctx),
        });
    }
    let ctx = Ctx::legacy();
    match pick {
        0..=11 => {
            let f = fault(rng);
            poc_inst(poc::release_self(rng, t0, f, &ctx))
        }
        12..=19 => {
            let f = fault(rng);
            poc_inst(poc::release_session(rng, t0, f, &ctx))
        }
        20..=29 => {
            let f = fault(rng);
            poc_inst(poc::participant_notify(rng, t0, f, &ctx))
        }
        30..=64 => {
            sum.calls += 1;
            bg(background::call(rng, t0))
        }
        65..=84 => {
            sum.registrations += 1;
            bg(background::register(rng, t0))
        }
        _ => {
            sum.options += 1;
            bg(background::options(rng, t0))
        }
    }
}

/// An instance has sent everything: count it and write its truth.
fn finish(a: Active, sum: &mut Summary, out: &mut Option<&mut dyn Write>) -> io::Result<()> {
    let What::Poc {
        rule,
        trigger,
        call_id,
        participants,
        topo,
        due,
    } = a.what
    else {
        return Ok(());
    };
    let inst = PocInstance {
        rule,
        script: a.script,
        trigger,
        call_id,
        participants,
        topo,
        due,
    };
    let t = truth::of(&inst);
    let i = Rule::ALL.iter().position(|&r| r == rule).unwrap_or(0);
    let verdict = t.verdict();
    match verdict {
        "pass" => sum.poc[i].0 += 1,
        "fail" => sum.poc[i].1 += 1,
        _ => sum.partial[i] += 1,
    }
    if let Some(tp) = topo
        && let Some(k) = Topology::ALL.iter().position(|&x| x == tp)
    {
        let c = &mut sum.topo[k];
        match verdict {
            "pass" => c.0 += 1,
            "fail" => c.1 += 1,
            _ => c.2 += 1,
        }
    }
    if let Some(out) = out {
        t.write_json(out)?;
    }
    Ok(())
}
