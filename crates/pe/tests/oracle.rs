//! The Authenticode digest, PE checksum and certificate table handling
//! against `osslsigncode` and `sbsign` on real EFI binaries (systemd-boot,
//! its UKI stub, Debian's signed kernel).

mod support;

use std::path::Path;
use std::process::Command;

use support::{osslsigncode_report, run, throwaway_key};

fn digest_hex(bytes: &[u8]) -> String {
    hex::encode(pe::authenticode_sha256(bytes).unwrap())
}

/// Signs `input` with osslsigncode into `output`.
fn osslsign(input: &Path, output: &Path, key: &Path, cert: &Path) {
    run(Command::new("osslsigncode")
        .args(["sign", "-h", "sha256", "-certs"])
        .arg(cert)
        .arg("-key")
        .arg(key)
        .arg("-in")
        .arg(input)
        .arg("-out")
        .arg(output));
}

fn check_binary(path: &Path) {
    let dir = tempfile::tempdir().unwrap();
    let (key, cert) = throwaway_key(dir.path());
    let original = std::fs::read(path).unwrap();
    let unsigned = pe::without_certificate_table(&original).unwrap();
    let unsigned_path = dir.path().join("unsigned.efi");
    std::fs::write(&unsigned_path, &unsigned).unwrap();

    // osslsigncode signs a copy and prints the digest it computes.
    let signed_path = dir.path().join("osslsigncode.efi");
    osslsign(&unsigned_path, &signed_path, &key, &cert);
    let signed = std::fs::read(&signed_path).unwrap();
    let (digest, checksum) = osslsigncode_report(&signed_path);
    let digest = digest.expect("osslsigncode printed no digest");
    assert_eq!(
        digest_hex(&signed),
        digest,
        "{}: signed digest",
        path.display()
    );
    let prepared = pe::prepare_for_signing(&original).unwrap();
    assert_eq!(
        digest_hex(&prepared),
        digest,
        "{}: digest before signing",
        path.display()
    );

    // Our checksum agrees with osslsigncode's on the signed file.
    let parsed = pe::PeFile::parse(&signed).unwrap();
    let ours = pe::pe_checksum(&signed, parsed.checksum_offset());
    assert_eq!(
        format!("{ours:08x}"),
        checksum.expect("osslsigncode printed no checksum"),
        "{}: checksum",
        path.display()
    );

    // Re-attaching osslsigncode's certificate table reproduces its file.
    let table = &signed[parsed.certificate_table().expect("signed file has a table")];
    let rebuilt = pe::with_certificate_table(&original, table).unwrap();
    assert!(
        rebuilt == signed,
        "{}: with_certificate_table differs from osslsigncode",
        path.display()
    );
    assert_eq!(pe::without_certificate_table(&rebuilt).unwrap(), unsigned);

    // sbsign (sbsigntool) agrees too: osslsigncode reads back sbsign's digest.
    let sb_path = dir.path().join("sbsign.efi");
    run(Command::new("sbsign")
        .arg("--key")
        .arg(&key)
        .arg("--cert")
        .arg(&cert)
        .arg("--output")
        .arg(&sb_path)
        .arg(&unsigned_path));
    let sb = std::fs::read(&sb_path).unwrap();
    let (sb_digest, _) = osslsigncode_report(&sb_path);
    assert_eq!(
        digest_hex(&sb),
        sb_digest.expect("no digest"),
        "{}: sbsign",
        path.display()
    );
    assert_eq!(digest_hex(&sb), digest);
}

#[test]
fn systemd_stub_matches_osslsigncode_and_sbsign() {
    check_binary(&support::stub());
}

#[test]
fn systemd_boot_matches_osslsigncode_and_sbsign() {
    check_binary(&support::boot());
}

#[test]
fn debian_kernel_matches_osslsigncode_and_sbsign() {
    check_binary(&support::kernel());
}

/// Debian's kernel arrives signed: our digest equals the one osslsigncode
/// computes for the file as shipped.
#[test]
fn debian_signed_kernel_digest() {
    let path = support::kernel();
    let bytes = std::fs::read(&path).unwrap();
    assert!(
        pe::PeFile::parse(&bytes)
            .unwrap()
            .certificate_table()
            .is_some()
    );
    let (digest, checksum) = osslsigncode_report(&path);
    assert_eq!(digest_hex(&bytes), digest.expect("no digest"));
    let pe = pe::PeFile::parse(&bytes).unwrap();
    assert_eq!(
        format!("{:08x}", pe::pe_checksum(&bytes, pe.checksum_offset())),
        checksum.expect("no checksum")
    );
}
