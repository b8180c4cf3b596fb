//! Sealing a secret to a PCR policy and unsealing it, as systemd-cryptenroll
//! and systemd-cryptsetup do (`tpm2_seal`, `tpm2_unseal` in systemd's
//! `src/shared/tpm2-util.c`), with every secret on the bus encrypted.
//!
//! The policy, in the order the TPM evaluates it (and systemd builds it):
//!
//! ```text
//! 1. PolicyPCR(PCR 11)                      } signed part: the session's digest
//! 2. PolicyAuthorize(approved, key's Name)  } becomes H(H(0…0 ‖ CC ‖ Name) ‖ ""),
//!    after LoadExternal(key) and              whatever PCR 11 holds, if the key
//!    VerifySignature(H(approved), sig)        signed that PCR 11 policy
//! 3. PolicyPCR(PCR 7)                       literal: the PCR 7 value at sealing
//! 4. PolicyAuthValue                        only with a PIN
//! ```
//!
//! Each step is optional; PolicyAuthorize must be first because it
//! replaces the digest. The secret is a KEYEDHASH object created under the
//! storage root key (SRK) at the persistent handle 0x81000001, created from
//! the TCG template and made persistent when missing (as systemd ≥ 254
//! does; `tpm2_srk` in the token names it). Both the Create and
//! the Unseal run with a salted HMAC session (salt encrypted to the SRK):
//! the secret goes in with the decrypt attribute and comes out with the
//! encrypt attribute, and the policy session is salted as well, so the PIN
//! cannot be guessed offline from its HMAC.

use zeroize::Zeroizing;

use crate::command::Tpm;
use crate::commands::{MAX_SEALED, Object};
use crate::error::{Error, hex};
use crate::policy::{self, PcrSelection, PolicyDigest};
use crate::policy_key::PolicyKey;
use crate::public::{Public, alg};
use crate::rc::ResponseCode;
use crate::sealed::{PrimaryAlg, Sealed};
use crate::session::SessionType;
use crate::transport::Transport;
use sha2::{Digest, Sha256};

/// The storage root key's persistent handle (TCG Provisioning Guidance).
pub const SRK_HANDLE: u32 = 0x8100_0001;
/// The PCR whose value is sealed literally.
pub const LITERAL_PCR: u32 = 7;
/// The other PCR sealed literally when asked (systemd-stub's additions).
pub const STUB_ADDITIONS_PCR: u32 = 12;
/// The PCR whose policy is signed.
pub const SIGNED_PCR: u32 = 11;
/// How many times an Unseal is tried again when a PCR changed while the
/// policy session was built (systemd tries 30 times).
const PCR_CHANGED_TRIES: u32 = 30;

/// A PCR value to seal to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PcrValue {
    /// The PCR's value now, read from the TPM.
    Current,
    /// This SHA-256 value (e.g. predicted for the next boot).
    Value([u8; 32]),
}

/// What the secret is sealed to.
#[derive(Debug, Clone, Default)]
pub struct SealPolicy<'a> {
    /// PCR 7 (Secure Boot state and keys), literally.
    pub pcr7: Option<PcrValue>,
    /// PCR 12, literally: what systemd-stub adds to the UKI's own (command
    /// line additions from add-ons or SMBIOS, credentials, system
    /// extensions); all zeros when nothing was added. PCR 11 covers only
    /// the UKI itself.
    pub pcr12: Option<PcrValue>,
    /// PCR 11 through PolicyAuthorize: any PCR 11 value this key signs.
    pub signed_pcr11_key: Option<PolicyKey>,
    /// A PIN (PolicyAuthValue; the object's authValue is SHA-256(PIN), as
    /// systemd's `tpm2_auth_init` makes it).
    pub pin: Option<&'a [u8]>,
}

/// What unsealing needs besides the sealed object.
#[derive(Debug, Clone, Default)]
pub struct UnsealInputs<'a> {
    /// The PCR 11 policy digest the signature approves, and the
    /// RSASSA-PKCS1-v1_5 SHA-256 signature over it (systemd-measure's
    /// `.pcrsig` entry: `pol` and `sig`).
    pub signature: Option<(PolicyDigest, &'a [u8])>,
    pub pin: Option<&'a [u8]>,
}

/// A signed policy bound to more than PCR 11 (anti-rollback,
/// docs/anti-rollback.md): the approval is made with `policy_ref`, and the
/// signed part runs PolicyNV after PolicyPCR(11).
#[derive(Debug, Clone, Default)]
pub struct Bound<'a> {
    /// The policyRef of PolicyAuthorize (and of the signed approval).
    pub policy_ref: &'a [u8],
    /// A PolicyNV term in the signed part, after PolicyPCR(11).
    pub nv: Option<NvTerm>,
}

/// TPM2_PolicyNV's arguments.
#[derive(Debug, Clone)]
pub struct NvTerm {
    pub index: u32,
    /// The index's Name (as written: TPMA_NV_WRITTEN set).
    pub name: Vec<u8>,
    pub operand_b: Vec<u8>,
    pub offset: u16,
    pub op: crate::nv::Op,
}

/// Seals `secret` (at most 128 bytes) to `policy`.
pub fn seal<T: Transport>(
    tpm: &mut Tpm<T>,
    secret: &[u8],
    policy: &SealPolicy,
) -> Result<Sealed, Error> {
    seal_bound(tpm, secret, policy, &[])
}

/// Seals `secret` as [`seal`] does, with PolicyAuthorize's policyRef
/// `policy_ref` (approvals must be signed with it; see [`Bound`]).
pub fn seal_bound<T: Transport>(
    tpm: &mut Tpm<T>,
    secret: &[u8],
    policy: &SealPolicy,
    policy_ref: &[u8],
) -> Result<Sealed, Error> {
    if secret.len() > MAX_SEALED {
        return Err(Error::TooLong {
            what: "the secret",
            len: secret.len(),
            max: MAX_SEALED,
        });
    }
    // The policy digest, computed in software (no trial session).
    let mut digest = policy::EMPTY;
    let mut pubkey_pcrs = PcrSelection::default();
    if let Some(key) = &policy.signed_pcr11_key {
        digest = policy::authorize(&key.name(), policy_ref);
        pubkey_pcrs = single(SIGNED_PCR);
    }
    // One PolicyPCR over the literal PCRs, their values in PCR order.
    let mut literal = Vec::new();
    for (pcr, value) in [
        (LITERAL_PCR, policy.pcr7),
        (STUB_ADDITIONS_PCR, policy.pcr12),
    ] {
        if let Some(value) = value {
            let value = match value {
                PcrValue::Value(v) => v,
                PcrValue::Current => read_one(tpm, pcr)?,
            };
            literal.push((pcr, value));
        }
    }
    let mut pcrs = PcrSelection::default();
    if !literal.is_empty() {
        let list: Vec<u32> = literal.iter().map(|(p, _)| *p).collect();
        pcrs = PcrSelection::of(&list).unwrap_or_default();
        let values: Vec<[u8; 32]> = literal.iter().map(|(_, v)| *v).collect();
        digest = policy::pcr(&digest, pcrs, &values);
    }
    let auth_value = policy.pin.map(pin_auth_value).unwrap_or_default();
    if policy.pin.is_some() {
        digest = policy::auth_value(&digest);
    }

    let (srk, primary_alg) = get_or_create_srk(tpm)?;
    let mut session = tpm.start_auth_session(Some(&srk), SessionType::Hmac)?;
    let created = tpm.create(
        &srk,
        &mut session,
        &Public::sealed_data(&digest),
        &auth_value,
        secret,
    );
    let _ = tpm.flush_session(&mut session);
    let (private, public) = created?;
    let parsed = Public::parse_2b(&public)?;
    if parsed.auth_policy != digest {
        return Err(Error::UnexpectedResponse {
            command: "Create",
            what: format!(
                "the object's authPolicy is {}, not the policy {} it was created with",
                hex(&parsed.auth_policy),
                hex(&digest)
            ),
        });
    }
    Ok(Sealed {
        private,
        public,
        srk_name: srk.name,
        srk_public: srk.public.marshal_2b(),
        primary_alg,
        policy_hash: digest,
        pcrs,
        pubkey_pcrs,
        policy_key: policy.signed_pcr11_key.clone(),
        pin: policy.pin.is_some(),
    })
}

/// Unseals `sealed`, building its policy in a salted policy session; the
/// secret comes back through an encrypted session.
pub fn unseal<T: Transport>(
    tpm: &mut Tpm<T>,
    sealed: &Sealed,
    inputs: &UnsealInputs,
) -> Result<Zeroizing<Vec<u8>>, Error> {
    unseal_bound(tpm, sealed, inputs, &Bound::default())
}

/// Unseals a secret sealed by [`seal_bound`]: the signed part is
/// PolicyPCR(11) then `bound.nv`, approved with `bound.policy_ref`.
pub fn unseal_bound<T: Transport>(
    tpm: &mut Tpm<T>,
    sealed: &Sealed,
    inputs: &UnsealInputs,
    bound: &Bound,
) -> Result<Zeroizing<Vec<u8>>, Error> {
    if sealed.pin && inputs.pin.is_none() {
        return Err(Error::PinMissing);
    }
    let signed = match (&sealed.policy_key, sealed.pubkey_pcrs.is_empty()) {
        (_, true) => None,
        (Some(key), false) => match &inputs.signature {
            Some((approved, signature)) => Some((key, approved, *signature)),
            None => {
                return Err(Error::SignatureMissing {
                    pcrs: pcr_list(sealed.pubkey_pcrs),
                });
            }
        },
        (None, false) => {
            return Err(Error::PolicyKey {
                reason: "the sealed object has a signed PCR policy but no PCR-policy key".into(),
            });
        }
    };
    let auth_value = if sealed.pin {
        inputs.pin.map(pin_auth_value).unwrap_or_default()
    } else {
        Zeroizing::new(Vec::new())
    };

    let (srk, srk_transient) = find_srk(tpm, sealed)?;
    let mut flush = Vec::new();
    if srk_transient {
        flush.push(srk.handle);
    }
    let result = (|| {
        let item = tpm.load(&srk, &sealed.private, &sealed.public)?;
        flush.push(item.handle);
        let mut encrypt = tpm.start_auth_session(Some(&srk), SessionType::Hmac)?;
        flush.push(encrypt.handle());
        let mut tries = 0;
        loop {
            let mut session = tpm.start_auth_session(Some(&srk), SessionType::Policy)?;
            let built = build_policy(tpm, sealed, signed, bound, &mut session)
                .and_then(|()| tpm.unseal(&item, &mut session, &auth_value, &mut encrypt));
            let _ = tpm.flush_session(&mut session);
            match built {
                Err(Error::Tpm { rc, .. }) if rc == ResponseCode::PCR_CHANGED => {
                    tries += 1;
                    if tries >= PCR_CHANGED_TRIES {
                        return Err(Error::PcrChangedDuringSession { tries, rc });
                    }
                }
                Err(Error::Tpm { rc, .. }) => return Err(unseal_error(rc)),
                other => return other,
            }
        }
    })();
    for handle in flush.into_iter().rev() {
        let _ = tpm.flush_context(handle);
    }
    result
}

/// Runs the policy steps in `session` and checks the digest it reaches.
fn build_policy<T: Transport>(
    tpm: &mut Tpm<T>,
    sealed: &Sealed,
    signed: Option<(&PolicyKey, &PolicyDigest, &[u8])>,
    bound: &Bound,
    session: &mut crate::session::Session,
) -> Result<(), Error> {
    if let Some((key, approved, signature)) = signed {
        tpm.policy_pcr(session, sealed.pubkey_pcrs)?;
        if let Some(nv) = &bound.nv {
            tpm.policy_nv(session, nv.index, &nv.name, &nv.operand_b, nv.offset, nv.op)
                .map_err(|e| match e {
                    Error::Tpm { rc, .. } if rc != ResponseCode::PCR_CHANGED => {
                        Error::NvPolicyRefused {
                            index: nv.index,
                            op: nv.op,
                            operand: hex(&nv.operand_b),
                            rc,
                        }
                    }
                    e => e,
                })?;
        }
        let current = tpm.policy_get_digest(session)?;
        if current != approved {
            return Err(Error::SignedPolicyMismatch {
                pcrs: pcr_list(sealed.pubkey_pcrs),
                current: hex(&current),
                approved: hex(approved),
            });
        }
        let loaded = tpm.load_external_public(&key.public())?;
        let verified = tpm.verify_signature(
            &loaded,
            &policy::approval_hash(approved, bound.policy_ref),
            signature,
        );
        let _ = tpm.flush_context(loaded.handle);
        let ticket = verified.map_err(|e| match e {
            Error::Tpm { rc, .. } if rc.is_fmt1(ResponseCode::FMT1_SIGNATURE) => {
                Error::SignatureInvalid {
                    key_name: hex(&loaded.name),
                    rc,
                }
            }
            e => e,
        })?;
        tpm.policy_authorize(session, approved, bound.policy_ref, &loaded.name, &ticket)?;
    }
    if !sealed.pcrs.is_empty() {
        tpm.policy_pcr(session, sealed.pcrs)?;
    }
    if sealed.pin {
        tpm.policy_auth_value(session)?;
    }
    let current = tpm.policy_get_digest(session)?;
    if current != sealed.policy_hash {
        return Err(Error::PcrChanged {
            pcrs: pcr_list(sealed.pcrs),
            current: hex(&current),
            sealed: hex(&sealed.policy_hash),
        });
    }
    Ok(())
}

/// A TPM refusal at Unseal, named for what it means.
fn unseal_error(rc: ResponseCode) -> Error {
    if rc.is_fmt1(ResponseCode::FMT1_POLICY_FAIL) {
        Error::PolicyFailed { rc }
    } else if rc.is_fmt1(ResponseCode::FMT1_AUTH_FAIL) || rc.is_fmt1(ResponseCode::FMT1_BAD_AUTH) {
        Error::AuthFailed { rc }
    } else if rc == ResponseCode::LOCKOUT {
        Error::Lockout { rc }
    } else {
        Error::Tpm {
            command: "Unseal",
            rc,
        }
    }
}

/// The authValue of a PIN: SHA-256 of its bytes.
pub fn pin_auth_value(pin: &[u8]) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(Sha256::digest(pin).to_vec())
}

/// The SRK at [`SRK_HANDLE`], or a new one from the TCG template (ECC
/// P-256, else RSA-2048) made persistent there, and its algorithm.
pub fn get_or_create_srk<T: Transport>(tpm: &mut Tpm<T>) -> Result<(Object, PrimaryAlg), Error> {
    match tpm.read_public(SRK_HANDLE) {
        Ok(srk) => {
            let alg = match srk.public.object_type() {
                alg::ECC => PrimaryAlg::Ecc,
                _ => PrimaryAlg::Rsa,
            };
            if !srk.public.is_storage_key() {
                return Err(Error::SrkUnusable {
                    reason: format!(
                        "{SRK_HANDLE:#x} holds a key that is not a restricted decryption key \
                         (type {:#06x}, attributes {:#010x})",
                        srk.public.object_type(),
                        srk.public.attributes
                    ),
                });
            }
            crate::crypto::salt_for(&srk.public).map_err(|e| Error::SrkUnusable {
                reason: format!("{SRK_HANDLE:#x}: {e}"),
            })?;
            return Ok((srk, alg));
        }
        Err(Error::Tpm { rc, .. }) if rc.is_fmt1(ResponseCode::FMT1_HANDLE) => {}
        Err(e) => return Err(e),
    }
    let (srk, primary_alg) = match tpm.create_primary(&Public::srk_ecc()) {
        Ok(srk) => (srk, PrimaryAlg::Ecc),
        Err(Error::Tpm { .. }) => (tpm.create_primary(&Public::srk_rsa())?, PrimaryAlg::Rsa),
        Err(e) => return Err(e),
    };
    let persisted = tpm.evict_control(&srk, SRK_HANDLE);
    let _ = tpm.flush_context(srk.handle);
    persisted.map_err(|e| Error::SrkUnusable {
        reason: format!("cannot make the new storage root key persistent at {SRK_HANDLE:#x}: {e}"),
    })?;
    Ok((
        Object {
            handle: SRK_HANDLE,
            ..srk
        },
        primary_alg,
    ))
}

/// The SRK `sealed` was created under: the persistent one if its Name
/// matches, else one created again from the template. The flag says it is
/// transient (to be flushed).
fn find_srk<T: Transport>(tpm: &mut Tpm<T>, sealed: &Sealed) -> Result<(Object, bool), Error> {
    let persistent = match tpm.read_public(SRK_HANDLE) {
        Ok(srk) if srk.name == sealed.srk_name => return Ok((srk, false)),
        Ok(srk) => format!("{} at {SRK_HANDLE:#x}", hex(&srk.name)),
        Err(Error::Tpm { rc, .. }) if rc.is_fmt1(ResponseCode::FMT1_HANDLE) => {
            format!("no key at {SRK_HANDLE:#x}")
        }
        Err(e) => return Err(e),
    };
    let srk = tpm.create_primary(&sealed.primary_alg.template())?;
    if srk.name == sealed.srk_name {
        return Ok((srk, true));
    }
    let _ = tpm.flush_context(srk.handle);
    Err(Error::SrkMismatch {
        sealed: hex(&sealed.srk_name),
        found: format!("{persistent}, {} from the template", hex(&srk.name)),
    })
}

fn single(pcr: u32) -> PcrSelection {
    PcrSelection::of(&[pcr]).expect("a PCR below 24")
}

fn read_one<T: Transport>(tpm: &mut Tpm<T>, pcr: u32) -> Result<[u8; 32], Error> {
    tpm.pcr_read(single(pcr))?
        .into_iter()
        .find(|(p, _)| *p == pcr)
        .map(|(_, v)| v)
        .ok_or(Error::PcrUnavailable { pcr })
}

/// "7", "7+11", or "none".
pub(crate) fn pcr_list(s: PcrSelection) -> String {
    let list: Vec<String> = s.pcrs().map(|p| p.to_string()).collect();
    if list.is_empty() {
        "none".into()
    } else {
        list.join("+")
    }
}

/// Reads PCRs (SHA-256 bank).
pub fn pcr_read<T: Transport>(
    tpm: &mut Tpm<T>,
    pcrs: &[u32],
) -> Result<Vec<(u32, [u8; 32])>, Error> {
    let selection = PcrSelection::of(pcrs).ok_or_else(|| Error::NoSuchPcr {
        pcr: pcrs
            .iter()
            .copied()
            .find(|&p| p >= policy::PCR_COUNT)
            .unwrap_or(0),
    })?;
    tpm.pcr_read(selection)
}

/// Extends a PCR's SHA-256 bank with `digest`.
pub fn pcr_extend<T: Transport>(
    tpm: &mut Tpm<T>,
    pcr: u32,
    digest: &[u8; 32],
) -> Result<(), Error> {
    tpm.pcr_extend(pcr, digest)
}
