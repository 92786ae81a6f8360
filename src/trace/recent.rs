//! Retransmission detection: the messages of the last 64×T1, by hop.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};

use super::{Msg, RETRANSMISSION_HORIZON_NS};
use crate::capture::Timestamp;

/// The set of recently seen messages, keyed by a hash of what makes a
/// message "the same again" on one hop. Entries leave from the front of a
/// FIFO when older than the horizon: constant time per message.
#[derive(Debug, Default)]
pub(super) struct RecentSet {
    seen: HashMap<u64, Timestamp>,
    order: VecDeque<(Timestamp, u64)>,
}

fn key(msg: &Msg<'_>) -> u64 {
    let mut h = DefaultHasher::new();
    msg.src.ip().hash(&mut h);
    msg.dst.ip().hash(&mut h);
    msg.call_id.hash(&mut h);
    msg.cseq.hash(&mut h);
    msg.cseq_method.hash(&mut h);
    msg.sip.method().hash(&mut h);
    msg.sip.status().hash(&mut h);
    msg.top_branch.hash(&mut h);
    msg.to_tag.hash(&mut h);
    h.finish()
}

impl RecentSet {
    /// Record `msg`; true if the same message was seen on the same hop
    /// within the horizon.
    pub(super) fn seen_before(&mut self, msg: &Msg<'_>, now: Timestamp) -> bool {
        let k = key(msg);
        match self.seen.insert(k, now) {
            Some(_) => true,
            None => {
                self.order.push_back((now, k));
                false
            }
        }
    }

    pub(super) fn expire(&mut self, now: Timestamp) {
        while let Some(&(t, k)) = self.order.front() {
            if now.as_nanos() - t.as_nanos() <= RETRANSMISSION_HORIZON_NS {
                break;
            }
            self.order.pop_front();
            // A retransmission refreshed the entry: keep it until its own time.
            match self.seen.get(&k) {
                Some(&last) if last > t => self.order.push_back((last, k)),
                _ => {
                    self.seen.remove(&k);
                }
            }
        }
    }
}
