//! `ipam_pool` under real Terraform: plan, apply, no-op plan, import, destroy, and the
//! ledger semantics the docs state (docs/resources/pool.md).

mod common;

use common::{actions, cidrs, planned, Workdir};
use serde_json::json;

const BASIC: &str = r#"
resource "ipam_pool" "p" {
  cidrs    = ["10.0.0.0/16"]
  reserved = ["10.0.255.0/24"]
  allocations = {
    a = { prefix_length = 20 }
    b = { prefix_length = 24 }
    c = { prefix_length = 22, description = "c" }
  }
}
"#;

#[test]
fn lifecycle_plan_apply_noop_schema_destroy() {
    let w = Workdir::new(BASIC);
    let plan = w.plan_json(&[]);
    let after = planned(&plan, "ipam_pool.p");
    // Every CIDR is known at plan, for a pool created in this very run.
    let rc = &plan["resource_changes"][0]["change"];
    assert_eq!(
        rc["after_unknown"]["allocations"]["a"].get("cidr"),
        None,
        "cidr unknown at plan: {rc}"
    );
    // Best fit packs down from the reservation at the top; the bottom stays whole.
    assert_eq!(after["allocations"]["a"]["cidr"], "10.0.224.0/20");
    assert_eq!(after["total_addresses"], "65280");
    w.tf(&["apply", "-no-color", "test.tfplan"]).ok();
    let state = w.resource("ipam_pool.p");
    assert_eq!(cidrs(&state), cidrs(&after));
    assert!(state["id"].as_str().unwrap().starts_with("pool-"));
    assert_eq!(state["allocations"]["a"]["pool_id"], state["id"]);
    w.assert_no_changes();
    let schema = w.tf(&["providers", "schema", "-json"]).ok().json();
    let pool = &schema["provider_schemas"]["registry.terraform.io/ipam-rs/ipam"]
        ["resource_schemas"]["ipam_pool"];
    assert_eq!(pool["version"], 3);
    assert_eq!(
        pool["block"]["attributes"]["allocations"]["nested_type"]["nesting_mode"],
        "map"
    );
    assert_eq!(pool["block"]["attributes"]["requests"]["type"], "dynamic");
    w.tf(&["destroy", "-no-color", "-auto-approve"]).ok();
    assert!(
        w.state()["values"].is_null(),
        "state not empty after destroy"
    );
}

#[test]
fn adding_removing_renaming_moves_nothing_else() {
    let w = Workdir::new(BASIC);
    w.apply();
    let before = cidrs(&w.resource("ipam_pool.p"));

    // Add one: exactly one new entry; every other CIDR unchanged.
    w.config(&BASIC.replace("    c = {", "    d = { prefix_length = 26 }\n    c = {"));
    let plan = w.plan_json(&[]);
    let after = cidrs(&planned(&plan, "ipam_pool.p"));
    assert_eq!(after.len(), 4);
    for (k, v) in &before {
        assert_eq!(&after[k], v, "{k} moved when d was added");
    }
    assert_eq!(actions(&plan, "ipam_pool.p"), ["update"]);
    w.tf(&["apply", "-no-color", "test.tfplan"]).ok();

    // Remove one: it is freed, the rest stay.
    w.config(&BASIC.replace(
        "    b = { prefix_length = 24 }\n",
        "    d = { prefix_length = 26 }\n",
    ));
    let after2 = cidrs(&planned(&w.plan_json(&[]), "ipam_pool.p"));
    assert!(!after2.contains_key("b"));
    assert_eq!(after2["a"], before["a"]);
    assert_eq!(after2["c"], before["c"]);
    assert_eq!(after2["d"], after["d"]);
    w.tf(&["apply", "-no-color", "test.tfplan"]).ok();
    let util = w.resource("ipam_pool.p");
    assert_eq!(util["allocated_addresses"], (4096 + 1024 + 64).to_string());

    // Rename c -> c2: a release plus a new placement; others stay.
    w.config(
        &BASIC
            .replace(
                "    b = { prefix_length = 24 }\n",
                "    d = { prefix_length = 26 }\n",
            )
            .replace("    c = {", "    c2 = {"),
    );
    let after3 = cidrs(&planned(&w.plan_json(&[]), "ipam_pool.p"));
    assert!(!after3.contains_key("c") && after3.contains_key("c2"));
    assert_eq!(after3["a"], before["a"]);
    assert_eq!(after3["d"], after["d"]);
    w.tf(&["apply", "-no-color", "test.tfplan"]).ok();
    w.assert_no_changes();
}

#[test]
fn growing_cidrs_updates_in_place_and_removing_a_used_one_fails() {
    let w = Workdir::new(
        r#"
resource "ipam_pool" "p" {
  cidrs       = ["10.0.0.0/24"]
  allocations = { a = { prefix_length = 25 }, b = { prefix_length = 25 } }
}
"#,
    );
    w.apply();
    let before = cidrs(&w.resource("ipam_pool.p"));
    // GKE-style: add a non-contiguous range; in place, nothing moves.
    w.config(r#"
resource "ipam_pool" "p" {
  cidrs       = ["10.0.0.0/24", "172.16.0.0/24"]
  allocations = { a = { prefix_length = 25 }, b = { prefix_length = 25 }, c = { prefix_length = 24 } }
}
"#);
    let plan = w.plan_json(&[]);
    assert_eq!(actions(&plan, "ipam_pool.p"), ["update"]);
    let after = cidrs(&planned(&plan, "ipam_pool.p"));
    assert_eq!(after["a"], before["a"]);
    assert_eq!(after["b"], before["b"]);
    assert_eq!(after["c"], "172.16.0.0/24");
    w.tf(&["apply", "-no-color", "test.tfplan"]).ok();
    let state_before = w.read("terraform.tfstate");

    // Removing the first block while a and b live in it fails, naming them.
    w.config(r#"
resource "ipam_pool" "p" {
  cidrs       = ["172.16.0.0/24"]
  allocations = { a = { prefix_length = 25 }, b = { prefix_length = 25 }, c = { prefix_length = 24 } }
}
"#);
    let out = w.tf(&["apply", "-no-color", "-auto-approve"]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("Pool CIDR still in use"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("10.0.0.0/24") && out.stderr.contains("a, b"),
        "{}",
        out.stderr
    );
    assert_eq!(
        w.read("terraform.tfstate"),
        state_before,
        "a failed plan changed the state"
    );
}

#[test]
fn exhaustion_fails_the_plan_with_figures_and_keeps_state() {
    let w = Workdir::new(
        r#"
resource "ipam_pool" "p" {
  cidrs       = ["10.0.0.0/24"]
  allocations = { a = { prefix_length = 25 } }
}
"#,
    );
    w.apply();
    let state_before = w.read("terraform.tfstate");
    w.config(
        r#"
resource "ipam_pool" "p" {
  cidrs       = ["10.0.0.0/24"]
  allocations = { a = { prefix_length = 25 }, big = { prefix_length = 24 } }
}
"#,
    );
    let out = w.tf(&["apply", "-no-color", "-auto-approve"]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("Pool exhausted"), "{}", out.stderr);
    assert!(
        out.stderr.contains(r#""big" needs a /24"#),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("128 free addresses, largest free block /25"),
        "{}",
        out.stderr
    );
    assert_eq!(w.read("terraform.tfstate"), state_before);
}

#[test]
fn pins_reserved_rules_and_strategies() {
    let w = Workdir::new(
        r#"
resource "ipam_pool" "best" {
  cidrs                 = ["10.0.0.0/16"]
  reserved              = ["10.0.0.0/24", "10.0.64.1"]
  min_prefix_length     = 18
  max_prefix_length     = 28
  default_prefix_length = 24
  allocations = {
    legacy = { cidr = "10.0.128.0/17", description = "brownfield" }
    dflt   = {}
    small  = { prefix_length = 28 }
  }
}
resource "ipam_pool" "low" {
  cidrs    = ["10.1.0.0/16"]
  reserved = ["10.1.255.0/24"]
  strategy = "lowest"
  allocations = { x = { prefix_length = 24 } }
}
resource "ipam_pool" "high" {
  cidrs    = ["10.2.0.0/16"]
  strategy = "highest"
  allocations = { gw = { prefix_length = 27 } }
}
"#,
    );
    let plan = w.plan_json(&[]);
    let best = cidrs(&planned(&plan, "ipam_pool.best"));
    assert_eq!(best["legacy"], "10.0.128.0/17");
    // Best fit: the tightest free blocks next to the reservation at the bottom.
    assert_eq!(best["dflt"], "10.0.1.0/24");
    // The tightest free block for a /28 is the /28 left beside the reserved address.
    assert_eq!(best["small"], "10.0.64.16/28");
    assert_eq!(
        planned(&plan, "ipam_pool.best")["allocations"]["dflt"]["prefix_length"],
        24
    );
    assert_eq!(cidrs(&planned(&plan, "ipam_pool.low"))["x"], "10.1.0.0/24");
    assert_eq!(
        cidrs(&planned(&plan, "ipam_pool.high"))["gw"],
        "10.2.255.224/27"
    );
    w.tf(&["apply", "-no-color", "test.tfplan"]).ok();
    w.assert_no_changes();
}

#[test]
fn ipv6_pool_hands_out_64s() {
    let w = Workdir::new(
        r#"
resource "ipam_pool" "v6" {
  cidrs = ["fd00:10::/48"]
  allocations = {
    a = { prefix_length = 64 }
    b = { prefix_length = 64 }
    c = { prefix_length = 56 }
  }
}
"#,
    );
    let after = planned(&w.plan_json(&[]), "ipam_pool.v6");
    let c = cidrs(&after);
    assert_eq!(c["c"], "fd00:10::/56");
    assert_eq!(c["a"], "fd00:10:0:100::/64");
    assert_eq!(c["b"], "fd00:10:0:101::/64");
    assert_eq!(
        after["allocations"]["a"]["address_count"],
        "18446744073709551616"
    );
    assert!(after["allocations"]["a"]["netmask"].is_null());
    w.tf(&["apply", "-no-color", "test.tfplan"]).ok();
    w.assert_no_changes();
}

#[test]
fn pools_chain_and_are_known_at_plan() {
    let w = Workdir::new(
        r#"
resource "ipam_pool" "corp" {
  cidrs       = ["10.0.0.0/8"]
  allocations = { emea = { prefix_length = 12 } }
}
resource "ipam_pool" "region" {
  cidrs       = [ipam_pool.corp.allocations["emea"].cidr]
  allocations = { prod = { prefix_length = 16 } }
}
resource "ipam_pool" "cluster" {
  cidrs       = [ipam_pool.region.allocations["prod"].cidr]
  allocations = { nodes = { prefix_length = 20 }, pods = { prefix_length = 18 } }
}
output "pods" { value = ipam_pool.cluster.allocations["pods"].cidr }
"#,
    );
    let plan = w.plan_json(&[]);
    assert_eq!(
        plan["planned_values"]["outputs"]["pods"]["value"],
        "10.0.0.0/18"
    );
    assert_eq!(
        cidrs(&planned(&plan, "ipam_pool.cluster"))["nodes"],
        "10.0.64.0/20"
    );
    w.tf(&["apply", "-no-color", "test.tfplan"]).ok();
    w.assert_no_changes();
}

const DETERMINISM: &str = r#"
resource "ipam_pool" "p" {
  count = 3
  cidrs = ["10.${count.index}.0.0/16"]
  allocations = { for i in range(40) : "n${i}" => { prefix_length = 20 + (i * 7) % 9 } }
}
"#;

#[test]
fn same_cidrs_at_any_parallelism_from_a_saved_plan_and_in_fresh_directories() {
    let w = Workdir::new(DETERMINISM);
    let one = w.plan_json(&["-parallelism=1"]);
    let many = w.plan_json(&["-parallelism=64"]);
    for i in 0..3 {
        let a = format!("ipam_pool.p[{i}]");
        assert_eq!(cidrs(&planned(&one, &a)), cidrs(&planned(&many, &a)));
    }
    w.tf(&["apply", "-no-color", "test.tfplan"]).ok();
    let w2 = Workdir::new(DETERMINISM);
    w2.apply();
    for i in 0..3 {
        let a = format!("ipam_pool.p[{i}]");
        let (x, y) = (cidrs(&w.resource(&a)), cidrs(&w2.resource(&a)));
        assert_eq!(x, y);
        assert_eq!(x, cidrs(&planned(&many, &a)));
    }
}

#[test]
fn drifted_state_warns_and_repairs_only_the_bad_entry() {
    let w = Workdir::new(BASIC);
    w.apply();
    let good = cidrs(&w.resource("ipam_pool.p"));
    let mut state: serde_json::Value = w.tf(&["state", "pull"]).ok().json();
    // Hand-edit: b overlaps a; bump the serial so push accepts it.
    let attrs = &mut state["resources"][0]["instances"][0]["attributes"];
    attrs["allocations"]["b"]["cidr"] = json!(good["a"].replace("/20", "/24"));
    state["serial"] = json!(state["serial"].as_u64().unwrap() + 1);
    w.write("edited.tfstate", &state.to_string());
    w.tf(&["state", "push", "edited.tfstate"]).ok();

    let out = w.tf(&["plan", "-no-color", "-out=test.tfplan"]).ok();
    assert!(
        out.stdout.contains("Invalid allocation") || out.stderr.contains("Invalid allocation"),
        "{}{}",
        out.stdout,
        out.stderr
    );
    let plan = w.tf(&["show", "-json", "test.tfplan"]).ok().json();
    let after = cidrs(&planned(&plan, "ipam_pool.p"));
    assert_eq!(after["a"], good["a"]);
    assert_eq!(after["c"], good["c"]);
    assert_ne!(after["b"], good["a"].replace("/20", "/24"));
    w.tf(&["apply", "-no-color", "test.tfplan"]).ok();
    w.assert_no_changes();
}

#[test]
fn import_by_cidr_list_and_by_json_then_no_changes() {
    let w = Workdir::new(
        r#"
resource "ipam_pool" "p" {
  cidrs = ["10.0.0.0/16"]
  allocations = {
    web = { prefix_length = 24 }
    db  = { cidr = "10.0.9.0/24" }
  }
}
resource "ipam_pool" "q" {
  cidrs = ["10.1.0.0/16", "10.2.0.0/16"]
}
import {
  to = ipam_pool.q
  id = "10.1.0.0/16,10.2.0.0/16"
}
"#,
    );
    let id = r#"{"cidrs":["10.0.0.0/16"],"allocations":{"web":"10.0.42.0/24","db":"10.0.9.0/24"}}"#;
    w.tf(&["import", "-no-color", "ipam_pool.p", id]).ok();
    let p = w.resource("ipam_pool.p");
    assert_eq!(cidrs(&p)["web"], "10.0.42.0/24");
    // The import block for q is planned and applied; p keeps its imported ledger.
    let plan = w.plan_json(&[]);
    assert_eq!(actions(&plan, "ipam_pool.p"), ["no-op"]);
    assert_eq!(actions(&plan, "ipam_pool.q"), ["no-op"]);
    assert_eq!(
        plan["resource_changes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["change"]["importing"].is_object())
            .count(),
        1
    );
    w.tf(&["apply", "-no-color", "test.tfplan"]).ok();
    w.assert_no_changes();

    let bad = w.tf(&["import", "-no-color", "ipam_pool.r", "not-a-cidr"]);
    assert_ne!(bad.code, 0);
}

/// A state written by the first slice (schema version 0: `id` and `cidrs`).
#[test]
fn state_of_schema_version_0_is_upgraded() {
    let w = Workdir::new(
        r#"
resource "ipam_pool" "old" {
  cidrs = ["10.9.0.0/16"]
}
"#,
    );
    let state = json!({
        "version": 4, "terraform_version": "1.15.5", "serial": 1, "lineage": "00000000-0000-0000-0000-000000000001",
        "outputs": {}, "check_results": null,
        "resources": [{
            "mode": "managed", "type": "ipam_pool", "name": "old",
            "provider": "provider[\"registry.terraform.io/ipam-rs/ipam\"]",
            "instances": [{ "schema_version": 0, "attributes": { "id": "pool-00000000000000aa", "cidrs": ["10.9.0.0/16"] },
                            "sensitive_attributes": [] }]
        }]
    });
    w.write("terraform.tfstate", &state.to_string());
    w.assert_no_changes();
    // A refresh-only apply writes the upgraded state.
    w.tf(&["apply", "-no-color", "-auto-approve", "-refresh-only"])
        .ok();
    let r = w.resource("ipam_pool.old");
    assert_eq!(r["id"], "pool-00000000000000aa");
    assert_eq!(r["total_addresses"], "65536");
    w.assert_no_changes();
}

/// When the pool's own arguments are unknown at plan (here: derived from an id that
/// exists only after apply), its CIDRs are "known after apply", and the apply walk's
/// re-plan fills them in consistently, handles included.
#[test]
fn unknown_arguments_plan_as_unknown_and_apply_consistently() {
    let w = Workdir::new(
        r#"
resource "terraform_data" "seed" {
  input = "x"
}
resource "ipam_pool" "p" {
  cidrs       = [cidrsubnet("10.0.0.0/8", 8, length(terraform_data.seed.id) > 0 ? 1 : 2)]
  allocations = { a = { prefix_length = 24 }, b = { prefix_length = 20, description = "b" } }
}
resource "ipam_allocation" "a" {
  entry = ipam_pool.p.allocations["a"]
  cloud = "aws"
}
"#,
    );
    let plan = w.plan_json(&[]);
    let unknown = &plan["resource_changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["address"] == "ipam_pool.p")
        .unwrap()["change"]["after_unknown"];
    assert_eq!(unknown["allocations"]["a"]["cidr"], true, "{unknown}");
    assert_eq!(
        planned(&plan, "ipam_pool.p")["allocations"]["a"]["prefix_length"],
        24
    );
    w.tf(&["apply", "-no-color", "test.tfplan"]).ok();
    assert_eq!(cidrs(&w.resource("ipam_pool.p"))["a"], "10.1.16.0/24");
    assert_eq!(w.resource("ipam_allocation.a")["cidr"], "10.1.16.0/24");
    w.assert_no_changes();
}
