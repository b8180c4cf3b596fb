//! The PCR-policy public key as the TPM sees it: an RSA public key loaded
//! with TPM2_LoadExternal, whose Name goes into the PolicyAuthorize digest.
//!
//! The public area is the one systemd builds for `tpm2_pubkey`
//! (`tpm2_tpm2b_public_from_openssl_pkey`), so that policies and signatures
//! are interchangeable with systemd-cryptenroll / systemd-measure:
//!
//! ```text
//! type RSA | nameAlg SHA-256 | decrypt, sign, userWithAuth (0x00060040) | no authPolicy
//! | symmetric NULL | scheme NULL | keyBits = 8 × modulus bytes | exponent = e (0x10001, not 0)
//! | unique = modulus
//! ```

use rsa::pkcs8::{DecodePublicKey, EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;

use crate::error::Error;
use crate::public::{Params, Public, Scheme, SymDef, Unique, alg, attr};

/// An RSA public key that signs PCR policies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyKey {
    modulus: Vec<u8>,
    exponent: u32,
}

impl PolicyKey {
    /// From the modulus (big-endian, no leading zero bytes) and exponent.
    pub fn from_n_e(modulus: &[u8], exponent: u32) -> Result<Self, Error> {
        let bad = |reason: String| Error::PolicyKey { reason };
        if modulus.first() == Some(&0) {
            return Err(bad("the modulus has a leading zero byte".into()));
        }
        if !(128..=512).contains(&modulus.len()) {
            return Err(bad(format!(
                "a {}-bit modulus (the TPM takes 1024 to 4096 bits)",
                modulus.len() * 8
            )));
        }
        if exponent < 3 || exponent % 2 == 0 {
            return Err(bad(format!(
                "exponent {exponent} is not an odd number above 1"
            )));
        }
        Ok(PolicyKey {
            modulus: modulus.to_vec(),
            exponent,
        })
    }

    pub fn from_rsa(key: &rsa::RsaPublicKey) -> Result<Self, Error> {
        let e = key.e().to_bytes_be();
        if e.len() > 4 {
            return Err(Error::PolicyKey {
                reason: format!("the exponent is {} bytes, the TPM takes 4", e.len()),
            });
        }
        let mut be = [0u8; 4];
        be[4 - e.len()..].copy_from_slice(&e);
        Self::from_n_e(&key.n().to_bytes_be(), u32::from_be_bytes(be))
    }

    /// From a DER SubjectPublicKeyInfo (what `openssl pkey -pubout -outform
    /// DER` writes).
    pub fn from_spki_der(der: &[u8]) -> Result<Self, Error> {
        let key = rsa::RsaPublicKey::from_public_key_der(der).map_err(|e| Error::PolicyKey {
            reason: format!("not an RSA SubjectPublicKeyInfo: {e}"),
        })?;
        Self::from_rsa(&key)
    }

    /// From a PEM "PUBLIC KEY" (systemd's `tpm2-pcr-public-key.pem`).
    pub fn from_pem(pem: &str) -> Result<Self, Error> {
        let key = rsa::RsaPublicKey::from_public_key_pem(pem).map_err(|e| Error::PolicyKey {
            reason: format!("not an RSA PUBLIC KEY in PEM: {e}"),
        })?;
        Self::from_rsa(&key)
    }

    pub fn modulus(&self) -> &[u8] {
        &self.modulus
    }

    pub fn exponent(&self) -> u32 {
        self.exponent
    }

    fn rsa(&self) -> rsa::RsaPublicKey {
        rsa::RsaPublicKey::new_unchecked(
            rsa::BigUint::from_bytes_be(&self.modulus),
            rsa::BigUint::from(self.exponent),
        )
    }

    /// DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> Vec<u8> {
        self.rsa()
            .to_public_key_der()
            .expect("an RSA public key encodes")
            .into_vec()
    }

    /// PEM "PUBLIC KEY", as systemd stores it (base64) in `tpm2_pubkey`.
    pub fn pem(&self) -> String {
        self.rsa()
            .to_public_key_pem(LineEnding::LF)
            .expect("an RSA public key encodes")
    }

    /// The public area TPM2_LoadExternal is given.
    pub fn public(&self) -> Public {
        Public {
            name_alg: alg::SHA256,
            attributes: attr::DECRYPT | attr::SIGN_ENCRYPT | attr::USER_WITH_AUTH,
            auth_policy: Vec::new(),
            params: Params::Rsa {
                symmetric: SymDef::NULL,
                scheme: Scheme::NULL,
                key_bits: u16::try_from(self.modulus.len() * 8).expect("at most 4096 bits"),
                exponent: self.exponent,
            },
            unique: Unique::Rsa(self.modulus.clone()),
        }
    }

    /// The key's TPM Name, which PolicyAuthorize binds the policy to.
    pub fn name(&self) -> Vec<u8> {
        self.public()
            .name()
            .expect("the template's nameAlg is SHA-256")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_keys_are_refused_with_a_reason() {
        let msg = |r: Result<PolicyKey, Error>| r.unwrap_err().to_string();
        assert_eq!(
            msg(PolicyKey::from_n_e(&[0xc0; 64], 65537)),
            "unusable PCR-policy public key: a 512-bit modulus (the TPM takes 1024 to 4096 bits)"
        );
        assert_eq!(
            msg(PolicyKey::from_n_e(&[0xc0; 256], 4)),
            "unusable PCR-policy public key: exponent 4 is not an odd number above 1"
        );
        assert!(
            msg(PolicyKey::from_spki_der(b"junk"))
                .starts_with("unusable PCR-policy public key: not an RSA SubjectPublicKeyInfo")
        );
    }

    /// systemd's own expectation for this key (src/test/test-tpm2.c,
    /// `check_tpm2b_public_from_rsa_pem`, "standard RSA key"): the Name of
    /// the public area it loads, so policies are interchangeable.
    #[test]
    fn name_of_systemds_test_key() {
        let pem = "-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAyV9CIPe/PXR3zCocxpE0
jWRbTl5hXXDCkG/XKy7Km/D9XIB3KsOZ1CjY77Uq7/gCY61pix8iuRujsA4dP1e8
Y4E3lhUm7J3+dsvkboKdU2CbmRIL/fubwqiLMXzAg3BWRxtr4TuED53Rz764UFPd
0zp0KhwR1Ib0DLgw/4NgVo1AFv3xxKMdxwMEh5ggkss082c2pl5JPN2XvwBotNkM
TqRltZJ55RDCapinqS3Ew7fudlNsXQ5wFvlt27zv74KXQeampLYC07XOga0LglSk
yuGtXkjPT/sUBTJpStaWigMZoqKtyV4cQZXCkJRhDYaLGXvsPB3hzvmVqcnkGeNT
ewIDAQAB
-----END PUBLIC KEY-----
";
        let key = PolicyKey::from_pem(pem).unwrap();
        assert_eq!(key.exponent(), 0x10001);
        assert_eq!(
            crate::error::hex(&key.name()),
            "000be1bd75c7976e7a30e9e82223b81a9eff0d42c30618e588db592ed5da94455e81"
        );
    }

    #[test]
    fn spki_round_trip() {
        let mut n = vec![0xc5; 256];
        n[255] = 0x01;
        let key = PolicyKey::from_n_e(&n, 65537).unwrap();
        assert_eq!(PolicyKey::from_spki_der(&key.spki_der()).unwrap(), key);
        assert_eq!(PolicyKey::from_pem(&key.pem()).unwrap(), key);
        let public = key.public().marshal();
        // exponent 0x00010001 right before the 256-byte modulus' size.
        assert_eq!(
            &public[..16],
            [0, 1, 0, 0x0b, 0, 6, 0, 0x40, 0, 0, 0, 0x10, 0, 0x10, 8, 0]
        );
        assert_eq!(&public[16..22], [0, 1, 0, 1, 1, 0]);
    }
}
