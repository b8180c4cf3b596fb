//! clip-updated, the on-device update daemon (docs/update.md, "Design: the
//! update contract (issue 9)"): `status`, `check`, `apply`, `health`,
//! `mark-good`. There is no long-running process: clip-updated.timer starts
//! clip-updated.service, a oneshot running `apply`, at the product's check
//! interval.
//!
//! `apply` follows the contract's install order; nothing touches the disk
//! before every payload was downloaded and checked twice (the TUF hash of
//! the compressed bytes, then release.json's hash of the uncompressed
//! bytes, by decompressing without writing).

pub mod boot;
pub mod config;
pub mod disk;
pub mod repo;
pub mod status;

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use contract::{BootParams, Release, Slot, Version};
use serde::Serialize;

use crate::boot::Esp;
use crate::config::{Config, OsRelease, Paths};
use crate::disk::Disk;
use crate::repo::Repo;
use crate::status::{Pending, Status};

/// The running system.
#[derive(Debug, Clone)]
pub struct Running {
    pub os: OsRelease,
    pub version: Version,
    pub params: BootParams,
    pub product: String,
}

impl Running {
    pub fn load(paths: &Paths, config: Option<&Config>) -> Result<Running> {
        let os = OsRelease::load(&paths.root_dir)?;
        let version = Version::parse(&os.version_id)
            .with_context(|| format!("os-release VERSION_ID {:?}", os.version_id))?;
        let cmdline = std::fs::read_to_string(&paths.cmdline)
            .with_context(|| format!("cannot read {}", paths.cmdline.display()))?;
        let params =
            BootParams::parse(&cmdline).with_context(|| format!("{}", paths.cmdline.display()))?;
        let _ = config;
        let product = os.id.clone();
        Ok(Running {
            os,
            version,
            params,
            product,
        })
    }
}

fn disk_path(paths: &Paths) -> Result<PathBuf> {
    match &paths.disk {
        Some(d) => Ok(d.clone()),
        None => disk::running_disk(),
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// What `check` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    pub running: String,
    pub newest: Option<String>,
    /// The version `apply` would install.
    pub update: Option<String>,
}

/// Records a version of the other slot whose tries ran out as failed.
fn note_failures(running: &Running, esp: &Esp<'_>, status: &mut Status) -> Result<()> {
    if let Some(e) = esp.slot_entry(running.params.slot.other())? {
        if e.tries_left == Some(0) {
            if let Some(v) = &e.version {
                if !status.failed.contains(v) {
                    tracing::warn!("{v} failed: its tries ran out; running {}", running.version);
                    status.failed.push(v.clone());
                }
                if status.pending.as_ref().is_some_and(|p| &p.version == v) {
                    status.pending = None;
                }
            }
        }
    }
    Ok(())
}

/// The device's minimum version (crates/rollback's record).
fn minimum(paths: &Paths) -> Result<Option<Version>> {
    rollback::state::read(&paths.minimum_file()).context("cannot read the minimum version")
}

fn newer_than_allowed(
    running: &Running,
    minimum: Option<&Version>,
    version: &Version,
) -> std::result::Result<(), String> {
    if *version <= running.version {
        return Err(format!(
            "version {version} is not newer than the running version {}; refusing it",
            running.version
        ));
    }
    rollback::check_update(version, &running.version, minimum).map_err(|e| e.to_string())
}

/// `check`: refreshes the metadata and says whether a newer version exists.
pub fn check(paths: &Paths) -> Result<(CheckReport, Option<(Repo, repo::Offer)>)> {
    let config = Config::load(&paths.config)?;
    let running = Running::load(paths, Some(&config))?;
    let mut status = Status::load(&paths.status_file())?;
    let result = (|| {
        let http = config.http_client(&paths.root_dir)?;
        let repo = Repo::refresh(paths, &config.base_url(), http).with_context(|| {
            format!(
                "cannot refresh the update metadata from {}",
                config.base_url()
            )
        })?;
        let offers = repo.offers(&running.product);
        let newest = offers.first().cloned();
        Ok::<_, anyhow::Error>((repo, newest))
    })();
    let (repo, newest) = match result {
        Ok(r) => r,
        Err(e) => {
            status.last_error = Some(format!("{e:#}"));
            status.save(&paths.status_file())?;
            return Err(e);
        }
    };
    let min = minimum(paths)?;
    status.last_check = Some(unix_now());
    status.last_seen = newest.as_ref().map(|o| o.version.to_string());
    status.last_error = None;
    status.save(&paths.status_file())?;
    let report = CheckReport {
        running: running.version.to_string(),
        newest: newest.as_ref().map(|o| o.version.to_string()),
        update: newest
            .as_ref()
            .filter(|o| newer_than_allowed(&running, min.as_ref(), &o.version).is_ok())
            .map(|o| o.version.to_string()),
    };
    Ok((report, newest.map(|o| (repo, o))))
}

/// What `apply` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApplyReport {
    pub installed: String,
    pub slot: Slot,
    pub entry: String,
    pub downloaded_bytes: u64,
    pub written_bytes: u64,
    pub reboot: bool,
}

fn fail(paths: &Paths, e: anyhow::Error) -> anyhow::Error {
    if let Ok(mut s) = Status::load(&paths.status_file()) {
        s.last_error = Some(format!("{e:#}"));
        let _ = s.save(&paths.status_file());
    }
    e
}

/// `apply`: check, download and verify, then install into the inactive slot.
pub fn apply(paths: &Paths) -> Result<Option<ApplyReport>> {
    apply_inner(paths).map_err(|e| fail(paths, e))
}

fn apply_inner(paths: &Paths) -> Result<Option<ApplyReport>> {
    let config = Config::load(&paths.config)?;
    let running = Running::load(paths, Some(&config))?;
    let disk_path = disk_path(paths)?;
    {
        // Failed tries are noted before anything else.
        let disk = Disk::open(&disk_path, false)?;
        let (start, len) = disk.esp()?;
        let esp = Esp::open(&disk.file, start, len, &running.product)?;
        let mut status = Status::load(&paths.status_file())?;
        note_failures(&running, &esp, &mut status)?;
        status.save(&paths.status_file())?;
    }
    let (_, found) = check(paths)?;
    let Some((repo, offer)) = found else {
        bail!("the repository offers no release of {}", running.product);
    };
    let status = Status::load(&paths.status_file())?;
    if let Err(why) = newer_than_allowed(&running, minimum(paths)?.as_ref(), &offer.version) {
        bail!("{why}");
    }
    let version = offer.version.to_string();
    if status.failed.contains(&version) {
        bail!(
            "version {version} failed before (its tries ran out); it is not installed again automatically"
        );
    }
    if status
        .pending
        .as_ref()
        .is_some_and(|p| p.version == version)
    {
        // Installed already: its entry is on the ESP unless removed since.
        let disk = Disk::open(&disk_path, false)?;
        let (start, len) = disk.esp()?;
        let esp = Esp::open(&disk.file, start, len, &running.product)?;
        if let Some(e) = esp.slot_entry(running.params.slot.other())? {
            if e.version.as_deref() == Some(version.as_str()) && e.tries_left.is_some() {
                tracing::info!("{version} is installed already ({})", e.file_name);
                return Ok(None);
            }
        }
    }

    // release.json: TUF-checked, then its own rules.
    let release_bytes = repo.small_target(&offer.target)?;
    let release = Release::from_json(&release_bytes)
        .with_context(|| format!("target {} refused", offer.target))?;
    if release.version != offer.version || release.product != running.product {
        bail!(
            "target {} describes {} {}, not {} {}",
            offer.target,
            release.product,
            release.version,
            running.product,
            offer.version
        );
    }
    let inactive = running.params.slot.other();
    let uki = release
        .uki(inactive)
        .with_context(|| format!("release {version} has no UKI for slot {inactive}"))?;
    let files = [&release.root, &release.verity.file, &uki.file];

    // Download and check every payload before touching the disk.
    let cache = paths.cache_dir();
    let mut payloads = Vec::new();
    let mut downloaded = 0u64;
    for f in files {
        let target = format!("{}/{}/{}.zst", running.product, version, f.name);
        let (length, sha) = repo.payload_info(&target)?;
        if length != f.size || sha != f.sha256 {
            bail!(
                "target {target} says {length} bytes with sha256 {sha}; release.json says {} bytes with sha256 {}",
                f.size,
                f.sha256
            );
        }
        let path = repo.download(&target, &cache)?;
        downloaded += std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let (got_len, got_sha) =
            repo::uncompressed_digest(&path).with_context(|| format!("target {target} refused"))?;
        if got_len != f.size || got_sha != f.sha256 {
            bail!(
                "target {target} decompresses to {got_len} bytes with sha256 {got_sha}; \
                 release.json says {} bytes with sha256 {}",
                f.size,
                f.sha256
            );
        }
        tracing::info!(target = %target, "payload checked: TUF hash of the compressed bytes, release.json's of the uncompressed ones");
        payloads.push(path);
    }
    let params = release
        .boot_params(inactive)
        .context("release.json's verity parameters")?;

    // The disk, in the contract's install order.
    let mut disk = Disk::open(&disk_path, true)?;
    let parts = disk.inactive(&running.params)?;
    for (f, p) in [
        (&release.root, &parts.root),
        (&release.verity.file, &parts.verity),
    ] {
        if f.size > p.size() {
            bail!(
                "{} is {} bytes; partition {} holds only {}",
                f.name,
                f.size,
                p.name,
                p.size()
            );
        }
    }
    let (esp_start, esp_len) = disk.esp()?;
    {
        let esp = Esp::open(&disk.file, esp_start, esp_len, &running.product)?;
        esp.remove_entries(inactive)?;
        esp.close()?;
    }
    disk.sync()?;
    let mut written = 0u64;
    let stop_after: Option<u64> = std::env::var("CLIP_UPDATED_TEST_EXIT_AFTER_BYTES")
        .ok()
        .and_then(|v| v.parse().ok());
    for (path, part) in [(&payloads[0], &parts.root), (&payloads[1], &parts.verity)] {
        let mut dec = repo::decoder(path)?;
        let base = written;
        let n = disk
            .write_stream(part, &mut dec, &mut |at| {
                if stop_after.is_some_and(|s| base + at >= s) {
                    // Test hook: an abrupt stop, as a power cut would.
                    std::process::abort();
                }
            })
            .with_context(|| format!("cannot write {} into {}", path.display(), part.name))?;
        written += n;
    }
    disk.sync()?;
    tracing::info!(written, "slot {inactive} written and synced");
    let tree = verity::Params {
        hash_type: verity::HashType::Normal,
        algorithm: verity::HashAlgorithm::Sha256,
        data_block_size: contract::cmdline::BLOCK_SIZE,
        hash_block_size: contract::cmdline::BLOCK_SIZE,
        data_blocks: params.data_blocks,
        salt: params.salt.clone(),
    };
    let data_len = params.data_blocks * u64::from(contract::cmdline::BLOCK_SIZE);
    let (root_sha, root) = disk.read_back(&parts.root, data_len, Some(tree))?;
    let root = root.context("internal error: no root hash")?;
    if root != params.root_hash {
        bail!(
            "slot {inactive} read back has verity root hash {}, release.json says {}",
            hex::encode(&root),
            release.verity.root_hash
        );
    }
    for (f, p) in [
        (&release.root, &parts.root),
        (&release.verity.file, &parts.verity),
    ] {
        // The root's sha256 came with its tree when it covers the file.
        let sha = if f.name == release.root.name && f.size == data_len {
            root_sha.clone()
        } else {
            disk.read_back(p, f.size, None)?.0
        };
        if sha != f.sha256 {
            bail!(
                "partition {} read back has sha256 {sha}, release.json says {} for {}",
                p.name,
                f.sha256,
                f.name
            );
        }
    }
    tracing::info!("slot {inactive} read back: verity root hash and sha256 match release.json");
    disk.set_slot_entries(inactive, &params.root_hash)?;
    tracing::info!("GPT entries of slot {inactive} updated");
    let entry = contract::update::entry_file(&running.product, inactive, Some((boot::TRIES, 0)));
    {
        let esp = Esp::open(&disk.file, esp_start, esp_len, &running.product)?;
        let mut dec = repo::decoder(&payloads[2])?;
        esp.write_file(&boot::uki_path(&running.product, inactive), &mut dec)?;
        esp.default_to_newest()?;
        esp.close()?;
    }
    disk.sync()?;
    tracing::info!("UKI of slot {inactive} written; next, its boot entry {entry}");
    {
        // The commit point: the entry with its tries.
        let esp = Esp::open(&disk.file, esp_start, esp_len, &running.product)?;
        let text = contract::update::entry_text(
            &running.os.name,
            &running.product,
            &offer.version,
            inactive,
        );
        esp.write_file(&format!("loader/entries/{entry}"), &mut text.as_bytes())?;
        esp.close()?;
    }
    disk.sync()?;
    tracing::info!("boot entry {entry} written and synced");
    let mut status = Status::load(&paths.status_file())?;
    status.pending = Some(Pending {
        version: version.clone(),
        slot: inactive,
    });
    status.last_error = None;
    status.save(&paths.status_file())?;
    for p in &payloads {
        let _ = std::fs::remove_file(p);
    }
    let reboot = config.update.reboot == contract::update::Reboot::Now && !paths.no_reboot;
    Ok(Some(ApplyReport {
        installed: version,
        slot: inactive,
        entry,
        downloaded_bytes: downloaded,
        written_bytes: written,
        reboot,
    }))
}

/// `health`: runs the product's checks; the first failure is the error.
pub fn health(paths: &Paths) -> Result<usize> {
    let config = Config::load(&paths.config)?;
    for line in &config.update.health_checks {
        let argv = contract::update::health_check_argv(line)
            .with_context(|| format!("health check {line:?}"))?;
        let Some((program, args)) = argv.split_first() else {
            bail!("health check {line:?} is empty");
        };
        let out = std::process::Command::new(program)
            .args(args)
            .status()
            .with_context(|| format!("health check `{line}`: cannot run {program}"))?;
        if !out.success() {
            bail!("health check `{line}` failed: {out}");
        }
    }
    Ok(config.update.health_checks.len())
}

/// `mark-good`: the running slot's entry loses its counter; the version is
/// recorded as good and the minimum version raised to it.
pub fn mark_good(paths: &Paths) -> Result<String> {
    let config = Config::load(&paths.config).ok();
    let running = Running::load(paths, config.as_ref())?;
    let disk = Disk::open(&disk_path(paths)?, true)?;
    let (start, len) = disk.esp()?;
    let esp = Esp::open(&disk.file, start, len, &running.product)?;
    let slot = running.params.slot;
    let entry = esp
        .slot_entry(slot)?
        .with_context(|| format!("no boot entry for the running slot {slot}"))?;
    let plain = format!("{}-{slot}.conf", running.product);
    let message = if entry.tries_left.is_some() {
        esp.rename_entry(&entry.file_name, &plain)?;
        format!("{} renamed to {plain}", entry.file_name)
    } else {
        format!("{plain} is marked good already")
    };
    esp.close()?;
    disk.sync()?;
    let mut status = Status::load(&paths.status_file())?;
    let v = running.version.to_string();
    status.good = Some(v.clone());
    let raised = rollback::state::raise(&paths.minimum_file(), &running.version)
        .context("cannot raise the minimum version")?;
    tracing::info!("{raised}");
    status.min_version = minimum(paths)?.map(|m| m.to_string());
    let _ = v;
    if status.pending.as_ref().is_some_and(|p| p.slot == slot) {
        status.pending = None;
    }
    status.save(&paths.status_file())?;
    Ok(message)
}

/// What `status` reports.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    pub running_version: String,
    pub running_slot: Slot,
    pub other_slot: Slot,
    pub other_version: Option<String>,
    /// good, trying +N, failed, empty.
    pub other_state: String,
    pub pending: Option<Pending>,
    pub last_check: Option<i64>,
    pub last_error: Option<String>,
    pub failed: Vec<String>,
    pub min_version: Option<String>,
    /// "3.0.0 failed: its tries ran out; running 2.0.0"
    pub note: Option<String>,
}

pub fn status(paths: &Paths) -> Result<StatusReport> {
    let config = Config::load(&paths.config).ok();
    let running = Running::load(paths, config.as_ref())?;
    let mut status = Status::load(&paths.status_file())?;
    let other = running.params.slot.other();
    let (other_version, other_state) = match disk_path(paths).and_then(|p| Disk::open(&p, false)) {
        Ok(disk) => {
            let (start, len) = disk.esp()?;
            let esp = Esp::open(&disk.file, start, len, &running.product)?;
            note_failures(&running, &esp, &mut status)?;
            match esp.slot_entry(other)? {
                Some(e) => (e.version.clone(), e.state()),
                None => (None, "empty".into()),
            }
        }
        Err(e) => (None, format!("unknown ({e:#})")),
    };
    let note = (other_state == "failed")
        .then(|| other_version.clone())
        .flatten()
        .map(|v| format!("{v} failed: its tries ran out; running {}", running.version));
    Ok(StatusReport {
        running_version: running.version.to_string(),
        running_slot: running.params.slot,
        other_slot: other,
        other_version,
        other_state,
        pending: status.pending,
        last_check: status.last_check,
        last_error: status.last_error,
        failed: status.failed,
        min_version: minimum(paths)?.map(|m| m.to_string()),
        note,
    })
}
