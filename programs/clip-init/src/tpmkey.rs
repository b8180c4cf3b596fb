//! The TPM's part in opening the state partition (issue 8; threat model in
//! docs/tpm-policy.md): a keyslot whose secret the TPM seals at first boot
//! to PCR 7 (Secure Boot state and keys) and to any PCR 11 value signed by
//! the PCR-policy key, recorded in a `systemd-tpm2` LUKS2 token as systemd
//! writes it; unsealed on later boots with the signature that
//! systemd-stub hands over from the UKI's `.pcrsig`.
//!
//! PCR 11 phases, as systemd's initrd would extend them: `enter-initrd`
//! when clip-init starts (the signed policy is for that value), then
//! `leave-initrd` before switch_root, so that the running system can no
//! longer unseal.
//!
//! The keyslot's passphrase is the sealed secret in base64, as with
//! systemd-cryptenroll; the unsealed secret never crosses the TPM bus in
//! clear (the tpm2 crate's salted, parameter-encrypted sessions) and is
//! zeroized after use.

use std::fs::File;
use std::path::Path;

use anyhow::{Context, Result, bail};
use luks2::{Header, KdfParams, KeyslotParams, VolumeKey};
use rand_core::CryptoRngCore;
use sha2::{Digest, Sha256};
use tpm2::policy::{self, PcrSelection};
use tpm2::transport::Device;
use tpm2::{PcrValue, PolicyKey, SealPolicy, Tpm, UnsealInputs};
use zeroize::Zeroizing;

use crate::console::say;
use crate::tpmtoken::{sealed_of, token_of};

/// What systemd-stub unpacks from the UKI into the initramfs.
const PCR_SIGNATURE: &str = "/.extra/tpm2-pcr-signature.json";
const PCR_PUBLIC_KEY: &str = "/.extra/tpm2-pcr-public-key.pem";

/// The TPM, if the machine has one.
pub struct TpmKey {
    tpm: Option<Tpm<Device>>,
    /// The running release (anti-rollback), once known.
    release: Option<rollback::Indexed>,
    /// Why there is none.
    missing: String,
}

impl std::fmt::Debug for TpmKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TpmKey {{ present: {} }}", self.tpm.is_some())
    }
}

fn phase_digest(word: &str) -> [u8; 32] {
    Sha256::digest(word.as_bytes()).into()
}

impl TpmKey {
    /// Opens the TPM and extends PCR 11 with `enter-initrd`.
    pub fn open() -> Self {
        match Tpm::open_device(Device::DEFAULT_PATH) {
            Ok(mut tpm) => {
                match tpm2::pcr_extend(&mut tpm, 11, &phase_digest(measure::pcr::ENTER_INITRD)) {
                    Ok(()) => say("TPM: PCR 11 extended with enter-initrd"),
                    Err(e) => say(&format!("TPM: cannot extend PCR 11: {e}")),
                }
                // What the build predicted and signed (manifest.json,
                // slots.<slot>.pcr11.phases."enter-initrd"), for comparison.
                if let Ok(values) = tpm2::pcr_read(&mut tpm, &[11, 12]) {
                    for (pcr, value) in values {
                        say(&format!("TPM: PCR {pcr} is {}", hex::encode(value)));
                    }
                }
                Self {
                    tpm: Some(tpm),
                    release: None,
                    missing: String::new(),
                }
            }
            Err(e) => Self {
                tpm: None,
                release: None,
                missing: e.to_string(),
            },
        }
    }

    /// Extends PCR 11 with `leave-initrd`: from now on the state's secret
    /// cannot be unsealed (until the next boot).
    pub fn leave_initrd(&mut self) -> Result<()> {
        if let Some(tpm) = self.tpm.as_mut() {
            tpm2::pcr_extend(tpm, 11, &phase_digest(measure::pcr::LEAVE_INITRD))
                .context("cannot extend PCR 11 with leave-initrd")?;
            say("TPM: PCR 11 extended with leave-initrd");
        }
        Ok(())
    }

    /// The PCR-policy key the UKI carries, if there is a TPM and a key.
    fn policy_key(&self) -> Option<Result<PolicyKey>> {
        self.tpm.as_ref()?;
        let pem = std::fs::read_to_string(PCR_PUBLIC_KEY).ok()?;
        Some(
            PolicyKey::from_pem(&pem)
                .with_context(|| format!("{PCR_PUBLIC_KEY} is not a usable PCR-policy key")),
        )
    }

    /// The running release, for the seal bound to the minimum.
    pub fn set_release(&mut self, release: rollback::Indexed) {
        self.release = Some(release);
    }

    /// Refuses the boot if the TPM's anti-rollback minimum is above
    /// `release` (before the state is unsealed). Without a TPM or a
    /// PCR-policy key, says so: the state record is then the only check.
    pub fn rollback_check(&mut self, release: &rollback::Indexed) -> Result<()> {
        let key = match self.policy_key() {
            Some(key) => key?,
            None => {
                say(
                    "anti-rollback: no TPM or no PCR-policy key: the state's record is the only minimum",
                );
                return Ok(());
            }
        };
        let Some(tpm) = self.tpm.as_mut() else {
            return Ok(());
        };
        match rollback::tpm::check(tpm, &key, release) {
            Ok(Some(min)) => {
                say(&format!(
                    "anti-rollback: TPM NV index {:#010x}: minimum version {}",
                    rollback::tpm::NV_INDEX,
                    rollback::tpm::describe_index(min)
                ));
                Ok(())
            }
            Ok(None) => {
                say(&format!(
                    "anti-rollback: TPM NV index {:#010x} holds no minimum yet",
                    rollback::tpm::NV_INDEX
                ));
                Ok(())
            }
            Err(rollback::Error::BelowMinimum { minimum, .. }) => bail!(
                "{}",
                crate::antirollback::refusal(
                    &release.version,
                    &minimum,
                    &format!("TPM NV index {:#010x}", rollback::tpm::NV_INDEX)
                )
            ),
            // Defined under another PCR-policy key (a UKI signed with
            // another one, or someone with the TPM's owner authorization):
            // its contents prove nothing, but stopping here would let that
            // someone brick the device. The sealed key's policy names our
            // index, so it will not open (the recovery key is asked), and
            // the state's record still holds the minimum.
            Err(e @ rollback::Error::NvForeign { .. }) => {
                say(&format!(
                    "anti-rollback: {e}; the TPM's minimum is not trusted: the state's record is the only minimum"
                ));
                Ok(())
            }
            Err(e) => Err(e).context("anti-rollback: cannot read the device's minimum version"),
        }
    }

    /// Raises the TPM's minimum to `minimum` (never lowers it); a failure
    /// is said, not fatal: the state record keeps the minimum.
    pub fn rollback_raise(&mut self, minimum: &rollback::Indexed) {
        let key = match self.policy_key() {
            Some(Ok(key)) => key,
            _ => return,
        };
        let Some(tpm) = self.tpm.as_mut() else {
            return;
        };
        let raised = (|| -> Result<rollback::tpm::Raised> {
            let (approved, signature) = current_approval(tpm)?;
            Ok(rollback::tpm::raise(
                tpm,
                &key,
                (&approved, &signature),
                minimum.index,
            )?)
        })();
        let nv = rollback::tpm::NV_INDEX;
        match raised {
            Ok(rollback::tpm::Raised::Raised { from, to }) => say(&format!(
                "anti-rollback: TPM NV index {nv:#010x} raised from {} to {}",
                from.map_or("none".into(), rollback::tpm::describe_index),
                rollback::tpm::describe_index(to)
            )),
            Ok(rollback::tpm::Raised::Unchanged { current }) => say(&format!(
                "anti-rollback: TPM NV index {nv:#010x} already {}",
                rollback::tpm::describe_index(current)
            )),
            Err(e) => say(&format!(
                "anti-rollback: cannot raise TPM NV index {nv:#010x}: {e:#}"
            )),
        }
    }

    /// Adds a TPM-sealed keyslot and its token to a new header. Without a
    /// TPM, or without a PCR-policy key in the UKI, adds nothing and says
    /// why: the state then opens with its recovery key only.
    pub fn enroll(
        &mut self,
        header: &mut Header,
        key: &VolumeKey,
        file: &File,
        part: &Path,
        rng: &mut impl CryptoRngCore,
    ) -> Result<()> {
        let Some(tpm) = self.tpm.as_mut() else {
            say(&format!(
                "{}: the state partition will open with its recovery key only",
                self.missing
            ));
            return Ok(());
        };
        let pem = match std::fs::read_to_string(PCR_PUBLIC_KEY) {
            Ok(pem) => pem,
            Err(e) => {
                say(&format!(
                    "no PCR-policy key from the UKI ({PCR_PUBLIC_KEY}: {e}): the state \
                     partition will open with its recovery key only"
                ));
                return Ok(());
            }
        };
        let policy_key = PolicyKey::from_pem(&pem)
            .with_context(|| format!("{PCR_PUBLIC_KEY} is not a usable PCR-policy key"))?;
        let mut secret = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(&mut *secret);
        // Anti-rollback: when the UKI carries the bound approval for this
        // release, the TPM minimum is set to this release first (the bound
        // policy needs a written index), and the key sealed under
        // PolicyAuthorize(key, "clip.rollback").
        let bound = match &self.release {
            Some(release) => bound_approval(tpm, &policy_key, release.index)?,
            None => None,
        };
        let mut policy_ref: &[u8] = &[];
        if let (Some(_), Some(release)) = (&bound, &self.release) {
            let (approved, signature) = current_approval(tpm)?;
            let raised =
                rollback::tpm::raise(tpm, &policy_key, (&approved, &signature), release.index)
                    .context("anti-rollback: cannot set the TPM's minimum version")?;
            say(&format!(
                "anti-rollback: TPM NV index {:#010x} {}",
                rollback::tpm::NV_INDEX,
                match raised {
                    rollback::tpm::Raised::Raised { to, .. } =>
                        format!("set to {}", rollback::tpm::describe_index(to)),
                    rollback::tpm::Raised::Unchanged { current } =>
                        format!("already {}", rollback::tpm::describe_index(current)),
                }
            ));
            policy_ref = rollback::tpm::POLICY_REF;
        }
        let sealed = tpm2::seal_bound(
            tpm,
            &*secret,
            &SealPolicy {
                pcr7: Some(PcrValue::Current),
                pcr12: Some(PcrValue::Current),
                signed_pcr11_key: Some(policy_key),
                pin: None,
            },
            policy_ref,
        )
        .context("the TPM cannot seal the state's key")?;
        if bound.is_some() {
            say(
                "TPM: the state's key is bound to the anti-rollback minimum (PolicyNV, policyRef clip.rollback)",
            );
        }
        let passphrase = passphrase(&secret);
        let (slot, writes) = header
            .add_keyslot(
                key,
                passphrase.as_bytes(),
                &KeyslotParams::new(KdfParams::MINIMAL),
                rng,
            )
            .context("cannot add the TPM keyslot")?;
        crate::statecrypt::write_all(file, &writes, part)?;
        let (token, writes) = header
            .set_token(None, token_of(&sealed, slot).to_json(), rng)
            .context("cannot add the TPM token")?;
        crate::statecrypt::write_all(file, &writes, part)?;
        say(&format!(
            "TPM keyslot {slot} (token {token}): sealed to PCR 7 and 12 as they are and to PCR 11 \
             values signed by the PCR-policy key"
        ));
        Ok(())
    }

    /// The volume key, through the header's `systemd-tpm2` token.
    pub fn unlock(
        &mut self,
        header: &Header,
        mut read: impl FnMut(u64, &mut [u8]) -> std::io::Result<()>,
    ) -> Result<VolumeKey> {
        let (slot, sealed) = sealed_of(header)?;
        let Some(tpm) = self.tpm.as_mut() else {
            bail!("{}", self.missing);
        };
        // Anti-rollback: a key sealed bound to the minimum unseals only
        // with this release's bound approval, while the TPM's minimum is
        // not above this release.
        let bound = match (&sealed.policy_key, &self.release) {
            (Some(key), Some(release)) => bound_approval(tpm, key, release.index)?
                .map(|approval| (approval, rollback::tpm::bound(key, release.index))),
            _ => None,
        };
        let mut secret = None;
        let mut bound_error = None;
        if let Some(((approved, signature), bound)) = &bound {
            match tpm2::unseal_bound(
                tpm,
                &sealed,
                &UnsealInputs {
                    signature: Some((*approved, signature)),
                    pin: None,
                },
                bound,
            ) {
                Ok(s) => {
                    say("TPM: unsealed with the policy bound to the anti-rollback minimum");
                    secret = Some(s);
                }
                // Perhaps sealed before anti-rollback: the unbound policy
                // below; if that one is not the object's either, this
                // error is the one that counts.
                Err(e) => bound_error = Some(e),
            }
        }
        let secret = match secret {
            Some(s) => s,
            None => {
                let signature = if sealed.policy_key.is_some() {
                    Some(current_approval(tpm)?)
                } else {
                    None
                };
                let unbound = tpm2::unseal(
                    tpm,
                    &sealed,
                    &UnsealInputs {
                        signature: signature.as_ref().map(|(p, s)| (*p, s.as_slice())),
                        pin: None,
                    },
                );
                match (unbound, bound_error) {
                    (Ok(s), _) => s,
                    (Err(tpm2::Error::PcrChanged { .. }), Some(e)) | (Err(e), _) => {
                        return Err(e).context("the TPM refused to unseal the state's key");
                    }
                }
            }
        };
        let secret: Zeroizing<[u8; 32]> = Zeroizing::new(
            secret
                .as_slice()
                .try_into()
                .context("the unsealed secret is not 32 bytes")?,
        );
        let (_, key) = header
            .unlock(passphrase(&secret).as_bytes(), Some(slot), &mut read)
            .with_context(|| format!("the unsealed secret does not open keyslot {slot}"))?;
        say(&format!(
            "state partition unlocked with keyslot {slot} (TPM)"
        ));
        Ok(key)
    }
}

/// PCR 11's value now.
fn pcr11(tpm: &mut Tpm<Device>) -> Result<[u8; 32]> {
    let pcr11 = tpm2::pcr_read(tpm, &[11]).context("cannot read PCR 11")?;
    Ok(pcr11.first().map(|(_, v)| *v).unwrap_or_default())
}

/// The `.pcrsig` approval of "PCR 11 = its value now" (policyRef "").
fn current_approval(tpm: &mut Tpm<Device>) -> Result<(policy::PolicyDigest, Vec<u8>)> {
    let approved = policy::pcr(
        &policy::EMPTY,
        PcrSelection::of(&[11]).unwrap_or_default(),
        &[pcr11(tpm)?],
    );
    Ok((approved, find_signature(&approved)?))
}

/// The `.pcrsig` entry approving this release's bound policy (PolicyPCR(11
/// now) then PolicyNV(NV <= `index`), policyRef "clip.rollback"), if the
/// UKI carries one.
fn bound_approval(
    tpm: &mut Tpm<Device>,
    key: &PolicyKey,
    index: u64,
) -> Result<Option<(policy::PolicyDigest, Vec<u8>)>> {
    let approved = rollback::tpm::release_policy(key, &pcr11(tpm)?, index);
    Ok(find_signature(&approved).ok().map(|sig| (approved, sig)))
}

/// The keyslot passphrase of a sealed secret: its base64 (systemd's form).
fn passphrase(secret: &[u8; 32]) -> Zeroizing<String> {
    use base64ct::{Base64, Encoding};
    Zeroizing::new(Base64::encode_string(secret))
}

/// The `.pcrsig` signature of `approved` (systemd-measure's JSON: a
/// `sha256` list of {pcrs, pkfp, pol, sig}).
fn find_signature(approved: &policy::PolicyDigest) -> Result<Vec<u8>> {
    use base64ct::{Base64, Encoding};
    let text = std::fs::read_to_string(PCR_SIGNATURE).with_context(|| {
        format!("no PCR 11 signature from the UKI ({PCR_SIGNATURE}): was it built with a PCR-policy key?")
    })?;
    let json: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{PCR_SIGNATURE} is not JSON"))?;
    let want = hex::encode(approved);
    let entries = json
        .get("sha256")
        .and_then(|v| v.as_array())
        .with_context(|| format!("{PCR_SIGNATURE} has no sha256 list"))?;
    let entry = entries
        .iter()
        .find(|e| e.get("pol").and_then(|p| p.as_str()) == Some(want.as_str()))
        .with_context(|| {
            format!(
                "{PCR_SIGNATURE} signs no policy for this boot's PCR 11 (policy {want}): this UKI \
                 is not the one the signature was made for"
            )
        })?;
    let sig = entry
        .get("sig")
        .and_then(|s| s.as_str())
        .with_context(|| format!("{PCR_SIGNATURE}: the entry for {want} has no sig"))?;
    Base64::decode_vec(sig).with_context(|| format!("{PCR_SIGNATURE}: sig is not base64"))
}
