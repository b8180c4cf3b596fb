//! EFI System Partition (ESP) images.
//!
//! UEFI 2.10 §13.3 (File System Format): the system partition holds a FAT12,
//! FAT16 or FAT32 file system; removable media boot from
//! `\EFI\BOOT\BOOTX64.EFI` (§3.5.1.1). [`Esp`] collects files by path and
//! writes a whole file system image with the `fatfs` crate, in memory.
//!
//! fatfs 0.3.6 gets the `.`/`..` entries of new directories wrong; the
//! [`fixup`] pass repairs them so that fsck.fat finds nothing to change.
//!
//! The image is deterministic: a fixed volume ID (settable), every timestamp
//! at the DOS epoch 1980-01-01 00:00:00, directories created and files
//! written in sorted path order. The FAT type follows from the size (fatfs
//! picks it like mkfs.fat: FAT32 from about 64 MiB up with 512-byte sectors).

mod fixup;

use std::collections::BTreeMap;
use std::io::{Cursor, Read, Seek, Write};

use fatfs::{
    Date, DateTime, FatType, FileSystem, FormatVolumeOptions, FsOptions, Time, TimeProvider,
};

/// The removable-media boot path on x86-64 (UEFI §3.5.1.1).
pub const BOOT_X64: &str = "EFI/BOOT/BOOTX64.EFI";
/// Default volume ID ("CLIP" in ASCII).
pub const DEFAULT_VOLUME_ID: u32 = 0x434C_4950;
const SECTOR: u64 = 512;
/// Smallest image [`Esp::fat32`] accepts.
pub const MIN_FAT32: u64 = 34 << 20;

/// Why an image cannot be built or read.
///
/// Messages include the I/O error, which is therefore not also a
/// `source()` (docs/conventions.md, Errors).
#[derive(Debug, thiserror::Error)]
pub enum EspError {
    #[error("bad path {path:?}: {why}")]
    BadPath { path: String, why: &'static str },
    #[error("{path:?} was added twice (FAT names ignore case)")]
    Duplicate { path: String },
    #[error("{path:?} is both a file and a directory")]
    FileIsDirectory { path: String },
    #[error(
        "image size {size} bytes is not a multiple of {SECTOR}, is below 1 MiB, or (FAT32) below {MIN_FAT32}"
    )]
    BadSize { size: u64 },
    #[error("image of {size} bytes too small for the files ({needed} bytes of data)")]
    TooSmall { size: u64, needed: u64 },
    #[error("cannot format the FAT file system: {0}")]
    Format(std::io::Error),
    #[error("cannot write {path:?} into the image: {error}")]
    Write { path: String, error: std::io::Error },
    #[error("cannot read {path:?} from the image: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("not a FAT file system: {0}")]
    Mount(std::io::Error),
    #[error("cannot finish the FAT file system (flushing its tables on unmount): {0}")]
    Unmount(std::io::Error),
}

/// The files of an ESP image, keyed by path (`/` separated, no leading `/`).
#[derive(Debug, Clone)]
pub struct Esp {
    volume_id: u32,
    label: [u8; 11],
    fat32: bool,
    /// Upper-cased path → (path as given, contents).
    files: BTreeMap<String, (String, Vec<u8>)>,
}

impl Default for Esp {
    fn default() -> Self {
        Self::new()
    }
}

impl Esp {
    /// An empty ESP with the default volume ID and label `ESP`.
    pub fn new() -> Self {
        Esp {
            volume_id: DEFAULT_VOLUME_ID,
            label: *b"ESP        ",
            fat32: false,
            files: BTreeMap::new(),
        }
    }

    /// Forces FAT32 (UEFI §13.3 prefers it for fixed disks; below about
    /// 512 MiB fatfs would choose FAT16). Needs at least 33 MiB
    /// (65525 clusters of 512 bytes plus the FATs).
    pub fn fat32(mut self, yes: bool) -> Self {
        self.fat32 = yes;
        self
    }

    /// Sets the volume ID (the FAT "serial number").
    pub fn volume_id(mut self, id: u32) -> Self {
        self.volume_id = id;
        self
    }

    /// Adds a file; `path` uses `/` (or `\`) separators, e.g. `EFI/BOOT/BOOTX64.EFI`.
    pub fn add(&mut self, path: &str, data: Vec<u8>) -> Result<&mut Self, EspError> {
        let path = normalize(path)?;
        let key = path.to_ascii_uppercase();
        if self.files.contains_key(&key) {
            return Err(EspError::Duplicate { path });
        }
        // A file may not sit where a directory is needed, nor the reverse.
        for (other, (shown, _)) in &self.files {
            if other.starts_with(&format!("{key}/")) {
                return Err(EspError::FileIsDirectory { path });
            }
            if key.starts_with(&format!("{other}/")) {
                return Err(EspError::FileIsDirectory {
                    path: shown.clone(),
                });
            }
        }
        self.files.insert(key, (path, data));
        Ok(self)
    }

    /// Bytes of file data held.
    pub fn data_len(&self) -> u64 {
        self.files.values().map(|(_, d)| len64(d)).sum()
    }

    /// A size that fits the files: data plus a quarter and 2 MiB of room for
    /// the FATs, directories and cluster slack, rounded up to a MiB (at
    /// least [`MIN_FAT32`] with [`Esp::fat32`]).
    pub fn suggested_size(&self) -> u64 {
        let mib = 1 << 20;
        let raw = self.data_len() + self.data_len() / 4 + 2 * mib;
        let size = raw.div_ceil(mib) * mib;
        if self.fat32 {
            size.max(MIN_FAT32)
        } else {
            size
        }
    }

    /// Builds an image of `size` bytes in memory.
    pub fn build(&self, size: u64) -> Result<Vec<u8>, EspError> {
        if size % SECTOR != 0 || size < 1 << 20 {
            return Err(EspError::BadSize { size });
        }
        let needed = self.data_len();
        if needed >= size {
            return Err(EspError::TooSmall { size, needed });
        }
        let len = usize::try_from(size).map_err(|_| EspError::BadSize { size })?;
        let mut disk = Cursor::new(vec![0u8; len]);
        self.write_to(&mut disk, size)?;
        Ok(disk.into_inner())
    }

    /// Formats `disk` (positioned at 0, `size` bytes long) and writes the files.
    pub fn write_to<T: Read + Write + Seek>(&self, disk: T, size: u64) -> Result<(), EspError> {
        let sectors = u32::try_from(size / SECTOR).map_err(|_| EspError::BadSize { size })?;
        let mut disk = disk;
        let mut format = FormatVolumeOptions::new()
            .total_sectors(sectors)
            .volume_id(self.volume_id)
            .volume_label(self.label);
        if self.fat32 {
            if size < MIN_FAT32 {
                return Err(EspError::BadSize { size });
            }
            // Clusters as small as needed for FAT32's 65525-cluster minimum.
            let cluster = if size < 260 << 20 { 512 } else { 4096 };
            format = format.fat_type(FatType::Fat32).bytes_per_cluster(cluster);
        }
        fatfs::format_volume(&mut disk, format).map_err(EspError::Format)?;
        let fs = FileSystem::new(&mut disk, options()).map_err(EspError::Mount)?;
        {
            let root = fs.root_dir();
            for dir in self.directories() {
                root.create_dir(&dir).map_err(|error| EspError::Write {
                    path: dir.clone(),
                    error,
                })?;
            }
            for (path, data) in self.files.values() {
                let write = || -> std::io::Result<()> {
                    let mut f = root.create_file(path)?;
                    f.truncate()?;
                    f.write_all(data)?;
                    f.flush()
                };
                write().map_err(|error| EspError::Write {
                    path: path.clone(),
                    error,
                })?;
            }
        }
        fs.unmount().map_err(EspError::Unmount)?;
        fixup::fix_dot_entries(&mut disk).map_err(|error| EspError::Write {
            path: "(directory entries)".into(),
            error,
        })
    }

    /// Every directory that must exist, parents first.
    fn directories(&self) -> Vec<String> {
        let mut dirs = BTreeMap::new();
        for (path, _) in self.files.values() {
            let mut end = 0;
            while let Some(i) = path[end..].find('/') {
                end += i;
                dirs.entry(path[..end].to_ascii_uppercase())
                    .or_insert_with(|| path[..end].to_owned());
                end += 1;
            }
        }
        // Sorted by upper-cased path, so a parent comes before its children.
        dirs.into_values().collect()
    }
}

/// Reads one file back from an image (for checks and tests).
pub fn read_file(image: &[u8], path: &str) -> Result<Vec<u8>, EspError> {
    let path = normalize(path)?;
    let fs = FileSystem::new(Cursor::new(image.to_vec()), options()).map_err(EspError::Mount)?;
    let mut data = Vec::new();
    fs.root_dir()
        .open_file(&path)
        .and_then(|mut f| f.read_to_end(&mut data))
        .map_err(|error| EspError::Read { path, error })?;
    Ok(data)
}

fn options() -> FsOptions {
    FsOptions::new()
        .update_accessed_date(false)
        .time_provider(&DOS_EPOCH)
}

/// Every timestamp is 1980-01-01 00:00:00, the earliest FAT can store.
#[derive(Debug)]
struct DosEpoch;

static DOS_EPOCH: DosEpoch = DosEpoch;

impl TimeProvider for DosEpoch {
    fn get_current_date(&self) -> Date {
        Date {
            year: 1980,
            month: 1,
            day: 1,
        }
    }
    fn get_current_date_time(&self) -> DateTime {
        DateTime {
            date: self.get_current_date(),
            time: Time {
                hour: 0,
                min: 0,
                sec: 0,
                millis: 0,
            },
        }
    }
}

fn normalize(path: &str) -> Result<String, EspError> {
    let bad = |why| EspError::BadPath {
        path: path.to_owned(),
        why,
    };
    let p = path.replace('\\', "/");
    let p = p.trim_start_matches('/');
    if p.is_empty() {
        return Err(bad("empty"));
    }
    for c in p.split('/') {
        if c.is_empty() || c == "." || c == ".." {
            return Err(bad("empty, '.' or '..' component"));
        }
        if c.len() > 255 {
            return Err(bad("a component is longer than 255 characters"));
        }
        if c.ends_with('.') || c.ends_with(' ') {
            return Err(bad("a component ends with '.' or a space"));
        }
    }
    if p.chars()
        .any(|ch| ch.is_control() || "\"*:<>?|".contains(ch))
    {
        return Err(bad(
            "contains a character FAT does not allow (\"*:<>?| or control)",
        ));
    }
    Ok(p.to_owned())
}

fn len64(d: &[u8]) -> u64 {
    u64::try_from(d.len()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Esp {
        let mut esp = Esp::new();
        esp.add("/EFI/BOOT/BOOTX64.EFI", b"MZ boot".to_vec())
            .unwrap();
        esp.add("EFI\\Linux\\clip-1.efi", vec![7u8; 100_000])
            .unwrap();
        esp.add("loader/entries/a.conf", b"title a\n".to_vec())
            .unwrap();
        esp
    }

    #[test]
    fn files_read_back() {
        let img = sample().build(4 << 20).unwrap();
        assert_eq!(read_file(&img, BOOT_X64).unwrap(), b"MZ boot");
        assert_eq!(
            read_file(&img, "efi/linux/CLIP-1.EFI").unwrap(),
            vec![7u8; 100_000]
        );
        assert_eq!(
            read_file(&img, "loader/entries/a.conf").unwrap(),
            b"title a\n"
        );
        assert!(matches!(
            read_file(&img, "nope"),
            Err(EspError::Read { .. })
        ));
    }

    #[test]
    fn deterministic_and_volume_id_is_used() {
        let a = sample().build(4 << 20).unwrap();
        assert_eq!(a, sample().build(4 << 20).unwrap());
        let b = sample().volume_id(1).build(4 << 20).unwrap();
        assert_ne!(a, b);
        // FAT12/16 boot sector: volume ID at offset 39.
        assert_eq!(&a[39..43], &DEFAULT_VOLUME_ID.to_le_bytes());
        assert_eq!(&a[510..512], &[0x55, 0xAA]);
    }

    #[test]
    fn rejects_bad_input() {
        let mut esp = sample();
        assert!(matches!(
            esp.add("efi/boot/bootx64.efi", vec![]),
            Err(EspError::Duplicate { .. })
        ));
        assert!(matches!(
            esp.add("EFI/BOOT", vec![]),
            Err(EspError::FileIsDirectory { .. })
        ));
        assert!(matches!(
            esp.add("EFI/BOOT/BOOTX64.EFI/x", vec![]),
            Err(EspError::FileIsDirectory { .. })
        ));
        for bad in ["", "/", "a//b", "a/../b", "a:b", "a/b.", "x\ny"] {
            assert!(
                matches!(esp.add(bad, vec![]), Err(EspError::BadPath { .. })),
                "{bad:?}"
            );
        }
        assert!(matches!(esp.build(1000), Err(EspError::BadSize { .. })));
        let mut big = Esp::new();
        big.add("big", vec![0u8; 2 << 20]).unwrap();
        assert!(matches!(big.build(1 << 20), Err(EspError::TooSmall { .. })));
        // Fits the size check but not the file system: a clean error, no panic.
        big.add("big2", vec![0u8; 2 << 20]).unwrap();
        assert!(matches!(
            big.build((4 << 20) + (16 << 10)),
            Err(EspError::Write { .. })
        ));
    }

    #[test]
    fn suggested_size_fits() {
        for esp in [sample(), sample().fat32(true)] {
            let size = esp.suggested_size();
            assert_eq!(size % (1 << 20), 0);
            esp.build(size).unwrap();
        }
        assert!(matches!(
            sample().fat32(true).build(MIN_FAT32 - (1 << 20)),
            Err(EspError::BadSize { .. })
        ));
    }
}
