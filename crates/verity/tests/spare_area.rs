//! The spare area of every hash block (the padding after each digest and the
//! slots after the last one) must be zero, as the kernel's layout implies and
//! `veritysetup verify` checks ("Spare area is not zeroed"). A tree made for
//! more data blocks than the parameters claim has digests there: without the
//! check, lowering the superblock's data block count would let the blocks
//! past the new count change freely while the root hash still verified.
//!
//! Each test makes such a tree and recomputes the digests above the changed
//! block up to a new root hash, so the change is visible only as spare bytes.

use sha2::Digest;
use verity::{
    Area, Error, Geometry, HashAlgorithm, HashTree, HashType, Mismatch, Params, SpareArea,
    TreeBuilder, Verifier, VerifyError,
};

fn params(
    algorithm: HashAlgorithm,
    hash_type: HashType,
    block_size: u32,
    data_blocks: u64,
) -> Params {
    Params {
        hash_type,
        algorithm,
        data_block_size: block_size,
        hash_block_size: block_size,
        data_blocks,
        salt: b"spare".to_vec(),
    }
}

fn data(params: &Params) -> Vec<u8> {
    let len = usize::try_from(params.data_size().unwrap()).unwrap();
    (0..len)
        .map(|i| u8::try_from((i * 13 + i / 251) % 256).unwrap())
        .collect()
}

fn build(params: &Params, data: &[u8]) -> HashTree {
    let mut builder = TreeBuilder::new(params.clone()).unwrap();
    builder.update(data).unwrap();
    builder.finish().unwrap()
}

/// The salted digest of one block, written independently of the crate.
fn digest(p: &Params, block: &[u8]) -> Vec<u8> {
    fn run<D: Digest>(p: &Params, block: &[u8]) -> Vec<u8> {
        let mut d = D::new();
        if p.hash_type == HashType::Normal {
            d.update(&p.salt);
            d.update(block);
        } else {
            d.update(block);
            d.update(&p.salt);
        }
        d.finalize().to_vec()
    }
    match p.algorithm {
        HashAlgorithm::Sha1 => run::<sha1::Sha1>(p, block),
        HashAlgorithm::Sha256 => run::<sha2::Sha256>(p, block),
        HashAlgorithm::Sha512 => run::<sha2::Sha512>(p, block),
    }
}

/// Recomputes every digest in the upper levels of `tree` (level 1 up) from
/// the blocks below, keeping every other byte, and returns the new root hash.
fn rehash(p: &Params, tree: &mut [u8]) -> Vec<u8> {
    let g = Geometry::new(p).unwrap();
    let hbs = p.hash_block_size as usize;
    let block_range = |level: usize, i: u64| {
        let at = usize::try_from(g.levels[level].first_block + i).unwrap() * hbs;
        at..at + hbs
    };
    for level in 0..g.levels.len() - 1 {
        for i in 0..g.levels[level].blocks {
            let d = digest(p, &tree[block_range(level, i)]);
            let parent = block_range(level + 1, i / g.hashes_per_block);
            let at =
                parent.start + usize::try_from(i % g.hashes_per_block).unwrap() * g.digest_stride;
            tree[at..at + d.len()].copy_from_slice(&d);
        }
    }
    digest(p, &tree[block_range(g.levels.len() - 1, 0)])
}

/// Checks `tree` with both [`HashTree::verify`] (then `check_data`) and
/// [`Verifier`] over all of `data`; both must give the same result.
fn check(p: &Params, tree: &[u8], root: &[u8], data: &[u8]) -> Result<(), Error> {
    let whole =
        HashTree::verify(p.clone(), tree.to_vec(), root).and_then(|t| t.check_data(0, data));
    let mut verifier = Verifier::new(p.clone(), root).unwrap();
    let mut read = |offset: u64, buf: &mut [u8]| -> Result<(), std::convert::Infallible> {
        let at = usize::try_from(offset).unwrap();
        buf.copy_from_slice(&tree[at..at + buf.len()]);
        Ok(())
    };
    let streamed = match verifier.check_data(0, data, &mut read) {
        Ok(()) => Ok(()),
        Err(VerifyError::Tree(e)) => Err(e),
        Err(VerifyError::Read { source, .. }) => match source {},
    };
    assert_eq!(whole, streamed, "HashTree and Verifier disagree");
    whole
}

/// The case: 256 data blocks formatted, the count lowered to 129, the
/// blocks past it replaced. Level 0's second block then holds the digests of
/// blocks 128..=255 where only block 128's belongs.
#[test]
fn lowered_data_block_count_is_refused() {
    let full = params(HashAlgorithm::Sha256, HashType::Normal, 4096, 256);
    let mut data = data(&full);
    let tree = build(&full, &data);
    let lowered = Params {
        data_blocks: 129,
        ..full.clone()
    };
    // Same geometry: 1 + 2 hash blocks either way.
    assert_eq!(
        Geometry::new(&lowered).unwrap(),
        Geometry::new(&full).unwrap()
    );
    data.truncate(129 * 4096);
    assert_eq!(
        check(&lowered, tree.as_bytes(), tree.root_hash(), &data),
        Err(Error::SpareArea(SpareArea {
            level: 0,
            block: 2,
            offset: 2 * 4096 + 32,
            digests: 1,
        }))
    );
    // The same tree with the true count is fine.
    let data = self::data(&full);
    check(&full, tree.as_bytes(), tree.root_hash(), &data).unwrap();
}

/// Lowered to a whole number of level-0 blocks, the level-0 blocks are full
/// and the extra digests sit in level 1.
#[test]
fn lowered_count_caught_in_an_upper_level() {
    // 512-byte blocks, 16 sha256 digests each: 300 -> 19 -> 2 -> 1 and
    // 272 -> 17 -> 2 -> 1, stored top first: the smaller tree is a prefix.
    let full = params(HashAlgorithm::Sha256, HashType::Normal, 512, 300);
    let data = data(&full);
    let tree = build(&full, &data);
    let lowered = Params {
        data_blocks: 272,
        ..full.clone()
    };
    let g = Geometry::new(&lowered).unwrap();
    let sizes: Vec<u64> = g.levels.iter().map(|l| l.blocks).collect();
    assert_eq!(sizes, [17, 2, 1]);
    let prefix = &tree.as_bytes()[..20 * 512];
    assert_eq!(
        check(&lowered, prefix, tree.root_hash(), &data[..272 * 512]),
        Err(Error::SpareArea(SpareArea {
            level: 1,
            block: 2,
            offset: 2 * 512 + 32,
            digests: 1,
        }))
    );
}

/// Every spare byte of every hash block, in trees with padded digests (sha1
/// type 1), packed digests (sha1 type 0) and partly filled blocks, is caught
/// and named; no level-0 digest byte is taken for spare (changing it, with
/// the digests above recomputed, leaves a tree that verifies but no longer
/// vouches for its data block).
#[test]
fn every_spare_byte_is_checked() {
    let cases = [
        params(HashAlgorithm::Sha256, HashType::Normal, 512, 40),
        params(HashAlgorithm::Sha1, HashType::Normal, 512, 40),
        params(HashAlgorithm::Sha1, HashType::ChromeOs, 512, 40),
        params(HashAlgorithm::Sha512, HashType::Normal, 512, 65),
    ];
    for p in cases {
        let name = format!("{:?} type {}", p.algorithm, p.hash_type.number());
        let data = data(&p);
        let tree = build(&p, &data);
        let g = tree.geometry().clone();
        let hbs = p.hash_block_size as usize;
        let mut bytes = tree.as_bytes().to_vec();
        assert_eq!(rehash(&p, &mut bytes), tree.root_hash(), "{name}: rehash");
        let (mut spare, mut digest_bytes) = (0, 0);
        for (level, l) in g.levels.iter().enumerate() {
            let below = if level == 0 {
                p.data_blocks
            } else {
                g.levels[level - 1].blocks
            };
            for i in 0..l.blocks {
                let held = (below - i * g.hashes_per_block).min(g.hashes_per_block);
                let block = l.first_block + i;
                let start = usize::try_from(block).unwrap() * hbs;
                for at in 0..hbs {
                    let slot = at / g.digest_stride;
                    let in_digest = (slot as u64) < held && at % g.digest_stride < g.digest_size;
                    if in_digest && level > 0 {
                        // rehash() recomputes these: nothing would change.
                        continue;
                    }
                    let mut changed = bytes.clone();
                    changed[start + at] ^= 0x01;
                    let root = rehash(&p, &mut changed);
                    let got = check(&p, &changed, &root, &data);
                    if in_digest {
                        digest_bytes += 1;
                        // A level-0 digest vouches for a data block, which is blamed.
                        let expected = Mismatch {
                            area: Area::Data,
                            block: i * g.hashes_per_block + slot as u64,
                        };
                        assert_eq!(
                            got,
                            Err(Error::Corrupt(expected)),
                            "{name}: byte {at} of block {block}"
                        );
                    } else {
                        spare += 1;
                        let expected = SpareArea {
                            level,
                            block,
                            offset: u64::try_from(start + at).unwrap(),
                            digests: held,
                        };
                        assert_eq!(
                            got,
                            Err(Error::SpareArea(expected)),
                            "{name}: byte {at} of block {block}"
                        );
                    }
                }
            }
        }
        assert!(spare > 0 && digest_bytes > 0, "{name}");
        // Put back: all zero again, the original tree verifies.
        check(&p, &bytes, tree.root_hash(), &data).unwrap();
    }
}
