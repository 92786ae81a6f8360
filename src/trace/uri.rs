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
