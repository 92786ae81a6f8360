//! TCP stream reassembly, one direction at a time.
//!
//! Each direction of a connection is a [`Stream`] keyed by its [`FlowKey`];
//! the two directions are independent, so a trace holding one direction only
//! reassembles just as well, and nothing waits for acknowledgements.
//!
//! - A SYN fixes the initial sequence number; a stream first seen mid-way
//!   starts at its first segment carrying data, and that first delivery has
//!   `gap: true` (what came before was not captured, so the receiver must
//!   find a message boundary), without a problem being reported.
//! - In-order data with nothing buffered is handed on straight from the
//!   frame (no copy). Data ahead of the next expected byte is copied into the
//!   stream's window at its offset; bytes already delivered or already
//!   buffered are dropped (retransmissions, overlaps, keep-alives: the first
//!   copy wins, as in Wireshark).
//! - A hole that has not filled `gap_timeout` (capture time) after it
//!   appeared, or when the stream's window (`stream_buffer`) or all windows
//!   together (`total_buffer`) would overflow, is skipped: a `tcp-gap`
//!   problem says how many bytes were lost and the data after it is
//!   delivered with `gap: true`.
//! - FIN (once every byte before it is delivered) and RST end the stream
//!   with [`NetEvent::StreamEnd`]; the closed stream is kept until it has
//!   been idle for `idle_timeout`, so late retransmissions are recognised.
//!   Streams idle that long are ended and forgotten; when `max_streams` are
//!   open, the stream idle longest is ended first (reported as overload).
//! - Sequence numbers are compared modulo 2^32 (wrap-around).
//!
//! Deadlines (holes, idleness) are FIFOs with lazy deletion ([`Timers`]):
//! constant time per event, never a scan.

// Fx, not SipHash: keys come from the capture, but the table is bounded, so
// crafted collisions cost time on a bounded table only; SipHash cost ~3% of
// the reading thread.
use rustc_hash::FxHashMap as HashMap;

use super::ranges::{Piece, RangeSet};
use super::timers::Timers;
use super::{At, FlowKey, NetEvent, NetStats};
use crate::problem::{Problem, ProblemKind};

/// Most disjoint out-of-order pieces one stream may hold.
const MAX_PIECES: usize = 1024;

/// Bounds of the reassembler (see [`super::NetConfig`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub gap_timeout: i64,
    pub idle_timeout: i64,
    pub stream_buffer: usize,
    pub total_buffer: usize,
    pub max_streams: usize,
}

/// The parts of a TCP segment the reassembler needs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Segment<'a> {
    pub seq: u32,
    pub syn: bool,
    pub fin: bool,
    pub rst: bool,
    /// The captured payload.
    pub data: &'a [u8],
    /// The payload length per the IP header; more than `data.len()` when
    /// the capture cut the segment (the missing bytes become a gap).
    pub len: u32,
}

struct Stream {
    flow: FlowKey,
    /// Unique per stream; the token of its idle timer.
    id: u64,
    isn: Option<u32>,
    /// Sequence number of the next byte to deliver.
    next_seq: u32,
    /// Out-of-order bytes: `window[head + i]` is the byte at `next_seq + i`.
    window: Vec<u8>,
    head: usize,
    /// Which window bytes are present, relative to `next_seq`.
    have: RangeSet,
    /// Bytes were lost before the next delivery.
    gap_pending: bool,
    /// Token of the armed hole timer, if a hole is waiting.
    hole_token: Option<u64>,
    fin_seq: Option<u32>,
    closed: bool,
    last_seen: i64,
    last_frame: u64,
}

/// All TCP streams of one capture; see the module doc.
pub(crate) struct Tcp {
    limits: Limits,
    index: HashMap<FlowKey, u32>,
    slots: Vec<Option<Stream>>,
    free: Vec<u32>,
    idle: Timers,
    holes: Timers,
    /// Sum of all windows' capacities.
    buffered: usize,
    next_token: u64,
    now: i64,
}

/// Signed distance from `b` to `a` in sequence space.
fn seq_diff(a: u32, b: u32) -> i64 {
    i64::from(a.wrapping_sub(b) as i32)
}

impl Tcp {
    /// An empty reassembler.
    pub fn new(limits: Limits) -> Self {
        Tcp {
            limits,
            index: HashMap::default(),
            slots: Vec::new(),
            free: Vec::new(),
            idle: Timers::default(),
            holes: Timers::default(),
            buffered: 0,
            next_token: 0,
            now: i64::MIN,
        }
    }

    /// Bytes held in out-of-order windows.
    pub fn buffered(&self) -> usize {
        self.buffered
    }

    /// Streams currently known (open or recently closed).
    pub fn streams(&self) -> usize {
        self.index.len()
    }

    /// Feeds one segment of direction `flow`.
    pub fn segment(
        &mut self,
        flow: FlowKey,
        seg: Segment<'_>,
        at: &At,
        sink: &mut dyn FnMut(NetEvent<'_>),
        stats: &mut NetStats,
    ) {
        self.now = self.now.max(at.now);
        if seg.len == 0 && !seg.syn && !seg.fin && !seg.rst {
            return;
        }
        let slot = match self.index.get(&flow) {
            Some(&slot) => slot,
            None if seg.rst || (seg.len == 0 && !seg.syn) => return,
            None => self.open(flow, &seg, at, sink, stats),
        };
        let Some(s) = self.stream(slot) else {
            return;
        };
        s.last_seen = at.now;
        s.last_frame = at.frame;
        if seg.rst {
            if !s.closed {
                self.end(slot, at.frame, sink, stats);
            }
            return;
        }
        if seg.syn && s.isn != Some(seg.seq) {
            // A new connection on the same ports (or a SYN after data seen
            // mid-way): the old one is over.
            if !s.closed {
                self.end(slot, at.frame, sink, stats);
            }
            let Some(s) = self.stream(slot) else {
                return;
            };
            s.isn = Some(seg.seq);
            s.next_seq = seg.seq.wrapping_add(1);
            s.closed = false;
            s.fin_seq = None;
            s.gap_pending = false;
            stats.tcp_streams += 1;
        }
        let Some(s) = self.stream(slot) else {
            return;
        };
        let start = if seg.syn {
            seg.seq.wrapping_add(1)
        } else {
            seg.seq
        };
        if s.closed {
            // Data after the direction ended (after an RST, or past its
            // FIN): tshark reads it, and a SIP message there was lost in
            // silence. New bytes reopen the direction as a stream joined
            // there (the receiver resynchronises); bytes already seen
            // (retransmissions) are ignored as before.
            if seg.len == 0 || seq_diff(start.wrapping_add(seg.len), s.next_seq) <= 0 {
                return;
            }
            if seq_diff(start, s.next_seq) > 0 {
                s.next_seq = start;
            }
            s.closed = false;
            s.fin_seq = None;
            s.gap_pending = true;
            s.hole_token = None;
            stats.tcp_streams += 1;
        }
        if seg.len > 0 {
            if (seg.data.len() as u64) < u64::from(seg.len) {
                self.accept_cut(slot, start, seg.len, sink, stats);
            } else {
                self.accept(slot, start, seg.data, at, sink, stats);
            }
        }
        if seg.fin
            && let Some(s) = self.stream(slot)
        {
            s.fin_seq.get_or_insert(start.wrapping_add(seg.len));
        }
        self.check_fin(slot, at.frame, sink, stats);
        self.enforce_total(sink, stats);
    }

    /// Skips holes whose time is up and ends streams idle too long.
    pub fn expire(&mut self, now: i64, sink: &mut dyn FnMut(NetEvent<'_>), stats: &mut NetStats) {
        self.now = self.now.max(now);
        while let Some(t) = self.holes.pop_due(now) {
            if matches!(self.stream(t.slot), Some(s) if s.hole_token == Some(t.token)) {
                let frame = self.skip_hole(t.slot, sink, stats);
                self.check_fin(t.slot, frame, sink, stats);
            }
        }
        while let Some(t) = self.idle.pop_due(now) {
            let idle = self.limits.idle_timeout;
            let Some(s) = self.stream(t.slot).filter(|s| s.id == t.token) else {
                continue;
            };
            let due = s.last_seen.saturating_add(idle);
            if due > now {
                self.idle.push(due, t.slot, t.token);
            } else {
                self.remove(t.slot, sink, stats);
            }
        }
    }

    /// Delivers what can be delivered, reports the remaining holes and ends
    /// every open stream (end of capture).
    pub fn finish(&mut self, sink: &mut dyn FnMut(NetEvent<'_>), stats: &mut NetStats) {
        for slot in 0..self.slots.len() as u32 {
            self.remove(slot, sink, stats);
        }
        self.idle.drain().for_each(drop);
        self.holes.drain().for_each(drop);
    }

    fn stream(&mut self, slot: u32) -> Option<&mut Stream> {
        self.slots.get_mut(slot as usize)?.as_mut()
    }

    fn open(
        &mut self,
        flow: FlowKey,
        seg: &Segment<'_>,
        at: &At,
        sink: &mut dyn FnMut(NetEvent<'_>),
        stats: &mut NetStats,
    ) -> u32 {
        while self.index.len() >= self.limits.max_streams {
            let Some(t) = self.idle.pop_front() else {
                break;
            };
            let Some(s) = self.slots.get(t.slot as usize).and_then(|s| s.as_ref()) else {
                continue;
            };
            if s.id != t.token {
                continue;
            }
            if !s.closed {
                stats.problems += 1;
                sink(NetEvent::Problem(Problem::at_frame(
                    ProblemKind::Overload,
                    at.frame,
                    format!(
                        "more than {} TCP streams open: stream {} -> {} (last seen in frame {}) \
                         ended early to make room",
                        self.limits.max_streams, s.flow.src, s.flow.dst, s.last_frame
                    ),
                )));
            }
            self.remove(t.slot, sink, stats);
        }
        self.next_token += 1;
        let id = self.next_token;
        let next_seq = if seg.syn {
            seg.seq.wrapping_add(1)
        } else {
            seg.seq
        };
        let stream = Stream {
            flow,
            id,
            isn: seg.syn.then_some(seg.seq),
            next_seq,
            window: Vec::new(),
            head: 0,
            have: RangeSet::default(),
            // Without its SYN the stream may start mid-message: the first
            // delivery tells the receiver to resynchronise.
            gap_pending: !seg.syn,
            hole_token: None,
            fin_seq: None,
            closed: false,
            last_seen: at.now,
            last_frame: at.frame,
        };
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(stream);
                slot
            }
            None => {
                self.slots.push(Some(stream));
                (self.slots.len() - 1) as u32
            }
        };
        self.index.insert(flow, slot);
        self.idle
            .push(at.now.saturating_add(self.limits.idle_timeout), slot, id);
        stats.tcp_streams += 1;
        slot
    }

    /// Ends (if open) and forgets a stream.
    fn remove(&mut self, slot: u32, sink: &mut dyn FnMut(NetEvent<'_>), stats: &mut NetStats) {
        let Some(s) = self.stream(slot) else {
            return;
        };
        if !s.closed {
            let frame = s.last_frame;
            self.end(slot, frame, sink, stats);
        }
        if let Some(s) = self.slots.get_mut(slot as usize).and_then(Option::take) {
            self.buffered -= s.window.capacity();
            self.index.remove(&s.flow);
            self.free.push(slot);
        }
    }

    /// Delivers whatever is buffered (skipping holes) and ends the stream.
    fn end(
        &mut self,
        slot: u32,
        frame: u64,
        sink: &mut dyn FnMut(NetEvent<'_>),
        stats: &mut NetStats,
    ) {
        while matches!(self.stream(slot), Some(s) if !s.have.is_empty()) {
            self.skip_hole(slot, sink, stats);
        }
        let Some(s) = self.stream(slot) else {
            return;
        };
        s.closed = true;
        s.hole_token = None;
        let flow = s.flow;
        self.release_window(slot);
        sink(NetEvent::StreamEnd { frame, flow });
    }

    fn check_fin(
        &mut self,
        slot: u32,
        frame: u64,
        sink: &mut dyn FnMut(NetEvent<'_>),
        stats: &mut NetStats,
    ) {
        let Some(s) = self.stream(slot) else {
            return;
        };
        if s.closed {
            return;
        }
        if let Some(fin) = s.fin_seq
            && seq_diff(s.next_seq, fin) >= 0
        {
            self.end(slot, frame, sink, stats);
        }
    }

    /// A segment the capture cut short: its bytes are lost. In order, skip
    /// them (gap); ahead, drop it and let the hole be reported as a gap.
    fn accept_cut(
        &mut self,
        slot: u32,
        start: u32,
        len: u32,
        sink: &mut dyn FnMut(NetEvent<'_>),
        stats: &mut NetStats,
    ) {
        let Some(s) = self.stream(slot) else {
            return;
        };
        let rel = seq_diff(start, s.next_seq);
        let end = rel + i64::from(len);
        if rel > 0 || end <= 0 {
            return;
        }
        let lost = end as u32;
        s.gap_pending = true;
        stats.tcp_bytes_lost += u64::from(lost);
        self.advance(slot, lost);
        self.deliver_front(slot, sink, stats);
    }

    fn accept(
        &mut self,
        slot: u32,
        mut start: u32,
        mut data: &[u8],
        at: &At,
        sink: &mut dyn FnMut(NetEvent<'_>),
        stats: &mut NetStats,
    ) {
        let stream_buffer = self.limits.stream_buffer;
        // Each turn either returns or skips forward past a hole, so the
        // loop ends within MAX_PIECES + 2 turns.
        loop {
            let Some(s) = self.stream(slot) else {
                return;
            };
            let rel = seq_diff(start, s.next_seq);
            let end = rel + data.len() as i64;
            if end <= 0 {
                stats.tcp_bytes_duplicate += data.len() as u64;
                return;
            }
            if rel < 0 {
                let old = (-rel) as usize;
                stats.tcp_bytes_duplicate += old as u64;
                data = data.get(old..).unwrap_or(&[]);
                start = s.next_seq;
                continue;
            }
            let (rel, end) = (rel as usize, end as usize);
            if rel == 0 && s.have.is_empty() {
                s.next_seq = s.next_seq.wrapping_add(data.len() as u32);
                let gap = std::mem::take(&mut s.gap_pending);
                stats.tcp_bytes += data.len() as u64;
                sink(NetEvent::Stream {
                    frame: at.frame,
                    time: at.time,
                    flow: s.flow,
                    data,
                    gap,
                });
                return;
            }
            if end > stream_buffer {
                if s.have.is_empty() {
                    // Nothing buffered, and the segment lies beyond what a
                    // window may hold: the bytes before it are lost.
                    self.skip(slot, rel as u32, at.frame, sink, stats);
                } else {
                    self.skip_hole(slot, sink, stats);
                }
                continue;
            }
            self.grow_window(slot, end);
            let Some(s) = self.stream(slot) else {
                return;
            };
            let Stream {
                window, head, have, ..
            } = s;
            let base = *head;
            let piece = Piece {
                start: rel as u32,
                end: end as u32,
                frame: at.frame,
                time: at.time,
            };
            let fits = have.insert(piece, MAX_PIECES, |a, b| {
                let (a, b) = (a as usize, b as usize);
                let src = data.get(a - rel..b - rel);
                if let (Some(dst), Some(src)) = (window.get_mut(base + a..base + b), src) {
                    dst.copy_from_slice(src);
                }
            });
            if !fits {
                self.skip_hole(slot, sink, stats);
                continue;
            }
            self.deliver_front(slot, sink, stats);
            return;
        }
    }

    /// Makes the window hold at least `end` bytes past `next_seq`.
    fn grow_window(&mut self, slot: u32, end: usize) {
        let cap = self.limits.stream_buffer;
        let Some(s) = self.stream(slot) else {
            return;
        };
        let before = s.window.capacity();
        if s.head + end > s.window.len() {
            if s.head > 0 {
                s.window.drain(..s.head);
                s.head = 0;
            }
            if end > s.window.len() {
                if end > s.window.capacity() {
                    let want = end.next_power_of_two().max(4096).min(cap.max(end));
                    s.window.reserve_exact(want - s.window.len());
                }
                s.window.resize(end, 0);
            }
        }
        let after = s.window.capacity();
        self.buffered = self.buffered + after - before;
    }

    fn release_window(&mut self, slot: u32) {
        let Some(s) = self.stream(slot) else {
            return;
        };
        let cap = s.window.capacity();
        s.window = Vec::new();
        s.head = 0;
        // Freed, not cleared: a stream that once had a hole must cost no
        // more than one that never had (a flood of streams with gaps).
        s.have = RangeSet::default();
        self.buffered -= cap;
    }

    /// Moves `next_seq` forward by `n` bytes, dropping them from the window.
    fn advance(&mut self, slot: u32, n: u32) {
        let Some(s) = self.stream(slot) else {
            return;
        };
        s.next_seq = s.next_seq.wrapping_add(n);
        s.have.shift(n);
        if s.have.is_empty() {
            self.release_window(slot);
        } else {
            s.head = (s.head + n as usize).min(s.window.len());
        }
    }

    /// Delivers the window's contiguous front, if any, and keeps the hole
    /// timer in step with whether a hole remains.
    fn deliver_front(
        &mut self,
        slot: u32,
        sink: &mut dyn FnMut(NetEvent<'_>),
        stats: &mut NetStats,
    ) {
        let Some(s) = self.stream(slot) else {
            return;
        };
        if let Some(r) = s.have.first().copied().filter(|r| r.start == 0) {
            let n = r.end as usize;
            let gap = std::mem::take(&mut s.gap_pending);
            if let Some(data) = s.window.get(s.head..s.head + n) {
                stats.tcp_bytes += n as u64;
                sink(NetEvent::Stream {
                    frame: r.last_frame,
                    time: r.last_time,
                    flow: s.flow,
                    data,
                    gap,
                });
            }
            self.advance(slot, r.end);
        }
        let needs_timer = match self.stream(slot) {
            Some(s) if s.have.is_empty() => {
                s.hole_token = None;
                false
            }
            Some(s) => s.hole_token.is_none(),
            None => false,
        };
        if needs_timer {
            self.next_token += 1;
            let token = self.next_token;
            if let Some(s) = self.stream(slot) {
                s.hole_token = Some(token);
            }
            let deadline = self.now.saturating_add(self.limits.gap_timeout);
            self.holes.push(deadline, slot, token);
            let slots = &self.slots;
            self.holes.compact(self.index.len(), |t| {
                matches!(slots.get(t.slot as usize), Some(Some(s)) if s.hole_token == Some(t.token))
            });
        }
    }

    /// Gives up on the hole before the first buffered bytes: reports it and
    /// delivers what follows. Returns the frame those bytes were delivered
    /// at.
    fn skip_hole(
        &mut self,
        slot: u32,
        sink: &mut dyn FnMut(NetEvent<'_>),
        stats: &mut NetStats,
    ) -> u64 {
        let Some(s) = self.stream(slot) else {
            return 0;
        };
        let Some(first) = s.have.first().copied() else {
            s.hole_token = None;
            return s.last_frame;
        };
        s.hole_token = None;
        if first.start > 0 {
            self.skip(slot, first.start, first.first_frame, sink, stats);
        }
        self.deliver_front(slot, sink, stats);
        first.last_frame
    }

    /// Declares the next `n` bytes lost (before `frame`).
    fn skip(
        &mut self,
        slot: u32,
        n: u32,
        frame: u64,
        sink: &mut dyn FnMut(NetEvent<'_>),
        stats: &mut NetStats,
    ) {
        let Some(s) = self.stream(slot) else {
            return;
        };
        s.gap_pending = true;
        stats.tcp_gaps += 1;
        stats.tcp_bytes_lost += u64::from(n);
        stats.problems += 1;
        sink(NetEvent::Problem(Problem::at_frame(
            ProblemKind::TcpGap,
            frame,
            format!(
                "TCP {} -> {}: {n} bytes missing before this segment (never captured); \
                 continuing after the gap",
                s.flow.src, s.flow.dst
            ),
        )));
        self.advance(slot, n);
    }

    /// Skips the oldest holes while all windows together exceed the cap.
    fn enforce_total(&mut self, sink: &mut dyn FnMut(NetEvent<'_>), stats: &mut NetStats) {
        while self.buffered > self.limits.total_buffer {
            let Some(t) = self.holes.pop_front() else {
                break;
            };
            if matches!(self.stream(t.slot), Some(s) if s.hole_token == Some(t.token)) {
                let frame = self.skip_hole(t.slot, sink, stats);
                self.check_fin(t.slot, frame, sink, stats);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::Timestamp;

    /// A stream whose hole was skipped costs no more than one that never
    /// had a hole: its window and its range list are freed, not cleared.
    #[test]
    fn a_skipped_hole_frees_the_streams_buffers() {
        let limits = Limits {
            gap_timeout: 5_000_000_000,
            idle_timeout: 300_000_000_000,
            stream_buffer: 1 << 20,
            total_buffer: 64 << 20,
            max_streams: 16,
        };
        let mut tcp = Tcp::new(limits);
        let flow = FlowKey {
            src: ([10, 0, 0, 1], 20_000).into(),
            dst: ([10, 0, 0, 2], 5060).into(),
        };
        let mut stats = NetStats::default();
        let mut events = Vec::new();
        let mut sink = |e: NetEvent<'_>| events.push(format!("{e:?}"));
        let seg = |seq, syn, data: &'static [u8]| Segment {
            seq,
            syn,
            fin: false,
            rst: false,
            data,
            len: data.len() as u32,
        };
        let at = |frame, now| At {
            frame,
            time: Timestamp::default(),
            now,
        };
        tcp.segment(flow, seg(99, true, b""), &at(1, 0), &mut sink, &mut stats);
        tcp.segment(
            flow,
            seg(100, false, b"INVITE "),
            &at(2, 1),
            &mut sink,
            &mut stats,
        );
        tcp.segment(
            flow,
            seg(200, false, b"tail"),
            &at(3, 2),
            &mut sink,
            &mut stats,
        );
        assert!(tcp.buffered() > 0);
        tcp.expire(10_000_000_000, &mut sink, &mut stats);
        assert_eq!(stats.tcp_gaps, 1);
        assert_eq!(tcp.buffered(), 0);
        let s = tcp.slots[0].as_ref().unwrap();
        assert_eq!(s.window.capacity(), 0);
        assert_eq!(s.have.capacity(), 0);
        assert!(events.iter().any(|e| e.contains("TcpGap")), "{events:?}");
    }
}
