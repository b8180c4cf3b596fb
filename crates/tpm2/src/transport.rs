//! How command bytes reach a TPM and its response comes back.
//!
//! - [`Device`]: the kernel's TPM resource manager, `/dev/tpmrm0`: one
//!   `write` of the whole command, one `read` of the whole response (the
//!   driver's TPM interface, `drivers/char/tpm/tpm-dev-common.c`). The
//!   resource manager swaps objects and sessions of other users out, and
//!   flushes ours when the file is closed.
//! - [`Socket`]: swtpm's data channel (`swtpm socket --server ...`), Unix or
//!   TCP: the same bytes, framed by the size in the response header.
//! - [`Recording`]: wraps another transport and keeps every command and
//!   response, so tests can look at what crossed the bus.

use std::io::{self, Read, Write};
use std::path::Path;
use std::time::Duration;

/// Sends one marshaled command and returns the TPM's marshaled response.
pub trait Transport {
    fn transmit(&mut self, command: &[u8]) -> io::Result<Vec<u8>>;
}

impl<T: Transport + ?Sized> Transport for &mut T {
    fn transmit(&mut self, command: &[u8]) -> io::Result<Vec<u8>> {
        (**self).transmit(command)
    }
}

impl<T: Transport + ?Sized> Transport for Box<T> {
    fn transmit(&mut self, command: &[u8]) -> io::Result<Vec<u8>> {
        (**self).transmit(command)
    }
}

/// The largest response this crate reads (TPM_PT_MAX_RESPONSE_SIZE is 4096
/// on PC Client TPMs; the kernel's buffer is one page).
pub const MAX_RESPONSE: usize = 65536;

/// The TPM character device, normally `/dev/tpmrm0`.
#[derive(Debug)]
pub struct Device {
    file: std::fs::File,
}

impl Device {
    /// The default device: the kernel's resource manager.
    pub const DEFAULT_PATH: &'static str = "/dev/tpmrm0";

    pub fn open(path: impl AsRef<Path>) -> io::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)?;
        Ok(Device { file })
    }
}

impl Transport for Device {
    fn transmit(&mut self, command: &[u8]) -> io::Result<Vec<u8>> {
        let written = self.file.write(command)?;
        if written != command.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("the TPM driver took {written} of {} bytes", command.len()),
            ));
        }
        let mut buf = vec![0; 4096];
        let n = self.file.read(&mut buf)?;
        buf.truncate(n);
        Ok(buf)
    }
}

/// A stream to swtpm's data channel.
#[derive(Debug)]
pub struct Socket {
    stream: Stream,
}

#[derive(Debug)]
enum Stream {
    Unix(std::os::unix::net::UnixStream),
    Tcp(std::net::TcpStream),
}

impl Socket {
    /// Connects to a Unix socket (`--server type=unixio,path=PATH`).
    pub fn unix(path: impl AsRef<Path>) -> io::Result<Self> {
        let stream = std::os::unix::net::UnixStream::connect(path)?;
        stream.set_read_timeout(Some(TIMEOUT))?;
        Ok(Socket {
            stream: Stream::Unix(stream),
        })
    }

    /// Connects to a TCP socket (`--server type=tcp,port=PORT`).
    pub fn tcp(addr: std::net::SocketAddr) -> io::Result<Self> {
        let stream = std::net::TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(TIMEOUT))?;
        Ok(Socket {
            stream: Stream::Tcp(stream),
        })
    }

    fn io(&mut self) -> &mut dyn ReadWrite {
        match &mut self.stream {
            Stream::Unix(s) => s,
            Stream::Tcp(s) => s,
        }
    }
}

/// Long enough for an RSA primary key on a slow TPM.
const TIMEOUT: Duration = Duration::from_secs(120);

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

impl Transport for Socket {
    fn transmit(&mut self, command: &[u8]) -> io::Result<Vec<u8>> {
        let io = self.io();
        io.write_all(command)?;
        io.flush()?;
        let mut header = [0u8; 10];
        io.read_exact(&mut header)?;
        let size = usize::try_from(u32::from_be_bytes([
            header[2], header[3], header[4], header[5],
        ]))
        .unwrap_or(usize::MAX);
        if !(10..=MAX_RESPONSE).contains(&size) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("response header gives a size of {size} bytes"),
            ));
        }
        let mut response = header.to_vec();
        response.resize(size, 0);
        io.read_exact(&mut response[10..])?;
        Ok(response)
    }
}

/// One command and its response, as they crossed the transport.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub command: Vec<u8>,
    pub response: Vec<u8>,
}

/// Keeps a copy of every command and response passed to `inner`.
#[derive(Debug)]
pub struct Recording<T> {
    pub inner: T,
    pub exchanges: Vec<Exchange>,
}

impl<T> Recording<T> {
    pub fn new(inner: T) -> Self {
        Recording {
            inner,
            exchanges: Vec::new(),
        }
    }
}

impl<T: Transport> Transport for Recording<T> {
    fn transmit(&mut self, command: &[u8]) -> io::Result<Vec<u8>> {
        let response = self.inner.transmit(command)?;
        self.exchanges.push(Exchange {
            command: command.to_vec(),
            response: response.clone(),
        });
        Ok(response)
    }
}
