//! The check behind the fuzz target `parse`.
//!
//! `crates/luks2/tests/fuzz_corpus.rs` includes this file with `#[path]`
//! and replays the committed corpus through the same function, so keep it
//! free of dependencies other than `luks2`, `rand_core` and `sha2`.

use luks2::{CopyState, Error, Header};

/// The input is the start of a 1 GiB device; the rest reads as zeros, so
/// that inputs hold only the two metadata copies, not the keyslots area.
pub const DEVICE_SIZE: u64 = 1 << 30;

/// The furthest an input got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// No LUKS2 magic in either copy.
    NotLuks,
    /// Magic, but neither copy valid.
    Invalid,
    /// One copy valid, the other damaged or older.
    OneCopy,
    /// Both copies valid, activation refused (requirements, no keyslot).
    Valid,
    /// Both valid, and the data segment's activation parameters computed.
    Activatable,
}

pub fn read_at(data: &[u8]) -> impl FnMut(u64, &mut [u8]) -> std::io::Result<()> + '_ {
    move |offset, buf| {
        buf.fill(0);
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(data.len());
        let n = (data.len() - start).min(buf.len());
        buf[..n].copy_from_slice(&data[start..start + n]);
        Ok(())
    }
}

/// A deterministic stand-in for the caller's randomness.
struct Counter(u64);

impl rand_core::RngCore for Counter {
    fn next_u32(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0.to_le_bytes()[4..]
            .iter()
            .fold(0, |a, &b| (a << 8) | u32::from(b))
    }
    fn next_u64(&mut self) -> u64 {
        (u64::from(self.next_u32()) << 32) | u64::from(self.next_u32())
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        dest.iter_mut()
            .for_each(|b| *b = self.next_u32().to_le_bytes()[0]);
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl rand_core::CryptoRng for Counter {}

/// `data` with the sha256 checksum of each copy it holds (at 0 and at
/// every secondary offset whose header size field names it) recomputed, so
/// that mutated JSON reaches the JSON checks instead of failing the
/// checksum.
pub fn resealed(data: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    let mut out = data.to_vec();
    for offset in std::iter::once(0).chain(luks2::METADATA_SIZES) {
        let o = usize::try_from(offset).unwrap_or(usize::MAX);
        let Some(field) = out.get(o + 8..o + 16) else {
            continue;
        };
        let size = u64::from_be_bytes(field.try_into().unwrap_or([0; 8]));
        let Some(end) = usize::try_from(size).ok().and_then(|s| o.checked_add(s)) else {
            continue;
        };
        if !luks2::METADATA_SIZES.contains(&size) || end > out.len() {
            continue;
        }
        out[o + 448..o + 512].fill(0);
        let sum = sha2::Sha256::digest(&out[o..end]);
        out[o + 448..o + 480].copy_from_slice(&sum);
    }
    out
}

/// Target `parse`: [`check`] on the input, then on it [`resealed`]; the
/// outcome is the raw input's.
pub fn parse(data: &[u8]) -> Outcome {
    let outcome = check(data);
    check(&resealed(data));
    outcome
}

/// Reads the header. Never panics; a header that reads
/// is written back (`commit`) and reads again with the same metadata, the
/// next seqid and both copies valid; the error for an unreadable header
/// names both copies.
pub fn check(data: &[u8]) -> Outcome {
    let header = match Header::read(DEVICE_SIZE, read_at(data)) {
        Ok(h) => h,
        Err(Error::BothCopies { primary, secondary }) => {
            assert!(!primary.to_string().is_empty() && !secondary.to_string().is_empty());
            return match (*primary, *secondary) {
                (Error::Magic { .. }, Error::Magic { .. }) => Outcome::NotLuks,
                _ => Outcome::Invalid,
            };
        }
        Err(e) => panic!("an unreadable header must name both copies, got: {e}"),
    };
    let both = header
        .copies()
        .iter()
        .all(|c| matches!(c, CopyState::Valid { .. }));
    let activatable = header.activation(DEVICE_SIZE).is_ok();

    let mut updated = header.clone();
    let writes = match updated.commit(&mut Counter(1)) {
        Ok(w) => w,
        // Re-serialised JSON can be longer than the text read (escapes,
        // float spellings in token objects): refused, never truncated.
        Err(Error::JsonTooLarge { .. }) => return outcome(both, activatable),
        // A header at the last seqid can be read, not updated: a clear
        // refusal (fuzz-found: the harness used to expect a write).
        Err(Error::Param { name: "seqid", .. }) if header.seqid() == u64::MAX => {
            return outcome(both, activatable);
        }
        Err(e) => panic!("a header that reads cannot be written back: {e}"),
    };
    let offset = |w: &luks2::Write| usize::try_from(w.offset).unwrap_or(usize::MAX);
    let end = writes
        .iter()
        .map(|w| offset(w) + w.bytes.len())
        .max()
        .unwrap_or(0);
    let mut image = data.to_vec();
    if image.len() < end {
        image.resize(end, 0);
    }
    for w in &writes {
        image[offset(w)..offset(w) + w.bytes.len()].copy_from_slice(&w.bytes);
    }
    let again = Header::read(DEVICE_SIZE, read_at(&image)).expect("what commit writes reads back");
    assert_eq!(again.metadata(), header.metadata());
    assert_eq!(again.seqid(), header.seqid() + 1);
    assert!(
        again
            .copies()
            .iter()
            .all(|c| matches!(c, CopyState::Valid { .. }))
    );

    outcome(both, activatable)
}

fn outcome(both_valid: bool, activatable: bool) -> Outcome {
    match (both_valid, activatable) {
        (false, _) => Outcome::OneCopy,
        (true, false) => Outcome::Valid,
        (true, true) => Outcome::Activatable,
    }
}
