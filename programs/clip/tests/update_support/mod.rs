//! Shared by the update tests (issue 9): releases v1, v2 and v3 of the
//! default product signed by one key set, update repositories serving them,
//! `clip repo serve` on loopback, private copies of v1's disk and
//! `clip boot --tpm --update-server` runs.
//!
//! Use it beside image_support (this module calls it as `super::image_support`):
//!
//! ```ignore
//! mod image_support;
//! mod update_support;
//! use update_support as up;
//!
//! let disk = up::v1_disk("my-test");             // private sparse copy of v1's disk.img
//! let served = up::serve(up::repo_v2());          // clip repo serve on 127.0.0.1:0
//! let run = up::boot(&disk, &served.url, 2, &["CLIP-STATUS"], 600);
//! let log = served.access_log();                  // Common Log Format lines
//! ```
//!
//! What is built, once per change of the inputs (the clip executable, the
//! static programs, products/clipos/product.toml: the stamp of
//! image_support::built() plus this module's versions), under a file lock
//! since nextest runs each test in its own process:
//!
//! - v1: image_support::built() itself (products/clipos at its own version,
//!   [`V1`]); its `keys/` is the one key set of every release and repository;
//! - v2: `clip build products/clipos --version 5.1.0 --keys <v1 keys>`;
//! - v3: `clip build <product copy> --version 5.2.0 --keys <v1 keys>`, where
//!   the product copy (`clipos-update/v3-product/product.toml`) adds
//!   `[update] health_checks = ["/usr/bin/false"]`: every boot of v3 fails
//!   its health check, so clip-health.service reboots (FailureAction=reboot);
//! - repository v2: `clip repo init` + `clip repo publish` of v2;
//!   repository v3: a copy of repository v2 with v3 published too.
//!
//! Everything lives in `clipos-update/<hash of the stamp>/`, so a rebuild
//! for other inputs never touches what a running test serves. Tests must not
//! write into the built outputs or repositories: they serve them
//! (read-only) and boot private disk copies ([`v1_disk`]). The
//! repositories' timestamps are valid for 3650 days.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

use super::image_support::{self as img, Run, clip, clip_path, run_command};

/// The versions: v1 is the default product's own version.
pub const V1: &str = "5.0.0-alpha.1";
pub const V2: &str = "5.1.0";
pub const V3: &str = "5.2.0";

/// The health check of v3's product copy: always fails.
pub const V3_HEALTH_CHECK: &str = "/usr/bin/false";

fn tmp() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
}

/// Everything this module builds, once per change of its inputs.
pub struct Fixture {
    /// `clip build` output directories (each with `release/`, `disk.img`).
    pub v1: PathBuf,
    pub v2: PathBuf,
    pub v3: PathBuf,
    /// The one key set (v1's OUT/keys).
    pub keys: PathBuf,
    /// Repository with v2 published.
    pub repo_v2: PathBuf,
    /// Repository with v2 then v3 published.
    pub repo_v3: PathBuf,
}

pub fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let v1 = img::built().to_path_buf();
        let keys = v1.join("keys");
        let top = tmp().join("clipos-update");
        std::fs::create_dir_all(&top).unwrap();
        let lock = File::create(top.join("lock")).unwrap();
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive).unwrap();
        let image_stamp = std::fs::read_to_string(tmp().join("clipos-image/stamp"))
            .expect("image_support::built() writes its stamp");
        let stamp = format!("{image_stamp}\n{V1} {V2} {V3} {V3_HEALTH_CHECK}\n");
        // One directory per stamp: a process that rebuilds for other inputs
        // never rewrites a repository another test is serving (a repository
        // re-published under a client's feet is refused by TUF, rightly).
        let base = top.join(&hex::encode(Sha256::digest(stamp.as_bytes()))[..16]);
        std::fs::create_dir_all(&base).unwrap();
        let f = Fixture {
            v1,
            v2: base.join("v2"),
            v3: base.join("v3"),
            keys,
            repo_v2: base.join("repo-v2"),
            repo_v3: base.join("repo-v3"),
        };
        let stamp_file = base.join("stamp");
        if std::fs::read_to_string(&stamp_file).is_ok_and(|s| s == stamp) {
            return f;
        }
        let _ = std::fs::remove_file(&stamp_file);
        let product = workspace_product();
        build(&product, V2, &f.v2, &f.keys);
        let v3_product = base.join("v3-product");
        write_v3_product(&product, &v3_product);
        build(&v3_product, V3, &f.v3, &f.keys);
        for r in [&f.repo_v2, &f.repo_v3] {
            let _ = std::fs::remove_dir_all(r);
        }
        repo(&[
            "init".as_ref(),
            f.repo_v2.as_os_str(),
            "--keys".as_ref(),
            f.keys.as_os_str(),
        ]);
        publish(&f.repo_v2, &f.v2, &f.keys);
        let status = Command::new("cp")
            .arg("-a")
            .arg(&f.repo_v2)
            .arg(&f.repo_v3)
            .status()
            .unwrap();
        assert!(status.success(), "cp -a of the repository failed");
        publish(&f.repo_v3, &f.v3, &f.keys);
        std::fs::write(&stamp_file, &stamp).unwrap();
        f
    })
}

pub fn repo_v2() -> &'static Path {
    &fixture().repo_v2
}

pub fn repo_v3() -> &'static Path {
    &fixture().repo_v3
}

fn workspace_product() -> PathBuf {
    img::workspace_root().join("products/clipos")
}

/// products/clipos copied to `dir` with v3's failing health check.
fn write_v3_product(product: &Path, dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let mut text = std::fs::read_to_string(product.join("product.toml")).unwrap();
    assert!(
        !text.contains("\n[update]"),
        "products/clipos has an [update] section now: merge health_checks into it"
    );
    text.push_str(&format!(
        "\n# Test copy (programs/clip/tests/update_support): every health check fails.\n\
         [update]\nhealth_checks = [\"{V3_HEALTH_CHECK}\"]\n"
    ));
    std::fs::write(dir.join("product.toml"), text).unwrap();
    img::copy_product_files(product, dir);
}

/// `clip build PRODUCT --out OUT --version V --keys KEYS --force`.
fn build(product: &Path, version: &str, out: &Path, keys: &Path) {
    let mut cmd = Command::new(clip_path());
    cmd.arg("build")
        .arg(product)
        .arg("--out")
        .arg(out)
        .arg("--programs")
        .arg(img::programs())
        .arg("--keys")
        .arg(keys)
        .args(["--version", version, "--force", "--json"]);
    run_command(cmd).assert_success();
}

fn repo(args: &[&std::ffi::OsStr]) -> Run {
    let mut all: Vec<&std::ffi::OsStr> = vec!["repo".as_ref()];
    all.extend_from_slice(args);
    let r = clip(&all);
    r.assert_success();
    r
}

fn publish(repository: &Path, out: &Path, keys: &Path) {
    repo(&[
        "publish".as_ref(),
        repository.as_os_str(),
        out.as_os_str(),
        "--keys".as_ref(),
        keys.as_os_str(),
        "--timestamp-expires-in".as_ref(),
        "3650d".as_ref(),
    ]);
}

/// A private sparse copy of v1's disk in its own directory (swtpm's state
/// goes beside it: `<dir>/tpm`).
pub fn v1_disk(name: &str) -> img::DiskCopy {
    img::image_copy(&format!("update-{name}"))
}

/// A running `clip repo serve REPO --listen 127.0.0.1:0 --access-log FILE`,
/// killed on drop.
pub struct Served {
    child: std::process::Child,
    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub url: String,
    pub access_log: PathBuf,
}

impl Served {
    /// The access log's lines so far.
    pub fn access_log(&self) -> Vec<String> {
        std::fs::read_to_string(&self.access_log)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// (path, status, bytes) of each request in the access log.
    pub fn requests(&self) -> Vec<(String, u16, u64)> {
        self.access_log()
            .iter()
            .filter_map(|l| {
                let (_, rest) = l.split_once("\"GET ")?;
                let (path, rest) = rest.split_once(' ')?;
                let (_, rest) = rest.split_once("\" ")?;
                let mut it = rest.split_whitespace();
                let status = it.next()?.parse().ok()?;
                let bytes = it.next()?.parse().unwrap_or(0);
                Some((path.to_owned(), status, bytes))
            })
            .collect()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Serves `repository` on a free loopback port; the access log is a fresh
/// file in a temporary directory.
pub fn serve(repository: &Path) -> Served {
    let dir = tmp().join("update-access-logs");
    std::fs::create_dir_all(&dir).unwrap();
    let access_log = dir.join(format!(
        "{}-{}.log",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    let (child, url) = img::start_repo_server(
        repository,
        &[OsStr::new("--access-log"), access_log.as_os_str()],
    );
    Served {
        child,
        url,
        access_log,
    }
}

/// `clip boot DISK --secure-boot --keys KEYS --tpm --update-server URL
/// --max-boots N --timeout T --expect E... --serial-log DISK_DIR/serial.log --json`.
pub fn boot(disk: &Path, url: &str, max_boots: u32, expect: &[&str], timeout: u32) -> Run {
    boot_with(disk, url, max_boots, expect, timeout, &[])
}

/// [`boot`] with extra arguments (e.g. `--refuse TEXT`).
pub fn boot_with(
    disk: &Path,
    url: &str,
    max_boots: u32,
    expect: &[&str],
    timeout: u32,
    extra: &[&str],
) -> Run {
    let mut cmd = Command::new(clip_path());
    cmd.arg("boot")
        .arg(disk)
        .arg("--secure-boot")
        .arg("--tpm")
        .arg("--keys")
        .arg(&fixture().keys)
        .args(["--update-server", url])
        .args(["--max-boots", &max_boots.to_string()])
        .args(["--timeout", &timeout.to_string()])
        .arg("--serial-log")
        .arg(serial_log(disk))
        .arg("--json");
    for e in expect {
        cmd.args(["--expect", e]);
    }
    cmd.args(extra);
    run_command(cmd)
}

/// The serial log [`boot`] writes for `disk`.
pub fn serial_log(disk: &Path) -> PathBuf {
    disk.with_file_name("serial.log")
}
