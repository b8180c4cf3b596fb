//! Calls that a hardened kernel must refuse, made on purpose by
//! `clip-status` to show that it does (issue 10): each returns the errno
//! the kernel answered with, or `Ok(())` if the call was accepted. The
//! arguments are chosen so that an accepting kernel does no harm: no
//! kernel image, no module, an io_uring that is closed at once, a ptrace
//! attach that is detached at once.

use std::io;

fn result(rc: libc::c_long) -> io::Result<libc::c_long> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// `kexec_file_load(-1, -1, 0, "", KEXEC_FILE_UNLOAD)`: unloading needs no
/// image; a kernel without kexec answers ENOSYS, a locked-down or
/// unprivileged caller EPERM.
pub fn kexec_file_load() -> io::Result<()> {
    const KEXEC_FILE_UNLOAD: libc::c_ulong = 1;
    // SAFETY: with KEXEC_FILE_UNLOAD the kernel reads no fd and no string;
    // the pointer is a valid empty C string anyway. Nothing is written.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_kexec_file_load,
            -1 as libc::c_int,
            -1 as libc::c_int,
            0 as libc::c_ulong,
            c"".as_ptr(),
            KEXEC_FILE_UNLOAD,
        )
    };
    result(rc).map(drop)
}

/// `kexec_load(0, 0, NULL, KEXEC_ARCH_DEFAULT)`: no segments (an unload).
pub fn kexec_load() -> io::Result<()> {
    // SAFETY: zero segments: the kernel reads no user memory.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_kexec_load,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            std::ptr::null::<libc::c_void>(),
            0 as libc::c_ulong,
        )
    };
    result(rc).map(drop)
}

/// `finit_module(-1, "", 0)`: a kernel without modules answers ENOSYS;
/// one with modules gets as far as the bad file descriptor (EBADF) or
/// refuses the caller (EPERM).
pub fn finit_module() -> io::Result<()> {
    // SAFETY: the kernel reads a valid empty C string; fd -1 is checked
    // before it is used.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_finit_module,
            -1 as libc::c_int,
            c"".as_ptr(),
            0 as libc::c_int,
        )
    };
    result(rc).map(drop)
}

/// `io_uring_setup(1, &params)`; a ring that is set up is closed at once.
pub fn io_uring_setup() -> io::Result<()> {
    // struct io_uring_params is 120 bytes (include/uapi/linux/io_uring.h).
    let mut params = [0u8; 120];
    // SAFETY: params is a writable buffer of the size the kernel reads
    // and writes for io_uring_params.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_io_uring_setup,
            1 as libc::c_uint,
            params.as_mut_ptr(),
        )
    };
    let fd = libc::c_int::try_from(result(rc)?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "fd out of range"))?;
    // SAFETY: fd was just returned by the kernel and is owned by nobody else.
    drop(unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) });
    Ok(())
}

/// `ptrace(PTRACE_ATTACH, pid)`; a successful attach is detached at once.
pub fn ptrace_attach(pid: u32) -> io::Result<()> {
    let pid = libc::pid_t::try_from(pid)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "pid out of range"))?;
    // SAFETY: PTRACE_ATTACH reads and writes no user memory.
    let rc = unsafe {
        libc::ptrace(
            libc::PTRACE_ATTACH,
            pid,
            std::ptr::null_mut::<libc::c_void>(),
            std::ptr::null_mut::<libc::c_void>(),
        )
    };
    result(rc).map(drop)?;
    let mut status = 0;
    // SAFETY: waitpid writes one int to a valid location; PTRACE_DETACH
    // reads and writes no user memory.
    unsafe {
        libc::waitpid(pid, &mut status, libc::__WALL);
        libc::ptrace(
            libc::PTRACE_DETACH,
            pid,
            std::ptr::null_mut::<libc::c_void>(),
            std::ptr::null_mut::<libc::c_void>(),
        );
    }
    Ok(())
}
