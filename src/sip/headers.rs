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
    /// A header this module has no use for; compared by name.
    Other,
    /// `Accept-Contact` (compact `a`), a comma list.
    AcceptContact,
    /// `Allow-Events` (compact `u`), a comma list.
    AllowEvents,
    /// `Authorization`.
    Authorization,
    /// `Call-ID` (compact `i`).
    CallId,
    /// `Contact` (compact `m`), a comma list.
    Contact,
    /// `Content-Encoding` (compact `e`), a comma list.
    ContentEncoding,
    /// `Content-Length` (compact `l`).
    ContentLength,
    /// `Content-Type` (compact `c`).
    ContentType,
    /// `CSeq`.
    CSeq,
    /// `Date`.
    Date,
    /// `Event` (compact `o`).
    Event,
    /// `Expires`.
    Expires,
    /// `From` (compact `f`).
    From,
    /// `Identity` (compact `y`).
    Identity,
    /// `Identity-Info` (compact `n`).
    IdentityInfo,
    /// `Max-Forwards`.
    MaxForwards,
    /// `Proxy-Authenticate`.
    ProxyAuthenticate,
    /// `Proxy-Authorization`.
    ProxyAuthorization,
    /// `Refer-To` (compact `r`).
    ReferTo,
    /// `Referred-By` (compact `b`).
    ReferredBy,
    /// `Reject-Contact` (compact `j`), a comma list.
    RejectContact,
    /// `Replaces`.
    Replaces,
    /// `Request-Disposition` (compact `d`), a comma list.
    RequestDisposition,
    /// `Retry-After`.
    RetryAfter,
    /// `Server`.
    Server,
    /// `Session-Expires` (compact `x`).
    SessionExpires,
    /// `Subject` (compact `s`).
    Subject,
    /// `Subscription-State`.
    SubscriptionState,
    /// `Supported` (compact `k`), a comma list.
    Supported,
    /// `To` (compact `t`).
    To,
    /// `User-Agent`.
    UserAgent,
    /// `Via` (compact `v`), a comma list.
    Via,
    /// `WWW-Authenticate`.
    WwwAuthenticate,
    /// `Accept`, a comma list.
    Accept,
    /// `Allow`, a comma list.
    Allow,
    /// `Path`, a comma list.
    Path,
    /// `P-Asserted-Identity`, a comma list.
    PAssertedIdentity,
    /// `P-Preferred-Identity`, a comma list.
    PPreferredIdentity,
    /// `Proxy-Require`, a comma list.
    ProxyRequire,
    /// `Reason`, a comma list.
    Reason,
    /// `Record-Route`, a comma list.
    RecordRoute,
    /// `Require`, a comma list.
    Require,
    /// `Route`, a comma list.
    Route,
    /// `Service-Route`, a comma list.
    ServiceRoute,
    /// `Unsupported`, a comma list.
    Unsupported,
    /// `Warning`, a comma list.
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

/// The table slot of a name's shape: length (below 32), and the low five
/// bits of its first and last bytes (which tell letters apart whatever
/// their case).
#[inline]
const fn shape(len: usize, first: u8, last: u8) -> usize {
    ((len & 31) << 10) | (((first & 31) as usize) << 5) | (last & 31) as usize
}

/// Shape → 1 + index in `KNOWN` of the one long name of that shape (0:
/// none). Every long name has its own shape (checked when the table is
/// built), so a lookup is one load and one compare.
const fn shape_table() -> [u8; 32 * 32 * 32] {
    let mut t = [0u8; 32 * 32 * 32];
    let mut i = 0;
    while i < KNOWN.len() {
        let name = KNOWN[i].1.as_bytes();
        assert!(name.len() > 1 && name.len() < 32);
        let at = shape(name.len(), name[0], name[name.len() - 1]);
        assert!(t[at] == 0, "two header names share a shape");
        t[at] = (i + 1) as u8;
        i += 1;
    }
    t
}

static SHAPES: [u8; 32 * 32 * 32] = shape_table();

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

/// Per kind: the canonical name in lower case and a mask with 0x20 at its
/// letters, both zero-padded to 24 bytes (the longest name has 20).
const fn folded_table() -> [([u8; 24], [u8; 24]); 64] {
    let mut t = [([0u8; 24], [0u8; 24]); 64];
    let mut i = 0;
    while i < KNOWN.len() {
        let name = KNOWN[i].1.as_bytes();
        let slot = KNOWN[i].0 as usize;
        let mut j = 0;
        while j < name.len() {
            t[slot].0[j] = name[j].to_ascii_lowercase();
            if name[j].is_ascii_alphabetic() {
                t[slot].1[j] = 0x20;
            }
            j += 1;
        }
        i += 1;
    }
    t
}

static FOLDED: [([u8; 24], [u8; 24]); 64] = folded_table();

/// `name` equals `lower` when case is folded at the `mask` positions;
/// compared in two or three (overlapping) loads instead of a byte loop.
#[inline]
fn folded_eq(name: &[u8], lower: &[u8; 24], mask: &[u8; 24]) -> bool {
    fn w8(b: &[u8], at: usize) -> u64 {
        b.get(at..at + 8)
            .and_then(|s| s.first_chunk::<8>())
            .map_or(u64::MAX, |c| u64::from_le_bytes(*c))
    }
    fn w4(b: &[u8], at: usize) -> u64 {
        b.get(at..at + 4)
            .and_then(|s| s.first_chunk::<4>())
            .map_or(u64::MAX, |c| u64::from(u32::from_le_bytes(*c)))
    }
    fn w2(b: &[u8], at: usize) -> u64 {
        b.get(at..at + 2)
            .and_then(|s| s.first_chunk::<2>())
            .map_or(u64::MAX, |c| u64::from(u16::from_le_bytes(*c)))
    }
    let n = name.len();
    let same = |load: fn(&[u8], usize) -> u64, at: usize| {
        (load(name, at) | load(mask, at)) == load(lower, at)
    };
    match n {
        1 => (name[0] | mask[0]) == lower[0],
        2..=3 => same(w2, 0) && same(w2, n - 2),
        4..=7 => same(w4, 0) && same(w4, n - 4),
        8..=16 => same(w8, 0) && same(w8, n - 8),
        17..=24 => same(w8, 0) && same(w8, 8) && same(w8, n - 8),
        _ => false,
    }
}

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
        // Length, first and last letter pick at most one candidate, so a
        // lookup is one load and one comparison (the unit test checks
        // every name).
        let (Some(&first), Some(&last)) = (name.first(), name.last()) else {
            return K::Other;
        };
        if name.len() >= 32 {
            return K::Other;
        }
        let Some(&(kind, ..)) = SHAPES[shape(name.len(), first, last)]
            .checked_sub(1)
            .and_then(|i| KNOWN.get(usize::from(i)))
        else {
            return K::Other;
        };
        // The candidate has the name's length; the bytes are compared a
        // word at a time, with overlapping loads at the end.
        let (lower, mask) = &FOLDED[kind as usize];
        if folded_eq(name, lower, mask) {
            kind
        } else {
            K::Other
        }
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
        // Folding only touches letters: no '-' / CR or '@' / '`' confusion.
        assert_eq!(HeaderKind::of(b"Call\rID"), K::Other);
        assert_eq!(HeaderKind::of(b"Call-I@"), K::Other);
        assert_eq!(HeaderKind::of(b"cALL-iD"), K::CallId);
        assert_eq!(HeaderKind::of(b"Contact\0"), K::Other);
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
        // Every position of every name counts: one byte changed anywhere
        // (to anything but its other case) makes the name unknown.
        for &(_, canon, _, _) in KNOWN {
            let name = canon.as_bytes();
            for i in 0..name.len() {
                for b in [b'#', b'x', b'Q', b'0', 0x80] {
                    if b.eq_ignore_ascii_case(&name[i]) {
                        continue;
                    }
                    let mut m = name.to_vec();
                    m[i] = b;
                    assert_eq!(HeaderKind::of(&m), K::Other, "{canon} byte {i}");
                }
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
