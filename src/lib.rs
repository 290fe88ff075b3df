//! terraform-provider-ipam: IP address planning for Terraform with no IPAM server.
//!
//! # Layout
//! Five modules in three layers (the protocol, the provider, and below it the
//! allocator and the store), with the report on the side. Each knows less than the
//! one above; arrows only point down. Each module's own doc has its file layout.
//! - [`tfplugin`], the protocol: tfplugin6 and go-plugin services generated from
//!   `proto/` (`rpc.rs`, `goplugin.rs`), the registry and panic guard (`server.rs`),
//!   the handshake and mTLS (`handshake.rs`), msgpack/JSON value conversion
//!   (`value/`), schema and diagnostics. It only translates; resource calls get a
//!   [`tfplugin::Context`] with what `ConfigureProvider` made and the `StopProvider`
//!   signal.
//! - [`provider`]: the provider block (`config.rs`: `database_url`,
//!   `reservation_ttl`, `lock_timeout`), and one file per resource or data source:
//!   `pool.rs` (`ipam_pool`; its unit tests in `pool_tests.rs`), `allocation.rs` (`ipam_allocation`), `shared_pool.rs`,
//!   `shared_pool_data.rs` (the data source), `shared_allocations.rs`. What they share
//!   has its own file: `pool_args.rs` (the arguments of every pool), `figures.rs`
//!   (utilization), `ledger.rs` (`requests`, read and checked, and their planned
//!   entries; its unit tests in `ledger_tests.rs`), `shared_state.rs`
//!   (a shared owner's state rebuilt from its blocks), `placement.rs`
//!   (a shared owner's blocks, merged from state and database), `hold.rs` (release
//!   holds), `common.rs` (entry facts, numbers, allocator errors as diagnostics).
//!   `functions/` holds the provider functions as data; `docs.rs` writes `docs/`.
//!   Speaks [`tfplugin::Value`] and [`tfplugin::Diagnostic`], never protobuf; reaches
//!   the database only through [`store`].
//! - [`alloc`]: the allocator. Pure: `ipnet` in, ledger out, typed errors; no
//!   Terraform types. Its contract is proven by property tests against a naive oracle.
//! - [`store`]: beside the allocator, below the provider: the shared ledger in
//!   PostgreSQL (connection and TLS, versioned migrations, the locked plan and apply
//!   transactions, owners' claims, the exclusion constraint). No Terraform types.
//! - [`discover`]: on the side, the `discover` subcommand: the address ranges of
//!   other providers' resources in `terraform show -json` of many states, nested into
//!   pools by containment, conflicts named, written as HCL that adopts them.
//! - [`report`]: on the side, the `report` subcommand: reads `terraform show -json`
//!   with its own serde types and draws every pool (HTML, SVG, Markdown) on a Hilbert
//!   layout, with the allocator's CIDR code. It knows nothing of the protocol.
//!
//! The binary (`src/main.rs`) parses flags and calls [`run_plugin`] or [`run_debug`];
//! [`tfplugin::handshake::serve`] takes a listener and a shutdown future from its
//! caller, so tests bind their own.

pub mod alloc;
pub mod cli;
pub mod discover;
pub mod provider;
pub mod report;
pub mod store;
pub mod tfplugin;

use std::io::Write;

use tfplugin::handshake::{self, SocketDir};

/// Source address of this provider, as `required_providers` names it.
pub const PROVIDER_ADDRESS: &str = "registry.terraform.io/ipam-rs/ipam";

/// Serves the provider as Terraform launched it: checks the handshake environment,
/// binds a private socket, prints the handshake line, serves until Shutdown.
/// Returns the process exit code.
pub async fn run_plugin() -> i32 {
    let env = match handshake::parse_env(|k| std::env::var(k).ok()) {
        Ok(env) => env,
        Err(e @ handshake::HandshakeError::NoCookie) => {
            eprintln!("{e}");
            return 2;
        }
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let tls = match env
        .client_cert
        .as_deref()
        .map(handshake::parse_client_cert)
        .transpose()
    {
        Ok(Some(cert)) => match handshake::server_tls(cert) {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!("{e}");
                return 1;
            }
        },
        Ok(None) => None,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let (socket, listener) = match SocketDir::bind() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("could not listen on a unix socket: {e}");
            return 1;
        }
    };
    let line =
        handshake::handshake_line(socket.path(), tls.as_ref().map(|(_, der)| der.as_slice()));
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
        return 1;
    }
    drop(out);
    // SIGINT is Terraform's to handle: it stops us through StopProvider and Shutdown.
    let ignore_sigint = tokio::spawn(async { while tokio::signal::ctrl_c().await.is_ok() {} });
    let result = handshake::serve(
        provider::service(),
        listener,
        tls.map(|(c, _)| c),
        std::future::pending(),
    )
    .await;
    ignore_sigint.abort();
    drop(socket); // removes the private directory
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("provider server failed: {e}");
            1
        }
    }
}

/// Serves without Terraform starting the process (no cookie, no TLS) and prints the
/// `TF_REATTACH_PROVIDERS` value to use; stops on Ctrl-C.
pub async fn run_debug() -> i32 {
    let (socket, listener) = match SocketDir::bind() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("could not listen on a unix socket: {e}");
            return 1;
        }
    };
    let reattach = serde_json::json!({
        PROVIDER_ADDRESS: {
            "Protocol": "grpc",
            "ProtocolVersion": handshake::APP_PROTOCOL_VERSION,
            "Pid": std::process::id(),
            "Test": true,
            "Addr": { "Network": "unix", "String": socket.path().display().to_string() }
        }
    });
    println!("Provider serving in debug mode. In another shell, run Terraform with:\n\n    export TF_REATTACH_PROVIDERS='{reattach}'\n\nPress Ctrl-C to stop.");
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let r = handshake::serve(provider::service(), listener, None, stop).await;
    drop(socket);
    if r.is_err() {
        1
    } else {
        0
    }
}
