//! Human-readable output: a streaming message table and a verdict table.

use std::io::{self, Write};

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Attribute, Cell, Color, ContentArrangement, Table};

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use super::escape::{self, Terminal};
use super::{FileEnd, MessageLine, Sink, Summary, thousands};
use crate::capture::Timestamp;
use crate::check::{InstanceReport, Status, Verdict};
use crate::problem::{Problem, ProblemKind};

/// How times are shown in tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeMode {
    /// Seconds since the file's first frame (Wireshark's default).
    Relative,
    /// Date and time, UTC.
    Absolute,
}

/// `s` in exactly `width` terminal columns: padded, or cut with `…`.
/// Measured in display width (a CJK character takes two columns, a
/// combining mark none), not in bytes or characters; `s` must already be
/// escaped (no control characters).
fn fit(s: &str, width: usize) -> String {
    let w = UnicodeWidthStr::width(s);
    let mut out = String::with_capacity(s.len() + width);
    if w <= width {
        out.push_str(s);
        out.extend(std::iter::repeat_n(' ', width - w));
        return out;
    }
    let mut used = 0;
    for c in s.chars() {
        let cw = UnicodeWidthChar::width(c).unwrap_or(0);
        if used + cw > width.saturating_sub(1) {
            break;
        }
        used += cw;
        out.push(c);
    }
    out.push('…');
    used += 1;
    out.extend(std::iter::repeat_n(' ', width.saturating_sub(used)));
    out
}

/// The summary of a message like Wireshark's Info column, from its start
/// line as written (`REFER sip:x@y`, `200 OK (BYE)`), escaped: bytes that
/// are not UTF-8 shown as `\xNN`. The same text as
/// [`crate::sip::Message::summary`] for UTF-8 start lines.
fn summary(start_line: &[u8], status: Option<u16>, cseq: Option<(u32, &str)>) -> String {
    match status {
        // `METHOD SP URI SP SIP/2.0`: all before the last space.
        None => {
            let end = start_line
                .iter()
                .rposition(|&b| b == b' ')
                .unwrap_or(start_line.len());
            escape::terminal_bytes(&start_line[..end]).into_owned()
        }
        // `SIP/2.0 SP DDD SP reason`.
        Some(code) => {
            let reason = start_line.get(12..).unwrap_or_default().trim_ascii();
            let mut out = format!("{code:03}");
            if !reason.is_empty() {
                out.push(' ');
                out.push_str(&escape::terminal_bytes(reason));
            }
            if let Some((_, method)) = cseq {
                out.push_str(" (");
                out.push_str(&escape::terminal(method));
                out.push(')');
            }
            out
        }
    }
}

/// Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `2023-11-14 22:13:20.123456` (UTC).
pub fn format_absolute(t: Timestamp) -> String {
    let days = t.secs.div_euclid(86_400);
    let rem = t.secs.rem_euclid(86_400);
    let (y, m, d) = civil(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{:06}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        t.nanos / 1000
    )
}

fn format_time(t: Timestamp, mode: TimeMode, first: Option<Timestamp>) -> String {
    match mode {
        TimeMode::Absolute => format_absolute(t),
        TimeMode::Relative => {
            let base = first.unwrap_or(t);
            let d = t.as_nanos() - base.as_nanos();
            let sign = if d < 0 { "-" } else { "" };
            let d = d.abs();
            format!(
                "{sign}{}.{:06}",
                d / 1_000_000_000,
                (d % 1_000_000_000) / 1000
            )
        }
    }
}

/// One problem as a warning on standard error, escaped (a problem's
/// message can quote bytes of the capture; the file name is the user's,
/// escaped too).
fn warn(err: &mut impl Write, file: &str, p: &Problem) -> io::Result<()> {
    writeln!(
        err,
        "warning: {}: {}",
        Terminal(file),
        Terminal(&p.to_string())
    )
}

/// The warnings of one file on standard error: what the sink printed, and
/// at the end of the file what it did not.
#[derive(Debug, Default)]
struct Warnings {
    /// `--all-errors`: every problem is printed, cut SIP frames included.
    all: bool,
    /// The sink is `check`'s: a file without a flow instance is worth a
    /// line when problems may have hidden its SIP.
    check: bool,
    /// Problems printed in the current file, per kind.
    printed: [u64; ProblemKind::ALL.len()],
}

impl Warnings {
    fn problem(&mut self, err: &mut impl Write, file: &str, p: &Problem) -> io::Result<()> {
        self.printed[p.kind.index()] += 1;
        warn(err, file, p)
    }

    /// A problem of a SIP frame cut by the snaplen: said in one line at
    /// the end of the file, unless every problem is listed.
    fn cut_sip_problem(&mut self, err: &mut impl Write, file: &str, p: &Problem) -> io::Result<()> {
        if self.all {
            self.problem(err, file, p)?;
        }
        Ok(())
    }

    /// One line per kind not printed in full, one for SIP cut by the
    /// snaplen, one when the file held no SIP at all.
    fn end_file(&mut self, err: &mut impl Write, file: &str, end: &FileEnd) -> io::Result<()> {
        let printed = std::mem::take(&mut self.printed);
        let file = Terminal(file);
        for kind in ProblemKind::ALL {
            let k = kind.index();
            let said = if kind == ProblemKind::Truncated && !self.all {
                end.cut_sip_problems
            } else {
                0
            };
            let more = end.problems[k].total.saturating_sub(printed[k] + said);
            if more > 0 {
                writeln!(
                    err,
                    "… and {} more `{}` problem{} in {file} (--all-errors lists them)",
                    thousands(more),
                    kind.as_str(),
                    if more == 1 { "" } else { "s" },
                )?;
            }
        }
        if end.cut_sip_frames > 0 {
            let n = end.cut_sip_frames;
            writeln!(
                err,
                "warning: {file}: {} of {} SIP frame{} {} cut at the capture's snaplen of {} \
                 bytes: capture again with -s 0",
                thousands(n),
                thousands(end.sip_frames),
                if end.sip_frames == 1 { "" } else { "s" },
                if n == 1 { "was" } else { "were" },
                thousands(end.snaplen),
            )?;
        } else if end.messages == 0 && !end.unreadable {
            let why = match end.frames {
                0 => "it holds no frames".to_string(),
                1 => "its one frame carries no readable SIP over UDP, TCP or SCTP".to_string(),
                n => format!(
                    "none of its {} frames carries readable SIP over UDP, TCP or SCTP",
                    thousands(n)
                ),
            };
            let hidden = if end.sip_hidden() {
                format!("; {} may have hidden some", hiding(end))
            } else {
                String::new()
            };
            writeln!(err, "warning: no SIP message in {file}: {why}{hidden}")?;
        } else if self.check && end.instances == 0 && end.sip_hidden() {
            writeln!(
                err,
                "warning: no flow instance in {file}, and {} may have hidden SIP messages: \
                 nothing could be judged",
                hiding(end)
            )?;
        }
        Ok(())
    }
}

/// "3 input problems (2 truncated, 1 tcp-gap)": those that may hide SIP.
fn hiding(end: &FileEnd) -> String {
    let kinds: Vec<(ProblemKind, u64)> = ProblemKind::ALL
        .iter()
        .filter(|k| k.can_hide_sip())
        .map(|&k| (k, end.problems[k.index()].total))
        .filter(|&(_, n)| n > 0)
        .collect();
    let total: u64 = kinds.iter().map(|(_, n)| n).sum();
    let list: Vec<String> = kinds
        .iter()
        .map(|(k, n)| format!("{} {}", thousands(*n), k.as_str()))
        .collect();
    format!(
        "{} input problem{} ({})",
        thousands(total),
        if total == 1 { "" } else { "s" },
        list.join(", ")
    )
}

/// ", 992,719 input problems (992,619 fragment, 100 truncated)".
fn problems_total(s: &Summary) -> String {
    if s.errors == 0 {
        return String::new();
    }
    let kinds: Vec<String> = ProblemKind::ALL
        .iter()
        .filter(|k| s.errors_by_kind[k.index()] > 0)
        .map(|k| format!("{} {}", thousands(s.errors_by_kind[k.index()]), k.as_str()))
        .collect();
    format!(
        ", {} input problem{} ({})",
        thousands(s.errors),
        if s.errors == 1 { "" } else { "s" },
        kinds.join(", ")
    )
}

/// `sipflow messages` as a table, written row by row (never held in
/// memory: a capture may hold millions of messages).
pub struct MessageTable<W: Write, E: Write> {
    out: W,
    err: E,
    mode: TimeMode,
    first: Option<Timestamp>,
    header_done: bool,
    warnings: Warnings,
}

impl<W: Write, E: Write> MessageTable<W, E> {
    pub fn new(out: W, err: E, mode: TimeMode) -> Self {
        MessageTable {
            out,
            err,
            mode,
            first: None,
            header_done: false,
            warnings: Warnings::default(),
        }
    }

    /// `--all-errors`: print every problem, those of SIP frames cut by the
    /// snaplen too.
    pub fn all_errors(mut self, all: bool) -> Self {
        self.warnings.all = all;
        self
    }
}

impl<W: Write, E: Write> Sink for MessageTable<W, E> {
    fn begin_file(&mut self, file: &str) -> io::Result<()> {
        self.first = None;
        if self.header_done {
            writeln!(self.out)?;
        }
        writeln!(self.out, "{}", Terminal(file))?;
        let time = if self.mode == TimeMode::Absolute {
            26
        } else {
            12
        };
        writeln!(
            self.out,
            "{:>7}  {:<time$}  {:<47}  {:<5} {:<44}  {:<28}  CSeq",
            "Frame", "Time", "Source → Destination", "Proto", "Summary", "Call-ID"
        )?;
        self.header_done = true;
        Ok(())
    }

    fn first_time(&mut self, time: Timestamp) {
        self.first = Some(time);
    }

    fn message(&mut self, _file: &str, m: &MessageLine<'_>) -> io::Result<()> {
        let time = format_time(m.time, self.mode, self.first);
        let width = if self.mode == TimeMode::Absolute {
            26
        } else {
            12
        };
        let ends = format!("{} → {}", m.src, m.dst);
        let cseq = m
            .cseq
            .map(|(n, meth)| format!("{n} {}", Terminal(meth)))
            .unwrap_or_default();
        let call_id = match m.call_id {
            Some(b) => escape::terminal_bytes(b),
            None => "-".into(),
        };
        writeln!(
            self.out,
            "{:>7}  {:<width$}  {}  {:<5} {}  {}  {}",
            m.frame,
            time,
            fit(&ends, 47),
            m.transport.as_str().to_uppercase(),
            fit(&summary(m.start_line, m.status, m.cseq), 44),
            fit(&call_id, 28),
            cseq
        )
    }

    fn problem(&mut self, file: &str, p: &Problem) -> io::Result<()> {
        self.warnings.problem(&mut self.err, file, p)
    }

    fn cut_sip_problem(&mut self, file: &str, p: &Problem) -> io::Result<()> {
        self.warnings.cut_sip_problem(&mut self.err, file, p)
    }

    fn end_file(&mut self, file: &str, end: &FileEnd) -> io::Result<()> {
        self.out.flush()?;
        self.warnings.end_file(&mut self.err, file, end)
    }

    fn end(&mut self, s: &Summary) -> io::Result<()> {
        writeln!(
            self.out,
            "\n{} SIP message{} in {} file{}{}",
            s.messages,
            if s.messages == 1 { "" } else { "s" },
            s.files,
            if s.files == 1 { "" } else { "s" },
            problems_total(s)
        )?;
        self.out.flush()
    }
}

/// `sipflow check` as a verdict table: one row per instance and, under each
/// instance that did not pass, its steps.
pub struct CheckTable<W: Write, E: Write> {
    out: W,
    err: E,
    mode: TimeMode,
    first: Option<Timestamp>,
    rows: Vec<InstanceReport>,
    file: Option<String>,
    warnings: Warnings,
}

impl<W: Write, E: Write> CheckTable<W, E> {
    pub fn new(out: W, err: E, mode: TimeMode) -> Self {
        CheckTable {
            out,
            err,
            mode,
            first: None,
            rows: Vec::new(),
            file: None,
            warnings: Warnings {
                check: true,
                ..Warnings::default()
            },
        }
    }

    /// `--all-errors`: print every problem, those of SIP frames cut by the
    /// snaplen too.
    pub fn all_errors(mut self, all: bool) -> Self {
        self.warnings.all = all;
        self
    }

    fn flush_file(&mut self) -> io::Result<()> {
        let Some(file) = self.file.take() else {
            return Ok(());
        };
        writeln!(self.out, "{}", Terminal(&file))?;
        if self.rows.is_empty() {
            writeln!(self.out, "  no flow instance found\n")?;
            return Ok(());
        }
        let mut t = Table::new();
        t.load_style(UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Dynamic)
            .set_header(vec![
                "Rule / step",
                "Trigger / expected",
                "Session / seen",
                "Verdict / status",
                "Reason",
            ]);
        for r in std::mem::take(&mut self.rows) {
            let color = match r.verdict {
                Verdict::Pass => Color::Green,
                Verdict::Fail => Color::Red,
                Verdict::Partial => Color::Yellow,
            };
            // Every text from the capture (session, notes, participant,
            // detail) or a rule file (rule id, step) is escaped: comfy-table
            // measures display width but writes control characters raw.
            t.add_row(vec![
                Cell::new(match &r.branch {
                    Some(b) => format!(
                        "{}\nbranch: {}",
                        escape::terminal(&r.rule),
                        escape::terminal(b)
                    ),
                    None => escape::terminal(&r.rule).into_owned(),
                })
                .add_attribute(Attribute::Bold),
                Cell::new(format!("frame {}", r.trigger_frame)),
                Cell::new(escape::terminal(r.session.as_deref().unwrap_or("-"))),
                Cell::new(r.verdict.as_str())
                    .fg(color)
                    .add_attribute(Attribute::Bold),
                Cell::new(escape::terminal(&r.notes.join("; "))),
            ]);
            if r.verdict == Verdict::Pass {
                continue;
            }
            for s in &r.steps {
                let seen = match (s.frame, s.time) {
                    (Some(f), Some(tm)) => {
                        format!("frame {f}, {}", format_time(tm, self.mode, self.first))
                    }
                    _ => "-".to_string(),
                };
                let label = if s.optional {
                    "  opt".to_string()
                } else {
                    format!("  {}", s.number)
                };
                let mut expected = match &s.participant {
                    Some(p) => format!("{}\nparticipant {}", Terminal(&s.expected), Terminal(p)),
                    None => escape::terminal(&s.expected).into_owned(),
                };
                if !s.hops.is_empty() {
                    let hops: Vec<String> = s
                        .hops
                        .iter()
                        .map(|h| format!("{} → {} (frame {})", h.src, h.dst, h.frame))
                        .collect();
                    expected.push_str("\nhops: ");
                    expected.push_str(&hops.join(", "));
                }
                let status_color = match s.status {
                    Status::Ok => Color::Green,
                    Status::Unobserved => Color::Yellow,
                    _ => Color::Red,
                };
                t.add_row(vec![
                    Cell::new(label),
                    Cell::new(expected),
                    Cell::new(seen),
                    Cell::new(s.status.as_str()).fg(status_color),
                    Cell::new(escape::terminal(s.detail.as_deref().unwrap_or(""))),
                ]);
            }
        }
        writeln!(self.out, "{t}\n")
    }
}

impl<W: Write, E: Write> Sink for CheckTable<W, E> {
    fn begin_file(&mut self, file: &str) -> io::Result<()> {
        self.flush_file()?;
        self.first = None;
        self.file = Some(file.to_string());
        Ok(())
    }

    fn first_time(&mut self, time: Timestamp) {
        self.first = Some(time);
    }

    fn instance(&mut self, _file: &str, r: &InstanceReport) -> io::Result<()> {
        self.rows.push(r.clone());
        Ok(())
    }

    fn problem(&mut self, file: &str, p: &Problem) -> io::Result<()> {
        self.warnings.problem(&mut self.err, file, p)
    }

    fn cut_sip_problem(&mut self, file: &str, p: &Problem) -> io::Result<()> {
        self.warnings.cut_sip_problem(&mut self.err, file, p)
    }

    fn end_file(&mut self, file: &str, end: &FileEnd) -> io::Result<()> {
        self.flush_file()?;
        self.out.flush()?;
        self.warnings.end_file(&mut self.err, file, end)
    }

    fn end(&mut self, s: &Summary) -> io::Result<()> {
        self.flush_file()?;
        writeln!(
            self.out,
            "{} instance{} in {} file{}: {} pass, {} fail, {} partial; {} SIP messages{}",
            s.instances,
            if s.instances == 1 { "" } else { "s" },
            s.files,
            if s.files == 1 { "" } else { "s" },
            s.pass,
            s.fail,
            s.partial,
            s.messages,
            problems_total(s)
        )?;
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_time_matches_known_date() {
        // 1700000000 is 2023-11-14 22:13:20 UTC.
        let t = Timestamp {
            secs: 1_700_000_000,
            nanos: 123_456_000,
        };
        assert_eq!(format_absolute(t), "2023-11-14 22:13:20.123456");
    }

    #[test]
    fn summary_from_the_start_line_is_the_parsers_summary() {
        for m in [
            &b"REFER sip:pre-b1@poc-b.example.net SIP/2.0\r\nCSeq: 1 REFER\r\n\r\n"[..],
            b"SIP/2.0 200 OK\r\nCSeq: 2 BYE\r\n\r\n",
            b"SIP/2.0 481 Call/Transaction Does Not Exist\r\nCSeq: 2 BYE\r\n\r\n",
            b"SIP/2.0 180 \r\nCSeq: 1 INVITE\r\n\r\n",
            b"SIP/2.0 099 Odd\r\n\r\n",
            b"\r\nOPTIONS sips:[2001:db8::1]:5061;transport=tcp SIP/2.0\r\n\r\n",
        ] {
            let msg = crate::sip::parse(m).unwrap();
            let cseq = msg.cseq();
            let got = summary(
                msg.start_line(),
                msg.status(),
                cseq.as_ref().map(|c| (c.number, c.method)),
            );
            assert_eq!(got, msg.summary().to_string());
        }
    }

    #[test]
    fn fit_pads_and_cuts_by_display_width() {
        assert_eq!(fit("ab", 4), "ab  ");
        assert_eq!(fit("通話", 5), "通話 ");
        assert_eq!(fit("通話通話", 5), "通話…");
        assert_eq!(fit("a通話通話", 5), "a通… ");
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(fit("e\u{301}", 2), "e\u{301} ");
    }

    #[test]
    fn relative_time() {
        let first = Timestamp {
            secs: 10,
            nanos: 500_000_000,
        };
        let t = Timestamp { secs: 12, nanos: 0 };
        assert_eq!(format_time(t, TimeMode::Relative, Some(first)), "1.500000");
    }
}
