//! The queries every operation shares: reading a pool, an owner and their blocks,
//! writing blocks, and naming rows in a diagnostic.

use std::collections::BTreeMap;
use std::time::Duration;

use ipnet::IpNet;
use tokio_postgres::Client;

use super::error::{chain, db};
use super::{Block, OwnerRow, PoolAccess, PoolDef, Reservation, Snapshot, StoreError};

pub(super) fn parse_net(s: &str) -> Result<IpNet, StoreError> {
    s.parse()
        .map_err(|_| StoreError::Db(format!("unreadable CIDR {s:?} in the database")))
}

pub(super) fn nets(v: &[String]) -> Result<Vec<IpNet>, StoreError> {
    v.iter().map(|s| parse_net(s)).collect()
}

pub(super) fn texts(v: &[IpNet]) -> Vec<String> {
    v.iter().map(|n| n.to_string()).collect()
}

pub(super) const BLOCK_COLUMNS: &str =
    "owner, name, cidr::text, span::text, description, request, reservation, pg_catalog.to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), plan_key, coalesce(expires_at > pg_catalog.now(), false)";

/// A row: the block, and for a reservation its end and whether it is still live.
pub(super) fn block_of(
    row: &tokio_postgres::Row,
) -> Result<(Block, Option<(String, bool)>), StoreError> {
    let block = Block {
        owner: row.get(0),
        name: row.get(1),
        cidr: parse_net(row.get(2))?,
        span: parse_net(row.get(3))?,
        description: row.get(4),
        request: row.get(5),
        key: row.get(8),
    };
    let reservation: bool = row.get(6);
    Ok((block, reservation.then(|| (row.get(7), row.get(9)))))
}

pub(super) async fn read_def(tx: &Client, pool: &str) -> Result<Option<PoolDef>, StoreError> {
    let row = tx
        .query_opt(
            "SELECT name, cidrs::text[], reserved::text[], settings, owner_roles, admin_role
               FROM ipam.pools WHERE name = $1",
            &[&pool],
        )
        .await
        .map_err(db)?;
    row.map(|r| {
        let owner_roles: Option<serde_json::Value> = r.get(4);
        let owner_roles = owner_roles
            .map(serde_json::from_value::<BTreeMap<String, String>>)
            .transpose()
            .map_err(|e| StoreError::Db(format!("unreadable owner_roles of pool {pool:?}: {e}")))?;
        Ok(PoolDef {
            name: r.get(0),
            cidrs: nets(&r.get::<_, Vec<String>>(1))?,
            reserved: nets(&r.get::<_, Vec<String>>(2))?,
            settings: r.get(3),
            access: PoolAccess {
                owner_roles,
                admin_role: Some(r.get(5)),
            },
        })
    })
    .transpose()
}

/// Who the session is, and whether it may change `pool` (false when there is none).
pub(super) async fn read_admin(tx: &Client, pool: &str) -> Result<(String, bool), StoreError> {
    let row = tx
        .query_one("SELECT current_user::text, ipam.may_admin($1)", &[&pool])
        .await
        .map_err(db)?;
    Ok((row.get(0), row.get(1)))
}

/// The session's role, and whether it is a member of `role` (false for a role that
/// does not exist).
async fn membership(tx: &Client, role: &str) -> Result<(String, bool), StoreError> {
    let row = tx
        .query_one("SELECT current_user::text, ipam.is_member($1)", &[&role])
        .await
        .map_err(db)?;
    Ok((row.get(0), row.get(1)))
}

/// Refuses, naming the roles, when the session is not a member of `def`'s
/// `admin_role` (the stored one, or one the change would hand the pool to).
pub(super) async fn check_admin(tx: &Client, def: &PoolDef) -> Result<(), StoreError> {
    let Some(role) = &def.access.admin_role else {
        return Ok(());
    };
    let (user, member) = membership(tx, role).await?;
    if member {
        return Ok(());
    }
    Err(StoreError::NotAdmin {
        pool: def.name.clone(),
        admin_role: role.clone(),
        user,
    })
}

/// Refuses, naming the pool, owner and roles, when the session may not write `owner`'s
/// rows in `def`'s pool.
pub(super) async fn check_writer(
    tx: &Client,
    def: &PoolDef,
    owner: &str,
) -> Result<(), StoreError> {
    let Some(roles) = &def.access.owner_roles else {
        return Ok(());
    };
    let Some(role) = roles.get(owner) else {
        return Err(StoreError::OwnerNotListed {
            pool: def.name.clone(),
            owner: owner.to_string(),
        });
    };
    let (user, member) = membership(tx, role).await?;
    if member {
        return Ok(());
    }
    Err(StoreError::NotOwnerRole {
        pool: def.name.clone(),
        owner: owner.to_string(),
        role: role.clone(),
        user,
    })
}

/// The pool as a reader sees it: live rows only, and who is reading with what rights
/// (a plan under the lock reads [`read_blocks`] and needs neither).
pub(super) async fn read_snapshot(tx: &Client, pool: &str) -> Result<Snapshot, StoreError> {
    let mut snap = read_blocks(
        tx,
        pool,
        "AND (NOT reservation OR expires_at > pg_catalog.now())",
    )
    .await?;
    (snap.user, snap.may_admin) = read_admin(tx, pool).await?;
    Ok(snap)
}

pub(super) async fn read_owner(
    tx: &Client,
    pool: &str,
    owner: &str,
) -> Result<Option<OwnerRow>, StoreError> {
    let row = tx
        .query_opt(
            "SELECT claim::text, origin, passed_from::text,
                    CASE WHEN handover_expires > pg_catalog.now() THEN handover_from::text END
               FROM ipam.owners WHERE pool = $1 AND owner = $2",
            &[&pool, &owner],
        )
        .await
        .map_err(db)?;
    Ok(row.map(|r| OwnerRow {
        claim: r.get(0),
        origin: r.get(1),
        passed_from: r.get(2),
        handover_from: r.get(3),
    }))
}

/// The owner's allocations, by name.
pub(super) async fn read_owner_blocks(
    tx: &Client,
    pool: &str,
    owner: &str,
) -> Result<Vec<Block>, StoreError> {
    tx.query(
        &format!("SELECT {BLOCK_COLUMNS} FROM ipam.blocks WHERE pool = $1 AND owner = $2 AND NOT reservation ORDER BY name"),
        &[&pool, &owner],
    )
    .await
    .map_err(db)?
    .iter()
    .map(|r| block_of(r).map(|(b, _)| b))
    .collect()
}

pub(super) async fn has_allocations(
    tx: &Client,
    pool: &str,
    owner: &str,
) -> Result<bool, StoreError> {
    Ok(tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM ipam.blocks WHERE pool = $1 AND owner = $2 AND NOT reservation)",
            &[&pool, &owner],
        )
        .await
        .map_err(db)?
        .get(0))
}

/// The pool and its rows that match `filter` (an SQL condition after `pool = $1`).
pub(super) async fn read_blocks(
    tx: &Client,
    pool: &str,
    filter: &str,
) -> Result<Snapshot, StoreError> {
    let def = read_def(tx, pool).await?;
    let rows = tx
        .query(
            &format!(
                "SELECT {BLOCK_COLUMNS} FROM ipam.blocks WHERE pool = $1 {filter} ORDER BY owner, name, reservation"
            ),
            &[&pool],
        )
        .await
        .map_err(db)?;
    let mut snap = Snapshot {
        def,
        ..Default::default()
    };
    for r in &rows {
        match block_of(r)? {
            (b, None) => snap.allocations.push(b),
            (block, Some((expires_at, live))) => snap.reservations.push(Reservation {
                block,
                expires_at,
                live,
            }),
        }
    }
    Ok(snap)
}

/// Allocations named for a diagnostic, grouped by owner.
pub(super) fn name_blocks(blocks: &[Block]) -> String {
    by_owner(
        blocks
            .iter()
            .map(|b| (b, format!("{} ({})", b.name, b.cidr))),
    )
}

/// Blocks and reservations named for a diagnostic, grouped by owner.
pub(super) fn name_rows(rows: &[(Block, Option<(String, bool)>)]) -> String {
    by_owner(rows.iter().map(|(b, expires)| {
        let what = match expires {
            Some((e, _)) => format!("{} (plan reservation of {}, until {e})", b.name, b.span),
            None if b.span != b.cidr => format!("{} ({}, growth room {})", b.name, b.cidr, b.span),
            None => format!("{} ({})", b.name, b.cidr),
        };
        (b, what)
    }))
}

/// `owner "a": x, y; owner "b": z`.
fn by_owner<'a>(items: impl Iterator<Item = (&'a Block, String)>) -> String {
    let mut by_owner: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (b, what) in items {
        by_owner.entry(&b.owner).or_default().push(what);
    }
    by_owner
        .iter()
        .map(|(o, names)| format!("owner {o:?}: {}", names.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
}

pub(super) async fn insert_blocks(
    tx: &Client,
    pool: &str,
    owner: &str,
    blocks: &[&Block],
    ttl: Option<Duration>,
) -> Result<(), StoreError> {
    if blocks.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = blocks.iter().map(|b| b.name.as_str()).collect();
    let cidrs = texts(&blocks.iter().map(|b| b.cidr).collect::<Vec<_>>());
    let spans = texts(&blocks.iter().map(|b| b.span).collect::<Vec<_>>());
    let descriptions: Vec<Option<&str>> = blocks.iter().map(|b| b.description.as_deref()).collect();
    let requests: Vec<&serde_json::Value> = blocks.iter().map(|b| &b.request).collect();
    let keys: Vec<&str> = blocks.iter().map(|b| b.key.as_str()).collect();
    let ttl_secs = ttl.map(|t| t.as_secs_f64());
    tx.execute(
        "INSERT INTO ipam.blocks (pool, owner, name, reservation, cidr, span, description, request, expires_at, plan_key)
         SELECT $1, $2, t.name, $8::float8 IS NOT NULL, t.cidr::cidr, t.span::cidr, t.description, t.request,
                CASE WHEN $8::float8 IS NULL THEN NULL ELSE pg_catalog.now() + pg_catalog.make_interval(secs => $8::float8) END,
                t.key
           FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::jsonb[], $9::text[])
             AS t(name, cidr, span, description, request, key)",
        &[&pool, &owner, &names, &cidrs, &spans, &descriptions, &requests, &ttl_secs, &keys],
    )
    .await
    .map_err(|e| {
        let text = chain(&e);
        if text.contains("blocks_no_overlap_across_owners") {
            StoreError::Conflict(format!(
                "the database refused an overlap with another owner's block ({text}). Nothing was written. Run terraform plan again"
            ))
        } else {
            StoreError::Db(text)
        }
    })?;
    Ok(())
}
