//! Signature lists and signed updates against the reference tools: efitools
//! (`cert-to-efi-sig-list`, `sign-efi-sig-list`) must produce the same bytes
//! from the same certificates, keys, owner GUID and timestamp, and OpenSSL
//! must verify each `.auth` signature over the data rebuilt by hand here
//! (independently of the secureboot crate).

mod keys_support;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use keys_support::*;

fn set() -> &'static PathBuf {
    static SET: OnceLock<PathBuf> = OnceLock::new();
    SET.get_or_init(|| shared_set("shared", "Test Set").0)
}

fn owner(dir: &Path) -> String {
    String::from_utf8(read(dir, "owner.guid"))
        .unwrap()
        .trim()
        .to_owned()
}

#[test]
fn esl_is_byte_identical_to_cert_to_efi_sig_list() {
    let dir = set();
    let work = scratch("keys_efitools-esl");
    for role in ROLES {
        let out = work.join(format!("{role}.esl"));
        tool_in(
            dir,
            "cert-to-efi-sig-list",
            &[
                "-g",
                &owner(dir),
                &format!("{role}.crt"),
                out.to_str().unwrap(),
            ],
        )
        .assert_success();
        let theirs = fs::read(&out).unwrap();
        let ours = read(dir, &format!("{role}.esl"));
        assert_eq!(
            ours, theirs,
            "{role}.esl differs from cert-to-efi-sig-list's"
        );
        // And the list holds the .cer, after the 28-byte header and owner GUID.
        assert_eq!(&ours[44..], &read(dir, &format!("{role}.cer"))[..]);
    }
}

/// (variable, payload file, signing key stem, our .auth).
const UPDATES: [(&str, &str, &str, &str); 4] = [
    ("PK", "PK.esl", "PK", "PK.auth"),
    ("KEK", "KEK.esl", "PK", "KEK.auth"),
    ("db", "db.esl", "KEK", "db.auth"),
    ("PK", "empty", "PK", "noPK.auth"),
];

#[test]
fn auth_is_byte_identical_to_sign_efi_sig_list() {
    let dir = set();
    let work = scratch("keys_efitools-auth");
    fs::write(work.join("empty"), b"").unwrap();
    for (var, payload, signer, ours) in UPDATES {
        let payload = if payload == "empty" {
            work.join("empty")
        } else {
            dir.join(payload)
        };
        let out = work.join(ours);
        tool_in(
            dir,
            "sign-efi-sig-list",
            &[
                "-t",
                EPOCH_TEXT,
                "-k",
                &format!("{signer}.key"),
                "-c",
                &format!("{signer}.crt"),
                var,
                payload.to_str().unwrap(),
                out.to_str().unwrap(),
            ],
        )
        .assert_success();
        let theirs = fs::read(&out).unwrap();
        let mine = read(dir, ours);
        // PKCS#1 v1.5 signatures are deterministic: same key, same data, same
        // bytes. A difference would show in the first differing offset.
        let first_diff = mine.iter().zip(&theirs).position(|(a, b)| a != b);
        assert!(
            mine == theirs,
            "{ours}: {} bytes vs efitools' {}, first difference at {first_diff:?}",
            mine.len(),
            theirs.len()
        );
    }
}

/// EFI_GUID bytes of the vendor GUIDs, spelled out here rather than taken
/// from the crate under test.
const EFI_GLOBAL_VARIABLE: [u8; 16] = [
    0x61, 0xdf, 0xe4, 0x8b, 0xca, 0x93, 0xd2, 0x11, 0xaa, 0x0d, 0x00, 0xe0, 0x98, 0x03, 0x2b, 0x8c,
];
const EFI_IMAGE_SECURITY_DATABASE: [u8; 16] = [
    0xcb, 0xb2, 0x19, 0xd7, 0x3a, 0x3d, 0x96, 0x45, 0xa3, 0xbc, 0xda, 0xd0, 0x0e, 0x67, 0x65, 0x6f,
];
const PKCS7_GUID: [u8; 16] = [
    0x9d, 0xd2, 0xaf, 0x4a, 0xdf, 0x68, 0xee, 0x49, 0x8a, 0xa9, 0x34, 0x7d, 0x37, 0x56, 0x65, 0xa7,
];

/// DER length octets.
fn der_len(n: usize) -> Vec<u8> {
    match n {
        0..=0x7f => vec![u8::try_from(n).unwrap()],
        0x80..=0xff => vec![0x81, u8::try_from(n).unwrap()],
        _ => {
            let b = u16::try_from(n).unwrap().to_be_bytes();
            vec![0x82, b[0], b[1]]
        }
    }
}

/// Wraps a bare SignedData in the ContentInfo that `openssl smime` expects
/// (the .auth holds the bare SignedData, as efitools writes it).
fn content_info(signed_data: &[u8]) -> Vec<u8> {
    let oid = [
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02,
    ];
    let mut explicit = vec![0xa0];
    explicit.extend(der_len(signed_data.len()));
    explicit.extend_from_slice(signed_data);
    let mut out = vec![0x30];
    out.extend(der_len(oid.len() + explicit.len()));
    out.extend_from_slice(&oid);
    out.extend(explicit);
    out
}

/// Splits a .auth by hand: (TimeStamp, CertData, payload).
fn split_auth(auth: &[u8]) -> (&[u8], &[u8], &[u8]) {
    let len = usize::try_from(u32::from_le_bytes(auth[16..20].try_into().unwrap())).unwrap();
    assert_eq!(
        &auth[20..24],
        &[0x00, 0x02, 0xf1, 0x0e],
        "wRevision, wCertificateType"
    );
    assert_eq!(&auth[24..40], &PKCS7_GUID, "CertType");
    (&auth[..16], &auth[40..16 + len], &auth[16 + len..])
}

/// VariableName ‖ VendorGuid ‖ Attributes ‖ TimeStamp ‖ Data.
fn signed_data(var: &str, vendor: &[u8; 16], time: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut out: Vec<u8> = var.encode_utf16().flat_map(u16::to_le_bytes).collect();
    out.extend_from_slice(vendor);
    out.extend_from_slice(&0x27u32.to_le_bytes());
    out.extend_from_slice(time);
    out.extend_from_slice(payload);
    out
}

fn smime_verify(work: &Path, dir: &Path, cert_data: &[u8], data: &[u8], ca: &str) -> Run {
    fs::write(work.join("sig.der"), content_info(cert_data)).unwrap();
    fs::write(work.join("data.bin"), data).unwrap();
    let ca = dir.join(ca);
    tool_in(
        work,
        "openssl",
        &[
            "smime",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            "sig.der",
            "-content",
            "data.bin",
            "-CAfile",
            ca.to_str().unwrap(),
            "-purpose",
            "any",
            "-out",
            "/dev/null",
        ],
    )
}

#[test]
fn openssl_verifies_auth_signatures() {
    let dir = set();
    let work = scratch("keys_efitools-smime");
    // EFI_TIME of 2024-01-02 03:04:05, Pad1..Pad2 zero.
    let expected_time = [0xe8, 0x07, 1, 2, 3, 4, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    for (var, payload, _, file) in UPDATES {
        let auth = read(dir, file);
        let (time, cert_data, data) = split_auth(&auth);
        assert_eq!(time, expected_time, "{file}");
        let expected_payload = if payload == "empty" {
            Vec::new()
        } else {
            read(dir, payload)
        };
        assert_eq!(data, expected_payload, "{file} payload");
        let vendor = if var == "db" {
            &EFI_IMAGE_SECURITY_DATABASE
        } else {
            &EFI_GLOBAL_VARIABLE
        };
        let signed = signed_data(var, vendor, time, data);
        // Everything chains to the PK: db.auth's signer (the KEK) is in the
        // SignedData with its certificate, issued by the PK.
        let ok = smime_verify(&work, dir, cert_data, &signed, "PK.crt");
        ok.assert_success();
        assert!(
            ok.stderr.contains("Verification successful"),
            "{file}: {}",
            ok.stderr
        );
        // One flipped byte of the signed data, or the wrong variable: refused.
        let mut bad = signed.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        smime_verify(&work, dir, cert_data, &bad, "PK.crt")
            .expect(4)
            .stderr_has("signature failure");
        let other = signed_data(if var == "db" { "dbx" } else { "db" }, vendor, time, data);
        smime_verify(&work, dir, cert_data, &other, "PK.crt").expect(4);
    }
    // A db.auth trusted through the db certificate alone does not verify: the
    // signer is the KEK.
    let db_auth = read(dir, "db.auth");
    let (_, cert_data, data) = split_auth(&db_auth);
    let signed = signed_data("db", &EFI_IMAGE_SECURITY_DATABASE, &expected_time, data);
    smime_verify(&work, dir, cert_data, &signed, "db.crt").expect(4);
}

#[test]
fn signed_data_structure_matches_uefi() {
    // The CertData is a bare SignedData without authenticated attributes,
    // signer identified by issuer and serial, SHA-256 and rsaEncryption.
    let dir = set();
    let work = scratch("keys_efitools-asn1");
    let kek_auth = read(dir, "KEK.auth");
    let (_, cert_data, _) = split_auth(&kek_auth);
    fs::write(work.join("sd.der"), cert_data).unwrap();
    let run = tool_in(
        &work,
        "openssl",
        &["asn1parse", "-inform", "DER", "-in", "sd.der", "-i"],
    );
    run.assert_success();
    let lines: Vec<&str> = run.stdout.lines().collect();
    let find = |needle: &str| lines.iter().filter(|l| l.contains(needle)).count();
    // Top level is SignedData (INTEGER version first), not a ContentInfo.
    assert!(
        lines[1].contains("INTEGER") && lines[1].ends_with(":01"),
        "{}",
        run.stdout
    );
    assert_eq!(find(":pkcs7-data"), 1);
    assert_eq!(find(":pkcs7-signedData"), 0);
    let sha256 = lines.iter().filter(|l| l.trim_end().ends_with(":sha256"));
    assert_eq!(sha256.count(), 2, "digestAlgorithms and the SignerInfo's");
    assert_eq!(
        find(":rsaEncryption"),
        2,
        "cert SPKI and digestEncryptionAlgorithm"
    );
    // No signed attributes: no contentType / messageDigest / signingTime.
    assert_eq!(find(":messageDigest"), 0);
    assert_eq!(find(":contentType"), 0);
}

#[test]
fn crate_parses_and_verifies_efitools_output() {
    use secureboot::der::DecodePem;
    use secureboot::esl::SignatureList;
    use secureboot::guid::EFI_GLOBAL_VARIABLE as GLOBAL;
    use secureboot::x509_cert::Certificate;
    let dir = set();
    let work = scratch("keys_efitools-cross");
    // efitools signs a KEK update with the PK; the crate checks it.
    tool_in(
        dir,
        "sign-efi-sig-list",
        &[
            "-t",
            "2030-05-06 07:08:09",
            "-k",
            "PK.key",
            "-c",
            "PK.crt",
            "KEK",
            "KEK.esl",
            work.join("KEK.auth").to_str().unwrap(),
        ],
    )
    .assert_success();
    let auth = secureboot::AuthVariable::parse(&fs::read(work.join("KEK.auth")).unwrap()).unwrap();
    assert_eq!(auth.timestamp.to_string(), "2030-05-06T07:08:09Z");
    let pk = Certificate::from_pem(read(dir, "PK.crt")).unwrap();
    let kek = Certificate::from_pem(read(dir, "KEK.crt")).unwrap();
    let (signer, _) = auth.verify("KEK", GLOBAL, &[&pk]).unwrap();
    assert_eq!(signer, pk);
    // Trusting only the KEK does not make a PK-signed update valid.
    assert!(auth.verify("KEK", GLOBAL, &[&kek]).is_err());
    assert!(auth.verify("PK", GLOBAL, &[&pk]).is_err());
    let lists = SignatureList::parse_all(&auth.data).unwrap();
    assert_eq!(lists.len(), 1);
    assert_eq!(lists[0].signatures[0].owner.to_string(), owner(dir));
}
