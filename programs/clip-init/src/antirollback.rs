//! Anti-rollback in clip-init (issue 9; docs/anti-rollback.md): the
//! release's version comes from the verified root's `/usr/lib/os-release`
//! (`VERSION_ID`, covered by the root hash on the signed command line).
//! Before the state is unsealed, the TPM NV minimum is checked
//! ([`crate::tpmkey::TpmKey::rollback_check`]); once the state is mounted,
//! the state record that `clip-updated mark-good` raises is checked, and
//! the NV index raised to it ([`crate::tpmkey::TpmKey::rollback_raise`]),
//! before PCR 11 leaves the signed value.

use std::path::Path;

use anyhow::{Context, Result, bail};
use contract::Version;
use rollback::Indexed;

use crate::console::say;

/// The os-release file of the root.
pub const OS_RELEASE: &str = "usr/lib/os-release";

/// The refusal, the same whichever record says it.
pub fn refusal(release: &Version, minimum: &str, source: &str) -> String {
    format!(
        "this release is version {release}, below the device's minimum version {minimum} \
         (anti-rollback: {source}); boot a newer slot"
    )
}

/// The release's version and rollback index, from the verified root.
pub fn release(sysroot: &Path) -> Result<Indexed> {
    let path = sysroot.join(OS_RELEASE);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!("cannot read /{OS_RELEASE}: anti-rollback needs the release's VERSION_ID")
    })?;
    let value = text
        .lines()
        .find_map(|l| l.strip_prefix("VERSION_ID="))
        .map(|v| v.trim().trim_matches('"'))
        .with_context(|| {
            format!("/{OS_RELEASE} has no VERSION_ID: anti-rollback needs the release's version")
        })?;
    let version =
        Version::parse(value).with_context(|| format!("/{OS_RELEASE}: invalid VERSION_ID"))?;
    let indexed = Indexed::new(version)?;
    say(&format!("release {indexed}"));
    Ok(indexed)
}

/// The state record's minimum (`/var/lib/clip-updated/minimum-version.json`
/// on the state, seen through the bind mounts under `sysroot`), refusing
/// a release below it.
pub fn check_record(sysroot: &Path, release: &Indexed) -> Result<Option<Indexed>> {
    let path = sysroot.join(rollback::state::STATE_FILE);
    let Some(minimum) = rollback::state::read_indexed(&path)? else {
        say("anti-rollback: no minimum version recorded in the state yet");
        return Ok(None);
    };
    if release.index < minimum.index {
        bail!(
            "{}",
            refusal(
                &release.version,
                minimum.version.as_str(),
                &format!("state record /{}", rollback::state::STATE_FILE)
            )
        );
    }
    say(&format!(
        "anti-rollback: the state's minimum version is {}",
        minimum.version
    ));
    Ok(Some(minimum))
}
