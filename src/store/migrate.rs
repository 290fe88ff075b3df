//! Versioned migrations, run at first use under an advisory lock: concurrent
//! `CREATE ... IF NOT EXISTS` statements race, a lock does not. A database whose schema
//! is newer than this provider knows is an error, never a guess.

use tokio_postgres::Client;

use super::error::db;
use super::StoreError;

/// The schema version this provider writes and reads.
pub const SCHEMA_VERSION: i32 = 2;

/// Migration `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: pools, and blocks (allocations and plan reservations) that no two owners may
    // overlap. `btree_gist` gives GiST the `=`/`<>` of text; it is a trusted extension
    // (PostgreSQL 13+), so a database owner who is not a superuser may create it.
    // The exclusion constraint leads with `span`, the selective column: see
    // scripts/bench-shared.sh for the load times of both orders.
    r#"
    DO $$ BEGIN
        -- Never CREATE EXTENSION when it is there (managed databases may refuse even
        -- that), and name the schema: search_path is pinned to pg_catalog.
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'btree_gist') THEN
            CREATE EXTENSION btree_gist SCHEMA public;
        END IF;
    END $$;
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
    // 2: one state per owner, and reservations tied to the request they were made for.
    // `owners.claim` is the holder: the state whose resource carries the same claim is
    // the only one that may write the owner's rows. Owners that existed before have no
    // claim; the first state that reads them takes it. A reservation's `plan_key` is its
    // request, so several unapplied plans of one owner (open pull requests) may hold
    // blocks side by side, each only for the name and request it was made for.
    r#"
    CREATE TABLE ipam.owners (
        pool       text NOT NULL REFERENCES ipam.pools (name),
        owner      text NOT NULL,
        claim      uuid,
        origin     text,
        claimed_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
        PRIMARY KEY (pool, owner)
    );
    INSERT INTO ipam.owners (pool, owner)
        SELECT DISTINCT pool, owner FROM ipam.blocks WHERE NOT reservation;
    ALTER TABLE ipam.blocks ADD COLUMN plan_key text NOT NULL DEFAULT '';
    ALTER TABLE ipam.blocks DROP CONSTRAINT blocks_pkey;
    ALTER TABLE ipam.blocks ADD PRIMARY KEY (pool, owner, reservation, name, plan_key);
    "#,
];

/// The SQL that brings an empty database to [`SCHEMA_VERSION`], for a DBA to run once
/// (`terraform-provider-ipam schema`) where the provider's role may not create schemas.
pub fn schema_sql() -> String {
    let mut out = String::from("-- terraform-provider-ipam: the shared ledger's schema, version ");
    out.push_str(&format!("{SCHEMA_VERSION}.\n-- Run once as the database owner (psql -v ON_ERROR_STOP=1 -f schema.sql). Then the
-- provider's roles need no CREATE privilege, only these (replace the role names):
--   GRANT USAGE ON SCHEMA ipam TO ipam_app, ipam_reader;
--   GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ipam TO ipam_app;
--   GRANT SELECT ON ALL TABLES IN SCHEMA ipam TO ipam_reader;  -- data source, report\nBEGIN;\nSET LOCAL search_path = pg_catalog, pg_temp;\nCREATE SCHEMA IF NOT EXISTS ipam;\n{BOOTSTRAP}\n"));
    for (i, sql) in MIGRATIONS.iter().enumerate() {
        out.push_str(&format!(
            "-- migration {}\n{}\nINSERT INTO ipam.schema_version (version) VALUES ({});\n",
            i + 1,
            dedent(sql),
            i + 1
        ));
    }
    out.push_str("COMMIT;\n");
    out
}

fn dedent(sql: &str) -> String {
    sql.trim_matches('\n')
        .lines()
        .map(|l| l.strip_prefix("    ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The version table, created (in schema `ipam`) before any migration.
const BOOTSTRAP: &str = "CREATE TABLE IF NOT EXISTS ipam.schema_version (
    version    integer PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);";

/// The version of the schema, or `None` when there is none (no `ipam` tables).
pub async fn version(client: &Client) -> Result<Option<i32>, StoreError> {
    let exists: bool = client
        .query_one(
            "SELECT pg_catalog.to_regclass('ipam.schema_version') IS NOT NULL",
            &[],
        )
        .await
        .map_err(db)?
        .get(0);
    if !exists {
        return Ok(None);
    }
    Ok(Some(
        client
            .query_one(
                "SELECT coalesce(max(version), 0) FROM ipam.schema_version",
                &[],
            )
            .await
            .map_err(db)?
            .get(0),
    ))
}

/// Brings the schema to [`SCHEMA_VERSION`].
pub async fn migrate(client: &mut Client) -> Result<(), StoreError> {
    // Fast path, no lock and no CREATE: already current (a DBA may have run the SQL
    // of `terraform-provider-ipam schema`, and this role may not create schemas).
    let found = version(client).await?.unwrap_or(0);
    if found == SCHEMA_VERSION {
        return Ok(());
    }
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found,
            known: SCHEMA_VERSION,
        });
    }
    super::begin(client).await?;
    let tx = &*client;
    tx.execute(
        "SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('ipam.migrate', 0::int8))",
        &[],
    )
    .await
    .map_err(db)?;
    // `CREATE SCHEMA IF NOT EXISTS` needs CREATE on the database even when the schema
    // exists: look first.
    let has_schema: bool = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = 'ipam')",
            &[],
        )
        .await
        .map_err(db)?
        .get(0);
    if !has_schema {
        tx.batch_execute("CREATE SCHEMA ipam").await.map_err(db)?;
    }
    tx.batch_execute(BOOTSTRAP).await.map_err(db)?;
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
    tx.batch_execute("COMMIT").await.map_err(db)
}
