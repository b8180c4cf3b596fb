//! Replays the committed fuzz corpus (`fuzz/corpus/request/`) through the
//! fuzz target's own check, so that what the fuzzer once found keeps passing
//! under plain `cargo test`, without nightly Rust or cargo-fuzz.
//!
//! The fuzz crate is a separate workspace and cannot be a dependency, so its
//! check function (`fuzz/src/lib.rs`: `request`) is compiled into this test
//! as a module.

#[path = "../fuzz/src/lib.rs"]
mod targets;

use fuzz_corpus::replay;
use targets::Outcome;

#[test]
fn request_corpus() {
    let outcomes = replay(env!("CARGO_MANIFEST_DIR"), "request", targets::request);
    let get = |n: &str| outcomes.iter().find(|(name, _)| name == n).map(|(_, o)| *o);
    for (name, want) in [
        ("seed-curl-get", Outcome::Path),
        ("seed-lf-only", Outcome::Path),
        ("seed-range", Outcome::Range),
        ("seed-suffix-range", Outcome::Range),
        ("seed-multi-range", Outcome::Path),
        ("seed-dotdot", Outcome::BadPath),
        ("seed-encoded-dotdot", Outcome::BadPath),
        ("seed-encoded-slash", Outcome::BadPath),
        ("seed-no-host", Outcome::BadHead),
        ("seed-http2", Outcome::BadHead),
        ("seed-garbage", Outcome::BadHead),
    ] {
        assert_eq!(get(name), Some(want), "{name}");
    }
}
