//! The go-plugin handshake as Terraform expects it: magic cookie, a unix socket in a
//! private temporary directory, the handshake line on stdout, AutoMTLS with the client
//! certificate pinned to exactly the one Terraform gave in `PLUGIN_CLIENT_CERT`.
//!
//! The caller owns the listener and the shutdown signal ([`serve`]), so tests can bind
//! their own socket and drive the server with their own client.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use base64::Engine;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Notify;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use super::goplugin::{Broker, Controller, Stdio};
use super::server::ProviderService;
use crate::tfplugin::proto::plugin as gp;
use crate::tfplugin::proto::tfplugin6 as pb;

pub const MAGIC_COOKIE_KEY: &str = "TF_PLUGIN_MAGIC_COOKIE";
pub const MAGIC_COOKIE_VALUE: &str =
    "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2";
/// go-plugin's core protocol version, the first field of the handshake line.
pub const CORE_PROTOCOL_VERSION: u32 = 1;
/// The Terraform plugin protocol this provider speaks.
pub const APP_PROTOCOL_VERSION: u32 = 6;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum HandshakeError {
    #[error("this binary is a Terraform plugin and is not meant to be run by hand; Terraform starts it (see `terraform init`), or run it with --debug")]
    NoCookie,
    #[error("Terraform offered plugin protocol versions {offered:?}, but this provider speaks only version 6 (Terraform >= 1.0)")]
    NoCommonVersion { offered: String },
    #[error("PLUGIN_CLIENT_CERT holds no readable PEM certificate: {0}")]
    BadClientCert(String),
    #[error("could not set up TLS: {0}")]
    Tls(String),
}

/// What the environment Terraform set up asks of the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Env {
    /// PEM of the client certificate to pin; `None` means plain (no TLS).
    pub client_cert: Option<String>,
}

/// Reads the handshake environment through `get` (so tests need not touch the
/// process environment).
///
/// ```
/// use ipam::tfplugin::handshake::{parse_env, HandshakeError, MAGIC_COOKIE_VALUE};
/// let env = |k: &str| match k {
///     "TF_PLUGIN_MAGIC_COOKIE" => Some(MAGIC_COOKIE_VALUE.to_string()),
///     "PLUGIN_PROTOCOL_VERSIONS" => Some("5,6".to_string()),
///     _ => None,
/// };
/// assert_eq!(parse_env(env).unwrap().client_cert, None);
/// // Run by hand, without the cookie:
/// assert_eq!(parse_env(|_| None), Err(HandshakeError::NoCookie));
/// ```
pub fn parse_env(get: impl Fn(&str) -> Option<String>) -> Result<Env, HandshakeError> {
    if get(MAGIC_COOKIE_KEY).as_deref() != Some(MAGIC_COOKIE_VALUE) {
        return Err(HandshakeError::NoCookie);
    }
    // Terraform always sets the list; an absent one means a client that predates it.
    if let Some(offered) = get("PLUGIN_PROTOCOL_VERSIONS") {
        let ok = offered
            .split(',')
            .any(|v| v.trim().parse::<u32>() == Ok(APP_PROTOCOL_VERSION));
        if !ok {
            return Err(HandshakeError::NoCommonVersion { offered });
        }
    }
    let tls_disabled = get("TF_DISABLE_PLUGIN_TLS").is_some_and(|v| !v.is_empty());
    let client_cert = get("PLUGIN_CLIENT_CERT").filter(|c| !c.trim().is_empty() && !tls_disabled);
    Ok(Env { client_cert })
}

/// The handshake line Terraform reads from stdout.
pub fn handshake_line(socket: &Path, server_cert_der: Option<&[u8]>) -> String {
    let cert = server_cert_der
        .map(|d| base64::engine::general_purpose::STANDARD_NO_PAD.encode(d))
        .unwrap_or_default();
    format!(
        "{CORE_PROTOCOL_VERSION}|{APP_PROTOCOL_VERSION}|unix|{}|grpc|{cert}",
        socket.display()
    )
}

/// The private (0700) temporary directory holding the plugin's unix socket; the
/// directory and the socket are removed when this is dropped.
pub struct SocketDir {
    dir: tempfile::TempDir,
    path: PathBuf,
}

impl SocketDir {
    /// Creates the directory and binds the socket in it.
    pub fn bind() -> io::Result<(SocketDir, UnixListener)> {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::Builder::new()
            .prefix("tf-provider-ipam-")
            .tempdir()?;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))?;
        let path = dir.path().join("plugin.sock");
        let listener = UnixListener::bind(&path)?;
        Ok((SocketDir { dir, path }, listener))
    }
    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// Accepts exactly one client certificate, byte for byte. rustls' stock verifiers would
/// refuse Terraform's self-signed CA:TRUE certificate as a client certificate, and a
/// CA-based check would accept any certificate that CA signs.
#[derive(Debug)]
pub struct PinnedClientCert {
    cert: CertificateDer<'static>,
    provider: Arc<CryptoProvider>,
}

impl ClientCertVerifier for PinnedClientCert {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }
    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.cert.as_ref() {
            Ok(ClientCertVerified::assertion())
        } else {
            Err(rustls::Error::General(
                "client certificate is not the one Terraform pinned".into(),
            ))
        }
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
            &self.provider.signature_verification_algorithms,
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
            &self.provider.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
    fn client_auth_mandatory(&self) -> bool {
        true
    }
}

/// Parses the PEM Terraform passes in `PLUGIN_CLIENT_CERT`.
pub fn parse_client_cert(pem: &str) -> Result<CertificateDer<'static>, HandshakeError> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::from_pem_slice(pem.as_bytes())
        .map_err(|e| HandshakeError::BadClientCert(format!("{e:?}")))
}

/// A fresh server certificate (as go-plugin makes one: self-signed, for `localhost`)
/// and a TLS config that requires exactly `client_cert`. Returns the config and the
/// server certificate's DER for the handshake line.
pub fn server_tls(
    client_cert: CertificateDer<'static>,
) -> Result<(Arc<rustls::ServerConfig>, Vec<u8>), HandshakeError> {
    let tls = |e: &dyn std::fmt::Display| HandshakeError::Tls(e.to_string());
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|e| tls(&e))?;
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".to_string()]).map_err(|e| tls(&e))?;
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "HashiCorp");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "localhost");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::DigitalSignature,
        rcgen::KeyUsagePurpose::KeyEncipherment,
        rcgen::KeyUsagePurpose::KeyCertSign,
    ];
    params.extended_key_usages = vec![
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let cert = params.self_signed(&key).map_err(|e| tls(&e))?;
    let der = cert.der().to_vec();
    let verifier = Arc::new(PinnedClientCert {
        cert: client_cert,
        provider: provider.clone(),
    });
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls(&e))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .map_err(|e| tls(&e))?;
    // grpc-go refuses a TLS server that does not negotiate h2.
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok((Arc::new(config), der))
}

/// One accepted connection, plain or TLS.
pub enum Conn {
    Plain(UnixStream),
    Tls(Box<TlsStream<UnixStream>>),
}

impl tonic::transport::server::Connected for Conn {
    type ConnectInfo = ();
    fn connect_info(&self) -> Self::ConnectInfo {}
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Serves the provider on `listener` until `shutdown` completes or a client calls
/// `plugin.GRPCController/Shutdown`. With `tls`, every connection must present the
/// pinned client certificate; others are dropped after a failed TLS handshake.
pub async fn serve(
    service: ProviderService,
    listener: UnixListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    let stop = Arc::new(Notify::new());
    let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Conn>>(16);
    let acceptor = tls.map(TlsAcceptor::from);
    let accept_loop = tokio::spawn(async move {
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            };
            let tx = tx.clone();
            let acceptor = acceptor.clone();
            // Handshake per connection so one slow or hostile client blocks no other.
            tokio::spawn(async move {
                let conn = match acceptor {
                    None => Conn::Plain(stream),
                    Some(a) => match a.accept(stream).await {
                        Ok(s) => Conn::Tls(Box::new(s)),
                        Err(e) => {
                            tracing::warn!(error = %e, "refused a connection: TLS handshake failed");
                            return;
                        }
                    },
                };
                let _ = tx.send(Ok(conn)).await;
            });
        }
    });
    let incoming = tokio_stream::wrappers::ReceiverStream::new(rx);
    let controller = Controller {
        shutdown: stop.clone(),
    };
    let stopped = async move {
        tokio::select! {
            _ = stop.notified() => {},
            _ = shutdown => {},
        }
    };
    let result = tonic::transport::Server::builder()
        .add_service(
            pb::provider_server::ProviderServer::new(service).max_decoding_message_size(256 << 20),
        )
        .add_service(gp::grpc_controller_server::GrpcControllerServer::new(
            controller,
        ))
        .add_service(gp::grpc_stdio_server::GrpcStdioServer::new(Stdio))
        .add_service(gp::grpc_broker_server::GrpcBrokerServer::new(Broker))
        .serve_with_incoming_shutdown(incoming, stopped)
        .await;
    accept_loop.abort();
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]
        /// Arbitrary environments never panic the handshake parsing.
        #[test]
        fn env_parsing_never_panics(cookie in ".*", versions in ".*", cert in ".*", disabled in prop::option::of(".*")) {
            let env = |k: &str| match k {
                MAGIC_COOKIE_KEY => Some(cookie.clone()),
                "PLUGIN_PROTOCOL_VERSIONS" => Some(versions.clone()),
                "PLUGIN_CLIENT_CERT" => Some(cert.clone()),
                "TF_DISABLE_PLUGIN_TLS" => disabled.clone(),
                _ => None,
            };
            let _ = parse_env(env);
            let _ = parse_client_cert(&cert);
        }
    }

    #[test]
    fn versions_without_six_are_refused() {
        let env = |k: &str| match k {
            MAGIC_COOKIE_KEY => Some(MAGIC_COOKIE_VALUE.to_string()),
            "PLUGIN_PROTOCOL_VERSIONS" => Some("4,5".to_string()),
            _ => None,
        };
        assert!(matches!(
            parse_env(env),
            Err(HandshakeError::NoCommonVersion { .. })
        ));
    }

    #[test]
    fn disabled_tls_ignores_the_client_cert() {
        let env = |k: &str| match k {
            MAGIC_COOKIE_KEY => Some(MAGIC_COOKIE_VALUE.to_string()),
            "PLUGIN_CLIENT_CERT" => Some("-----BEGIN CERTIFICATE-----".to_string()),
            "TF_DISABLE_PLUGIN_TLS" => Some("1".to_string()),
            _ => None,
        };
        assert_eq!(parse_env(env).unwrap().client_cert, None);
    }

    #[test]
    fn handshake_line_has_six_fields_and_no_padding() {
        let line = handshake_line(Path::new("/tmp/x/plugin.sock"), Some(&[1, 2, 3, 4]));
        assert_eq!(line, "1|6|unix|/tmp/x/plugin.sock|grpc|AQIDBA");
    }
}
