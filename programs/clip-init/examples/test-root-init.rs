//! `/sbin/init` of the tiny root file system the clip-init boot tests build
//! (tests/qemu_boot.rs). It runs after clip-init's switch_root, checks what
//! clip-init promised, prints one `ROOTINIT:` line per check and powers off:
//!
//! * `/` is read-only: creating a file fails with EROFS; `/` is erofs;
//! * each path of /usr/lib/clip/state.json is a read-write mount carrying
//!   its options (from /proc/self/mountinfo);
//! * what seeding copied (content, mode, owner, symlink of
//!   /var/lib/seeded-file, /var/lib/seeded-link, /var/lib/private);
//! * persistence: /var/lib/boot-count is incremented, /etc/machine-id
//!   written on first boot;
//! * `ROOTINIT: result=ok` if every check passed, else `result=FAIL: ...`.
//!
//! Not for production: an example target so that it is built only for the
//! tests, statically (`--example test-root-init`).

use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};

// Only sealed_of is needed here.
#[allow(dead_code)]
#[path = "../src/tpmtoken.rs"]
mod tpmtoken;

fn clean_shutdown(paths: &[contract::StatePath]) -> Result<(), String> {
    for p in paths {
        rustix::mount::unmount(p.path.as_str(), rustix::mount::UnmountFlags::empty())
            .map_err(|e| format!("umount {}: {e}", p.path))?;
    }
    let control = sys::dm::Control::open().map_err(|e| format!("dm control: {e}"))?;
    for name in ["clip-state", "clip-state_dif"] {
        let req = dm::request::dev_remove(name).map_err(|e| e.to_string())?;
        control
            .call(&req)
            .map_err(|e| format!("DEV_REMOVE {name}: {e}"))?;
    }
    Ok(())
}

/// `no-tpm`, `UNSEALED` or `refused: <kind>: <error>`.
fn unseal_attempt() -> String {
    use std::os::unix::fs::FileExt;
    let Ok(mut tpm) = tpm2::Tpm::open_device("/dev/tpmrm0") else {
        return "no-tpm".into();
    };
    let Ok(part) = fs::File::open("/dev/vda4") else {
        return "cannot open /dev/vda4".into();
    };
    let size = std::io::Seek::seek(&mut &part, std::io::SeekFrom::End(0)).unwrap_or(0);
    let header = match luks2::Header::read(size, |o, b| part.read_exact_at(b, o)) {
        Ok(h) => h,
        Err(e) => return format!("no LUKS2 header: {e}"),
    };
    let (_, sealed) = match tpmtoken::sealed_of(&header) {
        Ok(s) => s,
        Err(e) => return format!("no TPM token: {e:#}"),
    };
    let json: serde_json::Value =
        serde_json::from_str(&fs::read_to_string("/pcrsig.json").unwrap_or_default())
            .unwrap_or_default();
    let entry = &json["sha256"][0];
    let (Some(pol), Some(sig)) = (entry["pol"].as_str(), entry["sig"].as_str()) else {
        return "no signature in /pcrsig.json".into();
    };
    let mut approved = [0u8; 32];
    if hex::decode_to_slice(pol, &mut approved).is_err() {
        return "bad pol".into();
    }
    let Ok(sig) = <base64ct::Base64 as base64ct::Encoding>::decode_vec(sig) else {
        return "bad sig".into();
    };
    let sig: Vec<u8> = sig;
    match tpm2::unseal(
        &mut tpm,
        &sealed,
        &tpm2::UnsealInputs {
            signature: Some((approved, &sig)),
            pin: None,
        },
    ) {
        Ok(_) => "UNSEALED".into(),
        Err(e) => format!("refused: {:?}: {e}", e.kind()),
    }
}

/// `testroot.attack-rollback=V`: what root on the running system can try
/// against anti-rollback (docs/anti-rollback.md, "Threat model"): undefine
/// the TPM's NV index with the owner authorization (empty, as on most
/// PCs), define it again with the same public area (it is then unwritten:
/// only a signed initrd can write it), and lower the state's record to V.
fn attack_rollback(v: &str) -> String {
    let index = rollback::tpm::NV_INDEX;
    let mut tpm = match tpm2::Tpm::open_device("/dev/tpmrm0") {
        Ok(t) => t,
        Err(e) => return format!("no TPM: {e}"),
    };
    let public = match tpm.nv_read_public(index) {
        Ok((p, _)) => p,
        Err(e) => return format!("NV_ReadPublic: {e}"),
    };
    if let Err(e) = tpm.nv_undefine_space(index) {
        return format!("NV_UndefineSpace: {e}");
    }
    let unwritten = tpm2::nv::NvPublic {
        attributes: public.attributes & !tpm2::nv::attr_nv::WRITTEN,
        ..public
    };
    if let Err(e) = tpm.nv_define_space(&unwritten) {
        return format!("NV_DefineSpace: {e}");
    }
    let lowered = match contract::Version::parse(v)
        .map_err(|e| e.to_string())
        .and_then(|v| rollback::Indexed::new(v).map_err(|e| e.to_string()))
    {
        Ok(l) => l,
        Err(e) => return format!("version {v}: {e}"),
    };
    let record = std::path::Path::new("/").join(rollback::state::STATE_FILE);
    if let Some(dir) = record.parent() {
        let _ = fs::create_dir_all(dir);
    }
    if let Err(e) = fs::write(&record, rollback::state::render(&lowered)) {
        return format!("cannot write {}: {e}", record.display());
    }
    format!(
        "NV index {index:#010x} undefined and defined again unwritten; state record lowered to {v}"
    )
}

/// O_NONBLOCK: /dev/kmsg blocks at the end of the log otherwise.
fn libc_o_nonblock() -> i32 {
    i32::try_from(rustix::fs::OFlags::NONBLOCK.bits()).unwrap_or(0)
}

fn line(text: &str) {
    let _ = std::io::stdout().write_all(format!("ROOTINIT: {text}\n").as_bytes());
}

/// Mount point → (fstype, source, per-mount options), the last mount wins.
fn mounts() -> Vec<(String, String, String, String)> {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let left: Vec<&str> = left.split(' ').collect();
            let right: Vec<&str> = right.split(' ').collect();
            Some((
                left.get(4)?.to_string(),
                right.first()?.to_string(),
                right.get(1)?.to_string(),
                left.get(5)?.to_string(),
            ))
        })
        .collect()
}

/// As the state's recovery key hook (clip-init runs it at first boot under
/// this name): prints the SHA-256 of the key it got on stdin; under the
/// name `recovery-hook-fail`, fails.
fn recovery_hook(name: &str) -> std::process::ExitCode {
    let mut key = String::new();
    let _ = std::io::stdin().read_line(&mut key);
    let digest = sha256_hex(key.trim_end().as_bytes());
    let _ = std::io::stdout()
        .write_all(format!("ROOTHOOK: {name} got a key, sha256 {digest}\n").as_bytes());
    if name == "recovery-hook-fail" {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    }
}

/// Write then read 24 MiB in 1 MiB blocks on the state (/var/lib: ext4 on
/// dm-crypt over dm-integrity) and on a plain ext4 of /dev/vdb, each write
/// synced, the page cache dropped before each read.
fn bench() -> String {
    const MIB: usize = 1 << 20;
    const SIZE: usize = 24;
    let mkfs = std::process::Command::new("/usr/sbin/mke2fs")
        .args(["-t", "ext4", "-q", "-F", "/dev/vdb"])
        .status();
    if !mkfs.as_ref().is_ok_and(|s| s.success()) {
        return format!("bench FAIL: mke2fs /dev/vdb: {mkfs:?}");
    }
    if let Err(e) = rustix::mount::mount(
        "/dev/vdb",
        "/mnt",
        "ext4",
        rustix::mount::MountFlags::empty(),
        None,
    ) {
        return format!("bench FAIL: mount /dev/vdb: {e}");
    }
    let run = |dir: &str| -> std::io::Result<(f64, f64)> {
        use std::io::Read;
        let path = format!("{dir}/bench.bin");
        let block = vec![0x5au8; MIB];
        let start = std::time::Instant::now();
        let mut f = fs::File::create(&path)?;
        for _ in 0..SIZE {
            f.write_all(&block)?;
        }
        f.sync_all()?;
        let write = start.elapsed().as_secs_f64();
        drop(f);
        rustix::fs::sync();
        fs::write("/proc/sys/vm/drop_caches", "3")?;
        let start = std::time::Instant::now();
        let mut f = fs::File::open(&path)?;
        let mut buf = vec![0u8; MIB];
        for _ in 0..SIZE {
            f.read_exact(&mut buf)?;
        }
        let read = start.elapsed().as_secs_f64();
        fs::remove_file(&path)?;
        let mb = f64::from(u32::try_from(SIZE).unwrap_or(0));
        Ok((mb / write, mb / read))
    };
    let result = run("/var/lib").and_then(|state| Ok((state, run("/mnt")?)));
    let _ = rustix::mount::unmount("/mnt", rustix::mount::UnmountFlags::empty());
    match result {
        Ok(((sw, sr), (pw, pr))) => format!(
            "bench state write {sw:.1} MiB/s read {sr:.1} MiB/s; plain write {pw:.1} MiB/s read \
             {pr:.1} MiB/s; ratio write {:.2} read {:.2}",
            sw / pw,
            sr / pr
        ),
        Err(e) => format!("bench FAIL: {e}"),
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

fn main() -> std::process::ExitCode {
    let arg0 = std::env::args().next().unwrap_or_default();
    let name = std::path::Path::new(&arg0)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name.starts_with("recovery-hook") {
        return recovery_hook(&name);
    }
    let mut failures: Vec<String> = Vec::new();
    let mut check = |ok: bool, what: String| {
        line(&format!("{what} {}", if ok { "ok" } else { "FAIL" }));
        if !ok {
            failures.push(what);
        }
    };
    line(&format!("started pid={}", std::process::id()));

    let err = fs::File::create("/clip-rw-test").err();
    let erofs = err.as_ref().and_then(|e| e.raw_os_error()) == Some(30); // EROFS
    check(erofs, format!("root-readonly ({err:?})"));

    let mounts = mounts();
    let root = mounts.iter().rev().find(|m| m.0 == "/");
    check(
        root.is_some_and(|m| m.1 == "erofs" && m.3.split(',').any(|o| o == "ro")),
        format!("root-mount {root:?}"),
    );

    let config = fs::read_to_string("/usr/lib/clip/state.json").unwrap_or_default();
    let paths = contract::StateConfig::parse(&config)
        .map(|c| c.paths)
        .unwrap_or_default();
    check(
        !paths.is_empty(),
        format!("state.json {} paths", paths.len()),
    );
    for p in &paths {
        let path = p.path.as_str();
        let wanted: Vec<&str> = p.options.iter().map(|o| o.as_str()).collect();
        let m = mounts.iter().rev().find(|m| m.0 == path);
        let ok = m.is_some_and(|m| {
            let opts: Vec<&str> = m.3.split(',').collect();
            m.1 == "ext4"
                && opts.contains(&"rw")
                && wanted.iter().all(|w| opts.contains(w))
                && ["nodev", "nosuid", "noexec"]
                    .iter()
                    .all(|o| wanted.contains(o) == opts.contains(o))
        });
        let opts = m.map_or("not mounted".to_owned(), |m| format!("{} {}", m.1, m.3));
        check(ok, format!("state-mount {path} {opts}"));
    }

    let seeded = fs::read_to_string("/var/lib/seeded-file").unwrap_or_default();
    line(&format!("seeded-file={}", seeded.trim()));
    match fs::symlink_metadata("/var/lib/seeded-file") {
        Ok(m) => line(&format!(
            "seeded-file mode={:04o} uid={} gid={}",
            m.mode() & 0o7777,
            m.uid(),
            m.gid()
        )),
        Err(e) => check(false, format!("seeded-file stat: {e}")),
    }
    let link = fs::read_link("/var/lib/seeded-link");
    line(&format!("seeded-link={link:?}"));
    match fs::symlink_metadata("/var/lib/private") {
        Ok(m) => line(&format!(
            "private mode={:04o} dir={}",
            m.mode() & 0o7777,
            m.is_dir()
        )),
        Err(e) => check(false, format!("private stat: {e}")),
    }

    let count: u64 = fs::read_to_string("/var/lib/boot-count")
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0)
        + 1;
    let wrote = fs::File::create("/var/lib/boot-count")
        .and_then(|mut f| {
            f.write_all(format!("{count}\n").as_bytes())?;
            f.sync_all()
        })
        .is_ok();
    check(wrote, "write /var/lib/boot-count".into());
    line(&format!("boot-count={count}"));

    // `testroot.mark-good=V` on the command line: what `clip-updated
    // mark-good` does for version V (the other slot's, say).
    let cmdline = fs::read_to_string("/proc/cmdline").unwrap_or_default();
    if let Some(v) = cmdline
        .split_whitespace()
        .find_map(|w| w.strip_prefix("testroot.mark-good="))
    {
        let record = std::path::Path::new("/").join(rollback::state::STATE_FILE);
        let result = contract::Version::parse(v)
            .map_err(|e| e.to_string())
            .and_then(|v| rollback::state::raise(&record, &v).map_err(|e| e.to_string()));
        match result {
            Ok(r) => line(&format!("mark-good: {r}")),
            Err(e) => check(false, format!("mark-good: {e}")),
        }
    }

    let id = fs::read_to_string("/etc/machine-id").unwrap_or_else(|e| format!("<{e}>"));
    line(&format!("machine-id-before={:?}", id.trim()));
    if id.is_empty() {
        let ok = fs::write("/etc/machine-id", "0123456789abcdef0123456789abcdef\n").is_ok();
        check(ok, "write /etc/machine-id".into());
    }

    // What clip-init left in the kernel log: its lines (all of them, at
    // debug level), but never the recovery key it showed on the console.
    let (mut ours, mut secret) = (0, 0);
    if let Ok(kmsg) = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc_o_nonblock())
        .open("/dev/kmsg")
    {
        let mut kmsg = kmsg;
        let mut record = vec![0u8; 8192];
        while let Ok(n) = std::io::Read::read(&mut kmsg, &mut record) {
            if n == 0 {
                break;
            }
            let text = String::from_utf8_lossy(&record[..n]);
            ours += usize::from(text.contains("clip-init: "));
            secret += usize::from(text.contains("RECOVERY KEY"));
        }
    }
    line(&format!(
        "kmsg clip-init-lines={ours} recovery-key-lines={secret}"
    ));
    check(
        ours > 0 && secret == 0,
        "kmsg has clip-init's lines and no recovery key".into(),
    );

    if let Some(v) = cmdline
        .split_whitespace()
        .find_map(|w| w.strip_prefix("testroot.attack-rollback="))
    {
        line(&format!("attack-rollback: {}", attack_rollback(v)));
    }

    // The running system tries to unseal the state's TPM secret with the
    // genuine PCR 11 signature; clip-init extended leave-initrd, so the TPM
    // must refuse.
    line(&format!("unseal-after-boot {}", unseal_attempt()));

    // The throughput benchmark (programs/clip-init/benches), when asked.
    if std::path::Path::new("/bench").exists() {
        line(&bench());
    }

    // A clean shutdown, as systemd-shutdown's "detaching DM devices": the
    // state paths unmounted, then dm-crypt and dm-integrity removed, which
    // writes dm-integrity's journal out to its final place.
    let shutdown = clean_shutdown(&paths);
    check(shutdown.is_ok(), format!("clean shutdown {shutdown:?}"));

    if failures.is_empty() {
        line("result=ok");
    } else {
        line(&format!("result=FAIL: {}", failures.join("; ")));
    }
    rustix::fs::sync();
    let _ = rustix::system::reboot(rustix::system::RebootCommand::PowerOff);
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}
