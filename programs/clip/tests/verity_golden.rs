//! Golden tests: `clip verity format` writes byte for byte what `veritysetup
//! format` (cryptsetup 2.6) writes for the same data, salt and UUID, and prints
//! the same root hash; `clip verity verify` accepts the result, `veritysetup
//! verify` accepts ours, and `clip verity dump` agrees with `veritysetup dump`.

mod common;

use std::path::Path;

use common::{
    UUID, assert_same_bytes, clip, json_str, json_u64, salt_hex, size, veritysetup,
    veritysetup_fields, veritysetup_root_hash, write_random_file,
};
use serde_json::Value;

/// One formatting job, run through both tools.
#[derive(Debug, Clone)]
struct Case {
    data_blocks: u64,
    data_block_size: u32,
    hash_block_size: u32,
    /// Salt length in bytes; 0 is passed as `--salt -`.
    salt_len: usize,
    algorithm: &'static str,
    format: u32,
    superblock: bool,
    /// `--hash-offset`: where the superblock (or the tree) starts in the hash file.
    hash_offset: u64,
    /// The hash area goes into the data file itself, at `hash_offset`.
    same_file: bool,
    /// Bytes of data file beyond `data_blocks`, which are then passed as `--data-blocks`.
    tail: u64,
}

impl Default for Case {
    fn default() -> Self {
        Self {
            data_blocks: 16,
            data_block_size: 4096,
            hash_block_size: 4096,
            salt_len: 32,
            algorithm: "sha256",
            format: 1,
            superblock: true,
            hash_offset: 0,
            same_file: false,
            tail: 0,
        }
    }
}

/// FNV-1a, to derive a distinct data seed from each case's description.
fn seed_of(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl Case {
    fn data_size(&self) -> u64 {
        self.data_blocks * u64::from(self.data_block_size)
    }

    /// Tree options given to both tools, `format` and `verify` alike.
    fn options(&self, salt: &str) -> Vec<String> {
        let mut o: Vec<String> = [
            "--hash",
            self.algorithm,
            "--format",
            &self.format.to_string(),
            "--data-block-size",
            &self.data_block_size.to_string(),
            "--hash-block-size",
            &self.hash_block_size.to_string(),
            "--salt",
            salt,
            "--hash-offset",
            &self.hash_offset.to_string(),
        ]
        .map(str::to_owned)
        .to_vec();
        if self.superblock {
            o.extend(["--uuid".to_owned(), UUID.to_owned()]);
        } else {
            o.push("--no-superblock".to_owned());
        }
        if self.tail > 0 || (self.same_file && !self.superblock) {
            o.extend(["--data-blocks".to_owned(), self.data_blocks.to_string()]);
        }
        o
    }

    /// Formats with both tools, checks everything agrees and returns our JSON report.
    fn check(&self) -> Value {
        let label = format!("{self:?}");
        let dir = tempfile::tempdir().expect("temporary directory");
        let seed = seed_of(&label);
        let data = dir.path().join("data");
        write_random_file(&data, self.data_size() + self.tail, seed);
        let salt = salt_hex(self.salt_len, seed.rotate_left(17));
        let options = self.options(&salt);

        // Our files and veritysetup's: the same data, formatted the same way.
        let (our_data, our_hash, their_data, their_hash) = if self.same_file {
            let copy = dir.path().join("data.veritysetup");
            std::fs::copy(&data, &copy).expect("copy the data file");
            (data.clone(), data.clone(), copy.clone(), copy)
        } else {
            (
                data.clone(),
                dir.path().join("hash.clip"),
                data.clone(),
                dir.path().join("hash.veritysetup"),
            )
        };

        let path = |p: &Path| p.to_str().expect("UTF-8 temporary path").to_owned();
        let mut format_args = vec![
            "verity".to_owned(),
            "format".to_owned(),
            path(&our_data),
            path(&our_hash),
            "--json".to_owned(),
        ];
        format_args.extend(options.iter().cloned());
        let ours = clip(&format_args);
        ours.assert_success().no_panic();
        let report = ours.json();
        let mut format_args = vec!["format".to_owned(), path(&their_data), path(&their_hash)];
        format_args.extend(options.iter().cloned());
        let theirs = veritysetup(&format_args);
        theirs.assert_success();

        // Root hash and bytes.
        let root = veritysetup_root_hash(&theirs);
        assert_eq!(json_str(&report, "root_hash"), root, "{label}: root hash");
        assert_same_bytes(&our_hash, &their_hash, &label);

        // What each tool reports about the tree.
        let fields = veritysetup_fields(&theirs.stdout);
        let expect_salt = if self.salt_len == 0 { "-" } else { &salt };
        let ours_salt = match json_str(&report, "salt") {
            "" => "-",
            s => s,
        };
        assert_eq!(ours_salt, expect_salt, "{label}: salt");
        assert_eq!(fields["Salt"], expect_salt, "{label}: veritysetup's salt");
        let hbs = u64::from(self.hash_block_size);
        let tree_offset = if self.superblock {
            (self.hash_offset + 512).div_ceil(hbs) * hbs
        } else {
            self.hash_offset
        };
        assert_eq!(json_u64(&report, "tree_offset"), tree_offset, "{label}");
        assert_eq!(
            report["superblock"],
            Value::Bool(self.superblock),
            "{label}"
        );
        assert_eq!(
            json_u64(&report, "hash_blocks").to_string(),
            fields["Hash blocks"],
            "{label}: hash blocks"
        );
        assert_eq!(
            json_u64(&report, "data_blocks"),
            self.data_blocks,
            "{label}"
        );
        assert_eq!(
            fields["Data blocks"],
            self.data_blocks.to_string(),
            "{label}"
        );
        if let Some(size_text) = fields.get("Hash device size") {
            let their_size = size_text.trim_end_matches(" [bytes]");
            assert_eq!(
                json_u64(&report, "hash_device_size").to_string(),
                their_size,
                "{label}: hash device size"
            );
        }
        if !self.same_file {
            assert_eq!(
                json_u64(&report, "hash_device_size"),
                size(&their_hash),
                "{label}: reported hash device size vs the file veritysetup wrote"
            );
        }
        if self.superblock {
            assert_eq!(json_str(&report, "uuid"), UUID, "{label}: uuid");
        } else {
            assert!(report["uuid"].is_null(), "{label}: uuid without superblock");
        }

        // Both verifiers accept our output.
        let mut verify_options = if self.superblock {
            vec!["--hash-offset".to_owned(), self.hash_offset.to_string()]
        } else {
            options.clone()
        };
        let mut clip_verify = vec![
            "verity".to_owned(),
            "verify".to_owned(),
            path(&our_data),
            path(&our_hash),
            root.clone(),
            "--json".to_owned(),
        ];
        clip_verify.extend(verify_options.iter().cloned());
        let verified = clip(&clip_verify);
        verified.assert_success().no_panic();
        let v = verified.json();
        assert_eq!(v["verified"], Value::Bool(true), "{label}: {v}");
        assert_eq!(json_str(&v, "root_hash"), root, "{label}");
        let mut their_verify = vec![
            "verify".to_owned(),
            path(&our_data),
            path(&our_hash),
            root.clone(),
        ];
        their_verify.append(&mut verify_options);
        veritysetup(&their_verify).assert_success();

        // The superblock as each tool reads it.
        if self.superblock {
            check_dump(&our_hash, &their_hash, self.hash_offset, &label);
        }
        report
    }
}

/// `clip verity dump --json` on our file reports what `veritysetup dump` reports on theirs.
fn check_dump(ours: &Path, theirs: &Path, hash_offset: u64, label: &str) {
    let offset = hash_offset.to_string();
    let dump = clip(&[
        "verity".as_ref(),
        "dump".as_ref(),
        ours.as_os_str(),
        "--hash-offset".as_ref(),
        offset.as_ref(),
        "--json".as_ref(),
    ]);
    dump.assert_success().no_panic();
    let ours = dump.json();
    let reference = veritysetup(&[
        "dump".as_ref(),
        theirs.as_os_str(),
        "--hash-offset".as_ref(),
        offset.as_ref(),
    ]);
    reference.assert_success();
    let fields = veritysetup_fields(&reference.stdout);
    let pairs = [
        ("uuid", "UUID"),
        ("hash_type", "Hash type"),
        ("data_blocks", "Data blocks"),
        ("data_block_size", "Data block size"),
        ("hash_block_size", "Hash block size"),
        ("hash_blocks", "Hash blocks"),
        ("hash_algorithm", "Hash algorithm"),
        ("salt", "Salt"),
    ];
    for (key, name) in pairs {
        let value = match &ours[key] {
            Value::String(s) if s.is_empty() => "-".to_owned(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let expected = fields
            .get(name)
            .unwrap_or_else(|| panic!("{label}: no {name:?} in\n{}", reference.stdout));
        assert_eq!(&value, expected, "{label}: dump {key}");
    }
    if let Some(size_text) = fields.get("Hash device size") {
        assert_eq!(
            json_u64(&ours, "hash_device_size").to_string(),
            size_text.trim_end_matches(" [bytes]"),
            "{label}: dump hash device size"
        );
    }
    assert_eq!(json_u64(&ours, "hash_offset"), hash_offset, "{label}");
}

#[test]
fn data_sizes() {
    for data_blocks in [1, 2, 3, 127, 128, 129, 1000, 4097] {
        for superblock in [true, false] {
            if data_blocks == 1 && superblock {
                // See single_data_block_with_superblock.
                continue;
            }
            Case {
                data_blocks,
                superblock,
                ..Case::default()
            }
            .check();
        }
    }
}

/// Small hash blocks hold few digests, so modest data needs deep trees;
/// the counts sit on and just past the level boundaries.
#[test]
fn multi_level_trees() {
    let cases: [(&str, u32, u32, u64, u64); 9] = [
        // algorithm, data block size, hash block size, data blocks, levels
        ("sha256", 512, 512, 256, 2),
        ("sha256", 512, 512, 257, 3),
        ("sha256", 512, 512, 4000, 3),
        ("sha256", 512, 512, 4096, 3),
        ("sha256", 512, 512, 4097, 4),
        ("sha256", 512, 512, 5000, 4),
        ("sha256", 4096, 512, 1000, 3),
        ("sha512", 512, 512, 3000, 4),
        ("sha1", 512, 512, 5000, 4),
    ];
    for (algorithm, data_block_size, hash_block_size, data_blocks, levels) in cases {
        for superblock in [true, false] {
            let case = Case {
                algorithm,
                data_block_size,
                hash_block_size,
                data_blocks,
                superblock,
                ..Case::default()
            };
            let report = case.check();
            assert_eq!(json_u64(&report, "levels"), levels, "{case:?}");
        }
    }
}

#[test]
fn every_block_size_pair() {
    let sizes = [512u32, 1024, 2048, 4096];
    for data_block_size in sizes {
        for hash_block_size in sizes {
            // Two full level-0 blocks and a bit: a two-level tree with a partial block.
            let per_block = u64::from(hash_block_size / 32);
            for superblock in [true, false] {
                let case = Case {
                    data_block_size,
                    hash_block_size,
                    data_blocks: 2 * per_block + 3,
                    superblock,
                    ..Case::default()
                };
                let report = case.check();
                assert_eq!(json_u64(&report, "levels"), 2, "{case:?}");
            }
        }
    }
}

#[test]
fn salts() {
    for salt_len in [0, 1, 32, 255, 256] {
        for superblock in [true, false] {
            Case {
                salt_len,
                superblock,
                data_blocks: 130,
                ..Case::default()
            }
            .check();
        }
    }
}

#[test]
fn hash_offsets_in_a_separate_file() {
    for hash_block_size in [512, 4096] {
        for hash_offset in [0, 512, 4096, 8192] {
            for superblock in [true, false] {
                if !superblock && hash_offset % u64::from(hash_block_size) != 0 {
                    continue; // refused by clip, see verity_bad_input
                }
                Case {
                    hash_block_size,
                    hash_offset,
                    superblock,
                    data_blocks: 300,
                    ..Case::default()
                }
                .check();
            }
        }
    }
}

#[test]
fn hash_area_appended_to_the_data() {
    let layouts: [(u32, u32, u64); 5] = [
        // data block size, hash block size, data blocks
        (4096, 4096, 2),
        (4096, 4096, 300),
        (512, 4096, 3),
        (512, 512, 1000),
        (4096, 512, 129),
    ];
    for (data_block_size, hash_block_size, data_blocks) in layouts {
        let data_size = data_blocks * u64::from(data_block_size);
        for hash_offset in [data_size, data_size + 8192] {
            for superblock in [true, false] {
                if !superblock && hash_offset % u64::from(hash_block_size) != 0 {
                    continue;
                }
                Case {
                    data_block_size,
                    hash_block_size,
                    data_blocks,
                    hash_offset,
                    superblock,
                    same_file: true,
                    ..Case::default()
                }
                .check();
            }
        }
    }
}

#[test]
fn algorithms_and_format_types() {
    for algorithm in ["sha1", "sha256", "sha512"] {
        for format in [0, 1] {
            for (data_block_size, hash_block_size, data_blocks) in
                [(4096, 4096, 300), (512, 512, 700), (1024, 2048, 1)]
            {
                for superblock in [true, false] {
                    if data_blocks == 1 && superblock {
                        continue; // see single_data_block_with_superblock
                    }
                    Case {
                        algorithm,
                        format,
                        data_block_size,
                        hash_block_size,
                        data_blocks,
                        superblock,
                        ..Case::default()
                    }
                    .check();
                }
            }
        }
    }
}

#[test]
fn data_blocks_option_protects_a_prefix() {
    for superblock in [true, false] {
        Case {
            data_blocks: 250,
            tail: 4096 * 50 + 1234,
            superblock,
            ..Case::default()
        }
        .check();
    }
}

/// A one-block device has no tree; with a superblock veritysetup pads the hash
/// device to the first hash block boundary after the superblock.
#[test]
fn single_data_block_with_superblock() {
    for (data_block_size, hash_block_size) in [(4096, 4096), (512, 512), (512, 4096)] {
        for same_file in [false, true] {
            let data_size = u64::from(data_block_size);
            Case {
                data_blocks: 1,
                data_block_size,
                hash_block_size,
                same_file,
                // veritysetup cannot write a superblock at a 512-byte offset
                // inside a 4 KiB hash block of the data file; start at a block.
                hash_offset: if same_file {
                    data_size.max(u64::from(hash_block_size))
                } else {
                    0
                },
                ..Case::default()
            }
            .check();
        }
    }
    // Without a superblock veritysetup writes nothing at all, even past a
    // hash offset, and still verifies the result.
    Case {
        data_blocks: 1,
        superblock: false,
        hash_offset: 8192,
        ..Case::default()
    }
    .check();
}

/// 1 GiB of data, 4 KiB blocks, with a superblock: a three-level tree built
/// from many read chunks.
#[test]
fn one_gibibyte() {
    let report = Case {
        data_blocks: (1 << 30) / 4096,
        ..Case::default()
    }
    .check();
    assert_eq!(json_u64(&report, "levels"), 3);
}
