//! PCR 11 predicted: what systemd-stub measures for a UKI, then the boot
//! phases extended after it.
//!
//! A PCR starts at zero at boot and only changes by extension:
//! `PCR ← SHA-256(PCR || digest)` (TPM 2.0 Part 1, §17.7 "PCR Extend"; the
//! SHA-256 bank). Nothing but systemd-stub and the boot phases touches
//! PCR 11 (systemd `docs/TPM2_PCR_MEASUREMENTS.md`).
//!
//! systemd-stub (`measure_sections`), for each section it knows that the
//! image has, in [`sections::UNIFIED_SECTIONS`] order, `.pcrsig` excepted,
//! extends PCR 11 twice:
//!
//! ```text
//! SHA-256(name, with its terminating NUL)      e.g. ".linux\0"
//! SHA-256(the section in memory: VirtualSize bytes)
//! ```
//!
//! The section in memory is its raw data up to `VirtualSize`, then zeros if
//! `VirtualSize` is larger (`pe_locate_sections`: `memory_size =
//! VirtualSize`). systemd-measure 257 hashes the files given to it; ukify
//! 257 makes `VirtualSize` the file's length, so both agree.
//!
//! Boot phases (systemd-pcrphase, `systemd-pcrextend`): each word of a
//! phase path `enter-initrd:leave-initrd:…` extends PCR 11 with
//! `SHA-256(word)`, no NUL. In CLIP OS, clip-init extends `enter-initrd`
//! when it starts and `leave-initrd` before switch_root, as systemd's
//! initrd would; the running system's systemd extends `sysinit` and
//! `ready`. The state key is sealed to the value at `enter-initrd`
//! ([`UNSEAL_PHASE`]).

use sha2::{Digest as _, Sha256};

use crate::error::Error;
use crate::sections::{self, PCRSIG, UNPREDICTABLE};

/// A SHA-256 PCR value or measurement.
pub type Digest = [u8; 32];

/// The PCR systemd-stub measures the UKI into (`TPM2_PCR_KERNEL_BOOT`).
pub const PCR: u32 = 11;

/// Boot phase words (systemd-pcrphase's units, in boot order).
pub const ENTER_INITRD: &str = "enter-initrd";
pub const LEAVE_INITRD: &str = "leave-initrd";
pub const SYSINIT: &str = "sysinit";
pub const READY: &str = "ready";
pub const SHUTDOWN: &str = "shutdown";
pub const FINAL: &str = "final";

/// The phase paths `systemd-measure calculate` and `sign` use when given no
/// `--phase`: from entering the initrd to the system being up.
pub const SYSTEMD_PHASE_PATHS: [&str; 4] = [
    "enter-initrd",
    "enter-initrd:leave-initrd",
    "enter-initrd:leave-initrd:sysinit",
    "enter-initrd:leave-initrd:sysinit:ready",
];

/// The phase path the CLIP OS policy is signed for: only the initrd, before
/// clip-init extends `leave-initrd`, can unseal.
pub const UNSEAL_PHASE: &str = ENTER_INITRD;

/// `SHA-256(pcr || measurement)`: the TPM's extend.
pub fn extend(pcr: &Digest, measurement: &Digest) -> Digest {
    Sha256::new()
        .chain_update(pcr)
        .chain_update(measurement)
        .finalize()
        .into()
}

/// `pcr` after the words of the phase path `path` (colon-separated; empty
/// words are skipped, as systemd-measure normalises `--phase`, so ":" and
/// "" leave the value as it is).
pub fn extend_phases(pcr: &Digest, path: &str) -> Digest {
    path.split(':')
        .filter(|w| !w.is_empty())
        .fold(*pcr, |value, word| {
            extend(&value, &Sha256::digest(word).into())
        })
}

/// One section the stub measures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Measured {
    /// The section name (one of [`sections::UNIFIED_SECTIONS`]).
    pub name: &'static str,
    /// SHA-256 of the section as measured (`VirtualSize` bytes).
    pub sha256: Digest,
    /// How many bytes were measured.
    pub size: u64,
}

/// The measurements systemd-stub makes for one UKI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prediction {
    /// In measurement order.
    pub sections: Vec<Measured>,
    /// PCR 11 once the stub is done (before any boot phase).
    pub after_stub: Digest,
}

impl Prediction {
    fn new(mut sections: Vec<Measured>) -> Self {
        sections.sort_by_key(|m| sections::order(m.name));
        let after_stub = sections.iter().fold([0; 32], |pcr, m| {
            let name = Sha256::new()
                .chain_update(m.name)
                .chain_update([0])
                .finalize()
                .into();
            extend(&extend(&pcr, &name), &m.sha256)
        });
        Self {
            sections,
            after_stub,
        }
    }

    /// PCR 11 after the phase path `path` (see [`extend_phases`]).
    pub fn at(&self, path: &str) -> Digest {
        extend_phases(&self.after_stub, path)
    }
}

/// The canonical name of `name`, or why it cannot be measured.
fn known(name: &str) -> Result<&'static str, Error> {
    sections::UNIFIED_SECTIONS
        .into_iter()
        .find(|s| *s == name)
        .ok_or_else(|| Error::UnknownSection(name.to_owned()))
}

fn refuse_duplicate(seen: &[Measured], name: &'static str) -> Result<(), Error> {
    if seen.iter().any(|m| m.name == name) {
        return Err(Error::DuplicateSection(name));
    }
    Ok(())
}

/// PCR 11 for a UKI made of `sections` (name, contents), as
/// `systemd-measure calculate --NAME=FILE…` computes it: in any order;
/// empty contents are skipped (as systemd-measure and the stub skip them)
/// and so is `.pcrsig`. Names the stub does not know, and a name given
/// twice, are refused.
pub fn predict(sections: &[(&str, &[u8])]) -> Result<Prediction, Error> {
    let mut measured = Vec::new();
    for &(name, data) in sections {
        let name = known(name)?;
        refuse_duplicate(&measured, name)?;
        if name == PCRSIG || data.is_empty() {
            continue;
        }
        measured.push(Measured {
            name,
            sha256: Sha256::digest(data).into(),
            size: data.len() as u64,
        });
    }
    if !measured.iter().any(|m| m.name == ".linux") {
        return Err(Error::NoLinux);
    }
    Ok(Prediction::new(measured))
}

/// PCR 11 for the UKI `image`, from its section table, as systemd-stub
/// measures it: every section it knows, `.pcrsig` excepted, over
/// `VirtualSize` bytes (raw data, then zeros). Refused: an image that is no
/// PE, has no `.linux`, has a known section twice, empty or reaching past
/// `SizeOfImage` (firmware would not load it), or has a section whose
/// measurement depends on the machine ([`UNPREDICTABLE`]).
pub fn predict_image(image: &[u8]) -> Result<Prediction, Error> {
    let pe = pe::PeFile::parse(image).map_err(Error::Pe)?;
    let mut measured = Vec::new();
    for s in pe.sections() {
        let Some(name) = sections::UNIFIED_SECTIONS
            .into_iter()
            .find(|n| *n == s.name_str())
        else {
            continue;
        };
        refuse_duplicate(&measured, name)?;
        if name == PCRSIG {
            // Counted for duplicates only.
            measured.push(Measured {
                name,
                sha256: [0; 32],
                size: 0,
            });
            continue;
        }
        if let Some((_, why)) = UNPREDICTABLE.iter().find(|(n, _)| *n == name) {
            return Err(Error::Unpredictable { name, why });
        }
        if s.virtual_size == 0 {
            return Err(Error::EmptySection(name));
        }
        // Firmware's PE loader (EDK2 PeCoffLoaderLoadImage) refuses an
        // image with a section past SizeOfImage: nothing would be measured.
        if s.virtual_end() > u64::from(pe.size_of_image()) {
            return Err(Error::PastSizeOfImage {
                name,
                end: s.virtual_end(),
                size_of_image: pe.size_of_image(),
            });
        }
        let contents = pe.section_contents(s);
        let mut hash = Sha256::new();
        hash.update(contents);
        let mut zeros = u64::from(s.virtual_size).saturating_sub(contents.len() as u64);
        const CHUNK: [u8; 4096] = [0; 4096];
        while zeros > 0 {
            let n = usize::try_from(zeros).map_or(CHUNK.len(), |z| z.min(CHUNK.len()));
            hash.update(&CHUNK[..n]);
            zeros -= n as u64;
        }
        measured.push(Measured {
            name,
            sha256: hash.finalize().into(),
            size: u64::from(s.virtual_size),
        });
    }
    measured.retain(|m| m.name != PCRSIG);
    if !measured.iter().any(|m| m.name == ".linux") {
        return Err(Error::NoLinux);
    }
    Ok(Prediction::new(measured))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(d: &Digest) -> String {
        hex::encode(d)
    }

    /// By hand, from the definitions: .linux "L" then .cmdline "C".
    #[test]
    fn extends_name_then_contents_in_spec_order() {
        let h = |b: &[u8]| -> Digest { Sha256::digest(b).into() };
        let mut pcr = [0u8; 32];
        for (name, data) in [(&b".linux\0"[..], &b"L"[..]), (b".cmdline\0", b"C")] {
            pcr = h(&[&pcr[..], &h(name)].concat());
            pcr = h(&[&pcr[..], &h(data)].concat());
        }
        // Given in another order, measured in the stub's.
        let p = predict(&[(".cmdline", b"C"), (".linux", b"L"), (".pcrsig", b"{}")]).unwrap();
        assert_eq!(hex(&p.after_stub), hex(&pcr));
        let names: Vec<&str> = p.sections.iter().map(|m| m.name).collect();
        assert_eq!(names, [".linux", ".cmdline"]);
        let enter = h(&[&pcr[..], &h(b"enter-initrd")].concat());
        assert_eq!(p.at("enter-initrd"), enter);
        assert_eq!(p.at("::enter-initrd:"), enter);
        assert_eq!(p.at(":"), pcr);
        let leave = h(&[&enter[..], &h(b"leave-initrd")].concat());
        assert_eq!(p.at("enter-initrd:leave-initrd"), leave);
    }

    #[test]
    fn refusals() {
        assert_eq!(
            predict(&[(".linux", b"L"), (".text", b"x")]),
            Err(Error::UnknownSection(".text".into()))
        );
        assert_eq!(
            predict(&[(".linux", b"L"), (".osrel", b"a"), (".osrel", b"b")]),
            Err(Error::DuplicateSection(".osrel"))
        );
        assert_eq!(predict(&[(".cmdline", b"C")]), Err(Error::NoLinux));
        // Empty contents are skipped, like an empty file given to systemd-measure.
        assert_eq!(
            predict(&[(".linux", b"L"), (".osrel", b"")]).unwrap(),
            predict(&[(".linux", b"L")]).unwrap()
        );
    }
}
