//! Registry documentation generated from the schema descriptions, in the layout of
//! HashiCorp's providers (`docs/index.md`, `docs/resources/<name>.md`), with the
//! examples under `examples/` inlined. `scripts/gen-docs.sh` writes the files;
//! `tests/docs.rs` fails when they are stale.

use std::fmt::Write;
use std::path::Path;

use crate::tfplugin::schema::{Attribute, Kind, Mode};
use crate::tfplugin::{Schema, Type};

fn type_name(t: &Type) -> String {
    match t {
        Type::Bool => "Boolean".into(),
        Type::Number => "Number".into(),
        Type::String => "String".into(),
        Type::Dynamic => "Dynamic".into(),
        Type::List(e) => format!("List of {}", type_name(e)),
        Type::Set(e) => format!("Set of {}", type_name(e)),
        Type::Map(e) => format!("Map of {}", type_name(e)),
        Type::Object(_) => "Object".into(),
        Type::Tuple(_) => "Tuple".into(),
    }
}

fn anchor(prefix: &str, name: &str) -> String {
    format!("nestedatt--{prefix}{name}")
}

/// The Required / Optional / Read-Only lists of a set of attributes, then the nested
/// schemas they refer to.
fn attribute_sections(out: &mut String, attrs: &[Attribute], prefix: &str) {
    let mut nested: Vec<(&Attribute, &Vec<Attribute>)> = Vec::new();
    for (title, modes) in [
        ("Required", &[Mode::Required][..]),
        ("Optional", &[Mode::Optional, Mode::OptionalComputed][..]),
        ("Read-Only", &[Mode::Computed][..]),
    ] {
        let mut these: Vec<&Attribute> = attrs.iter().filter(|a| modes.contains(&a.mode)).collect();
        if these.is_empty() {
            continue;
        }
        these.sort_by(|a, b| a.name.cmp(&b.name));
        let _ = writeln!(out, "\n### {title}\n");
        for a in these {
            let (ty, link) = match &a.kind {
                Kind::Plain(t @ Type::Object(_)) => {
                    let fields = match t {
                        Type::Object(m) => m
                            .keys()
                            .map(|k| format!("`{k}`"))
                            .collect::<Vec<_>>()
                            .join(", "),
                        _ => String::new(),
                    };
                    (format!("Object with {fields}"), String::new())
                }
                Kind::Plain(t) => (type_name(t), String::new()),
                Kind::NestedMap(inner) => {
                    nested.push((a, inner));
                    (
                        "Attributes Map".into(),
                        format!(
                            " (see [below for nested schema](#{}))",
                            anchor(prefix, &a.name)
                        ),
                    )
                }
                Kind::DynamicMap(inner) => {
                    nested.push((a, inner));
                    (
                        "Dynamic: Map".into(),
                        format!(
                            " (see [below for the members of the object form](#{}))",
                            anchor(prefix, &a.name)
                        ),
                    )
                }
                Kind::NestedSingle(inner) => {
                    nested.push((a, inner));
                    (
                        "Attributes".into(),
                        format!(
                            " (see [below for nested schema](#{}))",
                            anchor(prefix, &a.name)
                        ),
                    )
                }
            };
            let ty = if a.sensitive {
                format!("{ty}, Sensitive")
            } else {
                ty
            };
            let _ = writeln!(out, "- `{}` ({ty}) {}{link}", a.name, a.description);
        }
    }
    for (a, inner) in nested {
        let _ = writeln!(
            out,
            "\n<a id=\"{}\"></a>\n### Nested Schema for `{}{}`",
            anchor(prefix, &a.name),
            prefix.replace("--", "."),
            a.name
        );
        attribute_sections(out, inner, &format!("{prefix}{}--", a.name));
    }
}

fn read(root: &Path, rel: &str) -> Option<String> {
    std::fs::read_to_string(root.join(rel))
        .ok()
        .map(|s| s.trim_end().to_string())
}

/// The page of one resource type.
pub fn resource_page(root: &Path, type_name: &str, schema: &Schema) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "---\npage_title: \"{type_name} Resource - terraform-provider-ipam\"\nsubcategory: \"\"\ndescription: |-\n  {}\n---\n\n# {type_name} (Resource)\n\n{}",
        schema.description, schema.description
    );
    if let Some(example) = read(root, &format!("examples/resources/{type_name}/resource.tf")) {
        let _ = writeln!(out, "\n## Example Usage\n\n```terraform\n{example}\n```");
    }
    let _ = writeln!(out, "\n<!-- schema generated from the provider's schema descriptions by scripts/gen-docs.sh -->\n## Schema");
    attribute_sections(&mut out, &schema.attributes, "");
    if let Some(import) = read(root, &format!("examples/resources/{type_name}/import.sh")) {
        let _ = writeln!(out, "\n## Import\n\nImport is supported using the following syntax:\n\n```shell\n{import}\n```");
    }
    out
}

const INDEX_BODY: &str = r#"IP address planning with no IPAM server. Pools of address space and the allocations
carved from them are placed by a deterministic allocator when you run `terraform plan`,
and the ledger lives in the Terraform state: every CIDR is known at plan, no two
allocations overlap, and an allocation keeps its block while its own request is unchanged.

- [`ipam_pool`](resources/pool.md) owns the ledger: every allocation of a pool is asked
  for in its `requests`, keyed by a stable name, so the pool's plan places them all at
  once; `allocations` holds each one's block, known at plan.
- [`ipam_allocation`](resources/allocation.md) is a module's handle on one allocation
  (`entry = ipam_pool.x.allocations["name"]`): its CIDR, the usable range a cloud leaves,
  and a guard that fails the plan if the allocation moves.

For teams that outgrow one state, the **shared ledger** keeps a pool in PostgreSQL
(`database_url`): the network team's state holds an
[`ipam_shared_pool`](resources/shared_pool.md), and any number of other states allocate
from it with [`ipam_shared_allocations`](resources/shared_allocations.md), with no pull
request to the network team, no duplicate CIDR, and CIDRs still known at plan. The data
source [`ipam_shared_pool`](data-sources/shared_pool.md) reads every owner's blocks. See
the [shared ledger guide](guides/shared-ledger.md).

To see a plan before you apply it, `terraform-provider-ipam report` draws every pool of
`terraform show -json` (a state or a saved plan) as an HTML page, an SVG or a Markdown
pull-request comment: see the [report guide](guides/report.md). To adopt the ranges your
states already hold, `terraform-provider-ipam discover` finds them in `terraform show
-json` and writes the pools that pin them: see the [adoption guide](guides/adopt.md).

Placement: new and changed requests go largest first, then by name, into the tightest
free block (`strategy = "best_fit"`), or the lowest (`lowest`) or highest (`highest`) one.
The same configuration and state give the same CIDRs on any machine, at any `-parallelism`.

## The ledger over time

- **No perpetual diff.** After any edit and an apply, the next plan is empty. Every
  computed value survives Terraform's state round trip exactly: counts are strings,
  and `utilization` is a decimal rounded to 6 places, which Terraform stores as written.
- **Growing without renumbering.** Growing an allocation's `prefix_length` keeps its
  start when the larger aligned block there is free (the only growth GCP's
  `expandIpCidrRange` accepts: a superset of the old range), and a handle's guard lets
  that pass. `grow_to` makes it certain: the allocation starts a free block of that size
  and the rest (`growth_cidr`) is held for it alone.
- **Release holds.** With `release_hold = "720h"`, a removed allocation's block moves to
  `released` and nobody else gets it until `hold_until`; re-adding the name gets it back.
  Use it while routes, firewall rules and peerings may still name a freed range. The
  stamps are set at apply and holds expire at the first refresh after `hold_until`
  (never in a plan; with `-refresh=false` nothing expires).
- **Capacity.** `held_addresses` counts growth room and held blocks, which are neither
  allocated nor free; `capacity` says how many more blocks of each size fit.
- The whole address space (`0.0.0.0/0`, `::/0`) is a valid pool. A request larger than
  every block of `cidrs` fails at `terraform validate`.

## Large pools

Write a pool's allocations in `requests`, and for a large pool in the short form: one
prefix length (`vm-1 = 32`) or CIDR to pin (`vm-2 = "10.0.0.7/32"`) per name, keeping
the object form for the entries that need a `description` or `grow_to`. Terraform takes
`requests` as written (it is a dynamic value), so its own work grows with the pool about
as it does for a `terraform_data` holding the same objects; the short form also keeps
the value, and the state that holds it, less than half the size. Setting `allocations`
itself, the form of earlier releases, still works, but Terraform converts that literal
to the nested attribute's type in time that grows with the square of the entries.

Wall seconds for one `ipam_pool` of N `/32` entries (Terraform 1.11.4, 2 cores, one run
of `scripts/bench-terraform.sh same-shape`), against one `terraform_data` whose `input`
holds N objects of the 10 attributes an allocation holds:

| entries | `requests`, short: apply / plan again | `requests` of objects | `allocations` set | `terraform_data` |
|---|---|---|---|---|
| 1,000 | 0.8 / 0.9 | 1.0 / 1.1 | 1.4 / 1.1 | 1.3 / 2.0 |
| 5,000 | 3.7 / 4.5 | 4.8 / 5.5 | 13.5 / 9.0 | 6.4 / 10.8 |
| 20,000 | 14.5 / 18.3 | 20.0 / 23.1 | 156.6 / 85.5 | 26.2 / 46.1 |

With Terraform 1.15.5, 20,000 entries take 11.8 / 14.6 s in the short form (objects:
15.8 / 17.0 s; `terraform_data`: 20.9 / 33.7 s; `allocations` set: 155.9 / 81.6 s).
Runs on the same machine vary by up to a quarter.

A thousand `ipam_allocation` handles on one pool of a thousand entries take 16 s to
plan, 58 s to apply and 18 s to plan again in the short form, with Terraform 1.11.4
(`terraform_data` for the same objects: 14 / 102 / 16 s; 9 / 50 / 11 s and 7 / 94 / 17 s
with 1.15.5). That cost is Terraform's, for any resource of that shape. With 1.15.5,
`requests` of objects makes the apply of the handles about a fifth slower than the
short form, as Terraform writes the whole state, `requests` included, after each handle.
The provider's own work is small beside it: placing 100,000 blocks takes about 30 ms.

## Known limits that Terraform imposes

- Duplicate allocation keys are resolved by Terraform before the provider sees them:
  `merge()` keeps the last one silently, a `for` expression fails with "Duplicate object
  key". Prefer literal maps or `for` expressions when collecting requests from modules.
- A `for` over a `for_each` module's own outputs depends on the whole module, so a
  module cannot both declare its request as an output and receive its block from the
  same pool. Compute the requests in the root from the variables the module gets (the
  sizing functions make that one line, as the GKE example does with
  `gke_prefix_lengths`) and pass each instance its block: one `for_each` module call
  for any number of clusters, no cycle.
- `terraform plan -target=ipam_pool.x` does not plan the handles, so their move guard
  cannot fire; the next full plan reports the move.
- A plan-time error (a move guard, an exhausted pool) also stops `terraform destroy`,
  which plans first: `terraform destroy -refresh=false` or `allow_move = true` gets past it.
- Replacing a pool starts a new ledger: pin the CIDRs that must survive a replacement.
- Best fit places a new block in the tightest free block, so with a reservation at the
  top of a pool, fresh allocations pack downward from it and the large block at the
  bottom stays whole. `strategy = "lowest"` fills from the start instead.
- Terraform before 1.15 shows errors about one allocation's `prefix_length` or `cidr` at
  the resource block rather than at the allocation's line.
- Shared ledger: a saved plan applied after its reservations expired (`reservation_ttl`)
  and another state took its blocks meets Terraform's "Provider produced inconsistent
  final plan ... This is a bug in the provider". It is not a bug: the plan Terraform makes
  again in the apply cannot give the blocks the saved plan showed. Plan again, or raise
  `reservation_ttl`.
- Shared ledger: in the configuration that creates an `ipam_shared_pool`, its owners must
  write `pool = ipam_shared_pool.<name>.id`; their CIDRs are then unknown in that first
  plan and placed in the apply (the one exception to known-at-plan).
"#;

/// `docs/index.md`.
pub fn index_page(root: &Path) -> String {
    let mut out = String::from(
        "---\npage_title: \"ipam Provider\"\nsubcategory: \"\"\ndescription: |-\n  IP address planning with no IPAM server: pools, allocations and a deterministic allocator.\n---\n\n# ipam Provider\n\n",
    );
    out.push_str(INDEX_BODY);
    let _ = writeln!(
        out,
        "\n## Functions\n\nWith Terraform 1.8 or later, `provider::ipam::NAME(...)` computes with CIDRs and sizes GKE and EKS ranges, with the same code the allocator uses. Terraform 1.6 and 1.7 run every resource; they only lack the functions.\n"
    );
    for f in super::functions::all() {
        let _ = writeln!(
            out,
            "- [`{name}`](functions/{name}.md): {}",
            f.summary,
            name = f.name
        );
    }
    if let Some(example) = read(root, "examples/provider/provider.tf") {
        let _ = writeln!(out, "\n## Example Usage\n\n```terraform\n{example}\n```");
    }
    let _ = writeln!(out, "\n## Schema");
    attribute_sections(
        &mut out,
        &crate::tfplugin::ProviderConfig::schema(&super::config::IpamProvider).attributes,
        "",
    );
    out
}

/// The page of one data source type.
pub fn data_source_page(root: &Path, type_name: &str, schema: &Schema) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "---\npage_title: \"{type_name} Data Source - terraform-provider-ipam\"\nsubcategory: \"\"\ndescription: |-\n  {}\n---\n\n# {type_name} (Data Source)\n\n{}",
        schema.description, schema.description
    );
    if let Some(example) = read(
        root,
        &format!("examples/data-sources/{type_name}/data-source.tf"),
    ) {
        let _ = writeln!(out, "\n## Example Usage\n\n```terraform\n{example}\n```");
    }
    let _ = writeln!(out, "\n<!-- schema generated from the provider's schema descriptions by scripts/gen-docs.sh -->\n## Schema");
    attribute_sections(&mut out, &schema.attributes, "");
    out
}

/// A guide made of an example directory's files, which end with the
/// `google_compute_subnetwork` / `aws_subnet` resources the outputs feed.
fn guide_page(root: &Path, title: &str, intro: &str, files: &[&str]) -> String {
    let mut out = format!(
        "---\npage_title: \"{title}\"\nsubcategory: \"Guides\"\n---\n\n# {title}\n\n{intro}\n"
    );
    for f in files {
        if let Some(text) = read(root, f) {
            let _ = writeln!(out, "\n## `{f}`\n\n```terraform\n{text}\n```");
        }
    }
    out
}

/// A type as Terraform's type constraint syntax writes it (`list(string)`).
fn type_hcl(t: &Type) -> String {
    match t {
        Type::Bool => "bool".into(),
        Type::Number => "number".into(),
        Type::String => "string".into(),
        Type::Dynamic => "any".into(),
        Type::List(e) => format!("list({})", type_hcl(e)),
        Type::Set(e) => format!("set({})", type_hcl(e)),
        Type::Map(e) => format!("map({})", type_hcl(e)),
        Type::Object(m) => format!(
            "object({{{}}})",
            m.iter()
                .map(|(k, t)| format!("{k} = {}", type_hcl(t)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Type::Tuple(ts) => format!(
            "tuple([{}])",
            ts.iter().map(type_hcl).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// A JSON value as Terraform writes it in HCL (`{ nodes = 21 }`, `["a", "b"]`).
fn hcl_value(v: &serde_json::Value) -> String {
    use serde_json::Value as J;
    match v {
        J::Null => "null".into(),
        J::Bool(b) => b.to_string(),
        J::Number(n) => n.to_string(),
        J::String(s) => format!("{s:?}"),
        J::Array(a) => format!(
            "[{}]",
            a.iter().map(hcl_value).collect::<Vec<_>>().join(", ")
        ),
        J::Object(m) => format!(
            "{{ {} }}",
            m.iter()
                .map(|(k, v)| format!("{k} = {}", hcl_value(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The page of one provider function, in the layout of HashiCorp's function docs.
pub fn function_page(root: &Path, d: &super::functions::Def) -> String {
    let sig = crate::tfplugin::Function::signature(d);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "---\npage_title: \"{name} function - terraform-provider-ipam\"\nsubcategory: \"\"\ndescription: |-\n  {summary}\n---\n\n# function: {name}\n\n{description}\n\nCall it as `provider::ipam::{name}(...)`; provider functions need Terraform 1.8 or later.",
        name = d.name,
        summary = sig.summary,
        description = sig.description
    );
    if let Some(example) = read(root, &format!("examples/functions/{}/function.tf", d.name)) {
        let _ = writeln!(out, "\n## Example Usage\n\n```terraform\n{example}\n```");
    }
    let params: Vec<String> = sig
        .parameters
        .iter()
        .map(|p| format!("{} {}", p.name, type_hcl(&p.ty)))
        .collect();
    let _ = writeln!(
        out,
        "\n<!-- generated from the function's definition by scripts/gen-docs.sh -->\n## Signature\n\n```text\n{}({}) {}\n```\n\n## Arguments\n",
        d.name,
        params.join(", "),
        type_hcl(&sig.returns)
    );
    for (i, p) in sig.parameters.iter().enumerate() {
        let _ = writeln!(
            out,
            "{}. `{}` ({}) {}",
            i + 1,
            p.name,
            type_name(&p.ty),
            p.description
        );
    }
    let _ = writeln!(
        out,
        "\nA null argument is an error; an unknown one (known after apply) makes the result unknown.\n\n## Results\n\nEach of these is checked against real Terraform by the test suite.\n\n| Call | Result |\n|---|---|"
    );
    for (args, result) in d.examples {
        let shown = serde_json::from_str(result)
            .map(|v| hcl_value(&v))
            .unwrap_or_else(|_| result.to_string());
        let _ = writeln!(
            out,
            "| `provider::ipam::{}({})` | `{}` |",
            d.name,
            args.replace('|', "\\|"),
            shown.replace('|', "\\|")
        );
    }
    let _ = writeln!(
        out,
        "\n## Errors\n\nA bad argument fails the plan with Terraform's \"Invalid function argument\" and `Invalid value for \"<parameter>\" parameter: <text>.`, for example:\n\n| Call | Parameter | Text |\n|---|---|---|"
    );
    for (args, param, text) in d.errors {
        let _ = writeln!(
            out,
            "| `provider::ipam::{}({})` | `{param}` | {} |",
            d.name,
            args.replace('|', "\\|"),
            text.replace('|', "\\|")
        );
    }
    out
}

/// Every generated page: (path relative to the repository root, content).
pub fn render(root: &Path) -> Vec<(String, String)> {
    let mut pages = vec![("docs/index.md".to_string(), index_page(root))];
    pages.push((
        "docs/guides/gke.md".into(),
        guide_page(
            root,
            "GKE: VPC-native clusters from a corporate pool",
            "A node subnet plus secondary ranges for Pods and Services per region, carved from a corp /8 through a module that declares its request and receives its block. Runs as is: `scripts/run-example.sh gke`. The `subnetworks` output is what `google_compute_subnetwork` takes (see the end of `main.tf`).",
            &["examples/gke/main.tf", "examples/gke/modules/gke-cluster/main.tf", "examples/gke/gke.tftest.hcl"],
        ),
    ));
    pages.push((
        "docs/guides/eks.md".into(),
        guide_page(
            root,
            "EKS: VPCs, subnets per zone and VPC CNI prefix delegation",
            "A VPC per environment from a regional pool, a private and a public subnet per availability zone, and a /28-aligned block in each private subnet for VPC CNI prefix delegation. Runs as is: `scripts/run-example.sh eks`. The outputs are what `aws_vpc`, `aws_subnet` and `aws_ec2_subnet_cidr_reservation` take (see the end of `main.tf`).",
            &["examples/eks/main.tf", "examples/eks/eks.tftest.hcl"],
        ),
    ));
    pages.push((
        "docs/guides/gke-auto-ipam.md".into(),
        guide_page(
            root,
            "GKE Auto IPAM, planned ahead: Pod ranges that grow with the cluster",
            "A cluster starts with one /20 of Pods; as `max_nodes` grows it gets more /20s from the shared pool, wherever there is room, and nothing handed out moves (as GKE Auto IPAM adds secondary ranges). `gke_pod_prefix_per_node` sizes each node's block, so the number of ranges is arithmetic. Try `terraform apply`, then `terraform apply -var max_nodes=40`.",
            &["examples/gke-auto-ipam/main.tf"],
        ),
    ));
    for r in super::resources() {
        let short = r.type_name().trim_start_matches("ipam_");
        pages.push((
            format!("docs/resources/{short}.md"),
            resource_page(root, r.type_name(), &r.schema()),
        ));
    }
    for d in super::data_sources() {
        let short = d.type_name().trim_start_matches("ipam_");
        pages.push((
            format!("docs/data-sources/{short}.md"),
            data_source_page(root, d.type_name(), &d.schema()),
        ));
    }
    for f in super::functions::all() {
        pages.push((
            format!("docs/functions/{}.md", f.name),
            function_page(root, f),
        ));
    }
    pages
}
