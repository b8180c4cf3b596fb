//! Damaged and half-written headers. A damaged primary copy (binary header,
//! JSON bytes, or well-formed JSON that fails validation) falls back to the
//! secondary as cryptsetup does, and cryptsetup opens the same images; a
//! damaged secondary leaves the primary in use; both damaged is one error
//! naming both problems (cryptsetup refuses too). Every prefix of an
//! update's writes (a crash) leaves a header that reads, with the old or
//! the new state. Mandatory requirements make the header read-only.

mod support;

use luks2::{Copy, CopyState, Error, Header, KdfParams, KeyslotParams};
use serde_json::Value;
use support::{Image, cryptsetup, cryptsetup_format, reseal, rng};

const PASS: &[u8] = b"damage test passphrase";
const FAST: [&str; 4] = ["--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000"];

/// A cryptsetup-made image (metadata `md`), its pristine bytes and key file.
fn pristine(md: &str) -> (Image, Vec<u8>, String) {
    let mut extra = FAST.to_vec();
    extra.extend_from_slice(&["--luks2-metadata-size", md]);
    let (img, key) = cryptsetup_format(20 << 20, PASS, &extra);
    let bytes = img.bytes();
    (img, bytes, key)
}

/// Writes `bytes` as the image, reads it with both tools.
fn both_tools(img: &Image, key: &str, bytes: &[u8]) -> (Result<Header, Error>, i32) {
    std::fs::write(&img.path, bytes).unwrap();
    let ours = Header::parse(bytes);
    // cryptsetup may repair the file: give it a copy.
    let copy = img.dir.path().join("copy.img");
    std::fs::write(&copy, bytes).unwrap();
    let theirs = cryptsetup(&[
        "open",
        "--test-passphrase",
        "--key-file",
        key,
        copy.to_str().unwrap(),
    ])
    .code;
    (ours, theirs)
}

fn json_of(bytes: &[u8], offset: usize, size: usize) -> Value {
    let area = &bytes[offset + 4096..offset + size];
    let end = area.iter().position(|&b| b == 0).unwrap();
    serde_json::from_slice(&area[..end]).unwrap()
}

#[test]
fn damaged_primary_binary_header_falls_back() {
    let (img, good, key) = pristine("16k");
    let mut bad = good.clone();
    bad[24] ^= 0x41; // the label
    let (ours, theirs) = both_tools(&img, &key, &bad);
    let h = ours.unwrap();
    assert_eq!(
        h.copies()[0],
        CopyState::Damaged(Error::Checksum {
            offset: 448,
            copy: Copy::Primary,
            algorithm: "sha256"
        })
    );
    assert!(matches!(h.copies()[1], CopyState::Valid { .. }));
    assert_eq!(h.unlock(PASS, None, img.reader()).unwrap().0, 0);
    assert_eq!(theirs, 0);

    // The magic gone: the secondary is found by scanning its known offsets,
    // also at 64 KiB.
    let (img, good, key) = pristine("64k");
    let mut bad = good.clone();
    bad[..6].fill(0);
    let (ours, theirs) = both_tools(&img, &key, &bad);
    let h = ours.unwrap();
    assert_eq!(
        h.copies()[0],
        CopyState::Damaged(Error::Magic {
            offset: 0,
            copy: Copy::Primary
        })
    );
    assert_eq!(h.metadata_size(), 64 << 10);
    assert_eq!(h.unlock(PASS, None, img.reader()).unwrap().0, 0);
    assert_eq!(theirs, 0);

    // The next commit rewrites the primary with a fresh salt.
    let mut h = h;
    let writes = h
        .add_keyslot(
            &img.cryptsetup_volume_key(&key),
            b"another",
            &KeyslotParams::new(KdfParams::MINIMAL),
            &mut rng(5),
        )
        .unwrap();
    img.apply(&writes.1);
    let again = img.read_header().unwrap();
    assert!(matches!(
        again.copies(),
        [CopyState::Valid { .. }, CopyState::Valid { .. }]
    ));
    let bytes = img.bytes();
    assert_ne!(
        bytes[104..168],
        bytes[(64 << 10) + 104..(64 << 10) + 168],
        "salts must differ"
    );
    assert_eq!(
        cryptsetup(&["open", "--test-passphrase", "--key-file", &key, img.p()]).code,
        0
    );
}

#[test]
fn damaged_primary_json_falls_back() {
    let (img, good, key) = pristine("16k");
    // A flipped byte in the JSON area: the checksum catches it.
    let mut bad = good.clone();
    bad[4096 + 20] ^= 0x01;
    let (ours, theirs) = both_tools(&img, &key, &bad);
    assert_eq!(
        ours.unwrap().copies()[0],
        CopyState::Damaged(Error::Checksum {
            offset: 448,
            copy: Copy::Primary,
            algorithm: "sha256"
        })
    );
    assert_eq!(theirs, 0);

    // Well-formed, checksummed JSON that fails validation: a keyslot area
    // inside the metadata.
    let mut bad = good.clone();
    let mut json = json_of(&good, 0, 16 << 10);
    json["keyslots"]["0"]["area"]["offset"] = Value::from("4096");
    reseal(&mut bad, 0, 16 << 10, &json);
    let (ours, theirs) = both_tools(&img, &key, &bad);
    let h = ours.unwrap();
    let CopyState::Damaged(Error::Metadata {
        copy: Copy::Primary,
        error,
    }) = &h.copies()[0]
    else {
        panic!("{:?}", h.copies())
    };
    assert!(
        matches!(
            **error,
            Error::AreaBounds {
                keyslot: 0,
                offset: 4096,
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(h.metadata().keyslots[&0].area_offset, 32768);
    assert_eq!(theirs, 0);
}

#[test]
fn damaged_secondary_keeps_the_primary() {
    let (img, good, key) = pristine("16k");
    let mut bad = good.clone();
    bad[(16 << 10) + 200] ^= 0x10; // secondary uuid
    let (ours, theirs) = both_tools(&img, &key, &bad);
    let h = ours.unwrap();
    assert!(matches!(h.copies()[0], CopyState::Valid { .. }));
    assert_eq!(
        h.copies()[1],
        CopyState::Damaged(Error::Checksum {
            offset: (16 << 10) + 448,
            copy: Copy::Secondary,
            algorithm: "sha256"
        })
    );
    assert_eq!(theirs, 0);
}

#[test]
fn both_damaged_is_one_clear_error() {
    let (img, good, key) = pristine("16k");
    let mut bad = good.clone();
    bad[24] ^= 1;
    bad[(16 << 10) + 24] ^= 1;
    let (ours, theirs) = both_tools(&img, &key, &bad);
    let err = ours.unwrap_err();
    assert_eq!(
        err,
        Error::BothCopies {
            primary: Box::new(Error::Checksum {
                offset: 448,
                copy: Copy::Primary,
                algorithm: "sha256"
            }),
            secondary: Box::new(Error::Checksum {
                offset: 16832,
                copy: Copy::Secondary,
                algorithm: "sha256"
            }),
        }
    );
    assert_eq!(
        err.to_string(),
        "no valid LUKS2 header: primary: LUKS2 primary header checksum (sha256) at offset 448 does not \
         match the header and JSON area; secondary: LUKS2 secondary header checksum (sha256) at offset \
         16832 does not match the header and JSON area"
    );
    assert_ne!(
        theirs, 0,
        "cryptsetup opened a header with both copies damaged"
    );
}

#[test]
fn every_crash_point_leaves_a_readable_header() {
    let (img, good, key) = pristine("16k");
    let vk = img.cryptsetup_volume_key(&key);
    let mut header = Header::parse(&good).unwrap();
    let old_seqid = header.seqid();
    let (slot, writes) = header
        .add_keyslot(
            &vk,
            b"new passphrase",
            &KeyslotParams::new(KdfParams::MINIMAL),
            &mut rng(9),
        )
        .unwrap();
    // Key material, then JSON and binary header of each copy.
    let offsets: Vec<u64> = writes.iter().map(|w| w.offset).collect();
    assert_eq!(
        offsets,
        [
            header.metadata().keyslots[&slot].area_offset,
            4096,
            0,
            16384 + 4096,
            16384
        ]
    );
    for k in 0..=writes.len() {
        std::fs::write(&img.path, &good).unwrap();
        img.apply(&writes[..k]);
        let h = img
            .read_header()
            .unwrap_or_else(|e| panic!("after {k} writes: {e}"));
        assert_eq!(
            h.unlock(PASS, None, img.reader()).unwrap().0,
            0,
            "after {k} writes"
        );
        let new_state = k >= 3;
        assert_eq!(
            h.seqid(),
            if new_state { old_seqid + 1 } else { old_seqid },
            "after {k} writes"
        );
        assert_eq!(
            h.unlock(b"new passphrase", None, img.reader()).is_ok(),
            new_state,
            "after {k} writes"
        );
        // The secondary: untouched, then its new JSON under its old binary
        // header (checksum mismatch), then current.
        let secondary = match k {
            0..=2 => CopyState::Valid { seqid: old_seqid },
            3 => CopyState::Older { seqid: old_seqid },
            4 => CopyState::Damaged(Error::Checksum {
                offset: 16832,
                copy: Copy::Secondary,
                algorithm: "sha256",
            }),
            _ => CopyState::Valid {
                seqid: old_seqid + 1,
            },
        };
        assert_eq!(h.copies()[1], secondary, "after {k} writes");
        if k == 2 {
            assert_eq!(
                h.copies()[0],
                CopyState::Damaged(Error::Checksum {
                    offset: 448,
                    copy: Copy::Primary,
                    algorithm: "sha256"
                })
            );
        }
        assert_eq!(img.cryptsetup_test(&key), 0, "cryptsetup after {k} writes");
    }

    // Removal: the key material goes first, so from the first write on the
    // removed passphrase never opens again.
    std::fs::write(&img.path, &good).unwrap();
    img.apply(&writes);
    let before = img.bytes();
    let mut h = Header::parse(&before).unwrap();
    let removal = h.remove_keyslot(slot, &mut rng(10)).unwrap();
    for k in 0..=removal.len() {
        std::fs::write(&img.path, &before).unwrap();
        img.apply(&removal[..k]);
        let h = img
            .read_header()
            .unwrap_or_else(|e| panic!("removal after {k} writes: {e}"));
        assert_eq!(
            h.unlock(b"new passphrase", None, img.reader()).is_ok(),
            k == 0,
            "removal after {k}"
        );
        assert_eq!(h.unlock(PASS, None, img.reader()).unwrap().0, 0);
    }
}

#[test]
fn mandatory_requirements_make_the_header_read_only() {
    let (img, good, key) = pristine("16k");
    let mut bytes = good.clone();
    for offset in [0, 16 << 10] {
        let mut json = json_of(&good, offset, 16 << 10);
        json["config"]["requirements"] = serde_json::json!({"mandatory": ["future-feature"]});
        reseal(&mut bytes, offset, 16 << 10, &json);
    }
    let (ours, theirs) = both_tools(&img, &key, &bytes);
    let mut h = ours.unwrap();
    assert_eq!(h.metadata().config.requirements, ["future-feature"]);
    let vk = h.unlock(PASS, None, img.reader()).unwrap().1;
    assert_eq!(theirs, 0, "cryptsetup --test-passphrase reads the key too");
    let refused = Error::Requirements {
        names: vec!["future-feature".into()],
    };
    assert_eq!(h.activation(20 << 20).unwrap_err(), refused);
    assert_eq!(
        h.add_keyslot(
            &vk,
            b"x",
            &KeyslotParams::new(KdfParams::MINIMAL),
            &mut rng(1)
        )
        .unwrap_err(),
        refused
    );
    assert_eq!(h.remove_keyslot(0, &mut rng(1)).unwrap_err(), refused);
    // cryptsetup refuses to add a key as well.
    let new = img.file("new", b"new");
    let out = cryptsetup(&[
        "luksAddKey",
        "--batch-mode",
        "--key-file",
        &key,
        img.p(),
        &new,
    ]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("Unmet LUKS2 requirements detected."),
        "{}",
        out.stderr
    );
}
