//! The kernel policy check: every setting of the product's fragments must
//! hold in the kernel's final `.config` — after Kconfig resolved the
//! dependencies (`make olddefconfig` silently drops a setting whose
//! dependencies are off), or in the configuration Debian shipped with a
//! prebuilt kernel (`/boot/config-*`).
//!
//! `.config` syntax: Linux `scripts/kconfig/confdata.c` (`conf_write`):
//! `CONFIG_X=value` lines and `# CONFIG_X is not set` comments.

use std::collections::BTreeMap;

use crate::fragment::Setting;

/// A parsed `.config`: symbol → value (`n` for "is not set"). Absent
/// symbols are off too (their dependencies are not met).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config(pub BTreeMap<String, String>);

impl Config {
    pub fn parse(text: &str) -> Self {
        let mut map = BTreeMap::new();
        for line in text.lines() {
            let line = line.trim_end();
            if let Some(rest) = line.strip_prefix("# ") {
                if let Some(name) = rest.strip_suffix(" is not set") {
                    if name.starts_with("CONFIG_") && !name.contains(' ') {
                        map.insert(name.to_owned(), "n".to_owned());
                    }
                }
            } else if line.starts_with("CONFIG_") {
                if let Some((name, value)) = line.split_once('=') {
                    map.insert(name.to_owned(), value.to_owned());
                }
            }
        }
        Config(map)
    }

    /// The value as the policy sees it: `n` when unset or absent.
    pub fn get(&self, name: &str) -> &str {
        self.0.get(name).map_or("n", String::as_str)
    }
}

/// One setting checked.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Checked {
    pub name: String,
    pub want: String,
    /// What the configuration has (`n` when unset or absent).
    pub got: String,
    pub held: bool,
    pub reason: String,
    pub origin: String,
}

/// The result for the manifest.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Report {
    pub required: usize,
    pub held: usize,
    pub settings: Vec<Checked>,
}

impl Report {
    pub fn missing(&self) -> impl Iterator<Item = &Checked> {
        self.settings.iter().filter(|c| !c.held)
    }

    pub fn passed(&self) -> bool {
        self.held == self.required
    }

    /// One line per setting that does not hold, for an error message.
    pub fn describe_missing(&self) -> String {
        self.missing()
            .map(|c| {
                format!(
                    "{}={} required ({}: {}), the configuration has {}",
                    c.name,
                    c.want,
                    c.origin,
                    c.reason,
                    if c.got == "n" {
                        "it off".to_owned()
                    } else {
                        format!("{}={}", c.name, c.got)
                    }
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

pub fn check(required: &[Setting], config: &Config) -> Report {
    let settings: Vec<Checked> = required
        .iter()
        .map(|s| {
            let got = config.get(&s.name).to_owned();
            Checked {
                name: s.name.clone(),
                want: s.value.clone(),
                held: got == s.value,
                got,
                reason: s.reason.clone(),
                origin: s.origin.clone(),
            }
        })
        .collect();
    Report {
        required: settings.len(),
        held: settings.iter().filter(|c| c.held).count(),
        settings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fragment;

    #[test]
    fn off_means_unset_or_absent_and_values_must_match() {
        let config = Config::parse(
            "#\n# Automatically generated file; DO NOT EDIT.\nCONFIG_A=y\n# CONFIG_B is not set\nCONFIG_S=\"x\"\nCONFIG_N=65536\n",
        );
        let req = fragment::parse(
            "p",
            "CONFIG_A=y # r\nCONFIG_B=n # r\nCONFIG_C=n # r\nCONFIG_S=\"x\" # r\nCONFIG_N=4096 # low\nCONFIG_D=y # r\n",
        )
        .unwrap();
        let report = check(&req, &config);
        assert_eq!((report.required, report.held), (6, 4));
        let missing: Vec<_> = report.missing().map(|c| c.name.as_str()).collect();
        assert_eq!(missing, ["CONFIG_N", "CONFIG_D"]);
        assert_eq!(
            report.describe_missing(),
            "CONFIG_N=4096 required (p:5: low), the configuration has CONFIG_N=65536\n\
             CONFIG_D=y required (p:6: r), the configuration has it off"
        );
    }
}
