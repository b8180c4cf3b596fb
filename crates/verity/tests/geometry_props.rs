//! Property tests: [`Geometry`] against a naive model written from the
//! kernel documentation, and [`TreeBuilder`] / [`HashTree`] agreeing with
//! each other on random small devices.

use proptest::prelude::*;
use verity::{
    Error, Geometry, HashAlgorithm, HashTree, HashType, Level, Params, TreeBuilder, Verifier,
};

const ALGORITHMS: [HashAlgorithm; 3] = [
    HashAlgorithm::Sha1,
    HashAlgorithm::Sha256,
    HashAlgorithm::Sha512,
];
const BLOCK_SIZES: [u32; 4] = [512, 1024, 2048, 4096];

/// The tree shape, computed the slow obvious way, in `u128` so that nothing
/// overflows even for `u64::MAX` data blocks.
#[derive(Debug)]
struct Model {
    digest_size: usize,
    stride: usize,
    hashes_per_block: u64,
    /// Index 0 hashes the data; `(first_block, blocks)`.
    levels: Vec<(u128, u128)>,
    tree_bytes: u128,
}

fn model(algorithm: HashAlgorithm, hash_type: HashType, hash_block_size: u32, n: u64) -> Model {
    let digest_size: usize = match algorithm {
        HashAlgorithm::Sha1 => 20,
        HashAlgorithm::Sha256 => 32,
        HashAlgorithm::Sha512 => 64,
    };
    // Type 1 pads each digest to a power of two; type 0 packs them.
    let stride = match hash_type {
        HashType::Normal => {
            let mut s = 1;
            while s < digest_size {
                s *= 2;
            }
            s
        }
        HashType::ChromeOs => digest_size,
    };
    // As many digests as fit in a block, rounded down to a power of two.
    let fit = hash_block_size as usize / digest_size;
    let mut hashes_per_block = 1u64;
    while hashes_per_block * 2 <= fit as u64 {
        hashes_per_block *= 2;
    }
    // Each level holds one digest per block of the level below, until a
    // level fits in a single block.
    let mut sizes = Vec::new();
    let mut below = u128::from(n);
    while below > 1 {
        below = below.div_ceil(u128::from(hashes_per_block));
        sizes.push(below);
    }
    // Stored top level first, from block 0.
    let mut levels = vec![(0, 0); sizes.len()];
    let mut position = 0u128;
    for i in (0..sizes.len()).rev() {
        levels[i] = (position, sizes[i]);
        position += sizes[i];
    }
    Model {
        digest_size,
        stride,
        hashes_per_block,
        levels,
        tree_bytes: position * u128::from(hash_block_size),
    }
}

fn algorithm() -> impl Strategy<Value = HashAlgorithm> {
    prop::sample::select(&ALGORITHMS[..])
}

fn hash_type() -> impl Strategy<Value = HashType> {
    prop_oneof![Just(HashType::ChromeOs), Just(HashType::Normal)]
}

fn block_size() -> impl Strategy<Value = u32> {
    prop::sample::select(&BLOCK_SIZES[..])
}

/// Data block counts up to 2^40, weighted towards level boundaries
/// (powers of two plus or minus a little).
fn data_blocks() -> impl Strategy<Value = u64> {
    prop_oneof![
        1..=300u64,
        1..=1u64 << 40,
        (0..=40u32, -2..=2i64).prop_map(|(e, d)| (1u64 << e).saturating_add_signed(d).max(1)),
    ]
}

fn params(
    algorithm: HashAlgorithm,
    hash_type: HashType,
    data_block_size: u32,
    hash_block_size: u32,
    data_blocks: u64,
) -> Params {
    Params {
        hash_type,
        algorithm,
        data_block_size,
        hash_block_size,
        data_blocks,
        salt: Vec::new(),
    }
}

/// Checks `g` against the model and against the layout rules directly.
fn check_geometry(g: &Geometry, m: &Model, hash_block_size: u32, n: u64) {
    assert_eq!(g.digest_size, m.digest_size);
    assert_eq!(g.digest_stride, m.stride);
    assert_eq!(g.hashes_per_block, m.hashes_per_block);
    assert_eq!(g.hash_block_size, hash_block_size);
    let levels: Vec<(u128, u128)> = g
        .levels
        .iter()
        .map(|l| (u128::from(l.first_block), u128::from(l.blocks)))
        .collect();
    assert_eq!(levels, m.levels);
    assert_eq!(u128::from(g.tree_bytes()), m.tree_bytes);

    // The same rules, stated on the library's output.
    let hbs = u64::from(hash_block_size);
    assert!(g.hashes_per_block.is_power_of_two());
    assert!(g.hashes_per_block * g.digest_stride as u64 <= hbs);
    assert!(g.digest_stride >= g.digest_size);
    assert_eq!(g.levels.is_empty(), n == 1);
    if let Some(top) = g.levels.last() {
        assert_eq!(
            *top,
            Level {
                first_block: 0,
                blocks: 1
            }
        );
    }
    // Contiguous, top level first.
    for pair in g.levels.windows(2) {
        assert_eq!(pair[0].first_block, pair[1].first_block + pair[1].blocks);
    }
    // Each level has room for a digest of every block below, and no
    // block more than it needs.
    let mut below = n;
    for l in &g.levels {
        assert!(u128::from(l.blocks) * u128::from(g.hashes_per_block) >= u128::from(below));
        assert!((l.blocks - 1) * g.hashes_per_block < below);
        below = l.blocks;
    }
    assert_eq!(
        g.tree_blocks(),
        g.levels.iter().map(|l| l.blocks).sum::<u64>()
    );
    assert_eq!(g.tree_bytes(), g.tree_blocks() * hbs);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn geometry_matches_naive_model(
        algorithm in algorithm(),
        hash_type in hash_type(),
        data_block_size in block_size(),
        hash_block_size in block_size(),
        n in data_blocks(),
    ) {
        let p = params(algorithm, hash_type, data_block_size, hash_block_size, n);
        let g = Geometry::new(&p).unwrap();
        check_geometry(&g, &model(algorithm, hash_type, hash_block_size, n), hash_block_size, n);
    }

    /// Over the whole `u64` range the geometry is either the model's or, when
    /// the tree's byte size does not fit in 64 bits, `TooLarge`.
    #[test]
    fn geometry_is_model_or_too_large(
        algorithm in algorithm(),
        hash_type in hash_type(),
        hash_block_size in block_size(),
        n in prop_oneof![1..=u64::MAX, (u64::MAX - 1000)..=u64::MAX, (50..=64u32).prop_map(|e| u64::MAX >> (64 - e))],
    ) {
        let p = params(algorithm, hash_type, 4096, hash_block_size, n);
        let m = model(algorithm, hash_type, hash_block_size, n);
        match Geometry::new(&p) {
            Ok(g) => check_geometry(&g, &m, hash_block_size, n),
            Err(e) => {
                prop_assert_eq!(e, Error::TooLarge(n));
                prop_assert!(m.tree_bytes > u128::from(u64::MAX), "{:?}", m);
            }
        }
    }
}

/// splitmix64, so that the data of a case is cheap to generate and to shrink.
fn pseudo_random_data(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Feeds `data` to a builder in chunks of `split[i]` blocks, cycling through
/// `split` (a zero-block chunk is an empty update; `split` must not be all
/// zeros).
fn build(params: &Params, data: &[u8], split: &[usize]) -> HashTree {
    let dbs = params.data_block_size as usize;
    let mut builder = TreeBuilder::new(params.clone()).unwrap();
    let mut rest = data;
    for &blocks in split.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (chunk, tail) = rest.split_at((blocks * dbs).min(rest.len()));
        builder.update(chunk).unwrap();
        rest = tail;
    }
    builder.finish().unwrap()
}

prop_compose! {
    fn small_params()(
        algorithm in algorithm(),
        hash_type in hash_type(),
        data_block_size in block_size(),
        hash_block_size in block_size(),
        data_blocks in prop_oneof![1..=20u64, 1..=300u64],
        salt in prop::collection::vec(any::<u8>(), 0..=256),
    ) -> Params {
        Params { hash_type, algorithm, data_block_size, hash_block_size, data_blocks, salt }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn built_trees_verify_and_splits_do_not_matter(
        params in small_params(),
        seed in any::<u64>(),
        // Zero-block chunks are empty updates; at least one chunk must not be.
        split_a in prop::collection::vec(0..=40usize, 1..8)
            .prop_filter("all chunks empty", |s| s.iter().any(|&b| b > 0)),
        split_b in prop::collection::vec(1..=300usize, 1..4),
        range in (any::<prop::sample::Index>(), any::<prop::sample::Index>()),
    ) {
        let len = usize::try_from(params.data_size().unwrap()).unwrap();
        let data = pseudo_random_data(seed, len);
        let a = build(&params, &data, &split_a);
        let b = build(&params, &data, &split_b);
        let whole = build(&params, &data, &[usize::try_from(params.data_blocks).unwrap()]);
        prop_assert!(a.as_bytes() == b.as_bytes());
        prop_assert!(a.as_bytes() == whole.as_bytes());
        prop_assert_eq!(a.root_hash(), b.root_hash());
        prop_assert_eq!(a.root_hash(), whole.root_hash());
        prop_assert_eq!(a.root_hash().len(), params.algorithm.digest_size());
        prop_assert_eq!(a.as_bytes().len() as u64, a.geometry().tree_bytes());

        let verified = HashTree::verify(params.clone(), a.as_bytes().to_vec(), a.root_hash()).unwrap();
        verified.check_data(0, &data).unwrap();
        a.check_data(0, &data).unwrap();
        // Any run of whole blocks checks on its own too.
        let blocks = usize::try_from(params.data_blocks).unwrap();
        let (x, y) = (range.0.index(blocks + 1), range.1.index(blocks + 1));
        let (lo, hi) = (x.min(y), x.max(y));
        let dbs = params.data_block_size as usize;
        verified.check_data(lo as u64, &data[lo * dbs..hi * dbs]).unwrap();

        // Reading the tree on demand, in chunks of `split_b` blocks, checks too.
        let mut verifier = Verifier::new(params.clone(), a.root_hash()).unwrap();
        let tree = a.as_bytes();
        let mut read = |offset: u64, buf: &mut [u8]| -> Result<(), std::convert::Infallible> {
            let at = usize::try_from(offset).unwrap();
            buf.copy_from_slice(&tree[at..at + buf.len()]);
            Ok(())
        };
        let mut done = 0;
        for &blocks in split_b.iter().cycle() {
            if done == data.len() / dbs {
                break;
            }
            let end = (done + blocks).min(data.len() / dbs);
            verifier.check_data(done as u64, &data[done * dbs..end * dbs], &mut read).unwrap();
            done = end;
        }
    }
}
