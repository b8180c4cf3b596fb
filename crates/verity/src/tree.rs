//! Building a hash tree from data, and checking a stored one.
//!
//! Building runs bottom-up: data blocks are hashed into level 0 as they stream
//! in, then each level is hashed into the one above. Checking runs top-down,
//! as the kernel does on reads: the top block against the root hash, every
//! level against the one above it, and only then data against level 0, so a
//! mismatch names the block that is actually wrong.

use rayon::prelude::*;

use crate::error::Error;
use crate::geometry::{Geometry, Params};
use crate::hash::{BlockHasher, MAX_DIGEST};

/// Blocks per rayon task: large enough to amortise scheduling.
const MIN_BLOCKS_PER_TASK: usize = 64;

/// Which part of the device a corrupted block belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    Data,
    /// A block of the hash tree; `level` 0 hashes the data.
    Hash {
        level: usize,
    },
}

/// The first block whose contents do not match the digest that vouches for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{} block {block} does not match its digest", match .area {
    Area::Data => "data".to_owned(),
    Area::Hash { level } => format!("hash tree level {level}"),
})]
pub struct Mismatch {
    pub area: Area,
    /// Data block index, or hash block index counted from the start of the tree.
    pub block: u64,
}

/// A hash block that matches its digest but has non-zero bytes where no
/// digest belongs: the padding after each digest (type 1 with SHA-1) and the
/// slots after the last digest the block holds. The kernel's layout leaves
/// them zero (veritysetup: "Spare area is not zeroed"); a tree made for more
/// data blocks than the parameters claim has digests there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "hash tree level {level} block {block} holds {digests} digests but is not zeroed after them, \
     at byte {offset} of the tree"
)]
pub struct SpareArea {
    pub level: usize,
    /// Hash block index counted from the start of the tree.
    pub block: u64,
    /// Byte offset of the first non-zero spare byte, from the start of the tree.
    pub offset: u64,
    /// Digests the block holds.
    pub digests: u64,
}

/// Number of digests block `index` of `level` holds: the last block of a
/// level is usually partly filled.
fn digests_in_block(g: &Geometry, data_blocks: u64, level: usize, index: u64) -> u64 {
    let below = match level.checked_sub(1) {
        None => data_blocks,
        Some(l) => g.levels[l].blocks,
    };
    below
        .saturating_sub(index.saturating_mul(g.hashes_per_block))
        .min(g.hashes_per_block)
}

/// Checks the spare area of consecutive hash blocks of `level`, the first
/// being block `first` of the level (counted from the level's start).
pub(crate) fn check_spare(
    g: &Geometry,
    data_blocks: u64,
    level: usize,
    first: u64,
    blocks: &[u8],
) -> Result<(), SpareArea> {
    let hbs = g.hash_block_size as usize;
    let (ds, stride) = (g.digest_size, g.digest_stride);
    let slots = hbs / stride;
    for (i, block) in blocks.chunks_exact(hbs).enumerate() {
        let index = first + i as u64;
        let digests = digests_in_block(g, data_blocks, level, index);
        let used = usize::try_from(digests).map_or(slots, |n| n.min(slots));
        let padding = (0..used).flat_map(|slot| slot * stride + ds..(slot + 1) * stride);
        if let Some(at) = padding.chain(used * stride..hbs).find(|&at| block[at] != 0) {
            let block = g.levels[level].first_block + index;
            return Err(SpareArea {
                level,
                block,
                offset: block * u64::from(g.hash_block_size) + at as u64,
                digests,
            });
        }
    }
    Ok(())
}

/// Hashes each `block_size` chunk of `src` into consecutive `digest_size` slots of `out`.
pub(crate) fn hash_blocks(
    hasher: &BlockHasher,
    src: &[u8],
    block_size: usize,
    out: &mut [u8],
    ds: usize,
) {
    src.par_chunks_exact(block_size)
        .zip(out.par_chunks_exact_mut(ds))
        .with_min_len(MIN_BLOCKS_PER_TASK)
        .for_each(|(block, digest)| hasher.hash_into(block, digest));
}

pub(crate) fn to_usize(n: u64) -> Result<usize, Error> {
    usize::try_from(n).map_err(|_| Error::TooLarge(n))
}

/// Byte offset, inside the tree, of digest `index` of `level`.
///
/// Only called for digests of a tree already held in memory, so the offset
/// is below the tree's length and fits in `usize`.
fn digest_offset(g: &Geometry, level: usize, index: u64) -> usize {
    let l = g.levels[level];
    let at = (l.first_block + index / g.hashes_per_block) * u64::from(g.hash_block_size)
        + (index % g.hashes_per_block) * g.digest_stride as u64;
    usize::try_from(at).expect("digest offset inside an in-memory tree")
}

/// Streams data blocks in and produces a [`HashTree`].
#[derive(Debug)]
pub struct TreeBuilder {
    params: Params,
    geometry: Geometry,
    hasher: BlockHasher,
    tree: Vec<u8>,
    /// Root hash of a one-block device, which has no tree.
    single: Option<Vec<u8>>,
    fed: u64,
}

impl std::fmt::Debug for BlockHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BlockHasher")
    }
}

impl TreeBuilder {
    /// Allocates the (zeroed) tree; its size is about 1/128 of the data.
    pub fn new(params: Params) -> Result<Self, Error> {
        let geometry = Geometry::new(&params)?;
        let len = to_usize(geometry.tree_bytes())?;
        // A huge tree is an error, not an abort on a failed allocation.
        let mut tree = Vec::new();
        tree.try_reserve_exact(len)
            .map_err(|_| Error::OutOfMemory(geometry.tree_bytes()))?;
        tree.resize(len, 0);
        let hasher = BlockHasher::new(params.algorithm, params.hash_type, &params.salt);
        Ok(Self {
            params,
            geometry,
            hasher,
            tree,
            single: None,
            fed: 0,
        })
    }

    pub fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    /// Hashes the next data blocks; `data` must be whole blocks.
    pub fn update(&mut self, data: &[u8]) -> Result<(), Error> {
        let dbs = self.params.data_block_size as usize;
        if data.len() % dbs != 0 {
            return Err(Error::PartialBlock {
                len: data.len(),
                block_size: self.params.data_block_size,
            });
        }
        let count = (data.len() / dbs) as u64;
        let expected = self.params.data_blocks;
        if self.fed + count > expected {
            return Err(Error::DataBlockCount {
                got: self.fed + count,
                expected,
            });
        }
        let ds = self.geometry.digest_size;
        let mut digests = vec![0u8; data.len() / dbs * ds];
        hash_blocks(&self.hasher, data, dbs, &mut digests, ds);
        if self.geometry.levels.is_empty() {
            if count == 1 {
                self.single = Some(digests);
            }
        } else {
            scatter(&self.geometry, &mut self.tree, 0, self.fed, &digests)?;
        }
        self.fed += count;
        Ok(())
    }

    /// Hashes the upper levels and the root; fails if data blocks are missing.
    pub fn finish(mut self) -> Result<HashTree, Error> {
        if self.fed != self.params.data_blocks {
            return Err(Error::DataBlockCount {
                got: self.fed,
                expected: self.params.data_blocks,
            });
        }
        let g = &self.geometry;
        let hbs = g.hash_block_size as usize;
        let ds = g.digest_size;
        for level in 1..g.levels.len() {
            let below = level_range(g, level - 1)?;
            let mut digests = vec![0u8; below.len() / hbs * ds];
            hash_blocks(&self.hasher, &self.tree[below], hbs, &mut digests, ds);
            scatter(g, &mut self.tree, level, 0, &digests)?;
        }
        let root = match g.levels.len() {
            0 => self.single.take().ok_or(Error::NoData)?,
            n => {
                let mut root = vec![0u8; ds];
                self.hasher
                    .hash_into(&self.tree[level_range(g, n - 1)?], &mut root);
                root
            }
        };
        Ok(HashTree {
            params: self.params,
            geometry: self.geometry,
            hasher: self.hasher,
            bytes: self.tree,
            root,
        })
    }
}

/// A root hash of the algorithm's digest size.
pub(crate) fn check_root_length(params: &Params, root: &[u8]) -> Result<(), Error> {
    let expected = params.algorithm.digest_size();
    if root.len() == expected {
        Ok(())
    } else {
        Err(Error::RootHashLength {
            got: root.len(),
            expected,
            algorithm: params.algorithm.display_name(),
        })
    }
}

fn level_range(g: &Geometry, level: usize) -> Result<std::ops::Range<usize>, Error> {
    let l = g.levels[level];
    let hbs = u64::from(g.hash_block_size);
    Ok(to_usize(l.first_block * hbs)?..to_usize((l.first_block + l.blocks) * hbs)?)
}

/// Copies consecutive digests into their slots of `level`, from digest `first`.
fn scatter(
    g: &Geometry,
    tree: &mut [u8],
    level: usize,
    first: u64,
    digests: &[u8],
) -> Result<(), Error> {
    let ds = g.digest_size;
    for (i, digest) in digests.chunks_exact(ds).enumerate() {
        let at = digest_offset(g, level, first + i as u64);
        tree[at..at + ds].copy_from_slice(digest);
    }
    Ok(())
}

/// A complete hash tree whose root hash is known.
#[derive(Debug)]
pub struct HashTree {
    params: Params,
    geometry: Geometry,
    hasher: BlockHasher,
    bytes: Vec<u8>,
    root: Vec<u8>,
}

impl HashTree {
    /// Checks a stored tree top-down against `root` and returns it, trusted.
    ///
    /// Every byte of every hash block is covered, spare areas included, because
    /// each block is hashed whole into the level above; once a block matches,
    /// its spare area must also be zero ([`SpareArea`]), so a tree made for
    /// more data blocks than `params` claims is refused.
    ///
    /// The whole tree is held in memory; [`crate::Verifier`] reads it on demand.
    pub fn verify(params: Params, bytes: Vec<u8>, root: &[u8]) -> Result<Self, Error> {
        let geometry = Geometry::new(&params)?;
        if bytes.len() as u64 != geometry.tree_bytes() {
            return Err(Error::TreeSize {
                got: bytes.len(),
                expected: geometry.tree_bytes(),
            });
        }
        check_root_length(&params, root)?;
        let ds = geometry.digest_size;
        let hasher = BlockHasher::new(params.algorithm, params.hash_type, &params.salt);
        let g = &geometry;
        let hbs = g.hash_block_size as usize;
        if let Some(top) = g.levels.len().checked_sub(1) {
            let mut digest = [0u8; MAX_DIGEST];
            hasher.hash_into(&bytes[level_range(g, top)?], &mut digest);
            if digest[..ds] != *root {
                let block = g.levels[top].first_block;
                return Err(Mismatch {
                    area: Area::Hash { level: top },
                    block,
                }
                .into());
            }
            check_spare(g, params.data_blocks, top, 0, &bytes[level_range(g, top)?])?;
            for level in (1..=top).rev() {
                let below = level_range(g, level - 1)?;
                let mut digests = vec![0u8; below.len() / hbs * ds];
                hash_blocks(&hasher, &bytes[below], hbs, &mut digests, ds);
                let first_bad = digests
                    .par_chunks_exact(ds)
                    .enumerate()
                    .find_first(|(i, d)| {
                        let at = digest_offset(g, level, *i as u64);
                        bytes[at..at + ds] != **d
                    });
                if let Some((i, _)) = first_bad {
                    let block = g.levels[level - 1].first_block + i as u64;
                    return Err(Mismatch {
                        area: Area::Hash { level: level - 1 },
                        block,
                    }
                    .into());
                }
                let below = level_range(g, level - 1)?;
                check_spare(g, params.data_blocks, level - 1, 0, &bytes[below])?;
            }
        }
        Ok(Self {
            params,
            geometry,
            hasher,
            bytes,
            root: root.to_vec(),
        })
    }

    /// Checks data blocks starting at block `first` against the trusted tree.
    pub fn check_data(&self, first: u64, data: &[u8]) -> Result<(), Error> {
        let dbs = self.params.data_block_size as usize;
        if data.len() % dbs != 0 {
            return Err(Error::PartialBlock {
                len: data.len(),
                block_size: self.params.data_block_size,
            });
        }
        let count = (data.len() / dbs) as u64;
        // Checked: a wrapped sum would pass and send digest_offset() past the end.
        if first
            .checked_add(count)
            .is_none_or(|end| end > self.params.data_blocks)
        {
            return Err(Error::DataBlockCount {
                got: first.saturating_add(count),
                expected: self.params.data_blocks,
            });
        }
        let ds = self.geometry.digest_size;
        let mut digests = vec![0u8; data.len() / dbs * ds];
        hash_blocks(&self.hasher, data, dbs, &mut digests, ds);
        let g = &self.geometry;
        let first_bad = digests
            .par_chunks_exact(ds)
            .enumerate()
            .find_first(|(i, d)| {
                let index = first + *i as u64;
                let expected = if g.levels.is_empty() {
                    &self.root[..]
                } else {
                    let at = digest_offset(g, 0, index);
                    &self.bytes[at..at + ds]
                };
                expected != *d
            });
        match first_bad {
            Some((i, _)) => Err(Mismatch {
                area: Area::Data,
                block: first + i as u64,
            }
            .into()),
            None => Ok(()),
        }
    }

    pub fn root_hash(&self) -> &[u8] {
        &self.root
    }

    /// The tree as stored on the hash device, right after the superblock area.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    pub fn params(&self) -> &Params {
        &self.params
    }
}
