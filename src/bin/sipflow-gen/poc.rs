//! The three OMA PoC flows of flows.md, with the setup that precedes them
//! and the faults that can be injected into them.
//!
//! Setup: client B's pre-established session (INVITE to part-b's
//! conference factory, answered `Contact: <PRE>;isfocus`), part-b's INVITE
//! toward the PoC session via core-b and core-a to ctrl-a (answered
//! `Contact: <SESSION>;isfocus`) and ctrl-a's INVITEs to the other
//! participating servers (each via core-a and core-x); for flow 3, client
//! A's pre-established session and its SUBSCRIBE to the conference
//! package. Then the release (flows 1 and 2) or the notification (flow 3)
//! with every hop tagged with its step number.

use crate::dialog::Dialog;
use crate::hops::{self, ReqOpts, T1, net, ua};
use crate::rng::Rng;
use crate::script::{MsgId, Script, StepTag};
use crate::sip::{Body, CallId, EventPkg, Extra, Kind, Method, SdpKind};
use crate::topology::{self, Net, client, core, poc};
use crate::uri::{ContactUser, Uri};
use crate::variant::{Ctx, Topology};

/// Share of instances whose signalling runs over TCP.
pub const TCP_SHARE: f64 = 0.15;

/// The rule a PoC instance is an instance of (ids of report-json.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Flow 1: client releases itself.
    ReleaseSelf,
    /// Flow 2: client releases the entire PoC session.
    ReleaseSession,
    /// Flow 3: participant notification.
    ParticipantNotify,
}

impl Rule {
    /// All rules, in flow order.
    pub const ALL: [Rule; 3] = [
        Rule::ReleaseSelf,
        Rule::ReleaseSession,
        Rule::ParticipantNotify,
    ];

    /// The rule id of report-json.md.
    pub fn id(self) -> &'static str {
        match self {
            Rule::ReleaseSelf => "poc-preest-release-self",
            Rule::ReleaseSession => "poc-preest-release-session",
            Rule::ParticipantNotify => "poc-preest-participant-notify",
        }
    }

    /// Number of steps in flows.md.
    pub fn steps(self) -> u8 {
        match self {
            Rule::ReleaseSelf => 12,
            Rule::ReleaseSession => 18,
            Rule::ParticipantNotify => 4,
        }
    }

    /// Whether `step` repeats once per participating server.
    pub fn per_participant(self, step: u8) -> bool {
        self == Rule::ReleaseSession && (6..=11).contains(&step)
    }

    /// Whether step `step` of participant `part` exists: in the truth's
    /// format 2, flow 2's steps 7-10 are part-b's only (every other
    /// participating server has steps 6 and 11: ctrl-a's BYE and its 200
    /// OK, whatever proxies lie between).
    pub fn has_step(self, step: u8, part: u8, v2: bool) -> bool {
        !(v2 && self == Rule::ReleaseSession && (7..=10).contains(&step) && part != 0)
    }
}

/// The kind of fault injected into an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// A step is never sent (nor anything that depends on it).
    Missing,
    /// A node sends a step before what it must wait for has arrived.
    OutOfOrder,
    /// A step carries the wrong content (a 481 instead of a 200 OK, a
    /// sipfrag with a failure status).
    Wrong,
}

/// A built PoC instance.
pub struct PocInstance {
    /// Its rule.
    pub rule: Rule,
    /// Its messages.
    pub script: Script,
    /// The message of step 1.
    pub trigger: MsgId,
    /// Call-ID of step 1.
    pub call_id: CallId,
    /// Flow 2: Request-URI of ctrl-a's BYE toward each participating
    /// server (index = `StepTag::part`).
    pub participants: Vec<Uri>,
    /// Its topology variant (`None`: a trace without variants).
    pub topo: Option<Topology>,
    /// Flow 3 made due by its context: the session dialog's 2xx (its first
    /// hop, sent by server-a) and its Call-ID; the instance's trigger when
    /// no NOTIFY (step 1) is written.
    pub due: Option<(MsgId, CallId)>,
}

fn tag(step: u8) -> Option<StepTag> {
    Some(StepTag { step, part: 0 })
}

fn part_tag(step: u8, part: u8) -> Option<StepTag> {
    Some(StepTag { step, part })
}

fn leg(rng: &mut Rng, ip: u32, tcp: bool) -> Uri {
    Uri::Contact {
        user: ContactUser::Leg(rng.next_u64() & 0xff_ffff_ffff),
        ip,
        tcp,
    }
}

fn poc_sdp(rng: &mut Rng, ip: u32) -> Body {
    Body::Sdp {
        ip,
        sess: rng.next_u64(),
        port: 20_000 + 4 * rng.below(5_000) as u16,
        kind: SdpKind::Poc,
    }
}

/// Random pick of a window's point strictly between `lo` and `hi` (in its
/// first half), for a message that must come before `hi`.
fn early(rng: &mut Rng, lo: u64, hi: u64) -> u64 {
    lo + 1 + rng.below((hi.saturating_sub(lo) / 2).max(1))
}

/// A client's pre-established session with its participating server
/// `server`: INVITE to the conference factory, 200 OK with
/// `Contact: <pre>;isfocus`, ACK. Returns the dialog and the ACK's arrival.
#[allow(clippy::too_many_arguments)]
fn pre_established(
    s: &mut Script,
    rng: &mut Rng,
    ctx: &Ctx,
    net_: Net,
    user: u32,
    pre: Uri,
    tcp: bool,
    after: &[MsgId],
    delay: u64,
) -> Option<(Dialog, MsgId)> {
    let ip = client(net_, user);
    let mut t = hops::txn(
        rng,
        Method::Invite,
        Uri::Factory { net: net_ },
        &[ip, core(net_), poc(net_)],
        tcp,
        ip,
        1,
        Uri::Aor { net: net_, user },
        Uri::Factory { net: net_ },
    );
    t.path = ctx.route(ip, net_, poc(net_), net_);
    t.contact = Some(Uri::Contact {
        user: ContactUser::User(user),
        ip,
        tcp,
    });
    t.uas_contact = Some(pre);
    t.uas_focus = true;
    t.record_route = true;
    t.body = poc_sdp(rng, ip);
    t.ok_body = poc_sdp(rng, poc(net_));
    t.extra = Extra::Invite;
    t.poc = true;
    let ti = s.txn(t);
    let (d, _, _, acked) = hops::invite_dialog(s, rng, ti, after, delay, None)?;
    Some((d, acked))
}

/// The setup of flows 1 and 2.
struct Setup {
    b: Net,
    a: Net,
    ub: u32,
    tcp: bool,
    pre: Uri,
    session: Uri,
    /// part-b (caller) ↔ ctrl-a, the dialog whose focus is SESSION.
    sess_dlg: Dialog,
    /// ctrl-a (caller) ↔ each other participating server.
    part_dlgs: Vec<Dialog>,
    /// Last messages of the setup.
    done: Vec<MsgId>,
}

fn session_setup(s: &mut Script, rng: &mut Rng, ctx: &Ctx, extra: usize) -> Option<Setup> {
    let b = ctx.net(rng, true, &[]);
    let a = ctx.peer_net(rng, b);
    let mut xs: Vec<Net> = Vec::new();
    for _ in 0..extra {
        let mut not = xs.clone();
        not.extend([a, b]);
        xs.push(ctx.net(rng, false, &not));
    }
    let ub = ctx.user(rng);
    let tcp = rng.chance(TCP_SHARE);
    let pre = Uri::Pre {
        net: b,
        id: rng.next_u64(),
    };
    let session = Uri::Session {
        net: a,
        id: rng.next_u64(),
    };
    let start = rng.range(0, 50_000);
    let (_pre_dlg, acked) = pre_established(s, rng, ctx, b, ub, pre, tcp, &[], start)?;

    // part-b joins client B to the PoC session hosted by ctrl-a.
    let mut t = hops::txn(
        rng,
        Method::Invite,
        session,
        &[poc(b), core(b), core(a), poc(a)],
        tcp,
        poc(b),
        1,
        Uri::Aor { net: b, user: ub },
        session,
    );
    t.path = ctx.route(poc(b), b, poc(a), a);
    t.contact = Some(leg(rng, poc(b), tcp));
    t.uas_contact = Some(session);
    t.uas_focus = true;
    t.record_route = true;
    t.body = poc_sdp(rng, poc(b));
    t.ok_body = poc_sdp(rng, poc(a));
    t.extra = Extra::Invite;
    t.poc = true;
    let ts = s.txn(t);
    let d = rng.range(200_000, 2_000_000);
    let inv = hops::request_path(
        s,
        rng,
        ts,
        &[acked],
        d,
        ReqOpts {
            trying: true,
            ..Default::default()
        },
    );
    let arrived = *inv.last()?;

    // ctrl-a invites the other participating servers.
    let mut part_dlgs = Vec::new();
    let mut oks = vec![arrived];
    let mut done = Vec::new();
    for (k, &x) in xs.iter().enumerate() {
        let ux = ctx.user(rng);
        let (px, unet, path) = ctx.participant(a, x, k as u8);
        let mut t = hops::txn(
            rng,
            Method::Invite,
            Uri::Aor {
                net: unet,
                user: ux,
            },
            &[poc(a), core(a), core(x), poc(x)],
            tcp,
            poc(a),
            1,
            session,
            Uri::Aor {
                net: unet,
                user: ux,
            },
        );
        t.path = path;
        t.contact = Some(session);
        t.contact_focus = true;
        t.uas_contact = Some(leg(rng, px, tcp));
        t.record_route = true;
        t.body = poc_sdp(rng, poc(a));
        t.ok_body = poc_sdp(rng, px);
        t.extra = Extra::Invite;
        t.poc = true;
        let tx = s.txn(t);
        let d = ua(rng);
        let (dlg, _, ok, acked_x) = hops::invite_dialog(s, rng, tx, &[arrived], d, None)?;
        part_dlgs.push(dlg);
        oks.push(ok);
        done.push(acked_x);
    }
    let ok = hops::answer(s, rng, ts, &oks, None);
    let sess_dlg = hops::dialog_of(s, ts)?;
    done.push(hops::ack(s, rng, &sess_dlg, ts, ok));
    Some(Setup {
        b,
        a,
        ub,
        tcp,
        pre,
        session,
        sess_dlg,
        part_dlgs,
        done,
    })
}

/// Client B's REFER with `Refer-To: <SESSION;method=BYE>` to `ruri`
/// through core-b to part-b (flows 1 and 2, steps 1-2).
fn client_refer(s: &mut Script, rng: &mut Rng, ctx: &Ctx, st: &Setup, ruri: Uri) -> usize {
    let ip = client(st.b, st.ub);
    let me = Uri::Aor {
        net: st.b,
        user: st.ub,
    };
    let mut t = hops::txn(
        rng,
        Method::Refer,
        ruri,
        &[ip, core(st.b), poc(st.b)],
        st.tcp,
        ip,
        1,
        me,
        ruri,
    );
    t.path = ctx.route(ip, st.b, poc(st.b), st.b);
    t.contact = Some(Uri::Contact {
        user: ContactUser::User(st.ub),
        ip,
        tcp: st.tcp,
    });
    t.uas_contact = Some(leg(rng, poc(st.b), st.tcp));
    t.record_route = true;
    t.extra = Extra::ReferBye {
        target: st.session,
        referred_by: me,
    };
    t.poc = true;
    s.txn(t)
}

/// Steps 1-2 of flows 1 and 2 (sometimes with core-b slow, so client B
/// retransmits the REFER over UDP) and part-b's 202 Accepted; returns the
/// two hops and part-b's 202 (first hop).
fn refer_hops(
    s: &mut Script,
    rng: &mut Rng,
    tr: usize,
    after: &[MsgId],
    hold: u64,
) -> Option<(MsgId, MsgId, MsgId)> {
    let slow = rng.chance(0.05).then_some(0);
    let e = hops::request_path(
        s,
        rng,
        tr,
        after,
        hold,
        ReqOpts {
            steps: tag(1),
            slow_hop: slow,
            ..Default::default()
        },
    );
    let (&e1, &e2) = (e.first()?, e.last()?);
    let d = ua(rng);
    let r = hops::response_path(s, rng, tr, 202, &[e2], d, None);
    Some((e1, e2, *r.first()?))
}

/// part-b's NOTIFY (Event: refer, sipfrag `code`) to client B in the
/// REFER's dialog and client B's answer, as steps `first`..`first+3`;
/// `at` sends it early (out of order), `answer` is client B's status.
#[allow(clippy::too_many_arguments)]
fn refer_notify(
    s: &mut Script,
    rng: &mut Rng,
    tr: usize,
    code: u16,
    first: u8,
    after: MsgId,
    at: Option<u64>,
    answer: u16,
) -> Option<()> {
    let mut dlg = hops::dialog_of(s, tr)?;
    let mut n = dlg.request(false, Method::Notify, rng.next_u64());
    n.extra = Extra::Notify(EventPkg::Refer);
    n.body = Body::Sipfrag(code);
    let udp = !n.tcp;
    let tn = s.txn(n);
    let d = ua(rng);
    let e = hops::request_path(
        s,
        rng,
        tn,
        &[after],
        d,
        ReqOpts {
            steps: tag(first),
            at,
            ..Default::default()
        },
    );
    if code != 200 {
        for &m in &e {
            s.mark_wrong(m);
        }
    }
    let &last = e.last()?;
    // Sometimes client B is slow: core-b retransmits the NOTIFY.
    let delay = if udp && rng.chance(0.05) {
        s.retransmit(last, T1);
        hops::slow(rng)
    } else {
        ua(rng)
    };
    let r = hops::response_path(s, rng, tn, answer, &[last], delay, tag(first + 2));
    if answer != 200 {
        for &m in &r {
            s.mark_wrong(m);
        }
    }
    Some(())
}

/// Flow 1: client B releases itself from the PoC session.
pub fn release_self(
    rng: &mut Rng,
    t0: u64,
    fault: Option<Fault>,
    ctx: &Ctx,
) -> Option<PocInstance> {
    let missing = (fault == Some(Fault::Missing)).then(|| StepTag {
        step: rng.range(2, 12) as u8,
        part: 0,
    });
    let wrong_bye = fault == Some(Fault::Wrong) && rng.chance(0.5);
    let wrong_notify_answer = fault == Some(Fault::Wrong) && !wrong_bye;
    let mut s = Script::new(t0, missing);
    let extra = rng.below(3) as usize;
    let st = session_setup(&mut s, rng, ctx, extra)?;
    let hold = rng.range(1_000_000, 10_000_000);

    let tr = client_refer(&mut s, rng, ctx, &st, st.pre);
    let (e1, e2, r202) = refer_hops(&mut s, rng, tr, &st.done, hold)?;

    // part-b leaves the PoC session: BYE toward SESSION (steps 3-5).
    let mut sd = st.sess_dlg;
    let bye = sd.request(true, Method::Bye, rng.next_u64());
    let tb = s.txn(bye);
    let with = (st.tcp && rng.chance(0.5)).then_some(r202);
    let d = ua(rng);
    let e = hops::request_path(
        &mut s,
        rng,
        tb,
        &[e2],
        d,
        ReqOpts {
            steps: tag(3),
            with,
            ..Default::default()
        },
    );
    let (&e3, &e5) = (e.first()?, e.last()?);
    let code = if wrong_bye { 481 } else { 200 };
    let d = ua(rng);
    let r = hops::response_path(&mut s, rng, tb, code, &[e5], d, tag(6));
    if wrong_bye {
        for &m in &r {
            s.mark_wrong(m);
        }
    }
    let &e8 = r.last()?;

    // The REFER's outcome (steps 9-12); out of order: sent before step 8.
    let at = (fault == Some(Fault::OutOfOrder)).then(|| early(rng, s.time(e3), s.time(e8)));
    let answer = if wrong_notify_answer { 481 } else { 200 };
    refer_notify(&mut s, rng, tr, code, 9, e8, at, answer)?;
    let call_id = s.txns.get(tr)?.call_id;
    Some(PocInstance {
        rule: Rule::ReleaseSelf,
        script: s,
        trigger: e1,
        call_id,
        participants: Vec::new(),
        topo: ctx.topo,
        due: None,
    })
}

/// Flow 2: client B releases the entire PoC session.
pub fn release_session(
    rng: &mut Rng,
    t0: u64,
    fault: Option<Fault>,
    ctx: &Ctx,
) -> Option<PocInstance> {
    let extra = rng.range(1, 3) as usize;
    let parts = extra + 1;
    let missing = (fault == Some(Fault::Missing)).then(|| {
        let step = rng.range(2, 18) as u8;
        let part = if ctx.v2() && (7..=10).contains(&step) {
            // Steps 7-10 are part-b's only.
            0
        } else if (6..=11).contains(&step) {
            rng.below(parts as u64) as u8
        } else {
            0
        };
        StepTag { step, part }
    });
    let wrong = if fault == Some(Fault::Wrong) {
        rng.range(1, 3)
    } else {
        0
    };
    let wrong_part = rng.below(parts as u64) as usize;
    let ooo = if fault == Some(Fault::OutOfOrder) {
        rng.range(1, 2)
    } else {
        0
    };
    let mut s = Script::new(t0, missing);
    let st = session_setup(&mut s, rng, ctx, extra)?;
    let hold = rng.range(1_000_000, 10_000_000);

    let tr1 = client_refer(&mut s, rng, ctx, &st, st.session);
    let (e1, e2, r202) = refer_hops(&mut s, rng, tr1, &st.done, hold)?;

    // part-b's own REFER toward ctrl-a (steps 3-5).
    let me = Uri::Aor {
        net: st.b,
        user: st.ub,
    };
    let mut t = hops::txn(
        rng,
        Method::Refer,
        st.session,
        &[poc(st.b), core(st.b), core(st.a), poc(st.a)],
        st.tcp,
        poc(st.b),
        1,
        me,
        st.session,
    );
    t.path = ctx.route(poc(st.b), st.b, poc(st.a), st.a);
    t.contact = Some(leg(rng, poc(st.b), st.tcp));
    t.uas_contact = Some(leg(rng, poc(st.a), st.tcp));
    t.record_route = true;
    t.extra = Extra::ReferBye {
        target: st.session,
        referred_by: me,
    };
    t.poc = true;
    let tr2 = s.txn(t);
    let with = (st.tcp && rng.chance(0.5)).then_some(r202);
    let d = ua(rng);
    let e = hops::request_path(
        &mut s,
        rng,
        tr2,
        &[e2],
        d,
        ReqOpts {
            steps: tag(3),
            with,
            ..Default::default()
        },
    );
    let (&e3, &e5) = (e.first()?, e.last()?);

    // ctrl-a's BYE in each session dialog (steps 6-11 per participant).
    let mut participants = Vec::new();
    let mut sixes = Vec::new();
    let mut elevens = Vec::new();
    let burst = ua(rng);
    for p in 0..parts {
        let bye = if p == 0 {
            let mut d = st.sess_dlg;
            d.request(false, Method::Bye, rng.next_u64())
        } else {
            let mut d = *st.part_dlgs.get(p - 1)?;
            d.request(true, Method::Bye, rng.next_u64())
        };
        participants.push(bye.ruri);
        let tb = s.txn(bye);
        let d = burst + p as u64 * rng.range(50, 500);
        // Format 2: toward a server other than part-b only ctrl-a's BYE
        // (step 6) and the 200 OK reaching ctrl-a (step 11) are steps.
        let ends_only = ctx.v2() && p > 0;
        let h = hops::request_path(
            &mut s,
            rng,
            tb,
            &[e5],
            d,
            ReqOpts {
                steps: part_tag(6, p as u8),
                first_only: ends_only,
                ..Default::default()
            },
        );
        sixes.push(*h.first()?);
        let wrong_here = wrong == 1 && wrong_part == p;
        let code = if wrong_here { 481 } else { 200 };
        let d = ua(rng);
        let r = hops::response_path_steps(
            &mut s,
            rng,
            tb,
            code,
            &[*h.last()?],
            d,
            None,
            part_tag(if ends_only { 11 } else { 9 }, p as u8),
            ends_only,
        );
        if wrong_here {
            for &m in &r {
                s.mark_wrong(m);
            }
        }
        elevens.push(*r.last()?);
    }

    // ctrl-a's final response to part-b's REFER (steps 12-14), only after
    // every BYE is answered; out of order: right after sending the BYEs.
    let code12 = if wrong == 2 {
        403
    } else if rng.chance(0.5) {
        200
    } else {
        202
    };
    let at = (ooo == 1).then(|| {
        let last6 = sixes.iter().map(|&m| s.time(m)).max().unwrap_or(0);
        let first11 = elevens.iter().map(|&m| s.time(m)).min().unwrap_or(0);
        early(rng, last6, first11)
    });
    let d = ua(rng);
    let r = hops::response_path_at(&mut s, rng, tr2, code12, &elevens, d, at, tag(12));
    if code12 >= 300 {
        for &m in &r {
            s.mark_wrong(m);
        }
    }
    let (&r12, &e14) = (r.first()?, r.last()?);

    // ctrl-a reports the REFER's outcome to part-b (not a step).
    if code12 < 300 {
        let mut d2 = hops::dialog_of(&s, tr2)?;
        let mut n = d2.request(false, Method::Notify, rng.next_u64());
        n.extra = Extra::Notify(EventPkg::Refer);
        n.body = Body::Sipfrag(200);
        let tn = s.txn(n);
        let d = ua(rng);
        let h = hops::request_path(&mut s, rng, tn, &[r12], d, ReqOpts::default());
        let d = ua(rng);
        hops::response_path(&mut s, rng, tn, 200, &[*h.last()?], d, None);
    }

    // part-b's NOTIFY to client B (steps 15-18); out of order: before 14.
    let at = (ooo == 2).then(|| early(rng, s.time(e3), s.time(e14)));
    let frag = if code12 >= 300 { code12 } else { 200 };
    let answer = if wrong == 3 { 481 } else { 200 };
    refer_notify(&mut s, rng, tr1, frag, 15, e14, at, answer)?;
    let call_id = s.txns.get(tr1)?.call_id;
    Some(PocInstance {
        rule: Rule::ReleaseSession,
        script: s,
        trigger: e1,
        call_id,
        participants,
        topo: ctx.topo,
        due: None,
    })
}

/// Flow 3: client A is notified that a PoC session was established.
///
/// With variants, a quarter of the instances carry no subscription in the
/// capture, a quarter a subscription and a session dialog not for client A
/// (To SESSION), and half (and every `notify-never` one) make flow 3 due
/// before the NOTIFY (flows.md, "When flow 3 is due"): the
/// session dialog is ctrl-a's INVITE toward server-a for client A
/// (`Contact: <SESSION>;isfocus`, To client A's address of record).
/// `notify-never` then sends no NOTIFY, and the 2xx is the trigger.
/// `one-vantage` puts client A in an odd one-vantage network of its own:
/// only the client-a ↔ core-a link of the steps is captured (steps 2 and
/// 3).
pub fn participant_notify(
    rng: &mut Rng,
    t0: u64,
    fault: Option<Fault>,
    ctx: &Ctx,
) -> Option<PocInstance> {
    let vantage = ctx.is(Topology::OneVantage);
    let never = ctx.is(Topology::NotifyNever);
    let fault = if never { None } else { fault };
    let missing = (fault == Some(Fault::Missing)).then(|| StepTag {
        // One-vantage: step 2 is the first one captured (the trigger).
        step: if vantage { 3 } else { rng.range(2, 4) as u8 },
        part: 0,
    });
    let mut s = Script::new(t0, missing);
    let (a, c) = if vantage {
        ctx.flow3_vantage_nets()
    } else {
        let a = ctx.net(rng, false, &[]);
        (a, ctx.peer_net(rng, a))
    };
    let ua_ = ctx.user_a(rng);
    let due_ctx = never || (ctx.v2() && !vantage && rng.chance(0.5));
    // With variants, half the others have no context in the capture (the
    // subscription was made before it started): flow 3 starts at its NOTIFY.
    let bare = ctx.v2() && !vantage && !due_ctx && rng.chance(0.5);
    let ip = client(a, ua_);
    let me = Uri::Aor { net: a, user: ua_ };
    let tcp = rng.chance(TCP_SHARE);
    let pre = Uri::Pre {
        net: a,
        id: rng.next_u64(),
    };
    let session = Uri::Session {
        net: c,
        id: rng.next_u64(),
    };
    let start = rng.range(0, 50_000);
    let (_pre_dlg, acked) = pre_established(&mut s, rng, ctx, a, ua_, pre, tcp, &[], start)?;

    // SUBSCRIBE to the conference state of the pre-established session.
    let mut t = hops::txn(
        rng,
        Method::Subscribe,
        pre,
        &[ip, core(a), poc(a)],
        tcp,
        ip,
        1,
        me,
        pre,
    );
    t.path = ctx.route(ip, a, poc(a), a);
    t.contact = Some(Uri::Contact {
        user: ContactUser::User(ua_),
        ip,
        tcp,
    });
    t.uas_contact = Some(leg(rng, poc(a), tcp));
    t.record_route = true;
    t.extra = Extra::Subscribe;
    t.poc = true;
    let tsub = s.txn(t);
    if bare {
        // The subscription's dialog, set up before the capture began.
        let sub = hops::dialog_of(&s, tsub)?;
        let (call_id, e1) = notify_steps(&mut s, rng, fault, sub, acked, me, session)?;
        return Some(PocInstance {
            rule: Rule::ParticipantNotify,
            script: s,
            trigger: e1,
            call_id,
            participants: Vec::new(),
            topo: ctx.topo,
            due: None,
        });
    }
    let d = ua(rng);
    let h = hops::request_path(&mut s, rng, tsub, &[acked], d, ReqOpts::default());
    let d = ua(rng);
    let r = hops::response_path(&mut s, rng, tsub, 200, &[*h.last()?], d, None);
    let mut sub = hops::dialog_of(&s, tsub)?;
    // The immediate NOTIFY of RFC 6665: no session yet, so no body.
    let mut n0 = sub.request(false, Method::Notify, rng.next_u64());
    n0.extra = Extra::Notify(EventPkg::Conference);
    let tn0 = s.txn(n0);
    let d = ua(rng);
    let h = hops::request_path(&mut s, rng, tn0, &[*r.first()?], d, ReqOpts::default());
    let d = ua(rng);
    let r = hops::response_path(&mut s, rng, tn0, 200, &[*h.last()?], d, None);

    if due_ctx {
        return notify_due(
            s,
            rng,
            ctx,
            fault,
            sub,
            *r.last()?,
            (a, c, me, session, tcp),
        );
    }

    // A PoC session is established: server-a joins it for client A.
    let mut t = hops::txn(
        rng,
        Method::Invite,
        session,
        &[poc(a), core(a), core(c), poc(c)],
        tcp,
        poc(a),
        1,
        me,
        session,
    );
    t.path = ctx.route(poc(a), a, poc(c), c);
    t.contact = Some(leg(rng, poc(a), tcp));
    t.uas_contact = Some(session);
    t.uas_focus = true;
    t.record_route = true;
    t.body = poc_sdp(rng, poc(a));
    t.ok_body = poc_sdp(rng, poc(c));
    t.extra = Extra::Invite;
    t.poc = true;
    let ts = s.txn(t);
    let d = rng.range(500_000, 5_000_000);
    let (_, _, ok, _) = hops::invite_dialog(&mut s, rng, ts, &[*r.last()?], d, None)?;
    let (call_id, e1) = notify_steps(&mut s, rng, fault, sub, ok, me, session)?;
    Some(PocInstance {
        rule: Rule::ParticipantNotify,
        script: s,
        trigger: e1,
        call_id,
        participants: Vec::new(),
        topo: ctx.topo,
        due: None,
    })
}

/// Flow 3 made due by its context: ctrl-a (network `c`) invites server-a
/// (network `a`) into the PoC session for client A (`me`). Then the NOTIFY
/// (steps 1-4, step 1 the trigger), unless the variant is `notify-never`:
/// then the 2xx's first hop, sent by server-a, is the trigger.
fn notify_due(
    mut s: Script,
    rng: &mut Rng,
    ctx: &Ctx,
    fault: Option<Fault>,
    sub: Dialog,
    after: MsgId,
    (a, c, me, session, tcp): (Net, Net, Uri, Uri, bool),
) -> Option<PocInstance> {
    let mut t = hops::txn(
        rng,
        Method::Invite,
        me,
        &[poc(c), core(c), core(a), poc(a)],
        tcp,
        poc(c),
        1,
        session,
        me,
    );
    t.path = ctx.route(poc(c), c, poc(a), a);
    t.contact = Some(session);
    t.contact_focus = true;
    t.uas_contact = Some(leg(rng, poc(a), tcp));
    t.record_route = true;
    t.body = poc_sdp(rng, poc(c));
    t.ok_body = poc_sdp(rng, poc(a));
    t.extra = Extra::Invite;
    t.poc = true;
    let ts = s.txn(t);
    let d = rng.range(500_000, 5_000_000);
    let h = hops::request_path(
        &mut s,
        rng,
        ts,
        &[after],
        d,
        ReqOpts {
            trying: true,
            ..Default::default()
        },
    );
    let d = ua(rng);
    let r = hops::response_path(&mut s, rng, ts, 200, &[*h.last()?], d, None);
    let (&due, &ok) = (r.first()?, r.last()?);
    let dlg = hops::dialog_of(&s, ts)?;
    let acked = hops::ack(&mut s, rng, &dlg, ts, ok);
    let due_cid = s.txns.get(ts)?.call_id;
    let (call_id, trigger) = if ctx.is(Topology::NotifyNever) {
        (due_cid, due)
    } else {
        notify_steps(&mut s, rng, fault, sub, acked, me, session)?
    };
    Some(PocInstance {
        rule: Rule::ParticipantNotify,
        script: s,
        trigger,
        call_id,
        participants: Vec::new(),
        topo: ctx.topo,
        due: Some((due, due_cid)),
    })
}

/// Flow 3's steps 1-4 in the subscription's dialog `sub`, after `after`;
/// returns the NOTIFY's Call-ID and its first hop.
fn notify_steps(
    s: &mut Script,
    rng: &mut Rng,
    fault: Option<Fault>,
    mut sub: Dialog,
    after: MsgId,
    me: Uri,
    session: Uri,
) -> Option<(CallId, MsgId)> {
    let ok = after;
    // Steps 1-4: the participant notification.
    let mut users = [me; 3];
    let n_users = 1 + rng.below(3) as u8;
    for u in users.iter_mut().skip(1) {
        *u = Uri::Aor {
            net: topology::any_net(rng),
            user: topology::any_client(rng),
        };
    }
    let mut n = sub.request(false, Method::Notify, rng.next_u64());
    n.extra = Extra::Notify(EventPkg::Conference);
    n.body = Body::ConfInfo {
        entity: session,
        version: 2,
        users,
        n_users,
    };
    let udp = !n.tcp;
    let tn = s.txn(n);
    let d = ua(rng);
    let h = hops::request_path(
        s,
        rng,
        tn,
        &[ok],
        d,
        ReqOpts {
            steps: tag(1),
            ..Default::default()
        },
    );
    let (&e1, &e2) = (h.first()?, h.last()?);
    let last = s.txns.get(tn)?.path.last();
    let delay = if udp && rng.chance(0.05) {
        s.retransmit(e2, T1);
        hops::slow(rng)
    } else {
        ua(rng)
    };
    let code = if fault == Some(Fault::Wrong) {
        481
    } else {
        200
    };
    let e3 = s.step(
        &[e2],
        delay,
        tn,
        Kind::Resp {
            code,
            from: last as u8,
        },
        tag(3),
    );
    // Inside an IMS chain: hops that are not steps.
    let mut prev = e3;
    for from in (2..last).rev() {
        let d = net(rng);
        let k = Kind::Resp {
            code,
            from: from as u8,
        };
        prev = s.send(&[prev], d, tn, k);
    }
    let k4 = Kind::Resp { code, from: 1 };
    let e4 = if fault == Some(Fault::OutOfOrder) {
        let at = early(rng, s.time(e2), s.time(e3));
        s.step_at(at, &[e2], tn, k4, tag(4))
    } else {
        let d = net(rng);
        s.step(&[prev], d, tn, k4, tag(4))
    };
    if code != 200 {
        s.mark_wrong(e3);
        s.mark_wrong(e4);
    }
    let call_id = s.txns.get(tn)?.call_id;
    Some((call_id, e1))
}

/// Variant `no-alternative`: client B's REFER(BYE), to `PRE` (flow 1) or
/// to `SESSION` (flow 2), after the sessions' setup, followed by neither
/// flow: part-b answers 403 Forbidden and does nothing else, or nothing
/// at all happens, or part-b accepts it (202) and at once reports failure
/// (a NOTIFY whose sipfrag is `SIP/2.0 403 Forbidden`: that NOTIFY's
/// steps are wrong, client B's 200 OK to it is ok). Every other step is
/// missing.
pub fn no_alternative(rng: &mut Rng, t0: u64, ctx: &Ctx) -> Option<PocInstance> {
    let flow2 = rng.chance(0.5);
    let (rule, extra) = if flow2 {
        (Rule::ReleaseSession, rng.range(1, 3) as usize)
    } else {
        (Rule::ReleaseSelf, rng.below(3) as usize)
    };
    let mut s = Script::new(t0, None);
    let st = session_setup(&mut s, rng, ctx, extra)?;
    let hold = rng.range(1_000_000, 10_000_000);
    let ruri = if flow2 { st.session } else { st.pre };
    let tr = client_refer(&mut s, rng, ctx, &st, ruri);
    let e1 = match rng.below(3) {
        0 | 1 => {
            let e = hops::request_path(
                &mut s,
                rng,
                tr,
                &st.done,
                hold,
                ReqOpts {
                    steps: tag(1),
                    ..Default::default()
                },
            );
            if rng.chance(0.5) {
                let d = ua(rng);
                hops::response_path(&mut s, rng, tr, 403, &[*e.last()?], d, None);
            }
            *e.first()?
        }
        _ => {
            let (e1, _, r202) = refer_hops(&mut s, rng, tr, &st.done, hold)?;
            let first = if flow2 { 15 } else { 9 };
            refer_notify(&mut s, rng, tr, 403, first, r202, None, 200)?;
            e1
        }
    };
    // Flow 2: the BYEs ctrl-a should have sent, in each session dialog.
    let participants = if flow2 {
        let mut v = vec![st.sess_dlg.caller.contact];
        v.extend(st.part_dlgs.iter().map(|d| d.callee.contact));
        v
    } else {
        Vec::new()
    };
    let call_id = s.txns.get(tr)?.call_id;
    Some(PocInstance {
        rule,
        script: s,
        trigger: e1,
        call_id,
        participants,
        topo: ctx.topo,
        due: None,
    })
}
