//! Evaluating rule paths and conditions on one message.

use std::borrow::Cow;
use std::net::IpAddr;

use crate::rules::ast::{Accessor, Base, CondKind, Op, Operand, Path};
use crate::trace::{Msg, NameAddr, Tracker, Uri, uri};

/// What a condition says about a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Truth {
    True,
    False,
    /// The capture cannot tell (e.g. a focus URI whose setup is not in it).
    Unknown,
}

/// The variable and role bindings a condition may refer to.
pub struct Env<'e> {
    pub vars: &'e [Option<String>],
    pub roles: &'e [Option<IpAddr>],
    pub trace: &'e Tracker,
}

/// The value a path names in `msg`, if present.
pub fn eval_path<'a>(msg: &Msg<'a>, path: &Path) -> Option<Cow<'a, str>> {
    // `is_uri`: the current value is a bare URI (params are URI params).
    let (mut value, mut is_uri): (Cow<'a, str>, bool) = match &path.base {
        Base::RequestUri => (Cow::Borrowed(msg.sip.request_uri_str()?), true),
        Base::Method => (Cow::Borrowed(msg.method?), false),
        Base::Status => (Cow::Owned(msg.status?.to_string()), false),
        Base::Reason => (msg.sip.reason()?, false),
        Base::Body => (String::from_utf8_lossy(msg.sip.body()), false),
        Base::SipfragStatus => (
            Cow::Owned(sipfrag_status(msg.sip.body())?.to_string()),
            false,
        ),
        Base::Xml { element, attr } => {
            (xml_value(msg.sip.body(), element, attr.as_deref())?, false)
        }
        Base::Header(name) => (msg.sip.header(name)?.text(), false),
    };
    for acc in &path.accessors {
        let next: Cow<'a, str> = match acc {
            Accessor::Uri => {
                if is_uri {
                    value
                } else {
                    is_uri = true;
                    match value {
                        // Borrowed from the message: the URI is a slice of
                        // it (no allocation on the hot path).
                        Cow::Borrowed(v) => {
                            Cow::Borrowed(NameAddr::parse(v.as_bytes())?.uri_str()?)
                        }
                        Cow::Owned(v) => Cow::Owned(uri_of(&v)?),
                    }
                }
            }
            Accessor::Value => {
                let v = before_params(&value).to_string();
                is_uri = false;
                Cow::Owned(v)
            }
            Accessor::User => {
                let u = Uri::parse(value.trim())?.user()?.to_string();
                is_uri = false;
                Cow::Owned(u)
            }
            Accessor::Host => {
                let h = Uri::parse(value.trim())?.host()?.to_string();
                is_uri = false;
                Cow::Owned(h)
            }
            Accessor::Param(name) => {
                let v = if is_uri {
                    Uri::parse(value.trim())?
                        .param(name)?
                        .value
                        .unwrap_or("")
                        .to_string()
                } else {
                    header_param(&value, name)?
                };
                is_uri = false;
                Cow::Owned(v)
            }
            Accessor::Without(name) => {
                let base = if is_uri {
                    value.to_string()
                } else {
                    uri_of(&value)?
                };
                let out = Uri::parse(base.trim())?.without_param(name).into_owned();
                is_uri = true;
                Cow::Owned(out)
            }
        };
        value = next;
    }
    Some(value)
}

/// The URI inside a name-addr value, or the value itself when bare.
fn uri_of(value: &str) -> Option<String> {
    let na = NameAddr::parse(value.as_bytes())?;
    na.uri_str().map(str::to_string)
}

/// A header's value without its `;params` (outside `<>` and quotes).
fn before_params(value: &str) -> &str {
    let mut depth = 0i32;
    let mut quoted = false;
    for (i, c) in value.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '<' if !quoted => depth += 1,
            '>' if !quoted => depth -= 1,
            ';' if !quoted && depth <= 0 => return value[..i].trim(),
            _ => {}
        }
    }
    value.trim()
}

/// A header parameter (after the value or after the name-addr's `>`).
fn header_param(value: &str, name: &str) -> Option<String> {
    if let Some(na) = NameAddr::parse(value.as_bytes())
        && value.contains('<')
    {
        return na.param(name).map(|p| p.value.unwrap_or("").to_string());
    }
    let trimmed = value.trim_start();
    let rest = trimmed.get(before_params(trimmed).len()..).unwrap_or("");
    for p in rest.split(';').skip(1) {
        let (n, v) = p.split_once('=').unwrap_or((p, ""));
        if n.trim().eq_ignore_ascii_case(name) {
            return Some(v.trim().trim_matches('"').to_string());
        }
    }
    None
}

/// The status code of a `message/sipfrag` body (`SIP/2.0 200 OK`).
pub fn sipfrag_status(body: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(body.get(..body.len().min(256))?).ok()?;
    let line = text.trim_start().lines().next()?;
    let mut parts = line.split_ascii_whitespace();
    let version = parts.next()?;
    if !version.eq_ignore_ascii_case("SIP/2.0") {
        return None;
    }
    parts.next()?.parse().ok()
}

/// An attribute (or the text) of the first element with this local name.
/// A small scanner, not an XML parser: enough for conference-info's
/// `entity` and similar single values; namespace prefixes are ignored.
pub fn xml_value<'a>(body: &'a [u8], element: &str, attr: Option<&str>) -> Option<Cow<'a, str>> {
    let text = std::str::from_utf8(body).ok()?;
    let mut search = text;
    loop {
        let lt = search.find('<')?;
        let after = &search[lt + 1..];
        let name_end = after
            .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
            .unwrap_or(after.len());
        let full = &after[..name_end];
        let local = full.rsplit(':').next().unwrap_or(full);
        if local == element && !full.starts_with('/') && !full.starts_with('?') {
            let tag_end = after.find('>')?;
            let tag = &after[name_end..tag_end];
            return match attr {
                Some(a) => attr_value(tag, a).map(|v| Cow::Owned(unescape_xml(v))),
                None => {
                    let content = &after[tag_end + 1..];
                    let end = content.find('<').unwrap_or(content.len());
                    Some(Cow::Owned(unescape_xml(content[..end].trim())))
                }
            };
        }
        search = &after[name_end..];
    }
}

fn attr_value<'t>(tag: &'t str, attr: &str) -> Option<&'t str> {
    let mut rest = tag;
    while let Some(eq) = rest.find('=') {
        let name = rest[..eq].trim();
        let name = name
            .rsplit(|c: char| c.is_whitespace())
            .next()
            .unwrap_or(name);
        let after = rest[eq + 1..].trim_start();
        let quote = after.chars().next()?;
        if quote != '"' && quote != '\'' {
            return None;
        }
        let close = after[1..].find(quote)? + 1;
        let local = name.rsplit(':').next().unwrap_or(name);
        if local == attr {
            return Some(&after[1..close]);
        }
        rest = &after[close + 1..];
    }
    None
}

fn unescape_xml(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// Equality as rules mean it: URIs by RFC 3261 equivalence, everything
/// else ASCII case-insensitively (methods, tokens, MIME types, numbers).
pub fn values_equal(a: &str, b: &str) -> bool {
    if uri::looks_like_uri(a) && uri::looks_like_uri(b) {
        uri::equivalent(a, b)
    } else {
        a.trim().eq_ignore_ascii_case(b.trim())
    }
}

/// Evaluate one condition.
pub fn eval_cond(msg: &Msg<'_>, kind: &CondKind, env: &Env<'_>) -> Truth {
    let b = |x: bool| if x { Truth::True } else { Truth::False };
    match kind {
        CondKind::Compare { path, op } => {
            let value = eval_path(msg, path);
            match op {
                Op::Present => b(value.is_some()),
                Op::Absent => b(value.is_none()),
                Op::Eq(rhs) | Op::Ne(rhs) => {
                    let rhs = match rhs {
                        Operand::Literal(s) => Some(s.as_str()),
                        Operand::Var(v) => env.vars.get(*v).and_then(|x| x.as_deref()),
                    };
                    let Some(rhs) = rhs else {
                        return Truth::Unknown;
                    };
                    let eq = value.as_deref().is_some_and(|v| values_equal(v, rhs));
                    b(if matches!(op, Op::Eq(_)) {
                        eq
                    } else {
                        value.is_some() && !eq
                    })
                }
                Op::Matches(re) => b(value.as_deref().is_some_and(|v| re.is_match(v))),
                Op::NotMatches(re) => b(value.as_deref().is_some_and(|v| !re.is_match(v))),
            }
        }
        CondKind::DialogOf { var, peer } => {
            let Some(focus) = env.vars.get(*var).and_then(|x| x.as_deref()) else {
                return Truth::Unknown;
            };
            let of_focus = dialog_of(msg, focus, env.trace);
            match (of_focus, peer) {
                (Truth::False, _) | (_, None) => of_focus,
                (_, Some((role, negated))) => {
                    let Some(node) = env.roles.get(*role).copied().flatten() else {
                        return Truth::Unknown;
                    };
                    match dialog_peer_is(msg, node, env.trace) {
                        Some(is) if is != *negated => of_focus,
                        Some(_) => Truth::False,
                        None => Truth::Unknown,
                    }
                }
            }
        }
        CondKind::FocusFor {
            path,
            role,
            negated,
        } => {
            let Some(value) = eval_path(msg, path) else {
                return Truth::Unknown;
            };
            let Some(node) = env.roles.get(*role).copied().flatten() else {
                return Truth::Unknown;
            };
            match env.trace.is_focus_for(&value, node) {
                None => Truth::Unknown,
                Some(x) => b(x != *negated),
            }
        }
    }
}

/// Does `msg` travel in a dialog of the conference `focus` (RFC 4579)?
fn dialog_of(msg: &Msg<'_>, focus: &str, trace: &Tracker) -> Truth {
    let b = |x: bool| if x { Truth::True } else { Truth::False };
    let dialogs = trace.focus_dialogs(focus);
    if dialogs.is_empty() {
        // No dialog of this conference is in the capture. A dialog known
        // to belong to another conference is not one; else the focus side
        // of a conference dialog is named by the conference URI (RFC 4579:
        // To when the participant dialled in, From when the focus
        // invited), which the dialog's requests keep in From or To.
        if trace.is_focus_dialog(msg.call_key) {
            Truth::False
        } else {
            let names_focus = |h: Option<crate::trace::NameAddr<'_>>| {
                h.and_then(|na| na.uri_str().map(|u| values_equal(u, focus)))
                    .unwrap_or(false)
            };
            b(names_focus(msg.sip.from()) || names_focus(msg.sip.to()))
        }
    } else {
        b(dialogs.iter().any(|d| d.call_id == msg.call_key))
    }
}

/// Is `node` the participant side of the conference dialog `msg` travels
/// in? Known from the dialog's setup when the capture holds it (the nodes
/// it touched), else from a request's Request-URI (the remote target) when
/// it names an address. `None`: the capture cannot tell.
fn dialog_peer_is(msg: &Msg<'_>, node: IpAddr, trace: &Tracker) -> Option<bool> {
    if let Some(touches) = trace.focus_dialog_touches(msg.call_key, node) {
        return Some(touches);
    }
    let host = Uri::parse(msg.sip.request_uri_str()?)?.host()?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.parse::<IpAddr>().ok().map(|ip| ip == node)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sipfrag_status_line() {
        assert_eq!(sipfrag_status(b"SIP/2.0 200 OK\r\n"), Some(200));
        assert_eq!(
            sipfrag_status(b"SIP/2.0 481 Call/Transaction Does Not Exist"),
            Some(481)
        );
        assert_eq!(sipfrag_status(b"INVITE sip:x SIP/2.0"), None);
        assert_eq!(sipfrag_status(b""), None);
    }

    #[test]
    fn xml_attribute_with_namespace_prefix() {
        let body = br#"<?xml version="1.0"?><ci:conference-info xmlns:ci="urn:ietf:params:xml:ns:conference-info" entity="sip:s@a.example.com;x=&amp;" state="full"><ci:users/></ci:conference-info>"#;
        assert_eq!(
            xml_value(body, "conference-info", Some("entity")).as_deref(),
            Some("sip:s@a.example.com;x=&")
        );
        assert_eq!(xml_value(body, "conference-info", Some("version")), None);
        assert_eq!(
            xml_value(b"<a><b>text</b></a>", "b", None).as_deref(),
            Some("text")
        );
    }

    #[test]
    fn params_and_values() {
        assert_eq!(before_params("refer;id=7"), "refer");
        assert_eq!(before_params("<sip:a;x=1>;y=2"), "<sip:a;x=1>");
        assert_eq!(
            header_param("active;expires=60", "expires").as_deref(),
            Some("60")
        );
        assert_eq!(
            header_param("<sip:f@x>;isfocus", "isfocus").as_deref(),
            Some("")
        );
    }

    #[test]
    fn equality_rules() {
        assert!(values_equal("sip:Conf@EXAMPLE.com", "sip:Conf@example.com"));
        assert!(!values_equal(
            "sip:conf@example.com",
            "sip:Conf@example.com"
        ));
        assert!(values_equal("refer", "REFER"));
    }
}
