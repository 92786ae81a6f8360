//! Stage 5: `.flow` rule files → compiled flow patterns.
//!
//! A rule describes one expected message flow, one step a line, like the
//! ladder tables of `shared/spec/flows.md`. Rules are parsed once (with
//! spans, so mistakes are reported like a compiler's: file:line:column, the
//! line, a caret, what was expected), checked, and compiled into [`Rule`]s
//! the matcher runs without re-reading text. The rules in the repository's
//! `rules/` folder are embedded in the binary as the built-in set.
//! `docs/rules.md` is the language reference.

pub mod ast;
mod compile;
pub mod diag;
mod parse;

use std::path::{Path, PathBuf};

pub use ast::Rule;
pub use compile::DEFAULT_TIMEOUT;
pub use diag::{Diagnostic, Diagnostics};

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

/// Compile one rule from text; `file` names it in diagnostics.
pub fn compile_text(file: &str, text: &str) -> Result<Rule, Diagnostics> {
    compile::compile(file, text).map_err(Diagnostics)
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
            let text = std::fs::read_to_string(&file).map_err(|error| LoadError::Io {
                path: file.clone(),
                error,
            })?;
            match compile_text(&file.display().to_string(), &text) {
                Ok(rule) => set.push(rule, &mut errors),
                Err(d) => errors.extend(d.0),
            }
        }
        if errors.is_empty() {
            Ok(set)
        } else {
            Err(LoadError::Invalid(Diagnostics(errors)))
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

/// Compile a single file for `sipflow rules lint`.
pub fn lint(path: &Path) -> Result<Rule, LoadError> {
    let set = RuleSet::load(&[path.to_path_buf()])?;
    set.rules
        .into_iter()
        .next()
        .ok_or_else(|| LoadError::Empty(path.to_path_buf()))
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
        assert_eq!(
            numbers("poc-preest-release-session"),
            (1..=18).collect::<Vec<_>>()
        );
        assert_eq!(
            numbers("poc-preest-participant-notify"),
            (1..=4).collect::<Vec<_>>()
        );
    }
}
