//! The plan written out: HCL that adopts every range as it is, Markdown for a pull
//! request or an audit, and JSON for tools.

use std::fmt::Write;

use super::tree::{Fate, Found, Plan};

/// A string as an HCL literal: quotes and backslashes escaped, and no template.
fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            _ => out.push(c),
        }
    }
    // `${` and `%{` start templates; doubling the sign makes them literal.
    out.replace("${", "$${").replace("%{", "%%{") + "\""
}

/// Every place a state holds the range: `aws_vpc.main cidr_block in aws.json`.
fn where_(f: &Found) -> String {
    let places: Vec<String> = f.places.iter().map(|(a, t)| format!("{a} {t}")).collect();
    format!("{} in {}", places.join(", "), f.state)
}

/// Configuration for this provider that adopts every range, each pinned at its CIDR.
pub fn hcl(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Written by terraform-provider-ipam discover from {}.\n# Every range is pinned at the CIDR it has: the first apply records them, and the\n# plan after it is empty.",
        plan.states.join(", ")
    );
    for p in &plan.pools {
        let _ = writeln!(out);
        if let Some(f) = p.found {
            let _ = writeln!(out, "# {}", where_(&plan.found[f]));
        }
        let _ = writeln!(out, "resource \"ipam_pool\" \"{}\" {{", p.label);
        let cidrs = match &p.parent {
            Some((parent, entry)) => format!(
                "[ipam_pool.{}.allocations[{}].cidr]",
                plan.pools[*parent].label,
                quote(entry)
            ),
            None => format!("[{}]", quote(&p.cidr.to_string())),
        };
        let _ = writeln!(out, "  cidrs = {cidrs}");
        if p.entries.is_empty() {
            let _ = writeln!(out, "  requests = {{}}");
        } else {
            let _ = writeln!(out, "  requests = {{");
            for (name, &f) in &p.entries {
                let found = &plan.found[f];
                let _ = writeln!(
                    out,
                    "    {} = {{ cidr = {}, description = {} }}",
                    quote(name),
                    quote(&found.cidr.to_string()),
                    quote(&where_(found))
                );
            }
            let _ = writeln!(out, "  }}");
        }
        let _ = writeln!(out, "}}");
    }
    let left = |fate: Fate| -> Vec<String> {
        plan.found
            .iter()
            .filter(|f| f.fate == fate)
            .map(|f| format!("{} {}", f.cidr, where_(f)))
            .collect()
    };
    let conflicted = left(Fate::Conflict);
    let outside = left(Fate::Outside);
    let mut list = |title: &str, items: Vec<String>| {
        if !items.is_empty() {
            let _ = writeln!(out, "\n# {title}:");
            for item in items {
                let _ = writeln!(out, "#   {item}");
            }
        }
    };
    list(
        "Left out, in conflict (see discover --format markdown)",
        conflicted,
    );
    list("Left out, inside no --pool-cidr", outside);
    list(
        "Left out, held by this provider already",
        plan.found
            .iter()
            .filter(|f| f.fate == Fate::Managed)
            .map(|f| {
                format!(
                    "{} {} ({})",
                    f.cidr,
                    where_(f),
                    f.managed.as_deref().unwrap_or("")
                )
            })
            .collect(),
    );
    out
}

fn fate_text(plan: &Plan, f: &Found) -> String {
    match &f.fate {
        Fate::Entry { pool, name } => {
            format!("entry `{name}` of `ipam_pool.{}`", plan.pools[*pool].label)
        }
        Fate::Pool(p) => format!("`ipam_pool.{}`", plan.pools[*p].label),
        Fate::Managed => format!("held already by `{}`", f.managed.as_deref().unwrap_or("")),
        Fate::Conflict => "**conflict**".into(),
        Fate::Outside => "outside every `--pool-cidr`".into(),
    }
}

/// Every range with its state and address, then the conflicts, naming both sides.
pub fn markdown(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## Address ranges in {} state{}\n\n| CIDR | State | Resource | Attribute | Adopted as |\n|---|---|---|---|---|",
        plan.states.len(),
        if plan.states.len() == 1 { "" } else { "s" }
    );
    let mut order: Vec<&Found> = plan.found.iter().collect();
    order.sort_by_key(|f| (f.cidr.network(), f.cidr.prefix_len(), f.state.clone()));
    for f in order {
        for (address, attribute) in &f.places {
            let _ = writeln!(
                out,
                "| {} | {} | `{address}` | `{attribute}` | {} |",
                f.cidr,
                f.state,
                fate_text(plan, f)
            );
        }
    }
    let _ = writeln!(out, "\n## Conflicts: {}\n", plan.conflicts.len());
    if plan.conflicts.is_empty() {
        let _ = writeln!(out, "None: every range can be pinned side by side.");
    }
    for c in &plan.conflicts {
        let (a, b) = (&plan.found[c.a], &plan.found[c.b]);
        let _ = writeln!(
            out,
            "- **{}** is both `{}` in {} and `{}` in {}: the same range in two states (peering and routes between them fail). Renumber one, then run discover again.",
            a.cidr, a.places[0].0, a.state, b.places[0].0, b.state
        );
    }
    out
}

/// The same as JSON: `ranges` (each with its places and what it became), `conflicts`.
pub fn json(plan: &Plan) -> String {
    let ranges: Vec<serde_json::Value> = plan
        .found
        .iter()
        .map(|f| {
            let (kind, pool, name) = match &f.fate {
                Fate::Entry { pool, name } => ("entry", Some(plan.pools[*pool].label.clone()), Some(name.clone())),
                Fate::Pool(p) => ("pool", Some(plan.pools[*p].label.clone()), None),
                Fate::Managed => ("managed", None, None),
                Fate::Conflict => ("conflict", None, None),
                Fate::Outside => ("outside", None, None),
            };
            serde_json::json!({
                "cidr": f.cidr.to_string(),
                "state": f.state,
                "places": f.places.iter().map(|(a, t)| serde_json::json!({"address": a, "attribute": t})).collect::<Vec<_>>(),
                "adopted_as": kind,
                "pool": pool,
                "entry": name,
                "managed_by": f.managed,
            })
        })
        .collect();
    let conflicts: Vec<serde_json::Value> = plan
        .conflicts
        .iter()
        .map(|c| {
            let side = |f: &Found| serde_json::json!({"cidr": f.cidr.to_string(), "state": f.state, "address": f.places[0].0});
            serde_json::json!({"kind": "same_cidr_in_two_states", "a": side(&plan.found[c.a]), "b": side(&plan.found[c.b])})
        })
        .collect();
    let doc =
        serde_json::json!({ "states": plan.states, "ranges": ranges, "conflicts": conflicts });
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hcl_strings_are_literal() {
        assert_eq!(quote(r#"aws_subnet.a["x"]"#), r#""aws_subnet.a[\"x\"]""#);
        assert_eq!(quote("${var.x} %{if}"), r#""$${var.x} %%{if}""#);
    }
}
