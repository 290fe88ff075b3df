//! `ipam_allocation`: a module's handle on one allocation of a pool. It receives its
//! entry through configuration (`entry = ipam_pool.x.allocations["name"]`), adds the
//! usable range a cloud leaves, and guards against the entry moving under it.

use std::collections::BTreeMap;

use ipnet::IpNet;

use super::common::{self, facts_values, FACTS};
use crate::alloc::{Cloud, UsableRange};
use crate::tfplugin::schema::{Attribute, Mode, Schema};
use crate::tfplugin::{
    ApplyRequest, ApplyResponse, AttrPath, Context, Diagnostic, PlanRequest, PlanResponse,
    ReadRequest, ReadResponse, Resource, Type, Value,
};

pub struct AllocationResource;

const USABLE: &[(&str, &str)] = &[
    ("gateway_address", "The address the cloud gives the subnet's gateway (null without `cloud`, and for GCP secondary ranges)."),
    ("usable_first", "First address the cloud lets hosts use (null without `cloud`)."),
    ("usable_last", "Last address the cloud lets hosts use (null without `cloud`)."),
    ("usable_count", "Number of addresses the cloud lets hosts use, as a string (null without `cloud`)."),
];

fn usable_values(net: &IpNet, cloud: Option<&str>, range: &str) -> BTreeMap<String, Value> {
    let mut m: BTreeMap<String, Value> = USABLE
        .iter()
        .map(|(n, _)| (n.to_string(), Value::Null))
        .collect();
    let Some(cloud) = cloud.and_then(Cloud::parse).filter(|c| *c != Cloud::None) else {
        return m;
    };
    let u = UsableRange::of(net, cloud, range == "secondary");
    if let Some(g) = u.gateway_address {
        m.insert("gateway_address".into(), Value::str(g.to_string()));
    }
    if let Some((first, last)) = u.usable {
        m.insert("usable_first".into(), Value::str(first.to_string()));
        m.insert("usable_last".into(), Value::str(last.to_string()));
    }
    m.insert(
        "usable_count".into(),
        Value::str(u.usable_count.to_string()),
    );
    m
}

impl Resource for AllocationResource {
    fn type_name(&self) -> &'static str {
        "ipam_allocation"
    }

    fn schema(&self) -> Schema {
        let mut attributes = vec![
            Attribute::new(
                "entry",
                common::entry_type(),
                Mode::Required,
                "The pool entry this handle holds: `ipam_pool.<name>.allocations[\"<key>\"]`.",
            ),
            Attribute::new(
                "cloud",
                Type::String,
                Mode::Optional,
                "Cloud whose reserved addresses to subtract for the usable range: `gcp`, `aws` or `azure`.",
            ),
            Attribute::new(
                "range",
                Type::String,
                Mode::Optional,
                "For `cloud = \"gcp\"`: `primary` (default; a subnet's primary range, 4 addresses reserved) or `secondary` (Pods, Services, alias IPs; none reserved).",
            ),
            Attribute::new(
                "allow_move",
                Type::Bool,
                Mode::Optional,
                "Allow the entry's CIDR to differ from the one this handle holds. Without it, a moved or shrunk entry fails the plan; growth in place (a larger block at the same start, as clouds expand a subnet) passes.",
            ),
            Attribute::new("id", Type::String, Mode::Computed, "`<pool_id>/<name>`."),
            Attribute::new("pool_id", Type::String, Mode::Computed, "The `id` of the pool the allocation belongs to."),
            Attribute::new("name", Type::String, Mode::Computed, "The allocation's key in the pool's `allocations`."),
            Attribute::new("cidr", Type::String, Mode::Computed, "The allocated block, as `google_compute_subnetwork.ip_cidr_range` or `aws_subnet.cidr_block` take it."),
            Attribute::new("prefix_length", Type::Number, Mode::Computed, "Prefix length of the block."),
        ];
        attributes.extend(
            FACTS
                .iter()
                .map(|(n, d)| Attribute::new(n, Type::String, Mode::Computed, d)),
        );
        attributes.extend(
            USABLE
                .iter()
                .map(|(n, d)| Attribute::new(n, Type::String, Mode::Computed, d)),
        );
        Schema {
            version: 0,
            description: "A handle on one allocation of an `ipam_pool`: its CIDR and facts, the usable range in a cloud, and a guard against the allocation moving.".into(),
            attributes,
        }
    }

    fn validate(&self, config: &Value) -> Vec<Diagnostic> {
        let mut diags = Vec::new();
        let cloud = config.get("cloud");
        if let Value::String(c) = cloud {
            if !["gcp", "aws", "azure"].contains(&c.as_str()) {
                diags.push(
                    Diagnostic::error(
                        "Invalid cloud",
                        format!(
                            "cloud is {c:?}; use \"gcp\", \"aws\" or \"azure\", or leave it unset."
                        ),
                    )
                    .at(AttrPath::attr("cloud")),
                );
            }
        }
        if let Value::String(r) = config.get("range") {
            if !["primary", "secondary"].contains(&r.as_str()) {
                diags.push(
                    Diagnostic::error(
                        "Invalid range",
                        format!("range is {r:?}; use \"primary\" or \"secondary\"."),
                    )
                    .at(AttrPath::attr("range")),
                );
            } else if matches!(cloud, Value::String(c) if c != "gcp") {
                diags.push(
                    Diagnostic::error("range applies to GCP only", "range tells GCP primary from secondary ranges; remove it for other clouds.")
                        .at(AttrPath::attr("range")),
                );
            }
        }
        if let Value::String(c) = config.get("entry").get("cidr") {
            if let Err(e) = crate::alloc::parse_cidr(c) {
                diags.push(common::alloc_diag(&e).at(AttrPath::attr("entry").then("cidr")));
            }
        }
        diags
    }

    fn read(&self, req: ReadRequest, _: &Context) -> ReadResponse {
        // A handle holds no external object: the state is the truth.
        ReadResponse::new(req.state, vec![])
    }

    fn plan(&self, req: PlanRequest, _: &Context) -> PlanResponse {
        if req.proposed.is_null() {
            return PlanResponse::planned(Value::Null);
        }
        let config = &req.config;
        let entry = config.get("entry");
        let mut obj: BTreeMap<String, Value> = BTreeMap::new();
        for k in ["entry", "cloud", "range", "allow_move"] {
            obj.insert(k.into(), config.get(k).clone());
        }
        let name = entry.get("name").clone();
        let pool_id = entry.get("pool_id").clone();
        let id = match (&pool_id, &name) {
            (Value::String(p), Value::String(n)) => Value::str(format!("{p}/{n}")),
            _ => Value::Unknown,
        };

        // A handle imported as <pool_id>/<name> (it holds no CIDR yet) must be given that
        // same entry. Afterwards the CIDR guard below decides: a replaced pool has a new
        // id but may keep every block.
        let prior = &req.prior;
        let just_imported = !prior.is_null() && prior.get("cidr").is_null();
        for (k, what) in [("name", "name"), ("pool_id", "pool")] {
            if !just_imported {
                break;
            }
            if let (Value::String(held), Value::String(given)) = (prior.get(k), entry.get(k)) {
                if held != given {
                    return PlanResponse::errors(vec![Diagnostic::error(
                            "Entry is another allocation",
                            format!(
                                "This handle holds allocation {:?} of pool {:?}, but entry is {what} {given:?}. Point entry at ipam_pool.<pool>.allocations[{:?}], or remove the handle from state and import the right one.",
                                prior.get("name").as_str().unwrap_or(""),
                                prior.get("pool_id").as_str().unwrap_or(""),
                                prior.get("name").as_str().unwrap_or(""),
                            ),
                        )
                        .at(AttrPath::attr("entry"))]);
                }
            }
        }

        if entry.get("cidr").is_null() && !entry.is_unknown() {
            return PlanResponse::errors(vec![Diagnostic::error(
                    "Entry has no CIDR",
                    "entry must be an allocation of an ipam_pool, such as ipam_pool.<pool>.allocations[\"<name>\"]; this one has no cidr.",
                )
                .at(AttrPath::attr("entry").then("cidr"))]);
        }
        let mut facts = common::unknown_facts();
        let mut usable: BTreeMap<String, Value> = USABLE
            .iter()
            .map(|(n, _)| (n.to_string(), Value::Unknown))
            .collect();
        if let Value::String(c) = entry.get("cidr") {
            let net = match crate::alloc::parse_cidr(c) {
                Ok(n) => n,
                Err(e) => {
                    return PlanResponse::errors(vec![
                        common::alloc_diag(&e).at(AttrPath::attr("entry").then("cidr"))
                    ])
                }
            };
            if let Value::String(held) = prior.get("cidr") {
                // Growth in place (a superset at the same start, as a cloud expands a
                // subnet) is not a move; any other change of block is.
                let grown_in_place = held
                    .parse::<IpNet>()
                    .is_ok_and(|h| h.network() == net.network() && net.contains(&h));
                if held != c && !grown_in_place && config.get("allow_move").as_bool() != Some(true)
                {
                    return PlanResponse::errors(vec![Diagnostic::error(
                            "Allocation moved",
                            format!(
                                "Allocation {:?} moved from {held} (held by this handle) to {c}. Re-addressing a subnet is rarely intended: check the pool's change, or set allow_move = true to accept the new block.",
                                name.as_str().unwrap_or("")
                            ),
                        )
                        .at(AttrPath::attr("entry"))]);
                }
            }
            facts = facts_values(&net);
            facts.insert("cidr".into(), Value::str(c.clone()));
            let cloud = config.get("cloud");
            usable = if cloud.is_unknown() || config.get("range").is_unknown() {
                usable
            } else {
                usable_values(
                    &net,
                    cloud.as_str(),
                    config.get("range").as_str().unwrap_or("primary"),
                )
            };
        }
        obj.extend(facts);
        obj.extend(usable);
        obj.insert("id".into(), id);
        obj.insert("pool_id".into(), pool_id);
        obj.insert("name".into(), name);
        PlanResponse::planned(Value::Object(obj))
    }

    fn apply(&self, req: ApplyRequest, _: &Context) -> ApplyResponse {
        if !req.planned.is_wholly_known() {
            return ApplyResponse::new(
                req.prior,
                vec![Diagnostic::error(
                    "Entry not known at apply",
                    "The pool entry this handle holds was still unknown at apply. Apply the pool first, then the handle.",
                )
                .at(AttrPath::attr("entry"))],
            );
        }
        ApplyResponse::new(req.planned, vec![])
    }

    fn import(&self, id: &str, _: &Context) -> Result<Value, Vec<Diagnostic>> {
        let (pool_id, name) = id.split_once('/').filter(|(p, n)| !p.is_empty() && !n.is_empty()).ok_or_else(|| {
            vec![Diagnostic::error(
                "Invalid import ID",
                format!("{id:?} is not <pool_id>/<name>. Find the pool's id with `terraform state show` and import as, e.g., pool-0123456789abcdef/web."),
            )]
        })?;
        let mut obj: BTreeMap<String, Value> = self
            .schema()
            .attributes
            .iter()
            .map(|a| (a.name.clone(), Value::Null))
            .collect();
        obj.insert("id".into(), Value::str(id));
        obj.insert("pool_id".into(), Value::str(pool_id));
        obj.insert("name".into(), Value::str(name));
        Ok(Value::Object(obj))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usable(cidr: &str, cloud: &str, range: &str) -> BTreeMap<String, Value> {
        usable_values(&cidr.parse().unwrap(), Some(cloud), range)
    }

    #[test]
    fn gcp_primary_reserves_four() {
        let u = usable("10.0.0.0/24", "gcp", "primary");
        assert_eq!(u["gateway_address"], Value::str("10.0.0.1"));
        assert_eq!(u["usable_first"], Value::str("10.0.0.2"));
        assert_eq!(u["usable_last"], Value::str("10.0.0.253"));
        assert_eq!(u["usable_count"], Value::str("252"));
    }

    #[test]
    fn gcp_secondary_reserves_none() {
        let u = usable("10.4.0.0/14", "gcp", "secondary");
        assert_eq!(u["gateway_address"], Value::Null);
        assert_eq!(u["usable_count"], Value::str("262144"));
    }

    #[test]
    fn aws_reserves_first_four_and_last() {
        let u = usable("10.0.1.0/28", "aws", "primary");
        assert_eq!(u["usable_first"], Value::str("10.0.1.4"));
        assert_eq!(u["usable_last"], Value::str("10.0.1.14"));
        assert_eq!(u["usable_count"], Value::str("11"));
        let tiny = usable("10.0.1.0/30", "azure", "primary");
        assert_eq!(tiny["usable_count"], Value::str("0"));
        assert_eq!(tiny["usable_first"], Value::Null);
    }
}
