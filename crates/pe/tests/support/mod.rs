//! Test inputs shared by the `pe` tests and (through `#[path]`) the `clip`
//! UKI tests: real EFI binaries from Debian trixie packages (fetched by
//! `scripts/fetch-deb` into `$CLIP_CACHE`) and oracle tools (osslsigncode,
//! sbsign, objdump, openssl from ./dev's APT_PACKAGES). A missing input or
//! tool fails the test; nothing is skipped.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root (both `crates/pe` and `programs/clip` are two levels down).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Extracts a Debian trixie package with `scripts/fetch-deb` (downloaded once
/// into `$CLIP_CACHE`) and returns the extraction directory.
///
/// fetch-deb takes a second or two even when everything is cached, and every
/// test asks for the stub and the kernel: its answer is remembered for an
/// hour in a file under the temporary directory.
pub fn trixie_package(package: &str) -> PathBuf {
    let memo_dir = std::env::temp_dir().join("clip-test-fetch-deb");
    let memo = memo_dir.join(package);
    let fresh = std::fs::metadata(&memo)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age.as_secs() < 3600);
    if fresh && let Ok(dir) = std::fs::read_to_string(&memo) {
        let dir = PathBuf::from(dir);
        if dir.is_dir() {
            return dir;
        }
    }
    // flock: parallel test processes must not run apt-get in one cache at once.
    let out = run(Command::new("flock")
        .arg(std::env::temp_dir().join("clip-fetch-deb.lock"))
        .arg(repo_root().join("scripts/fetch-deb"))
        .args(["trixie", package]));
    let dir = String::from_utf8(out.stdout).expect("fetch-deb prints a path");
    let dir = PathBuf::from(dir.trim());
    std::fs::create_dir_all(&memo_dir).unwrap();
    let tmp = tempfile::NamedTempFile::new_in(&memo_dir).unwrap();
    std::fs::write(tmp.path(), dir.to_str().unwrap()).unwrap();
    tmp.persist(&memo).unwrap();
    dir
}

/// A file of a trixie package, or a panic naming it.
fn trixie_file(package: &str, path: &str) -> PathBuf {
    let p = trixie_package(package).join(path);
    assert!(p.is_file(), "{} is not in trixie's {package}", p.display());
    p
}

/// systemd-boot's EFI stub for unified kernel images (trixie, systemd 257).
pub fn stub() -> PathBuf {
    trixie_file(
        "systemd-boot-efi",
        "usr/lib/systemd/boot/efi/linuxx64.efi.stub",
    )
}

/// systemd-boot itself (trixie, systemd 257).
pub fn boot() -> PathBuf {
    trixie_file(
        "systemd-boot-efi",
        "usr/lib/systemd/boot/efi/systemd-bootx64.efi",
    )
}

/// systemd's ukify script (trixie, systemd 257); run it with /usr/bin/python3
/// (it needs Debian's python3-pefile).
pub fn ukify() -> PathBuf {
    trixie_file("systemd-ukify", "usr/bin/ukify")
}

/// Trixie's x86_64 kernel (a bzImage with an EFI stub, signed by Debian).
pub fn kernel() -> PathBuf {
    let boot = trixie_package("linux-image-amd64").join("boot");
    std::fs::read_dir(&boot)
        .unwrap_or_else(|e| panic!("{}: {e}", boot.display()))
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("vmlinuz-")
        })
        .expect("no boot/vmlinuz-* in trixie's linux-image-amd64")
}

/// Runs a command, panicking with its stderr if it cannot start or fails.
pub fn run(cmd: &mut Command) -> std::process::Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (is the oracle installed?)"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A throwaway self-signed RSA-2048 key and certificate (PEM) in `dir`.
pub fn throwaway_key(dir: &Path) -> (PathBuf, PathBuf) {
    let key = dir.join("key.pem");
    let cert = dir.join("cert.pem");
    run(Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=clip test"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert));
    (key, cert)
}

/// `osslsigncode verify` on `file`: the message digest and PE checksum it
/// calculates (lowercase hex), whether or not the signature verifies.
pub fn osslsigncode_report(file: &Path) -> (Option<String>, Option<String>) {
    let out = Command::new("osslsigncode")
        .arg("verify")
        .arg(file)
        .output()
        .expect("cannot run osslsigncode (package osslsigncode)");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let field = |label: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(label))
            .map(|v| v.trim_start_matches([' ', ':']).trim().to_lowercase())
    };
    (
        field("Calculated message digest"),
        // Printed as "PE checksum" when the stored one matches.
        field("Calculated PE checksum").or_else(|| field("PE checksum")),
    )
}
