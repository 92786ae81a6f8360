//! JSON Lines output: one object per line, as `report-json.md` defines.

use std::fmt::Write as _;
use std::io::{self, Write};

use std::net::SocketAddr;

use super::{MessageLine, Sink, Summary, epoch_seconds, escape};
use crate::capture::Timestamp;
use crate::check::InstanceReport;
use crate::problem::{Problem, ProblemKind};

/// Writes the contract's JSON lines to any writer.
pub struct JsonSink<W: Write> {
    out: W,
    line: String,
}

impl<W: Write> JsonSink<W> {
    pub fn new(out: W) -> Self {
        JsonSink {
            out,
            line: String::with_capacity(512),
        }
    }

    fn flush_line(&mut self) -> io::Result<()> {
        self.line.push('\n');
        self.out.write_all(self.line.as_bytes())?;
        self.line.clear();
        Ok(())
    }
}

/// Append `s` as a JSON string literal (the one escaper of every sink:
/// [`escape::json_str`]).
fn push_str(out: &mut String, s: &str) {
    escape::json_str(out, s);
}

fn push_opt_str(out: &mut String, s: Option<&str>) {
    match s {
        Some(s) => push_str(out, s),
        None => out.push_str("null"),
    }
}

/// Append an unsigned integer in decimal, without going through `fmt`
/// (itoa: two digits a step, no UTF-8 check of its own output).
fn push_u64(out: &mut String, n: u64) {
    out.push_str(itoa::Buffer::new().format(n));
}

/// Seconds since the epoch with nanoseconds, as a JSON number.
fn push_time(out: &mut String, t: Timestamp) {
    if t.secs < 0 {
        // Before 1970: rare enough for `fmt`.
        out.push_str(&epoch_seconds(t));
        return;
    }
    push_u64(out, t.secs as u64);
    out.push('.');
    let mut buf = itoa::Buffer::new();
    let nanos = buf.format(t.nanos.min(999_999_999));
    out.push_str(&"000000000"[nanos.len()..]);
    out.push_str(nanos);
}

/// An endpoint: `10.0.0.1:5060` or `[2001:db8::1]:5060`.
fn push_endpoint(out: &mut String, a: &SocketAddr) {
    match a {
        SocketAddr::V4(v4) => {
            for (i, o) in v4.ip().octets().iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                push_u64(out, *o as u64);
            }
            out.push(':');
            push_u64(out, v4.port() as u64);
        }
        SocketAddr::V6(_) => {
            let _ = write!(out, "{a}");
        }
    }
}

impl<W: Write> Sink for JsonSink<W> {
    fn message(&mut self, file: &str, m: &MessageLine<'_>) -> io::Result<()> {
        let l = &mut self.line;
        l.push_str("{\"type\":\"message\",\"file\":");
        push_str(l, file);
        l.push_str(",\"frame\":");
        push_u64(l, m.frame);
        l.push_str(",\"time\":");
        push_time(l, m.time);
        l.push_str(",\"src\":\"");
        push_endpoint(l, &m.src);
        l.push_str("\",\"dst\":\"");
        push_endpoint(l, &m.dst);
        l.push_str("\",\"transport\":\"");
        l.push_str(m.transport.as_str());
        l.push_str("\",\"method\":");
        push_opt_str(l, m.method);
        l.push_str(",\"status\":");
        match m.status {
            Some(s) => push_u64(l, s as u64),
            None => l.push_str("null"),
        }
        l.push_str(",\"cseq\":");
        match m.cseq {
            Some((n, method)) => {
                l.push('"');
                push_u64(l, n as u64);
                l.push(' ');
                // push_str's escaping, without its opening quote.
                let start = l.len();
                push_str(l, method);
                l.remove(start);
            }
            None => l.push_str("null"),
        }
        l.push_str(",\"call_id\":");
        match m.call_id {
            Some(b) => escape::json_bytes(l, b),
            None => l.push_str("null"),
        }
        l.push('}');
        self.flush_line()
    }

    fn instance(&mut self, file: &str, r: &InstanceReport) -> io::Result<()> {
        let l = &mut self.line;
        l.push_str("{\"type\":\"instance\",\"rule\":");
        push_str(l, &r.rule);
        l.push_str(",\"file\":");
        push_str(l, file);
        l.push_str(",\"verdict\":\"");
        l.push_str(r.verdict.as_str());
        l.push_str("\",\"trigger\":{\"frame\":");
        push_u64(l, r.trigger_frame);
        l.push_str(",\"call_id\":");
        push_str(l, &r.trigger_call_id);
        l.push_str("},\"session\":");
        push_opt_str(l, r.session.as_deref());
        if let Some(b) = &r.branch {
            l.push_str(",\"branch\":");
            push_str(l, b);
        }
        l.push_str(",\"steps\":[");
        let mut first = true;
        for s in r.steps.iter().filter(|s| !s.optional) {
            if !first {
                l.push(',');
            }
            first = false;
            // Written piece by piece, numbers through itoa: with `write!`
            // an instance line cost ~25,000 instructions (callgrind).
            l.push_str("{\"step\":");
            push_u64(l, u64::from(s.number));
            l.push_str(",\"status\":\"");
            l.push_str(s.status.as_str());
            l.push('"');
            push_step_fields(l, s);
            l.push('}');
        }
        l.push(']');
        // Optional messages that were seen (sipflow addition): each with
        // the step it follows.
        if r.steps.iter().any(|s| s.optional) {
            l.push_str(",\"optional\":[");
            let mut first = true;
            for s in r.steps.iter().filter(|s| s.optional) {
                if !first {
                    l.push(',');
                }
                first = false;
                l.push_str("{\"after\":");
                push_u64(l, u64::from(s.number));
                l.push_str(",\"expected\":");
                push_str(l, &s.expected);
                l.push_str(",\"status\":\"");
                l.push_str(s.status.as_str());
                l.push('"');
                push_step_fields(l, s);
                l.push('}');
            }
            l.push(']');
        }
        if !r.roles.is_empty() {
            l.push_str(",\"roles\":{");
            for (i, (role, nodes)) in r.roles.iter().enumerate() {
                if i > 0 {
                    l.push(',');
                }
                push_str(l, role);
                l.push(':');
                push_str(l, nodes);
            }
            l.push('}');
        }
        if !r.notes.is_empty() {
            l.push_str(",\"notes\":[");
            for (i, n) in r.notes.iter().enumerate() {
                if i > 0 {
                    l.push(',');
                }
                push_str(l, n);
            }
            l.push(']');
        }
        l.push('}');
        self.flush_line()
    }

    fn problem(&mut self, file: &str, p: &Problem) -> io::Result<()> {
        let l = &mut self.line;
        l.push_str("{\"type\":\"error\",\"file\":");
        push_str(l, file);
        if let Some(f) = p.frame {
            let _ = write!(l, ",\"frame\":{f}");
        }
        if let Some(o) = p.offset {
            let _ = write!(l, ",\"offset\":{o}");
        }
        let _ = write!(l, ",\"kind\":\"{}\",\"message\":", p.kind.as_str());
        push_str(l, &p.message);
        l.push('}');
        self.flush_line()
    }

    fn end(&mut self, s: &Summary) -> io::Result<()> {
        let _ = write!(
            self.line,
            "{{\"type\":\"summary\",\"files\":{},\"messages\":{},\"instances\":{},\"pass\":{},\"fail\":{},\"partial\":{},\"errors\":{},\"errors_by_kind\":{{",
            s.files, s.messages, s.instances, s.pass, s.fail, s.partial, s.errors
        );
        let mut first = true;
        for kind in ProblemKind::ALL {
            let n = s.errors_by_kind[kind.index()];
            if n > 0 {
                if !first {
                    self.line.push(',');
                }
                first = false;
                let _ = write!(self.line, "\"{}\":{n}", kind.as_str());
            }
        }
        self.line.push_str("}}");
        self.flush_line()?;
        self.out.flush()
    }
}

/// A step's fields after its number and status.
fn push_step_fields(l: &mut String, s: &crate::check::StepReport) {
    if let Some(p) = &s.participant {
        l.push_str(",\"participant\":");
        push_str(l, p);
    }
    if let Some(f) = s.frame {
        l.push_str(",\"frame\":");
        push_u64(l, f);
    }
    if let Some(t) = s.time {
        l.push_str(",\"time\":");
        push_time(l, t);
    }
    if let Some(d) = &s.detail {
        l.push_str(",\"detail\":");
        push_str(l, d);
    }
    if !s.hops.is_empty() {
        l.push_str(",\"hops\":[");
        for (i, h) in s.hops.iter().enumerate() {
            if i > 0 {
                l.push(',');
            }
            l.push_str("{\"frame\":");
            push_u64(l, h.frame);
            l.push_str(",\"time\":");
            push_time(l, h.time);
            l.push_str(",\"src\":");
            push_str(l, &h.src.to_string());
            l.push_str(",\"dst\":");
            push_str(l, &h.dst.to_string());
            l.push('}');
        }
        l.push(']');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_times_as_fmt_writes_them() {
        for n in [0, 7, 10, 99, 100, 1_234_567_890, u64::MAX] {
            let mut out = String::new();
            push_u64(&mut out, n);
            assert_eq!(out, n.to_string());
        }
        for (secs, nanos) in [
            (0, 0),
            (1_700_000_000, 5),
            (12, 999_999_999),
            (3, 120_000_000),
        ] {
            let t = Timestamp { secs, nanos };
            let mut out = String::new();
            push_time(&mut out, t);
            assert_eq!(out, format!("{secs}.{nanos:09}"));
            assert_eq!(out, epoch_seconds(t));
        }
        let before_1970 = Timestamp {
            secs: -2,
            nanos: 500_000_000,
        };
        let mut out = String::new();
        push_time(&mut out, before_1970);
        assert_eq!(out, "-1.5");
    }

    #[test]
    fn numbers_times_and_endpoints() {
        let mut s = String::new();
        push_u64(&mut s, 0);
        s.push(' ');
        push_u64(&mut s, 18_446_744_073_709_551_615);
        s.push(' ');
        push_time(
            &mut s,
            Timestamp {
                secs: 1_700_000_000,
                nanos: 1_000,
            },
        );
        s.push(' ');
        push_endpoint(&mut s, &"10.0.0.255:5060".parse().unwrap());
        s.push(' ');
        push_endpoint(&mut s, &"[2001:db8::1]:5061".parse().unwrap());
        assert_eq!(
            s,
            "0 18446744073709551615 1700000000.000001000 10.0.0.255:5060 [2001:db8::1]:5061"
        );
    }
}
