//! pcapng files: any number of sections (each with its own byte order and
//! interfaces), Enhanced, Simple and obsolete Packet Blocks; every other
//! block is skipped.
//!
//! Frame numbering follows Wireshark 4.0, which also presents Custom
//! Blocks (and sysdig and systemd-journal blocks) as frames: those take a
//! frame number here too, without being delivered, so every packet keeps
//! the number Wireshark shows.

use std::ops::Range;

use super::detect::Endian;
use super::source::ByteSource;
use super::{LinkType, Step, Timestamp, stream_problem};
use crate::problem::{Problem, ProblemKind};

/// The largest block accepted; a length field above it means the block
/// header is damaged. (Wireshark allows up to 128 MiB for D-Bus and USB
/// captures; no network capture comes near 16 MiB.)
pub const MAX_BLOCK_BYTES: usize = 16 << 20;

/// How far past a damaged block the reader looks for the next block whose
/// type is known and whose leading and trailing lengths agree.
pub const RESYNC_SCAN_BYTES: u64 = 16 << 20;

/// At most this many interfaces per section are kept; more are reported.
pub const MAX_INTERFACES: usize = 65_536;

const SHB_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
const SHB: u32 = 0x0a0d_0d0a;
const IDB: u32 = 1;
const PB: u32 = 2;
const SPB: u32 = 3;
const NRB: u32 = 4;
const ISB: u32 = 5;
const EPB: u32 = 6;
const SYSTEMD_JOURNAL: u32 = 9;
const DSB: u32 = 0x0a;
const CB_COPY: u32 = 0x0000_0bad;
const CB_NO_COPY: u32 = 0x4000_0bad;
const SYSDIG_EVENT: u32 = 0x204;
const SYSDIG_EVENT_V2: u32 = 0x216;
const SYSDIG_EVENT_V2_LARGE: u32 = 0x221;

/// Blocks Wireshark 4.0 shows as frames of their own although they hold no
/// packet: they consume a frame number.
fn is_numbered_non_packet(t: u32) -> bool {
    matches!(
        t,
        CB_COPY
            | CB_NO_COPY
            | SYSTEMD_JOURNAL
            | SYSDIG_EVENT
            | SYSDIG_EVENT_V2
            | SYSDIG_EVENT_V2_LARGE
    )
}

fn is_packet(t: u32) -> bool {
    matches!(t, EPB | SPB | PB)
}

/// Block types resynchronisation accepts as a landing point.
fn is_known(t: u32) -> bool {
    is_packet(t) || is_numbered_non_packet(t) || matches!(t, SHB | IDB | NRB | ISB | DSB)
}

fn block_name(t: u32) -> &'static str {
    match t {
        SHB => "Section Header Block",
        IDB => "Interface Description Block",
        PB => "Packet Block",
        SPB => "Simple Packet Block",
        NRB => "Name Resolution Block",
        ISB => "Interface Statistics Block",
        EPB => "Enhanced Packet Block",
        DSB => "Decryption Secrets Block",
        CB_COPY | CB_NO_COPY => "Custom Block",
        _ => "block",
    }
}

/// Why a block length cannot be right, if it cannot.
fn bad_length(t: u32, len: u32) -> Option<&'static str> {
    if len < 12 {
        Some("is shorter than the 12-byte minimum")
    } else if !len.is_multiple_of(4) {
        Some("is not a multiple of 4")
    } else if len as usize > MAX_BLOCK_BYTES {
        Some("is larger than the 16 MiB sipflow accepts")
    } else if t == SHB && len < 28 {
        Some("is too short for a Section Header Block")
    } else {
        None
    }
}

fn byte_order(bom: &[u8]) -> Option<Endian> {
    match bom {
        [0x4d, 0x3c, 0x2b, 0x1a] => Some(Endian::Little),
        [0x1a, 0x2b, 0x3c, 0x4d] => Some(Endian::Big),
        _ => None,
    }
}

/// One interface of the current section.
#[derive(Debug, Clone, Copy)]
struct Interface {
    link_type: LinkType,
    snaplen: u32,
    /// Timestamp units per second (`if_tsresol`; default 10^6).
    units_per_sec: u64,
    /// Seconds added to every timestamp (`if_tsoffset`).
    tsoffset: i64,
}

impl Interface {
    /// The exact time of `ticks` units since the epoch (plus the offset);
    /// the fraction is truncated to nanoseconds, as Wireshark does.
    fn time(&self, ticks: u64) -> Timestamp {
        let units = u128::from(self.units_per_sec.max(1));
        let t = u128::from(ticks);
        let secs = (t / units) as i128 + i128::from(self.tsoffset);
        let nanos = ((t % units) * 1_000_000_000 / units) as u32;
        Timestamp {
            secs: secs.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64,
            nanos,
        }
    }
}

/// Units per second of an `if_tsresol` value: bit 7 clear means 10^-v,
/// set means 2^-(v & 0x7f). None when it does not fit 64 bits (Wireshark
/// cannot read those either).
fn units_per_sec(tsresol: u8) -> Option<u64> {
    if tsresol & 0x80 != 0 {
        1u64.checked_shl(u32::from(tsresol & 0x7f))
    } else {
        10u64.checked_pow(u32::from(tsresol))
    }
}

/// Reader state for one pcapng stream.
pub(crate) struct PcapngReader {
    endian: Endian,
    interfaces: Vec<Interface>,
    /// Interfaces beyond [`MAX_INTERFACES`] were met in this section.
    interfaces_overflowed: bool,
    /// Inside a section whose version sipflow cannot read: looking for the
    /// next Section Header Block.
    skipping_section: bool,
    /// Time of the last packet, given to Simple Packet Blocks (which carry
    /// none) so later stages see time go on.
    last_time: Timestamp,
    done: bool,
}

/// Little helpers to read fields of a block, bounds-checked.
struct Fields<'a> {
    b: &'a [u8],
    e: Endian,
}

impl Fields<'_> {
    fn u16(&self, i: usize) -> u16 {
        match self.b.get(i..i + 2) {
            Some(&[a, b]) => self.e.u16([a, b]),
            _ => 0,
        }
    }

    fn u32(&self, i: usize) -> u32 {
        match self.b.get(i..i + 4) {
            Some(&[a, b, c, d]) => self.e.u32([a, b, c, d]),
            _ => 0,
        }
    }
}

/// What an Enhanced, Simple or obsolete Packet Block says.
struct PacketFields {
    interface: u32,
    ticks: Option<u64>,
    caplen: u32,
    orig_len: u32,
    data_start: usize,
}

/// A readable packet block: where its bytes are (relative to the block
/// start) and what goes with them.
struct Packet {
    data: Range<usize>,
    time: Timestamp,
    link_type: LinkType,
    orig_len: u32,
}

impl PcapngReader {
    pub(crate) fn new() -> Self {
        PcapngReader {
            endian: Endian::Little,
            interfaces: Vec::new(),
            interfaces_overflowed: false,
            skipping_section: false,
            last_time: Timestamp::default(),
            done: false,
        }
    }

    /// The next packet, problem or the end; `next_number` is the frame
    /// number the next record Wireshark numbers gets.
    pub(crate) fn step(&mut self, src: &mut ByteSource, next_number: &mut u64) -> Step {
        loop {
            if self.done {
                return Step::End;
            }
            if self.skipping_section && !self.skip_to_next_section(src) {
                self.done = true;
                return match src.take_error() {
                    Some(_) => {
                        let what = "an unsupported section being skipped";
                        Step::Problem(stream_problem(src, None, src.offset(), what))
                    }
                    None => Step::End,
                };
            }
            let offset = src.offset();
            if !src.ensure(8) {
                self.done = true;
                if src.available() == 0 && !src.has_error() {
                    return Step::End;
                }
                let what = format!(
                    "a block header at byte offset {offset} ({} of 8 bytes present)",
                    src.available()
                );
                return Step::Problem(stream_problem(src, None, offset, &what));
            }
            let is_shb = src.peek().starts_with(&SHB_MAGIC);
            let endian = if is_shb {
                if !src.ensure(12) {
                    self.done = true;
                    let what = format!(
                        "the Section Header Block at byte offset {offset} ({} of 28 bytes present)",
                        src.available()
                    );
                    return Step::Problem(stream_problem(src, None, offset, &what));
                }
                match byte_order(&src.peek()[8..12]) {
                    Some(e) => e,
                    None => {
                        let why = "Section Header Block has no valid byte-order magic";
                        return Step::Problem(self.resync(src, offset, why.into(), None));
                    }
                }
            } else {
                self.endian
            };
            let f = Fields {
                b: src.peek(),
                e: endian,
            };
            let btype = if is_shb { SHB } else { f.u32(0) };
            let len = f.u32(4);
            let number = is_packet(btype).then_some(*next_number);
            if let Some(why) = bad_length(btype, len) {
                let why = format!("{} length {len} {why}", block_name(btype));
                // A damaged packet block keeps its frame number, so every
                // later frame keeps the number it has in the intact file.
                if number.is_some() {
                    *next_number += 1;
                }
                return Step::Problem(self.resync(src, offset, why, number));
            }
            let len = len as usize;
            if !src.ensure(len) {
                self.done = true;
                let what = format!(
                    "a {} at byte offset {offset} ({} of {len} bytes present)",
                    block_name(btype),
                    src.available()
                );
                return Step::Problem(stream_problem(src, number, offset, &what));
            }
            let f = Fields {
                b: &src.peek()[..len],
                e: endian,
            };
            let trailer = f.u32(len - 4);
            if trailer != len as u32 {
                let why = format!(
                    "{} length {len} disagrees with its trailing copy {trailer}",
                    block_name(btype)
                );
                if number.is_some() {
                    *next_number += 1;
                }
                return Step::Problem(self.resync(src, offset, why, number));
            }
            match btype {
                SHB => {
                    let (major, minor) = (f.u16(12), f.u16(14));
                    src.consume(len);
                    self.endian = endian;
                    self.interfaces.clear();
                    self.interfaces_overflowed = false;
                    if major != 1 {
                        self.skipping_section = true;
                        return Step::Problem(Problem::at_offset(
                            ProblemKind::Unsupported,
                            offset,
                            format!(
                                "pcapng section version {major}.{minor} at byte offset {offset} \
                                 is not supported (only 1.x is; Wireshark stops here): its \
                                 packets are skipped up to the next section"
                            ),
                        ));
                    }
                }
                IDB => {
                    let problem = self.read_interface(f, offset);
                    src.consume(len);
                    if let Some(p) = problem {
                        return Step::Problem(p);
                    }
                }
                EPB | PB | SPB => {
                    *next_number += 1;
                    let number = number.unwrap_or_default();
                    return match self.packet(f, btype, len, number, offset) {
                        Ok(p) => Step::Packet {
                            number,
                            time: p.time,
                            link_type: p.link_type,
                            data: src.consume_record(len, p.data),
                            orig_len: p.orig_len,
                        },
                        Err(problem) => {
                            src.consume(len);
                            Step::Problem(problem)
                        }
                    };
                }
                t if is_numbered_non_packet(t) => {
                    *next_number += 1;
                    src.consume(len);
                }
                _ => src.consume(len),
            }
        }
    }

    /// Records an Interface Description Block.
    fn read_interface(&mut self, f: Fields<'_>, offset: u64) -> Option<Problem> {
        if f.b.len() < 20 {
            return Some(Problem::at_offset(
                ProblemKind::Corrupt,
                offset,
                format!(
                    "Interface Description Block at byte offset {offset} is {} bytes long, \
                     too short to describe an interface; packets on it cannot be read",
                    f.b.len()
                ),
            ));
        }
        if self.interfaces.len() >= MAX_INTERFACES {
            if self.interfaces_overflowed {
                return None;
            }
            self.interfaces_overflowed = true;
            return Some(Problem::at_offset(
                ProblemKind::Overload,
                offset,
                format!(
                    "more than {MAX_INTERFACES} interfaces in one pcapng section; packets on \
                     the ones beyond are reported as unreadable"
                ),
            ));
        }
        let mut iface = Interface {
            link_type: LinkType(u32::from(f.u16(8))),
            snaplen: f.u32(12),
            units_per_sec: 1_000_000,
            tsoffset: 0,
        };
        let mut problem = None;
        let options = f.b.get(16..f.b.len() - 4).unwrap_or(&[]);
        for (code, value) in Options::new(options, f.e) {
            match (code, value) {
                (9, [resol, ..]) => match units_per_sec(*resol) {
                    Some(u) => iface.units_per_sec = u,
                    None => {
                        problem = Some(Problem::at_offset(
                            ProblemKind::Unsupported,
                            offset,
                            format!(
                                "interface {} declares a timestamp resolution (if_tsresol \
                                 0x{resol:02x}) finer than 64 bits can count; its timestamps \
                                 are read as microseconds",
                                self.interfaces.len()
                            ),
                        ))
                    }
                },
                (14, &[a, b, c, d, e, g, h, i, ..]) => {
                    iface.tsoffset = f.e.u64([a, b, c, d, e, g, h, i]) as i64;
                }
                _ => {}
            }
        }
        self.interfaces.push(iface);
        problem
    }

    /// A packet block's frame, or the problem that makes it unreadable.
    fn packet(
        &mut self,
        f: Fields<'_>,
        btype: u32,
        len: usize,
        number: u64,
        offset: u64,
    ) -> Result<Packet, Problem> {
        let corrupt = |message: String| Problem::at_frame(ProblemKind::Corrupt, number, message);
        let min = if btype == SPB { 16 } else { 32 };
        if len < min {
            return Err(corrupt(format!(
                "{} at byte offset {offset} is {len} bytes long, shorter than the {min}-byte \
                 minimum",
                block_name(btype)
            )));
        }
        let p = match btype {
            SPB => PacketFields {
                interface: 0,
                ticks: None,
                caplen: 0,
                orig_len: f.u32(8),
                data_start: 12,
            },
            _ => PacketFields {
                interface: if btype == PB {
                    u32::from(f.u16(8))
                } else {
                    f.u32(8)
                },
                ticks: Some((u64::from(f.u32(12)) << 32) | u64::from(f.u32(16))),
                caplen: f.u32(20),
                orig_len: f.u32(24),
                data_start: 28,
            },
        };
        let Some(iface) = self.interfaces.get(p.interface as usize).copied() else {
            return Err(corrupt(format!(
                "{} at byte offset {offset} refers to interface {} but its section describes \
                 only {}",
                block_name(btype),
                p.interface,
                self.interfaces.len()
            )));
        };
        let room = len - p.data_start - 4;
        let caplen = if btype == SPB {
            // The spec: min(original length, interface snaplen), within the block.
            let mut c = p.orig_len as usize;
            if iface.snaplen != 0 {
                c = c.min(iface.snaplen as usize);
            }
            c.min(room)
        } else {
            p.caplen as usize
        };
        if caplen > room {
            return Err(corrupt(format!(
                "{} at byte offset {offset} claims {caplen} captured bytes but holds only {room}",
                block_name(btype)
            )));
        }
        let time = match p.ticks {
            Some(t) => iface.time(t),
            None => self.last_time,
        };
        self.last_time = time;
        Ok(Packet {
            data: p.data_start..p.data_start + caplen,
            time,
            link_type: iface.link_type,
            orig_len: p.orig_len,
        })
    }

    /// Advances to the next Section Header Block (magic followed by a valid
    /// byte-order magic). False when the stream ends first.
    fn skip_to_next_section(&mut self, src: &mut ByteSource) -> bool {
        let finder = memchr::memmem::Finder::new(&SHB_MAGIC);
        loop {
            if !src.ensure(12) {
                return false;
            }
            let p = src.peek();
            let hit = finder
                .find_iter(p)
                .find(|&i| p.get(i + 8..i + 12).and_then(byte_order).is_some());
            match hit {
                Some(i) => {
                    src.consume(i);
                    self.skipping_section = false;
                    return true;
                }
                // Keep the last 11 bytes: a magic may straddle the refill.
                None => src.consume(p.len() - 11),
            }
        }
    }

    /// After a damaged block at `offset`: scan forward (at most
    /// [`RESYNC_SCAN_BYTES`]) for a block of a known type whose leading and
    /// trailing lengths agree, and describe what happened.
    fn resync(
        &mut self,
        src: &mut ByteSource,
        offset: u64,
        why: String,
        number: Option<u64>,
    ) -> Problem {
        let found = loop {
            src.consume(1);
            if src.offset() - offset > RESYNC_SCAN_BYTES || !src.ensure(12) {
                break false;
            }
            let p = src.peek();
            let (e, t) = if p.starts_with(&SHB_MAGIC) {
                match byte_order(&p[8..12]) {
                    Some(e) => (e, SHB),
                    None => continue,
                }
            } else {
                (self.endian, self.endian.u32([p[0], p[1], p[2], p[3]]))
            };
            if !is_known(t) {
                continue;
            }
            let len = e.u32([p[4], p[5], p[6], p[7]]);
            if bad_length(t, len).is_some() || !src.ensure(len as usize) {
                continue;
            }
            let p = src.peek();
            let l = len as usize;
            if e.u32([p[l - 4], p[l - 3], p[l - 2], p[l - 1]]) == len {
                break true;
            }
        };
        let head = format!("block at byte offset {offset} is damaged: {why}");
        let message = if found {
            format!(
                "{head}; skipped {} bytes to the next intact block at byte offset {}",
                src.offset() - offset,
                src.offset()
            )
        } else {
            self.done = true;
            if src.offset() - offset > RESYNC_SCAN_BYTES {
                format!(
                    "{head}; no intact block in the next {RESYNC_SCAN_BYTES} bytes, stopped reading"
                )
            } else {
                format!("{head}; no intact block in the rest of the file, stopped reading")
            }
        };
        Problem {
            kind: ProblemKind::Corrupt,
            frame: number,
            offset: Some(offset),
            message,
        }
    }
}

/// The options of a block: (code, value) pairs up to `opt_endofopt` or the
/// first one that does not fit.
struct Options<'a> {
    b: &'a [u8],
    e: Endian,
}

impl<'a> Options<'a> {
    fn new(b: &'a [u8], e: Endian) -> Self {
        Options { b, e }
    }
}

impl<'a> Iterator for Options<'a> {
    type Item = (u16, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let &[c0, c1, l0, l1, ..] = self.b else {
            return None;
        };
        let code = self.e.u16([c0, c1]);
        let len = usize::from(self.e.u16([l0, l1]));
        if code == 0 {
            return None;
        }
        let value = self.b.get(4..4 + len)?;
        let padded = (4 + len).div_ceil(4) * 4;
        self.b = self.b.get(padded..).unwrap_or(&[]);
        Some((code, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolutions_powers_of_ten_and_two() {
        assert_eq!(units_per_sec(6), Some(1_000_000));
        assert_eq!(units_per_sec(2), Some(100));
        assert_eq!(units_per_sec(0x80 | 10), Some(1024));
        assert_eq!(units_per_sec(19), Some(10_000_000_000_000_000_000));
        assert_eq!(units_per_sec(20), None);
        assert_eq!(units_per_sec(0x80 | 64), None);
        let iface = Interface {
            link_type: LinkType::ETHERNET,
            snaplen: 0,
            units_per_sec: 1024,
            tsoffset: -10,
        };
        // 1.5 s + 1/1024 s: the fraction truncates to whole nanoseconds.
        let t = iface.time(1024 + 512 + 1);
        assert_eq!(t.secs, 1 - 10);
        assert_eq!(t.nanos, 500_976_562);
    }
}
