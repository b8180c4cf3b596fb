//! The disk: the A/B partitions found in the GPT (crates/gpt), the running
//! slot told apart from the inactive one by the root hash on the signed
//! command line (its partitions carry the hash's halves as unique GUIDs)
//! and, on a device, by the block devices the running dm-verity root sits
//! on; payloads streamed into the inactive slot, read back and checked
//! (crates/verity); the inactive slot's entries changed with the GPT's
//! torn-write-safe update plan.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use contract::{BootParams, Slot};
use gpt::{Gpt, Partition, ReadGpt, Step, types};
use sha2::{Digest, Sha256};

/// The open disk and its table.
#[derive(Debug)]
pub struct Disk {
    pub path: PathBuf,
    pub file: File,
    pub size: u64,
    pub table: ReadGpt,
}

/// One slot's partitions.
#[derive(Debug, Clone)]
pub struct SlotParts {
    pub root: Partition,
    pub verity: Partition,
}

const CHUNK: usize = 1 << 20;

impl Disk {
    pub fn open(path: &Path, write: bool) -> Result<Disk> {
        let file = OpenOptions::new()
            .read(true)
            .write(write)
            .open(path)
            .with_context(|| format!("cannot open the disk {}", path.display()))?;
        let size = device_size(&file).with_context(|| format!("cannot size {}", path.display()))?;
        let table = Gpt::read(size, |off, buf| file.read_exact_at(buf, off))
            .with_context(|| format!("cannot read the GPT of {}", path.display()))?;
        if let Some(note) = table.note() {
            tracing::warn!("{}: {note}", path.display());
        }
        Ok(Disk {
            path: path.to_path_buf(),
            file,
            size,
            table,
        })
    }

    pub fn gpt(&self) -> &Gpt {
        &self.table.gpt
    }

    fn named(&self, name: &str, ty: gpt::Uuid) -> Result<Partition> {
        let found: Vec<&Partition> = self
            .gpt()
            .partitions
            .iter()
            .filter(|p| p.name == name && p.type_guid == ty)
            .collect();
        match found.as_slice() {
            [p] => Ok((*p).clone()),
            [] => bail!("{}: no partition {name} of type {ty}", self.path.display()),
            _ => bail!("{}: more than one partition {name}", self.path.display()),
        }
    }

    /// The partitions of `slot` (`root-<slot>`, `verity-<slot>`).
    pub fn slot(&self, slot: Slot) -> Result<SlotParts> {
        Ok(SlotParts {
            root: self.named(&format!("root-{slot}"), types::ROOT_X86_64)?,
            verity: self.named(&format!("verity-{slot}"), types::ROOT_X86_64_VERITY)?,
        })
    }

    /// The ESP's byte range.
    pub fn esp(&self) -> Result<(u64, u64)> {
        let esps: Vec<&Partition> = self
            .gpt()
            .partitions
            .iter()
            .filter(|p| p.type_guid == types::ESP)
            .collect();
        match esps.as_slice() {
            [p] => Ok((p.offset(), p.size())),
            _ => bail!(
                "{}: expected one EFI system partition, found {}",
                self.path.display(),
                esps.len()
            ),
        }
    }

    /// The inactive slot's partitions, after checking that they are not the
    /// running system's: not the partitions whose GUIDs carry the running
    /// root hash, not overlapping them, and (on a block device) not the
    /// devices the running root's dm-verity device sits on.
    pub fn inactive(&self, running: &BootParams) -> Result<SlotParts> {
        let inactive = running.slot.other();
        let target = self.slot(inactive)?;
        let (root_guid, verity_guid) = types::verity_partition_uuids(&running.root_hash)
            .context("internal error: a root hash of 32 bytes")?;
        let running_parts: Vec<&Partition> = self
            .gpt()
            .partitions
            .iter()
            .filter(|p| p.unique_guid == root_guid || p.unique_guid == verity_guid)
            .collect();
        for t in [&target.root, &target.verity] {
            for r in &running_parts {
                if t.index == r.index || (t.first_lba <= r.last_lba && r.first_lba <= t.last_lba) {
                    bail!(
                        "refusing to write partition {} ({}): it holds the running system \
                         (slot {}, unique GUID {})",
                        t.index + 1,
                        t.name,
                        running.slot,
                        r.unique_guid
                    );
                }
            }
        }
        check_not_running_device(&self.path, &[&target.root, &target.verity])?;
        Ok(target)
    }

    /// Streams `reader` into `part`; refuses more bytes than it holds.
    /// Returns the bytes written.
    pub fn write_stream(
        &self,
        part: &Partition,
        reader: &mut dyn Read,
        progress: &mut dyn FnMut(u64),
    ) -> Result<u64> {
        let mut buf = vec![0u8; CHUNK];
        let mut at = 0u64;
        loop {
            let n = read_full(reader, &mut buf).context("cannot decompress the payload")?;
            if n == 0 {
                break;
            }
            let n64 = u64::try_from(n).unwrap_or(u64::MAX);
            if at + n64 > part.size() {
                bail!(
                    "payload for partition {} is larger than its {} bytes",
                    part.name,
                    part.size()
                );
            }
            self.file
                .write_all_at(&buf[..n], part.offset() + at)
                .with_context(|| {
                    format!(
                        "cannot write {} at byte {at} of {}",
                        self.path.display(),
                        part.name
                    )
                })?;
            at += n64;
            progress(at);
        }
        Ok(at)
    }

    pub fn sync(&self) -> Result<()> {
        self.file
            .sync_data()
            .with_context(|| format!("cannot sync {}", self.path.display()))
    }

    /// SHA-256 of the first `len` bytes of `part`, and, when `tree` is
    /// given, the dm-verity root hash of those bytes.
    pub fn read_back(
        &self,
        part: &Partition,
        len: u64,
        tree: Option<verity::Params>,
    ) -> Result<(String, Option<Vec<u8>>)> {
        let mut hasher = Sha256::new();
        let mut builder = tree
            .map(verity::TreeBuilder::new)
            .transpose()
            .context("bad verity parameters")?;
        let mut buf = vec![0u8; CHUNK];
        let mut at = 0u64;
        while at < len {
            let n = usize::try_from((len - at).min(CHUNK as u64)).unwrap_or(CHUNK);
            self.file
                .read_exact_at(&mut buf[..n], part.offset() + at)
                .with_context(|| format!("cannot read back {}", part.name))?;
            hasher.update(&buf[..n]);
            if let Some(b) = builder.as_mut() {
                b.update(&buf[..n]).context("cannot hash the root")?;
            }
            at += u64::try_from(n).unwrap_or(u64::MAX);
        }
        let root = builder
            .map(|b| b.finish().map(|t| t.root_hash().to_vec()))
            .transpose()
            .context("cannot finish the hash tree")?;
        Ok((hex::encode(hasher.finalize()), root))
    }

    /// Applies the GPT update plan that gives the inactive slot's entries
    /// `root_hash`'s GUIDs: the copy not in use first, a barrier, the other.
    pub fn set_slot_entries(&mut self, slot: Slot, root_hash: &[u8; 32]) -> Result<()> {
        let (root_guid, verity_guid) = types::verity_partition_uuids(root_hash)
            .context("internal error: a root hash of 32 bytes")?;
        let parts = self.slot(slot)?;
        let attributes = parts
            .root
            .attributes
            .with_read_only(true)
            .with_no_auto(false)
            .with_successful(false)
            .with_priority(1)
            .context("GPT attributes")?;
        let partitions: Vec<Partition> = self
            .gpt()
            .partitions
            .iter()
            .map(|p| {
                let mut p = p.clone();
                if p.index == parts.root.index {
                    p.unique_guid = root_guid;
                    p.attributes = attributes;
                } else if p.index == parts.verity.index {
                    p.unique_guid = verity_guid;
                    p.attributes = attributes;
                }
                p
            })
            .collect();
        let plan = self
            .table
            .update_plan(partitions)
            .context("cannot plan the GPT update")?;
        for step in &plan.steps {
            match step {
                Step::Write(region) => self
                    .file
                    .write_all_at(&region.bytes, region.offset)
                    .with_context(|| {
                        format!(
                            "cannot write the GPT at byte {} of {}",
                            region.offset,
                            self.path.display()
                        )
                    })?,
                Step::Barrier => self.sync()?,
            }
        }
        let size = self.size;
        let file = &self.file;
        self.table = Gpt::read(size, |off, buf| file.read_exact_at(buf, off))
            .context("cannot read the GPT back")?;
        Ok(())
    }
}

fn read_full(reader: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match reader.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn device_size(file: &File) -> std::io::Result<u64> {
    use std::io::Seek;
    let mut f = file;
    let end = f.seek(std::io::SeekFrom::End(0))?;
    f.seek(std::io::SeekFrom::Start(0))?;
    Ok(end)
}

/// On a block device: refuses when a target partition's device is one the
/// running root (`/`'s dm device) sits on (`/sys/dev/block/M:m/slaves`).
/// A regular file (tests) has no such devices.
fn check_not_running_device(disk: &Path, targets: &[&Partition]) -> Result<()> {
    let meta =
        std::fs::metadata(disk).with_context(|| format!("cannot stat {}", disk.display()))?;
    use std::os::unix::fs::FileTypeExt;
    if !meta.file_type().is_block_device() {
        return Ok(());
    }
    let root_dev = std::fs::metadata("/").context("cannot stat /")?.dev();
    let slaves_dir = format!(
        "/sys/dev/block/{}:{}/slaves",
        major(root_dev),
        minor(root_dev)
    );
    let slaves: Vec<String> = std::fs::read_dir(&slaves_dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| std::fs::read_to_string(e.path().join("dev")).ok())
                .map(|s| s.trim().to_string())
                .collect()
        })
        .unwrap_or_default();
    let disk_dev = meta.rdev();
    for t in targets {
        // Partition N of disk M:m: /sys/dev/block/M:m/<disk>N/dev.
        let sys = format!("/sys/dev/block/{}:{}", major(disk_dev), minor(disk_dev));
        let Ok(entries) = std::fs::read_dir(&sys) else {
            continue;
        };
        for e in entries.flatten() {
            let part_file = e.path().join("partition");
            let Ok(n) = std::fs::read_to_string(&part_file) else {
                continue;
            };
            if n.trim() != (t.index + 1).to_string() {
                continue;
            }
            let dev = std::fs::read_to_string(e.path().join("dev")).unwrap_or_default();
            if slaves.iter().any(|s| s == dev.trim()) {
                bail!(
                    "refusing to write partition {} ({}, device {}): the running root is on it",
                    t.index + 1,
                    t.name,
                    dev.trim()
                );
            }
        }
    }
    Ok(())
}

fn major(dev: u64) -> u64 {
    ((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0xfff)
}

fn minor(dev: u64) -> u64 {
    ((dev >> 12) & 0xffff_ff00) | (dev & 0xff)
}

/// The disk under the running root: the parent of the first device the
/// root's dm-verity device sits on.
pub fn running_disk() -> Result<PathBuf> {
    let root_dev = std::fs::metadata("/").context("cannot stat /")?.dev();
    let slaves_dir = format!(
        "/sys/dev/block/{}:{}/slaves",
        major(root_dev),
        minor(root_dev)
    );
    for e in std::fs::read_dir(&slaves_dir)
        .with_context(|| {
            format!("cannot list {slaves_dir} (is / a dm-verity device?); pass --disk")
        })?
        .flatten()
    {
        // /sys/class/block/vda2 -> ../../devices/.../vda/vda2
        let real = std::fs::canonicalize(Path::new("/sys/class/block").join(e.file_name()))
            .with_context(|| format!("cannot resolve {:?}", e.file_name()))?;
        if let Some(parent) = real.parent().and_then(|p| p.file_name()) {
            let dev = Path::new("/dev").join(parent);
            if dev.exists() {
                return Ok(dev);
            }
        }
    }
    bail!("cannot find the disk under {slaves_dir}; pass --disk")
}

/// Writes into a byte range of the disk, for fatfs.
#[derive(Debug)]
pub struct Window<'a> {
    file: &'a File,
    start: u64,
    len: u64,
    pos: u64,
}

impl<'a> Window<'a> {
    pub fn new(file: &'a File, start: u64, len: u64) -> Window<'a> {
        Window {
            file,
            start,
            len,
            pos: 0,
        }
    }
}

impl Read for Window<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.len.saturating_sub(self.pos);
        let n = usize::try_from(left.min(buf.len() as u64)).unwrap_or(0);
        let n = self.file.read_at(&mut buf[..n], self.start + self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Write for Window<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let left = self.len.saturating_sub(self.pos);
        if left == 0 && !buf.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::WriteZero,
                "write past the end of the ESP",
            ));
        }
        let n = usize::try_from(left.min(buf.len() as u64)).unwrap_or(0);
        let n = self.file.write_at(&buf[..n], self.start + self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl std::io::Seek for Window<'_> {
    fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
        let new = match to {
            std::io::SeekFrom::Start(n) => i128::from(n),
            std::io::SeekFrom::End(d) => i128::from(self.len) + i128::from(d),
            std::io::SeekFrom::Current(d) => i128::from(self.pos) + i128::from(d),
        };
        self.pos = u64::try_from(new).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before the start")
        })?;
        Ok(self.pos)
    }
}
