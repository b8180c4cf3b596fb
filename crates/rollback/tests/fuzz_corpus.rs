//! Replays the committed fuzz corpus (`fuzz/corpus/record/`) through the
//! fuzz target's own check, so that what the fuzzer once found keeps
//! passing under plain `cargo test`, without nightly Rust or cargo-fuzz.
//! The check (`fuzz/src/lib.rs`: `record`) is compiled in as a module.

#[path = "../fuzz/src/lib.rs"]
mod targets;

use fuzz_corpus::replay;
use targets::Outcome;

#[test]
fn record_corpus() {
    let outcomes = replay(env!("CARGO_MANIFEST_DIR"), "record", targets::record);
    let get = |n: &str| outcomes.iter().find(|(name, _)| name == n).map(|(_, o)| *o);
    for (name, want) in [
        ("seed-valid", Outcome::Record),
        ("seed-rc", Outcome::Record),
        ("forged-index", Outcome::Refused),
        ("no-index", Outcome::Refused),
        ("unknown-field", Outcome::Refused),
        ("not-json", Outcome::Refused),
    ] {
        assert_eq!(get(name), Some(want), "{name}");
    }
}
