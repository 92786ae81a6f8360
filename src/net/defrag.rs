//! IP fragment reassembly (IPv4 and IPv6), bounded in time and memory.
//!
//! Fragments are keyed by (source, destination, identification, protocol),
//! never by ports: only the first fragment has them. Each datagram in
//! progress owns a buffer the pieces are copied into at their offset, and a
//! [`RangeSet`] of the bytes present, so fragments may come in any order,
//! duplicated or overlapping (the first copy of a byte wins).
//!
//! Bounds:
//! - time: a datagram not complete `timeout` (capture time) after its first
//!   fragment is dropped and reported (`fragment`); deadlines sit in a FIFO
//!   ([`Timers`]), so expiry costs constant time per datagram;
//! - memory: each datagram is at most 65,535 bytes; all buffers together
//!   (plus a fixed overhead per datagram) stay under `memory`: to make room,
//!   the oldest datagram is dropped and reported (`overload`);
//! - pieces: a datagram may not be split into more than [`MAX_PIECES`]
//!   disjoint pieces.
//!
//! Why not etherparse's `defrag::IpDefragPool`: it has no memory cap and no
//! timeout of its own (the caller must scan for stale entries), and it
//! allocates per datagram; the range bookkeeping here is shared with the
//! TCP reassembler anyway.

// Fx, not SipHash: keys come from the capture, but the table is bounded, so
// crafted collisions cost time on a bounded table only; SipHash cost ~3% of
// the reading thread.
use rustc_hash::FxHashMap as HashMap;
use std::net::IpAddr;

use super::ranges::{Piece, RangeSet};
use super::timers::Timers;
use super::{At, NetEvent, NetStats};
use crate::problem::{Problem, ProblemKind};

/// The largest reassembled payload accepted (the IP length field's range).
pub(crate) const MAX_DATAGRAM: u32 = 65_535;
/// Most disjoint pieces one datagram may be in at a time.
pub(crate) const MAX_PIECES: usize = 1024;
/// Memory charged per datagram in progress besides its buffer (map entry,
/// slot, timer, ranges).
const OVERHEAD: usize = 256;
/// Spare buffers kept for reuse.
const SPARE_BUFFERS: usize = 4;

/// What identifies the fragments of one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct FragKey {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub id: u32,
    pub proto: u8,
}

/// One fragment, as the IP header described it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fragment<'a> {
    pub key: FragKey,
    pub offset: u32,
    pub more: bool,
    pub data: &'a [u8],
}

struct Datagram {
    key: FragKey,
    token: u64,
    buf: Vec<u8>,
    have: RangeSet,
    /// Payload length, known once the last fragment (MF = 0) arrived.
    total: Option<u32>,
    first_frame: u64,
    fragments: u32,
    /// Memory charged for this datagram.
    charged: usize,
}

/// Datagrams in progress; see the module doc.
pub(crate) struct Defrag {
    index: HashMap<FragKey, u32>,
    slots: Vec<Option<Datagram>>,
    free: Vec<u32>,
    timers: Timers,
    spare: Vec<Vec<u8>>,
    used: usize,
    memory: usize,
    timeout: i64,
    next_token: u64,
}

/// Why a datagram is being dropped.
#[derive(Clone, Copy)]
enum Drop {
    Expired,
    Overload,
    EndOfCapture,
    TooManyPieces,
}

impl Defrag {
    /// A pool holding at most `memory` bytes, dropping datagrams
    /// `timeout_nanos` after their first fragment.
    pub fn new(memory: usize, timeout_nanos: i64) -> Self {
        Defrag {
            index: HashMap::default(),
            slots: Vec::new(),
            free: Vec::new(),
            timers: Timers::default(),
            spare: Vec::new(),
            used: 0,
            memory,
            timeout: timeout_nanos,
            next_token: 0,
        }
    }

    /// Bytes currently charged (buffers, spare buffers and overhead).
    pub fn memory_used(&self) -> usize {
        self.used
    }

    /// Number of datagrams in progress.
    pub fn in_progress(&self) -> usize {
        self.index.len()
    }

    /// Adds a fragment; returns the whole payload when this fragment
    /// completed its datagram. Give the buffer back with [`Defrag::recycle`].
    pub fn insert(
        &mut self,
        frag: Fragment<'_>,
        at: &At,
        sink: &mut dyn FnMut(NetEvent<'_>),
        stats: &mut NetStats,
    ) -> Option<Vec<u8>> {
        stats.ip_fragments += 1;
        let start = frag.offset;
        let Some(end) = u32::try_from(frag.data.len())
            .ok()
            .and_then(|n| start.checked_add(n))
            .filter(|&e| e <= MAX_DATAGRAM)
        else {
            stats.problems += 1;
            sink(NetEvent::Problem(Problem::at_frame(
                ProblemKind::Corrupt,
                at.frame,
                format!(
                    "IP fragment {} -> {} id {:#x} reaches past {MAX_DATAGRAM} bytes \
                     (offset {start}, {} bytes); dropped",
                    frag.key.src,
                    frag.key.dst,
                    frag.key.id,
                    frag.data.len()
                ),
            )));
            return None;
        };
        if start == end && frag.more {
            return None;
        }
        let slot = match self.index.get(&frag.key) {
            Some(&slot) => slot,
            None => self.open(frag.key, at),
        };
        let d = self.slots.get_mut(slot as usize)?.as_mut()?;
        d.fragments += 1;
        // The last fragment fixes the length, unless it contradicts bytes
        // already received beyond it (then its claim is ignored).
        if !frag.more && d.total.is_none() && end >= d.have.max_end() {
            d.total = Some(end);
        }
        let end = d.total.map_or(end, |t| end.min(t));
        if start < end {
            if !self.reserve(slot, end as usize, sink, stats) {
                return None;
            }
            let d = self.slots.get_mut(slot as usize)?.as_mut()?;
            if d.buf.len() < end as usize {
                d.buf.resize(end as usize, 0);
            }
            let Datagram { buf, have, .. } = d;
            let piece = Piece {
                start,
                end,
                frame: at.frame,
                time: at.time,
            };
            let fits = have.insert(piece, MAX_PIECES, |a, b| {
                let (a, b) = (a as usize, b as usize);
                let from = (a - start as usize)..(b - start as usize);
                if let (Some(dst), Some(src)) = (buf.get_mut(a..b), frag.data.get(from)) {
                    dst.copy_from_slice(src);
                }
            });
            if !fits {
                self.drop_slot(slot, Drop::TooManyPieces, sink, stats);
                return None;
            }
        }
        let d = self.slots.get_mut(slot as usize)?.as_mut()?;
        let total = d.total?;
        if !d.have.is_complete(total) {
            return None;
        }
        let mut d = self.close(slot)?;
        d.buf.truncate(total as usize);
        stats.ip_reassembled += 1;
        Some(d.buf)
    }

    /// Returns a reassembled buffer for reuse.
    pub fn recycle(&mut self, mut buf: Vec<u8>) {
        let cap = buf.capacity();
        if self.spare.len() < SPARE_BUFFERS
            && cap <= MAX_DATAGRAM as usize * 2
            && self.used + cap <= self.memory
        {
            buf.clear();
            self.used += cap;
            self.spare.push(buf);
        }
    }

    /// Drops (and reports) every datagram whose deadline is before `now`.
    pub fn expire(&mut self, now: i64, sink: &mut dyn FnMut(NetEvent<'_>), stats: &mut NetStats) {
        while let Some(t) = self.timers.pop_due(now) {
            if self.is_live(t.slot, t.token) {
                self.drop_slot(t.slot, Drop::Expired, sink, stats);
            }
        }
    }

    /// Reports every datagram still incomplete, oldest first.
    pub fn finish(&mut self, sink: &mut dyn FnMut(NetEvent<'_>), stats: &mut NetStats) {
        let timers: Vec<_> = self.timers.drain().collect();
        for t in timers {
            if self.is_live(t.slot, t.token) {
                self.drop_slot(t.slot, Drop::EndOfCapture, sink, stats);
            }
        }
    }

    fn is_live(&self, slot: u32, token: u64) -> bool {
        matches!(self.slots.get(slot as usize), Some(Some(d)) if d.token == token)
    }

    fn open(&mut self, key: FragKey, at: &At) -> u32 {
        self.next_token += 1;
        let buf = match self.spare.pop() {
            Some(buf) => {
                self.used -= buf.capacity();
                buf
            }
            None => Vec::new(),
        };
        let d = Datagram {
            key,
            token: self.next_token,
            charged: OVERHEAD + buf.capacity(),
            buf,
            have: RangeSet::default(),
            total: None,
            first_frame: at.frame,
            fragments: 0,
        };
        self.used += d.charged;
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(d);
                slot
            }
            None => {
                self.slots.push(Some(d));
                (self.slots.len() - 1) as u32
            }
        };
        self.index.insert(key, slot);
        self.timers
            .push(at.now.saturating_add(self.timeout), slot, self.next_token);
        let slots = &self.slots;
        self.timers.compact(
            self.index.len(),
            |t| matches!(slots.get(t.slot as usize), Some(Some(d)) if d.token == t.token),
        );
        slot
    }

    /// Makes room for `slot`'s buffer to hold `len` bytes, dropping the
    /// oldest datagrams if the memory cap requires. False when `slot`
    /// itself had to go.
    fn reserve(
        &mut self,
        slot: u32,
        len: usize,
        sink: &mut dyn FnMut(NetEvent<'_>),
        stats: &mut NetStats,
    ) -> bool {
        let Some(Some(d)) = self.slots.get(slot as usize) else {
            return false;
        };
        let cap = d.buf.capacity();
        if len <= cap {
            return true;
        }
        let want = if d.total.is_some() {
            len
        } else {
            len.next_power_of_two().clamp(2048, MAX_DATAGRAM as usize)
        }
        .max(len);
        let grow = want - cap;
        while self.used + grow > self.memory {
            if self
                .spare
                .pop()
                .map(|b| self.used -= b.capacity())
                .is_some()
            {
                continue;
            }
            let Some(t) = self.timers.pop_front() else {
                break;
            };
            if !self.is_live(t.slot, t.token) {
                continue;
            }
            self.drop_slot(t.slot, Drop::Overload, sink, stats);
            if t.slot == slot {
                return false;
            }
        }
        if self.used + grow > self.memory {
            self.drop_slot(slot, Drop::Overload, sink, stats);
            return false;
        }
        let Some(Some(d)) = self.slots.get_mut(slot as usize) else {
            return false;
        };
        d.buf.reserve_exact(want - d.buf.len());
        let grown = d.buf.capacity() - cap;
        d.charged += grown;
        self.used += grown;
        true
    }

    /// Removes a datagram from the pool and uncharges it.
    fn close(&mut self, slot: u32) -> Option<Datagram> {
        let d = self.slots.get_mut(slot as usize)?.take()?;
        self.index.remove(&d.key);
        self.free.push(slot);
        self.used -= d.charged;
        Some(d)
    }

    fn drop_slot(
        &mut self,
        slot: u32,
        why: Drop,
        sink: &mut dyn FnMut(NetEvent<'_>),
        stats: &mut NetStats,
    ) {
        let Some(d) = self.close(slot) else {
            return;
        };
        let received = d.have.covered();
        let length = match d.total {
            Some(t) => format!("of {t}"),
            None => "(last fragment never seen)".to_string(),
        };
        let what = format!(
            "IP datagram {} -> {} (id {:#x}, protocol {}): {} fragment(s), {received} bytes {length}",
            d.key.src, d.key.dst, d.key.id, d.key.proto, d.fragments
        );
        let (kind, message) = match why {
            Drop::Expired => (
                ProblemKind::Fragment,
                format!("{what}; not completed within the reassembly time, dropped"),
            ),
            Drop::EndOfCapture => (
                ProblemKind::Fragment,
                format!("{what}; still incomplete at the end of the capture"),
            ),
            Drop::Overload => (
                ProblemKind::Overload,
                format!(
                    "{what}; dropped to keep fragment reassembly memory under {} bytes",
                    self.memory
                ),
            ),
            Drop::TooManyPieces => (
                ProblemKind::Corrupt,
                format!("{what}; split into more than {MAX_PIECES} pieces, dropped"),
            ),
        };
        stats.ip_fragments_dropped += u64::from(d.fragments);
        stats.problems += 1;
        sink(NetEvent::Problem(Problem::at_frame(
            kind,
            d.first_frame,
            message,
        )));
        // The buffer goes back to the spare pool if it is small.
        self.recycle(d.buf);
    }
}
