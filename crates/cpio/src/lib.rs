//! cpio "newc" archives (magic `070701`), the initramfs format.
//!
//! Implements the format of the Linux kernel's
//! Documentation/driver-api/early-userspace/buffer-format.rst: each entry is a
//! 110-byte ASCII header (magic and thirteen 8-digit hexadecimal fields), the
//! NUL-terminated path padded to a multiple of four bytes, then the data
//! padded likewise; the archive ends with an entry named `TRAILER!!!`.
//!
//! The writer is pure and deterministic: the same calls give the same bytes.
//! Inode numbers are sequential from 1, every entry gets the modification
//! time given to [`Writer::new`], owner root (0:0). Entries are written in the
//! order they are added; the kernel does not create missing parent
//! directories, so add a directory before its contents.

use std::collections::HashSet;

/// Magic of the "new ASCII" format without checksums.
pub const MAGIC: &[u8; 6] = b"070701";
/// Name of the last entry.
pub const TRAILER: &str = "TRAILER!!!";
/// Longest path the kernel unpacks (PATH_MAX, including the NUL).
pub const MAX_NAME: usize = 4096;
/// The whole archive is padded with NULs to a multiple of this (like GNU cpio).
pub const BLOCK: usize = 512;

const S_IFDIR: u32 = 0o040_000;
const S_IFREG: u32 = 0o100_000;
const S_IFLNK: u32 = 0o120_000;
const S_IFCHR: u32 = 0o020_000;
const S_IFBLK: u32 = 0o060_000;

/// Why an entry cannot be added.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CpioError {
    #[error("empty path")]
    EmptyPath,
    #[error("symbolic link {path:?} has an empty target")]
    EmptyTarget { path: String },
    #[error("path {path:?} contains a NUL byte")]
    NulInPath { path: String },
    #[error("path {path:?} has an empty, '.' or '..' component")]
    BadComponent { path: String },
    #[error("path {path:?} is {len} bytes long; the kernel takes at most {max}")]
    NameTooLong {
        path: String,
        len: usize,
        max: usize,
    },
    #[error("path {path:?} was already added")]
    Duplicate { path: String },
    #[error("mode {mode:#o} of {path:?} has bits outside the permission bits 0o7777")]
    BadMode { path: String, mode: u32 },
    #[error("{path:?} is {len} bytes; newc sizes are 32-bit (at most 4294967295)")]
    TooLarge { path: String, len: usize },
    #[error("more than 4294967295 entries")]
    TooManyEntries,
}

/// Builds a newc archive in memory.
#[derive(Debug)]
pub struct Writer {
    out: Vec<u8>,
    mtime: u32,
    next_ino: u32,
    seen: HashSet<String>,
}

impl Writer {
    /// A new, empty archive whose entries all get modification time `mtime`
    /// (seconds since the Unix epoch).
    pub fn new(mtime: u32) -> Self {
        Writer {
            out: Vec::new(),
            mtime,
            next_ino: 1,
            seen: HashSet::new(),
        }
    }

    /// Adds a directory with permission bits `perm` (e.g. 0o755).
    pub fn dir(&mut self, path: &str, perm: u32) -> Result<&mut Self, CpioError> {
        self.entry(path, S_IFDIR, perm, 2, (0, 0), &[])
    }

    /// Adds a regular file.
    pub fn file(&mut self, path: &str, perm: u32, data: &[u8]) -> Result<&mut Self, CpioError> {
        self.entry(path, S_IFREG, perm, 1, (0, 0), data)
    }

    /// Adds a symbolic link to `target` (stored as the entry's data).
    pub fn symlink(&mut self, path: &str, target: &str) -> Result<&mut Self, CpioError> {
        if target.is_empty() {
            return Err(CpioError::EmptyTarget {
                path: path.to_owned(),
            });
        }
        if target.contains('\0') {
            return Err(CpioError::NulInPath {
                path: target.to_owned(),
            });
        }
        self.entry(path, S_IFLNK, 0o777, 1, (0, 0), target.as_bytes())
    }

    /// Adds a character device node (e.g. `dev/console`, 5:1).
    pub fn char_dev(
        &mut self,
        path: &str,
        perm: u32,
        major: u32,
        minor: u32,
    ) -> Result<&mut Self, CpioError> {
        self.entry(path, S_IFCHR, perm, 1, (major, minor), &[])
    }

    /// Adds a block device node.
    pub fn block_dev(
        &mut self,
        path: &str,
        perm: u32,
        major: u32,
        minor: u32,
    ) -> Result<&mut Self, CpioError> {
        self.entry(path, S_IFBLK, perm, 1, (major, minor), &[])
    }

    /// Appends the trailer and the padding and returns the archive.
    pub fn finish(mut self) -> Vec<u8> {
        write_entry(&mut self.out, 0, 0, 1, 0, (0, 0), TRAILER, &[]);
        let rem = self.out.len() % BLOCK;
        if rem != 0 {
            self.out.resize(self.out.len() + BLOCK - rem, 0);
        }
        self.out
    }

    fn entry(
        &mut self,
        path: &str,
        kind: u32,
        perm: u32,
        nlink: u32,
        rdev: (u32, u32),
        data: &[u8],
    ) -> Result<&mut Self, CpioError> {
        let name = normalize(path)?;
        if perm & !0o7777 != 0 {
            return Err(CpioError::BadMode {
                path: name.to_owned(),
                mode: perm,
            });
        }
        if u32::try_from(data.len()).is_err() {
            return Err(CpioError::TooLarge {
                path: name.to_owned(),
                len: data.len(),
            });
        }
        if !self.seen.insert(name.to_owned()) {
            return Err(CpioError::Duplicate {
                path: name.to_owned(),
            });
        }
        let ino = self.next_ino;
        self.next_ino = ino.checked_add(1).ok_or(CpioError::TooManyEntries)?;
        write_entry(
            &mut self.out,
            ino,
            kind | perm,
            nlink,
            self.mtime,
            rdev,
            name,
            data,
        );
        Ok(self)
    }
}

/// Strips leading slashes and checks the components; "." alone is the root.
fn normalize(path: &str) -> Result<&str, CpioError> {
    let name = path.trim_start_matches('/');
    if name.is_empty() {
        return Err(CpioError::EmptyPath);
    }
    if name.contains('\0') {
        return Err(CpioError::NulInPath {
            path: path.to_owned(),
        });
    }
    if name != "."
        && name
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(CpioError::BadComponent {
            path: path.to_owned(),
        });
    }
    if name.len() + 1 > MAX_NAME {
        return Err(CpioError::NameTooLong {
            path: path.to_owned(),
            len: name.len(),
            max: MAX_NAME - 1,
        });
    }
    Ok(name)
}

#[allow(clippy::too_many_arguments)] // one argument per header field
fn write_entry(
    out: &mut Vec<u8>,
    ino: u32,
    mode: u32,
    nlink: u32,
    mtime: u32,
    (rmaj, rmin): (u32, u32),
    name: &str,
    data: &[u8],
) {
    // Both lengths were checked against u32 (names are at most MAX_NAME).
    let namesize = u32::try_from(name.len() + 1).unwrap_or(u32::MAX);
    let filesize = u32::try_from(data.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(MAGIC);
    // ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor namesize check
    for field in [
        ino, mode, 0, 0, nlink, mtime, filesize, 0, 0, rmaj, rmin, namesize, 0,
    ] {
        out.extend_from_slice(format!("{field:08X}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad4(out);
    out.extend_from_slice(data);
    pad4(out);
}

fn pad4(out: &mut Vec<u8>) {
    while out.len() % 4 != 0 {
        out.push(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(header: &[u8], index: usize) -> u32 {
        let start = 6 + 8 * index;
        let text = std::str::from_utf8(&header[start..start + 8]).unwrap();
        u32::from_str_radix(text, 16).unwrap()
    }

    #[test]
    fn single_file_layout() {
        let mut w = Writer::new(0x5eed);
        w.file("/init", 0o755, b"abcde").unwrap();
        let a = w.finish();
        assert_eq!(&a[..6], MAGIC);
        assert_eq!(field(&a, 0), 1, "ino");
        assert_eq!(field(&a, 1), 0o100_755, "mode");
        assert_eq!(field(&a, 4), 1, "nlink");
        assert_eq!(field(&a, 5), 0x5eed, "mtime");
        assert_eq!(field(&a, 6), 5, "filesize");
        assert_eq!(field(&a, 11), 5, "namesize of \"init\\0\"");
        assert_eq!(field(&a, 12), 0, "check");
        // 110-byte header + "init\0" = 115, padded to 116; data at 116.
        assert_eq!(&a[110..116], b"init\0\0");
        assert_eq!(&a[116..121], b"abcde");
        // data padded to 124, trailer header follows.
        assert_eq!(&a[121..124], &[0, 0, 0]);
        assert_eq!(&a[124..130], MAGIC);
        assert_eq!(&a[234..245], b"TRAILER!!!\0");
        assert_eq!(a.len(), BLOCK);
        assert!(a[245..].iter().all(|&b| b == 0));
    }

    #[test]
    fn kinds_and_device_numbers() {
        let mut w = Writer::new(0);
        w.dir("dev", 0o755).unwrap();
        w.char_dev("dev/console", 0o600, 5, 1).unwrap();
        w.block_dev("dev/vda", 0o660, 254, 0).unwrap();
        w.symlink("sbin", "bin").unwrap();
        let a = w.finish();
        let headers: Vec<usize> = a
            .windows(6)
            .enumerate()
            .filter(|(i, w)| i % 4 == 0 && *w == MAGIC)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(headers.len(), 5);
        let modes: Vec<u32> = headers.iter().map(|&h| field(&a[h..], 1)).collect();
        assert_eq!(modes, [0o040_755, 0o020_600, 0o060_660, 0o120_777, 0]);
        let inos: Vec<u32> = headers.iter().map(|&h| field(&a[h..], 0)).collect();
        assert_eq!(inos, [1, 2, 3, 4, 0]);
        assert_eq!(
            (field(&a[headers[1]..], 9), field(&a[headers[1]..], 10)),
            (5, 1)
        );
        assert_eq!(field(&a[headers[3]..], 6), 3, "symlink target length");
    }

    #[test]
    fn deterministic() {
        let build = || {
            let mut w = Writer::new(1_700_000_000);
            w.dir("a", 0o755).unwrap().file("a/b", 0o644, b"x").unwrap();
            w.finish()
        };
        assert_eq!(build(), build());
    }

    #[test]
    fn rejects_bad_paths_and_modes() {
        let mut w = Writer::new(0);
        assert_eq!(w.file("", 0o644, b"").unwrap_err(), CpioError::EmptyPath);
        assert_eq!(w.file("///", 0o644, b"").unwrap_err(), CpioError::EmptyPath);
        assert!(matches!(
            w.file("a/../b", 0o644, b""),
            Err(CpioError::BadComponent { .. })
        ));
        assert!(matches!(
            w.file("a//b", 0o644, b""),
            Err(CpioError::BadComponent { .. })
        ));
        assert!(matches!(
            w.file("a\0b", 0o644, b""),
            Err(CpioError::NulInPath { .. })
        ));
        assert!(matches!(
            w.file("x", 0o100_644, b""),
            Err(CpioError::BadMode {
                mode: 0o100_644,
                ..
            })
        ));
        let long = "a".repeat(MAX_NAME);
        assert!(matches!(
            w.file(&long, 0o644, b""),
            Err(CpioError::NameTooLong { len: MAX_NAME, .. })
        ));
        w.file("/x", 0o644, b"").unwrap();
        assert_eq!(
            w.file("x", 0o644, b"").unwrap_err(),
            CpioError::Duplicate { path: "x".into() }
        );
        // Failed calls consumed no inode number.
        w.file("y", 0o644, b"").unwrap();
        let a = w.finish();
        let second = 110 + 2; // header + "x\0" (112, already a multiple of 4)
        assert_eq!(field(&a[second..], 0), 2);
    }
}
