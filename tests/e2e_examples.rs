//! Every example directory is planned and applied by real Terraform, planned again
//! with no changes, and destroyed; `.tftest.hcl` files run with `terraform test`;
//! the `import.sh` scripts of the resource examples run and leave no changes behind.

mod common;

use std::path::Path;
use std::process::Command;

use common::{terraform_bin, Workdir};

fn has_modules(w: &Workdir) -> bool {
    w.path().join("modules").is_dir()
}

fn full_cycle(rel: &str) -> Workdir {
    cycle(Workdir::copy_of(rel))
}

/// A copy of an example whose provider reads a fresh database of the test cluster.
fn with_database(rel: &str) -> Workdir {
    let db = common::pg::cluster().new_database("example");
    Workdir::copy_of(rel).with_env("IPAM_DATABASE_URL", &common::pg::cluster().url(&db))
}

fn cycle(w: Workdir) -> Workdir {
    if has_modules(&w) {
        w.tf(&["get", "-no-color"]).ok();
    }
    w.tf(&["validate", "-no-color"]).ok();
    w.tf(&["plan", "-no-color", "-input=false", "-out=example.tfplan"])
        .ok();
    w.tf(&["apply", "-no-color", "example.tfplan"]).ok();
    w.assert_no_changes();
    w
}

fn destroy(w: &Workdir) {
    w.tf(&["destroy", "-no-color", "-auto-approve"]).ok();
    assert!(
        w.state()["values"].is_null(),
        "state not empty after destroy"
    );
}

/// Runs a directory's import.sh with the test's Terraform first on PATH.
fn run_import_sh(w: &Workdir) {
    let bin = terraform_bin();
    let shim = w.path().join(".bin");
    std::fs::create_dir_all(&shim).unwrap();
    std::os::unix::fs::symlink(&bin, shim.join("terraform")).unwrap();
    let path = format!(
        "{}:{}",
        shim.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("sh")
        .arg("-e")
        .arg("import.sh")
        .current_dir(w.path())
        .env("PATH", path)
        .env("TF_CLI_CONFIG_FILE", w.path().join(".terraformrc"))
        .env("CHECKPOINT_DISABLE", "1")
        .envs(w.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "import.sh failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn terraform_test(rel: &str) {
    let w = Workdir::copy_of(rel);
    if has_modules(&w) {
        w.tf(&["get", "-no-color"]).ok();
    }
    let out = w.tf(&["test", "-no-color"]).ok();
    assert!(out.stdout.contains("passed, 0 failed"), "{}", out.stdout);
}

#[test]
fn gke_example_plans_applies_and_tests() {
    let w = full_cycle("examples/gke");
    let subnets = w.tf(&["output", "-json", "subnetworks"]).ok().json();
    assert_eq!(subnets["europe-west1"]["ip_cidr_range"], "10.244.0.0/22");
    assert_eq!(
        subnets.as_object().unwrap().len(),
        3,
        "one module instance per cluster"
    );
    // The check block flags an overlap with another state's range, naming both.
    let main = std::fs::read_to_string(w.path().join("main.tf")).unwrap();
    let clash = main.replace(
        r#""vpn/clients"       = "192.168.64.0/20""#,
        r#""vpn/clients"       = "10.241.0.0/16""#,
    );
    assert_ne!(clash, main);
    w.write("main.tf", &clash);
    let plan = w.tf(&["plan", "-no-color", "-input=false"]).ok();
    let warned = plan.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        warned.contains("Check block assertion failed")
            && warned.contains(r#"[["gke/europe-west1","vpn/clients"]]"#),
        "{}",
        plan.stdout
    );
    w.write("main.tf", &main);
    assert_eq!(
        subnets["europe-west1"]["secondary_ip_range"][0]["range_name"],
        "gke-europe-west1-pods"
    );
    destroy(&w);
    terraform_test("examples/gke");
}

/// GKE Auto IPAM: growing the cluster adds non-contiguous Pod ranges from the corp
/// pool and moves nothing, across two applies.
#[test]
fn gke_auto_ipam_grows_without_moving_anything() {
    let w = full_cycle("examples/gke-auto-ipam");
    let before = w.resource("ipam_pool.corp");
    let nodes_before = w.tf(&["output", "-json", "node_pod_blocks"]).ok().json();
    assert_eq!(
        w.tf(&["output", "-json", "pod_ranges"]).ok().json(),
        serde_json::json!(["10.128.0.0/20"])
    );
    assert_eq!(nodes_before.as_object().unwrap().len(), 16);

    // Grow from 16 to 40 nodes: 40 /24s need three /20 Pod ranges.
    let plan = w.plan_json(&["-var", "max_nodes=40"]);
    assert_eq!(common::actions(&plan, "ipam_pool.corp"), ["update"]);
    assert_eq!(common::actions(&plan, "ipam_pool.pods"), ["update"]);
    w.tf(&["apply", "-no-color", "test.tfplan"]).ok();
    let out = w.tf(&[
        "plan",
        "-no-color",
        "-input=false",
        "-detailed-exitcode",
        "-var",
        "max_nodes=40",
    ]);
    assert_eq!(out.code, 0, "{}", out.stdout);

    let after = w.resource("ipam_pool.corp");
    let ranges = w.tf(&["output", "-json", "pod_ranges"]).ok().json();
    let ranges: Vec<ipnet::IpNet> = ranges
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(ranges.len(), 3);
    // Nothing handed out before moved: the first range, the node subnet, the other
    // team's VMs, and every node's Pod block.
    for (name, cidr) in common::cidrs(&before) {
        assert_eq!(common::cidrs(&after)[&name], cidr, "{name} moved");
    }
    let nodes_after = w.tf(&["output", "-json", "node_pod_blocks"]).ok().json();
    for (node, block) in nodes_before.as_object().unwrap() {
        assert_eq!(&nodes_after[node], block, "{node} moved");
    }
    assert_eq!(nodes_after.as_object().unwrap().len(), 40);
    // The new ranges are not contiguous with the first: other blocks lie between.
    let first = ranges[0];
    for r in &ranges[1..] {
        assert!(!ipam::alloc::overlaps(&first, r));
        let gap_free = ipam::alloc::merge(&[first, *r]).len() == 1;
        assert!(!gap_free, "{first} and {r} are one block");
    }
    let space = w.tf(&["output", "-json", "pod_space"]).ok().json();
    assert!(space.as_array().unwrap().len() >= 2, "{space}");
    // Every node's block lies in one of the cluster's ranges.
    for block in nodes_after.as_object().unwrap().values() {
        let b: ipnet::IpNet = block.as_str().unwrap().parse().unwrap();
        assert!(ranges.iter().any(|r| r.contains(&b)), "{b}");
    }
    w.tf(&[
        "destroy",
        "-no-color",
        "-auto-approve",
        "-var",
        "max_nodes=40",
    ])
    .ok();
}

#[test]
fn eks_example_plans_applies_and_tests() {
    let w = full_cycle("examples/eks");
    let vpcs = w.tf(&["output", "-json", "vpcs"]).ok().json();
    assert_eq!(vpcs["prod"], "10.64.0.0/16");
    destroy(&w);
    terraform_test("examples/eks");
}

/// Every `examples/functions/<name>/function.tf` applies, re-plans empty and
/// destroys; the values its comments promise are checked here.
#[test]
fn function_examples_apply() {
    let mut outputs = std::collections::BTreeMap::new();
    for d in ipam::provider::functions::all() {
        let w = full_cycle(&format!("examples/functions/{}", d.name));
        let out = w.tf(&["output", "-json"]).ok().json();
        for (k, v) in out.as_object().unwrap() {
            outputs.insert(format!("{}.{k}", d.name), v["value"].clone());
        }
        destroy(&w);
    }
    let want = [
        ("cidr_contains.subnet_in_vpc", r#"true"#),
        ("cidr_contains.dns_server_in_vpc", r#"true"#),
        ("cidr_overlaps.peering_is_ambiguous", r#"true"#),
        ("find_overlaps.overlaps", r#"[]"#),
        (
            "cidr_merge.source_ranges",
            r#"["10.0.0.0/22","10.0.8.0/24"]"#,
        ),
        (
            "cidr_subtract.unused",
            r#"["10.0.32.0/19","10.0.64.0/18","10.0.192.0/18"]"#,
        ),
        ("cidr_facts.netmask", r#""255.255.252.0""#),
        ("cidr_facts.broadcast", r#""10.1.3.255""#),
        ("cidr_facts.size", r#""1024""#),
        ("usable_range.aws_dhcp_range", r#""10.0.1.4""#),
        ("prefix_length_for.aws_subnet_prefix", "24"),
        ("prefix_length_for.gcp_subnet_prefix", "22"),
        ("gke_pod_prefix_per_node.default_node_pool", "24"),
        ("gke_pod_prefix_per_node.dense_node_pool", "26"),
        ("eks_max_pods.secondary_ips", "29"),
        ("eks_max_pods.prefix_delegation", "110"),
        (
            "eks_prefix_reservation_length.reservation",
            r#""10.64.0.0/19""#,
        ),
    ];
    for (k, v) in want {
        let v: serde_json::Value = serde_json::from_str(v).unwrap();
        assert_eq!(outputs.get(k), Some(&v), "{k}");
    }
    let ranges = &outputs["gke_prefix_lengths.ranges"];
    for (name, len) in [("nodes", "/21"), ("pods", "/14"), ("services", "/20")] {
        assert!(ranges[name].as_str().unwrap().ends_with(len), "{ranges}");
    }
}

#[test]
fn resource_examples_apply_and_import() {
    // A pool imported with its ledger plans no changes at all.
    let w = full_cycle("examples/resources/ipam_pool");
    w.tf(&["state", "rm", "ipam_pool.example"]).ok();
    run_import_sh(&w);
    w.assert_no_changes();
    destroy(&w);
    // An imported handle has its facts filled in by one update, then nothing.
    let w = full_cycle("examples/resources/ipam_allocation");
    w.tf(&["state", "rm", "ipam_allocation.pods"]).ok();
    run_import_sh(&w);
    let plan = w.plan_json(&[]);
    assert_eq!(common::actions(&plan, "ipam_allocation.pods"), ["update"]);
    w.tf(&["apply", "-no-color", "test.tfplan"]).ok();
    w.assert_no_changes();
    destroy(&w);
    let w = full_cycle("examples/provider");
    destroy(&w);
}

#[test]
fn every_example_directory_is_covered() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut dirs: Vec<String> = Vec::new();
    for e in std::fs::read_dir(&root).unwrap() {
        let p = e.unwrap().path();
        if p.join("main.tf").is_file() || p.join("provider.tf").is_file() {
            dirs.push(p.file_name().unwrap().to_string_lossy().into());
        }
    }
    for sub in ["resources", "data-sources", "shared", "functions"] {
        for e in std::fs::read_dir(root.join(sub)).unwrap() {
            dirs.push(format!(
                "{sub}/{}",
                e.unwrap().file_name().to_string_lossy()
            ));
        }
    }
    dirs.sort();
    // One example per provider function (function_examples_apply runs them all).
    let functions: Vec<String> = dirs
        .iter()
        .filter_map(|d| d.strip_prefix("functions/").map(String::from))
        .collect();
    let served: Vec<String> = ipam::provider::functions::all()
        .iter()
        .map(|d| d.name.to_string())
        .collect();
    assert_eq!(functions, served, "examples/functions/<name> per function");
    dirs.retain(|d| !d.starts_with("functions/"));
    assert_eq!(
        dirs,
        [
            "data-sources/ipam_shared_pool",
            "eks",
            "gke",
            "gke-auto-ipam",
            "provider",
            "resources/ipam_allocation",
            "resources/ipam_pool",
            "resources/ipam_shared_allocations",
            "resources/ipam_shared_pool",
            "shared/network",
            "shared/team-a",
            "shared/team-b",
        ],
        "a new example needs a test here"
    );
}

#[test]
fn shared_resource_examples_apply_and_import() {
    let w = cycle(with_database("examples/resources/ipam_shared_pool"));
    w.tf(&["state", "rm", "ipam_shared_pool.corp"]).ok();
    run_import_sh(&w);
    w.assert_no_changes();
    destroy(&w);

    let w = cycle(with_database("examples/resources/ipam_shared_allocations"));
    let nodes = w.tf(&["output", "-raw", "nodes"]).ok().stdout;
    assert!(
        nodes.starts_with("10.") && nodes.ends_with("/20"),
        "{nodes}"
    );
    w.tf(&["state", "rm", "ipam_shared_allocations.team_a"])
        .ok();
    run_import_sh(&w);
    w.assert_no_changes();
    destroy(&w);

    let w = cycle(with_database("examples/data-sources/ipam_shared_pool"));
    let util = w.tf(&["output", "-raw", "utilization"]).ok().stdout;
    assert_eq!(util, "0");
    destroy(&w);
}

/// The network team's state and two team states, the teams applying at once.
#[test]
fn shared_example_three_states_one_pool() {
    let db = common::pg::cluster().new_database("example_shared");
    let url = common::pg::cluster().url(&db);
    let state = |rel: &str| Workdir::copy_of(rel).with_env("IPAM_DATABASE_URL", &url);
    let network = cycle(state("examples/shared/network"));
    let (a, b) = (
        state("examples/shared/team-a"),
        state("examples/shared/team-b"),
    );
    let (a, b) = std::thread::scope(|s| {
        let ta = s.spawn(|| cycle(a));
        let tb = s.spawn(|| cycle(b));
        (ta.join().unwrap(), tb.join().unwrap())
    });
    let subnets = a.tf(&["output", "-json", "subnets"]).ok().json();
    let gke = common::cidrs(&a.resource("ipam_shared_allocations.team_a"));
    let vpcs = b.tf(&["output", "-json", "vpcs"]).ok().json();
    let mut blocks: Vec<ipnet::IpNet> = gke.values().map(|c| c.parse().unwrap()).collect();
    for v in vpcs.as_object().unwrap().values() {
        blocks.push(v.as_str().unwrap().parse().unwrap());
    }
    // Each cluster's ranges are carved from its own block.
    for (name, block) in &gke {
        let block: ipnet::IpNet = block.parse().unwrap();
        let nodes: ipnet::IpNet = subnets[name]["ip_cidr_range"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(block.contains(&nodes), "{nodes} not in {block}");
    }
    for (i, x) in blocks.iter().enumerate() {
        for y in &blocks[i + 1..] {
            assert!(!x.contains(y) && !y.contains(x), "{x} overlaps {y}");
        }
    }
    network
        .tf(&["apply", "-refresh-only", "-no-color", "-auto-approve"])
        .ok();
    let util: f64 = network
        .tf(&["output", "-raw", "utilization"])
        .ok()
        .stdout
        .parse()
        .unwrap();
    assert!(util > 0.0);
    destroy(&a);
    destroy(&b);
    destroy(&network);
}
