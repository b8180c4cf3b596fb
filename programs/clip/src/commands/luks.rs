//! `clip luks`: format, dump, add-key, remove-key and test-key on LUKS2
//! headers (crates/luks2), compatible with cryptsetup 2.6; see
//! docs/formats/luks2.md.
//!
//! Passphrases come from `--key-file` (the file's exact bytes, as
//! cryptsetup reads key files) or from standard input, one per line
//! (without its newline). They and the volume key are zeroed after use and
//! never printed. Header updates are written in place in the order the
//! crate gives, each synced before the next.

use std::fs::File;
use std::io::{BufRead, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Subcommand, ValueEnum};
use luks2::{
    Argon2Type, CopyState, FormatParams, Hash, Header, Kdf, KdfParams, KeyslotKind, KeyslotParams,
    METADATA_SIZES, Priority, SegmentKind, VolumeKey, Write,
};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::IntegrityFailure;
use crate::blockio::{size_of, update_in_place, write_parts};
use crate::output::{Report, escape_text, labelled, line};

#[derive(Debug, Subcommand)]
pub enum LuksCommand {
    /// Format TARGET (a device or file) as LUKS2 with one keyslot.
    Format(FormatArgs),
    /// Show the header: both copies, segments, keyslots, tokens, digests.
    Dump {
        target: PathBuf,
        /// Print one JSON object (with the header's whole JSON metadata).
        #[arg(long)]
        json: bool,
    },
    /// Add a keyslot: the existing passphrase first, then the new one.
    AddKey(AddKeyArgs),
    /// Remove a keyslot (named, or the one the passphrase opens).
    RemoveKey(RemoveKeyArgs),
    /// Check a passphrase: exit 0 naming the keyslot it opens, 3 when none.
    TestKey {
        target: PathBuf,
        #[command(flatten)]
        key: KeyArgs,
        /// Try this keyslot only.
        #[arg(long, value_name = "N")]
        key_slot: Option<u32>,
        #[arg(long)]
        json: bool,
    },
}

/// Where the passphrase comes from.
#[derive(Debug, Args)]
pub struct KeyArgs {
    /// Read the passphrase from this file (all its bytes); default: one line of stdin.
    #[arg(long, value_name = "FILE")]
    key_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Pbkdf {
    Pbkdf2,
    Argon2i,
    Argon2id,
}

/// Key derivation of a new keyslot. Fixed costs (cryptsetup benchmarks
/// its own to take about 2 s): Argon2id, 4 passes, 512 MiB, 4 lanes.
#[derive(Debug, Args)]
pub struct KdfArgs {
    #[arg(long, value_enum, default_value = "argon2id")]
    pbkdf: Pbkdf,
    /// PBKDF2 hash (and AF hash): sha1, sha256, sha384, sha512.
    #[arg(long, default_value = "sha256", value_name = "HASH")]
    hash: String,
    /// PBKDF2 iterations.
    #[arg(long, default_value_t = 1_000_000, value_name = "N")]
    pbkdf_iterations: u32,
    /// Argon2 passes.
    #[arg(long, default_value_t = 4, value_name = "N")]
    pbkdf_time: u32,
    /// Argon2 memory in KiB.
    #[arg(long, default_value_t = 512 * 1024, value_name = "KIB")]
    pbkdf_memory: u32,
    /// Argon2 lanes (1 to 4).
    #[arg(long, default_value_t = 4, value_name = "N")]
    pbkdf_parallel: u32,
    /// For a high-entropy secret (a random key): PBKDF2-SHA512, 1000
    /// iterations, as systemd enrolls TPM and recovery keys.
    #[arg(long, conflicts_with = "pbkdf")]
    pbkdf_minimal: bool,
}

impl KdfArgs {
    fn params(&self) -> Result<KeyslotParams> {
        let hash = Hash::from_name(&self.hash).ok_or_else(|| {
            anyhow!(
                "--hash {:?}: expected sha1, sha256, sha384 or sha512",
                self.hash
            )
        })?;
        let kdf = if self.pbkdf_minimal {
            KdfParams::MINIMAL
        } else {
            let argon = |kind| KdfParams::Argon2 {
                kind,
                time: self.pbkdf_time,
                memory: self.pbkdf_memory,
                cpus: self.pbkdf_parallel,
            };
            match self.pbkdf {
                Pbkdf::Pbkdf2 => KdfParams::Pbkdf2 {
                    hash,
                    iterations: self.pbkdf_iterations,
                },
                Pbkdf::Argon2i => argon(Argon2Type::Argon2i),
                Pbkdf::Argon2id => argon(Argon2Type::Argon2id),
            }
        };
        kdf.check()?;
        let mut params = KeyslotParams::new(kdf);
        if !self.pbkdf_minimal && self.pbkdf != Pbkdf::Pbkdf2 {
            params.af_hash = hash;
        }
        Ok(params)
    }
}

#[derive(Debug, Args)]
pub struct FormatArgs {
    target: PathBuf,
    /// Create TARGET as a new file of this many bytes.
    #[arg(long, value_name = "BYTES")]
    size: Option<u64>,
    /// Integrity protection: hmac-sha256, hmac-sha512, hmac-sha1, aead, poly1305.
    #[arg(long, value_name = "TYPE")]
    integrity: Option<String>,
    /// Data encryption in dm-crypt notation.
    #[arg(long, default_value = "aes-xts-plain64")]
    cipher: String,
    /// Cipher key size in bits (default: 512 for XTS, 256 otherwise; 128 for aegis128).
    #[arg(long, value_name = "BITS")]
    key_size: Option<usize>,
    /// Encryption sector size: 512, 1024, 2048 or 4096.
    #[arg(long, default_value_t = 4096, value_name = "BYTES")]
    sector_size: u32,
    /// One metadata copy (binary header + JSON): 16384 .. 4194304, a power of two.
    #[arg(long, default_value_t = luks2::DEFAULT_METADATA_SIZE, value_name = "BYTES")]
    metadata_size: u64,
    /// Start of the encrypted data.
    #[arg(long, default_value_t = luks2::DEFAULT_DATA_OFFSET, value_name = "BYTES")]
    offset: u64,
    #[arg(long, default_value = "")]
    label: String,
    /// Header UUID (default: random).
    #[arg(long)]
    uuid: Option<uuid::Uuid>,
    #[command(flatten)]
    key: KeyArgs,
    #[command(flatten)]
    kdf: KdfArgs,
    /// Overwrite an existing LUKS header (its keys and so the data are lost)
    /// or other contents (a non-zero byte in the first MiB).
    #[arg(long)]
    force: bool,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct AddKeyArgs {
    target: PathBuf,
    /// The existing passphrase (default: first line of stdin).
    #[command(flatten)]
    key: KeyArgs,
    /// The new passphrase (default: the next line of stdin).
    #[arg(long, value_name = "FILE")]
    new_key_file: Option<PathBuf>,
    /// Number of the new keyslot (default: the lowest free).
    #[arg(long, value_name = "N")]
    new_key_slot: Option<u32>,
    #[command(flatten)]
    kdf: KdfArgs,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct RemoveKeyArgs {
    target: PathBuf,
    /// The keyslot to remove (default: the one the passphrase opens).
    #[arg(long, value_name = "N")]
    key_slot: Option<u32>,
    #[command(flatten)]
    key: KeyArgs,
    /// Allow removing the last keyslot (the data can no longer be opened).
    #[arg(long)]
    force: bool,
    #[arg(long)]
    json: bool,
}

pub fn run(cmd: LuksCommand) -> Result<()> {
    match cmd {
        LuksCommand::Format(args) => format(&args),
        LuksCommand::Dump { target, json } => dump(&target, json),
        LuksCommand::AddKey(args) => add_key(&args),
        LuksCommand::RemoveKey(args) => remove_key(&args),
        LuksCommand::TestKey {
            target,
            key,
            key_slot,
            json,
        } => test_key(&target, &key, key_slot, json),
    }
}

type Secret = Zeroizing<Vec<u8>>;

/// Passphrases from stdin, one per line, read on demand.
struct Stdin {
    lines: Option<std::io::StdinLock<'static>>,
}

impl Stdin {
    fn new() -> Stdin {
        Stdin { lines: None }
    }

    fn next(&mut self, what: &str) -> Result<Secret> {
        let lock = self.lines.get_or_insert_with(|| std::io::stdin().lock());
        let mut buf = Zeroizing::new(Vec::new());
        lock.read_until(b'\n', &mut buf)
            .with_context(|| format!("cannot read the {what} from stdin"))?;
        if buf.last() == Some(&b'\n') {
            buf.pop();
        }
        if buf.is_empty() {
            bail!("no {what} on stdin (give one line, or use a key file)");
        }
        Ok(buf)
    }
}

fn passphrase(file: Option<&Path>, stdin: &mut Stdin, what: &str) -> Result<Secret> {
    let Some(path) = file else {
        return stdin.next(what);
    };
    let mut buf = Zeroizing::new(Vec::new());
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut buf))
        .with_context(|| format!("cannot read the {what} from {}", path.display()))?;
    if buf.is_empty() {
        bail!("key file {} is empty", path.display());
    }
    Ok(buf)
}

/// An opened target: its size and a reader.
struct Target {
    file: File,
    size: u64,
}

impl Target {
    fn open(path: &Path) -> Result<Target> {
        let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let size = size_of(&file, path)?;
        Ok(Target { file, size })
    }

    fn reader(&self) -> impl FnMut(u64, &mut [u8]) -> std::io::Result<()> + '_ {
        |offset, buf| self.file.read_exact_at(buf, offset)
    }

    fn header(&self, path: &Path) -> Result<Header> {
        Header::read(self.size, self.reader())
            .with_context(|| format!("cannot read the LUKS2 header of {}", path.display()))
    }
}

/// Performs `writes` in place, in order, each synced.
fn apply(path: &Path, writes: &[Write]) -> Result<()> {
    // update_in_place writes its parts last to first.
    let parts: Vec<(u64, &[u8])> = writes
        .iter()
        .rev()
        .map(|w| (w.offset, &w.bytes[..]))
        .collect();
    update_in_place(path, &parts, 0)
        .with_context(|| format!("cannot write the LUKS2 header of {}", path.display()))
}

/// Where an existing LUKS header (either copy) starts, if any.
fn existing_header(target: &Target) -> Option<u64> {
    let mut magic = [0u8; 6];
    std::iter::once(0)
        .chain(METADATA_SIZES)
        .filter(|&offset| offset + 4096 <= target.size)
        .find(|&offset| {
            target.file.read_exact_at(&mut magic, offset).is_ok() && luks2::has_luks_magic(&magic)
        })
}

/// Bytes of a target looked at for existing contents (filesystem
/// superblocks live in the first 64 KiB).
const CONTENT_PROBE: u64 = 1 << 20;

/// The offset of the first non-zero byte in the first MiB, if any.
fn first_data(target: &Target) -> Result<Option<u64>> {
    let len = usize::try_from(target.size.min(CONTENT_PROBE)).unwrap_or(0);
    let mut buf = vec![0u8; len];
    target
        .file
        .read_exact_at(&mut buf, 0)
        .context("cannot read the target")?;
    Ok(buf.iter().position(|&b| b != 0).map(|i| i as u64))
}

fn integrity_name(cli: &str) -> Result<String> {
    // cryptsetup's crypt_parse_integrity_mode.
    Ok(match cli {
        "hmac-sha1" => "hmac(sha1)",
        "hmac-sha256" => "hmac(sha256)",
        "hmac-sha512" => "hmac(sha512)",
        "aead" | "poly1305" => cli,
        other => bail!(
            "--integrity {other:?}: expected hmac-sha256, hmac-sha512, hmac-sha1, aead or poly1305"
        ),
    }
    .to_owned())
}

fn format(args: &FormatArgs) -> Result<()> {
    let path = &args.target;
    let exists = path.exists();
    let device_size = if exists {
        let target = Target::open(path)?;
        if let Some(offset) = existing_header(&target) {
            if !args.force {
                bail!(
                    "{} already holds a LUKS header (magic at offset {offset}); formatting would \
                     destroy its keyslots and so the data: use --force to do it anyway",
                    path.display()
                );
            }
            tracing::warn!("overwriting the LUKS header of {}", path.display());
        } else if let Some(offset) = first_data(&target)?.filter(|_| !args.force) {
            bail!(
                "{} is not empty (non-zero byte at offset {offset}): formatting would destroy \
                 its contents; use --force to do it anyway",
                path.display()
            );
        }
        if let Some(size) = args.size.filter(|&s| s != target.size) {
            bail!(
                "{} exists with {} bytes; --size {size} is only for a new file",
                path.display(),
                target.size
            );
        }
        target.size
    } else {
        args.size.with_context(|| {
            format!(
                "{} does not exist: give --size to create it",
                path.display()
            )
        })?
    };
    if device_size <= args.offset {
        bail!(
            "{} has {device_size} bytes: no room for data after the header (offset {})",
            path.display(),
            args.offset
        );
    }
    let uuid = args.uuid.unwrap_or_else(uuid::Uuid::new_v4);
    let mut params = FormatParams::new(uuid);
    params.label = args.label.clone();
    params.metadata_size = args.metadata_size;
    params.data_offset = args.offset;
    params.sector_size = args.sector_size;
    params.encryption = args.cipher.clone();
    params.integrity = args.integrity.as_deref().map(integrity_name).transpose()?;
    let cipher_bits = args.key_size.unwrap_or(match args.cipher.as_str() {
        c if c.contains("-xts-") => 512,
        "aegis128-random" => 128,
        _ => 256,
    });
    if cipher_bits % 8 != 0 {
        bail!("--key-size {cipher_bits} is not a whole number of bytes");
    }
    let keyslot = args.kdf.params()?;
    let pass = passphrase(
        args.key.key_file.as_deref(),
        &mut Stdin::new(),
        "passphrase",
    )?;

    let mut vk = Zeroizing::new(vec![0u8; params.volume_key_size(cipher_bits / 8)?]);
    getrandom::fill(&mut vk).map_err(|e| anyhow!("cannot get random bytes: {e}"))?;
    let vk = VolumeKey::new(vk.to_vec());
    let mut rng = rand::rngs::OsRng;
    let (mut header, mut writes) = luks2::format(&params, &vk, &mut rng)?;
    let (slot, more) = header.add_keyslot(&vk, &pass, &keyslot, &mut rng)?;
    writes.extend(more);
    if exists {
        apply(path, &writes)?;
    } else {
        let parts: Vec<(u64, &[u8])> = writes.iter().map(|w| (w.offset, &w.bytes[..])).collect();
        write_parts(path, &parts, device_size)?;
    }
    let act = header.activation(device_size)?;
    Report::default()
        .field("device", "Device", path.display().to_string())
        .field("uuid", "UUID", header.uuid())
        .field("keyslot", "Keyslot", slot)
        .field("cipher", "Cipher", act.encryption)
        .field("integrity", "Integrity", act.integrity.map(|i| i.kind))
        .field("key_size", "Volume key bytes", act.key_size)
        .field("sector_size", "Sector size", act.sector_size)
        .field("data_offset", "Data offset", act.data_offset)
        .field("data_size", "Data size", act.data_size)
        .print(args.json)?;
    Ok(())
}

fn copy_state(state: &CopyState) -> (String, Value) {
    match state {
        CopyState::Valid { seqid } => (
            format!("valid (seqid {seqid})"),
            json!({"state": "valid", "seqid": seqid}),
        ),
        CopyState::Older { seqid } => (
            format!("older (seqid {seqid}), rewritten on the next change"),
            json!({"state": "older", "seqid": seqid}),
        ),
        CopyState::Damaged(e) => (
            format!("damaged: {e}"),
            json!({"state": "damaged", "error": e.to_string()}),
        ),
    }
}

fn kdf_text(kdf: &Kdf) -> String {
    match kdf {
        Kdf::Pbkdf2 {
            hash, iterations, ..
        } => format!("pbkdf2-{hash}, {iterations} iterations"),
        Kdf::Argon2 {
            kind,
            time,
            memory,
            cpus,
            ..
        } => {
            format!(
                "{}, time {time}, memory {memory} KiB, {cpus} threads",
                kind.name()
            )
        }
    }
}

fn list(ids: &[u32]) -> String {
    if ids.is_empty() {
        return "-".into();
    }
    ids.iter().map(u32::to_string).collect::<Vec<_>>().join(" ")
}

fn dump(path: &Path, json: bool) -> Result<()> {
    let target = Target::open(path)?;
    let header = target.header(path)?;
    let md = header.metadata();
    let [primary, secondary] = header.copies().clone().map(|c| copy_state(&c));
    if json {
        return Ok(line(json!({
            "version": 2,
            "seqid": header.seqid(),
            "uuid": header.uuid(),
            "label": header.label(),
            "subsystem": header.subsystem(),
            "metadata_size": header.metadata_size(),
            "keyslots_size": md.config.keyslots_size,
            "copies": {"primary": primary.1, "secondary": secondary.1},
            "metadata": md.json(),
        }))?);
    }
    let text = |s: &str| {
        if s.is_empty() {
            "-".to_owned()
        } else {
            escape_text(s).into_owned()
        }
    };
    let mut lines: Vec<(String, String)> = vec![
        ("Version".into(), "2".into()),
        ("Epoch".into(), header.seqid().to_string()),
        ("Metadata size".into(), header.metadata_size().to_string()),
        ("Keyslots area".into(), md.config.keyslots_size.to_string()),
        ("UUID".into(), text(header.uuid())),
        ("Label".into(), text(header.label())),
        ("Subsystem".into(), text(header.subsystem())),
        ("Flags".into(), text(&md.config.flags.join(" "))),
        (
            "Requirements".into(),
            text(&md.config.requirements.join(" ")),
        ),
        ("Primary copy".into(), primary.0),
        ("Secondary copy".into(), secondary.0),
    ];
    for (id, s) in &md.segments {
        let size = s.size.map_or("dynamic".to_owned(), |n| n.to_string());
        let value = match &s.kind {
            SegmentKind::Crypt(c) => format!(
                "crypt, offset {}, size {size}, cipher {}, sector {}{}",
                s.offset,
                text(&c.encryption),
                c.sector_size,
                c.integrity
                    .as_ref()
                    .map_or(String::new(), |i| format!(", integrity {}", text(&i.kind)))
            ),
            SegmentKind::Other(kind) => format!("{}, offset {}, size {size}", text(kind), s.offset),
        };
        lines.push((format!("Segment {id}"), value));
    }
    for (id, k) in &md.keyslots {
        let priority = match k.priority {
            Priority::Ignore => "ignore",
            Priority::Normal => "normal",
            Priority::Prefer => "preferred",
        };
        let value = match &k.kind {
            KeyslotKind::Luks2(l) => format!(
                "luks2, key {} bits, priority {priority}, {}, AF {}, area {}+{} ({})",
                k.key_size * 8,
                kdf_text(&l.kdf),
                l.af_hash,
                k.area_offset,
                k.area_size,
                text(&l.area_encryption)
            ),
            KeyslotKind::Other(kind) => {
                format!("{}, area {}+{}", text(kind), k.area_offset, k.area_size)
            }
        };
        lines.push((format!("Keyslot {id}"), value));
    }
    for (id, t) in &md.tokens {
        lines.push((
            format!("Token {id}"),
            format!("{}, keyslots {}", text(&t.kind), list(&t.keyslots)),
        ));
    }
    for (id, d) in &md.digests {
        let kind = match &d.kind {
            luks2::DigestKind::Pbkdf2 {
                hash, iterations, ..
            } => format!("pbkdf2-{hash}, {iterations} iterations"),
            luks2::DigestKind::Other(k) => text(k),
        };
        lines.push((
            format!("Digest {id}"),
            format!(
                "{kind}, keyslots {}, segments {}",
                list(&d.keyslots),
                list(&d.segments)
            ),
        ));
    }
    labelled(lines.iter().map(|(l, v)| (l.as_str(), v.clone())))?;
    Ok(())
}

fn add_key(args: &AddKeyArgs) -> Result<()> {
    let path = &args.target;
    let target = Target::open(path)?;
    let mut header = target.header(path)?;
    let mut params = args.kdf.params()?;
    params.keyslot = args.new_key_slot;
    let mut stdin = Stdin::new();
    let old = passphrase(
        args.key.key_file.as_deref(),
        &mut stdin,
        "existing passphrase",
    )?;
    let new = passphrase(args.new_key_file.as_deref(), &mut stdin, "new passphrase")?;
    let (opened, vk) = header
        .unlock(&old, None, target.reader())
        .with_context(|| {
            format!(
                "cannot unlock {} with the existing passphrase",
                path.display()
            )
        })?;
    let (slot, writes) = header.add_keyslot(&vk, &new, &params, &mut rand::rngs::OsRng)?;
    drop(target);
    apply(path, &writes)?;
    Report::default()
        .field("keyslot", "Keyslot", slot)
        .field("opened_with", "Opened with keyslot", opened)
        .print(args.json)?;
    Ok(())
}

fn remove_key(args: &RemoveKeyArgs) -> Result<()> {
    let path = &args.target;
    let target = Target::open(path)?;
    let mut header = target.header(path)?;
    let slot = match args.key_slot {
        Some(slot) => slot,
        None => {
            let pass = passphrase(
                args.key.key_file.as_deref(),
                &mut Stdin::new(),
                "passphrase",
            )?;
            header
                .unlock(&pass, None, target.reader())
                .with_context(|| {
                    format!("cannot find the keyslot to remove in {}", path.display())
                })?
                .0
        }
    };
    if !header.metadata().keyslots.contains_key(&slot) {
        bail!("{} has no keyslot {slot}", path.display());
    }
    let md = header.metadata();
    let others = md
        .default_segment()
        .and_then(|s| md.segment_digest(s))
        .map_or(0, |d| {
            md.digests[&d]
                .keyslots
                .iter()
                .filter(|&&k| k != slot)
                .count()
        });
    if others == 0 && !args.force {
        bail!(
            "keyslot {slot} is the last one that opens {}: without it the data is lost; use --force to remove it anyway",
            path.display()
        );
    }
    let writes = header.remove_keyslot(slot, &mut rand::rngs::OsRng)?;
    drop(target);
    apply(path, &writes)?;
    Report::default()
        .field("removed_keyslot", "Removed keyslot", slot)
        .field("remaining_keyslots", "Remaining keyslots", others)
        .print(args.json)?;
    Ok(())
}

fn test_key(path: &Path, key: &KeyArgs, slot: Option<u32>, json: bool) -> Result<()> {
    let target = Target::open(path)?;
    let header = target.header(path)?;
    let pass = passphrase(key.key_file.as_deref(), &mut Stdin::new(), "passphrase")?;
    match header.unlock(&pass, slot, target.reader()) {
        Ok((opened, _vk)) => {
            Report::default()
                .field("opened", "Opened", true)
                .field("keyslot", "Keyslot", opened)
                .print(json)?;
            Ok(())
        }
        Err(luks2::Error::WrongPassphrase { tried }) => {
            if json {
                line(json!({"opened": false, "tried": tried}))?;
            }
            Err(IntegrityFailure(format!(
                "no keyslot of {} opens with this passphrase (tried {})",
                path.display(),
                list(&tried)
            ))
            .into())
        }
        Err(e) => {
            Err(e).with_context(|| format!("cannot test the passphrase on {}", path.display()))
        }
    }
}
