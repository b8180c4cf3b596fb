//! The checks behind the fuzz targets, one function per target.
//!
//! `crates/secureboot/tests/fuzz_corpus.rs` includes this file with `#[path]`
//! and replays the committed corpus through the same functions, so keep it
//! free of dependencies other than `secureboot`.

use secureboot::auth::{EFI_VARIABLE_APPEND_WRITE, SECURE_BOOT_ATTRIBUTES};
use secureboot::der::Decode;
use secureboot::esl::SignatureList;
use secureboot::guid::{EFI_GLOBAL_VARIABLE, EFI_IMAGE_SECURITY_DATABASE_GUID};
use secureboot::x509_cert::Certificate;
use secureboot::{AuthVariable, Error, pkcs7};

/// The PK of the set the seeds come from (see make_seeds.sh).
const TRUSTED_PK: &[u8] = include_bytes!("../trusted-PK.cer");

/// How far an input got, so that the corpus replay can tell that the corpus
/// still reaches the deep end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// The container did not parse.
    Rejected,
    /// The container parsed (and re-encoded to the input); for `auth`, the
    /// PKCS#7 was refused.
    Parsed,
    /// `auth`: the signature checked against the trusted PK, directly or
    /// through a certificate it issued.
    Verified,
}

/// Target `esl`: parse a signature database; whatever parses re-encodes to
/// the input (but for SignatureSize of lists without signatures, which
/// encoding normalises to 16).
pub fn esl(data: &[u8]) -> Outcome {
    let lists = match SignatureList::parse_all(data) {
        Ok(lists) => lists,
        Err(
            Error::Truncated { offset, .. }
            | Error::EslListSize { offset, .. }
            | Error::EslHeaderSize { offset, .. }
            | Error::EslSignatureSize { offset, .. },
        ) => {
            assert!(offset <= data.len());
            return Outcome::Rejected;
        }
        Err(e) => panic!("unexpected error from parse_all: {e:?}"),
    };
    let mut offset = 0;
    for list in &lists {
        let encoded = list.encode().expect("a parsed list encodes");
        let original = &data[offset..offset + encoded.len()];
        if list.signatures.is_empty() {
            assert_eq!(encoded[..24], original[..24]);
            assert_eq!(encoded[28..], original[28..]);
        } else {
            assert_eq!(encoded, original);
        }
        assert_eq!(
            SignatureList::parse_all(&encoded).expect("re-parses"),
            std::slice::from_ref(list)
        );
        offset += encoded.len();
    }
    assert_eq!(offset, data.len());
    Outcome::Parsed
}

/// Target `auth`: parse a `.auth` buffer; whatever parses re-encodes to the
/// input, and its signature is checked as an update of PK, KEK or db
/// against the seeds' PK without panicking.
pub fn auth(data: &[u8]) -> Outcome {
    let Ok(parsed) = AuthVariable::parse(data) else {
        return Outcome::Rejected;
    };
    assert_eq!(parsed.encode().expect("a parsed .auth encodes"), data);
    let pk = Certificate::from_der(TRUSTED_PK).expect("trusted-PK.cer is DER");
    let _ = pkcs7::decode_signed_data(&parsed.cert_data);
    let updates = [
        ("PK", EFI_GLOBAL_VARIABLE),
        ("KEK", EFI_GLOBAL_VARIABLE),
        ("db", EFI_IMAGE_SECURITY_DATABASE_GUID),
    ];
    let mut outcome = Outcome::Parsed;
    let attributes = [
        SECURE_BOOT_ATTRIBUTES,
        SECURE_BOOT_ATTRIBUTES | EFI_VARIABLE_APPEND_WRITE,
    ];
    for ((name, vendor), attributes) in updates.into_iter().flat_map(|u| attributes.map(|a| (u, a)))
    {
        match parsed.verify_with_attributes(name, vendor, attributes, &[&pk]) {
            Ok((signer, index)) => {
                assert_eq!(index, 0);
                assert!(signer == pk || pkcs7::issued_by(&signer, &pk));
                outcome = Outcome::Verified;
            }
            Err(Error::Pkcs7(_) | Error::BadSignature { .. } | Error::UntrustedSigner { .. }) => {}
            Err(Error::Der(_)) => {}
            Err(e) => panic!("unexpected error from verify: {e:?}"),
        }
    }
    outcome
}
