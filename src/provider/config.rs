//! The provider block: `database_url` (the shared ledger) and `reservation_ttl`.
//! `ConfigureProvider` only parses; the shared resources connect on first use, so no
//! connection error ever points at the `database_url` line (Terraform would print it).

use std::sync::Arc;
use std::time::Duration;

use super::hold;
use crate::store::Store;
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

fn ttl_of(config: &Value) -> Result<Duration, Diagnostic> {
    match config.get("reservation_ttl").as_str() {
        None => Ok(DEFAULT_RESERVATION_TTL),
        Some(text) => hold::parse_duration(text)
            .and_then(|d| {
                if d.is_zero() {
                    Err("a reservation must last longer than 0s".into())
                } else {
                    Ok(d)
                }
            })
            .map_err(|e| {
                Diagnostic::error("Invalid reservation_ttl", format!("reservation_ttl: {e}."))
                    .at(AttrPath::attr("reservation_ttl"))
            }),
    }
}

impl ProviderConfig for IpamProvider {
    fn schema(&self) -> Schema {
        let mut url = Attribute::new(
            "database_url",
            Type::String,
            Mode::Optional,
            "PostgreSQL connection string of the shared ledger (a URL or `key=value` list; unix-socket hosts, `sslmode` `disable`, `require`, `verify-ca` or `verify-full`, `sslrootcert`), used only by `ipam_shared_pool` and `ipam_shared_allocations`. Defaults to the environment variable `IPAM_DATABASE_URL`. Sensitive: never stored in state or printed.",
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
                    "How long the blocks a plan shows stay reserved for its owner in the shared ledger, so that other states cannot take them before the apply, as a duration (default `\"24h\"`). Apply a saved plan within it.",
                ),
            ],
        }
    }

    fn validate(&self, config: &Value) -> Vec<Diagnostic> {
        ttl_of(config).err().into_iter().collect()
    }

    fn configure(
        &self,
        config: &Value,
    ) -> (
        Option<Arc<dyn std::any::Any + Send + Sync>>,
        Vec<Diagnostic>,
    ) {
        let reservation_ttl = match ttl_of(config) {
            Ok(t) => t,
            Err(d) => return (None, vec![d]),
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
            Some(u) => Store::new(&u).map(Arc::new).map_err(|e| format!("database_url: {e}")),
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

/// Runs a store call, turning a stop or a store error into a diagnostic.
pub fn run<T>(
    ctx: &Context,
    fut: impl std::future::Future<Output = Result<T, crate::store::StoreError>>,
    summary: &str,
) -> Result<T, Diagnostic> {
    match ctx.block_on(fut) {
        None => Err(Diagnostic::error(
            summary,
            "Stopped: Terraform asked the provider to stop. Nothing was written.",
        )),
        Some(Ok(t)) => Ok(t),
        Some(Err(e)) => Err(Diagnostic::error(summary, format!("{e}."))),
    }
}
