//! `clip keys`: generate and inspect the Secure Boot key set (PK → KEK → db),
//! the update keys (offline and online) with the update repository's trust
//! root, and the PCR-policy key. See docs/keys.md and docs/update.md "Keys".
//!
//! The key material and every format live in the `secureboot` crate; this
//! module chooses the time and the randomness, and writes the set
//! atomically: all files are made in a private staging directory, then moved
//! into place, so a failure leaves the old state (nothing, or the old set).

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use clap::Subcommand;
use rsa::{RsaPrivateKey, RsaPublicKey};
use secureboot::der::Encode;
use secureboot::der::zeroize::Zeroizing;
use secureboot::ed25519_dalek::VerifyingKey;
use secureboot::ed25519_dalek::pkcs8::EncodePublicKey;
use secureboot::keyset::{SecureBootKey, check_enrolment};
use secureboot::update_key::UpdateKey;
use secureboot::x509_cert::Certificate;
use secureboot::{AuthVariable, Guid, KeySet, Role};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::IntegrityFailure;

/// Default `--name`: certificate subjects are "CLIP OS PK", "CLIP OS KEK", "CLIP OS db".
const DEFAULT_NAME: &str = "CLIP OS";
/// Version tag of keys.json.
const MANIFEST_FORMAT: &str = "clip-keys/1";
const OWNER_FILE: &str = "owner.guid";
const NO_PK_FILE: &str = "noPK.auth";
const UPDATE_KEY_FILE: &str = "update.key";
const UPDATE_PUB_FILE: &str = "update.pub";
/// The online update key: signs the repository's snapshot and timestamp.
pub const UPDATE_ONLINE_KEY_FILE: &str = "update-online.key";
pub const UPDATE_ONLINE_PUB_FILE: &str = "update-online.pub";
/// The update repository's trust root: TUF root metadata version 1.
pub const UPDATE_ROOT_FILE: &str = "update-root.json";
/// How long `update-root.json` is valid after the set's creation.
const UPDATE_ROOT_YEARS: i64 = 10;
/// The PCR-policy key: signs the PCR 11 values of the UKIs (`.pcrsig`).
pub const PCR_KEY_FILE: &str = "pcr-policy.key";
pub const PCR_PUB_FILE: &str = "pcr-policy.pub";
const MANIFEST_FILE: &str = "keys.json";

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a Secure Boot key set (PK, KEK, db), an update-signing key and
    /// a PCR-policy key in DIR.
    ///
    /// Writes PK/KEK/db .key .crt .cer .esl .auth, noPK.auth, owner.guid,
    /// update.key, update.pub, update-online.key, update-online.pub,
    /// update-root.json (the update repository's TUF root), pcr-policy.key,
    /// pcr-policy.pub and keys.json. Private keys are mode 0600. Times come from
    /// SOURCE_DATE_EPOCH when it is set.
    Generate {
        /// Directory for the key set; created (mode 0700) if missing. An
        /// existing one must not be writable by group or others.
        dir: PathBuf,
        /// Replace the files of an existing key set in DIR.
        #[arg(long, conflicts_with = "add_missing")]
        force: bool,
        /// Add the keys an existing set in DIR lacks (the PCR-policy key,
        /// the online update key and update-root.json of sets made before
        /// they existed); every existing key is kept.
        #[arg(long)]
        add_missing: bool,
        /// Name in the certificate subjects ("NAME PK", "NAME KEK", "NAME db").
        #[arg(long, default_value = DEFAULT_NAME, value_name = "TEXT")]
        name: String,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// List the key set in DIR with fingerprints and check that its files agree.
    ///
    /// Exits 3 when a file does not match the rest of the set.
    Show {
        dir: PathBuf,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: KeysCommand) -> Result<()> {
    match cmd {
        KeysCommand::Generate {
            dir,
            force,
            add_missing: true,
            json,
            ..
        } => {
            debug_assert!(!force, "clap: --force conflicts with --add-missing");
            add_missing(&dir, json)
        }
        KeysCommand::Generate {
            dir,
            force,
            name,
            json,
            ..
        } => generate(&dir, force, &name, json),
        KeysCommand::Show { dir, json } => show(&dir, json),
    }
}

/// The suffixes of each Secure Boot key's files, and whether the file is secret.
const KEY_FILES: [(&str, bool); 5] = [
    ("key", true),
    ("crt", false),
    ("cer", false),
    ("esl", false),
    ("auth", false),
];

/// Every file of a key set, with whether it is secret (mode 0600).
fn set_files() -> Vec<(String, bool)> {
    let mut files: Vec<(String, bool)> = Role::ALL
        .iter()
        .flat_map(|role| {
            KEY_FILES
                .iter()
                .map(move |(ext, secret)| (format!("{}.{ext}", role.variable()), *secret))
        })
        .collect();
    files.extend([
        (NO_PK_FILE.to_owned(), false),
        (OWNER_FILE.to_owned(), false),
        (UPDATE_KEY_FILE.to_owned(), true),
        (UPDATE_PUB_FILE.to_owned(), false),
        (PCR_KEY_FILE.to_owned(), true),
        (PCR_PUB_FILE.to_owned(), false),
        (UPDATE_ONLINE_KEY_FILE.to_owned(), true),
        (UPDATE_ONLINE_PUB_FILE.to_owned(), false),
        (UPDATE_ROOT_FILE.to_owned(), false),
        (MANIFEST_FILE.to_owned(), false),
    ]);
    files
}

/// Files `--add-missing` may add: each group is made whole or left alone.
const ADDABLE: [&str; 5] = [
    PCR_KEY_FILE,
    PCR_PUB_FILE,
    UPDATE_ONLINE_KEY_FILE,
    UPDATE_ONLINE_PUB_FILE,
    UPDATE_ROOT_FILE,
];

/// `time` plus `years` calendar years (29 February becomes 28 February).
fn years_after(time: tuf::Time, years: i64) -> Result<tuf::Time> {
    let text = time.to_string();
    let year: i64 = text[..4].parse().context("year of the creation time")?;
    let mut later = format!("{:04}{}", year + years, &text[4..]);
    if tuf::Time::parse(&later).is_none() {
        later = later.replacen("-02-29", "-02-28", 1);
    }
    tuf::Time::parse(&later).ok_or_else(|| anyhow!("{text} plus {years} years is out of range"))
}

/// `update-root.json`: TUF root version 1, root and targets roles the
/// offline update key, snapshot and timestamp the online one, thresholds 1,
/// expiring [`UPDATE_ROOT_YEARS`] after `created`, signed by the offline
/// key. Deterministic (Ed25519 signatures are) given the keys and the time.
fn update_root(
    update: &secureboot::ed25519_dalek::SigningKey,
    online: &VerifyingKey,
    created: tuf::Time,
) -> Result<Vec<u8>> {
    use tuf::repository::{RoleSetup, RootSetup, new_root, sign_root};
    let offline = RoleSetup {
        keys: vec![update.verifying_key()],
        threshold: 1,
    };
    let online = RoleSetup {
        keys: vec![*online],
        threshold: 1,
    };
    let setup = RootSetup {
        root: offline.clone(),
        targets: offline,
        snapshot: online.clone(),
        timestamp: online,
    };
    let root = new_root(1, years_after(created, UPDATE_ROOT_YEARS)?, &setup)
        .context("cannot make the update root")?;
    let signed = sign_root(root, None, &[update]).context("cannot sign the update root")?;
    Ok(signed.to_bytes())
}

/// The TUF key ID of an Ed25519 public key (as python-tuf computes it).
pub fn tuf_key_id(public: &VerifyingKey) -> String {
    tuf::key_id(&tuf::Key::ed25519(public))
}

/// Description of update-root.json for keys.json and `show`.
fn describe_update_root(bytes: &[u8], root: &tuf::Root) -> Value {
    let ids = |role: &str| {
        root.role_keys(role)
            .map(|(ids, _)| ids.join(","))
            .unwrap_or_default()
    };
    json!({
        "file": UPDATE_ROOT_FILE,
        "version": root.version,
        "expires": root.expires.to_string(),
        "sha256": hex_sha256(bytes),
        "root_keyid": ids("root"),
        "online_keyid": ids("timestamp"),
    })
}

/// The online update key pair and update-root.json, rendered.
fn online_files(
    update: &secureboot::ed25519_dalek::SigningKey,
    online: &UpdateKey,
    created: tuf::Time,
) -> Result<(Vec<Staged>, Value, Value)> {
    let root_bytes = update_root(update, &online.verifying_key(), created)?;
    let root = tuf::Metadata::<tuf::Root>::from_bytes(&root_bytes)
        .context("internal error: update-root.json does not parse")?;
    let files = vec![
        Staged {
            name: UPDATE_ONLINE_KEY_FILE.to_owned(),
            bytes: Zeroizing::new(online.private_pem()?.as_bytes().to_vec()),
            secret: true,
        },
        Staged {
            name: UPDATE_ONLINE_PUB_FILE.to_owned(),
            bytes: Zeroizing::new(online.public_pem()?.into_bytes()),
            secret: false,
        },
    ];
    let online_desc = describe_ed25519(
        &online.verifying_key(),
        UPDATE_ONLINE_KEY_FILE,
        UPDATE_ONLINE_PUB_FILE,
    )?;
    let root_desc = describe_update_root(&root_bytes, &root.signed);
    let mut files = files;
    files.push(Staged {
        name: UPDATE_ROOT_FILE.to_owned(),
        bytes: Zeroizing::new(root_bytes),
        secret: false,
    });
    Ok((files, online_desc, root_desc))
}

/// Creation time: SOURCE_DATE_EPOCH (reproducible-builds.org) when set, else now.
fn creation_time() -> Result<u64> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(text) => text.trim().parse::<u64>().with_context(|| {
            format!("SOURCE_DATE_EPOCH={text:?} is not a number of seconds since 1970")
        }),
        Err(std::env::VarError::NotPresent) => Ok(SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .context("the system clock is before 1970")?
            .as_secs()),
        Err(e) => Err(e).context("SOURCE_DATE_EPOCH is not valid Unicode"),
    }
}

fn hex_sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Description of one certificate for keys.json and `show`.
fn describe_cert(role: Role, cert: &Certificate) -> Result<Value> {
    let tbs = &cert.tbs_certificate;
    let files: Map<String, Value> = [
        ("private_key", "key"),
        ("certificate_pem", "crt"),
        ("certificate_der", "cer"),
        ("signature_list", "esl"),
        ("signed_update", "auth"),
    ]
    .into_iter()
    .map(|(k, ext)| (k.to_owned(), json!(format!("{}.{ext}", role.variable()))))
    .collect();
    Ok(json!({
        "subject": tbs.subject.to_string(),
        "issuer": tbs.issuer.to_string(),
        "serial": hex::encode(tbs.serial_number.as_bytes()),
        "key_algorithm": "RSA-2048",
        "signature_algorithm": "sha256WithRSAEncryption",
        "not_before": tbs.validity.not_before.to_string(),
        "not_after": tbs.validity.not_after.to_string(),
        "sha256_fingerprint": hex_sha256(&cert.to_der()?),
        "update_signed_by": role.signer().variable(),
        "files": files,
    }))
}

fn describe_update_key(public: &VerifyingKey) -> Result<Value> {
    describe_ed25519(public, UPDATE_KEY_FILE, UPDATE_PUB_FILE)
}

fn describe_ed25519(public: &VerifyingKey, key_file: &str, pub_file: &str) -> Result<Value> {
    // The DER of an Ed25519 SubjectPublicKeyInfo has one form (RFC 8410).
    let spki_der = public
        .to_public_key_der()
        .map_err(|e| anyhow!("cannot encode the update public key: {e}"))?;
    Ok(json!({
        "algorithm": "ed25519",
        "public_key": hex::encode(public.to_bytes()),
        "sha256_fingerprint": hex_sha256(spki_der.as_bytes()),
        "tuf_keyid": tuf_key_id(public),
        "files": {"private_key": key_file, "public_key": pub_file},
    }))
}

/// Description of the PCR-policy key for keys.json and `show`.
fn describe_pcr_key(public: &RsaPublicKey) -> Result<Value> {
    let spki_der = public
        .to_public_key_der()
        .map_err(|e| anyhow!("cannot encode the PCR-policy public key: {e}"))?;
    Ok(json!({
        "algorithm": "RSA-2048",
        "sha256_fingerprint": hex_sha256(spki_der.as_bytes()),
        "pkfp": hex::encode(measure::signature::fingerprint(public)?),
        "files": {"private_key": PCR_KEY_FILE, "public_key": PCR_PUB_FILE},
    }))
}

/// Prints `Label: value` lines, or the object as JSON.
fn print_report(object: &Value, lines: &[(&str, String)], as_json: bool) -> std::io::Result<()> {
    if as_json {
        return crate::output::line(object);
    }
    crate::output::labelled(lines.iter().map(|(l, v)| (*l, v.clone())))
}

fn summary_lines(object: &Value) -> Vec<(&'static str, String)> {
    let text = |v: &Value| v.as_str().unwrap_or("-").to_owned();
    let mut lines = vec![
        ("Directory", text(&object["directory"])),
        ("Name", text(&object["name"])),
        ("Owner GUID", text(&object["owner_guid"])),
        ("Created", text(&object["created"])),
    ];
    for role in Role::ALL {
        let c = &object["secure_boot"][role.variable()];
        lines.push((
            role.variable(),
            format!(
                "{}, issued by {}, SHA-256 {}, valid until {}",
                text(&c["subject"]),
                text(&c["issuer"]),
                text(&c["sha256_fingerprint"]),
                text(&c["not_after"])
            ),
        ));
    }
    let u = &object["update_key"];
    lines.push((
        "Update key",
        format!(
            "ed25519 {}, SPKI SHA-256 {}",
            text(&u["public_key"]),
            text(&u["sha256_fingerprint"])
        ),
    ));
    let add_hint = || {
        format!(
            "none: add one with `clip keys generate {} --add-missing`",
            text(&object["directory"])
        )
    };
    let o = &object["update_online_key"];
    lines.push((
        "Online key",
        if o.is_null() {
            add_hint()
        } else {
            format!(
                "ed25519 {}, TUF key ID {}",
                text(&o["public_key"]),
                text(&o["tuf_keyid"])
            )
        },
    ));
    let r = &object["update_root"];
    lines.push((
        "TUF root",
        if r.is_null() {
            add_hint()
        } else {
            format!(
                "{} version {}, expires {}, SHA-256 {}",
                text(&r["file"]),
                r["version"],
                text(&r["expires"]),
                text(&r["sha256"])
            )
        },
    ));
    let p = &object["pcr_policy_key"];
    lines.push((
        "PCR key",
        if p.is_null() {
            format!(
                "none: add one with `clip keys generate {} --add-missing`",
                text(&object["directory"])
            )
        } else {
            format!(
                "RSA-2048, pkfp {}, SPKI SHA-256 {}",
                text(&p["pkfp"]),
                text(&p["sha256_fingerprint"])
            )
        },
    ));
    lines
}

fn generate(dir: &Path, force: bool, name: &str, as_json: bool) -> Result<()> {
    let manifest = create(dir, force, name)?;
    print_report(&manifest, &summary_lines(&manifest), as_json)?;
    Ok(())
}

/// Generates and installs a key set in `dir` (refused if one is there,
/// unless `force`); returns the keys.json manifest, plus `directory`.
pub fn create(dir: &Path, force: bool, name: &str) -> Result<Value> {
    secureboot::keyset::check_name(name).context("--name does not fit a certificate subject")?;
    let created = creation_time()?;
    secureboot::cert::validity(created).with_context(|| {
        format!("creation time {created} (SOURCE_DATE_EPOCH or the clock) is out of range")
    })?;
    // Refuse, and find an unwritable directory, before spending seconds on
    // RSA key generation.
    let target = check_target(dir, force)?;
    let staging = staging_dir(dir, target)?;

    // RSA key generation takes a second or more: a spinner on a terminal.
    let spinner = indicatif::ProgressBar::new_spinner().with_message("generating RSA-2048 keys");
    spinner.enable_steady_tick(std::time::Duration::from_millis(120));
    tracing::info!("generating the key set for {}", dir.display());
    let mut rng = rand::rngs::OsRng;
    let set = KeySet::generate(&mut rng, name, created);
    spinner.finish_and_clear();
    let set = set.context("cannot generate the key set")?;
    let pcr_key = PcrKey::generate(&mut rng)?;
    let online = UpdateKey::generate(&mut rng);
    let update_signing = keyfile::ed25519_signing_key(set.update.private_pem()?.as_bytes())
        .context("internal error: the update key does not read back")?;
    let (online_files, online_desc, root_desc) = online_files(
        &update_signing,
        &online,
        tuf::Time::from_unix(i64::try_from(created).context("creation time out of range")?),
    )?;
    let mut manifest = manifest(&set, name)?;
    manifest["update_online_key"] = online_desc;
    manifest["update_root"] = root_desc;
    manifest["pcr_policy_key"] = describe_pcr_key(&pcr_key.0.to_public_key())?;
    let mut files = render(&set, &manifest)?;
    files.extend(pcr_key.render()?);
    files.extend(online_files);
    install(dir, target, staging, &files)?;
    tracing::info!("key set written to {}", dir.display());

    manifest["directory"] = json!(dir.display().to_string());
    Ok(manifest)
}

fn manifest(set: &KeySet, name: &str) -> Result<Value> {
    let mut sb = Map::new();
    for role in Role::ALL {
        sb.insert(
            role.variable().to_owned(),
            describe_cert(role, &set.key(role).cert)?,
        );
    }
    Ok(json!({
        "format": MANIFEST_FORMAT,
        "name": name,
        "created": set.created.to_string(),
        "owner_guid": set.owner.to_string(),
        "secure_boot": sb,
        "no_pk_update": NO_PK_FILE,
        "update_key": describe_update_key(&set.update.verifying_key())?,
    }))
}

/// The PCR-policy key (RSA-2048, exponent 65537).
struct PcrKey(RsaPrivateKey);

impl PcrKey {
    fn generate(rng: &mut rand::rngs::OsRng) -> Result<Self> {
        Ok(Self(
            secureboot::cert::generate_rsa_key(rng)
                .context("cannot generate the PCR-policy key")?,
        ))
    }

    /// pcr-policy.key (PKCS#8 PEM, secret) and pcr-policy.pub
    /// (SubjectPublicKeyInfo PEM, what ukify embeds as `.pcrpkey`).
    fn render(&self) -> Result<[Staged; 2]> {
        use secureboot::rsa::pkcs8::EncodePrivateKey;
        let private = self
            .0
            .to_pkcs8_pem(secureboot::der::pem::LineEnding::LF)
            .map_err(|e| anyhow!("cannot encode the PCR-policy key: {e}"))?;
        let public = measure::signature::public_key_pem(&self.0.to_public_key())?;
        Ok([
            Staged {
                name: PCR_KEY_FILE.to_owned(),
                bytes: Zeroizing::new(private.as_bytes().to_vec()),
                secret: true,
            },
            Staged {
                name: PCR_PUB_FILE.to_owned(),
                bytes: Zeroizing::new(public.into_bytes()),
                secret: false,
            },
        ])
    }
}

/// `generate --add-missing`: [`add_missing_keys`], then `show`.
fn add_missing(dir: &Path, as_json: bool) -> Result<()> {
    if !add_missing_keys(dir)? {
        tracing::info!("{} already has every key; nothing added", dir.display());
    }
    show(dir, as_json)
}

/// Adds the keys an existing set lacks, never replacing a file, and records
/// them in keys.json: the PCR-policy key pair, the online update key pair
/// and update-root.json (made from update.key, the online key and the set's
/// creation time in keys.json). A lone half of a pair, or an update-root.json
/// without its online key, is refused. Returns whether anything was added
/// (false: the set has everything already).
pub fn add_missing_keys(dir: &Path) -> Result<bool> {
    let has = |name: &str| fs::symlink_metadata(dir.join(name)).is_ok();
    let set_files: Vec<String> = set_files()
        .into_iter()
        .map(|(n, _)| n)
        .filter(|n| !ADDABLE.contains(&n.as_str()))
        .collect();
    let missing: Vec<&str> = set_files
        .iter()
        .map(String::as_str)
        .filter(|n| !has(n))
        .collect();
    if missing.len() == set_files.len() {
        bail!(
            "{} holds no key set; create one with `clip keys generate {}`",
            dir.display(),
            dir.display()
        );
    }
    if !missing.is_empty() {
        bail!(
            "the key set in {} lacks {}: --add-missing adds only the PCR-policy key, \
             the online update key and update-root.json; restore the files from a backup",
            dir.display(),
            missing.join(", ")
        );
    }
    let lone = |key: &str, public: &str| -> Result<bool> {
        match (has(key), has(public)) {
            (true, true) => Ok(false),
            (false, false) => Ok(true),
            (k, _) => bail!(
                "{} has {} but not {}: restore the missing file, or remove the other to make a new pair",
                dir.display(),
                if k { key } else { public },
                if k { public } else { key }
            ),
        }
    };
    let add_pcr = lone(PCR_KEY_FILE, PCR_PUB_FILE)?;
    let add_online = lone(UPDATE_ONLINE_KEY_FILE, UPDATE_ONLINE_PUB_FILE)?;
    let add_root = !has(UPDATE_ROOT_FILE);
    if add_online && !add_root {
        bail!(
            "{} has {UPDATE_ROOT_FILE} but not {UPDATE_ONLINE_KEY_FILE}: the root names an online key \
             that is gone; restore {UPDATE_ONLINE_KEY_FILE} and {UPDATE_ONLINE_PUB_FILE} from a backup",
            dir.display()
        );
    }
    if !add_pcr && !add_root {
        return Ok(false);
    }
    // Read keys.json before any key is made: an unreadable one stops here.
    let manifest_path = dir.join(MANIFEST_FILE);
    let mut manifest: Value = serde_json::from_slice(&read(dir, MANIFEST_FILE)?)
        .with_context(|| format!("{} is not JSON", manifest_path.display()))?;
    if !manifest.is_object() {
        bail!("{} is not a JSON object", manifest_path.display());
    }
    check_dir_mode(dir)?;
    let mut rng = rand::rngs::OsRng;
    let mut files: Vec<Staged> = Vec::new();
    let mut added: Vec<&str> = Vec::new();
    if add_pcr {
        let key = PcrKey::generate(&mut rng)?;
        files.extend(key.render()?);
        manifest["pcr_policy_key"] = describe_pcr_key(&key.0.to_public_key())?;
        added.push("PCR-policy key");
    }
    if add_root {
        let created = manifest["created"]
            .as_str()
            .and_then(tuf::Time::parse)
            .ok_or_else(|| {
                anyhow!(
                    "{} has no creation time (\"created\": \"YYYY-MM-DDTHH:MM:SSZ\"), \
                     which update-root.json's expiry is counted from",
                    manifest_path.display()
                )
            })?;
        let update_pem = Zeroizing::new(read(dir, UPDATE_KEY_FILE)?);
        let update = keyfile::ed25519_signing_key(&update_pem)
            .map_err(|e| anyhow!("{UPDATE_KEY_FILE}: {e}"))?;
        if add_online {
            let online = UpdateKey::generate(&mut rng);
            let (staged, online_desc, root_desc) = online_files(&update, &online, created)?;
            files.extend(staged);
            manifest["update_online_key"] = online_desc;
            manifest["update_root"] = root_desc;
            added.push("online update key");
        } else {
            let online = keyfile::ed25519_verifying_key(&read(dir, UPDATE_ONLINE_PUB_FILE)?)
                .map_err(|e| anyhow!("{UPDATE_ONLINE_PUB_FILE}: {e}"))?;
            let bytes = update_root(&update, &online, created)?;
            let root = tuf::Metadata::<tuf::Root>::from_bytes(&bytes)
                .context("internal error: update-root.json does not parse")?;
            manifest["update_root"] = describe_update_root(&bytes, &root.signed);
            files.push(Staged {
                name: UPDATE_ROOT_FILE.to_owned(),
                bytes: Zeroizing::new(bytes),
                secret: false,
            });
        }
        added.push("update-root.json");
    }
    let staging = staging_dir(dir, Target::ExistingDir { force: false })?;
    for file in &files {
        write_new(staging.path(), file)?;
    }
    sync_dir(staging.path())?;
    let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
    commit(dir, staging.path(), &names, false)?;
    sync_dir(dir)?;
    crate::blockio::write_file_atomically(
        &manifest_path,
        format!("{}\n", serde_json::to_string_pretty(&manifest)?).as_bytes(),
        0o644,
        true,
    )?;
    tracing::info!("{} added to {}", added.join(", "), dir.display());
    Ok(true)
}

/// One file to write: name, contents, secret.
struct Staged {
    name: String,
    bytes: Zeroizing<Vec<u8>>,
    secret: bool,
}

fn render(set: &KeySet, manifest: &Value) -> Result<Vec<Staged>> {
    let mut files = Vec::new();
    let mut add = |name: String, bytes: Vec<u8>, secret: bool| {
        files.push(Staged {
            name,
            bytes: Zeroizing::new(bytes),
            secret,
        });
    };
    for role in Role::ALL {
        let k: &SecureBootKey = set.key(role);
        let stem = role.variable();
        add(
            format!("{stem}.key"),
            k.private_pem()?.as_bytes().to_vec(),
            true,
        );
        add(format!("{stem}.crt"), k.cert_pem()?.into_bytes(), false);
        add(format!("{stem}.cer"), k.cert_der()?, false);
        add(format!("{stem}.esl"), k.esl.clone(), false);
        add(format!("{stem}.auth"), k.auth.clone(), false);
    }
    add(NO_PK_FILE.to_owned(), set.no_pk_auth.clone(), false);
    add(
        OWNER_FILE.to_owned(),
        format!("{}\n", set.owner).into_bytes(),
        false,
    );
    add(
        UPDATE_KEY_FILE.to_owned(),
        set.update.private_pem()?.as_bytes().to_vec(),
        true,
    );
    add(
        UPDATE_PUB_FILE.to_owned(),
        set.update.public_pem()?.into_bytes(),
        false,
    );
    add(
        MANIFEST_FILE.to_owned(),
        format!("{}\n", serde_json::to_string_pretty(manifest)?).into_bytes(),
        false,
    );
    Ok(files)
}

/// Where the set goes: a new directory, or an existing one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    NewDir,
    ExistingDir { force: bool },
}

fn check_target(dir: &Path, force: bool) -> Result<Target> {
    match fs::metadata(dir) {
        Err(e) if e.kind() == ErrorKind::NotFound => {
            let parent = parent_of(dir);
            match fs::metadata(parent) {
                Ok(m) if m.is_dir() => Ok(Target::NewDir),
                Ok(_) => bail!("{} is not a directory", parent.display()),
                Err(e) => Err(e).with_context(|| {
                    format!(
                        "cannot create {}: its parent {} is not usable",
                        dir.display(),
                        parent.display()
                    )
                }),
            }
        }
        Err(e) => Err(e).with_context(|| format!("cannot stat {}", dir.display())),
        Ok(m) if !m.is_dir() => bail!("{} exists and is not a directory", dir.display()),
        Ok(m) if m.permissions().mode() & 0o022 != 0 => {
            Err(writable_by_others(dir, m.permissions().mode()))
        }
        Ok(_) => {
            let existing: Vec<String> = set_files()
                .into_iter()
                .map(|(name, _)| name)
                .filter(|name| fs::symlink_metadata(dir.join(name)).is_ok())
                .collect();
            if existing.is_empty() {
                return Ok(Target::ExistingDir { force: false });
            }
            if !force {
                let lacks = |names: &[&str]| names.iter().all(|n| !existing.iter().any(|e| e == n));
                let mut lacking = Vec::new();
                if lacks(&[PCR_KEY_FILE, PCR_PUB_FILE]) {
                    lacking.push("the PCR-policy key");
                }
                if lacks(&[
                    UPDATE_ONLINE_KEY_FILE,
                    UPDATE_ONLINE_PUB_FILE,
                    UPDATE_ROOT_FILE,
                ]) {
                    lacking.push("the online update key and update-root.json");
                }
                let hint = if lacking.is_empty() {
                    String::new()
                } else {
                    format!(
                        " (or --add-missing to add only {} it lacks, keeping the others)",
                        lacking.join(" and ")
                    )
                };
                bail!(
                    "{} already holds key files ({}); pass --force to replace them{hint}",
                    dir.display(),
                    existing.join(", ")
                );
            }
            for name in &existing {
                let path = dir.join(name);
                if fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
                    bail!("{} is a directory; not replacing it", path.display());
                }
            }
            Ok(Target::ExistingDir { force: true })
        }
    }
}

/// Others could replace the certificates and .auth files of a directory
/// they can write or, with the sticky bit (/tmp), plant files of the set.
fn writable_by_others(dir: &Path, mode: u32) -> anyhow::Error {
    anyhow!(
        "{} is writable by other users (mode {:04o}): they could plant or replace \
         the certificates and .auth files of the set; restrict it first \
         (chmod go-w {}) or use a new directory",
        dir.display(),
        mode & 0o7777,
        dir.display()
    )
}

/// An existing key directory must not be writable by group or others.
fn check_dir_mode(dir: &Path) -> Result<()> {
    let mode = fs::metadata(dir)
        .with_context(|| format!("cannot stat {}", dir.display()))?
        .permissions()
        .mode();
    if mode & 0o022 != 0 {
        return Err(writable_by_others(dir, mode));
    }
    Ok(())
}

fn parent_of(dir: &Path) -> &Path {
    match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Creates `file` in `dir`, mode 0600 if secret and 0644 otherwise (set at
/// creation, under the umask, never changed afterwards), writes and syncs it.
fn write_new(dir: &Path, file: &Staged) -> Result<()> {
    let path = dir.join(&file.name);
    let mode = if file.secret { 0o600 } else { 0o644 };
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(&file.bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot sync directory {}", dir.display()))
}

/// The staging directory: beside a new DIR (to be renamed into it), or
/// inside an existing one. Removed on drop unless kept.
fn staging_dir(dir: &Path, target: Target) -> Result<tempfile::TempDir> {
    let parent = match target {
        Target::NewDir => parent_of(dir),
        Target::ExistingDir { .. } => dir,
    };
    // Mode 0700: the private keys are never reachable through a looser
    // directory; a new DIR keeps that mode.
    tempfile::Builder::new()
        .prefix(".clip-keys-")
        .permissions(fs::Permissions::from_mode(0o700))
        .tempdir_in(parent)
        .with_context(|| format!("cannot create a staging directory in {}", parent.display()))
}

/// Writes `files` into `staging`, then moves them into `dir`.
fn install(dir: &Path, target: Target, staging: tempfile::TempDir, files: &[Staged]) -> Result<()> {
    for file in files {
        write_new(staging.path(), file)?;
    }
    sync_dir(staging.path())?;
    match target {
        Target::NewDir => {
            // One rename: DIR appears complete or not at all.
            fs::rename(staging.path(), dir).with_context(|| {
                format!(
                    "cannot move the new key set into place at {}",
                    dir.display()
                )
            })?;
            // Renamed away: nothing left for the TempDir to delete.
            let _ = staging.keep();
            sync_dir(parent_of(dir))
        }
        Target::ExistingDir { force } => {
            let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
            commit(dir, staging.path(), &names, force).inspect_err(|_| {
                // The old files may still sit in the staging directory if the
                // rollback failed: keep it then (commit said so).
                if staging.path().join(BACKUP).exists() {
                    let _ = staging.keep();
                }
            })?;
            sync_dir(dir)
        }
    }
}

/// Subdirectory of the staging directory holding replaced files until the
/// commit succeeds.
const BACKUP: &str = "replaced";

/// Moves the staged `names` from `staging` into `dir`. Replaced files (only
/// with `force`) go to `staging/replaced`; on any failure every step taken is
/// undone, so `dir` holds the old set again.
fn commit(dir: &Path, staging: &Path, names: &[&str], force: bool) -> Result<()> {
    let backup = staging.join(BACKUP);
    let mut linked: Vec<&str> = Vec::new();
    let mut replaced: Vec<&str> = Vec::new();
    let result = (|| -> Result<()> {
        for &name in names {
            let target = dir.join(name);
            if force && fs::symlink_metadata(&target).is_ok() {
                if replaced.is_empty() {
                    fs::create_dir(&backup)
                        .with_context(|| format!("cannot create {}", backup.display()))?;
                }
                fs::rename(&target, backup.join(name))
                    .with_context(|| format!("cannot move {} aside", target.display()))?;
                replaced.push(name);
            }
            place(&staging.join(name), &target)?;
            linked.push(name);
        }
        Ok(())
    })();
    let Err(err) = result else {
        return Ok(());
    };
    let mut leftovers = Vec::new();
    for name in &linked {
        if let Err(e) = fs::remove_file(dir.join(name)) {
            leftovers.push(format!("{}: {e}", dir.join(name).display()));
        }
    }
    for name in &replaced {
        if let Err(e) = fs::rename(backup.join(name), dir.join(name)) {
            leftovers.push(format!("{}: {e}", dir.join(name).display()));
        }
    }
    if leftovers.is_empty() {
        let _ = fs::remove_dir_all(&backup);
        Err(err.context("no file was changed"))
    } else {
        Err(err.context(format!(
            "and the rollback failed ({}); the replaced files are in {}",
            leftovers.join("; "),
            backup.display()
        )))
    }
}

/// Puts `staged` at `target`, never over an existing file: a hard link
/// (fails if `target` exists), or where links are not supported (FAT) a
/// rename after checking that `target` is absent.
fn place(staged: &Path, target: &Path) -> Result<()> {
    match fs::hard_link(staged, target) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            bail!("{} appeared meanwhile; not replacing it", target.display())
        }
        Err(_) if fs::symlink_metadata(target).is_err() => fs::rename(staged, target)
            .with_context(|| format!("cannot move {} into place", target.display())),
        Err(e) => Err(e).with_context(|| format!("cannot create {}", target.display())),
    }
}

fn read(dir: &Path, name: &str) -> Result<Vec<u8>> {
    let path = dir.join(name);
    fs::read(&path).with_context(|| format!("cannot read {}", path.display()))
}

/// The certificate in `ROLE.crt`; a problem is noted when the file holds
/// more than one (the first is the set's, as `openssl x509` reads it).
fn read_cert(dir: &Path, role: Role, problems: &mut Vec<String>) -> Result<Certificate> {
    let name = format!("{}.crt", role.variable());
    let mut certs = keyfile::certificates(&read(dir, &name)?).with_context(|| {
        format!(
            "{} is not a PEM X.509 certificate",
            dir.join(&name).display()
        )
    })?;
    if certs.len() > 1 {
        problems.push(format!(
            "{name} holds {} certificates, not one; the first is taken",
            certs.len()
        ));
    }
    Ok(certs.swap_remove(0))
}

/// Reads the key set in `dir`, checks that its files agree with each other,
/// and prints it.
fn show(dir: &Path, as_json: bool) -> Result<()> {
    let owner_text = String::from_utf8(read(dir, OWNER_FILE)?)
        .map_err(|_| anyhow!("{} is not text", dir.join(OWNER_FILE).display()))?;
    let owner: Guid = owner_text
        .trim()
        .parse()
        .with_context(|| format!("in {}", dir.join(OWNER_FILE).display()))?;
    let mut problems: Vec<String> = Vec::new();
    let certs: Vec<Certificate> = Role::ALL
        .iter()
        .map(|&role| read_cert(dir, role, &mut problems))
        .collect::<Result<_>>()?;
    let cert = |role: Role| &certs[Role::ALL.iter().position(|r| *r == role).unwrap_or(0)];

    let mut sb = Map::new();
    let mut created = None;
    for role in Role::ALL {
        let stem = role.variable();
        let c = cert(role);
        let der = c.to_der()?;
        let mut entry = describe_cert(role, c)?;
        if read(dir, &format!("{stem}.cer"))? != der {
            problems.push(format!("{stem}.cer is not the DER of {stem}.crt"));
        }
        match check_private_key(dir, &format!("{stem}.key"), c) {
            Ok(()) => {}
            Err(e) => problems.push(format!("{e:#}")),
        }
        let signer = cert(role.signer());
        if role != Role::Pk && !secureboot::pkcs7::issued_by(c, signer) {
            problems.push(format!(
                "{stem}.crt is not issued by {}.crt",
                role.signer().variable()
            ));
        }
        let esl = read(dir, &format!("{stem}.esl"))?;
        let auth = read(dir, &format!("{stem}.auth"))?;
        match check_enrolment(role, c, &esl, &auth, signer) {
            Ok(e) => {
                if e.owner != owner {
                    problems.push(format!(
                        "{stem}.esl is owned by {}, {OWNER_FILE} says {owner}",
                        e.owner
                    ));
                }
                entry["update_timestamp"] = json!(e.timestamp.to_string());
                created.get_or_insert(e.timestamp.to_string());
            }
            Err(e) => problems.push(format!("{stem}.esl/{stem}.auth: {e}")),
        }
        sb.insert(stem.to_owned(), entry);
    }
    let no_pk = read(dir, NO_PK_FILE)?;
    let no_pk_check = AuthVariable::parse(&no_pk).and_then(|a| {
        a.verify("PK", Role::Pk.vendor(), &[cert(Role::Pk)])
            .map(|_| a.data.is_empty())
    });
    match no_pk_check {
        Ok(true) => {}
        Ok(false) => problems.push(format!("{NO_PK_FILE} does not carry an empty PK")),
        Err(e) => problems.push(format!("{NO_PK_FILE}: {e}")),
    }
    let update_key = check_update_key(dir, &mut problems)?;
    let (update_online_key, update_root) = check_update_root(dir, &mut problems);
    let pcr_policy_key = check_pcr_key(dir, &mut problems);
    let name = fs::read(dir.join(MANIFEST_FILE))
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|m| m["name"].as_str().map(str::to_owned));

    let report = json!({
        "directory": dir.display().to_string(),
        "name": name,
        "owner_guid": owner.to_string(),
        "created": created,
        "secure_boot": sb,
        "update_key": update_key,
        "update_online_key": update_online_key,
        "update_root": update_root,
        "pcr_policy_key": pcr_policy_key,
        "consistent": problems.is_empty(),
        "problems": problems,
    });
    let mut lines = summary_lines(&report);
    lines.push((
        "Consistent",
        if problems.is_empty() {
            "yes".to_owned()
        } else {
            format!("no: {}", problems.join("; "))
        },
    ));
    print_report(&report, &lines, as_json)?;
    if problems.is_empty() {
        Ok(())
    } else {
        Err(IntegrityFailure(format!(
            "the key set in {} does not hang together: {}",
            dir.display(),
            problems.join("; ")
        ))
        .into())
    }
}

/// Checks that the RSA key in `name` is the private half of `cert`.
fn check_private_key(dir: &Path, name: &str, cert: &Certificate) -> Result<()> {
    use secureboot::rsa::pkcs8::EncodePublicKey;
    let pem = Zeroizing::new(read(dir, name)?);
    let key = keyfile::rsa_private_key(&pem).map_err(|e| anyhow!("{name}: {e}"))?;
    let public = key
        .to_public_key()
        .to_public_key_der()
        .map_err(|e| anyhow!("{name}: {e}"))?;
    if public.as_bytes() != cert.tbs_certificate.subject_public_key_info.to_der()? {
        bail!("{name} does not match the public key of its certificate");
    }
    Ok(())
}

fn check_update_key(dir: &Path, problems: &mut Vec<String>) -> Result<Value> {
    let public = keyfile::ed25519_verifying_key(&read(dir, UPDATE_PUB_FILE)?)
        .with_context(|| format!("{} is not usable", dir.join(UPDATE_PUB_FILE).display()))?;
    let pem = Zeroizing::new(read(dir, UPDATE_KEY_FILE)?);
    match keyfile::ed25519_signing_key(&pem) {
        Ok(key) if key.verifying_key() == public => {}
        Ok(_) => problems.push(format!(
            "{UPDATE_KEY_FILE} does not match {UPDATE_PUB_FILE}"
        )),
        Err(e) => problems.push(format!("{UPDATE_KEY_FILE}: {e}")),
    }
    describe_update_key(&public)
}

/// The online update key pair and update-root.json, described; `null` when
/// the set has none (made before they existed). Problems: a lone half,
/// halves that do not match, a root that does not parse, is not signed by
/// update.pub, or does not give root and targets to update.pub and snapshot
/// and timestamp to update-online.pub.
fn check_update_root(dir: &Path, problems: &mut Vec<String>) -> (Value, Value) {
    let has = |name: &str| fs::symlink_metadata(dir.join(name)).is_ok();
    let online = match (has(UPDATE_ONLINE_KEY_FILE), has(UPDATE_ONLINE_PUB_FILE)) {
        (false, false) => None,
        (true, false) => {
            problems.push(format!(
                "{UPDATE_ONLINE_KEY_FILE} has no {UPDATE_ONLINE_PUB_FILE} beside it"
            ));
            None
        }
        (false, true) => {
            problems.push(format!(
                "{UPDATE_ONLINE_PUB_FILE} has no {UPDATE_ONLINE_KEY_FILE} beside it"
            ));
            None
        }
        (true, true) => {
            match read(dir, UPDATE_ONLINE_PUB_FILE)
                .and_then(|b| keyfile::ed25519_verifying_key(&b).map_err(anyhow::Error::from))
            {
                Ok(public) => {
                    let pem = read(dir, UPDATE_ONLINE_KEY_FILE).map(Zeroizing::new);
                    match pem
                        .and_then(|p| keyfile::ed25519_signing_key(&p).map_err(anyhow::Error::from))
                    {
                        Ok(key) if key.verifying_key() == public => {}
                        Ok(_) => problems.push(format!(
                            "{UPDATE_ONLINE_KEY_FILE} does not match {UPDATE_ONLINE_PUB_FILE}"
                        )),
                        Err(e) => problems.push(format!("{UPDATE_ONLINE_KEY_FILE}: {e:#}")),
                    }
                    Some(public)
                }
                Err(e) => {
                    problems.push(format!("{UPDATE_ONLINE_PUB_FILE}: {e:#}"));
                    None
                }
            }
        }
    };
    let online_desc = online
        .as_ref()
        .and_then(|p| describe_ed25519(p, UPDATE_ONLINE_KEY_FILE, UPDATE_ONLINE_PUB_FILE).ok())
        .unwrap_or(Value::Null);
    if !has(UPDATE_ROOT_FILE) {
        if online.is_some() {
            problems.push(format!(
                "{UPDATE_ONLINE_PUB_FILE} has no {UPDATE_ROOT_FILE} beside it"
            ));
        }
        return (online_desc, Value::Null);
    }
    let bytes = match read(dir, UPDATE_ROOT_FILE) {
        Ok(b) => b,
        Err(e) => {
            problems.push(format!("{e:#}"));
            return (online_desc, Value::Null);
        }
    };
    let root = match tuf::Metadata::<tuf::Root>::from_bytes(&bytes) {
        Ok(r) => r,
        Err(e) => {
            problems.push(format!("{UPDATE_ROOT_FILE}: {e}"));
            return (online_desc, Value::Null);
        }
    };
    let update = read(dir, UPDATE_PUB_FILE)
        .ok()
        .and_then(|b| keyfile::ed25519_verifying_key(&b).ok());
    if let Some(update) = update {
        let offline_id = tuf_key_id(&update);
        // Signed by update.key: a root with only that key verifies it.
        let mut signer = root.signed.clone();
        signer.keys.retain(|id, _| *id == offline_id);
        if let Some(role) = signer.roles.get_mut("root") {
            role.keyids = vec![offline_id.clone()];
            role.threshold = 1;
        }
        signer
            .keys
            .insert(offline_id.clone(), tuf::Key::ed25519(&update));
        if let Err(e) = signer.verify_role("root", root.signed_bytes(), &root.signatures) {
            problems.push(format!(
                "{UPDATE_ROOT_FILE} is not signed by {UPDATE_PUB_FILE}: {e}"
            ));
        }
        if let Err(e) = root
            .signed
            .verify_role("root", root.signed_bytes(), &root.signatures)
        {
            problems.push(format!(
                "{UPDATE_ROOT_FILE} does not verify with its own root role: {e}"
            ));
        }
        let online_id = online.as_ref().map(tuf_key_id);
        for (role, want, file) in [
            ("root", Some(&offline_id), UPDATE_PUB_FILE),
            ("targets", Some(&offline_id), UPDATE_PUB_FILE),
            ("snapshot", online_id.as_ref(), UPDATE_ONLINE_PUB_FILE),
            ("timestamp", online_id.as_ref(), UPDATE_ONLINE_PUB_FILE),
        ] {
            let Some(want) = want else { continue };
            match root.signed.role_keys(role) {
                Some((ids, 1)) if ids == [want.as_str()] => {}
                Some((ids, threshold)) => problems.push(format!(
                    "{UPDATE_ROOT_FILE} gives the {role} role to key(s) [{}] with threshold {threshold}, \
                     not to {file} ({want}) alone",
                    ids.join(", ")
                )),
                None => problems.push(format!("{UPDATE_ROOT_FILE} has no {role} role")),
            }
        }
    }
    if online.is_none() {
        problems.push(format!(
            "{UPDATE_ROOT_FILE} has no {UPDATE_ONLINE_PUB_FILE} beside it"
        ));
    }
    (online_desc, describe_update_root(&bytes, &root.signed))
}

/// The PCR-policy key pair, described; `null` when the set has none (made
/// before it existed: not a problem for `show`, `clip build` asks for it).
/// A lone half, an unreadable file, a key a TPM cannot use or halves that
/// do not match are problems.
fn check_pcr_key(dir: &Path, problems: &mut Vec<String>) -> Value {
    let has = |name: &str| fs::symlink_metadata(dir.join(name)).is_ok();
    match (has(PCR_KEY_FILE), has(PCR_PUB_FILE)) {
        (false, false) => return Value::Null,
        (true, false) => {
            problems.push(format!("{PCR_KEY_FILE} has no {PCR_PUB_FILE} beside it"));
            return Value::Null;
        }
        (false, true) => {
            problems.push(format!("{PCR_PUB_FILE} has no {PCR_KEY_FILE} beside it"));
            return Value::Null;
        }
        (true, true) => {}
    }
    let public = match read(dir, PCR_PUB_FILE)
        .and_then(|b| keyfile::rsa_public_key(&b).map_err(anyhow::Error::from))
    {
        Ok(p) => p,
        Err(e) => {
            problems.push(format!("{PCR_PUB_FILE}: {e:#}"));
            return Value::Null;
        }
    };
    if let Err(e) = measure::signature::check_public_key(&public) {
        problems.push(format!("{PCR_PUB_FILE}: {e}"));
    }
    let private = read(dir, PCR_KEY_FILE)
        .map(Zeroizing::new)
        .and_then(|pem| keyfile::rsa_private_key(&pem).map_err(anyhow::Error::from));
    match private {
        Ok(key) if key.to_public_key() == public => {}
        Ok(_) => problems.push(format!("{PCR_KEY_FILE} does not match {PCR_PUB_FILE}")),
        Err(e) => problems.push(format!("{PCR_KEY_FILE}: {e:#}")),
    }
    describe_pcr_key(&public).unwrap_or_else(|e| {
        problems.push(format!("{PCR_PUB_FILE}: {e:#}"));
        Value::Null
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn staged(dir: &Path, names: &[&str], content: &str) {
        for name in names {
            fs::write(dir.join(name), content).unwrap();
        }
    }

    fn contents(dir: &Path, names: &[&str]) -> Vec<Option<String>> {
        names
            .iter()
            .map(|n| fs::read_to_string(dir.join(n)).ok())
            .collect()
    }

    #[test]
    fn commit_moves_everything() {
        let dir = tempfile::tempdir().unwrap();
        let staging = tempfile::tempdir_in(dir.path()).unwrap();
        let names = ["a", "b", "c"];
        staged(staging.path(), &names, "new");
        commit(dir.path(), staging.path(), &names, false).unwrap();
        assert_eq!(contents(dir.path(), &names), vec![Some("new".into()); 3]);
    }

    #[test]
    fn failed_commit_restores_old_files() {
        let dir = tempfile::tempdir().unwrap();
        let names = ["a", "b", "c"];
        staged(dir.path(), &names, "old");
        let staging = tempfile::tempdir_in(dir.path()).unwrap();
        // "c" was never staged: its step fails after "a" and "b" moved.
        staged(staging.path(), &names[..2], "new");
        let err = commit(dir.path(), staging.path(), &names, true).unwrap_err();
        assert!(
            format!("{err:#}").contains("no file was changed"),
            "{err:#}"
        );
        assert_eq!(contents(dir.path(), &names), vec![Some("old".into()); 3]);
        assert!(!staging.path().join(BACKUP).exists());
    }

    #[test]
    fn commit_without_force_never_replaces() {
        let dir = tempfile::tempdir().unwrap();
        staged(dir.path(), &["b"], "old");
        let staging = tempfile::tempdir_in(dir.path()).unwrap();
        let names = ["a", "b"];
        staged(staging.path(), &names, "new");
        let err = commit(dir.path(), staging.path(), &names, false).unwrap_err();
        assert!(format!("{err:#}").contains("appeared meanwhile"), "{err:#}");
        assert_eq!(contents(dir.path(), &names), vec![None, Some("old".into())]);
    }

    #[test]
    fn ten_years_later() {
        let at = |t: &str| tuf::Time::parse(t).unwrap();
        let later = |t: &str| years_after(at(t), 10).unwrap().to_string();
        assert_eq!(later("2024-01-02T03:04:05Z"), "2034-01-02T03:04:05Z");
        // 29 February of a leap year: 28 February ten years on (2034 is
        // not a leap year), 29 February when it is (2040).
        assert_eq!(later("2024-02-29T12:00:00Z"), "2034-02-28T12:00:00Z");
        assert_eq!(later("2020-02-29T12:00:00Z"), "2030-02-28T12:00:00Z");
        assert_eq!(
            years_after(at("2028-02-29T00:00:00Z"), 12)
                .unwrap()
                .to_string(),
            "2040-02-29T00:00:00Z"
        );
        assert!(years_after(at("9995-01-01T00:00:00Z"), 10).is_err());
    }

    #[test]
    fn file_list() {
        let files = set_files();
        assert_eq!(files.len(), 25);
        let secret: Vec<&str> = files
            .iter()
            .filter(|(_, s)| *s)
            .map(|(n, _)| n.as_str())
            .collect();
        assert_eq!(
            secret,
            [
                "PK.key",
                "KEK.key",
                "db.key",
                "update.key",
                "pcr-policy.key",
                "update-online.key"
            ]
        );
    }
}
