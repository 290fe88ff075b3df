//! Where address ranges live in other providers' resources: one table row per resource
//! type, naming the attributes that hold a CIDR, as the providers document them. Add a
//! resource type by adding a row.
//!
//! Nested blocks (`secondary_ip_range`, `ip_allocation_policy`) are lists of objects in
//! `terraform show -json`; a path step `[]` walks every element.

use serde_json::Value as Json;

/// How a resource holds a range.
#[derive(Debug, Clone, Copy)]
pub enum Attr {
    /// A CIDR string (or a list of them) at this path, such as `cidr_block` or
    /// `secondary_ip_range[].ip_cidr_range`.
    Cidr(&'static str),
    /// An address and a prefix length in two attributes (a reserved range such as
    /// `google_compute_global_address`), taken only when the prefix length is set or
    /// the purpose is `VPC_PEERING`.
    AddressWithPrefix {
        address: &'static str,
        prefix: &'static str,
    },
}

/// The resource types whose ranges `discover` finds, with their range attributes.
pub const SOURCES: &[(&str, &[Attr])] = &[
    // Google: registry.terraform.io/providers/hashicorp/google/latest/docs
    (
        "google_compute_subnetwork",
        &[
            Attr::Cidr("ip_cidr_range"),
            Attr::Cidr("secondary_ip_range[].ip_cidr_range"),
            Attr::Cidr("ipv6_cidr_range"),
            Attr::Cidr("internal_ipv6_prefix"),
            Attr::Cidr("external_ipv6_prefix"),
        ],
    ),
    (
        "google_container_cluster",
        &[
            Attr::Cidr("ip_allocation_policy[].cluster_ipv4_cidr_block"),
            Attr::Cidr("ip_allocation_policy[].services_ipv4_cidr_block"),
            Attr::Cidr("private_cluster_config[].master_ipv4_cidr_block"),
        ],
    ),
    (
        "google_compute_global_address",
        &[Attr::AddressWithPrefix {
            address: "address",
            prefix: "prefix_length",
        }],
    ),
    (
        "google_compute_address",
        &[Attr::AddressWithPrefix {
            address: "address",
            prefix: "prefix_length",
        }],
    ),
    // AWS: registry.terraform.io/providers/hashicorp/aws/latest/docs
    (
        "aws_vpc",
        &[Attr::Cidr("cidr_block"), Attr::Cidr("ipv6_cidr_block")],
    ),
    (
        "aws_vpc_ipv4_cidr_block_association",
        &[Attr::Cidr("cidr_block")],
    ),
    (
        "aws_subnet",
        &[Attr::Cidr("cidr_block"), Attr::Cidr("ipv6_cidr_block")],
    ),
    (
        "aws_ec2_subnet_cidr_reservation",
        &[Attr::Cidr("cidr_block")],
    ),
    // Azure: registry.terraform.io/providers/hashicorp/azurerm/latest/docs
    ("azurerm_virtual_network", &[Attr::Cidr("address_space")]),
    ("azurerm_subnet", &[Attr::Cidr("address_prefixes")]),
];

/// What this provider already manages: found so that it is not found twice.
pub const MANAGED: &[(&str, &[Attr])] = &[
    ("ipam_pool", &[Attr::Cidr("allocations{}.cidr")]),
    (
        "ipam_shared_allocations",
        &[Attr::Cidr("allocations{}.cidr")],
    ),
];

/// The range attributes of a resource type, and whether this provider manages it.
pub fn attrs_of(ty: &str) -> Option<(&'static [Attr], bool)> {
    SOURCES
        .iter()
        .map(|(t, a)| (t, a, false))
        .chain(MANAGED.iter().map(|(t, a)| (t, a, true)))
        .find(|(t, _, _)| **t == ty)
        .map(|(_, a, managed)| (*a, managed))
}

/// Every value at `path` in `v`, each with the path it was found at (list elements by
/// index, map entries by key: `secondary_ip_range[1].ip_cidr_range`). `[]` walks a
/// list, `{}` a map; a list of strings at the end yields each string.
pub fn values_at(v: &Json, path: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    walk(v, path, String::new(), &mut out);
    out
}

fn walk(v: &Json, rest: &str, at: String, out: &mut Vec<(String, String)>) {
    if rest.is_empty() {
        match v {
            Json::String(s) if !s.is_empty() => out.push((at, s.clone())),
            Json::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    if let Json::String(s) = item {
                        out.push((format!("{at}[{i}]"), s.clone()));
                    }
                }
            }
            _ => {}
        }
        return;
    }
    let (step, rest) = rest.split_once('.').unwrap_or((rest, ""));
    let join = |at: &str, s: &str| {
        if at.is_empty() {
            s.to_string()
        } else {
            format!("{at}.{s}")
        }
    };
    if let Some(name) = step.strip_suffix("[]") {
        for (i, item) in v
            .get(name)
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            walk(item, rest, format!("{}[{i}]", join(&at, name)), out);
        }
    } else if let Some(name) = step.strip_suffix("{}") {
        for (k, item) in v.get(name).and_then(Json::as_object).into_iter().flatten() {
            walk(item, rest, format!("{}[{k:?}]", join(&at, name)), out);
        }
    } else if let Some(next) = v.get(step) {
        walk(next, rest, join(&at, step), out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_walk_lists_maps_and_string_lists() {
        let v = serde_json::json!({
            "ip_cidr_range": "10.0.0.0/20",
            "secondary_ip_range": [
                {"range_name": "pods", "ip_cidr_range": "10.4.0.0/14"},
                {"range_name": "services", "ip_cidr_range": "10.8.0.0/20"}
            ],
            "address_space": ["10.1.0.0/16", "10.2.0.0/16"],
            "allocations": {"web": {"cidr": "10.0.1.0/24"}},
            "ipv6_cidr_range": ""
        });
        assert_eq!(
            values_at(&v, "ip_cidr_range"),
            [("ip_cidr_range".into(), "10.0.0.0/20".into())]
        );
        assert_eq!(
            values_at(&v, "secondary_ip_range[].ip_cidr_range"),
            [
                (
                    "secondary_ip_range[0].ip_cidr_range".to_string(),
                    "10.4.0.0/14".to_string()
                ),
                (
                    "secondary_ip_range[1].ip_cidr_range".into(),
                    "10.8.0.0/20".into()
                )
            ]
        );
        assert_eq!(values_at(&v, "address_space").len(), 2);
        assert_eq!(
            values_at(&v, "allocations{}.cidr"),
            [(
                "allocations[\"web\"].cidr".to_string(),
                "10.0.1.0/24".to_string()
            )]
        );
        assert!(values_at(&v, "ipv6_cidr_range").is_empty());
        assert!(values_at(&v, "missing[].x").is_empty());
    }

    #[test]
    fn every_type_is_listed_once() {
        let mut types: Vec<&str> = SOURCES.iter().chain(MANAGED).map(|(t, _)| *t).collect();
        let n = types.len();
        types.sort_unstable();
        types.dedup();
        assert_eq!(types.len(), n);
    }
}
