//! The shared ledger as a platform team runs it (issue 16): pull-request plans that are
//! never applied, one owner per state, pool edits under other owners' blocks, a silent
//! database, a held lock, a planted function, a wrong database, least-privilege roles.
//! Each test is a reproduction that failed on the code before the fix, under real
//! Terraform and a real PostgreSQL.
mod common;

use std::time::{Duration, Instant};

use common::pg::cluster;
use common::shared::{assert_disjoint, flat, owner_body, pool_body, rows, Shared};
use common::Workdir;

const OWNER: &str = "ipam_shared_allocations.mine";

/// Issue 16, case 1: a pull request's plan (a -> /23) is abandoned; main's plan of the
/// unchanged configuration stays empty and no applied block ever moves. A second pull
/// request plans beside it; the first one, merged, gets the block its plan showed.
#[test]
fn abandoned_pull_request_plans_never_renumber_main() {
    let db = cluster().new_database("trust_pr");
    Shared::new(&db, &pool_body("corp", "10.0.0.0/16")).apply();
    let two = "    a = 24\n    b = 24";
    let main = Shared::new(&db, &owner_body("corp", "team-a", two, None));
    main.apply();
    let applied = main.state_cidrs(OWNER);
    assert_eq!(applied["a"], "10.0.0.0/24");

    let pr1_body = "    a = 23\n    b = 24";
    let pr1 = main.branch(&owner_body("corp", "team-a", pr1_body, None));
    let pr1_plan = pr1.planned_cidrs(OWNER);
    assert_ne!(pr1_plan["a"], applied["a"]);
    let pr2_body = "    a = 24\n    b = 24\n    c = { prefix_length = 22 }";
    let pr2 = main.branch(&owner_body("corp", "team-a", pr2_body, None));
    let pr2_plan = pr2.planned_cidrs(OWNER);
    // Side by side: the two open plans do not share a block.
    let a23: ipnet::IpNet = pr1_plan["a"].parse().unwrap();
    let c22: ipnet::IpNet = pr2_plan["c"].parse().unwrap();
    assert!(!a23.contains(&c22.network()) && !c22.contains(&a23.network()));
    for _ in 0..2 {
        main.assert_no_changes();
        pr1.planned_cidrs(OWNER);
    }
    assert_eq!(main.state_cidrs(OWNER), applied);
    // The first pull request merges: main gets the block its plan showed.
    main.config(&owner_body("corp", "team-a", pr1_body, None));
    main.apply();
    assert_eq!(main.state_cidrs(OWNER)["a"], pr1_plan["a"]);
    assert_eq!(main.state_cidrs(OWNER)["b"], applied["b"]);
    main.assert_no_changes();
}

/// Issue 16, case 2: state A creates owner team-x with no allocations; state B's
/// create of team-x is refused at plan, and at apply when its plan came first.
#[test]
fn one_owner_lives_in_one_state_even_with_no_allocations() {
    let db = cluster().new_database("trust_owner");
    Shared::new(&db, &pool_body("corp", "10.0.0.0/16")).apply();
    let a = Shared::new(&db, &owner_body("corp", "team-x", "", None));
    let b = Shared::new(
        &db,
        &owner_body("corp", "team-x", "    vpc = { prefix_length = 24 }", None),
    );
    // B plans first (a saved plan), then A creates the owner, then B applies.
    b.tf(&["plan", "-no-color", "-input=false", "-out=b.tfplan"])
        .ok();
    a.apply();
    let out = b.tf(&["apply", "-no-color", "-input=false", "b.tfplan"]);
    assert_ne!(out.code, 0, "{}", out.stdout);
    assert!(
        flat(&out.stderr).contains("already exists"),
        "{}",
        out.stderr
    );
    let err = b.plan_fails();
    assert!(err.contains("Owner already exists"), "{err}");
    assert!(
        err.contains("terraform import <address> corp/team-x"),
        "{err}"
    );
    // A adds a block; nothing of B's is in the ledger, and nothing overlaps.
    a.config(&owner_body(
        "corp",
        "team-x",
        "    db = { prefix_length = 24 }",
        None,
    ));
    a.apply();
    let all = rows(&db, "NOT reservation");
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0].1, "db");
}

/// Import moves the owner; the state it left is told at its next plan and writes
/// nothing, and a destroy from there is refused too.
#[test]
fn import_moves_the_owner_and_the_old_state_can_no_longer_write() {
    let db = cluster().new_database("trust_import");
    Shared::new(&db, &pool_body("corp", "10.0.0.0/16")).apply();
    let body = owner_body("corp", "team-x", "    vpc = { prefix_length = 24 }", None);
    let old = Shared::new(&db, &body);
    old.apply();
    let new = Shared::new(&db, &body);
    new.tf(&["import", "-no-color", "-input=false", OWNER, "corp/team-x"])
        .ok();
    new.assert_no_changes();
    let err = old.plan_fails();
    assert!(err.contains("Owner moved to another state"), "{err}");
    assert!(err.contains("terraform state rm"), "{err}");
    let out = old.tf(&["destroy", "-no-color", "-input=false", "-auto-approve"]);
    assert_ne!(out.code, 0);
    assert_eq!(rows(&db, "owner = 'team-x' AND NOT reservation").len(), 1);
    new.assert_no_changes();
}

/// A create whose rows were committed but whose state was never written (the provider
/// killed after the commit) is refused at the next plan, from the same directory too
/// (issue 27: adoption by origin let a second backend or `state rm` take a live
/// owner); `terraform import` brings it back with its blocks.
#[test]
fn a_committed_create_whose_state_was_lost_is_recovered_by_import() {
    let db = cluster().new_database("trust_adopt");
    Shared::new(&db, &pool_body("corp", "10.0.0.0/16")).apply();
    let s = Shared::new(&db, &owner_body("corp", "team-a", "    vpc = 24", None));
    s.apply();
    let before = s.state_cidrs(OWNER);
    // What a kill -9 between the commit and Terraform's state write leaves behind.
    s.tf(&["state", "rm", OWNER]).ok();
    let err = s.plan_fails();
    assert!(err.contains("Owner already exists"), "{err}");
    assert!(
        err.contains("terraform import <address> corp/team-a"),
        "{err}"
    );
    s.tf(&["import", "-no-color", "-input=false", OWNER, "corp/team-a"])
        .ok();
    assert_eq!(s.state_cidrs(OWNER), before);
    s.assert_no_changes();
    // Another directory is still refused.
    let other = Shared::new(&db, &owner_body("corp", "team-a", "    vpc = 24", None));
    assert!(other.plan_fails().contains("Owner already exists"));
}

/// Issue 16, case 3: a pool edit over an owner's growth room, or over a live plan
/// reservation, is refused naming the owner and entry.
#[test]
fn pool_edits_respect_growth_room_and_live_reservations() {
    let db = cluster().new_database("trust_pool_edit");
    let network = Shared::new(&db, &pool_body("corp", "10.3.0.0/16"));
    network.apply();
    let team = Shared::new(
        &db,
        &owner_body(
            "corp",
            "team-a",
            "    gke = { prefix_length = 24, grow_to = 22 }",
            None,
        ),
    );
    team.apply();
    assert_eq!(team.state_cidrs(OWNER)["gke"], "10.3.0.0/24");
    let reserve = |r: &str| {
        format!(
            r#"
resource "ipam_shared_pool" "p" {{
  name     = "corp"
  cidrs    = ["10.3.0.0/16"]
  reserved = ["{r}"]
}}
"#
        )
    };
    network.config(&reserve("10.3.2.0/24"));
    let err = network.plan_fails();
    assert!(
        err.contains("team-a/gke (10.3.0.0/24, growth room 10.3.0.0/22)"),
        "{err}"
    );
    // Past plan: the store refuses as well (a saved plan made before the owner's).
    network.config(&pool_body("corp", "10.3.0.0/16"));
    let pr = Shared::new(
        &db,
        &owner_body("corp", "team-b", "    eks = { prefix_length = 20 }", None),
    );
    let planned = pr.planned_cidrs(OWNER);
    network.config(&reserve(&planned["eks"]));
    let err = network.plan_fails();
    assert!(
        err.contains(&format!(
            "team-b/eks (plan reservation of {})",
            planned["eks"]
        )),
        "{err}"
    );
    team.assert_no_changes();
}

/// Transactions pin READ COMMITTED and take the lock before they read: with the
/// database's default at repeatable read, a pool shrink that waited for the lock still
/// sees the allocation committed while it waited.
#[test]
fn a_repeatable_read_default_does_not_let_a_shrink_pass_a_concurrent_allocation() {
    let db = cluster().new_database("trust_isolation");
    cluster().psql(
        &db,
        &format!("ALTER DATABASE {db} SET default_transaction_isolation = 'repeatable read'"),
    );
    let network = Shared::new(&db, &pool_body("corp", "10.4.0.0/16"));
    network.apply();
    // Another session holds the pool's lock while it commits an allocation in the
    // half of the pool the network team is about to remove.
    let holder = {
        let db = db.clone();
        std::thread::spawn(move || {
            cluster().psql(
                &db,
                "BEGIN;
                 SELECT pg_advisory_xact_lock(hashtextextended('ipam.pool:corp', 0::int8));
                 INSERT INTO ipam.owners (pool, owner) VALUES ('corp', 'team-z');
                 INSERT INTO ipam.blocks (pool, owner, name, reservation, cidr, span, request)
                      VALUES ('corp', 'team-z', 'late', false, '10.4.200.0/24', '10.4.200.0/24', '{}');
                 SELECT pg_sleep(3);
                 COMMIT;",
            )
        })
    };
    std::thread::sleep(Duration::from_millis(800));
    network.config(&pool_body("corp", "10.4.0.0/17"));
    // Saved before the allocation commits: the plan-time check could not see it.
    let out = network.tf(&["apply", "-no-color", "-input=false", "-auto-approve"]);
    holder.join().unwrap();
    assert_ne!(out.code, 0, "the shrink passed:\n{}", out.stdout);
    assert!(flat(&out.stderr).contains("team-z"), "{}", out.stderr);
}

/// Issue 16, case 4: a database that accepts TCP and never answers fails within the
/// connect bound, and a held pool lock fails within lock_timeout, naming its holder.
#[test]
fn a_silent_database_and_a_held_lock_fail_within_their_bounds() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let _keep = std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming() {
            held.push(s);
        }
    });
    let mut silent = Shared::new("unused", &pool_body("corp", "10.0.0.0/16"));
    silent.set_url(format!(
        "host=127.0.0.1 port={port} dbname=x user=u password=pw connect_timeout=2"
    ));
    let t = Instant::now();
    let err = silent.plan_fails();
    assert!(t.elapsed() < Duration::from_secs(30), "{:?}", t.elapsed());
    assert!(err.contains("no answer within 2s"), "{err}");

    let db = cluster().new_database("trust_lock");
    Shared::new(&db, &pool_body("corp", "10.0.0.0/16")).apply();
    let holder = {
        let db = db.clone();
        std::thread::spawn(move || {
            cluster().psql(
                &db,
                "SET application_name = 'network-team-maintenance';
                 BEGIN;
                 SELECT pg_advisory_xact_lock(hashtextextended('ipam.pool:corp', 0::int8));
                 SELECT pg_sleep(8);
                 COMMIT;",
            )
        })
    };
    std::thread::sleep(Duration::from_millis(800));
    let provider = "provider \"ipam\" {\n  lock_timeout = \"2s\"\n}\n";
    let waiting = Shared::new(
        &db,
        &format!(
            "{provider}{}",
            owner_body("corp", "team-a", "    vpc = 24", None)
        ),
    );
    let t = Instant::now();
    let err = waiting.plan_fails();
    assert!(t.elapsed() < Duration::from_secs(7), "{:?}", t.elapsed());
    assert!(err.contains("Shared pool is locked"), "{err}");
    assert!(err.contains("network-team-maintenance"), "{err}");
    holder.join().unwrap();
    waiting.apply();
}

/// CVE-2018-1058's pattern: a function planted in public that matches a call better
/// than pg_catalog's never runs, because every session pins search_path.
#[test]
fn a_function_planted_in_public_never_runs() {
    let db = cluster().new_database("trust_planted");
    cluster().psql(
        &db,
        "CREATE TABLE public.planted_calls (at timestamptz DEFAULT now());
         CREATE FUNCTION public.hashtextextended(text, integer) RETURNS bigint LANGUAGE plpgsql AS
           $$ BEGIN INSERT INTO public.planted_calls DEFAULT VALUES; RETURN 0; END $$;
         CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE plpgsql AS
           $$ BEGIN INSERT INTO public.planted_calls DEFAULT VALUES; RETURN '2000-01-01'; END $$;",
    );
    Shared::new(&db, &pool_body("corp", "10.0.0.0/16")).apply();
    let s = Shared::new(
        &db,
        &owner_body("corp", "team-a", "    vpc = { prefix_length = 24 }", None),
    );
    s.apply();
    s.assert_no_changes();
    assert_eq!(
        cluster().psql(&db, "SELECT count(*) FROM public.planted_calls"),
        "0"
    );
}

/// A mistyped URL (an empty database) or a missing pool is an error at refresh; the
/// state keeps the owner.
#[test]
fn a_wrong_database_never_empties_the_state() {
    let db = cluster().new_database("trust_wrong_db");
    Shared::new(&db, &pool_body("corp", "10.0.0.0/16")).apply();
    let body = owner_body("corp", "team-a", "    vpc = 24", None);
    let mut s = Shared::new(&db, &body);
    s.apply();
    let right = s.url.clone();
    s.set_url(cluster().url(&cluster().new_database("trust_empty")));
    let err = s.plan_fails();
    assert!(err.contains("No shared ledger in this database"), "{err}");
    s.set_url(right);
    cluster().psql(
        &db,
        "DELETE FROM ipam.blocks; DELETE FROM ipam.owners; DELETE FROM ipam.pools",
    );
    let err = s.plan_fails();
    assert!(err.contains("no pool named \"corp\""), "{err}");
    assert!(s.state_cidrs(OWNER).contains_key("vpc"));
    // An owner name that would make pool/owner ambiguous is refused at validate.
    let slash = Workdir::new(&owner_body("corp", "team/a", "", None));
    let out = slash.tf(&["validate", "-no-color"]);
    assert_ne!(out.code, 0);
    assert!(
        flat(&out.stderr).contains("with no \"/\""),
        "{}",
        out.stderr
    );
}

/// A managed database: the DBA runs `terraform-provider-ipam schema`; the provider then
/// works as a role that may not create anything, and a read-only role reads.
#[test]
fn least_privilege_roles_after_a_dba_ran_the_schema() {
    let db = cluster().new_database("trust_managed");
    let bin = env!("CARGO_BIN_EXE_terraform-provider-ipam");
    let sql = std::process::Command::new(bin)
        .arg("schema")
        .output()
        .unwrap();
    assert!(sql.status.success());
    cluster().psql(&db, &String::from_utf8(sql.stdout).unwrap());
    cluster().psql_super(
        &db,
        &format!(
            "DO $$ BEGIN
               IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ipam_app') THEN
                 CREATE ROLE ipam_app LOGIN PASSWORD 'app-Pa55';
               END IF;
               IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ipam_reader') THEN
                 CREATE ROLE ipam_reader LOGIN PASSWORD 'reader-Pa55';
               END IF;
             END $$;
             REVOKE CREATE ON DATABASE {db} FROM PUBLIC;
             GRANT CONNECT ON DATABASE {db} TO ipam_app, ipam_reader;
             GRANT USAGE ON SCHEMA ipam TO ipam_app, ipam_reader;
             GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ipam TO ipam_app;
             GRANT SELECT ON ALL TABLES IN SCHEMA ipam TO ipam_reader;"
        ),
    );
    let as_role = |user: &str, pw: &str| {
        cluster()
            .url(&db)
            .replace("user=ipam_owner", &format!("user={user}"))
            .replace(common::pg::OWNER_PASSWORD, pw)
    };
    let mut app = Shared::new(
        &db,
        &format!(
            "{}{}",
            pool_body("corp", "10.0.0.0/16"),
            owner_body(
                "ipam_shared_pool.p.id",
                "team-a",
                "    vpc = { prefix_length = 24 }",
                None
            )
            .replace("\"ipam_shared_pool.p.id\"", "ipam_shared_pool.p.id")
        ),
    );
    app.set_url(as_role("ipam_app", "app-Pa55"));
    app.apply();
    app.assert_no_changes();
    let mut reader = Shared::new(
        &db,
        r#"
data "ipam_shared_pool" "corp" {
  name = "corp"
}
output "allocations" {
  value = keys(data.ipam_shared_pool.corp.allocations)
}
"#,
    );
    reader.set_url(as_role("ipam_reader", "reader-Pa55"));
    let out = reader.apply();
    assert!(out.stdout.contains("team-a/vpc"), "{}", out.stdout);
    assert_disjoint(&rows(&db, "true"));
}
