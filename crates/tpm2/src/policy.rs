//! Policy digests computed in software, as the TPM extends a policy
//! session's digest (TPM 2.0 Part 3, §23 "Enhanced Authorization (EA)
//! Commands"; Part 1, §19.7 "Policy Computation"). All with SHA-256, the
//! only policy hash this project uses.
//!
//! ```text
//! PolicyPCR:       digest' = H(digest || TPM_CC_PolicyPCR || pcrs || H(PCR values in selection order))
//! PolicyAuthValue: digest' = H(digest || TPM_CC_PolicyAuthValue)
//! PolicyAuthorize: digest' = H(H(0…0 || TPM_CC_PolicyAuthorize || keySign.name) || policyRef)
//! approval:        aHash   = H(approvedPolicy || policyRef)   (signed by keySign)
//! ```

use sha2::{Digest, Sha256};

/// A SHA-256 policy digest.
pub type PolicyDigest = [u8; 32];

/// TPM_CC_PolicyPCR (Part 2, §6.5.2).
pub const TPM_CC_POLICY_PCR: u32 = 0x0000_017F;
/// TPM_CC_PolicyAuthValue.
pub const TPM_CC_POLICY_AUTH_VALUE: u32 = 0x0000_016B;
/// TPM_CC_PolicyAuthorize.
pub const TPM_CC_POLICY_AUTHORIZE: u32 = 0x0000_016A;
/// TPM_ALG_SHA256 (Part 2, §6.3).
pub const TPM_ALG_SHA256: u16 = 0x000B;
/// PCRs a selection can name (PC Client platforms have 24).
pub const PCR_COUNT: u32 = 24;

/// The digest a policy session starts with.
pub const EMPTY: PolicyDigest = [0; 32];

/// A set of SHA-256 PCRs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PcrSelection(u32);

impl PcrSelection {
    /// The PCRs listed; `None` if one is not below [`PCR_COUNT`].
    pub fn of(pcrs: &[u32]) -> Option<Self> {
        pcrs.iter().try_fold(Self(0), |s, &p| {
            (p < PCR_COUNT).then_some(Self(s.0 | (1 << p)))
        })
    }

    /// The PCRs selected, lowest first (the order the TPM concatenates
    /// their values in).
    pub fn pcrs(self) -> impl Iterator<Item = u32> {
        (0..PCR_COUNT).filter(move |p| self.0 & (1 << p) != 0)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// TPML_PCR_SELECTION with one TPMS_PCR_SELECTION for SHA-256
    /// (Part 2, §10.9.7 and §10.6.2): count, hash, sizeofSelect = 3,
    /// pcrSelect bitmap (PCR n is bit n % 8 of byte n / 8).
    pub fn marshal(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(10);
        out.extend_from_slice(&1u32.to_be_bytes());
        out.extend_from_slice(&TPM_ALG_SHA256.to_be_bytes());
        out.push(3);
        out.extend_from_slice(&self.0.to_le_bytes()[..3]);
        out
    }
}

/// PolicyPCR with `values` the SHA-256 banks' values of `selection`'s PCRs,
/// lowest PCR first.
pub fn pcr(old: &PolicyDigest, selection: PcrSelection, values: &[[u8; 32]]) -> PolicyDigest {
    let mut values_hash = Sha256::new();
    for v in values {
        values_hash.update(v);
    }
    Sha256::new()
        .chain_update(old)
        .chain_update(TPM_CC_POLICY_PCR.to_be_bytes())
        .chain_update(selection.marshal())
        .chain_update(values_hash.finalize())
        .finalize()
        .into()
}

/// PolicyAuthValue: the object's authValue (a PIN) must be given too.
pub fn auth_value(old: &PolicyDigest) -> PolicyDigest {
    Sha256::new()
        .chain_update(old)
        .chain_update(TPM_CC_POLICY_AUTH_VALUE.to_be_bytes())
        .finalize()
        .into()
}

/// PolicyAuthorize by the key whose TPM Name is `key_name` (nameAlg then
/// the digest of its TPMT_PUBLIC), with `policy_ref`. The old digest does
/// not matter: PolicyAuthorize resets it.
pub fn authorize(key_name: &[u8], policy_ref: &[u8]) -> PolicyDigest {
    let first: PolicyDigest = Sha256::new()
        .chain_update(EMPTY)
        .chain_update(TPM_CC_POLICY_AUTHORIZE.to_be_bytes())
        .chain_update(key_name)
        .finalize()
        .into();
    Sha256::new()
        .chain_update(first)
        .chain_update(policy_ref)
        .finalize()
        .into()
}

/// What the authorizing key signs to approve `approved_policy`
/// (TPM2_PolicyAuthorize's aHash, checked through TPM2_VerifySignature).
pub fn approval_hash(approved_policy: &PolicyDigest, policy_ref: &[u8]) -> [u8; 32] {
    Sha256::new()
        .chain_update(approved_policy)
        .chain_update(policy_ref)
        .finalize()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_bitmap() {
        let s = PcrSelection::of(&[7, 11]).unwrap();
        assert_eq!(s.marshal(), [0, 0, 0, 1, 0, 0x0b, 3, 0x80, 0x08, 0]);
        assert_eq!(s.pcrs().collect::<Vec<_>>(), [7, 11]);
        assert_eq!(PcrSelection::of(&[24]), None);
        assert!(PcrSelection::of(&[]).unwrap().is_empty());
    }

    #[test]
    fn auth_value_matches_the_published_digest() {
        // tpm2_policyauthvalue on a trial session (and the TCG's examples).
        let hex: String = auth_value(&EMPTY)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            hex,
            "8fcd2169ab92694e0c633f1ab772842b8241bbc20288981fc7ac1eddc1fddb0e"
        );
    }
}
