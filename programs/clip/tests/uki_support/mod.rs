//! Helpers for the `clip uki` tests: running `clip`, inputs for a UKI, and
//! the real EFI binaries and oracles of `crates/pe/tests/support`.

#![allow(dead_code, unused_imports)]

use std::path::{Path, PathBuf};

/// Trixie's systemd-measure (the oracle of crates/measure), for ukify's
/// `--tools`; it includes crates/pe's test support.
#[path = "../../../../crates/measure/tests/support/mod.rs"]
pub mod measure_support;

pub use measure_support::pe_support;
pub use pe_support::{kernel, osslsigncode_report, run, stub, throwaway_key, ukify};

#[path = "../support/run.rs"]
mod run;
pub use run::{Run, clip};

/// Deterministic pseudo-random bytes (xorshift64*), so inputs compress badly
/// and differ between seeds.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(len);
    out
}

pub const OS_RELEASE: &str =
    "PRETTY_NAME=\"CLIP OS test\"\nNAME=\"CLIP OS\"\nID=clipos\nVERSION_ID=\"0.1\"\n";

/// The input files of one UKI, in a temporary directory.
#[derive(Debug)]
pub struct Inputs {
    pub dir: tempfile::TempDir,
    pub stub: PathBuf,
    pub linux: PathBuf,
    pub initrds: Vec<PathBuf>,
    pub os_release: PathBuf,
}

impl Inputs {
    /// Trixie's stub and kernel, and initrds of the given sizes.
    pub fn new(initrd_sizes: &[usize]) -> Inputs {
        let dir = tempfile::tempdir().unwrap();
        let initrds = initrd_sizes
            .iter()
            .enumerate()
            .map(|(i, &len)| {
                let p = dir.path().join(format!("initrd{i}.img"));
                std::fs::write(&p, noise(len, 7 + i as u64)).unwrap();
                p
            })
            .collect();
        let os_release = dir.path().join("os-release");
        std::fs::write(&os_release, OS_RELEASE).unwrap();
        Inputs {
            stub: stub(),
            linux: kernel(),
            initrds,
            os_release,
            dir,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `clip uki build` arguments for these inputs (without --cmdline, --uname, --out).
    pub fn args(&self) -> Vec<String> {
        let mut a = vec![
            "uki".to_owned(),
            "build".to_owned(),
            "--stub".to_owned(),
            s(&self.stub),
            "--linux".to_owned(),
            s(&self.linux),
            "--os-release".to_owned(),
            s(&self.os_release),
        ];
        for i in &self.initrds {
            a.push("--initrd".to_owned());
            a.push(s(i));
        }
        a
    }
}

pub fn s(p: &Path) -> String {
    p.to_str().unwrap().to_owned()
}

/// Names of the files in `dir` (to check nothing was left behind).
pub fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}
