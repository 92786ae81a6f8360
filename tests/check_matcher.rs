//! The matcher on SIP messages fed one by one (parsed by the sip stage),
//! independent of capture files: each status, retransmissions, unrelated
//! traffic, concurrent instances, and telling flow 1 from flow 2.
//!
//! The end-to-end behaviour on real captures is tested in `check_samples.rs`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use sipflow::capture::Timestamp;
use sipflow::check::{Checker, InstanceReport, Status, Verdict};
use sipflow::net::Transport;
use sipflow::rules::RuleSet;
use sipflow::trace::Tracker;

const PRE: &str = "sip:pre-b1@poc-b.example.net";
const SESSION: &str = "sip:poc-session-42@poc-a.example.com";

fn node(n: u8) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, n)), 5060)
}

const CLIENT_B: u8 = 1;
const CORE_B: u8 = 2;
const PART_B: u8 = 3;
const CORE_A: u8 = 4;
const CTRL_A: u8 = 5;

/// A SIP message built as text, the way a stack writes it.
struct M {
    start: String,
    headers: Vec<(String, String)>,
    body: String,
}

fn request(
    method: &str,
    uri: &str,
    call_id: &str,
    cseq: u32,
    vias: &[&str],
    from_tag: &str,
    to_tag: Option<&str>,
) -> M {
    let mut h = Vec::new();
    for b in vias {
        h.push((
            "Via".into(),
            format!("SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bK{b}"),
        ));
    }
    h.push(("Max-Forwards".into(), "70".into()));
    h.push((
        "From".into(),
        format!("<sip:b@poc-b.example.net>;tag={from_tag}"),
    ));
    h.push((
        "To".into(),
        match to_tag {
            Some(t) => format!("<{uri}>;tag={t}"),
            None => format!("<{uri}>"),
        },
    ));
    h.push(("Call-ID".into(), call_id.into()));
    h.push(("CSeq".into(), format!("{cseq} {method}")));
    M {
        start: format!("{method} {uri} SIP/2.0"),
        headers: h,
        body: String::new(),
    }
}

fn response(status: u16, reason: &str, req: &M, to_tag: &str) -> M {
    let mut h: Vec<(String, String)> = req
        .headers
        .iter()
        .filter(|(n, _)| ["Via", "From", "To", "Call-ID", "CSeq"].contains(&n.as_str()))
        .cloned()
        .collect();
    for (n, v) in h.iter_mut() {
        if n == "To" && !v.contains("tag=") {
            v.push_str(&format!(";tag={to_tag}"));
        }
    }
    M {
        start: format!("SIP/2.0 {status} {reason}"),
        headers: h,
        body: String::new(),
    }
}

impl M {
    fn header(mut self, n: &str, v: &str) -> M {
        self.headers.push((n.into(), v.into()));
        self
    }
    /// Replace the From header (the focus names itself by the conference URI).
    fn from(mut self, uri: &str, tag: &str) -> M {
        for (n, v) in self.headers.iter_mut() {
            if n == "From" {
                *v = format!("<{uri}>;tag={tag}");
            }
        }
        self
    }
    fn body(mut self, ct: &str, b: &str) -> M {
        self.headers.push(("Content-Type".into(), ct.into()));
        self.body = b.into();
        self
    }
    /// The same message one hop further: a proxy pushes its Via.
    fn via_pushed(&self, branch: &str) -> M {
        let mut h = vec![(
            "Via".to_string(),
            format!("SIP/2.0/UDP 10.0.0.8:5060;branch=z9hG4bK{branch}"),
        )];
        h.extend(self.headers.iter().cloned());
        M {
            start: self.start.clone(),
            headers: h,
            body: self.body.clone(),
        }
    }
    /// A response one hop back: the proxy pops its Via.
    fn via_popped(&self) -> M {
        let mut h = self.headers.clone();
        if let Some(i) = h.iter().position(|(n, _)| n == "Via") {
            h.remove(i);
        }
        M {
            start: self.start.clone(),
            headers: h,
            body: self.body.clone(),
        }
    }
    fn bytes(&self) -> Vec<u8> {
        let mut s = format!("{}\r\n", self.start);
        for (n, v) in &self.headers {
            s.push_str(&format!("{n}: {v}\r\n"));
        }
        s.push_str(&format!(
            "Content-Length: {}\r\n\r\n{}",
            self.body.len(),
            self.body
        ));
        s.into_bytes()
    }
}

/// Feed (from, to, message) hops as consecutive frames, 10 ms apart, then
/// an unrelated OPTIONS from client B a minute later: the capture goes on
/// past every step's time limit, so what never came is `missing`.
fn run(rules: &RuleSet, hops: &[(u8, u8, &M)]) -> Vec<InstanceReport> {
    let tail = request(
        "OPTIONS",
        "sip:ping@10.0.0.91",
        "tail",
        1,
        &["t"],
        "t",
        None,
    );
    run_until(rules, hops, Some(&tail))
}

/// As [`run`]; with `tail` `None` the capture ends right after the hops.
fn run_until(rules: &RuleSet, hops: &[(u8, u8, &M)], tail: Option<&M>) -> Vec<InstanceReport> {
    run_delayed(rules, hops, tail, None)
}

/// As [`run_until`], with the hops from index `delay.0` on sent `delay.1`
/// seconds later.
fn run_delayed(
    rules: &RuleSet,
    hops: &[(u8, u8, &M)],
    tail: Option<&M>,
    delay: Option<(usize, i64)>,
) -> Vec<InstanceReport> {
    let mut trace = Tracker::new();
    let mut checker = Checker::new(&rules.rules);
    let mut out = Vec::new();
    for (i, (from, to, m)) in hops.iter().enumerate() {
        let bytes = m.bytes();
        let msg = sipflow::sip::parse(&bytes).unwrap_or_else(|e| panic!("hop {i}: {e:?}"));
        let late = delay.filter(|(from, _)| i >= *from).map_or(0, |(_, s)| s);
        let time = Timestamp {
            secs: 1_700_000_000 + (i as i64 / 100) + late,
            nanos: (i as u32 % 100) * 10_000_000,
        };
        let frame = i as u64 + 1;
        if let Some(m) = trace.observe(frame, time, node(*from), node(*to), Transport::Udp, &msg) {
            checker.on_message(&m, &trace, &mut |r| out.push(r));
        }
    }
    if let Some(t) = tail {
        let bytes = t.bytes();
        let msg = sipflow::sip::parse(&bytes).unwrap();
        let time = Timestamp {
            secs: 1_700_000_060 + hops.len() as i64 / 100 + delay.map_or(0, |d| d.1),
            nanos: 0,
        };
        if let Some(m) = trace.observe(
            hops.len() as u64 + 1,
            time,
            node(CLIENT_B),
            node(91),
            Transport::Udp,
            &msg,
        ) {
            checker.on_message(&m, &trace, &mut |r| out.push(r));
        }
    }
    checker.finish(&trace, &mut |r| out.push(r));
    out
}

struct Flow1 {
    refer: M,
    refer2: M,
    accepted: M,
    bye: M,
    bye4: M,
    bye5: M,
    ok6: M,
    notify: M,
    notify10: M,
    ok11: M,
}

fn flow1(tag: &str) -> Flow1 {
    let refer = request(
        "REFER",
        PRE,
        &format!("refer-{tag}"),
        1,
        &[&format!("b1{tag}")],
        &format!("cb{tag}"),
        None,
    )
    .header("Refer-To", &format!("<{SESSION};method=BYE>"))
    .header("Contact", "<sip:b@10.0.0.1>");
    let refer2 = refer.via_pushed(&format!("cb2{tag}"));
    let accepted = response(202, "Accepted", &refer2, &format!("pb{tag}"));
    let bye = request(
        "BYE",
        SESSION,
        &format!("leg-{tag}"),
        2,
        &[&format!("p3{tag}")],
        &format!("pl{tag}"),
        Some("focus"),
    );
    let bye4 = bye.via_pushed(&format!("cb4{tag}"));
    let bye5 = bye4.via_pushed(&format!("ca5{tag}"));
    let ok6 = response(200, "OK", &bye5, "focus");
    let notify = request(
        "NOTIFY",
        "sip:b@10.0.0.1",
        &format!("refer-{tag}"),
        1,
        &[&format!("p9{tag}")],
        &format!("pb{tag}"),
        Some(&format!("cb{tag}")),
    )
    .header("Event", "refer")
    .header("Subscription-State", "terminated;reason=noresource")
    .body("message/sipfrag", "SIP/2.0 200 OK\r\n");
    let notify10 = notify.via_pushed(&format!("cb10{tag}"));
    let ok11 = response(200, "OK", &notify10, "x");
    Flow1 {
        refer,
        refer2,
        accepted,
        bye,
        bye4,
        bye5,
        ok6,
        notify,
        notify10,
        ok11,
    }
}

fn hops1(f: &Flow1) -> Vec<(u8, u8, &M)> {
    vec![
        (CLIENT_B, CORE_B, &f.refer),
        (CORE_B, PART_B, &f.refer2),
        (PART_B, CORE_B, &f.accepted),
        (PART_B, CORE_B, &f.bye),
        (CORE_B, CORE_A, &f.bye4),
        (CORE_A, CTRL_A, &f.bye5),
        (CTRL_A, CORE_A, &f.ok6),
        (CORE_A, CORE_B, Box::leak(Box::new(f.ok6.via_popped()))),
        (
            CORE_B,
            PART_B,
            Box::leak(Box::new(f.ok6.via_popped().via_popped())),
        ),
        (PART_B, CORE_B, &f.notify),
        (CORE_B, CLIENT_B, &f.notify10),
        (CLIENT_B, CORE_B, &f.ok11),
        (CORE_B, PART_B, Box::leak(Box::new(f.ok11.via_popped()))),
    ]
}

fn statuses(r: &InstanceReport) -> Vec<(u32, Status)> {
    let r = &InstanceReport {
        steps: r.steps.iter().filter(|s| !s.optional).cloned().collect(),
        ..r.clone()
    };
    r.steps
        .iter()
        .filter(|s| s.status != Status::Ok)
        .map(|s| (s.number, s.status))
        .collect()
}

fn only(reports: &[InstanceReport]) -> &InstanceReport {
    assert_eq!(reports.len(), 1, "{reports:#?}");
    &reports[0]
}

#[test]
fn flow1_complete_passes_with_202_and_retransmission() {
    let rules = RuleSet::builtin();
    let f = flow1("a");
    let mut hops = hops1(&f);
    // A retransmitted BYE (same bytes, same hop) is not a new step.
    hops.insert(4, (PART_B, CORE_B, &f.bye));
    let r = run(&rules, &hops);
    let r = only(&r);
    assert_eq!(r.rule, "poc-preest-release-self");
    assert_eq!(r.verdict, Verdict::Pass, "{r:#?}");
    assert_eq!(r.session.as_deref(), Some(SESSION));
    assert_eq!(r.trigger_frame, 1);
    let required: Vec<_> = r.steps.iter().filter(|s| !s.optional).collect();
    assert_eq!(
        required.iter().map(|s| s.number).collect::<Vec<_>>(),
        (1..=12).collect::<Vec<_>>()
    );
    // The 202 Accepted (frame 3) is not a step; step 3 is the BYE at frame 4.
    assert_eq!(required[2].frame, Some(4));
    // It is listed as the optional message it is, after step 2.
    let opt: Vec<_> = r.steps.iter().filter(|s| s.optional).collect();
    assert_eq!(opt.len(), 1, "{opt:#?}");
    assert_eq!((opt[0].number, opt[0].frame), (2, Some(3)));
}

#[test]
fn steps_cut_off_by_the_end_of_the_capture_are_unobserved() {
    let rules = RuleSet::builtin();
    let f = flow1("a");
    let mut hops = hops1(&f);
    hops.truncate(10); // the capture stops right after step 9
    let r = run_until(&rules, &hops, None);
    let r = only(&r);
    assert_eq!(r.verdict, Verdict::Partial, "{r:#?}");
    assert_eq!(
        statuses(r),
        vec![
            (10, Status::Unobserved),
            (11, Status::Unobserved),
            (12, Status::Unobserved)
        ]
    );
    let step10 = r.steps.iter().find(|s| s.number == 10 && !s.optional);
    let detail = step10.and_then(|s| s.detail.as_deref()).unwrap();
    assert!(
        detail.starts_with("the capture ends 0.0 s after frame 10"),
        "{detail}"
    );
}

#[test]
fn flow1_missing_hop_and_what_depends_on_it() {
    let rules = RuleSet::builtin();
    let f = flow1("a");
    let mut hops = hops1(&f);
    hops.truncate(10); // core-b never forwards the NOTIFY: 10, 11, 12 never happen
    let r = run(&rules, &hops);
    let r = only(&r);
    assert_eq!(r.verdict, Verdict::Fail);
    assert_eq!(
        statuses(r),
        vec![
            (10, Status::Missing),
            (11, Status::Missing),
            (12, Status::Missing)
        ]
    );
}

#[test]
fn flow1_notify_before_the_bye_is_answered_is_out_of_order() {
    let rules = RuleSet::builtin();
    let f = flow1("a");
    let hops = hops1(&f);
    // part-b sends the NOTIFY (step 9) before step 8 reaches it.
    let mut reordered: Vec<_> = hops[..8].to_vec();
    reordered.push(hops[9]);
    reordered.push(hops[8]);
    reordered.extend_from_slice(&hops[10..]);
    let r = run(&rules, &reordered);
    let r = only(&r);
    assert_eq!(r.verdict, Verdict::Fail);
    assert_eq!(statuses(r), vec![(9, Status::OutOfOrder)]);
    let s9 = r.steps.iter().find(|s| s.number == 9).unwrap();
    assert_eq!(
        s9.detail.as_deref(),
        Some("seen at frame 9, before step 8 (frame 10)")
    );
}

#[test]
fn flow1_481_where_200_expected_is_wrong_at_every_hop() {
    let rules = RuleSet::builtin();
    let f = flow1("a");
    let nok = response(481, "Call/Transaction Does Not Exist", &f.bye5, "focus");
    let n7 = nok.via_popped();
    let n8 = n7.via_popped();
    let notify = request(
        "NOTIFY",
        "sip:b@10.0.0.1",
        "refer-a",
        1,
        &["p9a"],
        "pba",
        Some("cba"),
    )
    .header("Event", "refer")
    .body(
        "message/sipfrag",
        "SIP/2.0 481 Call/Transaction Does Not Exist\r\n",
    );
    let notify10 = notify.via_pushed("cb10a");
    let ok11 = response(200, "OK", &notify10, "x");
    let ok12 = ok11.via_popped();
    let mut hops = hops1(&f)[..6].to_vec();
    hops.extend([
        (CTRL_A, CORE_A, &nok),
        (CORE_A, CORE_B, &n7),
        (CORE_B, PART_B, &n8),
        (PART_B, CORE_B, &notify),
        (CORE_B, CLIENT_B, &notify10),
        (CLIENT_B, CORE_B, &ok11),
        (CORE_B, PART_B, &ok12),
    ]);
    let r = run(&rules, &hops);
    let r = only(&r);
    assert_eq!(r.verdict, Verdict::Fail);
    assert_eq!(
        statuses(r),
        vec![
            (6, Status::Wrong),
            (7, Status::Wrong),
            (8, Status::Wrong),
            (9, Status::Wrong),
            (10, Status::Wrong)
        ]
    );
    let s6 = r.steps.iter().find(|s| s.number == 6).unwrap();
    assert_eq!(
        s6.detail.as_deref(),
        Some("481 Call/Transaction Does Not Exist where 200 OK expected")
    );
    let s9 = r.steps.iter().find(|s| s.number == 9).unwrap();
    assert_eq!(
        s9.detail.as_deref(),
        Some("expected `sipfrag.status == 200`, found `481`")
    );
}

#[test]
fn unrelated_traffic_never_fails_a_flow() {
    let rules = RuleSet::builtin();
    let f = flow1("a");
    // Another BYE from part-b to core-b, for another conference, and a
    // NOTIFY in another dialog, interleaved.
    let other_bye = request(
        "BYE",
        "sip:other@poc-a.example.com",
        "other-leg",
        7,
        &["zz1"],
        "q",
        Some("r"),
    );
    let other_notify = request(
        "NOTIFY",
        "sip:b@10.0.0.1",
        "other-dialog",
        3,
        &["zz2"],
        "s",
        Some("t"),
    )
    .header("Event", "refer")
    .body("message/sipfrag", "SIP/2.0 503 Service Unavailable\r\n");
    let mut hops = hops1(&f);
    hops.insert(3, (PART_B, CORE_B, &other_bye));
    hops.insert(10, (PART_B, CORE_B, &other_notify));
    let r = run(&rules, &hops);
    let r = only(&r);
    assert_eq!(r.verdict, Verdict::Pass, "{r:#?}");
}

#[test]
fn two_interleaved_instances_are_kept_apart() {
    let rules = RuleSet::builtin();
    let a = flow1("a");
    let b = flow1("b");
    let ha = hops1(&a);
    let mut hb = hops1(&b);
    hb.truncate(12); // instance b misses step 12
    let mut hops = Vec::new();
    for i in 0..13 {
        if let Some(h) = ha.get(i) {
            hops.push(*h);
        }
        if let Some(h) = hb.get(i) {
            hops.push(*h);
        }
    }
    let reports = run(&rules, &hops);
    assert_eq!(reports.len(), 2, "{reports:#?}");
    let ra = reports
        .iter()
        .find(|r| r.trigger_call_id == "refer-a")
        .unwrap();
    let rb = reports
        .iter()
        .find(|r| r.trigger_call_id == "refer-b")
        .unwrap();
    assert_eq!(ra.verdict, Verdict::Pass, "{ra:#?}");
    assert_eq!(statuses(rb), vec![(12, Status::Missing)]);
}

#[test]
fn one_link_only_gives_unobserved_and_partial() {
    let rules = RuleSet::builtin();
    let f = flow1("a");
    let hops: Vec<_> = hops1(&f)
        .into_iter()
        .filter(|(a, b, _)| [*a, *b].contains(&CLIENT_B))
        .collect();
    let r = run(&rules, &hops);
    let r = only(&r);
    assert_eq!(r.verdict, Verdict::Partial, "{r:#?}");
    let ok: Vec<u32> = r
        .steps
        .iter()
        .filter(|s| s.status == Status::Ok)
        .map(|s| s.number)
        .collect();
    assert_eq!(ok, vec![1, 10, 11]);
    assert!(
        r.steps
            .iter()
            .all(|s| s.status == Status::Ok || s.status == Status::Unobserved)
    );
}

#[test]
fn flow2_refer_is_one_instance_of_flow2_only() {
    let rules = RuleSet::builtin();
    // Flow 2: REFER to SESSION itself; part-b answers with its own REFER.
    let refer = request("REFER", SESSION, "r2", 1, &["b1"], "cb", None)
        .header("Refer-To", &format!("<{SESSION};method=BYE>"));
    let refer2 = refer.via_pushed("cb2");
    let own = request("REFER", SESSION, "own", 5, &["p3"], "pl", Some("focus"))
        .header("Refer-To", &format!("<{SESSION};method=BYE>"));
    let own4 = own.via_pushed("cb4");
    let own5 = own4.via_pushed("ca5");
    // ctrl-a's BYE toward part-b in part-b's dialog with the focus.
    let bye = request(
        "BYE",
        "sip:part-b@10.0.0.3",
        "leg-b",
        9,
        &["c6"],
        "focus",
        Some("pl"),
    )
    .from(SESSION, "focus");
    let bye7 = bye.via_pushed("ca7");
    let bye8 = bye7.via_pushed("cb8");
    let ok9 = response(200, "OK", &bye8, "pl");
    let ok10 = ok9.via_popped();
    let ok11 = ok10.via_popped();
    let acc12 = response(200, "OK", &own5, "focus");
    let acc13 = acc12.via_popped();
    let acc14 = acc13.via_popped();
    let notify = request(
        "NOTIFY",
        "sip:b@10.0.0.1",
        "r2",
        1,
        &["p15"],
        "pb",
        Some("cb"),
    )
    .header("Event", "refer")
    .body("message/sipfrag", "SIP/2.0 200 OK\r\n");
    let notify16 = notify.via_pushed("cb16");
    let ok17 = response(200, "OK", &notify16, "x");
    let ok18 = ok17.via_popped();
    let hops = vec![
        (CLIENT_B, CORE_B, &refer),
        (CORE_B, PART_B, &refer2),
        (PART_B, CORE_B, &own),
        (CORE_B, CORE_A, &own4),
        (CORE_A, CTRL_A, &own5),
        (CTRL_A, CORE_A, &bye),
        (CORE_A, CORE_B, &bye7),
        (CORE_B, PART_B, &bye8),
        (PART_B, CORE_B, &ok9),
        (CORE_B, CORE_A, &ok10),
        (CORE_A, CTRL_A, &ok11),
        (CTRL_A, CORE_A, &acc12),
        (CORE_A, CORE_B, &acc13),
        (CORE_B, PART_B, &acc14),
        (PART_B, CORE_B, &notify),
        (CORE_B, CLIENT_B, &notify16),
        (CLIENT_B, CORE_B, &ok17),
        (CORE_B, PART_B, &ok18),
    ];
    let reports = run(&rules, &hops);
    let r = only(&reports);
    assert_eq!(r.rule, "poc-preest-release-session");
    assert_eq!(r.verdict, Verdict::Pass, "{r:#?}");
    assert_eq!(r.steps.len(), 18);
    // Without the setup, the participant is the dialog ctrl-a sent its BYE in.
    assert_eq!(
        r.steps[5].participant.as_deref(),
        Some("sip:part-b@10.0.0.3")
    );
    assert!(!r.notes.is_empty());
}

#[test]
fn flow1_refer_with_the_setup_known_is_flow1() {
    let rules = RuleSet::builtin();
    // Client B's pre-established session: INVITE to the conference factory,
    // answered with Contact <PRE>;isfocus.
    let invite = request(
        "INVITE",
        "sip:factory@poc-b.example.net",
        "pre-setup",
        1,
        &["i1"],
        "cbi",
        None,
    )
    .header("Contact", "<sip:b@10.0.0.1>");
    let ok = response(200, "OK", &invite, "pbi").header("Contact", &format!("<{PRE}>;isfocus"));
    let f = flow1("a");
    let mut hops = vec![(CLIENT_B, CORE_B, &invite), (CORE_B, CLIENT_B, &ok)];
    hops.extend(
        hops1(&f)
            .into_iter()
            .filter(|(a, b, _)| [*a, *b].contains(&CLIENT_B)),
    );
    let reports = run(&rules, &hops);
    let r = only(&reports);
    assert_eq!(r.rule, "poc-preest-release-self");
    assert!(r.notes.is_empty(), "{r:#?}");
}

/// Two Call-IDs crafted to share the 64-bit fingerprint the index uses
/// (the fingerprint mixes the first and last 8 bytes of a 16-byte text
/// with a commutative multiply, so swapping them, each XORed with the
/// difference of its two seeds, collides). They must never link messages:
/// relations are decided by bytes.
#[test]
fn colliding_call_ids_never_link_unrelated_messages() {
    const D: u64 = 0x243f_6a88_85a3_08d3 ^ 0x1319_8a2e_0370_7344;
    let d = D.to_le_bytes();
    let bad = |b: u8| b <= b' ' || b == 0x7f || b == b';' || b == b',';
    let pick = |i: usize, skip: usize| -> u8 {
        (b'a'..=b'z')
            .chain(b'0'..=b'9')
            .filter(|&c| !bad(c ^ d[i]))
            .nth(skip)
            .expect("a letter whose XOR is a plain byte")
    };
    let x: Vec<u8> = (0..8).map(|i| pick(i, 0)).collect();
    let y: Vec<u8> = (0..8).map(|i| pick(i, 1)).collect();
    let a: Vec<u8> = x.iter().chain(&y).copied().collect();
    let b: Vec<u8> = y
        .iter()
        .zip(&d)
        .map(|(c, k)| c ^ k)
        .chain(x.iter().zip(&d).map(|(c, k)| c ^ k))
        .collect();
    assert_ne!(a, b);
    assert_eq!(
        sipflow::sip::call_id_key(&a),
        sipflow::sip::call_id_key(&b),
        "the crafted pair no longer collides: craft it for the fingerprint in use"
    );

    // Flow 1 with the REFER's Call-ID `a`; the NOTIFY of step 9 (in the
    // REFER's dialog) carries `b`, or `a` in the control run.
    let rules = RuleSet::builtin();
    let f = flow1("a");
    let hops = hops1(&f);
    let run_with = |notify_call: &[u8]| -> InstanceReport {
        let mut trace = Tracker::new();
        let mut checker = Checker::new(&rules.rules);
        let mut out = Vec::new();
        let mut frames: Vec<(u8, u8, Vec<u8>)> = Vec::new();
        for (i, (from, to, m)) in hops.iter().enumerate() {
            let mut bytes = m.bytes();
            let call: &[u8] = if (9..=12).contains(&i) {
                notify_call
            } else {
                &a
            };
            let old = b"refer-a";
            if let Some(at) = bytes.windows(old.len()).position(|w| w == old) {
                bytes.splice(at..at + old.len(), call.iter().copied());
            }
            frames.push((*from, *to, bytes));
        }
        for (i, (from, to, bytes)) in frames.iter().enumerate() {
            let msg = sipflow::sip::parse(bytes).unwrap();
            let time = Timestamp {
                secs: 1_700_000_000,
                nanos: i as u32 * 10_000_000,
            };
            if let Some(m) = trace.observe(
                i as u64 + 1,
                time,
                node(*from),
                node(*to),
                Transport::Udp,
                &msg,
            ) {
                checker.on_message(&m, &trace, &mut |r| out.push(r));
            }
        }
        checker.finish(&trace, &mut |r| out.push(r));
        out.into_iter()
            .find(|r| r.trigger_frame == 1)
            .expect("the REFER's instance")
    };
    let same = run_with(&a);
    assert_eq!(same.verdict, Verdict::Pass, "{same:#?}");
    let crafted = run_with(&b);
    let step9 = crafted
        .steps
        .iter()
        .find(|s| s.number == 9 && !s.optional)
        .unwrap();
    assert_ne!(
        step9.status,
        Status::Ok,
        "a NOTIFY with a colliding Call-ID was taken as step 9: {crafted:#?}"
    );
    assert_ne!(step9.frame, Some(10));
}

/// A message that comes after its step's time limit ran out is reported
/// with its frame and how late it was, not as "not seen".
#[test]
fn a_late_message_is_reported_with_its_frame_and_how_late() {
    let rules = RuleSet::builtin();
    let f = flow1("a");
    let hops = hops1(&f);
    let tail = request(
        "OPTIONS",
        "sip:ping@10.0.0.91",
        "tail",
        1,
        &["t"],
        "t",
        None,
    );
    // The NOTIFY (step 9, index 9) and what follows come 34 s late.
    let r = run_delayed(&rules, &hops, Some(&tail), Some((9, 34)));
    let r = only(&r);
    assert_eq!(r.verdict, Verdict::Fail, "{r:#?}");
    let s9 = r
        .steps
        .iter()
        .find(|s| s.number == 9 && !s.optional)
        .unwrap();
    assert_eq!(s9.status, Status::Missing);
    assert_eq!(s9.frame, Some(10));
    let d = s9.detail.as_deref().unwrap();
    assert!(
        d.starts_with("seen late, at frame 10: 2.0 s after its time limit (32 s) ran out"),
        "{d}"
    );
}

/// Flow 1 through an IMS-like network: two proxies in client B's core
/// (P-CSCF, S-CSCF) and two in core A (I-CSCF, S-CSCF), every hop a real
/// proxy copy (own Via pushed; popped on the way back). `core-b` and
/// `core-a` are chains: the spec's step numbers hold, the hops inside a
/// chain are shown with the step, and the instance passes.
#[test]
fn flow1_through_two_proxies_in_each_core_passes() {
    const P_B: u8 = 2; // client B's first proxy (core-b)
    const S_B: u8 = 12; // core-b's second proxy
    const I_A: u8 = 14; // core-a's first proxy
    const S_A: u8 = 4; // core-a's second proxy
    let rules = RuleSet::builtin();
    let f = flow1("i");
    let refer_sb = f.refer.via_pushed("pb");
    let refer_pb = refer_sb.via_pushed("sb");
    let bye_sb = f.bye.via_pushed("sb3");
    let bye_ia = bye_sb.via_pushed("ia3");
    let bye_sa = bye_ia.via_pushed("sa3");
    let ok_ctrl = response(200, "OK", &bye_sa, "focus");
    let ok_sa = ok_ctrl.via_popped();
    let ok_ia = ok_sa.via_popped();
    let ok_sb = ok_ia.via_popped();
    let notify_sb = f.notify.via_pushed("sb9");
    let notify_pb = notify_sb.via_pushed("pb9");
    let ok_client = response(200, "OK", &notify_pb, "x");
    let ok_pb = ok_client.via_popped();
    let ok_sb2 = ok_pb.via_popped();
    let hops = vec![
        (CLIENT_B, P_B, &f.refer),   // 1
        (P_B, S_B, &refer_sb),       // inside core-b
        (S_B, PART_B, &refer_pb),    // 2
        (PART_B, S_B, &f.bye),       // 3
        (S_B, I_A, &bye_sb),         // 4
        (I_A, S_A, &bye_ia),         // inside core-a
        (S_A, CTRL_A, &bye_sa),      // 5
        (CTRL_A, S_A, &ok_ctrl),     // 6
        (S_A, I_A, &ok_sa),          // inside core-a
        (I_A, S_B, &ok_ia),          // 7
        (S_B, PART_B, &ok_sb),       // 8
        (PART_B, S_B, &f.notify),    // 9
        (S_B, P_B, &notify_sb),      // inside core-b
        (P_B, CLIENT_B, &notify_pb), // 10
        (CLIENT_B, P_B, &ok_client), // 11
        (P_B, S_B, &ok_pb),          // inside core-b
        (S_B, PART_B, &ok_sb2),      // 12
    ];
    let r = run(&rules, &hops);
    let r = only(&r);
    assert_eq!(r.rule, "poc-preest-release-self");
    assert_eq!(r.verdict, Verdict::Pass, "{r:#?}");
    let frames: Vec<(u32, Option<u64>)> = r
        .steps
        .iter()
        .filter(|s| !s.optional)
        .map(|s| (s.number, s.frame))
        .collect();
    let want: Vec<(u32, Option<u64>)> = [1, 3, 4, 5, 7, 8, 10, 11, 12, 14, 15, 17]
        .iter()
        .enumerate()
        .map(|(i, f)| (i as u32 + 1, Some(*f)))
        .collect();
    assert_eq!(frames, want);
    // Step 2 names the hop into part-b; the hop inside core-b is shown
    // with it, in order.
    let s2 = &r.steps.iter().find(|s| s.number == 2).unwrap().hops;
    assert_eq!(
        s2.iter().map(|h| h.frame).collect::<Vec<_>>(),
        vec![2, 3],
        "{s2:#?}"
    );
    let roles: std::collections::HashMap<_, _> = r.roles.iter().cloned().collect();
    assert_eq!(roles["core-b"], "10.0.0.2:5060 10.0.0.12:5060");
    assert_eq!(roles["core-a"], "10.0.0.14:5060 10.0.0.4:5060");
}

/// Flow 2 where the other participating servers sit elsewhere than the
/// spec's figure: one reached by ctrl-a directly, one behind core A alone.
/// Toward part-b the spec's hops hold (steps 6-11); toward each other
/// server, step 6 is ctrl-a's BYE reaching it through whatever proxies
/// there are (none, or core A) and step 11 its 200 OK back, each with its
/// participant. Every message is in the capture: the instance passes.
#[test]
fn flow2_with_other_participants_direct_and_behind_core_a_passes() {
    const PART_X: u8 = 21; // reached by ctrl-a directly
    const PART_Y: u8 = 22; // behind core-a alone
    let rules = RuleSet::builtin();
    let refer = request("REFER", SESSION, "r2", 1, &["b1"], "cb", None)
        .header("Refer-To", &format!("<{SESSION};method=BYE>"));
    let refer2 = refer.via_pushed("cb2");
    let own = request("REFER", SESSION, "own", 5, &["p3"], "pl", Some("focus"))
        .header("Refer-To", &format!("<{SESSION};method=BYE>"));
    let own4 = own.via_pushed("cb4");
    let own5 = own4.via_pushed("ca5");
    let bye = |to: &str, call: &str, branch: &str| {
        request("BYE", to, call, 9, &[branch], "focus", Some("pl")).from(SESSION, "focus")
    };
    let bye_b = bye("sip:part-b@10.0.0.3", "leg-b", "c6");
    let bye_b7 = bye_b.via_pushed("ca7");
    let bye_b8 = bye_b7.via_pushed("cb8");
    let ok_b9 = response(200, "OK", &bye_b8, "pl");
    let ok_b10 = ok_b9.via_popped();
    let ok_b11 = ok_b10.via_popped();
    let bye_x = bye("sip:px@10.0.0.21", "leg-x", "cx");
    let ok_x = response(200, "OK", &bye_x, "px");
    let bye_y = bye("sip:py@10.0.0.22", "leg-y", "cy");
    let bye_y2 = bye_y.via_pushed("cay");
    let ok_y = response(200, "OK", &bye_y2, "py");
    let ok_y2 = ok_y.via_popped();
    let acc12 = response(200, "OK", &own5, "focus");
    let acc13 = acc12.via_popped();
    let acc14 = acc13.via_popped();
    let notify = request(
        "NOTIFY",
        "sip:b@10.0.0.1",
        "r2",
        1,
        &["p15"],
        "pb",
        Some("cb"),
    )
    .header("Event", "refer")
    .body("message/sipfrag", "SIP/2.0 200 OK\r\n");
    let notify16 = notify.via_pushed("cb16");
    let ok17 = response(200, "OK", &notify16, "x");
    let ok18 = ok17.via_popped();
    let hops = vec![
        (CLIENT_B, CORE_B, &refer),
        (CORE_B, PART_B, &refer2),
        (PART_B, CORE_B, &own),
        (CORE_B, CORE_A, &own4),
        (CORE_A, CTRL_A, &own5),
        (CTRL_A, CORE_A, &bye_b),
        (CTRL_A, PART_X, &bye_x),
        (CTRL_A, CORE_A, &bye_y),
        (CORE_A, CORE_B, &bye_b7),
        (CORE_A, PART_Y, &bye_y2),
        (CORE_B, PART_B, &bye_b8),
        (PART_X, CTRL_A, &ok_x),
        (PART_Y, CORE_A, &ok_y),
        (PART_B, CORE_B, &ok_b9),
        (CORE_A, CTRL_A, &ok_y2),
        (CORE_B, CORE_A, &ok_b10),
        (CORE_A, CTRL_A, &ok_b11),
        (CTRL_A, CORE_A, &acc12),
        (CORE_A, CORE_B, &acc13),
        (CORE_B, PART_B, &acc14),
        (PART_B, CORE_B, &notify),
        (CORE_B, CLIENT_B, &notify16),
        (CLIENT_B, CORE_B, &ok17),
        (CORE_B, PART_B, &ok18),
    ];
    let reports = run(&rules, &hops);
    let r = only(&reports);
    assert_eq!(r.rule, "poc-preest-release-session");
    assert_eq!(r.verdict, Verdict::Pass, "{r:#?}");
    let mut got: Vec<(u32, Option<&str>, Option<u64>)> = r
        .steps
        .iter()
        .filter(|s| !s.optional)
        .map(|s| (s.number, s.participant.as_deref(), s.frame))
        .collect();
    got.sort();
    let pb = Some("sip:part-b@10.0.0.3");
    let px = Some("sip:px@10.0.0.21");
    let py = Some("sip:py@10.0.0.22");
    let mut want = vec![
        (1, None, Some(1)),
        (2, None, Some(2)),
        (3, None, Some(3)),
        (4, None, Some(4)),
        (5, None, Some(5)),
        (6, pb, Some(6)),
        (6, px, Some(7)),
        (6, py, Some(10)),
        (7, pb, Some(9)),
        (8, pb, Some(11)),
        (9, pb, Some(14)),
        (10, pb, Some(16)),
        (11, pb, Some(17)),
        (11, px, Some(12)),
        (11, py, Some(15)),
        (12, None, Some(18)),
        (13, None, Some(19)),
        (14, None, Some(20)),
        (15, None, Some(21)),
        (16, None, Some(22)),
        (17, None, Some(23)),
        (18, None, Some(24)),
    ];
    want.sort();
    assert_eq!(got, want);
    // py's BYE crossed core A: both hops shown with step 6.
    let s6y = r
        .steps
        .iter()
        .find(|s| s.number == 6 && s.participant.as_deref() == py)
        .unwrap();
    assert_eq!(
        s6y.hops.iter().map(|h| h.frame).collect::<Vec<_>>(),
        vec![8, 10]
    );
}
