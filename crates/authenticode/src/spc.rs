//! The Authenticode-specific ASN.1 types ("SPC", Software Publishing
//! Certificate), from Microsoft's "Windows Authenticode Portable Executable
//! Signature Format", section "Authenticode-Specific Structures"
//! (SpcIndirectDataContent, SpcPeImageData, SpcLink, SpcString,
//! SpcSpOpusInfo).
//!
//! The encodings follow what signtool and sbsign write, e.g. the
//! `SpcPeImageData.file` link is `[0] EXPLICIT` (the document's ASN.1 omits
//! the tag, every implementation writes it) and the file name is the
//! obsolete marker `"<<<Obsolete>>>"` as a BMPString.

use const_oid::ObjectIdentifier;
use der::asn1::{Any, BitString, BmpString, Ia5String, OctetString};
use der::{Choice, Decode, Encode, Sequence};
use spki::AlgorithmIdentifierOwned;

/// SPC_INDIRECT_DATA_OBJID: the content type of an Authenticode SignedData.
pub const SPC_INDIRECT_DATA: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.2.1.4");
/// SPC_PE_IMAGE_DATAOBJ: `SpcAttributeTypeAndOptionalValue.type` for PE images.
pub const SPC_PE_IMAGE_DATA: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.2.1.15");
/// SPC_SP_OPUS_INFO_OBJID: the program name / URL authenticated attribute.
pub const SPC_SP_OPUS_INFO: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.2.1.12");
/// id-sha256 (NIST).
pub const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");

/// The file name signtool, osslsigncode and sbsign put in `SpcPeImageData`.
const OBSOLETE: &str = "<<<Obsolete>>>";

/// ```text
/// SpcIndirectDataContent ::= SEQUENCE {
///     data                    SpcAttributeTypeAndOptionalValue,
///     messageDigest           DigestInfo }
/// ```
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct SpcIndirectDataContent {
    pub data: SpcAttributeTypeAndOptionalValue,
    pub message_digest: DigestInfo,
}

/// ```text
/// SpcAttributeTypeAndOptionalValue ::= SEQUENCE {
///     type                    ObjectID,
///     value                   ANY OPTIONAL }
/// ```
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct SpcAttributeTypeAndOptionalValue {
    pub value_type: ObjectIdentifier,
    #[asn1(optional = "true")]
    pub value: Option<Any>,
}

/// ```text
/// DigestInfo ::= SEQUENCE {
///     digestAlgorithm     AlgorithmIdentifier,
///     digest              OCTET STRING }
/// ```
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct DigestInfo {
    pub digest_algorithm: AlgorithmIdentifierOwned,
    pub digest: OctetString,
}

/// ```text
/// SpcPeImageData ::= SEQUENCE {
///     flags                   SpcPeImageFlags DEFAULT { includeResources },
///     file                    [0] EXPLICIT SpcLink OPTIONAL }
/// SpcPeImageFlags ::= BIT STRING
/// ```
///
/// `flags` is always written (as the empty bit string, like signtool) and
/// accepted when absent.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct SpcPeImageData {
    #[asn1(optional = "true")]
    pub flags: Option<BitString>,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub file: Option<SpcLink>,
}

/// ```text
/// SpcLink ::= CHOICE {
///     url                     [0] IMPLICIT IA5STRING,
///     moniker                 [1] IMPLICIT SpcSerializedObject,
///     file                    [2] EXPLICIT SpcString }
/// ```
#[derive(Clone, Debug, Eq, PartialEq, Choice)]
pub enum SpcLink {
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT")]
    Url(Ia5String),
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", constructed = "true")]
    Moniker(SpcSerializedObject),
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", constructed = "true")]
    File(SpcString),
}

/// ```text
/// SpcSerializedObject ::= SEQUENCE {
///     classId             SpcUuid,          -- OCTET STRING (SIZE(16))
///     serializedData      OCTET STRING }
/// ```
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct SpcSerializedObject {
    pub class_id: OctetString,
    pub serialized_data: OctetString,
}

/// ```text
/// SpcString ::= CHOICE {
///     unicode                 [0] IMPLICIT BMPSTRING,
///     ascii                   [1] IMPLICIT IA5STRING }
/// ```
#[derive(Clone, Debug, Eq, PartialEq, Choice)]
pub enum SpcString {
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT")]
    Unicode(BmpString),
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT")]
    Ascii(Ia5String),
}

/// ```text
/// SpcSpOpusInfo ::= SEQUENCE {
///     programName             [0] EXPLICIT SpcString OPTIONAL,
///     moreInfo                [1] EXPLICIT SpcLink OPTIONAL }
/// ```
#[derive(Clone, Debug, Default, Eq, PartialEq, Sequence)]
pub struct SpcSpOpusInfo {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub program_name: Option<SpcString>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    pub more_info: Option<SpcLink>,
}

/// The SHA-256 AlgorithmIdentifier with explicit NULL parameters, as
/// signtool and OpenSSL write it.
pub fn sha256_algorithm() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: SHA256,
        parameters: Some(Any::null()),
    }
}

impl SpcIndirectDataContent {
    /// The content signed for a PE image whose Authenticode SHA-256 digest
    /// is `digest`.
    pub fn for_pe_image(digest: &[u8; 32]) -> der::Result<Self> {
        let file = SpcLink::File(SpcString::Unicode(BmpString::from_utf8(OBSOLETE)?));
        let image = SpcPeImageData {
            flags: Some(BitString::new(0, Vec::new())?),
            file: Some(file),
        };
        Ok(Self {
            data: SpcAttributeTypeAndOptionalValue {
                value_type: SPC_PE_IMAGE_DATA,
                value: Some(Any::from_der(&image.to_der()?)?),
            },
            message_digest: DigestInfo {
                digest_algorithm: sha256_algorithm(),
                digest: OctetString::new(digest.to_vec())?,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SpcIndirectDataContent sbsign 0.9.4 wrote for systemd-bootx64.efi
    /// (its digest field is 60e250a9…); ours must encode identically.
    const SBSIGN_CONTENT: &str = "\
        30683033060a2b06010401823702010f3025030100a020a21e801c003c003c003c00\
        4f00620073006f006c006500740065003e003e003e3031300d060960864801650304\
        02010500042060e250a9ea71e7c29a4477c49553cd3a81259dc35771a85e3a389c45\
        026d1e5f";

    fn sbsign_content() -> Vec<u8> {
        hex::decode(SBSIGN_CONTENT).unwrap()
    }

    #[test]
    fn encodes_like_sbsign() {
        let expected = sbsign_content();
        let digest: [u8; 32] = expected[expected.len() - 32..].try_into().unwrap();
        let ours = SpcIndirectDataContent::for_pe_image(&digest)
            .unwrap()
            .to_der()
            .unwrap();
        assert_eq!(hex::encode(ours), hex::encode(&expected));
    }

    #[test]
    fn decodes_sbsign_content() {
        let parsed = SpcIndirectDataContent::from_der(&sbsign_content()).unwrap();
        assert_eq!(parsed.data.value_type, SPC_PE_IMAGE_DATA);
        assert_eq!(parsed.message_digest.digest_algorithm.oid, SHA256);
        let image: SpcPeImageData = parsed.data.value.unwrap().decode_as().unwrap();
        let Some(SpcLink::File(SpcString::Unicode(name))) = image.file else {
            panic!("file link: {:?}", image.file);
        };
        assert_eq!(name.to_string(), OBSOLETE);
    }

    #[test]
    fn empty_opus_info_is_an_empty_sequence() {
        assert_eq!(SpcSpOpusInfo::default().to_der().unwrap(), [0x30, 0x00]);
    }
}
