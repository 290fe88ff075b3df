//! `requests` (schema 3), the dynamic form of a pool's requests, under real Terraform:
//! the blocks are known at plan in `allocations`, handles and import work as with the
//! nested form, the checks Terraform made of the nested form are the provider's, and a
//! state written by the release before (schema 2) moves forward with no change.
mod common;

use common::pg::cluster;
use common::shared::Shared;
use common::{actions, cidrs, planned, Workdir};

const POOL: &str = r#"
resource "ipam_pool" "vpc" {
  cidrs    = ["10.0.0.0/16"]
  requests = {
    nodes    = { prefix_length = 20, description = "GKE nodes" }
    pods     = { prefix_length = "18", grow_to = 17 }
    legacy   = { cidr = "10.0.250.0/24", description = null }
  }
}

resource "ipam_allocation" "nodes" {
  entry = ipam_pool.vpc.allocations["nodes"]
  cloud = "gcp"
}

output "nodes" {
  value = ipam_allocation.nodes.cidr
}
"#;

#[test]
fn requests_are_placed_at_plan_and_applied_with_no_later_change() {
    let w = Workdir::new(POOL);
    let plan = w.plan_json(&[]);
    let at_plan = cidrs(&planned(&plan, "ipam_pool.vpc"));
    assert_eq!(at_plan.len(), 3, "{at_plan:?}");
    assert!(
        at_plan.values().all(|c| c != "?"),
        "known at plan: {at_plan:?}"
    );
    assert_eq!(at_plan["legacy"], "10.0.250.0/24");
    // "18" is converted as Terraform converts a number argument.
    let after = planned(&plan, "ipam_pool.vpc");
    assert_eq!(after["allocations"]["pods"]["prefix_length"], 18);
    assert_eq!(after["allocations"]["nodes"]["description"], "GKE nodes");
    w.apply();
    w.assert_no_changes();
    let state = w.resource("ipam_pool.vpc");
    assert_eq!(cidrs(&state), at_plan);
    let out = w.tf(&["output", "-json"]).ok().json();
    assert_eq!(out["nodes"]["value"], at_plan["nodes"].as_str());

    // A new request, in any order, leaves the others where they are.
    w.config(&POOL.replace(
        "    nodes    =",
        "    services = { prefix_length = 22 }\n    nodes    =",
    ));
    w.apply();
    w.assert_no_changes();
    let grown = cidrs(&w.resource("ipam_pool.vpc"));
    for (name, cidr) in &at_plan {
        assert_eq!(&grown[name], cidr, "{name} moved");
    }
    assert_eq!(grown.len(), 4);

    // Import: the pool's JSON ID gives its blocks; the first plan only records the
    // requests, with every block where the ID put it.
    let id = serde_json::json!({ "cidrs": ["10.0.0.0/16"], "allocations": grown }).to_string();
    let imported = Workdir::new(&POOL.replace(
        "    nodes    =",
        "    services = { prefix_length = 22 }\n    nodes    =",
    ));
    imported
        .tf(&["import", "-no-color", "ipam_pool.vpc", &id])
        .ok();
    let plan = imported.plan_json(&["-target=ipam_pool.vpc"]);
    assert_eq!(actions(&plan, "ipam_pool.vpc"), ["update"]);
    assert_eq!(cidrs(&planned(&plan, "ipam_pool.vpc")), grown);
    imported
        .tf(&[
            "apply",
            "-no-color",
            "-auto-approve",
            "-target=ipam_pool.vpc",
        ])
        .ok();
    imported.apply();
    imported.assert_no_changes();

    w.tf(&["destroy", "-no-color", "-auto-approve"]).ok();
    assert!(w.state()["values"].is_null(), "{}", w.state());
}

/// The short form: a number (or a string of one) asks for that prefix length, any
/// other string pins that CIDR; it mixes with the object form in one map.
#[test]
fn short_requests_are_prefix_lengths_and_pins() {
    let w = Workdir::new(
        r#"
resource "ipam_pool" "vpc" {
  cidrs    = ["10.0.0.0/16"]
  requests = {
    nodes  = 20
    pods   = "18"
    legacy = "10.0.250.0/24"
    svc    = { prefix_length = 22, description = "Services" }
  }
}

resource "ipam_allocation" "pods" {
  entry = ipam_pool.vpc.allocations["pods"]
  cloud = "gcp"
}
"#,
    );
    let plan = w.plan_json(&[]);
    let after = planned(&plan, "ipam_pool.vpc");
    let at_plan = cidrs(&after);
    assert!(
        at_plan.values().all(|c| c != "?"),
        "known at plan: {at_plan:?}"
    );
    assert_eq!(at_plan["legacy"], "10.0.250.0/24");
    assert!(at_plan["nodes"].ends_with("/20"), "{at_plan:?}");
    assert!(at_plan["pods"].ends_with("/18"), "{at_plan:?}");
    assert_eq!(after["allocations"]["pods"]["prefix_length"], 18);
    assert_eq!(after["allocations"]["svc"]["description"], "Services");
    w.apply();
    w.assert_no_changes();
    assert_eq!(cidrs(&w.resource("ipam_pool.vpc")), at_plan);
    assert_eq!(
        w.resource("ipam_allocation.pods")["cidr"],
        at_plan["pods"].as_str()
    );
}

/// Pins the schema 2 to 3 upgrade: a state written by the release before (with
/// Terraform 1.11.4, `tests/fixtures/upgrade/pool-schema-2`) plans with no change as it
/// is, and moving its configuration to `requests` only records the requests.
#[test]
fn a_schema_2_state_moves_forward_with_no_change() {
    let w = Workdir::copy_of("tests/fixtures/upgrade/pool-schema-2");
    // Copied under its own name, as a repository copy skips terraform.tfstate.
    w.write(
        "terraform.tfstate",
        &String::from_utf8(w.read("schema-2.tfstate")).unwrap(),
    );
    // (`terraform show` cannot read a state of an older schema: read the file.)
    let stored: serde_json::Value = serde_json::from_slice(&w.read("terraform.tfstate")).unwrap();
    let pool = stored["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["type"] == "ipam_pool")
        .unwrap();
    assert_eq!(pool["instances"][0]["schema_version"], 2);
    let before = cidrs(&pool["instances"][0]["attributes"]);
    assert_eq!(before.len(), 4);
    w.assert_no_changes();
    let config = String::from_utf8(w.read("main.tf")).unwrap();
    w.write(
        "main.tf",
        &config.replace("  allocations = {", "  requests = {"),
    );
    let plan = w.plan_json(&[]);
    assert_eq!(actions(&plan, "ipam_pool.vpc"), ["update"]);
    assert_eq!(actions(&plan, "ipam_allocation.nodes"), ["no-op"]);
    let after = planned(&plan, "ipam_pool.vpc");
    assert_eq!(cidrs(&after), before);
    assert_eq!(after["requests"]["pods"]["grow_to"], 17);
    w.apply();
    w.assert_no_changes();
    assert_eq!(cidrs(&w.resource("ipam_pool.vpc")), before);
}

#[test]
fn bad_requests_get_diagnostics_naming_the_member() {
    let cases: &[(&str, &[&str])] = &[
        (
            r#"{ web = { prefix_len = 24 } }"#,
            &["Unsupported request member", "\"prefix_len\""],
        ),
        (
            r#"{ web = { prefix_length = "x24" } }"#,
            &["Invalid request member", "must be a number"],
        ),
        (
            r#"{ web = { cidr = ["10.0.0.0/24"] } }"#,
            &["Invalid request member", "must be a string"],
        ),
        (
            r#"{ web = true }"#,
            &[
                "Request must be a prefix length, a CIDR or an object",
                "\"web\"",
            ],
        ),
        (r#"["web"]"#, &["Requests must be a map"]),
        (r#"{ web = 8 }"#, &["Allocation larger than the pool"]),
        (
            r#"{ web = "10.0.0.1/24" }"#,
            &["CIDR block has host bits set"],
        ),
        (r#"{ web = "web" }"#, &["Invalid CIDR"]),
        (
            r#"{ web = { prefix_length = 8 } }"#,
            &["Allocation larger than the pool"],
        ),
        (
            r#"{ web = { cidr = "10.0.0.1/24" } }"#,
            &["CIDR block has host bits set"],
        ),
    ];
    for (requests, wanted) in cases {
        let w = Workdir::new(&format!(
            "resource \"ipam_pool\" \"p\" {{\n  cidrs = [\"10.0.0.0/16\"]\n  requests = {requests}\n}}\n"
        ));
        let out = w.tf(&["validate", "-no-color"]);
        assert_ne!(out.code, 0, "{requests}: {}", out.stdout);
        for want in *wanted {
            assert!(
                out.stderr.contains(want),
                "{requests}: want {want:?} in\n{}",
                out.stderr
            );
        }
        assert!(!out.stderr.contains("panic"), "{}", out.stderr);
    }
    let both = Workdir::new(
        "resource \"ipam_pool\" \"p\" {\n  cidrs = [\"10.0.0.0/16\"]\n  requests = { a = { prefix_length = 24 } }\n  allocations = { b = { prefix_length = 24 } }\n}\n",
    );
    let out = both.tf(&["validate", "-no-color"]);
    assert!(
        out.stderr.contains("Both requests and allocations set"),
        "{}",
        out.stderr
    );
}

/// `ipam_shared_allocations` takes the same `requests`, and moves from the nested form
/// with no block changed.
#[test]
fn shared_allocations_take_requests() {
    let db = cluster().new_database("e2e_requests");
    let body = |attr: &str| {
        format!(
            r#"
resource "ipam_shared_pool" "corp" {{
  name  = "corp"
  cidrs = ["10.0.0.0/8"]
}}

resource "ipam_shared_allocations" "team_a" {{
  pool  = ipam_shared_pool.corp.id
  owner = "team-a"
  {attr} = {{
    gke = {{ prefix_length = 16, description = "GKE" }}
    eks = {{ prefix_length = "20", grow_to = 18 }}
  }}
}}
"#
        )
    };
    let s = Shared::new(&db, &body("allocations"));
    s.apply();
    s.assert_no_changes();
    let before = cidrs(&s.resource("ipam_shared_allocations.team_a"));
    assert_eq!(before.len(), 2);
    s.config(&body("requests"));
    let plan = s.plan_json(&[]);
    assert_eq!(actions(&plan, "ipam_shared_allocations.team_a"), ["update"]);
    assert_eq!(
        cidrs(&planned(&plan, "ipam_shared_allocations.team_a")),
        before
    );
    s.apply();
    s.assert_no_changes();
    assert_eq!(cidrs(&s.resource("ipam_shared_allocations.team_a")), before);
    // A new request, here in the short form, is placed and reserved like any other.
    s.config(&body("requests").replace("    gke =", "    aks = 24\n    gke ="));
    s.apply();
    s.assert_no_changes();
    let grown = cidrs(&s.resource("ipam_shared_allocations.team_a"));
    assert_eq!(grown.len(), 3);
    assert_eq!(grown["gke"], before["gke"]);
}
