//! The extractor: network events in, SIP messages and problems out.

use sipflow::capture::Timestamp;
use sipflow::net::{FlowKey, NetEvent, Transport};
use sipflow::problem::{Problem, ProblemKind};
use sipflow::sip::{Extractor, ExtractorConfig, SipEvent};

/// What a sink saw, owned.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Message {
        frame: u64,
        transport: Transport,
        flow: FlowKey,
        summary: String,
        call_id: Option<String>,
    },
    Problem(Problem),
}

fn sink(out: &mut Vec<Seen>) -> impl FnMut(SipEvent<'_>) + '_ {
    |ev| match ev {
        SipEvent::Message {
            frame,
            flow,
            transport,
            msg,
            ..
        } => out.push(Seen::Message {
            frame,
            transport,
            flow,
            summary: msg.summary().to_string(),
            call_id: msg.call_id().map(str::to_string),
        }),
        SipEvent::Problem(p) => out.push(Seen::Problem(p)),
    }
}

fn flow(port: u16) -> FlowKey {
    FlowKey {
        src: ([192, 0, 2, 1], port).into(),
        dst: ([192, 0, 2, 2], 5060).into(),
    }
}

fn at(secs: i64) -> Timestamp {
    Timestamp { secs, nanos: 0 }
}

fn udp(frame: u64, secs: i64, data: &[u8]) -> NetEvent<'_> {
    NetEvent::Datagram {
        frame,
        time: at(secs),
        flow: flow(5060),
        transport: sipflow::net::Transport::Udp,
        data,
    }
}

fn tcp(frame: u64, secs: i64, port: u16, data: &[u8]) -> NetEvent<'_> {
    NetEvent::Stream {
        frame,
        time: at(secs),
        flow: flow(port),
        data,
        gap: false,
    }
}

const REFER: &[u8] = b"REFER sip:pre-7f3a@poc-b.example.net SIP/2.0\r\n\
Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-r1\r\n\
From: <sip:client-b@poc-b.example.net>;tag=cb1\r\n\
To: <sip:pre-7f3a@poc-b.example.net>;tag=pb1\r\n\
Call-ID: a84b4c76e66710\r\n\
CSeq: 7 REFER\r\n\
Refer-To: <sip:session-42@poc-a.example.com;method=BYE>\r\n\
Content-Length: 0\r\n\
\r\n";

const OK_BYE: &[u8] = b"SIP/2.0 200 OK\r\n\
Via: SIP/2.0/TCP 198.51.100.9:5060;branch=z9hG4bK-b1\r\n\
From: <sip:pre-7f3a@poc-b.example.net>;tag=pb2\r\n\
To: <sip:session-42@poc-a.example.com>;tag=ca2\r\n\
Call-ID: bye-leg-1\r\n\
CSeq: 1 BYE\r\n\
Content-Length: 0\r\n\
\r\n";

#[test]
fn a_datagram_becomes_a_message_with_its_frame() {
    let mut x = Extractor::default();
    let mut out = Vec::new();
    x.push(udp(17, 1, REFER), &mut sink(&mut out));
    assert_eq!(
        out,
        vec![Seen::Message {
            frame: 17,
            transport: Transport::Udp,
            flow: flow(5060),
            summary: "REFER sip:pre-7f3a@poc-b.example.net".into(),
            call_id: Some("a84b4c76e66710".into()),
        }]
    );
}

#[test]
fn payloads_that_are_not_sip_are_ignored() {
    let mut x = Extractor::default();
    let mut out = Vec::new();
    let rtp = [
        0x80u8, 0x00, 0x12, 0x34, 0, 0, 0, 160, 1, 2, 3, 4, 0xff, 0xfe,
    ];
    for (i, p) in [
        &b"GET / HTTP/1.1\r\nHost: 10.0.0.1:5060\r\n\r\n"[..],
        b"hello\0",
        &[0u8; 4][..],
        &rtp[..],
        b"",
        b"\r\n\r\n",
    ]
    .into_iter()
    .enumerate()
    {
        x.push(udp(i as u64 + 1, 1, p), &mut sink(&mut out));
    }
    assert!(out.is_empty(), "{out:?}");
}

#[test]
fn a_malformed_start_line_is_a_problem_at_its_frame() {
    let mut x = Extractor::default();
    let mut out = Vec::new();
    x.push(
        udp(
            5,
            1,
            b"INVITE  sip:user@example.com  SIP/2.0\r\nCall-ID: x\r\n\r\n",
        ),
        &mut sink(&mut out),
    );
    x.push(
        udp(
            6,
            1,
            b"OPTIONS sip:t.watson@example.org SIP/7.0\r\nl: 0\r\n\r\n",
        ),
        &mut sink(&mut out),
    );
    let [Seen::Problem(a), Seen::Problem(b)] = out.as_slice() else {
        panic!("{out:?}");
    };
    assert_eq!((a.kind, a.frame), (ProblemKind::MalformedSip, Some(5)));
    assert_eq!((b.kind, b.frame), (ProblemKind::MalformedSip, Some(6)));
    assert!(b.message.contains("version"), "{}", b.message);
    assert!(
        a.message
            .contains("'INVITE  sip:user@example.com  SIP/2.0'"),
        "{}",
        a.message
    );
}

#[test]
fn content_length_beyond_the_datagram_keeps_the_message_and_reports() {
    // RFC 4475 3.1.2.2 (clerr): Wireshark shows the message; so do we,
    // with a problem saying what is wrong.
    let msg = b"INVITE sip:user@example.com SIP/2.0\r\nCall-ID: clerr.1\r\nCSeq: 8 INVITE\r\nContent-Length: 9999\r\n\r\nv=0\r\n";
    let mut x = Extractor::default();
    let mut out = Vec::new();
    x.push(udp(3, 1, msg), &mut sink(&mut out));
    assert_eq!(out.len(), 2, "{out:?}");
    let Seen::Problem(p) = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!((p.kind, p.frame), (ProblemKind::Truncated, Some(3)));
    assert!(
        p.message.contains("9999") && p.message.contains("clerr.1"),
        "{}",
        p.message
    );
    assert!(matches!(&out[1], Seen::Message { frame: 3, .. }));
}

#[test]
fn net_problems_pass_through() {
    let mut x = Extractor::default();
    let mut out = Vec::new();
    let p = Problem::at_frame(ProblemKind::Fragment, 9, "fragment never completed");
    x.push(NetEvent::Problem(p.clone()), &mut sink(&mut out));
    assert_eq!(out, vec![Seen::Problem(p)]);
}

#[test]
fn a_stream_message_carries_the_frame_that_completed_it() {
    let mut x = Extractor::default();
    let mut out = Vec::new();
    x.push(tcp(10, 1, 40000, &OK_BYE[..50]), &mut sink(&mut out));
    x.push(tcp(11, 1, 40000, &OK_BYE[50..120]), &mut sink(&mut out));
    assert!(out.is_empty());
    assert_eq!(x.buffered_bytes(), 120);
    let mut last = OK_BYE[120..].to_vec();
    last.extend_from_slice(OK_BYE); // a second, whole message in frame 12
    x.push(tcp(12, 1, 40000, &last), &mut sink(&mut out));
    let frames: Vec<(u64, String)> = out
        .iter()
        .map(|s| match s {
            Seen::Message {
                frame,
                summary,
                transport,
                ..
            } => {
                assert_eq!(*transport, Transport::Tcp);
                (*frame, summary.clone())
            }
            Seen::Problem(p) => panic!("{p}"),
        })
        .collect();
    assert_eq!(
        frames,
        vec![(12, "200 OK (BYE)".into()), (12, "200 OK (BYE)".into())]
    );
    assert_eq!(x.buffered_bytes(), 0);
}

#[test]
fn directions_are_framed_separately() {
    let mut x = Extractor::default();
    let mut out = Vec::new();
    x.push(tcp(1, 1, 40001, &OK_BYE[..30]), &mut sink(&mut out));
    x.push(tcp(2, 1, 40002, &REFER[..30]), &mut sink(&mut out));
    x.push(tcp(3, 1, 40001, &OK_BYE[30..]), &mut sink(&mut out));
    x.push(tcp(4, 1, 40002, &REFER[30..]), &mut sink(&mut out));
    let got: Vec<(u64, u16)> = out
        .iter()
        .map(|s| match s {
            Seen::Message { frame, flow, .. } => (*frame, flow.src.port()),
            Seen::Problem(p) => panic!("{p}"),
        })
        .collect();
    assert_eq!(got, vec![(3, 40001), (4, 40002)]);
    assert_eq!(x.open_streams(), 2);
}

#[test]
fn stream_end_inside_a_message_is_reported_and_forgotten() {
    let mut x = Extractor::default();
    let mut out = Vec::new();
    x.push(tcp(1, 1, 40000, &REFER[..100]), &mut sink(&mut out));
    x.push(
        NetEvent::StreamEnd {
            frame: 2,
            flow: flow(40000),
        },
        &mut sink(&mut out),
    );
    let [Seen::Problem(p)] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!((p.kind, p.frame), (ProblemKind::Truncated, Some(2)));
    assert_eq!(x.open_streams(), 0);
    assert_eq!(x.buffered_bytes(), 0);
}

#[test]
fn an_idle_stream_is_evicted_with_a_report_naming_its_last_frame() {
    let mut x = Extractor::new(ExtractorConfig {
        idle_timeout_secs: 30,
        ..ExtractorConfig::default()
    });
    let mut out = Vec::new();
    x.push(tcp(1, 100, 40000, &REFER[..100]), &mut sink(&mut out));
    x.push(tcp(2, 120, 40001, OK_BYE), &mut sink(&mut out)); // 20 s later: kept
    assert_eq!(x.open_streams(), 2);
    x.push(udp(3, 140, REFER), &mut sink(&mut out)); // 40 s after frame 1
    assert_eq!(x.open_streams(), 1);
    let problems: Vec<&Problem> = out
        .iter()
        .filter_map(|s| match s {
            Seen::Problem(p) => Some(p),
            _ => None,
        })
        .collect();
    assert_eq!(problems.len(), 1, "{out:?}");
    assert_eq!(problems[0].frame, Some(1));
    assert!(
        problems[0].message.contains("idle"),
        "{}",
        problems[0].message
    );
    // An idle stream with nothing buffered goes silently.
    x.push(udp(4, 1000, REFER), &mut sink(&mut out));
    assert_eq!(x.open_streams(), 0);
    assert_eq!(
        out.iter().filter(|s| matches!(s, Seen::Problem(_))).count(),
        1
    );
}

#[test]
fn too_many_streams_evict_the_least_recent_with_a_report() {
    let mut x = Extractor::new(ExtractorConfig {
        max_streams: 2,
        ..ExtractorConfig::default()
    });
    let mut out = Vec::new();
    x.push(tcp(1, 1, 40001, &REFER[..10]), &mut sink(&mut out));
    x.push(tcp(2, 1, 40002, &REFER[..10]), &mut sink(&mut out));
    x.push(tcp(3, 1, 40001, &REFER[10..20]), &mut sink(&mut out)); // 40002 now oldest
    x.push(tcp(4, 1, 40003, &REFER[..10]), &mut sink(&mut out));
    assert_eq!(x.open_streams(), 2);
    let [Seen::Problem(p)] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!((p.kind, p.frame), (ProblemKind::Overload, Some(2)));
    assert!(p.message.contains(":40002"), "{}", p.message);
}

#[test]
fn the_buffer_budget_is_enforced() {
    let mut x = Extractor::new(ExtractorConfig {
        max_buffered: 150,
        ..ExtractorConfig::default()
    });
    let mut out = Vec::new();
    x.push(tcp(1, 1, 40001, &REFER[..100]), &mut sink(&mut out));
    x.push(tcp(2, 1, 40002, &REFER[..100]), &mut sink(&mut out));
    assert!(x.buffered_bytes() <= 150);
    assert_eq!(
        out.iter()
            .filter(|s| matches!(s, Seen::Problem(p) if p.kind == ProblemKind::Overload))
            .count(),
        1
    );
}

#[test]
fn finish_reports_every_unfinished_message() {
    let mut x = Extractor::default();
    let mut out = Vec::new();
    x.push(tcp(1, 1, 40001, &REFER[..100]), &mut sink(&mut out));
    x.push(tcp(2, 1, 40002, b"\r\n\r\n"), &mut sink(&mut out)); // keep-alive only
    x.push(tcp(3, 1, 40003, &OK_BYE[..10]), &mut sink(&mut out));
    x.finish(&mut sink(&mut out));
    let frames: Vec<Option<u64>> = out
        .iter()
        .map(|s| match s {
            Seen::Problem(p) => p.frame,
            Seen::Message { .. } => panic!("{s:?}"),
        })
        .collect();
    assert_eq!(frames, vec![Some(1), Some(3)]);
    assert_eq!(x.open_streams(), 0);
}

#[test]
fn the_refer_of_flow_one_reads_as_the_rules_need() {
    let m = sipflow::sip::parse(REFER).unwrap();
    let target = m.refer_to().unwrap().uri().unwrap();
    assert_eq!(target.param("method").unwrap().value, Some("BYE"));
    assert_eq!(
        target.without_param("method"),
        "sip:session-42@poc-a.example.com"
    );
    assert_eq!(m.top_branch(), Some("z9hG4bK-r1"));
    assert_eq!(m.from().unwrap().tag(), Some("cb1"));
    assert_eq!(m.to().unwrap().tag(), Some("pb1"));
    let c = m.cseq().unwrap();
    assert_eq!((c.number, c.method), (7, "REFER"));
}
