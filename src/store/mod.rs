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

mod conn;
mod migrate;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ipnet::IpNet;
use tokio_postgres::Client;

pub use conn::ConnInfo;
pub use migrate::{schema_sql, SCHEMA_VERSION};

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

/// What a resource says of its hold on an owner, checked before every write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Creating the owner here. `origin` names this state's place (host, directory,
    /// workspace): a create whose commit outlived its provider is adopted by a later
    /// create from the same origin, and refused from any other.
    New { origin: String },
    /// The resource holds this claim.
    Held(String),
    /// A state written before claims existed: it may take an owner nobody claimed.
    Unclaimed,
}

/// An owner's row in `ipam.owners`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OwnerRow {
    pub claim: Option<String>,
    pub origin: Option<String>,
}

/// Whether `claim` may write the owner whose row (if any) is `row` and who holds
/// allocations (`has_blocks`); the claim to keep, or `None` for a new one.
///
/// ```
/// use ipam::store::{check_claim, Claim, OwnerRow, StoreError};
/// let held = OwnerRow { claim: Some("c1".into()), origin: Some("ci:/a (default)".into()) };
/// // The holder writes; another state's create, or a stale claim, is refused.
/// assert_eq!(check_claim("p", "o", Some(&held), true, &Claim::Held("c1".into())).unwrap(), Some("c1".into()));
/// let other = Claim::New { origin: "laptop:/b (default)".into() };
/// assert!(matches!(check_claim("p", "o", Some(&held), true, &other), Err(StoreError::OwnerExists { .. })));
/// assert!(matches!(check_claim("p", "o", Some(&held), true, &Claim::Held("c0".into())), Err(StoreError::OwnerMoved { .. })));
/// // The same origin adopts its own committed create.
/// let again = Claim::New { origin: "ci:/a (default)".into() };
/// assert_eq!(check_claim("p", "o", Some(&held), true, &again).unwrap(), Some("c1".into()));
/// ```
pub fn check_claim(
    pool: &str,
    owner: &str,
    row: Option<&OwnerRow>,
    has_blocks: bool,
    claim: &Claim,
) -> Result<Option<String>, StoreError> {
    let exists = || StoreError::OwnerExists {
        pool: pool.to_string(),
        owner: owner.to_string(),
        origin: row.and_then(|r| r.origin.clone()),
    };
    let moved = || StoreError::OwnerMoved {
        pool: pool.to_string(),
        owner: owner.to_string(),
    };
    match (claim, row) {
        (Claim::New { .. }, None) if !has_blocks => Ok(None),
        (Claim::New { origin }, Some(r))
            if r.claim.is_some() && r.origin.as_ref() == Some(origin) =>
        {
            Ok(r.claim.clone())
        }
        (Claim::New { .. }, _) => Err(exists()),
        (Claim::Held(c), None) => Ok(Some(c.clone())),
        (Claim::Held(c), Some(r)) => match &r.claim {
            None => Ok(Some(c.clone())),
            Some(held) if held == c => Ok(Some(c.clone())),
            Some(_) => Err(moved()),
        },
        (Claim::Unclaimed, Some(OwnerRow { claim: Some(_), .. })) => Err(moved()),
        (Claim::Unclaimed, _) => Ok(None),
    }
}

/// An owner as the database has it: its claim, and its allocations.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OwnerState {
    /// `None` when the owner has no row (never created, or deleted out of band).
    pub row: Option<OwnerRow>,
    pub blocks: Vec<Block>,
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
    #[error("the database has no ipam schema (no shared ledger was ever written there): check database_url, or restore the database")]
    NoSchema,
    #[error("owner {owner:?} of pool {pool:?} already exists{}, so another Terraform state manages it", origin.as_ref().map(|o| format!(" (created from {o})")).unwrap_or_default())]
    OwnerExists {
        pool: String,
        owner: String,
        origin: Option<String>,
    },
    #[error("owner {owner:?} of pool {pool:?} moved to another Terraform state (it was imported there), so this state may no longer change it")]
    OwnerMoved { pool: String, owner: String },
    #[error("owner {owner:?} does not exist in pool {pool:?}")]
    NoOwner { pool: String, owner: String },
    #[error("waited {}s for pool {pool:?}'s lock, held by {holder}; the provider's lock_timeout bounds the wait", waited.as_secs())]
    LockTimeout {
        pool: String,
        waited: Duration,
        holder: String,
    },
    #[error("the database did not answer within {}s ({what}); check that it is up and reachable", bound.as_secs())]
    Timeout { what: String, bound: Duration },
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
    // The server's FATAL for a terminated backend (pg_terminate_backend, a restart)
    // arrives as the answer to the next statement, before the client sees the socket
    // close: it is a lost connection too (found by schedule seed 21).
    let lost = e.is_closed()
        || e.code().is_some_and(|c| {
            let c = c.code();
            c.starts_with("08") || c.starts_with("57P")
        });
    if lost {
        return StoreError::Connect(format!("the connection was lost: {}", chain(&e)));
    }
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

const BLOCK_COLUMNS: &str =
    "owner, name, cidr::text, span::text, description, request, reservation, pg_catalog.to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), plan_key, coalesce(expires_at > pg_catalog.now(), false)";

/// A row: the block, and for a reservation its end and whether it is still live.
fn block_of(row: &tokio_postgres::Row) -> Result<(Block, Option<(String, bool)>), StoreError> {
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

async fn read_def(tx: &Client, pool: &str) -> Result<Option<PoolDef>, StoreError> {
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

async fn read_snapshot(tx: &Client, pool: &str) -> Result<Snapshot, StoreError> {
    read_blocks(
        tx,
        pool,
        "AND (NOT reservation OR expires_at > pg_catalog.now())",
    )
    .await
}

async fn read_owner(tx: &Client, pool: &str, owner: &str) -> Result<Option<OwnerRow>, StoreError> {
    let row = tx
        .query_opt(
            "SELECT claim::text, origin FROM ipam.owners WHERE pool = $1 AND owner = $2",
            &[&pool, &owner],
        )
        .await
        .map_err(db)?;
    Ok(row.map(|r| OwnerRow {
        claim: r.get(0),
        origin: r.get(1),
    }))
}

/// The owner's allocations, by name.
async fn read_owner_blocks(tx: &Client, pool: &str, owner: &str) -> Result<Vec<Block>, StoreError> {
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

async fn has_allocations(tx: &Client, pool: &str, owner: &str) -> Result<bool, StoreError> {
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
async fn read_blocks(tx: &Client, pool: &str, filter: &str) -> Result<Snapshot, StoreError> {
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

/// The shared ledger in one PostgreSQL database. Connects lazily, on first use, keeps
/// that one connection for the life of the process, and migrates the schema on the
/// first write; holds no ledger in memory.
pub struct Store {
    info: ConnInfo,
    lock_timeout: Duration,
    reuse: bool,
    conn: tokio::sync::Mutex<Option<Conn>>,
    migrated: tokio::sync::OnceCell<()>,
}

/// The process's connection. `in_tx` is set from `BEGIN` to `COMMIT`/`ROLLBACK`: a
/// call cancelled in between (StopProvider) leaves it set, and the connection is then
/// dropped, which makes the server roll back, rather than reused mid-transaction.
struct Conn {
    client: Client,
    in_tx: bool,
}

/// The `key` of a block an owner gave up at apply, held for it (see
/// [`Store::apply_owner`]). No request has this key, so no plan ever uses it as a
/// starting point; other owners count it as taken until it expires.
pub const RELEASED: &str = "released";

/// How long the pool's lock is waited for unless the provider says otherwise.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(60);

/// Starts a `READ COMMITTED` transaction, whatever the database's default: each
/// statement then sees every commit made before it, so reads after the pool's lock
/// see what the lock's last holder wrote.
pub(crate) async fn begin(c: &Client) -> Result<(), StoreError> {
    c.batch_execute("BEGIN ISOLATION LEVEL READ COMMITTED")
        .await
        .map_err(db)
}

/// One transaction on the process's connection.
struct Tx<'a> {
    conn: Session<'a>,
}

/// The process's connection, held for one call.
type Session<'a> = tokio::sync::MappedMutexGuard<'a, Conn>;

impl Tx<'_> {
    fn c(&self) -> &Client {
        &self.conn.client
    }

    /// Ends the transaction with `COMMIT` or `ROLLBACK`.
    async fn end(mut self, sql: &str) -> Result<(), StoreError> {
        self.conn.client.batch_execute(sql).await.map_err(db)?;
        self.conn.in_tx = false;
        Ok(())
    }

    async fn commit(self) -> Result<(), StoreError> {
        self.end("COMMIT").await
    }

    async fn rollback(self) -> Result<(), StoreError> {
        self.end("ROLLBACK").await
    }
}

/// The advisory lock of a pool: `$1` is the pool's name.
const POOL_KEY: &str = "pg_catalog.hashtextextended('ipam.pool:' || $1::text, 0::int8)";

impl Store {
    /// Parses a connection string (URL or `key=value`); connects nowhere yet.
    pub fn new(url: &str) -> Result<Store, StoreError> {
        Ok(Store {
            info: ConnInfo::parse(url)?,
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
            reuse: true,
            conn: tokio::sync::Mutex::new(None),
            migrated: tokio::sync::OnceCell::new(),
        })
    }

    /// Bounds the wait for a pool's lock.
    pub fn with_lock_timeout(mut self, t: Duration) -> Store {
        self.lock_timeout = t;
        self
    }

    /// Opens a new connection for every call, as releases before 0.2 did (for the
    /// benchmark's before-and-after figures).
    pub fn without_reuse(mut self) -> Store {
        self.reuse = false;
        self
    }

    /// The bound on one whole call: connecting, waiting for the lock, and the
    /// statements after it.
    fn call_bound(&self) -> Duration {
        self.info.connect_timeout() + self.lock_timeout + conn::STATEMENT_TIMEOUT
    }

    async fn bounded<T>(
        &self,
        what: &str,
        fut: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let bound = self.call_bound();
        match tokio::time::timeout(bound, fut).await {
            Ok(r) => r,
            Err(_) => {
                // The connection's state is unknown: never reuse it.
                if let Ok(mut g) = self.conn.try_lock() {
                    *g = None;
                }
                Err(StoreError::Timeout {
                    what: what.to_string(),
                    bound,
                })
            }
        }
    }

    /// The process's connection, connected (again) when it is missing, closed (the
    /// server restarted), or was left inside a transaction by a cancelled call.
    async fn session(&self, migrate: bool) -> Result<Session<'_>, StoreError> {
        let mut g = self.conn.lock().await;
        let usable = g
            .as_ref()
            .is_some_and(|c| self.reuse && !c.in_tx && !c.client.is_closed());
        if !usable {
            *g = None;
            *g = Some(Conn {
                client: self.info.connect().await?,
                in_tx: false,
            });
        }
        let mut conn = tokio::sync::MutexGuard::try_map(g, Option::as_mut)
            .map_err(|_| StoreError::Connect("no connection".into()))?;
        if migrate && self.migrated.get().is_none() {
            if let Err(e) = migrate::migrate(&mut conn.client).await {
                // It may have failed inside its transaction: never reuse it.
                conn.in_tx = true;
                return Err(e);
            }
            let _ = self.migrated.set(());
        }
        Ok(conn)
    }

    /// A transaction named `what` in `application_name`. Reconnects once when the
    /// server dropped the connection since its last use.
    async fn tx(&self, migrate: bool, what: &str) -> Result<Tx<'_>, StoreError> {
        let mut conn = self.session(migrate).await?;
        match begin(&conn.client).await {
            Err(StoreError::Connect(_)) => {
                *conn = Conn {
                    client: self.info.connect().await?,
                    in_tx: false,
                };
                begin(&conn.client).await?;
            }
            other => other?,
        }
        conn.in_tx = true;
        let lock_ms = self.lock_timeout.as_millis().max(1);
        let statement_ms = lock_ms + conn::STATEMENT_TIMEOUT.as_millis();
        conn.client
            .execute(
                "SELECT pg_catalog.set_config('application_name', $1, true), pg_catalog.set_config('lock_timeout', $2, true), pg_catalog.set_config('statement_timeout', $3, true)",
                &[&what, &format!("{lock_ms}ms"), &format!("{statement_ms}ms")],
            )
            .await
            .map_err(db)?;
        Ok(Tx { conn })
    }

    /// A transaction holding the pool's lock (`pg_advisory_xact_lock`), waited for at
    /// most `lock_timeout`. On a timeout, the error names the lock's holder from
    /// `pg_locks` and `pg_stat_activity`.
    async fn locked(&self, migrate: bool, pool: &str, what: &str) -> Result<Tx<'_>, StoreError> {
        let tx = self.tx(migrate, what).await?;
        let started = Instant::now();
        let r = tx
            .c()
            .execute(
                &format!("SELECT pg_catalog.pg_advisory_xact_lock({POOL_KEY})"),
                &[&pool],
            )
            .await;
        match r {
            Ok(_) => Ok(tx),
            Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::LOCK_NOT_AVAILABLE) => {
                let waited = started.elapsed();
                tx.rollback().await?;
                let holder = self.lock_holder(pool).await.unwrap_or(None);
                Err(StoreError::LockTimeout {
                    pool: pool.to_string(),
                    waited,
                    holder: holder.unwrap_or_else(|| "another session (gone by now)".into()),
                })
            }
            Err(e) => Err(db(e)),
        }
    }

    /// Who holds a pool's lock: application name, user, client address and since when.
    async fn lock_holder(&self, pool: &str) -> Result<Option<String>, StoreError> {
        let g = self.session(false).await?;
        let c = &g.client;
        let row = c
            .query_opt(
                &format!(
                    "SELECT a.application_name, a.usename::text, a.pid,
                            coalesce(host(a.client_addr), 'local socket'),
                            coalesce(pg_catalog.to_char(a.xact_start AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '?')
                       FROM pg_catalog.pg_locks l
                       JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
                      WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
                        AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
                        AND l.classid = pg_catalog.oid(({POOL_KEY} >> 32) & 4294967295)
                        AND l.objid = pg_catalog.oid({POOL_KEY} & 4294967295)
                      LIMIT 1"
                ),
                &[&pool],
            )
            .await
            .map_err(db)?;
        Ok(row.map(|r| {
            let app: Option<String> = r.get(0);
            let user: Option<String> = r.get(1);
            let pid: i32 = r.get(2);
            format!(
                "{:?} (role {:?}, pid {pid}, from {}, in a transaction since {})",
                app.filter(|a| !a.is_empty())
                    .unwrap_or_else(|| "an unnamed session".into()),
                user.unwrap_or_default(),
                r.get::<_, String>(3),
                r.get::<_, String>(4),
            )
        }))
    }

    /// A connection with the schema migrated (once per process); for tools and tests.
    pub async fn client(&self) -> Result<(), StoreError> {
        self.bounded("connecting", async { self.session(true).await.map(|_| ()) })
            .await
    }

    /// Before a read: the schema must exist (a read never creates one: a mistyped
    /// database must say so, not be set up), and an older one is migrated first, as a
    /// write would (the role must be allowed to; a read-only role then fails clearly).
    async fn ready_to_read(&self) -> Result<(), StoreError> {
        if self.migrated.get().is_some() {
            return Ok(());
        }
        let g = self.session(false).await?;
        let found = migrate::version(&g.client).await?;
        drop(g);
        match found {
            None | Some(0) => Err(StoreError::NoSchema),
            Some(v) if v > SCHEMA_VERSION => Err(StoreError::SchemaTooNew {
                found: v,
                known: SCHEMA_VERSION,
            }),
            Some(_) => self.session(true).await.map(|_| ()),
        }
    }

    /// Fails with [`StoreError::NoSchema`] when the database has no ledger, and with
    /// [`StoreError::SchemaTooNew`] when a newer provider migrated it.
    async fn check_schema(c: &Client) -> Result<(), StoreError> {
        match migrate::version(c).await? {
            None | Some(0) => Err(StoreError::NoSchema),
            Some(v) if v > SCHEMA_VERSION => Err(StoreError::SchemaTooNew {
                found: v,
                known: SCHEMA_VERSION,
            }),
            Some(_) => Ok(()),
        }
    }

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
            tx.c().execute(
                "INSERT INTO ipam.pools (name, cidrs, reserved, settings) VALUES ($1, $2::text[]::cidr[], $3::text[]::cidr[], $4)",
                &[&def.name, &texts(&def.cidrs), &texts(&def.reserved), &def.settings],
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
            if read_def(tx.c(), &def.name).await?.is_none() {
                tx.rollback().await?;
                return Err(StoreError::NoPool(def.name.clone()));
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
                "UPDATE ipam.pools SET cidrs = $2::text[]::cidr[], reserved = $3::text[]::cidr[], settings = $4, updated_at = pg_catalog.now() WHERE name = $1",
                &[&def.name, &texts(&def.cidrs), &texts(&def.reserved), &def.settings],
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
        if read_def(tx.c(), pool).await?.is_none() {
            return Err(StoreError::NoPool(pool.to_string()));
        }
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
                Claim::New { origin } => Some(origin.as_str()),
                _ => None,
            };
            let row = tx
                .c()
                .query_one(
                    "INSERT INTO ipam.owners AS o (pool, owner, claim, origin)
                     VALUES ($1, $2, coalesce($3::text::uuid, pg_catalog.gen_random_uuid()), $4)
                     ON CONFLICT (pool, owner) DO UPDATE
                        SET claim = excluded.claim, origin = coalesce($4, o.origin),
                            claimed_at = CASE WHEN o.claim IS DISTINCT FROM excluded.claim THEN pg_catalog.now() ELSE o.claimed_at END
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
            if read_def(tx.c(), pool).await?.is_none() {
                tx.rollback().await?;
                return Err(StoreError::NoPool(pool.to_string()));
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
                     ON CONFLICT (pool, owner) DO UPDATE SET claim = excluded.claim, origin = excluded.origin, claimed_at = pg_catalog.now()
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

    /// Removes the owner's allocations, reservations and claim, when `claim` may.
    /// Nothing to do when the pool or the ledger is gone.
    pub async fn delete_owner(
        &self,
        pool: &str,
        owner: &str,
        claim: &Claim,
    ) -> Result<(), StoreError> {
        self.bounded("deleting the owner", async {
            let tx = self
                .locked(true, pool, &app_name("destroy", pool, Some(owner)))
                .await?;
            match self.check_owner(&tx, pool, owner, claim).await {
                Ok(_) => {}
                Err(StoreError::NoPool(_)) => return tx.rollback().await,
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
            tx.commit().await
        })
        .await
    }
}

/// What a session says it is doing, for `pg_stat_activity` (and a lock timeout's
/// diagnostic in another process).
fn app_name(what: &str, pool: &str, owner: Option<&str>) -> String {
    match owner {
        Some(o) => format!("terraform-provider-ipam {what} pool={pool} owner={o}"),
        None => format!("terraform-provider-ipam {what} pool={pool}"),
    }
}

/// Blocks and reservations named for a diagnostic.
fn name_rows(rows: &[(Block, Option<(String, bool)>)]) -> String {
    let mut by_owner: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (b, expires) in rows {
        let what = match expires {
            Some((e, _)) => format!("{} (plan reservation of {}, until {e})", b.name, b.span),
            None if b.span != b.cidr => format!("{} ({}, growth room {})", b.name, b.cidr, b.span),
            None => format!("{} ({})", b.name, b.cidr),
        };
        by_owner.entry(&b.owner).or_default().push(what);
    }
    by_owner
        .iter()
        .map(|(o, names)| format!("owner {o:?}: {}", names.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
}

async fn insert_blocks(
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
