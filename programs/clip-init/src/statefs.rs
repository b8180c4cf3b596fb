//! Step 7b: the state file system: ext4 on the opened state volume
//! ([`crate::statecrypt`]), formatted when that volume was just created.
//!
//! A volume that was not just created must hold ext4: anything else may be
//! data, and is never overwritten (nor read ahead of time: the sectors of a
//! new dm-integrity volume that were never written do not read at all).
//! The formatter is the root's own
//! `mke2fs`, run through the root's dynamic loader (the initramfs has no
//! libraries). Paths are resolved inside /sysroot as a chroot would
//! (`openat2(RESOLVE_IN_ROOT)`), because Debian's `/lib64/ld-linux-x86-64.so.2`
//! is an absolute symlink that would otherwise point into the initramfs.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use rustix::fs::{Mode, OFlags, ResolveFlags, openat2};
use rustix::mount::{MountFlags, mount};

use crate::console::say;

/// Where the state file system is mounted while clip-init works on it.
pub const MOUNT_POINT: &str = "/run/clip/state";
const LOADER: &str = "/lib64/ld-linux-x86-64.so.2";
const LIBRARY_DIR: &str = "/usr/lib/x86_64-linux-gnu";
const MKE2FS: &str = "/usr/sbin/mke2fs";
const MKE2FS_CONF: &str = "/etc/mke2fs.conf";

/// ext4 superblock magic 0xEF53 at byte 1024 + 0x38.
pub fn has_ext_superblock(head: &[u8]) -> bool {
    head.get(1024 + 0x38..1024 + 0x3a) == Some(&[0x53, 0xef][..])
}

/// `path` resolved inside `root` as if `root` were `/`, as a path in our
/// own namespace.
pub fn resolve_in_root(root: &Path, path: &str) -> Result<PathBuf> {
    let dir = File::open(root).with_context(|| format!("cannot open {}", root.display()))?;
    let fd = openat2(
        &dir,
        path,
        OFlags::PATH | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT,
    )
    .with_context(|| format!("{path} not found in {}", root.display()))?;
    std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .with_context(|| format!("cannot resolve {path} in {}", root.display()))
}

/// Formats `dev` when `fresh`; otherwise it must already hold ext4.
fn format_if_fresh(sysroot: &Path, dev: &Path, fresh: bool) -> Result<()> {
    if !fresh {
        let file = File::open(dev)
            .with_context(|| format!("cannot open state volume {}", dev.display()))?;
        let mut head = vec![0u8; 4096];
        file.read_exact_at(&mut head, 0)
            .with_context(|| format!("cannot read state volume {}", dev.display()))?;
        if has_ext_superblock(&head) {
            return Ok(());
        }
        bail!(
            "state volume {} holds no ext4 file system; refusing to format it",
            dev.display()
        );
    }
    let loader = resolve_in_root(sysroot, LOADER)?;
    let libs = resolve_in_root(sysroot, LIBRARY_DIR)?;
    let mke2fs = resolve_in_root(sysroot, MKE2FS)?;
    let mut cmd = Command::new(&loader);
    cmd.arg("--library-path")
        .arg(&libs)
        .arg(&mke2fs)
        .args(["-t", "ext4", "-q", "-L", "state", "-F"])
        .arg(dev)
        .env_clear();
    if let Ok(conf) = resolve_in_root(sysroot, MKE2FS_CONF) {
        cmd.env("MKE2FS_CONFIG", conf);
    }
    say(&format!(
        "state volume {} is new: formatting it: {} --library-path {} {} -t ext4 -q -L state -F {}",
        dev.display(),
        loader.display(),
        libs.display(),
        mke2fs.display(),
        dev.display()
    ));
    let status = cmd
        .status()
        .with_context(|| format!("cannot run {}", mke2fs.display()))?;
    if !status.success() {
        bail!("mke2fs of state volume {} failed ({status})", dev.display());
    }
    Ok(())
}

/// Formats (first boot) and mounts the state volume at [`MOUNT_POINT`],
/// nodev,nosuid,noexec (and nosymfollow while clip-init works in it).
pub fn mount_state(sysroot: &Path, dev: &Path, fresh: bool) -> Result<PathBuf> {
    format_if_fresh(sysroot, dev, fresh)?;
    let at = PathBuf::from(MOUNT_POINT);
    std::fs::create_dir_all(&at).with_context(|| format!("cannot create {MOUNT_POINT}"))?;
    let flags =
        MountFlags::NODEV | MountFlags::NOSUID | MountFlags::NOEXEC | MountFlags::NOSYMFOLLOW;
    mount(dev, &at, "ext4", flags, None).with_context(|| {
        format!(
            "cannot mount state volume {} (ext4) on {MOUNT_POINT}",
            dev.display()
        )
    })?;
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn superblock_magic() {
        let mut head = vec![0u8; 2048];
        assert!(!has_ext_superblock(&head));
        head[1024 + 0x38] = 0x53;
        head[1024 + 0x39] = 0xef;
        assert!(has_ext_superblock(&head));
        assert!(!has_ext_superblock(&head[..1024]));
    }

    #[test]
    fn absolute_symlinks_resolve_inside_the_root() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir_all(root.join("usr/lib/x86_64-linux-gnu")).unwrap();
        std::fs::create_dir_all(root.join("usr/lib64")).unwrap();
        std::fs::write(root.join("usr/lib/x86_64-linux-gnu/ld.so"), "").unwrap();
        std::os::unix::fs::symlink("usr/lib64", root.join("lib64")).unwrap();
        std::os::unix::fs::symlink("usr/lib", root.join("lib")).unwrap();
        std::os::unix::fs::symlink(
            "/lib/x86_64-linux-gnu/ld.so",
            root.join("usr/lib64/ld-linux-x86-64.so.2"),
        )
        .unwrap();
        let got = resolve_in_root(root, LOADER).unwrap();
        assert_eq!(
            got,
            root.canonicalize()
                .unwrap()
                .join("usr/lib/x86_64-linux-gnu/ld.so")
        );
        // ".." cannot climb out either.
        std::os::unix::fs::symlink("../../../../../../etc/passwd", root.join("up")).unwrap();
        assert!(resolve_in_root(root, "/up").is_err());
        assert!(
            resolve_in_root(root, "/missing")
                .unwrap_err()
                .to_string()
                .contains("/missing")
        );
    }
}
