//! The checks behind the fuzz targets, one function per target.
//!
//! `crates/contract/tests/fuzz_corpus.rs` includes this file with `#[path]`
//! and replays the committed corpus through the same functions, so keep it
//! free of dependencies other than `contract`.

use std::cmp::Ordering;

use contract::release::Release;
use contract::update::{self, EntryFile, UpdateConfig};
use contract::{BootParams, Slot, Version};

/// How far an input got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// Not UTF-8 (the text parsers take `&str`).
    NotText,
    /// Refused by the parser.
    Refused,
    /// Accepted, and every property of the target held.
    Accepted,
}

fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// A boot counter: tries left, tries done, its text (`LEFT[-DONE]`).
type Counter<'a> = (u32, u32, &'a str);

/// systemd-boot's `INT_MAX` bound on both counters.
const COUNTER_MAX: u64 = 0x7fff_ffff;

/// An entry name as systemd-boot reads it, written apart from
/// `EntryFile::parse` (src/boot/efi/boot.c, boot_entry_parse_tries): the
/// last `+` of the name, at least one digit (LEFT, at most `INT_MAX`),
/// optionally `-` and at least one digit (DONE), then the suffix `.conf`
/// (any case: endswith_no_case picks the file, strcaseeq16 the counter).
/// Returns the name before the counter (or before `.conf` without one) and
/// the counter, with the counter's text.
fn systemd_counter(name: &str) -> Option<(&str, Option<Counter<'_>>)> {
    let bytes = name.as_bytes();
    if bytes.len() < 5 || !bytes[bytes.len() - 5..].eq_ignore_ascii_case(b".conf") {
        return None;
    }
    let stem = &name[..name.len() - 5];
    let Some(plus) = name.rfind('+') else {
        return Some((stem, None));
    };
    let digits = |at: usize| -> Option<(u64, usize)> {
        let mut value: u64 = 0;
        let mut end = at;
        while let Some(d) = bytes.get(end).filter(|b| b.is_ascii_digit()) {
            value = value.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
            end += 1;
        }
        (end > at && value <= COUNTER_MAX).then_some((value, end))
    };
    let counter = || -> Option<(u32, u32, usize)> {
        let (left, mut end) = digits(plus + 1)?;
        let mut done = 0;
        if bytes.get(end) == Some(&b'-') {
            (done, end) = digits(end + 1)?;
        }
        let rest = &bytes[end..];
        let left = u32::try_from(left).ok()?;
        let done = u32::try_from(done).ok()?;
        rest.eq_ignore_ascii_case(b".conf")
            .then_some((left, done, end))
    };
    Some(match counter() {
        Some((left, done, end)) => (&name[..plus], Some((left, done, &name[plus + 1..end]))),
        None => (stem, None),
    })
}

/// Target `entry_name`: a boot entry file name from the ESP (FAT, which
/// anyone with the disk can write). Checks `EntryFile::parse` against
/// systemd-boot's counter grammar (above) followed by `<product>-<a|b>`;
/// what parses is printed back to a name that parses to the same entry, to
/// the same bytes when the name was already canonical (lowercase `.conf`,
/// no leading zeros, no `-0`), and the name systemd-boot renames it to
/// before booting it parses as one try fewer.
pub fn entry_name(data: &[u8]) -> Outcome {
    let Some(name) = text(data) else {
        return Outcome::NotText;
    };
    let parsed = EntryFile::parse(name);
    let model = systemd_counter(name).and_then(|(id, counter)| {
        let (product, slot) = id.rsplit_once('-')?;
        let slot = match slot {
            "a" => Slot::A,
            "b" => Slot::B,
            _ => return None,
        };
        let product_ok = !product.is_empty()
            && product
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        product_ok.then_some((product, slot, counter))
    });
    let Ok(entry) = parsed else {
        assert_eq!(
            parsed,
            Err(update::Error::EntryName(name.into())),
            "the refusal names the name"
        );
        assert!(
            model.is_none(),
            "systemd's grammar reads {name:?} as {model:?}"
        );
        return Outcome::Refused;
    };
    let (product, slot, counter) = model.expect("systemd's grammar reads what parse accepts");
    assert_eq!(
        (entry.product.as_str(), entry.slot, entry.tries),
        (product, slot, counter.map(|(l, d, _)| (l, d))),
        "{name:?}"
    );
    assert_eq!(entry.exhausted(), matches!(entry.tries, Some((0, _))));

    let printed = entry.file_name();
    assert_eq!(
        EntryFile::parse(&printed).as_ref(),
        Ok(&entry),
        "{printed:?}"
    );
    let canonical_counter = counter.is_none_or(|(_, done, text)| {
        let no_leading_zero = |t: &str| t == "0" || !t.starts_with('0');
        text.split('-').all(no_leading_zero) && (done != 0 || !text.contains('-'))
    });
    if name.ends_with(".conf") && canonical_counter {
        assert_eq!(printed, name);
    }

    // systemd-boot's rename before the boot: +(LEFT-1)-(DONE+1), both
    // bounded, the suffix as it spells it.
    if let Some((left, done)) = entry.tries {
        let next_tries = (left.saturating_sub(1), (done + 1).min(0x7fff_ffff));
        let next = format!("{product}-{slot}+{}-{}.conf", next_tries.0, next_tries.1);
        let next = EntryFile::parse(&next).expect("systemd's next name parses");
        assert_eq!((next.product.as_str(), next.slot), (product, slot));
        assert_eq!(next.tries, Some(next_tries));
    }
    Outcome::Accepted
}

/// Versions whose order systemd-boot's `strverscmp_improved` (which sorts
/// the entries by their `version` line, [`update::entry_version`]) gets
/// right: no pre-release, or one word of letters followed by numbers
/// (`-rc`, `-beta.2`). crates/rollback gives a rollback index to these
/// only, so no other version reaches a device.
fn systemd_orderable(v: &Version) -> bool {
    let Some((_, pre)) = v.as_str().split_once('-') else {
        return true;
    };
    let mut ids = pre.split('.');
    ids.next()
        .is_some_and(|w| w.bytes().all(|b| b.is_ascii_lowercase()))
        && ids.all(|n| n.bytes().all(|b| b.is_ascii_digit()))
}

/// systemd's `strverscmp_improved` (src/fundamental/string-util-fundamental.c),
/// written from its description: segments of digits (compared as numbers,
/// and newer than letters) or letters; `~` sorts before anything, even the
/// end; `-`, `^` and `.` before any segment; other bytes are skipped.
pub fn strverscmp_improved(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.is_empty() || b.is_empty() {
        return a.cmp(b);
    }
    let at = |s: &[u8], i: usize| s.get(i).copied().unwrap_or(0);
    let valid = |c: u8| c.is_ascii_alphanumeric() || b"~-^.".contains(&c);
    let (mut i, mut j) = (0, 0);
    loop {
        while at(a, i) != 0 && !valid(at(a, i)) {
            i += 1;
        }
        while at(b, j) != 0 && !valid(at(b, j)) {
            j += 1;
        }
        // `~` sorts before anything, the end of the string included.
        if at(a, i) == b'~' || at(b, j) == b'~' {
            let r = (at(a, i) != b'~').cmp(&(at(b, j) != b'~'));
            if r != Ordering::Equal {
                return r;
            }
            i += 1;
            j += 1;
        }
        // Otherwise the longer string is newer.
        if at(a, i) == 0 || at(b, j) == 0 {
            return a[i.min(a.len())..].cmp(&b[j.min(b.len())..]);
        }
        for sep in [b'-', b'^', b'.'] {
            if at(a, i) == sep || at(b, j) == sep {
                let r = (at(a, i) != sep).cmp(&(at(b, j) != sep));
                if r != Ordering::Equal {
                    return r;
                }
                i += 1;
                j += 1;
            }
        }
        let run = |s: &[u8], from: usize, digit: bool| {
            let mut end = from;
            while end < s.len()
                && (if digit {
                    s[end].is_ascii_digit()
                } else {
                    s[end].is_ascii_alphabetic()
                })
            {
                end += 1;
            }
            end
        };
        let digit = at(a, i).is_ascii_digit() || at(b, j).is_ascii_digit();
        let (ea, eb) = (run(a, i, digit), run(b, j, digit));
        let r = if digit {
            (ea != i).cmp(&(eb != j)).then_with(|| {
                while at(a, i) == b'0' {
                    i += 1;
                }
                while at(b, j) == b'0' {
                    j += 1;
                }
                (ea - i)
                    .cmp(&(eb - j))
                    .then_with(|| a[i..ea].cmp(&b[j..eb]))
            })
        } else {
            let n = (ea - i).min(eb - j);
            a[i..i + n].cmp(&b[j..j + n]).then((ea - i).cmp(&(eb - j)))
        };
        if r != Ordering::Equal {
            return r;
        }
        (i, j) = (ea, eb);
    }
}

/// Target `version`: up to three versions, one a line. Each that parses
/// equals itself and its clone, compares equal to itself, keeps its text,
/// and its `Display` parses back to an equal version; any two compare
/// antisymmetrically, `==` agrees with `cmp`, three are ordered
/// transitively; and systemd-boot's order of their entries' `version`
/// lines agrees with theirs when both are [`systemd_orderable`].
pub fn version(data: &[u8]) -> Outcome {
    let Some(text) = text(data) else {
        return Outcome::NotText;
    };
    let mut versions = Vec::new();
    for line in text.split('\n').take(3) {
        let Ok(v) = Version::parse(line) else {
            continue;
        };
        assert_eq!(v.as_str(), line);
        assert_eq!(v, v.clone());
        assert_eq!(v.cmp(&v), Ordering::Equal);
        assert_eq!(Version::parse(&v.to_string()).as_ref(), Ok(&v));
        assert_eq!(v.is_prerelease(), line.contains('-'));
        versions.push(v);
    }
    for a in &versions {
        for b in &versions {
            let ab = a.cmp(b);
            assert_eq!(ab, b.cmp(a).reverse(), "{a} vs {b}");
            assert_eq!(a == b, ab == Ordering::Equal, "{a} vs {b}");
            if systemd_orderable(a) && systemd_orderable(b) {
                let (ea, eb) = (update::entry_version(a), update::entry_version(b));
                assert_eq!(strverscmp_improved(&ea, &eb), ab, "{ea} vs {eb}");
            }
            for c in &versions {
                if a <= b && b <= c {
                    assert!(a <= c, "{a} <= {b} <= {c}");
                }
            }
        }
    }
    if versions.is_empty() {
        Outcome::Refused
    } else {
        Outcome::Accepted
    }
}

/// Target `release_json`: a `release.json` (signed by TUF before a device
/// reads it, but parsed all the same). What parses passes `check`,
/// re-serialises and re-parses equal, and gives each slot a command line
/// that `BootParams::parse` reads back to the same parameters (the UKI
/// must boot).
pub fn release_json(data: &[u8]) -> Outcome {
    let Ok(release) = Release::from_json(data) else {
        return Outcome::Refused;
    };
    assert_eq!(release.check(), Ok(()));
    let again = Release::from_json(release.to_json().as_bytes());
    assert_eq!(again.as_ref(), Ok(&release));
    for slot in Slot::ALL {
        assert_eq!(release.uki(slot).map(|u| u.slot), Some(slot));
        let params = release.boot_params(slot).expect("checked parameters");
        assert_eq!(params.slot, slot);
        assert_eq!(params.root_hash_hex(), release.verity.root_hash);
        let line = params.render();
        assert_eq!(BootParams::parse(&line).as_ref(), Ok(&params), "{line}");
    }
    Outcome::Accepted
}

/// Target `update_json`: `update.json`. What parses passes `check`,
/// re-serialises and re-parses equal, and its health checks split into an
/// absolute program and its arguments.
pub fn update_json(data: &[u8]) -> Outcome {
    let Ok(config) = UpdateConfig::from_json(data) else {
        return Outcome::Refused;
    };
    assert_eq!(config.check(), Ok(()));
    let again = UpdateConfig::from_json(config.to_json().as_bytes());
    assert_eq!(again.as_ref(), Ok(&config));
    assert!(config.server.starts_with("http://") || config.server.starts_with("https://"));
    for check in &config.health_checks {
        let argv = update::health_check_argv(check).expect("checked health check");
        assert!(argv[0].starts_with('/'));
        assert!(argv.iter().all(|w| !w.is_empty() && !w.contains(' ')));
    }
    Outcome::Accepted
}

/// Target `cmdline`: a kernel command line. What parses renders to the
/// contract's words, which parse back to the same parameters, alone or amid
/// other words and before `--`.
pub fn cmdline(data: &[u8]) -> Outcome {
    let Some(line) = text(data) else {
        return Outcome::NotText;
    };
    let Ok(params) = BootParams::parse(line) else {
        return Outcome::Refused;
    };
    assert!(params.data_blocks > 0);
    assert!(params.salt.len() <= contract::cmdline::MAX_SALT_BYTES);
    let rendered = params.render();
    assert_eq!(BootParams::parse(&rendered).as_ref(), Ok(&params));
    let amid = format!("quiet {rendered} console=ttyS0 -- clip.slot=x");
    assert_eq!(BootParams::parse(&amid).as_ref(), Ok(&params));
    Outcome::Accepted
}
