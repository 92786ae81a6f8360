//! Hostile rule files: non-ASCII text (pasted arrows, combining marks,
//! emoji, bidi overrides, NUL, CR, BOM, bytes that are not UTF-8), rules
//! far larger than any flow, a second rule in one file. Each gets a clear
//! diagnostic (or, for the arrow and the BOM, is read as meant), never a
//! panic, and never a structure as large as the input asks for.

use std::path::Path;
use std::process::Command;

use sipflow::rules::{
    MAX_ACCESSORS, MAX_CAPTURES_PER_STEP, MAX_CONDITIONS_PER_STEP, MAX_DIAGNOSTICS, MAX_FILE_BYTES,
    MAX_LINE_CHARS, MAX_ROLES, MAX_STEPS, MAX_VARIABLES, compile_bytes, compile_text,
};

/// The rendered diagnostics of a text that must not compile.
fn errors(text: &str) -> String {
    match compile_text("t.flow", text) {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(d) => d.to_string(),
    }
}

/// `sipflow ARGS...`: (exit code, stdout, stderr); never a panic.
fn sipflow(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sipflow"))
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_ne!(out.status.code(), Some(101), "{stderr}");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        stderr,
    )
}

fn sample(rel: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("samples")
        .join(rel);
    assert!(p.exists(), "{} is missing", p.display());
    p.display().to_string()
}

fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> String {
    let p = dir.path().join(name);
    std::fs::write(&p, bytes).unwrap();
    p.display().to_string()
}

/// The two inputs users hit: a 3-byte file `é ` and a pasted `→` with a
/// trailing blank. Both panicked (exit 101) in `rules lint` and in
/// `check --rules`.
#[test]
fn the_reported_inputs_no_longer_panic() {
    let dir = tempfile::tempdir().unwrap();
    let e = write(&dir, "e.flow", "é ".as_bytes());
    let (code, _, err) = sipflow(&["rules", "lint", &e]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("e.flow:1:1"), "{err}");
    assert!(err.contains("found `é`"), "{err}");
    let pcap = sample("flows/poc-preest-release-self/ok-udp.pcap");
    let (code, _, err) = sipflow(&["check", "--rules", &e, &pcap]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("found `é`"), "{err}");

    let arrow = write(
        &dir,
        "arrow.flow",
        "flow t\n1   a → b    REFER \n".as_bytes(),
    );
    let (code, out, err) = sipflow(&["rules", "lint", &arrow]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("ok: rule t (1 steps)"), "{out}");
    let (code, _, err) = sipflow(&["check", "--rules", &arrow, &pcap]);
    assert!(code == 0 || code == 1, "{err}");
}

/// `→` (U+2192) is `->`; the step reads as if typed with `->`.
#[test]
fn typographic_arrow_is_an_alias() {
    let r = compile_text(
        "t.flow",
        "flow t\n1  a → b  REFER\n2 b→c REFER same-transaction 1\n",
    )
    .unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(r.roles, ["a", "b", "c"]);
    assert_eq!(&*r.steps[0].summary, "a -> b REFER");
    assert_eq!(&*r.steps[1].summary, "b->c REFER");
}

/// Columns are characters, counted in the line as written: after
/// multi-byte characters, and before a trailing comment (which shifted
/// every column by its length).
#[test]
fn columns_count_characters_of_the_line() {
    let d = errors("flow t\n1 a -> b REFER\n2 b => c REFER same-transaction 1   # é note\n");
    assert!(d.contains("t.flow:3:5"), "{d}");
    assert!(
        d.ends_with("3 | 2 b => c REFER same-transaction 1   # é note\n  |     ^^ expected `->`"),
        "{d}"
    );
    // A title with accents, emoji and CJK before the mistake.
    let d = errors("flow t\ntitle \"Café ☕ 漢字\" extra\n1 a -> b BYE\n");
    assert!(d.contains("t.flow:2:19"), "{d}");
    // The caret sits under `extra`: `☕` and each CJK character take two
    // cells on a terminal.
    assert!(
        d.contains(&format!("\n  | {}^^^^^ nothing more", " ".repeat(21))),
        "{d}"
    );
}

/// Characters pasted from documents get named, with what to type.
#[test]
fn lookalike_characters_are_named() {
    let d = errors("flow t\n1 a -> b BYE match method == “BYE”\n");
    assert!(d.contains("U+201C"), "{d}");
    assert!(d.contains("type `\"`"), "{d}");
    let d = errors("flow t\n1 a \u{2013}> b BYE\n");
    assert!(d.contains("U+2013"), "{d}");
    // Other non-ASCII characters where a name or keyword belongs.
    let d = errors("flow t\n1 clíent -> b BYE\n");
    assert!(d.contains("found `íent`"), "{d}");
    assert!(
        d.contains("`í` (U+00ED): names, keywords and operators are ASCII"),
        "{d}"
    );
    let d = errors("flow t\n1 😀 -> b BYE\n");
    assert!(d.contains("(U+1F600): names, keywords"), "{d}");
    let d = errors("flow t\n1\u{a0}a -> b BYE\n");
    assert!(d.contains("U+00A0"), "{d}");
    assert!(d.contains("a plain space"), "{d}");
}

/// Combining marks, emoji, right-to-left text and overrides, NUL and a lone
/// CR: each gives a diagnostic whose caret line is laid out by display
/// width, with the invisible characters shown escaped.
#[test]
fn unicode_inside_lines_gives_diagnostics() {
    let cases: &[(&str, &str)] = &[
        ("1 a\u{301} -> b BYE", "t.flow:2:4"),
        ("1 a -> b 😀", "t.flow:2:10"),
        ("1 a -> b BYE match body == \"😀\" 😀", "t.flow:2:32"),
        ("1 שלום -> b BYE", "t.flow:2:3"),
        ("1 a -> b BYE \u{202e}match", "t.flow:2:14"),
        ("1 a -> b BYE\0", "t.flow:2:13"),
        ("1 a -> b BYE\rmatch x present", "t.flow:2:13"),
        ("\u{feff}1 a -> b BYE", "t.flow:2:1"),
    ];
    for (line, at) in cases {
        let d = errors(&format!("flow t\n{line}\n"));
        assert!(d.contains(at), "{line:?}: {d}");
        assert!(
            !d.contains('\0') && !d.contains('\u{202e}') && !d.contains('\r'),
            "{d}"
        );
    }
    // The override is shown escaped and the caret counts its escape.
    let d = errors("flow t\n1 a -> b BYE \u{202e}match\n");
    assert!(d.contains("2 | 1 a -> b BYE \\u{202e}match\n"), "{d}");
    assert!(d.contains(&format!("  | {}^", " ".repeat(13))), "{d}");
}

/// CRLF line ends and a byte-order mark at the start read as LF text does.
#[test]
fn crlf_and_bom_are_read_as_plain_text() {
    for (name, text) in sipflow::rules::BUILTIN {
        let plain = compile_text(name, text).unwrap();
        let crlf = text.replace('\n', "\r\n");
        let with_bom = format!("\u{feff}{crlf}");
        let r = compile_bytes(name, with_bom.as_bytes()).unwrap_or_else(|d| panic!("{d}"));
        assert_eq!(r.rule.id, plain.id);
        assert_eq!(r.rule.steps.len(), plain.steps.len());
        let sum = |r: &sipflow::rules::Rule| -> Vec<String> {
            r.steps.iter().map(|s| s.summary.to_string()).collect()
        };
        assert_eq!(sum(&r.rule), sum(&plain));
        assert!(r.warnings.0.is_empty(), "{}", r.warnings);
    }
    // Diagnostics of a CRLF file carry no CR.
    let d = errors("flow t\r\n1 a -> b 2x (BYE)\r\n");
    assert!(d.contains("t.flow:2:10"), "{d}");
    assert!(!d.contains('\r'), "{d:?}");
}

/// Bytes that are not UTF-8: one error naming the line, the column and the
/// byte offset, from the library and from the command line.
#[test]
fn invalid_utf8_is_named_by_line_and_byte_offset() {
    let bytes = b"flow t\n1 a -> b B\xffYE\n";
    let d = compile_bytes("t.flow", bytes).unwrap_err();
    assert_eq!(d.0.len(), 1, "{d}");
    let s = d.to_string();
    assert!(s.contains("t.flow:2:11"), "{s}");
    assert!(
        s.contains("byte 0xFF at byte offset 17 (line 2, column 11)"),
        "{s}"
    );
    assert!(s.contains("save the rule file as UTF-8"), "{s}");
    // A cut multi-byte character at the end of the file, after `é`.
    let d = compile_bytes("t.flow", b"flow t\n\xc3\xa9\xe2\x86").unwrap_err();
    assert!(
        d.to_string().contains("byte offset 9 (line 2, column 2)"),
        "{d}"
    );

    // UTF-16, as some editors save: named.
    let utf16: Vec<u8> = [0xfeff_u16]
        .into_iter()
        .chain("flow t\n".encode_utf16())
        .flat_map(|u| u.to_le_bytes())
        .collect();
    let d = compile_bytes("t.flow", &utf16).unwrap_err().to_string();
    assert!(
        d.contains("byte 0xFF at byte offset 0 (line 1, column 1)"),
        "{d}"
    );
    assert!(d.contains("this file is UTF-16"), "{d}");

    let dir = tempfile::tempdir().unwrap();
    let f = write(
        &dir,
        "latin1.flow",
        b"flow t\ntitle \"caf\xe9\"\n1 a -> b BYE\n",
    );
    let (code, _, err) = sipflow(&["rules", "lint", &f]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("latin1.flow:2:11"), "{err}");
    assert!(err.contains("byte offset 17"), "{err}");
}

/// A file larger than any rule is refused after reading at most one byte
/// more than the limit.
#[test]
fn oversized_files_are_refused() {
    let mut big = b"flow t\n1 a -> b BYE\n".to_vec();
    while big.len() <= MAX_FILE_BYTES {
        big.extend_from_slice(b"# padding padding padding padding padding\n");
    }
    let d = compile_bytes("t.flow", &big).unwrap_err().to_string();
    assert!(
        d.contains(&format!("this file is over {MAX_FILE_BYTES} bytes")),
        "{d}"
    );
    // /dev/zero never ends; it is read up to the limit and refused.
    if Path::new("/dev/zero").exists() {
        let (code, _, err) = sipflow(&["rules", "lint", "/dev/zero"]);
        assert_eq!(code, 1, "{err}");
        assert!(
            err.contains("bytes, the most a rule file may hold"),
            "{err}"
        );
    }
}

/// The 10,000-step rule that took 21 GB once a message arrived is refused
/// at load, with one error naming the limit, at the first step past it.
#[test]
fn ten_thousand_steps_are_refused() {
    let mut text = String::from("flow huge\n1 a -> b INVITE\n");
    for n in 2..=10_000 {
        text.push_str(&format!("{n} b -> a INVITE same-transaction 1\n"));
    }
    let d = compile_text("huge.flow", &text).unwrap_err();
    assert_eq!(d.0.len(), 1, "{d}");
    let s = d.to_string();
    assert!(
        s.contains("error: a rule has at most 256 steps; this file has 10000"),
        "{s}"
    );
    assert!(s.contains(&format!("huge.flow:{}:1", MAX_STEPS + 2)), "{s}");

    // At the limit the rule loads.
    let mut ok = String::from("flow big\n1 a -> b INVITE\n");
    for n in 2..=MAX_STEPS {
        ok.push_str(&format!("{n} b -> a INVITE same-transaction 1\n"));
    }
    assert_eq!(
        compile_text("big.flow", &ok).unwrap().steps.len(),
        MAX_STEPS
    );
    // Through the command line, the same error and exit 2 for check.
    let dir = tempfile::tempdir().unwrap();
    let f = write(&dir, "huge.flow", text.as_bytes());
    let pcap = sample("flows/poc-preest-release-self/ok-udp.pcap");
    let (code, _, err) = sipflow(&["check", "--rules", &f, &pcap]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("a rule has at most 256 steps"), "{err}");
}

#[test]
fn every_size_limit_is_an_error_naming_it() {
    // Roles: declared, and used without a declaration.
    let roles: Vec<String> = (0..=MAX_ROLES).map(|i| format!("r{i}")).collect();
    let d = errors(&format!(
        "flow t\nroles {}\n1 r0 -> r1 BYE\n",
        roles.join(" ")
    ));
    assert!(
        d.contains(&format!("a rule has at most {MAX_ROLES} roles")),
        "{d}"
    );
    let mut t = String::from("flow t\n1 r0 -> r1 BYE capture $s = request-uri\n");
    for i in 2..=MAX_ROLES {
        t.push_str(&format!(
            "{i} r{} -> r{i} BYE match request-uri == $s\n",
            i - 1
        ));
    }
    let d = errors(&t);
    assert_eq!(d.matches("error:").count(), 1, "{d}");
    assert!(d.contains(&format!("at most {MAX_ROLES} roles")), "{d}");

    // Conditions on one step: one error, at the first one past the limit.
    let mut t = String::from("flow t\n1 a -> b BYE\n");
    for _ in 0..MAX_CONDITIONS_PER_STEP + 5 {
        t.push_str("    match request-uri present\n");
    }
    let d = errors(&t);
    assert_eq!(d.matches("error:").count(), 1, "{d}");
    assert!(
        d.contains(&format!(
            "a step has at most {MAX_CONDITIONS_PER_STEP} `match` and `expect` conditions"
        )),
        "{d}"
    );
    assert!(
        d.contains(&format!("t.flow:{}:11", MAX_CONDITIONS_PER_STEP + 3)),
        "{d}"
    );

    // Captures on one step, and variables in a rule.
    let mut t = String::from("flow t\n1 a -> b BYE\n");
    for i in 0..=MAX_CAPTURES_PER_STEP {
        t.push_str(&format!("    capture $v{i} = request-uri\n"));
    }
    let d = errors(&t);
    assert!(
        d.contains(&format!(
            "a step has at most {MAX_CAPTURES_PER_STEP} captures"
        )),
        "{d}"
    );
    let mut t = String::from("flow t\n1 a -> b BYE\n");
    let mut n = 2;
    for i in 0..=MAX_VARIABLES {
        if i % MAX_CAPTURES_PER_STEP == 0 && i > 0 {
            t.push_str(&format!("{n} b -> a BYE same-transaction 1\n"));
            n += 1;
        }
        t.push_str(&format!("    capture $v{i} = request-uri\n"));
    }
    let d = errors(&t);
    assert!(
        d.contains(&format!("a rule has at most {MAX_VARIABLES} variables")),
        "{d}"
    );

    // Accessors.
    let path = format!("refer-to{}", ".uri".repeat(MAX_ACCESSORS + 1));
    let d = errors(&format!("flow t\n1 a -> b BYE match {path} present\n"));
    assert!(
        d.contains(&format!("a path has at most {MAX_ACCESSORS} accessors")),
        "{d}"
    );
    let ok = format!("refer-to{}", ".uri".repeat(MAX_ACCESSORS));
    compile_text(
        "t.flow",
        &format!("flow t\n1 a -> b BYE match {ok} present\n"),
    )
    .unwrap();

    // Time limits: a day at most; digits past u64 are no panic.
    compile_text(
        "t.flow",
        "flow t\ntimeout 1440m\n1 a -> b BYE within 86400s\n",
    )
    .unwrap();
    for d in [
        "1441m",
        "86401s",
        "99999999999999999999999s",
        "18446744073709551615m",
    ] {
        let e = errors(&format!("flow t\ntimeout {d}\n1 a -> b BYE\n"));
        assert!(
            e.contains("a time limit is at most 1440 minutes"),
            "{d}: {e}"
        );
        assert!(e.contains("t.flow:2:9"), "{e}");
        let e = errors(&format!("flow t\n1 a -> b BYE within {d}\n"));
        assert!(
            e.contains("a time limit is at most 1440 minutes"),
            "{d}: {e}"
        );
    }

    // A regular expression too large once compiled.
    let d = errors("flow t\n1 a -> b BYE match body ~ \"(?:\\\\w{50}){50}\"\n");
    assert!(
        d.contains("this regular expression is too large once compiled"),
        "{d}"
    );
}

/// The lint that took 8.9 s: 100,000 `.uri` accessors on one line. The
/// line is refused by its length before anything is built from it.
#[test]
fn a_hundred_thousand_accessors_are_refused_by_line_length() {
    let text = format!(
        "flow t\n1 a -> b BYE match refer-to{} present\n",
        ".uri".repeat(100_000)
    );
    let d = compile_text("t.flow", &text).unwrap_err();
    let s = d.to_string();
    assert!(
        s.contains(&format!(
            "this line is 400035 characters long; a rule line holds at most {MAX_LINE_CHARS}"
        )),
        "{s}"
    );
    // The diagnostic shows the line's start, not 400 KB of it.
    assert!(s.len() < 1_000, "{}", s.len());
    // Lines of many accessors, each within the limits, under one step: the
    // conditions limit reports once, and at most MAX_DIAGNOSTICS are kept
    // whatever the number of lines.
    let mut t = String::from("flow t\n1 a -> b BYE\n");
    for _ in 0..15_000 {
        t.push_str("    match refer-to.uri.uri.uri.uri.uri.uri.uri.uri present\n");
    }
    assert!(t.len() < MAX_FILE_BYTES);
    let d = compile_text("t.flow", &t).unwrap_err();
    assert_eq!(d.errors(), 1, "{d}");
    let mut t = String::from("flow t\n1 a -> b BYE\n");
    for _ in 0..20_000 {
        t.push_str("    frobnicate refer-to.uri.uri.uri\n");
    }
    let d = compile_text("t.flow", &t).unwrap_err();
    assert_eq!(d.0.len(), MAX_DIAGNOSTICS + 1, "{}", d.0.len());
    let mut t = String::from("flow t\n");
    for _ in 0..20_000 {
        t.push_str("1 a -> b BYE\nbogus line\n");
    }
    let d = compile_text("t.flow", &t).unwrap_err();
    assert_eq!(d.0.len(), MAX_DIAGNOSTICS + 1, "{}", d.0.len());
    let last = d.0.last().unwrap().to_string();
    assert!(
        last.contains("more errors and 0 more warnings are not shown"),
        "{last}"
    );
}

/// Two rules pasted into one file: one error naming both `flow` lines, not
/// a cascade about the second rule's roles, numbers and captures.
#[test]
fn a_second_flow_line_is_one_clear_error() {
    let mut text = String::new();
    for (_, t) in sipflow::rules::BUILTIN.iter().take(2) {
        text.push_str(t);
    }
    let d = compile_text("two.flow", &text).unwrap_err();
    assert_eq!(d.0.len(), 1, "{d}");
    let first = 1 + text.lines().position(|l| l.starts_with("flow")).unwrap();
    let second = 1
        + first
        + text
            .lines()
            .skip(first)
            .position(|l| l.starts_with("flow"))
            .unwrap();
    let s = d.to_string();
    assert!(
        s.contains(&format!(
            "error: a file holds one rule; this is a second `flow` line (the first is at line {first})"
        )),
        "{s}"
    );
    assert!(s.contains(&format!("two.flow:{second}:1")), "{s}");
    assert!(s.contains("put each rule in its own .flow file"), "{s}");
    // Also when the first `flow` line is itself wrong.
    let d = errors("flow\n1 a -> b BYE\nflow u\n");
    assert!(d.contains("the first is at line 1"), "{d}");
}

/// A bad byte far along a very long line: the message names its column and
/// offset; the shown line is cut, not a megabyte of blanks and text.
#[test]
fn invalid_utf8_on_a_long_line_is_shown_short() {
    let mut bytes = b"flow t\n# ".to_vec();
    bytes.extend(std::iter::repeat_n(b'x', 100_000));
    bytes.push(0xff);
    let d = compile_bytes("t.flow", &bytes).unwrap_err().to_string();
    assert!(
        d.contains("byte offset 100009 (line 2, column 100003)"),
        "{d}"
    );
    assert!(d.len() < 1_000, "{}", d.len());
}

/// docs/rules.md states the limits the code enforces.
#[test]
fn reference_states_the_limits() {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/rules.md")).unwrap();
    let thousands = |n: usize| {
        let s = n.to_string();
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        out
    };
    let rows = [
        (
            "bytes in a rule file (no more is read)",
            format!("1 MiB ({})", thousands(MAX_FILE_BYTES)),
        ),
        ("characters on a line", thousands(MAX_LINE_CHARS)),
        ("steps in a rule (numbered and `opt`)", thousands(MAX_STEPS)),
        ("roles in a rule", thousands(MAX_ROLES)),
        (
            "`match` and `expect` conditions on a step",
            thousands(MAX_CONDITIONS_PER_STEP),
        ),
        ("`capture`s on a step", thousands(MAX_CAPTURES_PER_STEP)),
        ("variables in a rule", thousands(MAX_VARIABLES)),
        (
            "accessors after a path's base (`refer-to.uri.param(method)` has 2)",
            thousands(MAX_ACCESSORS),
        ),
        (
            "compiled size of a regular expression",
            format!("{} KiB", sipflow::rules::MAX_REGEX_BYTES / 1024),
        ),
        (
            "a `timeout` or `within`",
            format!(
                "{} minutes (24 hours)",
                sipflow::rules::MAX_DURATION.as_secs() / 60
            ),
        ),
    ];
    for (label, value) in rows {
        let row = format!("| {label} | {value} |");
        assert!(doc.contains(&row), "docs/rules.md lacks `{row}`");
    }
    assert!(doc.contains(&format!(
        "At most {MAX_DIAGNOSTICS} diagnostics are shown for a file"
    )));
}

/// A file of a megabyte of `repeat` / `end` pairs: two errors about the
/// blocks (finding the open block is a look at the last one, not a scan of
/// every block before it).
#[test]
fn many_repeat_blocks_give_two_errors() {
    let mut t = String::from("flow t\n1 a -> b BYE capture $s = request-uri\n");
    while t.len() < MAX_FILE_BYTES - 100 {
        t.push_str("repeat dialog-of $s\nend\n");
    }
    let d = compile_bytes("t.flow", t.as_bytes()).unwrap_err();
    assert_eq!(d.0.len(), 2, "{d}");
    let s = d.to_string();
    assert!(s.contains("this `repeat` block holds no step"), "{s}");
    assert!(s.contains("a rule has at most one `repeat` block"), "{s}");
    assert!(s.contains("t.flow:5:1"), "{s}");
}
