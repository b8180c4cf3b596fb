//! The one error type of the crate: every message starts with the URL.

use std::io;
use std::time::Duration;

/// Why a fetch failed. Messages start with the URL and name the status and
/// the sizes involved.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{url}: invalid URL: {reason}")]
    InvalidUrl { url: String, reason: &'static str },
    #[error("{url}: https needs trust roots, and none were given")]
    NoTrustRoots { url: String },
    #[error("trust roots: {reason}")]
    Roots { reason: String },
    #[error("{url}: cannot resolve {host}: {error}")]
    Resolve {
        url: String,
        host: String,
        error: io::Error,
    },
    #[error("{url}: cannot connect to {addr}: {error}")]
    Connect {
        url: String,
        addr: String,
        error: io::Error,
    },
    #[error("{url}: TLS handshake failed: {error}")]
    Tls { url: String, error: io::Error },
    #[error("{url}: cannot send the request: {error}")]
    Send { url: String, error: io::Error },
    #[error("{url}: no data from the server for {} s after {received} bytes", after.as_secs_f32())]
    Timeout {
        url: String,
        after: Duration,
        received: u64,
    },
    #[error("{url}: cannot read the response after {received} bytes: {error}")]
    Read {
        url: String,
        received: u64,
        error: io::Error,
    },
    #[error("{url}: response head longer than {limit} bytes")]
    HeadTooLong { url: String, limit: usize },
    #[error("{url}: malformed response: {reason}")]
    Malformed { url: String, reason: String },
    #[error("{url}: server answered {status} {reason}")]
    Status {
        url: String,
        status: u16,
        reason: String,
    },
    #[error("{url}: server announced {length} bytes, more than the {max} allowed")]
    Announced { url: String, length: u64, max: u64 },
    #[error("{url}: server sent {sent} bytes, more than the {max} allowed")]
    TooLarge { url: String, sent: u64, max: u64 },
    #[error("{url}: already holding {held} bytes, more than the {max} allowed")]
    HeldTooLarge { url: String, held: u64, max: u64 },
    #[error("{url}: connection closed after {received} bytes{}", expected.map_or(String::new(), |e| format!(", {e} expected")))]
    Truncated {
        url: String,
        received: u64,
        expected: Option<u64>,
    },
    #[error("{url}: {status}: Content-Range {value:?} does not continue the {held} bytes held")]
    ContentRange {
        url: String,
        status: u16,
        value: String,
        held: u64,
    },
    #[error("{url}: cannot write what was received: {error}")]
    Sink { url: String, error: io::Error },
}

impl Error {
    /// A failure of the transport (connection refused, reset or closed
    /// early, timeout): fetching again, resuming from what is held, may
    /// succeed. Refusals by the server and limit violations are not.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::Connect { .. }
                | Error::Send { .. }
                | Error::Timeout { .. }
                | Error::Read { .. }
                | Error::Truncated { .. }
        )
    }
}
