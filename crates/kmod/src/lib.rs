//! Which kernel module files an initramfs needs, and in which order to load
//! them, from the kernel tree's `modules.dep` (written by `depmod`, format in
//! kmod's `depmod(8)` / `modules.dep(5)`: one line per module,
//! `kernel/path/name.ko.xz: kernel/dep1.ko.xz kernel/dep2.ko.xz`, paths
//! relative to `/usr/lib/modules/<kver>/`, each line listing every module the
//! module needs, directly or not).
//!
//! Pure: text in, paths out. Module names follow the kernel's rule that `-`
//! and `_` are the same (`dm-mod` is `dm_mod`).
//!
//! Soft dependencies (`modules.softdep`, e.g. `ext4` → `crc32c`) and modules
//! requested at run time through the crypto API are not in `modules.dep`:
//! callers name them explicitly (`crc32c_generic`).

use std::collections::{BTreeMap, BTreeSet};

/// What can be wrong with `modules.dep` or a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("modules.dep line {line}: {problem}: {text:?}")]
    Syntax {
        line: usize,
        problem: &'static str,
        text: String,
    },
    #[error(
        "modules.dep line {line}: module {name} is listed a second time (first on line {first})"
    )]
    Duplicate {
        line: usize,
        first: usize,
        name: String,
    },
    #[error("module {0} is not in modules.dep (not built, or built into the kernel)")]
    Unknown(String),
    #[error("modules.dep: {module} depends on {dependency}, which has no line of its own")]
    MissingEntry { module: String, dependency: String },
    #[error("modules.dep: dependency cycle through {0}")]
    Cycle(String),
}

/// One module: its path as `modules.dep` writes it and its dependencies.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    path: String,
    deps: Vec<String>,
    line: usize,
}

/// A parsed `modules.dep`, by normalised module name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ModulesDep {
    entries: BTreeMap<String, Entry>,
}

/// The module name of a path: file name without `.ko` and compression
/// suffix, `-` written `_`. `kernel/drivers/md/dm-mod.ko.xz` → `dm_mod`.
pub fn module_name(path: &str) -> Option<String> {
    let file = path.rsplit('/').next()?;
    let stem = file.split_once(".ko").and_then(|(stem, rest)| {
        // `.ko` alone or followed by a compression suffix (`.ko.xz`).
        (rest.is_empty() || rest.starts_with('.')).then_some(stem)
    })?;
    (!stem.is_empty()).then(|| normalise(stem))
}

/// `dm-mod` → `dm_mod`.
pub fn normalise(name: &str) -> String {
    name.replace('-', "_")
}

impl ModulesDep {
    /// Parses the whole file. Blank lines are allowed; every other line
    /// needs the `path:` form with `.ko` paths.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let mut entries: BTreeMap<String, Entry> = BTreeMap::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            if raw.trim().is_empty() {
                continue;
            }
            let syntax = |problem| Error::Syntax {
                line,
                problem,
                text: raw.to_owned(),
            };
            let (path, deps) = raw.split_once(':').ok_or_else(|| syntax("no ':'"))?;
            let path = path.trim();
            let name = module_name(path).ok_or_else(|| syntax("not a .ko path"))?;
            let mut dep_paths = Vec::new();
            for dep in deps.split_ascii_whitespace() {
                module_name(dep).ok_or_else(|| syntax("dependency is not a .ko path"))?;
                dep_paths.push(dep.to_owned());
            }
            if let Some(first) = entries.get(&name) {
                return Err(Error::Duplicate {
                    line,
                    first: first.line,
                    name,
                });
            }
            entries.insert(
                name,
                Entry {
                    path: path.to_owned(),
                    deps: dep_paths,
                    line,
                },
            );
        }
        Ok(Self { entries })
    }

    /// The path of a module (`dm-mod` or `dm_mod`), if listed.
    pub fn path(&self, name: &str) -> Option<&str> {
        self.entries.get(&normalise(name)).map(|e| e.path.as_str())
    }

    /// The files of `wanted` and everything they depend on, each once, every
    /// module after all of its dependencies (the order to load them in).
    /// Among independent modules, the order of `wanted` is kept.
    pub fn closure(&self, wanted: &[&str]) -> Result<Vec<String>, Error> {
        let mut done = BTreeSet::new();
        let mut order = Vec::new();
        for name in wanted {
            let name = normalise(name);
            if !self.entries.contains_key(&name) {
                return Err(Error::Unknown(name));
            }
            self.visit(&name, &mut BTreeSet::new(), &mut done, &mut order)?;
        }
        Ok(order)
    }

    /// Depth-first, dependencies first; `active` holds the current path to
    /// detect cycles.
    fn visit(
        &self,
        name: &str,
        active: &mut BTreeSet<String>,
        done: &mut BTreeSet<String>,
        order: &mut Vec<String>,
    ) -> Result<(), Error> {
        if done.contains(name) {
            return Ok(());
        }
        if !active.insert(name.to_owned()) {
            return Err(Error::Cycle(name.to_owned()));
        }
        let entry = &self.entries[name];
        for dep in &entry.deps {
            let dep_name = module_name(dep).expect("checked by parse");
            if !self.entries.contains_key(&dep_name) {
                return Err(Error::MissingEntry {
                    module: name.to_owned(),
                    dependency: dep.clone(),
                });
            }
            self.visit(&dep_name, active, done, order)?;
        }
        active.remove(name);
        done.insert(name.to_owned());
        order.push(entry.path.clone());
        Ok(())
    }
}

/// [`ModulesDep::parse`] then [`ModulesDep::closure`].
pub fn module_closure(modules_dep: &str, wanted: &[&str]) -> Result<Vec<String>, Error> {
    ModulesDep::parse(modules_dep)?.closure(wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    // The shape of Debian trixie 6.12's real lines (transitive lists, in
    // modprobe's reverse load order).
    const DEP: &str = "\
kernel/drivers/md/dm-verity.ko.xz: kernel/drivers/md/dm-bufio.ko.xz kernel/lib/reed_solomon/reed_solomon.ko.xz kernel/drivers/md/dm-mod.ko.xz
kernel/drivers/md/dm-bufio.ko.xz:
kernel/drivers/md/dm-mod.ko.xz:
kernel/lib/reed_solomon/reed_solomon.ko.xz:

kernel/fs/ext4/ext4.ko.xz: kernel/lib/crc16.ko.xz kernel/fs/mbcache.ko.xz kernel/fs/jbd2/jbd2.ko.xz
kernel/lib/crc16.ko.xz:
kernel/fs/mbcache.ko.xz:
kernel/fs/jbd2/jbd2.ko.xz:
kernel/drivers/block/virtio_blk.ko.xz:
";

    fn pos(order: &[String], name: &str) -> usize {
        order
            .iter()
            .position(|p| module_name(p).as_deref() == Some(name))
            .unwrap_or_else(|| panic!("{name} missing from {order:?}"))
    }

    #[test]
    fn names_normalise_dashes_and_suffixes() {
        assert_eq!(
            module_name("kernel/drivers/md/dm-mod.ko.xz").as_deref(),
            Some("dm_mod")
        );
        assert_eq!(module_name("a/b_c.ko").as_deref(), Some("b_c"));
        assert_eq!(module_name("a/x.kobj"), None);
        assert_eq!(module_name("a/.ko"), None);
        assert_eq!(module_name("a/readme"), None);
    }

    #[test]
    fn closure_puts_dependencies_first_and_lists_each_once() {
        let order = module_closure(DEP, &["virtio_blk", "dm-verity", "ext4", "dm_mod"]).unwrap();
        assert_eq!(order.len(), 9, "{order:?}");
        let unique: BTreeSet<_> = order.iter().collect();
        assert_eq!(unique.len(), order.len());
        assert_eq!(pos(&order, "virtio_blk"), 0);
        for dep in ["dm_bufio", "reed_solomon", "dm_mod"] {
            assert!(pos(&order, dep) < pos(&order, "dm_verity"));
        }
        for dep in ["crc16", "mbcache", "jbd2"] {
            assert!(pos(&order, dep) < pos(&order, "ext4"));
        }
    }

    #[test]
    fn indirect_dependencies_are_followed_even_if_a_line_omits_them() {
        let dep = "a.ko: b.ko\nb.ko: c.ko\nc.ko:\n";
        assert_eq!(
            module_closure(dep, &["a"]).unwrap(),
            ["c.ko", "b.ko", "a.ko"]
        );
    }

    #[test]
    fn bad_input_is_named() {
        assert_eq!(
            module_closure(DEP, &["nbd"]),
            Err(Error::Unknown("nbd".into()))
        );
        assert!(matches!(
            module_closure("a.ko b.ko\n", &[]),
            Err(Error::Syntax { line: 1, .. })
        ));
        assert!(matches!(
            module_closure("a.ko:\nREADME: a.ko\n", &[]),
            Err(Error::Syntax { line: 2, .. })
        ));
        assert!(matches!(
            module_closure("a.ko: x.txt\n", &[]),
            Err(Error::Syntax { line: 1, .. })
        ));
        assert_eq!(
            module_closure("x/a-b.ko:\ny/a_b.ko.xz:\n", &[]),
            Err(Error::Duplicate {
                line: 2,
                first: 1,
                name: "a_b".into()
            })
        );
        assert_eq!(
            module_closure("a.ko: b.ko\n", &["a"]),
            Err(Error::MissingEntry {
                module: "a".into(),
                dependency: "b.ko".into()
            })
        );
        assert_eq!(
            module_closure("a.ko: b.ko\nb.ko: a.ko\n", &["a"]),
            Err(Error::Cycle("a".into()))
        );
    }
}
