//! What the store reads and writes: pools, blocks, reservations, and a pool's whole
//! picture at one moment. Plain data, no SQL.

use std::collections::BTreeMap;
use std::time::Duration;

use ipnet::IpNet;

/// A pool as its defining state writes it.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolDef {
    pub name: String,
    pub cidrs: Vec<IpNet>,
    pub reserved: Vec<IpNet>,
    /// The prefix rules and strategy, as the provider encodes them.
    pub settings: serde_json::Value,
    /// Who may change what (enforced by row-level security).
    pub access: PoolAccess,
}

/// Who may change a pool and its owners' rows.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PoolAccess {
    /// Owner name -> PostgreSQL role whose members alone write that owner's rows.
    /// `None`: every login may write every owner (the pool trusts every login).
    pub owner_roles: Option<BTreeMap<String, String>>,
    /// The role whose members alone change or delete the pool. `None` when creating:
    /// the role that creates it.
    pub admin_role: Option<String>,
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
    /// The request as one comparable string: a reservation is used only by a plan of
    /// the same name with the same key.
    pub key: String,
}

/// A plan reservation: a block a plan showed, held for its owner until `expires_at`.
#[derive(Debug, Clone, PartialEq)]
pub struct Reservation {
    pub block: Block,
    /// RFC 3339, UTC.
    pub expires_at: String,
    /// Not yet expired, by the database's clock.
    pub live: bool,
}

/// What one plan of one owner gave: the blocks `place` returned (now reserved), or its
/// error (nothing written); the owner's claim when it has one; and how long the pool's
/// lock was held.
#[derive(Debug)]
pub struct Planned<E> {
    pub placed: Result<Vec<Block>, E>,
    /// The claim the resource will hold after apply, when it is known now: the one it
    /// holds, or the one of its own earlier create that it adopts.
    pub claim: Option<String>,
    /// From the lock's grant to the commit (or rollback).
    pub lock_held: Duration,
}

/// A pool with every owner's allocations and the live plan reservations.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub def: Option<PoolDef>,
    /// The role reading (`current_user`), and whether it may change the pool.
    pub user: String,
    pub may_admin: bool,
    pub allocations: Vec<Block>,
    pub reservations: Vec<Reservation>,
}
