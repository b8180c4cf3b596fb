//! Replays the committed fuzz corpus (`fuzz/corpus/parse/`) through the fuzz
//! target's own checks, so that what the fuzzer once found keeps passing
//! under plain `cargo test`, without nightly Rust or cargo-fuzz.
//!
//! The fuzz crate is a separate workspace and cannot be a dependency, so its
//! check functions (`fuzz/src/lib.rs`) are compiled into this test as a module.

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
fn parse_corpus() {
    let mut outcomes = Vec::new();
    for (path, bytes) in corpus("parse") {
        let outcome = std::panic::catch_unwind(|| targets::parse(&bytes))
            .unwrap_or_else(|_| panic!("fuzz target parse fails on {}", path.display()));
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        outcomes.push((name, outcome));
    }
    let of = |name: &str| {
        outcomes
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("seed {name} missing from the corpus"))
            .1
    };
    // The seeds reach what they were written for.
    assert_eq!(of("seed-pe32plus"), Outcome::Edited);
    assert_eq!(of("seed-pe32"), Outcome::Edited);
    assert_eq!(of("seed-signed"), Outcome::Edited);
    assert_eq!(of("seed-five-directories"), Outcome::Edited);
    assert_eq!(of("seed-header-full"), Outcome::Hashed);
    assert_eq!(of("seed-systemd-stub-headers"), Outcome::Rejected);
    // Every stage is reached by something.
    for stage in [Outcome::Rejected, Outcome::Hashed, Outcome::Edited] {
        assert!(
            outcomes.iter().any(|(_, o)| *o == stage),
            "nothing reaches {stage:?}"
        );
    }
}
