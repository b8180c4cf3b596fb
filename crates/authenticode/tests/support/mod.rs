//! Test material: a tiny synthetic PE32+ EFI application and the fixture
//! keys and certificates (tests/fixtures/README.md says how they were made).

#![allow(dead_code)]

use authenticode::{Certificate, RsaPrivateKey};
use der::DecodePem;
use rsa::pkcs8::DecodePrivateKey;

/// A 0x600-byte PE32+ EFI application: headers (0x200), `.text` at 0x200
/// and `.data` at 0x400 (0x200 bytes each, filled with a pattern).
pub fn tiny_pe() -> Vec<u8> {
    let mut b = vec![0u8; 0x600];
    let put16 =
        |b: &mut Vec<u8>, at: usize, v: u16| b[at..at + 2].copy_from_slice(&v.to_le_bytes());
    let put32 =
        |b: &mut Vec<u8>, at: usize, v: u32| b[at..at + 4].copy_from_slice(&v.to_le_bytes());
    b[0..2].copy_from_slice(b"MZ");
    put32(&mut b, 0x3c, 0x40);
    b[0x40..0x44].copy_from_slice(b"PE\0\0");
    let coff = 0x44;
    put16(&mut b, coff, 0x8664); // Machine: x86-64
    put16(&mut b, coff + 2, 2); // NumberOfSections
    put16(&mut b, coff + 16, 240); // SizeOfOptionalHeader
    put16(&mut b, coff + 18, 0x0022); // executable, large address aware
    let opt = coff + 20;
    put16(&mut b, opt, 0x20b); // PE32+
    put32(&mut b, opt + 4, 0x200); // SizeOfCode
    put32(&mut b, opt + 16, 0x1000); // AddressOfEntryPoint
    put32(&mut b, opt + 20, 0x1000); // BaseOfCode
    put32(&mut b, opt + 32, 0x1000); // SectionAlignment
    put32(&mut b, opt + 36, 0x200); // FileAlignment
    put32(&mut b, opt + 56, 0x3000); // SizeOfImage
    put32(&mut b, opt + 60, 0x200); // SizeOfHeaders
    put16(&mut b, opt + 68, 10); // Subsystem: EFI application
    put32(&mut b, opt + 108, 16); // NumberOfRvaAndSizes
    let sections = opt + 240;
    for (i, (name, va, raw, flags)) in [
        (b".text\0\0\0", 0x1000u32, 0x200u32, 0x6000_0020u32),
        (b".data\0\0\0", 0x2000, 0x400, 0xc000_0040),
    ]
    .into_iter()
    .enumerate()
    {
        let s = sections + 40 * i;
        b[s..s + 8].copy_from_slice(name);
        put32(&mut b, s + 8, 0x200); // VirtualSize
        put32(&mut b, s + 12, va);
        put32(&mut b, s + 16, 0x200); // SizeOfRawData
        put32(&mut b, s + 20, raw);
        put32(&mut b, s + 36, flags);
    }
    for (i, byte) in b[0x200..].iter_mut().enumerate() {
        *byte = u8::try_from(i * 7 % 251).unwrap();
    }
    b
}

pub fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn cert(name: &str) -> Certificate {
    Certificate::from_pem(fixture(&format!("{name}.crt"))).unwrap()
}

pub fn key(name: &str) -> RsaPrivateKey {
    let pem = String::from_utf8(fixture(&format!("{name}.key"))).unwrap();
    RsaPrivateKey::from_pkcs8_pem(&pem).unwrap()
}
