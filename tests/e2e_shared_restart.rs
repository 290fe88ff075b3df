//! The database restarted under the shared ledger (`pg_ctl restart`), in a test binary
//! of its own: the restart drops every connection of the cluster, which the other
//! shared-ledger tests, running beside each other, must not see.
mod common;

use common::pg::cluster;
use common::shared::{owner_body, pool_body, rows, Shared};
use ipam::store::{Claim, PoolDef, Store};

const OWNER: &str = "ipam_shared_allocations.mine";

/// Between plan and apply, and between two calls of one provider process: the saved
/// plan applies, the reused connection is replaced once, and nothing is lost.
#[test]
fn a_restarted_database_loses_nothing_and_the_next_call_reconnects() {
    let db = cluster().new_database("restart");
    Shared::new(&db, &pool_body("corp", "10.0.0.0/16")).apply();
    let s = Shared::new(&db, &owner_body("corp", "team-a", "    vpc = 24", None));
    s.apply();
    s.config(&owner_body(
        "corp",
        "team-a",
        "    vpc = 24\n    db = { prefix_length = 25 }",
        None,
    ));
    s.tf(&["plan", "-no-color", "-input=false", "-out=p.tfplan"])
        .ok();
    cluster().restart();
    s.tf(&["apply", "-no-color", "-input=false", "p.tfplan"])
        .ok();
    let held = s.state_cidrs(OWNER);
    assert_eq!(held.len(), 2);
    assert_eq!(rows(&db, "NOT reservation").len(), 2);
    s.assert_no_changes();

    // One store, one connection: a restart between two calls costs one reconnect.
    let store = Store::new(&cluster().url(&db)).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let def = PoolDef {
        name: "other".into(),
        cidrs: vec!["10.9.0.0/16".parse().unwrap()],
        reserved: vec![],
        settings: serde_json::json!({}),
        access: Default::default(),
    };
    rt.block_on(store.create_pool(&def)).unwrap();
    cluster().restart();
    let snap = rt.block_on(store.snapshot("other")).unwrap();
    assert!(snap.def.is_some());
    let claim = Claim::New {
        origin: "restart-test".into(),
    };
    rt.block_on(store.apply_owner(
        "other",
        "team-b",
        &claim,
        &[],
        std::time::Duration::from_secs(60),
    ))
    .unwrap();
}
