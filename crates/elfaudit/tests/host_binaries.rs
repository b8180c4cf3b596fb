//! Audits of the host's own files (Debian 12, x86-64), checked against
//! what is certain for Debian's builds and, file by file, against the test
//! oracle `readelf -hlW -dW --dyn-syms -n` (GNU binutils; `readelf -sW`
//! for the `.symtab` of files without `.dynsym`). A missing `readelf` or
//! host file fails the test: nothing is skipped silently.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use elfaudit::{Audit, Error, Kind, Relro, Totals, audit};

fn read(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e} (a Debian 12 file)"))
}

fn audited(path: &str) -> Audit {
    audit(&read(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// coreutils is built with Debian's default hardening flags: PIE, RELRO,
/// `-fstack-protector-strong`, `_FORTIFY_SOURCE=2`, but not `-z now`
/// (dpkg-buildflags' `bindnow` is off unless a package asks for it), so
/// its RELRO is partial.
#[test]
fn ls_is_a_default_hardened_pie() {
    let a = audited("/usr/bin/ls");
    assert_eq!(a.kind, Kind::PieExecutable);
    assert!(a.pie && !a.static_linked);
    assert_eq!((a.relro, a.bind_now), (Relro::Partial, false));
    assert!(a.nx_stack && a.stack_protector && a.fortify, "{a:?}");
}

/// bash asks for every hardening feature (`hardening=+all`): full RELRO.
#[test]
fn bash_has_full_relro() {
    let a = audited("/usr/bin/bash");
    assert_eq!(a.kind, Kind::PieExecutable);
    assert_eq!((a.relro, a.bind_now), (Relro::Full, true));
    assert!(
        a.pie && a.nx_stack && a.stack_protector && a.fortify,
        "{a:?}"
    );
}

/// glibc's `libc.so.6` can be run (it has a `PT_INTERP`) but is a library:
/// it has a `DT_SONAME` and no `DF_1_PIE`. It defines the stack protector's
/// and FORTIFY's functions.
#[test]
fn libc_is_a_shared_object() {
    let a = audited("/usr/lib/x86_64-linux-gnu/libc.so.6");
    assert_eq!(a.kind, Kind::SharedObject);
    assert!(!a.pie && !a.static_linked);
    assert!(a.stack_protector && a.fortify && a.nx_stack, "{a:?}");
    let ld = audited("/usr/lib64/ld-linux-x86-64.so.2");
    assert_eq!(ld.kind, Kind::SharedObject);
    assert!(!ld.static_linked, "ld.so has a PT_DYNAMIC");
}

/// A host file cut short is refused, naming the section header table.
#[test]
fn truncated_host_file() {
    let bytes = read("/usr/bin/ls");
    let e = audit(&bytes[..4096]).unwrap_err();
    assert!(
        matches!(
            e,
            Error::TablePastEnd {
                table: "section header",
                file_len: 4096,
                ..
            }
        ),
        "{e}"
    );
}

/// Runs readelf with `args` on `path` (in the C locale) and returns stdout.
fn readelf(args: &[&str], path: &Path) -> String {
    let out = Command::new("readelf")
        .args(args)
        .arg(path)
        .env("LC_ALL", "C")
        .output()
        .expect("readelf (binutils) is the test oracle: install it");
    assert!(
        out.status.success(),
        "readelf {args:?} {}: {out:?}",
        path.display()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The symbol names of the tables readelf prints (those whose header line
/// passes `table`), without their `@VERSION`.
fn symbol_names(text: &str, table: impl Fn(&str) -> bool) -> Vec<String> {
    let mut names = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        if line.starts_with("Symbol table") {
            inside = table(line);
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let is_entry = words
            .first()
            .and_then(|w| w.strip_suffix(':'))
            .is_some_and(|n| n.parse::<u64>().is_ok());
        if inside && is_entry {
            if let Some(name) = words.get(7) {
                names.push(name.split('@').next().unwrap_or_default().to_owned());
            }
        } else if line.trim().is_empty() {
            inside = false;
        }
    }
    names
}

/// What readelf says about the properties `audit` reports, read with the
/// same definitions (see the crate documentation).
fn oracle(path: &Path) -> Audit {
    let text = readelf(&["-hlW", "-dW", "--dyn-syms", "-n"], path);
    let elf_type = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Type:"))
        .expect("readelf -h prints the type")
        .trim()
        .to_owned();

    let mut segments: Vec<(String, String)> = Vec::new();
    let mut in_headers = false;
    for line in text.lines() {
        if line.starts_with("Program Headers:") {
            in_headers = true;
            continue;
        }
        if in_headers && line.trim().is_empty() {
            in_headers = false;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        // TYPE OFFSET VADDR PADDR FILESZ MEMSZ FLAGS... ALIGN
        if in_headers && words.len() >= 8 && words[1].starts_with("0x") {
            let flags = words[6..words.len() - 1].concat();
            segments.push((words[0].to_owned(), flags));
        }
    }
    let has = |t: &str| segments.iter().any(|(s, _)| s == t);

    // " 0x000000000000001e (FLAGS)              BIND_NOW"
    let mut tags: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        let line = line.trim_start();
        if !line.starts_with("0x") {
            continue;
        }
        let Some((_, rest)) = line.split_once(" (") else {
            continue;
        };
        let Some((tag, value)) = rest.split_once(')') else {
            continue;
        };
        if tag
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        {
            tags.push((tag.to_owned(), value.trim().to_owned()));
        }
    }
    let tag = |t: &str| tags.iter().find(|(n, _)| n == t).map(|(_, v)| v.as_str());
    let words = |v: Option<&str>, w: &str| v.is_some_and(|v| v.split_whitespace().any(|x| x == w));
    let bind_now = tag("BIND_NOW").is_some()
        || words(tag("FLAGS"), "BIND_NOW")
        || words(tag("FLAGS_1"), "NOW");

    let mut names = symbol_names(&text, |l| l.contains("'.dynsym'"));
    if !text.contains("Symbol table '.dynsym'") {
        names = symbol_names(&readelf(&["-sW"], path), |l| l.contains("'.symtab'"));
    }
    let stack_protector = names
        .iter()
        .any(|n| n == "__stack_chk_fail" || n == "__stack_chk_guard");
    let fortify = names
        .iter()
        .any(|n| n.len() > 6 && n.starts_with("__") && n.ends_with("_chk"));

    // "Properties: x86 feature: IBT, SHSTK" (not "x86 feature used:").
    let features: Vec<String> = text
        .lines()
        .filter_map(|l| l.split_once("x86 feature: ").map(|(_, f)| f.to_owned()))
        .collect();
    let feature = |f: &str| {
        features
            .iter()
            .any(|l| l.split(", ").any(|x| x.trim() == f))
    };

    let interp = has("INTERP");
    let kind = if elf_type.starts_with("EXEC") {
        Kind::Executable
    } else if elf_type.starts_with("DYN") {
        if elf_type.contains("Position-Independent") || (interp && tag("SONAME").is_none()) {
            Kind::PieExecutable
        } else {
            Kind::SharedObject
        }
    } else if elf_type.starts_with("REL") {
        Kind::Relocatable
    } else {
        Kind::Other
    };
    let relro = match (has("GNU_RELRO"), bind_now) {
        (false, _) => Relro::None,
        (true, false) => Relro::Partial,
        (true, true) => Relro::Full,
    };
    let stack = segments.iter().find(|(t, _)| t == "GNU_STACK");
    Audit {
        kind,
        static_linked: matches!(
            kind,
            Kind::Executable | Kind::PieExecutable | Kind::SharedObject
        ) && !interp
            && !has("DYNAMIC"),
        pie: kind == Kind::PieExecutable,
        relro,
        bind_now,
        stack_protector,
        fortify,
        cet_ibt: feature("IBT"),
        cet_shstk: feature("SHSTK"),
        nx_stack: stack.is_some_and(|(_, flags)| !flags.contains('E')),
    }
}

/// Every ELF file of /usr/bin (symbolic links followed, each file once),
/// and the fuzz corpus seeds that have section headers (readelf reads
/// symbols from sections): the audit equals readelf's reading.
#[test]
fn agrees_with_readelf() {
    let mut files: BTreeSet<PathBuf> = BTreeSet::new();
    for entry in std::fs::read_dir("/usr/bin").expect("/usr/bin") {
        let path = entry.expect("readable /usr/bin").path();
        if let Ok(real) = std::fs::canonicalize(&path) {
            if real.is_file() {
                files.insert(real);
            }
        }
    }
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/audit");
    for entry in std::fs::read_dir(&seeds).expect("fuzz corpus") {
        let path = entry.expect("readable corpus").path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("seed-") && !name.contains("stripped") {
            files.insert(path);
        }
    }

    let mut totals = Totals::default();
    let mut seen_kinds = BTreeSet::new();
    let mut mismatches = Vec::new();
    for path in &files {
        let Ok(bytes) = std::fs::read(path) else {
            continue; // not readable by this user
        };
        if !elfaudit::is_elf(&bytes) {
            continue;
        }
        let from_seeds = path.starts_with(&seeds);
        let result = audit(&bytes);
        drop(bytes);
        let ours = match result {
            Ok(a) => a,
            // The seeds include a cut and an ELF32 file.
            Err(_) if from_seeds => continue,
            Err(e) => panic!("{}: {e}", path.display()),
        };
        totals.add(&ours);
        seen_kinds.insert(format!("{:?}", ours.kind));
        let theirs = oracle(path);
        if ours != theirs {
            mismatches.push(format!(
                "{}:\n  ours    {ours:?}\n  readelf {theirs:?}",
                path.display()
            ));
        }
    }
    eprintln!("audited {} ELF files: {totals:?}", totals.files);
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    // Not vacuous: Debian 12's /usr/bin has hundreds of ELF files of each
    // kind, and the seeds carry the CET bits no Debian 12 binary has.
    assert!(totals.files > 200, "{totals:?}");
    assert!(
        totals.pie > 100 && totals.full_relro > 10 && totals.cet_ibt > 0,
        "{totals:?}"
    );
    for kind in ["Executable", "PieExecutable", "SharedObject", "Relocatable"] {
        assert!(seen_kinds.contains(kind), "no {kind} among {seen_kinds:?}");
    }
}
