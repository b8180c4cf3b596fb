//! Replays the committed fuzz corpus (`fuzz/corpus/response/`) through the
//! fuzz target's own check, so that what the fuzzer once found keeps
//! passing under plain `cargo test`, without nightly Rust or cargo-fuzz.
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
    // The seeds are real swtpm responses (examples/fuzz_seeds.rs): each
    // decodes fully as the response of its command.
    for name in [
        "seed-create-primary",
        "seed-create",
        "seed-load",
        "seed-load-external",
        "seed-read-public",
        "seed-verify-signature",
        "seed-pcr-read",
        "seed-get-random",
        "seed-start-auth-session",
        "seed-unseal",
        "seed-policy-get-digest",
        "seed-blob",
        "seed-esys-tr",
    ] {
        assert_eq!(get(name), Some(Outcome::Decoded), "{name}");
    }
    assert_eq!(get("seed-error"), Some(Outcome::TpmError));
}

/// Each seed read as another command's response fails cleanly.
#[test]
fn seeds_under_the_wrong_selector() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/response");
    let seed = std::fs::read(dir.join("seed-create-primary")).unwrap();
    for selector in 1..13u8 {
        let mut input = seed.clone();
        input[0] = selector;
        assert!(
            matches!(
                targets::response(&input),
                Outcome::Framing | Outcome::Undecodable
            ),
            "selector {selector}"
        );
    }
}
