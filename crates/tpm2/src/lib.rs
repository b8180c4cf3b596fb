//! TPM 2.0 in pure Rust (TCG "Trusted Platform Module Library", Family 2.0,
//! Level 00, Revision 01.59: Part 1 "Architecture", Part 2 "Structures",
//! Part 3 "Commands"), for sealing a disk secret in clip-init: no C TSS
//! library, no unsafe code.
//!
//! - [`seal()`] / [`unseal()`]: a secret sealed under the storage root key to
//!   PCR 7, a PCR 11 policy signed by a PCR-policy key (PolicyAuthorize)
//!   and an optional PIN, laid out as systemd's `systemd-tpm2` LUKS2 token
//!   stores it; unsealed through a salted session with parameter
//!   encryption, so the secret never crosses the TPM bus in clear.
//! - [`Tpm`]: the commands (Startup, GetRandom, PCR_Read, PCR_Extend,
//!   CreatePrimary, Create, Load, Unseal, LoadExternal, VerifySignature,
//!   StartAuthSession, PolicyPCR, PolicyAuthorize, PolicyAuthValue,
//!   PolicyGetDigest, FlushContext, ReadPublic, EvictControl) over a
//!   [`Transport`]: [`transport::Device`] (`/dev/tpmrm0`) or
//!   [`transport::Socket`] (swtpm).
//! - [`policy`]: policy digests computed in software, as the TPM extends a
//!   policy session's digest.
//! - `swtpm` (feature `swtpm`): a private swtpm per test.
//!
//! The format of what is stored, the session cryptography and the order of
//! the policy steps are described in `docs/formats/tpm2.md`.
//!
//! # Marshaling
//!
//! The `tpm2-protocol` crate was considered as the marshaling base and not
//! used: this crate sends eighteen commands, whose structures take a few
//! hundred lines ([`marshal`], [`public`], [`commands`]); the sessions need
//! the exact parameter bytes anyway (cpHash, rpHash, in-place encryption of
//! the first parameter), which a marshaling library does not provide; and
//! tpm2-protocol's API changes between minor versions and its current
//! release needs a newer Rust than the workspace's. Every response is read
//! through one bounds-checked [`marshal::Reader`] and fuzzed
//! (`crates/tpm2/fuzz`).
//!
//! # Example
//!
//! What clip-init does: seal a new volume key on first boot, unseal it on
//! later boots with the signature from the UKI's `.pcrsig`, then extend
//! PCR 11 so the running system can no longer unseal it.
//!
//! ```no_run
//! use tpm2::{PcrValue, PolicyKey, SealPolicy, Tpm, UnsealInputs, transport::Device};
//!
//! # fn main() -> Result<(), tpm2::Error> {
//! # let pcrpkey_pem = "";
//! # let (approved_policy, signature) = ([0u8; 32], vec![0u8; 256]);
//! # let volume_key = [0u8; 64];
//! let mut tpm = Tpm::open_device(Device::DEFAULT_PATH)?;
//!
//! // First boot.
//! let sealed = tpm2::seal(&mut tpm, &volume_key, &SealPolicy {
//!     pcr7: Some(PcrValue::Current),
//!     pcr12: None,
//!     signed_pcr11_key: Some(PolicyKey::from_pem(pcrpkey_pem)?),
//!     pin: None,
//! })?;
//! let token_blob = sealed.blob(); // "tpm2-blob"; see Sealed for the other fields
//!
//! // Later boots: approved_policy and signature from .pcrsig ("pol", "sig").
//! let key = tpm2::unseal(&mut tpm, &sealed, &UnsealInputs {
//!     signature: Some((approved_policy, &signature)),
//!     pin: None,
//! })?;
//! // ... open the volume with `key` (zeroized when dropped) ...
//!
//! // Lock PCR 11 for the rest of this boot.
//! tpm2::pcr_extend(&mut tpm, 11, &[0x42; 32])?;
//! # Ok(()) }
//! ```
//!
//! Errors say what failed: [`Error::kind`] tells a missing TPM
//! ([`ErrorKind::TpmUnavailable`]) from a changed system
//! ([`ErrorKind::PolicyRefused`]: PCR 7 changed, PCR 11 not signed, bad
//! signature, TPM cleared) and a wrong PIN ([`ErrorKind::BadPin`],
//! [`ErrorKind::Lockout`]); TPM response codes print with their names,
//! e.g. `TPM_RC_POLICY_FAIL (0x99d) in session 1`.

pub mod command;
pub mod commands;
pub mod crypto;
pub mod decode;
pub mod error;
pub mod marshal;
pub mod nv;
pub mod policy;
pub mod policy_key;
pub mod public;
pub mod rc;
pub mod response;
pub mod seal;
pub mod sealed;
pub mod session;
#[cfg(feature = "swtpm")]
pub mod swtpm;
pub mod transport;

pub use command::Tpm;
pub use commands::{Object, Ticket};
pub use error::{Error, ErrorKind};
pub use policy_key::PolicyKey;
pub use rc::ResponseCode;
pub use seal::{
    Bound, NvTerm, PcrValue, SealPolicy, UnsealInputs, pcr_extend, pcr_read, seal, seal_bound,
    unseal, unseal_bound,
};
pub use sealed::{PrimaryAlg, Sealed};
pub use session::{Session, SessionType};
pub use transport::Transport;

impl Tpm<transport::Device> {
    /// Opens the TPM character device (normally `/dev/tpmrm0`).
    pub fn open_device(path: &str) -> Result<Self, Error> {
        transport::Device::open(path)
            .map(Tpm::new)
            .map_err(|error| Error::NoDevice {
                path: path.to_string(),
                error,
            })
    }
}
