//! The shared ledger end to end: real Terraform drives the provider against a real
//! PostgreSQL (a private cluster, `common/pg.rs`), many states at once.
mod common;

use std::collections::BTreeMap;

use common::pg::{cluster, OWNER_PASSWORD};
use common::shared::{assert_disjoint, owner_body, pool_body, rows, Shared};
use common::{cidrs, Workdir};
use ipnet::IpNet;

#[test]
fn a_pool_and_two_owners_in_one_configuration_apply_in_one_run() {
    let db = cluster().new_database("e2e_one");
    let s = Shared::new(
        &db,
        r#"
resource "ipam_shared_pool" "corp" {
  name     = "corp"
  cidrs    = ["10.0.0.0/8"]
  reserved = ["10.255.0.0/16"]
}

resource "ipam_shared_allocations" "team_a" {
  pool  = ipam_shared_pool.corp.id
  owner = "team-a"
  allocations = {
    gke-eu = { prefix_length = 16, description = "GKE europe-west1" }
    gke-us = { prefix_length = 14 }
  }
}

resource "ipam_shared_allocations" "team_b" {
  pool  = ipam_shared_pool.corp.id
  owner = "team-b"
  allocations = {
    eks = { prefix_length = 16, grow_to = 14 }
  }
}

resource "ipam_allocation" "gke_eu" {
  entry = ipam_shared_allocations.team_a.allocations["gke-eu"]
}

data "ipam_shared_pool" "corp" {
  name       = ipam_shared_pool.corp.id
  depends_on = [ipam_shared_allocations.team_a, ipam_shared_allocations.team_b]
}

output "gke_eu" {
  value = ipam_allocation.gke_eu.cidr
}

output "owners_seen" {
  value = sort(keys(data.ipam_shared_pool.corp.allocations))
}
"#,
    );
    let out = s.apply();
    assert!(
        out.stdout.contains("Apply complete! Resources: 4 added"),
        "{}",
        out.stdout
    );
    s.assert_no_changes();
    let a = cidrs(&s.resource("ipam_shared_allocations.team_a"));
    let b = cidrs(&s.resource("ipam_shared_allocations.team_b"));
    assert_eq!(a.len(), 2);
    assert_eq!(b.len(), 1);
    let all = rows(&db, "NOT reservation");
    assert_eq!(all.len(), 3);
    assert_disjoint(&all);
    assert!(all
        .iter()
        .all(|r| !"10.255.0.0/16".parse::<IpNet>().unwrap().contains(&r.2)));
    // The handle and the data source see the same ledger.
    let outputs = s.tf(&["output", "-json"]).ok().json();
    assert_eq!(outputs["gke_eu"]["value"], a["gke-eu"].as_str());
    assert_eq!(
        outputs["owners_seen"]["value"],
        serde_json::json!(["team-a/gke-eu", "team-a/gke-us", "team-b/eks"])
    );
    // team-b's growth room is held against everyone.
    let room = s.resource("ipam_shared_allocations.team_b")["allocations"]["eks"]["growth_cidr"]
        .as_str()
        .unwrap()
        .parse::<IpNet>()
        .unwrap();
    assert_eq!(room.prefix_len(), 14);
    // Pool figures count every owner (the pool was created before its owners: the
    // refresh brings its figures up to date, with no change to plan).
    s.tf(&[
        "apply",
        "-refresh-only",
        "-no-color",
        "-input=false",
        "-auto-approve",
    ])
    .ok();
    let pool = s.resource("ipam_shared_pool.corp");
    let allocated: u64 = pool["allocated_addresses"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(allocated, 65536 * 2 + 262144);
    // Destroying everything removes the rows and the pool.
    s.tf(&["destroy", "-no-color", "-input=false", "-auto-approve"])
        .ok();
    assert_eq!(cluster().psql(&db, "SELECT count(*) FROM ipam.blocks"), "0");
    assert_eq!(cluster().psql(&db, "SELECT count(*) FROM ipam.pools"), "0");
}

#[test]
fn six_states_apply_at_the_same_time_with_no_overlap_and_empty_replans() {
    let db = cluster().new_database("e2e_many");
    let network = Shared::new(&db, &pool_body("corp", "10.0.0.0/12"));
    network.apply();
    let owners: Vec<Shared> = (0..6)
        .map(|i| {
            Shared::new(
                &db,
                &owner_body(
                    "corp",
                    &format!("team-{i}"),
                    "    nodes = { prefix_length = 20 }\n    pods = { prefix_length = 16 }\n    svc = { prefix_length = 22 }",
                    None,
                ),
            )
        })
        .collect();
    std::thread::scope(|scope| {
        for o in &owners {
            scope.spawn(move || {
                o.apply();
            });
        }
    });
    let all = rows(&db, "NOT reservation");
    assert_eq!(all.len(), 18);
    assert_disjoint(&all);
    assert_eq!(
        cluster().psql(&db, "SELECT count(*) FROM ipam.blocks WHERE reservation"),
        "0"
    );
    for o in &owners {
        o.assert_no_changes();
    }
    // Each state's view agrees with the database.
    for (i, o) in owners.iter().enumerate() {
        let state = cidrs(&o.resource("ipam_shared_allocations.mine"));
        let db_rows: BTreeMap<String, String> = all
            .iter()
            .filter(|r| r.0 == format!("team-{i}"))
            .map(|r| (r.1.clone(), r.2.to_string()))
            .collect();
        assert_eq!(state, db_rows);
    }
    network.assert_no_changes();
}

#[test]
fn a_plan_never_applied_holds_its_blocks_until_its_reservations_expire() {
    let db = cluster().new_database("e2e_resv");
    Shared::new(&db, &pool_body("corp", "10.0.0.0/16")).apply();
    let alloc = "    subnet = { prefix_length = 24 }";
    let a = Shared::new(&db, &owner_body("corp", "team-a", alloc, Some("4s")));
    let b = Shared::new(&db, &owner_body("corp", "team-b", alloc, Some("1h")));
    let shown_a = a.planned_cidrs("ipam_shared_allocations.mine");
    let shown_b = b.planned_cidrs("ipam_shared_allocations.mine");
    assert_ne!(
        shown_a["subnet"], shown_b["subnet"],
        "two plans showed one block"
    );
    // The same owner's next plan replaces its own reservations (and shows the same).
    let again = a.planned_cidrs("ipam_shared_allocations.mine");
    assert_eq!(again, shown_a);
    assert_eq!(rows(&db, "reservation AND owner = 'team-a'").len(), 1);
    // After team-a's reservations expire, its block is free again: team-c gets it.
    std::thread::sleep(std::time::Duration::from_secs(5));
    let c = Shared::new(&db, &owner_body("corp", "team-c", alloc, None));
    let shown_c = c.planned_cidrs("ipam_shared_allocations.mine");
    assert_eq!(shown_c["subnet"], shown_a["subnet"]);
    // team-b's plan, applied, gets what it showed.
    b.apply();
    assert_eq!(cidrs(&b.resource("ipam_shared_allocations.mine")), shown_b);
}

#[test]
fn drift_is_restored_at_the_same_block_and_the_pool_guard_names_owners() {
    let db = cluster().new_database("e2e_drift");
    let net = Shared::new(&db, &pool_body("corp", "10.0.0.0/16"));
    net.apply();
    let a = Shared::new(
        &db,
        &owner_body(
            "corp",
            "team-a",
            "    web = { prefix_length = 24 }\n    db = { prefix_length = 26 }",
            None,
        ),
    );
    a.apply();
    let before = cidrs(&a.resource("ipam_shared_allocations.mine"));
    cluster().psql(
        &db,
        "DELETE FROM ipam.blocks WHERE owner = 'team-a' AND name = 'web'",
    );
    let plan = a.tf(&["plan", "-no-color", "-input=false", "-detailed-exitcode"]);
    assert_eq!(
        plan.code, 2,
        "the deleted row shows as a change:\n{}",
        plan.stdout
    );
    assert!(plan.stdout.contains("web"), "{}", plan.stdout);
    a.apply();
    assert_eq!(cidrs(&a.resource("ipam_shared_allocations.mine")), before);
    assert_eq!(
        rows(&db, "owner = 'team-a' AND name = 'web'")[0]
            .2
            .to_string(),
        before["web"]
    );
    a.assert_no_changes();

    // The pool cannot lose a CIDR in use, nor be destroyed, while team-a holds blocks.
    net.config(&pool_body("corp", "10.1.0.0/16"));
    let out = net.tf(&["apply", "-no-color", "-input=false", "-auto-approve"]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("team-a/web"), "{}", out.stderr);
    net.config(&pool_body("corp", "10.0.0.0/16"));
    let out = net.tf(&["destroy", "-no-color", "-input=false", "-auto-approve"]);
    assert_ne!(out.code, 0);
    let flat = out.stderr.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(flat.contains("owner \"team-a\": db"), "{}", out.stderr);
    // Destroying the owner frees its rows; then the pool goes.
    a.tf(&["destroy", "-no-color", "-input=false", "-auto-approve"])
        .ok();
    assert!(rows(&db, "owner = 'team-a'").is_empty());
    net.tf(&["destroy", "-no-color", "-input=false", "-auto-approve"])
        .ok();
}

#[test]
fn import_an_owner_and_a_pool_by_name() {
    let db = cluster().new_database("e2e_import");
    let first = Shared::new(
        &db,
        &format!(
            "{}\n{}",
            pool_body("corp", "10.0.0.0/16"),
            owner_body("corp", "team-a", "    web = { prefix_length = 24 }", None)
        )
        .replace(
            "pool        = \"corp\"",
            "pool        = ipam_shared_pool.p.id",
        ),
    );
    first.apply();
    let want = cidrs(&first.resource("ipam_shared_allocations.mine"));
    // A second state takes over both by import, and plans no change.
    let second = Shared::new(
        &db,
        &format!(
            "{}\n{}",
            pool_body("corp", "10.0.0.0/16"),
            owner_body("corp", "team-a", "    web = { prefix_length = 24 }", None)
        )
        .replace(
            "pool        = \"corp\"",
            "pool        = ipam_shared_pool.p.id",
        ),
    );
    second
        .tf(&[
            "import",
            "-no-color",
            "-input=false",
            "ipam_shared_pool.p",
            "corp",
        ])
        .ok();
    second
        .tf(&[
            "import",
            "-no-color",
            "-input=false",
            "ipam_shared_allocations.mine",
            "corp/team-a",
        ])
        .ok();
    second.assert_no_changes();
    assert_eq!(
        cidrs(&second.resource("ipam_shared_allocations.mine")),
        want
    );
    let bad = second.tf(&[
        "import",
        "-no-color",
        "-input=false",
        "ipam_shared_allocations.mine",
        "nope",
    ]);
    assert!(bad.stderr.contains("not pool/owner"), "{}", bad.stderr);
}

#[test]
fn faults_give_clean_diagnostics_and_write_nothing() {
    let db = cluster().new_database("e2e_faults");
    // A literal name of a pool that does not exist says what to write instead.
    let s = Shared::new(
        &db,
        &owner_body("nosuch", "team-a", "    web = { prefix_length = 24 }", None),
    );
    let out = s.tf(&["plan", "-no-color", "-input=false"]);
    assert_ne!(out.code, 0);
    let flat = out.stderr.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(flat.contains("no pool named \"nosuch\""), "{}", out.stderr);
    assert!(
        flat.contains("ipam_shared_pool.<name>.id"),
        "{}",
        out.stderr
    );
    // A second state cannot create an owner another state already manages.
    Shared::new(&db, &pool_body("taken", "10.0.0.0/16")).apply();
    let first = Shared::new(
        &db,
        &owner_body("taken", "team-a", "    web = { prefix_length = 24 }", None),
    );
    first.apply();
    let second = Shared::new(
        &db,
        &owner_body("taken", "team-a", "    db = { prefix_length = 24 }", None),
    );
    let out = second.tf(&["plan", "-no-color", "-input=false"]);
    assert_ne!(out.code, 0);
    let flat = out.stderr.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        flat.contains("owner \"team-a\" of pool \"taken\" already exists (created from ")
            && flat.contains("another Terraform state manages it"),
        "{}",
        out.stderr
    );
    assert!(
        flat.contains("terraform import <address> taken/team-a"),
        "{}",
        out.stderr
    );
    first
        .tf(&["destroy", "-no-color", "-input=false", "-auto-approve"])
        .ok();
    cluster().psql(
        &db,
        "DELETE FROM ipam.blocks; DELETE FROM ipam.owners; DELETE FROM ipam.pools",
    );
    // A wrong password.
    let mut wrong = Shared::new(&db, &pool_body("corp", "10.0.0.0/16"));
    wrong.set_url(cluster().url(&db).replace(OWNER_PASSWORD, "wrong-Pa55"));
    let out = wrong.tf(&["plan", "-no-color", "-input=false"]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("password authentication failed"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("wrong-Pa55"), "{}", out.stderr);
    // An unreachable database.
    let mut gone = Shared::new(&db, &pool_body("corp", "10.0.0.0/16"));
    gone.set_url(format!(
        "postgresql://ipam_owner:{OWNER_PASSWORD}@%2Fnonexistent%2Fsocket/x?connect_timeout=2"
    ));
    let out = gone.tf(&["plan", "-no-color", "-input=false"]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("could not connect to the database"),
        "{}",
        out.stderr
    );
    // No database configured at all: the shared resources say how to configure one.
    let none = Workdir::new(&pool_body("corp", "10.0.0.0/16"));
    let out = none.tf_env(
        &["plan", "-no-color", "-input=false"],
        &[("IPAM_DATABASE_URL", "")],
    );
    assert_ne!(out.code, 0);
    let flat = out.stderr.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        flat.contains("set database_url in the provider block"),
        "{}",
        out.stderr
    );
    // Nothing was written by any of them.
    assert_eq!(cluster().psql(&db, "SELECT count(*) FROM ipam.pools"), "0");
    assert_eq!(cluster().psql(&db, "SELECT count(*) FROM ipam.blocks"), "0");
}

/// The documented limit (docs/guides/shared-ledger.md): a saved plan applied after its reservations expired and
/// another state took its block meets Terraform's "inconsistent final plan" (the plan
/// made again in the apply cannot give the saved block), and nothing is written.
#[test]
fn a_saved_plan_whose_reservations_expired_and_were_taken_fails_cleanly() {
    let db = cluster().new_database("e2e_saved");
    Shared::new(&db, &pool_body("corp", "10.0.0.0/16")).apply();
    let alloc = "    subnet = { prefix_length = 24 }";
    let a = Shared::new(&db, &owner_body("corp", "team-a", alloc, Some("2s")));
    let shown = a.planned_cidrs("ipam_shared_allocations.mine");
    std::thread::sleep(std::time::Duration::from_secs(3));
    let b = Shared::new(&db, &owner_body("corp", "team-b", alloc, None));
    b.apply();
    assert_eq!(cidrs(&b.resource("ipam_shared_allocations.mine")), shown);
    let out = a.tf(&["apply", "-no-color", "-input=false", "test.tfplan"]);
    assert_ne!(out.code, 0);
    let flat = out.stderr.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        flat.contains("Provider produced inconsistent final plan"),
        "{}",
        out.stderr
    );
    assert!(rows(&db, "owner = 'team-a' AND NOT reservation").is_empty());
    // Planning again gives team-a another block, and it applies.
    a.apply();
    let got = cidrs(&a.resource("ipam_shared_allocations.mine"));
    assert_ne!(got, shown);
    assert_disjoint(&rows(&db, "NOT reservation"));
}
