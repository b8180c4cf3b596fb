//! Shared by the in-guest update tests beside update_support (whose
//! v1, v2 and repositories update_powercut.rs and update_handpicked.rs
//! use): `clip boot` run as a child while the test watches the serial log;
//! QEMU killed by its process ID (the power cut); slot B's bytes, both GPT
//! copies (cmp against the built image) and the ESP's files as evidence that a refused update touched
//! nothing; and, for update_refusals.rs, a copy of products/clipos whose
//! daemon checks every 10 s, so that one boot sees several repositories.
//! Needs `mod image_support;` beside it (as update_support does).

#![allow(dead_code)]

use std::ffi::OsStr;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::image_support;
#[allow(unused_imports)]
pub use image_support::{
    Run, clip_path, manifest, partition, programs, run_command, status_line, workspace_root,
};

pub fn tmp() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
}

/// The product of update_refusals.rs: products/clipos with an update
/// check every 10 s (first 5 s after boot).
fn product_dir() -> PathBuf {
    let dir = tmp().join("update-guest-product");
    std::fs::create_dir_all(&dir).unwrap();
    let src = workspace_root().join("products/clipos/product.toml");
    let text = std::fs::read_to_string(src).unwrap();
    assert!(
        !text.contains("\n[update]"),
        "products/clipos has an [update] now: merge the interval into it"
    );
    let text = format!(
        "{text}\n# Test copy (programs/clip/tests/update_guest_support): a check every 10 s.\n\
         [update]\ncheck_interval_seconds = 10\nfirst_check_delay_seconds = 5\n"
    );
    let path = dir.join("product.toml");
    if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
        std::fs::write(&path, text).unwrap();
    }
    image_support::copy_product_files(&workspace_root().join("products/clipos"), &dir);
    dir
}

fn file_sha(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

/// `clip build` of update_refusals.rs's product at `version` (OUT
/// directory, with its own key set OUT/keys), reused while clip, the device
/// programs and the product are unchanged.
pub fn build(version: &str) -> PathBuf {
    let base = tmp().join("update-guest-builds");
    let programs = programs();
    let product = product_dir();
    std::fs::create_dir_all(&base).unwrap();
    let lock = File::create(base.join(format!("{version}.lock"))).unwrap();
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive).unwrap();
    let stamp = [
        file_sha(clip_path()),
        file_sha(&programs.join("clip-init")),
        file_sha(&programs.join("clip-status")),
        file_sha(&programs.join("clip-updated")),
        image_support::product_sha(&product),
        version.to_owned(),
    ]
    .join("\n");
    let out = base.join(version);
    let stamp_file = base.join(format!("{version}.stamp"));
    let fresh = std::fs::read_to_string(&stamp_file).is_ok_and(|s| s == stamp)
        && out.join("manifest.json").is_file();
    if !fresh {
        let _ = std::fs::remove_file(&stamp_file);
        let _ = std::fs::remove_dir_all(&out);
        let mut cmd = Command::new(clip_path());
        cmd.arg("build")
            .arg(&product)
            .arg("--out")
            .arg(&out)
            .arg("--programs")
            .arg(programs)
            .args(["--version", version, "--json"]);
        let t = Instant::now();
        run_command(cmd).assert_success();
        eprintln!("clip build {version}: {:.1} s", t.elapsed().as_secs_f64());
        std::fs::write(&stamp_file, &stamp).unwrap();
    }
    out
}

/// A fresh machine: a sparse copy of OUT's disk in `name`'s own directory
/// (its TPM state will be `tpm/` beside it). Returns the disk.
pub fn machine(out: &Path, name: &str) -> image_support::DiskCopy {
    image_support::disk_copy(
        &out.join("disk.img"),
        &tmp().join("update-guest-machines").join(name),
    )
}

/// A copy of a machine's directory (disk and TPM state) as `name`.
pub fn machine_copy(disk: &Path, name: &str) -> image_support::DiskCopy {
    let from = disk.parent().unwrap();
    let to = from.parent().unwrap().join(name);
    let _ = std::fs::remove_dir_all(&to);
    let status = Command::new("cp")
        .args(["-a", "--sparse=always"])
        .arg(from)
        .arg(&to)
        .status()
        .unwrap();
    assert!(status.success(), "cp -a of the machine failed");
    image_support::DiskCopy::adopt(to.join("disk.img"))
}

/// A running `clip repo serve DIR --listen ADDR --access-log LOG`, killed on drop.
pub struct Server {
    child: Child,
    pub url: String,
    pub log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn serve(dir: &Path, log: &Path) -> Server {
    let (child, url) =
        image_support::start_repo_server(dir, &[OsStr::new("--access-log"), log.as_os_str()]);
    Server {
        child,
        url,
        log: log.to_owned(),
    }
}

/// `clip repo ARGS`, which must succeed.
pub fn repo(args: &[&std::ffi::OsStr]) -> Run {
    let mut cmd = Command::new(clip_path());
    cmd.arg("repo").args(args);
    let run = run_command(cmd);
    run.assert_success();
    run
}

/// `clip boot DISK --secure-boot --keys KEYS --tpm --json --serial-log LOG
/// EXTRA...` started as a child (stdout and stderr to files beside LOG).
/// Dropped while running (a failed assertion), its QEMU and then `clip
/// boot` are killed.
pub struct Boot {
    pub child: Child,
    disk: PathBuf,
    pub serial: PathBuf,
    pub started: Instant,
    stdout: PathBuf,
    stderr: PathBuf,
}

pub fn start_boot(disk: &Path, keys: &Path, serial: &Path, extra: &[&str]) -> Boot {
    let _ = std::fs::remove_file(serial);
    let stdout = serial.with_extension("stdout");
    let stderr = serial.with_extension("stderr");
    let child = Command::new(clip_path())
        .arg("boot")
        .arg(disk)
        .arg("--secure-boot")
        .arg("--keys")
        .arg(keys)
        .args(["--tpm", "--json", "--serial-log"])
        .arg(serial)
        .args(extra)
        .stdout(File::create(&stdout).unwrap())
        .stderr(File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    Boot {
        child,
        disk: disk.to_owned(),
        serial: serial.to_owned(),
        started: Instant::now(),
        stdout,
        stderr,
    }
}

impl Boot {
    pub fn log(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.serial).unwrap_or_default()).into_owned()
    }

    /// Waits for a console line containing `needle` after byte `from` of the
    /// log; returns the line and the offset after it. Panics after `limit`
    /// or if `clip boot` ended first.
    pub fn wait_line(&mut self, needle: &str, from: usize, limit: Duration) -> (String, usize) {
        let t = Instant::now();
        loop {
            let log = self.log();
            if let Some(tail) = log.get(from..) {
                if let Some(i) = tail.find(needle) {
                    let start = tail[..i].rfind('\n').map_or(0, |n| n + 1);
                    let end = tail[i..].find('\n').map_or(tail.len(), |n| i + n);
                    return (tail[start..end].trim_end().to_owned(), from + end);
                }
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "clip boot ended ({status}) before {needle:?}:\n{}\n{}",
                    tail_of(&log, 4000),
                    std::fs::read_to_string(&self.stderr).unwrap_or_default()
                );
            }
            assert!(
                t.elapsed() < limit,
                "{needle:?} not on the console after {limit:?}:\n{}",
                tail_of(&log, 4000)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits for `clip boot` to end: (exit code, --json report or Null, stderr).
    pub fn finish(mut self) -> (Option<i32>, Value, String) {
        let status = self.child.wait().unwrap();
        let out = std::fs::read_to_string(&self.stdout).unwrap_or_default();
        let report = serde_json::from_str(out.trim()).unwrap_or(Value::Null);
        (
            status.code(),
            report,
            std::fs::read_to_string(&self.stderr).unwrap_or_default(),
        )
    }
}

impl Drop for Boot {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            kill_qemu(&self.disk);
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn tail_of(s: &str, n: usize) -> &str {
    let mut i = s.len().saturating_sub(n);
    while !s.is_char_boundary(i) {
        i += 1;
    }
    &s[i..]
}

/// The process ID of the QEMU running `disk` (found in /proc by its
/// command line, which names the disk's path).
pub fn qemu_pid(disk: &Path) -> Option<i32> {
    let needle = format!("file={}", disk.display());
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmdline
            .split(|&b| b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if args
            .first()
            .is_some_and(|a| a.ends_with("qemu-system-x86_64"))
            && args.iter().any(|a| a.contains(&needle))
        {
            return Some(pid);
        }
    }
    None
}

/// SIGKILL to the QEMU of `disk`: the power cut. Returns false when no
/// such QEMU runs (any more).
pub fn kill_qemu(disk: &Path) -> bool {
    match qemu_pid(disk) {
        Some(pid) => {
            let pid = rustix::process::Pid::from_raw(pid).unwrap();
            rustix::process::kill_process(pid, rustix::process::Signal::KILL).is_ok()
        }
        None => false,
    }
}

/// `mtools` on the ESP at `offset` of `disk`.
pub fn mtools(tool: &str, disk: &Path, offset: u64, args: &[&str]) -> String {
    let out = Command::new(tool)
        .env("MTOOLS_SKIP_CHECK", "1")
        .arg("-i")
        .arg(format!("{}@@{offset}", disk.display()))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{tool} (Debian package mtools) cannot run: {e}"));
    assert!(
        out.status.success(),
        "{tool} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every file under the ESP's loader/ (loader.conf, entries) and EFI/clipos/
/// with its SHA-256, as "path sha256" lines, sorted; loader/random-seed,
/// which systemd-boot rewrites at every boot, is left out.
pub fn esp_entries(disk: &Path, m: &Value) -> Vec<String> {
    let (offset, _) = partition(m, "esp");
    let mut lines = Vec::new();
    for dir in ["::/loader", "::/EFI"] {
        for path in mtools("mdir", disk, offset, &["-/", "-b", dir]).lines() {
            let path = path.trim();
            if path.is_empty() || path.ends_with('/') || path.ends_with("random-seed") {
                continue;
            }
            let bytes = Command::new("mtype")
                .env("MTOOLS_SKIP_CHECK", "1")
                .arg("-i")
                .arg(format!("{}@@{offset}", disk.display()))
                .arg(path)
                .output()
                .unwrap();
            assert!(bytes.status.success(), "mtype {path}");
            lines.push(format!(
                "{path} {}",
                hex::encode(Sha256::digest(&bytes.stdout))
            ));
        }
    }
    lines.sort();
    lines
}

/// Whether `len` bytes at `offset` are the same in `a` and `b` (cmp).
pub fn same_region(a: &Path, b: &Path, offset: u64, len: u64) -> bool {
    let status = Command::new("cmp")
        .arg("--quiet")
        .arg(format!("--bytes={len}"))
        .arg(format!("--ignore-initial={offset}:{offset}"))
        .arg(a)
        .arg(b)
        .status()
        .expect("cmp (diffutils) cannot run");
    match status.code() {
        Some(0) => true,
        Some(1) => false,
        _ => panic!(
            "cmp of {} and {} failed: {status}",
            a.display(),
            b.display()
        ),
    }
}

/// The regions of `disk` that differ from `reference` (the same image as
/// built) among slot B's partitions (root-b, verity-b) and both GPT copies
/// (LBA 0-33 and the last 33 sectors).
pub fn slot_b_and_gpt_changes(disk: &Path, reference: &Path, m: &Value) -> Vec<String> {
    let len = std::fs::metadata(disk).unwrap().len();
    assert_eq!(len, std::fs::metadata(reference).unwrap().len());
    let mut regions: Vec<(String, u64, u64)> = ["root-b", "verity-b"]
        .iter()
        .map(|&n| {
            let (o, s) = partition(m, n);
            (n.to_owned(), o, s)
        })
        .collect();
    regions.push(("primary GPT".into(), 0, 34 * 512));
    regions.push(("backup GPT".into(), len - 33 * 512, 33 * 512));
    regions
        .into_iter()
        .filter(|(_, o, s)| !same_region(disk, reference, *o, *s))
        .map(|(n, _, _)| n)
        .collect()
}
