//! What every resource and the functions share: the facts of one allocation entry
//! (attributes and values), reading numbers and CIDRs out of values, and allocator
//! errors as diagnostics with attribute paths.

use std::collections::BTreeMap;

use ipnet::IpNet;

use crate::alloc::{AllocError, Facts};
use crate::tfplugin::schema::{Attribute, Mode};
use crate::tfplugin::{AttrPath, Diagnostic, Type, Value};

/// A plan handed to apply with values still unknown: Terraform never does this, so
/// only a bug can ([`Diagnostic::provider_bug`]'s summary and what went wrong).
pub const UNKNOWN_AT_APPLY: (&str, &str) = (
    "unknown values at apply",
    "was asked to apply a plan with values still unknown",
);

/// Computed facts every placed entry carries, also on `ipam_allocation`.
pub const FACTS: &[(&str, &str)] = &[
    ("network_address", "Network (first) address of the block."),
    (
        "netmask",
        "Dotted netmask of the block (IPv4 only; null for IPv6).",
    ),
    ("first_address", "First address of the block."),
    (
        "last_address",
        "Last address of the block (the broadcast address in IPv4).",
    ),
    (
        "address_count",
        "Number of addresses in the block, as a string (IPv6 counts exceed 64 bits).",
    ),
];

/// The attributes of one entry of `ipam_pool.allocations`.
pub fn entry_attributes() -> Vec<Attribute> {
    let mut attrs = vec![
        Attribute::new(
            "prefix_length",
            Type::Number,
            Mode::OptionalComputed,
            "Prefix length of the block to allocate; defaults to the pool's `default_prefix_length`, or to the pinned `cidr`'s length.",
        ),
        Attribute::new(
            "cidr",
            Type::String,
            Mode::OptionalComputed,
            "The allocated block. Set it to pin an existing block (brownfield); otherwise the allocator places it and it is known at plan.",
        ),
        Attribute::new("description", Type::String, Mode::Optional, "Free text kept with the allocation."),
        Attribute::new(
            "grow_to",
            Type::Number,
            Mode::Optional,
            "Prefix length this allocation may later grow to in place: it starts a free block of that size, the rest of which is held for it alone, so a later `prefix_length` down to `grow_to` never moves it. Not with a pinned `cidr`.",
        ),
        Attribute::new(
            "growth_cidr",
            Type::String,
            Mode::Computed,
            "The block held for this allocation's growth (`grow_to`), which it starts; null without `grow_to`, or when the block around an existing allocation is not free.",
        ),
        Attribute::new("name", Type::String, Mode::Computed, "The allocation's key in `allocations`."),
        Attribute::new("pool_id", Type::String, Mode::Computed, "The `id` of the pool the allocation belongs to."),
    ];
    attrs.extend(
        FACTS
            .iter()
            .map(|(n, d)| Attribute::new(n, Type::String, Mode::Computed, d)),
    );
    attrs
}

/// The members of one request in `requests`: the members of an entry a configuration
/// sets, all optional.
pub fn request_members() -> Vec<Attribute> {
    entry_attributes()
        .into_iter()
        .filter(|a| a.mode != Mode::Computed)
        .map(|a| Attribute {
            mode: Mode::Optional,
            ..a
        })
        .collect()
}

/// The description of `requests` (`ipam_pool` and `ipam_shared_allocations`).
pub const REQUESTS_DOC: &str = "The allocations to make, keyed by a stable name: each a prefix length (`{ web = 24 }`), a CIDR to pin (`{ legacy = \"10.0.250.0/24\" }`), or an object of `prefix_length` or `cidr` with `description` and `grow_to` (`{ web = { prefix_length = 24, grow_to = 22 } }`). Any map or object of these will do; the provider checks them (Terraform does not, as the type is dynamic, which keeps large pools fast). Each is placed at plan, in `allocations`.";

/// The description of `allocations`.
pub const ALLOCATIONS_DOC: &str = "The allocations, keyed by the names in `requests`: each request with its block and facts, known at plan. Setting `allocations` itself instead of `requests` (with the same members), as earlier releases did, still works, but Terraform's time for it grows with the square of the entries: write `requests` for large pools.";

/// The object type of one pool entry, as `ipam_allocation.entry` takes it.
pub fn entry_type() -> Type {
    Type::Object(
        entry_attributes()
            .into_iter()
            .map(|a| (a.name.clone(), a.value_type()))
            .collect(),
    )
}

/// The fact values of a block (keys of [`FACTS`] plus `cidr` and `prefix_length`).
pub fn facts_values(net: &IpNet) -> BTreeMap<String, Value> {
    let f = Facts::of(net);
    let mut m = BTreeMap::new();
    m.insert("cidr".into(), Value::str(net.to_string()));
    m.insert("prefix_length".into(), Value::int(f.prefix_length));
    m.insert(
        "network_address".into(),
        Value::str(f.network_address.to_string()),
    );
    m.insert(
        "netmask".into(),
        f.netmask
            .map(|n| Value::str(n.to_string()))
            .unwrap_or(Value::Null),
    );
    m.insert(
        "first_address".into(),
        Value::str(f.first_address.to_string()),
    );
    m.insert(
        "last_address".into(),
        Value::str(f.last_address.to_string()),
    );
    m.insert(
        "address_count".into(),
        Value::str(f.address_count.to_string()),
    );
    m
}

/// The fact attributes (and `cidr`, `prefix_length`) set to unknown.
pub fn unknown_facts() -> BTreeMap<String, Value> {
    let mut m: BTreeMap<String, Value> = FACTS
        .iter()
        .map(|(n, _)| (n.to_string(), Value::Unknown))
        .collect();
    m.insert("cidr".into(), Value::Unknown);
    m.insert("prefix_length".into(), Value::Unknown);
    m
}

/// Reads a prefix length: a whole number from 0 to 128 (the family check comes later).
pub fn prefix_of(v: &Value, path: AttrPath) -> Result<Option<u8>, Diagnostic> {
    match v {
        Value::Null | Value::Unknown => Ok(None),
        Value::Number(n) if n.to_i64().is_some_and(|i| (0..=128).contains(&i)) => {
            Ok(n.to_i64().and_then(|i| u8::try_from(i).ok()))
        }
        other => Err(Diagnostic::error(
            "Invalid prefix length",
            format!(
                "{} must be a whole number from 0 to 32 (IPv4) or 128 (IPv6); got {}.",
                path,
                show(other)
            ),
        )
        .at(path)),
    }
}

pub fn show(v: &Value) -> String {
    match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("{s:?}"),
        Value::Null => "null".into(),
        Value::Unknown => "(known after apply)".into(),
        other => format!("{other:?}"),
    }
}

/// An allocator error as a diagnostic, at the attribute it is about.
pub fn alloc_diag(e: &AllocError) -> Diagnostic {
    let alloc = |name: &str| AttrPath::attr("allocations").key(name);
    let (summary, hint, path) = match e {
        AllocError::Malformed { .. } => ("Invalid CIDR block", "Write an address and a prefix length.", None),
        AllocError::HostBitsSet { .. } => ("CIDR block has host bits set", "Use the network address the message suggests.", None),
        AllocError::MixedFamilies { .. } => ("Mixed IP families", "Use one pool per IP family.", Some(AttrPath::attr("cidrs"))),
        AllocError::EmptyPool => ("Empty pool", "", Some(AttrPath::attr("cidrs"))),
        AllocError::PoolOverlap { .. } => ("Overlapping pool CIDRs", "Remove the smaller block or merge them.", Some(AttrPath::attr("cidrs"))),
        AllocError::ReservedOutsidePool { .. } => (
            "Reserved range outside the pool",
            "Reserve only ranges inside cidrs, or add the range's block to cidrs.",
            Some(AttrPath::attr("reserved")),
        ),
        AllocError::InvalidRules { rule, .. } => ("Invalid allocation rules", "", Some(AttrPath::attr(rule))),
        AllocError::PrefixOutOfRules { name, .. } => (
            "Prefix length outside the pool's rules",
            "Ask for a size within the rules, or change min_prefix_length / max_prefix_length.",
            Some(alloc(name).then("prefix_length")),
        ),
        AllocError::LargerThanPool { name, growth, .. } => (
            "Allocation larger than the pool",
            "Ask for a longer prefix length, or add a larger block to cidrs.",
            Some(alloc(name).then(if *growth { "grow_to" } else { "prefix_length" })),
        ),
        AllocError::GrowToBelowPrefix { name, .. } => (
            "grow_to smaller than the allocation",
            "grow_to is the prefix length the allocation may grow to: make it shorter than or equal to prefix_length.",
            Some(alloc(name).then("grow_to")),
        ),
        AllocError::NoPrefix { name } => (
            "Missing prefix length",
            "Set prefix_length or cidr on the allocation, or default_prefix_length on the pool.",
            Some(alloc(name)),
        ),
        AllocError::PinOutsidePool { name, .. } | AllocError::PinInReserved { name, .. } | AllocError::PinOverlap { name, .. } => (
            "Pinned CIDR conflict",
            "Pin a block that is inside the pool, outside reserved ranges and free, or remove the pin.",
            Some(alloc(name).then("cidr")),
        ),
        AllocError::Exhausted { name, .. } => (
            "Pool exhausted",
            "Ask for a smaller block, free space by removing allocations, or add a block to cidrs.",
            Some(alloc(name)),
        ),
        AllocError::CidrRemovedInUse { .. } => (
            "Pool CIDR still in use",
            "Remove or move those allocations first, or keep the block in cidrs.",
            Some(AttrPath::attr("cidrs")),
        ),
    };
    let detail = if hint.is_empty() {
        format!("{e}.")
    } else {
        format!("{e}. {hint}")
    };
    let d = Diagnostic::error(summary, detail);
    match path {
        Some(p) => d.at(p),
        None => d,
    }
}

/// A new pool ID: 16 hex digits from the process's random hasher keys and the clock.
/// Generated once, at apply (create) or import, and kept in state.
pub fn new_pool_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    h.write_u128(nanos);
    h.write_u32(std::process::id());
    format!("pool-{:016x}", h.finish())
}
