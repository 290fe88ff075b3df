//! The provider block: `database_url` (the shared ledger), `reservation_ttl` and
//! `lock_timeout`; and the one route from a store error to a diagnostic.
//! `ConfigureProvider` only parses; the shared resources connect on first use, so no
//! connection error ever points at the `database_url` line (Terraform would print it).

use std::sync::Arc;
use std::time::Duration;

use super::hold;
use crate::store::{Store, StoreError, DEFAULT_LOCK_TIMEOUT};
use crate::tfplugin::schema::{Attribute, Mode, Schema};
use crate::tfplugin::{AttrPath, Context, Diagnostic, ProviderConfig, Type, Value};

/// Environment variable read when `database_url` is not set.
pub const DATABASE_URL_ENV: &str = "IPAM_DATABASE_URL";
/// How long plan reservations hold their blocks unless `reservation_ttl` says.
pub const DEFAULT_RESERVATION_TTL: Duration = Duration::from_secs(24 * 3600);

pub struct IpamProvider;

/// What `ConfigureProvider` made of the provider block.
pub struct Configured {
    /// The store, or why there is none (no URL, or a URL that does not parse).
    pub store: Result<Arc<Store>, String>,
    pub reservation_ttl: Duration,
}

/// A positive duration argument, or its default.
fn duration_of(
    config: &Value,
    name: &str,
    default: Duration,
    (max, max_text): (Duration, &str),
) -> Result<Duration, Diagnostic> {
    match config.get(name).as_str() {
        None => Ok(default),
        Some(text) => hold::parse_duration(text)
            .and_then(|d| {
                if d.is_zero() {
                    Err("it must be longer than 0s".into())
                } else if d > max {
                    Err(format!("{text:?} is longer than its bound, {max_text}"))
                } else {
                    Ok(d)
                }
            })
            .map_err(|e| {
                Diagnostic::error(format!("Invalid {name}"), format!("{name}: {e}."))
                    .at(AttrPath::attr(name))
            }),
    }
}

fn ttl_of(config: &Value) -> Result<Duration, Diagnostic> {
    // A plan's reservations hold other teams off their blocks: a month at most.
    duration_of(
        config,
        "reservation_ttl",
        DEFAULT_RESERVATION_TTL,
        (Duration::from_secs(720 * 3600), "720h"),
    )
}

fn lock_timeout_of(config: &Value) -> Result<Duration, Diagnostic> {
    // Every wait is bounded, and a lock wait of more than an hour is a hang.
    duration_of(
        config,
        "lock_timeout",
        DEFAULT_LOCK_TIMEOUT,
        (Duration::from_secs(3600), "1h"),
    )
}

impl ProviderConfig for IpamProvider {
    fn schema(&self) -> Schema {
        let mut url = Attribute::new(
            "database_url",
            Type::String,
            Mode::Optional,
            "PostgreSQL connection string of the shared ledger (a URL or `key=value` list; unix-socket hosts; `sslmode` `disable`, `prefer` (the default, as in libpq: TLS when the server offers it, the certificate unchecked), `require`, `verify-ca` or `verify-full`; `sslrootcert`, with which `require` also verifies the chain, or `system` for the system's roots; `connect_timeout`, default 5 seconds for TCP, TLS and authentication together), used only by `ipam_shared_pool` and `ipam_shared_allocations`. Defaults to the environment variable `IPAM_DATABASE_URL`. Sensitive: never stored in state or printed.",
        );
        url.sensitive = true;
        Schema {
            version: 0,
            description: "The ipam provider. Without `database_url` the ledger lives in the Terraform state (`ipam_pool`); with it, pools can also be shared across states in PostgreSQL.".into(),
            attributes: vec![
                url,
                Attribute::new(
                    "reservation_ttl",
                    Type::String,
                    Mode::Optional,
                    "How long the blocks a plan shows stay reserved for its owner in the shared ledger, so that other states cannot take them before the apply, as a duration (default `\"24h\"`, at most `\"720h\"`). Apply a saved plan within it.",
                ),
                Attribute::new(
                    "lock_timeout",
                    Type::String,
                    Mode::Optional,
                    "How long a plan or apply waits for a shared pool's lock, held while another state plans or applies the same pool, as a duration (default `\"60s\"`, at most `\"1h\"`). The error after it names the session holding the lock.",
                ),
            ],
        }
    }

    fn validate(&self, config: &Value) -> Vec<Diagnostic> {
        ttl_of(config)
            .err()
            .into_iter()
            .chain(lock_timeout_of(config).err())
            .collect()
    }

    fn configure(
        &self,
        config: &Value,
    ) -> (
        Option<Arc<dyn std::any::Any + Send + Sync>>,
        Vec<Diagnostic>,
    ) {
        let (reservation_ttl, lock_timeout) = match (ttl_of(config), lock_timeout_of(config)) {
            (Ok(t), Ok(l)) => (t, l),
            (t, l) => return (None, t.err().into_iter().chain(l.err()).collect()),
        };
        let url = match config.get("database_url") {
            Value::String(s) => Some(s.clone()),
            Value::Unknown => None,
            _ => std::env::var(DATABASE_URL_ENV)
                .ok()
                .filter(|s| !s.trim().is_empty()),
        };
        let store = match url {
            None if config.get("database_url").is_unknown() => Err("database_url is not known yet in this run (it depends on a value known only after apply); give it a value known at plan".to_string()),
            None => Err(format!("no database is configured: set database_url in the provider block (provider \"ipam\" {{ database_url = var.ipam_database_url }}) or the environment variable {DATABASE_URL_ENV}, for example postgresql://ipam@db.example.com/ipam?sslmode=verify-full")),
            // The parse error never echoes the string, so it may be shown.
            Some(u) => Store::new(&u)
                .map(|s| Arc::new(s.with_lock_timeout(lock_timeout)))
                .map_err(|e| format!("database_url: {e}")),
        };
        (
            Some(Arc::new(Configured {
                store,
                reservation_ttl,
            })),
            vec![],
        )
    }
}

/// The store of a call, or a diagnostic saying how to configure one.
pub fn store_of(ctx: &Context, what: &str) -> Result<(Arc<Store>, Duration), Diagnostic> {
    let Some(c) = ctx.get::<Configured>() else {
        return Err(Diagnostic::error(
            "Provider not configured",
            format!(
                "{what} needs the provider's database_url, but the provider was not configured."
            ),
        ));
    };
    match &c.store {
        Ok(s) => Ok((s.clone(), c.reservation_ttl)),
        Err(why) => Err(Diagnostic::error(
            "No shared ledger database",
            format!("{what} keeps its ledger in PostgreSQL, but {why}."),
        )),
    }
}

/// The one route from a store error to a diagnostic: `summary` says what failed, the
/// detail what the database said and what to do.
pub fn store_diag(e: StoreError, summary: &str) -> Diagnostic {
    let (summary, detail) = match &e {
        StoreError::NoPool(p) => ("Shared pool does not exist".to_string(), format!("The shared ledger has no pool named {p:?}. If ipam_shared_pool for it is in this configuration, write pool = ipam_shared_pool.<name>.id (not the literal name) so that this plan waits for the pool; otherwise create the pool first, in the state that owns it. If the pool should exist, check database_url: this may be the wrong database, or a restored backup.")),
        StoreError::NoSchema => ("No shared ledger in this database".to_string(), format!("{e}. Nothing was read or changed; the state keeps what it had.")),
        StoreError::OwnerExists { pool, owner, .. } => ("Owner already exists".to_string(), format!("{e}. An owner belongs to exactly one state. Choose another owner, or move it into this state with terraform import <address> {pool}/{owner} (the state it leaves can then no longer change it).")),
        StoreError::OwnerMoved { pool, owner } => ("Owner moved to another state".to_string(), format!("{e}. Nothing was written. If that was meant, forget it here with terraform state rm <address>; to take it back, terraform import <address> {pool}/{owner}.")),
        StoreError::LockTimeout { .. } => ("Shared pool is locked".to_string(), format!("{e}. Nothing was written. Wait for that run to finish and plan again, or raise lock_timeout in the provider block.")),
        StoreError::Timeout { .. } => ("Shared ledger did not answer".to_string(), format!("{e}. Whether anything was written is unknown: run terraform plan again, which shows what the ledger holds.")),
        StoreError::NotAdmin { .. } => ("Not the shared pool's admin".to_string(), format!("{e}. Nothing was written. Ask a member of that role (the network team) to make the change, or to grant you the role.")),
        StoreError::OwnerNotListed { pool, .. } => ("Owner not allowed in this shared pool".to_string(), format!("{e}. Nothing was written. Ask the admin of pool {pool:?} to add the owner and its PostgreSQL role to owner_roles.")),
        StoreError::NotOwnerRole { role, .. } => ("Not a member of the owner's role".to_string(), format!("{e}. Nothing was written. Connect as a member of {role:?} (database_url), or choose the owner your role belongs to.")),
        StoreError::Denied(_) => ("Refused by the shared ledger's database".to_string(), format!("{e}. Nothing was written.")),
        _ => (summary.to_string(), format!("{e}.")),
    };
    Diagnostic::error(summary, detail)
}

/// Runs a store call, turning a stop or a store error into a diagnostic.
pub fn run<T>(
    ctx: &Context,
    fut: impl std::future::Future<Output = Result<T, StoreError>>,
    summary: &str,
) -> Result<T, Diagnostic> {
    match ctx.block_on(fut) {
        None => Err(Diagnostic::error(
            summary,
            "Stopped: Terraform asked the provider to stop while it was working with the shared ledger. Whether this change reached the database is unknown (the stop may have come during the commit): run terraform plan again, which shows what the ledger holds.",
        )),
        Some(Ok(t)) => Ok(t),
        Some(Err(e)) => Err(store_diag(e, summary)),
    }
}
