//! Headers this crate writes, read by cryptsetup 2.6: `luksDump` accepts
//! them and shows the same JSON metadata, `open --test-passphrase` opens
//! them with the right passphrase only, and `luksDump --dump-volume-key`
//! gives back the volume key we chose. Several KDFs and costs, metadata
//! sizes, sector sizes, integrity segments and tokens.

mod support;

use luks2::{
    Argon2Type, FormatParams, Hash, Header, KdfParams, KeyslotParams, Tpm2Token, VolumeKey, format,
};
use rand_core::RngCore;
use serde_json::Value;
use support::{Image, cryptsetup, cryptsetup_ok, rng};

const PASS: &[u8] = b"correct horse battery staple";

struct Case {
    name: &'static str,
    kdf: KdfParams,
    metadata_size: u64,
    sector_size: u32,
    integrity: Option<&'static str>,
    encryption: &'static str,
    cipher_key: usize,
    token: bool,
}

fn argon(kind: Argon2Type, time: u32, memory: u32, cpus: u32) -> KdfParams {
    KdfParams::Argon2 {
        kind,
        time,
        memory,
        cpus,
    }
}

fn case(name: &'static str, kdf: KdfParams) -> Case {
    Case {
        name,
        kdf,
        metadata_size: 16 << 10,
        sector_size: 4096,
        integrity: None,
        encryption: "aes-xts-plain64",
        cipher_key: 64,
        token: false,
    }
}

/// Formats, adds a keyslot, returns the image and the volume key.
fn make(c: &Case, seed: u64) -> (Image, VolumeKey, Header) {
    let mut rng = rng(seed);
    let img = Image::new(20 << 20);
    let mut params = FormatParams::new(uuid::Uuid::from_u128(
        0x1234_5678_9abc_4def_8123_4567_89ab_cdef,
    ));
    params.metadata_size = c.metadata_size;
    params.sector_size = c.sector_size;
    params.integrity = c.integrity.map(str::to_owned);
    params.encryption = c.encryption.to_owned();
    params.label = "clip-test".into();
    let mut vk = vec![0u8; params.volume_key_size(c.cipher_key).unwrap()];
    rng.fill_bytes(&mut vk);
    let vk = VolumeKey::new(vk);
    let (mut header, writes) = format(&params, &vk, &mut rng).unwrap();
    img.apply(&writes);
    let (slot, writes) = header
        .add_keyslot(&vk, PASS, &KeyslotParams::new(c.kdf), &mut rng)
        .unwrap();
    assert_eq!(slot, 0);
    img.apply(&writes);
    if c.token {
        let token = Tpm2Token {
            keyslots: vec![0],
            blobs: vec![vec![0xa5; 190]],
            pcrs: vec![7],
            pcr_bank: Some("sha256".into()),
            primary_alg: Some("ecc".into()),
            policy_hashes: vec![vec![0x11; 32]],
            pin: false,
            pubkey_pcrs: vec![11],
            pubkey: Some(b"-----BEGIN PUBLIC KEY-----\n".to_vec()),
            salt: None,
            srk: Some(vec![1, 2, 3]),
            pcrlock: None,
        };
        let (id, writes) = header.set_token(None, token.to_json(), &mut rng).unwrap();
        assert_eq!(id, 0);
        img.apply(&writes);
    }
    (img, vk, header)
}

fn check_with_cryptsetup(c: &Case, seed: u64) {
    let (img, vk, header) = make(c, seed);
    let ours = img.read_header().unwrap();
    assert_eq!(ours.metadata(), header.metadata(), "{}", c.name);
    let dump = cryptsetup_ok(&["luksDump", img.p()]);
    assert!(
        dump.stdout.contains("Label:         \tclip-test"),
        "{}: {}",
        c.name,
        dump.stdout
    );
    assert!(
        dump.stdout
            .contains(&format!("Metadata area: \t{} [bytes]", c.metadata_size)),
        "{}",
        c.name
    );
    let json = cryptsetup_ok(&["luksDump", "--dump-json-metadata", img.p()]);
    let theirs: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(
        &theirs,
        header.metadata().json(),
        "{}: cryptsetup shows other metadata",
        c.name
    );
    let key = img.file("pass", PASS);
    let wrong = img.file("wrong", b"correct horse battery stapler");
    assert_eq!(
        img.cryptsetup_test(&key),
        0,
        "{}: cryptsetup does not open our keyslot",
        c.name
    );
    assert_eq!(
        img.cryptsetup_test(&wrong),
        2,
        "{}: cryptsetup opens with a wrong key",
        c.name
    );
    assert_eq!(
        img.cryptsetup_volume_key(&key),
        vk,
        "{}: other volume key",
        c.name
    );
    // And we open it ourselves.
    let (slot, got) = ours.unlock(PASS, None, img.reader()).unwrap();
    assert_eq!((slot, &got), (0, &vk));
}

#[test]
fn pbkdf2_hashes() {
    for (i, (hash, iterations)) in [
        (Hash::Sha1, 1000),
        (Hash::Sha256, 1007),
        (Hash::Sha512, 2500),
    ]
    .into_iter()
    .enumerate()
    {
        let kdf = KdfParams::Pbkdf2 { hash, iterations };
        check_with_cryptsetup(&case(hash.name(), kdf), 10 + i as u64);
    }
}

#[test]
fn argon2_variants_and_costs() {
    let cases = [
        case(
            "argon2id 1/32MiB/1",
            argon(Argon2Type::Argon2id, 1, 32 << 10, 1),
        ),
        case(
            "argon2i 2/8MiB/2",
            argon(Argon2Type::Argon2i, 2, 8 << 10, 2),
        ),
        case(
            "argon2id 3/1MiB/4",
            argon(Argon2Type::Argon2id, 3, 1 << 10, 4),
        ),
    ];
    for (i, c) in cases.iter().enumerate() {
        check_with_cryptsetup(c, 20 + i as u64);
    }
}

#[test]
fn metadata_and_sector_sizes() {
    for (i, (md, sector)) in [(32u64 << 10, 512u32), (256 << 10, 4096), (4 << 20, 1024)]
        .into_iter()
        .enumerate()
    {
        let mut c = case("sizes", KdfParams::MINIMAL);
        c.metadata_size = md;
        c.sector_size = sector;
        c.cipher_key = 32;
        check_with_cryptsetup(&c, 30 + i as u64);
    }
}

#[test]
fn integrity_segments() {
    // encryption, integrity, cipher key, dm-crypt cipher, tag bytes, integrity key.
    let cases = [
        (
            "aes-xts-plain64",
            "hmac(sha256)",
            64,
            "capi:authenc(hmac(sha256),xts(aes))-plain64",
            32,
            32,
        ),
        (
            "aes-xts-random",
            "hmac(sha512)",
            64,
            "capi:authenc(hmac(sha512),xts(aes))-random",
            80,
            64,
        ),
        ("aes-gcm-random", "aead", 32, "capi:gcm(aes)-random", 28, 0),
        (
            "chacha20-random",
            "poly1305",
            32,
            "capi:rfc7539(chacha20,poly1305)-random",
            28,
            0,
        ),
    ];
    for (i, (enc, integrity, key, capi, tag, ikey)) in cases.into_iter().enumerate() {
        let mut c = case("integrity", KdfParams::MINIMAL);
        c.encryption = enc;
        c.integrity = Some(integrity);
        c.cipher_key = key;
        check_with_cryptsetup(&c, 40 + i as u64);
        let (img, vk, header) = make(&c, 40 + i as u64);
        let act = header.activation(20 << 20).unwrap();
        assert_eq!(act.dm_crypt.cipher, capi);
        assert_eq!(
            act.dm_crypt.integrity_option,
            Some(format!("integrity:{tag}:aead"))
        );
        let i = act.integrity.as_ref().unwrap();
        assert_eq!(
            (i.kind.as_str(), i.tag_size, i.key_size),
            (integrity, tag, ikey)
        );
        assert_eq!((act.key_size, act.cipher_key_size), (vk.len(), key));
        assert_eq!(
            (act.data_offset, act.data_size, act.sector_size),
            (16 << 20, 4 << 20, 4096)
        );
        assert_eq!(
            header.segment_activation(1, 20 << 20).unwrap_err(),
            luks2::Error::NoSegment
        );
        let dump = cryptsetup_ok(&["luksDump", img.p()]);
        assert!(
            dump.stdout.contains(&format!("\tcipher: {enc}")),
            "{}",
            dump.stdout
        );
        assert!(
            dump.stdout.contains(&format!("\tintegrity: {integrity}")),
            "{}",
            dump.stdout
        );
    }
}

#[test]
fn tokens_survive_and_cryptsetup_exports_them() {
    let mut c = case("token", KdfParams::MINIMAL);
    c.token = true;
    check_with_cryptsetup(&c, 50);
    let (img, _, header) = make(&c, 50);
    let out = cryptsetup_ok(&["token", "export", "--token-id", "0", img.p()]);
    let exported: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(&exported, &header.metadata().tokens[&0].json);
    let t = Tpm2Token::from_json(&exported).unwrap();
    assert_eq!(
        (t.pcrs, t.pubkey_pcrs, t.keyslots),
        (vec![7], vec![11], vec![0])
    );
    let dump = cryptsetup_ok(&["luksDump", img.p()]);
    assert!(dump.stdout.contains("  0: systemd-tpm2"), "{}", dump.stdout);
    // A keyslot cryptsetup adds next to ours keeps our token.
    let key = img.file("pass", PASS);
    let new = img.file("new", b"second passphrase");
    cryptsetup_ok(&[
        "luksAddKey",
        "--batch-mode",
        "--pbkdf",
        "pbkdf2",
        "--pbkdf-force-iterations",
        "1000",
        "--key-file",
        &key,
        img.p(),
        &new,
    ]);
    let after = img.read_header().unwrap();
    assert_eq!(
        after.metadata().tokens[&0].json,
        header.metadata().tokens[&0].json
    );
    assert_eq!(
        after
            .unlock(b"second passphrase", None, img.reader())
            .unwrap()
            .0,
        1
    );
}

#[test]
fn wrong_volume_key_is_refused_for_a_new_keyslot() {
    let c = case("vk", KdfParams::MINIMAL);
    let (img, vk, mut header) = make(&c, 60);
    let mut other = vk.as_bytes().to_vec();
    other[0] ^= 1;
    let err = header
        .add_keyslot(
            &VolumeKey::new(other),
            b"x",
            &KeyslotParams::new(KdfParams::MINIMAL),
            &mut rng(1),
        )
        .unwrap_err();
    assert_eq!(err, luks2::Error::VolumeKeyMismatch);
    assert_eq!(cryptsetup(&["isLuks", img.p()]).code, 0);
}

#[test]
fn format_writes_in_order_and_wipes_the_integrity_superblock() {
    let vk = VolumeKey::new(vec![3; 96]);
    let mut params = FormatParams::new(uuid::Uuid::nil());
    params.integrity = Some("hmac(sha256)".into());
    let (_, writes) = format(&params, &vk, &mut rng(70)).unwrap();
    let layout: Vec<(u64, usize)> = writes.iter().map(|w| (w.offset, w.bytes.len())).collect();
    assert_eq!(
        layout,
        [
            (32768, (16 << 20) - 32768), // keyslots area, random
            (16 << 20, 4096),            // dm-integrity superblock, zeros
            (4096, 12288),               // primary JSON
            (0, 4096),                   // primary binary header
            (16384 + 4096, 12288),       // secondary JSON
            (16384, 4096),               // secondary binary header
        ]
    );
    assert!(writes[1].bytes.iter().all(|&b| b == 0));
    assert!(writes[0].bytes.iter().filter(|&&b| b == 0).count() < writes[0].bytes.len() / 64);
    // Without integrity there is nothing to wipe in the data area.
    params.integrity = None;
    let (_, writes) = format(&params, &VolumeKey::new(vec![3; 64]), &mut rng(71)).unwrap();
    assert!(writes.iter().all(|w| w.offset < 16 << 20));
    // A volume key of the wrong size for the segment is refused.
    assert_eq!(
        format(&params, &VolumeKey::new(vec![3; 96]), &mut rng(72)).unwrap_err(),
        luks2::Error::VolumeKeySize {
            len: 96,
            expected: 64
        }
    );
}
