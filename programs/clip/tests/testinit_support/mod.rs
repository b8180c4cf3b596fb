//! Shared by the QEMU tests that boot programs/testinit in a UKI
//! (secureboot_qemu.rs, boot_qemu.rs): trixie's stub and kernel, testinit
//! linked statically, and the one-file initramfs around it.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs `cmd`, panicking with its output unless it succeeds; its stdout.
pub fn checked(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Extracted trixie package (scripts/fetch-deb).
pub fn trixie(package: &str) -> PathBuf {
    let out =
        checked(Command::new(workspace_root().join("scripts/fetch-deb")).args(["trixie", package]));
    PathBuf::from(out.trim())
}

/// trixie's systemd-stub (the UKI stub of the target system's systemd).
pub fn stub() -> PathBuf {
    trixie("systemd-boot-efi").join("usr/lib/systemd/boot/efi/linuxx64.efi.stub")
}

/// trixie's kernel (`boot/vmlinuz-*` of linux-image-amd64).
pub fn vmlinuz() -> PathBuf {
    std::fs::read_dir(trixie("linux-image-amd64").join("boot"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
        })
        .expect("vmlinuz in linux-image-amd64")
}

/// programs/testinit, linked statically (it is the initramfs' only file).
pub fn build_testinit() -> PathBuf {
    let target_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("testinit");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    checked(
        Command::new(cargo)
            .current_dir(workspace_root())
            .args(["build", "--quiet", "--release", "-p", "testinit"])
            .args(["--target", "x86_64-unknown-linux-gnu", "--target-dir"])
            .arg(&target_dir)
            .env(
                "RUSTFLAGS",
                "-C target-feature=+crt-static -C strip=symbols",
            ),
    );
    target_dir.join("x86_64-unknown-linux-gnu/release/testinit")
}

/// newc initramfs: /init plus the mount points and /dev/console, which the
/// kernel opens as init's stdin/stdout before running it.
pub fn initramfs(init: &[u8]) -> Vec<u8> {
    initramfs_with(init, &[])
}

/// [`initramfs`] with kernel modules (file name, contents) under /modules,
/// which testinit loads in the order given (`/modules/list`).
pub fn initramfs_with(init: &[u8], modules: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut w = cpio::Writer::new(0);
    for dir in ["dev", "proc", "sys"] {
        w.dir(dir, 0o755).unwrap();
    }
    w.char_dev("dev/console", 0o600, 5, 1).unwrap();
    w.file("init", 0o755, init).unwrap();
    if !modules.is_empty() {
        w.dir("modules", 0o755).unwrap();
        let mut list = String::new();
        for (name, bytes) in modules {
            w.file(&format!("modules/{name}"), 0o644, bytes).unwrap();
            list.push_str(name);
            list.push('\n');
        }
        w.file("modules/list", 0o644, list.as_bytes()).unwrap();
    }
    w.finish()
}

/// Modules of trixie's kernel by path under its `kernel/` directory (e.g.
/// `drivers/block/virtio_blk.ko.xz`): (file name, contents).
pub fn kernel_modules(paths: &[&str]) -> Vec<(String, Vec<u8>)> {
    let modules = trixie("linux-image-amd64").join("usr/lib/modules");
    let kver = std::fs::read_dir(&modules)
        .unwrap()
        .flatten()
        .next()
        .expect("a kernel version under usr/lib/modules")
        .path();
    paths
        .iter()
        .map(|p| {
            let path = kver.join("kernel").join(p);
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
            (name, bytes)
        })
        .collect()
}

/// An unsigned UKI (`DIR/uki.efi`, made by `clip uki build`) of trixie's
/// stub and kernel, with testinit as its initrd and `os_release` as its
/// .osrel. Its command line carries a marker fresh for this run, so that
/// the console line `CLIP-TESTINIT: marker=<marker>` can only come from this
/// UKI. Returns (the UKI, the marker).
pub fn testinit_uki(dir: &Path, os_release: &str) -> (PathBuf, String) {
    testinit_uki_with(dir, os_release, "", &[])
}

/// [`testinit_uki`] with `extra` appended to the command line and
/// `modules` ([`kernel_modules`]) in the initramfs.
pub fn testinit_uki_with(
    dir: &Path,
    os_release: &str,
    extra: &str,
    modules: &[(String, Vec<u8>)],
) -> (PathBuf, String) {
    let testinit = std::fs::read(build_testinit()).unwrap();
    let initrd = dir.join("initrd.cpio");
    std::fs::write(&initrd, initramfs_with(&testinit, modules)).unwrap();
    let os_release_file = dir.join("os-release");
    std::fs::write(&os_release_file, os_release).unwrap();
    let marker = format!(
        "{:x}{:x}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    );
    let cmdline =
        format!("console=ttyS0 quiet loglevel=3 panic=-1 testinit.marker={marker} {extra}");
    let cmdline = cmdline.trim_end();
    let uki = dir.join("uki.efi");
    checked(
        Command::new(env!("CARGO_BIN_EXE_clip"))
            .args(["uki", "build", "--stub"])
            .arg(stub())
            .arg("--linux")
            .arg(vmlinuz())
            .arg("--initrd")
            .arg(&initrd)
            .args(["--cmdline", cmdline, "--os-release"])
            .arg(&os_release_file)
            .arg("--out")
            .arg(&uki),
    );
    (uki, marker)
}
