//! X.509 v3 certificates (RFC 5280) for the Secure Boot hierarchy.
//!
//! RSA-2048 keys, sha256WithRSAEncryption (PKCS#1 v1.5) signatures: the one
//! combination every firmware verifies. The UEFI spec's Secure Boot chapter
//! is written around it (its only raw key type is EFI_CERT_RSA2048_GUID,
//! §32.4.1), Microsoft's PK/KEK/db certificates use it, and OVMF/edk2 and
//! real firmware universally accept it, while many firmwares refuse RSA-4096
//! or ECDSA keys in KEK and db.
//!
//! The chain is PK (self-signed root) → KEK → db, each issuer signing the
//! next, with extensions as OpenSSL's `v3_ca` / code-signing profiles set
//! them:
//!
//! | cert | basicConstraints (critical) | keyUsage (critical) | extKeyUsage |
//! |------|-----------------------------|---------------------|-------------|
//! | PK   | CA:TRUE                     | digitalSignature, keyCertSign, cRLSign | - |
//! | KEK  | CA:TRUE, pathlen:0          | digitalSignature, keyCertSign, cRLSign | - |
//! | db   | CA:FALSE                    | digitalSignature    | codeSigning |
//!
//! plus subjectKeyIdentifier (SHA-1 of the public key, RFC 5280 §4.2.1.2
//! method 1) and authorityKeyIdentifier (the issuer's key identifier; the
//! PK's points at itself, as `openssl req -x509` does). Firmware trusts a db
//! certificate by itself, not through the chain (edk2 verifies with
//! X509_V_FLAG_PARTIAL_CHAIN), so `sbverify --cert db.crt` and firmware both
//! accept images signed by the db key; the chain lets `openssl verify` and
//! people see how the set hangs together.

use std::time::Duration;

use const_oid::db::rfc4519::CN;
use const_oid::db::rfc5280::ID_KP_CODE_SIGNING;
use der::asn1::{GeneralizedTime, SetOfVec, Utf8StringRef};
use der::referenced::OwnedToRef;
use der::{Any, Decode, Encode};
use rand::{CryptoRng, RngCore};
use rsa::RsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use sha2::Sha256;
use spki::{EncodePublicKey, SubjectPublicKeyInfoOwned};
use x509_cert::Certificate;
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::ext::AsExtension;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages,
    SubjectKeyIdentifier,
};
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};

use crate::Error;
use crate::time::EfiTime;

/// RSA modulus size of every Secure Boot key.
pub const RSA_BITS: usize = 2048;
/// Certificates are valid this many years from their creation time.
pub const VALIDITY_YEARS: u16 = 30;
/// RFC 5280 upper bound of a commonName (ub-common-name).
pub const MAX_COMMON_NAME: usize = 64;

/// What a certificate is for; decides its extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertRole {
    /// Self-signed root (the PK).
    Root,
    /// Issues end-entity certificates and signs variable updates (the KEK).
    Intermediate,
    /// Signs boot images (db).
    CodeSigning,
}

/// A new RSA-2048 private key.
pub fn generate_rsa_key<R: CryptoRng + RngCore>(rng: &mut R) -> Result<RsaPrivateKey, Error> {
    RsaPrivateKey::new(rng, RSA_BITS).map_err(|e| Error::KeyGeneration(e.to_string()))
}

/// A Name holding one commonName, as a UTF8String (as OpenSSL writes it).
pub fn common_name(cn: &str) -> Result<Name, Error> {
    if cn.is_empty() || cn.chars().count() > MAX_COMMON_NAME || cn.chars().any(char::is_control) {
        return Err(Error::BadName(cn.to_owned()));
    }
    let value = Any::from(Utf8StringRef::new(cn)?);
    let atv = AttributeTypeAndValue { oid: CN, value };
    let rdn = RelativeDistinguishedName(SetOfVec::try_from(vec![atv])?);
    Ok(RdnSequence(vec![rdn]))
}

/// A positive 16-byte serial number from `rng`: the top bit clear (positive)
/// and the next one set, so the DER INTEGER is always exactly 16 bytes.
pub fn random_serial<R: CryptoRng + RngCore>(rng: &mut R) -> Result<SerialNumber, Error> {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    Ok(SerialNumber::new(&bytes)?)
}

/// notBefore = `created`, notAfter = the same date [`VALIDITY_YEARS`] later
/// (29 February becomes 28 February). The builder encodes dates up to 2049
/// as UTCTime and later ones as GeneralizedTime (RFC 5280 §4.1.2.5).
pub fn validity(created: u64) -> Result<Validity, Error> {
    let mut end = EfiTime::from_unix(created)?;
    end.year = end
        .year
        .checked_add(VALIDITY_YEARS)
        .filter(|y| *y <= 9999)
        .ok_or(Error::TimeOutOfRange(created))?;
    if end.month == 2 && end.day == 29 {
        end.day = 28;
    }
    let time = |secs: u64| -> Result<Time, Error> {
        Ok(Time::GeneralTime(GeneralizedTime::from_unix_duration(
            Duration::from_secs(secs),
        )?))
    };
    Ok(Validity {
        not_before: time(created)?,
        not_after: time(end.to_unix())?,
    })
}

/// SubjectPublicKeyInfo of an RSA key.
pub fn spki(key: &RsaPrivateKey) -> Result<SubjectPublicKeyInfoOwned, Error> {
    let der = key.to_public_key().to_public_key_der()?;
    Ok(SubjectPublicKeyInfoOwned::from_der(der.as_bytes())?)
}

/// Issues a certificate for `subject_key` named `subject`. `issuer` is the
/// issuing certificate and its key, `None` for a self-signed root.
pub fn issue<R: CryptoRng + RngCore>(
    role: CertRole,
    subject: Name,
    subject_key: &RsaPrivateKey,
    issuer: Option<(&Certificate, &RsaPrivateKey)>,
    validity: Validity,
    rng: &mut R,
) -> Result<Certificate, Error> {
    let subject_spki = spki(subject_key)?;
    let (issuer_name, signing_key) = match issuer {
        Some((cert, key)) => (Some(cert.tbs_certificate.subject.clone()), key),
        None => (None, subject_key),
    };
    let signer = SigningKey::<Sha256>::new(signing_key.clone());
    let ski = SubjectKeyIdentifier::try_from(subject_spki.owned_to_ref())?;
    let aki = match issuer {
        Some((cert, _)) => AuthorityKeyIdentifier::try_from(
            cert.tbs_certificate.subject_public_key_info.owned_to_ref(),
        )?,
        None => AuthorityKeyIdentifier::try_from(subject_spki.owned_to_ref())?,
    };
    let mut builder = CertificateBuilder::new(
        Profile::Manual {
            issuer: issuer_name,
        },
        random_serial(rng)?,
        validity,
        subject,
        subject_spki,
        &signer,
    )
    .map_err(|e| Error::Certificate(e.to_string()))?;
    let (ca, path_len, usages) = match role {
        CertRole::Root => (
            true,
            None,
            KeyUsages::DigitalSignature | KeyUsages::KeyCertSign | KeyUsages::CRLSign,
        ),
        CertRole::Intermediate => (
            true,
            Some(0),
            KeyUsages::DigitalSignature | KeyUsages::KeyCertSign | KeyUsages::CRLSign,
        ),
        CertRole::CodeSigning => (false, None, KeyUsages::DigitalSignature.into()),
    };
    let add = |e: x509_cert::builder::Error| Error::Certificate(e.to_string());
    builder.add_extension(&ski).map_err(add)?;
    builder.add_extension(&aki).map_err(add)?;
    builder
        .add_extension(&BasicConstraints {
            ca,
            path_len_constraint: path_len,
        })
        .map_err(add)?;
    builder.add_extension(&KeyUsage(usages)).map_err(add)?;
    if role == CertRole::CodeSigning {
        builder.add_extension(&CodeSigningUsage).map_err(add)?;
    }
    builder
        .build_with_rng::<rsa::pkcs1v15::Signature>(rng)
        .map_err(|e| Error::Certificate(e.to_string()))
}

/// extendedKeyUsage = codeSigning, non-critical as OpenSSL, Go's x509 and
/// Microsoft's signing certificates write it (x509-cert would mark a bare
/// ExtendedKeyUsage critical).
struct CodeSigningUsage;

impl CodeSigningUsage {
    fn value() -> ExtendedKeyUsage {
        ExtendedKeyUsage(vec![ID_KP_CODE_SIGNING])
    }
}

impl const_oid::AssociatedOid for CodeSigningUsage {
    const OID: const_oid::ObjectIdentifier = ExtendedKeyUsage::OID;
}

impl Encode for CodeSigningUsage {
    fn encoded_len(&self) -> der::Result<der::Length> {
        Self::value().encoded_len()
    }

    fn encode(&self, writer: &mut impl der::Writer) -> der::Result<()> {
        Self::value().encode(writer)
    }
}

impl AsExtension for CodeSigningUsage {
    fn critical(&self, _subject: &Name, _extensions: &[x509_cert::ext::Extension]) -> bool {
        false
    }
}

/// SHA-256 of a certificate's DER: its fingerprint.
pub fn fingerprint(cert: &Certificate) -> Result<[u8; 32], Error> {
    use sha2::Digest;
    Ok(Sha256::digest(cert.to_der()?).into())
}
