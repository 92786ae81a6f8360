//! Rule-file diagnostics, printed like a compiler's.
//!
//! ```text
//! error: unknown role `core-c`
//!   --> rules/my.flow:12:14
//!    |
//! 12 | 3   part-b -> core-c   BYE
//!    |              ^^^^^^ expected one of the roles declared on line 3: client-b, core-b, part-b
//! ```

use std::fmt;

use super::ast::Span;

/// One error in a rule file, with everything needed to show it in context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
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

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let line_no = self.span.line.to_string();
        let pad = " ".repeat(line_no.len());
        writeln!(f, "error: {}", self.message)?;
        writeln!(
            f,
            "{pad}--> {}:{}:{}",
            self.file, self.span.line, self.span.col
        )?;
        writeln!(f, "{pad} |")?;
        writeln!(f, "{line_no} | {}", self.line_text)?;
        let caret_pad = " ".repeat(self.span.col.saturating_sub(1));
        let carets = "^".repeat(self.span.len.max(1));
        write!(f, "{pad} | {caret_pad}{carets}")?;
        if !self.help.is_empty() {
            write!(f, " {}", self.help)?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostic {}

/// All the diagnostics of one load, so a user sees every mistake at once.
#[derive(Debug, Clone, Default)]
pub struct Diagnostics(pub Vec<Diagnostic>);

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
