//! `clip keys` refusing what it must refuse: existing keys without --force,
//! a DIR that is a file, an unwritable or missing parent, bad names and
//! times; a clear error, a non-zero exit and nothing left behind. Then
//! --force replacing a set, and `show` catching files that do not belong
//! together (exit 3).

mod keys_support;

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use keys_support::*;
use serde_json::Value;

fn keys<S: AsRef<OsStr>>(args: &[S]) -> Run {
    let mut all: Vec<&OsStr> = vec![OsStr::new("keys")];
    all.extend(args.iter().map(AsRef::as_ref));
    clip(&all)
}

/// A generated set to copy from.
fn set() -> &'static (PathBuf, Value) {
    static SET: OnceLock<(PathBuf, Value)> = OnceLock::new();
    SET.get_or_init(|| shared_set("shared", "Test Set"))
}

#[test]
fn existing_keys_need_force() {
    let (src, first) = set();
    let base = scratch("keys_bad_input-force");
    let dir = base.join("keys");
    copy_set(src, &dir);
    fs::write(dir.join("notes.txt"), b"not a key").unwrap();
    let before = snapshot(&dir);

    keys(&[OsStr::new("generate"), dir.as_os_str()])
        .expect(1)
        .stderr_has("already holds key files")
        .stderr_has("PK.key")
        .stderr_has("--force");
    assert_eq!(snapshot(&dir), before, "refused, yet something changed");
    assert_eq!(listing(&base), ["keys"]);

    // One stray file of the set is enough to refuse.
    let lone = base.join("lone");
    fs::create_dir(&lone).unwrap();
    fs::write(lone.join("db.auth"), b"someone else's").unwrap();
    keys(&[OsStr::new("generate"), lone.as_os_str()])
        .expect(1)
        .stderr_has("db.auth");
    assert_eq!(listing(&lone), ["db.auth"]);
    assert_eq!(read(&lone, "db.auth"), b"someone else's");

    // With --force: every file of the set replaced, others untouched.
    let run = keys(&[
        OsStr::new("generate"),
        dir.as_os_str(),
        OsStr::new("--force"),
        OsStr::new("--json"),
    ]);
    run.assert_success();
    let second = run.json();
    let after = snapshot(&dir);
    let mut expected: Vec<&str> = FILES.iter().map(|(n, _)| *n).collect();
    expected.push("notes.txt");
    expected.sort_unstable();
    assert_eq!(listing(&dir), expected, "staging directory left behind?");
    assert_eq!(read(&dir, "notes.txt"), b"not a key");
    for ((name, old), (_, new)) in before.iter().zip(&after) {
        if name != "notes.txt" && name != "keys.json" {
            assert_ne!(old, new, "{name} was not replaced");
        }
    }
    for (name, mode) in FILES {
        let m = fs::metadata(dir.join(name)).unwrap().permissions().mode() & 0o777;
        if mode == 0o600 {
            assert_eq!(m, 0o600, "{name} after --force");
        }
    }
    for role in ROLES {
        assert_ne!(
            first["secure_boot"][role]["sha256_fingerprint"],
            second["secure_boot"][role]["sha256_fingerprint"]
        );
    }
    assert_ne!(first["owner_guid"], second["owner_guid"]);
    keys(&[OsStr::new("show"), dir.as_os_str()]).assert_success();
}

#[test]
fn dir_that_is_a_file() {
    let base = scratch("keys_bad_input-file");
    let file = base.join("keys");
    fs::write(&file, b"plain file").unwrap();
    keys(&[OsStr::new("generate"), file.as_os_str()])
        .expect(1)
        .stderr_has("is not a directory");
    keys(&[
        OsStr::new("generate"),
        file.as_os_str(),
        OsStr::new("--force"),
    ])
    .expect(1)
    .stderr_has("is not a directory");
    assert_eq!(listing(&base), ["keys"]);
    assert_eq!(read(&base, "keys"), b"plain file");
}

#[test]
fn missing_parent() {
    let base = scratch("keys_bad_input-parent");
    let dir = base.join("no").join("such").join("keys");
    keys(&[OsStr::new("generate"), dir.as_os_str()])
        .expect(1)
        .stderr_has("its parent")
        .stderr_has("No such file or directory");
    assert!(listing(&base).is_empty());
}

#[test]
fn unwritable_parent() {
    // Root ignores permission bits: as root, clip runs as nobody instead.
    // Nobody may be unable to reach this clone (in root's 0700 home, say),
    // so the parent and the clip it runs both live in a directory anyone
    // can reach.
    let (sandbox, clip) = reachable_sandbox();
    let parent = sandbox.path().join("locked");
    fs::create_dir(&parent).unwrap();
    fs::set_permissions(&parent, fs::Permissions::from_mode(0o555)).unwrap();
    let dir = parent.join("keys");
    let mut cmd = Command::new(&clip);
    cmd.args([OsStr::new("keys"), "generate".as_ref(), dir.as_os_str()]);
    if is_root() {
        cmd.uid(65_534).gid(65_534);
    }
    run(cmd)
        .expect(1)
        .stderr_has("cannot create a staging directory")
        .stderr_has("Permission denied");
    assert!(listing(&parent).is_empty());
}

#[test]
fn dir_writable_by_others() {
    let base = scratch("keys_bad_input-loose");
    // Group- or world-writable, sticky or not: others could replace the
    // certificates and .auth files. Refused with or without --force.
    for (name, mode, shown) in [
        ("world", 0o777, "mode 0777"),
        ("group", 0o770, "mode 0770"),
        ("sticky", 0o1777, "mode 1777"),
        ("group-only-w", 0o720, "mode 0720"),
    ] {
        let dir = base.join(name);
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(mode)).unwrap();
        for force in [false, true] {
            let mut args = vec![OsStr::new("generate"), dir.as_os_str()];
            if force {
                args.push(OsStr::new("--force"));
            }
            keys(&args)
                .expect(1)
                .stderr_has(&format!(
                    "{} is writable by other users ({shown})",
                    dir.display()
                ))
                .stderr_has("chmod go-w");
            assert!(listing(&dir).is_empty(), "{name}: something was written");
            let now = fs::metadata(&dir).unwrap().permissions().mode() & 0o7777;
            assert_eq!(now, mode, "{name}: mode changed");
        }
    }
    // Private or only readable by others: fine, and left as it was; the
    // private keys are 0600 either way.
    for (name, mode) in [("private", 0o700), ("readable", 0o755)] {
        let dir = base.join(name);
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(mode)).unwrap();
        keys(&[OsStr::new("generate"), dir.as_os_str()]).expect(0);
        let expected: Vec<&str> = FILES.iter().map(|(n, _)| *n).collect();
        assert_eq!(listing(&dir), expected, "{name}");
        for (file, file_mode) in FILES {
            let m = fs::metadata(dir.join(file)).unwrap().permissions().mode() & 0o777;
            assert_eq!(m, file_mode, "{name}/{file}");
        }
        let now = fs::metadata(&dir).unwrap().permissions().mode() & 0o7777;
        assert_eq!(now, mode, "{name}: mode changed");
    }
}

#[test]
fn bad_names_and_times() {
    let base = scratch("keys_bad_input-args");
    let dir = base.join("keys");
    let long = "x".repeat(61);
    for name in ["", " lead", "trail ", long.as_str(), "line\nbreak"] {
        keys(&[
            OsStr::new("generate"),
            dir.as_os_str(),
            OsStr::new("--name"),
            OsStr::new(name),
        ])
        .expect(1)
        .stderr_has("--name does not fit a certificate subject");
    }
    for epoch in ["soon", "-1", "253402300800"] {
        let mut cmd = Command::new(clip_path());
        cmd.args([OsStr::new("keys"), "generate".as_ref(), dir.as_os_str()])
            .env("SOURCE_DATE_EPOCH", epoch);
        let r = run(cmd);
        r.expect(1);
        assert!(
            r.stderr.contains("SOURCE_DATE_EPOCH") || r.stderr.contains("past what EFI_TIME"),
            "{epoch}: {}",
            r.stderr
        );
    }
    keys(&["generate"]).expect(2);
    keys(&["generate", "a", "--bogus"]).expect(2);
    assert!(listing(&base).is_empty());
}

/// Copies the shared set, lets `tamper` change the copy, and runs `show`.
fn show_tampered(tag: &str, tamper: impl FnOnce(&Path)) -> Run {
    let (src, _) = set();
    let dir = scratch(&format!("keys_bad_input-show-{tag}")).join("set");
    copy_set(src, &dir);
    tamper(&dir);
    keys(&[OsStr::new("show"), dir.as_os_str(), OsStr::new("--json")])
}

/// (scratch tag, phrase the report must contain, change to make).
type Tamper = (&'static str, &'static str, fn(&Path));

#[test]
fn show_catches_mismatched_files() {
    let cases: [Tamper; 18] = [
        ("esl-swap", "KEK.esl", |d| {
            fs::copy(d.join("PK.esl"), d.join("KEK.esl")).unwrap();
        }),
        ("auth-bit", "db.esl/db.auth", |d| {
            let mut b = fs::read(d.join("db.auth")).unwrap();
            b[300] ^= 0x40;
            fs::write(d.join("db.auth"), b).unwrap();
        }),
        ("key-swap", "db.key does not match", |d| {
            fs::copy(d.join("KEK.key"), d.join("db.key")).unwrap();
        }),
        ("owner", "owner.guid says", |d| {
            fs::write(
                d.join("owner.guid"),
                "00000000-0000-4000-8000-000000000000\n",
            )
            .unwrap();
        }),
        ("cer", "db.cer is not the DER", |d| {
            fs::copy(d.join("KEK.cer"), d.join("db.cer")).unwrap();
        }),
        ("nopk", "noPK.auth", |d| {
            fs::copy(d.join("PK.auth"), d.join("noPK.auth")).unwrap();
        }),
        ("update", "update.key does not match", |d| {
            let key = "-----BEGIN PRIVATE KEY-----\n\
                       MC4CAQAwBQYDK2VwBCIEIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n\
                       -----END PRIVATE KEY-----\n";
            fs::write(d.join("update.key"), key).unwrap();
        }),
        (
            "pcr-swap",
            "pcr-policy.key does not match pcr-policy.pub",
            |d| {
                fs::copy(d.join("db.key"), d.join("pcr-policy.key")).unwrap();
            },
        ),
        (
            "pcr-lone",
            "pcr-policy.key has no pcr-policy.pub beside it",
            |d| {
                fs::remove_file(d.join("pcr-policy.pub")).unwrap();
            },
        ),
        (
            "pcr-3072",
            "pcr-policy.pub: the PCR-policy key is RSA-3072; it must be RSA-2048",
            |d| {
                let args = ["genpkey", "-algorithm", "RSA", "-pkeyopt"];
                let mut args = args.to_vec();
                args.extend(["rsa_keygen_bits:3072", "-out", "pcr-policy.key"]);
                tool_in(d, "openssl", &args).expect(0);
                let args = ["pkey", "-in", "pcr-policy.key", "-pubout"];
                let mut args = args.to_vec();
                args.extend(["-out", "pcr-policy.pub"]);
                tool_in(d, "openssl", &args).expect(0);
            },
        ),
        // Keys of the wrong type are named.
        (
            "ec-key",
            "db.key: it is an EC (P-256) key; an RSA key is needed",
            |d| {
                let args = [
                    "genpkey",
                    "-algorithm",
                    "EC",
                    "-pkeyopt",
                    "ec_paramgen_curve:P-256",
                ];
                let mut args = args.to_vec();
                args.extend(["-out", "db.key"]);
                tool_in(d, "openssl", &args).expect(0);
            },
        ),
        (
            "rsa-update",
            "update.key: it is an RSA key; an Ed25519 key is needed",
            |d| {
                fs::copy(d.join("db.key"), d.join("update.key")).unwrap();
            },
        ),
        (
            "online-swap",
            "update-online.key does not match update-online.pub",
            |d| {
                fs::copy(d.join("update.key"), d.join("update-online.key")).unwrap();
            },
        ),
        (
            "online-lone",
            "update-online.pub has no update-online.key beside it",
            |d| {
                fs::remove_file(d.join("update-online.key")).unwrap();
            },
        ),
        // Another online key than the one update-root.json names.
        (
            "root-online",
            "update-root.json gives the snapshot role to key(s) [",
            |d| {
                fs::copy(d.join("update.key"), d.join("update-online.key")).unwrap();
                fs::copy(d.join("update.pub"), d.join("update-online.pub")).unwrap();
            },
        ),
        // A root changed after signing.
        (
            "root-edit",
            "update-root.json is not signed by update.pub: signature threshold not met for role root: 0 of 1 valid",
            |d| {
                let text = fs::read_to_string(d.join("update-root.json")).unwrap();
                let text = text.replace("2034-01-02T03:04:05Z", "2035-01-02T03:04:05Z");
                fs::write(d.join("update-root.json"), text).unwrap();
            },
        ),
        (
            "root-gone",
            "update-online.pub has no update-root.json beside it",
            |d| {
                fs::remove_file(d.join("update-root.json")).unwrap();
            },
        ),
        // A bundle: the first certificate is read, and the extra one noted.
        ("bundle", "PK.crt holds 2 certificates, not one", |d| {
            let mut pk = fs::read(d.join("PK.crt")).unwrap();
            pk.extend(fs::read(d.join("KEK.crt")).unwrap());
            fs::write(d.join("PK.crt"), pk).unwrap();
        }),
    ];
    for (tag, phrase, tamper) in cases {
        let run = show_tampered(tag, tamper);
        run.expect(3).stderr_has(phrase);
        let report = run.json();
        assert_eq!(report["consistent"], false, "{tag}");
        let problems = report["problems"].to_string();
        assert!(problems.contains(phrase), "{tag}: {problems}");
    }
}

/// The files of a set rewritten as OpenSSL and editors write them: text
/// and blank lines around the blocks, CRLF line ends. `show` reads them as
/// OpenSSL does and finds the set intact.
#[test]
fn show_reads_pem_as_openssl_writes_it() {
    let (_, generated) = set();
    let run = show_tampered("reformatted", |d| {
        let edit = |name: &str, f: &dyn Fn(Vec<u8>) -> Vec<u8>| {
            let bytes = fs::read(d.join(name)).unwrap();
            fs::write(d.join(name), f(bytes)).unwrap();
        };
        let crlf = |b: Vec<u8>| {
            String::from_utf8(b)
                .unwrap()
                .replace('\n', "\r\n")
                .into_bytes()
        };
        let blank_lines = |mut b: Vec<u8>| {
            b.extend(b"\n\n");
            b
        };
        edit("PK.key", &blank_lines);
        edit("KEK.key", &crlf);
        edit("update.key", &|b| [b"\n".as_slice(), &b, b"\n\n"].concat());
        edit("update.pub", &crlf);
        edit("db.crt", &|b| {
            [b"subject=CN = Test Set db\n".as_slice(), &b, b"\n"].concat()
        });
        // openssl rewrites the PK certificate with its text form first.
        tool_in(
            d,
            "openssl",
            &["x509", "-in", "PK.crt", "-text", "-out", "PK.crt"],
        )
        .expect(0);
        edit("PK.crt", &crlf);
    });
    run.expect(0);
    let report = run.json();
    assert_eq!(report["consistent"], true, "{report}");
    for role in ROLES {
        let fingerprint = |v: &Value| v["secure_boot"][role]["sha256_fingerprint"].clone();
        assert_eq!(fingerprint(&report), fingerprint(generated), "{role}");
    }
    assert_eq!(report["update_key"], generated["update_key"]);
}

#[test]
fn show_refuses_unreadable_sets() {
    show_tampered("missing", |d| fs::remove_file(d.join("PK.crt")).unwrap())
        .expect(1)
        .stderr_has("cannot read")
        .stderr_has("PK.crt");
    show_tampered("garbage", |d| {
        fs::write(d.join("KEK.crt"), b"junk").unwrap()
    })
    .expect(1)
    .stderr_has("KEK.crt is not a PEM X.509 certificate");
    show_tampered("guid", |d| {
        fs::write(d.join("owner.guid"), b"nope").unwrap()
    })
    .expect(1)
    .stderr_has("not a GUID");
    let base = scratch("keys_bad_input-show-none");
    keys(&[OsStr::new("show"), base.join("absent").as_os_str()])
        .expect(1)
        .stderr_has("cannot read");
}

/// A set made before the PCR-policy key existed: `generate` points at
/// --add-missing, `show` says it is missing (and is otherwise content),
/// --add-missing adds the pair and its keys.json entry and changes no other
/// byte; it refuses a lone half, a set missing other files, or no set.
#[test]
fn add_missing_adds_the_pcr_key_and_nothing_else() {
    let (src, generated) = set();
    let base = scratch("keys_bad_input-add-missing");
    let dir = base.join("keys");
    copy_set(src, &dir);
    for f in ["pcr-policy.key", "pcr-policy.pub"] {
        fs::remove_file(dir.join(f)).unwrap();
    }
    let mut old_manifest = generated.clone();
    let obj = old_manifest.as_object_mut().unwrap();
    obj.remove("directory");
    obj.remove("pcr_policy_key");
    fs::write(
        dir.join("keys.json"),
        format!("{}\n", serde_json::to_string_pretty(&old_manifest).unwrap()),
    )
    .unwrap();
    let before = snapshot(&dir);

    keys(&[OsStr::new("generate"), dir.as_os_str()])
        .expect(1)
        .stderr_has(
            "(or --add-missing to add only the PCR-policy key it lacks, keeping the others)",
        );
    keys(&[
        OsStr::new("generate"),
        dir.as_os_str(),
        OsStr::new("--add-missing"),
        OsStr::new("--force"),
    ])
    .expect(2);
    let shown = keys(&[OsStr::new("show"), dir.as_os_str()]);
    shown.assert_success();
    assert!(
        shown.stdout.contains(&format!(
            "PCR key:    none: add one with `clip keys generate {} --add-missing`",
            dir.display()
        )),
        "{}",
        shown.stdout
    );
    assert_eq!(snapshot(&dir), before);

    let run = keys(&[
        OsStr::new("generate"),
        dir.as_os_str(),
        OsStr::new("--add-missing"),
        OsStr::new("--json"),
    ]);
    run.assert_success();
    let report = run.json();
    assert_eq!(report["consistent"], true, "{report}");
    let after = snapshot(&dir);
    let names: Vec<&str> = FILES.iter().map(|(n, _)| *n).collect();
    assert_eq!(listing(&dir), names, "staging directory left behind?");
    for (name, bytes) in &before {
        let now = &after.iter().find(|(n, _)| n == name).unwrap().1;
        if name != "keys.json" {
            assert_eq!(bytes, now, "{name} changed");
        }
    }
    let mode = fs::metadata(dir.join("pcr-policy.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let manifest: Value = serde_json::from_slice(&read(&dir, "keys.json")).unwrap();
    let mut without = manifest.clone();
    let added = without
        .as_object_mut()
        .unwrap()
        .remove("pcr_policy_key")
        .unwrap();
    assert_eq!(without, old_manifest);
    assert_eq!(added, report["pcr_policy_key"]);
    assert_ne!(added["pkfp"], generated["pcr_policy_key"]["pkfp"]);
    assert_eq!(
        added["sha256_fingerprint"],
        sha256_hex(&tool_bytes(
            &dir,
            "openssl",
            &["pkey", "-pubin", "-in", "pcr-policy.pub", "-outform", "DER"]
        ))
    );

    // Again: nothing to add, nothing changed.
    let complete = snapshot(&dir);
    keys(&[
        OsStr::new("generate"),
        dir.as_os_str(),
        OsStr::new("--add-missing"),
    ])
    .assert_success();
    assert_eq!(snapshot(&dir), complete);

    // A lone half is not completed: which key would the other be?
    fs::remove_file(dir.join("pcr-policy.pub")).unwrap();
    keys(&[
        OsStr::new("generate"),
        dir.as_os_str(),
        OsStr::new("--add-missing"),
    ])
    .expect(1)
    .stderr_has("has pcr-policy.key but not pcr-policy.pub: restore the missing file");
    // Nor a set that lacks other files.
    let partial = base.join("partial");
    copy_set(src, &partial);
    for f in ["pcr-policy.key", "pcr-policy.pub", "db.auth"] {
        fs::remove_file(partial.join(f)).unwrap();
    }
    keys(&[
        OsStr::new("generate"),
        partial.as_os_str(),
        OsStr::new("--add-missing"),
    ])
    .expect(1)
    .stderr_has("lacks db.auth");
    assert!(!partial.join("pcr-policy.key").exists());
    let empty = base.join("empty");
    fs::create_dir(&empty).unwrap();
    keys(&[
        OsStr::new("generate"),
        empty.as_os_str(),
        OsStr::new("--add-missing"),
    ])
    .expect(1)
    .stderr_has("holds no key set; create one with `clip keys generate");
    assert!(listing(&empty).is_empty());
}

/// A set made before the online update key existed: `generate` points at
/// --add-missing, `show` says what is missing, --add-missing adds
/// update-online.key/.pub and update-root.json (the root of update.key and
/// the new online key, expiring 10 years after keys.json's creation time)
/// and changes no other byte but keys.json's new entries; a lone online
/// half, or an update-root.json without its online key, is refused.
#[test]
fn add_missing_adds_the_online_key_and_update_root() {
    let (src, generated) = set();
    let base = scratch("keys_bad_input-add-online");
    let dir = base.join("keys");
    copy_set(src, &dir);
    for f in ["update-online.key", "update-online.pub", "update-root.json"] {
        fs::remove_file(dir.join(f)).unwrap();
    }
    let mut old_manifest = generated.clone();
    let obj = old_manifest.as_object_mut().unwrap();
    obj.remove("directory");
    obj.remove("update_online_key");
    obj.remove("update_root");
    fs::write(
        dir.join("keys.json"),
        format!("{}\n", serde_json::to_string_pretty(&old_manifest).unwrap()),
    )
    .unwrap();
    let before = snapshot(&dir);
    keys(&[OsStr::new("generate"), dir.as_os_str()])
        .expect(1)
        .stderr_has(
            "(or --add-missing to add only the online update key and update-root.json it lacks, keeping the others)",
        );
    let shown = keys(&[OsStr::new("show"), dir.as_os_str()]);
    shown.assert_success();
    for line in [
        "Online key: none: add one with `clip keys generate {} --add-missing`",
        "TUF root:   none: add one with `clip keys generate {} --add-missing`",
    ] {
        let line = line.replace("{}", &dir.display().to_string());
        assert!(shown.stdout.contains(&line), "{}", shown.stdout);
    }
    assert_eq!(snapshot(&dir), before);

    let run = keys(&[
        OsStr::new("generate"),
        dir.as_os_str(),
        OsStr::new("--add-missing"),
        OsStr::new("--json"),
    ]);
    run.assert_success();
    let report = run.json();
    assert_eq!(report["consistent"], true, "{report}");
    let names: Vec<&str> = FILES.iter().map(|(n, _)| *n).collect();
    assert_eq!(listing(&dir), names, "staging directory left behind?");
    let after = snapshot(&dir);
    for (name, bytes) in &before {
        let now = &after.iter().find(|(n, _)| n == name).unwrap().1;
        if name != "keys.json" {
            assert_eq!(bytes, now, "{name} changed");
        }
    }
    let mode = fs::metadata(dir.join("update-online.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let manifest: Value = serde_json::from_slice(&read(&dir, "keys.json")).unwrap();
    let mut without = manifest.clone();
    let obj = without.as_object_mut().unwrap();
    let online = obj.remove("update_online_key").unwrap();
    let root = obj.remove("update_root").unwrap();
    assert_eq!(without, old_manifest);
    assert_eq!(online, report["update_online_key"]);
    assert_eq!(root, report["update_root"]);
    assert_ne!(
        online["public_key"],
        generated["update_online_key"]["public_key"]
    );
    assert_eq!(root["expires"], "2034-01-02T03:04:05Z");
    assert_eq!(root["root_keyid"], generated["update_key"]["tuf_keyid"]);
    assert_eq!(root["online_keyid"], online["tuf_keyid"]);
    // The same bytes the tuf crate makes from these keys and this time.
    let update = keyfile::ed25519_signing_key(&read(&dir, "update.key")).unwrap();
    let online_pub = keyfile::ed25519_verifying_key(&read(&dir, "update-online.pub")).unwrap();
    assert_eq!(
        read(&dir, "update-root.json"),
        expected_root(&update, &online_pub)
    );

    // Again: nothing to add, nothing changed.
    let complete = snapshot(&dir);
    keys(&[
        OsStr::new("generate"),
        dir.as_os_str(),
        OsStr::new("--add-missing"),
    ])
    .assert_success();
    assert_eq!(snapshot(&dir), complete);

    // A lone online half is not completed.
    let lone = base.join("lone");
    copy_set(&dir, &lone);
    for f in ["update-online.pub", "update-root.json"] {
        fs::remove_file(lone.join(f)).unwrap();
    }
    keys(&[
        OsStr::new("generate"),
        lone.as_os_str(),
        OsStr::new("--add-missing"),
    ])
    .expect(1)
    .stderr_has("has update-online.key but not update-online.pub: restore the missing file");
    // A root whose online key is gone is not given a new one.
    let orphan = base.join("orphan");
    copy_set(&dir, &orphan);
    for f in ["update-online.key", "update-online.pub"] {
        fs::remove_file(orphan.join(f)).unwrap();
    }
    keys(&[
        OsStr::new("generate"),
        orphan.as_os_str(),
        OsStr::new("--add-missing"),
    ])
    .expect(1)
    .stderr_has(
        "has update-root.json but not update-online.key: the root names an online key that is gone",
    );
    assert!(!orphan.join("update-online.key").exists());
}

/// update-root.json as crates/tuf makes it for the set's creation time.
fn expected_root(
    update: &secureboot::ed25519_dalek::SigningKey,
    online: &secureboot::ed25519_dalek::VerifyingKey,
) -> Vec<u8> {
    use tuf::repository::{RoleSetup, RootSetup, new_root, sign_root};
    let offline = RoleSetup {
        keys: vec![update.verifying_key()],
        threshold: 1,
    };
    let online = RoleSetup {
        keys: vec![*online],
        threshold: 1,
    };
    let setup = RootSetup {
        root: offline.clone(),
        targets: offline,
        snapshot: online.clone(),
        timestamp: online,
    };
    let expires = tuf::Time::parse("2034-01-02T03:04:05Z").unwrap();
    let root = new_root(1, expires, &setup).unwrap();
    sign_root(root, None, &[update]).unwrap().to_bytes()
}
