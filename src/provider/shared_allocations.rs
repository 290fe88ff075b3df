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
//! out of band are restored at the same blocks. Where each name starts from is
//! [`placement::merge`]'s contract.
//!
//! An owner belongs to one state: `claim` (computed) is the state's hold on the owner,
//! checked by the store before every write; import moves it.

use std::collections::BTreeMap;

use ipnet::IpNet;

use super::common::UNKNOWN_AT_APPLY;
use super::common::{
    alloc_diag, entry_attributes, facts_values, request_members, unknown_facts, ALLOCATIONS_DOC,
    REQUESTS_DOC,
};
use super::config::{run, store_diag, store_of};
use super::ledger::{self, ledger_of};
use super::placement::{self, request_key, Held, Refusal};
use super::shared_pool::{pool_of_def, settings_of};
use super::shared_state::{
    create_claim, id_of, origin, private_holder, private_ledger, private_successor_of,
    private_with, read_holders, request_json, state_of_blocks, Holder,
};
use crate::alloc::{Outcome, Prior, Request};
use crate::store::{passed_on, Block, Claim, StoreError};
use crate::tfplugin::schema::{Attribute, Mode, Schema};
use crate::tfplugin::{
    ApplyRequest, ApplyResponse, AttrPath, Context, Diagnostic, PlanRequest, PlanResponse,
    ReadRequest, ReadResponse, Resource, Type, Value,
};

pub struct SharedAllocationsResource;

/// The claim a resource presents: the one its state holds, none for a state written
/// before claims, or a new one when it is being created.
fn claim_of(prior: &Value) -> Claim {
    if prior.is_null() {
        return Claim::New { origin: origin() };
    }
    match prior.get("claim").as_str() {
        Some(c) => Claim::Held(c.to_string()),
        None => Claim::Unclaimed,
    }
}

/// The holder an existing instance's state names, for its private state.
fn holder_of_state(state: &Value) -> Option<Holder> {
    let (pool, owner) = names(state)?;
    Some(Holder {
        pool,
        owner,
        claim: state.get("claim").as_str()?.to_string(),
    })
}

/// Runs a store call for a pool; a stop or an error becomes a diagnostic. Errors about
/// the owner point at `owner`.
fn call<T>(
    ctx: &Context,
    fut: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<T, Diagnostic> {
    let mut err = None;
    let r = run(
        ctx,
        async {
            fut.await.map_err(|e| {
                err = Some(matches!(
                    e,
                    StoreError::OwnerExists { .. } | StoreError::OwnerMoved { .. }
                ));
                e
            })
        },
        "Shared ledger error",
    );
    r.map_err(|d| match err {
        Some(true) => d.at(AttrPath::attr("owner")),
        Some(false) if d.summary == "Shared pool does not exist" => d.at(AttrPath::attr("pool")),
        _ => d,
    })
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
        if o.trim().is_empty() || o.contains('/') {
            d.push(Diagnostic::error("Invalid owner", format!("owner {o:?} must be a non-empty name for this state's slice of the pool, such as \"team-a\", with no \"/\" (import IDs and the data source's keys are pool/owner and owner/name).")).at(AttrPath::attr("owner")));
        }
    }
    d
}

impl SharedAllocationsResource {
    /// The planned value: arguments as configured, entries with facts from `out`.
    fn planned(config: &Value, id: &Value, claim: Value, out: Option<&Outcome>) -> Value {
        let mut obj = BTreeMap::new();
        obj.insert("id".into(), id.clone());
        obj.insert("pool".into(), config.get("pool").clone());
        obj.insert("owner".into(), config.get("owner").clone());
        obj.insert("claim".into(), claim);
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

fn refusal_diag(r: &Refusal, pool: &str) -> Diagnostic {
    match r {
        Refusal::Lost { name, net, other } => Diagnostic::error(
            "Block taken by another owner",
            format!("Allocation {name:?} had {net}, which is missing from the shared ledger and now overlaps {:?} ({}) of owner {:?}. Restoring it there is impossible: coordinate with that owner, or remove {name:?} and add it under a new name to get a new block.", other.name, other.cidr, other.owner),
        )
        .at(AttrPath::attr("allocations").key(name)),
        Refusal::PinTaken { name, net, other } => Diagnostic::error(
            "Pinned block taken by another owner",
            format!("Allocation {name:?} pins {net}, which overlaps {:?} ({}) of owner {:?} in pool {pool:?}. Pin a free block or ask for a prefix_length.", other.name, other.span, other.owner),
        )
        .at(AttrPath::attr("allocations").key(name).then("cidr")),
    }
}

/// The plan of one owner: its allocations placed in the shared ledger and reserved.
fn plan(req: &PlanRequest, ctx: &Context) -> PlanResponse {
    if req.proposed.is_null() {
        return PlanResponse::default();
    }
    let mut diagnostics = check_names(&req.config);
    let (requests, _) = ledger::read_requests(&req.config, &mut diagnostics);
    if !diagnostics.is_empty() {
        return PlanResponse::errors(diagnostics);
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
        return PlanResponse::planned(SharedAllocationsResource::planned(
            &req.config,
            &Value::Unknown,
            Value::Unknown,
            None,
        ))
        .replacing(requires_replace);
    };
    let id = Value::str(id_of(&pool, &owner));
    if replacing {
        // Terraform plans the new object again, from scratch, after this.
        return PlanResponse::planned(SharedAllocationsResource::planned(
            &req.config,
            &id,
            Value::Unknown,
            None,
        ))
        .replacing(requires_replace);
    }
    let (store, ttl) = match store_of(ctx, "ipam_shared_allocations") {
        Ok(s) => s,
        Err(d) => return PlanResponse::errors(vec![d]),
    };
    let (claim, successor_of) = if req.prior.is_null() {
        create_claim(private_holder(&req.prior_private), &pool, &owner)
    } else {
        (claim_of(&req.prior), None)
    };
    let held = Held {
        state: ledger_of(&req.prior).0,
        // A create starts from the old instance's ledger only when it replaces the
        // instance of the same owner: a renamed owner's blocks are another owner's.
        last_applied: if req.prior.is_null() && successor_of.is_none() {
            BTreeMap::new()
        } else {
            private_ledger(&req.prior_private)
        },
        owner: &owner,
    };
    let mut outcome: Option<(Outcome, placement::Merged)> = None;
    let descriptions: BTreeMap<String, (Option<String>, serde_json::Value)> =
        ledger::requested(&req.config, &mut Vec::new())
            .unwrap_or_default()
            .iter()
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
        store.plan_owner(
            &pool,
            &owner,
            &claim,
            ttl,
            |snap| -> Result<Vec<Block>, Vec<Diagnostic>> {
                let Some(def) = snap.def.as_ref() else {
                    return Err(vec![store_diag(StoreError::NoPool(pool.clone()), "")]);
                };
                let default_prefix = settings_of(def).0.default_prefix_length;
                let merged = placement::merge(&held, &requests, snap, default_prefix);
                if !merged.refusals.is_empty() {
                    return Err(merged
                        .refusals
                        .iter()
                        .map(|r| refusal_diag(r, &pool))
                        .collect());
                }
                let alloc_pool =
                    pool_of_def(def, &merged.taken).map_err(|e| vec![alloc_diag(&e)])?;
                let prior = Prior {
                    ledger: merged.prior.clone(),
                    held: BTreeMap::new(),
                    cidrs: def.cidrs.clone(),
                };
                let out = alloc_pool
                    .allocate(&prior, &requests)
                    .map_err(|e| vec![alloc_diag(&e)])?;
                let blocks = out
                    .ledger
                    .iter()
                    .map(|(name, cidr)| {
                        let (description, request) = descriptions
                            .get(name)
                            .cloned()
                            .unwrap_or((None, serde_json::Value::Null));
                        Block {
                            owner: owner.clone(),
                            name: name.clone(),
                            cidr: *cidr,
                            span: out.growth.get(name).copied().unwrap_or(*cidr),
                            description,
                            request,
                            key: requests
                                .get(name)
                                .map(|r| request_key(r, default_prefix))
                                .unwrap_or_default(),
                        }
                    })
                    .collect();
                outcome = Some((out, merged));
                Ok(blocks)
            },
        ),
    );
    match placed {
        Err(d) => PlanResponse::errors(vec![d]),
        Ok(p) => match p.placed {
            Err(diagnostics) => PlanResponse::errors(diagnostics),
            Ok(_) => {
                let Some((out, merged)) = outcome else {
                    return PlanResponse::errors(vec![Diagnostic::provider_bug(
                        "ipam_shared_allocations",
                        "no placement",
                        "placed its blocks but kept no outcome",
                    )]);
                };
                let prior = Prior::ledger(merged.prior.clone());
                let mut diagnostics = ledger::outcome_warnings(&prior, &out);
                for (name, room) in &merged.had_room {
                    if !out.growth.contains_key(name) && !out.no_room.contains(name) {
                        if let Some(Request::Growable { .. }) = requests.get(name) {
                            diagnostics.push(Diagnostic::warning(
                                "Growth room lost",
                                format!("Allocation {name:?} held {room} to grow into, which is no longer free in the pool (a reserved range or another owner now covers part of it); it keeps {} with no room held.", out.ledger.get(name).map(|n| n.to_string()).unwrap_or_default()),
                            ).at(AttrPath::attr("allocations").key(name).then("grow_to")));
                        }
                    }
                }
                let claim = match (&claim, p.claim) {
                    (_, Some(c)) => Value::str(c),
                    _ => Value::Unknown,
                };
                let mut resp = PlanResponse::planned(SharedAllocationsResource::planned(
                    &req.config,
                    &id,
                    claim,
                    Some(&out),
                ))
                .with_diagnostics(diagnostics);
                if successor_of.is_some() {
                    // Reaches the old instance's destroy, which then deletes nothing.
                    resp.planned_private = Some(private_with(
                        &private_ledger(&req.prior_private),
                        "successor_of",
                        successor_of.as_ref(),
                    ));
                }
                resp
            }
        },
    }
}

impl Resource for SharedAllocationsResource {
    fn type_name(&self) -> &'static str {
        "ipam_shared_allocations"
    }

    fn schema(&self) -> Schema {
        Schema {
            // 1: `requests` added, `allocations` computed from it (0 states read as is).
            version: 1,
            description: "One owner's slice of a shared pool (`ipam_shared_pool`), from any Terraform state: its allocations are placed at plan, reserved in the shared ledger until apply, and never overlap another owner's. An owner belongs to exactly one state.".into(),
            attributes: vec![
                Attribute::new("id", Type::String, Mode::Computed, "`pool/owner`, which is also the import ID."),
                Attribute::new("pool", Type::String, Mode::Required, "Name of the shared pool. In the configuration that creates the pool, write `ipam_shared_pool.<name>.id` so that the plan waits for it. Changing it replaces the resource."),
                Attribute::new("owner", Type::String, Mode::Required, "This state's name for its slice of the pool (a team, a cluster), with no `/`; unique per pool, and held by one state only: creating an owner that exists is refused, and `terraform import` moves it. Changing it replaces the resource."),
                Attribute::new("claim", Type::String, Mode::Computed, "This state's hold on the owner in the shared ledger (an opaque id, set by create or import). Every write checks it, so a state the owner was imported away from can no longer change it."),
                Attribute::dynamic_map("requests", request_members(), Mode::OptionalComputed, REQUESTS_DOC),
                Attribute::nested_map("allocations", entry_attributes(), Mode::OptionalComputed, ALLOCATIONS_DOC),
            ],
        }
    }

    fn validate(&self, config: &Value) -> Vec<Diagnostic> {
        let mut diags = check_names(config);
        let _ = ledger::read_requests(config, &mut diags);
        ledger::at_requests(ledger::request_attr(config), diags)
    }

    fn read(&self, req: ReadRequest, ctx: &Context) -> ReadResponse {
        let Some((pool, owner)) = names(&req.state) else {
            return ReadResponse::new(req.state, vec![]);
        };
        let claim = claim_of(&req.state);
        let result = store_of(ctx, "ipam_shared_allocations").and_then(|(store, _)| {
            call(ctx, async {
                let s = store.owner_state(&pool, &owner).await?;
                if passed_on(s.row.as_ref(), &claim) {
                    return Ok(None);
                }
                // The same check a write makes: a state the owner moved away from
                // hears it now, before it plans anything.
                crate::store::check_claim(
                    &pool,
                    &owner,
                    s.row.as_ref(),
                    !s.blocks.is_empty(),
                    &claim,
                )?;
                Ok(Some(s))
            })
        });
        match result {
            // This instance was replaced: its claim passed to the instance that
            // replaced it, and it holds nothing (a deposed object Terraform kept).
            Ok(None) => ReadResponse::new(Value::Null, vec![]),
            Ok(Some(s)) => {
                let claim = req.state.get("claim").as_str().map(str::to_string);
                if let (Some(c), Ok(mut read)) = (&claim, read_holders().lock()) {
                    read.insert((pool.clone(), owner.clone()), c.clone());
                }
                ReadResponse::new(
                    state_of_blocks(&pool, &owner, claim.as_deref(), &s.blocks, &req.state),
                    vec![],
                )
            }
            // A missing pool or ledger is an error, never an emptied state: a mistyped
            // URL or a restored backup must not make Terraform forget the owner.
            Err(d) => ReadResponse::new(req.state, vec![d]),
        }
    }

    fn plan(&self, req: PlanRequest, ctx: &Context) -> PlanResponse {
        let attr = ledger::request_attr(&req.config);
        let mut resp = plan(&req, ctx);
        if resp.planned_private.is_none() && !req.prior.is_null() {
            // Every plan of an existing instance names its holder in the private
            // state, which Terraform hands to the create that replaces it.
            resp.planned_private = Some(private_with(
                &private_ledger(&req.prior_private),
                "holder",
                holder_of_state(&req.prior).as_ref(),
            ));
        }
        let requests = ledger::planned_requests(&req.config, &req.prior, &resp.planned);
        if let Value::Object(o) = &mut resp.planned {
            o.insert("requests".into(), requests);
        }
        resp.diagnostics = ledger::at_requests(attr, resp.diagnostics);
        resp
    }
    fn apply(&self, req: ApplyRequest, ctx: &Context) -> ApplyResponse {
        let (store, hold) = match store_of(ctx, "ipam_shared_allocations") {
            Ok(s) => s,
            Err(d) => return ApplyResponse::new(req.prior, vec![d]),
        };
        if req.planned.is_null() {
            let Some((pool, owner)) = names(&req.prior) else {
                return ApplyResponse::new(Value::Null, vec![]);
            };
            let claim = claim_of(&req.prior);
            // The destroy of an instance being replaced (either order): its claim
            // passes to the replacing create, so it deletes nothing.
            if let Some(h) = private_successor_of(&req.planned_private) {
                if h.pool == pool && h.owner == owner && Claim::Held(h.claim) == claim {
                    return ApplyResponse::new(Value::Null, vec![]);
                }
            }
            return match call(ctx, store.delete_owner(&pool, &owner, &claim)) {
                Ok(_) => ApplyResponse::new(Value::Null, vec![]),
                Err(d) => ApplyResponse::new(req.prior, vec![d]),
            };
        }
        if !req.planned.get("allocations").is_wholly_known() || req.planned.get("id").is_unknown() {
            return ApplyResponse::new(
                req.prior,
                vec![Diagnostic::provider_bug(
                    "ipam_shared_allocations",
                    UNKNOWN_AT_APPLY.0,
                    UNKNOWN_AT_APPLY.1,
                )],
            );
        }
        let Some((pool, owner)) = names(&req.planned) else {
            return ApplyResponse::new(req.prior, vec![]);
        };
        let claim = if req.prior.is_null() {
            // The plan's successor_of in the plan walk; in the apply walk Terraform
            // plans the create again without the old instance's private state, and
            // the handover that first plan recorded lets it through.
            create_claim(private_successor_of(&req.planned_private), &pool, &owner).0
        } else {
            claim_of(&req.prior)
        };
        let mut diags = Vec::new();
        let (requests, _) = ledger::read_requests(&req.config, &mut diags);
        let requests = requests.unwrap_or_default();
        let asked = ledger::requested(&req.config, &mut Vec::new()).unwrap_or_default();
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
            let config_entry = asked.get(name).cloned().unwrap_or(Value::Null);
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
                // The planned block's length is the pool default the plan resolved.
                key: requests
                    .get(name)
                    .map(|r| request_key(r, Some(cidr.prefix_len())))
                    .unwrap_or_default(),
            });
        }
        match call(ctx, store.apply_owner(&pool, &owner, &claim, &blocks, hold)) {
            Ok(claim) => {
                let mut state = req.planned;
                if let Value::Object(o) = &mut state {
                    o.insert("claim".into(), Value::str(claim));
                }
                let holder = holder_of_state(&state);
                ApplyResponse {
                    state,
                    private: Some(private_with(&applied, "holder", holder.as_ref())),
                    diagnostics: vec![],
                }
            }
            Err(d) => ApplyResponse::new(req.prior, vec![d]),
        }
    }

    fn import(&self, id: &str, ctx: &Context) -> Result<Value, Vec<Diagnostic>> {
        let Some((pool, owner)) = id
            .trim()
            .split_once('/')
            .filter(|(p, o)| !p.is_empty() && !o.is_empty() && !o.contains('/'))
        else {
            return Err(vec![Diagnostic::error("Invalid import ID", format!("{id:?} is not pool/owner. Import ipam_shared_allocations as the pool's name and the owner, joined by \"/\": corp/team-a."))]);
        };
        let (store, _) = store_of(ctx, "ipam_shared_allocations").map_err(|d| vec![d])?;
        // Import moves the owner here: the state it leaves can no longer write it.
        let (claim, blocks) =
            call(ctx, store.claim_owner(pool, owner, &origin())).map_err(|d| vec![d])?;
        Ok(state_of_blocks(
            pool,
            owner,
            Some(&claim),
            &blocks,
            &Value::Null,
        ))
    }
}
