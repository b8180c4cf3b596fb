//! A small static HTTP/1.1 file server (RFC 9110, RFC 9112) for update
//! repositories in tests and demos: `clip repo serve` runs it, and tests start
//! it in-process with [`Server::spawn`].
//!
//! Supported: `GET` and `HEAD` of regular files under one directory; one byte
//! range per request (`bytes=a-b`, `a-`, `-n`: 206 with `Content-Range`, 416
//! when unsatisfiable); `Content-Length`, `Accept-Ranges: bytes`,
//! `Last-Modified`; an access log in the Common Log Format, one flushed line
//! per request. Not supported, on purpose: multi-range requests (answered
//! 200 with the whole file, as RFC 9110 §14.2 allows), conditional requests
//! (`If-Range`, `ETag`), directory listings (404), keep-alive (every response
//! says `Connection: close`), request bodies.
//!
//! Refusals: 400 for a malformed head, 403 for a path that leaves the root
//! (`..`, a symbolic link pointing out: the file is canonicalized and must
//! stay under the canonical root), 404 for a missing file, 405 for any method
//! other than GET and HEAD, 431 for a head over [`Limits::max_head`] bytes,
//! 505 for HTTP versions other than 1.0 and 1.1.
//!
//! Threads, not async: one thread per connection, at most
//! [`Limits::max_connections`] at a time (others are closed at once), and a
//! deadline for the whole head ([`Limits::head_timeout`]) so that a client
//! sending one byte at a time cannot hold a thread.

pub mod clock;
pub mod request;
mod serve;

use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

pub use serve::serve_connection;

/// What can fail in starting the server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot listen on {addr}: {error}")]
    Bind { addr: String, error: io::Error },
    #[error("cannot serve {path}: {error}")]
    Root { path: PathBuf, error: io::Error },
    #[error("cannot serve {path}: not a directory")]
    RootNotDirectory { path: PathBuf },
}

/// Bounds on what one client may cost.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest request head, in bytes (answered 431 beyond).
    pub max_head: usize,
    /// Time a client has to send its whole head.
    pub head_timeout: Duration,
    /// Time one write of the response may block (a client not reading).
    pub write_timeout: Duration,
    /// Connections served at once; more are closed without an answer.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head: 8192,
            head_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(30),
            max_connections: 64,
        }
    }
}

/// A connection whose reads can be given a timeout (a `TcpStream`, or a TLS
/// stream over one in tests).
pub trait Timeouts {
    /// Sets the timeout of the next reads (`None`: block).
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()>;
}

impl Timeouts for TcpStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, timeout)
    }
}

/// The served directory, the access log and the limits: what every
/// connection shares.
#[derive(Debug)]
pub struct Site {
    root: PathBuf,
    log: Option<AccessLog>,
    limits: Limits,
}

/// The access log: one Common Log Format line per request, flushed at once.
pub struct AccessLog(Mutex<Box<dyn Write + Send>>);

impl std::fmt::Debug for AccessLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessLog")
    }
}

impl AccessLog {
    pub fn new(out: impl Write + Send + 'static) -> AccessLog {
        AccessLog(Mutex::new(Box::new(out)))
    }

    /// `peer - - [date] "line" status bytes` (bytes `-` when no body was sent).
    fn record(&self, peer: IpAddr, date: &clock::Utc, line: &[u8], status: u16, bytes: u64) {
        let bytes = if bytes == 0 {
            "-".to_owned()
        } else {
            bytes.to_string()
        };
        let entry = format!(
            "{peer} - - [{}] \"{}\" {status} {bytes}\n",
            date.clf_date(),
            escape(line)
        );
        let mut out = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // A full disk must not stop the serving; the line is lost.
        let _ = out.write_all(entry.as_bytes()).and_then(|()| out.flush());
    }
}

/// The request line as Apache logs it: `"`, `\` and bytes outside printable
/// ASCII escaped (`\"`, `\\`, `\xhh`), so a line cannot forge log entries.
fn escape(line: &[u8]) -> String {
    let mut out = String::with_capacity(line.len());
    for &b in line {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(char::from(b)),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

impl Site {
    /// Serves the files under `root` (which must be a directory).
    pub fn new(root: &Path) -> Result<Site, Error> {
        let canonical = root.canonicalize().map_err(|error| Error::Root {
            path: root.to_owned(),
            error,
        })?;
        if !canonical.is_dir() {
            return Err(Error::RootNotDirectory {
                path: root.to_owned(),
            });
        }
        Ok(Site {
            root: canonical,
            log: None,
            limits: Limits::default(),
        })
    }

    pub fn with_access_log(mut self, log: AccessLog) -> Site {
        self.log = Some(log);
        self
    }

    pub fn with_limits(mut self, limits: Limits) -> Site {
        self.limits = limits;
        self
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
}

/// A listening server.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    site: Arc<Site>,
}

impl Server {
    /// Listens on `addr` (`127.0.0.1:0` picks a free port: see [`Server::local_addr`]).
    pub fn bind(addr: impl ToSocketAddrs + std::fmt::Display, site: Site) -> Result<Server, Error> {
        let listener = TcpListener::bind(&addr).map_err(|error| Error::Bind {
            addr: addr.to_string(),
            error,
        })?;
        Ok(Server {
            listener,
            site: Arc::new(site),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        // A bound listener always has its address.
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// `http://ADDR/`
    pub fn url(&self) -> String {
        format!("http://{}/", self.local_addr())
    }

    /// Serves until the process ends.
    pub fn run(self) {
        self.accept_loop(&AtomicBool::new(false));
    }

    /// Serves from a background thread until the handle is dropped.
    pub fn spawn(self) -> Handle {
        let addr = self.local_addr();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || self.accept_loop(&flag));
        Handle {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    fn accept_loop(self, stop: &AtomicBool) {
        let active = Arc::new(AtomicUsize::new(0));
        for conn in self.listener.incoming() {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            let stream = match conn {
                Ok(stream) => stream,
                // Out of file descriptors, or a connection reset before it
                // was accepted: wait a little and go on.
                Err(_) => {
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
            };
            if active.fetch_add(1, Ordering::SeqCst) >= self.site.limits.max_connections {
                active.fetch_sub(1, Ordering::SeqCst);
                continue;
            }
            // A client that stops reading gives up its thread after this.
            let _ = stream.set_write_timeout(Some(self.site.limits.write_timeout));
            let site = Arc::clone(&self.site);
            let count = Arc::clone(&active);
            std::thread::spawn(move || {
                if let Ok(peer) = stream.peer_addr() {
                    serve_connection(stream, peer.ip(), &site);
                }
                count.fetch_sub(1, Ordering::SeqCst);
            });
        }
    }
}

/// A server running in a background thread; dropping it stops accepting.
#[derive(Debug)]
pub struct Handle {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Handle {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR/`
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
