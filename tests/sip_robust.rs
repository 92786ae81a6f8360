//! No input makes the SIP stage panic: every torture message cut at every
//! byte and mutated at every byte, with every accessor called, through the
//! parser and the extractor (as datagrams and as streams).

use std::path::PathBuf;

use sipflow::capture::Timestamp;
use sipflow::net::{FlowKey, NetEvent};
use sipflow::sip::{self, Extractor, Message, SipEvent};

/// Calls every accessor and walks every iterator; returns a number so the
/// work cannot be optimised away.
fn touch(m: &Message<'_>) -> usize {
    let mut n = 0;
    n += m.method().map_or(0, str::len);
    n += m.request_uri_str().map_or(0, str::len);
    if let Some(u) = m.request_uri() {
        n += u.user().map_or(0, str::len) + u.host().map_or(0, str::len);
        n += u.params().count() + u.without_param("method").len();
        n += u.header("route").map_or(0, str::len);
    }
    n += usize::from(m.status().unwrap_or(0));
    n += m.reason().map_or(0, |r| r.len());
    n += m.call_id().map_or(0, str::len);
    n += m.cseq().map_or(0, |c| c.number as usize + c.method.len());
    for v in m.vias() {
        n += v.branch().map_or(0, str::len) + v.host().map_or(0, str::len);
        n += v.transport().map_or(0, str::len) + usize::from(v.port().unwrap_or(0));
        n += v.params().count();
    }
    n += m.top_branch().map_or(0, str::len);
    for a in [m.from(), m.to(), m.contact(), m.refer_to()]
        .into_iter()
        .flatten()
    {
        n += a.tag().map_or(0, str::len) + a.display_name().map_or(0, |d| d.len());
        n += a.params().count();
        if let Some(u) = a.uri() {
            n += u.scheme().len() + u.params().count();
        }
    }
    n += m.contacts().count();
    if let Some(e) = m.event() {
        n += e.event_type.len() + e.id().map_or(0, str::len);
    }
    if let Some(s) = m.subscription_state() {
        n += s.state.len() + s.expires().unwrap_or(0) as usize;
    }
    if let Some(c) = m.content_type() {
        n += c.params().count() + usize::from(c.is("message/sipfrag"));
    }
    for h in m.header_fields() {
        n += h.name().len() + h.value().text().len();
        for v in h.values() {
            n += v.list().count();
            n += v.name_addr().map_or(0, |a| a.uri_bytes().len());
        }
    }
    n += m.headers("Accept").count() + m.header("x").map_or(0, |v| v.as_bytes().len());
    n += m.body().len() + m.trailing().len() + m.summary().to_string().len();
    n += m.anomalies().descriptions().count();
    n
}

fn inputs() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = vec![
        b"INVITE sip:a@[2001:db8::1] SIP/2.0\r\nv: SIP/2.0/UDP [::1]:5060;branch=z9hG4bK1, SIP/2.0/TCP h\r\nf: \"A \\\"q\\\"\" <sip:a@b>;tag=1\r\nt: <sip:c@d>\r\nm: *\r\nr: <sip:s@x;method=BYE?h=1>\r\no: refer;id=1\r\nSubscription-State: active;expires=60\r\nc: message/sipfrag\r\nl: 16\r\n\r\nSIP/2.0 200 OK\r\n".to_vec(),
    ];
    if let Some(root) = std::env::var_os("SIPFLOW_CORPUS") {
        let dir = PathBuf::from(root).join("torture/rfc4475");
        if let Ok(rd) = std::fs::read_dir(&dir) {
            for e in rd.flatten() {
                if e.path().extension().is_some_and(|x| x == "dat") {
                    v.push(std::fs::read(e.path()).unwrap());
                }
            }
        }
    } else {
        eprintln!("SIPFLOW_CORPUS is not set: only the built-in message is mutated");
    }
    v
}

#[test]
fn every_cut_and_every_mutation_parses_or_fails_cleanly() {
    let mut parser = sip::Parser::new();
    let mut work = 0usize;
    let mut cases = 0usize;
    for input in inputs() {
        for cut in 0..=input.len() {
            if let Ok(m) = parser.parse(&input[..cut]) {
                work += touch(&m);
            }
            cases += 1;
        }
        let mut m = input.clone();
        // Every other byte, with the bytes that steer the grammar.
        for i in (0..input.len()).step_by(2) {
            for b in [b'\n', b':', b';', b'"', b'<', 0xff] {
                let old = m[i];
                m[i] = b;
                if let Ok(msg) = parser.parse(&m) {
                    work += touch(&msg);
                }
                m[i] = old;
                cases += 1;
            }
        }
    }
    assert!(work > 0);
    eprintln!("{cases} inputs parsed without panic");
}

#[test]
fn cut_messages_through_the_extractor() {
    let flow = FlowKey {
        src: ([192, 0, 2, 1], 5060).into(),
        dst: ([192, 0, 2, 2], 5060).into(),
    };
    let mut x = Extractor::default();
    let mut seen = 0usize;
    let mut sink = |ev: SipEvent<'_>| {
        if let SipEvent::Message { msg, .. } = ev {
            seen += touch(&msg);
        }
    };
    let mut frame = 0;
    for input in inputs() {
        for cut in (0..input.len()).step_by(3) {
            frame += 1;
            let time = Timestamp {
                secs: frame as i64,
                nanos: 0,
            };
            x.push(
                NetEvent::Datagram {
                    frame,
                    time,
                    flow,
                    transport: sipflow::net::Transport::Udp,
                    data: &input[..cut],
                },
                &mut sink,
            );
            x.push(
                NetEvent::Stream {
                    frame,
                    time,
                    flow,
                    data: &input[cut..],
                    gap: cut % 2 == 0,
                },
                &mut sink,
            );
        }
    }
    x.finish(&mut sink);
    assert!(seen > 0);
}
