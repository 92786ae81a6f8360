//! Stream framing: the same messages whatever the chunking, keep-alives,
//! resynchronisation, bad lengths, garbage, bounded buffering.

use sipflow::problem::ProblemKind;
use sipflow::sip::{Framed, Parser, StreamFramer};

const INVITE: &[u8] = b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/TCP client.atlanta.example.com:5060;branch=z9hG4bK74bf9\r\n\
Max-Forwards: 70\r\n\
From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n\
To: Bob <sip:bob@biloxi.example.com>\r\n\
Call-ID: 3848276298220188511@atlanta.example.com\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:alice@client.atlanta.example.com;transport=tcp>\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 151\r\n\
\r\n\
v=0\r\n\
o=alice 2890844526 2890844526 IN IP4 client.atlanta.example.com\r\n\
s=-\r\n\
c=IN IP4 192.0.2.101\r\n\
t=0 0\r\n\
m=audio 49172 RTP/AVP 0\r\n\
a=rtpmap:0 PCMU/8000\r\n";

/// Compact `l:` and LF-only line ends.
const RINGING: &[u8] = b"SIP/2.0 180 Ringing\n\
v: SIP/2.0/TCP client.atlanta.example.com:5060;branch=z9hG4bK74bf9;received=192.0.2.101\n\
f: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\n\
t: Bob <sip:bob@biloxi.example.com>;tag=8321234356\n\
i: 3848276298220188511@atlanta.example.com\n\
CSeq: 1 INVITE\n\
l: 0\n\
\n";

/// A NOTIFY whose sipfrag body holds a status line.
const NOTIFY: &[u8] = b"NOTIFY sip:alice@client.atlanta.example.com SIP/2.0\r\n\
Via: SIP/2.0/TCP biloxi.example.com;branch=z9hG4bKnashds9\r\n\
From: <sip:bob@biloxi.example.com>;tag=8321234356\r\n\
To: <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n\
Call-ID: 3848276298220188511@atlanta.example.com\r\n\
CSeq: 2 NOTIFY\r\n\
Event: refer\r\n\
Subscription-State: terminated;reason=noresource\r\n\
Content-Type: message/sipfrag\r\n\
Content-Length: 16\r\n\
\r\n\
SIP/2.0 200 OK\r\n";

const ACK: &[u8] = b"ACK sip:bob@client.biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/TCP client.atlanta.example.com:5060;branch=z9hG4bK74bd5\r\n\
From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n\
To: Bob <sip:bob@biloxi.example.com>;tag=8321234356\r\n\
Call-ID: 3848276298220188511@atlanta.example.com\r\n\
CSeq: 1 ACK\r\n\
Content-Length: 0\r\n\
\r\n";

#[derive(Debug, Default)]
struct Out {
    messages: Vec<Vec<u8>>,
    problems: Vec<(ProblemKind, String)>,
}

fn feed(f: &mut StreamFramer, out: &mut Out, data: &[u8], gap: bool) {
    let mut parser = Parser::new();
    f.push(data, gap, &mut parser, &mut |ev| match ev {
        Framed::Message(m) => out.messages.push(m.as_bytes().to_vec()),
        Framed::Problem(k, t) => out.problems.push((k, t)),
    });
}

fn stream() -> (Vec<u8>, Vec<&'static [u8]>) {
    let mut s = Vec::new();
    s.extend_from_slice(INVITE);
    s.extend_from_slice(b"\r\n\r\n"); // keep-alive ping
    s.extend_from_slice(RINGING);
    s.extend_from_slice(b"\r\n"); // pong
    s.extend_from_slice(NOTIFY);
    s.extend_from_slice(ACK);
    (s, vec![INVITE, RINGING, NOTIFY, ACK])
}

#[test]
fn every_two_way_split_gives_the_same_messages() {
    let (s, want) = stream();
    for i in 0..=s.len() {
        let mut f = StreamFramer::default();
        let mut out = Out::default();
        feed(&mut f, &mut out, &s[..i], false);
        feed(&mut f, &mut out, &s[i..], false);
        assert_eq!(out.messages, want, "split at {i}");
        assert!(out.problems.is_empty(), "split at {i}: {:?}", out.problems);
        assert_eq!(f.buffered(), 0);
        assert!(f.finish().is_none());
    }
}

#[test]
fn three_way_splits_and_byte_by_byte() {
    let (s, want) = stream();
    for i in (0..s.len()).step_by(7) {
        for j in (i..=s.len()).step_by(13) {
            let mut f = StreamFramer::default();
            let mut out = Out::default();
            for part in [&s[..i], &s[i..j], &s[j..]] {
                feed(&mut f, &mut out, part, false);
            }
            assert_eq!(out.messages, want, "split at {i}, {j}");
            assert!(out.problems.is_empty());
        }
    }
    let mut f = StreamFramer::default();
    let mut out = Out::default();
    for b in s.chunks(1) {
        feed(&mut f, &mut out, b, false);
    }
    assert_eq!(out.messages, want);
}

#[test]
fn messages_completed_in_one_chunk_are_not_copied() {
    // All four in one chunk: handed out with nothing left buffered.
    let (s, want) = stream();
    let mut f = StreamFramer::default();
    let mut out = Out::default();
    feed(&mut f, &mut out, &s, false);
    assert_eq!(out.messages, want);
    assert_eq!(f.buffered(), 0);
}

#[test]
fn keep_alives_alone_are_nothing() {
    let mut f = StreamFramer::default();
    let mut out = Out::default();
    for _ in 0..100 {
        feed(&mut f, &mut out, b"\r\n\r\n", false);
        feed(&mut f, &mut out, b"\r\n", false);
    }
    assert!(out.messages.is_empty() && out.problems.is_empty());
    assert!(f.finish().is_none());
}

#[test]
fn a_stream_joined_mid_message_starts_at_the_next_message() {
    // Start inside the INVITE's body, then the 180 and the ACK.
    let mut s = INVITE[INVITE.len() - 60..].to_vec();
    s.extend_from_slice(RINGING);
    s.extend_from_slice(ACK);
    for i in 0..=s.len() {
        let mut f = StreamFramer::default();
        let mut out = Out::default();
        feed(&mut f, &mut out, &s[..i], false);
        feed(&mut f, &mut out, &s[i..], false);
        assert_eq!(out.messages, vec![RINGING, ACK], "split at {i}");
        assert!(out.problems.is_empty());
    }
}

#[test]
fn after_a_gap_resync_skips_a_sipfrag_status_line() {
    let mut f = StreamFramer::default();
    let mut out = Out::default();
    // Half an INVITE, then a gap.
    feed(&mut f, &mut out, &INVITE[..300], false);
    // Bytes resume inside the NOTIFY's header section: the next line that
    // looks like a start line is the sipfrag body "SIP/2.0 200 OK", which
    // carries no Call-ID/CSeq and must not be taken for a message.
    let mut rest = NOTIFY[NOTIFY.len() - 120..].to_vec();
    rest.extend_from_slice(ACK);
    feed(&mut f, &mut out, &rest, true);
    assert_eq!(out.messages, vec![ACK]);
    assert!(out.problems.is_empty(), "{:?}", out.problems);
}

#[test]
fn a_gap_at_a_message_boundary_loses_nothing_after_it() {
    let mut f = StreamFramer::default();
    let mut out = Out::default();
    feed(&mut f, &mut out, INVITE, false);
    feed(&mut f, &mut out, &NOTIFY[..100], false);
    // The rest of the NOTIFY was lost; the next segment is a whole ACK.
    feed(&mut f, &mut out, ACK, true);
    assert_eq!(out.messages, vec![INVITE, ACK]);
}

#[test]
fn missing_content_length_is_taken_as_zero_and_reported() {
    let no_len = b"OPTIONS sip:b@x SIP/2.0\r\nCall-ID: a\r\nCSeq: 1 OPTIONS\r\n\r\n";
    let mut s = no_len.to_vec();
    s.extend_from_slice(ACK);
    let mut f = StreamFramer::default();
    let mut out = Out::default();
    feed(&mut f, &mut out, &s, false);
    assert_eq!(out.messages, vec![&no_len[..], ACK]);
    assert_eq!(out.problems.len(), 1);
    assert_eq!(out.problems[0].0, ProblemKind::MalformedSip);
    assert!(out.problems[0].1.contains("no Content-Length"));
}

#[test]
fn unreadable_content_length_then_resync_at_next_message() {
    // zeek's invalid-content-length trace has "Content-Length: bad".
    let bad = b"INVITE sip:b@x SIP/2.0\r\nCall-ID: a\r\nCSeq: 1 INVITE\r\nContent-Length: bad\r\n\r\nv=0\r\ns=-\r\n";
    let mut s = bad.to_vec();
    s.extend_from_slice(ACK);
    let mut f = StreamFramer::default();
    let mut out = Out::default();
    feed(&mut f, &mut out, &s, false);
    let head_len = bad.len() - b"v=0\r\ns=-\r\n".len();
    assert_eq!(out.messages, vec![&bad[..head_len], ACK]);
    // One report: the body bytes skipped after it are part of the same
    // problem, not a second one.
    assert_eq!(out.problems.len(), 1, "{:?}", out.problems);
    assert!(out.problems[0].1.contains("not a number"));
}

#[test]
fn absurd_content_length_is_reported_and_skipped() {
    for len in ["99999999999999999999", "4294967295", "2000000"] {
        let head = format!(
            "MESSAGE sip:b@x SIP/2.0\r\nCall-ID: a\r\nCSeq: 1 MESSAGE\r\nContent-Length: {len}\r\n\r\nsome body\r\n"
        );
        let mut s = head.into_bytes();
        s.extend_from_slice(ACK);
        let mut f = StreamFramer::default();
        let mut out = Out::default();
        feed(&mut f, &mut out, &s, false);
        assert_eq!(out.messages, vec![ACK], "Content-Length {len}");
        assert_eq!(out.problems.len(), 1, "{len}: {:?}", out.problems);
        assert!(f.buffered() <= 1 << 20);
    }
}

#[test]
fn content_length_beyond_the_data_waits_then_reports_at_end() {
    let head = b"MESSAGE sip:b@x SIP/2.0\r\nCall-ID: a\r\nCSeq: 1 MESSAGE\r\nContent-Length: 500\r\n\r\nonly this";
    let mut f = StreamFramer::default();
    let mut out = Out::default();
    feed(&mut f, &mut out, head, false);
    assert!(out.messages.is_empty() && out.problems.is_empty());
    assert_eq!(f.buffered(), head.len());
    let (kind, text) = f.finish().expect("a partial message is reported");
    assert_eq!(kind, ProblemKind::Truncated);
    assert!(text.contains(&head.len().to_string()), "{text}");
}

#[test]
fn header_section_without_end_is_bounded() {
    let mut f = StreamFramer::new(4096);
    let mut out = Out::default();
    feed(&mut f, &mut out, b"INVITE sip:b@x SIP/2.0\r\n", false);
    for i in 0..1000 {
        feed(&mut f, &mut out, format!("X-H{i}: v\r\n").as_bytes(), false);
        assert!(f.buffered() <= 2 * 4096);
    }
    assert_eq!(out.problems.len(), 1);
    assert_eq!(out.problems[0].0, ProblemKind::Overload);
    feed(&mut f, &mut out, b"\r\n", false);
    feed(&mut f, &mut out, ACK, false);
    assert_eq!(out.messages, vec![ACK]);
}

/// xorshift64*: deterministic noise without a dependency.
fn noise(n: usize, mut seed: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(n);
    while v.len() < n {
        seed ^= seed >> 12;
        seed ^= seed << 25;
        seed ^= seed >> 27;
        v.extend_from_slice(&seed.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    v.truncate(n);
    v
}

#[test]
fn ten_megabytes_of_noise_stay_bounded() {
    let junk = noise(10 << 20, 0x9E37_79B9_7F4A_7C15);
    // One huge chunk.
    let mut f = StreamFramer::default();
    let mut out = Out::default();
    feed(&mut f, &mut out, &junk, false);
    assert!(f.buffered() <= 1 << 20, "{}", f.buffered());
    feed(&mut f, &mut out, b"\r\n", false);
    feed(&mut f, &mut out, ACK, false);
    assert_eq!(out.messages.last().map(|m| m.as_slice()), Some(ACK));
    // Uneven chunks, with messages in between.
    let mut f = StreamFramer::default();
    let mut out = Out::default();
    let mut at = 0;
    let mut size = 1;
    while at < junk.len() {
        let end = (at + size).min(junk.len());
        feed(&mut f, &mut out, &junk[at..end], false);
        assert!(f.buffered() <= 2 << 20);
        at = end;
        size = size * 3 % 70_001 + 1;
    }
    feed(&mut f, &mut out, b"\r\n", false);
    feed(&mut f, &mut out, INVITE, false);
    assert_eq!(out.messages.last().map(|m| m.as_slice()), Some(INVITE));
}

#[test]
fn junk_after_a_message_is_reported_once() {
    let mut s = INVITE.to_vec();
    s.extend_from_slice(b"this is not SIP\r\nnor this\r\n");
    s.extend_from_slice(ACK);
    let mut f = StreamFramer::default();
    let mut out = Out::default();
    feed(&mut f, &mut out, &s, false);
    assert_eq!(out.messages, vec![INVITE, ACK]);
    assert_eq!(out.problems.len(), 1, "{:?}", out.problems);
    assert_eq!(out.problems[0].0, ProblemKind::MalformedSip);
}

#[test]
fn a_non_sip_stream_is_silent() {
    let mut f = StreamFramer::default();
    let mut out = Out::default();
    feed(
        &mut f,
        &mut out,
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        false,
    );
    feed(
        &mut f,
        &mut out,
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        false,
    );
    assert!(out.messages.is_empty() && out.problems.is_empty());
    assert!(f.finish().is_none());
}
