//! Versioned migrations, run at first use under an advisory lock: concurrent
//! `CREATE ... IF NOT EXISTS` statements race, a lock does not. A database whose schema
//! is newer than this provider knows is an error, never a guess.

use tokio_postgres::Client;

use super::{db, StoreError};

/// The schema version this provider writes and reads.
pub const SCHEMA_VERSION: i32 = 1;

/// Migration `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: pools, and blocks (allocations and plan reservations) that no two owners may
    // overlap. `btree_gist` gives GiST the `=`/`<>` of text; it is a trusted extension
    // (PostgreSQL 13+), so a database owner who is not a superuser may create it.
    // The exclusion constraint leads with `span`, the selective column: see
    // scripts/bench-shared.sh for the load times of both orders.
    r#"
    CREATE EXTENSION IF NOT EXISTS btree_gist;
    CREATE TABLE ipam.pools (
        name       text PRIMARY KEY,
        cidrs      cidr[] NOT NULL,
        reserved   cidr[] NOT NULL,
        settings   jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE ipam.blocks (
        pool        text NOT NULL REFERENCES ipam.pools (name),
        owner       text NOT NULL,
        name        text NOT NULL,
        reservation boolean NOT NULL,
        cidr        cidr NOT NULL,
        span        cidr NOT NULL,
        description text,
        request     jsonb NOT NULL,
        expires_at  timestamptz,
        created_at  timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (pool, owner, reservation, name),
        CONSTRAINT span_holds_cidr CHECK (span >>= cidr),
        CONSTRAINT reservations_expire CHECK (reservation = (expires_at IS NOT NULL)),
        CONSTRAINT blocks_no_overlap_across_owners
            EXCLUDE USING gist (span inet_ops WITH &&, pool WITH =, owner WITH <>)
    );
    "#,
];

/// Brings the schema to [`SCHEMA_VERSION`].
pub async fn migrate(client: &mut Client) -> Result<(), StoreError> {
    // Fast path, no lock: already current.
    let exists: bool = client
        .query_one("SELECT to_regclass('ipam.schema_version') IS NOT NULL", &[])
        .await
        .map_err(db)?
        .get(0);
    let found: i32 = if exists {
        client
            .query_one(
                "SELECT coalesce(max(version), 0) FROM ipam.schema_version",
                &[],
            )
            .await
            .map_err(db)?
            .get(0)
    } else {
        0
    };
    if found == SCHEMA_VERSION {
        return Ok(());
    }
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found,
            known: SCHEMA_VERSION,
        });
    }
    let tx = client.transaction().await.map_err(db)?;
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('ipam.migrate', 0))",
        &[],
    )
    .await
    .map_err(db)?;
    tx.batch_execute(
        "CREATE SCHEMA IF NOT EXISTS ipam;
         CREATE TABLE IF NOT EXISTS ipam.schema_version (
             version    integer PRIMARY KEY,
             applied_at timestamptz NOT NULL DEFAULT now()
         );",
    )
    .await
    .map_err(db)?;
    let found: i32 = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM ipam.schema_version",
            &[],
        )
        .await
        .map_err(db)?
        .get(0);
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found,
            known: SCHEMA_VERSION,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        tx.batch_execute(sql).await.map_err(db)?;
        tx.execute(
            "INSERT INTO ipam.schema_version (version) VALUES ($1)",
            &[&(i as i32 + 1)],
        )
        .await
        .map_err(db)?;
    }
    tx.commit().await.map_err(db)
}
