//! The initramfs: `clip-init` as `/init`, the kernel modules it needs to
//! reach the root (from the root tree's own kernel, with their dependencies
//! from its modules.dep) and the list clip-init loads them from. No shell,
//! no busybox, no other program. The layout is docs/image.md's.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result, bail};

/// What went into the archive, for the manifest.
#[derive(Debug)]
pub struct Initramfs {
    pub bytes: Vec<u8>,
    /// Module paths inside the archive, in load order.
    pub modules: Vec<String>,
}

/// Where clip-init reads the module list.
pub const MODULE_LIST: &str = "etc/clip-init/modules";

/// Builds the archive. `tree` is the root tree holding
/// `usr/lib/modules/<kernel_version>/`; `clip_init` the static binary.
/// With no `wanted` modules (a kernel with everything built in) the
/// archive has no module and no module list, and `tree` is not read.
pub fn build(
    tree: &Path,
    kernel_version: &str,
    wanted: &[String],
    clip_init: &[u8],
    mtime: u32,
) -> Result<Initramfs> {
    let moddir = tree.join("usr/lib/modules").join(kernel_version);
    let closure = if wanted.is_empty() {
        Vec::new()
    } else {
        let dep_path = moddir.join("modules.dep");
        let modules_dep = std::fs::read_to_string(&dep_path).with_context(|| {
            format!(
                "cannot read {} (depmod output of the root's kernel)",
                dep_path.display()
            )
        })?;
        let wanted: Vec<&str> = wanted.iter().map(String::as_str).collect();
        kmod::module_closure(&modules_dep, &wanted).with_context(|| {
            format!(
                "cannot resolve the initramfs modules in {}",
                dep_path.display()
            )
        })?
    };

    let mut w = cpio::Writer::new(mtime);
    let mut dirs = BTreeSet::new();
    for d in [
        "dev",
        "proc",
        "sys",
        "sysroot",
        "run",
        "etc",
        "etc/clip-init",
    ] {
        add_dir(&mut w, &mut dirs, d)?;
    }
    w.char_dev("dev/console", 0o600, 5, 1)?;
    w.file("init", 0o755, clip_init)?;

    let base = format!("usr/lib/modules/{kernel_version}");
    let mut list = String::new();
    let mut paths = Vec::new();
    for rel in &closure {
        if rel.contains("..") || rel.starts_with('/') {
            bail!("modules.dep names a module outside the module directory: {rel:?}");
        }
        let inside = format!("{base}/{rel}");
        let data = std::fs::read(moddir.join(rel))
            .with_context(|| format!("cannot read module {}", moddir.join(rel).display()))?;
        if let Some((parent, _)) = inside.rsplit_once('/') {
            add_dir(&mut w, &mut dirs, parent)?;
        }
        w.file(&inside, 0o644, &data)?;
        list.push('/');
        list.push_str(&inside);
        list.push('\n');
        paths.push(format!("/{inside}"));
    }
    if !closure.is_empty() {
        w.file(MODULE_LIST, 0o644, list.as_bytes())?;
    }
    Ok(Initramfs {
        bytes: w.finish(),
        modules: paths,
    })
}

/// Adds `path` and its missing parents (the kernel does not create them).
fn add_dir(w: &mut cpio::Writer, done: &mut BTreeSet<String>, path: &str) -> Result<()> {
    let mut at = String::new();
    for part in path.split('/') {
        if !at.is_empty() {
            at.push('/');
        }
        at.push_str(part);
        if done.insert(at.clone()) {
            w.dir(&at, 0o755)?;
        }
    }
    Ok(())
}

/// Checks that `elf` is a statically linked x86-64 executable: the
/// initramfs has no dynamic loader, so anything else cannot run as /init.
pub fn check_static(elf: &[u8], what: &str) -> Result<()> {
    const PT_INTERP: u32 = 3;
    let ok = elf.len() >= 64 && &elf[..4] == b"\x7fELF" && elf[4] == 2 && elf[5] == 1;
    if !ok {
        bail!("{what} is not a 64-bit little-endian ELF file");
    }
    let u16_at = |o: usize| u16::from_le_bytes([elf[o], elf[o + 1]]);
    let phoff = u64::from_le_bytes(elf[32..40].try_into().expect("8 bytes"));
    let phentsize = usize::from(u16_at(54));
    let phnum = usize::from(u16_at(56));
    let phoff = usize::try_from(phoff).context("program header offset")?;
    for i in 0..phnum {
        let at = phoff + i * phentsize;
        let Some(p) = elf.get(at..at + 4) else {
            bail!("{what}: program header {i} lies past the end of the file");
        };
        if u32::from_le_bytes(p.try_into().expect("4 bytes")) == PT_INTERP {
            bail!(
                "{what} is dynamically linked (it has a PT_INTERP header); build it with \
                 RUSTFLAGS=\"-C target-feature=+crt-static\" --target x86_64-unknown-linux-gnu"
            );
        }
    }
    Ok(())
}
