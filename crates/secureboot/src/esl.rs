//! EFI_SIGNATURE_LIST and EFI_SIGNATURE_DATA (UEFI 2.10 §32.4.1): the
//! contents of the `PK`, `KEK`, `db` and `dbx` variables.
//!
//! ```text
//! EFI_SIGNATURE_LIST   SignatureType (EFI_GUID), SignatureListSize (u32),
//!                      SignatureHeaderSize (u32), SignatureSize (u32),
//!                      SignatureHeader[SignatureHeaderSize],
//!                      EFI_SIGNATURE_DATA Signatures[][SignatureSize]
//! EFI_SIGNATURE_DATA   SignatureOwner (EFI_GUID), SignatureData[SignatureSize - 16]
//! ```
//!
//! All integers are little-endian. A variable holds one or more lists back to
//! back; every signature of one list has the same size, so an X.509 list holds
//! one certificate (as efitools' `cert-to-efi-sig-list` writes it).

use crate::Error;
use crate::guid::{EFI_CERT_X509_GUID, Guid};

/// Size of the fixed EFI_SIGNATURE_LIST header.
pub const LIST_HEADER_SIZE: usize = 28;
/// Size of EFI_SIGNATURE_DATA before its data: the owner GUID.
pub const OWNER_SIZE: usize = 16;

/// One EFI_SIGNATURE_DATA: who owns the entry, and the entry (a DER
/// certificate, a hash, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureData {
    pub owner: Guid,
    pub data: Vec<u8>,
}

/// One EFI_SIGNATURE_LIST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureList {
    pub signature_type: Guid,
    /// SignatureHeader: empty for every type the UEFI spec defines.
    pub header: Vec<u8>,
    pub signatures: Vec<SignatureData>,
}

impl SignatureList {
    /// A list of one DER X.509 certificate (EFI_CERT_X509_GUID) owned by `owner`.
    pub fn x509(owner: Guid, cert_der: &[u8]) -> Self {
        Self {
            signature_type: EFI_CERT_X509_GUID,
            header: Vec::new(),
            signatures: vec![SignatureData {
                owner,
                data: cert_der.to_vec(),
            }],
        }
    }

    /// Encodes the list. All signatures must have the same size, and the
    /// whole list must fit the u32 size fields.
    pub fn encode(&self) -> Result<Vec<u8>, Error> {
        let data_size = self.signatures.first().map_or(0, |s| s.data.len());
        if let Some(odd) = self.signatures.iter().find(|s| s.data.len() != data_size) {
            return Err(Error::EslMixedSizes {
                first: data_size,
                other: odd.data.len(),
            });
        }
        let signature_size = OWNER_SIZE + data_size;
        let total = self
            .signatures
            .len()
            .checked_mul(signature_size)
            .and_then(|n| n.checked_add(LIST_HEADER_SIZE + self.header.len()))
            .ok_or(Error::EslTooLarge(usize::MAX))?;
        let u32_of = |n: usize| u32::try_from(n).map_err(|_| Error::EslTooLarge(total));
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(&self.signature_type.to_efi_bytes());
        out.extend_from_slice(&u32_of(total)?.to_le_bytes());
        out.extend_from_slice(&u32_of(self.header.len())?.to_le_bytes());
        // With no signatures SignatureSize is still the owner GUID's 16 bytes,
        // so that a reader never divides by zero.
        out.extend_from_slice(&u32_of(signature_size)?.to_le_bytes());
        out.extend_from_slice(&self.header);
        for s in &self.signatures {
            out.extend_from_slice(&s.owner.to_efi_bytes());
            out.extend_from_slice(&s.data);
        }
        Ok(out)
    }

    /// Parses the whole contents of a signature database variable: zero or
    /// more lists that exactly fill `bytes`. Errors name the byte offset of
    /// the bad field.
    pub fn parse_all(bytes: &[u8]) -> Result<Vec<Self>, Error> {
        let mut lists = Vec::new();
        let mut offset = 0;
        while offset < bytes.len() {
            let (list, size) = Self::parse_one(&bytes[offset..], offset)?;
            lists.push(list);
            offset += size;
        }
        Ok(lists)
    }

    /// Parses one list at the start of `bytes` (found at `base` in the
    /// variable); returns it with its SignatureListSize.
    fn parse_one(bytes: &[u8], base: usize) -> Result<(Self, usize), Error> {
        let Some(head) = bytes.first_chunk::<LIST_HEADER_SIZE>() else {
            return Err(Error::Truncated {
                what: "EFI_SIGNATURE_LIST header",
                offset: base,
                need: LIST_HEADER_SIZE,
                have: bytes.len(),
            });
        };
        let u32_at =
            |at: usize| u32::from_le_bytes([head[at], head[at + 1], head[at + 2], head[at + 3]]);
        let mut guid = [0u8; 16];
        guid.copy_from_slice(&head[..16]);
        let signature_type = Guid::from_efi_bytes(guid);
        let list_size = u32_at(16);
        let header_size = u32_at(20);
        let signature_size = u32_at(24);
        // u32 always fits usize on the targets this crate builds for (32/64-bit).
        let size = usize::try_from(list_size).unwrap_or(usize::MAX);
        if size < LIST_HEADER_SIZE || size > bytes.len() {
            return Err(Error::EslListSize {
                offset: base + 16,
                list_size,
                available: bytes.len(),
            });
        }
        let header_len = usize::try_from(header_size).unwrap_or(usize::MAX);
        if header_len > size - LIST_HEADER_SIZE {
            return Err(Error::EslHeaderSize {
                offset: base + 20,
                header_size,
                list_size,
            });
        }
        let sig_len = usize::try_from(signature_size).unwrap_or(usize::MAX);
        let body = size - LIST_HEADER_SIZE - header_len;
        if sig_len < OWNER_SIZE || body % sig_len != 0 {
            return Err(Error::EslSignatureSize {
                offset: base + 24,
                signature_size,
                body,
            });
        }
        let header_start = LIST_HEADER_SIZE;
        let sigs_start = header_start + header_len;
        let signatures = bytes[sigs_start..size]
            .chunks_exact(sig_len)
            .map(|chunk| {
                let mut owner = [0u8; 16];
                owner.copy_from_slice(&chunk[..OWNER_SIZE]);
                SignatureData {
                    owner: Guid::from_efi_bytes(owner),
                    data: chunk[OWNER_SIZE..].to_vec(),
                }
            })
            .collect();
        let list = Self {
            signature_type,
            header: bytes[header_start..sigs_start].to_vec(),
            signatures,
        };
        Ok((list, size))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWNER: Guid = Guid::from_fields(0x1111_1111, 0x2222, 0x3333, [0x44; 8]);

    #[test]
    fn x509_layout() {
        let cert = [0x30, 0x03, 0x02, 0x01, 0x05];
        let esl = SignatureList::x509(OWNER, &cert).encode().unwrap();
        assert_eq!(esl.len(), 28 + 16 + 5);
        assert_eq!(&esl[..16], &EFI_CERT_X509_GUID.to_efi_bytes());
        assert_eq!(&esl[16..20], &49u32.to_le_bytes());
        assert_eq!(&esl[20..24], &0u32.to_le_bytes());
        assert_eq!(&esl[24..28], &21u32.to_le_bytes());
        assert_eq!(&esl[28..44], &OWNER.to_efi_bytes());
        assert_eq!(&esl[44..], &cert);
        let parsed = SignatureList::parse_all(&esl).unwrap();
        assert_eq!(parsed, vec![SignatureList::x509(OWNER, &cert)]);
    }

    #[test]
    fn several_lists_and_empty() {
        let a = SignatureList::x509(OWNER, &[1, 2, 3]).encode().unwrap();
        let b = SignatureList::x509(OWNER, &[4; 40]).encode().unwrap();
        let both = [a.clone(), b].concat();
        let lists = SignatureList::parse_all(&both).unwrap();
        assert_eq!(lists.len(), 2);
        assert_eq!(lists[1].signatures[0].data, vec![4; 40]);
        assert_eq!(SignatureList::parse_all(&[]).unwrap(), vec![]);
        // A list of no signatures round-trips too.
        let empty = SignatureList {
            signature_type: EFI_CERT_X509_GUID,
            header: vec![],
            signatures: vec![],
        };
        assert_eq!(
            SignatureList::parse_all(&empty.encode().unwrap()).unwrap(),
            vec![empty]
        );
    }

    #[test]
    fn mixed_sizes_refused() {
        let mut list = SignatureList::x509(OWNER, &[1, 2, 3]);
        list.signatures.push(SignatureData {
            owner: OWNER,
            data: vec![1],
        });
        assert!(matches!(list.encode(), Err(Error::EslMixedSizes { .. })));
    }

    #[test]
    fn bad_sizes_name_offsets() {
        let good = SignatureList::x509(OWNER, &[9; 10]).encode().unwrap();
        let second = [good.clone(), good.clone()].concat();
        // Truncated second list: its size field points past the end.
        match SignatureList::parse_all(&second[..second.len() - 1]) {
            Err(Error::EslListSize { offset, .. }) => assert_eq!(offset, good.len() + 16),
            other => panic!("{other:?}"),
        }
        // A trailing fragment shorter than a header.
        let mut tail = good.clone();
        tail.extend_from_slice(&[0; 5]);
        assert!(matches!(
            SignatureList::parse_all(&tail),
            Err(Error::Truncated { offset: 54, .. })
        ));
        let mut b = good.clone();
        b[24..28].copy_from_slice(&15u32.to_le_bytes());
        assert!(matches!(
            SignatureList::parse_all(&b),
            Err(Error::EslSignatureSize { offset: 24, .. })
        ));
        let mut b = good.clone();
        b[24..28].copy_from_slice(&0u32.to_le_bytes());
        assert!(SignatureList::parse_all(&b).is_err());
        let mut b = good.clone();
        b[20..24].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            SignatureList::parse_all(&b),
            Err(Error::EslHeaderSize { offset: 20, .. })
        ));
        let mut b = good;
        b[16..20].copy_from_slice(&27u32.to_le_bytes());
        assert!(matches!(
            SignatureList::parse_all(&b),
            Err(Error::EslListSize { offset: 16, .. })
        ));
    }
}
