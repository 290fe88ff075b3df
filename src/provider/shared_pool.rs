//! `ipam_shared_pool`: a pool whose ledger lives in PostgreSQL, shared by many
//! Terraform states (each an `ipam_shared_allocations` owner), and who may change what
//! in it (`owner_roles`, `admin_role`: PostgreSQL roles, enforced by row-level
//! security). The data source of the same name is `shared_pool_data.rs`.

use std::collections::BTreeMap;

use ipnet::IpNet;

use super::common::UNKNOWN_AT_APPLY;
use super::config::{run, store_diag, store_of};
use super::figures::{self, with_figures};
use super::pool_args::{argument_attributes, PoolArgs, ARGUMENTS};
use crate::alloc::{self, Pool, Prior, Request, Rules, Strategy, Utilization};
use crate::store::{PoolAccess, PoolDef, Snapshot, StoreError};
use crate::tfplugin::schema::{Attribute, Mode, Schema};
use crate::tfplugin::{
    ApplyRequest, ApplyResponse, AttrPath, Context, Diagnostic, PlanRequest, PlanResponse,
    ReadRequest, ReadResponse, Resource, Type, Value,
};

pub struct SharedPoolResource;

/// How a shared pool's figures count: the ends of their descriptions.
pub(super) const OVER_EVERY_OWNER: &str = "Counted over every owner's allocations.";

/// The arguments of a shared pool beside those of every pool: who may change what.
pub(super) const ACCESS: &[&str] = &["owner_roles", "admin_role"];

/// The attributes of [`ACCESS`]: configurable on the resource, computed on the data
/// source.
pub(super) fn access_attributes(computed: bool) -> Vec<Attribute> {
    let mode = |m: Mode| if computed { Mode::Computed } else { m };
    vec![
        Attribute::new(
            "owner_roles",
            Type::map(Type::String),
            mode(Mode::Optional),
            "Who may allocate: owner name -> PostgreSQL role. When set, only the owners listed may allocate from the pool, and only members of an owner's role may create, change, delete or import that owner's allocations; the database enforces it with row-level security. Unset, the pool trusts every login that can connect.",
        ),
        Attribute::new(
            "admin_role",
            Type::String,
            mode(Mode::OptionalComputed),
            "The PostgreSQL role whose members alone may change this pool (`cidrs`, `reserved`, rules, `owner_roles`, `admin_role`) or destroy it. Defaults to the role that creates the pool.",
        ),
    ]
}

/// Reads `owner_roles` and `admin_role`; `Ok(None)` while one is unknown.
fn access_of(v: &Value) -> Result<Option<PoolAccess>, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    let mut unknown = false;
    let owner_roles = match v.get("owner_roles") {
        Value::Unknown => {
            unknown = true;
            None
        }
        Value::Map(m) => {
            let mut roles = BTreeMap::new();
            for (owner, role) in m {
                let path = AttrPath::attr("owner_roles").key(owner);
                match role {
                    Value::Unknown => unknown = true,
                    Value::String(r) if !r.is_empty() && !owner.is_empty() && !owner.contains('/') => {
                        roles.insert(owner.clone(), r.clone());
                    }
                    _ => diags.push(
                        Diagnostic::error(
                            "Invalid owner_roles",
                            format!("owner_roles maps owner names (non-empty, no \"/\") to PostgreSQL role names; {owner:?} does not. Write owner_roles = {{ team-a = \"team_a\" }}."),
                        )
                        .at(path),
                    ),
                }
            }
            Some(roles)
        }
        _ => None,
    };
    let admin_role = match v.get("admin_role") {
        Value::Unknown => {
            unknown = true;
            None
        }
        Value::String(r) if r.is_empty() => {
            diags.push(
                Diagnostic::error(
                    "Invalid admin_role",
                    "admin_role names a PostgreSQL role; it cannot be empty.",
                )
                .at(AttrPath::attr("admin_role")),
            );
            None
        }
        Value::String(r) => Some(r.clone()),
        _ => None,
    };
    if !diags.is_empty() {
        return Err(diags);
    }
    Ok((!unknown).then_some(PoolAccess {
        owner_roles,
        admin_role,
    }))
}

/// The pool definition of a configuration; `Ok(None)` while a value is unknown.
fn def_of(v: &Value) -> Result<Option<PoolDef>, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    let name = match v.get("name") {
        Value::String(s) if s.is_empty() || s.contains('/') => {
            diags.push(
                Diagnostic::error("Invalid pool name", format!("name {s:?} must be non-empty and contain no \"/\" (import IDs of owners are pool/owner)."))
                    .at(AttrPath::attr("name")),
            );
            None
        }
        Value::String(s) => Some(s.clone()),
        _ => None,
    };
    let access = access_of(v).map_err(|d| diags.extend(d));
    let args = match PoolArgs::read(v) {
        Err(mut d) => {
            d.splice(0..0, diags);
            return Err(d);
        }
        Ok(_) if !diags.is_empty() => return Err(diags),
        Ok(a) => a,
    };
    let (Some(name), Some(args), Ok(Some(access))) = (name, args, access) else {
        return Ok(None);
    };
    args.pool()?;
    Ok(Some(PoolDef {
        name,
        cidrs: args.cidrs,
        reserved: args.reserved,
        settings: settings_json(args.rules, args.strategy),
        access,
    }))
}

/// The prefix rules and strategy as the store keeps them.
pub fn settings_json(rules: Rules, strategy: Strategy) -> serde_json::Value {
    serde_json::json!({
        "min_prefix_length": rules.min_prefix_length,
        "max_prefix_length": rules.max_prefix_length,
        "default_prefix_length": rules.default_prefix_length,
        "strategy": strategy.name(),
    })
}

/// The rules and strategy of a stored pool.
pub fn settings_of(def: &PoolDef) -> (Rules, Strategy) {
    let len = |k: &str| {
        def.settings
            .get(k)
            .and_then(|v| v.as_u64())
            .and_then(|n| u8::try_from(n).ok())
    };
    let rules = Rules {
        min_prefix_length: len("min_prefix_length"),
        max_prefix_length: len("max_prefix_length"),
        default_prefix_length: len("default_prefix_length"),
    };
    let strategy = def
        .settings
        .get("strategy")
        .and_then(|s| s.as_str())
        .and_then(|s| s.parse().ok())
        .unwrap_or_default();
    (rules, strategy)
}

/// The pool of a stored definition, for the allocator.
pub fn pool_of_def(def: &PoolDef, extra_reserved: &[IpNet]) -> Result<Pool, alloc::AllocError> {
    let (rules, strategy) = settings_of(def);
    let mut reserved = def.reserved.clone();
    reserved.extend_from_slice(extra_reserved);
    Pool::new(&def.cidrs, &reserved, rules, strategy)
}

/// Utilization over every owner's allocations (growth room counts as held).
pub fn utilization_of(snap: &Snapshot) -> Option<Utilization> {
    let def = snap.def.as_ref()?;
    let pool = pool_of_def(def, &[]).ok()?;
    let mut ledger = BTreeMap::new();
    let mut requests = BTreeMap::new();
    for b in &snap.allocations {
        let key = format!("{}/{}", b.owner, b.name);
        ledger.insert(key.clone(), b.cidr);
        let prefix = Some(b.cidr.prefix_len());
        let req = if b.span != b.cidr {
            Request::Growable {
                prefix,
                grow_to: b.span.prefix_len(),
            }
        } else {
            Request::Size(prefix)
        };
        requests.insert(key, req);
    }
    let prior = Prior {
        ledger,
        held: BTreeMap::new(),
        cidrs: def.cidrs.clone(),
    };
    pool.allocate(&prior, &requests).ok().map(|o| o.utilization)
}

/// The arguments of a stored pool as values.
pub(super) fn def_values(def: &PoolDef) -> BTreeMap<String, Value> {
    let (rules, strategy) = settings_of(def);
    let strs = |v: &[IpNet]| {
        v.iter()
            .map(|n| Value::str(n.to_string()))
            .collect::<Vec<_>>()
    };
    let len = |l: Option<u8>| l.map(Value::int).unwrap_or(Value::Null);
    let mut m = BTreeMap::new();
    m.insert("cidrs".into(), Value::List(strs(&def.cidrs)));
    m.insert(
        "reserved".into(),
        if def.reserved.is_empty() {
            Value::Null
        } else {
            Value::Set(strs(&def.reserved))
        },
    );
    m.insert("min_prefix_length".into(), len(rules.min_prefix_length));
    m.insert("max_prefix_length".into(), len(rules.max_prefix_length));
    m.insert(
        "default_prefix_length".into(),
        len(rules.default_prefix_length),
    );
    m.insert("strategy".into(), Value::str(strategy.name()));
    m.insert(
        "owner_roles".into(),
        match &def.access.owner_roles {
            Some(roles) => Value::Map(
                roles
                    .iter()
                    .map(|(o, r)| (o.clone(), Value::str(r.clone())))
                    .collect(),
            ),
            None => Value::Null,
        },
    );
    m.insert(
        "admin_role".into(),
        def.access
            .admin_role
            .clone()
            .map(Value::str)
            .unwrap_or(Value::Null),
    );
    m
}

pub(super) fn with_snapshot_figures(v: Value, snap: &Snapshot) -> Value {
    match utilization_of(snap) {
        Some(u) => with_figures(v, &u),
        None => v,
    }
}

impl SharedPoolResource {
    fn state_of(&self, snap: &Snapshot, prior: &Value) -> Value {
        let Some(def) = &snap.def else {
            return Value::Null;
        };
        let mut obj = BTreeMap::new();
        obj.insert("id".into(), Value::str(def.name.clone()));
        obj.insert("name".into(), Value::str(def.name.clone()));
        let stored = def_values(def);
        for k in ARGUMENTS.iter().chain(ACCESS) {
            // Keep the configured spelling when it means the same (null vs default).
            let p = prior.get(k);
            let same = match (k, p) {
                (&"strategy", Value::Null) => stored[*k] == Value::str("best_fit"),
                (&"reserved", Value::Set(s)) if s.is_empty() => stored[*k].is_null(),
                _ => false,
            };
            obj.insert(
                k.to_string(),
                if same { p.clone() } else { stored[*k].clone() },
            );
        }
        with_snapshot_figures(Value::Object(obj), snap)
    }
}

impl Resource for SharedPoolResource {
    fn type_name(&self) -> &'static str {
        "ipam_shared_pool"
    }

    fn schema(&self) -> Schema {
        let mut attributes = vec![
            Attribute::new("id", Type::String, Mode::Computed, "The pool's name, once created in the database; unknown in the plan that creates it, so that `pool = ipam_shared_pool.x.id` waits for it."),
            Attribute::new("name", Type::String, Mode::Required, "Unique name of the pool in the shared ledger; owners refer to it. Changing it replaces the pool."),
        ];
        attributes.extend(argument_attributes(false));
        attributes.extend(access_attributes(false));
        attributes.extend(figures::attributes(Some(OVER_EVERY_OWNER)));
        Schema {
            version: 0,
            description: "A pool of address space whose ledger lives in PostgreSQL (the provider's `database_url`), shared by `ipam_shared_allocations` in any number of Terraform states.".into(),
            attributes,
        }
    }

    fn validate(&self, config: &Value) -> Vec<Diagnostic> {
        def_of(config).err().unwrap_or_default()
    }

    fn read(&self, req: ReadRequest, ctx: &Context) -> ReadResponse {
        if req.state.is_null() {
            return ReadResponse::new(req.state, vec![]);
        }
        let name = req
            .state
            .get("name")
            .as_str()
            .unwrap_or_default()
            .to_string();
        let result = store_of(ctx, "ipam_shared_pool").and_then(|(store, _)| {
            run(
                ctx,
                async { store.snapshot(&name).await },
                "Could not read the shared pool",
            )
        });
        match result {
            Ok(snap) if snap.def.is_none() => ReadResponse::new(req.state, vec![Diagnostic::error(
                    "Shared pool missing from the database",
                    format!("The shared ledger has no pool named {name:?}, though this state manages it. Check database_url (a mistyped URL or a restored backup?). The state keeps the pool; if it was deleted on purpose, forget it with terraform state rm <address>."),
                )]),
            Ok(snap) => ReadResponse::new(self.state_of(&snap, &req.state), vec![]),
            Err(d) => ReadResponse::new(req.state, vec![d]),
        }
    }

    fn plan(&self, req: PlanRequest, ctx: &Context) -> PlanResponse {
        if req.proposed.is_null() {
            return PlanResponse::default();
        }
        let def = match def_of(&req.config) {
            Ok(d) => d,
            Err(diagnostics) => return PlanResponse::errors(diagnostics),
        };
        let replace = !req.prior.is_null() && req.prior.get("name") != req.config.get("name");
        let mut obj = BTreeMap::new();
        obj.insert("name".into(), req.config.get("name").clone());
        for k in ARGUMENTS.iter().chain(["owner_roles"].iter()) {
            obj.insert(k.to_string(), req.config.get(k).clone());
        }
        // Unset, admin_role stays what it is, or is the creating role (known at apply).
        let admin_role = match (req.config.get("admin_role"), replace) {
            (Value::Null, false) if !req.prior.is_null() => req.prior.get("admin_role").clone(),
            (Value::Null, _) => Value::Unknown,
            (set, _) => set.clone(),
        };
        obj.insert("admin_role".into(), admin_role);
        let unchanged = !req.prior.is_null()
            && !replace
            && ARGUMENTS
                .iter()
                .chain(ACCESS)
                .all(|k| req.prior.get(k) == obj.get(*k).unwrap_or(&Value::Null));
        if unchanged {
            // The figures are as the refresh read them.
            return PlanResponse::planned(req.prior);
        }
        obj.insert(
            "id".into(),
            if req.prior.is_null() || replace {
                Value::Unknown
            } else {
                req.prior.get("id").clone()
            },
        );
        // The pool's figures; shared pools hold no released blocks.
        for k in figures::names() {
            obj.insert(k.to_string(), Value::Unknown);
        }
        let planned = Value::Object(obj);
        let mut diagnostics = Vec::new();
        if let Some(def) = def {
            // Fail at plan what apply would refuse: a taken name, or blocks in use.
            match store_of(ctx, "ipam_shared_pool").and_then(|(store, _)| {
                run(
                    ctx,
                    async {
                        match store.snapshot(&def.name).await {
                            // A database never written to: the pool is created with it.
                            Err(StoreError::NoSchema) if req.prior.is_null() => {
                                Ok(Snapshot::default())
                            }
                            other => other,
                        }
                    },
                    "Could not read the shared pool",
                )
            }) {
                Err(d) => diagnostics.push(d),
                Ok(snap) => {
                    if (req.prior.is_null() || replace) && snap.def.is_some() {
                        diagnostics.push(
                            Diagnostic::error("Shared pool already exists", format!("A pool named {:?} already exists in the shared ledger. Import it (terraform import <address> {}) or choose another name.", def.name, def.name))
                                .at(AttrPath::attr("name")),
                        );
                    } else if let (Some(stored), false) = (&snap.def, snap.may_admin) {
                        diagnostics.push(
                            store_diag(
                                StoreError::NotAdmin {
                                    pool: def.name.clone(),
                                    admin_role: stored
                                        .access
                                        .admin_role
                                        .clone()
                                        .unwrap_or_default(),
                                    user: snap.user.clone(),
                                },
                                "",
                            )
                            .at(AttrPath::attr("admin_role")),
                        );
                    } else if snap.def.is_some() {
                        // Every owner's block, its growth room, and every live plan
                        // reservation: none may end up outside the pool or reserved.
                        let live = snap
                            .reservations
                            .iter()
                            .filter(|r| r.live)
                            .map(|r| (&r.block, true));
                        let outside: Vec<String> = snap
                            .allocations
                            .iter()
                            .map(|b| (b, false))
                            .chain(live)
                            .filter(|(b, _)| {
                                !def.cidrs.iter().any(|c| c.contains(&b.span))
                                    || def.reserved.iter().any(|r| {
                                        r.contains(&b.span.network())
                                            || b.span.contains(&r.network())
                                    })
                            })
                            .map(|(b, reservation)| match (reservation, b.span != b.cidr) {
                                (true, _) => format!(
                                    "{}/{} (plan reservation of {})",
                                    b.owner, b.name, b.span
                                ),
                                (false, true) => format!(
                                    "{}/{} ({}, growth room {})",
                                    b.owner, b.name, b.cidr, b.span
                                ),
                                (false, false) => format!("{}/{} ({})", b.owner, b.name, b.cidr),
                            })
                            .collect();
                        if !outside.is_empty() {
                            diagnostics.push(
                                Diagnostic::error("Blocks in use", format!("This change would leave blocks outside the pool's cidrs or inside a reserved range: {}. Release them first (remove them from their owners' ipam_shared_allocations and apply there; a plan reservation ends when its plan is applied or its reservation_ttl passes), or keep the CIDRs that hold them.", outside.join(", ")))
                                    .at(AttrPath::attr("cidrs")),
                            );
                        }
                    }
                }
            }
        }
        PlanResponse::planned(planned)
            .with_diagnostics(diagnostics)
            .replacing(if replace {
                vec![AttrPath::attr("name")]
            } else {
                vec![]
            })
    }

    fn apply(&self, req: ApplyRequest, ctx: &Context) -> ApplyResponse {
        let (store, _) = match store_of(ctx, "ipam_shared_pool") {
            Ok(s) => s,
            Err(d) => return ApplyResponse::new(req.prior, vec![d]),
        };
        if req.planned.is_null() {
            let name = req
                .prior
                .get("name")
                .as_str()
                .unwrap_or_default()
                .to_string();
            return match run(
                ctx,
                async { store.delete_pool(&name).await },
                "Could not destroy the shared pool",
            ) {
                Ok(()) => ApplyResponse::new(Value::Null, vec![]),
                Err(d) => ApplyResponse::new(req.prior, vec![d]),
            };
        }
        let def = match def_of(&req.config) {
            Ok(Some(d)) => d,
            Ok(None) => {
                return ApplyResponse::new(
                    req.prior,
                    vec![Diagnostic::provider_bug(
                        "ipam_shared_pool",
                        UNKNOWN_AT_APPLY.0,
                        UNKNOWN_AT_APPLY.1,
                    )],
                )
            }
            Err(d) => return ApplyResponse::new(req.prior, d),
        };
        let create = req.prior.is_null();
        let result = run(
            ctx,
            async {
                if create {
                    store.create_pool(&def).await
                } else {
                    store.update_pool(&def).await
                }?;
                store.snapshot(&def.name).await
            },
            if create {
                "Could not create the shared pool"
            } else {
                "Could not update the shared pool"
            },
        );
        match result {
            Err(d) => ApplyResponse::new(req.prior, vec![d]),
            Ok(snap) => {
                // Arguments exactly as planned; id and figures as the database has them.
                let Value::Object(mut obj) = req.planned else {
                    return ApplyResponse::default();
                };
                obj.insert("id".into(), Value::str(def.name.clone()));
                // The creating role, when the configuration named none.
                if let Some(role) = snap.def.as_ref().and_then(|d| d.access.admin_role.clone()) {
                    obj.insert("admin_role".into(), Value::str(role));
                }
                let v = with_snapshot_figures(Value::Object(obj), &snap);
                ApplyResponse::new(v, vec![])
            }
        }
    }

    fn import(&self, id: &str, ctx: &Context) -> Result<Value, Vec<Diagnostic>> {
        let (store, _) = store_of(ctx, "ipam_shared_pool").map_err(|d| vec![d])?;
        let name = id.trim().to_string();
        let snap = run(
            ctx,
            async { store.snapshot(&name).await },
            "Could not read the shared pool",
        )
        .map_err(|d| vec![d])?;
        if snap.def.is_none() {
            return Err(vec![Diagnostic::error("No such shared pool", format!("The shared ledger has no pool named {name:?}. Import a shared pool by its name."))]);
        }
        Ok(self.state_of(&snap, &Value::Null))
    }
}
