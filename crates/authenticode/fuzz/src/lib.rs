//! The checks behind the fuzz targets, one function per target.
//!
//! `crates/authenticode/tests/fuzz_corpus.rs` includes this file with
//! `#[path]` and replays the committed corpus through the same functions, so
//! keep it free of dependencies other than `authenticode`.
//!
//! The trusted certificate is the `db` test fixture, whose private key the
//! fuzzer does not have: no input it makes can carry a valid signature by
//! a certificate that `db` issued, so a verified signature must be by `db`
//! itself (the seeds).

use std::sync::OnceLock;

use authenticode::{Certificate, Error};

/// Authenticode SHA-256 digest of the synthetic PE the seeds sign
/// (`tests/support/mod.rs`, `tiny_pe`).
pub const TINY_PE_DIGEST: &str = "950a5b8684a793f596f5449cd6b140fbb0619215262d78d580f6081d1df44538";

/// How far an input got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    NotPe,
    NotSigned,
    Malformed,
    Unsupported,
    DigestMismatch,
    SignatureInvalid,
    NotTrusted,
    Verified,
}

fn trusted() -> &'static Certificate {
    static CERT: OnceLock<Certificate> = OnceLock::new();
    CERT.get_or_init(|| {
        authenticode::certificate_from_pem_or_der(include_bytes!("../../tests/fixtures/db.crt"))
            .expect("the db fixture certificate parses")
    })
}

fn outcome(result: Result<authenticode::Signer, Error>) -> Outcome {
    match result {
        Ok(signer) => {
            assert!(signer.is_trusted_certificate, "{signer:?}");
            Outcome::Verified
        }
        Err(Error::Pe(_)) => Outcome::NotPe,
        Err(Error::NotSigned(_)) => Outcome::NotSigned,
        Err(Error::Malformed { .. }) => Outcome::Malformed,
        Err(Error::Unsupported { .. }) => Outcome::Unsupported,
        Err(Error::DigestMismatch { .. }) => Outcome::DigestMismatch,
        Err(Error::SignatureInvalid { .. }) => Outcome::SignatureInvalid,
        Err(Error::NotTrusted { .. }) => Outcome::NotTrusted,
        Err(other) => panic!("verification cannot fail with {other:?}"),
    }
}

/// Target `verify_image`: a whole file to `authenticode::verify` with the
/// `db` certificate. Never panics; a verified image names an entry that
/// exists.
pub fn verify_image(data: &[u8]) -> Outcome {
    match authenticode::verify(data, trusted()) {
        Ok(v) => {
            assert!(v.index < v.entries, "{v:?}");
            outcome(Ok(v.signer))
        }
        Err(e) => outcome(Err(e)),
    }
}

/// Target `signed_data`: bytes as the PKCS#7 of a WIN_CERTIFICATE, checked
/// against the digest of the seeds' image; and as a certificate table.
pub fn signed_data(data: &[u8]) -> Outcome {
    let _ = authenticode::wincert::parse_table(data, 0);
    let mut digest = [0u8; 32];
    for (i, byte) in digest.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&TINY_PE_DIGEST[2 * i..2 * i + 2], 16).unwrap_or(0);
    }
    outcome(authenticode::check_signed_data(
        data,
        0,
        0,
        &digest,
        trusted(),
    ))
}
