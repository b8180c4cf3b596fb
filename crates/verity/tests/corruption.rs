//! Exhaustive corruption: every byte of small trees, their data, their root
//! hashes and superblocks is flipped in turn, and each flip must be caught
//! and blamed on exactly the block that holds it.

use verity::{
    Area, Error, HashAlgorithm, HashTree, HashType, Mismatch, Params, SUPERBLOCK_SIZE, Superblock,
    TreeBuilder, Verifier, VerifyError,
};

struct Case {
    name: &'static str,
    params: Params,
    /// Level of each hash block of the tree, worked out by hand from the
    /// format (top level first, at block 0).
    levels_of_blocks: &'static [usize],
}

fn params(
    algorithm: HashAlgorithm,
    hash_type: HashType,
    data_block_size: u32,
    data_blocks: u64,
) -> Params {
    Params {
        hash_type,
        algorithm,
        data_block_size,
        hash_block_size: 512,
        data_blocks,
        salt: b"corruption".to_vec(),
    }
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            // 16 digests per block: 40 -> 3 -> 1.
            name: "sha256 type 1, 40 x 512",
            params: params(HashAlgorithm::Sha256, HashType::Normal, 512, 40),
            levels_of_blocks: &[1, 0, 0, 0],
        },
        Case {
            // 20-byte digests padded to 32: 12 spare bytes after each one.
            name: "sha1 type 1, 40 x 512",
            params: params(HashAlgorithm::Sha1, HashType::Normal, 512, 40),
            levels_of_blocks: &[1, 0, 0, 0],
        },
        Case {
            // Packed 20-byte digests, 16 per block: 192 spare bytes per block.
            name: "sha1 type 0, 40 x 512",
            params: params(HashAlgorithm::Sha1, HashType::ChromeOs, 512, 40),
            levels_of_blocks: &[1, 0, 0, 0],
        },
        Case {
            // 8 digests per block: 65 -> 9 -> 2 -> 1.
            name: "sha512 type 1, 65 x 512",
            params: params(HashAlgorithm::Sha512, HashType::Normal, 512, 65),
            levels_of_blocks: &[2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        },
        Case {
            // No tree at all: the root hash is the digest of the only block.
            name: "sha256 type 1, 1 x 4096",
            params: params(HashAlgorithm::Sha256, HashType::Normal, 4096, 1),
            levels_of_blocks: &[],
        },
    ]
}

fn data(params: &Params) -> Vec<u8> {
    let len = usize::try_from(params.data_size().unwrap()).unwrap();
    (0..len)
        .map(|i| u8::try_from((i * 7 + i / 509) % 256).unwrap())
        .collect()
}

fn build(params: &Params, data: &[u8]) -> HashTree {
    let mut builder = TreeBuilder::new(params.clone()).unwrap();
    builder.update(data).unwrap();
    builder.finish().unwrap()
}

/// Checks all of `data` with a [`Verifier`] reading `tree` on demand.
fn stream_check(p: &Params, tree: &[u8], root: &[u8], data: &[u8]) -> Result<(), Error> {
    let mut verifier = Verifier::new(p.clone(), root)?;
    let mut read = |offset: u64, buf: &mut [u8]| -> Result<(), std::convert::Infallible> {
        let at = usize::try_from(offset).unwrap();
        buf.copy_from_slice(&tree[at..at + buf.len()]);
        Ok(())
    };
    verifier
        .check_data(0, data, &mut read)
        .map_err(|e| match e {
            VerifyError::Tree(e) => e,
            VerifyError::Read { source, .. } => match source {},
        })
}

fn corrupt(area: Area, block: u64) -> Result<(), Error> {
    Err(Error::Corrupt(Mismatch { area, block }))
}

/// The masks the root hash and superblocks are flipped with: all bits, then
/// each bit alone.
const MASKS: [u8; 9] = [0xff, 1, 2, 4, 8, 16, 32, 64, 128];

/// The mask tree and data byte `offset` is flipped with: whole-byte flips
/// alternate with single-bit flips that walk through the bit positions (every
/// mask for every byte would be too slow in debug builds).
fn flip_mask(offset: usize) -> u8 {
    if offset % 2 == 0 {
        0xff
    } else {
        1 << (offset / 2 % 8)
    }
}

#[test]
fn every_tree_byte_flip_is_blamed_on_its_block() {
    for case in cases() {
        let p = &case.params;
        let tree = build(p, &data(p));
        let hbs = p.hash_block_size as usize;
        assert_eq!(tree.as_bytes().len(), case.levels_of_blocks.len() * hbs);
        let mut bytes = tree.as_bytes().to_vec();
        for offset in 0..bytes.len() {
            let block = offset / hbs;
            let expected = corrupt(
                Area::Hash {
                    level: case.levels_of_blocks[block],
                },
                block as u64,
            );
            let mask = flip_mask(offset);
            bytes[offset] ^= mask;
            let got = HashTree::verify(p.clone(), bytes.clone(), tree.root_hash()).map(drop);
            assert_eq!(got, expected, "{}: byte {offset} ^ {mask:#x}", case.name);
            // Reading the tree on demand while checking the data: the same.
            let streamed = stream_check(p, &bytes, tree.root_hash(), &data(p));
            assert_eq!(
                streamed, expected,
                "{}: byte {offset} ^ {mask:#x}, streamed",
                case.name
            );
            bytes[offset] ^= mask;
        }
        // Put back, the tree verifies again.
        HashTree::verify(p.clone(), bytes.clone(), tree.root_hash()).unwrap();
        stream_check(p, &bytes, tree.root_hash(), &data(p)).unwrap();
    }
}

#[test]
fn every_data_byte_flip_is_blamed_on_its_block() {
    for case in cases() {
        let p = &case.params;
        let mut data = data(p);
        let tree = build(p, &data);
        let tree = HashTree::verify(p.clone(), tree.as_bytes().to_vec(), tree.root_hash()).unwrap();
        tree.check_data(0, &data).unwrap();
        let dbs = p.data_block_size as usize;
        for offset in 0..data.len() {
            let mask = flip_mask(offset);
            let block = offset / dbs;
            let expected = corrupt(Area::Data, block as u64);
            data[offset] ^= mask;
            // The flipped block, checked on its own.
            let start = block * dbs;
            assert_eq!(
                tree.check_data(block as u64, &data[start..start + dbs]),
                expected,
                "{}: byte {offset} ^ {mask:#x}, alone",
                case.name
            );
            // Checking the whole device blames the same block. Hashing every
            // block for every flip is slow in debug builds, so do it for the
            // first, a middle and the last byte of each block.
            if [0, dbs / 2 + 1, dbs - 1].contains(&(offset % dbs)) {
                assert_eq!(
                    tree.check_data(0, &data),
                    expected,
                    "{}: byte {offset} ^ {mask:#x}",
                    case.name
                );
            }
            data[offset] ^= mask;
        }
        tree.check_data(0, &data).unwrap();
    }
}

#[test]
fn every_root_hash_flip_is_caught() {
    for case in cases() {
        let p = &case.params;
        let data = data(p);
        let tree = build(p, &data);
        let mut root = tree.root_hash().to_vec();
        for offset in 0..root.len() {
            for mask in MASKS {
                root[offset] ^= mask;
                let got = HashTree::verify(p.clone(), tree.as_bytes().to_vec(), &root);
                if case.levels_of_blocks.is_empty() {
                    // Nothing to check the root against but the data itself.
                    let unchecked = got.unwrap();
                    assert_eq!(unchecked.check_data(0, &data), corrupt(Area::Data, 0));
                } else {
                    let top = case.levels_of_blocks[0];
                    assert_eq!(
                        got.map(drop),
                        corrupt(Area::Hash { level: top }, 0),
                        "{}: root byte {offset} ^ {mask:#x}",
                        case.name
                    );
                }
                root[offset] ^= mask;
            }
        }
    }
}

/// Superblocks written by veritysetup (see tests/fixtures) and two encoded
/// here with extreme salts.
fn superblocks() -> Vec<[u8; SUPERBLOCK_SIZE]> {
    let mut out: Vec<[u8; SUPERBLOCK_SIZE]> = [
        &include_bytes!("fixtures/sha256_512.hash")[..],
        &include_bytes!("fixtures/chromeos_sha512.hash")[..],
        &include_bytes!("fixtures/single_block.hash")[..],
    ]
    .iter()
    .map(|device| device[..SUPERBLOCK_SIZE].try_into().unwrap())
    .collect();
    for (algorithm, hash_type, salt) in [
        (HashAlgorithm::Sha1, HashType::ChromeOs, vec![0xa5; 256]),
        (HashAlgorithm::Sha256, HashType::Normal, vec![]),
    ] {
        let sb = Superblock {
            params: Params {
                hash_type,
                algorithm,
                data_block_size: 1024,
                hash_block_size: 2048,
                data_blocks: 0x0102_0304_0506_0708,
                salt,
            },
            uuid: *b"0123456789abcdef",
        };
        out.push(sb.encode().unwrap());
    }
    out
}

/// Offsets of the algorithm name field, which is compared case-insensitively
/// (as cryptsetup 2.6.1 does: `veritysetup dump` and `verify` accept "SHA256").
const ALGORITHM_NAME: std::ops::Range<usize> = 32..64;

#[test]
fn every_superblock_byte_flip_fails_or_changes_the_result() {
    for original in superblocks() {
        let parsed = Superblock::parse(&original).unwrap();
        assert_eq!(parsed.encode().unwrap(), original);
        for offset in 0..SUPERBLOCK_SIZE {
            for mask in MASKS {
                let mut b = original;
                b[offset] ^= mask;
                let Ok(flipped) = Superblock::parse(&b) else {
                    continue;
                };
                assert_ne!(flipped, parsed, "byte {offset} ^ {mask:#x} went unnoticed");
                // A change the parser accepts must show up in what it returns
                // and survive re-encoding.
                assert_eq!(flipped.encode().unwrap(), b, "byte {offset} ^ {mask:#x}");
            }
        }
    }
}

#[test]
fn superblock_algorithm_name_must_be_the_kernel_name() {
    let original = superblocks()[0];
    let mut upper = original;
    upper[ALGORITHM_NAME].make_ascii_uppercase();
    assert_eq!(&upper[32..39], b"SHA256\0");
    // veritysetup accepts "SHA256", but the kernel's crypto API would not.
    let err = Superblock::parse(&upper).unwrap_err();
    assert_eq!(err.offset, 32);
    assert!(matches!(err.kind, verity::SuperblockErrorKind::Algorithm(ref n) if n == "SHA256"));
}

/// Regression: `first + count` used to be computed unchecked in
/// `check_data`. In release builds it wrapped past the range check, and the
/// level-0 blocks of a tree whose level 1 is full then "verified" as 16 data
/// blocks at index `u64::MAX - 15`; debug builds panicked.
#[test]
fn check_data_refuses_blocks_past_the_end_without_wrapping() {
    let p = Params {
        hash_type: HashType::Normal,
        algorithm: HashAlgorithm::Sha256,
        data_block_size: 512,
        hash_block_size: 512,
        data_blocks: 256,
        salt: Vec::new(),
    };
    let tree = build(&p, &vec![0x5a; 256 * 512]);
    // Level 1 is hash block 0 (16 digests), level 0 hash blocks 1..=16.
    let level0 = &tree.as_bytes()[512..];
    assert_eq!(level0.len(), 16 * 512);
    for first in [u64::MAX - 15, u64::MAX - 1, u64::MAX, 241, 256] {
        assert_eq!(
            tree.check_data(first, level0),
            Err(Error::DataBlockCount {
                got: first.saturating_add(16),
                expected: 256
            }),
            "first {first}"
        );
    }
    assert!(matches!(
        tree.check_data(u64::MAX, &[]),
        Err(Error::DataBlockCount { .. })
    ));
    tree.check_data(256, &[]).unwrap();
}
