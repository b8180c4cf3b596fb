//! [`Verifier`] reads the stored tree on demand: only the hash blocks that
//! vouch for the data being checked, each checked before use. A huge tree
//! costs no memory, and a bad one is refused after reading one path.

use std::convert::Infallible;

use verity::{
    Area, Error, HashAlgorithm, HashTree, HashType, Mismatch, Params, TreeBuilder, Verifier,
    VerifyError,
};

fn params(data_blocks: u64, block_size: u32) -> Params {
    Params {
        hash_type: HashType::Normal,
        algorithm: HashAlgorithm::Sha256,
        data_block_size: block_size,
        hash_block_size: block_size,
        data_blocks,
        salt: b"verifier".to_vec(),
    }
}

fn data(params: &Params) -> Vec<u8> {
    let len = usize::try_from(params.data_size().unwrap()).unwrap();
    (0..len)
        .map(|i| u8::try_from((i * 31 + i / 509) % 256).unwrap())
        .collect()
}

fn build(params: &Params, data: &[u8]) -> HashTree {
    let mut builder = TreeBuilder::new(params.clone()).unwrap();
    builder.update(data).unwrap();
    builder.finish().unwrap()
}

/// A reader over `tree` that records every read as (offset, length).
fn reader<'a>(
    tree: &'a [u8],
    reads: &'a mut Vec<(u64, usize)>,
) -> impl FnMut(u64, &mut [u8]) -> Result<(), Infallible> + 'a {
    move |offset, buf| {
        reads.push((offset, buf.len()));
        let at = usize::try_from(offset).unwrap();
        buf.copy_from_slice(&tree[at..at + buf.len()]);
        Ok(())
    }
}

/// The case: a superblock claiming 2^32 - 1 data blocks of 4 KiB
/// (a 129 GiB tree). Checking the first data block reads the top block
/// only, finds it does not match the root hash, and stops: no allocation
/// follows the claimed size.
#[test]
fn huge_claim_reads_one_block() {
    let p = params((1 << 32) - 1, 4096);
    let mut verifier = Verifier::new(p.clone(), &[0x11; 32]).unwrap();
    let tree_bytes = verifier.geometry().tree_bytes();
    assert_eq!(tree_bytes, 33_818_641 * 4096);
    let top = verifier.geometry().levels.len() - 1;
    let mut reads = Vec::new();
    let mut read = |offset: u64, buf: &mut [u8]| -> Result<(), Infallible> {
        reads.push((offset, buf.len()));
        buf.fill(0);
        Ok(())
    };
    let got = verifier.check_data(0, &[0u8; 4096], &mut read);
    assert!(
        matches!(
            got,
            Err(VerifyError::Tree(Error::Corrupt(Mismatch {
                area: Area::Hash { level },
                block: 0,
            }))) if level == top
        ),
        "{got:?}"
    );
    assert_eq!(reads, [(0, 4096)]);
}

/// Data checked in order, a few blocks at a time: every hash block is read
/// (a block shared by two calls may be read again), one path's worth at a
/// time, and a corrupt block is blamed as `HashTree::verify` blames it.
#[test]
fn reads_follow_the_data() {
    // 512-byte blocks, 16 digests each: 300 -> 19 -> 2 -> 1.
    let p = params(300, 512);
    let data = data(&p);
    let tree = build(&p, &data);
    let mut reads = Vec::new();
    let mut verifier = Verifier::new(p.clone(), tree.root_hash()).unwrap();
    let mut read = reader(tree.as_bytes(), &mut reads);
    // One data block: one hash block per level, top first.
    verifier.check_data(0, &data[..512], &mut read).unwrap();
    for chunk in 1..300 / 7 + 1 {
        let (lo, hi) = (chunk * 7 - 6, (chunk * 7 + 1).min(300));
        verifier
            .check_data(lo as u64, &data[lo * 512..hi * 512], &mut read)
            .unwrap();
    }
    drop(read);
    assert_eq!(reads[..3], [(0, 512), (512, 512), (1536, 512)]);
    assert!(reads.iter().all(|&(_, len)| len <= 2 * 512), "{reads:?}");
    let mut seen = [false; 22];
    for &(offset, len) in &reads {
        let first = usize::try_from(offset).unwrap() / 512;
        seen[first..first + len / 512].fill(true);
    }
    assert!(seen.iter().all(|&s| s), "{reads:?}");

    // Each hash block flipped: blamed on that block, as HashTree does.
    let mut bytes = tree.as_bytes().to_vec();
    for block in 0..22 {
        bytes[block * 512 + 3] ^= 0x10;
        let whole = HashTree::verify(p.clone(), bytes.clone(), tree.root_hash()).map(drop);
        let mut verifier = Verifier::new(p.clone(), tree.root_hash()).unwrap();
        let mut reads = Vec::new();
        let streamed = data
            .chunks(512 * 64)
            .enumerate()
            .try_for_each(|(i, chunk)| {
                verifier.check_data(i as u64 * 64, chunk, &mut reader(&bytes, &mut reads))
            })
            .map_err(|e| match e {
                VerifyError::Tree(e) => e,
                VerifyError::Read { source, .. } => match source {},
            });
        assert!(matches!(whole, Err(Error::Corrupt(_))), "{whole:?}");
        assert_eq!(streamed, whole, "block {block}");
        bytes[block * 512 + 3] ^= 0x10;
    }
}

/// A failing reader is reported with the bytes asked for, and leaves no
/// unchecked bytes behind: the next call reads again.
#[test]
fn read_errors_are_reported() {
    let p = params(40, 512);
    let data = data(&p);
    let tree = build(&p, &data);
    let mut verifier = Verifier::new(p, tree.root_hash()).unwrap();
    let mut fail = |_: u64, _: &mut [u8]| Err("disk on fire");
    match verifier.check_data(0, &data[..512], &mut fail) {
        Err(VerifyError::Read {
            offset: 0,
            len: 512,
            source: "disk on fire",
        }) => {}
        other => panic!("{other:?}"),
    }
    let mut reads = Vec::new();
    verifier
        .check_data(0, &data, &mut reader(tree.as_bytes(), &mut reads))
        .unwrap();
    assert_eq!(reads.first(), Some(&(0, 512)));
}

/// Bad calls are refused like `HashTree::check_data` refuses them.
#[test]
fn bad_calls() {
    let p = params(40, 512);
    let data = data(&p);
    let tree = build(&p, &data);
    assert!(matches!(
        Verifier::new(p.clone(), &[0; 31]),
        Err(Error::RootHashLength {
            got: 31,
            expected: 32,
            ..
        })
    ));
    let mut verifier = Verifier::new(p, tree.root_hash()).unwrap();
    let mut reads = Vec::new();
    let mut read = reader(tree.as_bytes(), &mut reads);
    for (first, len, expected) in [
        (
            0,
            100,
            Error::PartialBlock {
                len: 100,
                block_size: 512,
            },
        ),
        (
            39,
            1024,
            Error::DataBlockCount {
                got: 41,
                expected: 40,
            },
        ),
        (
            u64::MAX,
            512,
            Error::DataBlockCount {
                got: u64::MAX,
                expected: 40,
            },
        ),
    ] {
        match verifier.check_data(first, &data[..len], &mut read) {
            Err(VerifyError::Tree(e)) => assert_eq!(e, expected),
            other => panic!("{other:?}"),
        }
    }
    verifier.check_data(40, &[], &mut read).unwrap();
    drop(read);
    assert!(reads.is_empty(), "{reads:?}");
}

/// One data block has no tree: the root hash is its digest, nothing is read.
#[test]
fn single_block() {
    let p = params(1, 4096);
    let data = data(&p);
    let tree = build(&p, &data);
    let mut verifier = Verifier::new(p, tree.root_hash()).unwrap();
    let mut read = |_: u64, _: &mut [u8]| -> Result<(), Infallible> { panic!("no tree to read") };
    verifier.check_data(0, &data, &mut read).unwrap();
    let mut other = data.clone();
    other[7] ^= 1;
    match verifier.check_data(0, &other, &mut read) {
        Err(VerifyError::Tree(Error::Corrupt(Mismatch {
            area: Area::Data,
            block: 0,
        }))) => {}
        other => panic!("{other:?}"),
    }
}

/// Building a tree too large for memory is an error, not an abort on a
/// failed allocation.
#[test]
fn huge_tree_to_build_is_an_error() {
    // 128 digests per block: 2^55 data blocks need 2^48 level-0 blocks,
    // about 2^60 bytes of tree.
    let p = params(1 << 55, 4096);
    let bytes = verity::Geometry::new(&p).unwrap().tree_bytes();
    assert!(bytes > 1 << 60, "{bytes}");
    assert_eq!(
        TreeBuilder::new(p).map(drop),
        Err(Error::OutOfMemory(bytes))
    );
}
