//! Trust in a signer's certificate, as `sbverify --cert CERT` decides it:
//! the certificate is CERT itself, or CERT issued it (RFC 5280 section
//! 4.1: issuer name equal to CERT's subject, signature by CERT's key over
//! the TBSCertificate as encoded). One level only; validity periods are not
//! checked (UEFI firmware has no trusted time either).

use const_oid::db::rfc5912::{
    SHA_256_WITH_RSA_ENCRYPTION, SHA_384_WITH_RSA_ENCRYPTION, SHA_512_WITH_RSA_ENCRYPTION,
};
use der::Encode;
use rsa::{Pkcs1v15Sign, RsaPublicKey};
use sha2::{Digest, Sha256, Sha384, Sha512};
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;

use crate::build::certificate_rsa_key;
use crate::tlv::Tlv;

/// Whether `trusted` vouches for the signer: it is `trusted` itself (same
/// bytes), or `trusted` issued it and its signature verifies with
/// `trusted`'s key. Returns which, or why not.
pub(crate) fn trust(
    trusted: &Certificate,
    signer_raw: &[u8],
    signer: &Certificate,
) -> Result<bool, String> {
    let trusted_der = trusted.to_der().map_err(|e| e.to_string())?;
    if trusted_der == signer_raw {
        return Ok(true);
    }
    let issuer = &signer.tbs_certificate.issuer;
    if *issuer != trusted.tbs_certificate.subject {
        return Err(format!(
            "it is not the trusted certificate ({}) and was issued by {issuer}",
            trusted.tbs_certificate.subject
        ));
    }
    let key = certificate_rsa_key(trusted)
        .map_err(|e| format!("the trusted certificate's key is not usable RSA: {e}"))?;
    let tbs = Tlv::parse(signer_raw, 0)
        .and_then(|c| c.children())
        .map_err(|e| e.reason)?;
    let tbs = tbs.first().ok_or("empty certificate")?.raw;
    if verify_certificate_signature(&key, signer, tbs) {
        Ok(false)
    } else {
        Err(format!(
            "its certificate names {issuer} as issuer, but that key did not sign it"
        ))
    }
}

fn verify_certificate_signature(key: &RsaPublicKey, cert: &Certificate, tbs: &[u8]) -> bool {
    // RFC 5280 4.1.1.2: the outer algorithm must repeat the signed one.
    if cert.signature_algorithm != cert.tbs_certificate.signature
        || !null_or_absent(&cert.signature_algorithm)
    {
        return false;
    }
    let Some(sig) = cert.signature.as_bytes() else {
        return false;
    };
    let oid = cert.signature_algorithm.oid;
    let ok = if oid == SHA_256_WITH_RSA_ENCRYPTION {
        key.verify(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(tbs), sig)
    } else if oid == SHA_384_WITH_RSA_ENCRYPTION {
        key.verify(Pkcs1v15Sign::new::<Sha384>(), &Sha384::digest(tbs), sig)
    } else if oid == SHA_512_WITH_RSA_ENCRYPTION {
        key.verify(Pkcs1v15Sign::new::<Sha512>(), &Sha512::digest(tbs), sig)
    } else {
        return false;
    };
    ok.is_ok()
}

/// RFC 4055 / RFC 5754: RSA and SHA-2 algorithm identifiers carry NULL
/// parameters or none.
pub(crate) fn null_or_absent(alg: &AlgorithmIdentifierOwned) -> bool {
    alg.parameters.as_ref().is_none_or(|p| p.is_null())
}
