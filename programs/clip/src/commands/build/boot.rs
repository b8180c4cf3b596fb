//! The boot chain on the ESP: one signed UKI per slot (its command line
//! carries the slot and the dm-verity parameters of that slot's root; its
//! `.pcrsig` the PCR 11 policy signed by the PCR-policy key, see
//! docs/tpm-policy.md), the signed systemd-boot as the removable-media
//! loader, and Boot Loader Specification type #1 entries (UAPI "Boot Loader
//! Specification", `efi` key) naming the UKIs.

use std::path::Path;

use anyhow::{Context, Result, bail};
use contract::{BootParams, Slot};
use rsa::RsaPrivateKey;
use serde_json::{Value, json};
use x509_cert::Certificate;

use crate::commands::keys::{PCR_KEY_FILE, PCR_PUB_FILE};
use crate::commands::uki::{PcrPolicy, build_signed, signatures_json};

/// Signing material: the db key and certificate.
#[derive(Debug)]
pub struct Signer {
    pub key: RsaPrivateKey,
    pub cert: Certificate,
}

impl Signer {
    /// Signs a PE image and checks the result verifies against the
    /// certificate (never ship what firmware would refuse).
    pub fn sign(&self, image: &[u8], what: &str) -> Result<Vec<u8>> {
        let signed = authenticode::sign(image, &self.key, &self.cert)
            .with_context(|| format!("cannot sign {what}"))?;
        authenticode::verify(&signed, &self.cert)
            .with_context(|| format!("internal error: the signed {what} does not verify"))?;
        Ok(signed)
    }
}

/// The kernel command line of a slot's UKI: the product's, then the boot
/// contract's parameters (docs/image.md).
pub fn cmdline(product_cmdline: &str, params: &BootParams) -> String {
    format!("{product_cmdline} {}", params.render())
}

/// The command line of a slot with the longest values the builder can put
/// in it (a full-length salt, the largest block count).
fn longest_cmdline(product_cmdline: &str) -> String {
    let params = BootParams {
        slot: Slot::A,
        root_hash: [0; 32],
        salt: super::ids::verity_salt(&[0; 32]).to_vec(),
        data_blocks: u64::MAX,
    };
    cmdline(product_cmdline, &params)
}

/// Refuses a slot's command line the kernel would cut short (longer than
/// [`uki::MAX_CMDLINE`]): the cut would take the `clip.*` parameters, which
/// come last, and clip-init could not find the root.
pub fn check_cmdline(line: &str, product_cmdline: &str) -> Result<()> {
    if line.len() > uki::MAX_CMDLINE {
        bail!(
            "the kernel command line would be {} bytes ({} from the product's kernel.cmdline, {} added \
             by the builder); the kernel takes at most {}: shorten kernel.cmdline",
            line.len(),
            product_cmdline.len(),
            line.len().saturating_sub(product_cmdline.len()),
            uki::MAX_CMDLINE
        );
    }
    Ok(())
}

/// Refuses, before any work, a product command line that would not fit
/// with the longest parameters the builder may add.
pub fn check_product_cmdline(product_cmdline: &str) -> Result<()> {
    check_cmdline(&longest_cmdline(product_cmdline), product_cmdline)
}

/// Inputs shared by every slot's UKI.
#[derive(Debug)]
pub struct UkiParts<'a> {
    pub stub: &'a [u8],
    pub linux: &'a [u8],
    pub initrd: &'a [u8],
    pub os_release: &'a [u8],
    pub uname: &'a str,
}

/// The PCR-policy key of the key set in `keys_dir`, signing for the phase
/// CLIP OS unseals in (enter-initrd). A set made before the key existed is
/// refused with the command that adds it.
pub fn pcr_policy(keys_dir: &Path) -> Result<PcrPolicy> {
    let key = keys_dir.join(PCR_KEY_FILE);
    if key.symlink_metadata().is_err() {
        bail!(
            "the key set in {dir} has no PCR-policy key ({PCR_KEY_FILE}), which signs the UKI's \
             PCR 11 policy (docs/tpm-policy.md); add it, keeping every other key: \
             clip keys generate {dir} --add-missing",
            dir = keys_dir.display()
        );
    }
    PcrPolicy::load(&key, Some(&keys_dir.join(PCR_PUB_FILE)), &[])
        .with_context(|| format!("cannot use the PCR-policy key in {}", keys_dir.display()))
}

/// Builds the UKI of `slot` with its signed PCR 11 policy, and signs it
/// for Secure Boot. Returns the image and the manifest's `pcr11` object:
/// the measurements systemd-stub will make, PCR 11 after the stub and at
/// systemd's boot phases, and the policies signed.
pub fn uki(
    parts: &UkiParts<'_>,
    cmdline: &str,
    signer: &Signer,
    pcr_policy: &PcrPolicy,
    slot: Slot,
) -> Result<(Vec<u8>, Value)> {
    let signed = build_signed(
        &uki::Inputs {
            stub: parts.stub,
            linux: parts.linux,
            initrds: vec![parts.initrd],
            cmdline: Some(cmdline.as_bytes()),
            os_release: Some(parts.os_release),
            uname: Some(parts.uname),
            ..Default::default()
        },
        pcr_policy,
    )
    .with_context(|| format!("cannot assemble the UKI of slot {slot}"))?;
    let p = &signed.prediction;
    let phases: serde_json::Map<String, Value> = measure::pcr::SYSTEMD_PHASE_PATHS
        .iter()
        .map(|phase| ((*phase).to_owned(), hex::encode(p.at(phase)).into()))
        .collect();
    let sections: Vec<Value> = p
        .sections
        .iter()
        .map(|m| json!({"name": m.name, "size": m.size, "sha256": hex::encode(m.sha256)}))
        .collect();
    let (signed_phases, signatures) = &signed.signatures;
    let pcr11 = json!({
        "bank": measure::signature::BANK,
        "sections": sections,
        "after_stub": hex::encode(p.after_stub),
        "phases": phases,
        "signed": signatures_json(p, signed_phases, signatures),
    });
    let image = signer.sign(&signed.image, &format!("the UKI of slot {slot}"))?;
    Ok((image, pcr11))
}

/// loader.conf: boot the default at once; no editor (the command line is
/// signed inside the UKI anyway), no auto-added entries (firmware setup,
/// other EFI programs).
///
/// `default <product>-*`: systemd-boot 257 (src/boot/boot.c,
/// config_entry_compare) sorts entries with no tries left (`+0-N`) last,
/// then by `sort-key`, then by `version`, newest first, and takes the first
/// entry matching the `default` glob. Both slots' entries match and share
/// the sort key, so it boots the newest version with tries left, and the
/// other slot once the new one's tries ran out (docs/update.md).
pub fn loader_conf(product: &str) -> String {
    format!(
        "default {product}-*\ntimeout 0\neditor no\nauto-entries no\nauto-firmware no\nsecure-boot-enroll off\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmdline_carries_slot_and_verity() {
        let params = BootParams {
            slot: Slot::A,
            root_hash: [0xab; 32],
            salt: vec![0x01; 32],
            data_blocks: 1234,
        };
        let line = cmdline("console=ttyS0", &params);
        assert_eq!(
            line,
            format!(
                "console=ttyS0 clip.slot=a clip.verity.roothash={} clip.verity.salt={} clip.verity.data_blocks=1234",
                "ab".repeat(32),
                "01".repeat(32)
            )
        );
        assert!(loader_conf("clipos").starts_with("default clipos-*\ntimeout 0\n"));
    }

    #[test]
    fn cmdline_is_bounded_by_the_kernel_limit() {
        // What the builder adds at most: " clip.slot=a clip.verity.roothash=<64>
        // clip.verity.salt=<64> clip.verity.data_blocks=<20 digits>".
        let added = longest_cmdline("").len();
        assert_eq!(added, 1 + 11 + 1 + 85 + 1 + 81 + 1 + 44);
        let fits = "x".repeat(uki::MAX_CMDLINE - added);
        check_product_cmdline(&fits).unwrap();
        assert_eq!(longest_cmdline(&fits).len(), 2047);
        let over = format!("{fits}y");
        let err = check_product_cmdline(&over).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "the kernel command line would be 2048 bytes ({} from the product's kernel.cmdline, \
                 {added} added by the builder); the kernel takes at most 2047: shorten kernel.cmdline",
                over.len()
            )
        );
        // The assembled line itself, with the real values of a slot.
        let mut params = BootParams {
            slot: Slot::A,
            root_hash: [0xab; 32],
            salt: vec![0x01; 32],
            data_blocks: 1,
        };
        let short_suffix = cmdline("", &params).len();
        let product = "x".repeat(uki::MAX_CMDLINE - short_suffix);
        let line = cmdline(&product, &params);
        assert_eq!(line.len(), 2047);
        check_cmdline(&line, &product).unwrap();
        let product = format!("{product}y");
        params.slot = Slot::B;
        let line = cmdline(&product, &params);
        assert!(
            check_cmdline(&line, &product)
                .unwrap_err()
                .to_string()
                .starts_with("the kernel command line would be 2048 bytes")
        );
    }
}
