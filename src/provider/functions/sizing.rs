//! Cloud facts and sizing: `usable_range`, `prefix_length_for`,
//! `gke_pod_prefix_per_node`, `gke_prefix_lengths`, `eks_max_pods`,
//! `eks_prefix_reservation_length`.

use std::collections::BTreeMap;

use super::{Args, Def};
use crate::alloc::{self, Cloud, Family, UsableRange};
use crate::tfplugin::{FunctionError, Parameter, Type, Value};

fn number(name: &str, what: &str) -> Parameter {
    Parameter::new(name, Type::Number, what)
}

fn object(names: &[&str], ty: Type) -> Type {
    Type::Object(names.iter().map(|n| (n.to_string(), ty.clone())).collect())
}

fn usable_range(a: &Args) -> Result<Value, FunctionError> {
    let net = a.cidr(0)?;
    let cloud = a.cloud(1, &[Cloud::Gcp, Cloud::Aws, Cloud::Azure])?;
    let family = Family::of(&net);
    if cloud == Cloud::Gcp && family == Family::V6 {
        return Err(FunctionError::at(
            0,
            format!("{net} is IPv6, and gcp reserves addresses only in a subnet's IPv4 primary range; expected an IPv4 block (cidr_facts describes any block)"),
        ));
    }
    let u = UsableRange::of(&net, cloud, false);
    let Some((first, last)) = u.usable else {
        let reserved = cloud.reserved_count();
        // The smallest block of the family with one usable address.
        let k = 128 - reserved.leading_zeros();
        return Err(FunctionError::at(
            0,
            format!(
                "{net} has {} addresses and {} reserves {reserved} in every subnet; expected a /{} or larger",
                alloc::Facts::of(&net).address_count,
                cloud.name(),
                u32::from(family.bits()) - k
            ),
        ));
    };
    let ip = |x: std::net::IpAddr| Value::str(x.to_string());
    Ok(Value::Object(BTreeMap::from([
        (
            "gateway_address".to_string(),
            u.gateway_address.map(ip).unwrap_or(Value::Null),
        ),
        ("usable_first".to_string(), ip(first)),
        ("usable_last".to_string(), ip(last)),
        (
            "usable_count".to_string(),
            Value::str(u.usable_count.to_string()),
        ),
    ])))
}

pub(super) static DEFS: &[Def] = &[
    Def {
        name: "usable_range",
        summary: "The gateway and the usable addresses of a subnet's primary range on a cloud.",
        description: "Returns `gateway_address`, `usable_first`, `usable_last` and `usable_count` (a string) of a subnet on `cloud`: `gcp` reserves 4 addresses of a primary range (network, gateway, second-to-last, broadcast; IPv4 only), `aws` and `azure` reserve 5 (the first four and the last, in IPv4 and IPv6 alike). The same table as `ipam_allocation`'s `cloud`.",
        params: || {
            vec![
                Parameter::new("cidr", Type::String, "The subnet's CIDR block."),
                Parameter::new("cloud", Type::String, "`gcp`, `aws` or `azure`."),
            ]
        },
        returns: || object(&["gateway_address", "usable_first", "usable_last", "usable_count"], Type::String),
        call: usable_range,
        examples: &[
            (
                r#""10.0.0.0/24", "gcp""#,
                r#"{"gateway_address":"10.0.0.1","usable_count":"252","usable_first":"10.0.0.2","usable_last":"10.0.0.253"}"#,
            ),
            (
                r#""10.0.1.0/28", "aws""#,
                r#"{"gateway_address":"10.0.1.1","usable_count":"11","usable_first":"10.0.1.4","usable_last":"10.0.1.14"}"#,
            ),
        ],
        errors: &[
            (r#""10.0.0.0/24", "gke""#, "cloud", r#""gke" is not a cloud this function knows; expected "gcp", "aws" or "azure""#),
            (r#""10.0.0.0/30", "aws""#, "cidr", r#"10.0.0.0/30 has 4 addresses and aws reserves 5 in every subnet; expected a /29 or larger"#),
        ],
    },
    Def {
        name: "prefix_length_for",
        summary: "The longest IPv4 prefix length whose block leaves enough usable addresses on a cloud.",
        description: "Returns the prefix length of the smallest IPv4 subnet that still has at least `addresses` usable addresses once `cloud` has taken its reserved ones (`gcp` 4, `aws` 5, `azure` 5, `none` 0).",
        params: || {
            vec![
                number("addresses", "How many usable addresses the subnet must have (at least 1)."),
                Parameter::new("cloud", Type::String, "`gcp`, `aws`, `azure`, or `none` for no reserved addresses."),
            ]
        },
        returns: || Type::Number,
        call: |a| {
            let n = a.whole(0)?;
            let cloud = a.cloud(1, &[Cloud::Gcp, Cloud::Aws, Cloud::Azure, Cloud::None])?;
            alloc::prefix_length_for(n, cloud)
                .map(Value::int)
                .map_err(|e| a.sizing(e))
        },
        examples: &[
            ("250, \"aws\"", "24"),
            ("252, \"aws\"", "23"),
            ("1000, \"gcp\"", "22"),
            ("256, \"none\"", "24"),
        ],
        errors: &[
            ("0, \"aws\"", "addresses", "0 is out of range; expected a whole number from 1 to 4294967291"),
            ("10, \"gke\"", "cloud", r#""gke" is not a cloud this function knows; expected "gcp", "aws", "azure" or "none""#),
        ],
    },
    Def {
        name: "gke_pod_prefix_per_node",
        summary: "The prefix length of the Pod block GKE gives each node.",
        description: "GKE gives each node the smallest block with at least twice `max_pods` addresses, so that a Pod's address is not reused at once: 110 Pods take a /24, 8 a /28, 256 a /23.",
        params: || vec![number("max_pods", "The cluster's or node pool's maximum Pods per node, 8 to 256.")],
        returns: || Type::Number,
        call: |a| {
            alloc::gke_pod_prefix_per_node(a.whole(0)?)
                .map(Value::int)
                .map_err(|e| a.sizing(e))
        },
        examples: &[("110", "24"), ("8", "28"), ("256", "23")],
        errors: &[("300", "max_pods", "300 is out of range; expected a whole number from 8 to 256")],
    },
    Def {
        name: "gke_prefix_lengths",
        summary: "The prefix lengths of a GKE cluster's node, Pod and Service ranges.",
        description: "Sizes a VPC-native cluster: `nodes` = 32 - ceil(log2(max_nodes + 4)) (GCP reserves 4 addresses of the primary range), `pods` = the per-node Pod block's prefix length - ceil(log2(max_nodes)), `services` = 32 - ceil(log2(max_services)). Returns `{nodes, pods, services}`.",
        params: || {
            vec![
                number("max_nodes", "The most nodes the cluster will ever have."),
                number("max_pods_per_node", "Maximum Pods per node, 8 to 256 (GKE's default is 110)."),
                number("max_services", "The most Services (ClusterIPs) the cluster will have."),
            ]
        },
        returns: || object(&["nodes", "pods", "services"], Type::Number),
        call: |a| {
            let p = alloc::gke_prefix_lengths(a.whole(0)?, a.whole(1)?, a.whole(2)?)
                .map_err(|e| a.sizing(e))?;
            Ok(Value::Object(BTreeMap::from([
                ("nodes".to_string(), Value::int(p.nodes)),
                ("pods".to_string(), Value::int(p.pods)),
                ("services".to_string(), Value::int(p.services)),
            ])))
        },
        examples: &[
            ("1024, 110, 4096", r#"{"nodes":21,"pods":14,"services":20}"#),
            ("16, 32, 1024", r#"{"nodes":27,"pods":22,"services":22}"#),
        ],
        errors: &[
            ("1024, 300, 4096", "max_pods_per_node", "300 is out of range; expected a whole number from 8 to 256"),
            ("0, 110, 4096", "max_nodes", "0 is out of range; expected a whole number from 1 to 4294967292"),
        ],
    },
    Def {
        name: "eks_max_pods",
        summary: "The Amazon VPC CNI's maximum Pods per node of an instance type.",
        description: "The VPC CNI formula: `enis x (ips_per_eni - 1) + 2`, or with prefix delegation `enis x ((ips_per_eni - 1) x 16) + 2` (an m5.large, 3 ENIs of 10 addresses: 29, or 434). Kubelet's own cap (110, or 250 on larger instances) is the user's to apply with `min()`.",
        params: || {
            vec![
                number("enis", "Network interfaces the instance type supports."),
                number("ips_per_eni", "IPv4 addresses per network interface."),
                Parameter::new("prefix_delegation", Type::Bool, "Whether the VPC CNI assigns /28 prefixes (`ENABLE_PREFIX_DELEGATION`)."),
            ]
        },
        returns: || Type::Number,
        call: |a| {
            let pods = alloc::eks_max_pods(a.whole(0)?, a.whole(1)?, a.bool(2)?)
                .map_err(|e| a.sizing(e))?;
            Ok(Value::int(pods as i64))
        },
        examples: &[("3, 10, false", "29"), ("3, 10, true", "434")],
        errors: &[("0, 10, false", "enis", "0 is out of range; expected a whole number from 1 to 4294967296")],
    },
    Def {
        name: "eks_prefix_reservation_length",
        summary: "The prefix length of an EKS subnet CIDR reservation for prefix delegation.",
        description: "With prefix delegation the VPC CNI gives each node /28 prefixes: ceil(max_pods_per_node / 16) of them plus one warm prefix (`WARM_PREFIX_TARGET=1`). Returns the prefix length of the smallest block holding `nodes` times that many /28s, for an `aws_ec2_subnet_cidr_reservation` of type `prefix`: 50 nodes of 110 Pods need 400 /28s, a /19.",
        params: || {
            vec![
                number("nodes", "The most nodes that will draw prefixes from the subnet."),
                number("max_pods_per_node", "Maximum Pods per node (see eks_max_pods)."),
            ]
        },
        returns: || Type::Number,
        call: |a| {
            alloc::eks_prefix_reservation_length(a.whole(0)?, a.whole(1)?)
                .map(Value::int)
                .map_err(|e| a.sizing(e))
        },
        examples: &[("50, 110", "19"), ("3, 29", "24")],
        errors: &[("50, 0", "max_pods_per_node", "0 is out of range; expected a whole number from 1 to 268435456")],
    },
];

#[cfg(test)]
mod tests {
    use super::super::all;
    use super::*;
    use crate::tfplugin::Function;

    fn call(name: &str, args: Vec<Value>) -> Result<Value, FunctionError> {
        all()
            .into_iter()
            .find(|d| d.name == name)
            .unwrap()
            .call(&args)
    }

    #[test]
    fn a_sizing_error_points_at_the_argument_it_names() {
        let e = call(
            "gke_prefix_lengths",
            vec![Value::int(1024), Value::int(300), Value::int(4096)],
        )
        .unwrap_err();
        assert_eq!(e.argument, Some(1));
        let e = call(
            "gke_prefix_lengths",
            vec![Value::int(1 << 25), Value::int(110), Value::int(4096)],
        )
        .unwrap_err();
        assert_eq!(e.argument, Some(0));
        let e = call(
            "eks_prefix_reservation_length",
            vec![Value::int(50), Value::int(0)],
        )
        .unwrap_err();
        assert_eq!(e.argument, Some(1));
    }

    #[test]
    fn gcp_usable_range_refuses_ipv6_and_aws_takes_it() {
        let e = call(
            "usable_range",
            vec![Value::str("fd00::/64"), Value::str("gcp")],
        )
        .unwrap_err();
        assert_eq!(e.argument, Some(0));
        assert!(call(
            "usable_range",
            vec![Value::str("2600:1f00::/64"), Value::str("aws")]
        )
        .is_ok());
        let e = call(
            "usable_range",
            vec![Value::str("2600:1f00::/126"), Value::str("azure")],
        )
        .unwrap_err();
        assert!(e.text.ends_with("expected a /125 or larger"), "{}", e.text);
    }
}
