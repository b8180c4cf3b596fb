//! Hardening audit of one ELF file, as `checksec` and Debian's
//! `hardening-check` report it: PIE, RELRO, BIND_NOW, stack protector,
//! FORTIFY_SOURCE, Intel CET (IBT, SHSTK) and a non-executable stack.
//!
//! The crate is pure: [`audit`] takes the file's bytes and returns an
//! [`Audit`]; [`Totals`] counts the properties over many files. Only ELF64
//! little-endian files are audited (ELF32 and big-endian files give
//! [`Error::Unsupported`]); every offset, size and count read from the file
//! is checked against it, and the work is bounded (at most 65 535 program
//! and section headers, 2^24 symbols, 64 bytes of each symbol name), so
//! hostile input gives an [`Error`] and never a panic.
//!
//! What each property is read from (System V gABI chapters 4 "Object
//! Files" and 5 "Program Loading and Dynamic Linking"; glibc's `<elf.h>`
//! for the GNU extensions; the x86-64 psABI for the CET property):
//!
//! * "ELF Header": `e_type` gives the [`Kind`];
//! * "Program Header": `PT_INTERP`, `PT_DYNAMIC`, `PT_GNU_RELRO`
//!   (0x6474e552), `PT_GNU_STACK` (0x6474e551) and its `PF_X` flag;
//! * "Dynamic Section": `DT_BIND_NOW` (24), `DT_FLAGS` (30) with
//!   `DF_BIND_NOW` (0x8), `DT_FLAGS_1` (0x6ffffffb) with `DF_1_NOW` (0x1)
//!   and `DF_1_PIE` (0x08000000), `DT_SONAME`;
//! * "Symbol Table": the names in `.dynsym` (`SHT_DYNSYM`), or in `.symtab`
//!   (`SHT_SYMTAB`) when there is no `.dynsym` (static executables); in a
//!   file without section headers, the dynamic section's `DT_SYMTAB`,
//!   `DT_STRTAB` and `DT_STRSZ`, counted with `DT_HASH` or `DT_GNU_HASH`.
//!   Without section headers and without a hash table (or `DT_STRSZ`) the
//!   symbols cannot be counted, and `stack_protector` and `fortify` are
//!   reported false;
//! * "Note Section": the `NT_GNU_PROPERTY_TYPE_0` note (`PT_GNU_PROPERTY`,
//!   0x6474e553) with the psABI's `GNU_PROPERTY_X86_FEATURE_1_AND`.
//!
//! Module map: `raw` (field offsets and constants), `read` (header and
//! header tables), `dynamic` (dynamic section, address mapping), `symbols`
//! (symbol names), `notes` (GNU properties), `error`.

mod dynamic;
mod error;
mod notes;
mod raw;
mod read;
mod symbols;
#[cfg(test)]
mod testelf;

pub use error::Error;
pub use read::MAX_HEADERS;
pub use symbols::MAX_SYMBOLS;

/// What kind of object the file is (gABI "ELF Header", `e_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// `ET_EXEC`: an executable loaded at a fixed address.
    Executable,
    /// `ET_DYN` marked `DF_1_PIE` in `DT_FLAGS_1`, or (for linkers older
    /// than that flag) with a `PT_INTERP` and no `DT_SONAME`: a
    /// position-independent executable. (glibc's `libc.so.6` has a
    /// `PT_INTERP`, to be run, and a `DT_SONAME`: a shared object.)
    PieExecutable,
    /// Any other `ET_DYN`: a shared object (`ld.so` included).
    SharedObject,
    /// `ET_REL`: an object file, not linked.
    Relocatable,
    /// Another `e_type` (`ET_CORE`, `ET_NONE`, OS- or processor-specific).
    Other,
}

/// Read-only relocations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Relro {
    /// No `PT_GNU_RELRO` segment.
    None,
    /// `PT_GNU_RELRO`, but lazy binding leaves the GOT's PLT part writable.
    Partial,
    /// `PT_GNU_RELRO` and BIND_NOW: the whole GOT is read-only after start.
    Full,
}

/// The hardening properties of one ELF file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Audit {
    pub kind: Kind,
    /// An executable or shared object (`ET_EXEC`, `ET_DYN`) with neither
    /// `PT_INTERP` nor `PT_DYNAMIC` (a static-pie has `PT_DYNAMIC`).
    pub static_linked: bool,
    /// `kind` is [`Kind::PieExecutable`]. Shared objects are position
    /// independent too, but are told apart by `kind` and not counted here.
    pub pie: bool,
    pub relro: Relro,
    /// `DT_BIND_NOW`, `DT_FLAGS` & `DF_BIND_NOW`, or `DT_FLAGS_1` &
    /// `DF_1_NOW` (glibc's `ld.so` takes the three alike).
    pub bind_now: bool,
    /// A symbol `__stack_chk_fail` or `__stack_chk_guard`.
    pub stack_protector: bool,
    /// A symbol `__*_chk`: a FORTIFY_SOURCE variant of a libc function
    /// (`__memcpy_chk`, `__printf_chk`).
    pub fortify: bool,
    /// `GNU_PROPERTY_X86_FEATURE_1_AND` has `GNU_PROPERTY_X86_FEATURE_1_IBT`
    /// (indirect branch tracking); x86-64 files only.
    pub cet_ibt: bool,
    /// `GNU_PROPERTY_X86_FEATURE_1_AND` has
    /// `GNU_PROPERTY_X86_FEATURE_1_SHSTK` (shadow stack); x86-64 files only.
    pub cet_shstk: bool,
    /// A `PT_GNU_STACK` segment without `PF_X`. Without the segment the
    /// stack's permissions are left to the kernel: reported false.
    pub nx_stack: bool,
}

/// Whether `bytes` starts with the ELF magic `\x7fELF` (gABI "ELF
/// Identification"); says nothing about the rest.
pub fn is_elf(bytes: &[u8]) -> bool {
    bytes.starts_with(raw::ELFMAG)
}

/// Audits one ELF64 little-endian file.
pub fn audit(bytes: &[u8]) -> Result<Audit, Error> {
    let elf = read::parse(bytes)?;
    let has = |p_type| elf.segments.iter().any(|s| s.p_type == p_type);
    let interp = has(raw::PT_INTERP);
    let dynamic = dynamic::read(&elf)?;
    let kind = match elf.e_type {
        raw::ET_REL => Kind::Relocatable,
        raw::ET_EXEC => Kind::Executable,
        raw::ET_DYN if dynamic.pie_flag || (interp && !dynamic.soname) => Kind::PieExecutable,
        raw::ET_DYN => Kind::SharedObject,
        _ => Kind::Other,
    };
    let relro = match (has(raw::PT_GNU_RELRO), dynamic.bind_now) {
        (false, _) => Relro::None,
        (true, false) => Relro::Partial,
        (true, true) => Relro::Full,
    };
    let nx_stack = elf
        .segments
        .iter()
        .find(|s| s.p_type == raw::PT_GNU_STACK)
        .is_some_and(|s| s.flags & raw::PF_X == 0);
    let symbols = symbols::scan(&elf, &dynamic)?;
    let cet = notes::cet(&elf)?;
    Ok(Audit {
        kind,
        static_linked: matches!(elf.e_type, raw::ET_EXEC | raw::ET_DYN)
            && !interp
            && !dynamic.present,
        pie: kind == Kind::PieExecutable,
        relro,
        bind_now: dynamic.bind_now,
        stack_protector: symbols.stack_protector,
        fortify: symbols.fortify,
        cet_ibt: cet.ibt,
        cet_shstk: cet.shstk,
        nx_stack,
    })
}

/// How many of the files audited have each property.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Totals {
    /// Every file counted, audited or not.
    pub files: u64,
    /// By [`Kind`]: executables (PIE or not), shared objects, the rest.
    pub executables: u64,
    pub shared_objects: u64,
    pub other: u64,
    pub static_linked: u64,
    pub pie: u64,
    /// RELRO, partial or full.
    pub relro: u64,
    pub full_relro: u64,
    pub bind_now: u64,
    pub stack_protector: u64,
    pub fortify: u64,
    pub cet_ibt: u64,
    pub cet_shstk: u64,
    pub nx_stack: u64,
    /// Files that [`audit`] refused.
    pub unparsed: u64,
}

impl Totals {
    /// Counts one audited file.
    pub fn add(&mut self, a: &Audit) {
        let count = |n: &mut u64, has: bool| *n += u64::from(has);
        self.files += 1;
        match a.kind {
            Kind::Executable | Kind::PieExecutable => self.executables += 1,
            Kind::SharedObject => self.shared_objects += 1,
            Kind::Relocatable | Kind::Other => self.other += 1,
        }
        count(&mut self.static_linked, a.static_linked);
        count(&mut self.pie, a.pie);
        count(&mut self.relro, a.relro != Relro::None);
        count(&mut self.full_relro, a.relro == Relro::Full);
        count(&mut self.bind_now, a.bind_now);
        count(&mut self.stack_protector, a.stack_protector);
        count(&mut self.fortify, a.fortify);
        count(&mut self.cet_ibt, a.cet_ibt);
        count(&mut self.cet_shstk, a.cet_shstk);
        count(&mut self.nx_stack, a.nx_stack);
    }

    /// Counts one file that [`audit`] refused.
    pub fn add_unparsed(&mut self) {
        self.files += 1;
        self.unparsed += 1;
    }

    /// Counts the outcome of one [`audit`].
    pub fn add_result(&mut self, result: &Result<Audit, Error>) {
        match result {
            Ok(a) => self.add(a),
            Err(_) => self.add_unparsed(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testelf::*;

    /// A hardened PIE: everything on.
    fn hardened() -> Spec {
        Spec {
            e_type: ET_DYN,
            interp: true,
            dynamic: true,
            extra_dynamic: vec![(DT_FLAGS, DF_BIND_NOW), (DT_FLAGS_1, DF_1_NOW | DF_1_PIE)],
            relro: true,
            stack: Some(PF_R | PF_W),
            x86_features: Some(IBT | SHSTK),
            dynsym: vec!["__stack_chk_fail", "__memcpy_chk", "puts"],
            ..Spec::default()
        }
    }

    fn ok(spec: &Spec) -> Audit {
        let bytes = spec.build();
        audit(&bytes).unwrap_or_else(|e| panic!("{spec:?}: {e}"))
    }

    fn err(bytes: &[u8]) -> Error {
        let e = audit(bytes).expect_err("refused");
        assert!(!e.to_string().is_empty());
        e
    }

    #[test]
    fn hardened_pie() {
        let a = ok(&hardened());
        assert_eq!(
            a,
            Audit {
                kind: Kind::PieExecutable,
                static_linked: false,
                pie: true,
                relro: Relro::Full,
                bind_now: true,
                stack_protector: true,
                fortify: true,
                cet_ibt: true,
                cet_shstk: true,
                nx_stack: true,
            }
        );
    }

    #[test]
    fn bare_executable() {
        let a = ok(&Spec {
            e_type: ET_EXEC,
            interp: true,
            dynamic: true,
            stack: None,
            dynsym: vec!["puts", "__stack_chk_fail_local", "__chk", "memcpy_chk"],
            ..Spec::default()
        });
        assert_eq!(
            a,
            Audit {
                kind: Kind::Executable,
                static_linked: false,
                pie: false,
                relro: Relro::None,
                bind_now: false,
                stack_protector: false,
                fortify: false,
                cet_ibt: false,
                cet_shstk: false,
                nx_stack: false,
            }
        );
    }

    #[test]
    fn relro_needs_bind_now_for_full() {
        let mut spec = hardened();
        spec.extra_dynamic = vec![(DT_FLAGS_1, DF_1_PIE)];
        let a = ok(&spec);
        assert_eq!((a.relro, a.bind_now), (Relro::Partial, false));
        for now in [
            (DT_BIND_NOW, 0),
            (DT_FLAGS, DF_BIND_NOW),
            (DT_FLAGS_1, DF_1_NOW),
        ] {
            spec.extra_dynamic = vec![now];
            let a = ok(&spec);
            assert_eq!((a.relro, a.bind_now), (Relro::Full, true), "{now:?}");
        }
        // BIND_NOW without PT_GNU_RELRO.
        spec.relro = false;
        let a = ok(&spec);
        assert_eq!((a.relro, a.bind_now), (Relro::None, true));
        // Other bits of the flags do not count.
        spec.extra_dynamic = vec![(DT_FLAGS, !DF_BIND_NOW), (DT_FLAGS_1, !DF_1_NOW)];
        assert!(!ok(&spec).bind_now);
    }

    #[test]
    fn kinds() {
        let dyn_with = |interp, soname, flags_1| Spec {
            interp,
            dynamic: true,
            soname,
            extra_dynamic: vec![(DT_FLAGS_1, flags_1)],
            ..Spec::default()
        };
        let kind = |spec: Spec| {
            let a = ok(&spec);
            assert_eq!(a.pie, a.kind == Kind::PieExecutable);
            a.kind
        };
        assert_eq!(kind(dyn_with(false, false, DF_1_PIE)), Kind::PieExecutable);
        // An old PIE, before DF_1_PIE.
        assert_eq!(kind(dyn_with(true, false, 0)), Kind::PieExecutable);
        // libc.so.6: runnable, but a library.
        assert_eq!(kind(dyn_with(true, true, 0)), Kind::SharedObject);
        assert_eq!(kind(dyn_with(false, true, 0)), Kind::SharedObject);
        assert_eq!(kind(dyn_with(false, false, 0)), Kind::SharedObject);
        let other = Spec {
            e_type: 4,
            ..Spec::default()
        };
        assert_eq!(kind(other), Kind::Other);
        let rel = Spec {
            e_type: ET_REL,
            ..Spec::default()
        };
        let a = ok(&rel);
        assert_eq!(a.kind, Kind::Relocatable);
        assert!(!a.static_linked && !a.nx_stack);
    }

    #[test]
    fn stack_permissions() {
        let mut spec = hardened();
        spec.stack = Some(PF_R | PF_W | PF_X);
        assert!(!ok(&spec).nx_stack);
        spec.stack = None;
        assert!(!ok(&spec).nx_stack);
        spec.stack = Some(PF_R);
        assert!(ok(&spec).nx_stack);
    }

    #[test]
    fn static_executable_uses_symtab() {
        let spec = Spec {
            e_type: ET_EXEC,
            symtab: vec![
                "main",
                "__stack_chk_guard",
                "__printf_chk",
                "__fortify_fail",
            ],
            ..Spec::default()
        };
        let a = ok(&spec);
        assert!(a.static_linked && a.stack_protector && a.fortify);
        assert_eq!((a.kind, a.relro), (Kind::Executable, Relro::None));
    }

    #[test]
    fn dynsym_comes_before_symtab() {
        let spec = Spec {
            dynamic: true,
            dynsym: vec!["puts"],
            symtab: vec!["__stack_chk_fail", "__memcpy_chk"],
            ..Spec::default()
        };
        let a = ok(&spec);
        assert!(!a.stack_protector && !a.fortify);
    }

    #[test]
    fn symbols_without_section_headers() {
        for hash in [Hash::Sysv, Hash::Gnu] {
            let mut spec = hardened();
            spec.section_headers = false;
            spec.hash = hash;
            assert_eq!(ok(&spec), ok(&hardened()), "{hash:?}");
            // Only the last symbol is fortified: the count must reach it.
            spec.dynsym = vec!["puts", "exit", "__memcpy_chk"];
            let a = ok(&spec);
            assert!(a.fortify && !a.stack_protector, "{hash:?}");
        }
        // Nothing counts the symbols: reported absent.
        let mut spec = hardened();
        spec.section_headers = false;
        spec.hash = Hash::None;
        let a = ok(&spec);
        assert!(!a.stack_protector && !a.fortify);
        assert_eq!(a.relro, Relro::Full);
    }

    #[test]
    fn cet_bits() {
        for (bits, ibt, shstk) in [(IBT, true, false), (SHSTK, false, true), (0, false, false)] {
            let mut spec = hardened();
            spec.x86_features = Some(bits | 0xfff0);
            let a = ok(&spec);
            assert_eq!((a.cet_ibt, a.cet_shstk), (ibt, shstk), "{bits:#x}");
            // Without program headers, from the SHT_NOTE section.
            spec.e_type = ET_REL;
            let a = ok(&spec);
            assert_eq!((a.cet_ibt, a.cet_shstk), (ibt, shstk), "{bits:#x}");
        }
        // 0xc0000002 is IBT/SHSTK on x86-64 only.
        let mut spec = hardened();
        spec.machine = 183; // EM_AARCH64
        let a = ok(&spec);
        assert!(!a.cet_ibt && !a.cet_shstk);
    }

    #[test]
    fn is_elf_checks_the_magic() {
        assert!(is_elf(b"\x7fELF"));
        assert!(is_elf(&hardened().build()));
        assert!(!is_elf(b"\x7fEL"));
        assert!(!is_elf(b"#!/bin/sh\n"));
        assert_eq!(err(b"MZ\x90\x00"), Error::NotElf);
        assert_eq!(err(b""), Error::NotElf);
    }

    #[test]
    fn totals_count_each_property() {
        let mut totals = Totals::default();
        totals.add(&ok(&hardened()));
        totals.add_result(&audit(&Spec::default().build()));
        totals.add_result(&audit(b"not elf"));
        assert_eq!(
            totals,
            Totals {
                files: 3,
                executables: 1,
                shared_objects: 1,
                other: 0,
                static_linked: 1,
                relro: 1,
                pie: 1,
                full_relro: 1,
                bind_now: 1,
                stack_protector: 1,
                fortify: 1,
                cet_ibt: 1,
                cet_shstk: 1,
                nx_stack: 2,
                unparsed: 1,
            }
        );
        let json = serde_json::to_value(&totals).unwrap();
        assert_eq!(json["full_relro"], 1);
        let json = serde_json::to_value(ok(&hardened())).unwrap();
        assert_eq!(json["kind"], "pie_executable");
        assert_eq!(json["relro"], "full");
        assert_eq!(json["cet_shstk"], true);
    }

    // Malformed input.

    #[test]
    fn other_classes_and_byte_orders_are_unsupported() {
        let mut bytes = hardened().build();
        bytes[4] = 1;
        assert_eq!(err(&bytes), Error::Unsupported { class: 1, data: 1 });
        bytes[4] = 2;
        bytes[5] = 2;
        let e = err(&bytes);
        assert_eq!(e, Error::Unsupported { class: 2, data: 2 });
        assert!(e.to_string().contains("big-endian"), "{e}");
        // A 52-byte ELF32 header is enough to say so.
        let mut elf32 = bytes[..52].to_vec();
        elf32[4] = 1;
        elf32[5] = 1;
        assert_eq!(err(&elf32), Error::Unsupported { class: 1, data: 1 });
    }

    #[test]
    fn truncated_header() {
        let bytes = hardened().build();
        assert_eq!(
            err(&bytes[..10]),
            Error::Truncated {
                what: "ELF identification",
                len: 10,
                need: 16
            }
        );
        let e = err(&bytes[..40]);
        assert_eq!(
            e.to_string(),
            "the 40-byte file is too short for the ELF64 header (64 bytes)"
        );
    }

    /// Every prefix of a file is refused or audited, never a panic; those
    /// that cut into the section header table say so.
    #[test]
    fn every_truncation() {
        for spec in [hardened(), {
            let mut s = hardened();
            s.section_headers = false;
            s.hash = Hash::Gnu;
            s
        }] {
            let bytes = spec.build();
            for len in 0..bytes.len() {
                let _ = audit(&bytes[..len]);
            }
        }
        let bytes = hardened().build();
        let shoff = usize::try_from(get_u64(&bytes, 40)).unwrap();
        let e = err(&bytes[..shoff + 100]);
        assert!(
            matches!(
                e,
                Error::TablePastEnd {
                    table: "section header",
                    ..
                }
            ),
            "{e}"
        );
    }

    /// Every byte of a file set to 0xff or 0x00 in turn: no panic.
    #[test]
    fn every_byte_changed() {
        for spec in [hardened(), {
            let mut s = hardened();
            s.section_headers = false;
            s.hash = Hash::Gnu;
            s
        }] {
            let bytes = spec.build();
            for at in 0..bytes.len() {
                for value in [0x00, 0x01, 0x80, 0xff] {
                    let mut b = bytes.clone();
                    b[at] = value;
                    if let Ok(a) = audit(&b) {
                        assert!(a.relro != Relro::Full || a.bind_now);
                    }
                }
            }
        }
    }

    #[test]
    fn section_table_past_the_end() {
        let mut bytes = hardened().build();
        let len = bytes.len();
        put_u64(&mut bytes, 40, u64::try_from(len - 10).unwrap());
        let e = err(&bytes);
        assert!(
            matches!(e, Error::TablePastEnd { table: "section header", file_len, .. } if file_len == len),
            "{e}"
        );
        put_u64(&mut bytes, 40, u64::MAX - 8);
        assert!(matches!(err(&bytes), Error::TablePastEnd { .. }));
    }

    #[test]
    fn section_contents_past_the_end() {
        let mut bytes = hardened().build();
        let at = section_header(&bytes, SHT_DYNSYM);
        put_u64(&mut bytes, at + 24, 1 << 40);
        let e = err(&bytes);
        let index = (at - usize::try_from(get_u64(&bytes, 40)).unwrap()) / 64;
        let want = format!(
            "section header {index} (at byte {at}) lies past the end of the {}-byte file (offset {}, size 96)",
            bytes.len(),
            1u64 << 40
        );
        assert_eq!(e.to_string(), want);
        // A size that wraps around.
        let mut bytes = hardened().build();
        put_u64(&mut bytes, at + 32, u64::MAX);
        assert!(matches!(
            err(&bytes),
            Error::PastEnd {
                what: "section",
                ..
            }
        ));
    }

    #[test]
    fn string_index_out_of_range() {
        let mut bytes = hardened().build();
        let (symbols, _) = section_range(&bytes, SHT_DYNSYM);
        let (_, strsz) = section_range(&bytes, SHT_STRTAB);
        put_u32(&mut bytes, symbols + 24 * 2, 0xffff);
        let e = err(&bytes);
        assert_eq!(
            e,
            Error::NameOutOfRange {
                table: ".dynsym",
                symbol: 2,
                at: u64::try_from(symbols + 48).unwrap(),
                name: 0xffff,
                size: u64::try_from(strsz).unwrap(),
            }
        );
        // Just past the end.
        put_u32(&mut bytes, symbols + 24 * 2, u32::try_from(strsz).unwrap());
        assert!(matches!(err(&bytes), Error::NameOutOfRange { .. }));
        // The same through the dynamic section.
        let mut spec = hardened();
        spec.section_headers = false;
        let mut bytes = spec.build();
        put_u32(&mut bytes, symbols + 24, u32::MAX);
        assert!(matches!(
            err(&bytes),
            Error::NameOutOfRange {
                table: "DT_SYMTAB",
                ..
            }
        ));
    }

    #[test]
    fn string_table_links() {
        let mut bytes = hardened().build();
        let at = section_header(&bytes, SHT_DYNSYM);
        put_u32(&mut bytes, at + 40, 999);
        assert!(matches!(
            err(&bytes),
            Error::LinkOutOfRange { link: 999, .. }
        ));
        put_u32(&mut bytes, at + 40, 0);
        assert!(matches!(
            err(&bytes),
            Error::NotStringTable {
                link: 0,
                found: 0,
                ..
            }
        ));
        // A string table without its final NUL.
        let mut bytes = hardened().build();
        let (strings, size) = section_range(&bytes, SHT_STRTAB);
        bytes[strings + size - 1] = b'x';
        assert!(matches!(
            err(&bytes),
            Error::UnterminatedStrings {
                table: ".dynsym",
                ..
            }
        ));
        // A symbol entry size other than 24.
        let mut bytes = hardened().build();
        put_u64(&mut bytes, at + 56, 16);
        assert!(matches!(err(&bytes), Error::EntrySize { found: 16, .. }));
    }

    #[test]
    fn huge_header_counts() {
        let bytes = hardened().build();
        // e_phnum 0xfffe: the table cannot fit.
        let mut b = bytes.clone();
        put_u16(&mut b, 56, 0xfffe);
        let e = err(&b);
        assert!(
            matches!(
                e,
                Error::TablePastEnd {
                    table: "program header",
                    count: 0xfffe,
                    ..
                }
            ),
            "{e}"
        );
        // PN_XNUM: the count is in section 0's sh_info.
        let shoff = usize::try_from(get_u64(&bytes, 40)).unwrap();
        let mut b = bytes.clone();
        put_u16(&mut b, 56, 0xffff);
        put_u32(&mut b, shoff + 44, u32::MAX);
        assert_eq!(
            err(&b),
            Error::TooMany {
                what: "program header table",
                count: u64::from(u32::MAX),
                max: MAX_HEADERS
            }
        );
        // ... which is read correctly when it is right.
        let phnum = u32::from(u16::from_le_bytes([bytes[56], bytes[57]]));
        put_u32(&mut b, shoff + 44, phnum);
        assert_eq!(audit(&b), audit(&bytes));
        // PN_XNUM without a section header table.
        let mut b = bytes.clone();
        put_u16(&mut b, 56, 0xffff);
        put_u64(&mut b, 40, 0);
        assert!(matches!(err(&b), Error::NoSectionZero { .. }));
        // e_shnum 0: the count is in section 0's sh_size.
        let mut b = bytes.clone();
        put_u16(&mut b, 60, 0);
        put_u64(&mut b, shoff + 32, u64::MAX);
        assert!(matches!(
            err(&b),
            Error::TooMany {
                count: u64::MAX,
                ..
            }
        ));
        let shnum = u16::from_le_bytes([bytes[60], bytes[61]]);
        put_u64(&mut b, shoff + 32, u64::from(shnum));
        assert_eq!(audit(&b), audit(&bytes));
        // A program header size other than ELF64's.
        let mut b = bytes.clone();
        put_u16(&mut b, 54, 32);
        assert!(matches!(
            err(&b),
            Error::EntrySize {
                at: 54,
                found: 32,
                expected: 56,
                ..
            }
        ));
    }

    #[test]
    fn lying_notes() {
        let bytes = hardened().build();
        let (note, _) = section_range(&bytes, SHT_NOTE);
        // n_descsz past the note area.
        let mut b = bytes.clone();
        put_u32(&mut b, note + 4, 17);
        let e = err(&b);
        assert!(matches!(e, Error::BadNote { what: "note", .. }), "{e}");
        put_u32(&mut b, note + 4, u32::MAX);
        assert!(matches!(err(&b), Error::BadNote { what: "note", .. }));
        // pr_datasz past the descriptor.
        let mut b = bytes.clone();
        put_u32(&mut b, note + 20, 9);
        let e = err(&b);
        assert!(
            matches!(
                e,
                Error::BadNote {
                    what: "GNU property",
                    ..
                }
            ),
            "{e}"
        );
        // Another owner: not a GNU property.
        let mut b = bytes.clone();
        b[note + 12] = b'X';
        let a = audit(&b).unwrap();
        assert!(!a.cet_ibt && !a.cet_shstk);
    }

    /// Note segments over the same bytes: read once, refused when they add
    /// up to more than the file.
    #[test]
    fn overlapping_note_segments() {
        let mut bytes = hardened().build();
        let phnum = usize::from(u16::from_le_bytes([bytes[56], bytes[57]]));
        let mut headers = bytes[64..64 + 56 * phnum].to_vec();
        // PT_GNU_PROPERTY becomes PT_NULL, so that the PT_NOTE segments are read.
        for h in headers.chunks_exact_mut(56) {
            if get_u32(h, 0) == 0x6474_e553 {
                put_u32(h, 0, 0);
            }
        }
        // 4096 zero bytes: a run of empty notes.
        let zeros = bytes.len();
        bytes.resize(zeros + 4096, 0);
        let note = |copies: usize| {
            let mut b = bytes.clone();
            let phoff = b.len();
            b.extend_from_slice(&headers);
            for _ in 0..copies {
                let mut h = [0u8; 56];
                put_u32(&mut h, 0, 4); // PT_NOTE
                put_u64(&mut h, 8, u64::try_from(zeros).unwrap());
                put_u64(&mut h, 32, 4096);
                b.extend_from_slice(&h);
            }
            put_u64(&mut b, 32, u64::try_from(phoff).unwrap());
            put_u16(&mut b, 56, u16::try_from(phnum + copies).unwrap());
            b
        };
        let a = audit(&note(1)).unwrap();
        assert!(a.cet_ibt && a.cet_shstk, "from the PT_NOTE segment");
        let b = note(2);
        assert_eq!(err(&b), Error::NotesOverlap { file_len: b.len() });
    }

    #[test]
    fn dynamic_segment_addresses() {
        let mut spec = hardened();
        spec.section_headers = false;
        let bytes = spec.build();
        // File offset of the dynamic entry `tag`; the program header of
        // PT_DYNAMIC is the third (LOAD, INTERP, DYNAMIC).
        let entry_in = |bytes: &[u8], tag: u64| {
            assert_eq!(get_u32(bytes, 64 + 2 * 56), 2);
            let dynamic = usize::try_from(get_u64(bytes, 64 + 2 * 56 + 8)).unwrap();
            (0..)
                .map(|i| dynamic + 16 * i)
                .find(|&at| get_u64(bytes, at) == tag)
                .unwrap()
        };
        let entry = |tag| entry_in(&bytes, tag);
        let mut b = bytes.clone();
        put_u64(&mut b, entry(5) + 8, 0x7777_0000); // DT_STRTAB
        assert!(matches!(
            err(&b),
            Error::Unmapped {
                what: "DT_STRTAB string table",
                addr: 0x7777_0000,
                ..
            }
        ));
        let mut b = bytes.clone();
        put_u64(&mut b, entry(10) + 8, 1 << 20); // DT_STRSZ
        assert!(matches!(err(&b), Error::Unmapped { .. }));
        let mut b = bytes.clone();
        put_u64(&mut b, entry(11) + 8, 32); // DT_SYMENT
        assert!(matches!(err(&b), Error::EntrySize { found: 32, .. }));
        // A DT_HASH nchain far past the file.
        let mut b = bytes.clone();
        let hash = usize::try_from(get_u64(&bytes, entry(4) + 8)).unwrap();
        put_u32(&mut b, hash + 4, 1 << 20);
        assert!(matches!(
            err(&b),
            Error::Unmapped {
                what: "DT_SYMTAB symbol table",
                ..
            }
        ));
        // A GNU hash table with more buckets than the file holds.
        spec.hash = Hash::Gnu;
        let bytes = spec.build();
        let gnu = entry_in(&bytes, 0x6fff_fef5);
        let hash = usize::try_from(get_u64(&bytes, gnu + 8)).unwrap();
        let mut b = bytes.clone();
        put_u32(&mut b, hash, u32::MAX);
        assert!(matches!(err(&b), Error::BadHash { .. }));
        // A PT_LOAD larger than the file.
        let mut b = bytes.clone();
        put_u64(&mut b, 64 + 32, 1 << 30);
        assert!(matches!(
            err(&b),
            Error::PastEnd {
                what: "program",
                index: 0,
                ..
            }
        ));
    }
}
