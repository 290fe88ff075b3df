//! The store against a real PostgreSQL (a private cluster, see `common/pg.rs`): schema
//! migrations, the no-overlap guarantee at every layer, faults.
mod common;

use std::time::Duration;

use common::pg::{cluster, OWNER_PASSWORD};
use ipam::store::{Block, Claim, ConnInfo, PoolDef, Store, StoreError};
use ipnet::IpNet;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// How long an apply holds the blocks an owner gives up.
const HOLD: Duration = Duration::from_secs(3600);

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn block(owner: &str, name: &str, cidr: &str) -> Block {
    Block {
        owner: owner.into(),
        name: name.into(),
        cidr: net(cidr),
        span: net(cidr),
        description: None,
        request: serde_json::json!({ "prefix_length": net(cidr).prefix_len() }),
        key: format!("/{}", net(cidr).prefix_len()),
    }
}

/// A write as a state that is creating the owner here.
fn new_claim() -> Claim {
    Claim::New {
        origin: "test:/store (workspace default)".into(),
    }
}

/// A write as the one state that holds the owner: its claim, or a create when the
/// owner does not exist (a create never takes an existing owner, issue 27).
async fn holder(store: &Store, pool: &str, owner: &str) -> Claim {
    match store.owner_state(pool, owner).await {
        Ok(ipam::store::OwnerState {
            row: Some(ipam::store::OwnerRow { claim: Some(c), .. }),
            ..
        }) => Claim::Held(c),
        _ => new_claim(),
    }
}

fn pool(name: &str, cidr: &str) -> PoolDef {
    PoolDef {
        name: name.into(),
        cidrs: vec![net(cidr)],
        reserved: vec![],
        settings: serde_json::json!({}),
        access: Default::default(),
    }
}

fn fresh_store() -> (String, Store) {
    let db = cluster().new_database("store");
    let store = Store::new(&cluster().url(&db)).unwrap();
    (db, store)
}

#[test]
fn concurrent_first_use_migrates_once_and_a_newer_schema_is_refused() {
    let db = cluster().new_database("migrate");
    let url = cluster().url(&db);
    rt().block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let url = url.clone();
            tasks.push(tokio::spawn(async move {
                Store::new(&url).unwrap().client().await.map(|_| ())
            }));
        }
        for t in tasks {
            t.await
                .unwrap()
                .expect("every concurrent first use succeeds");
        }
    });
    assert_eq!(
        cluster().psql(
            &db,
            "SELECT string_agg(version::text, ',') FROM ipam.schema_version"
        ),
        (1..=ipam::store::SCHEMA_VERSION)
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join(",")
    );
    // The tables belong to the owner, who is not a superuser.
    assert_eq!(
        cluster().psql(
            &db,
            "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
        ),
        "f"
    );
    cluster().psql(&db, "INSERT INTO ipam.schema_version (version) VALUES (99)");
    let err = rt()
        .block_on(async { Store::new(&url).unwrap().client().await.map(|_| ()) })
        .unwrap_err();
    assert!(
        matches!(err, StoreError::SchemaTooNew { found: 99, .. }),
        "{err}"
    );
}

#[test]
fn url_and_key_value_forms_reach_the_same_socket() {
    let db = cluster().new_database("forms");
    for url in [cluster().url(&db), cluster().url_form(&db)] {
        rt().block_on(async {
            let s = Store::new(&url).unwrap();
            s.create_pool(&pool(&format!("p{}", url.len()), "10.0.0.0/16"))
                .await
                .unwrap();
        });
    }
    assert_eq!(cluster().psql(&db, "SELECT count(*) FROM ipam.pools"), "2");
}

#[test]
fn apply_rechecks_across_owners_and_the_constraint_is_the_last_line() {
    let (db, store) = fresh_store();
    rt().block_on(async {
        store.create_pool(&pool("corp", "10.0.0.0/8")).await.unwrap();
        store
            .apply_owner("corp", "team-a", &holder(&store, "corp", "team-a").await, &[block("team-a", "gke", "10.0.0.0/16")], HOLD)
            .await
            .unwrap();
        // Another owner's apply of an overlapping block fails, names the owner,
        // and writes nothing.
        let err = store
            .apply_owner("corp", "team-b", &holder(&store, "corp", "team-b").await, &[
                    block("team-b", "ok", "10.9.0.0/16"),
                    block("team-b", "eks", "10.0.128.0/17"),
                ], HOLD
            )
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("\"eks\" (10.0.128.0/17) overlaps allocation \"gke\" (10.0.0.0/16) of owner \"team-a\""), "{text}");
        assert!(text.contains("Run terraform plan again"), "{text}");
        assert_eq!(store.owner_blocks("corp", "team-b").await.unwrap(), Some(vec![]));
        // One owner may overlap itself (a reservation growing over its own block).
        store
            .apply_owner("corp", "team-a", &holder(&store, "corp", "team-a").await, &[block("team-a", "gke", "10.0.0.0/16"), block("team-a", "x", "10.0.0.0/24")], HOLD
            )
            .await
            .unwrap();
    });
    // Bypassing every check of the code, the database itself refuses the overlap.
    let (ok, stderr) = cluster().psql_try(
        &db,
        "INSERT INTO ipam.blocks (pool, owner, name, reservation, cidr, span, request) VALUES ('corp', 'rogue', 'r', false, '10.0.1.0/24', '10.0.1.0/24', '{}')",
    );
    assert!(!ok);
    assert!(
        stderr.contains("blocks_no_overlap_across_owners"),
        "{stderr}"
    );
}

#[test]
fn plan_reservations_hold_blocks_until_they_expire_and_a_newer_plan_replaces_them() {
    let (db, store) = fresh_store();
    rt().block_on(async {
        store
            .create_pool(&pool("corp", "10.0.0.0/8"))
            .await
            .unwrap();
        let reserved = store
            .plan_owner(
                "corp",
                "team-a",
                &holder(&store, "corp", "team-a").await,
                Duration::from_secs(3600),
                |snap| {
                    assert!(snap.allocations.is_empty());
                    Ok::<_, ()>(vec![block("team-a", "gke", "10.0.0.0/16")])
                },
            )
            .await
            .unwrap()
            .placed
            .unwrap();
        assert_eq!(reserved.len(), 1);
        // team-b's plan sees it, and its apply cannot take it.
        store
            .plan_owner(
                "corp",
                "team-b",
                &holder(&store, "corp", "team-b").await,
                Duration::from_secs(3600),
                |snap| {
                    assert_eq!(snap.reservations.len(), 1);
                    assert_eq!(snap.reservations[0].block.owner, "team-a");
                    Ok::<_, ()>(vec![])
                },
            )
            .await
            .unwrap()
            .placed
            .unwrap();
        let err = store
            .apply_owner(
                "corp",
                "team-b",
                &holder(&store, "corp", "team-b").await,
                &[block("team-b", "eks", "10.0.0.0/16")],
                HOLD,
            )
            .await
            .unwrap_err();
        assert!(err.to_string().contains("plan reservation"), "{err}");
        // A newer plan of team-a replaces its reservations.
        store
            .plan_owner(
                "corp",
                "team-a",
                &holder(&store, "corp", "team-a").await,
                Duration::from_millis(200),
                |_| Ok::<_, ()>(vec![block("team-a", "gke", "10.1.0.0/16")]),
            )
            .await
            .unwrap()
            .placed
            .unwrap();
    });
    assert_eq!(
        cluster().psql(
            &db,
            "SELECT string_agg(cidr::text, ',') FROM ipam.blocks WHERE reservation"
        ),
        "10.1.0.0/16"
    );
    std::thread::sleep(Duration::from_millis(400));
    rt().block_on(async {
        // Expired: team-b's plan no longer sees it, and drops it.
        store
            .plan_owner(
                "corp",
                "team-b",
                &holder(&store, "corp", "team-b").await,
                Duration::from_secs(3600),
                |snap| {
                    assert!(snap.reservations.iter().all(|r| r.block.owner != "team-a"));
                    Ok::<_, ()>(vec![block("team-b", "eks", "10.1.0.0/16")])
                },
            )
            .await
            .unwrap()
            .placed
            .unwrap();
        store
            .apply_owner(
                "corp",
                "team-b",
                &holder(&store, "corp", "team-b").await,
                &[block("team-b", "eks", "10.1.0.0/16")],
                HOLD,
            )
            .await
            .unwrap();
    });
    assert_eq!(
        cluster().psql(
            &db,
            "SELECT string_agg(owner || ':' || cidr::text, ',') FROM ipam.blocks"
        ),
        "team-b:10.1.0.0/16"
    );
}

#[test]
fn pool_guard_names_the_owners_and_allocations() {
    let (_db, store) = fresh_store();
    rt().block_on(async {
        store
            .create_pool(&pool("corp", "10.0.0.0/8"))
            .await
            .unwrap();
        assert!(matches!(
            store.create_pool(&pool("corp", "10.0.0.0/8")).await,
            Err(StoreError::PoolExists(_))
        ));
        store
            .apply_owner(
                "corp",
                "team-a",
                &holder(&store, "corp", "team-a").await,
                &[block("team-a", "gke", "10.200.0.0/16")],
                HOLD,
            )
            .await
            .unwrap();
        let err = store.delete_pool("corp").await.unwrap_err().to_string();
        assert!(
            err.contains("owner \"team-a\": gke (10.200.0.0/16)"),
            "{err}"
        );
        let mut smaller = pool("corp", "10.0.0.0/9");
        smaller.settings = serde_json::json!({"strategy": "lowest"});
        let err = store.update_pool(&smaller).await.unwrap_err().to_string();
        assert!(
            err.contains("owner \"team-a\": gke (10.200.0.0/16)"),
            "{err}"
        );
        let mut reserving = pool("corp", "10.0.0.0/8");
        reserving.reserved = vec![net("10.200.0.0/24")];
        assert!(store.update_pool(&reserving).await.is_err());
        store
            .delete_owner("corp", "team-a", &holder(&store, "corp", "team-a").await)
            .await
            .unwrap();
        store.update_pool(&smaller).await.unwrap();
        store.delete_pool("corp").await.unwrap();
        assert!(matches!(
            store
                .apply_owner(
                    "corp",
                    "team-a",
                    &holder(&store, "corp", "team-a").await,
                    &[],
                    HOLD
                )
                .await,
            Err(StoreError::NoPool(_))
        ));
    });
}

/// A connection killed in the middle of an apply's transaction (after it deleted the
/// owner's rows, while it inserts the new ones) leaves the database as it was.
#[test]
fn a_connection_killed_mid_transaction_leaves_the_database_as_it_was() {
    let (db, store) = fresh_store();
    rt().block_on(async {
        store
            .create_pool(&pool("corp", "10.0.0.0/8"))
            .await
            .unwrap();
        store
            .apply_owner(
                "corp",
                "team-a",
                &holder(&store, "corp", "team-a").await,
                &[
                    block("team-a", "a", "10.0.0.0/16"),
                    block("team-a", "b", "10.1.0.0/16"),
                ],
                HOLD,
            )
            .await
            .unwrap();
    });
    let before = cluster().psql(
        &db,
        "SELECT string_agg(name || '=' || cidr::text, ',' ORDER BY name) FROM ipam.blocks",
    );
    // Make inserts slow, so the apply is caught inside its transaction.
    cluster().psql_super(
        &db,
        "CREATE FUNCTION ipam.slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(30); RETURN NEW; END $$;
         CREATE TRIGGER slow BEFORE INSERT ON ipam.blocks FOR EACH ROW EXECUTE FUNCTION ipam.slow();",
    );
    let killer = {
        let db = db.clone();
        std::thread::spawn(move || {
            for _ in 0..200 {
                std::thread::sleep(Duration::from_millis(50));
                let killed = cluster().psql_super(
                    &db,
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                      WHERE application_name LIKE 'terraform-provider-ipam apply%' AND query LIKE 'INSERT INTO ipam.blocks%' AND state = 'active'",
                );
                if killed != "0" {
                    return true;
                }
            }
            false
        })
    };
    let claim = rt().block_on(holder(&store, "corp", "team-a"));
    let result = rt().block_on(store.apply_owner(
        "corp",
        "team-a",
        &claim,
        &[block("team-a", "c", "10.2.0.0/16")],
        HOLD,
    ));
    assert!(
        killer.join().unwrap(),
        "the apply was never caught mid-transaction"
    );
    let err = result.unwrap_err();
    assert!(
        matches!(err, StoreError::Db(_) | StoreError::Connect(_)),
        "{err}"
    );
    cluster().psql_super(&db, "DROP TRIGGER slow ON ipam.blocks");
    let after = cluster().psql(
        &db,
        "SELECT string_agg(name || '=' || cidr::text, ',' ORDER BY name) FROM ipam.blocks",
    );
    assert_eq!(before, "a=10.0.0.0/16,b=10.1.0.0/16");
    assert_eq!(after, before);
}

#[test]
fn unreachable_database_and_wrong_password_are_clean_errors_without_the_password() {
    let db = cluster().new_database("faults");
    let wrong = cluster()
        .url(&db)
        .replace(OWNER_PASSWORD, "not-the-Pa55word");
    let nowhere = format!(
        "host={}/nowhere dbname=x user=u password=hunter2-secret connect_timeout=2",
        cluster().socket_dir.display()
    );
    rt().block_on(async {
        let e = Store::new(&wrong)
            .unwrap()
            .client()
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("password authentication failed"), "{e}");
        assert!(!e.contains("not-the-Pa55word"), "{e}");
        let e = Store::new(&nowhere)
            .unwrap()
            .client()
            .await
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("could not connect to the database"), "{e}");
        assert!(e.contains("No such file or directory"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
    });
    // Nothing was created by the failed attempts.
    assert_eq!(
        cluster().psql(
            &db,
            "SELECT count(*) FROM pg_namespace WHERE nspname = 'ipam'"
        ),
        "0"
    );
}

/// TLS through rustls against a server that accepts TCP only with TLS: `require`
/// encrypts without checking the certificate, `verify-ca` checks the chain, and
/// `verify-full` also the host name; a wrong CA or a wrong name fails, and so does no TLS.
#[test]
fn tls_modes_against_a_tls_only_server() {
    let c = common::pg::tls_cluster();
    let tls = c.tls.clone().unwrap();
    let (port, ca, other_ca) = (tls.port, tls.certs.ca, tls.certs.other_ca);
    let db = c.new_database("tls");
    let url = |host: &str, mode: &str, root: &std::path::Path| {
        format!(
            "postgresql://ipam_owner:{OWNER_PASSWORD}@{host}:{port}/{db}?sslmode={mode}&sslrootcert={}",
            root.display()
        )
    };
    let connect = |u: String| {
        rt().block_on(async move {
            let client = ConnInfo::parse(&u)?.connect().await?;
            let row = client
                .query_one(
                    "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                    &[],
                )
                .await
                .map_err(|e| StoreError::Db(e.to_string()))?;
            Ok::<bool, StoreError>(row.get(0))
        })
    };
    assert!(connect(url("localhost", "require", &ca)).unwrap(), "no TLS");
    // As libpq: require with a root certificate verifies the chain (issue 16).
    let e = connect(url("localhost", "require", &other_ca))
        .unwrap_err()
        .to_string();
    assert!(e.contains("UnknownIssuer"), "{e}");
    assert!(
        connect(url("localhost", "verify-full", &ca)).unwrap(),
        "no TLS"
    );
    assert!(
        connect(url("127.0.0.1", "verify-ca", &ca)).unwrap(),
        "no TLS"
    );
    let e = connect(url("localhost", "verify-full", &other_ca))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("certificate") && e.contains("UnknownIssuer"),
        "{e}"
    );
    let e = connect(url("127.0.0.1", "verify-full", &ca))
        .unwrap_err()
        .to_string();
    assert!(e.contains("not valid for name \"127.0.0.1\""), "{e}");
    let e = connect(url("localhost", "disable", &ca))
        .unwrap_err()
        .to_string();
    assert!(e.contains("no encryption"), "{e}");
    assert!(!e.contains(OWNER_PASSWORD), "{e}");
}

/// Schedule seed 21 (tests/schedules.rs): after `pg_terminate_backend` of the store's
/// connection, the next call failed with "terminating connection due to administrator
/// command": the server's FATAL arrives as the answer to the next statement when the
/// client has not yet seen the socket close. The next call reconnects once instead.
/// The race is won or lost per attempt, so it is run many times, each terminate sent
/// from a connection of this process just before the call.
#[test]
fn a_terminated_backend_is_replaced_on_the_next_call() {
    let (db, store) = fresh_store();
    let rt = rt();
    rt.block_on(async {
        store
            .create_pool(&pool("corp", "10.0.0.0/8"))
            .await
            .unwrap();
        let killer = ConnInfo::parse(&cluster().url(&db))
            .unwrap()
            .connect()
            .await
            .unwrap();
        for i in 0..40 {
            let n: i64 = killer
                .query_one(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'terraform-provider-ipam%' AND pid <> pg_backend_pid()",
                    &[],
                )
                .await
                .unwrap()
                .get(0);
            // A backend terminated just before may still be listed, leaving.
            assert!(n >= 1, "attempt {i}");
            store
                .snapshot("corp")
                .await
                .unwrap_or_else(|e| panic!("attempt {i}: {e}"));
        }
    });
}

/// Schedule seed 99 (tests/schedules.rs): an owner's apply moved a block and its
/// provider died before Terraform recorded it; another owner's next apply took the old
/// block, which the first state (and its deployed subnet) still held. A block an owner
/// gives up stays held for it for the hold, free to itself and taken for everyone else.
#[test]
fn blocks_an_owner_gives_up_stay_held_for_it() {
    let (_db, store) = fresh_store();
    rt().block_on(async {
        store
            .create_pool(&pool("corp", "10.0.0.0/8"))
            .await
            .unwrap();
        let a = Claim::Held(
            store
                .apply_owner(
                    "corp",
                    "team-a",
                    &holder(&store, "corp", "team-a").await,
                    &[block("team-a", "a", "10.0.0.0/24")],
                    HOLD,
                )
                .await
                .unwrap(),
        );
        store
            .apply_owner(
                "corp",
                "team-a",
                &a,
                &[block("team-a", "a", "10.1.0.0/24")],
                HOLD,
            )
            .await
            .unwrap();
        let snap = store.snapshot("corp").await.unwrap();
        let held: Vec<_> = snap
            .reservations
            .iter()
            .filter(|r| r.block.key == ipam::store::RELEASED)
            .map(|r| (r.block.name.clone(), r.block.cidr.to_string()))
            .collect();
        assert_eq!(held, vec![("a".to_string(), "10.0.0.0/24".to_string())]);
        let err = store
            .apply_owner(
                "corp",
                "team-b",
                &holder(&store, "corp", "team-b").await,
                &[block("team-b", "b", "10.0.0.0/25")],
                HOLD,
            )
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("plan reservation \"a\" (10.0.0.0/24) of owner \"team-a\""),
            "{err}"
        );
        // The owner itself may take it back.
        store
            .apply_owner(
                "corp",
                "team-a",
                &a,
                &[block("team-a", "a", "10.0.0.0/24")],
                HOLD,
            )
            .await
            .unwrap();
    });
}

/// A ledger written by 0.1 (schema version 1) is migrated by the first read, its owners
/// get rows with no claim, and a state written before claims takes its owner.
#[test]
fn a_version_1_ledger_is_migrated_by_the_first_read_and_keeps_its_owners() {
    let db = cluster().new_database("store_v1");
    let sql = ipam::store::schema_sql();
    let v1 = &sql[..sql.find("-- migration 2").unwrap()];
    cluster().psql(&db, &format!("{v1}\nCOMMIT;"));
    cluster().psql(
        &db,
        "INSERT INTO ipam.pools (name, cidrs, reserved, settings) VALUES ('corp', '{10.0.0.0/8}', '{}', '{}');
         INSERT INTO ipam.blocks (pool, owner, name, reservation, cidr, span, request)
              VALUES ('corp', 'team-a', 'gke', false, '10.0.0.0/16', '10.0.0.0/16', '{}');",
    );
    assert_eq!(
        cluster().psql(&db, "SELECT max(version) FROM ipam.schema_version"),
        "1"
    );
    let store = Store::new(&cluster().url(&db)).unwrap();
    rt().block_on(async {
        let s = store.owner_state("corp", "team-a").await.unwrap();
        assert_eq!(s.blocks.len(), 1);
        assert_eq!(s.row, Some(ipam::store::OwnerRow::default()));
        let claim = store
            .apply_owner("corp", "team-a", &Claim::Unclaimed, &s.blocks, HOLD)
            .await
            .unwrap();
        let err = store
            .apply_owner("corp", "team-a", &Claim::Unclaimed, &s.blocks, HOLD)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::OwnerMoved { .. }), "{err}");
        store
            .apply_owner("corp", "team-a", &Claim::Held(claim), &s.blocks, HOLD)
            .await
            .unwrap();
    });
    assert_eq!(
        cluster().psql(&db, "SELECT max(version) FROM ipam.schema_version"),
        ipam::store::SCHEMA_VERSION.to_string()
    );
}
