//! The go-plugin handshake of the built binary, driven by a test client: the cookie,
//! the handshake line, the private socket, pinned-certificate mTLS, Shutdown.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use hyper_util::rt::TokioIo;
use ipam::tfplugin::proto::plugin::grpc_controller_client::GrpcControllerClient;
use ipam::tfplugin::proto::tfplugin6::provider_client::ProviderClient;
use ipam::tfplugin::proto::tfplugin6::{
    call_function, get_functions, get_metadata, get_provider_schema, DynamicValue,
};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tonic::transport::{Channel, Endpoint, Uri};

const BIN: &str = env!("CARGO_BIN_EXE_terraform-provider-ipam");
const COOKIE: &str = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2";

/// A client certificate as Terraform makes one: self-signed ECDSA P-521, CA:TRUE.
fn client_identity() -> (String, CertificateDer<'static>, PrivateKeyDer<'static>) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512).unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).unwrap();
    (
        cert.pem(),
        cert.der().clone(),
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    )
}

struct Plugin {
    child: Child,
    socket: PathBuf,
    server_cert: Vec<u8>,
}

fn launch(client_pem: Option<&str>, disable_tls: bool) -> Plugin {
    let mut cmd = Command::new(BIN);
    cmd.env("TF_PLUGIN_MAGIC_COOKIE", COOKIE)
        .env("PLUGIN_PROTOCOL_VERSIONS", "6,5")
        .env("PLUGIN_MIN_PORT", "10000")
        .env("PLUGIN_MAX_PORT", "25000")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(pem) = client_pem {
        cmd.env("PLUGIN_CLIENT_CERT", pem);
    }
    if disable_tls {
        cmd.env("TF_DISABLE_PLUGIN_TLS", "1");
    }
    let mut child = cmd.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let fields: Vec<&str> = line.trim_end().split('|').collect();
    assert_eq!(fields.len(), 6, "handshake line {line:?}");
    assert_eq!(&fields[..3], ["1", "6", "unix"]);
    assert_eq!(fields[4], "grpc");
    let server_cert = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(fields[5])
        .unwrap();
    Plugin {
        child,
        socket: PathBuf::from(fields[3]),
        server_cert,
    }
}

impl Drop for Plugin {
    /// A failed assertion must not leave the plugin running (it holds the test's stderr).
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Trusts exactly the server certificate from the handshake line, as go-plugin does.
#[derive(Debug)]
struct PinnedServer(Vec<u8>, Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for PinnedServer {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.0.as_slice() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(
                "unexpected server certificate".into(),
            ))
        }
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.1.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.1.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.1.signature_verification_algorithms.supported_schemes()
    }
}

async fn connect(
    p: &Plugin,
    identity: Option<(CertificateDer<'static>, PrivateKeyDer<'static>)>,
    tls: bool,
) -> Result<Channel, tonic::transport::Error> {
    let socket = p.socket.clone();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedServer(p.server_cert.clone(), provider)));
    let mut config = match identity {
        Some((cert, key)) => builder.with_client_auth_cert(vec![cert], key).unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    let config = Arc::new(config);
    Endpoint::try_from("http://localhost")
        .unwrap()
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let (socket, config) = (socket.clone(), config.clone());
            async move {
                let s = tokio::net::UnixStream::connect(socket).await?;
                if !tls {
                    return Ok::<_, std::io::Error>(TokioIo::new(Box::new(s) as Box<dyn IoStream>));
                }
                let name = ServerName::try_from("localhost").unwrap();
                let t = tokio_rustls::TlsConnector::from(config)
                    .connect(name, s)
                    .await?;
                Ok(TokioIo::new(Box::new(t) as Box<dyn IoStream>))
            }
        }))
        .await
}

trait IoStream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin> IoStream for T {}

async fn schema_call(ch: Channel) -> Result<usize, tonic::Status> {
    let r = ProviderClient::new(ch)
        .get_provider_schema(get_provider_schema::Request {})
        .await?;
    Ok(r.into_inner().resource_schemas.len())
}

fn wait_exit(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(s) = child.try_wait().unwrap() {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

#[test]
fn run_by_hand_prints_a_hint_and_exits_2() {
    let out = Command::new(BIN)
        .env_remove("TF_PLUGIN_MAGIC_COOKIE")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Terraform plugin"));
    let v = Command::new(BIN).arg("--version").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&v.stdout).trim(),
        format!("terraform-provider-ipam {}", env!("CARGO_PKG_VERSION"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_accepts_only_the_pinned_client_certificate_and_shutdown_exits() {
    let (pem, cert, key) = client_identity();
    let mut p = launch(Some(&pem), false);
    let dir = p.socket.parent().unwrap().to_path_buf();
    assert_eq!(
        std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
    assert!(!p.server_cert.is_empty());

    // The pinned certificate gets through.
    let ch = connect(&p, Some((cert, key)), true)
        .await
        .expect("connect with the pinned certificate");
    assert_eq!(
        schema_call(ch.clone()).await.unwrap(),
        ipam::provider::resources().len()
    );
    let meta = ProviderClient::new(ch.clone())
        .get_metadata(get_metadata::Request {})
        .await
        .unwrap()
        .into_inner();
    assert!(
        meta.server_capabilities
            .unwrap()
            .get_provider_schema_optional
    );

    // Another certificate, or none, is refused.
    let (_, other_cert, other_key) = client_identity();
    let refused = match connect(&p, Some((other_cert, other_key)), true).await {
        Ok(ch) => schema_call(ch).await.is_err(),
        Err(_) => true,
    };
    assert!(refused, "a client with another certificate was served");
    let refused = match connect(&p, None, true).await {
        Ok(ch) => schema_call(ch).await.is_err(),
        Err(_) => true,
    };
    assert!(refused, "a client without a certificate was served");
    // A plain-text client is refused too.
    let refused = match connect(&p, None, false).await {
        Ok(ch) => schema_call(ch).await.is_err(),
        Err(_) => true,
    };
    assert!(refused, "a plain-text client was served");

    // Shutdown ends the process promptly and removes the private directory.
    let start = Instant::now();
    GrpcControllerClient::new(ch)
        .shutdown(ipam::tfplugin::proto::plugin::Empty {})
        .await
        .unwrap();
    let status = wait_exit(&mut p.child, Duration::from_secs(2))
        .expect("plugin still running after Shutdown");
    assert!(status.success());
    assert!(
        start.elapsed() < Duration::from_millis(1500),
        "exit took {:?}",
        start.elapsed()
    );
    assert!(!dir.exists(), "socket directory left behind");
}

/// Functions over the wire: listed in GetFunctions, GetProviderSchema and GetMetadata;
/// a bad argument, an undecodable one, a wrong count and an unknown name are all
/// `FunctionError`s in a successful response, never gRPC errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_function_answers_errors_in_the_response() {
    let mut p = launch(None, true);
    let ch = connect(&p, None, false).await.unwrap();
    let mut c = ProviderClient::new(ch.clone());
    let names = ipam::provider::functions::all().len();
    let listed = c
        .get_functions(get_functions::Request {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.functions.len(), names);
    let f = &listed.functions["gke_prefix_lengths"];
    assert_eq!(f.parameters.len(), 3);
    assert_eq!(f.parameters[1].name, "max_pods_per_node");
    let schema = c
        .get_provider_schema(get_provider_schema::Request {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(schema.functions.len(), names);
    let meta = c
        .get_metadata(get_metadata::Request {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(meta.functions.len(), names);

    let msgpack = |v: rmpv::Value| {
        let mut b = Vec::new();
        rmpv::encode::write_value(&mut b, &v).unwrap();
        DynamicValue {
            msgpack: b,
            json: vec![],
        }
    };
    let call = |name: &str, args: Vec<DynamicValue>| {
        let mut c = ProviderClient::new(ch.clone());
        let name = name.to_string();
        async move {
            c.call_function(call_function::Request {
                name,
                arguments: args,
            })
            .await
            .expect("CallFunction never fails at the gRPC level")
            .into_inner()
        }
    };
    // A good call: msgpack in, msgpack out.
    let ok = call(
        "cidr_contains",
        vec![msgpack("10.0.0.0/8".into()), msgpack("10.1.0.0/16".into())],
    )
    .await;
    assert!(ok.error.is_none());
    assert_eq!(ok.result.unwrap().msgpack, vec![0xc3]); // msgpack true
                                                        // A number sent as decimal text, as Terraform sends one that is not a float64.
    let text = call("gke_pod_prefix_per_node", vec![msgpack("110".into())]).await;
    assert_eq!(text.result.unwrap().msgpack, vec![24]);
    // A bad value: the argument's index.
    let bad = call(
        "cidr_overlaps",
        vec![msgpack("10.0.0.0/8".into()), msgpack("10.0.0.1/8".into())],
    )
    .await;
    let e = bad.error.unwrap();
    assert_eq!(e.function_argument, Some(1));
    assert_eq!(
        e.text,
        "\"10.0.0.1/8\" has host bits set; did you mean 10.0.0.0/8"
    );
    // Bytes that are not a value of the parameter's type.
    let garbage = call(
        "cidr_facts",
        vec![DynamicValue {
            msgpack: vec![0xc1],
            json: vec![],
        }],
    )
    .await;
    assert_eq!(garbage.error.unwrap().function_argument, Some(0));
    // Wrong arity and unknown names.
    let arity = call("cidr_facts", vec![]).await;
    assert!(arity
        .error
        .unwrap()
        .text
        .contains("takes 1 argument, got 0"));
    let none = call("nope", vec![]).await;
    assert!(none.error.unwrap().text.contains("no function \"nope\""));
    // An unknown nested in a list makes the result unknown (msgpack extension 0).
    let unknown = rmpv::Value::Ext(0, vec![0]);
    let list = call(
        "cidr_merge",
        vec![msgpack(rmpv::Value::Array(vec![
            "10.0.0.0/8".into(),
            unknown,
        ]))],
    )
    .await;
    assert!(list.error.is_none());
    assert_eq!(list.result.unwrap().msgpack[0], 0xd4); // fixext 1: unknown

    GrpcControllerClient::new(ch)
        .shutdown(ipam::tfplugin::proto::plugin::Empty {})
        .await
        .unwrap();
    assert!(wait_exit(&mut p.child, Duration::from_secs(2)).is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_disabled_serves_plain_text() {
    let mut p = launch(Some("ignored when TLS is disabled"), true);
    assert!(p.server_cert.is_empty());
    let ch = connect(&p, None, false).await.unwrap();
    assert_eq!(
        schema_call(ch.clone()).await.unwrap(),
        ipam::provider::resources().len()
    );
    GrpcControllerClient::new(ch)
        .shutdown(ipam::tfplugin::proto::plugin::Empty {})
        .await
        .unwrap();
    assert!(wait_exit(&mut p.child, Duration::from_secs(2)).is_some());
}
