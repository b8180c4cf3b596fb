//! The checks behind the fuzz targets, one function per target.
//!
//! `crates/gpt/tests/fuzz_corpus.rs` includes this file with `#[path]` and
//! replays the committed corpus through the same functions, so keep it free
//! of dependencies other than `gpt`.

use gpt::{Gpt, OtherCopy, ReadGpt, Step, Which};

/// How far an input got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// `Gpt::parse_image` refused it.
    Rejected,
    /// Parsed; serialised again, written over the input and re-parsed, it
    /// gives the same table.
    RoundTrip,
}

/// Target `parse`: the input is a whole disk image. Must never panic; what
/// parses must serialise (the parser's checks are the serialiser's), and the
/// image with the serialised regions written back must parse to the same
/// table, with those regions unchanged from the input except the MBR and
/// entries with bytes after a name's NUL.
pub fn parse(data: &[u8]) -> Outcome {
    let as_is = check(data);
    // Mutations rarely keep the CRCs right: also try the input with both
    // headers' CRCs recomputed, to reach the checks behind them.
    let mut fixed = data.to_vec();
    fix_crcs(&mut fixed);
    as_is.max(check(&fixed))
}

/// Bitwise CRC-32 (IEEE, reflected), so that this file needs only `gpt`.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                crc >> 1 ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

/// Rewrites the entry array CRC and header CRC of the headers at LBA 1 and
/// in the last sector, wherever the fields they depend on make sense.
fn fix_crcs(image: &mut [u8]) {
    if image.len() < 1024 || image.len() % 512 != 0 {
        return;
    }
    for at in [512, image.len() - 512] {
        let lba = u64::from_le_bytes(image[at + 72..at + 80].try_into().unwrap());
        let count = usize::try_from(le32(image, at + 80).min(1024)).unwrap();
        let start = usize::try_from(lba.saturating_mul(512)).unwrap_or(usize::MAX);
        if let Some(entries) = start
            .checked_add(count * 128)
            .and_then(|end| image.get(start..end))
        {
            let crc = crc32(entries);
            image[at + 88..at + 92].copy_from_slice(&crc.to_le_bytes());
        }
        let size = usize::try_from(le32(image, at + 12).clamp(92, 512)).unwrap();
        image[at + 16..at + 20].fill(0);
        let crc = crc32(&image[at..at + size]);
        image[at + 16..at + 20].copy_from_slice(&crc.to_le_bytes());
    }
}

/// `Gpt::read_image`, the fallback reader, on the same input: never
/// panics; when the strict parser accepts, both copies agree and the
/// primary is used; when it reads a table, the update plan that rewrites the
/// same entries, applied, gives a disk the strict parser reads as that
/// table (both copies healed).
fn check_read(data: &[u8], strict: Option<&Gpt>) {
    let read = Gpt::read_image(data);
    if let Some(gpt) = strict {
        let expected = ReadGpt {
            gpt: gpt.clone(),
            used: Which::Primary,
            other: OtherCopy::Agrees,
        };
        assert_eq!(read.as_ref(), Ok(&expected));
    }
    let Ok(read) = read else {
        return;
    };
    let Ok(plan) = read.update_plan(read.gpt.partitions.clone()) else {
        return;
    };
    let mut image = data.to_vec();
    for step in &plan.steps {
        if let Step::Write(r) = step {
            let at = usize::try_from(r.offset).unwrap();
            image[at..at + r.bytes.len()].copy_from_slice(&r.bytes);
        }
    }
    assert_eq!(Gpt::parse_image(&image).as_ref(), Ok(&plan.new));
    assert_eq!(plan.new, read.gpt);
}

fn check(data: &[u8]) -> Outcome {
    let Ok(gpt) = Gpt::parse_image(data) else {
        check_read(data, None);
        return Outcome::Rejected;
    };
    check_read(data, Some(&gpt));
    let regions = gpt.regions().expect("a parsed table serialises");
    let mut image = data.to_vec();
    for r in &regions {
        let at = usize::try_from(r.offset).unwrap();
        image[at..at + r.bytes.len()].copy_from_slice(&r.bytes);
    }
    assert_eq!(Gpt::parse_image(&image).as_ref(), Ok(&gpt));
    // Headers are rebuilt from the parsed fields: when the entries came
    // back byte for byte and the header has no extra reserved bytes, the
    // first 92 bytes are the input's.
    let len = regions[1].bytes.len();
    let primary = usize::try_from(regions[1].offset).unwrap();
    if data[primary..primary + len] == regions[1].bytes[..] {
        for (header, at) in [
            (&regions[0].bytes[512..604], 512),
            (&regions[3].bytes[..92], data.len() - 512),
        ] {
            if data[at + 12..at + 16] == 92u32.to_le_bytes() {
                assert_eq!(header, &data[at..at + 92]);
            }
        }
    }
    Outcome::RoundTrip
}
