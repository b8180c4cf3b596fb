//! Keyslots of type `luks2` (spec §3.2.1, §4.2 "Keyslot Initialization",
//! §4.3 "Keyslot Content Retrieval", §4.4 "Keyslot Revocation";
//! cryptsetup's lib/luks2/luks2_keyslot_luks2.c and luks2_keyslot.c).
//!
//! Storing a key: a key of `n` bytes is AF-split over 4000 stripes, padded
//! with zeros to 512-byte sectors, and encrypted with `aes-xts-plain64`
//! under a key derived from the passphrase (sector numbers counted from the
//! start of the keyslot's area). The area is allocated first-fit in the
//! keyslots area, `round_up(n × 4000, 4096)` bytes.
//!
//! Write order: adding writes the key material first, then the header
//! that refers to it; removing overwrites the key material with zeros
//! first (so a crash never leaves a revoked key readable), then the header
//! without the keyslot, as cryptsetup does.

use rand_core::CryptoRngCore;
use serde_json::json;
use zeroize::Zeroizing;

use crate::af;
use crate::digest;
use crate::error::Error;
use crate::hash::Hash;
use crate::header::{Header, Write};
use crate::json::encode_base64;
use crate::kdf::{self, KdfParams};
use crate::key::VolumeKey;
use crate::metadata::{
    AF_STRIPES, Kdf, KeyslotKind, MAX_KEYSLOTS, Priority, SALT_SIZE, af_area_size,
};
use crate::xts::Xts;

/// Parameters of a new keyslot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyslotParams {
    pub kdf: KdfParams,
    /// The AF splitter's hash; cryptsetup uses the PBKDF's hash, or sha256
    /// for Argon2.
    pub af_hash: Hash,
    /// Area encryption: only `aes-xts-plain64` is supported.
    pub area_encryption: String,
    /// 64 (AES-256-XTS, cryptsetup's default) or 32.
    pub area_key_size: u32,
    pub priority: Priority,
    /// A given keyslot number, or the lowest free one.
    pub keyslot: Option<u32>,
}

impl KeyslotParams {
    pub fn new(kdf: KdfParams) -> KeyslotParams {
        let af_hash = match kdf {
            KdfParams::Pbkdf2 { hash, .. } => hash,
            KdfParams::Argon2 { .. } => Hash::Sha256,
        };
        KeyslotParams {
            kdf,
            af_hash,
            area_encryption: "aes-xts-plain64".into(),
            area_key_size: 64,
            priority: Priority::Normal,
            keyslot: None,
        }
    }
}

type ReadAt<'a> = dyn FnMut(u64, &mut [u8]) -> std::io::Result<()> + 'a;

fn area_cipher(encryption: &str, key: &[u8]) -> Result<Xts, Error> {
    if encryption != "aes-xts-plain64" {
        return Err(Error::Unsupported {
            path: "keyslot area encryption".into(),
            value: encryption.to_owned(),
            supported: "aes-xts-plain64",
        });
    }
    Xts::new(key)
}

impl Header {
    fn data_digest(&self) -> Result<(u32, u32), Error> {
        let md = &self.metadata;
        let segment = md.default_segment().ok_or(Error::NoSegment)?;
        let digest = md.segment_digest(segment).ok_or(Error::NoKeyslots)?;
        Ok((segment, digest))
    }

    /// Checks `key` against the data segment's digest; returns the digest id.
    pub fn verify_volume_key(&self, key: &VolumeKey) -> Result<u32, Error> {
        let (_, id) = self.data_digest()?;
        let d = &self.metadata.digests[&id];
        if digest::verify(&d.kind, key.as_bytes())? {
            Ok(id)
        } else {
            Err(Error::VolumeKeyMismatch)
        }
    }

    /// Opens one keyslot: the candidate key, not yet checked.
    fn open_keyslot(
        &self,
        id: u32,
        passphrase: &[u8],
        read_at: &mut ReadAt<'_>,
    ) -> Result<VolumeKey, Error> {
        let k = &self.metadata.keyslots[&id];
        let KeyslotKind::Luks2(l) = &k.kind else {
            return Err(Error::KeyslotType {
                keyslot: id,
                kind: match &k.kind {
                    KeyslotKind::Other(kind) => kind.clone(),
                    KeyslotKind::Luks2(_) => "luks2".into(),
                },
            });
        };
        let len = af_area_size(k.key_size);
        let mut area = Zeroizing::new(vec![0u8; usize::try_from(len).unwrap_or(0)]);
        read_at(k.area_offset, &mut area).map_err(|e| Error::Read {
            offset: k.area_offset,
            len: area.len(),
            message: e.to_string(),
        })?;
        let mut derived = Zeroizing::new(vec![0u8; usize::try_from(l.area_key_size).unwrap_or(0)]);
        kdf::derive(&l.kdf, passphrase, &mut derived)?;
        area_cipher(&l.area_encryption, &derived)?.decrypt(&mut area);
        let mut key = vec![0u8; usize::try_from(k.key_size).unwrap_or(0)];
        af::merge(&area, &mut key, AF_STRIPES as usize, l.af_hash);
        Ok(VolumeKey::new(key))
    }

    /// Unlocks the volume key with `passphrase`: from `keyslot` only, or
    /// (like cryptsetup) from each luks2 keyslot bound to the data segment,
    /// priority 2 first, then 1 (priority 0 only when named). Keyslot
    /// areas are read through `read_at`. Returns the keyslot that opened.
    /// Reading a key is allowed on headers with mandatory requirements (as
    /// cryptsetup's `--test-passphrase` does); changing or activating them
    /// is not.
    pub fn unlock<F>(
        &self,
        passphrase: &[u8],
        keyslot: Option<u32>,
        mut read_at: F,
    ) -> Result<(u32, VolumeKey), Error>
    where
        F: FnMut(u64, &mut [u8]) -> std::io::Result<()>,
    {
        if passphrase.is_empty() {
            return Err(Error::EmptyPassphrase);
        }
        let (_, digest_id) = self.data_digest()?;
        let md = &self.metadata;
        let digest = &md.digests[&digest_id];
        let candidates: Vec<u32> = match keyslot {
            Some(id) => {
                let k = md
                    .keyslots
                    .get(&id)
                    .ok_or(Error::NoSuchKeyslot { keyslot: id })?;
                if let KeyslotKind::Other(kind) = &k.kind {
                    return Err(Error::KeyslotType {
                        keyslot: id,
                        kind: kind.clone(),
                    });
                }
                if !digest.keyslots.contains(&id) {
                    return Err(Error::KeyslotUnbound { keyslot: id });
                }
                vec![id]
            }
            None => [Priority::Prefer, Priority::Normal]
                .iter()
                .flat_map(|&p| {
                    md.keyslots.iter().filter(move |(id, k)| {
                        k.priority == p
                            && matches!(k.kind, KeyslotKind::Luks2(_))
                            && digest.keyslots.contains(id)
                    })
                })
                .map(|(&id, _)| id)
                .collect(),
        };
        if candidates.is_empty() {
            return Err(Error::NoKeyslots);
        }
        let read_at: &mut ReadAt<'_> = &mut read_at;
        for &id in &candidates {
            let key = self.open_keyslot(id, passphrase, read_at)?;
            if digest::verify(&digest.kind, key.as_bytes())? {
                return Ok((id, key));
            }
        }
        Err(Error::WrongPassphrase { tried: candidates })
    }

    /// First fit for `len` bytes in the keyslots area (cryptsetup's
    /// `LUKS2_find_area_gap`).
    fn find_area(&self, len: u64) -> Result<u64, Error> {
        let mut used: Vec<(u64, u64)> = self
            .metadata
            .keyslots
            .values()
            .map(|k| (k.area_offset, k.area_size))
            .collect();
        used.sort_unstable();
        let mut offset = self.keyslots_offset();
        for (start, size) in used {
            if offset + len <= start {
                break;
            }
            offset = offset.max(start + size);
        }
        if offset + len > self.header_end() {
            return Err(Error::NoSpace {
                needed: len,
                size: self.metadata.config.keyslots_size,
            });
        }
        Ok(offset)
    }

    /// Adds a keyslot holding `volume_key` (which must match the data
    /// segment's digest) under `passphrase`. Returns its number and the
    /// writes: the encrypted key material, then both header copies.
    pub fn add_keyslot(
        &mut self,
        volume_key: &VolumeKey,
        passphrase: &[u8],
        params: &KeyslotParams,
        rng: &mut impl CryptoRngCore,
    ) -> Result<(u32, Vec<Write>), Error> {
        self.metadata.check_requirements()?;
        if passphrase.is_empty() {
            return Err(Error::EmptyPassphrase);
        }
        params.kdf.check()?;
        let digest_id = self.verify_volume_key(volume_key)?;
        let key_size = u32::try_from(volume_key.len()).unwrap_or(u32::MAX);
        let id = match params.keyslot {
            Some(id) if id >= MAX_KEYSLOTS => {
                return Err(Error::KeyslotRange {
                    keyslot: id,
                    max: MAX_KEYSLOTS,
                });
            }
            Some(id) if self.metadata.keyslots.contains_key(&id) => {
                return Err(Error::KeyslotInUse { keyslot: id });
            }
            Some(id) => id,
            None => (0..MAX_KEYSLOTS)
                .find(|id| !self.metadata.keyslots.contains_key(id))
                .ok_or(Error::NoFreeKeyslot { max: MAX_KEYSLOTS })?,
        };
        let split_len = af_area_size(key_size);
        let area_size = split_len.div_ceil(4096) * 4096;
        let area_offset = self.find_area(area_size)?;

        let mut salt = [0u8; SALT_SIZE];
        rng.fill_bytes(&mut salt);
        let kdf: Kdf = params.kdf.with_salt(salt.to_vec());
        let mut derived = Zeroizing::new(vec![
            0u8;
            usize::try_from(params.area_key_size).unwrap_or(0)
        ]);
        // Refuse an unsupported area cipher before the (slow) derivation.
        area_cipher(&params.area_encryption, &derived)?;
        kdf::derive(&kdf, passphrase, &mut derived)?;
        let cipher = area_cipher(&params.area_encryption, &derived)?;
        let n = volume_key.len();
        let stripes = AF_STRIPES as usize;
        let mut material = Zeroizing::new(vec![0u8; usize::try_from(split_len).unwrap_or(0)]);
        rng.fill_bytes(&mut material[..n * (stripes - 1)]);
        af::split(
            volume_key.as_bytes(),
            &mut material,
            stripes,
            params.af_hash,
        );
        cipher.encrypt(&mut material);

        let kdf_json = match &kdf {
            Kdf::Pbkdf2 {
                hash, iterations, ..
            } => json!({
                "type": "pbkdf2", "hash": hash.name(), "iterations": iterations,
                "salt": encode_base64(&salt),
            }),
            Kdf::Argon2 {
                kind,
                time,
                memory,
                cpus,
                ..
            } => json!({
                "type": kind.name(), "time": time, "memory": memory, "cpus": cpus,
                "salt": encode_base64(&salt),
            }),
        };
        let mut keyslot = json!({
            "type": "luks2",
            "key_size": key_size,
            "af": {"type": "luks1", "stripes": AF_STRIPES, "hash": params.af_hash.name()},
            "area": {
                "type": "raw",
                "offset": area_offset.to_string(),
                "size": area_size.to_string(),
                "encryption": params.area_encryption,
                "key_size": params.area_key_size,
            },
            "kdf": kdf_json,
        });
        if let (true, Some(obj)) = (params.priority != Priority::Normal, keyslot.as_object_mut()) {
            obj.insert("priority".into(), json!(params.priority as u32));
        }
        let hdr_size = self.bin.hdr_size;
        let name = id.to_string();
        self.metadata.update(hdr_size, |root| {
            if let Some(k) = root.get_mut("keyslots").and_then(|v| v.as_object_mut()) {
                k.insert(name.clone(), keyslot);
            }
            if let Some(list) = root
                .get_mut("digests")
                .and_then(|d| d.get_mut(digest_id.to_string()))
                .and_then(|d| d.get_mut("keyslots"))
                .and_then(|l| l.as_array_mut())
            {
                list.push(json!(name));
            }
        })?;
        let mut writes = vec![Write {
            offset: area_offset,
            bytes: material.to_vec(),
        }];
        writes.extend(self.commit(rng)?);
        Ok((id, writes))
    }

    /// Removes keyslot `id` and its references from digests and tokens.
    /// The writes: zeros over its whole area first, then both header copies.
    pub fn remove_keyslot(
        &mut self,
        id: u32,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Vec<Write>, Error> {
        self.metadata.check_requirements()?;
        let k = self
            .metadata
            .keyslots
            .get(&id)
            .ok_or(Error::NoSuchKeyslot { keyslot: id })?;
        let wipe = Write {
            offset: k.area_offset,
            bytes: vec![0; usize::try_from(k.area_size).unwrap_or(0)],
        };
        let name = id.to_string();
        let hdr_size = self.bin.hdr_size;
        self.metadata.update(hdr_size, |root| {
            if let Some(k) = root.get_mut("keyslots").and_then(|v| v.as_object_mut()) {
                k.remove(&name);
            }
            for section in ["digests", "tokens"] {
                let Some(objects) = root.get_mut(section).and_then(|v| v.as_object_mut()) else {
                    continue;
                };
                for obj in objects.values_mut() {
                    if let Some(list) = obj.get_mut("keyslots").and_then(|l| l.as_array_mut()) {
                        list.retain(|v| v.as_str() != Some(name.as_str()));
                    }
                }
            }
        })?;
        let mut writes = vec![wipe];
        writes.extend(self.commit(rng)?);
        Ok(writes)
    }
}
