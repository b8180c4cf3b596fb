//! `clip verity`: format, verify and dump dm-verity hash devices.
//!
//! Byte-compatible with `veritysetup` (cryptsetup 2.6); see docs/formats/verity.md
//! for where the two differ (we refuse inputs veritysetup silently truncates).

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use verity::{
    Area, Error as VerityError, Geometry, HashAlgorithm, HashType, Params, SUPERBLOCK_SIZE,
    SpareArea, Superblock, TreeBuilder, Verifier, VerifyError, tree_offset,
};

use crate::IntegrityFailure;
use crate::blockio::{
    is_device, progress, same_file, size_of, stream, update_in_place, write_parts,
};
use crate::output::Report;

const DEFAULT_BLOCK_SIZE: u32 = 4096;
const DEFAULT_SALT_SIZE: usize = 32;

#[derive(Debug, Subcommand)]
pub enum VerityCommand {
    /// Compute the hash tree of DATA and write it to HASH; print the root hash.
    Format {
        /// Data file or device to protect (only read).
        data: PathBuf,
        /// Where the hash tree goes; may be DATA itself with --hash-offset past the data.
        hash: PathBuf,
        #[command(flatten)]
        tree: TreeArgs,
        /// Replace HASH if it already exists and is not empty (a regular file is
        /// written beside and renamed; a device is written in place).
        #[arg(long)]
        force: bool,
    },
    /// Check DATA and HASH against ROOT_HASH; exit 3 naming the first bad block.
    Verify {
        data: PathBuf,
        hash: PathBuf,
        /// Root hash in hexadecimal, as printed by `format`.
        root_hash: String,
        #[command(flatten)]
        tree: TreeArgs,
    },
    /// Show the superblock of a hash device.
    Dump {
        hash: PathBuf,
        /// Byte offset of the superblock in HASH.
        #[arg(long, default_value_t = 0, value_name = "BYTES")]
        hash_offset: u64,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

/// Tree parameters; with a superblock, `verify` reads them from it instead.
#[derive(Debug, Args)]
pub struct TreeArgs {
    /// Hash algorithm: sha256 (default), sha1 or sha512.
    #[arg(long = "hash", value_name = "ALGORITHM")]
    algorithm: Option<String>,
    /// Hash format type: 1 (default, salt first) or 0 (Chrome OS, salt last).
    #[arg(long = "format", value_name = "TYPE")]
    hash_type: Option<u64>,
    /// Data block size in bytes, a power of two from 512 to 4096 (default 4096).
    #[arg(long, value_name = "BYTES")]
    data_block_size: Option<u32>,
    /// Hash block size in bytes, a power of two from 512 to 4096 (default 4096).
    #[arg(long, value_name = "BYTES")]
    hash_block_size: Option<u32>,
    /// Protect only the first N data blocks (default: the whole data file).
    #[arg(long, value_name = "N")]
    data_blocks: Option<u64>,
    /// Byte offset of the superblock (or tree, with --no-superblock) in HASH.
    #[arg(long, default_value_t = 0, value_name = "BYTES")]
    hash_offset: u64,
    /// Salt in hexadecimal, "-" for none (format default: 32 random bytes).
    #[arg(long, value_name = "HEX")]
    salt: Option<String>,
    /// UUID to store in the superblock (format default: random).
    #[arg(long)]
    uuid: Option<String>,
    /// No superblock: parameters live only on the command line.
    #[arg(long)]
    no_superblock: bool,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run(cmd: VerityCommand) -> Result<()> {
    match cmd {
        VerityCommand::Format {
            data,
            hash,
            tree,
            force,
        } => format(&data, &hash, &tree, force),
        VerityCommand::Verify {
            data,
            hash,
            root_hash,
            tree,
        } => verify(&data, &hash, &root_hash, &tree),
        VerityCommand::Dump {
            hash,
            hash_offset,
            json,
        } => dump(&hash, hash_offset, json),
    }
}

fn parse_salt(text: &str) -> Result<Vec<u8>> {
    if text == "-" {
        return Ok(Vec::new());
    }
    let salt = hex::decode(text).with_context(|| format!("salt {text:?} is not hexadecimal"))?;
    if salt.len() > verity::MAX_SALT_SIZE {
        bail!(
            "salt is {} bytes; at most {} are allowed",
            salt.len(),
            verity::MAX_SALT_SIZE
        );
    }
    Ok(salt)
}

fn parse_uuid(text: &str) -> Result<[u8; 16]> {
    let uuid = uuid::Uuid::parse_str(text).with_context(|| format!("{text:?} is not a UUID"))?;
    Ok(*uuid.as_bytes())
}

/// Hex salt; "-" for none, as veritysetup prints it and `--salt` accepts it.
fn salt_text(salt: &[u8]) -> String {
    if salt.is_empty() {
        "-".to_owned()
    } else {
        hex::encode(salt)
    }
}

fn format_uuid(bytes: &[u8; 16]) -> String {
    uuid::Uuid::from_bytes(*bytes).hyphenated().to_string()
}

fn parse_algorithm(name: &str) -> Result<HashAlgorithm> {
    Ok(HashAlgorithm::from_name(name)?)
}

fn open(path: &Path, what: &str) -> Result<File> {
    File::open(path).with_context(|| format!("cannot open {what} {}", path.display()))
}

/// Number of data blocks: --data-blocks, or the whole file, which must then be
/// a whole number of blocks (veritysetup would silently drop the tail).
fn data_block_count(len: u64, block_size: u32, requested: Option<u64>, path: &Path) -> Result<u64> {
    let bs = u64::from(block_size);
    match requested {
        Some(n) => {
            if n.checked_mul(bs).is_none_or(|need| need > len) {
                bail!(
                    "--data-blocks {n} needs {n} x {bs} bytes, but {} has {len}",
                    path.display()
                );
            }
            Ok(n)
        }
        None if len % bs != 0 => bail!(
            "{} is {len} bytes, not a multiple of the {bs}-byte data block size \
             (pass --data-blocks to protect only the whole blocks)",
            path.display()
        ),
        None if len == 0 => bail!("{} is empty: nothing to protect", path.display()),
        None => Ok(len / bs),
    }
}

fn format(data_path: &Path, hash_path: &Path, args: &TreeArgs, force: bool) -> Result<()> {
    let algorithm = parse_algorithm(args.algorithm.as_deref().unwrap_or("sha256"))?;
    let hash_type = HashType::from_number(args.hash_type.unwrap_or(1))?;
    let salt = match &args.salt {
        Some(text) => parse_salt(text)?,
        None => {
            let mut salt = vec![0u8; DEFAULT_SALT_SIZE];
            getrandom::fill(&mut salt)
                .map_err(|e| anyhow::anyhow!("no randomness for the salt: {e}"))?;
            salt
        }
    };
    let superblock = !args.no_superblock;
    let uuid = match (&args.uuid, superblock) {
        (Some(_), false) => {
            bail!("--uuid is stored in the superblock; it cannot go with --no-superblock")
        }
        (Some(text), true) => Some(parse_uuid(text)?),
        (None, true) => Some(*uuid::Uuid::new_v4().as_bytes()),
        (None, false) => None,
    };
    let data_block_size = args.data_block_size.unwrap_or(DEFAULT_BLOCK_SIZE);
    let hash_block_size = args.hash_block_size.unwrap_or(DEFAULT_BLOCK_SIZE);
    let data = open(data_path, "data file")?;
    let data_len = size_of(&data, data_path)?;
    let mut params = Params {
        hash_type,
        algorithm,
        data_block_size,
        hash_block_size,
        data_blocks: 1,
        salt,
    };
    // Block sizes first, so a bad size is named before the file size is judged by it.
    params.validate().context("invalid verity parameters")?;
    params.data_blocks = data_block_count(data_len, data_block_size, args.data_blocks, data_path)?;
    let geometry = Geometry::new(&params).context("invalid verity parameters")?;
    let tree_start = tree_offset(args.hash_offset, hash_block_size, superblock)?;
    let data_size = params.data_size()?;

    let same = same_file(data_path, hash_path)?;
    if same {
        if args.hash_offset < data_size {
            bail!(
                "the hash area at byte {} of {} would overlap the data, which ends at byte {data_size}",
                args.hash_offset,
                hash_path.display()
            );
        }
    } else if !force && std::fs::metadata(hash_path).is_ok_and(|m| !m.is_file() || m.len() > 0) {
        bail!(
            "{} already exists; pass --force to overwrite it",
            hash_path.display()
        );
    }

    let mut builder = TreeBuilder::new(params.clone())?;
    let bar = progress(data_size, "hashing");
    stream(
        &data,
        data_path,
        0,
        data_size,
        data_block_size as usize,
        |_, chunk| {
            builder.update(chunk)?;
            bar.inc(chunk.len() as u64);
            Ok(())
        },
    )?;
    bar.finish_and_clear();
    let tree = builder.finish()?;

    let sb_bytes = match uuid {
        Some(uuid) => Some(
            Superblock {
                params: params.clone(),
                uuid,
            }
            .encode()?,
        ),
        None => None,
    };
    let mut parts: Vec<(u64, &[u8])> = Vec::new();
    if let Some(sb) = &sb_bytes {
        parts.push((args.hash_offset, &sb[..]));
    }
    parts.push((tree_start, tree.as_bytes()));
    // Like veritysetup: a superblock is padded to the hash block where the
    // tree starts, even when a one-block device has no tree.
    // A device without superblock and without tree (one data block) needs none.
    let hash_device_size = if superblock || geometry.tree_bytes() > 0 {
        tree_start + geometry.tree_bytes()
    } else {
        0
    };
    if same || is_device(hash_path)? {
        // In place: a tree appended to its data (copying the data beside
        // would cost as much again) or a device. An old superblock there is
        // cleared first and the new one written last, so a failed run never
        // leaves a superblock vouching for a half-written tree.
        if sb_bytes.is_some() {
            let clear = [0u8; SUPERBLOCK_SIZE];
            update_in_place(hash_path, &[(args.hash_offset, &clear[..])], 0)?;
        }
        update_in_place(hash_path, &parts, hash_device_size)?;
    } else {
        // A regular file is written beside and renamed over the old one.
        write_parts(hash_path, &parts, hash_device_size)?;
    }

    let json_uuid = uuid
        .as_ref()
        .map_or(Value::Null, |u| Value::String(format_uuid(u)));
    Report::default()
        .field("root_hash", "Root hash", hex::encode(tree.root_hash()))
        .field("salt", "Salt", salt_text(&params.salt))
        .field("uuid", "UUID", json_uuid)
        .field("hash_type", "Hash type", params.hash_type.number())
        .field("hash_algorithm", "Hash algorithm", params.algorithm.name())
        .field("data_blocks", "Data blocks", params.data_blocks)
        .field("data_block_size", "Data block size", params.data_block_size)
        .field("hash_block_size", "Hash block size", params.hash_block_size)
        .field("hash_blocks", "Hash blocks", geometry.tree_blocks())
        .field("levels", "Levels", geometry.levels.len())
        .field("superblock", "Superblock", superblock)
        .field("hash_offset", "Hash offset", args.hash_offset)
        .field("tree_offset", "Tree offset", tree_start)
        .field("hash_device_size", "Hash device size", hash_device_size)
        .print(args.json)?;
    Ok(())
}

/// Parameters for `verify`: from the superblock when there is one (any option
/// given must then agree with it), from the options otherwise.
fn verify_params(
    hash: &File,
    hash_path: &Path,
    hash_len: u64,
    data_len: u64,
    data_path: &Path,
    args: &TreeArgs,
) -> Result<Params> {
    if args.no_superblock {
        let data_block_size = args.data_block_size.unwrap_or(DEFAULT_BLOCK_SIZE);
        let mut params = Params {
            hash_type: HashType::from_number(args.hash_type.unwrap_or(1))?,
            algorithm: parse_algorithm(args.algorithm.as_deref().unwrap_or("sha256"))?,
            data_block_size,
            hash_block_size: args.hash_block_size.unwrap_or(DEFAULT_BLOCK_SIZE),
            data_blocks: 1,
            salt: parse_salt(args.salt.as_deref().unwrap_or("-"))?,
        };
        params.validate().context("invalid verity parameters")?;
        params.data_blocks =
            data_block_count(data_len, data_block_size, args.data_blocks, data_path)?;
        if args.uuid.is_some() {
            bail!("--uuid is stored in the superblock; it cannot go with --no-superblock");
        }
        return Ok(params);
    }
    let sb = read_superblock(hash, hash_path, hash_len, args.hash_offset)?;
    let p = &sb.params;
    let mut conflicts = Vec::new();
    if let Some(a) = &args.algorithm {
        if parse_algorithm(a)? != p.algorithm {
            conflicts.push(format!("--hash {a} (superblock: {})", p.algorithm.name()));
        }
    }
    let checks: [(&str, Option<u64>, u64); 4] = [
        ("--format", args.hash_type, u64::from(p.hash_type.number())),
        (
            "--data-block-size",
            args.data_block_size.map(u64::from),
            u64::from(p.data_block_size),
        ),
        (
            "--hash-block-size",
            args.hash_block_size.map(u64::from),
            u64::from(p.hash_block_size),
        ),
        ("--data-blocks", args.data_blocks, p.data_blocks),
    ];
    for (flag, given, stored) in checks {
        if given.is_some_and(|g| g != stored) {
            conflicts.push(format!(
                "{flag} {} (superblock: {stored})",
                given.unwrap_or_default()
            ));
        }
    }
    if let Some(s) = &args.salt {
        if parse_salt(s)? != p.salt {
            conflicts.push(format!("--salt {s} (superblock: {})", hex::encode(&p.salt)));
        }
    }
    if let Some(u) = &args.uuid {
        if parse_uuid(u)? != sb.uuid {
            conflicts.push(format!(
                "--uuid {u} (superblock: {})",
                format_uuid(&sb.uuid)
            ));
        }
    }
    if !conflicts.is_empty() {
        bail!(
            "options disagree with the superblock of {}: {}",
            hash_path.display(),
            conflicts.join(", ")
        );
    }
    Ok(sb.params)
}

fn read_superblock(hash: &File, path: &Path, hash_len: u64, offset: u64) -> Result<Superblock> {
    use std::os::unix::fs::FileExt;
    if hash_len < offset.saturating_add(SUPERBLOCK_SIZE as u64) {
        bail!(
            "{} is truncated: it is {hash_len} bytes, with no room for a superblock at byte {offset}",
            path.display()
        );
    }
    let mut buf = [0u8; SUPERBLOCK_SIZE];
    hash.read_exact_at(&mut buf, offset)
        .with_context(|| format!("cannot read {}", path.display()))?;
    Superblock::parse(&buf)
        .with_context(|| format!("{} has no usable verity superblock", path.display()))
}

fn verify(data_path: &Path, hash_path: &Path, root_text: &str, args: &TreeArgs) -> Result<()> {
    let hash = open(hash_path, "hash file")?;
    let hash_len = size_of(&hash, hash_path)?;
    let data = open(data_path, "data file")?;
    let data_len = size_of(&data, data_path)?;
    let params = verify_params(&hash, hash_path, hash_len, data_len, data_path, args)?;
    let geometry = Geometry::new(&params).context("invalid verity parameters")?;
    let root = hex::decode(root_text.trim())
        .with_context(|| format!("root hash {root_text:?} is not hexadecimal"))?;
    if root.len() != params.algorithm.digest_size() {
        bail!(
            "root hash has {} hex digits; a {} root hash has {}",
            root_text.trim().len(),
            params.algorithm.name(),
            2 * params.algorithm.digest_size()
        );
    }
    let tree_start = tree_offset(
        args.hash_offset,
        params.hash_block_size,
        !args.no_superblock,
    )?;
    let tree_end = tree_start
        .checked_add(geometry.tree_bytes())
        .context("the hash tree would end past the largest possible file offset")?;
    // A one-block device has no tree; nothing past the superblock is read.
    if geometry.tree_bytes() > 0 && hash_len < tree_end {
        bail!(
            "{} is truncated: the hash tree ends at byte {tree_end}, the file has {hash_len} bytes",
            hash_path.display()
        );
    }
    let data_size = params.data_size()?;
    if data_len < data_size {
        bail!(
            "{} is truncated: {data_size} bytes of data expected, found {data_len}",
            data_path.display()
        );
    }

    // What DATA holds beyond the blocks the tree covers is not checked: say so.
    let data_area_end = if same_file(data_path, hash_path)? {
        data_len.min(args.hash_offset)
    } else {
        data_len
    };
    let not_covered = data_area_end.saturating_sub(data_size);

    // Exit 3 naming a block; under --json, stdout gets the failure too.
    let report = |area: Area, block: u64, spare: Option<&SpareArea>| -> anyhow::Error {
        let (what, path, offset) = match area {
            Area::Data => (
                "data block".to_owned(),
                data_path,
                block * u64::from(params.data_block_size),
            ),
            Area::Hash { level } => (
                format!("hash block (tree level {level})"),
                hash_path,
                tree_start + block * u64::from(params.hash_block_size),
            ),
        };
        // Hash blocks are numbered from the start of HASH, like their offsets.
        let (index, area_name, level) = match area {
            Area::Data => (block, "data", None),
            Area::Hash { level } => (
                block + tree_start / u64::from(params.hash_block_size),
                "hash",
                Some(level),
            ),
        };
        let spare_offset = spare.map(|s| tree_start + s.offset);
        if args.json {
            let problem = if spare.is_some() {
                "spare_area_not_zeroed"
            } else {
                "digest_mismatch"
            };
            let corrupted = json!({"area": area_name, "block": index, "level": level,
                "offset": offset, "problem": problem, "spare_offset": spare_offset});
            // The failure itself reaches stderr and the exit code either way.
            crate::output::line(json!({"verified": false, "corrupted": corrupted})).ok();
        }
        let message = match spare {
            // veritysetup: "Spare area is not zeroed at position N."
            Some(s) => format!(
                "spare area is not zeroed at byte offset {} of {}: {what} {index} at byte \
                 offset {offset} holds {} digest(s) and must be zero elsewhere (a tree made \
                 for more than the {} data blocks claimed has digests there)",
                tree_start + s.offset,
                path.display(),
                s.digests,
                params.data_blocks
            ),
            None => format!(
                "{what} {index} at byte offset {offset} of {} does not match the root hash",
                path.display()
            ),
        };
        IntegrityFailure(message).into()
    };
    let failed = |e: VerifyError<std::io::Error>| -> anyhow::Error {
        match e {
            VerifyError::Tree(VerityError::Corrupt(m)) => report(m.area, m.block, None),
            VerifyError::Tree(VerityError::SpareArea(s)) => {
                report(Area::Hash { level: s.level }, s.block, Some(&s))
            }
            VerifyError::Tree(e) => e.into(),
            VerifyError::Read {
                offset,
                len,
                source,
            } => anyhow::Error::new(source).context(format!(
                "cannot read {len} bytes of the hash tree at byte offset {} of {}",
                tree_start + offset,
                hash_path.display()
            )),
        }
    };

    // Hash blocks are read as the data needs them, each checked against the
    // one above before use: memory follows the chunk size, not the tree size.
    let mut verifier = Verifier::new(params.clone(), &root)?;
    let mut read_tree = |offset: u64, buf: &mut [u8]| {
        use std::os::unix::fs::FileExt;
        hash.read_exact_at(buf, tree_start + offset)
    };
    let bar = progress(data_size, "verifying");
    let dbs = u64::from(params.data_block_size);
    let checked = stream(
        &data,
        data_path,
        0,
        data_size,
        params.data_block_size as usize,
        |pos, chunk| {
            bar.inc(chunk.len() as u64);
            verifier
                .check_data(pos / dbs, chunk, &mut read_tree)
                .map_err(failed)
        },
    );
    bar.finish_and_clear();
    checked?;
    if not_covered > 0 {
        tracing::warn!(
            "the hash tree covers only the first {} data blocks ({data_size} bytes) of {}; \
             its other {not_covered} bytes were not checked",
            params.data_blocks,
            data_path.display()
        );
    }
    Report::default()
        .field("verified", "Verified", true)
        .field("root_hash", "Root hash", hex::encode(&root))
        .field("data_blocks", "Data blocks", params.data_blocks)
        .field("data_block_size", "Data block size", params.data_block_size)
        .field("data_bytes_covered", "Data bytes covered", data_size)
        .field("data_area_bytes", "Data area bytes", data_area_end)
        .field("data_bytes_not_covered", "Bytes not covered", not_covered)
        .print(args.json)?;
    Ok(())
}

fn dump(hash_path: &Path, offset: u64, json: bool) -> Result<()> {
    let hash = open(hash_path, "hash file")?;
    let hash_len = size_of(&hash, hash_path)?;
    let sb = read_superblock(&hash, hash_path, hash_len, offset)?;
    let p = &sb.params;
    let geometry = Geometry::new(p)?;
    let tree_start = tree_offset(offset, p.hash_block_size, true)?;
    Report::default()
        .field("uuid", "UUID", format_uuid(&sb.uuid))
        .field("hash_type", "Hash type", p.hash_type.number())
        .field("hash_algorithm", "Hash algorithm", p.algorithm.name())
        .field("data_blocks", "Data blocks", p.data_blocks)
        .field("data_block_size", "Data block size", p.data_block_size)
        .field("hash_block_size", "Hash block size", p.hash_block_size)
        .field("hash_blocks", "Hash blocks", geometry.tree_blocks())
        .field("levels", "Levels", geometry.levels.len())
        .field("salt", "Salt", salt_text(&p.salt))
        .field("hash_offset", "Hash offset", offset)
        .field("tree_offset", "Tree offset", tree_start)
        .field(
            "hash_device_size",
            "Hash device size",
            tree_start.checked_add(geometry.tree_bytes()),
        )
        .print(json)?;
    Ok(())
}
