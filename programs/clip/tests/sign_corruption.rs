//! One flipped byte in a signed EFI binary makes both `sbverify` and
//! `clip verify-signature` reject it: samples across the headers, every
//! section, trailing data after the sections, and the certificate table.
//!
//! Not covered by the signature, by design of Authenticode: the CheckSum
//! field (tested separately: both accept, we report it as invalid). Fields
//! that sbverify ignores but we check (dwLength, wRevision, padding,
//! versions, content type, algorithm identifiers) and a corrupt certificate table
//! size (sbverify 0.9.4 prints "Unable to parse signature data" yet exits
//! 0) are tested against `clip` alone.

mod sign_common;

use std::path::Path;

use sign_common::{Keys, clip, efi, keys, layout, run, s, sbverify, tool};

fn k() -> &'static Keys {
    keys("corruption")
}

/// `input` (plus `trailing` bytes) signed by `db`, in `dir`.
fn signed(dir: &Path, name: &str, trailing: &[u8]) -> Vec<u8> {
    let mut bytes = std::fs::read(efi(name)).unwrap();
    bytes.extend_from_slice(trailing);
    let input = dir.join(format!("{name}.in"));
    let output = dir.join(format!("{name}.signed"));
    std::fs::write(&input, &bytes).unwrap();
    let (key, cert) = (k().key("db"), k().cert("db"));
    clip(&[
        "sign",
        "--key",
        &key,
        "--cert",
        &cert,
        s(&input),
        s(&output),
    ])
    .assert_success();
    std::fs::read(&output).unwrap()
}

fn find(hay: &[u8], needle: &[u8]) -> Vec<usize> {
    hay.windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect()
}

/// The DER of the `db` certificate.
fn db_cert_der(dir: &Path) -> Vec<u8> {
    let der = dir.join("db.der");
    let cert = k().cert("db");
    run(
        &tool("openssl", "openssl"),
        &["x509", "-in", &cert, "-outform", "DER", "-out", s(&der)],
    )
    .assert_success();
    std::fs::read(der).unwrap()
}

/// (position, what) pairs inside the certificate table of `image`.
fn table_positions(image: &[u8], cert_der: &[u8]) -> Vec<(usize, String)> {
    let t = layout(image).table.unwrap();
    let table = &image[t.clone()];
    let der_len = usize::try_from(u32::from_le_bytes(table[..4].try_into().unwrap())).unwrap() - 8;
    let der = t.start + 8;
    let mut out = vec![
        (t.start + 1, "dwLength (+-256)".to_owned()),
        (t.start + 6, "wCertificateType".to_owned()),
        (der, "ContentInfo tag".to_owned()),
        (
            der + der_len - 1,
            "last byte of the RSA signature".to_owned(),
        ),
        (
            der + der_len - 128,
            "middle of the RSA signature".to_owned(),
        ),
    ];
    let digest = pe::authenticode_sha256(image).unwrap();
    let at = find(table, &digest);
    assert_eq!(at.len(), 1, "signed image digest in the table");
    out.push((t.start + at[0] + 7, "signed image digest".to_owned()));
    let md_oid = [
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x04,
    ];
    let at = find(table, &md_oid);
    out.push((
        t.start + at[0] + md_oid.len() + 4 + 9,
        "messageDigest value".to_owned(),
    ));
    let opus = [0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x01, 0x0c];
    out.push((
        t.start + find(table, &opus)[0] + 9,
        "SpcSpOpusInfo OID".to_owned(),
    ));
    let c = find(table, cert_der);
    assert_eq!(c.len(), 1, "signer certificate embedded once");
    let c = t.start + c[0];
    out.push((
        c + cert_der.len() / 2,
        "signer certificate (public key)".to_owned(),
    ));
    out.push((
        c + cert_der.len() - 1,
        "signer certificate signature".to_owned(),
    ));
    let names = find(table, b"clip test db");
    out.push((
        t.start + names[names.len() - 1] + 3,
        "signer identifier issuer".to_owned(),
    ));
    out
}

/// Headers, each section (first, middle, last byte) and trailing data.
fn image_positions(image: &[u8], original_len: usize) -> Vec<(usize, String)> {
    let l = layout(image);
    let pe = usize::try_from(u32::from_le_bytes(image[0x3c..0x40].try_into().unwrap())).unwrap();
    let opt = pe + 24;
    let mut out: Vec<(usize, String)> = [
        (0, "MZ signature"),
        (0x3c, "e_lfanew"),
        (0x4e, "MS-DOS stub"),
        (pe, "PE signature"),
        (pe + 4, "Machine"),
        (opt + 16, "AddressOfEntryPoint"),
        (opt + 56, "SizeOfImage"),
        (opt + 68, "Subsystem"),
        (l.cert_entry, "certificate table entry offset"),
        (l.cert_entry + 8, "base relocation directory entry"),
        (
            opt + usize::from(u16::from_le_bytes([image[pe + 20], image[pe + 21]])),
            "section table",
        ),
        (l.size_of_headers - 1, "last header byte"),
    ]
    .into_iter()
    .map(|(p, w)| (p, w.to_owned()))
    .collect();
    for (name, r) in &l.sections {
        out.push((r.start, format!("{name} first byte")));
        out.push(((r.start + r.end) / 2, format!("{name} middle")));
        out.push((r.end - 1, format!("{name} last byte")));
    }
    let table = l.table.unwrap().start;
    for p in [original_len, original_len + 6, table - 1] {
        if p < table && !out.iter().any(|(q, _)| *q == p) {
            out.push((p, "trailing data".to_owned()));
        }
    }
    assert!(
        out.iter()
            .all(|(p, _)| !(l.checksum..l.checksum + 4).contains(p)),
        "CheckSum is tested separately"
    );
    out
}

/// Flips `image[pos]` into `dir/flipped.efi` and runs both verifiers;
/// returns (sbverify exit code, clip exit code).
fn verdicts(dir: &Path, image: &[u8], pos: usize) -> (i32, i32) {
    let mut bad = image.to_vec();
    bad[pos] ^= 0x01;
    let path = dir.join("flipped.efi");
    std::fs::write(&path, &bad).unwrap();
    let cert = k().cert("db");
    let sb = sbverify(&["--cert", &cert, s(&path)]).code;
    let ours = clip(&["verify-signature", "--cert", &cert, s(&path)]);
    assert!(!ours.stderr.contains("panicked"), "{ours:?}");
    (sb, ours.code)
}

#[test]
fn flipped_bytes_are_rejected_by_both() {
    let dir = tempfile::tempdir().unwrap();
    let cert_der = db_cert_der(dir.path());
    let mut checked = 0;
    let mut failures = Vec::new();
    for (name, trailing) in [
        ("systemd-bootx64.efi", &b""[..]),
        // 13 more bytes of trailing data after the stub's own bytes, then
        // zero padding to 8 bytes before the table; all of it is signed.
        ("linuxx64.efi.stub", b"trailing data"),
    ] {
        let original_len = std::fs::metadata(efi(name)).unwrap().len();
        let original_len = usize::try_from(original_len).unwrap() + trailing.len();
        let image = signed(dir.path(), name, trailing);
        let mut positions = image_positions(&image, original_len);
        positions.extend(table_positions(&image, &cert_der));
        for (pos, what) in positions {
            let (sb, ours) = verdicts(dir.path(), &image, pos);
            checked += 1;
            if sb == 0 || !(ours == 1 || ours == 3) {
                failures.push(format!(
                    "{name} byte {pos:#x} ({what}): sbverify {sb}, clip {ours}"
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "accepted after a flip:\n{}",
        failures.join("\n")
    );
    assert!(checked >= 30, "only {checked} positions");
}

#[test]
fn checksum_is_not_covered() {
    let dir = tempfile::tempdir().unwrap();
    let mut image = signed(dir.path(), "systemd-bootx64.efi", b"");
    let at = layout(&image).checksum;
    image[at] ^= 0x01;
    let path = dir.path().join("checksum.efi");
    std::fs::write(&path, &image).unwrap();
    let cert = k().cert("db");
    sbverify(&["--cert", &cert, s(&path)]).assert_success();
    let run = clip(&["verify-signature", "--cert", &cert, s(&path), "--json"]);
    run.assert_success();
    assert_eq!(run.json()["checksum_valid"], false);
}

#[test]
fn fields_sbverify_ignores_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let image = signed(dir.path(), "systemd-bootx64.efi", b"");
    let l = layout(&image);
    let t = l.table.clone().unwrap();
    let table = &image[t.clone()];
    let der = t.start + 8;
    let der_len = usize::try_from(u32::from_le_bytes(table[..4].try_into().unwrap())).unwrap() - 8;
    assert_eq!(
        image[der + 23..der + 26],
        [0x02, 0x01, 0x01],
        "SignedData version"
    );
    let spc = [0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x01, 0x04];
    let rsa = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
    let rsa_at = find(table, &rsa);
    let mut cases = vec![
        (t.start + 5, "wRevision", "not supported"),
        // sbverify ignores bytes after the DER: one more byte of length is accepted.
        (t.start, "dwLength (+-1)", "malformed"),
        (der + 25, "SignedData version", "version"),
        (
            t.start + find(table, &spc)[0] + 9,
            "encapsulated content type",
            "SpcIndirectDataContent",
        ),
        (
            t.start + rsa_at[rsa_at.len() - 1] + 8,
            "SignerInfo signature algorithm",
            "not supported",
        ),
        // Certificate directory size one byte short / far too long.
        (l.cert_entry + 4, "certificate table size", "malformed"),
        (l.cert_entry + 6, "certificate table size", "malformed"),
    ];
    if der_len % 8 != 0 {
        cases.push((der + der_len, "WIN_CERTIFICATE padding", "padding"));
    }
    let path = dir.path().join("flipped.efi");
    let cert = k().cert("db");
    for (pos, what, phrase) in cases {
        let mut bad = image.clone();
        bad[pos] ^= 0x01;
        std::fs::write(&path, &bad).unwrap();
        let run = clip(&["verify-signature", "--cert", &cert, s(&path)]);
        assert_eq!(run.code, 3, "{what} at {pos:#x}: {run:?}");
        assert!(run.stderr.contains(phrase), "{what}: {}", run.stderr);
    }
}
