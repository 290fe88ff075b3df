//! Unit tests of `ipam_pool` (`pool.rs`): values through the state round trip, holds,
//! import IDs.

use super::*;
use crate::tfplugin::value::{from_json, terraform_state_text, to_msgpack};

fn config(body: &str) -> Value {
    let ty = PoolResource.schema().value_type();
    crate::tfplugin::value::convert_json(&serde_json::from_str(body).unwrap(), &ty, "").unwrap()
}

/// Plans `body` on top of `prior`.
fn plan(prior: &Value, body: &str) -> PlanResponse {
    let config = config(body);
    PoolResource.plan(
        PlanRequest {
            prior: prior.clone(),
            proposed: config.clone(),
            config,
            prior_private: vec![],
        },
        &Context::unconfigured(),
    )
}

/// Plans and applies `body` on top of `prior`; returns the new state.
fn apply(prior: &Value, body: &str) -> Value {
    let config = config(body);
    let plan = plan(prior, body);
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
        let again = plan(&back, body);
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
    assert_eq!(plan(&back, without_b).planned, back);
}

/// The JSON import ID: an entry is a CIDR or an object with a description; any
/// other shape is an "Invalid import ID" that shows both forms.
#[test]
fn json_import_ids_take_both_entry_shapes_and_refuse_others() {
    let ctx = Context::unconfigured();
    let id = r#"{"cidrs": ["10.0.0.0/16"], "strategy": "lowest", "allocations": {"a": "10.0.1.0/24", "b": {"cidr": "10.0.2.0/24", "description": "db"}}}"#;
    let v = PoolResource.import(id, &ctx).unwrap();
    assert_eq!(v.get("strategy").as_str(), Some("lowest"));
    let b = v.get("allocations").get("b");
    assert_eq!(b.get("cidr").as_str(), Some("10.0.2.0/24"));
    assert_eq!(b.get("description").as_str(), Some("db"));
    assert!(v.get("allocations").get("a").get("description").is_null());
    for bad in [
        r#"{"cidrs": ["10.0.0.0/16"], "allocations": {"a": 5}}"#,
        r#"{"cidrs": ["10.0.0.0/16"], "allocations": {"a": {"cidr": "10.0.1.0/24", "size": 2}}}"#,
        r#"{"cidrs": ["10.0.0.0/16"]"#,
    ] {
        let d = PoolResource.import(bad, &ctx).unwrap_err();
        assert_eq!(d[0].summary, "Invalid import ID", "{bad}");
        assert!(
            d[0].detail.contains("comma-separated"),
            "{bad}: {}",
            d[0].detail
        );
    }
}
