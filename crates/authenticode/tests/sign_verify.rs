//! Signing and verifying through the public API, on a synthetic PE and on
//! a fixture signed by sbsign 0.9.4 (the reference implementation).

mod support;

use authenticode::{Error, append_signature, sign, verify};
use support::{cert, fixture, key, tiny_pe};

fn signed() -> Vec<u8> {
    sign(&tiny_pe(), &key("db"), &cert("db")).unwrap()
}

/// File offset of the certificate table (data directory entry 4).
fn table_offset(image: &[u8]) -> usize {
    let pe = pe::PeFile::parse(image).unwrap();
    pe.certificate_table().unwrap().start
}

#[test]
fn signs_and_verifies() {
    let image = signed();
    let v = verify(&image, &cert("db")).unwrap();
    assert_eq!(v.index, 0);
    assert_eq!(v.entries, 1);
    assert!(v.signer.is_trusted_certificate);
    assert!(v.checksum_valid);
    assert!(
        v.signer.subject.contains("CN=clip test db"),
        "{}",
        v.signer.subject
    );
    assert_eq!(v.image_digest, pe::authenticode_sha256(&tiny_pe()).unwrap());
    // The image itself is untouched before the table.
    let table = table_offset(&image);
    assert_eq!(table, 0x600);
    let pe = pe::PeFile::parse(&image).unwrap();
    let mut unsigned = image[..table].to_vec();
    let (c, e) = (pe.checksum_offset(), pe.certificate_table_entry_offset());
    unsigned[c..c + 4].fill(0);
    unsigned[e..e + 8].fill(0);
    assert_eq!(unsigned, tiny_pe());
}

#[test]
fn signing_is_deterministic() {
    assert_eq!(signed(), signed());
}

#[test]
fn resigning_replaces_the_signature() {
    let once = signed();
    let again = sign(&once, &key("db"), &cert("db")).unwrap();
    assert_eq!(once, again);
    let other = sign(&once, &key("other"), &cert("other")).unwrap();
    assert!(verify(&other, &cert("other")).is_ok());
    assert!(matches!(
        verify(&other, &cert("db")),
        Err(Error::NotTrusted { index: 0, .. })
    ));
}

#[test]
fn appended_signatures_each_verify() {
    let both = append_signature(&signed(), &key("other"), &cert("other")).unwrap();
    let v = verify(&both, &cert("db")).unwrap();
    assert_eq!((v.index, v.entries), (0, 2));
    let v = verify(&both, &cert("other")).unwrap();
    assert_eq!((v.index, v.entries), (1, 2));
    assert!(matches!(
        verify(&both, &cert("ca")),
        Err(Error::NotTrusted { .. })
    ));
    // On an unsigned image, appending is signing.
    assert_eq!(
        append_signature(&tiny_pe(), &key("db"), &cert("db")).unwrap(),
        signed()
    );
}

#[test]
fn certificate_issued_by_the_trusted_one() {
    let image = sign(&tiny_pe(), &key("leaf"), &cert("leaf")).unwrap();
    let by_ca = verify(&image, &cert("ca")).unwrap();
    assert!(!by_ca.signer.is_trusted_certificate);
    assert!(by_ca.signer.issuer.contains("clip test CA"));
    assert_eq!(by_ca.signer.serial, "1234");
    assert!(
        verify(&image, &cert("leaf"))
            .unwrap()
            .signer
            .is_trusted_certificate
    );
    let err = verify(&image, &cert("db")).unwrap_err();
    assert!(matches!(err, Error::NotTrusted { .. }), "{err}");
}

#[test]
fn key_must_match_certificate() {
    let err = sign(&tiny_pe(), &key("other"), &cert("db")).unwrap_err();
    assert!(matches!(err, Error::KeyMismatch { .. }), "{err}");
    assert!(err.to_string().contains("clip test db"), "{err}");
}

#[test]
fn unsigned_and_non_pe_inputs() {
    assert!(matches!(
        verify(&tiny_pe(), &cert("db")),
        Err(Error::NotSigned(_))
    ));
    assert!(matches!(verify(b"hello", &cert("db")), Err(Error::Pe(_))));
    assert!(matches!(
        sign(b"hello", &key("db"), &cert("db")),
        Err(Error::Pe(_))
    ));
}

#[test]
fn tampering_is_detected_by_kind() {
    let image = signed();
    let table = table_offset(&image);

    // A byte of a section: the image digest changes.
    let mut t = image.clone();
    t[0x300] ^= 1;
    assert!(matches!(
        verify(&t, &cert("db")),
        Err(Error::DigestMismatch { .. })
    ));

    // The last byte of the DER is the end of the RSA signature value.
    let der_len = usize::try_from(u32::from_le_bytes(
        image[table..table + 4].try_into().unwrap(),
    ))
    .unwrap();
    let mut t = image.clone();
    t[table + der_len - 1] ^= 1;
    assert!(matches!(
        verify(&t, &cert("db")),
        Err(Error::SignatureInvalid { .. })
    ));

    // A zero padding byte of the table.
    if der_len % 8 != 0 {
        let mut t = image.clone();
        t[table + der_len] = 1;
        assert!(matches!(
            verify(&t, &cert("db")),
            Err(Error::Malformed { .. })
        ));
    }

    // wRevision 0x0100 is not Authenticode's.
    let mut t = image.clone();
    t[table + 5] = 1;
    assert!(matches!(
        verify(&t, &cert("db")),
        Err(Error::Unsupported { .. })
    ));

    // The CheckSum is outside the signed digest: still valid, reported.
    let checksum = pe::PeFile::parse(&image).unwrap().checksum_offset();
    let mut t = image.clone();
    t[checksum] ^= 0xff;
    let v = verify(&t, &cert("db")).unwrap();
    assert!(!v.checksum_valid);
}

#[test]
fn unaligned_images_are_padded_before_the_table() {
    let mut image = tiny_pe();
    image.extend_from_slice(b"abc");
    let out = sign(&image, &key("db"), &cert("db")).unwrap();
    assert_eq!(table_offset(&out), 0x608);
    assert_eq!(&out[0x600..0x608], b"abc\0\0\0\0\0");
    verify(&out, &cert("db")).unwrap();
}

#[test]
fn accepts_sbsign_signature() {
    let image = fixture("tiny-sbsign.efi");
    let v = verify(&image, &cert("db")).unwrap();
    assert!(v.signer.is_trusted_certificate);
    assert_eq!(v.image_digest, pe::authenticode_sha256(&tiny_pe()).unwrap());
    assert!(matches!(
        verify(&image, &cert("other")),
        Err(Error::NotTrusted { .. })
    ));
    // Re-signing sbsign's output replaces its signature with ours.
    assert_eq!(sign(&image, &key("db"), &cert("db")).unwrap(), signed());
}
