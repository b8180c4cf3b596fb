//! Repairs two directory-entry bugs of `fatfs` 0.3.6 (the crates.io
//! release) after it has written the file system.
//!
//! Microsoft FAT specification (fatgen103) §6.x, "FAT Directory Structure":
//! every directory but the root starts with the entries `.` and `..`, in its
//! first two slots, and a `..` that refers to the root holds cluster 0.
//! fatfs 0.3.6 writes a long-name entry before each of them
//! (LFN(`.`), `.`, LFN(`..`), `..`; fixed upstream in rust-fatfs PR #100)
//! and, on FAT32, the root's cluster number in `..` (PR #99). fsck.fat then
//! "repairs" the directory by renaming `.`/`..` and dropping them. Here the
//! leading slots become `.`, `..` and free (0xE5) entries; entries after them
//! do not move, so nothing else changes.

use std::collections::HashSet;
use std::io::{self, Read, Seek, SeekFrom, Write};

const ENTRY: usize = 32;
const ATTR_LFN: u8 = 0x0F;
const ATTR_VOLUME: u8 = 0x08;
const ATTR_DIR: u8 = 0x10;
const FREE: u8 = 0xE5;
const DOT: &[u8; 11] = b".          ";
const DOTDOT: &[u8; 11] = b"..         ";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fat {
    F12,
    F16,
    F32,
}

/// The geometry fields of the boot sector that locate clusters.
#[derive(Debug)]
struct Layout {
    fat: Fat,
    bytes_per_cluster: u64,
    fat_start: u64,
    data_start: u64,
    /// FAT12/16: the fixed root directory region (offset, bytes).
    root_region: (u64, u64),
    /// FAT32: the root directory's first cluster.
    root_cluster: u32,
    clusters: u32,
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("FAT fix-up: {what}"))
}

fn u16_at(b: &[u8], off: usize) -> u64 {
    u64::from(u16::from_le_bytes([b[off], b[off + 1]]))
}

fn u32_at(b: &[u8], off: usize) -> u64 {
    u64::from(u32::from_le_bytes([
        b[off],
        b[off + 1],
        b[off + 2],
        b[off + 3],
    ]))
}

impl Layout {
    fn read<D: Read + Seek>(disk: &mut D) -> io::Result<Self> {
        let mut bs = [0u8; 512];
        disk.seek(SeekFrom::Start(0))?;
        disk.read_exact(&mut bs)?;
        let bps = u16_at(&bs, 11);
        let spc = u64::from(bs[13]);
        let reserved = u16_at(&bs, 14);
        let fats = u64::from(bs[16]);
        let root_entries = u16_at(&bs, 17);
        let total = match u16_at(&bs, 19) {
            0 => u32_at(&bs, 32),
            n => n,
        };
        let (fat_size, is32) = match u16_at(&bs, 22) {
            0 => (u32_at(&bs, 36), true),
            n => (n, false),
        };
        if bps == 0 || spc == 0 || fats == 0 || fat_size == 0 {
            return Err(bad("boot sector has a zero geometry field"));
        }
        let root_sectors = (root_entries * 32).div_ceil(bps);
        let data_sector = reserved + fats * fat_size + root_sectors;
        let clusters = total
            .checked_sub(data_sector)
            .ok_or_else(|| bad("data area past the end"))?
            / spc;
        let fat = if is32 {
            Fat::F32
        } else if clusters < 4085 {
            Fat::F12
        } else {
            Fat::F16
        };
        Ok(Layout {
            fat,
            bytes_per_cluster: bps * spc,
            fat_start: reserved * bps,
            data_start: data_sector * bps,
            root_region: ((reserved + fats * fat_size) * bps, root_sectors * bps),
            root_cluster: u32::try_from(u32_at(&bs, 44)).unwrap_or(0),
            clusters: u32::try_from(clusters).map_err(|_| bad("too many clusters"))?,
        })
    }

    fn cluster_offset(&self, c: u32) -> io::Result<u64> {
        if c < 2 || c - 2 >= self.clusters {
            return Err(bad("cluster number out of range"));
        }
        Ok(self.data_start + u64::from(c - 2) * self.bytes_per_cluster)
    }

    /// The next cluster of a chain, or None at its end.
    fn next<D: Read + Seek>(&self, disk: &mut D, c: u32) -> io::Result<Option<u32>> {
        let c64 = u64::from(c);
        let (off, len) = match self.fat {
            Fat::F12 => (c64 + c64 / 2, 2),
            Fat::F16 => (c64 * 2, 2),
            Fat::F32 => (c64 * 4, 4),
        };
        let mut b = [0u8; 4];
        disk.seek(SeekFrom::Start(self.fat_start + off))?;
        disk.read_exact(&mut b[..len])?;
        let v = u32::from_le_bytes(b);
        let (v, end) = match self.fat {
            Fat::F12 if c % 2 == 1 => ((v & 0xFFFF) >> 4, 0xFF8),
            Fat::F12 => (v & 0xFFF, 0xFF8),
            Fat::F16 => (v, 0xFFF8),
            Fat::F32 => (v & 0x0FFF_FFFF, 0x0FFF_FFF8),
        };
        Ok((v >= 2 && v < end).then_some(v))
    }

    /// (offset, length) of every cluster of a chain, at most once each.
    fn chain<D: Read + Seek>(&self, disk: &mut D, first: u32) -> io::Result<Vec<(u64, u64)>> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        let mut c = Some(first);
        while let Some(cl) = c {
            if !seen.insert(cl) {
                return Err(bad("cluster chain loops"));
            }
            out.push((self.cluster_offset(cl)?, self.bytes_per_cluster));
            c = self.next(disk, cl)?;
        }
        Ok(out)
    }
}

fn first_cluster(e: &[u8]) -> u32 {
    let hi = u32::from(u16::from_le_bytes([e[20], e[21]]));
    let lo = u32::from(u16::from_le_bytes([e[26], e[27]]));
    (hi << 16) | lo
}

/// Applies the fix-up to every directory of the file system on `disk`.
pub(crate) fn fix_dot_entries<D: Read + Write + Seek>(disk: &mut D) -> io::Result<()> {
    let layout = Layout::read(disk)?;
    let root = match layout.fat {
        Fat::F32 => layout.chain(disk, layout.root_cluster)?,
        _ => vec![layout.root_region],
    };
    let mut pending = vec![(root, true)];
    let mut visited = HashSet::new();
    while let Some((regions, is_root)) = pending.pop() {
        let mut entries = Vec::new();
        for &(off, len) in &regions {
            let mut buf = vec![0u8; usize::try_from(len).map_err(|_| bad("cluster size"))?];
            disk.seek(SeekFrom::Start(off))?;
            disk.read_exact(&mut buf)?;
            entries.extend(buf.chunks_exact(ENTRY).map(<[u8]>::to_vec));
        }
        if !is_root {
            fix_directory(disk, &layout, &regions, &mut entries)?;
        }
        for e in &entries {
            if e[0] == 0 {
                break;
            }
            let attr = e[11];
            if e[0] == FREE || attr == ATTR_LFN || attr & ATTR_VOLUME != 0 || attr & ATTR_DIR == 0 {
                continue;
            }
            if &e[..11] == DOT || &e[..11] == DOTDOT {
                continue;
            }
            let c = first_cluster(e);
            if visited.insert(c) {
                pending.push((layout.chain(disk, c)?, false));
            }
        }
    }
    disk.flush()
}

/// Rewrites the slots up to `..` of one directory as `.`, `..`, free...
fn fix_directory<D: Write + Seek>(
    disk: &mut D,
    layout: &Layout,
    regions: &[(u64, u64)],
    entries: &mut [Vec<u8>],
) -> io::Result<()> {
    let find = |name: &[u8; 11]| {
        entries
            .iter()
            .position(|e| e[11] != ATTR_LFN && &e[..11] == name)
    };
    let (Some(dot), Some(dotdot)) = (find(DOT), find(DOTDOT)) else {
        return Err(bad("directory without '.' and '..' entries"));
    };
    if dot == 0
        && dotdot == 1
        && (layout.fat != Fat::F32 || first_cluster(&entries[1]) != layout.root_cluster)
    {
        return Ok(());
    }
    let (d, mut dd) = (entries[dot].clone(), entries[dotdot].clone());
    if layout.fat == Fat::F32 && first_cluster(&dd) == layout.root_cluster {
        // ".." of a first-level directory names the root as cluster 0.
        dd[20..22].fill(0);
        dd[26..28].fill(0);
    }
    let upto = dot.max(dotdot);
    for (i, slot) in entries.iter_mut().enumerate().take(upto + 1) {
        *slot = match i {
            0 => d.clone(),
            1 => dd.clone(),
            _ => {
                let mut free = vec![0u8; ENTRY];
                free[0] = FREE;
                free
            }
        };
    }
    // Write back the changed slots (all in the first cluster in practice).
    let per_region: Vec<usize> = regions
        .iter()
        .map(|&(_, len)| usize::try_from(len).unwrap_or(0) / ENTRY)
        .collect();
    for (i, slot) in entries.iter().enumerate().take(upto + 1) {
        let (mut r, mut k) = (0, i);
        while r < per_region.len() && k >= per_region[r] {
            k -= per_region[r];
            r += 1;
        }
        let &(off, _) = regions
            .get(r)
            .ok_or_else(|| bad("slot past the directory"))?;
        disk.seek(SeekFrom::Start(
            off + u64::try_from(k * ENTRY).unwrap_or(u64::MAX),
        ))?;
        disk.write_all(slot)?;
    }
    Ok(())
}
