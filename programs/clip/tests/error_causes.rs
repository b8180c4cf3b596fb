//! Each cause of a failure is printed once. `clip` prints an error with its
//! whole `source()` chain (`error: {:#}`), so a library error whose message
//! includes its cause must not also return it from `source()`, or the cause
//! is printed twice ("…: X: X"); docs/conventions.md (Errors).
//!
//! The commands' own refusals are checked where they are driven
//! (`said_once` in uki_bad_input, boot_bad_input, build_bad_input). Here:
//! the library errors no command reaches cheaply, made through the
//! libraries' APIs and printed as `clip` prints them; and a scan of every
//! error type in the workspace's sources, which also catches a variant
//! added later.

#[path = "support/said_once.rs"]
mod said_once;

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use proc_macro2::{TokenStream, TokenTree};
use said_once::said_once;

/// Panics unless `err`'s message starts with `prefix` followed by a cause,
/// and `clip` would print that cause exactly once.
fn once<E: std::error::Error + Send + Sync + 'static>(err: E, prefix: &str) {
    let message = err.to_string();
    let cause = message
        .strip_prefix(prefix)
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| panic!("{message:?} is not {prefix:?} and a cause"))
        .to_owned();
    // As `clip`'s `main` prints it, under a context.
    let printed = format!("error: {:#}\n", anyhow::Error::new(err).context("step"));
    assert_eq!(
        printed.matches(&cause).count(),
        1,
        "{cause:?} not printed exactly once: {printed:?}"
    );
    said_once(&printed);
}

/// A disk whose every operation fails with "disk on fire".
struct BurningDisk;

fn fire() -> std::io::Error {
    std::io::Error::other("disk on fire")
}

impl Read for BurningDisk {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        Err(fire())
    }
}
impl Write for BurningDisk {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        Err(fire())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Err(fire())
    }
}
impl Seek for BurningDisk {
    fn seek(&mut self, _: SeekFrom) -> std::io::Result<u64> {
        Err(fire())
    }
}

#[test]
fn esp_errors_give_their_cause_once() {
    let mut esp = esp::Esp::new();
    esp.add(esp::BOOT_X64, b"MZ".to_vec()).unwrap();

    let err = esp.write_to(BurningDisk, 4 << 20).unwrap_err();
    assert!(err.to_string().ends_with(": disk on fire"), "{err}");
    once(err, "cannot format the FAT file system: ");

    let err = esp::read_file(&vec![0u8; 1 << 20], esp::BOOT_X64).unwrap_err();
    once(err, "not a FAT file system: ");

    let image = esp.build(4 << 20).unwrap();
    let err = esp::read_file(&image, "nope").unwrap_err();
    once(err, "cannot read \"nope\" from the image: ");

    // Fits the size check but not the file system.
    let mut big = esp::Esp::new();
    big.add("big", vec![0u8; 2 << 20]).unwrap();
    big.add("big2", vec![0u8; 2 << 20]).unwrap();
    let err = big.build((4 << 20) + (16 << 10)).unwrap_err();
    once(err, "cannot write \"big2\" into the image: ");
}

#[test]
fn secureboot_encoding_errors_give_their_cause_once() {
    use x509_cert::{der, spki};
    let der = der::Error::from(der::ErrorKind::Failed);
    once(secureboot::Error::from(der), "DER encoding: ");
    let pkcs8 = rsa::pkcs8::Error::KeyMalformed;
    once(secureboot::Error::from(pkcs8), "key encoding: ");
    let spki = spki::Error::KeyMalformed;
    once(secureboot::Error::from(spki), "public key encoding: ");
}

#[test]
fn rootfs_io_error_gives_its_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let err = rootfs::make_erofs(
        dir.path(),
        &missing.join("root.erofs"),
        0,
        uuid::Uuid::nil(),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("No such file or directory (os error 2)"),
        "{err}"
    );
    once(
        err,
        &format!("create temporary image: {}: ", missing.display()),
    );
}

// The scan.

/// A `thiserror` variant (or struct) whose message shows the field that is
/// also its `source()`: a field marked `#[source]` or `#[from]`, or named
/// `source`. `#[error(transparent)]` forwards both message and source to
/// the field, so it prints the cause once.
#[derive(Debug, PartialEq)]
struct Twice {
    item: String,
    field: String,
}

/// Every such variant in `source` (the text of one Rust file).
fn shown_twice(source: &str) -> Result<Vec<Twice>, syn::Error> {
    let file = syn::parse_file(source)?;
    let mut found = Vec::new();
    scan_items(&file.items, &mut found)?;
    Ok(found)
}

fn scan_items(items: &[syn::Item], found: &mut Vec<Twice>) -> Result<(), syn::Error> {
    for item in items {
        match item {
            syn::Item::Enum(e) if derives_error(&e.attrs)? => {
                for v in &e.variants {
                    check(
                        &v.attrs,
                        &v.fields,
                        &format!("{}::{}", e.ident, v.ident),
                        found,
                    )?;
                }
            }
            syn::Item::Struct(s) if derives_error(&s.attrs)? => {
                check(&s.attrs, &s.fields, &s.ident.to_string(), found)?;
            }
            syn::Item::Mod(m) => {
                if let Some((_, items)) = &m.content {
                    scan_items(items, found)?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn derives_error(attrs: &[syn::Attribute]) -> Result<bool, syn::Error> {
    for attr in attrs.iter().filter(|a| a.path().is_ident("derive")) {
        let paths = attr.parse_args_with(
            syn::punctuated::Punctuated::<syn::Path, syn::Token![,]>::parse_terminated,
        )?;
        if paths
            .iter()
            .any(|p| p.segments.last().is_some_and(|s| s.ident == "Error"))
        {
            return Ok(true);
        }
    }
    Ok(false)
}

fn check(
    attrs: &[syn::Attribute],
    fields: &syn::Fields,
    item: &str,
    found: &mut Vec<Twice>,
) -> Result<(), syn::Error> {
    let Some(attr) = attrs.iter().find(|a| a.path().is_ident("error")) else {
        return Ok(());
    };
    let tokens = attr.meta.require_list()?.tokens.clone();
    if tokens.to_string() == "transparent" {
        return Ok(());
    }
    let is_source = |f: &syn::Field| {
        f.ident.as_ref().is_some_and(|i| i == "source")
            || f.attrs
                .iter()
                .any(|a| a.path().is_ident("source") || a.path().is_ident("from"))
    };
    let Some((index, field)) = fields.iter().enumerate().find(|(_, f)| is_source(f)) else {
        return Ok(());
    };
    let name = field
        .ident
        .as_ref()
        .map_or_else(|| index.to_string(), ToString::to_string);
    let (format, args) = attr.parse_args_with(|input: syn::parse::ParseStream<'_>| {
        let format: syn::LitStr = input.parse()?;
        let args: TokenStream = input.parse()?;
        Ok((format.value(), args))
    })?;
    let in_format =
        format.contains(&format!("{{{name}}}")) || format.contains(&format!("{{{name}:"));
    if in_format || names(args, &name, false) {
        found.push(Twice {
            item: item.to_owned(),
            field: name,
        });
    }
    Ok(())
}

/// Whether the message's arguments use field `name` (`source`, or `.0`
/// for a tuple field).
fn names(tokens: TokenStream, name: &str, mut after_dot: bool) -> bool {
    let tuple = name.bytes().all(|b| b.is_ascii_digit());
    for t in tokens {
        let hit = match &t {
            TokenTree::Group(g) => names(g.stream(), name, false),
            TokenTree::Ident(i) => !tuple && i == name,
            TokenTree::Literal(l) => tuple && after_dot && l.to_string() == name,
            TokenTree::Punct(_) => false,
        };
        if hit {
            return true;
        }
        after_dot = matches!(&t, TokenTree::Punct(p) if p.as_char() == '.');
    }
    false
}

/// The workspace's root directory.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The `.rs` files of the `src` trees of every workspace member.
fn workspace_sources() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries {
            let path = e.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|x| x == "rs") {
                out.push(path);
            }
        }
    }
    let root = workspace_root();
    let mut files = Vec::new();
    for group in ["crates", "programs"] {
        for member in std::fs::read_dir(root.join(group)).unwrap() {
            walk(&member.unwrap().path().join("src"), &mut files);
        }
    }
    files.sort();
    files
}

/// The scan finds what it should, on examples of each form.
#[test]
fn the_scan_finds_a_cause_shown_twice() {
    let text = r#"
        #[derive(Debug, thiserror::Error)]
        pub enum E {
            #[error("cannot read {path}: {source}")]
            Named { path: String, source: std::io::Error },
            #[error("cannot write: {0}")]
            Tuple(#[source] std::io::Error),
            #[error("key: {0:?}")]
            From(#[from] pkcs8::Error),
            #[error("cannot open {}: {}", path.display(), error)]
            Args { path: PathBuf, #[source] error: std::io::Error },
            #[error("step {}", .0)]
            Dot(#[source] Inner),
            // Fine: the cause in the message only, or as source() only,
            // or forwarded.
            #[error("cannot read {path}: {error}")]
            MessageOnly { path: String, error: std::io::Error },
            #[error("cannot read {path}")]
            SourceOnly { path: String, #[source] error: std::io::Error },
            #[error(transparent)]
            Forwarded(#[from] Other),
            #[error("source {0}")]
            Unrelated(u32, #[source] Inner),
        }
        mod inner {
            #[derive(Debug, Error)]
            #[error("bad: {source}")]
            pub struct S { source: std::io::Error }
        }
    "#;
    let found: Vec<(String, String)> = shown_twice(text)
        .unwrap()
        .into_iter()
        .map(|t| (t.item, t.field))
        .collect();
    let expected = [
        ("E::Named", "source"),
        ("E::Tuple", "0"),
        ("E::From", "0"),
        ("E::Args", "error"),
        ("E::Dot", "0"),
        ("S", "source"),
    ]
    .map(|(a, b)| (a.to_owned(), b.to_owned()));
    assert_eq!(found, expected);
}

/// No error type in the workspace shows its source in its message and
/// also returns it from `source()`.
#[test]
fn no_error_type_shows_its_source_twice() {
    let root = workspace_root();
    let files = workspace_sources();
    let mut scanned = 0;
    let mut twice = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        if !text.contains("#[error(") {
            continue;
        }
        scanned += 1;
        let name = file.strip_prefix(&root).unwrap_or(file).display();
        let found = shown_twice(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        twice.extend(found.into_iter().map(|t| {
            format!(
                "{name}: {} shows `{}` in its message and returns it from source()",
                t.item, t.field
            )
        }));
    }
    // The scan saw the error types (a dozen crates have one).
    assert!(scanned >= 10, "only {scanned} files with error types");
    assert!(twice.is_empty(), "{}", twice.join("\n"));
}
