//! A minimal PE32+ EFI application for unit tests, built field by field
//! from `raw` so that tests can break one field at a time.

use crate::raw::{self, coff, data_dir, opt, put_u16, put_u32, section};

pub const PE_OFFSET: usize = 0x80;
pub const OPT: usize = PE_OFFSET + 4 + coff::SIZE;
pub const OPT_SIZE: usize = opt::PE32_PLUS_DATA_DIRECTORY + 16 * data_dir::SIZE;
pub const TABLE: usize = OPT + OPT_SIZE;
pub const FILE_ALIGNMENT: u32 = 0x200;
pub const SECTION_ALIGNMENT: u32 = 0x1000;

pub fn n32(v: usize) -> u32 {
    u32::try_from(v).unwrap()
}

/// An image with `sections` sections of `len` bytes each (byte value = index + 1),
/// headers of `size_of_headers` bytes.
pub fn image(sections: usize, len: usize, size_of_headers: u32) -> Vec<u8> {
    let raw_size = len.next_multiple_of(FILE_ALIGNMENT as usize);
    let headers = size_of_headers as usize;
    let mut b = vec![0u8; headers + sections * raw_size];
    b[0..2].copy_from_slice(raw::DOS_MAGIC);
    put_u32(&mut b, raw::E_LFANEW, n32(PE_OFFSET));
    b[PE_OFFSET..PE_OFFSET + 4].copy_from_slice(raw::PE_SIGNATURE);
    let c = PE_OFFSET + 4;
    put_u16(&mut b, c + coff::MACHINE, raw::machine::AMD64);
    put_u16(
        &mut b,
        c + coff::NUMBER_OF_SECTIONS,
        u16::try_from(sections).unwrap(),
    );
    put_u16(
        &mut b,
        c + coff::SIZE_OF_OPTIONAL_HEADER,
        u16::try_from(OPT_SIZE).unwrap(),
    );
    put_u16(
        &mut b,
        c + coff::CHARACTERISTICS,
        raw::file_characteristics::EXECUTABLE_IMAGE,
    );
    put_u16(&mut b, OPT + opt::MAGIC, opt::MAGIC_PE32_PLUS);
    put_u32(&mut b, OPT + opt::SECTION_ALIGNMENT, SECTION_ALIGNMENT);
    put_u32(&mut b, OPT + opt::FILE_ALIGNMENT, FILE_ALIGNMENT);
    let span = n32(len.next_multiple_of(SECTION_ALIGNMENT as usize));
    put_u32(
        &mut b,
        OPT + opt::SIZE_OF_IMAGE,
        SECTION_ALIGNMENT + span * n32(sections),
    );
    put_u32(&mut b, OPT + opt::SIZE_OF_HEADERS, size_of_headers);
    put_u16(
        &mut b,
        OPT + opt::SUBSYSTEM,
        raw::subsystem::EFI_APPLICATION,
    );
    put_u32(&mut b, OPT + opt::PE32_PLUS_NUMBER_OF_RVA_AND_SIZES, 16);
    for i in 0..sections {
        let h = TABLE + i * section::SIZE;
        let name = format!(".s{i}");
        b[h..h + name.len()].copy_from_slice(name.as_bytes());
        put_u32(&mut b, h + section::VIRTUAL_SIZE, n32(len));
        put_u32(
            &mut b,
            h + section::VIRTUAL_ADDRESS,
            SECTION_ALIGNMENT + span * n32(i),
        );
        put_u32(&mut b, h + section::SIZE_OF_RAW_DATA, n32(raw_size));
        let start = headers + i * raw_size;
        put_u32(&mut b, h + section::POINTER_TO_RAW_DATA, n32(start));
        put_u32(
            &mut b,
            h + section::CHARACTERISTICS,
            raw::scn::MEM_READ | raw::scn::CNT_INITIALIZED_DATA,
        );
        b[start..start + len].fill(u8::try_from(i + 1).unwrap());
    }
    b
}
