//! States of the shared ledger under real Terraform: a working directory whose provider
//! reads the private cluster's database from `IPAM_DATABASE_URL`, and the ledger's rows
//! read back with psql.
use std::collections::BTreeMap;

use ipnet::IpNet;

use super::pg::{cluster, OWNER_PASSWORD};
use super::{cidrs, Workdir};

/// A working directory whose provider reads the database from `IPAM_DATABASE_URL`,
/// and whose runs fail if they print the database password. Everything else is the
/// [`Workdir`]'s.
pub struct Shared {
    pub w: Workdir,
    pub url: String,
}

impl std::ops::Deref for Shared {
    type Target = Workdir;
    fn deref(&self) -> &Workdir {
        &self.w
    }
}

impl Shared {
    pub fn new(db: &str, body: &str) -> Shared {
        Shared::at(cluster().url(db), body, OWNER_PASSWORD)
    }

    /// A working directory whose provider connects as `user`.
    pub fn as_role(db: &str, user: &str, password: &str, body: &str) -> Shared {
        Shared::at(cluster().url_as(db, user, password), body, password)
    }

    fn at(url: String, body: &str, password: &str) -> Shared {
        let w = Workdir::new(body)
            .with_env("IPAM_DATABASE_URL", &url)
            .with_secret(OWNER_PASSWORD)
            .with_secret(password);
        Shared { w, url }
    }

    /// Points the runs from now on at another database (or role).
    pub fn set_url(&mut self, url: String) {
        self.w.set_env("IPAM_DATABASE_URL", &url);
        self.url = url;
    }

    /// The CIDRs of a plan (not applied) of `address`, from `show -json` of the plan.
    pub fn planned_cidrs(&self, address: &str) -> BTreeMap<String, String> {
        cidrs(&super::planned(&self.plan_json(&[]), address))
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

/// One owner in the form users write, `requests` (the fault tests run through it).
pub fn owner_body(pool: &str, owner: &str, allocations: &str, ttl: Option<&str>) -> String {
    let provider = ttl
        .map(|t| format!("provider \"ipam\" {{\n  reservation_ttl = \"{t}\"\n}}\n"))
        .unwrap_or_default();
    format!(
        r#"{provider}
resource "ipam_shared_allocations" "mine" {{
  pool        = "{pool}"
  owner       = "{owner}"
  requests    = {{
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
        let b = Shared::at(self.url.clone(), body, OWNER_PASSWORD);
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
