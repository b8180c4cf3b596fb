//! The check behind the fuzz target `record`: the state record's bytes,
//! which root on the running system can write and clip-init reads in the
//! initrd (docs/anti-rollback.md).
//!
//! `crates/rollback/tests/fuzz_corpus.rs` includes this file with `#[path]`
//! and replays the committed corpus through the same function, so keep it
//! free of dependencies other than `rollback`.

/// What an input was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Refused,
    Record,
}

/// Target `record`: never panics; an accepted record has its version's
/// index, and renders to bytes that parse to the same minimum.
pub fn record(data: &[u8]) -> Outcome {
    match rollback::state::parse(data) {
        Err(_) => Outcome::Refused,
        Ok(min) => {
            assert_eq!(rollback::index(&min.version).ok(), Some(min.index));
            let again = rollback::state::parse(rollback::state::render(&min).as_bytes());
            assert_eq!(again.ok(), Some(min));
            Outcome::Record
        }
    }
}
