//! The installed package list, from dpkg's status database
//! (deb-control(5) stanzas in `/var/lib/dpkg/status`).

/// `(name, version)` of every package whose status is `install ok
/// installed`, sorted by name (the `:arch` qualifier is not added: the tree
/// has one architecture).
pub fn installed(status: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for stanza in status.split("\n\n") {
        let (mut name, mut version, mut installed) = (None, None, false);
        for line in stanza.lines() {
            if let Some(v) = line.strip_prefix("Package:") {
                name = Some(v.trim());
            } else if let Some(v) = line.strip_prefix("Version:") {
                version = Some(v.trim());
            } else if let Some(v) = line.strip_prefix("Status:") {
                installed = v.trim() == "install ok installed";
            }
        }
        if let (Some(n), Some(v), true) = (name, version, installed) {
            out.push((n.to_owned(), v.to_owned()));
        }
    }
    out.sort();
    out
}

/// `status` without the stanzas of `names` (the stanza separator, a blank
/// line, is kept as dpkg writes it).
pub fn without(status: &str, names: &[String]) -> String {
    let mut out = String::new();
    for stanza in status.split("\n\n") {
        let name = stanza
            .lines()
            .find_map(|l| l.strip_prefix("Package:"))
            .map(str::trim);
        if name.is_some_and(|n| names.iter().any(|x| x == n)) || stanza.trim().is_empty() {
            continue;
        }
        out.push_str(stanza.trim_end_matches('\n'));
        out.push_str("\n\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stanzas_are_removed_by_name() {
        let status = "Package: apt\nStatus: install ok installed\nVersion: 3\n\n\
                      Package: bash\nStatus: install ok installed\nVersion: 5\n\n\
                      Package: perl-base\nStatus: install ok installed\nVersion: 5.40\n\n";
        let left = without(status, &["apt".into(), "perl-base".into()]);
        assert_eq!(
            left,
            "Package: bash\nStatus: install ok installed\nVersion: 5\n\n"
        );
        assert_eq!(installed(&left), [("bash".to_owned(), "5".to_owned())]);
    }

    #[test]
    fn only_installed_packages_sorted() {
        let status = "Package: zlib1g\nStatus: install ok installed\nVersion: 1:1.3.dfsg-3.1\n\
                      Description: x\n multi-line\n\n\
                      Package: gone\nStatus: deinstall ok config-files\nVersion: 1\n\n\
                      Package: bash\nStatus: install ok installed\nPriority: required\nVersion: 5.2.37-2\n";
        assert_eq!(
            installed(status),
            [
                ("bash".to_owned(), "5.2.37-2".to_owned()),
                ("zlib1g".to_owned(), "1:1.3.dfsg-3.1".to_owned())
            ]
        );
        assert!(installed("").is_empty());
    }
}
