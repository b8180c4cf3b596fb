//! Step 7a: the encrypted, integrity-protected state partition (issue 8):
//! LUKS2 (`crates/luks2`) with dm-integrity under dm-crypt, set up by the
//! same device-mapper sequence as the verity root ([`crate::mapper`]).
//!
//! - A blank partition (first MiB all zeros, as the image builder leaves
//!   it) is formatted: a random volume key, a recovery-key keyslot (the key
//!   shown once on the console, never logged) and, when a TPM is there, a
//!   keyslot whose secret the TPM seals ([`crate::tpmkey`]), recorded in a
//!   `systemd-tpm2` token.
//! - A partition with a LUKS2 header is opened: first through its TPM
//!   token; when the TPM refuses (PCR changed, TPM missing or cleared) the
//!   reason is shown and the recovery key is asked on the console; without
//!   one the boot stops. Anything else (no LUKS2 header, not blank) is
//!   never formatted.
//!
//! Keys stay in zeroized buffers and reach dm-crypt through the kernel
//! keyring, never a table.

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use contract::state::{Encryption, StateConfig};
use dm::{CryptTable, IntegrityMode, IntegritySuperblock, IntegrityTable, KeyringKey};
use luks2::{FormatParams, Header, KdfParams, KeyslotParams, VolumeKey};
use rand_core::{OsRng, RngCore};
use zeroize::Zeroizing;

use crate::console::{ask_secret, say, show_secret};
use crate::mapper::{Active, Mapper, Mapping, dev_numbers};
use crate::tpmkey::TpmKey;

/// Names of the two mappings (cryptsetup's `<name>_dif` convention).
pub const CRYPT_NAME: &str = "clip-state";
const INTEGRITY_NAME: &str = "clip-state_dif";
/// How much of a partition without a LUKS2 header must be zero to count
/// as blank (both header copies and more).
const BLANK_CHECK: usize = 1 << 20;
/// The smallest state partition: the LUKS2 header area, then room for
/// dm-integrity's journal and tags and a usable ext4.
const MIN_SIZE: u64 = luks2::DEFAULT_DATA_OFFSET + (32 << 20);
/// How long the console waits for a recovery key, per attempt.
const ASK_TIMEOUT: Duration = Duration::from_secs(120);
const ASK_ATTEMPTS: u32 = 3;

/// The opened state: the dm-crypt device and whether it was just made.
#[derive(Debug)]
pub struct Opened {
    pub node: PathBuf,
    pub fresh: bool,
}

/// Formats (first boot) or unlocks the state partition and maps it.
/// `sysroot` is the verified root, where the recovery key hook lives.
pub fn open(part: &Path, config: &StateConfig, sysroot: &Path, tpm: &mut TpmKey) -> Result<Opened> {
    let encryption = &config.encryption;
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(part)
        .with_context(|| format!("cannot open state partition {}", part.display()))?;
    let size = file
        .seek(SeekFrom::End(0))
        .with_context(|| format!("cannot size state partition {}", part.display()))?;
    let read_at = |file: &File| {
        let file = file.try_clone();
        move |offset: u64, buf: &mut [u8]| match &file {
            Ok(f) => f.read_exact_at(buf, offset),
            Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
        }
    };
    if size < MIN_SIZE {
        bail!(
            "state partition {} is {size} bytes; at least {MIN_SIZE} are needed (a 16 MiB LUKS2 \
             header area, then the data)",
            part.display()
        );
    }
    let mut head = vec![0u8; BLANK_CHECK];
    file.read_exact_at(&mut head, 0)
        .with_context(|| format!("cannot read state partition {}", part.display()))?;

    let (header, key, fresh) = if luks2::has_luks_magic(&head) {
        let header = Header::read(size, read_at(&file)).with_context(|| {
            format!(
                "state partition {} holds a LUKS2 header that cannot be used; refusing to touch it",
                part.display()
            )
        })?;
        let started = std::time::Instant::now();
        let key = unlock(&header, &file, tpm)?;
        say(&format!(
            "state key unlocked in {} ms (TPM unseal or recovery key, and key derivation)",
            started.elapsed().as_millis()
        ));
        (header, key, false)
    } else if head.iter().all(|&b| b == 0) {
        say(&format!(
            "state partition {} is blank: creating an encrypted volume ({} + {})",
            part.display(),
            encryption.cipher,
            encryption.integrity
        ));
        let hook = config.recovery_hook.as_deref().map(|h| (sysroot, h));
        let (header, key) = format(&file, part, encryption, hook, tpm)?;
        (header, key, true)
    } else {
        bail!(
            "state partition {} holds data but no LUKS2 header; refusing to format it",
            part.display()
        );
    };
    if fresh {
        // Sectors never written have no valid tag and do not read at all
        // (mke2fs reads some): write zeros over the whole volume once, with
        // dm-integrity's journal off as cryptsetup does for this wipe.
        let node = activate(part, &file, &header, size, &key, IntegrityMode::Direct)?;
        wipe(&node)?;
        let mapper = Mapper::open()?;
        mapper.remove(CRYPT_NAME)?;
        mapper.remove(INTEGRITY_NAME)?;
    }
    let started = std::time::Instant::now();
    let node = activate(part, &file, &header, size, &key, IntegrityMode::Journal)?;
    say(&format!(
        "state volume activated in {} ms (dm-integrity and dm-crypt)",
        started.elapsed().as_millis()
    ));
    Ok(Opened { node, fresh })
}

/// Zeros over the whole of a new volume, so that every sector has its tag.
fn wipe(node: &Path) -> Result<()> {
    let start = std::time::Instant::now();
    let mut file = OpenOptions::new()
        .write(true)
        .open(node)
        .with_context(|| format!("cannot open {} to initialize it", node.display()))?;
    let size = file
        .seek(SeekFrom::End(0))
        .with_context(|| format!("cannot size {}", node.display()))?;
    let chunk = vec![0u8; 1 << 20];
    let mut at = 0u64;
    while at < size {
        let n = usize::try_from((size - at).min(1 << 20)).unwrap_or(1 << 20);
        file.write_all_at(&chunk[..n], at)
            .with_context(|| format!("cannot initialize {} at byte {at}", node.display()))?;
        at += u64::try_from(n).unwrap_or(0);
    }
    file.sync_all()
        .with_context(|| format!("cannot sync {}", node.display()))?;
    say(&format!(
        "state volume initialized: {} MiB of tagged zeros in {} ms",
        size >> 20,
        start.elapsed().as_millis()
    ));
    Ok(())
}

/// Writes regions in order, each synced before the next (the luks2 crate's
/// crash-safety rule).
pub fn write_all(file: &File, writes: &[luks2::Write], part: &Path) -> Result<()> {
    for w in writes {
        file.write_all_at(&w.bytes, w.offset)
            .and_then(|()| file.sync_data())
            .with_context(|| {
                format!(
                    "cannot write {} bytes at {} of state partition {}",
                    w.bytes.len(),
                    w.offset,
                    part.display()
                )
            })?;
    }
    Ok(())
}

/// A systemd-style recovery key: 32 random bytes as 64 "modhex" characters
/// (the alphabet of `cbdefghijklnrtuv`, unambiguous on any keyboard
/// layout) in eight dash-separated groups.
pub fn recovery_key(bytes: &[u8; 32]) -> Zeroizing<String> {
    const MODHEX: &[u8; 16] = b"cbdefghijklnrtuv";
    let mut s = Zeroizing::new(String::with_capacity(71));
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 && i % 4 == 0 {
            s.push('-');
        }
        s.push(char::from(MODHEX[usize::from(b >> 4)]));
        s.push(char::from(MODHEX[usize::from(b & 0xf)]));
    }
    s
}

/// What a person typed, as the passphrase of the recovery keyslot: spaces
/// dropped, lower case, dashes put back if left out.
pub fn normalize_recovery_key(typed: &str) -> Zeroizing<String> {
    let compact: Zeroizing<String> = Zeroizing::new(
        typed
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .map(|c| c.to_ascii_lowercase())
            .collect(),
    );
    if compact.len() != 64 {
        return Zeroizing::new(typed.trim().to_owned());
    }
    let mut s = Zeroizing::new(String::with_capacity(71));
    for (i, c) in compact.chars().enumerate() {
        if i > 0 && i % 8 == 0 {
            s.push('-');
        }
        s.push(c);
    }
    s
}

fn format(
    file: &File,
    part: &Path,
    encryption: &Encryption,
    hook: Option<(&Path, &str)>,
    tpm: &mut TpmKey,
) -> Result<(Header, VolumeKey)> {
    let mut rng = OsRng;
    // The recovery key first, and escrowed before anything is written: if
    // the hook fails, the partition stays blank and the next boot tries
    // again, rather than leaving a volume whose recovery key went nowhere.
    let mut secret = Zeroizing::new([0u8; 32]);
    rng.fill_bytes(&mut *secret);
    let recovery = recovery_key(&secret);
    if let Some((sysroot, hook)) = hook {
        run_hook(sysroot, hook, &recovery)?;
    }
    let key_size = encryption.key_size().context("invalid state encryption")?;
    let mut key_bytes = Zeroizing::new(vec![0u8; key_size]);
    rng.fill_bytes(&mut key_bytes);
    let key = VolumeKey::new(key_bytes.to_vec());
    let mut uuid = [0u8; 16];
    rng.fill_bytes(&mut uuid);
    let mut params = FormatParams::new(uuid::Builder::from_random_bytes(uuid).into_uuid());
    params.label = "clip-state".into();
    params.encryption = encryption.cipher.clone();
    params.integrity = Some(encryption.integrity.clone());
    let (mut header, writes) =
        luks2::format(&params, &key, &mut rng).context("cannot create the LUKS2 header")?;
    write_all(file, &writes, part)?;

    // The recovery keyslot first: whatever happens with the TPM, the data
    // stays reachable with it.
    let (slot, writes) = header
        .add_keyslot(
            &key,
            recovery.as_bytes(),
            &KeyslotParams::new(KdfParams::MINIMAL),
            &mut rng,
        )
        .context("cannot add the recovery keyslot")?;
    write_all(file, &writes, part)?;
    tpm.enroll(&mut header, &key, file, part, &mut rng)?;
    show_secret(
        &format!(
            "RECOVERY KEY of the state partition (keyslot {slot}); write it down now, it is \
             shown this once and opens the state when the TPM does not:"
        ),
        &recovery,
    );
    Ok((header, key))
}

/// How long the recovery key hook may take.
const HOOK_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs the product's recovery key hook inside the verified root (chroot,
/// with /dev), the key on its standard input, nothing in its environment.
fn run_hook(sysroot: &Path, hook: &str, key: &str) -> Result<()> {
    use std::io::Write;
    use std::process::{Command, Stdio};

    let dev = sysroot.join("dev");
    rustix::mount::mount_bind("/dev", &dev)
        .with_context(|| format!("cannot bind /dev onto {}", dev.display()))?;
    let result = (|| {
        let mut cmd = Command::new(hook);
        cmd.env_clear()
            .env("PATH", "/usr/bin:/usr/sbin")
            .stdin(Stdio::piped());
        sys::process::chroot(&mut cmd, sysroot)?;
        let mut child = cmd.spawn()?;
        if let Some(mut stdin) = child.stdin.take() {
            // A hook that does not read its input fails below by its status.
            let _ = stdin.write_all(format!("{key}\n").as_bytes());
        }
        let start = std::time::Instant::now();
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok(status);
            }
            if start.elapsed() > HOOK_TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no answer after {} s", HOOK_TIMEOUT.as_secs()),
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    })();
    let _ = rustix::mount::unmount(&dev, rustix::mount::UnmountFlags::DETACH);
    match result {
        Ok(status) if status.success() => {
            say(&format!("recovery key handed to {hook}"));
            Ok(())
        }
        Ok(status) => bail!(
            "the recovery key hook {hook} failed ({status}): the state partition was not \
             created, the next boot tries again"
        ),
        Err(e) => Err(e).with_context(|| {
            format!(
                "cannot run the recovery key hook {hook}: the state partition was not created, \
                 the next boot tries again"
            )
        }),
    }
}

fn unlock(header: &Header, file: &File, tpm: &mut TpmKey) -> Result<VolumeKey> {
    let read = |offset: u64, buf: &mut [u8]| file.read_exact_at(buf, offset);
    match tpm.unlock(header, read) {
        Ok(key) => return Ok(key),
        Err(why) => say(&format!(
            "the TPM did not unlock the state partition: {why:#}"
        )),
    }
    for attempt in 1..=ASK_ATTEMPTS {
        let Some(typed) = ask_secret(
            &format!("recovery key of the state partition ({attempt}/{ASK_ATTEMPTS}): "),
            ASK_TIMEOUT,
        ) else {
            bail!(
                "the state partition stays locked: the TPM did not unlock it and no recovery key \
                 was given"
            );
        };
        let passphrase = normalize_recovery_key(&typed);
        match header.unlock(passphrase.as_bytes(), None, read) {
            Ok((slot, key)) => {
                say(&format!(
                    "state partition unlocked with keyslot {slot} (recovery key)"
                ));
                return Ok(key);
            }
            Err(luks2::Error::WrongPassphrase { .. }) => say("that recovery key opens no keyslot"),
            Err(e) => return Err(e).context("cannot unlock the state partition"),
        }
    }
    bail!("the state partition stays locked: {ASK_ATTEMPTS} wrong recovery keys");
}

/// dm-integrity over the data area, then dm-crypt over it, the volume key
/// handed to the kernel through a revoked-after-use keyring key.
fn activate(
    part: &Path,
    file: &File,
    header: &Header,
    size: u64,
    key: &VolumeKey,
    mode: IntegrityMode,
) -> Result<PathBuf> {
    let act = header
        .activation(size)
        .context("cannot activate the state partition's LUKS2 segment")?;
    let integrity = act.integrity.as_ref().with_context(|| {
        format!(
            "the state partition's segment ({}) has no integrity; refusing an unauthenticated state",
            act.encryption
        )
    })?;
    let mapper = Mapper::open()?;
    let part_dev = dev_numbers(part)?;
    let uuid = header.uuid().to_owned();
    let offset = act.data_offset / 512;
    let integrity_table = |sectors: u64| IntegrityTable {
        device: part_dev.clone(),
        offset,
        sectors,
        tag_size: integrity.tag_size,
        mode,
        block_size: act.sector_size,
        options: vec!["fix_padding".into(), "fix_hmac".into()],
    };
    let superblock = |file: &File| -> Result<Option<IntegritySuperblock>> {
        // The kernel writes the superblock below the page cache of the
        // partition: drop what the cache holds of it first.
        rustix::fs::fadvise(
            file,
            act.data_offset,
            std::num::NonZeroU64::new(4096),
            rustix::fs::Advice::DontNeed,
        )
        .context("cannot drop the cached dm-integrity superblock")?;
        let mut sb = [0u8; 512];
        file.read_exact_at(&mut sb, act.data_offset)
            .context("cannot read the dm-integrity superblock")?;
        IntegritySuperblock::parse(&sb).context("bad dm-integrity superblock")
    };
    let integrity_uuid = format!("CLIP-INTEGRITY-{uuid}");
    if superblock(file)?.is_none() {
        // A zeroed area: loading any table makes the kernel format it
        // (cryptsetup's INTEGRITY_format does the same with 8 sectors).
        say("formatting the dm-integrity superblock");
        mapper.activate(
            &Mapping {
                name: INTEGRITY_NAME,
                uuid: &integrity_uuid,
                targets: vec![integrity_table(8).target()?],
                read_only: false,
            },
            |_, _| Ok(()),
        )?;
        mapper.remove(INTEGRITY_NAME)?;
    }
    let sb = superblock(file)?.context("the kernel did not format the dm-integrity superblock")?;
    if u32::from(sb.tag_size) != integrity.tag_size || sb.block_size != act.sector_size {
        bail!(
            "the dm-integrity superblock says tag size {} and block size {}, the LUKS2 header \
             {} and {}",
            sb.tag_size,
            sb.block_size,
            integrity.tag_size,
            act.sector_size
        );
    }
    let sectors = sb.provided_data_sectors;
    let lower: Active = mapper.activate(
        &Mapping {
            name: INTEGRITY_NAME,
            uuid: &integrity_uuid,
            targets: vec![integrity_table(sectors).target()?],
            read_only: false,
        },
        |_, _| Ok(()),
    )?;
    let lower_dev = dev_numbers(&lower.node)?;
    let description = format!("clip:state-{uuid}");
    let keyring = sys::keyring::add_logon_key(&description, key.as_bytes())
        .context("cannot hand the volume key to the kernel keyring")?;
    let crypt = CryptTable {
        cipher: act.dm_crypt.cipher.clone(),
        key: KeyringKey {
            size: act.key_size,
            description,
        },
        iv_offset: act.iv_tweak,
        device: lower_dev,
        offset: 0,
        sectors,
        sector_size: act.sector_size,
        integrity_tag_size: Some(act.dm_crypt.tag_size),
        allow_discards: false,
    };
    let crypt_uuid = format!("CLIP-CRYPT-{uuid}");
    let upper = crypt
        .target()
        .map_err(anyhow::Error::from)
        .and_then(|target| {
            mapper.activate(
                &Mapping {
                    name: CRYPT_NAME,
                    uuid: &crypt_uuid,
                    targets: vec![target],
                    read_only: false,
                },
                |_, _| Ok(()),
            )
        });
    // dm-crypt holds its own copy now (or failed): nobody else may find it.
    let revoked = keyring.revoke();
    let upper = match upper {
        Ok(upper) => upper,
        Err(e) => {
            let _ = mapper.remove(INTEGRITY_NAME);
            return Err(e);
        }
    };
    revoked.context("cannot revoke the volume key in the kernel keyring")?;
    say(&format!(
        "state {} opened: {} over dm-integrity ({}-byte tags, {} sectors, {})",
        upper.node.display(),
        act.dm_crypt.cipher,
        integrity.tag_size,
        sectors,
        match mode {
            IntegrityMode::Journal => "journal",
            IntegrityMode::Direct => "no journal",
        }
    ));
    Ok(upper.node)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_keys_look_like_systemds_and_survive_retyping() {
        let key = recovery_key(
            &[0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef]
                .repeat(4)
                .try_into()
                .unwrap(),
        );
        assert_eq!(
            key.as_str(),
            "cbdefghi-jklnrtuv-cbdefghi-jklnrtuv-cbdefghi-jklnrtuv-cbdefghi-jklnrtuv"
        );
        let retyped = key.replace('-', "").to_uppercase();
        assert_eq!(normalize_recovery_key(&retyped).as_str(), key.as_str());
        assert_eq!(
            normalize_recovery_key(&format!("  {}  ", key.replace('-', " - "))).as_str(),
            key.as_str()
        );
        assert_eq!(normalize_recovery_key(" not a key ").as_str(), "not a key");
    }
}
