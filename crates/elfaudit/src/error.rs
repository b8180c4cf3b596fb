//! Why a file could not be audited: one variant per failed check, with the
//! offsets and sizes involved (gABI chapter 4 "ELF Header", "Sections";
//! chapter 5 "Program Header", "Note Section", "Dynamic Section").

/// A file that is not ELF, is not ELF64 little-endian, or whose headers
/// point outside the file or contradict each other.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("not an ELF file: it does not start with \\x7fELF")]
    NotElf,
    #[error("the {len}-byte file is too short for the {what} ({need} bytes)")]
    Truncated {
        what: &'static str,
        len: usize,
        need: usize,
    },
    #[error(
        "unsupported ELF class {class} ({}) and data encoding {data} ({}): only ELF64 little-endian is audited",
        class_name(*class),
        data_name(*data)
    )]
    Unsupported { class: u8, data: u8 },
    /// `e_phentsize`, `e_shentsize`, `sh_entsize` or `DT_SYMENT` differs
    /// from the ELF64 entry size.
    #[error(
        "{what} entries are {found} bytes (field at byte {at}), not the {expected} bytes of ELF64"
    )]
    EntrySize {
        what: &'static str,
        at: u64,
        found: u64,
        expected: usize,
    },
    /// The program or section header table does not fit in the file.
    #[error(
        "the {table} table (offset {offset}, {count} entries of {entry_size} bytes) lies past the end of the {file_len}-byte file"
    )]
    TablePastEnd {
        table: &'static str,
        offset: u64,
        count: u64,
        entry_size: usize,
        file_len: usize,
    },
    #[error("the {what} has {count} entries, more than the {max} this audit reads")]
    TooMany {
        what: &'static str,
        count: u64,
        max: u64,
    },
    /// Extended numbering (`e_phnum` = `PN_XNUM`, or `e_shnum` = 0 with a
    /// section header table) needs section header 0, which is missing.
    #[error("{field} at byte {at} asks for the count in section header 0, but the file has none")]
    NoSectionZero { field: &'static str, at: u64 },
    /// The contents a section or segment header describes do not fit in
    /// the file; `header_at` is the header's own offset.
    #[error(
        "{what} header {index} (at byte {header_at}) lies past the end of the {file_len}-byte file (offset {offset}, size {size})"
    )]
    PastEnd {
        what: &'static str,
        index: u64,
        header_at: u64,
        offset: u64,
        size: u64,
        file_len: usize,
    },
    #[error(
        "section header {index} (at byte {header_at}) links to section {link}, but the file has {count} sections"
    )]
    LinkOutOfRange {
        index: u64,
        header_at: u64,
        link: u32,
        count: u64,
    },
    #[error(
        "section {link}, the string table of section {index}, has type {found}, not SHT_STRTAB (3)"
    )]
    NotStringTable { index: u64, link: u32, found: u32 },
    /// gABI "String Table": the last byte of a non-empty table is NUL.
    #[error(
        "the string table of {table} (offset {offset}, size {size}) does not end with a NUL byte"
    )]
    UnterminatedStrings {
        table: &'static str,
        offset: u64,
        size: u64,
    },
    #[error(
        "symbol {symbol} of {table} (at byte {at}) names string offset {name}, past the end of its {size}-byte string table"
    )]
    NameOutOfRange {
        table: &'static str,
        symbol: u64,
        at: u64,
        name: u32,
        size: u64,
    },
    /// An address from the dynamic section that no `PT_LOAD` maps from the
    /// file (or a range running past the segment's file contents).
    #[error(
        "{what} at address {addr:#x} (size {size}) lies outside every PT_LOAD segment's file contents"
    )]
    Unmapped {
        what: &'static str,
        addr: u64,
        size: u64,
    },
    /// A note (gABI "Note Section") or a GNU property in it runs past the
    /// end of its note area.
    #[error("{what} at byte {at} runs past the end of its {area} (which ends at byte {end})")]
    BadNote {
        what: &'static str,
        at: u64,
        area: &'static str,
        end: u64,
    },
    /// The note areas read (`PT_NOTE` segments or `SHT_NOTE` sections) add
    /// up to more than the file: they overlap.
    #[error(
        "the note segments or sections add up to more than the {file_len}-byte file: they overlap"
    )]
    NotesOverlap { file_len: usize },
    /// A hash table (`DT_HASH`, `DT_GNU_HASH`) that does not fit where it is.
    #[error("the {what} table at address {addr:#x} is cut off by the end of its segment")]
    BadHash { what: &'static str, addr: u64 },
}

fn class_name(class: u8) -> &'static str {
    match class {
        crate::raw::ELFCLASS32 => "ELFCLASS32",
        crate::raw::ELFCLASS64 => "ELFCLASS64",
        _ => "invalid",
    }
}

fn data_name(data: u8) -> &'static str {
    match data {
        crate::raw::ELFDATA2LSB => "little-endian",
        crate::raw::ELFDATA2MSB => "big-endian",
        _ => "invalid",
    }
}
