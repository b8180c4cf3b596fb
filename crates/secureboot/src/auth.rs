//! Signed updates of time-based authenticated variables (UEFI 2.10 §8.2.2,
//! SetVariable): the `.auth` files that enrol PK, KEK and db.
//!
//! ```text
//! EFI_VARIABLE_AUTHENTICATION_2  TimeStamp (EFI_TIME, 16 bytes)
//!                                AuthInfo: WIN_CERTIFICATE_UEFI_GUID
//! WIN_CERTIFICATE_UEFI_GUID      Hdr.dwLength (u32, whole structure with CertData)
//!                                Hdr.wRevision (u16, 0x0200)
//!                                Hdr.wCertificateType (u16, WIN_CERT_TYPE_EFI_GUID 0x0EF1)
//!                                CertType (EFI_GUID, EFI_CERT_TYPE_PKCS7_GUID)
//!                                CertData (DER PKCS#7 SignedData, see pkcs7.rs)
//! ```
//!
//! A `.auth` file is that descriptor followed by the new variable contents
//! (an EFI_SIGNATURE_LIST, or nothing to delete the variable): the exact
//! buffer handed to SetVariable, as efitools' `sign-efi-sig-list` writes it
//! and KeyTool, `efi-updatevar -f` and firmware setup menus read it. The
//! signature covers VariableName (UTF-16LE, no terminating NUL) ‖
//! VendorGuid ‖ Attributes (u32 LE) ‖ TimeStamp ‖ Data.

use rand::{CryptoRng, RngCore};
use rsa::RsaPrivateKey;
use x509_cert::Certificate;

use crate::guid::{EFI_CERT_TYPE_PKCS7_GUID, Guid};
use crate::time::{EFI_TIME_SIZE, EfiTime};
use crate::{Error, pkcs7};

/// EFI_VARIABLE_NON_VOLATILE.
pub const EFI_VARIABLE_NON_VOLATILE: u32 = 0x01;
/// EFI_VARIABLE_BOOTSERVICE_ACCESS.
pub const EFI_VARIABLE_BOOTSERVICE_ACCESS: u32 = 0x02;
/// EFI_VARIABLE_RUNTIME_ACCESS.
pub const EFI_VARIABLE_RUNTIME_ACCESS: u32 = 0x04;
/// EFI_VARIABLE_TIME_BASED_AUTHENTICATED_WRITE_ACCESS.
pub const EFI_VARIABLE_TIME_BASED_AUTHENTICATED_WRITE_ACCESS: u32 = 0x20;
/// EFI_VARIABLE_APPEND_WRITE: add to a signature database instead of replacing it.
pub const EFI_VARIABLE_APPEND_WRITE: u32 = 0x40;
/// The attributes of PK, KEK, db and dbx: NV | BS | RT | time-based authenticated (0x27).
pub const SECURE_BOOT_ATTRIBUTES: u32 = EFI_VARIABLE_NON_VOLATILE
    | EFI_VARIABLE_BOOTSERVICE_ACCESS
    | EFI_VARIABLE_RUNTIME_ACCESS
    | EFI_VARIABLE_TIME_BASED_AUTHENTICATED_WRITE_ACCESS;

/// WIN_CERTIFICATE.wRevision of the UEFI structures.
pub const WIN_CERT_REVISION: u16 = 0x0200;
/// WIN_CERTIFICATE.wCertificateType: WIN_CERT_TYPE_EFI_GUID.
pub const WIN_CERT_TYPE_EFI_GUID: u16 = 0x0EF1;
/// Offset of CertData in EFI_VARIABLE_AUTHENTICATION_2: TimeStamp, WIN_CERTIFICATE header, CertType.
pub const CERT_DATA_OFFSET: usize = EFI_TIME_SIZE + 8 + 16;

/// The bytes a variable update's signature covers.
pub fn signed_bytes(
    name: &str,
    vendor: Guid,
    attributes: u32,
    time: EfiTime,
    data: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 * name.len() + 16 + 4 + EFI_TIME_SIZE + data.len());
    for unit in name.encode_utf16() {
        out.extend_from_slice(&unit.to_le_bytes());
    }
    out.extend_from_slice(&vendor.to_efi_bytes());
    out.extend_from_slice(&attributes.to_le_bytes());
    out.extend_from_slice(&time.to_bytes());
    out.extend_from_slice(data);
    out
}

/// A parsed `.auth` buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthVariable {
    pub timestamp: EfiTime,
    /// CertData: the DER PKCS#7 SignedData.
    pub cert_data: Vec<u8>,
    /// The new variable contents that follow the descriptor.
    pub data: Vec<u8>,
}

impl AuthVariable {
    /// Signs `data` as the new contents of variable `name` of `vendor` with
    /// the Secure Boot attributes (0x27), with `key` whose certificate is
    /// `cert`, and returns the whole `.auth` buffer.
    pub fn sign<R: CryptoRng + RngCore>(
        name: &str,
        vendor: Guid,
        time: EfiTime,
        data: &[u8],
        key: &RsaPrivateKey,
        cert: &Certificate,
        rng: &mut R,
    ) -> Result<Vec<u8>, Error> {
        let payload = signed_bytes(name, vendor, SECURE_BOOT_ATTRIBUTES, time, data);
        let cert_data = pkcs7::sign_detached(key, cert, &payload, rng)?;
        Self {
            timestamp: time,
            cert_data,
            data: data.to_vec(),
        }
        .encode()
    }

    /// The descriptor followed by the data.
    pub fn encode(&self) -> Result<Vec<u8>, Error> {
        let length = u32::try_from(CERT_DATA_OFFSET - EFI_TIME_SIZE + self.cert_data.len())
            .map_err(|_| Error::AuthTooLarge(self.cert_data.len()))?;
        let mut out = Vec::with_capacity(CERT_DATA_OFFSET + self.cert_data.len() + self.data.len());
        out.extend_from_slice(&self.timestamp.to_bytes());
        out.extend_from_slice(&length.to_le_bytes());
        out.extend_from_slice(&WIN_CERT_REVISION.to_le_bytes());
        out.extend_from_slice(&WIN_CERT_TYPE_EFI_GUID.to_le_bytes());
        out.extend_from_slice(&EFI_CERT_TYPE_PKCS7_GUID.to_efi_bytes());
        out.extend_from_slice(&self.cert_data);
        out.extend_from_slice(&self.data);
        Ok(out)
    }

    /// Splits a `.auth` buffer into timestamp, CertData and data, checking
    /// the descriptor's fixed fields. The signature is not checked here:
    /// see [`AuthVariable::verify`].
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let Some(head) = bytes.first_chunk::<CERT_DATA_OFFSET>() else {
            return Err(Error::Truncated {
                what: "EFI_VARIABLE_AUTHENTICATION_2",
                offset: 0,
                need: CERT_DATA_OFFSET,
                have: bytes.len(),
            });
        };
        let mut time = [0u8; EFI_TIME_SIZE];
        time.copy_from_slice(&head[..EFI_TIME_SIZE]);
        let timestamp = EfiTime::parse(&time, 0)?;
        let length = u32::from_le_bytes([head[16], head[17], head[18], head[19]]);
        let revision = u16::from_le_bytes([head[20], head[21]]);
        let cert_type = u16::from_le_bytes([head[22], head[23]]);
        let mut guid = [0u8; 16];
        guid.copy_from_slice(&head[24..40]);
        let guid = Guid::from_efi_bytes(guid);
        let end = usize::try_from(length)
            .ok()
            .and_then(|l| l.checked_add(EFI_TIME_SIZE));
        match end {
            Some(end) if end > CERT_DATA_OFFSET && end <= bytes.len() => {}
            _ => {
                return Err(Error::AuthLength {
                    offset: 16,
                    length,
                    available: bytes.len() - EFI_TIME_SIZE,
                });
            }
        }
        if revision != WIN_CERT_REVISION {
            return Err(Error::AuthRevision {
                offset: 20,
                revision,
            });
        }
        if cert_type != WIN_CERT_TYPE_EFI_GUID {
            return Err(Error::AuthCertificateType {
                offset: 22,
                cert_type,
            });
        }
        if guid != EFI_CERT_TYPE_PKCS7_GUID {
            return Err(Error::AuthCertType { offset: 24, guid });
        }
        let end = end.unwrap_or(bytes.len());
        Ok(Self {
            timestamp,
            cert_data: bytes[CERT_DATA_OFFSET..end].to_vec(),
            data: bytes[end..].to_vec(),
        })
    }

    /// Checks the signature as firmware would for an update of variable
    /// `name` of `vendor` with the Secure Boot attributes: the signer must be
    /// one of `trusted` or issued by one of them. Returns the signer's
    /// certificate and the index of the trusted certificate.
    pub fn verify(
        &self,
        name: &str,
        vendor: Guid,
        trusted: &[&Certificate],
    ) -> Result<(Certificate, usize), Error> {
        self.verify_with_attributes(name, vendor, SECURE_BOOT_ATTRIBUTES, trusted)
    }

    /// As [`AuthVariable::verify`], for an update made with other
    /// `attributes` (e.g. with [`EFI_VARIABLE_APPEND_WRITE`] added).
    pub fn verify_with_attributes(
        &self,
        name: &str,
        vendor: Guid,
        attributes: u32,
        trusted: &[&Certificate],
    ) -> Result<(Certificate, usize), Error> {
        let payload = signed_bytes(name, vendor, attributes, self.timestamp, &self.data);
        pkcs7::verify_detached(&self.cert_data, &payload, trusted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guid::EFI_GLOBAL_VARIABLE;

    fn sample() -> AuthVariable {
        AuthVariable {
            timestamp: EfiTime::from_unix(1_704_164_645).unwrap(),
            cert_data: vec![0x30, 0x00],
            data: vec![1, 2, 3],
        }
    }

    #[test]
    fn layout_and_round_trip() {
        let bytes = sample().encode().unwrap();
        assert_eq!(bytes.len(), 40 + 2 + 3);
        assert_eq!(&bytes[16..20], &26u32.to_le_bytes());
        assert_eq!(&bytes[20..24], &[0x00, 0x02, 0xf1, 0x0e]);
        assert_eq!(AuthVariable::parse(&bytes).unwrap(), sample());
    }

    #[test]
    fn signed_bytes_layout() {
        let time = EfiTime::from_unix(1_704_164_645).unwrap();
        let b = signed_bytes("PK", EFI_GLOBAL_VARIABLE, 0x27, time, &[9]);
        assert_eq!(&b[..4], b"P\0K\0");
        assert_eq!(&b[4..20], &EFI_GLOBAL_VARIABLE.to_efi_bytes());
        assert_eq!(&b[20..24], &[0x27, 0, 0, 0]);
        assert_eq!(&b[24..40], &time.to_bytes());
        assert_eq!(&b[40..], &[9]);
    }

    #[test]
    fn bad_descriptors() {
        let good = sample().encode().unwrap();
        assert!(matches!(
            AuthVariable::parse(&good[..39]),
            Err(Error::Truncated { need: 40, .. })
        ));
        let mut b = good.clone();
        b[16..20].copy_from_slice(&24u32.to_le_bytes());
        assert!(matches!(
            AuthVariable::parse(&b),
            Err(Error::AuthLength { offset: 16, .. })
        ));
        let mut b = good.clone();
        b[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            AuthVariable::parse(&b),
            Err(Error::AuthLength { .. })
        ));
        let mut b = good.clone();
        b[21] = 1;
        assert!(matches!(
            AuthVariable::parse(&b),
            Err(Error::AuthRevision { offset: 20, .. })
        ));
        let mut b = good.clone();
        b[22] = 2;
        assert!(matches!(
            AuthVariable::parse(&b),
            Err(Error::AuthCertificateType { offset: 22, .. })
        ));
        let mut b = good.clone();
        b[30] ^= 1;
        assert!(matches!(
            AuthVariable::parse(&b),
            Err(Error::AuthCertType { offset: 24, .. })
        ));
        let mut b = good;
        b[8] = 1;
        assert!(matches!(
            AuthVariable::parse(&b),
            Err(Error::BadTime {
                field: "Nanosecond",
                ..
            })
        ));
    }
}
