//! How an instance binds its roles to nodes.
//!
//! A node is an address, or an address and port where one address holds
//! several SIP endpoints (SIPp scenarios on 127.0.0.1, a lab host running
//! a proxy and a server): ports tell two roles apart exactly when their
//! addresses are the same. A role declared `proxy` stands for a chain of
//! one or more proxies and binds to every node of the chain.

use std::net::SocketAddr;

use crate::rules::ast::StepIdx;

/// How one role is bound.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) enum Slot {
    #[default]
    Free,
    /// An endpoint: one node. `exact_port`: the port was given by the user
    /// (`--role uac=127.0.0.1:5061`), so it is always compared.
    Node {
        addr: SocketAddr,
        exact_port: bool,
        /// The step that bound it (`None`: given by the user).
        by: Option<StepIdx>,
    },
    /// A chain of proxies: its nodes, in the order they were met.
    Chain(Vec<SocketAddr>),
    /// A chain of proxies whose nodes the user gave: no other node joins.
    Given(Vec<SocketAddr>),
}

impl Slot {
    /// The first address bound (for conditions that name a role's node).
    pub fn addr(&self) -> Option<SocketAddr> {
        match self {
            Slot::Free => None,
            Slot::Node { addr, .. } => Some(*addr),
            Slot::Chain(m) | Slot::Given(m) => m.first().copied(),
        }
    }

    /// Every address bound.
    pub fn addrs(&self) -> &[SocketAddr] {
        match self {
            Slot::Free => &[],
            Slot::Node { addr, .. } => std::slice::from_ref(addr),
            Slot::Chain(m) | Slot::Given(m) => m,
        }
    }
}

/// Would a message from/to `addr` fit a role?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fit {
    /// The role is bound to that node.
    Yes,
    /// The role is free and would bind to it.
    Bind,
    /// The role is a proxy chain the node would join.
    Join,
    No,
}

/// The roles of an instance (or of one participant's iteration, laid over
/// the instance's).
pub(super) struct View<'a> {
    pub slots: &'a [Slot],
    /// The iteration's slots, for its per-participant roles; `None` with
    /// `fresh`: a participant not met yet (its roles are free).
    pub over: Option<&'a [Slot]>,
    pub fresh: bool,
    /// Which roles the iteration overrides.
    pub per_participant: &'a dyn Fn(usize) -> bool,
}

static FREE: Slot = Slot::Free;

impl View<'_> {
    pub fn slot(&self, role: usize) -> &Slot {
        if !(self.per_participant)(role) {
            return &self.slots[role];
        }
        match self.over {
            Some(o) => &o[role],
            None if self.fresh => &FREE,
            None => &self.slots[role],
        }
    }

    fn each_other(&self, role: usize) -> impl Iterator<Item = &Slot> {
        (0..self.slots.len())
            .filter(move |&r| r != role)
            .map(|r| self.slot(r))
    }

    /// Does another role hold an address on this IP? Then ports tell the
    /// nodes apart.
    fn shared(&self, role: usize, addr: SocketAddr) -> bool {
        self.each_other(role)
            .any(|s| s.addrs().iter().any(|a| a.ip() == addr.ip()))
    }

    /// Does another role hold exactly this node (address and port)? Two
    /// roles may share an address on different ports.
    fn taken(&self, role: usize, addr: SocketAddr) -> bool {
        self.each_other(role).any(|s| s.addrs().contains(&addr))
    }

    /// Would `role` accept `addr`?
    pub fn fit(&self, role: usize, addr: SocketAddr, proxy: bool) -> Fit {
        let same = |a: SocketAddr, exact: bool| {
            a.ip() == addr.ip() && (!(exact || self.shared(role, a)) || a.port() == addr.port())
        };
        match self.slot(role) {
            Slot::Node {
                addr: a,
                exact_port,
                ..
            } => {
                if same(*a, *exact_port) {
                    Fit::Yes
                } else {
                    Fit::No
                }
            }
            Slot::Given(m) => {
                if m.iter().any(|a| same(*a, a.port() != 0)) {
                    Fit::Yes
                } else {
                    Fit::No
                }
            }
            Slot::Chain(m) => {
                if m.iter().any(|a| same(*a, false)) {
                    Fit::Yes
                } else if self.taken(role, addr) {
                    Fit::No
                } else {
                    Fit::Join
                }
            }
            Slot::Free => {
                if self.taken(role, addr) {
                    Fit::No
                } else if proxy {
                    Fit::Join
                } else {
                    Fit::Bind
                }
            }
        }
    }
}

/// Bind or extend `slot` with `addr` (after a [`Fit::Bind`] or
/// [`Fit::Join`]).
pub(super) fn bind(slot: &mut Slot, addr: SocketAddr, by: StepIdx) {
    match slot {
        Slot::Chain(m) => {
            if !m.contains(&addr) {
                m.push(addr);
            }
        }
        Slot::Free => {
            *slot = Slot::Node {
                addr,
                exact_port: false,
                by: Some(by),
            }
        }
        Slot::Node { .. } | Slot::Given(_) => {}
    }
}
