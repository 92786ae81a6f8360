//! The SIP message parser and the TCP stream framer (src/sip/).
//!
//! Input: one control byte, then the bytes of a datagram or of one TCP
//! direction. Control bit 7: frame with a small message cap (300 bytes)
//! instead of the default; bits 0-6 seed the chunk sizes.
//!
//! Invariants beyond "no panic":
//! - a parsed message, its start line, body and trailing bytes lie within
//!   the input; `Parser::parse` and `parse` agree;
//! - the framer never hands out more bytes than it was given, in order and
//!   without overlap, each message no longer than its cap, and keeps
//!   bounded bytes buffered;
//! - framing does not depend on how the stream was cut into segments: the
//!   bytes pushed whole and pushed in chunks give the same messages.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sipflow::sip::{self, DEFAULT_MAX_MESSAGE, Framed, Message, Parser, StreamFramer};

/// `part` is a sub-slice of `whole` (an empty part counts as inside: the
/// accessors return a detached `&[]` for an empty body of a message whose
/// head is cut short).
fn within(part: &[u8], whole: &[u8]) -> bool {
    if part.is_empty() {
        return true;
    }
    let (p, w) = (part.as_ptr() as usize, whole.as_ptr() as usize);
    p >= w && p + part.len() <= w + whole.len()
}

fn exercise(msg: &Message<'_>) {
    let _ = (msg.is_request(), msg.method(), msg.status(), msg.reason());
    let _ = (
        msg.request_uri().map(|u| (u.user(), u.host(), u.port())),
        msg.content_length(),
    );
    let _ = (
        msg.call_id(),
        msg.call_id_key(),
        msg.cseq().map(|c| (c.number, c.method)),
    );
    for v in msg.vias() {
        let _ = (v.transport(), v.host(), v.port(), v.branch());
    }
    for a in [msg.from(), msg.to(), msg.contact(), msg.refer_to()]
        .into_iter()
        .flatten()
    {
        let _ = (
            a.display_name(),
            a.tag(),
            a.uri().map(|u| u.without_param("transport")),
        );
    }
    let _ = (
        msg.event().map(|e| e.id()),
        msg.subscription_state().map(|s| s.expires()),
    );
    let _ = msg.content_type().map(|c| c.is("application/sdp"));
    for h in msg.header_fields() {
        let _ = (h.name(), h.kind(), h.value().text());
        for v in h.values() {
            let _ = v.name_addr();
        }
    }
    let _ = msg.anomalies().descriptions().count();
    let _ = msg.summary().to_string();
}

/// Frames `data` cut into chunks by `sizes`; returns each message's bytes,
/// checking the framer's bounds on the way.
fn frame(
    data: &[u8],
    max: usize,
    mut sizes: impl FnMut() -> usize,
    mut gaps: impl FnMut() -> bool,
) -> Vec<Vec<u8>> {
    let mut framer = StreamFramer::new(max);
    let mut parser = Parser::new();
    let mut out = Vec::new();
    let mut given = 0usize;
    let mut handed = 0usize;
    let mut rest = data;
    while !rest.is_empty() {
        let n = sizes().clamp(1, rest.len());
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        given += n;
        framer.push(chunk, gaps(), &mut parser, &mut |f| match f {
            Framed::Message(m) => {
                let b = m.as_bytes();
                assert!(!b.is_empty());
                assert!(b.len() <= max, "framed {} bytes, cap {max}", b.len());
                assert!(within(m.body(), b));
                handed += b.len();
                exercise(&m);
                out.push(b.to_vec());
            }
            Framed::Problem(_, text) => assert!(!text.is_empty()),
        });
        assert!(handed <= given, "handed out {handed} of {given} bytes");
        assert!(framer.buffered() <= given);
        assert!(
            framer.buffered() <= max.max(16 * 1024) + 4,
            "framer holds {} bytes (cap {max})",
            framer.buffered()
        );
    }
    let _ = framer.finish();
    assert_eq!(framer.buffered(), 0);
    out
}

fuzz_target!(|input: &[u8]| {
    let Some((&ctl, data)) = input.split_first() else {
        return;
    };

    // Datagram parsing.
    let _ = sip::looks_like_sip(data);
    let one = sip::parse(data);
    let mut parser = Parser::new();
    let two = parser.parse(data);
    match (&one, &two) {
        (Ok(a), Ok(b)) => {
            for m in [a, b] {
                assert!(within(m.as_bytes(), data));
                assert!(within(m.start_line(), m.as_bytes()));
                assert!(within(m.body(), m.as_bytes()));
                assert!(within(m.trailing(), data));
                exercise(m);
            }
            assert_eq!(a.as_bytes().as_ptr(), b.as_bytes().as_ptr());
            assert_eq!(a.as_bytes().len(), b.as_bytes().len());
            assert_eq!(a.body().len(), b.body().len());
            assert_eq!(a.anomalies(), b.anomalies());
        }
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
        _ => panic!("parse and Parser::parse disagree"),
    }

    // Stream framing: whole, in chunks, in chunks with gaps.
    let max = if ctl & 0x80 != 0 {
        300
    } else {
        DEFAULT_MAX_MESSAGE
    };
    let whole = frame(data, max, || usize::MAX, || false);
    let mut state = (ctl & 0x7f) as u32 | 1;
    let mut next = move || {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        state >> 16
    };
    let chunked = frame(data, max, || (next() % 97) as usize + 1, || false);
    assert_eq!(
        whole, chunked,
        "framing depends on how the stream is cut into segments"
    );
    let mut k = 0u32;
    frame(
        data,
        max,
        || (ctl as usize % 61) + 1,
        || {
            k += 1;
            k % 7 == 3
        },
    );
});
