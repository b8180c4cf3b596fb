//! Raw on-disk layout of a PE/COFF image: field offsets and constants, named
//! as in the Microsoft "PE Format" specification (learn.microsoft.com,
//! `windows/win32/debug/pe-format`). No logic lives here; `read.rs` checks
//! every value before it is used.
//!
//! All integers are little-endian.

/// "MS-DOS Stub (Image Only)": the image starts with an MS-DOS header whose
/// first two bytes are "MZ" (`e_magic`).
pub const DOS_MAGIC: &[u8; 2] = b"MZ";
/// Offset of `e_lfanew`, the 4-byte file offset of the PE signature
/// ("Signature (Image Only)": "At location 0x3c").
pub const E_LFANEW: usize = 0x3c;
/// "PE\0\0", 4 bytes at `e_lfanew`.
pub const PE_SIGNATURE: &[u8; 4] = b"PE\0\0";

/// "COFF File Header (Object and Image)", 20 bytes after the signature.
pub mod coff {
    pub const SIZE: usize = 20;
    pub const MACHINE: usize = 0;
    pub const NUMBER_OF_SECTIONS: usize = 2;
    pub const TIME_DATE_STAMP: usize = 4;
    pub const POINTER_TO_SYMBOL_TABLE: usize = 8;
    pub const NUMBER_OF_SYMBOLS: usize = 12;
    pub const SIZE_OF_OPTIONAL_HEADER: usize = 16;
    pub const CHARACTERISTICS: usize = 18;
}

/// "Machine Types".
pub mod machine {
    pub const I386: u16 = 0x14c;
    pub const AMD64: u16 = 0x8664;
    pub const ARM64: u16 = 0xaa64;
    pub const ARMNT: u16 = 0x1c4;
    pub const RISCV64: u16 = 0x5064;
    pub const LOONGARCH64: u16 = 0x6264;
}

/// "Characteristics" of the COFF file header.
pub mod file_characteristics {
    pub const EXECUTABLE_IMAGE: u16 = 0x0002;
}

/// "Optional Header (Image Only)": offsets from the start of the optional
/// header. "Optional Header Standard Fields" and "Optional Header
/// Windows-Specific Fields"; PE32 and PE32+ differ from `BaseOfData` on.
pub mod opt {
    pub const MAGIC: usize = 0;
    pub const MAGIC_PE32: u16 = 0x10b;
    pub const MAGIC_PE32_PLUS: u16 = 0x20b;
    pub const SIZE_OF_CODE: usize = 4;
    pub const SIZE_OF_INITIALIZED_DATA: usize = 8;
    pub const SIZE_OF_UNINITIALIZED_DATA: usize = 12;
    pub const ADDRESS_OF_ENTRY_POINT: usize = 16;
    pub const BASE_OF_CODE: usize = 20;
    /// PE32 only: `BaseOfData` at 24, then a 4-byte `ImageBase` at 28.
    pub const PE32_IMAGE_BASE: usize = 28;
    /// PE32+: `ImageBase` is 8 bytes at 24 (no `BaseOfData`).
    pub const PE32_PLUS_IMAGE_BASE: usize = 24;
    // From SectionAlignment to DllCharacteristics both formats agree.
    pub const SECTION_ALIGNMENT: usize = 32;
    pub const FILE_ALIGNMENT: usize = 36;
    pub const SIZE_OF_IMAGE: usize = 56;
    pub const SIZE_OF_HEADERS: usize = 60;
    pub const CHECK_SUM: usize = 64;
    pub const SUBSYSTEM: usize = 68;
    pub const DLL_CHARACTERISTICS: usize = 70;
    /// `NumberOfRvaAndSizes`: after four stack/heap fields (4 bytes each in
    /// PE32, 8 in PE32+) and `LoaderFlags`.
    pub const PE32_NUMBER_OF_RVA_AND_SIZES: usize = 92;
    pub const PE32_PLUS_NUMBER_OF_RVA_AND_SIZES: usize = 108;
    /// The data directories follow `NumberOfRvaAndSizes`.
    pub const PE32_DATA_DIRECTORY: usize = 96;
    pub const PE32_PLUS_DATA_DIRECTORY: usize = 112;
}

/// "Optional Header Data Directories (Image Only)": 8 bytes each,
/// `VirtualAddress` then `Size`.
pub mod data_dir {
    pub const SIZE: usize = 8;
    pub const VIRTUAL_ADDRESS: usize = 0;
    pub const SIZE_FIELD: usize = 4;
    /// Index of the Certificate Table. Unlike the others its
    /// `VirtualAddress` is a file offset ("The Attribute Certificate Table
    /// (Image Only)").
    pub const CERTIFICATE_TABLE: usize = 4;
    pub const BASE_RELOCATION_TABLE: usize = 5;
}

/// "Windows Subsystem".
pub mod subsystem {
    pub const EFI_APPLICATION: u16 = 10;
    pub const EFI_BOOT_SERVICE_DRIVER: u16 = 11;
    pub const EFI_RUNTIME_DRIVER: u16 = 12;
    pub const EFI_ROM: u16 = 13;
}

/// "Section Table (Section Headers)": 40 bytes each, right after the
/// optional header.
pub mod section {
    pub const SIZE: usize = 40;
    pub const NAME: usize = 0;
    pub const VIRTUAL_SIZE: usize = 8;
    pub const VIRTUAL_ADDRESS: usize = 12;
    pub const SIZE_OF_RAW_DATA: usize = 16;
    pub const POINTER_TO_RAW_DATA: usize = 20;
    pub const POINTER_TO_RELOCATIONS: usize = 24;
    pub const POINTER_TO_LINENUMBERS: usize = 28;
    pub const NUMBER_OF_RELOCATIONS: usize = 32;
    pub const NUMBER_OF_LINENUMBERS: usize = 34;
    pub const CHARACTERISTICS: usize = 36;
}

/// "Section Flags".
pub mod scn {
    pub const CNT_CODE: u32 = 0x0000_0020;
    pub const CNT_INITIALIZED_DATA: u32 = 0x0000_0040;
    pub const CNT_UNINITIALIZED_DATA: u32 = 0x0000_0080;
    pub const MEM_DISCARDABLE: u32 = 0x0200_0000;
    pub const MEM_EXECUTE: u32 = 0x2000_0000;
    pub const MEM_READ: u32 = 0x4000_0000;
    pub const MEM_WRITE: u32 = 0x8000_0000;
}

/// "The Attribute Certificate Table (Image Only)": entries are 8-byte
/// aligned and the table lives after the last section.
pub const CERTIFICATE_ALIGNMENT: usize = 8;

/// Reads a little-endian u16 at `at`; the caller has checked the bounds.
pub fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

/// Reads a little-endian u32 at `at`; the caller has checked the bounds.
pub fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Reads a little-endian u64 at `at`; the caller has checked the bounds.
pub fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(v)
}

pub fn put_u16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

pub fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
