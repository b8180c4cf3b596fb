//! Errors of the `pe` crate: one variant per failed check, with the values
//! involved; parse errors carry the file offset of the offending field.

/// Everything that can go wrong reading, hashing or rewriting an image.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The bytes are not a well-formed PE image.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// The attribute certificate table must be the last thing in the file
    /// (Authenticode hashes everything before it).
    #[error(
        "certificate table at bytes {start}..{end} is not at the end of the {file_len}-byte file"
    )]
    CertificateTableNotAtEnd {
        start: usize,
        end: usize,
        file_len: usize,
    },
    /// Authenticode hashes the headers, then the sections, then the rest;
    /// the sections cover more bytes than the file holds outside the
    /// certificate table.
    #[error(
        "sections and headers cover {hashed} bytes, more than the {available} bytes before the certificate table"
    )]
    HashedPastEnd { hashed: u64, available: u64 },
    #[error("a certificate table of {0} bytes does not fit a 32-bit size field")]
    CertificateTableTooLarge(usize),
    #[error("the certificate table is empty")]
    EmptyCertificateTable,
    #[error("image would be {0} bytes, past the 4 GiB a PE image can address")]
    ImageTooLarge(u64),
    /// The header area (up to the first section's data) cannot hold more
    /// section headers.
    #[error(
        "no room for {adding} more section header(s): the section table would end at byte {needed}, \
         but the headers end at {available} (first section data at {first_data})"
    )]
    NoHeaderRoom {
        adding: usize,
        needed: usize,
        available: usize,
        first_data: usize,
    },
    #[error("section name {0:?} is longer than 8 bytes")]
    SectionNameTooLong(String),
    #[error("section name {0:?} is empty or has a NUL byte")]
    SectionNameInvalid(String),
    /// Replacing the contents of an existing section needs the new data to
    /// fit its raw size.
    #[error(
        "new {name} contents of {new_len} bytes do not fit the existing section's {room} bytes"
    )]
    SectionTooSmall {
        name: String,
        new_len: usize,
        room: usize,
    },
    /// Growing the section table would overwrite non-zero bytes.
    #[error("the header area after the section table is in use (non-zero byte at {offset:#x})")]
    HeaderAreaInUse { offset: usize },
    #[error("section {0} has no contents")]
    EmptySection(String),
    #[error("section {0} is not in the image")]
    NoSuchSection(String),
    #[error("too many sections ({0}); COFF allows at most 65535 (96 for Windows loaders)")]
    TooManySections(usize),
    #[error("{what} {value:#x} is not a power of two")]
    Alignment { what: &'static str, value: u32 },
    /// Two sections' raw data share file bytes. Authenticode would hash them
    /// twice, and tools disagree on the digest of such an image.
    #[error(
        "sections {first:?} (raw data {:#x}..{:#x}) and {second:?} ({:#x}..{:#x}) overlap in the file",
        first_range.start, first_range.end, second_range.start, second_range.end
    )]
    SectionsOverlap {
        first: String,
        first_range: std::ops::Range<usize>,
        second: String,
        second_range: std::ops::Range<usize>,
    },
    /// Bytes between the headers and the end of the last section that no
    /// section holds (see [`Gap`]).
    #[error(
        "{0}: the Authenticode digest (as UEFI firmware computes it) does not cover them, \
         and osslsigncode computes another digest for such an image"
    )]
    SectionGap(Gap),
}

/// File bytes after `SizeOfHeaders` and before the end of the last section's
/// raw data that no section's raw data covers. The loader does not map
/// them; the Authenticode digest skips them (and hashes as many bytes at the
/// end of the last section twice); osslsigncode hashes the file in order
/// instead, so its digest differs; sbsign warns "gap in section table".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    /// File range of the gap.
    pub range: std::ops::Range<usize>,
    /// The section whose raw data ends where the gap starts, or `None` for
    /// the headers.
    pub before: Option<String>,
    /// The section whose raw data starts where the gap ends.
    pub after: String,
}

impl std::fmt::Display for Gap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "bytes {:#x}..{:#x} ({} bytes) between ",
            self.range.start,
            self.range.end,
            self.range.len()
        )?;
        match &self.before {
            Some(name) => write!(f, "section {name:?}")?,
            None => write!(f, "the headers")?,
        }
        write!(f, " and section {:?} belong to no section", self.after)
    }
}

/// A malformed image, with the file offset of the bad field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid PE image at byte {offset:#x}: {kind}")]
pub struct FormatError {
    pub kind: FormatErrorKind,
    /// File offset of the field that failed the check.
    pub offset: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatErrorKind {
    #[error("file ends at {file_len} bytes, {what} needs bytes up to {needed}")]
    Truncated {
        what: &'static str,
        needed: u64,
        file_len: usize,
    },
    #[error("no \"MZ\" MS-DOS signature")]
    DosSignature,
    #[error("no \"PE\\0\\0\" signature (e_lfanew = {0:#x})")]
    PeSignature(u32),
    #[error("unknown optional header magic {0:#x} (known: 0x10b PE32, 0x20b PE32+)")]
    OptionalHeaderMagic(u16),
    #[error("SizeOfOptionalHeader {got} is smaller than the {need} bytes its fields take")]
    OptionalHeaderSize { got: u16, need: usize },
    #[error("NumberOfRvaAndSizes is {0}; the certificate table entry (index 4) needs at least 5")]
    TooFewDataDirectories(u32),
    #[error("{what} {value:#x} is not a power of two")]
    Alignment { what: &'static str, value: u32 },
    #[error(
        "SizeOfHeaders {size_of_headers:#x} does not cover the section table ending at {table_end:#x}"
    )]
    SectionTableOutsideHeaders {
        size_of_headers: u32,
        table_end: usize,
    },
    #[error(
        "section {index} ({name:?}) raw data {start:#x}+{size:#x} runs past the {file_len}-byte file"
    )]
    SectionData {
        index: usize,
        name: String,
        start: u32,
        size: u32,
        file_len: usize,
    },
    #[error("certificate table {start:#x}+{size:#x} runs past the {file_len}-byte file")]
    CertificateTableBounds {
        start: u32,
        size: u32,
        file_len: usize,
    },
    #[error(
        "section {index} raw data at {start:#x} starts inside the headers (SizeOfHeaders {size_of_headers:#x})"
    )]
    SectionInHeaders {
        index: usize,
        start: u32,
        size_of_headers: u32,
    },
    #[error("certificate table {start:#x}+{size:#x} overlaps section {index}'s raw data")]
    CertificateTableOverlapsSection { start: u32, size: u32, index: usize },
    #[error(
        "certificate table at {start:#x} overlaps the headers (SizeOfHeaders {size_of_headers:#x})"
    )]
    CertificateTableInHeaders { start: u32, size_of_headers: u32 },
}
