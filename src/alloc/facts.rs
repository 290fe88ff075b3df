//! Facts about one CIDR block, as Terraform users read them.

use std::net::IpAddr;

use ipnet::IpNet;

use super::free::block_count;
use super::Count;

/// What a block is: its network, mask, first and last address and size.
///
/// ```
/// use ipam::alloc::Facts;
/// let f = Facts::of(&"10.1.0.0/22".parse().unwrap());
/// assert_eq!(f.netmask.unwrap().to_string(), "255.255.252.0");
/// assert_eq!(f.last_address.to_string(), "10.1.3.255");
/// assert_eq!(f.address_count, ipam::alloc::Count::from(1024u32));
/// // IPv6 blocks have no netmask, and the whole space has 2^128 addresses.
/// let all = Facts::of(&"::/0".parse().unwrap());
/// assert!(all.netmask.is_none());
/// assert_eq!(all.address_count.to_string(), "340282366920938463463374607431768211456");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub network_address: IpAddr,
    /// Dotted netmask, IPv4 only.
    pub netmask: Option<IpAddr>,
    pub first_address: IpAddr,
    pub last_address: IpAddr,
    pub prefix_length: u8,
    /// Addresses in the block, exact (2^128 for `::/0`).
    pub address_count: Count,
}

impl Facts {
    pub fn of(net: &IpNet) -> Facts {
        Facts {
            network_address: net.network(),
            netmask: match net {
                IpNet::V4(n) => Some(IpAddr::V4(n.netmask())),
                IpNet::V6(_) => None,
            },
            first_address: net.network(),
            last_address: net.broadcast(),
            prefix_length: net.prefix_len(),
            address_count: block_count(net.max_prefix_len(), net.prefix_len()),
        }
    }
}
