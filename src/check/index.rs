//! The index of open instances by what their pending steps can match on.
//!
//! Every step of every rule the language accepts is found through a key a
//! message carries, so a message costs a few hash lookups whatever the
//! rule's shape:
//!
//! - a step tied by a relation (`same-transaction`, `response-to`,
//!   `in-dialog`), and every next hop or retransmission of a message an
//!   instance holds: the **Call-ID** of the instance's seen messages;
//! - a step tied by `match PATH == $var`: the **value** the path must have
//!   (its fingerprint), looked up only for messages of the step's kind;
//! - a step in a conference's dialogs (`dialog-of $v`): those dialogs'
//!   Call-IDs when the capture holds the conference's setup, else the
//!   conference URI in From or To;
//! - otherwise the **sender** (a role bound by an earlier step) and the
//!   message's kind; a step with none of these is found by its kind alone,
//!   and `rules lint` says so.
//!
//! Buckets delete lazily: a settled instance leaves a dead id behind, and a
//! bucket is compacted when half of it is dead, so eviction costs constant
//! time amortized and a flood of open instances never makes a settle scan.

use std::net::IpAddr;

use rustc_hash::FxHashMap as HashMap;

use super::eval::values_equal;
use crate::rules::ast::{Accessor, Base, CondKind, MessagePattern, Op, Operand, Path, Rule};
use crate::trace::{Msg, uri};

/// What an index entry is keyed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Key {
    CallId(u64),
    /// A value a `match PATH == $var` waits for: the path's id in
    /// [`ValuePaths`] and the value's fingerprint ([`value_key`]).
    Value {
        path: u16,
        value: u64,
    },
    /// A message of this kind ([`kind_of_step`]) from this sender.
    Src {
        ip: IpAddr,
        kind: u64,
    },
    /// Any message of this kind.
    Kind(u64),
}

/// The fingerprint of a message kind: a request's method, or a response's
/// CSeq method.
fn kind_key(request: bool, method: &str) -> u64 {
    let mut h: u64 = if request { 0x5151 } else { 0x7373 };
    for b in method.bytes() {
        h = (h ^ u64::from(b.to_ascii_uppercase())).wrapping_mul(0x100_0000_01b3);
    }
    h
}

/// The kind of message a step expects.
pub(super) fn kind_of_step(p: &MessagePattern) -> u64 {
    match p {
        MessagePattern::Request { method } => kind_key(true, method),
        MessagePattern::Response { method, .. } => kind_key(false, method),
    }
}

/// The kind of a message.
pub(super) fn kind_of_msg(msg: &Msg<'_>) -> u64 {
    match msg.method {
        Some(m) => kind_key(true, m),
        None => kind_key(false, msg.cseq_method),
    }
}

/// The fingerprint under which a value is indexed: equal under
/// [`values_equal`] implies equal fingerprints (URIs by their canonical
/// form, other values case-folded). Equality itself is still decided by
/// the condition on the message, never by the fingerprint.
pub(super) fn value_key(v: &str) -> u64 {
    if uri::looks_like_uri(v) {
        uri::canonical_hash(v)
    } else {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in v.trim().bytes() {
            h = (h ^ u64::from(b.to_ascii_lowercase())).wrapping_mul(0x100_0000_01b3);
        }
        h
    }
}

/// The paths whose values steps wait for, each with the message kind it
/// is read from, numbered once for all rules.
#[derive(Debug, Default)]
pub(super) struct ValuePaths {
    paths: Vec<(u64, Path)>,
    /// Open instances waiting on each path: a message reads only the paths
    /// something waits on.
    pub waiting: Vec<usize>,
}

impl ValuePaths {
    pub fn id(&mut self, kind: u64, path: &Path) -> u16 {
        if let Some(i) = self.paths.iter().position(|(k, p)| *k == kind && p == path) {
            return i as u16;
        }
        self.paths.push((kind, path.clone()));
        self.waiting.push(0);
        (self.paths.len() - 1) as u16
    }

    /// The id of a path already registered.
    pub fn find(&self, kind: u64, path: &Path) -> Option<u16> {
        self.paths
            .iter()
            .position(|(k, p)| *k == kind && p == path)
            .map(|i| i as u16)
    }

    /// The value keys `msg` carries for the paths something waits on.
    pub fn keys_of(&self, msg: &Msg<'_>, kind: u64, out: &mut Vec<Key>) {
        for (i, (k, path)) in self.paths.iter().enumerate() {
            if *k != kind || self.waiting[i] == 0 {
                continue;
            }
            if let Some(v) = super::eval::eval_path(msg, path) {
                out.push(Key::Value {
                    path: i as u16,
                    value: value_key(&v),
                });
            }
        }
    }
}

/// `from.uri` / `to.uri`: where a conference dialog's requests name the
/// conference when the capture lacks its setup.
pub(super) fn from_to_uri() -> [Path; 2] {
    let p = |h: &str| Path {
        base: Base::Header(h.to_string()),
        accessors: vec![Accessor::Uri],
    };
    [p("from"), p("to")]
}

/// Register every path a rule's steps wait on by value.
pub(super) fn register(rule: &Rule, paths: &mut ValuePaths) {
    for step in rule.steps.iter().skip(1) {
        if step.relation.is_some() {
            continue;
        }
        let kind = kind_of_step(&step.message);
        for c in &step.matches {
            match &c.kind {
                CondKind::Compare {
                    path,
                    op: Op::Eq(Operand::Var(_)),
                } => {
                    paths.id(kind, path);
                }
                CondKind::DialogOf { .. } => {
                    for p in from_to_uri() {
                        paths.id(kind, &p);
                    }
                }
                _ => {}
            }
        }
    }
}

/// A bucket of instance ids, deleted from lazily.
#[derive(Debug, Default)]
struct Bucket {
    ids: Vec<u64>,
    dead: usize,
}

/// Instances by key.
#[derive(Debug, Default)]
pub(super) struct Index {
    map: HashMap<Key, Bucket>,
    /// How many live keys of each sort there are (none: skip the lookup).
    pub src_keys: usize,
    pub kind_keys: usize,
}

impl Index {
    pub fn insert(&mut self, key: Key, id: u64) {
        self.map.entry(key).or_default().ids.push(id);
        match key {
            Key::Src { .. } => self.src_keys += 1,
            Key::Kind(_) => self.kind_keys += 1,
            _ => {}
        }
    }

    /// Forget `id` under `key`; `live` says which ids are still open.
    pub fn remove(&mut self, key: Key, live: impl Fn(u64) -> bool) {
        match key {
            Key::Src { .. } => self.src_keys -= 1,
            Key::Kind(_) => self.kind_keys -= 1,
            _ => {}
        }
        let Some(b) = self.map.get_mut(&key) else {
            return;
        };
        b.dead += 1;
        if b.dead * 2 >= b.ids.len() {
            b.ids.retain(|&id| live(id));
            b.dead = 0;
            if b.ids.is_empty() {
                self.map.remove(&key);
            }
        }
    }

    pub fn gather(&self, key: Key, out: &mut Vec<u64>) {
        if let Some(b) = self.map.get(&key) {
            out.extend_from_slice(&b.ids);
        }
    }
}

/// Do two values compare equal as conditions compare them? (Re-exported
/// for tests of [`value_key`].)
#[allow(dead_code)]
pub(super) fn same_value(a: &str, b: &str) -> bool {
    values_equal(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_values_share_a_key() {
        for (a, b) in [
            ("sip:Conf@EXAMPLE.com", "sip:Conf@example.com"),
            ("refer", "REFER"),
            (" conference ", "Conference"),
            ("<sip:s@a.example.com;x=1>", "sip:s@a.example.com;x=1"),
        ] {
            assert!(same_value(a, b), "{a} {b}");
            assert_eq!(value_key(a), value_key(b), "{a} {b}");
        }
    }

    #[test]
    fn lazy_buckets_compact() {
        let mut ix = Index::default();
        let k = Key::Kind(1);
        for id in 0..10 {
            ix.insert(k, id);
        }
        // Settle 0..5: the bucket is compacted once half is dead.
        for dead in 0..5u64 {
            ix.remove(k, |id| id > dead);
        }
        let mut out = Vec::new();
        ix.gather(k, &mut out);
        assert_eq!(out, vec![5, 6, 7, 8, 9]);
        assert_eq!(ix.kind_keys, 5);
    }
}
