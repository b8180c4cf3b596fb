//! UEFI Secure Boot keys (UEFI 2.10 §32 "Secure Boot and Driver Signing",
//! §8.2 "Variable Services").
//!
//! * [`cert`]: RSA-2048 X.509 v3 certificates for PK → KEK → db;
//! * [`esl`]: EFI_SIGNATURE_LIST encode and parse (§32.4.1);
//! * [`auth`]: EFI_VARIABLE_AUTHENTICATION_2 signed updates (`.auth`, §8.2.2)
//!   and [`pkcs7`], their detached PKCS#7 SignedData;
//! * [`keyset`]: a whole key set, and the checks `clip keys show` runs;
//! * [`update_key`]: the separate Ed25519 update-signing key.
//!
//! Pure: randomness comes in as an RNG parameter and time as seconds since
//! the Unix epoch; nothing here reads clocks, files or the environment.

pub mod auth;
pub mod cert;
mod error;
pub mod esl;
pub mod guid;
pub mod keyset;
pub mod pkcs7;
pub mod time;
pub mod update_key;

pub use auth::AuthVariable;
pub use error::Error;
pub use guid::Guid;
pub use keyset::{KeySet, Role};
pub use time::EfiTime;

// Re-exported so that callers name the same types without extra dependencies.
pub use der;
pub use ed25519_dalek;
pub use rsa;
pub use x509_cert;
