//! Replays the committed fuzz corpus (`fuzz/corpus/read/`) through the fuzz
//! target's own check, so that what the fuzzer once found keeps passing
//! under plain `cargo test`, without nightly Rust or cargo-fuzz.
//!
//! The fuzz crate is a separate workspace and cannot be a dependency, so its
//! check function (`fuzz/src/lib.rs`: `read`) is compiled into this test as
//! a module.

#[path = "../fuzz/src/lib.rs"]
mod targets;

use fuzz_corpus::replay;
use targets::Outcome;

#[test]
fn read_corpus() {
    let outcomes = replay(env!("CARGO_MANIFEST_DIR"), "read", targets::read);
    let get = |n: &str| outcomes.iter().find(|(name, _)| name == n).map(|(_, o)| *o);
    for (name, want) in [
        ("seed-printed-certs", Outcome::Certificate),
        ("seed-der-cert", Outcome::Certificate),
        ("seed-pkcs1-encrypted", Outcome::WrongKeyType),
        ("seed-ec-sec1", Outcome::WrongKeyType),
        ("seed-ed25519-pub", Outcome::Key),
        ("seed-rsa-pub", Outcome::Key),
        ("seed-ed25519-key", Outcome::Key),
        ("seed-rsa-pkcs1", Outcome::Key),
        ("seed-rsa-crlf", Outcome::Key),
        ("unterminated", Outcome::BrokenPem),
        ("bad-base64", Outcome::BrokenPem),
        ("not-pem", Outcome::NotPem),
    ] {
        assert_eq!(get(name), Some(want), "{name}");
    }
}
