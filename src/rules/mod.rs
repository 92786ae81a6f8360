//! Stage 5: `.flow` rule files → compiled flow patterns.
//!
//! A rule describes one expected message flow, one step a line, like the
//! ladder tables of `shared/spec/flows.md`. Rules are parsed once (with
//! spans, so mistakes are reported like a compiler's: file:line:column, the
//! line, a caret, what was expected), checked, and compiled into [`Rule`]s
//! the matcher runs without re-reading text. Mistakes that leave a usable
//! rule (a misspelt header name, a step that can never match) are
//! warnings: shown alike, but the rule loads. Rule files are untrusted
//! input: every size is bounded (the `MAX_*` limits below) and no text,
//! however encoded, makes the parser panic. The rules in the repository's
//! `rules/` folder are embedded in the binary as the built-in set.
//! `docs/rules.md` is the language reference.

pub mod ast;
mod compile;
pub mod diag;
mod headers;
mod never;
mod parse;

use std::io::Read;
use std::path::{Path, PathBuf};

pub use ast::Rule;
pub use compile::DEFAULT_TIMEOUT;
pub use diag::{Diagnostic, Diagnostics, Severity};

// Limits. A rule describes one message flow of a specification: the
// longest in `shared/spec/flows.md` has 18 steps, 7 roles and 3 conditions
// on a step. The matcher's work and memory grow with the size of a rule
// (a rule of 3,000 steps took 1.9 GB once a message arrived), so a rule
// file is bounded well above any real flow and below what hurts; each
// limit, when passed, is an error naming it. `docs/rules.md` lists them.

/// Bytes in one rule file. Read no further: a rule file is a few KiB.
pub const MAX_FILE_BYTES: usize = 1 << 20;
/// Characters on one line (longer lines are refused before parsing, so no
/// line costs more than this to read).
pub const MAX_LINE_CHARS: usize = 1024;
/// Steps (numbered and `opt`) in one rule: the matcher's per-instance state
/// grows with the square of this.
pub const MAX_STEPS: usize = 256;
/// Roles (declared or used) in one rule.
pub const MAX_ROLES: usize = 32;
/// `match` and `expect` conditions on one step.
pub const MAX_CONDITIONS_PER_STEP: usize = 32;
/// `capture` clauses on one step.
pub const MAX_CAPTURES_PER_STEP: usize = 16;
/// Captured variables in one rule.
pub const MAX_VARIABLES: usize = 64;
/// Accessors after a path's base (`refer-to.uri.param(method)` has two).
pub const MAX_ACCESSORS: usize = 8;
/// A `timeout` or `within`: an instance waiting longer for its next step
/// is kept (with its messages) that long, so a limit of years would keep
/// every unfinished instance to the end of the capture. A day covers a
/// BYE after the longest call.
pub const MAX_DURATION: std::time::Duration = std::time::Duration::from_secs(24 * 60 * 60);
/// Compiled size of one regular expression (the `regex` crate's size
/// limit, in bytes; its default is 10 MiB, which a few hundred conditions
/// would multiply).
pub const MAX_REGEX_BYTES: usize = 256 * 1024;
/// Diagnostics shown for one file; past this, one line says how many more
/// there were (a file of garbage is not worth 100,000 errors).
pub const MAX_DIAGNOSTICS: usize = 100;

/// The built-in rules: (file name, text), embedded at build time.
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "poc-preest-participant-notify.flow",
        include_str!("../../rules/poc-preest-participant-notify.flow"),
    ),
    (
        "poc-preest-release-self.flow",
        include_str!("../../rules/poc-preest-release-self.flow"),
    ),
    (
        "poc-preest-release-session.flow",
        include_str!("../../rules/poc-preest-release-session.flow"),
    ),
];

/// Compile one rule from text; `file` names it in diagnostics. Warnings
/// are dropped when it compiles (see [`compile_source`] to keep them) and
/// come with the errors when it does not.
pub fn compile_text(file: &str, text: &str) -> Result<Rule, Diagnostics> {
    compile_source(file, text).map(|c| c.rule)
}

/// A rule that compiled, with the warnings it drew.
#[derive(Debug, Clone)]
pub struct Compiled {
    /// The rule, ready for the matcher.
    pub rule: Rule,
    /// Warnings only (a typo in a header name, a step that can never match).
    pub warnings: Diagnostics,
}

/// Compile one rule from text, keeping its warnings. A leading byte-order
/// mark is skipped.
pub fn compile_source(file: &str, text: &str) -> Result<Compiled, Diagnostics> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let (rule, diags) = compile::compile(file, text);
    match rule {
        Some(rule) if !diags.iter().any(Diagnostic::is_error) => Ok(Compiled {
            rule,
            warnings: Diagnostics(diags),
        }),
        _ => Err(Diagnostics(diags)),
    }
}

/// Compile one rule from a file's bytes: at most [`MAX_FILE_BYTES`] of
/// them, UTF-8 (a file that is not gets one error naming the line, column
/// and byte offset of the first bad byte).
pub fn compile_bytes(file: &str, bytes: &[u8]) -> Result<Compiled, Diagnostics> {
    let first_line = |b: &[u8]| {
        let end = b
            .iter()
            .position(|&c| c == b'\n')
            .unwrap_or(b.len())
            .min(80);
        String::from_utf8_lossy(&b[..end]).trim_end().to_string()
    };
    let error = |span: ast::Span, line_text: String, message: String, help: &str| {
        Diagnostics(vec![Diagnostic {
            severity: Severity::Error,
            file: file.to_string(),
            span,
            line_text,
            message,
            help: help.to_string(),
        }])
    };
    if bytes.len() > MAX_FILE_BYTES {
        return Err(error(
            ast::Span {
                line: 1,
                col: 1,
                len: 1,
            },
            first_line(bytes),
            format!("this file is over {MAX_FILE_BYTES} bytes, the most a rule file may hold"),
            "a rule file describes one flow of a few dozen lines: is this the right file?",
        ));
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => compile_source(file, text),
        Err(e) => {
            let good = &bytes[..e.valid_up_to()];
            let line_start = good.iter().rposition(|&c| c == b'\n').map_or(0, |i| i + 1);
            let line = 1 + good.iter().filter(|&&c| c == b'\n').count();
            // The valid prefix is UTF-8, so this counts characters.
            let col = 1 + String::from_utf8_lossy(&good[line_start..]).chars().count();
            let bad = bytes[e.valid_up_to()];
            // The line up to a little past the bad byte, which shows as
            // U+FFFD under the caret.
            let rest = &bytes[e.valid_up_to()..];
            let end = e.valid_up_to()
                + rest
                    .iter()
                    .take(40)
                    .position(|&c| c == b'\n')
                    .unwrap_or(rest.len().min(40));
            let mut shown = String::from_utf8_lossy(&bytes[line_start..end])
                .trim_end()
                .to_string();
            let mut at = col;
            if col > MAX_LINE_CHARS {
                // Too long a line to show: its start, the caret at column 1.
                shown = shown.chars().take(60).chain("...".chars()).collect();
                at = 1;
            }
            Err(error(
                ast::Span {
                    line,
                    col: at,
                    len: 1,
                },
                shown,
                format!(
                    "this file is not UTF-8: byte 0x{bad:02X} at byte offset {} (line {line}, column {col})",
                    e.valid_up_to()
                ),
                if bytes.starts_with(&[0xff, 0xfe]) || bytes.starts_with(&[0xfe, 0xff]) {
                    "this file is UTF-16 (it starts with its byte-order mark): save it as UTF-8"
                } else {
                    "save the rule file as UTF-8"
                },
            ))
        }
    }
}

/// Why a set of rules could not be loaded.
#[derive(Debug)]
pub enum LoadError {
    /// A file or folder could not be read.
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    /// One or more rule files have mistakes.
    Invalid(Diagnostics),
    /// A folder holds no `.flow` file.
    Empty(PathBuf),
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Io { path, error } => {
                write!(f, "cannot read rules from {}: {error}", path.display())
            }
            LoadError::Invalid(d) => write!(f, "{d}"),
            LoadError::Empty(p) => write!(
                f,
                "{} holds no .flow file; give a rule file or a folder of them",
                p.display()
            ),
        }
    }
}

impl std::error::Error for LoadError {}

/// An ordered set of rules with unique ids.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
    /// The warnings of the files the rules came from, for the user to see
    /// (they do not stop a rule from loading).
    pub warnings: Vec<Diagnostic>,
}

impl RuleSet {
    /// The built-in rules (they are tested to compile; a failure here is a
    /// bug in the build).
    pub fn builtin() -> RuleSet {
        let mut set = RuleSet::default();
        for (name, text) in BUILTIN {
            match compile_text(&format!("builtin:{name}"), text) {
                Ok(rule) => set.rules.push(rule),
                Err(d) => panic!("built-in rule {name} does not compile:\n{d}"),
            }
        }
        set
    }

    /// Load rules from files and folders (every `*.flow` inside a folder,
    /// in name order). Every mistake of every file is reported at once.
    pub fn load(paths: &[PathBuf]) -> Result<RuleSet, LoadError> {
        let mut files = Vec::new();
        for path in paths {
            if path.is_dir() {
                let entries = std::fs::read_dir(path).map_err(|error| LoadError::Io {
                    path: path.clone(),
                    error,
                })?;
                let mut found: Vec<PathBuf> = entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "flow"))
                    .collect();
                if found.is_empty() {
                    return Err(LoadError::Empty(path.clone()));
                }
                found.sort();
                files.extend(found);
            } else {
                files.push(path.clone());
            }
        }
        let mut set = RuleSet::default();
        let mut errors = Vec::new();
        for file in files {
            let bytes = read_bounded(&file).map_err(|error| LoadError::Io {
                path: file.clone(),
                error,
            })?;
            // Errors and warnings together, file by file.
            match compile_bytes(&file.display().to_string(), &bytes) {
                Ok(c) => {
                    errors.extend(c.warnings.0);
                    set.push(c.rule, &mut errors);
                }
                Err(d) => errors.extend(d.0),
            }
        }
        if errors.iter().any(Diagnostic::is_error) {
            Err(LoadError::Invalid(Diagnostics(errors)))
        } else {
            set.warnings = errors;
            Ok(set)
        }
    }

    fn push(&mut self, rule: Rule, errors: &mut Vec<Diagnostic>) {
        if let Some(other) = self.rules.iter().find(|r| r.id == rule.id) {
            let line = rule
                .text
                .lines()
                .position(|l| l.starts_with("flow"))
                .unwrap_or(0);
            errors.push(Diagnostic {
                severity: Severity::Error,
                file: rule.source.clone(),
                span: ast::Span {
                    line: line + 1,
                    col: 1,
                    len: 4,
                },
                line_text: rule.text.lines().nth(line).unwrap_or("").to_string(),
                message: format!("rule id `{}` is also defined in {}", rule.id, other.source),
                help: "give each rule its own id".into(),
            });
            return;
        }
        self.rules.push(rule);
    }

    /// Find a rule by id.
    pub fn get(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id == id)
    }
}

/// A file's bytes, at most one more than [`MAX_FILE_BYTES`] (enough to
/// tell it is too large without reading a huge or endless file).
fn read_bounded(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_FILE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Compile a single file for `sipflow rules lint`, with its warnings.
pub fn lint(path: &Path) -> Result<Compiled, LoadError> {
    let set = RuleSet::load(&[path.to_path_buf()])?;
    let rule = set
        .rules
        .into_iter()
        .next()
        .ok_or_else(|| LoadError::Empty(path.to_path_buf()))?;
    Ok(Compiled {
        rule,
        warnings: Diagnostics(set.warnings),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_rules_compile_with_spec_step_numbers() {
        let set = RuleSet::builtin();
        let numbers = |id: &str| -> Vec<u32> {
            set.get(id)
                .unwrap()
                .required_steps()
                .filter_map(|(_, s)| s.number)
                .collect()
        };
        assert_eq!(
            numbers("poc-preest-release-self"),
            (1..=12).collect::<Vec<_>>()
        );
        // Flow 2: 1-18 toward part-b, then 6 and 11 again inside the
        // per-participant block (every other participating server).
        let mut f2 = (1..=11).collect::<Vec<_>>();
        f2.extend([6, 11]);
        f2.extend(12..=18);
        assert_eq!(numbers("poc-preest-release-session"), f2);
        assert_eq!(
            numbers("poc-preest-participant-notify"),
            (1..=4).collect::<Vec<_>>()
        );
    }
}
