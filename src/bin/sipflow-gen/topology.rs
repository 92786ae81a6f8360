//! Who is where: home networks, their nodes, and their addresses.
//!
//! Each home network `j` has one SIP/IP core proxy, one PoC server (the
//! participating server of its own clients and the controlling server of
//! the sessions it hosts) and thousands of clients, each on its own address
//! in 10.0.0.0/8. Proxies and servers are shared by every flow instance, as
//! in a real network; clients are drawn at random per instance.

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
}
