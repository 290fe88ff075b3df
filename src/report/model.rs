//! What the report reads from `terraform show -json`: the parts of Terraform's JSON
//! output format it needs (serde types), turned into pools with their allocations,
//! before and after a saved plan.

use std::collections::BTreeMap;

use ipnet::IpNet;
use serde::Deserialize;
use serde_json::Value as Json;

use super::ReportError;
use crate::alloc::{merge, parse_cidr, parse_range};

/// `terraform show -json` of a state or of a saved plan.
#[derive(Debug, Deserialize)]
pub struct Show {
    /// A state's values.
    #[serde(default)]
    pub values: Option<Values>,
    /// A plan's state before it.
    #[serde(default)]
    pub prior_state: Option<StateRepr>,
    /// A plan's changes, one per resource instance.
    #[serde(default)]
    pub resource_changes: Option<Vec<ResourceChange>>,
}

#[derive(Debug, Deserialize)]
pub struct StateRepr {
    #[serde(default)]
    pub values: Option<Values>,
}

#[derive(Debug, Deserialize)]
pub struct Values {
    pub root_module: Module,
}

#[derive(Debug, Deserialize)]
pub struct Module {
    #[serde(default)]
    pub resources: Vec<Resource>,
    #[serde(default)]
    pub child_modules: Vec<Module>,
}

#[derive(Debug, Deserialize)]
pub struct Resource {
    pub address: String,
    pub mode: String,
    #[serde(rename = "type")]
    pub ty: String,
    #[serde(default)]
    pub values: Json,
}

#[derive(Debug, Deserialize)]
pub struct ResourceChange {
    pub address: String,
    pub mode: String,
    #[serde(rename = "type")]
    pub ty: String,
    pub change: Change,
}

#[derive(Debug, Deserialize)]
pub struct Change {
    #[serde(default)]
    pub actions: Vec<String>,
    #[serde(default)]
    pub before: Json,
    #[serde(default)]
    pub after: Json,
}

/// One allocation as the report shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Alloc {
    pub cidr: IpNet,
    pub description: Option<String>,
}

/// A pool at one moment: its space, reserved ranges, allocations and the room held
/// for growth or by release holds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PoolView {
    pub cidrs: Vec<IpNet>,
    pub reserved: Vec<IpNet>,
    pub allocations: BTreeMap<String, Alloc>,
    /// Growth room (`growth_cidr`) and held released blocks.
    pub held: Vec<IpNet>,
    /// Allocations whose CIDR is not known yet (a plan's "known after apply").
    pub pending: Vec<String>,
}

/// One pool of the report, before and after (a state has only `after`).
#[derive(Debug, Clone)]
pub struct PoolReport {
    pub address: String,
    pub kind: String,
    pub before: Option<PoolView>,
    pub after: Option<PoolView>,
}

/// What happened to one allocation in a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    Added,
    Removed,
    /// At another start address.
    Moved,
    /// Grown or shrunk at the same start.
    Resized,
    Unchanged,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Added => "added",
            Status::Removed => "removed",
            Status::Moved => "moved",
            Status::Resized => "resized",
            Status::Unchanged => "unchanged",
        }
    }
}

/// Every allocation name of a pool with its status and its CIDR before and after.
pub type Changes = Vec<(String, Status, Option<Alloc>, Option<Alloc>)>;

impl PoolReport {
    pub fn is_plan(&self) -> bool {
        self.before.is_some() || self.after.is_none()
    }

    /// Allocation changes, by name.
    pub fn changes(&self, plan: bool) -> Changes {
        let empty = BTreeMap::new();
        let before = self.before.as_ref().map_or(&empty, |p| &p.allocations);
        let after = self.after.as_ref().map_or(&empty, |p| &p.allocations);
        let mut names: Vec<&String> = before.keys().chain(after.keys()).collect();
        names.sort();
        names.dedup();
        names
            .into_iter()
            .map(|n| {
                let (b, a) = (before.get(n).cloned(), after.get(n).cloned());
                let status = match (&b, &a) {
                    _ if !plan => Status::Unchanged,
                    (None, Some(_)) => Status::Added,
                    (Some(_), None) => Status::Removed,
                    (Some(x), Some(y)) if x.cidr.network() != y.cidr.network() => Status::Moved,
                    (Some(x), Some(y)) if x.cidr != y.cidr => Status::Resized,
                    _ => Status::Unchanged,
                };
                (n.clone(), status, b, a)
            })
            .collect()
    }
}

fn strings(v: &Json) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Json::as_str).collect())
        .unwrap_or_default()
}

fn bad(address: &str, what: &str, e: impl std::fmt::Display) -> ReportError {
    ReportError::Input(format!("{address}: {what}: {e}"))
}

/// The allocations map of a pool or an owner's resource (name -> {cidr, description,
/// growth_cidr}); entries whose CIDR is not known yet go to `pending`.
fn read_allocations(address: &str, v: &Json, view: &mut PoolView) -> Result<(), ReportError> {
    let Some(m) = v.get("allocations").and_then(Json::as_object) else {
        return Ok(());
    };
    for (name, e) in m {
        match e.get("cidr").and_then(Json::as_str) {
            Some(c) => {
                let cidr = parse_cidr(c).map_err(|e| bad(address, name, e))?;
                let description = e
                    .get("description")
                    .and_then(Json::as_str)
                    .map(String::from);
                view.allocations
                    .insert(name.clone(), Alloc { cidr, description });
                if let Some(g) = e.get("growth_cidr").and_then(Json::as_str) {
                    view.held
                        .push(parse_cidr(g).map_err(|e| bad(address, name, e))?);
                }
            }
            None => view.pending.push(name.clone()),
        }
    }
    Ok(())
}

/// A pool resource's view, from its values.
fn pool_view(address: &str, ty: &str, v: &Json) -> Result<PoolView, ReportError> {
    let mut view = PoolView::default();
    for c in strings(&v["cidrs"]) {
        view.cidrs
            .push(parse_cidr(c).map_err(|e| bad(address, "cidrs", e))?);
    }
    for r in strings(&v["reserved"]) {
        view.reserved
            .push(parse_range(r).map_err(|e| bad(address, "reserved", e))?);
    }
    read_allocations(address, v, &mut view)?;
    // The shared pool data source's blocks of plans not yet applied hold their space.
    if let Some(m) = v.get("reservations").and_then(Json::as_object) {
        for e in m.values() {
            if let Some(c) = e.get("cidr").and_then(Json::as_str) {
                view.held
                    .push(parse_cidr(c).map_err(|e| bad(address, "reservations", e))?);
            }
        }
    }
    if ty == "ipam_pool" {
        if let Some(m) = v.get("released").and_then(Json::as_object) {
            for e in m.values() {
                if let Some(c) = e.get("cidr").and_then(Json::as_str) {
                    view.held
                        .push(parse_cidr(c).map_err(|e| bad(address, "released", e))?);
                }
            }
        }
    }
    Ok(view)
}

const POOLS: &[&str] = &["ipam_pool", "ipam_shared_pool"];

/// One moment's resources: (address, mode, type, values).
type ResourceList<'a> = Vec<(&'a str, &'a str, &'a str, &'a Json)>;

fn walk<'a>(m: &'a Module, out: &mut ResourceList<'a>) {
    for r in &m.resources {
        out.push((&r.address, &r.mode, &r.ty, &r.values));
    }
    for c in &m.child_modules {
        walk(c, out);
    }
}

/// The pools of one moment, by address. Shared allocations join the shared pool of
/// their `pool` name when this state has it, or form a view of their own whose space is
/// the blocks themselves.
fn pools_of(resources: &ResourceList) -> Result<BTreeMap<String, (String, PoolView)>, ReportError> {
    let mut pools = BTreeMap::new();
    let mut shared_by_name: BTreeMap<String, String> = BTreeMap::new();
    for (address, mode, ty, v) in resources {
        if POOLS.contains(ty) && !v.is_null() {
            let mut view = pool_view(address, ty, v)?;
            let kind = if *mode == "data" {
                format!("data.{ty}")
            } else {
                ty.to_string()
            };
            if *ty == "ipam_shared_pool" {
                if let Some(n) = v.get("name").and_then(Json::as_str) {
                    shared_by_name.insert(n.to_string(), address.to_string());
                }
                // The data source keys every owner's blocks `owner/name`.
                if *mode == "data" {
                    view.pending.clear();
                }
            }
            pools.insert(address.to_string(), (kind, view));
        }
    }
    for (address, _, ty, v) in resources {
        if *ty != "ipam_shared_allocations" || v.is_null() {
            continue;
        }
        let mut own = PoolView::default();
        read_allocations(address, v, &mut own)?;
        let owner = v.get("owner").and_then(Json::as_str).unwrap_or("?");
        let pool_name = v.get("pool").and_then(Json::as_str).unwrap_or("");
        match shared_by_name.get(pool_name).and_then(|a| pools.get_mut(a)) {
            // A managed shared pool in this state: its owners' blocks go on its map.
            Some((kind, view)) if !kind.starts_with("data.") => {
                for (n, a) in own.allocations {
                    view.allocations.insert(format!("{owner}/{n}"), a);
                }
                view.pending
                    .extend(own.pending.into_iter().map(|n| format!("{owner}/{n}")));
            }
            _ => {
                own.cidrs = merge(&own.allocations.values().map(|a| a.cidr).collect::<Vec<_>>());
                pools.insert(address.to_string(), ("ipam_shared_allocations".into(), own));
            }
        }
    }
    Ok(pools)
}

/// Reads `terraform show -json` output into one report per pool, by address.
pub fn read(json: &str) -> Result<Vec<PoolReport>, ReportError> {
    let show: Show = serde_json::from_str(json)
        .map_err(|e| ReportError::Input(format!("not the JSON of `terraform show -json`: {e}")))?;
    let mut reports: BTreeMap<String, PoolReport> = BTreeMap::new();
    if let Some(changes) = &show.resource_changes {
        let mut before: ResourceList = Vec::new();
        let mut after: ResourceList = Vec::new();
        for rc in changes {
            before.push((&rc.address, &rc.mode, &rc.ty, &rc.change.before));
            after.push((&rc.address, &rc.mode, &rc.ty, &rc.change.after));
        }
        // Data sources read at plan time are in the prior state only.
        let mut prior: ResourceList = Vec::new();
        if let Some(v) = show.prior_state.as_ref().and_then(|s| s.values.as_ref()) {
            walk(&v.root_module, &mut prior);
        }
        for r in prior {
            if r.1 == "data" && !changes.iter().any(|c| c.address == r.0) {
                before.push(r);
                after.push(r);
            }
        }
        for (address, (kind, view)) in pools_of(&before)? {
            reports.insert(
                address.clone(),
                PoolReport {
                    address,
                    kind,
                    before: Some(view),
                    after: None,
                },
            );
        }
        for (address, (kind, view)) in pools_of(&after)? {
            reports
                .entry(address.clone())
                .or_insert(PoolReport {
                    address,
                    kind,
                    before: None,
                    after: None,
                })
                .after = Some(view);
        }
        // A created pool has no "before"; mark it as part of a plan all the same.
        for r in reports.values_mut() {
            if r.before.is_none() {
                r.before = Some(PoolView::default());
            }
        }
    } else if let Some(v) = &show.values {
        let mut snap: ResourceList = Vec::new();
        walk(&v.root_module, &mut snap);
        for (address, (kind, view)) in pools_of(&snap)? {
            reports.insert(
                address.clone(),
                PoolReport {
                    address,
                    kind,
                    before: None,
                    after: Some(view),
                },
            );
        }
    }
    Ok(reports.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_with_pools_in_child_modules() {
        let json = r#"{"format_version":"1.0","values":{"root_module":{"resources":[
            {"address":"ipam_pool.corp","mode":"managed","type":"ipam_pool","values":{
              "cidrs":["10.0.0.0/8"],"reserved":["10.255.0.0/16"],
              "allocations":{"a":{"cidr":"10.0.0.0/16","description":"<b>x</b>","growth_cidr":null}}}}],
            "child_modules":[{"address":"module.c","resources":[
              {"address":"module.c.ipam_pool.cluster","mode":"managed","type":"ipam_pool","values":{
                "cidrs":["10.0.0.0/16"],"allocations":{"pods":{"cidr":"10.0.0.0/18","growth_cidr":"10.0.0.0/17"}}}}]}]}}}"#;
        let r = read(json).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[1].address, "module.c.ipam_pool.cluster");
        let v = r[1].after.as_ref().unwrap();
        assert_eq!(v.held, vec!["10.0.0.0/17".parse::<IpNet>().unwrap()]);
        assert!(!r[0].is_plan());
    }

    #[test]
    fn a_plan_gives_before_after_and_statuses() {
        let json = r#"{"format_version":"1.2","resource_changes":[
            {"address":"ipam_pool.p","mode":"managed","type":"ipam_pool","change":{"actions":["update"],
              "before":{"cidrs":["10.0.0.0/16"],"allocations":{"a":{"cidr":"10.0.0.0/24"},"b":{"cidr":"10.0.1.0/24"},"c":{"cidr":"10.0.2.0/24"}}},
              "after":{"cidrs":["10.0.0.0/16"],"allocations":{"a":{"cidr":"10.0.0.0/24"},"c":{"cidr":"10.0.4.0/23"},"d":{"cidr":"10.0.8.0/24"}}}}}]}"#;
        let r = read(json).unwrap();
        let statuses: Vec<(String, Status)> = r[0]
            .changes(true)
            .into_iter()
            .map(|(n, s, _, _)| (n, s))
            .collect();
        assert_eq!(
            statuses,
            [
                ("a".into(), Status::Unchanged),
                ("b".into(), Status::Removed),
                ("c".into(), Status::Moved),
                ("d".into(), Status::Added)
            ]
        );
    }

    #[test]
    fn input_that_is_not_terraform_json_is_an_error() {
        assert!(matches!(read("[1,2]"), Err(ReportError::Input(_))));
        let bad_cidr = r#"{"values":{"root_module":{"resources":[{"address":"ipam_pool.x","mode":"managed","type":"ipam_pool","values":{"cidrs":["10.0.0.1/8"]}}]}}}"#;
        let e = read(bad_cidr).unwrap_err().to_string();
        assert!(e.contains("ipam_pool.x: cidrs"), "{e}");
    }
}
