//! Building the PKCS#7 SignedData of an Authenticode signature: the
//! Authenticode PE document, section "Authenticode Signature Format"
//! (SignedData version 1, one SignerInfo, contentType and messageDigest
//! authenticated attributes), over RFC 2315 / RFC 5652 structures.
//!
//! Deterministic: no signing time, and RSA PKCS#1 v1.5 signatures do not
//! depend on randomness, so the same image, key and certificate always give
//! the same bytes.

use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use const_oid::db::rfc5911::{ID_CONTENT_TYPE, ID_MESSAGE_DIGEST, ID_SIGNED_DATA};
use const_oid::db::rfc5912::RSA_ENCRYPTION;
use der::asn1::{Any, OctetString, SetOfVec};
use der::{Decode, Encode};
use rsa::pkcs8::DecodePublicKey;
use rsa::{Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};
use sha2::{Digest, Sha256};
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_cert::attr::Attribute;

use crate::error::Error;
use crate::spc::sha256_algorithm;
use crate::spc::{SPC_INDIRECT_DATA, SPC_SP_OPUS_INFO, SpcIndirectDataContent, SpcSpOpusInfo};

/// The RSA public key of `cert`.
pub(crate) fn certificate_rsa_key(cert: &Certificate) -> Result<RsaPublicKey, String> {
    let spki = cert
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| e.to_string())?;
    RsaPublicKey::from_public_key_der(&spki).map_err(|e| e.to_string())
}

/// Fails unless `key` is the private half of `cert`'s public key.
pub fn check_key_matches(key: &RsaPrivateKey, cert: &Certificate) -> Result<(), Error> {
    let subject = cert.tbs_certificate.subject.to_string();
    let public = certificate_rsa_key(cert).map_err(|reason| Error::CertificateKey {
        subject: subject.clone(),
        reason,
    })?;
    if public != key.to_public_key() {
        return Err(Error::KeyMismatch { subject });
    }
    Ok(())
}

fn attribute(oid: const_oid::ObjectIdentifier, value: Any) -> Result<Attribute, Error> {
    Ok(Attribute {
        oid,
        values: SetOfVec::try_from(vec![value])?,
    })
}

/// The DER PKCS#7 ContentInfo signing an image whose Authenticode SHA-256
/// digest is `image_digest` (the `bCertificate` of a WIN_CERTIFICATE).
///
/// The caller has checked that `key` matches `cert` ([`check_key_matches`]).
pub fn signed_data(
    image_digest: &[u8; 32],
    key: &RsaPrivateKey,
    cert: &Certificate,
) -> Result<Vec<u8>, Error> {
    let content = Any::from_der(&SpcIndirectDataContent::for_pe_image(image_digest)?.to_der()?)?;
    // Authenticode: messageDigest is the hash of the SpcIndirectDataContent
    // content octets, without its SEQUENCE tag and length.
    let content_hash = Sha256::digest(content.value());

    let attrs = SetOfVec::try_from(vec![
        attribute(ID_CONTENT_TYPE, Any::encode_from(&SPC_INDIRECT_DATA)?)?,
        attribute(
            ID_MESSAGE_DIGEST,
            Any::encode_from(&OctetString::new(content_hash.to_vec())?)?,
        )?,
        attribute(
            SPC_SP_OPUS_INFO,
            Any::encode_from(&SpcSpOpusInfo::default())?,
        )?,
    ])?;
    // RFC 5652 5.4: the signature covers the DER SET OF the attributes.
    let attrs_hash = Sha256::digest(attrs.to_der()?);
    // Blinding hardens the private-key operation against timing attacks;
    // PKCS#1 v1.5 output does not depend on it.
    let signature = key.sign_with_rng(
        &mut rand::rngs::OsRng,
        Pkcs1v15Sign::new::<Sha256>(),
        &attrs_hash,
    )?;

    let signer = SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: cert.tbs_certificate.issuer.clone(),
            serial_number: cert.tbs_certificate.serial_number.clone(),
        }),
        digest_alg: sha256_algorithm(),
        signed_attrs: Some(attrs),
        signature_algorithm: AlgorithmIdentifierOwned {
            oid: RSA_ENCRYPTION,
            parameters: Some(Any::null()),
        },
        signature: OctetString::new(signature)?,
        unsigned_attrs: None,
    };
    let signed = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: SetOfVec::try_from(vec![sha256_algorithm()])?,
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: SPC_INDIRECT_DATA,
            econtent: Some(content),
        },
        certificates: Some(CertificateSet(SetOfVec::try_from(vec![
            CertificateChoices::Certificate(cert.clone()),
        ])?)),
        crls: None,
        signer_infos: SignerInfos(SetOfVec::try_from(vec![signer])?),
    };
    Ok(ContentInfo {
        content_type: ID_SIGNED_DATA,
        content: Any::encode_from(&signed)?,
    }
    .to_der()?)
}
