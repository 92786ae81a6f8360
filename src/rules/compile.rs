//! Syntax tree → compiled [`Rule`]: names resolved and checked.
//!
//! Checks made here, each with a diagnostic pointing at the offending
//! word: a missing `flow` line; roles not declared in `roles` (when the
//! file declares them); step numbers that repeat or go backwards; relations
//! to steps that do not exist or come later, or of the wrong kind (a
//! `response-to` a response); a response whose method differs from the
//! request it answers; variables used before a step captures them, or
//! captured twice; unknown path words and accessors; invalid regular
//! expressions; a `session` variable no step captures; repeat blocks that
//! are empty or name unknown roles; the size limits of `super` (steps,
//! roles, conditions and captures on a step, variables, compiled regex
//! size), a rule past the step limit being refused before anything is built
//! from its steps. Warnings (the rule still loads): header names and
//! methods that look misspelt (`headers`), steps that can never match or
//! never be `ok` (`never`).

use std::collections::HashMap;
use std::time::Duration;

use regex::RegexBuilder;

use super::ast::*;
use super::diag::{Diagnostic, Severity};
use super::parse::*;
use super::{
    MAX_CAPTURES_PER_STEP, MAX_CONDITIONS_PER_STEP, MAX_DIAGNOSTICS, MAX_REGEX_BYTES, MAX_ROLES,
    MAX_STEPS, MAX_VARIABLES,
};

/// The default step time limit: 64×T1 (RFC 3261 Timer B/F), 32 s.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(32);

struct Ctx<'a> {
    file: &'a str,
    lines: Vec<&'a str>,
    /// Errors and warnings, at most [`MAX_DIAGNOSTICS`].
    errors: Vec<Diagnostic>,
    /// Errors and warnings past the limit, counted.
    unreported_errors: usize,
    unreported_warnings: usize,
}

impl Ctx<'_> {
    fn push(&mut self, severity: Severity, span: Span, message: String, help: String) {
        if self.errors.len() >= MAX_DIAGNOSTICS {
            match severity {
                Severity::Error => self.unreported_errors += 1,
                Severity::Warning => self.unreported_warnings += 1,
            }
            return;
        }
        let line_text = self
            .lines
            .get(span.line.saturating_sub(1))
            .copied()
            .unwrap_or("")
            .trim_end_matches('\r')
            .to_string();
        self.errors.push(Diagnostic {
            severity,
            file: self.file.to_string(),
            span,
            line_text,
            message,
            help,
        });
    }

    fn err(&mut self, span: Span, message: impl Into<String>, help: impl Into<String>) {
        self.push(Severity::Error, span, message.into(), help.into());
    }

    fn warn(&mut self, span: Span, message: impl Into<String>, help: impl Into<String>) {
        self.push(Severity::Warning, span, message.into(), help.into());
    }
}

/// Compile one rule file's text. `file` names it in diagnostics. The rule
/// (when the text was complete enough to build one) comes with every
/// diagnostic, errors and warnings, in line order; the caller decides
/// (by the errors among them) whether it loads.
pub fn compile(file: &str, text: &str) -> (Option<Rule>, Vec<Diagnostic>) {
    let (syntax, parse_errors) = parse_file(file, text);
    let mut cx = Ctx {
        file,
        lines: text.lines().collect(),
        errors: parse_errors,
        unreported_errors: syntax.unreported,
        unreported_warnings: 0,
    };
    let rule = if syntax.steps.len() > MAX_STEPS {
        // Refused before anything is built from the steps.
        cx.err(
            syntax.steps[MAX_STEPS].span,
            format!(
                "a rule has at most {MAX_STEPS} steps; this file has {}",
                syntax.steps.len()
            ),
            "no specification flow is that long: split it into one rule per flow",
        );
        None
    } else if syntax.alternatives.is_empty() {
        resolve(&mut cx, syntax, file, text)
    } else {
        resolve_alternatives(&mut cx, syntax, file, text)
    };
    let mut diags = std::mem::take(&mut cx.errors);
    diags.sort_by_key(|d| (d.span.line, d.span.col));
    // Each branch is compiled as its own variant: a mistake outside the
    // branches is met once per variant.
    diags.dedup_by(|a, b| a.span == b.span && a.message == b.message);
    let (errors, warnings) = (cx.unreported_errors, cx.unreported_warnings);
    if errors + warnings > 0
        && let Some(last) = diags.last().cloned()
    {
        // Shown at the last diagnostic kept; an error when an error was
        // among those left out, so the rule still fails to load.
        diags.push(Diagnostic {
            severity: if errors > 0 {
                Severity::Error
            } else {
                Severity::Warning
            },
            message: format!(
                "{errors} more errors and {warnings} more warnings are not shown (at most {MAX_DIAGNOSTICS} are)"
            ),
            help: "fix the ones above and lint again".into(),
            ..last
        });
    }
    (rule, diags)
}

/// The most variants a rule's `either` blocks may make (the product of
/// their branch counts): each is matched as an alternative of the others.
pub const MAX_VARIANTS: usize = 16;

/// A rule with `either ... or ... end` blocks: one variant per choice of a
/// branch in each block, each compiled as a rule of its own, the first
/// returned with the others in [`Rule::variants`].
fn resolve_alternatives(cx: &mut Ctx<'_>, syn: SyntaxFile, file: &str, text: &str) -> Option<Rule> {
    if let Some(r) = syn.repeats.first() {
        cx.err(
            r.span,
            "a rule with `either` blocks cannot have a `repeat` block yet",
            "write the per-participant steps in a rule of their own",
        );
        return None;
    }
    let count = syn
        .alternatives
        .iter()
        .try_fold(1usize, |n, a| n.checked_mul(a.branches.len().max(1)))
        .unwrap_or(usize::MAX);
    if count > MAX_VARIANTS {
        cx.err(
            syn.alternatives[0].span,
            format!("these `either` blocks make {count} variants of the flow; at most {MAX_VARIANTS} are matched"),
            "merge blocks, or split the flow into rules",
        );
        return None;
    }
    for b in syn.alternatives.iter().flat_map(|a| &a.branches) {
        if b.start == b.end {
            cx.err(
                b.span,
                format!("branch `{}` holds no step", b.label),
                "put the branch's steps between this line and the next `or` or `end`",
            );
        }
    }
    let in_branch = |idx: usize| {
        syn.alternatives.iter().enumerate().find_map(|(a, alt)| {
            alt.branches
                .iter()
                .position(|b| idx >= b.start && idx < b.end)
                .map(|b| (a, b))
        })
    };
    let mut variants = Vec::new();
    for v in 0..count {
        // The branch of each block this variant takes.
        let mut rest = v;
        let choice: Vec<usize> = syn
            .alternatives
            .iter()
            .map(|a| {
                let n = a.branches.len().max(1);
                let c = rest % n;
                rest /= n;
                c
            })
            .collect();
        let mut variant = syn.clone();
        variant.steps = syn
            .steps
            .iter()
            .enumerate()
            .filter(|(i, _)| in_branch(*i).is_none_or(|(a, b)| choice[a] == b))
            .map(|(_, s)| s.clone())
            .collect();
        variant.alternatives.clear();
        let label = syn
            .alternatives
            .iter()
            .zip(&choice)
            .filter_map(|(a, &c)| a.branches.get(c).map(|b| b.label.clone()))
            .collect::<Vec<_>>()
            .join(" / ");
        let mut rule = resolve(cx, variant, file, text)?;
        rule.branch = Some(label);
        variants.push(rule);
    }
    let mut it = variants.into_iter();
    let mut first = it.next()?;
    first.variants = it.collect();
    Some(first)
}

fn resolve(cx: &mut Ctx<'_>, syn: SyntaxFile, file: &str, text: &str) -> Option<Rule> {
    // Lines that did not parse may be the `flow` line or the steps: then
    // their own errors say what is wrong, not "no flow line", "no steps".
    let parse_failed = cx.errors.iter().any(Diagnostic::is_error) || cx.unreported_errors > 0;
    let id = match &syn.flow {
        Some((id, _)) => id.clone(),
        None if parse_failed && text.lines().any(|l| l.starts_with("flow")) => String::new(),
        None => {
            cx.err(
                Span {
                    line: 1,
                    col: 1,
                    len: 1,
                },
                "the rule has no `flow` line",
                "start the file with `flow RULE-ID`",
            );
            String::new()
        }
    };
    // Roles: declared ones first; undeclared ones are errors only when a
    // `roles` line exists.
    let mut roles: Vec<String> = Vec::new();
    let declared = syn.roles.is_some();
    if let Some((list, _)) = &syn.roles {
        for (r, span) in list {
            if roles.contains(r) {
                cx.err(*span, format!("role `{r}` is declared twice"), "remove one");
            } else {
                too_many_roles(cx, &roles, *span);
                roles.push(r.clone());
            }
        }
    }
    let declared_list = roles.join(", ");
    let role_id = |cx: &mut Ctx<'_>, roles: &mut Vec<String>, name: &str, span: Span| {
        if let Some(i) = roles.iter().position(|r| r == name) {
            return i;
        }
        if declared {
            cx.err(
                span,
                format!("unknown role `{name}`"),
                format!("expected one of the declared roles: {declared_list}"),
            );
        }
        too_many_roles(cx, roles, span);
        roles.push(name.to_string());
        roles.len() - 1
    };

    let timeout = syn.timeout.unwrap_or(DEFAULT_TIMEOUT);
    let mut vars: Vec<String> = Vec::new();
    let mut var_bound_at: HashMap<String, u32> = HashMap::new();
    let mut too_many_vars = false;
    let mut numbers: HashMap<u32, StepIdx> = HashMap::new();
    let mut steps: Vec<Step> = Vec::new();
    let mut last_number: Option<u32> = None;
    let mut block_numbers: HashMap<u32, StepIdx> = HashMap::new();
    let mut block_last: Option<u32> = None;

    // A second block is an error (below): the first one decides.
    let repeat_of = |idx: usize| {
        syn.repeats
            .first()
            .is_some_and(|r| idx >= r.start && r.end.is_some_and(|e| idx < e))
    };

    for (idx, s) in syn.steps.iter().enumerate() {
        let from = role_id(cx, &mut roles, &s.from.0, s.from.1);
        let to = role_id(cx, &mut roles, &s.to.0, s.to.1);
        // Numbers increase within the steps outside the `repeat` block and
        // within the block; the block may number its steps as the spec
        // does where a step happens once per participant (flow 2's 6, 11).
        let in_block = repeat_of(idx);
        if let Some((n, span)) = s.number {
            let region = if in_block {
                &mut block_numbers
            } else {
                &mut numbers
            };
            let last = if in_block {
                &mut block_last
            } else {
                &mut last_number
            };
            if region.contains_key(&n) {
                cx.err(
                    span,
                    format!("step {n} is numbered twice"),
                    "each step number appears once (once inside a `repeat` block and once outside at most)",
                );
            } else if last.is_some_and(|l| n <= l) {
                cx.err(
                    span,
                    format!("step {n} comes after step {}", last.unwrap_or(0)),
                    "number the steps in increasing order, as in the flow's table",
                );
            }
            region.insert(n, idx);
            *last = Some(n);
        }
        if idx == 0 && s.optional {
            cx.err(
                s.span,
                "the first step is optional",
                "the first step is the trigger: give it a number",
            );
        }
        let (SyntaxMessage::Request(method) | SyntaxMessage::Response { method, .. }) = &s.message;
        if let Some(near) = super::headers::misspelt_method(method) {
            cx.warn(
                s.message_span,
                format!("unknown method '{method}': did you mean '{near}'?"),
                format!("not a registered SIP method; write `{near}`"),
            );
        }
        let message = match &s.message {
            SyntaxMessage::Request(m) => MessagePattern::Request { method: m.clone() },
            SyntaxMessage::Response { status, method } => {
                let b = status.as_bytes();
                let pat = if status.ends_with("xx") {
                    StatusPattern::Class(b[0] - b'0')
                } else {
                    StatusPattern::Exact(status.parse().unwrap_or(0))
                };
                if matches!(pat, StatusPattern::Exact(c) if c < 100)
                    || matches!(pat, StatusPattern::Class(c) if c == 0 || c > 6)
                {
                    cx.err(
                        s.message_span,
                        format!("`{status}` is not a SIP status"),
                        "expected 100-699 or a class such as 2xx",
                    );
                }
                if idx == 0 {
                    cx.err(
                        s.message_span,
                        "the first step is a response",
                        "the trigger must be a request (a response has no earlier step to answer)",
                    );
                }
                MessagePattern::Response {
                    status: pat,
                    method: method.clone(),
                }
            }
        };
        let mut relation = None;
        let mut matches = Vec::new();
        let mut expects = Vec::new();
        let mut captures = Vec::new();
        let mut step_timeout = timeout;
        let label = s
            .number
            .map(|(n, _)| n.to_string())
            .unwrap_or_else(|| "opt".into());
        let (mut conditions, mut captured) = (0, 0);
        for clause in &s.clauses {
            match clause {
                Clause::Match(c) | Clause::Expect(c) => {
                    conditions += 1;
                    if conditions > MAX_CONDITIONS_PER_STEP {
                        if conditions == MAX_CONDITIONS_PER_STEP + 1 {
                            cx.err(
                                c.span,
                                format!("a step has at most {MAX_CONDITIONS_PER_STEP} `match` and `expect` conditions"),
                                "keep the conditions that tell this message from others",
                            );
                        }
                        continue;
                    }
                }
                Clause::Capture { var, .. } => {
                    captured += 1;
                    if captured > MAX_CAPTURES_PER_STEP {
                        if captured == MAX_CAPTURES_PER_STEP + 1 {
                            cx.err(
                                var.1,
                                format!("a step has at most {MAX_CAPTURES_PER_STEP} captures"),
                                "capture only the values later steps compare",
                            );
                        }
                        continue;
                    }
                }
                _ => {}
            }
            match clause {
                Clause::Relation { kind, step, span } => {
                    if relation.is_some() {
                        cx.err(
                            *span,
                            "a step has at most one relation",
                            "keep the one that says how this message is tied to the flow",
                        );
                        continue;
                    }
                    // Inside the block, its own steps first.
                    let found = if in_block {
                        block_numbers.get(step).or_else(|| numbers.get(step))
                    } else {
                        numbers.get(step)
                    };
                    let Some(&target) = found.filter(|&&t| t < idx) else {
                        cx.err(
                            *span,
                            format!("step {step} is not an earlier step"),
                            "a relation names a step that comes before this one",
                        );
                        continue;
                    };
                    let target_step = &steps[target];
                    let target_is_request =
                        matches!(target_step.message, MessagePattern::Request { .. });
                    match kind {
                        RelationKind::ResponseTo => {
                            if !target_is_request {
                                cx.err(
                                    *span,
                                    format!("step {step} is a response"),
                                    "`response-to` names a request step",
                                );
                            } else if let (
                                MessagePattern::Response { method, .. },
                                MessagePattern::Request { method: req },
                            ) = (&message, &target_step.message)
                                && method != req
                            {
                                cx.err(
                                    s.message_span,
                                    format!(
                                        "this response answers {method} but step {step} is {req}"
                                    ),
                                    format!("write `({req})`"),
                                );
                            }
                            if matches!(message, MessagePattern::Request { .. }) {
                                cx.err(
                                    *span,
                                    "a request cannot be a `response-to`",
                                    "use `same-transaction` or `in-dialog`",
                                );
                            }
                            relation = Some(Relation::ResponseTo(target));
                        }
                        RelationKind::SameTransaction => {
                            let same_kind = match (&message, &target_step.message) {
                                (
                                    MessagePattern::Request { method: a },
                                    MessagePattern::Request { method: b },
                                ) => a == b,
                                (
                                    MessagePattern::Response { method: a, .. },
                                    MessagePattern::Response { method: b, .. },
                                ) => a == b,
                                _ => false,
                            };
                            if !same_kind {
                                cx.err(*span, format!("step {step} is a different kind of message"), "`same-transaction` names the same request or response on an earlier hop");
                            }
                            relation = Some(Relation::SameTransaction(target));
                        }
                        RelationKind::InDialog => {
                            if !target_is_request
                                || matches!(message, MessagePattern::Response { .. })
                            {
                                cx.err(
                                    *span,
                                    "`in-dialog` ties a request to an earlier request's dialog",
                                    "use `response-to` for responses",
                                );
                            }
                            relation = Some(Relation::InDialog(target));
                        }
                    }
                }
                Clause::Match(c) | Clause::Expect(c) => {
                    let resolved = resolve_cond(
                        cx,
                        c,
                        &vars,
                        &var_bound_at,
                        &mut roles,
                        declared,
                        &declared_list,
                    );
                    match (clause, resolved) {
                        (Clause::Match(_), Some(c)) => matches.push(c),
                        (_, Some(c)) => expects.push(c),
                        (_, None) => {}
                    }
                }
                Clause::Capture { var, path } => {
                    let Some(p) = resolve_path(cx, path) else {
                        continue;
                    };
                    if let Some(at) = var_bound_at.get(&var.0) {
                        cx.err(
                            var.1,
                            format!("`${}` is already captured at step {at}", var.0),
                            "capture each variable once; compare with `match PATH == $VAR`",
                        );
                        continue;
                    }
                    if vars.len() >= MAX_VARIABLES {
                        // Once; later captures are dropped.
                        if !too_many_vars {
                            cx.err(
                                var.1,
                                format!("a rule has at most {MAX_VARIABLES} variables"),
                                "capture only the values later steps compare",
                            );
                            too_many_vars = true;
                        }
                        continue;
                    }
                    vars.push(var.0.clone());
                    var_bound_at.insert(var.0.clone(), s.number.map(|n| n.0).unwrap_or(0));
                    captures.push(Capture {
                        var: vars.len() - 1,
                        path: p,
                        span: var.1,
                    });
                }
                Clause::Within(d) => step_timeout = *d,
            }
        }
        if idx > 0 && relation.is_none() && matches.is_empty() && !s.optional {
            // Nothing but the roles ties this message to the instance.
            cx.err(
                s.span,
                format!("step {label} has nothing that ties it to this flow instance"),
                "add a relation (same-transaction N, response-to N, in-dialog N) or a `match` on a captured `$variable`",
            );
        }
        if matches!(message, MessagePattern::Response { .. }) && relation.is_none() {
            cx.err(
                s.message_span,
                "a response step needs `response-to N` or `same-transaction N`",
                "say which request this response answers",
            );
        }
        let at = steps.len();
        steps.push(Step {
            number: s.number.map(|n| n.0),
            optional: s.optional,
            from,
            to,
            path: s.path,
            message,
            relation,
            matches,
            expects,
            captures,
            timeout: step_timeout,
            in_repeat: repeat_of(idx),
            span: s.span,
            summary: s.summary.as_str().into(),
        });
        for f in super::never::check_step(&steps, at, &label) {
            cx.warn(f.span, f.message, f.help);
        }
    }
    if steps.is_empty() && !parse_failed {
        cx.err(
            Span {
                line: 1,
                col: 1,
                len: 1,
            },
            "the rule has no steps",
            "add step lines: `1  client-b -> core-b  REFER`",
        );
    }
    let session_var = match &syn.session {
        Some((v, span)) => match vars.iter().position(|x| x == v) {
            Some(i) => Some(i),
            None => {
                cx.err(
                    *span,
                    format!("`${v}` is never captured"),
                    "capture it in a step: `capture $VAR = PATH`",
                );
                None
            }
        },
        None => None,
    };
    let mut repeat = None;
    if syn.repeats.len() > 1 {
        cx.err(
            syn.repeats[1].span,
            "a rule has at most one `repeat` block",
            "merge the blocks",
        );
    }
    if let Some(r) = syn.repeats.first() {
        let end = r.end.unwrap_or(r.start);
        if end <= r.start {
            cx.err(
                r.span,
                "this `repeat` block holds no step",
                "put the per-participant steps between `repeat` and `end`",
            );
        } else if r.start == 0 {
            cx.err(
                r.span,
                "the trigger step cannot repeat",
                "start the block after step 1",
            );
        } else {
            let focus_var = match vars.iter().position(|x| *x == r.var.0) {
                Some(i)
                    if var_bound_at
                        .get(&r.var.0)
                        .is_some_and(|&at| numbers.get(&at).is_some_and(|&s| s < r.start)) =>
                {
                    i
                }
                _ => {
                    cx.err(
                        r.var.1,
                        format!("`${}` is not captured before this block", r.var.0),
                        "capture the conference URI in an earlier step",
                    );
                    0
                }
            };
            let mut rroles = Vec::new();
            for (name, span) in &r.roles {
                match roles.iter().position(|x| x == name) {
                    Some(i) => rroles.push(i),
                    None => cx.err(
                        *span,
                        format!("unknown role `{name}`"),
                        "per-participant roles must be roles used by the block's steps",
                    ),
                }
            }
            repeat = Some(Repeat {
                first: r.start,
                last: end - 1,
                focus_var,
                roles: rroles,
                span: r.span,
            });
        }
    }
    let mut proxies = vec![false; roles.len()];
    for (name, span) in &syn.proxies {
        match roles.iter().position(|r| r == name) {
            Some(i) => proxies[i] = true,
            None => cx.err(
                *span,
                format!("unknown role `{name}`"),
                "`proxy` names roles that the steps use",
            ),
        }
    }
    for (idx, step) in steps.iter().enumerate() {
        if idx == 0 && step.path {
            cx.err(
                step.span,
                "the first step cannot be a path (`-> ... ->`)",
                "start the flow at the first hop the capture shows: `A -> B`",
            );
        }
        if step.path && (proxies[step.from] || proxies[step.to]) {
            cx.err(
                step.span,
                "a path (`-> ... ->`) runs between two endpoints, not from or to a `proxy` role",
                "write the hop to or from the proxy role with `->`",
            );
        }
    }
    // Steps the matcher can find only by their kind of message: every such
    // message is offered to every open instance waiting for one.
    for (idx, step) in steps.iter().enumerate().skip(1) {
        if step.relation.is_some() || step.optional {
            continue;
        }
        let keyed = step.matches.iter().any(|c| {
            matches!(
                c.kind,
                CondKind::Compare {
                    op: Op::Eq(Operand::Var(_)),
                    ..
                } | CondKind::DialogOf { .. }
            )
        });
        let sender_known = steps[..idx]
            .iter()
            .any(|s| s.from == step.from || s.to == step.from);
        if !keyed && !sender_known {
            let label = step.number.map_or("opt".to_string(), |n| n.to_string());
            cx.warn(
                step.span,
                format!(
                    "step {label} can be found only by its kind of message: no relation, no `match PATH == $VAR`, and its sender `{}` is bound by no earlier step; every such message will be offered to every open instance, which grows slow with many at once",
                    roles[step.from]
                ),
                "tie it with `same-transaction N`, `response-to N`, `in-dialog N`, or `match PATH == $VAR` on a value an earlier step captured",
            );
        }
    }
    let context = syn.context.as_ref().and_then(|c| {
        if c.kind.0 != "conference-session" {
            cx.err(
                c.kind.1,
                format!("unknown context `{}`", c.kind.0),
                "the context sipflow knows is `conference-session` (flows.md, \"When flow 3 is due\")",
            );
            return None;
        }
        let mut ctx = Context {
            notifier: None,
            subscriber: None,
            session: None,
            subscribed: None,
            span: c.span,
        };
        let first_captures = |v: &str| {
            steps.first().and_then(|s0| {
                s0.captures
                    .iter()
                    .find(|cap| vars[cap.var] == v)
                    .map(|cap| cap.var)
            })
        };
        for ((key, kspan), (value, vspan)) in &c.bindings {
            match key.as_str() {
                "notifier" | "subscriber" => match roles.iter().position(|r| r == value) {
                    Some(i) => {
                        if key == "notifier" {
                            ctx.notifier = Some(i)
                        } else {
                            ctx.subscriber = Some(i)
                        }
                    }
                    None => cx.err(*vspan, format!("unknown role `{value}`"), "name a role of the rule"),
                },
                "session" | "subscribed" => {
                    match value.strip_prefix('$').and_then(first_captures) {
                        Some(v) => {
                            if key == "session" {
                                ctx.session = Some(v)
                            } else {
                                ctx.subscribed = Some(v)
                            }
                        }
                        None => cx.err(
                            *vspan,
                            format!("`{value}` is not captured by step 1"),
                            "the context gives a value step 1 captures (and must agree with): capture it there",
                        ),
                    }
                }
                _ => cx.err(
                    *kspan,
                    format!("unknown context binding `{key}`"),
                    "expected notifier=ROLE, subscriber=ROLE, session=$VAR or subscribed=$VAR",
                ),
            }
        }
        Some(ctx)
    });
    // Transaction groups: union of steps by their `same-transaction` and
    // `response-to` relations.
    let mut txn_group: Vec<StepIdx> = (0..steps.len()).collect();
    fn root(g: &mut [StepIdx], mut i: StepIdx) -> StepIdx {
        while g[i] != i {
            g[i] = g[g[i]];
            i = g[i];
        }
        i
    }
    for (i, step) in steps.iter().enumerate() {
        if let Some(Relation::SameTransaction(t) | Relation::ResponseTo(t)) = step.relation {
            let (a, b) = (root(&mut txn_group, i), root(&mut txn_group, t));
            txn_group[a] = b;
        }
    }
    for i in 0..txn_group.len() {
        txn_group[i] = root(&mut txn_group, i);
    }
    Some(Rule {
        id,
        title: syn.title.unwrap_or_default(),
        source: file.to_string(),
        text: text.to_string(),
        roles,
        proxies,
        vars,
        session_var,
        context,
        branch: None,
        txn_group,
        variants: Vec::new(),
        timeout,
        steps,
        repeat,
    })
}

/// A warning for a header name that is neither registered nor an
/// extension (`X-...`, `P-...`): a condition on it never holds, so it is
/// most likely a typo.
fn unknown_header(cx: &mut Ctx<'_>, p: &SyntaxPath, name: &str) {
    if super::headers::is_known(name) {
        return;
    }
    // The caret under the base only: `evnt` of `evnt.value`.
    let written = match &p.base_arg {
        Some(arg) => format!("{}({arg})", p.base),
        None => p.base.clone(),
    };
    let span = Span {
        len: written.chars().count().max(1),
        ..p.span
    };
    let shown = p.base_arg.as_deref().unwrap_or(&p.base);
    let (message, help) = match super::headers::nearest(name) {
        Some(near) => {
            // In the case the rule writes names in.
            let near = if shown.chars().any(|c| c.is_ascii_uppercase()) {
                near.to_string()
            } else {
                near.to_ascii_lowercase()
            };
            (
                format!("unknown header '{shown}': did you mean '{near}'?"),
                format!("not a registered SIP header; write `{near}`"),
            )
        }
        None => (
            format!("unknown header '{shown}'"),
            "not a registered SIP header (IANA) nor an extension (X-..., P-...): a condition on it holds only if messages carry it".to_string(),
        ),
    };
    cx.warn(span, message, help);
}

/// One error when `roles` is full and one more is about to be added.
fn too_many_roles(cx: &mut Ctx<'_>, roles: &[String], span: Span) {
    if roles.len() == MAX_ROLES {
        cx.err(
            span,
            format!("a rule has at most {MAX_ROLES} roles"),
            "a role is a node of the flow: a few proxies and endpoints",
        );
    }
}

#[allow(clippy::too_many_arguments)]
fn resolve_cond(
    cx: &mut Ctx<'_>,
    c: &SyntaxCond,
    vars: &[String],
    bound: &HashMap<String, u32>,
    roles: &mut Vec<String>,
    declared: bool,
    declared_list: &str,
) -> Option<Cond> {
    let var_id = |cx: &mut Ctx<'_>, name: &str, span: Span| -> Option<VarId> {
        match vars.iter().position(|v| v == name) {
            Some(i) if bound.contains_key(name) => Some(i),
            _ => {
                cx.err(
                    span,
                    format!("`${name}` is used before any step captures it"),
                    "capture it in an earlier step: `capture $VAR = PATH`",
                );
                None
            }
        }
    };
    let kind = match &c.kind {
        SyntaxCondKind::DialogOf { var, peer } => {
            let var = var_id(cx, &var.0, var.1)?;
            let peer = match peer {
                None => None,
                Some(((name, span), negated)) => match roles.iter().position(|r| r == name) {
                    Some(i) => Some((i, *negated)),
                    None => {
                        cx.err(
                            *span,
                            format!("unknown role `{name}`"),
                            "`with`/`without` name a role bound by an earlier step",
                        );
                        return None;
                    }
                },
            };
            CondKind::DialogOf { var, peer }
        }
        SyntaxCondKind::FocusFor {
            path,
            role,
            negated,
        } => {
            let path = resolve_path(cx, path)?;
            let role = match roles.iter().position(|r| *r == role.0) {
                Some(i) => i,
                None => {
                    if declared {
                        cx.err(
                            role.1,
                            format!("unknown role `{}`", role.0),
                            format!("expected one of the declared roles: {declared_list}"),
                        );
                        return None;
                    }
                    too_many_roles(cx, roles, role.1);
                    roles.push(role.0.clone());
                    roles.len() - 1
                }
            };
            CondKind::FocusFor {
                path,
                role,
                negated: *negated,
            }
        }
        SyntaxCondKind::Compare { path, op } => {
            let path = resolve_path(cx, path)?;
            let op = match op {
                SyntaxOp::Present => Op::Present,
                SyntaxOp::Absent => Op::Absent,
                SyntaxOp::Eq(v) | SyntaxOp::Ne(v) => {
                    let operand = match v {
                        SyntaxValue::Literal(s) => Operand::Literal(s.clone()),
                        SyntaxValue::Var(name, span) => Operand::Var(var_id(cx, name, *span)?),
                    };
                    if matches!(op, SyntaxOp::Eq(_)) {
                        Op::Eq(operand)
                    } else {
                        Op::Ne(operand)
                    }
                }
                SyntaxOp::Matches(re, span) | SyntaxOp::NotMatches(re, span) => {
                    match RegexBuilder::new(re)
                        .size_limit(MAX_REGEX_BYTES)
                        .dfa_size_limit(MAX_REGEX_BYTES)
                        .build()
                    {
                        Ok(r) => {
                            if matches!(op, SyntaxOp::Matches(..)) {
                                Op::Matches(r)
                            } else {
                                Op::NotMatches(r)
                            }
                        }
                        Err(regex::Error::CompiledTooBig(_)) => {
                            cx.err(
                                *span,
                                "this regular expression is too large once compiled",
                                format!("the limit is {MAX_REGEX_BYTES} bytes: simplify it"),
                            );
                            return None;
                        }
                        Err(e) => {
                            let msg = e.to_string();
                            let last = msg.lines().last().unwrap_or("invalid").trim().to_string();
                            cx.err(*span, "invalid regular expression", last);
                            return None;
                        }
                    }
                }
            };
            CondKind::Compare { path, op }
        }
    };
    Some(Cond {
        kind,
        text: c.text.clone(),
        span: c.span,
    })
}

const BASES: &str = "request-uri, method, status, reason, body, sipfrag.status, xml(ELEMENT@ATTR), header(NAME) or a header name";

fn resolve_path(cx: &mut Ctx<'_>, p: &SyntaxPath) -> Option<Path> {
    let base = match (p.base.as_str(), &p.base_arg) {
        ("request-uri", None) => Base::RequestUri,
        ("method", None) => Base::Method,
        ("status", None) => Base::Status,
        ("reason", None) => Base::Reason,
        ("body", None) => Base::Body,
        ("sipfrag.status", None) => Base::SipfragStatus,
        ("header", Some(h)) => Base::Header(h.to_ascii_lowercase()),
        ("xml", Some(arg)) => {
            let (element, attr) = match arg.split_once('@') {
                Some((e, a)) => (e.to_string(), Some(a.to_string())),
                None => (arg.clone(), None),
            };
            if element.is_empty() {
                cx.err(
                    p.span,
                    "`xml(...)` needs an element name",
                    "write xml(ELEMENT) or xml(ELEMENT@ATTRIBUTE)",
                );
                return None;
            }
            Base::Xml { element, attr }
        }
        (name, None) if !matches!(name, "header" | "xml") => {
            Base::Header(name.to_ascii_lowercase())
        }
        (name, _) => {
            cx.err(
                p.span,
                format!("`{name}` does not take an argument here"),
                format!("a path starts with {BASES}"),
            );
            return None;
        }
    };
    if let Base::Header(name) = &base {
        unknown_header(cx, p, name);
    }
    let mut accessors = Vec::new();
    for (acc, arg) in &p.accessors {
        let a = match (acc.as_str(), arg) {
            ("uri", None) => Accessor::Uri,
            ("value", None) => Accessor::Value,
            ("user", None) => Accessor::User,
            ("host", None) => Accessor::Host,
            ("param", Some(n)) => Accessor::Param(n.to_ascii_lowercase()),
            ("without", Some(n)) => Accessor::Without(n.to_ascii_lowercase()),
            (other, _) => {
                cx.err(
                    p.span,
                    format!("unknown accessor `.{other}` in `{}`", p.text),
                    "expected .uri, .value, .user, .host, .param(NAME) or .without(NAME)",
                );
                return None;
            }
        };
        accessors.push(a);
    }
    Some(Path { base, accessors })
}
