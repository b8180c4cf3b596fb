//! PCR 11 of a booted unified kernel image, predicted, and the signed PCR
//! policy that lets a TPM unseal a secret for every UKI we sign.
//!
//! * [`sections`]: which UKI sections systemd-stub (v257) measures into
//!   PCR 11 and in which order (UAPI Group "Unified Kernel Image", section
//!   "UKI TPM PCR Measurements"; systemd `src/fundamental/uki.h`,
//!   `src/boot/stub.c` `measure_sections`).
//! * [`pcr`]: the PCR 11 value after the stub, and after the boot phases
//!   systemd-pcrphase (or clip-init in its place) extends
//!   (systemd `src/measure/measure.c` `measure_kernel`, `measure_phase`).
//! * [`signature`]: the TPM2_PolicyPCR digest of a predicted value, its
//!   signature by the PCR-policy key, and the `.pcrsig` JSON and `.pcrpkey`
//!   PEM that ukify embeds (systemd `src/measure/measure.c` `verb_sign`).
//!
//! Pure: bytes and keys in, digests and bytes out. Randomness (RSA blinding)
//! is passed in by the caller; signatures (PKCS#1 v1.5) are deterministic.
//! See docs/formats/uki.md and docs/tpm-policy.md.

mod error;
pub mod pcr;
pub mod sections;
pub mod signature;

pub use error::Error;
pub use pcr::{Digest, Prediction, extend, extend_phases, predict, predict_image};
pub use signature::{PcrSignature, PcrSignatures};
