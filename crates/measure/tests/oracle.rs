//! PCR 11 predictions and `.pcrsig` signatures against trixie's
//! systemd-measure 257 (the image's own systemd), on trixie's kernel and
//! stub; signatures also checked with `openssl pkeyutl -verify` as the TPM
//! checks them (RSASSA-PKCS1-v1_5 over the approval hash).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use measure::pcr::{ENTER_INITRD, SYSTEMD_PHASE_PATHS};
use measure::signature::{self, PcrSignature, PcrSignatures};
use measure::{Error, predict, predict_image};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha2::{Digest, Sha256};
use support::{calculate, file, run, systemd_measure};

/// Deterministic bytes that compress badly.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()[3]
        })
        .collect()
}

/// ":" (after the stub), then systemd-measure's default phase paths.
fn phases() -> Vec<&'static str> {
    let mut p = vec![":"];
    p.extend(SYSTEMD_PHASE_PATHS);
    p
}

/// An RSA key made by openssl: (private PEM path, public PEM path).
fn openssl_key(dir: &Path, bits: u32, exponent: u32) -> (PathBuf, PathBuf) {
    let key = dir.join(format!("key-{bits}-{exponent}.pem"));
    let public = dir.join(format!("pub-{bits}-{exponent}.pem"));
    run(Command::new("openssl")
        .args(["genpkey", "-algorithm", "RSA", "-pkeyopt"])
        .arg(format!("rsa_keygen_bits:{bits}"))
        .arg("-pkeyopt")
        .arg(format!("rsa_keygen_pubexp:{exponent}"))
        .arg("-out")
        .arg(&key));
    run(Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(&key)
        .arg("-out")
        .arg(&public));
    (key, public)
}

fn load(key: &Path, public: &Path) -> (RsaPrivateKey, RsaPublicKey) {
    let k = RsaPrivateKey::from_pkcs8_pem(&std::fs::read_to_string(key).unwrap()).unwrap();
    let p = RsaPublicKey::from_public_key_pem(&std::fs::read_to_string(public).unwrap()).unwrap();
    (k, p)
}

struct Uki {
    dir: tempfile::TempDir,
    /// (section, contents) as given to the stub builder.
    sections: Vec<(&'static str, Vec<u8>)>,
}

impl Uki {
    /// The sections of a CLIP OS UKI: trixie's kernel, an initrd, and
    /// `pcrpkey` if given.
    fn new(pcrpkey: Option<&[u8]>) -> Uki {
        let mut sections = vec![
            (".linux", std::fs::read(support::kernel()).unwrap()),
            (".osrel", b"ID=clipos\nVERSION_ID=5\n".to_vec()),
            (".cmdline", b"console=ttyS0 clip.slot=a".to_vec()),
            (".initrd", noise(100_003, 5)),
            (".uname", b"6.12.0-test".to_vec()),
            (
                ".sbat",
                b"sbat,1,SBAT Version,sbat,1,https://github.com/rhboot/shim/blob/main/SBAT.md\n\0"
                    .to_vec(),
            ),
        ];
        if let Some(k) = pcrpkey {
            sections.push((".pcrpkey", k.to_vec()));
        }
        Uki {
            dir: tempfile::tempdir().unwrap(),
            sections,
        }
    }

    fn slices(&self) -> Vec<(&str, &[u8])> {
        self.sections
            .iter()
            .map(|(n, d)| (*n, d.as_slice()))
            .collect()
    }

    /// The sections written to files, for systemd-measure.
    fn files(&self) -> Vec<(&'static str, PathBuf)> {
        self.sections
            .iter()
            .map(|(n, d)| (*n, file(self.dir.path(), &n[1..], d)))
            .collect()
    }

    fn measure_args(&self) -> Vec<String> {
        self.files()
            .iter()
            .map(|(n, p)| format!("--{}={}", &n[1..], p.display()))
            .collect()
    }
}

fn refs<'a>(files: &'a [(&'static str, PathBuf)]) -> Vec<(&'static str, &'a Path)> {
    files.iter().map(|(n, p)| (*n, p.as_path())).collect()
}

#[test]
fn calculate_matches_systemd_measure() {
    let dir = tempfile::tempdir().unwrap();
    let (_, public) = openssl_key(dir.path(), 2048, 65537);
    let uki = Uki::new(Some(&std::fs::read(&public).unwrap()));
    let ours = predict(&uki.slices()).unwrap();
    let theirs = calculate(&refs(&uki.files()), &phases());
    let ours: Vec<String> = phases().iter().map(|p| hex::encode(ours.at(p))).collect();
    assert_eq!(ours, theirs);

    // Every other section systemd-measure 257 takes, given in another order
    // than the stub measures them.
    let mut all = Uki::new(None);
    all.sections.reverse();
    for (name, seed) in [(".ucode", 1), (".splash", 2), (".dtb", 3), (".profile", 4)] {
        all.sections.insert(1, (name, noise(999, seed)));
    }
    let ours = predict(&all.slices()).unwrap();
    let theirs = calculate(&refs(&all.files()), &[":", ENTER_INITRD]);
    assert_eq!(
        [
            hex::encode(ours.after_stub),
            hex::encode(ours.at(ENTER_INITRD))
        ],
        [theirs[0].clone(), theirs[1].clone()]
    );
    // An empty file is skipped by both.
    let mut empty = Uki::new(None);
    empty.sections.push((".splash", Vec::new()));
    let ours = predict(&empty.slices()).unwrap();
    assert_eq!(
        hex::encode(ours.after_stub),
        calculate(&refs(&empty.files()), &[":"])[0]
    );
}

/// systemd-measure 257 measures the file of `--dtbauto` under the name
/// `.hwids` and that of `--hwids` under `.dtbauto` (its options and the
/// section enum disagree), while systemd-stub measures each section under
/// its own name: for those two sections, `systemd-measure` is not an
/// oracle, and we follow the stub.
#[test]
fn systemd_measure_257_swaps_dtbauto_and_hwids() {
    let dir = tempfile::tempdir().unwrap();
    let linux = file(dir.path(), "linux", b"L");
    let x = file(dir.path(), "x", b"X");
    let given_as_dtbauto = calculate(&[(".linux", &linux), (".dtbauto", &x)], &[":"]);
    let given_as_hwids = calculate(&[(".linux", &linux), (".hwids", &x)], &[":"]);
    let as_hwids = predict(&[(".linux", b"L"), (".hwids", b"X")]).unwrap();
    let as_dtbauto = predict(&[(".linux", b"L"), (".dtbauto", b"X")]).unwrap();
    assert_eq!(given_as_dtbauto[0], hex::encode(as_hwids.after_stub));
    assert_eq!(given_as_hwids[0], hex::encode(as_dtbauto.after_stub));
    assert_ne!(as_hwids.after_stub, as_dtbauto.after_stub);
}

/// A UKI built from trixie's stub and kernel: the prediction read from its
/// section table equals systemd-measure's on the files it was made of
/// (`.sbat` is the merged text the builder put in the stub's section).
#[test]
fn image_prediction_matches_systemd_measure() {
    let dir = tempfile::tempdir().unwrap();
    let (_, public) = openssl_key(dir.path(), 2048, 65537);
    let pem = std::fs::read(&public).unwrap();
    let mut uki = Uki::new(Some(&pem));
    let stub = std::fs::read(support::stub()).unwrap();
    let get = |name: &str| {
        uki.sections
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, d)| d.as_slice())
    };
    let image = uki::build(&uki::Inputs {
        stub: &stub,
        linux: get(".linux").unwrap(),
        initrds: vec![get(".initrd").unwrap()],
        cmdline: get(".cmdline"),
        os_release: get(".osrel"),
        uname: Some("6.12.0-test"),
        pcrpkey: Some(&pem),
        pcrsig: Some(b"{\"sha256\": []}"),
        ..Default::default()
    })
    .unwrap();
    let sbat = {
        let pe = pe::PeFile::parse(&image).unwrap();
        pe.section_contents(pe.section(".sbat").unwrap()).to_vec()
    };
    assert!(sbat.ends_with(b"\n\0"), "{sbat:?}");
    uki.sections.retain(|(n, _)| *n != ".sbat");
    uki.sections.push((".sbat", sbat));
    let prediction = predict_image(&image).unwrap();
    let names: Vec<&str> = prediction.sections.iter().map(|m| m.name).collect();
    assert_eq!(
        names,
        [
            ".linux", ".osrel", ".cmdline", ".initrd", ".uname", ".sbat", ".pcrpkey"
        ]
    );
    let theirs = calculate(&refs(&uki.files()), &phases());
    let ours: Vec<String> = phases()
        .iter()
        .map(|p| hex::encode(prediction.at(p)))
        .collect();
    assert_eq!(ours, theirs);
    assert_eq!(prediction, predict(&uki.slices()).unwrap());
}

fn sign_args(uki: &Uki, key: &Path, public: Option<&Path>, phases: &[&str]) -> Vec<String> {
    let mut args = vec!["sign".to_owned()];
    args.extend(uki.measure_args());
    args.push("--bank=sha256".to_owned());
    args.extend(phases.iter().map(|p| format!("--phase={p}")));
    args.push(format!("--private-key={}", key.display()));
    if let Some(p) = public {
        args.push(format!("--public-key={}", p.display()));
    }
    args
}

fn ours(uki: &Uki, key: &RsaPrivateKey, public: &RsaPublicKey, phases: &[&str]) -> PcrSignatures {
    let prediction = predict(&uki.slices()).unwrap();
    PcrSignatures(
        phases
            .iter()
            .map(|p| {
                PcrSignature::sign(key, Some(public), &prediction.at(p), &mut rand::rngs::OsRng)
                    .unwrap()
            })
            .collect(),
    )
}

#[test]
fn signature_json_matches_systemd_measure_sign_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let (key_path, public_path) = openssl_key(dir.path(), 2048, 65537);
    let (key, public) = load(&key_path, &public_path);
    let uki = Uki::new(Some(&std::fs::read(&public_path).unwrap()));
    // The CLIP OS policy (enter-initrd only), then systemd's four paths.
    for phases in [vec![ENTER_INITRD], SYSTEMD_PHASE_PATHS.to_vec()] {
        let mine = ours(&uki, &key, &public, &phases).to_systemd_measure_json();
        let args = sign_args(&uki, &key_path, Some(&public_path), &phases);
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_eq!(mine, systemd_measure(&argv), "phases {phases:?}");
        // The public key derived from the private one: the same.
        let args = sign_args(&uki, &key_path, None, &phases);
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_eq!(mine, systemd_measure(&argv), "phases {phases:?}");
    }
    // pkfp as openssl computes it: SHA-256 of the PKCS#1 RSAPublicKey DER
    // (i2d_PublicKey), not of the SubjectPublicKeyInfo.
    let der = run(Command::new("openssl")
        .args([
            "rsa",
            "-pubin",
            "-RSAPublicKey_out",
            "-outform",
            "DER",
            "-in",
        ])
        .arg(&public_path))
    .stdout;
    assert_eq!(
        signature::fingerprint(&public).unwrap(),
        <[u8; 32]>::from(Sha256::digest(&der))
    );
    // .pcrpkey as openssl writes a public key.
    assert_eq!(
        signature::public_key_pem(&public).unwrap(),
        std::fs::read_to_string(&public_path).unwrap()
    );
}

/// What TPM2_VerifySignature checks for TPM2_PolicyAuthorize with an empty
/// policyRef: RSASSA-PKCS1-v1_5 (SHA-256) over aHash = SHA-256(pol). openssl
/// verifies our signature over that digest, computed here from its
/// definition.
#[test]
fn signature_verifies_over_the_approval_hash() {
    let dir = tempfile::tempdir().unwrap();
    let (key_path, public_path) = openssl_key(dir.path(), 2048, 65537);
    let (key, public) = load(&key_path, &public_path);
    let value = [0x5a; 32];
    let sig = PcrSignature::sign(&key, None, &value, &mut rand::rngs::OsRng).unwrap();
    sig.verify(&public).unwrap();
    let a_hash: [u8; 32] = Sha256::digest(sig.policy).into();
    assert_eq!(a_hash, tpm2::policy::approval_hash(&sig.policy, &[]));
    let digest = file(dir.path(), "ahash", &a_hash);
    let sigfile = file(dir.path(), "sig", &sig.signature);
    let out = run(Command::new("openssl")
        .args(["pkeyutl", "-verify", "-pubin", "-inkey"])
        .arg(&public_path)
        .args(["-pkeyopt", "digest:sha256", "-in"])
        .arg(&digest)
        .arg("-sigfile")
        .arg(&sigfile));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "Signature Verified Successfully"
    );
    // Signing pol as a message (systemd's EVP_DigestSign) gives the same bytes.
    let as_message = {
        use rsa::signature::{SignatureEncoding, Signer};
        rsa::pkcs1v15::SigningKey::<Sha256>::new(key.clone())
            .sign(&sig.policy)
            .to_vec()
    };
    assert_eq!(as_message, sig.signature);

    // Another key's signature, or a changed policy, is refused.
    let (other_path, other_public_path) = openssl_key(dir.path(), 2048, 3);
    let _ = other_path;
    let other_public =
        RsaPublicKey::from_public_key_pem(&std::fs::read_to_string(&other_public_path).unwrap())
            .unwrap();
    let fingerprint = hex::encode(sig.key_fingerprint);
    let policy = hex::encode(sig.policy);
    assert_eq!(
        sig.verify(&other_public).unwrap_err().to_string(),
        format!(
            "the PCR signature for policy {policy} does not verify with the public key {fingerprint}"
        )
    );
    let mut changed = sig.clone();
    changed.policy[0] ^= 1;
    assert!(matches!(
        changed.verify(&public),
        Err(Error::BadSignature { .. })
    ));
}

#[test]
fn keys_a_tpm_cannot_load_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let value = [1; 32];
    let (k, p) = openssl_key(dir.path(), 3072, 65537);
    let (key, _) = load(&k, &p);
    assert_eq!(
        PcrSignature::sign(&key, None, &value, &mut rand::rngs::OsRng)
            .unwrap_err()
            .to_string(),
        "the PCR-policy key is RSA-3072; it must be RSA-2048, the size every TPM 2.0 loads for TPM2_VerifySignature"
    );
    let (k, p) = openssl_key(dir.path(), 2048, 3);
    let (key, _) = load(&k, &p);
    assert_eq!(
        PcrSignature::sign(&key, None, &value, &mut rand::rngs::OsRng),
        Err(Error::KeyExponent {
            exponent: "3".into()
        })
    );
    let (k2, p2) = openssl_key(dir.path(), 2048, 65537);
    let (_, other) = load(&k2, &p2);
    assert_eq!(
        PcrSignature::sign(&key, Some(&other), &value, &mut rand::rngs::OsRng),
        Err(Error::KeyMismatch)
    );
}
