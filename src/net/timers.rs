//! Deadlines in capture time, expired in constant time.
//!
//! Everything the network stage keeps (fragments awaiting siblings, TCP
//! bytes awaiting a gap, idle streams) has a time horizon. Deadlines are
//! pushed in the order they are set, which is the order of capture time, so
//! a FIFO is already sorted: expiry pops from the front. Entries are never
//! removed from the middle; an entry whose owner is gone or re-armed is
//! recognised by its token and skipped when it reaches the front (lazy
//! deletion). [`Timers::compact`] bounds the stale entries.

use std::collections::VecDeque;

use crate::capture::Timestamp;

/// One deadline: at `deadline` (nanoseconds), the thing in `slot` expires,
/// if it still carries `token`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timer {
    pub deadline: i64,
    pub slot: u32,
    pub token: u64,
}

/// A FIFO of [`Timer`]s; see the module doc.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    queue: VecDeque<Timer>,
}

impl Timers {
    /// Schedules a deadline. Deadlines are expected in non-decreasing
    /// order; one set earlier than the last simply waits its turn.
    pub fn push(&mut self, deadline: i64, slot: u32, token: u64) {
        self.queue.push_back(Timer {
            deadline,
            slot,
            token,
        });
    }

    /// Takes the front timer if it is due at `now`.
    pub fn pop_due(&mut self, now: i64) -> Option<Timer> {
        match self.queue.front() {
            Some(t) if t.deadline <= now => self.queue.pop_front(),
            _ => None,
        }
    }

    /// Takes the front timer whatever its deadline (eviction under memory
    /// pressure: the oldest goes first).
    pub fn pop_front(&mut self) -> Option<Timer> {
        self.queue.pop_front()
    }

    /// Number of entries, live or stale.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Drops stale entries once they outnumber the live ones by far, so the
    /// queue stays proportional to what is kept; amortised constant time.
    pub fn compact(&mut self, live: usize, mut is_live: impl FnMut(&Timer) -> bool) {
        if self.queue.len() > 2 * live + 1024 {
            self.queue.retain(|t| is_live(t));
        }
    }

    /// All entries, oldest first (for the final flush).
    pub fn drain(&mut self) -> impl Iterator<Item = Timer> + '_ {
        self.queue.drain(..)
    }
}

/// A capture time as nanoseconds since the epoch, saturated to `i64`
/// (enough until the year 2262).
pub(crate) fn nanos(t: Timestamp) -> i64 {
    let n = t.as_nanos();
    if n > i64::MAX as i128 {
        i64::MAX
    } else if n < i64::MIN as i128 {
        i64::MIN
    } else {
        n as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_only_due_timers_in_order() {
        let mut t = Timers::default();
        t.push(10, 0, 1);
        t.push(20, 1, 2);
        assert_eq!(t.pop_due(5), None);
        assert_eq!(t.pop_due(10).map(|x| x.slot), Some(0));
        assert_eq!(t.pop_due(15), None);
        assert_eq!(t.pop_due(25).map(|x| x.slot), Some(1));
        assert_eq!(t.pop_due(i64::MAX), None);
    }

    #[test]
    fn compact_keeps_live_entries() {
        let mut t = Timers::default();
        for i in 0..3000u64 {
            t.push(i as i64, i as u32, i);
        }
        t.compact(10, |x| x.token % 1000 == 0);
        assert_eq!(t.len(), 3);
        // Under the threshold nothing is scanned.
        t.compact(10, |_| false);
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn nanos_saturates() {
        let t = Timestamp {
            secs: i64::MAX,
            nanos: 0,
        };
        assert_eq!(nanos(t), i64::MAX);
        let t = Timestamp { secs: 1, nanos: 5 };
        assert_eq!(nanos(t), 1_000_000_005);
    }
}
