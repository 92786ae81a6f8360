//! Topology variants: where the nodes of a PoC instance sit and how its
//! requests are routed, beyond the one core proxy per network of the
//! spec's figure. Each PoC instance of a trace made with `--topologies`
//! gets one variant, drawn from the ones asked for; without the flag every
//! instance is the spec's figure, exactly as before the variants existed.

use crate::poc::Rule;
use crate::rng::Rng;
use crate::sip::{MAX_PATH, Path};
use crate::topology::{self, Net, core, e_cscf, i_cscf, p_cscf, poc, poc_extra, s_cscf};

/// A topology variant (the names are those of `--topologies`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topology {
    /// The spec's figure: one core proxy per network, every participating
    /// server reached through its own network's core.
    Spec,
    /// Flow 2's other participating servers are reached by ctrl-a
    /// directly, with no proxy in between.
    Direct,
    /// Flow 2's other participating servers sit in network A, behind
    /// core-a alone.
    CoreAOnly,
    /// Every core is a chain of two or three proxies (IMS-like).
    Ims,
    /// The capture holds only the links touching one vantage point (a core
    /// for flows 1 and 2, client A for flow 3).
    OneVantage,
    /// Flow 3 is due (subscription, then a session dialog for client A)
    /// but server-a's NOTIFY never comes.
    NotifyNever,
    /// Client B's REFER(BYE) is followed by neither flow 1's nor flow 2's
    /// behaviour.
    NoAlternative,
}

impl Topology {
    /// Every variant, in the order of the summary.
    pub const ALL: [Topology; 7] = [
        Topology::Spec,
        Topology::Direct,
        Topology::CoreAOnly,
        Topology::Ims,
        Topology::OneVantage,
        Topology::NotifyNever,
        Topology::NoAlternative,
    ];

    /// The name `--topologies` and the truth file use.
    pub fn name(self) -> &'static str {
        match self {
            Topology::Spec => "spec",
            Topology::Direct => "direct",
            Topology::CoreAOnly => "core-a-only",
            Topology::Ims => "ims",
            Topology::OneVantage => "one-vantage",
            Topology::NotifyNever => "notify-never",
            Topology::NoAlternative => "no-alternative",
        }
    }

    /// Parse a comma-separated list of names, or `all`.
    pub fn parse_list(s: &str) -> Result<Vec<Topology>, String> {
        let mut v = Vec::new();
        for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if name == "all" {
                return Ok(Topology::ALL.to_vec());
            }
            let t = Topology::ALL
                .iter()
                .copied()
                .find(|t| t.name() == name)
                .ok_or_else(|| {
                    format!(
                        "unknown topology '{name}' (use all, or some of: {})",
                        Topology::ALL.map(Topology::name).join(", ")
                    )
                })?;
            if !v.contains(&t) {
                v.push(t);
            }
        }
        if v.is_empty() {
            return Err("no topology named (use all, or e.g. spec,ims)".to_string());
        }
        Ok(v)
    }

    /// The flows an instance of this variant can be.
    pub fn rules(self) -> &'static [Rule] {
        match self {
            Topology::Spec | Topology::Ims | Topology::OneVantage => &Rule::ALL,
            Topology::Direct | Topology::CoreAOnly | Topology::NoAlternative => {
                &[Rule::ReleaseSelf, Rule::ReleaseSession]
            }
            Topology::NotifyNever => &[Rule::ParticipantNotify],
        }
    }
}

/// The network one PoC instance is built in.
#[derive(Debug, Clone, Copy)]
pub struct Ctx {
    /// Its variant; `None`: the trace has no variants (the original
    /// output, byte for byte).
    pub topo: Option<Topology>,
    /// `ims`: the terminating chains have three proxies (else two).
    pub long_in: bool,
    /// Number of flow-3 instances started before this one (makes client
    /// A's address of record unique in the trace).
    pub seq: u64,
}

impl Ctx {
    /// The context of a trace without variants.
    pub fn legacy() -> Ctx {
        Ctx {
            topo: None,
            long_in: false,
            seq: 0,
        }
    }

    /// The context of an instance of variant `topo`.
    pub fn of(rng: &mut Rng, topo: Topology, seq: u64) -> Ctx {
        Ctx {
            topo: Some(topo),
            long_in: topo == Topology::Ims && rng.chance(0.5),
            seq,
        }
    }

    /// One-vantage flow 3: client A's network and the PoC session's, both
    /// odd (untapped cores) and client A's used by no other instance of
    /// the first 64, so that its core has captured SIP with its own client
    /// A only.
    pub fn flow3_vantage_nets(&self) -> (Net, Net) {
        let a = topology::VANTAGE_FLOW3 + 2 * (self.seq % 64) as Net;
        let c = if a + 2 <= topology::VANTAGE_LAST {
            a + 2
        } else {
            a - 2
        };
        (a, c)
    }

    /// Whether the trace has variants (and the truth's format 2).
    pub fn v2(&self) -> bool {
        self.topo.is_some()
    }

    /// Whether this instance is of variant `t`.
    pub fn is(&self, t: Topology) -> bool {
        self.topo == Some(t)
    }

    /// A random network for the instance's first node (`even`: the
    /// parity of its one-vantage network, see [`topology::tapped`]).
    pub fn net(&self, rng: &mut Rng, even: bool, not: &[Net]) -> Net {
        if self.is(Topology::OneVantage) {
            topology::vantage_net(rng, even, not)
        } else if not.is_empty() {
            topology::any_net(rng)
        } else {
            topology::other_net(rng, not)
        }
    }

    /// The network on the other side of `n` (network A of flows 1 and 2,
    /// the PoC session's network of flow 3). One-vantage: its pair (even
    /// 2k with odd 2k+1), so that the untapped core of an odd network has
    /// captured SIP with one node only, its pair's core (a bound role of
    /// every instance that uses it), and no other SIP at all.
    pub fn peer_net(&self, rng: &mut Rng, n: Net) -> Net {
        if self.is(Topology::OneVantage) {
            n ^ 1
        } else {
            self.net(rng, false, &[n])
        }
    }

    /// A client of flows 1 and 2 (with variants: users 5000-9999, never a
    /// flow-3 client A, so that no session dialog of theirs makes a flow 3
    /// due).
    pub fn user(&self, rng: &mut Rng) -> u32 {
        if self.v2() {
            5_000 + rng.below(5_000) as u32
        } else {
            topology::any_client(rng)
        }
    }

    /// Flow 3's client A (with variants: user `seq % 5000`, unique among
    /// the first 5000 flow-3 instances of a trace).
    pub fn user_a(&self, rng: &mut Rng) -> u32 {
        if self.v2() {
            (self.seq % 5_000) as u32
        } else {
            topology::any_client(rng)
        }
    }

    /// The proxies a request crosses leaving network `n`.
    fn out_chain(&self, n: Net, v: &mut Vec<u32>) {
        if self.is(Topology::Ims) {
            v.extend([p_cscf(n), s_cscf(n)]);
        } else {
            v.push(core(n));
        }
    }

    /// The proxies a request crosses entering network `n`.
    fn in_chain(&self, n: Net, v: &mut Vec<u32>) {
        if self.is(Topology::Ims) {
            v.extend([i_cscf(n), s_cscf(n)]);
            if self.long_in {
                v.push(e_cscf(n));
            }
        } else {
            v.push(core(n));
        }
    }

    /// The path from `from` (in network `fnet`) to `to` (in `tnet`):
    /// through `fnet`'s core, and `tnet`'s when it is another network.
    /// Each core (one proxy, or an IMS chain) is one role group.
    pub fn route(&self, from: u32, fnet: Net, to: u32, tnet: Net) -> Path {
        let mut nodes = Vec::with_capacity(MAX_PATH);
        let mut groups = Vec::with_capacity(MAX_PATH);
        nodes.push(from);
        groups.push(0);
        self.out_chain(fnet, &mut nodes);
        groups.resize(nodes.len(), 1);
        if fnet != tnet {
            self.in_chain(tnet, &mut nodes);
            groups.resize(nodes.len(), 2);
        }
        nodes.push(to);
        groups.push(groups.last().map_or(1, |g| g + 1));
        Path::grouped(&nodes, &groups)
    }

    /// Where ctrl-a (network `a`) reaches flow 2's `k`-th other
    /// participating server, drawn in network `x`: its address, the
    /// network its users belong to, and the path.
    pub fn participant(&self, a: Net, x: Net, k: u8) -> (u32, Net, Path) {
        match self.topo {
            Some(Topology::Direct) => (poc(x), x, Path::new(&[poc(a), poc(x)])),
            Some(Topology::CoreAOnly) => {
                let px = poc_extra(a, k);
                (px, a, self.route(poc(a), a, px, a))
            }
            _ => (poc(x), x, self.route(poc(a), a, poc(x), x)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(p: &Path) -> Vec<u32> {
        (0..p.len()).map(|i| p.at(i)).collect()
    }

    fn steps(p: &Path) -> Vec<bool> {
        (0..p.last()).map(|i| p.crosses(i)).collect()
    }

    #[test]
    fn spec_routes_are_the_original_paths() {
        let c = Ctx::legacy();
        let p = c.route(poc(1), 1, poc(2), 2);
        assert_eq!(nodes(&p), vec![poc(1), core(1), core(2), poc(2)]);
        assert_eq!(steps(&p), vec![true; 3]);
        let p = c.route(topology::client(1, 5), 1, poc(1), 1);
        assert_eq!(nodes(&p), vec![topology::client(1, 5), core(1), poc(1)]);
    }

    #[test]
    fn ims_chains_are_one_role_each() {
        let mut c = Ctx::legacy();
        c.topo = Some(Topology::Ims);
        c.long_in = true;
        let p = c.route(poc(1), 1, poc(2), 2);
        assert_eq!(
            nodes(&p),
            vec![
                poc(1),
                p_cscf(1),
                s_cscf(1),
                i_cscf(2),
                s_cscf(2),
                e_cscf(2),
                poc(2)
            ]
        );
        assert_eq!(steps(&p), vec![true, false, true, false, false, true]);
        assert_eq!(
            steps(&p.reversed()),
            vec![true, false, false, true, false, true]
        );
    }

    #[test]
    fn other_participants_direct_or_behind_core_a() {
        let mut c = Ctx::legacy();
        c.topo = Some(Topology::Direct);
        let (ip, n, p) = c.participant(1, 2, 0);
        assert_eq!((ip, n, nodes(&p)), (poc(2), 2, vec![poc(1), poc(2)]));
        c.topo = Some(Topology::CoreAOnly);
        let (ip, n, p) = c.participant(1, 2, 1);
        assert_eq!(
            (ip, n, nodes(&p)),
            (poc_extra(1, 1), 1, vec![poc(1), core(1), poc_extra(1, 1)])
        );
    }

    #[test]
    fn other_networks_differ() {
        let c = Ctx::legacy();
        let mut r = Rng::new(5);
        for _ in 0..1000 {
            let b = c.net(&mut r, true, &[]);
            let a = c.net(&mut r, false, &[b]);
            assert_ne!(a, b);
        }
    }

    #[test]
    fn names_parse() {
        assert_eq!(Topology::parse_list("all").unwrap().len(), 7);
        assert_eq!(
            Topology::parse_list("ims, spec,ims").unwrap(),
            vec![Topology::Ims, Topology::Spec]
        );
        assert!(Topology::parse_list("mesh").is_err());
        assert!(Topology::parse_list("").is_err());
    }
}
