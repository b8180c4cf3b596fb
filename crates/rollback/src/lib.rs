//! Anti-rollback (issue 9; design and threat model in
//! `docs/anti-rollback.md`): a device never boots, installs or unseals its
//! state for a release older than the newest one it has marked good.
//!
//! - [`index`]: a release version as a 64-bit **rollback index**, ordered
//!   as [`contract::Version`] orders versions (SemVer precedence), so that
//!   the TPM can compare it (PolicyNV, big-endian unsigned). Versions it
//!   cannot order are refused at build time.
//! - [`state`]: the minimum in the state partition (every device; the only
//!   record without a TPM). `clip-updated mark-good` raises it.
//! - [`tpm`]: the minimum in a TPM NV index whose write policy only the
//!   initrd of a UKI signed by the PCR-policy key satisfies; clip-init
//!   raises it at boot from the state record, and the state's sealed key
//!   is bound to it by PolicyNV.
//!
//! # For the update daemon
//!
//! ```no_run
//! use contract::Version;
//! use std::path::Path;
//!
//! # fn main() -> Result<(), rollback::Error> {
//! let running = Version::parse("2.0.0").unwrap();
//! // `clip-updated mark-good`, after boot-complete.target: never lowers.
//! let record = Path::new("/").join(rollback::state::STATE_FILE);
//! let raised = rollback::state::raise(&record, &running)?;
//! println!("{raised}"); // "minimum version raised from 1.0.0 to 2.0.0" or "... already 2.0.0"
//!
//! // `clip-updated check|apply`: refuse a candidate not newer than the
//! // installed version, or below the device's minimum, or unorderable.
//! let candidate = Version::parse("3.0.0").unwrap();
//! let minimum = rollback::state::read(&record)?; // None before the first mark-good
//! rollback::check_update(&candidate, &running, minimum.as_ref())?;
//! # Ok(()) }
//! ```
//!
//! The TPM NV index is written by clip-init only (in the initrd, where the
//! write policy holds), from this record, at the next boot.

use std::fmt;

use contract::Version;

pub mod state;
pub mod tpm;

/// Bits of each of MAJOR, MINOR, PATCH and the pre-release rank.
pub const FIELD_BITS: u32 = 16;
/// Largest MAJOR, MINOR or PATCH the index holds.
pub const MAX_FIELD: u64 = 0xFFFF;
/// The rank of a release (no pre-release): above every pre-release.
pub const RELEASE_RANK: u64 = 0xFFFF;
/// Pre-release kinds, in SemVer order (ASCII order of their names); kind
/// numbers 1 to 6.
pub const PRERELEASE_KINDS: [&str; 6] = ["alpha", "beta", "dev", "pre", "rc", "test"];
/// Largest N in `-alpha.N`, `-beta.N`, `-rc.N`.
pub const MAX_PRERELEASE_NUMBER: u64 = 4094;

/// The crate's one error type; each variant one failed check.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A version the rollback index cannot order.
    #[error(
        "version {version} has no rollback index: {reason} (anti-rollback orders MAJOR.MINOR.PATCH up to 65535 each, with an optional pre-release -alpha, -beta, -dev, -pre, -rc or -test, alone or followed by .N, N at most 4094)"
    )]
    Unorderable { version: String, reason: String },
    /// A candidate update that is not newer than what is installed.
    #[error(
        "version {candidate} is not newer than the installed version {installed} (anti-rollback)"
    )]
    NotNewer {
        candidate: String,
        installed: String,
    },
    /// A version below the device's minimum.
    #[error("version {version} is below the device's minimum version {minimum} (anti-rollback)")]
    BelowMinimum { version: String, minimum: String },
    /// The state record cannot be read or written.
    #[error("anti-rollback record {path}: {error}")]
    Io { path: String, error: std::io::Error },
    /// The state record does not parse.
    #[error("anti-rollback record {path} is malformed: {reason}")]
    Malformed { path: String, reason: String },
    /// A TPM command failed.
    #[error("anti-rollback NV index {index:#010x}: {step}: {error}")]
    Tpm {
        index: u32,
        step: &'static str,
        error: tpm2::Error,
    },
    /// The NV index exists with another definition than ours: someone
    /// else defined it, and its contents cannot be trusted.
    #[error(
        "anti-rollback NV index {index:#010x} is not ours: its public area is {found}, expected {expected} (attributes without WRITTEN, write policy, size)"
    )]
    NvForeign {
        index: u32,
        found: String,
        expected: String,
    },
    /// The NV index holds a value of the wrong size.
    #[error("anti-rollback NV index {index:#010x} returned {len} bytes, not 8")]
    NvSize { index: u32, len: usize },
    /// The signed PCR 11 policy does not match the TPM's PCR 11.
    #[error(
        "cannot raise the anti-rollback NV index {index:#010x}: the TPM's PCR 11 policy digest is {current}, the signature approves {approved} (not in the initrd of this signed UKI)"
    )]
    NotInSignedInitrd {
        index: u32,
        current: String,
        approved: String,
    },
}

/// A version's rollback index:
///
/// ```text
/// MAJOR << 48 | MINOR << 32 | PATCH << 16 | rank
/// rank = 0xFFFF                 for a release
///        kind << 12             for -alpha, -beta, -dev, -pre, -rc, -test (kind 1 to 6)
///        kind << 12 | (N + 1)   for -KIND.N
/// ```
///
/// Strictly monotone: `a < b` (SemVer precedence) ⇔ `index(a) < index(b)`
/// for every version it accepts; any other version is refused with
/// [`Error::Unorderable`] (`clip build` refuses to build it).
pub fn index(version: &Version) -> Result<u64, Error> {
    let text = version.as_str();
    let bad = |reason: String| Error::Unorderable {
        version: text.to_owned(),
        reason,
    };
    let (core, pre) = match text.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (text, None),
    };
    let mut out = 0u64;
    for (name, part) in ["MAJOR", "MINOR", "PATCH"].iter().zip(core.split('.')) {
        let n: u64 = part
            .parse()
            .map_err(|_| bad(format!("{name} {part} is not a number")))?;
        if n > MAX_FIELD {
            return Err(bad(format!("{name} {n} is above {MAX_FIELD}")));
        }
        out = (out << FIELD_BITS) | n;
    }
    let rank = match pre {
        None => RELEASE_RANK,
        Some(pre) => {
            let ids: Vec<&str> = pre.split('.').collect();
            let kind = PRERELEASE_KINDS
                .iter()
                .position(|k| *k == ids[0])
                .ok_or_else(|| {
                    bad(format!(
                        "pre-release {pre:?} is not one of {PRERELEASE_KINDS:?}"
                    ))
                })?;
            let kind = u64::try_from(kind + 1).unwrap_or(u64::MAX) << 12;
            match ids.as_slice() {
                [_] => kind,
                [_, n] => {
                    let n: u64 = n
                        .parse()
                        .map_err(|_| bad(format!("pre-release {pre:?}: {n:?} is not a number")))?;
                    if n > MAX_PRERELEASE_NUMBER {
                        return Err(bad(format!(
                            "pre-release number {n} is above {MAX_PRERELEASE_NUMBER}"
                        )));
                    }
                    kind | (n + 1)
                }
                _ => return Err(bad(format!("pre-release {pre:?} has more than two parts"))),
            }
        }
    };
    Ok((out << FIELD_BITS) | rank)
}

/// A version with its rollback index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Indexed {
    pub version: Version,
    pub index: u64,
}

impl Indexed {
    pub fn new(version: Version) -> Result<Self, Error> {
        let index = index(&version)?;
        Ok(Self { version, index })
    }
}

impl fmt::Display for Indexed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (rollback index {:#018x})", self.version, self.index)
    }
}

/// Whether `version` may run on a device whose minimum is `minimum`.
pub fn check_minimum(version: &Version, minimum: &Version) -> Result<(), Error> {
    if version < minimum {
        return Err(Error::BelowMinimum {
            version: version.to_string(),
            minimum: minimum.to_string(),
        });
    }
    Ok(())
}

/// What the update daemon checks before downloading or installing
/// `candidate`: it has a rollback index, it is newer than `installed`, and
/// it is not below the device's `minimum` (if one is recorded).
pub fn check_update(
    candidate: &Version,
    installed: &Version,
    minimum: Option<&Version>,
) -> Result<(), Error> {
    index(candidate)?;
    if candidate <= installed {
        return Err(Error::NotNewer {
            candidate: candidate.to_string(),
            installed: installed.to_string(),
        });
    }
    if let Some(minimum) = minimum {
        check_minimum(candidate, minimum)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn index_layout() {
        assert_eq!(index(&v("1.2.3")).unwrap(), 0x0001_0002_0003_ffff);
        assert_eq!(index(&v("1.2.3-alpha")).unwrap(), 0x0001_0002_0003_1000);
        assert_eq!(index(&v("1.2.3-alpha.0")).unwrap(), 0x0001_0002_0003_1001);
        assert_eq!(index(&v("1.2.3-beta.7")).unwrap(), 0x0001_0002_0003_2008);
        assert_eq!(index(&v("1.2.3-rc.4094")).unwrap(), 0x0001_0002_0003_5fff);
        assert_eq!(index(&v("2.0.0-test.1")).unwrap(), 0x0002_0000_0000_6002);
        assert_eq!(index(&v("65535.65535.65535")).unwrap(), u64::MAX);
        assert_eq!(index(&v("0.0.0-alpha")).unwrap(), 0x1000);
    }

    #[test]
    fn index_is_strictly_monotone() {
        let list = [
            "0.0.0-alpha",
            "0.0.0",
            "0.0.1-alpha",
            "0.0.1-alpha.0",
            "0.0.1-alpha.1",
            "0.0.1-alpha.2",
            "0.0.1-alpha.10",
            "0.0.1-alpha.4094",
            "0.0.1-beta",
            "0.0.1-beta.2",
            "0.0.1-dev",
            "0.0.1-dev.3",
            "0.0.1-pre.1",
            "0.0.1-rc",
            "0.0.1-rc.1",
            "0.0.1-test",
            "0.0.1-test.4094",
            "0.0.1",
            "0.0.2",
            "0.1.0-rc.1",
            "0.1.0",
            "1.0.0",
            "1.0.1",
            "1.1.0",
            "2.0.0",
            "65535.0.0",
        ];
        let versions: Vec<Version> = list.iter().map(|s| v(s)).collect();
        for a in &versions {
            for b in &versions {
                assert_eq!(
                    a.cmp(b),
                    index(a).unwrap().cmp(&index(b).unwrap()),
                    "{a} vs {b}"
                );
            }
        }
    }

    #[test]
    fn unorderable_versions_are_refused() {
        let cases = [
            ("65536.0.0", "MAJOR 65536 is above 65535"),
            ("1.65536.0", "MINOR 65536 is above 65535"),
            ("1.0.65536", "PATCH 65536 is above 65535"),
            (
                "1.0.0-nightly",
                "pre-release \"nightly\" is not one of [\"alpha\", \"beta\", \"dev\", \"pre\", \"rc\", \"test\"]",
            ),
            (
                "1.0.0-rc-1",
                "pre-release \"rc-1\" is not one of [\"alpha\", \"beta\", \"dev\", \"pre\", \"rc\", \"test\"]",
            ),
            ("1.0.0-rc.x", "pre-release \"rc.x\": \"x\" is not a number"),
            ("1.0.0-rc.4095", "pre-release number 4095 is above 4094"),
            (
                "1.0.0-rc.1.2",
                "pre-release \"rc.1.2\" has more than two parts",
            ),
        ];
        for (text, reason) in cases {
            let e = index(&v(text)).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!(
                    "version {text} has no rollback index: {reason} (anti-rollback orders MAJOR.MINOR.PATCH up to 65535 each, with an optional pre-release -alpha, -beta, -dev, -pre, -rc or -test, alone or followed by .N, N at most 4094)"
                )
            );
        }
    }

    #[test]
    fn update_checks() {
        check_update(&v("2.0.0"), &v("1.0.0"), Some(&v("1.0.0"))).unwrap();
        assert_eq!(
            check_update(&v("1.0.0"), &v("1.0.0"), None)
                .unwrap_err()
                .to_string(),
            "version 1.0.0 is not newer than the installed version 1.0.0 (anti-rollback)"
        );
        assert_eq!(
            check_update(&v("0.9.0"), &v("1.0.0"), None)
                .unwrap_err()
                .to_string(),
            "version 0.9.0 is not newer than the installed version 1.0.0 (anti-rollback)"
        );
        // Installed below the minimum (the minimum came from the other slot).
        assert_eq!(
            check_update(&v("1.5.0"), &v("1.0.0"), Some(&v("2.0.0")))
                .unwrap_err()
                .to_string(),
            "version 1.5.0 is below the device's minimum version 2.0.0 (anti-rollback)"
        );
        assert!(matches!(
            check_update(&v("2.0.0-nightly"), &v("1.0.0"), None),
            Err(Error::Unorderable { .. })
        ));
    }
}
