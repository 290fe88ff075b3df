//! The ledger lifecycle under real Terraform (docs/index.md, "The ledger over time"): no
//! perpetual diff, the whole address space as a pool, capacity, growth in place and
//! `grow_to` room, and release holds.

mod common;

use std::time::{Duration, SystemTime};

use common::{actions, cidrs, planned, Workdir};
use serde_json::Value as Json;

/// The pool of issue 7, which planned `utilization = 0.12745098039215683 ->
/// 0.12745098039215685` on every plan after apply.
const ISSUE_7: &str = r#"
resource "ipam_pool" "p" {
  cidrs    = ["10.0.0.0/16"]
  reserved = ["10.0.255.0/24"]
  allocations = {
    n00 = { prefix_length = 22 }
    n01 = { prefix_length = 20 }
    n02 = { prefix_length = 25 }
    n03 = { prefix_length = 24 }
    n04 = { prefix_length = 24 }
    n05 = { prefix_length = 23 }
    n06 = { prefix_length = 22 }
    n07 = { prefix_length = 22 }
  }
}
"#;

/// Regression: a computed float64 (`utilization`) came back from state as a longer
/// decimal and showed as a change on every plan.
#[test]
fn regression_float_utilization_was_a_perpetual_diff() {
    let w = Workdir::new(ISSUE_7);
    w.apply();
    w.assert_no_changes();
    let pool = w.resource("ipam_pool.p");
    // 8320 of 65280 addresses, rounded to 6 places and stored as that decimal.
    assert_eq!(pool["allocated_addresses"], "8320");
    assert_eq!(pool["utilization"].to_string(), "0.127451");
    // The second sequence of the issue: shrink one, add two, remove one.
    w.config(
        &ISSUE_7
            .replace(
                "n02 = { prefix_length = 25 }",
                "n02 = { prefix_length = 27 }",
            )
            .replace(
                "    n07 = { prefix_length = 22 }\n",
                "    n08 = { prefix_length = 26 }\n    n09 = { prefix_length = 21 }\n",
            ),
    );
    w.apply();
    w.assert_no_changes();
}

/// A state written by the provider's schema version 1 (float64 utilization, none of
/// the lifecycle figures) is upgraded in place: the next plan shows no changes.
#[test]
fn state_of_schema_version_1_upgrades_with_no_changes() {
    let w = Workdir::new(ISSUE_7);
    w.apply();
    let path = w.path().join("terraform.tfstate");
    let mut state: Json = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let inst = &mut state["resources"][0]["instances"][0];
    inst["schema_version"] = 1.into();
    let attrs = inst["attributes"].as_object_mut().unwrap();
    attrs.insert(
        "utilization".into(),
        serde_json::from_str("0.12745098039215683").unwrap(),
    );
    for k in ["capacity", "held_addresses", "released", "release_hold"] {
        attrs.remove(k);
    }
    for e in attrs["allocations"].as_object_mut().unwrap().values_mut() {
        let e = e.as_object_mut().unwrap();
        e.remove("grow_to");
        e.remove("growth_cidr");
    }
    std::fs::write(&path, serde_json::to_vec_pretty(&state).unwrap()).unwrap();
    w.assert_no_changes();
    w.apply();
    let pool = w.resource("ipam_pool.p");
    assert_eq!(pool["utilization"].to_string(), "0.127451");
    assert_eq!(pool["held_addresses"], "0");
}

#[test]
fn the_whole_address_space_is_a_pool() {
    let w = Workdir::new(
        r#"
resource "ipam_pool" "v4" {
  cidrs       = ["0.0.0.0/0"]
  allocations = { half = { prefix_length = 1 } }
}
resource "ipam_pool" "v6" {
  cidrs       = ["::/0"]
  allocations = { site = { prefix_length = 48 }, all_but = { prefix_length = 1 } }
}
"#,
    );
    w.apply();
    w.assert_no_changes();
    let v6 = w.resource("ipam_pool.v6");
    assert_eq!(
        v6["total_addresses"],
        "340282366920938463463374607431768211456"
    );
    // 2^127 + 2^80
    assert_eq!(
        v6["allocated_addresses"],
        "170141183460470440657506918345058811904"
    );
    assert_eq!(
        v6["allocations"]["site"]["address_count"],
        "1208925819614629174706176"
    );
    assert_eq!(v6["utilization"].to_string(), "0.5");
    let v4 = w.resource("ipam_pool.v4");
    assert_eq!(v4["total_addresses"], "4294967296");
    assert_eq!(v4["allocations"]["half"]["cidr"], "0.0.0.0/1");
}

#[test]
fn capacity_counts_how_many_more_blocks_fit() {
    let w = Workdir::new(
        r#"
resource "ipam_pool" "p" {
  cidrs       = ["10.0.0.0/24"]
  strategy    = "lowest"
  allocations = { a = { prefix_length = 25 }, b = { prefix_length = 27 } }
}
"#,
    );
    let after = planned(&w.plan_json(&[]), "ipam_pool.p");
    // Free: 10.0.0.160/27 and 10.0.0.192/26.
    assert_eq!(
        after["free_cidrs"],
        serde_json::json!(["10.0.0.160/27", "10.0.0.192/26"])
    );
    assert_eq!(after["largest_free_prefix_length"], 26);
    let cap = after["capacity"].as_object().unwrap();
    assert_eq!(cap.len(), 7, "{cap:?}"); // /26 through /32
    assert_eq!(cap["26"], "1");
    assert_eq!(cap["27"], "3");
    assert_eq!(cap["32"], "96");
    w.tf(&["apply", "-no-color", "test.tfplan"]).ok();
    w.assert_no_changes();
}

const GROW: &str = r#"
resource "ipam_pool" "p" {
  cidrs = ["10.0.0.0/16"]
  allocations = {
    nodes  = { prefix_length = NODES, grow_to = 20 }
    other  = { prefix_length = 24 }
    plain  = { prefix_length = 26 }
  }
}
resource "ipam_allocation" "nodes" {
  entry = ipam_pool.p.allocations["nodes"]
  cloud = "gcp"
}
"#;

/// A subnet grows twice without a move, as GCP's expandIpCidrRange requires: the
/// handle's guard (no `allow_move`) would fail the plan on any move.
#[test]
fn a_subnet_grows_twice_in_place() {
    let w = Workdir::new(&GROW.replace("NODES", "24"));
    w.apply();
    let before = w.resource("ipam_pool.p");
    let start = before["allocations"]["nodes"]["network_address"].clone();
    assert_eq!(
        before["allocations"]["nodes"]["growth_cidr"],
        format!("{}/20", start.as_str().unwrap())
    );
    // The room is held: 4096 - 256 addresses, neither allocated nor free.
    assert_eq!(before["held_addresses"], "3840");
    let others = cidrs(&before);
    for (prefix, count) in [("22", "1024"), ("20", "4096")] {
        w.config(&GROW.replace("NODES", prefix));
        let plan = w.plan_json(&[]);
        let after = planned(&plan, "ipam_pool.p");
        assert_eq!(
            after["allocations"]["nodes"]["network_address"], start,
            "moved growing to /{prefix}"
        );
        assert_eq!(after["allocations"]["nodes"]["address_count"], count);
        assert_eq!(actions(&plan, "ipam_allocation.nodes"), ["update"]);
        w.tf(&["apply", "-no-color", "test.tfplan"]).ok();
        w.assert_no_changes();
        let now = cidrs(&w.resource("ipam_pool.p"));
        assert_eq!(now["other"], others["other"]);
        assert_eq!(now["plain"], others["plain"]);
    }
    assert_eq!(w.resource("ipam_pool.p")["held_addresses"], "0");
    assert_eq!(
        w.resource("ipam_allocation.nodes")["cidr"],
        format!("{}/20", start.as_str().unwrap())
    );
}

/// Without `grow_to`, growth keeps the start when the larger block there is free.
#[test]
fn growth_without_grow_to_keeps_the_start_when_free() {
    let body = r#"
resource "ipam_pool" "p" {
  cidrs       = ["10.0.0.0/22"]
  strategy    = "lowest"
  allocations = { a = { prefix_length = A }, b = { prefix_length = 25 } }
}
"#;
    let w = Workdir::new(&body.replace("A", "25"));
    w.apply();
    assert_eq!(cidrs(&w.resource("ipam_pool.p"))["a"], "10.0.0.0/25");
    // b sits at 10.0.0.128/25, so a cannot grow to 10.0.0.0/24 and is placed anew...
    w.config(&body.replace("A", "24"));
    w.apply();
    let now = cidrs(&w.resource("ipam_pool.p"));
    assert_eq!(now["a"], "10.0.1.0/24");
    assert_eq!(now["b"], "10.0.0.128/25");
    // From 10.0.1.0/24, shrinking keeps the start, and growing back to the /24 there,
    // which is free, keeps it too.
    w.config(&body.replace("A", "25"));
    w.apply();
    assert_eq!(cidrs(&w.resource("ipam_pool.p"))["a"], "10.0.1.0/25");
    w.config(&body.replace("A", "24"));
    w.apply();
    assert_eq!(cidrs(&w.resource("ipam_pool.p"))["a"], "10.0.1.0/24");
    w.assert_no_changes();
}

fn time_of(v: &Json) -> SystemTime {
    humantime::parse_rfc3339(v.as_str().unwrap_or_else(|| panic!("not a timestamp: {v}"))).unwrap()
}

const HOLD: &str = r#"
resource "ipam_pool" "p" {
  cidrs        = ["10.0.0.0/24"]
  strategy     = "lowest"
  release_hold = "HOLD"
  allocations = {
ENTRIES  }
}
"#;

fn hold_config(hold: &str, entries: &[(&str, u8)]) -> String {
    let e: String = entries
        .iter()
        .map(|(n, p)| format!("    {n} = {{ prefix_length = {p} }}\n"))
        .collect();
    HOLD.replace("HOLD", hold).replace("ENTRIES", &e)
}

/// A removed allocation's block is held: not handed to anyone else, recoverable by
/// name, no diff while held; removing `release_hold` drops every hold.
#[test]
fn release_hold_keeps_a_removed_block_out_of_reuse() {
    let w = Workdir::new(&hold_config("720h", &[("a", 26), ("b", 26)]));
    w.apply();
    let b = cidrs(&w.resource("ipam_pool.p"))["b"].clone();
    assert_eq!(b, "10.0.0.64/26");

    // Remove b: it moves to `released`, its stamps unknown at plan and set at apply.
    w.config(&hold_config("720h", &[("a", 26)]));
    let plan = w.plan_json(&[]);
    let rc = plan["resource_changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["address"] == "ipam_pool.p")
        .unwrap();
    assert_eq!(rc["change"]["after"]["released"]["b"]["cidr"], b.as_str());
    assert_eq!(
        rc["change"]["after_unknown"]["released"]["b"]["hold_until"],
        true
    );
    let before_apply = SystemTime::now() - Duration::from_secs(1);
    w.tf(&["apply", "-no-color", "test.tfplan"]).ok();
    let pool = w.resource("ipam_pool.p");
    let released = &pool["released"]["b"];
    let (at, until) = (
        time_of(&released["released_at"]),
        time_of(&released["hold_until"]),
    );
    assert!(
        at >= before_apply && at <= SystemTime::now(),
        "released_at {released}"
    );
    assert_eq!(
        until.duration_since(at).unwrap(),
        Duration::from_secs(720 * 3600)
    );
    assert_eq!(pool["held_addresses"], "64");
    assert_eq!(pool["allocated_addresses"], "64");
    // Inside the hold, with nothing changed: an empty plan.
    w.assert_no_changes();

    // A new allocation does not get the held block, even with `lowest`.
    w.config(&hold_config("720h", &[("a", 26), ("c", 26)]));
    w.apply();
    assert_eq!(cidrs(&w.resource("ipam_pool.p"))["c"], "10.0.0.128/26");
    w.assert_no_changes();

    // Re-adding the name gets the same block back and ends its hold.
    w.config(&hold_config("720h", &[("a", 26), ("b", 26), ("c", 26)]));
    w.apply();
    let pool = w.resource("ipam_pool.p");
    assert_eq!(cidrs(&pool)["b"], b);
    assert_eq!(pool["released"], serde_json::json!({}));
    w.assert_no_changes();

    // Removing release_hold drops every hold at once.
    w.config(&hold_config("720h", &[("a", 26)]));
    w.apply();
    assert_eq!(w.resource("ipam_pool.p")["held_addresses"], "128");
    let no_hold = hold_config("720h", &[("a", 26)]).replace("  release_hold = \"720h\"\n", "");
    w.config(&no_hold);
    w.apply();
    let pool = w.resource("ipam_pool.p");
    assert_eq!(pool["released"], serde_json::json!({}));
    assert_eq!(pool["free_addresses"], "192");
    w.assert_no_changes();
}

/// After the hold the first refresh frees the block, with no plan diff, and it can be
/// handed out again. Time never enters a plan: the stamps are set at apply.
#[test]
fn a_hold_expires_at_the_first_refresh_after_it() {
    let w = Workdir::new(&hold_config("3s", &[("a", 26), ("b", 26)]));
    w.apply();
    w.config(&hold_config("3s", &[("a", 26)]));
    w.apply();
    let pool = w.resource("ipam_pool.p");
    let until = time_of(&pool["released"]["b"]["hold_until"]);
    // With -refresh=false nothing expires, whatever the time.
    while SystemTime::now() <= until + Duration::from_millis(200) {
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = w.tf(&["plan", "-no-color", "-refresh=false", "-detailed-exitcode"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    // The refresh drops the expired hold; the plan itself is empty.
    w.assert_no_changes();
    w.tf(&["apply", "-no-color", "-auto-approve", "-refresh-only"])
        .ok();
    let pool = w.resource("ipam_pool.p");
    assert_eq!(pool["released"], serde_json::json!({}));
    assert_eq!(pool["held_addresses"], "0");
    // The freed block is handed out again.
    w.config(&hold_config("3s", &[("a", 26), ("c", 26)]));
    w.apply();
    assert_eq!(cidrs(&w.resource("ipam_pool.p"))["c"], "10.0.0.64/26");
    w.assert_no_changes();
}

/// The handle of a removed entry fails as it always has: the entry is gone from the
/// pool's map, hold or not.
#[test]
fn a_handle_on_a_released_entry_still_fails_its_plan() {
    let handle =
        "\nresource \"ipam_allocation\" \"b\" {\n  entry = ipam_pool.p.allocations[\"b\"]\n}\n";
    let w = Workdir::new(&(hold_config("720h", &[("a", 26), ("b", 26)]) + handle));
    w.apply();
    w.config(&(hold_config("720h", &[("a", 26)]) + handle));
    let out = w.tf(&["plan", "-no-color"]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("Invalid index"), "{}", out.stderr);
    // Remove the handle with the entry: the block is held, the handle forgotten.
    w.config(&hold_config("720h", &[("a", 26)]));
    w.apply();
    assert_eq!(
        w.resource("ipam_pool.p")["released"]["b"]["cidr"],
        "10.0.0.64/26"
    );
    w.assert_no_changes();
}
