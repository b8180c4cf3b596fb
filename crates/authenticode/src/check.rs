//! Verifying one Authenticode PKCS#7 SignedData against an image digest and
//! a trusted certificate: the Authenticode PE document, sections
//! "Authenticode Signature Format" and "Calculating the PE Image Hash"
//! (what the digest covers), RFC 5652 sections 5.3-5.6 (signer info,
//! authenticated attributes, signature verification).
//!
//! Checks, in order, so that the error names the most telling failure:
//! structure (ContentInfo, SignedData, SpcIndirectDataContent, exactly one
//! SignerInfo) → image digest → messageDigest attribute → RSA signature
//! over the authenticated attributes → trust in the signer. Everything is
//! read from the exact bytes in the file (see `tlv`).

use cms::cert::IssuerAndSerialNumber;
use cms::content_info::CmsVersion;
use cms::signed_data::{EncapsulatedContentInfo, SignerIdentifier, SignerInfo};
use const_oid::ObjectIdentifier;
use const_oid::db::rfc5911::{ID_CONTENT_TYPE, ID_MESSAGE_DIGEST, ID_SIGNED_DATA};
use const_oid::db::rfc5912::{RSA_ENCRYPTION, SHA_256_WITH_RSA_ENCRYPTION};
use der::asn1::{OctetString, SetOfVec};
use der::{Encode, Tag, TagNumber};
use rsa::Pkcs1v15Sign;
use sha2::{Digest, Sha256};
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_cert::attr::Attribute;

use crate::build::certificate_rsa_key;
use crate::error::Error;
use crate::spc::{SHA256, SPC_INDIRECT_DATA, SPC_PE_IMAGE_DATA, SpcIndirectDataContent};
use crate::tlv::{self, Tlv, TlvError};
use crate::trust::{null_or_absent, trust};

/// What a verified signature says about its signer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    /// Subject distinguished name of the signer's certificate (RFC 4514).
    pub subject: String,
    /// Issuer distinguished name of the signer's certificate.
    pub issuer: String,
    /// Serial number, lowercase hex.
    pub serial: String,
    /// True when the signer's certificate is the trusted one itself; false
    /// when the trusted certificate issued it.
    pub is_trusted_certificate: bool,
}

const CONTEXT_0: Tag = Tag::ContextSpecific {
    constructed: true,
    number: TagNumber::N0,
};
const CONTEXT_1: Tag = Tag::ContextSpecific {
    constructed: true,
    number: TagNumber::N1,
};

/// Context for the errors of signature `index`, whose DER starts at file
/// offset `base`.
struct Ctx {
    index: usize,
    base: usize,
}

impl Ctx {
    fn malformed(&self, e: TlvError) -> Error {
        Error::Malformed {
            index: self.index,
            offset: self.base + e.offset,
            reason: e.reason,
        }
    }

    fn at(&self, t: &Tlv<'_>, reason: impl Into<String>) -> Error {
        self.malformed(t.error(reason.into()))
    }

    fn unsupported(&self, what: impl Into<String>) -> Error {
        Error::Unsupported {
            index: self.index,
            what: what.into(),
        }
    }

    fn invalid(&self, reason: impl Into<String>) -> Error {
        Error::SignatureInvalid {
            index: self.index,
            reason: reason.into(),
        }
    }
}

/// Verifies the DER PKCS#7 `signed_data` (WIN_CERTIFICATE `index`, found at
/// file offset `base`) against `image_digest` and `trusted`.
pub fn check(
    signed_data: &[u8],
    index: usize,
    base: usize,
    image_digest: &[u8; 32],
    trusted: &Certificate,
) -> Result<Signer, Error> {
    let cx = Ctx { index, base };
    let m = |e| cx.malformed(e);

    // ContentInfo ::= SEQUENCE { contentType, content [0] EXPLICIT ANY }
    let info = Tlv::parse(signed_data, 0).map_err(m)?;
    let info = info.expect(Tag::Sequence, "ContentInfo").map_err(m)?;
    let [content_type, content] = exactly(&cx, &info, "ContentInfo")?;
    let content_type: ObjectIdentifier = content_type.decode("contentType").map_err(m)?;
    if content_type != ID_SIGNED_DATA {
        return Err(cx.at(
            &info,
            format!("content type {content_type} is not signedData"),
        ));
    }
    let content = content
        .expect(CONTEXT_0, "ContentInfo.content")
        .map_err(m)?;
    let [sd] = exactly(&cx, &content, "ContentInfo.content")?;
    let sd = sd.expect(Tag::Sequence, "SignedData").map_err(m)?;
    let parts = sd.children().map_err(m)?;

    // SignedData ::= SEQUENCE { version, digestAlgorithms, encapContentInfo,
    //   certificates [0] IMPLICIT OPTIONAL, crls [1] IMPLICIT OPTIONAL, signerInfos }
    let mut parts = parts.into_iter();
    let mut next = |what: &str| {
        parts
            .next()
            .ok_or_else(|| cx.at(&sd, format!("SignedData ends before {what}")))
    };
    let version: CmsVersion = next("version")?.decode("SignedData.version").map_err(m)?;
    let digest_algorithms: SetOfVec<AlgorithmIdentifierOwned> = next("digestAlgorithms")?
        .decode("digestAlgorithms")
        .map_err(m)?;
    let encap_tlv = next("encapContentInfo")?;
    let encap: EncapsulatedContentInfo = encap_tlv.decode("encapContentInfo").map_err(m)?;
    let mut item = next("signerInfos")?;
    let mut certificates = Vec::new();
    if item.tag == CONTEXT_0 {
        certificates = item.children().map_err(m)?;
        item = next("signerInfos")?;
    }
    if item.tag == CONTEXT_1 {
        item = next("signerInfos")?;
    }
    let signer_infos = item.expect(Tag::Set, "signerInfos").map_err(m)?;
    if let Ok(extra) = next("") {
        return Err(cx.at(&extra, "unexpected element after signerInfos"));
    }
    if version != CmsVersion::V1 {
        return Err(cx.at(
            &sd,
            format!("SignedData version {} is not 1", version as u8),
        ));
    }

    // The signed content: SpcIndirectDataContent for a PE image, SHA-256.
    if encap.econtent_type != SPC_INDIRECT_DATA {
        return Err(cx.at(
            &encap_tlv,
            format!(
                "content type {} is not SpcIndirectDataContent",
                encap.econtent_type
            ),
        ));
    }
    let econtent = encap
        .econtent
        .ok_or_else(|| cx.at(&encap_tlv, "no encapsulated SpcIndirectDataContent"))?;
    let spc: SpcIndirectDataContent = econtent
        .decode_as()
        .map_err(|e| cx.at(&encap_tlv, format!("SpcIndirectDataContent: {e}")))?;
    if spc.data.value_type != SPC_PE_IMAGE_DATA {
        return Err(cx.at(
            &encap_tlv,
            format!(
                "signed data type {} is not SPC_PE_IMAGE_DATA",
                spc.data.value_type
            ),
        ));
    }
    if spc.message_digest.digest_algorithm.oid != SHA256 {
        return Err(cx.unsupported(format!(
            "image digest algorithm {} (only SHA-256 is supported)",
            spc.message_digest.digest_algorithm.oid
        )));
    }
    let signed_digest = spc.message_digest.digest.as_bytes();
    if signed_digest != image_digest {
        return Err(Error::DigestMismatch {
            index,
            signed: hex::encode(signed_digest),
            computed: hex::encode(image_digest),
        });
    }

    // Exactly one SignerInfo, with authenticated attributes.
    let [signer_tlv] = exactly(&cx, &signer_infos, "signerInfos")?;
    let signer: SignerInfo = signer_tlv.decode("SignerInfo").map_err(m)?;
    if signer.version != CmsVersion::V1 {
        return Err(cx.at(
            &signer_tlv,
            format!("SignerInfo version {} is not 1", signer.version as u8),
        ));
    }
    if signer.digest_alg.oid != SHA256 {
        return Err(cx.unsupported(format!(
            "signer digest algorithm {} (only SHA-256 is supported)",
            signer.digest_alg.oid
        )));
    }
    if !null_or_absent(&signer.digest_alg) || !digest_algorithms.iter().all(null_or_absent) {
        return Err(cx.at(
            &signer_tlv,
            "SHA-256 algorithm identifier with parameters other than NULL",
        ));
    }
    if !digest_algorithms
        .iter()
        .any(|a| a.oid == signer.digest_alg.oid)
    {
        return Err(cx.at(
            &sd,
            "digestAlgorithms does not list the signer's digest algorithm",
        ));
    }
    let attrs_raw = signer_tlv
        .children()
        .map_err(m)?
        .into_iter()
        .find(|t| t.tag == CONTEXT_0)
        .ok_or_else(|| cx.at(&signer_tlv, "SignerInfo has no authenticated attributes"))?;
    let attrs = signer
        .signed_attrs
        .as_ref()
        .map_or(&[][..], |a| a.as_slice());
    let content_type: ObjectIdentifier = single_value(&cx, &attrs_raw, attrs, ID_CONTENT_TYPE)?;
    if content_type != SPC_INDIRECT_DATA {
        return Err(cx.invalid(format!(
            "contentType attribute {content_type} is not SpcIndirectDataContent"
        )));
    }
    let message_digest: OctetString = single_value(&cx, &attrs_raw, attrs, ID_MESSAGE_DIGEST)?;
    // Authenticode: the hash of the content octets, without tag and length.
    let content_hash = Sha256::digest(econtent.value());
    if message_digest.as_bytes() != content_hash.as_slice() {
        return Err(cx.invalid(format!(
            "messageDigest attribute {} is not the hash {} of the signed SpcIndirectDataContent",
            hex::encode(message_digest.as_bytes()),
            hex::encode(content_hash)
        )));
    }

    // The signer's certificate must be in the signature.
    let SignerIdentifier::IssuerAndSerialNumber(sid) = &signer.sid else {
        return Err(cx.at(
            &signer_tlv,
            "signer identified by key identifier, not issuer and serial",
        ));
    };
    let (cert_raw, cert) = find_certificate(&cx, &certificates, sid)?;
    let key = certificate_rsa_key(&cert)
        .map_err(|e| cx.unsupported(format!("signer public key: {e}")))?;

    // RFC 5652 5.4: the signature covers the attributes as a DER SET OF.
    let oid = signer.signature_algorithm.oid;
    if (oid != RSA_ENCRYPTION && oid != SHA_256_WITH_RSA_ENCRYPTION)
        || !null_or_absent(&signer.signature_algorithm)
    {
        return Err(cx.unsupported(format!("signature algorithm {oid}")));
    }
    let signed_attrs =
        tlv::encode(Tag::Set, attrs_raw.value).map_err(|e| cx.at(&attrs_raw, e.to_string()))?;
    key.verify(
        Pkcs1v15Sign::new::<Sha256>(),
        &Sha256::digest(&signed_attrs),
        signer.signature.as_bytes(),
    )
    .map_err(|_| cx.invalid("the RSA signature does not verify with the signer's public key"))?;

    let subject = cert.tbs_certificate.subject.to_string();
    let is_trusted_certificate =
        trust(trusted, cert_raw, &cert).map_err(|reason| Error::NotTrusted {
            index,
            signer: subject.clone(),
            reason,
        })?;
    Ok(Signer {
        subject,
        issuer: cert.tbs_certificate.issuer.to_string(),
        serial: hex::encode(cert.tbs_certificate.serial_number.as_bytes()),
        is_trusted_certificate,
    })
}

/// The children of `t`, which must be exactly `N`.
fn exactly<'a, const N: usize>(cx: &Ctx, t: &Tlv<'a>, what: &str) -> Result<[Tlv<'a>; N], Error> {
    let kids = t.children().map_err(|e| cx.malformed(e))?;
    let n = kids.len();
    kids.try_into()
        .map_err(|_| cx.at(t, format!("{what} has {n} elements, expected {N}")))
}

/// The one value of the one attribute `oid` (RFC 5652 5.3: contentType and
/// messageDigest must each appear once, with one value).
fn single_value<T: for<'a> der::Decode<'a>>(
    cx: &Ctx,
    at: &Tlv<'_>,
    attrs: &[Attribute],
    oid: ObjectIdentifier,
) -> Result<T, Error> {
    let mut found = attrs.iter().filter(|a| a.oid == oid);
    match (found.next(), found.next()) {
        (Some(a), None) if a.values.len() == 1 => a.values.as_slice()[0]
            .to_der()
            .and_then(|d| T::from_der(&d))
            .map_err(|e| cx.at(at, format!("attribute {oid}: {e}"))),
        (None, _) => Err(cx.at(at, format!("no {oid} authenticated attribute"))),
        _ => Err(cx.at(at, format!("attribute {oid} must have exactly one value"))),
    }
}

/// The certificate in `certificates` that `sid` names, with its raw DER.
fn find_certificate<'a>(
    cx: &Ctx,
    certificates: &[Tlv<'a>],
    sid: &IssuerAndSerialNumber,
) -> Result<(&'a [u8], Certificate), Error> {
    for t in certificates {
        // Other certificate choices (attribute certificates) are skipped.
        if t.tag != Tag::Sequence {
            continue;
        }
        let cert: Certificate = t.decode("certificate").map_err(|e| cx.malformed(e))?;
        let tbs = &cert.tbs_certificate;
        if tbs.issuer == sid.issuer && tbs.serial_number == sid.serial_number {
            return Ok((t.raw, cert));
        }
    }
    Err(cx.invalid(format!(
        "the signer's certificate (issuer {}, serial {}) is not in the signature",
        sid.issuer,
        hex::encode(sid.serial_number.as_bytes())
    )))
}
