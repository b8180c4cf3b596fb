//! The crate's one error type. Each variant is one failed check or step and
//! carries the values involved; no variant carries secret material.
//! [`Error::kind`] sorts them into what a caller such as clip-init acts on.

use crate::rc::ResponseCode;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The TPM device node cannot be opened (no TPM, or no driver).
    #[error("no TPM: cannot open {path}: {error}")]
    NoDevice { path: String, error: std::io::Error },
    /// Writing a command or reading its response failed.
    #[error("TPM transport failed during {command}: {error}")]
    Transport {
        command: &'static str,
        error: std::io::Error,
    },
    /// A response, public area or blob does not parse.
    #[error("malformed TPM data: {what} at byte {offset}")]
    Malformed { what: &'static str, offset: usize },
    /// The response's header is not what the command expects.
    #[error("unexpected TPM response to {command}: {what}")]
    UnexpectedResponse { command: &'static str, what: String },
    /// A response's HMAC does not verify: it was altered between the TPM
    /// and us, or it does not come from the TPM that holds the session.
    /// Sessions count from 1, as in response codes.
    #[error(
        "the response to {command} fails its HMAC check in session {session}: it was altered on the way from the TPM"
    )]
    ResponseHmac {
        command: &'static str,
        session: usize,
    },
    /// The TPM refused a command for a reason not covered below.
    #[error("TPM2_{command} failed: {rc}")]
    Tpm {
        command: &'static str,
        rc: ResponseCode,
    },
    /// There is no usable storage root key and none can be made.
    #[error("no usable storage root key: {reason}")]
    SrkUnusable { reason: String },
    /// The SRK the secret was sealed under is gone.
    #[error(
        "the TPM's storage root key is not the one the secret was sealed under (sealed under {sealed}, this TPM has {found}): the TPM was cleared or is another TPM"
    )]
    SrkMismatch { sealed: String, found: String },
    /// The literal PCRs of the policy have other values than at sealing.
    #[error(
        "PCR {pcrs} changed since sealing: the policy digest is now {current}, the secret was sealed to {sealed}"
    )]
    PcrChanged {
        pcrs: String,
        current: String,
        sealed: String,
    },
    /// The signed policy is for other PCR values than the TPM holds.
    #[error(
        "PCR {pcrs} does not match the signed policy: the TPM's PCR {pcrs} policy digest is {current}, the signature approves {approved}"
    )]
    SignedPolicyMismatch {
        pcrs: String,
        current: String,
        approved: String,
    },
    /// TPM2_VerifySignature refused the signature over the policy.
    #[error(
        "the signature over the PCR policy is not valid for the PCR-policy key {key_name}: {rc}"
    )]
    SignatureInvalid { key_name: String, rc: ResponseCode },
    /// TPM2_PolicyNV's comparison failed: the NV index does not hold a
    /// value the policy allows (anti-rollback: a minimum above this
    /// release), or it is missing or unwritten.
    #[error("the TPM refused the NV index {index:#010x} comparison (NV {op:?} {operand}): {rc}")]
    NvPolicyRefused {
        index: u32,
        op: crate::nv::Op,
        operand: String,
        rc: ResponseCode,
    },
    /// The TPM's policy check failed at TPM2_Unseal.
    #[error("the TPM refused the policy: {rc}")]
    PolicyFailed { rc: ResponseCode },
    /// A PCR changed while the policy session was being built, every try.
    #[error("PCRs kept changing while the policy session was built ({tries} tries): {rc}")]
    PcrChangedDuringSession { tries: u32, rc: ResponseCode },
    /// Wrong PIN.
    #[error(
        "the PIN is wrong: {rc}; each failure counts toward the TPM's dictionary-attack lockout"
    )]
    AuthFailed { rc: ResponseCode },
    /// Too many wrong PINs.
    #[error(
        "the TPM is in dictionary-attack lockout after too many wrong PINs: {rc}; it refuses until the lockout recovery time has passed"
    )]
    Lockout { rc: ResponseCode },
    /// The sealed object needs a PIN and none was given.
    #[error("the secret was sealed with a PIN and no PIN was given")]
    PinMissing,
    /// The sealed object needs a signed policy and none was given.
    #[error("the secret was sealed to a signed PCR {pcrs} policy and no signature was given")]
    SignatureMissing { pcrs: String },
    /// The PCR-policy public key cannot be used.
    #[error("unusable PCR-policy public key: {reason}")]
    PolicyKey { reason: String },
    /// A field of a `systemd-tpm2` token is not what it must be.
    #[error("LUKS2 token field {field}: {reason}")]
    Token { field: &'static str, reason: String },
    /// A value is out of the range a TPM structure allows.
    #[error("{what} is {len} bytes, at most {max} are allowed")]
    TooLong {
        what: &'static str,
        len: usize,
        max: usize,
    },
    /// A PCR index out of 0..24.
    #[error("PCR {pcr} does not exist (PCRs 0 to 23)")]
    NoSuchPcr { pcr: u32 },
    /// The TPM returned fewer PCR values than asked for.
    #[error("the TPM did not return PCR {pcr} of the SHA-256 bank")]
    PcrUnavailable { pcr: u32 },
    /// The object the TPM loaded is not the one we gave it.
    #[error("the TPM reports name {reported} for the loaded {what}, expected {expected}")]
    NameMismatch {
        what: &'static str,
        reported: String,
        expected: String,
    },
    /// The system's random number generator failed.
    #[error("no random bytes: {error}")]
    Random { error: String },
    /// The SRK's public area cannot be used to salt a session.
    #[error("cannot salt a session with the storage root key: {reason}")]
    Salt { reason: String },
}

/// What kind of failure an [`Error`] is, for a caller deciding what to do
/// next (ask for the recovery key, ask for the PIN again, stop).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// No TPM, or talking to it failed.
    TpmUnavailable,
    /// The system state is not the one the secret was sealed to: PCRs,
    /// signed policy, signature, or the TPM was cleared.
    PolicyRefused,
    /// Wrong PIN.
    BadPin,
    /// Too many wrong PINs.
    Lockout,
    /// Bad input from the caller (missing PIN or signature, bad key).
    BadInput,
    /// The TPM misbehaved or returned something unexpected.
    TpmError,
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NoDevice { .. } | Error::Transport { .. } => ErrorKind::TpmUnavailable,
            Error::SrkMismatch { .. }
            | Error::PcrChanged { .. }
            | Error::SignedPolicyMismatch { .. }
            | Error::SignatureInvalid { .. }
            | Error::PolicyFailed { .. }
            | Error::NvPolicyRefused { .. }
            | Error::PcrChangedDuringSession { .. } => ErrorKind::PolicyRefused,
            Error::AuthFailed { .. } => ErrorKind::BadPin,
            Error::Lockout { .. } => ErrorKind::Lockout,
            Error::PinMissing
            | Error::SignatureMissing { .. }
            | Error::PolicyKey { .. }
            | Error::TooLong { .. }
            | Error::Token { .. }
            | Error::NoSuchPcr { .. } => ErrorKind::BadInput,
            Error::Malformed { .. }
            | Error::UnexpectedResponse { .. }
            | Error::ResponseHmac { .. }
            | Error::Tpm { .. }
            | Error::PcrUnavailable { .. }
            | Error::NameMismatch { .. }
            | Error::Random { .. }
            | Error::Salt { .. }
            | Error::SrkUnusable { .. } => ErrorKind::TpmError,
        }
    }

    /// The TPM response code, if the TPM refused something.
    pub fn response_code(&self) -> Option<ResponseCode> {
        match self {
            Error::Tpm { rc, .. }
            | Error::SignatureInvalid { rc, .. }
            | Error::PolicyFailed { rc }
            | Error::NvPolicyRefused { rc, .. }
            | Error::PcrChangedDuringSession { rc, .. }
            | Error::AuthFailed { rc }
            | Error::Lockout { rc } => Some(*rc),
            _ => None,
        }
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
