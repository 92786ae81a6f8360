//! Which bytes of a reassembly buffer have arrived.
//!
//! Both IP defragmentation and TCP reassembly copy pieces into a buffer at
//! their offset and need to know which bytes are already there, so that a
//! duplicate or overlapping piece only fills what is missing (the first copy
//! of a byte wins, as in Wireshark). A [`RangeSet`] is a short sorted list of
//! disjoint, non-touching byte ranges; touching ranges are merged so the
//! first range tells how many bytes are contiguous from the start.

use crate::capture::Timestamp;

/// One run of received bytes, with the frames that brought it (for
/// reporting: the first frame after a gap, the frame that completed it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Range {
    pub start: u32,
    pub end: u32,
    /// Smallest frame number that contributed bytes to this range.
    pub first_frame: u64,
    /// Largest frame number that contributed bytes to this range.
    pub last_frame: u64,
    /// Capture time of `last_frame`.
    pub last_time: Timestamp,
}

/// A sorted set of disjoint byte ranges; see the module doc.
#[derive(Debug, Default)]
pub(crate) struct RangeSet {
    ranges: Vec<Range>,
}

/// Where a new piece lands relative to what is already there.
pub(crate) struct Piece {
    pub start: u32,
    pub end: u32,
    pub frame: u64,
    pub time: Timestamp,
}

impl RangeSet {
    /// True when no byte has arrived.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The lowest range, if any.
    pub fn first(&self) -> Option<&Range> {
        self.ranges.first()
    }

    /// One past the highest byte received (0 when empty).
    pub fn max_end(&self) -> u32 {
        self.ranges.last().map_or(0, |r| r.end)
    }

    /// Total number of bytes covered.
    pub fn covered(&self) -> u64 {
        self.ranges.iter().map(|r| u64::from(r.end - r.start)).sum()
    }

    /// Ranges allocated for (0 when nothing is allocated).
    #[cfg(test)]
    pub fn capacity(&self) -> usize {
        self.ranges.capacity()
    }

    /// Adds `piece`, calling `fill(a, b)` for every sub-range `[a, b)` of it
    /// that was not covered yet, in increasing order; covered bytes are left
    /// alone (first copy wins).
    ///
    /// Returns false, changing nothing and calling nothing, when the set
    /// would then hold more than `max_ranges` ranges: a bound against
    /// pathological inputs of many tiny disjoint pieces.
    pub fn insert(
        &mut self,
        piece: Piece,
        max_ranges: usize,
        mut fill: impl FnMut(u32, u32),
    ) -> bool {
        let Piece {
            start,
            end,
            frame,
            time,
        } = piece;
        if start >= end {
            return true;
        }
        // Ranges [i, j) touch or overlap the piece.
        let i = self.ranges.partition_point(|r| r.end < start);
        let mut j = i;
        while j < self.ranges.len() && self.ranges[j].start <= end {
            j += 1;
        }
        if self.ranges.len() - (j - i) + 1 > max_ranges {
            return false;
        }
        let mut cursor = start;
        for r in &self.ranges[i..j] {
            if r.start > cursor {
                fill(cursor, r.start.min(end));
            }
            cursor = cursor.max(r.end);
        }
        if cursor < end {
            fill(cursor, end);
        }
        let mut merged = Range {
            start,
            end,
            first_frame: frame,
            last_frame: frame,
            last_time: time,
        };
        for r in &self.ranges[i..j] {
            merged.start = merged.start.min(r.start);
            merged.end = merged.end.max(r.end);
            merged.first_frame = merged.first_frame.min(r.first_frame);
            if r.last_frame > merged.last_frame {
                merged.last_frame = r.last_frame;
                merged.last_time = r.last_time;
            }
        }
        if i == j {
            self.ranges.insert(i, merged);
        } else {
            self.ranges[i] = merged;
            self.ranges.drain(i + 1..j);
        }
        true
    }

    /// Moves the origin forward by `n` bytes: ranges (or parts) below `n`
    /// are dropped, the rest are renumbered from the new origin.
    pub fn shift(&mut self, n: u32) {
        self.ranges.retain_mut(|r| {
            if r.end <= n {
                return false;
            }
            r.start = r.start.saturating_sub(n);
            r.end -= n;
            true
        });
    }

    /// True when exactly `[0, total)` has arrived.
    pub fn is_complete(&self, total: u32) -> bool {
        match self.ranges.as_slice() {
            [only] => only.start == 0 && only.end >= total,
            [] => total == 0,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn piece(start: u32, end: u32, frame: u64) -> Piece {
        Piece {
            start,
            end,
            frame,
            time: Timestamp::default(),
        }
    }

    fn spans(set: &RangeSet) -> Vec<(u32, u32)> {
        set.ranges.iter().map(|r| (r.start, r.end)).collect()
    }

    fn insert(set: &mut RangeSet, start: u32, end: u32) -> Vec<(u32, u32)> {
        let mut filled = Vec::new();
        assert!(set.insert(piece(start, end, 1), 100, |a, b| filled.push((a, b))));
        filled
    }

    #[test]
    fn fills_only_the_uncovered_parts() {
        let mut set = RangeSet::default();
        assert_eq!(insert(&mut set, 10, 20), vec![(10, 20)]);
        assert_eq!(insert(&mut set, 30, 40), vec![(30, 40)]);
        // Spans both and the holes around them.
        assert_eq!(insert(&mut set, 5, 45), vec![(5, 10), (20, 30), (40, 45)]);
        assert_eq!(spans(&set), vec![(5, 45)]);
        // Entirely duplicate.
        assert_eq!(insert(&mut set, 6, 44), vec![]);
    }

    #[test]
    fn touching_ranges_merge() {
        let mut set = RangeSet::default();
        insert(&mut set, 0, 10);
        insert(&mut set, 20, 30);
        assert_eq!(spans(&set), vec![(0, 10), (20, 30)]);
        insert(&mut set, 10, 20);
        assert_eq!(spans(&set), vec![(0, 30)]);
        assert!(set.is_complete(30));
        assert!(!set.is_complete(31));
    }

    #[test]
    fn frames_track_first_and_last_contributor() {
        let mut set = RangeSet::default();
        set.insert(piece(10, 20, 7), 10, |_, _| {});
        set.insert(piece(0, 10, 9), 10, |_, _| {});
        set.insert(piece(20, 30, 3), 10, |_, _| {});
        let r = set.first().copied().unwrap();
        assert_eq!((r.start, r.end, r.first_frame, r.last_frame), (0, 30, 3, 9));
    }

    #[test]
    fn refuses_to_exceed_the_range_bound() {
        let mut set = RangeSet::default();
        assert!(set.insert(piece(0, 1, 1), 2, |_, _| {}));
        assert!(set.insert(piece(2, 3, 1), 2, |_, _| {}));
        let mut called = false;
        assert!(!set.insert(piece(4, 5, 1), 2, |_, _| called = true));
        assert!(!called);
        // Merging into existing ranges is still allowed.
        assert!(set.insert(piece(1, 2, 1), 2, |_, _| {}));
        assert_eq!(spans(&set), vec![(0, 3)]);
    }

    #[test]
    fn shift_renumbers_and_drops() {
        let mut set = RangeSet::default();
        insert(&mut set, 0, 5);
        insert(&mut set, 8, 12);
        set.shift(5);
        assert_eq!(spans(&set), vec![(3, 7)]);
        set.shift(4);
        assert_eq!(spans(&set), vec![(0, 3)]);
        set.shift(10);
        assert!(set.is_empty());
    }
}
