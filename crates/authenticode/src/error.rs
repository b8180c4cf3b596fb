//! Errors of the `authenticode` crate: one variant per failed check. Each
//! verification failure names the WIN_CERTIFICATE entry (`index`, from 0)
//! it concerns; parse failures carry the file offset of the bad field.

/// Everything that can go wrong signing or verifying an image.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input is not a PE image the `pe` crate can read (or its
    /// certificate table is not where Authenticode needs it).
    #[error("not a usable PE image: {0}")]
    Pe(pe::Error),
    /// No certificate table, or one without a PKCS#7 signature.
    #[error("the image is not signed: {0}")]
    NotSigned(String),
    /// A WIN_CERTIFICATE or its PKCS#7 structure does not parse or lacks
    /// a part Authenticode requires.
    #[error("malformed signature {index} at file offset {offset:#x}: {reason}")]
    Malformed {
        index: usize,
        offset: usize,
        reason: String,
    },
    /// Well-formed, but uses an algorithm or form this crate does not check
    /// (only SHA-256 with RSA PKCS#1 v1.5 is supported).
    #[error("signature {index} is not supported: {what}")]
    Unsupported { index: usize, what: String },
    /// The image was changed after signing: its digest is not the signed one.
    #[error(
        "image digest mismatch in signature {index}: the signature covers {signed}, the image hashes to {computed}"
    )]
    DigestMismatch {
        index: usize,
        signed: String,
        computed: String,
    },
    /// The signed content was altered or the RSA signature does not verify.
    #[error("signature {index} is invalid: {reason}")]
    SignatureInvalid { index: usize, reason: String },
    /// The signature is intact but its signer is not the trusted
    /// certificate nor issued by it.
    #[error("signer of signature {index} ({signer}) is not trusted: {reason}")]
    NotTrusted {
        index: usize,
        signer: String,
        reason: String,
    },
    /// A private key that cannot be used (not PEM, not RSA, encrypted…).
    #[error("unusable private key: {0}")]
    Key(String),
    /// A certificate that does not parse.
    #[error("unusable certificate: {0}")]
    Certificate(String),
    /// Signing: the private key is not the certificate's.
    #[error("the private key does not match the public key of certificate {subject}")]
    KeyMismatch { subject: String },
    /// Signing: the certificate's key is not an RSA key.
    #[error("certificate {subject} has no usable RSA public key: {reason}")]
    CertificateKey { subject: String, reason: String },
    /// Appending a signature to an image whose certificate table does not
    /// start on an 8-byte boundary would change the image digest and so
    /// break the signatures already there.
    #[error(
        "cannot append: the existing certificate table starts at byte {0:#x}, not on an 8-byte boundary"
    )]
    UnalignedTable(usize),
    #[error("a certificate table entry of {0} bytes does not fit its 32-bit length field")]
    TooLarge(usize),
    #[error("cannot encode the signature: {0}")]
    Encode(der::Error),
    #[error("RSA signing failed: {0}")]
    Rsa(rsa::Error),
}

// Hand-written `From`s: the messages above already include the cause, and a
// `#[from]` source would make `anyhow`'s `{:#}` print it twice.
impl From<pe::Error> for Error {
    fn from(e: pe::Error) -> Self {
        Error::Pe(e)
    }
}

impl From<der::Error> for Error {
    fn from(e: der::Error) -> Self {
        Error::Encode(e)
    }
}

impl From<rsa::Error> for Error {
    fn from(e: rsa::Error) -> Self {
        Error::Rsa(e)
    }
}

impl Error {
    /// A stable snake_case name of the failed check, for `--json` output.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Pe(_) => "not_pe",
            Error::NotSigned(_) => "not_signed",
            Error::Malformed { .. } => "malformed",
            Error::Unsupported { .. } => "unsupported",
            Error::DigestMismatch { .. } => "digest_mismatch",
            Error::SignatureInvalid { .. } => "signature_invalid",
            Error::NotTrusted { .. } => "not_trusted",
            Error::Key(_) => "key",
            Error::Certificate(_) => "certificate",
            Error::KeyMismatch { .. } => "key_mismatch",
            Error::CertificateKey { .. } => "certificate_key",
            Error::UnalignedTable(_) => "unaligned_table",
            Error::TooLarge(_) => "too_large",
            Error::Encode(_) => "encode",
            Error::Rsa(_) => "rsa",
        }
    }

    /// How telling a verification failure is, when several signatures
    /// fail: the image was changed > a signature was tampered with > it is
    /// not ours > it cannot be read.
    pub(crate) fn rank(&self) -> u8 {
        match self {
            Error::DigestMismatch { .. } => 5,
            Error::SignatureInvalid { .. } => 4,
            Error::NotTrusted { .. } => 3,
            Error::Unsupported { .. } => 2,
            Error::Malformed { .. } => 1,
            _ => 0,
        }
    }
}
