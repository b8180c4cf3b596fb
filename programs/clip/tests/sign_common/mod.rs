//! Helpers shared by the `clip sign` / `clip verify-signature` tests: test
//! keys made with `openssl req`, the reference tools (`sbsign`, `sbverify`),
//! the Debian EFI binaries signed in the tests, and running commands.
//!
//! A missing tool or binary fails the test with the package to install;
//! nothing is skipped (`./dev test` installs them).

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The systemd-boot EFI binaries (Debian package systemd-boot-efi).
pub const EFI_DIR: &str = "/usr/lib/systemd/boot/efi";

#[path = "../support/run.rs"]
mod run;
pub use run::{Run, clip, run_program as run};

/// A reference tool from PATH; panics (never skips) when it is missing.
pub fn tool(name: &str, package: &str) -> PathBuf {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("{name} is not installed (apt-get install {package}); ./dev test installs it")
        })
}

pub fn sbsign<S: AsRef<OsStr>>(args: &[S]) -> Run {
    run(&tool("sbsign", "sbsigntool"), args)
}

pub fn sbverify<S: AsRef<OsStr>>(args: &[S]) -> Run {
    run(&tool("sbverify", "sbsigntool"), args)
}

/// `/usr/lib/systemd/boot/efi/<name>`; panics when missing.
pub fn efi(name: &str) -> PathBuf {
    let path = Path::new(EFI_DIR).join(name);
    assert!(
        path.is_file(),
        "{} is missing (apt-get install systemd-boot-efi); ./dev test installs it",
        path.display()
    );
    path
}

/// Test keys, made once per test binary with openssl:
/// `db` and `other` (self-signed, unrelated), `ca` and `leaf` (issued by `ca`).
#[derive(Debug)]
pub struct Keys {
    pub dir: PathBuf,
}

impl Keys {
    pub fn key(&self, name: &str) -> String {
        s(&self.dir.join(format!("{name}.key"))).to_owned()
    }
    pub fn cert(&self, name: &str) -> String {
        s(&self.dir.join(format!("{name}.crt"))).to_owned()
    }
}

fn openssl(args: &[&str]) {
    run(&tool("openssl", "openssl"), args).assert_success();
}

/// The keys of this test binary (`binary` names its directory).
pub fn keys(binary: &str) -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("sign-keys-{binary}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let p = |n: &str| dir.join(n).to_str().unwrap().to_owned();
        for (name, subject) in [
            ("db", "/CN=clip test db/"),
            ("other", "/CN=clip test other/"),
            ("ca", "/CN=clip test CA/"),
        ] {
            openssl(&[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                subject,
                "-days",
                "3650",
                "-keyout",
                &p(&format!("{name}.key")),
                "-out",
                &p(&format!("{name}.crt")),
            ]);
        }
        openssl(&[
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=clip test leaf/",
            "-keyout",
            &p("leaf.key"),
            "-out",
            &p("leaf.csr"),
        ]);
        openssl(&[
            "x509",
            "-req",
            "-in",
            &p("leaf.csr"),
            "-CA",
            &p("ca.crt"),
            "-CAkey",
            &p("ca.key"),
            "-days",
            "3650",
            "-set_serial",
            "4660",
            "-out",
            &p("leaf.crt"),
        ]);
        Keys { dir }
    })
}

pub fn s(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// File offsets of the CheckSum field and of data directory entry 4, and
/// the certificate table's range.
pub struct Layout {
    pub checksum: usize,
    pub cert_entry: usize,
    pub table: Option<std::ops::Range<usize>>,
    pub sections: Vec<(String, std::ops::Range<usize>)>,
    pub size_of_headers: usize,
}

pub fn layout(bytes: &[u8]) -> Layout {
    let pe = pe::PeFile::parse(bytes).expect("a PE image");
    Layout {
        checksum: pe.checksum_offset(),
        cert_entry: pe.certificate_table_entry_offset(),
        table: pe.certificate_table(),
        sections: pe
            .sections()
            .iter()
            .filter(|s| s.size_of_raw_data > 0)
            .map(|s| (s.name_str().to_owned(), s.raw_range()))
            .collect(),
        size_of_headers: pe.size_of_headers(),
    }
}

/// Names of the files in `dir`, sorted (to check nothing was left behind).
pub fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A minimal PE32+ EFI application whose sections are `(name, file offset,
/// raw size)` (each filled with its index + 1), headers of `size_of_headers`
/// bytes, and `file_len` bytes in all (at least up to the last section): for
/// layouts no linker makes, such as overlapping sections or gaps.
pub fn crafted_pe(
    sections: &[(&str, usize, usize)],
    size_of_headers: usize,
    file_len: usize,
) -> Vec<u8> {
    use pe::raw::{self, coff, opt, put_u16, put_u32, section};
    let n32 = |v: usize| u32::try_from(v).unwrap();
    let pe_at = 0x80;
    let opt_at = pe_at + 4 + coff::SIZE;
    let opt_size = opt::PE32_PLUS_DATA_DIRECTORY + 16 * 8;
    let table = opt_at + opt_size;
    let end = sections
        .iter()
        .map(|&(_, at, len)| at + len)
        .max()
        .unwrap_or(0);
    let mut b = vec![0u8; file_len.max(end).max(size_of_headers)];
    b[..2].copy_from_slice(raw::DOS_MAGIC);
    put_u32(&mut b, raw::E_LFANEW, n32(pe_at));
    b[pe_at..pe_at + 4].copy_from_slice(raw::PE_SIGNATURE);
    let c = pe_at + 4;
    put_u16(&mut b, c + coff::MACHINE, raw::machine::AMD64);
    put_u16(
        &mut b,
        c + coff::NUMBER_OF_SECTIONS,
        u16::try_from(sections.len()).unwrap(),
    );
    put_u16(
        &mut b,
        c + coff::SIZE_OF_OPTIONAL_HEADER,
        u16::try_from(opt_size).unwrap(),
    );
    put_u16(
        &mut b,
        c + coff::CHARACTERISTICS,
        raw::file_characteristics::EXECUTABLE_IMAGE,
    );
    put_u16(&mut b, opt_at + opt::MAGIC, opt::MAGIC_PE32_PLUS);
    put_u32(&mut b, opt_at + opt::SECTION_ALIGNMENT, 0x1000);
    put_u32(&mut b, opt_at + opt::FILE_ALIGNMENT, 0x200);
    put_u32(
        &mut b,
        opt_at + opt::SIZE_OF_IMAGE,
        n32(0x1000 * (sections.len() + 1)),
    );
    put_u32(&mut b, opt_at + opt::SIZE_OF_HEADERS, n32(size_of_headers));
    put_u16(
        &mut b,
        opt_at + opt::SUBSYSTEM,
        raw::subsystem::EFI_APPLICATION,
    );
    put_u32(&mut b, opt_at + opt::PE32_PLUS_NUMBER_OF_RVA_AND_SIZES, 16);
    for (i, &(name, at, len)) in sections.iter().enumerate() {
        let h = table + i * section::SIZE;
        b[h..h + name.len()].copy_from_slice(name.as_bytes());
        put_u32(&mut b, h + section::VIRTUAL_SIZE, n32(len));
        put_u32(&mut b, h + section::VIRTUAL_ADDRESS, n32(0x1000 * (i + 1)));
        put_u32(&mut b, h + section::SIZE_OF_RAW_DATA, n32(len));
        put_u32(&mut b, h + section::POINTER_TO_RAW_DATA, n32(at));
        put_u32(
            &mut b,
            h + section::CHARACTERISTICS,
            raw::scn::MEM_READ | raw::scn::CNT_INITIALIZED_DATA,
        );
        b[at..at + len].fill(u8::try_from(i + 1).unwrap());
    }
    b
}
