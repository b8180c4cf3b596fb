//! Listing the sections of a UKI (or any PE image) and the text of the UKI
//! text sections.

use pe::PeFile;

use crate::error::Error;

/// Sections whose contents are text (ukify's `DEFAULT_SECTIONS_TO_SHOW`
/// marks these as text).
pub const TEXT_SECTIONS: [&str; 6] = [
    ".cmdline", ".osrel", ".uname", ".sbat", ".pcrpkey", ".pcrsig",
];

/// One section header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionInfo {
    pub name: String,
    pub virtual_address: u32,
    pub virtual_size: u32,
    /// `PointerToRawData`.
    pub file_offset: u32,
    /// `SizeOfRawData`.
    pub raw_size: u32,
    pub characteristics: u32,
    /// For the text sections: the contents (up to `VirtualSize`, trailing
    /// NULs dropped) when they are UTF-8.
    pub text: Option<String>,
}

/// What `inspect` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    pub sections: Vec<SectionInfo>,
    pub machine: u16,
    pub subsystem: u16,
    pub size_of_image: u32,
    pub section_alignment: u32,
    pub file_alignment: u32,
    /// File range of the attribute certificate table (signatures), if any.
    pub certificate_table: Option<std::ops::Range<usize>>,
}

impl Inspection {
    /// The text of the first section named `name`.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.sections
            .iter()
            .find(|s| s.name == name)
            .and_then(|s| s.text.as_deref())
    }
}

/// Reads the section table of `bytes`.
pub fn inspect(bytes: &[u8]) -> Result<Inspection, Error> {
    let pe = PeFile::parse(bytes).map_err(|error| Error::Pe {
        input: "the image",
        error,
    })?;
    let sections = pe
        .sections()
        .iter()
        .map(|s| {
            let name = String::from_utf8_lossy(&s.name)
                .trim_end_matches('\0')
                .to_owned();
            let text = TEXT_SECTIONS
                .contains(&name.as_str())
                .then(|| {
                    let data = pe.section_contents(s);
                    let end = data.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
                    std::str::from_utf8(&data[..end]).ok().map(str::to_owned)
                })
                .flatten();
            SectionInfo {
                name,
                virtual_address: s.virtual_address,
                virtual_size: s.virtual_size,
                file_offset: s.pointer_to_raw_data,
                raw_size: s.size_of_raw_data,
                characteristics: s.characteristics,
                text,
            }
        })
        .collect();
    Ok(Inspection {
        sections,
        machine: pe.machine(),
        subsystem: pe.subsystem(),
        size_of_image: pe.size_of_image(),
        section_alignment: pe.section_alignment(),
        file_alignment: pe.file_alignment(),
        certificate_table: pe.certificate_table(),
    })
}
