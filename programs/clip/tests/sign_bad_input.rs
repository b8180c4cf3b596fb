//! Bad input to `clip sign` / `clip verify-signature`: a clear message,
//! exit code 1 (3 only for a signature that fails to verify), no panic, and
//! nothing left behind: no output file, no `.clip-tmp-*` file, an existing
//! output untouched.

mod sign_common;

use std::path::PathBuf;

use sign_common::{
    Keys, Run, clip, crafted_pe, efi, keys, listing, run, s, sbsign, sbverify, tool,
};

fn k() -> &'static Keys {
    keys("bad-input")
}

struct Case {
    dir: tempfile::TempDir,
}

impl Case {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> String {
        std::fs::write(self.path(name), bytes).unwrap();
        s(&self.path(name)).to_owned()
    }

    /// `clip sign` into `out.efi`; checks that it fails with exit code 1,
    /// mentions `phrase`, and leaves the directory as it was.
    fn sign_fails(&self, key: &str, cert: &str, input: &str, phrase: &str) -> Run {
        let before = listing(self.dir.path());
        let out = self.path("out.efi");
        let run = clip(&["sign", "--key", key, "--cert", cert, input, s(&out)]);
        run.expect(1).stderr_has(phrase);
        assert_eq!(listing(self.dir.path()), before, "files left behind");
        run
    }
}

fn efi_bytes() -> Vec<u8> {
    std::fs::read(efi("systemd-bootx64.efi")).unwrap()
}

fn openssl(args: &[&str]) {
    run(&tool("openssl", "openssl"), args).assert_success();
}

#[test]
fn inputs_that_are_not_pe_images() {
    let c = Case::new();
    let (key, cert) = (k().key("db"), k().cert("db"));
    let text = c.write("text.efi", b"this is not a PE image\n");
    c.sign_fails(&key, &cert, &text, "not a usable PE image");
    let empty = c.write("empty.efi", b"");
    c.sign_fails(&key, &cert, &empty, "not a usable PE image");
    // Cut inside the headers or inside a section's raw data, found from the
    // file's own section table: bytes after the last section (systemd-boot
    // 252 has 16 KiB of them) belong to no section, and an image cut there is
    // still a valid PE that `clip sign` rightly signs.
    let bytes = efi_bytes();
    let pe = pe::PeFile::parse(&bytes).unwrap();
    let sections_end = pe
        .sections()
        .iter()
        .map(|s| s.raw_range().end)
        .max()
        .unwrap();
    for len in [
        64,
        pe.size_of_headers() - 1,
        sections_end / 2,
        sections_end - 1,
    ] {
        let name = format!("truncated-{len}.efi");
        let truncated = c.write(&name, &bytes[..len]);
        c.sign_fails(&key, &cert, &truncated, "not a usable PE image");
        let run = clip(&["verify-signature", "--cert", &cert, &truncated]);
        run.expect(1).stderr_has("is not a PE image");
    }
    clip(&["verify-signature", "--cert", &cert, &text]).expect(1);
    let dir = c.dir.path().to_str().unwrap().to_owned();
    c.sign_fails(&key, &cert, &dir, "cannot read image");
}

#[test]
fn key_not_matching_the_certificate() {
    let c = Case::new();
    let input = s(&efi("systemd-bootx64.efi")).to_owned();
    c.sign_fails(
        &k().key("other"),
        &k().cert("db"),
        &input,
        "does not match the public key",
    );
    c.sign_fails(&k().key("leaf"), &k().cert("ca"), &input, "does not match");
}

#[test]
fn garbage_and_unsupported_keys_and_certificates() {
    let c = Case::new();
    let input = s(&efi("systemd-bootx64.efi")).to_owned();
    let (key, cert) = (k().key("db"), k().cert("db"));
    let garbage = c.write(
        "garbage.pem",
        b"-----BEGIN PRIVATE KEY-----\nbm9wZQ==\n-----END PRIVATE KEY-----\n",
    );
    c.sign_fails(&garbage, &cert, &input, "unusable private key");
    let binary = c.write("binary.key", &[0xff, 0xfe, 0x00]);
    c.sign_fails(&binary, &cert, &input, "not PEM (no -----BEGIN line)");
    c.sign_fails(
        &cert,
        &cert,
        &input,
        "no private key among the PEM blocks (\"CERTIFICATE\" at line 1)",
    );
    c.sign_fails(
        &key,
        &key,
        &input,
        "no certificate among the PEM blocks (\"PRIVATE KEY\" at line 1)",
    );
    let bad_cert = c.write("bad.crt", b"\x30\x03\x02\x01\x01");
    c.sign_fails(&key, &bad_cert, &input, "unusable certificate");

    // EC and encrypted keys are refused by name.
    let ec = s(&c.path("ec.key")).to_owned();
    openssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        &ec,
    ]);
    c.sign_fails(
        &ec,
        &cert,
        &input,
        "it is an EC (P-256) key; an RSA key is needed",
    );
    let ed = s(&c.path("ed25519.key")).to_owned();
    openssl(&["genpkey", "-algorithm", "ed25519", "-out", &ed]);
    c.sign_fails(
        &ed,
        &cert,
        &input,
        "it is an Ed25519 key; an RSA key is needed",
    );
    // `openssl ecparam -genkey`: SEC1, after an EC PARAMETERS block.
    let sec1 = s(&c.path("sec1.key")).to_owned();
    openssl(&["ecparam", "-name", "secp384r1", "-genkey", "-out", &sec1]);
    c.sign_fails(
        &sec1,
        &cert,
        &input,
        "it is an EC (P-384) key; an RSA key is needed",
    );
    // Broken PEM is named with its line.
    let mut cut = std::fs::read(&key).unwrap();
    cut.truncate(cut.len() - 30);
    let cut = c.write("cut.key", &cut);
    c.sign_fails(
        &cut,
        &cert,
        &input,
        "the PEM block \"PRIVATE KEY\" at line 1 has no -----END PRIVATE KEY----- line",
    );
    let enc = s(&c.path("enc.key")).to_owned();
    openssl(&[
        "pkey", "-in", &key, "-aes256", "-passout", "pass:x", "-out", &enc,
    ]);
    c.sign_fails(&enc, &cert, &input, "encrypted");

    clip(&["verify-signature", "--cert", &garbage, &input])
        .expect(1)
        .stderr_has("unusable certificate");
}

#[test]
fn missing_files() {
    let c = Case::new();
    let input = s(&efi("systemd-bootx64.efi")).to_owned();
    let (key, cert) = (k().key("db"), k().cert("db"));
    let missing = s(&c.path("missing")).to_owned();
    c.sign_fails(&missing, &cert, &input, "cannot read key file");
    c.sign_fails(&key, &missing, &input, "cannot read certificate");
    c.sign_fails(&key, &cert, &missing, "cannot read image");
    let nodir = c.path("no/such/dir/out.efi");
    let run = clip(&["sign", "--key", &key, "--cert", &cert, &input, s(&nodir)]);
    run.expect(1).stderr_has("cannot create a temporary file");
    clip(&["verify-signature", "--cert", &cert, &missing])
        .expect(1)
        .stderr_has("cannot read image");
    clip(&["verify-signature", "--cert", &missing, &input])
        .expect(1)
        .stderr_has("cannot read certificate");
}

#[test]
fn existing_output_needs_force() {
    let c = Case::new();
    let (key, cert) = (k().key("db"), k().cert("db"));
    let original = efi_bytes();
    let input = c.write("in.efi", &original);
    let out = c.write("out.efi", b"keep me");
    let run = clip(&["sign", "--key", &key, "--cert", &cert, &input, &out]);
    run.expect(1).stderr_has("pass --force");
    assert_eq!(std::fs::read(&out).unwrap(), b"keep me");
    // In place: the same rule.
    let run = clip(&["sign", "--key", &key, "--cert", &cert, &input, &input]);
    run.expect(1).stderr_has("pass --force");
    assert_eq!(std::fs::read(&input).unwrap(), original);
    let run = clip(&[
        "sign",
        "--key",
        &key,
        "--cert",
        &cert,
        &input,
        s(c.dir.path()),
    ]);
    run.expect(1).stderr_has("is a directory");
    // With --force: replaced, mode copied from the input.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&input, std::fs::Permissions::from_mode(0o640)).unwrap();
    clip(&[
        "sign", "--key", &key, "--cert", &cert, &input, &out, "--force",
    ])
    .assert_success();
    let meta = std::fs::metadata(&out).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o640);
    clip(&["verify-signature", "--cert", &cert, &out]).assert_success();
    assert_eq!(listing(c.dir.path()), ["in.efi", "out.efi"]);
}

#[test]
fn pkcs1_keys_and_der_certificates_work() {
    let c = Case::new();
    let pkcs1 = s(&c.path("db-pkcs1.key")).to_owned();
    let der = s(&c.path("db.der")).to_owned();
    openssl(&["rsa", "-in", &k().key("db"), "-traditional", "-out", &pkcs1]);
    openssl(&[
        "x509",
        "-in",
        &k().cert("db"),
        "-outform",
        "DER",
        "-out",
        &der,
    ]);
    assert!(
        std::fs::read_to_string(&pkcs1)
            .unwrap()
            .contains("BEGIN RSA PRIVATE KEY")
    );
    let out = c.path("out.efi");
    let input = efi("linuxx64.efi.stub");
    clip(&["sign", "--key", &pkcs1, "--cert", &der, s(&input), s(&out)]).assert_success();
    clip(&["verify-signature", "--cert", &k().cert("db"), s(&out)]).assert_success();
    clip(&["verify-signature", "--cert", &der, s(&out)]).assert_success();
}

/// Sections whose raw data overlap: refused by name and range, with or
/// without --allow-gaps, by `sign` and by `verify-signature` (on a copy
/// sbsign signed anyway). Trailing data keeps the bytes hashed within the
/// file, so no other check catches it.
#[test]
fn overlapping_sections_are_refused() {
    let c = Case::new();
    let (key, cert) = (k().key("db"), k().cert("db"));
    let bytes = crafted_pe(
        &[(".text", 0x400, 0x400), (".data", 0x600, 0x200)],
        0x400,
        0xc00,
    );
    let input = c.write("overlap.efi", &bytes);
    let message = "sections \".text\" (raw data 0x400..0x800) and \".data\" (0x600..0x800) overlap in the file";
    c.sign_fails(&key, &cert, &input, message);
    let before = listing(c.dir.path());
    let out = c.path("out.efi");
    clip(&[
        "sign",
        "--key",
        &key,
        "--cert",
        &cert,
        &input,
        s(&out),
        "--allow-gaps",
    ])
    .expect(1)
    .stderr_has(message);
    assert_eq!(listing(c.dir.path()), before, "files left behind");

    let signed = c.path("sbsigned.efi");
    sbsign(&[
        "--key",
        &key,
        "--cert",
        &cert,
        "--output",
        s(&signed),
        &input,
    ])
    .expect(0);
    for extra in [&[][..], &["--allow-gaps"][..]] {
        let mut args = vec!["verify-signature", "--cert", &cert, s(&signed)];
        args.extend(extra);
        clip(&args).expect(1).stderr_has(&format!(
            "cannot check the signature of {}: {message}",
            s(&signed)
        ));
    }
}

/// Bytes between two sections, or between the headers and the first
/// section, that no section holds: refused naming them unless --allow-gaps,
/// which signs with a warning. sbsign warns about the same layouts.
#[test]
fn gaps_between_sections_need_allow_gaps() {
    let c = Case::new();
    let (key, cert) = (k().key("db"), k().cert("db"));
    let cases = [
        (
            "gap.efi",
            crafted_pe(
                &[(".text", 0x400, 0x200), (".data", 0x800, 0x200)],
                0x400,
                0,
            ),
            "bytes 0x600..0x800 (512 bytes) between section \".text\" and section \".data\" belong to no section",
        ),
        (
            "header-gap.efi",
            crafted_pe(
                &[(".text", 0x600, 0x200), (".data", 0x800, 0x200)],
                0x400,
                0,
            ),
            "bytes 0x400..0x600 (512 bytes) between the headers and section \".text\" belong to no section",
        ),
    ];
    for (name, bytes, gap) in cases {
        let input = c.write(name, &bytes);
        let run = c.sign_fails(&key, &cert, &input, gap);
        run.stderr_has("pass --allow-gaps to accept it anyway");

        let sb_out = c.path("sbsigned.efi");
        sbsign(&[
            "--key",
            &key,
            "--cert",
            &cert,
            "--output",
            s(&sb_out),
            &input,
        ])
        .expect(0)
        .stderr_has("warning: gap in section table");
        std::fs::remove_file(&sb_out).unwrap();

        let out = s(&c.path("out.efi")).to_owned();
        clip(&[
            "sign",
            "--key",
            &key,
            "--cert",
            &cert,
            &input,
            &out,
            "--allow-gaps",
        ])
        .expect(0)
        .stderr_has(&format!("{gap}; the signature does not cover them"));
        // sbverify hashes such an image as we do (osslsigncode does not).
        sign_common::sbverify(&["--cert", &cert, &out]).expect(0);
        clip(&["verify-signature", "--cert", &cert, &out])
            .expect(1)
            .stderr_has(&format!("cannot check the signature of {out}: {gap}"));
        clip(&["verify-signature", "--cert", &cert, &out, "--allow-gaps"])
            .expect(0)
            .stderr_has(&format!("{gap}; the signature does not cover them"));
        std::fs::remove_file(&out).unwrap();
    }

    // The same sections back to back: no gap, no warning, from either tool.
    let bytes = crafted_pe(
        &[(".text", 0x400, 0x200), (".data", 0x600, 0x200)],
        0x400,
        0,
    );
    let input = c.write("no-gap.efi", &bytes);
    let sb_out = c.path("sbsigned.efi");
    let sb = sbsign(&[
        "--key",
        &key,
        "--cert",
        &cert,
        "--output",
        s(&sb_out),
        &input,
    ]);
    assert!(!sb.expect(0).stderr.contains("gap"), "{sb:?}");
    let out = s(&c.path("out.efi")).to_owned();
    let run = clip(&["sign", "--key", &key, "--cert", &cert, &input, &out]);
    assert!(!run.expect(0).stderr.contains("no section"), "{run:?}");
}

/// Key and certificate files as OpenSSL and people write them: blank lines
/// and text around the blocks, CRLF, `openssl pkcs7 -print_certs` output,
/// bundles (the first certificate is the signer's, as `openssl x509` takes
/// it), a key and a certificate in one file.
#[test]
fn pem_as_openssl_writes_it() {
    let c = Case::new();
    let input = s(&efi("linuxx64.efi.stub")).to_owned();
    let read = |p: &str| std::fs::read(p).unwrap();
    let cat = |parts: &[&[u8]]| parts.concat();
    let crlf = |b: &[u8]| {
        String::from_utf8_lossy(b)
            .replace('\n', "\r\n")
            .into_bytes()
    };
    let (db_key, db_cert, ca_cert) = (
        read(&k().key("db")),
        read(&k().cert("db")),
        read(&k().cert("ca")),
    );

    // A key from genpkey, its certificate from req -new -x509.
    let gen_key = s(&c.path("gen.key")).to_owned();
    let gen_cert = s(&c.path("gen.crt")).to_owned();
    openssl(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        &gen_key,
    ]);
    openssl(&[
        "req",
        "-new",
        "-x509",
        "-key",
        &gen_key,
        "-subj",
        "/CN=clip test genpkey/",
        "-days",
        "1",
        "-out",
        &gen_cert,
    ]);
    // openssl pkcs7 -print_certs: subject=/issuer= lines, blank lines between.
    let bundle = c.write("bundle.crt", &cat(&[&db_cert, &ca_cert]));
    let p7 = s(&c.path("bundle.p7")).to_owned();
    let printed = s(&c.path("printed.crt")).to_owned();
    openssl(&["crl2pkcs7", "-nocrl", "-certfile", &bundle, "-out", &p7]);
    openssl(&["pkcs7", "-in", &p7, "-print_certs", "-out", &printed]);
    let printed_text = String::from_utf8(read(&printed)).unwrap();
    assert!(
        printed_text.starts_with("subject=") && printed_text.contains("-----\n\nsubject="),
        "{printed_text}"
    );

    // (name, key file, certificate file, a bundle?)
    let cases: Vec<(&str, Vec<u8>, Vec<u8>, bool)> = vec![
        ("genpkey", read(&gen_key), read(&gen_cert), false),
        (
            "blank-lines",
            cat(&[&db_key, b"\n\n"]),
            cat(&[b"\n", &db_cert, b"\n \n\n"]),
            false,
        ),
        ("crlf", crlf(&db_key), crlf(&db_cert), false),
        ("print-certs", db_key.clone(), read(&printed), true),
        ("cat-bundle", db_key.clone(), read(&bundle), true),
        (
            "key-with-cert",
            cat(&[
                b"Bag Attributes\n    localKeyID: 01 02\n",
                &db_cert,
                &db_key,
            ]),
            db_cert.clone(),
            false,
        ),
    ];
    for (name, key, cert, is_bundle) in cases {
        let key = c.write(&format!("{name}.key"), &key);
        let cert = c.write(&format!("{name}.crt"), &cert);
        let out = c.path(&format!("{name}.efi"));
        let run = clip(&["sign", "--key", &key, "--cert", &cert, &input, s(&out)]);
        run.expect(0);
        let warning = format!("{cert} holds 2 certificates; using the first (CN=clip test db)");
        assert_eq!(
            run.stderr.contains(&warning),
            is_bundle,
            "{name}: {}",
            run.stderr
        );
        clip(&["verify-signature", "--cert", &cert, s(&out)]).expect(0);
        sbverify(&["--cert", &cert, s(&out)]).expect(0);
    }
}
