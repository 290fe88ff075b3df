//! The protocol layer: Terraform plugin protocol 6 over tonic, the go-plugin
//! handshake, pinned-certificate mTLS. It knows Terraform's wire and nothing about IP
//! addresses: it decodes requests into [`Value`]s, calls a [`Resource`], and encodes
//! the answer. User errors travel as diagnostics, never as gRPC errors.
//!
//! - `handshake`: magic cookie, private unix socket, handshake line, AutoMTLS.
//! - `server`: [`server::ProviderService`], the registry of resources, data sources and
//!   functions, and what every call shares: the panic guard, decoding and encoding.
//! - `rpc`: the tfplugin6 `Provider` service, one method per RPC.
//! - `goplugin`: go-plugin's controller (Shutdown), stdio and broker services.
//! - `value`: msgpack/JSON `DynamicValue` <-> [`Value`], null and unknown at every depth.
//! - `schema`, `diag`: the schema builder and diagnostics with attribute paths.
//! - `proto`: the generated tfplugin6 and go-plugin code, private to this layer's use.

pub mod diag;
pub mod goplugin;
pub mod handshake;
mod rpc;
pub mod schema;
pub mod server;
pub mod value;

/// Generated protobuf and gRPC code (from `proto/` at build time). Only this layer
/// speaks it; it is public so that tests can be a gRPC client of the served provider.
pub mod proto {
    #[allow(clippy::all)]
    pub mod tfplugin6 {
        tonic::include_proto!("tfplugin6");
    }
    #[allow(clippy::all)]
    pub mod plugin {
        tonic::include_proto!("plugin");
    }
}

pub use diag::{AttrPath, Diagnostic, Severity};
pub use schema::{Attribute, FunctionSignature, Mode, Parameter, Schema};
pub use value::{Type, Value};

/// What every resource call receives besides its request: what `ConfigureProvider`
/// made of the provider block (opaque to this layer; the provider downcasts it), and
/// the stop signal of `StopProvider`.
#[derive(Clone)]
pub struct Context {
    pub configured: Option<std::sync::Arc<dyn std::any::Any + Send + Sync>>,
    pub stop: tokio::sync::watch::Receiver<bool>,
}

impl Context {
    /// A context with nothing configured and no stop, for tests and pure resources.
    pub fn unconfigured() -> Context {
        let (tx, rx) = tokio::sync::watch::channel(false);
        // The sender may go: `stop` then never fires.
        drop(tx);
        Context {
            configured: None,
            stop: rx,
        }
    }

    /// The configured provider data, if it is a `T`.
    pub fn get<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.configured.as_ref()?.downcast_ref::<T>()
    }

    /// Runs I/O from a resource method (which is synchronous) on the runtime serving
    /// this call. `None` when Terraform asked the provider to stop first.
    pub fn block_on<F: std::future::Future>(&self, fut: F) -> Option<F::Output> {
        let mut stop = self.stop.clone();
        let run = async move {
            let stopped = async {
                // A dropped sender never stops anything.
                if stop.wait_for(|s| *s).await.is_err() {
                    std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                r = fut => Some(r),
                _ = stopped => None,
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| h.block_on(run))
            }
            // Outside a runtime (unit tests): a private one.
            _ => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?
                .block_on(run),
        }
    }
}

/// The provider block: its schema, validation, and `ConfigureProvider`.
pub trait ProviderConfig: Send + Sync + 'static {
    fn schema(&self) -> Schema;
    /// Checks the provider block; unknown values must be tolerated.
    fn validate(&self, config: &Value) -> Vec<Diagnostic>;
    /// Turns the provider block into the data every later call gets in its
    /// [`Context`]. Must not do I/O that can fail on the user's behalf: a diagnostic
    /// here points at the provider block (and Terraform prints its source lines).
    fn configure(
        &self,
        config: &Value,
    ) -> (
        Option<std::sync::Arc<dyn std::any::Any + Send + Sync>>,
        Vec<Diagnostic>,
    );
}

/// `ReadResource`, decoded.
#[derive(Debug, Clone)]
pub struct ReadRequest {
    pub state: Value,
    /// The resource's private state, as the last apply or read left it.
    pub private: Vec<u8>,
}

#[derive(Debug, Clone, Default)]
pub struct ReadResponse {
    pub state: Value,
    /// `None` keeps the private state as it was.
    pub private: Option<Vec<u8>>,
    pub diagnostics: Vec<Diagnostic>,
}

impl ReadResponse {
    /// The refreshed `state` (the private state kept), with `diagnostics`.
    pub fn new(state: Value, diagnostics: Vec<Diagnostic>) -> ReadResponse {
        ReadResponse {
            state,
            private: None,
            diagnostics,
        }
    }
}

/// `PlanResourceChange`, decoded. `prior` is null on create, `proposed` and `config`
/// are null on destroy.
#[derive(Debug, Clone)]
pub struct PlanRequest {
    pub prior: Value,
    pub proposed: Value,
    pub config: Value,
    pub prior_private: Vec<u8>,
}

#[derive(Debug, Clone, Default)]
pub struct PlanResponse {
    pub planned: Value,
    pub requires_replace: Vec<AttrPath>,
    pub diagnostics: Vec<Diagnostic>,
    /// `None` keeps the prior private state.
    pub planned_private: Option<Vec<u8>>,
}

impl PlanResponse {
    /// A plan of `planned` (null plans a destroy), keeping the prior private state.
    pub fn planned(planned: Value) -> PlanResponse {
        PlanResponse {
            planned,
            ..Default::default()
        }
    }

    /// A refused plan: `diagnostics` say why.
    pub fn errors(diagnostics: Vec<Diagnostic>) -> PlanResponse {
        PlanResponse {
            diagnostics,
            ..Default::default()
        }
    }

    /// Adds diagnostics (warnings, usually) to a plan.
    pub fn with_diagnostics(mut self, diagnostics: Vec<Diagnostic>) -> PlanResponse {
        self.diagnostics.extend(diagnostics);
        self
    }

    /// Marks the attributes whose change replaces the resource.
    pub fn replacing(mut self, paths: Vec<AttrPath>) -> PlanResponse {
        self.requires_replace = paths;
        self
    }
}

/// `ApplyResourceChange`, decoded. `planned` is null on destroy.
#[derive(Debug, Clone)]
pub struct ApplyRequest {
    pub prior: Value,
    pub planned: Value,
    pub config: Value,
    pub planned_private: Vec<u8>,
}

#[derive(Debug, Clone, Default)]
pub struct ApplyResponse {
    /// The new state: exactly the planned values, or null on destroy.
    pub state: Value,
    /// `None` keeps the planned private state.
    pub private: Option<Vec<u8>>,
    pub diagnostics: Vec<Diagnostic>,
}

impl ApplyResponse {
    pub fn new(state: Value, diagnostics: Vec<Diagnostic>) -> ApplyResponse {
        ApplyResponse {
            state,
            private: None,
            diagnostics,
        }
    }
}

/// One managed resource type. Resources without I/O are pure functions of their
/// arguments; those with I/O reach it through the [`Context`]. Either way nothing is
/// kept in process memory between calls: Terraform starts a fresh process per walk and
/// re-plans in the apply walk.
pub trait Resource: Send + Sync + 'static {
    fn type_name(&self) -> &'static str;
    fn schema(&self) -> Schema;
    /// Checks configuration; unknown values must be tolerated.
    fn validate(&self, config: &Value) -> Vec<Diagnostic>;
    /// Upgrades a stored state (JSON) of schema `version` to the current schema. The
    /// default reads it with the current type, which suits additive changes.
    fn upgrade(&self, version: i64, state: &serde_json::Value) -> Result<Value, Vec<Diagnostic>> {
        let _ = version;
        value::convert_json(state, &self.schema().value_type(), "")
            .map_err(|e| vec![Diagnostic::error("Unreadable stored state", e.to_string())])
    }
    /// Refreshes a stored state; returns the state to keep and any drift warnings.
    fn read(&self, req: ReadRequest, ctx: &Context) -> ReadResponse;
    fn plan(&self, req: PlanRequest, ctx: &Context) -> PlanResponse;
    /// Returns the new state: exactly the planned values, or null on destroy.
    fn apply(&self, req: ApplyRequest, ctx: &Context) -> ApplyResponse;
    /// Turns an import ID into a state.
    fn import(&self, id: &str, ctx: &Context) -> Result<Value, Vec<Diagnostic>>;
}

/// One data source type.
pub trait DataSource: Send + Sync + 'static {
    fn type_name(&self) -> &'static str;
    fn schema(&self) -> Schema;
    fn validate(&self, config: &Value) -> Vec<Diagnostic>;
    /// Reads the data source; returns its whole value.
    fn read(&self, config: Value, ctx: &Context) -> (Value, Vec<Diagnostic>);
}

/// A provider function's failure: what is wrong and what was expected, without the
/// parameter's name and without a final period (Terraform prints it as
/// `Invalid value for "NAME" parameter: TEXT.`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionError {
    pub text: String,
    /// The index of the argument at fault, if one is.
    pub argument: Option<usize>,
}

impl FunctionError {
    pub fn at(argument: usize, text: impl Into<String>) -> FunctionError {
        FunctionError {
            text: text.into(),
            argument: Some(argument),
        }
    }
}

/// One provider function (`provider::ipam::NAME`). Pure: the same arguments give the
/// same result. Arguments arrive decoded against the parameter types and wholly known.
pub trait Function: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    fn signature(&self) -> FunctionSignature;
    fn call(&self, args: &[Value]) -> Result<Value, FunctionError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: a context whose stop sender was dropped (`Context::unconfigured`)
    /// answered every store call with "stopped", because `wait_for` fails at once when
    /// the sender is gone.
    #[test]
    fn a_dropped_stop_sender_never_stops_a_call() {
        let ctx = Context::unconfigured();
        assert_eq!(ctx.block_on(async { 7 }), Some(7));
    }

    #[test]
    fn stop_provider_ends_a_waiting_call() {
        let (tx, rx) = tokio::sync::watch::channel(false);
        let ctx = Context {
            configured: None,
            stop: rx,
        };
        tx.send_replace(true);
        assert_eq!(ctx.block_on(std::future::pending::<u8>()), None);
    }
}
