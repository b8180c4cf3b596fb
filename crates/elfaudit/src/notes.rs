//! Intel CET markings: the x86-64 psABI's `GNU_PROPERTY_X86_FEATURE_1_AND`
//! property (`pr_type` 0xc0000002; bit 0 IBT, bit 1 SHSTK) in an
//! `NT_GNU_PROPERTY_TYPE_0` note (type 5, owner `"GNU"`), whose properties
//! are `pr_type`, `pr_datasz`, then the data padded to 8 bytes in ELF64.
//! Notes follow gABI chapter 5 "Note Section" (`n_namesz`, `n_descsz`,
//! `n_type`, the name, the descriptor), padded to 4 bytes, or to 8 in an
//! area aligned to 8 as `.note.gnu.property` is.
//!
//! The notes read are those of the `PT_GNU_PROPERTY` segment (glibc
//! `<elf.h>` 0x6474e553) if there is one, else of every `PT_NOTE` segment,
//! else (a file without program headers, such as a relocatable object) of
//! every `SHT_NOTE` section. Only x86-64 files (`EM_X86_64`) are read:
//! other processors number their properties differently.

use crate::Error;
use crate::raw::*;
use crate::read::{Elf, to_u64};

/// The CET feature bits the file is marked with.
#[derive(Debug, Default, Clone, Copy)]
pub struct Cet {
    pub ibt: bool,
    pub shstk: bool,
}

/// Reads the x86 feature property from the file's notes.
pub fn cet(elf: &Elf<'_>) -> Result<Cet, Error> {
    let mut cet = Cet::default();
    if elf.machine != EM_X86_64 {
        return Ok(cet);
    }
    // Note areas do not overlap in a well-formed file, so they add up to
    // less than the file; more means the same bytes would be read again
    // and again (65 535 program headers over one area).
    let mut budget = Budget {
        left: to_u64(elf.bytes.len()),
        file_len: elf.bytes.len(),
    };
    let property = elf.segments.iter().find(|s| s.p_type == PT_GNU_PROPERTY);
    if let Some(segment) = property {
        let data = budget.take(segment.contents(elf.bytes)?)?;
        let area = "PT_GNU_PROPERTY segment";
        notes(data, segment.offset, segment.align, area, &mut cet)?;
    } else if !elf.segments.is_empty() {
        for segment in elf.segments.iter().filter(|s| s.p_type == PT_NOTE) {
            let data = budget.take(segment.contents(elf.bytes)?)?;
            notes(
                data,
                segment.offset,
                segment.align,
                "PT_NOTE segment",
                &mut cet,
            )?;
        }
    } else {
        for section in elf.sections.iter().filter(|s| s.sh_type == SHT_NOTE) {
            let area = "SHT_NOTE section";
            let data = budget.take(section.contents(elf.bytes)?)?;
            notes(data, section.offset, section.addralign, area, &mut cet)?;
        }
    }
    Ok(cet)
}

/// How many more bytes of note areas may be read.
struct Budget {
    left: u64,
    file_len: usize,
}

impl Budget {
    fn take<'a>(&mut self, area: &'a [u8]) -> Result<&'a [u8], Error> {
        let len = to_u64(area.len());
        self.left = self.left.checked_sub(len).ok_or(Error::NotesOverlap {
            file_len: self.file_len,
        })?;
        Ok(area)
    }
}

/// `n` rounded up to a multiple of `align` (a power of two).
fn align_up(n: usize, align: usize) -> Option<usize> {
    Some(n.checked_add(align - 1)? & !(align - 1))
}

fn notes(
    data: &[u8],
    base: u64,
    area_align: u64,
    area: &'static str,
    cet: &mut Cet,
) -> Result<(), Error> {
    let align = if area_align == 8 { 8 } else { 4 };
    let end = base.saturating_add(to_u64(data.len()));
    let mut pos = 0usize;
    while pos
        .checked_add(NOTE_HEADER)
        .is_some_and(|e| e <= data.len())
    {
        let bad = Error::BadNote {
            what: "note",
            at: base.saturating_add(to_u64(pos)),
            area,
            end,
        };
        let namesz = usize::try_from(u32_at(data, pos)).unwrap_or(usize::MAX);
        let descsz = usize::try_from(u32_at(data, pos + 4)).unwrap_or(usize::MAX);
        let n_type = u32_at(data, pos + 8);
        let name_at = pos + NOTE_HEADER;
        let name_end = name_at.checked_add(namesz);
        let desc_at = name_end.and_then(|n| align_up(n, align));
        let desc_end = desc_at.and_then(|d| d.checked_add(descsz));
        let (Some(name_end), Some(desc_at), Some(desc_end)) = (name_end, desc_at, desc_end) else {
            return Err(bad);
        };
        let (Some(name), Some(desc)) = (data.get(name_at..name_end), data.get(desc_at..desc_end))
        else {
            return Err(bad);
        };
        if n_type == NT_GNU_PROPERTY_TYPE_0 && name == GNU_OWNER {
            properties(desc, base.saturating_add(to_u64(desc_at)), cet)?;
        }
        match align_up(desc_end, align) {
            Some(next) => pos = next,
            None => break,
        }
    }
    Ok(())
}

/// The properties of one `NT_GNU_PROPERTY_TYPE_0` descriptor at file
/// offset `base`.
fn properties(desc: &[u8], base: u64, cet: &mut Cet) -> Result<(), Error> {
    let end = base.saturating_add(to_u64(desc.len()));
    let mut pos = 0usize;
    while pos.checked_add(8).is_some_and(|e| e <= desc.len()) {
        let pr_type = u32_at(desc, pos);
        let datasz = usize::try_from(u32_at(desc, pos + 4)).unwrap_or(usize::MAX);
        let data_end = (pos + 8)
            .checked_add(datasz)
            .filter(|&e| e <= desc.len())
            .ok_or(Error::BadNote {
                what: "GNU property",
                at: base.saturating_add(to_u64(pos)),
                area: "note descriptor",
                end,
            })?;
        if pr_type == GNU_PROPERTY_X86_FEATURE_1_AND && datasz >= 4 {
            let bits = u32_at(desc, pos + 8);
            cet.ibt |= bits & GNU_PROPERTY_X86_FEATURE_1_IBT != 0;
            cet.shstk |= bits & GNU_PROPERTY_X86_FEATURE_1_SHSTK != 0;
        }
        match align_up(data_end, 8) {
            Some(next) => pos = next,
            None => break,
        }
    }
    Ok(())
}
