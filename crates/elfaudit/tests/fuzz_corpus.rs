//! Replays the committed fuzz corpus (`fuzz/corpus/audit/`) through the fuzz
//! target's own checks under plain `cargo test`, without nightly Rust, and
//! checks that the `seed-*` files are still what the test ELF builder makes
//! (`ELFAUDIT_WRITE_SEEDS=1 cargo test -p elfaudit --test fuzz_corpus`
//! rewrites them).
//!
//! The fuzz crate is a separate workspace and cannot be a dependency, so its
//! check functions (`fuzz/src/lib.rs`) are compiled into this test as a
//! module, and so is the builder (`src/testelf.rs`).

#[path = "../fuzz/src/lib.rs"]
mod targets;
#[allow(dead_code)]
#[path = "../src/testelf.rs"]
mod testelf;

use std::path::{Path, PathBuf};

use targets::Outcome;
use testelf::*;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/audit")
}

/// Small hand-made files, a few hundred bytes each, one per shape the
/// audit tells apart, and what the target makes of each.
fn seeds() -> Vec<(&'static str, Vec<u8>, Outcome)> {
    let hardened = Spec {
        interp: true,
        dynamic: true,
        extra_dynamic: vec![(DT_FLAGS, DF_BIND_NOW), (DT_FLAGS_1, DF_1_NOW | DF_1_PIE)],
        relro: true,
        x86_features: Some(IBT | SHSTK),
        dynsym: vec!["__stack_chk_fail", "__memcpy_chk", "puts"],
        ..Spec::default()
    };
    let stripped = |hash| Spec {
        section_headers: false,
        hash,
        ..hardened.clone()
    };
    let full = hardened.build();
    let shoff = usize::try_from(get_u64(&full, 40)).unwrap();
    let mut elf32 = full[..52].to_vec();
    elf32[4] = 1;
    vec![
        ("seed-hardened-pie", full.clone(), Outcome::Audited),
        (
            "seed-executable-partial-relro",
            Spec {
                e_type: ET_EXEC,
                interp: true,
                dynamic: true,
                hash: Hash::Gnu,
                relro: true,
                stack: Some(PF_R | PF_W | PF_X),
                dynsym: vec!["__printf_chk", "exit"],
                ..Spec::default()
            }
            .build(),
            Outcome::Audited,
        ),
        (
            "seed-shared-object",
            Spec {
                interp: true,
                dynamic: true,
                soname: true,
                extra_dynamic: vec![(DT_BIND_NOW, 0)],
                relro: true,
                x86_features: Some(SHSTK),
                dynsym: vec!["__stack_chk_guard"],
                ..Spec::default()
            }
            .build(),
            Outcome::Audited,
        ),
        (
            "seed-static",
            Spec {
                e_type: ET_EXEC,
                symtab: vec!["main", "__stack_chk_fail", "__fortify_fail", "__read_chk"],
                ..Spec::default()
            }
            .build(),
            Outcome::Audited,
        ),
        (
            "seed-relocatable",
            Spec {
                e_type: ET_REL,
                x86_features: Some(IBT),
                symtab: vec!["f", "__stack_chk_fail"],
                ..Spec::default()
            }
            .build(),
            Outcome::Audited,
        ),
        (
            "seed-stripped-sysv-hash",
            stripped(Hash::Sysv).build(),
            Outcome::Audited,
        ),
        (
            "seed-stripped-gnu-hash",
            stripped(Hash::Gnu).build(),
            Outcome::Audited,
        ),
        (
            "seed-truncated",
            full[..shoff + 100].to_vec(),
            Outcome::Refused,
        ),
        ("seed-elf32", elf32, Outcome::Unsupported),
    ]
}

#[test]
fn seeds_are_what_the_builder_makes() {
    let write = std::env::var_os("ELFAUDIT_WRITE_SEEDS").is_some();
    for (name, bytes, _) in seeds() {
        let path = corpus_dir().join(name);
        if write {
            std::fs::write(&path, &bytes).unwrap();
        }
        let committed = std::fs::read(&path).unwrap_or_else(|e| {
            panic!("{}: {e} (ELFAUDIT_WRITE_SEEDS=1 writes it)", path.display())
        });
        assert!(
            committed == bytes,
            "{name} differs from what the builder makes"
        );
    }
}

#[test]
fn audit_corpus() {
    let outcomes = fuzz_corpus::replay(env!("CARGO_MANIFEST_DIR"), "audit", targets::audit);
    let of = |name: &str| {
        outcomes
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("seed {name} missing from the corpus"))
            .1
    };
    for (name, _, outcome) in seeds() {
        assert_eq!(of(name), outcome, "{name}");
    }
    for outcome in [
        Outcome::NotElf,
        Outcome::Unsupported,
        Outcome::Refused,
        Outcome::Audited,
    ] {
        assert!(
            outcomes.iter().any(|(_, o)| *o == outcome),
            "nothing reaches {outcome:?}"
        );
    }
}

/// The seeds' audits, so that the corpus keeps covering each property.
#[test]
fn seeds_cover_every_property() {
    let mut totals = elfaudit::Totals::default();
    for (_, bytes, _) in seeds() {
        totals.add_result(&elfaudit::audit(&bytes));
    }
    assert_eq!(
        totals,
        elfaudit::Totals {
            files: 9,
            executables: 5,
            shared_objects: 1,
            other: 1,
            static_linked: 1,
            relro: 5,
            pie: 3,
            full_relro: 4,
            bind_now: 4,
            stack_protector: 6,
            fortify: 5,
            cet_ibt: 4,
            cet_shstk: 4,
            nx_stack: 5,
            unparsed: 2,
        }
    );
}
