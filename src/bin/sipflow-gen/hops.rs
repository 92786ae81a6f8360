//! Building blocks of flow scripts: a request travelling hop by hop with
//! its 100 Trying, a response travelling back, an INVITE dialog's answer
//! and ACK, and the delays between them.

use crate::dialog::Dialog;
use crate::rng::Rng;
use crate::script::{MsgId, Script, StepTag};
use crate::sip::{Body, CallId, Extra, Kind, Method, Path, RouteMode, Txn};
use crate::uri::Uri;

/// Transit plus proxy processing time of one hop, in µs.
pub fn net(rng: &mut Rng) -> u64 {
    rng.range(300, 4_000)
}

/// Processing time of a user agent or B2BUA before it answers or acts.
pub fn ua(rng: &mut Rng) -> u64 {
    rng.range(2_000, 30_000)
}

/// RFC 3261 timer T1: when an unanswered request over UDP is sent again.
pub const T1: u64 = 500_000;

/// How long a slow node takes (longer than T1, so the sender retransmits).
pub fn slow(rng: &mut Rng) -> u64 {
    T1 + rng.range(20_000, 250_000)
}

/// A fresh out-of-dialog transaction (new Call-ID made at `call_host`) with the fields every request needs;
/// the caller fills in the rest.
#[allow(clippy::too_many_arguments)]
pub fn txn(
    rng: &mut Rng,
    method: Method,
    ruri: Uri,
    path: &[u32],
    tcp: bool,
    call_host: u32,
    cseq: u32,
    from: Uri,
    to: Uri,
) -> Txn {
    let call_id = call_id(rng, call_host);
    Txn {
        method,
        ruri,
        path: Path::new(path),
        tcp,
        call_id,
        cseq,
        from,
        from_tag: rng.next_u64() & 0xffff_ffff,
        to,
        to_tag: 0,
        uas_tag: (rng.next_u64() & 0xffff_ffff) | 1,
        contact: None,
        contact_focus: false,
        uas_contact: None,
        uas_focus: false,
        route: RouteMode::Outbound,
        record_route: false,
        body: Body::None,
        ok_body: Body::None,
        extra: Extra::None,
        branch: rng.next_u64(),
        poc: false,
    }
}

/// A new Call-ID created at `host`.
pub fn call_id(rng: &mut Rng, host: u32) -> CallId {
    CallId {
        id: rng.next_u64(),
        host,
    }
}

/// Options for [`request_path`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ReqOpts {
    /// Step number of hop 0 (the following hops are the next steps).
    pub steps: Option<StepTag>,
    /// Each receiver answers with 100 Trying (INVITE).
    pub trying: bool,
    /// The receiver of this hop (not the last) is slow: the hop is sent
    /// again after T1 (UDP only), and the next hop follows later.
    pub slow_hop: Option<usize>,
    /// Hop 0 goes out in the same TCP write as this message.
    pub with: Option<MsgId>,
    /// Hop 0 is sent at this explicit time (an out-of-order fault).
    pub at: Option<u64>,
    /// Only the last hop, the one reaching the UAS, is a step (`steps`):
    /// the path `ctrl-a -> ... -> part-p` is done when the message arrives
    /// (flow 2's BYE toward a participating server other than part-b).
    pub first_only: bool,
}

/// Send `t`'s request from the UAC to the UAS, `delay` after `after`;
/// returns the message of each hop (the last one arrives at the UAS).
pub fn request_path(
    s: &mut Script,
    rng: &mut Rng,
    t: usize,
    after: &[MsgId],
    delay: u64,
    o: ReqOpts,
) -> Vec<MsgId> {
    let (hops, udp) = match s.txns.get(t) {
        Some(x) => (x.path.len().saturating_sub(1), !x.tcp),
        None => (0, false),
    };
    let path = s.txns.get(t).map(|x| x.path);
    let mut ids: Vec<MsgId> = Vec::with_capacity(hops);
    let mut crossed = 0u8;
    for h in 0..hops {
        // Hops inside one role (a chain of proxies standing for one core)
        // are not steps; the steps are numbered over the hops between roles.
        let is_step = if o.first_only {
            h + 1 == hops
        } else {
            path.is_some_and(|p| p.crosses(h))
        };
        let step = o.steps.filter(|_| is_step).map(|st| StepTag {
            step: st.step + crossed,
            part: st.part,
        });
        if is_step {
            crossed += 1;
        }
        let kind = Kind::Req { hop: h as u8 };
        let id = match ids.last() {
            None => match (o.with, o.at) {
                (Some(l), _) => s.together(l, after, t, kind, step),
                (None, Some(at)) => s.step_at(at, after, t, kind, step),
                (None, None) => s.step(after, delay, t, kind, step),
            },
            Some(&prev) => {
                let d = if o.slow_hop == Some(h - 1) && udp {
                    slow(rng)
                } else {
                    net(rng)
                };
                s.step(&[prev], d, t, kind, step)
            }
        };
        ids.push(id);
        if o.slow_hop == Some(h) && udp && h + 1 < hops {
            s.retransmit(id, T1);
        }
        if o.trying {
            let d = if o.slow_hop == Some(h) && udp {
                slow(rng)
            } else {
                rng.range(100, 1_500)
            };
            s.send(
                &[id],
                d,
                t,
                Kind::Resp {
                    code: 100,
                    from: h as u8 + 1,
                },
            );
        }
    }
    ids
}

/// Send a `code` response to `t` from the UAS back to the UAC, `delay`
/// after `after`; returns the message of each hop (the last one arrives at
/// the UAC).
pub fn response_path(
    s: &mut Script,
    rng: &mut Rng,
    t: usize,
    code: u16,
    after: &[MsgId],
    delay: u64,
    steps: Option<StepTag>,
) -> Vec<MsgId> {
    response_path_at(s, rng, t, code, after, delay, None, steps)
}

/// [`response_path`] whose first hop is sent at an explicit time `at`
/// when given (an out-of-order fault).
#[allow(clippy::too_many_arguments)]
pub fn response_path_at(
    s: &mut Script,
    rng: &mut Rng,
    t: usize,
    code: u16,
    after: &[MsgId],
    delay: u64,
    at: Option<u64>,
    steps: Option<StepTag>,
) -> Vec<MsgId> {
    response_path_steps(s, rng, t, code, after, delay, at, steps, false)
}

/// [`response_path_at`] whose only step, when `last_only`, is the last
/// hop (the response reaching the UAC): flow 2's 200 OK from a
/// participating server other than part-b.
#[allow(clippy::too_many_arguments)]
pub fn response_path_steps(
    s: &mut Script,
    rng: &mut Rng,
    t: usize,
    code: u16,
    after: &[MsgId],
    delay: u64,
    at: Option<u64>,
    steps: Option<StepTag>,
    last_only: bool,
) -> Vec<MsgId> {
    let path = s.txns.get(t).map(|x| x.path);
    let last = path.map_or(0, |p| p.last());
    let mut ids: Vec<MsgId> = Vec::with_capacity(last);
    let mut crossed = 0u8;
    for from in (1..=last).rev() {
        let is_step = if last_only {
            from == 1
        } else {
            path.is_some_and(|p| p.crosses(from - 1))
        };
        let step = steps.filter(|_| is_step).map(|st| StepTag {
            step: st.step + crossed,
            part: st.part,
        });
        if is_step {
            crossed += 1;
        }
        let kind = Kind::Resp {
            code,
            from: from as u8,
        };
        let id = match (ids.last(), at) {
            (None, Some(at)) => s.step_at(at, after, t, kind, step),
            (None, None) => s.step(after, delay, t, kind, step),
            (Some(&prev), _) => s.step(&[prev], net(rng), t, kind, step),
        };
        ids.push(id);
    }
    ids
}

/// The hop-by-hop ACKs of a non-2xx final response to INVITE `t`, given
/// the response's hops from [`response_path`].
pub fn ack_hops(s: &mut Script, rng: &mut Rng, t: usize, resp: &[MsgId]) {
    let last = s.txns.get(t).map_or(0, |x| x.path.last());
    for (i, &r) in resp.iter().enumerate() {
        // resp[i] was sent by position last - i to last - i - 1, which ACKs.
        let hop = (last - i).saturating_sub(1) as u8;
        let d = rng.range(100, 1_000);
        s.send(&[r], d, t, Kind::AckHop { hop });
    }
}

/// Send the end-to-end ACK for the 2xx that reached the UAC at `ok`;
/// returns its last hop.
pub fn ack(s: &mut Script, rng: &mut Rng, d: &Dialog, invite: usize, ok: MsgId) -> MsgId {
    let Some(inv) = s.txns.get(invite).cloned() else {
        return ok;
    };
    let a = s.txn(d.ack(&inv, rng.next_u64()));
    let d = rng.range(200, 3_000);
    let ids = request_path(s, rng, a, &[ok], d, ReqOpts::default());
    ids.last().copied().unwrap_or(ok)
}

/// The dialog a completed INVITE (or other dialog-creating) transaction
/// `t` created.
pub fn dialog_of(s: &Script, t: usize) -> Option<Dialog> {
    s.txns.get(t).map(Dialog::from_txn)
}

/// Set up a whole INVITE dialog (request with 100 Trying, optional 180
/// after `ring` µs of ringing, 200 OK, ACK) starting `delay` after
/// `after`; returns the dialog, the INVITE's arrival at the UAS, the 200's
/// arrival at the UAC and the ACK's arrival at the UAS.
pub fn invite_dialog(
    s: &mut Script,
    rng: &mut Rng,
    t: usize,
    after: &[MsgId],
    delay: u64,
    ring: Option<u64>,
) -> Option<(Dialog, MsgId, MsgId, MsgId)> {
    let hops = request_path(
        s,
        rng,
        t,
        after,
        delay,
        ReqOpts {
            trying: true,
            ..Default::default()
        },
    );
    let arrived = *hops.last()?;
    let ok = answer(s, rng, t, &[arrived], ring);
    let d = dialog_of(s, t)?;
    let acked = ack(s, rng, &d, t, ok);
    Some((d, arrived, ok, acked))
}

/// The UAS answers INVITE `t` (optionally ringing first); returns the 2xx's
/// arrival at the UAC.
pub fn answer(
    s: &mut Script,
    rng: &mut Rng,
    t: usize,
    after: &[MsgId],
    ring: Option<u64>,
) -> MsgId {
    let mut from = after.to_vec();
    if let Some(r) = ring {
        let d = ua(rng);
        let ringing = response_path(s, rng, t, 180, after, d, None);
        let Some(&first) = ringing.first() else {
            return after.first().copied().unwrap_or(0);
        };
        from = vec![first];
        let ok = response_path(s, rng, t, 200, &from, r, None);
        return ok.last().copied().unwrap_or(first);
    }
    let d = ua(rng);
    let ok = response_path(s, rng, t, 200, &from, d, None);
    ok.last().copied().unwrap_or(0)
}
