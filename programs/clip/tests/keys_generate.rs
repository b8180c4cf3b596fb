//! `clip keys generate` and `show` on a fresh set, checked with OpenSSL and
//! sbsigntool: the certificates parse, chain PK → KEK → db, the private keys
//! match them, the db key signs EFI images that `sbverify --cert db.crt`
//! accepts, and the files have the promised names and modes.

mod keys_support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use keys_support::*;
use serde_json::Value;

/// One set for all tests (RSA key generation is slow unoptimised).
fn set() -> &'static (PathBuf, Value) {
    static SET: OnceLock<(PathBuf, Value)> = OnceLock::new();
    SET.get_or_init(|| shared_set("shared", "Test Set"))
}

#[test]
fn files_modes_and_manifest() {
    let (dir, out) = set();
    let names: Vec<&str> = FILES.iter().map(|(n, _)| *n).collect();
    // Exactly the promised files: no staging directory or temporary left over.
    assert_eq!(listing(dir), names);
    for (name, mode) in FILES {
        let m = fs::metadata(dir.join(name)).unwrap().permissions().mode() & 0o777;
        if mode == 0o600 {
            assert_eq!(m, 0o600, "{name}");
        } else {
            // 0644 under the usual umask; never writable by others.
            assert_eq!(m & 0o022, 0, "{name}: {m:o}");
            assert_eq!(m & 0o600, 0o600, "{name}: {m:o}");
        }
    }
    let dir_mode = fs::metadata(dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(dir_mode, 0o700);

    let manifest: Value = serde_json::from_slice(&read(dir, "keys.json")).unwrap();
    let mut printed = out.clone();
    assert_eq!(
        printed.as_object_mut().unwrap().remove("directory"),
        Some(Value::String(dir.display().to_string()))
    );
    assert_eq!(printed, manifest);
    assert_eq!(manifest["format"], "clip-keys/1");
    assert_eq!(manifest["name"], "Test Set");
    assert_eq!(manifest["created"], "2024-01-02T03:04:05Z");
    let owner = String::from_utf8(read(dir, "owner.guid")).unwrap();
    assert_eq!(manifest["owner_guid"], owner.trim());
    assert_eq!(owner.trim().len(), 36);
    for role in ROLES {
        let entry = &manifest["secure_boot"][role];
        assert_eq!(
            entry["sha256_fingerprint"],
            sha256_hex(&read(dir, &format!("{role}.cer")))
        );
        assert_eq!(entry["subject"], format!("CN=Test Set {role}"));
        assert_eq!(entry["key_algorithm"], "RSA-2048");
        assert_eq!(entry["not_before"], "2024-01-02T03:04:05Z");
        assert_eq!(entry["not_after"], "2054-01-02T03:04:05Z");
    }
    assert_eq!(manifest["secure_boot"]["KEK"]["issuer"], "CN=Test Set PK");
    assert_eq!(manifest["secure_boot"]["db"]["issuer"], "CN=Test Set KEK");
    assert_eq!(manifest["secure_boot"]["db"]["update_signed_by"], "KEK");
    assert_eq!(manifest["update_key"]["algorithm"], "ed25519");
}

/// `openssl x509 -text` of a certificate.
fn x509_text(dir: &Path, role: &str) -> String {
    let run = tool_in(
        dir,
        "openssl",
        &["x509", "-in", &format!("{role}.crt"), "-noout", "-text"],
    );
    run.assert_success();
    run.stdout.clone()
}

#[test]
fn openssl_parses_certificates() {
    let (dir, _) = set();
    let common = [
        "Version: 3 (0x2)",
        "Signature Algorithm: sha256WithRSAEncryption",
        "Public-Key: (2048 bit)",
        "Not Before: Jan  2 03:04:05 2024 GMT",
        "Not After : Jan  2 03:04:05 2054 GMT",
        "X509v3 Subject Key Identifier",
        "X509v3 Authority Key Identifier",
        "X509v3 Basic Constraints: critical",
        "X509v3 Key Usage: critical",
    ];
    let specific: [(&str, &[&str]); 3] = [
        (
            "PK",
            &[
                "Issuer: CN = Test Set PK",
                "Subject: CN = Test Set PK",
                "CA:TRUE\n",
                "Digital Signature, Certificate Sign, CRL Sign",
            ],
        ),
        (
            "KEK",
            &[
                "Issuer: CN = Test Set PK",
                "Subject: CN = Test Set KEK",
                "CA:TRUE, pathlen:0",
                "Digital Signature, Certificate Sign, CRL Sign",
            ],
        ),
        (
            "db",
            &[
                "Issuer: CN = Test Set KEK",
                "Subject: CN = Test Set db",
                "CA:FALSE",
                "Key Usage: critical\n                Digital Signature\n",
                "X509v3 Extended Key Usage: \n                Code Signing",
            ],
        ),
    ];
    for (role, phrases) in specific {
        let text = x509_text(dir, role);
        for phrase in common.iter().chain(phrases) {
            assert!(
                text.contains(phrase),
                "{role}.crt lacks {phrase:?}:\n{text}"
            );
        }
        // Serial: 16 bytes, positive (openssl prints it as 16 hex pairs).
        let serial = text
            .split("Serial Number:")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .unwrap();
        let bytes: Vec<&str> = serial.split(':').collect();
        assert_eq!(bytes.len(), 16, "{role}: serial {serial}");
        assert!(u8::from_str_radix(bytes[0], 16).unwrap() < 0x80);
        // The .cer is the DER of the .crt.
        let der = tool_bytes(
            dir,
            "openssl",
            &["x509", "-in", &format!("{role}.crt"), "-outform", "DER"],
        );
        assert_eq!(der, read(dir, &format!("{role}.cer")), "{role}.cer");
    }
    // Authority key identifiers point at the issuer's subject key identifier.
    let ski = |text: &str, which: &str| {
        text.split(which)
            .nth(1)
            .and_then(|s| s.lines().nth(1))
            .map(|l| l.trim().to_owned())
            .unwrap()
    };
    let (pk, kek, db) = (
        x509_text(dir, "PK"),
        x509_text(dir, "KEK"),
        x509_text(dir, "db"),
    );
    let id = |t: &str| ski(t, "Subject Key Identifier");
    let auth = |t: &str| ski(t, "Authority Key Identifier");
    assert_eq!(auth(&pk), id(&pk));
    assert_eq!(auth(&kek), id(&pk));
    assert_eq!(auth(&db), id(&kek));
    assert_ne!(id(&kek), id(&db));
}

#[test]
fn openssl_verifies_the_chain() {
    let (dir, _) = set();
    let verify = |args: &[&str]| {
        let mut all = vec!["verify"];
        all.extend_from_slice(args);
        tool_in(dir, "openssl", &all)
    };
    verify(&["-CAfile", "PK.crt", "PK.crt"]).assert_success();
    verify(&["-CAfile", "PK.crt", "KEK.crt"]).assert_success();
    verify(&["-CAfile", "PK.crt", "-untrusted", "KEK.crt", "db.crt"]).assert_success();
    verify(&[
        "-CAfile",
        "PK.crt",
        "-untrusted",
        "KEK.crt",
        "-purpose",
        "any",
        "db.crt",
    ])
    .assert_success();
    // The chain really goes through the KEK, and not the other way round.
    verify(&["-CAfile", "PK.crt", "db.crt"]).expect(2);
    verify(&["-CAfile", "db.crt", "KEK.crt"]).expect(2);
    verify(&["-CAfile", "KEK.crt", "PK.crt"]).expect(2);
    // As firmware trusts it: the db certificate alone, a partial chain.
    verify(&["-partial_chain", "-CAfile", "db.crt", "db.crt"]).assert_success();
}

#[test]
fn private_keys_match_certificates() {
    let (dir, _) = set();
    for role in ROLES {
        let from_key = tool_in(
            dir,
            "openssl",
            &["pkey", "-in", &format!("{role}.key"), "-pubout"],
        );
        from_key.assert_success();
        let from_cert = tool_in(
            dir,
            "openssl",
            &["x509", "-in", &format!("{role}.crt"), "-noout", "-pubkey"],
        );
        from_cert.assert_success();
        assert_eq!(from_key.stdout, from_cert.stdout, "{role}");
        let text = String::from_utf8(read(dir, &format!("{role}.key"))).unwrap();
        assert!(
            text.starts_with("-----BEGIN PRIVATE KEY-----\n"),
            "{role}: PKCS#8"
        );
    }
    let public = tool_in(dir, "openssl", &["pkey", "-in", "update.key", "-pubout"]);
    public.assert_success();
    assert_eq!(public.stdout.as_bytes(), read(dir, "update.pub"));
    let text = tool_in(
        dir,
        "openssl",
        &["pkey", "-in", "update.key", "-noout", "-text"],
    );
    text.assert_success();
    assert!(
        text.stdout.starts_with("ED25519 Private-Key:"),
        "{}",
        text.stdout
    );
    // The update key signs, and its public half verifies.
    let work = scratch("keys_generate-ed25519");
    fs::write(work.join("msg"), b"root.json").unwrap();
    let key = dir.join("update.key");
    let public = dir.join("update.pub");
    let (key, public) = (key.to_str().unwrap(), public.to_str().unwrap());
    tool_in(
        &work,
        "openssl",
        &[
            "pkeyutl", "-sign", "-inkey", key, "-rawin", "-in", "msg", "-out", "sig",
        ],
    )
    .assert_success();
    let verified = tool_in(
        &work,
        "openssl",
        &[
            "pkeyutl", "-verify", "-pubin", "-inkey", public, "-rawin", "-in", "msg", "-sigfile",
            "sig",
        ],
    );
    verified.assert_success();
    assert!(verified.stdout.contains("Signature Verified Successfully"));
}

/// An unsigned EFI application from efitools.
fn efi_image() -> PathBuf {
    let base = Path::new("/usr/lib/efitools");
    fs::read_dir(base)
        .ok()
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("HelloWorld.efi"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("no {}/*/HelloWorld.efi: install efitools", base.display()))
}

#[test]
fn sbverify_accepts_images_signed_by_the_db_key() {
    let (dir, _) = set();
    let work = scratch("keys_generate-sbsign");
    let signed = work.join("hello.signed.efi");
    let image = efi_image();
    let path = |p: &Path| p.to_str().unwrap().to_owned();
    tool_in(
        dir,
        "sbsign",
        &[
            "--key",
            "db.key",
            "--cert",
            "db.crt",
            "--output",
            &path(&signed),
            &path(&image),
        ],
    )
    .assert_success();
    for trusted in ["db.crt", "KEK.crt"] {
        tool_in(dir, "sbverify", &["--cert", trusted, &path(&signed)]).assert_success();
    }
    // sbsign embeds only db.crt, so the PK alone cannot vouch for it, and an
    // unrelated certificate never does.
    tool_in(dir, "sbverify", &["--cert", "PK.crt", &path(&signed)]).expect(1);
    tool_in(
        &work,
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=other/",
            "-keyout",
            "other.key",
            "-out",
            "other.crt",
            "-days",
            "1",
        ],
    )
    .assert_success();
    tool_in(&work, "sbverify", &["--cert", "other.crt", &path(&signed)]).expect(1);
}

#[test]
fn show_reports_a_consistent_set() {
    let (dir, out) = set();
    let dir_arg = dir.as_os_str();
    let run = clip(&[
        std::ffi::OsStr::new("keys"),
        "show".as_ref(),
        dir_arg,
        "--json".as_ref(),
    ]);
    run.assert_success();
    let shown = run.json();
    assert_eq!(shown["consistent"], true, "{shown}");
    assert_eq!(shown["problems"], serde_json::json!([]));
    assert_eq!(shown["owner_guid"], out["owner_guid"]);
    assert_eq!(shown["created"], "2024-01-02T03:04:05Z");
    assert_eq!(shown["name"], "Test Set");
    assert_eq!(shown["update_key"], out["update_key"]);
    for role in ROLES {
        let (s, o) = (&shown["secure_boot"][role], &out["secure_boot"][role]);
        for key in [
            "sha256_fingerprint",
            "subject",
            "issuer",
            "serial",
            "not_after",
        ] {
            assert_eq!(s[key], o[key], "{role} {key}");
        }
        assert_eq!(s["update_timestamp"], "2024-01-02T03:04:05Z");
    }
    let text = clip(&[std::ffi::OsStr::new("keys"), "show".as_ref(), dir_arg]);
    text.assert_success();
    assert!(text.stdout.contains("Consistent: yes"), "{}", text.stdout);
    let fp = out["secure_boot"]["db"]["sha256_fingerprint"]
        .as_str()
        .unwrap();
    assert!(text.stdout.contains(fp), "{}", text.stdout);
}

/// The PCR-policy key: RSA-2048 with exponent 65537 as OpenSSL reads it,
/// its public half in pcr-policy.pub, and keys.json's fingerprints as
/// OpenSSL computes them (`pkfp` over the PKCS#1 public key, as
/// systemd-measure's .pcrsig carries it).
#[test]
fn pcr_policy_key_is_what_openssl_and_systemd_expect() {
    let (dir, out) = set();
    let text = String::from_utf8(tool_bytes(
        dir,
        "openssl",
        &["rsa", "-in", "pcr-policy.key", "-noout", "-text"],
    ))
    .unwrap();
    assert!(
        text.starts_with("Private-Key: (2048 bit, 2 primes)"),
        "{text}"
    );
    assert!(text.contains("publicExponent: 65537 (0x10001)"), "{text}");
    let public = tool_bytes(
        dir,
        "openssl",
        &["pkey", "-in", "pcr-policy.key", "-pubout"],
    );
    assert_eq!(public, read(dir, "pcr-policy.pub"));
    assert!(
        String::from_utf8_lossy(&read(dir, "pcr-policy.key"))
            .starts_with("-----BEGIN PRIVATE KEY-----\n")
    );
    let key = &out["pcr_policy_key"];
    assert_eq!(key["algorithm"], "RSA-2048");
    assert_eq!(
        key["pkfp"],
        sha256_hex(&tool_bytes(
            dir,
            "openssl",
            &[
                "rsa",
                "-pubin",
                "-in",
                "pcr-policy.pub",
                "-RSAPublicKey_out",
                "-outform",
                "DER"
            ]
        ))
    );
    assert_eq!(
        key["sha256_fingerprint"],
        sha256_hex(&tool_bytes(
            dir,
            "openssl",
            &["pkey", "-pubin", "-in", "pcr-policy.pub", "-outform", "DER"]
        ))
    );
    assert_eq!(key["files"]["private_key"], "pcr-policy.key");
    assert_eq!(key["files"]["public_key"], "pcr-policy.pub");
}

/// update-root.json: TUF root version 1 (crates/tuf reads it), root and
/// targets roles update.pub's key, snapshot and timestamp update-online.pub's,
/// thresholds 1, consistent snapshots, expiring 10 years after the set's
/// creation, signed by update.key alone; keys.json and `show` describe it.
#[test]
fn update_root_names_the_two_update_keys() {
    let (dir, out) = set();
    let bytes = read(dir, "update-root.json");
    let root = tuf::Metadata::<tuf::Root>::from_bytes(&bytes).unwrap();
    let update = keyfile::ed25519_verifying_key(&read(dir, "update.pub")).unwrap();
    let online = keyfile::ed25519_verifying_key(&read(dir, "update-online.pub")).unwrap();
    let online_key = keyfile::ed25519_signing_key(&read(dir, "update-online.key")).unwrap();
    assert_eq!(online_key.verifying_key(), online);
    assert_ne!(update, online);
    let id = |k| tuf::key_id(&tuf::Key::ed25519(k));
    let (update_id, online_id) = (id(&update), id(&online));
    assert_eq!(root.signed.version, 1);
    assert_eq!(root.signed.expires.to_string(), "2034-01-02T03:04:05Z");
    assert_eq!(root.signed.consistent_snapshot, Some(true));
    for (role, want) in [
        ("root", &update_id),
        ("targets", &update_id),
        ("snapshot", &online_id),
        ("timestamp", &online_id),
    ] {
        assert_eq!(
            root.signed.role_keys(role),
            Some((vec![want.as_str()], 1)),
            "{role}"
        );
    }
    assert_eq!(root.signatures.len(), 1);
    assert_eq!(root.signatures[0].keyid, update_id);
    root.signed
        .verify_role("root", root.signed_bytes(), &root.signatures)
        .unwrap();
    assert_eq!(out["update_key"]["tuf_keyid"], update_id.as_str());
    assert_eq!(out["update_online_key"]["tuf_keyid"], online_id.as_str());
    assert_eq!(
        out["update_online_key"]["public_key"],
        hex::encode(online.to_bytes())
    );
    assert_eq!(out["update_root"]["sha256"], sha256_hex(&bytes));
    assert_eq!(out["update_root"]["root_keyid"], update_id.as_str());
    assert_eq!(out["update_root"]["online_keyid"], online_id.as_str());
    assert_eq!(out["update_root"]["expires"], "2034-01-02T03:04:05Z");
    let shown = clip(&["keys", "show", dir.to_str().unwrap(), "--json"]).json();
    assert_eq!(shown["update_root"], out["update_root"]);
    assert_eq!(shown["update_online_key"], out["update_online_key"]);
}
