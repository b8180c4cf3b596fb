//! `/dev/mapper/control` and its ioctls.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

/// The device-mapper control node (a misc device devtmpfs creates once
/// `dm-mod` is loaded).
pub const CONTROL: &str = "/dev/mapper/control";

/// An open device-mapper control node.
#[derive(Debug)]
pub struct Control(File);

impl Control {
    /// Opens [`CONTROL`].
    pub fn open() -> io::Result<Self> {
        Self::open_at(Path::new(CONTROL))
    }

    /// Opens a control node at another path (e.g. one made with mknod).
    pub fn open_at(path: &Path) -> io::Result<Self> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map(Self)
    }

    /// Issues `request` and returns the buffer as the kernel left it (read
    /// it with `dm::Reply::parse`). The kernel's errno becomes the error.
    pub fn call(&self, request: &dm::Request) -> io::Result<Vec<u8>> {
        let mut buf = request.buf.clone();
        if buf.len() < dm::HEADER_SIZE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "device-mapper request of {} bytes is shorter than its {}-byte header",
                    buf.len(),
                    dm::HEADER_SIZE
                ),
            ));
        }
        // SAFETY: `buf` is a live, exclusively borrowed allocation of
        // `buf.len()` bytes starting with a `struct dm_ioctl` whose
        // `data_size` field (written by the `dm` crate) equals `buf.len()`,
        // which is the bound the kernel reads and writes within. The fd is
        // open for the whole call.
        let rc = unsafe {
            libc::ioctl(
                self.0.as_raw_fd(),
                libc::Ioctl::from(request.number),
                buf.as_mut_ptr(),
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(buf)
    }
}
