//! The store: the shared ledger in PostgreSQL. Connection (unix socket or TCP, TLS
//! through rustls), versioned migrations under an advisory lock, and the queries of the
//! shared resources. No Terraform types: pools, blocks and typed errors.
//!
//! # The no-overlap guarantee
//! Three layers, each enough on its own for a correct caller:
//! 1. Every plan and apply of a pool runs in one transaction that first takes the
//!    pool's advisory lock (`pg_advisory_xact_lock`), so placements of one pool are
//!    serialized across every process and machine.
//! 2. Apply re-checks each block against every other owner's rows through the GiST
//!    index and fails, naming the other owner, before writing anything.
//! 3. The table's exclusion constraint `blocks_no_overlap_across_owners`
//!    (`EXCLUDE USING gist (span inet_ops WITH &&, pool WITH =, owner WITH <>)`)
//!    makes an overlap between two owners' rows impossible even if the code above is
//!    wrong. One owner's rows may overlap each other: a plan reservation of a block
//!    that grows in place overlaps the owner's current allocation. The allocator keeps
//!    one owner's allocations apart.
//!
//! A row is an allocation or a plan reservation. `span` is the block, or the growth
//! room it holds (`grow_to`), which no other owner may take either.

mod conn;
mod migrate;

use std::collections::BTreeMap;
use std::time::Duration;

use ipnet::IpNet;
use tokio_postgres::{Client, Transaction};

pub use conn::ConnInfo;
pub use migrate::SCHEMA_VERSION;

/// A pool as its defining state writes it.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolDef {
    pub name: String,
    pub cidrs: Vec<IpNet>,
    pub reserved: Vec<IpNet>,
    /// The prefix rules and strategy, as the provider encodes them.
    pub settings: serde_json::Value,
}

/// One owner's block: an allocation, or a plan reservation.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    pub owner: String,
    pub name: String,
    pub cidr: IpNet,
    /// The block, or the larger growth room it holds.
    pub span: IpNet,
    pub description: Option<String>,
    /// The request as the provider encodes it (prefix length, grow_to, pin).
    pub request: serde_json::Value,
}

/// A plan reservation: a block a plan showed, held for its owner until `expires_at`.
#[derive(Debug, Clone, PartialEq)]
pub struct Reservation {
    pub block: Block,
    /// RFC 3339, UTC.
    pub expires_at: String,
}

/// What one plan of one owner gave: the blocks `place` returned (now reserved), or its
/// error (nothing written); and how long the pool's lock was held.
#[derive(Debug)]
pub struct Planned<E> {
    pub placed: Result<Vec<Block>, E>,
    /// From the lock's grant to the commit (or rollback).
    pub lock_held: Duration,
}

/// A pool with every owner's allocations and the live plan reservations.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub def: Option<PoolDef>,
    pub allocations: Vec<Block>,
    pub reservations: Vec<Reservation>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("could not connect to the database: {0}")]
    Connect(String),
    #[error("database error: {0}")]
    Db(String),
    #[error("the database's ipam schema is version {found}, newer than this provider knows ({known}); use a provider version at least as new as the one that migrated it")]
    SchemaTooNew { found: i32, known: i32 },
    #[error("pool {0:?} does not exist in the database")]
    NoPool(String),
    #[error("pool {0:?} already exists in the database")]
    PoolExists(String),
    #[error("{0}")]
    Conflict(String),
    #[error("stopped: Terraform asked the provider to stop")]
    Stopped,
}

/// The error and every `source()` under it, joined: tokio-postgres says only "db
/// error" or "error connecting to server" at the top.
pub(crate) fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        let text = match err.downcast_ref::<tokio_postgres::error::DbError>() {
            Some(db) => {
                let mut t = db.message().to_string();
                if let Some(d) = db.detail() {
                    t.push_str(&format!(" ({d})"));
                }
                if let Some(h) = db.hint() {
                    t.push_str(&format!("; hint: {h}"));
                }
                t
            }
            None => err.to_string(),
        };
        if !parts.iter().any(|p| p.contains(&text)) && text != "db error" {
            parts.push(text);
        }
        cur = err.source();
    }
    parts.join(": ")
}

fn db(e: tokio_postgres::Error) -> StoreError {
    StoreError::Db(chain(&e))
}

fn parse_net(s: &str) -> Result<IpNet, StoreError> {
    s.parse()
        .map_err(|_| StoreError::Db(format!("unreadable CIDR {s:?} in the database")))
}

fn nets(v: &[String]) -> Result<Vec<IpNet>, StoreError> {
    v.iter().map(|s| parse_net(s)).collect()
}

fn texts(v: &[IpNet]) -> Vec<String> {
    v.iter().map(|n| n.to_string()).collect()
}

/// The shared ledger in one PostgreSQL database. Connects lazily, on first use, and
/// migrates the schema then; holds no ledger in memory.
pub struct Store {
    info: ConnInfo,
    migrated: tokio::sync::OnceCell<()>,
}

const BLOCK_COLUMNS: &str =
    "owner, name, cidr::text, span::text, description, request, reservation, to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')";

fn block_of(row: &tokio_postgres::Row) -> Result<(Block, Option<String>), StoreError> {
    let block = Block {
        owner: row.get(0),
        name: row.get(1),
        cidr: parse_net(row.get(2))?,
        span: parse_net(row.get(3))?,
        description: row.get(4),
        request: row.get(5),
    };
    let reservation: bool = row.get(6);
    Ok((block, reservation.then(|| row.get(7))))
}

/// Takes the pool's advisory lock for the rest of the transaction.
async fn lock_pool(tx: &Transaction<'_>, pool: &str) -> Result<(), StoreError> {
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('ipam.pool:' || $1, 0))",
        &[&pool],
    )
    .await
    .map_err(db)?;
    Ok(())
}

async fn read_def(tx: &Transaction<'_>, pool: &str) -> Result<Option<PoolDef>, StoreError> {
    let row = tx
        .query_opt(
            "SELECT name, cidrs::text[], reserved::text[], settings FROM ipam.pools WHERE name = $1",
            &[&pool],
        )
        .await
        .map_err(db)?;
    row.map(|r| {
        Ok(PoolDef {
            name: r.get(0),
            cidrs: nets(&r.get::<_, Vec<String>>(1))?,
            reserved: nets(&r.get::<_, Vec<String>>(2))?,
            settings: r.get(3),
        })
    })
    .transpose()
}

async fn read_snapshot(tx: &Transaction<'_>, pool: &str) -> Result<Snapshot, StoreError> {
    read_blocks(tx, pool, "AND (NOT reservation OR expires_at > now())").await
}

/// The pool and its rows that match `filter` (an SQL condition after `pool = $1`).
async fn read_blocks(
    tx: &Transaction<'_>,
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
            (block, Some(expires_at)) => snap.reservations.push(Reservation { block, expires_at }),
        }
    }
    Ok(snap)
}

/// The owners and names of the allocations that stop `what`.
fn name_blocks(blocks: &[Block]) -> String {
    let mut by_owner: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for b in blocks {
        by_owner
            .entry(&b.owner)
            .or_default()
            .push(format!("{} ({})", b.name, b.cidr));
    }
    by_owner
        .iter()
        .map(|(o, names)| format!("owner {o:?}: {}", names.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
}

impl Store {
    /// Parses a connection string (URL or `key=value`); connects nowhere yet.
    pub fn new(url: &str) -> Result<Store, StoreError> {
        Ok(Store {
            info: ConnInfo::parse(url)?,
            migrated: tokio::sync::OnceCell::new(),
        })
    }

    /// A connection with the schema migrated (once per process).
    pub async fn client(&self) -> Result<Client, StoreError> {
        let mut client = self.info.connect().await?;
        self.migrated
            .get_or_try_init(|| migrate::migrate(&mut client))
            .await?;
        Ok(client)
    }

    /// The pool and every block in it, with live reservations.
    pub async fn snapshot(&self, pool: &str) -> Result<Snapshot, StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(db)?;
        let snap = read_snapshot(&tx, pool).await?;
        tx.commit().await.map_err(db)?;
        Ok(snap)
    }

    /// Creates a pool; fails when one of that name exists.
    pub async fn create_pool(&self, def: &PoolDef) -> Result<(), StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(db)?;
        lock_pool(&tx, &def.name).await?;
        if read_def(&tx, &def.name).await?.is_some() {
            return Err(StoreError::PoolExists(def.name.clone()));
        }
        tx.execute(
            "INSERT INTO ipam.pools (name, cidrs, reserved, settings) VALUES ($1, $2::text[]::cidr[], $3::text[]::cidr[], $4)",
            &[&def.name, &texts(&def.cidrs), &texts(&def.reserved), &def.settings],
        )
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    /// Changes a pool's definition. Fails, naming the owners, when an allocation would
    /// fall outside the new CIDRs or inside a new reserved range.
    pub async fn update_pool(&self, def: &PoolDef) -> Result<(), StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(db)?;
        lock_pool(&tx, &def.name).await?;
        if read_def(&tx, &def.name).await?.is_none() {
            return Err(StoreError::NoPool(def.name.clone()));
        }
        let rows = tx
            .query(
                &format!(
                    "SELECT {BLOCK_COLUMNS} FROM ipam.blocks b WHERE pool = $1 AND NOT reservation
                       AND (NOT EXISTS (SELECT 1 FROM unnest($2::text[]::cidr[]) c WHERE c >>= b.cidr)
                            OR EXISTS (SELECT 1 FROM unnest($3::text[]::cidr[]) r WHERE r && b.cidr))
                     ORDER BY owner, name"
                ),
                &[&def.name, &texts(&def.cidrs), &texts(&def.reserved)],
            )
            .await
            .map_err(db)?;
        if !rows.is_empty() {
            let blocks = rows
                .iter()
                .map(|r| block_of(r).map(|(b, _)| b))
                .collect::<Result<Vec<_>, _>>()?;
            return Err(StoreError::Conflict(format!(
                "allocations would fall outside the pool's cidrs or inside a reserved range: {}. Release them first (remove them from their owners' ipam_shared_allocations and apply there), or keep the CIDRs that hold them",
                name_blocks(&blocks)
            )));
        }
        tx.execute(
            "UPDATE ipam.pools SET cidrs = $2::text[]::cidr[], reserved = $3::text[]::cidr[], settings = $4, updated_at = now() WHERE name = $1",
            &[&def.name, &texts(&def.cidrs), &texts(&def.reserved), &def.settings],
        )
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    /// Deletes a pool. Fails, naming the owners and allocations, while any owner holds
    /// blocks in it; plan reservations go with the pool.
    pub async fn delete_pool(&self, pool: &str) -> Result<(), StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(db)?;
        lock_pool(&tx, pool).await?;
        let snap = read_snapshot(&tx, pool).await?;
        if !snap.allocations.is_empty() {
            return Err(StoreError::Conflict(format!(
                "pool {pool:?} still has allocations: {}. Destroy those owners' ipam_shared_allocations (or remove the allocations) first",
                name_blocks(&snap.allocations)
            )));
        }
        tx.execute("DELETE FROM ipam.blocks WHERE pool = $1", &[&pool])
            .await
            .map_err(db)?;
        tx.execute("DELETE FROM ipam.pools WHERE name = $1", &[&pool])
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    /// One plan of one owner, under the pool's lock: drops other owners' expired
    /// reservations, hands the snapshot (this owner's expired reservations included)
    /// to `place`, and records the blocks it returns that are not already this owner's
    /// allocations as this owner's reservations for `ttl`, replacing older ones.
    pub async fn plan_owner<E>(
        &self,
        pool: &str,
        owner: &str,
        ttl: Duration,
        place: impl FnOnce(&Snapshot) -> Result<Vec<Block>, E>,
    ) -> Result<Planned<E>, StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(db)?;
        lock_pool(&tx, pool).await?;
        let locked = std::time::Instant::now();
        tx.execute(
            "DELETE FROM ipam.blocks WHERE pool = $1 AND reservation AND expires_at <= now() AND owner <> $2",
            &[&pool, &owner],
        )
        .await
        .map_err(db)?;
        // Every row left, this owner's expired reservations included: they are
        // the blocks its last plan showed.
        let snap = read_blocks(&tx, pool, "").await?;
        if snap.def.is_none() {
            return Err(StoreError::NoPool(pool.to_string()));
        }
        let blocks = match place(&snap) {
            Ok(b) => b,
            Err(e) => {
                tx.rollback().await.map_err(db)?;
                return Ok(Planned {
                    placed: Err(e),
                    lock_held: locked.elapsed(),
                });
            }
        };
        let held: BTreeMap<&str, &Block> = snap
            .allocations
            .iter()
            .filter(|b| b.owner == owner)
            .map(|b| (b.name.as_str(), b))
            .collect();
        let new: Vec<&Block> = blocks
            .iter()
            .filter(|b| {
                held.get(b.name.as_str())
                    .is_none_or(|h| h.cidr != b.cidr || h.span != b.span)
            })
            .collect();
        tx.execute(
            "DELETE FROM ipam.blocks WHERE pool = $1 AND owner = $2 AND reservation",
            &[&pool, &owner],
        )
        .await
        .map_err(db)?;
        insert_blocks(&tx, pool, owner, &new, Some(ttl)).await?;
        tx.commit().await.map_err(db)?;
        let lock_held = locked.elapsed();
        tracing::debug!(
            pool,
            owner,
            lock_held_us = lock_held.as_micros() as u64,
            "plan reservations recorded"
        );
        Ok(Planned {
            placed: Ok(blocks),
            lock_held,
        })
    }

    /// Makes `blocks` this owner's whole slice of the pool, in one transaction under
    /// the pool's lock: re-checks every block against other owners through the index,
    /// replaces the owner's allocations, and drops its reservations.
    pub async fn apply_owner(
        &self,
        pool: &str,
        owner: &str,
        blocks: &[Block],
    ) -> Result<(), StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(db)?;
        lock_pool(&tx, pool).await?;
        if read_def(&tx, pool).await?.is_none() {
            return Err(StoreError::NoPool(pool.to_string()));
        }
        let names: Vec<&str> = blocks.iter().map(|b| b.name.as_str()).collect();
        let spans = texts(&blocks.iter().map(|b| b.span).collect::<Vec<_>>());
        let rows = tx
            .query(
                "SELECT t.name, b.owner, b.name, b.cidr::text, b.reservation
                   FROM unnest($3::text[], $4::text[]) AS t(name, span)
                   JOIN ipam.blocks b ON b.pool = $1 AND b.owner <> $2 AND b.span && t.span::cidr
                    AND (NOT b.reservation OR b.expires_at > now())
                  ORDER BY 1, 2, 3",
                &[&pool, &owner, &names, &spans],
            )
            .await
            .map_err(db)?;
        if !rows.is_empty() {
            let what: Vec<String> = rows
                .iter()
                .map(|r| {
                    let mine: &str = r.get(0);
                    let cidr = blocks
                        .iter()
                        .find(|b| b.name == mine)
                        .map(|b| b.span.to_string())
                        .unwrap_or_default();
                    let kind = if r.get::<_, bool>(4) {
                        "plan reservation"
                    } else {
                        "allocation"
                    };
                    format!(
                        "{mine:?} ({cidr}) overlaps {} {:?} ({}) of owner {:?}",
                        kind,
                        r.get::<_, String>(2),
                        r.get::<_, String>(3),
                        r.get::<_, String>(1)
                    )
                })
                .collect();
            return Err(StoreError::Conflict(format!(
                "{}. Nothing was written. Run terraform plan again to place these allocations anew",
                what.join("; ")
            )));
        }
        tx.execute(
            "DELETE FROM ipam.blocks WHERE pool = $1 AND owner = $2",
            &[&pool, &owner],
        )
        .await
        .map_err(db)?;
        let all: Vec<&Block> = blocks.iter().collect();
        insert_blocks(&tx, pool, owner, &all, None).await?;
        tx.commit().await.map_err(db)
    }

    /// This owner's allocations, or `None` when the pool does not exist.
    pub async fn owner_blocks(
        &self,
        pool: &str,
        owner: &str,
    ) -> Result<Option<Vec<Block>>, StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(db)?;
        if read_def(&tx, pool).await?.is_none() {
            return Ok(None);
        }
        let rows = tx
            .query(
                &format!("SELECT {BLOCK_COLUMNS} FROM ipam.blocks WHERE pool = $1 AND owner = $2 AND NOT reservation ORDER BY name"),
                &[&pool, &owner],
            )
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        rows.iter()
            .map(|r| block_of(r).map(|(b, _)| b))
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// Removes the owner's allocations and reservations.
    pub async fn delete_owner(&self, pool: &str, owner: &str) -> Result<(), StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(db)?;
        lock_pool(&tx, pool).await?;
        tx.execute(
            "DELETE FROM ipam.blocks WHERE pool = $1 AND owner = $2",
            &[&pool, &owner],
        )
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)
    }
}

async fn insert_blocks(
    tx: &Transaction<'_>,
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
    let ttl_secs = ttl.map(|t| t.as_secs_f64());
    tx.execute(
        "INSERT INTO ipam.blocks (pool, owner, name, reservation, cidr, span, description, request, expires_at)
         SELECT $1, $2, t.name, $8::float8 IS NOT NULL, t.cidr::cidr, t.span::cidr, t.description, t.request,
                CASE WHEN $8::float8 IS NULL THEN NULL ELSE now() + make_interval(secs => $8::float8) END
           FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::jsonb[])
             AS t(name, cidr, span, description, request)",
        &[&pool, &owner, &names, &cidrs, &spans, &descriptions, &requests, &ttl_secs],
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_walks_sources_and_drops_the_bare_db_error() {
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("error connecting to server")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let e = Outer(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "Connection refused (os error 111)",
        ));
        assert_eq!(
            chain(&e),
            "error connecting to server: Connection refused (os error 111)"
        );
    }
}
