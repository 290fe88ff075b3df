//! The protocol layer: Terraform plugin protocol 6 over tonic, the go-plugin
//! handshake, pinned-certificate mTLS. It knows Terraform's wire and nothing about IP
//! addresses: it decodes requests into [`Value`]s, calls a [`Resource`], and encodes
//! the answer. User errors travel as diagnostics, never as gRPC errors.
//!
//! - `handshake`: magic cookie, private unix socket, handshake line, AutoMTLS.
//! - `server`: the tonic services (tfplugin6.Provider, plugin.GRPCController/Stdio/Broker).
//! - `value`: msgpack/JSON `DynamicValue` <-> [`Value`], null and unknown at every depth.
//! - `schema`, `diag`: the schema builder and diagnostics with attribute paths.
//! - `proto`: the generated tfplugin6 and go-plugin code, private to this layer's use.

pub mod diag;
pub mod handshake;
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
pub use schema::{Attribute, Mode, Schema};
pub use value::{Type, Value};

/// `PlanResourceChange`, decoded. `prior` is null on create, `proposed` and `config`
/// are null on destroy.
#[derive(Debug, Clone)]
pub struct PlanRequest {
    pub prior: Value,
    pub proposed: Value,
    pub config: Value,
}

#[derive(Debug, Clone, Default)]
pub struct PlanResponse {
    pub planned: Value,
    pub requires_replace: Vec<AttrPath>,
    pub diagnostics: Vec<Diagnostic>,
}

/// `ApplyResourceChange`, decoded. `planned` is null on destroy.
#[derive(Debug, Clone)]
pub struct ApplyRequest {
    pub prior: Value,
    pub planned: Value,
    pub config: Value,
}

/// One managed resource type. Each method is a pure function of its arguments:
/// Terraform starts a fresh process per walk and re-plans in the apply walk.
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
    fn read(&self, state: Value) -> (Value, Vec<Diagnostic>);
    fn plan(&self, req: PlanRequest) -> PlanResponse;
    /// Returns the new state: exactly the planned values, or null on destroy.
    fn apply(&self, req: ApplyRequest) -> (Value, Vec<Diagnostic>);
    /// Turns an import ID into a state.
    fn import(&self, id: &str) -> Result<Value, Vec<Diagnostic>>;
}
