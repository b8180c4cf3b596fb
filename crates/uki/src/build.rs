//! Assembling a unified kernel image: the stub with the UKI sections added,
//! as systemd's ukify (v257, `make_uki` and `pe_add_sections`) does.
//!
//! Section order (ukify's): `.osrel`, `.cmdline`, `.uname`, `.pcrpkey`,
//! `.linux`, `.initrd`, then `.pcrsig`. Each new section starts at the next
//! `SectionAlignment` boundary in memory and `FileAlignment` boundary in the
//! file; flags are `MEM_READ | CNT_INITIALIZED_DATA`, `.linux` has
//! `MEM_READ | CNT_CODE` instead (old kernels entered through the EFI
//! handover protocol run in place). The merged SBAT data replaces the
//! contents of the stub's own `.sbat` section. If the kernel is not marked
//! NX-compatible the image is not either.

use pe::raw::{scn, subsystem};
use pe::{Edits, NewSection, PeFile};

use crate::error::Error;
use crate::sbat;
use crate::text::{check_text, check_uname};

/// The longest kernel command line, in bytes: x86's `COMMAND_LINE_SIZE` is
/// 2048 including the terminating NUL (arm64's is 2048 too). The kernel's
/// EFI stub stops copying the line there, so a longer `.cmdline` would
/// boot with its end missing. [`build`] refuses a longer one.
pub const MAX_CMDLINE: usize = 2047;

/// `IMAGE_DLLCHARACTERISTICS_NX_COMPAT`.
const NX_COMPAT: u16 = 0x0100;
const DATA: u32 = scn::MEM_READ | scn::CNT_INITIALIZED_DATA;
const CODE: u32 = scn::MEM_READ | scn::CNT_CODE;

/// Everything a UKI is made of. Text inputs are checked (UTF-8, no NUL).
#[derive(Debug, Clone, Default)]
pub struct Inputs<'a> {
    /// systemd-stub (`linux<arch>.efi.stub`).
    pub stub: &'a [u8],
    /// The kernel: a PE image with an EFI stub (x86 bzImage).
    pub linux: &'a [u8],
    /// Initrds, concatenated in order into `.initrd`.
    pub initrds: Vec<&'a [u8]>,
    /// `.cmdline`, as it is to be stored (see [`crate::normalize_cmdline`]).
    pub cmdline: Option<&'a [u8]>,
    /// `.osrel`: an os-release file.
    pub os_release: Option<&'a [u8]>,
    /// `.uname`: the kernel release (`uname -r`).
    pub uname: Option<&'a str>,
    /// SBAT CSV for the UKI, merged after the stub's and the kernel's; when
    /// `None`, ukify's default `uki` entry ([`sbat::DEFAULT_UKI_SBAT`]).
    pub sbat: Option<&'a str>,
    /// `.pcrpkey`: public key (PEM) for signed PCR 11 policies.
    pub pcrpkey: Option<&'a [u8]>,
    /// `.pcrsig`: JSON PCR 11 signatures.
    pub pcrsig: Option<&'a [u8]>,
}

/// Concatenates initrds as ukify does: one is used as is; several are each
/// padded with zeros to a multiple of 4 bytes, the last one included.
pub fn join_initrds(initrds: &[&[u8]]) -> Result<Vec<u8>, Error> {
    for (index, i) in initrds.iter().enumerate() {
        if i.is_empty() {
            return Err(Error::EmptyInitrd { index });
        }
    }
    if let [only] = initrds {
        return Ok(only.to_vec());
    }
    let total: usize = initrds.iter().map(|i| i.len().next_multiple_of(4)).sum();
    if u32::try_from(total).is_err() {
        return Err(Error::InitrdTooLarge);
    }
    let mut out = Vec::with_capacity(total);
    for i in initrds {
        out.extend_from_slice(i);
        out.resize(out.len().next_multiple_of(4), 0);
    }
    Ok(out)
}

fn sbat_of<'p>(input: &'static str, pe: &PeFile<'p>) -> Result<Option<&'p str>, Error> {
    pe.section(".sbat")
        .map(|s| sbat::section_text(input, pe.section_contents(s)))
        .transpose()
}

/// Builds the UKI. Nothing is written: the caller gets the bytes.
pub fn build(inputs: &Inputs<'_>) -> Result<Vec<u8>, Error> {
    let stub = PeFile::parse(inputs.stub).map_err(|error| Error::Pe {
        input: "the stub",
        error,
    })?;
    let linux = PeFile::parse(inputs.linux).map_err(|error| Error::Pe {
        input: "the kernel",
        error,
    })?;
    if stub.subsystem() != subsystem::EFI_APPLICATION {
        return Err(Error::StubNotEfiApplication(stub.subsystem()));
    }
    if linux.subsystem() != subsystem::EFI_APPLICATION {
        return Err(Error::KernelNotEfiApplication(linux.subsystem()));
    }
    if stub.machine() != linux.machine() {
        return Err(Error::MachineMismatch {
            stub: stub.machine(),
            kernel: linux.machine(),
        });
    }

    let cmdline = inputs
        .cmdline
        .map(|c| check_text(".cmdline", c))
        .transpose()?;
    if let Some(len) = cmdline.map(str::len).filter(|&len| len > MAX_CMDLINE) {
        return Err(Error::CmdlineTooLong {
            len,
            max: MAX_CMDLINE,
        });
    }
    let os_release = inputs
        .os_release
        .map(|o| check_text(".osrel", o))
        .transpose()?;
    if let Some(uname) = inputs.uname {
        check_uname(uname)?;
    }
    let initrd = if inputs.initrds.is_empty() {
        None
    } else {
        Some(join_initrds(&inputs.initrds)?)
    };

    // SBAT: the stub's, the kernel's, then the caller's (or ukify's default).
    let stub_sbat = sbat_of("the stub's .sbat", &stub)?.ok_or(Error::StubNoSbat)?;
    let mut parts = vec![("the stub's .sbat", stub_sbat)];
    if let Some(k) = sbat_of("the kernel's .sbat", &linux)? {
        parts.push(("the kernel's .sbat", k));
    }
    match inputs.sbat {
        Some(s) => parts.push(("--sbat", check_text("--sbat", s.as_bytes())?)),
        None => parts.push(("default SBAT", sbat::DEFAULT_UKI_SBAT)),
    }
    let merged_sbat = sbat::merge(&parts)?;

    let candidates: [(&str, Option<&[u8]>, u32); 7] = [
        (".osrel", os_release.map(str::as_bytes), DATA),
        (".cmdline", cmdline.map(str::as_bytes), DATA),
        (".uname", inputs.uname.map(str::as_bytes), DATA),
        (".pcrpkey", inputs.pcrpkey, DATA),
        (".linux", Some(inputs.linux), CODE),
        (".initrd", initrd.as_deref(), DATA),
        (".pcrsig", inputs.pcrsig, DATA),
    ];
    let mut append = Vec::new();
    for (name, data, characteristics) in candidates {
        let Some(data) = data else { continue };
        if stub.section(name).is_some() {
            return Err(Error::StubHasSection(name.to_owned()));
        }
        // ukify leaves out empty inputs; an empty kernel failed to parse.
        if data.is_empty() {
            return Err(Error::Empty { input: name });
        }
        append.push(NewSection {
            name,
            data,
            characteristics,
        });
    }
    let linux_nx = linux.dll_characteristics() & NX_COMPAT != 0;
    let edits = Edits {
        replace: vec![NewSection {
            name: ".sbat",
            data: merged_sbat.as_bytes(),
            characteristics: 0,
        }],
        append,
        clear_dll_characteristics: if linux_nx { 0 } else { NX_COMPAT },
    };
    let plan = pe::plan(&stub, &edits).map_err(Error::Assemble)?;
    Ok(pe::write(&stub, &edits, &plan))
}
