//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/`) through the
//! fuzz targets' own checks, so that what the fuzzer once found keeps passing
//! under plain `cargo test`, without nightly Rust or cargo-fuzz.
//!
//! The fuzz crate is a separate workspace and cannot be a dependency, so its
//! check functions (`fuzz/src/lib.rs`: `esl`, `auth`) are compiled into this
//! test as a module.

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

/// Runs each input, naming the file on failure; outcomes by file name.
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

fn outcome_of(outcomes: &[(String, Outcome)], name: &str) -> Option<Outcome> {
    outcomes.iter().find(|(n, _)| n == name).map(|(_, o)| *o)
}

#[test]
fn esl_corpus() {
    let outcomes = replay("esl", targets::esl);
    for (name, outcome) in &outcomes {
        // Lists written by clip and efitools parse and re-encode exactly.
        if name.starts_with("seed-") {
            assert_eq!(*outcome, Outcome::Parsed, "{name}");
        }
    }
    assert_eq!(
        outcome_of(&outcomes, "seed-three-lists"),
        Some(Outcome::Parsed)
    );
    assert!(
        outcomes.iter().any(|(_, o)| *o == Outcome::Rejected),
        "{outcomes:?}"
    );
}

#[test]
fn auth_corpus() {
    let outcomes = replay("auth", targets::auth);
    // clip's and efitools' signed updates verify under the seeds' PK
    // (db updates through the KEK it issued).
    for name in [
        "seed-PK",
        "seed-KEK",
        "seed-db",
        "seed-noPK",
        "seed-efitools-db-append",
    ] {
        assert_eq!(
            outcome_of(&outcomes, name),
            Some(Outcome::Verified),
            "{name}"
        );
    }
    // Signed attributes: the descriptor parses, the signature is refused.
    assert_eq!(
        outcome_of(&outcomes, "seed-signed-attributes"),
        Some(Outcome::Parsed)
    );
    assert!(
        outcomes.iter().any(|(_, o)| *o == Outcome::Rejected),
        "{outcomes:?}"
    );
}
