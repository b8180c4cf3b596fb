//! A sealed secret and what a LUKS2 `systemd-tpm2` token stores of it
//! (systemd's `tpm2_make_luks2_json` / `tpm2_parse_luks2_json`): the
//! TPM2B_PRIVATE ‖ TPM2B_PUBLIC blob, the policy, the PCR-policy key, and the
//! storage root key as tpm2-tss serializes an ESYS_TR.

use crate::error::Error;
use crate::marshal::{Put, Reader};
use crate::policy::{self, PcrSelection, PolicyDigest};
use crate::policy_key::PolicyKey;
use crate::public::{MAX_PRIVATE, MAX_PUBLIC, Public};
use crate::seal::SRK_HANDLE;

/// The storage root key's algorithm (`tpm2-primary-alg`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrimaryAlg {
    Ecc,
    Rsa,
}

impl PrimaryAlg {
    /// systemd's spelling: `ecc`, `rsa`.
    pub fn as_str(self) -> &'static str {
        match self {
            PrimaryAlg::Ecc => "ecc",
            PrimaryAlg::Rsa => "rsa",
        }
    }

    /// Reads systemd's spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ecc" => Some(PrimaryAlg::Ecc),
            "rsa" => Some(PrimaryAlg::Rsa),
            _ => None,
        }
    }

    pub(crate) fn template(self) -> Public {
        match self {
            PrimaryAlg::Ecc => Public::srk_ecc(),
            PrimaryAlg::Rsa => Public::srk_rsa(),
        }
    }
}

/// A sealed secret: everything a LUKS2 `systemd-tpm2` token stores.
///
/// | token field        | here                                          |
/// |--------------------|-----------------------------------------------|
/// | `tpm2-blob`        | [`Sealed::blob`]: TPM2B_PRIVATE ‖ TPM2B_PUBLIC |
/// | `tpm2-policy-hash` | `policy_hash` (hex)                           |
/// | `tpm2-pcrs`        | `pcrs` (`[7]` or `[]`)                        |
/// | `tpm2-pcr-bank`    | `"sha256"`                                    |
/// | `tpm2-primary-alg` | [`PrimaryAlg::as_str`]                        |
/// | `tpm2_pubkey_pcrs` | `pubkey_pcrs` (`[11]`, only with a key)       |
/// | `tpm2_pubkey`      | base64 of [`PolicyKey::pem`]                  |
/// | `tpm2-pin`         | `pin`                                         |
/// | `tpm2_srk`         | base64 of [`Sealed::srk_esys_tr`]             |
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// TPM2B_PRIVATE as the TPM returned it (size field included).
    pub private: Vec<u8>,
    /// TPM2B_PUBLIC of the sealed object.
    pub public: Vec<u8>,
    /// Name of the storage root key it was created under.
    pub srk_name: Vec<u8>,
    /// TPM2B_PUBLIC of that key (persistent at [`SRK_HANDLE`]).
    pub srk_public: Vec<u8>,
    pub primary_alg: PrimaryAlg,
    /// The policy digest the object is sealed to.
    pub policy_hash: PolicyDigest,
    /// PCRs sealed literally.
    pub pcrs: PcrSelection,
    /// PCRs under the signed policy.
    pub pubkey_pcrs: PcrSelection,
    pub policy_key: Option<PolicyKey>,
    pub pin: bool,
}

impl Sealed {
    /// `tpm2-blob`: TPM2B_PRIVATE then TPM2B_PUBLIC.
    pub fn blob(&self) -> Vec<u8> {
        [self.private.as_slice(), &self.public].concat()
    }

    /// Splits a `tpm2-blob` into TPM2B_PRIVATE and TPM2B_PUBLIC.
    pub fn split_blob(blob: &[u8]) -> Result<(Vec<u8>, Vec<u8>), Error> {
        let mut r = Reader::new(blob);
        let private = r
            .tpm2b_raw(MAX_PRIVATE, "TPM2B_PRIVATE in the blob")?
            .to_vec();
        let at = r.offset();
        let public = r
            .tpm2b_raw(MAX_PUBLIC, "TPM2B_PUBLIC in the blob")?
            .to_vec();
        Public::read_2b(&mut Reader::at(&public, at))?;
        r.finish("bytes after the blob's TPM2B_PUBLIC")?;
        Ok((private, public))
    }

    /// `tpm2_srk`: the SRK as tpm2-tss serializes an ESYS_TR
    /// (`Esys_TR_Serialize`: handle u32, TPM2B_NAME, resource type u32 =
    /// 1 for a key, TPM2B_PUBLIC), which systemd-cryptsetup deserializes.
    pub fn srk_esys_tr(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + self.srk_name.len() + self.srk_public.len());
        out.u32(SRK_HANDLE).tpm2b(&self.srk_name).u32(1);
        out.extend_from_slice(&self.srk_public);
        out
    }

    /// A sealed secret from the fields of a `systemd-tpm2` token, decoded
    /// from base64 and hex by the caller: `tpm2-blob`, `tpm2-policy-hash`,
    /// `tpm2-pcrs`, `tpm2_pubkey_pcrs`, `tpm2_pubkey` (PEM),
    /// `tpm2-primary-alg`, `tpm2_srk`, `tpm2-pin`. Only the SHA-256 bank
    /// is supported.
    #[allow(clippy::too_many_arguments)]
    pub fn from_token(
        blob: &[u8],
        policy_hash: &[u8],
        pcrs: &[u32],
        pubkey_pcrs: &[u32],
        pubkey_pem: Option<&str>,
        primary_alg: PrimaryAlg,
        srk: &[u8],
        pin: bool,
    ) -> Result<Sealed, Error> {
        let (private, public) = Self::split_blob(blob)?;
        let policy_hash: PolicyDigest = policy_hash.try_into().map_err(|_| Error::Token {
            field: "tpm2-policy-hash",
            reason: format!("{} bytes, a SHA-256 digest has 32", policy_hash.len()),
        })?;
        let selection = |list: &[u32]| {
            PcrSelection::of(list).ok_or_else(|| Error::NoSuchPcr {
                pcr: list
                    .iter()
                    .copied()
                    .find(|&p| p >= policy::PCR_COUNT)
                    .unwrap_or(0),
            })
        };
        let (handle, srk_name, srk_public) = Self::parse_esys_tr(srk)?;
        if handle != SRK_HANDLE {
            return Err(Error::Token {
                field: "tpm2_srk",
                reason: format!("handle {handle:#x}, not {SRK_HANDLE:#x}"),
            });
        }
        let computed = srk_public.name()?;
        if computed != srk_name {
            return Err(Error::Token {
                field: "tpm2_srk",
                reason: format!(
                    "its Name {} is not that of its public area, {}",
                    crate::error::hex(&srk_name),
                    crate::error::hex(&computed)
                ),
            });
        }
        Ok(Sealed {
            private,
            public,
            srk_name,
            srk_public: srk_public.marshal_2b(),
            primary_alg,
            policy_hash,
            pcrs: selection(pcrs)?,
            pubkey_pcrs: selection(pubkey_pcrs)?,
            policy_key: pubkey_pem.map(PolicyKey::from_pem).transpose()?,
            pin,
        })
    }

    /// Reads `tpm2_srk`: the SRK's handle, Name and public area.
    pub fn parse_esys_tr(bytes: &[u8]) -> Result<(u32, Vec<u8>, Public), Error> {
        let mut r = Reader::new(bytes);
        let handle = r.u32("ESYS_TR handle")?;
        let name = r.tpm2b(66, "ESYS_TR name")?.to_vec();
        let at = r.offset();
        if r.u32("ESYS_TR resource type")? != 1 {
            return Err(Error::Malformed {
                what: "ESYS_TR resource type (not a key)",
                offset: at,
            });
        }
        let public = Public::read_2b(&mut r)?;
        r.finish("bytes after the ESYS_TR")?;
        Ok((handle, name, public))
    }
}
