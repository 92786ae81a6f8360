//! URI comparison as RFC 3261 19.1.4 defines it, loosely: what rules need
//! to say "this Request-URI is that conference URI".

use crate::sip::Uri;

/// A canonical text for a URI: scheme and host in lower case, `<>` and
/// surrounding blanks removed, parameters sorted by lower-cased name. Two
/// URIs that RFC 3261 calls equivalent (for the cases flows meet) get the
/// same key. Text that does not parse as a URI is returned trimmed.
pub fn canonical(text: &str) -> String {
    let t = text
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim();
    let Some(uri) = Uri::parse(t) else {
        return t.to_string();
    };
    let mut out = String::with_capacity(t.len());
    out.push_str(&uri.scheme().to_ascii_lowercase());
    out.push(':');
    if let Some(user) = uri.user() {
        out.push_str(user);
        out.push('@');
    }
    if let Some(host) = uri.host() {
        out.push_str(&host.to_ascii_lowercase());
    }
    if let Some(port) = uri.port() {
        out.push(':');
        out.push_str(&port.to_string());
    }
    let mut params: Vec<(String, Option<&str>)> = uri
        .params()
        .map(|p| (p.name.to_ascii_lowercase(), p.value))
        .collect();
    params.sort();
    for (n, v) in params {
        out.push(';');
        out.push_str(&n);
        if let Some(v) = v {
            out.push('=');
            out.push_str(v);
        }
    }
    out
}

/// Does `text` look like a URI (a scheme followed by `:`)?
pub fn looks_like_uri(text: &str) -> bool {
    let t = text.trim().trim_start_matches('<');
    let lower = |s: &str| t.get(..s.len()).is_some_and(|p| p.eq_ignore_ascii_case(s));
    lower("sip:") || lower("sips:") || lower("tel:") || lower("urn:")
}

/// Are two URIs the same one?
pub fn equivalent(a: &str, b: &str) -> bool {
    canonical(a) == canonical(b)
}

/// A hash that two URIs share when [`canonical`] makes them equal,
/// computed without building a string in the common case (no parameters):
/// the matcher's index looks up every Request-URI.
pub fn canonical_hash(text: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = rustc_hash::FxHasher::default();
    let t = text
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim();
    match Uri::parse(t) {
        Some(uri) if uri.params().next().is_none() => {
            let lower = |s: &str, h: &mut rustc_hash::FxHasher| {
                for b in s.bytes() {
                    h.write_u8(b.to_ascii_lowercase());
                }
            };
            h.write_u8(1);
            lower(uri.scheme(), &mut h);
            h.write_u8(b':');
            if let Some(user) = uri.user() {
                h.write(user.as_bytes());
                h.write_u8(b'@');
            }
            if let Some(host) = uri.host() {
                lower(host, &mut h);
            }
            h.write_u32(uri.port().map_or(u32::MAX, u32::from));
        }
        _ => {
            h.write_u8(2);
            canonical(text).hash(&mut h);
        }
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equivalent_uris_share_a_hash() {
        let same = [
            ("sip:conf@Example.COM", "SIP:conf@example.com"),
            ("<sip:conf@example.com:5060>", "sip:conf@EXAMPLE.com:5060"),
            (
                "sip:conf@example.com;b=2;A=1",
                "sip:conf@example.com;a=1;b=2",
            ),
        ];
        for (a, b) in same {
            assert!(equivalent(a, b), "{a} {b}");
            assert_eq!(canonical_hash(a), canonical_hash(b), "{a} {b}");
        }
        assert_ne!(
            canonical_hash("sip:Conf@example.com"),
            canonical_hash("sip:conf@example.com")
        );
        assert_ne!(
            canonical_hash("sip:conf@example.com:5061"),
            canonical_hash("sip:conf@example.com")
        );
    }
}
