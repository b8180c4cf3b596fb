use crate::guid::Guid;

/// Everything that can go wrong making or reading Secure Boot keys, lists
/// and signed updates. Parser errors carry the byte offset of the bad field.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0:?} is not a GUID of the form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx")]
    BadGuid(String),
    #[error("time {0} (seconds since 1970) is past what EFI_TIME and X.509 can hold")]
    TimeOutOfRange(u64),
    #[error("EFI_TIME field {field} at byte {offset} is {value}, out of range")]
    BadTime {
        offset: usize,
        field: &'static str,
        value: u64,
    },
    #[error("{what} at byte {offset} is truncated: {need} bytes needed, {have} left")]
    Truncated {
        what: &'static str,
        offset: usize,
        need: usize,
        have: usize,
    },
    #[error(
        "EFI_SIGNATURE_LIST SignatureListSize at byte {offset} is {list_size}: \
         less than the 28-byte header or more than the {available} bytes left"
    )]
    EslListSize {
        offset: usize,
        list_size: u32,
        available: usize,
    },
    #[error(
        "EFI_SIGNATURE_LIST SignatureHeaderSize at byte {offset} is {header_size}, \
         too large for a list of {list_size} bytes"
    )]
    EslHeaderSize {
        offset: usize,
        header_size: u32,
        list_size: u32,
    },
    #[error(
        "EFI_SIGNATURE_LIST SignatureSize at byte {offset} is {signature_size}: below the \
         16-byte owner GUID or not a divisor of the {body} bytes of signatures"
    )]
    EslSignatureSize {
        offset: usize,
        signature_size: u32,
        body: usize,
    },
    #[error("signatures of one list must have one size; found {first} and {other} bytes")]
    EslMixedSizes { first: usize, other: usize },
    #[error("signature list of {0} bytes does not fit its 32-bit size field")]
    EslTooLarge(usize),
    #[error("{0}.esl is not one X.509 signature list holding exactly {0}'s certificate")]
    EslContents(&'static str),
    #[error(
        "WIN_CERTIFICATE dwLength at byte {offset} is {length}: not enough for CertData, \
         or past the {available} bytes after the TimeStamp"
    )]
    AuthLength {
        offset: usize,
        length: u32,
        available: usize,
    },
    #[error("WIN_CERTIFICATE wRevision at byte {offset} is {revision:#06x}, expected 0x0200")]
    AuthRevision { offset: usize, revision: u16 },
    #[error(
        "WIN_CERTIFICATE wCertificateType at byte {offset} is {cert_type:#06x}, \
         expected WIN_CERT_TYPE_EFI_GUID (0x0ef1)"
    )]
    AuthCertificateType { offset: usize, cert_type: u16 },
    #[error("CertType at byte {offset} is {guid}, expected EFI_CERT_TYPE_PKCS7_GUID")]
    AuthCertType { offset: usize, guid: Guid },
    #[error("CertData of {0} bytes does not fit the 32-bit dwLength")]
    AuthTooLarge(usize),
    #[error("{0}.auth does not carry {0}.esl as its new variable contents")]
    AuthPayload(&'static str),
    #[error("PKCS#7 CertData: {0}")]
    Pkcs7(String),
    #[error("PKCS#7 signature of {signer} does not match the signed data")]
    BadSignature { signer: String },
    #[error("signer {signer} is neither a trusted certificate nor issued by one")]
    UntrustedSigner { signer: String },
    #[error("cannot sign: {0}")]
    Sign(String),
    #[error("cannot generate an RSA key: {0}")]
    KeyGeneration(String),
    #[error(
        "{0:?} cannot name a certificate: it must be 1 to 64 characters (with the \
         \" PK\", \" KEK\" or \" db\" suffix), without control characters or white \
         space at either end"
    )]
    BadName(String),
    #[error("cannot build certificate: {0}")]
    Certificate(String),
    #[error("DER encoding: {0}")]
    Der(der::Error),
    #[error("key encoding: {0}")]
    Pkcs8(pkcs8::Error),
    #[error("public key encoding: {0}")]
    Spki(spki::Error),
}

// Hand-written `From`s: the messages above already include the cause, and a
// `#[from]` source would make `anyhow`'s `{:#}` print it twice
// (docs/conventions.md, Errors).
impl From<der::Error> for Error {
    fn from(e: der::Error) -> Self {
        Error::Der(e)
    }
}

impl From<pkcs8::Error> for Error {
    fn from(e: pkcs8::Error) -> Self {
        Error::Pkcs8(e)
    }
}

impl From<spki::Error> for Error {
    fn from(e: spki::Error) -> Self {
        Error::Spki(e)
    }
}
