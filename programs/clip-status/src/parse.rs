//! Pure parsers of the kernel files clip-status reads (the command line and
//! state.json are the boot contract's: `crates/contract`).
//!
//! - `/proc/self/mountinfo`: proc(5) "/proc/pid/mountinfo" (fields, the
//!   `-` separator, octal escapes of spaces, tabs, newlines, backslashes);
//! - efivarfs variables: 4 bytes of attributes then the data
//!   (Documentation/filesystems/efivarfs.rst), for the UEFI 2.10 §3.3
//!   globals `SecureBoot` and `SetupMode`: one byte, 0 or 1;
//! - the dm-verity table line (verity.rst, "Construction Parameters").

/// A value that is not what the kernel or the image should hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("value {0} is neither 0 nor 1")]
    EfiBool(u8),
    #[error("{0} bytes, expected 5 (4 attribute bytes and 1 data byte)")]
    EfiLength(usize),
    #[error("{0:?} is not a decimal count")]
    BootCount(String),
}

/// One line of mountinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub major: u32,
    pub minor: u32,
    pub mount_point: String,
    /// Per-mount options (`rw`, `nosuid`, ...).
    pub options: Vec<String>,
    pub fs_type: String,
    pub source: String,
}

/// A line that is not mountinfo: its number (from 1) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountinfoError {
    pub line: usize,
    pub reason: &'static str,
}

impl std::fmt::Display for MountinfoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "mountinfo line {}: {}", self.line, self.reason)
    }
}

pub fn mountinfo(text: &str) -> Result<Vec<Mount>, MountinfoError> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            mount_line(l).map_err(|reason| MountinfoError {
                line: i + 1,
                reason,
            })
        })
        .collect()
}

fn mount_line(line: &str) -> Result<Mount, &'static str> {
    let fields: Vec<&str> = line.split(' ').collect();
    let sep = fields
        .iter()
        .position(|f| *f == "-")
        .ok_or("no \" - \" separator")?;
    if sep < 6 {
        return Err("fewer than 6 fields before the separator");
    }
    let [fs_type, source] = fields
        .get(sep + 1..sep + 3)
        .ok_or("no file system type and source")?
    else {
        return Err("no file system type and source");
    };
    let (major, minor) = fields[2]
        .split_once(':')
        .ok_or("device is not major:minor")?;
    Ok(Mount {
        major: major.parse().map_err(|_| "bad major number")?,
        minor: minor.parse().map_err(|_| "bad minor number")?,
        mount_point: unescape(fields[4]),
        options: fields[5].split(',').map(str::to_owned).collect(),
        fs_type: unescape(fs_type),
        source: unescape(source),
    })
}

/// Undoes the kernel's `\ooo` escaping (seq_file `mangle_path`).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() {
            let digits = &b[i + 1..i + 4];
            if digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
                let v = digits
                    .iter()
                    .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                if let Ok(byte) = u8::try_from(v) {
                    out.push(byte);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The mount visible at `path`: the last one listed there (later mounts
/// cover earlier ones).
pub fn mount_at<'a>(mounts: &'a [Mount], path: &str) -> Option<&'a Mount> {
    mounts.iter().rev().find(|m| m.mount_point == path)
}

/// A one-byte boolean UEFI variable as efivarfs shows it.
pub fn efi_bool(bytes: &[u8]) -> Result<bool, Error> {
    match bytes {
        [_, _, _, _, 0] => Ok(false),
        [_, _, _, _, 1] => Ok(true),
        [_, _, _, _, v] => Err(Error::EfiBool(*v)),
        _ => Err(Error::EfiLength(bytes.len())),
    }
}

/// The root hash in a verity table line:
/// `<version> <dev> <hash_dev> <data_bs> <hash_bs> <blocks> <hash_start> <alg> <digest> <salt> ...`.
pub fn verity_table_root_hash(params: &str) -> Option<&str> {
    params.split_ascii_whitespace().nth(8)
}

/// What a dm-crypt table line says (dm-crypt.rst: `<cipher> <key>
/// <iv_offset> <device> <offset> [<#opt_params> <opt_params>]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CryptTable {
    pub cipher: String,
    /// The key is a kernel keyring reference (`:<size>:<type>:<desc>`),
    /// not the key itself in hex.
    pub key_in_keyring: bool,
    /// `integrity:<bytes>:aead`: dm-integrity below holds a tag per sector.
    pub integrity_tag_size: Option<u32>,
}

pub fn crypt_table(params: &str) -> Option<CryptTable> {
    let words: Vec<&str> = params.split_ascii_whitespace().collect();
    let [cipher, key, _, _, _, rest @ ..] = words.as_slice() else {
        return None;
    };
    let integrity_tag_size = rest.iter().skip(1).find_map(|o| {
        let (size, kind) = o.strip_prefix("integrity:")?.split_once(':')?;
        (kind == "aead").then(|| size.parse().ok()).flatten()
    });
    Some(CryptTable {
        cipher: (*cipher).to_owned(),
        key_in_keyring: key.starts_with(':'),
        integrity_tag_size,
    })
}

/// The boot counter file: a decimal number and a newline.
pub fn boot_count(text: &str) -> Result<u64, Error> {
    text.trim()
        .parse()
        .map_err(|_| Error::BootCount(text.trim().into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
22 1 254:0 / / ro,relatime shared:1 - erofs /dev/mapper/clip-root-a ro,user_xattr,acl,cache_strategy=readaround
23 22 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
30 22 253:6 /var/lib /var/lib rw,nosuid,nodev,noexec,relatime shared:2 - ext4 /dev/vda6 rw
31 22 253:6 /home /home rw,nodev,relatime - ext4 /dev/vda6 rw
40 22 0:40 / /mnt/with\\040space rw - tmpfs my\\134dev rw
";

    #[test]
    fn mountinfo_fields() {
        let m = mountinfo(MOUNTINFO).unwrap();
        assert_eq!(m.len(), 5);
        assert_eq!((m[0].major, m[0].minor), (254, 0));
        assert_eq!(m[0].fs_type, "erofs");
        assert_eq!(m[0].source, "/dev/mapper/clip-root-a");
        assert_eq!(m[0].options, ["ro", "relatime"]);
        assert_eq!(
            m[2].options,
            ["rw", "nosuid", "nodev", "noexec", "relatime"]
        );
        assert_eq!(m[4].mount_point, "/mnt/with space");
        assert_eq!(m[4].source, "my\\dev");
    }

    #[test]
    fn mount_at_takes_the_top_mount() {
        let text = format!("{MOUNTINFO}50 22 0:50 / / rw - tmpfs none rw\n");
        let m = mountinfo(&text).unwrap();
        assert_eq!(mount_at(&m, "/").unwrap().fs_type, "tmpfs");
        assert_eq!(mount_at(&m, "/home").unwrap().minor, 6);
        assert!(mount_at(&m, "/var/log").is_none());
    }

    #[test]
    fn mountinfo_errors_name_the_line() {
        let e = mountinfo("22 1 254:0 / / ro shared:1 - erofs\n").unwrap_err();
        assert_eq!(e.line, 1);
        let e = mountinfo("\n22 1 254:0 / / ro shared:1 erofs x ro\n").unwrap_err();
        assert_eq!((e.line, e.reason), (2, "no \" - \" separator"));
        assert!(mountinfo("22 1 x:0 / / ro - erofs x ro").is_err());
        assert!(mountinfo("22 1 1:0 / - erofs x ro").is_err());
    }

    #[test]
    fn unescape_leaves_odd_backslashes() {
        assert_eq!(unescape("a\\040b"), "a b");
        assert_eq!(unescape("a\\04"), "a\\04");
        assert_eq!(unescape("\\999"), "\\999");
        assert_eq!(unescape("end\\"), "end\\");
    }

    #[test]
    fn efi_variables() {
        assert_eq!(efi_bool(&[6, 0, 0, 0, 1]), Ok(true));
        assert_eq!(efi_bool(&[6, 0, 0, 0, 0]), Ok(false));
        assert_eq!(efi_bool(&[6, 0, 0, 0, 2]), Err(Error::EfiBool(2)));
        assert_eq!(
            efi_bool(&[6, 0, 0, 0]).unwrap_err().to_string(),
            "4 bytes, expected 5 (4 attribute bytes and 1 data byte)"
        );
        assert!(efi_bool(&[6, 0, 0, 0, 1, 0]).is_err());
    }

    #[test]
    fn verity_table_line() {
        let line = "1 /dev/vda2 /dev/vda3 4096 4096 2560 1 sha256 \
            aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa bbbb";
        assert!(verity_table_root_hash(line).unwrap().starts_with("aaaa"));
        assert_eq!(verity_table_root_hash("1 a b"), None);
    }

    #[test]
    fn crypt_table_lines() {
        let line = "capi:authenc(hmac(sha256),xts(aes))-plain64 :96:logon:clip:state-x 0 254:1 0 \
                    2 integrity:32:aead sector_size:4096";
        assert_eq!(
            crypt_table(line),
            Some(CryptTable {
                cipher: "capi:authenc(hmac(sha256),xts(aes))-plain64".into(),
                key_in_keyring: true,
                integrity_tag_size: Some(32),
            })
        );
        let plain = crypt_table("aes-xts-plain64 0123abcd 0 8:3 4096").unwrap();
        assert!(!plain.key_in_keyring && plain.integrity_tag_size.is_none());
        assert_eq!(crypt_table("aes 00"), None);
    }

    #[test]
    fn boot_counter() {
        assert_eq!(boot_count("41\n"), Ok(41));
        assert_eq!(
            boot_count("-1").unwrap_err().to_string(),
            "\"-1\" is not a decimal count"
        );
        assert!(boot_count("").is_err());
    }
}
