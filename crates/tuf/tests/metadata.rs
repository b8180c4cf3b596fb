//! Reading metadata: what python-tuf refuses is refused, unknown fields
//! round-trip and stay signed, and no single-byte change to signed metadata
//! gets through the client.

mod common;

use common::*;
use serde_json::{Value, json};
use tuf::{AnyMetadata, Client, Metadata, Root, Snapshot, Targets, Timestamp};

fn err_of<T: tuf::metadata::Role>(bytes: &[u8]) -> String {
    Metadata::<T>::from_bytes(bytes).unwrap_err().to_string()
}

#[test]
fn malformed_signed_refused() {
    let repo = Repo::new();
    let (ts, _, _) = repo.chain();
    let good = signed_of(&ts);
    let with = |f: &dyn Fn(&mut Value)| {
        let mut v = good.clone();
        f(&mut v);
        sign_value(&v, &[&repo.timestamp_key])
    };
    assert_eq!(
        err_of::<Timestamp>(&with(&|v| v["spec_version"] = json!("2.0.0"))),
        "timestamp metadata has spec_version \"2.0.0\"; this implementation reads 1.x"
    );
    assert_eq!(
        err_of::<Timestamp>(&with(&|v| v["spec_version"] = json!("1.0.x"))),
        "timestamp metadata has spec_version \"1.0.x\"; this implementation reads 1.x"
    );
    // X.Y is read, as python-tuf reads it.
    Metadata::<Timestamp>::from_bytes(&with(&|v| v["spec_version"] = json!("1.0"))).unwrap();
    assert_eq!(
        err_of::<Timestamp>(&with(&|v| v["version"] = json!(0))),
        "malformed timestamp metadata: version 0 (versions start at 1)"
    );
    assert_eq!(
        err_of::<Timestamp>(&with(&|v| v["version"] = json!(-1))),
        "malformed timestamp metadata: invalid value: integer `-1`, expected u64"
    );
    assert_eq!(
        err_of::<Timestamp>(&with(&|v| v["expires"] = json!("2027-01-01T00:00:00+00:00"))),
        "malformed timestamp metadata: expires \"2027-01-01T00:00:00+00:00\" is not of the form YYYY-MM-DDTHH:MM:SSZ"
    );
    assert_eq!(
        err_of::<Timestamp>(&with(&|v| v["_type"] = json!("snapshot"))),
        "expected timestamp metadata, got _type \"snapshot\""
    );
    // A float cannot be signed (canonical JSON has none): refused unsigned.
    let mut float = good.clone();
    float["meta"]["snapshot.json"]["version"] = json!(1.5);
    let float = serde_json::to_vec(&json!({"signatures": [], "signed": float})).unwrap();
    assert_eq!(
        err_of::<Timestamp>(&float),
        "malformed timestamp metadata: canonical JSON has no floats: 1.5 is not an integer"
    );
    assert_eq!(
        err_of::<Timestamp>(&with(&|v| {
            v["meta"]["other.json"] = json!({"version": 1});
        })),
        "malformed timestamp metadata: meta names 2 files, not only snapshot.json"
    );
    assert_eq!(
        err_of::<Timestamp>(&with(&|v| v["meta"]["snapshot.json"]["hashes"] = json!({}))),
        "malformed timestamp metadata: snapshot.json has an empty hashes object"
    );
    // A root without the four roles, with threshold 0, with a key ID twice.
    let root = signed_of(&repo.root_bytes());
    let root_with = |f: &dyn Fn(&mut Value)| {
        let mut v = root.clone();
        f(&mut v);
        sign_value(&v, &[&repo.root_key])
    };
    assert_eq!(
        err_of::<Root>(&root_with(&|v| {
            v["roles"].as_object_mut().unwrap().remove("snapshot");
        })),
        "malformed root metadata: roles are [\"root\", \"targets\", \"timestamp\"], not the four top-level roles [\"root\", \"snapshot\", \"targets\", \"timestamp\"]"
    );
    assert_eq!(
        err_of::<Root>(&root_with(
            &|v| v["roles"]["targets"]["threshold"] = json!(0)
        )),
        "malformed root metadata: role targets has threshold 0"
    );
    assert_eq!(
        err_of::<Root>(&root_with(&|v| {
            let id = v["roles"]["targets"]["keyids"][0].clone();
            v["roles"]["targets"]["keyids"] = json!([id, id]);
        })),
        "malformed root metadata: role targets lists a key ID twice"
    );
    let targets = signed_of(&repo.chain().2);
    let mut no_hash = targets.clone();
    no_hash["targets"]["clip-1.2.3.zst"]["hashes"] = json!({});
    assert_eq!(
        err_of::<Targets>(&sign_value(&no_hash, &[&repo.targets_key])),
        "malformed targets metadata: target clip-1.2.3.zst has no hashes"
    );
}

#[test]
fn envelope_refusals() {
    let repo = Repo::new();
    let (ts, snap, _) = repo.chain();
    assert_eq!(
        err_of::<Timestamp>(b"{\"signed\": "),
        "timestamp metadata is not valid JSON: EOF while parsing a value at line 1 column 11"
    );
    assert_eq!(
        err_of::<Timestamp>(b"[]"),
        "malformed timestamp metadata: not a JSON object"
    );
    let mut v: Value = serde_json::from_slice(&ts).unwrap();
    let sig = v["signatures"][0].clone();
    v["signatures"] = json!([sig.clone(), sig]);
    assert!(
        err_of::<Timestamp>(&serde_json::to_vec(&v).unwrap())
            .starts_with("timestamp metadata has more than one signature by key ")
    );
    v["signatures"] = json!([{"keyid": "ab"}]);
    assert_eq!(
        err_of::<Timestamp>(&serde_json::to_vec(&v).unwrap()),
        "malformed timestamp metadata: signatures: missing field `sig`"
    );
    // The envelope itself may be pretty-printed: only `signed` is canonicalised.
    let pretty =
        serde_json::to_vec_pretty(&serde_json::from_slice::<Value>(&snap).unwrap()).unwrap();
    let mut c = Client::new(&repo.root_bytes(), now()).unwrap();
    c.update_timestamp(&bare_ts(&repo)).unwrap();
    c.update_snapshot(&pretty).unwrap();
    match AnyMetadata::from_bytes(&snap).unwrap() {
        AnyMetadata::Snapshot(m) => assert_eq!(m.signed.version, 1),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        AnyMetadata::from_bytes(b"{\"signed\":{\"_type\":\"mirrors\"}}")
            .unwrap_err()
            .to_string(),
        "malformed metadata: unknown _type \"mirrors\""
    );
}

fn bare_ts(repo: &Repo) -> Vec<u8> {
    let mut v = signed_of(&repo.chain().0);
    let meta = v["meta"]["snapshot.json"].as_object_mut().unwrap();
    meta.remove("length");
    meta.remove("hashes");
    sign_value(&v, &[&repo.timestamp_key])
}

#[test]
fn unknown_fields_round_trip_and_stay_signed() {
    let repo = Repo::new();
    let mut v = signed_of(&repo.chain().2);
    v["x-future"] = json!({"b": [1, 2], "a": "é\"\\"});
    v["targets"]["clip-1.2.3.zst"]["x-extra"] = json!(true);
    let bytes = sign_value(&v, &[&repo.targets_key]);
    let m = Metadata::<Targets>::from_bytes(&bytes).unwrap();
    assert_eq!(m.signed.unrecognized["x-future"]["a"], "é\"\\");
    assert_eq!(
        m.signed.targets["clip-1.2.3.zst"].unrecognized["x-extra"],
        true
    );
    repo.root
        .signed
        .verify_role("targets", m.signed_bytes(), &m.signatures)
        .unwrap();
    assert_eq!(m.to_bytes(), bytes);
    // Re-serialising the typed value gives the same canonical bytes.
    let again = tuf::canonical::encode(&serde_json::to_value(&m.signed).unwrap()).unwrap();
    assert_eq!(again, m.signed_bytes());
    // Dropping the unknown field breaks the signature.
    let mut dropped = v.clone();
    dropped.as_object_mut().unwrap().remove("x-future");
    let sigs: Value = serde_json::from_slice::<Value>(&bytes).unwrap()["signatures"].clone();
    let forged = tuf::canonical::encode(&json!({"signatures": sigs, "signed": dropped})).unwrap();
    let m = Metadata::<Targets>::from_bytes(&forged).unwrap();
    assert_eq!(
        repo.root
            .signed
            .verify_role("targets", m.signed_bytes(), &m.signatures)
            .unwrap_err()
            .to_string(),
        "signature threshold not met for role targets: 0 of 1 valid"
    );
}

/// Every single-byte change of every signed file is refused, except a hex
/// letter of a root or timestamp signature changing case (`bytes.fromhex` in
/// python-tuf reads both cases too: the same signature). Snapshot and
/// targets are also hashed by the metadata naming them, so there even that
/// is refused.
#[test]
fn single_byte_flips_refused() {
    let repo = Repo::new();
    let root = repo.root_bytes();
    let (ts, snap, targets) = repo.chain();
    let files: [&[u8]; 4] = [&root, &ts, &snap, &targets];
    // The client before each stage, so a flip re-runs only its own stage
    // and those after it.
    let stage = |c: &mut Client, i: usize, bytes: &[u8]| -> bool {
        match i {
            1 => c.update_timestamp(bytes).is_ok(),
            2 => c.update_snapshot(bytes).is_ok(),
            _ => c.update_targets(bytes).is_ok(),
        }
    };
    let mut before = vec![Client::new(&root, now()).unwrap()];
    for i in 1..3 {
        let mut c = before[i - 1].clone();
        assert!(stage(&mut c, i, files[i]));
        before.push(c);
    }
    let mut tried = 0;
    for (which, file) in files.iter().enumerate() {
        let sig_ranges = signature_hex_ranges(file);
        for pos in 0..file.len() {
            for bit in 0..8 {
                let mut flipped = file.to_vec();
                flipped[pos] ^= 1 << bit;
                let accepted = if which == 0 {
                    match Client::new(&flipped, now()) {
                        Ok(mut c) => (1..4).all(|i| stage(&mut c, i, files[i])),
                        Err(_) => false,
                    }
                } else {
                    let mut c = before[which - 1].clone();
                    stage(&mut c, which, &flipped)
                        && (which + 1..4).all(|i| stage(&mut c, i, files[i]))
                };
                let case_only = which < 2
                    && bit == 5
                    && file[pos].is_ascii_alphabetic()
                    && sig_ranges.iter().any(|r| r.contains(&pos));
                assert_eq!(accepted, case_only, "file {which} byte {pos} bit {bit}");
                tried += 1;
            }
        }
    }
    assert!(tried > 8 * 2000, "{tried}");
}

/// Byte ranges of the `sig` hex strings in canonical metadata.
fn signature_hex_ranges(file: &[u8]) -> Vec<std::ops::Range<usize>> {
    let needle = b"\"sig\":\"";
    let mut out = Vec::new();
    for i in 0..file.len().saturating_sub(needle.len()) {
        if &file[i..i + needle.len()] == needle {
            let start = i + needle.len();
            out.push(start..start + 128);
        }
    }
    out
}

#[test]
fn snapshot_and_root_types() {
    let repo = Repo::new();
    let (_, snap, _) = repo.chain();
    assert_eq!(
        err_of::<Root>(&snap),
        "expected root metadata, got _type \"snapshot\""
    );
    let s = Metadata::<Snapshot>::from_bytes(&snap).unwrap();
    assert_eq!(s.signed.meta["targets.json"].version, 1);
}
