//! `;name=value` parameter lists, as found after URIs, name-addrs, Via,
//! Event, Subscription-State and Content-Type values.

use super::lex::{as_str, is_lws, quoted_end, trim, trim_end};

/// One parameter. `value` is `None` for a flag (`;lr`), the text between
/// the quotes for a quoted value (escapes left as they are), else the
/// value's text. Comparison of names is the caller's: SIP parameter names
/// are case-insensitive (use [`Param::is`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param<'a> {
    /// The name as written.
    pub name: &'a str,
    /// The value (`None` for a flag).
    pub value: Option<&'a str>,
}

impl Param<'_> {
    /// True when this parameter is called `name` (ASCII case-insensitive).
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }
}

/// Iterator over the parameters of a `;`-separated list.
///
/// Tolerant: white space (including folded line breaks) around `;` and `=`
/// is skipped, empty parameters (`;;`) are skipped, and a parameter whose
/// name or value is not UTF-8 is skipped (its bytes cannot be a valid
/// `token` or `quoted-string` anyway).
#[derive(Debug, Clone)]
pub struct Params<'a> {
    rest: &'a [u8],
}

impl<'a> Params<'a> {
    /// Parameters in `s`; a leading `;` is optional.
    pub fn new(s: &'a [u8]) -> Self {
        Params { rest: s }
    }

    /// The first parameter called `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<Param<'a>> {
        let mut raw = self.clone();
        while let Some((n, v)) = raw.next_raw() {
            if trim(n).eq_ignore_ascii_case(name.as_bytes())
                && let Some(p) = convert(n, v)
            {
                return Some(p);
            }
        }
        None
    }

    /// The value of the first parameter called `name`; `None` when the
    /// parameter is missing or is a flag without a value.
    pub fn value(&self, name: &str) -> Option<&'a str> {
        let mut raw = self.clone();
        while let Some((n, v)) = raw.next_raw() {
            if trim(n).eq_ignore_ascii_case(name.as_bytes()) {
                return as_str(v?);
            }
        }
        None
    }

    /// The next parameter as bytes: name (non-empty) and value.
    fn next_raw(&mut self) -> Option<(&'a [u8], Option<&'a [u8]>)> {
        loop {
            let s = self.rest;
            // Skip separators and white space before the name.
            let start = s.iter().position(|&c| c != b';' && !is_lws(c))?;
            let s = &s[start..];
            let name_len = s
                .iter()
                .position(|&c| c == b'=' || c == b';' || is_lws(c))
                .unwrap_or(s.len());
            let name = &s[..name_len];
            let mut i = name_len;
            while i < s.len() && is_lws(s[i]) {
                i += 1;
            }
            let mut value = None;
            if i < s.len() && s[i] == b'=' {
                i += 1;
                while i < s.len() && is_lws(s[i]) {
                    i += 1;
                }
                let v = &s[i..];
                if v.first() == Some(&b'"') {
                    let end = quoted_end(v);
                    let inner_end = if end > 1 && v.get(end - 1) == Some(&b'"') {
                        end - 1
                    } else {
                        end
                    };
                    value = Some(v.get(1..inner_end).unwrap_or_default());
                    i += end;
                } else {
                    let len = memchr::memchr(b';', v).unwrap_or(v.len());
                    value = Some(trim_end(&v[..len]));
                    i += len;
                }
            }
            // Anything else up to the next ';' is junk in this parameter.
            let tail = &s[i.min(s.len())..];
            let skip = memchr::memchr(b';', tail).unwrap_or(tail.len());
            self.rest = &tail[skip..];
            if !name.is_empty() {
                return Some((name, value));
            }
            if self.rest.is_empty() {
                return None;
            }
        }
    }
}

/// A raw parameter as text; `None` when name or value is not UTF-8.
fn convert<'a>(name: &'a [u8], value: Option<&'a [u8]>) -> Option<Param<'a>> {
    let name = as_str(trim(name))?;
    let value = match value {
        Some(v) => Some(as_str(v)?),
        None => None,
    };
    Some(Param { name, value })
}

impl<'a> Iterator for Params<'a> {
    type Item = Param<'a>;

    fn next(&mut self) -> Option<Param<'a>> {
        loop {
            let (n, v) = self.next_raw()?;
            if let Some(p) = convert(n, v) {
                return Some(p);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(s: &str) -> Vec<(&str, Option<&str>)> {
        Params::new(s.as_bytes())
            .map(|p| (p.name, p.value))
            .collect()
    }

    #[test]
    fn lws_and_flags() {
        assert_eq!(
            all(" ;   tag    = 1918181833n"),
            vec![("tag", Some("1918181833n"))]
        );
        assert_eq!(
            all(";lr;unknownwith=value;unknown-no-value"),
            vec![
                ("lr", None),
                ("unknownwith", Some("value")),
                ("unknown-no-value", None)
            ]
        );
        assert_eq!(
            all(" ; newparam =\r\n      newvalue ;\r\n  secondparam ; q = 0.33"),
            vec![
                ("newparam", Some("newvalue")),
                ("secondparam", None),
                ("q", Some("0.33"))
            ]
        );
        assert_eq!(all(";;;;"), vec![]);
        assert_eq!(all(""), vec![]);
    }

    #[test]
    fn quoted_values_keep_semicolons() {
        assert_eq!(all(r#";a="x;y";b"#), vec![("a", Some("x;y")), ("b", None)]);
        assert_eq!(all(r#";a="open"#), vec![("a", Some("open"))]);
        assert_eq!(
            Params::new(b";Branch=z9hG4bK1").value("branch"),
            Some("z9hG4bK1")
        );
    }
}
