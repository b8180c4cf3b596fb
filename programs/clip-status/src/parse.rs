//! Pure parsers of the kernel and image files clip-status reads.
//!
//! - `/proc/self/mountinfo`: proc(5) "/proc/pid/mountinfo" (fields, the
//!   `-` separator, octal escapes of spaces, tabs, newlines, backslashes);
//! - `/proc/cmdline`: `key=value` words (the last occurrence wins, as for
//!   the kernel's own parameters);
//! - efivarfs variables: 4 bytes of attributes then the data
//!   (Documentation/filesystems/efivarfs.rst), for the UEFI 2.10 §3.3
//!   globals `SecureBoot` and `SetupMode`: one byte, 0 or 1;
//! - `/usr/lib/clip/state.json`: the state paths written by `clip build`
//!   (docs: the issue 4 contract, "Root tree contents");
//! - the dm-verity table line (verity.rst, "Construction Parameters").

use serde::Deserialize;

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

/// The value of the last `key=value` word of a kernel command line.
pub fn cmdline_value<'a>(cmdline: &'a str, key: &str) -> Option<&'a str> {
    cmdline
        .split_ascii_whitespace()
        .filter_map(|w| w.strip_prefix(key)?.strip_prefix('='))
        .next_back()
}

/// `clip.slot`: `a` or `b`.
pub fn slot(cmdline: &str) -> Result<String, String> {
    match cmdline_value(cmdline, "clip.slot") {
        Some(s @ ("a" | "b")) => Ok(s.to_owned()),
        Some(other) => Err(format!("clip.slot={other} is neither a nor b")),
        None => Err("no clip.slot= on the kernel command line".into()),
    }
}

/// `clip.verity.roothash`: 64 lower-case hex digits (SHA-256).
pub fn root_hash(cmdline: &str) -> Result<String, String> {
    match cmdline_value(cmdline, "clip.verity.roothash") {
        Some(h) if is_sha256_hex(h) => Ok(h.to_owned()),
        Some(other) => Err(format!(
            "clip.verity.roothash={other} is not 64 lower-case hex digits"
        )),
        None => Err("no clip.verity.roothash= on the kernel command line".into()),
    }
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A one-byte boolean UEFI variable as efivarfs shows it.
pub fn efi_bool(bytes: &[u8]) -> Result<bool, String> {
    match bytes {
        [_, _, _, _, 0] => Ok(false),
        [_, _, _, _, 1] => Ok(true),
        [_, _, _, _, v] => Err(format!("value {v} is neither 0 nor 1")),
        _ => Err(format!(
            "{} bytes, expected 5 (4 attribute bytes and 1 data byte)",
            bytes.len()
        )),
    }
}

/// `/usr/lib/clip/state.json`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct StateConfig {
    pub paths: Vec<StatePath>,
}

/// One state path (other fields of the file are not needed here).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct StatePath {
    pub path: String,
    pub kind: String,
    #[serde(default)]
    pub options: Vec<String>,
}

pub fn state_config(text: &str) -> Result<StateConfig, String> {
    let config: StateConfig = serde_json::from_str(text).map_err(|e| e.to_string())?;
    for p in &config.paths {
        if !p.path.starts_with('/') {
            return Err(format!("state path {:?} is not absolute", p.path));
        }
        if p.kind != "dir" && p.kind != "file" {
            return Err(format!(
                "state path {}: kind {:?} is neither \"dir\" nor \"file\"",
                p.path, p.kind
            ));
        }
    }
    Ok(config)
}

/// The root hash in a verity table line:
/// `<version> <dev> <hash_dev> <data_bs> <hash_bs> <blocks> <hash_start> <alg> <digest> <salt> ...`.
pub fn verity_table_root_hash(params: &str) -> Option<&str> {
    params.split_ascii_whitespace().nth(8)
}

/// The boot counter file: a decimal number and a newline.
pub fn boot_count(text: &str) -> Result<u64, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("{:?} is not a decimal count", text.trim()))
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

    const CMDLINE: &str = "BOOT_IMAGE=x lockdown=integrity console=ttyS0,115200 clip.slot=a \
        clip.verity.roothash=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef \
        clip.verity.salt=00 clip.verity.data_blocks=10\n";

    #[test]
    fn cmdline_values() {
        assert_eq!(slot(CMDLINE).unwrap(), "a");
        assert!(root_hash(CMDLINE).unwrap().starts_with("0123"));
        assert_eq!(cmdline_value(CMDLINE, "clip.verity"), None);
        assert_eq!(cmdline_value("x=1 x=2", "x"), Some("2"));
        assert!(slot("clip.slot=c").unwrap_err().contains("neither"));
        assert!(slot("quiet").unwrap_err().contains("no clip.slot"));
        assert!(root_hash("clip.verity.roothash=ABCD").is_err());
    }

    #[test]
    fn efi_variables() {
        assert_eq!(efi_bool(&[6, 0, 0, 0, 1]), Ok(true));
        assert_eq!(efi_bool(&[6, 0, 0, 0, 0]), Ok(false));
        assert!(efi_bool(&[6, 0, 0, 0, 2]).is_err());
        assert!(efi_bool(&[6, 0, 0, 0]).unwrap_err().contains("4 bytes"));
        assert!(efi_bool(&[6, 0, 0, 0, 1, 0]).is_err());
    }

    #[test]
    fn state_json() {
        let text = r#"{"paths":[
            {"path":"/var/lib","kind":"dir","mode":"0755","owner":"root","group":"root","options":["nodev","nosuid","noexec"]},
            {"path":"/etc/machine-id","kind":"file","mode":"0444","owner":"root","group":"root","options":[]}]}"#;
        let c = state_config(text).unwrap();
        assert_eq!(c.paths.len(), 2);
        assert_eq!(c.paths[0].options, ["nodev", "nosuid", "noexec"]);
        assert!(state_config(r#"{"paths":[{"path":"var","kind":"dir"}]}"#).is_err());
        assert!(state_config(r#"{"paths":[{"path":"/x","kind":"fifo"}]}"#).is_err());
        assert!(state_config("{").is_err());
        assert!(state_config("{}").is_err());
    }

    #[test]
    fn verity_table_line() {
        let line = "1 /dev/vda2 /dev/vda3 4096 4096 2560 1 sha256 \
            aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa bbbb";
        assert!(verity_table_root_hash(line).unwrap().starts_with("aaaa"));
        assert_eq!(verity_table_root_hash("1 a b"), None);
    }

    #[test]
    fn boot_counter() {
        assert_eq!(boot_count("41\n"), Ok(41));
        assert!(boot_count("-1").is_err());
        assert!(boot_count("").is_err());
    }
}
