//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/`) through the
//! fuzz targets' own checks, so that what the fuzzer once found keeps passing
//! under plain `cargo test`, without nightly Rust or cargo-fuzz.
//!
//! The fuzz crate is a separate workspace and cannot be a dependency, so its
//! check functions (`fuzz/src/lib.rs`: `esl`, `auth`) are compiled into this
//! test as a module.

#[path = "../fuzz/src/lib.rs"]
mod targets;

use fuzz_corpus::replay;

use targets::Outcome;

fn outcome_of(outcomes: &[(String, Outcome)], name: &str) -> Option<Outcome> {
    outcomes.iter().find(|(n, _)| n == name).map(|(_, o)| *o)
}

#[test]
fn esl_corpus() {
    let outcomes = replay(env!("CARGO_MANIFEST_DIR"), "esl", targets::esl);
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
    let outcomes = replay(env!("CARGO_MANIFEST_DIR"), "auth", targets::auth);
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
