//! An owner's slice as Terraform keeps it: the `ipam_shared_allocations` state rebuilt
//! from the blocks the store holds, each request as the store keeps it, and the last
//! applied ledger in private state (which [`super::placement::merge`] starts from).

use std::collections::BTreeMap;

use ipnet::IpNet;

use super::common::facts_values;
use super::ledger;
use crate::store::{Block, Claim};
use crate::tfplugin::Value;

pub(super) fn id_of(pool: &str, owner: &str) -> String {
    format!("{pool}/{owner}")
}

/// The last applied ledger, as the private state keeps it.
pub(super) fn private_ledger(private: &[u8]) -> BTreeMap<String, IpNet> {
    serde_json::from_slice::<serde_json::Value>(private)
        .ok()
        .and_then(|j| j.get("ledger").cloned())
        .and_then(|l| serde_json::from_value::<BTreeMap<String, String>>(l).ok())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| Some((k, v.parse().ok()?)))
        .collect()
}

/// The instance that holds an owner, as its private state says: the pool, the owner
/// and the claim. Terraform hands the private state a plan returns for an instance to
/// the create that replaces it, and to nothing else.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(super) struct Holder {
    pub pool: String,
    pub owner: String,
    pub claim: String,
}

fn private_field(private: &[u8], key: &str) -> Option<Holder> {
    serde_json::from_slice::<serde_json::Value>(private)
        .ok()
        .and_then(|j| j.get(key).cloned())
        .and_then(|h| serde_json::from_value(h).ok())
}

/// The holder an instance's private state names (written by apply and by every plan
/// of an existing instance).
pub(super) fn private_holder(private: &[u8]) -> Option<Holder> {
    private_field(private, "holder")
}

/// The holder a replacing create's plan takes over from: Terraform passes it to the
/// old instance's destroy, which then deletes nothing.
pub(super) fn private_successor_of(private: &[u8]) -> Option<Holder> {
    private_field(private, "successor_of")
}

/// The private state: the last applied ledger and, under `key`, a holder.
pub(super) fn private_with(
    ledger: &BTreeMap<String, IpNet>,
    key: &str,
    holder: Option<&Holder>,
) -> Vec<u8> {
    let m: BTreeMap<&String, String> = ledger.iter().map(|(k, v)| (k, v.to_string())).collect();
    let mut j = serde_json::json!({ "ledger": m });
    if let (Some(h), Some(o)) = (holder, j.as_object_mut()) {
        o.insert(key.into(), serde_json::json!(h));
    }
    serde_json::to_vec(&j).unwrap_or_default()
}

/// How the store keeps a request, so that read and import can rebuild the entry.
pub(super) fn request_json(entry: &Value) -> serde_json::Value {
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

pub(super) fn state_of_blocks(
    pool: &str,
    owner: &str,
    claim: Option<&str>,
    blocks: &[Block],
    prior: &Value,
) -> Value {
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
    obj.insert("claim".into(), claim.map(Value::str).unwrap_or(Value::Null));
    let entries: BTreeMap<String, Value> = blocks
        .iter()
        .map(|b| {
            let p = prior_entries.get(&b.name).cloned().unwrap_or(Value::Null);
            (b.name.clone(), entry_of_block(b, &id, &p))
        })
        .collect();
    // The requests are the configuration's, which the ledger does not hold: a read keeps
    // the state's; an import (no prior) writes each block pinned where it is.
    obj.insert(
        "requests".into(),
        if prior.is_null() && !entries.is_empty() {
            ledger::pinned_requests(entries.iter())
        } else {
            prior.get("requests").clone()
        },
    );
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

/// Where this state lives, as the owner's row records it, for messages only: it never
/// lets a create take an existing owner (a second backend or `terraform state rm` in
/// the same directory would). Terraform runs the provider in the working directory;
/// the workspace is read as Terraform writes it.
pub(super) fn origin() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    let dir = std::env::current_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_default();
    let data_dir = std::env::var("TF_DATA_DIR").unwrap_or_else(|_| ".terraform".into());
    let workspace = std::env::var("TF_WORKSPACE")
        .ok()
        .or_else(|| {
            std::fs::read_to_string(std::path::Path::new(&data_dir).join("environment")).ok()
        })
        .map(|w| w.trim().to_string())
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| "default".into());
    format!("{host}:{dir} (workspace {workspace})")
}

/// The instances this process read in this run, by pool and owner: a tainted
/// instance is read (refreshed) before Terraform plans its replacement, and that plan
/// is given no private state of the old instance.
pub(super) fn read_holders() -> &'static std::sync::Mutex<BTreeMap<(String, String), String>> {
    static READ: std::sync::OnceLock<std::sync::Mutex<BTreeMap<(String, String), String>>> =
        std::sync::OnceLock::new();
    READ.get_or_init(Default::default)
}

/// The claim a create presents: the old instance's, when this create replaces it
/// (`-replace`, `replace_triggered_by` and a changed argument hand over the old
/// instance's private state; a taint is known from the old instance's read in this
/// run), else a new one.
///
/// `from_private` is the holder the private state names: the old instance's `holder`
/// at plan, the plan's `successor_of` at apply.
pub(super) fn create_claim(
    from_private: Option<Holder>,
    pool: &str,
    owner: &str,
) -> (Claim, Option<Holder>) {
    let from_private = from_private.filter(|h| h.pool == pool && h.owner == owner);
    let holder = from_private.or_else(|| {
        let read = read_holders().lock().ok()?;
        read.get(&(pool.to_string(), owner.to_string()))
            .map(|c| Holder {
                pool: pool.to_string(),
                owner: owner.to_string(),
                claim: c.clone(),
            })
    });
    match holder {
        Some(h) => (
            Claim::Successor {
                claim: h.claim.clone(),
                origin: origin(),
            },
            Some(h),
        ),
        None => (Claim::New { origin: origin() }, None),
    }
}
