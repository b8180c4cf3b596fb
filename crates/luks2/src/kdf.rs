//! Keyslot key derivation (spec §3.2.5): PBKDF2 (RFC 8018) with a SHA
//! hash, Argon2i and Argon2id (RFC 9106, version 0x13, no secret, no
//! associated data, `cpus` lanes), as cryptsetup's `crypt_pbkdf` runs them.
//!
//! Argon2 memory comes from the header, which may be hostile: it is
//! allocated fallibly and capped at cryptsetup's 4 GiB, so a huge claim is
//! an error, never an abort.

use argon2::{Algorithm, Argon2, Block, Params, Version};
use zeroize::Zeroize;

use crate::error::Error;
use crate::hash::Hash;
use crate::metadata::{Argon2Type, Kdf};

/// cryptsetup's Argon2 memory limit (`max_memory`, 4 GiB), in KiB.
pub const MAX_ARGON2_MEMORY: u32 = 4 * 1024 * 1024;
/// cryptsetup's smallest PBKDF2 iteration count for new keyslots.
pub const MIN_PBKDF2_ITERATIONS: u32 = 1000;

/// Parameters for a new keyslot's key derivation (the salt comes from the
/// caller's random source).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KdfParams {
    Pbkdf2 {
        hash: Hash,
        iterations: u32,
    },
    Argon2 {
        kind: Argon2Type,
        time: u32,
        /// KiB.
        memory: u32,
        cpus: u32,
    },
}

impl KdfParams {
    /// For high-entropy secrets (a TPM-sealed key, a recovery key):
    /// PBKDF2-SHA512 with 1000 iterations, as systemd's
    /// `cryptsetup_set_minimal_pbkdf` sets it.
    pub const MINIMAL: KdfParams = KdfParams::Pbkdf2 {
        hash: Hash::Sha512,
        iterations: MIN_PBKDF2_ITERATIONS,
    };

    /// Checks the costs against cryptsetup's limits for new keyslots
    /// (Argon2: memory 32 KiB..=4 GiB and at least 8 KiB per lane, 1 to 4
    /// lanes, at least one pass; PBKDF2: at least 1000 iterations).
    pub fn check(&self) -> Result<(), Error> {
        let bad = |name, problem: String| Err(Error::Param { name, problem });
        match *self {
            KdfParams::Pbkdf2 { iterations, .. } if iterations < MIN_PBKDF2_ITERATIONS => bad(
                "pbkdf2 iterations",
                format!("{iterations}, at least {MIN_PBKDF2_ITERATIONS}"),
            ),
            KdfParams::Argon2 { time: 0, .. } => bad("argon2 time", "0, at least 1".into()),
            KdfParams::Argon2 { cpus, .. } if !(1..=4).contains(&cpus) => {
                bad("argon2 cpus", format!("{cpus}, expected 1..=4"))
            }
            KdfParams::Argon2 { memory, cpus, .. }
                if memory < 32.max(8 * cpus) || memory > MAX_ARGON2_MEMORY =>
            {
                bad(
                    "argon2 memory",
                    format!(
                        "{memory} KiB, expected {}..={MAX_ARGON2_MEMORY}",
                        32.max(8 * cpus)
                    ),
                )
            }
            _ => Ok(()),
        }
    }

    pub(crate) fn with_salt(self, salt: Vec<u8>) -> Kdf {
        match self {
            KdfParams::Pbkdf2 { hash, iterations } => Kdf::Pbkdf2 {
                hash,
                iterations,
                salt,
            },
            KdfParams::Argon2 {
                kind,
                time,
                memory,
                cpus,
            } => Kdf::Argon2 {
                kind,
                time,
                memory,
                cpus,
                salt,
            },
        }
    }
}

/// Derives `out.len()` bytes from `passphrase` with `kdf`.
pub(crate) fn derive(kdf: &Kdf, passphrase: &[u8], out: &mut [u8]) -> Result<(), Error> {
    match kdf {
        Kdf::Pbkdf2 {
            hash,
            iterations,
            salt,
        } => {
            if *iterations == 0 {
                return Err(Error::Kdf {
                    message: "pbkdf2 with 0 iterations".into(),
                });
            }
            hash.pbkdf2(passphrase, salt, *iterations, out);
            Ok(())
        }
        Kdf::Argon2 {
            kind,
            time,
            memory,
            cpus,
            salt,
        } => argon2(*kind, *time, *memory, *cpus, passphrase, salt, out),
    }
}

fn argon2(
    kind: Argon2Type,
    time: u32,
    memory: u32,
    cpus: u32,
    passphrase: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), Error> {
    let fail = |message: String| Error::Kdf { message };
    // Checked before Params::new, whose own checks multiply the lane count.
    if cpus == 0 || cpus > Params::MAX_P_COST || time == 0 {
        return Err(fail(format!(
            "argon2 time {time}, cpus {cpus} out of range"
        )));
    }
    if memory > MAX_ARGON2_MEMORY {
        return Err(fail(format!(
            "argon2 memory {memory} KiB is above cryptsetup's limit of {MAX_ARGON2_MEMORY} KiB"
        )));
    }
    let params = Params::new(memory, time, cpus, Some(out.len())).map_err(|e| {
        fail(format!(
            "argon2 memory {memory} KiB, time {time}, cpus {cpus}: {e}"
        ))
    })?;
    let algorithm = match kind {
        Argon2Type::Argon2i => Algorithm::Argon2i,
        Argon2Type::Argon2id => Algorithm::Argon2id,
    };
    let count = params.block_count();
    let mut blocks: Vec<Block> = Vec::new();
    blocks
        .try_reserve_exact(count)
        .map_err(|_| Error::OutOfMemory {
            bytes: u64::try_from(count).unwrap_or(u64::MAX) * 1024,
            what: "argon2",
        })?;
    blocks.resize(count, Block::default());
    let result = Argon2::new(algorithm, Version::V0x13, params)
        .hash_password_into_with_memory(passphrase, salt, out, &mut blocks)
        .map_err(|e| fail(format!("argon2: {e}")));
    // The memory holds values derived from the passphrase.
    blocks.zeroize();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_keyslot_limits() {
        assert!(KdfParams::MINIMAL.check().is_ok());
        let a = |time, memory, cpus| KdfParams::Argon2 {
            kind: Argon2Type::Argon2id,
            time,
            memory,
            cpus,
        };
        assert!(a(1, 32, 1).check().is_ok());
        assert!(a(0, 32, 1).check().is_err());
        assert!(a(1, 31, 1).check().is_err());
        assert!(a(1, 32, 5).check().is_err());
        assert!(a(1, 8 * 4 - 1, 4).check().is_err());
        assert!(a(1, MAX_ARGON2_MEMORY + 1, 1).check().is_err());
        let p = KdfParams::Pbkdf2 {
            hash: Hash::Sha256,
            iterations: 999,
        };
        assert!(p.check().is_err());
    }

    #[test]
    fn hostile_argon2_costs_are_errors() {
        let kdf = |memory, cpus| Kdf::Argon2 {
            kind: Argon2Type::Argon2i,
            time: 1,
            memory,
            cpus,
            salt: vec![0; 32],
        };
        let mut out = [0u8; 32];
        for (memory, cpus) in [(u32::MAX, 1), (64, u32::MAX), (64, 0), (1, 1)] {
            assert!(
                derive(&kdf(memory, cpus), b"pw", &mut out).is_err(),
                "{memory} {cpus}"
            );
        }
    }

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    /// Expected values from the reference implementation's CLI (Debian
    /// package argon2, phc-winner-argon2 20190702):
    /// `echo -n password | argon2 somesaltsomesalt -id -t 2 -m 6 -p 1 -l 32 -r`
    /// `echo -n password | argon2 somesaltsomesalt -i -t 1 -k 32 -p 2 -l 64 -r`
    #[test]
    fn argon2_matches_reference_cli() {
        let cases = [
            (
                Argon2Type::Argon2id,
                2,
                64,
                1,
                32,
                "1a98fba8e6394425c9bdc333a9c750aaf811df070f5fb4a5788e1cf4db5793a1",
            ),
            (
                Argon2Type::Argon2i,
                1,
                32,
                2,
                64,
                "4e06a96263634746f4d7a82895e921c51e8bf2670c6cbc62e588d8011595bfd8\
                 587a2bfedf59723d8f9c254db83f1ab50b3a98c0274a6c42b2c29d22bf3d183a",
            ),
        ];
        for (kind, time, memory, cpus, len, expected) in cases {
            let kdf = Kdf::Argon2 {
                kind,
                time,
                memory,
                cpus,
                salt: b"somesaltsomesalt".to_vec(),
            };
            let mut out = vec![0u8; len];
            derive(&kdf, b"password", &mut out).unwrap();
            assert_eq!(out, unhex(expected), "{}", kind.name());
        }
    }
}
