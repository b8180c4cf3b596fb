//! Small ELF64 little-endian files built field by field, for the unit tests
//! and the fuzz corpus seeds (`tests/fuzz_corpus.rs` includes this file).
//! The layout follows the System V gABI ("ELF Header", "Program Header",
//! "Sections", "Symbol Table", "Dynamic Section", "Note Section"), with
//! its own constants so that it does not share mistakes with the parser.
//! Not a linker: one `PT_LOAD` maps the whole file, nothing is executable.

/// Which hash table the dynamic section points to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    None,
    Sysv,
    Gnu,
}

/// What to put in the file.
#[derive(Debug, Clone)]
pub struct Spec {
    /// `e_type`: 1 relocatable, 2 executable, 3 shared object / PIE.
    pub e_type: u16,
    /// `e_machine`: 62 is x86-64.
    pub machine: u16,
    pub interp: bool,
    /// A `PT_DYNAMIC` with `DT_STRTAB`, `DT_SYMTAB`, `DT_STRSZ`,
    /// `DT_SYMENT`, the hash table, `DT_SONAME` and `extra_dynamic`.
    pub dynamic: bool,
    pub soname: bool,
    /// More dynamic entries (tag, value), before `DT_NULL`.
    pub extra_dynamic: Vec<(u64, u64)>,
    pub hash: Hash,
    /// A `PT_GNU_RELRO` over the dynamic section.
    pub relro: bool,
    /// A `PT_GNU_STACK` with these `p_flags`.
    pub stack: Option<u32>,
    /// An `NT_GNU_PROPERTY_TYPE_0` note with `GNU_PROPERTY_X86_FEATURE_1_AND`
    /// = these bits (in `PT_NOTE` and `PT_GNU_PROPERTY`, and `SHT_NOTE`).
    pub x86_features: Option<u32>,
    /// Names in `.dynsym` (after the null symbol).
    pub dynsym: Vec<&'static str>,
    /// Names in `.symtab` (after the null symbol); none means no `.symtab`.
    pub symtab: Vec<&'static str>,
    /// Write the section header table (and `.shstrtab`).
    pub section_headers: bool,
}

impl Default for Spec {
    fn default() -> Self {
        Spec {
            e_type: ET_DYN,
            machine: 62,
            interp: false,
            dynamic: false,
            soname: false,
            extra_dynamic: Vec::new(),
            hash: Hash::Sysv,
            relro: false,
            stack: Some(PF_R | PF_W),
            x86_features: None,
            dynsym: Vec::new(),
            symtab: Vec::new(),
            section_headers: true,
        }
    }
}

pub const ET_REL: u16 = 1;
pub const ET_EXEC: u16 = 2;
pub const ET_DYN: u16 = 3;
pub const PF_X: u32 = 1;
pub const PF_W: u32 = 2;
pub const PF_R: u32 = 4;
pub const DT_BIND_NOW: u64 = 24;
pub const DT_FLAGS: u64 = 30;
pub const DT_FLAGS_1: u64 = 0x6fff_fffb;
pub const DF_BIND_NOW: u64 = 0x8;
pub const DF_1_NOW: u64 = 0x1;
pub const DF_1_PIE: u64 = 0x0800_0000;
pub const IBT: u32 = 1;
pub const SHSTK: u32 = 2;
pub const SHT_PROGBITS: u32 = 1;
pub const SHT_SYMTAB: u32 = 2;
pub const SHT_STRTAB: u32 = 3;
pub const SHT_HASH: u32 = 5;
pub const SHT_DYNAMIC: u32 = 6;
pub const SHT_NOTE: u32 = 7;
pub const SHT_DYNSYM: u32 = 11;
pub const SHT_GNU_HASH: u32 = 0x6fff_fff6;

const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const PT_NOTE: u32 = 4;
const PT_GNU_STACK: u32 = 0x6474_e551;
const PT_GNU_RELRO: u32 = 0x6474_e552;
const PT_GNU_PROPERTY: u32 = 0x6474_e553;
const DT_NULL: u64 = 0;
const DT_HASH: u64 = 4;
const DT_STRTAB: u64 = 5;
const DT_SYMTAB: u64 = 6;
const DT_STRSZ: u64 = 10;
const DT_SYMENT: u64 = 11;
const DT_SONAME: u64 = 14;
const DT_GNU_HASH: u64 = 0x6fff_fef5;
const SHF_ALLOC: u64 = 2;
const INTERP: &[u8] = b"/lib64/ld-linux-x86-64.so.2\0";
const SONAME: &str = "libtest.so.1";

fn n64(n: usize) -> u64 {
    u64::try_from(n).unwrap()
}

fn n32(n: usize) -> u32 {
    u32::try_from(n).unwrap()
}

/// A string table: the bytes and the offset of each name added.
struct Strings(Vec<u8>);

impl Strings {
    fn new() -> Self {
        Strings(vec![0])
    }
    fn add(&mut self, s: &str) -> u32 {
        let at = n32(self.0.len());
        self.0.extend_from_slice(s.as_bytes());
        self.0.push(0);
        at
    }
}

fn symbols(names: &[&str], strings: &mut Strings) -> Vec<u8> {
    let mut out = vec![0u8; 24];
    for name in names {
        let mut sym = [0u8; 24];
        sym[0..4].copy_from_slice(&strings.add(name).to_le_bytes());
        sym[4] = 0x12; // STB_GLOBAL, STT_FUNC
        out.extend_from_slice(&sym);
    }
    out
}

/// The GNU hash function (`dl_new_hash`).
fn gnu_hash(name: &str) -> u32 {
    name.bytes().fold(5381u32, |h, c| {
        h.wrapping_mul(33).wrapping_add(u32::from(c))
    })
}

fn hash_table(kind: Hash, names: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut word = |w: u32| out.extend_from_slice(&w.to_le_bytes());
    let n = n32(names.len());
    match kind {
        Hash::None => {}
        Hash::Sysv => {
            // One bucket holding the last symbol, each chaining to the one
            // before it.
            word(1);
            word(n + 1);
            word(n);
            word(0);
            for i in 1..=n {
                word(i - 1);
            }
        }
        Hash::Gnu => {
            word(1); // nbuckets
            word(1); // symoffset
            word(1); // bloom_size
            word(6); // bloom_shift
            word(u32::MAX); // one 64-bit bloom word, all ones
            word(u32::MAX);
            word(if n == 0 { 0 } else { 1 });
            for (i, name) in names.iter().enumerate() {
                let last = i + 1 == names.len();
                word((gnu_hash(name) & !1) | u32::from(last));
            }
        }
    }
    out
}

fn note(features: u32) -> Vec<u8> {
    let mut out = Vec::new();
    for w in [4u32, 16, 5] {
        out.extend_from_slice(&w.to_le_bytes());
    }
    out.extend_from_slice(b"GNU\0");
    for w in [0xc000_0002u32, 4, features, 0] {
        out.extend_from_slice(&w.to_le_bytes());
    }
    out
}

/// One piece of the file, and the section header that describes it.
struct Part {
    name: &'static str,
    sh_type: u32,
    bytes: Vec<u8>,
    align: u64,
    entsize: u64,
    /// Index (in `parts`) of the linked section.
    link: Option<usize>,
    offset: usize,
}

impl Spec {
    /// The file's bytes.
    pub fn build(&self) -> Vec<u8> {
        let linked = self.e_type != ET_REL;
        let base: u64 = if self.e_type == ET_EXEC { 0x40_0000 } else { 0 };

        let mut parts: Vec<Part> = Vec::new();
        let mut part = |name, sh_type, bytes, align, entsize, link| {
            parts.push(Part {
                name,
                sh_type,
                bytes,
                align,
                entsize,
                link,
                offset: 0,
            });
            parts.len() - 1
        };
        let interp = (self.interp && linked)
            .then(|| part(".interp", SHT_PROGBITS, INTERP.to_vec(), 1, 0, None));
        let note = self
            .x86_features
            .map(|f| part(".note.gnu.property", SHT_NOTE, note(f), 8, 0, None));
        let mut dynstr = Strings::new();
        let dynsym_bytes = symbols(&self.dynsym, &mut dynstr);
        let soname = self.soname.then(|| dynstr.add(SONAME));
        let (mut dynstr_i, mut dynsym_i, mut hash_i, mut dynamic_i) = (None, None, None, None);
        if self.dynamic || !self.dynsym.is_empty() {
            let s = part(".dynstr", SHT_STRTAB, dynstr.0, 1, 0, None);
            let d = part(".dynsym", SHT_DYNSYM, dynsym_bytes, 8, 24, Some(s));
            dynstr_i = Some(s);
            dynsym_i = Some(d);
            hash_i = match self.hash {
                Hash::None => None,
                Hash::Sysv => Some(part(
                    ".hash",
                    SHT_HASH,
                    hash_table(Hash::Sysv, &self.dynsym),
                    8,
                    4,
                    Some(d),
                )),
                Hash::Gnu => Some(part(
                    ".gnu.hash",
                    SHT_GNU_HASH,
                    hash_table(Hash::Gnu, &self.dynsym),
                    8,
                    0,
                    Some(d),
                )),
            };
        }
        if self.dynamic {
            // Filled in once the addresses are known.
            let entries = 6 + self.extra_dynamic.len() + usize::from(self.soname);
            dynamic_i = Some(part(
                ".dynamic",
                SHT_DYNAMIC,
                vec![0; 16 * entries],
                8,
                16,
                dynstr_i,
            ));
        }
        if !self.symtab.is_empty() {
            let mut strtab = Strings::new();
            let bytes = symbols(&self.symtab, &mut strtab);
            let s = part(".strtab", SHT_STRTAB, strtab.0, 1, 0, None);
            part(".symtab", SHT_SYMTAB, bytes, 8, 24, Some(s));
        }
        let shstrtab_i = self
            .section_headers
            .then(|| part(".shstrtab", SHT_STRTAB, Vec::new(), 1, 0, None));

        // Program headers.
        let mut phdrs: Vec<(u32, u32, Option<usize>, u64)> = Vec::new();
        if linked {
            phdrs.push((PT_LOAD, PF_R | PF_X, None, 0x1000));
            if let Some(i) = interp {
                phdrs.push((PT_INTERP, PF_R, Some(i), 1));
            }
            if let Some(i) = dynamic_i {
                phdrs.push((PT_DYNAMIC, PF_R | PF_W, Some(i), 8));
                if self.relro {
                    phdrs.push((PT_GNU_RELRO, PF_R, Some(i), 1));
                }
            }
            if let Some(i) = note {
                phdrs.push((PT_NOTE, PF_R, Some(i), 8));
                phdrs.push((PT_GNU_PROPERTY, PF_R, Some(i), 8));
            }
            if let Some(flags) = self.stack {
                phdrs.push((PT_GNU_STACK, flags, None, 16));
            }
        }

        // Section names, then the layout.
        let mut shstrtab = Strings::new();
        let names: Vec<u32> = parts.iter().map(|p| shstrtab.add(p.name)).collect();
        if let Some(i) = shstrtab_i {
            parts[i].bytes = shstrtab.0;
        }
        let mut at = 64 + 56 * phdrs.len();
        for p in &mut parts {
            at = at.next_multiple_of(usize::try_from(p.align).unwrap());
            p.offset = at;
            at += p.bytes.len();
        }
        let shoff = at.next_multiple_of(8);
        let addr = |p: &Part| base + n64(p.offset);

        if let Some(d) = dynamic_i {
            let s = &parts[dynstr_i.unwrap()];
            let mut entries = vec![
                (DT_STRTAB, addr(s)),
                (DT_SYMTAB, addr(&parts[dynsym_i.unwrap()])),
                (DT_STRSZ, n64(s.bytes.len())),
                (DT_SYMENT, 24),
            ];
            if let Some(h) = hash_i {
                let tag = if self.hash == Hash::Gnu {
                    DT_GNU_HASH
                } else {
                    DT_HASH
                };
                entries.push((tag, addr(&parts[h])));
            }
            if let Some(name) = soname {
                entries.push((DT_SONAME, u64::from(name)));
            }
            entries.extend(&self.extra_dynamic);
            entries.push((DT_NULL, 0));
            let bytes = &mut parts[d].bytes;
            let len = bytes.len();
            bytes.clear();
            for (tag, value) in entries {
                bytes.extend_from_slice(&tag.to_le_bytes());
                bytes.extend_from_slice(&value.to_le_bytes());
            }
            bytes.resize(len, 0);
        }

        let sections = if self.section_headers {
            parts.len() + 1
        } else {
            0
        };
        let file_len = shoff + 64 * sections;
        let mut out = vec![0u8; file_len];
        let put = |out: &mut Vec<u8>, at: usize, bytes: &[u8]| {
            out[at..at + bytes.len()].copy_from_slice(bytes);
        };

        // ELF header.
        put(&mut out, 0, b"\x7fELF\x02\x01\x01");
        put(&mut out, 16, &self.e_type.to_le_bytes());
        put(&mut out, 18, &self.machine.to_le_bytes());
        put(&mut out, 20, &1u32.to_le_bytes());
        put(
            &mut out,
            32,
            &(if phdrs.is_empty() { 0 } else { 64u64 }).to_le_bytes(),
        );
        put(
            &mut out,
            40,
            &n64(if sections > 0 { shoff } else { 0 }).to_le_bytes(),
        );
        put(&mut out, 52, &64u16.to_le_bytes());
        put(
            &mut out,
            54,
            &(if phdrs.is_empty() { 0 } else { 56u16 }).to_le_bytes(),
        );
        put(
            &mut out,
            56,
            &u16::try_from(phdrs.len()).unwrap().to_le_bytes(),
        );
        put(
            &mut out,
            58,
            &(if sections > 0 { 64u16 } else { 0 }).to_le_bytes(),
        );
        put(
            &mut out,
            60,
            &u16::try_from(sections).unwrap().to_le_bytes(),
        );
        let shstrndx = shstrtab_i.map_or(0, |i| i + 1);
        put(
            &mut out,
            62,
            &u16::try_from(shstrndx).unwrap().to_le_bytes(),
        );

        for (i, (p_type, flags, part, align)) in phdrs.iter().enumerate() {
            let (offset, size) = match part {
                Some(p) => (n64(parts[*p].offset), n64(parts[*p].bytes.len())),
                None if *p_type == PT_LOAD => (0, n64(shoff)),
                None => (0, 0),
            };
            let vaddr = if *p_type == PT_GNU_STACK {
                0
            } else {
                base + offset
            };
            let at = 64 + 56 * i;
            put(&mut out, at, &p_type.to_le_bytes());
            put(&mut out, at + 4, &flags.to_le_bytes());
            for (field, v) in [offset, vaddr, vaddr, size, size, *align]
                .iter()
                .enumerate()
            {
                put(&mut out, at + 8 + 8 * field, &v.to_le_bytes());
            }
        }
        for p in &parts {
            put(&mut out, p.offset, &p.bytes);
        }
        if sections > 0 {
            for (i, p) in parts.iter().enumerate() {
                let at = shoff + 64 * (i + 1);
                let alloc = linked && !matches!(p.name, ".symtab" | ".strtab" | ".shstrtab");
                put(&mut out, at, &names[i].to_le_bytes());
                put(&mut out, at + 4, &p.sh_type.to_le_bytes());
                put(
                    &mut out,
                    at + 8,
                    &(if alloc { SHF_ALLOC } else { 0 }).to_le_bytes(),
                );
                put(
                    &mut out,
                    at + 16,
                    &(if alloc { addr(p) } else { 0 }).to_le_bytes(),
                );
                put(&mut out, at + 24, &n64(p.offset).to_le_bytes());
                put(&mut out, at + 32, &n64(p.bytes.len()).to_le_bytes());
                let link = p.link.map_or(0, |l| n32(l + 1));
                put(&mut out, at + 40, &link.to_le_bytes());
                // sh_info of a symbol table: one past the last local (the
                // null symbol).
                let info = u32::from(matches!(p.sh_type, SHT_SYMTAB | SHT_DYNSYM));
                put(&mut out, at + 44, &info.to_le_bytes());
                put(&mut out, at + 48, &p.align.to_le_bytes());
                put(&mut out, at + 56, &p.entsize.to_le_bytes());
            }
        }
        out
    }
}

/// Little-endian field edits and reads on built files, for the tests that
/// corrupt them.
pub fn put_u16(bytes: &mut [u8], at: usize, v: u16) {
    bytes[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

pub fn put_u32(bytes: &mut [u8], at: usize, v: u32) {
    bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

pub fn put_u64(bytes: &mut [u8], at: usize, v: u64) {
    bytes[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

pub fn get_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
}

pub fn get_u64(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap())
}

/// File offset of the header of the first section of type `sh_type`.
pub fn section_header(bytes: &[u8], sh_type: u32) -> usize {
    let shoff = usize::try_from(get_u64(bytes, 40)).unwrap();
    let count = usize::from(u16::from_le_bytes([bytes[60], bytes[61]]));
    (0..count)
        .map(|i| shoff + 64 * i)
        .find(|&at| get_u32(bytes, at + 4) == sh_type)
        .unwrap_or_else(|| panic!("no section of type {sh_type}"))
}

/// `(sh_offset, sh_size)` of the first section of type `sh_type`.
pub fn section_range(bytes: &[u8], sh_type: u32) -> (usize, usize) {
    let at = section_header(bytes, sh_type);
    let offset = usize::try_from(get_u64(bytes, at + 24)).unwrap();
    let size = usize::try_from(get_u64(bytes, at + 32)).unwrap();
    (offset, size)
}
