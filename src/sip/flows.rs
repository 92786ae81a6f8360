//! Per-direction stream state kept in least-recently-used order, so that
//! the idle one is found and evicted in constant time.

// Fx, not SipHash: keys come from the capture, but the table is bounded, so
// crafted collisions cost time on a bounded table only; SipHash cost ~3% of
// the reading thread.
use rustc_hash::FxHashMap as HashMap;

use crate::net::FlowKey;

use super::framer::StreamFramer;

const NIL: usize = usize::MAX;

/// One stream direction's state.
#[derive(Debug)]
pub(crate) struct Flow {
    pub(crate) key: FlowKey,
    pub(crate) framer: StreamFramer,
    /// Capture time of the last bytes (nanoseconds since the epoch).
    pub(crate) last_time: i128,
    /// Frame of the last bytes (for problems reported on eviction).
    pub(crate) last_frame: u64,
    prev: usize,
    next: usize,
}

/// A map from flow to state with an intrusive LRU list over a slab.
#[derive(Debug, Default)]
pub(crate) struct FlowTable {
    index: HashMap<FlowKey, usize>,
    slots: Vec<Option<Flow>>,
    free: Vec<usize>,
    /// Least recently used.
    head: usize,
    /// Most recently used.
    tail: usize,
}

impl FlowTable {
    pub(crate) fn new() -> FlowTable {
        FlowTable {
            head: NIL,
            tail: NIL,
            ..FlowTable::default()
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }

    pub(crate) fn contains(&self, key: &FlowKey) -> bool {
        self.index.contains_key(key)
    }

    fn node(&mut self, i: usize) -> Option<&mut Flow> {
        self.slots.get_mut(i)?.as_mut()
    }

    fn unlink(&mut self, i: usize) {
        let (prev, next) = match self.node(i) {
            Some(n) => (n.prev, n.next),
            None => return,
        };
        match self.node(prev) {
            Some(p) => p.next = next,
            None => self.head = next,
        }
        match self.node(next) {
            Some(n) => n.prev = prev,
            None => self.tail = prev,
        }
    }

    fn link_tail(&mut self, i: usize) {
        let tail = self.tail;
        if let Some(n) = self.node(i) {
            n.prev = tail;
            n.next = NIL;
        }
        match self.node(tail) {
            Some(t) => t.next = i,
            None => self.head = i,
        }
        self.tail = i;
    }

    /// The state of `key`, created with `make` when absent, marked most
    /// recently used at `time`/`frame`.
    pub(crate) fn touch(
        &mut self,
        key: FlowKey,
        time: i128,
        frame: u64,
        make: impl FnOnce() -> StreamFramer,
    ) -> &mut Flow {
        let i = match self.index.get(&key) {
            Some(&i) => {
                self.unlink(i);
                i
            }
            None => {
                let flow = Flow {
                    key,
                    framer: make(),
                    last_time: time,
                    last_frame: frame,
                    prev: NIL,
                    next: NIL,
                };
                let i = match self.free.pop() {
                    Some(i) => {
                        self.slots[i] = Some(flow);
                        i
                    }
                    None => {
                        self.slots.push(Some(flow));
                        self.slots.len() - 1
                    }
                };
                self.index.insert(key, i);
                i
            }
        };
        self.link_tail(i);
        let n = self.slots[i]
            .as_mut()
            .expect("slot just linked is occupied");
        n.last_time = time;
        n.last_frame = frame;
        n
    }

    /// The least recently used flow.
    pub(crate) fn oldest(&self) -> Option<&Flow> {
        self.slots.get(self.head)?.as_ref()
    }

    /// Removes `key`'s state.
    pub(crate) fn remove(&mut self, key: &FlowKey) -> Option<Flow> {
        let i = self.index.remove(key)?;
        self.unlink(i);
        self.free.push(i);
        self.slots.get_mut(i)?.take()
    }

    /// Removes and returns the least recently used flow.
    pub(crate) fn pop_oldest(&mut self) -> Option<Flow> {
        let key = self.oldest()?.key;
        self.remove(&key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(port: u16) -> FlowKey {
        FlowKey {
            src: ([10, 0, 0, 1], port).into(),
            dst: ([10, 0, 0, 2], 5060).into(),
        }
    }

    #[test]
    fn lru_order() {
        let mut t = FlowTable::new();
        for p in 1..=4 {
            t.touch(key(p), i128::from(p), u64::from(p), StreamFramer::default);
        }
        t.touch(key(1), 10, 10, StreamFramer::default);
        assert_eq!(t.oldest().unwrap().key, key(2));
        assert!(t.remove(&key(3)).is_some());
        assert_eq!(t.pop_oldest().unwrap().key, key(2));
        assert_eq!(t.pop_oldest().unwrap().key, key(4));
        assert_eq!(t.pop_oldest().unwrap().key, key(1));
        assert!(t.pop_oldest().is_none());
        assert_eq!(t.len(), 0);
        // Slots are reused.
        t.touch(key(9), 11, 11, StreamFramer::default);
        assert_eq!(t.slots.len(), 4);
        assert_eq!(t.oldest().unwrap().last_frame, 11);
    }
}
