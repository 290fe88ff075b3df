//! Unit tests of reading requests (`ledger.rs`): both forms, their checks and paths,
//! unknowns, and the planned `requests`.

use super::*;

fn config(requests: serde_json::Value) -> Value {
    Value::Object([("requests".to_string(), to_value(&requests))].into())
}

/// A JSON literal as Terraform would send it for a dynamic attribute: objects stay
/// objects, numbers numbers.
fn to_value(j: &serde_json::Value) -> Value {
    use serde_json::Value as J;
    match j {
        J::Null => Value::Null,
        J::Bool(b) => Value::Bool(*b),
        J::Number(n) => Value::Number(Number::parse(&n.to_string()).unwrap()),
        J::String(s) => Value::str(s.clone()),
        J::Array(a) => Value::List(a.iter().map(to_value).collect()),
        J::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), to_value(v))).collect()),
    }
}

#[test]
fn requests_are_read_with_terraform_conversions_and_every_member() {
    let mut diags = Vec::new();
    let got = requested(
        &config(serde_json::json!({
            "web": {"prefix_length": "24", "description": 7},
            "db": {"cidr": "10.0.9.0/24", "name": null},
        })),
        &mut diags,
    )
    .unwrap();
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(got["web"].get("prefix_length"), &Value::int(24));
    assert_eq!(got["web"].get("description"), &Value::str("7"));
    assert!(got["web"].get("cidr").is_null() && got["web"].get("grow_to").is_null());
    assert_eq!(got["db"].get("cidr"), &Value::str("10.0.9.0/24"));
    assert_eq!(got["db"].entries().map(BTreeMap::len), Some(4));
}

/// The short form reads as the object it stands for.
#[test]
fn short_requests_read_as_objects() {
    let mut diags = Vec::new();
    let got = requested(
        &config(serde_json::json!({"a": 24, "b": " 25", "c": "10.0.9.0/24"})),
        &mut diags,
    )
    .unwrap();
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(got["a"].get("prefix_length"), &Value::int(24));
    assert_eq!(got["b"].get("prefix_length"), &Value::int(25));
    assert_eq!(got["c"].get("cidr"), &Value::str("10.0.9.0/24"));
    assert!(got["c"].get("prefix_length").is_null());
    assert_eq!(got["a"].entries().map(BTreeMap::len), Some(4));
}

#[test]
fn bad_requests_name_the_member_and_its_path() {
    let mut diags = Vec::new();
    let got = requested(
        &config(serde_json::json!({
            "a": {"prefix_len": 24},
            "b": {"prefix_length": "x"},
            "c": true,
            "d": {"prefix_length": 24},
        })),
        &mut diags,
    )
    .unwrap();
    assert_eq!(got.keys().collect::<Vec<_>>(), ["d"]);
    let paths: Vec<AttrPath> = diags.iter().filter_map(|d| d.path.clone()).collect();
    assert_eq!(
        paths,
        [
            AttrPath::attr("requests").key("a").then("prefix_len"),
            AttrPath::attr("requests").key("b").then("prefix_length"),
            AttrPath::attr("requests").key("c"),
        ]
    );
    let mut diags = Vec::new();
    requested(&config(serde_json::json!(["a"])), &mut diags);
    assert_eq!(diags[0].summary, "Requests must be a map");
}

/// An unknown map, or an unknown entry, leaves the requests unknown, as a typed
/// attribute would.
#[test]
fn unknown_requests_are_not_read() {
    let unknown = Value::Object([("requests".to_string(), Value::Unknown)].into());
    assert_eq!(requested(&unknown, &mut Vec::new()), None);
    let one = Value::Object(
        [(
            "requests".to_string(),
            Value::Object([("a".to_string(), Value::Unknown)].into()),
        )]
        .into(),
    );
    assert_eq!(read_requests(&one, &mut Vec::new()).0, None);
}

/// The prior's requests stand when they place every block where the configured
/// ones do; any change records the configuration's.
#[test]
fn planned_requests_keep_the_prior_only_when_nothing_moves() {
    let allocs = |c: &str| {
        Value::Map(
            [(
                "a".to_string(),
                Value::Object([("cidr".to_string(), Value::str(c))].into()),
            )]
            .into(),
        )
    };
    let state = |req: serde_json::Value, c: &str| {
        Value::Object(
            [
                ("requests".to_string(), to_value(&req)),
                ("allocations".to_string(), allocs(c)),
            ]
            .into(),
        )
    };
    let cfg = config(serde_json::json!({"a": {"prefix_length": 24}}));
    let prior = state(
        serde_json::json!({"a": {"cidr": "10.0.1.0/24"}}),
        "10.0.1.0/24",
    );
    let same = state(serde_json::json!(null), "10.0.1.0/24");
    let moved = state(serde_json::json!(null), "10.0.2.0/24");
    assert_eq!(
        planned_requests(&cfg, &prior, &same),
        prior.get("requests").clone()
    );
    assert_eq!(
        planned_requests(&cfg, &prior, &moved),
        cfg.get("requests").clone()
    );
    // No prior requests (a schema 2 state): the configuration's, recorded once.
    assert_eq!(
        planned_requests(&cfg, &same, &same),
        cfg.get("requests").clone()
    );
    // The nested form in the configuration: requests is computed and kept.
    let nested = Value::Object([("allocations".to_string(), allocs("10.0.1.0/24"))].into());
    assert_eq!(
        planned_requests(&nested, &prior, &same),
        prior.get("requests").clone()
    );
    assert_eq!(
        planned_requests(&Value::Object(BTreeMap::new()), &prior, &same),
        Value::Null
    );
}

/// Pins a message that named `allocations["web"].prefix_length` for a request written
/// in `requests`, and a CIDR error that did not say which allocation it was about.
#[test]
fn request_errors_name_what_the_configuration_wrote() {
    let mut diags = Vec::new();
    read_requests(
        &config(serde_json::json!({"web": 200, "db": "10.0.0.1/24"})),
        &mut diags,
    );
    let details: Vec<&str> = diags.iter().map(|d| d.detail.as_str()).collect();
    assert_eq!(details.len(), 2, "{details:?}");
    assert!(
        details.iter().all(|d| !d.contains("allocations")),
        "{details:?}"
    );
    assert!(
        details
            .iter()
            .any(|d| d.contains(r#"requests["web"].prefix_length"#)),
        "{details:?}"
    );
    assert!(
        details
            .iter()
            .any(|d| d.starts_with(r#"Allocation "db": "10.0.0.1/24" has host bits set"#)),
        "{details:?}"
    );
    assert_eq!(
        diags[0].path,
        Some(AttrPath::attr("requests").key("db").then("cidr"))
    );
}
