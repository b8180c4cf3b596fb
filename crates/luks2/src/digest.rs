//! The `pbkdf2` digest of a volume key (spec §3.4; cryptsetup's
//! lib/luks2/luks2_digest_pbkdf2.c): PBKDF2 of the key with a 32-byte salt,
//! as long as the hash's output; checked in constant time.

use rand_core::CryptoRngCore;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::error::Error;
use crate::hash::Hash;
use crate::json::encode_base64;
use crate::key::VolumeKey;
use crate::metadata::{DigestKind, SALT_SIZE};

/// A new digest object for `key`, bound to `segments`, no keyslot yet.
pub(crate) fn create(
    hash: Hash,
    iterations: u32,
    key: &VolumeKey,
    rng: &mut impl CryptoRngCore,
    segments: &[&str],
) -> Result<Value, Error> {
    if iterations < 1000 {
        return Err(Error::Param {
            name: "digest iterations",
            problem: format!("{iterations}, at least 1000"),
        });
    }
    let mut salt = [0u8; SALT_SIZE];
    rng.fill_bytes(&mut salt);
    let mut digest = vec![0u8; hash.size()];
    hash.pbkdf2(key.as_bytes(), &salt, iterations, &mut digest);
    Ok(json!({
        "type": "pbkdf2",
        "keyslots": [],
        "segments": segments,
        "hash": hash.name(),
        "iterations": iterations,
        "salt": encode_base64(&salt),
        "digest": encode_base64(&digest),
    }))
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether `key` matches the digest (`Ok(false)` for another key; an
/// error for a digest type this crate cannot check).
pub(crate) fn verify(kind: &DigestKind, key: &[u8]) -> Result<bool, Error> {
    match kind {
        DigestKind::Pbkdf2 {
            hash,
            iterations,
            salt,
            digest,
        } => {
            if *iterations == 0 {
                return Ok(false);
            }
            let mut computed = Zeroizing::new(vec![0u8; digest.len()]);
            hash.pbkdf2(key, salt, *iterations, &mut computed);
            Ok(ct_eq(&computed, digest))
        }
        DigestKind::Other(kind) => Err(Error::Unsupported {
            path: "digest type".into(),
            value: kind.clone(),
            supported: "pbkdf2",
        }),
    }
}
