//! HTTPS: the client against httpd's connection handler behind a rustls
//! server, with a test CA made by rcgen: a whole fetch and a resume, an
//! unknown CA refused, a name mismatch refused, https without roots refused.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use fetch::{Client, Error, Fetched};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

struct Pki {
    ca_pem: String,
    chain: Vec<CertificateDer<'static>>,
    key: Vec<u8>,
}

/// A CA and a server certificate for `names`, signed by it.
fn pki(ca_name: &str, names: &[&str]) -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, ca_name);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let leaf = CertificateParams::new(names)
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    Pki {
        ca_pem: ca_cert.pem(),
        chain: vec![leaf.der().clone(), ca_cert.der().clone()],
        key: key.serialize_der(),
    }
}

/// A TLS connection as httpd's handler takes it.
struct Tls(rustls::StreamOwned<rustls::ServerConnection, TcpStream>);

impl Read for Tls {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for Tls {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

impl httpd::Timeouts for Tls {
    fn set_read_timeout(&mut self, t: Option<Duration>) -> std::io::Result<()> {
        self.0.sock.set_read_timeout(t)
    }
}

impl Drop for Tls {
    fn drop(&mut self) {
        self.0.conn.send_close_notify();
        let _ = self.0.flush();
    }
}

/// httpd's handler behind TLS, on a directory holding `blob`.
fn https_server(pki: &Pki, dir: &std::path::Path) -> SocketAddr {
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.key.clone()));
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(pki.chain.clone(), key)
        .unwrap();
    let config = Arc::new(config);
    let site = Arc::new(httpd::Site::new(dir).unwrap());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(tcp) = conn else { return };
            let config = Arc::clone(&config);
            let site = Arc::clone(&site);
            std::thread::spawn(move || {
                let peer = tcp.peer_addr().unwrap().ip();
                let conn = rustls::ServerConnection::new(config).unwrap();
                httpd::serve_connection(Tls(rustls::StreamOwned::new(conn, tcp)), peer, &site);
            });
        }
    });
    addr
}

fn client() -> Client {
    Client::new().read_timeout(Duration::from_secs(5))
}

#[test]
fn https_fetch_and_resume() {
    let pki = pki("clip test CA", &["127.0.0.1", "localhost"]);
    let repo = support::repo(300_000);
    let addr = https_server(&pki, repo.dir.path());
    let client = client().with_roots_pem(pki.ca_pem.as_bytes()).unwrap();
    for host in [
        format!("127.0.0.1:{}", addr.port()),
        format!("localhost:{}", addr.port()),
    ] {
        let url = format!("https://{host}/blob");
        let mut sink = Vec::new();
        let got = client.fetch(&url, 0, 1 << 20, &mut sink).unwrap();
        assert_eq!(
            got,
            Fetched {
                status: 200,
                start: 0,
                received: 300_000
            }
        );
        assert!(sink == repo.blob, "sink differs: {} bytes", sink.len());
        let mut sink = repo.blob[..123_456].to_vec();
        let got = client.fetch(&url, 123_456, 1 << 20, &mut sink).unwrap();
        assert_eq!(
            got,
            Fetched {
                status: 206,
                start: 123_456,
                received: 300_000 - 123_456
            }
        );
        assert!(sink == repo.blob, "sink differs: {} bytes", sink.len());
    }
    let url = format!("https://127.0.0.1:{}/nope", addr.port());
    let err = client.fetch(&url, 0, 10, &mut Vec::new()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{url}: server answered 404 Not Found")
    );
}

#[test]
fn untrusted_servers_are_refused() {
    let pki_served = pki("clip test CA", &["127.0.0.1"]);
    let other = pki("another CA", &["127.0.0.1"]);
    let repo = support::repo(10);
    let addr = https_server(&pki_served, repo.dir.path());
    let url = format!("https://127.0.0.1:{}/blob", addr.port());
    // Another CA.
    let stranger = client().with_roots_pem(other.ca_pem.as_bytes()).unwrap();
    let err = stranger.fetch(&url, 0, 100, &mut Vec::new()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{url}: TLS handshake failed: invalid peer certificate: UnknownIssuer")
    );
    assert!(!err.is_transient());
    // The right CA, another name.
    let trusting = client()
        .with_roots_pem(pki_served.ca_pem.as_bytes())
        .unwrap();
    let url = format!("https://localhost:{}/blob", addr.port());
    let err = trusting.fetch(&url, 0, 100, &mut Vec::new()).unwrap_err();
    assert!(
        err.to_string().starts_with(&format!("{url}: TLS handshake failed: invalid peer certificate: certificate not valid for name \"localhost\"")),
        "{err}"
    );
    // No roots at all.
    let err = client().fetch(&url, 0, 100, &mut Vec::new()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{url}: https needs trust roots, and none were given")
    );
    assert!(matches!(err, Error::NoTrustRoots { .. }));
    let err = client().with_roots_pem(b"no PEM here").unwrap_err();
    assert_eq!(
        err.to_string(),
        "trust roots: no certificate in the PEM bundle"
    );
    // The same check without a client (clip build's, for a product's CA).
    let err = fetch::check_roots_pem(b"no PEM here").unwrap_err();
    assert_eq!(
        err.to_string(),
        "trust roots: no certificate in the PEM bundle"
    );
    let both = format!("{}{}", pki_served.ca_pem, other.ca_pem);
    assert_eq!(fetch::check_roots_pem(both.as_bytes()).unwrap(), 2);
}

struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A third-party TLS server: `openssl s_server -WWW` (HTTP/1.0, no length,
/// the body ends with the connection, ranges ignored), with a self-signed
/// certificate made by `openssl req` as the only root.
#[test]
fn openssl_s_server() {
    use std::process::{Command, Stdio};
    let repo = support::repo(250_000);
    let dir = repo.dir.path();
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ])
        .args([
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
        ])
        .args([
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
        ])
        .current_dir(dir)
        .stderr(Stdio::null())
        .status()
        .expect("openssl (the oracle) must be installed: ./dev installs it");
    assert!(status.success());
    let mut server = Killed(
        Command::new("openssl")
            .args([
                "s_server",
                "-WWW",
                "-accept",
                "127.0.0.1:0",
                "-cert",
                "cert.pem",
                "-key",
                "key.pem",
            ])
            .current_dir(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut out = std::io::BufReader::new(server.0.stdout.take().unwrap());
    let mut line = String::new();
    while !line.starts_with("ACCEPT ") {
        line.clear();
        assert_ne!(
            std::io::BufRead::read_line(&mut out, &mut line).unwrap(),
            0,
            "no ACCEPT line"
        );
    }
    let addr = line.trim().strip_prefix("ACCEPT ").unwrap();
    let pem = std::fs::read(dir.join("cert.pem")).unwrap();
    let client = client().with_roots_pem(&pem).unwrap();
    let url = format!("https://{addr}/blob");
    let mut sink = Vec::new();
    let got = client.fetch(&url, 0, 1 << 20, &mut sink).unwrap();
    assert_eq!(
        got,
        Fetched {
            status: 200,
            start: 0,
            received: 250_000
        }
    );
    assert!(sink == repo.blob, "sink differs: {} bytes", sink.len());
    // Ranges ignored: the sink starts over.
    let mut sink = vec![1; 1000];
    let got = client.fetch(&url, 1000, 1 << 20, &mut sink).unwrap();
    assert_eq!(
        got,
        Fetched {
            status: 200,
            start: 0,
            received: 250_000
        }
    );
    assert!(sink == repo.blob, "sink differs: {} bytes", sink.len());
    // The body ends with the connection: the limit is what stops it.
    let mut sink = Vec::new();
    let err = client.fetch(&url, 0, 100_000, &mut sink).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{url}: server sent 100001 bytes, more than the 100000 allowed")
    );
    assert_eq!(sink, repo.blob[..100_000]);
}
