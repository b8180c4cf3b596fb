//! Shared by the swtpm tests: signing keys and PCR policy helpers.

#![allow(dead_code)]

use rsa::RsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::signature::{SignatureEncoding, Signer};
use sha2::Sha256;
use tpm2::policy::{self, PcrSelection, PolicyDigest};
use tpm2::{PolicyKey, Tpm, Transport};

/// A new RSA-2048 PCR-policy key pair.
pub fn policy_key_pair() -> (RsaPrivateKey, PolicyKey) {
    let private = RsaPrivateKey::new(&mut rand_core::OsRng, 2048).expect("RSA key generation");
    let public = PolicyKey::from_rsa(&private.to_public_key()).expect("a usable key");
    (private, public)
}

/// The PolicyPCR digest of PCR 11 holding `value`: what systemd-measure signs.
pub fn pcr11_policy(value: &[u8; 32]) -> PolicyDigest {
    let sel = PcrSelection::of(&[11]).unwrap();
    policy::pcr(&policy::EMPTY, sel, &[*value])
}

/// RSASSA-PKCS1-v1_5 SHA-256 over the approved policy digest, as
/// systemd-measure signs it (policyRef empty, so aHash = SHA-256(digest)).
pub fn sign(key: &RsaPrivateKey, approved: &PolicyDigest) -> Vec<u8> {
    SigningKey::<Sha256>::new(key.clone())
        .sign(approved)
        .to_vec()
}

pub fn pcr<T: Transport>(tpm: &mut Tpm<T>, n: u32) -> [u8; 32] {
    tpm2::pcr_read(tpm, &[n]).unwrap()[0].1
}

/// The signature input for the current PCR 11.
pub fn signed_current_pcr11<T: Transport>(
    tpm: &mut Tpm<T>,
    key: &RsaPrivateKey,
) -> (PolicyDigest, Vec<u8>) {
    let approved = pcr11_policy(&pcr(tpm, 11));
    (approved, sign(key, &approved))
}

/// Whether `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
