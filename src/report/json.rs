//! JSON Lines output: one object per line, as `report-json.md` defines.

use std::fmt::Write as _;
use std::io::{self, Write};

use super::{MessageLine, Sink, Summary, epoch_seconds};
use crate::check::InstanceReport;
use crate::problem::Problem;

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

/// Append `s` as a JSON string literal.
pub fn push_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn push_opt_str(out: &mut String, s: Option<&str>) {
    match s {
        Some(s) => push_str(out, s),
        None => out.push_str("null"),
    }
}

impl<W: Write> Sink for JsonSink<W> {
    fn message(&mut self, file: &str, m: &MessageLine<'_>) -> io::Result<()> {
        let l = &mut self.line;
        l.push_str("{\"type\":\"message\",\"file\":");
        push_str(l, file);
        let _ = write!(
            l,
            ",\"frame\":{},\"time\":{},\"src\":\"{}\",\"dst\":\"{}\",\"transport\":\"{}\",\"method\":",
            m.frame,
            epoch_seconds(m.time),
            m.src,
            m.dst,
            m.transport.as_str()
        );
        push_opt_str(l, m.method);
        l.push_str(",\"status\":");
        match m.status {
            Some(s) => {
                let _ = write!(l, "{s}");
            }
            None => l.push_str("null"),
        }
        l.push_str(",\"cseq\":");
        match m.cseq {
            Some((n, method)) => push_str(l, &format!("{n} {method}")),
            None => l.push_str("null"),
        }
        l.push_str(",\"call_id\":");
        push_opt_str(l, m.call_id);
        l.push('}');
        self.flush_line()
    }

    fn instance(&mut self, file: &str, r: &InstanceReport) -> io::Result<()> {
        let l = &mut self.line;
        l.push_str("{\"type\":\"instance\",\"rule\":");
        push_str(l, &r.rule);
        l.push_str(",\"file\":");
        push_str(l, file);
        let _ = write!(
            l,
            ",\"verdict\":\"{}\",\"trigger\":{{\"frame\":{},\"call_id\":",
            r.verdict.as_str(),
            r.trigger_frame
        );
        push_str(l, &r.trigger_call_id);
        l.push_str("},\"session\":");
        push_opt_str(l, r.session.as_deref());
        l.push_str(",\"steps\":[");
        for (i, s) in r.steps.iter().enumerate() {
            if i > 0 {
                l.push(',');
            }
            let _ = write!(
                l,
                "{{\"step\":{},\"status\":\"{}\"",
                s.number,
                s.status.as_str()
            );
            if let Some(p) = &s.participant {
                l.push_str(",\"participant\":");
                push_str(l, p);
            }
            if let Some(f) = s.frame {
                let _ = write!(l, ",\"frame\":{f}");
            }
            if let Some(t) = s.time {
                let _ = write!(l, ",\"time\":{}", epoch_seconds(t));
            }
            if let Some(d) = &s.detail {
                l.push_str(",\"detail\":");
                push_str(l, d);
            }
            l.push('}');
        }
        l.push(']');
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
            "{{\"type\":\"summary\",\"files\":{},\"messages\":{},\"instances\":{},\"pass\":{},\"fail\":{},\"partial\":{},\"errors\":{}}}",
            s.files, s.messages, s.instances, s.pass, s.fail, s.partial, s.errors
        );
        self.flush_line()?;
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped() {
        let mut s = String::new();
        push_str(&mut s, "a\"b\\c\nd\u{1}é");
        assert_eq!(s, "\"a\\\"b\\\\c\\nd\\u0001é\"");
    }
}
