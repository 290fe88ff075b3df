//! `ipam_pool`: a block of address space and the ledger of every allocation carved
//! from it. The pool owns its ledger: all allocations are declared on the pool, and
//! its plan places them all at once, so every CIDR is known at plan.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use ipnet::IpNet;

use super::common::UNKNOWN_AT_APPLY;
use super::common::{self, alloc_diag, entry_attributes, facts_values, prefix_of, unknown_facts};
use super::hold;
use super::ledger::{self, growable, ledger_of};
use crate::alloc::{
    self, AllocError, Family, Outcome, Pool, Prior, Request, Rules, Strategy, Utilization,
};
use crate::tfplugin::schema::{Attribute, Mode, Schema};
use crate::tfplugin::value::Number;
use crate::tfplugin::{
    ApplyRequest, ApplyResponse, AttrPath, Context, Diagnostic, PlanRequest, PlanResponse,
    ReadRequest, ReadResponse, Resource, Type, Value,
};

pub struct PoolResource;

/// Schema version: 0 was the first slice (`id` and `cidrs` only), 1 the full ledger,
/// 2 the ledger lifecycle (`grow_to`, `release_hold`, `capacity`, decimal `utilization`).
pub const SCHEMA_VERSION: i64 = 2;

pub(super) const FIGURES: &[(&str, &str)] = &[
    ("total_addresses", "Addresses in `cidrs` minus those in `reserved`: the allocatable space, as a string."),
    ("allocated_addresses", "Addresses held by allocations, as a string."),
    (
        "held_addresses",
        "Addresses neither allocated nor free: growth room (`grow_to`) and released blocks on hold, as a string.",
    ),
    ("free_addresses", "Allocatable addresses neither allocated nor held, as a string."),
];

/// The pool-level arguments, as a configuration, a state or an import ID holds them.
const ARGUMENTS: &[&str] = &[
    "cidrs",
    "reserved",
    "min_prefix_length",
    "max_prefix_length",
    "default_prefix_length",
    "strategy",
    "release_hold",
];

/// Computed attributes of the pool besides `id` and the allocations' facts.
pub(super) const COMPUTED: &[&str] = &[
    "total_addresses",
    "allocated_addresses",
    "held_addresses",
    "free_addresses",
    "utilization",
    "largest_free_prefix_length",
    "free_cidrs",
    "capacity",
    "released",
];

/// A pool's arguments as read from a configuration.
struct Args {
    pool: Pool,
    /// Requests by name; `None` when any of them is not yet known.
    requests: Option<BTreeMap<String, Request>>,
    /// `release_hold`, when set.
    hold: Option<Duration>,
}

impl Resource for PoolResource {
    fn type_name(&self) -> &'static str {
        "ipam_pool"
    }

    fn schema(&self) -> Schema {
        let num = |n: &str, d: &str| Attribute::new(n, Type::Number, Mode::Optional, d);
        let computed_str = |n: &str, d: &str| Attribute::new(n, Type::String, Mode::Computed, d);
        let mut attributes = vec![
            Attribute::new("id", Type::String, Mode::Computed, "Unique ID of the pool, generated once at create (or import) and kept."),
            Attribute::new(
                "cidrs",
                Type::list(Type::String),
                Mode::Required,
                "The pool's address space: one or more CIDR blocks of one IP family (`0.0.0.0/0` and `::/0` included). Adding blocks updates in place and moves nothing.",
            ),
            Attribute::new(
                "reserved",
                Type::set(Type::String),
                Mode::Optional,
                "Ranges inside the pool never handed out (gateways, on-premises, legacy): CIDR blocks or single addresses.",
            ),
            num("min_prefix_length", "Shortest prefix length (largest block) an allocation may ask for."),
            num("max_prefix_length", "Longest prefix length (smallest block) an allocation may ask for."),
            num("default_prefix_length", "Prefix length of an allocation that gives neither `prefix_length` nor `cidr`."),
            Attribute::new(
                "strategy",
                Type::String,
                Mode::Optional,
                "Where new blocks go: `best_fit` (default; the tightest free block, lowest address first), `lowest` or `highest`.",
            ),
            Attribute::new(
                "release_hold",
                Type::String,
                Mode::Optional,
                "How long a removed allocation's block stays out of reuse, as a duration such as `\"720h\"` or `\"90m\"`. The block is listed in `released` until then, and re-adding the same name gets it back. Unset, a removed block is free at once; removing this drops every hold.",
            ),
            Attribute::nested_map(
                "allocations",
                entry_attributes(),
                Mode::Optional,
                "The allocations, keyed by a stable name. Each asks for a `prefix_length` or pins a `cidr`; the rest is computed at plan.",
            ),
        ];
        attributes.extend(FIGURES.iter().map(|(n, d)| computed_str(n, d)));
        attributes.extend([
            Attribute::new(
                "utilization",
                Type::Number,
                Mode::Computed,
                "Allocated share of the allocatable space, from 0 to 1, rounded to 6 decimal places.",
            ),
            Attribute::new(
                "largest_free_prefix_length",
                Type::Number,
                Mode::Computed,
                "Prefix length of the largest free block; null when the pool is full.",
            ),
            Attribute::new(
                "free_cidrs",
                Type::list(Type::String),
                Mode::Computed,
                "The free space as the fewest aligned CIDR blocks, lowest address first.",
            ),
            Attribute::new(
                "capacity",
                Type::map(Type::String),
                Mode::Computed,
                "How many more blocks of each prefix length fit in the free space, keyed by prefix length, from the largest free block's to 8 longer, as strings (`capacity[\"24\"] = \"37\"`). Empty when the pool is full.",
            ),
            Attribute::nested_map(
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
            ),
        ]);
        Schema {
            version: SCHEMA_VERSION,
            description: "A pool of IP address space and the ledger of the allocations carved from it, placed at plan time by a deterministic allocator.".into(),
            attributes,
        }
    }

    fn validate(&self, config: &Value) -> Vec<Diagnostic> {
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
        let (state, diagnostics) = self.refresh(req.state);
        ReadResponse {
            state,
            diagnostics,
            private: None,
        }
    }

    fn plan(&self, req: PlanRequest, _: &Context) -> PlanResponse {
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
                let released = released_value(&outcome.held, &req.prior);
                let planned = known_plan(&req.config, &id, &outcome, released);
                PlanResponse::planned(planned).with_diagnostics(diagnostics)
            }
        }
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
        let hold = state
            .get("release_hold")
            .and_then(|h| h.as_str())
            .and_then(|h| hold::parse_duration(h).ok());
        if let (Some(hold), Some(Value::Map(released))) = (hold, state.get_mut("released")) {
            let (at, until) = hold::stamps(SystemTime::now(), hold);
            for entry in released.values_mut() {
                if let Value::Object(o) = entry {
                    if o.get("released_at").is_some_and(Value::is_unknown) {
                        o.insert("released_at".into(), Value::str(at.clone()));
                        o.insert("hold_until".into(), Value::str(until.clone()));
                    }
                }
            }
        }
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
        let mut obj: BTreeMap<String, Value> = BTreeMap::new();
        // name -> (cidr, description)
        let mut allocations: BTreeMap<String, (String, Option<String>)> = BTreeMap::new();
        if trimmed.starts_with('{') {
            let j: serde_json::Value = serde_json::from_str(trimmed)
                .map_err(|e| bad(format!("The ID is not valid JSON: {e}")))?;
            let ty = self.schema().value_type();
            for &key in ARGUMENTS {
                if let (Some(v), Type::Object(attrs)) = (j.get(key), &ty) {
                    let v = crate::tfplugin::value::convert_json(v, &attrs[key], key)
                        .map_err(|e| bad(e.to_string()))?;
                    obj.insert(key.into(), v);
                }
            }
            if let Some(a) = j.get("allocations") {
                let m = a
                    .as_object()
                    .ok_or_else(|| bad("\"allocations\" must map names to CIDRs".into()))?;
                for (k, v) in m {
                    let entry = match v {
                        serde_json::Value::String(c) => Some((c.clone(), None)),
                        serde_json::Value::Object(o) => {
                            o.get("cidr").and_then(|c| c.as_str()).map(|c| {
                                (
                                    c.to_string(),
                                    o.get("description")
                                        .and_then(|d| d.as_str())
                                        .map(str::to_string),
                                )
                            })
                        }
                        _ => None,
                    };
                    let entry = entry.ok_or_else(|| bad(format!("allocation {k:?} must be a CIDR string or {{\"cidr\": ..., \"description\": ...}}")))?;
                    allocations.insert(k.clone(), entry);
                }
            }
        } else {
            let cidrs = trimmed.split(',').map(|c| Value::str(c.trim())).collect();
            obj.insert("cidrs".into(), Value::List(cidrs));
        }
        let mut config = Value::Object(obj.clone());
        let args =
            read_args(&config)?.ok_or_else(|| bad("The pool in the ID is incomplete".into()))?;
        let mut requests = BTreeMap::new();
        for (name, (cidr, _)) in &allocations {
            let net = alloc::parse_cidr(cidr).map_err(|e| vec![alloc_diag(&e)])?;
            requests.insert(name.clone(), Request::Pinned(net));
        }
        let outcome = args
            .pool
            .allocate(&Prior::default(), &requests)
            .map_err(|e| vec![alloc_diag(&e)])?;
        if !allocations.is_empty() {
            let entries = allocations
                .iter()
                .map(|(k, (c, d))| {
                    let desc = d.clone().map(Value::str).unwrap_or(Value::Null);
                    (
                        k.clone(),
                        Value::Object(
                            [
                                ("cidr".to_string(), Value::str(c.clone())),
                                ("description".to_string(), desc),
                            ]
                            .into(),
                        ),
                    )
                })
                .collect();
            obj.insert("allocations".into(), Value::Map(entries));
            config = Value::Object(obj);
        }
        let id = Value::str(common::new_pool_id());
        Ok(known_plan(
            &config,
            &id,
            &outcome,
            Value::Map(BTreeMap::new()),
        ))
    }
}

impl PoolResource {
    fn refresh(&self, state: Value) -> (Value, Vec<Diagnostic>) {
        if state.is_null() {
            return (state, vec![]);
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
        (expire_holds(state, SystemTime::now()), warnings)
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

/// The released blocks on hold in a state, by name.
fn held_of(state: &Value) -> BTreeMap<String, IpNet> {
    state
        .get("released")
        .entries()
        .into_iter()
        .flatten()
        .filter_map(|(name, e)| Some((name.clone(), e.get("cidr").as_str()?.parse().ok()?)))
        .collect()
}

/// What the allocator needs of the prior state. With a hold, the blocks of entries
/// removed from the configuration join the released ones on hold; without one,
/// nothing is held.
fn prior_of(state: &Value, requests: &BTreeMap<String, Request>, holding: bool) -> Prior {
    let (ledger, _) = ledger_of(state);
    let mut held = BTreeMap::new();
    if holding {
        held = held_of(state);
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

/// The planned `released` map: each block still on hold, with the stamps it had in the
/// prior state, or unknown stamps (set at apply) for a block released by this plan.
fn released_value(held: &BTreeMap<String, IpNet>, prior: &Value) -> Value {
    let before = prior.get("released");
    Value::Map(
        held.iter()
            .map(|(name, net)| {
                let old = before.get(name);
                let same = old.get("cidr").as_str() == Some(net.to_string().as_str());
                let stamp = |k: &str| {
                    if same {
                        old.get(k).clone()
                    } else {
                        Value::Unknown
                    }
                };
                let entry = [
                    ("cidr".to_string(), Value::str(net.to_string())),
                    ("released_at".to_string(), stamp("released_at")),
                    ("hold_until".to_string(), stamp("hold_until")),
                ];
                (name.clone(), Value::Object(entry.into()))
            })
            .collect(),
    )
}

/// Drops the released entries whose hold has ended by `now` (or whose stamp is
/// unreadable) and brings the figures up to date.
fn expire_holds(state: Value, now: SystemTime) -> Value {
    let Value::Object(mut obj) = state else {
        return state;
    };
    let Some(Value::Map(released)) = obj.get_mut("released") else {
        return Value::Object(obj);
    };
    let before = released.len();
    released.retain(|_, e| {
        e.get("hold_until")
            .as_str()
            .and_then(hold::parse_time)
            .is_some_and(|until| until > now)
    });
    let changed = released.len() != before;
    let state = Value::Object(obj);
    if changed {
        refresh_figures(state)
    } else {
        state
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
        held: held_of(&state),
        cidrs: pool.cidrs().to_vec(),
    };
    match pool.allocate(&prior, &requests) {
        Ok(out) if out.ledger == prior.ledger && out.repaired.is_empty() => {
            let released = released_value(&out.held, &state);
            let mut v = with_figures(state, &out.utilization);
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
    let mut diags = Vec::new();
    let mut unknown = false;
    let parts = read_pool_parts(state, &mut diags, &mut unknown);
    if !diags.is_empty() || unknown || parts.cidrs.is_empty() {
        return None;
    }
    Pool::new(&parts.cidrs, &parts.reserved, parts.rules, parts.strategy).ok()
}

/// The pool-level arguments of a configuration or state.
pub(super) struct PoolParts {
    pub cidrs: Vec<IpNet>,
    pub reserved: Vec<IpNet>,
    pub rules: Rules,
    pub strategy: Strategy,
    pub hold: Option<Duration>,
}

pub(super) fn read_pool_parts(
    v: &Value,
    diags: &mut Vec<Diagnostic>,
    unknown: &mut bool,
) -> PoolParts {
    let mut cidrs = Vec::new();
    match v.get("cidrs") {
        Value::Unknown => *unknown = true,
        Value::Null => diags.push(
            Diagnostic::error(
                "Missing cidrs",
                "Give the pool at least one CIDR block in cidrs.",
            )
            .at(AttrPath::attr("cidrs")),
        ),
        list => {
            for (i, c) in list.elements().unwrap_or(&[]).iter().enumerate() {
                let path = AttrPath::attr("cidrs").index(i);
                match c {
                    Value::Unknown => *unknown = true,
                    Value::String(s) => match alloc::parse_cidr(s) {
                        Ok(n) => cidrs.push(n),
                        Err(e) => diags.push(alloc_diag(&e).at(path)),
                    },
                    _ => diags.push(
                        Diagnostic::error("Invalid CIDR block", "A pool CIDR cannot be null.")
                            .at(path),
                    ),
                }
            }
        }
    }
    let mut reserved = Vec::new();
    match v.get("reserved") {
        Value::Unknown => *unknown = true,
        set => {
            for r in set.elements().unwrap_or(&[]) {
                match r {
                    Value::Unknown => *unknown = true,
                    Value::String(s) => match alloc::parse_range(s) {
                        Ok(n) => reserved.push(n),
                        Err(e) => diags.push(alloc_diag(&e).at(AttrPath::attr("reserved"))),
                    },
                    _ => diags.push(
                        Diagnostic::error(
                            "Invalid reserved range",
                            "A reserved range cannot be null.",
                        )
                        .at(AttrPath::attr("reserved")),
                    ),
                }
            }
        }
    }
    let mut rule = |name: &str| -> Option<u8> {
        let val = v.get(name);
        *unknown |= val.is_unknown();
        prefix_of(val, AttrPath::attr(name))
            .map_err(|d| diags.push(d))
            .ok()
            .flatten()
    };
    let rules = Rules {
        min_prefix_length: rule("min_prefix_length"),
        max_prefix_length: rule("max_prefix_length"),
        default_prefix_length: rule("default_prefix_length"),
    };
    let strategy = match v.get("strategy") {
        Value::Unknown => {
            *unknown = true;
            Strategy::default()
        }
        Value::String(s) => s.parse().unwrap_or_else(|_| {
            diags.push(
                Diagnostic::error(
                    "Invalid strategy",
                    format!("strategy is {s:?}; use \"best_fit\", \"lowest\" or \"highest\"."),
                )
                .at(AttrPath::attr("strategy")),
            );
            Strategy::default()
        }),
        _ => Strategy::default(),
    };
    let hold = match v.get("release_hold") {
        Value::Unknown => {
            *unknown = true;
            None
        }
        Value::String(s) => hold::parse_duration(s)
            .map_err(|e| {
                diags.push(
                    Diagnostic::error("Invalid release_hold", format!("release_hold: {e}."))
                        .at(AttrPath::attr("release_hold")),
                )
            })
            .ok(),
        _ => None,
    };
    PoolParts {
        cidrs,
        reserved,
        rules,
        strategy,
        hold,
    }
}

/// Reads the pool's arguments from a configuration. `Ok(None)` when the pool itself
/// is not yet known.
fn read_args(v: &Value) -> Result<Option<Args>, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    let mut unknown = false;
    let PoolParts {
        cidrs,
        reserved,
        rules,
        strategy,
        hold,
    } = read_pool_parts(v, &mut diags, &mut unknown);

    // Requests: read even when the pool is unknown, to report bad input early.
    let (requests, pins) = ledger::read_requests(v, &mut diags);
    if !diags.is_empty() {
        return Err(diags);
    }
    if unknown {
        return Ok(None);
    }
    if cidrs.is_empty() {
        return Err(vec![alloc_diag(&AllocError::EmptyPool)]);
    }
    // Point family mismatches at the exact attribute.
    let family = Family::of(&cidrs[0]);
    for (i, c) in cidrs.iter().enumerate() {
        if Family::of(c) != family {
            let e = AllocError::MixedFamilies {
                family,
                other: *c,
                other_family: Family::of(c),
            };
            diags.push(alloc_diag(&e).at(AttrPath::attr("cidrs").index(i)));
        }
    }
    for r in &reserved {
        if Family::of(r) != family {
            let e = AllocError::MixedFamilies {
                family,
                other: *r,
                other_family: Family::of(r),
            };
            diags.push(alloc_diag(&e).at(AttrPath::attr("reserved")));
        }
    }
    ledger::check_pin_families(family, &pins, &mut diags);
    if !diags.is_empty() {
        return Err(diags);
    }
    let pool = Pool::new(&cidrs, &reserved, rules, strategy).map_err(|e| vec![alloc_diag(&e)])?;
    Ok(Some(Args {
        pool,
        requests,
        hold,
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
    let Value::Object(mut obj) = with_figures(obj, &out.utilization) else {
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
    for k in COMPUTED {
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
    for k in ARGUMENTS {
        obj.insert(k.to_string(), config.get(k).clone());
    }
    obj
}

/// Sets the utilization figures. Every number is one Terraform stores exactly: whole
/// numbers, and `utilization` as decimal text (see [`Number`]).
pub(super) fn with_figures(v: Value, u: &Utilization) -> Value {
    let Value::Object(mut obj) = v else { return v };
    obj.insert("total_addresses".into(), Value::str(u.total.to_string()));
    obj.insert(
        "allocated_addresses".into(),
        Value::str(u.allocated.to_string()),
    );
    obj.insert("held_addresses".into(), Value::str(u.held.to_string()));
    obj.insert("free_addresses".into(), Value::str(u.free.to_string()));
    let ratio = u.ratio_text();
    obj.insert(
        "utilization".into(),
        Value::Number(Number::parse(&ratio).unwrap_or(Number::Decimal(ratio))),
    );
    obj.insert(
        "largest_free_prefix_length".into(),
        u.largest_free_prefix_length
            .map(Value::int)
            .unwrap_or(Value::Null),
    );
    obj.insert(
        "free_cidrs".into(),
        Value::List(
            u.free_cidrs
                .iter()
                .map(|c| Value::str(c.to_string()))
                .collect(),
        ),
    );
    obj.insert(
        "capacity".into(),
        Value::Map(
            u.capacity
                .iter()
                .map(|(len, n)| (len.to_string(), Value::str(n.to_string())))
                .collect(),
        ),
    );
    Value::Object(obj)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tfplugin::value::{from_json, terraform_state_text, to_msgpack};

    fn config(body: &str) -> Value {
        let ty = PoolResource.schema().value_type();
        crate::tfplugin::value::convert_json(&serde_json::from_str(body).unwrap(), &ty, "").unwrap()
    }

    /// Plans and applies `body` on top of `prior`; returns the new state.
    fn apply(prior: &Value, body: &str) -> Value {
        let config = config(body);
        let plan = PoolResource.plan(
            PlanRequest {
                prior: prior.clone(),
                proposed: config.clone(),
                config: config.clone(),
                prior_private: vec![],
            },
            &Context::unconfigured(),
        );
        assert!(
            plan.diagnostics
                .iter()
                .all(|d| d.severity != crate::tfplugin::Severity::Error),
            "{:?}",
            plan.diagnostics
        );
        let applied = PoolResource.apply(
            ApplyRequest {
                prior: prior.clone(),
                planned: plan.planned,
                config,
                planned_private: vec![],
            },
            &Context::unconfigured(),
        );
        assert!(applied.diagnostics.is_empty(), "{:?}", applied.diagnostics);
        applied.state
    }

    /// Every computed value of a pool survives Terraform's state round trip: encoded as
    /// msgpack, written by Terraform as JSON state text, read back, it is the same value
    /// and encodes to the same bytes. Pools of both families, the whole IPv6 space,
    /// odd ratios, growth room and released blocks.
    #[test]
    fn every_computed_value_survives_the_state_round_trip() {
        let ty = PoolResource.schema().value_type();
        let cases = [
            r#"{"cidrs": ["10.0.0.0/16"], "reserved": ["10.0.255.0/24"], "allocations": {"a": {"prefix_length": 22}, "b": {"prefix_length": 25}, "c": {"prefix_length": 23, "grow_to": 21}}}"#,
            r#"{"cidrs": ["10.0.0.0/24", "10.9.0.0/25"], "strategy": "highest", "allocations": {"x": {"prefix_length": 27}, "y": {"cidr": "10.9.0.0/28"}}}"#,
            r#"{"cidrs": ["::/0"], "allocations": {"site": {"prefix_length": 48}, "odd": {"prefix_length": 3}}}"#,
            r#"{"cidrs": ["fd00::/48"], "allocations": {"v": {"prefix_length": 64, "grow_to": 60}}}"#,
        ];
        for body in cases {
            let state = apply(&Value::Null, body);
            let bytes = to_msgpack(&state, &ty);
            let text = terraform_state_text(&bytes, &ty);
            let back = from_json(text.as_bytes(), &ty).unwrap();
            assert_eq!(back, state, "{body}\n{text}");
            assert_eq!(to_msgpack(&back, &ty), bytes, "{body}");
            // And a plan on that state, with the same configuration, is the same value.
            let cfg = config(body);
            let again = PoolResource.plan(
                PlanRequest {
                    prior: back.clone(),
                    proposed: cfg.clone(),
                    config: cfg,
                    prior_private: vec![],
                },
                &Context::unconfigured(),
            );
            assert_eq!(
                again.planned, back,
                "{body}: the plan after the round trip differs"
            );
        }
    }

    /// Released entries with their stamps survive the round trip too, and a plan inside
    /// the hold is the prior state exactly.
    #[test]
    fn a_state_with_holds_round_trips_and_replans_unchanged() {
        let ty = PoolResource.schema().value_type();
        let with = r#"{"cidrs": ["10.0.0.0/24"], "release_hold": "720h", "allocations": {"a": {"prefix_length": 26}, "b": {"prefix_length": 27}}}"#;
        let without_b = r#"{"cidrs": ["10.0.0.0/24"], "release_hold": "720h", "allocations": {"a": {"prefix_length": 26}}}"#;
        let state = apply(&apply(&Value::Null, with), without_b);
        assert!(
            state
                .get("released")
                .get("b")
                .get("hold_until")
                .as_str()
                .is_some(),
            "{state:?}"
        );
        let back = from_json(
            terraform_state_text(&to_msgpack(&state, &ty), &ty).as_bytes(),
            &ty,
        )
        .unwrap();
        assert_eq!(back, state);
        let cfg = config(without_b);
        let again = PoolResource.plan(
            PlanRequest {
                prior: back.clone(),
                proposed: cfg.clone(),
                config: cfg,
                prior_private: vec![],
            },
            &Context::unconfigured(),
        );
        assert_eq!(again.planned, back);
    }
}
