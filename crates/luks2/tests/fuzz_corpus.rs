//! Replays the committed fuzz corpus (`fuzz/corpus/parse/`) through the
//! fuzz target's own check, so that what the fuzzer once found keeps
//! passing under plain `cargo test`, without nightly Rust or cargo-fuzz,
//! and checks that the seeds (headers made by cryptsetup 2.6 and by
//! `clip luks format`, see fuzz/README.md) reach their expected outcome.
//!
//! The fuzz crate is a separate workspace and cannot be a dependency, so its
//! check function (`fuzz/src/lib.rs`: `parse`) is compiled in as a module.

#[path = "../fuzz/src/lib.rs"]
mod targets;

use fuzz_corpus::replay;
use targets::Outcome;

#[test]
fn parse_corpus() {
    let outcomes = replay(env!("CARGO_MANIFEST_DIR"), "parse", targets::parse);
    let get = |n: &str| outcomes.iter().find(|(name, _)| name == n).map(|(_, o)| *o);
    for (name, want) in [
        ("seed-pbkdf2", Outcome::Activatable),
        ("seed-argon2id-token", Outcome::Activatable),
        ("seed-64k-two-keyslots", Outcome::Activatable),
        ("seed-integrity", Outcome::Activatable),
        ("seed-requirements", Outcome::Valid),
        ("seed-primary-damaged", Outcome::OneCopy),
        ("not-luks", Outcome::NotLuks),
        ("both-damaged", Outcome::Invalid),
        ("regression-seqid-at-max", Outcome::Invalid),
    ] {
        assert_eq!(get(name), Some(want), "{name}");
    }
    // Fuzz-found: resealed, this header reads at seqid u64::MAX and cannot
    // be updated; the target once expected every readable header to be.
    let at_max = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/corpus/parse/regression-seqid-at-max"),
    )
    .unwrap();
    let sealed = targets::resealed(&at_max);
    let header = luks2::Header::read(targets::DEVICE_SIZE, targets::read_at(&sealed)).unwrap();
    assert_eq!(header.seqid(), u64::MAX);
    assert_ne!(targets::check(&sealed), Outcome::Invalid);
    assert!(
        outcomes.iter().any(|(_, o)| *o == Outcome::Invalid),
        "no corpus input reaches a header with both copies invalid"
    );
}
