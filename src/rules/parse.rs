//! The `.flow` syntax: text → syntax tree with spans (nom token parsers).
//!
//! The language is line-oriented and reads like the ladder tables of
//! `flows.md`: directives (`flow`, `title`, `session`, `timeout`, `roles`,
//! `repeat`/`end`) start at column 1, a step line starts with its number
//! (or `opt` for an optional message), and indented lines below a step add
//! clauses to it. `#` starts a comment. `docs/rules.md` is the reference.
//!
//! Names are resolved (roles, variables, step numbers) by `compile`; this
//! module only knows the shape of a line.

// A diagnostic is the parser's error value (128 bytes); a rule file is
// parsed once, so boxing it would buy nothing.
#![allow(clippy::result_large_err)]

use nom::branch::alt;
use nom::bytes::complete::{tag, take_while, take_while1};
use nom::character::complete::digit1;
use nom::{IResult, Parser};

use super::ast::Span;
use super::diag::{Diagnostic, Severity};
use super::{MAX_ACCESSORS, MAX_DIAGNOSTICS, MAX_DURATION, MAX_LINE_CHARS};

/// One parsed rule file, names still unresolved.
#[derive(Debug, Default, Clone)]
pub struct SyntaxFile {
    pub flow: Option<(String, Span)>,
    pub title: Option<String>,
    pub session: Option<(String, Span)>,
    pub timeout: Option<std::time::Duration>,
    pub roles: Option<(Vec<(String, Span)>, Span)>,
    /// `proxy ROLE...`: roles that stand for a chain of proxies.
    pub proxies: Vec<(String, Span)>,
    /// `context KIND key=value...`.
    pub context: Option<SyntaxContext>,
    pub steps: Vec<SyntaxStep>,
    pub repeats: Vec<SyntaxRepeat>,
    /// Errors found past the first [`MAX_DIAGNOSTICS`], counted, not kept.
    pub unreported: usize,
    /// `either ... or ... end` blocks of alternative steps.
    pub alternatives: Vec<SyntaxAlt>,
    /// The blocks open at the current line, innermost last.
    open: Vec<Block>,
}

/// A block a line can open: `repeat` or `either`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    Repeat,
    Either,
}

/// An `either ... or ... end` block: alternative branches of steps, by
/// step positions.
#[derive(Debug, Clone)]
pub struct SyntaxAlt {
    pub span: Span,
    pub branches: Vec<SyntaxBranch>,
}

/// One branch of an `either` block.
#[derive(Debug, Clone)]
pub struct SyntaxBranch {
    pub label: String,
    pub span: Span,
    /// Index in `SyntaxFile::steps` of its first step, and one past its last.
    pub start: usize,
    pub end: usize,
}

/// A `context` line: its kind and `key=value` bindings.
#[derive(Debug, Clone)]
pub struct SyntaxContext {
    pub kind: (String, Span),
    pub bindings: Vec<((String, Span), (String, Span))>,
    pub span: Span,
}

/// A `repeat dialog-of $var (roles) ... end` block, by step positions.
#[derive(Debug, Clone)]
pub struct SyntaxRepeat {
    pub var: (String, Span),
    pub roles: Vec<(String, Span)>,
    /// Index in `SyntaxFile::steps` of the first step inside, and one past the last.
    pub start: usize,
    pub end: Option<usize>,
    pub span: Span,
}

/// A step line with its continuation lines.
#[derive(Debug, Clone)]
pub struct SyntaxStep {
    pub number: Option<(u32, Span)>,
    pub optional: bool,
    pub from: (String, Span),
    pub to: (String, Span),
    /// Written `from -> ... -> to`.
    pub path: bool,
    pub message: SyntaxMessage,
    pub message_span: Span,
    pub clauses: Vec<Clause>,
    pub span: Span,
    pub summary: String,
}

/// The message of a step, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyntaxMessage {
    Request(String),
    Response { status: String, method: String },
}

/// One clause of a step.
#[derive(Debug, Clone)]
pub enum Clause {
    Relation {
        kind: RelationKind,
        step: u32,
        span: Span,
    },
    Match(SyntaxCond),
    Expect(SyntaxCond),
    Capture {
        var: (String, Span),
        path: SyntaxPath,
    },
    Within(std::time::Duration),
}

/// The three relation keywords.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelationKind {
    SameTransaction,
    ResponseTo,
    InDialog,
}

/// A condition as written.
#[derive(Debug, Clone)]
pub struct SyntaxCond {
    pub kind: SyntaxCondKind,
    pub text: String,
    pub span: Span,
}

/// The forms of a written condition.
#[derive(Debug, Clone)]
pub enum SyntaxCondKind {
    Compare {
        path: SyntaxPath,
        op: SyntaxOp,
    },
    DialogOf {
        var: (String, Span),
        /// `with ROLE` (false) or `without ROLE` (true).
        peer: Option<((String, Span), bool)>,
    },
    FocusFor {
        path: SyntaxPath,
        role: (String, Span),
        negated: bool,
    },
}

/// An operator and its operand as written.
#[derive(Debug, Clone)]
pub enum SyntaxOp {
    Eq(SyntaxValue),
    Ne(SyntaxValue),
    Matches(String, Span),
    NotMatches(String, Span),
    Present,
    Absent,
}

/// A literal or a variable.
#[derive(Debug, Clone)]
pub enum SyntaxValue {
    Literal(String),
    Var(String, Span),
}

/// A path as written: base word(s) and accessors.
#[derive(Debug, Clone)]
pub struct SyntaxPath {
    pub base: String,
    /// Argument of `header(...)` / `xml(...)`.
    pub base_arg: Option<String>,
    pub accessors: Vec<(String, Option<String>)>,
    pub span: Span,
    pub text: String,
}

type PResult<'a, O> = IResult<&'a str, O>;

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

fn name(i: &str) -> PResult<'_, &str> {
    take_while1(is_name_char)(i)
}

fn spaces(i: &str) -> PResult<'_, &str> {
    take_while(|c: char| c == ' ' || c == '\t')(i)
}

/// A quoted string with `\"` and `\\` escapes; returns the unescaped text.
fn quoted(i: &str) -> PResult<'_, String> {
    let (mut rest, _) = tag("\"")(i)?;
    let mut out = String::new();
    loop {
        let mut chars = rest.chars();
        match chars.next() {
            None => {
                return Err(nom::Err::Error(nom::error::Error::new(
                    rest,
                    nom::error::ErrorKind::Char,
                )));
            }
            Some('"') => return Ok((chars.as_str(), out)),
            Some('\\') => match chars.next() {
                Some(c) => {
                    out.push(c);
                    rest = chars.as_str();
                }
                None => {
                    return Err(nom::Err::Error(nom::error::Error::new(
                        rest,
                        nom::error::ErrorKind::Char,
                    )));
                }
            },
            Some(c) => {
                out.push(c);
                rest = chars.as_str();
            }
        }
    }
}

fn duration(i: &str) -> PResult<'_, std::time::Duration> {
    let (rest, digits) = digit1(i)?;
    let (rest, unit) = alt((tag("ms"), tag("s"), tag("m"))).parse(rest)?;
    let n: u64 = digits.parse().unwrap_or(u64::MAX);
    let d = match unit {
        "ms" => std::time::Duration::from_millis(n),
        "s" => std::time::Duration::from_secs(n),
        _ => std::time::Duration::from_secs(n.saturating_mul(60)),
    };
    Ok((rest, d))
}

/// A cursor over one line: tracks the column for spans and turns nom
/// failures into diagnostics that say what was expected.
///
/// Columns count characters. Every position is a suffix of `text` (the
/// parsers only ever advance `rest` by whole tokens), located by its byte
/// offset and turned into a column by counting characters from the last
/// position asked for, so a line costs linear time however many tokens it
/// has.
struct Line<'a> {
    file: &'a str,
    text: &'a str,
    line: usize,
    rest: &'a str,
    /// The last (byte offset, column) computed.
    mark: std::cell::Cell<(usize, usize)>,
}

impl<'a> Line<'a> {
    fn new(file: &'a str, text: &'a str, line: usize) -> Self {
        Line {
            file,
            text,
            line,
            rest: text,
            mark: std::cell::Cell::new((0, 1)),
        }
    }

    /// The byte offset of `rest` in the line: where it starts in `text`,
    /// clamped to the line and to a character boundary (a slice from
    /// elsewhere counts from its length, as a suffix of the line).
    fn offset_of(&self, rest: &str) -> usize {
        let base = self.text.as_ptr() as usize;
        let at = rest.as_ptr() as usize;
        let mut byte = match at.checked_sub(base) {
            Some(b) if b <= self.text.len() => b,
            _ => self.text.len().saturating_sub(rest.len()),
        };
        while !self.text.is_char_boundary(byte) {
            byte -= 1;
        }
        byte
    }

    fn col_of(&self, rest: &str) -> usize {
        let byte = self.offset_of(rest);
        let (mut from, mut col) = self.mark.get();
        if byte < from {
            (from, col) = (0, 1);
        }
        col += self.text.get(from..byte).map_or(0, |s| s.chars().count());
        self.mark.set((byte, col));
        col
    }

    fn span_from(&self, start_rest: &str) -> Span {
        let col = self.col_of(start_rest);
        let end = self.col_of(self.rest);
        Span {
            line: self.line,
            col,
            len: end.saturating_sub(col).max(1),
        }
    }

    fn here(&self) -> Span {
        let len = self
            .rest
            .split([' ', '\t'])
            .next()
            .map(|w| w.chars().count())
            .unwrap_or(1)
            .max(1);
        Span {
            line: self.line,
            col: self.col_of(self.rest),
            len,
        }
    }

    fn error(&self, span: Span, message: impl Into<String>, help: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            file: self.file.to_string(),
            span,
            line_text: self.text.to_string(),
            message: message.into(),
            help: help.into(),
        }
    }

    fn ws(&mut self) {
        if let Ok((rest, _)) = spaces(self.rest) {
            self.rest = rest;
        }
    }

    fn at_end(&self) -> bool {
        self.rest.trim().is_empty()
    }

    /// Run a token parser after skipping blanks; on failure, a diagnostic
    /// saying `expected`.
    fn want<O>(
        &mut self,
        mut p: impl FnMut(&'a str) -> PResult<'a, O>,
        expected: &str,
    ) -> Result<(O, Span), Diagnostic> {
        self.ws();
        let start = self.rest;
        match p(self.rest) {
            Ok((rest, out)) => {
                self.rest = rest;
                Ok((out, self.span_from(start)))
            }
            Err(_) => {
                let word = self.rest.split([' ', '\t']).next().unwrap_or("");
                let found = if self.at_end() {
                    "end of line".to_string()
                } else {
                    format!("`{word}`")
                };
                let help = match lookalike(word) {
                    Some(hint) => format!("expected {expected}; {hint}"),
                    None => format!("expected {expected}"),
                };
                Err(self.error(
                    self.here(),
                    format!("expected {expected}, found {found}"),
                    help,
                ))
            }
        }
    }

    /// A duration, at most [`MAX_DURATION`].
    fn want_duration(&mut self) -> Result<std::time::Duration, Diagnostic> {
        let (d, span) = self.want(duration, "a duration such as `32s` or `500ms`")?;
        if d > MAX_DURATION {
            return Err(self.error(
                span,
                format!(
                    "a time limit is at most {} minutes",
                    MAX_DURATION.as_secs() / 60
                ),
                "an instance waits this long for its next step",
            ));
        }
        Ok(d)
    }

    /// Try a token parser after skipping blanks; no diagnostic on failure.
    fn try_take<O>(&mut self, mut p: impl FnMut(&'a str) -> PResult<'a, O>) -> Option<(O, Span)> {
        let saved = self.rest;
        self.ws();
        let start = self.rest;
        match p(self.rest) {
            Ok((rest, out)) => {
                self.rest = rest;
                Some((out, self.span_from(start)))
            }
            Err(_) => {
                self.rest = saved;
                None
            }
        }
    }

    fn peek_word(&self) -> &'a str {
        self.rest
            .trim_start()
            .split([' ', '\t'])
            .next()
            .unwrap_or("")
    }

    fn finish(&mut self) -> Result<(), Diagnostic> {
        self.ws();
        if self.at_end() {
            Ok(())
        } else {
            let word = self.peek_word();
            let help = match lookalike(word) {
                Some(hint) => format!("nothing more was expected on this line; {hint}"),
                None => "nothing more was expected on this line".to_string(),
            };
            Err(self.error(self.here(), format!("unexpected `{word}`"), help))
        }
    }
}

/// Characters pasted from documents that look like the language's own:
/// the first one in `word`, named, with what to type instead. Any other
/// character outside ASCII where a token was expected is named too.
fn lookalike(word: &str) -> Option<String> {
    let pasted = word.chars().find_map(|c| {
        let instead = match c {
            '\u{2212}' | '\u{2010}'..='\u{2015}' => "`-`",
            '\u{2018}' | '\u{2019}' | '\u{201a}' | '\u{201b}' => "`'`",
            '\u{201c}' | '\u{201d}' | '\u{201e}' | '\u{201f}' | '\u{ab}' | '\u{bb}' => "`\"`",
            '\u{27f6}' | '\u{21d2}' | '\u{2794}' | '\u{279d}' => "`->`",
            '\u{a0}' | '\u{2000}'..='\u{200b}' | '\u{202f}' | '\u{205f}' | '\u{3000}' => {
                "a plain space"
            }
            '\u{ff01}'..='\u{ff5e}' => "the ASCII character",
            _ => return None,
        };
        Some(format!(
            "`{c}` (U+{:04X}) looks like it was pasted from a document: type {instead}",
            c as u32
        ))
    });
    pasted.or_else(|| {
        let c = word.chars().next().filter(|c| !c.is_ascii())?;
        Some(format!(
            "`{c}` (U+{:04X}): names, keywords and operators are ASCII; other characters belong in quoted strings and comments",
            c as u32
        ))
    })
}

/// Strip a `#` comment that is not inside a quoted string.
fn strip_comment(line: &str) -> &str {
    let mut in_quotes = false;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_quotes => escaped = true,
            '"' => in_quotes = !in_quotes,
            '#' if !in_quotes => return &line[..i],
            _ => {}
        }
    }
    line
}

const CLAUSES: &str = "`same-transaction N`, `response-to N`, `in-dialog N`, `match COND`, `expect COND`, `capture $VAR = PATH` or `within DURATION`";

/// Parse a whole rule file. Every line is parsed, so that one load reports
/// every mistake: the lines that parsed are returned with the diagnostics
/// of those that did not (the first [`MAX_DIAGNOSTICS`] of them; the
/// others are counted in [`SyntaxFile::unreported`]). A second
/// `flow` line ends the rule: what follows it is another rule's text, and
/// reading it as this rule's only buries the one real mistake.
pub fn parse_file(file: &str, text: &str) -> (SyntaxFile, Vec<Diagnostic>) {
    let mut out = SyntaxFile::default();
    let mut errors = Vec::new();
    let mut flow_line = 0;
    let report = |errors: &mut Vec<Diagnostic>, out: &mut SyntaxFile, d: Diagnostic| {
        if errors.len() < MAX_DIAGNOSTICS {
            errors.push(d);
        } else {
            out.unreported += 1;
        }
    };
    for (idx, raw) in text.lines().enumerate() {
        let line_no = idx + 1;
        let text = raw.trim_end_matches('\r');
        let mut line = Line::new(file, text, line_no);
        if let Some(d) = too_long(&line) {
            report(&mut errors, &mut out, d);
            continue;
        }
        let content = strip_comment(text).trim_end();
        if content.trim().is_empty() {
            continue;
        }
        let indented = content.starts_with([' ', '\t']);
        line.rest = content;
        if !indented && line.peek_word() == "flow" {
            if out.flow.is_some() || flow_line > 0 {
                errors.push(line.error(
                    Span { line: line_no, col: 1, len: 4 },
                    format!(
                        "a file holds one rule; this is a second `flow` line (the first is at line {flow_line})"
                    ),
                    "put each rule in its own .flow file",
                ));
                break;
            }
            flow_line = line_no;
        }
        let result = if indented {
            match out.steps.last_mut() {
                Some(step) => parse_clauses(&mut line, &mut step.clauses, content),
                None => Err(line.error(
                    line.here(),
                    "an indented line must continue a step",
                    "indent only the clauses under a step line",
                )),
            }
        } else {
            parse_top_line(&mut line, &mut out, content)
        };
        if let Err(d) = result {
            report(&mut errors, &mut out, d);
        }
    }
    if out.open.contains(&Block::Either)
        && let Some(alt) = out.alternatives.last()
    {
        let line_text = text
            .lines()
            .nth(alt.span.line.saturating_sub(1))
            .unwrap_or("")
            .trim_end_matches('\r')
            .to_string();
        errors.push(Diagnostic {
            severity: Severity::Error,
            file: file.to_string(),
            span: alt.span,
            line_text,
            message: "this `either` block is never closed".into(),
            help: "add a line `end` after its last branch".into(),
        });
    }
    if let Some(open) = out.repeats.last().filter(|r| r.end.is_none()) {
        let line_text = text
            .lines()
            .nth(open.span.line.saturating_sub(1))
            .unwrap_or("")
            .trim_end_matches('\r')
            .to_string();
        errors.push(Diagnostic {
            severity: Severity::Error,
            file: file.to_string(),
            span: open.span,
            line_text,
            message: "this `repeat` block is never closed".into(),
            help: "add a line `end` after its last step".into(),
        });
    }
    (out, errors)
}

/// A line longer than [`MAX_LINE_CHARS`] is refused before it is parsed;
/// the diagnostic shows its start only.
fn too_long(line: &Line<'_>) -> Option<Diagnostic> {
    if line.text.len() <= MAX_LINE_CHARS {
        return None;
    }
    let chars = line.text.chars().count();
    if chars <= MAX_LINE_CHARS {
        return None;
    }
    let shown: String = line.text.chars().take(60).collect();
    Some(Diagnostic {
        line_text: format!("{shown}..."),
        ..line.error(
            Span {
                line: line.line,
                col: 1,
                len: 1,
            },
            format!(
                "this line is {chars} characters long; a rule line holds at most {MAX_LINE_CHARS}"
            ),
            "split the step's clauses over indented lines below it",
        )
    })
}

fn parse_top_line<'a>(
    line: &mut Line<'a>,
    out: &mut SyntaxFile,
    content: &'a str,
) -> Result<(), Diagnostic> {
    line.rest = content;
    let word = line.peek_word();
    match word {
        "flow" => {
            line.want(tag("flow"), "`flow`")?;
            let (id, span) = line.want(name, "a rule id such as `poc-preest-release-self`")?;
            out.flow = Some((id.to_string(), span));
            line.finish()
        }
        "title" => {
            line.want(tag("title"), "`title`")?;
            let (t, _) = line.want(quoted, "a quoted title")?;
            out.title = Some(t);
            line.finish()
        }
        "session" => {
            line.want(tag("session"), "`session`")?;
            let (v, span) = line.want(var, "a variable such as `$session`")?;
            out.session = Some((v.to_string(), span));
            line.finish()
        }
        "timeout" => {
            line.want(tag("timeout"), "`timeout`")?;
            let d = line.want_duration()?;
            out.timeout = Some(d);
            line.finish()
        }
        "roles" => {
            let (_, start) = line.want(tag("roles"), "`roles`")?;
            let mut roles = Vec::new();
            while let Some((r, span)) = line.try_take(name) {
                roles.push((r.to_string(), span));
            }
            if roles.is_empty() {
                return Err(line.error(
                    line.here(),
                    "`roles` names no role",
                    "expected role names",
                ));
            }
            out.roles = Some((roles, start));
            line.finish()
        }
        "context" => {
            let (_, span) = line.want(tag("context"), "`context`")?;
            let kind = line.want(name, "a context kind: `conference-session`")?;
            let mut bindings = Vec::new();
            while let Some((key, kspan)) = line.try_take(name) {
                line.want(tag("="), "`=` (`notifier=server-a`, `session=$session`)")?;
                let (value, vspan) = match line.try_take(var) {
                    Some((v, sp)) => (format!("${v}"), sp),
                    None => {
                        let (r, sp) = line.want(name, "a role or a `$variable`")?;
                        (r.to_string(), sp)
                    }
                };
                bindings.push(((key.to_string(), kspan), (value, vspan)));
            }
            out.context = Some(SyntaxContext {
                kind: (kind.0.to_string(), kind.1),
                bindings,
                span,
            });
            line.finish()
        }
        "proxy" => {
            line.want(tag("proxy"), "`proxy`")?;
            let before = out.proxies.len();
            while let Some((r, span)) = line.try_take(name) {
                out.proxies.push((r.to_string(), span));
            }
            if out.proxies.len() == before {
                return Err(line.error(
                    line.here(),
                    "`proxy` names no role",
                    "expected the roles that stand for a chain of proxies, e.g. `proxy core-b core-a`",
                ));
            }
            line.finish()
        }
        "repeat" => {
            let (_, start) = line.want(tag("repeat"), "`repeat`")?;
            line.want(tag("dialog-of"), "`dialog-of` (the only kind of repeat)")?;
            let (v, vspan) = line.want(var, "a variable such as `$session`")?;
            let mut roles = Vec::new();
            if line.try_take(tag("(")).is_some() {
                while let Some((r, span)) = line.try_take(name) {
                    roles.push((r.to_string(), span));
                }
                line.want(tag(")"), "`)` closing the per-participant roles")?;
            }
            // Blocks do not nest, so only the last one can be open (a look
            // at the last, not a scan: a file of many blocks stays linear).
            if out.repeats.last().is_some_and(|r| r.end.is_none()) {
                return Err(line.error(
                    start,
                    "`repeat` blocks cannot be nested",
                    "close the previous block with `end` first",
                ));
            }
            if out.open.contains(&Block::Either) {
                return Err(line.error(
                    start,
                    "a `repeat` block inside alternatives is not supported",
                    "close the `either` block with `end` first",
                ));
            }
            out.open.push(Block::Repeat);
            out.repeats.push(SyntaxRepeat {
                var: (v.to_string(), vspan),
                roles,
                start: out.steps.len(),
                end: None,
                span: start,
            });
            line.finish()
        }
        "either" | "or" => {
            let (w, span) = line.want(name, "`either` or `or`")?;
            let label = line.try_take(quoted).map(|(q, _)| q);
            let at = out.steps.len();
            if w == "either" {
                if out.open.contains(&Block::Repeat) {
                    return Err(line.error(
                        span,
                        "alternatives inside a `repeat` block are not supported",
                        "write the alternatives outside the block",
                    ));
                }
                if out.open.contains(&Block::Either) {
                    return Err(line.error(
                        span,
                        "`either` blocks cannot be nested",
                        "close the open block with `end` first, or list every combination as its own branch",
                    ));
                }
                out.open.push(Block::Either);
                out.alternatives.push(SyntaxAlt {
                    span,
                    branches: vec![SyntaxBranch {
                        label: label.unwrap_or_else(|| "branch 1".into()),
                        span,
                        start: at,
                        end: at,
                    }],
                });
            } else {
                let open = out.open.last() == Some(&Block::Either);
                let Some(alt) = out.alternatives.last_mut().filter(|_| open) else {
                    return Err(line.error(
                        span,
                        "`or` without `either`",
                        "start the alternatives with `either`",
                    ));
                };
                if let Some(b) = alt.branches.last_mut() {
                    b.end = at;
                }
                let n = alt.branches.len() + 1;
                alt.branches.push(SyntaxBranch {
                    label: label.unwrap_or_else(|| format!("branch {n}")),
                    span,
                    start: at,
                    end: at,
                });
            }
            line.finish()
        }
        "end" => {
            let (_, span) = line.want(tag("end"), "`end`")?;
            match out.open.pop() {
                Some(Block::Either) => {
                    let at = out.steps.len();
                    if let Some(b) = out
                        .alternatives
                        .last_mut()
                        .and_then(|a| a.branches.last_mut())
                    {
                        b.end = at;
                    }
                }
                Some(Block::Repeat) | None => {
                    match out.repeats.last_mut().filter(|r| r.end.is_none()) {
                        Some(r) => r.end = Some(out.steps.len()),
                        None => {
                            return Err(line.error(
                                span,
                                "`end` without `repeat` or `either`",
                                "remove this line",
                            ));
                        }
                    }
                }
            }
            line.finish()
        }
        _ => {
            let step = parse_step(line, content)?;
            out.steps.push(step);
            Ok(())
        }
    }
}

fn var(i: &str) -> PResult<'_, &str> {
    let (rest, _) = tag("$")(i)?;
    name(rest)
}

fn method_token(i: &str) -> PResult<'_, &str> {
    take_while1(|c: char| c.is_ascii_uppercase() || c == '-' || c == '_')(i)
}

fn status_token(i: &str) -> PResult<'_, &str> {
    let (rest, s) = take_while1(|c: char| c.is_ascii_digit() || c == 'x')(i)?;
    let valid = s.len() == 3
        && s.as_bytes()[0].is_ascii_digit()
        && (s[1..].bytes().all(|b| b.is_ascii_digit()) || &s[1..] == "xx");
    if valid {
        Ok((rest, s))
    } else {
        Err(nom::Err::Error(nom::error::Error::new(
            i,
            nom::error::ErrorKind::Digit,
        )))
    }
}

fn parse_step<'a>(line: &mut Line<'a>, content: &'a str) -> Result<SyntaxStep, Diagnostic> {
    line.rest = content;
    let (number, optional) = if let Some((_, _)) = line.try_take(tag("opt")) {
        (None, true)
    } else {
        let (n, span) = line.want(digit1, "a step number, `opt`, or a directive (flow, title, session, timeout, roles, proxy, repeat, end)")?;
        let n: u32 = n.parse().map_err(|_| {
            line.error(
                span,
                "step number too large",
                "use a number below 4294967296",
            )
        })?;
        (Some((n, span)), false)
    };
    let label_rest = line.rest;
    let (from, from_span) = line.want(name, "the sending role")?;
    // `→` (U+2192), as flows pasted from documents write it, is `->`.
    let arrow = |i| alt((tag("->"), tag("\u{2192}"))).parse(i);
    line.want(arrow, "`->`")?;
    let path = line
        .try_take(|i| alt((tag("..."), tag("\u{2026}"))).parse(i))
        .is_some();
    if path {
        line.want(
            arrow,
            "`->` after `...` (`A -> ... -> B`: through any number of proxies)",
        )?;
    }
    let (to, to_span) = line.want(name, "the receiving role")?;
    line.ws();
    let msg_start = line.rest;
    let message = if let Some((status, _)) = line.try_take(status_token) {
        // Optional reason phrase words, then `(METHOD)`.
        loop {
            line.ws();
            if line.rest.starts_with('(') || line.at_end() {
                break;
            }
            let _ = line.want(
                take_while1(|c: char| c != ' ' && c != '\t' && c != '('),
                "a reason phrase word",
            )?;
        }
        line.want(
            tag("("),
            "`(METHOD)` naming the request this response answers, as in `200 OK (BYE)`",
        )?;
        let (m, _) = line.want(method_token, "a method in upper case")?;
        line.want(tag(")"), "`)`")?;
        SyntaxMessage::Response {
            status: status.to_string(),
            method: m.to_string(),
        }
    } else {
        let (m, _) = line.want(
            method_token,
            "a request method in upper case (REFER) or a response (`200 OK (BYE)`, `2xx (REFER)`)",
        )?;
        SyntaxMessage::Request(m.to_string())
    };
    let message_span = line.span_from(msg_start);
    let summary_end = content.len().saturating_sub(line.rest.len());
    let label_end = content.len().saturating_sub(label_rest.len());
    // The step as people read it: `client-b -> core-b REFER`.
    let summary = content
        .get(label_end..summary_end)
        .unwrap_or("")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('\u{2192}', "->");
    let span = Span {
        line: line.line,
        col: 1,
        len: summary.chars().count().max(1),
    };
    let mut clauses = Vec::new();
    let rest = line.rest;
    parse_clauses(line, &mut clauses, rest)?;
    Ok(SyntaxStep {
        number,
        optional,
        from: (from.to_string(), from_span),
        to: (to.to_string(), to_span),
        path,
        message,
        message_span,
        clauses,
        span,
        summary,
    })
}

fn parse_clauses<'a>(
    line: &mut Line<'a>,
    clauses: &mut Vec<Clause>,
    content: &'a str,
) -> Result<(), Diagnostic> {
    line.rest = content;
    loop {
        line.ws();
        if line.at_end() {
            return Ok(());
        }
        let word = line.peek_word();
        match word {
            "same-transaction" | "response-to" | "in-dialog" => {
                let (kw, start) = line.want(name, "a relation")?;
                let kind = match kw {
                    "same-transaction" => RelationKind::SameTransaction,
                    "response-to" => RelationKind::ResponseTo,
                    _ => RelationKind::InDialog,
                };
                let (n, nspan) = line.want(digit1, "the number of an earlier step")?;
                let step = n.parse().unwrap_or(u32::MAX);
                let span = Span {
                    len: nspan.col + nspan.len - start.col,
                    ..start
                };
                clauses.push(Clause::Relation { kind, step, span });
            }
            "match" | "expect" => {
                let (kw, _) = line.want(name, "`match` or `expect`")?;
                let cond = parse_cond(line)?;
                clauses.push(if kw == "match" {
                    Clause::Match(cond)
                } else {
                    Clause::Expect(cond)
                });
            }
            "capture" => {
                line.want(tag("capture"), "`capture`")?;
                let (v, vspan) = line.want(var, "a variable such as `$session`")?;
                line.want(tag("="), "`=`")?;
                let path = parse_path(line)?;
                clauses.push(Clause::Capture {
                    var: (v.to_string(), vspan),
                    path,
                });
            }
            "within" => {
                line.want(tag("within"), "`within`")?;
                let d = line.want_duration()?;
                clauses.push(Clause::Within(d));
            }
            other => {
                return Err(line.error(
                    line.here(),
                    format!("unknown clause `{other}`"),
                    format!("expected one of {CLAUSES}"),
                ));
            }
        }
    }
}

/// The text between a position `start` and a later one `rest` of a line.
fn taken<'a>(start: &'a str, rest: &str) -> &'a str {
    start
        .get(..start.len().saturating_sub(rest.len()))
        .unwrap_or("")
}

fn paren_arg(i: &str) -> PResult<'_, &str> {
    let (rest, _) = tag("(")(i)?;
    let (rest, arg) = take_while1(|c: char| c != ')' && c != ' ')(rest)?;
    let (rest, _) = tag(")")(rest)?;
    Ok((rest, arg))
}

/// `base[(arg)] (.accessor[(arg)])*`
fn parse_path(line: &mut Line<'_>) -> Result<SyntaxPath, Diagnostic> {
    line.ws();
    let start = line.rest;
    let (first, _) = line.want(
        take_while1(is_name_char),
        "a value such as `request-uri`, `refer-to.uri.param(method)`, `header(Event)` or `body`",
    )?;
    let mut base = first.to_string();
    let mut base_arg = None;
    if line.rest.starts_with('(') {
        let (arg, _) = line.want(paren_arg, "`(NAME)`")?;
        base_arg = Some(arg.to_string());
    }
    // `sipfrag.status` is one base written with a dot.
    if base == "sipfrag" && line.rest.starts_with(".status") {
        line.rest = &line.rest[".status".len()..];
        base = "sipfrag.status".to_string();
    }
    let mut accessors = Vec::new();
    while line.rest.starts_with('.') {
        if accessors.len() == MAX_ACCESSORS {
            return Err(line.error(
                line.here(),
                format!("a path has at most {MAX_ACCESSORS} accessors"),
                "no SIP value is that deep: check the path",
            ));
        }
        line.rest = &line.rest[1..];
        let (acc, _) = line.want(
            take_while1(is_name_char),
            "an accessor: uri, value, user, host, param(NAME) or without(NAME)",
        )?;
        let mut arg = None;
        if line.rest.starts_with('(') {
            let (a, _) = line.want(paren_arg, "`(NAME)`")?;
            arg = Some(a.to_string());
        }
        accessors.push((acc.to_string(), arg));
    }
    let span = line.span_from(start);
    let text = taken(start, line.rest).to_string();
    Ok(SyntaxPath {
        base,
        base_arg,
        accessors,
        span,
        text,
    })
}

fn parse_cond(line: &mut Line<'_>) -> Result<SyntaxCond, Diagnostic> {
    line.ws();
    let start = line.rest;
    if line.peek_word() == "dialog-of" {
        line.want(tag("dialog-of"), "`dialog-of`")?;
        let (v, vspan) = line.want(var, "a variable such as `$session`")?;
        let peer = match line.peek_word() {
            w @ ("with" | "without") => {
                line.want(name, "`with` or `without`")?;
                let (r, rspan) = line.want(name, "a role")?;
                Some(((r.to_string(), rspan), w == "without"))
            }
            _ => None,
        };
        return Ok(SyntaxCond {
            kind: SyntaxCondKind::DialogOf {
                var: (v.to_string(), vspan),
                peer,
            },
            text: taken(start, line.rest).trim().to_string(),
            span: line.span_from(start),
        });
    }
    let path = parse_path(line)?;
    line.ws();
    let op_word = line.peek_word();
    let kind = match op_word {
        "is-focus-for" | "is-not-focus-for" => {
            let (w, _) = line.want(name, "`is-focus-for` or `is-not-focus-for`")?;
            let (r, rspan) = line.want(name, "a role")?;
            SyntaxCondKind::FocusFor {
                path,
                role: (r.to_string(), rspan),
                negated: w == "is-not-focus-for",
            }
        }
        "present" | "absent" => {
            let (w, _) = line.want(name, "`present` or `absent`")?;
            let op = if w == "present" {
                SyntaxOp::Present
            } else {
                SyntaxOp::Absent
            };
            SyntaxCondKind::Compare { path, op }
        }
        _ => {
            let (op, _) = line.want(
                |i| alt((tag("=="), tag("!="), tag("!~"), tag("~"))).parse(i),
                "an operator: ==, !=, ~ (regex), !~, present, absent, is-focus-for or is-not-focus-for",
            )?;
            let op = match op {
                "==" | "!=" => {
                    let value = parse_value(line)?;
                    if op == "==" {
                        SyntaxOp::Eq(value)
                    } else {
                        SyntaxOp::Ne(value)
                    }
                }
                _ => {
                    let (re, span) = line.want(quoted, "a quoted regular expression")?;
                    if op == "~" {
                        SyntaxOp::Matches(re, span)
                    } else {
                        SyntaxOp::NotMatches(re, span)
                    }
                }
            };
            SyntaxCondKind::Compare { path, op }
        }
    };
    Ok(SyntaxCond {
        kind,
        text: taken(start, line.rest).trim().to_string(),
        span: line.span_from(start),
    })
}

fn parse_value(line: &mut Line<'_>) -> Result<SyntaxValue, Diagnostic> {
    if let Some((v, span)) = line.try_take(var) {
        return Ok(SyntaxValue::Var(v.to_string(), span));
    }
    if let Some((s, _)) = line.try_take(quoted) {
        return Ok(SyntaxValue::Literal(s));
    }
    let (n, _) = line.want(digit1, "a quoted string, a number or a `$variable`")?;
    Ok(SyntaxValue::Literal(n.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comment_inside_quotes_is_kept() {
        assert_eq!(
            strip_comment(r#"match x == "a#b" # c"#),
            r#"match x == "a#b" "#
        );
    }

    #[test]
    fn quoted_unescapes() {
        assert_eq!(
            quoted(r#""a\"b\\c" rest"#).unwrap(),
            (" rest", "a\"b\\c".into())
        );
        assert!(quoted(r#""open"#).is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(
            duration("32s").unwrap().1,
            std::time::Duration::from_secs(32)
        );
        assert_eq!(
            duration("500ms").unwrap().1,
            std::time::Duration::from_millis(500)
        );
        assert_eq!(
            duration("2m").unwrap().1,
            std::time::Duration::from_secs(120)
        );
        assert!(duration("s").is_err());
    }

    #[test]
    fn status_tokens() {
        assert!(status_token("200").is_ok());
        assert!(status_token("2xx").is_ok());
        assert!(status_token("20x").is_err());
        assert!(status_token("2000").is_err());
    }
}
