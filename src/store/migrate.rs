//! Versioned migrations, run at first use under an advisory lock: concurrent
//! `CREATE ... IF NOT EXISTS` statements race, a lock does not. A database whose schema
//! is newer than this provider knows is an error, never a guess.

use tokio_postgres::Client;

use super::error::db;
use super::StoreError;

/// The schema version this provider writes and reads.
pub const SCHEMA_VERSION: i32 = 4;

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
    // 3: who may change what, enforced by the database (row-level security, FORCEd so
    // that the tables' owner is held to it too). Every login with CONNECT may use the
    // ledger: the grants go to PUBLIC and the policies decide. Everyone reads
    // everything. A pool's `admin_role` (by default the role that created it) alone
    // changes or deletes it. When a pool has `owner_roles` (owner -> role), only
    // members of an owner's role write that owner's rows; without it, every login may.
    // Expired plan reservations are garbage anyone may collect: they block nobody, but
    // the exclusion constraint still counts them until they are gone.
    r#"
    ALTER TABLE ipam.pools ADD COLUMN owner_roles jsonb;
    ALTER TABLE ipam.pools ADD COLUMN admin_role text NOT NULL DEFAULT current_user;
    ALTER TABLE ipam.pools ADD CONSTRAINT owner_roles_map_names_to_roles
        CHECK (owner_roles IS NULL OR pg_catalog.jsonb_typeof(owner_roles) = 'object');

    -- Whether the current role is a member of `role` (false for a role that does not
    -- exist, where pg_has_role would raise).
    CREATE FUNCTION ipam.is_member(role text) RETURNS boolean
        LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
        AS $f$ SELECT coalesce((SELECT pg_catalog.pg_has_role(current_user, r.oid, 'MEMBER')
                                  FROM pg_catalog.pg_roles r WHERE r.rolname = role), false) $f$;
    -- Whether the current role may change the pool itself.
    CREATE FUNCTION ipam.may_admin(pool text) RETURNS boolean
        LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
        AS $f$ SELECT coalesce((SELECT ipam.is_member(p.admin_role)
                                  FROM ipam.pools p WHERE p.name = pool), false) $f$;
    -- Whether the current role may write the rows of `owner` in `pool`.
    CREATE FUNCTION ipam.may_write(pool text, owner text) RETURNS boolean
        LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
        AS $f$ SELECT coalesce((SELECT p.owner_roles IS NULL OR ipam.is_member(p.owner_roles ->> owner)
                                  FROM ipam.pools p WHERE p.name = pool), false) $f$;

    GRANT USAGE ON SCHEMA ipam TO PUBLIC;
    GRANT SELECT ON ALL TABLES IN SCHEMA ipam TO PUBLIC;
    GRANT INSERT, UPDATE, DELETE ON ipam.pools, ipam.owners, ipam.blocks TO PUBLIC;
    GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA ipam TO PUBLIC;

    ALTER TABLE ipam.pools ENABLE ROW LEVEL SECURITY;
    ALTER TABLE ipam.pools FORCE ROW LEVEL SECURITY;
    CREATE POLICY pools_read ON ipam.pools FOR SELECT USING (true);
    CREATE POLICY pools_create ON ipam.pools FOR INSERT WITH CHECK (ipam.is_member(admin_role));
    CREATE POLICY pools_change ON ipam.pools FOR UPDATE
        USING (ipam.is_member(admin_role)) WITH CHECK (ipam.is_member(admin_role));
    CREATE POLICY pools_delete ON ipam.pools FOR DELETE USING (ipam.is_member(admin_role));

    ALTER TABLE ipam.owners ENABLE ROW LEVEL SECURITY;
    ALTER TABLE ipam.owners FORCE ROW LEVEL SECURITY;
    CREATE POLICY owners_read ON ipam.owners FOR SELECT USING (true);
    CREATE POLICY owners_create ON ipam.owners FOR INSERT WITH CHECK (ipam.may_write(pool, owner));
    CREATE POLICY owners_change ON ipam.owners FOR UPDATE
        USING (ipam.may_write(pool, owner)) WITH CHECK (ipam.may_write(pool, owner));
    -- The pool's admin removes owners that hold nothing, with the pool.
    CREATE POLICY owners_delete ON ipam.owners FOR DELETE USING (
        ipam.may_write(pool, owner)
        OR (ipam.may_admin(pool) AND NOT EXISTS (
            SELECT 1 FROM ipam.blocks b
             WHERE b.pool = owners.pool AND b.owner = owners.owner AND NOT b.reservation)));

    ALTER TABLE ipam.blocks ENABLE ROW LEVEL SECURITY;
    ALTER TABLE ipam.blocks FORCE ROW LEVEL SECURITY;
    CREATE POLICY blocks_read ON ipam.blocks FOR SELECT USING (true);
    CREATE POLICY blocks_create ON ipam.blocks FOR INSERT WITH CHECK (ipam.may_write(pool, owner));
    CREATE POLICY blocks_change ON ipam.blocks FOR UPDATE
        USING (ipam.may_write(pool, owner)) WITH CHECK (ipam.may_write(pool, owner));
    -- The pool's admin removes reservations, with the pool; anyone removes expired ones.
    CREATE POLICY blocks_delete ON ipam.blocks FOR DELETE USING (
        ipam.may_write(pool, owner)
        OR (reservation AND (expires_at <= pg_catalog.now() OR ipam.may_admin(pool))));
    "#,
    // 4: replacement. A resource instance that is replaced (`-replace`, taint,
    // create_before_destroy) hands its claim to the instance that replaces it, and to
    // nothing else: the plan of the replacing create records `handover_from` (the claim
    // that may pass) until `handover_expires`; the create that takes it writes a new
    // claim and keeps the old one in `passed_from`, so that the old instance's destroy,
    // whichever order Terraform runs them in, knows it holds nothing any more.
    r#"
    ALTER TABLE ipam.owners ADD COLUMN passed_from uuid;
    ALTER TABLE ipam.owners ADD COLUMN handover_from uuid;
    ALTER TABLE ipam.owners ADD COLUMN handover_expires timestamptz;
    "#,
];

/// The SQL that brings an empty database to [`SCHEMA_VERSION`], for a DBA to run once
/// (`terraform-provider-ipam schema`) where the provider's role may not create schemas.
pub fn schema_sql() -> String {
    let mut out = String::from("-- terraform-provider-ipam: the shared ledger's schema, version ");
    out.push_str(&format!("{SCHEMA_VERSION}.\n-- Run once as the database owner (psql -v ON_ERROR_STOP=1 -f schema.sql). The
-- provider's roles then need only CONNECT on the database: the schema grants the rest to
-- PUBLIC, and row-level security decides who may change which pool and owner (see the
-- shared ledger guide, section Who may change what).\nBEGIN;\nSET LOCAL search_path = pg_catalog, pg_temp;\nCREATE SCHEMA IF NOT EXISTS ipam;\n{BOOTSTRAP}\n"));
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
