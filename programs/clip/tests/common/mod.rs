//! Helpers shared by the `clip verity` integration tests: running `clip` and
//! `veritysetup`, deterministic test data, and parsing their outputs.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::Value;

/// UUID given to both tools whenever a superblock is written.
pub const UUID: &str = "6b1f3c2e-9d4a-4e7b-8c5d-0a1b2c3d4e5f";

#[path = "../support/run.rs"]
mod run;
pub use run::*;

/// Path of `veritysetup`; panics (never skips) when it is not installed.
pub fn veritysetup_path() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).collect())
            .unwrap_or_default();
        // sbin is often missing from PATH for ordinary users.
        dirs.extend(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from));
        dirs.into_iter()
            .map(|d| d.join("veritysetup"))
            .find(|p| p.is_file())
            .unwrap_or_else(|| {
                panic!(
                    "veritysetup not found: run the README test command, \
                     which installs cryptsetup-bin"
                )
            })
    })
}

/// Runs `veritysetup` (the reference implementation).
pub fn veritysetup<S: AsRef<OsStr>>(args: &[S]) -> Run {
    run_program(veritysetup_path(), args)
}

/// xorshift64: a tiny deterministic generator for test data and positions.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        // Any non-zero state works; mix the seed so small seeds differ early.
        Self((seed ^ 0x9e37_79b9_7f4a_7c15).wrapping_mul(0xbf58_476d_1ce4_e5b9) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `0..n` (`n > 0`); the modulo bias is irrelevant here.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// A position in `start..end`.
    pub fn in_range(&mut self, start: u64, end: u64) -> u64 {
        start + self.below(end - start)
    }

    /// Fills `buf` eight bytes at a time.
    pub fn fill(&mut self, buf: &mut [u8]) {
        let mut words = buf.chunks_exact_mut(8);
        for word in &mut words {
            word.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        let tail = words.into_remainder();
        let last = self.next_u64().to_le_bytes();
        tail.copy_from_slice(&last[..tail.len()]);
    }

    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut v = vec![0u8; len];
        self.fill(&mut v);
        v
    }
}

/// Writes `len` deterministic pseudo-random bytes to a new file at `path`.
///
/// Fast even unoptimised, for gigabyte files: one MiB of generator output is
/// reused for every MiB of the file, with the first eight bytes of each
/// 512-byte block replaced by fresh output, so no two blocks are alike.
pub fn write_random_file(path: &Path, len: u64, seed: u64) {
    const BUF: usize = 1 << 20;
    const STAMP_EVERY: usize = 512;
    let mut rng = Rng::new(seed);
    let mut buf = rng.bytes(BUF);
    let mut file = File::create(path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
    let mut left = len;
    while left > 0 {
        for stamp in buf.chunks_mut(STAMP_EVERY) {
            let n = stamp.len().min(8);
            stamp[..n].copy_from_slice(&rng.next_u64().to_le_bytes()[..n]);
        }
        let n = usize::try_from(left).map_or(BUF, |l| l.min(BUF));
        file.write_all(&buf[..n])
            .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        left -= n as u64;
    }
}

/// `len` deterministic bytes as hexadecimal, or "-" (no salt) when `len` is 0.
pub fn salt_hex(len: usize, seed: u64) -> String {
    if len == 0 {
        "-".to_owned()
    } else {
        hex::encode(Rng::new(seed).bytes(len))
    }
}

pub fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

pub fn size(path: &Path) -> u64 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("stat {}: {e}", path.display()))
        .len()
}

/// Panics with the first differing byte unless the two files are identical.
pub fn assert_same_bytes(ours: &Path, theirs: &Path, context: &str) {
    let a = read(ours);
    let b = read(theirs);
    if a != b {
        let first = a
            .iter()
            .zip(&b)
            .position(|(x, y)| x != y)
            .unwrap_or(a.len().min(b.len()));
        panic!(
            "{context}: {} ({} bytes) differs from {} ({} bytes) from byte {first}",
            ours.display(),
            a.len(),
            theirs.display(),
            b.len(),
        );
    }
}

/// `Label: value` lines of veritysetup's `format` and `dump` output.
pub fn veritysetup_fields(stdout: &str) -> BTreeMap<String, String> {
    stdout
        .lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

/// The "Root hash:" line of `veritysetup format`.
pub fn veritysetup_root_hash(run: &Run) -> String {
    veritysetup_fields(&run.stdout)
        .get("Root hash")
        .cloned()
        .unwrap_or_else(|| panic!("{}: no \"Root hash:\" line in\n{}", run.what, run.stdout))
}

/// Names of the files in `dir`.
pub fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("list {}: {e}", dir.display()))
        .map(|e| {
            e.expect("directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// Panics if a temporary file of `clip` was left in `dir`.
pub fn assert_no_temp_files(dir: &Path) {
    let names = file_names(dir);
    assert!(
        !names.iter().any(|n| n.starts_with(".clip-tmp-")),
        "temporary files left in {}: {names:?}",
        dir.display()
    );
}

/// A string field of a JSON object.
pub fn json_str<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("no string {key:?} in {v}"))
}

/// An integer field of a JSON object.
pub fn json_u64(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("no integer {key:?} in {v}"))
}
