//! The data source `ipam_shared_pool`: reads a shared pool from the database, with
//! every owner's allocations and live plan reservations. Works as a read-only role.

use std::collections::BTreeMap;

use super::config::{run, store_of};
use super::figures;
use super::pool_args::argument_attributes;
use super::shared_pool::{access_attributes, def_values, with_snapshot_figures, OVER_EVERY_OWNER};
use crate::store::Block;
use crate::tfplugin::schema::{Attribute, Mode, Schema};
use crate::tfplugin::{AttrPath, Context, DataSource, Diagnostic, Type, Value};

/// The data source `ipam_shared_pool`: a pool, its utilization, and every owner's
/// allocations and live plan reservations.
pub struct SharedPoolData;

fn block_attributes(extra: Option<Attribute>) -> Vec<Attribute> {
    let mut v = vec![
        Attribute::new("cidr", Type::String, Mode::Computed, "The block."),
        Attribute::new(
            "owner",
            Type::String,
            Mode::Computed,
            "The owner (an `ipam_shared_allocations` `owner`).",
        ),
        Attribute::new(
            "name",
            Type::String,
            Mode::Computed,
            "The allocation's name within its owner.",
        ),
        Attribute::new(
            "description",
            Type::String,
            Mode::Computed,
            "The allocation's description.",
        ),
    ];
    v.extend(extra);
    v
}

impl DataSource for SharedPoolData {
    fn type_name(&self) -> &'static str {
        "ipam_shared_pool"
    }

    fn schema(&self) -> Schema {
        let mut attributes = vec![
            Attribute::new(
                "name",
                Type::String,
                Mode::Required,
                "Name of the shared pool to read.",
            ),
            Attribute::new("id", Type::String, Mode::Computed, "The pool's name."),
        ];
        attributes.extend(argument_attributes(true));
        attributes.extend(access_attributes(true));
        attributes.extend(figures::attributes(Some(OVER_EVERY_OWNER)));
        attributes.push(Attribute::nested_map(
            "allocations",
            block_attributes(None),
            Mode::Computed,
            "Every owner's allocations, keyed `owner/name`.",
        ));
        attributes.push(Attribute::nested_map(
            "reservations",
            block_attributes(Some(Attribute::new("expires_at", Type::String, Mode::Computed, "When the reservation ends (RFC 3339, UTC)."))),
            Mode::Computed,
            "Unexpired plan reservations (blocks shown by plans not yet applied), keyed `owner/name`.",
        ));
        Schema {
            version: 0,
            description: "Reads a shared pool from the shared ledger: its arguments, utilization, and every owner's allocations and plan reservations.".into(),
            attributes,
        }
    }

    fn validate(&self, _: &Value) -> Vec<Diagnostic> {
        vec![]
    }

    fn read(&self, config: Value, ctx: &Context) -> (Value, Vec<Diagnostic>) {
        let name = config.get("name").as_str().unwrap_or_default().to_string();
        let snap = match store_of(ctx, "The ipam_shared_pool data source").and_then(|(store, _)| {
            run(
                ctx,
                async { store.snapshot(&name).await },
                "Could not read the shared pool",
            )
        }) {
            Ok(s) => s,
            Err(d) => return (Value::Null, vec![d]),
        };
        let Some(def) = &snap.def else {
            return (
                Value::Null,
                vec![Diagnostic::error(
                    "No such shared pool",
                    format!("The shared ledger has no pool named {name:?}."),
                )
                .at(AttrPath::attr("name"))],
            );
        };
        let mut obj = def_values(def);
        obj.insert("name".into(), Value::str(name.clone()));
        obj.insert("id".into(), Value::str(name.clone()));
        let entry = |b: &Block, expires: Option<&str>| {
            let mut o = BTreeMap::new();
            o.insert("cidr".into(), Value::str(b.cidr.to_string()));
            o.insert("owner".into(), Value::str(b.owner.clone()));
            o.insert("name".into(), Value::str(b.name.clone()));
            o.insert(
                "description".into(),
                b.description.clone().map(Value::str).unwrap_or(Value::Null),
            );
            if let Some(e) = expires {
                o.insert("expires_at".into(), Value::str(e));
            }
            (format!("{}/{}", b.owner, b.name), Value::Object(o))
        };
        obj.insert(
            "allocations".into(),
            Value::Map(snap.allocations.iter().map(|b| entry(b, None)).collect()),
        );
        obj.insert(
            "reservations".into(),
            Value::Map(
                snap.reservations
                    .iter()
                    .map(|r| entry(&r.block, Some(&r.expires_at)))
                    .collect(),
            ),
        );
        let v = with_snapshot_figures(Value::Object(obj), &snap);
        (v, vec![])
    }
}
