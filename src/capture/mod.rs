//! Stage 1: bytes on disk → frames.
//!
//! A capture file (classic pcap, pcapng or Solaris snoop, possibly gzip-,
//! zstd- or lz4-compressed, possibly standard input) is read front to back,
//! once, as a stream (a plain file through its memory map, `mmap.rs`); a
//! Microsoft NetMon 2.x file is read through its frame table, which lies at
//! its end (`netmon.rs`). Each packet record becomes a [`Frame`] numbered
//! exactly as Wireshark numbers it. [`open`] (or
//! [`CaptureReader::from_reader`] for standard input) tells the format from
//! the first bytes, never from the file's name; then
//! [`CaptureReader::next`] lends one [`Item`] at a time: a frame borrowed
//! from the reader's buffer, or a [`Problem`] met on the way.
//!
//! # Why sipflow has its own pcap and pcapng readers
//!
//! The `pcap-parser` crate was considered and not used. Its streaming
//! reader is fast, but it returns no timestamp resolution for power-of-2
//! `if_tsresol`, reads `if_tsoffset` little-endian whatever the section's
//! byte order, and its slice API fails on big-endian pcap; more
//! importantly, its errors stop at the first damaged record, while sipflow
//! must report the damage and *resynchronise* (scan for the next plausible
//! record) with exact byte offsets and frame numbers. The two formats are
//! small (a fixed record header; a block with a leading and trailing
//! length), so owning the parsers ([`pcap`], [`pcapng`]) costs about as
//! much code as adapting a library to these needs, and every length field
//! is checked before a byte is buffered for it.
//!
//! # Memory
//!
//! One buffer per reader (`source.rs`), [`INITIAL_BUFFER_BYTES`] (1 MiB),
//! grown only for a record larger than that and never past
//! [`MAX_BUFFER_BYTES`] (16 MiB + 64 KiB); a frame's bytes are a slice of
//! it. pcap records may claim at most [`pcap::MAX_CAPLEN`] bytes (256 KiB,
//! as libpcap and Wireshark), pcapng blocks at most
//! [`pcapng::MAX_BLOCK_BYTES`] (16 MiB); larger claims are reported as
//! corrupt, never allocated. gzip adds flate2's 32 KiB window; zstd adds
//! the compressor's window (at most 128 MiB, `ruzstd`'s limit); lz4 one
//! block (at most 4 MiB) and its 64 KiB window.
//!
//! # Damage
//!
//! A truncated record ends the stream with a `truncated` problem naming
//! the frame it would have been and its byte offset. A record with an
//! impossible length gives a `corrupt` problem; the reader then scans
//! forward (at most 16 MiB) for the next plausible record: for pcap a
//! header with sane lengths and a time within a day of the last good one,
//! followed by another such header; for pcapng a block of a known type
//! whose leading and trailing lengths agree. If none is found, reading
//! stops there. Frames after a resynchronisation are numbered on from the
//! last good one (Wireshark stops at the damage, so there is no numbering
//! to follow). Byte offsets are in the decompressed stream.
//!
//! # Timestamps
//!
//! Computed exactly from each format's fields to the nanosecond: pcap µs
//! and ns; pcapng `if_tsresol` as a power of 10 or of 2 (fraction
//! truncated to whole nanoseconds, as Wireshark does) plus `if_tsoffset`.
//! A Simple Packet Block has no timestamp: it gets the time of the
//! packet before it (0 if none), so later stages' time horizons keep
//! moving; Wireshark shows no time for it.
//!
//! # Throughput
//!
//! Measured once (release build, this 2-core machine, file in the page
//! cache, frames drained without further work): a 500 MB classic pcap made
//! of 540 copies of the records of `sipnab/SIP_CALL_RTP_G711` (2.3 M
//! frames) reads at about 3,400 MB/s; a 500 MB pcapng of 135 copies of
//! `sipnab/sipp-branch-scenario.pcapng` (1.2 M frames, 135 sections) at
//! about 4,000 MB/s; the same pcap through a pipe on standard input at
//! 1,300 MB/s (the pipe is the limit). Compressed, decompression dominates:
//! gzip -1 (185 MB) at 200 MB/s of capture bytes (flate2 with miniz_oxide),
//! zstd -3 (13 MB) at 860 MB/s of capture bytes (`ruzstd`).

use std::fmt;

/// A capture timestamp: seconds and nanoseconds since the Unix epoch.
///
/// Computed by sipflow itself from each format's resolution fields, so it
/// is exact to the nanosecond whatever the file's resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp {
    /// Whole seconds since the epoch (negative before 1970).
    pub secs: i64,
    /// Nanoseconds within the second, always below 10^9.
    pub nanos: u32,
}

impl Timestamp {
    /// Seconds since the epoch as a float (for JSON `time`).
    pub fn as_secs_f64(self) -> f64 {
        self.secs as f64 + self.nanos as f64 / 1e9
    }

    /// Nanoseconds since the epoch (saturating), handy for differences.
    pub fn as_nanos(self) -> i128 {
        self.secs as i128 * 1_000_000_000 + self.nanos as i128
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:09}", self.secs, self.nanos)
    }
}

/// A link-layer header type (the LINKTYPE_* registry of tcpdump.org).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LinkType(pub u32);

/// The link types SIP captures come with; the net stage decodes these.
impl LinkType {
    /// BSD loopback: a 4-byte address family in host byte order.
    pub const NULL: LinkType = LinkType(0);
    /// Ethernet II (and 802.3), possibly VLAN-tagged.
    pub const ETHERNET: LinkType = LinkType(1);
    /// PPP, starting with the protocol field.
    pub const PPP: LinkType = LinkType(9);
    /// Raw IPv4 or IPv6 (version nibble tells which).
    pub const RAW: LinkType = LinkType(101);
    /// OpenBSD loopback: a 4-byte address family in network byte order.
    pub const LOOP: LinkType = LinkType(108);
    /// Linux cooked capture v1 (16-byte header).
    pub const LINUX_SLL: LinkType = LinkType(113);
    /// Raw IPv4.
    pub const IPV4: LinkType = LinkType(228);
    /// Raw IPv6.
    pub const IPV6: LinkType = LinkType(229);
    /// Linux Netlink messages (no IP inside; listed to be named).
    pub const NETLINK: LinkType = LinkType(253);
    /// Linux cooked capture v2 (20-byte header).
    pub const LINUX_SLL2: LinkType = LinkType(276);
}

/// One packet record of a capture, borrowed from the reader's buffer.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// 1-based, every packet record counted, as Wireshark's `frame.number`
    /// (including the pcapng records Wireshark numbers without being
    /// packets, such as Custom Blocks, which are not delivered).
    pub number: u64,
    /// When the packet was captured (see the module doc on timestamps).
    pub time: Timestamp,
    /// How to decode `data`: the file's link type (pcap) or the
    /// interface's (pcapng).
    pub link_type: LinkType,
    /// The captured bytes (`caplen` of them).
    pub data: &'a [u8],
    /// The packet's length on the wire (may exceed `data.len()` when the
    /// capture's snaplen cut it).
    pub orig_len: u32,
}

mod decompress;
mod detect;
mod mmap;
mod netmon;
pub mod pcap;
pub mod pcapng;
mod snoop;
mod source;

use std::fs::File;
use std::io::{self, Read};
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::problem::{Problem, ProblemKind};
use detect::{Detected, OtherHint, PREFIX_LEN};
use pcap::PcapReader;
use pcapng::PcapngReader;
use source::{ByteSource, CountingReader};
pub use source::{INITIAL_BUFFER_BYTES, MAX_BUFFER_BYTES, SharedInput};

/// What [`CaptureReader::next`] lends: a frame, or a problem met while
/// reading (problems are data; reading goes on past them when it can).
#[derive(Debug)]
pub enum Item<'a> {
    /// The next packet.
    Frame(Frame<'a>),
    /// Something in the file that could not be read as it should.
    Problem(Problem),
}

/// Why a file could not be opened as a capture at all (the command exits
/// with status 2). Its `Display` names the file and says what to do.
#[derive(Debug)]
pub struct OpenError {
    file: String,
    kind: OpenErrorKind,
    message: String,
}

/// The reason class of an [`OpenError`], for callers and tests that act on
/// it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenErrorKind {
    /// The file could not be opened or read.
    Io,
    /// The file (or the decompressed stream) has no bytes at all.
    Empty,
    /// A capture or compressed format sipflow recognises but does not read
    /// (the value names it, e.g. "Solaris snoop capture").
    OtherFormat(&'static str),
    /// Compressed data that cannot be decompressed.
    Corrupt,
    /// Nothing sipflow knows.
    NotACapture,
}

impl OpenError {
    fn new(file: &str, kind: OpenErrorKind, message: String) -> Self {
        OpenError {
            file: file.to_string(),
            kind,
            message,
        }
    }

    /// The file name (as given to [`open`] or [`CaptureReader::from_reader`]).
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The reason class.
    pub fn kind(&self) -> &OpenErrorKind {
        &self.kind
    }

    /// What went wrong and what to do, without the file name (for reports
    /// that name the file already).
    pub fn reason(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file, self.message)
    }
}

impl std::error::Error for OpenError {}

/// The parser for the detected format.
enum Parser {
    Pcap(PcapReader),
    Pcapng(PcapngReader),
    Netmon(netmon::NetmonReader),
    Snoop(snoop::SnoopReader),
}

/// What a format parser produces per step; a packet's bytes are a range of
/// the [`ByteSource`] buffer, turned into a slice by [`CaptureReader`].
pub(crate) enum Step {
    Packet {
        number: u64,
        time: Timestamp,
        link_type: LinkType,
        data: Range<usize>,
        orig_len: u32,
    },
    Problem(Problem),
    End,
}

/// The problem for a stream that ended (or failed) inside `what`, which
/// began at `offset`.
pub(crate) fn stream_problem(
    src: &mut ByteSource,
    frame: Option<u64>,
    offset: u64,
    what: &str,
) -> Problem {
    let (kind, message) = match src.take_error() {
        Some(e) => {
            let kind = match e.kind() {
                io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput => ProblemKind::Corrupt,
                _ => ProblemKind::Truncated,
            };
            (
                kind,
                format!("read error inside {what}: {e}; stopped reading"),
            )
        }
        None => (
            ProblemKind::Truncated,
            format!("the file ends inside {what}: it was cut short"),
        ),
    };
    Problem {
        kind,
        frame,
        offset: Some(offset),
        message,
    }
}

/// A capture being read: yields frames and problems in file order.
///
/// Streaming: the file is read once, front to back, through one reusable
/// buffer; standard input works the same as a file (no seeking).
pub struct CaptureReader {
    name: String,
    format_name: String,
    src: ByteSource,
    parser: Parser,
    next_number: u64,
    raw_bytes: Arc<AtomicU64>,
    cut: CutWatch,
}

/// Watching a mapped file for being cut short while it is read (see
/// `mmap.rs`): where it was cut, once known, and whether reading stopped.
#[derive(Debug, Default)]
struct CutWatch {
    /// The file's length once a fault (or the check of its last page)
    /// showed it shorter than the mapping; or, after a fault with the
    /// length unchanged (an I/O error), where reading must stop.
    at: Option<u64>,
    /// The file's length was checked when the reader entered its last page.
    last_page_checked: bool,
    /// The cut was reported: nothing more is read.
    stopped: bool,
}

/// Opens a capture file and tells its format from its first bytes.
pub fn open(path: &Path) -> Result<CaptureReader, OpenError> {
    let name = path.display().to_string();
    let file = File::open(path)
        .map_err(|e| OpenError::new(&name, OpenErrorKind::Io, format!("cannot open: {e}")))?;
    if let Some(map) = mmap::Map::of(&file) {
        let bytes = map.bytes();
        let detected = detect::detect(&bytes[..bytes.len().min(PREFIX_LEN)]);
        // An uncompressed capture is parsed from the mapping; anything else
        // (compressed, or not a capture) takes the stream path, which
        // decompresses it or says what it is.
        let parser = if detected == Detected::Netmon {
            let reader = netmon::NetmonReader::new(bytes)
                .map_err(|why| OpenError::new(&name, OpenErrorKind::Corrupt, why))?;
            Some((Parser::Netmon(reader), "NetMon 2.x"))
        } else {
            parser_for(detected)
        };
        if let Some((parser, format)) = parser {
            let len = bytes.len() as u64;
            return Ok(CaptureReader {
                name,
                format_name: format.to_string(),
                src: ByteSource::mapped(map),
                parser,
                next_number: 1,
                raw_bytes: Arc::new(AtomicU64::new(len)),
                cut: CutWatch::default(),
            });
        }
    }
    CaptureReader::from_reader(Box::new(file), name)
}

/// The most of a NetMon capture read from a stream (standard input, or
/// compressed): its frame table is at its end, so the whole capture is held
/// in memory. A larger one must be given as a file (which is mapped).
pub const MAX_NETMON_STREAM_BYTES: usize = 256 << 20;

fn netmon_from_stream(
    name: String,
    prefix: Vec<u8>,
    inner: Box<dyn Read + Send>,
    compression: Option<&str>,
    raw_bytes: Arc<AtomicU64>,
) -> Result<CaptureReader, OpenError> {
    let mut all = prefix;
    let limit = (MAX_NETMON_STREAM_BYTES + 1 - all.len().min(MAX_NETMON_STREAM_BYTES)) as u64;
    inner
        .take(limit)
        .read_to_end(&mut all)
        .map_err(|e| OpenError::new(&name, OpenErrorKind::Io, format!("cannot read: {e}")))?;
    if all.len() > MAX_NETMON_STREAM_BYTES {
        return Err(OpenError::new(
            &name,
            OpenErrorKind::OtherFormat("NetMon 2.x capture on a stream, too large"),
            format!(
                "this NetMon 2.x capture is larger than {} MiB: a NetMon capture read from a \
                 stream is held in memory whole (its frame table is at its end); give sipflow \
                 the uncompressed file instead",
                MAX_NETMON_STREAM_BYTES >> 20
            ),
        ));
    }
    let reader = netmon::NetmonReader::new(&all)
        .map_err(|why| OpenError::new(&name, OpenErrorKind::Corrupt, why))?;
    Ok(CaptureReader {
        name,
        format_name: match compression {
            Some(c) => format!("NetMon 2.x ({c})"),
            None => "NetMon 2.x".to_string(),
        },
        src: ByteSource::in_memory(all),
        parser: Parser::Netmon(reader),
        next_number: 1,
        raw_bytes,
        cut: CutWatch::default(),
    })
}

/// The reader for a detected capture format, with the format's name.
fn parser_for(detected: Detected) -> Option<(Parser, &'static str)> {
    match detected {
        Detected::Pcap(m) => Some((
            Parser::Pcap(PcapReader::new(m)),
            if m.modified { "modified pcap" } else { "pcap" },
        )),
        Detected::Pcapng => Some((Parser::Pcapng(PcapngReader::new()), "pcapng")),
        Detected::Snoop => Some((Parser::Snoop(snoop::SnoopReader::new()), "snoop")),
        _ => None,
    }
}

impl CaptureReader {
    /// Reads a capture from any byte stream (standard input is passed here
    /// as `-`); `name` is used in messages.
    pub fn from_reader(r: Box<dyn Read + Send>, name: String) -> Result<CaptureReader, OpenError> {
        let raw_bytes = Arc::new(AtomicU64::new(0));
        let mut raw: Box<dyn Read + Send> =
            Box::new(CountingReader::new(r, Arc::clone(&raw_bytes)));
        let prefix = source::read_prefix(&mut raw, PREFIX_LEN)
            .map_err(|e| OpenError::new(&name, OpenErrorKind::Io, format!("cannot read: {e}")))?;
        if prefix.is_empty() {
            return Err(OpenError::new(
                &name,
                OpenErrorKind::Empty,
                "empty file".into(),
            ));
        }
        let compression = match detect::detect(&prefix) {
            Detected::Gzip => Some("gzip"),
            Detected::Zstd => Some("zstd"),
            Detected::Lz4 => Some("lz4"),
            _ => None,
        };
        let (prefix, inner) = match compression {
            None => (prefix, raw),
            Some(c) => {
                let chained = io::Cursor::new(prefix).chain(raw);
                let mut inner = match c {
                    "gzip" => decompress::gzip(chained),
                    "lz4" => decompress::lz4(chained),
                    _ => decompress::zstd(chained),
                };
                let inner_prefix = source::read_prefix(&mut inner, PREFIX_LEN).map_err(|e| {
                    let why = if e.kind() == io::ErrorKind::UnexpectedEof {
                        "the compressed data is cut short before its first bytes could be decoded"
                    } else {
                        "the compressed data is corrupt"
                    };
                    OpenError::new(
                        &name,
                        OpenErrorKind::Corrupt,
                        format!("cannot decompress ({c}): {why} ({e})"),
                    )
                })?;
                if inner_prefix.is_empty() {
                    return Err(OpenError::new(
                        &name,
                        OpenErrorKind::Empty,
                        format!("empty file (the {c} data decompresses to nothing)"),
                    ));
                }
                (inner_prefix, inner)
            }
        };
        let detected = detect::detect(&prefix);
        if detected == Detected::Netmon {
            return netmon_from_stream(name, prefix, inner, compression, raw_bytes);
        }
        let Some((parser, base)) = parser_for(detected) else {
            return Err(not_readable(&name, detected, compression, &prefix));
        };
        let format_name = match compression {
            Some(c) => format!("{base} ({c})"),
            None => base.to_string(),
        };
        Ok(CaptureReader {
            name,
            format_name,
            src: ByteSource::new(&prefix, inner),
            parser,
            next_number: 1,
            raw_bytes,
            cut: CutWatch::default(),
        })
    }

    /// The next frame or problem, or `None` at the end of the capture.
    ///
    /// A lending iterator: the frame borrows the reader's buffer, so it
    /// must be dropped before the next call.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<Item<'_>> {
        if self.cut.stopped {
            return None;
        }
        let start = self.src.offset();
        let step = match &mut self.parser {
            Parser::Pcap(p) => p.step(&mut self.src, &mut self.next_number),
            Parser::Pcapng(p) => p.step(&mut self.src, &mut self.next_number),
            Parser::Netmon(p) => p.step(self.src.whole(), &mut self.next_number),
            Parser::Snoop(p) => p.step(&mut self.src, &mut self.next_number),
        };
        if let Some(map) = self.src.map() {
            // A mapped file: the bytes of this step must still be in the
            // file (offsets in the mapping are file offsets). Per step: a
            // byte read, a flag load; the rest only when something is up.
            let end = match &step {
                Step::Packet { data, .. } => (data.end as u64).max(self.src.offset()),
                _ => self.src.offset(),
            };
            let page_after = map.touch_after(usize::try_from(end).unwrap_or(usize::MAX));
            let at_end = matches!(step, Step::End);
            if (map.faulted() || !page_after || at_end || self.cut.at.is_some())
                && let Some(p) = self.watch_cut(start, end, !page_after, at_end)
            {
                self.cut.stopped = true;
                return Some(Item::Problem(p));
            }
        }
        match step {
            Step::Packet {
                number,
                time,
                link_type,
                data,
                orig_len,
            } => Some(Item::Frame(Frame {
                number,
                time,
                link_type,
                data: self.src.slice(data),
                orig_len,
            })),
            Step::Problem(p) => Some(Item::Problem(p)),
            Step::End => None,
        }
    }

    /// For a mapped file, after a step that read up to file offset `end`
    /// (from `start`; `in_last_page`: no page of the mapping follows `end`;
    /// `at_end`: the step found the end of the input), when a fault was
    /// seen or one of those holds: the problem that ends reading when the
    /// file was cut short before `end`. The file's length is asked only
    /// after a fault, on entering its last page and at its end (see
    /// `mmap.rs`).
    #[cold]
    fn watch_cut(
        &mut self,
        start: u64,
        end: u64,
        in_last_page: bool,
        at_end: bool,
    ) -> Option<Problem> {
        let map = self.src.map()?;
        let faulted = map.take_fault();
        let last_page = !self.cut.last_page_checked && in_last_page;
        let opened = map.bytes().len() as u64;
        let mut now = None;
        if faulted || last_page || at_end {
            self.cut.last_page_checked |= last_page;
            now = map.file_len();
            let at = match now {
                Some(len) if len < opened => Some(len),
                // A page could not be read though the file is as long as it
                // was (an I/O error, or cut and grown again): stop here.
                _ if faulted => Some(start),
                _ => None,
            };
            if let Some(at) = at {
                self.cut.at = Some(self.cut.at.map_or(at, |c| c.min(at)));
            }
        }
        let cut = self.cut.at?;
        if end <= cut && !at_end {
            return None;
        }
        let now = now.or_else(|| self.src.map()?.file_len());
        let message = match now {
            Some(len) if len < opened => format!(
                "the file was cut short while being read: it is now {len} bytes long ({opened} \
                 when it was opened); the record at this offset and all after it are gone, \
                 reading stopped here (copy a capture that is still being written before \
                 reading it)"
            ),
            _ => "a page of the file could not be read through its memory map (an I/O error, \
                  or the file was cut short and grown again); reading stopped here (set \
                  SIPFLOW_NO_MMAP=1 to read it as a stream)"
                .to_string(),
        };
        Some(Problem {
            kind: ProblemKind::Truncated,
            frame: None,
            offset: Some(start.min(cut)),
            message,
        })
    }

    /// The file's name as given (for messages).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The detected format, e.g. "pcap", "pcapng", "pcap (gzip)",
    /// "pcapng (zstd)", "modified pcap".
    pub fn format_name(&self) -> &str {
        &self.format_name
    }

    /// Bytes read so far from the input (compressed bytes for a compressed
    /// file), for progress against the file's size.
    pub fn bytes_read(&self) -> u64 {
        self.raw_bytes.load(Ordering::Relaxed)
    }

    /// Stream offset (in decompressed bytes) of the next unread byte.
    pub fn offset(&self) -> u64 {
        self.src.offset()
    }

    /// The whole input when it is held in memory (a mapped file, a NetMon
    /// stream), so that later stages can keep packets as ranges of it
    /// instead of copies; `None` for a stream. Once it is shared, its
    /// holders hand pages back ([`SharedInput::release_before`]), not the
    /// reader.
    pub fn share_input(&mut self) -> Option<SharedInput> {
        self.src.share()
    }

    /// Current size of the reader's buffer; never above
    /// [`MAX_BUFFER_BYTES`] whatever the file's length fields claim.
    pub fn buffer_capacity(&self) -> usize {
        self.src.capacity()
    }
}

/// The open error for a stream that is not (or does not contain) a format
/// sipflow reads.
fn not_readable(
    name: &str,
    detected: Detected,
    compression: Option<&str>,
    prefix: &[u8],
) -> OpenError {
    let inside = match compression {
        Some(c) => format!(" inside {c} compression"),
        None => String::new(),
    };
    match detected {
        Detected::Other(what, OtherHint::Convert) => OpenError::new(
            name,
            OpenErrorKind::OtherFormat(what),
            format!(
                "this is a {what}{inside}, which sipflow does not read; convert it to pcapng \
                 with Wireshark's `editcap -F pcapng IN OUT` and give sipflow the result"
            ),
        ),
        Detected::Other(what, OtherHint::Unpack(tool)) => OpenError::new(
            name,
            OpenErrorKind::OtherFormat(what),
            format!(
                "this is a {what}{inside}, which sipflow does not read; unpack it first \
                 (`{tool}`), or convert it with `editcap -F pcapng IN OUT`"
            ),
        ),
        Detected::Gzip | Detected::Zstd | Detected::Lz4 => OpenError::new(
            name,
            OpenErrorKind::OtherFormat("compressed twice"),
            format!(
                "the data{inside} is compressed again; decompress it once and give sipflow \
                 the result"
            ),
        ),
        _ => OpenError::new(
            name,
            OpenErrorKind::NotACapture,
            format!(
                "not a capture file{inside} (first bytes: {}); sipflow reads pcap and pcapng \
                 captures, plain or compressed with gzip, zstd or lz4",
                detect::hex(prefix)
            ),
        ),
    }
}
