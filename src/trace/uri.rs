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

/// Are two URIs the same one? Compared by [`canonical_hash`] (the same
/// 64-bit fingerprints the matcher's index uses), so no string is built.
pub fn equivalent(a: &str, b: &str) -> bool {
    canonical_hash(a) == canonical_hash(b)
}

/// Parameters hashed without building a string; URIs with more take the
/// string path.
const MAX_HASHED_PARAMS: usize = 16;

/// A hash that two URIs share when [`canonical`] makes them equal,
/// computed without building a string (the matcher's index looks up every
/// Request-URI it waits on, and conditions compare URIs): scheme and host
/// folded to lower case, parameters in the order of their lower-cased
/// names (then values), each part length-prefixed.
pub fn canonical_hash(text: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = rustc_hash::FxHasher::default();
    let t = text
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim();
    // Not a URI, or more parameters than are sorted in place: the
    // canonical text.
    let by_text = |mut h: rustc_hash::FxHasher| {
        h.write_u8(2);
        canonical(text).hash(&mut h);
        h.finish()
    };
    let Some(uri) = Uri::parse(t) else {
        return by_text(h);
    };
    let mut params = [("", None); MAX_HASHED_PARAMS];
    let mut n = 0;
    for p in uri.params() {
        let Some(slot) = params.get_mut(n) else {
            return by_text(h);
        };
        *slot = (p.name, p.value);
        n += 1;
    }
    let params = &mut params[..n];
    params.sort_unstable_by(|a, b| {
        a.0.bytes()
            .map(|c| c.to_ascii_lowercase())
            .cmp(b.0.bytes().map(|c| c.to_ascii_lowercase()))
            .then(a.1.cmp(&b.1))
    });
    // Each part length-prefixed, so that no two URIs run together.
    let lower = |s: &str, h: &mut rustc_hash::FxHasher| {
        h.write_usize(s.len());
        for b in s.bytes() {
            h.write_u8(b.to_ascii_lowercase());
        }
    };
    let exact = |s: Option<&str>, h: &mut rustc_hash::FxHasher| match s {
        Some(s) => {
            h.write_u8(1);
            h.write_usize(s.len());
            h.write(s.as_bytes());
        }
        None => h.write_u8(0),
    };
    h.write_u8(1);
    lower(uri.scheme(), &mut h);
    exact(uri.user(), &mut h);
    match uri.host() {
        Some(host) => lower(host, &mut h),
        None => h.write_usize(usize::MAX),
    }
    h.write_u32(uri.port().map_or(u32::MAX, u32::from));
    h.write_usize(params.len());
    for &(name, value) in params.iter() {
        lower(name, &mut h);
        exact(value, &mut h);
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
        // Parameters: order and name case do not count; values, flags and
        // presence do.
        let same = [
            ("sip:c@x;Transport=TCP;lr", "sip:c@X;LR;transport=TCP"),
            ("sip:c@x;a=1;a=2", "sip:c@x;a=2;a=1"),
            ("<sip:c@x;method=BYE>", " sip:c@x;METHOD=BYE "),
        ];
        for (a, b) in same {
            assert!(equivalent(a, b), "{a} {b}");
            assert_eq!(canonical(a), canonical(b), "{a} {b}");
        }
        let different = [
            ("sip:c@x;transport=TCP", "sip:c@x;transport=tcp"),
            ("sip:c@x;lr", "sip:c@x;lr="),
            ("sip:c@x;lr", "sip:c@x"),
            ("sip:c@x;a=1", "sip:c@x;b=1"),
            ("sip:c@x;ab=1", "sip:c@x;a=b1"),
            ("sip:c@x", "sips:c@x"),
            ("tel:+1234", "tel:+1235"),
            ("not a uri", "not  a uri"),
        ];
        for (a, b) in different {
            assert!(!equivalent(a, b), "{a} {b}");
            assert_ne!(canonical(a), canonical(b), "{a} {b}");
        }
        assert!(equivalent(" not a uri ", "not a uri"));
        // Beyond the parameters hashed in place: the string path, same
        // answer.
        let many: String = (0..20).map(|i| format!(";p{i}={i}")).collect();
        let reversed: String = (0..20).rev().map(|i| format!(";P{i}={i}")).collect();
        assert!(equivalent(
            &format!("sip:c@x{many}"),
            &format!("sip:c@x{reversed}")
        ));
    }
}
