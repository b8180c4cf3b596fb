//! Boot entries on the ESP (Boot Loader Specification type #1 with
//! systemd's boot assessment): `loader/entries/<product>-<slot>.conf` for a
//! slot marked good, `<product>-<slot>+N[-M].conf` while it is being tried
//! (N tries left, M done), `EFI/<product>/<product>-<slot>.efi` its UKI.
//!
//! The ESP's FAT is edited in place on its partition with `fatfs` rather
//! than mounted: no vfat module or mount namespace in the confined
//! service, nothing else sees a half-written file, and the same code runs
//! on a disk image file in the host tests. New files are written under a
//! temporary name and renamed, so an entry is complete or absent.

use std::fs::File;
use std::io::{Read, Write};

use anyhow::{Context, Result, anyhow, bail};
use contract::Slot;
use fatfs::{FileSystem, FsOptions};

use crate::disk::Window;

/// Removes every `*.new` file (any case) of `dir`: temporary files of
/// writes that did not finish.
fn sweep_new<IO: fatfs::ReadWriteSeek>(dir: &fatfs::Dir<'_, IO>, path: &str) -> Result<()> {
    let stale: Vec<String> = dir
        .iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.is_file())
        .map(|e| e.file_name())
        .filter(|n| n.to_ascii_lowercase().ends_with(".new"))
        .collect();
    for name in stale {
        tracing::info!(path, name, "removing a leftover of an interrupted write");
        dir.remove(&name)
            .map_err(io(format!("cannot remove {path}/{name}")))?;
    }
    Ok(())
}

/// Tries a newly installed entry gets.
pub const TRIES: u32 = contract::update::NEW_ENTRY_TRIES;

/// A slot's entry as found on the ESP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub file_name: String,
    pub slot: Slot,
    /// `None`: marked good (no counter).
    pub tries_left: Option<u32>,
    pub tries_done: Option<u32>,
    /// Its `version` line in SemVer form (`2.0.0~rc.1` reads `2.0.0-rc.1`).
    pub version: Option<String>,
}

impl Entry {
    pub fn state(&self) -> String {
        match self.tries_left {
            None => "good".into(),
            Some(0) => "failed".into(),
            Some(n) => format!("trying +{n}"),
        }
    }
}

/// `<product>-<slot>[+LEFT[-DONE]].conf` of this product (contract::update's
/// grammar, systemd-boot's) → (slot, left, done).
pub fn parse_name(product: &str, name: &str) -> Option<(Slot, Option<u32>, Option<u32>)> {
    let e = contract::update::EntryFile::parse(name).ok()?;
    if e.product != product {
        return None;
    }
    Some(match e.tries {
        None => (e.slot, None, None),
        Some((left, done)) => (e.slot, Some(left), Some(done)),
    })
}

pub fn uki_path(product: &str, slot: Slot) -> String {
    contract::update::uki_path(product, slot)
}

fn options() -> FsOptions {
    FsOptions::new().update_accessed_date(false)
}

/// The ESP, opened on its partition.
pub struct Esp<'a> {
    fs: FileSystem<Window<'a>>,
    product: String,
}

impl std::fmt::Debug for Esp<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Esp")
            .field("product", &self.product)
            .finish()
    }
}

fn io(what: String) -> impl FnOnce(std::io::Error) -> anyhow::Error {
    move |e| anyhow!("{what}: {e}")
}

impl<'a> Esp<'a> {
    pub fn open(file: &'a File, start: u64, len: u64, product: &str) -> Result<Esp<'a>> {
        let fs = FileSystem::new(Window::new(file, start, len), options())
            .map_err(io("cannot open the ESP's FAT file system".into()))?;
        Ok(Esp {
            fs,
            product: product.to_string(),
        })
    }

    /// Every entry of this product, by slot.
    pub fn entries(&self) -> Result<Vec<Entry>> {
        let dir = self
            .fs
            .root_dir()
            .open_dir(contract::update::ENTRIES_DIR)
            .map_err(io("cannot open loader/entries on the ESP".into()))?;
        let mut out = Vec::new();
        for e in dir.iter() {
            let e = e.map_err(io("cannot list loader/entries".into()))?;
            let name = e.file_name();
            let Some((slot, left, done)) = parse_name(&self.product, &name) else {
                continue;
            };
            let mut text = String::new();
            e.to_file()
                .read_to_string(&mut text)
                .map_err(io(format!("cannot read loader/entries/{name}")))?;
            let version = text
                .lines()
                .find_map(|l| l.strip_prefix("version "))
                .map(contract::update::version_of_entry);
            out.push(Entry {
                file_name: name,
                slot,
                tries_left: left,
                tries_done: done,
                version,
            });
        }
        out.sort_by(|a, b| a.file_name.cmp(&b.file_name));
        Ok(out)
    }

    pub fn slot_entry(&self, slot: Slot) -> Result<Option<Entry>> {
        Ok(self.entries()?.into_iter().find(|e| e.slot == slot))
    }

    /// Removes every entry of `slot`.
    pub fn remove_entries(&self, slot: Slot) -> Result<()> {
        let dir = self
            .fs
            .root_dir()
            .open_dir("loader/entries")
            .map_err(io("cannot open loader/entries".into()))?;
        for e in self.entries()?.into_iter().filter(|e| e.slot == slot) {
            dir.remove(&e.file_name)
                .map_err(io(format!("cannot remove loader/entries/{}", e.file_name)))?;
        }
        // A write cut short (power loss) leaves "<name>.new", which
        // systemd-boot ignores (not *.conf) but which would stay for ever,
        // and a cut inside its directory entry can leave only the 8.3 name
        // ("CLIPOS~1.NEW"), which no later write replaces. Only apply
        // writes here, so every such file is a leftover.
        sweep_new(&dir, "loader/entries")?;
        let uki_dir = uki_path(&self.product, slot);
        if let Some((uki_dir, _)) = uki_dir.rsplit_once('/') {
            if let Ok(d) = self.fs.root_dir().open_dir(uki_dir) {
                sweep_new(&d, uki_dir)?;
            }
        }
        Ok(())
    }

    /// Writes `path` (directories created) through `path.new` and a rename.
    pub fn write_file(&self, path: &str, reader: &mut dyn Read) -> Result<()> {
        let root = self.fs.root_dir();
        let (dir_path, name) = path.rsplit_once('/').unwrap_or(("", path));
        let mut dir = root.clone();
        for part in dir_path.split('/').filter(|p| !p.is_empty()) {
            dir = match dir.open_dir(part) {
                Ok(d) => d,
                Err(_) => dir
                    .create_dir(part)
                    .map_err(io(format!("cannot create {part} on the ESP")))?,
            };
        }
        let tmp = format!("{name}.new");
        let _ = dir.remove(&tmp);
        {
            let mut f = dir
                .create_file(&tmp)
                .map_err(io(format!("cannot create {dir_path}/{tmp} on the ESP")))?;
            f.truncate().map_err(io(format!("cannot truncate {tmp}")))?;
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = reader
                    .read(&mut buf)
                    .with_context(|| format!("cannot read the contents of {path}"))?;
                if n == 0 {
                    break;
                }
                f.write_all(&buf[..n])
                    .map_err(io(format!("cannot write {path} on the ESP")))?;
            }
            f.flush()
                .map_err(io(format!("cannot write {path} on the ESP")))?;
        }
        let _ = dir.remove(name);
        dir.rename(&tmp, &dir, name)
            .map_err(io(format!("cannot rename {tmp} to {path} on the ESP")))?;
        Ok(())
    }

    /// Renames an entry (mark-good).
    pub fn rename_entry(&self, from: &str, to: &str) -> Result<()> {
        let dir = self
            .fs
            .root_dir()
            .open_dir("loader/entries")
            .map_err(io("cannot open loader/entries".into()))?;
        if dir.open_file(to).is_ok() {
            bail!("loader/entries/{to} exists already");
        }
        dir.rename(from, &dir, to)
            .map_err(io(format!("cannot rename loader/entries/{from} to {to}")))
    }

    /// The `default` of loader.conf becomes `<product>-*`, so that
    /// systemd-boot picks the newest version with tries left and falls
    /// back to the other slot when they run out.
    pub fn default_to_newest(&self) -> Result<()> {
        let mut text = String::new();
        if let Ok(mut f) = self.fs.root_dir().open_file("loader/loader.conf") {
            f.read_to_string(&mut text)
                .map_err(io("cannot read loader/loader.conf".into()))?;
        }
        let want = format!("default {}-*", self.product);
        if text.lines().any(|l| l.trim() == want) {
            return Ok(());
        }
        let mut out: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("default"))
            .map(|l| format!("{l}\n"))
            .collect();
        out.insert_str(0, &format!("{want}\n"));
        self.write_file("loader/loader.conf", &mut out.as_bytes())
    }

    pub fn read(&self, path: &str) -> Result<Vec<u8>> {
        let mut v = Vec::new();
        self.fs
            .root_dir()
            .open_file(path)
            .and_then(|mut f| f.read_to_end(&mut v))
            .map_err(io(format!("cannot read {path} on the ESP")))?;
        Ok(v)
    }

    /// Writes everything back.
    pub fn close(self) -> Result<()> {
        self.fs
            .unmount()
            .map_err(io("cannot write the ESP back".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            parse_name("clipos", "clipos-a.conf"),
            Some((Slot::A, None, None))
        );
        assert_eq!(
            parse_name("clipos", "clipos-b+3.conf"),
            Some((Slot::B, Some(3), Some(0)))
        );
        assert_eq!(
            parse_name("clipos", "clipos-b+0-3.conf"),
            Some((Slot::B, Some(0), Some(3)))
        );
        assert_eq!(parse_name("clipos", "clipos-c.conf"), None);
        assert_eq!(parse_name("clipos", "other-a.conf"), None);
        // A '+' not followed by a counter is part of the name (boot.c).
        assert_eq!(parse_name("clipos", "clipos-a+x.conf"), None);
        assert_eq!(parse_name("clipos", "clipos-os-a.conf"), None);
    }
}
