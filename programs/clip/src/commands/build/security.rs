//! Exposure scores of the root's services (issue 10, item 4: measured;
//! the confinement drop-ins that bring them down are not written yet):
//! `systemd-analyze security --offline=true --root=TREE UNIT` for every
//! service the image starts — those enabled in `/etc/systemd/system/*.wants`
//! (the product's and the builder's), the services behind enabled timers and
//! sockets, and systemd's own daemons that every boot starts. The host's
//! systemd-analyze reads the units of the tree (systemd 252 on Debian 12;
//! the tree's own systemd is not run).

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

/// systemd's daemons that every boot of the image starts, scored when the
/// tree has them.
const ALWAYS: &[&str] = &[
    "dbus.service",
    "systemd-journald.service",
    "systemd-logind.service",
    "systemd-udevd.service",
];

/// One unit's score.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Score {
    pub unit: String,
    /// 0.0 (confined) to 10.0 (exposed).
    pub exposure: f64,
    /// systemd's word for it: OK, MEDIUM, EXPOSED, UNSAFE.
    pub level: String,
}

/// The services the image starts, sorted.
pub fn started_services(tree: &Path) -> Result<Vec<String>> {
    let etc = tree.join("etc/systemd/system");
    let lib = tree.join("usr/lib/systemd/system");
    let mut units = std::collections::BTreeSet::new();
    for dir in std::fs::read_dir(&etc).with_context(|| format!("cannot list {}", etc.display()))? {
        let dir = dir?.path();
        if !dir.to_string_lossy().ends_with(".wants") {
            continue;
        }
        for e in
            std::fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))?
        {
            let name = e?.file_name().to_string_lossy().into_owned();
            let service = if let Some(base) = name
                .strip_suffix(".timer")
                .or_else(|| name.strip_suffix(".socket"))
            {
                format!("{base}.service")
            } else {
                name
            };
            if service.ends_with(".service") && !service.contains('@') {
                units.insert(service);
            }
        }
    }
    for unit in ALWAYS {
        if lib.join(unit).exists() {
            units.insert((*unit).to_owned());
        }
    }
    Ok(units
        .into_iter()
        .filter(|u| lib.join(u).exists() || etc.join(u).exists())
        .collect())
}

/// Scores every service of [`started_services`].
pub fn scores(tree: &Path) -> Result<Vec<Score>> {
    let mut out = Vec::new();
    for unit in started_services(tree)? {
        let run = Command::new("systemd-analyze")
            .args(["security", "--offline=true", "--no-pager"])
            .arg(format!("--root={}", tree.display()))
            .arg(&unit)
            .output()
            .context("cannot run systemd-analyze (package systemd)")?;
        let text = String::from_utf8_lossy(&run.stdout);
        let Some(score) = parse(&text, &unit) else {
            bail!(
                "systemd-analyze security gave no exposure level for {unit} ({}): {}",
                run.status,
                String::from_utf8_lossy(&run.stderr).trim()
            );
        };
        out.push(score);
    }
    Ok(out)
}

/// `→ Overall exposure level for UNIT: 8.4 EXPOSED 🙁`.
fn parse(text: &str, unit: &str) -> Option<Score> {
    let line = text
        .lines()
        .find_map(|l| l.split_once(&format!("Overall exposure level for {unit}: ")))?
        .1;
    let mut words = line.split_whitespace();
    let exposure = words.next()?.parse().ok()?;
    let level = words.next()?.to_owned();
    Some(Score {
        unit: unit.to_owned(),
        exposure,
        level,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overall_line() {
        let s = parse(
            "✗ UMask= ... 0.1\n\n→ Overall exposure level for dbus.service: 9.3 UNSAFE 😨\n",
            "dbus.service",
        )
        .unwrap();
        assert_eq!((s.exposure, s.level.as_str()), (9.3, "UNSAFE"));
        assert!(parse("nothing", "dbus.service").is_none());
    }
}
