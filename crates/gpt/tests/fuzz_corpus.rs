//! Replays the committed fuzz corpus (`fuzz/corpus/parse/`) through the fuzz
//! target's own checks under plain `cargo test`, without nightly Rust, and
//! checks that the `seed-*` files are still what the writer makes
//! (`GPT_WRITE_SEEDS=1 cargo test -p gpt --test fuzz_corpus` rewrites them).
//!
//! The fuzz crate is a separate workspace and cannot be a dependency, so its
//! check functions (`fuzz/src/lib.rs`) are compiled into this test as a module.

#[path = "../fuzz/src/lib.rs"]
mod targets;

use std::path::{Path, PathBuf};

use gpt::{Attributes, Gpt, Partition, Uuid, types};
use targets::Outcome;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/parse")
}

/// Small tables (a few sectors, 4 or 8 entries) so that the fuzzer's inputs
/// stay small; `DiskLayout`'s 128-entry tables need 34 KB at least.
fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let part = |index, first_lba, last_lba, name: &str, attributes| Partition {
        index,
        type_guid: [
            types::ESP,
            types::ROOT_X86_64,
            types::ROOT_X86_64_VERITY,
            types::VAR,
        ][usize::try_from(index % 4).unwrap()],
        unique_guid: Uuid::from_u128(0x1000 + u128::from(index)),
        first_lba,
        last_lba,
        attributes: Attributes(attributes),
        name: name.into(),
    };
    let table = |sectors, count, first, last, backup, partitions| Gpt {
        disk_guid: Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef),
        sector_count: sectors,
        first_usable_lba: first,
        last_usable_lba: last,
        primary_entries_lba: 2,
        backup_entries_lba: backup,
        entry_count: count,
        partitions,
    };
    let tables = [
        ("seed-empty", table(6, 4, 3, 3, 4, vec![])),
        (
            "seed-ab",
            table(
                16,
                8,
                4,
                11,
                12,
                vec![
                    part(0, 4, 5, "esp", 1),
                    part(1, 6, 7, "root-a", 0x110f_0000_0000_0000),
                    part(2, 8, 8, "verity-a", 1 << 60),
                    part(5, 11, 11, "ståte", 1 << 59 | 1 << 63),
                ],
            ),
        ),
        (
            "seed-full",
            table(
                10,
                4,
                3,
                7,
                8,
                vec![
                    part(0, 3, 3, "", 0),
                    part(1, 4, 5, &"x".repeat(36), 4),
                    part(3, 6, 7, "d", 2),
                ],
            ),
        ),
    ];
    tables
        .into_iter()
        .map(|(name, gpt)| {
            let mut image = vec![0u8; usize::try_from(gpt.sector_count * 512).unwrap()];
            for r in gpt.regions().unwrap() {
                let at = usize::try_from(r.offset).unwrap();
                image[at..at + r.bytes.len()].copy_from_slice(&r.bytes);
            }
            assert_eq!(Gpt::parse_image(&image).unwrap(), gpt, "{name}");
            (name, image)
        })
        .collect()
}

#[test]
fn seeds_are_current() {
    let dir = corpus_dir();
    for (name, image) in seeds() {
        let path = dir.join(name);
        if std::env::var_os("GPT_WRITE_SEEDS").is_some() {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &image).unwrap();
        }
        let stored =
            std::fs::read(&path).unwrap_or_else(|e| panic!("seed {}: {e}", path.display()));
        assert!(
            stored == image,
            "{} differs from the writer's output",
            path.display()
        );
    }
}

#[test]
fn parse_corpus() {
    let dir = corpus_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus directory {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    assert!(
        files.len() > 3,
        "corpus directory {} holds only the seeds",
        dir.display()
    );
    let mut outcomes = Vec::new();
    for path in &files {
        let bytes = std::fs::read(path).unwrap();
        let outcome = std::panic::catch_unwind(|| targets::parse(&bytes))
            .unwrap_or_else(|_| panic!("fuzz target parse fails on {}", path.display()));
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("seed-") {
            assert_eq!(outcome, Outcome::RoundTrip, "{name}");
        }
        outcomes.push(outcome);
    }
    assert!(outcomes.contains(&Outcome::Rejected), "{outcomes:?}");
}
