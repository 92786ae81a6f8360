//! Solaris snoop captures (RFC 1761), as `snoop -o` writes them and
//! Wireshark reads them.
//!
//! A 16-byte header (`snoop\0\0\0`, version, datalink type; all numbers
//! big-endian), then records: original length, included length, record
//! length (header, data and padding to four bytes), cumulative drops,
//! seconds and microseconds, then the data. Datalink types 4 (Ethernet)
//! and 0 (IEEE 802.3, Ethernet framing as well) are Ethernet; any other is
//! passed on as an unsupported link type, which the network stage reports.
//!
//! Damage is handled as for pcap: a record whose lengths do not fit
//! together is reported and the reader scans forward (at most
//! [`RESYNC_SCAN_BYTES`]) for the next plausible record.

use std::ops::Range;

use super::pcap::{MAX_CAPLEN, RESYNC_SCAN_BYTES};
use super::source::ByteSource;
use super::{LinkType, Step, Timestamp, stream_problem};
use crate::problem::{Problem, ProblemKind};

const FILE_HEADER_LEN: usize = 16;
const RECORD_HEADER_LEN: usize = 24;
/// A record more than a day away from the one before it is not believed
/// while resynchronising.
const MAX_TIME_JUMP_SECS: i64 = 86_400;

/// One record header.
#[derive(Debug, Clone, Copy)]
struct Header {
    orig_len: u32,
    incl_len: u32,
    rec_len: u32,
    secs: u32,
    micros: u32,
}

fn header(b: &[u8]) -> Option<Header> {
    let w = |i: usize| -> Option<u32> {
        b.get(i..i + 4)
            .and_then(|s| s.first_chunk::<4>())
            .map(|c| u32::from_be_bytes(*c))
    };
    Some(Header {
        orig_len: w(0)?,
        incl_len: w(4)?,
        rec_len: w(8)?,
        secs: w(16)?,
        micros: w(20)?,
    })
}

impl Header {
    /// The lengths fit together: data within the record, the record no
    /// longer than its data plus a little padding.
    fn consistent(&self) -> bool {
        let need = RECORD_HEADER_LEN as u64 + u64::from(self.incl_len);
        self.incl_len <= MAX_CAPLEN
            && u64::from(self.rec_len) >= need
            && u64::from(self.rec_len) <= need + 8
    }

    /// Could this be a real record following one at `prev_secs`?
    fn plausible(&self, prev_secs: Option<i64>) -> bool {
        self.consistent()
            && self.incl_len > 0
            && self.incl_len <= self.orig_len
            && self.micros < 1_000_000
            && prev_secs.is_none_or(|p| (i64::from(self.secs) - p).abs() <= MAX_TIME_JUMP_SECS)
    }
}

/// Reads a snoop stream record by record.
pub(crate) struct SnoopReader {
    started: bool,
    done: bool,
    link_type: LinkType,
    last_secs: Option<i64>,
}

impl SnoopReader {
    pub(crate) fn new() -> SnoopReader {
        SnoopReader {
            started: false,
            done: false,
            link_type: LinkType::ETHERNET,
            last_secs: None,
        }
    }

    /// The next frame or problem.
    pub(crate) fn step(&mut self, src: &mut ByteSource, next_number: &mut u64) -> Step {
        if self.done {
            return Step::End;
        }
        if !self.started {
            self.started = true;
            if !src.ensure(FILE_HEADER_LEN) {
                self.done = true;
                let what = format!(
                    "the snoop file header ({} of {FILE_HEADER_LEN} bytes present)",
                    src.available()
                );
                return Step::Problem(stream_problem(src, None, 0, &what));
            }
            let h = src.peek();
            let version = u32::from_be_bytes([h[8], h[9], h[10], h[11]]);
            let datalink = u32::from_be_bytes([h[12], h[13], h[14], h[15]]);
            src.consume(FILE_HEADER_LEN);
            if !(2..=5).contains(&version) {
                self.done = true;
                return Step::Problem(Problem::at_offset(
                    ProblemKind::Unsupported,
                    8,
                    format!(
                        "snoop version {version} is not read (2 to 5 are); convert the file \
                         with `editcap -F pcapng IN OUT` if Wireshark can open it"
                    ),
                ));
            }
            self.link_type = match datalink {
                0 | 4 => LinkType::ETHERNET,
                other => LinkType(0x8000_0000 | other),
            };
        }
        self.record(src, next_number)
    }

    fn record(&mut self, src: &mut ByteSource, next_number: &mut u64) -> Step {
        let offset = src.offset();
        let number = *next_number;
        if !src.ensure(RECORD_HEADER_LEN) {
            self.done = true;
            if src.available() == 0 && !src.has_error() {
                return Step::End;
            }
            let what = format!(
                "the record header at byte offset {offset} ({} of {RECORD_HEADER_LEN} bytes present)",
                src.available()
            );
            return Step::Problem(stream_problem(src, Some(number), offset, &what));
        }
        let Some(h) = header(src.peek()) else {
            self.done = true;
            return Step::End;
        };
        if !h.consistent() {
            // A record whose lengths alone are damaged (its time is close
            // to the previous one's) keeps its frame number, as in pcap.
            if self
                .last_secs
                .is_some_and(|p| (i64::from(h.secs) - p).abs() <= MAX_TIME_JUMP_SECS)
            {
                *next_number += 1;
            }
            return Step::Problem(self.resync(src, number, offset, &h));
        }
        let rec_len = h.rec_len as usize;
        let incl = h.incl_len as usize;
        if !src.ensure(rec_len) {
            // The last record may lack only its padding.
            if src.available() < RECORD_HEADER_LEN + incl || src.has_error() {
                self.done = true;
                let what = format!(
                    "the packet data of the record at byte offset {offset} ({} of {incl} bytes present)",
                    src.available().saturating_sub(RECORD_HEADER_LEN)
                );
                return Step::Problem(stream_problem(src, Some(number), offset, &what));
            }
        }
        let total = rec_len.min(src.available());
        *next_number += 1;
        self.last_secs = Some(i64::from(h.secs));
        let data: Range<usize> =
            src.consume_record(total, RECORD_HEADER_LEN..RECORD_HEADER_LEN + incl);
        Step::Packet {
            number,
            time: Timestamp {
                secs: i64::from(h.secs),
                nanos: h.micros.min(999_999) * 1000,
            },
            link_type: self.link_type,
            data,
            orig_len: h.orig_len,
        }
    }

    /// After a damaged record header at `offset`: scan forward for a
    /// plausible record whose successor is plausible too (or which ends the
    /// file), and say what happened.
    fn resync(&mut self, src: &mut ByteSource, number: u64, offset: u64, bad: &Header) -> Problem {
        let found = loop {
            src.consume(1);
            if src.offset() - offset > RESYNC_SCAN_BYTES || !src.ensure(RECORD_HEADER_LEN) {
                break false;
            }
            let Some(h) = header(src.peek()) else {
                break false;
            };
            if !h.plausible(self.last_secs) {
                continue;
            }
            let len = h.rec_len as usize;
            if src.ensure(len + RECORD_HEADER_LEN) {
                let next = src.peek().get(len..).and_then(header);
                if next.is_some_and(|n| n.plausible(Some(i64::from(h.secs)))) {
                    break true;
                }
            } else if src.available() <= len && src.available() >= len.saturating_sub(8) {
                break true;
            }
        };
        let head = format!(
            "snoop record header at byte offset {offset} does not fit together (included \
             length {}, record length {}): the file is damaged here",
            bad.incl_len, bad.rec_len
        );
        if found {
            Problem {
                kind: ProblemKind::Corrupt,
                frame: Some(number),
                offset: Some(offset),
                message: format!(
                    "{head}; skipped {} bytes to the next plausible record at byte offset {}",
                    src.offset() - offset,
                    src.offset()
                ),
            }
        } else {
            self.done = true;
            Problem {
                kind: ProblemKind::Corrupt,
                frame: Some(number),
                offset: Some(offset),
                message: format!("{head}; no plausible record follows, so reading stops"),
            }
        }
    }
}
