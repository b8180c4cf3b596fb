//! Public areas of TPM objects (Part 2, §12.2 "TPMT_PUBLIC" and §12.2.3
//! "TPMU_PUBLIC_PARMS"), their Names (Part 1, §16 "Names"), and the
//! templates this crate creates objects from.
//!
//! ```text
//! TPMT_PUBLIC   type u16 | nameAlg u16 | objectAttributes u32 | authPolicy TPM2B_DIGEST
//!               | parameters (by type) | unique (by type)
//!   RSA         symmetric TPMT_SYM_DEF_OBJECT | scheme TPMT_RSA_SCHEME | keyBits u16 | exponent u32
//!               | unique TPM2B_PUBLIC_KEY_RSA
//!   ECC         symmetric | scheme TPMT_ECC_SCHEME | curveID u16 | kdf TPMT_KDF_SCHEME
//!               | unique TPMS_ECC_POINT (x TPM2B, y TPM2B)
//!   KEYEDHASH   scheme TPMT_KEYEDHASH_SCHEME | unique TPM2B_DIGEST
//!   SYMCIPHER   sym TPMT_SYM_DEF_OBJECT | unique TPM2B_DIGEST
//! Name = nameAlg u16 || H_nameAlg(TPMT_PUBLIC)
//! ```

use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::marshal::{Put, Reader};

/// TPM_ALG_ID values (Part 2, §6.3).
pub mod alg {
    pub const RSA: u16 = 0x0001;
    pub const SHA1: u16 = 0x0004;
    pub const HMAC: u16 = 0x0005;
    pub const AES: u16 = 0x0006;
    pub const KEYEDHASH: u16 = 0x0008;
    pub const XOR: u16 = 0x000A;
    pub const SHA256: u16 = 0x000B;
    pub const SHA384: u16 = 0x000C;
    pub const SHA512: u16 = 0x000D;
    pub const NULL: u16 = 0x0010;
    pub const RSASSA: u16 = 0x0014;
    pub const RSAES: u16 = 0x0015;
    pub const ECDAA: u16 = 0x001A;
    pub const ECC: u16 = 0x0023;
    pub const SYMCIPHER: u16 = 0x0025;
    pub const CFB: u16 = 0x0043;
    /// TPM_ECC_NIST_P256 (TPM_ECC_CURVE, Part 2, §6.4).
    pub const NIST_P256: u16 = 0x0003;
}

/// TPMA_OBJECT bits (Part 2, §8.3).
pub mod attr {
    pub const FIXED_TPM: u32 = 1 << 1;
    pub const FIXED_PARENT: u32 = 1 << 4;
    pub const SENSITIVE_DATA_ORIGIN: u32 = 1 << 5;
    pub const USER_WITH_AUTH: u32 = 1 << 6;
    pub const NO_DA: u32 = 1 << 10;
    pub const RESTRICTED: u32 = 1 << 16;
    pub const DECRYPT: u32 = 1 << 17;
    pub const SIGN_ENCRYPT: u32 = 1 << 18;
}

/// Largest TPM2B_PUBLIC / TPM2B_PRIVATE this crate accepts.
pub const MAX_PUBLIC: usize = 1024;
pub const MAX_PRIVATE: usize = 2048;
const MAX_DIGEST: usize = 64;
const MAX_RSA: usize = 512;
const MAX_ECC: usize = 128;

/// TPMT_SYM_DEF_OBJECT: `alg` NULL, or a block cipher with key size and mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SymDef {
    pub alg: u16,
    pub key_bits: u16,
    pub mode: u16,
}

impl SymDef {
    pub const NULL: SymDef = SymDef {
        alg: alg::NULL,
        key_bits: 0,
        mode: 0,
    };
    pub const AES_128_CFB: SymDef = SymDef {
        alg: alg::AES,
        key_bits: 128,
        mode: alg::CFB,
    };

    pub(crate) fn put(&self, out: &mut Vec<u8>) {
        out.u16(self.alg);
        match self.alg {
            alg::NULL => {}
            alg::XOR => {
                out.u16(self.key_bits);
            }
            _ => {
                out.u16(self.key_bits).u16(self.mode);
            }
        }
    }

    fn read(r: &mut Reader) -> Result<Self, Error> {
        let alg = r.u16("symmetric algorithm")?;
        Ok(match alg {
            alg::NULL => SymDef::NULL,
            alg::XOR => SymDef {
                alg,
                key_bits: r.u16("symmetric XOR hash")?,
                mode: 0,
            },
            _ => SymDef {
                alg,
                key_bits: r.u16("symmetric key bits")?,
                mode: r.u16("symmetric mode")?,
            },
        })
    }
}

/// A signing, encryption, key-exchange or KDF scheme with its details
/// (TPMT_RSA_SCHEME, TPMT_ECC_SCHEME, TPMT_KEYEDHASH_SCHEME, TPMT_KDF_SCHEME).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scheme {
    pub scheme: u16,
    /// The hash algorithm, for schemes that have one.
    pub hash: u16,
    /// ECDAA's count, or XOR's KDF.
    pub extra: u16,
}

impl Scheme {
    pub const NULL: Scheme = Scheme {
        scheme: alg::NULL,
        hash: 0,
        extra: 0,
    };

    /// Which detail fields a scheme has: (hash, extra).
    fn details(scheme: u16) -> Option<(bool, bool)> {
        match scheme {
            alg::NULL | alg::RSAES => Some((false, false)),
            alg::ECDAA | alg::XOR => Some((true, true)),
            // HMAC, MGF1, RSASSA, RSAPSS, OAEP, ECDSA, ECDH, SM2, ECSCHNORR,
            // ECMQV, and the KDFs.
            0x0005 | 0x0007 | 0x0014 | 0x0016..=0x0019 | 0x001B..=0x001D | 0x0020..=0x0022 => {
                Some((true, false))
            }
            _ => None,
        }
    }

    fn put(&self, out: &mut Vec<u8>) {
        out.u16(self.scheme);
        let (hash, extra) = Self::details(self.scheme).unwrap_or((false, false));
        if hash {
            out.u16(self.hash);
        }
        if extra {
            out.u16(self.extra);
        }
    }

    fn read(r: &mut Reader, what: &'static str) -> Result<Self, Error> {
        let at = r.offset();
        let scheme = r.u16(what)?;
        let (hash, extra) = Self::details(scheme).ok_or(Error::Malformed { what, offset: at })?;
        Ok(Scheme {
            scheme,
            hash: if hash { r.u16(what)? } else { 0 },
            extra: if extra { r.u16(what)? } else { 0 },
        })
    }
}

/// TPMU_PUBLIC_PARMS for the types this crate handles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Params {
    Rsa {
        symmetric: SymDef,
        scheme: Scheme,
        key_bits: u16,
        exponent: u32,
    },
    Ecc {
        symmetric: SymDef,
        scheme: Scheme,
        curve: u16,
        kdf: Scheme,
    },
    KeyedHash {
        scheme: Scheme,
    },
    SymCipher {
        symmetric: SymDef,
    },
}

/// TPMU_PUBLIC_ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unique {
    /// RSA modulus, big-endian.
    Rsa(Vec<u8>),
    /// ECC public point.
    Ecc { x: Vec<u8>, y: Vec<u8> },
    /// KEYEDHASH and SYMCIPHER objects: a digest.
    Digest(Vec<u8>),
}

/// A TPMT_PUBLIC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Public {
    pub name_alg: u16,
    pub attributes: u32,
    pub auth_policy: Vec<u8>,
    pub params: Params,
    pub unique: Unique,
}

impl Public {
    /// TPM_ALG_ID of the object's type.
    pub fn object_type(&self) -> u16 {
        match self.params {
            Params::Rsa { .. } => alg::RSA,
            Params::Ecc { .. } => alg::ECC,
            Params::KeyedHash { .. } => alg::KEYEDHASH,
            Params::SymCipher { .. } => alg::SYMCIPHER,
        }
    }

    /// The marshaled TPMT_PUBLIC.
    pub fn marshal(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        out.u16(self.object_type())
            .u16(self.name_alg)
            .u32(self.attributes)
            .tpm2b(&self.auth_policy);
        match &self.params {
            Params::Rsa {
                symmetric,
                scheme,
                key_bits,
                exponent,
            } => {
                symmetric.put(&mut out);
                scheme.put(&mut out);
                out.u16(*key_bits).u32(*exponent);
            }
            Params::Ecc {
                symmetric,
                scheme,
                curve,
                kdf,
            } => {
                symmetric.put(&mut out);
                scheme.put(&mut out);
                out.u16(*curve);
                kdf.put(&mut out);
            }
            Params::KeyedHash { scheme } => scheme.put(&mut out),
            Params::SymCipher { symmetric } => symmetric.put(&mut out),
        }
        match &self.unique {
            Unique::Rsa(n) => {
                out.tpm2b(n);
            }
            Unique::Ecc { x, y } => {
                out.tpm2b(x).tpm2b(y);
            }
            Unique::Digest(d) => {
                out.tpm2b(d);
            }
        }
        out
    }

    /// The marshaled TPM2B_PUBLIC (size, then TPMT_PUBLIC).
    pub fn marshal_2b(&self) -> Vec<u8> {
        let inner = self.marshal();
        let mut out = Vec::with_capacity(inner.len() + 2);
        out.tpm2b(&inner);
        out
    }

    /// Parses a TPMT_PUBLIC from the reader.
    pub(crate) fn read(r: &mut Reader) -> Result<Self, Error> {
        let at = r.offset();
        let object_type = r.u16("public type")?;
        let name_alg = r.u16("public nameAlg")?;
        let attributes = r.u32("public objectAttributes")?;
        let auth_policy = r.tpm2b(MAX_DIGEST, "public authPolicy")?.to_vec();
        let (params, unique) = match object_type {
            alg::RSA => {
                let params = Params::Rsa {
                    symmetric: SymDef::read(r)?,
                    scheme: Scheme::read(r, "RSA scheme")?,
                    key_bits: r.u16("RSA keyBits")?,
                    exponent: r.u32("RSA exponent")?,
                };
                (
                    params,
                    Unique::Rsa(r.tpm2b(MAX_RSA, "RSA modulus")?.to_vec()),
                )
            }
            alg::ECC => {
                let params = Params::Ecc {
                    symmetric: SymDef::read(r)?,
                    scheme: Scheme::read(r, "ECC scheme")?,
                    curve: r.u16("ECC curve")?,
                    kdf: Scheme::read(r, "ECC KDF")?,
                };
                let x = r.tpm2b(MAX_ECC, "ECC point x")?.to_vec();
                let y = r.tpm2b(MAX_ECC, "ECC point y")?.to_vec();
                (params, Unique::Ecc { x, y })
            }
            alg::KEYEDHASH => {
                let params = Params::KeyedHash {
                    scheme: Scheme::read(r, "keyedhash scheme")?,
                };
                (
                    params,
                    Unique::Digest(r.tpm2b(MAX_DIGEST, "keyedhash unique")?.to_vec()),
                )
            }
            alg::SYMCIPHER => {
                let params = Params::SymCipher {
                    symmetric: SymDef::read(r)?,
                };
                (
                    params,
                    Unique::Digest(r.tpm2b(MAX_DIGEST, "symcipher unique")?.to_vec()),
                )
            }
            _ => {
                return Err(Error::Malformed {
                    what: "public type",
                    offset: at,
                });
            }
        };
        Ok(Public {
            name_alg,
            attributes,
            auth_policy,
            params,
            unique,
        })
    }

    /// Parses a whole TPM2B_PUBLIC (size field first, no trailing bytes).
    pub fn parse_2b(bytes: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(bytes);
        let public = Self::read_2b(&mut r)?;
        r.finish("bytes after TPM2B_PUBLIC")?;
        Ok(public)
    }

    /// Reads a TPM2B_PUBLIC whose TPMT_PUBLIC must fill exactly its size.
    pub(crate) fn read_2b(r: &mut Reader) -> Result<Self, Error> {
        let base = r.offset() + 2;
        let inner = r.tpm2b(MAX_PUBLIC, "TPM2B_PUBLIC")?;
        let mut ir = Reader::at(inner, base);
        let public = Self::read(&mut ir)?;
        ir.finish("bytes after TPMT_PUBLIC inside TPM2B_PUBLIC")?;
        Ok(public)
    }

    /// The object's Name: nameAlg, then the nameAlg digest of the
    /// TPMT_PUBLIC. Only SHA-256 names are computed.
    pub fn name(&self) -> Result<Vec<u8>, Error> {
        if self.name_alg != alg::SHA256 {
            return Err(Error::UnexpectedResponse {
                command: "name computation",
                what: format!("nameAlg {:#06x} is not SHA-256", self.name_alg),
            });
        }
        let mut name = alg::SHA256.to_be_bytes().to_vec();
        name.extend_from_slice(&Sha256::digest(self.marshal()));
        Ok(name)
    }

    /// The storage root key of the TCG "TPM v2.0 Provisioning Guidance"
    /// (§7.5.1), ECC NIST P-256: a restricted decryption key with AES-128-CFB,
    /// fixedTPM, fixedParent, sensitiveDataOrigin, userWithAuth, noDA, and
    /// an empty unique field (as Linux tools and systemd make it).
    pub fn srk_ecc() -> Self {
        Public {
            name_alg: alg::SHA256,
            attributes: SRK_ATTRIBUTES,
            auth_policy: Vec::new(),
            params: Params::Ecc {
                symmetric: SymDef::AES_128_CFB,
                scheme: Scheme::NULL,
                curve: alg::NIST_P256,
                kdf: Scheme::NULL,
            },
            unique: Unique::Ecc {
                x: Vec::new(),
                y: Vec::new(),
            },
        }
    }

    /// The same storage root key as RSA-2048 (default exponent), for TPMs
    /// without ECC P-256.
    pub fn srk_rsa() -> Self {
        Public {
            name_alg: alg::SHA256,
            attributes: SRK_ATTRIBUTES,
            auth_policy: Vec::new(),
            params: Params::Rsa {
                symmetric: SymDef::AES_128_CFB,
                scheme: Scheme::NULL,
                key_bits: 2048,
                exponent: 0,
            },
            unique: Unique::Rsa(Vec::new()),
        }
    }

    /// A sealed data object as systemd makes it: KEYEDHASH with the NULL
    /// scheme (neither sign nor decrypt), fixedTPM and fixedParent, no
    /// userWithAuth (only a policy session can use it), authorized by
    /// `policy`.
    pub fn sealed_data(policy: &[u8; 32]) -> Self {
        Public {
            name_alg: alg::SHA256,
            attributes: attr::FIXED_TPM | attr::FIXED_PARENT,
            auth_policy: policy.to_vec(),
            params: Params::KeyedHash {
                scheme: Scheme::NULL,
            },
            unique: Unique::Digest(vec![0; 32]),
        }
    }

    /// Whether this is a key a session can be salted with and objects
    /// created under: a restricted decryption key.
    pub fn is_storage_key(&self) -> bool {
        let want = attr::RESTRICTED | attr::DECRYPT;
        self.attributes & want == want
            && matches!(self.params, Params::Rsa { .. } | Params::Ecc { .. })
    }
}

/// Attributes of the storage root key templates.
pub const SRK_ATTRIBUTES: u32 = attr::FIXED_TPM
    | attr::FIXED_PARENT
    | attr::SENSITIVE_DATA_ORIGIN
    | attr::USER_WITH_AUTH
    | attr::NO_DA
    | attr::RESTRICTED
    | attr::DECRYPT;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::hex;

    #[test]
    fn srk_template_bytes() {
        // Part 2 field by field: ECC, SHA-256, attributes 0x00030472, empty
        // policy, AES 128 CFB, NULL scheme, P-256, NULL KDF, empty x and y.
        assert_eq!(
            hex(&Public::srk_ecc().marshal()),
            "0023000b000304720000000600800043001000030010\
             00000000"
        );
        assert_eq!(
            hex(&Public::srk_rsa().marshal()),
            "0001000b0003047200000006008000430010080000000000\
             0000"
        );
    }

    #[test]
    fn parse_is_the_inverse_of_marshal() {
        for p in [
            Public::srk_ecc(),
            Public::srk_rsa(),
            Public::sealed_data(&[7; 32]),
        ] {
            let bytes = p.marshal_2b();
            assert_eq!(Public::parse_2b(&bytes).unwrap(), p);
            assert_eq!(p.name().unwrap().len(), 34);
        }
    }

    #[test]
    fn a_size_that_disagrees_with_the_contents_is_refused() {
        let mut bytes = Public::srk_ecc().marshal_2b();
        bytes.push(0);
        bytes[1] += 1; // the TPM2B claims the extra byte
        assert!(matches!(
            Public::parse_2b(&bytes),
            Err(Error::Malformed {
                what: "bytes after TPMT_PUBLIC inside TPM2B_PUBLIC",
                ..
            })
        ));
        let mut bytes = Public::srk_ecc().marshal_2b();
        bytes[2] = 0x77; // unknown type
        assert!(matches!(
            Public::parse_2b(&bytes),
            Err(Error::Malformed {
                what: "public type",
                offset: 2
            })
        ));
    }
}
