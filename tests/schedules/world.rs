//! One schedule's world: the working directories (configuration, state, saved plan)
//! of several states of one shared pool, and each step run through the provider's own
//! resource code against the database.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ipam::provider::config::Configured;
use ipam::provider::shared_allocations::SharedAllocationsResource;
use ipam::store::{PoolDef, Store};
use ipam::tfplugin::value::convert_json;
use ipam::tfplugin::{
    ApplyRequest, Context, Diagnostic, PlanRequest, ReadRequest, Resource, Value,
};
use ipnet::IpNet;

use super::common::pg::{cluster, OWNER_PASSWORD};
use super::{Req, Step, NAMES, POOL_CIDR, STATES};

#[path = "oracle.rs"]
mod oracle;

use oracle::conforms;

/// One working directory: its configuration and its Terraform state.
#[derive(Clone)]
struct Dir {
    owner: String,
    config: BTreeMap<String, Req>,
    /// The resource in state (null when absent) and its private state.
    state: Value,
    private: Vec<u8>,
    saved: Option<Saved>,
}

#[derive(Clone)]
struct Saved {
    /// The requests the saved plan was made for (the configuration may change since).
    requests: BTreeMap<String, Req>,
    config: Value,
    prior: Value,
    private: Vec<u8>,
    planned: Value,
}

pub(crate) struct World {
    pool: String,
    ctx: Context,
    dirs: Vec<Dir>,
    reserved: Vec<IpNet>,
    /// Owners whose rows a step changed besides its own (the other state's apply in a
    /// `LateApply`, checked on its own already).
    also_changed: Vec<String>,
    /// The last block the ledger gave each (owner, name), with the request it answered.
    applied: BTreeMap<(String, String), (IpNet, Req)>,
    /// The oracle's own connection: plain SQL, none of the store's code; made again
    /// after a restart.
    oracle: std::sync::Mutex<Arc<tokio_postgres::Client>>,
    url: String,
    /// The pool's CIDRs as the network team last set them.
    cidrs: Vec<IpNet>,
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn nth(base: &str, len: u8, n: u8) -> IpNet {
    let b: IpNet = net(base);
    let IpNet::V4(v4) = b else { unreachable!() };
    let start = u32::from(v4.network()) + (u32::from(n) << (32 - len));
    IpNet::V4(ipnet::Ipv4Net::new(start.into(), len).unwrap())
}

fn config_value(pool: &str, owner: &str, config: &BTreeMap<String, Req>) -> Value {
    let allocations: serde_json::Map<String, serde_json::Value> = config
        .iter()
        .filter(|(_, r)| **r != Req::Remove)
        .map(|(n, r)| {
            let e = match r {
                Req::Size(p) => serde_json::json!({ "prefix_length": p }),
                Req::Grow(p, g) => serde_json::json!({ "prefix_length": p, "grow_to": g }),
                Req::Pin(i) => serde_json::json!({ "cidr": nth(POOL_CIDR, 26, *i).to_string() }),
                Req::Remove => unreachable!(),
            };
            (n.clone(), e)
        })
        .collect();
    convert_json(
        &serde_json::json!({ "pool": pool, "owner": owner, "allocations": allocations }),
        &SharedAllocationsResource.schema().value_type(),
        "",
    )
    .unwrap()
}

fn errors(d: &[Diagnostic]) -> Vec<&Diagnostic> {
    d.iter()
        .filter(|d| d.severity == ipam::tfplugin::Severity::Error)
        .collect()
}

/// What a step did, for the oracle.
pub(crate) enum Outcome {
    /// The owner's rows may have changed, with these requests.
    Applied(String, BTreeMap<String, Req>),
    Destroyed(String),
    Nothing,
}

impl World {
    pub(crate) fn new(db: &str, pool: &str, oracle: Arc<tokio_postgres::Client>) -> World {
        let store = Arc::new(
            Store::new(&cluster().url(db))
                .unwrap()
                .with_lock_timeout(Duration::from_secs(10)),
        );
        let mut ctx = Context::unconfigured();
        ctx.configured = Some(Arc::new(Configured {
            store: Ok(store.clone()),
            reservation_ttl: Duration::from_secs(3600),
        }));
        let def = PoolDef {
            name: pool.into(),
            cidrs: vec![net(POOL_CIDR)],
            reserved: vec![],
            settings: serde_json::json!({}),
            access: Default::default(),
        };
        ctx.block_on(store.create_pool(&def)).unwrap().unwrap();
        let dirs = (0..STATES)
            .map(|i| Dir {
                owner: format!("o{i}"),
                // Every state starts with two requests, applied by its first apply.
                config: [
                    ("a".to_string(), Req::Size(26)),
                    ("b".to_string(), Req::Size(27)),
                ]
                .into_iter()
                .collect(),
                state: Value::Null,
                private: vec![],
                saved: None,
            })
            .collect();
        World {
            pool: pool.into(),
            ctx,
            dirs,
            reserved: vec![],
            applied: BTreeMap::new(),
            also_changed: Vec::new(),
            oracle: std::sync::Mutex::new(oracle),
            url: cluster().url(db),
            cidrs: vec![net(POOL_CIDR)],
        }
    }

    /// Rows of one text column, through the oracle's connection.
    fn client(&self) -> Arc<tokio_postgres::Client> {
        let mut g = self.oracle.lock().unwrap();
        if g.is_closed() {
            let info = ipam::store::ConnInfo::parse(&self.url).unwrap();
            let c = self.ctx.block_on(async move { info.connect().await });
            *g = Arc::new(c.unwrap().unwrap());
        }
        g.clone()
    }

    fn sql(&self, query: &str) -> Vec<String> {
        let c = self.client();
        let q = query.to_string();
        self.ctx
            .block_on(async move { c.query(&q, &[]).await })
            .expect("not stopped")
            .unwrap_or_else(|e| panic!("{query}: {e}"))
            .iter()
            .map(|r| r.get::<_, String>(0))
            .collect()
    }

    fn store(&self) -> Arc<Store> {
        self.ctx.get::<Configured>().unwrap().store.clone().unwrap()
    }

    /// Terraform's refresh: the new prior state, or the error that stops the run.
    fn refresh(&self, d: &Dir) -> Result<Value, Vec<Diagnostic>> {
        if d.state.is_null() {
            return Ok(Value::Null);
        }
        let r = SharedAllocationsResource.read(
            ReadRequest {
                state: d.state.clone(),
                private: d.private.clone(),
            },
            &self.ctx,
        );
        if errors(&r.diagnostics).is_empty() {
            Ok(r.state)
        } else {
            Err(r.diagnostics)
        }
    }

    fn plan(
        &self,
        prior: &Value,
        private: &[u8],
        config: &Value,
    ) -> Result<Value, Vec<Diagnostic>> {
        let r = SharedAllocationsResource.plan(
            PlanRequest {
                prior: prior.clone(),
                proposed: config.clone(),
                config: config.clone(),
                prior_private: private.to_vec(),
            },
            &self.ctx,
        );
        if errors(&r.diagnostics).is_empty() {
            Ok(r.planned)
        } else {
            Err(r.diagnostics)
        }
    }

    /// Plan, the apply walk's second plan, and apply, as `terraform apply` does them;
    /// the new state and private state, or the diagnostics that stopped it.
    fn apply(
        &self,
        prior: &Value,
        private: &[u8],
        config: &Value,
        saved: Option<&Value>,
    ) -> Result<(Value, Vec<u8>), (Vec<Diagnostic>, bool)> {
        let planned = match saved {
            Some(p) => p.clone(),
            None => self.plan(prior, private, config).map_err(|d| (d, false))?,
        };
        let again = self.plan(prior, private, config).map_err(|d| (d, false))?;
        if !conforms(&again, &planned) {
            return Err((
                vec![Diagnostic::error(
                    "Provider produced inconsistent final plan",
                    format!("{planned:?} then {again:?}"),
                )],
                saved.is_none(),
            ));
        }
        let r = SharedAllocationsResource.apply(
            ApplyRequest {
                prior: prior.clone(),
                planned: again.clone(),
                config: config.clone(),
                planned_private: private.to_vec(),
            },
            &self.ctx,
        );
        if !errors(&r.diagnostics).is_empty() {
            return Err((r.diagnostics, false));
        }
        if !conforms(&r.state, &again) {
            return Err((
                vec![Diagnostic::error(
                    "Provider produced inconsistent result after apply",
                    format!("{again:?} then {:?}", r.state),
                )],
                true,
            ));
        }
        Ok((r.state, r.private.unwrap_or_else(|| private.to_vec())))
    }

    pub(crate) fn run(&mut self, step: &Step) -> Result<Outcome, String> {
        let pool = self.pool.clone();
        // Each state is its own working directory: the provider names a create's origin
        // from it (the workspace is the part this process can vary).
        let dir = match step {
            Step::Edit(s, ..)
            | Step::PullRequest(s, ..)
            | Step::SavePlan(s)
            | Step::ApplySaved(s)
            | Step::Apply(s)
            | Step::CrashAfterCommit(s)
            | Step::CrashBeforeCommit(s)
            | Step::Import(s, _)
            | Step::SameOwner(s, _)
            | Step::CopyState(s, _)
            | Step::Destroy(s) => Some(*s),
            _ => None,
        };
        if let Some(s) = dir {
            std::env::set_var("TF_WORKSPACE", format!("state-{s}"));
        }
        match step {
            Step::CopyState(s, from) => {
                if s != from {
                    let copy = self.dirs[*from].clone();
                    self.dirs[*s] = Dir {
                        saved: None,
                        ..copy
                    };
                }
                Ok(Outcome::Nothing)
            }
            Step::Edit(s, n, r) => {
                self.dirs[*s].config.insert(NAMES[*n].into(), *r);
                Ok(Outcome::Nothing)
            }
            Step::PullRequest(s, n, r) => {
                let d = &self.dirs[*s];
                let mut config = d.config.clone();
                config.insert(NAMES[*n].into(), *r);
                if let Ok(prior) = self.refresh(d) {
                    let _ = self.plan(&prior, &d.private, &config_value(&pool, &d.owner, &config));
                }
                Ok(Outcome::Nothing)
            }
            Step::SavePlan(s) => {
                let d = &self.dirs[*s];
                let config = config_value(&pool, &d.owner, &d.config);
                let saved = self.refresh(d).ok().and_then(|prior| {
                    let planned = self.plan(&prior, &d.private, &config).ok()?;
                    Some(Saved {
                        requests: d.config.clone(),
                        config,
                        prior,
                        private: d.private.clone(),
                        planned,
                    })
                });
                self.dirs[*s].saved = saved;
                Ok(Outcome::Nothing)
            }
            Step::ApplySaved(s) => {
                let Some(saved) = self.dirs[*s].saved.take() else {
                    return Ok(Outcome::Nothing);
                };
                // Terraform refuses a saved plan whose state changed since.
                if saved.prior != self.dirs[*s].state {
                    return Ok(Outcome::Nothing);
                }
                let owner = self.dirs[*s].owner.clone();
                let requests = saved.requests.clone();
                match self.apply(
                    &saved.prior,
                    &saved.private,
                    &saved.config,
                    Some(&saved.planned),
                ) {
                    Ok((state, private)) => {
                        self.dirs[*s].state = state;
                        self.dirs[*s].private = private;
                        Ok(Outcome::Applied(owner, requests))
                    }
                    Err((d, bug)) => self.failed(&d, bug),
                }
            }
            Step::Apply(s) | Step::CrashAfterCommit(s) => {
                let d = self.dirs[*s].clone();
                let config = config_value(&pool, &d.owner, &d.config);
                let prior = match self.refresh(&d) {
                    Ok(p) => p,
                    Err(diags) => return self.failed(&diags, false).map(|_| Outcome::Nothing),
                };
                match self.apply(&prior, &d.private, &config, None) {
                    Ok((state, private)) => {
                        if matches!(step, Step::Apply(_)) {
                            self.dirs[*s].state = state;
                            self.dirs[*s].private = private;
                        } else {
                            // Terraform never heard of the commit.
                            self.dirs[*s].state = prior;
                        }
                        Ok(Outcome::Applied(d.owner, d.config))
                    }
                    Err((diags, bug)) => {
                        self.dirs[*s].state = prior;
                        self.failed(&diags, bug)
                    }
                }
            }
            Step::CrashBeforeCommit(s) => {
                // The plans ran; the apply never reached the database.
                let d = &self.dirs[*s];
                if let Ok(prior) = self.refresh(d) {
                    let _ = self.plan(
                        &prior,
                        &d.private,
                        &config_value(&pool, &d.owner, &d.config),
                    );
                }
                Ok(Outcome::Nothing)
            }
            Step::Import(s, from) => {
                if !self.dirs[*s].state.is_null() || s == from {
                    return Ok(Outcome::Nothing);
                }
                let owner = self.dirs[*from].owner.clone();
                match SharedAllocationsResource.import(&format!("{pool}/{owner}"), &self.ctx) {
                    Ok(state) => {
                        let config = self.dirs[*from].config.clone();
                        let d = &mut self.dirs[*s];
                        d.owner = owner;
                        d.config = config;
                        d.state = state;
                        d.private = vec![];
                        d.saved = None;
                        Ok(Outcome::Nothing)
                    }
                    Err(diags) => self.failed(&diags, false),
                }
            }
            Step::SameOwner(s, from) => {
                if self.dirs[*s].state.is_null() && s != from {
                    let owner = self.dirs[*from].owner.clone();
                    self.dirs[*s].owner = owner;
                    return self.run(&Step::Apply(*s));
                }
                Ok(Outcome::Nothing)
            }
            Step::Destroy(s) => {
                let d = self.dirs[*s].clone();
                if d.state.is_null() {
                    return Ok(Outcome::Nothing);
                }
                let prior = match self.refresh(&d) {
                    Ok(p) => p,
                    Err(diags) => return self.failed(&diags, false),
                };
                let r = SharedAllocationsResource.apply(
                    ApplyRequest {
                        prior: prior.clone(),
                        planned: Value::Null,
                        config: Value::Null,
                        planned_private: d.private.clone(),
                    },
                    &self.ctx,
                );
                if errors(&r.diagnostics).is_empty() {
                    let d = &mut self.dirs[*s];
                    d.state = Value::Null;
                    d.private = vec![];
                    d.config.clear();
                    d.saved = None;
                    Ok(Outcome::Destroyed(d.owner.clone()))
                } else {
                    self.failed(&r.diagnostics, false)
                }
            }
            Step::Reserve(slot) => {
                let reserved: Vec<IpNet> = slot
                    .map(|i| vec![nth(POOL_CIDR, 24, i)])
                    .unwrap_or_default();
                // The network team's resource refuses a reserved range outside the pool.
                if !reserved
                    .iter()
                    .all(|r| self.cidrs.iter().any(|c| c.contains(r)))
                {
                    return Ok(Outcome::Nothing);
                }
                let def = PoolDef {
                    name: pool.clone(),
                    cidrs: self.cidrs.clone(),
                    reserved: reserved.clone(),
                    settings: serde_json::json!({}),
                    access: Default::default(),
                };
                let store = self.store();
                match self.ctx.block_on(store.update_pool(&def)).unwrap() {
                    Ok(()) => self.reserved = reserved,
                    Err(e) => {
                        let text = e.to_string();
                        if !text.contains("would fall outside") {
                            return Err(format!("pool edit failed unexpectedly: {text}"));
                        }
                    }
                }
                Ok(Outcome::Nothing)
            }
            Step::PoolEdit { shrink, max_26 } => {
                let cidrs = vec![if *shrink {
                    net("10.0.0.0/22")
                } else {
                    net(POOL_CIDR)
                }];
                let def = PoolDef {
                    name: pool.clone(),
                    cidrs: cidrs.clone(),
                    reserved: self.reserved.clone(),
                    settings: if *max_26 {
                        serde_json::json!({ "max_prefix_length": 26 })
                    } else {
                        serde_json::json!({})
                    },
                    access: Default::default(),
                };
                let store = self.store();
                match self.ctx.block_on(store.update_pool(&def)).unwrap() {
                    Ok(()) => self.cidrs = cidrs,
                    Err(e) => {
                        let text = e.to_string();
                        if !text.contains("would fall outside") {
                            return Err(format!("pool edit failed unexpectedly: {text}"));
                        }
                    }
                }
                Ok(Outcome::Nothing)
            }
            Step::Restart => {
                cluster().restart();
                Ok(Outcome::Nothing)
            }
            Step::LateApply(s, t) => {
                if s == t {
                    return Ok(Outcome::Nothing);
                }
                std::env::set_var("TF_WORKSPACE", format!("state-{s}"));
                let d = self.dirs[*s].clone();
                let config = config_value(&pool, &d.owner, &d.config);
                let Ok(prior) = self.refresh(&d) else {
                    return Ok(Outcome::Nothing);
                };
                let Ok(planned) = self.plan(&prior, &d.private, &config) else {
                    return Ok(Outcome::Nothing);
                };
                self.run(&Step::Expire)?;
                std::env::set_var("TF_WORKSPACE", format!("state-{t}"));
                let before = self.rows();
                let other = self.run(&Step::Apply(*t))?;
                self.check(&before, &other)?;
                self.also_changed.push(self.dirs[*t].owner.clone());
                std::env::set_var("TF_WORKSPACE", format!("state-{s}"));
                let r = SharedAllocationsResource.apply(
                    ApplyRequest {
                        prior: prior.clone(),
                        planned: planned.clone(),
                        config,
                        planned_private: d.private.clone(),
                    },
                    &self.ctx,
                );
                if errors(&r.diagnostics).is_empty() {
                    self.dirs[*s].state = r.state;
                    self.dirs[*s].private = r.private.unwrap_or_default();
                    Ok(Outcome::Applied(d.owner, d.config))
                } else {
                    self.dirs[*s].state = prior;
                    self.failed(&r.diagnostics, false)
                }
            }
            Step::Expire => {
                let c = self.client();
                let q = format!("UPDATE ipam.blocks SET expires_at = now() - interval '1 second' WHERE pool = '{pool}' AND reservation AND plan_key <> 'released'");
                self.ctx
                    .block_on(async move { c.execute(&q, &[]).await })
                    .unwrap()
                    .unwrap();
                Ok(Outcome::Nothing)
            }
            Step::Terminate => {
                self.sql("SELECT count(pg_terminate_backend(pid))::text FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND usename = current_user");
                Ok(Outcome::Nothing)
            }
        }
    }

    /// A step that failed: allowed when the ledger refused it for a reason a user
    /// can act on; a violation when it is a provider bug or a raw database error.
    fn failed(&self, diags: &[Diagnostic], bug: bool) -> Result<Outcome, String> {
        let text: Vec<String> = diags
            .iter()
            .map(|d| format!("{}: {}", d.summary, d.detail))
            .collect();
        let text = text.join(" | ");
        if text.contains(OWNER_PASSWORD) {
            return Err(format!("the password appeared: {text}"));
        }
        // The exclusion constraint is the last line of defence: the apply's re-check must
        // stop every overlap before it, with a message that names the other owner.
        if text.contains("database refused an overlap") {
            return Err(format!(
                "the exclusion constraint had to stop a write: {text}"
            ));
        }
        let raw = text.contains("database error")
            || text.contains("Provider bug")
            || text.contains("could not connect");
        if bug || raw {
            return Err(format!("step failed with a provider fault: {text}"));
        }
        Ok(Outcome::Nothing)
    }
}
