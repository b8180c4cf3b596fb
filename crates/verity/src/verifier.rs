//! Checking data against a root hash while reading the stored tree on demand.
//!
//! Follows the kernel's read path (`verity_verify_io()` and
//! `verity_verify_level()` in `drivers/md/dm-verity-target.c`): a hash block is
//! checked against the digest in its parent before it is used, the parent
//! having been checked the same way, up to the top block, which is checked
//! against the root hash. Only the hash blocks that vouch for the data being
//! checked are held, one window of consecutive blocks per level, so memory
//! follows the size of the data handed in, never the size of the tree: a
//! huge tree costs reading time, not memory.

use rayon::prelude::*;

use crate::error::Error;
use crate::geometry::{Geometry, Params};
use crate::hash::BlockHasher;
use crate::tree::{Area, Mismatch, check_spare, hash_blocks, to_usize};

/// A failed [`Verifier::check_data`]: the tree or data is bad, or the
/// caller's reader failed.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError<E> {
    #[error(transparent)]
    Tree(#[from] Error),
    #[error("cannot read {len} bytes of the hash tree at byte {offset} of the tree")]
    Read {
        /// Offset from the start of the tree (the first block after the superblock area).
        offset: u64,
        len: usize,
        #[source]
        source: E,
    },
}

/// Verified hash blocks `first..first + blocks` of one level.
#[derive(Debug, Default)]
struct Window {
    first: u64,
    blocks: u64,
    bytes: Vec<u8>,
}

impl Window {
    fn covers(&self, lo: u64, hi: u64) -> bool {
        self.blocks > 0 && lo >= self.first && hi - self.first < self.blocks
    }
}

/// Checks data against a root hash, reading the stored tree as it goes.
///
/// Every hash block read is checked before use, its spare area included (see
/// [`crate::SpareArea`]), so once every data block has been checked, every
/// hash block has been too. The caller supplies the tree's bytes through a
/// reader `read(offset, buf)` that fills `buf` from `offset` bytes into the
/// tree; it may be asked for the same bytes more than once, and whatever it
/// returns is checked again.
#[derive(Debug)]
pub struct Verifier {
    params: Params,
    geometry: Geometry,
    hasher: BlockHasher,
    root: Vec<u8>,
    /// Index 0 is level 0, the level that hashes the data.
    windows: Vec<Window>,
}

impl Verifier {
    pub fn new(params: Params, root: &[u8]) -> Result<Self, Error> {
        let geometry = Geometry::new(&params)?;
        crate::tree::check_root_length(&params, root)?;
        let hasher = BlockHasher::new(params.algorithm, params.hash_type, &params.salt);
        let windows = geometry.levels.iter().map(|_| Window::default()).collect();
        Ok(Self {
            params,
            geometry,
            hasher,
            root: root.to_vec(),
            windows,
        })
    }

    /// Checks data blocks starting at block `first`, reading the hash blocks
    /// that vouch for them through `read` and checking those first.
    pub fn check_data<E, R>(
        &mut self,
        first: u64,
        data: &[u8],
        read: &mut R,
    ) -> Result<(), VerifyError<E>>
    where
        R: FnMut(u64, &mut [u8]) -> Result<(), E>,
    {
        let dbs = self.params.data_block_size as usize;
        if data.len() % dbs != 0 {
            return Err(Error::PartialBlock {
                len: data.len(),
                block_size: self.params.data_block_size,
            }
            .into());
        }
        let count = (data.len() / dbs) as u64;
        if first
            .checked_add(count)
            .is_none_or(|end| end > self.params.data_blocks)
        {
            return Err(Error::DataBlockCount {
                got: first.saturating_add(count),
                expected: self.params.data_blocks,
            }
            .into());
        }
        if count == 0 {
            return Ok(());
        }
        let ds = self.geometry.digest_size;
        let mut digests = vec![0u8; data.len() / dbs * ds];
        hash_blocks(&self.hasher, data, dbs, &mut digests, ds);
        let first_bad = if self.geometry.levels.is_empty() {
            // One data block and no tree: the root hash is its digest.
            (digests[..] != self.root[..]).then_some(0)
        } else {
            let hpb = self.geometry.hashes_per_block;
            self.load(0, first / hpb, (first + count - 1) / hpb, read)?;
            let (g, window) = (&self.geometry, &self.windows[0]);
            digests
                .par_chunks_exact(ds)
                .enumerate()
                .find_first(|(i, d)| {
                    let at = slot(g, window, first + *i as u64);
                    window.bytes[at..at + ds] != **d
                })
                .map(|(i, _)| i)
        };
        match first_bad {
            Some(i) => Err(Error::from(Mismatch {
                area: Area::Data,
                block: first + i as u64,
            })
            .into()),
            None => Ok(()),
        }
    }

    /// Makes `windows[level]` hold verified blocks `lo..=hi` of `level`,
    /// loading (and verifying) the blocks of the levels above first.
    fn load<E, R>(
        &mut self,
        level: usize,
        lo: u64,
        hi: u64,
        read: &mut R,
    ) -> Result<(), VerifyError<E>>
    where
        R: FnMut(u64, &mut [u8]) -> Result<(), E>,
    {
        if self.windows[level].covers(lo, hi) {
            return Ok(());
        }
        let top = self.geometry.levels.len() - 1;
        if level < top {
            let hpb = self.geometry.hashes_per_block;
            self.load(level + 1, lo / hpb, hi / hpb, read)?;
        }
        let g = &self.geometry;
        let hbs = g.hash_block_size as usize;
        let first_block = g.levels[level].first_block + lo;
        // Inside the tree, whose size in bytes fits in a u64 (Geometry::new).
        let offset = first_block * u64::from(g.hash_block_size);
        let len = to_usize((hi - lo + 1) * u64::from(g.hash_block_size))?;
        // A failed load leaves the window empty, never holding unchecked bytes.
        let window = &mut self.windows[level];
        window.blocks = 0;
        let mut bytes = std::mem::take(&mut window.bytes);
        bytes.clear();
        bytes.resize(len, 0);
        read(offset, &mut bytes).map_err(|source| VerifyError::Read {
            offset,
            len,
            source,
        })?;
        let ds = g.digest_size;
        let mut digests = vec![0u8; len / hbs * ds];
        hash_blocks(&self.hasher, &bytes, hbs, &mut digests, ds);
        let first_bad = if level == top {
            (digests[..] != self.root[..]).then_some(0)
        } else {
            let parent = &self.windows[level + 1];
            digests
                .par_chunks_exact(ds)
                .enumerate()
                .find_first(|(i, d)| {
                    let at = slot(g, parent, lo + *i as u64);
                    parent.bytes[at..at + ds] != **d
                })
                .map(|(i, _)| i)
        };
        if let Some(i) = first_bad {
            return Err(Error::from(Mismatch {
                area: Area::Hash { level },
                block: first_block + i as u64,
            })
            .into());
        }
        check_spare(g, self.params.data_blocks, level, lo, &bytes).map_err(Error::from)?;
        self.windows[level] = Window {
            first: lo,
            blocks: hi - lo + 1,
            bytes,
        };
        Ok(())
    }

    pub fn params(&self) -> &Params {
        &self.params
    }

    pub fn geometry(&self) -> &Geometry {
        &self.geometry
    }
}

/// Byte offset, inside `window` (verified blocks of a level), of the digest
/// of item `index` of the level below (a data block for level 0).
///
/// Only called for items the window covers, so the offset is below the
/// window's length and fits in `usize`.
fn slot(g: &Geometry, window: &Window, index: u64) -> usize {
    let block = index / g.hashes_per_block - window.first;
    let at = block * u64::from(g.hash_block_size)
        + (index % g.hashes_per_block) * g.digest_stride as u64;
    usize::try_from(at).expect("digest offset inside a loaded window")
}
