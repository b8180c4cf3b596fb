//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/`) through the
//! fuzz targets' own checks, so that what the fuzzer once found keeps passing
//! under plain `cargo test`, without nightly Rust or cargo-fuzz.
//!
//! The fuzz crate is a separate workspace and cannot be a dependency, so its
//! check functions (`fuzz/src/lib.rs`: `verify_image`, `signed_data`) are
//! compiled into this test as a module.

#[path = "../fuzz/src/lib.rs"]
mod targets;

use std::path::{Path, PathBuf};

use targets::Outcome;

/// Every file of `fuzz/corpus/<target>`; panics if there are none.
fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus directory {}: {e}", dir.display()))
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

fn check_outcomes(outcomes: &[(String, Outcome)], must_reach: &[Outcome]) {
    for (name, outcome) in outcomes {
        // The seeds are signatures by db: ours, sbsign's, ours appended.
        if name.starts_with("seed-") {
            assert_eq!(*outcome, Outcome::Verified, "{name}");
        }
    }
    for want in must_reach {
        assert!(
            outcomes.iter().any(|(_, o)| o == want),
            "no {want:?} in {outcomes:?}"
        );
    }
}

#[test]
fn verify_image_corpus() {
    let outcomes = replay("verify_image", targets::verify_image);
    let get = |n: &str| outcomes.iter().find(|(name, _)| name == n).map(|(_, o)| *o);
    assert_eq!(get("unsigned"), Some(Outcome::NotSigned));
    assert_eq!(get("other-signer"), Some(Outcome::NotTrusted));
    check_outcomes(
        &outcomes,
        &[Outcome::NotPe, Outcome::Malformed, Outcome::Verified],
    );
}

#[test]
fn signed_data_corpus() {
    let outcomes = replay("signed_data", targets::signed_data);
    check_outcomes(
        &outcomes,
        &[Outcome::Malformed, Outcome::NotTrusted, Outcome::Verified],
    );
}
