//! `ipam_shared_allocations`: one owner's slice of a shared pool, in any Terraform
//! state. Its `allocations` have exactly the schema of `ipam_pool.allocations`, so
//! `ipam_allocation` handles work unchanged.
//!
//! What plan shows is what apply gets: the plan places this owner's requests with the
//! allocator, every other owner's blocks and live plan reservations counted as taken,
//! and records the blocks as this owner's plan reservations, all in one transaction
//! under the pool's lock (see [`crate::store`]). The plan Terraform makes again in the
//! apply walk finds those reservations and gives the same blocks. Apply turns them into
//! allocations, re-checking every block.
//!
//! The private state keeps the last applied ledger, so that rows deleted or changed
//! out of band are restored at the same blocks.

use std::collections::BTreeMap;

use ipnet::IpNet;

use super::common::{alloc_diag, entry_attributes, facts_values, unknown_facts};
use super::config::store_of;
use super::ledger::{self, ledger_of};
use super::shared_pool::pool_of_def;
use crate::alloc::{Outcome, Prior};
use crate::store::{Block, StoreError};
use crate::tfplugin::schema::{Attribute, Mode, Schema};
use crate::tfplugin::{
    ApplyRequest, ApplyResponse, AttrPath, Context, Diagnostic, PlanRequest, PlanResponse,
    ReadRequest, ReadResponse, Resource, Type, Value,
};

pub struct SharedAllocationsResource;

fn id_of(pool: &str, owner: &str) -> String {
    format!("{pool}/{owner}")
}

/// The last applied ledger, as the private state keeps it.
fn private_ledger(private: &[u8]) -> BTreeMap<String, IpNet> {
    serde_json::from_slice::<serde_json::Value>(private)
        .ok()
        .and_then(|j| j.get("ledger").cloned())
        .and_then(|l| serde_json::from_value::<BTreeMap<String, String>>(l).ok())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| Some((k, v.parse().ok()?)))
        .collect()
}

fn private_of(ledger: &BTreeMap<String, IpNet>) -> Vec<u8> {
    let m: BTreeMap<&String, String> = ledger.iter().map(|(k, v)| (k, v.to_string())).collect();
    serde_json::to_vec(&serde_json::json!({ "ledger": m })).unwrap_or_default()
}

/// How the store keeps a request, so that read and import can rebuild the entry.
fn request_json(entry: &Value) -> serde_json::Value {
    let num = |k: &str| entry.get(k).as_number().and_then(|n| n.to_i64());
    serde_json::json!({
        "prefix_length": num("prefix_length"),
        "grow_to": num("grow_to"),
    })
}

/// An allocations entry rebuilt from a stored block.
fn entry_of_block(b: &Block, id: &str, prior: &Value) -> Value {
    let mut o = facts_values(&b.cidr);
    o.insert("name".into(), Value::str(b.name.clone()));
    o.insert("pool_id".into(), Value::str(id));
    o.insert(
        "description".into(),
        b.description.clone().map(Value::str).unwrap_or(Value::Null),
    );
    let grow_to = b.request.get("grow_to").and_then(|g| g.as_i64());
    o.insert(
        "grow_to".into(),
        grow_to.map(Value::int).unwrap_or(Value::Null),
    );
    o.insert(
        "growth_cidr".into(),
        if b.span != b.cidr {
            Value::str(b.span.to_string())
        } else {
            Value::Null
        },
    );
    // A prefix_length the configuration left out stays as the state had it.
    if let Value::Object(p) = prior {
        if let Some(Value::Number(n)) = p.get("prefix_length") {
            if n.to_i64() == Some(i64::from(b.cidr.prefix_len())) {
                o.insert("prefix_length".into(), Value::Number(n.clone()));
            }
        }
    }
    Value::Object(o)
}

fn state_of_blocks(pool: &str, owner: &str, blocks: &[Block], prior: &Value) -> Value {
    let id = id_of(pool, owner);
    let prior_entries = prior
        .get("allocations")
        .entries()
        .cloned()
        .unwrap_or_default();
    let mut obj = BTreeMap::new();
    obj.insert("id".into(), Value::str(id.clone()));
    obj.insert("pool".into(), Value::str(pool));
    obj.insert("owner".into(), Value::str(owner));
    let entries: BTreeMap<String, Value> = blocks
        .iter()
        .map(|b| {
            let p = prior_entries.get(&b.name).cloned().unwrap_or(Value::Null);
            (b.name.clone(), entry_of_block(b, &id, &p))
        })
        .collect();
    obj.insert(
        "allocations".into(),
        if entries.is_empty() && prior.get("allocations").is_null() {
            Value::Null
        } else {
            Value::Map(entries)
        },
    );
    Value::Object(obj)
}

fn store_diag(e: StoreError, pool: &str) -> Diagnostic {
    match e {
        StoreError::NoPool(p) => Diagnostic::error(
            "Shared pool does not exist",
            format!("The shared ledger has no pool named {p:?}. If ipam_shared_pool for it is in this configuration, write pool = ipam_shared_pool.<name>.id (not the literal name) so that this plan waits for the pool; otherwise create the pool first, in the state that owns it."),
        )
        .at(AttrPath::attr("pool")),
        other => Diagnostic::error(
            "Shared ledger error",
            format!("Pool {pool:?}: {other}."),
        ),
    }
}

/// Runs a store call for a pool; a stop or an error becomes a diagnostic.
fn call<T>(
    ctx: &Context,
    pool: &str,
    fut: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<T, Diagnostic> {
    match ctx.block_on(fut) {
        None => Err(Diagnostic::error(
            "Stopped",
            "Terraform asked the provider to stop. Nothing was written.",
        )),
        Some(r) => r.map_err(|e| store_diag(e, pool)),
    }
}

/// The configured `pool` and `owner`, when both are known.
fn names(v: &Value) -> Option<(String, String)> {
    Some((
        v.get("pool").as_str()?.to_string(),
        v.get("owner").as_str()?.to_string(),
    ))
}

fn check_names(config: &Value) -> Vec<Diagnostic> {
    let mut d = Vec::new();
    if let Some(p) = config.get("pool").as_str() {
        if p.is_empty() || p.contains('/') {
            d.push(
                Diagnostic::error(
                    "Invalid pool",
                    format!("pool {p:?} must be a pool's name: non-empty, with no \"/\"."),
                )
                .at(AttrPath::attr("pool")),
            );
        }
    }
    if let Some(o) = config.get("owner").as_str() {
        if o.trim().is_empty() {
            d.push(Diagnostic::error("Invalid owner", "owner must be a non-empty name for this state's slice of the pool, such as \"team-a\".").at(AttrPath::attr("owner")));
        }
    }
    d
}

impl SharedAllocationsResource {
    /// The planned value: arguments as configured, entries with facts from `out`.
    fn planned(config: &Value, id: &Value, out: Option<&Outcome>) -> Value {
        let mut obj = BTreeMap::new();
        obj.insert("id".into(), id.clone());
        obj.insert("pool".into(), config.get("pool").clone());
        obj.insert("owner".into(), config.get("owner").clone());
        let allocations = ledger::allocations_value(config, id, |name| match out {
            Some(out) => {
                let mut f = out
                    .ledger
                    .get(name)
                    .map(facts_values)
                    .unwrap_or_else(unknown_facts);
                f.insert(
                    "growth_cidr".into(),
                    out.growth
                        .get(name)
                        .map(|g| Value::str(g.to_string()))
                        .unwrap_or(Value::Null),
                );
                f
            }
            None => {
                let mut f = unknown_facts();
                f.insert("growth_cidr".into(), Value::Unknown);
                f
            }
        });
        obj.insert("allocations".into(), allocations);
        Value::Object(obj)
    }
}

impl Resource for SharedAllocationsResource {
    fn type_name(&self) -> &'static str {
        "ipam_shared_allocations"
    }

    fn schema(&self) -> Schema {
        Schema {
            version: 0,
            description: "One owner's slice of a shared pool (`ipam_shared_pool`), from any Terraform state: its allocations are placed at plan, reserved in the shared ledger until apply, and never overlap another owner's.".into(),
            attributes: vec![
                Attribute::new("id", Type::String, Mode::Computed, "`pool/owner`, which is also the import ID."),
                Attribute::new("pool", Type::String, Mode::Required, "Name of the shared pool. In the configuration that creates the pool, write `ipam_shared_pool.<name>.id` so that the plan waits for it. Changing it replaces the resource."),
                Attribute::new("owner", Type::String, Mode::Required, "This state's name for its slice of the pool (a team, a cluster); unique per pool. Changing it replaces the resource."),
                Attribute::nested_map(
                    "allocations",
                    entry_attributes(),
                    Mode::Optional,
                    "The owner's allocations, keyed by a stable name, with exactly the schema of `ipam_pool.allocations`. Each asks for a `prefix_length` or pins a `cidr`; the rest is computed at plan.",
                ),
            ],
        }
    }

    fn validate(&self, config: &Value) -> Vec<Diagnostic> {
        let mut diags = check_names(config);
        let _ = ledger::read_requests(config, &mut diags);
        diags
    }

    fn read(&self, req: ReadRequest, ctx: &Context) -> ReadResponse {
        let Some((pool, owner)) = names(&req.state) else {
            return ReadResponse {
                state: req.state,
                ..Default::default()
            };
        };
        let result = store_of(ctx, "ipam_shared_allocations").and_then(|(store, _)| {
            call(ctx, &pool, async {
                store.owner_blocks(&pool, &owner).await
            })
        });
        match result {
            // The pool is gone, and this owner's rows with it.
            Ok(None) => ReadResponse {
                state: Value::Null,
                ..Default::default()
            },
            Ok(Some(blocks)) => ReadResponse {
                state: state_of_blocks(&pool, &owner, &blocks, &req.state),
                ..Default::default()
            },
            Err(d) => ReadResponse {
                state: req.state,
                diagnostics: vec![d],
                ..Default::default()
            },
        }
    }

    fn plan(&self, req: PlanRequest, ctx: &Context) -> PlanResponse {
        if req.proposed.is_null() {
            return PlanResponse::default();
        }
        let mut diagnostics = check_names(&req.config);
        let (requests, pins) = ledger::read_requests(&req.config, &mut diagnostics);
        if !diagnostics.is_empty() {
            return PlanResponse {
                diagnostics,
                ..Default::default()
            };
        }
        let mut requires_replace = Vec::new();
        if !req.prior.is_null() {
            for k in ["pool", "owner"] {
                if req.prior.get(k) != req.config.get(k) {
                    requires_replace.push(AttrPath::attr(k));
                }
            }
        }
        let replacing = !requires_replace.is_empty();
        let (Some((pool, owner)), Some(requests)) = (names(&req.config), requests) else {
            // The pool is created in this same run, or a request is not yet known: the
            // CIDRs are placed in the apply walk.
            return PlanResponse {
                planned: Self::planned(&req.config, &Value::Unknown, None),
                requires_replace,
                ..Default::default()
            };
        };
        let id = Value::str(id_of(&pool, &owner));
        if replacing {
            // Terraform plans the new object again, from scratch, after this.
            return PlanResponse {
                planned: Self::planned(&req.config, &id, None),
                requires_replace,
                ..Default::default()
            };
        }
        let (store, ttl) = match store_of(ctx, "ipam_shared_allocations") {
            Ok(s) => s,
            Err(d) => {
                return PlanResponse {
                    diagnostics: vec![d],
                    ..Default::default()
                }
            }
        };
        let creating = req.prior.is_null();
        let (state_ledger, _) = ledger_of(&req.prior);
        let last_applied = private_ledger(&req.prior_private);
        let mut outcome: Option<Outcome> = None;
        let descriptions: BTreeMap<String, (Option<String>, serde_json::Value)> = req
            .config
            .get("allocations")
            .entries()
            .into_iter()
            .flatten()
            .map(|(name, e)| {
                (
                    name.clone(),
                    (
                        e.get("description").as_str().map(str::to_string),
                        request_json(e),
                    ),
                )
            })
            .collect();
        let placed = call(
            ctx,
            &pool,
            store.plan_owner(&pool, &owner, ttl, |snap| -> Result<Vec<Block>, Vec<Diagnostic>> {
                let Some(def) = snap.def.as_ref() else {
                    return Err(vec![store_diag(StoreError::NoPool(pool.clone()), &pool)]);
                };
                let others: Vec<&Block> = snap
                    .allocations
                    .iter()
                    .chain(snap.reservations.iter().map(|r| &r.block))
                    .filter(|b| b.owner != owner)
                    .collect();
                let taken: Vec<IpNet> = others.iter().map(|b| b.span).collect();
                // Prior blocks, newest knowledge first: this owner's reservations (the
                // plan before this one), the last applied ledger, the database, the state.
                let mut prior_ledger: BTreeMap<String, IpNet> = BTreeMap::new();
                let mut from_memory: BTreeMap<String, IpNet> = BTreeMap::new();
                for (name, net) in &state_ledger {
                    prior_ledger.insert(name.clone(), *net);
                    from_memory.insert(name.clone(), *net);
                }
                for b in snap.allocations.iter().filter(|b| b.owner == owner) {
                    prior_ledger.insert(b.name.clone(), b.cidr);
                    from_memory.remove(&b.name);
                }
                for (name, net) in &last_applied {
                    prior_ledger.insert(name.clone(), *net);
                    from_memory.insert(name.clone(), *net);
                }
                for r in snap.reservations.iter().filter(|r| r.block.owner == owner) {
                    prior_ledger.insert(r.block.name.clone(), r.block.cidr);
                    from_memory.remove(&r.block.name);
                }
                let mut errors = Vec::new();
                // Creating an owner that already holds blocks would take over (and
                // replace) another state's slice.
                if creating {
                    let held: Vec<&str> = snap
                        .allocations
                        .iter()
                        .filter(|b| b.owner == owner)
                        .map(|b| b.name.as_str())
                        .collect();
                    if !held.is_empty() {
                        errors.push(
                            Diagnostic::error(
                                "Owner already exists",
                                format!("Owner {owner:?} already holds allocations in pool {pool:?} ({}), so another state (or an earlier one) manages it. Choose another owner, or take it over with terraform import <address> {pool}/{owner}.", held.join(", ")),
                            )
                            .at(AttrPath::attr("owner")),
                        );
                        return Err(errors);
                    }
                }
                // A block restored from memory must not have become another owner's.
                for (name, net) in &from_memory {
                    if !requests.contains_key(name) {
                        continue;
                    }
                    if let Some(o) = others.iter().find(|o| o.span.contains(net) || net.contains(&o.span)) {
                        errors.push(
                            Diagnostic::error(
                                "Block taken by another owner",
                                format!("Allocation {name:?} had {net}, which is missing from the shared ledger and now overlaps {:?} ({}) of owner {:?}. Restoring it there is impossible: coordinate with that owner, or remove {name:?} and add it under a new name to get a new block.", o.name, o.cidr, o.owner),
                            )
                            .at(AttrPath::attr("allocations").key(name)),
                        );
                    }
                }
                for (name, net) in &pins {
                    if let Some(o) = others.iter().find(|o| o.span.contains(net) || net.contains(&o.span)) {
                        errors.push(
                            Diagnostic::error(
                                "Pinned block taken by another owner",
                                format!("Allocation {name:?} pins {net}, which overlaps {:?} ({}) of owner {:?} in pool {pool:?}. Pin a free block or ask for a prefix_length.", o.name, o.cidr, o.owner),
                            )
                            .at(AttrPath::attr("allocations").key(name).then("cidr")),
                        );
                    }
                }
                if !errors.is_empty() {
                    return Err(errors);
                }
                let alloc_pool = pool_of_def(def, &taken).map_err(|e| vec![alloc_diag(&e)])?;
                let prior = Prior { ledger: prior_ledger, held: BTreeMap::new(), cidrs: def.cidrs.clone() };
                let out = alloc_pool.allocate(&prior, &requests).map_err(|e| vec![alloc_diag(&e)])?;
                let blocks = out
                    .ledger
                    .iter()
                    .map(|(name, cidr)| {
                        let (description, request) = descriptions.get(name).cloned().unwrap_or((None, serde_json::Value::Null));
                        Block {
                            owner: owner.clone(),
                            name: name.clone(),
                            cidr: *cidr,
                            span: out.growth.get(name).copied().unwrap_or(*cidr),
                            description,
                            request,
                        }
                    })
                    .collect();
                outcome = Some(out);
                Ok(blocks)
            }),
        );
        match placed.map(|p| p.placed) {
            Err(d) => PlanResponse {
                diagnostics: vec![d],
                ..Default::default()
            },
            Ok(Err(diagnostics)) => PlanResponse {
                diagnostics,
                ..Default::default()
            },
            Ok(Ok(_)) => PlanResponse {
                planned: Self::planned(&req.config, &id, outcome.as_ref()),
                ..Default::default()
            },
        }
    }

    fn apply(&self, req: ApplyRequest, ctx: &Context) -> ApplyResponse {
        let (store, _) = match store_of(ctx, "ipam_shared_allocations") {
            Ok(s) => s,
            Err(d) => return ApplyResponse::new(req.prior, vec![d]),
        };
        if req.planned.is_null() {
            let Some((pool, owner)) = names(&req.prior) else {
                return ApplyResponse::new(Value::Null, vec![]);
            };
            return match call(ctx, &pool, async {
                store.delete_owner(&pool, &owner).await
            }) {
                Ok(()) => ApplyResponse::new(Value::Null, vec![]),
                Err(d) => ApplyResponse::new(req.prior, vec![d]),
            };
        }
        if !req.planned.is_wholly_known() {
            return ApplyResponse::new(req.prior, vec![Diagnostic::error("Provider bug: unknown values at apply", "ipam_shared_allocations was asked to apply a plan with values still unknown. This is a bug in the provider; please report it.")]);
        }
        let Some((pool, owner)) = names(&req.planned) else {
            return ApplyResponse::new(req.prior, vec![]);
        };
        let mut blocks = Vec::new();
        let mut applied = BTreeMap::new();
        for (name, e) in req
            .planned
            .get("allocations")
            .entries()
            .into_iter()
            .flatten()
        {
            let (Some(cidr), span) = (
                e.get("cidr").as_str().and_then(|c| c.parse::<IpNet>().ok()),
                e.get("growth_cidr")
                    .as_str()
                    .and_then(|c| c.parse::<IpNet>().ok()),
            ) else {
                continue;
            };
            applied.insert(name.clone(), cidr);
            let config_entry = req.config.get("allocations").get(name).clone();
            blocks.push(Block {
                owner: owner.clone(),
                name: name.clone(),
                cidr,
                span: span.unwrap_or(cidr),
                description: e.get("description").as_str().map(str::to_string),
                request: request_json(if config_entry.is_null() {
                    e
                } else {
                    &config_entry
                }),
            });
        }
        match call(ctx, &pool, async {
            store.apply_owner(&pool, &owner, &blocks).await
        }) {
            Ok(()) => ApplyResponse {
                state: req.planned,
                private: Some(private_of(&applied)),
                diagnostics: vec![],
            },
            Err(d) => ApplyResponse::new(req.prior, vec![d]),
        }
    }

    fn import(&self, id: &str, ctx: &Context) -> Result<Value, Vec<Diagnostic>> {
        let Some((pool, owner)) = id
            .trim()
            .split_once('/')
            .filter(|(p, o)| !p.is_empty() && !o.is_empty())
        else {
            return Err(vec![Diagnostic::error("Invalid import ID", format!("{id:?} is not pool/owner. Import ipam_shared_allocations as the pool's name and the owner, joined by \"/\": corp/team-a."))]);
        };
        let (store, _) = store_of(ctx, "ipam_shared_allocations").map_err(|d| vec![d])?;
        match call(ctx, pool, async { store.owner_blocks(pool, owner).await })
            .map_err(|d| vec![d])?
        {
            None => Err(vec![store_diag(StoreError::NoPool(pool.to_string()), pool)]),
            Some(blocks) => Ok(state_of_blocks(pool, owner, &blocks, &Value::Null)),
        }
    }
}
