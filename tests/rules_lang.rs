//! The rule language: every construct compiles to what it says, and every
//! kind of mistake gets a compiler-like diagnostic at the right place.

use sipflow::rules::ast::{
    Accessor, Base, CondKind, MessagePattern, Op, Operand, Relation, StatusPattern,
};
use sipflow::rules::{RuleSet, compile_text};

const HEAD: &str = "flow t\nroles a b c\n";

/// Compile and return the rendered diagnostics (panics if it compiled).
fn errors(text: &str) -> String {
    match compile_text("t.flow", text) {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(d) => d.to_string(),
    }
}

#[test]
fn every_construct_compiles_to_its_meaning() {
    let text = r#"
flow    demo-flow
title   "A demo"
roles   a b c d p
session $s
timeout 10s
1   a -> b   REFER
        match   refer-to.uri.param(method) == "BYE"
        capture $s = refer-to.uri.without(method)
        match   request-uri != $s
        match   request-uri is-focus-for a
2   b -> c   REFER          same-transaction 1
opt c -> b   202 Accepted (REFER)   response-to 2
3   c -> b   BYE            match request-uri == $s   within 5s
repeat dialog-of $s (p)
4   c -> p   BYE            match dialog-of $s
5   p -> c   200 OK (BYE)   response-to 4
end
6   c -> b   NOTIFY         in-dialog 1
        expect  event.value == "refer"
        expect  header(Content-Type) ~ "^message/sipfrag"
        expect  sipfrag.status == 200
        expect  body !~ "error"
        match   header(Subscription-State) present
        match   header(X-Debug) absent
        match   xml(conference-info@entity) != "x"
7   b -> a   2xx (NOTIFY)   response-to 6
"#;
    let r = compile_text("demo.flow", text).unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(r.id, "demo-flow");
    assert_eq!(r.title, "A demo");
    assert_eq!(r.roles, ["a", "b", "c", "d", "p"]);
    assert_eq!(r.timeout, std::time::Duration::from_secs(10));
    assert_eq!(r.vars, ["s"]);
    assert_eq!(r.session_var, Some(0));
    // Steps: 1, 2, opt, 3, 4, 5, 6, 7.
    assert_eq!(r.steps.len(), 8);
    let s1 = &r.steps[0];
    assert_eq!(
        s1.message,
        MessagePattern::Request {
            method: "REFER".into()
        }
    );
    assert_eq!(s1.matches.len(), 3);
    assert_eq!(s1.captures.len(), 1);
    assert_eq!(
        s1.captures[0].path.accessors,
        vec![Accessor::Uri, Accessor::Without("method".into())]
    );
    match &s1.matches[0].kind {
        CondKind::Compare {
            path,
            op: Op::Eq(Operand::Literal(v)),
        } => {
            assert_eq!(path.base, Base::Header("refer-to".into()));
            assert_eq!(
                path.accessors,
                vec![Accessor::Uri, Accessor::Param("method".into())]
            );
            assert_eq!(v, "BYE");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        s1.matches[1].kind,
        CondKind::Compare {
            op: Op::Ne(Operand::Var(0)),
            ..
        }
    ));
    assert!(matches!(
        s1.matches[2].kind,
        CondKind::FocusFor {
            role: 0,
            negated: false,
            ..
        }
    ));
    assert_eq!(r.steps[1].relation, Some(Relation::SameTransaction(0)));
    let opt = &r.steps[2];
    assert!(opt.optional);
    assert_eq!(opt.number, None);
    assert_eq!(opt.relation, Some(Relation::ResponseTo(1)));
    assert_eq!(
        opt.message,
        MessagePattern::Response {
            status: StatusPattern::Exact(202),
            method: "REFER".into()
        }
    );
    assert_eq!(r.steps[3].timeout, std::time::Duration::from_secs(5));
    assert_eq!(r.steps[3].number, Some(3));
    let rep = r.repeat.as_ref().expect("repeat block");
    assert_eq!((rep.first, rep.last), (4, 5));
    assert_eq!(rep.roles, vec![4]);
    assert!(r.steps[4].in_repeat && r.steps[5].in_repeat && !r.steps[6].in_repeat);
    assert!(matches!(
        r.steps[4].matches[0].kind,
        CondKind::DialogOf { var: 0, peer: None }
    ));
    let s6 = &r.steps[6];
    assert_eq!(s6.relation, Some(Relation::InDialog(0)));
    assert_eq!(s6.expects.len(), 4);
    assert!(matches!(
        s6.expects[1].kind,
        CondKind::Compare {
            op: Op::Matches(_),
            ..
        }
    ));
    assert!(
        matches!(&s6.expects[2].kind, CondKind::Compare { path, .. } if path.base == Base::SipfragStatus)
    );
    assert!(matches!(
        s6.expects[3].kind,
        CondKind::Compare {
            op: Op::NotMatches(_),
            ..
        }
    ));
    assert!(matches!(
        s6.matches[0].kind,
        CondKind::Compare {
            op: Op::Present,
            ..
        }
    ));
    assert!(matches!(
        s6.matches[1].kind,
        CondKind::Compare { op: Op::Absent, .. }
    ));
    match &s6.matches[2].kind {
        CondKind::Compare { path, .. } => assert_eq!(
            path.base,
            Base::Xml {
                element: "conference-info".into(),
                attr: Some("entity".into())
            }
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        r.steps[7].message,
        MessagePattern::Response {
            status: StatusPattern::Class(2),
            method: "NOTIFY".into()
        }
    );
    assert_eq!(&*r.steps[7].summary, "b -> a 2xx (NOTIFY)");
}

#[test]
fn default_timeout_is_64_t1() {
    let r = compile_text("t.flow", "flow t\n1 a -> b INVITE\n").unwrap();
    assert_eq!(r.timeout, std::time::Duration::from_secs(32));
    assert_eq!(r.steps[0].timeout, std::time::Duration::from_secs(32));
}

#[test]
fn diagnostic_shows_file_line_column_line_and_caret() {
    let text = format!("{HEAD}1 a -> b REFER\n2 b => c REFER same-transaction 1\n");
    let d = errors(&text);
    assert_eq!(
        d,
        "error: expected `->`, found `=>`\n --> t.flow:4:5\n  |\n4 | 2 b => c REFER same-transaction 1\n  |     ^^ expected `->`"
    );
}

#[test]
fn unknown_role() {
    let d = errors(&format!(
        "{HEAD}1 a -> b REFER\n2 b -> zz REFER same-transaction 1\n"
    ));
    assert!(d.contains("error: unknown role `zz`"), "{d}");
    assert!(d.contains("t.flow:4:8"), "{d}");
    assert!(
        d.contains("expected one of the declared roles: a, b, c"),
        "{d}"
    );
}

#[test]
fn unknown_clause_lists_the_clauses() {
    let d = errors(&format!("{HEAD}1 a -> b REFER\n2 b -> c REFER same-as 1\n"));
    assert!(d.contains("unknown clause `same-as`"), "{d}");
    assert!(d.contains("t.flow:4:16"), "{d}");
    assert!(d.contains("same-transaction N"), "{d}");
}

#[test]
fn relation_to_a_later_or_missing_step() {
    let d = errors(&format!(
        "{HEAD}1 a -> b REFER\n2 b -> c REFER same-transaction 3\n"
    ));
    assert!(d.contains("step 3 is not an earlier step"), "{d}");
    let d = errors(&format!(
        "{HEAD}1 a -> b REFER\n2 b -> c REFER same-transaction 2\n"
    ));
    assert!(d.contains("step 2 is not an earlier step"), "{d}");
}

#[test]
fn response_to_a_response_and_method_mismatch() {
    let d = errors(&format!(
        "{HEAD}1 a -> b BYE\n2 b -> a 200 OK (BYE) response-to 1\n3 a -> b 200 OK (BYE) response-to 2\n"
    ));
    assert!(d.contains("step 2 is a response"), "{d}");
    let d = errors(&format!(
        "{HEAD}1 a -> b BYE\n2 b -> a 200 OK (INVITE) response-to 1\n"
    ));
    assert!(
        d.contains("this response answers INVITE but step 1 is BYE"),
        "{d}"
    );
    assert!(d.contains("write `(BYE)`"), "{d}");
}

#[test]
fn response_without_relation() {
    let d = errors(&format!(
        "{HEAD}1 a -> b BYE\n2 b -> a 200 OK (BYE) match status == 200\n"
    ));
    assert!(d.contains("a response step needs `response-to N`"), "{d}");
}

#[test]
fn step_that_nothing_ties_to_the_instance() {
    let d = errors(&format!("{HEAD}1 a -> b BYE\n2 b -> c BYE\n"));
    assert!(
        d.contains("step 2 has nothing that ties it to this flow instance"),
        "{d}"
    );
}

#[test]
fn variable_used_before_capture_and_captured_twice() {
    let d = errors(&format!("{HEAD}1 a -> b BYE match request-uri == $s\n"));
    assert!(
        d.contains("`$s` is used before any step captures it"),
        "{d}"
    );
    assert!(d.contains("t.flow:3:35"), "{d}");
    let d = errors(&format!(
        "{HEAD}1 a -> b BYE capture $s = request-uri\n2 b -> c BYE same-transaction 1 capture $s = request-uri\n"
    ));
    assert!(d.contains("`$s` is already captured at step 1"), "{d}");
}

#[test]
fn invalid_regex_points_at_the_pattern() {
    let d = errors(&format!("{HEAD}1 a -> b BYE match body ~ \"(unclosed\"\n"));
    assert!(d.contains("invalid regular expression"), "{d}");
    assert!(d.contains("t.flow:3:27"), "{d}");
}

#[test]
fn step_numbers_must_increase_once_each() {
    let d = errors(&format!(
        "{HEAD}1 a -> b BYE\n3 b -> c BYE same-transaction 1\n2 c -> b BYE same-transaction 1\n"
    ));
    assert!(d.contains("step 2 comes after step 3"), "{d}");
    let d = errors(&format!("{HEAD}1 a -> b BYE\n1 b -> c BYE\n"));
    assert!(d.contains("step 1 is numbered twice"), "{d}");
}

#[test]
fn missing_flow_line_and_no_steps() {
    let d = errors("roles a b\n1 a -> b BYE\n");
    assert!(d.contains("the rule has no `flow` line"), "{d}");
    let d = errors("flow x\n");
    assert!(d.contains("the rule has no steps"), "{d}");
}

#[test]
fn repeat_blocks_must_close_and_not_nest() {
    let d = errors(&format!(
        "{HEAD}1 a -> b BYE capture $s = request-uri\nrepeat dialog-of $s\n2 b -> c BYE same-transaction 1\n"
    ));
    assert!(d.contains("this `repeat` block is never closed"), "{d}");
    let d = errors(&format!("{HEAD}1 a -> b BYE\nend\n"));
    assert!(d.contains("`end` without `repeat`"), "{d}");
    let d = errors(&format!(
        "{HEAD}1 a -> b BYE capture $s = request-uri\nrepeat dialog-of $s\nrepeat dialog-of $s\n2 b -> c BYE same-transaction 1\nend\n"
    ));
    assert!(d.contains("cannot be nested"), "{d}");
    let d = errors(&format!(
        "{HEAD}1 a -> b BYE\nrepeat dialog-of $nope\n2 b -> c BYE same-transaction 1\nend\n"
    ));
    assert!(
        d.contains("`$nope` is not captured before this block"),
        "{d}"
    );
}

#[test]
fn unknown_accessor_and_bad_status() {
    let d = errors(&format!(
        "{HEAD}1 a -> b BYE match request-uri.port == \"5060\"\n"
    ));
    assert!(d.contains("unknown accessor `.port`"), "{d}");
    let d = errors(&format!(
        "{HEAD}1 a -> b BYE\n2 b -> a 099 (BYE) response-to 1\n"
    ));
    assert!(d.contains("`099` is not a SIP status"), "{d}");
    let d = errors(&format!(
        "{HEAD}1 a -> b BYE\n2 b -> a 2x (BYE) response-to 1\n"
    ));
    assert!(d.contains("expected a request method in upper case"), "{d}");
}

#[test]
fn unterminated_string_and_trailing_words() {
    let d = errors(&format!("{HEAD}1 a -> b BYE match method == \"BYE\n"));
    assert!(
        d.contains("expected a quoted string, a number or a `$variable`"),
        "{d}"
    );
    let d = errors("flow x y\n1 a -> b BYE\n");
    assert!(d.contains("unexpected `y`"), "{d}");
}

#[test]
fn session_variable_must_be_captured() {
    let d = errors(&format!("{HEAD}session $s\n1 a -> b BYE\n"));
    assert!(d.contains("`$s` is never captured"), "{d}");
}

#[test]
fn every_mistake_of_a_file_is_reported_at_once() {
    let text =
        format!("{HEAD}1 a -> zz BYE\n2 b -> c BYE frobnicate\n3 c -> b BYE same-transaction 9\n");
    let d = compile_text("t.flow", &text).unwrap_err();
    assert!(d.0.len() >= 3, "{d}");
}

#[test]
fn duplicate_rule_ids_across_files() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.flow");
    let b = dir.path().join("b.flow");
    std::fs::write(&a, "flow same\n1 a -> b BYE\n").unwrap();
    std::fs::write(&b, "flow same\n1 a -> b INVITE\n").unwrap();
    let e = RuleSet::load(&[dir.path().to_path_buf()])
        .unwrap_err()
        .to_string();
    assert!(e.contains("rule id `same` is also defined in"), "{e}");
}

#[test]
fn builtin_rules_follow_the_spec_hops() {
    let set = RuleSet::builtin();
    let hops = |id: &str| -> Vec<(u32, String, String)> {
        let r = set.get(id).unwrap();
        r.required_steps()
            .map(|(_, s)| {
                (
                    s.number.unwrap(),
                    r.roles[s.from].clone(),
                    r.roles[s.to].clone(),
                )
            })
            .collect()
    };
    // flows.md, flow 1, hop by hop.
    let f1: Vec<(u32, &str, &str)> = vec![
        (1, "client-b", "core-b"),
        (2, "core-b", "part-b"),
        (3, "part-b", "core-b"),
        (4, "core-b", "core-a"),
        (5, "core-a", "ctrl-a"),
        (6, "ctrl-a", "core-a"),
        (7, "core-a", "core-b"),
        (8, "core-b", "part-b"),
        (9, "part-b", "core-b"),
        (10, "core-b", "client-b"),
        (11, "client-b", "core-b"),
        (12, "core-b", "part-b"),
    ];
    let got = hops("poc-preest-release-self");
    assert_eq!(got.len(), f1.len());
    for (g, e) in got.iter().zip(&f1) {
        assert_eq!((g.0, g.1.as_str(), g.2.as_str()), *e);
    }
    // flows.md, flow 3.
    let f3 = vec![
        (1, "server-a", "core-a"),
        (2, "core-a", "client-a"),
        (3, "client-a", "core-a"),
        (4, "core-a", "server-a"),
    ];
    let got = hops("poc-preest-participant-notify");
    for (g, e) in got.iter().zip(&f3) {
        assert_eq!((g.0, g.1.as_str(), g.2.as_str()), *e);
    }
    // flows.md, flow 2: every hop toward part-b as the spec numbers it;
    // toward every other participating server (the per-participant block)
    // step 6's BYE and step 11's 200 OK as paths through any proxies.
    let rule = set.get("poc-preest-release-session").unwrap();
    let got = hops("poc-preest-release-session");
    assert_eq!(got.len(), 20);
    let fixed = [
        (1, "client-b", "core-b"),
        (2, "core-b", "part-b"),
        (3, "part-b", "core-b"),
        (4, "core-b", "core-a"),
        (5, "core-a", "ctrl-a"),
        (6, "ctrl-a", "core-a"),
        (7, "core-a", "core-b"),
        (8, "core-b", "part-b"),
        (9, "part-b", "core-b"),
        (10, "core-b", "core-a"),
        (11, "core-a", "ctrl-a"),
        (6, "ctrl-a", "part-p"),
        (11, "part-p", "ctrl-a"),
        (12, "ctrl-a", "core-a"),
        (13, "core-a", "core-b"),
        (14, "core-b", "part-b"),
        (15, "part-b", "core-b"),
        (16, "core-b", "client-b"),
        (17, "client-b", "core-b"),
        (18, "core-b", "part-b"),
    ];
    for (g, (n, from, to)) in got.iter().zip(fixed) {
        assert_eq!((g.0, g.1.as_str(), g.2.as_str()), (n, from, to));
    }
    let block: Vec<_> = rule
        .steps
        .iter()
        .filter(|s| s.in_repeat)
        .map(|s| (s.number, s.path))
        .collect();
    assert_eq!(block, vec![(Some(6), true), (Some(11), true)]);
    for r in ["core-b", "core-a"] {
        let i = rule.roles.iter().position(|x| x == r).unwrap();
        assert!(rule.proxies[i], "{r} is a chain of proxies");
    }
}

/// docs/rules.md shows the built-in rules verbatim, and its first example
/// compiles: the reference cannot drift from the code.
#[test]
fn reference_shows_the_builtin_rules_and_its_example_compiles() {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/rules.md")).unwrap();
    for (name, text) in sipflow::rules::BUILTIN {
        assert!(
            doc.contains(text.trim_end()),
            "docs/rules.md does not show {name} as it is"
        );
    }
    let start = doc.find("# An INVITE answered").unwrap();
    let end = start + doc[start..].find("```").unwrap();
    let rule =
        compile_text("docs-example.flow", &doc[start..end]).unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(rule.id, "call-through-proxy");
}

/// Damaged rule text (every line cut, characters dropped or swapped,
/// non-ASCII text inserted: pasted arrows and quotes, combining marks,
/// emoji, right-to-left text and overrides, NUL, CR, BOM, no-break spaces)
/// gives diagnostics or a rule, never a panic; every diagnostic points
/// inside its line (or just past its end) by characters and renders.
#[test]
fn damaged_rule_text_never_panics() {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut rand = move |n: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n.max(1) as u64) as usize
    };
    const ASCII: [char; 12] = [
        '(', ')', '"', '$', '.', '-', '>', ' ', '\n', '#', '\t', '\\',
    ];
    const UNICODE: [&str; 20] = [
        "é",
        "e\u{301}",
        "→",
        "\u{2192}\u{301}",
        "😀",
        "👩\u{200d}💻",
        "שלום",
        "\u{202e}",
        "\u{200f}",
        "\0",
        "\r",
        "\r\n",
        "\u{feff}",
        "“",
        "”",
        "\u{a0}",
        "漢字",
        "\u{fffd}",
        "\u{10ffff}",
        "ﬁ",
    ];
    let mut tried = 0;
    for (_, text) in sipflow::rules::BUILTIN {
        let chars: Vec<char> = text.chars().collect();
        for _ in 0..600 {
            let mut t = chars.clone();
            for _ in 0..1 + rand(4) {
                let i = rand(t.len()).min(t.len());
                match rand(5) {
                    0 => {
                        if i < t.len() {
                            t.remove(i);
                        }
                    }
                    1 => t.insert(i, ASCII[rand(ASCII.len())]),
                    2 => {
                        let s = UNICODE[rand(UNICODE.len())];
                        for (k, c) in s.chars().enumerate() {
                            t.insert(i + k, c);
                        }
                    }
                    3 => t.truncate(i),
                    _ => {
                        let j = rand(t.len()).min(t.len().saturating_sub(1));
                        let i = i.min(t.len().saturating_sub(1));
                        t.swap(i, j);
                    }
                }
                if t.is_empty() {
                    break;
                }
            }
            let s: String = t.into_iter().collect();
            // As text, and as bytes with one byte damaged (often no
            // longer UTF-8).
            let mut bytes = s.clone().into_bytes();
            if !bytes.is_empty() {
                let k = rand(bytes.len());
                bytes[k] = [0xff, 0x80, 0xc3, 0xe2, 0x00][rand(5)];
            }
            for d in [
                compile_text("fuzz.flow", &s).err(),
                sipflow::rules::compile_bytes("fuzz.flow", &bytes).err(),
            ]
            .into_iter()
            .flatten()
            {
                assert!(!d.0.is_empty());
                for one in &d.0 {
                    let chars = one.line_text.chars().count();
                    assert!(
                        one.span.col >= 1 && one.span.col <= chars + 1,
                        "column {} of a {chars}-character line:\n{one}\nin:\n{s}",
                        one.span.col
                    );
                    let shown = one.to_string();
                    assert!(shown.contains("-->"));
                    assert!(shown.lines().last().unwrap().contains('^'), "{shown}");
                    assert!(
                        !shown.contains('\0') && !shown.contains('\u{202e}'),
                        "{shown}"
                    );
                }
            }
            tried += 1;
        }
    }
    assert_eq!(tried, 1800);
}
