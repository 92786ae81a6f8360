//! URIs: `sip:`/`sips:` split into their parts, `tel:` into number and
//! parameters, anything else kept whole as an opaque URI.

use std::borrow::Cow;
use std::fmt;

use super::params::{Param, Params};

/// A zero-copy view of one URI.
///
/// Exists because the later stages compare and key on URI parts (the
/// Request-URI against a Refer-To target, a conference URI, a host), and
/// one parser for them keeps that comparison consistent. Parts are slices
/// of the original text; escapes (`%41`) are left as they are, so two
/// spellings of one URI differ here (RFC 3261 19.1.4 comparison is the
/// caller's business).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Uri<'a> {
    text: &'a str,
    scheme: &'a str,
    user: Option<&'a str>,
    password: Option<&'a str>,
    host: Option<&'a str>,
    port: Option<u16>,
    /// Byte range of the parameter section (`;a=b;c`), empty when none.
    params: (usize, usize),
    headers: Option<&'a str>,
}

impl<'a> Uri<'a> {
    /// Parses `text` (surrounding white space is not allowed: trim first).
    ///
    /// Returns `None` when there is no valid scheme, when a `sip:`/`sips:`
    /// URI has an empty host or a port that is not a number up to 65535.
    pub fn parse(text: &'a str) -> Option<Uri<'a>> {
        // Byte searches: every delimiter is ASCII, so each index found is
        // a char boundary (`str::find` with a char pattern decodes UTF-8).
        let colon = find(text, b':')?;
        let scheme = &text[..colon];
        let mut chars = scheme.bytes();
        if !chars.next()?.is_ascii_alphabetic()
            || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
        {
            return None;
        }
        let rest_start = colon + 1;
        let rest = &text[rest_start..];
        let mut uri = Uri {
            text,
            scheme,
            user: None,
            password: None,
            host: None,
            port: None,
            params: (text.len(), text.len()),
            headers: None,
        };
        if scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips") {
            // Valid SIP URIs cannot hold an unescaped '@' outside userinfo,
            // while the user part may hold '?', ';' and ':'; so the first
            // '@' ends the userinfo.
            let host_start = match find(rest, b'@') {
                Some(at) => {
                    let userinfo = &rest[..at];
                    match find(userinfo, b':') {
                        Some(c) => {
                            uri.user = Some(&userinfo[..c]);
                            uri.password = Some(&userinfo[c + 1..]);
                        }
                        None => uri.user = Some(userinfo),
                    }
                    rest_start + at + 1
                }
                None => rest_start,
            };
            let hp = &text[host_start..];
            let hp_len = find_either(hp, b';', b'?').unwrap_or(hp.len());
            let hostport = &hp[..hp_len];
            let (host, port) = if hostport.starts_with('[') {
                let close = find(hostport, b']')?;
                (&hostport[..=close], &hostport[close + 1..])
            } else {
                match find(hostport, b':') {
                    Some(c) => (&hostport[..c], &hostport[c..]),
                    None => (hostport, ""),
                }
            };
            if host.is_empty() {
                return None;
            }
            uri.host = Some(host);
            if !port.is_empty() {
                let digits = port.strip_prefix(':')?;
                if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
                    return None;
                }
                uri.port = Some(digits.parse().ok()?);
            }
            uri.split_tail(host_start + hp_len);
        } else if scheme.eq_ignore_ascii_case("tel") {
            let end = find_either(rest, b';', b'?').unwrap_or(rest.len());
            uri.user = Some(&rest[..end]);
            uri.split_tail(rest_start + end);
        }
        Some(uri)
    }

    /// Records the `;params?headers` tail starting at byte `at`.
    fn split_tail(&mut self, at: usize) {
        let tail = &self.text[at..];
        let q = find(tail, b'?');
        let params_end = at + q.unwrap_or(tail.len());
        if tail.starts_with(';') {
            self.params = (at, params_end);
        }
        if let Some(q) = q {
            self.headers = Some(&self.text[at + q + 1..]);
        }
    }

    /// The whole URI as written.
    pub fn as_str(&self) -> &'a str {
        self.text
    }

    /// The scheme as written (`sip`, `SIP`, `tel`, `urn`, ...).
    pub fn scheme(&self) -> &'a str {
        self.scheme
    }

    /// The user part (`sip:` userinfo before any `:password`; `tel:` number).
    pub fn user(&self) -> Option<&'a str> {
        self.user
    }

    /// The password of `sip:user:password@host` (deprecated, but parsed).
    pub fn password(&self) -> Option<&'a str> {
        self.password
    }

    /// The host of a `sip:`/`sips:` URI; an IPv6 reference keeps its
    /// brackets (`[2001:db8::1]`).
    pub fn host(&self) -> Option<&'a str> {
        self.host
    }

    /// The explicit port, if any.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The URI parameters (`;transport=tcp;lr`).
    pub fn params(&self) -> Params<'a> {
        Params::new(self.params_text().as_bytes())
    }

    /// The parameter section as written, with its leading `;` (or empty).
    pub fn params_text(&self) -> &'a str {
        self.text
            .get(self.params.0..self.params.1)
            .unwrap_or_default()
    }

    /// The first URI parameter called `name` (case-insensitive).
    pub fn param(&self, name: &str) -> Option<Param<'a>> {
        self.params().get(name)
    }

    /// The header section after `?` (`Route=%3Csip:x%3E&Subject=hi`).
    pub fn headers(&self) -> Option<&'a str> {
        self.headers
    }

    /// The value of URI header `name` (case-insensitive), still escaped.
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers?.split('&').find_map(|h| {
            let (n, v) = h.split_once('=').unwrap_or((h, ""));
            n.eq_ignore_ascii_case(name).then_some(v)
        })
    }

    /// The URI without every parameter called `name`, the rest verbatim.
    ///
    /// This is how a REFER's target is compared with the request it asks
    /// for: `<sip:conf@x;method=BYE>` names `sip:conf@x`. Borrowed when the
    /// parameter is absent.
    pub fn without_param(&self, name: &str) -> Cow<'a, str> {
        let (start, end) = self.params;
        let section = self.text.get(start..end).unwrap_or_default();
        let is_named = |p: &str| {
            let n = p.split_once('=').map_or(p, |(n, _)| n);
            n.trim().eq_ignore_ascii_case(name)
        };
        if !section.split(';').any(is_named) {
            return Cow::Borrowed(self.text);
        }
        let mut out = String::with_capacity(self.text.len());
        out.push_str(&self.text[..start]);
        for p in section.split(';').skip(1) {
            if !is_named(p) {
                out.push(';');
                out.push_str(p);
            }
        }
        out.push_str(&self.text[end..]);
        Cow::Owned(out)
    }
}

impl fmt::Display for Uri<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text)
    }
}

/// The first `b` (ASCII) in `s`.
#[inline]
fn find(s: &str, b: u8) -> Option<usize> {
    s.bytes().position(|c| c == b)
}

/// The first `a` or `b` (ASCII) in `s`.
#[inline]
fn find_either(s: &str, a: u8, b: u8) -> Option<usize> {
    s.bytes().position(|c| c == a || c == b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sip_parts() {
        let u =
            Uri::parse("sip:alice:pw@[2001:db8::1]:5070;transport=tcp;lr?Subject=hi&X=1").unwrap();
        assert_eq!(u.scheme(), "sip");
        assert_eq!(u.user(), Some("alice"));
        assert_eq!(u.password(), Some("pw"));
        assert_eq!(u.host(), Some("[2001:db8::1]"));
        assert_eq!(u.port(), Some(5070));
        assert_eq!(u.param("TRANSPORT").unwrap().value, Some("tcp"));
        assert_eq!(u.param("lr").unwrap().value, None);
        assert_eq!(u.header("subject"), Some("hi"));
        assert_eq!(u.header("x"), Some("1"));
    }

    #[test]
    fn user_with_semicolons_and_question_marks() {
        // RFC 4475 3.1.1.9 and 3.1.1.2.
        let u = Uri::parse("sip:user;par=u%40example.net@example.com").unwrap();
        assert_eq!(u.user(), Some("user;par=u%40example.net"));
        assert_eq!(u.host(), Some("example.com"));
        assert_eq!(u.params_text(), "");
        let u = Uri::parse(
            "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com",
        )
        .unwrap();
        assert_eq!(
            u.user(),
            Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
        );
        assert_eq!(
            u.password(),
            Some("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)")
        );
        assert_eq!(u.host(), Some("example.com"));
    }

    #[test]
    fn other_schemes() {
        let u = Uri::parse("tel:+1-201-555-0123;phone-context=example.com").unwrap();
        assert_eq!(u.user(), Some("+1-201-555-0123"));
        assert_eq!(u.param("phone-context").unwrap().value, Some("example.com"));
        let u = Uri::parse("soap.beep://192.0.2.103:3002").unwrap();
        assert_eq!(u.scheme(), "soap.beep");
        assert_eq!(u.host(), None);
        assert!(Uri::parse("nobodyKnowsThisScheme:totallyopaquecontent").is_some());
        assert!(Uri::parse("<sip:user@example.com>").is_none());
        assert!(Uri::parse("sip:").is_none());
        assert!(Uri::parse("sip:host:99999").is_none());
        assert!(Uri::parse("sip:host:").is_none());
        assert!(Uri::parse("no-colon").is_none());
    }

    #[test]
    fn without_param_keeps_the_rest_verbatim() {
        let u = Uri::parse("sip:conf-42@poc-a.example.com;method=BYE").unwrap();
        assert_eq!(u.without_param("method"), "sip:conf-42@poc-a.example.com");
        let u = Uri::parse("sip:c@h;Method=BYE;lr;x=1?Y=2").unwrap();
        assert_eq!(u.without_param("method"), "sip:c@h;lr;x=1?Y=2");
        let u = Uri::parse("sip:c@h;lr;method=BYE;x").unwrap();
        assert_eq!(u.without_param("method"), "sip:c@h;lr;x");
        let u = Uri::parse("sip:c@h;lr").unwrap();
        assert!(matches!(
            u.without_param("method"),
            Cow::Borrowed("sip:c@h;lr")
        ));
        // 'method' inside the user part is not a URI parameter.
        let u = Uri::parse("sip:a;method=x@h").unwrap();
        assert_eq!(u.without_param("method"), "sip:a;method=x@h");
    }
}
