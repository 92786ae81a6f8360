//! Typed header values that later stages key on: CSeq, Via, Event,
//! Subscription-State, Content-Type. Each is a zero-copy view; white space
//! (folded line breaks included) is allowed wherever RFC 3261 allows LWS.

use super::lex::{as_str, is_lws, is_token_char, method_str, parse_u32, trim, trim_start};
use super::params::{Param, Params};

/// Splits a leading token off `s` (after white space); returns the token
/// and the rest.
fn token(s: &[u8]) -> (&[u8], &[u8]) {
    let s = trim_start(s);
    let n = s.iter().take_while(|&&c| is_token_char(c)).count();
    (&s[..n], &s[n..])
}

/// Expects `c` after optional white space; returns the rest after it.
fn expect(s: &[u8], c: u8) -> Option<&[u8]> {
    let s = trim_start(s);
    (s.first() == Some(&c)).then(|| &s[1..])
}

/// The CSeq header: sequence number and method (RFC 3261 20.16).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CSeq<'a> {
    /// The sequence number (orders requests within a dialog).
    pub number: u32,
    /// The method, which a response's CSeq names for its request.
    pub method: &'a str,
}

impl<'a> CSeq<'a> {
    /// `None` when the number is missing or exceeds 2^32-1 (RFC 4475
    /// 3.1.2.4), or the method is not a token.
    pub fn parse(value: &'a [u8]) -> Option<CSeq<'a>> {
        let (number, method) = Self::split(value)?;
        Some(CSeq {
            number,
            method: method_str(method)?,
        })
    }

    /// The number and the method's bytes (a token, not yet read as text).
    pub(crate) fn split(value: &'a [u8]) -> Option<(u32, &'a [u8])> {
        let v = trim(value);
        let digits = v.iter().take_while(|c| c.is_ascii_digit()).count();
        let number = parse_u32(&v[..digits])?;
        let rest = &v[digits..];
        if !rest.first().is_some_and(|&c| is_lws(c)) {
            return None;
        }
        let (method, rest) = token(rest);
        if method.is_empty() || !trim(rest).is_empty() {
            return None;
        }
        Some((number, method))
    }
}

/// One Via value (RFC 3261 20.42): sent protocol, sent-by, parameters.
///
/// Built from any element of a Via list; parts that do not parse read as
/// `None` rather than hiding the element, so that the *top* Via stays the
/// top one even when it is malformed. Parts are read when asked for (the
/// branch is what most callers want).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Via<'a> {
    raw: &'a [u8],
    /// Offset of the first ';' (start of the parameters) or `raw.len()`.
    params_at: usize,
}

/// The parts before the parameters.
struct Sent<'a> {
    protocol: (&'a str, &'a str, &'a str),
    host: Option<&'a str>,
    port: Option<u16>,
}

impl<'a> Via<'a> {
    /// Reads one Via element.
    pub fn parse(raw: &'a [u8]) -> Via<'a> {
        Via {
            raw,
            params_at: memchr::memchr(b';', raw).unwrap_or(raw.len()),
        }
    }

    fn sent(&self) -> Option<Sent<'a>> {
        let head = &self.raw[..self.params_at];
        let (name, rest) = token(head);
        let rest = expect(rest, b'/')?;
        let (version, rest) = token(rest);
        let rest = expect(rest, b'/')?;
        let (transport, rest) = token(rest);
        if name.is_empty() || version.is_empty() || transport.is_empty() {
            return None;
        }
        let protocol = (as_str(name)?, as_str(version)?, as_str(transport)?);
        let sent_by = trim(rest);
        let mut sent = Sent {
            protocol,
            host: None,
            port: None,
        };
        let (host, port) = if sent_by.first() == Some(&b'[') {
            match memchr::memchr(b']', sent_by) {
                Some(close) => (&sent_by[..=close], &sent_by[close + 1..]),
                None => return Some(sent),
            }
        } else {
            match memchr::memchr(b':', sent_by) {
                Some(c) => (&sent_by[..c], &sent_by[c..]),
                None => (sent_by, &b""[..]),
            }
        };
        let host = trim(host);
        if host.is_empty() || host.iter().any(|&c| is_lws(c)) {
            return Some(sent);
        }
        sent.host = as_str(host);
        if let Some(p) = trim(port).strip_prefix(b":") {
            sent.port = parse_u32(trim(p)).and_then(|p| u16::try_from(p).ok());
        }
        Some(sent)
    }

    /// The element as written.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// The transport (`UDP`, `TCP`, `TLS`, `SCTP`, `WS`, ... as written).
    pub fn transport(&self) -> Option<&'a str> {
        self.sent().map(|s| s.protocol.2)
    }

    /// Protocol name and version (`("SIP", "2.0")`).
    pub fn protocol(&self) -> Option<(&'a str, &'a str)> {
        self.sent().map(|s| (s.protocol.0, s.protocol.1))
    }

    /// The sent-by host (IPv6 in brackets).
    pub fn host(&self) -> Option<&'a str> {
        self.sent()?.host
    }

    /// The sent-by port, if given.
    pub fn port(&self) -> Option<u16> {
        self.sent()?.port
    }

    /// The Via parameters.
    pub fn params(&self) -> Params<'a> {
        Params::new(&self.raw[self.params_at..])
    }

    /// The first parameter called `name` (case-insensitive).
    pub fn param(&self, name: &str) -> Option<Param<'a>> {
        self.params().get(name)
    }

    /// The `branch` parameter: the transaction id (RFC 3261 17.2.3).
    pub fn branch(&self) -> Option<&'a str> {
        self.params().value("branch")
    }
}

/// The Event header (RFC 6665 8.2.1): event package and parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event<'a> {
    /// The event package (`refer`, `conference`, `presence.winfo`).
    pub event_type: &'a str,
    params: &'a [u8],
}

impl<'a> Event<'a> {
    /// `None` when the value does not start with a token.
    pub fn parse(value: &'a [u8]) -> Option<Event<'a>> {
        let (ty, rest) = token(value);
        if ty.is_empty() {
            return None;
        }
        Some(Event {
            event_type: as_str(ty)?,
            params: rest,
        })
    }

    /// The event parameters (`;id=17`).
    pub fn params(&self) -> Params<'a> {
        Params::new(self.params)
    }

    /// The first parameter called `name` (case-insensitive).
    pub fn param(&self, name: &str) -> Option<Param<'a>> {
        self.params().get(name)
    }

    /// The `id` parameter, which tells subscriptions of one dialog apart
    /// (for `refer`, the REFER's CSeq number).
    pub fn id(&self) -> Option<&'a str> {
        self.params().value("id")
    }
}

/// The Subscription-State header (RFC 6665 8.2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscriptionState<'a> {
    /// `active`, `pending`, `terminated` or an extension, as written.
    pub state: &'a str,
    params: &'a [u8],
}

impl<'a> SubscriptionState<'a> {
    /// `None` when the value does not start with a token.
    pub fn parse(value: &'a [u8]) -> Option<SubscriptionState<'a>> {
        let (st, rest) = token(value);
        if st.is_empty() {
            return None;
        }
        Some(SubscriptionState {
            state: as_str(st)?,
            params: rest,
        })
    }

    /// The parameters (`;expires=600`, `;reason=noresource`).
    pub fn params(&self) -> Params<'a> {
        Params::new(self.params)
    }

    /// The first parameter called `name` (case-insensitive).
    pub fn param(&self, name: &str) -> Option<Param<'a>> {
        self.params().get(name)
    }

    /// The `expires` parameter in seconds.
    pub fn expires(&self) -> Option<u32> {
        parse_u32(self.params().value("expires")?.as_bytes())
    }

    /// The `reason` parameter.
    pub fn reason(&self) -> Option<&'a str> {
        self.params().value("reason")
    }
}

/// The Content-Type header: media type, subtype and parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentType<'a> {
    /// The type as written (`application`).
    pub media_type: &'a str,
    /// The subtype as written (`sdp`, `sipfrag`).
    pub subtype: &'a str,
    params: &'a [u8],
}

impl<'a> ContentType<'a> {
    /// `None` unless the value is `token / token` (white space allowed
    /// around the slash).
    pub fn parse(value: &'a [u8]) -> Option<ContentType<'a>> {
        let (ty, rest) = token(value);
        let rest = expect(rest, b'/')?;
        let (sub, rest) = token(rest);
        if ty.is_empty() || sub.is_empty() {
            return None;
        }
        Some(ContentType {
            media_type: as_str(ty)?,
            subtype: as_str(sub)?,
            params: rest,
        })
    }

    /// True when this is `mime` (`"message/sipfrag"`), ignoring case.
    pub fn is(&self, mime: &str) -> bool {
        mime.split_once('/').is_some_and(|(t, s)| {
            self.media_type.eq_ignore_ascii_case(t) && self.subtype.eq_ignore_ascii_case(s)
        })
    }

    /// The parameters (`;boundary=...`, `;charset=...`).
    pub fn params(&self) -> Params<'a> {
        Params::new(self.params)
    }

    /// The first parameter called `name` (case-insensitive).
    pub fn param(&self, name: &str) -> Option<Param<'a>> {
        self.params().get(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cseq_forms() {
        assert_eq!(
            CSeq::parse(b"0009\r\n  INVITE"),
            Some(CSeq {
                number: 9,
                method: "INVITE"
            })
        );
        assert_eq!(CSeq::parse(b"36893488147419103232 REGISTER"), None);
        assert_eq!(CSeq::parse(b"1INVITE"), None);
        assert_eq!(CSeq::parse(b"1 INVITE x"), None);
        assert_eq!(CSeq::parse(b"INVITE"), None);
        assert_eq!(CSeq::parse(b"1 "), None);
    }

    #[test]
    fn via_forms() {
        let v = Via::parse(b"SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;branch=390skdjuw");
        assert_eq!(v.protocol(), Some(("SIP", "2.0")));
        assert_eq!(v.transport(), Some("UDP"));
        assert_eq!(v.host(), Some("192.0.2.2"));
        assert_eq!(v.branch(), Some("390skdjuw"));
        let v = Via::parse(b"SIP/2.0/TCP [2001:db8::9]:5061;branch=z9hG4bKx;rport");
        assert_eq!(v.host(), Some("[2001:db8::9]"));
        assert_eq!(v.port(), Some(5061));
        assert!(v.param("rport").is_some());
        let v = Via::parse(b"SIP/2.0/UDP iftgw.example.com");
        assert_eq!(v.host(), Some("iftgw.example.com"));
        assert_eq!(v.branch(), None);
        let v = Via::parse(b";");
        assert_eq!(v.transport(), None);
        assert_eq!(v.host(), None);
    }

    #[test]
    fn event_state_type() {
        let e = Event::parse(b"refer;id=93809824").unwrap();
        assert_eq!(e.event_type, "refer");
        assert_eq!(e.id(), Some("93809824"));
        let s = SubscriptionState::parse(b"terminated;reason=noresource").unwrap();
        assert_eq!(s.state, "terminated");
        assert_eq!(s.reason(), Some("noresource"));
        let s = SubscriptionState::parse(b"active ; expires = 600").unwrap();
        assert_eq!(s.expires(), Some(600));
        let c = ContentType::parse(b"multipart/mixed;boundary=7a9cbec02ceef655").unwrap();
        assert!(c.is("Multipart/Mixed"));
        assert_eq!(c.param("boundary").unwrap().value, Some("7a9cbec02ceef655"));
        assert!(
            ContentType::parse(b"application / sdp")
                .unwrap()
                .is("application/sdp")
        );
        assert!(ContentType::parse(b"sdp").is_none());
    }
}
