//! Parsing a PE/COFF image ("PE Format" specification: "MS-DOS Stub",
//! "Signature", "COFF File Header", "Optional Header", "Optional Header Data
//! Directories", "Section Table"). Every offset and length read from the
//! file is checked against the file size before use; a failed check names
//! the file offset of the field.

use crate::error::{Error, FormatError, FormatErrorKind as Kind, Gap};
use crate::raw::{self, coff, data_dir, opt, section, u16_at, u32_at, u64_at};

/// One section header (40 bytes in the section table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// Eight bytes, NUL-padded (no NUL when the name is exactly 8 bytes).
    pub name: [u8; 8],
    pub virtual_size: u32,
    pub virtual_address: u32,
    pub size_of_raw_data: u32,
    pub pointer_to_raw_data: u32,
    pub characteristics: u32,
}

impl Section {
    /// The name up to its first NUL; "" if those bytes are not UTF-8.
    pub fn name_str(&self) -> &str {
        let len = self.name.iter().position(|&b| b == 0).unwrap_or(8);
        std::str::from_utf8(&self.name[..len]).unwrap_or("")
    }

    /// File range of the raw data; `0..0` when `SizeOfRawData` is 0 (the
    /// pointer of such a section is meaningless and was not checked).
    pub fn raw_range(&self) -> std::ops::Range<usize> {
        if self.size_of_raw_data == 0 {
            return 0..0;
        }
        let start = to_usize(self.pointer_to_raw_data);
        start..start + to_usize(self.size_of_raw_data)
    }

    /// The name up to its first NUL, invalid UTF-8 replaced (for messages).
    pub fn name_lossy(&self) -> String {
        let len = self.name.iter().position(|&b| b == 0).unwrap_or(8);
        String::from_utf8_lossy(&self.name[..len]).into_owned()
    }

    /// First address past the section in memory.
    pub fn virtual_end(&self) -> u64 {
        u64::from(self.virtual_address) + u64::from(self.virtual_size)
    }
}

/// Optional header format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Pe32,
    Pe32Plus,
}

/// A checked view of a PE image; borrows the bytes.
#[derive(Debug, Clone)]
pub struct PeFile<'a> {
    bytes: &'a [u8],
    format: Format,
    pe_offset: usize,
    optional_header_offset: usize,
    section_table_offset: usize,
    machine: u16,
    characteristics: u16,
    subsystem: u16,
    section_alignment: u32,
    file_alignment: u32,
    size_of_image: u32,
    size_of_headers: u32,
    number_of_rva_and_sizes: u32,
    data_directory_offset: usize,
    sections: Vec<Section>,
    certificate_table: Option<std::ops::Range<usize>>,
}

/// u32 file fields to indices; usize is at least 32 bits on every target we
/// build for.
pub(crate) fn to_usize(v: u32) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

fn err(kind: Kind, offset: usize) -> FormatError {
    FormatError { kind, offset }
}

/// Checks that `bytes` reaches `end`, where `what` starting at `at` needs it.
fn need(bytes: &[u8], at: usize, end: u64, what: &'static str) -> Result<(), FormatError> {
    if end > bytes.len() as u64 {
        return Err(err(
            Kind::Truncated {
                what,
                needed: end,
                file_len: bytes.len(),
            },
            at,
        ));
    }
    Ok(())
}

fn check_power_of_two(what: &'static str, value: u32, at: usize) -> Result<(), FormatError> {
    if value.is_power_of_two() {
        Ok(())
    } else {
        Err(err(Kind::Alignment { what, value }, at))
    }
}

impl<'a> PeFile<'a> {
    /// Parses and checks the headers and section table of an image.
    pub fn parse(bytes: &'a [u8]) -> Result<PeFile<'a>, crate::Error> {
        Ok(Self::parse_format(bytes)?)
    }

    fn parse_format(b: &'a [u8]) -> Result<PeFile<'a>, FormatError> {
        need(b, 0, 2, "the MS-DOS signature")?;
        if &b[0..2] != raw::DOS_MAGIC {
            return Err(err(Kind::DosSignature, 0));
        }
        need(b, raw::E_LFANEW, raw::E_LFANEW as u64 + 4, "e_lfanew")?;
        let lfanew = u32_at(b, raw::E_LFANEW);
        let pe_offset = to_usize(lfanew);
        let coff_offset = pe_offset as u64 + 4;
        need(
            b,
            raw::E_LFANEW,
            coff_offset + coff::SIZE as u64,
            "the PE signature and COFF header",
        )?;
        if &b[pe_offset..pe_offset + 4] != raw::PE_SIGNATURE {
            return Err(err(Kind::PeSignature(lfanew), pe_offset));
        }
        let coff_offset = pe_offset + 4;
        let machine = u16_at(b, coff_offset + coff::MACHINE);
        let number_of_sections = usize::from(u16_at(b, coff_offset + coff::NUMBER_OF_SECTIONS));
        let size_of_optional_header = u16_at(b, coff_offset + coff::SIZE_OF_OPTIONAL_HEADER);
        let characteristics = u16_at(b, coff_offset + coff::CHARACTERISTICS);

        let oh = coff_offset + coff::SIZE;
        let oh_end = oh + usize::from(size_of_optional_header);
        need(b, oh, oh as u64 + 2, "the optional header magic")?;
        let magic = u16_at(b, oh + opt::MAGIC);
        let (format, nrva_at, dd_at) = match magic {
            opt::MAGIC_PE32 => (
                Format::Pe32,
                opt::PE32_NUMBER_OF_RVA_AND_SIZES,
                opt::PE32_DATA_DIRECTORY,
            ),
            opt::MAGIC_PE32_PLUS => (
                Format::Pe32Plus,
                opt::PE32_PLUS_NUMBER_OF_RVA_AND_SIZES,
                opt::PE32_PLUS_DATA_DIRECTORY,
            ),
            other => return Err(err(Kind::OptionalHeaderMagic(other), oh)),
        };
        let size_field_at = coff_offset + coff::SIZE_OF_OPTIONAL_HEADER;
        if usize::from(size_of_optional_header) < dd_at {
            return Err(err(
                Kind::OptionalHeaderSize {
                    got: size_of_optional_header,
                    need: dd_at,
                },
                size_field_at,
            ));
        }
        need(b, oh, oh_end as u64, "the optional header")?;

        let number_of_rva_and_sizes = u32_at(b, oh + nrva_at);
        if to_usize(number_of_rva_and_sizes) <= data_dir::CERTIFICATE_TABLE {
            return Err(err(
                Kind::TooFewDataDirectories(number_of_rva_and_sizes),
                oh + nrva_at,
            ));
        }
        let dd_bytes = u64::from(number_of_rva_and_sizes) * data_dir::SIZE as u64;
        if dd_at as u64 + dd_bytes > u64::from(size_of_optional_header) {
            return Err(err(
                Kind::OptionalHeaderSize {
                    got: size_of_optional_header,
                    need: dd_at + to_usize(number_of_rva_and_sizes) * data_dir::SIZE,
                },
                size_field_at,
            ));
        }
        let data_directory_offset = oh + dd_at;

        let section_alignment = u32_at(b, oh + opt::SECTION_ALIGNMENT);
        check_power_of_two(
            "SectionAlignment",
            section_alignment,
            oh + opt::SECTION_ALIGNMENT,
        )?;
        let file_alignment = u32_at(b, oh + opt::FILE_ALIGNMENT);
        check_power_of_two("FileAlignment", file_alignment, oh + opt::FILE_ALIGNMENT)?;
        let size_of_image = u32_at(b, oh + opt::SIZE_OF_IMAGE);
        let size_of_headers = u32_at(b, oh + opt::SIZE_OF_HEADERS);
        need(
            b,
            oh + opt::SIZE_OF_HEADERS,
            u64::from(size_of_headers),
            "SizeOfHeaders",
        )?;
        let subsystem = u16_at(b, oh + opt::SUBSYSTEM);

        let table = oh_end;
        let table_end = table + number_of_sections * section::SIZE;
        need(
            b,
            coff_offset + coff::NUMBER_OF_SECTIONS,
            table_end as u64,
            "the section table",
        )?;
        if table_end > to_usize(size_of_headers) {
            return Err(err(
                Kind::SectionTableOutsideHeaders {
                    size_of_headers,
                    table_end,
                },
                oh + opt::SIZE_OF_HEADERS,
            ));
        }
        let mut sections = Vec::with_capacity(number_of_sections);
        for index in 0..number_of_sections {
            let h = table + index * section::SIZE;
            let mut name = [0u8; 8];
            name.copy_from_slice(&b[h + section::NAME..h + section::NAME + 8]);
            let s = Section {
                name,
                virtual_size: u32_at(b, h + section::VIRTUAL_SIZE),
                virtual_address: u32_at(b, h + section::VIRTUAL_ADDRESS),
                size_of_raw_data: u32_at(b, h + section::SIZE_OF_RAW_DATA),
                pointer_to_raw_data: u32_at(b, h + section::POINTER_TO_RAW_DATA),
                characteristics: u32_at(b, h + section::CHARACTERISTICS),
            };
            let end = u64::from(s.pointer_to_raw_data) + u64::from(s.size_of_raw_data);
            if s.size_of_raw_data > 0 && end > b.len() as u64 {
                return Err(err(
                    Kind::SectionData {
                        index,
                        name: String::from_utf8_lossy(&s.name)
                            .trim_end_matches('\0')
                            .to_owned(),
                        start: s.pointer_to_raw_data,
                        size: s.size_of_raw_data,
                        file_len: b.len(),
                    },
                    h + section::SIZE_OF_RAW_DATA,
                ));
            }
            // Raw data inside the headers would be changed by CheckSum and
            // certificate-table updates, and hashed twice by Authenticode.
            if s.size_of_raw_data > 0 && s.pointer_to_raw_data < size_of_headers {
                return Err(err(
                    Kind::SectionInHeaders {
                        index,
                        start: s.pointer_to_raw_data,
                        size_of_headers,
                    },
                    h + section::POINTER_TO_RAW_DATA,
                ));
            }
            sections.push(s);
        }

        let cert_entry = data_directory_offset + data_dir::CERTIFICATE_TABLE * data_dir::SIZE;
        let cert_start = u32_at(b, cert_entry + data_dir::VIRTUAL_ADDRESS);
        let cert_size = u32_at(b, cert_entry + data_dir::SIZE_FIELD);
        let certificate_table = if cert_size == 0 {
            None
        } else {
            if u64::from(cert_start) + u64::from(cert_size) > b.len() as u64 {
                return Err(err(
                    Kind::CertificateTableBounds {
                        start: cert_start,
                        size: cert_size,
                        file_len: b.len(),
                    },
                    cert_entry,
                ));
            }
            if cert_start < size_of_headers {
                return Err(err(
                    Kind::CertificateTableInHeaders {
                        start: cert_start,
                        size_of_headers,
                    },
                    cert_entry,
                ));
            }
            let table = to_usize(cert_start)..to_usize(cert_start) + to_usize(cert_size);
            if let Some(index) = sections.iter().position(|s| {
                let r = s.raw_range();
                !r.is_empty() && r.start < table.end && table.start < r.end
            }) {
                return Err(err(
                    Kind::CertificateTableOverlapsSection {
                        start: cert_start,
                        size: cert_size,
                        index,
                    },
                    cert_entry,
                ));
            }
            Some(table)
        };

        Ok(PeFile {
            bytes: b,
            format,
            pe_offset,
            optional_header_offset: oh,
            section_table_offset: table,
            machine,
            characteristics,
            subsystem,
            section_alignment,
            file_alignment,
            size_of_image,
            size_of_headers,
            number_of_rva_and_sizes,
            data_directory_offset,
            sections,
            certificate_table,
        })
    }

    /// The section headers, in section-table order.
    pub fn sections(&self) -> &[Section] {
        &self.sections
    }

    /// File offset of `OptionalHeader.CheckSum` (4 bytes).
    pub fn checksum_offset(&self) -> usize {
        self.optional_header_offset + opt::CHECK_SUM
    }

    /// File offset of data directory entry 4 (`IMAGE_DIRECTORY_ENTRY_SECURITY`), 8 bytes.
    pub fn certificate_table_entry_offset(&self) -> usize {
        self.data_directory_offset + data_dir::CERTIFICATE_TABLE * data_dir::SIZE
    }

    /// File range of the attribute certificate table, if the image has one.
    pub fn certificate_table(&self) -> Option<std::ops::Range<usize>> {
        self.certificate_table.clone()
    }

    /// `OptionalHeader.SizeOfHeaders`: the MS-DOS stub, PE header and section
    /// table, rounded up to `FileAlignment`.
    pub fn size_of_headers(&self) -> usize {
        to_usize(self.size_of_headers)
    }

    /// The whole file.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    pub fn format(&self) -> Format {
        self.format
    }

    /// COFF `Machine` (see [`raw::machine`]).
    pub fn machine(&self) -> u16 {
        self.machine
    }

    /// COFF `Characteristics`.
    pub fn characteristics(&self) -> u16 {
        self.characteristics
    }

    /// Optional header `DllCharacteristics`.
    pub fn dll_characteristics(&self) -> u16 {
        u16_at(
            self.bytes,
            self.optional_header_offset + opt::DLL_CHARACTERISTICS,
        )
    }

    /// Optional header `Subsystem` (10 = EFI application).
    pub fn subsystem(&self) -> u16 {
        self.subsystem
    }

    pub fn section_alignment(&self) -> u32 {
        self.section_alignment
    }

    pub fn file_alignment(&self) -> u32 {
        self.file_alignment
    }

    pub fn size_of_image(&self) -> u32 {
        self.size_of_image
    }

    /// File offset of the "PE\0\0" signature (`e_lfanew`).
    pub fn pe_offset(&self) -> usize {
        self.pe_offset
    }

    /// File offset of the optional header.
    pub fn optional_header_offset(&self) -> usize {
        self.optional_header_offset
    }

    /// File offset of the first section header.
    pub fn section_table_offset(&self) -> usize {
        self.section_table_offset
    }

    pub fn number_of_rva_and_sizes(&self) -> u32 {
        self.number_of_rva_and_sizes
    }

    /// Data directory entry `index` as (`VirtualAddress`, `Size`), if the
    /// image has that many.
    pub fn data_directory(&self, index: usize) -> Option<(u32, u32)> {
        if index >= to_usize(self.number_of_rva_and_sizes) {
            return None;
        }
        let at = self.data_directory_offset + index * data_dir::SIZE;
        Some((
            u32_at(self.bytes, at + data_dir::VIRTUAL_ADDRESS),
            u32_at(self.bytes, at + data_dir::SIZE_FIELD),
        ))
    }

    /// `ImageBase` (4 bytes in PE32, 8 in PE32+).
    pub fn image_base(&self) -> u64 {
        match self.format {
            Format::Pe32 => u64::from(u32_at(
                self.bytes,
                self.optional_header_offset + opt::PE32_IMAGE_BASE,
            )),
            Format::Pe32Plus => u64_at(
                self.bytes,
                self.optional_header_offset + opt::PE32_PLUS_IMAGE_BASE,
            ),
        }
    }

    /// The raw data of a section as stored in the file (`SizeOfRawData`
    /// bytes, file-alignment padding included). Parsing checked the bounds.
    pub fn section_data(&self, s: &Section) -> &'a [u8] {
        &self.bytes[s.raw_range()]
    }

    /// The section's contents: its raw data cut to `VirtualSize` (which
    /// excludes file-alignment padding). Bytes past the raw data are zero
    /// in memory and not returned.
    pub fn section_contents(&self, s: &Section) -> &'a [u8] {
        let data = self.section_data(s);
        &data[..data.len().min(to_usize(s.virtual_size))]
    }

    /// The first section named `name`.
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name_str() == name)
    }

    /// How the sections' raw data lie in the file after the headers: an
    /// error if two sections share bytes, else the [`Gap`]s, bytes between
    /// `SizeOfHeaders` and the end of the last section's raw data that no
    /// section holds (in file order). Authenticode hashes the headers and
    /// then the sections as if they followed each other back to back.
    pub fn raw_data_gaps(&self) -> Result<Vec<Gap>, Error> {
        let mut sections: Vec<&Section> = self
            .sections
            .iter()
            .filter(|s| s.size_of_raw_data > 0)
            .collect();
        sections.sort_by_key(|s| s.pointer_to_raw_data);
        let mut gaps = Vec::new();
        // The section reaching furthest so far (None: the headers) and where it ends.
        let mut last: Option<&Section> = None;
        let mut end = self.size_of_headers();
        for s in sections {
            let r = s.raw_range();
            if let Some(prev) = last
                && r.start < end
            {
                return Err(Error::SectionsOverlap {
                    first: prev.name_lossy(),
                    first_range: prev.raw_range(),
                    second: s.name_lossy(),
                    second_range: r,
                });
            }
            if r.start > end {
                gaps.push(Gap {
                    range: end..r.start,
                    before: last.map(Section::name_lossy),
                    after: s.name_lossy(),
                });
            }
            if r.end > end {
                end = r.end;
                last = Some(s);
            }
        }
        Ok(gaps)
    }

    /// File offset where the section headers must end: the first section's
    /// raw data, or `SizeOfHeaders` when that is smaller.
    pub fn header_room_end(&self) -> usize {
        self.sections
            .iter()
            .filter(|s| s.size_of_raw_data > 0)
            .map(|s| to_usize(s.pointer_to_raw_data))
            .chain(std::iter::once(self.size_of_headers()))
            .min()
            .unwrap_or(self.size_of_headers())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;
    use crate::raw::put_u32;
    use crate::testimage::{self, OPT, PE_OFFSET, TABLE};

    fn kind(bytes: &[u8]) -> (Kind, usize) {
        match PeFile::parse(bytes) {
            Err(Error::Format(FormatError { kind, offset })) => (kind, offset),
            other => panic!("expected a format error, got {other:?}"),
        }
    }

    #[test]
    fn parses_test_image() {
        let b = testimage::image(3, 100, 0x400);
        let pe = PeFile::parse(&b).unwrap();
        assert_eq!(pe.format(), Format::Pe32Plus);
        assert_eq!(pe.sections().len(), 3);
        assert_eq!(pe.sections()[1].name_str(), ".s1");
        assert_eq!(pe.section_contents(&pe.sections()[1]), &[2u8; 100][..]);
        assert_eq!(pe.section_data(&pe.sections()[1]).len(), 0x200);
        assert_eq!(pe.checksum_offset(), OPT + 64);
        assert_eq!(pe.certificate_table_entry_offset(), OPT + 112 + 32);
        assert_eq!(pe.certificate_table(), None);
        assert_eq!(pe.size_of_headers(), 0x400);
        assert_eq!(pe.section_table_offset(), TABLE);
        assert_eq!(pe.data_directory(15), Some((0, 0)));
        assert_eq!(pe.data_directory(16), None);
    }

    #[test]
    fn every_truncation_is_an_error() {
        let b = testimage::image(2, 10, 0x400);
        for len in 0..b.len() {
            assert!(PeFile::parse(&b[..len]).is_err(), "cut at {len}");
        }
    }

    #[test]
    fn bad_fields_name_their_offset() {
        let good = testimage::image(1, 10, 0x400);
        let mut b = good.clone();
        b[0] = b'X';
        assert_eq!(kind(&b), (Kind::DosSignature, 0));

        let mut b = good.clone();
        b[PE_OFFSET + 1] = 0;
        assert_eq!(kind(&b), (Kind::PeSignature(0x80), PE_OFFSET));

        let mut b = good.clone();
        put_u32(&mut b, raw::E_LFANEW, 0xffff_fff0);
        assert!(matches!(kind(&b), (Kind::Truncated { .. }, raw::E_LFANEW)));

        let mut b = good.clone();
        b[OPT] = 0x0c;
        assert_eq!(kind(&b), (Kind::OptionalHeaderMagic(0x20c), OPT));

        let mut b = good.clone();
        put_u32(&mut b, OPT + opt::PE32_PLUS_NUMBER_OF_RVA_AND_SIZES, 4);
        assert_eq!(
            kind(&b),
            (
                Kind::TooFewDataDirectories(4),
                OPT + opt::PE32_PLUS_NUMBER_OF_RVA_AND_SIZES
            )
        );

        let mut b = good.clone();
        put_u32(&mut b, OPT + opt::PE32_PLUS_NUMBER_OF_RVA_AND_SIZES, 17);
        assert!(matches!(kind(&b), (Kind::OptionalHeaderSize { .. }, _)));

        let mut b = good.clone();
        put_u32(&mut b, OPT + opt::FILE_ALIGNMENT, 0x300);
        assert_eq!(
            kind(&b),
            (
                Kind::Alignment {
                    what: "FileAlignment",
                    value: 0x300
                },
                OPT + opt::FILE_ALIGNMENT
            )
        );

        let mut b = good.clone();
        put_u32(&mut b, OPT + opt::SIZE_OF_HEADERS, 0x100);
        assert!(matches!(
            kind(&b),
            (Kind::SectionTableOutsideHeaders { .. }, at) if at == OPT + opt::SIZE_OF_HEADERS
        ));

        let mut b = good.clone();
        put_u32(&mut b, TABLE + section::SIZE_OF_RAW_DATA, 0x10_0000);
        assert!(matches!(
            kind(&b),
            (Kind::SectionData { index: 0, .. }, at) if at == TABLE + section::SIZE_OF_RAW_DATA
        ));

        let entry = OPT + 112 + 32;
        let mut b = good.clone();
        put_u32(&mut b, entry, 0x500);
        put_u32(&mut b, entry + 4, 0x1000);
        assert!(matches!(kind(&b), (Kind::CertificateTableBounds { .. }, at) if at == entry));

        let mut b = good;
        put_u32(&mut b, entry, 0x10);
        put_u32(&mut b, entry + 4, 8);
        assert!(matches!(kind(&b), (Kind::CertificateTableInHeaders { .. }, at) if at == entry));
    }

    #[test]
    fn sections_stay_out_of_headers_and_signatures() {
        let good = testimage::image(2, 10, 0x400);
        let mut b = good.clone();
        put_u32(&mut b, TABLE + section::POINTER_TO_RAW_DATA, 0x10);
        assert!(matches!(
            kind(&b),
            (Kind::SectionInHeaders { index: 0, .. }, at) if at == TABLE + section::POINTER_TO_RAW_DATA
        ));

        // A certificate table over the last section's data.
        let entry = OPT + 112 + 32;
        let mut b = good.clone();
        put_u32(&mut b, entry, 0x700);
        put_u32(&mut b, entry + 4, 0x100);
        assert!(matches!(
            kind(&b),
            (Kind::CertificateTableOverlapsSection { index: 1, .. }, at) if at == entry
        ));

        // No raw data: the pointer is not used, even far past the end.
        let mut b = good;
        put_u32(&mut b, TABLE + section::SIZE_OF_RAW_DATA, 0);
        put_u32(&mut b, TABLE + section::POINTER_TO_RAW_DATA, 0x7fff_0000);
        let pe = PeFile::parse(&b).unwrap();
        assert_eq!(pe.section_data(&pe.sections()[0]), b"");
    }

    #[test]
    fn overlapping_raw_data_names_both_sections() {
        let mut b = testimage::image(2, 10, 0x400);
        // .s1 starts in the middle of .s0 (0x400..0x600).
        put_u32(
            &mut b,
            TABLE + section::SIZE + section::POINTER_TO_RAW_DATA,
            0x500,
        );
        let pe = PeFile::parse(&b).unwrap();
        assert_eq!(
            pe.raw_data_gaps(),
            Err(Error::SectionsOverlap {
                first: ".s0".into(),
                first_range: 0x400..0x600,
                second: ".s1".into(),
                second_range: 0x500..0x700,
            })
        );
        assert_eq!(
            pe.raw_data_gaps().unwrap_err().to_string(),
            "sections \".s0\" (raw data 0x400..0x600) and \".s1\" (0x500..0x700) overlap in the file"
        );
        // The same bytes twice overlap too.
        put_u32(
            &mut b,
            TABLE + section::SIZE + section::POINTER_TO_RAW_DATA,
            0x400,
        );
        let pe = PeFile::parse(&b).unwrap();
        assert!(matches!(
            pe.raw_data_gaps(),
            Err(Error::SectionsOverlap { second_range, .. }) if second_range == (0x400..0x600)
        ));
    }

    #[test]
    fn gaps_between_headers_and_sections() {
        // Back to back: no gap.
        let b = testimage::image(3, 10, 0x400);
        assert_eq!(PeFile::parse(&b).unwrap().raw_data_gaps(), Ok(vec![]));

        // .s1 one block shorter: 0x700..0x800 is in no section.
        let mut c = b.clone();
        put_u32(
            &mut c,
            TABLE + section::SIZE + section::SIZE_OF_RAW_DATA,
            0x100,
        );
        let gap = Gap {
            range: 0x700..0x800,
            before: Some(".s1".into()),
            after: ".s2".into(),
        };
        assert_eq!(
            PeFile::parse(&c).unwrap().raw_data_gaps(),
            Ok(vec![gap.clone()])
        );
        assert_eq!(
            gap.to_string(),
            "bytes 0x700..0x800 (256 bytes) between section \".s1\" and section \".s2\" belong to no section"
        );

        // Headers end at 0x200, the first section starts at 0x400.
        let mut c = b.clone();
        put_u32(&mut c, OPT + opt::SIZE_OF_HEADERS, 0x200);
        assert_eq!(
            PeFile::parse(&c).unwrap().raw_data_gaps(),
            Ok(vec![Gap {
                range: 0x200..0x400,
                before: None,
                after: ".s0".into(),
            }])
        );

        // Bytes after the last section are trailing data, not a gap; a
        // section without raw data is not in the file at all.
        let mut c = b;
        c.extend_from_slice(&[9; 100]);
        put_u32(&mut c, TABLE + section::SIZE + section::SIZE_OF_RAW_DATA, 0);
        put_u32(
            &mut c,
            TABLE + 2 * section::SIZE + section::POINTER_TO_RAW_DATA,
            0x600,
        );
        assert_eq!(PeFile::parse(&c).unwrap().raw_data_gaps(), Ok(vec![]));
    }

    #[test]
    fn pe32_is_read() {
        // Turn the test image into PE32: magic, and NumberOfRvaAndSizes at 92.
        let mut b = testimage::image(1, 10, 0x400);
        crate::raw::put_u16(&mut b, OPT, opt::MAGIC_PE32);
        put_u32(&mut b, OPT + opt::PE32_NUMBER_OF_RVA_AND_SIZES, 16);
        let pe = PeFile::parse(&b).unwrap();
        assert_eq!(pe.format(), Format::Pe32);
        assert_eq!(pe.certificate_table_entry_offset(), OPT + 96 + 32);
    }

    #[test]
    fn section_names() {
        let mut s = Section {
            name: *b".linux\0\0",
            virtual_size: 0,
            virtual_address: 0,
            size_of_raw_data: 0,
            pointer_to_raw_data: 0,
            characteristics: 0,
        };
        assert_eq!(s.name_str(), ".linux");
        s.name = *b"12345678";
        assert_eq!(s.name_str(), "12345678");
        s.name = *b"\xff\0\0\0\0\0\0\0";
        assert_eq!(s.name_str(), "");
    }
}
