//! Reading signing keys and certificates: RSA private keys as PEM PKCS#8
//! (RFC 5208, "BEGIN PRIVATE KEY", what `openssl req -newkey` writes) or
//! PKCS#1 (RFC 8017 appendix A.1.2, "BEGIN RSA PRIVATE KEY"); X.509
//! certificates (RFC 5280) as PEM or DER.
//!
//! Error messages never include key material.

use der::{Decode, DecodePem};
use rsa::RsaPrivateKey;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::DecodePrivateKey;
use x509_cert::Certificate;

use crate::error::Error;

/// The first PEM label in `text`, e.g. "PRIVATE KEY".
fn pem_label(text: &str) -> Option<&str> {
    let start = text.find("-----BEGIN ")? + "-----BEGIN ".len();
    let len = text[start..].find("-----")?;
    Some(&text[start..start + len])
}

/// An RSA private key from PEM text (PKCS#8 or PKCS#1, unencrypted).
pub fn private_key_from_pem(text: &str) -> Result<RsaPrivateKey, Error> {
    let key = match pem_label(text) {
        Some("PRIVATE KEY") => RsaPrivateKey::from_pkcs8_pem(text).map_err(|e| {
            Error::Key(format!(
                "PKCS#8 key is not a readable RSA key ({e}); only RSA keys can sign"
            ))
        })?,
        Some("RSA PRIVATE KEY") => RsaPrivateKey::from_pkcs1_pem(text)
            .map_err(|e| Error::Key(format!("PKCS#1 RSA key does not parse ({e})")))?,
        Some("ENCRYPTED PRIVATE KEY") => {
            return Err(Error::Key(
                "the key is encrypted; decrypt it first (openssl pkey -in KEY -out PLAIN)".into(),
            ));
        }
        Some(other) => {
            return Err(Error::Key(format!(
                "PEM block \"{other}\" is not an RSA private key (expected \"PRIVATE KEY\" or \"RSA PRIVATE KEY\")"
            )));
        }
        None => {
            return Err(Error::Key(
                "not a PEM private key (no -----BEGIN line)".into(),
            ));
        }
    };
    key.validate()
        .map_err(|e| Error::Key(format!("inconsistent RSA key: {e}")))?;
    Ok(key)
}

/// An X.509 certificate, PEM ("BEGIN CERTIFICATE") or DER.
pub fn certificate_from_pem_or_der(bytes: &[u8]) -> Result<Certificate, Error> {
    let text = std::str::from_utf8(bytes).ok();
    match text.and_then(pem_label) {
        Some("CERTIFICATE") => Certificate::from_pem(bytes)
            .map_err(|e| Error::Certificate(format!("PEM certificate does not parse: {e}"))),
        Some(other) => Err(Error::Certificate(format!(
            "PEM block \"{other}\" is not a certificate"
        ))),
        None => Certificate::from_der(bytes).map_err(|e| {
            Error::Certificate(format!("neither a PEM certificate nor a DER one ({e})"))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CERT: &str = include_str!("../tests/fixtures/db.crt");
    const KEY: &str = include_str!("../tests/fixtures/db.key");

    #[test]
    fn reads_pkcs8_and_pkcs1_keys() {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        let key = private_key_from_pem(KEY).unwrap();
        let pkcs1 = key.to_pkcs1_pem(rsa::pkcs8::LineEnding::LF).unwrap();
        assert_eq!(private_key_from_pem(&pkcs1).unwrap(), key);
    }

    #[test]
    fn bad_keys_are_named() {
        for (text, phrase) in [
            ("", "no -----BEGIN"),
            ("garbage", "no -----BEGIN"),
            (CERT, "\"CERTIFICATE\" is not an RSA private key"),
            (
                "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
                "encrypted",
            ),
            (
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
                "PKCS#8",
            ),
            (
                "-----BEGIN RSA PRIVATE KEY-----\n!!\n-----END RSA PRIVATE KEY-----\n",
                "PKCS#1",
            ),
        ] {
            let err = private_key_from_pem(text).unwrap_err().to_string();
            assert!(err.contains(phrase), "{text:?}: {err}");
        }
    }

    #[test]
    fn reads_pem_and_der_certificates() {
        use der::Encode;
        let cert = certificate_from_pem_or_der(CERT.as_bytes()).unwrap();
        let der = cert.to_der().unwrap();
        assert_eq!(certificate_from_pem_or_der(&der).unwrap(), cert);
        for bad in [&b""[..], b"junk", KEY.as_bytes(), &der[..der.len() - 1]] {
            assert!(certificate_from_pem_or_der(bad).is_err());
        }
    }
}
