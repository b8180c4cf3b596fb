//! The signed PCR policy: `.pcrsig` and `.pcrpkey` as `systemd-measure
//! sign` and ukify (v257) make them (systemd `src/measure/measure.c`
//! `verb_sign`; UAPI Group "Unified Kernel Image", "JSON Format for
//! `.pcrsig`").
//!
//! For a predicted PCR 11 value `v` (SHA-256 bank, one phase path):
//!
//! ```text
//! pol  = TPM2_PolicyPCR digest of {PCR 11 = v} from the zero digest
//!      = SHA-256(0^32 || TPM_CC_PolicyPCR || TPML_PCR_SELECTION{sha256: 11} || SHA-256(v))
//! sig  = RSASSA-PKCS1-v1_5(key, SHA-256, message = pol)
//!        (systemd's digest_and_sign: EVP_DigestSign with SHA-256 over the
//!        32 bytes of pol, so the RSA input is SHA-256(pol))
//! pkfp = SHA-256(DER RSAPublicKey of the public key)
//! ```
//!
//! `pkfp` hashes what OpenSSL's `i2d_PublicKey` writes (systemd's
//! `pubkey_fingerprint`): for RSA the PKCS#1 `RSAPublicKey` (RFC 8017
//! §A.1.1, modulus and exponent), not the SubjectPublicKeyInfo of the PEM
//! file; the UKI specification only says "the public key (DER)".
//!
//! Why the TPM accepts it: TPM2_PolicyAuthorize approves `pol` when given a
//! ticket from TPM2_VerifySignature over `aHash = SHA-256(approvedPolicy ||
//! policyRef)` (Part 3, §23.16). systemd signs with an empty policyRef, so
//! `aHash = SHA-256(pol)` ([`tpm2::policy::approval_hash`]), exactly the
//! digest inside the PKCS#1 v1.5 signature. We sign that aHash as a
//! prehashed SHA-256 input; a test checks the result equals signing `pol`
//! as a message, as systemd does.
//!
//! The JSON object names the bank, then lists one entry per phase path:
//! `{"sha256":[{"pcrs":[11],"pkfp":"<hex>","pol":"<hex>","sig":"<base64>"}]}`,
//! keys in that order, lowercase hex, standard padded base64. systemd-measure
//! prints it compact with a newline; ukify re-serialises it with Python's
//! `json.dumps` (", " and ": " separators, no newline) into `.pcrsig`.
//!
//! The key is RSA-2048 with exponent 65537: the size and exponent every
//! TPM 2.0 loads (TPM2_LoadExternal) to check the signature.

use base64ct::{Base64, Encoding};
use rsa::pkcs1::EncodeRsaPublicKey;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::rand_core::CryptoRngCore;
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};
use sha2::{Digest as _, Sha256};
use tpm2::policy::{self, PcrSelection, PolicyDigest};

use crate::error::Error;
use crate::pcr::{Digest, PCR};

/// The PCR bank the policy covers (the JSON object's key).
pub const BANK: &str = "sha256";
/// Size of the PCR-policy key.
pub const KEY_BITS: usize = 2048;
/// Public exponent of the PCR-policy key.
pub const KEY_EXPONENT: u32 = 65537;

/// The TPM2_PolicyPCR digest that PCR 11 = `value` satisfies, from a fresh
/// session (the digest systemd-measure signs, `pol`).
pub fn policy_digest(value: &Digest) -> PolicyDigest {
    // PCR 11 is below PCR_COUNT: `of` cannot fail (a test checks the digest).
    let selection = PcrSelection::of(&[PCR]).unwrap_or_default();
    policy::pcr(&policy::EMPTY, selection, &[*value])
}

/// Refuses a key a TPM may not load: not RSA-2048, or exponent not 65537.
pub fn check_public_key(key: &RsaPublicKey) -> Result<(), Error> {
    let bits = key.size() * 8;
    if bits != KEY_BITS {
        return Err(Error::KeySize { bits });
    }
    if *key.e() != BigUint::from(KEY_EXPONENT) {
        return Err(Error::KeyExponent {
            exponent: key.e().to_string(),
        });
    }
    Ok(())
}

/// The `.pcrpkey` section: the SubjectPublicKeyInfo PEM ("BEGIN PUBLIC
/// KEY", 64-column base64, LF), as OpenSSL's PEM_write_PUBKEY and
/// `systemd-keyutil public` write it.
pub fn public_key_pem(key: &RsaPublicKey) -> Result<String, Error> {
    key.to_public_key_pem(LineEnding::LF)
        .map_err(|e| Error::Encode(e.to_string()))
}

/// `pkfp`: SHA-256 of the PKCS#1 DER `RSAPublicKey` (see above).
pub fn fingerprint(key: &RsaPublicKey) -> Result<Digest, Error> {
    let der = key
        .to_pkcs1_der()
        .map_err(|e| Error::Encode(e.to_string()))?;
    Ok(Sha256::digest(der.as_bytes()).into())
}

/// One entry of `.pcrsig`: a policy for PCR 11 and its signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PcrSignature {
    /// `pkfp`.
    pub key_fingerprint: Digest,
    /// `pol`: the PolicyPCR digest signed.
    pub policy: PolicyDigest,
    /// `sig`: RSASSA-PKCS1-v1_5 with SHA-256 over `policy`.
    pub signature: Vec<u8>,
}

impl PcrSignature {
    /// Signs the policy "PCR 11 = `value`" with `key`. `rng` only blinds
    /// the RSA operation; the signature does not depend on it. `public`,
    /// when given (the `.pcrpkey` the UKI carries), must be `key`'s.
    pub fn sign(
        key: &RsaPrivateKey,
        public: Option<&RsaPublicKey>,
        value: &Digest,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Self, Error> {
        Self::sign_approved(key, public, &policy_digest(value), &[], rng)
    }

    /// Signs the approval of any policy digest with `policy_ref` (the
    /// anti-rollback policy of docs/anti-rollback.md: PolicyPCR(11) then
    /// PolicyNV, policyRef `clip.rollback`). systemd ignores an entry
    /// whose `pol` is not the PCR 11 policy it computes.
    pub fn sign_approved(
        key: &RsaPrivateKey,
        public: Option<&RsaPublicKey>,
        policy: &PolicyDigest,
        policy_ref: &[u8],
        rng: &mut impl CryptoRngCore,
    ) -> Result<Self, Error> {
        let own = key.to_public_key();
        if public.is_some_and(|p| *p != own) {
            return Err(Error::KeyMismatch);
        }
        check_public_key(&own)?;
        let policy = *policy;
        let a_hash = policy::approval_hash(&policy, policy_ref);
        let signature = key
            .sign_with_rng(rng, Pkcs1v15Sign::new::<Sha256>(), &a_hash)
            .map_err(|e| Error::Sign(e.to_string()))?;
        Ok(Self {
            key_fingerprint: fingerprint(&own)?,
            policy,
            signature,
        })
    }

    /// Checks the signature as the TPM will: PKCS#1 v1.5 over the approval
    /// hash of `policy` with an empty policyRef, by `key`, whose
    /// fingerprint must be `key_fingerprint`.
    pub fn verify(&self, key: &RsaPublicKey) -> Result<(), Error> {
        self.verify_with_ref(key, &[])
    }

    /// [`Self::verify`] with a policyRef.
    pub fn verify_with_ref(&self, key: &RsaPublicKey, policy_ref: &[u8]) -> Result<(), Error> {
        let bad = || Error::BadSignature {
            policy: hex::encode(self.policy),
            fingerprint: hex::encode(self.key_fingerprint),
        };
        if fingerprint(key)? != self.key_fingerprint {
            return Err(bad());
        }
        let a_hash = policy::approval_hash(&self.policy, policy_ref);
        key.verify(Pkcs1v15Sign::new::<Sha256>(), &a_hash, &self.signature)
            .map_err(|_| bad())
    }

    /// The entry as JSON, with `sep` after `,` and `:`.
    fn json(&self, sep: &str) -> String {
        format!(
            "{{\"pcrs\":{sep}[{PCR}],{sep}\"pkfp\":{sep}\"{}\",{sep}\"pol\":{sep}\"{}\",{sep}\"sig\":{sep}\"{}\"}}",
            hex::encode(self.key_fingerprint),
            hex::encode(self.policy),
            Base64::encode_string(&self.signature),
        )
    }
}

/// The `.pcrsig` contents: the signatures of the SHA-256 bank, one per
/// phase path signed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PcrSignatures(pub Vec<PcrSignature>);

impl PcrSignatures {
    fn json(&self, sep: &str) -> String {
        let entries: Vec<String> = self.0.iter().map(|s| s.json(sep)).collect();
        format!("{{\"{BANK}\":{sep}[{}]}}", entries.join(&format!(",{sep}")))
    }

    /// What `systemd-measure sign --bank=sha256` prints on a pipe (its
    /// `--json=short` form), newline included.
    pub fn to_systemd_measure_json(&self) -> String {
        format!("{}\n", self.json(""))
    }

    /// The `.pcrsig` section as ukify writes it: Python's `json.dumps` of
    /// systemd-measure's object (", " and ": " separators, no newline, no
    /// NUL).
    pub fn to_ukify_json(&self) -> String {
        self.json(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_forms() {
        let sigs = PcrSignatures(vec![PcrSignature {
            key_fingerprint: [0xab; 32],
            policy: [0x01; 32],
            signature: vec![0xff, 0x00, 0x10],
        }]);
        let pkfp = "ab".repeat(32);
        let pol = "01".repeat(32);
        assert_eq!(
            sigs.to_systemd_measure_json(),
            format!(
                "{{\"sha256\":[{{\"pcrs\":[11],\"pkfp\":\"{pkfp}\",\"pol\":\"{pol}\",\"sig\":\"/wAQ\"}}]}}\n"
            )
        );
        assert_eq!(
            sigs.to_ukify_json(),
            format!(
                "{{\"sha256\": [{{\"pcrs\": [11], \"pkfp\": \"{pkfp}\", \"pol\": \"{pol}\", \"sig\": \"/wAQ\"}}]}}"
            )
        );
        let two = PcrSignatures(vec![sigs.0[0].clone(), sigs.0[0].clone()]);
        assert!(two.to_ukify_json().contains("\"}, {\"pcrs\""));
        assert!(two.to_systemd_measure_json().contains("\"},{\"pcrs\""));
    }

    #[test]
    fn policy_digest_is_policy_pcr_over_pcr_11() {
        let value = [7u8; 32];
        let by_hand: [u8; 32] = Sha256::new()
            .chain_update([0u8; 32])
            .chain_update(0x0000_017Fu32.to_be_bytes())
            .chain_update([0, 0, 0, 1, 0, 0x0b, 3, 0, 0x08, 0])
            .chain_update(Sha256::digest(value))
            .finalize()
            .into();
        assert_eq!(policy_digest(&value), by_hand);
    }
}
