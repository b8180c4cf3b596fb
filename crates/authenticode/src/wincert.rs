//! WIN_CERTIFICATE entries of the attribute certificate table: Microsoft
//! "PE Format", section "The Attribute Certificate Table (Image Only)", and
//! the Authenticode PE document, section "Authenticode Signature Format".
//!
//! ```text
//! typedef struct _WIN_CERTIFICATE {
//!     DWORD dwLength;          // header + bCertificate, without padding
//!     WORD  wRevision;         // WIN_CERT_REVISION_2_0 = 0x0200
//!     WORD  wCertificateType;  // WIN_CERT_TYPE_PKCS_SIGNED_DATA = 0x0002
//!     BYTE  bCertificate[];    // DER PKCS#7 ContentInfo
//! } WIN_CERTIFICATE;           // next entry at the next 8-byte boundary
//! ```

use crate::error::Error;

/// `wRevision` of every entry we write (and the only one UEFI accepts).
pub const WIN_CERT_REVISION_2_0: u16 = 0x0200;
/// `wCertificateType` of an Authenticode PKCS#7 SignedData.
pub const WIN_CERT_TYPE_PKCS_SIGNED_DATA: u16 = 0x0002;
/// Bytes of the fixed header before `bCertificate`.
pub const HEADER_SIZE: usize = 8;
/// Entries start on 8-byte boundaries.
pub const ALIGNMENT: usize = 8;

/// One WIN_CERTIFICATE, borrowed from the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    /// Offset of the entry from the start of the table.
    pub offset: usize,
    pub revision: u16,
    pub certificate_type: u16,
    /// `bCertificate`: `dwLength - 8` bytes, padding excluded.
    pub certificate: &'a [u8],
}

/// Splits a certificate table into its entries. Every entry must fit the
/// table; the space after the last one must be shorter than 8 bytes and
/// zero (the padding that rounds the table to 8 bytes).
///
/// `table_offset` (the table's file offset) only goes into error messages.
pub fn parse_table(table: &[u8], table_offset: usize) -> Result<Vec<Entry<'_>>, Error> {
    let malformed = |index: usize, at: usize, reason: String| Error::Malformed {
        index,
        offset: table_offset + at,
        reason,
    };
    let mut entries = Vec::new();
    let mut at = 0usize;
    while table.len() - at >= HEADER_SIZE {
        let index = entries.len();
        let field = |o: usize, n: usize| &table[at + o..at + o + n];
        let length = u32::from_le_bytes(field(0, 4).try_into().unwrap_or_default());
        let revision = u16::from_le_bytes(field(4, 2).try_into().unwrap_or_default());
        let certificate_type = u16::from_le_bytes(field(6, 2).try_into().unwrap_or_default());
        let length = usize::try_from(length).unwrap_or(usize::MAX);
        if length < HEADER_SIZE || length > table.len() - at {
            return Err(malformed(
                index,
                at,
                format!(
                    "WIN_CERTIFICATE dwLength {length} is not between 8 and the {} bytes left in the table",
                    table.len() - at
                ),
            ));
        }
        entries.push(Entry {
            offset: at,
            revision,
            certificate_type,
            certificate: &table[at + HEADER_SIZE..at + length],
        });
        // The last entry's padding may be missing when the table ends there.
        let end = (at + length).next_multiple_of(ALIGNMENT).min(table.len());
        if let Some(pos) = table[at + length..end].iter().position(|&b| b != 0) {
            return Err(malformed(
                index,
                at + length + pos,
                "non-zero padding after a WIN_CERTIFICATE".to_owned(),
            ));
        }
        at = end;
    }
    if entries.is_empty() {
        return Err(malformed(
            0,
            0,
            format!("certificate table of {} bytes has no entry", table.len()),
        ));
    }
    if table[at..].iter().any(|&b| b != 0) {
        return Err(malformed(
            entries.len(),
            at,
            format!(
                "{} stray bytes after the last WIN_CERTIFICATE",
                table.len() - at
            ),
        ));
    }
    Ok(entries)
}

/// One PKCS_SIGNED_DATA entry holding `signed_data`, zero-padded to 8 bytes.
pub fn encode_entry(signed_data: &[u8]) -> Result<Vec<u8>, Error> {
    let length = HEADER_SIZE + signed_data.len();
    let dw_length = u32::try_from(length).map_err(|_| Error::TooLarge(length))?;
    let mut out = Vec::with_capacity(length.next_multiple_of(ALIGNMENT));
    out.extend_from_slice(&dw_length.to_le_bytes());
    out.extend_from_slice(&WIN_CERT_REVISION_2_0.to_le_bytes());
    out.extend_from_slice(&WIN_CERT_TYPE_PKCS_SIGNED_DATA.to_le_bytes());
    out.extend_from_slice(signed_data);
    out.resize(length.next_multiple_of(ALIGNMENT), 0);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_padding() {
        let mut table = encode_entry(b"abc").unwrap();
        assert_eq!(table.len(), 16);
        assert_eq!(&table[..8], &[11, 0, 0, 0, 0, 2, 2, 0]);
        table.extend(encode_entry(&[7u8; 8]).unwrap());
        let entries = parse_table(&table, 100).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].certificate, b"abc");
        assert_eq!(entries[1].offset, 16);
        assert_eq!(entries[1].certificate, &[7u8; 8]);
        assert_eq!(entries[1].revision, WIN_CERT_REVISION_2_0);
        assert_eq!(entries[1].certificate_type, WIN_CERT_TYPE_PKCS_SIGNED_DATA);
    }

    #[test]
    fn unpadded_last_entry_is_accepted() {
        let table = encode_entry(b"abc").unwrap();
        let entries = parse_table(&table[..11], 0).unwrap();
        assert_eq!(entries[0].certificate, b"abc");
    }

    #[test]
    fn bad_tables_are_malformed() {
        let good = encode_entry(b"abc").unwrap();
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (vec![], "no entry"),
            (vec![0; 7], "no entry"),
            (vec![0; 8], "dwLength 0"),
            ([&[200u8, 0, 0, 0][..], &good[4..]].concat(), "dwLength 200"),
            ([&good[..], &[1u8][..]].concat(), "stray"),
            (
                {
                    let mut t = good.clone();
                    t[15] = 1;
                    t
                },
                "padding",
            ),
        ];
        for (table, phrase) in cases {
            let err = parse_table(&table, 0x1000).unwrap_err().to_string();
            assert!(err.contains(phrase), "{table:?}: {err}");
        }
    }
}
