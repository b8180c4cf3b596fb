//! Replays the committed fuzz corpus (`fuzz/corpus/reply/`) through the fuzz
//! target's own checks, so that what the fuzzer once found keeps passing
//! under plain `cargo test`, without nightly Rust or cargo-fuzz.
//!
//! The fuzz crate is a separate workspace and cannot be a dependency, so its
//! check functions (`fuzz/src/lib.rs`) are compiled into this test as a
//! module.

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

#[test]
fn reply_corpus() {
    let outcomes: Vec<(String, Outcome)> = corpus("reply")
        .iter()
        .map(|(path, bytes)| {
            let outcome = std::panic::catch_unwind(|| targets::reply(bytes))
                .unwrap_or_else(|_| panic!("fuzz target reply fails on {}", path.display()));
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, outcome)
        })
        .collect();
    let outcome = |name: &str| outcomes.iter().find(|(n, _)| n == name).map(|(_, o)| *o);
    // The seeds (make_seeds.py) reach the depth their names promise.
    assert_eq!(outcome("seed-verity-verified"), Some(Outcome::Verity));
    assert_eq!(outcome("seed-verity-corrupted"), Some(Outcome::Verity));
    assert_eq!(outcome("seed-table-three-targets"), Some(Outcome::Targets));
    assert_eq!(outcome("seed-no-data"), Some(Outcome::Header));
    assert!(
        outcomes.iter().any(|(_, o)| *o == Outcome::Rejected),
        "{outcomes:?}"
    );
}
