//! What clouds reserve in a subnet, and the sizing arithmetic of GKE and EKS ranges.
//!
//! `ipam_allocation`'s usable range and the provider functions `usable_range`,
//! `prefix_length_for`, `gke_*` and `eks_*` all come from here.

use std::net::IpAddr;

use ipnet::IpNet;
use thiserror::Error;

use super::{addr_to_u128, Count, Facts};

/// A cloud whose subnets lose addresses to the provider's own use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cloud {
    /// Primary ranges: network, gateway, second-to-last and broadcast address.
    Gcp,
    /// The first four and the last address.
    Aws,
    /// The first four and the last address.
    Azure,
    /// Nothing reserved.
    None,
}

impl Cloud {
    /// `gcp`, `aws`, `azure` or `none`.
    pub fn parse(s: &str) -> Option<Cloud> {
        match s {
            "gcp" => Some(Cloud::Gcp),
            "aws" => Some(Cloud::Aws),
            "azure" => Some(Cloud::Azure),
            "none" => Some(Cloud::None),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Cloud::Gcp => "gcp",
            Cloud::Aws => "aws",
            Cloud::Azure => "azure",
            Cloud::None => "none",
        }
    }

    /// Addresses taken from the start and from the end of a subnet's primary range,
    /// and whether the second address is the gateway.
    fn reservation(self) -> (u128, u128, bool) {
        match self {
            Cloud::Gcp => (2, 2, true),
            Cloud::Aws | Cloud::Azure => (4, 1, true),
            Cloud::None => (0, 0, false),
        }
    }

    /// Addresses of a subnet the cloud keeps for itself.
    pub fn reserved_count(self) -> u128 {
        let (head, tail, _) = self.reservation();
        head + tail
    }
}

/// The part of a subnet a cloud lets hosts use.
///
/// ```
/// use ipam::alloc::{Cloud, UsableRange};
/// let u = UsableRange::of(&"10.0.1.0/28".parse().unwrap(), Cloud::Aws, false);
/// assert_eq!(u.gateway_address.unwrap().to_string(), "10.0.1.1");
/// assert_eq!(u.usable.unwrap().0.to_string(), "10.0.1.4");
/// assert_eq!(u.usable_count.to_string(), "11");
/// // A block no larger than what the cloud reserves has nothing usable.
/// let tiny = UsableRange::of(&"10.0.1.0/30".parse().unwrap(), Cloud::Azure, false);
/// assert!(tiny.usable.is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsableRange {
    pub gateway_address: Option<IpAddr>,
    /// First and last usable address; `None` when nothing is left.
    pub usable: Option<(IpAddr, IpAddr)>,
    pub usable_count: Count,
}

fn offset(ip: IpAddr, n: u128, up: bool) -> IpAddr {
    let v = addr_to_u128(ip);
    let v = if up { v + n } else { v - n };
    match ip {
        IpAddr::V4(_) => IpAddr::V4((v as u32).into()),
        IpAddr::V6(_) => IpAddr::V6(v.into()),
    }
}

impl UsableRange {
    /// The usable range of `net` on `cloud`. A GCP secondary range (Pods, Services,
    /// alias IPs) reserves nothing and has no gateway.
    pub fn of(net: &IpNet, cloud: Cloud, gcp_secondary: bool) -> UsableRange {
        let (head, tail, gateway) = if cloud == Cloud::Gcp && gcp_secondary {
            (0, 0, false)
        } else {
            cloud.reservation()
        };
        let f = Facts::of(net);
        let reserved = Count::from(head + tail);
        let gateway_address =
            (gateway && f.address_count >= 2).then(|| offset(f.first_address, 1, true));
        if f.address_count > reserved {
            UsableRange {
                gateway_address,
                usable: Some((
                    offset(f.first_address, head, true),
                    offset(f.last_address, tail, false),
                )),
                usable_count: f.address_count - reserved,
            }
        } else {
            UsableRange {
                gateway_address,
                usable: None,
                usable_count: Count::ZERO,
            }
        }
    }
}

/// A sizing input out of range: which input, and what was wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{message}")]
pub struct SizingError {
    /// The input's name, as the sizing function's parameter is called.
    pub input: &'static str,
    pub message: String,
}

fn err(input: &'static str, message: String) -> SizingError {
    SizingError { input, message }
}

/// Checks that `value` is within `min..=max`.
fn within(input: &'static str, value: u64, min: u64, max: u64) -> Result<u64, SizingError> {
    if value < min || value > max {
        return Err(err(
            input,
            format!("{value} is out of range; expected a whole number from {min} to {max}"),
        ));
    }
    Ok(value)
}

/// The smallest `k` with `2^k >= n` (n >= 1).
fn ceil_log2(n: u128) -> u32 {
    if n <= 1 {
        0
    } else {
        128 - (n - 1).leading_zeros()
    }
}

/// The IPv4 prefix length of the smallest block of at least `addresses` addresses, or
/// `None` when even a /0 is too small.
fn v4_prefix_for(addresses: u128) -> Option<u8> {
    let k = ceil_log2(addresses);
    (k <= 32).then(|| 32 - k as u8)
}

/// The longest IPv4 prefix length whose block leaves at least `addresses` usable
/// addresses on `cloud`.
///
/// ```
/// use ipam::alloc::{prefix_length_for, Cloud};
/// assert_eq!(prefix_length_for(250, Cloud::Aws).unwrap(), 24);
/// assert_eq!(prefix_length_for(252, Cloud::Aws).unwrap(), 23);
/// assert_eq!(prefix_length_for(1, Cloud::None).unwrap(), 32);
/// assert!(prefix_length_for(0, Cloud::Gcp).is_err());
/// ```
pub fn prefix_length_for(addresses: u64, cloud: Cloud) -> Result<u8, SizingError> {
    let max = (1u64 << 32) - cloud.reserved_count() as u64;
    within("addresses", addresses, 1, max)?;
    v4_prefix_for(u128::from(addresses) + cloud.reserved_count()).ok_or_else(|| {
        err(
            "addresses",
            format!("{addresses} addresses do not fit in IPv4"),
        )
    })
}

/// GKE's per-node Pod block: the smallest block with at least twice `max_pods`
/// addresses (GKE doubles the Pod count so that addresses are not reused at once).
///
/// ```
/// use ipam::alloc::gke_pod_prefix_per_node;
/// assert_eq!(gke_pod_prefix_per_node(110).unwrap(), 24);
/// assert_eq!(gke_pod_prefix_per_node(8).unwrap(), 28);
/// assert_eq!(gke_pod_prefix_per_node(256).unwrap(), 23);
/// assert!(gke_pod_prefix_per_node(7).is_err());
/// ```
pub fn gke_pod_prefix_per_node(max_pods: u64) -> Result<u8, SizingError> {
    let pods = within("max_pods", max_pods, 8, 256)?;
    // 2 x 256 = 512 addresses: always an IPv4 block.
    Ok(v4_prefix_for(2 * u128::from(pods)).unwrap_or(0))
}

/// The prefix lengths of a GKE cluster's node subnet, Pod range and Service range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GkePrefixLengths {
    pub nodes: u8,
    pub pods: u8,
    pub services: u8,
}

/// Sizes a GKE cluster's ranges for `max_nodes` nodes of `max_pods_per_node` Pods and
/// `max_services` Services: the node subnet holds the nodes plus GCP's 4 reserved
/// addresses, the Pod range one per-node block per node, the Service range one address
/// per Service.
///
/// ```
/// use ipam::alloc::{gke_prefix_lengths, GkePrefixLengths};
/// assert_eq!(gke_prefix_lengths(1024, 110, 4096).unwrap(), GkePrefixLengths { nodes: 21, pods: 14, services: 20 });
/// // 2^25 nodes of 110 Pods (a /24 each) need more than IPv4 has.
/// assert_eq!(gke_prefix_lengths(1 << 25, 110, 4096).unwrap_err().input, "max_nodes");
/// ```
pub fn gke_prefix_lengths(
    max_nodes: u64,
    max_pods_per_node: u64,
    max_services: u64,
) -> Result<GkePrefixLengths, SizingError> {
    let per_node = gke_pod_prefix_per_node(max_pods_per_node)
        .map_err(|e| err("max_pods_per_node", e.message))?;
    let nodes_v = within("max_nodes", max_nodes, 1, (1 << 32) - 4)?;
    let services_v = within("max_services", max_services, 1, 1 << 32)?;
    let nodes = v4_prefix_for(u128::from(nodes_v) + 4).unwrap_or(0);
    let node_bits = ceil_log2(u128::from(nodes_v));
    let pods = u32::from(per_node).checked_sub(node_bits).ok_or_else(|| {
        err(
            "max_nodes",
            format!(
                "{nodes_v} nodes of a /{per_node} Pod block each need more addresses than IPv4 has; expected at most {}",
                1u64 << per_node
            ),
        )
    })? as u8;
    let services = v4_prefix_for(u128::from(services_v)).unwrap_or(0);
    Ok(GkePrefixLengths {
        nodes,
        pods,
        services,
    })
}

/// The largest value any sizing result may take: Terraform numbers here travel as i64.
const MAX_RESULT: u128 = i64::MAX as u128;

/// The Amazon VPC CNI's maximum Pods per node: `enis x (ips_per_eni - 1) + 2`, or
/// with prefix delegation `enis x ((ips_per_eni - 1) x 16) + 2`.
///
/// ```
/// use ipam::alloc::eks_max_pods;
/// assert_eq!(eks_max_pods(3, 10, false).unwrap(), 29); // m5.large
/// assert_eq!(eks_max_pods(3, 10, true).unwrap(), 434);
/// assert!(eks_max_pods(0, 10, false).is_err());
/// ```
pub fn eks_max_pods(
    enis: u64,
    ips_per_eni: u64,
    prefix_delegation: bool,
) -> Result<u64, SizingError> {
    let enis = within("enis", enis, 1, 1 << 32)?;
    let ips = within("ips_per_eni", ips_per_eni, 1, 1 << 32)?;
    let per_eni = u128::from(ips - 1) * if prefix_delegation { 16 } else { 1 };
    let pods = u128::from(enis) * per_eni + 2;
    if pods > MAX_RESULT {
        return Err(err(
            "enis",
            format!("{enis} ENIs of {ips} addresses give more Pods than a number here holds"),
        ));
    }
    Ok(pods as u64)
}

/// The prefix length of an EKS subnet CIDR reservation (type `prefix`) that holds one
/// /28 per 16 Pods of each node plus one warm /28 per node (`WARM_PREFIX_TARGET=1`).
///
/// ```
/// use ipam::alloc::eks_prefix_reservation_length;
/// assert_eq!(eks_prefix_reservation_length(50, 110).unwrap(), 19);
/// assert_eq!(eks_prefix_reservation_length(1, 16).unwrap(), 27); // 2 prefixes
/// assert!(eks_prefix_reservation_length(0, 110).is_err());
/// ```
pub fn eks_prefix_reservation_length(
    nodes: u64,
    max_pods_per_node: u64,
) -> Result<u8, SizingError> {
    let nodes = within("nodes", nodes, 1, 1 << 28)?;
    let pods = within("max_pods_per_node", max_pods_per_node, 1, 1 << 28)?;
    let prefixes = u128::from(nodes) * (u128::from(pods.div_ceil(16)) + 1);
    let addresses = prefixes * 16;
    v4_prefix_for(addresses).ok_or_else(|| {
        err(
            "nodes",
            format!("{nodes} nodes need {prefixes} /28 prefixes ({addresses} addresses), more than IPv4 has"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceil_log2_at_powers_and_between() {
        assert_eq!(ceil_log2(1), 0);
        assert_eq!(ceil_log2(2), 1);
        assert_eq!(ceil_log2(3), 2);
        assert_eq!(ceil_log2(1024), 10);
        assert_eq!(ceil_log2(1025), 11);
        assert_eq!(ceil_log2(1 << 32), 32);
    }

    #[test]
    fn gke_pod_blocks_follow_googles_table() {
        // https://cloud.google.com/kubernetes-engine/docs/how-to/flexible-pod-cidr
        for (pods, len) in [
            (8, 28),
            (9, 27),
            (16, 27),
            (17, 26),
            (32, 26),
            (33, 25),
            (64, 25),
            (65, 24),
            (110, 24),
            (128, 24),
            (129, 23),
            (256, 23),
        ] {
            assert_eq!(gke_pod_prefix_per_node(pods).unwrap(), len, "{pods} Pods");
        }
        assert_eq!(gke_pod_prefix_per_node(257).unwrap_err().input, "max_pods");
    }

    #[test]
    fn prefix_length_for_counts_the_cloud_reserve() {
        assert_eq!(prefix_length_for(252, Cloud::Gcp).unwrap(), 24);
        assert_eq!(prefix_length_for(253, Cloud::Gcp).unwrap(), 23);
        assert_eq!(prefix_length_for(256, Cloud::None).unwrap(), 24);
        assert_eq!(prefix_length_for((1 << 32) - 5, Cloud::Aws).unwrap(), 0);
        assert!(prefix_length_for((1 << 32) - 4, Cloud::Aws).is_err());
    }

    #[test]
    fn usable_range_of_ipv6_on_aws() {
        let u = UsableRange::of(&"2600:1f00::/64".parse().unwrap(), Cloud::Aws, false);
        assert_eq!(u.usable.unwrap().0.to_string(), "2600:1f00::4");
        assert_eq!(
            u.usable.unwrap().1.to_string(),
            "2600:1f00::ffff:ffff:ffff:fffe"
        );
        assert_eq!(u.usable_count.to_string(), "18446744073709551611");
    }
}
