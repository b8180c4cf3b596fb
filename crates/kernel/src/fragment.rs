//! Configuration fragments as a product keeps them: Kconfig assignments
//! (the `.config` syntax of Linux's `Documentation/kbuild/kconfig.rst`),
//! one per line, each followed by its reason:
//!
//! ```text
//! # comment lines and blank lines are free
//! CONFIG_MODULES=n                # no loadable modules
//! CONFIG_LSM="landlock,lockdown"  # the LSMs, in order
//! ```
//!
//! `=n` stands for Kconfig's `# CONFIG_X is not set`. A setting without a
//! reason, a value Kconfig cannot hold, or a name set twice (in one
//! fragment or across the product's fragments) is refused: every setting
//! is a requirement of the product's kernel policy ([`crate::policy`]).

use std::collections::BTreeMap;

/// Why a fragment is refused; `file:line` first.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FragmentError {
    #[error("{file}:{line}: {problem}")]
    Line {
        file: String,
        line: usize,
        problem: String,
    },
    #[error("{name} is set in {first} and again in {second}")]
    Duplicate {
        name: String,
        first: String,
        second: String,
    },
}

/// One required setting.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Setting {
    /// `CONFIG_…`.
    pub name: String,
    /// As Kconfig writes it: `y`, `n`, `m`, a number, or a quoted string.
    pub value: String,
    pub reason: String,
    /// `file:line`.
    pub origin: String,
}

impl Setting {
    /// The `.config` line Kconfig reads.
    pub fn kconfig_line(&self) -> String {
        if self.value == "n" {
            format!("# {} is not set", self.name)
        } else {
            format!("{}={}", self.name, self.value)
        }
    }
}

/// Parses one fragment; `file` names it in errors and origins.
pub fn parse(file: &str, text: &str) -> Result<Vec<Setting>, FragmentError> {
    let mut out: Vec<Setting> = Vec::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let bad = |problem: String| FragmentError::Line {
            file: file.to_owned(),
            line,
            problem,
        };
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let (name, rest) = trimmed
            .split_once('=')
            .ok_or_else(|| bad(format!("{trimmed:?} is not a CONFIG_NAME=value setting")))?;
        if !valid_name(name) {
            return Err(bad(format!(
                "{name:?} is not a Kconfig symbol (CONFIG_ followed by [A-Z0-9_])"
            )));
        }
        let (value, after) = split_value(rest).map_err(&bad)?;
        let after = after.trim_start();
        let reason = after
            .strip_prefix('#')
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .ok_or_else(|| {
                bad(format!(
                    "{name} has no reason: write it after the value, as `{name}={value}  # why`"
                ))
            })?;
        if let Some(first) = seen.insert(name.to_owned(), line) {
            return Err(FragmentError::Duplicate {
                name: name.to_owned(),
                first: format!("{file}:{first}"),
                second: format!("{file}:{line}"),
            });
        }
        out.push(Setting {
            name: name.to_owned(),
            value: value.to_owned(),
            reason: reason.to_owned(),
            origin: format!("{file}:{line}"),
        });
    }
    Ok(out)
}

/// The settings of several fragments, in order; a name set in two of them
/// is refused (which one should win would be a guess).
pub fn merge(fragments: &[Vec<Setting>]) -> Result<Vec<Setting>, FragmentError> {
    let mut by_name: BTreeMap<&str, &Setting> = BTreeMap::new();
    let mut out = Vec::new();
    for setting in fragments.iter().flatten() {
        if let Some(first) = by_name.insert(&setting.name, setting) {
            return Err(FragmentError::Duplicate {
                name: setting.name.clone(),
                first: first.origin.clone(),
                second: setting.origin.clone(),
            });
        }
        out.push(setting.clone());
    }
    Ok(out)
}

/// The fragment Kconfig reads (no reasons): one line per setting.
pub fn render(settings: &[Setting]) -> String {
    let mut text = String::new();
    for s in settings {
        text.push_str(&s.kconfig_line());
        text.push('\n');
    }
    text
}

fn valid_name(name: &str) -> bool {
    name.strip_prefix("CONFIG_").is_some_and(|rest| {
        !rest.is_empty()
            && rest
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
    })
}

/// `(value, rest of the line)`.
fn split_value(rest: &str) -> Result<(&str, &str), String> {
    if let Some(body) = rest.strip_prefix('"') {
        let mut escaped = false;
        for (i, c) in body.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => return Ok((&rest[..i + 2], &body[i + 1..])),
                _ => {}
            }
        }
        return Err("the string value has no closing quote".into());
    }
    let end = rest
        .find(|c: char| c.is_whitespace() || c == '#')
        .unwrap_or(rest.len());
    let value = &rest[..end];
    let ok = matches!(value, "y" | "n" | "m")
        || (value
            .strip_prefix('-')
            .unwrap_or(value)
            .bytes()
            .all(|b| b.is_ascii_digit())
            && !value.trim_start_matches('-').is_empty())
        || value
            .strip_prefix("0x")
            .is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()));
    if !ok {
        return Err(format!(
            "{value:?} is not a Kconfig value (y, n, m, a number, 0x… or a \"string\")"
        ));
    }
    Ok((value, &rest[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_with_reasons() {
        let text = "# head\n\nCONFIG_A=y  # because\nCONFIG_B=n # off\nCONFIG_C=\"x # y\" # str\nCONFIG_D=-1 #neg\nCONFIG_E=0x1f # hex\n";
        let s = parse("f.config", text).unwrap();
        assert_eq!(s.len(), 5);
        assert_eq!(s[0].kconfig_line(), "CONFIG_A=y");
        assert_eq!(s[1].kconfig_line(), "# CONFIG_B is not set");
        assert_eq!(s[2].value, "\"x # y\"");
        assert_eq!(s[2].reason, "str");
        assert_eq!(s[3].value, "-1");
        assert_eq!(s[4].origin, "f.config:7");
    }

    #[test]
    fn refusals_name_the_line() {
        let cases = [
            ("CONFIG_A=y\n", "f:1: CONFIG_A has no reason"),
            ("CONFIG_A=y #   \n", "f:1: CONFIG_A has no reason"),
            (
                "config_a=y # r\n",
                "f:1: \"config_a\" is not a Kconfig symbol",
            ),
            ("CONFIG_A # r\n", "is not a CONFIG_NAME=value setting"),
            ("CONFIG_A=yes # r\n", "\"yes\" is not a Kconfig value"),
            ("CONFIG_A=\"open # r\n", "no closing quote"),
            (
                "\n\nCONFIG_A=y # r\nCONFIG_A=n # r\n",
                "CONFIG_A is set in f:3 and again in f:4",
            ),
        ];
        for (text, want) in cases {
            let err = parse("f", text).unwrap_err().to_string();
            assert!(err.contains(want), "{text:?}: {err}");
        }
    }

    #[test]
    fn merge_refuses_a_name_in_two_fragments() {
        let a = parse("a", "CONFIG_X=y # r\n").unwrap();
        let b = parse("b", "CONFIG_Y=y # r\nCONFIG_X=n # r\n").unwrap();
        let err = merge(&[a.clone(), b]).unwrap_err().to_string();
        assert_eq!(err, "CONFIG_X is set in a:1 and again in b:2");
        let c = parse("c", "CONFIG_Z=n # r\n").unwrap();
        assert_eq!(
            render(&merge(&[a, c]).unwrap()),
            "CONFIG_X=y\n# CONFIG_Z is not set\n"
        );
    }
}
