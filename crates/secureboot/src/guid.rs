//! EFI_GUID (UEFI 2.10 appendix A): 128 bits stored as a little-endian u32,
//! two little-endian u16 and eight bytes, so the text form
//! `8be4df61-93ca-11d2-aa0d-00e098032b8c` is stored as `61 df e4 8b ca 93 d2 11 aa 0d ...`.

use std::fmt;
use std::str::FromStr;

use crate::Error;

/// A GUID in its text (RFC 4122) order; [`Guid::to_efi_bytes`] gives the
/// mixed-endian bytes that firmware structures hold.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Guid(uuid::Uuid);

impl Guid {
    /// From the text order of the fields (`Data1`, `Data2`, `Data3`, `Data4`).
    pub const fn from_fields(d1: u32, d2: u16, d3: u16, d4: [u8; 8]) -> Self {
        Self(uuid::Uuid::from_fields(d1, d2, d3, &d4))
    }

    /// A version 4 GUID from 16 random bytes (the caller owns the randomness).
    pub fn from_random_bytes(bytes: [u8; 16]) -> Self {
        Self(uuid::Builder::from_random_bytes(bytes).into_uuid())
    }

    /// The 16 bytes as stored in firmware structures (EFI_GUID layout).
    pub fn to_efi_bytes(self) -> [u8; 16] {
        self.0.to_bytes_le()
    }

    /// Reads the 16 bytes of an EFI_GUID.
    pub fn from_efi_bytes(bytes: [u8; 16]) -> Self {
        Self(uuid::Uuid::from_bytes_le(bytes))
    }
}

impl FromStr for Guid {
    type Err = Error;

    /// Accepts the hyphenated form only (`xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`),
    /// the one efitools' `-g` and `owner.guid` use.
    fn from_str(text: &str) -> Result<Self, Error> {
        let bad = || Error::BadGuid(text.to_owned());
        if text.len() != 36 {
            return Err(bad());
        }
        uuid::Uuid::try_parse(text).map(Self).map_err(|_| bad())
    }
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.hyphenated())
    }
}

impl fmt::Debug for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Guid({self})")
    }
}

/// EFI_GLOBAL_VARIABLE: vendor GUID of `PK` and `KEK` (UEFI 2.10 §3.3).
pub const EFI_GLOBAL_VARIABLE: Guid = Guid::from_fields(
    0x8be4_df61,
    0x93ca,
    0x11d2,
    [0xaa, 0x0d, 0x00, 0xe0, 0x98, 0x03, 0x2b, 0x8c],
);

/// EFI_IMAGE_SECURITY_DATABASE_GUID: vendor GUID of `db` and `dbx` (§32.6.1).
pub const EFI_IMAGE_SECURITY_DATABASE_GUID: Guid = Guid::from_fields(
    0xd719_b2cb,
    0x3d3a,
    0x4596,
    [0xa3, 0xbc, 0xda, 0xd0, 0x0e, 0x67, 0x65, 0x6f],
);

/// EFI_CERT_X509_GUID: signature list of DER X.509 certificates (§32.4.1).
pub const EFI_CERT_X509_GUID: Guid = Guid::from_fields(
    0xa5c0_59a1,
    0x94e4,
    0x4aa7,
    [0x87, 0xb5, 0xab, 0x15, 0x5c, 0x2b, 0xf0, 0x72],
);

/// EFI_CERT_SHA256_GUID: signature list of SHA-256 image digests (§32.4.1).
pub const EFI_CERT_SHA256_GUID: Guid = Guid::from_fields(
    0xc1c4_1626,
    0x504c,
    0x4092,
    [0xac, 0xa9, 0x41, 0xf9, 0x36, 0x93, 0x43, 0x28],
);

/// EFI_CERT_TYPE_PKCS7_GUID: WIN_CERTIFICATE_UEFI_GUID holding PKCS#7 SignedData (§32.2.4).
pub const EFI_CERT_TYPE_PKCS7_GUID: Guid = Guid::from_fields(
    0x4aaf_d29d,
    0x68df,
    0x49ee,
    [0x8a, 0xa9, 0x34, 0x7d, 0x37, 0x56, 0x65, 0xa7],
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn efi_byte_order() {
        // As efitools' guid.c and edk2 store EFI_GLOBAL_VARIABLE.
        assert_eq!(
            EFI_GLOBAL_VARIABLE.to_efi_bytes(),
            [
                0x61, 0xdf, 0xe4, 0x8b, 0xca, 0x93, 0xd2, 0x11, 0xaa, 0x0d, 0x00, 0xe0, 0x98, 0x03,
                0x2b, 0x8c
            ]
        );
        assert_eq!(
            EFI_GLOBAL_VARIABLE.to_string(),
            "8be4df61-93ca-11d2-aa0d-00e098032b8c"
        );
        let g = EFI_CERT_X509_GUID;
        assert_eq!(Guid::from_efi_bytes(g.to_efi_bytes()), g);
    }

    #[test]
    fn parse() {
        let g: Guid = "a5c059a1-94e4-4aa7-87b5-ab155c2bf072".parse().unwrap();
        assert_eq!(g, EFI_CERT_X509_GUID);
        for bad in [
            "",
            "a5c059a194e44aa787b5ab155c2bf072",
            "{a5c059a1-94e4-4aa7-87b5-ab155c2bf072}",
            "a5c059a1-94e4-4aa7-87b5-ab155c2bf07g",
        ] {
            assert!(
                matches!(bad.parse::<Guid>(), Err(Error::BadGuid(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn random_is_version_4() {
        let g = Guid::from_random_bytes([0xff; 16]);
        assert_eq!(g.to_string(), "ffffffff-ffff-4fff-bfff-ffffffffffff");
    }
}
