//! Is this payload SIP? The start-line check shared by datagram detection,
//! the message parser and stream resynchronisation.
//!
//! The rules follow what tshark 4.0 accepts on port 5060, checked with
//! crafted datagrams: a request line is `METHOD SP URI SP SIP/2.0` with
//! exactly one space between the parts, nothing after the version, and a
//! URI containing `:`; a status line is `SIP/2.0 SP DDD SP reason` with
//! exactly three digits (any value, 099 and 999 included). Line ends are
//! LF or CRLF. Two differences from tshark, both deliberate: the method
//! must be an RFC 3261 token (tshark also takes `IN(VITE`), and CR or LF
//! bytes before the start line are skipped (RFC 3261 7.5; tshark rejects
//! such a datagram).

use super::lex::{ByteFinder, METHODS, is_token};

/// Why a payload that resembles SIP is not a SIP start line; the text is
/// the reason given in the problem report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StartError {
    /// Nothing like SIP: not reported.
    NotSip,
    /// Starts like SIP but breaks the start-line grammar.
    Malformed(&'static str),
}

/// Where the parts of a valid start line are (offsets into the payload).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    Request {
        method: (usize, usize),
        uri: (usize, usize),
    },
    Response {
        code: u16,
        reason: (usize, usize),
    },
}

/// A valid start line and the offset just past its line end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StartLine {
    pub(crate) start: Start,
    /// Offset of the first byte of the start line.
    pub(crate) line_start: usize,
    /// Offset after the line's LF (or the payload's length).
    pub(crate) next: usize,
}

const VERSION: &[u8] = b"SIP/2.0";

/// True when `bytes` begins like a SIP start line (`SIP/` or a SIP method
/// and a space), even if the line is not complete yet.
pub(crate) fn starts_like_sip(bytes: &[u8]) -> bool {
    bytes.starts_with(b"SIP/")
        || METHODS
            .iter()
            .any(|m| bytes.starts_with(m.as_bytes()) && bytes.get(m.len()) == Some(&b' '))
}

/// When `bytes` begins with control bytes (NUL and the like, not CR or LF)
/// and a valid SIP start line follows them on the same line: how many.
/// Such a payload is not SIP for tshark (nor for sipflow), but a message
/// is hidden in it, which is worth saying.
pub(crate) fn junk_before_start_line(bytes: &[u8]) -> Option<usize> {
    let n = leading_junk(bytes);
    (n > 0 && start_line(bytes, n).is_ok()).then_some(n)
}

/// True when `bytes` begins with control bytes (as
/// [`junk_before_start_line`] counts them) followed by the beginning of a
/// SIP start line, not complete yet.
pub(crate) fn junk_then_like_sip(bytes: &[u8]) -> bool {
    let n = leading_junk(bytes);
    n > 0 && starts_like_sip(&bytes[n..])
}

/// How many control bytes (NUL and the like, not CR or LF) begin `bytes`.
fn leading_junk(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .take_while(|&&c| (c < 0x20 && c != b'\r' && c != b'\n') || c == 0x7f)
        .count()
}

/// Describes `n` leading junk bytes of `bytes` for a problem text: "4 NUL
/// bytes", "3 control bytes".
pub(crate) fn describe_junk(bytes: &[u8], n: usize) -> String {
    let what = if bytes[..n].iter().all(|&c| c == 0) {
        "NUL"
    } else {
        "control"
    };
    let s = if n == 1 { "" } else { "s" };
    format!("{n} {what} byte{s}")
}

/// The first line of `bytes` (after line breaks), at most `max` bytes of
/// it, with non-printable bytes escaped and `...` when cut: enough for a
/// person to recognise it in a problem text.
pub(crate) fn quote_line(bytes: &[u8], max: usize) -> String {
    let rest = &bytes[skip_line_breaks(bytes)..];
    let end = rest
        .iter()
        .position(|&c| c == b'\r' || c == b'\n')
        .unwrap_or(rest.len());
    let mut text = rest[..end.min(max)].escape_ascii().to_string();
    if end > max {
        text.push_str("...");
    }
    text
}

/// Offset of the first byte after any leading CR and LF bytes.
#[inline]
pub(crate) fn skip_line_breaks(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .position(|&c| c != b'\r' && c != b'\n')
        .unwrap_or(bytes.len())
}

/// True when `bytes` starts (after optional CR/LF bytes) with a SIP
/// request line or status line.
///
/// Cheap enough to run on every UDP datagram: a payload whose first byte
/// cannot start a start line (RTP, DNS, all-zero keep-alives) is rejected
/// after one table lookup.
pub fn looks_like_sip(bytes: &[u8]) -> bool {
    start_line(bytes, skip_line_breaks(bytes)).is_ok()
}

/// Checks the line starting at `at` (no leading line breaks skipped).
pub(crate) fn start_line(bytes: &[u8], at: usize) -> Result<StartLine, StartError> {
    let rest = bytes.get(at..).unwrap_or_default();
    match rest.first() {
        Some(&c) if super::lex::is_token_char(c) => {}
        _ => return Err(StartError::NotSip),
    }
    let (len, next) = match ByteFinder::new(b'\n').find(rest) {
        Some(lf) => (lf, at + lf + 1),
        None => (rest.len(), bytes.len()),
    };
    let mut line = &rest[..len];
    if line.last() == Some(&b'\r') {
        line = &line[..len - 1];
    }
    let start = if line.starts_with(b"SIP/") {
        status_line(line, at)?
    } else {
        request_line(line, at)?
    };
    Ok(StartLine {
        start,
        line_start: at,
        next,
    })
}

fn status_line(line: &[u8], at: usize) -> Result<Start, StartError> {
    let Some(rest) = line.strip_prefix(VERSION) else {
        return Err(StartError::Malformed("unsupported SIP version"));
    };
    let bad = StartError::Malformed("status line is not 'SIP/2.0 SP code SP reason'");
    let Some(rest) = rest.strip_prefix(b" ") else {
        return Err(bad);
    };
    let (code, tail) = rest.split_at_checked(3).ok_or(bad)?;
    if !code.iter().all(u8::is_ascii_digit) {
        return Err(StartError::Malformed(
            "status code is not three decimal digits",
        ));
    }
    if tail.first().is_some_and(u8::is_ascii_digit) {
        return Err(StartError::Malformed(
            "status code is not three decimal digits",
        ));
    }
    if tail.first() != Some(&b' ') {
        return Err(bad);
    }
    // RFC 3261 25.1 Reason-Phrase: no control characters but HT (tshark
    // does not take a status line holding NUL as SIP either).
    if tail.iter().fold(false, |bad, &c| {
        bad | ((c < 0x20) & (c != b'\t')) | (c == 0x7f)
    }) {
        return Err(StartError::Malformed(
            "reason phrase holds control characters",
        ));
    }
    let code = code.iter().fold(0u16, |n, &d| n * 10 + u16::from(d - b'0'));
    let reason_start = at + VERSION.len() + 5;
    Ok(Start::Response {
        code,
        reason: (reason_start, at + line.len()),
    })
}

fn request_line(line: &[u8], at: usize) -> Result<Start, StartError> {
    let sp = ByteFinder::new(b' ').find(line);
    let method = &line[..sp.unwrap_or(line.len())];
    let ends_like_sip = || {
        let t = line.trim_ascii_end();
        t.len() >= 8 && t[t.len() - 8] == b' ' && t[t.len() - 7..].starts_with(b"SIP/")
    };
    // Only a line that names a SIP method or ends like a SIP request line
    // counts as malformed SIP; anything else is just not SIP. (Evaluated
    // on failure only: the common path does not pay for it.)
    let malformed = |why| {
        if METHODS.iter().any(|m| m.as_bytes() == method) || ends_like_sip() {
            StartError::Malformed(why)
        } else {
            StartError::NotSip
        }
    };
    let Some(sp) = sp else {
        return Err(malformed("request line has no Request-URI"));
    };
    if !line.ends_with(b" SIP/2.0") {
        return Err(if line.last().is_some_and(|c| c.is_ascii_whitespace()) {
            malformed("white space at the end of the request line")
        } else if ends_like_sip() {
            malformed("unsupported SIP version")
        } else {
            malformed("request line does not end with 'SIP/2.0'")
        });
    }
    if !is_token(method) {
        return Err(malformed("method is not a token"));
    }
    let uri_end = line.len() - 8;
    let uri = line.get(sp + 1..uri_end).unwrap_or_default();
    // One branch-free pass over the URI for the common case; which rule
    // broke is worked out only on failure. Bytes above 0x7f are tolerated
    // (tshark shows such a request; `Message::request_uri_str` then reads
    // as absent).
    let odd = uri
        .iter()
        .fold(false, |odd, &c| odd | (c < 0x21) | (c == 0x7f));
    if uri.is_empty() || odd {
        if uri.is_empty() || uri.iter().any(|&c| c == b' ' || c == b'\t') {
            return Err(malformed(
                "request line parts are not separated by single spaces",
            ));
        }
        return Err(malformed("Request-URI holds control characters"));
    }
    if ByteFinder::new(b':').find(uri).is_none() {
        return Err(malformed("Request-URI has no scheme"));
    }
    Ok(Start::Request {
        method: (at, at + sp),
        uri: (at + sp + 1, at + uri_end),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each case was run through tshark 4.0 as a UDP datagram on port 5060
    /// (the `tshark` column: did it dissect the payload as SIP).
    #[test]
    fn agrees_with_tshark() {
        let cases: &[(&[u8], bool)] = &[
            (b"SIP/2.0 200\r\nCall-ID: x\r\n\r\n", false),
            (b"SIP/2.0 20 OK\r\n\r\n", false),
            (b"sip/2.0 200 OK\r\n\r\n", false),
            (b"INVITE sip:a@b sip/2.0\r\n\r\n", false),
            (b"INVITE a SIP/2.0\r\n\r\n", false),
            (b"SIP/2.0 999 X\r\n\r\n", true),
            (b"SIP/2.0 099 X\r\n\r\n", true),
            (b"SIP/2.0 2000 OK\r\n\r\n", false),
            (b"INVITE\tsip:a@b\tSIP/2.0\r\n\r\n", false),
            (b"SIP/2.0 200 OK", true),
            (b"INVITE sip:a@b SIP/2.0", true),
            (b"SIP/2.0\t200 OK\r\n\r\n", false),
            (b"SIP/2.0 200\tOK\r\n\r\n", false),
            (b"SIP/2.0 700 OK\r\n\r\n", true),
            (b"SIP/2.0 199x OK\r\n\r\n", false),
            (b"invite sip:a@b SIP/2.0\r\n\r\n", true),
            (b"DBREGISTER sip:1.1.1.1:5060 SIP/2.0\r\n\r\n", true),
            (b"hello REGISTER sip:a@b SIP/2.0\r\n\r\n", false),
            (b"\x00\x01REGISTER sip:a@b SIP/2.0\r\n\r\n", false),
            (b" REGISTER sip:a@b SIP/2.0\r\n\r\n", false),
            (b"REGISTER sip:a@b SIP/2.0\n\n", true),
            (b"INVITE  sip:user@example.com  SIP/2.0\r\n", false),
            (b"INVITE sip:user@example.com; lr SIP/2.0\r\n", false),
            (
                b"OPTIONS sip:remote-target@example.com SIP/2.0  \r\n",
                false,
            ),
            (b"OPTIONS sip:t.watson@example.org SIP/7.0\r\n", false),
            (
                b"SIP/2.0 4294967301 better not break the receiver\r\n",
                false,
            ),
            (b"INVITE <sip:user@example.com> SIP/2.0\r\n", true),
            (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", false),
            // From ndpi/fuzz-2006-06-26-2594.pcap, frames 108 and 19.
            (b"SIP/2.0 401 Unauthori%s\0\r\nCall-ID: 5\r\n", false),
            (
                b"REGIStER pip:sip.cyberc\xb7ty.dk SIP/2.0\r\nVia: x\r\n",
                true,
            ),
            (b"hello\0", false),
            (&[0u8; 4], false),
            (b"", false),
        ];
        for (payload, tshark) in cases {
            assert_eq!(
                looks_like_sip(payload),
                *tshark,
                "{:?}",
                String::from_utf8_lossy(payload)
            );
        }
    }

    #[test]
    fn leading_line_breaks_are_skipped() {
        // RFC 3261 7.5 (tshark does not skip them in a datagram).
        assert!(looks_like_sip(b"\r\n\r\nREGISTER sip:a@b SIP/2.0\r\n\r\n"));
        assert!(looks_like_sip(b"\nSIP/2.0 200 OK\n\n"));
        assert!(!looks_like_sip(b"\r\n\r\n"));
    }

    #[test]
    fn malformed_versus_not_sip() {
        let m = |s: &[u8]| start_line(s, 0).err();
        assert!(matches!(
            m(b"INVITE  sip:a@b  SIP/2.0"),
            Some(StartError::Malformed(_))
        ));
        assert!(matches!(
            m(b"OPTIONS sip:a@b SIP/7.0"),
            Some(StartError::Malformed("unsupported SIP version"))
        ));
        assert!(matches!(
            m(b"SIP/2.0 4294967301 x"),
            Some(StartError::Malformed(_))
        ));
        assert!(matches!(m(b"GET / HTTP/1.1"), Some(StartError::NotSip)));
        assert!(matches!(m(b"hello"), Some(StartError::NotSip)));
        assert!(matches!(
            m(b"IN(VITE sip:a@b SIP/2.0"),
            Some(StartError::Malformed(_))
        ));
    }

    #[test]
    fn spans() {
        let s = start_line(b"\r\nSIP/2.0 180 Ringing\r\nX: y\r\n", 2).unwrap();
        assert_eq!(
            s.start,
            Start::Response {
                code: 180,
                reason: (14, 21)
            }
        );
        assert_eq!(s.next, 23);
        let s = start_line(b"BYE sip:x@y SIP/2.0\nA: b", 0).unwrap();
        assert_eq!(
            s.start,
            Start::Request {
                method: (0, 3),
                uri: (4, 11)
            }
        );
        assert_eq!(s.next, 20);
    }
}
