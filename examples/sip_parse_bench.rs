//! Parse-time measurement: sipflow's parser against rsip 0.4 and
//! ezk-sip-types, on the RFC 4475 torture messages and on realistic
//! messages. Run in release mode:
//!
//! ```text
//! SIPFLOW_CORPUS=../shared/corpus cargo run --release --example sip_parse_bench
//! ```
//!
//! Each parser is asked for the same things a later stage needs: method or
//! status, Call-ID, CSeq, top Via branch, From tag and To tag. The numbers
//! are printed per message (µs), the fastest of several short runs.

use std::hint::black_box;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use sipflow::sip::Parser;

/// A typical INVITE as a softphone sends it (about 900 bytes with SDP).
const INVITE: &[u8] = b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds;rport\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@biloxi.example.com>\r\n\
From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@pc33.atlanta.example.com;transport=udp>\r\n\
Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, MESSAGE, SUBSCRIBE, INFO, UPDATE\r\n\
Supported: replaces, timer, norefersub\r\n\
User-Agent: Example Softphone 5.2.1\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 239\r\n\
\r\n\
v=0\r\n\
o=alice 2890844526 2890844526 IN IP4 pc33.atlanta.example.com\r\n\
s=Session SDP\r\n\
c=IN IP4 192.0.2.101\r\n\
t=0 0\r\n\
m=audio 49172 RTP/AVP 0 8 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\n\
a=sendrecv\r\n";

/// A typical proxied 200 OK to a BYE (about 600 bytes).
const OK_BYE: &[u8] = b"SIP/2.0 200 OK\r\n\
Via: SIP/2.0/UDP core-a.example.com:5060;branch=z9hG4bK-524287-1---9a8b7c6d5e4f3a2b;received=198.51.100.17;rport=5060\r\n\
Via: SIP/2.0/UDP core-b.example.net:5060;branch=z9hG4bK-d8754z-1f2e3d4c5b6a7988-1---d8754z-;rport=5060\r\n\
Via: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bK-d8754z-aa11bb22cc33dd44-1---d8754z-;rport=5060\r\n\
Record-Route: <sip:core-a.example.com;lr>\r\n\
From: <sip:pre-7f3a@poc-b.example.net>;tag=b5a1c2d3\r\n\
To: <sip:session-42@poc-a.example.com>;tag=as1f2e3d4c\r\n\
Call-ID: 3c26700b2fe6-d8r4ap8xm2zt@poc-b.example.net\r\n\
CSeq: 2 BYE\r\n\
Server: PoC-Server/3.1\r\n\
Content-Length: 0\r\n\
\r\n";

/// Key fields through sipflow.
fn ours(p: &mut Parser, b: &[u8]) -> Option<usize> {
    let m = p.parse(b).ok()?;
    let mut n = m.method().map_or(0, str::len) + usize::from(m.status().unwrap_or(0));
    n += m.call_id()?.len();
    n += m.cseq()?.number as usize;
    n += m.top_branch().map_or(0, str::len);
    n += m.from()?.tag().map_or(0, str::len);
    n += m.to()?.tag().map_or(0, str::len);
    Some(n)
}

/// Parse only (start line and header index), no field access.
fn ours_index(p: &mut Parser, b: &[u8]) -> Option<usize> {
    let m = p.parse(b).ok()?;
    Some(m.header_fields().count())
}

/// Key fields through rsip 0.4.
fn rsip_fields(b: &[u8]) -> Option<usize> {
    use rsip::prelude::*;
    let m = rsip::SipMessage::try_from(b).ok()?;
    let mut n = m.call_id_header().ok()?.value().len();
    n += m.cseq_header().ok()?.typed().ok()?.seq as usize;
    n += m
        .via_header()
        .ok()?
        .typed()
        .ok()?
        .branch()
        .map_or(0, |b| b.to_string().len());
    n += m
        .from_header()
        .ok()?
        .tag()
        .ok()?
        .map_or(0, |t| t.to_string().len());
    n += m
        .to_header()
        .ok()?
        .tag()
        .ok()?
        .map_or(0, |t| t.to_string().len());
    Some(n)
}

/// Key fields through ezk-sip-types.
fn ezk_fields(raw: &[u8]) -> Option<usize> {
    use ezk_sip_types::Headers;
    use ezk_sip_types::Name;
    use ezk_sip_types::header::typed::{CSeq, CallID, FromTo, Via};
    use ezk_sip_types::msg::{Line, MessageLine, PullParser};
    use ezk_sip_types::parse::Parse;

    let src = bytes::Bytes::copy_from_slice(raw);
    let mut lines = PullParser::new(&src, 0);
    let first = std::str::from_utf8(lines.next()?.ok()?).ok()?;
    let _ = MessageLine::parse(&src)(first).ok()?;
    let mut headers = Headers::new();
    for line in lines {
        let line = line.ok()?;
        let (_, l) = Line::parse(&src, std::str::from_utf8(line).ok()?).ok()?;
        headers.insert(l.name, l.value);
    }
    let mut n = headers.get_named::<CallID>().ok()?.0.len();
    n += headers.get_named::<CSeq>().ok()?.cseq as usize;
    let vias = headers.get_named::<Vec<Via>>().ok()?;
    n += vias
        .first()
        .and_then(|v| v.params.get_val("branch"))
        .map_or(0, |b| b.len());
    n += headers
        .get::<FromTo>(Name::FROM)
        .ok()?
        .tag
        .map_or(0, |t| t.len());
    n += headers
        .get::<FromTo>(Name::TO)
        .ok()?
        .tag
        .map_or(0, |t| t.len());
    Some(n)
}

/// Fastest of 25 short runs of the mean time per message (µs) of `f` over
/// `msgs`. The machine is shared: the minimum of short runs is the run
/// least disturbed by other processes.
fn time(msgs: &[Vec<u8>], mut f: impl FnMut(&[u8]) -> Option<usize>) -> f64 {
    let total_bytes: usize = msgs.iter().map(Vec::len).sum();
    let iters = (1_000_000 / total_bytes.max(1)).clamp(1, 10_000);
    let mut best = f64::MAX;
    for _ in 0..25 {
        let t = Instant::now();
        for _ in 0..iters {
            for m in msgs {
                black_box(f(black_box(m)));
            }
        }
        best = best.min(t.elapsed().as_secs_f64() * 1e6 / (iters * msgs.len()) as f64);
    }
    best
}

fn torture() -> Option<Vec<(String, Vec<u8>)>> {
    let dir = PathBuf::from(std::env::var_os("SIPFLOW_CORPUS")?).join("torture/rfc4475");
    let index = std::fs::read_to_string(dir.join("INDEX.tsv")).ok()?;
    let mut out = Vec::new();
    for line in index.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.get(3) == Some(&"invalid") {
            continue;
        }
        let name = cols.first()?.to_string();
        let bytes = std::fs::read(dir.join(&name)).ok()?;
        out.push((name, bytes));
    }
    Some(out)
}

/// UDP SIP payloads of a corpus capture, through tshark.
fn capture_payloads(name: &str) -> Vec<Vec<u8>> {
    let Some(root) = std::env::var_os("SIPFLOW_CORPUS") else {
        return Vec::new();
    };
    let file = PathBuf::from(root).join("captures").join(name);
    let Ok(out) = Command::new("tshark")
        .arg("-r")
        .arg(file)
        .args(["-Y", "sip and udp", "-T", "fields", "-e", "udp.payload"])
        .output()
    else {
        return Vec::new();
    };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let l: Vec<u8> = l.bytes().filter(u8::is_ascii_hexdigit).collect();
            l.chunks(2)
                .filter_map(|p| u8::from_str_radix(std::str::from_utf8(p).ok()?, 16).ok())
                .collect()
        })
        .filter(|p: &Vec<u8>| !p.is_empty())
        .collect()
}

fn report(label: &str, msgs: &[Vec<u8>]) {
    if msgs.is_empty() {
        println!("{label}: no messages (SIPFLOW_CORPUS or tshark missing)");
        return;
    }
    let mut p = Parser::new();
    let ok =
        |f: &mut dyn FnMut(&[u8]) -> Option<usize>| msgs.iter().filter(|m| f(m).is_some()).count();
    let n = msgs.len();
    let avg = msgs.iter().map(Vec::len).sum::<usize>() / n;
    println!(
        "{label}: {n} messages, {avg} bytes on average; key fields found by sipflow {}, rsip {}, ezk {}",
        ok(&mut |m| ours(&mut p, m)),
        ok(&mut rsip_fields),
        ok(&mut ezk_fields)
    );
    let t_index = time(msgs, |m| ours_index(&mut p, m));
    let t_ours = time(msgs, |m| ours(&mut p, m));
    let t_rsip = time(msgs, rsip_fields);
    let t_ezk = time(msgs, ezk_fields);
    println!(
        "  µs/message: sipflow index {t_index:.3}, sipflow + fields {t_ours:.3}, rsip {t_rsip:.3}, ezk {t_ezk:.3}"
    );
}

fn main() {
    // `SIP_BENCH_PROFILE=1`: only sipflow on the typical messages, for a
    // deterministic instruction count under `valgrind --tool=callgrind`.
    if std::env::var_os("SIP_BENCH_PROFILE").is_some() {
        let mut p = Parser::new();
        for _ in 0..10_000 {
            black_box(ours(&mut p, black_box(INVITE)));
            black_box(ours(&mut p, black_box(OK_BYE)));
        }
        return;
    }
    // Claims about rsip, checked on small messages.
    let claims: &[(&str, &[u8])] = &[
        (
            "plain",
            b"OPTIONS sip:a@b.example SIP/2.0\r\nVia: SIP/2.0/UDP h.example;branch=z9hG4bK1\r\nFrom: <sip:c@d.example>;tag=1\r\nTo: <sip:a@b.example>\r\nCall-ID: x1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        ),
        (
            "compact headers",
            b"OPTIONS sip:a@b.example SIP/2.0\r\nv: SIP/2.0/UDP h.example;branch=z9hG4bK1\r\nf: <sip:c@d.example>;tag=1\r\nt: <sip:a@b.example>\r\ni: x1\r\nCSeq: 1 OPTIONS\r\nl: 0\r\n\r\n",
        ),
        (
            "folded line",
            b"OPTIONS sip:a@b.example SIP/2.0\r\nVia: SIP/2.0/UDP h.example;branch=z9hG4bK1\r\nFrom: <sip:c@d.example>\r\n ;tag=1\r\nTo: <sip:a@b.example>\r\nCall-ID: x1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        ),
        (
            "IPv6 host",
            b"OPTIONS sip:a@[2001:db8::1] SIP/2.0\r\nVia: SIP/2.0/UDP [2001:db8::2]:5060;branch=z9hG4bK1\r\nFrom: <sip:c@[2001:db8::2]>;tag=1\r\nTo: <sip:a@[2001:db8::1]>\r\nCall-ID: x1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        ),
        (
            "unknown method",
            b"FOO sip:a@b.example SIP/2.0\r\nVia: SIP/2.0/UDP h.example;branch=z9hG4bK1\r\nFrom: <sip:c@d.example>;tag=1\r\nTo: <sip:a@b.example>\r\nCall-ID: x1\r\nCSeq: 1 FOO\r\nContent-Length: 0\r\n\r\n",
        ),
    ];
    let mut p = Parser::new();
    for (what, m) in claims {
        println!(
            "{what:16} sipflow {:5} rsip {:5} ezk {:5}",
            ours(&mut p, m).is_some(),
            rsip_fields(m).is_some(),
            ezk_fields(m).is_some()
        );
    }

    if let Some(t) = torture() {
        let failed: Vec<&str> = t
            .iter()
            .filter(|(_, b)| rsip::SipMessage::try_from(b.as_slice()).is_err())
            .map(|(n, _)| n.as_str())
            .collect();
        println!(
            "rsip cannot parse {} of {}: {failed:?}",
            failed.len(),
            t.len()
        );
        let failed: Vec<&str> = t
            .iter()
            .filter(|(_, b)| rsip_fields(b).is_none())
            .map(|(n, _)| n.as_str())
            .collect();
        println!("rsip lacks key fields in {}: {failed:?}", failed.len());
        let msgs: Vec<Vec<u8>> = t.into_iter().map(|(_, b)| b).collect();
        report("RFC 4475 valid + semantic", &msgs);
    } else {
        println!("SIPFLOW_CORPUS not set: torture set skipped");
    }
    report("typical INVITE", &[INVITE.to_vec()]);
    report("typical 200 OK (BYE)", &[OK_BYE.to_vec()]);
    report(
        "sipnab/sipp-branch-scenario.pcapng",
        &capture_payloads("sipnab/sipp-branch-scenario.pcapng"),
    );
    report(
        "sipnab/b2bua-asterisk.pcapng",
        &capture_payloads("sipnab/b2bua-asterisk.pcapng"),
    );
}
