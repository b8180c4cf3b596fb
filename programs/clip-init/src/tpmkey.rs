//! The TPM's part in opening the state partition (issue 8): sealing a
//! keyslot secret at first boot and unsealing it on later boots, recorded
//! in a `systemd-tpm2` LUKS2 token.
//!
//! Not wired to a TPM yet: enrolment adds nothing and unlocking always
//! fails, so the state opens with the recovery key only.

use std::fs::File;
use std::path::Path;

use anyhow::{Result, bail};
use luks2::{Header, VolumeKey};
use rand_core::CryptoRngCore;

use crate::console::say;

/// The TPM, if any.
#[derive(Debug, Default)]
pub struct TpmKey {}

impl TpmKey {
    pub fn new() -> Self {
        Self {}
    }

    /// Adds a TPM-sealed keyslot and its token to a new header.
    pub fn enroll(
        &mut self,
        _header: &mut Header,
        _key: &VolumeKey,
        _file: &File,
        _part: &Path,
        _rng: &mut impl CryptoRngCore,
    ) -> Result<()> {
        say("no TPM support yet: the state partition opens with its recovery key only");
        Ok(())
    }

    /// The volume key, unsealed by the TPM.
    pub fn unlock(
        &mut self,
        _header: &Header,
        _read: impl FnMut(u64, &mut [u8]) -> std::io::Result<()>,
    ) -> Result<VolumeKey> {
        bail!("no TPM keyslot")
    }
}
