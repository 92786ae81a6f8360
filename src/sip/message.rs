//! The zero-copy message view and its parser.

use std::borrow::Cow;
use std::fmt;

use super::addr::NameAddr;
use super::anomalies::Anomalies;
use super::detect::{self, Start, StartError};
use super::headers::{Entry, Header, HeaderKind, HeaderValue};
use super::lex::{ByteFinder, METHODS, as_str, is_lws, is_token, parse_len, trim, trim_end};
use super::uri::Uri;
use super::values::{CSeq, ContentType, Event, SubscriptionState, Via};

/// Why bytes could not be read as a SIP message at all.
///
/// Lesser defects do not fail the parse: they are [`Anomalies`] of a
/// message that is still returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// No SIP start line: the payload is something else (not reported).
    NotSip,
    /// The payload starts like SIP (a SIP method, `SIP/`, or a line ending
    /// in `SIP/x.y`) but its start line breaks the grammar; the text says
    /// how. Worth a problem report.
    BadStartLine(&'static str),
    /// More than 4 GiB: offsets are 32-bit.
    TooLarge,
}

impl ParseError {
    /// True when the bytes were meant to be SIP, so the failure is worth
    /// reporting as a malformed message.
    pub fn is_malformed_sip(&self) -> bool {
        !matches!(self, ParseError::NotSip)
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::NotSip => f.write_str("not a SIP message"),
            ParseError::BadStartLine(why) => write!(f, "malformed SIP start line: {why}"),
            ParseError::TooLarge => f.write_str("SIP message larger than 4 GiB"),
        }
    }
}

impl std::error::Error for ParseError {}

/// A reusable parser: holds the header index buffer so that parsing a
/// stream of messages allocates nothing once the buffer has grown.
#[derive(Debug, Default)]
pub struct Parser {
    entries: Vec<Entry>,
}

impl Parser {
    /// A parser with an empty index buffer.
    pub fn new() -> Parser {
        Parser::default()
    }

    /// Parses one message; the view borrows both `data` and this parser.
    pub fn parse<'a>(&'a mut self, data: &'a [u8]) -> Result<Message<'a>, ParseError> {
        self.entries.clear();
        let layout = index(data, &mut self.entries)?;
        Ok(Message::new(data, layout, Cow::Borrowed(&self.entries)))
    }
}

/// The header section at the front of a stream's pending bytes, indexed
/// once: the framer reads its Content-Length and plausibility from this
/// index, and the framed message keeps it (nothing is scanned twice).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Head {
    layout: Layout,
    /// Bytes from the data's start to the end of the empty line.
    pub(crate) len: usize,
    /// A Call-ID or CSeq header is present and every header line is
    /// `token: value`.
    pub(crate) plausible: bool,
}

/// How a header section's Content-Length reads, for framing a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamLength {
    Missing,
    /// Not a decimal number.
    Invalid,
    Value(u32),
    /// Several values that disagree: the first.
    Conflict(u32),
}

impl Head {
    /// The Content-Length as a stream reads it.
    pub(crate) fn length(&self) -> StreamLength {
        let a = self.layout.anomalies;
        match self.layout.content_length {
            _ if a.contains(Anomalies::BAD_CONTENT_LENGTH) => StreamLength::Invalid,
            None => StreamLength::Missing,
            Some(n) if a.contains(Anomalies::CONFLICTING_CONTENT_LENGTH) => {
                StreamLength::Conflict(n)
            }
            Some(n) => StreamLength::Value(n),
        }
    }
}

/// The first Content-Length value among `entries` (a message's index over
/// `data`), as written: the digits, however many.
fn content_length_text<'a>(data: &'a [u8], entries: &[Entry]) -> Option<&'a [u8]> {
    let e = entries
        .iter()
        .find(|e| matches!(e.kind, HeaderKind::ContentLength))?;
    data.get(e.value.0 as usize..e.value.1 as usize).map(trim)
}

/// Longest part of a Content-Length value quoted in a problem text.
const QUOTED_LENGTH: usize = 40;

/// A Content-Length value as written, for a problem text: escaped, and
/// past [`QUOTED_LENGTH`] bytes cut, with the length said (an absurd value
/// can be thousands of digits). The parsed number saturates at
/// `u32::MAX`, so 2^32, 2^64-1 and 10^23 would all read 4294967295.
pub(crate) fn quote_length(value: &[u8]) -> String {
    let shown = &value[..value.len().min(QUOTED_LENGTH)];
    let mut text = shown.escape_ascii().to_string();
    if value.len() > QUOTED_LENGTH {
        text.push_str(&format!("... ({} bytes)", value.len()));
    }
    text
}

impl Parser {
    /// The first Content-Length value of the head last indexed (by
    /// [`Parser::parse_head`] over `data`), as written.
    pub(crate) fn content_length_text<'a>(&self, data: &'a [u8]) -> Option<&'a [u8]> {
        content_length_text(data, &self.entries)
    }

    /// Indexes the message that begins `data` (a stream's pending bytes,
    /// which may hold more messages or end inside this one) up to the end
    /// of its header section. `Ok(None)`: the section is not complete yet.
    pub(crate) fn parse_head(&mut self, data: &[u8]) -> Result<Option<Head>, ParseError> {
        self.entries.clear();
        let layout = index(data, &mut self.entries)?;
        let len = layout.body.0 as usize;
        let complete = !layout.anomalies.contains(Anomalies::NO_EMPTY_LINE)
            && len <= data.len()
            && len > 0
            && data[len - 1] == b'\n';
        if !complete {
            return Ok(None);
        }
        let plausible = !layout.anomalies.contains(Anomalies::BAD_HEADER_LINE)
            && self
                .entries
                .iter()
                .any(|e| matches!(e.kind, HeaderKind::CallId | HeaderKind::CSeq));
        Ok(Some(Head {
            layout,
            len,
            plausible,
        }))
    }

    /// The message `data[..total]` whose header section the last
    /// [`Parser::parse_head`] indexed as `head`: its body is what follows
    /// the empty line up to `total`, as a stream's framing decided.
    pub(crate) fn framed<'a>(&'a self, data: &'a [u8], head: Head, total: usize) -> Message<'a> {
        let mut layout = head.layout;
        let total = total.clamp(head.len, data.len());
        layout.body.1 = total as u32;
        layout.anomalies = layout.anomalies.without(Anomalies::BODY_TRUNCATED);
        Message::new(&data[..total], layout, Cow::Borrowed(&self.entries))
    }
}

/// Parses one message, allocating its header index. For a loop over many
/// messages use a [`Parser`], which reuses that allocation.
pub fn parse(data: &[u8]) -> Result<Message<'_>, ParseError> {
    let mut entries = Vec::new();
    let layout = index(data, &mut entries)?;
    Ok(Message::new(data, layout, Cow::Owned(entries)))
}

/// Where the parts of a message are.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Layout {
    start: Start,
    line_start: u32,
    body: (u32, u32),
    content_length: Option<u32>,
    anomalies: Anomalies,
    /// The first Call-ID line's value span, and [`call_id_key`] of its
    /// bytes when they are not empty (hashed while they are at hand, so
    /// that correlating a message need not read them again).
    call_id: Option<(u32, u32)>,
    call_id_key: Option<u64>,
    /// A request's method, found while indexing.
    method: Option<MethodAt>,
    /// The first CSeq line, parsed while indexing: every message's CSeq is
    /// read, and its bytes are at hand then; the parse travels with the
    /// message (to another thread) and the bytes are not read again.
    cseq: Option<CSeqAt>,
}

/// A parsed CSeq, as offsets.
#[derive(Debug, Clone, Copy)]
struct CSeqAt {
    number: u32,
    method: MethodAt,
}

/// Where a method name is: a standard one by its index in
/// [`METHODS`], any other by its span.
#[derive(Debug, Clone, Copy)]
enum MethodAt {
    Standard(u8),
    At(u32, u32),
}

impl MethodAt {
    /// Where the method name `name` (a slice of `data`, or a standard name)
    /// is.
    fn of(data: &[u8], name: &[u8]) -> Option<MethodAt> {
        match METHODS.iter().position(|&m| m.as_bytes() == name) {
            Some(i) => Some(MethodAt::Standard(i as u8)),
            None => {
                let at = (name.as_ptr() as usize).checked_sub(data.as_ptr() as usize)?;
                Some(MethodAt::At(at as u32, (at + name.len()) as u32))
            }
        }
    }

    /// The name, without a UTF-8 check for a standard one.
    fn read(self, data: &[u8]) -> Option<&str> {
        match self {
            MethodAt::Standard(i) => METHODS.get(usize::from(i)).copied(),
            MethodAt::At(a, b) => as_str(data.get(a as usize..b as usize)?),
        }
    }
}

/// The fingerprint later stages correlate messages by: a 64-bit hash of a
/// Call-ID's bytes. [`Message::call_id_key`] gives it for a message without
/// reading the bytes again.
pub fn call_id_key(call_id: &[u8]) -> u64 {
    use std::hash::Hasher;
    let mut h = rustc_hash::FxHasher::default();
    h.write(call_id);
    h.write_u8(0xff);
    h.finish()
}

impl CSeqAt {
    /// The first CSeq of `entries` (a message's), if it parses.
    fn of(data: &[u8], e: &Entry) -> Option<CSeqAt> {
        let value = Header::new(data, e).value().as_bytes();
        // As `CSeq::parse`: the method is a token, so it reads as text.
        let (number, method) = CSeq::split(value)?;
        Some(CSeqAt {
            number,
            method: MethodAt::of(data, method)?,
        })
    }
}

/// Indexes the start line and header lines of `data` into `entries`.
fn index(data: &[u8], entries: &mut Vec<Entry>) -> Result<Layout, ParseError> {
    if u32::try_from(data.len()).is_err() {
        return Err(ParseError::TooLarge);
    }
    let sl = detect::start_line(data, detect::skip_line_breaks(data)).map_err(|e| match e {
        StartError::NotSip => ParseError::NotSip,
        StartError::Malformed(why) => ParseError::BadStartLine(why),
    })?;
    let n = data.len();
    let first_entry = entries.len();
    let mut anomalies = Anomalies::default();
    let mut pos = sl.next;
    // One LF search over the header section: each line consumes the LF
    // that ends it, so the iterator stays in step with `pos`.
    let line_feeds = ByteFinder::new(b'\n');
    let colons = ByteFinder::new(b':');
    let mut lfs = line_feeds.iter(data.get(pos..).unwrap_or_default());
    let base = pos;
    let body_start = loop {
        let Some(&c) = data.get(pos) else {
            // The data ends inside the header section (or right after the
            // start line).
            anomalies.insert(Anomalies::NO_EMPTY_LINE);
            break n;
        };
        let line_end = lfs.next().map_or(n, |i| base + i);
        if line_end == pos {
            break pos + 1;
        }
        if c == b'\r' && line_end == pos + 1 {
            break pos + 2;
        }
        let next = (line_end + 1).min(n);
        let line = &data[pos..line_end];
        if c == b' ' || c == b'\t' {
            // Continuation of the previous header's value.
            let lead = line.iter().take_while(|&&c| is_lws(c)).count();
            let content = trim_end(&line[lead..]);
            match entries.last_mut() {
                Some(e) if !content.is_empty() => {
                    let start = pos + lead;
                    if e.value.0 == e.value.1 {
                        e.value.0 = start as u32;
                    }
                    e.value.1 = (start + content.len()) as u32;
                }
                Some(_) => {}
                None => anomalies.insert(Anomalies::BAD_HEADER_LINE),
            }
            pos = next;
            continue;
        }
        // The name: token characters, optional white space, then ':'.
        // Found from the first ':' (a vector search) back over white
        // space; a name the kind table knows is a token, so only other
        // names are checked byte by byte.
        let colon = colons.find(line);
        let fast = colon.and_then(|colon| {
            let name_len = line[..colon]
                .iter()
                .rposition(|&c| c != b' ' && c != b'\t')
                .map_or(0, |last| last + 1);
            let name = &line[..name_len];
            let kind = HeaderKind::of(name);
            (name_len > 0 && (kind != HeaderKind::Other || is_token(name)))
                .then_some((name_len, colon, kind))
        });
        let (name_len, colon, kind) = match (fast, colon) {
            (Some(fast), _) => fast,
            (None, Some(colon)) => {
                // Not `token:`: keep a name with odd characters as an
                // unknown header; flag it.
                anomalies.insert(Anomalies::BAD_HEADER_LINE);
                let name_len = line[..colon].trim_ascii_end().len();
                (name_len, colon, HeaderKind::of(&line[..name_len]))
            }
            (None, None) => {
                // Skip a line without a colon; flag it.
                anomalies.insert(Anomalies::BAD_HEADER_LINE);
                pos = next;
                continue;
            }
        };
        let value = &line[colon + 1..];
        let lead = value
            .iter()
            .take_while(|&&c| c == b' ' || c == b'\t')
            .count();
        let value = trim_end(&value[lead..]);
        let vstart = pos + colon + 1 + lead;
        entries.push(Entry {
            name: (pos as u32, (pos + name_len) as u32),
            value: (vstart as u32, (vstart + value.len()) as u32),
            kind,
        });
        pos = next;
    };

    let mut content_length: Option<u32> = None;
    let mut seen_length = false;
    let mut call_id = None;
    let mut cseq = None;
    let mut seen_cseq = false;
    for e in &entries[first_entry..] {
        match e.kind {
            HeaderKind::CallId if call_id.is_none() => call_id = Some(e.value),
            HeaderKind::CSeq if !seen_cseq => {
                seen_cseq = true;
                cseq = CSeqAt::of(data, e);
            }
            HeaderKind::ContentLength => {
                seen_length = true;
                let v = data.get(e.value.0 as usize..e.value.1 as usize);
                match v.and_then(|v| parse_len(trim(v))) {
                    None => anomalies.insert(Anomalies::BAD_CONTENT_LENGTH),
                    Some(len) => match content_length {
                        Some(prev) if prev != len => {
                            anomalies.insert(Anomalies::CONFLICTING_CONTENT_LENGTH)
                        }
                        _ => content_length = Some(len),
                    },
                }
            }
            _ => {}
        }
    }
    if !seen_length {
        anomalies.insert(Anomalies::NO_CONTENT_LENGTH);
    }
    // With a bad or conflicting Content-Length the extent is unknown: the
    // body is the rest of the data, as Wireshark shows it.
    let usable = !anomalies.contains(Anomalies::BAD_CONTENT_LENGTH)
        && !anomalies.contains(Anomalies::CONFLICTING_CONTENT_LENGTH);
    let body_end = match content_length {
        Some(len) if usable => {
            let want = body_start as u64 + u64::from(len);
            if want > n as u64 {
                anomalies.insert(Anomalies::BODY_TRUNCATED);
                n
            } else {
                want as usize
            }
        }
        _ => n,
    };
    Ok(Layout {
        start: sl.start,
        line_start: sl.line_start as u32,
        body: (body_start as u32, body_end as u32),
        content_length,
        anomalies,
        call_id,
        call_id_key: call_id
            .and_then(|(a, b)| data.get(a as usize..b as usize))
            .filter(|b| !b.is_empty())
            .map(call_id_key),
        method: match sl.start {
            Start::Request { method, .. } => MethodAt::of(data, &data[method.0..method.1]),
            Start::Response { .. } => None,
        },
        cseq,
    })
}

/// A SIP message: a zero-copy view over its bytes.
///
/// The start line is checked and every header line is indexed (name and
/// value spans, name kind) when the view is made; everything else (URIs,
/// addresses, parameters, comma lists) is parsed when asked for, because
/// most headers of most messages are never asked for.
///
/// Text policy: parts that the grammar restricts to ASCII (method, URIs,
/// Call-ID, tags, branches, parameters) are `&'a str` borrowed from the
/// message, and read as absent (`None`) when their bytes are not UTF-8,
/// the same as any other malformed value. Free text (reason phrase, display
/// names, header text) is `Cow<'a, str>`: borrowed when it is UTF-8 and
/// unfolded, else a lossy copy. Raw bytes are always available.
#[derive(Clone)]
pub struct Message<'a> {
    data: &'a [u8],
    layout: Layout,
    headers: Cow<'a, [Entry]>,
}

impl<'a> Message<'a> {
    fn new(data: &'a [u8], layout: Layout, headers: Cow<'a, [Entry]>) -> Message<'a> {
        Message {
            data,
            layout,
            headers,
        }
    }

    /// The parse of this view, detached from it: the bytes it was parsed
    /// from, where their parts are, and the header index. With a copy of
    /// the same bytes, [`Message::from_parts`] gives the same view again
    /// without parsing (the pipeline hands messages between threads so).
    pub(crate) fn parts(&self) -> (&'a [u8], Layout, &[Entry]) {
        (self.data, self.layout, &self.headers)
    }

    /// A view rebuilt from [`Message::parts`] over a copy of the same bytes.
    pub(crate) fn from_parts(data: &'a [u8], layout: Layout, headers: &'a [Entry]) -> Message<'a> {
        Message::new(data, layout, Cow::Borrowed(headers))
    }

    fn span(&self, (a, b): (usize, usize)) -> &'a [u8] {
        self.data.get(a..b).unwrap_or_default()
    }

    /// True for a request, false for a response.
    pub fn is_request(&self) -> bool {
        matches!(self.layout.start, Start::Request { .. })
    }

    /// The request method (`INVITE`, or any token: methods are
    /// case-sensitive and unknown ones are kept); `None` for a response.
    pub fn method(&self) -> Option<&'a str> {
        match self.layout.start {
            Start::Request { .. } => self.layout.method?.read(self.data),
            Start::Response { .. } => None,
        }
    }

    /// The Request-URI as written; `None` for a response.
    pub fn request_uri_str(&self) -> Option<&'a str> {
        match self.layout.start {
            Start::Request { uri, .. } => as_str(self.span(uri)),
            Start::Response { .. } => None,
        }
    }

    /// The Request-URI, parsed; `None` for a response or a Request-URI
    /// that is not a URI (`<sip:x>` of RFC 4475 3.1.2.7).
    pub fn request_uri(&self) -> Option<Uri<'a>> {
        Uri::parse(self.request_uri_str()?)
    }

    /// The status code of a response; `None` for a request.
    pub fn status(&self) -> Option<u16> {
        match self.layout.start {
            Start::Response { code, .. } => Some(code),
            Start::Request { .. } => None,
        }
    }

    /// The reason phrase of a response (may be empty); lossy UTF-8.
    pub fn reason(&self) -> Option<Cow<'a, str>> {
        match self.layout.start {
            Start::Response { reason, .. } => Some(String::from_utf8_lossy(self.span(reason))),
            Start::Request { .. } => None,
        }
    }

    /// The start line without its line break.
    pub fn start_line(&self) -> &'a [u8] {
        let from = self.layout.line_start as usize;
        let rest = self.data.get(from..).unwrap_or_default();
        let end = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
        rest[..end].strip_suffix(b"\r").unwrap_or(&rest[..end])
    }

    /// The message's bytes, from its start line to the end of its body
    /// (leading line breaks and trailing extra bytes excluded).
    pub fn as_bytes(&self) -> &'a [u8] {
        self.span((self.layout.line_start as usize, self.layout.body.1 as usize))
    }

    /// Bytes after the message's end (RFC 3261 18.3: a datagram's octets
    /// beyond Content-Length are discarded; RFC 4475 3.1.1.8).
    pub fn trailing(&self) -> &'a [u8] {
        self.data
            .get(self.layout.body.1 as usize..)
            .unwrap_or_default()
    }

    /// The body: Content-Length bytes after the empty line; the rest of the
    /// data when there is no usable Content-Length or it exceeds the data.
    pub fn body(&self) -> &'a [u8] {
        let (a, b) = self.layout.body;
        self.span((a as usize, b as usize))
    }

    /// The declared Content-Length, when present and a decimal number
    /// (saturating at `u32::MAX`).
    pub fn content_length(&self) -> Option<u32> {
        self.layout.content_length
    }

    /// The first Content-Length value as written (the digits, however
    /// many; [`Message::content_length`] saturates), for problem texts.
    pub(crate) fn content_length_text(&self) -> Option<&'a [u8]> {
        content_length_text(self.data, &self.headers)
    }

    /// Defects tolerated while parsing.
    pub fn anomalies(&self) -> Anomalies {
        self.layout.anomalies
    }

    /// Every header line, in order.
    pub fn header_fields(&self) -> impl Iterator<Item = Header<'a>> + '_ {
        let data = self.data;
        self.headers.iter().map(move |e| Header::new(data, e))
    }

    fn fields_of<'s>(&'s self, name: &'s str) -> impl Iterator<Item = Header<'a>> + 's {
        let kind = HeaderKind::of(name.as_bytes());
        let data = self.data;
        self.headers
            .iter()
            .filter(move |e| {
                e.kind == kind
                    && (kind != HeaderKind::Other
                        || data
                            .get(e.name.0 as usize..e.name.1 as usize)
                            .is_some_and(|n| n.eq_ignore_ascii_case(name.as_bytes())))
            })
            .map(move |e| Header::new(data, e))
    }

    fn first_of_kind(&self, kind: HeaderKind) -> Option<HeaderValue<'a>> {
        let data = self.data;
        let e = self.headers.iter().find(|e| e.kind == kind)?;
        let h = Header::new(data, e);
        if kind.is_list() {
            h.values().next()
        } else {
            Some(h.value())
        }
    }

    /// The whole value of the first header line of this kind, as written
    /// (every comma-joined value): for cheap tests before a full parse.
    pub fn raw_header(&self, kind: HeaderKind) -> Option<&'a [u8]> {
        let e = self.headers.iter().find(|e| e.kind == kind)?;
        Some(Header::new(self.data, e).value().as_bytes())
    }

    /// The first value of header `name` (long or compact name, any case):
    /// the first element of a comma-list header, else the first line's
    /// whole value.
    pub fn header(&self, name: &str) -> Option<HeaderValue<'a>> {
        self.fields_of(name).flat_map(|h| h.values()).next()
    }

    /// Every value of header `name`, over repeated lines and, for
    /// comma-list headers, comma-joined values (quotes and `<>` respected).
    pub fn headers<'s>(&'s self, name: &'s str) -> impl Iterator<Item = HeaderValue<'a>> + 's {
        self.fields_of(name).flat_map(|h| h.values())
    }

    /// The Call-ID's bytes (trimmed), when present and not empty, whatever
    /// their encoding: what correlation keys on.
    pub fn call_id_bytes(&self) -> Option<&'a [u8]> {
        let (a, b) = self.layout.call_id?;
        self.data
            .get(a as usize..b as usize)
            .filter(|b| !b.is_empty())
    }

    /// [`call_id_key`] of the Call-ID, when present and not empty.
    pub fn call_id_key(&self) -> Option<u64> {
        self.layout.call_id_key
    }

    /// The Call-ID (trimmed), when present, not empty and UTF-8.
    pub fn call_id(&self) -> Option<&'a str> {
        as_str(self.call_id_bytes()?)
    }

    /// The CSeq; `None` when missing or malformed (number beyond 2^32-1).
    pub fn cseq(&self) -> Option<CSeq<'a>> {
        let c = self.layout.cseq?;
        Some(CSeq {
            number: c.number,
            method: c.method.read(self.data)?,
        })
    }

    /// Every Via value, top first, across repeated and comma-joined lines.
    pub fn vias(&self) -> impl Iterator<Item = Via<'a>> + '_ {
        self.headers("Via").map(|v| Via::parse(v.as_bytes()))
    }

    /// The top Via.
    pub fn top_via(&self) -> Option<Via<'a>> {
        self.first_of_kind(HeaderKind::Via)
            .map(|v| Via::parse(v.as_bytes()))
    }

    /// The top Via's branch: with CSeq, what ties a response to its request.
    pub fn top_branch(&self) -> Option<&'a str> {
        self.top_via()?.branch()
    }

    /// The From address.
    pub fn from(&self) -> Option<NameAddr<'a>> {
        self.first_of_kind(HeaderKind::From)?.name_addr()
    }

    /// The To address.
    pub fn to(&self) -> Option<NameAddr<'a>> {
        self.first_of_kind(HeaderKind::To)?.name_addr()
    }

    /// The first Contact address (`None` also for `Contact: *`).
    pub fn contact(&self) -> Option<NameAddr<'a>> {
        self.contacts().next()
    }

    /// Every Contact address.
    pub fn contacts(&self) -> impl Iterator<Item = NameAddr<'a>> + '_ {
        self.headers("Contact")
            .filter(|v| v.as_bytes() != b"*")
            .filter_map(|v| v.name_addr())
    }

    /// The Refer-To address (RFC 3515).
    pub fn refer_to(&self) -> Option<NameAddr<'a>> {
        self.first_of_kind(HeaderKind::ReferTo)?.name_addr()
    }

    /// The Event header (RFC 6665).
    pub fn event(&self) -> Option<Event<'a>> {
        Event::parse(self.first_of_kind(HeaderKind::Event)?.as_bytes())
    }

    /// The Subscription-State header (RFC 6665).
    pub fn subscription_state(&self) -> Option<SubscriptionState<'a>> {
        SubscriptionState::parse(
            self.first_of_kind(HeaderKind::SubscriptionState)?
                .as_bytes(),
        )
    }

    /// The Content-Type header.
    pub fn content_type(&self) -> Option<ContentType<'a>> {
        ContentType::parse(self.first_of_kind(HeaderKind::ContentType)?.as_bytes())
    }

    /// A one-line description like Wireshark's Info column, without its
    /// `Request:`/`Status:` prefix: `REFER sip:x@y` or `200 OK (BYE)`.
    pub fn summary(&self) -> Summary<'_, 'a> {
        Summary(self)
    }
}

/// Display adapter returned by [`Message::summary`]; formats without
/// allocating when the text is UTF-8.
pub struct Summary<'m, 'a>(&'m Message<'a>);

impl fmt::Display for Summary<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        match m.layout.start {
            Start::Request { method, uri } => write!(
                f,
                "{} {}",
                String::from_utf8_lossy(m.span(method)),
                String::from_utf8_lossy(m.span(uri))
            ),
            Start::Response { code, reason } => {
                write!(f, "{code:03}")?;
                let reason = m.span(reason).trim_ascii();
                if !reason.is_empty() {
                    write!(f, " {}", String::from_utf8_lossy(reason))?;
                }
                if let Some(cseq) = m.cseq() {
                    write!(f, " ({})", cseq.method)?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Debug for Message<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("summary", &self.summary().to_string())
            .field("headers", &self.headers.len())
            .field("body_len", &self.body().len())
            .field("anomalies", &self.layout.anomalies)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_from_the_colon_back() {
        let bad = Anomalies::BAD_HEADER_LINE;
        /// A header line, the name and kind indexed (`None`: skipped),
        /// and whether the message is flagged.
        type Case<'c> = (&'c [u8], Option<(&'c str, HeaderKind)>, bool);
        let cases: &[Case] = &[
            (
                b"Via : SIP/2.0/UDP h",
                Some(("Via", HeaderKind::Via)),
                false,
            ),
            (b"v\t:SIP/2.0/UDP h", Some(("v", HeaderKind::Via)), false),
            (
                b"X.Y_z!%*+`'~: v",
                Some(("X.Y_z!%*+`'~", HeaderKind::Other)),
                false,
            ),
            (b"Foo Bar: x", Some(("Foo Bar", HeaderKind::Other)), true),
            (b"Via\x0c: x", Some(("Via", HeaderKind::Via)), true),
            (b"Call@ID: x", Some(("Call@ID", HeaderKind::Other)), true),
            (b": x", Some(("", HeaderKind::Other)), true),
            (b"NoColonHere", None, true),
        ];
        for &(line, want, flagged) in cases {
            let mut d = b"OPTIONS sip:a@b SIP/2.0\r\n".to_vec();
            d.extend_from_slice(line);
            d.extend_from_slice(b"\r\nl: 0\r\n\r\n");
            let m = parse(&d).unwrap();
            let got: Vec<(String, HeaderKind)> = m
                .header_fields()
                .map(|h| (h.name().into_owned(), h.kind()))
                .collect();
            let mut expected: Vec<(String, HeaderKind)> =
                want.iter().map(|(n, k)| (n.to_string(), *k)).collect();
            expected.push(("l".to_string(), HeaderKind::ContentLength));
            let ctx = String::from_utf8_lossy(line);
            assert_eq!(got, expected, "{ctx}");
            assert_eq!(m.anomalies().contains(bad), flagged, "{ctx}");
        }
    }

    #[test]
    fn cseq_and_call_id_are_the_first_lines_read_at_indexing() {
        let m = parse(
            b"SIP/2.0 200 OK\r\nCSeq: 7 FOO-bar\r\ni: abc\r\nCall-ID: later\r\nCSeq: 8 BYE\r\n\r\n",
        )
        .unwrap();
        assert_eq!(
            m.cseq(),
            Some(CSeq {
                number: 7,
                method: "FOO-bar"
            })
        );
        assert_eq!(m.call_id(), Some("abc"));
        // The first CSeq decides, even when a later one would parse.
        let m = parse(b"BYE sip:a@b SIP/2.0\r\nCSeq: x BYE\r\nCSeq: 8 BYE\r\nCall-ID:\r\n\r\n")
            .unwrap();
        assert_eq!(m.cseq(), None);
        assert_eq!(m.call_id_bytes(), None, "an empty Call-ID is no Call-ID");
        // A folded CSeq, and the view rebuilt from its parts.
        let d = b"REFER sip:a@b SIP/2.0\r\nCSeq: 4294967295\r\n  REFER\r\nCall-ID: c\r\n\r\n";
        let m = parse(d).unwrap();
        let (data, layout, entries) = m.parts();
        let again = Message::from_parts(data, layout, entries);
        assert_eq!(
            again.cseq(),
            Some(CSeq {
                number: u32::MAX,
                method: "REFER"
            })
        );
    }

    #[test]
    fn lf_only_leading_breaks_and_trailing_bytes() {
        let d = b"\r\n\r\nBYE sip:a@[2001:db8::1]:5070 SIP/2.0\nCall-ID: c1\nl: 3\n\nabcEXTRA";
        let m = parse(d).unwrap();
        assert_eq!(m.method(), Some("BYE"));
        let u = m.request_uri().unwrap();
        assert_eq!((u.host(), u.port()), (Some("[2001:db8::1]"), Some(5070)));
        assert_eq!(m.body(), b"abc");
        assert_eq!(m.trailing(), b"EXTRA");
        assert!(m.as_bytes().starts_with(b"BYE ") && m.as_bytes().ends_with(b"abc"));
        assert_eq!(m.start_line(), b"BYE sip:a@[2001:db8::1]:5070 SIP/2.0");
        assert!(m.anomalies().is_empty());
    }

    #[test]
    fn repeated_and_comma_joined_values() {
        let d = b"SIP/2.0 200 OK\r\nv: SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2\r\nVia: SIP/2.0/UDP c;branch=z9hG4bK3\r\nm: \"A, B\" <sip:x@y>;q=1, <sip:z@w>\r\nSupported: timer , 100rel\r\nX-Date: Sat, 15 Oct 2005\r\nCSeq: 4 BYE\r\nl: 0\r\n\r\n";
        let m = parse(d).unwrap();
        let b: Vec<_> = m.vias().filter_map(|v| v.branch()).collect();
        assert_eq!(b, ["z9hG4bK1", "z9hG4bK2", "z9hG4bK3"]);
        assert_eq!(m.top_branch(), Some("z9hG4bK1"));
        let c: Vec<_> = m.contacts().filter_map(|c| c.uri_str()).collect();
        assert_eq!(c, ["sip:x@y", "sip:z@w"]);
        assert_eq!(m.contact().unwrap().display_name().unwrap(), "A, B");
        let s: Vec<_> = m.headers("k").map(|v| v.text()).collect();
        assert_eq!(s, ["timer", "100rel"]);
        // Unknown headers are not split.
        assert_eq!(m.headers("x-date").count(), 1);
        assert_eq!(m.header("X-DATE").unwrap().list().count(), 2);
        assert_eq!(
            m.header("via").unwrap().as_bytes(),
            b"SIP/2.0/UDP a;branch=z9hG4bK1"
        );
        assert_eq!(m.summary().to_string(), "200 OK (BYE)");
        assert_eq!(m.header_fields().count(), 7);
        assert!(m.header_fields().next().unwrap().is("Via"));
    }

    #[test]
    fn folding_before_the_value_and_odd_lines() {
        let d = b"OPTIONS sip:a@b SIP/2.0\r\nRoute:\r\n <sip:r@x;lr>\r\nNo colon here\r\nBad Name: v\r\nCall-ID:\r\n\tid-1 \r\n\r\n";
        let m = parse(d).unwrap();
        assert_eq!(
            m.header("Route").unwrap().name_addr().unwrap().uri_str(),
            Some("sip:r@x;lr")
        );
        assert_eq!(m.call_id(), Some("id-1"));
        assert!(m.anomalies().contains(Anomalies::BAD_HEADER_LINE));
        assert_eq!(m.header("Bad Name").unwrap().as_str(), Some("v"));
        assert!(m.anomalies().contains(Anomalies::NO_CONTENT_LENGTH));
    }

    #[test]
    fn non_utf8_is_tolerated() {
        // A Latin-1 display name: the address still parses, the name is
        // lossy; a Latin-1 Call-ID reads as absent.
        let d = b"MESSAGE sip:a@b SIP/2.0\r\nFrom: \"Jos\xe9\" <sip:j@x>;tag=t1\r\nCall-ID: caf\xe9\r\nl: 2\r\n\r\n\xff\xfe";
        let m = parse(d).unwrap();
        let f = m.from().unwrap();
        assert_eq!(f.display_name().unwrap(), "Jos\u{fffd}");
        assert_eq!(f.tag(), Some("t1"));
        assert_eq!(m.call_id(), None);
        assert_eq!(m.header("Call-ID").unwrap().text(), "caf\u{fffd}");
        assert_eq!(m.body(), b"\xff\xfe");
    }

    #[test]
    fn content_length_cases() {
        let m = parse(b"INFO sip:a@b SIP/2.0\r\nl: 99999999999999999999\r\n\r\nxy").unwrap();
        assert_eq!(m.content_length(), Some(u32::MAX));
        assert!(m.anomalies().contains(Anomalies::BODY_TRUNCATED));
        assert_eq!(m.body(), b"xy");
        let m = parse(b"INFO sip:a@b SIP/2.0\r\nl: 2\r\nl: 02\r\n\r\nxyz").unwrap();
        assert_eq!(m.body(), b"xy", "equal values do not conflict");
        let m = parse(b"INFO sip:a@b SIP/2.0\r\nl: 1\r\nl: 2\r\n\r\nxyz").unwrap();
        assert!(
            m.anomalies()
                .contains(Anomalies::CONFLICTING_CONTENT_LENGTH)
        );
        assert_eq!(m.body(), b"xyz");
        let m = parse(b"INFO sip:a@b SIP/2.0\r\nl: -1\r\n\r\nxyz").unwrap();
        assert!(m.anomalies().contains(Anomalies::BAD_CONTENT_LENGTH));
        assert_eq!(m.body(), b"xyz");
        let m = parse(b"SIP/2.0 100 Trying").unwrap();
        assert!(m.anomalies().contains(Anomalies::NO_EMPTY_LINE));
        assert_eq!(m.header_fields().count(), 0);
        assert_eq!(m.summary().to_string(), "100 Trying");
    }

    #[test]
    fn errors() {
        assert_eq!(parse(b"").unwrap_err(), ParseError::NotSip);
        assert_eq!(parse(b"\x80\x00\x01").unwrap_err(), ParseError::NotSip);
        assert!(
            parse(b"INVITE  sip:a@b  SIP/2.0\r\n\r\n")
                .unwrap_err()
                .is_malformed_sip()
        );
        let e = parse(b"SIP/2.0 4294967301 x\r\n\r\n").unwrap_err();
        assert!(e.to_string().contains("three decimal digits"), "{e}");
    }

    #[test]
    fn a_reused_parser_gives_the_same_views() {
        let mut p = Parser::new();
        let a = b"REFER sip:pre-7f3a@poc-b.example.net SIP/2.0\r\nRefer-To: <sip:s@a;method=BYE>\r\nl: 0\r\n\r\n";
        let b = b"SIP/2.0 202 Accepted\r\nCSeq: 1 REFER\r\nl: 0\r\n\r\n";
        for _ in 0..3 {
            let m = p.parse(a).unwrap();
            assert_eq!(
                m.summary().to_string(),
                "REFER sip:pre-7f3a@poc-b.example.net"
            );
            assert_eq!(
                m.refer_to().unwrap().uri().unwrap().without_param("method"),
                "sip:s@a"
            );
            let m = p.parse(b).unwrap();
            assert_eq!(m.summary().to_string(), "202 Accepted (REFER)");
            assert!(m.refer_to().is_none());
        }
    }
}
