//! The optional 512-byte superblock cryptsetup writes at the hash offset.
//!
//! Layout (all integers little-endian), from cryptsetup `lib/verity/verity.c`
//! `struct verity_sb`:
//!
//! ```text
//! offset size field
//!      0    8 signature        "verity\0\0"
//!      8    4 version          1
//!     12    4 hash_type        0 = Chrome OS, 1 = normal
//!     16   16 uuid             of the hash device, raw bytes
//!     32   32 algorithm        NUL-padded name, e.g. "sha256"
//!     64    4 data_block_size
//!     68    4 hash_block_size
//!     72    8 data_blocks
//!     80    2 salt_size        at most 256
//!     82    6 padding          zero
//!     88  256 salt             zero after salt_size bytes
//!    344  168 padding          zero
//! ```
//!
//! The hash tree starts at the first hash block after the superblock.

use crate::error::{Error, SuperblockError, SuperblockErrorKind as Kind};
use crate::geometry::{MAX_SALT_SIZE, Params, check_block_size};
use crate::hash::{HashAlgorithm, HashType};

pub const SUPERBLOCK_SIZE: usize = 512;
const SIGNATURE: &[u8; 8] = b"verity\0\0";
const VERSION: u32 = 1;

/// A parsed superblock: the tree parameters plus the hash device UUID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Superblock {
    pub params: Params,
    pub uuid: [u8; 16],
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4-byte field"))
}

fn err(kind: Kind, offset: usize) -> SuperblockError {
    SuperblockError { kind, offset }
}

impl Superblock {
    /// Parses and checks a superblock; `bytes` may be longer than 512.
    pub fn parse(bytes: &[u8]) -> Result<Self, SuperblockError> {
        let b = bytes
            .get(..SUPERBLOCK_SIZE)
            .ok_or_else(|| err(Kind::Truncated(bytes.len()), 0))?;
        if &b[0..8] != SIGNATURE {
            return Err(err(Kind::Signature, 0));
        }
        let version = le_u32(b, 8);
        if version != VERSION {
            return Err(err(Kind::Version(version), 8));
        }
        let hash_type = match le_u32(b, 12) {
            0 => HashType::ChromeOs,
            1 => HashType::Normal,
            other => return Err(err(Kind::HashType(other), 12)),
        };
        let uuid: [u8; 16] = b[16..32].try_into().expect("16-byte field");

        let name_field = &b[32..64];
        let name_len = name_field
            .iter()
            .position(|&c| c == 0)
            .ok_or_else(|| err(Kind::AlgorithmName, 32))?;
        if let Some(i) = name_field[name_len..].iter().position(|&c| c != 0) {
            return Err(err(Kind::Padding, 32 + name_len + i));
        }
        let name = std::str::from_utf8(&name_field[..name_len])
            .map_err(|_| err(Kind::AlgorithmName, 32))?;
        // Kernel crypto API names are lower case; "SHA256" would parse here
        // but fail at activation, so it is refused (veritysetup accepts it).
        let algorithm = HashAlgorithm::from_name(name)
            .map_err(|_| err(Kind::Algorithm(name.to_owned()), 32))?;

        let data_block_size = le_u32(b, 64);
        check_block_size("data", data_block_size)
            .map_err(|_| err(Kind::BlockSize(data_block_size), 64))?;
        let hash_block_size = le_u32(b, 68);
        check_block_size("hash", hash_block_size)
            .map_err(|_| err(Kind::BlockSize(hash_block_size), 68))?;
        let data_blocks = u64::from_le_bytes(b[72..80].try_into().expect("8-byte field"));
        if data_blocks == 0 {
            return Err(err(Kind::NoData, 72));
        }
        let salt_size = u16::from_le_bytes([b[80], b[81]]);
        if usize::from(salt_size) > MAX_SALT_SIZE {
            return Err(err(Kind::SaltSize(salt_size), 80));
        }
        let salt_end = 88 + usize::from(salt_size);
        for (start, end) in [(82, 88), (salt_end, SUPERBLOCK_SIZE)] {
            if let Some(i) = b[start..end].iter().position(|&c| c != 0) {
                return Err(err(Kind::Padding, start + i));
            }
        }
        Ok(Self {
            params: Params {
                hash_type,
                algorithm,
                data_block_size,
                hash_block_size,
                data_blocks,
                salt: b[88..salt_end].to_vec(),
            },
            uuid,
        })
    }

    /// Encodes the superblock; fails only if the parameters are invalid.
    pub fn encode(&self) -> Result<[u8; SUPERBLOCK_SIZE], Error> {
        let p = &self.params;
        p.validate()?;
        let mut b = [0u8; SUPERBLOCK_SIZE];
        b[0..8].copy_from_slice(SIGNATURE);
        b[8..12].copy_from_slice(&VERSION.to_le_bytes());
        b[12..16].copy_from_slice(&p.hash_type.number().to_le_bytes());
        b[16..32].copy_from_slice(&self.uuid);
        let name = p.algorithm.name().as_bytes();
        b[32..32 + name.len()].copy_from_slice(name);
        b[64..68].copy_from_slice(&p.data_block_size.to_le_bytes());
        b[68..72].copy_from_slice(&p.hash_block_size.to_le_bytes());
        b[72..80].copy_from_slice(&p.data_blocks.to_le_bytes());
        let salt_size =
            u16::try_from(p.salt.len()).map_err(|_| Error::SaltTooLong(p.salt.len()))?;
        b[80..82].copy_from_slice(&salt_size.to_le_bytes());
        b[88..88 + p.salt.len()].copy_from_slice(&p.salt);
        Ok(b)
    }
}

/// Byte offset of the hash tree in the hash device.
///
/// `hash_offset` is where the superblock (if any) starts. With a superblock the
/// tree starts at the first hash block boundary after it, as cryptsetup's
/// `VERITY_hash_offset_block()` computes. Offsets must be 512-byte aligned, and
/// without a superblock a multiple of the hash block size (veritysetup would
/// silently round such an offset down; we refuse it).
pub fn tree_offset(hash_offset: u64, hash_block_size: u32, superblock: bool) -> Result<u64, Error> {
    check_block_size("hash", hash_block_size)?;
    let hbs = u64::from(hash_block_size);
    let align = if superblock {
        SUPERBLOCK_SIZE as u64
    } else {
        hbs
    };
    if hash_offset % align != 0 {
        return Err(Error::HashOffsetAlignment {
            offset: hash_offset,
            align,
        });
    }
    if !superblock {
        return Ok(hash_offset);
    }
    let end = hash_offset
        .checked_add(SUPERBLOCK_SIZE as u64)
        .ok_or(Error::HashOffsetTooLarge(hash_offset))?;
    end.div_ceil(hbs)
        .checked_mul(hbs)
        .ok_or(Error::HashOffsetTooLarge(hash_offset))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Superblock {
        Superblock {
            params: Params {
                hash_type: HashType::Normal,
                algorithm: HashAlgorithm::Sha256,
                data_block_size: 4096,
                hash_block_size: 4096,
                data_blocks: 256,
                salt: vec![0],
            },
            uuid: [
                0xa3, 0xa8, 0x46, 0xcf, 0x41, 0xdb, 0x4c, 0xa6, 0x9c, 0xcf, 0xad, 0xcf, 0xd1, 0x1c,
                0xfe, 0xda,
            ],
        }
    }

    #[test]
    fn encodes_like_veritysetup() {
        // First 0x58 bytes of a superblock `veritysetup format --salt 00` wrote.
        let expected = hex::decode(concat!(
            "7665726974790000",                                                 // signature
            "0100000001000000",                 // version, hash type
            "a3a846cf41db4ca69ccfadcfd11cfeda", // uuid
            "7368613235360000000000000000000000000000000000000000000000000000", // "sha256"
            "00100000001000000001000000000000", // block sizes, data blocks
            "0100000000000000",                 // salt size, padding
            "00"                                // salt
        ))
        .unwrap();
        let b = sample().encode().unwrap();
        assert_eq!(&b[..expected.len()], &expected[..]);
        assert!(b[expected.len()..].iter().all(|&c| c == 0));
        assert_eq!(Superblock::parse(&b).unwrap(), sample());
    }

    #[test]
    fn names_the_bad_field() {
        let good = sample().encode().unwrap();
        let cases: [(usize, u8, usize); 6] = [
            (0, b'V', 0),
            (8, 2, 8),
            (12, 7, 12),
            (65, 0x11, 64),
            (81, 2, 80),
            (400, 1, 400),
        ];
        for (at, value, offset) in cases {
            let mut b = good;
            b[at] = value;
            assert_eq!(
                Superblock::parse(&b).unwrap_err().offset,
                offset,
                "byte {at}"
            );
        }
        assert!(matches!(
            Superblock::parse(&good[..100]).unwrap_err().kind,
            Kind::Truncated(100)
        ));
    }

    #[test]
    fn tree_offsets() {
        assert_eq!(tree_offset(0, 4096, true).unwrap(), 4096);
        assert_eq!(tree_offset(1024, 4096, true).unwrap(), 4096);
        assert_eq!(tree_offset(4096, 512, true).unwrap(), 4608);
        assert_eq!(tree_offset(8192, 4096, false).unwrap(), 8192);
        assert!(tree_offset(100, 4096, true).is_err());
        assert!(tree_offset(1024, 4096, false).is_err());
    }
}
