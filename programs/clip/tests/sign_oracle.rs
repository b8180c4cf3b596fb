//! `clip sign` against the reference implementation, sbsigntool 0.9.4, on
//! Debian's systemd-boot EFI binaries: sbverify accepts our signatures, we
//! accept sbsign's, both reject what the other should reject, and signing
//! is deterministic and idempotent.

mod sign_common;

use std::path::{Path, PathBuf};

use sign_common::{Keys, clip, efi, keys, layout, s, sbsign, sbverify};

const BINARIES: [&str; 2] = ["systemd-bootx64.efi", "linuxx64.efi.stub"];

fn k() -> &'static Keys {
    keys("oracle")
}

fn clip_sign(input: &Path, output: &Path, name: &str, extra: &[&str]) {
    let (key, cert) = (k().key(name), k().cert(name));
    let mut args = vec!["sign", "--key", &key, "--cert", &cert];
    args.extend_from_slice(extra);
    args.extend([s(input), s(output)]);
    clip(&args).assert_success();
}

fn clip_verify(file: &Path, cert: &str) -> serde_json::Value {
    let run = clip(&[
        "verify-signature",
        "--cert",
        &k().cert(cert),
        s(file),
        "--json",
    ]);
    run.assert_success();
    run.json()
}

/// `bytes` with the CheckSum and the certificate directory entry zeroed
/// and the certificate table cut off: what the signature covers.
fn unsigned_part(bytes: &[u8]) -> Vec<u8> {
    let l = layout(bytes);
    let end = l.table.map_or(bytes.len(), |t| t.start);
    let mut out = bytes[..end].to_vec();
    out[l.checksum..l.checksum + 4].fill(0);
    out[l.cert_entry..l.cert_entry + 8].fill(0);
    out
}

#[test]
fn sbverify_accepts_ours_and_we_accept_sbsign() {
    let dir = tempfile::tempdir().unwrap();
    for name in BINARIES {
        let input = efi(name);
        let ours = dir.path().join(format!("{name}.clip"));
        let theirs = dir.path().join(format!("{name}.sbsign"));
        clip_sign(&input, &ours, "db", &[]);
        sbverify(&["--cert", &k().cert("db"), s(&ours)]).assert_success();
        sbsign(&[
            "--key",
            &k().key("db"),
            "--cert",
            &k().cert("db"),
            "--output",
            s(&theirs),
            s(&input),
        ])
        .assert_success();
        let v_ours = clip_verify(&ours, "db");
        let v_theirs = clip_verify(&theirs, "db");
        assert_eq!(v_ours["verified"], true);
        assert_eq!(v_ours["signed_by"], "trusted certificate");
        assert_eq!(v_ours["signer"], "CN=clip test db");
        assert_eq!(v_ours["checksum_valid"], true);
        assert_eq!(v_theirs["checksum_valid"], true);
        // Same image digest, same signed image bytes; the signatures differ
        // only because sbsign adds signingTime and S/MIME capabilities.
        assert_eq!(v_ours["image_digest"], v_theirs["image_digest"]);
        let (a, b) = (
            std::fs::read(&ours).unwrap(),
            std::fs::read(&theirs).unwrap(),
        );
        assert_eq!(unsigned_part(&a), unsigned_part(&b), "{name}");
        assert_ne!(a, b, "sbsign's signature has a signing time; ours does not");
    }
}

#[test]
fn signing_is_deterministic_and_resigning_replaces() {
    let dir = tempfile::tempdir().unwrap();
    let input = efi("systemd-bootx64.efi");
    let out = |n: &str| dir.path().join(n);
    clip_sign(&input, &out("a.efi"), "db", &[]);
    clip_sign(&input, &out("b.efi"), "db", &[]);
    let a = std::fs::read(out("a.efi")).unwrap();
    assert_eq!(a, std::fs::read(out("b.efi")).unwrap());

    // Signing a signed file (ours or sbsign's) replaces its signature.
    clip_sign(&out("a.efi"), &out("again.efi"), "db", &[]);
    assert_eq!(a, std::fs::read(out("again.efi")).unwrap());
    sbsign(&[
        "--key",
        &k().key("other"),
        "--cert",
        &k().cert("other"),
        "--output",
        s(&out("sbsign-other.efi")),
        s(&input),
    ])
    .assert_success();
    clip_sign(&out("sbsign-other.efi"), &out("replaced.efi"), "db", &[]);
    assert_eq!(a, std::fs::read(out("replaced.efi")).unwrap());
    sbverify(&["--cert", &k().cert("db"), s(&out("replaced.efi"))]).assert_success();
    let run = clip(&[
        "verify-signature",
        "--cert",
        &k().cert("other"),
        s(&out("replaced.efi")),
    ]);
    run.expect(3).stderr_has("not trusted");

    // In place, with --force.
    std::fs::copy(&input, out("inplace.efi")).unwrap();
    clip_sign(&out("inplace.efi"), &out("inplace.efi"), "db", &["--force"]);
    assert_eq!(a, std::fs::read(out("inplace.efi")).unwrap());
}

#[test]
fn append_keeps_the_existing_signature() {
    let dir = tempfile::tempdir().unwrap();
    let input = efi("linuxx64.efi.stub");
    let one = dir.path().join("one.efi");
    let two = dir.path().join("two.efi");
    clip_sign(&input, &one, "db", &[]);
    clip_sign(&one, &two, "other", &["--append"]);
    let by_db = clip_verify(&two, "db");
    assert_eq!(
        (
            by_db["signature_index"].as_u64(),
            by_db["signatures"].as_u64()
        ),
        (Some(0), Some(2))
    );
    let by_other = clip_verify(&two, "other");
    assert_eq!(by_other["signature_index"], 1);
    // sbverify checks the first signature.
    sbverify(&["--cert", &k().cert("db"), s(&two)]).assert_success();
    // The first entry is kept byte for byte.
    let (a, b) = (std::fs::read(&one).unwrap(), std::fs::read(&two).unwrap());
    let t = layout(&a).table.unwrap();
    assert_eq!(a[t.clone()], b[t]);
}

#[test]
fn wrong_certificate_is_rejected_by_both() {
    let dir = tempfile::tempdir().unwrap();
    let signed = dir.path().join("signed.efi");
    clip_sign(&efi("systemd-bootx64.efi"), &signed, "db", &[]);
    for wrong in ["other", "ca"] {
        let run = sbverify(&["--cert", &k().cert(wrong), s(&signed)]);
        assert_ne!(run.code, 0, "sbverify accepted {wrong}: {run:?}");
        let run = clip(&[
            "verify-signature",
            "--cert",
            &k().cert(wrong),
            s(&signed),
            "--json",
        ]);
        run.expect(3).stderr_has("is not trusted");
        assert_eq!(run.json()["verified"], false);
        assert_eq!(run.json()["reason"], "not_trusted");
    }
}

#[test]
fn certificate_issued_by_the_trusted_one() {
    let dir = tempfile::tempdir().unwrap();
    let signed: PathBuf = dir.path().join("leaf.efi");
    clip_sign(&efi("linuxx64.efi.stub"), &signed, "leaf", &[]);
    sbverify(&["--cert", &k().cert("ca"), s(&signed)]).assert_success();
    let v = clip_verify(&signed, "ca");
    assert_eq!(v["signed_by"], "certificate issued by the trusted one");
    assert_eq!(v["issuer"], "CN=clip test CA");
    assert_eq!(v["serial"], "1234");
    assert_eq!(
        clip_verify(&signed, "leaf")["signed_by"],
        "trusted certificate"
    );
    let run = sbverify(&["--cert", &k().cert("db"), s(&signed)]);
    assert_ne!(run.code, 0, "{run:?}");
    clip(&["verify-signature", "--cert", &k().cert("db"), s(&signed)]).expect(3);
}

#[test]
fn unsigned_image_is_reported() {
    // Debian ships systemd-boot unsigned; drop any signature all the same,
    // so that the test does not depend on the package.
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("unsigned.efi");
    let bytes = std::fs::read(efi("systemd-bootx64.efi")).unwrap();
    std::fs::write(&input, pe::without_certificate_table(&bytes).unwrap()).unwrap();
    let run = sbverify(&["--cert", &k().cert("db"), s(&input)]);
    assert_ne!(run.code, 0, "{run:?}");
    let run = clip(&[
        "verify-signature",
        "--cert",
        &k().cert("db"),
        s(&input),
        "--json",
    ]);
    run.expect(3).stderr_has("not signed");
    assert_eq!(run.json()["reason"], "not_signed");
}
