//! `clip build`: a product definition in, a signed, verified, bootable GPT
//! disk image out (docs/image.md describes every piece and how they fit).
//!
//! Two halves. The release (`release`, cached by content: an unchanged
//! product rebuilds in seconds): root tree (crates/rootfs: mmdebstrap,
//! cached by content; system configuration) → EROFS → dm-verity tree
//! (crates/verity) → initramfs with clip-init and its modules → one signed
//! UKI per slot and the signed systemd-boot, in OUT/release with its
//! release.json. The disk, assembled from the release: loader entries on a
//! FAT ESP → GPT image with the release in slot A → manifest.json, written
//! last: an output directory without a manifest is not a finished build.

mod boot;
mod disk;
mod elf;
mod ids;
mod initramfs;
mod kernel;
mod manifest;
pub mod release;
mod security;
mod update;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use contract::{BootParams, Slot};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::output::Report;

/// File names inside `--out`.
pub const IMAGE_FILE: &str = "disk.img";
pub const MANIFEST_FILE: &str = "manifest.json";
pub const KEYS_DIR: &str = "keys";
pub const ARTIFACTS_DIR: &str = "artifacts";

/// Timestamp of every file in the image when SOURCE_DATE_EPOCH is unset
/// (2026-01-01T00:00:00Z): builds are reproducible either way.
pub const DEFAULT_EPOCH: u64 = 1_767_225_600;

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Product directory holding product.toml.
    #[arg(default_value = "products/clipos")]
    product: PathBuf,
    /// Output directory: disk.img, manifest.json, artifacts/, keys/.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Secure Boot keys (`clip keys generate` layout). Default: OUT/keys,
    /// generated there when absent.
    #[arg(long, value_name = "DIR")]
    keys: Option<PathBuf>,
    /// Directory holding the statically linked clip-init and clip-status.
    /// Default: the directory of this clip executable.
    #[arg(long, value_name = "DIR")]
    programs: Option<PathBuf>,
    /// Download and root-tree cache. Default: $CLIP_CACHE, else ~/.cache/clip.
    #[arg(long, value_name = "DIR")]
    cache: Option<PathBuf>,
    /// Build the root tree from the mirror even if a cached tree matches
    /// (picks up Debian updates).
    #[arg(long, conflicts_with = "offline")]
    refresh: bool,
    /// Never download: fail unless the root tree is cached.
    #[arg(long)]
    offline: bool,
    /// The release's version, instead of the product's (MAJOR.MINOR.PATCH[-PRERELEASE]):
    /// makes v1, v2, v3 of one product for update tests.
    #[arg(long, value_name = "V")]
    version: Option<String>,
    /// Build the release even when the release cache holds it (the cached
    /// copy is replaced): checks reproducibility, or works around a cache
    /// you do not trust. The root tree still comes from its own cache.
    #[arg(long)]
    rebuild_release: bool,
    /// Replace an existing image in OUT. Its state partition (all data
    /// written on the device) is lost.
    #[arg(long)]
    force: bool,
    /// Keep the configured root tree in OUT/work/tree.
    #[arg(long)]
    keep_tree: bool,
    /// Print the manifest as one JSON object.
    #[arg(long)]
    json: bool,
}

impl BuildArgs {
    /// `clip demo`'s build: keys kept in OUT/keys, the image replaced.
    pub fn for_demo(
        product: PathBuf,
        out: PathBuf,
        programs: Option<PathBuf>,
        cache: Option<PathBuf>,
    ) -> Self {
        Self {
            product,
            out,
            keys: None,
            programs,
            cache,
            version: None,
            rebuild_release: false,
            refresh: false,
            offline: false,
            force: true,
            keep_tree: false,
            json: false,
        }
    }
}

/// The cache directory: `given` (`--cache`), else `$CLIP_CACHE`, else
/// `$XDG_CACHE_HOME/clip`, else `~/.cache/clip` — the rule `./dev` follows
/// too, so that the commands and the test suite share one cache. Empty
/// variables count as unset.
pub fn cache_dir(given: Option<&Path>) -> Result<PathBuf> {
    if let Some(dir) = given {
        return Ok(dir.to_owned());
    }
    let var = |name| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = var("CLIP_CACHE") {
        return Ok(dir.into());
    }
    if let Some(dir) = var("XDG_CACHE_HOME") {
        return Ok(PathBuf::from(dir).join("clip"));
    }
    let home =
        var("HOME").context("neither --cache, CLIP_CACHE, XDG_CACHE_HOME nor HOME is set")?;
    Ok(PathBuf::from(home).join(".cache/clip"))
}

fn source_date_epoch() -> Result<u64> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(text) => text
            .trim()
            .parse()
            .with_context(|| format!("SOURCE_DATE_EPOCH={text:?} is not a number of seconds")),
        Err(_) => Ok(DEFAULT_EPOCH),
    }
}

/// Progress: a spinner on a terminal, log lines otherwise.
struct Steps {
    bar: Option<indicatif::ProgressBar>,
    started: Instant,
    current: Option<(&'static str, Instant)>,
    timings: Vec<(&'static str, f64)>,
}

impl Steps {
    fn new() -> Self {
        use std::io::IsTerminal;
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            bar
        });
        Self {
            bar,
            started: Instant::now(),
            current: None,
            timings: Vec::new(),
        }
    }

    fn step(&mut self, name: &'static str) {
        self.end_step();
        tracing::info!("build: {name}");
        if let Some(bar) = &self.bar {
            bar.set_message(name);
        }
        self.current = Some((name, Instant::now()));
    }

    fn detail(&self, text: &str) {
        tracing::info!("build: {text}");
        if let (Some(bar), Some((name, _))) = (&self.bar, self.current) {
            bar.set_message(format!("{name}: {text}"));
        }
    }

    fn end_step(&mut self) {
        if let Some((name, at)) = self.current.take() {
            self.timings.push((name, at.elapsed().as_secs_f64()));
        }
    }

    fn finish(mut self) -> (Vec<(&'static str, f64)>, f64) {
        self.end_step();
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        (self.timings, self.started.elapsed().as_secs_f64())
    }
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {what} {}", path.display()))
}

/// Where the device programs are: `--programs` or beside this executable.
fn programs_dir(given: Option<&Path>) -> Result<PathBuf> {
    if let Some(dir) = given {
        return Ok(dir.to_owned());
    }
    let exe = std::env::current_exe().context("cannot locate the clip executable")?;
    Ok(exe
        .parent()
        .context("the clip executable has no directory")?
        .to_owned())
}

/// `clip kernel PRODUCT`: the product's kernel only.
#[derive(Debug, clap::Args)]
pub struct KernelArgs {
    /// Product directory (holding product.toml and its kernel fragments).
    #[arg(default_value = "products/clipos")]
    pub product: PathBuf,
    /// Download and build cache. Default: $CLIP_CACHE, else ~/.cache/clip.
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// Never download: fail unless the kernel source is cached.
    #[arg(long)]
    pub offline: bool,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Builds (or takes from the cache) the kernel of a product whose kernel
/// is built from source, checking its configuration against the product's
/// fragments, as `clip build` does: so that a later `clip build` (or the
/// test suite's) finds it cached.
pub fn kernel_only(args: KernelArgs) -> Result<()> {
    let product = product::Product::load(&args.product)
        .with_context(|| format!("cannot load the product in {}", args.product.display()))?;
    if product.kernel.from != product::KernelFrom::Source {
        bail!(
            "the product in {} uses Debian's prebuilt kernel (kernel.from = \"package\"): there is nothing to build",
            args.product.display()
        );
    }
    let epoch = source_date_epoch()?;
    let cache = cache_dir(args.cache.as_deref())?;
    let plan = kernel::Plan::load(&product, &args.product, epoch)?;
    std::fs::create_dir_all(&cache)
        .with_context(|| format!("cannot create {}", cache.display()))?;
    let work = tempfile::Builder::new()
        .prefix(".kernel-work-")
        .tempdir_in(&cache)
        .with_context(|| format!("cannot create a work directory in {}", cache.display()))?;
    let mut steps = Steps::new();
    steps.step("kernel");
    let k = kernel::build_from_source(&plan, &cache, work.path(), args.offline, &|t| {
        steps.detail(t)
    })?;
    steps.finish();
    Report::default()
        .field("release", "Kernel", k.release.clone())
        .field("image", "Image", k.vmlinuz.display().to_string())
        .field("bytes", "Size", k.info.bzimage_bytes)
        .field(
            "policy",
            "Policy",
            format!(
                "{} of {} settings hold",
                k.info.policy.held, k.info.policy.required
            ),
        )
        .field(
            "build_seconds",
            "Compiled in (s)",
            json!(k.info.build_seconds.map(|s| (s * 10.0).round() / 10.0)),
        )
        .print(args.json)?;
    Ok(())
}

pub fn run(args: BuildArgs) -> Result<()> {
    let mut product = product::Product::load(&args.product)
        .with_context(|| format!("cannot load the product in {}", args.product.display()))?;
    if let Some(version) = &args.version {
        contract::Version::parse(version).context("bad --version")?;
        product.version = version.clone();
    }
    let sizes = product.partitions.bytes().context("bad partition sizes")?;
    boot::check_product_cmdline(&product.cmdline()).with_context(|| {
        format!(
            "the product in {} does not fit the kernel's command line",
            args.product.display()
        )
    })?;
    for waiver in product.cmdline_waivers() {
        tracing::warn!(
            "kernel.allow_cmdline waives the {:?} check: {} kept although {}",
            waiver.check.name(),
            waiver.arguments.join(" "),
            waiver.check.why()
        );
    }
    let epoch = source_date_epoch()?;
    let cache = cache_dir(args.cache.as_deref())?;
    let kernel_plan = kernel::Plan::load(&product, &args.product, epoch)?;
    let out = &args.out;
    let image_path = out.join(IMAGE_FILE);
    let manifest_path = out.join(MANIFEST_FILE);

    // Refuse before any work: the image holds the device's state.
    if image_path.exists() && !args.force {
        bail!(
            "{} exists (its state partition holds the data written on the device); \
             pass --force to replace it",
            image_path.display()
        );
    }
    let programs = programs_dir(args.programs.as_deref())?;
    let clip_init = read(&programs.join("clip-init"), "clip-init").with_context(|| {
        format!(
            "clip-init is missing in {} (build it statically, see docs/image.md, or pass --programs)",
            programs.display()
        )
    })?;
    initramfs::check_static(&clip_init, "clip-init")?;
    let clip_status = read(&programs.join("clip-status"), "clip-status")?;
    let clip_status_unit = read(&programs.join("clip-status.service"), "clip-status.service")
        .or_else(|_| {
            Ok::<_, anyhow::Error>(
                include_bytes!("../../../../clip-status/clip-status.service").to_vec(),
            )
        })?;

    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    // From here on the old build is gone: no manifest describes a half-built one.
    for old in [&manifest_path, &image_path] {
        match std::fs::remove_file(old) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot remove {}", old.display())),
        }
    }
    let artifacts = out.join(ARTIFACTS_DIR);
    let release_dir = out.join(release::RELEASE_DIR);
    let work = out.join("work");
    for dir in [&artifacts, &release_dir, &work] {
        if dir.exists() {
            std::fs::remove_dir_all(dir)
                .with_context(|| format!("cannot clean {}", dir.display()))?;
        }
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }

    let mut steps = Steps::new();

    // Keys first: a failure here should not cost a root tree build.
    steps.step("keys");
    let keys_dir = args.keys.clone().unwrap_or_else(|| out.join(KEYS_DIR));
    let keys_generated = if keys_dir.join("db.key").exists() {
        false
    } else if args.keys.is_some() {
        bail!(
            "no db.key in {} (create keys with `clip keys generate`)",
            keys_dir.display()
        );
    } else {
        crate::commands::keys::create(&keys_dir, false, &product.pretty_name).with_context(
            || format!("cannot generate Secure Boot keys in {}", keys_dir.display()),
        )?;
        true
    };
    let signer = boot::Signer {
        key: crate::commands::sign::load_key(&keys_dir.join("db.key"))?,
        cert: crate::commands::sign::load_cert(&keys_dir.join("db.crt"))?,
    };
    authenticode::check_key_matches(&signer.key, &signer.cert)
        .with_context(|| format!("db.key and db.crt in {} do not match", keys_dir.display()))?;
    // OUT/keys is the build's own: a set an earlier build made there before
    // the PCR-policy key existed gets one (no key is replaced). A set given
    // with --keys is the user's: boot::pcr_policy says how to add it.
    let pcr_key_added = args.keys.is_none()
        && crate::commands::keys::add_missing_keys(&keys_dir)
            .with_context(|| format!("cannot add the missing keys to {}", keys_dir.display()))?;
    if pcr_key_added {
        tracing::warn!(
            "added the keys its set lacked (PCR-policy key, online update key, update-root.json) \
             to {}; every other key is kept",
            keys_dir.display()
        );
    }
    let pcr_policy = boot::pcr_policy(&keys_dir)?;
    let pcr_policy_pkfp = pcr_policy.pkfp()?;
    let update_files = update::load(&programs, &keys_dir, &args.product, &product.update)?;
    initramfs::check_static(&update_files.daemon, "clip-updated")?;

    // The release: from the cache when every input is unchanged.
    steps.step("release");
    let db_cert_der =
        x509_cert::der::Encode::to_der(&signer.cert).context("cannot encode db.crt")?;
    let clip_sha256 = release::self_sha256()?;
    let key_for = |tree: &str| {
        release::Inputs {
            format: "clip-release-inputs/1",
            product: &product,
            source_date_epoch: epoch,
            tree,
            clip_init_sha256: release::sha256_hex(&clip_init),
            clip_status_sha256: release::sha256_hex(&clip_status),
            clip_status_unit_sha256: release::sha256_hex(&clip_status_unit),
            update_sha256: update_files.sha256(),
            db_cert_sha256: release::sha256_hex(&db_cert_der),
            pcr_policy_pkfp: pcr_policy_pkfp.clone(),
            clip_sha256: clip_sha256.clone(),
            kernel: kernel_plan.key(),
        }
        .key()
    };
    let tree_id = if args.refresh || args.rebuild_release {
        None
    } else {
        rootfs::cached_tree_identity(&product, &cache, epoch)
            .context("cannot identify the cached root tree")?
    };
    let mut restored = None;
    if let Some(id) = &tree_id {
        let key = key_for(id)?;
        if let Some((rel, info)) = release::restore(&cache, &key, &release_dir, &artifacts)? {
            steps.detail(&format!("release: cached ({key})"));
            restored = Some((key, rel, info));
        }
    }
    let (release_key, rel, info, tree_from_cache, release_from_cache) = match restored {
        Some((key, rel, info)) => (key, rel, info, true, true),
        None => {
            let made = make_release(MakeRelease {
                product: &product,
                args: &args,
                cache: &cache,
                work: &work,
                release_dir: &release_dir,
                artifacts: &artifacts,
                epoch,
                clip_init: &clip_init,
                clip_status: clip_status.clone(),
                clip_status_unit: clip_status_unit.clone(),
                update: &update_files,
                signer: &signer,
                pcr_policy: &pcr_policy,
                kernel_plan: &kernel_plan,
                root_limit: sizes.root,
                verity_limit: sizes.verity,
                steps: &mut steps,
            })?;
            let id = rootfs::cached_tree_identity(&product, &cache, epoch)
                .context("cannot identify the cached root tree")?
                .context("internal error: the root tree is not in the cache after the build")?;
            let key = key_for(&id)?;
            release::store(&cache, &key, &release_dir, &artifacts, &made.info)
                .context("cannot store the release in the cache")?;
            (key, made.release, made.info, made.tree_from_cache, false)
        }
    };
    if !args.keep_tree && work.exists() {
        std::fs::remove_dir_all(&work)
            .with_context(|| format!("cannot remove {}", work.display()))?;
    }

    // The disk: slot A holds the release, slot B is empty.
    steps.step("ESP");
    let read_release = |f: &contract::release::File| read(&release_dir.join(&f.name), &f.name);
    let uki_a_info = rel
        .uki(Slot::A)
        .context("internal error: the release has no UKI for slot A")?;
    let uki_a = read_release(&uki_a_info.file)?;
    let sdboot_signed = read_release(&rel.bootloader)?;
    let slot_a = rel
        .boot_params(Slot::A)
        .context("internal error: the release's verity parameters")?;
    // A fresh image's slot is good: its entry has no boot counter.
    let entry_a = contract::update::entry_file(&product.name, Slot::A, None);
    let mut esp = esp::Esp::new()
        .fat32(true)
        .volume_id(ids::volume_id(&product.name, &product.version));
    esp.add(esp::BOOT_X64, sdboot_signed.clone())?;
    esp.add("EFI/systemd/systemd-bootx64.efi", sdboot_signed)?;
    esp.add(&contract::update::uki_path(&product.name, Slot::A), uki_a)?;
    esp.add(
        "loader/loader.conf",
        boot::loader_conf(&product.name).into_bytes(),
    )?;
    esp.add(
        &format!("{}/{entry_a}", contract::update::ENTRIES_DIR),
        contract::update::entry_text(&product.pretty_name, &product.name, &rel.version, Slot::A)
            .into_bytes(),
    )?;
    let esp_bytes = esp.build(sizes.esp).context("cannot build the ESP")?;

    steps.step("disk image");
    let erofs = read_release(&rel.root)?;
    let hash_area = read_release(&rel.verity.file)?;
    if erofs.len() as u64 > sizes.root {
        bail!(
            "the root file system is {} bytes; the product's root partition is only {} (raise partitions.root)",
            erofs.len(),
            sizes.root
        );
    }
    let slot_a_guids = gpt::types::verity_partition_uuids(&slot_a.root_hash)
        .context("internal error: root hash shorter than 32 bytes")?;
    let plan = disk::Plan {
        esp: sizes.esp,
        root: sizes.root,
        verity: sizes.verity,
        state: sizes.state,
        disk_guid: ids::uuid(&product.name, &product.version, "disk"),
        esp_guid: ids::uuid(&product.name, &product.version, "esp"),
        state_guid: ids::uuid(&product.name, &product.version, "state"),
        slot_a: slot_a_guids,
        slot_b: (
            ids::uuid(&product.name, &product.version, "root-b"),
            ids::uuid(&product.name, &product.version, "verity-b"),
        ),
    };
    let (table, placed) = plan.layout()?;
    let regions = table.regions().context("cannot serialise the GPT")?;
    let mut parts: Vec<(u64, &[u8])> = regions
        .iter()
        .map(|r| (r.offset, r.bytes.as_slice()))
        .collect();
    // Only the non-zero chunks: the image stays sparse (the ESP is mostly
    // free clusters), and the areas never written read as zeros anyway.
    for (name, bytes) in [
        ("esp", &esp_bytes),
        ("root-a", &erofs),
        ("verity-a", &hash_area),
    ] {
        let base = disk::find(&placed, name)?.offset;
        parts.extend(non_zero_chunks(bytes).map(|(at, chunk)| (base + at, chunk)));
    }
    crate::blockio::write_parts(&image_path, &parts, plan.disk_size())?;
    drop(erofs);

    steps.step("manifest");
    let files = manifest::files(out)?;
    let (timings, total) = steps.finish();
    let uki_a_path = format!("{}/{}", release::RELEASE_DIR, uki_a_info.file.name);
    let manifest = manifest::Manifest {
        product: &product,
        epoch,
        kernel_version: &info.kernel_version,
        packages: &info.packages,
        tree_from_cache,
        keys_dir: &keys_dir,
        keys_generated,
        pcr_policy_pkfp,
        pcr_key_added,
        erofs_size: rel.root.size,
        erofs_sha256: rel.root.sha256.clone(),
        erofs_uuid: info
            .erofs_uuid
            .parse()
            .context("the release's build.json has a bad EROFS UUID")?,
        slot_a: &slot_a,
        pcr11_a: &uki_a_info.pcr11,
        hash_area_size: info.hash_area_size,
        cmdline_a: &uki_a_info.cmdline,
        uki_a: &uki_a_path,
        initramfs_modules: &info.initramfs_modules,
        kernel: info.kernel.as_ref(),
        removed_packages: &info.removed_packages,
        elf_audit: info.elf_audit.as_ref(),
        service_scores: &info.service_scores,
        release: release::manifest_json(
            &rel,
            &release_key,
            release_from_cache,
            &release::entry(&cache, &release_key),
        ),
        placed: &placed,
        disk_size: plan.disk_size(),
        disk_guid: plan.disk_guid,
        files,
        timings: &timings,
        total_seconds: total,
    }
    .to_json()?;
    let text = serde_json::to_string_pretty(&manifest).context("cannot serialise the manifest")?;
    crate::blockio::write_file_atomically(
        &manifest_path,
        format!("{text}\n").as_bytes(),
        0o644,
        true,
    )?;

    if args.json {
        crate::output::line(serde_json::to_string(&manifest).context("manifest")?)?;
        return Ok(());
    }
    Report::default()
        .field("image", "Image", image_path.display().to_string())
        .field("version", "Version", product.version.clone())
        .field("size", "Disk size", plan.disk_size())
        .field("root_hash", "Root hash (slot A)", slot_a.root_hash_hex())
        .field(
            "kernel",
            "Kernel",
            match &info.kernel {
                Some(k) => format!(
                    "{} ({}; policy: {} of {} settings hold)",
                    k.release,
                    if k.from == "source" {
                        format!(
                            "built from Debian's source {}",
                            k.source_version.as_deref().unwrap_or("?")
                        )
                    } else {
                        "Debian's package".to_owned()
                    },
                    k.policy.held,
                    k.policy.required
                ),
                None => info.kernel_version.clone(),
            },
        )
        .field("packages", "Packages", info.packages.len())
        .field(
            "release",
            "Release",
            if release_from_cache {
                format!("{} (cached)", release_dir.display())
            } else {
                release_dir.display().to_string()
            },
        )
        .field("manifest", "Manifest", manifest_path.display().to_string())
        .field(
            "seconds",
            "Build time (s)",
            json!((total * 10.0).round() / 10.0),
        )
        .print(false)?;
    Ok(())
}

/// What [`make_release`] needs.
struct MakeRelease<'a, 's> {
    product: &'a product::Product,
    args: &'a BuildArgs,
    cache: &'a Path,
    work: &'a Path,
    release_dir: &'a Path,
    artifacts: &'a Path,
    epoch: u64,
    clip_init: &'a [u8],
    clip_status: Vec<u8>,
    clip_status_unit: Vec<u8>,
    update: &'a update::UpdateFiles,
    signer: &'a boot::Signer,
    pcr_policy: &'a crate::commands::uki::PcrPolicy,
    kernel_plan: &'a kernel::Plan,
    root_limit: u64,
    verity_limit: u64,
    steps: &'s mut Steps,
}

struct Made {
    release: contract::Release,
    info: release::BuildInfo,
    tree_from_cache: bool,
}

/// Builds the release from the root tree: EROFS, verity, initramfs, one
/// UKI per slot, the signed boot loader; the by-products (initramfs,
/// kernel, Debian's initrd) go to `artifacts`.
fn make_release(m: MakeRelease<'_, '_>) -> Result<Made> {
    let product = m.product;
    let mtime = u32::try_from(m.epoch)
        .context("SOURCE_DATE_EPOCH does not fit the initramfs' 32-bit timestamps")?;
    let from_source = match m.kernel_plan.from {
        product::KernelFrom::Source => {
            m.steps.step("kernel");
            Some(kernel::build_from_source(
                m.kernel_plan,
                m.cache,
                m.work,
                m.args.offline,
                &|text| m.steps.detail(text),
            )?)
        }
        product::KernelFrom::Package => None,
    };
    let source_config = from_source
        .as_ref()
        .map(|k| ::kernel::Config::parse(&k.config));
    let lockdown = kernel::expected_lockdown(product, source_config.as_ref());

    m.steps.step("root tree");
    let mut extra_files = vec![
        rootfs::ExtraFile {
            path: "/usr/bin/clip-status".into(),
            contents: m.clip_status.clone(),
            mode: 0o755,
        },
        rootfs::ExtraFile {
            path: "/usr/lib/systemd/system/clip-status.service".into(),
            contents: m.clip_status_unit.clone(),
            mode: 0o644,
        },
    ];
    extra_files.extend(m.update.extra_files());
    if let Some(conf) = kernel::sysctl_conf(product) {
        extra_files.push(rootfs::ExtraFile {
            path: kernel::SYSCTL_FILE.into(),
            contents: conf.into_bytes(),
            mode: 0o644,
        });
    }
    if !product.sysctl.is_empty() || lockdown.is_some() {
        extra_files.push(rootfs::ExtraFile {
            path: kernel::HARDENING_FILE.into(),
            contents: kernel::hardening_json(product, lockdown.as_deref())?,
            mode: 0o644,
        });
    }
    let mut extra_services = vec!["clip-status.service".to_owned()];
    extra_services.extend(update::ENABLED.iter().map(|u| (*u).to_owned()));
    let request = rootfs::TreeRequest {
        product,
        cache_dir: m.cache,
        work_dir: m.work,
        source_date_epoch: m.epoch,
        extra_files: &extra_files,
        extra_services: &extra_services,
        cache: if m.args.refresh {
            rootfs::CachePolicy::Refresh
        } else if m.args.offline {
            rootfs::CachePolicy::Offline
        } else {
            rootfs::CachePolicy::Reuse
        },
    };
    let tree = rootfs::build_tree(&request, &|text| m.steps.detail(text))
        .context("cannot build the root tree")?;
    let kernel = match from_source {
        Some(k) => k,
        None => {
            let files = tree
                .kernel
                .as_ref()
                .context("the root tree has no kernel (debian.kernel)")?;
            kernel::from_package(m.kernel_plan, files)?
        }
    };
    m.steps.step("service scores");
    let service_scores = security::scores(&tree.root)?;
    m.steps.step("ELF audit");
    let (elf_entries, elf_summary) = elf::audit_tree(&tree.root, &product.elf)?;
    let mut elf_json =
        serde_json::to_vec_pretty(&elf_entries).context("cannot encode the ELF audit")?;
    elf_json.push(b'\n');
    crate::blockio::write_file_atomically(
        &m.artifacts.join(elf::ARTIFACT),
        &elf_json,
        0o644,
        true,
    )?;
    elf::enforce(&elf_entries)?;
    crate::blockio::write_file_atomically(
        &m.artifacts.join(kernel::CONFIG_ARTIFACT),
        kernel.config.as_bytes(),
        0o644,
        true,
    )?;

    m.steps.step("EROFS");
    let work_erofs = m.work.join("root.erofs");
    let erofs_uuid = ids::uuid(&product.name, &product.version, "erofs");
    let erofs_size = rootfs::make_erofs(&tree.root, &work_erofs, m.epoch, erofs_uuid)
        .context("cannot make the EROFS root")?;
    if erofs_size > m.root_limit {
        bail!(
            "the root file system is {} bytes; the product's root partition is only {} (raise partitions.root)",
            erofs_size,
            m.root_limit
        );
    }
    let erofs = read(&work_erofs, "the EROFS image")?;
    let erofs_sha: [u8; 32] = Sha256::digest(&erofs).into();

    m.steps.step("dm-verity");
    let salt = ids::verity_salt(&erofs_sha).to_vec();
    let verity_uuid = *ids::uuid(&product.name, &product.version, "verity-a").as_bytes();
    let (hash_area, root_hash, data_blocks) = verity_area(&erofs, salt.clone(), verity_uuid)?;
    if hash_area.len() as u64 > m.verity_limit {
        bail!(
            "the verity tree is {} bytes; the verity partition is only {}",
            hash_area.len(),
            m.verity_limit
        );
    }
    let root_hash: [u8; 32] = root_hash
        .as_slice()
        .try_into()
        .context("internal error: the verity root hash is not 32 bytes")?;

    m.steps.step("initramfs");
    // The product's modules, then what opening the encrypted state needs;
    // none for a kernel without modules (everything is built in).
    let mut modules = product.kernel.initramfs_modules();
    if kernel.info.modules {
        let state_modules = product
            .state
            .encryption
            .kernel_modules()
            .context("invalid state encryption")?;
        for module in state_modules {
            if !modules.iter().any(|have| have == module) {
                modules.push(module.to_owned());
            }
        }
    }
    let initrd = initramfs::build(&tree.root, &kernel.release, &modules, m.clip_init, mtime)?;
    crate::blockio::write_file_atomically(
        &m.artifacts.join("initramfs.cpio"),
        &initrd.bytes,
        0o644,
        true,
    )?;

    m.steps.step("UKI");
    let stub = read(
        &tree.root.join("usr/lib/systemd/boot/efi/linuxx64.efi.stub"),
        "systemd-stub",
    )?;
    let sdboot = read(
        &tree
            .root
            .join("usr/lib/systemd/boot/efi/systemd-bootx64.efi"),
        "systemd-boot",
    )?;
    let linux = read(&kernel.vmlinuz, "the kernel")?;
    let os_release = read(&tree.root.join("usr/lib/os-release"), "os-release")?;
    let parts = boot::UkiParts {
        stub: &stub,
        linux: &linux,
        initrd: &initrd.bytes,
        os_release: &os_release,
        uname: &kernel.release,
    };
    let mut ukis = Vec::new();
    for slot in Slot::ALL {
        let params = BootParams {
            slot,
            root_hash,
            salt: salt.clone(),
            data_blocks,
        };
        let line = boot::cmdline(&product.cmdline(), &params);
        boot::check_cmdline(&line, &product.cmdline())?;
        let (bytes, pcr11) = boot::uki(&parts, &line, m.signer, m.pcr_policy, slot)?;
        ukis.push((slot, bytes, line, pcr11));
    }
    let sdboot_signed = m.signer.sign(&sdboot, "systemd-boot")?;
    std::fs::copy(&kernel.vmlinuz, m.artifacts.join("vmlinuz"))
        .with_context(|| format!("cannot copy the kernel to {}", m.artifacts.display()))?;
    if let Some(stock) = tree.kernel.as_ref().and_then(|k| k.initrd.as_ref()) {
        std::fs::copy(stock, m.artifacts.join("debian-initrd.img"))
            .with_context(|| format!("cannot copy Debian's initrd to {}", m.artifacts.display()))?;
    }
    let params_a = BootParams {
        slot: Slot::A,
        root_hash,
        salt,
        data_blocks,
    };
    let release = release::write(
        m.release_dir,
        &release::Made {
            product,
            erofs: &erofs,
            hash_area: &hash_area,
            params: &params_a,
            bootloader: &sdboot_signed,
            ukis,
        },
    )?;
    Ok(Made {
        release,
        info: release::BuildInfo {
            kernel_version: kernel.release.clone(),
            kernel: Some(kernel.info.clone()),
            removed_packages: tree.removed.clone(),
            elf_audit: Some(elf_summary),
            service_scores,
            packages: tree.packages.clone(),
            initramfs_modules: initrd.modules.clone(),
            erofs_uuid: erofs_uuid.to_string(),
            hash_area_size: hash_area.len() as u64,
        },
        tree_from_cache: tree.from_cache,
    })
}

/// `(offset, chunk)` for each 64 KiB chunk of `bytes` that is not all zero.
fn non_zero_chunks(bytes: &[u8]) -> impl Iterator<Item = (u64, &[u8])> {
    const CHUNK: usize = 64 << 10;
    bytes
        .chunks(CHUNK)
        .enumerate()
        .filter(|(_, c)| c.iter().any(|b| *b != 0))
        .map(|(i, c)| ((i * CHUNK) as u64, c))
}

/// The verity partition's contents: a veritysetup-compatible superblock
/// padded to one 4096-byte hash block, then the tree (hash type 1, sha256,
/// 4096-byte blocks). Returns (bytes, root hash, data blocks).
fn verity_area(data: &[u8], salt: Vec<u8>, uuid: [u8; 16]) -> Result<(Vec<u8>, Vec<u8>, u64)> {
    const BLOCK: u32 = 4096;
    let len = data.len() as u64;
    if len == 0 || len % u64::from(BLOCK) != 0 {
        bail!("internal error: the EROFS image is {len} bytes, not a multiple of {BLOCK}");
    }
    let params = verity::Params {
        hash_type: verity::HashType::Normal,
        algorithm: verity::HashAlgorithm::Sha256,
        data_block_size: BLOCK,
        hash_block_size: BLOCK,
        data_blocks: len / u64::from(BLOCK),
        salt,
    };
    let mut builder = verity::TreeBuilder::new(params.clone()).context("verity parameters")?;
    builder.update(data).context("cannot hash the root")?;
    let tree = builder.finish().context("cannot finish the verity tree")?;
    let superblock = verity::Superblock {
        params: params.clone(),
        uuid,
    }
    .encode()
    .context("cannot encode the verity superblock")?;
    let mut area = superblock.to_vec();
    area.resize(BLOCK as usize, 0);
    area.extend_from_slice(tree.as_bytes());
    Ok((area, tree.root_hash().to_vec(), params.data_blocks))
}
