//! Microsoft Network Monitor 2.x captures (`.cap`, magic `GMBU`).
//!
//! Windows field captures come in this format; Wireshark reads it. The
//! file is a 128-byte header, the frames, and at the end a frame table:
//! one 32-bit offset per frame. Frames are numbered in table order, as
//! Wireshark numbers them.
//!
//! Layout (all little-endian): header `GMBU`, minor and major version
//! bytes, the medium (u16: 1 Ethernet, ...), the capture start as a Windows
//! SYSTEMTIME (eight u16: year, month, day of week, day, hour, minute,
//! second, millisecond), frame table offset and length (u32 each). A frame:
//! microseconds since the start (u64), original and captured length (u32
//! each), the captured bytes; from version 2.1 a trailer follows whose
//! first u16 is the frame's medium (used when the header's medium is 0).
//!
//! Because the table is at the end, the file is read through its memory
//! map (a regular file): NetMon captures on standard input or compressed
//! are refused with that reason. The start time has no zone (NetMon wrote
//! the capturing machine's local time): sipflow reads it as UTC, where
//! Wireshark applies the zone of the machine that reads the file; on a UTC
//! machine the two agree.

use std::ops::Range;

use super::pcap::MAX_CAPLEN;
use super::{LinkType, Step, Timestamp};
use crate::problem::{Problem, ProblemKind};

/// The header's size.
const HEADER_LEN: usize = 128;
/// A frame's header: time offset, original length, captured length.
const FRAME_HEADER_LEN: usize = 16;

/// Reads frames through the frame table of a whole NetMon 2.x file.
pub(crate) struct NetmonReader {
    table: Range<usize>,
    next: usize,
    start_ns: i128,
    medium: u16,
    minor: u8,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    b.get(at..at + 2)
        .and_then(|s| s.first_chunk::<2>())
        .map_or(0, |c| u16::from_le_bytes(*c))
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .and_then(|s| s.first_chunk::<4>())
        .map_or(0, |c| u32::from_le_bytes(*c))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 8)
        .and_then(|s| s.first_chunk::<8>())
        .map_or(0, |c| u64::from_le_bytes(*c))
}

/// Days from 1970-01-01 to a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The link type of a NetMon medium, as pcap numbers it: Ethernet, the
/// medium of SIP captures; any other is passed on as an unknown link type,
/// which the network stage reports.
fn link_type(medium: u16) -> LinkType {
    match medium {
        1 => LinkType::ETHERNET,
        m => LinkType(0x8000_0000 | u32::from(m)),
    }
}

impl NetmonReader {
    /// A reader for `file`, the whole capture; `Err` says why it cannot be
    /// read (a header or frame table that does not fit the file).
    pub(crate) fn new(file: &[u8]) -> Result<NetmonReader, String> {
        if file.len() < HEADER_LEN {
            return Err(format!(
                "the NetMon header needs {HEADER_LEN} bytes, the file has {}",
                file.len()
            ));
        }
        let minor = file[4];
        let major = file[5];
        if major != 2 {
            return Err(format!(
                "NetMon version {major}.{minor} is not read (2.x is)"
            ));
        }
        let medium = u16_at(file, 6);
        let st = |i: usize| i64::from(u16_at(file, 8 + 2 * i));
        let (year, month, day) = (st(0), st(1), st(3));
        if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
            return Err(format!(
                "the NetMon header's start date {year}-{month}-{day} is not a date"
            ));
        }
        let secs = days_from_civil(year, month, day) * 86_400 + st(4) * 3600 + st(5) * 60 + st(6);
        let start_ns = i128::from(secs) * 1_000_000_000 + i128::from(st(7)) * 1_000_000;
        let at = u32_at(file, 24) as usize;
        let len = u32_at(file, 28) as usize;
        let table = at..at.saturating_add(len / 4 * 4);
        if table.start < HEADER_LEN || table.end > file.len() {
            return Err(format!(
                "the NetMon frame table ({len} bytes at byte offset {at}) lies outside the \
                 {}-byte file: the file was cut short or is corrupt",
                file.len()
            ));
        }
        Ok(NetmonReader {
            next: table.start,
            table,
            start_ns,
            medium,
            minor,
        })
    }

    /// The next frame of `file` (the same bytes given to `new`).
    pub(crate) fn step(&mut self, file: &[u8], next_number: &mut u64) -> Step {
        if self.next + 4 > self.table.end {
            return Step::End;
        }
        let entry = self.next;
        self.next += 4;
        let number = *next_number;
        *next_number += 1;
        let at = u32_at(file, entry) as usize;
        let corrupt = |why: String| {
            Step::Problem(Problem {
                kind: ProblemKind::Corrupt,
                frame: Some(number),
                offset: Some(at as u64),
                message: why,
            })
        };
        if at < HEADER_LEN || at + FRAME_HEADER_LEN > file.len() {
            return corrupt(format!(
                "the frame table points frame {number} at byte offset {at}, outside the \
                     file's frames; frame skipped"
            ));
        }
        let delta_us = u64_at(file, at);
        let orig_len = u32_at(file, at + 8);
        let incl = u32_at(file, at + 12);
        if incl > MAX_CAPLEN {
            return corrupt(format!(
                "frame {number} claims {incl} captured bytes (at most {MAX_CAPLEN} are \
                     believed); frame skipped"
            ));
        }
        let data = at + FRAME_HEADER_LEN..at + FRAME_HEADER_LEN + incl as usize;
        if data.end > file.len() {
            return Step::Problem(Problem {
                kind: ProblemKind::Truncated,
                frame: Some(number),
                offset: Some(at as u64),
                message: format!(
                    "frame {number} needs {incl} bytes, the file ends first: it was cut short"
                ),
            });
        }
        // From 2.1 a trailer names each frame's medium; it counts when
        // the header names none.
        let medium = if self.medium == 0 && self.minor >= 1 {
            u16_at(file, data.end)
        } else {
            self.medium
        };
        let t = self.start_ns + i128::from(delta_us) * 1000;
        Step::Packet {
            number,
            time: Timestamp {
                secs: t.div_euclid(1_000_000_000) as i64,
                nanos: t.rem_euclid(1_000_000_000) as u32,
            },
            link_type: link_type(medium),
            data,
            orig_len,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2005, 7, 17), 12_981);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn header_that_does_not_fit_is_refused() {
        let mut h = vec![0u8; HEADER_LEN];
        h[..4].copy_from_slice(b"GMBU");
        h[5] = 2;
        h[8..10].copy_from_slice(&2005u16.to_le_bytes());
        h[10..12].copy_from_slice(&7u16.to_le_bytes());
        h[14..16].copy_from_slice(&17u16.to_le_bytes());
        h[24..28].copy_from_slice(&1000u32.to_le_bytes());
        h[28..32].copy_from_slice(&8u32.to_le_bytes());
        let e = NetmonReader::new(&h).err().unwrap();
        assert!(e.contains("outside"), "{e}");
        h[5] = 1;
        assert!(NetmonReader::new(&h).err().unwrap().contains("version"));
    }
}
