//! Every validation check on the JSON metadata, one case each: starting
//! from a valid header we wrote, one change, and the exact error naming the
//! JSON path or the objects involved.

mod support;

use luks2::{Error, FormatParams, KdfParams, KeyslotParams, Metadata, VolumeKey, format};
use serde_json::{Value, json};
use support::{reseal_raw, rng};

const HDR: u64 = 16 << 10;

/// Valid metadata with two keyslots (areas at 32 KiB and 32 KiB + 256 KiB).
fn valid() -> (Value, Vec<u8>) {
    static VALID: std::sync::OnceLock<(Value, Vec<u8>)> = std::sync::OnceLock::new();
    VALID.get_or_init(make_valid).clone()
}

fn make_valid() -> (Value, Vec<u8>) {
    let mut rng = rng(77);
    let vk = VolumeKey::new(vec![7; 64]);
    let (mut h, mut writes) = format(&FormatParams::new(uuid::Uuid::nil()), &vk, &mut rng).unwrap();
    for p in [b"one".as_slice(), b"two"] {
        writes.extend(
            h.add_keyslot(&vk, p, &KeyslotParams::new(KdfParams::MINIMAL), &mut rng)
                .unwrap()
                .1,
        );
    }
    let mut image = vec![0u8; 20 << 20];
    for w in &writes {
        let o = usize::try_from(w.offset).unwrap();
        image[o..o + w.bytes.len()].copy_from_slice(&w.bytes);
    }
    (h.metadata().json().clone(), image)
}

fn refused(edit: impl FnOnce(&mut Value)) -> Error {
    let (mut json, _) = valid();
    edit(&mut json);
    Metadata::from_json(json, HDR).expect_err("must be refused")
}

fn value(path: &str) -> impl Fn(&Error) -> bool + '_ {
    move |e| matches!(e, Error::Value { path: p, .. } if p == path)
}

#[test]
fn the_valid_base_is_valid() {
    let (json, image) = valid();
    let md = Metadata::from_json(json, HDR).unwrap();
    assert_eq!(md.keyslots.len(), 2);
    assert_eq!(luks2::Header::parse(&image).unwrap().metadata(), &md);
}

#[test]
fn config_checks() {
    let e = refused(|j| j["config"]["json_size"] = json!("16384"));
    assert!(value("config.json_size")(&e), "{e}");
    let e = refused(|j| j["config"]["keyslots_size"] = json!("16744449"));
    assert!(value("config.keyslots_size")(&e), "{e}");
    let e = refused(|j| j["config"]["keyslots_size"] = json!(16744448));
    assert_eq!(
        e,
        Error::Field {
            path: "config.keyslots_size".into(),
            expected: "a non-empty string"
        }
    );
    let e = refused(|j| j["config"]["keyslots_size"] = json!("0x1000"));
    assert!(value("config.keyslots_size")(&e), "{e}");
    let e = refused(|j| drop(j.as_object_mut().unwrap().remove("config")));
    assert_eq!(
        e,
        Error::Field {
            path: "config".into(),
            expected: "present"
        }
    );
    let e = refused(|j| j["config"]["flags"] = json!(["allow-discards", 3]));
    assert_eq!(
        e,
        Error::Field {
            path: "config.flags".into(),
            expected: "an array of strings"
        }
    );
    let e = refused(|j| j["config"]["requirements"] = json!({"mandatory": "x"}));
    assert_eq!(
        e,
        Error::Field {
            path: "config.requirements.mandatory".into(),
            expected: "an array of strings"
        }
    );
}

#[test]
fn keyslot_checks() {
    let e = refused(|j| {
        let k = j["keyslots"]["1"].clone();
        j["keyslots"]["32"] = k;
    });
    assert_eq!(
        e,
        Error::Id {
            path: "keyslots".into(),
            key: "32".into(),
            max: 32
        }
    );
    let e = refused(|j| {
        let k = j["keyslots"].as_object_mut().unwrap().remove("1").unwrap();
        j["keyslots"]["01"] = k;
    });
    assert_eq!(
        e,
        Error::Id {
            path: "keyslots".into(),
            key: "01".into(),
            max: 32
        }
    );
    let e = refused(|j| j["keyslots"]["0"]["key_size"] = json!(64.0));
    assert!(value("keyslots.0.key_size")(&e), "{e}");
    let e = refused(|j| j["keyslots"]["0"]["key_size"] = json!(0));
    assert!(value("keyslots.0.key_size")(&e), "{e}");
    let e = refused(|j| j["keyslots"]["0"]["priority"] = json!(3));
    assert!(value("keyslots.0.priority")(&e), "{e}");
    let e = refused(|j| j["keyslots"]["0"]["kdf"]["time"] = json!(4));
    assert!(value("keyslots.0.kdf")(&e), "{e}");
    let e = refused(|j| j["keyslots"]["0"]["kdf"]["type"] = json!("scrypt"));
    assert!(
        matches!(&e, Error::Unsupported { path, value, .. } if path == "keyslots.0.kdf.type" && value == "scrypt"),
        "{e}"
    );
    let e = refused(|j| j["keyslots"]["0"]["kdf"]["hash"] = json!("whirlpool"));
    assert!(
        matches!(&e, Error::Unsupported { path, .. } if path == "keyslots.0.kdf.hash"),
        "{e}"
    );
    let e = refused(|j| j["keyslots"]["0"]["kdf"]["salt"] = json!("AAAA"));
    assert!(value("keyslots.0.kdf.salt")(&e), "{e}");
    let e = refused(|j| j["keyslots"]["0"]["kdf"]["salt"] = json!("not base64!"));
    assert!(value("keyslots.0.kdf.salt")(&e), "{e}");
    let e = refused(|j| j["keyslots"]["0"]["af"]["stripes"] = json!(3999));
    assert!(
        matches!(&e, Error::Unsupported { path, .. } if path == "keyslots.0.af.stripes"),
        "{e}"
    );
    let e = refused(|j| j["keyslots"]["0"]["af"]["type"] = json!("luks2"));
    assert!(
        matches!(&e, Error::Unsupported { path, .. } if path == "keyslots.0.af.type"),
        "{e}"
    );
    let e = refused(|j| j["keyslots"]["0"]["area"]["type"] = json!("none"));
    assert!(
        matches!(&e, Error::Unsupported { path, .. } if path == "keyslots.0.area.type"),
        "{e}"
    );
    let e = refused(|j| j["keyslots"]["0"]["area"]["size"] = json!("4096"));
    assert_eq!(
        e,
        Error::AreaTooSmall {
            keyslot: 0,
            size: 4096,
            needed: 256000
        }
    );
}

#[test]
fn area_checks() {
    let e = refused(|j| j["keyslots"]["0"]["area"]["offset"] = json!("16384"));
    assert_eq!(
        e,
        Error::AreaBounds {
            keyslot: 0,
            offset: 16384,
            size: 258048,
            start: 32768,
            end: 16 << 20
        }
    );
    let e = refused(|j| j["keyslots"]["1"]["area"]["offset"] = json!((16u64 << 20).to_string()));
    assert_eq!(
        e,
        Error::AreaBounds {
            keyslot: 1,
            offset: 16 << 20,
            size: 258048,
            start: 32768,
            end: 16 << 20
        }
    );
    let e = refused(|j| j["keyslots"]["1"]["area"]["offset"] = json!("36864"));
    assert_eq!(e, Error::AreaOverlap { a: 0, b: 1 });
    let e = refused(|j| j["keyslots"]["1"]["area"]["size"] = json!("18446744073709551615"));
    assert!(matches!(e, Error::AreaBounds { keyslot: 1, .. }), "{e}");
}

#[test]
fn segment_checks() {
    let e = refused(|j| j["segments"]["0"]["offset"] = json!("65536"));
    assert_eq!(
        e,
        Error::SegmentInHeader {
            segment: 0,
            offset: 65536,
            end: 16 << 20
        }
    );
    let e = refused(|j| j["segments"]["0"]["offset"] = json!("16777217"));
    assert!(value("segments.0.offset")(&e), "{e}");
    let e = refused(|j| j["segments"]["0"]["size"] = json!("0"));
    assert!(value("segments.0.size")(&e), "{e}");
    let e = refused(|j| j["segments"]["0"]["size"] = json!("1024"));
    assert!(value("segments.0.size")(&e), "{e}");
    let e = refused(|j| j["segments"]["0"]["sector_size"] = json!(8192));
    assert!(value("segments.0.sector_size")(&e), "{e}");
    let e = refused(|j| j["segments"]["0"]["integrity"] = json!({"type": "hmac(sha256)"}));
    assert_eq!(
        e,
        Error::Field {
            path: "segments.0.integrity.journal_encryption".into(),
            expected: "a non-empty string"
        }
    );
    let e = refused(|j| j["digests"]["0"]["segments"] = json!([]));
    assert_eq!(e, Error::SegmentDigest { segment: 0 });
    let e = refused(|j| {
        let s = j["segments"]["0"].clone();
        j["segments"]["2"] = s;
    });
    assert!(value("segments")(&e), "{e}");
    let e = refused(|j| {
        let mut s = j["segments"]["0"].clone();
        s["offset"] = json!("33554432");
        j["segments"]["1"] = s;
        j["digests"]["0"]["segments"] = json!(["0", "1"]);
    });
    assert!(value("segments.0.size")(&e), "dynamic not last: {e}");
    let e = refused(|j| {
        let mut s = j["segments"]["0"].clone();
        s["offset"] = json!("17825792");
        j["segments"]["0"]["size"] = json!("2097152");
        j["segments"]["1"] = s;
        j["digests"]["0"]["segments"] = json!(["0", "1"]);
    });
    assert_eq!(e, Error::SegmentOverlap { a: 0, b: 1 });
    let e = refused(|j| {
        j["segments"] = json!({});
        j["digests"]["0"]["segments"] = json!([]);
    });
    assert_eq!(e, Error::NoSegment);
}

#[test]
fn reference_checks() {
    let e = refused(|j| j["digests"]["0"]["keyslots"] = json!(["0", "1", "5"]));
    assert_eq!(
        e,
        Error::Reference {
            path: "digests.0.keyslots".into(),
            target: "keyslot \"5\"".into()
        }
    );
    let e = refused(|j| j["digests"]["0"]["segments"] = json!(["0", "1"]));
    assert_eq!(
        e,
        Error::Reference {
            path: "digests.0.segments".into(),
            target: "segment \"1\"".into()
        }
    );
    let e = refused(|j| j["digests"]["0"]["keyslots"] = json!(["0"]));
    assert_eq!(
        e,
        Error::KeyslotDigests {
            keyslot: 1,
            count: 0
        }
    );
    let e = refused(|j| {
        let d = j["digests"]["0"].clone();
        j["digests"]["1"] = d;
    });
    assert_eq!(
        e,
        Error::KeyslotDigests {
            keyslot: 0,
            count: 2
        }
    );
    let e = refused(|j| j["digests"]["0"]["digest"] = json!("AAAA"));
    assert!(value("digests.0.digest")(&e), "{e}");
    let e = refused(|j| j["tokens"]["0"] = json!({"type": "x", "keyslots": ["9"]}));
    assert_eq!(
        e,
        Error::Reference {
            path: "tokens.0.keyslots".into(),
            target: "keyslot \"9\"".into()
        }
    );
    let e = refused(|j| j["tokens"]["0"] = json!({"keyslots": []}));
    assert_eq!(
        e,
        Error::Field {
            path: "tokens.0.type".into(),
            expected: "a non-empty string"
        }
    );
    let e = refused(|j| j["tokens"]["0"] = json!({"type": "x", "keyslots": [0]}));
    assert_eq!(
        e,
        Error::Field {
            path: "tokens.0.keyslots".into(),
            expected: "an array of strings"
        }
    );
}

#[test]
fn json_area_checks() {
    let (_, image) = valid();
    let parse = |text: &[u8]| {
        let mut bad = image.clone();
        reseal_raw(&mut bad, 0, 16 << 10, text);
        let h = luks2::Header::parse(&bad).unwrap();
        match &h.copies()[0] {
            luks2::CopyState::Damaged(e) => e.clone(),
            other => panic!("{other:?}"),
        }
    };
    let (json, _) = valid();
    let text = serde_json::to_vec(&json).unwrap();
    let mut trailing = text.clone();
    trailing.extend_from_slice(b"\0junk");
    assert!(matches!(
        parse(&trailing),
        Error::JsonArea {
            what: "non-zero byte after the JSON text",
            ..
        }
    ));
    let mut spaced = text.clone();
    spaced.push(b' ');
    assert!(matches!(
        parse(&spaced),
        Error::JsonArea { offset: 4096, .. }
    ));
    assert!(matches!(
        parse(b"[1]"),
        Error::JsonArea { offset: 4096, .. }
    ));
    assert!(matches!(
        parse(b"{\"a\":}"),
        Error::Json { offset: 4096, .. }
    ));
    assert!(matches!(
        parse(&vec![b' '; 12288]),
        Error::JsonArea {
            what: "no NUL terminator",
            ..
        }
    ));
}
