//! Rule-file diagnostics, printed like a compiler's.
//!
//! ```text
//! error: unknown role `core-c`
//!   --> rules/my.flow:12:14
//!    |
//! 12 | 3   part-b -> core-c   BYE
//!    |              ^^^^^^ expected one of the roles declared on line 3: client-b, core-b, part-b
//! ```
//!
//! Errors stop a rule from loading; warnings (a misspelt header name, a
//! step that can never match) are shown the same way but do not. Columns
//! count characters; the caret line is laid out by display width (wide
//! characters take two cells, combining marks none, a tab stays a tab), and
//! control and bidirectional-override characters of the rule text are shown
//! escaped (`\u{202e}`), so a hostile line can neither move the caret nor
//! drive the terminal.

use std::fmt;

use unicode_width::UnicodeWidthChar;

use super::ast::Span;

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The rule is usable but probably not what was meant.
    Warning,
    /// The rule cannot be loaded.
    Error,
}

/// One error or warning in a rule file, with everything needed to show it
/// in context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error (the rule does not load) or warning (it does).
    pub severity: Severity,
    /// The rule file (path or `builtin:NAME`).
    pub file: String,
    pub span: Span,
    /// The source line the span points into.
    pub line_text: String,
    /// What is wrong, in a few words.
    pub message: String,
    /// What was expected or what to do, shown under the caret.
    pub help: String,
}

impl Diagnostic {
    /// Is this an error (the rule does not load)?
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// A character shown as an escape instead of itself: controls (NUL, ESC,
/// CR...) and the invisible characters that reorder or hide text (bidi
/// marks and overrides, zero-width joiners, the byte-order mark).
fn shown_escaped(c: char) -> bool {
    c != '\t'
        && (c.is_control()
            || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}'))
}

/// Rule text made safe to print on one line.
pub(crate) fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if shown_escaped(c) {
            out.push_str(&c.escape_unicode().to_string());
        } else {
            out.push(c);
        }
    }
    out
}

/// The cells `c` takes once printed by [`printable`].
fn cells(c: char) -> usize {
    if shown_escaped(c) {
        c.escape_unicode().count()
    } else {
        c.width().unwrap_or(0)
    }
}

/// The caret line's padding and carets for a span of characters
/// `[col, col + len)` (1-based) of `line`: tabs copied so the terminal
/// expands them alike, everything else as blanks of its display width.
fn caret_line(line: &str, col: usize, len: usize) -> (String, String) {
    let mut pad = String::new();
    let mut under = 0;
    let mut seen = 0;
    for (i, c) in line.chars().enumerate() {
        let col_here = i + 1;
        seen = col_here;
        if col_here < col {
            if c == '\t' {
                pad.push('\t');
            } else {
                pad.extend(std::iter::repeat_n(' ', cells(c)));
            }
        } else if col_here < col.saturating_add(len) {
            under += if c == '\t' { 1 } else { cells(c) };
        } else {
            break;
        }
    }
    // A span past the end of the line (an `expected ..., found end of
    // line`): blanks up to its column, one caret.
    if seen + 1 < col {
        pad.extend(std::iter::repeat_n(' ', col - seen - 1));
    }
    (pad, "^".repeat(under.max(1)))
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let line_no = self.span.line.to_string();
        let pad = " ".repeat(line_no.len());
        let kind = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        writeln!(f, "{kind}: {}", printable(&self.message))?;
        writeln!(
            f,
            "{pad}--> {}:{}:{}",
            self.file, self.span.line, self.span.col
        )?;
        writeln!(f, "{pad} |")?;
        writeln!(f, "{line_no} | {}", printable(&self.line_text))?;
        let (caret_pad, carets) = caret_line(&self.line_text, self.span.col, self.span.len);
        write!(f, "{pad} | {caret_pad}{carets}")?;
        if !self.help.is_empty() {
            write!(f, " {}", printable(&self.help))?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostic {}

/// All the diagnostics of one load, so a user sees every mistake at once.
#[derive(Debug, Clone, Default)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// The number of errors (warnings not counted).
    pub fn errors(&self) -> usize {
        self.0.iter().filter(|d| d.is_error()).count()
    }

    /// The number of warnings.
    pub fn warnings(&self) -> usize {
        self.0.len() - self.errors()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

#[cfg(test)]
mod tests {
    use super::*;

    fn diag(line: &str, col: usize, len: usize) -> String {
        Diagnostic {
            severity: Severity::Error,
            file: "t.flow".into(),
            span: Span { line: 1, col, len },
            line_text: line.into(),
            message: "m".into(),
            help: "h".into(),
        }
        .to_string()
    }

    #[test]
    fn carets_follow_display_width() {
        // `→` one cell, `漢` two, a combining acute none.
        let d = diag("a → 漢e\u{301} x", 9, 1);
        assert!(d.ends_with("1 | a → 漢e\u{301} x\n  |         ^ h"), "{d}");
        let d = diag("漢字 x", 1, 2);
        assert!(d.ends_with("  | ^^^^ h"), "{d}");
        // A tab is copied into the padding.
        let d = diag("\tx", 2, 1);
        assert!(d.ends_with("  | \t^ h"), "{d}");
    }

    #[test]
    fn controls_are_escaped_and_carets_follow() {
        let d = diag("a\u{202e}b\0c", 5, 1);
        assert!(d.contains("1 | a\\u{202e}b\\u{0}c\n"), "{d}");
        assert!(d.ends_with(&format!("  | {}^ h", " ".repeat(15))), "{d}");
    }

    #[test]
    fn span_past_the_end_of_the_line() {
        let d = diag("ab", 3, 3);
        assert!(d.ends_with("  |   ^ h"), "{d}");
        let d = diag("ab", 5, 1);
        assert!(d.ends_with("  |     ^ h"), "{d}");
    }
}
