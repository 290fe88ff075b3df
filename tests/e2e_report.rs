//! The address-plan report end to end: real Terraform applies the GKE and EKS examples
//! and a configuration with reserved ranges and an IPv6 pool; `report` draws
//! `terraform show -json`; headless Chromium loads the page (no console errors, every
//! allocation in the DOM with its CIDR) and takes a screenshot; a saved plan's Markdown
//! names what it adds and removes.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::Workdir;
use serde_json::Value as Json;

fn chromium() -> PathBuf {
    if let Ok(p) = std::env::var("IPAM_CHROMIUM") {
        return PathBuf::from(p);
    }
    for name in ["chromium", "chromium-browser"] {
        let path = std::env::var_os("PATH").unwrap_or_default();
        for dir in std::env::split_paths(&path) {
            if dir.join(name).is_file() {
                return dir.join(name);
            }
        }
    }
    panic!("no Chromium: run scripts/setup-chromium.sh (scripts/test.sh does)");
}

/// Runs `terraform-provider-ipam report ARGS` with `input` on stdin: exit code,
/// stdout, stderr.
fn run_report(args: &[&str], input: &str) -> (Option<i32>, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_terraform-provider-ipam"))
        .arg("report")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    // A bad flag ends the report before it reads its input: the pipe may be closed
    // by then (EPIPE, seen under load in CI), which is no failure of the report.
    if let Err(e) = child.stdin.take().unwrap().write_all(input.as_bytes()) {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The report's output, which must succeed.
fn report(args: &[&str], input: &str) -> String {
    let (code, out, err) = run_report(args, input);
    assert_eq!(code, Some(0), "report {args:?} failed: {err}");
    out
}

/// (pool address, allocation name, CIDR) of every allocation in a state's JSON.
fn allocations(show: &Json) -> BTreeSet<(String, String, String)> {
    fn walk(m: &Json, out: &mut BTreeSet<(String, String, String)>) {
        for r in m["resources"].as_array().into_iter().flatten() {
            if r["type"] == "ipam_pool" {
                for (name, a) in r["values"]["allocations"].as_object().unwrap() {
                    out.insert((
                        r["address"].as_str().unwrap().into(),
                        name.clone(),
                        a["cidr"].as_str().unwrap().into(),
                    ));
                }
            }
        }
        for c in m["child_modules"].as_array().into_iter().flatten() {
            walk(c, out);
        }
    }
    let mut out = BTreeSet::new();
    walk(&show["values"]["root_module"], &mut out);
    out
}

struct Browser {
    stdout: String,
    stderr: String,
}

/// Loads a page in headless Chromium: its DOM after load and the browser's log, in
/// which the page's console messages appear as `CONSOLE` lines.
fn load(page: &Path, extra: &[&str]) -> Browser {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run chromium");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Browser {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn console_lines(b: &Browser) -> Vec<&str> {
    b.stderr.lines().filter(|l| l.contains("CONSOLE")).collect()
}

/// The console check can fail: a page with a script error is caught.
#[test]
fn the_browser_check_sees_a_console_error() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("broken.html");
    std::fs::write(
        &page,
        "<!DOCTYPE html><html><body><p>x</p><script>not_defined_anywhere();</script></body></html>",
    )
    .unwrap();
    let b = load(&page, &["--dump-dom"]);
    assert!(
        console_lines(&b)
            .iter()
            .any(|l| l.contains("not_defined_anywhere")),
        "no console error seen:\n{}",
        b.stderr
    );
}

#[test]
fn report_of_applied_examples_renders_in_chromium() {
    let w = Workdir::empty();
    for ex in ["gke", "eks"] {
        let src = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples")
            .join(ex);
        let status = Command::new("cp")
            .arg("-r")
            .arg(&src)
            .arg(w.path())
            .status()
            .unwrap();
        assert!(status.success());
    }
    // A root module of its own: the two examples as modules, plus a pool with reserved
    // ranges and an IPv6 pool.
    w.write(
        "main.tf",
        &format!(
            r#"{}
module "gke" {{
  source = "./gke"
}}
module "eks" {{
  source = "./eks"
}}
resource "ipam_pool" "office" {{
  cidrs    = ["192.168.0.0/20"]
  reserved = ["192.168.0.0/24", "192.168.15.254"]
  allocations = {{
    wifi    = {{ prefix_length = 22, description = "Guest <Wi-Fi> & \"lobby\"" }}
    printers = {{ prefix_length = 27 }}
    phones  = {{ prefix_length = 24, grow_to = 23 }}
  }}
}}
resource "ipam_pool" "v6" {{
  cidrs = ["2001:db8:40::/48"]
  allocations = {{ for i in range(40) : "subnet-${{i}}" => {{ prefix_length = 64 - i % 4 }} }}
}}
"#,
            common::PROVIDERS
        ),
    );
    for ex in ["gke", "eks"] {
        // The examples' own `terraform` blocks stay: a module may state requirements.
        let _ = std::fs::remove_file(w.path().join(ex).join(format!("{ex}.tftest.hcl")));
    }
    w.tf(&["get", "-no-color"]).ok();
    w.apply();
    let show = w.tf(&["show", "-json"]).ok();
    let state: Json = show.json();
    let expected = allocations(&state);
    assert!(expected.len() > 60, "{}", expected.len());

    // HTML: every allocation's shape, with its name and CIDR.
    let html = report(&["--format", "html"], &show.stdout);
    let page = w.path().join("report.html");
    std::fs::write(&page, &html).unwrap();
    for (_, name, cidr) in &expected {
        let attrs = format!(r#"data-name="{name}" data-cidr="{cidr}""#);
        assert!(html.contains(&attrs), "{attrs} missing");
    }
    assert!(html.contains("Guest &lt;Wi-Fi&gt; &amp; &quot;lobby&quot;"));

    // The browser: no console message at all, and the same shapes in its DOM.
    let b = load(&page, &["--dump-dom"]);
    assert!(console_lines(&b).is_empty(), "console:\n{}", b.stderr);
    assert!(b.stdout.contains("Address plan"), "{}", b.stdout);
    for (_, name, cidr) in &expected {
        let attrs = format!(r#"data-name="{name}" data-cidr="{cidr}""#);
        assert!(b.stdout.contains(&attrs), "{attrs} not in the DOM");
    }
    let shapes = b.stdout.matches("class=\"alloc ").count();
    assert_eq!(shapes, expected.len(), "one shape per allocation");

    // A screenshot of the page.
    let png = w.path().join("report.png");
    let b = load(
        &page,
        &[
            "--window-size=1400,2400",
            "--hide-scrollbars",
            &format!("--screenshot={}", png.display()),
        ],
    );
    assert!(console_lines(&b).is_empty(), "console:\n{}", b.stderr);
    let bytes = std::fs::read(&png).expect("screenshot written");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert!(bytes.len() > 20_000, "screenshot of {} bytes", bytes.len());
    if let Ok(dir) = std::env::var("IPAM_REPORT_SCREENSHOT_DIR") {
        std::fs::copy(&png, Path::new(&dir).join("report.png")).unwrap();
        std::fs::copy(&page, Path::new(&dir).join("report.html")).unwrap();
    }

    // SVG: valid XML, the same allocations.
    let svg = report(&["--format", "svg"], &show.stdout);
    let doc = roxmltree::Document::parse(&svg).expect("SVG is valid XML");
    let in_svg: BTreeSet<(String, String)> = doc
        .descendants()
        .filter_map(|n| {
            Some((
                n.attribute("data-name")?.to_string(),
                n.attribute("data-cidr")?.to_string(),
            ))
        })
        .collect();
    for (_, name, cidr) in &expected {
        assert!(
            in_svg.contains(&(name.clone(), cidr.clone())),
            "{name} {cidr} not in the SVG"
        );
    }

    // Markdown of the state: one row per pool.
    let md = report(&["--format", "markdown"], &show.stdout);
    assert!(
        md.contains("| `ipam_pool.office` | 192.168.0.0/20 | 3 |"),
        "{md}"
    );
    assert!(
        md.contains("module.gke.module.cluster[\"europe-west1\"].ipam_pool.cluster"),
        "{md}"
    );

    // A saved plan: one allocation added, one removed; the Markdown says which.
    let main = std::fs::read_to_string(w.path().join("main.tf")).unwrap();
    let edited = main.replace(
        "    printers = { prefix_length = 27 }\n",
        "    cameras = { prefix_length = 26 }\n",
    );
    assert_ne!(edited, main);
    w.write("main.tf", &edited);
    let plan = w.plan_json(&[]);
    let plan_text = serde_json::to_string(&plan).unwrap();
    let md = report(&["--format", "markdown"], &plan_text);
    assert!(md.contains("**`ipam_pool.office`**"), "{md}");
    assert!(md.contains("| ➕ added | `cameras` |"), "{md}");
    assert!(md.contains("| ➖ removed | `printers` |"), "{md}");
    assert!(
        md.contains("1 added, 1 removed, 0 moved, 0 resized"),
        "{md}"
    );
    assert!(md.contains("Unchanged: "), "{md}");
    assert!(md.lines().count() < 40, "too long to post:\n{md}");
    // The plan's page marks them too, with a legend.
    let html = report(&[], &plan_text);
    assert!(html.contains(r#"<g class="alloc added" data-name="cameras""#));
    assert!(html.contains(r#"<g class="alloc removed" data-name="printers""#));
    assert!(html.contains(">added</span>") && html.contains(">removed</span>"));
}

/// `report --database`: a shared pool drawn straight from PostgreSQL, as a role that
/// may only connect: two owners in two states, and an unapplied plan's reservation,
/// which no single state holds. The page renders in Chromium with no console message.
#[test]
fn report_from_the_database_draws_every_owner_and_reservation() {
    let c = common::pg::cluster();
    let db = c.new_database("report_db");
    let url = c.url(&db);
    let state = |body: &str| Workdir::new(body).with_env("IPAM_DATABASE_URL", &url);
    let owner = |name: &str, allocations: &str| {
        format!(
            r#"
resource "ipam_shared_allocations" "mine" {{
  pool        = "corp"
  owner       = "{name}"
  allocations = {{ {allocations} }}
}}
"#
        )
    };
    state(
        r#"
resource "ipam_shared_pool" "corp" {
  name     = "corp"
  cidrs    = ["10.0.0.0/16"]
  reserved = ["10.0.255.0/24"]
}
"#,
    )
    .apply();
    let a = state(&owner(
        "team-a",
        "web = { prefix_length = 24 }, api = { prefix_length = 22, grow_to = 20 }",
    ));
    a.apply();
    let b = state(&owner(
        "team-b",
        "db = { prefix_length = 20, description = \"databases\" }",
    ));
    b.apply();
    // Team B's open pull request: a plan that reserves a block, never applied.
    b.config(&owner(
        "team-b",
        "db = { prefix_length = 20, description = \"databases\" }, cache = { prefix_length = 23 }",
    ));
    let planned = common::cidrs(&common::planned(
        &b.plan_json(&[]),
        "ipam_shared_allocations.mine",
    ));
    let reserved: ipnet::IpNet = planned["cache"].parse().unwrap();
    let mut blocks: Vec<(String, String)> = Vec::new();
    for (owner, w) in [("team-a", &a), ("team-b", &b)] {
        for (n, cidr) in common::cidrs(&w.resource("ipam_shared_allocations.mine")) {
            blocks.push((format!("{owner}/{n}"), cidr));
        }
    }
    assert_eq!(blocks.len(), 3);

    // A read-only login: CONNECT, nothing else.
    c.psql_super(
        "postgres",
        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'auditor') THEN
           CREATE ROLE auditor LOGIN PASSWORD 'auditor-Pa55'; END IF; END $$;",
    );
    c.psql_super(&db, &format!("GRANT CONNECT ON DATABASE {db} TO auditor"));
    let as_auditor = c.url_as(&db, "auditor", "auditor-Pa55");
    let html = report(&["--database", &as_auditor, "--pool", "corp"], "");
    for (name, cidr) in &blocks {
        let attrs = format!(r#"data-name="{name}" data-cidr="{cidr}""#);
        assert!(html.contains(&attrs), "{attrs} missing");
    }
    // The reservation is held space, and team A's growth room too.
    assert!(
        html.contains(&format!("<title>held {reserved}</title>")),
        "{html}"
    );
    assert!(!html.contains("auditor-Pa55"));
    let page = a.path().join("db.html");
    std::fs::write(&page, &html).unwrap();
    let browser = load(&page, &["--dump-dom"]);
    assert!(
        console_lines(&browser).is_empty(),
        "console:\n{}",
        browser.stderr
    );
    for (name, cidr) in &blocks {
        let attrs = format!(r#"data-name="{name}" data-cidr="{cidr}""#);
        assert!(browser.stdout.contains(&attrs), "{attrs} not in the DOM");
    }
    // The same through IPAM_DATABASE_URL, as Markdown.
    let out = Command::new(env!("CARGO_BIN_EXE_terraform-provider-ipam"))
        .args(["report", "--format", "markdown", "--pool", "corp"])
        .env("IPAM_DATABASE_URL", &as_auditor)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let md = String::from_utf8_lossy(&out.stdout);
    assert!(md.contains("| 10.0.0.0/16 | 3 |"), "{md}");
    // A pool that is not there, and a database that is not there: one line each.
    for (args, want) in [
        (
            vec!["--database", as_auditor.as_str(), "--pool", "nope"],
            "no pool named \"nope\"",
        ),
        (
            vec![
                "--database",
                "host=/nonexistent dbname=x user=u password=secret-Pa55 connect_timeout=2",
                "--pool",
                "corp",
            ],
            "could not connect",
        ),
    ] {
        let (code, out, err) = run_report(&args, "");
        assert_eq!(code, Some(1), "{err}");
        assert!(out.is_empty());
        assert!(err.contains(want), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(
            !err.contains("secret-Pa55") && !err.contains("auditor-Pa55"),
            "{err}"
        );
    }
}

/// The shared ledger: a shared pool and two owners in one state, and the data source
/// that reads every owner's blocks. Both maps show both owners' blocks.
#[test]
fn report_of_a_shared_pool_shows_every_owner() {
    let db = common::pg::cluster().new_database("report_shared");
    let w = Workdir::new(
        r#"
resource "ipam_shared_pool" "corp" {
  name     = "corp"
  cidrs    = ["10.0.0.0/16"]
  reserved = ["10.0.255.0/24"]
}
resource "ipam_shared_allocations" "team_a" {
  pool        = ipam_shared_pool.corp.id
  owner       = "team-a"
  allocations = { web = { prefix_length = 24 }, api = { prefix_length = 22 } }
}
resource "ipam_shared_allocations" "team_b" {
  pool        = ipam_shared_pool.corp.id
  owner       = "team-b"
  allocations = { db = { prefix_length = 20, description = "databases" } }
}
data "ipam_shared_pool" "corp" {
  name       = ipam_shared_pool.corp.id
  depends_on = [ipam_shared_allocations.team_a, ipam_shared_allocations.team_b]
}
"#,
    )
    .with_env("IPAM_DATABASE_URL", &common::pg::cluster().url(&db));
    w.apply();
    let show = w.tf(&["show", "-json"]).ok();
    let state = show.json();
    let html = report(&[], &show.stdout);
    let a = common::cidrs(&w.resource("ipam_shared_allocations.team_a"));
    let b = common::cidrs(&w.resource("ipam_shared_allocations.team_b"));
    let owners: Vec<(String, &String)> = a
        .iter()
        .map(|(n, c)| (format!("team-a/{n}"), c))
        .chain(b.iter().map(|(n, c)| (format!("team-b/{n}"), c)))
        .collect();
    assert_eq!(owners.len(), 3);
    // The managed pool's section and the data source's section each draw all three.
    let sections: Vec<&str> = html.split("<section ").skip(1).collect();
    assert_eq!(sections.len(), 2, "{html}");
    for s in &sections {
        for (name, cidr) in &owners {
            let attrs = format!(r#"data-name="{name}" data-cidr="{cidr}""#);
            assert!(s.contains(&attrs), "{attrs} missing in a section");
        }
    }
    assert!(html.contains("data.ipam_shared_pool"));
    let md = report(&["--format", "markdown"], &show.stdout);
    assert!(
        md.contains("| `ipam_shared_pool.corp` | 10.0.0.0/16 | 3 |"),
        "{md}"
    );
    assert!(
        state["values"]["root_module"]["resources"]
            .as_array()
            .unwrap()
            .len()
            >= 4
    );
    w.tf(&["destroy", "-no-color", "-auto-approve"]).ok();
}

#[test]
fn bad_input_and_flags_are_errors_not_panics() {
    let run = |args: &[&str], input: &str| {
        let (code, _, err) = run_report(args, input);
        (code, err)
    };
    let (code, err) = run(&[], "not json");
    assert_eq!(code, Some(1));
    assert!(
        err.contains("not the JSON of `terraform show -json`"),
        "{err}"
    );
    let (code, err) = run(&["--format", "pdf"], "{}");
    assert_eq!(code, Some(2));
    assert!(err.contains("use html, svg or markdown"), "{err}");
    let (code, err) = run(&["/nonexistent/state.json"], "");
    assert_eq!(code, Some(1));
    assert!(err.contains("cannot read /nonexistent/state.json"), "{err}");
    // An empty state is a page saying there is nothing to draw.
    let (code, _) = run(&[], r#"{"format_version":"1.0"}"#);
    assert_eq!(code, Some(0));
}
