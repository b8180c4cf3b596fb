//! Where a device finds its update server when it runs under
//! `clip boot --update-server URL` (docs/testing-qemu.md, "The update
//! server"): QEMU's user network forwards TCP connections to
//! [`SERVER_ADDRESS`]:[`SERVER_PORT`] (an address of QEMU's virtual
//! 10.0.2.0/24 network that nothing else uses) to the host's loopback URL,
//! and the guest reaches nothing else. The product's `[update]` server URL
//! defaults to [`DEFAULT_SERVER_URL`], so the same image updates from
//! `clip repo serve` in a test and from a real server once configured.
//!
//! Also the rest of the device's update contract (docs/update.md, "Design:
//! the update contract (issue 9)", "Device", and "HTTPS"): the paths of the
//! trust root, of the HTTPS server's CA bundle ([`CA_PATH`]), of the
//! product's `[update]` configuration ([`UpdateConfig`], written by
//! `clip build`, read by `clip-updated`) and of the daemon's state, and the
//! boot entries on the ESP: their file names with systemd's boot counting
//! (Boot Loader Specification, "Boot counting": `+LEFT[-DONE]` before
//! `.conf`; [`entry_file`], [`EntryFile::parse`]), the slot's UKI path
//! ([`uki_path`]) and the entry's text ([`entry_text`]).

use std::fmt;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::{Slot, Version};

/// The update server's address as the guest sees it.
pub const SERVER_ADDRESS: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 100);
/// The update server's TCP port as the guest sees it (plain HTTP: the
/// repository's metadata is signed, TUF decides what is trusted).
pub const SERVER_PORT: u16 = 80;
/// [`SERVER_ADDRESS`] and [`SERVER_PORT`] as a URL (the path of the host's
/// URL is kept: `--update-server http://127.0.0.1:8080/repo` is
/// `http://10.0.2.100/repo` in the guest).
pub const DEFAULT_SERVER_URL: &str = "http://10.0.2.100/";

/// The product's `[update]` section on the device (read-only root).
pub const CONFIG_PATH: &str = "/usr/lib/clip/update.json";
/// The trust root: the key set's `update-root.json` (TUF root version 1).
pub const ROOT_PATH: &str = "/usr/lib/clip/update/root.json";
/// The CA bundle (PEM) the daemon trusts for an `https://` server: the
/// product's `[update] ca`, copied by `clip build`; update.json's `ca`
/// names it. The only TLS roots: the device has no system store.
pub const CA_PATH: &str = "/usr/lib/clip/update/ca.pem";
/// The daemon's state (state partition): trusted metadata, download cache,
/// `status.json`.
pub const STATE_DIR: &str = "/var/lib/clip-updated";

/// Default seconds between two checks.
pub const DEFAULT_CHECK_INTERVAL_SECONDS: u64 = 3600;
/// Default seconds from boot to the first check: soon, so that a demo shows
/// v1 → v2 without waiting.
pub const DEFAULT_FIRST_CHECK_DELAY_SECONDS: u64 = 5;
/// Bounds of the check interval (10 s for tests, at most 30 days).
pub const CHECK_INTERVAL_RANGE: (u64, u64) = (10, 30 * 24 * 3600);
/// Longest first check delay (one day).
pub const MAX_FIRST_CHECK_DELAY_SECONDS: u64 = 24 * 3600;
/// Most health checks a product may list.
pub const MAX_HEALTH_CHECKS: usize = 32;
/// Longest server URL or health check command line.
pub const MAX_TEXT_LEN: usize = 1024;
/// Tries a newly installed slot gets (its entry is `<product>-<slot>+3.conf`).
pub const NEW_ENTRY_TRIES: u32 = 3;

/// An update configuration or boot entry name that breaks the contract.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("update.json is not valid: {0}")]
    Json(String),
    #[error(
        "update server URL {0:?} is not an http:// or https:// URL with a host (and no spaces, \
         control characters, user information, query or fragment)"
    )]
    ServerUrl(String),
    #[error(
        "update check interval {0} s is out of range ({low} s to {high} s)",
        low = CHECK_INTERVAL_RANGE.0,
        high = CHECK_INTERVAL_RANGE.1
    )]
    CheckInterval(u64),
    #[error(
        "first update check delay {0} s is more than {MAX_FIRST_CHECK_DELAY_SECONDS} s (one day)"
    )]
    FirstCheckDelay(u64),
    #[error("{count} health checks listed, at most {MAX_HEALTH_CHECKS} allowed")]
    TooManyHealthChecks { count: usize },
    #[error(
        "health check {0:?} does not start with an absolute program path (it is run without a \
         shell: words split at spaces, the first one the program)"
    )]
    HealthCheck(String),
    #[error(
        "update server {0:?} is https:// but no ca is configured: the device trusts no system CA \
         store, so an https server needs the CA bundle that signed its certificate"
    )]
    HttpsWithoutCa(String),
    #[error(
        "a ca is configured but the update server {0:?} is not https:// (the CA would not be used)"
    )]
    CaWithoutHttps(String),
    #[error("ca path {0:?} is empty or has control characters")]
    CaPath(String),
    #[error("{what} is {len} bytes long, at most {MAX_TEXT_LEN} allowed")]
    TooLong { what: &'static str, len: usize },
    #[error(
        "boot entry file name {0:?} is not <product>-<a|b>[+LEFT[-DONE]].conf (Boot Loader \
         Specification boot counting)"
    )]
    EntryName(String),
}

/// When `clip-updated` reboots into an installed update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reboot {
    /// At once, when the new slot is installed.
    #[default]
    Now,
    /// Left to the next reboot, whoever makes it.
    NextBoot,
}

impl Reboot {
    pub fn as_str(self) -> &'static str {
        match self {
            Reboot::Now => "now",
            Reboot::NextBoot => "next-boot",
        }
    }
}

impl fmt::Display for Reboot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn default_server() -> String {
    DEFAULT_SERVER_URL.into()
}
fn default_interval() -> u64 {
    DEFAULT_CHECK_INTERVAL_SECONDS
}
fn default_first_delay() -> u64 {
    DEFAULT_FIRST_CHECK_DELAY_SECONDS
}

/// `/usr/lib/clip/update.json`: the product's `[update]` section, with the
/// same fields and defaults (the product crate uses this type for its TOML).
///
/// ```text
/// {"server":"http://10.0.2.100/","check_interval_seconds":3600,
///  "first_check_delay_seconds":5,"reboot":"now","health_checks":[]}
/// ```
///
/// With an `https://` server, `ca` is required (and only then allowed): in
/// the product, the CA bundle's path relative to the product directory; in
/// update.json, [`CA_PATH`] ([`UpdateConfig::on_device`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateConfig {
    /// Base URL of the update repository (its `metadata/` and `targets/`).
    #[serde(default = "default_server")]
    pub server: String,
    /// Seconds between two checks (the timer's `OnUnitActiveSec`).
    #[serde(default = "default_interval")]
    pub check_interval_seconds: u64,
    /// Seconds from boot to the first check (the timer's `OnBootSec`).
    #[serde(default = "default_first_delay")]
    pub first_check_delay_seconds: u64,
    /// When to reboot into an installed update.
    #[serde(default)]
    pub reboot: Reboot,
    /// Command lines `clip-updated health` runs after a boot, in order,
    /// before the slot is marked good; each is split at ASCII spaces and run
    /// without a shell, its first word an absolute program path. A failing
    /// one fails the boot's try.
    #[serde(default)]
    pub health_checks: Vec<String>,
    /// The PEM bundle of the CA(s) the `https://` server's certificate
    /// chains to: the only TLS trust roots (absent for `http://`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<String>,
}

impl Default for UpdateConfig {
    fn default() -> Self {
        UpdateConfig {
            server: default_server(),
            check_interval_seconds: DEFAULT_CHECK_INTERVAL_SECONDS,
            first_check_delay_seconds: DEFAULT_FIRST_CHECK_DELAY_SECONDS,
            reboot: Reboot::Now,
            health_checks: Vec::new(),
            ca: None,
        }
    }
}

impl UpdateConfig {
    /// Reads and checks update.json.
    pub fn from_json(bytes: &[u8]) -> Result<Self, Error> {
        let config: UpdateConfig =
            serde_json::from_slice(bytes).map_err(|e| Error::Json(e.to_string()))?;
        config.check()?;
        Ok(config)
    }

    /// Whether the server is reached over TLS.
    pub fn is_https(&self) -> bool {
        self.server.starts_with("https://")
    }

    /// The configuration as the image carries it: `ca`, when set, is
    /// [`CA_PATH`], where `clip build` copies the product's bundle.
    pub fn on_device(&self) -> UpdateConfig {
        UpdateConfig {
            ca: self.ca.as_ref().map(|_| CA_PATH.to_owned()),
            ..self.clone()
        }
    }

    /// The JSON `clip build` writes (pretty, with a final newline).
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }

    /// Every rule of the contract.
    pub fn check(&self) -> Result<(), Error> {
        check_server_url(&self.server)?;
        match (&self.ca, self.is_https()) {
            (None, true) => return Err(Error::HttpsWithoutCa(self.server.clone())),
            (Some(_), false) => return Err(Error::CaWithoutHttps(self.server.clone())),
            (Some(ca), true) => {
                if ca.len() > MAX_TEXT_LEN {
                    return Err(Error::TooLong {
                        what: "ca path",
                        len: ca.len(),
                    });
                }
                if ca.is_empty() || ca.chars().any(char::is_control) {
                    return Err(Error::CaPath(ca.clone()));
                }
            }
            (None, false) => {}
        }
        let (low, high) = CHECK_INTERVAL_RANGE;
        if !(low..=high).contains(&self.check_interval_seconds) {
            return Err(Error::CheckInterval(self.check_interval_seconds));
        }
        if self.first_check_delay_seconds > MAX_FIRST_CHECK_DELAY_SECONDS {
            return Err(Error::FirstCheckDelay(self.first_check_delay_seconds));
        }
        if self.health_checks.len() > MAX_HEALTH_CHECKS {
            return Err(Error::TooManyHealthChecks {
                count: self.health_checks.len(),
            });
        }
        for check in &self.health_checks {
            health_check_argv(check)?;
        }
        Ok(())
    }
}

/// A health check's program and arguments: the command line split at ASCII
/// spaces (no shell, no quoting).
pub fn health_check_argv(line: &str) -> Result<Vec<&str>, Error> {
    if line.len() > MAX_TEXT_LEN {
        return Err(Error::TooLong {
            what: "health check",
            len: line.len(),
        });
    }
    let words: Vec<&str> = line.split(' ').filter(|w| !w.is_empty()).collect();
    let ok =
        words.first().is_some_and(|p| p.starts_with('/')) && !line.chars().any(char::is_control);
    if !ok {
        return Err(Error::HealthCheck(line.into()));
    }
    Ok(words)
}

fn check_server_url(url: &str) -> Result<(), Error> {
    if url.len() > MAX_TEXT_LEN {
        return Err(Error::TooLong {
            what: "update server URL",
            len: url.len(),
        });
    }
    let bad = || Error::ServerUrl(url.into());
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(bad)?;
    let host = rest.split('/').next().unwrap_or("");
    let forbidden = |c: char| c.is_control() || c.is_whitespace() || "?#\\\"".contains(c);
    if host.is_empty() || host.contains('@') || url.chars().any(forbidden) {
        return Err(bad());
    }
    Ok(())
}

/// Boot counting state of an entry: tries left and tries done (the
/// `+LEFT-DONE` of its file name).
pub type Tries = (u32, u32);

/// A boot entry's file name in `loader/entries/`:
/// `<product>-<slot>.conf` (marked good, or never counted), or
/// `<product>-<slot>+LEFT[-DONE].conf` (being tried). systemd-boot renames
/// `+LEFT-DONE` to `+(LEFT-1)-(DONE+1)` before it boots the entry; an entry
/// with `+0` has no tries left and is sorted last.
pub fn entry_file(product: &str, slot: Slot, tries: Option<Tries>) -> String {
    match tries {
        None => format!("{product}-{slot}.conf"),
        Some((left, 0)) => format!("{product}-{slot}+{left}.conf"),
        Some((left, done)) => format!("{product}-{slot}+{left}-{done}.conf"),
    }
}

/// The ESP directory of the entries.
pub const ENTRIES_DIR: &str = "loader/entries";

/// A parsed boot entry file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryFile {
    pub product: String,
    pub slot: Slot,
    pub tries: Option<Tries>,
}

impl EntryFile {
    /// Parses a file name with systemd-boot's grammar for the counter
    /// (src/boot/boot.c, boot_entry_parse_tries: the last `+`, decimal
    /// LEFT, optionally `-` and decimal DONE, then exactly `.conf`; a `+`
    /// not followed by that is no counter), then `<product>-<a|b>` before
    /// it. The suffix is compared without case, as systemd-boot does on FAT.
    pub fn parse(name: &str) -> Result<Self, Error> {
        let bad = || Error::EntryName(name.into());
        let split = name.len().checked_sub(5).ok_or_else(bad)?;
        if !name.is_char_boundary(split) || !name[split..].eq_ignore_ascii_case(".conf") {
            return Err(bad());
        }
        let stem = &name[..split];
        let (base, tries) = match stem.rsplit_once('+') {
            Some((base, counter)) => match parse_counter(counter) {
                Some(tries) => (base, Some(tries)),
                None => (stem, None),
            },
            None => (stem, None),
        };
        let (product, slot) = base.rsplit_once('-').ok_or_else(bad)?;
        let slot = match slot {
            "a" => Slot::A,
            "b" => Slot::B,
            _ => return Err(bad()),
        };
        let product_ok = !product.is_empty()
            && product
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !product_ok {
            return Err(bad());
        }
        Ok(EntryFile {
            product: product.into(),
            slot,
            tries,
        })
    }

    /// The file name again (`-0` is left out).
    pub fn file_name(&self) -> String {
        entry_file(&self.product, self.slot, self.tries)
    }

    /// Whether systemd-boot sorts this entry last: a counter with no tries
    /// left.
    pub fn exhausted(&self) -> bool {
        matches!(self.tries, Some((0, _)))
    }
}

/// `LEFT` or `LEFT-DONE`, decimal digits only (systemd's parse_number16
/// takes digits only, at most INT_MAX).
fn parse_counter(text: &str) -> Option<Tries> {
    let number = |t: &str| -> Option<u32> {
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        t.parse::<u32>()
            .ok()
            .filter(|n| *n <= i32::MAX.unsigned_abs())
    };
    match text.split_once('-') {
        Some((left, done)) => Some((number(left)?, number(done)?)),
        None => Some((number(text)?, 0)),
    }
}

/// ESP path of a slot's UKI (no leading `/`).
pub fn uki_path(product: &str, slot: Slot) -> String {
    format!("EFI/{product}/{product}-{slot}.efi")
}

/// The `version` line of an entry: systemd-boot orders entries of the same
/// `sort-key` by it, newest first (strverscmp_improved). SemVer's
/// pre-release separator `-` becomes `~`, which systemd sorts before the
/// release (`2.0.0~rc1` < `2.0.0`, as SemVer says). ([`Version`] takes
/// no build metadata.) The two orders agree for versions without a
/// pre-release or with a pre-release of one word of letters followed by
/// numbers (`-rc`, `-beta.2`; fuzz target `version`), which include every
/// version crates/rollback gives a rollback index; for others they can
/// differ (systemd takes `1.0.0~alpha.1` for newer than `1.0.0~alpha.beta`
/// and `~rc10` for newer than `~rc9`, SemVer the opposite, and it reads a
/// `-` inside the pre-release as a separator).
pub fn entry_version(version: &Version) -> String {
    version.as_str().replacen('-', "~", 1)
}

/// The SemVer text of an entry's `version` line: the inverse of
/// [`entry_version`] (a SemVer version has no `~`, so the first one is the
/// pre-release separator). Not validated: callers compare it as text.
pub fn version_of_entry(line: &str) -> String {
    line.trim().replacen('~', "-", 1)
}

/// A type #1 entry running the slot's UKI: `title`, `version` (see
/// [`entry_version`]), `sort-key` (the product: both slots share it, so
/// systemd-boot orders them by version) and `efi`.
pub fn entry_text(pretty_name: &str, product: &str, version: &Version, slot: Slot) -> String {
    format!(
        "title {pretty_name} {version} (slot {})\nversion {}\nsort-key {product}\nefi /{}\n",
        slot.as_str().to_ascii_uppercase(),
        entry_version(version),
        uki_path(product, slot)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names_follow_boot_counting() {
        assert_eq!(
            entry_file("clipos", Slot::B, Some((3, 0))),
            "clipos-b+3.conf"
        );
        assert_eq!(
            entry_file("clipos", Slot::B, Some((2, 1))),
            "clipos-b+2-1.conf"
        );
        assert_eq!(entry_file("clipos", Slot::B, None), "clipos-b.conf");
        assert_eq!(
            entry_file("clipos", Slot::A, Some((0, 3))),
            "clipos-a+0-3.conf"
        );
        for (name, product, slot, tries) in [
            ("clipos-b+3.conf", "clipos", Slot::B, Some((3, 0))),
            ("clipos-b+2-1.conf", "clipos", Slot::B, Some((2, 1))),
            ("clipos-b+0-3.conf", "clipos", Slot::B, Some((0, 3))),
            ("clipos-a.conf", "clipos", Slot::A, None),
            ("my-os-a+1.CONF", "my-os", Slot::A, Some((1, 0))),
            ("clipos-a+3-0.conf", "clipos", Slot::A, Some((3, 0))),
        ] {
            let e = EntryFile::parse(name).unwrap();
            assert_eq!(
                (e.product.as_str(), e.slot, e.tries),
                (product, slot, tries),
                "{name}"
            );
        }
        assert!(EntryFile::parse("clipos-b+0-3.conf").unwrap().exhausted());
        assert!(!EntryFile::parse("clipos-b+1-2.conf").unwrap().exhausted());
        assert_eq!(
            EntryFile::parse("clipos-a+3-0.conf").unwrap().file_name(),
            "clipos-a+3.conf"
        );
        for bad in [
            "clipos-c.conf",
            "clipos-a+.conf",
            "clipos-a+x.conf",
            "clipos-a+1-.conf",
            "clipos-a+-1.conf",
            "clipos-a+1-2-3.conf",
            "clipos-a+2147483648.conf",
            "clipos-a+1.conf.bak",
            "clipos-a",
            "-a.conf",
            "Clipos-a.conf",
            "clipos-a+1+2.conf",
            ".conf",
            "é.conf",
        ] {
            assert_eq!(
                EntryFile::parse(bad),
                Err(Error::EntryName(bad.into())),
                "{bad} must be refused"
            );
        }
    }

    /// Every name up to 5 characters over an alphabet of the grammar's
    /// pieces (and a multi-byte character) after `x-a`: parsing never
    /// panics, and what it accepts is printed back to a name that parses
    /// to the same entry.
    #[test]
    fn entry_names_parse_without_panics_and_round_trip() {
        const ALPHABET: [&str; 12] = ["a", "b", "-", "+", "0", "1", ".", "c", "o", "n", "f", "é"];
        let mut accepted = 0;
        let mut stack = vec![String::new()];
        while let Some(tail) = stack.pop() {
            for name in [format!("x-a{tail}"), format!("x-a{tail}.conf")] {
                if let Ok(e) = EntryFile::parse(&name) {
                    accepted += 1;
                    assert_eq!(EntryFile::parse(&e.file_name()), Ok(e.clone()), "{name}");
                }
            }
            if tail.chars().count() < 5 {
                stack.extend(ALPHABET.iter().map(|c| format!("{tail}{c}")));
            }
        }
        assert!(accepted > 100, "{accepted}");
    }

    #[test]
    fn entry_text_and_version_order() {
        let v = Version::parse("2.0.0-rc.1").unwrap();
        assert_eq!(entry_version(&v), "2.0.0~rc.1");
        for text in ["2.0.0-rc.1", "2.0.0-rc-1.x-y", "2.0.0"] {
            let v = Version::parse(text).unwrap();
            assert_eq!(version_of_entry(&entry_version(&v)), text);
        }
        assert_eq!(
            entry_text(
                "CLIP OS",
                "clipos",
                &Version::parse("1.2.0").unwrap(),
                Slot::B
            ),
            "title CLIP OS 1.2.0 (slot B)\nversion 1.2.0\nsort-key clipos\nefi /EFI/clipos/clipos-b.efi\n"
        );
        assert_eq!(uki_path("clipos", Slot::A), "EFI/clipos/clipos-a.efi");
    }

    #[test]
    fn update_config_defaults_and_checks() {
        let c = UpdateConfig::from_json(b"{}").unwrap();
        assert_eq!(c, UpdateConfig::default());
        assert_eq!(c.server, DEFAULT_SERVER_URL);
        assert_eq!(c.reboot, Reboot::Now);
        assert_eq!(UpdateConfig::from_json(c.to_json().as_bytes()).unwrap(), c);
        let c = UpdateConfig::from_json(
            br#"{"reboot":"next-boot","health_checks":["/usr/bin/true --x  y"]}"#,
        )
        .unwrap();
        assert_eq!(c.reboot, Reboot::NextBoot);
        assert_eq!(
            health_check_argv(&c.health_checks[0]).unwrap(),
            ["/usr/bin/true", "--x", "y"]
        );
        let cases: [(&str, Error); 7] = [
            (
                r#"{"server":"ftp://x/"}"#,
                Error::ServerUrl("ftp://x/".into()),
            ),
            (
                r#"{"server":"http:///x"}"#,
                Error::ServerUrl("http:///x".into()),
            ),
            (
                r#"{"server":"http://u@h/"}"#,
                Error::ServerUrl("http://u@h/".into()),
            ),
            (r#"{"check_interval_seconds":9}"#, Error::CheckInterval(9)),
            (
                r#"{"first_check_delay_seconds":86401}"#,
                Error::FirstCheckDelay(86401),
            ),
            (
                r#"{"health_checks":["true"]}"#,
                Error::HealthCheck("true".into()),
            ),
            (r#"{"health_checks":[" "]}"#, Error::HealthCheck(" ".into())),
        ];
        for (json, error) in cases {
            assert_eq!(
                UpdateConfig::from_json(json.as_bytes()),
                Err(error),
                "{json}"
            );
        }
        assert!(matches!(
            UpdateConfig::from_json(br#"{"reboot":"later"}"#),
            Err(Error::Json(m)) if m.contains("unknown variant `later`")
        ));
        assert!(matches!(
            UpdateConfig::from_json(br#"{"sever":"x"}"#),
            Err(Error::Json(m)) if m.contains("unknown field `sever`")
        ));
    }

    #[test]
    fn https_needs_a_ca_and_only_https_takes_one() {
        let c =
            UpdateConfig::from_json(br#"{"server":"https://u.example/","ca":"ca.pem"}"#).unwrap();
        assert!(c.is_https());
        assert_eq!(c.ca.as_deref(), Some("ca.pem"));
        let d = c.on_device();
        assert_eq!(d.ca.as_deref(), Some(CA_PATH));
        assert_eq!(
            d.to_json(),
            "{\n  \"server\": \"https://u.example/\",\n  \"check_interval_seconds\": 3600,\n  \
             \"first_check_delay_seconds\": 5,\n  \"reboot\": \"now\",\n  \"health_checks\": [],\n  \
             \"ca\": \"/usr/lib/clip/update/ca.pem\"\n}\n"
        );
        assert_eq!(UpdateConfig::from_json(d.to_json().as_bytes()), Ok(d));
        // No ca: update.json as before the field existed.
        assert!(!UpdateConfig::default().to_json().contains("ca"));
        assert_eq!(UpdateConfig::default().on_device(), UpdateConfig::default());
        for (json, error) in [
            (
                r#"{"server":"https://u.example/"}"#,
                Error::HttpsWithoutCa("https://u.example/".into()),
            ),
            (
                r#"{"ca":"ca.pem"}"#,
                Error::CaWithoutHttps(DEFAULT_SERVER_URL.into()),
            ),
            (
                r#"{"server":"https://u.example/","ca":""}"#,
                Error::CaPath(String::new()),
            ),
            (
                r#"{"server":"https://u.example/","ca":"a\nb"}"#,
                Error::CaPath("a\nb".into()),
            ),
        ] {
            assert_eq!(
                UpdateConfig::from_json(json.as_bytes()),
                Err(error),
                "{json}"
            );
        }
        assert_eq!(
            Error::HttpsWithoutCa("https://u.example/".into()).to_string(),
            "update server \"https://u.example/\" is https:// but no ca is configured: the device \
             trusts no system CA store, so an https server needs the CA bundle that signed its \
             certificate"
        );
    }

    #[test]
    fn the_url_names_the_address_and_port() {
        assert_eq!(SERVER_PORT, 80, "the URL has no port: HTTP's default");
        assert_eq!(DEFAULT_SERVER_URL, format!("http://{SERVER_ADDRESS}/"));
    }
}
