//! Bad input to `clip verity`: every case fails with the documented exit code
//! (1 failure, 2 usage error, 3 integrity check failed) and a message naming
//! the problem, never panics, and leaves the directory exactly as it was (data
//! untouched, no hash file created, no `.clip-tmp-*` file left behind).

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use common::{Run, UUID, assert_no_temp_files, clip, json_str, write_random_file};
use serde_json::Value;

const SALT: &str = "5a17";

/// A directory with a data file of `blocks` 4 KiB blocks; `hash` does not exist yet.
struct Fixture {
    dir: tempfile::TempDir,
    data: PathBuf,
    hash: PathBuf,
}

impl Fixture {
    fn new(blocks: u64) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let data = dir.path().join("data.img");
        let hash = dir.path().join("hash.img");
        write_random_file(&data, blocks * 4096, 0xbad0 + blocks);
        Self { dir, data, hash }
    }

    fn data(&self) -> &str {
        s(&self.data)
    }

    fn hash(&self) -> &str {
        s(&self.hash)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Formats data.img into hash.img (4 KiB blocks, superblock); returns the root hash.
    fn format(&self, extra: &[&str]) -> String {
        let mut args = vec![
            "verity",
            "format",
            self.data(),
            self.hash(),
            "--salt",
            SALT,
            "--uuid",
            UUID,
            "--json",
        ];
        args.extend_from_slice(extra);
        let run = clip(&args);
        run.assert_success();
        json_str(&run.json(), "root_hash").to_owned()
    }

    /// Runs clip and checks it fails with `code` and `phrase` on stderr, without
    /// a panic and without changing, adding or removing any file.
    fn refused(&self, args: &[&str], code: i32, phrase: &str) -> Run {
        let before = snapshot(self.dir.path());
        let run = clip(args);
        run.no_panic().expect(code).stderr_has(phrase);
        // clap prints bare help (exit 2) when no subcommand is given.
        assert!(
            code == 2 || run.stderr.starts_with("error: "),
            "{}: stderr should start with \"error: \":\n{}",
            run.what,
            run.stderr
        );
        let after = snapshot(self.dir.path());
        assert_eq!(
            before.keys().collect::<Vec<_>>(),
            after.keys().collect::<Vec<_>>(),
            "{}: files appeared or disappeared",
            run.what
        );
        for (name, bytes) in &before {
            assert!(after[name] == *bytes, "{}: {name} was modified", run.what);
        }
        assert_no_temp_files(self.dir.path());
        run
    }
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temporary path")
}

/// Every regular file in `dir` (hidden ones included) with its contents.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    common::file_names(dir)
        .into_iter()
        .filter(|name| dir.join(name).is_file())
        .map(|name| {
            let bytes = common::read(&dir.join(&name));
            (name, bytes)
        })
        .collect()
}

fn truncate(path: &Path, len: u64) {
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|f| f.set_len(len))
        .expect("truncate");
}

#[test]
fn data_size_not_a_multiple_of_the_block_size() {
    let f = Fixture::new(3);
    std::fs::OpenOptions::new()
        .append(true)
        .open(&f.data)
        .and_then(|mut file| std::io::Write::write_all(&mut file, &[7u8; 100]))
        .expect("append");
    f.refused(
        &["verity", "format", f.data(), f.hash()],
        1,
        "is 12388 bytes, not a multiple of the 4096-byte data block size",
    );
    f.refused(
        &[
            "verity",
            "format",
            f.data(),
            f.hash(),
            "--data-block-size",
            "1024",
        ],
        1,
        "not a multiple of the 1024-byte data block size",
    );
}

#[test]
fn bad_block_sizes() {
    let f = Fixture::new(4);
    for (flag, which) in [("--data-block-size", "data"), ("--hash-block-size", "hash")] {
        for size in ["1000", "256", "8192", "0"] {
            let phrase =
                format!("{which} block size {size} is not a power of two between 512 and 4096");
            f.refused(
                &["verity", "format", f.data(), f.hash(), flag, size],
                1,
                &phrase,
            );
            // verify without a superblock takes the sizes from the command line.
            f.refused(
                &[
                    "verity",
                    "verify",
                    f.data(),
                    f.data(),
                    &"00".repeat(32),
                    "--no-superblock",
                    flag,
                    size,
                ],
                1,
                &phrase,
            );
        }
        // Not a number at all: a usage error.
        f.refused(
            &["verity", "format", f.data(), f.hash(), flag, "4k"],
            2,
            "invalid value '4k'",
        );
    }
}

#[test]
fn truncated_hash_file() {
    let f = Fixture::new(130); // level 0: 2 blocks, level 1: 1 block
    let root = f.format(&[]);
    assert_eq!(common::size(&f.hash), 4 * 4096);
    let verify = ["verity", "verify", f.data(), f.hash(), &root];

    truncate(&f.hash, 3 * 4096);
    f.refused(
        &verify,
        1,
        "hash.img is truncated: the hash tree ends at byte 16384, the file has 12288 bytes",
    );
    truncate(&f.hash, 100);
    f.refused(
        &verify,
        1,
        "hash.img is truncated: it is 100 bytes, with no room for a superblock at byte 0",
    );
    f.refused(
        &["verity", "dump", f.hash()],
        1,
        "it is 100 bytes, with no room for a superblock",
    );
    truncate(&f.hash, 0);
    f.refused(&verify, 1, "it is 0 bytes, with no room for a superblock");
}

#[test]
fn truncated_data_file() {
    let f = Fixture::new(130);
    let root = f.format(&[]);
    truncate(&f.data, 129 * 4096);
    f.refused(
        &["verity", "verify", f.data(), f.hash(), &root],
        1,
        "data.img is truncated: 532480 bytes of data expected, found 528384",
    );
}

#[test]
fn wrong_root_hash() {
    let f = Fixture::new(130);
    let root = f.format(&[]);
    let mut wrong = root.clone().into_bytes();
    wrong[10] = if wrong[10] == b'0' { b'1' } else { b'0' };
    let wrong = String::from_utf8(wrong).expect("hex");
    f.refused(
        &["verity", "verify", f.data(), f.hash(), &wrong],
        3,
        "does not match the root hash",
    );
    // Wrong length: one byte short, one byte long, empty.
    for (text, digits) in [(&root[..62], 62), (&format!("{root}00")[..], 66)] {
        f.refused(
            &["verity", "verify", f.data(), f.hash(), text],
            1,
            &format!("root hash has {digits} hex digits; a sha256 root hash has 64"),
        );
    }
    f.refused(
        &["verity", "verify", f.data(), f.hash(), ""],
        1,
        "root hash has 0 hex digits",
    );
    // Not hexadecimal, or an odd number of digits.
    for text in [&"zz".repeat(32)[..], &root[..63], "sha256:00"] {
        f.refused(
            &["verity", "verify", f.data(), f.hash(), text],
            1,
            "is not hexadecimal",
        );
    }
}

#[test]
fn unknown_algorithm_and_format_type() {
    let f = Fixture::new(4);
    f.refused(
        &["verity", "format", f.data(), f.hash(), "--hash", "md5"],
        1,
        "unknown hash algorithm \"md5\"",
    );
    f.refused(
        &[
            "verity",
            "verify",
            f.data(),
            f.data(),
            &"00".repeat(16),
            "--no-superblock",
            "--hash",
            "md5",
        ],
        1,
        "unknown hash algorithm \"md5\"",
    );
    f.refused(
        &["verity", "format", f.data(), f.hash(), "--format", "2"],
        1,
        "unknown hash format type 2",
    );
}

#[test]
fn bad_salts() {
    let f = Fixture::new(4);
    let long = "ab".repeat(257);
    f.refused(
        &["verity", "format", f.data(), f.hash(), "--salt", &long],
        1,
        "salt is 257 bytes; at most 256 are allowed",
    );
    for salt in ["xyz0", "abc", "0x00"] {
        f.refused(
            &["verity", "format", f.data(), f.hash(), "--salt", salt],
            1,
            &format!("salt {salt:?} is not hexadecimal"),
        );
    }
}

#[test]
fn missing_files() {
    let f = Fixture::new(4);
    let missing = f.path("missing.img");
    f.refused(
        &["verity", "format", s(&missing), f.hash()],
        1,
        "cannot open data file",
    );
    let root = "00".repeat(32);
    f.refused(
        &["verity", "verify", f.data(), s(&missing), &root],
        1,
        "cannot open hash file",
    );
    f.refused(
        &["verity", "verify", s(&missing), f.data(), &root],
        1,
        "cannot open data file",
    );
    f.refused(&["verity", "dump", s(&missing)], 1, "cannot open hash file");
    // The hash file's directory does not exist.
    let nowhere = f.path("no/such/dir/hash.img");
    f.refused(
        &["verity", "format", f.data(), s(&nowhere)],
        1,
        "no/such/dir",
    );
}

#[test]
fn existing_hash_file_needs_force() {
    let f = Fixture::new(130);
    write_random_file(&f.hash, 100, 1);
    f.refused(
        &["verity", "format", f.data(), f.hash()],
        1,
        "hash.img already exists; pass --force to overwrite it",
    );
    let root = f.format(&["--force"]);
    clip(&["verity", "verify", f.data(), f.hash(), &root]).assert_success();

    // An empty file is not "existing data": no --force needed.
    let empty = f.path("empty.img");
    std::fs::File::create(&empty).expect("create");
    let run = clip(&["verity", "format", f.data(), s(&empty), "--salt", SALT]);
    run.assert_success();
    assert_eq!(common::size(&empty), common::size(&f.hash));
}

#[test]
fn hash_area_overlapping_the_data() {
    let f = Fixture::new(4);
    for offset in ["0", "8192", "15872"] {
        f.refused(
            &[
                "verity",
                "format",
                f.data(),
                f.data(),
                "--hash-offset",
                offset,
            ],
            1,
            &format!("the hash area at byte {offset} of"),
        );
    }
    let run = f.refused(
        &[
            "verity",
            "format",
            f.data(),
            f.data(),
            "--hash-offset",
            "8192",
        ],
        1,
        "would overlap the data, which ends at byte 16384",
    );
    assert!(run.stdout.is_empty(), "{}", run.stdout);
}

#[test]
fn misaligned_hash_offsets() {
    let f = Fixture::new(4);
    for offset in ["100", "4097"] {
        f.refused(
            &[
                "verity",
                "format",
                f.data(),
                f.hash(),
                "--hash-offset",
                offset,
            ],
            1,
            &format!("hash offset {offset} is not a multiple of 512 bytes"),
        );
    }
    // Without a superblock the tree itself starts there: whole hash blocks only.
    f.refused(
        &[
            "verity",
            "format",
            f.data(),
            f.hash(),
            "--no-superblock",
            "--hash-offset",
            "512",
        ],
        1,
        "hash offset 512 is not a multiple of 4096 bytes",
    );
    f.refused(
        &[
            "verity",
            "format",
            f.data(),
            f.hash(),
            "--no-superblock",
            "--hash-block-size",
            "1024",
            "--hash-offset",
            "1536",
        ],
        1,
        "hash offset 1536 is not a multiple of 1024 bytes",
    );
    f.refused(
        &[
            "verity",
            "verify",
            f.data(),
            f.data(),
            &"00".repeat(32),
            "--no-superblock",
            "--hash-offset",
            "512",
        ],
        1,
        "hash offset 512 is not a multiple of 4096 bytes",
    );
}

#[test]
fn uuid_without_superblock() {
    let f = Fixture::new(4);
    f.refused(
        &[
            "verity",
            "format",
            f.data(),
            f.hash(),
            "--no-superblock",
            "--uuid",
            UUID,
        ],
        1,
        "--uuid is stored in the superblock; it cannot go with --no-superblock",
    );
    f.refused(
        &[
            "verity",
            "verify",
            f.data(),
            f.data(),
            &"00".repeat(32),
            "--no-superblock",
            "--uuid",
            UUID,
        ],
        1,
        "cannot go with --no-superblock",
    );
    f.refused(
        &[
            "verity",
            "format",
            f.data(),
            f.hash(),
            "--uuid",
            "not-a-uuid",
        ],
        1,
        "\"not-a-uuid\" is not a UUID",
    );
}

#[test]
fn empty_data_file() {
    let f = Fixture::new(0);
    f.refused(
        &["verity", "format", f.data(), f.hash()],
        1,
        "data.img is empty: nothing to protect",
    );
    f.refused(
        &["verity", "format", f.data(), f.hash(), "--data-blocks", "0"],
        1,
        "there are no data blocks to protect",
    );
}

#[test]
fn data_blocks_beyond_the_file() {
    let f = Fixture::new(4);
    f.refused(
        &["verity", "format", f.data(), f.hash(), "--data-blocks", "5"],
        1,
        "--data-blocks 5 needs 5 x 4096 bytes, but",
    );
    f.refused(
        &[
            "verity",
            "format",
            f.data(),
            f.hash(),
            "--data-blocks",
            &u64::MAX.to_string(),
        ],
        1,
        "--data-blocks 18446744073709551615 needs",
    );
}

#[test]
fn dump_of_something_else() {
    let f = Fixture::new(2);
    // Random bytes, then a block of zeros: no signature either way.
    f.refused(
        &["verity", "dump", f.data()],
        1,
        "data.img has no usable verity superblock: invalid verity superblock at byte 0: \
         no \"verity\" signature",
    );
    let zeros = f.path("zeros.img");
    std::fs::write(&zeros, [0u8; 4096]).expect("write");
    f.refused(
        &["verity", "dump", s(&zeros), "--json"],
        1,
        "no \"verity\" signature",
    );
    // A real superblock, looked for at the wrong offset.
    f.format(&[]);
    f.refused(
        &["verity", "dump", f.hash(), "--hash-offset", "512"],
        1,
        "no \"verity\" signature",
    );
    // Or a verity-looking header with a field we do not know.
    let mut sb = common::read(&f.hash)[..512].to_vec();
    sb[8] = 2; // version
    let odd = f.path("version2.img");
    std::fs::write(&odd, &sb).expect("write");
    f.refused(&["verity", "dump", s(&odd)], 1, "unsupported version 2");
}

#[test]
fn options_conflicting_with_the_superblock() {
    let f = Fixture::new(130);
    let root = f.format(&[]);
    let verify = |extra: &[&str]| {
        let mut args = vec!["verity", "verify", f.data(), f.hash(), &root];
        args.extend_from_slice(extra);
        args.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let cases: [(&[&str], &str); 7] = [
        (&["--salt", "5a18"], "--salt 5a18 (superblock: 5a17)"),
        (&["--salt", "-"], "--salt - (superblock: 5a17)"),
        (&["--hash", "sha512"], "--hash sha512 (superblock: sha256)"),
        (&["--format", "0"], "--format 0 (superblock: 1)"),
        (
            &["--data-block-size", "512"],
            "--data-block-size 512 (superblock: 4096)",
        ),
        (
            &["--hash-block-size", "1024"],
            "--hash-block-size 1024 (superblock: 4096)",
        ),
        (
            &["--uuid", "00000000-0000-0000-0000-000000000001"],
            "--uuid 00000000-0000-0000-0000-000000000001 (superblock: 6b1f3c2e",
        ),
    ];
    for (extra, phrase) in cases {
        let args = verify(extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = f.refused(&args, 1, "options disagree with the superblock of");
        run.stderr_has(phrase);
    }
    // Options that agree are fine.
    let args = verify(&[
        "--salt",
        SALT,
        "--uuid",
        UUID,
        "--hash",
        "sha256",
        "--format",
        "1",
        "--data-block-size",
        "4096",
        "--hash-block-size",
        "4096",
        "--data-blocks",
        "130",
    ]);
    clip(&args).assert_success();
}

#[test]
fn usage_errors_exit_2() {
    let f = Fixture::new(2);
    let cases: [&[&str]; 8] = [
        &[],
        &["verity"],
        &["verity", "frobnicate"],
        &["verity", "format", f.data()],
        &["verity", "verify", f.data(), f.data()],
        &["verity", "format", f.data(), f.hash(), "--bogus"],
        &[
            "verity",
            "format",
            f.data(),
            f.hash(),
            "--hash-offset",
            "-1",
        ],
        &["verity", "format", f.data(), f.hash(), "--format", "x"],
    ];
    for args in cases {
        f.refused(args, 2, "--help");
    }
}

/// Offsets and block counts near 2^64 are refused, not overflowed.
#[test]
fn huge_values_do_not_panic() {
    let f = Fixture::new(2);
    // With 512-byte hash blocks (16 sha256 digests each), this many data blocks
    // need exactly 2^55 - 1 hash blocks: 2^64 - 512 bytes, so the tree would
    // end at byte 2^64, just past what a u64 holds.
    let blocks: u64 = 540_431_955_284_459_473;
    let tree_blocks: u128 = {
        let (mut below, mut sum) = (u128::from(blocks), 0);
        while below > 1 {
            below = below.div_ceil(16);
            sum += below;
        }
        sum
    };
    assert_eq!(tree_blocks, (1 << 55) - 1);
    f.format(&["--data-block-size", "512", "--hash-block-size", "512"]);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&f.hash)
        .expect("open");
    file.write_all_at(&blocks.to_le_bytes(), 72)
        .expect("patch data_blocks");
    drop(file);
    f.refused(
        &["verity", "verify", f.data(), f.hash(), &"00".repeat(32)],
        1,
        "the hash tree would end past the largest possible file offset",
    );
    let dump = clip(&["verity", "dump", f.hash(), "--json"]);
    dump.no_panic().assert_success();
    let report = dump.json();
    assert_eq!(report["data_blocks"], Value::from(blocks));
    assert!(report["hash_device_size"].is_null(), "{report}");

    // A tree placed at the very end of the offset range.
    let near_end = (u64::MAX - 4095).to_string();
    f.refused(
        &[
            "verity",
            "verify",
            f.data(),
            f.data(),
            &"00".repeat(32),
            "--no-superblock",
            "--hash-offset",
            &near_end,
        ],
        1,
        "the hash tree would end past the largest possible file offset",
    );
    f.refused(
        &[
            "verity",
            "format",
            f.data(),
            s(&f.path("far.img")),
            "--hash-offset",
            &(u64::MAX - 511).to_string(),
        ],
        1,
        "hash offset 18446744073709551104 leaves no room",
    );
    // Offsets a file cannot reach: the write fails and the temporary file goes.
    for offset in [1u64 << 63, 1 << 50] {
        f.refused(
            &[
                "verity",
                "format",
                f.data(),
                s(&f.path("far.img")),
                "--hash-offset",
                &offset.to_string(),
            ],
            1,
            "cannot write",
        );
    }
}

/// Runs clip under a file size limit of `limit` bytes (RLIMIT_FSIZE, with
/// SIGXFSZ ignored): writes past it fail with EFBIG, as on a full disk.
fn clip_with_file_size_limit(limit: u64, args: &[&str]) -> Run {
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg("trap '' XFSZ; exec prlimit --fsize=\"$0\" \"$@\"")
        .arg(limit.to_string())
        .arg(common::clip_path())
        .args(args);
    let run = common::run_command(cmd);
    run.no_panic();
    run
}

fn inode(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).expect("stat").ino()
}

/// Issue 7: `format --force` over an existing regular file writes a new file
/// beside it and renames it into place. A write that fails part way (here at
/// a file size limit, as on a full disk) leaves the old file byte for byte
/// as it was and no temporary file; a complete one replaces the file (a new
/// inode, exactly the new hash device's size, the old file's permissions).
#[test]
fn force_replaces_a_regular_file_only_once_complete() {
    use std::os::unix::fs::PermissionsExt;
    let f = Fixture::new(256);
    // Larger than the new hash device (superblock + 3 hash blocks = 16 KiB),
    // so writing in place would not need to extend it first.
    write_random_file(&f.hash, 1 << 20, 0x01d);
    std::fs::set_permissions(&f.hash, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let old = common::read(&f.hash);
    let old_inode = inode(&f.hash);
    let args = [
        "verity",
        "format",
        f.data(),
        f.hash(),
        "--force",
        "--salt",
        SALT,
        "--uuid",
        UUID,
    ];
    // 8 KiB: the superblock fits, the tree (from byte 4096 to 16384) does not.
    clip_with_file_size_limit(8192, &args)
        .expect(1)
        .stderr_has(&format!("cannot write {}", f.hash()))
        .stderr_has("File too large");
    assert!(
        common::read(&f.hash) == old,
        "the old hash file was changed"
    );
    assert_eq!(inode(&f.hash), old_inode);
    assert_no_temp_files(f.dir.path());

    let root = f.format(&["--force"]);
    assert_ne!(inode(&f.hash), old_inode, "written in place");
    assert_eq!(common::size(&f.hash), 16384);
    let mode = std::fs::metadata(&f.hash)
        .expect("stat")
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o640);
    clip(&["verity", "verify", f.data(), f.hash(), &root]).expect(0);
    assert_no_temp_files(f.dir.path());
}

/// A tree appended to its data file is written in place (the data is not
/// copied), the old superblock cleared first and the new one written last:
/// a write that fails part way leaves the data intact and no superblock
/// that would vouch for a half-written tree.
#[test]
fn tree_in_the_data_file_is_written_in_place_superblock_last() {
    let f = Fixture::new(256);
    let data = common::read(&f.data);
    let data_inode = inode(&f.data);
    let offset = (256 * 4096).to_string();
    let format = |salt: &str| {
        vec![
            "verity".to_owned(),
            "format".to_owned(),
            f.data().to_owned(),
            f.data().to_owned(),
            "--hash-offset".to_owned(),
            offset.clone(),
            "--salt".to_owned(),
            salt.to_owned(),
            // The file now holds more than the data.
            "--data-blocks".to_owned(),
            "256".to_owned(),
        ]
    };
    let args = format(SALT);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    clip(&args).expect(0);
    assert_eq!(inode(&f.data), data_inode);
    assert_eq!(common::size(&f.data), (1 << 20) + 16384);
    let dump = ["verity", "dump", f.data(), "--hash-offset", &offset];
    clip(&dump).expect(0);

    // Again with another salt, failing after the superblock area: the tree
    // starts 4096 bytes past the hash offset and stops at the limit.
    let args = format("5a18");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    clip_with_file_size_limit((1 << 20) + 8192, &args)
        .expect(1)
        .stderr_has("File too large");
    assert_eq!(inode(&f.data), data_inode);
    assert!(
        common::read(&f.data)[..1 << 20] == data[..],
        "the data was changed"
    );
    clip(&dump)
        .expect(1)
        .stderr_has("invalid verity superblock at byte 0: no \"verity\" signature");
    assert_no_temp_files(f.dir.path());
}

/// Issue 7: a superblock claiming 2^32 - 1 data blocks (a 129 GiB tree) with
/// sparse files used to abort verify on allocating the whole tree. A hash
/// file too small for the claimed tree is refused up front; one large enough
/// (sparse) is read block by block as the data needs it, so the first hash
/// block that does not match stops it: exit 3, in well under a second.
#[test]
fn huge_claimed_data_block_count_is_refused_without_aborting() {
    let f = Fixture::new(256);
    let root = f.format(&[]);
    let blocks: u64 = (1 << 32) - 1;
    file_set_data_blocks(&f.hash, blocks);
    // Sparse: 16 TiB - 4 KiB of data, as the superblock claims.
    truncate(&f.data, blocks * 4096);
    // Stops a regression that hashes it all (hours) instead of hanging.
    let verify = || {
        let mut cmd = std::process::Command::new("timeout");
        cmd.args(["300", s(common::clip_path())]).args([
            "verity",
            "verify",
            f.data(),
            f.hash(),
            &root,
        ]);
        let run = common::run_command(cmd);
        run.no_panic();
        assert!(!run.stderr.contains("memory allocation"), "{}", run.stderr);
        run
    };
    // Superblock + tree: 4096 + 33,818,641 blocks of 4096.
    let tree_end: u64 = 4096 + 33_818_641 * 4096;
    verify().expect(1).stderr_has(&format!(
        "hash.img is truncated: the hash tree ends at byte {tree_end}, the file has 16384 bytes"
    ));
    truncate(&f.hash, tree_end);
    // The old top block (with the old root hash) is the new top block, and
    // the old level 0 blocks pass for level 3; level 2 is zeros.
    verify().expect(3).stderr_has(&format!(
        "hash block (tree level 2) 18 at byte offset 73728 of {} does not match the root hash",
        f.hash()
    ));
}

fn file_set_data_blocks(hash: &Path, n: u64) {
    std::fs::OpenOptions::new()
        .write(true)
        .open(hash)
        .and_then(|file| file.write_all_at(&n.to_le_bytes(), 72))
        .expect("patch data_blocks");
}
