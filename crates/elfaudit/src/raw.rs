//! ELF64 field offsets and constants, with the names of the specifications.
//!
//! * System V ABI, generic part (gABI), chapter 4 "Object Files": "ELF
//!   Header" (`e_*`, `EI_*`, `ET_*`), "Sections" (`sh_*`, `SHT_*`), "Symbol
//!   Table" (`st_*`); chapter 5 "Program Loading and Dynamic Linking":
//!   "Program Header" (`p_*`, `PT_*`, `PF_*`, `PN_XNUM`), "Note Section",
//!   "Dynamic Section" (`DT_*`, `DF_*`).
//! * The GNU extensions as glibc's `<elf.h>` numbers them: `PT_GNU_STACK`
//!   (0x6474e551), `PT_GNU_RELRO` (0x6474e552), `PT_GNU_PROPERTY`
//!   (0x6474e553), `DT_GNU_HASH` (0x6ffffef5), `DT_FLAGS_1` (0x6ffffffb),
//!   `DF_1_NOW` (0x1), `DF_1_PIE` (0x08000000), `NT_GNU_PROPERTY_TYPE_0` (5).
//! * The x86-64 psABI, "Program Property": `GNU_PROPERTY_X86_FEATURE_1_AND`
//!   (0xc0000002), whose bit 0 is IBT and bit 1 SHSTK (Intel CET).

/// `e_ident` magic: `\x7fELF`.
pub const ELFMAG: &[u8; 4] = b"\x7fELF";
/// Size of `e_ident`.
pub const EI_NIDENT: usize = 16;
/// `e_ident[EI_CLASS]`: 1 = ELFCLASS32, 2 = ELFCLASS64.
pub const EI_CLASS: usize = 4;
/// `e_ident[EI_DATA]`: 1 = ELFDATA2LSB, 2 = ELFDATA2MSB.
pub const EI_DATA: usize = 5;
pub const ELFCLASS32: u8 = 1;
pub const ELFCLASS64: u8 = 2;
pub const ELFDATA2LSB: u8 = 1;
pub const ELFDATA2MSB: u8 = 2;

/// ELF64 header (`Elf64_Ehdr`) size and field offsets.
pub const EHDR_SIZE: usize = 64;
pub const E_TYPE: usize = 16;
pub const E_MACHINE: usize = 18;
pub const E_PHOFF: usize = 32;
pub const E_SHOFF: usize = 40;
pub const E_PHENTSIZE: usize = 54;
pub const E_PHNUM: usize = 56;
pub const E_SHENTSIZE: usize = 58;
pub const E_SHNUM: usize = 60;

pub const ET_REL: u16 = 1;
pub const ET_EXEC: u16 = 2;
pub const ET_DYN: u16 = 3;
pub const EM_X86_64: u16 = 62;

/// ELF64 program header (`Elf64_Phdr`) size and field offsets.
pub const PHDR_SIZE: usize = 56;
pub const P_TYPE: usize = 0;
pub const P_FLAGS: usize = 4;
pub const P_OFFSET: usize = 8;
pub const P_VADDR: usize = 16;
pub const P_FILESZ: usize = 32;
pub const P_ALIGN: usize = 48;

pub const PT_LOAD: u32 = 1;
pub const PT_DYNAMIC: u32 = 2;
pub const PT_INTERP: u32 = 3;
pub const PT_NOTE: u32 = 4;
pub const PT_GNU_STACK: u32 = 0x6474_e551;
pub const PT_GNU_RELRO: u32 = 0x6474_e552;
pub const PT_GNU_PROPERTY: u32 = 0x6474_e553;
/// Segment permission: execute.
pub const PF_X: u32 = 1;
/// `e_phnum` value meaning "the count is in section 0's `sh_info`".
pub const PN_XNUM: u16 = 0xffff;

/// ELF64 section header (`Elf64_Shdr`) size and field offsets.
pub const SHDR_SIZE: usize = 64;
pub const SH_TYPE: usize = 4;
pub const SH_OFFSET: usize = 24;
pub const SH_SIZE: usize = 32;
pub const SH_LINK: usize = 40;
pub const SH_INFO: usize = 44;
pub const SH_ADDRALIGN: usize = 48;
pub const SH_ENTSIZE: usize = 56;

pub const SHT_SYMTAB: u32 = 2;
pub const SHT_STRTAB: u32 = 3;
pub const SHT_NOTE: u32 = 7;
pub const SHT_DYNSYM: u32 = 11;

/// ELF64 symbol (`Elf64_Sym`) size; `st_name` is its first field.
pub const SYM_SIZE: usize = 24;

/// ELF64 dynamic entry (`Elf64_Dyn`): `d_tag` (8 bytes), `d_val` (8 bytes).
pub const DYN_SIZE: usize = 16;
pub const DT_NULL: u64 = 0;
pub const DT_HASH: u64 = 4;
pub const DT_STRTAB: u64 = 5;
pub const DT_SYMTAB: u64 = 6;
pub const DT_STRSZ: u64 = 10;
pub const DT_SYMENT: u64 = 11;
pub const DT_SONAME: u64 = 14;
pub const DT_BIND_NOW: u64 = 24;
pub const DT_FLAGS: u64 = 30;
pub const DT_GNU_HASH: u64 = 0x6fff_fef5;
pub const DT_FLAGS_1: u64 = 0x6fff_fffb;
pub const DF_BIND_NOW: u64 = 0x8;
pub const DF_1_NOW: u64 = 0x1;
pub const DF_1_PIE: u64 = 0x0800_0000;

/// Note header: `n_namesz`, `n_descsz`, `n_type` (4 bytes each).
pub const NOTE_HEADER: usize = 12;
pub const NT_GNU_PROPERTY_TYPE_0: u32 = 5;
/// The owner of GNU notes, with its terminating NUL.
pub const GNU_OWNER: &[u8; 4] = b"GNU\0";
pub const GNU_PROPERTY_X86_FEATURE_1_AND: u32 = 0xc000_0002;
pub const GNU_PROPERTY_X86_FEATURE_1_IBT: u32 = 1 << 0;
pub const GNU_PROPERTY_X86_FEATURE_1_SHSTK: u32 = 1 << 1;

/// Little-endian field reads from a slice whose length was checked when it
/// was cut out of the file (a whole header or entry); a read past its end
/// (which the checks rule out) gives 0 rather than a panic.
pub fn u16_at(b: &[u8], at: usize) -> u16 {
    b.get(at..at.saturating_add(2))
        .and_then(|s| s.try_into().ok())
        .map_or(0, u16::from_le_bytes)
}

/// See [`u16_at`].
pub fn u32_at(b: &[u8], at: usize) -> u32 {
    b.get(at..at.saturating_add(4))
        .and_then(|s| s.try_into().ok())
        .map_or(0, u32::from_le_bytes)
}

/// See [`u16_at`].
pub fn u64_at(b: &[u8], at: usize) -> u64 {
    b.get(at..at.saturating_add(8))
        .and_then(|s| s.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}
