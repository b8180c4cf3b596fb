//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/`) through the
//! fuzz targets' own checks, so that what the fuzzer once found keeps passing
//! under plain `cargo test`, without nightly Rust or cargo-fuzz.
//!
//! The fuzz crate is a separate workspace and cannot be a dependency, so its
//! check functions (`fuzz/src/lib.rs`, one per target: `entry_name`,
//! `version`, `release_json`, `update_json`, `cmdline`) are compiled into
//! this test as a module.

#[path = "../fuzz/src/lib.rs"]
mod targets;

use fuzz_corpus::replay;
use targets::Outcome;

/// Replays `target` and checks the named inputs' outcomes, and that the
/// corpus both accepts and refuses something.
fn check(target: &str, run: fn(&[u8]) -> Outcome, want: &[(&str, Outcome)]) {
    let outcomes = replay(env!("CARGO_MANIFEST_DIR"), target, run);
    let get = |n: &str| outcomes.iter().find(|(name, _)| name == n).map(|(_, o)| *o);
    for (name, outcome) in want {
        assert_eq!(get(name), Some(*outcome), "{target}/{name}");
    }
    for outcome in [Outcome::Accepted, Outcome::Refused] {
        assert!(
            outcomes.iter().any(|(_, o)| *o == outcome),
            "{target}: nothing {outcome:?} in {outcomes:?}"
        );
    }
}

#[test]
fn entry_name_corpus() {
    use Outcome::*;
    check(
        "entry_name",
        targets::entry_name,
        &[
            ("seed-new", Accepted),
            ("seed-tried-once", Accepted),
            ("seed-exhausted", Accepted),
            ("seed-good", Accepted),
            ("seed-upper-suffix", Accepted),
            ("seed-done-zero", Accepted),
            ("seed-bad-slot", Refused),
            ("seed-bad-counter", Refused),
            ("seed-above-int-max", Refused),
            ("seed-loader", Refused),
        ],
    );
}

#[test]
fn version_corpus() {
    use Outcome::*;
    check(
        "version",
        targets::version,
        &[
            ("seed-release", Accepted),
            ("seed-chain", Accepted),
            ("seed-rc-release", Accepted),
            ("seed-semver-mixed", Accepted),
            ("seed-refused", Refused),
        ],
    );
}

#[test]
fn release_json_corpus() {
    check(
        "release_json",
        targets::release_json,
        &[
            ("seed-release", Outcome::Accepted),
            // data_blocks 2^64 - 1: its command line did not parse.
            ("crash-data-blocks-overflow", Outcome::Refused),
            // A number in pcr11 that serde_json read one ulp off before
            // its float_roundtrip feature: printed back, it changed.
            ("crash-float-not-round-tripped", Outcome::Accepted),
        ],
    );
}

#[test]
fn update_json_corpus() {
    use Outcome::*;
    check(
        "update_json",
        targets::update_json,
        &[
            ("seed-empty", Accepted),
            ("seed-default", Accepted),
            ("seed-next-boot", Accepted),
            ("seed-bad-interval", Refused),
            ("seed-https-without-ca", Refused),
        ],
    );
}

#[test]
fn cmdline_corpus() {
    use Outcome::*;
    check(
        "cmdline",
        targets::cmdline,
        &[
            ("seed-product", Accepted),
            ("seed-unsalted", Accepted),
            ("seed-init-args", Accepted),
            ("seed-repeated", Refused),
        ],
    );
}

/// The model of systemd's `strverscmp_improved` the `version` target
/// checks entry versions with, on systemd's own examples
/// (src/test/test-string-util.c, test_strverscmp_improved).
#[test]
fn strverscmp_model() {
    use std::cmp::Ordering::*;
    for (a, b, want) in [
        ("123", "123", Equal),
        ("122", "123", Less),
        ("123~rc1", "123", Less),
        ("123~rc1", "123~rc2", Less),
        ("123", "123.1", Less),
        ("123-1", "123.1", Less),
        ("123a", "123.a", Greater),
        ("00123", "123", Equal),
        ("2.0.0~rc.1", "2.0.0", Less),
        ("1.0.0~alpha.1", "1.0.0~alpha.beta", Greater),
        ("1.0.0~rc9", "1.0.0~rc10", Less),
        ("1.10.0", "1.9.0", Greater),
    ] {
        assert_eq!(targets::strverscmp_improved(a, b), want, "{a} vs {b}");
        assert_eq!(
            targets::strverscmp_improved(b, a),
            want.reverse(),
            "{b} vs {a}"
        );
    }
}
