//! manifest.json: what a build made, with sizes and hashes, so that a
//! person, a test or the update server can check an image without opening it.

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::disk::Placed;
use contract::BootParams;

/// Format version of manifest.json.
pub const FORMAT: u32 = 1;

#[derive(Debug)]
pub struct Manifest<'a> {
    pub product: &'a product::Product,
    pub epoch: u64,
    pub kernel_version: &'a str,
    pub packages: &'a [(String, String)],
    pub tree_from_cache: bool,
    pub keys_dir: &'a Path,
    pub keys_generated: bool,
    /// `pkfp` of the PCR-policy key (as `.pcrsig` names it).
    pub pcr_policy_pkfp: String,
    /// The PCR-policy key was added to OUT/keys by this build.
    pub pcr_key_added: bool,
    pub erofs_size: u64,
    pub erofs_sha256: String,
    pub erofs_uuid: uuid::Uuid,
    pub slot_a: &'a BootParams,
    /// Slot A's predicted PCR 11 and signed policy ([`super::boot::uki`]).
    pub pcr11_a: &'a Value,
    pub hash_area_size: u64,
    pub cmdline_a: &'a str,
    /// Slot A's UKI, relative to the output directory.
    pub uki_a: &'a str,
    pub initramfs_modules: &'a [String],
    /// Where the kernel came from and its policy report.
    pub kernel: Option<&'a super::kernel::Info>,
    /// `debian.remove`: package and files removed.
    pub removed_packages: &'a [(String, usize)],
    /// Totals of the per-ELF hardening audit.
    pub elf_audit: Option<&'a super::elf::Summary>,
    /// Exposure of the services the image starts.
    pub service_scores: &'a [super::security::Score],
    /// [`super::release::manifest_json`].
    pub release: Value,
    pub placed: &'a [Placed],
    pub disk_size: u64,
    pub disk_guid: uuid::Uuid,
    /// [`files`] of the output directory.
    pub files: Vec<Value>,
    pub timings: &'a [(&'static str, f64)],
    pub total_seconds: f64,
}

/// Size and SHA-256 of a file in the output directory.
fn file_entry(out: &Path, rel: &str) -> Result<Value> {
    let path = out.join(rel);
    let mut file =
        std::fs::File::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut hasher = Sha256::new();
    let size = std::io::copy(&mut file, &mut hasher)
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(json!({ "path": rel, "size": size, "sha256": hex::encode(hasher.finalize()) }))
}

/// Size and SHA-256 of every file of the release and of the artifacts (in
/// name order). Not of disk.img: hashing its 4.8 GiB, mostly holes, took
/// half of a rebuild, and the disk is fixed by what is listed here and in
/// `disk` (the GPT, the partitions' places; slot A holds the release).
pub fn files(out: &Path) -> Result<Vec<Value>> {
    let mut names = Vec::new();
    for dir in [super::release::RELEASE_DIR, super::ARTIFACTS_DIR] {
        let listed = std::fs::read_dir(out.join(dir))
            .with_context(|| format!("cannot list {}", out.join(dir).display()))?;
        for e in listed.filter_map(|e| e.ok()) {
            if e.file_type().is_ok_and(|t| t.is_file()) {
                names.push(format!("{dir}/{}", e.file_name().to_string_lossy()));
            }
        }
    }
    names.sort();
    names.iter().map(|rel| file_entry(out, rel)).collect()
}

/// The command line checks the product waived (`kernel.allow_cmdline`),
/// each with the reason it exists and the arguments it let through.
fn waived_cmdline_checks(product: &product::Product) -> Vec<Value> {
    product
        .cmdline_waivers()
        .into_iter()
        .map(|w| {
            json!({
                "check": w.check.name(),
                "why": w.check.why(),
                "arguments": w.arguments,
            })
        })
        .collect()
}

impl Manifest<'_> {
    pub fn to_json(&self) -> Result<Value> {
        let p = self.product;
        let partitions: Vec<Value> = self
            .placed
            .iter()
            .map(|q| {
                json!({
                    "name": q.name,
                    "type": q.type_guid.to_string(),
                    "uuid": q.unique_guid.to_string(),
                    "offset": q.offset,
                    "size": q.size,
                })
            })
            .collect();
        let timings: serde_json::Map<String, Value> = self
            .timings
            .iter()
            .map(|(k, v)| ((*k).to_owned(), json!((v * 100.0).round() / 100.0)))
            .collect();
        Ok(json!({
            "format": FORMAT,
            "product": { "name": p.name, "pretty_name": p.pretty_name, "version": p.version },
            "source_date_epoch": self.epoch,
            "debian": {
                "suite": p.debian.suite,
                "kernel": self.kernel_version,
                "tree_from_cache": self.tree_from_cache,
                "packages": self.packages.iter().map(|(n, v)| json!({"name": n, "version": v})).collect::<Vec<_>>(),
                "removed": self.removed_packages.iter().map(|(n, files)| json!({"name": n, "files": files})).collect::<Vec<_>>(),
            },
            "keys": {
                "directory": self.keys_dir.display().to_string(),
                "generated": self.keys_generated,
                "pcr_policy_pkfp": self.pcr_policy_pkfp,
                "pcr_policy_key_added": self.pcr_key_added,
            },
            "root": {
                "filesystem": "erofs",
                "size": self.erofs_size,
                "sha256": self.erofs_sha256,
                "uuid": self.erofs_uuid.to_string(),
            },
            "slots": {
                "a": {
                    "verity": {
                        "root_hash": self.slot_a.root_hash_hex(),
                        "salt": hex::encode(&self.slot_a.salt),
                        "data_blocks": self.slot_a.data_blocks,
                        "hash_algorithm": "sha256",
                        "block_size": 4096,
                        "hash_area_size": self.hash_area_size,
                    },
                    "cmdline": self.cmdline_a,
                    "uki": self.uki_a,
                    "pcr11": self.pcr11_a,
                },
                "b": null,
            },
            "release": self.release,
            "waived_cmdline_checks": waived_cmdline_checks(p),
            "initramfs": { "modules": self.initramfs_modules },
            "kernel": self.kernel.map(|k| json!({
                "from": k.from,
                "release": k.release,
                "source_version": k.source_version,
                "build_key": k.build_key,
                "build_seconds": k.build_seconds.map(|s| (s * 10.0).round() / 10.0),
                "source_files": k.source_files.iter().map(|(n, h)| json!({"name": n, "sha256": h})).collect::<Vec<_>>(),
                "config": format!("{}/{}", super::ARTIFACTS_DIR, super::kernel::CONFIG_ARTIFACT),
                "config_sha256": k.config_sha256,
                "image_sha256": k.bzimage_sha256,
                "image_bytes": k.bzimage_bytes,
                "modules": k.modules,
                "policy": k.policy,
            })),
            "services": self.service_scores,
            "elf_audit": self.elf_audit.map(|s| json!({
                "list": format!("{}/{}", super::ARTIFACTS_DIR, super::elf::ARTIFACT),
                "totals": s,
            })),
            "sysctl": p.sysctl.iter().map(|(k, v)| (k.clone(), json!(v.to_string()))).collect::<serde_json::Map<_, _>>(),
            "disk": {
                "file": super::IMAGE_FILE,
                "size": self.disk_size,
                "guid": self.disk_guid.to_string(),
                "partitions": partitions,
            },
            "files": self.files,
            "timings_seconds": timings,
            "total_seconds": (self.total_seconds * 10.0).round() / 10.0,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(waive: bool) -> product::Product {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../products/clipos");
        let mut text = std::fs::read_to_string(dir.join(product::PRODUCT_FILE)).unwrap();
        if waive {
            text = text
                .replace(
                    "\"panic=10\",",
                    "\"panic=10\", \"systemd.debug_shell\", \"rd.systemd.debug_shell\", \"init=/bin/sh\",",
                )
                .replace(
                    "from = \"source\"\n",
                    "from = \"source\"\nallow_cmdline = [\"init\", \"debug_shell\"]\n",
                );
        }
        product::Product::parse(&text, Path::new("product.toml")).unwrap()
    }

    fn manifest_json(p: &product::Product) -> Value {
        let slot = BootParams {
            slot: contract::Slot::A,
            root_hash: [1; 32],
            salt: vec![2; 32],
            data_blocks: 3,
        };
        Manifest {
            product: p,
            epoch: 0,
            kernel_version: "6.12.0-test",
            packages: &[],
            tree_from_cache: false,
            keys_dir: Path::new("keys"),
            keys_generated: false,
            pcr_policy_pkfp: "00".repeat(32),
            pcr_key_added: false,
            erofs_size: 4096,
            erofs_sha256: "00".repeat(32),
            erofs_uuid: uuid::Uuid::nil(),
            slot_a: &slot,
            pcr11_a: &Value::Null,
            hash_area_size: 8192,
            cmdline_a: "quiet",
            uki_a: "release/clipos-a.efi",
            initramfs_modules: &[],
            kernel: None,
            removed_packages: &[],
            elf_audit: None,
            service_scores: &[],
            release: Value::Null,
            placed: &[],
            disk_size: 1 << 20,
            disk_guid: uuid::Uuid::nil(),
            files: Vec::new(),
            timings: &[],
            total_seconds: 1.0,
        }
        .to_json()
        .unwrap()
    }

    #[test]
    fn records_waived_cmdline_checks() {
        let m = manifest_json(&product(true));
        assert_eq!(
            m["waived_cmdline_checks"],
            json!([
                {
                    "check": "init",
                    "why": product::CmdlineCheck::Init.why(),
                    "arguments": ["init=/bin/sh"],
                },
                {
                    "check": "debug_shell",
                    "why": "it starts a root shell that asks no password",
                    "arguments": ["systemd.debug_shell", "rd.systemd.debug_shell"],
                },
            ])
        );
        // Nothing waived: an empty list, present so that readers need not
        // guess what a missing key means.
        let m = manifest_json(&product(false));
        assert_eq!(m["waived_cmdline_checks"], json!([]));
    }
}
