//! Byte-for-byte comparison with hash devices written by `veritysetup format`
//! (cryptsetup 2.6.1). The fixtures and the command lines that made them are in
//! `tests/fixtures/`; `tests/fixtures/generate.py` regenerates them. The data
//! devices are not committed: byte `i` is `(i * 31 + (i >> 8)) % 251`.

use verity::{
    Geometry, HashAlgorithm, HashTree, HashType, Params, SUPERBLOCK_SIZE, Superblock, TreeBuilder,
    tree_offset,
};

struct Fixture {
    name: &'static str,
    hash_device: &'static [u8],
    meta: &'static str,
}

const FIXTURES: [Fixture; 4] = [
    Fixture {
        name: "sha256_512",
        hash_device: include_bytes!("fixtures/sha256_512.hash"),
        meta: include_str!("fixtures/sha256_512.json"),
    },
    Fixture {
        name: "sha1_4096_nosb",
        hash_device: include_bytes!("fixtures/sha1_4096_nosb.hash"),
        meta: include_str!("fixtures/sha1_4096_nosb.json"),
    },
    Fixture {
        name: "chromeos_sha512",
        hash_device: include_bytes!("fixtures/chromeos_sha512.hash"),
        meta: include_str!("fixtures/chromeos_sha512.json"),
    },
    Fixture {
        name: "single_block",
        hash_device: include_bytes!("fixtures/single_block.hash"),
        meta: include_str!("fixtures/single_block.json"),
    },
];

/// What veritysetup was told and what it printed, from `<name>.json`.
struct Meta {
    params: Params,
    uuid: Option<[u8; 16]>,
    root: Vec<u8>,
}

fn load(f: &Fixture) -> Meta {
    let v: serde_json::Value = serde_json::from_str(f.meta).expect("fixture JSON");
    let num = |k: &str| v[k].as_u64().unwrap_or_else(|| panic!("{}: {k}", f.name));
    let text = |k: &str| v[k].as_str().unwrap_or_else(|| panic!("{}: {k}", f.name));
    let params = Params {
        hash_type: HashType::from_number(num("format")).unwrap(),
        algorithm: HashAlgorithm::from_name(text("hash")).unwrap(),
        data_block_size: u32::try_from(num("data_block_size")).unwrap(),
        hash_block_size: u32::try_from(num("hash_block_size")).unwrap(),
        data_blocks: num("data_blocks"),
        salt: hex::decode(text("salt")).unwrap(),
    };
    let superblock = v["superblock"].as_bool().unwrap();
    let uuid = superblock.then(|| {
        hex::decode(text("uuid").replace('-', ""))
            .unwrap()
            .try_into()
            .unwrap()
    });
    Meta {
        params,
        uuid,
        root: hex::decode(text("root_hash")).unwrap(),
    }
}

/// The data device veritysetup hashed.
fn data(params: &Params) -> Vec<u8> {
    let len = usize::try_from(params.data_size().unwrap()).unwrap();
    (0..len)
        .map(|i| u8::try_from((i * 31 + (i >> 8)) % 251).unwrap())
        .collect()
}

/// Where veritysetup put the tree: right after the superblock, rounded up to
/// a hash block, or at 0 without a superblock.
fn expected_tree_offset(params: &Params, superblock: bool) -> usize {
    let hbs = params.hash_block_size as usize;
    if superblock {
        SUPERBLOCK_SIZE.div_ceil(hbs) * hbs
    } else {
        0
    }
}

fn build(params: &Params, data: &[u8], chunk_blocks: usize) -> HashTree {
    let mut builder = TreeBuilder::new(params.clone()).unwrap();
    for chunk in data.chunks(chunk_blocks * params.data_block_size as usize) {
        builder.update(chunk).unwrap();
    }
    builder.finish().unwrap()
}

#[test]
fn fixtures_are_what_their_metadata_says() {
    for f in &FIXTURES {
        let m = load(f);
        let g = Geometry::new(&m.params).unwrap();
        let offset = expected_tree_offset(&m.params, m.uuid.is_some());
        assert_eq!(
            f.hash_device.len() as u64,
            offset as u64 + g.tree_bytes(),
            "{}: hash device size",
            f.name
        );
        assert_eq!(m.root.len(), m.params.algorithm.digest_size(), "{}", f.name);
    }
}

#[test]
fn tree_builder_reproduces_veritysetup() {
    for f in &FIXTURES {
        let m = load(f);
        let data = data(&m.params);
        let offset = expected_tree_offset(&m.params, m.uuid.is_some());
        assert_eq!(
            tree_offset(0, m.params.hash_block_size, m.uuid.is_some()).unwrap(),
            offset as u64,
            "{}: tree offset",
            f.name
        );
        let stored = &f.hash_device[offset..];
        // Feeding a block at a time, 7 at a time or all at once makes no difference.
        let all = usize::try_from(m.params.data_blocks).unwrap();
        for chunk_blocks in [1, 7, all] {
            let tree = build(&m.params, &data, chunk_blocks);
            assert_eq!(
                hex::encode(tree.root_hash()),
                hex::encode(&m.root),
                "{}: root hash",
                f.name
            );
            assert!(tree.as_bytes() == stored, "{}: tree bytes differ", f.name);
        }
    }
}

#[test]
fn stored_trees_verify_against_veritysetup_root() {
    for f in &FIXTURES {
        let m = load(f);
        let offset = expected_tree_offset(&m.params, m.uuid.is_some());
        let tree =
            HashTree::verify(m.params.clone(), f.hash_device[offset..].to_vec(), &m.root).unwrap();
        tree.check_data(0, &data(&m.params)).unwrap();
        assert_eq!(tree.root_hash(), &m.root[..]);
    }
}

#[test]
fn superblocks_parse_and_encode_identically() {
    let mut seen = 0;
    for f in &FIXTURES {
        let m = load(f);
        let Some(uuid) = m.uuid else {
            // veritysetup --no-superblock: the device starts with the tree.
            assert!(Superblock::parse(f.hash_device).is_err(), "{}", f.name);
            continue;
        };
        seen += 1;
        let raw = &f.hash_device[..SUPERBLOCK_SIZE];
        let parsed = Superblock::parse(f.hash_device).unwrap();
        assert_eq!(
            parsed,
            Superblock {
                params: m.params.clone(),
                uuid
            },
            "{}",
            f.name
        );
        // parse -> encode round trip, and encoding from the metadata alone.
        assert_eq!(parsed.encode().unwrap(), raw, "{}: parse/encode", f.name);
        let encoded = Superblock {
            params: m.params,
            uuid,
        }
        .encode()
        .unwrap();
        assert_eq!(encoded, raw, "{}: encode", f.name);
        // veritysetup zero-fills the rest of the superblock's hash block.
        let offset = expected_tree_offset(&parsed.params, true);
        assert!(
            f.hash_device[SUPERBLOCK_SIZE..offset]
                .iter()
                .all(|&b| b == 0),
            "{}",
            f.name
        );
    }
    assert_eq!(seen, 3);
}
