//! Facts about one CIDR block, as Terraform users read them.

use std::net::IpAddr;

use ipnet::IpNet;

/// What a block is: its network, mask, first and last address and size.
///
/// ```
/// use ipam::alloc::Facts;
/// let f = Facts::of(&"10.1.0.0/22".parse().unwrap());
/// assert_eq!(f.netmask.unwrap().to_string(), "255.255.252.0");
/// assert_eq!(f.last_address.to_string(), "10.1.3.255");
/// assert_eq!(f.address_count, 1024);
/// // IPv6 blocks have no netmask.
/// assert!(Facts::of(&"fd00::/64".parse().unwrap()).netmask.is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub network_address: IpAddr,
    /// Dotted netmask, IPv4 only.
    pub netmask: Option<IpAddr>,
    pub first_address: IpAddr,
    pub last_address: IpAddr,
    pub prefix_length: u8,
    /// Addresses in the block; a /0 of IPv6 does not fit and saturates.
    pub address_count: u128,
}

impl Facts {
    pub fn of(net: &IpNet) -> Facts {
        let host_bits = (net.max_prefix_len() - net.prefix_len()) as u32;
        Facts {
            network_address: net.network(),
            netmask: match net {
                IpNet::V4(n) => Some(IpAddr::V4(n.netmask())),
                IpNet::V6(_) => None,
            },
            first_address: net.network(),
            last_address: net.broadcast(),
            prefix_length: net.prefix_len(),
            address_count: 1u128.checked_shl(host_bits).unwrap_or(u128::MAX),
        }
    }
}
