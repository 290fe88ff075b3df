//! The tfplugin6 `Provider` service: one method per RPC Terraform calls. Each decodes
//! its request, calls the registered resource, data source or function through
//! [`ProviderService`]'s helpers (inside the panic guard), and encodes the answer.

use tonic::{Request, Response, Status};

use super::diag::{has_errors, Diagnostic};
use super::server::{
    call_function, capabilities, decode, diags, encode, function_protos, guard, none_of,
    ProviderService,
};
use super::value::Value;
use super::FunctionError;
use super::{ApplyRequest, PlanRequest, ReadRequest};
use crate::tfplugin::proto::tfplugin6 as pb;
use crate::tfplugin::proto::tfplugin6::provider_server::Provider as ProviderRpc;

type Rpc<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl ProviderRpc for ProviderService {
    async fn get_metadata(
        &self,
        _: Request<pb::get_metadata::Request>,
    ) -> Rpc<pb::get_metadata::Response> {
        Ok(Response::new(pb::get_metadata::Response {
            server_capabilities: Some(capabilities()),
            resources: self
                .resources
                .keys()
                .map(|n| pb::get_metadata::ResourceMetadata {
                    type_name: n.to_string(),
                })
                .collect(),
            data_sources: self
                .data_sources
                .keys()
                .map(|n| pb::get_metadata::DataSourceMetadata {
                    type_name: n.to_string(),
                })
                .collect(),
            functions: self
                .functions
                .keys()
                .map(|n| pb::get_metadata::FunctionMetadata {
                    name: n.to_string(),
                })
                .collect(),
            ..Default::default()
        }))
    }

    async fn get_provider_schema(
        &self,
        _: Request<pb::get_provider_schema::Request>,
    ) -> Rpc<pb::get_provider_schema::Response> {
        Ok(Response::new((*self.schema).clone()))
    }

    async fn validate_provider_config(
        &self,
        req: Request<pb::validate_provider_config::Request>,
    ) -> Rpc<pb::validate_provider_config::Response> {
        let r = req.into_inner();
        let d = guard("ValidateProviderConfig", || {
            let config = decode(r.config.as_ref(), &self.provider_ty, "provider config")?;
            Ok(self.provider.validate(&config))
        })
        .unwrap_or_else(|e| e);
        Ok(Response::new(pb::validate_provider_config::Response {
            diagnostics: diags(&d),
        }))
    }

    async fn validate_resource_config(
        &self,
        req: Request<pb::validate_resource_config::Request>,
    ) -> Rpc<pb::validate_resource_config::Response> {
        let r = req.into_inner();
        let d = guard("ValidateResourceConfig", || {
            let reg = self.get(&r.type_name)?;
            let config = decode(r.config.as_ref(), &reg.ty, "config")?;
            Ok(reg.resource.validate(&config))
        })
        .unwrap_or_else(|e| e);
        Ok(Response::new(pb::validate_resource_config::Response {
            diagnostics: diags(&d),
        }))
    }

    async fn validate_data_resource_config(
        &self,
        req: Request<pb::validate_data_resource_config::Request>,
    ) -> Rpc<pb::validate_data_resource_config::Response> {
        let r = req.into_inner();
        let d = guard("ValidateDataResourceConfig", || {
            let reg = self.get_data(&r.type_name)?;
            let config = decode(r.config.as_ref(), &reg.ty, "config")?;
            Ok(reg.source.validate(&config))
        })
        .unwrap_or_else(|e| e);
        Ok(Response::new(pb::validate_data_resource_config::Response {
            diagnostics: diags(&d),
        }))
    }

    async fn upgrade_resource_state(
        &self,
        req: Request<pb::upgrade_resource_state::Request>,
    ) -> Rpc<pb::upgrade_resource_state::Response> {
        let r = req.into_inner();
        let out = guard("UpgradeResourceState", || {
            let reg = self.get(&r.type_name)?;
            let raw = r.raw_state.unwrap_or_default();
            if raw.json.is_empty() {
                if raw.flatmap.is_empty() {
                    return Ok((Value::Null, reg.ty.clone(), vec![]));
                }
                return Err(vec![Diagnostic::error(
                    "Unsupported state format",
                    "This state is in the legacy flatmap format, which this provider never wrote.",
                )]);
            }
            let json: serde_json::Value = serde_json::from_slice(&raw.json)
                .map_err(|e| vec![Diagnostic::error("Unreadable stored state", e.to_string())])?;
            if r.version > reg.version {
                return Err(vec![Diagnostic::error(
                    "State written by a newer provider",
                    format!(
                        "This {} state has schema version {}, newer than this provider's {}. Use the provider version that wrote it.",
                        r.type_name, r.version, reg.version
                    ),
                )]);
            }
            let v = reg.resource.upgrade(r.version, &json)?;
            Ok((v, reg.ty.clone(), vec![]))
        });
        Ok(Response::new(match out {
            Ok((v, ty, d)) => pb::upgrade_resource_state::Response {
                upgraded_state: Some(encode(&v, &ty)),
                diagnostics: diags(&d),
            },
            Err(d) => pb::upgrade_resource_state::Response {
                upgraded_state: None,
                diagnostics: diags(&d),
            },
        }))
    }

    async fn get_resource_identity_schemas(
        &self,
        _: Request<pb::get_resource_identity_schemas::Request>,
    ) -> Rpc<pb::get_resource_identity_schemas::Response> {
        Ok(Response::new(Default::default()))
    }

    async fn upgrade_resource_identity(
        &self,
        req: Request<pb::upgrade_resource_identity::Request>,
    ) -> Rpc<pb::upgrade_resource_identity::Response> {
        let name = req.into_inner().type_name;
        let d = Diagnostic::error(
            "Resource identity not supported",
            format!("{name:?} has no identity schema in this provider."),
        );
        Ok(Response::new(pb::upgrade_resource_identity::Response {
            upgraded_identity: None,
            diagnostics: diags(&[d]),
        }))
    }

    async fn configure_provider(
        &self,
        req: Request<pb::configure_provider::Request>,
    ) -> Rpc<pb::configure_provider::Response> {
        let r = req.into_inner();
        let d = guard("ConfigureProvider", || {
            let config = decode(r.config.as_ref(), &self.provider_ty, "provider config")?;
            let (data, d) = self.provider.configure(&config);
            *self.configured.write().unwrap_or_else(|e| e.into_inner()) = data;
            Ok(d)
        })
        .unwrap_or_else(|e| e);
        Ok(Response::new(pb::configure_provider::Response {
            diagnostics: diags(&d),
        }))
    }

    async fn read_resource(
        &self,
        req: Request<pb::read_resource::Request>,
    ) -> Rpc<pb::read_resource::Response> {
        let r = req.into_inner();
        let out = guard("ReadResource", || {
            let reg = self.get(&r.type_name)?;
            let state = decode(r.current_state.as_ref(), &reg.ty, "current state")?;
            let resp = reg.resource.read(
                ReadRequest {
                    state,
                    private: r.private.clone(),
                },
                &self.ctx(),
            );
            Ok((encode(&resp.state, &reg.ty), resp.private, resp.diagnostics))
        });
        Ok(Response::new(match out {
            Ok((v, private, d)) => pb::read_resource::Response {
                new_state: Some(v),
                diagnostics: diags(&d),
                private: private.unwrap_or(r.private),
                ..Default::default()
            },
            // On error Terraform keeps the prior state: hand it back unchanged.
            Err(d) => pb::read_resource::Response {
                new_state: r.current_state,
                diagnostics: diags(&d),
                private: r.private,
                ..Default::default()
            },
        }))
    }

    async fn plan_resource_change(
        &self,
        req: Request<pb::plan_resource_change::Request>,
    ) -> Rpc<pb::plan_resource_change::Response> {
        let r = req.into_inner();
        let out = guard("PlanResourceChange", || {
            let reg = self.get(&r.type_name)?;
            let plan = PlanRequest {
                prior: decode(r.prior_state.as_ref(), &reg.ty, "prior state")?,
                proposed: decode(r.proposed_new_state.as_ref(), &reg.ty, "proposed new state")?,
                config: decode(r.config.as_ref(), &reg.ty, "config")?,
                prior_private: r.prior_private.clone(),
            };
            let resp = reg.resource.plan(plan, &self.ctx());
            Ok((resp, reg.ty.clone()))
        });
        Ok(Response::new(match out {
            Ok((resp, ty)) => pb::plan_resource_change::Response {
                planned_state: (!has_errors(&resp.diagnostics)).then(|| encode(&resp.planned, &ty)),
                requires_replace: resp.requires_replace.iter().map(|p| p.to_proto()).collect(),
                planned_private: resp.planned_private.unwrap_or(r.prior_private),
                diagnostics: diags(&resp.diagnostics),
                ..Default::default()
            },
            Err(d) => pb::plan_resource_change::Response {
                diagnostics: diags(&d),
                ..Default::default()
            },
        }))
    }

    async fn apply_resource_change(
        &self,
        req: Request<pb::apply_resource_change::Request>,
    ) -> Rpc<pb::apply_resource_change::Response> {
        let r = req.into_inner();
        let out = guard("ApplyResourceChange", || {
            let reg = self.get(&r.type_name)?;
            let apply = ApplyRequest {
                prior: decode(r.prior_state.as_ref(), &reg.ty, "prior state")?,
                planned: decode(r.planned_state.as_ref(), &reg.ty, "planned state")?,
                config: decode(r.config.as_ref(), &reg.ty, "config")?,
                planned_private: r.planned_private.clone(),
            };
            let resp = reg.resource.apply(apply, &self.ctx());
            Ok((encode(&resp.state, &reg.ty), resp.private, resp.diagnostics))
        });
        Ok(Response::new(match out {
            Ok((v, private, d)) => pb::apply_resource_change::Response {
                new_state: Some(v),
                private: private.unwrap_or(r.planned_private),
                diagnostics: diags(&d),
                ..Default::default()
            },
            // A failed apply keeps the prior state exactly as it was.
            Err(d) => pb::apply_resource_change::Response {
                new_state: r.prior_state,
                diagnostics: diags(&d),
                ..Default::default()
            },
        }))
    }

    async fn import_resource_state(
        &self,
        req: Request<pb::import_resource_state::Request>,
    ) -> Rpc<pb::import_resource_state::Response> {
        let r = req.into_inner();
        let out = guard("ImportResourceState", || {
            let reg = self.get(&r.type_name)?;
            let v = reg.resource.import(&r.id, &self.ctx())?;
            Ok(encode(&v, &reg.ty))
        });
        Ok(Response::new(match out {
            Ok(state) => pb::import_resource_state::Response {
                imported_resources: vec![pb::import_resource_state::ImportedResource {
                    type_name: r.type_name,
                    state: Some(state),
                    ..Default::default()
                }],
                ..Default::default()
            },
            Err(d) => pb::import_resource_state::Response {
                diagnostics: diags(&d),
                ..Default::default()
            },
        }))
    }

    async fn move_resource_state(
        &self,
        req: Request<pb::move_resource_state::Request>,
    ) -> Rpc<pb::move_resource_state::Response> {
        let r = req.into_inner();
        let d = Diagnostic::error(
            "Move not supported",
            format!(
                "Resources cannot be moved from {} ({}) to {}. Use `terraform import` instead.",
                r.source_type_name, r.source_provider_address, r.target_type_name
            ),
        );
        Ok(Response::new(pb::move_resource_state::Response {
            diagnostics: diags(&[d]),
            ..Default::default()
        }))
    }

    async fn read_data_source(
        &self,
        req: Request<pb::read_data_source::Request>,
    ) -> Rpc<pb::read_data_source::Response> {
        let r = req.into_inner();
        let out = guard("ReadDataSource", || {
            let reg = self.get_data(&r.type_name)?;
            let config = decode(r.config.as_ref(), &reg.ty, "config")?;
            let (v, d) = reg.source.read(config, &self.ctx());
            Ok(((!has_errors(&d)).then(|| encode(&v, &reg.ty)), d))
        });
        Ok(Response::new(match out {
            Ok((state, d)) => pb::read_data_source::Response {
                state,
                diagnostics: diags(&d),
                ..Default::default()
            },
            Err(d) => pb::read_data_source::Response {
                diagnostics: diags(&d),
                ..Default::default()
            },
        }))
    }

    async fn validate_ephemeral_resource_config(
        &self,
        req: Request<pb::validate_ephemeral_resource_config::Request>,
    ) -> Rpc<pb::validate_ephemeral_resource_config::Response> {
        let name = req.into_inner().type_name;
        let d = none_of("ephemeral resource", "ephemeral resources", &name);
        Ok(Response::new(
            pb::validate_ephemeral_resource_config::Response {
                diagnostics: diags(&[d]),
            },
        ))
    }

    async fn open_ephemeral_resource(
        &self,
        req: Request<pb::open_ephemeral_resource::Request>,
    ) -> Rpc<pb::open_ephemeral_resource::Response> {
        let name = req.into_inner().type_name;
        let d = none_of("ephemeral resource", "ephemeral resources", &name);
        Ok(Response::new(pb::open_ephemeral_resource::Response {
            diagnostics: diags(&[d]),
            ..Default::default()
        }))
    }

    async fn renew_ephemeral_resource(
        &self,
        _: Request<pb::renew_ephemeral_resource::Request>,
    ) -> Rpc<pb::renew_ephemeral_resource::Response> {
        Ok(Response::new(Default::default()))
    }

    async fn close_ephemeral_resource(
        &self,
        _: Request<pb::close_ephemeral_resource::Request>,
    ) -> Rpc<pb::close_ephemeral_resource::Response> {
        Ok(Response::new(Default::default()))
    }

    async fn get_functions(
        &self,
        _: Request<pb::get_functions::Request>,
    ) -> Rpc<pb::get_functions::Response> {
        Ok(Response::new(pb::get_functions::Response {
            functions: function_protos(&self.functions),
            diagnostics: vec![],
        }))
    }

    async fn call_function(
        &self,
        req: Request<pb::call_function::Request>,
    ) -> Rpc<pb::call_function::Response> {
        let r = req.into_inner();
        let outcome = match self.functions.get(r.name.as_str()) {
            Some(f) => call_function(f, &r.arguments),
            None => Err(FunctionError {
                text: format!(
                    "this provider has no function {:?}; it has {}",
                    r.name,
                    self.functions
                        .keys()
                        .copied()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                argument: None,
            }),
        };
        Ok(Response::new(match outcome {
            Ok(result) => pb::call_function::Response {
                result: Some(result),
                error: None,
            },
            Err(e) => pb::call_function::Response {
                result: None,
                error: Some(pb::FunctionError {
                    text: e.text,
                    function_argument: e.argument.map(|i| i as i64),
                }),
            },
        }))
    }

    async fn stop_provider(
        &self,
        _: Request<pb::stop_provider::Request>,
    ) -> Rpc<pb::stop_provider::Response> {
        // Calls waiting on the database give up; pure calls are short and finish.
        self.stop.send_replace(true);
        Ok(Response::new(Default::default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tfplugin::schema::{Attribute, Mode, Schema};
    use crate::tfplugin::server::ConfigureOutput;
    use crate::tfplugin::value::Type;
    use crate::tfplugin::{
        ApplyRequest, ApplyResponse, PlanRequest, PlanResponse, ReadRequest, ReadResponse,
    };
    use crate::tfplugin::{Context, ProviderConfig, Resource};
    use std::sync::Arc;

    /// A resource whose plan panics, to prove the guard.
    struct Panicky;

    impl Resource for Panicky {
        fn type_name(&self) -> &'static str {
            "test_panicky"
        }
        fn schema(&self) -> Schema {
            Schema {
                version: 0,
                description: String::new(),
                attributes: vec![Attribute::new("x", Type::String, Mode::Optional, "x")],
            }
        }
        fn validate(&self, _: &Value) -> Vec<Diagnostic> {
            vec![]
        }
        fn read(&self, r: ReadRequest, _: &Context) -> ReadResponse {
            ReadResponse {
                state: r.state,
                ..Default::default()
            }
        }
        fn plan(&self, _: PlanRequest, _: &Context) -> PlanResponse {
            panic!("boom")
        }
        fn apply(&self, r: ApplyRequest, _: &Context) -> ApplyResponse {
            ApplyResponse::new(r.planned, vec![])
        }
        fn import(&self, _: &str, _: &Context) -> Result<Value, Vec<Diagnostic>> {
            Ok(Value::Null)
        }
    }

    /// No provider arguments.
    struct NoConfig;

    impl ProviderConfig for NoConfig {
        fn schema(&self) -> Schema {
            Schema {
                version: 0,
                description: String::new(),
                attributes: vec![],
            }
        }
        fn validate(&self, _: &Value) -> Vec<Diagnostic> {
            vec![]
        }
        fn configure(&self, _: &Value) -> (ConfigureOutput, Vec<Diagnostic>) {
            (None, vec![])
        }
    }

    fn service() -> ProviderService {
        ProviderService::new(Arc::new(NoConfig), vec![Arc::new(Panicky)], vec![], vec![])
    }

    #[tokio::test]
    async fn a_panicking_handler_becomes_a_bug_diagnostic_and_serving_continues() {
        let svc = service();
        let ty = Panicky.schema().value_type();
        let obj = Value::Object([("x".to_string(), Value::str("v"))].into());
        let req = || pb::plan_resource_change::Request {
            type_name: "test_panicky".into(),
            proposed_new_state: Some(encode(&obj, &ty)),
            config: Some(encode(&obj, &ty)),
            ..Default::default()
        };
        for _ in 0..2 {
            let r = svc
                .plan_resource_change(Request::new(req()))
                .await
                .expect("a diagnostic, not a gRPC error")
                .into_inner();
            assert_eq!(r.diagnostics.len(), 1);
            assert!(r.diagnostics[0].summary.contains("Provider bug"));
            assert!(r.diagnostics[0].detail.contains("boom"));
            assert!(r.planned_state.is_none());
        }
    }

    #[tokio::test]
    async fn undecodable_values_and_unknown_types_are_diagnostics() {
        let svc = service();
        let r = svc
            .plan_resource_change(Request::new(pb::plan_resource_change::Request {
                type_name: "test_panicky".into(),
                config: Some(pb::DynamicValue {
                    msgpack: vec![0xc1, 0xff],
                    json: vec![],
                }),
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner();
        assert!(r.diagnostics[0].summary.contains("Unreadable value"));
        let r = svc
            .validate_resource_config(Request::new(pb::validate_resource_config::Request {
                type_name: "nope".into(),
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.diagnostics[0].summary, "Unknown resource type");
    }
}
