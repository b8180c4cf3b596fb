//! Replays the committed fuzz corpus (`fuzz/corpus/reply/`) through the fuzz
//! target's own checks, so that what the fuzzer once found keeps passing
//! under plain `cargo test`, without nightly Rust or cargo-fuzz.
//!
//! The fuzz crate is a separate workspace and cannot be a dependency, so its
//! check functions (`fuzz/src/lib.rs`) are compiled into this test as a
//! module.

#[path = "../fuzz/src/lib.rs"]
mod targets;

use fuzz_corpus::replay;

use targets::Outcome;

#[test]
fn reply_corpus() {
    let outcomes: Vec<(String, Outcome)> =
        replay(env!("CARGO_MANIFEST_DIR"), "reply", targets::reply);
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
