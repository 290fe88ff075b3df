//! The arguments every pool has, whether its ledger lives in the state (`ipam_pool`)
//! or in PostgreSQL (`ipam_shared_pool` and its data source): their attributes (one
//! description each, so the docs of both say the same) and their reading from a
//! configuration or a state, with diagnostics at the exact attribute; and an
//! `ipam_pool` import ID written as JSON.

use std::collections::BTreeMap;
use std::time::Duration;

use ipnet::IpNet;

use super::common::{alloc_diag, prefix_of};
use super::hold;
use crate::alloc::{self, AllocError, Family, Pool, Rules, Strategy};
use crate::tfplugin::schema::{Attribute, Mode};
use crate::tfplugin::{AttrPath, Diagnostic, Type, Value};

/// The arguments both kinds of pool have, as configuration and state hold them.
pub const ARGUMENTS: &[&str] = &[
    "cidrs",
    "reserved",
    "min_prefix_length",
    "max_prefix_length",
    "default_prefix_length",
    "strategy",
];

/// The attributes of [`ARGUMENTS`]: configurable on a resource (`computed` false), or
/// all computed, as a data source reads them.
pub fn argument_attributes(computed: bool) -> Vec<Attribute> {
    let mode = |configured: Mode| if computed { Mode::Computed } else { configured };
    let num = |n: &str, d: &str| Attribute::new(n, Type::Number, mode(Mode::Optional), d);
    vec![
        Attribute::new(
            "cidrs",
            Type::list(Type::String),
            mode(Mode::Required),
            "The pool's address space: one or more CIDR blocks of one IP family (`0.0.0.0/0` and `::/0` included). Adding blocks updates in place and moves nothing; removing a block that holds allocations fails and names them.",
        ),
        Attribute::new(
            "reserved",
            Type::set(Type::String),
            mode(Mode::Optional),
            "Ranges inside the pool never handed out (gateways, on-premises, legacy): CIDR blocks or single addresses.",
        ),
        num("min_prefix_length", "Shortest prefix length (largest block) an allocation may ask for."),
        num("max_prefix_length", "Longest prefix length (smallest block) an allocation may ask for."),
        num("default_prefix_length", "Prefix length of an allocation that gives neither `prefix_length` nor `cidr`."),
        Attribute::new(
            "strategy",
            Type::String,
            mode(Mode::Optional),
            "Where new blocks go: `best_fit` (default; the tightest free block, lowest address first), `lowest` or `highest`.",
        ),
    ]
}

/// A pool's arguments, read and checked.
#[derive(Debug, Clone)]
pub struct PoolArgs {
    pub cidrs: Vec<IpNet>,
    pub reserved: Vec<IpNet>,
    pub rules: Rules,
    pub strategy: Strategy,
    /// `release_hold` (`ipam_pool` only), when set.
    pub hold: Option<Duration>,
}

impl PoolArgs {
    /// Reads the arguments of a configuration or state. `Ok(None)` while one is not yet
    /// known; every problem found is a diagnostic at its attribute, a block of the
    /// other IP family included.
    pub fn read(v: &Value) -> Result<Option<PoolArgs>, Vec<Diagnostic>> {
        let mut r = Reader::default();
        let args = PoolArgs {
            cidrs: r.cidrs(v.get("cidrs")),
            reserved: r.reserved(v.get("reserved")),
            rules: Rules {
                min_prefix_length: r.prefix(v, "min_prefix_length"),
                max_prefix_length: r.prefix(v, "max_prefix_length"),
                default_prefix_length: r.prefix(v, "default_prefix_length"),
            },
            strategy: r.strategy(v.get("strategy")),
            hold: r.hold(v.get("release_hold")),
        };
        if !r.diags.is_empty() {
            return Err(r.diags);
        }
        if r.unknown {
            return Ok(None);
        }
        args.check_families()?;
        Ok(Some(args))
    }

    /// The allocator's pool of these arguments.
    pub fn pool(&self) -> Result<Pool, Vec<Diagnostic>> {
        Pool::new(&self.cidrs, &self.reserved, self.rules, self.strategy)
            .map_err(|e| vec![alloc_diag(&e)])
    }

    /// One IP family: every CIDR and reserved range of the first CIDR's, each other one
    /// named at its attribute.
    fn check_families(&self) -> Result<(), Vec<Diagnostic>> {
        let Some(first) = self.cidrs.first() else {
            return Err(vec![alloc_diag(&AllocError::EmptyPool)]);
        };
        let family = Family::of(first);
        let other = |net: &IpNet| AllocError::MixedFamilies {
            family,
            other: *net,
            other_family: Family::of(net),
        };
        let cidrs = self
            .cidrs
            .iter()
            .enumerate()
            .map(|(i, c)| (c, AttrPath::attr("cidrs").index(i)));
        let reserved = self
            .reserved
            .iter()
            .map(|r| (r, AttrPath::attr("reserved")));
        let diags: Vec<Diagnostic> = cidrs
            .chain(reserved)
            .filter(|(net, _)| Family::of(net) != family)
            .map(|(net, path)| alloc_diag(&other(net)).at(path))
            .collect();
        if diags.is_empty() {
            Ok(())
        } else {
            Err(diags)
        }
    }
}

/// Reads one argument at a time, collecting diagnostics and whether any was unknown.
#[derive(Default)]
struct Reader {
    diags: Vec<Diagnostic>,
    unknown: bool,
}

impl Reader {
    fn cidrs(&mut self, v: &Value) -> Vec<IpNet> {
        let mut cidrs = Vec::new();
        match v {
            Value::Unknown => self.unknown = true,
            Value::Null => self.diags.push(
                Diagnostic::error(
                    "Missing cidrs",
                    "Give the pool at least one CIDR block in cidrs.",
                )
                .at(AttrPath::attr("cidrs")),
            ),
            list => {
                for (i, c) in list.elements().unwrap_or(&[]).iter().enumerate() {
                    let path = AttrPath::attr("cidrs").index(i);
                    match c {
                        Value::Unknown => self.unknown = true,
                        Value::String(s) => match alloc::parse_cidr(s) {
                            Ok(n) => cidrs.push(n),
                            Err(e) => self.diags.push(alloc_diag(&e).at(path)),
                        },
                        _ => self.diags.push(
                            Diagnostic::error("Invalid CIDR block", "A pool CIDR cannot be null.")
                                .at(path),
                        ),
                    }
                }
            }
        }
        cidrs
    }

    fn reserved(&mut self, v: &Value) -> Vec<IpNet> {
        let mut reserved = Vec::new();
        if v.is_unknown() {
            self.unknown = true;
        }
        let path = || AttrPath::attr("reserved");
        for r in v.elements().unwrap_or(&[]) {
            match r {
                Value::Unknown => self.unknown = true,
                Value::String(s) => match alloc::parse_range(s) {
                    Ok(n) => reserved.push(n),
                    Err(e) => self.diags.push(alloc_diag(&e).at(path())),
                },
                _ => self.diags.push(
                    Diagnostic::error("Invalid reserved range", "A reserved range cannot be null.")
                        .at(path()),
                ),
            }
        }
        reserved
    }

    fn prefix(&mut self, v: &Value, name: &str) -> Option<u8> {
        let val = v.get(name);
        self.unknown |= val.is_unknown();
        prefix_of(val, AttrPath::attr(name))
            .map_err(|d| self.diags.push(d))
            .ok()
            .flatten()
    }

    fn strategy(&mut self, v: &Value) -> Strategy {
        match v {
            Value::Unknown => {
                self.unknown = true;
                Strategy::default()
            }
            Value::String(s) => s.parse().unwrap_or_else(|e: alloc::UnknownStrategy| {
                self.diags.push(
                    Diagnostic::error("Invalid strategy", format!("strategy: {e}."))
                        .at(AttrPath::attr("strategy")),
                );
                Strategy::default()
            }),
            _ => Strategy::default(),
        }
    }

    fn hold(&mut self, v: &Value) -> Option<Duration> {
        match v {
            Value::Unknown => {
                self.unknown = true;
                None
            }
            Value::String(s) => hold::parse_duration(s)
                .map_err(|e| {
                    self.diags.push(
                        Diagnostic::error("Invalid release_hold", format!("release_hold: {e}."))
                            .at(AttrPath::attr("release_hold")),
                    )
                })
                .ok(),
            _ => None,
        }
    }
}

/// A JSON import ID: the pool's arguments as configuration writes them, and its
/// allocations, each a CIDR or `{"cidr": ..., "description": ...}`.
#[derive(serde::Deserialize)]
pub struct ImportId {
    #[serde(flatten)]
    pub arguments: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    pub allocations: BTreeMap<String, ImportedEntry>,
}

#[derive(serde::Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum ImportedEntry {
    Cidr(String),
    Described {
        cidr: String,
        description: Option<String>,
    },
}

impl ImportedEntry {
    pub fn cidr(&self) -> &str {
        match self {
            ImportedEntry::Cidr(c) | ImportedEntry::Described { cidr: c, .. } => c,
        }
    }
    pub fn description(&self) -> Option<&str> {
        match self {
            ImportedEntry::Cidr(_) => None,
            ImportedEntry::Described { description, .. } => description.as_deref(),
        }
    }
}
