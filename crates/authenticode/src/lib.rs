//! Authenticode signatures of PE/EFI images, as UEFI Secure Boot checks
//! them: Microsoft "Windows Authenticode Portable Executable Signature
//! Format" (Authenticode_PE.docx, version 1.0, 2008), over PKCS#7 SignedData
//! (RFC 2315 / RFC 5652). Format description: docs/formats/authenticode.md.
//!
//! * [`sign`] replaces any signature with one by an RSA key (PKCS#1 v1.5,
//!   SHA-256); [`append_signature`] adds one to those already there.
//!   Deterministic: same image, key and certificate give the same bytes.
//! * Images whose sections' raw data overlap are refused; so are gaps
//!   between sections (bytes the signature would not cover), unless the
//!   `_with` variants are given [`Gaps::Allow`].
//! * [`verify`] accepts an image when one of its signatures covers the
//!   image's current digest, verifies, and comes from the trusted
//!   certificate or a certificate it issued (like `sbverify --cert`).
//!
//! The crate is pure (bytes in, bytes out); PE parsing, the image digest
//! and the certificate table layout come from the `pe` crate.
//!
//! Module map: `spc` (Authenticode ASN.1 types), `wincert` (WIN_CERTIFICATE
//! table), `build` (SignedData creation), `check` (SignedData
//! verification), `tlv` (raw DER walking for exact signed bytes), `trust` (is the
//! signer the trusted certificate or issued by it), `keys`
//! (reading PEM keys and PEM/DER certificates).

mod build;
mod check;
mod error;
mod keys;
pub mod spc;
mod tlv;
mod trust;
pub mod wincert;

pub use build::{check_key_matches, signed_data};
pub use check::{Signer, check as check_signed_data};
pub use error::Error;
pub use keys::{certificate_from_pem_or_der, certificates_from_pem_or_der, private_key_from_pem};
pub use pe::{Gap, Gaps};
pub use rsa::RsaPrivateKey;
pub use x509_cert::Certificate;

/// A signature that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSignature {
    /// Which WIN_CERTIFICATE entry verified (from 0).
    pub index: usize,
    /// How many entries the certificate table holds.
    pub entries: usize,
    /// The Authenticode SHA-256 digest of the image, as signed.
    pub image_digest: [u8; 32],
    pub signer: Signer,
    /// Whether the optional header CheckSum is correct. Authenticode does
    /// not cover it (nor does UEFI check it), so it never fails `verify`.
    pub checksum_valid: bool,
    /// Bytes between sections that the signature does not cover (only
    /// with [`Gaps::Allow`]; otherwise such an image is refused).
    pub gaps: Vec<Gap>,
}

/// `image` signed by `key` / `cert`: any existing certificate table is
/// replaced by one holding a single signature. The image is zero-padded to
/// 8 bytes before the table (the padding is covered by the signature) and
/// its CheckSum updated. Refuses an image whose sections overlap or leave
/// gaps (see [`sign_with`]).
pub fn sign(image: &[u8], key: &RsaPrivateKey, cert: &Certificate) -> Result<Vec<u8>, Error> {
    sign_with(image, key, cert, Gaps::Refuse)
}

/// [`sign`], with a choice about gaps between sections: bytes the
/// signature would not cover, and on whose digest tools disagree.
pub fn sign_with(
    image: &[u8],
    key: &RsaPrivateKey,
    cert: &Certificate,
    gaps: Gaps,
) -> Result<Vec<u8>, Error> {
    check_key_matches(key, cert)?;
    let prepared = pe::prepare_for_signing(image)?;
    let digest = pe::authenticode_sha256_with(&prepared, gaps)?;
    let entry = wincert::encode_entry(&signed_data(&digest, key, cert)?)?;
    Ok(pe::with_certificate_table(&prepared, &entry)?)
}

/// `image` with one more signature, by `key` / `cert`, as a further
/// WIN_CERTIFICATE entry after those it has (UEFI firmware checks entries
/// one by one; Windows tools nest signatures instead). An unsigned image is
/// simply signed. Refuses a table that does not start
/// on an 8-byte boundary, since padding it would change the digest the
/// existing signatures cover. Gaps between sections are refused, as by
/// [`sign`].
pub fn append_signature(
    image: &[u8],
    key: &RsaPrivateKey,
    cert: &Certificate,
) -> Result<Vec<u8>, Error> {
    append_signature_with(image, key, cert, Gaps::Refuse)
}

/// [`append_signature`], with a choice about gaps between sections.
pub fn append_signature_with(
    image: &[u8],
    key: &RsaPrivateKey,
    cert: &Certificate,
    gaps: Gaps,
) -> Result<Vec<u8>, Error> {
    let pe_file = pe::PeFile::parse(image)?;
    let Some(range) = pe_file.certificate_table() else {
        return sign_with(image, key, cert, gaps);
    };
    check_key_matches(key, cert)?;
    if range.start % wincert::ALIGNMENT != 0 {
        return Err(Error::UnalignedTable(range.start));
    }
    // Entries must be sound: we keep them byte for byte.
    let table = &image[range.clone()];
    wincert::parse_table(table, range.start)?;
    let digest = pe::authenticode_sha256_with(image, gaps)?;
    let mut new_table = table.to_vec();
    new_table.resize(table.len().next_multiple_of(wincert::ALIGNMENT), 0);
    new_table.extend(wincert::encode_entry(&signed_data(&digest, key, cert)?)?);
    Ok(pe::with_certificate_table(image, &new_table)?)
}

/// Checks that `image` carries a valid Authenticode signature from
/// `trusted` or from a certificate `trusted` issued.
///
/// Every WIN_CERTIFICATE entry must be well-formed; the image is accepted
/// when any PKCS_SIGNED_DATA entry verifies (as UEFI does with `db`).
/// Otherwise the most telling failure is returned (digest mismatch >
/// invalid signature > untrusted signer > unsupported > malformed).
///
/// An image whose sections overlap or leave gaps is refused, as [`sign`]
/// refuses it (see [`verify_with`]).
pub fn verify(image: &[u8], trusted: &Certificate) -> Result<VerifiedSignature, Error> {
    verify_with(image, trusted, Gaps::Refuse)
}

/// [`verify`], with a choice about gaps between sections; the gaps found
/// are in [`VerifiedSignature::gaps`].
pub fn verify_with(
    image: &[u8],
    trusted: &Certificate,
    gaps: Gaps,
) -> Result<VerifiedSignature, Error> {
    let pe_file = pe::PeFile::parse(image).map_err(table_error)?;
    let checksum_offset = pe_file.checksum_offset();
    let Some(range) = pe_file.certificate_table() else {
        return Err(Error::NotSigned("it has no certificate table".into()));
    };
    let digest = pe::authenticode_sha256_with(image, gaps).map_err(table_error)?;
    // The digest refused overlaps (and gaps, unless allowed).
    let found_gaps = pe_file.raw_data_gaps().map_err(Error::Pe)?;
    let entries = wincert::parse_table(&image[range.clone()], range.start)?;
    let mut best: Option<Error> = None;
    for (index, entry) in entries.iter().enumerate() {
        if entry.certificate_type != wincert::WIN_CERT_TYPE_PKCS_SIGNED_DATA {
            continue;
        }
        let base = range.start + entry.offset + wincert::HEADER_SIZE;
        let result = if entry.revision == wincert::WIN_CERT_REVISION_2_0 {
            check_signed_data(entry.certificate, index, base, &digest, trusted)
        } else {
            Err(Error::Unsupported {
                index,
                what: format!("WIN_CERTIFICATE revision {:#06x}", entry.revision),
            })
        };
        match result {
            Ok(signer) => {
                let stored = image
                    .get(checksum_offset..checksum_offset + 4)
                    .and_then(|b| b.try_into().ok())
                    .map(u32::from_le_bytes);
                return Ok(VerifiedSignature {
                    index,
                    entries: entries.len(),
                    image_digest: digest,
                    signer,
                    checksum_valid: stored == Some(pe::pe_checksum(image, checksum_offset)),
                    gaps: found_gaps,
                });
            }
            Err(e) => {
                if best.as_ref().is_none_or(|b| e.rank() > b.rank()) {
                    best = Some(e);
                }
            }
        }
    }
    Err(best.unwrap_or_else(|| {
        Error::NotSigned(format!(
            "none of its {} certificate table entries is a PKCS#7 signature",
            entries.len()
        ))
    }))
}

/// A PE error about where the certificate table is: for a verifier, the
/// signature is malformed (the rest of the image is a readable PE).
fn table_error(e: pe::Error) -> Error {
    use pe::FormatErrorKind::{CertificateTableBounds, CertificateTableInHeaders};
    let offset = match &e {
        pe::Error::Format(f)
            if matches!(
                f.kind,
                CertificateTableBounds { .. } | CertificateTableInHeaders { .. }
            ) =>
        {
            f.offset
        }
        pe::Error::CertificateTableNotAtEnd { start, .. } => *start,
        _ => return Error::Pe(e),
    };
    Error::Malformed {
        index: 0,
        offset,
        reason: e.to_string(),
    }
}
