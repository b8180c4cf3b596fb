//! Replays the committed fuzz corpus (`fuzz/corpus/parse/`) through the fuzz
//! target's own checks, so that what the fuzzer once found keeps passing
//! under plain `cargo test`, without nightly Rust or cargo-fuzz.
//!
//! The fuzz crate is a separate workspace and cannot be a dependency, so its
//! check functions (`fuzz/src/lib.rs`) are compiled into this test as a module.

#[path = "../fuzz/src/lib.rs"]
mod targets;

use fuzz_corpus::replay;

use targets::Outcome;

#[test]
fn parse_corpus() {
    let outcomes = replay(env!("CARGO_MANIFEST_DIR"), "parse", targets::parse);
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
