//! Errors of the `measure` crate: one variant per failed check. Messages
//! never include key material.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The image is not a PE file the stub could run. The message includes
    /// the `pe` error, which is therefore not also a `source()`.
    #[error("the image is not a usable PE image: {0}")]
    Pe(pe::Error),
    #[error("systemd-stub knows no section {0:?} (it would not measure it)")]
    UnknownSection(String),
    #[error("the image has two {0} sections: systemd-stub measures one of them only")]
    DuplicateSection(&'static str),
    #[error("the image's {0} section is empty (VirtualSize 0)")]
    EmptySection(&'static str),
    #[error(
        "the image's {name} section ends at {end:#x} in memory, past SizeOfImage {size_of_image:#x}: firmware would not load the image"
    )]
    PastSizeOfImage {
        name: &'static str,
        end: u64,
        size_of_image: u32,
    },
    #[error("there is no .linux section: systemd-stub refuses to boot such an image")]
    NoLinux,
    #[error("the image has a {name} section, which cannot be predicted: {why}")]
    Unpredictable {
        name: &'static str,
        why: &'static str,
    },
    #[error(
        "the PCR-policy key is RSA-{bits}; it must be RSA-2048, the size every TPM 2.0 loads for TPM2_VerifySignature"
    )]
    KeySize { bits: usize },
    #[error(
        "the PCR-policy key's public exponent is {exponent}; it must be 65537 (the TPM's default)"
    )]
    KeyExponent { exponent: String },
    #[error("the PCR-policy public key does not belong to the private key")]
    KeyMismatch,
    #[error("cannot encode the PCR-policy public key: {0}")]
    Encode(String),
    #[error("cannot sign the PCR policy: {0}")]
    Sign(String),
    #[error(
        "the PCR signature for policy {policy} does not verify with the public key {fingerprint}"
    )]
    BadSignature { policy: String, fingerprint: String },
}
