//! Headers cryptsetup 2.6 writes, read by this crate: we unlock them with
//! PBKDF2 (three hashes), Argon2i and Argon2id keyslots, several costs,
//! metadata sizes and key sizes, and get the volume key that
//! `cryptsetup luksDump --dump-volume-key` prints. Keyslots we add to or
//! remove from them keep cryptsetup happy, and the remaining passphrases
//! still open them with either tool.

mod support;

use luks2::{Argon2Type, Error, KdfParams, KeyslotParams, Priority};
use support::{cryptsetup, cryptsetup_format, cryptsetup_ok, rng};

const PASS: &[u8] = b"hunter2 but longer";

fn check(name: &str, extra: &[&str], expect_kdf: &str, metadata_size: u64) {
    let (img, key) = cryptsetup_format(20 << 20, PASS, extra);
    let header = img.read_header().unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(header.metadata_size(), metadata_size, "{name}");
    let dump = cryptsetup_ok(&["luksDump", img.p()]);
    assert!(
        dump.stdout
            .contains(&format!("Epoch:         \t{}\n", header.seqid())),
        "{name}: {}",
        dump.stdout
    );
    assert!(
        dump.stdout
            .contains(&format!("UUID:          \t{}\n", header.uuid())),
        "{name}"
    );
    let k = &header.metadata().keyslots[&0];
    let luks2::KeyslotKind::Luks2(l) = &k.kind else {
        panic!("{name}: not a luks2 keyslot")
    };
    let kdf_name = match &l.kdf {
        luks2::Kdf::Pbkdf2 { hash, .. } => format!("pbkdf2-{hash}"),
        luks2::Kdf::Argon2 { kind, .. } => kind.name().to_owned(),
    };
    assert_eq!(kdf_name, expect_kdf, "{name}");
    let expected = img.cryptsetup_volume_key(&key);
    let (slot, vk) = header
        .unlock(PASS, None, img.reader())
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(slot, 0);
    assert_eq!(vk, expected, "{name}: another volume key than cryptsetup's");
    assert_eq!(
        header.unlock(PASS, Some(0), img.reader()).unwrap().1,
        expected
    );
    assert_eq!(
        header
            .unlock(b"hunter3 but longer", None, img.reader())
            .unwrap_err(),
        Error::WrongPassphrase { tried: vec![0] },
        "{name}"
    );
    assert_eq!(header.verify_volume_key(&expected), Ok(0));
    let act = header.activation(20 << 20).unwrap();
    assert_eq!(act.key_size, expected.len());
    assert!(
        dump.stdout
            .contains(&format!("\toffset: {} [bytes]\n", act.data_offset)),
        "{name}: data offset {} is not cryptsetup's:\n{}",
        act.data_offset,
        dump.stdout
    );
    assert_eq!(act.data_size, (20 << 20) - act.data_offset);
    assert!(
        dump.stdout
            .contains(&format!("\tsector: {} [bytes]\n", act.sector_size)),
        "{name}"
    );
    assert_eq!(act.dm_crypt.cipher, "aes-xts-plain64");
}

#[test]
fn pbkdf2_keyslots() {
    for hash in ["sha1", "sha256", "sha512"] {
        check(
            hash,
            &[
                "--pbkdf",
                "pbkdf2",
                "--pbkdf-force-iterations",
                "1000",
                "--hash",
                hash,
            ],
            &format!("pbkdf2-{hash}"),
            16 << 10,
        );
    }
}

#[test]
fn argon2_keyslots_and_costs() {
    check(
        "argon2id",
        &[
            "--pbkdf",
            "argon2id",
            "--pbkdf-force-iterations",
            "4",
            "--pbkdf-memory",
            "32768",
            "--pbkdf-parallel",
            "1",
        ],
        "argon2id",
        16 << 10,
    );
    check(
        "argon2i",
        &[
            "--pbkdf",
            "argon2i",
            "--pbkdf-force-iterations",
            "5",
            "--pbkdf-memory",
            "8192",
            "--pbkdf-parallel",
            "2",
        ],
        "argon2i",
        16 << 10,
    );
    check(
        "argon2id 4 lanes",
        &[
            "--pbkdf",
            "argon2id",
            "--pbkdf-force-iterations",
            "4",
            "--pbkdf-memory",
            "1024",
            "--pbkdf-parallel",
            "4",
        ],
        "argon2id",
        16 << 10,
    );
}

#[test]
fn metadata_sizes_and_key_sizes() {
    let fast = ["--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000"];
    for (md, keyslots, key_size) in [
        ("32k", "1m", "512"),
        ("1m", "2m", "256"),
        ("4m", "8m", "512"),
    ] {
        let mut extra = fast.to_vec();
        extra.extend_from_slice(&[
            "--luks2-metadata-size",
            md,
            "--luks2-keyslots-size",
            keyslots,
            "--key-size",
            key_size,
        ]);
        let size = match md {
            "32k" => 32 << 10,
            "1m" => 1 << 20,
            _ => 4 << 20,
        };
        check(md, &extra, "pbkdf2-sha256", size);
    }
}

#[test]
fn keyslots_added_and_removed_here_and_there() {
    let (img, key_a) = cryptsetup_format(
        20 << 20,
        b"passphrase A",
        &["--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000"],
    );
    let vk = img.cryptsetup_volume_key(&key_a);
    let key_b = img.file("b", b"passphrase B");
    let key_c = img.file("c", b"passphrase C");
    let mut rng = rng(7);

    // We add B (Argon2id, preferred priority) next to cryptsetup's A.
    let mut header = img.read_header().unwrap();
    let mut params = KeyslotParams::new(KdfParams::Argon2 {
        kind: Argon2Type::Argon2id,
        time: 1,
        memory: 16 << 10,
        cpus: 2,
    });
    params.priority = Priority::Prefer;
    let (slot_b, writes) = header
        .add_keyslot(&vk, b"passphrase B", &params, &mut rng)
        .unwrap();
    assert_eq!(slot_b, 1);
    img.apply(&writes);
    assert_eq!(img.cryptsetup_test(&key_a), 0);
    assert_eq!(img.cryptsetup_test(&key_b), 0);
    let dump = cryptsetup_ok(&["luksDump", img.p()]);
    assert!(
        dump.stdout
            .contains("  1: luks2\n\tKey:        512 bits\n\tPriority:   preferred\n"),
        "{}",
        dump.stdout
    );

    // cryptsetup adds C on top of ours; we open it.
    cryptsetup_ok(&[
        "luksAddKey",
        "--batch-mode",
        "--pbkdf",
        "pbkdf2",
        "--pbkdf-force-iterations",
        "1000",
        "--key-file",
        &key_a,
        img.p(),
        &key_c,
    ]);
    let header = img.read_header().unwrap();
    assert_eq!(
        header.unlock(b"passphrase C", None, img.reader()).unwrap(),
        (2, vk.clone())
    );

    // We remove A: its area is zeros, cryptsetup no longer opens with A,
    // B and C still open with both tools.
    let mut header = header;
    let area = header.metadata().keyslots[&0].clone();
    let writes = header.remove_keyslot(0, &mut rng).unwrap();
    assert_eq!(
        (writes[0].offset, writes[0].bytes.len() as u64),
        (area.area_offset, area.area_size)
    );
    img.apply(&writes);
    let bytes = img.bytes();
    let start = usize::try_from(area.area_offset).unwrap();
    assert!(
        bytes[start..start + usize::try_from(area.area_size).unwrap()]
            .iter()
            .all(|&b| b == 0)
    );
    assert_eq!(img.cryptsetup_test(&key_a), 2);
    assert_eq!(img.cryptsetup_test(&key_b), 0);
    assert_eq!(img.cryptsetup_test(&key_c), 0);
    let header = img.read_header().unwrap();
    assert_eq!(
        header
            .unlock(b"passphrase A", None, img.reader())
            .unwrap_err(),
        Error::WrongPassphrase { tried: vec![1, 2] }
    );
    assert_eq!(
        header.unlock(b"passphrase B", None, img.reader()).unwrap(),
        (1, vk.clone())
    );
    let json = cryptsetup_ok(&["luksDump", "--dump-json-metadata", img.p()]);
    let theirs: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(
        theirs["digests"]["0"]["keyslots"],
        serde_json::json!(["1", "2"])
    );
    assert!(theirs["keyslots"].get("0").is_none());

    // cryptsetup kills our B; we still read the header and open C.
    cryptsetup_ok(&["luksKillSlot", "--batch-mode", img.p(), "1"]);
    let header = img.read_header().unwrap();
    assert_eq!(
        header.unlock(b"passphrase C", None, img.reader()).unwrap(),
        (2, vk)
    );
    assert_eq!(cryptsetup(&["luksDump", img.p()]).code, 0);
}

#[test]
fn tokens_cryptsetup_imports() {
    let (img, _) = cryptsetup_format(
        20 << 20,
        PASS,
        &["--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000"],
    );
    let token = r#"{"type":"systemd-tpm2","keyslots":["0"],"tpm2-blob":"AAEC","tpm2-pcrs":[7],"tpm2-pcr-bank":"sha256","tpm2-primary-alg":"ecc","tpm2-policy-hash":"00ff","tpm2-pin":false}"#;
    let file = img.file("token.json", token.as_bytes());
    cryptsetup_ok(&[
        "token",
        "import",
        "--json-file",
        &file,
        "--token-id",
        "3",
        img.p(),
    ]);
    let header = img.read_header().unwrap();
    let t = &header.metadata().tokens[&3];
    assert_eq!(t.kind, "systemd-tpm2");
    let parsed = luks2::Tpm2Token::from_json(&t.json).unwrap();
    assert_eq!(
        (parsed.blobs, parsed.policy_hashes, parsed.keyslots),
        (vec![vec![0, 1, 2]], vec![vec![0, 0xff]], vec![0])
    );
    // Removing keyslot 0 unbinds the token, as cryptsetup does.
    let mut header = header;
    img.apply(&header.remove_keyslot(0, &mut rng(3)).unwrap());
    let out = cryptsetup_ok(&["token", "export", "--token-id", "3", img.p()]);
    let exported: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(exported["keyslots"], serde_json::json!([]));
}
