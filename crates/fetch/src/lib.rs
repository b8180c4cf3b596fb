//! Blocking HTTP/1.1 `GET` (RFC 9110, RFC 9112) over TCP, or TLS with rustls
//! and the ring provider, for the on-device update daemon: one object into
//! a [`Sink`] with a hard size limit, connect and read timeouts, and resume
//! (`Range: bytes=N-`, RFC 9110 §14.2) from the bytes already held.
//!
//! A small client of our own rather than `ureq`: the daemon needs one GET at
//! a time with exact control over the limit (nothing past it is written,
//! whatever `Content-Length` says), the `Content-Range` check and the
//! restart when a server ignores the range; the response parser is ours to
//! fuzz (`fuzz/`), the head parsing is httparse's; the only other
//! dependency is rustls (ring: no cmake, links statically with
//! `+crt-static`). Not supported: redirects (a 3xx is an error naming it),
//! proxies, keep-alive (every request says `Connection: close`),
//! compression (identity is asked for, anything else refused).

mod error;
pub mod response;
mod url;

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

pub use error::Error;
pub use url::Url;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

/// Where the body goes.
pub trait Sink: Write {
    /// The server answered a resume with the whole object (200): drop every
    /// byte held, so that the next write is byte 0. Called before any byte of
    /// that answer is written.
    fn restart(&mut self) -> io::Result<()>;
}

impl Sink for Vec<u8> {
    fn restart(&mut self) -> io::Result<()> {
        self.clear();
        Ok(())
    }
}

impl Sink for File {
    fn restart(&mut self) -> io::Result<()> {
        self.set_len(0)?;
        self.seek(SeekFrom::Start(0)).map(drop)
    }
}

/// What one successful fetch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fetched {
    /// 200, 206 (resumed), or 416 (everything was held already).
    pub status: u16,
    /// Where this answer's bytes start in the object: the bytes held, or 0
    /// if the server sent the whole object again (the sink was restarted).
    pub start: u64,
    /// Bytes written to the sink by this fetch.
    pub received: u64,
}

impl Fetched {
    /// The object's length now held by the sink.
    pub fn len(&self) -> u64 {
        self.start + self.received
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A client: timeouts and trust roots. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Client {
    connect_timeout: Duration,
    read_timeout: Duration,
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl Default for Client {
    fn default() -> Self {
        Client {
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            tls: None,
        }
    }
}

/// The number of certificates in a PEM bundle that
/// [`Client::with_roots_pem`] would trust, or why it would refuse the
/// bundle (`clip build` checks a product's CA with it).
pub fn check_roots_pem(pem: &[u8]) -> Result<usize, Error> {
    Ok(roots_from_pem(pem)?.len())
}

fn roots_from_pem(pem: &[u8]) -> Result<rustls::RootCertStore, Error> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem) {
        let cert = cert.map_err(|e| Error::Roots {
            reason: format!("cannot read PEM: {e}"),
        })?;
        roots.add(cert).map_err(|e| Error::Roots {
            reason: format!("unusable certificate: {e}"),
        })?;
    }
    if roots.is_empty() {
        return Err(Error::Roots {
            reason: "no certificate in the PEM bundle".to_owned(),
        });
    }
    Ok(roots)
}

impl Client {
    /// Plain HTTP only, 10 s to connect, 30 s for any read.
    pub fn new() -> Client {
        Client::default()
    }

    pub fn connect_timeout(mut self, timeout: Duration) -> Client {
        self.connect_timeout = timeout;
        self
    }

    /// The longest wait for any data (also for each write of the request).
    pub fn read_timeout(mut self, timeout: Duration) -> Client {
        self.read_timeout = timeout;
        self
    }

    /// Trusts the certificates of a PEM bundle (the only roots: no system
    /// store) for https URLs.
    pub fn with_roots_pem(mut self, pem: &[u8]) -> Result<Client, Error> {
        let roots = roots_from_pem(pem)?;
        // rustls 0.23.48 deprecates ring's provider for lacking post-quantum
        // key exchange (X25519MLKEM768, only in aws-lc-rs). Accepted: the
        // update's authenticity rests on the repository's signatures, not on
        // TLS, and ring builds without cmake and links with +crt-static.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Roots {
                reason: format!("TLS configuration: {e}"),
            })?
            .with_root_certificates(roots)
            .with_no_client_auth();
        self.tls = Some(Arc::new(config));
        Ok(self)
    }

    /// Fetches `url` into `sink`: the whole object, or when `held` is not 0
    /// its rest from byte `held` (`Range: bytes=held-`). At most `max_len`
    /// bytes in all: a response announcing more fails before its body, one
    /// sending more fails at byte `max_len + 1`, which is not written.
    pub fn fetch(
        &self,
        url: &str,
        held: u64,
        max_len: u64,
        sink: &mut dyn Sink,
    ) -> Result<Fetched, Error> {
        let parsed = Url::parse(url)?;
        if held > max_len {
            return Err(Error::HeldTooLarge {
                url: url.to_owned(),
                held,
                max: max_len,
            });
        }
        let tcp = self.connect(url, &parsed)?;
        let mut request = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: clip-fetch\r\nAccept-Encoding: identity\r\nConnection: close\r\n",
            parsed.target, parsed.authority
        );
        if held > 0 {
            request.push_str(&format!("Range: bytes={held}-\r\n"));
        }
        request.push_str("\r\n");
        let expect = response::Expect {
            url,
            held,
            max_len,
            read_timeout: self.read_timeout,
        };
        let send_error = |error| Error::Send {
            url: url.to_owned(),
            error,
        };
        if parsed.tls {
            let mut stream = self.handshake(url, &parsed, tcp)?;
            stream.write_all(request.as_bytes()).map_err(send_error)?;
            stream.flush().map_err(send_error)?;
            response::receive(stream, &expect, sink)
        } else {
            let mut stream = tcp;
            stream.write_all(request.as_bytes()).map_err(send_error)?;
            response::receive(stream, &expect, sink)
        }
    }

    /// [`Client::fetch`], fetched again from the bytes held after each
    /// transient failure ([`Error::is_transient`]), up to `attempts` times
    /// in all, waiting `pause` between them. Returns the last answer, or
    /// the last error.
    pub fn fetch_resuming(
        &self,
        url: &str,
        held: u64,
        max_len: u64,
        sink: &mut dyn Sink,
        attempts: u32,
        pause: Duration,
    ) -> Result<Fetched, Error> {
        let mut counting = Counting { sink, held };
        let mut tries = 0;
        loop {
            tries += 1;
            match self.fetch(url, counting.held, max_len, &mut counting) {
                Err(e) if e.is_transient() && tries < attempts => std::thread::sleep(pause),
                result => return result,
            }
        }
    }

    fn connect(&self, url: &str, parsed: &Url) -> Result<TcpStream, Error> {
        let addrs: Vec<SocketAddr> = (parsed.host.as_str(), parsed.port)
            .to_socket_addrs()
            .map_err(|error| Error::Resolve {
                url: url.to_owned(),
                host: parsed.host.clone(),
                error,
            })?
            .collect();
        let mut last = None;
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, self.connect_timeout) {
                Ok(stream) => {
                    let set = stream
                        .set_read_timeout(Some(self.read_timeout))
                        .and_then(|()| stream.set_write_timeout(Some(self.read_timeout)));
                    if let Err(error) = set {
                        last = Some((addr, error));
                        continue;
                    }
                    return Ok(stream);
                }
                Err(error) => last = Some((addr, error)),
            }
        }
        let (addr, error) = last.unwrap_or_else(|| {
            let none = SocketAddr::from(([0, 0, 0, 0], parsed.port));
            (none, io::Error::new(io::ErrorKind::NotFound, "no address"))
        });
        Err(Error::Connect {
            url: url.to_owned(),
            addr: addr.to_string(),
            error,
        })
    }

    fn handshake(
        &self,
        url: &str,
        parsed: &Url,
        mut tcp: TcpStream,
    ) -> Result<rustls::StreamOwned<rustls::ClientConnection, TcpStream>, Error> {
        let config = self.tls.clone().ok_or_else(|| Error::NoTrustRoots {
            url: url.to_owned(),
        })?;
        let name = ServerName::try_from(parsed.host.clone()).map_err(|_| Error::InvalidUrl {
            url: url.to_owned(),
            reason: "host is not a valid TLS server name",
        })?;
        let tls_error = |error| Error::Tls {
            url: url.to_owned(),
            error,
        };
        let mut conn = rustls::ClientConnection::new(config, name)
            .map_err(|e| tls_error(io::Error::other(e)))?;
        while conn.is_handshaking() {
            conn.complete_io(&mut tcp).map_err(tls_error)?;
        }
        Ok(rustls::StreamOwned::new(conn, tcp))
    }
}

/// Counts the bytes a sink holds across attempts.
struct Counting<'a> {
    sink: &'a mut dyn Sink,
    held: u64,
}

impl Write for Counting<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.sink.write(buf)?;
        self.held += u64::try_from(n).unwrap_or(u64::MAX);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.sink.flush()
    }
}

impl Sink for Counting<'_> {
    fn restart(&mut self) -> io::Result<()> {
        self.sink.restart()?;
        self.held = 0;
        Ok(())
    }
}
