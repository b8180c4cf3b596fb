//! Replays the committed fuzz corpus (`fuzz/corpus/predict_image/`) through
//! the fuzz target's own checks, so that what the fuzzer once found keeps
//! passing under plain `cargo test`, without nightly Rust or cargo-fuzz.
//!
//! The fuzz crate is a separate workspace and cannot be a dependency, so its
//! check function (`fuzz/src/lib.rs`) is compiled into this test as a module.

#[path = "../fuzz/src/lib.rs"]
mod targets;

use fuzz_corpus::replay;

use targets::Outcome;

#[test]
fn predict_image_corpus() {
    let outcomes = replay(
        env!("CARGO_MANIFEST_DIR"),
        "predict_image",
        targets::predict_image,
    );
    let of = |name: &str| {
        outcomes
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("seed {name} missing from the corpus"))
            .1
    };
    for seed in ["seed-uki", "seed-pcrsig", "seed-zero-fill"] {
        assert_eq!(of(seed), Outcome::Predicted, "{seed}");
    }
    for seed in [
        "seed-duplicate",
        "seed-profile",
        "seed-dtbauto",
        "seed-no-linux",
        "seed-empty",
    ] {
        assert_eq!(of(seed), Outcome::Refused, "{seed}");
    }
    assert_eq!(of("seed-not-pe"), Outcome::NotPe);
}
