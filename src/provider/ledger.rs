//! Ledger planning shared by `ipam_pool` and `ipam_shared_allocations` (one copy):
//! reading the `allocations` requests of a configuration, the ledger of a state, and
//! the planned value of the `allocations` map.

use std::collections::BTreeMap;

use ipnet::IpNet;

use super::common::{alloc_diag, prefix_of};
use crate::alloc::{self, AllocError, Family, Request};
use crate::tfplugin::{AttrPath, Diagnostic, Value};

/// A request of `prefix_length` (or the pool's default) that may hold room to `grow_to`.
pub fn growable(prefix: Option<u8>, grow_to: Option<u8>) -> Request {
    match grow_to {
        Some(g) => Request::Growable { prefix, grow_to: g },
        None => Request::Size(prefix),
    }
}

/// Requests by allocation name.
pub type Requests = BTreeMap<String, Request>;

/// Reads the `allocations` of a configuration into requests by name (`None` when any
/// is not yet known) and the pinned blocks; problems go to `diags` with their paths.
pub fn read_requests(
    v: &Value,
    diags: &mut Vec<Diagnostic>,
) -> (Option<Requests>, Vec<(String, IpNet)>) {
    let mut requests = Some(BTreeMap::new());
    let mut pins: Vec<(String, IpNet)> = Vec::new();
    match v.get("allocations") {
        Value::Unknown => requests = None,
        allocs => {
            for (name, e) in allocs.entries().into_iter().flatten() {
                let path = AttrPath::attr("allocations").key(name);
                if e.is_unknown() {
                    requests = None;
                    continue;
                }
                let (prefix, grow_to) = match (
                    prefix_of(e.get("prefix_length"), path.clone().then("prefix_length")),
                    prefix_of(e.get("grow_to"), path.clone().then("grow_to")),
                ) {
                    (Ok(p), Ok(g)) => (p, g),
                    (p, g) => {
                        diags.extend(p.err().into_iter().chain(g.err()));
                        continue;
                    }
                };
                let req = match e.get("cidr") {
                    Value::Unknown => None,
                    Value::String(s) => match alloc::parse_cidr(s) {
                        Ok(net) => {
                            if let Some(p) = prefix.filter(|p| *p != net.prefix_len()) {
                                diags.push(
                                    Diagnostic::error(
                                        "Conflicting prefix_length and cidr",
                                        format!("Allocation {name:?} pins {net} (a /{}) but asks for prefix_length {p}. Give one of them, or make them agree.", net.prefix_len()),
                                    )
                                    .at(path.clone().then("prefix_length")),
                                );
                            }
                            if !e.get("grow_to").is_null() {
                                diags.push(
                                    Diagnostic::error(
                                        "grow_to with a pinned cidr",
                                        format!("Allocation {name:?} pins {net}, so the allocator holds no room for it to grow into. Remove grow_to, or pin the larger block you mean to grow into."),
                                    )
                                    .at(path.clone().then("grow_to")),
                                );
                            }
                            pins.push((name.clone(), net));
                            Some(Request::Pinned(net))
                        }
                        Err(e) => {
                            diags.push(alloc_diag(&e).at(path.clone().then("cidr")));
                            continue;
                        }
                    },
                    _ if e.get("prefix_length").is_unknown() || e.get("grow_to").is_unknown() => {
                        None
                    }
                    _ => Some(growable(prefix, grow_to)),
                };
                match (req, requests.as_mut()) {
                    (Some(r), Some(map)) => {
                        map.insert(name.clone(), r);
                    }
                    (None, _) => requests = None,
                    _ => {}
                }
            }
        }
    }
    (requests, pins)
}

/// Every pin must be of the pool's family.
pub fn check_pin_families(family: Family, pins: &[(String, IpNet)], diags: &mut Vec<Diagnostic>) {
    for (name, net) in pins {
        if Family::of(net) != family {
            let e = AllocError::MixedFamilies {
                family,
                other: *net,
                other_family: Family::of(net),
            };
            diags.push(alloc_diag(&e).at(AttrPath::attr("allocations").key(name).then("cidr")));
        }
    }
}

/// The ledger stored in a state: name -> CIDR, and the names whose CIDR is unreadable.
pub fn ledger_of(state: &Value) -> (BTreeMap<String, IpNet>, Vec<String>) {
    let mut ledger = BTreeMap::new();
    let mut unreadable = Vec::new();
    if let Some(entries) = state.get("allocations").entries() {
        for (name, e) in entries {
            // Parsed leniently: host bits are kept so that drift checks can see them.
            match e.get("cidr").as_str().map(|s| s.trim().parse::<IpNet>()) {
                Some(Ok(net)) => {
                    ledger.insert(name.clone(), net);
                }
                _ => unreadable.push(name.clone()),
            }
        }
    }
    (ledger, unreadable)
}

/// The planned `allocations` map: each configured entry with the facts `facts` gives
/// for its name. A member the user set (`cidr`, `prefix_length`) is planned exactly as
/// written, as Terraform requires of optional nested attributes.
pub fn allocations_value(
    config: &Value,
    id: &Value,
    facts: impl Fn(&str) -> BTreeMap<String, Value>,
) -> Value {
    match config.get("allocations") {
        Value::Map(entries) => Value::Map(
            entries
                .iter()
                .map(|(name, e)| {
                    let mut o = facts(name);
                    for k in ["cidr", "prefix_length"] {
                        if !e.get(k).is_null() {
                            o.insert(k.into(), e.get(k).clone());
                        }
                    }
                    for k in ["description", "grow_to"] {
                        o.insert(k.into(), e.get(k).clone());
                    }
                    o.insert("name".into(), Value::str(name.clone()));
                    o.insert("pool_id".into(), id.clone());
                    (name.clone(), Value::Object(o))
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The warnings of a placement, as `ipam_pool` and `ipam_shared_allocations` give them:
/// prior entries placed anew, and growable entries kept with no room held.
pub fn outcome_warnings(prior: &alloc::Prior, outcome: &alloc::Outcome) -> Vec<Diagnostic> {
    let mut diagnostics: Vec<Diagnostic> = outcome
        .repaired
        .iter()
        .map(|(name, problem)| {
            Diagnostic::warning(
                "Invalid allocation repaired",
                format!(
                    "Allocation {name:?} in the stored state {problem} ({}); this plan places it anew at {}. Other allocations keep their blocks.",
                    prior.ledger.get(name).map(|n| n.to_string()).unwrap_or_default(),
                    outcome.ledger.get(name).map(|n| n.to_string()).unwrap_or_default()
                ),
            )
            .at(AttrPath::attr("allocations").key(name))
        })
        .collect();
    diagnostics.extend(outcome.no_room.iter().map(|name| {
        Diagnostic::warning(
            "No room held for growth",
            format!(
                "Allocation {name:?} keeps {} where it is, but the block of its grow_to around it is not free (or does not start at it), so no room is held for its growth. Growing it later may move it.",
                outcome.ledger.get(name).map(|n| n.to_string()).unwrap_or_default()
            ),
        )
        .at(AttrPath::attr("allocations").key(name).then("grow_to"))
    }));
    diagnostics
}
