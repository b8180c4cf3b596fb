//! The dynamic segment (`PT_DYNAMIC`): gABI chapter 5 "Dynamic Section"
//! (`DT_HASH`, `DT_STRTAB`, `DT_SYMTAB`, `DT_STRSZ`, `DT_SYMENT`,
//! `DT_SONAME`, `DT_BIND_NOW`, `DT_FLAGS` with `DF_BIND_NOW`) and the GNU
//! tags of glibc's `<elf.h>` (`DT_FLAGS_1` = 0x6ffffffb with `DF_1_NOW` and
//! `DF_1_PIE`, `DT_GNU_HASH` = 0x6ffffef5). Addresses are mapped to file
//! offsets through the `PT_LOAD` segments ("Program Header").

use crate::Error;
use crate::raw::*;
use crate::read::{Elf, slice, to_u64};

/// What the dynamic section says, as far as the audit needs it.
#[derive(Debug, Default)]
pub struct Dynamic {
    /// The file has a `PT_DYNAMIC` segment.
    pub present: bool,
    /// `DT_BIND_NOW`, `DT_FLAGS` & `DF_BIND_NOW`, or `DT_FLAGS_1` & `DF_1_NOW`.
    pub bind_now: bool,
    /// `DT_FLAGS_1` & `DF_1_PIE`.
    pub pie_flag: bool,
    /// A `DT_SONAME` entry.
    pub soname: bool,
    pub strtab: Option<u64>,
    pub strsz: Option<u64>,
    pub symtab: Option<u64>,
    /// `DT_SYMENT` and the file offset of its entry.
    pub syment: Option<(u64, u64)>,
    pub hash: Option<u64>,
    pub gnu_hash: Option<u64>,
}

/// Reads the first `PT_DYNAMIC` segment's entries up to `DT_NULL` (or the
/// end of the segment's file contents).
pub fn read(elf: &Elf<'_>) -> Result<Dynamic, Error> {
    let Some(segment) = elf.segments.iter().find(|s| s.p_type == PT_DYNAMIC) else {
        return Ok(Dynamic::default());
    };
    let entries = segment.contents(elf.bytes)?;
    let mut d = Dynamic {
        present: true,
        ..Dynamic::default()
    };
    for (entry, index) in entries.chunks_exact(DYN_SIZE).zip(0u64..) {
        let (tag, value) = (u64_at(entry, 0), u64_at(entry, 8));
        match tag {
            DT_NULL => break,
            DT_BIND_NOW => d.bind_now = true,
            DT_FLAGS => d.bind_now |= value & DF_BIND_NOW != 0,
            DT_FLAGS_1 => {
                d.bind_now |= value & DF_1_NOW != 0;
                d.pie_flag |= value & DF_1_PIE != 0;
            }
            DT_SONAME => d.soname = true,
            DT_STRTAB => d.strtab = Some(value),
            DT_STRSZ => d.strsz = Some(value),
            DT_SYMTAB => d.symtab = Some(value),
            DT_SYMENT => {
                let at = segment
                    .offset
                    .saturating_add(index.saturating_mul(to_u64(DYN_SIZE)));
                d.syment = Some((value, at));
            }
            DT_HASH => d.hash = Some(value),
            DT_GNU_HASH => d.gnu_hash = Some(value),
            _ => {}
        }
    }
    Ok(d)
}

/// The file bytes of `size` bytes at virtual address `addr`, which one
/// `PT_LOAD` segment's file contents must hold entirely.
pub fn map<'a>(elf: &Elf<'a>, what: &'static str, addr: u64, size: u64) -> Result<&'a [u8], Error> {
    for load in elf.segments.iter().filter(|s| s.p_type == PT_LOAD) {
        let Some(delta) = addr.checked_sub(load.vaddr) else {
            continue;
        };
        if delta < load.filesz && size <= load.filesz - delta {
            let contents = load.contents(elf.bytes)?;
            let start = delta;
            return slice(contents, start, size).ok_or(Error::Unmapped { what, addr, size });
        }
    }
    Err(Error::Unmapped { what, addr, size })
}

/// The file bytes from virtual address `addr` to the end of the `PT_LOAD`
/// segment's file contents that hold it (for tables of unknown length).
pub fn map_rest<'a>(elf: &Elf<'a>, what: &'static str, addr: u64) -> Result<&'a [u8], Error> {
    for load in elf.segments.iter().filter(|s| s.p_type == PT_LOAD) {
        let Some(delta) = addr.checked_sub(load.vaddr) else {
            continue;
        };
        if delta < load.filesz {
            let contents = load.contents(elf.bytes)?;
            return slice(contents, delta, load.filesz - delta).ok_or(Error::Unmapped {
                what,
                addr,
                size: 0,
            });
        }
    }
    Err(Error::Unmapped {
        what,
        addr,
        size: 0,
    })
}
