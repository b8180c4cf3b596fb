//! Tree geometry: how many levels a tree has and where each one lives.
//!
//! Follows the kernel's `verity_ctr()` and cryptsetup's `hash_levels()`: level 0
//! holds one digest per data block, level `i + 1` one digest per hash block of
//! level `i`, up to a top level of exactly one block whose digest is the root
//! hash. Levels are stored top level first:
//!
//! ```text
//! [superblock][level n-1 (1 block)][level n-2]...[level 1][level 0]
//! ```
//!
//! A single data block needs no tree: the root hash is that block's digest.

use crate::error::Error;
use crate::hash::{HashAlgorithm, HashType};

pub const MIN_BLOCK_SIZE: u32 = 512;
/// The kernel only activates devices whose blocks fit in a 4 KiB page.
pub const MAX_BLOCK_SIZE: u32 = 4096;
pub const MAX_SALT_SIZE: usize = 256;
/// cryptsetup's `VERITY_MAX_LEVELS`.
const MAX_LEVELS: u32 = 63;

/// Everything that determines a tree's bytes, apart from the data itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    pub hash_type: HashType,
    pub algorithm: HashAlgorithm,
    pub data_block_size: u32,
    pub hash_block_size: u32,
    pub data_blocks: u64,
    pub salt: Vec<u8>,
}

impl Params {
    /// Checks every field; [`Geometry::new`] calls it.
    pub fn validate(&self) -> Result<(), Error> {
        check_block_size("data", self.data_block_size)?;
        check_block_size("hash", self.hash_block_size)?;
        if self.salt.len() > MAX_SALT_SIZE {
            return Err(Error::SaltTooLong(self.salt.len()));
        }
        if self.data_blocks == 0 {
            return Err(Error::NoData);
        }
        Ok(())
    }

    /// Size of the protected data in bytes.
    pub fn data_size(&self) -> Result<u64, Error> {
        self.data_blocks
            .checked_mul(u64::from(self.data_block_size))
            .ok_or(Error::TooLarge(self.data_blocks))
    }
}

pub(crate) fn check_block_size(which: &'static str, size: u32) -> Result<(), Error> {
    if size.is_power_of_two() && (MIN_BLOCK_SIZE..=MAX_BLOCK_SIZE).contains(&size) {
        Ok(())
    } else {
        Err(Error::BlockSize {
            which,
            size: u64::from(size),
        })
    }
}

/// One level of the tree, in hash blocks counted from the start of the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Level {
    pub first_block: u64,
    pub blocks: u64,
}

/// The shape of a tree, derived from [`Params`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Geometry {
    /// Index 0 is the level that hashes the data blocks.
    pub levels: Vec<Level>,
    pub digest_size: usize,
    /// Distance between consecutive digests inside a hash block.
    pub digest_stride: usize,
    pub hashes_per_block: u64,
    pub hash_block_size: u32,
}

impl Geometry {
    pub fn new(params: &Params) -> Result<Self, Error> {
        params.validate()?;
        let digest_size = params.algorithm.digest_size();
        let digest_stride = match params.hash_type {
            HashType::Normal => digest_size.next_power_of_two(),
            HashType::ChromeOs => digest_size,
        };
        let per_block = params.hash_block_size as usize / digest_size;
        // Round down to a power of two, as the kernel's __fls() does.
        let bits = per_block.ilog2();
        let n = params.data_blocks;

        let mut count = 0u32;
        while bits * count < 64 && (n - 1) >> (bits * count) != 0 {
            count += 1;
        }
        if count > MAX_LEVELS {
            return Err(Error::TooLarge(n));
        }
        // Level i holds one digest per block of level i - 1: ceil(n / per_block^(i+1)).
        let sizes: Vec<u64> = (1..=count)
            .map(|i| {
                if bits * i >= 64 {
                    1
                } else {
                    n.div_ceil(1u64 << (bits * i))
                }
            })
            .collect();
        let mut levels = vec![
            Level {
                first_block: 0,
                blocks: 0
            };
            sizes.len()
        ];
        let mut position = 0u64;
        for (level, &blocks) in levels.iter_mut().zip(&sizes).rev() {
            *level = Level {
                first_block: position,
                blocks,
            };
            position = position.checked_add(blocks).ok_or(Error::TooLarge(n))?;
        }
        position
            .checked_mul(u64::from(params.hash_block_size))
            .ok_or(Error::TooLarge(n))?;
        Ok(Self {
            levels,
            digest_size,
            digest_stride,
            hashes_per_block: 1u64 << bits,
            hash_block_size: params.hash_block_size,
        })
    }

    /// Number of hash blocks in the tree (without the superblock).
    pub fn tree_blocks(&self) -> u64 {
        self.levels.iter().map(|l| l.blocks).sum()
    }

    /// Size of the tree in bytes (without the superblock).
    pub fn tree_bytes(&self) -> u64 {
        self.tree_blocks() * u64::from(self.hash_block_size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(data_blocks: u64, hbs: u32, algorithm: HashAlgorithm) -> Params {
        Params {
            hash_type: HashType::Normal,
            algorithm,
            data_block_size: 4096,
            hash_block_size: hbs,
            data_blocks,
            salt: vec![],
        }
    }

    #[test]
    fn one_block_needs_no_tree() {
        let g = Geometry::new(&params(1, 4096, HashAlgorithm::Sha256)).unwrap();
        assert!(g.levels.is_empty());
        assert_eq!(g.tree_bytes(), 0);
    }

    #[test]
    fn matches_veritysetup_for_256_blocks() {
        // `veritysetup format` on 1 MiB reports 3 hash blocks.
        let g = Geometry::new(&params(256, 4096, HashAlgorithm::Sha256)).unwrap();
        assert_eq!(g.hashes_per_block, 128);
        assert_eq!(
            g.levels,
            vec![
                Level {
                    first_block: 1,
                    blocks: 2
                },
                Level {
                    first_block: 0,
                    blocks: 1
                }
            ]
        );
    }

    #[test]
    fn sha1_digests_are_padded_to_32_bytes() {
        let g = Geometry::new(&params(1000, 4096, HashAlgorithm::Sha1)).unwrap();
        assert_eq!(g.digest_stride, 32);
        assert_eq!(g.hashes_per_block, 128);
    }

    #[test]
    fn rejects_bad_block_sizes() {
        for size in [0, 256, 1000, 8192] {
            let mut p = params(10, 4096, HashAlgorithm::Sha256);
            p.data_block_size = size;
            assert!(matches!(
                Geometry::new(&p),
                Err(Error::BlockSize { which: "data", .. })
            ));
        }
    }

    #[test]
    fn largest_count_is_refused_without_overflow() {
        let p = Params {
            data_block_size: 512,
            ..params(u64::MAX, 512, HashAlgorithm::Sha512)
        };
        // 8 digests per 512-byte block: 22 levels of about 2^61 blocks, whose
        // byte size does not fit in 64 bits.
        assert_eq!(Geometry::new(&p), Err(Error::TooLarge(u64::MAX)));
    }
}
