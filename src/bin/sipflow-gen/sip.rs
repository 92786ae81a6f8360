//! SIP transactions and how each hop of them looks on the wire.
//!
//! A [`Txn`] is one SIP transaction travelling along a path of nodes: the
//! client (UAC) first, proxies in between, the server (UAS) last. The
//! message a node sends at a given hop is rendered from it the way real
//! proxies produce it: each proxy pushes its own Via (own branch) on the
//! request and pops it from the response, decrements Max-Forwards, adds its
//! Record-Route to dialog-creating requests and removes the Route entry
//! naming itself, and keeps Call-ID, CSeq, From and To unchanged. B2BUAs
//! are not proxies: they start new transactions (new `Txn`s).

use crate::text::Text;
use crate::uri::Uri;

/// SIP request methods used by the generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// INVITE.
    Invite,
    /// ACK (the end-to-end ACK of a 2xx, its own transaction).
    Ack,
    /// BYE.
    Bye,
    /// REFER.
    Refer,
    /// NOTIFY.
    Notify,
    /// SUBSCRIBE.
    Subscribe,
    /// REGISTER.
    Register,
    /// OPTIONS.
    Options,
}

impl Method {
    /// The method's name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Refer => "REFER",
            Method::Notify => "NOTIFY",
            Method::Subscribe => "SUBSCRIBE",
            Method::Register => "REGISTER",
            Method::Options => "OPTIONS",
        }
    }
}

/// The reason phrase for a status code.
pub fn reason(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        200 => "OK",
        202 => "Accepted",
        401 => "Unauthorized",
        403 => "Forbidden",
        481 => "Call/Transaction Does Not Exist",
        486 => "Busy Here",
        _ => "Unknown",
    }
}

/// Most nodes on a path: a UA, two chains of up to three proxies, a UA.
pub const MAX_PATH: usize = 8;

/// The nodes a transaction crosses, UAC first, UAS last, each with the
/// flows.md role group it belongs to: a hop between two nodes of one group
/// (inside a chain of proxies that stands for one core) is not a step.
#[derive(Debug, Clone, Copy)]
pub struct Path {
    nodes: [u32; MAX_PATH],
    groups: [u8; MAX_PATH],
    len: u8,
}

impl Path {
    /// A path over `nodes` (2 to [`MAX_PATH`] of them; extra ones are
    /// ignored), each node its own role.
    pub fn new(nodes: &[u32]) -> Path {
        let mut p = Path {
            nodes: [0; MAX_PATH],
            groups: [0; MAX_PATH],
            len: nodes.len().min(MAX_PATH) as u8,
        };
        for (i, (d, s)) in p.nodes.iter_mut().zip(nodes).enumerate() {
            *d = *s;
            p.groups[i] = i as u8;
        }
        p
    }

    /// A path whose nodes come in role groups (`groups[i]` of node `i`;
    /// neighbours with the same group are one role, e.g. an IMS chain).
    pub fn grouped(nodes: &[u32], groups: &[u8]) -> Path {
        let mut p = Path::new(nodes);
        for (d, s) in p.groups.iter_mut().zip(groups) {
            *d = *s;
        }
        p
    }

    /// Node at position `i` (0 = UAC).
    pub fn at(&self, i: usize) -> u32 {
        self.nodes.get(i).copied().unwrap_or(0)
    }

    /// Whether the hop between positions `i` and `i + 1` crosses from one
    /// role to another (is a flows.md step when the transaction is one).
    pub fn crosses(&self, i: usize) -> bool {
        match (self.groups.get(i), self.groups.get(i + 1)) {
            (Some(a), Some(b)) => a != b,
            _ => false,
        }
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// The same nodes in the opposite direction (for requests sent by the
    /// other end of a dialog).
    pub fn reversed(&self) -> Path {
        let mut p = *self;
        p.nodes[..self.len()].reverse();
        p.groups[..self.len()].reverse();
        p
    }

    /// Position of the last node (the UAS).
    pub fn last(&self) -> usize {
        self.len().saturating_sub(1)
    }
}

/// Which Route headers a request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteMode {
    /// None.
    None,
    /// The first proxy as outbound proxy (`Route: <sip:proxy;lr>`) on the
    /// first hop only: initial requests of a UA.
    Outbound,
    /// The dialog's route set: every proxy still ahead on the path.
    Dialog,
}

/// Call-ID: a random hex word at the address of the node that made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallId {
    /// Random part.
    pub id: u64,
    /// Address of the node that created it.
    pub host: u32,
}

impl CallId {
    /// Append as on the wire.
    pub fn put(&self, out: &mut Vec<u8>) {
        out.hex(self.id, 16).s("@").ip(self.host);
    }

    /// As a string (for the truth file).
    pub fn to_text(self) -> String {
        let mut b = Vec::new();
        self.put(&mut b);
        String::from_utf8_lossy(&b).into_owned()
    }
}

/// What an SDP body describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SdpKind {
    /// A voice call.
    Call,
    /// A PoC session: AMR audio plus the talk burst control channel.
    Poc,
    /// A voice/video offer with ICE candidates: large enough that, over
    /// UDP, its INVITE needs IP fragmentation.
    Big,
}

/// A message body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// No body.
    None,
    /// `application/sdp`.
    Sdp {
        ip: u32,
        sess: u64,
        port: u16,
        kind: SdpKind,
    },
    /// `message/sipfrag` with this status line.
    Sipfrag(u16),
    /// `application/conference-info+xml` for conference `entity`.
    ConfInfo {
        entity: Uri,
        version: u32,
        users: [Uri; 3],
        n_users: u8,
    },
}

/// Event package of a NOTIFY.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventPkg {
    /// `Event: refer` (REFER outcome, RFC 3515); the subscription ends.
    Refer,
    /// `Event: conference` (RFC 4575); the subscription stays active.
    Conference,
}

/// Method-specific header fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extra {
    /// Nothing special.
    None,
    /// INVITE: Allow, Supported, Session-Expires.
    Invite,
    /// REFER with `Refer-To: <target;method=BYE>`.
    ReferBye { target: Uri, referred_by: Uri },
    /// NOTIFY of a package.
    Notify(EventPkg),
    /// SUBSCRIBE to the conference package.
    Subscribe,
    /// REGISTER, with Authorization after a challenge (`Some(nonce)`).
    Register {
        nonce: Option<u64>,
        net: u8,
        user: u32,
    },
    /// OPTIONS keep-alive.
    Options,
}

/// One SIP transaction along a path.
#[derive(Debug, Clone)]
pub struct Txn {
    /// Request method.
    pub method: Method,
    /// Request-URI (unchanged by the proxies: loose routing).
    pub ruri: Uri,
    /// UAC, proxies, UAS.
    pub path: Path,
    /// Sent over TCP (else UDP).
    pub tcp: bool,
    /// Call-ID.
    pub call_id: CallId,
    /// CSeq number.
    pub cseq: u32,
    /// From URI.
    pub from: Uri,
    /// From tag.
    pub from_tag: u64,
    /// To URI.
    pub to: Uri,
    /// To tag in the request (0 = none: out of dialog).
    pub to_tag: u64,
    /// To tag the UAS puts in its responses when the request had none.
    pub uas_tag: u64,
    /// UAC's Contact (requests that carry one).
    pub contact: Option<Uri>,
    /// The UAC's Contact is a conference focus (`;isfocus`).
    pub contact_focus: bool,
    /// UAS's Contact in 1xx/2xx (dialog-creating requests).
    pub uas_contact: Option<Uri>,
    /// The UAS's Contact is a conference focus (`;isfocus`).
    pub uas_focus: bool,
    /// Route headers.
    pub route: RouteMode,
    /// Proxies record-route this request (dialog-creating requests).
    pub record_route: bool,
    /// Request body.
    pub body: Body,
    /// Body of 2xx responses (SDP answer).
    pub ok_body: Body,
    /// Method-specific headers.
    pub extra: Extra,
    /// Seed of the Via branches (one branch per node on the path).
    pub branch: u64,
    /// A PoC transaction (OMA PoC feature tags and user agents).
    pub poc: bool,
}

/// What is sent at one point of a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The request, sent by the node at position `hop` to the next one.
    Req { hop: u8 },
    /// The hop-by-hop ACK of a non-2xx final response to an INVITE, sent
    /// by the node at position `hop` to the next one.
    AckHop { hop: u8 },
    /// A response with `code`, sent by the node at position `from` to the
    /// previous one.
    Resp { code: u16, from: u8 },
}

const MAGIC: &str = "z9hG4bK";

impl Txn {
    /// Source and destination addresses of the message `k`.
    pub fn endpoints(&self, k: Kind) -> (u32, u32) {
        match k {
            Kind::Req { hop } | Kind::AckHop { hop } => {
                let h = usize::from(hop);
                (self.path.at(h), self.path.at(h + 1))
            }
            Kind::Resp { from, .. } => {
                let f = usize::from(from);
                (self.path.at(f), self.path.at(f.saturating_sub(1)))
            }
        }
    }

    fn branch_of(&self, i: usize) -> u64 {
        self.branch ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }

    fn transport(&self) -> &'static str {
        if self.tcp { "TCP" } else { "UDP" }
    }

    fn put_via(&self, out: &mut Vec<u8>, i: usize) {
        out.s("Via: SIP/2.0/")
            .s(self.transport())
            .s(" ")
            .ip(self.path.at(i))
            .s(":5060;branch=")
            .s(MAGIC)
            .hex(self.branch_of(i), 16);
        if i == 0 {
            out.s(";rport");
        }
        out.s("\r\n");
    }

    fn put_proxy_uri(&self, out: &mut Vec<u8>, i: usize) {
        out.s("<sip:").ip(self.path.at(i));
        if self.tcp {
            out.s(";transport=tcp");
        }
        out.s(";lr>");
    }

    fn put_from_to_callid(&self, out: &mut Vec<u8>, to_tag: u64) {
        out.s("From: <");
        self.from.put(out);
        out.s(">;tag=").hex(self.from_tag, 8).s("\r\nTo: <");
        self.to.put(out);
        out.s(">");
        if to_tag != 0 {
            out.s(";tag=").hex(to_tag, 8);
        }
        out.s("\r\nCall-ID: ");
        self.call_id.put(out);
        out.s("\r\n");
    }

    fn put_contact(&self, out: &mut Vec<u8>, uri: Uri, focus: bool) {
        out.s("Contact: <");
        uri.put(out);
        out.s(">");
        if focus {
            out.s(";isfocus");
        } else if self.poc {
            out.s(";+g.poc.talkburst");
        }
        out.s("\r\n");
    }

    /// Append message `k` of this transaction to `out` (using `body` as
    /// scratch space for the body).
    pub fn render(&self, k: Kind, out: &mut Vec<u8>, body: &mut Vec<u8>) {
        match k {
            Kind::Req { hop } => self.render_request(usize::from(hop), out, body),
            Kind::AckHop { hop } => self.render_ack_hop(usize::from(hop), out),
            Kind::Resp { code, from } => self.render_response(code, usize::from(from), out, body),
        }
    }

    fn render_request(&self, h: usize, out: &mut Vec<u8>, body: &mut Vec<u8>) {
        let m = self.method.name();
        out.s(m).s(" ");
        self.ruri.put(out);
        out.s(" SIP/2.0\r\n");
        for i in (0..=h).rev() {
            self.put_via(out, i);
        }
        out.s("Max-Forwards: ").dec(70 - h as u64).s("\r\n");
        if self.record_route {
            for i in (1..=h).rev() {
                out.s("Record-Route: ");
                self.put_proxy_uri(out, i);
                out.s("\r\n");
            }
        }
        self.put_route(out, h);
        self.put_from_to_callid(out, self.to_tag);
        out.s("CSeq: ").dec(self.cseq.into()).s(" ").s(m).s("\r\n");
        if let Some(c) = self.contact {
            self.put_contact(out, c, self.contact_focus);
        }
        self.put_request_extras(out);
        if self.poc && h == 0 {
            if crate::topology::is_server(self.path.at(0)) {
                out.s("User-Agent: PoC-server/OMA2.0 sipflow-gen\r\n");
            } else {
                out.s("User-Agent: PoC-client/OMA2.0 sipflow-gen\r\n");
            }
        } else if h == 0 && self.method != Method::Ack {
            out.s("User-Agent: sipflow-gen/1.0\r\n");
        }
        put_body(out, body, &self.body, self.branch & 1 == 1);
    }

    fn put_route(&self, out: &mut Vec<u8>, h: usize) {
        let last = self.path.last();
        let proxies = match self.route {
            RouteMode::None => 0..0,
            RouteMode::Outbound if h == 0 && last > 1 => 1..2,
            RouteMode::Outbound => 0..0,
            RouteMode::Dialog => (h + 1)..last,
        };
        for i in proxies {
            out.s("Route: ");
            self.put_proxy_uri(out, i);
            out.s("\r\n");
        }
    }

    fn put_request_extras(&self, out: &mut Vec<u8>) {
        match self.extra {
            Extra::None => {}
            Extra::Invite => {
                out.s("Allow: INVITE, ACK, CANCEL, BYE, REFER, NOTIFY, SUBSCRIBE, OPTIONS, UPDATE\r\n");
                out.s("Supported: timer, replaces\r\nSession-Expires: 1800\r\n");
                if self.poc {
                    out.s("Accept-Contact: *;+g.poc.talkburst;require;explicit\r\n");
                }
            }
            Extra::ReferBye {
                target,
                referred_by,
            } => {
                out.s("Refer-To: <");
                target.put(out);
                out.s(";method=BYE>\r\nReferred-By: <");
                referred_by.put(out);
                out.s(">\r\n");
            }
            Extra::Notify(EventPkg::Refer) => {
                out.s("Event: refer\r\nSubscription-State: terminated;reason=noresource\r\n");
            }
            Extra::Notify(EventPkg::Conference) => {
                out.s("Event: conference\r\nSubscription-State: active;expires=3600\r\n");
            }
            Extra::Subscribe => {
                out.s("Event: conference\r\nExpires: 3600\r\nAccept: application/conference-info+xml\r\n");
            }
            Extra::Register { nonce, net, user } => {
                out.s("Expires: 3600\r\n");
                if let Some(n) = nonce {
                    out.s("Authorization: Digest username=\"user")
                        .dec(user.into())
                        .s("\", realm=\"net")
                        .dec(net.into())
                        .s(".example.com\", nonce=\"")
                        .hex(n, 16)
                        .s("\", uri=\"sip:net")
                        .dec(net.into())
                        .s(".example.com\", response=\"")
                        .hex(n.rotate_left(17) ^ u64::from(user), 16)
                        .hex(n.rotate_left(41), 16)
                        .s("\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"")
                        .hex(n.rotate_right(9), 8)
                        .s("\"\r\n");
                }
            }
            Extra::Options => {
                out.s("Accept: application/sdp\r\n");
            }
        }
    }

    fn render_ack_hop(&self, h: usize, out: &mut Vec<u8>) {
        out.s("ACK ");
        self.ruri.put(out);
        out.s(" SIP/2.0\r\n");
        self.put_via(out, h);
        out.s("Max-Forwards: 70\r\n");
        self.put_route(out, h);
        self.put_from_to_callid(out, self.resp_tag());
        out.s("CSeq: ")
            .dec(self.cseq.into())
            .s(" ACK\r\nContent-Length: 0\r\n\r\n");
    }

    fn resp_tag(&self) -> u64 {
        if self.to_tag != 0 {
            self.to_tag
        } else {
            self.uas_tag
        }
    }

    fn render_response(&self, code: u16, from: usize, out: &mut Vec<u8>, body: &mut Vec<u8>) {
        out.s("SIP/2.0 ")
            .dec(code.into())
            .s(" ")
            .s(reason(code))
            .s("\r\n");
        for i in (0..from).rev() {
            self.put_via(out, i);
        }
        let dialog_ok = (101..300).contains(&code);
        if self.record_route && dialog_ok {
            for i in (1..self.path.last()).rev() {
                out.s("Record-Route: ");
                self.put_proxy_uri(out, i);
                out.s("\r\n");
            }
        }
        let tag = if code == 100 {
            self.to_tag
        } else {
            self.resp_tag()
        };
        self.put_from_to_callid(out, tag);
        out.s("CSeq: ")
            .dec(self.cseq.into())
            .s(" ")
            .s(self.method.name())
            .s("\r\n");
        if dialog_ok && let Some(c) = self.uas_contact {
            self.put_contact(out, c, self.uas_focus);
        }
        match (self.extra, code) {
            (Extra::Register { net, .. }, 401) => {
                out.s("WWW-Authenticate: Digest realm=\"net")
                    .dec(net.into())
                    .s(".example.com\", nonce=\"")
                    .hex(self.branch.rotate_left(23), 16)
                    .s("\", algorithm=MD5, qop=\"auth\"\r\n");
            }
            (Extra::Register { .. }, 200) => {
                if let Some(c) = self.contact {
                    out.s("Contact: <");
                    c.put(out);
                    out.s(">;expires=3600\r\n");
                }
            }
            (Extra::Subscribe, 200) => {
                out.s("Expires: 3600\r\n");
            }
            (Extra::Options, 200) => {
                out.s("Allow: INVITE, ACK, CANCEL, BYE, REFER, NOTIFY, SUBSCRIBE, OPTIONS\r\n");
                out.s("Accept: application/sdp\r\nSupported: timer, replaces\r\n");
            }
            (Extra::Invite, 200) => {
                out.s("Allow: INVITE, ACK, CANCEL, BYE, REFER, NOTIFY, SUBSCRIBE, OPTIONS, UPDATE\r\n");
                out.s("Supported: timer\r\nSession-Expires: 1800;refresher=uac\r\n");
            }
            _ => {}
        }
        if code >= 200 {
            // Written by the UAS; proxies forward it unchanged.
            out.s("Server: sipflow-gen/1.0\r\n");
        }
        let b = if (200..300).contains(&code) {
            &self.ok_body
        } else {
            &Body::None
        };
        put_body(out, body, b, false);
    }
}

/// Render `b` into `scratch`, then append Content-Type, the exact
/// Content-Length, the blank line and the body to `out`.
fn put_body(out: &mut Vec<u8>, scratch: &mut Vec<u8>, b: &Body, sfx_param: bool) {
    scratch.clear();
    let ctype = match *b {
        Body::None => None,
        Body::Sdp {
            ip,
            sess,
            port,
            kind,
        } => {
            put_sdp(scratch, ip, sess, port, kind);
            Some("application/sdp")
        }
        Body::Sipfrag(code) => {
            scratch
                .s("SIP/2.0 ")
                .dec(code.into())
                .s(" ")
                .s(reason(code))
                .s("\r\n");
            // Both spellings occur in real traffic (RFC 3515 uses the
            // parameter); a reader must compare the media type only.
            if sfx_param {
                Some("message/sipfrag;version=2.0")
            } else {
                Some("message/sipfrag")
            }
        }
        Body::ConfInfo {
            entity,
            version,
            users,
            n_users,
        } => {
            put_conference_info(
                scratch,
                entity,
                version,
                &users[..usize::from(n_users).min(3)],
            );
            Some("application/conference-info+xml")
        }
    };
    if let Some(ct) = ctype {
        out.s("Content-Type: ").s(ct).s("\r\n");
    }
    out.s("Content-Length: ")
        .dec(scratch.len() as u64)
        .s("\r\n\r\n");
    out.extend_from_slice(scratch);
}

fn put_sdp(b: &mut Vec<u8>, ip: u32, sess: u64, port: u16, kind: SdpKind) {
    let sess = sess & 0x7fff_ffff_ffff;
    b.s("v=0\r\no=- ")
        .dec(sess)
        .s(" ")
        .dec(sess)
        .s(" IN IP4 ")
        .ip(ip);
    b.s("\r\ns=-\r\nc=IN IP4 ").ip(ip).s("\r\nt=0 0\r\n");
    match kind {
        SdpKind::Call => {
            b.s("m=audio ").dec(port.into()).s(" RTP/AVP 0 8 101\r\n");
            b.s("a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n");
            b.s("a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n");
        }
        SdpKind::Poc => {
            b.s("m=audio ").dec(port.into()).s(" RTP/AVP 97\r\n");
            b.s("a=rtpmap:97 AMR/8000\r\na=fmtp:97 octet-align=1\r\n");
            b.s("m=application ")
                .dec(u64::from(port) + 2)
                .s(" udp TBCP\r\n");
            b.s("a=fmtp:TBCP queuing=1;tb_priority=1;timestamp=1\r\n");
        }
        SdpKind::Big => {
            b.s("a=group:BUNDLE 0 1\r\na=msid-semantic: WMS stream0\r\n");
            b.s("m=audio ").dec(port.into());
            b.s(" RTP/AVP 111 9 0 8 13 110 126\r\na=mid:0\r\n");
            b.s("a=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n");
            b.s("a=rtpmap:9 G722/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n");
            b.s("a=rtpmap:13 CN/8000\r\na=rtpmap:110 telephone-event/48000\r\n");
            b.s("a=rtpmap:126 telephone-event/8000\r\na=rtcp-mux\r\n");
            b.s("m=video ").dec(u64::from(port) + 2);
            b.s(" RTP/AVP 96 97 98 99 100 101\r\na=mid:1\r\n");
            for (pt, codec) in [(96, "VP8"), (98, "VP9"), (100, "H264")] {
                b.s("a=rtpmap:").dec(pt).s(" ").s(codec).s("/90000\r\n");
                b.s("a=rtcp-fb:").dec(pt).s(" goog-remb\r\n");
                b.s("a=rtcp-fb:").dec(pt).s(" transport-cc\r\n");
                b.s("a=rtcp-fb:").dec(pt).s(" ccm fir\r\n");
                b.s("a=rtcp-fb:").dec(pt).s(" nack\r\n");
                b.s("a=rtcp-fb:").dec(pt).s(" nack pli\r\n");
                b.s("a=rtpmap:").dec(pt + 1).s(" rtx/90000\r\n");
                b.s("a=fmtp:").dec(pt + 1).s(" apt=").dec(pt).s("\r\n");
            }
            b.s("a=fmtp:100 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n");
            for k in 0..16u64 {
                b.s("a=candidate:")
                    .dec(1_000_000 + k * 7919 + (sess % 1000))
                    .s(" 1 udp ")
                    .dec(2_122_260_223 - k * 1000)
                    .s(" ")
                    .ip(ip.wrapping_add(k as u32 * 256))
                    .s(" ")
                    .dec(40000 + (sess % 20000) + k)
                    .s(" typ host generation 0 network-id ")
                    .dec(k % 4 + 1)
                    .s("\r\n");
            }
            b.s("a=rtcp-mux\r\na=sendrecv\r\n");
        }
    }
}

fn put_conference_info(b: &mut Vec<u8>, entity: Uri, version: u32, users: &[Uri]) {
    b.s("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n");
    b.s("<conference-info xmlns=\"urn:ietf:params:xml:ns:conference-info\" entity=\"");
    entity.put(b);
    b.s("\" state=\"full\" version=\"")
        .dec(version.into())
        .s("\">\r\n");
    b.s(" <conference-description>\r\n  <subject>PoC session</subject>\r\n");
    b.s(" </conference-description>\r\n <users>\r\n");
    for u in users {
        b.s("  <user entity=\"");
        u.put(b);
        b.s("\" state=\"full\">\r\n   <endpoint entity=\"");
        u.put(b);
        b.s("\">\r\n    <status>connected</status>\r\n   </endpoint>\r\n  </user>\r\n");
    }
    b.s(" </users>\r\n</conference-info>\r\n");
}
