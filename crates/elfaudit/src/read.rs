//! The ELF64 header and the program and section header tables, every offset
//! and count checked against the file: System V gABI chapter 4 "ELF Header"
//! (`e_ident`, extended numbering with `PN_XNUM` and `e_shnum` = 0) and
//! "Sections"; chapter 5 "Program Header".

use crate::Error;
use crate::raw::*;

/// At most this many program headers and section headers are read
/// (`e_phnum` and `e_shnum` are 16-bit; extended numbering could ask for
/// 2^32 - 1 program headers or 2^64 - 1 sections).
pub const MAX_HEADERS: u64 = 65_535;

/// A file whose ELF64 header and header tables lie within its bytes.
#[derive(Debug)]
pub struct Elf<'a> {
    pub bytes: &'a [u8],
    pub e_type: u16,
    pub machine: u16,
    pub segments: Vec<Segment>,
    pub sections: Vec<Section>,
}

/// One program header (gABI "Program Header").
#[derive(Debug, Clone, Copy)]
pub struct Segment {
    pub index: u64,
    /// File offset of the program header itself.
    pub header_at: u64,
    pub p_type: u32,
    pub flags: u32,
    pub offset: u64,
    pub vaddr: u64,
    pub filesz: u64,
    pub align: u64,
}

/// One section header (gABI "Sections").
#[derive(Debug, Clone, Copy)]
pub struct Section {
    pub index: u64,
    /// File offset of the section header itself.
    pub header_at: u64,
    pub sh_type: u32,
    pub offset: u64,
    pub size: u64,
    pub link: u32,
    pub addralign: u64,
    pub entsize: u64,
}

/// `bytes[offset..offset + size]`, or `None` if that is not in the file.
pub fn slice(bytes: &[u8], offset: u64, size: u64) -> Option<&[u8]> {
    let start = usize::try_from(offset).ok()?;
    let end = start.checked_add(usize::try_from(size).ok()?)?;
    bytes.get(start..end)
}

impl Segment {
    /// The segment's file contents (`p_offset`, `p_filesz`).
    pub fn contents<'a>(&self, bytes: &'a [u8]) -> Result<&'a [u8], Error> {
        slice(bytes, self.offset, self.filesz).ok_or(Error::PastEnd {
            what: "program",
            index: self.index,
            header_at: self.header_at,
            offset: self.offset,
            size: self.filesz,
            file_len: bytes.len(),
        })
    }
}

impl Section {
    /// The section's file contents (`sh_offset`, `sh_size`).
    pub fn contents<'a>(&self, bytes: &'a [u8]) -> Result<&'a [u8], Error> {
        slice(bytes, self.offset, self.size).ok_or(Error::PastEnd {
            what: "section",
            index: self.index,
            header_at: self.header_at,
            offset: self.offset,
            size: self.size,
            file_len: bytes.len(),
        })
    }
}

/// Checks the identification and reads the header tables.
pub fn parse(bytes: &[u8]) -> Result<Elf<'_>, Error> {
    if !crate::is_elf(bytes) {
        return Err(Error::NotElf);
    }
    let ident = bytes.get(..EI_NIDENT).ok_or(Error::Truncated {
        what: "ELF identification",
        len: bytes.len(),
        need: EI_NIDENT,
    })?;
    let (class, data) = (ident[EI_CLASS], ident[EI_DATA]);
    if class != ELFCLASS64 || data != ELFDATA2LSB {
        return Err(Error::Unsupported { class, data });
    }
    let header = bytes.get(..EHDR_SIZE).ok_or(Error::Truncated {
        what: "ELF64 header",
        len: bytes.len(),
        need: EHDR_SIZE,
    })?;
    let phoff = u64_at(header, E_PHOFF);
    let shoff = u64_at(header, E_SHOFF);
    let phnum = u16_at(header, E_PHNUM);
    let shnum = u16_at(header, E_SHNUM);

    // Section header 0 holds the counts that do not fit the header's
    // 16-bit fields (gABI "Sections", extended section and program header
    // numbering).
    let section_zero = if shoff == 0 {
        None
    } else {
        check_entry_size("section header", E_SHENTSIZE, header, SHDR_SIZE)?;
        Some(
            slice(bytes, shoff, to_u64(SHDR_SIZE)).ok_or(Error::TablePastEnd {
                table: "section header",
                offset: shoff,
                count: 1,
                entry_size: SHDR_SIZE,
                file_len: bytes.len(),
            })?,
        )
    };
    let section_count = match section_zero {
        None => 0,
        Some(zero) if shnum == 0 => u64_at(zero, SH_SIZE),
        Some(_) => u64::from(shnum),
    };
    let segment_count = if phnum == PN_XNUM {
        let zero = section_zero.ok_or(Error::NoSectionZero {
            field: "e_phnum (PN_XNUM)",
            at: to_u64(E_PHNUM),
        })?;
        u64::from(u32_at(zero, SH_INFO))
    } else {
        u64::from(phnum)
    };
    if segment_count > 0 {
        check_entry_size("program header", E_PHENTSIZE, header, PHDR_SIZE)?;
    }

    let segments = table(bytes, "program header", phoff, segment_count, PHDR_SIZE)?
        .map(|(index, header_at, h)| Segment {
            index,
            header_at,
            p_type: u32_at(h, P_TYPE),
            flags: u32_at(h, P_FLAGS),
            offset: u64_at(h, P_OFFSET),
            vaddr: u64_at(h, P_VADDR),
            filesz: u64_at(h, P_FILESZ),
            align: u64_at(h, P_ALIGN),
        })
        .collect();
    let sections = table(bytes, "section header", shoff, section_count, SHDR_SIZE)?
        .map(|(index, header_at, h)| Section {
            index,
            header_at,
            sh_type: u32_at(h, SH_TYPE),
            offset: u64_at(h, SH_OFFSET),
            size: u64_at(h, SH_SIZE),
            link: u32_at(h, SH_LINK),
            addralign: u64_at(h, SH_ADDRALIGN),
            entsize: u64_at(h, SH_ENTSIZE),
        })
        .collect();
    Ok(Elf {
        bytes,
        e_type: u16_at(header, E_TYPE),
        machine: u16_at(header, E_MACHINE),
        segments,
        sections,
    })
}

/// A `usize` that is a small constant or a slice length, as `u64`.
pub fn to_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

fn check_entry_size(
    what: &'static str,
    field: usize,
    header: &[u8],
    expected: usize,
) -> Result<(), Error> {
    let found = u16_at(header, field);
    if usize::from(found) == expected {
        Ok(())
    } else {
        Err(Error::EntrySize {
            what,
            at: to_u64(field),
            found: u64::from(found),
            expected,
        })
    }
}

/// The `count` entries of `size` bytes at `offset`, with their index and
/// file offset, once the whole table is known to lie in the file.
fn table<'a>(
    bytes: &'a [u8],
    name: &'static str,
    offset: u64,
    count: u64,
    size: usize,
) -> Result<impl Iterator<Item = (u64, u64, &'a [u8])>, Error> {
    if count > MAX_HEADERS {
        return Err(Error::TooMany {
            what: if size == PHDR_SIZE {
                "program header table"
            } else {
                "section header table"
            },
            count,
            max: MAX_HEADERS,
        });
    }
    let past_end = Error::TablePastEnd {
        table: name,
        offset,
        count,
        entry_size: size,
        file_len: bytes.len(),
    };
    let entries = count
        .checked_mul(to_u64(size))
        .and_then(|len| slice(bytes, offset, len))
        .ok_or(past_end)?;
    Ok(entries
        .chunks_exact(size)
        .zip(0u64..)
        .map(move |(entry, index)| {
            let at = offset.saturating_add(index.saturating_mul(to_u64(size)));
            (index, at, entry)
        }))
}
