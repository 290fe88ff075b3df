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
//! room it holds (`grow_to`), which no other owner may take either. A reservation
//! stands only for the name and request (`key`) it was made for.
//!
//! # One state per owner
//! `ipam.owners` names each owner's holder: a claim id that the holding resource keeps
//! in its state. Every write of an owner's rows checks it ([`Claim`]); import moves
//! it ([`Store::claim_owner`]).
//!
//! # Bounded, pinned, reused
//! One connection per process, reconnected when the server dropped it. Every session
//! pins `search_path` to `pg_catalog` (no function planted in `public` ever runs),
//! every transaction pins `READ COMMITTED` and takes the pool's lock before it reads
//! (so it sees every commit made before the lock), names itself in
//! `application_name`, and waits for the lock at most `lock_timeout`. Connecting is
//! bounded as a whole, statements are bounded, TCP keepalives are on.
//!
//! # Layout
//! - `model.rs`: pools, blocks, reservations, [`Snapshot`] (a pool at one moment).
//! - `claim.rs`: [`Claim`] and [`check_claim`], one state per owner.
//! - `error.rs`: [`StoreError`], and a PostgreSQL error read into one.
//! - `conn.rs`: connection strings, TLS (rustls), connecting with bounds.
//! - `migrate.rs`: the versioned schema, migrated under an advisory lock.
//! - `session.rs`: [`Store`], its one connection, and the locked transactions.
//! - `rows.rs`: the queries the operations share.
//! - `pools.rs`: the network team's operations on a pool.
//! - `owners.rs`: an owner's plan, apply, read, import and delete.

mod claim;
mod conn;
mod error;
mod migrate;
mod model;
mod owners;
mod pools;
mod rows;
mod session;

pub use claim::{check_claim, passed_on, Claim, OwnerRow, OwnerState};
pub use conn::ConnInfo;
pub(crate) use error::chain;
pub use error::StoreError;
pub use migrate::{schema_sql, SCHEMA_VERSION};
pub use model::{Block, Planned, PoolAccess, PoolDef, Reservation, Snapshot};
pub use owners::RELEASED;
pub(crate) use session::begin;
pub use session::{Store, DEFAULT_LOCK_TIMEOUT};
