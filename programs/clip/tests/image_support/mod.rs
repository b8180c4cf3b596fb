//! Shared by the image tests: the static device programs, one `clip build`
//! of products/clipos per change of its inputs (guarded by a file lock, since
//! nextest runs each test in its own process), private copies of the image,
//! and `clip boot` runs.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;
use sha2::{Digest, Sha256};

#[path = "../support/run.rs"]
mod run;
pub use run::*;

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn tmp() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
}

/// clip-init and clip-status, linked statically, with clip-status.service:
/// the `--programs` directory of `clip build`.
pub fn programs() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let target = tmp().join("static-programs");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(workspace_root())
            .args([
                "build",
                "--quiet",
                "--release",
                "-p",
                "clip-init",
                "-p",
                "clip-status",
                "-p",
                "clip-updated",
            ])
            .args(["--target", "x86_64-unknown-linux-gnu", "--target-dir"])
            .arg(&target)
            .env(
                "RUSTFLAGS",
                "-C target-feature=+crt-static -C strip=symbols",
            );
        run_command(cmd).assert_success();
        let bin = target.join("x86_64-unknown-linux-gnu/release");
        let dir = tmp().join("programs");
        std::fs::create_dir_all(&dir).unwrap();
        for name in ["clip-init", "clip-status", "clip-updated"] {
            std::fs::copy(bin.join(name), dir.join(name)).unwrap();
        }
        std::fs::copy(
            workspace_root().join("programs/clip-status/clip-status.service"),
            dir.join("clip-status.service"),
        )
        .unwrap();
        dir
    })
}

fn file_sha(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

/// The default product built once for every test process: OUT directory.
pub fn built() -> &'static Path {
    static OUT: OnceLock<PathBuf> = OnceLock::new();
    OUT.get_or_init(|| {
        let programs = programs();
        let base = tmp().join("clipos-image");
        std::fs::create_dir_all(&base).unwrap();
        let lock = File::create(base.join("lock")).unwrap();
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive).unwrap();
        let product = workspace_root().join("products/clipos");
        let stamp = [
            file_sha(clip_path()),
            file_sha(&programs.join("clip-init")),
            file_sha(&programs.join("clip-status")),
            file_sha(&programs.join("clip-updated")),
            product_sha(&product),
        ]
        .join("\n");
        let out = base.join("out");
        let stamp_file = base.join("stamp");
        let fresh = std::fs::read_to_string(&stamp_file).is_ok_and(|s| s == stamp)
            && out.join("manifest.json").is_file();
        if !fresh {
            let _ = std::fs::remove_file(&stamp_file);
            build_into(&out, None, true).assert_success();
            std::fs::write(&stamp_file, &stamp).unwrap();
        }
        out
    })
}

/// `clip build products/clipos --out OUT [--keys K] [--force]`.
pub fn build_into(out: &Path, keys: Option<&Path>, force: bool) -> Run {
    build_with(out, keys, if force { &["--force"] } else { &[] })
}

/// `clip build products/clipos --out OUT [--keys K] EXTRA...`.
pub fn build_with(out: &Path, keys: Option<&Path>, extra: &[&str]) -> Run {
    let mut cmd = Command::new(clip_path());
    cmd.arg("build")
        .arg(workspace_root().join("products/clipos"))
        .arg("--out")
        .arg(out)
        .arg("--programs")
        .arg(programs())
        .arg("--json");
    if let Some(k) = keys {
        cmd.arg("--keys").arg(k);
    }
    cmd.args(extra);
    run_command(cmd)
}

pub fn manifest(out: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap()
}

/// (offset, size) of the partition called `name`, from the manifest.
pub fn partition(manifest: &Value, name: &str) -> (u64, u64) {
    let p = manifest["disk"]["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no partition {name} in the manifest"));
    (p["offset"].as_u64().unwrap(), p["size"].as_u64().unwrap())
}

/// A disk image in a directory of its own, removed when the test that made
/// it passes (each holds ~0.7 GB once booted; CI's disk is not unlimited)
/// and kept when it fails, for its serial logs and TPM state.
pub struct DiskCopy {
    disk: PathBuf,
}

impl DiskCopy {
    /// Takes ownership of `disk`'s directory.
    pub fn adopt(disk: PathBuf) -> Self {
        DiskCopy { disk }
    }
}

impl std::ops::Deref for DiskCopy {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.disk
    }
}

impl AsRef<Path> for DiskCopy {
    fn as_ref(&self) -> &Path {
        &self.disk
    }
}

impl AsRef<std::ffi::OsStr> for DiskCopy {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.disk.as_os_str()
    }
}

impl Drop for DiskCopy {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            if let Some(dir) = self.disk.parent() {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }
}

/// A private, sparse copy of the built image (tests write to their disks).
pub fn image_copy(name: &str) -> DiskCopy {
    disk_copy(
        &built().join("disk.img"),
        &tmp().join("image-copies").join(name),
    )
}

/// A sparse copy of `disk` as `dir/disk.img`, `dir` emptied first.
pub fn disk_copy(disk: &Path, dir: &Path) -> DiskCopy {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let copy = dir.join("disk.img");
    let status = Command::new("cp")
        .arg("--sparse=always")
        .arg(disk)
        .arg(&copy)
        .status()
        .unwrap();
    assert!(status.success(), "cp of the image failed");
    DiskCopy::adopt(copy)
}

/// `clip boot IMAGE --secure-boot --keys OUT/keys ... --json`.
pub fn boot(image: &Path, extra: &[&str]) -> Run {
    let mut cmd = Command::new(clip_path());
    cmd.arg("boot")
        .arg(image)
        .arg("--secure-boot")
        .arg("--keys")
        .arg(built().join("keys"))
        .args(extra);
    run_command(cmd)
}

/// The `CLIP-STATUS {json}` line of a serial log.
pub fn status_line(serial: &str) -> Value {
    let line = serial
        .lines()
        .find_map(|l| l.split_once("CLIP-STATUS ").map(|(_, j)| j.trim()))
        .unwrap_or_else(|| panic!("no CLIP-STATUS line in the serial log:\n{serial}"));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("bad CLIP-STATUS JSON {line}: {e}"))
}

/// Flips one byte of `path` at `offset`.
pub fn flip_byte(path: &Path, offset: u64) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, offset).unwrap();
    b[0] ^= 0x5a;
    f.write_all_at(&b, offset).unwrap();
    f.sync_all().unwrap();
}

/// SHA-256 over a product directory's files (product.toml and the kernel
/// fragments beside it), in path order: what a cached build depends on.
pub fn product_sha(dir: &Path) -> String {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<(String, PathBuf)>) {
        for e in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
            let path = e.path();
            if e.file_type().unwrap().is_dir() {
                walk(&path, base, out);
            } else {
                let rel = path
                    .strip_prefix(base)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.push((rel, path));
            }
        }
    }
    let mut files = Vec::new();
    walk(dir, dir, &mut files);
    files.sort();
    let mut h = Sha256::new();
    for (rel, path) in files {
        h.update(format!("{rel}\n{}\n", file_sha(&path)));
    }
    hex::encode(h.finalize())
}

/// Copies what a product directory holds besides product.toml (the kernel
/// fragments) from `from` to `to`, so that an edited copy of product.toml
/// in `to` builds.
pub fn copy_product_files(from: &Path, to: &Path) {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap().map(Result::unwrap) {
            let (src, dst) = (e.path(), to.join(e.file_name()));
            if e.file_type().unwrap().is_dir() {
                copy(&src, &dst);
            } else if e.file_name() != "product.toml"
                && std::fs::read(&dst).ok() != Some(std::fs::read(&src).unwrap())
            {
                std::fs::copy(&src, &dst).unwrap();
            }
        }
    }
    copy(from, to);
}
