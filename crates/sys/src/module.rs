//! Loading kernel modules: `finit_module(2)`.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

/// `MODULE_INIT_COMPRESSED_FILE` (include/uapi/linux/module.h): the kernel
/// decompresses the file itself (CONFIG_MODULE_DECOMPRESS).
pub const COMPRESSED_FILE: u32 = 4;

/// What loading one module did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loaded {
    Now,
    /// The kernel already had it (`EEXIST`).
    Already,
}

/// Loads the module file at `path` with `params` (e.g. `""`); `flags` is 0
/// or [`COMPRESSED_FILE`] for `.ko.xz`/`.ko.zst` files.
pub fn load(path: &Path, params: &str, flags: u32) -> io::Result<Loaded> {
    let file = File::open(path)?;
    let params = std::ffi::CString::new(params).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "module parameters contain a NUL byte",
        )
    })?;
    // SAFETY: finit_module reads the open fd, a NUL-terminated string that
    // lives until the call returns, and an integer; it writes no user memory.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_finit_module,
            file.as_raw_fd(),
            params.as_ptr(),
            flags,
        )
    };
    if rc == 0 {
        return Ok(Loaded::Now);
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EEXIST) {
        Ok(Loaded::Already)
    } else {
        Err(err)
    }
}
