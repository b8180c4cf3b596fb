//! The TPM backend against swtpm: the NV index's definition, raising from
//! the initrd, refusals from "userspace" (PCR 11 past the signed value),
//! and the state's seal bound to the minimum by PolicyNV.

use contract::Version;
use rollback::tpm::{self, NV_INDEX, NvState, Raised};
use rsa::RsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::signature::{SignatureEncoding, Signer};
use sha2::{Digest, Sha256};
use tpm2::nv::{NvPublic, Op, attr_nv, cc};
use tpm2::policy::{self, PcrSelection, PolicyDigest};
use tpm2::swtpm::Swtpm;
use tpm2::{PcrValue, PolicyKey, SealPolicy, SessionType, Tpm, Transport, UnsealInputs};

const SECRET: &[u8] = b"the state partition's key";

fn key_pair() -> (RsaPrivateKey, PolicyKey) {
    let private = RsaPrivateKey::new(&mut rand_core::OsRng, 2048).unwrap();
    let public = PolicyKey::from_rsa(&private.to_public_key()).unwrap();
    (private, public)
}

/// RSASSA-PKCS1-v1_5 SHA-256 over approved || policyRef (aHash).
fn sign(key: &RsaPrivateKey, approved: &PolicyDigest, policy_ref: &[u8]) -> Vec<u8> {
    let mut message = approved.to_vec();
    message.extend_from_slice(policy_ref);
    SigningKey::<Sha256>::new(key.clone())
        .sign(&message)
        .to_vec()
}

fn pcr11<T: Transport>(tpm: &mut Tpm<T>) -> [u8; 32] {
    tpm2::pcr_read(tpm, &[11]).unwrap()[0].1
}

/// The `.pcrsig` approval of the current PCR 11 (policyRef "").
fn pcrsig<T: Transport>(tpm: &mut Tpm<T>, key: &RsaPrivateKey) -> (PolicyDigest, Vec<u8>) {
    let sel = PcrSelection::of(&[11]).unwrap();
    let approved = policy::pcr(&policy::EMPTY, sel, &[pcr11(tpm)]);
    let sig = sign(key, &approved, &[]);
    (approved, sig)
}

fn v(s: &str) -> u64 {
    rollback::index(&Version::parse(s).unwrap()).unwrap()
}

fn enter_initrd<T: Transport>(tpm: &mut Tpm<T>) {
    tpm.pcr_extend(11, &Sha256::digest(b"enter-initrd").into())
        .unwrap();
}

fn leave_initrd<T: Transport>(tpm: &mut Tpm<T>) {
    tpm.pcr_extend(11, &Sha256::digest(b"leave-initrd").into())
        .unwrap();
}

#[test]
fn define_raise_read_and_never_lower() {
    let sw = Swtpm::start();
    let mut tpm = sw.tpm();
    let (key, public) = key_pair();
    enter_initrd(&mut tpm);
    let (approved, sig) = pcrsig(&mut tpm, &key);

    assert_eq!(tpm::read(&mut tpm, &public).unwrap(), NvState::Missing);
    // The first raise defines the index and writes it.
    assert_eq!(
        tpm::raise(&mut tpm, &public, (&approved, &sig), v("1.0.0")).unwrap(),
        Raised::Raised {
            from: None,
            to: v("1.0.0")
        }
    );
    assert_eq!(
        tpm::read(&mut tpm, &public).unwrap(),
        NvState::Minimum(0x0001_0000_0000_ffff)
    );
    // The TPM's public area is exactly ours, written.
    let (area, name) = tpm.nv_read_public(NV_INDEX).unwrap();
    assert_eq!(area, tpm::nv_public(&public).written());
    assert_eq!(name, tpm::nv_name(&public));
    assert_eq!(
        area.attributes, 0x2206_1008,
        "WRITTEN | NO_DA | AUTHREAD | OWNERREAD | WRITEALL | POLICYWRITE"
    );

    assert_eq!(
        tpm::raise(&mut tpm, &public, (&approved, &sig), v("2.0.0-rc.1")).unwrap(),
        Raised::Raised {
            from: Some(v("1.0.0")),
            to: v("2.0.0-rc.1")
        }
    );
    // Lowering is a no-op: clip-init only raises.
    assert_eq!(
        tpm::raise(&mut tpm, &public, (&approved, &sig), v("1.5.0")).unwrap(),
        Raised::Unchanged {
            current: v("2.0.0-rc.1")
        }
    );
    assert_eq!(
        tpm::read(&mut tpm, &public).unwrap(),
        NvState::Minimum(v("2.0.0-rc.1"))
    );
    assert_eq!(tpm::describe_index(v("2.0.0-rc.1")), "2.0.0-rc.1");

    // clip-init's check before unsealing.
    let old = rollback::Indexed::new(Version::parse("1.9.0").unwrap()).unwrap();
    assert_eq!(
        tpm::check(&mut tpm, &public, &old).unwrap_err().to_string(),
        "version 1.9.0 is below the device's minimum version 2.0.0-rc.1 (anti-rollback)"
    );
    let new = rollback::Indexed::new(Version::parse("2.0.0").unwrap()).unwrap();
    assert_eq!(
        tpm::check(&mut tpm, &public, &new).unwrap(),
        Some(v("2.0.0-rc.1"))
    );
}

#[test]
fn userspace_cannot_write_the_index() {
    let sw = Swtpm::start();
    let mut tpm = sw.tpm();
    let (key, public) = key_pair();
    enter_initrd(&mut tpm);
    let (approved, sig) = pcrsig(&mut tpm, &key);
    tpm::raise(&mut tpm, &public, (&approved, &sig), v("3.0.0")).unwrap();
    // switch_root: PCR 11 leaves the signed value.
    leave_initrd(&mut tpm);

    // Through the library: the signature no longer fits PCR 11.
    let err = tpm::raise(&mut tpm, &public, (&approved, &sig), v("4.0.0")).unwrap_err();
    assert!(
        err.to_string().starts_with(
            "cannot raise the anti-rollback NV index 0x0130c105: the TPM's PCR 11 policy digest is "
        ),
        "{err}"
    );
    let name = tpm::nv_name(&public);
    let low = v("1.0.0").to_be_bytes();

    // Around the library, as root would: PolicyPCR(11) then PolicyAuthorize
    // with the genuine .pcrsig approval: the TPM refuses the authorization.
    let session = tpm.start_auth_session(None, SessionType::Policy).unwrap();
    tpm.policy_pcr(&session, PcrSelection::of(&[11]).unwrap())
        .unwrap();
    let err = tpm::authorize(&mut tpm, &public, &approved, &[], &sig, &session).unwrap_err();
    assert_eq!(
        err.to_string(),
        "anti-rollback NV index 0x0130c105: PolicyAuthorize: TPM2_PolicyAuthorize failed: TPM_RC_VALUE (0x1c4) in parameter 1"
    );
    let _ = tpm.flush_context(session.handle());

    // Without PolicyAuthorize: the write's policy check fails.
    let mut session = tpm.start_auth_session(None, SessionType::Policy).unwrap();
    tpm.policy_command_code(&session, cc::NV_WRITE).unwrap();
    let err = tpm
        .nv_write_policy(NV_INDEX, &name, &low, 0, &mut session)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "TPM2_NV_Write failed: TPM_RC_POLICY_FAIL (0x99d) in session 1"
    );
    let _ = tpm.flush_session(&mut session);

    // With the index's authValue (empty): AUTHWRITE is not set.
    let err = tpm.nv_write_password(NV_INDEX, &low, 0).unwrap_err();
    assert_eq!(
        err.to_string(),
        "TPM2_NV_Write failed: TPM_RC_AUTH_UNAVAILABLE (0x12f)"
    );
    assert_eq!(
        tpm::read(&mut tpm, &public).unwrap(),
        NvState::Minimum(v("3.0.0"))
    );
}

#[test]
fn a_redefined_index_is_unwritten_or_foreign() {
    let sw = Swtpm::start();
    let mut tpm = sw.tpm();
    let (key, public) = key_pair();
    enter_initrd(&mut tpm);
    let (approved, sig) = pcrsig(&mut tpm, &key);
    tpm::raise(&mut tpm, &public, (&approved, &sig), v("3.0.0")).unwrap();
    // The owner (empty owner password) deletes it and defines one with a
    // write policy of its own: clip-init does not trust it.
    tpm.nv_undefine_space(NV_INDEX).unwrap();
    let foreign = NvPublic::new(
        NV_INDEX,
        attr_nv::AUTHWRITE | attr_nv::AUTHREAD | attr_nv::NO_DA,
        [0; 32],
        8,
    );
    tpm.nv_define_space(&foreign).unwrap();
    let err = tpm::read(&mut tpm, &public).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "anti-rollback NV index 0x0130c105 is not ours: its public area is attributes 0x02040004, policy {}, size 8, expected attributes 0x02061008, policy {}, size 8 (attributes without WRITTEN, write policy, size)",
            hex::encode([0u8; 32]),
            hex::encode(tpm::write_policy(&public))
        )
    );
    // Redefined as ours: unwritten, and only the initrd can write it.
    tpm.nv_undefine_space(NV_INDEX).unwrap();
    tpm::define(&mut tpm, &public).unwrap();
    assert_eq!(tpm::read(&mut tpm, &public).unwrap(), NvState::Unwritten);
}

/// Seals as clip-init does after migration: PolicyAuthorize(key,
/// "clip.rollback"), PCR 7.
fn seal_bound<T: Transport>(tpm: &mut Tpm<T>, public: &PolicyKey) -> tpm2::Sealed {
    let sealed = tpm2::seal_bound(
        tpm,
        SECRET,
        &SealPolicy {
            pcr7: Some(PcrValue::Current),
            pcr12: None,
            signed_pcr11_key: Some(public.clone()),
            pin: None,
        },
        tpm::POLICY_REF,
    )
    .unwrap();
    let sel = PcrSelection::of(&[7]).unwrap();
    let pcr7 = tpm2::pcr_read(tpm, &[7]).unwrap()[0].1;
    assert_eq!(
        sealed.policy_hash,
        policy::pcr(&tpm::seal_authorize(public), sel, &[pcr7])
    );
    sealed
}

#[test]
fn the_seal_is_bound_to_the_minimum() {
    let sw = Swtpm::start();
    let mut tpm = sw.tpm();
    let (key, public) = key_pair();
    enter_initrd(&mut tpm);
    let pcr = pcr11(&mut tpm);
    // Each release's build signs PolicyPCR(11) + PolicyNV(NV <= own index)
    // with policyRef "clip.rollback".
    let release = |version: &str| {
        let index = v(version);
        let approved = tpm::release_policy(&public, &pcr, index);
        (approved, sign(&key, &approved, tpm::POLICY_REF), index)
    };
    let (a2, s2, i2) = release("2.0.0");
    let (a3, s3, i3) = release("3.0.0");
    let (pcrsig_approved, pcrsig_sig) = pcrsig(&mut tpm, &key);
    let sealed = seal_bound(&mut tpm, &public);
    let sel7 = PcrSelection::of(&[7]).unwrap();
    let pcr7 = tpm2::pcr_read(&mut tpm, &[7]).unwrap()[0].1;

    // No index yet: PolicyNV cannot compare, nothing unseals.
    let unseal = |tpm: &mut Tpm<_>, approved: PolicyDigest, sig: &[u8], index: u64| {
        tpm2::unseal_bound(
            tpm,
            &sealed,
            &UnsealInputs {
                signature: Some((approved, sig)),
                pin: None,
            },
            &tpm::bound(&public, index),
        )
    };
    let err = unseal(&mut tpm, a2, &s2, i2).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the TPM refused the NV index 0x0130c105 comparison (NV UnsignedLe 000200000000ffff): TPM_RC_HANDLE (0x18b) in handle 1"
    );

    tpm::raise(&mut tpm, &public, (&pcrsig_approved, &pcrsig_sig), i2).unwrap();
    assert_eq!(unseal(&mut tpm, a2, &s2, i2).unwrap().as_slice(), SECRET);
    assert_eq!(unseal(&mut tpm, a3, &s3, i3).unwrap().as_slice(), SECRET);

    // v3 marked good: the minimum is 3.0.0. v2's own signed policy, run
    // directly (no clip-init check), is refused by the TPM.
    tpm::raise(&mut tpm, &public, (&pcrsig_approved, &pcrsig_sig), i3).unwrap();
    let err = unseal(&mut tpm, a2, &s2, i2).unwrap_err();
    assert_eq!(err.kind(), tpm2::ErrorKind::PolicyRefused);
    assert_eq!(
        err.to_string(),
        "the TPM refused the NV index 0x0130c105 comparison (NV UnsignedLe 000200000000ffff): TPM_RC_POLICY (0x126)"
    );
    // Claiming v3's index with v2's signature: the digest is not approved.
    let err = unseal(&mut tpm, a2, &s2, i3).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("PCR 11 does not match the signed policy"),
        "{err}"
    );
    assert_eq!(unseal(&mut tpm, a3, &s3, i3).unwrap().as_slice(), SECRET);

    // A release built before anti-rollback: its .pcrsig (policyRef "")
    // authorizes to PolicyAuthorize(key, ""), not the sealed
    // PolicyAuthorize(key, "clip.rollback"), so the session's digest is not
    // the object's (the TPM would answer TPM_RC_POLICY_FAIL at Unseal).
    let err = tpm2::unseal(
        &mut tpm,
        &sealed,
        &UnsealInputs {
            signature: Some((pcrsig_approved, &pcrsig_sig)),
            pin: None,
        },
    )
    .unwrap_err();
    assert_eq!(err.kind(), tpm2::ErrorKind::PolicyRefused);
    assert_eq!(
        err.to_string(),
        format!(
            "PCR 7 changed since sealing: the policy digest is now {}, the secret was sealed to {}",
            hex::encode(policy::pcr(
                &policy::authorize(&public.name(), &[]),
                sel7,
                &[pcr7]
            )),
            hex::encode(sealed.policy_hash)
        )
    );
    let _ = Op::Eq;
}
