//! Release versions: `MAJOR.MINOR.PATCH[-PRERELEASE]`, ordered by the
//! precedence rules of Semantic Versioning 2.0.0 (§11), without build
//! metadata. One definition for the product file, the update repository and
//! the device's anti-rollback check, so that "newer" means the same thing
//! in all of them.
//!
//! Stricter than SemVer where ambiguity would hurt: lowercase only (two
//! spellings of one version could otherwise be two releases), no leading
//! zeros, at most 64 bytes.

use std::cmp::Ordering;
use std::fmt;

/// Longest version string accepted.
pub const MAX_LEN: usize = 64;

/// A version that breaks the rules above.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{value:?} is not a version MAJOR.MINOR.PATCH[-PRERELEASE] (lowercase, no leading zeros, at most {MAX_LEN} bytes)"
)]
pub struct Error {
    pub value: String,
}

/// A parsed version. `Ord` is SemVer precedence: `1.0.0-alpha.1 <
/// 1.0.0-beta < 1.0.0 < 1.0.1`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Version {
    text: String,
    core: [u64; 3],
    pre: Vec<Identifier>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Identifier {
    Numeric(u64),
    Alpha(String),
}

fn numeric(s: &str) -> Option<u64> {
    let ok =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    if ok { s.parse().ok() } else { None }
}

impl Version {
    pub fn parse(text: &str) -> Result<Self, Error> {
        let bad = || Error {
            value: text.to_owned(),
        };
        if text.len() > MAX_LEN {
            return Err(bad());
        }
        let (core_text, pre_text) = match text.split_once('-') {
            Some((c, p)) => (c, Some(p)),
            None => (text, None),
        };
        let parts: Vec<&str> = core_text.split('.').collect();
        let [major, minor, patch] = parts.as_slice() else {
            return Err(bad());
        };
        let core = [
            numeric(major).ok_or_else(bad)?,
            numeric(minor).ok_or_else(bad)?,
            numeric(patch).ok_or_else(bad)?,
        ];
        let mut pre = Vec::new();
        if let Some(p) = pre_text {
            for id in p.split('.') {
                let chars_ok = !id.is_empty()
                    && id
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
                if !chars_ok {
                    return Err(bad());
                }
                if id.bytes().all(|b| b.is_ascii_digit()) {
                    pre.push(Identifier::Numeric(numeric(id).ok_or_else(bad)?));
                } else {
                    pre.push(Identifier::Alpha(id.to_owned()));
                }
            }
        }
        Ok(Self {
            text: text.to_owned(),
            core,
            pre,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// A pre-release (`1.0.0-rc.1`), which sorts before its release.
    pub fn is_prerelease(&self) -> bool {
        !self.pre.is_empty()
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for Version {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

impl Ord for Identifier {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Identifier::Numeric(a), Identifier::Numeric(b)) => a.cmp(b),
            // SemVer §11.4.3: numeric identifiers sort below alphanumeric ones.
            (Identifier::Numeric(_), Identifier::Alpha(_)) => Ordering::Less,
            (Identifier::Alpha(_), Identifier::Numeric(_)) => Ordering::Greater,
            (Identifier::Alpha(a), Identifier::Alpha(b)) => a.cmp(b),
        }
    }
}

impl PartialOrd for Identifier {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.core.cmp(&other.core).then_with(|| {
            match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                // §11.3: a pre-release sorts before the release.
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                // §11.4: field by field; a shorter prefix sorts first.
                (false, false) => self.pre.cmp(&other.pre),
            }
        })
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl serde::Serialize for Version {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> serde::Deserialize<'de> for Version {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Version::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn accepts_and_refuses() {
        for ok in [
            "0.0.0",
            "5.0.0",
            "10.20.30",
            "5.0.0-alpha.1",
            "1.2.3-rc-1.0",
        ] {
            assert_eq!(v(ok).as_str(), ok);
        }
        for bad in [
            "",
            "1",
            "1.2",
            "1.2.3.4",
            "01.2.3",
            "1.2.3-01",
            "1.2.3-a..b",
            "1.2.3-",
            "v1.2.3",
            "1.2.3-Alpha",
            "1.2.3+build",
            "99999999999999999999.0.0",
        ] {
            let err = Version::parse(bad).unwrap_err();
            assert_eq!(err.value, bad);
        }
        assert!(Version::parse(&format!("1.0.0-{}", "a".repeat(60))).is_err());
    }

    #[test]
    fn semver_precedence() {
        // The example chain of SemVer 2.0.0 §11.4.4, then releases.
        let chain = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "1.0.1",
            "1.1.0",
            "2.0.0",
            "10.0.0",
        ];
        for (i, a) in chain.iter().enumerate() {
            for (j, b) in chain.iter().enumerate() {
                assert_eq!(v(a).cmp(&v(b)), i.cmp(&j), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn serde_checks_the_text() {
        let parsed: Version = serde_json::from_str("\"2.0.0\"").unwrap();
        assert_eq!(parsed, v("2.0.0"));
        assert_eq!(serde_json::to_string(&parsed).unwrap(), "\"2.0.0\"");
        let err = serde_json::from_str::<Version>("\"2.0\"").unwrap_err();
        assert!(
            err.to_string().contains("\"2.0\" is not a version"),
            "{err}"
        );
    }
}
