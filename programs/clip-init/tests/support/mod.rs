//! Fixtures of the clip-init boot tests: the static binaries, Debian
//! trixie's kernel and modules, the initramfs, a GPT disk with an EROFS
//! root + dm-verity tree + blank state partition, and a bounded QEMU run.

#![allow(dead_code)]

use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gpt::{Attributes, DiskLayout, PartitionSpec, Size, Uuid, types};
use sha2::Digest;

/// Modules the tests' initramfs loads (dependencies are added). crc32c is
/// a soft dependency of ext4, jbd2 and libcrc32c (modules.softdep), loaded
/// through the crypto API, so it is named here; the generic one, because
/// crc32c-intel needs SSE4.2, which QEMU's default TCG CPU lacks.
pub const MODULES: &[&str] = &[
    "crc32c_generic",
    "virtio_blk",
    "dm-verity",
    "erofs",
    "ext4",
    "dm-integrity",
    "dm-crypt",
    "xts",
    "authenc",
    "aesni_intel",
    "sha256_ssse3",
    "aegis128",
    "aegis128-aesni",
];
pub const MIB: u64 = 1 << 20;
pub const SALT: [u8; 32] = [0x5a; 32];

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn tmp_root() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
}

pub fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// clip-init and the test root's init, linked statically, in a target
/// directory of their own (RUSTFLAGS would otherwise rebuild the main one).
pub fn static_binaries() -> (PathBuf, PathBuf) {
    let target_dir = tmp_root().join("clip-init-static");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    run(Command::new(cargo)
        .current_dir(workspace_root())
        .args(["build", "--quiet", "--release", "-p", "clip-init"])
        .args(["--bin", "clip-init", "--example", "test-root-init"])
        .args(["--target", "x86_64-unknown-linux-gnu", "--target-dir"])
        .arg(&target_dir)
        .env(
            "RUSTFLAGS",
            "-C target-feature=+crt-static -C strip=symbols",
        ));
    let out = target_dir.join("x86_64-unknown-linux-gnu/release");
    (out.join("clip-init"), out.join("examples/test-root-init"))
}

/// Extracted linux-image-amd64 of trixie: (dir, kernel version).
pub fn kernel() -> (PathBuf, String) {
    let out = run(Command::new(workspace_root().join("scripts/fetch-deb"))
        .args(["trixie", "linux-image-amd64"]));
    let dir = PathBuf::from(out.trim());
    let modules = dir.join("usr/lib/modules");
    let mut versions: Vec<String> = std::fs::read_dir(&modules)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(
        versions.len(),
        1,
        "kernel versions in {modules:?}: {versions:?}"
    );
    (dir, versions.pop().unwrap())
}

/// modules.dep of the package (which ships none), made once by the host's
/// depmod on a hard-linked copy and kept beside the test binaries.
pub fn modules_dep(kdir: &Path, kver: &str) -> String {
    let digest = hex::encode(sha2::Sha256::digest(kdir.as_os_str().as_encoded_bytes()));
    let cached = tmp_root().join(format!("modules.dep-{kver}-{}", &digest[..16]));
    if let Ok(text) = std::fs::read_to_string(&cached) {
        return text;
    }
    let work = tempfile::tempdir_in(tmp_root()).unwrap();
    // Bookworm's depmod looks under <base>/lib/modules.
    let copy = work.path().join("lib/modules");
    std::fs::create_dir_all(&copy).unwrap();
    let src = kdir.join("usr/lib/modules").join(kver);
    let linked = Command::new("cp")
        .arg("-al")
        .arg(&src)
        .arg(&copy)
        .status()
        .unwrap();
    if !linked.success() {
        run(Command::new("cp").arg("-a").arg(&src).arg(&copy));
    }
    run(Command::new("depmod").arg("-b").arg(work.path()).arg(kver));
    let text = std::fs::read_to_string(copy.join(kver).join("modules.dep")).unwrap();
    let tmp = cached.with_extension("tmp");
    std::fs::write(&tmp, &text).unwrap();
    std::fs::rename(&tmp, &cached).unwrap();
    text
}

/// The initramfs as the contract lays it out, with `extra` files (path,
/// contents) under `/.extra` as systemd-stub adds them from the UKI.
pub fn initramfs(init: &[u8], kdir: &Path, kver: &str, extra: &[(&str, &[u8])]) -> Vec<u8> {
    let closure = kmod::module_closure(&modules_dep(kdir, kver), MODULES).unwrap();
    let mut w = cpio::Writer::new(0);
    for dir in [
        "dev",
        "proc",
        "sys",
        "sysroot",
        "run",
        "etc",
        "etc/clip-init",
    ] {
        w.dir(dir, 0o755).unwrap();
    }
    w.char_dev("dev/console", 0o600, 5, 1).unwrap();
    w.file("init", 0o755, init).unwrap();
    let mut dirs = std::collections::BTreeSet::new();
    let mut list = String::new();
    for rel in &closure {
        let inside = format!("usr/lib/modules/{kver}/{rel}");
        let mut parent = Path::new(&inside).parent();
        while let Some(p) = parent.filter(|p| !p.as_os_str().is_empty()) {
            dirs.insert(p.to_str().unwrap().to_owned());
            parent = p.parent();
        }
        list.push_str(&format!("/{inside}\n"));
    }
    // BTreeSet order puts every parent before its children.
    for d in &dirs {
        w.dir(d, 0o755).unwrap();
    }
    for rel in &closure {
        let bytes = std::fs::read(kdir.join("usr/lib/modules").join(kver).join(rel)).unwrap();
        w.file(&format!("usr/lib/modules/{kver}/{rel}"), 0o644, &bytes)
            .unwrap();
    }
    w.file("etc/clip-init/modules", 0o644, list.as_bytes())
        .unwrap();
    if !extra.is_empty() {
        w.dir(".extra", 0o755).unwrap();
    }
    for (name, bytes) in extra {
        w.file(&format!(".extra/{name}"), 0o444, bytes).unwrap();
    }
    w.finish()
}

fn chown(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid)).unwrap();
}

fn mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The host's mke2fs with its libraries, laid out as Debian does (absolute
/// loader symlink through /lib64 included).
fn add_mke2fs(root: &Path) {
    let libdir = root.join("usr/lib/x86_64-linux-gnu");
    std::fs::create_dir_all(&libdir).unwrap();
    std::fs::create_dir_all(root.join("usr/lib64")).unwrap();
    std::fs::create_dir_all(root.join("usr/sbin")).unwrap();
    std::fs::copy("/usr/sbin/mke2fs", root.join("usr/sbin/mke2fs")).unwrap();
    let ldd = run(Command::new("ldd").arg("/usr/sbin/mke2fs"));
    for l in ldd.lines() {
        // "libext2fs.so.2 => /lib/x86_64-linux-gnu/libext2fs.so.2 (0x...)"
        // or "/lib64/ld-linux-x86-64.so.2 (0x...)".
        let path = match l.split_once("=>") {
            Some((_, right)) => right.split_whitespace().next(),
            None => l.split_whitespace().next().filter(|p| p.starts_with('/')),
        };
        let Some(path) = path else { continue };
        let name = Path::new(path).file_name().unwrap();
        let real = std::fs::canonicalize(path).unwrap();
        std::fs::copy(&real, libdir.join(name)).unwrap();
    }
    std::os::unix::fs::symlink(
        "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
        root.join("usr/lib64/ld-linux-x86-64.so.2"),
    )
    .unwrap();
    std::os::unix::fs::symlink("usr/lib64", root.join("lib64")).unwrap();
    std::os::unix::fs::symlink("usr/lib", root.join("lib")).unwrap();
}

pub const STATE_JSON: &str = r#"{"recovery_hook":"/usr/lib/clip/recovery-hook","paths":[
 {"path":"/var/lib","kind":"dir","mode":"0755","owner":"root","group":"root","options":["nodev","nosuid","noexec"]},
 {"path":"/var/log","kind":"dir","mode":"0750","owner":"root","group":"adm","options":["nodev","nosuid"]},
 {"path":"/etc/machine-id","kind":"file","mode":"0444","owner":"root","group":"root","options":["nodev","nosuid","noexec"]}
]}"#;

/// The tiny root tree: the test init, state.json, mount points, factory
/// files, passwd/group, mke2fs.
pub fn root_tree(dir: &Path, init: &Path) {
    for d in [
        "dev",
        "proc",
        "sys",
        "run",
        "tmp",
        "mnt",
        "sbin",
        "etc",
        "var/lib",
        "var/log",
        "usr/lib/clip",
        "usr/share/factory/var/lib/private",
    ] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    std::fs::copy(init, dir.join("sbin/init")).unwrap();
    mode(&dir.join("sbin/init"), 0o755);
    // The same program is the recovery key hook (it acts on its name).
    for hook in ["recovery-hook", "recovery-hook-fail"] {
        std::fs::copy(init, dir.join("usr/lib/clip").join(hook)).unwrap();
        mode(&dir.join("usr/lib/clip").join(hook), 0o755);
    }
    std::fs::write(dir.join("usr/lib/clip/state.json"), STATE_JSON).unwrap();
    // The release's version, for anti-rollback (clip-init reads VERSION_ID).
    std::fs::write(
        dir.join("usr/lib/os-release"),
        "ID=clip-test\nVERSION_ID=1.0.0\n",
    )
    .unwrap();
    std::fs::write(dir.join("etc/machine-id"), "").unwrap();
    std::fs::write(dir.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    std::fs::write(dir.join("etc/group"), "root:x:0:\nadm:x:4:\n").unwrap();
    let factory = dir.join("usr/share/factory/var/lib");
    std::fs::write(factory.join("seeded-file"), "seed-content\n").unwrap();
    chown(&factory.join("seeded-file"), 1234, 5678);
    mode(&factory.join("seeded-file"), 0o640);
    std::os::unix::fs::symlink("seeded-file", factory.join("seeded-link")).unwrap();
    std::fs::write(factory.join("private/inner"), "inner\n").unwrap();
    mode(&factory.join("private"), 0o700);
    add_mke2fs(dir);
}

/// What the test disk is made of.
#[derive(Debug, Clone)]
pub struct Disk {
    pub path: PathBuf,
    pub root_hash: [u8; 32],
    pub data_blocks: u64,
    /// Byte offset and size of the root partition in the image.
    pub root_offset: u64,
    /// Byte range of the state partition in the image.
    pub state_offset: u64,
    pub state_size: u64,
    pub root_size: u64,
}

impl Disk {
    pub fn cmdline(&self) -> String {
        format!(
            "console=ttyS0 panic=-1 clip.slot=a clip.verity.roothash={} clip.verity.salt={} clip.verity.data_blocks={}",
            hex::encode(self.root_hash),
            hex::encode(SALT),
            self.data_blocks
        )
    }

    /// Flips one byte at `offset` inside the root partition.
    pub fn flip_root_byte(&self, offset: u64) {
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.path)
            .unwrap();
        let mut b = [0u8];
        f.read_exact_at(&mut b, self.root_offset + offset).unwrap();
        f.write_all_at(&[b[0] ^ 0x01], self.root_offset + offset)
            .unwrap();
    }

    /// Flips one byte at `offset` of the disk image (e.g. in a GPT header).
    pub fn flip_disk_byte(&self, offset: u64) {
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.path)
            .unwrap();
        let mut b = [0u8];
        f.read_exact_at(&mut b, offset).unwrap();
        f.write_all_at(&[b[0] ^ 0x01], offset).unwrap();
    }

    pub fn state_bytes(&self) -> Vec<u8> {
        let f = std::fs::File::open(&self.path).unwrap();
        let mut b = vec![0u8; usize::try_from(self.state_size).unwrap()];
        f.read_exact_at(&mut b, self.state_offset).unwrap();
        b
    }

    pub fn root_bytes(&self) -> Vec<u8> {
        let f = std::fs::File::open(&self.path).unwrap();
        let mut b = vec![0u8; usize::try_from(self.root_size).unwrap()];
        f.read_exact_at(&mut b, self.root_offset).unwrap();
        b
    }
}

/// Builds `dir/disk.img`: esp (empty), root-a (EROFS of `tree`), verity-a
/// (superblock + tree), state (blank). `uuid_hash` overrides the hash the
/// partition UUIDs are derived from (to test a mismatching command line).
pub fn disk(dir: &Path, tree: &Path, uuid_hash: Option<[u8; 32]>) -> Disk {
    disk_with(dir, tree, uuid_hash, false)
}

/// [`disk`], with a fifth entry `root-b` that carries root-a's unique GUID
/// when `duplicate_root` is set (a table that is ambiguous).
pub fn disk_with(
    dir: &Path,
    tree: &Path,
    uuid_hash: Option<[u8; 32]>,
    duplicate_root: bool,
) -> Disk {
    let erofs = dir.join("root.erofs");
    run(Command::new("mkfs.erofs")
        .arg("--quiet")
        .arg(&erofs)
        .arg(tree));
    let mut data = std::fs::read(&erofs).unwrap();
    data.resize(data.len().next_multiple_of(4096), 0);
    let data_blocks = u64::try_from(data.len() / 4096).unwrap();
    let params = verity::Params {
        hash_type: verity::HashType::Normal,
        algorithm: verity::HashAlgorithm::Sha256,
        data_block_size: 4096,
        hash_block_size: 4096,
        data_blocks,
        salt: SALT.to_vec(),
    };
    let mut builder = verity::TreeBuilder::new(params.clone()).unwrap();
    builder.update(&data).unwrap();
    let tree_bytes = builder.finish().unwrap();
    let root_hash: [u8; 32] = tree_bytes.root_hash().try_into().unwrap();
    let sb = verity::Superblock {
        params,
        uuid: [0x11; 16],
    }
    .encode()
    .unwrap();
    let mut hash_part = sb.to_vec();
    hash_part.resize(4096, 0);
    hash_part.extend_from_slice(tree_bytes.as_bytes());

    let (root_uuid, verity_uuid) =
        types::verity_partition_uuids(&uuid_hash.unwrap_or(root_hash)).unwrap();
    let root_size = u64::try_from(data.len()).unwrap().next_multiple_of(MIB);
    let verity_size = u64::try_from(hash_part.len())
        .unwrap()
        .next_multiple_of(MIB);
    let state_size = 64 * MIB;
    let disk_size = MIB + root_size + verity_size + state_size + 3 * MIB;
    let spec = |ty, unique, name: &str, size| PartitionSpec {
        type_guid: ty,
        unique_guid: unique,
        name: name.into(),
        size: Size::Bytes(size),
        attributes: Attributes::default(),
    };
    let mut layout = DiskLayout::new(disk_size, Uuid::from_u128(0xc11d))
        .partition(spec(types::ESP, Uuid::from_u128(1), "esp", MIB))
        .partition(spec(types::ROOT_X86_64, root_uuid, "root-a", root_size))
        .partition(spec(
            types::ROOT_X86_64_VERITY,
            verity_uuid,
            "verity-a",
            verity_size,
        ))
        .partition(spec(types::VAR, Uuid::from_u128(4), "state", state_size));
    if duplicate_root {
        layout = layout.partition(spec(types::ROOT_X86_64, root_uuid, "root-b", MIB));
    }
    let gpt = layout.build().unwrap();
    let path = dir.join("disk.img");
    let f = std::fs::File::create(&path).unwrap();
    f.set_len(disk_size).unwrap();
    for r in gpt.regions().unwrap() {
        f.write_all_at(&r.bytes, r.offset).unwrap();
    }
    let root_offset = gpt.partitions[1].offset();
    f.write_all_at(&data, root_offset).unwrap();
    f.write_all_at(&hash_part, gpt.partitions[2].offset())
        .unwrap();
    f.sync_all().unwrap();
    Disk {
        path,
        root_hash,
        data_blocks,
        root_offset,
        state_offset: gpt.partitions[3].offset(),
        state_size: gpt.partitions[3].size(),
        root_size: u64::try_from(data.len()).unwrap(),
    }
}

/// Everything a boot needs, built once per test.
pub struct Bed {
    pub dir: tempfile::TempDir,
    pub kernel: PathBuf,
    /// With the PCR-policy key and its signature of this bed's PCR 11 at
    /// `enter-initrd`, as systemd-stub hands them over from a UKI.
    pub initramfs: PathBuf,
    /// The same, with a signature of that value by another key.
    pub initramfs_foreign_signature: PathBuf,
    /// The same key's PCR 11 signature without the anti-rollback approvals
    /// (a UKI built before anti-rollback). `initramfs` has them for
    /// [`BOUND_VERSIONS`].
    pub initramfs_unbound: PathBuf,
    pub tree: PathBuf,
}

/// PCR 11 when clip-init unseals in this bed: no stub measured anything
/// (the kernel is booted directly), then clip-init's `enter-initrd`.
pub fn pcr11_at_unseal() -> [u8; 32] {
    measure::extend_phases(&[0; 32], "enter-initrd")
}

/// `.pcrsig` JSON: `key`'s signature of PCR 11 = `value`.
fn pcr_signature(key: &rsa::RsaPrivateKey, value: &[u8; 32]) -> String {
    let sig = measure::PcrSignature::sign(key, None, value, &mut rand::thread_rng()).unwrap();
    measure::PcrSignatures(vec![sig]).to_systemd_measure_json()
}

/// The releases whose anti-rollback approval the bed's `.pcrsig` carries
/// (each tree's os-release says which it is).
pub const BOUND_VERSIONS: [&str; 2] = ["1.0.0", "2.0.0"];

/// [`pcr_signature`] plus, for each of [`BOUND_VERSIONS`], the approval of
/// PolicyPCR(11 = `value`) + PolicyNV(NV <= its rollback index) with
/// policyRef "clip.rollback", as `clip build` signs it
/// (docs/anti-rollback.md).
fn pcr_signature_with_rollback(key: &rsa::RsaPrivateKey, value: &[u8; 32]) -> String {
    let mut rng = rand::thread_rng();
    let mut entries = vec![measure::PcrSignature::sign(key, None, value, &mut rng).unwrap()];
    let policy_key = tpm2::PolicyKey::from_rsa(&key.to_public_key()).unwrap();
    for v in BOUND_VERSIONS {
        let index = rollback::index(&contract::Version::parse(v).unwrap()).unwrap();
        let approved = rollback::tpm::release_policy(&policy_key, value, index);
        entries.push(
            measure::PcrSignature::sign_approved(
                key,
                None,
                &approved,
                rollback::tpm::POLICY_REF,
                &mut rng,
            )
            .unwrap(),
        );
    }
    measure::PcrSignatures(entries).to_systemd_measure_json()
}

fn rsa_key() -> rsa::RsaPrivateKey {
    rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap()
}

pub fn bed() -> Bed {
    let (clip_init, root_init) = static_binaries();
    let (kdir, kver) = kernel();
    let dir = tempfile::Builder::new()
        .prefix("clip-init-boot")
        .tempdir_in(tmp_root())
        .unwrap();
    let init = std::fs::read(clip_init).unwrap();
    let key = rsa_key();
    let public = measure::signature::public_key_pem(&key.to_public_key()).unwrap();
    let signature = pcr_signature(&key, &pcr11_at_unseal());
    let bound = pcr_signature_with_rollback(&key, &pcr11_at_unseal());
    let foreign = pcr_signature(&rsa_key(), &pcr11_at_unseal());
    let build = |name: &str, sig: &str| {
        let path = dir.path().join(name);
        let extra: [(&str, &[u8]); 2] = [
            ("tpm2-pcr-public-key.pem", public.as_bytes()),
            ("tpm2-pcr-signature.json", sig.as_bytes()),
        ];
        std::fs::write(&path, initramfs(&init, &kdir, &kver, &extra)).unwrap();
        path
    };
    let initramfs = build("initramfs.cpio", &bound);
    let initramfs_foreign_signature = build("initramfs-foreign.cpio", &foreign);
    let initramfs_unbound = build("initramfs-unbound.cpio", &signature);
    let tree = dir.path().join("tree");
    root_tree(&tree, &root_init);
    // The running system's attempt to unseal uses the genuine signature.
    std::fs::write(tree.join("pcrsig.json"), &signature).unwrap();
    Bed {
        kernel: kdir.join(format!("boot/vmlinuz-{kver}")),
        initramfs,
        initramfs_foreign_signature,
        initramfs_unbound,
        tree,
        dir,
    }
}

/// A finished (or killed) QEMU run.
#[derive(Debug)]
pub struct Boot {
    pub serial: String,
    pub timed_out: bool,
    /// From QEMU start to the first line containing each of these.
    pub switch_at: Option<Duration>,
    pub total: Duration,
}

impl Boot {
    pub fn lines_with<'a>(&'a self, prefix: &'a str) -> Vec<&'a str> {
        self.serial.lines().filter(|l| l.contains(prefix)).collect()
    }
    pub fn has(&self, text: &str) -> bool {
        self.serial.contains(text)
    }
    pub fn tail(&self) -> String {
        let lines: Vec<&str> = self.serial.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }
}

pub const BOOT_TIMEOUT: Duration = Duration::from_secs(180);

/// Boots `disk` with `cmdline`, killing QEMU after [`BOOT_TIMEOUT`].
pub fn boot(bed: &Bed, disk: &Path, cmdline: &str) -> Boot {
    boot_with(bed, disk, cmdline, &Options::default())
}

/// [`boot`], typing each reply on the console (then Enter) the first time
/// its prompt shows.
pub fn boot_answering(bed: &Bed, disk: &Path, cmdline: &str, answers: &[(&str, &str)]) -> Boot {
    boot_with(
        bed,
        disk,
        cmdline,
        &Options {
            answers,
            ..Options::default()
        },
    )
}

/// How one boot differs from the plain one.
#[derive(Default)]
pub struct Options<'a> {
    /// (prompt, reply) typed on the console.
    pub answers: &'a [(&'a str, &'a str)],
    /// A TPM (swtpm) whose state persists in this directory.
    pub tpm: Option<&'a Path>,
    /// Another initramfs than the bed's.
    pub initramfs: Option<&'a Path>,
    /// A second virtio disk (the guest's /dev/vdb).
    pub second_disk: Option<&'a Path>,
}

pub fn boot_with(bed: &Bed, disk: &Path, cmdline: &str, opts: &Options<'_>) -> Boot {
    let answers = opts.answers;
    let tpm = opts
        .tpm
        .map(|dir| qemu::Swtpm::start(dir).expect("cannot start swtpm (package swtpm)"));
    let mut tpm_args: Vec<String> = Vec::new();
    if let Some(t) = &tpm {
        tpm_args = vec![
            "-chardev".into(),
            format!("socket,id=chrtpm,path={}", t.socket().display()),
            "-tpmdev".into(),
            "emulator,id=tpm0,chardev=chrtpm".into(),
            "-device".into(),
            "tpm-tis,tpmdev=tpm0".into(),
        ];
    }
    let start = Instant::now();
    let mut child = Command::new("qemu-system-x86_64")
        .args([
            "-machine", "q35", "-accel", "tcg", "-cpu", "max", "-m", "1024", "-smp", "1",
        ])
        .args([
            "-display",
            "none",
            "-nodefaults",
            "-serial",
            "stdio",
            "-no-reboot",
        ])
        .arg("-kernel")
        .arg(&bed.kernel)
        .arg("-initrd")
        .arg(opts.initramfs.unwrap_or(&bed.initramfs))
        .args(&tpm_args)
        .args(["-append", cmdline])
        .arg("-drive")
        .arg(format!("file={},if=virtio,format=raw", disk.display()))
        .args(opts.second_disk.iter().flat_map(|d| {
            [
                "-drive".to_owned(),
                format!("file={},if=virtio,format=raw", d.display()),
            ]
        }))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start qemu-system-x86_64 (package qemu-system-x86)");
    let mut stdin = child.stdin.take();
    let answers: Vec<(String, String)> = answers
        .iter()
        .map(|(p, r)| ((*p).to_owned(), (*r).to_owned()))
        .collect();
    let mut answered = vec![false; answers.len()];
    let serial = Arc::new(Mutex::new(String::new()));
    let switch_at = Arc::new(Mutex::new(None));
    let reader = {
        let stdout = child.stdout.take().unwrap();
        let serial = Arc::clone(&serial);
        let switch_at = Arc::clone(&switch_at);
        // Chunks, not lines: a prompt waits for its answer without a newline.
        std::thread::spawn(move || {
            let mut stdout = stdout;
            let mut buf = [0u8; 4096];
            let mut pending = Vec::new();
            loop {
                let n = match std::io::Read::read(&mut stdout, &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                pending.extend_from_slice(&buf[..n]);
                // Keep an incomplete UTF-8 sequence for the next chunk.
                let valid = match std::str::from_utf8(&pending) {
                    Ok(_) => pending.len(),
                    Err(e) if e.error_len().is_none() => e.valid_up_to(),
                    Err(_) => pending.len(),
                };
                let text = String::from_utf8_lossy(&pending[..valid]).replace('\r', "");
                pending.drain(..valid);
                let mut s = serial.lock().unwrap();
                s.push_str(&text);
                if s.contains("clip-init: switching to systemd") {
                    switch_at.lock().unwrap().get_or_insert(start.elapsed());
                }
            }
        })
    };
    let mut timed_out = false;
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        {
            let seen = serial.lock().unwrap();
            for (i, (prompt, reply)) in answers.iter().enumerate() {
                if !answered[i] && seen.contains(prompt.as_str()) {
                    answered[i] = true;
                    if let Some(stdin) = stdin.as_mut() {
                        let _ = stdin
                            .write_all(format!("{reply}\r").as_bytes())
                            .and_then(|()| stdin.flush());
                    }
                }
            }
        }
        if start.elapsed() > BOOT_TIMEOUT {
            timed_out = true;
            let _ = child.kill();
            let _ = child.wait();
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let total = start.elapsed();
    reader.join().unwrap();
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
    }
    let serial = serial.lock().unwrap().clone() + &stderr;
    let boot = Boot {
        serial,
        timed_out,
        switch_at: *switch_at.lock().unwrap(),
        total,
    };
    if std::env::var_os("CLIP_INIT_SHOW_SERIAL").is_some() {
        let _ = writeln!(std::io::stderr(), "--- serial ---\n{}", boot.serial);
    }
    let _ = writeln!(
        std::io::stderr(),
        "boot finished in {:.1} s (switch_root marker at {:?}), timed out: {}",
        total.as_secs_f64(),
        boot.switch_at,
        timed_out
    );
    boot
}
