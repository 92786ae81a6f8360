//! Warnings: rules that load but are probably not what was meant. A header
//! name that is neither registered (IANA) nor an extension, and steps that
//! can never match (or never be `ok`) as the matcher reads them. Warnings
//! are shown by `rules lint` and `check` on stderr and fail neither.

use std::path::Path;
use std::process::Command;

use sipflow::rules::{Severity, compile_source, compile_text};

/// The warnings of a text that must compile.
fn warnings(text: &str) -> Vec<String> {
    match compile_source("t.flow", text) {
        Ok(c) => {
            assert!(c.warnings.0.iter().all(|w| w.severity == Severity::Warning));
            c.warnings.0.iter().map(|w| w.to_string()).collect()
        }
        Err(d) => panic!("expected a rule from:\n{text}\ngot:\n{d}"),
    }
}

fn one_warning(text: &str) -> String {
    let w = warnings(text);
    assert_eq!(w.len(), 1, "{w:#?}");
    w.into_iter().next().unwrap()
}

const HEAD: &str = "flow t\nroles a b c\n";

#[test]
fn misspelt_header_gets_a_suggestion() {
    let w = one_warning(&format!(
        "{HEAD}1 a -> b NOTIFY match evnt.value == \"refer\"\n"
    ));
    assert!(
        w.starts_with("warning: unknown header 'evnt': did you mean 'event'?"),
        "{w}"
    );
    assert!(w.contains("t.flow:3:23"), "{w}");
    assert!(
        w.ends_with("^^^^ not a registered SIP header; write `event`"),
        "{w}"
    );
    // In header(...), in a capture, in any case; the suggestion keeps the
    // rule's way of writing names.
    let w = one_warning(&format!(
        "{HEAD}1 a -> b REFER capture $x = header(Refer-Too).uri\n"
    ));
    assert!(
        w.contains("unknown header 'Refer-Too': did you mean 'Refer-To'?"),
        "{w}"
    );
    assert!(w.contains("^^^^^^^^^^^^^^^^^"), "{w}");
    let w = one_warning(&format!("{HEAD}1 a -> b BYE match contnet-type present\n"));
    assert!(w.contains("did you mean 'content-type'?"), "{w}");
    // Nothing near: no suggestion.
    let w = one_warning(&format!("{HEAD}1 a -> b BYE match frobnication present\n"));
    assert!(w.contains("unknown header 'frobnication'\n"), "{w}");
}

#[test]
fn registered_compact_and_extension_headers_are_quiet() {
    for path in [
        "event.value",
        "EVENT.value",
        "o.value",
        "header(Event)",
        "header(o)",
        "p-asserted-identity.uri",
        "header(P-Made-Up-Header)",
        "x-debug",
        "header(X-Anything)",
        "subscription-state",
        "session-expires",
        "content-type",
        "allow-events",
        "security-verify",
        "user-to-user",
        "history-info",
        "request-uri",
        "method",
        "body",
        "sipfrag.status",
        "xml(conference-info@entity)",
    ] {
        let w = warnings(&format!("{HEAD}1 a -> b NOTIFY match {path} present\n"));
        assert!(w.is_empty(), "{path}: {w:#?}");
    }
}

#[test]
fn builtin_rules_draw_no_warning() {
    for (name, text) in sipflow::rules::BUILTIN {
        let c = compile_source(name, text).unwrap();
        assert!(c.warnings.0.is_empty(), "{name}: {}", c.warnings);
    }
}

#[test]
fn two_matches_wanting_different_literals() {
    let w = one_warning(&format!(
        "{HEAD}1 a -> b NOTIFY\n    match event.value == \"refer\"\n    match o.value == \"conference\"\n"
    ));
    assert!(
        w.contains("step 1 can never match: no value meets both `event.value == \"refer\"` and `o.value == \"conference\"`"),
        "{w}"
    );
    assert!(w.contains("t.flow:5:11"), "{w}");
    assert!(w.contains("contradicts the `match` on line 4"), "{w}");
    // URIs by RFC 3261 equivalence: the same URI written two ways is no
    // contradiction; two different URIs are.
    assert!(
        warnings(&format!(
            "{HEAD}1 a -> b BYE match request-uri == \"sip:c@EXAMPLE.com;a=1;b=2\" match request-uri == \"sip:c@example.com;b=2;a=1\"\n"
        ))
        .is_empty()
    );
    let w = one_warning(&format!(
        "{HEAD}1 a -> b BYE match request-uri == \"sip:c@example.com\" match request-uri == \"sip:d@example.com\"\n"
    ));
    assert!(w.contains("can never match"), "{w}");
    // Text ignores case, as the matcher does.
    assert!(
        warnings(&format!(
            "{HEAD}1 a -> b NOTIFY match event.value == \"refer\" match event.value == \"REFER\"\n"
        ))
        .is_empty()
    );
    // `==` and `!=` of one literal; `present` and `absent`; `absent` and a
    // comparison; a regex and its negation.
    for (a, b) in [
        ("event.value == \"refer\"", "event.value != \"refer\""),
        ("event present", "event absent"),
        ("event absent", "event.value == \"x\""),
        ("event ~ \"^r\"", "event !~ \"^r\""),
    ] {
        let w = one_warning(&format!("{HEAD}1 a -> b NOTIFY match {a} match {b}\n"));
        assert!(w.contains("step 1 can never match"), "{a} / {b}: {w}");
    }
    // Values that may both hold are quiet.
    assert!(
        warnings(&format!(
            "{HEAD}1 a -> b NOTIFY match event.value != \"a\" match event.value != \"b\" match event ~ \"x\" match event present\n"
        ))
        .is_empty()
    );
    // A `match` and an `expect` that contradict: the step is always wrong.
    let w = one_warning(&format!(
        "{HEAD}1 a -> b NOTIFY match event.value == \"refer\" expect event.value == \"dialog\"\n"
    ));
    assert!(w.contains("step 1 can never be ok"), "{w}");
    assert!(w.contains("so the step is always `wrong`"), "{w}");
}

#[test]
fn method_condition_against_the_steps_method() {
    let w = one_warning(&format!("{HEAD}1 a -> b BYE match method == \"INVITE\"\n"));
    assert!(
        w.contains("step 1 can never match: its method is BYE"),
        "{w}"
    );
    assert!(w.contains("this `match` never holds for a BYE"), "{w}");
    let w = one_warning(&format!(
        "{HEAD}1 a -> b BYE match method ~ \"^(INVITE|REFER)$\"\n"
    ));
    assert!(w.contains("its method is BYE"), "{w}");
    let w = one_warning(&format!("{HEAD}1 a -> b BYE match method != \"bye\"\n"));
    assert!(w.contains("its method is BYE"), "{w}");
    // Conditions the method meets are quiet (any case, as the matcher).
    assert!(
        warnings(&format!(
            "{HEAD}1 a -> b BYE match method == \"bye\" match method ~ \"^B\" match method != \"INVITE\"\n"
        ))
        .is_empty()
    );
    // A response has no method: the one it answers is in parentheses.
    let w = one_warning(&format!(
        "{HEAD}1 a -> b BYE\n2 b -> a 200 OK (BYE) response-to 1 match method == \"BYE\"\n"
    ));
    assert!(
        w.contains("step 2 can never match: a response has no method"),
        "{w}"
    );
    // A request has no status or reason; a response no Request-URI.
    let w = one_warning(&format!("{HEAD}1 a -> b BYE match status == 200\n"));
    assert!(
        w.contains("step 1 can never match: a request has no status"),
        "{w}"
    );
    let w = one_warning(&format!("{HEAD}1 a -> b BYE expect reason present\n"));
    assert!(
        w.contains("step 1 can never be ok: a request has no reason phrase"),
        "{w}"
    );
    let w = one_warning(&format!(
        "{HEAD}1 a -> b BYE\n2 b -> a 200 OK (BYE) response-to 1 match request-uri.user == \"x\"\n"
    ));
    assert!(w.contains("a response has no Request-URI"), "{w}");
    // `absent` on a value the kind lacks always holds: quiet.
    assert!(warnings(&format!("{HEAD}1 a -> b BYE match status absent\n")).is_empty());
}

#[test]
fn status_conditions_against_the_steps_status() {
    // Any final response to BYE is taken by a `200 OK (BYE)` step (a
    // status other than 200 makes it `wrong`), so a `match status == 481`
    // matches, but the step is never `ok`.
    let w = one_warning(&format!(
        "{HEAD}1 a -> b BYE\n2 b -> a 200 OK (BYE) response-to 1 match status == 481\n"
    ));
    assert!(
        w.contains("step 2 can never be ok: no status its `200` allows"),
        "{w}"
    );
    let w = one_warning(&format!(
        "{HEAD}1 a -> b BYE\n2 b -> a 2xx (BYE) response-to 1 expect status ~ \"^4\"\n"
    ));
    assert!(w.contains("no status its `2xx` allows"), "{w}");
    // A status no response has: never matches.
    let w = one_warning(&format!(
        "{HEAD}1 a -> b BYE\n2 b -> a 2xx (BYE) response-to 1 match status == \"2xx\"\n"
    ));
    assert!(
        w.contains("step 2 can never match: no status meets this `match`"),
        "{w}"
    );
    // A provisional status on a final-response step: such responses are
    // never taken by it.
    let w = one_warning(&format!(
        "{HEAD}1 a -> b INVITE\n2 b -> a 2xx (INVITE) response-to 1 match status == 180\n"
    ));
    assert!(w.contains("step 2 can never match"), "{w}");
    // Statuses in the pattern are quiet, and a 1xx step takes provisional
    // responses (the matcher does), so it is no never-matching step.
    assert!(
        warnings(&format!(
            "{HEAD}1 a -> b INVITE\n2 b -> a 2xx (INVITE) response-to 1 match status != 202 expect status ~ \"^20\"\n3 b -> a 1xx (INVITE) response-to 1 match status == 180\n4 b -> a 183 (INVITE) response-to 1\n"
        ))
        .is_empty()
    );
}

#[test]
fn responses_that_no_message_is() {
    // No response is ever sent to an ACK.
    let w = one_warning(&format!(
        "{HEAD}1 a -> b INVITE\n2 a -> b ACK in-dialog 1\n3 b -> a 200 OK (ACK) response-to 2\n"
    ));
    assert!(
        w.contains("step 3 can never match: no response is ever sent to an ACK"),
        "{w}"
    );
    // The same response on two hops has one status.
    let w = one_warning(&format!(
        "{HEAD}1 a -> b BYE\n2 b -> c BYE same-transaction 1\n3 c -> b 481 (BYE) response-to 2\n4 b -> a 2xx (BYE) same-transaction 3\n"
    ));
    assert!(
        w.contains("step 4 can never be ok: it is the same response as step 3, but 2xx and 481 share no status"),
        "{w}"
    );
    assert!(w.contains("t.flow:6:1"), "{w}");
}

/// The relation mistakes that make a step unmatchable are errors already
/// (stronger than a warning): a `response-to` a response, a response whose
/// method is not its request's, `same-transaction` between a request and
/// a response.
#[test]
fn relation_mistakes_are_errors() {
    let err = |t: &str| compile_text("t.flow", t).unwrap_err().to_string();
    let d = err(&format!(
        "{HEAD}1 a -> b BYE\n2 b -> a 200 OK (BYE) response-to 1\n3 a -> b 200 OK (BYE) response-to 2\n"
    ));
    assert!(d.contains("error: step 2 is a response"), "{d}");
    let d = err(&format!(
        "{HEAD}1 a -> b BYE\n2 b -> a 200 OK (INVITE) response-to 1\n"
    ));
    assert!(
        d.contains("error: this response answers INVITE but step 1 is BYE"),
        "{d}"
    );
    let d = err(&format!(
        "{HEAD}1 a -> b BYE\n2 b -> a 200 OK (BYE) same-transaction 1\n"
    ));
    assert!(
        d.contains("error: step 1 is a different kind of message"),
        "{d}"
    );
    let d = err(&format!(
        "{HEAD}1 a -> b BYE\n2 b -> a 200 OK (BYE) response-to 1\n3 b -> c BYE same-transaction 2\n"
    ));
    assert!(
        d.contains("error: step 2 is a different kind of message"),
        "{d}"
    );
}

/// Warnings and errors together: errors fail the load, and the warnings
/// are shown with them.
#[test]
fn warnings_come_with_errors_in_line_order() {
    let d = compile_text(
        "t.flow",
        &format!("{HEAD}1 a -> b NOTIFY match evnt present\n2 b -> zz NOTIFY same-transaction 1\n"),
    )
    .unwrap_err();
    assert_eq!((d.errors(), d.warnings()), (1, 1), "{d}");
    let s = d.to_string();
    let w = s.find("warning: unknown header 'evnt'").unwrap();
    let e = s.find("error: unknown role `zz`").unwrap();
    assert!(w < e, "{s}");
}

fn sipflow(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sipflow"))
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!stderr.contains("panicked"), "{stderr}");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        stderr,
    )
}

/// `rules lint` prints warnings on stderr and exits 0 when there are only
/// warnings; `check --rules` prints them and runs the check.
#[test]
fn command_line_shows_warnings_without_failing() {
    let dir = tempfile::tempdir().unwrap();
    // The built-in flow 3 with its Event header misspelt in step 1.
    let (_, text) = sipflow::rules::BUILTIN
        .iter()
        .find(|(n, _)| n.starts_with("poc-preest-participant-notify"))
        .unwrap();
    let typo = text.replace("match   event.value", "match   evnt.value");
    assert_ne!(&typo, text);
    let f = dir.path().join("typo.flow");
    std::fs::write(&f, &typo).unwrap();
    let f = f.display().to_string();

    let (code, out, err) = sipflow(&["rules", "lint", &f]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("ok: rule poc-preest-participant-notify (4 steps, 1 warning)"),
        "{out}"
    );
    assert!(
        err.contains("warning: unknown header 'evnt': did you mean 'event'?"),
        "{err}"
    );
    assert!(!err.contains("error"), "{err}");

    // The capture holds flow 3; with the typo, the rule never triggers, and
    // the warning says why.
    let pcap = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("samples/flows/poc-preest-participant-notify/ok-udp.pcap");
    assert!(pcap.exists(), "{}", pcap.display());
    let (code, out, err) = sipflow(&[
        "check",
        "--no-builtin",
        "--rules",
        &f,
        "--format",
        "json",
        &pcap.display().to_string(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("warning: unknown header 'evnt': did you mean 'event'?"),
        "{err}"
    );
    assert!(out.contains("\"instances\":0"), "{out}");
    // Spelt right, the same rule finds the flow in this capture.
    let good = dir.path().join("good.flow");
    std::fs::write(&good, text).unwrap();
    let (code, out, err) = sipflow(&[
        "check",
        "--no-builtin",
        "--rules",
        &good.display().to_string(),
        "--format",
        "json",
        &pcap.display().to_string(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("warning"), "{err}");
    assert!(out.contains("\"instances\":1"), "{out}");
    // The same run with `--expect` fails: no instance was found.
    let (code, _, err) = sipflow(&[
        "check",
        "--no-builtin",
        "--rules",
        &f,
        "--expect",
        "poc-preest-participant-notify",
        &pcap.display().to_string(),
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("warning: unknown header 'evnt'"), "{err}");
}

/// A step the matcher could find only by its kind of message (no relation,
/// no `match PATH == $VAR`, a sender no earlier step binds) is offered to
/// every open instance: lint says it will be slow, and why.
#[test]
fn steps_found_only_by_their_kind_warn_that_they_are_slow() {
    let w = one_warning(&format!(
        "{HEAD}1 a -> b INVITE\n2 c -> b BYE match method == \"BYE\"\n"
    ));
    assert!(
        w.contains("step 2 can be found only by its kind of message"),
        "{w}"
    );
    assert!(w.contains("t.flow:4:1"), "{w}");
    // Tied by a captured value, or sent by a role an earlier step bound:
    // the matcher finds it through its index; no warning.
    assert!(
        warnings(&format!(
            "{HEAD}1 a -> b INVITE\n    capture $t = request-uri\n2 c -> b BYE match request-uri == $t\n"
        ))
        .is_empty()
    );
    assert!(
        warnings(&format!(
            "{HEAD}1 a -> b INVITE\n2 b -> c BYE match method == \"BYE\"\n"
        ))
        .is_empty()
    );
}

/// A method one edit from a registered one is a typo; other extension
/// methods are allowed quietly. A path word is suggested like a header.
#[test]
fn misspelt_methods_and_path_words() {
    let w = one_warning(&format!("{HEAD}1 a -> b NOTFY\n"));
    assert!(
        w.contains("warning: unknown method 'NOTFY': did you mean 'NOTIFY'?"),
        "{w}"
    );
    assert!(w.contains("t.flow:3:10"), "{w}");
    // In a response, beside the error its mismatch with step 1 is.
    let d = compile_text(
        "t.flow",
        &format!("{HEAD}1 a -> b BYE\n2 b -> a 200 OK (BYY) response-to 1\n"),
    )
    .unwrap_err();
    assert_eq!((d.errors(), d.warnings()), (1, 1), "{d}");
    let d = d.to_string();
    assert!(
        d.contains("unknown method 'BYY': did you mean 'BYE'?"),
        "{d}"
    );
    assert!(
        d.contains("this response answers BYY but step 1 is BYE"),
        "{d}"
    );
    assert!(warnings(&format!("{HEAD}1 a -> b MYEXTENSION\n")).is_empty());
    assert!(warnings(&format!("{HEAD}1 a -> b PUBLISH\n")).is_empty());
    let w = one_warning(&format!("{HEAD}1 a -> b BYE match request_uri present\n"));
    assert!(
        w.contains("unknown header 'request_uri': did you mean 'request-uri'?"),
        "{w}"
    );
}
