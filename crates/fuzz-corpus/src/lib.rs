//! Replays a crate's committed cargo-fuzz corpus (`fuzz/corpus/<target>/`)
//! through the fuzz target's own check function, so that what the fuzzer
//! once found keeps passing under plain `cargo test`, without nightly Rust.
//!
//! A dev-dependency of every crate with a `fuzz/` directory; each calls
//! [`replay`] with `env!("CARGO_MANIFEST_DIR")`.

use std::panic::RefUnwindSafe;
use std::path::{Path, PathBuf};

/// Every file of `<crate_dir>/fuzz/corpus/<target>`, sorted; panics if the
/// directory is missing or empty, so a lost corpus fails the test.
pub fn corpus(crate_dir: &str, target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(crate_dir).join("fuzz/corpus").join(target);
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus directory {}: {e}", dir.display()));
    let mut files: Vec<(PathBuf, Vec<u8>)> = entries
        .map(|entry| {
            let path = entry.expect("readable corpus directory").path();
            let bytes = std::fs::read(&path)
                .unwrap_or_else(|e| panic!("corpus file {}: {e}", path.display()));
            (path, bytes)
        })
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "corpus directory {} is empty",
        dir.display()
    );
    files
}

/// Runs `check` on each corpus input, naming the file if it panics, and
/// returns the outcomes by file name.
pub fn replay<O>(
    crate_dir: &str,
    target: &str,
    check: impl Fn(&[u8]) -> O + RefUnwindSafe,
) -> Vec<(String, O)> {
    corpus(crate_dir, target)
        .iter()
        .map(|(path, bytes)| {
            let outcome = std::panic::catch_unwind(|| check(bytes))
                .unwrap_or_else(|_| panic!("fuzz target {target} fails on {}", path.display()));
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            (name.unwrap_or_default(), outcome)
        })
        .collect()
}
