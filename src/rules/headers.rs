//! The SIP header names a rule may mean, to catch typos (`evnt.value`).
//!
//! The IANA "Header Fields" registry of the Session Initiation Protocol
//! (SIP) Parameters, long names and their compact forms (RFC 3261 7.3.3).
//! A path base that is none of these, and not an extension name (`X-...`,
//! `P-...`), draws a warning with the nearest registered name.

/// (long name, compact form) of every registered header field.
const REGISTRY: &[(&str, Option<char>)] = &[
    ("Accept", None),
    ("Accept-Contact", Some('a')),
    ("Accept-Encoding", None),
    ("Accept-Language", None),
    ("Accept-Resource-Priority", None),
    ("Additional-Identity", None),
    ("Alert-Info", None),
    ("AlertMsg-Error", None),
    ("Allow", None),
    ("Allow-Events", Some('u')),
    ("Answer-Mode", None),
    ("Attestation-Info", None),
    ("Authentication-Info", None),
    ("Authorization", None),
    ("Call-ID", Some('i')),
    ("Call-Info", None),
    ("Cellular-Network-Info", None),
    ("Contact", Some('m')),
    ("Content-Disposition", None),
    ("Content-Encoding", Some('e')),
    ("Content-ID", None),
    ("Content-Language", None),
    ("Content-Length", Some('l')),
    ("Content-Type", Some('c')),
    ("CSeq", None),
    ("Date", None),
    ("Encryption", None),
    ("Error-Info", None),
    ("Event", Some('o')),
    ("Expires", None),
    ("Feature-Caps", None),
    ("Flow-Timer", None),
    ("From", Some('f')),
    ("Geolocation", None),
    ("Geolocation-Error", None),
    ("Geolocation-Routing", None),
    ("Hide", None),
    ("History-Info", None),
    ("Identity", Some('y')),
    ("Identity-Info", Some('n')),
    ("Info-Package", None),
    ("In-Reply-To", None),
    ("Join", None),
    ("Max-Breadth", None),
    ("Max-Forwards", None),
    ("MIME-Version", None),
    ("Min-Expires", None),
    ("Min-SE", None),
    ("Organization", None),
    ("Origination-Id", None),
    ("P-Access-Network-Info", None),
    ("P-Answer-State", None),
    ("P-Asserted-Identity", None),
    ("P-Asserted-Service", None),
    ("P-Associated-URI", None),
    ("P-Called-Party-ID", None),
    ("P-Charge-Info", None),
    ("P-Charging-Function-Addresses", None),
    ("P-Charging-Vector", None),
    ("P-DCS-Trace-Party-ID", None),
    ("P-DCS-OSPS", None),
    ("P-DCS-Billing-Info", None),
    ("P-DCS-LAES", None),
    ("P-DCS-Redirect", None),
    ("P-Early-Media", None),
    ("P-Media-Authorization", None),
    ("P-Preferred-Identity", None),
    ("P-Preferred-Service", None),
    ("P-Private-Network-Indication", None),
    ("P-Profile-Key", None),
    ("P-Refused-URI-List", None),
    ("P-Served-User", None),
    ("P-User-Database", None),
    ("P-Visited-Network-ID", None),
    ("Path", None),
    ("Permission-Missing", None),
    ("Policy-Contact", None),
    ("Policy-ID", None),
    ("Priority", None),
    ("Priority-Share", None),
    ("Priority-Verstat", None),
    ("Priv-Answer-Mode", None),
    ("Privacy", None),
    ("Proxy-Authenticate", None),
    ("Proxy-Authorization", None),
    ("Proxy-Require", None),
    ("RAck", None),
    ("Reason", None),
    ("Reason-Phrase", None),
    ("Record-Route", None),
    ("Recv-Info", None),
    ("Refer-Events-At", None),
    ("Refer-Sub", None),
    ("Refer-To", Some('r')),
    ("Referred-By", Some('b')),
    ("Reject-Contact", Some('j')),
    ("Relayed-Charge", None),
    ("Replaces", None),
    ("Reply-To", None),
    ("Request-Disposition", Some('d')),
    ("Require", None),
    ("Resource-Priority", None),
    ("Resource-Share", None),
    ("Response-Key", None),
    ("Response-Source", None),
    ("Restoration-Info", None),
    ("Retry-After", None),
    ("Route", None),
    ("RSeq", None),
    ("Security-Client", None),
    ("Security-Server", None),
    ("Security-Verify", None),
    ("Server", None),
    ("Service-Interact-Info", None),
    ("Service-Route", None),
    ("Session-Expires", Some('x')),
    ("Session-ID", None),
    ("SIP-ETag", None),
    ("SIP-If-Match", None),
    ("Subject", Some('s')),
    ("Subscription-State", None),
    ("Supported", Some('k')),
    ("Suppress-If-Match", None),
    ("Target-Dialog", None),
    ("Timestamp", None),
    ("To", Some('t')),
    ("Trigger-Consent", None),
    ("Unsupported", None),
    ("User-Agent", None),
    ("User-to-User", None),
    ("Via", Some('v')),
    ("Warning", None),
    ("WWW-Authenticate", None),
];

/// Headers in wide use that were never registered (RFC 5806's historic
/// `Diversion`, the `Remote-Party-ID` draft).
const UNREGISTERED: &[&str] = &["Diversion", "Remote-Party-ID"];

/// Is `name` (any case) a registered header name or compact form, or an
/// extension header (`X-...`, `P-...`)?
pub(crate) fn is_known(name: &str) -> bool {
    let extension = |p: &str| {
        name.len() > p.len()
            && name
                .get(..p.len())
                .is_some_and(|s| s.eq_ignore_ascii_case(p))
    };
    extension("x-")
        || extension("p-")
        || REGISTRY.iter().any(|(long, compact)| {
            long.eq_ignore_ascii_case(name) || compact.is_some() && long_form(name) == Some(long)
        })
        || UNREGISTERED.iter().any(|n| n.eq_ignore_ascii_case(name))
}

/// The long name of a compact form (`o` → `Event`).
pub(crate) fn long_form(name: &str) -> Option<&'static str> {
    let mut chars = name.chars();
    let (Some(c), None) = (chars.next(), chars.next()) else {
        return None;
    };
    REGISTRY
        .iter()
        .find(|(_, compact)| *compact == Some(c.to_ascii_lowercase()))
        .map(|(long, _)| *long)
}

/// The path words that are not headers, suggested like header names
/// (`request_uri` is one edit from `request-uri`).
const PATH_WORDS: &[&str] = &[
    "request-uri",
    "method",
    "status",
    "reason",
    "body",
    "sipfrag.status",
];

/// The SIP methods of the IANA "Methods and Response Codes" registry.
const METHODS: &[&str] = &[
    "ACK",
    "BYE",
    "CANCEL",
    "INFO",
    "INVITE",
    "MESSAGE",
    "NOTIFY",
    "OPTIONS",
    "PRACK",
    "PUBLISH",
    "REFER",
    "REGISTER",
    "SUBSCRIBE",
    "UPDATE",
];

/// The registered long name (or path word) nearest to `name` by edit
/// distance, when near enough to be the one meant.
pub(crate) fn nearest(name: &str) -> Option<&'static str> {
    let names = REGISTRY.iter().map(|(long, _)| *long);
    closest(name, names.chain(PATH_WORDS.iter().copied()))
}

/// For a method no registry holds (an extension method is allowed), the
/// registered one it is a typo of, if any (`NOTFY` → `NOTIFY`).
pub(crate) fn misspelt_method(method: &str) -> Option<&'static str> {
    if METHODS.contains(&method) {
        return None;
    }
    closest(method, METHODS.iter().copied())
}

/// The candidate nearest to `name`, ignoring case, within one edit in ten
/// letters and one more.
fn closest(name: &str, candidates: impl Iterator<Item = &'static str>) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    let (best, dist) = candidates
        .map(|c| (c, distance(&lower, &c.to_ascii_lowercase())))
        .min_by_key(|&(_, d)| d)?;
    let allowed = 1 + name.chars().count().max(best.len()) / 10;
    (dist <= allowed).then_some(best)
}

/// Optimal-string-alignment distance: insertions, deletions, substitutions
/// and swaps of two neighbours (`evnet` is one step from `event`).
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Names are short (paths are bounded by the line length); three rows.
    let mut prev2 = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(prev2[j - 2] + 1);
            }
            cur[j] = d;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_compact_and_extension_names_are_known() {
        for n in [
            "event", "Event", "o", "O", "refer-to", "r", "call-id", "i", "CSeq",
        ] {
            assert!(is_known(n), "{n}");
        }
        for n in ["x-debug", "X-Anything", "p-asserted-identity", "P-Made-Up"] {
            assert!(is_known(n), "{n}");
        }
        for n in ["evnt", "g", "x-", "p", "refer_to", "ëvent"] {
            assert!(!is_known(n), "{n}");
        }
    }

    #[test]
    fn suggestions_by_edit_distance() {
        assert_eq!(nearest("evnt"), Some("Event"));
        assert_eq!(nearest("evnet"), Some("Event"));
        assert_eq!(nearest("refer-too"), Some("Refer-To"));
        assert_eq!(nearest("content-tpye"), Some("Content-Type"));
        assert_eq!(nearest("subscription_state"), Some("Subscription-State"));
        assert_eq!(nearest("zzzzzzzz"), None);
        assert_eq!(nearest("frobnication"), None);
        assert_eq!(nearest("request_uri"), Some("request-uri"));
        assert_eq!(misspelt_method("NOTFY"), Some("NOTIFY"));
        assert_eq!(misspelt_method("NOTIFY"), None);
        assert_eq!(misspelt_method("MYEXTENSION"), None);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("ab", "ba"), 1);
    }
}
