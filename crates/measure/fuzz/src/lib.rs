//! The check behind the fuzz target `predict_image`.
//!
//! `crates/measure/tests/fuzz_corpus.rs` includes this file with `#[path]`
//! and replays the committed corpus through the same function, so keep it
//! free of dependencies other than `measure` and `sha2`.

use sha2::{Digest, Sha256};

/// The furthest an input got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// Not a PE image.
    NotPe,
    /// A PE image whose PCR 11 the stub's rules make unpredictable or that
    /// it would not boot (duplicate, empty, no .linux, .profile, .dtbauto).
    Refused,
    /// Predicted.
    Predicted,
}

/// Target `predict_image`: arbitrary bytes to `measure::predict_image`.
/// Never panics; a prediction lists each measured section once, in the
/// stub's order, never `.pcrsig`, always `.linux`; its PCR value is the
/// fold of name and contents measurements over that list; the phases
/// extend it.
pub fn predict_image(data: &[u8]) -> Outcome {
    let p = match measure::predict_image(data) {
        Ok(p) => p,
        Err(measure::Error::Pe(_)) => return Outcome::NotPe,
        Err(_) => return Outcome::Refused,
    };
    let orders: Vec<usize> = p
        .sections
        .iter()
        .map(|m| measure::sections::order(m.name).expect("a known section"))
        .collect();
    assert!(orders.windows(2).all(|w| w[0] < w[1]), "{orders:?}");
    assert!(p.sections.iter().all(|m| m.name != ".pcrsig"));
    assert!(p.sections.iter().any(|m| m.name == ".linux"));
    let mut pcr = [0u8; 32];
    for m in &p.sections {
        let mut name = m.name.as_bytes().to_vec();
        name.push(0);
        pcr = measure::extend(&pcr, &Sha256::digest(&name).into());
        pcr = measure::extend(&pcr, &m.sha256);
    }
    assert_eq!(pcr, p.after_stub);
    assert_eq!(p.at(":"), p.after_stub);
    assert_ne!(p.at("enter-initrd"), p.after_stub);
    Outcome::Predicted
}
