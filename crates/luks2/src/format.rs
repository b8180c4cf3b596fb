//! A new header (spec §4.1 "Device Formatting"; cryptsetup's
//! `LUKS2_generate_hdr` and `LUKS2_wipe_header_areas`): one crypt segment,
//! one PBKDF2 digest of the volume key bound to it, no keyslot yet (add one
//! with [`Header::add_keyslot`]).
//!
//! Layout, with cryptsetup 2.6's defaults:
//!
//! ```text
//! 0                 primary metadata (16 KiB: 4 KiB binary header + 12 KiB JSON)
//! 16 KiB            secondary metadata
//! 32 KiB            keyslots area (16 MiB - 32 KiB), filled with random bytes
//! 16 MiB            data segment ("dynamic": to the end of the device)
//! ```

use rand_core::CryptoRngCore;
use serde_json::{Value, json};

use crate::binary::{self, BinaryHeader, METADATA_SIZES, SALT_SIZE};
use crate::digest;
use crate::dmcrypt;
use crate::error::Error;
use crate::hash::Hash;
use crate::header::{CopyState, Header, Write};
use crate::key::VolumeKey;
use crate::metadata::{MAX_KEYSLOTS_SIZE, Metadata};

/// cryptsetup 2.6's data offset (`LUKS2_DEFAULT_HDR_SIZE`, 16 MiB).
pub const DEFAULT_DATA_OFFSET: u64 = 16 << 20;
/// The smallest metadata size, cryptsetup's default.
pub const DEFAULT_METADATA_SIZE: u64 = 16 << 10;

/// What [`format`] creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatParams {
    pub uuid: uuid::Uuid,
    pub label: String,
    pub subsystem: String,
    /// One copy of binary header + JSON area: 16 KiB ..= 4 MiB, a power of two.
    pub metadata_size: u64,
    /// Where the data segment starts (a multiple of 4096 bytes).
    pub data_offset: u64,
    /// Default: everything between the metadata copies and the data
    /// offset (at most 128 MiB).
    pub keyslots_size: Option<u64>,
    /// Segment encryption in dm-crypt notation.
    pub encryption: String,
    /// Segment integrity (`hmac(sha256)`, `aead`, `poly1305`).
    pub integrity: Option<String>,
    /// Encryption sector size: 512, 1024, 2048 or 4096.
    pub sector_size: u32,
    /// The volume key digest's PBKDF2 (a digest of a random key: the
    /// iteration count protects nothing, cryptsetup's minimum is 1000).
    pub digest_hash: Hash,
    pub digest_iterations: u32,
}

impl FormatParams {
    /// cryptsetup 2.6's defaults on a 4K device: aes-xts-plain64, 4096-byte
    /// sectors, 16 KiB metadata, data at 16 MiB.
    pub fn new(uuid: uuid::Uuid) -> FormatParams {
        FormatParams {
            uuid,
            label: String::new(),
            subsystem: String::new(),
            metadata_size: DEFAULT_METADATA_SIZE,
            data_offset: DEFAULT_DATA_OFFSET,
            keyslots_size: None,
            encryption: "aes-xts-plain64".into(),
            integrity: None,
            sector_size: 4096,
            digest_hash: Hash::Sha256,
            digest_iterations: 1000,
        }
    }

    /// The volume key length this segment needs given a cipher key length:
    /// cipher key plus integrity key.
    pub fn volume_key_size(&self, cipher_key: usize) -> Result<usize, Error> {
        let integrity = match &self.integrity {
            None => 0,
            Some(i) => dmcrypt::integrity_key_size(i).ok_or_else(|| Error::Param {
                name: "integrity",
                problem: format!("{i:?} is not supported (hmac(sha1), hmac(sha256), hmac(sha512), aead, poly1305)"),
            })?,
        };
        Ok(cipher_key + usize::try_from(integrity).unwrap_or(usize::MAX))
    }

    fn check(&self, volume_key: &VolumeKey) -> Result<u64, Error> {
        let param = |name, problem: String| Err(Error::Param { name, problem });
        if !METADATA_SIZES.contains(&self.metadata_size) {
            return param(
                "metadata size",
                format!(
                    "{}, expected 16 KiB ..= 4 MiB, a power of two",
                    self.metadata_size
                ),
            );
        }
        if ![512, 1024, 2048, 4096].contains(&self.sector_size) {
            return param(
                "sector size",
                format!("{}, expected 512, 1024, 2048 or 4096", self.sector_size),
            );
        }
        let min = 2 * self.metadata_size;
        if self.data_offset % 4096 != 0 || self.data_offset < min {
            return param(
                "data offset",
                format!(
                    "{}, expected a multiple of 4096, at least {min}",
                    self.data_offset
                ),
            );
        }
        let keyslots = self
            .keyslots_size
            .unwrap_or(((self.data_offset - min).min(MAX_KEYSLOTS_SIZE)) / 4096 * 4096);
        if keyslots % 4096 != 0 || keyslots > MAX_KEYSLOTS_SIZE || min + keyslots > self.data_offset
        {
            return param(
                "keyslots size",
                format!(
                    "{keyslots}, expected a multiple of 4096 up to 128 MiB, ending before the data offset"
                ),
            );
        }
        let sizes = dmcrypt::cipher_key_sizes(&self.encryption).ok_or_else(|| Error::Param {
            name: "encryption",
            problem: format!(
                "{:?} is not supported (aes-xts-plain64, aes-xts-random, aes-cbc-essiv:sha256, aes-gcm-random, chacha20-random, aegis128-random)",
                self.encryption
            ),
        })?;
        let expected: Vec<usize> = sizes
            .iter()
            .map(|&k| self.volume_key_size(k))
            .collect::<Result<_, _>>()?;
        if !expected.contains(&volume_key.len()) {
            return Err(Error::VolumeKeySize {
                len: volume_key.len(),
                expected: expected[expected.len() - 1],
            });
        }
        // The combination must map to a dm-crypt table.
        dmcrypt::dm_crypt_spec(&self.encryption, self.integrity.as_deref())?;
        if self.integrity.is_none() && self.encryption.ends_with("-random") {
            return param(
                "encryption",
                format!(
                    "{} stores random IVs and needs an integrity type",
                    self.encryption
                ),
            );
        }
        Ok(keyslots)
    }
}

/// A new header for `volume_key` (the caller's random bytes), with no
/// keyslot. Returns it and the writes that store it, in order: random
/// bytes over the keyslots area, zeros up to the data offset if the
/// keyslots area ends before it, zeros over the first 4 KiB of the data
/// area when the segment has integrity (so that dm-integrity formats its
/// superblock anew, as cryptsetup's wipe does), then both header copies
/// (seqid 1).
pub fn format(
    params: &FormatParams,
    volume_key: &VolumeKey,
    rng: &mut impl CryptoRngCore,
) -> Result<(Header, Vec<Write>), Error> {
    let keyslots_size = params.check(volume_key)?;
    binary::check_field("label", &params.label, 48)?;
    binary::check_field("subsystem", &params.subsystem, 48)?;
    let mut segment = json!({
        "type": "crypt",
        "offset": params.data_offset.to_string(),
        "size": "dynamic",
        "iv_tweak": "0",
        "encryption": params.encryption,
        "sector_size": params.sector_size,
    });
    if let (Some(i), Some(obj)) = (&params.integrity, segment.as_object_mut()) {
        obj.insert(
            "integrity".into(),
            json!({"type": i, "journal_encryption": "none", "journal_integrity": "none"}),
        );
    }
    let digest = digest::create(
        params.digest_hash,
        params.digest_iterations,
        volume_key,
        rng,
        &["0"],
    )?;
    let json: Value = json!({
        "keyslots": {},
        "tokens": {},
        "segments": {"0": segment},
        "digests": {"0": digest},
        "config": {
            "json_size": (params.metadata_size - 4096).to_string(),
            "keyslots_size": keyslots_size.to_string(),
        },
    });
    let metadata = Metadata::from_json(json, params.metadata_size)?;
    let mut salts = [[0u8; SALT_SIZE]; 2];
    for s in &mut salts {
        rng.fill_bytes(s);
    }
    let mut header = Header {
        bin: BinaryHeader {
            hdr_size: params.metadata_size,
            seqid: 0,
            label: params.label.clone(),
            subsystem: params.subsystem.clone(),
            checksum: Hash::Sha256,
            salt: salts[0],
            uuid: params.uuid.hyphenated().to_string(),
        },
        salts,
        metadata,
        copies: [CopyState::Valid { seqid: 0 }, CopyState::Valid { seqid: 0 }],
    };
    let keyslots_offset = header.keyslots_offset();
    let mut random = vec![0u8; usize::try_from(keyslots_size).unwrap_or(0)];
    rng.fill_bytes(&mut random);
    let mut writes = vec![Write {
        offset: keyslots_offset,
        bytes: random,
    }];
    let keyslots_end = keyslots_offset + keyslots_size;
    if keyslots_end < params.data_offset {
        writes.push(Write {
            offset: keyslots_end,
            bytes: vec![0; usize::try_from(params.data_offset - keyslots_end).unwrap_or(0)],
        });
    }
    if params.integrity.is_some() {
        writes.push(Write {
            offset: params.data_offset,
            bytes: vec![0; 4096],
        });
    }
    writes.extend(header.commit(rng)?);
    Ok((header, writes))
}
