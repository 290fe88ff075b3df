//! A private PostgreSQL cluster per test process: `initdb` and `pg_ctl` (as the
//! `postgres` OS user when the tests run as root, which PostgreSQL refuses to run as),
//! a unix socket in a temporary directory, no TCP, password authentication. The tests
//! connect as `ipam_owner`, a database owner who is not a superuser. A watchdog stops
//! the cluster when the test process exits.
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

pub const OWNER: &str = "ipam_owner";
pub const OWNER_PASSWORD: &str = "owner-Pa55-do-not-print";
const SUPER_PASSWORD: &str = "super-Pa55";

pub struct Cluster {
    pub dir: PathBuf,
    pub socket_dir: PathBuf,
    bin: PathBuf,
    run_as_postgres: bool,
    pub tls: Option<Tls>,
}

/// How a TLS cluster is reached: TLS needs TCP, PostgreSQL never speaks it on a unix
/// socket.
#[derive(Clone)]
pub struct Tls {
    /// The TCP port on 127.0.0.1.
    pub port: u16,
    /// The certificates' files.
    pub certs: Certificates,
}

/// The PEM files of a TLS cluster.
#[derive(Clone)]
pub struct Certificates {
    /// The CA that signed the server's certificate, which names `localhost` only.
    pub ca: PathBuf,
    /// Another CA, which signed nothing here.
    pub other_ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
}

/// A CA and a server certificate for `localhost` signed by it; and another CA's PEM.
fn certificates(dir: &Path) -> Certificates {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let ca = |name: &str| {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
    };
    let ours = ca("ipam test CA");
    let other = ca("some other CA");
    let key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&key, &ours)
        .unwrap();
    let certs = Certificates {
        ca: dir.join("ca.pem"),
        other_ca: dir.join("other-ca.pem"),
        server_cert: dir.join("server.crt"),
        server_key: dir.join("server.key"),
    };
    std::fs::write(&certs.ca, ours.pem()).unwrap();
    std::fs::write(&certs.other_ca, other.pem()).unwrap();
    std::fs::write(&certs.server_cert, server.pem()).unwrap();
    std::fs::write(&certs.server_key, key.serialize_pem()).unwrap();
    std::fs::set_permissions(&certs.server_key, std::fs::Permissions::from_mode(0o600)).unwrap();
    certs
}

fn bin_dir() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").is_file())
        .collect();
    found.sort();
    found.pop().expect(
        "PostgreSQL server binaries not found under /usr/lib/postgresql: apt-get install postgresql",
    )
}

fn is_root() -> bool {
    // `id -u` rather than libc's getuid: no unsafe code in the tests.
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl Cluster {
    fn cmd(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.run_as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    fn start(with_tls: bool) -> Cluster {
        let bin = bin_dir();
        let run_as_postgres = is_root();
        let dir = std::env::temp_dir().join(format!(
            "ipam-pg-{}{}",
            std::process::id(),
            if with_tls { "-tls" } else { "" }
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let socket_dir = dir.join("sock");
        std::fs::create_dir_all(&socket_dir).unwrap();
        let pwfile = dir.join("pw");
        std::fs::write(&pwfile, SUPER_PASSWORD).unwrap();
        let certs = with_tls.then(|| certificates(&dir));
        let mut owned = vec![dir.clone(), socket_dir.clone(), pwfile.clone()];
        if let Some(c) = &certs {
            owned.extend([c.server_cert.clone(), c.server_key.clone()]);
        }
        if run_as_postgres {
            for p in &owned {
                let ok = Command::new("chown")
                    .args(["postgres:postgres"])
                    .arg(p)
                    .status()
                    .unwrap()
                    .success();
                assert!(ok, "chown postgres {}", p.display());
            }
        }
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        let port = with_tls.then(|| {
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        });
        let c = Cluster {
            dir: dir.clone(),
            socket_dir: socket_dir.clone(),
            bin,
            run_as_postgres,
            tls: port
                .zip(certs.clone())
                .map(|(port, certs)| Tls { port, certs }),
        };
        let out = c
            .cmd("initdb")
            .arg("-D")
            .arg(dir.join("data"))
            .args([
                "-U",
                "postgres",
                "-A",
                "scram-sha-256",
                "--no-sync",
                "-E",
                "UTF8",
            ])
            .arg(format!("--pwfile={}", pwfile.display()))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut options = format!(
            "-c unix_socket_directories={} -c fsync=off -c max_connections=200",
            socket_dir.display()
        );
        match (&certs, port) {
            (Some(certs), Some(port)) => {
                // TCP on the loopback only, and only with TLS.
                std::fs::write(
                    dir.join("data/pg_hba.conf"),
                    "local all all scram-sha-256\nhostssl all all 127.0.0.1/32 scram-sha-256\n",
                )
                .unwrap();
                options.push_str(&format!(
                    " -c listen_addresses=127.0.0.1 -c port={port} -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                    certs.server_cert.display(),
                    certs.server_key.display()
                ));
            }
            _ => options.push_str(" -c listen_addresses=''"),
        }
        let out = c
            .cmd("pg_ctl")
            .arg("-D")
            .arg(dir.join("data"))
            .arg("-l")
            .arg(dir.join("log"))
            .arg("-o")
            .arg(options)
            .args(["-w", "start"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            std::fs::read_to_string(dir.join("log")).unwrap_or_default()
        );
        // Stop the cluster when this test process ends, however it ends.
        let stop = format!(
            "while [ -d /proc/{pid} ]; do sleep 0.5; done; {pg_ctl} -D {data} -m immediate stop >/dev/null 2>&1; rm -rf {dir}",
            pid = std::process::id(),
            pg_ctl = c.bin.join("pg_ctl").display(),
            data = dir.join("data").display(),
            dir = dir.display(),
        );
        let mut watchdog = if run_as_postgres {
            let mut w = Command::new("runuser");
            w.args(["-u", "postgres", "--", "sh", "-c", &stop]);
            w
        } else {
            let mut w = Command::new("sh");
            w.args(["-c", &stop]);
            w
        };
        // Never waited for: it outlives this process by design.
        #[allow(clippy::zombie_processes)]
        watchdog
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the watchdog");
        c.psql_super(
            "postgres",
            &format!("CREATE ROLE {OWNER} LOGIN PASSWORD '{OWNER_PASSWORD}' NOSUPERUSER NOCREATEDB NOCREATEROLE"),
        );
        c
    }

    /// Runs SQL as the superuser; panics on failure.
    pub fn psql_super(&self, db: &str, sql: &str) -> String {
        self.psql_as("postgres", SUPER_PASSWORD, db, sql)
    }

    /// Runs SQL as the database owner; panics on failure.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        self.psql_as(OWNER, OWNER_PASSWORD, db, sql)
    }

    /// Runs SQL as the database owner; returns whether it succeeded and stderr.
    pub fn psql_try(&self, db: &str, sql: &str) -> (bool, String) {
        let out = self
            .psql_command(OWNER, OWNER_PASSWORD, db, sql)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn psql_command(&self, user: &str, password: &str, db: &str, sql: &str) -> Command {
        let mut c = Command::new(self.bin.join("psql"));
        c.arg("-h")
            .arg(&self.socket_dir)
            .arg("-p")
            .arg(self.port().to_string())
            .args([
                "-U",
                user,
                "-d",
                db,
                "-X",
                "-q",
                "-t",
                "-A",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ])
            .env("PGPASSWORD", password);
        c
    }

    fn psql_as(&self, user: &str, password: &str, db: &str, sql: &str) -> String {
        let out = self.psql_command(user, password, db, sql).output().unwrap();
        assert!(
            out.status.success(),
            "psql failed: {sql}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Restarts the server (`pg_ctl restart -m fast`): every connection is dropped.
    pub fn restart(&self) {
        let out = self
            .cmd("pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .arg("-l")
            .arg(self.dir.join("log"))
            .args(["-m", "fast", "-w", "restart"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl restart failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            self.log()
        );
    }

    /// The port (also the unix socket's name).
    pub fn port(&self) -> u16 {
        self.tls.as_ref().map(|t| t.port).unwrap_or(5432)
    }

    /// A fresh database owned by [`OWNER`]; returns its name.
    pub fn new_database(&self, prefix: &str) -> String {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!("{prefix}_{}", N.fetch_add(1, Ordering::SeqCst));
        self.psql_super("postgres", &format!("CREATE DATABASE {name} OWNER {OWNER}"));
        name
    }

    /// The key=value connection string of a database, as the owner.
    pub fn url(&self, db: &str) -> String {
        format!(
            "host={} port={} dbname={db} user={OWNER} password={OWNER_PASSWORD} sslmode=disable",
            self.socket_dir.display(),
            self.port()
        )
    }

    /// The key=value connection string of a database, as another role.
    pub fn url_as(&self, db: &str, user: &str, password: &str) -> String {
        self.url(db)
            .replace(&format!("user={OWNER} "), &format!("user={user} "))
            .replace(OWNER_PASSWORD, password)
    }

    /// Runs SQL as `user`: whether it succeeded, its output and its errors.
    pub fn psql_role(
        &self,
        user: &str,
        password: &str,
        db: &str,
        sql: &str,
    ) -> (bool, String, String) {
        let out = self.psql_command(user, password, db, sql).output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// The same as a URL (the socket directory percent-encoded as the host).
    pub fn url_form(&self, db: &str) -> String {
        let host: String = self.socket_dir.display().to_string().replace('/', "%2F");
        format!("postgresql://{OWNER}:{OWNER_PASSWORD}@{host}/{db}?sslmode=disable")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }
}

/// The cluster of this test process, started on first use.
pub fn cluster() -> &'static Cluster {
    static C: OnceLock<Cluster> = OnceLock::new();
    C.get_or_init(|| Cluster::start(false))
}

/// A second cluster that also listens on 127.0.0.1 with TLS only (see [`Cluster::tls`]).
pub fn tls_cluster() -> &'static Cluster {
    static C: OnceLock<Cluster> = OnceLock::new();
    C.get_or_init(|| Cluster::start(true))
}
