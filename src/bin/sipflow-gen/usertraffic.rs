//! Ordinary SIP traffic for the example rules users write
//! (`examples/rules/`), with a truth file: what `sipflow check --rules
//! examples/rules` must report for each call and registration.
//!
//! Calls go direct or through one to three stateful, record-routing
//! proxies; either party hangs up; some are challenged by their first
//! proxy (407, then the INVITE again with Proxy-Authorization).
//! Registrations are accepted at once or after a digest challenge (401).
//! OPTIONS keep-alives are noise no rule claims. Half the traffic runs in a
//! "lab": every user agent and proxy on 127.0.0.1, told apart by port, as
//! SIPp scenarios run; the rest on a network of distinct addresses. Faults:
//! a BYE never answered, a BYE never sent, a 200 OK to a BYE that comes
//! after the step's time limit, a 486 where a 200 OK was expected, a
//! challenged REGISTER never accepted, a REGISTER never answered.
//!
//! Every message is one UDP datagram on port-true endpoints (the source
//! port is the sender's SIP port). It shares no code with sipflow.
//!
//! Truth, per instance (one per trigger: the first INVITE of a call, the
//! first REGISTER of a registration): the rule, the branch, the trigger's
//! frame and Call-ID, the verdict and every step that is not `ok`, with
//! statuses as docs/report-json.md defines them. A step that never came is
//! `missing` when the capture goes on past its time limit (32 s, counted
//! from the latest step seen) and `unobserved` when the capture ends before
//! it; the capture's last frame is placed away from every such limit, so
//! the truth never depends on which hop of a step the limit is counted
//! from.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt::Write as _;
use std::io::{self, Write};

use crate::pcap::PcapWriter;
use crate::rng::Rng;
use crate::wire::{self, Ipv4};

/// The rules' time limit (the language's default `timeout`).
const LIMIT_US: u64 = 32_000_000;
/// How far the capture's end stays from any time limit.
const MARGIN_US: u64 = 20_000;
/// Start of every trace: 2023-11-14T22:13:20Z, in µs.
const EPOCH_US: u64 = 1_700_000_000_000_000;

/// When to stop starting new instances.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    /// When the capture (with what running instances still have to send)
    /// reaches this many bytes.
    Bytes(u64),
    /// When this many instances (calls, registrations, keep-alives) started.
    Instances(u64),
}

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// Size or instance count.
    pub target: Target,
    /// Seed of every random choice.
    pub seed: u64,
    /// Share of calls and registrations that get one fault.
    pub faults: f64,
    /// Instances started per second of trace time.
    pub rate: u64,
}

/// What was generated.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    /// Bytes of the capture.
    pub bytes: u64,
    /// Frames (one SIP message each).
    pub frames: u64,
    /// Instances per rule: (rule, pass, fail, partial).
    pub rules: Vec<(&'static str, u64, u64, u64)>,
    /// OPTIONS keep-alives (no rule).
    pub options: u64,
    /// Instances in the lab (every node on 127.0.0.1).
    pub lab: u64,
    /// Most instances in progress at once.
    pub max_concurrent: usize,
}

/// A SIP endpoint: an address and its port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Node {
    ip: u32,
    port: u16,
}

impl Node {
    fn host(self) -> String {
        let [a, b, c, d] = self.ip.to_be_bytes();
        format!("{a}.{b}.{c}.{d}:{}", self.port)
    }
}

const LOOPBACK: u32 = 0x7f00_0001;
/// The lab's proxies: one host, three ports.
const LAB_PROXIES: [u16; 3] = [5060, 5070, 5080];

fn lab_ua(n: u32) -> Node {
    // 5061-5069, 5071-5079: SIPp-style ports next to the proxies'.
    let n = n % 18;
    let port = if n < 9 { 5061 + n } else { 5071 + n - 9 };
    Node {
        ip: LOOPBACK,
        port: port as u16,
    }
}

fn net_ua(n: u32) -> Node {
    let n = n % 5000;
    Node {
        ip: (10 << 24) | (200 << 16) | ((1 + n / 250) << 8) | (1 + n % 250),
        port: 5060,
    }
}

fn net_proxy(k: u32) -> Node {
    Node {
        ip: (10 << 24) | (201 << 16) | (1 + k % 8),
        port: 5060,
    }
}

/// Where an instance runs.
#[derive(Clone, Copy)]
struct Place {
    lab: bool,
}

impl Place {
    fn ua(self, n: u32) -> Node {
        if self.lab { lab_ua(n) } else { net_ua(n) }
    }

    /// Two distinct user agents (user numbers and nodes).
    fn two_uas(self, rng: &mut Rng) -> ((u32, Node), (u32, Node)) {
        let span = if self.lab { 18 } else { 5000 };
        let a = rng.below(span) as u32;
        let mut b = rng.below(span) as u32;
        if b == a {
            b = (a + 1) % span as u32;
        }
        ((a, self.ua(a)), (b, self.ua(b)))
    }

    /// `n` distinct proxies in the order the request crosses them.
    fn proxies(self, rng: &mut Rng, n: usize) -> Vec<Node> {
        if self.lab {
            let first = rng.below(3) as usize;
            (0..n)
                .map(|i| Node {
                    ip: LOOPBACK,
                    port: LAB_PROXIES[(first + i) % 3],
                })
                .collect()
        } else {
            let first = rng.below(8) as u32;
            (0..n as u32).map(|i| net_proxy(first + i)).collect()
        }
    }

    fn registrar(self, rng: &mut Rng) -> Node {
        self.proxies(rng, 1)[0]
    }

    fn domain(self) -> &'static str {
        if self.lab {
            "lab.example.org"
        } else {
            "example.org"
        }
    }
}

/// One message of an instance, rendered when the instance starts.
struct PMsg {
    t: u64,
    src: Node,
    dst: Node,
    data: Vec<u8>,
    /// Frame and timestamp it was written with (0 until written).
    frame: u64,
    ts: u64,
}

/// A step that is not ok, as the instance's truth will say it.
#[derive(Clone, Copy)]
enum Bad {
    /// Seen with the wrong content at this message.
    Wrong(usize),
    /// Came after its time limit, at this message: `missing` with its frame.
    Late(usize),
    /// Never came: `missing` or `unobserved`, by the time limit counted
    /// from the latest step seen, whose hops are these messages (first,
    /// last).
    Never(usize, usize),
}

struct TruthPlan {
    rule: &'static str,
    branch: &'static str,
    trigger: usize,
    call_id: String,
    scenario: String,
    bad: Vec<(u8, Bad)>,
}

struct Instance {
    msgs: Vec<PMsg>,
    order: Vec<usize>,
    next: usize,
    truth: Option<TruthPlan>,
}

/// A played instance's truth, waiting for the capture's end.
struct Done {
    rule: &'static str,
    branch: &'static str,
    trigger_frame: u64,
    call_id: String,
    scenario: String,
    /// (step, status or None for time-limited, frame, window lo, window hi)
    steps: Vec<(u8, Option<&'static str>, u64, u64, u64)>,
}

/// Builds the messages of one instance.
struct B<'r> {
    rng: &'r mut Rng,
    msgs: Vec<PMsg>,
}

impl B<'_> {
    fn push(&mut self, t: u64, src: Node, dst: Node, data: String) -> usize {
        self.msgs.push(PMsg {
            t,
            src,
            dst,
            data: data.into_bytes(),
            frame: 0,
            ts: 0,
        });
        self.msgs.len() - 1
    }

    fn net(&mut self) -> u64 {
        self.rng.range(300, 4_000)
    }

    fn ua(&mut self) -> u64 {
        self.rng.range(2_000, 30_000)
    }

    fn hex(&mut self, digits: usize) -> String {
        let v = self.rng.next_u64();
        format!("{v:016x}")[..digits.min(16)].to_string()
    }
}

/// A request travelling along `path` (sender first), as a stateful proxy
/// forwards it: each hop pushes its Via, decrements Max-Forwards, and (on
/// an INVITE) records its route; responses pop the Vias.
struct Req {
    method: &'static str,
    ruri: String,
    path: Vec<Node>,
    branches: Vec<String>,
    from: String,
    to: String,
    call_id: String,
    cseq: u32,
    record_route: bool,
    /// Route headers for the proxies still ahead (in-dialog requests).
    route: bool,
    contact: Option<String>,
    extra: String,
    body: String,
}

impl Req {
    fn vias(&self, s: &mut String, top: usize) {
        for k in (0..=top).rev() {
            let _ = write!(
                s,
                "Via: SIP/2.0/UDP {};branch=z9hG4bK{}",
                self.path[k].host(),
                self.branches[k]
            );
            s.push_str(if k == 0 { ";rport\r\n" } else { "\r\n" });
        }
    }

    fn rr(&self, s: &mut String, upto: usize) {
        for k in (1..=upto).rev() {
            let _ = write!(s, "Record-Route: <sip:{};lr>\r\n", self.path[k].host());
        }
    }

    fn body(s: &mut String, body: &str) {
        if body.is_empty() {
            s.push_str("Content-Length: 0\r\n\r\n");
        } else {
            let _ = write!(
                s,
                "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
        }
    }

    /// The request as sent at hop `h` (by `path[h]` to `path[h + 1]`).
    fn at(&self, h: usize) -> String {
        let mut s = String::with_capacity(900);
        let _ = write!(s, "{} {} SIP/2.0\r\n", self.method, self.ruri);
        self.vias(&mut s, h);
        let _ = write!(s, "Max-Forwards: {}\r\n", 70 - h);
        if self.record_route {
            self.rr(&mut s, h);
        }
        if self.route {
            for k in h + 1..self.path.len() - 1 {
                let _ = write!(s, "Route: <sip:{};lr>\r\n", self.path[k].host());
            }
        }
        let _ = write!(
            s,
            "From: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {} {}\r\n",
            self.from, self.to, self.call_id, self.cseq, self.method
        );
        if let Some(c) = &self.contact {
            let _ = write!(s, "Contact: {c}\r\n");
        }
        s.push_str(&self.extra);
        if h == 0 {
            s.push_str("User-Agent: sipflow-gen user-traffic\r\n");
        }
        Self::body(&mut s, &self.body);
        s
    }

    /// A response sent by `path[from]` to `path[from - 1]`.
    fn resp(&self, code: u16, from: usize, to_tag: Option<&str>, r: RespParts<'_>) -> String {
        let mut s = String::with_capacity(700);
        let _ = write!(s, "SIP/2.0 {code} {}\r\n", reason(code));
        self.vias(&mut s, from - 1);
        if r.rr {
            self.rr(&mut s, self.path.len() - 2);
        }
        let _ = write!(s, "From: {}\r\nTo: {}", self.from, self.to);
        if let Some(t) = to_tag {
            let _ = write!(s, ";tag={t}");
        }
        let _ = write!(
            s,
            "\r\nCall-ID: {}\r\nCSeq: {} {}\r\n",
            self.call_id, self.cseq, self.method
        );
        if let Some(c) = r.contact {
            let _ = write!(s, "Contact: {c}\r\n");
        }
        s.push_str(r.extra);
        if code >= 200 {
            s.push_str("Server: sipflow-gen user-traffic\r\n");
        }
        Self::body(&mut s, r.body);
        s
    }

    /// The ACK of a non-2xx final response, sent by `path[h]` to
    /// `path[h + 1]` (its own Via only, the INVITE's branch at that hop).
    fn ack_hop(&self, h: usize, to_tag: &str) -> String {
        let mut s = String::with_capacity(400);
        let _ = write!(
            s,
            "ACK {} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch=z9hG4bK{}\r\nMax-Forwards: 70\r\n",
            self.ruri,
            self.path[h].host(),
            self.branches[h]
        );
        let _ = write!(
            s,
            "From: {}\r\nTo: {};tag={to_tag}\r\nCall-ID: {}\r\nCSeq: {} ACK\r\nContent-Length: 0\r\n\r\n",
            self.from, self.to, self.call_id, self.cseq
        );
        s
    }
}

#[derive(Default, Clone, Copy)]
struct RespParts<'a> {
    rr: bool,
    contact: Option<&'a str>,
    extra: &'a str,
    body: &'a str,
}

fn reason(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        200 => "OK",
        401 => "Unauthorized",
        407 => "Proxy Authentication Required",
        486 => "Busy Here",
        _ => "Unknown",
    }
}

fn sdp(ip: &str, sess: u64, port: u64) -> String {
    let ip = ip.split(':').next().unwrap_or("127.0.0.1");
    format!(
        "v=0\r\no=- {sess} {sess} IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n"
    )
}

/// A fault of a call.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum CallFault {
    None,
    /// The BYE is never answered.
    NoByeAnswer,
    /// Nobody hangs up before the capture's limit.
    NoBye,
    /// The 200 OK to the BYE comes after the step's time limit.
    LateByeAnswer,
    /// The callee answers 486 Busy Here (direct calls).
    Busy,
}

/// Send `req` along its whole path from `t`, each receiver answering 100
/// Trying when `trying`; returns the hops' messages.
fn send_path(b: &mut B<'_>, req: &Req, t: u64, trying: bool) -> Vec<usize> {
    let mut ids = Vec::new();
    let mut at = t;
    for h in 0..req.path.len() - 1 {
        if h > 0 {
            at += b.net();
        }
        let id = b.push(at, req.path[h], req.path[h + 1], req.at(h));
        ids.push(id);
        if trying {
            let d = b.rng.range(100, 1_500);
            b.push(
                at + d,
                req.path[h + 1],
                req.path[h],
                req.resp(100, h + 1, None, RespParts::default()),
            );
        }
    }
    ids
}

/// Send a response to `req` from its last node back to its first, from
/// `t`; returns the hops' messages (the last one reaches the UAC).
fn resp_path(
    b: &mut B<'_>,
    req: &Req,
    code: u16,
    tag: Option<&str>,
    r: RespParts<'_>,
    t: u64,
) -> Vec<usize> {
    let mut ids = Vec::new();
    let mut at = t;
    for from in (1..req.path.len()).rev() {
        if from + 1 < req.path.len() {
            at += b.net();
        }
        let id = b.push(
            at,
            req.path[from],
            req.path[from - 1],
            req.resp(code, from, tag, r),
        );
        ids.push(id);
    }
    ids
}

fn last_t(b: &B<'_>, ids: &[usize]) -> u64 {
    ids.last().map_or(0, |&i| b.msgs[i].t)
}

/// A call from `caller` to `callee` through `proxies` (none: direct);
/// `auth`: the first proxy challenges the first INVITE.
#[allow(clippy::too_many_arguments)]
fn call(
    rng: &mut Rng,
    t0: u64,
    place: Place,
    proxies: Vec<Node>,
    auth: bool,
    fault: CallFault,
    by_caller: bool,
) -> (Vec<PMsg>, TruthPlan) {
    let mut b = B {
        rng,
        msgs: Vec::with_capacity(24),
    };
    // Most proxies record their route; the rest leave the dialog's later
    // requests (ACK, BYE) to go straight between the parties.
    let rr = proxies.is_empty() || b.rng.chance(0.8);
    let ((ua_a, caller), (ua_b, callee)) = place.two_uas(b.rng);
    let mut path = vec![caller];
    path.extend(proxies.iter().copied());
    path.push(callee);
    let n = proxies.len();
    let dom = place.domain();
    let caller_aor = format!("sip:u{ua_a}@{dom}");
    let callee_aor = format!("sip:u{ua_b}@{dom}");
    let caller_contact = format!("<sip:u{ua_a}@{}>", caller.host());
    let callee_contact_uri = format!("sip:u{ua_b}@{}", callee.host());
    let callee_contact = format!("<{callee_contact_uri}>");
    let from_tag = b.hex(8);
    let to_tag = b.hex(8);
    let call_id = format!("{}@{}", b.hex(16), caller.host().replace(':', "-"));
    let cseq = b.rng.range(1, 9000) as u32;
    let ruri = if n == 0 {
        callee_contact_uri.clone()
    } else {
        callee_aor.clone()
    };
    let sess = b.rng.next_u64() & 0xffff_ffff;
    let offer_port = 10_000 + 2 * b.rng.below(20_000);
    let mut invite = Req {
        method: "INVITE",
        ruri,
        path: path.clone(),
        branches: (0..path.len()).map(|_| b.hex(16)).collect(),
        from: format!("<{caller_aor}>;tag={from_tag}"),
        to: format!("<{callee_aor}>"),
        call_id: call_id.clone(),
        cseq,
        record_route: rr,
        route: false,
        contact: Some(caller_contact.clone()),
        extra: "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS\r\nSupported: timer\r\n".into(),
        body: sdp(&caller.host(), sess, offer_port),
    };
    let mut t = t0 + b.rng.range(0, 50_000);
    let trigger = b.msgs.len();
    let mut first_invite_hops = Vec::new();
    if auth {
        // The first proxy challenges: 100, 407, the caller's ACK; then the
        // INVITE again with credentials (next CSeq, new branches).
        let mut first = Req {
            path: vec![caller, path[1]],
            branches: vec![invite.branches[0].clone(), String::new()],
            ..clone_req(&invite)
        };
        first.record_route = false;
        let h0 = b.push(t, caller, path[1], first.at(0));
        first_invite_hops.push(h0);
        let d = b.rng.range(100, 1_500);
        b.push(
            t + d,
            path[1],
            caller,
            first.resp(100, 1, None, RespParts::default()),
        );
        let nonce = b.hex(16);
        let challenge = format!(
            "Proxy-Authenticate: Digest realm=\"{dom}\", nonce=\"{nonce}\", algorithm=MD5, qop=\"auth\"\r\n"
        );
        let proxy_tag = b.hex(8);
        t += b.rng.range(1_000, 5_000);
        b.push(
            t,
            path[1],
            caller,
            first.resp(
                407,
                1,
                Some(&proxy_tag),
                RespParts {
                    extra: &challenge,
                    ..Default::default()
                },
            ),
        );
        t += b.rng.range(200, 2_000);
        b.push(t, caller, path[1], first.ack_hop(0, &proxy_tag));
        invite.cseq += 1;
        invite.branches = (0..path.len()).map(|_| b.hex(16)).collect();
        let response = b.hex(32);
        invite.extra.push_str(&format!(
            "Proxy-Authorization: Digest username=\"u{ua_a}\", realm=\"{dom}\", nonce=\"{nonce}\", uri=\"{}\", response=\"{response}\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"{}\"\r\n",
            invite.ruri,
            b.hex(8)
        ));
        t += b.ua();
    }
    let inv_hops = send_path(&mut b, &invite, t, true);
    t = last_t(&b, &inv_hops) + b.ua();
    if b.rng.chance(0.7) {
        resp_path(
            &mut b,
            &invite,
            180,
            Some(&to_tag),
            RespParts {
                rr: true,
                contact: Some(&callee_contact),
                ..Default::default()
            },
            t,
        );
        t += b.rng.range(300_000, 3_000_000);
    }
    let ok_body = sdp(&callee.host(), sess ^ 0x5555, offer_port + 2000);
    let mut bad: Vec<(u8, Bad)> = Vec::new();
    if fault == CallFault::Busy {
        // Direct calls only: the callee is busy, the caller ACKs the 486.
        let busy = resp_path(&mut b, &invite, 486, Some(&to_tag), RespParts::default(), t);
        let at = last_t(&b, &busy) + b.rng.range(200, 2_000);
        let ack = b.push(at, caller, callee, invite.ack_hop(0, &to_tag));
        bad.push((2, Bad::Wrong(busy[0])));
        bad.push((4, Bad::Never(ack, ack)));
        bad.push((5, Bad::Never(ack, ack)));
        let call_id2 = call_id.clone();
        return (
            b.msgs,
            TruthPlan {
                rule: "call",
                branch: "caller hangs up",
                trigger,
                call_id: call_id2,
                scenario: format!("call direct busy lab={}", place.lab),
                bad,
            },
        );
    }
    let ok = resp_path(
        &mut b,
        &invite,
        200,
        Some(&to_tag),
        RespParts {
            rr: true,
            contact: Some(&callee_contact),
            extra: "Supported: timer\r\n",
            body: &ok_body,
        },
        t,
    );
    // The ACK of the 2xx: end to end along the route set (the proxies
    // that recorded their route).
    let dpath = if rr {
        path.clone()
    } else {
        vec![caller, callee]
    };
    let ack = Req {
        method: "ACK",
        ruri: callee_contact_uri.clone(),
        path: dpath.clone(),
        branches: (0..dpath.len()).map(|_| b.hex(16)).collect(),
        from: invite.from.clone(),
        to: format!("<{callee_aor}>;tag={to_tag}"),
        call_id: call_id.clone(),
        cseq: invite.cseq,
        record_route: false,
        route: true,
        contact: None,
        extra: String::new(),
        body: String::new(),
    };
    let t_ack = last_t(&b, &ok) + b.rng.range(200, 3_000);
    let ack_hops = send_path(&mut b, &ack, t_ack, false);
    let (ack_first, ack_last) = (ack_hops[0], *ack_hops.last().unwrap_or(&ack_hops[0]));
    // The hang-up.
    let hold = b.rng.range(1_000_000, 8_000_000);
    let t_bye = last_t(&b, &ack_hops) + hold;
    let (rule, steps_bye, branch): (&'static str, (u8, u8), &'static str) = match (auth, n) {
        (true, _) => (
            "call-auth",
            (9, 10),
            if by_caller || fault == CallFault::NoBye {
                "caller hangs up"
            } else {
                "callee hangs up"
            },
        ),
        (false, 0) => (
            "call",
            (4, 5),
            if by_caller || fault == CallFault::NoBye {
                "caller hangs up"
            } else {
                "callee hangs up"
            },
        ),
        (false, _) => (
            "call-through-proxies",
            (6, 7),
            if by_caller || fault == CallFault::NoBye {
                "through proxies / caller hangs up"
            } else {
                "through proxies / callee hangs up"
            },
        ),
    };
    // Steps of the BYE and of its answer.
    let bye_steps: &[u8] = &[steps_bye.0];
    let ans_steps: &[u8] = &[steps_bye.1];
    if fault == CallFault::NoBye {
        for &s in bye_steps.iter().chain(ans_steps) {
            bad.push((s, Bad::Never(ack_first, ack_last)));
        }
    } else {
        let bye_cseq = if by_caller {
            invite.cseq + 1
        } else {
            b.rng.range(1, 9000) as u32
        };
        let (bpath, bruri, bfrom, bto) = if by_caller {
            (
                dpath.clone(),
                callee_contact_uri.clone(),
                invite.from.clone(),
                format!("<{callee_aor}>;tag={to_tag}"),
            )
        } else {
            let mut p = dpath.clone();
            p.reverse();
            (
                p,
                format!("sip:u{ua_a}@{}", caller.host()),
                format!("<{callee_aor}>;tag={to_tag}"),
                invite.from.clone(),
            )
        };
        let bye = Req {
            method: "BYE",
            ruri: bruri,
            path: bpath.clone(),
            branches: (0..bpath.len()).map(|_| b.hex(16)).collect(),
            from: bfrom,
            to: bto,
            call_id: call_id.clone(),
            cseq: bye_cseq,
            record_route: false,
            route: true,
            contact: None,
            extra: String::new(),
            body: String::new(),
        };
        let bye_hops = send_path(&mut b, &bye, t_bye, false);
        let (bf, bl) = (bye_hops[0], *bye_hops.last().unwrap_or(&bye_hops[0]));
        match fault {
            CallFault::NoByeAnswer => {
                for &s in ans_steps {
                    bad.push((s, Bad::Never(bf, bl)));
                }
            }
            CallFault::LateByeAnswer => {
                // Direct calls only: 40 s after the BYE, past its 32 s limit
                // and within the one more limit an instance waits.
                let at = last_t(&b, &bye_hops) + 40_000_000 + b.rng.range(0, 5_000_000);
                let late = resp_path(&mut b, &bye, 200, None, RespParts::default(), at);
                bad.push((ans_steps[0], Bad::Late(late[0])));
            }
            _ => {
                let at = last_t(&b, &bye_hops) + b.ua();
                resp_path(&mut b, &bye, 200, None, RespParts::default(), at);
            }
        }
    }
    let scenario = format!(
        "call proxies={n} rr={rr} auth={auth} fault={fault:?} by_caller={by_caller} lab={}",
        place.lab
    );
    (
        b.msgs,
        TruthPlan {
            rule,
            branch,
            trigger,
            call_id,
            scenario,
            bad,
        },
    )
}

fn clone_req(r: &Req) -> Req {
    Req {
        method: r.method,
        ruri: r.ruri.clone(),
        path: r.path.clone(),
        branches: r.branches.clone(),
        from: r.from.clone(),
        to: r.to.clone(),
        call_id: r.call_id.clone(),
        cseq: r.cseq,
        record_route: r.record_route,
        route: r.route,
        contact: r.contact.clone(),
        extra: r.extra.clone(),
        body: r.body.clone(),
    }
}

/// A fault of a registration.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum RegFault {
    None,
    /// Challenged, registered again, never accepted.
    NoFinal,
    /// Never answered at all.
    NoAnswer,
}

/// A user agent registers with its registrar, challenged or not.
fn register(
    rng: &mut Rng,
    t0: u64,
    place: Place,
    challenged: bool,
    fault: RegFault,
) -> (Vec<PMsg>, TruthPlan) {
    let mut b = B {
        rng,
        msgs: Vec::with_capacity(4),
    };
    let u = b.rng.below(if place.lab { 18 } else { 5000 }) as u32;
    let ua = place.ua(u);
    let reg = place.registrar(b.rng);
    let dom = place.domain();
    let aor = format!("<sip:u{u}@{dom}>");
    let call_id = format!("{}@{}", b.hex(16), ua.host().replace(':', "-"));
    let cseq = b.rng.range(1, 60_000) as u32;
    let from = format!("{aor};tag={}", b.hex(8));
    let mut req = Req {
        method: "REGISTER",
        ruri: format!("sip:{dom}"),
        path: vec![ua, reg],
        branches: vec![b.hex(16), String::new()],
        from,
        to: aor.clone(),
        call_id: call_id.clone(),
        cseq,
        record_route: false,
        route: false,
        contact: Some(format!("<sip:u{u}@{}>", ua.host())),
        extra: "Expires: 3600\r\n".into(),
        body: String::new(),
    };
    let contact_ok = format!("Contact: <sip:u{u}@{}>;expires=3600\r\n", ua.host());
    let mut t = t0 + b.rng.range(0, 50_000);
    let trigger = b.push(t, ua, reg, req.at(0));
    let reg_tag = b.hex(8);
    let mut bad = Vec::new();
    let branch;
    if fault == RegFault::NoAnswer {
        // Both branches fit one step; the first written is reported.
        branch = "accepted at once";
        bad.push((2, Bad::Never(trigger, trigger)));
    } else if challenged {
        branch = "challenged";
        let nonce = b.hex(16);
        let www = format!(
            "WWW-Authenticate: Digest realm=\"{dom}\", nonce=\"{nonce}\", algorithm=MD5, qop=\"auth\"\r\n"
        );
        t += b.rng.range(1_000, 10_000);
        b.push(
            t,
            reg,
            ua,
            req.resp(
                401,
                1,
                Some(&reg_tag),
                RespParts {
                    extra: &www,
                    ..Default::default()
                },
            ),
        );
        req.cseq += 1;
        req.branches[0] = b.hex(16);
        let response = b.hex(32);
        req.extra.push_str(&format!(
            "Authorization: Digest username=\"u{u}\", realm=\"{dom}\", nonce=\"{nonce}\", uri=\"sip:{dom}\", response=\"{response}\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"{}\"\r\n",
            b.hex(8)
        ));
        t += b.ua();
        let second = b.push(t, ua, reg, req.at(0));
        if fault == RegFault::NoFinal {
            bad.push((4, Bad::Never(second, second)));
        } else {
            t += b.rng.range(1_000, 20_000);
            b.push(
                t,
                reg,
                ua,
                req.resp(
                    200,
                    1,
                    Some(&reg_tag),
                    RespParts {
                        extra: &contact_ok,
                        ..Default::default()
                    },
                ),
            );
        }
    } else {
        branch = "accepted at once";
        t += b.rng.range(1_000, 20_000);
        b.push(
            t,
            reg,
            ua,
            req.resp(
                200,
                1,
                Some(&reg_tag),
                RespParts {
                    extra: &contact_ok,
                    ..Default::default()
                },
            ),
        );
    }
    let scenario = format!(
        "register challenged={challenged} fault={fault:?} lab={}",
        place.lab
    );
    (
        b.msgs,
        TruthPlan {
            rule: "register",
            branch,
            trigger,
            call_id,
            scenario,
            bad,
        },
    )
}

/// A keep-alive: OPTIONS between a user agent and a proxy, 200 OK.
fn options(rng: &mut Rng, t0: u64, place: Place) -> Vec<PMsg> {
    let mut b = B {
        rng,
        msgs: Vec::with_capacity(2),
    };
    let u = b.rng.below(if place.lab { 18 } else { 5000 }) as u32;
    let (mut a, mut z) = (place.ua(u), place.registrar(b.rng));
    if b.rng.chance(0.5) {
        std::mem::swap(&mut a, &mut z);
    }
    let req = Req {
        method: "OPTIONS",
        ruri: format!("sip:{}", z.host()),
        path: vec![a, z],
        branches: vec![b.hex(16), String::new()],
        from: format!("<sip:{}>;tag={}", a.host(), b.hex(8)),
        to: format!("<sip:{}>", z.host()),
        call_id: format!("{}@{}", b.hex(16), a.host().replace(':', "-")),
        cseq: b.rng.range(1, 60_000) as u32,
        record_route: false,
        route: false,
        contact: None,
        extra: "Accept: application/sdp\r\n".into(),
        body: String::new(),
    };
    let t = t0 + b.rng.range(0, 50_000);
    b.push(t, a, z, req.at(0));
    let tag = b.hex(8);
    let d = b.net();
    b.push(
        t + d,
        z,
        a,
        req.resp(
            200,
            1,
            Some(&tag),
            RespParts {
                extra: "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS\r\n",
                ..Default::default()
            },
        ),
    );
    b.msgs
}

/// How many faulty instances end the capture.
const TAIL: usize = 6;

/// The `k`th of the capture's last instances, all faulty: the capture
/// ends before their time limits run out.
fn tail(rng: &mut Rng, t0: u64, k: usize) -> Instance {
    let place = Place {
        lab: k.is_multiple_of(2),
    };
    let (msgs, truth) = match k {
        0 => register(rng, t0, place, true, RegFault::NoFinal),
        1 => register(rng, t0, place, false, RegFault::NoAnswer),
        2 => call(rng, t0, place, Vec::new(), false, CallFault::NoBye, true),
        3 => {
            let p = place.proxies(rng, 1);
            call(rng, t0, place, p, false, CallFault::NoByeAnswer, false)
        }
        4 => {
            let p = place.proxies(rng, 1);
            call(rng, t0, place, p, true, CallFault::NoByeAnswer, true)
        }
        _ => call(rng, t0, place, Vec::new(), false, CallFault::Busy, true),
    };
    let mut order: Vec<usize> = (0..msgs.len()).collect();
    order.sort_by_key(|&i| (msgs[i].t, i));
    Instance {
        msgs,
        order,
        next: 0,
        truth: Some(truth),
    }
}

/// Start one instance of a random kind at `t0`.
fn start(rng: &mut Rng, t0: u64, faults: f64, sum: &mut Summary) -> Instance {
    let place = Place {
        lab: rng.chance(0.5),
    };
    if place.lab {
        sum.lab += 1;
    }
    let pick = rng.below(100);
    let faulty = rng.chance(faults);
    let (msgs, truth) = match pick {
        0..=44 => {
            let n = match rng.below(10) {
                0..=3 => 0,
                4..=6 => 1,
                7..=8 => 2,
                _ => 3,
            };
            let fault = if !faulty {
                CallFault::None
            } else if n == 0 {
                match rng.below(4) {
                    0 => CallFault::NoByeAnswer,
                    1 => CallFault::NoBye,
                    2 => CallFault::LateByeAnswer,
                    _ => CallFault::Busy,
                }
            } else if rng.chance(0.5) {
                CallFault::NoByeAnswer
            } else {
                CallFault::NoBye
            };
            let proxies = place.proxies(rng, n);
            let by_caller = rng.chance(0.6);
            let (m, t) = call(rng, t0, place, proxies, false, fault, by_caller);
            (m, Some(t))
        }
        45..=59 => {
            let n = 1 + rng.below(3) as usize;
            let fault = if !faulty {
                CallFault::None
            } else if rng.chance(0.5) {
                CallFault::NoByeAnswer
            } else {
                CallFault::NoBye
            };
            let proxies = place.proxies(rng, n);
            let by_caller = rng.chance(0.6);
            let (m, t) = call(rng, t0, place, proxies, true, fault, by_caller);
            (m, Some(t))
        }
        60..=84 => {
            let challenged = rng.chance(0.5);
            let fault = match (faulty, challenged) {
                (false, _) => RegFault::None,
                (true, true) => RegFault::NoFinal,
                (true, false) => RegFault::NoAnswer,
            };
            let (m, t) = register(rng, t0, place, challenged, fault);
            (m, Some(t))
        }
        _ => {
            sum.options += 1;
            (options(rng, t0, place), None)
        }
    };
    let mut order: Vec<usize> = (0..msgs.len()).collect();
    order.sort_by_key(|&i| (msgs[i].t, i));
    Instance {
        msgs,
        order,
        next: 0,
        truth,
    }
}

/// Writes frames: one UDP datagram per message, Ethernet/IPv4.
struct Wire<W: Write> {
    pcap: PcapWriter<W>,
    ip_id: u16,
    last_ts: u64,
}

impl<W: Write> Wire<W> {
    fn send(&mut self, t: u64, src: Node, dst: Node, payload: &[u8]) -> io::Result<(u64, u64)> {
        let ts = t.max(self.last_ts);
        self.last_ts = ts;
        self.ip_id = self.ip_id.wrapping_add(1);
        let mut udp_h = [0u8; wire::UDP_LEN];
        wire::udp(&mut udp_h, src.ip, dst.ip, src.port, dst.port, payload);
        let total = wire::UDP_LEN + payload.len();
        let mut h = [0u8; wire::ETH_LEN + wire::IP_LEN];
        wire::ethernet(&mut h, src.ip, dst.ip);
        wire::ipv4(
            &mut h[wire::ETH_LEN..],
            &Ipv4 {
                total_len: (wire::IP_LEN + total) as u16,
                id: self.ip_id,
                df: true,
                mf: false,
                frag_offset: 0,
                proto: wire::PROTO_UDP,
                src: src.ip,
                dst: dst.ip,
            },
        );
        let frame = self.pcap.frame(ts, &[&h, &udp_h, payload])?;
        Ok((frame, ts))
    }
}

/// Generate a capture into `out` and the truth (one JSON line per
/// instance) into `truth_out`.
pub fn run<W: Write>(
    cfg: &Config,
    out: W,
    truth_out: Option<&mut dyn Write>,
) -> io::Result<(Summary, W)> {
    let mut rng = Rng::new(cfg.seed ^ 0x7573_6572);
    let mut wire = Wire {
        pcap: PcapWriter::new(out)?,
        ip_id: 0,
        last_ts: 0,
    };
    let mut sum = Summary::default();
    let mut slots: Vec<Option<Instance>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut heap: BinaryHeap<Reverse<(u64, u64, usize)>> = BinaryHeap::new();
    let mut seq = 0u64;
    let mut next_start = EPOCH_US;
    let gap = 1_000_000 / cfg.rate.max(1);
    let mut generating = true;
    let mut started = 0u64;
    let mut pending_bytes = 0u64;
    let mut active = 0usize;
    let mut done: Vec<Done> = Vec::new();
    let mut tail_added = false;
    loop {
        let next_ev = heap.peek().map(|r| r.0.0);
        if generating && next_ev.is_none_or(|t| next_start <= t) {
            let mut irng = rng.fork();
            let t0 = next_start;
            next_start += rng.range(1, 2 * gap);
            let inst = start(&mut irng, t0, cfg.faults, &mut sum);
            started += 1;
            pending_bytes += inst
                .msgs
                .iter()
                .map(|m| 58 + m.data.len() as u64)
                .sum::<u64>();
            if let Some(&first) = inst.order.first() {
                let slot = free.pop().unwrap_or_else(|| {
                    slots.push(None);
                    slots.len() - 1
                });
                heap.push(Reverse((inst.msgs[first].t, seq, slot)));
                seq += 1;
                slots[slot] = Some(inst);
                active += 1;
                sum.max_concurrent = sum.max_concurrent.max(active);
            }
            generating = match cfg.target {
                Target::Bytes(b) => wire.pcap.bytes() + pending_bytes < b,
                Target::Instances(n) => started < n,
            };
            continue;
        }
        let Some(Reverse((_, _, slot))) = heap.pop() else {
            if tail_added {
                break;
            }
            // The capture's last instances: faulty ones whose time limits
            // run out after the capture ends (their steps `unobserved`).
            tail_added = true;
            let t0 = wire.last_ts + 1_000_000;
            for k in 0..TAIL {
                let mut irng = rng.fork();
                let inst = tail(&mut irng, t0 + k as u64 * 200_000, k);
                if let Some(&first) = inst.order.first() {
                    heap.push(Reverse((inst.msgs[first].t, seq, slots.len())));
                    seq += 1;
                    slots.push(Some(inst));
                    active += 1;
                }
            }
            continue;
        };
        let Some(inst) = slots.get_mut(slot).and_then(|s| s.as_mut()) else {
            continue;
        };
        let Some(&id) = inst.order.get(inst.next) else {
            continue;
        };
        inst.next += 1;
        let m = &mut inst.msgs[id];
        let (frame, ts) = wire.send(m.t, m.src, m.dst, &m.data)?;
        m.frame = frame;
        m.ts = ts;
        pending_bytes = pending_bytes.saturating_sub(58 + m.data.len() as u64);
        m.data = Vec::new();
        if let Some(&nx) = inst.order.get(inst.next) {
            heap.push(Reverse((inst.msgs[nx].t, seq, slot)));
            seq += 1;
        } else if let Some(inst) = slots.get_mut(slot).and_then(Option::take) {
            free.push(slot);
            active = active.saturating_sub(1);
            if let Some(tp) = inst.truth {
                done.push(resolve_plan(tp, &inst.msgs));
            }
        }
    }
    // Keep the capture's end away from every time limit: a limit that runs
    // out within MARGIN_US of the last frame would make `missing` and
    // `unobserved` depend on microseconds.
    let windows: Vec<(u64, u64)> = done
        .iter()
        .flat_map(|d| d.steps.iter())
        .filter(|s| s.1.is_none())
        .map(|s| (s.3, s.4))
        .collect();
    let mut end = wire.last_ts;
    let mut tail = 0u32;
    while let Some(&(_, hi)) = windows
        .iter()
        .find(|&&(lo, hi)| end + MARGIN_US > lo && end < hi + MARGIN_US)
    {
        // A keep-alive after that limit moves the end past it.
        let at = hi + 2 * MARGIN_US;
        let mut r = rng.fork();
        let mut msgs = options(&mut r, at, Place { lab: true });
        msgs.sort_by_key(|m| m.t);
        for m in &msgs {
            wire.send(m.t.max(at), m.src, m.dst, &m.data)?;
        }
        end = wire.last_ts;
        tail += 1;
        sum.options += 1;
        if tail > 10_000 {
            break;
        }
    }
    let mut truth_out = truth_out;
    let mut counts: Vec<(&'static str, u64, u64, u64)> = Vec::new();
    for d in &done {
        let (verdict, line) = truth_line(d, end);
        if let Some(out) = truth_out.as_mut() {
            out.write_all(line.as_bytes())?;
        }
        let i = match counts.iter().position(|c| c.0 == d.rule) {
            Some(i) => i,
            None => {
                counts.push((d.rule, 0, 0, 0));
                counts.len() - 1
            }
        };
        match verdict {
            "pass" => counts[i].1 += 1,
            "fail" => counts[i].2 += 1,
            _ => counts[i].3 += 1,
        }
    }
    sum.rules = counts;
    sum.bytes = wire.pcap.bytes();
    sum.frames = wire.pcap.frames();
    let out = wire.pcap.finish()?;
    Ok((sum, out))
}

/// The frames and times a played instance's truth needs.
fn resolve_plan(tp: TruthPlan, msgs: &[PMsg]) -> Done {
    let frame = |i: usize| msgs.get(i).map_or(0, |m| m.frame);
    let ts = |i: usize| msgs.get(i).map_or(0, |m| m.ts);
    let mut steps: Vec<(u8, Option<&'static str>, u64, u64, u64)> = tp
        .bad
        .iter()
        .map(|&(step, b)| match b {
            Bad::Wrong(i) => (step, Some("wrong"), frame(i), 0, 0),
            Bad::Late(i) => (step, Some("missing"), frame(i), 0, 0),
            Bad::Never(lo, hi) => (step, None, 0, ts(lo) + LIMIT_US, ts(hi) + LIMIT_US),
        })
        .collect();
    steps.sort_by_key(|s| s.0);
    Done {
        rule: tp.rule,
        branch: tp.branch,
        trigger_frame: frame(tp.trigger),
        call_id: tp.call_id,
        scenario: tp.scenario,
        steps,
    }
}

/// An instance's truth as one JSON line, given the capture's last
/// timestamp; returns its verdict too.
fn truth_line(d: &Done, end: u64) -> (&'static str, String) {
    let mut fail = false;
    let mut partial = false;
    let mut steps = String::new();
    for (i, &(step, status, frame, _lo, hi)) in d.steps.iter().enumerate() {
        let status = status.unwrap_or(if end >= hi { "missing" } else { "unobserved" });
        if status == "unobserved" {
            partial = true;
        } else {
            fail = true;
        }
        if i > 0 {
            steps.push(',');
        }
        let _ = write!(steps, "{{\"step\":{step},\"status\":\"{status}\"");
        if frame != 0 {
            let _ = write!(steps, ",\"frame\":{frame}");
        }
        steps.push('}');
    }
    let verdict = if fail {
        "fail"
    } else if partial {
        "partial"
    } else {
        "pass"
    };
    let line = format!(
        "{{\"rule\":\"{}\",\"branch\":\"{}\",\"trigger_frame\":{},\"call_id\":\"{}\",\"verdict\":\"{verdict}\",\"scenario\":\"{}\",\"steps\":[{steps}]}}\n",
        d.rule, d.branch, d.trigger_frame, d.call_id, d.scenario
    );
    (verdict, line)
}

/// `sipflow-gen --traffic user`: write the capture and the truth, print a
/// summary on standard error.
pub fn main(
    out: &std::path::Path,
    truth: Option<&std::path::Path>,
    size: Option<u64>,
    instances: Option<u64>,
    seed: u64,
    faults: f64,
    rate: u64,
) -> std::process::ExitCode {
    use std::process::ExitCode;
    let target = match (size, instances) {
        (_, Some(n)) => Target::Instances(n),
        (Some(b), None) => Target::Bytes(b),
        (None, None) => {
            eprintln!("sipflow-gen: give --size SIZE or --instances N");
            return ExitCode::from(2);
        }
    };
    let cfg = Config {
        target,
        seed,
        faults,
        rate,
    };
    let began = std::time::Instant::now();
    let res = (|| -> Result<Summary, String> {
        let f = std::fs::File::create(out)
            .map_err(|e| format!("cannot create {}: {e}", out.display()))?;
        let w = io::BufWriter::with_capacity(1 << 20, f);
        let mut t = match truth {
            Some(p) => Some(io::BufWriter::new(
                std::fs::File::create(p)
                    .map_err(|e| format!("cannot create {}: {e}", p.display()))?,
            )),
            None => None,
        };
        let (sum, mut w) = run(&cfg, w, t.as_mut().map(|t| t as &mut dyn Write))
            .map_err(|e| format!("writing {}: {e}", out.display()))?;
        w.flush()
            .map_err(|e| format!("writing {}: {e}", out.display()))?;
        if let Some(mut t) = t {
            t.flush()
                .map_err(|e| format!("writing the truth file: {e}"))?;
        }
        Ok(sum)
    })();
    match res {
        Ok(sum) => {
            let secs = began.elapsed().as_secs_f64();
            eprintln!(
                "sipflow-gen: wrote {} ({} bytes) in {:.2} s ({:.1} MB/s)",
                out.display(),
                sum.bytes,
                secs,
                sum.bytes as f64 / 1e6 / secs.max(1e-9)
            );
            eprintln!("frames {}", sum.frames);
            eprintln!("sip-messages {}", sum.frames);
            for (rule, pass, fail, partial) in &sum.rules {
                eprintln!("instances {rule} pass {pass} fail {fail} partial {partial}");
            }
            eprintln!("options {}", sum.options);
            eprintln!("lab-instances {}", sum.lab);
            eprintln!("max-concurrent-instances {}", sum.max_concurrent);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sipflow-gen: {e}");
            ExitCode::from(1)
        }
    }
}
