//! Issue 27: the shared ledger through Terraform's own lifecycle. Each test failed on
//! the code before the fix, under real Terraform and a real PostgreSQL:
//! - case 1: create_before_destroy (set, or inherited) with `-replace` or taint
//!   emptied the ledger while the state kept the blocks;
//! - case 2: a plain `-replace` or taint failed half-way ("inconsistent final plan ...
//!   .claim"), leaving the blocks as reservations only;
//! - case 3: a second state in the same directory (or `state rm` and apply) adopted the
//!   existing owner silently;
//! - case 4: `-replace` from another runner was refused.
//!
//! After each: ledger = state (the owner's rows are exactly the state's blocks), the
//! next plan is empty, and another team's block overlaps nothing.
mod common;

use std::collections::BTreeMap;

use common::pg::cluster;
use common::shared::{assert_disjoint, flat, owner_body, pool_body, rows, Shared};

const OWNER: &str = "ipam_shared_allocations.mine";

fn body(lifecycle: &str) -> String {
    format!(
        r#"
resource "ipam_shared_allocations" "mine" {{
  pool     = "corp"
  owner    = "team-a"
  requests = {{
    vpc  = 24
    pods = {{ prefix_length = 22, grow_to = 21 }}
  }}
{lifecycle}
}}
"#
    )
}

/// A subnet-like resource that is create_before_destroy and depends on the owner:
/// Terraform forces create_before_destroy onto the owner too.
const INHERITED: &str = r#"
resource "ipam_shared_allocations" "mine" {
  pool     = "corp"
  owner    = "team-a"
  requests = {
    vpc  = 24
    pods = { prefix_length = 22, grow_to = 21 }
  }
}

resource "terraform_data" "subnet" {
  input = ipam_shared_allocations.mine.allocations["vpc"].cidr
  lifecycle {
    create_before_destroy = true
    replace_triggered_by  = [ipam_shared_allocations.mine]
  }
}
"#;

/// The owner's allocations in the ledger, by name.
fn ledger(db: &str, owner: &str) -> BTreeMap<String, String> {
    rows(db, &format!("owner = '{owner}' AND NOT reservation"))
        .into_iter()
        .map(|(_, n, c)| (n, c.to_string()))
        .collect()
}

/// Ledger = state, the next plan empty, and another team placed clear of the owner.
#[track_caller]
fn assert_kept(db: &str, s: &Shared, before: &BTreeMap<String, String>) {
    assert_eq!(&s.state_cidrs(OWNER), before, "the state's blocks moved");
    assert_eq!(&ledger(db, "team-a"), before, "ledger != state");
    s.assert_no_changes();
}

fn replace(s: &Shared, how: &str) {
    match how {
        "replace" => {
            s.tf(&[
                "apply",
                "-no-color",
                "-input=false",
                "-auto-approve",
                &format!("-replace={OWNER}"),
            ])
            .ok();
        }
        "taint" => {
            s.tf(&["taint", "-no-color", OWNER]).ok();
            s.apply();
        }
        _ => unreachable!(),
    }
}

fn setup(db: &str, body: &str) -> (Shared, BTreeMap<String, String>) {
    Shared::new(db, &pool_body("corp", "10.0.0.0/16")).apply();
    let s = Shared::new(db, body);
    s.apply();
    let before = s.state_cidrs(OWNER);
    assert_eq!(ledger(db, "team-a"), before);
    (s, before)
}

/// Another team's apply after the replacements gets a block clear of team-a's.
fn other_team_is_clear(db: &str) {
    let b = Shared::new(db, &owner_body("corp", "team-b", "    x = 24", None));
    b.apply();
    assert_disjoint(&rows(db, "NOT reservation"));
}

/// Case 1: create_before_destroy set on the owner, then `-replace` and taint.
#[test]
fn create_before_destroy_replace_and_taint_keep_the_blocks() {
    let db = cluster().new_database("life_cbd");
    let (s, before) = setup(
        &db,
        &body("  lifecycle {\n    create_before_destroy = true\n  }"),
    );
    for how in ["replace", "taint", "replace"] {
        replace(&s, how);
        assert_kept(&db, &s, &before);
    }
    other_team_is_clear(&db);
    assert_kept(&db, &s, &before);
}

/// Case 1, inherited: a create_before_destroy subnet whose replace_triggered_by names
/// the owner; `-replace` of the owner replaces both, in create-before-destroy order.
#[test]
fn inherited_create_before_destroy_keeps_the_blocks() {
    let db = cluster().new_database("life_cbd_inherited");
    let (s, before) = setup(&db, INHERITED);
    for how in ["replace", "taint"] {
        replace(&s, how);
        assert_kept(&db, &s, &before);
    }
    other_team_is_clear(&db);
}

/// Case 2: destroy-then-create (`-replace`, taint) ends with the same blocks.
#[test]
fn replace_and_taint_destroy_first_keep_the_blocks() {
    let db = cluster().new_database("life_replace");
    let (s, before) = setup(&db, &body(""));
    for how in ["replace", "taint"] {
        replace(&s, how);
        assert_kept(&db, &s, &before);
    }
    other_team_is_clear(&db);
    // A destroy still removes the owner.
    s.tf(&["destroy", "-no-color", "-input=false", "-auto-approve"])
        .ok();
    assert!(ledger(&db, "team-a").is_empty());
}

/// Case 4: the state's CI runs on another runner (another directory): `-replace`
/// from there keeps the blocks.
#[test]
fn replace_from_another_runner_keeps_the_blocks() {
    let db = cluster().new_database("life_runner");
    let (s, before) = setup(&db, &body(""));
    let runner = s.branch(&body(""));
    replace(&runner, "replace");
    assert_kept(&db, &runner, &before);
    let cbd = runner.branch(&body(
        "  lifecycle {\n    create_before_destroy = true\n  }",
    ));
    replace(&cbd, "taint");
    assert_kept(&db, &cbd, &before);
}

/// Case 3: a second state in the same directory (`-state`, as a second backend does),
/// and `terraform state rm` then apply, are refused at plan with the import command;
/// the import brings the owner back with its blocks (the recovery of a lost create).
#[test]
fn a_second_state_in_the_same_directory_is_refused() {
    let db = cluster().new_database("life_backend");
    let (s, before) = setup(&db, &body(""));
    let staging = s.tf(&[
        "plan",
        "-no-color",
        "-input=false",
        "-state=staging.tfstate",
    ]);
    assert_ne!(staging.code, 0, "{}", staging.stdout);
    let err = flat(&staging.stderr);
    assert!(err.contains("Owner already exists"), "{err}");
    assert!(
        err.contains("terraform import <address> corp/team-a"),
        "{err}"
    );
    let out = s.tf(&[
        "apply",
        "-no-color",
        "-input=false",
        "-auto-approve",
        "-state=staging.tfstate",
    ]);
    assert_ne!(out.code, 0, "{}", out.stdout);
    assert_eq!(ledger(&db, "team-a"), before);

    s.tf(&["state", "rm", OWNER]).ok();
    let err = s.plan_fails();
    assert!(err.contains("Owner already exists"), "{err}");
    s.tf(&["import", "-no-color", "-input=false", OWNER, "corp/team-a"])
        .ok();
    assert_kept(&db, &s, &before);
}

/// Case 5: renaming an owner in place (owner team-a -> team-c, a replacement) works in
/// one apply, in both orders; the old owner leaves the ledger. Before, the plan failed
/// with "Block taken by another owner ... of owner team-a", the owner being renamed.
#[test]
fn renaming_an_owner_works_in_one_apply() {
    let db = cluster().new_database("life_rename");
    for (owner_from, owner_to, lifecycle) in [
        ("team-a", "team-c", ""),
        (
            "team-c",
            "team-d",
            "  lifecycle {\n    create_before_destroy = true\n  }",
        ),
    ] {
        if owner_from == "team-a" {
            Shared::new(&db, &pool_body("corp", "10.0.0.0/16")).apply();
        }
        let s = Shared::new(&db, &body(lifecycle).replace("team-a", owner_from));
        if owner_from == "team-a" {
            s.apply();
        } else {
            s.tf(&["import", "-no-color", "-input=false", OWNER, "corp/team-c"])
                .ok();
        }
        s.config(&body(lifecycle).replace("team-a", owner_to));
        s.apply();
        assert!(ledger(&db, owner_from).is_empty(), "{owner_from} stayed");
        assert_eq!(ledger(&db, owner_to), s.state_cidrs(OWNER));
        s.assert_no_changes();
        assert_disjoint(&rows(&db, "NOT reservation"));
    }
}
