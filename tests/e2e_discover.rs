//! `discover` under real Terraform: fixtures written from the providers' documented
//! schemas (a GCP state with a subnetwork, two secondary ranges and a GKE cluster in a
//! module; an AWS state with a VPC, a secondary CIDR association, subnets in three
//! zones and a module with `for_each`; a third state that repeats the AWS VPC's CIDR
//! and holds an Azure network). The HCL applies and re-plans empty with every range at
//! its CIDR; the conflict is named with both addresses and exits 3; bad input is one
//! clear line.
mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use common::Workdir;

const FIXTURES: [&str; 3] = ["gcp.json", "aws.json", "legacy.json"];
const POOLS: [&str; 6] = [
    "--pool-cidr",
    "10.0.0.0/8",
    "--pool-cidr",
    "100.64.0.0/10",
    "--pool-cidr",
    "172.16.0.0/12",
];

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/discover")
        .join(name)
        .display()
        .to_string()
}

/// Runs `discover ARGS` in `dir`: exit code, stdout, stderr.
fn discover(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_terraform-provider-ipam"))
        .arg("discover")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every (CIDR) the fixtures hold in the resources discover reads, by reading the
/// JSON here with no code of the provider's: the oracle.
fn fixture_ranges(name: &str) -> BTreeSet<String> {
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture(name)).unwrap()).unwrap();
    let mut out = BTreeSet::new();
    fn walk(m: &serde_json::Value, out: &mut BTreeSet<String>) {
        for r in m["resources"].as_array().into_iter().flatten() {
            if r["mode"] != "managed" {
                continue;
            }
            let v = &r["values"];
            let mut put = |s: &serde_json::Value| {
                if let Some(s) = s.as_str().filter(|s| !s.is_empty()) {
                    out.insert(s.to_string());
                }
            };
            match r["type"].as_str().unwrap() {
                "aws_vpc"
                | "aws_subnet"
                | "aws_vpc_ipv4_cidr_block_association"
                | "aws_ec2_subnet_cidr_reservation" => put(&v["cidr_block"]),
                "google_compute_subnetwork" => {
                    put(&v["ip_cidr_range"]);
                    for s in v["secondary_ip_range"].as_array().unwrap() {
                        put(&s["ip_cidr_range"]);
                    }
                }
                "google_container_cluster" => {
                    put(&v["ip_allocation_policy"][0]["cluster_ipv4_cidr_block"]);
                    put(&v["ip_allocation_policy"][0]["services_ipv4_cidr_block"]);
                    put(&v["private_cluster_config"][0]["master_ipv4_cidr_block"]);
                }
                "google_compute_global_address" => {
                    out.insert(format!(
                        "{}/{}",
                        v["address"].as_str().unwrap(),
                        v["prefix_length"]
                    ));
                }
                "azurerm_virtual_network" => put(&v["address_space"][0]),
                "azurerm_subnet" => put(&v["address_prefixes"][0]),
                _ => {}
            }
        }
        for c in m["child_modules"].as_array().into_iter().flatten() {
            walk(c, out);
        }
    }
    walk(&doc["values"]["root_module"], &mut out);
    out
}

#[test]
fn discovered_ranges_apply_as_pinned_entries_and_conflicts_are_named() {
    let w = Workdir::empty();
    let mut args: Vec<String> = POOLS.iter().map(|s| s.to_string()).collect();
    args.extend(FIXTURES.iter().map(|f| fixture(f)));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, hcl, err) = discover(w.path(), &args);
    // The AWS VPC's CIDR is in two states: a conflict, exit 3, HCL still written.
    assert_eq!(code, Some(3), "{err}");
    assert!(hcl.contains("# Left out, in conflict"), "{hcl}");

    let w = Workdir::new(&hcl);
    w.apply();
    w.assert_no_changes();
    // Every fixture range but the conflicted VPC is in the ledger at exactly its CIDR.
    let state = w.state();
    let mut in_ledger = BTreeSet::new();
    for r in state["values"]["root_module"]["resources"]
        .as_array()
        .unwrap()
    {
        for (_, e) in r["values"]["allocations"].as_object().unwrap() {
            assert!(e["description"].as_str().unwrap().contains(".json"), "{e}");
            in_ledger.insert(e["cidr"].as_str().unwrap().to_string());
        }
    }
    let mut expected: BTreeSet<String> = FIXTURES.iter().flat_map(|f| fixture_ranges(f)).collect();
    assert!(expected.remove("10.30.0.0/16"), "the fixture's conflict");
    assert_eq!(in_ledger, expected);
    // Nested by containment: the VPC's secondary CIDR is a pool of its own whose
    // entries are the module's for_each subnets.
    let nested = common::find_resource(
        &state["values"]["root_module"],
        "ipam_pool.pool_100_64_0_0_16",
    )
    .expect("a pool for the secondary CIDR");
    assert_eq!(nested["cidrs"][0], "100.64.0.0/16");
    assert_eq!(nested["allocations"].as_object().unwrap().len(), 2);

    // Markdown: the conflict with both addresses, and every range with its state.
    let mut md_args = vec!["--format", "markdown"];
    md_args.extend(&args);
    let (code, md, _) = discover(w.path(), &md_args);
    assert_eq!(code, Some(3));
    assert!(md.contains("## Conflicts: 1"), "{md}");
    let conflict = md
        .lines()
        .find(|l| l.starts_with("- **10.30.0.0/16**"))
        .expect(&md);
    assert!(
        conflict.contains("`aws_vpc.main`") && conflict.contains("`aws_vpc.legacy`"),
        "{conflict}"
    );
    assert!(
        md.contains("| 10.12.0.0/14 |")
            && md.contains("`module.gke.google_container_cluster.this`"),
        "{md}"
    );
    // JSON, for tools.
    let mut json_args = vec!["--format", "json"];
    json_args.extend(&args);
    let (_, json, _) = discover(w.path(), &json_args);
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(doc["conflicts"].as_array().unwrap().len(), 1);
    // No conflict: exit 0.
    let (code, _, err) = discover(
        w.path(),
        &["--pool-cidr", "10.0.0.0/8", &fixture("gcp.json")],
    );
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn what_this_provider_holds_is_not_found_twice() {
    // A state that adopted the GCP ranges already: discover on it and the GCP state
    // finds nothing new, and no conflict.
    let w = Workdir::empty();
    let (_, hcl, _) = discover(
        w.path(),
        &[
            "--pool-cidr",
            "10.0.0.0/8",
            "--pool-cidr",
            "172.16.0.0/12",
            &fixture("gcp.json"),
        ],
    );
    let w = Workdir::new(&hcl);
    w.apply();
    let show = w.tf(&["show", "-json"]).ok();
    w.write("adopted.json", &show.stdout);
    let (code, again, err) = discover(
        w.path(),
        &[
            "--pool-cidr",
            "10.0.0.0/8",
            "adopted.json",
            &fixture("gcp.json"),
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(!again.contains("requests = {\n"), "{again}");
    assert!(
        again.contains("# Left out, held by this provider already"),
        "{again}"
    );
}

#[test]
fn bad_input_is_one_clear_line() {
    let w = Workdir::empty();
    w.write("not.json", "{ this is not json");
    w.write(
        "plan.json",
        r#"{"format_version":"1.2","planned_values":{},"resource_changes":[]}"#,
    );
    w.write(
        "bad-cidr.json",
        r#"{"format_version":"1.0","values":{"root_module":{"resources":[{"address":"aws_vpc.x","mode":"managed","type":"aws_vpc","values":{"cidr_block":"10.0.0.300/16"}}]}}}"#,
    );
    let cases: [(&[&str], i32, &str); 6] = [
        (&["not.json"], 1, "not.json: not JSON"),
        (&["plan.json"], 1, "saved plan"),
        (&["bad-cidr.json"], 1, "aws_vpc.x cidr_block"),
        (
            &["--format", "yaml", "plan.json"],
            2,
            "unknown format \"yaml\"",
        ),
        (
            &["--pool-cidr", "10.0.0.1/8", "plan.json"],
            2,
            "--pool-cidr",
        ),
        (&["missing.json"], 1, "cannot read missing.json"),
    ];
    for (args, want_code, want) in cases {
        let (code, out, err) = discover(w.path(), args);
        assert_eq!(code, Some(want_code), "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?}: {out}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        if want_code == 1 {
            assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        }
    }
}
