//! The oracle: trixie's own `systemd-measure` (systemd 257, the image's),
//! run on this Debian 12 host through trixie's dynamic loader.
//!
//! Trixie binaries need trixie's glibc, newer than the host's, so the
//! packages below (systemd-measure, libsystemd-shared, their libraries, and
//! the tpm2-tss libraries it dlopen()s to marshal the PolicyPCR digest) are
//! fetched by `scripts/fetch-deb` into `$CLIP_CACHE` and their libraries
//! linked into one directory; `systemd-measure` there is a script running
//! `ld-linux-x86-64.so.2 --library-path DIR systemd-measure "$@"`. A
//! missing package fails the test. Shared with the `clip` tests (through
//! `#[path]`), which also hand the directory to ukify as `--tools`.

#![allow(dead_code, unused_imports)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

#[path = "../../../pe/tests/support/mod.rs"]
pub mod pe_support;

pub use pe_support::{kernel, run, stub, trixie_package};

/// systemd-measure's package first, then every library it needs.
const PACKAGES: [&str; 21] = [
    "systemd",
    "libsystemd-shared",
    "libc6",
    "libssl3t64",
    "zlib1g",
    "libzstd1",
    "libacl1",
    "libblkid1",
    "libcap2",
    "libcrypt1",
    "libmount1",
    "libpam0g",
    "libaudit1",
    "libcap-ng0",
    "libseccomp2",
    "libselinux1",
    "libpcre2-8-0",
    "libtss2-esys-3.0.2-0t64",
    "libtss2-sys1t64",
    "libtss2-mu-4.0.1-0t64",
    "libtss2-rc0t64",
];

/// Where the packages keep their shared libraries.
const LIB_DIRS: [&str; 3] = [
    "usr/lib/x86_64-linux-gnu",
    "usr/lib/x86_64-linux-gnu/systemd",
    "lib/x86_64-linux-gnu",
];

/// A directory holding a `systemd-measure` that runs trixie's. Made once
/// per set of package versions (named by their extraction directories)
/// under the temporary directory, atomically.
pub fn tools_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dirs: Vec<PathBuf> = PACKAGES.iter().map(|p| trixie_package(p)).collect();
        let key = {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            dirs.hash(&mut h);
            format!("{:016x}", h.finish())
        };
        let base = std::env::temp_dir().join("clip-test-systemd-measure");
        let dir = base.join(&key);
        if dir.join("systemd-measure").is_file() {
            return dir;
        }
        std::fs::create_dir_all(&base).unwrap();
        let staging = tempfile::tempdir_in(&base).unwrap();
        let lib = staging.path().join("lib");
        std::fs::create_dir(&lib).unwrap();
        for package in &dirs {
            for sub in LIB_DIRS {
                let Ok(entries) = std::fs::read_dir(package.join(sub)) else {
                    continue;
                };
                for e in entries {
                    let e = e.unwrap();
                    let name = e.file_name();
                    if name.to_string_lossy().contains(".so") && !lib.join(&name).exists() {
                        std::os::unix::fs::symlink(e.path(), lib.join(&name)).unwrap();
                    }
                }
            }
        }
        let binary = dirs[0].join("usr/lib/systemd/systemd-measure");
        assert!(binary.is_file(), "{} missing", binary.display());
        let loader = lib.join("ld-linux-x86-64.so.2");
        assert!(
            loader.exists(),
            "trixie's libc6 has no ld-linux-x86-64.so.2"
        );
        let final_lib = dir.join("lib");
        // OPENSSL_CONF: trixie's libcrypto must not read the host's
        // OpenSSL configuration (written for OpenSSL 3.0).
        let script = format!(
            "#!/bin/sh\nOPENSSL_CONF=/dev/null exec '{}' --library-path '{}' '{}' \"$@\"\n",
            final_lib.join("ld-linux-x86-64.so.2").display(),
            final_lib.display(),
            binary.display()
        );
        let tool = staging.path().join("systemd-measure");
        std::fs::write(&tool, script).unwrap();
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
        let staged = staging.keep();
        // Another test process may have won the race: theirs is as good.
        if std::fs::rename(&staged, &dir).is_err() {
            let _ = std::fs::remove_dir_all(&staged);
        }
        assert!(dir.join("systemd-measure").is_file());
        dir
    })
}

/// `systemd-measure ARGS…`, which must succeed; its stdout.
pub fn systemd_measure(args: &[&str]) -> String {
    let out = run(Command::new(tools_dir().join("systemd-measure")).args(args));
    String::from_utf8(out.stdout).unwrap()
}

/// `systemd-measure calculate --bank=sha256 --json=short` on `sections`
/// (name, file) for each phase path: the hex values, in `phases` order
/// (the tool sorts them; ":" is the value after the stub).
pub fn calculate(sections: &[(&str, &Path)], phases: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = sections
        .iter()
        .map(|(name, file)| format!("--{}={}", name.trim_start_matches('.'), file.display()))
        .collect();
    args.extend(["--bank=sha256".to_owned(), "--json=short".to_owned()]);
    args.extend(phases.iter().map(|p| format!("--phase={p}")));
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let out: serde_json::Value =
        serde_json::from_str(&systemd_measure(&[&["calculate"][..], &argv].concat())).unwrap();
    let entries = out["sha256"].as_array().unwrap();
    phases
        .iter()
        .map(|p| {
            // The tool prints the normalised phase, and none for ":" / "".
            let want = p
                .split(':')
                .filter(|w| !w.is_empty())
                .collect::<Vec<_>>()
                .join(":");
            let e = entries
                .iter()
                .find(|e| e["phase"].as_str().unwrap_or("") == want)
                .unwrap_or_else(|| panic!("no phase {want:?} in {out}"));
            assert_eq!(e["pcr"], 11);
            e["hash"].as_str().unwrap().to_owned()
        })
        .collect()
}

/// Writes `data` to `dir/name` and returns the path.
pub fn file(dir: &Path, name: &str, data: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    p
}
