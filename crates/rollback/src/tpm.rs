//! The device's minimum version in a TPM NV index (docs/anti-rollback.md,
//! "The NV index").
//!
//! ```text
//! index      NV_INDEX (0x0130c105, owner range), TPM_NT_ORDINARY, 8 bytes: the rollback index, big-endian
//! attributes POLICYWRITE | WRITEALL | AUTHREAD | OWNERREAD | NO_DA   (no AUTHWRITE, OWNERWRITE, PPWRITE)
//! authPolicy write_policy(key) = PolicyCommandCode(NV_Write) after PolicyAuthorize(key, policyRef "")
//! ```
//!
//! The write policy is satisfied only by a session that went through
//! PolicyAuthorize with an approval of the PCR-policy key, i.e. PCR 11 at
//! the `enter-initrd` value of a UKI the key signed (`.pcrsig`, the same
//! signature that unseals the state): in the initrd, before clip-init
//! extends `leave-initrd`. Root on the running system cannot write it;
//! clip-init only raises it ([`raise`] compares first).
//!
//! The seal binding: the state's key is sealed (after migration) under
//! PolicyAuthorize(key, [`POLICY_REF`]), and each UKI's build signs, with
//! that policyRef, [`release_policy`]: PolicyPCR(11 = its enter-initrd
//! value), then PolicyNV(NV ≤ its own rollback index). A UKI below the
//! minimum has no signature that holds.

use contract::Version;
use tpm2::nv::{NvPublic, Op, attr_nv, cc};
use tpm2::policy::{self, PcrSelection, PolicyDigest};
use tpm2::{PolicyKey, ResponseCode, SessionType, Tpm, Transport};

use crate::{Error, Indexed};

/// The NV index's handle (owner range 0x01000000–0x013fffff; "C1 OS").
pub const NV_INDEX: u32 = 0x0130_C105;
/// Its attributes.
pub const NV_ATTRIBUTES: u32 = attr_nv::POLICYWRITE
    | attr_nv::WRITEALL
    | attr_nv::AUTHREAD
    | attr_nv::OWNERREAD
    | attr_nv::NO_DA;
/// Its size: one big-endian u64.
pub const NV_SIZE: u16 = 8;
/// The policyRef of the seal bound to the NV index (approvals without it,
/// such as the `.pcrsig` of releases built before anti-rollback, do not
/// satisfy it).
pub const POLICY_REF: &[u8] = b"clip.rollback";
/// The PCR whose signed value gates everything here.
pub const SIGNED_PCR: u32 = 11;

fn tpm_err(step: &'static str) -> impl Fn(tpm2::Error) -> Error {
    move |error| Error::Tpm {
        index: NV_INDEX,
        step,
        error,
    }
}

/// The write policy: PolicyAuthorize(key, "") then
/// PolicyCommandCode(TPM_CC_NV_Write).
pub fn write_policy(key: &PolicyKey) -> PolicyDigest {
    tpm2::nv::policy_command_code(&policy::authorize(&key.name(), &[]), cc::NV_WRITE)
}

/// The NV index's public area (before its first write).
pub fn nv_public(key: &PolicyKey) -> NvPublic {
    NvPublic::new(NV_INDEX, NV_ATTRIBUTES, write_policy(key), NV_SIZE)
}

/// The NV index's Name once written: what PolicyNV binds to.
pub fn nv_name(key: &PolicyKey) -> Vec<u8> {
    nv_public(key).written().name()
}

/// The approved policy a release's build signs with [`POLICY_REF`]:
/// PolicyPCR(11 = `pcr11`) then PolicyNV(NV ≤ `index`).
pub fn release_policy(key: &PolicyKey, pcr11: &[u8; 32], index: u64) -> PolicyDigest {
    let selection = PcrSelection::of(&[SIGNED_PCR]).unwrap_or_default();
    let after_pcr = policy::pcr(&policy::EMPTY, selection, &[*pcr11]);
    tpm2::nv::policy_nv(
        &after_pcr,
        &nv_name(key),
        &index.to_be_bytes(),
        0,
        Op::UnsignedLe,
    )
}

/// What [`tpm2::unseal_bound`] needs for a release whose rollback index
/// is `index`: PolicyNV(NV ≤ index) in the signed part, policyRef
/// [`POLICY_REF`].
pub fn bound(key: &PolicyKey, index: u64) -> tpm2::Bound<'static> {
    tpm2::Bound {
        policy_ref: POLICY_REF,
        nv: Some(tpm2::NvTerm {
            index: NV_INDEX,
            name: nv_name(key),
            operand_b: index.to_be_bytes().to_vec(),
            offset: 0,
            op: Op::UnsignedLe,
        }),
    }
}

/// The sealed key's policy head: PolicyAuthorize(key, [`POLICY_REF`]).
pub fn seal_authorize(key: &PolicyKey) -> PolicyDigest {
    policy::authorize(&key.name(), POLICY_REF)
}

/// What the TPM holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NvState {
    /// No index at [`NV_INDEX`].
    Missing,
    /// Defined by us, never written.
    Unwritten,
    /// The minimum rollback index.
    Minimum(u64),
}

/// Reads the index, checking it is ours (attributes, write policy, size):
/// an index defined by someone else is [`Error::NvForeign`].
pub fn read<T: Transport>(tpm: &mut Tpm<T>, key: &PolicyKey) -> Result<NvState, Error> {
    let (public, name) = match tpm.nv_read_public(NV_INDEX) {
        Ok(p) => p,
        Err(tpm2::Error::Tpm { rc, .. }) if rc.is_fmt1(ResponseCode::FMT1_HANDLE) => {
            return Ok(NvState::Missing);
        }
        Err(e) => return Err(tpm_err("NV_ReadPublic")(e)),
    };
    let expected = nv_public(key);
    let found = NvPublic {
        attributes: public.attributes & !attr_nv::WRITTEN,
        ..public.clone()
    };
    if found != expected {
        return Err(Error::NvForeign {
            index: NV_INDEX,
            found: describe(&found),
            expected: describe(&expected),
        });
    }
    if public.attributes & attr_nv::WRITTEN == 0 {
        return Ok(NvState::Unwritten);
    }
    let data = tpm
        .nv_read(NV_INDEX, &name, NV_SIZE, 0)
        .map_err(tpm_err("NV_Read"))?;
    let bytes: [u8; 8] = data.as_slice().try_into().map_err(|_| Error::NvSize {
        index: NV_INDEX,
        len: data.len(),
    })?;
    Ok(NvState::Minimum(u64::from_be_bytes(bytes)))
}

fn describe(p: &NvPublic) -> String {
    let policy: String = p.auth_policy.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "attributes {:#010x}, policy {policy}, size {}",
        p.attributes, p.data_size
    )
}

/// Defines the index (owner hierarchy). It stays unwritten until
/// [`raise`].
pub fn define<T: Transport>(tpm: &mut Tpm<T>, key: &PolicyKey) -> Result<(), Error> {
    tpm.nv_define_space(&nv_public(key))
        .map_err(tpm_err("NV_DefineSpace"))
}

/// What [`raise`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Raised {
    Raised { from: Option<u64>, to: u64 },
    Unchanged { current: u64 },
}

/// Raises the index to `to` if it is lower (or unwritten), defining it if
/// missing. `signature` is the `.pcrsig` approval (approved PCR 11 policy,
/// RSASSA signature, policyRef "") of the running UKI: the write holds
/// only while PCR 11 has that value (in its initrd).
pub fn raise<T: Transport>(
    tpm: &mut Tpm<T>,
    key: &PolicyKey,
    signature: (&PolicyDigest, &[u8]),
    to: u64,
) -> Result<Raised, Error> {
    let from = match read(tpm, key)? {
        NvState::Minimum(current) if current >= to => return Ok(Raised::Unchanged { current }),
        NvState::Minimum(current) => Some(current),
        NvState::Unwritten => None,
        NvState::Missing => {
            define(tpm, key)?;
            None
        }
    };
    let public = nv_public(key);
    let name = if from.is_some() {
        public.written().name()
    } else {
        public.name()
    };
    let mut session = tpm
        .start_auth_session(None, SessionType::Policy)
        .map_err(tpm_err("StartAuthSession"))?;
    let result = write_in_session(tpm, key, signature, &mut session, &name, to);
    let _ = tpm.flush_session(&mut session);
    result?;
    Ok(Raised::Raised { from, to })
}

fn write_in_session<T: Transport>(
    tpm: &mut Tpm<T>,
    key: &PolicyKey,
    (approved, signature): (&PolicyDigest, &[u8]),
    session: &mut tpm2::Session,
    name: &[u8],
    to: u64,
) -> Result<(), Error> {
    let selection = PcrSelection::of(&[SIGNED_PCR]).unwrap_or_default();
    tpm.policy_pcr(session, selection)
        .map_err(tpm_err("PolicyPCR"))?;
    let current = tpm
        .policy_get_digest(session)
        .map_err(tpm_err("PolicyGetDigest"))?;
    if current != approved {
        return Err(Error::NotInSignedInitrd {
            index: NV_INDEX,
            current: current.iter().map(|b| format!("{b:02x}")).collect(),
            approved: approved.iter().map(|b| format!("{b:02x}")).collect(),
        });
    }
    authorize(tpm, key, approved, &[], signature, session)?;
    tpm.policy_command_code(session, cc::NV_WRITE)
        .map_err(tpm_err("PolicyCommandCode"))?;
    tpm.nv_write_policy(NV_INDEX, name, &to.to_be_bytes(), 0, session)
        .map_err(tpm_err("NV_Write"))
}

/// LoadExternal + VerifySignature + PolicyAuthorize of `approved` with
/// `policy_ref`.
pub fn authorize<T: Transport>(
    tpm: &mut Tpm<T>,
    key: &PolicyKey,
    approved: &PolicyDigest,
    policy_ref: &[u8],
    signature: &[u8],
    session: &tpm2::Session,
) -> Result<(), Error> {
    let loaded = tpm
        .load_external_public(&key.public())
        .map_err(tpm_err("LoadExternal"))?;
    let ticket = tpm.verify_signature(
        &loaded,
        &policy::approval_hash(approved, policy_ref),
        signature,
    );
    let _ = tpm.flush_context(loaded.handle);
    let ticket = ticket.map_err(tpm_err("VerifySignature"))?;
    tpm.policy_authorize(session, approved, policy_ref, &loaded.name, &ticket)
        .map_err(tpm_err("PolicyAuthorize"))
}

/// The check clip-init makes before unsealing: the running release's
/// version against the NV minimum. `Ok(None)` when the index holds no
/// minimum yet.
pub fn check<T: Transport>(
    tpm: &mut Tpm<T>,
    key: &PolicyKey,
    running: &Indexed,
) -> Result<Option<u64>, Error> {
    match read(tpm, key)? {
        NvState::Minimum(min) if running.index < min => Err(Error::BelowMinimum {
            version: running.version.to_string(),
            minimum: describe_index(min),
        }),
        NvState::Minimum(min) => Ok(Some(min)),
        _ => Ok(None),
    }
}

/// A rollback index as the version it encodes, when it is one
/// (`2.0.0`), else in hex.
pub fn describe_index(index: u64) -> String {
    let field = |shift: u32| (index >> shift) & crate::MAX_FIELD;
    let core = format!("{}.{}.{}", field(48), field(32), field(16));
    let rank = field(0);
    let text = match rank {
        crate::RELEASE_RANK => core,
        r => {
            let kind = usize::try_from(r >> 12).unwrap_or(0);
            let n = r & 0xFFF;
            match crate::PRERELEASE_KINDS.get(kind.wrapping_sub(1)) {
                Some(k) if n == 0 => format!("{core}-{k}"),
                Some(k) => format!("{core}-{k}.{}", n - 1),
                None => return format!("{index:#018x}"),
            }
        }
    };
    match Version::parse(&text) {
        Ok(v) if crate::index(&v).ok() == Some(index) => text,
        _ => format!("{index:#018x}"),
    }
}
