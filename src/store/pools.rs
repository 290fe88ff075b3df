//! The network team's operations: read, create, change and delete a pool.

use super::error::db;
use super::rows::{
    block_of, check_admin, name_blocks, name_rows, read_def, read_snapshot, texts, BLOCK_COLUMNS,
};
use super::session::app_name;
use super::{PoolDef, Snapshot, Store, StoreError};

impl Store {
    /// The pool and every block in it, with live reservations. Writes nothing, and
    /// works as a read-only role; [`StoreError::NoSchema`] when there is no ledger.
    pub async fn snapshot(&self, pool: &str) -> Result<Snapshot, StoreError> {
        self.bounded("reading the pool", async {
            self.ready_to_read().await?;
            let tx = self
                .tx(false, &format!("terraform-provider-ipam read {pool}"))
                .await?;
            Self::check_schema(tx.c()).await?;
            let snap = read_snapshot(tx.c(), pool).await?;
            tx.commit().await?;
            Ok(snap)
        })
        .await
    }

    /// Creates a pool; fails when one of that name exists.
    pub async fn create_pool(&self, def: &PoolDef) -> Result<(), StoreError> {
        self.bounded("creating the pool", async {
            let tx = self
                .locked(true, &def.name, &app_name("create pool", &def.name, None))
                .await?;
            if read_def(tx.c(), &def.name).await?.is_some() {
                tx.rollback().await?;
                return Err(StoreError::PoolExists(def.name.clone()));
            }
            let row = tx
                .c()
                .query_one(
                    "SELECT current_user::text, coalesce($1, current_user::text), ipam.is_member(coalesce($1, current_user::text))",
                    &[&def.access.admin_role],
                )
                .await
                .map_err(db)?;
            if !row.get::<_, bool>(2) {
                tx.rollback().await?;
                return Err(StoreError::NotAdmin {
                    pool: def.name.clone(),
                    admin_role: row.get(1),
                    user: row.get(0),
                });
            }
            tx.c().execute(
                "INSERT INTO ipam.pools (name, cidrs, reserved, settings, owner_roles, admin_role)
                 VALUES ($1, $2::text[]::cidr[], $3::text[]::cidr[], $4, $5, coalesce($6, current_user::text))",
                &[&def.name, &texts(&def.cidrs), &texts(&def.reserved), &def.settings, &owner_roles_json(def), &def.access.admin_role],
            )
            .await
            .map_err(db)?;
            tx.commit().await
        })
        .await
    }

    /// Changes a pool's definition. Fails, naming the owners and entries, when a block,
    /// its growth room or a live plan reservation would fall outside the new CIDRs or
    /// inside a new reserved range.
    pub async fn update_pool(&self, def: &PoolDef) -> Result<(), StoreError> {
        self.bounded("updating the pool", async {
            let tx = self
                .locked(true, &def.name, &app_name("update pool", &def.name, None))
                .await?;
            let Some(old) = read_def(tx.c(), &def.name).await? else {
                tx.rollback().await?;
                return Err(StoreError::NoPool(def.name.clone()));
            };
            // The current admin changes the pool, and hands it only to a role it is in
            // (the database would refuse the row otherwise).
            let mut handed = old.clone();
            handed.access.admin_role = def.access.admin_role.clone().or(old.access.admin_role.clone());
            for d in [&old, &handed] {
                if let Err(e) = check_admin(tx.c(), d).await {
                    tx.rollback().await?;
                    return Err(e);
                }
            }
            let rows = tx
                .c()
                .query(
                    &format!(
                        "SELECT {BLOCK_COLUMNS} FROM ipam.blocks b WHERE pool = $1
                           AND (NOT reservation OR expires_at > pg_catalog.now())
                           AND (NOT EXISTS (SELECT 1 FROM unnest($2::text[]::cidr[]) c WHERE c >>= b.span)
                                OR EXISTS (SELECT 1 FROM unnest($3::text[]::cidr[]) r WHERE r && b.span))
                         ORDER BY owner, name"
                    ),
                    &[&def.name, &texts(&def.cidrs), &texts(&def.reserved)],
                )
                .await
                .map_err(db)?;
            if !rows.is_empty() {
                tx.rollback().await?;
                let blocks = rows
                    .iter()
                    .map(block_of)
                    .collect::<Result<Vec<_>, _>>()?;
                return Err(StoreError::Conflict(format!(
                    "blocks would fall outside the pool's cidrs or inside a reserved range: {}. Release them first (remove them from their owners' ipam_shared_allocations and apply there; a plan reservation ends when its plan is applied or its reservation_ttl passes), or keep the CIDRs that hold them",
                    name_rows(&blocks)
                )));
            }
            tx.c().execute(
                "UPDATE ipam.pools SET cidrs = $2::text[]::cidr[], reserved = $3::text[]::cidr[], settings = $4,
                        owner_roles = $5, admin_role = coalesce($6, admin_role), updated_at = pg_catalog.now()
                  WHERE name = $1",
                &[&def.name, &texts(&def.cidrs), &texts(&def.reserved), &def.settings, &owner_roles_json(def), &def.access.admin_role],
            )
            .await
            .map_err(db)?;
            tx.commit().await
        })
        .await
    }

    /// Deletes a pool. Fails, naming the owners and allocations, while any owner holds
    /// blocks in it; plan reservations and owners with no allocations go with the pool.
    pub async fn delete_pool(&self, pool: &str) -> Result<(), StoreError> {
        self.bounded("deleting the pool", async {
            let tx = self.locked(true, pool, &app_name("delete pool", pool, None)).await?;
            if let Some(def) = read_def(tx.c(), pool).await? {
                if let Err(e) = check_admin(tx.c(), &def).await {
                    tx.rollback().await?;
                    return Err(e);
                }
            }
            let snap = read_snapshot(tx.c(), pool).await?;
            if !snap.allocations.is_empty() {
                tx.rollback().await?;
                return Err(StoreError::Conflict(format!(
                    "pool {pool:?} still has allocations: {}. Destroy those owners' ipam_shared_allocations (or remove the allocations) first",
                    name_blocks(&snap.allocations)
                )));
            }
            for sql in [
                "DELETE FROM ipam.blocks WHERE pool = $1",
                "DELETE FROM ipam.owners WHERE pool = $1",
                "DELETE FROM ipam.pools WHERE name = $1",
            ] {
                tx.c().execute(sql, &[&pool]).await.map_err(db)?;
            }
            tx.commit().await
        })
        .await
    }
}

/// `owner_roles` as the database keeps it.
fn owner_roles_json(def: &PoolDef) -> Option<serde_json::Value> {
    def.access.owner_roles.as_ref().map(|m| {
        serde_json::Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), v.clone().into()))
                .collect(),
        )
    })
}
