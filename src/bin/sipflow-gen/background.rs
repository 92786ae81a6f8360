//! Ordinary traffic around the PoC flows: voice calls (INVITE, 100, 180,
//! 200, ACK, BYE, 200 with SDP; some busy, some with retransmissions, a
//! few with INVITEs large enough to be fragmented over UDP), registrations
//! with a digest challenge, and OPTIONS keep-alives between servers.

use crate::hops::{self, ReqOpts, T1, net, ua};
use crate::poc::TCP_SHARE;
use crate::rng::Rng;
use crate::script::Script;
use crate::sip::{Body, Extra, Kind, Method, SdpKind};
use crate::topology::{self, client, core, poc};
use crate::uri::{ContactUser, Uri};

/// A voice call between two clients, through one or two core proxies.
pub fn call(rng: &mut Rng, t0: u64) -> Option<Script> {
    let mut s = Script::new(t0, None);
    let j = topology::any_net(rng);
    let k = if rng.chance(0.3) {
        j
    } else {
        topology::other_net(rng, &[j])
    };
    let (u1, u2) = (topology::any_client(rng), topology::any_client(rng));
    let (ip1, ip2) = (client(j, u1), client(k, u2));
    let tcp = rng.chance(TCP_SHARE);
    let path: Vec<u32> = if j == k {
        vec![ip1, core(j), ip2]
    } else {
        vec![ip1, core(j), core(k), ip2]
    };
    let callee = Uri::Aor { net: k, user: u2 };
    let cseq = rng.range(1, 5000) as u32;
    let mut t = hops::txn(
        rng,
        Method::Invite,
        callee,
        &path,
        tcp,
        ip1,
        cseq,
        Uri::Aor { net: j, user: u1 },
        callee,
    );
    t.contact = Some(Uri::Contact {
        user: ContactUser::User(u1),
        ip: ip1,
        tcp,
    });
    t.uas_contact = Some(Uri::Contact {
        user: ContactUser::User(u2),
        ip: ip2,
        tcp,
    });
    t.record_route = true;
    t.extra = Extra::Invite;
    let big = rng.chance(0.05);
    t.body = Body::Sdp {
        ip: ip1,
        sess: rng.next_u64(),
        port: 10_000 + 2 * rng.below(20_000) as u16,
        kind: if big { SdpKind::Big } else { SdpKind::Call },
    };
    t.ok_body = Body::Sdp {
        ip: ip2,
        sess: rng.next_u64(),
        port: 10_000 + 2 * rng.below(20_000) as u16,
        kind: SdpKind::Call,
    };
    let udp = !tcp;
    let ti = s.txn(t);
    let start = rng.range(0, 100_000);
    let slow = (udp && rng.chance(0.03)).then_some(0);
    let h = hops::request_path(
        &mut s,
        rng,
        ti,
        &[],
        start,
        ReqOpts {
            trying: true,
            slow_hop: slow,
            ..Default::default()
        },
    );
    let &arrived = h.last()?;
    let d = ua(rng);
    let ringing = hops::response_path(&mut s, rng, ti, 180, &[arrived], d, None);
    let &rang = ringing.first()?;
    let ring_time = rng.range(500_000, 4_000_000);
    if rng.chance(0.05) {
        let busy = hops::response_path(&mut s, rng, ti, 486, &[rang], ring_time, None);
        hops::ack_hops(&mut s, rng, ti, &busy);
        return Some(s);
    }
    let ok = hops::response_path(&mut s, rng, ti, 200, &[rang], ring_time, None);
    let mut ok_at_uac = *ok.last()?;
    // Sometimes the ACK is late: the callee retransmits its 200 OK, and
    // each proxy forwards the retransmission.
    if udp && rng.chance(0.03) {
        let mut last = ok_at_uac;
        for &m in &ok {
            last = s.retransmit(m, T1);
        }
        ok_at_uac = last;
    }
    let mut dlg = hops::dialog_of(&s, ti)?;
    let acked = hops::ack(&mut s, rng, &dlg, ti, ok_at_uac);
    let by_caller = rng.chance(0.6);
    let bye = dlg.request(by_caller, Method::Bye, rng.next_u64());
    let tb = s.txn(bye);
    let hold = rng.range(2_000_000, 30_000_000);
    let h = hops::request_path(&mut s, rng, tb, &[acked], hold, ReqOpts::default());
    let d = ua(rng);
    hops::response_path(&mut s, rng, tb, 200, &[*h.last()?], d, None);
    Some(s)
}

/// A client registers: REGISTER, 401 with a digest challenge, REGISTER
/// with credentials, 200 OK.
pub fn register(rng: &mut Rng, t0: u64) -> Option<Script> {
    let mut s = Script::new(t0, None);
    let j = topology::any_net(rng);
    let u = topology::any_client(rng);
    let ip = client(j, u);
    let tcp = rng.chance(TCP_SHARE);
    let me = Uri::Aor { net: j, user: u };
    let cseq = rng.range(1, 60_000) as u32;
    let contact = Uri::Contact {
        user: ContactUser::User(u),
        ip,
        tcp,
    };
    let mut first = hops::txn(
        rng,
        Method::Register,
        Uri::Domain { net: j },
        &[ip, core(j)],
        tcp,
        ip,
        cseq,
        me,
        me,
    );
    first.contact = Some(contact);
    first.route = crate::sip::RouteMode::None;
    first.extra = Extra::Register {
        nonce: None,
        net: j,
        user: u,
    };
    let nonce = first.branch.rotate_left(23);
    let mut second = first.clone();
    second.cseq = cseq + 1;
    second.branch = rng.next_u64();
    second.uas_tag = (rng.next_u64() & 0xffff_ffff) | 1;
    second.extra = Extra::Register {
        nonce: Some(nonce),
        net: j,
        user: u,
    };
    let t1 = s.txn(first);
    let t2 = s.txn(second);
    let start = rng.range(0, 100_000);
    let a = s.send(&[], start, t1, Kind::Req { hop: 0 });
    let d = rng.range(1_000, 10_000);
    let b = s.send(&[a], d, t1, Kind::Resp { code: 401, from: 1 });
    let d = ua(rng);
    let c = s.send(&[b], d, t2, Kind::Req { hop: 0 });
    let d = rng.range(1_000, 20_000);
    s.send(&[c], d, t2, Kind::Resp { code: 200, from: 1 });
    Some(s)
}

/// A server checks a neighbour: OPTIONS and 200 OK.
pub fn options(rng: &mut Rng, t0: u64) -> Option<Script> {
    let mut s = Script::new(t0, None);
    let j = topology::any_net(rng);
    let (from, to) = match rng.below(3) {
        0 => (core(j), poc(j)),
        1 => (poc(j), core(j)),
        _ => (core(j), core(topology::other_net(rng, &[j]))),
    };
    let tcp = rng.chance(TCP_SHARE);
    let cseq = rng.range(1, 60_000) as u32;
    let mut t = hops::txn(
        rng,
        Method::Options,
        Uri::Host { ip: to, tcp },
        &[from, to],
        tcp,
        from,
        cseq,
        Uri::Host { ip: from, tcp },
        Uri::Host { ip: to, tcp },
    );
    t.route = crate::sip::RouteMode::None;
    t.extra = Extra::Options;
    let t1 = s.txn(t);
    let start = rng.range(0, 100_000);
    let a = s.send(&[], start, t1, Kind::Req { hop: 0 });
    let d = net(rng);
    s.send(&[a], d, t1, Kind::Resp { code: 200, from: 1 });
    Some(s)
}
