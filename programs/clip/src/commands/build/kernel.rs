//! The product's kernel for `clip build` (issue 10; docs/kernel.md): built
//! from Debian's source package with the product's fragments (crate
//! `kernel`), or Debian's prebuilt image from the root tree; in both cases
//! its configuration is checked against every setting of the fragments and
//! the report goes into the manifest. Also the product's sysctls and the
//! hardening expectations that `clip-status` checks on the device.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use kernel::{Config, Report, Setting};
use product::{KernelFrom, Product};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Where the product's sysctls go in the root (systemd-sysctl reads it at
/// boot; /etc/sysctl.d may override nothing: /etc is in the read-only root).
pub const SYSCTL_FILE: &str = "/usr/lib/sysctl.d/10-clip.conf";
/// What `clip-status` compares the running kernel with.
pub const HARDENING_FILE: &str = "/usr/lib/clip/hardening.json";
/// The kernel configuration among the build's artifacts.
pub const CONFIG_ARTIFACT: &str = "kernel.config";

/// What the product says about its kernel, read before any work.
pub struct Plan {
    pub from: KernelFrom,
    /// Every setting of the fragments: the policy.
    pub settings: Vec<Setting>,
    /// For a kernel from source.
    pub recipe: Option<kernel::Recipe>,
}

impl Plan {
    /// Reads the fragments (`kernel.config`, relative to `product_dir`).
    pub fn load(product: &Product, product_dir: &Path, epoch: u64) -> Result<Self> {
        let mut fragments = Vec::new();
        for rel in &product.kernel.config {
            let path = product_dir.join(rel);
            let text = std::fs::read_to_string(&path).with_context(|| {
                format!(
                    "cannot read the kernel configuration fragment {}",
                    path.display()
                )
            })?;
            fragments.push((rel.clone(), text));
        }
        let parsed = fragments
            .iter()
            .map(|(name, text)| kernel::fragment::parse(name, text))
            .collect::<Result<Vec<_>, _>>()
            .context("bad kernel configuration fragment")?;
        let settings =
            kernel::fragment::merge(&parsed).context("bad kernel configuration fragments")?;
        let recipe = match product.kernel.from {
            KernelFrom::Package => None,
            KernelFrom::Source => {
                let version = product
                    .kernel
                    .source_version
                    .as_deref()
                    .context("internal error: kernel.source_version was validated")?;
                Some(
                    kernel::Recipe::new(
                        &product.debian.suite,
                        &product.debian.mirror,
                        version,
                        &fragments,
                        epoch,
                    )
                    .context("cannot prepare the kernel build")?,
                )
            }
        };
        Ok(Plan {
            from: product.kernel.from,
            settings,
            recipe,
        })
    }

    /// Hashed into the release key: the policy (reasons too: they are in
    /// the manifest) and the kernel build's own key.
    pub fn key(&self) -> String {
        let mut h = Sha256::new();
        for s in &self.settings {
            h.update(format!("{}={} # {}\n", s.name, s.value, s.reason));
        }
        if let Some(r) = &self.recipe {
            h.update(format!("build={}\n", r.key()));
        }
        hex::encode(h.finalize())
    }
}

/// The kernel facts the manifest reports (kept with a cached release).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Info {
    /// `source` or `package`.
    pub from: String,
    /// uname -r.
    pub release: String,
    /// Debian version of the `linux` source package (from source).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_version: Option<String>,
    /// The kernel build's cache key (from source).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_key: Option<String>,
    /// Seconds the compilation took when it was built (from source).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_seconds: Option<f64>,
    /// Source files and their SHA-256 (from source).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_files: Vec<(String, String)>,
    pub config_sha256: String,
    pub bzimage_sha256: String,
    pub bzimage_bytes: u64,
    /// `CONFIG_MODULES=y`.
    pub modules: bool,
    pub policy: Report,
}

/// A kernel ready for the UKI.
pub struct Obtained {
    pub vmlinuz: PathBuf,
    pub release: String,
    pub config: String,
    pub info: Info,
}

/// Builds (or takes from the cache) the kernel of a source plan.
pub fn build_from_source(
    plan: &Plan,
    cache: &Path,
    work: &Path,
    offline: bool,
    progress: &dyn Fn(&str),
) -> Result<Obtained> {
    let recipe = plan
        .recipe
        .as_ref()
        .context("internal error: no kernel recipe")?;
    let jobs = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let built = kernel::build::build(
        &kernel::Request {
            recipe,
            cache_dir: cache,
            work_dir: work,
            jobs,
            offline,
        },
        progress,
    )
    .with_context(|| {
        format!(
            "cannot build the kernel (linux {} of Debian)",
            recipe.version
        )
    })?;
    let bytes = std::fs::metadata(&built.bzimage)
        .with_context(|| format!("cannot read {}", built.bzimage.display()))?
        .len();
    let config = Config::parse(&built.config);
    Ok(Obtained {
        vmlinuz: built.bzimage.clone(),
        release: built.facts.release.clone(),
        info: Info {
            from: "source".into(),
            release: built.facts.release.clone(),
            source_version: Some(recipe.version.clone()),
            build_key: Some(built.key.clone()),
            build_seconds: Some(built.facts.build_seconds),
            source_files: built.facts.source.clone(),
            config_sha256: hex::encode(Sha256::digest(built.config.as_bytes())),
            bzimage_sha256: built.facts.bzimage_sha256.clone(),
            bzimage_bytes: bytes,
            modules: config.get("CONFIG_MODULES") == "y",
            policy: built.report.clone(),
        },
        config: built.config,
    })
}

/// Debian's kernel from the tree, its configuration checked.
pub fn from_package(plan: &Plan, files: &rootfs::KernelFiles) -> Result<Obtained> {
    let config_text = match &files.config {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?,
        None if plan.settings.is_empty() => String::new(),
        None => bail!(
            "Debian's kernel {} has no /boot/config-{}: its configuration cannot be checked against kernel.config",
            files.kernel_version,
            files.kernel_version
        ),
    };
    let config = Config::parse(&config_text);
    let report = kernel::policy::check(&plan.settings, &config);
    if !report.passed() {
        return Err(kernel::build::policy_error(report)).with_context(|| {
            format!(
                "Debian's kernel {} does not meet the product's kernel policy",
                files.kernel_version
            )
        });
    }
    let bzimage = std::fs::read(&files.vmlinuz)
        .with_context(|| format!("cannot read {}", files.vmlinuz.display()))?;
    Ok(Obtained {
        vmlinuz: files.vmlinuz.clone(),
        release: files.kernel_version.clone(),
        info: Info {
            from: "package".into(),
            release: files.kernel_version.clone(),
            source_version: None,
            build_key: None,
            build_seconds: None,
            source_files: Vec::new(),
            config_sha256: hex::encode(Sha256::digest(config_text.as_bytes())),
            bzimage_sha256: hex::encode(Sha256::digest(&bzimage)),
            bzimage_bytes: bzimage.len() as u64,
            modules: config.get("CONFIG_MODULES") == "y",
            policy: report,
        },
        config: config_text,
    })
}

/// `/usr/lib/sysctl.d/10-clip.conf`, or `None` when the product sets none.
pub fn sysctl_conf(product: &Product) -> Option<String> {
    if product.sysctl.is_empty() {
        return None;
    }
    let mut text = format!(
        "# [sysctl] of the product {} (written by clip build; checked by clip-status)\n",
        product.name
    );
    for (name, value) in &product.sysctl {
        text.push_str(&format!("{name} = {value}\n"));
    }
    Some(text)
}

/// The lockdown mode the running kernel must report: the stronger of the
/// command line's `lockdown=` and what the kernel's configuration forces
/// (the kernel only ever raises the level); `None` when neither says.
pub fn expected_lockdown(product: &Product, config: Option<&Config>) -> Option<String> {
    const LEVELS: [&str; 3] = ["none", "integrity", "confidentiality"];
    let rank = |m: &str| LEVELS.iter().position(|l| *l == m);
    let from_cmdline = product
        .kernel
        .cmdline
        .iter()
        .rev()
        .find_map(|a| a.strip_prefix("lockdown="))
        .and_then(rank);
    let from_config = config.and_then(|c| {
        if c.get("CONFIG_LOCK_DOWN_KERNEL_FORCE_CONFIDENTIALITY") == "y" {
            Some(2)
        } else if c.get("CONFIG_LOCK_DOWN_KERNEL_FORCE_INTEGRITY") == "y" {
            Some(1)
        } else {
            None
        }
    });
    from_cmdline.max(from_config).map(|i| LEVELS[i].to_owned())
}

/// `/usr/lib/clip/hardening.json`: the sysctls and lockdown mode
/// `clip-status` checks after boot.
pub fn hardening_json(product: &Product, lockdown: Option<&str>) -> Result<Vec<u8>> {
    let sysctl: serde_json::Map<String, serde_json::Value> = product
        .sysctl
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.to_string())))
        .collect();
    let mut doc = serde_json::json!({ "sysctl": sysctl });
    if let Some(mode) = lockdown {
        doc["lockdown"] = serde_json::Value::String(mode.to_owned());
    }
    let mut bytes = serde_json::to_vec_pretty(&doc).context("cannot encode hardening.json")?;
    bytes.push(b'\n');
    Ok(bytes)
}
