//! The PKCS#7 (RFC 2315) SignedData of an authenticated variable, as UEFI
//! 2.10 §8.2.2 (SetVariable, "EFI_VARIABLE_AUTHENTICATION_2 descriptor")
//! prescribes it:
//!
//! * version 1, one digest algorithm: SHA-256;
//! * contentInfo of type id-data with the content absent (detached: the
//!   signed bytes are rebuilt by the firmware from SetVariable's arguments);
//! * certificates: at least the signer's certificate;
//! * one SignerInfo, version 1, identified by issuer and serial number,
//!   with no authenticated attributes, so the RSA PKCS#1 v1.5 signature is
//!   over the SHA-256 digest of the content itself.
//!
//! The DER is the bare `SignedData`, not wrapped in a `ContentInfo`: what the
//! spec says ("CertData: DER-encoded PKCS #7 SignedData"), what efitools'
//! `sign-efi-sig-list` writes (`i2d_PKCS7_SIGNED`, `PKCS7_NOATTR`) and what
//! some firmware (HP) requires; edk2 accepts both forms, and so does
//! [`verify_detached`]. With the same key, certificate and data the output
//! is byte-identical to efitools' (PKCS#1 v1.5 signatures are deterministic).

use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use const_oid::db::rfc5912::{ID_SHA_256, RSA_ENCRYPTION, SHA_256_WITH_RSA_ENCRYPTION};
use const_oid::db::rfc6268::{ID_DATA, ID_SIGNED_DATA};
use der::asn1::{OctetString, SetOfVec};
use der::referenced::OwnedToRef;
use der::{Any, Decode, Encode};
use rand::{CryptoRng, RngCore};
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha2::Sha256;
use signature::{RandomizedSigner, SignatureEncoding, Verifier};
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;

use crate::Error;

/// AlgorithmIdentifier with explicit NULL parameters, as OpenSSL writes
/// them in PKCS#7 for both SHA-256 and rsaEncryption.
fn algorithm(oid: const_oid::ObjectIdentifier) -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid,
        parameters: Some(Any::null()),
    }
}

/// Signs `data` with `key` and returns the DER of a detached SignedData
/// carrying `cert` (the certificate of `key`). `rng` blinds the RSA
/// private-key operation.
pub fn sign_detached<R: CryptoRng + RngCore>(
    key: &RsaPrivateKey,
    cert: &Certificate,
    data: &[u8],
    rng: &mut R,
) -> Result<Vec<u8>, Error> {
    let signer = SigningKey::<Sha256>::new(key.clone());
    let signature: Signature = signer
        .try_sign_with_rng(rng, data)
        .map_err(|e| Error::Sign(e.to_string()))?;
    let signer_info = SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: cert.tbs_certificate.issuer.clone(),
            serial_number: cert.tbs_certificate.serial_number.clone(),
        }),
        digest_alg: algorithm(ID_SHA_256),
        signed_attrs: None,
        signature_algorithm: algorithm(RSA_ENCRYPTION),
        signature: OctetString::new(signature.to_vec())?,
        unsigned_attrs: None,
    };
    let signed = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: SetOfVec::try_from(vec![algorithm(ID_SHA_256)])?,
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: ID_DATA,
            econtent: None,
        },
        certificates: Some(CertificateSet(SetOfVec::try_from(vec![
            CertificateChoices::Certificate(cert.clone()),
        ])?)),
        crls: None,
        signer_infos: SignerInfos(SetOfVec::try_from(vec![signer_info])?),
    };
    Ok(signed.to_der()?)
}

/// Decodes CertData: a bare SignedData or one wrapped in a ContentInfo.
pub fn decode_signed_data(der: &[u8]) -> Result<SignedData, Error> {
    if let Ok(info) = ContentInfo::from_der(der) {
        if info.content_type != ID_SIGNED_DATA {
            return Err(Error::Pkcs7(format!(
                "ContentInfo holds {}, not signedData",
                info.content_type
            )));
        }
        return info
            .content
            .decode_as::<SignedData>()
            .map_err(|e| Error::Pkcs7(format!("not a DER SignedData: {e}")));
    }
    SignedData::from_der(der).map_err(|e| Error::Pkcs7(format!("not a DER SignedData: {e}")))
}

/// RSA public key of a certificate.
fn public_key(cert: &Certificate) -> Result<RsaPublicKey, Error> {
    RsaPublicKey::try_from(cert.tbs_certificate.subject_public_key_info.owned_to_ref())
        .map_err(|e| Error::Pkcs7(format!("certificate key is not RSA: {e}")))
}

/// Whether `issuer` signed `cert` (sha256WithRSAEncryption only).
pub fn issued_by(cert: &Certificate, issuer: &Certificate) -> bool {
    if cert.tbs_certificate.issuer != issuer.tbs_certificate.subject
        || cert.signature_algorithm.oid != SHA_256_WITH_RSA_ENCRYPTION
    {
        return false;
    }
    let (Ok(key), Ok(tbs), Some(sig)) = (
        public_key(issuer),
        cert.tbs_certificate.to_der(),
        cert.signature.as_bytes(),
    ) else {
        return false;
    };
    let Ok(sig) = Signature::try_from(sig) else {
        return false;
    };
    VerifyingKey::<Sha256>::new(key).verify(&tbs, &sig).is_ok()
}

/// Checks a detached SignedData over `data` the way firmware checks an
/// authenticated variable: one signer, no authenticated attributes, SHA-256
/// with RSA PKCS#1 v1.5, and a signer certificate that is one of `trusted`
/// or was issued by one of them. Returns the signer certificate and the index
/// of the trusted certificate that vouched for it.
pub fn verify_detached(
    der: &[u8],
    data: &[u8],
    trusted: &[&Certificate],
) -> Result<(Certificate, usize), Error> {
    let sd = decode_signed_data(der)?;
    if sd.encap_content_info.econtent_type != ID_DATA {
        return Err(Error::Pkcs7(format!(
            "content type is {}, not id-data",
            sd.encap_content_info.econtent_type
        )));
    }
    if sd.encap_content_info.econtent.is_some() {
        return Err(Error::Pkcs7(
            "content is embedded; UEFI signatures are detached".into(),
        ));
    }
    let signers = sd.signer_infos.0.as_slice();
    let [si] = signers else {
        return Err(Error::Pkcs7(format!(
            "{} signer infos, expected exactly one",
            signers.len()
        )));
    };
    if si.signed_attrs.is_some() {
        return Err(Error::Pkcs7(
            "authenticated attributes are present; UEFI 2.10 §8.2.2 forbids them".into(),
        ));
    }
    if si.digest_alg.oid != ID_SHA_256 {
        return Err(Error::Pkcs7(format!(
            "digest algorithm {} is not SHA-256",
            si.digest_alg.oid
        )));
    }
    if ![RSA_ENCRYPTION, SHA_256_WITH_RSA_ENCRYPTION].contains(&si.signature_algorithm.oid) {
        return Err(Error::Pkcs7(format!(
            "signature algorithm {} is not RSA",
            si.signature_algorithm.oid
        )));
    }
    let SignerIdentifier::IssuerAndSerialNumber(id) = &si.sid else {
        return Err(Error::Pkcs7(
            "signer identified by key identifier; PKCS#7 v1.5 uses issuer and serial".into(),
        ));
    };
    let signer_cert = sd
        .certificates
        .iter()
        .flat_map(|set| set.0.iter())
        .find_map(|choice| match choice {
            CertificateChoices::Certificate(c)
                if c.tbs_certificate.issuer == id.issuer
                    && c.tbs_certificate.serial_number == id.serial_number =>
            {
                Some(c.clone())
            }
            _ => None,
        })
        .ok_or_else(|| {
            Error::Pkcs7(format!(
                "the signer's certificate (issuer {}, serial {}) is not in the SignedData",
                id.issuer, id.serial_number
            ))
        })?;
    let signature = Signature::try_from(si.signature.as_bytes())
        .map_err(|e| Error::Pkcs7(format!("bad signature encoding: {e}")))?;
    VerifyingKey::<Sha256>::new(public_key(&signer_cert)?)
        .verify(data, &signature)
        .map_err(|_| Error::BadSignature {
            signer: signer_cert.tbs_certificate.subject.to_string(),
        })?;
    let signer_der = signer_cert.to_der()?;
    let anchor = trusted
        .iter()
        .position(|t| t.to_der().is_ok_and(|d| d == signer_der) || issued_by(&signer_cert, t));
    match anchor {
        Some(index) => Ok((signer_cert, index)),
        None => Err(Error::UntrustedSigner {
            signer: signer_cert.tbs_certificate.subject.to_string(),
        }),
    }
}
