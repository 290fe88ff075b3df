//! The store's typed errors, and the reading of a PostgreSQL error into one: the
//! whole chain of causes, and a lost connection told apart from a refused statement.

use std::time::Duration;

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
    #[error("role {user:?} may not change pool {pool:?}: only members of its admin_role {admin_role:?} may change or delete it")]
    NotAdmin {
        pool: String,
        admin_role: String,
        user: String,
    },
    #[error("pool {pool:?} names the owners that may allocate from it (owner_roles), and {owner:?} is not one of them")]
    OwnerNotListed { pool: String, owner: String },
    #[error("role {user:?} is not a member of role {role:?}, which owner {owner:?} of pool {pool:?} belongs to, so it may not change that owner's allocations")]
    NotOwnerRole {
        pool: String,
        owner: String,
        role: String,
        user: String,
    },
    #[error("the database refused it: {0}")]
    Denied(String),
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

pub(super) fn db(e: tokio_postgres::Error) -> StoreError {
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
    // Row-level security or a missing grant: the provider's own checks come first, so
    // this is a change made around them, or a database set up otherwise.
    if e.code() == Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE) {
        return StoreError::Denied(chain(&e));
    }
    StoreError::Db(chain(&e))
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
