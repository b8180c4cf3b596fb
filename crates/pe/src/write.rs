//! Adding sections to an image and replacing the contents of existing ones
//! ("PE Format": "Section Table", "Optional Header Windows-Specific Fields"
//! for `SectionAlignment`, `FileAlignment`, `SizeOfImage`, `SizeOfHeaders`).
//!
//! Two passes: [`plan`] decides every header field and file offset and
//! checks them all; [`write`] then copies bytes into a buffer of the planned
//! size. Existing sections keep their raw data, addresses and headers (only
//! a replaced section's contents and `VirtualSize` change). Any attribute
//! certificate table is dropped: the signature would no longer match.

use crate::error::Error;
use crate::raw::{coff, data_dir, opt, put_u16, put_u32, section};
use crate::read::{PeFile, Section, to_usize};

/// Contents for a new or replaced section.
#[derive(Debug, Clone, Copy)]
pub struct NewSection<'d> {
    /// At most 8 bytes, no NUL (long names need a COFF string table, which
    /// images do not have).
    pub name: &'d str,
    pub data: &'d [u8],
    /// `IMAGE_SCN_*` flags (ignored when replacing: the old ones stay).
    pub characteristics: u32,
}

/// What to change in an image.
#[derive(Debug, Clone, Default)]
pub struct Edits<'d> {
    /// Existing sections (by name) whose contents are swapped in place; the
    /// new contents must fit the section's `SizeOfRawData`.
    pub replace: Vec<NewSection<'d>>,
    /// Sections appended after the existing ones, in this order.
    pub append: Vec<NewSection<'d>>,
    /// `DllCharacteristics` bits to clear (e.g. `NX_COMPAT`).
    pub clear_dll_characteristics: u16,
}

/// Every header value and offset of the output, decided before writing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Final section headers, existing then appended.
    pub sections: Vec<Section>,
    /// Length of the input kept (the image without its certificate table).
    pub kept_len: usize,
    pub file_len: usize,
    pub size_of_headers: u32,
    pub size_of_image: u32,
    pub size_of_initialized_data: u32,
    pub dll_characteristics: u16,
}

fn round_up(v: u64, align: u32) -> u64 {
    v.next_multiple_of(u64::from(align))
}

fn fit_u32(v: u64) -> Result<u32, Error> {
    u32::try_from(v).map_err(|_| Error::ImageTooLarge(v))
}

fn check_name(name: &str) -> Result<[u8; 8], Error> {
    if name.is_empty() || name.contains('\0') {
        return Err(Error::SectionNameInvalid(name.to_owned()));
    }
    if name.len() > 8 {
        return Err(Error::SectionNameTooLong(name.to_owned()));
    }
    let mut out = [0u8; 8];
    out[..name.len()].copy_from_slice(name.as_bytes());
    Ok(out)
}

/// First pass: checks the edits against the image and lays out the output.
pub fn plan(pe: &PeFile<'_>, edits: &Edits<'_>) -> Result<Plan, Error> {
    let bytes = pe.bytes();
    let kept_len = match pe.certificate_table() {
        None => bytes.len(),
        Some(r) if r.end == bytes.len() => r.start,
        Some(r) => {
            return Err(Error::CertificateTableNotAtEnd {
                start: r.start,
                end: r.end,
                file_len: bytes.len(),
            });
        }
    };
    let file_alignment = pe.file_alignment();
    let section_alignment = pe.section_alignment();
    let oh = pe.optional_header_offset();
    let mut size_of_initialized_data = u32_field(bytes, oh + opt::SIZE_OF_INITIALIZED_DATA);
    let dll_characteristics = u16_field(bytes, oh + opt::DLL_CHARACTERISTICS);

    let mut sections = pe.sections().to_vec();
    let original = sections.len();

    for edit in &edits.replace {
        check_name(edit.name)?;
        let index = sections[..original]
            .iter()
            .position(|s| s.name_str() == edit.name)
            .ok_or_else(|| Error::NoSuchSection(edit.name.to_owned()))?;
        let s = &sections[index];
        if edit.data.len() > to_usize(s.size_of_raw_data) {
            return Err(Error::SectionTooSmall {
                name: edit.name.to_owned(),
                new_len: edit.data.len(),
                room: to_usize(s.size_of_raw_data),
            });
        }
        let virtual_size = fit_u32(edit.data.len() as u64)?;
        // A larger VirtualSize must not run into the next section in memory.
        let end = u64::from(s.virtual_address) + u64::from(virtual_size);
        if let Some(next) = sections
            .iter()
            .filter(|o| o.virtual_address > s.virtual_address)
            .map(|o| o.virtual_address)
            .min()
            && end > u64::from(next)
        {
            return Err(Error::SectionTooSmall {
                name: edit.name.to_owned(),
                new_len: edit.data.len(),
                room: to_usize(next - s.virtual_address),
            });
        }
        sections[index].virtual_size = virtual_size;
    }

    // Section headers: the table grows into the zero bytes between its end
    // and the first section's data (and first section's address, as the
    // headers are mapped at address 0).
    let count = original + edits.append.len();
    if count > usize::from(u16::MAX) {
        return Err(Error::TooManySections(count));
    }
    let table_end = pe.section_table_offset() + count * section::SIZE;
    let first_data = sections
        .iter()
        .filter(|s| s.size_of_raw_data > 0)
        .map(|s| to_usize(s.pointer_to_raw_data))
        .min()
        .unwrap_or(kept_len);
    let first_address = sections
        .iter()
        .map(|s| to_usize(s.virtual_address))
        .min()
        .unwrap_or(usize::MAX);
    let room = first_data.min(first_address);
    let size_of_headers = pe.size_of_headers().max(to_usize(fit_u32(round_up(
        table_end as u64,
        file_alignment,
    ))?));
    if size_of_headers > room {
        return Err(Error::NoHeaderRoom {
            adding: edits.append.len(),
            needed: table_end,
            available: room,
            first_data,
        });
    }
    let old_table_end = pe.section_table_offset() + original * section::SIZE;
    if let Some(i) = bytes[old_table_end..table_end].iter().position(|&b| b != 0) {
        return Err(Error::HeaderAreaInUse {
            offset: old_table_end + i,
        });
    }

    let mut file_end = kept_len as u64;
    let mut virtual_end = sections
        .iter()
        .map(Section::virtual_end)
        .max()
        .unwrap_or(size_of_headers as u64);
    for new in &edits.append {
        let name = check_name(new.name)?;
        if new.data.is_empty() {
            return Err(Error::EmptySection(new.name.to_owned()));
        }
        let len = new.data.len() as u64;
        let pointer_to_raw_data = round_up(file_end, file_alignment);
        let size_of_raw_data = round_up(len, file_alignment);
        let virtual_address = round_up(virtual_end, section_alignment);
        let s = Section {
            name,
            virtual_size: fit_u32(len)?,
            virtual_address: fit_u32(virtual_address)?,
            size_of_raw_data: fit_u32(size_of_raw_data)?,
            pointer_to_raw_data: fit_u32(pointer_to_raw_data)?,
            characteristics: new.characteristics,
        };
        file_end = pointer_to_raw_data + size_of_raw_data;
        virtual_end = virtual_address + len;
        fit_u32(file_end)?;
        fit_u32(round_up(virtual_end, section_alignment))?;
        // ukify adds every new section's VirtualSize to SizeOfInitializedData
        // (code too) and leaves SizeOfCode alone; UEFI loaders read neither,
        // and matching ukify keeps the outputs byte-comparable.
        size_of_initialized_data =
            size_of_initialized_data
                .checked_add(s.virtual_size)
                .ok_or(Error::ImageTooLarge(
                    u64::from(size_of_initialized_data) + len,
                ))?;
        sections.push(s);
    }
    let file_len = usize::try_from(file_end).map_err(|_| Error::ImageTooLarge(file_end))?;
    let size_of_image = fit_u32(round_up(virtual_end, section_alignment))?;
    Ok(Plan {
        sections,
        kept_len,
        file_len,
        size_of_headers: fit_u32(size_of_headers as u64)?,
        size_of_image,
        size_of_initialized_data,
        dll_characteristics: dll_characteristics & !edits.clear_dll_characteristics,
    })
}

fn u32_field(b: &[u8], at: usize) -> u32 {
    crate::raw::u32_at(b, at)
}

fn u16_field(b: &[u8], at: usize) -> u16 {
    crate::raw::u16_at(b, at)
}

fn put_section_header(out: &mut [u8], at: usize, s: &Section) {
    out[at..at + section::SIZE].fill(0);
    out[at + section::NAME..at + section::NAME + 8].copy_from_slice(&s.name);
    put_u32(out, at + section::VIRTUAL_SIZE, s.virtual_size);
    put_u32(out, at + section::VIRTUAL_ADDRESS, s.virtual_address);
    put_u32(out, at + section::SIZE_OF_RAW_DATA, s.size_of_raw_data);
    put_u32(
        out,
        at + section::POINTER_TO_RAW_DATA,
        s.pointer_to_raw_data,
    );
    put_u32(out, at + section::CHARACTERISTICS, s.characteristics);
}

/// Second pass: builds the output laid out by `plan` (which must come from
/// the same `pe` and `edits`).
pub fn write(pe: &PeFile<'_>, edits: &Edits<'_>, plan: &Plan) -> Vec<u8> {
    let mut out = Vec::with_capacity(plan.file_len);
    out.extend_from_slice(&pe.bytes()[..plan.kept_len]);
    out.resize(plan.file_len, 0);

    let original = pe.sections().len();
    for edit in &edits.replace {
        let index = pe.sections()[..original]
            .iter()
            .position(|s| s.name_str() == edit.name)
            .expect("planned");
        let r = pe.sections()[index].raw_range();
        out[r.clone()].fill(0);
        out[r.start..r.start + edit.data.len()].copy_from_slice(edit.data);
        let header = pe.section_table_offset() + index * section::SIZE;
        put_u32(
            &mut out,
            header + section::VIRTUAL_SIZE,
            plan.sections[index].virtual_size,
        );
    }
    for (i, (s, new)) in plan.sections[original..]
        .iter()
        .zip(&edits.append)
        .enumerate()
    {
        let header = pe.section_table_offset() + (original + i) * section::SIZE;
        put_section_header(&mut out, header, s);
        let start = to_usize(s.pointer_to_raw_data);
        out[start..start + new.data.len()].copy_from_slice(new.data);
    }

    let coff_at = pe.pe_offset() + 4;
    let count = u16::try_from(plan.sections.len()).expect("planned");
    put_u16(&mut out, coff_at + coff::NUMBER_OF_SECTIONS, count);
    let oh = pe.optional_header_offset();
    put_u32(
        &mut out,
        oh + opt::SIZE_OF_INITIALIZED_DATA,
        plan.size_of_initialized_data,
    );
    put_u32(&mut out, oh + opt::SIZE_OF_IMAGE, plan.size_of_image);
    put_u32(&mut out, oh + opt::SIZE_OF_HEADERS, plan.size_of_headers);
    put_u16(
        &mut out,
        oh + opt::DLL_CHARACTERISTICS,
        plan.dll_characteristics,
    );
    let entry = pe.certificate_table_entry_offset();
    put_u32(&mut out, entry + data_dir::VIRTUAL_ADDRESS, 0);
    put_u32(&mut out, entry + data_dir::SIZE_FIELD, 0);
    let checksum = pe.checksum_offset();
    let sum = crate::pe_checksum(&out, checksum);
    put_u32(&mut out, checksum, sum);
    out
}

/// Plans and writes `edits` on `bytes`.
pub fn edit_sections(bytes: &[u8], edits: &Edits<'_>) -> Result<Vec<u8>, Error> {
    let pe = PeFile::parse(bytes)?;
    let plan = plan(&pe, edits)?;
    Ok(write(&pe, edits, &plan))
}

/// Appends `sections` to the image (see [`Edits::append`]).
pub fn add_sections(bytes: &[u8], sections: &[NewSection<'_>]) -> Result<Vec<u8>, Error> {
    edit_sections(
        bytes,
        &Edits {
            append: sections.to_vec(),
            ..Edits::default()
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raw::scn;
    use crate::testimage::{self, FILE_ALIGNMENT, SECTION_ALIGNMENT, TABLE};

    fn data(len: usize, byte: u8) -> Vec<u8> {
        vec![byte; len]
    }

    fn checked(out: &[u8]) -> PeFile<'_> {
        let pe = PeFile::parse(out).unwrap();
        let stored = crate::raw::u32_at(out, pe.checksum_offset());
        assert_eq!(stored, crate::pe_checksum(out, pe.checksum_offset()));
        let mut sections: Vec<_> = pe.sections().to_vec();
        sections.sort_by_key(|s| s.virtual_address);
        for w in sections.windows(2) {
            assert!(
                w[0].virtual_end() <= u64::from(w[1].virtual_address),
                "{w:?}"
            );
            assert!(w[0].raw_range().end <= w[1].raw_range().start, "{w:?}");
        }
        for s in &sections {
            assert_eq!(s.virtual_address % SECTION_ALIGNMENT, 0);
            assert_eq!(s.pointer_to_raw_data % FILE_ALIGNMENT, 0);
            assert_eq!(s.size_of_raw_data % FILE_ALIGNMENT, 0);
            assert!(s.raw_range().start >= pe.size_of_headers());
        }
        let last = sections.last().unwrap();
        assert_eq!(
            u64::from(pe.size_of_image()),
            last.virtual_end()
                .next_multiple_of(u64::from(SECTION_ALIGNMENT))
        );
        pe
    }

    #[test]
    fn appends_aligned_sections() {
        let b = testimage::image(2, 0x1234, 0x400);
        let one = data(1, 0xaa);
        let big = data(0x3001, 0xbb);
        let out = add_sections(
            &b,
            &[
                NewSection {
                    name: ".one",
                    data: &one,
                    characteristics: scn::MEM_READ,
                },
                NewSection {
                    name: ".big8char",
                    data: &big,
                    characteristics: scn::CNT_CODE,
                },
            ],
        );
        assert_eq!(out, Err(Error::SectionNameTooLong(".big8char".into())));
        let out = add_sections(
            &b,
            &[
                NewSection {
                    name: ".one",
                    data: &one,
                    characteristics: scn::MEM_READ,
                },
                NewSection {
                    name: ".big",
                    data: &big,
                    characteristics: scn::CNT_CODE,
                },
            ],
        )
        .unwrap();
        let pe = checked(&out);
        assert_eq!(pe.sections().len(), 4);
        // The original bytes are unchanged apart from the header fields.
        let pe_in = PeFile::parse(&b).unwrap();
        for (old, new) in pe_in.sections().iter().zip(pe.sections()) {
            assert_eq!(old, new);
            assert_eq!(pe_in.section_data(old), pe.section_data(new));
        }
        let s = &pe.sections()[2];
        assert_eq!(s.name_str(), ".one");
        assert_eq!(pe.section_contents(s), &one[..]);
        assert_eq!(s.virtual_address, 0x5000);
        assert_eq!(s.virtual_size, 1);
        let s = &pe.sections()[3];
        assert_eq!(pe.section_contents(s), &big[..]);
        assert_eq!(s.characteristics, scn::CNT_CODE);
        assert_eq!(s.virtual_address, 0x6000);
        assert_eq!(s.size_of_raw_data, 0x3200);
        assert_eq!(pe.size_of_image(), 0xa000);
        let oh = pe.optional_header_offset();
        assert_eq!(
            crate::raw::u32_at(&out, oh + opt::SIZE_OF_INITIALIZED_DATA),
            0x3002
        );
    }

    #[test]
    fn refuses_when_header_is_full() {
        // Room for (0x400 - TABLE) / 40 headers in all.
        let fits = (0x400 - TABLE) / section::SIZE;
        let b = testimage::image(2, 10, 0x400);
        let one = data(1, 1);
        let names: Vec<String> = (0..fits).map(|i| format!(".n{i}")).collect();
        let mk = |k: usize| -> Vec<NewSection<'_>> {
            names[..k]
                .iter()
                .map(|n| NewSection {
                    name: n,
                    data: &one,
                    characteristics: 0,
                })
                .collect()
        };
        let out = add_sections(&b, &mk(fits - 2)).unwrap();
        checked(&out);
        match add_sections(&b, &mk(fits - 1)) {
            Err(Error::NoHeaderRoom {
                adding, available, ..
            }) => {
                assert_eq!(adding, fits - 1);
                assert_eq!(available, 0x400);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn grows_headers_up_to_first_section() {
        // SizeOfHeaders 0x200 but the first section starts at 0x400? Build
        // with 0x400 and lower SizeOfHeaders to 0x200 first.
        let mut b = testimage::image(1, 10, 0x400);
        crate::raw::put_u32(&mut b, testimage::OPT + opt::SIZE_OF_HEADERS, 0x200);
        let n = (0x200 - TABLE) / section::SIZE; // beyond 0x200
        let one = data(1, 1);
        let names: Vec<String> = (0..n).map(|i| format!(".n{i}")).collect();
        let new: Vec<_> = names
            .iter()
            .map(|n| NewSection {
                name: n,
                data: &one,
                characteristics: 0,
            })
            .collect();
        let out = add_sections(&b, &new).unwrap();
        let pe = checked(&out);
        assert_eq!(pe.size_of_headers(), 0x400);
    }

    #[test]
    fn refuses_to_overwrite_header_bytes() {
        let mut b = testimage::image(1, 10, 0x400);
        b[TABLE + section::SIZE + 3] = 1;
        let one = data(1, 1);
        assert_eq!(
            add_sections(
                &b,
                &[NewSection {
                    name: ".x",
                    data: &one,
                    characteristics: 0
                }]
            ),
            Err(Error::HeaderAreaInUse {
                offset: TABLE + section::SIZE + 3
            })
        );
    }

    #[test]
    fn replaces_contents_in_place() {
        let b = testimage::image(3, 10, 0x400);
        let new = data(0x200, 9);
        let edits = Edits {
            replace: vec![NewSection {
                name: ".s1",
                data: &new,
                characteristics: 0,
            }],
            ..Edits::default()
        };
        let out = edit_sections(&b, &edits).unwrap();
        let pe = checked(&out);
        assert_eq!(out.len(), b.len());
        assert_eq!(pe.sections()[1].virtual_size, 0x200);
        assert_eq!(pe.section_contents(&pe.sections()[1]), &new[..]);
        assert_eq!(
            pe.section_data(&pe.sections()[2]),
            PeFile::parse(&b).unwrap().section_data(&pe.sections()[2])
        );

        let too_big = data(0x201, 9);
        let edits = Edits {
            replace: vec![NewSection {
                name: ".s1",
                data: &too_big,
                characteristics: 0,
            }],
            ..Edits::default()
        };
        assert!(matches!(
            edit_sections(&b, &edits),
            Err(Error::SectionTooSmall { room: 0x200, .. })
        ));
        let edits = Edits {
            replace: vec![NewSection {
                name: ".nope",
                data: &new,
                characteristics: 0,
            }],
            ..Edits::default()
        };
        assert_eq!(
            edit_sections(&b, &edits),
            Err(Error::NoSuchSection(".nope".into()))
        );
    }

    #[test]
    fn drops_signatures() {
        let b = testimage::image(1, 10, 0x400);
        let signed = crate::with_certificate_table(&b, &[5u8; 40]).unwrap();
        let one = data(3, 1);
        let out = add_sections(
            &signed,
            &[NewSection {
                name: ".x",
                data: &one,
                characteristics: 0,
            }],
        )
        .unwrap();
        let pe = checked(&out);
        assert_eq!(pe.certificate_table(), None);
        assert!(!out.windows(40).any(|w| w == [5u8; 40]));
    }

    #[test]
    fn refuses_empty_and_bad_names() {
        let b = testimage::image(1, 10, 0x400);
        let empty: [u8; 0] = [];
        assert_eq!(
            add_sections(
                &b,
                &[NewSection {
                    name: ".e",
                    data: &empty,
                    characteristics: 0
                }]
            ),
            Err(Error::EmptySection(".e".into()))
        );
        assert_eq!(
            add_sections(
                &b,
                &[NewSection {
                    name: "",
                    data: b"x",
                    characteristics: 0
                }]
            ),
            Err(Error::SectionNameInvalid(String::new()))
        );
    }

    proptest::proptest! {
        #[test]
        fn layouts_are_aligned_and_disjoint(
            existing in 1usize..4,
            existing_len in 1usize..5000,
            lens in proptest::collection::vec(1usize..20_000, 1..6),
        ) {
            let b = testimage::image(existing, existing_len, 0x400);
            let bufs: Vec<Vec<u8>> = lens.iter().enumerate().map(|(i, &l)| data(l, u8::try_from(i).unwrap() + 0x10)).collect();
            let names: Vec<String> = (0..lens.len()).map(|i| format!(".p{i}")).collect();
            let new: Vec<_> = names.iter().zip(&bufs).map(|(n, d)| NewSection { name: n, data: d, characteristics: scn::MEM_READ }).collect();
            let out = add_sections(&b, &new).unwrap();
            let pe = checked(&out);
            for (s, d) in pe.sections()[existing..].iter().zip(&bufs) {
                proptest::prop_assert_eq!(pe.section_contents(s), &d[..]);
            }
        }
    }
}
