//! An owner's operations: plan (reservations), apply (its whole slice), read, import
//! (a new claim) and delete; each under the pool's lock and the owner's claim.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::error::db;
use super::rows::{
    check_writer, has_allocations, insert_blocks, read_blocks, read_def, read_owner,
    read_owner_blocks, texts,
};
use super::session::{app_name, Tx};
use super::{check_claim, Block, Claim, OwnerState, Planned, Snapshot, Store, StoreError};

/// The `key` of a block an owner gave up at apply, held for it (see
/// [`Store::apply_owner`]). No request has this key, so no plan ever uses it as a
/// starting point; other owners count it as taken until it expires.
pub const RELEASED: &str = "released";

impl Store {
    /// One plan of one owner, under the pool's lock: checks `claim`, drops expired
    /// reservations, hands the snapshot (this owner's expired reservations included:
    /// they are the blocks its last plan showed) to `place`, and records the blocks it
    /// returns that are not already this owner's allocations as reservations for `ttl`,
    /// each for its name and request (`key`): a newer plan of the same request replaces
    /// it, and reservations of other requests (other open plans) stay until they expire.
    pub async fn plan_owner<E>(
        &self,
        pool: &str,
        owner: &str,
        claim: &Claim,
        ttl: Duration,
        place: impl FnOnce(&Snapshot) -> Result<Vec<Block>, E>,
    ) -> Result<Planned<E>, StoreError> {
        self.bounded("planning", async {
            let tx = self.locked(true, pool, &app_name("plan", pool, Some(owner))).await?;
            let locked = Instant::now();
            let kept = match self.check_owner(&tx, pool, owner, claim).await {
                Ok(k) => k,
                Err(e) => {
                    tx.rollback().await?;
                    return Err(e);
                }
            };
            if let Claim::Successor { claim: from, .. } = claim {
                // The replacing instance's create, planned: its claim may pass until the
                // plan's reservations expire, to the create Terraform plans again in the
                // apply walk (which no longer has the old instance's private state).
                tx.c().execute(
                    "UPDATE ipam.owners SET handover_from = claim,
                            handover_expires = pg_catalog.now() + pg_catalog.make_interval(secs => $4::float8)
                      WHERE pool = $1 AND owner = $2 AND claim = $3::text::uuid",
                    &[&pool, &owner, from, &ttl.as_secs_f64()],
                )
                .await
                .map_err(db)?;
            }
            tx.c().execute(
                "DELETE FROM ipam.blocks WHERE pool = $1 AND reservation AND expires_at <= pg_catalog.now() AND owner <> $2",
                &[&pool, &owner],
            )
            .await
            .map_err(db)?;
            let snap = read_blocks(tx.c(), pool, "").await?;
            let blocks = match place(&snap) {
                Ok(b) => b,
                Err(e) => {
                    tx.rollback().await?;
                    return Ok(Planned {
                        placed: Err(e),
                        claim: kept,
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
            let names: Vec<&str> = new.iter().map(|b| b.name.as_str()).collect();
            let keys: Vec<&str> = new.iter().map(|b| b.key.as_str()).collect();
            tx.c().execute(
                "DELETE FROM ipam.blocks b WHERE pool = $1 AND owner = $2 AND reservation
                   AND (expires_at <= pg_catalog.now()
                        OR (name, plan_key) IN (SELECT * FROM unnest($3::text[], $4::text[])))",
                &[&pool, &owner, &names, &keys],
            )
            .await
            .map_err(db)?;
            insert_blocks(tx.c(), pool, owner, &new, Some(ttl)).await?;
            tx.commit().await?;
            let lock_held = locked.elapsed();
            tracing::debug!(
                pool,
                owner,
                lock_held_us = lock_held.as_micros() as u64,
                "plan reservations recorded"
            );
            Ok(Planned {
                placed: Ok(blocks),
                claim: kept,
                lock_held,
            })
        })
        .await
    }

    async fn check_owner(
        &self,
        tx: &Tx<'_>,
        pool: &str,
        owner: &str,
        claim: &Claim,
    ) -> Result<Option<String>, StoreError> {
        let Some(def) = read_def(tx.c(), pool).await? else {
            return Err(StoreError::NoPool(pool.to_string()));
        };
        check_writer(tx.c(), &def, owner).await?;
        let row = read_owner(tx.c(), pool, owner).await?;
        let has = has_allocations(tx.c(), pool, owner).await?;
        check_claim(pool, owner, row.as_ref(), has, claim)
    }

    /// Makes `blocks` this owner's whole slice of the pool, in one transaction under
    /// the pool's lock: checks `claim`, re-checks every block against other owners
    /// through the index, replaces the owner's allocations, drops the reservations they
    /// came from, and records the claim. Returns the claim the resource now holds.
    ///
    /// Every block the owner gives up (removed, moved, resized) stays held for it as a
    /// [`RELEASED`] reservation for `hold`: its subnets still use it until Terraform
    /// replaces them later in the same run, or, when the provider died after this
    /// commit, until the state that still records it applies again. No other owner
    /// takes it meanwhile (found by schedule seed 99).
    pub async fn apply_owner(
        &self,
        pool: &str,
        owner: &str,
        claim: &Claim,
        blocks: &[Block],
        hold: Duration,
    ) -> Result<String, StoreError> {
        self.bounded("applying", async {
            let tx = self.locked(true, pool, &app_name("apply", pool, Some(owner))).await?;
            let kept = match self.check_owner(&tx, pool, owner, claim).await {
                Ok(k) => k,
                Err(e) => {
                    tx.rollback().await?;
                    return Err(e);
                }
            };
            let names: Vec<&str> = blocks.iter().map(|b| b.name.as_str()).collect();
            let keys: Vec<&str> = blocks.iter().map(|b| b.key.as_str()).collect();
            let spans = texts(&blocks.iter().map(|b| b.span).collect::<Vec<_>>());
            let rows = tx
                .c()
                .query(
                    "SELECT t.name, b.owner, b.name, b.cidr::text, b.reservation
                       FROM unnest($3::text[], $4::text[]) AS t(name, span)
                       JOIN ipam.blocks b ON b.pool = $1 AND b.owner <> $2 AND b.span && t.span::cidr
                        AND (NOT b.reservation OR b.expires_at > pg_catalog.now())
                      ORDER BY 1, 2, 3",
                    &[&pool, &owner, &names, &spans],
                )
                .await
                .map_err(db)?;
            if !rows.is_empty() {
                tx.rollback().await?;
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
            let cidrs = texts(&blocks.iter().map(|b| b.cidr).collect::<Vec<_>>());
            tx.c().execute(
                "INSERT INTO ipam.blocks AS o (pool, owner, name, reservation, cidr, span, description, request, expires_at, plan_key)
                 SELECT pool, owner, name, true, cidr, span, description, request,
                        pg_catalog.now() + pg_catalog.make_interval(secs => $5::float8), $6
                   FROM ipam.blocks b
                  WHERE pool = $1 AND owner = $2 AND NOT reservation
                    AND NOT EXISTS (SELECT 1 FROM unnest($3::text[], $4::text[]) AS t(name, cidr)
                                     WHERE t.name = b.name AND t.cidr::cidr = b.cidr)
                 ON CONFLICT (pool, owner, reservation, name, plan_key) DO UPDATE
                    SET cidr = excluded.cidr, span = excluded.span, expires_at = excluded.expires_at",
                &[&pool, &owner, &names, &cidrs, &hold.as_secs_f64(), &RELEASED],
            )
            .await
            .map_err(db)?;
            tx.c().execute(
                "DELETE FROM ipam.blocks WHERE pool = $1 AND owner = $2
                   AND (NOT reservation OR expires_at <= pg_catalog.now()
                        OR (name, plan_key) IN (SELECT * FROM unnest($3::text[], $4::text[])))",
                &[&pool, &owner, &names, &keys],
            )
            .await
            .map_err(db)?;
            let all: Vec<&Block> = blocks.iter().collect();
            insert_blocks(tx.c(), pool, owner, &all, None).await?;
            let origin = match claim {
                Claim::New { origin } | Claim::Successor { origin, .. } => Some(origin.as_str()),
                _ => None,
            };
            let row = tx
                .c()
                .query_one(
                    "INSERT INTO ipam.owners AS o (pool, owner, claim, origin)
                     VALUES ($1, $2, coalesce($3::text::uuid, pg_catalog.gen_random_uuid()), $4)
                     ON CONFLICT (pool, owner) DO UPDATE
                        SET claim = excluded.claim, origin = coalesce($4, o.origin),
                            claimed_at = CASE WHEN o.claim IS DISTINCT FROM excluded.claim THEN pg_catalog.now() ELSE o.claimed_at END,
                            -- A take-over by the replacing instance: the old claim is
                            -- kept so that the old instance's destroy deletes nothing.
                            passed_from = CASE WHEN o.claim IS DISTINCT FROM excluded.claim THEN o.claim ELSE o.passed_from END,
                            handover_from = NULL, handover_expires = NULL
                     RETURNING claim::text",
                    &[&pool, &owner, &kept, &origin],
                )
                .await
                .map_err(db)?;
            let claim: String = row.get(0);
            tx.commit().await?;
            Ok(claim)
        })
        .await
    }

    /// The owner as the database has it. Writes nothing; fails with
    /// [`StoreError::NoSchema`] or [`StoreError::NoPool`], never answers "nothing".
    pub async fn owner_state(&self, pool: &str, owner: &str) -> Result<OwnerState, StoreError> {
        self.bounded("reading the owner", async {
            self.ready_to_read().await?;
            let tx = self.tx(false, &app_name("read", pool, Some(owner))).await?;
            Self::check_schema(tx.c()).await?;
            if read_def(tx.c(), pool).await?.is_none() {
                tx.rollback().await?;
                return Err(StoreError::NoPool(pool.to_string()));
            }
            let row = read_owner(tx.c(), pool, owner).await?;
            let blocks = read_owner_blocks(tx.c(), pool, owner).await?;
            tx.commit().await?;
            Ok(OwnerState { row, blocks })
        })
        .await
    }

    /// This owner's allocations, or `None` when the pool does not exist.
    pub async fn owner_blocks(
        &self,
        pool: &str,
        owner: &str,
    ) -> Result<Option<Vec<Block>>, StoreError> {
        match self.owner_state(pool, owner).await {
            Ok(s) => Ok(Some(s.blocks)),
            Err(StoreError::NoPool(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Moves an owner to the state that imports it: a new claim, which the state it
    /// left can no longer write with. Fails when the owner does not exist.
    pub async fn claim_owner(
        &self,
        pool: &str,
        owner: &str,
        origin: &str,
    ) -> Result<(String, Vec<Block>), StoreError> {
        self.bounded("importing the owner", async {
            let tx = self.locked(true, pool, &app_name("import", pool, Some(owner))).await?;
            let Some(def) = read_def(tx.c(), pool).await? else {
                tx.rollback().await?;
                return Err(StoreError::NoPool(pool.to_string()));
            };
            if let Err(e) = check_writer(tx.c(), &def, owner).await {
                tx.rollback().await?;
                return Err(e);
            }
            let row = read_owner(tx.c(), pool, owner).await?;
            if row.is_none() && !has_allocations(tx.c(), pool, owner).await? {
                tx.rollback().await?;
                return Err(StoreError::NoOwner {
                    pool: pool.to_string(),
                    owner: owner.to_string(),
                });
            }
            let claim: String = tx
                .c()
                .query_one(
                    "INSERT INTO ipam.owners (pool, owner, claim, origin) VALUES ($1, $2, pg_catalog.gen_random_uuid(), $3)
                     ON CONFLICT (pool, owner) DO UPDATE SET claim = excluded.claim, origin = excluded.origin, claimed_at = pg_catalog.now(),
                         passed_from = NULL, handover_from = NULL, handover_expires = NULL
                     RETURNING claim::text",
                    &[&pool, &owner, &origin],
                )
                .await
                .map_err(db)?
                .get(0);
            let blocks = read_owner_blocks(tx.c(), pool, owner).await?;
            tx.commit().await?;
            Ok((claim, blocks))
        })
        .await
    }

    /// Removes the owner's allocations, reservations and claim, when `claim` may and
    /// still holds it. Deletes nothing when the pool or the ledger is gone, or when the
    /// claim passed to the instance that replaced this one ([`super::passed_on`]).
    /// Returns whether it deleted.
    pub async fn delete_owner(
        &self,
        pool: &str,
        owner: &str,
        claim: &Claim,
    ) -> Result<bool, StoreError> {
        self.bounded("deleting the owner", async {
            let tx = self
                .locked(true, pool, &app_name("destroy", pool, Some(owner)))
                .await?;
            if read_def(tx.c(), pool).await?.is_some() {
                let row = read_owner(tx.c(), pool, owner).await?;
                if super::passed_on(row.as_ref(), claim) {
                    tx.rollback().await?;
                    return Ok(false);
                }
            }
            match self.check_owner(&tx, pool, owner, claim).await {
                Ok(_) => {}
                Err(StoreError::NoPool(_)) => return tx.rollback().await.map(|()| false),
                Err(e) => {
                    tx.rollback().await?;
                    return Err(e);
                }
            }
            for sql in [
                "DELETE FROM ipam.blocks WHERE pool = $1 AND owner = $2",
                "DELETE FROM ipam.owners WHERE pool = $1 AND owner = $2",
            ] {
                tx.c().execute(sql, &[&pool, &owner]).await.map_err(db)?;
            }
            tx.commit().await.map(|()| true)
        })
        .await
    }
}
