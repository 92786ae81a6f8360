//! Steps that can never match, or never be `ok`, found statically.
//!
//! A rule that compiles can still describe a message no capture holds:
//! two `match`es on one value that want different things, a condition on
//! a value the step's kind of message has not (a request's `status`), a
//! method test a step's own method fails, a response to an ACK. Such a step
//! is reported `missing` in every capture, which reads as a network fault,
//! not as the typo it is. These checks follow the matcher's rules
//! (`check::instance::try_step`, `check::eval::eval_cond`): a response step
//! takes any final response to its method (a status outside its pattern
//! makes it `wrong`, not unmatched), and takes provisional responses only
//! when its pattern is provisional (`1xx`, `180`), so a `1xx` step is not
//! one that can never match. Only what is decidable from the rule text is
//! reported; each finding is a warning.

use super::ast::*;
use super::headers;
use crate::trace::uri;

/// A finding, placed at the condition or step that causes it.
pub(crate) struct Finding {
    pub span: Span,
    pub message: String,
    pub help: String,
}

/// The values a path can take on a step's messages, when the step's kind
/// decides them (`None` in the list: the value is absent).
fn domain(message: &MessagePattern, path: &Path, taken: bool) -> Option<Vec<Option<String>>> {
    let request = matches!(message, MessagePattern::Request { .. });
    let absent_here = match path.base {
        Base::Status | Base::Reason => request,
        Base::RequestUri | Base::Method => !request,
        _ => false,
    };
    if absent_here {
        return Some(vec![None]);
    }
    if !path.accessors.is_empty() {
        return None;
    }
    match (&path.base, message) {
        (Base::Method, MessagePattern::Request { method }) => Some(vec![Some(method.clone())]),
        (Base::Status, MessagePattern::Response { status, .. }) => {
            let statuses: Vec<u16> = if taken {
                // Every status the step takes a message with.
                let provisional = matches!(status, StatusPattern::Class(1))
                    || matches!(status, StatusPattern::Exact(x) if *x < 200);
                (if provisional { 100 } else { 200 }..=699).collect()
            } else {
                // The statuses it is `ok` with.
                match *status {
                    StatusPattern::Exact(x) => vec![x],
                    StatusPattern::Class(c) => {
                        let c = u16::from(c) * 100;
                        (c..c + 100).collect()
                    }
                }
            };
            Some(statuses.into_iter().map(|s| Some(s.to_string())).collect())
        }
        _ => None,
    }
}

/// Does `op` hold for `value`, as `eval_cond` decides it? `None`: it
/// depends on a variable.
fn holds(op: &Op, value: Option<&str>) -> Option<bool> {
    let eq = |l: &str| value.is_some_and(|v| v.trim().eq_ignore_ascii_case(l.trim()));
    Some(match op {
        Op::Present => value.is_some(),
        Op::Absent => value.is_none(),
        Op::Eq(Operand::Literal(l)) => eq(l),
        Op::Ne(Operand::Literal(l)) => value.is_some() && !eq(l),
        Op::Eq(Operand::Var(_)) | Op::Ne(Operand::Var(_)) => {
            if value.is_none() {
                false
            } else {
                return None;
            }
        }
        Op::Matches(re) => value.is_some_and(|v| re.is_match(v)),
        Op::NotMatches(re) => value.is_some_and(|v| !re.is_match(v)),
    })
}

/// The path with a compact header name spelt long, so `o` and `event` are
/// one value.
fn canonical(path: &Path) -> Path {
    let mut p = path.clone();
    if let Base::Header(h) = &mut p.base
        && let Some(long) = headers::long_form(h)
    {
        *h = long.to_ascii_lowercase();
    }
    p
}

/// Can no value satisfy both `a` and `b` (on the same path)? Decided for
/// literals only; URIs by RFC 3261 equivalence, other text ignoring case,
/// as the matcher compares them.
fn contradict(a: &Op, b: &Op) -> bool {
    let same = |x: &str, y: &str| {
        if uri::looks_like_uri(x) && uri::looks_like_uri(y) {
            uri::equivalent(x, y)
        } else {
            x.trim().eq_ignore_ascii_case(y.trim())
        }
    };
    let text = |x: &str, y: &str| !uri::looks_like_uri(x) && !uri::looks_like_uri(y);
    let needs_value = |o: &Op| !matches!(o, Op::Absent);
    match (a, b) {
        (Op::Absent, o) | (o, Op::Absent) => needs_value(o),
        (Op::Eq(Operand::Literal(x)), Op::Eq(Operand::Literal(y))) => {
            (text(x, y) || (uri::looks_like_uri(x) && uri::looks_like_uri(y))) && !same(x, y)
        }
        (Op::Eq(Operand::Literal(x)), Op::Ne(Operand::Literal(y)))
        | (Op::Ne(Operand::Literal(y)), Op::Eq(Operand::Literal(x))) => x.trim() == y.trim(),
        (Op::Matches(x), Op::NotMatches(y)) | (Op::NotMatches(y), Op::Matches(x)) => {
            x.as_str() == y.as_str()
        }
        _ => false,
    }
}

/// Is `inner` a value inside `outer` (`event.value` inside `event`), so
/// that it is absent whenever `outer` is?
fn within(outer: &Path, inner: &Path) -> bool {
    outer.base == inner.base && inner.accessors.starts_with(&outer.accessors)
}

/// Why a value is absent on this kind of step.
fn absent_reason(message: &MessagePattern, path: &Path) -> &'static str {
    match path.base {
        Base::Status => "a request has no status",
        Base::Reason => "a request has no reason phrase",
        Base::RequestUri => "a response has no Request-URI",
        _ if matches!(message, MessagePattern::Response { .. }) => {
            "a response has no method (the method it answers is the one in parentheses)"
        }
        _ => "the value is absent",
    }
}

/// The findings of step `idx` (already compiled, with the steps before it).
pub(crate) fn check_step(steps: &[Step], idx: StepIdx, label: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    let Some(step) = steps.get(idx) else {
        return out;
    };
    if let MessagePattern::Response { method, .. } = &step.message
        && method == "ACK"
    {
        out.push(Finding {
            span: step.span,
            message: format!("step {label} can never match: no response is ever sent to an ACK"),
            help: "RFC 3261 17.1.1.3: an ACK is not answered; did you mean the INVITE?".into(),
        });
        return out;
    }
    // Conditions on values the step's kind decides: the matches first (a
    // message failing them is not the step), then with the expects (a
    // message failing them is the step, `wrong`).
    let conds: Vec<(&Cond, bool)> = step
        .matches
        .iter()
        .map(|c| (c, true))
        .chain(step.expects.iter().map(|c| (c, false)))
        .collect();
    let mut reported = vec![false; conds.len()];
    for taken in [true, false] {
        let mut paths: Vec<(Path, Vec<Option<String>>)> = Vec::new();
        for (i, (c, is_match)) in conds.iter().enumerate() {
            let CondKind::Compare { path, op } = &c.kind else {
                continue;
            };
            if taken && !is_match {
                continue;
            }
            let key = canonical(path);
            let slot = match paths.iter().position(|(p, _)| *p == key) {
                Some(s) => s,
                None => match domain(&step.message, path, taken) {
                    Some(d) => {
                        paths.push((key, d));
                        paths.len() - 1
                    }
                    None => continue,
                },
            };
            let values = &mut paths[slot].1;
            if values.is_empty() {
                continue;
            }
            values.retain(|v| holds(op, v.as_deref()).unwrap_or(true));
            if values.is_empty() && !reported[i] {
                reported[i] = true;
                out.push(emptied(step, c, path, *is_match, taken, label));
            }
        }
    }
    // Two conditions on one value that no value meets together.
    for (j, (b, b_match)) in conds.iter().enumerate() {
        if reported[j] {
            continue;
        }
        let CondKind::Compare { path: pb, op: ob } = &b.kind else {
            continue;
        };
        let kb = canonical(pb);
        let earlier = conds[..j].iter().find(|(a, _)| match &a.kind {
            CondKind::Compare { path: pa, op: oa } => {
                let ka = canonical(pa);
                (ka == kb && contradict(oa, ob))
                    || (within(&ka, &kb) && matches!(oa, Op::Absent) && !matches!(ob, Op::Absent))
                    || (within(&kb, &ka) && matches!(ob, Op::Absent) && !matches!(oa, Op::Absent))
            }
            _ => false,
        });
        if let Some((a, a_match)) = earlier {
            reported[j] = true;
            let line = a.span.line;
            let a_kind = if *a_match { "match" } else { "expect" };
            let b_kind = if *b_match { "match" } else { "expect" };
            let (message, help) = if *a_match && *b_match {
                (
                    format!(
                        "step {label} can never match: no value meets both `{}` and `{}`",
                        a.text, b.text
                    ),
                    format!("this `match` contradicts the `match` on line {line}"),
                )
            } else {
                (
                    format!(
                        "step {label} can never be ok: no value meets both `{}` and `{}`",
                        a.text, b.text
                    ),
                    format!(
                        "this `{b_kind}` contradicts the `{a_kind}` on line {line}, so the step is always `wrong`"
                    ),
                )
            };
            out.push(Finding {
                span: b.span,
                message,
                help,
            });
        }
    }
    // The same response on two hops has one status.
    if let (Some(Relation::SameTransaction(t)), MessagePattern::Response { status: a, .. }) =
        (step.relation, &step.message)
        && let Some(MessagePattern::Response { status: b, .. }) = steps.get(t).map(|s| &s.message)
        && !overlap(*a, *b)
    {
        let target = steps[t]
            .number
            .map_or_else(|| "opt".to_string(), |n| n.to_string());
        out.push(Finding {
            span: step.span,
            message: format!(
                "step {label} can never be ok: it is the same response as step {target}, but {} and {} share no status",
                status_text(*a),
                status_text(*b)
            ),
            help: "a proxy forwards a response with its status: give both steps the same one".into(),
        });
    }
    out
}

/// The finding for condition `c`, which left no value of its path.
fn emptied(
    step: &Step,
    c: &Cond,
    path: &Path,
    is_match: bool,
    taken: bool,
    label: &str,
) -> Finding {
    let kind = if is_match { "match" } else { "expect" };
    let (message, help) = match domain(&step.message, path, taken).as_deref() {
        Some([None]) => {
            let why = absent_reason(&step.message, path);
            if is_match {
                (
                    format!("step {label} can never match: {why}"),
                    "this `match` never holds on such a message".to_string(),
                )
            } else {
                (
                    format!("step {label} can never be ok: {why}"),
                    "this `expect` never holds on such a message, so the step is always `wrong`"
                        .to_string(),
                )
            }
        }
        Some([Some(v)]) if !matches!(step.message, MessagePattern::Response { .. }) => {
            let why = format!("its {} is {v}", path_word(path));
            if is_match {
                (
                    format!("step {label} can never match: {why}"),
                    format!("this `match` never holds for a {v}"),
                )
            } else {
                (
                    format!("step {label} can never be ok: {why}"),
                    format!("this `expect` never holds for a {v}, so the step is always `wrong`"),
                )
            }
        }
        _ => {
            let status = match &step.message {
                MessagePattern::Response { status, .. } => status_text(*status),
                MessagePattern::Request { .. } => String::new(),
            };
            if taken {
                (
                    format!("step {label} can never match: no status meets this `match`"),
                    "a SIP status is a number from 100 to 699".to_string(),
                )
            } else {
                (
                    format!(
                        "step {label} can never be ok: no status its `{status}` allows meets this `{kind}` (with the conditions on `status` before it)"
                    ),
                    "the step is seen only with a status it rejects, so it is always `wrong`"
                        .to_string(),
                )
            }
        }
    };
    Finding {
        span: c.span,
        message,
        help,
    }
}

fn overlap(a: StatusPattern, b: StatusPattern) -> bool {
    (100..=699).any(|s| a.accepts(s) && b.accepts(s))
}

fn status_text(s: StatusPattern) -> String {
    match s {
        StatusPattern::Exact(x) => x.to_string(),
        StatusPattern::Class(c) => format!("{c}xx"),
    }
}

fn path_word(p: &Path) -> &'static str {
    match p.base {
        Base::Method => "method",
        Base::Status => "status",
        _ => "value",
    }
}
