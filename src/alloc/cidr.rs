//! CIDR parsing and the conversions between blocks and inclusive address intervals
//! that every other part of the allocator works in.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::free::block_last;
use super::{AllocError, Family};

/// Parses a CIDR block strictly: no host bits, with a suggestion when there are.
///
/// ```
/// use ipam::alloc::{parse_cidr, AllocError};
/// assert_eq!(parse_cidr("10.0.0.0/8").unwrap().to_string(), "10.0.0.0/8");
/// match parse_cidr("10.0.0.1/8") {
///     Err(AllocError::HostBitsSet { suggested, .. }) => assert_eq!(suggested.to_string(), "10.0.0.0/8"),
///     other => panic!("{other:?}"),
/// }
/// assert!(matches!(parse_cidr("10.0.0.0"), Err(AllocError::Malformed { .. })));
/// ```
pub fn parse_cidr(input: &str) -> Result<IpNet, AllocError> {
    let net: IpNet = input.trim().parse().map_err(|_| AllocError::Malformed {
        input: input.to_string(),
    })?;
    if net.trunc() != net {
        return Err(AllocError::HostBitsSet {
            input: input.to_string(),
            suggested: net.trunc(),
        });
    }
    Ok(net)
}

/// Parses a reserved range: a CIDR block, or a single address (a /32 or /128).
pub fn parse_range(input: &str) -> Result<IpNet, AllocError> {
    if let Ok(ip) = input.trim().parse::<IpAddr>() {
        return Ok(IpNet::from(ip));
    }
    parse_cidr(input)
}

pub(crate) fn addr_to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u32::from(a) as u128,
        IpAddr::V6(a) => u128::from(a),
    }
}

pub(crate) fn net_from(family: Family, start: u128, len: u8) -> IpNet {
    // `start` always fits the family and `len` never exceeds its width here.
    match family {
        Family::V4 => IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::from(start as u32), len)),
        Family::V6 => IpNet::V6(Ipv6Net::new_assert(Ipv6Addr::from(start), len)),
    }
}

pub(crate) fn span(net: &IpNet) -> (u128, u128) {
    let bits = Family::of(net).bits();
    let s = addr_to_u128(net.network());
    (s, block_last(bits, s, net.prefix_len()))
}

pub(super) fn check_net(family: Family, net: &IpNet) -> Result<(), AllocError> {
    if Family::of(net) != family {
        return Err(AllocError::MixedFamilies {
            family,
            other: *net,
            other_family: Family::of(net),
        });
    }
    if net.trunc() != *net {
        return Err(AllocError::HostBitsSet {
            input: net.to_string(),
            suggested: net.trunc(),
        });
    }
    Ok(())
}
