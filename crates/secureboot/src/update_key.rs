//! The update-signing key: Ed25519 (RFC 8032), kept apart from the Secure
//! Boot keys. It signs the update repository's metadata (TUF supports
//! ed25519 keys); boot firmware never sees it. Stored as PKCS#8 (RFC 5958)
//! and SubjectPublicKeyInfo (RFC 8410) PEM, which OpenSSL reads.

use der::pem::LineEnding;
use der::zeroize::Zeroizing;
use ed25519_dalek::pkcs8::{EncodePrivateKey, EncodePublicKey, KeypairBytes};
use ed25519_dalek::{SigningKey, VerifyingKey};
use rand::{CryptoRng, RngCore};

use crate::Error;

/// An Ed25519 signing key.
#[derive(Debug)]
pub struct UpdateKey(SigningKey);

impl UpdateKey {
    pub fn generate<R: CryptoRng + RngCore>(rng: &mut R) -> Self {
        Self(SigningKey::generate(rng))
    }

    /// The private key as PKCS#8 v1 PEM (`BEGIN PRIVATE KEY`). Not v2
    /// (RFC 5958, with the public key), which ed25519-dalek writes by default
    /// and OpenSSL 3.0 cannot read.
    pub fn private_pem(&self) -> Result<Zeroizing<String>, Error> {
        let bytes = KeypairBytes {
            secret_key: self.0.to_bytes(),
            public_key: None,
        };
        Ok(bytes.to_pkcs8_pem(LineEnding::LF)?)
    }

    /// The public key as SubjectPublicKeyInfo PEM (`BEGIN PUBLIC KEY`).
    pub fn public_pem(&self) -> Result<String, Error> {
        Ok(self.0.verifying_key().to_public_key_pem(LineEnding::LF)?)
    }

    /// The 32-byte public key.
    pub fn public_bytes(&self) -> [u8; 32] {
        self.0.verifying_key().to_bytes()
    }

    /// The verifying half.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.0.verifying_key()
    }
}
