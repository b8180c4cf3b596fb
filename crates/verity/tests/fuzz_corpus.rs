//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/`) through the
//! fuzz targets' own checks, so that what the fuzzer once found keeps passing
//! under plain `cargo test`, without nightly Rust or cargo-fuzz.
//!
//! The fuzz crate is a separate workspace and cannot be a dependency, so its
//! check functions (`fuzz/src/lib.rs`, one per target: `superblock`,
//! `verify_tree`) are compiled into this test as a module.

#[path = "../fuzz/src/lib.rs"]
mod targets;

use std::path::{Path, PathBuf};

use targets::Outcome;

/// Every file of `fuzz/corpus/<target>`; panics if there are none.
fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus directory {}: {e}", dir.display()));
    let mut files: Vec<(PathBuf, Vec<u8>)> = entries
        .map(|entry| {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
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

/// Runs each input, naming the file on failure, and returns the outcomes by
/// file name.
fn replay(target: &str, check: fn(&[u8]) -> Outcome) -> Vec<(String, Outcome)> {
    corpus(target)
        .iter()
        .map(|(path, bytes)| {
            let outcome = std::panic::catch_unwind(|| check(bytes))
                .unwrap_or_else(|_| panic!("fuzz target {target} fails on {}", path.display()));
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, outcome)
        })
        .collect()
}

#[test]
fn superblock_corpus() {
    let outcomes = replay("superblock", targets::superblock);
    for (name, outcome) in &outcomes {
        // veritysetup's superblocks parse.
        if name.starts_with("seed-") {
            assert_eq!(*outcome, Outcome::RoundTrip, "{name}");
        }
    }
    assert!(
        outcomes.iter().any(|(_, o)| *o == Outcome::Rejected),
        "{outcomes:?}"
    );
}

#[test]
fn verify_tree_corpus() {
    let outcomes = replay("verify_tree", targets::verify_tree);
    for (name, outcome) in &outcomes {
        // veritysetup's trees verify and their data checks.
        if name.starts_with("seed-") {
            assert!(*outcome >= Outcome::DataChecked, "{name}: {outcome:?}");
        }
    }
    let outcome = |name: &str| outcomes.iter().find(|(n, _)| n == name).map(|(_, o)| *o);
    // Data blocks from u64::MAX on: refused, no longer an add overflow.
    assert_eq!(
        outcome("crash-check-data-overflow"),
        Some(Outcome::DataRefused)
    );
    assert_eq!(outcome("seed-sha512-9"), Some(Outcome::RoundTrip));
    assert!(
        outcomes.iter().any(|(_, o)| *o == Outcome::TreeRefused),
        "{outcomes:?}"
    );
}
