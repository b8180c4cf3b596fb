//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/`) through the
//! fuzz targets' own checks, so that what the fuzzer once found keeps passing
//! under plain `cargo test`, without nightly Rust or cargo-fuzz.
//!
//! The fuzz crate is a separate workspace and cannot be a dependency, so its
//! check functions (`fuzz/src/lib.rs`: `verify_image`, `signed_data`) are
//! compiled into this test as a module.

#[path = "../fuzz/src/lib.rs"]
mod targets;

use fuzz_corpus::replay;

use targets::Outcome;

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
    let outcomes = replay(
        env!("CARGO_MANIFEST_DIR"),
        "verify_image",
        targets::verify_image,
    );
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
    let outcomes = replay(
        env!("CARGO_MANIFEST_DIR"),
        "signed_data",
        targets::signed_data,
    );
    check_outcomes(
        &outcomes,
        &[Outcome::Malformed, Outcome::NotTrusted, Outcome::Verified],
    );
}
