//! `name-addr` / `addr-spec` values: From, To, Contact, Refer-To, Route,
//! Record-Route, P-Asserted-Identity, Referred-By, ...

use std::borrow::Cow;

use super::lex::{as_str, quoted_end, trim, trim_end};
use super::params::{Param, Params};
use super::uri::Uri;

/// A zero-copy view of one address: optional display name, URI, and the
/// header parameters after it (`;tag=`, `;expires=`, `;isfocus`).
///
/// Both forms are read: `"Name" <uri>;p=1` and the bare `uri;p=1`, where
/// (RFC 3261 20) everything after the first `;` is a header parameter, not
/// part of the URI. Folded white space is allowed anywhere LWS is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameAddr<'a> {
    display: Option<&'a [u8]>,
    uri: &'a [u8],
    params: &'a [u8],
}

impl<'a> NameAddr<'a> {
    /// Parses one address value (one element of a comma list).
    ///
    /// `None` for an empty value, an unterminated quoted display name, a
    /// quoted display name not followed by `<`, or a `<` without `>`.
    pub fn parse(value: &'a [u8]) -> Option<NameAddr<'a>> {
        let s = trim(value);
        if s.is_empty() {
            return None;
        }
        let (display, rest) = if s[0] == b'"' {
            let q = quoted_end(s);
            if q < 2 || s.get(q - 1) != Some(&b'"') {
                return None;
            }
            let rest = trim(&s[q..]);
            if rest.first() != Some(&b'<') {
                return None;
            }
            (Some(&s[..q]), rest)
        } else {
            match memchr::memchr(b'<', s) {
                Some(lt) => {
                    let d = trim(&s[..lt]);
                    ((!d.is_empty()).then_some(d), &s[lt..])
                }
                None => {
                    // addr-spec: the URI ends at the first ';'.
                    let semi = memchr::memchr(b';', s).unwrap_or(s.len());
                    return Some(NameAddr {
                        display: None,
                        uri: trim_end(&s[..semi]),
                        params: &s[semi..],
                    });
                }
            }
        };
        // rest starts with '<'.
        let gt = memchr::memchr(b'>', rest)?;
        Some(NameAddr {
            display,
            uri: trim(&rest[1..gt]),
            params: &rest[gt + 1..],
        })
    }

    /// The display name, unquoted and unescaped; lossy when not UTF-8.
    pub fn display_name(&self) -> Option<Cow<'a, str>> {
        let d = self.display?;
        if d.first() != Some(&b'"') {
            return Some(String::from_utf8_lossy(d));
        }
        let inner = d.get(1..d.len().saturating_sub(1)).unwrap_or_default();
        if memchr::memchr(b'\\', inner).is_none() {
            return Some(String::from_utf8_lossy(inner));
        }
        let mut out = Vec::with_capacity(inner.len());
        let mut it = inner.iter();
        while let Some(&c) = it.next() {
            if c == b'\\' {
                if let Some(&n) = it.next() {
                    out.push(n);
                }
            } else {
                out.push(c);
            }
        }
        Some(Cow::Owned(String::from_utf8_lossy(&out).into_owned()))
    }

    /// The URI's text (without `<>`); `None` when it is not UTF-8.
    pub fn uri_str(&self) -> Option<&'a str> {
        as_str(self.uri)
    }

    /// The URI's raw bytes (without `<>`).
    pub fn uri_bytes(&self) -> &'a [u8] {
        self.uri
    }

    /// The URI, parsed; `None` when it is not a valid URI.
    pub fn uri(&self) -> Option<Uri<'a>> {
        Uri::parse(self.uri_str()?)
    }

    /// The header parameters after the address.
    pub fn params(&self) -> Params<'a> {
        Params::new(self.params)
    }

    /// The first header parameter called `name` (case-insensitive).
    pub fn param(&self, name: &str) -> Option<Param<'a>> {
        self.params().get(name)
    }

    /// The `tag` parameter (dialog identification, RFC 3261 19.3).
    pub fn tag(&self) -> Option<&'a str> {
        self.params().value("tag")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let a = NameAddr::parse(
            br#""J Rosenberg \\\""       <sip:jdrosen@example.com>
  ;
  tag = 98asjd8"#,
        )
        .unwrap();
        assert_eq!(a.display_name().unwrap(), r#"J Rosenberg \""#);
        assert_eq!(a.uri_str(), Some("sip:jdrosen@example.com"));
        assert_eq!(a.tag(), Some("98asjd8"));

        let a = NameAddr::parse(b"caller<sip:caller@example.com>;tag=323").unwrap();
        assert_eq!(a.display_name().unwrap(), "caller");
        assert_eq!(a.uri().unwrap().user(), Some("caller"));
        assert_eq!(a.tag(), Some("323"));

        let a = NameAddr::parse(b"sip:+19725552222@gw1.example.net;unknownparam").unwrap();
        assert_eq!(a.uri_str(), Some("sip:+19725552222@gw1.example.net"));
        assert!(a.param("unknownparam").is_some());
        assert!(a.uri().unwrap().param("unknownparam").is_none());

        let a = NameAddr::parse(b"<sip:+19725552222@gw1.example.net;unknownparam>").unwrap();
        assert!(a.param("unknownparam").is_none());
        assert!(a.uri().unwrap().param("unknownparam").is_some());

        let a = NameAddr::parse(b"\r\n sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n")
            .unwrap();
        assert_eq!(a.uri_str(), Some("sip:vivekg@chair-dnrc.example.com"));
        assert_eq!(a.tag(), Some("1918181833n"));

        let a = NameAddr::parse(b"<sip:conf@x;method=BYE>;isfocus").unwrap();
        assert!(a.param("isfocus").is_some());
    }

    #[test]
    fn malformed() {
        assert!(NameAddr::parse(b"\"Mr. J. User <sip:j.user@example.com>").is_none());
        assert!(NameAddr::parse(b"\"x\" sip:a@b").is_none());
        assert!(NameAddr::parse(b"<sip:a@b").is_none());
        assert!(NameAddr::parse(b"  ").is_none());
        // Lenient: spaces inside <> (RFC 4475 3.1.2.14), unquoted comma.
        let a = NameAddr::parse(b"\"Watson, Thomas\" < sip:t.watson@example.org >").unwrap();
        assert_eq!(a.uri_str(), Some("sip:t.watson@example.org"));
        let a = NameAddr::parse(b"Bell, Alexander <sip:a.g.bell@example.com>;tag=43").unwrap();
        assert_eq!(a.display_name().unwrap(), "Bell, Alexander");
        assert_eq!(a.tag(), Some("43"));
    }
}
