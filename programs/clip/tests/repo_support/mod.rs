//! Helpers of the `clip repo` tests: key sets, small fake releases (files
//! and a release.json that satisfy contract::release; `clip repo publish`
//! does not care what root.erofs holds), `clip repo serve`, python-tuf's
//! ngclient (the oracle, from the venv ./dev test installs) and our own
//! client (crates/tuf over crates/fetch).

#![allow(dead_code)]

#[path = "../keys_support/mod.rs"]
mod keys_support;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use contract::release::{File, Release, Uki, Verity};
use rand::{RngCore, SeedableRng};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub use keys_support::{Run, clip, copy_set, listing, scratch, shared_set};

pub const PRODUCT: &str = "clipos";

/// A key set (shared across the tests of a binary through keys_support's cache).
pub fn key_set(tag: &str) -> PathBuf {
    // One generation per tag even when tests ask at once.
    static SETS: std::sync::Mutex<BTreeMap<String, PathBuf>> =
        std::sync::Mutex::new(BTreeMap::new());
    let mut sets = SETS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    sets.entry(tag.to_owned())
        .or_insert_with(|| shared_set(tag, "Repo Test").0)
        .clone()
}

fn put(dir: &Path, name: &str, bytes: &[u8]) -> File {
    fs::write(dir.join(name), bytes).unwrap();
    File {
        name: name.into(),
        size: bytes.len() as u64,
        sha256: hex::encode(Sha256::digest(bytes)),
    }
}

/// BUILD/release/ of a fake release of `version`: a 4 MiB root.erofs (half
/// random bytes, half a repeated pattern), a verity area, two UKIs and a boot
/// loader, all different per version. Returns BUILD.
pub fn fake_build(base: &Path, version: &str) -> PathBuf {
    let build = base.join(format!("build-{version}"));
    let dir = build.join("release");
    fs::create_dir_all(&dir).unwrap();
    let seed: u64 = version.bytes().map(u64::from).sum();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut random = |n: usize| {
        let mut v = vec![0u8; n];
        rng.fill_bytes(&mut v);
        v
    };
    let mut root = random(2 << 20);
    root.extend(version.as_bytes().iter().cycle().take(2 << 20));
    let root = put(&dir, "root.erofs", &root);
    let verity = put(&dir, "root.verity", &random(40_960));
    let bootloader = put(&dir, "systemd-bootx64.efi", &random(100_000));
    let ukis = contract::Slot::ALL
        .iter()
        .map(|&slot| Uki {
            slot,
            file: put(&dir, &format!("{PRODUCT}-{slot}.efi"), &random(300_000)),
            cmdline: format!("clip.slot={slot}"),
            pcr11: json!({}),
        })
        .collect();
    let release = Release {
        format: contract::release::FORMAT,
        product: PRODUCT.into(),
        version: contract::Version::parse(version).unwrap(),
        root,
        verity: Verity {
            file: verity,
            root_hash: "ab".repeat(32),
            salt: "cd".repeat(32),
            data_blocks: 512,
        },
        ukis,
        bootloader,
    };
    release.check().unwrap();
    fs::write(dir.join("release.json"), release.to_json()).unwrap();
    build
}

/// `clip repo ARGS`.
pub fn repo<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Run {
    let mut all: Vec<std::ffi::OsString> = vec!["repo".into()];
    all.extend(args.iter().map(|a| a.as_ref().to_owned()));
    clip(&all)
}

pub fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A running `clip repo serve`, killed on drop.
pub struct Served {
    child: std::process::Child,
    pub url: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn serve(repo: &Path) -> Served {
    let (child, url) = keys_support::start_repo_server::<&str>(repo, &[]);
    Served { child, url }
}

fn cache_dir() -> PathBuf {
    let var = |name| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = var("CLIP_CACHE") {
        return dir.into();
    }
    if let Some(dir) = var("XDG_CACHE_HOME") {
        return PathBuf::from(dir).join("clip");
    }
    PathBuf::from(var("HOME").expect("HOME is not set")).join(".cache/clip")
}

/// python-tuf 7.0.1's venv (crates/tuf/tests/oracle: the same rule).
pub fn python() -> PathBuf {
    let venv = cache_dir().join("python-tuf/7.0.1");
    let python = venv.join("bin/python");
    assert!(
        python.is_file() && venv.join("requirements.txt").is_file(),
        "python-tuf 7.0.1 (the oracle) is missing at {}: run ./dev test, which installs it",
        venv.display()
    );
    python
}

/// python-tuf's ngclient Updater against `url`, trusting `root`, with its
/// metadata cache in `work` (kept between calls, as a device keeps it):
/// Ok(name -> downloaded bytes) or Err((exception class, message)).
pub fn ngclient(
    url: &str,
    root: &Path,
    work: &Path,
    names: &[&str],
) -> Result<BTreeMap<String, Vec<u8>>, (String, String)> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/repo_support/ngclient.py");
    let out = Command::new(python())
        .arg(script)
        .args([url, path(root), path(work)])
        .args(names)
        .output()
        .unwrap();
    let value: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "ngclient.py printed no JSON ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    if !out.status.success() {
        return Err((
            value["error"].as_str().unwrap().to_owned(),
            value["message"].as_str().unwrap().to_owned(),
        ));
    }
    Ok(value
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), fs::read(v.as_str().unwrap()).unwrap()))
        .collect())
}

fn now() -> tuf::Time {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    tuf::Time::from_unix(i64::try_from(secs).unwrap())
}

/// Our client (crates/tuf) over HTTP (crates/fetch), from `root`: the
/// metadata chain, then each target, verified. Err: the first refusal.
pub fn our_client(
    url: &str,
    root: &Path,
    names: &[&str],
) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let http = fetch::Client::new();
    let get = |name: &str, max: u64| -> Result<Vec<u8>, fetch::Error> {
        let mut body = Vec::new();
        http.fetch(&format!("{url}/{name}"), 0, max, &mut body)?;
        Ok(body)
    };
    let s = |e: &dyn std::fmt::Display| e.to_string();
    let mut client = tuf::Client::new(&fs::read(root).unwrap(), now()).map_err(|e| s(&e))?;
    loop {
        let (name, max) = client.next_root_request();
        match get(&format!("metadata/{name}"), max) {
            Ok(bytes) => client.update_root(&bytes).map_err(|e| s(&e))?,
            Err(e) if e.to_string().contains("404") => break,
            Err(e) => return Err(s(&e)),
        }
    }
    let ts = get("metadata/timestamp.json", tuf::TIMESTAMP_MAX_LENGTH).map_err(|e| s(&e))?;
    client.update_timestamp(&ts).map_err(|e| s(&e))?;
    let (name, max) = client.snapshot_request().map_err(|e| s(&e))?;
    let bytes = get(&format!("metadata/{name}"), max).map_err(|e| s(&e))?;
    client.update_snapshot(&bytes).map_err(|e| s(&e))?;
    let (name, max) = client.targets_request().map_err(|e| s(&e))?;
    let bytes = get(&format!("metadata/{name}"), max).map_err(|e| s(&e))?;
    client.update_targets(&bytes).map_err(|e| s(&e))?;
    let mut out = BTreeMap::new();
    for &name in names {
        let (file, max) = client.target_request(name).map_err(|e| s(&e))?;
        let bytes = get(&format!("targets/{file}"), max).map_err(|e| s(&e))?;
        client.verify_target(name, &bytes).map_err(|e| s(&e))?;
        out.insert(name.to_owned(), bytes);
    }
    Ok(out)
}

/// zstd-decompressed bytes.
pub fn unzstd(bytes: &[u8]) -> Vec<u8> {
    zstd::decode_all(bytes).unwrap()
}
