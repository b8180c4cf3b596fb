//! Replays the committed fuzz corpus (`fuzz/corpus/response/`) through the
//! fuzz target's own check, so that what the fuzzer once found keeps passing
//! under plain `cargo test`, without nightly Rust or cargo-fuzz.
//!
//! The fuzz crate is a separate workspace and cannot be a dependency, so its
//! check function (`fuzz/src/lib.rs`: `response`) is compiled into this test
//! as a module.

#[path = "../fuzz/src/lib.rs"]
mod targets;

use fuzz_corpus::replay;
use targets::Outcome;

#[test]
fn response_corpus() {
    let outcomes = replay(env!("CARGO_MANIFEST_DIR"), "response", targets::response);
    let get = |n: &str| outcomes.iter().find(|(name, _)| name == n).map(|(_, o)| *o);
    for (name, want) in [
        ("seed-200-length", Outcome::Whole),
        ("seed-200-chunked", Outcome::Whole),
        ("seed-200-to-close", Outcome::Whole),
        ("seed-200-restart", Outcome::Whole),
        ("seed-100-continue", Outcome::Whole),
        ("seed-206-resume", Outcome::Resumed),
        ("seed-416-all-held", Outcome::AllHeld),
        ("seed-404", Outcome::Refused),
        ("seed-206-not-continuing", Outcome::Refused),
        ("seed-announced-too-large", Outcome::TooLarge),
        ("seed-sent-too-large", Outcome::TooLarge),
        ("seed-short-body", Outcome::Truncated),
        ("seed-two-lengths", Outcome::Malformed),
        ("seed-bad-chunk-size", Outcome::Malformed),
        ("seed-not-http", Outcome::Malformed),
    ] {
        assert_eq!(get(name), Some(want), "{name}");
    }
}
