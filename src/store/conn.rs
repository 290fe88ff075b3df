//! Connection strings and connecting: libpq-style URL or `key=value` strings, unix
//! socket hosts, and TLS through rustls.
//!
//! tokio-postgres parses the string but knows only `sslmode` `disable`, `prefer` and
//! `require`. The libpq modes `verify-ca` and `verify-full`, and `sslrootcert`, are
//! taken out here and applied to the rustls configuration:
//! - `disable`: no TLS. `prefer` (the default) and `require`: TLS (only `require`
//!   insists), the server's certificate not checked, as libpq does without a root
//!   certificate.
//! - `verify-ca`: the certificate must chain to `sslrootcert`. `verify-full`: and name
//!   the host. `sslrootcert` defaults to `~/.postgresql/root.crt`, as in libpq.
//! - `require` (or the default) with `sslrootcert` given verifies the chain, as
//!   `verify-ca` does: libpq does the same, and a user who names a root certificate
//!   expects it to be used.
//! - `sslrootcert=system`: the system's trusted roots (Debian's bundle, or
//!   `SSL_CERT_FILE`), and `verify-full`, as in PostgreSQL 16's libpq.
//!
//! Nothing here ever prints the connection string or the password.

use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use tokio_postgres::config::SslMode;
use tokio_postgres::{Client, Config, NoTls};

use super::{chain, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verify {
    None,
    Ca,
    Full,
}

/// How long connecting may take as a whole (TCP, TLS, authentication, session setup)
/// unless the string's `connect_timeout` says otherwise.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The server-side bound on one statement (`statement_timeout`), on top of the lock
/// wait, which `lock_timeout` bounds on its own.
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);

/// Set on every session: no function or operator planted in another schema (`public`)
/// is ever resolved, and no statement runs unbounded.
const SESSION_SETUP: &str = "SET search_path = pg_catalog, pg_temp";

/// A parsed connection string. Its `Debug` shows no password.
#[derive(Clone)]
pub struct ConnInfo {
    config: Config,
    verify: Verify,
    root_cert: Option<String>,
}

impl std::fmt::Debug for ConnInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnInfo")
            .field("user", &self.config.get_user())
            .field("dbname", &self.config.get_dbname())
            .field("verify", &self.verify)
            .finish_non_exhaustive()
    }
}

/// Takes the options tokio-postgres does not know out of a `key=value` string.
fn split_keyword_options(s: &str) -> Result<(String, Vec<(String, String)>), StoreError> {
    let bad =
        || StoreError::Connect("the connection string is not a valid URL or key=value list".into());
    let mut kept = String::new();
    let mut taken = Vec::new();
    let mut rest = s.trim_start();
    while !rest.is_empty() {
        let eq = rest.find('=').ok_or_else(bad)?;
        let key = rest[..eq].trim().to_string();
        let after = rest[eq + 1..].trim_start();
        let (raw, value, next) = if let Some(q) = after.strip_prefix('\'') {
            let mut value = String::new();
            let mut chars = q.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            value.push(n);
                        }
                    }
                    '\'' => {
                        end = Some(i);
                        break;
                    }
                    c => value.push(c),
                }
            }
            let end = end.ok_or_else(bad)?;
            (&after[..end + 2], value, &q[end + 1..])
        } else {
            let end = after.find(char::is_whitespace).unwrap_or(after.len());
            (&after[..end], after[..end].to_string(), &after[end..])
        };
        if key == "sslmode" && value.starts_with("verify") || key == "sslrootcert" {
            taken.push((key, value));
        } else {
            kept.push_str(&format!("{key}={raw} "));
        }
        rest = next.trim_start();
    }
    Ok((kept, taken))
}

/// Takes the options tokio-postgres does not know out of a URL's query.
fn split_url_options(s: &str) -> (String, Vec<(String, String)>) {
    let Some((base, query)) = s.split_once('?') else {
        return (s.to_string(), vec![]);
    };
    let mut kept = Vec::new();
    let mut taken = Vec::new();
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_encoding::percent_decode_str(v)
            .decode_utf8_lossy()
            .into_owned();
        if k == "sslmode" && value.starts_with("verify") || k == "sslrootcert" {
            taken.push((k.to_string(), value));
        } else {
            kept.push(pair);
        }
    }
    if kept.is_empty() {
        (base.to_string(), taken)
    } else {
        (format!("{base}?{}", kept.join("&")), taken)
    }
}

impl ConnInfo {
    /// Parses a libpq-style connection string.
    ///
    /// ```
    /// use ipam::store::ConnInfo;
    /// assert!(ConnInfo::parse("postgresql://ipam:secret@db.example.com/ipam?sslmode=verify-full").is_ok());
    /// assert!(ConnInfo::parse("host=/run/postgresql dbname=ipam user=ipam").is_ok());
    /// // A bad option is an error that does not echo the string (or its password).
    /// let err = ConnInfo::parse("postgresql://ipam:secret@db/ipam?sslmode=sometimes").unwrap_err();
    /// assert!(!err.to_string().contains("secret"));
    /// ```
    pub fn parse(s: &str) -> Result<ConnInfo, StoreError> {
        let s = s.trim();
        let (rest, taken) = if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            split_url_options(s)
        } else {
            split_keyword_options(s)?
        };
        let mut config: Config = rest.parse().map_err(|e: tokio_postgres::Error| {
            StoreError::Connect(format!("invalid connection string: {}", chain(&e)))
        })?;
        let mut verify = Verify::None;
        let mut root_cert = None;
        for (k, v) in taken {
            match (k.as_str(), v.as_str()) {
                ("sslmode", "verify-ca") => verify = Verify::Ca,
                ("sslmode", "verify-full") => verify = Verify::Full,
                ("sslmode", _) => {
                    return Err(StoreError::Connect(
                        "invalid sslmode: use disable, prefer, require, verify-ca or verify-full"
                            .into(),
                    ))
                }
                _ => root_cert = Some(v),
            }
        }
        match root_cert.as_deref() {
            Some("system") => verify = Verify::Full,
            Some(_) if verify == Verify::None && config.get_ssl_mode() != SslMode::Disable => {
                verify = Verify::Ca
            }
            _ => {}
        }
        if verify != Verify::None {
            config.ssl_mode(SslMode::Require);
        }
        if config.get_application_name().is_none() {
            config.application_name("terraform-provider-ipam");
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
        }
        // A peer that vanishes (a partition, a killed VM) is noticed in about a
        // minute, not after the kernel's two hours.
        config.keepalives(true);
        if config.get_keepalives_idle() == Duration::from_secs(2 * 3600) {
            config.keepalives_idle(Duration::from_secs(30));
        }
        if config.get_keepalives_interval().is_none() {
            config.keepalives_interval(Duration::from_secs(10));
        }
        if config.get_keepalives_retries().is_none() {
            config.keepalives_retries(3);
        }
        if config.get_hosts().is_empty() {
            // libpq's default: the local socket directory.
            config.host_path("/var/run/postgresql");
        }
        Ok(ConnInfo {
            config,
            verify,
            root_cert,
        })
    }

    fn tls(&self) -> Result<rustls::ClientConfig, StoreError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| StoreError::Connect(format!("TLS setup: {e}")))?;
        let verifier: Arc<dyn ServerCertVerifier> = match self.verify {
            Verify::None => Arc::new(NoVerify(provider)),
            Verify::Ca | Verify::Full => {
                let path = match &self.root_cert {
                    Some(p) if p == "system" => system_roots(),
                    Some(p) => std::path::PathBuf::from(p),
                    None => std::env::var_os("HOME")
                        .map(|h| std::path::Path::new(&h).join(".postgresql/root.crt"))
                        .unwrap_or_default(),
                };
                let pem = std::fs::read(&path).map_err(|e| {
                    StoreError::Connect(format!(
                        "sslmode verify-ca/verify-full needs the server's root certificate: cannot read sslrootcert {}: {e}",
                        path.display()
                    ))
                })?;
                let mut roots = rustls::RootCertStore::empty();
                for cert in rustls_pki_types::pem::PemObject::pem_slice_iter(&pem) {
                    let cert: CertificateDer<'static> = cert.map_err(|e| {
                        StoreError::Connect(format!("sslrootcert {}: {e}", path.display()))
                    })?;
                    let added = roots.add(cert);
                    // A system bundle may hold a root rustls cannot use; skip it there.
                    if self.root_cert.as_deref() != Some("system") {
                        added.map_err(|e| {
                            StoreError::Connect(format!("sslrootcert {}: {e}", path.display()))
                        })?;
                    }
                }
                let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                    .build()
                    .map_err(|e| StoreError::Connect(format!("TLS setup: {e}")))?;
                Arc::new(CheckChain {
                    inner: webpki,
                    names: self.verify == Verify::Full,
                })
            }
        };
        Ok(builder
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth())
    }

    /// The bound on connecting as a whole.
    pub fn connect_timeout(&self) -> Duration {
        self.config
            .get_connect_timeout()
            .copied()
            .unwrap_or(DEFAULT_CONNECT_TIMEOUT)
    }

    /// Opens a connection, bounded as a whole by [`Self::connect_timeout`] (tokio-postgres
    /// bounds only the TCP connect), with the session pinned: `search_path`, and
    /// `statement_timeout` above the lock wait `lock_timeout` allows.
    pub async fn connect(&self) -> Result<Client, StoreError> {
        let bound = self.connect_timeout();
        let client = match tokio::time::timeout(bound, self.connect_unbounded()).await {
            Ok(c) => c?,
            Err(_) => {
                return Err(StoreError::Connect(format!(
                    "no answer within {}s (TCP, TLS and authentication; set connect_timeout in the connection string to wait longer)",
                    bound.as_secs()
                )))
            }
        };
        let setup = format!(
            "{SESSION_SETUP}; SET statement_timeout = '{}s'",
            STATEMENT_TIMEOUT.as_secs()
        );
        match tokio::time::timeout(bound, client.batch_execute(&setup)).await {
            Ok(r) => r.map_err(|e| StoreError::Connect(chain(&e)))?,
            Err(_) => {
                return Err(StoreError::Connect(format!(
                    "no answer within {}s after authentication",
                    bound.as_secs()
                )))
            }
        }
        Ok(client)
    }

    async fn connect_unbounded(&self) -> Result<Client, StoreError> {
        let connect_err = |e: tokio_postgres::Error| StoreError::Connect(chain(&e));
        if self.config.get_ssl_mode() == SslMode::Disable {
            let (client, conn) = self.config.connect(NoTls).await.map_err(connect_err)?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            return Ok(client);
        }
        let tls = tokio_postgres_rustls::MakeRustlsConnect::new(self.tls()?);
        let (client, conn) = self.config.connect(tls).await.map_err(connect_err)?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(client)
    }
}

/// The system's bundle of trusted roots (`sslrootcert=system`).
fn system_roots() -> std::path::PathBuf {
    if let Some(f) = std::env::var_os("SSL_CERT_FILE") {
        return f.into();
    }
    [
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
        "/etc/ssl/cert.pem",
    ]
    .iter()
    .map(std::path::PathBuf::from)
    .find(|p| p.exists())
    .unwrap_or_else(|| "/etc/ssl/certs/ca-certificates.crt".into())
}

/// `sslmode=require`/`prefer`: encrypted, the certificate not checked (libpq's
/// behaviour without a root certificate). Signatures are still verified.
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca` (chain only) and `verify-full` (chain and host name).
#[derive(Debug)]
struct CheckChain {
    inner: Arc<WebPkiServerVerifier>,
    names: bool,
}

impl ServerCertVerifier for CheckChain {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.names => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_modes_and_root_cert_are_taken_out_of_both_forms() {
        let c = ConnInfo::parse("postgresql://u:pw@h:5433/d?sslmode=verify-full&sslrootcert=%2Ftmp%2Fca.pem&connect_timeout=3").unwrap();
        assert_eq!(c.verify, Verify::Full);
        assert_eq!(c.root_cert.as_deref(), Some("/tmp/ca.pem"));
        assert_eq!(c.config.get_ssl_mode(), SslMode::Require);
        assert_eq!(
            c.config.get_connect_timeout(),
            Some(&Duration::from_secs(3))
        );
        let k = ConnInfo::parse("host=/tmp/sock dbname=ipam password='a b\\'c' sslmode=verify-ca sslrootcert='/x y/ca.pem'").unwrap();
        assert_eq!(k.verify, Verify::Ca);
        assert_eq!(k.root_cert.as_deref(), Some("/x y/ca.pem"));
        assert_eq!(k.config.get_password(), Some(&b"a b'c"[..]));
        assert_eq!(k.config.get_dbname(), Some("ipam"));
        assert_eq!(
            k.config.get_hosts(),
            &[tokio_postgres::config::Host::Unix("/tmp/sock".into())]
        );
        let plain = ConnInfo::parse("postgresql:///ipam?host=/run/pg&sslmode=disable").unwrap();
        assert_eq!(plain.verify, Verify::None);
        assert_eq!(plain.config.get_ssl_mode(), SslMode::Disable);
    }

    #[test]
    fn debug_and_errors_never_show_the_password() {
        let c = ConnInfo::parse("postgresql://u:hunter2@h/d").unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
        for bad in [
            "postgresql://u:hunter2@h/d?sslmode=maybe",
            "postgresql://u:hunter2@h/d?nonsense=1",
            "user=u password=hunter2 sslmode=maybe",
            "user=u password='hunter2",
        ] {
            let e = ConnInfo::parse(bad).unwrap_err().to_string();
            assert!(!e.contains("hunter2"), "{bad}: {e}");
        }
    }
}
