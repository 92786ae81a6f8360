//! Header names (long, compact, any case) and header values.
//!
//! A message's headers are indexed once as spans (see `message.rs`); the
//! types here give typed meaning to a name and zero-copy access to a value.

use std::borrow::Cow;

use super::addr::NameAddr;
use super::lex::{CommaSplit, as_str, is_lws};

/// A header name the parser knows, so that lookups by long or compact name
/// (`Call-ID` = `i`, `Refer-To` = `r`) and by any letter case are one byte
/// compare. Everything else is [`HeaderKind::Other`] and is compared by
/// name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HeaderKind {
    Other,
    AcceptContact,
    AllowEvents,
    Authorization,
    CallId,
    Contact,
    ContentEncoding,
    ContentLength,
    ContentType,
    CSeq,
    Date,
    Event,
    Expires,
    From,
    Identity,
    IdentityInfo,
    MaxForwards,
    ProxyAuthenticate,
    ProxyAuthorization,
    ReferTo,
    ReferredBy,
    RejectContact,
    Replaces,
    RequestDisposition,
    RetryAfter,
    Server,
    SessionExpires,
    Subject,
    SubscriptionState,
    Supported,
    To,
    UserAgent,
    Via,
    WwwAuthenticate,
    // Comma-list headers with no compact form.
    Accept,
    Allow,
    Path,
    PAssertedIdentity,
    PPreferredIdentity,
    ProxyRequire,
    Reason,
    RecordRoute,
    Require,
    Route,
    ServiceRoute,
    Unsupported,
    Warning,
}

use HeaderKind as K;

/// (kind, canonical name, compact form, value is a comma list).
const KNOWN: &[(HeaderKind, &str, Option<u8>, bool)] = &[
    (K::AcceptContact, "Accept-Contact", Some(b'a'), true),
    (K::AllowEvents, "Allow-Events", Some(b'u'), true),
    (K::Authorization, "Authorization", None, false),
    (K::CallId, "Call-ID", Some(b'i'), false),
    (K::Contact, "Contact", Some(b'm'), true),
    (K::ContentEncoding, "Content-Encoding", Some(b'e'), true),
    (K::ContentLength, "Content-Length", Some(b'l'), false),
    (K::ContentType, "Content-Type", Some(b'c'), false),
    (K::CSeq, "CSeq", None, false),
    (K::Date, "Date", None, false),
    (K::Event, "Event", Some(b'o'), false),
    (K::Expires, "Expires", None, false),
    (K::From, "From", Some(b'f'), false),
    (K::Identity, "Identity", Some(b'y'), false),
    (K::IdentityInfo, "Identity-Info", Some(b'n'), false),
    (K::MaxForwards, "Max-Forwards", None, false),
    (K::ProxyAuthenticate, "Proxy-Authenticate", None, false),
    (K::ProxyAuthorization, "Proxy-Authorization", None, false),
    (K::ReferTo, "Refer-To", Some(b'r'), false),
    (K::ReferredBy, "Referred-By", Some(b'b'), false),
    (K::RejectContact, "Reject-Contact", Some(b'j'), true),
    (K::Replaces, "Replaces", None, false),
    (
        K::RequestDisposition,
        "Request-Disposition",
        Some(b'd'),
        true,
    ),
    (K::RetryAfter, "Retry-After", None, false),
    (K::Server, "Server", None, false),
    (K::SessionExpires, "Session-Expires", Some(b'x'), false),
    (K::Subject, "Subject", Some(b's'), false),
    (K::SubscriptionState, "Subscription-State", None, false),
    (K::Supported, "Supported", Some(b'k'), true),
    (K::To, "To", Some(b't'), false),
    (K::UserAgent, "User-Agent", None, false),
    (K::Via, "Via", Some(b'v'), true),
    (K::WwwAuthenticate, "WWW-Authenticate", None, false),
    (K::Accept, "Accept", None, true),
    (K::Allow, "Allow", None, true),
    (K::Path, "Path", None, true),
    (K::PAssertedIdentity, "P-Asserted-Identity", None, true),
    (K::PPreferredIdentity, "P-Preferred-Identity", None, true),
    (K::ProxyRequire, "Proxy-Require", None, true),
    (K::Reason, "Reason", None, true),
    (K::RecordRoute, "Record-Route", None, true),
    (K::Require, "Require", None, true),
    (K::Route, "Route", None, true),
    (K::ServiceRoute, "Service-Route", None, true),
    (K::Unsupported, "Unsupported", None, true),
    (K::Warning, "Warning", None, true),
];

/// Lower-case compact letter → kind, for `a`..`y`.
const fn compact_table() -> [HeaderKind; 26] {
    let mut t = [K::Other; 26];
    let mut i = 0;
    while i < KNOWN.len() {
        if let Some(c) = KNOWN[i].2 {
            t[(c - b'a') as usize] = KNOWN[i].0;
        }
        i += 1;
    }
    t
}

static COMPACT: [HeaderKind; 26] = compact_table();

/// Kind → index in `KNOWN` (`usize::MAX` for `Other`).
const fn index_table() -> [usize; 64] {
    let mut t = [usize::MAX; 64];
    let mut i = 0;
    while i < KNOWN.len() {
        t[KNOWN[i].0 as usize] = i;
        i += 1;
    }
    t
}

static INDEX: [usize; 64] = index_table();

impl HeaderKind {
    /// The kind of a header name as written (long or compact, any case).
    pub fn of(name: &[u8]) -> HeaderKind {
        if name.len() == 1 {
            let c = name[0].to_ascii_lowercase();
            return if c.is_ascii_lowercase() {
                COMPACT[(c - b'a') as usize]
            } else {
                K::Other
            };
        }
        // Candidates by length, so that a lookup is one or a few compares.
        let candidates: &[HeaderKind] = match name.len() {
            2 => &[K::To],
            3 => &[K::Via],
            4 => &[K::CSeq, K::From, K::Date, K::Path],
            5 => &[K::Event, K::Route, K::Allow],
            6 => &[K::Accept, K::Server, K::Reason],
            7 => &[
                K::CallId,
                K::Contact,
                K::Expires,
                K::Subject,
                K::Require,
                K::Warning,
            ],
            8 => &[K::ReferTo, K::Identity, K::Replaces],
            9 => &[K::Supported],
            10 => &[K::UserAgent],
            11 => &[K::ReferredBy, K::RetryAfter, K::Unsupported],
            12 => &[
                K::ContentType,
                K::MaxForwards,
                K::RecordRoute,
                K::AllowEvents,
            ],
            13 => &[
                K::Authorization,
                K::IdentityInfo,
                K::ProxyRequire,
                K::ServiceRoute,
            ],
            14 => &[K::ContentLength, K::AcceptContact, K::RejectContact],
            15 => &[K::SessionExpires],
            16 => &[K::ContentEncoding, K::WwwAuthenticate],
            18 => &[K::SubscriptionState, K::ProxyAuthenticate],
            19 => &[
                K::PAssertedIdentity,
                K::RequestDisposition,
                K::ProxyAuthorization,
            ],
            20 => &[K::PPreferredIdentity],
            _ => return K::Other,
        };
        for &kind in candidates {
            if kind
                .canonical()
                .is_some_and(|c| c.as_bytes().eq_ignore_ascii_case(name))
            {
                return kind;
            }
        }
        K::Other
    }

    fn entry(self) -> Option<&'static (HeaderKind, &'static str, Option<u8>, bool)> {
        KNOWN.get(*INDEX.get(self as usize)?)
    }

    /// The canonical long name (`None` for [`HeaderKind::Other`]).
    pub fn canonical(self) -> Option<&'static str> {
        self.entry().map(|e| e.1)
    }

    /// The compact form letter, if the header has one.
    pub fn compact(self) -> Option<char> {
        self.entry().and_then(|e| e.2).map(char::from)
    }

    /// True when RFC grammar makes the value a comma-separated list, so
    /// that several values may share one header line. Unknown headers are
    /// not lists: a comma in them is left alone (split them explicitly
    /// with [`HeaderValue::list`]).
    pub fn is_list(self) -> bool {
        self.entry().is_some_and(|e| e.3)
    }
}

/// One header line (with its continuation lines) as indexed by the parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) name: (u32, u32),
    pub(crate) value: (u32, u32),
    pub(crate) kind: HeaderKind,
}

/// One header field of a message: its name as written and its whole value
/// (all comma-joined values, continuation lines included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    name: &'a [u8],
    value: &'a [u8],
    kind: HeaderKind,
}

impl<'a> Header<'a> {
    pub(crate) fn new(data: &'a [u8], e: &Entry) -> Header<'a> {
        let span = |(a, b): (u32, u32)| data.get(a as usize..b as usize).unwrap_or_default();
        Header {
            name: span(e.name),
            value: span(e.value),
            kind: e.kind,
        }
    }

    /// The name as written (`v`, `VIA`, `X-Foo`); lossy when not UTF-8.
    pub fn name(&self) -> Cow<'a, str> {
        String::from_utf8_lossy(self.name)
    }

    /// The name's kind (long and compact names share one).
    pub fn kind(&self) -> HeaderKind {
        self.kind
    }

    /// The whole value, unsplit.
    pub fn value(&self) -> HeaderValue<'a> {
        HeaderValue(self.value)
    }

    /// The values of this line: split on commas when the header is a list
    /// ([`HeaderKind::is_list`]), else the one whole value.
    pub fn values(&self) -> Values<'a> {
        Values::new(self.value, self.kind.is_list())
    }

    /// True when this header is called `name` (long or compact form, any
    /// letter case).
    pub fn is(&self, name: &str) -> bool {
        let kind = HeaderKind::of(name.as_bytes());
        if kind == K::Other {
            self.kind == K::Other && self.name.eq_ignore_ascii_case(name.as_bytes())
        } else {
            self.kind == kind
        }
    }
}

/// One header value (or one element of a comma list), borrowed from the
/// message.
///
/// Values are bytes on the wire; this type decides how they become text:
/// [`as_str`](Self::as_str) is zero-copy when the bytes are UTF-8,
/// [`text`](Self::text) always succeeds (folding unfolded, invalid UTF-8
/// replaced by U+FFFD) and borrows unless it had to change something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderValue<'a>(pub(crate) &'a [u8]);

impl<'a> HeaderValue<'a> {
    /// The raw bytes (continuation line breaks included, outer white space
    /// trimmed).
    pub fn as_bytes(&self) -> &'a [u8] {
        self.0
    }

    /// The value as written when it is UTF-8 (line breaks of folded lines
    /// included).
    pub fn as_str(&self) -> Option<&'a str> {
        as_str(self.0)
    }

    /// The value as text: every folded line break with its surrounding
    /// white space becomes one space; invalid UTF-8 is replaced.
    pub fn text(&self) -> Cow<'a, str> {
        let v = self.0;
        if memchr::memchr2(b'\r', b'\n', v).is_none() {
            return String::from_utf8_lossy(v);
        }
        let mut out = Vec::with_capacity(v.len());
        let mut i = 0;
        while i < v.len() {
            if v[i] == b'\r' || v[i] == b'\n' {
                while out.last().is_some_and(|&c| c == b' ' || c == b'\t') {
                    out.pop();
                }
                while i < v.len() && is_lws(v[i]) {
                    i += 1;
                }
                out.push(b' ');
            } else {
                out.push(v[i]);
                i += 1;
            }
        }
        Cow::Owned(String::from_utf8_lossy(&out).into_owned())
    }

    /// The value split on top-level commas (outside quotes and `<>`).
    pub fn list(&self) -> Values<'a> {
        Values::new(self.0, true)
    }

    /// The value read as an address (`name-addr` or `addr-spec`).
    pub fn name_addr(&self) -> Option<NameAddr<'a>> {
        NameAddr::parse(self.0)
    }
}

/// The values of one header line: each comma-separated element, or the
/// whole value.
#[derive(Debug, Clone)]
pub struct Values<'a> {
    inner: ValuesInner<'a>,
}

#[derive(Debug, Clone)]
enum ValuesInner<'a> {
    Split(CommaSplit<'a>),
    Whole(Option<&'a [u8]>),
}

impl<'a> Values<'a> {
    fn new(v: &'a [u8], split: bool) -> Values<'a> {
        Values {
            inner: if split {
                ValuesInner::Split(CommaSplit::new(v))
            } else {
                ValuesInner::Whole(Some(v))
            },
        }
    }
}

impl<'a> Iterator for Values<'a> {
    type Item = HeaderValue<'a>;

    fn next(&mut self) -> Option<HeaderValue<'a>> {
        match &mut self.inner {
            ValuesInner::Split(s) => s.next().map(HeaderValue),
            ValuesInner::Whole(w) => w.take().map(HeaderValue),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_compact_and_case() {
        for (names, kind) in [
            (&["Call-ID", "call-id", "CALL-ID", "i", "I"][..], K::CallId),
            (&["Via", "vIa", "v", "V"][..], K::Via),
            (&["Refer-To", "r"][..], K::ReferTo),
            (&["Event", "o"][..], K::Event),
            (&["Content-Length", "l", "L"][..], K::ContentLength),
            (&["Allow-Events", "u"][..], K::AllowEvents),
            (&["Session-Expires", "x"][..], K::SessionExpires),
            (&["Identity", "y"][..], K::Identity),
            (&["Accept-Contact", "a"][..], K::AcceptContact),
            (&["Referred-By", "b"][..], K::ReferredBy),
            (&["Request-Disposition", "d"][..], K::RequestDisposition),
            (&["Reject-Contact", "j"][..], K::RejectContact),
            (&["Supported", "k"][..], K::Supported),
            (&["Subject", "s"][..], K::Subject),
            (&["Content-Encoding", "e"][..], K::ContentEncoding),
            (&["Content-Type", "c"][..], K::ContentType),
            (&["From", "f"][..], K::From),
            (&["To", "t"][..], K::To),
            (&["Contact", "m"][..], K::Contact),
        ] {
            for n in names {
                assert_eq!(HeaderKind::of(n.as_bytes()), kind, "{n}");
            }
        }
        assert_eq!(HeaderKind::of(b"C%6Fntact"), K::Other);
        assert_eq!(HeaderKind::of(b"z"), K::Other);
        assert_eq!(HeaderKind::of(b"1"), K::Other);
        assert_eq!(HeaderKind::of(b""), K::Other);
        for &(kind, canon, compact, _) in KNOWN {
            assert_eq!(HeaderKind::of(canon.as_bytes()), kind, "{canon}");
            assert_eq!(HeaderKind::of(canon.to_lowercase().as_bytes()), kind);
            if let Some(c) = compact {
                assert_eq!(HeaderKind::of(&[c]), kind, "{canon}");
            }
        }
        assert_eq!(K::ReferTo.compact(), Some('r'));
        assert_eq!(K::CallId.canonical(), Some("Call-ID"));
        assert_eq!(K::Other.canonical(), None);
    }

    #[test]
    fn text_unfolds() {
        let v = HeaderValue(b"newfangled value\r\n continued newfangled value");
        assert_eq!(v.text(), "newfangled value continued newfangled value");
        let v = HeaderValue(b"a \r\n\t b");
        assert_eq!(v.text(), "a b");
        assert!(matches!(
            HeaderValue(b"plain").text(),
            Cow::Borrowed("plain")
        ));
        assert_eq!(HeaderValue(b"caf\xe9").text(), "caf\u{fffd}");
        assert_eq!(HeaderValue(b"caf\xe9").as_str(), None);
    }
}
