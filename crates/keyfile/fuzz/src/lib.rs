//! The check behind the fuzz target `read`.
//!
//! `crates/keyfile/tests/fuzz_corpus.rs` includes this file with `#[path]`
//! and replays the committed corpus through the same function, so keep it
//! free of dependencies other than `keyfile`.

/// The furthest an input got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// No PEM block and not a DER certificate.
    NotPem,
    /// A PEM block is broken (unterminated, bad base64, END mismatch).
    BrokenPem,
    /// Well-formed PEM, but no usable key or certificate.
    Blocks,
    /// A certificate (PEM or DER).
    Certificate,
    /// A key of the wrong type, named.
    WrongKeyType,
    /// A usable RSA or Ed25519 private or public key.
    Key,
}

/// Target `read`: the bytes to every reader of the crate. Never panics; the
/// readers agree with `blocks` (a broken block fails them all, no block
/// fails them all as not PEM).
pub fn read(data: &[u8]) -> Outcome {
    let blocks = keyfile::blocks(data);
    let rsa = keyfile::rsa_private_key(data);
    let ed = keyfile::ed25519_signing_key(data);
    let ed_public = keyfile::ed25519_verifying_key(data);
    let rsa_public = keyfile::rsa_public_key(data);
    let certs = keyfile::certificates(data);
    if let Ok(certs) = &certs {
        assert!(!certs.is_empty());
    }
    let outcomes = [
        rsa.as_ref().map(|_| ()),
        ed.as_ref().map(|_| ()),
        ed_public.as_ref().map(|_| ()),
        rsa_public.as_ref().map(|_| ()),
    ];
    match &blocks {
        Err(_) => {
            for outcome in outcomes {
                assert!(outcome.is_err());
            }
            if certs.is_ok() {
                // Only a DER certificate can be read past a broken block.
                return Outcome::Certificate;
            }
            Outcome::BrokenPem
        }
        Ok(list) if list.is_empty() => {
            for outcome in outcomes {
                assert!(matches!(outcome, Err(keyfile::Error::NotPem)));
            }
            if certs.is_ok() {
                Outcome::Certificate
            } else {
                Outcome::NotPem
            }
        }
        Ok(_) => {
            if outcomes.iter().any(Result::is_ok) {
                Outcome::Key
            } else if certs.is_ok() {
                Outcome::Certificate
            } else if outcomes
                .iter()
                .any(|o| matches!(o, Err(keyfile::Error::WrongType { .. })))
            {
                Outcome::WrongKeyType
            } else {
                Outcome::Blocks
            }
        }
    }
}
