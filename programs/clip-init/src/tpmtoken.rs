//! Between a LUKS2 `systemd-tpm2` token ([`luks2::Tpm2Token`]) and the
//! TPM's sealed object ([`tpm2::Sealed`]): the glue clip-init uses, and
//! that the boot tests' root init includes (`#[path]`) to try an unseal
//! from the running system.

use anyhow::{Context, Result, bail};
use luks2::{Header, Tpm2Token};
use tpm2::{PrimaryAlg, Sealed};

/// The token recording `sealed` for keyslot `slot`.
pub fn token_of(sealed: &Sealed, slot: u32) -> Tpm2Token {
    Tpm2Token {
        keyslots: vec![slot],
        blobs: vec![sealed.blob()],
        pcrs: sealed.pcrs.pcrs().collect(),
        pcr_bank: Some("sha256".into()),
        primary_alg: Some(sealed.primary_alg.as_str().into()),
        policy_hashes: vec![sealed.policy_hash.to_vec()],
        pin: sealed.pin,
        pubkey_pcrs: sealed.pubkey_pcrs.pcrs().collect(),
        pubkey: sealed.policy_key.as_ref().map(|k| k.pem().into_bytes()),
        salt: None,
        srk: Some(sealed.srk_esys_tr()),
        pcrlock: None,
    }
}

/// The first `systemd-tpm2` token of the header, as a sealed object, and
/// the keyslot it opens.
pub fn sealed_of(header: &Header) -> Result<(u32, Sealed)> {
    let (id, token) = header
        .metadata()
        .tokens
        .iter()
        .find_map(|(id, t)| {
            (t.kind == Tpm2Token::TYPE).then(|| (*id, Tpm2Token::from_json(&t.json)))
        })
        .context("the state partition has no TPM keyslot (there was no TPM at first boot)")?;
    let token =
        token.with_context(|| format!("LUKS2 token {id} is not a usable systemd-tpm2 token"))?;
    let [slot] = token.keyslots.as_slice() else {
        bail!(
            "LUKS2 token {id} names {} keyslots, expected one",
            token.keyslots.len()
        );
    };
    let [blob] = token.blobs.as_slice() else {
        bail!(
            "LUKS2 token {id} holds {} sealed objects, expected one",
            token.blobs.len()
        );
    };
    let [policy_hash] = token.policy_hashes.as_slice() else {
        bail!(
            "LUKS2 token {id} holds {} policy hashes, expected one",
            token.policy_hashes.len()
        );
    };
    if token.pcr_bank.as_deref().is_some_and(|b| b != "sha256") {
        bail!(
            "LUKS2 token {id} uses PCR bank {:?}; only sha256 is supported",
            token.pcr_bank
        );
    }
    let alg = token
        .primary_alg
        .as_deref()
        .and_then(PrimaryAlg::parse)
        .with_context(|| format!("LUKS2 token {id} names no usable primary key algorithm"))?;
    let srk = token
        .srk
        .as_deref()
        .with_context(|| format!("LUKS2 token {id} has no tpm2_srk"))?;
    let pubkey = token
        .pubkey
        .as_deref()
        .map(|k| std::str::from_utf8(k).context("tpm2_pubkey is not PEM text"))
        .transpose()?;
    let sealed = Sealed::from_token(
        blob,
        policy_hash,
        &token.pcrs,
        &token.pubkey_pcrs,
        pubkey,
        alg,
        srk,
        token.pin,
    )
    .with_context(|| format!("LUKS2 token {id} cannot be used"))?;
    Ok((*slot, sealed))
}
