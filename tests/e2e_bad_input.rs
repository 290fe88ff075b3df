//! Every kind of bad input gets a diagnostic with a summary, a detail and the attribute
//! it is about, at validate time; nothing panics.

mod common;

use common::Workdir;

/// (pool body, expected summary, text the detail contains, source the diagnostic points at)
const CASES: &[(&str, &str, &str, &str)] = &[
    (r#"cidrs = ["10.0.0.0/33"]"#, "Invalid CIDR block", "10.0.0.0/33", "10.0.0.0/33"),
    (r#"cidrs = ["10.0.0.1/8"]"#, "CIDR block has host bits set", "did you mean 10.0.0.0/8", "10.0.0.1/8"),
    (r#"cidrs = ["10.0.0.0/8", "fd00::/48"]"#, "Mixed IP families", "one pool holds one IP family", "cidrs"),
    (r#"cidrs = ["10.0.0.0/8", "10.1.0.0/16"]"#, "Overlapping pool CIDRs", "10.0.0.0/8 and 10.1.0.0/16 overlap", "cidrs"),
    (r#"cidrs = []"#, "Empty pool", "at least one", "cidrs"),
    (
        "cidrs = [\"10.0.0.0/16\"]\n  reserved = [\"192.168.0.0/24\"]",
        "Reserved range outside the pool",
        "192.168.0.0/24",
        "reserved",
    ),
    (
        "cidrs = [\"10.0.0.0/16\"]\n  min_prefix_length = 20\n  max_prefix_length = 24\n  allocations = { web = { prefix_length = 28 } }",
        "Prefix length outside the pool's rules",
        "/20 to /24",
        "prefix_length = 28",
    ),
    (
        "cidrs = [\"10.0.0.0/16\"]\n  allocations = { web = { prefix_length = 33 } }",
        "Prefix length outside the pool's rules",
        "/0 to /32",
        "prefix_length = 33",
    ),
    (
        "cidrs = [\"10.0.0.0/16\"]\n  allocations = {\n    a = { cidr = \"10.0.0.0/24\" }\n    b = { cidr = \"10.0.0.0/25\" }\n  }",
        "Pinned CIDR conflict",
        "overlaps allocation",
        "cidr = \"10.0.0.0/25\"",
    ),
    (
        "cidrs = [\"10.0.0.0/16\"]\n  allocations = { a = { cidr = \"10.0.0.0/24\", prefix_length = 25 } }",
        "Conflicting prefix_length and cidr",
        "pins 10.0.0.0/24",
        "prefix_length = 25",
    ),
    (
        "cidrs = [\"10.0.0.0/16\"]\n  allocations = { a = {} }",
        "Missing prefix length",
        "default_prefix_length",
        "a = {}",
    ),
    (r#"cidrs = ["10.0.0.0/16"]
  strategy = "random""#, "Invalid strategy", "best_fit", "strategy"),
    // An impossible request is caught at validate, naming the largest block.
    (
        "cidrs = [\"10.0.0.0/16\", \"10.9.0.0/20\"]\n  allocations = { big = { prefix_length = 8 } }",
        "Allocation larger than the pool",
        "larger than the largest block of the pool's cidrs (10.0.0.0/16)",
        "prefix_length = 8",
    ),
    (
        "cidrs = [\"10.0.0.0/16\"]\n  allocations = { g = { prefix_length = 24, grow_to = 12 } }",
        "Allocation larger than the pool",
        "may grow to a /12",
        "grow_to = 12",
    ),
    (
        "cidrs = [\"10.0.0.0/16\"]\n  allocations = { g = { prefix_length = 22, grow_to = 24 } }",
        "grow_to smaller than the allocation",
        "may grow only to /24",
        "grow_to = 24",
    ),
    (
        "cidrs = [\"10.0.0.0/16\"]\n  allocations = { g = { cidr = \"10.0.0.0/24\", grow_to = 22 } }",
        "grow_to with a pinned cidr",
        "pins 10.0.0.0/24",
        "grow_to = 22",
    ),
    (
        "cidrs = [\"10.0.0.0/16\"]\n  release_hold = \"30 days\"",
        "Invalid release_hold",
        "such as \"720h\"",
        "release_hold",
    ),
    (
        "cidrs = [\"10.0.0.0/16\"]\n  min_prefix_length = 24\n  max_prefix_length = 20",
        "Invalid allocation rules",
        "longer than max_prefix_length",
        "min_prefix_length",
    ),
];

/// Terraform before 1.15 cannot map a path that steps into a nested attribute's map
/// element (`allocations["web"].prefix_length`) to source and points at the resource
/// block instead; from 1.15 it shows the element's line.
fn maps_nested_paths(w: &Workdir) -> bool {
    let v = w.tf(&["version", "-json"]).ok().json();
    let version = v["terraform_version"]
        .as_str()
        .unwrap_or("0.0.0")
        .to_string();
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (1, 15)
}

#[test]
fn every_bad_input_gets_a_diagnostic_at_its_attribute() {
    let w = Workdir::new("");
    let nested_ok = maps_nested_paths(&w);
    for (body, summary, detail, at) in CASES {
        w.config(&format!(
            "resource \"ipam_pool\" \"bad\" {{\n  {body}\n}}\n"
        ));
        let out = w.tf(&["validate", "-json", "-no-color"]);
        assert_ne!(out.code, 0, "{body}: validate passed");
        let j = out.json();
        let diags = j["diagnostics"].as_array().unwrap();
        let d = diags
            .iter()
            .find(|d| d["summary"] == *summary)
            .unwrap_or_else(|| panic!("{body}: no {summary:?} in {diags:#?}"));
        assert!(
            d["detail"].as_str().unwrap().contains(detail),
            "{body}: detail {:?}",
            d["detail"]
        );
        let code = d["snippet"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("{body}: no source range in {d:#?}"));
        let fallback = !nested_ok
            && body.contains("allocations")
            && code.contains("resource \"ipam_pool\" \"bad\"");
        assert!(
            code.contains(at) || fallback,
            "{body}: diagnostic points at {code:?}, expected {at:?}"
        );
        assert!(!out.stdout.contains("Provider bug"), "{}", out.stdout);
    }
}

#[test]
fn bad_handle_arguments_are_diagnosed() {
    let w = Workdir::new(
        r#"
resource "ipam_pool" "p" {
  cidrs       = ["10.0.0.0/16"]
  allocations = { a = { prefix_length = 24 } }
}
resource "ipam_allocation" "a" {
  entry = ipam_pool.p.allocations["a"]
  cloud = "gcp2"
  range = "tertiary"
}
"#,
    );
    let out = w.tf(&["validate", "-json", "-no-color"]);
    assert_ne!(out.code, 0);
    let j = out.json();
    let summaries: Vec<&str> = j["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["summary"].as_str().unwrap())
        .collect();
    assert!(
        summaries.contains(&"Invalid cloud") && summaries.contains(&"Invalid range"),
        "{summaries:?}"
    );
}

#[test]
fn a_handle_whose_entry_has_no_cidr_fails_the_plan() {
    let w = Workdir::new(
        r#"
resource "ipam_allocation" "a" {
  entry = {
    name = "x", pool_id = "pool-0", cidr = null, prefix_length = null, description = null, grow_to = null, growth_cidr = null,
    network_address = null, netmask = null, first_address = null, last_address = null, address_count = null
  }
}
"#,
    );
    let out = w.tf(&["plan", "-no-color"]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("Entry has no CIDR"), "{}", out.stderr);
}

/// The shared resources and the provider block check their arguments at validate,
/// with no database at all. (Terraform validates no resource once the provider block
/// fails, so the provider block comes on its own.)
#[test]
fn bad_shared_arguments_are_diagnosed_at_validate() {
    let resources = r#"
resource "ipam_shared_pool" "mixed" {
  name  = "corp"
  cidrs = ["10.0.0.0/8", "fd00::/48"]
}
resource "ipam_shared_pool" "slash" {
  name  = "corp/eu"
  cidrs = ["10.0.0.0/8"]
}
resource "ipam_shared_allocations" "a" {
  pool        = "corp"
  owner       = " "
  allocations = { web = { prefix_length = 200 } }
}
"#;
    let w = Workdir::new(
        "provider \"ipam\" {\n  reservation_ttl = \"a day\"\n}\nresource \"ipam_pool\" \"ok\" {\n  cidrs = [\"10.0.0.0/16\"]\n}\n",
    );
    let nested_ok = maps_nested_paths(&w);
    let validate = |w: &Workdir| {
        let out = w.tf_env(
            &["validate", "-json", "-no-color"],
            &[("IPAM_DATABASE_URL", "")],
        );
        assert_ne!(out.code, 0);
        assert!(!out.stdout.contains("Provider bug"), "{}", out.stdout);
        out.json()["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    d["summary"].as_str().unwrap().to_string(),
                    d["snippet"]["code"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                )
            })
            .collect::<Vec<(String, String)>>()
    };
    let check = |found: &[(String, String)], summary: &str, at: &str| {
        assert!(
            found.iter().any(|(s, c)| s == summary && c.contains(at)),
            "no {summary:?} at {at:?} in {found:#?}"
        );
    };
    check(&validate(&w), "Invalid reservation_ttl", "reservation_ttl");
    w.config(resources);
    let found = validate(&w);
    check(&found, "Mixed IP families", "cidrs");
    check(&found, "Invalid pool name", "corp/eu");
    check(&found, "Invalid owner", "owner");
    check(
        &found,
        "Invalid prefix length",
        if nested_ok { "prefix_length = 200" } else { "" },
    );
}
