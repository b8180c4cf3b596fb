//! Shared by the luks2 integration tests: running cryptsetup (the
//! reference implementation; a missing one fails the test, never skips),
//! applying the crate's writes to a file, deterministic randomness.

#![allow(dead_code)]

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use luks2::{Header, VolumeKey, Write};
use rand::SeedableRng;
use rand::rngs::StdRng;

pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// Path of cryptsetup; panics when it is not installed.
pub fn cryptsetup_path() -> PathBuf {
    [
        "/usr/sbin/cryptsetup",
        "/sbin/cryptsetup",
        "/usr/bin/cryptsetup",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.is_file())
    .expect("cryptsetup not found: ./dev installs cryptsetup-bin")
}

/// Exit code, stdout and stderr of a cryptsetup run.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn cryptsetup(args: &[&str]) -> Out {
    let out = Command::new(cryptsetup_path())
        .args(args)
        .env("LC_ALL", "C")
        .output()
        .expect("cryptsetup runs");
    Out {
        code: out.status.code().expect("cryptsetup exits"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// cryptsetup must succeed.
pub fn cryptsetup_ok(args: &[&str]) -> Out {
    let out = cryptsetup(args);
    assert_eq!(
        out.code, 0,
        "cryptsetup {args:?} failed:\n{}\n{}",
        out.stdout, out.stderr
    );
    out
}

/// A scratch directory with one device image.
pub struct Image {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl Image {
    /// A zero-filled (sparse) image of `size` bytes.
    pub fn new(size: u64) -> Image {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("disk.img");
        std::fs::File::create(&path)
            .and_then(|f| f.set_len(size))
            .expect("image");
        Image { dir, path }
    }

    pub fn p(&self) -> &str {
        self.path.to_str().expect("UTF-8 path")
    }

    /// A file in the scratch directory holding `bytes`; its path.
    pub fn file(&self, name: &str, bytes: &[u8]) -> String {
        let p = self.dir.path().join(name);
        std::fs::write(&p, bytes).expect("write file");
        p.to_str().expect("UTF-8 path").to_owned()
    }

    pub fn apply(&self, writes: &[Write]) {
        apply(&self.path, writes);
    }

    pub fn read_header(&self) -> Result<Header, luks2::Error> {
        let bytes = std::fs::read(&self.path).expect("read image");
        Header::parse(&bytes)
    }

    pub fn bytes(&self) -> Vec<u8> {
        std::fs::read(&self.path).expect("read image")
    }

    /// `read_at` over the image file.
    pub fn reader(&self) -> impl FnMut(u64, &mut [u8]) -> std::io::Result<()> + '_ {
        let f = std::fs::File::open(&self.path).expect("open image");
        move |offset, buf| f.read_exact_at(buf, offset)
    }

    /// The volume key cryptsetup unlocks with `key_file`.
    pub fn cryptsetup_volume_key(&self, key_file: &str) -> VolumeKey {
        let out = self.dir.path().join(format!("vk-{}", rand_name()));
        let out_s = out.to_str().expect("UTF-8 path");
        cryptsetup_ok(&[
            "luksDump",
            "--dump-volume-key",
            "--batch-mode",
            "--key-file",
            key_file,
            "--volume-key-file",
            out_s,
            self.p(),
        ]);
        let vk = std::fs::read(&out).expect("volume key file");
        std::fs::remove_file(&out).expect("remove volume key file");
        VolumeKey::new(vk)
    }

    /// cryptsetup's exit code for `open --test-passphrase` with `key_file`.
    pub fn cryptsetup_test(&self, key_file: &str) -> i32 {
        cryptsetup(&[
            "open",
            "--test-passphrase",
            "--key-file",
            key_file,
            self.p(),
        ])
        .code
    }
}

fn rand_name() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Performs the writes in order.
pub fn apply(path: &Path, writes: &[Write]) {
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open image");
    for w in writes {
        f.write_all_at(&w.bytes, w.offset).expect("write");
    }
}

/// Rewrites the JSON area of the copy at `offset` (header size `hdr_size`)
/// with `json` and recomputes its sha256 checksum, as a tool writing a
/// well-formed but different header would.
pub fn reseal(image: &mut [u8], offset: usize, hdr_size: usize, json: &serde_json::Value) {
    reseal_raw(
        image,
        offset,
        hdr_size,
        &serde_json::to_vec(json).expect("JSON"),
    );
}

/// [`reseal`] with raw JSON area bytes.
pub fn reseal_raw(image: &mut [u8], offset: usize, hdr_size: usize, text: &[u8]) {
    use sha2::Digest;
    let area = &mut image[offset + 4096..offset + hdr_size];
    area.fill(0);
    area[..text.len()].copy_from_slice(text);
    image[offset + 448..offset + 512].fill(0);
    let mut h = sha2::Sha256::new();
    h.update(&image[offset..offset + hdr_size]);
    let sum = h.finalize();
    image[offset + 448..offset + 480].copy_from_slice(&sum);
}

/// An image formatted by cryptsetup with `extra` options, passphrase file
/// "pass" holding `pass`; returns the image and that file's path.
pub fn cryptsetup_format(size: u64, pass: &[u8], extra: &[&str]) -> (Image, String) {
    let img = Image::new(size);
    let key = img.file("pass", pass);
    let mut args = vec![
        "luksFormat",
        "--type",
        "luks2",
        "--batch-mode",
        "--key-file",
        key.as_str(),
    ];
    args.extend_from_slice(extra);
    args.push(img.p());
    cryptsetup_ok(&args);
    (img, key)
}
