//! Reading signing keys and certificates, through the workspace's one PEM
//! reader (`keyfile`, which reads what OpenSSL reads): RSA private keys as
//! PEM PKCS#8 (RFC 5208, "BEGIN PRIVATE KEY", what `openssl req -newkey`
//! writes) or PKCS#1 (RFC 8017 appendix A.1.2, "BEGIN RSA PRIVATE KEY");
//! X.509 certificates (RFC 5280) as PEM, alone or in a bundle, or DER.
//!
//! Error messages never include key material.

use rsa::RsaPrivateKey;
use x509_cert::Certificate;

use crate::error::Error;

/// An RSA private key from a PEM file (PKCS#8 or PKCS#1, unencrypted; the
/// first private key in the file). Another key type is named.
pub fn private_key_from_pem(bytes: &[u8]) -> Result<RsaPrivateKey, Error> {
    keyfile::rsa_private_key(bytes).map_err(|e| Error::Key(e.to_string()))
}

/// The certificates of a PEM file (every "CERTIFICATE" block, in order;
/// at least one) or the one certificate of a DER file.
pub fn certificates_from_pem_or_der(bytes: &[u8]) -> Result<Vec<Certificate>, Error> {
    keyfile::certificates(bytes).map_err(|e| Error::Certificate(e.to_string()))
}

/// An X.509 certificate, PEM or DER; of a PEM bundle, the first, as
/// `openssl x509` takes it.
pub fn certificate_from_pem_or_der(bytes: &[u8]) -> Result<Certificate, Error> {
    let mut certs = certificates_from_pem_or_der(bytes)?;
    // keyfile::certificates never returns an empty list.
    Ok(certs.swap_remove(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CERT: &str = include_str!("../tests/fixtures/db.crt");
    const KEY: &str = include_str!("../tests/fixtures/db.key");

    #[test]
    fn reads_pkcs8_and_pkcs1_keys() {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        let key = private_key_from_pem(KEY.as_bytes()).unwrap();
        let pkcs1 = key.to_pkcs1_pem(rsa::pkcs8::LineEnding::LF).unwrap();
        assert_eq!(private_key_from_pem(pkcs1.as_bytes()).unwrap(), key);
    }

    #[test]
    fn bad_keys_are_named() {
        for (text, phrase) in [
            ("", "no -----BEGIN"),
            ("garbage", "no -----BEGIN"),
            (
                CERT,
                "no private key among the PEM blocks (\"CERTIFICATE\" at line 1)",
            ),
            (
                "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
                "encrypted",
            ),
            (
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
                "PKCS#8",
            ),
            (
                "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n",
                "PKCS#1 RSA key",
            ),
            (
                "-----BEGIN RSA PRIVATE KEY-----\n!!\n-----END RSA PRIVATE KEY-----\n",
                "not valid base64 (line 2)",
            ),
            (
                "-----BEGIN PRIVATE KEY-----\n\
                 MC4CAQAwBQYDK2VwBCIEIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n\
                 -----END PRIVATE KEY-----\n",
                "it is an Ed25519 key; an RSA key is needed",
            ),
        ] {
            let err = private_key_from_pem(text.as_bytes())
                .unwrap_err()
                .to_string();
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
        // A bundle: the first certificate, as openssl x509 takes it.
        let bundle = format!(
            "subject=…\n{CERT}\n\n{KEY}{}",
            include_str!("../tests/fixtures/other.crt")
        );
        assert_eq!(
            certificate_from_pem_or_der(bundle.as_bytes()).unwrap(),
            cert
        );
        assert_eq!(
            certificates_from_pem_or_der(bundle.as_bytes())
                .unwrap()
                .len(),
            2
        );
    }
}
