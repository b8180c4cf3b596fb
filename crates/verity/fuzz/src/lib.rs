//! The checks behind the fuzz targets, one function per target.
//!
//! `crates/verity/tests/fuzz_corpus.rs` includes this file with `#[path]` and
//! replays the committed corpus through the same functions, so keep it free
//! of dependencies other than `verity`.

use std::convert::Infallible;

use verity::{Area, Error, Geometry, HashAlgorithm, HashTree, HashType, Params, Superblock};
use verity::{SUPERBLOCK_SIZE, TreeBuilder, Verifier, VerifyError};

/// How far an input got, so that the corpus replay can tell that the corpus
/// still reaches the deep end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// Rejected early: too short, or a superblock that does not parse.
    Rejected,
    /// `HashTree::verify` refused the stored tree: a block does not match.
    TreeRefused,
    /// `HashTree::verify` refused the stored tree: a block matches but its
    /// spare area is not zero (a tree made for more data blocks).
    SpareRefused,
    /// The tree verified; `check_data` refused the data.
    DataRefused,
    /// The tree verified and the data checked.
    DataChecked,
    /// As `DataChecked`, for all the data, and `TreeBuilder` made the same tree
    /// (for the superblock target: parsed and re-encoded).
    RoundTrip,
}

/// Target `superblock`: parse arbitrary bytes; whatever parses encodes, and
/// re-parses to the same value. Encoding gives back the input's first 512
/// bytes exactly.
pub fn superblock(data: &[u8]) -> Outcome {
    let Ok(parsed) = Superblock::parse(data) else {
        return Outcome::Rejected;
    };
    let encoded = parsed.encode().expect("a parsed superblock encodes");
    assert_eq!(Superblock::parse(&encoded).as_ref(), Ok(&parsed));
    assert_eq!(encoded[..], data[..SUPERBLOCK_SIZE]);
    Outcome::RoundTrip
}

/// Target `verify_tree`. Input layout:
///
/// ```text
/// byte 0   bits 0-1 data block size (512 << n), bits 2-3 hash block size,
///          bits 4-5 algorithm (sha1, sha256, sha512, sha256), bit 6 hash type
/// byte 1   data blocks, 1 + n % 64
/// byte 2   salt length
/// byte 3   first data block for check_data: n % 65 if n < 128,
///          else u64::MAX - (n - 128)
/// then     salt, root hash (digest size), stored tree (its exact size, or
///          whatever is left), data (the rest)
/// ```
///
/// Must never panic; checks every result against what the input allows,
/// that `Verifier` (reading the tree on demand) agrees with `HashTree` on
/// the data once the tree verifies, and, when a tree verifies and all the
/// data checks, that the tree is the one `TreeBuilder` makes from that data.
pub fn verify_tree(input: &[u8]) -> Outcome {
    let Some((&[shape, blocks, salt_len, first], rest)) = input.split_first_chunk::<4>() else {
        return Outcome::Rejected;
    };
    let (salt, rest) = rest.split_at(usize::from(salt_len).min(rest.len()));
    let params = Params {
        hash_type: if shape & 0x40 == 0 {
            HashType::Normal
        } else {
            HashType::ChromeOs
        },
        algorithm: [
            HashAlgorithm::Sha1,
            HashAlgorithm::Sha256,
            HashAlgorithm::Sha512,
            HashAlgorithm::Sha256,
        ][usize::from(shape >> 4 & 3)],
        data_block_size: 512 << (shape & 3),
        hash_block_size: 512 << (shape >> 2 & 3),
        data_blocks: 1 + u64::from(blocks % 64),
        salt: salt.to_vec(),
    };
    let first = if first < 128 {
        u64::from(first % 65)
    } else {
        u64::MAX - u64::from(first - 128)
    };
    let geometry = Geometry::new(&params).expect("valid parameters");
    let tree_len = usize::try_from(geometry.tree_bytes()).expect("small tree");
    let (root, rest) = rest.split_at(params.algorithm.digest_size().min(rest.len()));
    let (stored, data) = rest.split_at(tree_len.min(rest.len()));

    // With all the data, reading the tree on demand reads every hash block:
    // a tree refused whole is refused that way too.
    let all_data = first == 0 && params.data_size().is_ok_and(|n| n == data.len() as u64);
    let streamed_all =
        (all_data && stored.len() == tree_len && root.len() == params.algorithm.digest_size())
            .then(|| stream_check(&params, root, stored, first, data));
    let refused = || {
        if let Some(streamed) = &streamed_all {
            assert!(streamed.is_err(), "Verifier accepted a refused tree");
        }
        Outcome::TreeRefused
    };
    let tree = match HashTree::verify(params.clone(), stored.to_vec(), root) {
        Ok(tree) => tree,
        Err(Error::TreeSize { got, expected }) => {
            assert!(got == stored.len() && got < tree_len && expected == geometry.tree_bytes());
            return Outcome::TreeRefused;
        }
        Err(Error::RootHashLength { got, expected, .. }) => {
            assert!(got == root.len() && got < expected && stored.is_empty());
            return Outcome::TreeRefused;
        }
        Err(Error::Corrupt(m)) => {
            // Blamed on a hash block of the level that holds it.
            let Area::Hash { level } = m.area else {
                panic!("verify blamed data: {m:?}");
            };
            let l = geometry.levels[level];
            assert!((l.first_block..l.first_block + l.blocks).contains(&m.block));
            return refused();
        }
        Err(Error::SpareArea(s)) => {
            // Named inside the block, after the digests it holds.
            let l = geometry.levels[s.level];
            assert!((l.first_block..l.first_block + l.blocks).contains(&s.block));
            let hbs = u64::from(params.hash_block_size);
            assert!((s.block * hbs..(s.block + 1) * hbs).contains(&s.offset));
            assert!(s.digests >= 1 && s.digests <= geometry.hashes_per_block);
            let at = s.offset - s.block * hbs;
            let stride = geometry.digest_stride as u64;
            assert!(at >= s.digests * stride || at % stride >= geometry.digest_size as u64);
            refused();
            return Outcome::SpareRefused;
        }
        Err(e) => panic!("unexpected error from verify: {e:?}"),
    };
    assert_eq!(tree.root_hash(), root);
    assert_eq!(tree.as_bytes(), stored);

    let dbs = params.data_block_size as usize;
    let count = (data.len() / dbs) as u64;
    // Reading the tree on demand agrees: it accepts what the trusted tree
    // accepts, and refuses data the same way.
    let streamed = stream_check(&params, root, stored, first, data);
    assert_eq!(streamed, tree.check_data(first, data));
    match tree.check_data(first, data) {
        Ok(()) => {
            assert!(data.len() % dbs == 0 && first + count <= params.data_blocks);
            if first == 0 && count == params.data_blocks {
                let mut builder = TreeBuilder::new(params).expect("valid parameters");
                builder.update(data).expect("whole blocks");
                let built = builder.finish().expect("all blocks");
                assert_eq!(built.root_hash(), root);
                assert_eq!(built.as_bytes(), stored);
                return Outcome::RoundTrip;
            }
            Outcome::DataChecked
        }
        Err(Error::PartialBlock { len, .. }) => {
            assert!(len == data.len() && len % dbs != 0);
            Outcome::DataRefused
        }
        Err(Error::DataBlockCount { got, expected }) => {
            assert!(expected == params.data_blocks && got > expected);
            assert_eq!(got, first.saturating_add(count));
            Outcome::DataRefused
        }
        Err(Error::Corrupt(m)) => {
            assert_eq!(m.area, Area::Data);
            assert!(first <= m.block && m.block < first + count);
            Outcome::DataRefused
        }
        Err(e) => panic!("unexpected error from check_data: {e:?}"),
    }
}

/// Checks `data` from block `first` with a [`Verifier`] reading `stored` on demand.
fn stream_check(
    params: &Params,
    root: &[u8],
    stored: &[u8],
    first: u64,
    data: &[u8],
) -> Result<(), Error> {
    let mut verifier = Verifier::new(params.clone(), root)?;
    let mut read = |offset: u64, buf: &mut [u8]| -> Result<(), Infallible> {
        let at = usize::try_from(offset).expect("offset inside the tree");
        buf.copy_from_slice(&stored[at..at + buf.len()]);
        Ok(())
    };
    verifier
        .check_data(first, data, &mut read)
        .map_err(|e| match e {
            VerifyError::Tree(e) => e,
            VerifyError::Read { source, .. } => match source {},
        })
}
