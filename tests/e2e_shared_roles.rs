//! Who may change what in the shared ledger (issue 18), under real Terraform and a real
//! PostgreSQL: the network team's role owns the database and administers the pool,
//! plain team roles with CONNECT only allocate for the owners `owner_roles` gives them,
//! and row-level security refuses the rest even to `psql`, the tables' owner included.
mod common;

use common::pg::cluster;
use common::shared::{flat, Shared};

const NET: (&str, &str) = ("net_admin", "net-Pa55-secret");
const TEAM_A: (&str, &str) = ("team_a", "team-a-Pa55-secret");
const TEAM_B: (&str, &str) = ("team_b", "team-b-Pa55-secret");
const TEAM_C: (&str, &str) = ("team_c", "team-c-Pa55-secret");

/// The roles users have: a database owner who is not a superuser, and team roles that
/// may only connect. Returns the database, `name`.
fn setup(name: &str) -> String {
    static ROLES: std::sync::Once = std::sync::Once::new();
    let c = cluster();
    ROLES.call_once(|| create_roles(c));
    let db = name;
    c.psql_super("postgres", &format!("CREATE DATABASE {db} OWNER {}", NET.0));
    c.psql_super(
        db,
        &format!(
            "REVOKE ALL ON DATABASE {db} FROM PUBLIC;
             GRANT CONNECT ON DATABASE {db} TO {}, {}, {};",
            TEAM_A.0, TEAM_B.0, TEAM_C.0
        ),
    );
    db.to_string()
}

/// Roles are the cluster's, not a database's: made once per test process.
fn create_roles(c: &common::pg::Cluster) {
    let mut sql = String::from("DO $$ BEGIN\n");
    for (role, pw) in [NET, TEAM_A, TEAM_B, TEAM_C] {
        sql.push_str(&format!(
            "IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN
               CREATE ROLE {role} LOGIN PASSWORD '{pw}' NOSUPERUSER NOCREATEDB NOCREATEROLE;
             END IF;\n"
        ));
    }
    sql.push_str("END $$;");
    c.psql_super("postgres", &sql);
}

fn pool(owner_roles: &str) -> String {
    format!(
        r#"
resource "ipam_shared_pool" "corp" {{
  name        = "corp"
  cidrs       = ["10.0.0.0/16"]
  owner_roles = {{ {owner_roles} }}
}}
"#
    )
}

fn owner(name: &str) -> String {
    format!(
        r#"
resource "ipam_shared_allocations" "mine" {{
  pool  = "corp"
  owner = "{name}"
  allocations = {{
    vpc = {{ prefix_length = 24 }}
  }}
}}
"#
    )
}

fn as_role((user, pw): (&str, &str), db: &str, body: &str) -> Shared {
    Shared::as_role(db, user, pw, body)
}

/// psql as `role`: (succeeded, output, errors).
fn psql((user, pw): (&str, &str), db: &str, sql: &str) -> (bool, String, String) {
    cluster().psql_role(user, pw, db, sql)
}

/// The owners of the allocations, one per allocation, as the superuser sees them.
fn allocation_owners(db: &str) -> Vec<String> {
    cluster()
        .psql_super(
            db,
            "SELECT owner FROM ipam.blocks WHERE NOT reservation ORDER BY owner",
        )
        .lines()
        .map(str::to_string)
        .collect()
}

/// Every row of the ledger, as the superuser sees it, for before/after comparisons.
fn ledger(db: &str) -> String {
    cluster().psql_super(
        db,
        "SELECT string_agg(t, '; ' ORDER BY t) FROM (
           SELECT 'block ' || pool || ' ' || owner || ' ' || name || ' ' || cidr::text || ' ' || reservation AS t FROM ipam.blocks
           UNION ALL SELECT 'owner ' || pool || ' ' || owner || ' ' || coalesce(claim::text, '-') FROM ipam.owners
           UNION ALL SELECT 'pool ' || name || ' ' || cidrs::text || ' ' || coalesce(owner_roles::text, '-') || ' ' || admin_role FROM ipam.pools) x",
    )
}

#[test]
fn each_team_writes_only_its_own_slice() {
    let db = setup("roles_teams");

    // The network team creates the pool; it administers it by default.
    let network = as_role(NET, &db, &pool(r#"team-a = "team_a", team-b = "team_b""#));
    network.apply();
    network.assert_no_changes();
    let corp = network.resource("ipam_shared_pool.corp");
    assert_eq!(corp["admin_role"], "net_admin");
    assert_eq!(corp["owner_roles"]["team-a"], "team_a");

    // Team A and team B allocate for their own owners.
    let a = as_role(TEAM_A, &db, &owner("team-a"));
    a.apply();
    a.assert_no_changes();
    let b = as_role(TEAM_B, &db, &owner("team-b"));
    b.apply();
    b.assert_no_changes();
    assert_eq!(allocation_owners(&db), ["team-a", "team-b"]);

    // Team A cannot create owner team-b: refused at plan, nothing written.
    let before = ledger(&db);
    let a_as_b = as_role(TEAM_A, &db, &owner("team-b"));
    let err = a_as_b.plan_fails();
    assert!(err.contains("Not a member of the owner's role"), "{err}");
    assert!(
        err.contains(r#"role "team_a" is not a member of role "team_b""#),
        "{err}"
    );
    let out = a_as_b.tf(&["apply", "-no-color", "-input=false", "-auto-approve"]);
    assert_ne!(out.code, 0);
    assert_eq!(ledger(&db), before);

    // Team C is in no owner_roles: it cannot allocate at all, under any owner name.
    for name in ["team-c", "team-a"] {
        let c = as_role(TEAM_C, &db, &owner(name));
        let err = c.plan_fails();
        assert!(err.contains("corp"), "{err}");
        assert!(err.contains(name), "{err}");
    }
    let err = as_role(TEAM_C, &db, &owner("team-c")).plan_fails();
    assert!(
        err.contains("Owner not allowed in this shared pool"),
        "{err}"
    );
    // Nor can it take team A's owner by importing it (which would move its claim).
    let thief = as_role(TEAM_C, &db, &owner("team-a"));
    let out = thief.tf(&[
        "import",
        "-no-color",
        "ipam_shared_allocations.mine",
        "corp/team-a",
    ]);
    assert_ne!(out.code, 0, "{}", out.stdout);
    assert!(
        flat(&out.stderr).contains("Not a member of the owner's role"),
        "{}",
        out.stderr
    );
    assert_eq!(ledger(&db), before);

    // ...but every role may read the whole plan (the data source, the report).
    let reader = as_role(
        TEAM_C,
        &db,
        r#"
data "ipam_shared_pool" "corp" {
  name = "corp"
}
output "owners" {
  value = sort(keys(data.ipam_shared_pool.corp.allocations))
}
output "roles" {
  value = data.ipam_shared_pool.corp.owner_roles
}
"#,
    );
    let out = reader.apply();
    assert!(out.stdout.contains("team-a/vpc"), "{}", out.stdout);
    assert!(out.stdout.contains("team-b/vpc"), "{}", out.stdout);
    assert!(
        out.stdout.contains("\"team-b\" = \"team_b\""),
        "{}",
        out.stdout
    );

    // Team A cannot change the pool: it can import it (read), but a change is refused
    // at plan, and a destroy at apply, and nothing is written.
    let a_pool = as_role(
        TEAM_A,
        &db,
        &pool(r#"team-a = "team_a", team-b = "team_b""#),
    );
    a_pool
        .tf(&["import", "-no-color", "ipam_shared_pool.corp", "corp"])
        .ok();
    a_pool.assert_no_changes();
    a_pool.config(
        &pool(r#"team-a = "team_a", team-b = "team_b""#).replace("10.0.0.0/16", "10.0.0.0/15"),
    );
    let err = a_pool.plan_fails();
    assert!(err.contains("Not the shared pool's admin"), "{err}");
    assert!(
        err.contains(r#"only members of its admin_role "net_admin""#),
        "{err}"
    );
    a_pool.config(&pool(
        r#"team-a = "team_a", team-b = "team_b", team-c = "team_c""#,
    ));
    assert!(a_pool.plan_fails().contains("Not the shared pool's admin"));
    a_pool.config(&pool(r#"team-a = "team_a", team-b = "team_b""#));
    let out = a_pool.tf(&["destroy", "-no-color", "-input=false", "-auto-approve"]);
    assert_ne!(out.code, 0, "{}", out.stdout);
    assert!(
        flat(&out.stderr).contains("Not the shared pool's admin"),
        "{}",
        out.stderr
    );
    assert_eq!(ledger(&db), before);

    // psql as team A, bypassing the provider: team B's rows and the pool are out of
    // reach, whether PostgreSQL refuses the statement or it changes no row.
    let statements = [
        "DELETE FROM ipam.blocks WHERE owner = 'team-b'",
        "UPDATE ipam.blocks SET description = 'mine' WHERE owner = 'team-b'",
        "INSERT INTO ipam.blocks (pool, owner, name, reservation, cidr, span, request) VALUES ('corp', 'team-b', 'x', false, '10.0.99.0/24', '10.0.99.0/24', '{}')",
        "INSERT INTO ipam.blocks (pool, owner, name, reservation, cidr, span, request, expires_at, plan_key) VALUES ('corp', 'team-b', 'y', true, '10.0.98.0/24', '10.0.98.0/24', '{}', now() + interval '1 hour', 'k')",
        "DELETE FROM ipam.owners WHERE owner = 'team-b'",
        "UPDATE ipam.owners SET claim = NULL WHERE owner = 'team-b'",
        "INSERT INTO ipam.owners (pool, owner) VALUES ('corp', 'team-z')",
        "UPDATE ipam.pools SET cidrs = '{10.0.0.0/8}'",
        "UPDATE ipam.pools SET owner_roles = owner_roles || '{\"team-z\": \"team_a\"}'",
        "DELETE FROM ipam.pools",
    ];
    for sql in statements {
        let (ok, out, err) = psql(TEAM_A, &db, sql);
        assert!(
            !ok || out.is_empty(),
            "team_a's {sql:?} did something: {out} {err}"
        );
        assert_eq!(ledger(&db), before, "after team_a's {sql:?}");
    }
    // It refuses an insert outright, naming row-level security.
    let (ok, _, err) = psql(TEAM_A, &db, statements[2]);
    assert!(!ok && err.contains("row-level security"), "{err}");
    // Team A reads everything.
    let (ok, seen, err) = psql(
        TEAM_A,
        &db,
        "SELECT count(*) FROM ipam.blocks WHERE NOT reservation",
    );
    assert!(ok, "{err}");
    assert_eq!(seen, "2");
    // Team A still changes its own rows, where the policies allow it.
    let (ok, _, err) = psql(
        TEAM_A,
        &db,
        "UPDATE ipam.blocks SET description = description WHERE owner = 'team-a'",
    );
    assert!(ok, "{err}");
    // The tables' owner is held to the policies too (FORCE ROW LEVEL SECURITY).
    let (ok, _, _) = psql(NET, &db, "DELETE FROM ipam.blocks WHERE owner = 'team-b'");
    assert!(ok);
    assert_eq!(ledger(&db), before, "net_admin deleted team B's rows");

    // The network team adds team C; team C then allocates.
    network.config(&pool(
        r#"team-a = "team_a", team-b = "team_b", team-c = "team_c""#,
    ));
    network.apply();
    network.assert_no_changes();
    let c = as_role(TEAM_C, &db, &owner("team-c"));
    c.apply();
    c.assert_no_changes();
    assert_eq!(allocation_owners(&db), ["team-a", "team-b", "team-c"]);
    // Team A's destroy of its own owner still works; team B's rows stay.
    a.tf(&["destroy", "-no-color", "-input=false", "-auto-approve"])
        .ok();
    assert_eq!(allocation_owners(&db), ["team-b", "team-c"]);
}

/// A pool without owner_roles trusts every login (as before this feature): a team
/// role allocates any owner there, and only the pool's admin changes the pool.
#[test]
fn a_pool_without_owner_roles_trusts_every_login() {
    let db = setup("roles_open");
    let network = as_role(
        NET,
        &db,
        r#"
resource "ipam_shared_pool" "open" {
  name  = "open"
  cidrs = ["10.1.0.0/16"]
}
"#,
    );
    network.apply();
    let body = owner("anyone").replace("\"corp\"", "\"open\"");
    let c = as_role(TEAM_C, &db, &body);
    c.apply();
    c.assert_no_changes();
    let (ok, _, err) = psql(
        TEAM_C,
        &db,
        "UPDATE ipam.pools SET cidrs = '{10.0.0.0/8}' RETURNING name",
    );
    assert!(ok, "{err}");
    assert_eq!(
        cluster().psql_super(
            &db,
            "SELECT cidrs::text FROM ipam.pools WHERE name = 'open'"
        ),
        "{10.1.0.0/16}"
    );
}
