//! Which pairs of nodes exchanged SIP, compactly.
//!
//! A check needs three answers about coverage: was a given link seen; did a
//! node talk to anyone outside a set of known nodes; did any link avoid the
//! set altogether. Storing node pairs and peer lists for that costs ~200
//! bytes a pair (about 70 MB on a 1 GiB trace of 160,000 clients); 64-bit
//! fingerprints of pairs and nodes, and a degree per node, answer all three
//! in ~60 bytes a pair. A fingerprint collision (2^-64) could only make a
//! step read `missing` instead of `unobserved`.

use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;

use rustc_hash::{FxHashMap, FxHasher};

use super::COVERAGE_HORIZON_NS;
use crate::capture::Timestamp;

fn node_key(a: IpAddr) -> u64 {
    let mut h = FxHasher::default();
    a.hash(&mut h);
    h.finish()
}

fn pair_key(a: u64, b: u64) -> u64 {
    let (x, y) = if a <= b { (a, b) } else { (b, a) };
    let mut h = FxHasher::default();
    h.write_u64(x);
    h.write_u64(0x9e37_79b9_7f4a_7c15);
    h.write_u64(y);
    h.finish()
}

/// Links seen within [`COVERAGE_HORIZON_NS`] of capture time.
#[derive(Debug)]
pub(super) struct Coverage {
    /// Pair fingerprint → time of the latest message (whole seconds).
    links: FxHashMap<u64, i64>,
    /// Node fingerprint → number of distinct peers.
    degree: FxHashMap<u64, u32>,
    /// Links in order of first sight: (time, pair, node, node).
    order: VecDeque<(i64, u64, u64, u64)>,
    /// The links noted lately, by pair fingerprint modulo its length: a
    /// message on a link already noted in the same second changes nothing,
    /// and most messages are (a transaction's hops and responses come in
    /// bursts), so they skip the lookup in `links`, which on a large
    /// trace misses the processor's caches.
    recent: Vec<(u64, i64)>,
    /// Links dropped by the count bound before their horizon.
    pub(super) evicted: u64,
}

/// The most links kept at once: a flood of distinct addresses cannot grow
/// the table past it; the oldest link is dropped first (counted), and a
/// dropped link only makes a step on it read `unobserved`.
pub const MAX_LINKS: usize = 400_000;

/// Slots of [`Coverage::recent`] (16 KiB).
const RECENT_SLOTS: usize = 1024;

/// An empty slot of [`Coverage::recent`]: no real time is `i64::MIN`.
const NO_LINK: (u64, i64) = (0, i64::MIN);

impl Default for Coverage {
    fn default() -> Self {
        Coverage {
            links: FxHashMap::default(),
            degree: FxHashMap::default(),
            order: VecDeque::new(),
            recent: vec![NO_LINK; RECENT_SLOTS],
            evicted: 0,
        }
    }
}

impl Coverage {
    pub(super) fn note(&mut self, a: IpAddr, b: IpAddr, time: Timestamp) {
        let (ka, kb) = (node_key(a), node_key(b));
        let pair = pair_key(ka, kb);
        let slot = &mut self.recent[pair as usize % RECENT_SLOTS];
        if *slot == (pair, time.secs) {
            return;
        }
        *slot = (pair, time.secs);
        match self.links.get_mut(&pair) {
            Some(last) => *last = (*last).max(time.secs),
            None => {
                if self.links.len() >= MAX_LINKS {
                    self.drop_oldest();
                }
                self.links.insert(pair, time.secs);
                self.order.push_back((time.secs, pair, ka, kb));
                *self.degree.entry(ka).or_default() += 1;
                if ka != kb {
                    *self.degree.entry(kb).or_default() += 1;
                }
            }
        }
    }

    /// Drop the link first noted longest ago (constant time amortized).
    fn drop_oldest(&mut self) {
        while let Some((_, pair, ka, kb)) = self.order.pop_front() {
            if self.links.contains_key(&pair) {
                self.forget(pair, ka, kb);
                self.evicted += 1;
                return;
            }
        }
    }

    fn forget(&mut self, pair: u64, ka: u64, kb: u64) {
        self.links.remove(&pair);
        // A link noted again must be found absent.
        if let Some(slot) = self.recent.get_mut(pair as usize % RECENT_SLOTS)
            && slot.0 == pair
        {
            *slot = NO_LINK;
        }
        let nodes = if ka == kb { 1 } else { 2 };
        for k in [ka, kb].into_iter().take(nodes) {
            if let Some(d) = self.degree.get_mut(&k) {
                *d -= 1;
                if *d == 0 {
                    self.degree.remove(&k);
                }
            }
        }
    }

    pub(super) fn expire(&mut self, now: Timestamp) {
        let horizon = (COVERAGE_HORIZON_NS / 1_000_000_000) as i64;
        while let Some(&(t, pair, ka, kb)) = self.order.front() {
            if now.secs - t <= horizon {
                break;
            }
            self.order.pop_front();
            match self.links.get(&pair) {
                Some(&last) if now.secs - last <= horizon => {
                    self.order.push_back((last, pair, ka, kb));
                }
                Some(_) => self.forget(pair, ka, kb),
                None => {}
            }
        }
    }

    pub(super) fn seen(&self, a: IpAddr, b: IpAddr) -> bool {
        self.links.contains_key(&pair_key(node_key(a), node_key(b)))
    }

    /// `a` has more peers than those among `known`.
    pub(super) fn peer_outside(&self, a: IpAddr, known: &[IpAddr]) -> bool {
        let ka = node_key(a);
        let degree = self.degree.get(&ka).copied().unwrap_or(0);
        let mut inside = 0;
        let mut counted: Vec<u64> = Vec::with_capacity(known.len());
        for &k in known {
            let kk = node_key(k);
            if counted.contains(&kk) {
                continue;
            }
            counted.push(kk);
            if self.links.contains_key(&pair_key(ka, kk)) {
                inside += 1;
            }
        }
        degree > inside
    }

    /// Some link has neither end in `known`.
    pub(super) fn link_outside(&self, known: &[IpAddr]) -> bool {
        let mut nodes: Vec<u64> = known.iter().map(|&k| node_key(k)).collect();
        nodes.sort_unstable();
        nodes.dedup();
        // Links touching the known nodes: the sum of their degrees, less the
        // links between two of them (counted twice) and self-links.
        let mut touching: i64 = nodes
            .iter()
            .map(|k| i64::from(self.degree.get(k).copied().unwrap_or(0)))
            .sum();
        for (i, &x) in nodes.iter().enumerate() {
            for &y in &nodes[i + 1..] {
                if self.links.contains_key(&pair_key(x, y)) {
                    touching -= 1;
                }
            }
        }
        (self.links.len() as i64) > touching
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, n])
    }

    fn t(secs: i64) -> Timestamp {
        Timestamp { secs, nanos: 0 }
    }

    #[test]
    fn answers_the_three_questions() {
        let mut c = Coverage::default();
        c.note(ip(1), ip(2), t(0));
        c.note(ip(2), ip(1), t(1));
        c.note(ip(2), ip(3), t(2));
        assert!(c.seen(ip(1), ip(2)) && c.seen(ip(2), ip(1)) && !c.seen(ip(1), ip(3)));
        assert!(c.peer_outside(ip(2), &[ip(1)]));
        assert!(!c.peer_outside(ip(2), &[ip(1), ip(3)]));
        assert!(!c.peer_outside(ip(1), &[ip(2), ip(2)]));
        assert!(!c.link_outside(&[ip(2)]));
        assert!(c.link_outside(&[ip(9)]));
        c.note(ip(4), ip(5), t(3));
        assert!(c.link_outside(&[ip(1), ip(2), ip(3)]));
        assert!(!c.link_outside(&[ip(1), ip(2), ip(4)]));
    }

    #[test]
    fn idle_links_expire_and_busy_ones_stay() {
        let mut c = Coverage::default();
        c.note(ip(1), ip(2), t(0));
        c.note(ip(3), ip(4), t(0));
        c.note(ip(1), ip(2), t(500));
        c.expire(t(700));
        assert!(c.seen(ip(1), ip(2)));
        assert!(!c.seen(ip(3), ip(4)));
        assert!(!c.peer_outside(ip(3), &[]));
        assert!(!c.link_outside(&[ip(1)]));
        c.expire(t(1200));
        assert!(!c.seen(ip(1), ip(2)));
        assert!(c.links.is_empty() && c.degree.is_empty() && c.order.is_empty());
    }

    #[test]
    fn a_link_expired_and_noted_again_in_the_same_second_is_seen() {
        let mut c = Coverage::default();
        c.note(ip(1), ip(2), t(5));
        c.note(ip(1), ip(2), t(5));
        assert_eq!(c.order.len(), 1, "the same second again is a no-op");
        // Capture time jumps past the horizon: the link expires; a late
        // packet stamped with the old second must bring it back.
        c.expire(t(5 + 601));
        assert!(!c.seen(ip(1), ip(2)));
        c.note(ip(2), ip(1), t(5));
        assert!(c.seen(ip(1), ip(2)));
        assert!(c.peer_outside(ip(1), &[]));
    }
}
