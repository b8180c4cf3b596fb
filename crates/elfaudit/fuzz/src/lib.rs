//! The checks behind the fuzz targets, one function per target.
//!
//! `crates/elfaudit/tests/fuzz_corpus.rs` includes this file with `#[path]`
//! and replays the committed corpus through the same functions, so keep it
//! free of dependencies other than `elfaudit`.

use elfaudit::{Error, Kind, Relro, Totals};

/// How far an input got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// Not `\x7fELF`.
    NotElf,
    /// ELF, but not ELF64 little-endian.
    Unsupported,
    /// ELF64 little-endian that `audit` refused.
    Refused,
    /// Audited, and every property of the target held.
    Audited,
}

/// Target `audit`: arbitrary bytes to `elfaudit::audit`. It never panics,
/// gives the same answer twice, refuses only with a message, and what it
/// audits is consistent: full RELRO has BIND_NOW, `pie` is the PIE kind, a
/// static executable is no PIE, a relocatable object without program
/// headers has no segment properties, only x86-64 files have CET bits,
/// [`Totals`] counts the audit's properties, and bytes appended to the file
/// change nothing (every check is "lies within the file", none "ends at
/// its end").
pub fn audit(data: &[u8]) -> Outcome {
    let result = elfaudit::audit(data);
    assert_eq!(result, elfaudit::audit(data), "deterministic");
    let a = match result {
        Err(Error::NotElf) => {
            assert!(!elfaudit::is_elf(data));
            return Outcome::NotElf;
        }
        Err(Error::Unsupported {
            class,
            data: encoding,
        }) => {
            assert!(elfaudit::is_elf(data));
            assert!(
                (class, encoding) != (2, 1),
                "ELF64 little-endian is supported"
            );
            return Outcome::Unsupported;
        }
        Err(e) => {
            assert!(elfaudit::is_elf(data));
            assert!(!e.to_string().is_empty());
            return Outcome::Refused;
        }
        Ok(a) => a,
    };
    assert!(elfaudit::is_elf(data));
    assert!(a.relro != Relro::Full || a.bind_now, "{a:?}");
    assert_eq!(a.pie, a.kind == Kind::PieExecutable, "{a:?}");
    if a.static_linked {
        assert!(
            matches!(a.kind, Kind::Executable | Kind::SharedObject),
            "{a:?}"
        );
    }
    // A relocatable object without program headers (as linkers write
    // them) has none of the segments' properties.
    let phnum = data.get(56..58).map(|n| u16::from_le_bytes([n[0], n[1]]));
    if a.kind == Kind::Relocatable && phnum == Some(0) {
        assert_eq!(a.relro, Relro::None);
        assert!(!a.nx_stack && !a.bind_now && !a.static_linked, "{a:?}");
    }
    let machine = data.get(18..20).map(|m| u16::from_le_bytes([m[0], m[1]]));
    if machine != Some(62) {
        assert!(!a.cet_ibt && !a.cet_shstk, "CET outside x86-64: {a:?}");
    }

    let mut totals = Totals::default();
    totals.add(&a);
    let count = |b: bool| u64::from(b);
    assert_eq!(
        totals,
        Totals {
            files: 1,
            executables: count(matches!(a.kind, Kind::Executable | Kind::PieExecutable)),
            shared_objects: count(a.kind == Kind::SharedObject),
            other: count(matches!(a.kind, Kind::Relocatable | Kind::Other)),
            static_linked: count(a.static_linked),
            pie: count(a.pie),
            relro: count(a.relro != Relro::None),
            full_relro: count(a.relro == Relro::Full),
            bind_now: count(a.bind_now),
            stack_protector: count(a.stack_protector),
            fortify: count(a.fortify),
            cet_ibt: count(a.cet_ibt),
            cet_shstk: count(a.cet_shstk),
            nx_stack: count(a.nx_stack),
            unparsed: 0,
        }
    );

    let mut longer = data.to_vec();
    longer.extend_from_slice(&[0xa5; 64]);
    assert_eq!(elfaudit::audit(&longer).as_ref(), Ok(&a), "appended bytes");
    Outcome::Audited
}
