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

/// What the manifest reports: `elfaudit`'s totals and the floor's verdict.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Summary {
    #[serde(flatten)]
    pub totals: elfaudit::Totals,
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
        s.exempt += u64::from(e.exempt);
        s.below_floor += u64::from(!e.missing.is_empty());
        match &e.audit {
            Some(a) => s.totals.add(a),
            None => s.totals.add_unparsed(),
        }
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
