//! Symbol names that reveal the stack protector and FORTIFY_SOURCE: gABI
//! chapter 4 "Symbol Table" (`Elf64_Sym.st_name`) and "String Table", read
//! from the `SHT_DYNSYM` section (or, without one, `SHT_SYMTAB`) and its
//! `sh_link`ed string table ("Sections"); for a file without section
//! headers, from the dynamic section's `DT_SYMTAB`, `DT_STRTAB` and
//! `DT_STRSZ` (chapter 5 "Dynamic Section"), the symbol count taken from
//! the `DT_HASH` table's `nchain` ("Hash Table") or by walking the GNU hash
//! table (`DT_GNU_HASH`: header `nbuckets`, `symoffset`, `bloom_size`,
//! `bloom_shift`, then 64-bit bloom words, 32-bit buckets and chains whose
//! low bit ends a chain).

use crate::Error;
use crate::dynamic::{self, Dynamic};
use crate::raw::*;
use crate::read::{Elf, to_u64};

/// At most this many symbols are read from one table.
pub const MAX_SYMBOLS: u64 = 1 << 24;

/// Names are compared up to this length: longer ones are none of those
/// looked for, and the scan of a name stops here whatever the string
/// table holds (no symbol makes the audit read a long string).
const MAX_NAME: usize = 64;

/// What the symbol names show.
#[derive(Debug, Default, Clone, Copy)]
pub struct Facts {
    /// `__stack_chk_fail` or `__stack_chk_guard`.
    pub stack_protector: bool,
    /// A fortified function `__*_chk` (e.g. `__memcpy_chk`).
    pub fortify: bool,
}

/// Scans the symbol table the file offers (see the module comment).
pub fn scan(elf: &Elf<'_>, dynamic: &Dynamic) -> Result<Facts, Error> {
    if elf.sections.is_empty() {
        return scan_dynamic(elf, dynamic);
    }
    let table = elf
        .sections
        .iter()
        .find(|s| s.sh_type == SHT_DYNSYM)
        .or_else(|| elf.sections.iter().find(|s| s.sh_type == SHT_SYMTAB));
    let Some(table) = table else {
        return Ok(Facts::default());
    };
    let what = if table.sh_type == SHT_DYNSYM {
        ".dynsym"
    } else {
        ".symtab"
    };
    if table.entsize != to_u64(SYM_SIZE) {
        return Err(Error::EntrySize {
            what,
            at: table.header_at.saturating_add(to_u64(SH_ENTSIZE)),
            found: table.entsize,
            expected: SYM_SIZE,
        });
    }
    let symbols = table.contents(elf.bytes)?;
    let strings = elf
        .sections
        .get(usize::try_from(table.link).unwrap_or(usize::MAX))
        .ok_or(Error::LinkOutOfRange {
            index: table.index,
            header_at: table.header_at,
            link: table.link,
            count: to_u64(elf.sections.len()),
        })?;
    if strings.sh_type != SHT_STRTAB {
        return Err(Error::NotStringTable {
            index: table.index,
            link: table.link,
            found: strings.sh_type,
        });
    }
    let string_bytes = strings.contents(elf.bytes)?;
    check_terminated(what, string_bytes, strings.offset)?;
    scan_table(what, symbols, table.offset, string_bytes)
}

/// The dynamic section's symbol table, when the file has no section
/// headers; without `DT_STRSZ` or a hash table to count the symbols,
/// nothing is found.
fn scan_dynamic(elf: &Elf<'_>, dynamic: &Dynamic) -> Result<Facts, Error> {
    const WHAT: &str = "DT_SYMTAB";
    let (Some(symtab), Some(strtab), Some(strsz)) = (dynamic.symtab, dynamic.strtab, dynamic.strsz)
    else {
        return Ok(Facts::default());
    };
    if let Some((syment, at)) = dynamic.syment.filter(|&(s, _)| s != to_u64(SYM_SIZE)) {
        return Err(Error::EntrySize {
            what: "DT_SYMENT: symbol",
            at,
            found: syment,
            expected: SYM_SIZE,
        });
    }
    let count = if let Some(hash) = dynamic.hash {
        sysv_hash_count(elf, hash)?
    } else if let Some(gnu_hash) = dynamic.gnu_hash {
        gnu_hash_count(elf, gnu_hash)?
    } else {
        return Ok(Facts::default());
    };
    if count > MAX_SYMBOLS {
        return Err(Error::TooMany {
            what: "dynamic symbol table",
            count,
            max: MAX_SYMBOLS,
        });
    }
    let strings = dynamic::map(elf, "DT_STRTAB string table", strtab, strsz)?;
    check_terminated(WHAT, strings, strtab)?;
    let size = count.saturating_mul(to_u64(SYM_SIZE));
    let symbols = dynamic::map(elf, "DT_SYMTAB symbol table", symtab, size)?;
    scan_table(WHAT, symbols, symtab, strings)
}

/// `nchain` of the System V hash table: the number of symbols.
fn sysv_hash_count(elf: &Elf<'_>, addr: u64) -> Result<u64, Error> {
    let table = dynamic::map(elf, "DT_HASH table", addr, 8)?;
    Ok(u64::from(u32_at(table, 4)))
}

/// One past the highest symbol index the GNU hash table's chains reach
/// (its header's `symoffset` if no bucket holds a symbol).
fn gnu_hash_count(elf: &Elf<'_>, addr: u64) -> Result<u64, Error> {
    let table = dynamic::map_rest(elf, "DT_GNU_HASH table", addr)?;
    let cut = Error::BadHash {
        what: "DT_GNU_HASH",
        addr,
    };
    if table.len() < 16 {
        return Err(cut);
    }
    let nbuckets = u64::from(u32_at(table, 0));
    let symoffset = u64::from(u32_at(table, 4));
    let bloom_words = u64::from(u32_at(table, 8));
    let len = to_u64(table.len());
    let buckets_at = bloom_words.checked_mul(8).and_then(|b| b.checked_add(16));
    let chains_at = buckets_at.and_then(|b| b.checked_add(nbuckets.checked_mul(4)?));
    let (Some(buckets_at), Some(chains_at)) = (buckets_at, chains_at) else {
        return Err(cut);
    };
    if chains_at > len {
        return Err(cut);
    }
    let highest = (0..nbuckets)
        .map(|b| u64::from(u32_at(table, usize_at(buckets_at + 4 * b))))
        .max()
        .unwrap_or(0);
    if highest < symoffset {
        return Ok(symoffset);
    }
    // Walk the last chain to its end: each step reads the next 4 bytes, so
    // the walk ends within the table.
    let mut index = highest;
    loop {
        let at = (index - symoffset)
            .checked_mul(4)
            .and_then(|o| o.checked_add(chains_at))
            .filter(|&at| at.saturating_add(4) <= len)
            .ok_or(Error::BadHash {
                what: "DT_GNU_HASH",
                addr,
            })?;
        index += 1;
        if u32_at(table, usize_at(at)) & 1 == 1 {
            return Ok(index);
        }
    }
}

/// An offset already checked to lie in a slice.
fn usize_at(at: u64) -> usize {
    usize::try_from(at).unwrap_or(usize::MAX)
}

/// gABI "String Table": a non-empty table ends with a NUL byte, so every
/// in-range index starts a terminated string.
fn check_terminated(what: &'static str, strings: &[u8], offset: u64) -> Result<(), Error> {
    match strings.last() {
        None | Some(0) => Ok(()),
        Some(_) => Err(Error::UnterminatedStrings {
            table: what,
            offset,
            size: to_u64(strings.len()),
        }),
    }
}

fn scan_table(
    what: &'static str,
    symbols: &[u8],
    symbols_at: u64,
    strings: &[u8],
) -> Result<Facts, Error> {
    let count = to_u64(symbols.len() / SYM_SIZE);
    if count > MAX_SYMBOLS {
        return Err(Error::TooMany {
            what: "symbol table",
            count,
            max: MAX_SYMBOLS,
        });
    }
    let mut facts = Facts::default();
    for (symbol, index) in symbols.chunks_exact(SYM_SIZE).zip(0u64..) {
        let name = u32_at(symbol, 0);
        if name == 0 {
            continue;
        }
        let start = usize::try_from(name).unwrap_or(usize::MAX);
        let Some(rest) = strings.get(start..).filter(|r| !r.is_empty()) else {
            return Err(Error::NameOutOfRange {
                table: what,
                symbol: index,
                at: symbols_at.saturating_add(index.saturating_mul(to_u64(SYM_SIZE))),
                name,
                size: to_u64(strings.len()),
            });
        };
        let head = &rest[..rest.len().min(MAX_NAME + 1)];
        let Some(end) = head.iter().position(|&b| b == 0) else {
            continue;
        };
        let name = &head[..end];
        match name {
            b"__stack_chk_fail" | b"__stack_chk_guard" => facts.stack_protector = true,
            _ if is_fortified(name) => facts.fortify = true,
            _ => {}
        }
    }
    Ok(facts)
}

/// glibc's fortified variants are named `__<function>_chk`
/// (`__memcpy_chk`, `__printf_chk`, `__longjmp_chk`).
fn is_fortified(name: &[u8]) -> bool {
    name.len() > b"___chk".len() && name.starts_with(b"__") && name.ends_with(b"_chk")
}
