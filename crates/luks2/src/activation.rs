//! What activating a data segment needs (cryptsetup's `LUKS2_activate`),
//! for the device side that builds the dm-crypt (and dm-integrity) tables
//! described in [`crate::dmcrypt`]. Pure: computed from the header and the
//! data device's size; the volume key comes from [`Header::unlock`].

use crate::dmcrypt::{self, DmCryptSpec};
use crate::error::Error;
use crate::header::Header;
use crate::metadata::SegmentKind;

/// The integrity part of a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntegrityParams {
    /// `hmac(sha256)`, `aead`, `poly1305`.
    pub kind: String,
    /// Tag bytes per sector that dm-integrity stores.
    pub tag_size: u32,
    /// Bytes at the end of the volume key that are the integrity key.
    pub key_size: usize,
}

/// One data segment's activation parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activation {
    pub segment: u32,
    /// dm-crypt notation, as stored (`aes-xts-plain64`).
    pub encryption: String,
    /// Volume key length: cipher key + integrity key.
    pub key_size: usize,
    pub cipher_key_size: usize,
    /// Encryption sector size in bytes.
    pub sector_size: u32,
    /// The segment's IV tweak, in 512-byte sectors: dm-crypt's `iv_offset`.
    pub iv_tweak: u64,
    /// Start of the data area on the device, in bytes.
    pub data_offset: u64,
    /// Size of the data area in bytes ("dynamic": to the end of the
    /// device). With integrity, dm-integrity provides less than this.
    pub data_size: u64,
    pub integrity: Option<IntegrityParams>,
    /// The dm-crypt cipher field and integrity option.
    pub dm_crypt: DmCryptSpec,
    /// Persistent flags from the header (`allow-discards`, ...).
    pub flags: Vec<String>,
}

impl Header {
    /// The default data segment's activation parameters on a device of
    /// `device_size` bytes. Refuses headers with mandatory requirements,
    /// segments that are not `crypt`, integrity journals other than
    /// `none` (as cryptsetup does) and segments beyond the device.
    pub fn activation(&self, device_size: u64) -> Result<Activation, Error> {
        let id = self.metadata.default_segment().ok_or(Error::NoSegment)?;
        self.segment_activation(id, device_size)
    }

    /// [`Header::activation`] for segment `id`.
    pub fn segment_activation(&self, id: u32, device_size: u64) -> Result<Activation, Error> {
        let md = &self.metadata;
        md.check_requirements()?;
        let segment = md.segments.get(&id).ok_or(Error::NoSegment)?;
        let SegmentKind::Crypt(crypt) = &segment.kind else {
            return Err(Error::Unsupported {
                path: format!("segments.{id}.type"),
                value: match &segment.kind {
                    SegmentKind::Other(k) => k.clone(),
                    SegmentKind::Crypt(_) => "crypt".into(),
                },
                supported: "crypt",
            });
        };
        let digest = md
            .segment_digest(id)
            .ok_or(Error::SegmentDigest { segment: id })?;
        let key_size = md.digests[&digest]
            .keyslots
            .iter()
            .filter_map(|k| md.keyslots.get(k))
            .map(|k| usize::try_from(k.key_size).unwrap_or(usize::MAX))
            .next()
            .ok_or(Error::NoKeyslots)?;
        let integrity = match &crypt.integrity {
            None => None,
            Some(i) => {
                for (field, value) in [
                    ("journal_encryption", &i.journal_encryption),
                    ("journal_integrity", &i.journal_integrity),
                ] {
                    if value != "none" {
                        return Err(Error::Unsupported {
                            path: format!("segments.{id}.integrity.{field}"),
                            value: value.clone(),
                            supported: "none",
                        });
                    }
                }
                let (cipher, mode) = dmcrypt::parse_cipher(&crypt.encryption)?;
                let isize =
                    dmcrypt::integrity_key_size(&i.kind).ok_or_else(|| Error::Unsupported {
                        path: format!("segments.{id}.integrity.type"),
                        value: i.kind.clone(),
                        supported: "hmac(sha1), hmac(sha256), hmac(sha512), aead, poly1305",
                    })?;
                Some(IntegrityParams {
                    kind: i.kind.clone(),
                    tag_size: dmcrypt::integrity_tag_size(Some(&i.kind), &cipher, &mode),
                    key_size: usize::try_from(isize).unwrap_or(usize::MAX),
                })
            }
        };
        let integrity_key = integrity.as_ref().map_or(0, |i| i.key_size);
        if integrity_key >= key_size {
            return Err(Error::VolumeKeySize {
                len: key_size,
                expected: integrity_key + 1,
            });
        }
        let dm_crypt = dmcrypt::dm_crypt_spec(
            &crypt.encryption,
            crypt.integrity.as_ref().map(|i| i.kind.as_str()),
        )?;
        let data_size = match segment.size {
            Some(size)
                if segment
                    .offset
                    .checked_add(size)
                    .is_some_and(|end| end <= device_size) =>
            {
                size
            }
            None if segment.offset < device_size => device_size - segment.offset,
            size => {
                return Err(Error::SegmentBeyondDevice {
                    segment: id,
                    offset: segment.offset,
                    size: size.unwrap_or(0),
                    device_size,
                });
            }
        };
        Ok(Activation {
            segment: id,
            encryption: crypt.encryption.clone(),
            key_size,
            cipher_key_size: key_size - integrity_key,
            sector_size: crypt.sector_size,
            iv_tweak: crypt.iv_tweak,
            data_offset: segment.offset,
            data_size: data_size / u64::from(crypt.sector_size) * u64::from(crypt.sector_size),
            integrity,
            dm_crypt,
            flags: md.config.flags.clone(),
        })
    }
}
