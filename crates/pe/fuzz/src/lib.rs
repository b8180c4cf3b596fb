//! The checks behind the fuzz targets, one function per target.
//!
//! `crates/pe/tests/fuzz_corpus.rs` includes this file with `#[path]` and
//! replays the committed corpus through the same functions, so keep it free
//! of dependencies other than `pe`.

use pe::{Error, Gaps, NewSection, PeFile};

/// How far an input got, so that the corpus replay can tell that the corpus
/// still reaches the deep end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// `PeFile::parse` refused it.
    Rejected,
    /// Parsed; hashing refused it (e.g. a certificate table not at the end).
    Parsed,
    /// Parsed and hashed; adding a section refused it (e.g. no header room).
    Hashed,
    /// Parsed, hashed, and a section was added and read back.
    Edited,
}

/// Target `parse`: arbitrary bytes to `PeFile::parse`. Whatever parses
/// must keep its promises: every range it hands out lies in the file, the
/// Authenticode digest and certificate-table edits never panic and agree
/// with each other, and adding a section gives an image that parses, holds
/// the new data, keeps the old sections and has a correct CheckSum.
pub fn parse(data: &[u8]) -> Outcome {
    let Ok(pe) = PeFile::parse(data) else {
        return Outcome::Rejected;
    };
    let headers = pe.size_of_headers();
    assert!(headers <= data.len());
    assert!(pe.checksum_offset() + 4 <= headers);
    assert!(pe.certificate_table_entry_offset() + 8 <= headers);
    assert!(pe.section_table_offset() + pe.sections().len() * 40 <= headers);
    for s in pe.sections() {
        let _ = pe.section_data(s);
        assert!(pe.section_contents(s).len() <= pe.section_data(s).len());
        let _ = s.name_str();
    }
    if let Some(r) = pe.certificate_table() {
        assert!(r.start >= headers && r.end <= data.len());
    }
    let _ = pe::pe_checksum(data, pe.checksum_offset());

    // Gaps between sections are allowed here so that the digest code still
    // runs on such images; the default refuses them, naming the first one.
    let digest_of = |bytes: &[u8]| pe::authenticode_sha256_with(bytes, Gaps::Allow);
    let digest = match digest_of(data) {
        Ok(d) => d,
        Err(
            Error::CertificateTableNotAtEnd { .. }
            | Error::HashedPastEnd { .. }
            | Error::SectionsOverlap { .. },
        ) => {
            return Outcome::Parsed;
        }
        Err(e) => panic!("unexpected digest error on a parsed image: {e}"),
    };
    let gaps = pe
        .raw_data_gaps()
        .expect("no overlap: the digest was computed");
    match gaps.first() {
        None => assert_eq!(pe::authenticode_sha256(data), Ok(digest)),
        Some(gap) => assert_eq!(
            pe::authenticode_sha256(data),
            Err(Error::SectionGap(gap.clone()))
        ),
    }
    // The digest skips the table and its directory entry: dropping them
    // keeps it; padding and re-adding a table keeps the padded image's.
    let stripped = pe::without_certificate_table(data).expect("table is at the end");
    assert_eq!(digest_of(&stripped), Ok(digest));
    if let Ok(prepared) = pe::prepare_for_signing(data) {
        let prepared_digest = digest_of(&prepared).ok();
        if let Ok(signed) = pe::with_certificate_table(data, &[0x5a; 16]) {
            assert_eq!(digest_of(&signed).ok(), prepared_digest);
            let back = pe::without_certificate_table(&signed).expect("own table");
            assert_eq!(back, prepared);
        }
    }

    let payload = [0xc3u8; 77];
    let new = [NewSection {
        name: ".fuzz",
        data: &payload,
        characteristics: pe::raw::scn::MEM_READ | pe::raw::scn::CNT_INITIALIZED_DATA,
    }];
    let Ok(out) = pe::add_sections(data, &new) else {
        return Outcome::Hashed;
    };
    let edited = PeFile::parse(&out).expect("an edited image parses");
    let n = pe.sections().len();
    assert_eq!(edited.sections().len(), n + 1);
    assert_eq!(&edited.sections()[..n], pe.sections());
    let added = &edited.sections()[n];
    assert_eq!(edited.section_contents(added), &payload[..]);
    assert_eq!(added.virtual_address % edited.section_alignment(), 0);
    assert_eq!(added.pointer_to_raw_data % edited.file_alignment(), 0);
    assert_eq!(edited.certificate_table(), None);
    let at = edited.checksum_offset();
    let stored = u32::from_le_bytes(out[at..at + 4].try_into().expect("4 bytes"));
    assert_eq!(stored, pe::pe_checksum(&out, at));
    Outcome::Edited
}
