//! The kernel release string of an x86 bzImage: the Linux x86 boot protocol
//! (kernel `Documentation/arch/x86/boot.rst`, "The Real-Mode Kernel
//! Header") puts the magic "HdrS" at 0x202 and, at 0x20E, `kernel_version`:
//! a pointer, minus 0x200, to a NUL-terminated string such as
//! "6.1.0-57-amd64 (debian-kernel@lists.debian.org) #1 SMP ...". ukify
//! (`Uname.scrape_x86`) reads the same field.

const HEADER_MAGIC_AT: usize = 0x202;
const HEADER_MAGIC: &[u8; 4] = b"HdrS";
const KERNEL_VERSION_AT: usize = 0x20e;
/// ukify reads at most this many bytes of the string.
const MAX_LEN: usize = 128;

/// The release (first word of the version string) if `linux` is a bzImage
/// that carries one in the form ukify accepts:
/// `<release> (<builder>) #...`, release made of `[a-z0-9._+-]`.
pub fn bzimage_release(linux: &[u8]) -> Option<String> {
    if linux.get(HEADER_MAGIC_AT..HEADER_MAGIC_AT + 4)? != HEADER_MAGIC {
        return None;
    }
    let field = linux.get(KERNEL_VERSION_AT..KERNEL_VERSION_AT + 2)?;
    let pointer = usize::from(u16::from_le_bytes([field[0], field[1]]));
    if pointer == 0 {
        return None;
    }
    let start = 0x200 + pointer;
    let tail = linux.get(start..)?;
    let text = &tail[..tail.len().min(MAX_LEN)];
    let text = &text[..text.iter().position(|&b| b == 0).unwrap_or(text.len())];
    let text = std::str::from_utf8(text).ok()?;
    let (release, rest) = text.split_once(' ')?;
    let release_ok = !release.is_empty()
        && release
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._+-".contains(&b));
    let builder_ok = rest
        .strip_prefix('(')
        .and_then(|r| r.split_once(") #"))
        .is_some_and(|(builder, _)| !builder.is_empty() && !builder.contains([' ', ')']));
    (release_ok && builder_ok).then(|| release.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(version: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; 0x1000];
        b[0x202..0x206].copy_from_slice(b"HdrS");
        b[0x20e..0x210].copy_from_slice(&0x0400u16.to_le_bytes());
        b[0x600..0x600 + version.len()].copy_from_slice(version);
        b
    }

    #[test]
    fn reads_release() {
        let b = image(
            b"6.1.0-57-amd64 (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC Debian\0",
        );
        assert_eq!(bzimage_release(&b).as_deref(), Some("6.1.0-57-amd64"));
    }

    #[test]
    fn rejects_other_forms() {
        assert_eq!(bzimage_release(&image(b"6.1.0 built by me\0")), None);
        assert_eq!(bzimage_release(&image(b"6.1.0-X (a@b) #1\0")), None);
        assert_eq!(bzimage_release(&image(b"\0")), None);
        let mut no_magic = image(b"6.1.0 (a@b) #1\0");
        no_magic[0x202] = 0;
        assert_eq!(bzimage_release(&no_magic), None);
        let mut far = image(b"6.1.0 (a@b) #1\0");
        far[0x20e..0x210].copy_from_slice(&0xfff0u16.to_le_bytes());
        assert_eq!(bzimage_release(&far), None);
        assert_eq!(bzimage_release(b"MZ"), None);
    }
}
