//! The 4096-byte binary header (LUKS2 On-Disk Format Specification 1.1.1,
//! §2.1 "Binary Header", Figure 2), stored twice: the primary at offset 0,
//! the secondary right after the primary's JSON area (at `hdr_size`).
//!
//! ```text
//! offset size  field        (all integers big-endian)
//!      0    6  magic        "LUKS\xba\xbe" (primary) / "SKUL\xba\xbe" (secondary)
//!      6    2  version      2
//!      8    8  hdr_size     binary header + JSON area: 16 KiB, 32 KiB, ..., 4 MiB
//!     16    8  seqid        increased on every update; the higher copy wins
//!     24   48  label        NUL-terminated
//!     72   32  csum_alg     NUL-terminated, "sha256"
//!    104   64  salt         random, different in each copy
//!    168   40  uuid         NUL-terminated
//!    208   48  subsystem    NUL-terminated
//!    256    8  hdr_offset   where this copy lives
//!    264  184  padding      zero
//!    448   64  csum         hash of this sector (csum zeroed) + JSON area, zero-padded
//!    512 3584  padding      zero
//! ```

use crate::error::Error;
use crate::hash::Hash;

/// Size of the binary header sector.
pub const BINARY_HEADER_SIZE: u64 = 4096;
/// The metadata (binary header + JSON area) sizes cryptsetup allows
/// (`LUKS2_HDR2_OFFSETS`), which are also the possible secondary offsets.
pub const METADATA_SIZES: [u64; 9] = [
    0x4000, 0x8000, 0x1_0000, 0x2_0000, 0x4_0000, 0x8_0000, 0x10_0000, 0x20_0000, 0x40_0000,
];
/// Length of the salt of each copy.
pub const SALT_SIZE: usize = 64;

const MAGIC_PRIMARY: &[u8; 6] = b"LUKS\xba\xbe";
const MAGIC_SECONDARY: &[u8; 6] = b"SKUL\xba\xbe";
const LABEL: (usize, usize) = (24, 48);
const CSUM_ALG: (usize, usize) = (72, 32);
const SALT: usize = 104;
const UUID: (usize, usize) = (168, 40);
const SUBSYSTEM: (usize, usize) = (208, 48);
const HDR_OFFSET: usize = 256;
const CSUM: usize = 448;
const CSUM_LEN: usize = 64;

/// Which of the two header copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Copy {
    Primary,
    Secondary,
}

impl std::fmt::Display for Copy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Copy::Primary => "primary",
            Copy::Secondary => "secondary",
        })
    }
}

/// The fields of one binary header once its checks passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinaryHeader {
    /// Binary header + JSON area, in bytes.
    pub hdr_size: u64,
    pub seqid: u64,
    pub label: String,
    pub subsystem: String,
    pub checksum: Hash,
    pub salt: [u8; SALT_SIZE],
    pub uuid: String,
}

fn be64(b: &[u8], at: usize) -> u64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(v)
}

fn at(base: u64, field: usize) -> u64 {
    base + field as u64
}

/// The checks cryptsetup makes before reading the JSON area
/// (`hdr_disk_sanity_check_pre`): magic, version, offset and size. Returns
/// the header size, which says how much JSON area follows.
pub(crate) fn precheck(h: &[u8], offset: u64, copy: Copy) -> Result<u64, Error> {
    let magic = match copy {
        Copy::Primary => MAGIC_PRIMARY,
        Copy::Secondary => MAGIC_SECONDARY,
    };
    if h.len() < 512 || &h[..6] != magic {
        return Err(Error::Magic { offset, copy });
    }
    let version = u16::from_be_bytes([h[6], h[7]]);
    if version != 2 {
        return Err(Error::Version {
            offset: at(offset, 6),
            copy,
            value: version,
        });
    }
    let hdr_offset = be64(h, HDR_OFFSET);
    if hdr_offset != offset {
        return Err(Error::HeaderOffset {
            offset: at(offset, HDR_OFFSET),
            copy,
            value: hdr_offset,
        });
    }
    let hdr_size = be64(h, 8);
    if !METADATA_SIZES.contains(&hdr_size) {
        return Err(Error::HeaderSize {
            offset: at(offset, 8),
            copy,
            value: hdr_size,
            note: "",
        });
    }
    if copy == Copy::Secondary && hdr_size != offset {
        return Err(Error::HeaderSize {
            offset: at(offset, 8),
            copy,
            value: hdr_size,
            note: " (a secondary header lives at the header size)",
        });
    }
    Ok(hdr_size)
}

fn c_string(
    h: &[u8],
    (start, len): (usize, usize),
    offset: u64,
    copy: Copy,
    field: &'static str,
) -> Result<String, Error> {
    let bytes = &h[start..start + len];
    let bad = || Error::HeaderString {
        offset: at(offset, start),
        copy,
        field,
    };
    let end = bytes.iter().position(|&b| b == 0).ok_or_else(bad)?;
    if bytes[end..].iter().any(|&b| b != 0) {
        return Err(bad());
    }
    String::from_utf8(bytes[..end].to_vec()).map_err(|_| bad())
}

/// Checks a whole copy, binary header `h` (4096 bytes, read at `offset`)
/// and its JSON area, after [`precheck`]: checksum, strings, zero padding.
pub(crate) fn parse(
    h: &[u8],
    json_area: &[u8],
    offset: u64,
    copy: Copy,
) -> Result<BinaryHeader, Error> {
    let hdr_size = precheck(h, offset, copy)?;
    let alg = c_string(h, CSUM_ALG, offset, copy, "csum_alg")?;
    let checksum = Hash::from_name(&alg).ok_or(Error::ChecksumAlgorithm {
        offset: at(offset, CSUM_ALG.0),
        copy,
        name: alg,
    })?;
    let mut zeroed = h[..4096].to_vec();
    zeroed[CSUM..CSUM + CSUM_LEN].fill(0);
    let computed = checksum.digest(&[&zeroed, json_area]);
    if h[CSUM..CSUM + checksum.size()] != computed[..] {
        return Err(Error::Checksum {
            offset: at(offset, CSUM),
            copy,
            algorithm: checksum.name(),
        });
    }
    let padding = (264..CSUM).chain(CSUM + checksum.size()..4096);
    if let Some(i) = padding.into_iter().find(|&i| h[i] != 0) {
        return Err(Error::Padding {
            offset: at(offset, i),
            copy,
            value: h[i],
        });
    }
    let mut salt = [0u8; SALT_SIZE];
    salt.copy_from_slice(&h[SALT..SALT + SALT_SIZE]);
    Ok(BinaryHeader {
        hdr_size,
        seqid: be64(h, 16),
        label: c_string(h, LABEL, offset, copy, "label")?,
        subsystem: c_string(h, SUBSYSTEM, offset, copy, "subsystem")?,
        checksum,
        salt,
        uuid: c_string(h, UUID, offset, copy, "uuid")?,
    })
}

/// Checks that a string fits a field (with its NUL).
pub(crate) fn check_field(name: &'static str, value: &str, len: usize) -> Result<(), Error> {
    if value.len() >= len || value.contains('\0') {
        return Err(Error::Param {
            name,
            problem: format!("{value:?} must be shorter than {len} bytes, without NUL"),
        });
    }
    Ok(())
}

impl BinaryHeader {
    /// Checks the strings fit their fields.
    pub(crate) fn check(&self) -> Result<(), Error> {
        check_field("label", &self.label, LABEL.1)?;
        check_field("subsystem", &self.subsystem, SUBSYSTEM.1)?;
        check_field("uuid", &self.uuid, UUID.1)
    }

    /// The binary header sector of `copy`, with its checksum over itself
    /// and `json_area` (the whole JSON area, `hdr_size - 4096` bytes).
    pub(crate) fn encode(&self, copy: Copy, salt: &[u8; SALT_SIZE], json_area: &[u8]) -> Vec<u8> {
        let mut h = vec![0u8; 4096];
        h[..6].copy_from_slice(match copy {
            Copy::Primary => MAGIC_PRIMARY,
            Copy::Secondary => MAGIC_SECONDARY,
        });
        h[6..8].copy_from_slice(&2u16.to_be_bytes());
        h[8..16].copy_from_slice(&self.hdr_size.to_be_bytes());
        h[16..24].copy_from_slice(&self.seqid.to_be_bytes());
        for (value, (start, _)) in [
            (&self.label, LABEL),
            (&self.uuid, UUID),
            (&self.subsystem, SUBSYSTEM),
        ] {
            h[start..start + value.len()].copy_from_slice(value.as_bytes());
        }
        let alg = self.checksum.name().as_bytes();
        h[CSUM_ALG.0..CSUM_ALG.0 + alg.len()].copy_from_slice(alg);
        h[SALT..SALT + SALT_SIZE].copy_from_slice(salt);
        let offset = match copy {
            Copy::Primary => 0,
            Copy::Secondary => self.hdr_size,
        };
        h[HDR_OFFSET..HDR_OFFSET + 8].copy_from_slice(&offset.to_be_bytes());
        let sum = self.checksum.digest(&[&h, json_area]);
        h[CSUM..CSUM + sum.len()].copy_from_slice(&sum);
        h
    }
}

/// True when `bytes` (read at `offset`) start with a LUKS magic of either
/// copy (LUKS1 uses the primary magic too): what `clip luks format` refuses
/// to overwrite without `--force`.
pub fn has_luks_magic(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC_PRIMARY) || bytes.starts_with(MAGIC_SECONDARY)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> BinaryHeader {
        BinaryHeader {
            hdr_size: 0x4000,
            seqid: 7,
            label: "state".into(),
            subsystem: String::new(),
            checksum: Hash::Sha256,
            salt: [0x5a; SALT_SIZE],
            uuid: "0b5f3a1e-1c2d-4e5f-8a9b-0c1d2e3f4a5b".into(),
        }
    }

    #[test]
    fn encode_parse_round_trip_both_copies() {
        let json = vec![0u8; 0x3000];
        let h = header();
        for copy in [Copy::Primary, Copy::Secondary] {
            let offset = if copy == Copy::Primary { 0 } else { 0x4000 };
            let bytes = h.encode(copy, &[0x5a; SALT_SIZE], &json);
            assert_eq!(&bytes[8..16], &0x4000u64.to_be_bytes());
            assert_eq!(parse(&bytes, &json, offset, copy), Ok(h.clone()));
            // The other copy's magic is refused.
            let other = if copy == Copy::Primary {
                Copy::Secondary
            } else {
                Copy::Primary
            };
            assert_eq!(
                precheck(&bytes, offset, other),
                Err(Error::Magic {
                    offset,
                    copy: other
                })
            );
        }
    }

    #[test]
    fn every_field_is_checked() {
        let json = vec![0u8; 0x3000];
        let good = header().encode(Copy::Primary, &[1; SALT_SIZE], &json);
        let flip = |at: usize, v: u8| {
            let mut b = good.clone();
            b[at] = v;
            parse(&b, &json, 0, Copy::Primary).unwrap_err()
        };
        let c = Copy::Primary;
        assert_eq!(
            flip(7, 1),
            Error::Version {
                offset: 6,
                copy: c,
                value: 1
            }
        );
        assert!(matches!(
            flip(14, 0x50),
            Error::HeaderSize {
                offset: 8,
                value: 0x5000,
                ..
            }
        ));
        assert_eq!(
            flip(263, 1),
            Error::HeaderOffset {
                offset: 256,
                copy: c,
                value: 1
            }
        );
        assert_eq!(
            flip(30, b'x'),
            Error::Checksum {
                offset: 448,
                copy: c,
                algorithm: "sha256"
            }
        );
        assert!(matches!(
            flip(72, b'm'),
            Error::ChecksumAlgorithm { offset: 72, .. }
        ));
        let mut json2 = json.clone();
        json2[5] = 1;
        assert_eq!(
            parse(&good, &json2, 0, c).unwrap_err(),
            Error::Checksum {
                offset: 448,
                copy: c,
                algorithm: "sha256"
            }
        );
        // Padding and strings: re-checksum after the change, as a tool
        // writing a bad header would.
        let reseal = |at: usize, v: u8| {
            let mut b = good.clone();
            b[at] = v;
            b[CSUM..CSUM + 64].fill(0);
            let sum = Hash::Sha256.digest(&[&b, &json]);
            b[CSUM..CSUM + 32].copy_from_slice(&sum);
            // A byte in the checksum field past the digest is not covered by it.
            b[at] = v;
            parse(&b, &json, 0, c).unwrap_err()
        };
        assert_eq!(
            reseal(300, 9),
            Error::Padding {
                offset: 300,
                copy: c,
                value: 9
            }
        );
        assert_eq!(
            reseal(4000, 1),
            Error::Padding {
                offset: 4000,
                copy: c,
                value: 1
            }
        );
        assert_eq!(
            reseal(500, 1),
            Error::Padding {
                offset: 500,
                copy: c,
                value: 1
            }
        );
        assert_eq!(
            reseal(24 + 47, b'a'),
            Error::HeaderString {
                offset: 24,
                copy: c,
                field: "label"
            }
        );
        assert_eq!(
            reseal(24 + 10, b'a'),
            Error::HeaderString {
                offset: 24,
                copy: c,
                field: "label"
            }
        );
    }
}
