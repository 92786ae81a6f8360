//! Hostile captures never reach the terminal or a JSON consumer raw: ESC
//! sequences, C1 controls, bidirectional overrides and bytes that are not
//! UTF-8 in the Call-ID, From, Request-URI, a reason phrase, the session
//! URI and a participant's Contact come out escaped (`\x1b`, `\u202e`,
//! `\xff` in tables; `\u001b`, `\u202e`, U+FFFD in JSON), in every sink:
//! the `messages` table, the `check` table, JSON lines and the warnings on
//! standard error. Tables are measured in display width.

mod report_util;

use report_util::*;
use unicode_width::UnicodeWidthStr;

/// The release-session sample whose BYE gets a 481, made hostile.
const SAMPLE: &str = "samples/flows/poc-preest-release-session/wrong.pcap";

/// (what the sample says, what the hostile capture says instead). The
/// parser refuses C0 controls in a start line (a problem, escaped: see
/// `problems_quoting_capture_bytes_are_escaped`), so the start lines get
/// C1 controls, bidirectional overrides and bytes that are not UTF-8; the
/// header values get ESC sequences too.
const SUBS: &[(&[u8], &[u8])] = &[
    // The session URI: the Request-URI of the REFERs, the Contact of the
    // focus, the From of its requests (`session` in the check report).
    (
        b"poc-session-42",
        b"poc-\xe2\x80\xaesess\xc2\x9bion\xc2\x9d-42",
    ),
    // A reason phrase (quoted by the step's `detail`).
    (
        b"Call/Transaction Does Not Exist",
        b"Call\xc2\x9b2J Gone\xe2\x80\xae\xe2\x81\xa6\xfe",
    ),
    // A participant's Contact and the BYE's Request-URI.
    (b"pb-bob", b"pb-\xe2\x80\xaebob\xd8\x9c"),
    // The trigger's Call-ID.
    (b"fb8aa823ff9657f8", b"fb8a\x1b]2;t\x07\xff\xc2\x9b"),
    // A From display name (parsed, never echoed).
    (b"\"Bob\"", b"\"\x1b[5mBob\xe2\x80\xae\x7f\""),
];

/// Characters no output may hold raw: C0 (but line feed), DEL, C1 and the
/// bidirectional controls.
fn raw_control(s: &str) -> Option<char> {
    s.chars().find(|&c| {
        (c < ' ' && c != '\n')
            || ('\u{7f}'..='\u{9f}').contains(&c)
            || matches!(c, '\u{61c}' | '\u{200e}' | '\u{200f}')
            || ('\u{202a}'..='\u{202e}').contains(&c)
            || ('\u{2066}'..='\u{2069}').contains(&c)
    })
}

fn assert_clean(what: &str, bytes: &[u8]) -> String {
    let text = String::from_utf8(bytes.to_vec())
        .unwrap_or_else(|e| panic!("{what}: not UTF-8 ({e}): {:?}", bytes.escape_ascii()));
    if let Some(c) = raw_control(&text) {
        panic!("{what}: raw {c:?} in:\n{}", text.escape_debug());
    }
    text
}

fn hostile(dir: &tempfile::TempDir) -> std::path::PathBuf {
    let bytes = rewrite_sample(&root().join(SAMPLE), SUBS);
    write(dir, "hostile.pcap", &bytes)
}

#[test]
fn messages_table_escapes_call_id_uri_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let p = hostile(&dir);
    let out = sipflow(&["messages".as_ref(), p.as_os_str()]);
    assert_eq!(out.code, 0, "{}", out.stderr());
    let text = assert_clean("stdout", &out.stdout);
    assert_clean("stderr", &out.stderr);
    // The Request-URI of the REFERs, escaped.
    assert!(
        text.contains("REFER sip:poc-\\u202esess\\u009bion\\u009d-42@…"),
        "{text}\n{}",
        out.stderr()
    );
    // The reason phrase, escaped, bytes that are not UTF-8 as \xNN.
    assert!(
        text.contains("481 Call\\u009b2J Gone\\u202e\\u2066\\xfe (BYE)"),
        "{text}"
    );
    // The Call-ID, with its invalid byte.
    assert!(
        text.contains("fb8a\\x1b]2;t\\x07\\xff\\u009b@…  1 REFER"),
        "{text}"
    );
    // Every row's CSeq starts in the same display column.
    let columns: Vec<usize> = text
        .lines()
        .filter(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit()))
        .filter_map(|l| l.rfind("  ").map(|i| UnicodeWidthStr::width(&l[..i])))
        .collect();
    assert_eq!(columns.len(), 26, "{text}");
    assert!(
        columns.iter().all(|&c| c == columns[0]),
        "{columns:?}\n{text}"
    );
}

#[test]
fn messages_json_escapes_the_same_set() {
    let dir = tempfile::tempdir().unwrap();
    let p = hostile(&dir);
    let out = sipflow(&[
        "messages".as_ref(),
        "--format".as_ref(),
        "json".as_ref(),
        p.as_os_str(),
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr());
    let text = assert_clean("stdout", &out.stdout);
    // Escaped in the line itself, not only valid JSON.
    assert!(
        text.contains("\"call_id\":\"fb8a\\u001b]2;t\\u0007\u{fffd}\\u009b@127.0.1.1\""),
        "{text}"
    );
    let lines = out.json();
    let call_ids: Vec<&str> = lines
        .iter()
        .filter(|v| v["type"] == "message")
        .filter_map(|v| v["call_id"].as_str())
        .collect();
    assert_eq!(call_ids.len(), 26);
    // Decoded, the consumer gets the text back (invalid UTF-8 as U+FFFD).
    assert!(
        call_ids.contains(&"fb8a\u{1b}]2;t\u{7}\u{fffd}\u{9b}@127.0.1.1"),
        "{call_ids:?}"
    );
}

#[test]
fn check_table_escapes_session_reason_and_participant() {
    let dir = tempfile::tempdir().unwrap();
    let p = hostile(&dir);
    let out = sipflow(&["check".as_ref(), p.as_os_str()]);
    let text = assert_clean("stdout", &out.stdout);
    assert_clean("stderr", &out.stderr);
    // The flow is still found (the rewrite kept it whole) and fails.
    assert_eq!(out.code, 1, "{text}\n{}", out.stderr());
    let flat: String = text.replace(['│', '┆', ' ', '\n'], "");
    // Session, reason (detail) and participant, escaped. comfy-table may
    // wrap a long cell: compare without the frame and spaces.
    assert!(
        flat.contains("sip:poc-\\u202esess\\u009bion\\u009d-42@poc-a.example.com"),
        "{text}"
    );
    assert!(
        flat.contains("481Call\\u009b2JGone\\u202e\\u2066\u{fffd}where200OKexpected"),
        "{text}"
    );
    assert!(
        flat.contains("participantsip:pb-\\u202ebob\\u061c@127.0.1.3:5060"),
        "{text}"
    );
    // Every line of the table has the same display width.
    let widths: Vec<usize> = text
        .lines()
        .filter(|l| l.starts_with(['│', '┌', '└', '╞']))
        .map(UnicodeWidthStr::width)
        .collect();
    assert!(widths.len() > 10, "{text}");
    assert!(widths.iter().all(|&w| w == widths[0]), "{widths:?}\n{text}");
}

#[test]
fn check_json_escapes_trigger_session_detail_and_participant() {
    let dir = tempfile::tempdir().unwrap();
    let p = hostile(&dir);
    let out = sipflow(&[
        "check".as_ref(),
        "--format".as_ref(),
        "json".as_ref(),
        p.as_os_str(),
    ]);
    assert_eq!(out.code, 1, "{}", out.stderr());
    let text = assert_clean("stdout", &out.stdout);
    assert!(text.contains("\\u001b") && text.contains("\\u202e") && text.contains("\\u009b"));
    assert!(
        text.contains("\\u061c") && text.contains("\\u2066"),
        "{text}"
    );
    let lines = out.json();
    let inst = lines
        .iter()
        .find(|v| v["type"] == "instance")
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(
        inst["trigger"]["call_id"],
        "fb8a\u{1b}]2;t\u{7}\u{fffd}\u{9b}@127.0.1.1"
    );
    assert_eq!(
        inst["session"],
        "sip:poc-\u{202e}sess\u{9b}ion\u{9d}-42@poc-a.example.com"
    );
    let steps = inst["steps"].as_array().unwrap();
    assert!(
        steps.iter().any(|s| s["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("481 Call\u{9b}2J Gone\u{202e}\u{2066}\u{fffd} where"))),
        "{steps:?}"
    );
    assert!(
        steps
            .iter()
            .any(|s| s["participant"] == "sip:pb-\u{202e}bob\u{61c}@127.0.1.3:5060"),
        "{steps:?}"
    );
}

/// ESC sequences in a header the check report echoes: the session of flow
/// 3 is the `entity` of the NOTIFY's conference-info body.
#[test]
fn check_escapes_an_esc_sequence_in_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = rewrite_sample(
        &root().join("samples/flows/poc-preest-participant-notify/wrong.pcap"),
        &[(
            b"entity=\"sip:poc-session-42",
            b"entity=\"sip:poc-\x1b]0;title\x07\x1b[2J\x1b[31msession\xc2\x9b-42",
        )],
    );
    let p = write(&dir, "notify.pcap", &bytes);
    let out = sipflow(&["check".as_ref(), p.as_os_str()]);
    let text = assert_clean("stdout", &out.stdout);
    assert_eq!(out.code, 1, "{text}\n{}", out.stderr());
    let flat: String = text.replace(['│', '┆', ' ', '\n'], "");
    assert!(
        flat.contains(
            "sip:poc-\\x1b]0;title\\x07\\x1b[2J\\x1b[31msession\\u009b-42@poc-a.example.com"
        ),
        "{text}"
    );
    let out = sipflow(&[
        "check".as_ref(),
        "--format".as_ref(),
        "json".as_ref(),
        p.as_os_str(),
    ]);
    let text = assert_clean("stdout", &out.stdout);
    assert!(
        text.contains(
            "\"session\":\"sip:poc-\\u001b]0;title\\u0007\\u001b[2J\\u001b[31msession\\u009b-42@"
        ),
        "{text}"
    );
}

/// A datagram that starts like SIP but breaks the start-line grammar: its
/// problem quotes the line, which reaches standard error (table) and the
/// `error` line (JSON) escaped.
#[test]
fn problems_quoting_capture_bytes_are_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let bad =
        b"INVITE sip:\x1b]0;x\x07\xe2\x80\xae\xc2\x9b@b SIP/2.0 trailing\r\nCall-ID: x\r\n\r\n";
    let packets = [
        Packet::whole(udp([10, 0, 0, 1], [10, 0, 0, 2], 5060, 5060, bad)),
        Packet::whole(udp(
            [10, 0, 0, 1],
            [10, 0, 0, 2],
            5060,
            5060,
            &options(b"ok-1"),
        )),
    ];
    let p = write(&dir, "bad.pcap", &pcap(&packets, 65535));
    let out = sipflow(&["messages".as_ref(), p.as_os_str()]);
    let err = assert_clean("stderr", &out.stderr);
    assert!(
        err.contains("frame 1") && err.contains("\\x1b]0;x\\x07"),
        "{err}"
    );
    assert_clean("stdout", &out.stdout);
    let out = sipflow(&[
        "check".as_ref(),
        "--format".as_ref(),
        "json".as_ref(),
        p.as_os_str(),
    ]);
    let text = assert_clean("stdout", &out.stdout);
    let e = out
        .json()
        .into_iter()
        .find(|v| v["type"] == "error")
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(e["frame"], 1);
}

/// Call-IDs of wide (CJK) and zero-width (combining) characters: the
/// `messages` table pads by display width, so the next column stays put.
#[test]
fn messages_table_pads_by_display_width() {
    let dir = tempfile::tempdir().unwrap();
    let ids: [&[u8]; 4] = [
        "通話通話通話-1".as_bytes(),
        "e\u{301}e\u{301}-2".as_bytes(),
        b"plain-3",
        "通話通話通話通話通話通話通話通話-4-long-enough-to-be-cut".as_bytes(),
    ];
    let packets: Vec<Packet> = ids
        .iter()
        .map(|id| Packet::whole(udp([10, 0, 0, 1], [10, 0, 0, 2], 5060, 5060, &options(id))))
        .collect();
    let p = write(&dir, "wide.pcap", &pcap(&packets, 65535));
    let out = sipflow(&["messages".as_ref(), p.as_os_str()]);
    let text = assert_clean("stdout", &out.stdout);
    let columns: Vec<usize> = text
        .lines()
        .filter_map(|l| l.find("1 OPTIONS").map(|i| UnicodeWidthStr::width(&l[..i])))
        .collect();
    assert_eq!(columns.len(), 4, "{text}");
    assert!(
        columns.iter().all(|&c| c == columns[0]),
        "{columns:?}\n{text}"
    );
    assert!(text.contains("通話通話通話-1"), "{text}");
    assert!(text.contains('…'), "{text}");
}

/// `rules show` and `rules list` print rule files escaped too.
#[test]
fn rule_text_is_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let rule =
        "flow evil\ntitle \"Evil \u{1b}]0;t\u{7} \u{202e}rule\"\nroles a b\n1 a -> b INVITE\n";
    let p = write(&dir, "evil.flow", rule.as_bytes());
    for args in [
        vec!["rules", "show", "evil", "--rules", p.to_str().unwrap()],
        vec!["rules", "list", "--rules", p.to_str().unwrap()],
    ] {
        let out = sipflow(&args);
        let all = assert_clean("stdout", &out.stdout) + &assert_clean("stderr", &out.stderr);
        assert!(
            all.contains("\\x1b]0;t\\x07 \\u202erule"),
            "{args:?}: {all}"
        );
    } // `rules lint` names no title; its diagnostics quote the line, escaped.
    let bad = write(
        &dir,
        "bad.flow",
        b"flow bad\n1 a -> b INVITE \x1b]0;t\x07\n",
    );
    let out = sipflow(&["rules", "lint", bad.to_str().unwrap()]);
    let all = assert_clean("stdout", &out.stdout) + &assert_clean("stderr", &out.stderr);
    assert!(
        all.contains("\\x1b]0;t\\x07") || all.contains("\\u{1b}"),
        "{all}"
    );
}
