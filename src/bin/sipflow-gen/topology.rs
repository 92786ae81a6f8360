//! Who is where: home networks, their nodes, and their addresses.
//!
//! Each home network `j` has one SIP/IP core proxy, one PoC server (the
//! participating server of its own clients and the controlling server of
//! the sessions it hosts) and thousands of clients, each on its own address
//! in 10.0.0.0/8. Proxies and servers are shared by every flow instance, as
//! in a real network; clients are drawn at random per instance.
//! Topology variants (variant.rs) add IMS chain proxies and further PoC
//! servers in the same networks, and networks of their own for the
//! one-vantage capture ([`VANTAGE`]).

use crate::rng::Rng;

/// Number of home networks.
pub const NETS: u8 = 16;
/// Clients per home network.
pub const CLIENTS_PER_NET: u32 = 10_000;

/// A network's index.
pub type Net = u8;

/// Address of network `net`'s core proxy (10.N.0.10).
pub fn core(net: Net) -> u32 {
    base(net) | 10
}

/// Address of network `net`'s PoC server (10.N.0.20).
pub fn poc(net: Net) -> u32 {
    base(net) | 20
}

/// Address of client `n` of network `net` (10.N.(1+n/250).(1+n%250)).
pub fn client(net: Net, n: u32) -> u32 {
    let n = n % CLIENTS_PER_NET;
    base(net) | ((1 + n / 250) << 8) | (1 + n % 250)
}

/// Whether `ip` is a network's core proxy or PoC server (not a client).
pub fn is_server(ip: u32) -> bool {
    ip & 0xff00 == 0
}

/// First network of the one-vantage topology (networks 64-224, addresses
/// 10.65-225.x.x): used by no other instance, so that a link the capture
/// leaves out carries no SIP at all in the whole trace. Flows 1 and 2 use
/// networks 64-71; flow 3 one pair of odd networks of its own per instance
/// (from [`VANTAGE_FLOW3`]).
pub const VANTAGE: Net = 64;

/// First network of one-vantage flow 3 instances (odd networks 97-223).
pub const VANTAGE_FLOW3: Net = 97;

/// Last network of the one-vantage topology.
pub const VANTAGE_LAST: Net = 224;

/// IMS chain proxies of network `net` (topology `ims`): P-CSCF 10.N.0.11,
/// S-CSCF 10.N.0.12, I-CSCF 10.N.0.13, and a second P-CSCF 10.N.0.14 on
/// the way to the called side's edge.
pub fn p_cscf(net: Net) -> u32 {
    base(net) | 11
}

/// S-CSCF of network `net` (see [`p_cscf`]).
pub fn s_cscf(net: Net) -> u32 {
    base(net) | 12
}

/// I-CSCF of network `net` (see [`p_cscf`]).
pub fn i_cscf(net: Net) -> u32 {
    base(net) | 13
}

/// Second P-CSCF of network `net` (see [`p_cscf`]).
pub fn e_cscf(net: Net) -> u32 {
    base(net) | 14
}

/// Address of network `net`'s `k`-th additional participating PoC server
/// (10.N.0.21+k; topology `core-a-only`).
pub fn poc_extra(net: Net, k: u8) -> u32 {
    base(net) | (21 + u32::from(k))
}

/// Whether the one-vantage capture sees a node's links: the cores of the
/// even one-vantage networks and the clients of the odd ones. Every other
/// address (outside the one-vantage networks) is always captured.
pub fn tapped(ip: u32) -> bool {
    let second = (ip >> 16) & 0xff;
    let first = u32::from(VANTAGE) + 1;
    if ip >> 24 != 10 || !(first..=u32::from(VANTAGE_LAST) + 1).contains(&second) {
        return true;
    }
    let even = (second - first).is_multiple_of(2);
    if is_server(ip) {
        even && ip & 0xff == 10
    } else {
        !even
    }
}

/// Whether a link between `a` and `b` is in the capture.
pub fn captured(a: u32, b: u32) -> bool {
    tapped(a) || tapped(b)
}

/// A random one-vantage network of flows 1 and 2 (64-71) of the given
/// parity (even: its core is tapped; odd: its clients are).
pub fn vantage_net(rng: &mut Rng, even: bool, not: &[Net]) -> Net {
    loop {
        let n = VANTAGE + 2 * rng.below(4) as Net + u8::from(!even);
        if !not.contains(&n) {
            return n;
        }
    }
}

fn base(net: Net) -> u32 {
    (10 << 24) | ((u32::from(net) + 1) << 16)
}

/// A random network.
pub fn any_net(rng: &mut Rng) -> Net {
    rng.below(u64::from(NETS)) as Net
}

/// A random network not in `not`.
pub fn other_net(rng: &mut Rng, not: &[Net]) -> Net {
    loop {
        let n = any_net(rng);
        if !not.contains(&n) {
            return n;
        }
    }
}

/// A random client number.
pub fn any_client(rng: &mut Rng) -> u32 {
    rng.below(u64::from(CLIENTS_PER_NET)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_distinct_per_node() {
        let mut seen = std::collections::HashSet::new();
        for net in 0..NETS {
            assert!(seen.insert(core(net)));
            assert!(seen.insert(poc(net)));
            for n in 0..CLIENTS_PER_NET {
                assert!(seen.insert(client(net, n)));
            }
        }
        assert_eq!(client(0, 0), 0x0a01_0101);
        assert_eq!(core(15), 0x0a10_000a);
    }

    #[test]
    fn one_vantage_taps_even_cores_and_odd_clients_only() {
        for net in 0..NETS {
            assert!(tapped(core(net)) && tapped(poc(net)) && tapped(client(net, 7)));
            assert!(tapped(s_cscf(net)));
        }
        let (e, o) = (VANTAGE, VANTAGE + 1);
        assert!(tapped(core(e)) && !tapped(poc(e)) && !tapped(client(e, 3)));
        assert!(!tapped(core(o)) && !tapped(poc(o)) && tapped(client(o, 3)));
        assert!(captured(client(e, 3), core(e)) && !captured(core(o), poc(o)));
        assert_eq!(core(VANTAGE + 15), 0x0a50_000a);
        assert!(tapped(client(VANTAGE_LAST - 1, 2)) && !tapped(core(VANTAGE_LAST - 1)));
        assert!(tapped(core(VANTAGE_LAST)) && !tapped(client(VANTAGE_LAST, 2)));
        assert!(tapped(core(VANTAGE_LAST + 1)) && tapped(client(VANTAGE_LAST + 1, 2)));
        let mut rng = Rng::new(3);
        for _ in 0..50 {
            let n = vantage_net(&mut rng, false, &[VANTAGE + 1]);
            assert!((VANTAGE..VANTAGE + 8).contains(&n) && n % 2 == 1 && n != VANTAGE + 1);
        }
    }
}
