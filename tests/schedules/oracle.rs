//! The oracle: after every step, the ledger's rows (read with plain SQL, none of the
//! store's code) against what the step may have changed, and at the end of a schedule
//! the convergence of every state.

use std::collections::BTreeMap;

use ipnet::IpNet;

use ipam::tfplugin::Value;

use super::{config_value, net, Dir, Outcome, World};
use crate::Req;

impl World {
    /// Every owner's allocations in the database: owner -> name -> (cidr, span).
    pub(crate) fn rows(&self) -> BTreeMap<String, BTreeMap<String, (IpNet, IpNet)>> {
        let out = self.sql(&format!("SELECT owner || ' ' || name || ' ' || cidr::text || ' ' || span::text FROM ipam.blocks WHERE pool = '{}' AND NOT reservation", self.pool));
        let mut m: BTreeMap<String, BTreeMap<String, (IpNet, IpNet)>> = BTreeMap::new();
        for l in &out {
            let p: Vec<&str> = l.split(' ').collect();
            m.entry(p[0].into())
                .or_default()
                .insert(p[1].into(), (net(p[2]), net(p[3])));
        }
        m
    }

    fn claims(&self) -> BTreeMap<String, String> {
        let out = self.sql(&format!(
            "SELECT owner || ' ' || coalesce(claim::text, '-') FROM ipam.owners WHERE pool = '{}'",
            self.pool
        ));
        out.iter()
            .map(|l| {
                let (o, c) = l.split_once(' ').unwrap();
                (o.to_string(), c.to_string())
            })
            .collect()
    }

    /// The oracle, after every step.
    pub(crate) fn check(
        &mut self,
        before: &BTreeMap<String, BTreeMap<String, (IpNet, IpNet)>>,
        outcome: &Outcome,
    ) -> Result<(), String> {
        let rows = self.rows();
        let all: Vec<(&String, &String, IpNet)> = rows
            .iter()
            .flat_map(|(o, m)| m.iter().map(move |(n, (_, span))| (o, n, *span)))
            .collect();
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                if a.0 != b.0 && (a.2.contains(&b.2.network()) || b.2.contains(&a.2.network())) {
                    return Err(format!(
                        "{}/{} ({}) overlaps {}/{} ({}) in the database",
                        a.0, a.1, a.2, b.0, b.1, b.2
                    ));
                }
            }
            if !self.cidrs.iter().any(|c| c.contains(&a.2)) {
                return Err(format!("{}/{} ({}) lies outside the pool", a.0, a.1, a.2));
            }
            if let Some(r) = self
                .reserved
                .iter()
                .find(|r| r.contains(&a.2.network()) || a.2.contains(&r.network()))
            {
                return Err(format!(
                    "{}/{} ({}) lies in the reserved {r}",
                    a.0, a.1, a.2
                ));
            }
        }
        // Only the step's own owner may have changed rows.
        let mine = match outcome {
            Outcome::Applied(o, _) | Outcome::Destroyed(o) => Some(o.as_str()),
            Outcome::Nothing => None,
        };
        let owners: std::collections::BTreeSet<&String> =
            rows.keys().chain(before.keys()).collect();
        let also = std::mem::take(&mut self.also_changed);
        for o in owners {
            if Some(o.as_str()) != mine && !also.contains(o) && rows.get(o) != before.get(o) {
                return Err(format!(
                    "owner {o}'s rows changed without an apply of its own: {:?} -> {:?}",
                    before.get(o),
                    rows.get(o)
                ));
            }
        }
        // An applied block never moves unless its own request changed.
        if let Outcome::Applied(o, requests) = outcome {
            for (name, (cidr, _)) in rows.get(o).into_iter().flatten() {
                let req = requests.get(name).copied().unwrap_or(Req::Remove);
                let key = (o.clone(), name.clone());
                if let Some((was, was_req)) = self.applied.get(&key) {
                    if *was_req == req && was != cidr {
                        return Err(format!("{o}/{name} moved from {was} to {cidr} with its request unchanged ({req:?})"));
                    }
                }
                self.applied.insert(key, (*cidr, req));
            }
        }
        if let Outcome::Destroyed(o) = outcome {
            self.applied.retain(|(owner, _), _| owner != o);
        }
        // No state holds a block the database gives to another owner.
        let claims = self.claims();
        for d in &self.dirs {
            let Some(claim) = d.state.get("claim").as_str() else {
                continue;
            };
            if claims.get(&d.owner).map(String::as_str) != Some(claim) {
                continue;
            }
            for (name, e) in d.state.get("allocations").entries().into_iter().flatten() {
                let Some(cidr) = e.get("cidr").as_str().map(net) else {
                    continue;
                };
                for (o, m) in &rows {
                    if *o == d.owner {
                        continue;
                    }
                    if let Some((n, (c, _))) = m.iter().find(|(_, (c, _))| {
                        c.contains(&cidr.network()) || cidr.contains(&c.network())
                    }) {
                        return Err(format!("the state of {} holds {name} = {cidr}, which the database gives to {o}/{n} ({c})", d.owner));
                    }
                }
            }
        }
        Ok(())
    }

    /// After the schedule: every state that holds its owner plans and applies, and its
    /// next plan changes nothing.
    pub(crate) fn converge(&mut self) -> Result<(), String> {
        let pool = self.pool.clone();
        let claims = self.claims();
        for i in 0..self.dirs.len() {
            let d = self.dirs[i].clone();
            let Some(claim) = d.state.get("claim").as_str() else {
                continue;
            };
            if claims.get(&d.owner).map(String::as_str) != Some(claim) {
                continue;
            }
            let config = config_value(&pool, &d.owner, &d.config);
            let prior = self
                .refresh(&d)
                .map_err(|e| format!("{} did not converge: refresh: {e:?}", d.owner))?;
            // A refusal the user must act on (a pin another owner holds, a full pool)
            // is no failure to converge; a fault is.
            let (state, private) = match self.apply(&prior, &d.private, &config, None) {
                Ok(r) => r,
                Err((diags, bug)) => {
                    self.failed(&diags, bug)
                        .map_err(|e| format!("{} did not converge: {e}", d.owner))?;
                    continue;
                }
            };
            let again = self
                .refresh(&Dir {
                    state: state.clone(),
                    private: private.clone(),
                    ..d.clone()
                })
                .map_err(|e| format!("{} did not converge: refresh: {e:?}", d.owner))?;
            let planned = self
                .plan(&again, &private, &config)
                .map_err(|e| format!("{} did not converge: {e:?}", d.owner))?;
            if planned != again {
                return Err(format!(
                    "{}: the plan after apply is not empty: {again:?} -> {planned:?}",
                    d.owner
                ));
            }
            self.dirs[i].state = again;
            self.dirs[i].private = private;
        }
        Ok(())
    }
}

/// Planned values Terraform accepts as the same: every known value equal.
pub(super) fn conforms(actual: &Value, planned: &Value) -> bool {
    match (actual, planned) {
        (_, Value::Unknown) => true,
        (Value::Object(a), Value::Object(p)) => {
            a.len() == p.len()
                && p.iter()
                    .all(|(k, v)| a.get(k).is_some_and(|x| conforms(x, v)))
        }
        (Value::Map(a), Value::Map(p)) => {
            a.len() == p.len()
                && p.iter()
                    .all(|(k, v)| a.get(k).is_some_and(|x| conforms(x, v)))
        }
        (a, p) => a == p,
    }
}
