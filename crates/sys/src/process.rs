//! Running a program inside another root: `chroot(2)` in the child between
//! fork and exec, which std's `Command` only offers through `pre_exec`.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

/// Makes `cmd` run with `root` as its `/` (and `/` as its working
/// directory). The program path of `cmd` is then resolved inside `root`.
pub fn chroot(cmd: &mut Command, root: &Path) -> io::Result<()> {
    let root = CString::new(root.as_os_str().as_bytes()).map_err(|_| {
        io::Error::new(io::ErrorKind::InvalidInput, "root path contains a NUL byte")
    })?;
    let slash = CString::new("/").map_err(|_| io::Error::other("impossible"))?;
    // SAFETY: the closure runs in the forked child before exec and only
    // makes the chroot(2) and chdir(2) system calls on C strings allocated
    // before the fork: both are async-signal-safe, and nothing is
    // allocated, locked or unwound in between.
    unsafe {
        cmd.pre_exec(move || {
            if libc::chroot(root.as_ptr()) != 0 || libc::chdir(slash.as_ptr()) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_child_runs_in_the_new_root_from_its_top() {
        // Root is needed for chroot(2); the test suite runs as root.
        let mut cmd = Command::new("/bin/sh");
        cmd.args(["-c", "pwd"]).current_dir("/tmp");
        chroot(&mut cmd, Path::new("/")).unwrap();
        let out = cmd.output().unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout, b"/\n");

        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new("/bin/sh");
        chroot(&mut cmd, dir.path()).unwrap();
        // No /bin/sh inside the empty root.
        assert_eq!(cmd.status().unwrap_err().kind(), io::ErrorKind::NotFound);
    }
}
