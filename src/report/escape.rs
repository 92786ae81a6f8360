//! Escaping of untrusted text, for every sink.
//!
//! A capture is untrusted input: a Call-ID, a Request-URI, a reason phrase
//! or any header the report echoes can hold bytes that a terminal obeys
//! (ESC sequences that set the window title, clear the screen or recolour
//! the rest of the output; the C1 controls U+009B CSI and U+009D OSC, which
//! some terminals honour like ESC [ and ESC ]) or that reorder what people
//! read (U+202E RIGHT-TO-LEFT OVERRIDE and the other bidirectional
//! controls). Every string that reaches a terminal or a JSON consumer
//! passes through this module; nothing from a capture is printed raw.
//!
//! The escaped set ([`needs_escape`]): the C0 controls U+0000–U+001F, DEL
//! U+007F, the C1 controls U+0080–U+009F, the bidirectional controls
//! U+061C, U+200E, U+200F, U+202A–U+202E and U+2066–U+2069, and the line
//! and paragraph separators U+2028 and U+2029.
//!
//! - For terminals ([`terminal`], [`terminal_bytes`], [`Terminal`]) as
//!   `less` and Wireshark show them: `\t`, `\n` and `\r` by name, other C0
//!   controls and DEL as `\x1b`, the rest as `\u202e`; bytes that are not
//!   UTF-8 as `\xNN`, one per byte. A backslash is left as it is (the text
//!   stays readable; the output is unambiguous enough for people, and safe).
//! - For JSON ([`json_str`], [`json_bytes`]): the same set as `\u00NN` /
//!   `\u202e` escapes (besides the `\"`, `\\`, `\n`, `\r`, `\t` JSON
//!   requires), so no consumer meets them raw; bytes that are not UTF-8
//!   become U+FFFD REPLACEMENT CHARACTER, as tshark writes them (JSON
//!   strings are Unicode text; documented in `docs/report-json.md`).

use std::borrow::Cow;
use std::fmt::{self, Write as _};

/// True for the characters no sink writes raw (see the module
/// documentation for the set and why).
#[inline]
pub fn needs_escape(c: char) -> bool {
    matches!(
        c,
        '\u{0}'..='\u{1f}'
            | '\u{7f}'..='\u{9f}'
            | '\u{61c}'
            | '\u{200e}'
            | '\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}'
    )
}

/// True when `s` can be written as it is: printable ASCII only (the fast
/// path of every escaper; SIP values are nearly always that).
#[inline]
fn plain_ascii(s: &[u8]) -> bool {
    s.iter().all(|&b| (0x20..0x7f).contains(&b))
}

/// Write one character of the escaped set the terminal way.
fn push_char_escape(out: &mut impl fmt::Write, c: char) -> fmt::Result {
    match c {
        '\t' => out.write_str("\\t"),
        '\n' => out.write_str("\\n"),
        '\r' => out.write_str("\\r"),
        c if (c as u32) < 0x80 => write!(out, "\\x{:02x}", c as u32),
        c => write!(out, "\\u{:04x}", c as u32),
    }
}

/// Write `s` escaped for a terminal; with `keep_lines`, `\n` and `\t` are
/// kept (multi-line text such as a rule file or a diagnostic).
fn write_terminal(out: &mut impl fmt::Write, s: &str, keep_lines: bool) -> fmt::Result {
    let mut from = 0;
    for (i, c) in s.char_indices() {
        if needs_escape(c) && !(keep_lines && (c == '\n' || c == '\t')) {
            out.write_str(&s[from..i])?;
            push_char_escape(out, c)?;
            from = i + c.len_utf8();
        }
    }
    out.write_str(&s[from..])
}

/// `s` as one line safe for a terminal (nothing to change: borrowed).
pub fn terminal(s: &str) -> Cow<'_, str> {
    if plain_ascii(s.as_bytes()) || !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    let _ = write_terminal(&mut out, s, false);
    Cow::Owned(out)
}

/// Multi-line text (a rule file, a diagnostic with its source line) safe
/// for a terminal: like [`terminal`], but line feeds and tabs are kept.
pub fn terminal_text(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| needs_escape(c) && c != '\n' && c != '\t') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    let _ = write_terminal(&mut out, s, true);
    Cow::Owned(out)
}

/// Bytes from a capture as one line safe for a terminal: valid UTF-8 as
/// [`terminal`] writes it, every byte of an invalid sequence as `\xNN`.
pub fn terminal_bytes(b: &[u8]) -> Cow<'_, str> {
    if plain_ascii(b) {
        // Checked just above: printable ASCII is UTF-8.
        return match std::str::from_utf8(b) {
            Ok(s) => Cow::Borrowed(s),
            Err(_) => Cow::Owned(String::new()),
        };
    }
    let mut out = String::with_capacity(b.len() + 8);
    for chunk in b.utf8_chunks() {
        let _ = write_terminal(&mut out, chunk.valid(), false);
        for byte in chunk.invalid() {
            let _ = write!(out, "\\x{byte:02x}");
        }
    }
    Cow::Owned(out)
}

/// A `Display` adapter writing a string escaped for a terminal, without
/// allocating: `write!(out, "{}", Terminal(s))`.
pub struct Terminal<'a>(pub &'a str);

impl fmt::Display for Terminal<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_terminal(f, self.0, false)
    }
}

/// Append `s` as a JSON string literal, the escaped set as `\u` escapes.
pub fn json_str(out: &mut String, s: &str) {
    out.push('"');
    // Fast path: printable ASCII without a quote or a backslash (the
    // common case for SIP values).
    if s.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
    {
        out.push_str(s);
        out.push('"');
        return;
    }
    push_json_chars(out, s);
    out.push('"');
}

/// Append bytes from a capture as a JSON string literal: [`json_str`] of
/// the text, each invalid UTF-8 sequence as U+FFFD.
pub fn json_bytes(out: &mut String, b: &[u8]) {
    out.push('"');
    for chunk in b.utf8_chunks() {
        push_json_chars(out, chunk.valid());
        if !chunk.invalid().is_empty() {
            out.push('\u{fffd}');
        }
    }
    out.push('"');
}

fn push_json_chars(out: &mut String, s: &str) {
    let mut from = 0;
    for (i, c) in s.char_indices() {
        let esc = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            c if needs_escape(c) => "",
            _ => continue,
        };
        out.push_str(&s[from..i]);
        if esc.is_empty() {
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push_str(esc);
        }
        from = i + c.len_utf8();
    }
    out.push_str(&s[from..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str = "a\u{1b}]0;pwned\u{7}b\u{9b}2J\u{202e}c\u{7f}\u{2066}d\té";

    #[test]
    fn terminal_escapes_the_whole_set() {
        assert_eq!(
            terminal(HOSTILE),
            "a\\x1b]0;pwned\\x07b\\u009b2J\\u202ec\\x7f\\u2066d\\té"
        );
        for c in ['\u{61c}', '\u{200e}', '\u{200f}', '\u{202a}', '\u{2069}'] {
            let s = c.to_string();
            assert_eq!(terminal(&s), format!("\\u{:04x}", c as u32));
        }
        assert!(matches!(terminal("sip:a@b.example"), Cow::Borrowed(_)));
        assert!(matches!(terminal("café"), Cow::Borrowed(_)));
        assert_eq!(Terminal(HOSTILE).to_string(), terminal(HOSTILE));
    }

    #[test]
    fn terminal_text_keeps_lines() {
        assert_eq!(terminal_text("a\n\tb\u{1b}[2J\r\n"), "a\n\tb\\x1b[2J\\r\n");
    }

    #[test]
    fn invalid_utf8_shown_as_bytes() {
        assert_eq!(
            terminal_bytes(b"id\xff\xc3-\x1b\xe2\x80\xaeok\xc3\xa9"),
            "id\\xff\\xc3-\\x1b\\u202eok\u{e9}"
        );
        assert_eq!(terminal_bytes(b"plain"), "plain");
    }

    #[test]
    fn json_escapes_the_same_set() {
        let mut s = String::new();
        json_str(&mut s, HOSTILE);
        assert_eq!(
            s,
            "\"a\\u001b]0;pwned\\u0007b\\u009b2J\\u202ec\\u007f\\u2066d\\té\""
        );
        let mut s = String::new();
        json_str(&mut s, "a\"b\\c\nd\u{1}é");
        assert_eq!(s, "\"a\\\"b\\\\c\\nd\\u0001é\"");
        let mut s = String::new();
        json_bytes(&mut s, b"x\xff\xfey\x1b");
        assert_eq!(s, "\"x\u{fffd}\u{fffd}y\\u001b\"");
    }

    #[test]
    fn every_escape_is_printable_ascii() {
        for c in (0u32..0x3000)
            .filter_map(char::from_u32)
            .filter(|&c| needs_escape(c))
        {
            let s = c.to_string();
            assert!(plain_ascii(terminal(&s).as_bytes()), "{c:?}");
            let mut j = String::new();
            json_str(&mut j, &s);
            assert!(plain_ascii(j.as_bytes()), "{c:?}");
        }
    }
}
