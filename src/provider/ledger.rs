//! Ledger planning shared by `ipam_pool` and `ipam_shared_allocations` (one copy):
//! reading the requests of a configuration (`requests`, or the nested `allocations` of
//! schema 2 and earlier), the ledger of a state, and the planned value of the
//! `allocations` map.
//!
//! `requests` is a `dynamic` attribute: Terraform hands it over as written, and the
//! checks a typed attribute would get from Terraform (member names and types) are made
//! here, with the same attribute paths.

use std::collections::BTreeMap;

use ipnet::IpNet;

use super::common::{alloc_diag, prefix_of, request_members};
use crate::alloc::{self, AllocError, Family, Request};
use crate::tfplugin::diag::Step;
use crate::tfplugin::value::Number;
use crate::tfplugin::{AttrPath, Diagnostic, Type, Value};

/// A request of `prefix_length` (or the pool's default) that may hold room to `grow_to`.
pub fn growable(prefix: Option<u8>, grow_to: Option<u8>) -> Request {
    match grow_to {
        Some(g) => Request::Growable { prefix, grow_to: g },
        None => Request::Size(prefix),
    }
}

/// Requests by allocation name.
pub type Requests = BTreeMap<String, Request>;

/// The attribute a configuration writes its requests in: `requests`, unless it sets
/// the nested `allocations` of schema 2 and earlier (still read, the same way).
pub fn request_attr(config: &Value) -> &'static str {
    if config.get("allocations").is_null() {
        "requests"
    } else {
        "allocations"
    }
}

/// A configuration's requests, each an object of exactly the [`request_members`], typed
/// (or unknown): `None` when the whole map is not yet known. Problems go to `diags`.
pub fn requested(config: &Value, diags: &mut Vec<Diagnostic>) -> Option<BTreeMap<String, Value>> {
    let attr = request_attr(config);
    if attr == "allocations" && !config.get("requests").is_null() {
        diags.push(
            Diagnostic::error(
                "Both requests and allocations set",
                "Write the allocations in `requests` only: `allocations` is then computed from it, with each block placed at plan. (Setting `allocations` itself is the form of earlier releases.)",
            )
            .at(AttrPath::attr("requests")),
        );
    }
    entries_of(attr, config.get(attr), diags)
}

/// The requests of `v`, the value of attribute `attr` ([`requested`]).
fn entries_of(
    attr: &str,
    v: &Value,
    diags: &mut Vec<Diagnostic>,
) -> Option<BTreeMap<String, Value>> {
    let path = AttrPath::attr(attr);
    let entries = match v.inner() {
        Value::Unknown => return None,
        Value::Null => return Some(BTreeMap::new()),
        Value::Map(m) | Value::Object(m) => m,
        _ => {
            diags.push(
                Diagnostic::error(
                    "Requests must be a map",
                    format!("`{attr}` takes one request per allocation, keyed by a stable name, such as {{ web = 24 }} or {{ web = {{ prefix_length = 24 }} }}."),
                )
                .at(path),
            );
            return Some(BTreeMap::new());
        }
    };
    let mut out = BTreeMap::new();
    for (name, e) in entries {
        if let Some(e) = request_object(name, e.inner(), path.clone().key(name), diags) {
            out.insert(name.clone(), e);
        }
    }
    Some(out)
}

/// One request as an object of exactly the [`request_members`], each converted to its type as
/// Terraform would convert it (`"24"` to 24, 24 to `"24"`); `None` after a problem.
fn request_object(
    name: &str,
    e: &Value,
    path: AttrPath,
    diags: &mut Vec<Diagnostic>,
) -> Option<Value> {
    let short;
    let members = match e {
        Value::Unknown => return Some(Value::Unknown),
        Value::Map(m) | Value::Object(m) => m,
        // The short form, which keeps a large pool's `requests` (and its state) small.
        Value::Number(_) | Value::String(_) => {
            short = [(short_member(e).to_string(), e.clone())].into();
            &short
        }
        _ => {
            diags.push(
                Diagnostic::error(
                    "Request must be a prefix length, a CIDR or an object",
                    format!("Allocation {name:?} must be a prefix length (24), a CIDR to pin (\"10.0.8.0/21\"), or an object of prefix_length, cidr, description and grow_to, such as {{ prefix_length = 24, description = \"web\" }}."),
                )
                .at(path),
            );
            return None;
        }
    };
    let wanted: Vec<(String, Type)> = request_members()
        .iter()
        .map(|a| (a.name.clone(), a.value_type()))
        .collect();
    let mut ok = true;
    // A null member is no member (and the nested form has every computed one, null).
    for (key, _) in members.iter().filter(|(_, v)| !v.is_null()) {
        if !wanted.iter().any(|(m, _)| m == key) {
            ok = false;
            diags.push(
                Diagnostic::error(
                    "Unsupported request member",
                    format!("Allocation {name:?} sets {key:?}, which a request does not take. A request takes prefix_length, cidr, description and grow_to; the rest of an allocation is computed."),
                )
                .at(path.clone().then(key)),
            );
        }
    }
    let mut out = BTreeMap::new();
    for (member, ty) in &wanted {
        let v = members
            .get(member)
            .map(Value::inner)
            .unwrap_or(&Value::Null);
        let converted = match (v, ty) {
            (Value::Null | Value::Unknown, _) => Some(v.clone()),
            (Value::Number(_), Type::Number) | (Value::String(_), Type::String) => Some(v.clone()),
            (Value::String(s), Type::Number) => Number::parse(s).map(Value::Number),
            (Value::Number(n), Type::String) => Some(Value::str(n.to_string())),
            (Value::Bool(b), Type::String) => Some(Value::str(b.to_string())),
            _ => None,
        };
        match converted {
            Some(c) => {
                out.insert(member.clone(), c);
            }
            None => {
                ok = false;
                let want = if *ty == Type::Number {
                    "a number"
                } else {
                    "a string"
                };
                diags.push(
                    Diagnostic::error(
                        "Invalid request member",
                        format!(
                            "{member} of allocation {name:?} must be {want}, not {}.",
                            shown(v)
                        ),
                    )
                    .at(path.clone().then(member)),
                );
            }
        }
    }
    ok.then_some(Value::Object(out))
}

/// The member a request written as a plain value stands for: a number (or a string of
/// one, as Terraform would convert it) is the `prefix_length`, any other string the
/// `cidr` to pin.
fn short_member(v: &Value) -> &'static str {
    match v {
        Value::String(s) if Number::parse(s).is_none() => "cidr",
        _ => "prefix_length",
    }
}

/// A value as a diagnostic shows it.
fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => format!("the string {s:?}"),
        Value::Bool(b) => format!("{b}"),
        Value::List(_) | Value::Set(_) => "a list".into(),
        Value::Map(_) | Value::Object(_) => "an object".into(),
        other => format!("{other:?}"),
    }
}

/// The planned `requests`: as configured, unless the prior state has requests that
/// place every block exactly where the configured ones do (`planned` holds the same
/// `allocations` as `prior`): then the prior's, as Terraform allows for a value that
/// means the same, so that an import (which writes the blocks it found as pins) or a
/// retyped literal (`"24"` for 24) is no change. The next change records the
/// configuration's. With the nested `allocations` in the configuration instead,
/// `requests` (computed then) keeps what the state had.
pub fn planned_requests(config: &Value, prior: &Value, planned: &Value) -> Value {
    let (c, p) = (config.get("requests"), prior.get("requests"));
    if c.is_null() {
        return if config.get("allocations").is_null() {
            Value::Null
        } else {
            p.clone()
        };
    }
    if !p.is_null() && c.is_wholly_known() && planned.get("allocations") == prior.get("allocations")
    {
        p.clone()
    } else {
        c.clone()
    }
}

/// The requests that hold `entries` where they are, as an import writes them: each
/// block pinned, in the short form (`"10.0.1.0/24"`), or as an object of `cidr` and
/// `description` when it has a description.
pub fn pinned_requests<'a>(entries: impl Iterator<Item = (&'a String, &'a Value)>) -> Value {
    Value::Object(
        entries
            .map(|(name, e)| {
                let pin = if e.get("description").is_null() {
                    e.get("cidr").clone()
                } else {
                    Value::Object(
                        ["cidr", "description"]
                            .into_iter()
                            .map(|k| (k.to_string(), e.get(k).clone()))
                            .collect(),
                    )
                };
                (name.clone(), pin)
            })
            .collect(),
    )
}

/// Diagnostics about allocation entries point at the attribute the configuration
/// wrote them in (`attr`, from [`request_attr`]): `requests`, not the computed
/// `allocations`. For those built where the attribute is not known (the allocator's
/// errors, placement warnings, all under `allocations`); [`read_requests`] builds its
/// own under the right one, as some of its texts quote the path.
pub fn at_requests(attr: &str, diags: Vec<Diagnostic>) -> Vec<Diagnostic> {
    if attr != "requests" {
        return diags;
    }
    diags
        .into_iter()
        .map(|mut d| {
            if let Some(first) = d.path.as_mut().and_then(|p| p.0.first_mut()) {
                if *first == Step::Attr("allocations".into()) {
                    *first = Step::Attr("requests".into());
                }
            }
            d
        })
        .collect()
}

/// Reads the requests of a configuration into allocator requests by name (`None` when
/// any is not yet known) and the pinned blocks; problems go to `diags` with their
/// paths, under the attribute the configuration wrote ([`request_attr`]).
pub fn read_requests(
    v: &Value,
    diags: &mut Vec<Diagnostic>,
) -> (Option<Requests>, Vec<(String, IpNet)>) {
    let mut pins: Vec<(String, IpNet)> = Vec::new();
    let Some(entries) = requested(v, diags) else {
        return (None, pins);
    };
    let mut requests = Some(BTreeMap::new());
    // Paths name the attribute the configuration wrote: some details quote them.
    let attr = request_attr(v);
    for (name, e) in &entries {
        let path = AttrPath::attr(attr).key(name);
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
                    // Named in the text too: Terraform before 1.15 shows such a path
                    // at the resource block, not at the allocation's line.
                    let mut d = alloc_diag(&e).at(path.clone().then("cidr"));
                    d.detail = format!("Allocation {name:?}: {}", d.detail);
                    diags.push(d);
                    continue;
                }
            },
            _ if e.get("prefix_length").is_unknown() || e.get("grow_to").is_unknown() => None,
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

/// The planned `allocations` map: each requested entry with the facts `facts` gives
/// for its name. A member the request sets (`cidr`, `prefix_length`) is planned exactly
/// as written, as Terraform requires of the optional members of the nested
/// `allocations` when a configuration sets it.
pub fn allocations_value(
    config: &Value,
    id: &Value,
    facts: impl Fn(&str) -> BTreeMap<String, Value>,
) -> Value {
    let attr = request_attr(config);
    match (config.get(attr).inner(), requested(config, &mut Vec::new())) {
        (Value::Null, _) => Value::Null,
        (_, None) => Value::Unknown,
        (_, Some(entries)) => Value::Map(
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

#[cfg(test)]
#[path = "ledger_tests.rs"]
mod tests;
