//! Key and certificate files, read as OpenSSL reads them: the one reader of
//! PEM in the workspace (`authenticode` for signing keys and certificates,
//! `clip keys show`, `qemu` for the certificates it enrols).
//!
//! * PEM (RFC 7468) with OpenSSL's leniency: text around the blocks, blank
//!   lines, CRLF and bundles of several blocks are fine ([`pem`]).
//! * Which block: as OpenSSL, a private key is the first block labelled as
//!   one (PKCS#8 "PRIVATE KEY", RFC 5208; PKCS#1 "RSA PRIVATE KEY", RFC 8017
//!   A.1.2; SEC1 "EC PRIVATE KEY", RFC 5915; …), a public key the first
//!   "PUBLIC KEY" (SubjectPublicKeyInfo, RFC 5280 §4.1.2.7), certificates
//!   every "CERTIFICATE" block (also the older "X509 CERTIFICATE", and
//!   "TRUSTED CERTIFICATE", whose trust settings are ignored); other blocks
//!   are skipped. A certificate file may also be DER (RFC 5280).
//! * A key of the wrong type is named from its algorithm identifier
//!   (RFC 8017, 5480, 8410) or label: "it is an Ed25519 key; an RSA key is
//!   needed".
//!
//! Pure: bytes in, keys out. Messages never include key material.

pub mod pem;

use std::fmt;

use const_oid::ObjectIdentifier;
use der::{Decode, Reader, SliceReader};
use ed25519_dalek::{SigningKey, VerifyingKey};
use pkcs8::PrivateKeyInfo;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::{RsaPrivateKey, RsaPublicKey};
use spki::{AlgorithmIdentifierRef, SubjectPublicKeyInfoRef};
use x509_cert::Certificate;

pub use pem::{Block, blocks};

/// Everything that makes a key or certificate file unusable.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not PEM (no -----BEGIN line)")]
    NotPem,
    #[error("the PEM block \"{label}\" at line {line} has no -----END {label}----- line")]
    Unterminated { label: String, line: usize },
    #[error("the PEM block \"{label}\" at line {line} ends with -----END {end}-----")]
    EndMismatch {
        label: String,
        line: usize,
        end: String,
    },
    #[error("the PEM block \"{label}\" at line {line} is not valid base64 (line {bad_line})")]
    Base64 {
        label: String,
        line: usize,
        bad_line: usize,
    },
    /// None of the blocks is of the kind wanted; `found` lists them.
    #[error("no {wanted} among the PEM blocks ({found})")]
    Missing { wanted: &'static str, found: String },
    #[error(
        "the key (PEM block {block}) is encrypted; decrypt it first: openssl pkey -in KEY -out PLAIN"
    )]
    Encrypted { block: String },
    #[error("the PEM block {block} is {what}; convert it: {how}")]
    Format {
        block: String,
        what: &'static str,
        how: &'static str,
    },
    #[error("it is {} {found} key; {} {wanted} key is needed", found.article(), wanted.article())]
    WrongType { found: KeyType, wanted: KeyType },
    /// The block has the right label and type but its contents do not parse.
    #[error("the {form} key (PEM block {block}) does not parse: {reason}")]
    KeyParse {
        form: &'static str,
        block: String,
        reason: String,
    },
    #[error("inconsistent RSA key: {0}")]
    RsaInvalid(String),
    #[error("the certificate in PEM block {block} does not parse: {reason}")]
    Certificate { block: String, reason: String },
    #[error("neither PEM (no -----BEGIN line) nor a DER certificate ({0})")]
    NotCertificate(String),
}

/// A key's type, from its algorithm identifier or PEM label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyType {
    Rsa,
    RsaPss,
    /// Elliptic curve (id-ecPublicKey), with the curve's name or OID.
    Ec(Option<String>),
    Ed25519,
    Ed448,
    X25519,
    X448,
    Dsa,
    Dh,
    /// Any other algorithm, by OID.
    Other(String),
}

impl KeyType {
    /// "a" or "an", as the name is read out.
    fn article(&self) -> &'static str {
        match self {
            KeyType::Dsa | KeyType::Dh | KeyType::Other(_) => "a",
            _ => "an",
        }
    }

    fn from_algorithm(alg: &AlgorithmIdentifierRef<'_>) -> Self {
        const RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
        const RSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
        const EC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
        const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
        const ED448: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.113");
        const X25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.110");
        const X448: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.111");
        const DSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10040.4.1");
        const DH: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.3.1");
        const DH_X942: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10046.2.1");
        match alg.oid {
            RSA => KeyType::Rsa,
            RSA_PSS => KeyType::RsaPss,
            EC => KeyType::Ec(alg.parameters_oid().ok().map(curve_name)),
            ED25519 => KeyType::Ed25519,
            ED448 => KeyType::Ed448,
            X25519 => KeyType::X25519,
            X448 => KeyType::X448,
            DSA => KeyType::Dsa,
            DH | DH_X942 => KeyType::Dh,
            other => KeyType::Other(other.to_string()),
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyType::Rsa => f.write_str("RSA"),
            KeyType::RsaPss => f.write_str("RSA-PSS"),
            KeyType::Ec(Some(curve)) => write!(f, "EC ({curve})"),
            KeyType::Ec(None) => f.write_str("EC"),
            KeyType::Ed25519 => f.write_str("Ed25519"),
            KeyType::Ed448 => f.write_str("Ed448"),
            KeyType::X25519 => f.write_str("X25519"),
            KeyType::X448 => f.write_str("X448"),
            KeyType::Dsa => f.write_str("DSA"),
            KeyType::Dh => f.write_str("DH"),
            KeyType::Other(oid) => write!(f, "algorithm {oid}"),
        }
    }
}

/// The usual name of a named curve (RFC 5480 §2.1.1.1, RFC 5639), else its OID.
fn curve_name(oid: ObjectIdentifier) -> String {
    match oid.to_string().as_str() {
        "1.2.840.10045.3.1.7" => "P-256".into(),
        "1.3.132.0.34" => "P-384".into(),
        "1.3.132.0.35" => "P-521".into(),
        "1.3.132.0.10" => "secp256k1".into(),
        "1.2.156.10197.1.301" => "SM2".into(),
        "1.3.36.3.3.2.8.1.1.7" => "brainpoolP256r1".into(),
        "1.3.36.3.3.2.8.1.1.11" => "brainpoolP384r1".into(),
        "1.3.36.3.3.2.8.1.1.13" => "brainpoolP512r1".into(),
        other => other.into(),
    }
}

/// The blocks of `input`; [`Error::NotPem`] when there is none.
fn read(input: &[u8]) -> Result<Vec<Block>, Error> {
    let blocks = blocks(input)?;
    if blocks.is_empty() {
        return Err(Error::NotPem);
    }
    Ok(blocks)
}

/// `"A" at line 1, "B" at line 9`.
fn list(blocks: &[Block]) -> String {
    let names: Vec<String> = blocks.iter().map(Block::describe).collect();
    names.join(", ")
}

const PRIVATE_KEY_LABELS: [&str; 7] = [
    "PRIVATE KEY",
    "RSA PRIVATE KEY",
    "EC PRIVATE KEY",
    "DSA PRIVATE KEY",
    "ENCRYPTED PRIVATE KEY",
    "OPENSSH PRIVATE KEY",
    "ANY PRIVATE KEY",
];

/// The first private-key block of `blocks`.
fn private_key_block(blocks: &[Block]) -> Result<&Block, Error> {
    blocks
        .iter()
        .find(|b| PRIVATE_KEY_LABELS.contains(&b.label()))
        .ok_or_else(|| Error::Missing {
            wanted: "private key",
            found: list(blocks),
        })
}

/// A private key of one of the types [`private_key`] is asked for.
#[derive(Debug)]
enum Key<'a> {
    Pkcs8(PrivateKeyInfo<'a>),
    Pkcs1Rsa,
}

/// The private key in `blocks` and its block, checked to be of type
/// `wanted` (RSA may come as PKCS#1 too).
fn private_key<'a>(blocks: &'a [Block], wanted: KeyType) -> Result<(&'a Block, Key<'a>), Error> {
    let block = private_key_block(blocks)?;
    let wrong = |found| Error::WrongType {
        found,
        wanted: wanted.clone(),
    };
    match block.label() {
        "PRIVATE KEY" | "ANY PRIVATE KEY" => {
            let info = PrivateKeyInfo::try_from(block.der()).map_err(|e| Error::KeyParse {
                form: "PKCS#8",
                block: block.describe(),
                reason: e.to_string(),
            })?;
            let found = KeyType::from_algorithm(&info.algorithm);
            if found != wanted {
                return Err(wrong(found));
            }
            Ok((block, Key::Pkcs8(info)))
        }
        "RSA PRIVATE KEY" if wanted != KeyType::Rsa => Err(wrong(KeyType::Rsa)),
        "RSA PRIVATE KEY" if block.encrypted() => Err(Error::Encrypted {
            block: block.describe(),
        }),
        "RSA PRIVATE KEY" => Ok((block, Key::Pkcs1Rsa)),
        "EC PRIVATE KEY" => Err(wrong(KeyType::Ec(sec1_curve(block.der())))),
        "DSA PRIVATE KEY" => Err(wrong(KeyType::Dsa)),
        "ENCRYPTED PRIVATE KEY" => Err(Error::Encrypted {
            block: block.describe(),
        }),
        _ => Err(Error::Format {
            block: block.describe(),
            what: "in OpenSSH's own format",
            how: "ssh-keygen -p -m PKCS8 -f KEY, or openssl pkey -in KEY -out KEY.pem",
        }),
    }
}

/// The curve of a SEC1 ECPrivateKey (RFC 5915 §3): SEQUENCE { version,
/// privateKey OCTET STRING, [0] parameters OPTIONAL, … }.
fn sec1_curve(der: &[u8]) -> Option<String> {
    let mut reader = SliceReader::new(der).ok()?;
    reader
        .sequence(|seq| {
            let _version = u8::decode(seq)?;
            let _key = der::asn1::OctetStringRef::decode(seq)?;
            let params = seq
                .context_specific::<ObjectIdentifier>(der::TagNumber::N0, der::TagMode::Explicit)?;
            // The public key may follow; it is not needed.
            seq.read_slice(seq.remaining_len())?;
            Ok(params)
        })
        .ok()
        .flatten()
        .map(curve_name)
}

/// An RSA private key: PKCS#8 or PKCS#1, unencrypted, consistent.
pub fn rsa_private_key(input: &[u8]) -> Result<RsaPrivateKey, Error> {
    let blocks = read(input)?;
    let (block, key) = private_key(&blocks, KeyType::Rsa)?;
    let (form, key) = match key {
        Key::Pkcs8(info) => (
            "PKCS#8 RSA",
            RsaPrivateKey::try_from(info).map_err(|e| e.to_string()),
        ),
        Key::Pkcs1Rsa => (
            "PKCS#1 RSA",
            RsaPrivateKey::from_pkcs1_der(block.der()).map_err(|e| e.to_string()),
        ),
    };
    let key = key.map_err(|reason| Error::KeyParse {
        form,
        block: block.describe(),
        reason,
    })?;
    key.validate()
        .map_err(|e| Error::RsaInvalid(e.to_string()))?;
    Ok(key)
}

/// An Ed25519 private key (PKCS#8, RFC 8410 §7; v1 or v2).
pub fn ed25519_signing_key(input: &[u8]) -> Result<SigningKey, Error> {
    let blocks = read(input)?;
    match private_key(&blocks, KeyType::Ed25519)? {
        (block, Key::Pkcs8(info)) => SigningKey::try_from(info).map_err(|e| Error::KeyParse {
            form: "PKCS#8 Ed25519",
            block: block.describe(),
            reason: e.to_string(),
        }),
        // private_key() gives PKCS#1 only when RSA is wanted.
        (_, Key::Pkcs1Rsa) => Err(Error::WrongType {
            found: KeyType::Rsa,
            wanted: KeyType::Ed25519,
        }),
    }
}

/// The first public-key block of `blocks` and its SubjectPublicKeyInfo,
/// checked to be of type `wanted` (as OpenSSL's PEM_read_PUBKEY, which
/// reads "PUBLIC KEY" blocks only).
fn public_key_info(
    blocks: &[Block],
    wanted: KeyType,
) -> Result<(&Block, SubjectPublicKeyInfoRef<'_>), Error> {
    let wrong = |found| Error::WrongType {
        found,
        wanted: wanted.clone(),
    };
    let Some(block) = blocks
        .iter()
        .find(|b| b.label() == "PUBLIC KEY" || b.label() == "RSA PUBLIC KEY")
    else {
        return Err(Error::Missing {
            wanted: "public key",
            found: list(blocks),
        });
    };
    if block.label() == "RSA PUBLIC KEY" {
        if wanted == KeyType::Rsa {
            return Err(Error::Format {
                block: block.describe(),
                what: "a PKCS#1 RSAPublicKey, not a SubjectPublicKeyInfo",
                how: "openssl rsa -RSAPublicKey_in -in KEY -pubout -out KEY.pem",
            });
        }
        return Err(wrong(KeyType::Rsa));
    }
    let spki = SubjectPublicKeyInfoRef::try_from(block.der()).map_err(|e| Error::KeyParse {
        form: "SubjectPublicKeyInfo",
        block: block.describe(),
        reason: e.to_string(),
    })?;
    let found = KeyType::from_algorithm(&spki.algorithm);
    if found != wanted {
        return Err(wrong(found));
    }
    Ok((block, spki))
}

/// An Ed25519 public key: the first "PUBLIC KEY" block (SubjectPublicKeyInfo,
/// RFC 8410 §4).
pub fn ed25519_verifying_key(input: &[u8]) -> Result<VerifyingKey, Error> {
    let blocks = read(input)?;
    let (block, spki) = public_key_info(&blocks, KeyType::Ed25519)?;
    VerifyingKey::try_from(spki).map_err(|e| Error::KeyParse {
        form: "SubjectPublicKeyInfo",
        block: block.describe(),
        reason: e.to_string(),
    })
}

/// An RSA public key: the first "PUBLIC KEY" block (SubjectPublicKeyInfo,
/// RFC 8017 §A.1.1 in RFC 5280 §4.1.2.7).
pub fn rsa_public_key(input: &[u8]) -> Result<RsaPublicKey, Error> {
    let blocks = read(input)?;
    let (block, spki) = public_key_info(&blocks, KeyType::Rsa)?;
    RsaPublicKey::try_from(spki).map_err(|e| Error::KeyParse {
        form: "SubjectPublicKeyInfo RSA",
        block: block.describe(),
        reason: e.to_string(),
    })
}

const CERTIFICATE_LABELS: [&str; 3] = ["CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE"];

/// The certificates of a PEM file, in order (at least one), or the one
/// certificate of a DER file.
pub fn certificates(input: &[u8]) -> Result<Vec<Certificate>, Error> {
    let der_error = match Certificate::from_der(input) {
        Ok(cert) => return Ok(vec![cert]),
        Err(e) => e,
    };
    let blocks = blocks(input)?;
    if blocks.is_empty() {
        return Err(Error::NotCertificate(der_error.to_string()));
    }
    let mut certs = Vec::new();
    for block in blocks
        .iter()
        .filter(|b| CERTIFICATE_LABELS.contains(&b.label()))
    {
        // A TRUSTED CERTIFICATE is the certificate followed by trust
        // settings: read the certificate only.
        let parse = || -> der::Result<Certificate> {
            let mut reader = SliceReader::new(block.der())?;
            let cert = Certificate::decode(&mut reader)?;
            if block.label() != "TRUSTED CERTIFICATE" {
                reader.finish(())?;
            }
            Ok(cert)
        };
        certs.push(parse().map_err(|e| Error::Certificate {
            block: block.describe(),
            reason: e.to_string(),
        })?);
    }
    if certs.is_empty() {
        return Err(Error::Missing {
            wanted: "certificate",
            found: list(&blocks),
        });
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! fixture {
        ($name:literal) => {
            include_bytes!(concat!("../tests/fixtures/", $name)).as_slice()
        };
    }

    fn err<T: fmt::Debug>(r: Result<T, Error>) -> String {
        r.unwrap_err().to_string()
    }

    /// `text` with `\n` line ends as CRLF.
    fn crlf(text: &[u8]) -> Vec<u8> {
        String::from_utf8_lossy(text)
            .replace('\n', "\r\n")
            .into_bytes()
    }

    #[test]
    fn rsa_keys_as_openssl_writes_them() {
        let key = rsa_private_key(fixture!("rsa.key")).unwrap();
        assert_eq!(rsa_private_key(fixture!("rsa-pkcs1.key")).unwrap(), key);
        // Blank lines, CRLF, text around, a certificate first: all as OpenSSL.
        let mut padded = b"\n\nsome notes\n".to_vec();
        padded.extend_from_slice(fixture!("rsa.crt"));
        padded.extend_from_slice(fixture!("rsa.key"));
        padded.extend_from_slice(b"\n\n  \n");
        assert_eq!(rsa_private_key(&padded).unwrap(), key);
        assert_eq!(rsa_private_key(&crlf(&padded)).unwrap(), key);
    }

    #[test]
    fn wrong_key_types_are_named() {
        for (input, want) in [
            (
                fixture!("ed25519.key"),
                "it is an Ed25519 key; an RSA key is needed",
            ),
            (
                fixture!("ec-p384.key"),
                "it is an EC (P-384) key; an RSA key is needed",
            ),
            (
                fixture!("ec-sec1.key"),
                "it is an EC (P-256) key; an RSA key is needed",
            ),
            (
                fixture!("ed448.key"),
                "it is an Ed448 key; an RSA key is needed",
            ),
            (
                fixture!("rsa-pss.key"),
                "it is an RSA-PSS key; an RSA key is needed",
            ),
        ] {
            assert_eq!(err(rsa_private_key(input)), want);
        }
        assert_eq!(
            err(ed25519_signing_key(fixture!("rsa.key"))),
            "it is an RSA key; an Ed25519 key is needed"
        );
        assert_eq!(
            err(ed25519_signing_key(fixture!("rsa-pkcs1.key"))),
            "it is an RSA key; an Ed25519 key is needed"
        );
        assert_eq!(
            err(ed25519_verifying_key(fixture!("ec-p384.pub"))),
            "it is an EC (P-384) key; an Ed25519 key is needed"
        );
        assert_eq!(
            err(ed25519_verifying_key(fixture!("rsa.pub"))),
            "it is an RSA key; an Ed25519 key is needed"
        );
    }

    #[test]
    fn rsa_public_keys() {
        let key = rsa_private_key(fixture!("rsa.key")).unwrap();
        assert_eq!(
            rsa_public_key(fixture!("rsa.pub")).unwrap(),
            key.to_public_key()
        );
        // OpenSSL's PEM_read_PUBKEY reads SubjectPublicKeyInfo only.
        let pkcs1 = {
            use rsa::pkcs1::EncodeRsaPublicKey;
            key.to_public_key()
                .to_pkcs1_pem(rsa::pkcs1::LineEnding::LF)
                .unwrap()
        };
        assert_eq!(
            err(rsa_public_key(pkcs1.as_bytes())),
            "the PEM block \"RSA PUBLIC KEY\" at line 1 is a PKCS#1 RSAPublicKey, not a \
             SubjectPublicKeyInfo; convert it: openssl rsa -RSAPublicKey_in -in KEY -pubout -out KEY.pem"
        );
        assert_eq!(
            err(rsa_public_key(fixture!("ed25519.pub"))),
            "it is an Ed25519 key; an RSA key is needed"
        );
        assert_eq!(
            err(rsa_public_key(fixture!("rsa.key"))),
            "no public key among the PEM blocks (\"PRIVATE KEY\" at line 1)"
        );
    }

    #[test]
    fn encrypted_and_foreign_keys() {
        for input in [
            fixture!("rsa-encrypted.key"),
            fixture!("rsa-pkcs1-encrypted.key"),
        ] {
            let e = err(rsa_private_key(input));
            assert!(e.contains("is encrypted; decrypt it first"), "{e}");
        }
        let ssh = b"-----BEGIN OPENSSH PRIVATE KEY-----\nAAEC\n-----END OPENSSH PRIVATE KEY-----\n";
        let e = err(rsa_private_key(ssh));
        assert!(e.contains("OpenSSH's own format; convert it"), "{e}");
    }

    #[test]
    fn missing_or_broken_keys() {
        assert_eq!(err(rsa_private_key(b"")), "not PEM (no -----BEGIN line)");
        assert_eq!(
            err(rsa_private_key(b"garbage\n")),
            "not PEM (no -----BEGIN line)"
        );
        assert_eq!(
            err(rsa_private_key(fixture!("bundle.crt"))),
            "no private key among the PEM blocks (\"CERTIFICATE\" at line 1, \"CERTIFICATE\" at line 20)"
        );
        let e = err(rsa_private_key(
            b"-----BEGIN PRIVATE KEY-----\nbm9wZQ==\n-----END PRIVATE KEY-----\n",
        ));
        assert!(
            e.starts_with("the PKCS#8 key (PEM block \"PRIVATE KEY\" at line 1) does not parse"),
            "{e}"
        );
        let e = err(rsa_private_key(
            b"-----BEGIN RSA PRIVATE KEY-----\nbm9wZQ==\n-----END RSA PRIVATE KEY-----\n",
        ));
        assert!(
            e.starts_with(
                "the PKCS#1 RSA key (PEM block \"RSA PRIVATE KEY\" at line 1) does not parse"
            ),
            "{e}"
        );
        let e = err(ed25519_verifying_key(fixture!("ed25519.key")));
        assert!(e.starts_with("no public key among the PEM blocks"), "{e}");
    }

    #[test]
    fn ed25519_keys() {
        let key = ed25519_signing_key(fixture!("ed25519.key")).unwrap();
        let public = ed25519_verifying_key(fixture!("ed25519.pub")).unwrap();
        assert_eq!(key.verifying_key(), public);
        let mut padded = fixture!("ed25519.pub").to_vec();
        padded.extend_from_slice(b"\n\n");
        assert_eq!(ed25519_verifying_key(&crlf(&padded)).unwrap(), public);
    }

    #[test]
    fn certificates_pem_der_and_bundles() {
        let rsa = certificates(fixture!("rsa.crt")).unwrap();
        assert_eq!(rsa.len(), 1);
        assert_eq!(certificates(fixture!("rsa.der")).unwrap(), rsa);
        let bundle = certificates(fixture!("bundle.crt")).unwrap();
        assert_eq!(bundle.len(), 2);
        assert_eq!(bundle[0], rsa[0]);
        // openssl pkcs7 -print_certs: subject=/issuer= lines, blank lines.
        assert_eq!(certificates(fixture!("printed.crt")).unwrap(), bundle);
        assert_eq!(
            certificates(&crlf(fixture!("printed.crt"))).unwrap(),
            bundle
        );
        // openssl x509 -trustout: the certificate, then trust settings.
        assert_eq!(certificates(fixture!("trusted.crt")).unwrap(), rsa);
        // A key beside the certificate is skipped.
        let mut with_key = fixture!("rsa.key").to_vec();
        with_key.extend_from_slice(fixture!("rsa.crt"));
        assert_eq!(certificates(&with_key).unwrap(), rsa);
    }

    #[test]
    fn bad_certificates() {
        let e = err(certificates(b"junk"));
        assert!(
            e.starts_with("neither PEM (no -----BEGIN line) nor a DER certificate"),
            "{e}"
        );
        let der = fixture!("rsa.der");
        let e = err(certificates(&der[..der.len() - 1]));
        assert!(e.starts_with("neither PEM"), "{e}");
        assert_eq!(
            err(certificates(fixture!("rsa.key"))),
            "no certificate among the PEM blocks (\"PRIVATE KEY\" at line 1)"
        );
        let e = err(certificates(
            b"-----BEGIN CERTIFICATE-----\nbm9wZQ==\n-----END CERTIFICATE-----\n",
        ));
        assert!(
            e.starts_with("the certificate in PEM block \"CERTIFICATE\" at line 1 does not parse"),
            "{e}"
        );
        // A broken block anywhere fails the file, as in OpenSSL.
        let mut broken = fixture!("rsa.crt").to_vec();
        broken.extend_from_slice(b"-----BEGIN CERTIFICATE-----\nAAEC\n");
        let e = err(certificates(&broken));
        assert!(e.contains("has no -----END CERTIFICATE----- line"), "{e}");
    }

    #[test]
    fn key_type_names() {
        assert_eq!(KeyType::Ec(None).to_string(), "EC");
        let e = Error::WrongType {
            found: KeyType::Dsa,
            wanted: KeyType::Rsa,
        };
        assert_eq!(e.to_string(), "it is a DSA key; an RSA key is needed");
    }
}
