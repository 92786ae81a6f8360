"""SIP message building blocks for ``scripts/make-samples``.

This module knows how SIP elements of RFC 3261 shape the messages they send,
so that the scenarios in ``make-samples`` read like the hop lists of
``flows.md`` and still produce what a real proxy/B2BUA chain would put on the
wire:

* a user agent builds a request (``request``) or answers one (``response``);
  responses copy every Via, From, To, Call-ID and CSeq of the request, add a
  To tag, and copy Record-Route into responses to dialog-creating requests;
* a stateful proxy forwards a request (``Proxy.forward``): it removes the top
  Route if it names the proxy itself (loose routing, RFC 3261 16.4), lowers
  Max-Forwards, adds Record-Route to dialog-creating requests and pushes its own
  Via with its own branch; Call-ID, CSeq, From, To and body stay as they were;
  it forwards a response (``Proxy.forward_response``) by popping its own Via;
* a dialog (``Dialog``) remembers Call-ID, tags, remote target and route set so
  that in-dialog requests (ACK, BYE, NOTIFY) carry the right Request-URI and
  Route headers.

Content-Length is always computed from the body at encoding time.  Everything is
deterministic: identifiers come from ``Ids``, which hashes the scenario name, so
that re-running ``make-samples`` produces byte-identical SIP messages.

Standard library only.
"""

from __future__ import annotations

import hashlib
import re
from xml.etree import ElementTree

CRLF = "\r\n"

#: Methods whose requests may create a dialog, and therefore get Record-Route
#: from proxies and have Record-Route copied into their 1xx/2xx responses.
DIALOG_CREATING = ("INVITE", "SUBSCRIBE", "REFER")

REASONS = {
    100: "Trying",
    180: "Ringing",
    200: "OK",
    202: "Accepted",
    481: "Call/Transaction Does Not Exist",
}


class Msg:
    """One SIP message: start line, ordered header fields, body bytes."""

    def __init__(self, start: str, headers, body: bytes = b""):
        self.start = start
        self.headers = [[n, v] for n, v in headers]
        self.body = body

    # --- inspection -------------------------------------------------------
    @property
    def is_request(self) -> bool:
        return not self.start.startswith("SIP/2.0 ")

    @property
    def method(self) -> str:
        """Method of a request, or the CSeq method of a response."""
        if self.is_request:
            return self.start.split(" ", 1)[0]
        return self.get("CSeq").split()[1]

    @property
    def status(self) -> int | None:
        return None if self.is_request else int(self.start.split()[1])

    @property
    def ruri(self) -> str:
        return self.start.split(" ")[1]

    def get(self, name: str) -> str | None:
        for n, v in self.headers:
            if n.lower() == name.lower():
                return v
        return None

    def get_all(self, name: str) -> list[str]:
        return [v for n, v in self.headers if n.lower() == name.lower()]

    def summary(self) -> str:
        """Short human description: 'REFER sip:...' or '200 OK (BYE)'."""
        if self.is_request:
            return f"{self.method} {self.ruri}"
        return f"{self.start[8:]} ({self.method})"

    # --- editing ----------------------------------------------------------
    def copy(self) -> "Msg":
        return Msg(self.start, self.headers, self.body)

    def index(self, name: str) -> int:
        for i, (n, _) in enumerate(self.headers):
            if n.lower() == name.lower():
                return i
        return -1

    def set(self, name: str, value: str) -> None:
        i = self.index(name)
        if i < 0:
            self.headers.append([name, value])
        else:
            self.headers[i][1] = value

    def insert(self, i: int, name: str, value: str) -> None:
        self.headers.insert(i, [name, value])

    def remove_first(self, name: str) -> str:
        i = self.index(name)
        if i < 0:
            raise KeyError(name)
        return self.headers.pop(i)[1]

    # --- wire form --------------------------------------------------------
    def encode(self) -> bytes:
        lines = [self.start]
        for n, v in self.headers:
            if n.lower() != "content-length":
                lines.append(f"{n}: {v}")
        lines.append(f"Content-Length: {len(self.body)}")
        return (CRLF.join(lines) + CRLF + CRLF).encode("utf-8") + self.body


# --- small parsers -----------------------------------------------------------
def tag_of(value: str) -> str | None:
    """The tag parameter of a From/To value (outside the <> brackets)."""
    rest = value.rsplit(">", 1)[-1]
    m = re.search(r";tag=([^;\s]+)", rest)
    return m.group(1) if m else None


def without_tag(value: str) -> str:
    return re.sub(r";tag=[^;\s]+", "", value)


def uri_of(name_addr: str) -> str:
    """The URI inside <...> of a name-addr (or the value itself)."""
    m = re.search(r"<([^>]*)>", name_addr)
    return m.group(1) if m else name_addr.split(";")[0].strip()


def host_of(uri: str) -> str:
    """Host part of a SIP URI (no port, no parameters)."""
    hostport = uri.split(":", 1)[1].split(";", 1)[0]
    hostport = hostport.rsplit("@", 1)[-1]
    return hostport.split(":", 1)[0]


# --- identifiers -------------------------------------------------------------
class Ids:
    """Deterministic Call-IDs, tags and branches derived from a scenario name."""

    def __init__(self, scenario: str):
        self.scenario = scenario
        self.n_branch = 0

    def _h(self, *parts: str, n: int = 12) -> str:
        text = "|".join((self.scenario,) + parts)
        return hashlib.sha1(text.encode()).hexdigest()[:n]

    def call_id(self, label: str, host: str) -> str:
        return f"{self._h('call-id', label, n=16)}@{host}"

    def tag(self, label: str) -> str:
        return self._h("tag", label, n=10)

    def branch(self) -> str:
        """A fresh RFC 3261 branch (magic cookie + hash of a counter)."""
        self.n_branch += 1
        return "z9hG4bK" + self._h("branch", str(self.n_branch), n=14)


# --- user agents -------------------------------------------------------------
def via(transport: str, ip: str, branch: str) -> str:
    return f"SIP/2.0/{transport} {ip}:5060;branch={branch}"


def request(method, ruri, *, via_value, from_, to, call_id, cseq,
            route=(), contact=None, extra=(), body=b"", ctype=None,
            max_forwards=70) -> Msg:
    """A request as a user agent (UAC) sends it: one Via, Max-Forwards 70."""
    h = [("Via", via_value), ("Max-Forwards", str(max_forwards))]
    h += [("Route", r) for r in route]
    h += [("From", from_), ("To", to), ("Call-ID", call_id),
          ("CSeq", f"{cseq} {method}")]
    if contact:
        h.append(("Contact", contact))
    h += list(extra)
    if body:
        h.append(("Content-Type", ctype))
    return Msg(f"{method} {ruri} SIP/2.0", h, body)


def response(req: Msg, code: int, *, to_tag=None, contact=None, extra=(),
             body=b"", ctype=None, reason=None) -> Msg:
    """A response as the UAS (or a proxy, for 100 Trying) builds it from the request."""
    h = [("Via", v) for v in req.get_all("Via")]
    if req.method in DIALOG_CREATING and 100 < code < 300:
        h += [("Record-Route", r) for r in req.get_all("Record-Route")]
    to = req.get("To")
    if to_tag and tag_of(to) is None:
        to = f"{to};tag={to_tag}"
    h += [("From", req.get("From")), ("To", to), ("Call-ID", req.get("Call-ID")),
          ("CSeq", req.get("CSeq"))]
    if contact:
        h.append(("Contact", contact))
    h += list(extra)
    if body:
        h.append(("Content-Type", ctype))
    return Msg(f"SIP/2.0 {code} {reason or REASONS[code]}", h, body)


class Proxy:
    """A transaction-stateful, record-routing proxy (RFC 3261 section 16)."""

    def __init__(self, ip: str, transport: str, ids: Ids):
        self.ip = ip
        self.transport = transport
        self.ids = ids

    @property
    def rr_uri(self) -> str:
        tp = ";transport=tcp" if self.transport == "TCP" else ""
        return f"<sip:{self.ip}{tp};lr>"

    def forward(self, req: Msg) -> Msg:
        m = req.copy()
        # 16.4: a top Route naming this proxy is removed.
        routes = m.get_all("Route")
        if routes and host_of(uri_of(routes[0])) == self.ip:
            m.remove_first("Route")
        # 16.6 step 3: Max-Forwards.
        mf = int(m.get("Max-Forwards"))
        m.set("Max-Forwards", str(mf - 1))
        # 16.6 step 4: Record-Route on requests that may create a dialog.
        if m.method in DIALOG_CREATING and tag_of(m.get("To")) is None:
            i = m.index("Record-Route")
            if i < 0:
                i = m.index("From")
            m.insert(i, "Record-Route", self.rr_uri)
        # 16.6 step 8: own Via on top, own branch.
        m.insert(0, "Via", via(self.transport, self.ip, self.ids.branch()))
        return m

    def forward_response(self, resp: Msg) -> Msg:
        m = resp.copy()
        top = m.remove_first("Via")
        assert f" {self.ip}:5060;" in top, (top, self.ip)
        return m


class Dialog:
    """One side of a dialog (RFC 3261 section 12): what in-dialog requests need."""

    def __init__(self, *, call_id, local, local_tag, remote, remote_tag,
                 remote_target, route, cseq):
        self.call_id = call_id
        self.local = local
        self.local_tag = local_tag
        self.remote = remote
        self.remote_tag = remote_tag
        self.remote_target = remote_target
        self.route = list(route)
        self.cseq = cseq

    @classmethod
    def uac(cls, req: Msg, resp: Msg) -> "Dialog":
        """The dialog as the sender of ``req`` sees it after the 2xx ``resp``."""
        return cls(call_id=req.get("Call-ID"),
                   local=without_tag(req.get("From")), local_tag=tag_of(req.get("From")),
                   remote=without_tag(resp.get("To")), remote_tag=tag_of(resp.get("To")),
                   remote_target=uri_of(resp.get("Contact")),
                   route=list(reversed(resp.get_all("Record-Route"))),
                   cseq=int(req.get("CSeq").split()[0]))

    @classmethod
    def uas(cls, req: Msg, resp: Msg, cseq: int = 0) -> "Dialog":
        """The dialog as the receiver of ``req`` sees it after answering ``resp``."""
        return cls(call_id=req.get("Call-ID"),
                   local=without_tag(resp.get("To")), local_tag=tag_of(resp.get("To")),
                   remote=without_tag(req.get("From")), remote_tag=tag_of(req.get("From")),
                   remote_target=uri_of(req.get("Contact")),
                   route=req.get_all("Record-Route"), cseq=cseq)

    def request(self, method, *, via_value, contact=None, extra=(), body=b"",
                ctype=None, cseq=None) -> Msg:
        if cseq is None:
            self.cseq += 1
            cseq = self.cseq
        return request(method, self.remote_target, via_value=via_value,
                       from_=f"{self.local};tag={self.local_tag}",
                       to=f"{self.remote};tag={self.remote_tag}",
                       call_id=self.call_id, cseq=cseq, route=self.route,
                       contact=contact, extra=extra, body=body, ctype=ctype)


# --- bodies ------------------------------------------------------------------
def sdp(user: str, sess_id: int, ip: str, port: int) -> bytes:
    """A small PoC offer/answer: AMR audio plus the talk-burst control channel."""
    return CRLF.join([
        "v=0",
        f"o={user} {sess_id} {sess_id} IN IP4 {ip}",
        "s=-",
        f"c=IN IP4 {ip}",
        "t=0 0",
        f"m=audio {port} RTP/AVP 97",
        "a=rtpmap:97 AMR/8000",
        f"m=application {port + 2} udp TBCP",
        "a=fmtp:TBCP queuing=1;tb_priority=1;timestamp=1",
        "",
    ]).encode()


def sipfrag(code: int) -> bytes:
    """RFC 3420 message/sipfrag body holding just a status line (RFC 3515 NOTIFY)."""
    return f"SIP/2.0 {code} {REASONS[code]}\r\n".encode()


def conference_info(entity: str, version: int, users, subject: str) -> bytes:
    """An RFC 4575 full-state conference-info document.

    ``users`` is a list of (AOR, display name, endpoint URI)."""
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<conference-info xmlns="urn:ietf:params:xml:ns:conference-info"',
        f' entity="{entity}" state="full" version="{version}">',
        " <conference-description>",
        f"  <subject>{subject}</subject>",
        " </conference-description>",
        " <conference-state>",
        f"  <user-count>{len(users)}</user-count>",
        "  <active>true</active>",
        " </conference-state>",
        " <users>",
    ]
    for aor, name, endpoint in users:
        out += [
            f'  <user entity="{aor}" state="full">',
            f"   <display-text>{name}</display-text>",
            f'   <endpoint entity="{endpoint}">',
            "    <status>connected</status>",
            "   </endpoint>",
            "  </user>",
        ]
    out += [" </users>", "</conference-info>", ""]
    doc = CRLF.join(out).encode()
    ElementTree.fromstring(doc)          # well-formed, or fail loudly
    return doc
