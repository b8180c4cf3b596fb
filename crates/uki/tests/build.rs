//! `uki::build` on trixie's systemd-stub and kernel: the checks on the
//! stub and kernel, SBAT merging and the NX_COMPAT rule.

#[path = "../../pe/tests/support/mod.rs"]
mod support;

use uki::{Error, Inputs, build, inspect, join_initrds};

struct Files {
    stub: Vec<u8>,
    linux: Vec<u8>,
}

fn files() -> Files {
    Files {
        stub: std::fs::read(support::stub()).unwrap(),
        linux: std::fs::read(support::kernel()).unwrap(),
    }
}

fn inputs<'a>(f: &'a Files, initrd: &'a [u8]) -> Inputs<'a> {
    Inputs {
        stub: &f.stub,
        linux: &f.linux,
        initrds: vec![initrd],
        cmdline: Some(b"quiet"),
        os_release: Some(b"ID=test\n"),
        uname: Some("6.12.0-test"),
        ..Inputs::default()
    }
}

/// Sets `DllCharacteristics` bits of a PE copy.
fn with_dll_characteristics(bytes: &[u8], value: u16) -> Vec<u8> {
    let pe = pe::PeFile::parse(bytes).unwrap();
    let at = pe.optional_header_offset() + 70;
    let mut out = bytes.to_vec();
    out[at..at + 2].copy_from_slice(&value.to_le_bytes());
    out
}

fn dll_characteristics(bytes: &[u8]) -> u16 {
    pe::PeFile::parse(bytes).unwrap().dll_characteristics()
}

#[test]
fn builds_and_inspects() {
    let f = files();
    let image = build(&inputs(&f, b"initrd")).unwrap();
    let r = inspect(&image).unwrap();
    assert_eq!(r.text(".cmdline"), Some("quiet"));
    assert_eq!(r.text(".osrel"), Some("ID=test\n"));
    assert_eq!(r.text(".uname"), Some("6.12.0-test"));
    let sbat = r.text(".sbat").unwrap();
    assert!(sbat.starts_with("sbat,1,SBAT Version,sbat,1,"));
    assert!(sbat.contains("\nsystemd-stub,1,"));
    assert!(sbat.ends_with(
        "\nuki,1,UKI,uki,1,https://uapi-group.org/specifications/specs/unified_kernel_image/\n"
    ));
    assert_eq!(r.subsystem, 10);
}

#[test]
fn sbat_from_the_caller_replaces_the_default_entry() {
    let f = files();
    let mut i = inputs(&f, b"x");
    i.sbat =
        Some("sbat,1,SBAT Version,sbat,1,https://x\nclip,1,CLIP OS,clip,1,https://example.org\n");
    let r = inspect(&build(&i).unwrap()).unwrap();
    let sbat = r.text(".sbat").unwrap();
    assert!(
        sbat.ends_with("\nclip,1,CLIP OS,clip,1,https://example.org\n"),
        "{sbat}"
    );
    assert!(!sbat.contains("uki,1,UKI"));
    assert_eq!(sbat.matches("sbat,1,SBAT Version").count(), 1);

    // Too much for the stub's .sbat section (its raw size, read from the
    // stub: a point release may change it).
    let room = {
        let pe = pe::PeFile::parse(&f.stub).unwrap();
        pe.section(".sbat").unwrap().raw_range().len()
    };
    let line = "clip,1,CLIP OS,clip,1,https://example.org\n";
    let long = format!("sbat,1,x\n{}", line.repeat(room / line.len() + 1));
    i.sbat = Some(&long);
    assert!(matches!(
        build(&i),
        Err(Error::Assemble(pe::Error::SectionTooSmall { .. }))
    ));
}

#[test]
fn nx_compat_follows_the_kernel() {
    let f = files();
    const NX: u16 = 0x100;
    // An NX_COMPAT stub, whether or not the package's is one.
    let f = Files {
        stub: with_dll_characteristics(&f.stub, dll_characteristics(&f.stub) | NX),
        linux: f.linux,
    };
    let with_nx = build(&inputs(&f, b"x")).unwrap();
    let kernel_nx = dll_characteristics(&f.linux) & NX != 0;
    assert_eq!(dll_characteristics(&with_nx) & NX != 0, kernel_nx);

    let old_kernel = with_dll_characteristics(&f.linux, dll_characteristics(&f.linux) & !NX);
    let g = Files {
        stub: f.stub.clone(),
        linux: old_kernel,
    };
    let without = build(&inputs(&g, b"x")).unwrap();
    assert_eq!(dll_characteristics(&without) & NX, 0);
    assert_eq!(
        dll_characteristics(&without),
        dll_characteristics(&f.stub) & !NX
    );
}

#[test]
fn refuses_unsuitable_stub_and_kernel() {
    let f = files();
    // A UKI is not a stub: it already has the UKI sections.
    let uki = build(&inputs(&f, b"x")).unwrap();
    let g = Files {
        stub: uki,
        linux: f.linux.clone(),
    };
    assert_eq!(
        build(&inputs(&g, b"x")),
        Err(Error::StubHasSection(".osrel".into()))
    );

    // A kernel that is not an EFI application.
    let mut not_efi = f.linux.clone();
    let at = pe::PeFile::parse(&not_efi)
        .unwrap()
        .optional_header_offset()
        + 68;
    not_efi[at..at + 2].copy_from_slice(&3u16.to_le_bytes());
    let g = Files {
        stub: f.stub.clone(),
        linux: not_efi,
    };
    assert_eq!(
        build(&inputs(&g, b"x")),
        Err(Error::KernelNotEfiApplication(3))
    );

    // Another machine.
    let mut arm = f.linux.clone();
    let at = pe::PeFile::parse(&arm).unwrap().pe_offset() + 4;
    arm[at..at + 2].copy_from_slice(&0xaa64u16.to_le_bytes());
    let g = Files {
        stub: f.stub.clone(),
        linux: arm,
    };
    assert_eq!(
        build(&inputs(&g, b"x")),
        Err(Error::MachineMismatch {
            stub: 0x8664,
            kernel: 0xaa64
        })
    );

    // A stub without .sbat: rename the section.
    let mut no_sbat = f.stub.clone();
    let pe = pe::PeFile::parse(&f.stub).unwrap();
    let index = pe
        .sections()
        .iter()
        .position(|s| s.name_str() == ".sbat")
        .unwrap();
    let at = pe.section_table_offset() + index * 40;
    no_sbat[at..at + 8].copy_from_slice(b".xbat\0\0\0");
    let g = Files {
        stub: no_sbat,
        linux: f.linux.clone(),
    };
    assert_eq!(build(&inputs(&g, b"x")), Err(Error::StubNoSbat));
}

#[test]
fn text_and_initrd_errors() {
    let f = files();
    let mut i = inputs(&f, b"x");
    i.cmdline = Some(b"a\0b");
    assert_eq!(
        build(&i),
        Err(Error::Nul {
            input: ".cmdline",
            offset: 1
        })
    );
    let mut i = inputs(&f, b"x");
    i.os_release = Some(b"\xff");
    assert_eq!(
        build(&i),
        Err(Error::Utf8 {
            input: ".osrel",
            offset: 0
        })
    );
    let mut i = inputs(&f, b"x");
    i.uname = Some("");
    assert_eq!(build(&i), Err(Error::Uname(String::new())));
    let mut i = inputs(&f, b"x");
    i.cmdline = Some(b"");
    assert_eq!(build(&i), Err(Error::Empty { input: ".cmdline" }));
    let i = inputs(&f, b"");
    assert_eq!(build(&i), Err(Error::EmptyInitrd { index: 0 }));
}

#[test]
fn cmdline_fits_the_kernel() {
    assert_eq!(
        uki::MAX_CMDLINE,
        2047,
        "x86 COMMAND_LINE_SIZE minus the NUL"
    );
    let f = files();
    // 2047 bytes: the longest line the kernel keeps whole, stored as is.
    let longest = format!("quiet {}", "x".repeat(2041));
    assert_eq!(longest.len(), 2047);
    let mut i = inputs(&f, b"x");
    i.cmdline = Some(longest.as_bytes());
    let image = build(&i).unwrap();
    assert_eq!(inspect(&image).unwrap().text(".cmdline"), Some(&*longest));
    // One byte more would be cut off by the kernel: refused.
    let over = format!("{longest}y");
    i.cmdline = Some(over.as_bytes());
    let err = build(&i).unwrap_err();
    assert_eq!(
        err,
        Error::CmdlineTooLong {
            len: 2048,
            max: 2047
        }
    );
    assert_eq!(
        err.to_string(),
        ".cmdline is 2048 bytes long; the kernel takes at most 2047 (COMMAND_LINE_SIZE 2048 with the NUL) and would cut the rest off"
    );
    // Bytes, not characters: 1024 two-byte characters are 2048 bytes.
    let wide = "é".repeat(1024);
    i.cmdline = Some(wide.as_bytes());
    assert_eq!(
        build(&i),
        Err(Error::CmdlineTooLong {
            len: 2048,
            max: 2047
        })
    );
}

#[test]
fn initrds_join_like_ukify() {
    assert_eq!(join_initrds(&[b"abcde"]).unwrap(), b"abcde");
    assert_eq!(
        join_initrds(&[b"abcde", b"fg"]).unwrap(),
        b"abcde\0\0\0fg\0\0"
    );
    assert_eq!(join_initrds(&[b"abcd", b"e"]).unwrap(), b"abcde\0\0\0");
    assert_eq!(
        join_initrds(&[b"a", b""]),
        Err(Error::EmptyInitrd { index: 1 })
    );
}
