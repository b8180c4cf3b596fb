//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/`) through the
//! fuzz targets' own checks, so that what the fuzzer once found keeps passing
//! under plain `cargo test`, without nightly Rust or cargo-fuzz.
//!
//! The fuzz crate is a separate workspace and cannot be a dependency, so its
//! check functions (`fuzz/src/lib.rs`, one per target: `superblock`,
//! `verify_tree`) are compiled into this test as a module.

#[path = "../fuzz/src/lib.rs"]
mod targets;

use fuzz_corpus::replay;

use targets::Outcome;

#[test]
fn superblock_corpus() {
    let outcomes = replay(
        env!("CARGO_MANIFEST_DIR"),
        "superblock",
        targets::superblock,
    );
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
    let outcomes = replay(
        env!("CARGO_MANIFEST_DIR"),
        "verify_tree",
        targets::verify_tree,
    );
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
    // A veritysetup tree for 16 blocks claimed as 9 (same shape): the
    // digests of blocks 9..16 sit where 9 blocks leave spare space.
    assert_eq!(
        outcome("spare-sha512-16-claimed-9"),
        Some(Outcome::SpareRefused)
    );
    assert!(
        outcomes.iter().any(|(_, o)| *o == Outcome::TreeRefused),
        "{outcomes:?}"
    );
}
