//! The process's one connection and the transactions on it: reused, reconnected
//! once when the server dropped it, bounded as a whole call, named in
//! `application_name`, and holding the pool's advisory lock for at most
//! `lock_timeout`.

use std::time::{Duration, Instant};

use tokio_postgres::Client;

use super::error::db;
use super::{conn, migrate, ConnInfo, StoreError, SCHEMA_VERSION};

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
pub(super) struct Tx<'a> {
    conn: Session<'a>,
}

/// The process's connection, held for one call.
type Session<'a> = tokio::sync::MappedMutexGuard<'a, Conn>;

impl Tx<'_> {
    pub(super) fn c(&self) -> &Client {
        &self.conn.client
    }

    /// Ends the transaction with `COMMIT` or `ROLLBACK`.
    pub(super) async fn end(mut self, sql: &str) -> Result<(), StoreError> {
        self.conn.client.batch_execute(sql).await.map_err(db)?;
        self.conn.in_tx = false;
        Ok(())
    }

    pub(super) async fn commit(self) -> Result<(), StoreError> {
        self.end("COMMIT").await
    }

    pub(super) async fn rollback(self) -> Result<(), StoreError> {
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
    pub(super) fn call_bound(&self) -> Duration {
        self.info.connect_timeout() + self.lock_timeout + conn::STATEMENT_TIMEOUT
    }

    pub(super) async fn bounded<T>(
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
    pub(super) async fn tx(&self, migrate: bool, what: &str) -> Result<Tx<'_>, StoreError> {
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
    pub(super) async fn locked(
        &self,
        migrate: bool,
        pool: &str,
        what: &str,
    ) -> Result<Tx<'_>, StoreError> {
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
    pub(super) async fn ready_to_read(&self) -> Result<(), StoreError> {
        if self.migrated.get().is_some() {
            return Ok(());
        }
        let g = self.session(false).await?;
        Self::check_schema(&g.client).await?;
        drop(g);
        self.session(true).await.map(|_| ())
    }

    /// Fails with [`StoreError::NoSchema`] when the database has no ledger, and with
    /// [`StoreError::SchemaTooNew`] when a newer provider migrated it.
    pub(super) async fn check_schema(c: &Client) -> Result<(), StoreError> {
        match migrate::version(c).await? {
            None | Some(0) => Err(StoreError::NoSchema),
            Some(v) if v > SCHEMA_VERSION => Err(StoreError::SchemaTooNew {
                found: v,
                known: SCHEMA_VERSION,
            }),
            Some(_) => Ok(()),
        }
    }
}

/// What a session says it is doing, for `pg_stat_activity` (and a lock timeout's
/// diagnostic in another process).
pub(super) fn app_name(what: &str, pool: &str, owner: Option<&str>) -> String {
    match owner {
        Some(o) => format!("terraform-provider-ipam {what} pool={pool} owner={o}"),
        None => format!("terraform-provider-ipam {what} pool={pool}"),
    }
}
