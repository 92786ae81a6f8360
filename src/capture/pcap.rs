//! Classic pcap (libpcap) files: µs and ns resolution, both byte orders,
//! and Kuznetsov's "modified" variant.
//!
//! Layout: a 24-byte file header (magic, version, thiszone, sigfigs,
//! snaplen, link type) then records of a 16-byte header (seconds, fraction,
//! captured length, original length) and the captured bytes; the modified
//! format appends 8 bytes (ifindex, protocol, packet type, pad) to each
//! record header.
//!
//! Like Wireshark, caplen and orig_len are swapped for files of version
//! 2.0-2.2 (and 2.3 when caplen > orig_len), as some old libpcap wrote
//! them. Not done: Wireshark's guesses at the Nokia, AIX and SuSE variants
//! that share the standard or modified magic (they differ only in record
//! header length); a damaged record is reported instead, which is what a
//! fuzzed file in the corpus shows (tshark's Nokia guess reads a bogus
//! second frame there).

use std::ops::Range;

use super::detect::PcapMagic;
use super::source::ByteSource;
use super::{LinkType, Step, Timestamp, stream_problem};
use crate::problem::{Problem, ProblemKind};

/// The largest captured length accepted in a record, as libpcap and
/// Wireshark's wiretap (`WTAP_MAX_PACKET_SIZE_STANDARD`) accept: a larger
/// one means the record header is damaged.
pub const MAX_CAPLEN: u32 = 262_144;

/// How far past a damaged record header the reader looks for the next
/// plausible one before giving up.
pub const RESYNC_SCAN_BYTES: u64 = 16 << 20;

/// Resynchronisation only accepts a record whose time is within this many
/// seconds of the last good record's.
const RESYNC_MAX_TIME_JUMP_SECS: i64 = 86_400;

const FILE_HEADER_LEN: usize = 24;

/// Link-type field bits that hold the link type (the rest carry FCS
/// information), as libpcap's `LT_LINKTYPE`.
const LINKTYPE_MASK: u32 = 0x03ff_ffff;

/// Reader state for one classic pcap stream.
pub(crate) struct PcapReader {
    magic: PcapMagic,
    state: State,
    record_header_len: usize,
    link_type: LinkType,
    lengths: Lengths,
    /// Seconds of the last good record, to judge resynchronisation.
    last_secs: Option<i64>,
}

/// Whether record headers hold (caplen, orig_len) in the standard order.
/// Old libpcap versions wrote them the other way round; Wireshark's wiretap
/// swaps them for files of version 2.0-2.2 and, in 2.3, when the captured
/// length exceeds the original one. sipflow does the same, so its lengths
/// agree with Wireshark's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lengths {
    Standard,
    Swapped,
    MaybeSwapped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    FileHeader,
    Records,
    Done,
}

/// A parsed record header.
struct RecordHeader {
    secs: u32,
    frac: u32,
    caplen: u32,
    orig_len: u32,
}

impl PcapReader {
    pub(crate) fn new(magic: PcapMagic) -> Self {
        PcapReader {
            magic,
            state: State::FileHeader,
            record_header_len: if magic.modified { 24 } else { 16 },
            link_type: LinkType::ETHERNET,
            lengths: Lengths::Standard,
            last_secs: None,
        }
    }

    /// The next packet, problem or the end; `next_number` is the frame
    /// number the next packet record gets.
    pub(crate) fn step(&mut self, src: &mut ByteSource, next_number: &mut u64) -> Step {
        loop {
            match self.state {
                State::Done => return Step::End,
                State::FileHeader => {
                    if let Some(problem) = self.read_file_header(src) {
                        self.state = State::Done;
                        return Step::Problem(problem);
                    }
                    self.state = State::Records;
                }
                State::Records => return self.read_record(src, next_number),
            }
        }
    }

    fn read_file_header(&mut self, src: &mut ByteSource) -> Option<Problem> {
        if !src.ensure(FILE_HEADER_LEN) {
            let what = format!(
                "the pcap file header ({} of {FILE_HEADER_LEN} bytes present)",
                src.available()
            );
            return Some(stream_problem(src, None, 0, &what));
        }
        let e = self.magic.endian;
        let h = src.peek();
        let major = e.u16([h[4], h[5]]);
        let minor = e.u16([h[6], h[7]]);
        let network = e.u32([h[20], h[21], h[22], h[23]]);
        src.consume(FILE_HEADER_LEN);
        if major < 2 {
            return Some(Problem::at_offset(
                ProblemKind::Unsupported,
                0,
                format!(
                    "pcap version {major}.{minor} is not supported (Wireshark reads 2.x only); \
                     convert the file with `editcap -F pcapng IN OUT` if Wireshark can open it"
                ),
            ));
        }
        self.link_type = LinkType(network & LINKTYPE_MASK);
        self.lengths = match (major, minor) {
            (2, 0..=2) => Lengths::Swapped,
            (2, 3) => Lengths::MaybeSwapped,
            _ => Lengths::Standard,
        };
        None
    }

    fn parse_header(&self, h: &[u8]) -> Option<RecordHeader> {
        let e = self.magic.endian;
        let word = |i: usize| -> Option<u32> {
            let b = h.get(i..i + 4)?;
            Some(e.u32([b[0], b[1], b[2], b[3]]))
        };
        let (mut caplen, mut orig_len) = (word(8)?, word(12)?);
        let swap = match self.lengths {
            Lengths::Standard => false,
            Lengths::Swapped => true,
            Lengths::MaybeSwapped => caplen > orig_len,
        };
        if swap {
            (caplen, orig_len) = (orig_len, caplen);
        }
        Some(RecordHeader {
            secs: word(0)?,
            frac: word(4)?,
            caplen,
            orig_len,
        })
    }

    fn time(&self, h: &RecordHeader) -> Timestamp {
        let frac = u64::from(h.frac);
        let (extra_secs, nanos) = if self.magic.nanos {
            (frac / 1_000_000_000, frac % 1_000_000_000)
        } else {
            (frac / 1_000_000, (frac % 1_000_000) * 1000)
        };
        Timestamp {
            secs: i64::from(h.secs) + extra_secs as i64,
            nanos: nanos as u32,
        }
    }

    fn read_record(&mut self, src: &mut ByteSource, next_number: &mut u64) -> Step {
        let hl = self.record_header_len;
        let offset = src.offset();
        let number = *next_number;
        if !src.ensure(hl) {
            if src.available() == 0 && !src.has_error() {
                self.state = State::Done;
                return Step::End;
            }
            self.state = State::Done;
            let what = format!(
                "the record header at byte offset {offset} ({} of {hl} bytes present)",
                src.available()
            );
            return Step::Problem(stream_problem(src, Some(number), offset, &what));
        }
        let Some(h) = self.parse_header(src.peek()) else {
            self.state = State::Done;
            return Step::End;
        };
        if h.caplen > MAX_CAPLEN {
            // A record whose length alone is damaged (its time is close to
            // the previous record's) is a packet all the same: it keeps its
            // frame number, so every later frame keeps the number it has in
            // the intact file. Garbage read as a header is no record.
            let damaged_record = self
                .last_secs
                .is_some_and(|p| (i64::from(h.secs) - p).abs() <= RESYNC_MAX_TIME_JUMP_SECS);
            if damaged_record {
                *next_number += 1;
            }
            return Step::Problem(self.resync(src, number, offset, &h));
        }
        let caplen = h.caplen as usize;
        if !src.ensure(hl + caplen) {
            self.state = State::Done;
            let what = format!(
                "the packet data of the record at byte offset {offset} ({} of {caplen} bytes present)",
                src.available().saturating_sub(hl)
            );
            return Step::Problem(stream_problem(src, Some(number), offset, &what));
        }
        let time = self.time(&h);
        self.last_secs = Some(time.secs);
        *next_number += 1;
        let data: Range<usize> = src.consume_record(hl + caplen, hl..hl + caplen);
        Step::Packet {
            number,
            time,
            link_type: self.link_type,
            data,
            orig_len: h.orig_len,
        }
    }

    /// Whether `h` could be a real record header following a record at
    /// `prev_secs` (when known). Empty records are not accepted, so a run
    /// of zero bytes is never taken for a stream of records.
    fn plausible(&self, h: &RecordHeader, prev_secs: Option<i64>) -> bool {
        let frac_limit = if self.magic.nanos {
            1_000_000_000
        } else {
            1_000_000
        };
        let secs = i64::from(h.secs);
        h.caplen > 0
            && h.caplen <= MAX_CAPLEN
            && h.caplen <= h.orig_len
            && h.orig_len <= MAX_CAPLEN * 4
            && h.frac < frac_limit
            && prev_secs.is_none_or(|p| (secs - p).abs() <= RESYNC_MAX_TIME_JUMP_SECS)
    }

    /// After a damaged record header at `offset`: scan forward (at most
    /// [`RESYNC_SCAN_BYTES`]) for a plausible record header whose successor
    /// is plausible too (or which ends exactly at the end of the file), and
    /// describe what happened.
    fn resync(
        &mut self,
        src: &mut ByteSource,
        number: u64,
        offset: u64,
        bad: &RecordHeader,
    ) -> Problem {
        let hl = self.record_header_len;
        let found = loop {
            src.consume(1);
            if src.offset() - offset > RESYNC_SCAN_BYTES {
                break false;
            }
            if !src.ensure(hl) {
                break false;
            }
            let Some(h) = self.parse_header(src.peek()) else {
                break false;
            };
            if !self.plausible(&h, self.last_secs) {
                continue;
            }
            let len = hl + h.caplen as usize;
            if src.ensure(len + hl) {
                let next = src.peek().get(len..).and_then(|b| self.parse_header(b));
                let secs = Some(i64::from(h.secs));
                if next.is_some_and(|n| self.plausible(&n, secs)) {
                    break true;
                }
            } else if src.available() == len && !src.has_error() {
                break true;
            }
        };
        let head = format!(
            "record header at byte offset {offset} claims a {}-byte packet (more than the \
             {MAX_CAPLEN} bytes any pcap reader accepts): the file is damaged here",
            bad.caplen
        );
        let message = if found {
            format!(
                "{head}; skipped {} bytes to the next plausible record at byte offset {}",
                src.offset() - offset,
                src.offset()
            )
        } else {
            self.state = State::Done;
            let scanned = src.offset() - offset;
            if scanned > RESYNC_SCAN_BYTES {
                format!(
                    "{head}; no plausible record in the next {RESYNC_SCAN_BYTES} bytes, \
                     stopped reading"
                )
            } else {
                format!("{head}; no plausible record in the rest of the file, stopped reading")
            }
        };
        Problem {
            kind: ProblemKind::Corrupt,
            frame: Some(number),
            offset: Some(offset),
            message,
        }
    }
}
