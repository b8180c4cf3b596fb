//! Helpers shared by the `clip keys` integration tests: running `clip` and
//! the reference tools (openssl, efitools, sbsigntool), and generated sets.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// SOURCE_DATE_EPOCH of the test sets: 2024-01-02T03:04:05Z.
pub const EPOCH: u64 = 1_704_164_645;
/// The same instant as efitools' `sign-efi-sig-list -t` takes it.
pub const EPOCH_TEXT: &str = "2024-01-02 03:04:05";

/// Every file `clip keys generate` writes, with its mode.
pub const FILES: [(&str, u32); 25] = [
    ("KEK.auth", 0o644),
    ("KEK.cer", 0o644),
    ("KEK.crt", 0o644),
    ("KEK.esl", 0o644),
    ("KEK.key", 0o600),
    ("PK.auth", 0o644),
    ("PK.cer", 0o644),
    ("PK.crt", 0o644),
    ("PK.esl", 0o644),
    ("PK.key", 0o600),
    ("db.auth", 0o644),
    ("db.cer", 0o644),
    ("db.crt", 0o644),
    ("db.esl", 0o644),
    ("db.key", 0o600),
    ("keys.json", 0o644),
    ("noPK.auth", 0o644),
    ("owner.guid", 0o644),
    ("pcr-policy.key", 0o600),
    ("pcr-policy.pub", 0o644),
    ("update-online.key", 0o600),
    ("update-online.pub", 0o644),
    ("update-root.json", 0o644),
    ("update.key", 0o600),
    ("update.pub", 0o644),
];

pub const ROLES: [&str; 3] = ["PK", "KEK", "db"];

#[path = "../support/run.rs"]
mod run;
#[allow(unused_imports)] // start_repo_server: repo_support only.
pub use run::{Run, clip_path, run_command as run, start_repo_server};

/// `clip ARGS` with SOURCE_DATE_EPOCH set to [`EPOCH`].
pub fn clip<S: AsRef<OsStr>>(args: &[S]) -> Run {
    let mut cmd = Command::new(clip_path());
    cmd.args(args).env("SOURCE_DATE_EPOCH", EPOCH.to_string());
    run(cmd)
}

/// Path of a reference tool; panics (never skips) when it is missing.
pub fn tool(name: &str) -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(["/usr/bin", "/usr/sbin", "/bin", "/sbin"].map(PathBuf::from));
    dirs.into_iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{name} not found: run ./dev test, which installs openssl, efitools and sbsigntool"
            )
        })
}

/// Runs a reference tool in `dir`.
pub fn tool_in<S: AsRef<OsStr>>(dir: &Path, name: &str, args: &[S]) -> Run {
    let mut cmd = Command::new(tool(name));
    cmd.args(args).current_dir(dir);
    run(cmd)
}

/// Binary stdout of a reference tool run in `dir`; panics unless it succeeds.
pub fn tool_bytes<S: AsRef<OsStr>>(dir: &Path, name: &str, args: &[S]) -> Vec<u8> {
    let out = Command::new(tool(name))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {name}: {e}"));
    assert!(
        out.status.success(),
        "{name} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Generates a key set into the new directory `dir` (SOURCE_DATE_EPOCH = [`EPOCH`]).
pub fn generate(dir: &Path, name: &str) -> Value {
    let run = clip(&[
        OsStr::new("keys"),
        OsStr::new("generate"),
        dir.as_os_str(),
        OsStr::new("--name"),
        OsStr::new(name),
        OsStr::new("--json"),
    ]);
    run.assert_success();
    run.json()
}

/// A key set generated (`--name NAME`) by the `clip` under test, shared by
/// all tests of one build: generated once, published with an atomic rename
/// under a name derived from the `clip` binary, and reused by every later
/// test and test process (nextest runs each test in its own process). RSA
/// key generation is slow in unoptimised builds. Tests must not modify it:
/// copy it first ([`copy_set`]). Returns the set's directory and the JSON
/// `generate` printed.
pub fn shared_set(tag: &str, name: &str) -> (PathBuf, Value) {
    use std::os::unix::fs::MetadataExt;
    let bin = fs::metadata(clip_path()).unwrap();
    let build = format!("{:x}-{:x}-{:x}", bin.len(), bin.mtime(), bin.mtime_nsec());
    let sets = Path::new(env!("CARGO_TARGET_TMPDIR")).join("keys-sets");
    fs::create_dir_all(&sets).unwrap();
    let published = sets.join(format!("{tag}-{build}"));
    let load = |dir: &Path| -> (PathBuf, Value) {
        let out = serde_json::from_slice(&fs::read(dir.join("out.json")).unwrap()).unwrap();
        (dir.join("set"), out)
    };
    if published.exists() {
        return load(&published);
    }
    let work = sets.join(format!(".{tag}-{}", std::process::id()));
    if work.exists() {
        fs::remove_dir_all(&work).unwrap();
    }
    fs::create_dir(&work).unwrap();
    let mut out = generate(&work.join("set"), name);
    assert_eq!(out["directory"], work.join("set").display().to_string());
    out["directory"] = Value::String(published.join("set").display().to_string());
    fs::write(work.join("out.json"), out.to_string()).unwrap();
    // Another process may have published first; then use its set.
    if fs::rename(&work, &published).is_err() {
        fs::remove_dir_all(&work).unwrap();
    }
    // Sets of earlier builds are of no more use.
    for e in fs::read_dir(&sets).unwrap().flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if n.starts_with(&format!("{tag}-")) && e.path() != published {
            let _ = fs::remove_dir_all(e.path());
        }
    }
    load(&published)
}

/// A fresh directory under the target's test scratch space, emptied first.
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    if dir.exists() {
        make_writable(&dir);
        fs::remove_dir_all(&dir).unwrap();
    }
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn make_writable(dir: &Path) {
    let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o755));
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                make_writable(&e.path());
            }
        }
    }
}

/// Copies the files of `src` into the new directory `dst`, keeping modes.
pub fn copy_set(src: &Path, dst: &Path) {
    fs::create_dir(dst).unwrap();
    for e in fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), dst.join(e.file_name())).unwrap();
    }
}

/// Names in `dir`, sorted.
pub fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// (name, contents) of every file in `dir`, sorted by name.
pub fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    listing(dir)
        .into_iter()
        .map(|n| {
            let bytes = fs::read(dir.join(&n)).unwrap();
            (n, bytes)
        })
        .collect()
}

pub fn read(dir: &Path, name: &str) -> Vec<u8> {
    fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{}: {e}", dir.join(name).display()))
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// True when this process runs as root (and so ignores file permissions).
pub fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// A new directory (mode 0755) that every user can reach, holding a copy of
/// the `clip` under test (mode 0755), for tests that run clip as another
/// user: the clone, and so `target/`, may sit where that user cannot go
/// (root's home is mode 0700). Panics, naming the candidates, when no
/// temporary directory is reachable by all. Removed on drop.
pub fn reachable_sandbox() -> (tempfile::TempDir, PathBuf) {
    let candidates = [std::env::temp_dir(), "/tmp".into(), "/var/tmp".into()];
    let base = candidates
        .iter()
        .find(|dir| reachable_by_all(dir))
        .unwrap_or_else(|| {
            panic!("none of {candidates:?} can be reached by every user (o+x on each ancestor)")
        });
    let sandbox = tempfile::Builder::new()
        .prefix("clip-test-")
        .permissions(fs::Permissions::from_mode(0o755))
        .tempdir_in(base)
        .unwrap_or_else(|e| panic!("cannot create a directory in {}: {e}", base.display()));
    let clip = sandbox.path().join("clip");
    // Copied by another process: a file this multi-threaded process had
    // open for writing could leak into a child another test forks meanwhile,
    // and executing it would then fail with ETXTBSY ("Text file busy").
    let mut cp = Command::new("cp");
    cp.arg(clip_path()).arg(&clip);
    run(cp).expect(0);
    fs::set_permissions(&clip, fs::Permissions::from_mode(0o755)).unwrap();
    (sandbox, clip)
}

/// True when `dir` and each of its ancestors let others search it (o+x).
fn reachable_by_all(dir: &Path) -> bool {
    dir.is_absolute()
        && dir.ancestors().all(|d| {
            fs::metadata(d).is_ok_and(|m| m.is_dir() && m.permissions().mode() & 0o001 != 0)
        })
}
