//! `ipam_pool`: a block of address space and the ledger of every allocation carved
//! from it. The pool owns its ledger: all allocations are declared on the pool, and
//! its plan places them all at once, so every CIDR is known at plan.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use super::common::UNKNOWN_AT_APPLY;
use super::common::{
    self, alloc_diag, entry_attributes, facts_values, prefix_of, request_members, unknown_facts,
    ALLOCATIONS_DOC, REQUESTS_DOC,
};
use super::figures;
use super::hold;
use super::ledger::{self, growable, ledger_of};
use super::pool_args::{argument_attributes, ImportId, PoolArgs, ARGUMENTS};
use crate::alloc::{self, AllocError, Family, Outcome, Pool, Prior, Request};
use crate::tfplugin::schema::{Attribute, Mode, Schema};
use crate::tfplugin::{
    ApplyRequest, ApplyResponse, AttrPath, Context, Diagnostic, PlanRequest, PlanResponse,
    ReadRequest, ReadResponse, Resource, Type, Value,
};

pub struct PoolResource;

/// Schema version: 0 was the first slice (`id` and `cidrs` only), 1 the full ledger,
/// 2 the ledger lifecycle (`grow_to`, `release_hold`, `capacity`, decimal `utilization`).
pub const SCHEMA_VERSION: i64 = 3;

/// The arguments besides the allocations: those of every pool, and `release_hold`.
fn arguments() -> impl Iterator<Item = &'static str> {
    ARGUMENTS.iter().copied().chain(["release_hold"])
}

/// A pool's arguments as read from a configuration.
struct Args {
    pool: Pool,
    /// Requests by name; `None` when any of them is not yet known.
    requests: Option<BTreeMap<String, Request>>,
    /// `release_hold`, when set.
    hold: Option<Duration>,
}

/// The checks of a configuration that need no prior state.
fn validate(config: &Value) -> Vec<Diagnostic> {
    match read_args(config) {
        Err(d) => d,
        Ok(None) => vec![],
        Ok(Some(Args { pool, requests, .. })) => match requests {
            // Exhaustion depends on the prior ledger: the plan reports it.
            Some(r) => match pool.allocate(&Prior::default(), &r) {
                Err(AllocError::Exhausted { .. }) | Ok(_) => vec![],
                Err(e) => vec![alloc_diag(&e)],
            },
            None => vec![],
        },
    }
}

/// The plan of one pool: its allocations placed against the prior ledger.
fn plan(req: &PlanRequest) -> PlanResponse {
    if req.proposed.is_null() {
        return PlanResponse::planned(Value::Null);
    }
    let id = match req.prior.get("id") {
        Value::String(s) => Value::str(s.clone()),
        _ => Value::Unknown,
    };
    let args = match read_args(&req.config) {
        Ok(a) => a,
        Err(diagnostics) => return PlanResponse::errors(diagnostics),
    };
    let (pool, requests, hold) = match args {
        Some(Args {
            pool,
            requests: Some(r),
            hold,
        }) => (pool, r, hold),
        _ => return PlanResponse::planned(unknown_plan(&req.config, &id)),
    };
    let prior = prior_of(&req.prior, &requests, hold.is_some());
    match pool.allocate(&prior, &requests) {
        Err(e) => PlanResponse::errors(vec![alloc_diag(&e)]),
        Ok(outcome) => {
            let diagnostics = ledger::outcome_warnings(&prior, &outcome);
            let released = hold::released_value(&outcome.held, &req.prior);
            let planned = known_plan(&req.config, &id, &outcome, released);
            PlanResponse::planned(planned).with_diagnostics(diagnostics)
        }
    }
}

impl Resource for PoolResource {
    fn type_name(&self) -> &'static str {
        "ipam_pool"
    }

    fn schema(&self) -> Schema {
        let computed_str = |n: &str, d: &str| Attribute::new(n, Type::String, Mode::Computed, d);
        let mut attributes = vec![Attribute::new(
            "id",
            Type::String,
            Mode::Computed,
            "Unique ID of the pool, generated once at create (or import) and kept.",
        )];
        attributes.extend(argument_attributes(false));
        attributes.extend([
            Attribute::new(
                "release_hold",
                Type::String,
                Mode::Optional,
                "How long a removed allocation's block stays out of reuse, as a duration such as `\"720h\"` or `\"90m\"`, at most `\"87600h\"` (ten years). The block is listed in `released` until then, and re-adding the same name gets it back. Unset, a removed block is free at once; removing this drops every hold.",
            ),
            Attribute::dynamic_map("requests", request_members(), Mode::OptionalComputed, REQUESTS_DOC),
            Attribute::nested_map("allocations", entry_attributes(), Mode::OptionalComputed, ALLOCATIONS_DOC),
        ]);
        attributes.extend(figures::attributes(None));
        attributes.push(Attribute::nested_map(
            "released",
            vec![
                computed_str("cidr", "The block on hold."),
                computed_str("released_at", "When the allocation was removed (RFC 3339, UTC); set at apply."),
                computed_str(
                    "hold_until",
                    "When the hold ends (RFC 3339, UTC); the first refresh after it frees the block.",
                ),
            ],
            Mode::Computed,
            "Removed allocations whose blocks are on hold (`release_hold`), keyed by their name.",
        ));
        Schema {
            version: SCHEMA_VERSION,
            description: "A pool of IP address space and the ledger of the allocations carved from it, placed at plan time by a deterministic allocator.".into(),
            attributes,
        }
    }

    fn validate(&self, config: &Value) -> Vec<Diagnostic> {
        ledger::at_requests(ledger::request_attr(config), validate(config))
    }

    fn upgrade(&self, version: i64, state: &serde_json::Value) -> Result<Value, Vec<Diagnostic>> {
        let ty = self.schema().value_type();
        let v = crate::tfplugin::value::convert_json(state, &ty, "")
            .map_err(|e| vec![Diagnostic::error("Unreadable stored state", e.to_string())])?;
        if version >= SCHEMA_VERSION {
            return Ok(v);
        }
        // Older versions lack figures (capacity, held_addresses, released) or hold a
        // float64 utilization: derive them from the stored ledger, as a plan would.
        Ok(refresh_figures(v))
    }

    fn read(&self, req: ReadRequest, _: &Context) -> ReadResponse {
        let state = req.state;
        if state.is_null() {
            return ReadResponse::new(state, vec![]);
        }
        let mut warnings = Vec::new();
        if let Some(pool) = pool_of_state(&state) {
            let (ledger, unreadable) = ledger_of(&state);
            for name in unreadable {
                warnings.push(drift_warning(&name, "has no readable CIDR block"));
            }
            for (name, problem) in pool.check_ledger(&ledger) {
                let held = ledger.get(&name).map(|n| n.to_string()).unwrap_or_default();
                warnings.push(drift_warning(&name, &format!("{problem} ({held})")));
            }
        }
        // Holds expire here, in the refresh, never in a plan.
        let (state, expired) = hold::expire(state, SystemTime::now());
        let state = if expired {
            refresh_figures(state)
        } else {
            state
        };
        ReadResponse::new(state, warnings)
    }

    fn plan(&self, req: PlanRequest, _: &Context) -> PlanResponse {
        let attr = ledger::request_attr(&req.config);
        let mut resp = plan(&req);
        let requests = ledger::planned_requests(&req.config, &req.prior, &resp.planned);
        if let Value::Object(o) = &mut resp.planned {
            o.insert("requests".into(), requests);
        }
        resp.diagnostics = ledger::at_requests(attr, resp.diagnostics);
        resp
    }
    fn apply(&self, req: ApplyRequest, _: &Context) -> ApplyResponse {
        let Value::Object(mut state) = req.planned else {
            return ApplyResponse::new(Value::Null, vec![]);
        };
        if !matches!(state.get("id"), Some(Value::String(_))) {
            let id = Value::str(common::new_pool_id());
            if let Some(Value::Map(entries)) = state.get_mut("allocations") {
                for e in entries.values_mut() {
                    if let Value::Object(o) = e {
                        o.insert("pool_id".into(), id.clone());
                    }
                }
            }
            state.insert("id".into(), id);
        }
        // Blocks released by this apply get their stamps now (unknown in the plan).
        hold::stamp_released(&mut state, SystemTime::now());
        let state = Value::Object(state);
        if !state.is_wholly_known() {
            return ApplyResponse::new(
                req.prior,
                vec![Diagnostic::provider_bug(
                    "ipam_pool",
                    UNKNOWN_AT_APPLY.0,
                    UNKNOWN_AT_APPLY.1,
                )],
            );
        }
        ApplyResponse::new(state, vec![])
    }

    fn import(&self, id: &str, _: &Context) -> Result<Value, Vec<Diagnostic>> {
        let bad = |detail: String| {
            vec![Diagnostic::error(
                "Invalid import ID",
                format!(
                    "{detail}. Import a pool as a comma-separated list of its CIDR blocks (10.0.0.0/16,10.1.0.0/16) or as JSON: {{\"cidrs\": [\"10.0.0.0/16\"], \"reserved\": [\"10.0.0.0/24\"], \"allocations\": {{\"web\": \"10.0.8.0/21\"}}}}."
                ),
            )]
        };
        let trimmed = id.trim();
        let imported: ImportId = if trimmed.starts_with('{') {
            serde_json::from_str(trimmed).map_err(|e| bad(format!("The ID is not a pool: {e}")))?
        } else {
            let cidrs = trimmed.split(',').map(|c| c.trim().into()).collect();
            ImportId {
                arguments: [("cidrs".to_string(), serde_json::Value::Array(cidrs))].into(),
                allocations: BTreeMap::new(),
            }
        };
        let Type::Object(types) = self.schema().value_type() else {
            return Err(bad("The pool's schema is not an object".into()));
        };
        let mut obj: BTreeMap<String, Value> = BTreeMap::new();
        for key in arguments() {
            if let (Some(v), Some(ty)) = (imported.arguments.get(key), types.get(key)) {
                let v = crate::tfplugin::value::convert_json(v, ty, key)
                    .map_err(|e| bad(e.to_string()))?;
                obj.insert(key.into(), v);
            }
        }
        let config = Value::Object(obj.clone());
        let args =
            read_args(&config)?.ok_or_else(|| bad("The pool in the ID is incomplete".into()))?;
        let mut requests = BTreeMap::new();
        for (name, entry) in &imported.allocations {
            let net = alloc::parse_cidr(entry.cidr()).map_err(|e| vec![alloc_diag(&e)])?;
            requests.insert(name.clone(), Request::Pinned(net));
        }
        let outcome = args
            .pool
            .allocate(&Prior::default(), &requests)
            .map_err(|e| vec![alloc_diag(&e)])?;
        if !imported.allocations.is_empty() {
            let entries = imported
                .allocations
                .iter()
                .map(|(k, e)| {
                    let entry = [
                        ("cidr".to_string(), Value::str(e.cidr())),
                        (
                            "description".to_string(),
                            e.description().map(Value::str).unwrap_or(Value::Null),
                        ),
                    ];
                    (k.clone(), Value::Object(entry.into()))
                })
                .collect();
            obj.insert("allocations".into(), Value::Map(entries));
        }
        let id = Value::str(common::new_pool_id());
        let state = known_plan(
            &Value::Object(obj),
            &id,
            &outcome,
            Value::Map(BTreeMap::new()),
        );
        let Value::Object(mut state) = state else {
            return Ok(state);
        };
        let requests = match state.get("allocations").and_then(Value::entries) {
            Some(entries) => ledger::pinned_requests(entries.iter()),
            None => Value::Null,
        };
        state.insert("requests".into(), requests);
        Ok(Value::Object(state))
    }
}

fn drift_warning(name: &str, what: &str) -> Diagnostic {
    Diagnostic::warning(
        "Invalid allocation in state",
        format!("Allocation {name:?} in the stored state {what}. The next plan places it anew and leaves the other allocations where they are."),
    )
    .at(AttrPath::attr("allocations").key(name))
}

fn strings(v: &Value) -> Vec<String> {
    v.elements()
        .unwrap_or(&[])
        .iter()
        .filter_map(|e| e.as_str().map(str::to_string))
        .collect()
}

/// What the allocator needs of the prior state. With a hold, the blocks of entries
/// removed from the configuration join the released ones on hold; without one,
/// nothing is held.
fn prior_of(state: &Value, requests: &BTreeMap<String, Request>, holding: bool) -> Prior {
    let (ledger, _) = ledger_of(state);
    let mut held = BTreeMap::new();
    if holding {
        held = hold::held_of(state);
        held.extend(
            ledger
                .iter()
                .filter(|(name, _)| !requests.contains_key(*name))
                .map(|(n, c)| (n.clone(), *c)),
        );
    }
    let cidrs = strings(state.get("cidrs"))
        .iter()
        .filter_map(|s| s.parse().ok())
        .collect();
    Prior {
        ledger,
        held,
        cidrs,
    }
}

/// Recomputes the computed figures of a stored state from its own ledger and holds,
/// as a plan with the same configuration would. Leaves the state as it is when its
/// ledger is not valid: the next plan repairs and reports that.
fn refresh_figures(state: Value) -> Value {
    let Some(pool) = pool_of_state(&state) else {
        return state;
    };
    let (ledger, unreadable) = ledger_of(&state);
    if !unreadable.is_empty() {
        return state;
    }
    let mut requests = BTreeMap::new();
    for (name, e) in state.get("allocations").entries().into_iter().flatten() {
        let (Ok(prefix), Ok(grow_to)) = (
            prefix_of(e.get("prefix_length"), AttrPath::attr("")),
            prefix_of(e.get("grow_to"), AttrPath::attr("")),
        ) else {
            return state;
        };
        let prefix = prefix.or_else(|| ledger.get(name).map(|n| n.prefix_len()));
        requests.insert(name.clone(), growable(prefix, grow_to));
    }
    let prior = Prior {
        ledger,
        held: hold::held_of(&state),
        cidrs: pool.cidrs().to_vec(),
    };
    match pool.allocate(&prior, &requests) {
        Ok(out) if out.ledger == prior.ledger && out.repaired.is_empty() => {
            let released = hold::released_value(&out.held, &state);
            let mut v = figures::with_figures(state, &out.utilization);
            if let Value::Object(obj) = &mut v {
                obj.insert("released".into(), released);
                if let Some(Value::Map(entries)) = obj.get_mut("allocations") {
                    for (name, e) in entries.iter_mut() {
                        if let Value::Object(o) = e {
                            o.insert("growth_cidr".into(), growth_value(&out, name));
                        }
                    }
                }
            }
            v
        }
        _ => state,
    }
}

/// The pool described by a stored state, ignoring its requests.
fn pool_of_state(state: &Value) -> Option<Pool> {
    PoolArgs::read(state).ok()??.pool().ok()
}

/// Reads the pool's arguments and its requests from a configuration. `Ok(None)` when
/// the pool itself is not yet known.
fn read_args(v: &Value) -> Result<Option<Args>, Vec<Diagnostic>> {
    let args = PoolArgs::read(v);
    // Requests: read even when the pool is unknown, to report bad input early.
    let mut diags = Vec::new();
    let (requests, pins) = ledger::read_requests(v, &mut diags);
    let args = match args {
        Err(mut d) => {
            d.extend(diags);
            return Err(d);
        }
        Ok(_) if !diags.is_empty() => return Err(diags),
        Ok(None) => return Ok(None),
        Ok(Some(a)) => a,
    };
    if let Some(first) = args.cidrs.first() {
        ledger::check_pin_families(Family::of(first), &pins, &mut diags);
    }
    if !diags.is_empty() {
        return Err(diags);
    }
    Ok(Some(Args {
        pool: args.pool()?,
        requests,
        hold: args.hold,
    }))
}

fn growth_value(out: &Outcome, name: &str) -> Value {
    out.growth
        .get(name)
        .map(|g| Value::str(g.to_string()))
        .unwrap_or(Value::Null)
}

/// The planned value when every CIDR is known.
fn known_plan(config: &Value, id: &Value, out: &Outcome, released: Value) -> Value {
    // Every configured name is in the ledger; a missing one would stay unknown, not panic.
    let obj = plan_object(config, id, |name| {
        let mut facts = out
            .ledger
            .get(name)
            .map(facts_values)
            .unwrap_or_else(unknown_facts);
        facts.insert("growth_cidr".into(), growth_value(out, name));
        facts
    });
    let Value::Object(mut obj) = figures::with_figures(obj, &out.utilization) else {
        return Value::Unknown;
    };
    obj.insert("released".into(), released);
    Value::Object(obj)
}

/// The planned value when some argument is not yet known: arguments as configured,
/// everything computed unknown.
fn unknown_plan(config: &Value, id: &Value) -> Value {
    let Value::Object(mut obj) = plan_object(config, id, |_| {
        let mut facts = unknown_facts();
        facts.insert("growth_cidr".into(), Value::Unknown);
        facts
    }) else {
        return Value::Unknown;
    };
    for k in figures::names().chain(["released"]) {
        obj.insert(k.to_string(), Value::Unknown);
    }
    Value::Object(obj)
}

/// The pool's arguments as configured, and each configured allocation with the facts
/// `facts` gives for its name. A member the user set (`cidr`, `prefix_length`) is
/// planned exactly as written, as Terraform requires of optional nested attributes.
fn plan_object(
    config: &Value,
    id: &Value,
    facts: impl Fn(&str) -> BTreeMap<String, Value>,
) -> Value {
    let mut obj = base_object(config, id);
    let allocations = ledger::allocations_value(config, id, facts);
    obj.insert("allocations".into(), allocations);
    Value::Object(obj)
}

fn base_object(config: &Value, id: &Value) -> BTreeMap<String, Value> {
    let mut obj = BTreeMap::new();
    obj.insert("id".into(), id.clone());
    for k in arguments() {
        obj.insert(k.to_string(), config.get(k).clone());
    }
    obj
}

#[cfg(test)]
#[path = "pool_tests.rs"]
mod tests;
