//! The Authenticode image digest, the PE checksum and the attribute
//! certificate table.
//!
//! * Digest: "Windows Authenticode Portable Executable Signature Format",
//!   section "Calculating the PE Image Hash", as EDK2's
//!   `DxeImageVerificationLib` (`HashPeImage`) implements it: headers less
//!   `CheckSum` and the Certificate Table entry, then each section with raw
//!   data in ascending `PointerToRawData`, then whatever follows the
//!   `SUM_OF_BYTES_HASHED` first bytes except the certificate table.
//! * Checksum: the algorithm of imagehlp's `CheckSumMappedFile` (16-bit
//!   one's-complement-style sum with end-around carry, plus the file length).
//! * Certificate table: "The Attribute Certificate Table (Image Only)" — at
//!   the end of the file, 8-byte aligned, located by data directory entry 4
//!   whose `VirtualAddress` is a file offset.

use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::raw::{CERTIFICATE_ALIGNMENT, put_u32};
use crate::read::PeFile;

/// What to do with an image whose sections leave [`Gap`](crate::Gap)s:
/// bytes the digest does not cover, and on whose digest tools disagree.
/// Sections whose raw data overlap are refused either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Gaps {
    /// Refuse it ([`Error::SectionGap`], naming the first gap).
    #[default]
    Refuse,
    /// Hash it as UEFI firmware (EDK2) does.
    Allow,
}

/// The Authenticode SHA-256 image hash of `bytes`; refuses images whose
/// sections overlap or leave gaps.
pub fn authenticode_sha256(bytes: &[u8]) -> Result<[u8; 32], Error> {
    authenticode_sha256_with(bytes, Gaps::Refuse)
}

/// [`authenticode_sha256`], with a choice about gaps between sections.
pub fn authenticode_sha256_with(bytes: &[u8], gaps: Gaps) -> Result<[u8; 32], Error> {
    let pe = PeFile::parse(bytes)?;
    let mut h = Sha256::new();
    authenticode_hash(&pe, gaps, |chunk| h.update(chunk))?;
    Ok(h.finalize().into())
}

/// Feeds the bytes the Authenticode hash covers to `update`, in order; for
/// callers wanting another digest algorithm. Images whose sections' raw
/// data overlap are refused, and so are gaps unless `gaps` allows them.
pub fn authenticode_hash(
    pe: &PeFile<'_>,
    gaps: Gaps,
    mut update: impl FnMut(&[u8]),
) -> Result<(), Error> {
    let found = pe.raw_data_gaps()?;
    if gaps == Gaps::Refuse
        && let Some(first) = found.into_iter().next()
    {
        return Err(Error::SectionGap(first));
    }
    let b = pe.bytes();
    let cert_size = match pe.certificate_table() {
        None => 0,
        Some(r) => {
            if r.end != b.len() {
                return Err(Error::CertificateTableNotAtEnd {
                    start: r.start,
                    end: r.end,
                    file_len: b.len(),
                });
            }
            r.len()
        }
    };
    let checksum = pe.checksum_offset();
    let entry = pe.certificate_table_entry_offset();
    let headers = pe.size_of_headers();
    // Parsing checked checksum < entry < end of optional header <= SizeOfHeaders.
    update(&b[..checksum]);
    update(&b[checksum + 4..entry]);
    update(&b[entry + 8..headers]);

    let mut sections: Vec<_> = pe
        .sections()
        .iter()
        .filter(|s| s.size_of_raw_data > 0)
        .collect();
    sections.sort_by_key(|s| s.pointer_to_raw_data);
    let mut hashed = headers as u64;
    for s in sections {
        update(pe.section_data(s));
        hashed += u64::from(s.size_of_raw_data);
    }
    let available = (b.len() - cert_size) as u64;
    if hashed > available {
        return Err(Error::HashedPastEnd { hashed, available });
    }
    // `hashed` is a byte count, not an offset: the specification and EDK2
    // resume there, which is the end of the last section when the sections
    // follow the headers back to back, as linkers lay them out.
    let from = usize::try_from(hashed).map_err(|_| Error::ImageTooLarge(hashed))?;
    update(&b[from..b.len() - cert_size]);
    Ok(())
}

/// PE checksum (as imagehlp's `CheckSumMappedFile`) of `bytes`, treating
/// the 4-byte CheckSum field at `checksum_offset` as 0.
pub fn pe_checksum(bytes: &[u8], checksum_offset: usize) -> u32 {
    // The checksum is a one's-complement sum of 16-bit words. Since
    // 2^16 = 1 (mod 0xffff), summing 32-bit words gives the same residue and
    // the same zero-ness, so the final fold below gives the same result while
    // reading four bytes at a time. A sum of u32 words cannot overflow u64
    // below 16 GiB of input.
    let skip_end = checksum_offset.saturating_add(4).min(bytes.len());
    let sum = if checksum_offset % 2 == 0 && checksum_offset <= bytes.len() {
        word_sum(&bytes[..checksum_offset]) + word_sum(&bytes[skip_end..])
    } else {
        // An odd CheckSum offset only occurs in malformed images: go byte by
        // byte, reading the field's bytes as 0 so that the result never
        // depends on the value stored there (storing it must not change it).
        let byte = |at: usize| {
            if (checksum_offset..skip_end).contains(&at) {
                0
            } else {
                u64::from(bytes[at])
            }
        };
        (0..bytes.len())
            .step_by(2)
            .map(|at| {
                byte(at)
                    | if at + 1 < bytes.len() {
                        byte(at + 1) << 8
                    } else {
                        0
                    }
            })
            .sum()
    };
    let mut sum = sum;
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    // The file length is added as a 32-bit quantity; PE images are < 4 GiB.
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    u32::try_from(sum).unwrap_or(0).wrapping_add(len)
}

/// Sum of little-endian 32-bit words (a trailing partial word zero-padded).
/// `bytes` must start at an even file offset.
fn word_sum(bytes: &[u8]) -> u64 {
    let mut words = bytes.chunks_exact(4);
    let mut sum: u64 = words
        .by_ref()
        .map(|w| u64::from(u32::from_le_bytes([w[0], w[1], w[2], w[3]])))
        .sum();
    let mut tail = [0u8; 4];
    let rest = words.remainder();
    tail[..rest.len()].copy_from_slice(rest);
    sum += u64::from(u32::from_le_bytes(tail));
    sum
}

/// A copy of `bytes` whose attribute certificate table is `table`
/// (WIN_CERTIFICATE entries, caller-built): any existing table is removed,
/// the image padded with zeros to 8 bytes, `table` appended, data directory
/// entry 4 set, CheckSum recomputed.
///
/// The Authenticode digest of the result equals that of
/// [`prepare_for_signing`]`(bytes)`: sign that digest.
pub fn with_certificate_table(bytes: &[u8], table: &[u8]) -> Result<Vec<u8>, Error> {
    if table.is_empty() {
        return Err(Error::EmptyCertificateTable);
    }
    let size =
        u32::try_from(table.len()).map_err(|_| Error::CertificateTableTooLarge(table.len()))?;
    let mut out = prepare_for_signing(bytes)?;
    let start = out.len();
    let start32 = u32::try_from(start).map_err(|_| Error::ImageTooLarge(start as u64))?;
    let total = start as u64 + table.len() as u64;
    if total > u64::from(u32::MAX) {
        return Err(Error::ImageTooLarge(total));
    }
    out.extend_from_slice(table);
    let (entry, checksum) = {
        let pe = PeFile::parse(&out)?;
        (pe.certificate_table_entry_offset(), pe.checksum_offset())
    };
    put_u32(&mut out, entry, start32);
    put_u32(&mut out, entry + 4, size);
    let sum = pe_checksum(&out, checksum);
    put_u32(&mut out, checksum, sum);
    Ok(out)
}

/// A copy with no certificate table (entry 4 zeroed, table bytes dropped,
/// checksum updated).
pub fn without_certificate_table(bytes: &[u8]) -> Result<Vec<u8>, Error> {
    let pe = PeFile::parse(bytes)?;
    let entry = pe.certificate_table_entry_offset();
    let checksum = pe.checksum_offset();
    let keep = match pe.certificate_table() {
        None => bytes.len(),
        Some(r) => {
            if r.end != bytes.len() {
                return Err(Error::CertificateTableNotAtEnd {
                    start: r.start,
                    end: r.end,
                    file_len: bytes.len(),
                });
            }
            r.start
        }
    };
    let mut out = bytes[..keep].to_vec();
    put_u32(&mut out, entry, 0);
    put_u32(&mut out, entry + 4, 0);
    let sum = pe_checksum(&out, checksum);
    put_u32(&mut out, checksum, sum);
    Ok(out)
}

/// [`without_certificate_table`], then zero-padded to a multiple of 8 bytes
/// (where a certificate table would start), checksum updated. Its
/// Authenticode digest is the one a signature over the image must carry.
pub fn prepare_for_signing(bytes: &[u8]) -> Result<Vec<u8>, Error> {
    let mut out = without_certificate_table(bytes)?;
    let padded = out.len().next_multiple_of(CERTIFICATE_ALIGNMENT);
    if padded != out.len() {
        out.resize(padded, 0);
        let checksum = PeFile::parse(&out)?.checksum_offset();
        let sum = pe_checksum(&out, checksum);
        put_u32(&mut out, checksum, sum);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn fast_checksum_matches_word_by_word() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        for len in [0usize, 1, 2, 3, 5, 63, 64, 65, 1000, 4099] {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed.to_le_bytes()[0]
                })
                .collect();
            for at in [0usize, 2, 4, 6, 64, 1, 3, len, len.saturating_sub(2)] {
                assert_eq!(
                    pe_checksum(&bytes, at),
                    reference_checksum(&bytes, at),
                    "len {len} at {at}"
                );
            }
            let ones = vec![0xffu8; len];
            assert_eq!(
                pe_checksum(&ones, 64),
                reference_checksum(&ones, 64),
                "all ones, len {len}"
            );
        }
    }

    use super::*;
    use crate::testimage;

    /// The textbook form: fold the carry after every word.
    fn reference_checksum(bytes: &[u8], skip: usize) -> u32 {
        let mut sum: u32 = 0;
        // The CheckSum field's bytes count as 0, wherever it lies.
        let byte = |at: usize| {
            if (skip..skip + 4).contains(&at) {
                0
            } else {
                bytes.get(at).copied().unwrap_or(0)
            }
        };
        for at in (0..bytes.len()).step_by(2) {
            let word = u32::from(u16::from_le_bytes([byte(at), byte(at + 1)]));
            sum += word;
            sum = (sum & 0xffff) + (sum >> 16);
        }
        sum + u32::try_from(bytes.len()).unwrap()
    }

    #[test]
    fn checksum_matches_reference() {
        let mut b = testimage::image(2, 333, 0x400);
        b.extend_from_slice(&[0xff; 7]); // odd length, carries
        let pe = PeFile::parse(&b).unwrap();
        let at = pe.checksum_offset();
        assert_eq!(pe_checksum(&b, at), reference_checksum(&b, at));
        // The stored value does not matter.
        b[at..at + 4].copy_from_slice(&[1, 2, 3, 4]);
        assert_eq!(pe_checksum(&b, at), reference_checksum(&b, at));
        let all_ff = vec![0xffu8; 100_001];
        assert_eq!(pe_checksum(&all_ff, 10), reference_checksum(&all_ff, 10));
    }

    /// Found by fuzzing: with an odd CheckSum offset (e_lfanew odd), the sum
    /// used to include one byte of the field itself, so storing the checksum
    /// changed it and re-signing was not idempotent.
    #[test]
    fn odd_offset_checksum_ignores_the_stored_value() {
        let mut b: Vec<u8> = (0..999u32).map(|i| (i * 7 + 3).to_le_bytes()[0]).collect();
        for at in [1usize, 3, 283, 995, 997] {
            let before = pe_checksum(&b, at);
            assert_eq!(before, reference_checksum(&b, at), "at {at}");
            b[at..at + 2].copy_from_slice(&before.to_le_bytes()[..2]);
            assert_eq!(pe_checksum(&b, at), before, "at {at}");
        }
    }

    #[test]
    fn certificate_table_round_trip() {
        let b = testimage::image(2, 100, 0x400);
        let digest = authenticode_sha256(&b).unwrap();
        let mut odd = b.clone();
        odd.extend_from_slice(b"xyz"); // trailing data, not 8-aligned
        let signed = with_certificate_table(&odd, &[7u8; 24]).unwrap();
        let pe = PeFile::parse(&signed).unwrap();
        let table = pe.certificate_table().unwrap();
        assert_eq!(table.start % 8, 0);
        assert_eq!(table.end, signed.len());
        assert_eq!(&signed[table], &[7u8; 24][..]);
        let sum = u32::from_le_bytes(signed[pe.checksum_offset()..][..4].try_into().unwrap());
        assert_eq!(sum, pe_checksum(&signed, pe.checksum_offset()));
        // The digest covers the padding but neither the table nor its entry.
        let prepared = prepare_for_signing(&odd).unwrap();
        assert_eq!(prepared.len() % 8, 0);
        assert_eq!(authenticode_sha256(&signed), authenticode_sha256(&prepared));
        assert_ne!(authenticode_sha256(&prepared).unwrap(), digest);
        // Replacing the table keeps one table.
        let resigned = with_certificate_table(&signed, &[9u8; 16]).unwrap();
        assert_eq!(resigned.len(), prepared.len() + 16);
        let stripped = without_certificate_table(&resigned).unwrap();
        assert_eq!(PeFile::parse(&stripped).unwrap().certificate_table(), None);
        assert_eq!(stripped.len(), prepared.len());
        assert_eq!(
            authenticode_sha256(&stripped),
            authenticode_sha256(&prepared)
        );
    }

    #[test]
    fn digest_sees_every_hashed_byte() {
        let b = testimage::image(2, 100, 0x400);
        let base = authenticode_sha256(&b).unwrap();
        let pe = PeFile::parse(&b).unwrap();
        let skipped = [pe.checksum_offset()..pe.checksum_offset() + 4, {
            let e = pe.certificate_table_entry_offset();
            e..e + 8
        }];
        for at in [2, 0x40, 0x90, 0x3ff, 0x400, 0x463, 0x600, b.len() - 1] {
            let mut c = b.clone();
            c[at] ^= 1;
            assert_ne!(authenticode_sha256(&c).unwrap(), base, "byte {at}");
        }
        for r in skipped {
            let mut c = b.clone();
            c[r.start] ^= 1;
            // A flipped entry byte may make the table invalid; if it parses
            // as "no table", the digest is unchanged.
            if let Ok(d) = authenticode_sha256(&c) {
                assert_eq!(d, base, "byte {}", r.start);
            }
        }
    }

    #[test]
    fn overlaps_and_gaps_are_refused() {
        use crate::raw::section;
        use crate::testimage::TABLE;
        let b = testimage::image(3, 100, 0x400);
        let second = TABLE + section::SIZE;

        let mut overlap = b.clone();
        crate::raw::put_u32(&mut overlap, second + section::POINTER_TO_RAW_DATA, 0x500);
        for gaps in [Gaps::Refuse, Gaps::Allow] {
            assert!(matches!(
                authenticode_sha256_with(&overlap, gaps),
                Err(Error::SectionsOverlap { .. })
            ));
        }

        let mut gap = b.clone();
        crate::raw::put_u32(&mut gap, second + section::SIZE_OF_RAW_DATA, 0x100);
        assert_eq!(
            authenticode_sha256(&gap),
            Err(Error::SectionGap(crate::Gap {
                range: 0x700..0x800,
                before: Some(".s1".into()),
                after: ".s2".into(),
            }))
        );
        // Allowed: hashed as EDK2 does. The gap's bytes are not covered.
        let digest = authenticode_sha256_with(&gap, Gaps::Allow).unwrap();
        assert_ne!(digest, authenticode_sha256(&b).unwrap());
        let mut changed = gap.clone();
        changed[0x780] ^= 0xff;
        assert_eq!(
            authenticode_sha256_with(&changed, Gaps::Allow).unwrap(),
            digest
        );
    }

    #[test]
    fn table_must_be_last() {
        let mut b = testimage::image(1, 100, 0x400);
        b.extend_from_slice(&[0u8; 32]);
        let len = b.len();
        let pe = PeFile::parse(&b).unwrap();
        let entry = pe.certificate_table_entry_offset();
        crate::raw::put_u32(&mut b, entry, u32::try_from(len - 32).unwrap());
        crate::raw::put_u32(&mut b, entry + 4, 16);
        assert!(matches!(
            authenticode_sha256(&b),
            Err(Error::CertificateTableNotAtEnd { .. })
        ));
        assert!(matches!(
            with_certificate_table(&b, &[1; 8]),
            Err(Error::CertificateTableNotAtEnd { .. })
        ));
        assert_eq!(
            with_certificate_table(&b, &[]),
            Err(Error::EmptyCertificateTable)
        );
    }
}
