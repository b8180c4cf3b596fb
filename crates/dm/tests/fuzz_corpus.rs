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

#[test]
fn integrity_superblock_corpus() {
    let outcomes = replay(
        env!("CARGO_MANIFEST_DIR"),
        "integrity_superblock",
        targets::integrity_superblock,
    );
    let outcome = |name: &str| outcomes.iter().find(|(n, _)| n == name).map(|(_, o)| *o);
    assert_eq!(outcome("seed-4k-blocks"), Some(Some(4096)));
    assert_eq!(outcome("seed-512-blocks"), Some(Some(512)));
    assert_eq!(outcome("seed-bad-block-size"), Some(None));
    assert_eq!(outcome("seed-blank"), Some(None));
}
