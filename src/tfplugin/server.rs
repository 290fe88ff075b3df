//! The gRPC services Terraform calls. Every handler decodes, calls a [`Resource`]
//! inside a panic guard, and encodes; errors become diagnostics.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use super::diag::Diagnostic;
use super::value::{self, Type, Value};
use super::{
    Context, DataSource, Function, FunctionError, FunctionSignature, ProviderConfig, Resource,
};
use crate::tfplugin::proto::tfplugin6 as pb;

type Diags = Vec<Diagnostic>;

pub(super) struct Registered {
    pub(super) resource: Arc<dyn Resource>,
    pub(super) ty: Type,
    pub(super) version: i64,
}

pub(super) struct RegisteredData {
    pub(super) source: Arc<dyn DataSource>,
    pub(super) ty: Type,
}

pub(super) struct RegisteredFn {
    pub(super) function: Arc<dyn Function>,
    pub(super) signature: FunctionSignature,
}

pub(super) type ConfigureOutput = Option<Arc<dyn std::any::Any + Send + Sync>>;

/// The tfplugin6 `Provider` service over a provider block, resources and data sources.
#[derive(Clone)]
pub struct ProviderService {
    pub(super) provider: Arc<dyn ProviderConfig>,
    pub(super) provider_ty: Type,
    pub(super) resources: Arc<BTreeMap<&'static str, Registered>>,
    pub(super) data_sources: Arc<BTreeMap<&'static str, RegisteredData>>,
    pub(super) functions: Arc<BTreeMap<&'static str, RegisteredFn>>,
    pub(super) schema: Arc<pb::get_provider_schema::Response>,
    pub(super) configured: Arc<std::sync::RwLock<ConfigureOutput>>,
    pub(super) stop: Arc<tokio::sync::watch::Sender<bool>>,
}

pub(super) fn capabilities() -> pb::ServerCapabilities {
    pb::ServerCapabilities {
        // A destroy needs no plan from us (a handle holds nothing, a pool only its
        // ledger); leaving this off saves one PlanResourceChange per destroyed object.
        plan_destroy: false,
        get_provider_schema_optional: true,
        move_resource_state: false,
        generate_resource_config: false,
    }
}

impl ProviderService {
    pub fn new(
        provider: Arc<dyn ProviderConfig>,
        resources: Vec<Arc<dyn Resource>>,
        data_sources: Vec<Arc<dyn DataSource>>,
        functions: Vec<Arc<dyn Function>>,
    ) -> ProviderService {
        let mut map = BTreeMap::new();
        let mut schemas = std::collections::HashMap::new();
        for r in resources {
            let schema = r.schema();
            schemas.insert(r.type_name().to_string(), schema.to_proto());
            map.insert(
                r.type_name(),
                Registered {
                    ty: schema.value_type(),
                    version: schema.version,
                    resource: r,
                },
            );
        }
        let mut data_map = BTreeMap::new();
        let mut data_schemas = std::collections::HashMap::new();
        for d in data_sources {
            let schema = d.schema();
            data_schemas.insert(d.type_name().to_string(), schema.to_proto());
            data_map.insert(
                d.type_name(),
                RegisteredData {
                    ty: schema.value_type(),
                    source: d,
                },
            );
        }
        let functions: BTreeMap<&'static str, RegisteredFn> = functions
            .into_iter()
            .map(|f| {
                (
                    f.name(),
                    RegisteredFn {
                        signature: f.signature(),
                        function: f,
                    },
                )
            })
            .collect();
        let provider_schema = provider.schema();
        let schema = pb::get_provider_schema::Response {
            provider: Some(provider_schema.to_proto()),
            resource_schemas: schemas,
            data_source_schemas: data_schemas,
            functions: function_protos(&functions),
            server_capabilities: Some(capabilities()),
            ..Default::default()
        };
        ProviderService {
            provider,
            provider_ty: provider_schema.value_type(),
            resources: Arc::new(map),
            data_sources: Arc::new(data_map),
            functions: Arc::new(functions),
            schema: Arc::new(schema),
            configured: Arc::new(std::sync::RwLock::new(None)),
            stop: Arc::new(tokio::sync::watch::channel(false).0),
        }
    }

    /// The context of one call: the configured provider data and the stop signal.
    pub(super) fn ctx(&self) -> Context {
        Context {
            configured: self
                .configured
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            stop: self.stop.subscribe(),
        }
    }

    pub(super) fn get_data(&self, type_name: &str) -> Result<&RegisteredData, Diags> {
        self.data_sources
            .get(type_name)
            .ok_or_else(|| vec![unknown("data source", type_name, self.data_sources.keys())])
    }

    pub(super) fn get(&self, type_name: &str) -> Result<&Registered, Diags> {
        self.resources
            .get(type_name)
            .ok_or_else(|| vec![unknown("resource type", type_name, self.resources.keys())])
    }
}

/// Runs `f`, turning a panic into an error diagnostic: the plugin keeps serving.
pub(super) fn guard<T>(what: &str, f: impl FnOnce() -> Result<T, Diags>) -> Result<T, Diags> {
    let start = std::time::Instant::now();
    let result = catch_unwind(AssertUnwindSafe(f));
    tracing::debug!(
        rpc = what,
        elapsed_us = start.elapsed().as_micros() as u64,
        "handled"
    );
    match result {
        Ok(r) => r,
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            tracing::error!(%what, %msg, "handler panicked");
            Err(vec![Diagnostic::error(
                "Provider bug: internal error",
                format!("terraform-provider-ipam failed in {what}: {msg}. This is a bug in the provider, not in your configuration; please report it."),
            )])
        }
    }
}

pub(super) fn function_protos(
    functions: &BTreeMap<&'static str, RegisteredFn>,
) -> std::collections::HashMap<String, pb::Function> {
    functions
        .iter()
        .map(|(n, f)| (n.to_string(), f.signature.to_proto()))
        .collect()
}

/// One `CallFunction`: decode each argument against its parameter's type, call, and
/// encode the result. Every failure is a [`FunctionError`], a panic included.
pub(super) fn call_function(
    f: &RegisteredFn,
    args: &[pb::DynamicValue],
) -> Result<pb::DynamicValue, FunctionError> {
    let params = &f.signature.parameters;
    if args.len() != params.len() {
        return Err(FunctionError {
            text: format!(
                "{} takes {} argument{}, got {}",
                f.function.name(),
                params.len(),
                if params.len() == 1 { "" } else { "s" },
                args.len()
            ),
            argument: None,
        });
    }
    let mut values = Vec::with_capacity(args.len());
    for (i, (a, p)) in args.iter().zip(params).enumerate() {
        let v = decode(Some(a), &p.ty, &format!("argument {}", i + 1)).map_err(|d| {
            FunctionError::at(
                i,
                d.iter()
                    .map(|d| d.detail.as_str())
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })?;
        values.push(v);
    }
    // Terraform answers an unknown argument itself (no parameter allows unknowns); an
    // unknown nested inside a collection is answered the same way here.
    if values.iter().any(|v| !v.is_wholly_known()) {
        return Ok(encode(&Value::Unknown, &f.signature.returns));
    }
    let start = std::time::Instant::now();
    let result = catch_unwind(AssertUnwindSafe(|| f.function.call(&values)));
    tracing::debug!(
        function = f.function.name(),
        elapsed_us = start.elapsed().as_micros() as u64,
        "called"
    );
    match result {
        Ok(Ok(v)) => Ok(encode(&v, &f.signature.returns)),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(FunctionError {
            text: format!(
                "terraform-provider-ipam failed inside {}; this is a bug in the provider, please report it",
                f.function.name()
            ),
            argument: None,
        }),
    }
}

pub(super) fn decode(dv: Option<&pb::DynamicValue>, ty: &Type, what: &str) -> Result<Value, Diags> {
    let bad = |e: value::DecodeError| {
        vec![Diagnostic::error(
            "Unreadable value from Terraform",
            format!("Could not decode {what}: {e}"),
        )]
    };
    match dv {
        Some(d) if !d.msgpack.is_empty() => value::from_msgpack(&d.msgpack, ty).map_err(bad),
        Some(d) if !d.json.is_empty() => value::from_json(&d.json, ty).map_err(bad),
        _ => Ok(Value::Null),
    }
}

pub(super) fn encode(v: &Value, ty: &Type) -> pb::DynamicValue {
    pb::DynamicValue {
        msgpack: value::to_msgpack(v, ty),
        json: vec![],
    }
}

/// The answer to a call about an object of a kind this provider has, but not by
/// this name.
fn unknown<'a>(
    kind: &str,
    name: &str,
    known: impl Iterator<Item = &'a &'static str>,
) -> Diagnostic {
    let known: Vec<&str> = known.copied().collect();
    Diagnostic::error(
        format!("Unknown {kind}"),
        format!(
            "This provider has no {kind} {name:?}. Known: {}.",
            known.join(", ")
        ),
    )
}

/// The answer to a call about a kind of object this provider has none of (yet).
pub(super) fn none_of(kind: &str, plural: &str, name: &str) -> Diagnostic {
    Diagnostic::error(
        format!("Unknown {kind}"),
        format!("This provider has no {plural}; {name:?} is not one."),
    )
}

pub(super) fn diags(d: &[Diagnostic]) -> Vec<pb::Diagnostic> {
    d.iter().map(Diagnostic::to_proto).collect()
}
