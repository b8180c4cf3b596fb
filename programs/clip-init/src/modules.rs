//! Step 3: load the kernel modules the builder listed in
//! `/etc/clip-init/modules` (one absolute path per line, dependencies
//! first), with `finit_module(2)`. Debian ships them xz-compressed and the
//! kernel decompresses them itself (`MODULE_INIT_COMPRESSED_FILE`).

use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::console::say;

pub const LIST: &str = "/etc/clip-init/modules";

/// The module paths of the list file. Blank lines and `#` comments are
/// allowed; every other line must be an absolute path.
pub fn parse_list(text: &str) -> Result<Vec<&str>> {
    let mut paths = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if !line.starts_with('/') {
            bail!("{LIST} line {}: {line:?} is not an absolute path", i + 1);
        }
        paths.push(line);
    }
    Ok(paths)
}

/// Loads every module of [`LIST`], in order. A missing list means no
/// modules (everything built in).
pub fn load_all() -> Result<()> {
    let text = match std::fs::read_to_string(LIST) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            say(&format!("no {LIST}: loading no modules"));
            return Ok(());
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {LIST}")),
    };
    let paths = parse_list(&text)?;
    let mut loaded = 0;
    let mut absent = Vec::new();
    for path in &paths {
        let compressed = [".xz", ".zst", ".gz"].iter().any(|s| path.ends_with(s));
        let flags = if compressed {
            sys::module::COMPRESSED_FILE
        } else {
            0
        };
        match sys::module::load(Path::new(path), "", flags) {
            Ok(sys::module::Loaded::Now) => loaded += 1,
            Ok(sys::module::Loaded::Already) => {}
            // ENODEV from a module's init: its hardware is not there (an
            // accelerator such as aesni_intel on a CPU without AES-NI).
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::NODEV.raw_os_error()) => {
                absent.push(*path);
            }
            Err(e) => {
                return Err(e).with_context(|| format!("cannot load kernel module {path}"));
            }
        }
    }
    say(&format!(
        "loaded {loaded} kernel modules ({} listed)",
        paths.len()
    ));
    for path in absent {
        say(&format!("{path}: no such device here, not loaded"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_lines() {
        let text = "# deps first\n/usr/lib/modules/k/kernel/a.ko.xz\n\n  /b.ko  \n";
        assert_eq!(
            parse_list(text).unwrap(),
            ["/usr/lib/modules/k/kernel/a.ko.xz", "/b.ko"]
        );
        let e = parse_list("/a.ko\nkernel/b.ko\n").unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("kernel/b.ko"), "{e}");
    }
}
