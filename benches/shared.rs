//! Shared-ledger figures against a real PostgreSQL (a private cluster, as in the
//! tests). Not a test: it prints figures. Run it with `scripts/bench-shared.sh`.
//!
//! 1. Loading 100,000 blocks under the exclusion constraint, with the constraint's
//!    columns in our order (`span` first) and in the other order (`pool, owner, span`).
//! 2. The provider's plan of one owner (10 requests) against a pool whose other owners
//!    hold 10,000 and 100,000 blocks: the whole `ipam_shared_allocations` plan call,
//!    and the store's locked transaction alone (connect, lock, read, place, write).
//! 3. The apply transaction of that owner (re-check through the index, write).
//! 4. Connection reuse: 20 owner plans in one provider process against a database
//!    reached over TLS on TCP (verify-full), a new connection per call (as before
//!    0.2) and one connection reused.
//! 5. Wall time of N concurrent `terraform apply` runs of different owners on one pool
//!    (needs IPAM_TERRAFORM and the release build; scripts/bench-shared.sh sets both).

#[path = "../tests/common/pg.rs"]
mod pg;

use std::sync::Arc;
use std::time::{Duration, Instant};

use ipam::provider::config::Configured;
use ipam::provider::shared_allocations::SharedAllocationsResource;
use ipam::store::{Claim, Store};
use ipam::tfplugin::{Context, PlanRequest, Resource, Value};

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Loads `n` /28 blocks of 100 owners into pool `corp` (10.0.0.0/8), in one statement.
fn load(c: &pg::Cluster, db: &str, n: usize) -> Duration {
    c.psql(db, "INSERT INTO ipam.pools (name, cidrs, reserved, settings) VALUES ('corp', '{10.0.0.0/8}', '{}', '{}') ON CONFLICT DO NOTHING");
    let t = Instant::now();
    c.psql(
        db,
        &format!(
            "INSERT INTO ipam.blocks (pool, owner, name, reservation, cidr, span, request)
             SELECT 'corp', 'owner-' || (i % 100), 'b' || i, false,
                    (host('10.0.0.0'::inet + (i * 16)::bigint) || '/28')::cidr,
                    (host('10.0.0.0'::inet + (i * 16)::bigint) || '/28')::cidr, '{{}}'
               FROM generate_series(0, {}) AS i",
            n - 1
        ),
    );
    t.elapsed()
}

fn fresh(c: &pg::Cluster, name: &str) -> (String, Store) {
    let db = c.new_database(name);
    let store = Store::new(&c.url(&db)).unwrap();
    // Migrate once, outside every measurement.
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(store.client())
        .unwrap();
    (db, store)
}

fn plan_request(owner: &str) -> PlanRequest {
    let schema = SharedAllocationsResource.schema();
    let allocations: serde_json::Map<String, serde_json::Value> = (0..10)
        .map(|i| {
            (
                format!("net-{i}"),
                serde_json::json!({ "prefix_length": 20 + (i % 5) }),
            )
        })
        .collect();
    let config = ipam::tfplugin::value::convert_json(
        &serde_json::json!({ "pool": "corp", "owner": owner, "allocations": allocations }),
        &schema.value_type(),
        "",
    )
    .unwrap();
    PlanRequest {
        prior: Value::Null,
        proposed: config.clone(),
        config,
        prior_private: vec![],
    }
}

fn main() {
    let c = pg::cluster();
    println!(
        "shared ledger benchmark (PostgreSQL at {}, fsync off)",
        c.socket_dir.display()
    );

    // 1. Constraint column order. The other order is so slow (12 minutes for 100,000
    // blocks on a 2-core machine) that it is measured at 20,000.
    for n in [20_000usize, 100_000] {
        let (db, _) = fresh(c, &format!("bench_order_ours_{n}"));
        let ours = load(c, &db, n);
        println!(
            "load {n:>7} blocks, constraint (span &&, pool =, owner <>): {}",
            ms(ours)
        );
    }
    let (db2, _) = fresh(c, "bench_order_other");
    c.psql(
        &db2,
        "ALTER TABLE ipam.blocks DROP CONSTRAINT blocks_no_overlap_across_owners;
                  ALTER TABLE ipam.blocks ADD CONSTRAINT blocks_no_overlap_across_owners
                    EXCLUDE USING gist (pool WITH =, owner WITH <>, span inet_ops WITH &&)",
    );
    let other = load(c, &db2, 20_000);
    println!(
        "load  20,000 blocks, constraint (pool =, owner <>, span &&): {}",
        ms(other)
    );

    // 2 and 3. Plan and apply of one owner against 10k and 100k other blocks.
    for n in [10_000usize, 100_000] {
        let (db, store) = fresh(c, &format!("bench_plan_{n}"));
        load(c, &db, n);
        c.psql(&db, "ANALYZE ipam.blocks");
        let store = Arc::new(store);
        let mut ctx = Context::unconfigured();
        ctx.configured = Some(Arc::new(Configured {
            store: Ok(store.clone()),
            reservation_ttl: Duration::from_secs(3600),
        }));
        let rt = tokio::runtime::Runtime::new().unwrap();
        let mut plans = Vec::new();
        let mut txs = Vec::new();
        let mut locks = Vec::new();
        let mut connects = Vec::new();
        let mut claim = Claim::New {
            origin: "bench".into(),
        };
        for _ in 0..7 {
            let t = Instant::now();
            let resp = SharedAllocationsResource.plan(plan_request("bench"), &ctx);
            plans.push(t.elapsed());
            assert!(resp.diagnostics.is_empty(), "{:?}", resp.diagnostics);
            let t = Instant::now();
            rt.block_on(store.client()).unwrap();
            connects.push(t.elapsed());
            let t = Instant::now();
            let planned = rt
                .block_on(store.plan_owner(
                    "corp",
                    "bench",
                    &claim,
                    Duration::from_secs(3600),
                    |snap| {
                        Ok::<_, ()>(
                            snap.reservations
                                .iter()
                                .filter(|r| r.block.owner == "bench")
                                .map(|r| r.block.clone())
                                .collect(),
                        )
                    },
                ))
                .unwrap();
            txs.push(t.elapsed());
            locks.push(planned.lock_held);
            planned.placed.unwrap();
        }
        let snap = rt.block_on(store.snapshot("corp")).unwrap();
        let mine: Vec<_> = snap
            .reservations
            .iter()
            .filter(|r| r.block.owner == "bench")
            .map(|r| r.block.clone())
            .collect();
        let mut applies = Vec::new();
        for _ in 0..7 {
            let t = Instant::now();
            let held = rt
                .block_on(store.apply_owner(
                    "corp",
                    "bench",
                    &claim,
                    &mine,
                    Duration::from_secs(3600),
                ))
                .unwrap();
            claim = Claim::Held(held);
            applies.push(t.elapsed());
        }
        println!(
            "{n:>7} other blocks: provider plan {} (median of 7); store plan call {} of which the pool lock is held {}; connect alone {}; apply {}",
            ms(median(plans)),
            ms(median(txs)),
            ms(median(locks)),
            ms(median(connects)),
            ms(median(applies)),
        );
    }

    // 4. Connection reuse over TLS on TCP.
    {
        let t = pg::tls_cluster();
        let tls = t.tls.clone().unwrap();
        let (port, ca) = (tls.port, tls.certs.ca);
        let db = t.new_database("bench_reuse");
        let url = format!(
            "postgresql://{}:{}@localhost:{port}/{db}?sslmode=verify-full&sslrootcert={}",
            pg::OWNER,
            pg::OWNER_PASSWORD,
            ca.display()
        );
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(Store::new(&url).unwrap().client()).unwrap();
        t.psql(&db, "INSERT INTO ipam.pools (name, cidrs, reserved, settings) VALUES ('corp', '{10.0.0.0/8}', '{}', '{}')");
        for reuse in [false, true] {
            let store = Store::new(&url).unwrap();
            let store = if reuse { store } else { store.without_reuse() };
            let mut calls = Vec::new();
            let all = Instant::now();
            for i in 0..20 {
                let owner = format!("reuse-{reuse}-{i}");
                let claim = Claim::New {
                    origin: "bench".into(),
                };
                let c = Instant::now();
                rt.block_on(store.plan_owner(
                    "corp",
                    &owner,
                    &claim,
                    Duration::from_secs(60),
                    |_| Ok::<_, ()>(vec![]),
                ))
                .unwrap();
                calls.push(c.elapsed());
            }
            println!(
                "20 owner plans over TLS on TCP, {}: {} in all, {} per call (median)",
                if reuse {
                    "one connection reused"
                } else {
                    "a new connection per call (before)"
                },
                ms(all.elapsed()),
                ms(median(calls))
            );
        }
    }

    // 5. N concurrent terraform applies.
    let (Ok(tf), Ok(provider_dir)) = (
        std::env::var("IPAM_TERRAFORM"),
        std::env::var("IPAM_PROVIDER_DIR"),
    ) else {
        println!("concurrent applies: skipped (set IPAM_TERRAFORM and IPAM_PROVIDER_DIR, as scripts/bench-shared.sh does)");
        return;
    };
    for n in [1usize, 6, 12] {
        let db = c.new_database(&format!("bench_conc_{n}"));
        let url = c.url(&db);
        let dirs: Vec<tempfile::TempDir> = (0..=n).map(|_| tempfile::tempdir().unwrap()).collect();
        let header = "terraform {\n  required_providers {\n    ipam = { source = \"ipam-rs/ipam\" }\n  }\n}\n";
        for (i, d) in dirs.iter().enumerate() {
            std::fs::write(
                d.path().join(".terraformrc"),
                format!("provider_installation {{\n  dev_overrides {{\n    \"ipam-rs/ipam\" = \"{provider_dir}\"\n  }}\n  direct {{}}\n}}\n"),
            )
            .unwrap();
            let body = if i == 0 {
                "resource \"ipam_shared_pool\" \"corp\" {\n  name = \"corp\"\n  cidrs = [\"10.0.0.0/8\"]\n}\n".to_string()
            } else {
                format!("resource \"ipam_shared_allocations\" \"mine\" {{\n  pool = \"corp\"\n  owner = \"team-{i}\"\n  allocations = {{\n    nodes = {{ prefix_length = 20 }}\n    pods = {{ prefix_length = 16 }}\n    svc = {{ prefix_length = 22 }}\n  }}\n}}\n")
            };
            std::fs::write(d.path().join("main.tf"), format!("{header}{body}")).unwrap();
        }
        let apply = |d: &std::path::Path| {
            let out = std::process::Command::new(&tf)
                .args(["apply", "-no-color", "-input=false", "-auto-approve"])
                .current_dir(d)
                .env("TF_CLI_CONFIG_FILE", d.join(".terraformrc"))
                .env("CHECKPOINT_DISABLE", "1")
                .env("IPAM_DATABASE_URL", &url)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        apply(dirs[0].path());
        let t = Instant::now();
        std::thread::scope(|s| {
            for d in &dirs[1..] {
                s.spawn(|| apply(d.path()));
            }
        });
        let wall = t.elapsed();
        let count = c.psql(
            &db,
            "SELECT count(*) FROM ipam.blocks WHERE NOT reservation",
        );
        println!(
            "{n:>2} concurrent terraform apply runs (3 allocations each): wall {} ({count} rows, no overlap by constraint)",
            ms(wall)
        );
    }
}
