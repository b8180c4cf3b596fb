//! The session cryptography of TPM 2.0 Part 1, all with SHA-256 and
//! AES-128:
//!
//! - KDFa (§11.4.10.2, SP800-108 counter mode with HMAC):
//!   `K(i) = HMAC(key, [i]32 || label || 0x00 || contextU || contextV || [bits]32)`
//! - KDFe (§11.4.10.3, SP800-56A concatenation KDF):
//!   `K(i) = H([i]32 || Z || label || 0x00 || partyUInfo || partyVInfo)`
//! - parameter encryption in CFB mode (§21.3): key and IV from
//!   `KDFa(sessionValue, "CFB", nonceNewer, nonceOlder, 128 + 128)`.
//! - salting a session (§21.2 and Annex C.6/B.10): ECDH with an ephemeral
//!   P-256 key and KDFe "SECRET" for an ECC key, RSA-OAEP with the label
//!   "SECRET" for an RSA key.

use aes::Aes128;
use cfb_mode::cipher::{AsyncStreamCipher, KeyIvInit};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::Error;
use crate::public::{Params, Public, Unique, alg};

type HmacSha256 = Hmac<Sha256>;

/// Bytes of a SHA-256 digest, the size of nonces, salts and session keys.
pub const DIGEST: usize = 32;

/// Random bytes from the operating system.
pub fn random(n: usize) -> Result<Zeroizing<Vec<u8>>, Error> {
    let mut out = Zeroizing::new(vec![0; n]);
    getrandom::fill(&mut out).map_err(|e| Error::Random {
        error: e.to_string(),
    })?;
    Ok(out)
}

/// HMAC-SHA-256 over the concatenation of `parts`.
pub fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// Whether `tag` is the HMAC-SHA-256 of `parts`, compared in constant time.
pub fn hmac_verify(key: &[u8], parts: &[&[u8]], tag: &[u8]) -> bool {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    for p in parts {
        mac.update(p);
    }
    mac.verify_slice(tag).is_ok()
}

/// KDFa with HMAC-SHA-256; `label` without its terminating zero.
pub fn kdfa(
    key: &[u8],
    label: &[u8],
    context_u: &[u8],
    context_v: &[u8],
    bits: u32,
) -> Zeroizing<Vec<u8>> {
    let bytes = usize::try_from(bits.div_ceil(8)).expect("u32 fits usize");
    let mut out = Zeroizing::new(Vec::with_capacity(bytes + DIGEST));
    let mut counter: u32 = 1;
    while out.len() < bytes {
        out.extend_from_slice(&hmac(
            key,
            &[
                &counter.to_be_bytes(),
                label,
                &[0],
                context_u,
                context_v,
                &bits.to_be_bytes(),
            ],
        ));
        counter += 1;
    }
    out.truncate(bytes);
    out
}

/// KDFe with SHA-256; `label` without its terminating zero.
pub fn kdfe(
    z: &[u8],
    label: &[u8],
    party_u: &[u8],
    party_v: &[u8],
    bits: u32,
) -> Zeroizing<Vec<u8>> {
    let bytes = usize::try_from(bits.div_ceil(8)).expect("u32 fits usize");
    let mut out = Zeroizing::new(Vec::with_capacity(bytes + DIGEST));
    let mut counter: u32 = 1;
    while out.len() < bytes {
        let block = Sha256::new()
            .chain_update(counter.to_be_bytes())
            .chain_update(z)
            .chain_update(label)
            .chain_update([0])
            .chain_update(party_u)
            .chain_update(party_v)
            .finalize();
        out.extend_from_slice(&block);
        counter += 1;
    }
    out.truncate(bytes);
    out
}

/// Encrypts (or, with `decrypt`, decrypts) a parameter in place with
/// AES-128-CFB, key and IV from `KDFa(session_value, "CFB", newer, older)`.
pub fn cfb(session_value: &[u8], newer: &[u8], older: &[u8], data: &mut [u8], decrypt: bool) {
    let kiv = kdfa(session_value, b"CFB", newer, older, 128 + 128);
    let (key, iv) = kiv.split_at(16);
    if decrypt {
        cfb_mode::Decryptor::<Aes128>::new(key.into(), iv.into()).decrypt(data);
    } else {
        cfb_mode::Encryptor::<Aes128>::new(key.into(), iv.into()).encrypt(data);
    }
}

/// A salt for a session and its encryption to the TPM key `tpm_key`
/// (TPM2B_ENCRYPTED_SECRET contents).
pub struct Salt {
    pub salt: Zeroizing<Vec<u8>>,
    pub encrypted: Vec<u8>,
}

impl std::fmt::Debug for Salt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Salt").finish_non_exhaustive()
    }
}

/// Makes a salt only the TPM holding `tpm_key`'s private part can recover.
pub fn salt_for(tpm_key: &Public) -> Result<Salt, Error> {
    if tpm_key.name_alg != alg::SHA256 {
        return Err(Error::Salt {
            reason: format!("nameAlg {:#06x} is not SHA-256", tpm_key.name_alg),
        });
    }
    match (&tpm_key.params, &tpm_key.unique) {
        (Params::Ecc { curve, .. }, Unique::Ecc { x, y }) if *curve == alg::NIST_P256 => {
            ecc_salt(x, y)
        }
        (Params::Rsa { exponent, .. }, Unique::Rsa(n)) => rsa_salt(n, *exponent),
        _ => Err(Error::Salt {
            reason: "it is neither an ECC NIST P-256 nor an RSA key".into(),
        }),
    }
}

fn ecc_salt(x: &[u8], y: &[u8]) -> Result<Salt, Error> {
    use p256::elliptic_curve::sec1::{FromEncodedPoint, ToEncodedPoint};
    let bad = |reason: &str| Error::Salt {
        reason: reason.into(),
    };
    if x.len() > 32 || y.len() > 32 {
        return Err(bad("its P-256 point coordinates are longer than 32 bytes"));
    }
    let pad = |c: &[u8]| {
        let mut out = [0u8; 32];
        out[32 - c.len()..].copy_from_slice(c);
        out
    };
    let point = p256::EncodedPoint::from_affine_coordinates(&pad(x).into(), &pad(y).into(), false);
    let tpm_point = Option::<p256::PublicKey>::from(p256::PublicKey::from_encoded_point(&point))
        .ok_or_else(|| bad("its public point is not on the P-256 curve"))?;
    // An ephemeral key: random scalars until one is in 1..n.
    let ephemeral = loop {
        let bytes = random(32)?;
        if let Ok(key) = p256::SecretKey::from_slice(&bytes) {
            break key;
        }
    };
    let shared = p256::ecdh::diffie_hellman(ephemeral.to_nonzero_scalar(), tpm_point.as_affine());
    let qe = ephemeral.public_key().to_encoded_point(false);
    let (qe_x, qe_y) = (
        qe.x().expect("uncompressed point"),
        qe.y().expect("uncompressed point"),
    );
    // Z is the shared point's x coordinate; partyU the ephemeral key's x,
    // partyV the TPM key's x as in its public area.
    let salt = kdfe(shared.raw_secret_bytes(), b"SECRET", qe_x, x, 256);
    let mut encrypted = Vec::with_capacity(68);
    crate::marshal::Put::tpm2b(&mut encrypted, qe_x);
    crate::marshal::Put::tpm2b(&mut encrypted, qe_y);
    Ok(Salt { salt, encrypted })
}

fn rsa_salt(n: &[u8], exponent: u32) -> Result<Salt, Error> {
    let e = if exponent == 0 { 65537 } else { exponent };
    let key = rsa::RsaPublicKey::new(rsa::BigUint::from_bytes_be(n), rsa::BigUint::from(e))
        .map_err(|e| Error::Salt {
            reason: format!("its RSA public key is unusable: {e}"),
        })?;
    let salt = random(DIGEST)?;
    let padding = rsa::Oaep::new_with_label::<Sha256, _>("SECRET\0");
    let encrypted = key
        .encrypt(&mut rand_core::OsRng, padding, &salt)
        .map_err(|e| Error::Salt {
            reason: format!("RSA-OAEP encryption failed: {e}"),
        })?;
    Ok(Salt { salt, encrypted })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::hex;

    #[test]
    fn kdfa_is_sp800_108_counter_mode() {
        // One block: HMAC(key, 00000001 || "ATH" 00 || u || v || 00000100).
        let out = kdfa(b"key", b"ATH", b"u", b"v", 256);
        let want = hmac(
            b"key",
            &[&[0, 0, 0, 1], b"ATH\0", b"u", b"v", &[0, 0, 1, 0]],
        );
        assert_eq!(out.as_slice(), want);
        // Two blocks, truncated: the second block uses counter 2.
        let out = kdfa(b"key", b"CFB", b"n", b"o", 256 + 64);
        let second = hmac(
            b"key",
            &[&[0, 0, 0, 2], b"CFB\0", b"n", b"o", &[0, 0, 1, 0x40]],
        );
        assert_eq!(out.len(), 40);
        assert_eq!(&out[32..], &second[..8]);
    }

    #[test]
    fn kdfe_is_the_concatenation_kdf() {
        let out = kdfe(b"z", b"SECRET", b"pu", b"pv", 256);
        let want = Sha256::digest(b"\0\0\0\x01zSECRET\0pupv");
        assert_eq!(hex(&out), hex(&want));
    }

    #[test]
    fn cfb_round_trips_odd_lengths() {
        let mut data = *b"thirty-seven bytes of parameter data.";
        cfb(b"session key", b"newer", b"older", &mut data, false);
        assert_ne!(&data, b"thirty-seven bytes of parameter data.");
        cfb(b"session key", b"newer", b"older", &mut data, true);
        assert_eq!(&data, b"thirty-seven bytes of parameter data.");
    }
}
