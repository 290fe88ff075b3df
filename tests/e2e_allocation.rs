//! `ipam_allocation` under real Terraform: cloud facts, the move guard, -replace,
//! -target, -refresh=false, import, destroy.

mod common;

use common::{actions, planned, Workdir};

fn config(prefix: u8, allow_move: bool) -> String {
    format!(
        r#"
resource "ipam_pool" "p" {{
  cidrs       = ["10.10.0.0/16"]
  allocations = {{
    nodes = {{ prefix_length = {prefix} }}
    pods  = {{ prefix_length = 18 }}
    eks   = {{ prefix_length = 24 }}
  }}
}}
resource "ipam_allocation" "nodes" {{
  entry      = ipam_pool.p.allocations["nodes"]
  cloud      = "gcp"
  allow_move = {allow_move}
}}
resource "ipam_allocation" "pods" {{
  entry = ipam_pool.p.allocations["pods"]
  cloud = "gcp"
  range = "secondary"
}}
resource "ipam_allocation" "eks" {{
  entry = ipam_pool.p.allocations["eks"]
  cloud = "aws"
}}
"#
    )
}

#[test]
fn handles_carry_cloud_facts_and_are_known_at_plan() {
    let w = Workdir::new(&config(24, false));
    let plan = w.plan_json(&[]);
    let nodes = planned(&plan, "ipam_allocation.nodes");
    // Equal sizes are placed by name: eks before nodes.
    assert_eq!(nodes["cidr"], "10.10.65.0/24");
    assert_eq!(nodes["usable_first"], "10.10.65.2");
    w.tf(&["apply", "-no-color", "test.tfplan"]).ok();
    let nodes = w.resource("ipam_allocation.nodes");
    let pool = w.resource("ipam_pool.p");
    assert_eq!(
        nodes["id"],
        format!("{}/nodes", pool["id"].as_str().unwrap())
    );
    assert_eq!(nodes["gateway_address"], "10.10.65.1");
    assert_eq!(nodes["usable_last"], "10.10.65.253");
    assert_eq!(nodes["usable_count"], "252");
    let pods = w.resource("ipam_allocation.pods");
    assert_eq!(pods["cidr"], "10.10.0.0/18");
    assert!(pods["gateway_address"].is_null());
    assert_eq!(pods["usable_count"], "16384");
    let eks = w.resource("ipam_allocation.eks");
    assert_eq!(eks["usable_first"], "10.10.64.4");
    assert_eq!(eks["usable_last"], "10.10.64.254");
    assert_eq!(eks["usable_count"], "251");
    w.assert_no_changes();
    // -refresh=false and -target plans see no changes either.
    assert_eq!(
        w.tf(&["plan", "-no-color", "-refresh=false", "-detailed-exitcode"])
            .code,
        0
    );
    assert_eq!(
        w.tf(&[
            "plan",
            "-no-color",
            "-target=ipam_pool.p",
            "-detailed-exitcode"
        ])
        .code,
        0
    );
    w.tf(&["destroy", "-no-color", "-auto-approve"]).ok();
}

#[test]
fn a_moved_entry_fails_the_plan_unless_allow_move() {
    let w = Workdir::new(&config(24, false));
    w.apply();
    let held = w.resource("ipam_allocation.nodes")["cidr"]
        .as_str()
        .unwrap()
        .to_string();
    let state_before = w.read("terraform.tfstate");
    // Growing nodes to a /20 re-places it: the handle refuses to follow silently.
    w.config(&config(20, false));
    let out = w.tf(&["plan", "-no-color"]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("Allocation moved"), "{}", out.stderr);
    assert!(
        out.stderr.contains(&held) && out.stderr.contains("10.10.80.0/20"),
        "{}",
        out.stderr
    );
    let out = w.tf(&["apply", "-no-color", "-auto-approve"]);
    assert_ne!(out.code, 0);
    assert_eq!(
        w.read("terraform.tfstate"),
        state_before,
        "failed apply changed the state"
    );
    // With allow_move the same change goes through.
    w.config(&config(20, true));
    let plan = w.plan_json(&[]);
    assert_eq!(
        planned(&plan, "ipam_allocation.nodes")["cidr"],
        "10.10.80.0/20"
    );
    w.tf(&["apply", "-no-color", "test.tfplan"]).ok();
    w.assert_no_changes();
}

#[test]
fn replace_of_a_handle_keeps_its_block() {
    let w = Workdir::new(&config(24, false));
    w.apply();
    let before = w.resource("ipam_allocation.pods");
    let plan = w.plan_json(&["-replace=ipam_allocation.pods"]);
    assert_eq!(actions(&plan, "ipam_allocation.pods"), ["delete", "create"]);
    assert_eq!(actions(&plan, "ipam_pool.p"), ["no-op"]);
    w.tf(&["apply", "-no-color", "test.tfplan"]).ok();
    assert_eq!(w.resource("ipam_allocation.pods")["cidr"], before["cidr"]);
    w.assert_no_changes();
}

#[test]
fn import_of_a_handle_fills_in_and_refuses_another_entry() {
    let w = Workdir::new(&config(24, false));
    w.apply();
    let pool_id = w.resource("ipam_pool.p")["id"]
        .as_str()
        .unwrap()
        .to_string();
    w.tf(&["state", "rm", "ipam_allocation.eks"]).ok();
    w.tf(&[
        "import",
        "-no-color",
        "ipam_allocation.eks",
        &format!("{pool_id}/eks"),
    ])
    .ok();
    // The next plan fills the facts from entry, with no move error.
    let plan = w.plan_json(&[]);
    assert_eq!(
        planned(&plan, "ipam_allocation.eks")["cidr"],
        "10.10.64.0/24"
    );
    w.tf(&["apply", "-no-color", "test.tfplan"]).ok();
    w.assert_no_changes();

    // A handle imported under another name than its entry is refused.
    w.tf(&["state", "rm", "ipam_allocation.eks"]).ok();
    w.tf(&[
        "import",
        "-no-color",
        "ipam_allocation.eks",
        &format!("{pool_id}/pods"),
    ])
    .ok();
    let out = w.tf(&["plan", "-no-color"]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("Entry is another allocation"),
        "{}",
        out.stderr
    );

    let out = w.tf(&["import", "-no-color", "ipam_allocation.pods", "no-slash"]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("Invalid import ID"), "{}", out.stderr);
}

/// Regression: replacing the pool gave it a new id, and the handle refused its entry at
/// apply time ("Entry is another allocation") although no block moved.
#[test]
fn replacing_the_pool_keeps_handles_whose_blocks_stay() {
    let w = Workdir::new(&config(24, false));
    w.apply();
    let before = w.resource("ipam_allocation.pods");
    w.tf(&[
        "apply",
        "-no-color",
        "-auto-approve",
        "-replace=ipam_pool.p",
    ])
    .ok();
    let after = w.resource("ipam_allocation.pods");
    assert_eq!(after["cidr"], before["cidr"]);
    assert_ne!(after["pool_id"], before["pool_id"]);
    w.assert_no_changes();
}
