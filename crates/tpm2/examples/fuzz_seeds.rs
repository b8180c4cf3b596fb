//! Writes the seeds of the `response` fuzz target: real responses of a
//! private swtpm to every command the crate reads a response of, each
//! prefixed with its selector byte (`fuzz/src/lib.rs`), plus a sealed blob
//! and a serialized SRK handle.
//!
//! `cargo run -p tpm2 --features swtpm --example fuzz_seeds -- crates/tpm2/fuzz/corpus/response`

use rsa::pkcs1v15::SigningKey;
use rsa::signature::{SignatureEncoding, Signer};
use sha2::Sha256;
use tpm2::commands::cc;
use tpm2::policy::{self, PcrSelection};
use tpm2::swtpm::Swtpm;
use tpm2::transport::Recording;
use tpm2::{PcrValue, PolicyKey, SealPolicy, Tpm, UnsealInputs};

/// Command codes in the order of the fuzz target's shapes.
const CODES: [(u32, &str); 11] = [
    (cc::CREATE_PRIMARY, "create-primary"),
    (cc::CREATE, "create"),
    (cc::LOAD, "load"),
    (cc::LOAD_EXTERNAL, "load-external"),
    (cc::READ_PUBLIC, "read-public"),
    (cc::VERIFY_SIGNATURE, "verify-signature"),
    (cc::PCR_READ, "pcr-read"),
    (cc::GET_RANDOM, "get-random"),
    (cc::START_AUTH_SESSION, "start-auth-session"),
    (cc::UNSEAL, "unseal"),
    (cc::POLICY_GET_DIGEST, "policy-get-digest"),
];

fn main() {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).expect("output directory"));
    std::fs::create_dir_all(&dir).unwrap();
    let sw = Swtpm::start();
    let mut tpm = Tpm::new(Recording::new(sw.socket()));
    let key = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).unwrap();
    let public = PolicyKey::from_rsa(&key.to_public_key()).unwrap();
    let sealed = tpm2::seal(
        &mut tpm,
        b"fuzz seed secret",
        &SealPolicy {
            pcr7: Some(PcrValue::Current),
            pcr12: None,
            signed_pcr11_key: Some(public),
            pin: Some(b"1234"),
        },
    )
    .unwrap();
    let pcr11 = tpm2::pcr_read(&mut tpm, &[11]).unwrap()[0].1;
    let approved = policy::pcr(&policy::EMPTY, PcrSelection::of(&[11]).unwrap(), &[pcr11]);
    let sig = SigningKey::<Sha256>::new(key).sign(&approved).to_vec();
    tpm2::unseal(
        &mut tpm,
        &sealed,
        &UnsealInputs {
            signature: Some((approved, &sig)),
            pin: Some(b"1234"),
        },
    )
    .unwrap();
    tpm2::pcr_read(&mut tpm, &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]).unwrap();
    tpm.get_random(32).unwrap();
    // An error response: a wrong PIN.
    let _ = tpm2::unseal(
        &mut tpm,
        &sealed,
        &UnsealInputs {
            signature: Some((approved, &sig)),
            pin: Some(b"4321"),
        },
    );
    let exchanges = &tpm.transport().exchanges;
    for (selector, (code, name)) in CODES.iter().enumerate() {
        let found = exchanges
            .iter()
            .find(|e| e.command[6..10] == code.to_be_bytes() && e.response[6..10] == [0; 4])
            .unwrap_or_else(|| panic!("no successful {name} recorded"));
        let mut seed = vec![u8::try_from(selector).unwrap()];
        seed.extend_from_slice(&found.response);
        std::fs::write(dir.join(format!("seed-{name}")), seed).unwrap();
    }
    let error = exchanges
        .iter()
        .find(|e| e.command[6..10] == cc::UNSEAL.to_be_bytes() && e.response[6..10] != [0; 4])
        .expect("a failed unseal");
    std::fs::write(
        dir.join("seed-error"),
        [&[9u8][..], &error.response].concat(),
    )
    .unwrap();
    std::fs::write(
        dir.join("seed-blob"),
        [&[11u8][..], &sealed.blob()].concat(),
    )
    .unwrap();
    let tr = sealed.srk_esys_tr();
    std::fs::write(dir.join("seed-esys-tr"), [&[12u8][..], &tr].concat()).unwrap();
}
