//! Single-byte corruption anywhere in the data or the hash device is caught by
//! `clip verity verify` (exit 3 naming the block, or exit 1 when the superblock
//! can no longer be read), and `veritysetup verify` agrees that it is bad.

mod common;

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use common::{Rng, UUID, clip, json_str, salt_hex, veritysetup, write_random_file};
use serde_json::{Value, json};

const BLOCK: u64 = 512;
const DATA_BLOCKS: u64 = 300;
/// sha256 digests per 512-byte hash block.
const PER_BLOCK: u64 = 16;
const SALT_LEN: usize = 32;

/// A formatted image: 300 data blocks of 512 bytes, 512-byte hash blocks,
/// a superblock at offset 0 and a three-level tree right after it.
struct Image {
    _dir: tempfile::TempDir,
    data: PathBuf,
    hash: PathBuf,
    root: String,
    superblock: [u8; 512],
    /// Blocks per tree level, level 0 (hashing the data) first.
    levels: Vec<u64>,
}

/// Blocks of each level for `n` data blocks, level 0 first, as in the kernel.
fn level_sizes(n: u64) -> Vec<u64> {
    let mut sizes = Vec::new();
    let mut below = n;
    while below > 1 {
        below = below.div_ceil(PER_BLOCK);
        sizes.push(below);
    }
    sizes
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temporary path")
}

impl Image {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let data = dir.path().join("data.img");
        let hash = dir.path().join("hash.img");
        write_random_file(&data, DATA_BLOCKS * BLOCK, 0x5eed_0300);
        let salt = salt_hex(SALT_LEN, 0x5a17);
        let format = clip(&[
            "verity",
            "format",
            path_str(&data),
            path_str(&hash),
            "--data-block-size",
            "512",
            "--hash-block-size",
            "512",
            "--salt",
            &salt,
            "--uuid",
            UUID,
            "--json",
        ]);
        format.assert_success();
        let report = format.json();
        let root = json_str(&report, "root_hash").to_owned();
        let levels = level_sizes(DATA_BLOCKS);
        assert_eq!(levels, [19, 2, 1]);
        assert_eq!(report["levels"], json!(levels.len()));
        assert_eq!(
            common::size(&hash),
            BLOCK * (1 + levels.iter().sum::<u64>()),
            "superblock and tree"
        );
        let mut superblock = [0u8; 512];
        std::fs::File::open(&hash)
            .and_then(|f| f.read_exact_at(&mut superblock, 0))
            .expect("read the superblock");
        Self {
            _dir: dir,
            data,
            hash,
            root,
            superblock,
            levels,
        }
    }

    fn verify(&self, json: bool) -> common::Run {
        let mut args = vec![
            "verity",
            "verify",
            path_str(&self.data),
            path_str(&self.hash),
            &self.root,
        ];
        if json {
            args.push("--json");
        }
        let run = clip(&args);
        run.no_panic();
        run
    }

    fn veritysetup_verify(&self) -> common::Run {
        veritysetup(&[
            "verify",
            path_str(&self.data),
            path_str(&self.hash),
            &self.root,
        ])
    }

    /// File block index (superblock = 0) and tree level of each hash block, top first.
    fn hash_blocks(&self) -> Vec<(u64, usize)> {
        let mut blocks = Vec::new();
        let mut index = 1;
        for (level, &count) in self.levels.iter().enumerate().rev() {
            for _ in 0..count {
                blocks.push((index, level));
                index += 1;
            }
        }
        blocks
    }

    fn level_of(&self, file_block: u64) -> usize {
        self.hash_blocks()
            .into_iter()
            .find(|&(b, _)| b == file_block)
            .map(|(_, level)| level)
            .unwrap_or_else(|| panic!("block {file_block} is not a hash block"))
    }

    /// What naming the top hash block looks like (a mismatch against the root).
    fn top_block_message(&self) -> String {
        format!(
            "hash block (tree level {}) 1 at byte offset 512 of {}",
            self.levels.len() - 1,
            self.hash.display()
        )
    }
}

/// XORs one byte of `path` with `mask`.
fn flip(path: &Path, pos: u64, mask: u8) {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .expect("open for flipping");
    let mut b = [0u8];
    file.read_exact_at(&mut b, pos).expect("read the byte");
    b[0] ^= mask;
    file.write_all_at(&b, pos).expect("write the byte");
}

/// What `clip verity verify` must do after a flip.
#[derive(Debug, Clone, PartialEq)]
enum Expect {
    /// Exit 3, with this phrase on stderr.
    Corrupt(String),
    /// Exit 1 (the parameters cannot be read or do not fit the files), with this phrase.
    Refused(String),
    /// Exit 0: the byte is not protected (the UUID is outside the hash tree).
    Unprotected,
}

/// A flip, and whether `veritysetup verify` fails on it.
#[derive(Debug)]
struct Flip {
    file: &'static str,
    pos: u64,
    mask: u8,
    expect: Expect,
    veritysetup_fails: bool,
}

fn le_u64(b: &[u8]) -> u64 {
    b.iter()
        .rev()
        .fold(0u64, |acc, &byte| (acc << 8) | u64::from(byte))
}

/// Expected outcome of flipping byte `pos` of the superblock with `mask`.
///
/// clip refuses any superblock it cannot fully parse, non-zero reserved bytes
/// included (exit 1); veritysetup ignores reserved bytes and the UUID. A field
/// that still parses but changes the tree (hash type 1 -> 0, salt, a smaller
/// data block count) gives a root hash mismatch (exit 3).
fn superblock_flip(image: &Image, pos: usize, mask: u8) -> (Expect, bool) {
    let mut sb = image.superblock;
    sb[pos] ^= mask;
    let field = |start: usize, end: usize| le_u64(&sb[start..end]);
    let refused = |phrase: &str| (Expect::Refused(phrase.to_owned()), true);
    let lenient = (
        Expect::Refused("reserved bytes are not zero".to_owned()),
        false,
    );
    let name_len = b"sha256".len();
    match pos {
        0..8 => refused("no \"verity\" signature"),
        8..12 => refused("unsupported version"),
        12..16 => match field(12, 16) {
            0 => (Expect::Corrupt(image.top_block_message()), true),
            _ => refused("unknown hash type"),
        },
        16..32 => (Expect::Unprotected, false),
        // The name itself or its terminating NUL: an unknown algorithm.
        p if p < 32 + name_len + 1 => refused("invalid verity superblock at byte 32"),
        32..64 => lenient,
        64..72 => {
            let size = field(pos & !3, (pos & !3) + 4);
            assert!(
                !(size.is_power_of_two() && (512..=4096).contains(&size)),
                "flip at {pos} gives a valid block size {size}"
            );
            refused("is not a power of two between 512 and 4096")
        }
        72..80 => data_blocks_flip(image, field(72, 80)),
        80..82 => {
            let salt_size = usize::try_from(field(80, 82)).expect("16-bit field");
            if salt_size > 256 {
                refused("exceeds 256")
            } else if salt_size < SALT_LEN
                && sb[88 + salt_size..88 + SALT_LEN].iter().any(|&b| b != 0)
            {
                // Shorter: the rest of the salt now sits in reserved space.
                refused("reserved bytes are not zero")
            } else {
                // Longer: the salt gains zero bytes and hashes differently.
                (Expect::Corrupt(image.top_block_message()), true)
            }
        }
        82..88 => lenient,
        p if p < 88 + SALT_LEN => (Expect::Corrupt(image.top_block_message()), true),
        _ => lenient,
    }
}

/// Expected outcome when the superblock claims `n` data blocks instead of 300.
fn data_blocks_flip(image: &Image, n: u64) -> (Expect, bool) {
    assert_ne!(n, DATA_BLOCKS);
    let sizes = level_sizes(n);
    if n < DATA_BLOCKS && sizes.len() == image.levels.len() && sizes[1..] == image.levels[1..] {
        // The same tree above level 0: it matches, but holds digests past block n.
        return (Expect::Corrupt("spare area is not zeroed".to_owned()), true);
    }
    if n < DATA_BLOCKS {
        // A smaller tree read from the same bytes: some block no longer matches.
        return (
            Expect::Corrupt("does not match the root hash".to_owned()),
            true,
        );
    }
    let tree_blocks: u128 = level_sizes(n).iter().map(|&b| u128::from(b)).sum();
    let tree_bytes = tree_blocks * u128::from(BLOCK);
    let phrase = if tree_bytes > u128::from(u64::MAX) {
        "too large to address".to_owned()
    } else if tree_bytes + u128::from(BLOCK) > u128::from(u64::MAX) {
        "past the largest possible file offset".to_owned()
    } else if tree_bytes + u128::from(BLOCK) > u128::from(common::size(&image.hash)) {
        format!("{} is truncated", image.hash.display())
    } else {
        format!("{} is truncated", image.data.display())
    };
    (Expect::Refused(phrase), true)
}

/// Flips either the lowest bit or the whole byte.
fn pick_mask(rng: &mut Rng) -> u8 {
    if rng.below(2) == 0 { 0x01 } else { 0xff }
}

/// About 70 flips: data bytes, a byte in every hash block (plus the unused
/// tails of partly filled blocks) and a byte in every superblock field.
fn flips(image: &Image) -> Vec<Flip> {
    let mut rng = Rng::new(0xf11b);
    let mut out = Vec::new();

    let data_len = DATA_BLOCKS * BLOCK;
    let mut data_positions = vec![0, data_len - 1];
    data_positions.extend((0..22).map(|_| rng.below(data_len)));
    for pos in data_positions {
        let n = pos / BLOCK;
        out.push(Flip {
            file: "data",
            pos,
            mask: pick_mask(&mut rng),
            expect: Expect::Corrupt(format!(
                "data block {n} at byte offset {} of {} does not match the root hash",
                n * BLOCK,
                image.data.display()
            )),
            veritysetup_fails: true,
        });
    }

    let mut hash_positions: Vec<u64> = image
        .hash_blocks()
        .iter()
        .map(|&(b, _)| rng.in_range(b * BLOCK, (b + 1) * BLOCK))
        .collect();
    // Zero padding after the last digest: the top block holds 2 digests, the
    // second level-1 block 3, the last level-0 block 12.
    hash_positions.extend([BLOCK + 100, 3 * BLOCK + 200, 22 * BLOCK + 400]);
    for pos in hash_positions {
        let b = pos / BLOCK;
        out.push(Flip {
            file: "hash",
            pos,
            mask: pick_mask(&mut rng),
            expect: Expect::Corrupt(format!(
                "hash block (tree level {}) {b} at byte offset {} of {} does not match the root hash",
                image.level_of(b),
                b * BLOCK,
                image.hash.display()
            )),
            veritysetup_fails: true,
        });
    }

    let fields = [
        (0, 8),
        (8, 12),
        (12, 16),
        (16, 32),
        (32, 38),
        (38, 39),
        (39, 64),
        (64, 68),
        (68, 72),
        (72, 80),
        (80, 82),
        (82, 88),
        (88, 120),
        (120, 512),
    ];
    let mut sb_flips: Vec<(u64, u8)> = fields
        .iter()
        .map(|&(start, end)| (rng.in_range(start, end), pick_mask(&mut rng)))
        .collect();
    sb_flips.extend([
        (12, 0x01), // hash type 1 -> 0: parses, hashes differently
        (73, 0x01), // 300 -> 44 data blocks
        (72, 0x01), // 300 -> 301 data blocks: the tree still fits, the data does not
        (74, 0x01), // 300 + 2^16 data blocks: the tree no longer fits
        (79, 0x80), // 2^63 + 300 data blocks
        (80, 0x01), // salt 32 -> 33 bytes
        (80, 0x30), // salt 32 -> 16 bytes
        (81, 0x01), // salt 288 bytes
        (511, 0x01),
    ]);
    for (pos, mask) in sb_flips {
        let (expect, veritysetup_fails) =
            superblock_flip(image, usize::try_from(pos).expect("small"), mask);
        out.push(Flip {
            file: "hash",
            pos,
            mask,
            expect,
            veritysetup_fails,
        });
    }
    out
}

#[test]
fn every_single_byte_flip_is_caught() {
    let image = Image::new();
    image.verify(false).assert_success();
    image.veritysetup_verify().assert_success();
    let flips = flips(&image);
    assert!(flips.len() >= 60, "{} flips", flips.len());
    for f in &flips {
        let path = if f.file == "data" {
            &image.data
        } else {
            &image.hash
        };
        flip(path, f.pos, f.mask);
        let run = image.verify(false);
        let context = format!("{f:?}");
        match &f.expect {
            Expect::Corrupt(phrase) => {
                run.expect(3).stderr_has(phrase);
            }
            Expect::Refused(phrase) => {
                run.expect(1).stderr_has(phrase);
            }
            Expect::Unprotected => {
                run.expect(0);
            }
        }
        let theirs = image.veritysetup_verify();
        assert_eq!(
            theirs.code != 0,
            f.veritysetup_fails,
            "{context}: veritysetup verify exited {}\n{}",
            theirs.code,
            theirs.stderr
        );
        flip(path, f.pos, f.mask);
        image.verify(false).assert_success();
    }
    image.veritysetup_verify().assert_success();
}

#[test]
fn json_names_the_corrupted_block() {
    let image = Image::new();
    // Data block 123, somewhere inside it.
    let pos = 123 * BLOCK + 77;
    flip(&image.data, pos, 0x40);
    let run = image.verify(true);
    run.expect(3)
        .stderr_has("data block 123 at byte offset 62976 of");
    let report: Value = run.json();
    assert_eq!(
        report,
        json!({"verified": false,
               "corrupted": {"area": "data", "block": 123, "level": null, "offset": 62976,
                             "problem": "digest_mismatch", "spare_offset": null}})
    );
    flip(&image.data, pos, 0x40);
    let run = image.verify(true);
    run.assert_success();
    assert_eq!(run.json()["verified"], json!(true));

    // A level-0 hash block: the area and the byte offset of the block in the hash file.
    let pos = 10 * BLOCK + 5;
    flip(&image.hash, pos, 0x01);
    let run = image.verify(true);
    run.expect(3)
        .stderr_has("hash block (tree level 0) 10 at byte offset 5120 of");
    let report = run.json();
    assert_eq!(report["verified"], json!(false));
    assert_eq!(report["corrupted"]["area"], json!("hash"));
    assert_eq!(report["corrupted"]["offset"], json!(10 * BLOCK));
    // Numbered from the start of the hash file, like the message and the offset.
    assert_eq!(report["corrupted"]["block"], json!(10));
    assert_eq!(report["corrupted"]["level"], json!(0));
    assert_eq!(report["corrupted"]["problem"], json!("digest_mismatch"));
    flip(&image.hash, pos, 0x01);
    image.verify(true).assert_success();
}

/// Sets the superblock's data block count (byte 72, little-endian).
fn set_data_blocks(hash: &Path, n: u64) {
    std::fs::OpenOptions::new()
        .write(true)
        .open(hash)
        .and_then(|f| f.write_all_at(&n.to_le_bytes(), 72))
        .expect("patch data_blocks");
}

/// Issue 7: a superblock whose data block count is lowered (256 -> 129) still
/// matches the root hash, since the tree's shape is unchanged, and the blocks
/// past the new count can then be anything. The digests of those blocks are
/// still in level 0, where the lowered count leaves only spare space: clip
/// and veritysetup both refuse, naming the same byte.
#[test]
fn lowered_data_block_count_is_refused_as_by_veritysetup() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let data = dir.path().join("data.img");
    let hash = dir.path().join("hash.img");
    write_random_file(&data, 256 * 4096, 0x10_0129);
    let format = clip(&[
        "verity",
        "format",
        path_str(&data),
        path_str(&hash),
        "--salt",
        &salt_hex(SALT_LEN, 7),
        "--uuid",
        UUID,
        "--json",
    ]);
    format.expect(0);
    let root = json_str(&format.json(), "root_hash").to_owned();
    set_data_blocks(&hash, 129);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&data)
        .expect("open data");
    file.write_all_at(&vec![0x55; 127 * 4096], 129 * 4096)
        .expect("replace blocks 129..=255");
    drop(file);

    let args = ["verity", "verify", path_str(&data), path_str(&hash), &root];
    // Superblock (4096), level 1 (1 block), level 0 block 0: level 0 block 1
    // is hash block 3 and holds block 128's digest, then spare space.
    clip(&args).expect(3).stderr_has(&format!(
        "spare area is not zeroed at byte offset 12320 of {}: hash block (tree level 0) 3 \
         at byte offset 12288 holds 1 digest(s) and must be zero elsewhere (a tree made for \
         more than the 129 data blocks claimed has digests there)",
        hash.display()
    ));
    let run = clip(&[&args[..], &["--json"]].concat());
    run.expect(3);
    assert_eq!(
        run.json(),
        json!({"verified": false,
               "corrupted": {"area": "hash", "block": 3, "level": 0, "offset": 12288,
                             "problem": "spare_area_not_zeroed", "spare_offset": 12320}})
    );
    let theirs = veritysetup(&args[1..]);
    assert_ne!(
        theirs.code, 0,
        "veritysetup accepted it:\n{}",
        theirs.stdout
    );
    theirs.stderr_has("Spare area is not zeroed at position 12320");
}

/// The same with the count lowered to a whole number of level-0 blocks
/// (300 -> 272 blocks of 512 bytes): level 0 is full, and the extra digests
/// sit in level 1.
#[test]
fn lowered_data_block_count_caught_in_level_1() {
    let image = Image::new();
    set_data_blocks(&image.hash, 272);
    assert_eq!(level_sizes(272), [17, 2, 1]);
    // Hash block 3 is level 1's second block; after its first digest, spare.
    image.verify(false).expect(3).stderr_has(&format!(
        "spare area is not zeroed at byte offset 1568 of {}: hash block (tree level 1) 3 \
         at byte offset 1536 holds 1 digest(s)",
        image.hash.display()
    ));
    let theirs = image.veritysetup_verify();
    assert_ne!(
        theirs.code, 0,
        "veritysetup accepted it:\n{}",
        theirs.stdout
    );
    theirs.stderr_has("Spare area is not zeroed at position 1568");
}

/// `verify` says how much of DATA the tree covers: all of it, or only the
/// first --data-blocks blocks (with a warning), and for a tree appended to
/// its data, the data up to the hash offset.
#[test]
fn verify_says_how_much_data_is_covered() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let data = dir.path().join("data.img");
    let hash = dir.path().join("hash.img");
    write_random_file(&data, 256 * 4096, 0xc0_7e4);
    let verify = |root: &str, hash: &Path, extra: &[&str]| {
        let mut args = vec!["verity", "verify", path_str(&data), path_str(hash), root];
        args.extend_from_slice(extra);
        let run = clip(&args);
        run.expect(0);
        run
    };
    let format = |hash: &Path, extra: &[&str]| {
        let mut args = vec![
            "verity",
            "format",
            path_str(&data),
            path_str(hash),
            "--json",
        ];
        args.extend_from_slice(extra);
        let run = clip(&args);
        run.expect(0);
        json_str(&run.json(), "root_hash").to_owned()
    };

    let root = format(&hash, &["--data-blocks", "129"]);
    let run = verify(&root, &hash, &["--json"]);
    let report = run.json();
    assert_eq!(report["data_blocks"], json!(129));
    assert_eq!(report["data_bytes_covered"], json!(129 * 4096));
    assert_eq!(report["data_area_bytes"], json!(256 * 4096));
    assert_eq!(report["data_bytes_not_covered"], json!(127 * 4096));
    run.stderr_has(&format!(
        "the hash tree covers only the first 129 data blocks (528384 bytes) of {}; \
         its other 520192 bytes were not checked",
        data.display()
    ));
    let text = verify(&root, &hash, &[]);
    assert!(
        text.stdout
            .lines()
            .any(|l| l.starts_with("Bytes not covered:")
                && l.split_whitespace().last() == Some("520192")),
        "{}",
        text.stdout
    );

    // All of it: nothing to warn about.
    let root = format(&hash, &["--force"]);
    let run = verify(&root, &hash, &["--json"]);
    assert_eq!(run.json()["data_bytes_not_covered"], json!(0));
    assert_eq!(run.json()["data_area_bytes"], json!(256 * 4096));
    assert!(!run.stderr.contains("not checked"), "{}", run.stderr);

    // The tree appended to the data file: the data ends at the hash offset.
    let offset = (256 * 4096).to_string();
    let root = format(&data, &["--hash-offset", &offset]);
    let run = verify(&root, &data, &["--hash-offset", &offset, "--json"]);
    assert_eq!(run.json()["data_area_bytes"], json!(256 * 4096));
    assert_eq!(run.json()["data_bytes_not_covered"], json!(0));
    assert!(!run.stderr.contains("not checked"), "{}", run.stderr);
}
