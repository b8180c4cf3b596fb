//! Sealing and unsealing against swtpm: the policy of PCR 7, the signed
//! PCR 11 policy, the PIN, and what crosses the bus.

mod common;

use common::*;
use sha2::{Digest, Sha256};
use tpm2::swtpm::Swtpm;
use tpm2::transport::Recording;
use tpm2::{
    Error, ErrorKind, PcrValue, PolicyKey, PrimaryAlg, SealPolicy, Tpm, UnsealInputs, seal, unseal,
};

const SECRET: &[u8] = b"volume key: 0123456789abcdef0123456789abcdef";

#[test]
fn pcr7_round_trip_then_refused_after_pcr7_changes() {
    let sw = Swtpm::start();
    let mut tpm = sw.tpm();
    tpm.pcr_extend(7, &[1; 32]).unwrap();
    let policy = SealPolicy {
        pcr7: Some(PcrValue::Current),
        ..Default::default()
    };
    let sealed = seal(&mut tpm, SECRET, &policy).unwrap();
    assert_eq!(sealed.primary_alg, PrimaryAlg::Ecc);
    assert_eq!(
        unseal(&mut tpm, &sealed, &UnsealInputs::default())
            .unwrap()
            .as_slice(),
        SECRET
    );

    tpm.pcr_extend(7, &[2; 32]).unwrap();
    let err = unseal(&mut tpm, &sealed, &UnsealInputs::default()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PolicyRefused);
    let msg = err.to_string();
    assert!(
        msg.starts_with("PCR 7 changed since sealing: the policy digest is now "),
        "{msg}"
    );
    assert!(msg.ends_with(&format!(
        "the secret was sealed to {}",
        hex::encode(sealed.policy_hash)
    )));
}

#[test]
fn pcr12_sealed_with_pcr7_refuses_once_the_stub_adds_anything() {
    let sw = Swtpm::start();
    let mut tpm = sw.tpm();
    tpm.pcr_extend(7, &[1; 32]).unwrap();
    let sealed = seal(
        &mut tpm,
        SECRET,
        &SealPolicy {
            pcr7: Some(PcrValue::Current),
            pcr12: Some(PcrValue::Current),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(sealed.pcrs.pcrs().collect::<Vec<_>>(), [7, 12]);
    assert_eq!(
        unseal(&mut tpm, &sealed, &UnsealInputs::default())
            .unwrap()
            .as_slice(),
        SECRET
    );
    // A command line addition measured by systemd-stub.
    tpm.pcr_extend(12, &[3; 32]).unwrap();
    let err = unseal(&mut tpm, &sealed, &UnsealInputs::default()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PolicyRefused);
    assert!(
        err.to_string()
            .starts_with("PCR 7+12 changed since sealing: the policy digest is now "),
        "{err}"
    );
}

#[test]
fn a_predicted_pcr7_value_unseals_once_reached() {
    let sw = Swtpm::start();
    let mut tpm = sw.tpm();
    let now = pcr(&mut tpm, 7);
    let next: [u8; 32] = Sha256::new()
        .chain_update(now)
        .chain_update([9; 32])
        .finalize()
        .into();
    let sealed = seal(
        &mut tpm,
        SECRET,
        &SealPolicy {
            pcr7: Some(PcrValue::Value(next)),
            ..Default::default()
        },
    )
    .unwrap();
    let err = unseal(&mut tpm, &sealed, &UnsealInputs::default()).unwrap_err();
    assert!(matches!(err, Error::PcrChanged { .. }), "{err}");
    tpm.pcr_extend(7, &[9; 32]).unwrap();
    assert_eq!(
        unseal(&mut tpm, &sealed, &UnsealInputs::default())
            .unwrap()
            .as_slice(),
        SECRET
    );
}

#[test]
fn signed_pcr11_policy() {
    let sw = Swtpm::start();
    let mut tpm = sw.tpm();
    let (key, public) = policy_key_pair();
    let (other_key, _) = policy_key_pair();
    tpm.pcr_extend(11, &[0x11; 32]).unwrap();
    let sealed = seal(
        &mut tpm,
        SECRET,
        &SealPolicy {
            pcr7: Some(PcrValue::Current),
            pcr12: None,
            signed_pcr11_key: Some(public.clone()),
            pin: None,
        },
    )
    .unwrap();
    assert_eq!(sealed.pubkey_pcrs.pcrs().collect::<Vec<_>>(), [11]);
    assert_eq!(sealed.pcrs.pcrs().collect::<Vec<_>>(), [7]);

    // The signature for the PCR 11 value now unseals.
    let (approved, sig) = signed_current_pcr11(&mut tpm, &key);
    let inputs = UnsealInputs {
        signature: Some((approved, &sig)),
        pin: None,
    };
    assert_eq!(
        unseal(&mut tpm, &sealed, &inputs).unwrap().as_slice(),
        SECRET
    );

    // A signature by another key over the same policy: the TPM refuses it.
    let forged = sign(&other_key, &approved);
    let err = unseal(
        &mut tpm,
        &sealed,
        &UnsealInputs {
            signature: Some((approved, &forged)),
            pin: None,
        },
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PolicyRefused);
    assert_eq!(
        err.to_string(),
        format!(
            "the signature over the PCR policy is not valid for the PCR-policy key {}: \
             TPM_RC_SIGNATURE (0x2db) in parameter 2",
            hex::encode(public.name())
        )
    );

    // After clip-init extends PCR 11, the same signature no longer fits.
    tpm.pcr_extend(11, &[0xcc; 32]).unwrap();
    let err = unseal(&mut tpm, &sealed, &inputs).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PolicyRefused);
    let current = pcr11_policy(&pcr(&mut tpm, 11));
    assert_eq!(
        err.to_string(),
        format!(
            "PCR 11 does not match the signed policy: the TPM's PCR 11 policy digest is {}, \
             the signature approves {}",
            hex::encode(current),
            hex::encode(approved)
        )
    );

    // A new signature for the new PCR 11 value (another UKI, signed by the
    // same key) unseals again, with no re-sealing.
    let (approved, sig) = signed_current_pcr11(&mut tpm, &key);
    let inputs = UnsealInputs {
        signature: Some((approved, &sig)),
        pin: None,
    };
    assert_eq!(
        unseal(&mut tpm, &sealed, &inputs).unwrap().as_slice(),
        SECRET
    );

    // PCR 7 still counts.
    tpm.pcr_extend(7, &[7; 32]).unwrap();
    let err = unseal(&mut tpm, &sealed, &inputs).unwrap_err();
    assert!(
        matches!(err, Error::PcrChanged { ref pcrs, .. } if pcrs == "7"),
        "{err}"
    );
}

#[test]
fn next_boot_unseals_again_after_pcr11_was_extended() {
    let mut sw = Swtpm::start();
    let (key, public) = policy_key_pair();
    let (sealed, inputs_sig) = {
        let mut tpm = sw.tpm();
        let sealed = seal(
            &mut tpm,
            SECRET,
            &SealPolicy {
                pcr7: Some(PcrValue::Current),
                pcr12: None,
                signed_pcr11_key: Some(public),
                pin: None,
            },
        )
        .unwrap();
        let sig = signed_current_pcr11(&mut tpm, &key);
        // clip-init, after unlocking:
        tpm.pcr_extend(11, &[0xee; 32]).unwrap();
        let err = unseal(
            &mut tpm,
            &sealed,
            &UnsealInputs {
                signature: Some((sig.0, &sig.1)),
                pin: None,
            },
        )
        .unwrap_err();
        assert!(matches!(err, Error::SignedPolicyMismatch { .. }), "{err}");
        (sealed, sig)
    };
    sw.reboot();
    let mut tpm = sw.tpm();
    let inputs = UnsealInputs {
        signature: Some((inputs_sig.0, &inputs_sig.1)),
        pin: None,
    };
    assert_eq!(
        unseal(&mut tpm, &sealed, &inputs).unwrap().as_slice(),
        SECRET
    );
}

#[test]
fn pin_right_wrong_and_missing() {
    let sw = Swtpm::start();
    let mut tpm = sw.tpm();
    let sealed = seal(
        &mut tpm,
        SECRET,
        &SealPolicy {
            pcr7: Some(PcrValue::Current),
            pcr12: None,
            signed_pcr11_key: None,
            pin: Some(b"1234"),
        },
    )
    .unwrap();
    assert!(sealed.pin);
    let with = |pin: Option<&'static [u8]>| UnsealInputs {
        signature: None,
        pin,
    };
    let err = unseal(&mut tpm, &sealed, &with(Some(b"1235"))).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BadPin);
    assert_eq!(
        err.to_string(),
        "the PIN is wrong: TPM_RC_AUTH_FAIL (0x98e) in session 1; each failure counts toward \
         the TPM's dictionary-attack lockout"
    );
    assert_eq!(
        unseal(&mut tpm, &sealed, &with(None))
            .unwrap_err()
            .to_string(),
        "the secret was sealed with a PIN and no PIN was given"
    );
    assert_eq!(
        unseal(&mut tpm, &sealed, &with(Some(b"1234")))
            .unwrap()
            .as_slice(),
        SECRET
    );
}

#[test]
fn repeated_wrong_pins_lock_the_tpm_out() {
    let sw = Swtpm::start();
    let mut tpm = sw.tpm();
    let sealed = seal(
        &mut tpm,
        SECRET,
        &SealPolicy {
            pin: Some(b"right"),
            ..Default::default()
        },
    )
    .unwrap();
    let wrong = UnsealInputs {
        signature: None,
        pin: Some(b"wrong"),
    };
    let mut kinds = Vec::new();
    for _ in 0..40 {
        let kind = unseal(&mut tpm, &sealed, &wrong).unwrap_err().kind();
        kinds.push(kind);
        if kind == ErrorKind::Lockout {
            break;
        }
    }
    assert_eq!(kinds.first(), Some(&ErrorKind::BadPin));
    assert_eq!(kinds.last(), Some(&ErrorKind::Lockout), "{kinds:?}");
    let err = unseal(
        &mut tpm,
        &sealed,
        &UnsealInputs {
            signature: None,
            pin: Some(b"right"),
        },
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the TPM is in dictionary-attack lockout after too many wrong PINs: TPM_RC_LOCKOUT \
         (0x921); it refuses until the lockout recovery time has passed"
    );
}

#[test]
fn missing_signature_and_cleared_tpm_are_named() {
    let sw = Swtpm::start();
    let mut tpm = sw.tpm();
    let (_, public) = policy_key_pair();
    let sealed = seal(
        &mut tpm,
        SECRET,
        &SealPolicy {
            signed_pcr11_key: Some(public),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(
        unseal(&mut tpm, &sealed, &UnsealInputs::default())
            .unwrap_err()
            .to_string(),
        "the secret was sealed to a signed PCR 11 policy and no signature was given"
    );
    // Another TPM (or this one cleared): other seeds, another SRK.
    let other = Swtpm::start();
    let mut tpm = other.tpm();
    let inputs = UnsealInputs {
        signature: Some(([0; 32], &[1; 256])),
        pin: None,
    };
    let err = unseal(&mut tpm, &sealed, &inputs).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PolicyRefused);
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!(
            "the TPM's storage root key is not the one the secret was sealed under (sealed under {}, this TPM has no key at 0x81000001, ",
            hex::encode(&sealed.srk_name)
        )),
        "{msg}"
    );
}

#[test]
fn the_secret_never_crosses_the_bus_in_clear() {
    let sw = Swtpm::start();
    let (key, public) = policy_key_pair();
    let pin: &[u8] = b"a PIN of some length";
    let mut tpm = Tpm::new(Recording::new(sw.socket()));
    let sealed = seal(
        &mut tpm,
        SECRET,
        &SealPolicy {
            pcr7: Some(PcrValue::Current),
            pcr12: None,
            signed_pcr11_key: Some(public),
            pin: Some(pin),
        },
    )
    .unwrap();
    let (approved, sig) = signed_current_pcr11(&mut tpm, &key);
    let got = unseal(
        &mut tpm,
        &sealed,
        &UnsealInputs {
            signature: Some((approved, &sig)),
            pin: Some(pin),
        },
    )
    .unwrap();
    assert_eq!(got.as_slice(), SECRET);
    let exchanges = &tpm.transport().exchanges;
    let unseals = exchanges
        .iter()
        .filter(|e| e.command[6..10] == [0, 0, 1, 0x5e] && e.response[6..10] == [0; 4])
        .count();
    assert_eq!(unseals, 1, "one TPM2_Unseal that succeeded");
    let auth_value = Sha256::digest(pin);
    for (i, e) in exchanges.iter().enumerate() {
        for bytes in [&e.command, &e.response] {
            assert!(!contains(bytes, SECRET), "secret in clear in exchange {i}");
            assert!(
                !contains(bytes, &SECRET[..16]),
                "part of the secret in exchange {i}"
            );
            assert!(
                !contains(bytes, &auth_value),
                "the PIN's authValue in exchange {i}"
            );
            assert!(!contains(bytes, pin), "the PIN in exchange {i}");
        }
    }
}

/// The control for the test above: the same recording catches the secret
/// when the Unseal runs without an encrypting session.
#[test]
fn without_an_encrypt_session_the_secret_is_on_the_bus() {
    let sw = Swtpm::start();
    let mut tpm = sw.tpm();
    let sealed = seal(&mut tpm, SECRET, &SealPolicy::default()).unwrap();
    drop(tpm);
    let mut tpm = Tpm::new(Recording::new(sw.socket()));
    let (srk, _) = tpm2::seal::get_or_create_srk(&mut tpm).unwrap();
    let item = tpm.load(&srk, &sealed.private, &sealed.public).unwrap();
    let mut session = tpm
        .start_auth_session(Some(&srk), tpm2::SessionType::Policy)
        .unwrap();
    let got = tpm.unseal_in_clear(&item, &mut session, &[]).unwrap();
    assert_eq!(got.as_slice(), SECRET);
    let last = tpm.transport().exchanges.last().unwrap();
    assert!(contains(&last.response, SECRET));
}

/// Without our own check of the policy digest, the TPM itself refuses:
/// TPM2_Unseal answers TPM_RC_POLICY_FAIL in the policy session.
#[test]
fn the_tpm_enforces_the_policy() {
    let sw = Swtpm::start();
    let mut tpm = sw.tpm();
    let sealed = seal(
        &mut tpm,
        SECRET,
        &SealPolicy {
            pcr7: Some(PcrValue::Current),
            ..Default::default()
        },
    )
    .unwrap();
    tpm.pcr_extend(7, &[3; 32]).unwrap();
    let (srk, _) = tpm2::seal::get_or_create_srk(&mut tpm).unwrap();
    let item = tpm.load(&srk, &sealed.private, &sealed.public).unwrap();
    let mut enc = tpm
        .start_auth_session(Some(&srk), tpm2::SessionType::Hmac)
        .unwrap();
    let mut session = tpm
        .start_auth_session(Some(&srk), tpm2::SessionType::Policy)
        .unwrap();
    tpm.policy_pcr(&session, sealed.pcrs).unwrap();
    let err = tpm.unseal(&item, &mut session, &[], &mut enc).unwrap_err();
    assert_eq!(
        err.to_string(),
        "TPM2_Unseal failed: TPM_RC_POLICY_FAIL (0x99d) in session 1"
    );
    assert_eq!(err.response_code(), Some(tpm2::ResponseCode(0x99d)));
}

#[test]
fn an_existing_rsa_srk_is_used() {
    let sw = Swtpm::start();
    let mut tpm = sw.tpm();
    let rsa = tpm
        .create_primary(&tpm2::public::Public::srk_rsa())
        .unwrap();
    tpm.evict_control(&rsa, tpm2::seal::SRK_HANDLE).unwrap();
    tpm.flush_context(rsa.handle).unwrap();
    let (key, public) = policy_key_pair();
    let sealed = seal(
        &mut tpm,
        SECRET,
        &SealPolicy {
            pcr7: Some(PcrValue::Current),
            pcr12: None,
            signed_pcr11_key: Some(public),
            pin: Some(b"0000"),
        },
    )
    .unwrap();
    assert_eq!(sealed.primary_alg, PrimaryAlg::Rsa);
    assert_eq!(sealed.srk_name, rsa.name);
    let (approved, sig) = signed_current_pcr11(&mut tpm, &key);
    let got = unseal(
        &mut tpm,
        &sealed,
        &UnsealInputs {
            signature: Some((approved, &sig)),
            pin: Some(b"0000"),
        },
    )
    .unwrap();
    assert_eq!(got.as_slice(), SECRET);
}

/// What the LUKS2 token stores reads back into the same sealed secret,
/// which unseals.
#[test]
fn token_fields_round_trip() {
    let sw = Swtpm::start();
    let mut tpm = sw.tpm();
    let (key, public) = policy_key_pair();
    let sealed = seal(
        &mut tpm,
        SECRET,
        &SealPolicy {
            pcr7: Some(PcrValue::Current),
            pcr12: None,
            signed_pcr11_key: Some(public.clone()),
            pin: Some(b"9"),
        },
    )
    .unwrap();
    let pcrs: Vec<u32> = sealed.pcrs.pcrs().collect();
    let pubkey_pcrs: Vec<u32> = sealed.pubkey_pcrs.pcrs().collect();
    let pem = public.pem();
    let again = tpm2::Sealed::from_token(
        &sealed.blob(),
        &hex::decode(hex::encode(sealed.policy_hash)).unwrap(),
        &pcrs,
        &pubkey_pcrs,
        Some(&pem),
        PrimaryAlg::parse(sealed.primary_alg.as_str()).unwrap(),
        &sealed.srk_esys_tr(),
        sealed.pin,
    )
    .unwrap();
    assert_eq!(again, sealed);
    assert_eq!((pcrs, pubkey_pcrs), (vec![7], vec![11]));
    let (approved, sig) = signed_current_pcr11(&mut tpm, &key);
    let inputs = UnsealInputs {
        signature: Some((approved, &sig)),
        pin: Some(b"9"),
    };
    assert_eq!(
        unseal(&mut tpm, &again, &inputs).unwrap().as_slice(),
        SECRET
    );
    // Damaged fields are refused, naming the field.
    let refused = |blob: &[u8], hash: &[u8], srk: &[u8]| {
        tpm2::Sealed::from_token(blob, hash, &[7], &[], None, PrimaryAlg::Ecc, srk, false)
            .unwrap_err()
            .to_string()
    };
    let (blob, srk) = (sealed.blob(), sealed.srk_esys_tr());
    assert_eq!(
        refused(&blob[..40], &[0; 32], &srk),
        "malformed TPM data: TPM2B_PRIVATE in the blob at byte 0"
    );
    assert_eq!(
        refused(&blob, &[0; 31], &srk),
        "LUKS2 token field tpm2-policy-hash: 31 bytes, a SHA-256 digest has 32"
    );
    let mut other_handle = srk.clone();
    other_handle[3] = 2;
    assert_eq!(
        refused(&blob, &[0; 32], &other_handle),
        "LUKS2 token field tpm2_srk: handle 0x81000002, not 0x81000001"
    );
    let mut other_name = srk.clone();
    other_name[10] ^= 1;
    let msg = refused(&blob, &[0; 32], &other_name);
    assert!(
        msg.starts_with("LUKS2 token field tpm2_srk: its Name 000b"),
        "{msg}"
    );
}

#[test]
fn policy_key_from_spki_der_and_pem_is_the_same_key() {
    let (key, public) = policy_key_pair();
    let _ = key;
    assert_eq!(
        PolicyKey::from_spki_der(&public.spki_der()).unwrap(),
        public
    );
    assert_eq!(PolicyKey::from_pem(&public.pem()).unwrap(), public);
}
