//! Replays the committed fuzz corpus (`fuzz/corpus/metadata/`) through the
//! fuzz target's own check, so that what the fuzzer once found keeps passing
//! under plain `cargo test`, without nightly Rust or cargo-fuzz.
//!
//! The fuzz crate is a separate workspace and cannot be a dependency, so its
//! check function (`fuzz/src/lib.rs`: `metadata`) is compiled into this test
//! as a module.

#[path = "../fuzz/src/lib.rs"]
mod targets;

use fuzz_corpus::replay;
use targets::Outcome;

#[test]
fn metadata_corpus() {
    let outcomes = replay(env!("CARGO_MANIFEST_DIR"), "metadata", targets::metadata);
    let get = |n: &str| outcomes.iter().find(|(name, _)| name == n).map(|(_, o)| *o);
    for (name, want) in [
        // Root v1 is not the next root after the trusted v1.
        ("seed-root", Outcome::Parsed),
        ("seed-root-v2", Outcome::Verified),
        ("seed-timestamp", Outcome::Verified),
        ("seed-snapshot", Outcome::Verified),
        ("seed-targets", Outcome::Verified),
        ("seed-python-root", Outcome::Parsed),
        ("seed-python-targets", Outcome::Parsed),
        ("seed-python-snapshot", Outcome::Parsed),
        ("seed-python-timestamp", Outcome::Parsed),
    ] {
        assert_eq!(get(name), Some(want), "{name}");
    }
}

/// The seeds in the corpus are what `fuzz/src/lib.rs` makes (ed25519
/// signatures are deterministic). `TUF_WRITE_FUZZ_SEEDS=1 cargo test -p tuf
/// --test fuzz_corpus` rewrites them.
#[test]
fn seeds_are_reproducible() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/metadata");
    for (name, bytes) in targets::seed_files() {
        let path = dir.join(format!("seed-{name}"));
        if std::env::var_os("TUF_WRITE_FUZZ_SEEDS").is_some() {
            std::fs::write(&path, &bytes).unwrap();
        }
        assert_eq!(std::fs::read(&path).unwrap(), bytes, "{}", path.display());
        let want = if name == "root" {
            Outcome::Parsed
        } else {
            Outcome::Verified
        };
        assert_eq!(targets::metadata(&bytes), want, "{name}");
    }
}
