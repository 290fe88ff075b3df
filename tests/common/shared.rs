//! States of the shared ledger under real Terraform: a working directory whose provider
//! reads the private cluster's database from `IPAM_DATABASE_URL`, and the ledger's rows
//! read back with psql.
use std::collections::BTreeMap;

use ipnet::IpNet;
use serde_json::Value as Json;

use super::pg::{cluster, OWNER_PASSWORD};
use super::{cidrs, Workdir};

/// A working directory whose provider reads the database from `IPAM_DATABASE_URL`.
pub struct Shared {
    pub w: Workdir,
    pub url: String,
}

impl Shared {
    pub fn new(db: &str, body: &str) -> Shared {
        let url = cluster().url(db);
        let w = Workdir::new(body);
        Shared { w, url }
    }

    pub fn config(&self, body: &str) {
        self.w.config(body);
    }

    pub fn tf(&self, args: &[&str]) -> super::Out {
        let out = self.w.tf_env(args, &[("IPAM_DATABASE_URL", &self.url)]);
        assert!(
            !out.stdout.contains(OWNER_PASSWORD) && !out.stderr.contains(OWNER_PASSWORD),
            "the password leaked:\n{}\n{}",
            out.stdout,
            out.stderr
        );
        out
    }

    pub fn apply(&self) -> super::Out {
        self.tf(&["apply", "-no-color", "-input=false", "-auto-approve"])
            .ok()
    }

    #[track_caller]
    pub fn assert_no_changes(&self) {
        let out = self.tf(&["plan", "-no-color", "-input=false", "-detailed-exitcode"]);
        assert_eq!(
            out.code, 0,
            "expected no changes:\n{}\n{}",
            out.stdout, out.stderr
        );
    }

    pub fn resource(&self, address: &str) -> Json {
        let state = self.tf(&["show", "-json"]).ok().json();
        super::find_resource(&state["values"]["root_module"], address)
            .unwrap_or_else(|| panic!("{address} not in state"))
    }

    /// The CIDRs of a plan (not applied) of `address`, from `show -json` of the plan.
    pub fn planned_cidrs(&self, address: &str) -> BTreeMap<String, String> {
        self.tf(&["plan", "-no-color", "-input=false", "-out=p.tfplan"])
            .ok();
        let plan = self.tf(&["show", "-json", "p.tfplan"]).ok().json();
        cidrs(&super::planned(&plan, address))
    }
}

pub fn pool_body(name: &str, cidr: &str) -> String {
    format!(
        r#"
resource "ipam_shared_pool" "p" {{
  name  = "{name}"
  cidrs = ["{cidr}"]
}}
"#
    )
}

pub fn owner_body(pool: &str, owner: &str, allocations: &str, ttl: Option<&str>) -> String {
    let provider = ttl
        .map(|t| format!("provider \"ipam\" {{\n  reservation_ttl = \"{t}\"\n}}\n"))
        .unwrap_or_default();
    format!(
        r#"{provider}
resource "ipam_shared_allocations" "mine" {{
  pool        = "{pool}"
  owner       = "{owner}"
  allocations = {{
{allocations}
  }}
}}
"#
    )
}

/// The rows of the ledger as (owner, name, cidr), from psql.
pub fn rows(db: &str, filter: &str) -> Vec<(String, String, IpNet)> {
    let out = cluster().psql(
        db,
        &format!("SELECT owner || ' ' || name || ' ' || cidr::text FROM ipam.blocks WHERE {filter} ORDER BY 1"),
    );
    out.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let p: Vec<&str> = l.split(' ').collect();
            (p[0].to_string(), p[1].to_string(), p[2].parse().unwrap())
        })
        .collect()
}

/// Independent oracle: no two blocks of different owners share an address.
pub fn assert_disjoint(blocks: &[(String, String, IpNet)]) {
    for (i, a) in blocks.iter().enumerate() {
        for b in &blocks[i + 1..] {
            let overlap = a.2.contains(&b.2.network()) || b.2.contains(&a.2.network());
            assert!(!overlap, "{a:?} overlaps {b:?}");
        }
    }
}

impl Shared {
    /// Another checkout of the same state (a pull request's branch in CI): a new
    /// directory with a copy of this one's state file and its own configuration.
    pub fn branch(&self, body: &str) -> Shared {
        let b = Shared {
            w: Workdir::new(body),
            url: self.url.clone(),
        };
        let state = self.w.read("terraform.tfstate");
        b.w.write("terraform.tfstate", &String::from_utf8(state).unwrap());
        b
    }

    /// A plan that must fail; its stderr with whitespace collapsed.
    #[track_caller]
    pub fn plan_fails(&self) -> String {
        let out = self.tf(&["plan", "-no-color", "-input=false"]);
        assert_ne!(out.code, 0, "the plan succeeded:\n{}", out.stdout);
        flat(&out.stderr)
    }

    /// The owner's CIDRs as the state holds them.
    pub fn state_cidrs(&self, address: &str) -> BTreeMap<String, String> {
        cidrs(&self.resource(address))
    }
}

/// Text with its whitespace collapsed (Terraform wraps diagnostics).
pub fn flat(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
