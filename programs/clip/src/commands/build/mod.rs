//! `clip build`: a product definition in, a signed, verified, bootable GPT
//! disk image out (docs/image.md describes every piece and how they fit).
//!
//! Steps: root tree (crates/rootfs: mmdebstrap, cached by content; system
//! configuration) → EROFS → dm-verity tree (crates/verity) → initramfs with
//! clip-init and its modules → one signed UKI per slot → signed systemd-boot
//! and loader entries on a FAT ESP → GPT image → manifest.json, written
//! last: an output directory without a manifest is not a finished build.

mod boot;
mod disk;
mod ids;
mod initramfs;
mod manifest;

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

pub fn run(args: BuildArgs) -> Result<()> {
    let product = product::Product::load(&args.product)
        .with_context(|| format!("cannot load the product in {}", args.product.display()))?;
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
    let mtime = u32::try_from(epoch)
        .context("SOURCE_DATE_EPOCH does not fit the initramfs' 32-bit timestamps")?;
    let cache = cache_dir(args.cache.as_deref())?;
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
    std::fs::create_dir_all(&artifacts)
        .with_context(|| format!("cannot create {}", artifacts.display()))?;
    let work = out.join("work");
    if work.exists() {
        std::fs::remove_dir_all(&work)
            .with_context(|| format!("cannot clean {}", work.display()))?;
    }
    std::fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;

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
            .with_context(|| format!("cannot add the PCR-policy key to {}", keys_dir.display()))?;
    if pcr_key_added {
        tracing::warn!(
            "added a PCR-policy key to {} (its set predates the key); every other key is kept",
            keys_dir.display()
        );
    }
    let pcr_policy = boot::pcr_policy(&keys_dir)?;

    steps.step("root tree");
    let extra_files = [
        rootfs::ExtraFile {
            path: "/usr/bin/clip-status".into(),
            contents: clip_status,
            mode: 0o755,
        },
        rootfs::ExtraFile {
            path: "/usr/lib/systemd/system/clip-status.service".into(),
            contents: clip_status_unit,
            mode: 0o644,
        },
    ];
    let extra_services = ["clip-status.service".to_owned()];
    let request = rootfs::TreeRequest {
        product: &product,
        cache_dir: &cache,
        work_dir: &work,
        source_date_epoch: epoch,
        extra_files: &extra_files,
        extra_services: &extra_services,
        cache: if args.refresh {
            rootfs::CachePolicy::Refresh
        } else if args.offline {
            rootfs::CachePolicy::Offline
        } else {
            rootfs::CachePolicy::Reuse
        },
    };
    let tree = rootfs::build_tree(&request, &|text| steps.detail(text))
        .context("cannot build the root tree")?;

    steps.step("EROFS");
    let erofs_path = artifacts.join("root.erofs");
    let erofs_uuid = ids::uuid(&product.name, &product.version, "erofs");
    let erofs_size = rootfs::make_erofs(&tree.root, &erofs_path, epoch, erofs_uuid)
        .context("cannot make the EROFS root")?;
    if erofs_size > sizes.root {
        bail!(
            "the root file system is {} bytes; the product's root partition is only {} (raise partitions.root)",
            erofs_size,
            sizes.root
        );
    }
    let erofs = read(&erofs_path, "the EROFS image")?;
    let erofs_sha: [u8; 32] = Sha256::digest(&erofs).into();

    steps.step("dm-verity");
    let salt = ids::verity_salt(&erofs_sha).to_vec();
    let verity_uuid = *ids::uuid(&product.name, &product.version, "verity-a").as_bytes();
    let (hash_area, root_hash, data_blocks) = verity_area(&erofs, salt.clone(), verity_uuid)?;
    if hash_area.len() as u64 > sizes.verity {
        bail!(
            "the verity tree is {} bytes; the verity partition is only {}",
            hash_area.len(),
            sizes.verity
        );
    }
    crate::blockio::write_file_atomically(&artifacts.join("root.verity"), &hash_area, 0o644, true)?;
    let slot_a = BootParams {
        slot: Slot::A,
        root_hash: root_hash
            .as_slice()
            .try_into()
            .context("internal error: the verity root hash is not 32 bytes")?,
        salt: salt.clone(),
        data_blocks,
    };

    steps.step("initramfs");
    // The product's modules, then what opening the encrypted state needs.
    let mut modules = product.kernel.initramfs_modules.clone();
    let state_modules = product
        .state
        .encryption
        .kernel_modules()
        .context("invalid state encryption")?;
    for m in state_modules {
        if !modules.iter().any(|have| have == m) {
            modules.push(m.to_owned());
        }
    }
    let initrd = initramfs::build(
        &tree.root,
        &tree.kernel_version,
        &modules,
        &clip_init,
        mtime,
    )?;
    crate::blockio::write_file_atomically(
        &artifacts.join("initramfs.cpio"),
        &initrd.bytes,
        0o644,
        true,
    )?;

    steps.step("UKI");
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
    let linux = read(&tree.vmlinuz, "the kernel")?;
    let os_release = read(&tree.root.join("usr/lib/os-release"), "os-release")?;
    let parts = boot::UkiParts {
        stub: &stub,
        linux: &linux,
        initrd: &initrd.bytes,
        os_release: &os_release,
        uname: &tree.kernel_version,
    };
    let cmdline_a = boot::cmdline(&product.cmdline(), &slot_a);
    boot::check_cmdline(&cmdline_a, &product.cmdline())?;
    let (uki_a, pcr11_a) = boot::uki(&parts, &cmdline_a, &signer, &pcr_policy, Slot::A)?;
    let uki_a_name = format!("{}-a.efi", product.name);
    crate::blockio::write_file_atomically(&artifacts.join(&uki_a_name), &uki_a, 0o644, true)?;
    let sdboot_signed = signer.sign(&sdboot, "systemd-boot")?;
    crate::blockio::write_file_atomically(
        &artifacts.join("systemd-bootx64.efi"),
        &sdboot_signed,
        0o644,
        true,
    )?;
    std::fs::copy(&tree.vmlinuz, artifacts.join("vmlinuz"))
        .with_context(|| format!("cannot copy the kernel to {}", artifacts.display()))?;
    if let Some(stock) = &tree.stock_initrd {
        std::fs::copy(stock, artifacts.join("debian-initrd.img"))
            .with_context(|| format!("cannot copy Debian's initrd to {}", artifacts.display()))?;
    }

    steps.step("ESP");
    let entry_a = boot::entry_name(&product.name, Slot::A);
    let mut esp = esp::Esp::new()
        .fat32(true)
        .volume_id(ids::volume_id(&product.name, &product.version));
    esp.add(esp::BOOT_X64, sdboot_signed.clone())?;
    esp.add("EFI/systemd/systemd-bootx64.efi", sdboot_signed.clone())?;
    esp.add(&boot::uki_path(&product.name, Slot::A), uki_a.clone())?;
    esp.add(
        "loader/loader.conf",
        boot::loader_conf(&entry_a).into_bytes(),
    )?;
    esp.add(
        &format!("loader/entries/{entry_a}"),
        boot::loader_entry(
            &product.pretty_name,
            &product.name,
            &product.version,
            Slot::A,
        )
        .into_bytes(),
    )?;
    let esp_bytes = esp.build(sizes.esp).context("cannot build the ESP")?;

    steps.step("disk image");
    let slot_a_guids = gpt::types::verity_partition_uuids(&root_hash)
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

    if !args.keep_tree {
        std::fs::remove_dir_all(&work)
            .with_context(|| format!("cannot remove {}", work.display()))?;
    }

    steps.step("manifest");
    let files = manifest::files(out)?;
    let (timings, total) = steps.finish();
    let manifest = manifest::Manifest {
        product: &product,
        epoch,
        kernel_version: &tree.kernel_version,
        packages: &tree.packages,
        tree_from_cache: tree.from_cache,
        keys_dir: &keys_dir,
        keys_generated,
        pcr_policy_pkfp: pcr_policy.pkfp()?,
        pcr_key_added,
        erofs_size,
        erofs_sha256: hex::encode(erofs_sha),
        erofs_uuid,
        slot_a: &slot_a,
        pcr11_a: &pcr11_a,
        hash_area_size: hash_area.len() as u64,
        cmdline_a: &cmdline_a,
        initramfs_modules: &initrd.modules,
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
        .field("size", "Disk size", plan.disk_size())
        .field("root_hash", "Root hash (slot A)", hex::encode(&root_hash))
        .field("kernel", "Kernel", tree.kernel_version.clone())
        .field("packages", "Packages", tree.packages.len())
        .field("manifest", "Manifest", manifest_path.display().to_string())
        .field(
            "seconds",
            "Build time (s)",
            json!((total * 10.0).round() / 10.0),
        )
        .print(false)?;
    Ok(())
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
