//! `terraform-provider-ipam discover [--pool-cidr CIDR]... [--format hcl|markdown|json]
//! FILE...`: the address ranges a team already has, found in `terraform show -json` of
//! its states with no cloud credentials, checked for conflicts, and written out as the
//! configuration that adopts them into `ipam_pool`s as they are.
//!
//! It stands beside the provider, like the report: it reads Terraform's JSON with
//! `serde_json`, uses the allocator's CIDR code, and knows nothing of the protocol.
//!
//! - `sources.rs`: the table of resource types and the attributes that hold ranges.
//! - `tree.rs`: ranges nested by containment into pools, and the conflicts.
//! - `output.rs`: HCL, Markdown and JSON.

mod output;
pub mod sources;
pub mod tree;

use std::io::Read;

use ipnet::IpNet;
use serde_json::Value as Json;

use crate::alloc;
use crate::cli::{Flags, Item};
use sources::Attr;

/// The exit status when the ranges conflict.
pub const EXIT_CONFLICT: i32 = 3;

/// One address range as a state holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    pub cidr: IpNet,
    /// The file (one state) it came from.
    pub state: String,
    /// The resource address, with module path and instance key.
    pub address: String,
    /// Where in the resource: `cidr_block`, `secondary_ip_range[0].ip_cidr_range`.
    pub attribute: String,
    /// Held by this provider already (an `ipam_pool` or `ipam_shared_allocations` entry).
    pub managed: bool,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Hcl,
    Markdown,
    Json,
}

#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Input(String),
}

/// The ranges of one `terraform show -json` document of a state, labelled `state`.
///
/// ```
/// use ipam::discover::read_state;
/// let doc = r#"{"format_version":"1.0","values":{"root_module":{"resources":[
///   {"address":"aws_vpc.main","mode":"managed","type":"aws_vpc","values":{"cidr_block":"10.0.0.0/16"}}]}}}"#;
/// let ranges = read_state("net.json", doc).unwrap();
/// assert_eq!(ranges[0].cidr.to_string(), "10.0.0.0/16");
/// // A saved plan is not a state.
/// let plan = r#"{"format_version":"1.2","planned_values":{},"resource_changes":[]}"#;
/// assert!(read_state("plan.json", plan).unwrap_err().to_string().contains("plan"));
/// ```
pub fn read_state(state: &str, text: &str) -> Result<Vec<Range>, DiscoverError> {
    let input = |what: String| DiscoverError::Input(format!("{state}: {what}"));
    let doc: Json = serde_json::from_str(text).map_err(|e| {
        input(format!(
            "not JSON ({e}); give the output of terraform show -json"
        ))
    })?;
    let Some(obj) = doc.as_object() else {
        return Err(input("not the JSON of terraform show -json".into()));
    };
    if obj.contains_key("resource_changes") || obj.contains_key("planned_values") {
        return Err(input(
            "this is a saved plan's JSON; discover reads states: terraform show -json, with no plan file".into(),
        ));
    }
    if !obj.contains_key("format_version") {
        return Err(input(
            "not the JSON of terraform show -json (no format_version)".into(),
        ));
    }
    let mut ranges = Vec::new();
    if let Some(root) = doc.get("values").and_then(|v| v.get("root_module")) {
        read_module(state, root, &mut ranges)?;
    }
    Ok(ranges)
}

fn read_module(state: &str, m: &Json, out: &mut Vec<Range>) -> Result<(), DiscoverError> {
    for r in m
        .get("resources")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
    {
        let field = |k: &str| r.get(k).and_then(Json::as_str).unwrap_or_default();
        if field("mode") != "managed" {
            continue;
        }
        let Some((attrs, managed)) = sources::attrs_of(field("type")) else {
            continue;
        };
        let address = field("address").to_string();
        let values = r.get("values").unwrap_or(&Json::Null);
        for attr in attrs {
            for (attribute, text) in found(values, attr) {
                let cidr = alloc::parse_cidr(&text).map_err(|e| {
                    DiscoverError::Input(format!("{state}: {address} {attribute}: {e}"))
                })?;
                out.push(Range {
                    cidr,
                    state: state.to_string(),
                    address: address.clone(),
                    attribute,
                    managed,
                });
            }
        }
    }
    for child in m
        .get("child_modules")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
    {
        read_module(state, child, out)?;
    }
    Ok(())
}

/// The CIDR texts an attribute holds, with where.
fn found(values: &Json, attr: &Attr) -> Vec<(String, String)> {
    match attr {
        Attr::Cidr(path) => sources::values_at(values, path),
        Attr::AddressWithPrefix { address, prefix } => {
            let len = values
                .get(*prefix)
                .and_then(Json::as_u64)
                .filter(|l| *l > 0);
            let peering = values.get("purpose").and_then(Json::as_str) == Some("VPC_PEERING");
            match (values.get(*address).and_then(Json::as_str), len) {
                (Some(a), Some(l)) if !a.is_empty() => {
                    vec![(format!("{address}/{prefix}"), format!("{a}/{l}"))]
                }
                (Some(a), None) if peering && !a.is_empty() => {
                    vec![(address.to_string(), a.to_string())]
                }
                _ => vec![],
            }
        }
    }
}

const USAGE: &str = "usage: terraform-provider-ipam discover [--pool-cidr CIDR]... [--format hcl|markdown|json] FILE...
  FILE: the output of terraform show -json for one state (- for stdin).
  Exit status: 0 when no ranges conflict, 3 when some do, 1 on bad input, 2 on bad flags.";

struct Args {
    format: Format,
    pool_cidrs: Vec<IpNet>,
    files: Vec<String>,
}

fn parse_args(args: &[String]) -> Result<Args, DiscoverError> {
    let usage = |what: String| DiscoverError::Usage(format!("{what}\n{USAGE}"));
    let mut parsed = Args {
        format: Format::Hcl,
        pool_cidrs: Vec::new(),
        files: Vec::new(),
    };
    let mut flags = Flags::new(args);
    while let Some(item) = flags.next() {
        let (flag, inline) = match item {
            Item::Positional(file) => {
                parsed.files.push(file);
                continue;
            }
            Item::Flag { name, inline } => (name, inline),
        };
        match flag.as_str() {
            "--format" | "-f" => {
                parsed.format = match flags.value(&flag, inline).map_err(usage)?.as_str() {
                    "hcl" => Format::Hcl,
                    "markdown" | "md" => Format::Markdown,
                    "json" => Format::Json,
                    other => {
                        return Err(usage(format!(
                            "unknown format {other:?}: use hcl, markdown or json"
                        )))
                    }
                }
            }
            "--pool-cidr" => {
                let v = flags.value(&flag, inline).map_err(usage)?;
                let net = alloc::parse_cidr(&v).map_err(|e| usage(format!("--pool-cidr: {e}")))?;
                parsed.pool_cidrs.push(net);
            }
            "-h" | "--help" => return Err(DiscoverError::Usage(USAGE.into())),
            other => return Err(usage(format!("unknown flag {other:?}"))),
        }
    }
    if parsed.files.is_empty() {
        return Err(usage("give at least one FILE".into()));
    }
    Ok(parsed)
}

/// The `discover` subcommand: writes the result to stdout; returns the exit status.
pub fn cli(args: &[String]) -> i32 {
    let run = || -> Result<(String, bool), DiscoverError> {
        let args = parse_args(args)?;
        let mut ranges = Vec::new();
        for file in &args.files {
            let mut text = String::new();
            let read = if file == "-" {
                std::io::stdin().read_to_string(&mut text).map(|_| ())
            } else {
                std::fs::read_to_string(file).map(|t| text = t)
            };
            read.map_err(|e| DiscoverError::Input(format!("cannot read {file}: {e}")))?;
            let label = if file == "-" { "stdin" } else { file.as_str() };
            ranges.extend(read_state(label, &text)?);
        }
        let plan = tree::plan(ranges, &args.pool_cidrs).map_err(DiscoverError::Usage)?;
        let text = match args.format {
            Format::Hcl => output::hcl(&plan),
            Format::Markdown => output::markdown(&plan),
            Format::Json => output::json(&plan),
        };
        Ok((text, !plan.conflicts.is_empty()))
    };
    match run() {
        Ok((text, conflicts)) => {
            use std::io::Write;
            let mut stdout = std::io::stdout().lock();
            if stdout
                .write_all(text.as_bytes())
                .and_then(|_| stdout.flush())
                .is_err()
            {
                return 1;
            }
            if conflicts {
                EXIT_CONFLICT
            } else {
                0
            }
        }
        Err(DiscoverError::Usage(u)) => {
            eprintln!("{u}");
            2
        }
        Err(e) => {
            eprintln!("terraform-provider-ipam discover: {e}");
            1
        }
    }
}
