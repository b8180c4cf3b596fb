//! The per-ELF hardening audit of the root tree (issue 10; docs/kernel.md,
//! "ELF audit"): every regular file that starts with the ELF magic is read
//! by crate `elfaudit`; the list goes to `artifacts/elf-audit.json`, the
//! totals and the floor's verdict to manifest.json, and a file below the
//! product's floor (`[elf] require`, not exempt) fails the build.

use std::path::Path;

use anyhow::{Context, Result, bail};
use elfaudit::{Audit, Kind, Relro};
use product::{ElfFloor, ElfProperty};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// The audit of the root among the artifacts.
pub const ARTIFACT: &str = "elf-audit.json";

/// One ELF file.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// Absolute path in the root.
    pub path: String,
    #[serde(flatten)]
    pub audit: Option<Audit>,
    /// Why the file could not be read as ELF.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Properties of the floor this file lacks.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<&'static str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub exempt: bool,
}

/// What the manifest reports.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Summary {
    pub files: u64,
    pub executables: u64,
    pub shared_objects: u64,
    pub other: u64,
    pub static_linked: u64,
    pub pie: u64,
    pub relro: u64,
    pub full_relro: u64,
    pub bind_now: u64,
    pub stack_protector: u64,
    pub fortify: u64,
    pub cet_ibt: u64,
    pub cet_shstk: u64,
    pub nx_stack: u64,
    pub unparsed: u64,
    /// `[elf] require`.
    pub floor: Vec<String>,
    pub exempt: u64,
    pub below_floor: u64,
}

/// Audits every ELF file below `root`; sorted by path.
pub fn audit_tree(root: &Path, floor: &ElfFloor) -> Result<(Vec<Entry>, Summary)> {
    let mut paths = Vec::new();
    walk(root, root, &mut paths)?;
    let mut entries: Vec<Entry> = paths
        .par_iter()
        .map(|(rel, path)| -> Result<Option<Entry>> {
            let bytes =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            if !elfaudit::is_elf(&bytes) {
                return Ok(None);
            }
            let (audit, error) = match elfaudit::audit(&bytes) {
                Ok(a) => (Some(a), None),
                Err(e) => (None, Some(e.to_string())),
            };
            let exempt = floor.exempts(rel);
            let missing = match &audit {
                Some(a) if !exempt => lacks(a, &floor.require),
                _ => Vec::new(),
            };
            Ok(Some(Entry {
                path: rel.clone(),
                audit,
                error,
                missing,
                exempt,
            }))
        })
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        .collect();
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    let mut s = Summary {
        floor: floor.require.iter().map(|p| p.name().to_owned()).collect(),
        ..Summary::default()
    };
    for e in &entries {
        s.files += 1;
        s.exempt += u64::from(e.exempt);
        s.below_floor += u64::from(!e.missing.is_empty());
        let Some(a) = &e.audit else {
            s.unparsed += 1;
            continue;
        };
        let count = |n: &mut u64, has: bool| *n += u64::from(has);
        match a.kind {
            Kind::Executable | Kind::PieExecutable => s.executables += 1,
            Kind::SharedObject => s.shared_objects += 1,
            Kind::Relocatable | Kind::Other => s.other += 1,
        }
        count(&mut s.static_linked, a.static_linked);
        count(&mut s.pie, a.pie);
        count(&mut s.relro, a.relro != Relro::None);
        count(&mut s.full_relro, a.relro == Relro::Full);
        count(&mut s.bind_now, a.bind_now);
        count(&mut s.stack_protector, a.stack_protector);
        count(&mut s.fortify, a.fortify);
        count(&mut s.cet_ibt, a.cet_ibt);
        count(&mut s.cet_shstk, a.cet_shstk);
        count(&mut s.nx_stack, a.nx_stack);
    }
    Ok((entries, s))
}

/// The floor's properties `a` lacks. Executables and shared objects are
/// held to it (PIE: executables only); object files and others are not.
pub fn lacks(a: &Audit, require: &[ElfProperty]) -> Vec<&'static str> {
    let executable = matches!(a.kind, Kind::Executable | Kind::PieExecutable);
    if !executable && a.kind != Kind::SharedObject {
        return Vec::new();
    }
    require
        .iter()
        .filter(|p| !match p {
            ElfProperty::Pie => !executable || a.pie,
            ElfProperty::Relro => a.relro != Relro::None,
            ElfProperty::FullRelro => a.relro == Relro::Full,
            ElfProperty::BindNow => a.bind_now,
            ElfProperty::StackProtector => a.stack_protector,
            ElfProperty::Fortify => a.fortify,
            ElfProperty::CetIbt => a.cet_ibt,
            ElfProperty::CetShstk => a.cet_shstk,
            ElfProperty::NxStack => a.nx_stack,
        })
        .map(|p| p.name())
        .collect()
}

/// Fails when a file is below the floor, naming the first ones.
pub fn enforce(entries: &[Entry]) -> Result<()> {
    let below: Vec<&Entry> = entries.iter().filter(|e| !e.missing.is_empty()).collect();
    if below.is_empty() {
        return Ok(());
    }
    let mut text = String::new();
    for e in below.iter().take(20) {
        text.push_str(&format!("\n  {}: no {}", e.path, e.missing.join(", no ")));
    }
    if below.len() > 20 {
        text.push_str(&format!("\n  … and {} more", below.len() - 20));
    }
    bail!(
        "{} ELF files of the root are below the product's floor (elf.require; exempt paths go in elf.exempt):{text}",
        below.len()
    )
}

/// Regular files below `dir`, not following symlinks: (absolute path in
/// the root, path on the host).
fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, std::path::PathBuf)>) -> Result<()> {
    for e in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let e = e.with_context(|| format!("cannot list {}", dir.display()))?;
        let t = e
            .file_type()
            .with_context(|| format!("cannot stat {}", e.path().display()))?;
        let path = e.path();
        if t.is_dir() {
            walk(root, &path, out)?;
        } else if t.is_file() {
            let rel = path
                .strip_prefix(root)
                .map(|r| format!("/{}", r.display()))
                .unwrap_or_else(|_| path.display().to_string());
            out.push((rel, path));
        }
    }
    Ok(())
}
