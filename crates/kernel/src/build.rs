//! A kernel built from Debian's `linux` source package of the product's
//! suite, configured from the kernel's own `x86_64_defconfig` plus the
//! product's fragments, checked against them, then compiled.
//!
//! * Source: `apt-get source --download-only linux=VERSION` against the
//!   suite's `deb-src` index, with the Debian archive keyring as the only
//!   trust root (apt checks the signed `InRelease`, the `Sources` index and
//!   every file's SHA-256); kept in `CACHE/kernel/source/linux_VERSION` with
//!   a `SHA256SUMS` checked on each use. `dpkg-source -x` unpacks it with
//!   Debian's patches applied.
//! * Build: `CACHE/kernel/builds/KEY`, KEY hashing everything that can
//!   change a byte of the kernel: the source version, the Kconfig lines of
//!   the fragments (not their reasons), the compiler, assembler and make,
//!   and SOURCE_DATE_EPOCH. Reproducible: the build timestamp, user, host
//!   and version are fixed (Linux `Documentation/kbuild/reproducible-builds.rst`),
//!   and there is no module signing key.

use std::collections::VecDeque;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use sha2::{Digest, Sha256};

use crate::fragment::{self, Setting};
use crate::policy::{self, Config, Report};

/// Changes when this module changes how a kernel is made.
pub const RECIPE_FORMAT: &str = "clip-kernel/1";
/// The Debian archive keyring (package debian-archive-keyring).
pub const ARCHIVE_KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";
const TAIL_LINES: usize = 40;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{step}: cannot run {command}: {error}")]
    Spawn {
        step: &'static str,
        command: String,
        error: std::io::Error,
    },
    #[error("{step} failed ({status}): {command}\n{tail}")]
    Command {
        step: &'static str,
        command: String,
        status: String,
        tail: String,
    },
    #[error("cannot {action} {}: {error}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(
        "the kernel configuration does not meet the product's policy ({held} of {required} settings hold):\n{missing}"
    )]
    Policy {
        held: usize,
        required: usize,
        missing: String,
        report: Box<Report>,
    },
    #[error("linux {version} of Debian: {problem}")]
    Source { version: String, problem: String },
    #[error("the cached kernel in {} is damaged ({problem}); it will be rebuilt after you remove it", path.display())]
    Damaged { path: PathBuf, problem: String },
    #[error("the source of linux {version} is not in the cache ({}) and --offline forbids downloading it", path.display())]
    NotCached { version: String, path: PathBuf },
    #[error(transparent)]
    Fragment(#[from] fragment::FragmentError),
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |error| Error::Io {
        action,
        path: path.to_owned(),
        error,
    }
}

/// What a kernel is made from.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Recipe {
    pub format: &'static str,
    pub suite: String,
    pub mirror: String,
    /// Debian version of the `linux` source package, e.g. `6.12.107-1`.
    pub version: String,
    /// The fragments' settings, in order.
    #[serde(skip)]
    pub settings: Vec<Setting>,
    /// [`fragment::render`] of the settings: what Kconfig reads.
    pub kconfig: String,
    /// First lines of `gcc --version`, `ld --version`, `make --version`.
    pub toolchain: String,
    pub source_date_epoch: u64,
}

impl Recipe {
    /// `fragments`: `(name, text)` in order.
    pub fn new(
        suite: &str,
        mirror: &str,
        version: &str,
        fragments: &[(String, String)],
        source_date_epoch: u64,
    ) -> Result<Self, Error> {
        let parsed = fragments
            .iter()
            .map(|(name, text)| fragment::parse(name, text))
            .collect::<Result<Vec<_>, _>>()?;
        let settings = fragment::merge(&parsed)?;
        Ok(Recipe {
            format: RECIPE_FORMAT,
            suite: suite.to_owned(),
            mirror: mirror.trim_end_matches('/').to_owned(),
            version: version.to_owned(),
            kconfig: fragment::render(&settings),
            settings,
            toolchain: toolchain()?,
            source_date_epoch,
        })
    }

    /// The cache key (SHA-256 hex). The mirror is left out: apt checks the
    /// files against Debian's signed index whichever mirror serves them.
    pub fn key(&self) -> String {
        let text = format!(
            "format={}\nsuite={}\nversion={}\ntoolchain={}\nsource_date_epoch={}\nkconfig=\n{}",
            self.format,
            self.suite,
            self.version,
            self.toolchain,
            self.source_date_epoch,
            self.kconfig
        );
        hex::encode(Sha256::digest(text.as_bytes()))
    }
}

/// The build toolchain's identity.
pub fn toolchain() -> Result<String, Error> {
    let mut lines = Vec::new();
    for (program, arg) in [
        ("gcc", "--version"),
        ("ld", "--version"),
        ("make", "--version"),
    ] {
        let out = run("toolchain", Command::new(program).arg(arg))?;
        lines.push(out.lines().next().unwrap_or_default().trim().to_owned());
    }
    Ok(lines.join("; "))
}

/// How to build.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub recipe: &'a Recipe,
    /// The user cache; this module uses `kernel/` in it.
    pub cache_dir: &'a Path,
    /// Scratch space for the unpacked source (removed after a build).
    pub work_dir: &'a Path,
    /// `make -j`.
    pub jobs: usize,
    /// Never download: a source that is not cached is [`Error::NotCached`].
    pub offline: bool,
}

/// Facts about a build kept beside it in the cache.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct BuildFacts {
    /// `make kernelrelease`, e.g. `6.12.107-clip`: uname -r.
    pub release: String,
    pub bzimage_sha256: String,
    /// Source files and their SHA-256.
    pub source: Vec<(String, String)>,
    /// Wall-clock seconds of the compilation.
    pub build_seconds: f64,
    pub toolchain: String,
}

/// A kernel ready to go into a UKI.
#[derive(Debug, Clone)]
pub struct Built {
    pub key: String,
    /// `CACHE/kernel/builds/KEY/bzImage`.
    pub bzimage: PathBuf,
    /// The final `.config`.
    pub config: String,
    pub facts: BuildFacts,
    pub report: Report,
    pub from_cache: bool,
}

pub const BZIMAGE: &str = "bzImage";
pub const CONFIG: &str = "config";
const FACTS: &str = "build.json";

/// Where the build of `key` is cached.
pub fn build_dir(cache_dir: &Path, key: &str) -> PathBuf {
    cache_dir.join("kernel/builds").join(key)
}

/// The cached kernel of `recipe` or a new build of it.
pub fn build(req: &Request, progress: &dyn Fn(&str)) -> Result<Built, Error> {
    let recipe = req.recipe;
    let key = recipe.key();
    let dir = build_dir(req.cache_dir, &key);
    if dir.join(FACTS).is_file() {
        let built = load_cached(&dir, &key, recipe)?;
        progress(&format!(
            "kernel: cached linux {} ({})",
            built.facts.release,
            dir.display()
        ));
        return Ok(built);
    }
    let source = fetch_source(req, progress)?;
    let tree = req.work_dir.join("linux");
    if tree.symlink_metadata().is_ok() {
        fs::remove_dir_all(&tree).map_err(io("remove the previous kernel tree", &tree))?;
    }
    fs::create_dir_all(req.work_dir).map_err(io("create", req.work_dir))?;
    progress(&format!(
        "kernel: unpacking linux {} with Debian's patches",
        recipe.version
    ));
    run(
        "dpkg-source -x",
        Command::new("dpkg-source")
            .arg("--no-check")
            .arg("-x")
            .arg(&source.dsc)
            .arg(&tree)
            .current_dir(req.work_dir),
    )?;

    progress("kernel: configuring (x86_64_defconfig, then the product's fragments)");
    let stamp = timestamp(recipe.source_date_epoch)?;
    let make = |step: &'static str, args: &[&str]| -> Result<String, Error> {
        run(step, make_command(&tree, &stamp).args(args))
    };
    make("make defconfig", &["defconfig"])?;
    let dot = tree.join(".config");
    let mut file = fs::OpenOptions::new()
        .append(true)
        .open(&dot)
        .map_err(io("open", &dot))?;
    file.write_all(
        format!(
            "\n# The product's fragments (clip build)\n{}",
            recipe.kconfig
        )
        .as_bytes(),
    )
    .map_err(io("append the fragments to", &dot))?;
    drop(file);
    make("make olddefconfig", &["olddefconfig"])?;
    let config = fs::read_to_string(&dot).map_err(io("read", &dot))?;
    let report = policy::check(&recipe.settings, &Config::parse(&config));
    if !report.passed() {
        return Err(policy_error(report));
    }

    let jobs = req.jobs.max(1);
    progress(&format!(
        "kernel: compiling linux {} with {jobs} jobs (tens of minutes on two cores)",
        recipe.version
    ));
    let started = Instant::now();
    let log_path = req.work_dir.join("kernel-build.log");
    let mut log = fs::File::create(&log_path).map_err(io("create", &log_path))?;
    let mut compiled = 0usize;
    run_streaming(
        "make bzImage",
        make_command(&tree, &stamp).args([format!("-j{jobs}").as_str(), "bzImage"]),
        &req.work_dir.join("kernel-build.stderr"),
        &mut |line| {
            let _ = writeln!(log, "{line}");
            if line.starts_with("  CC ") {
                compiled += 1;
                if compiled % 500 == 0 {
                    progress(&format!("kernel: {compiled} files compiled"));
                }
            }
        },
    )?;
    let build_seconds = started.elapsed().as_secs_f64();
    let release = make("make kernelrelease", &["-s", "kernelrelease"])?
        .trim()
        .to_owned();
    let bzimage_src = tree.join("arch/x86/boot/bzImage");
    let bzimage = fs::read(&bzimage_src).map_err(io("read", &bzimage_src))?;
    let facts = BuildFacts {
        release,
        bzimage_sha256: hex::encode(Sha256::digest(&bzimage)),
        source: source.files.clone(),
        build_seconds,
        toolchain: recipe.toolchain.clone(),
    };

    let builds = dir.parent().unwrap_or(req.cache_dir);
    fs::create_dir_all(builds).map_err(io("create", builds))?;
    let tmp = tempfile::Builder::new()
        .prefix(".build-")
        .tempdir_in(builds)
        .map_err(io("create a directory in", builds))?;
    write_synced(&tmp.path().join(BZIMAGE), &bzimage)?;
    write_synced(&tmp.path().join(CONFIG), config.as_bytes())?;
    let json = serde_json::to_vec_pretty(&facts).map_err(|e| Error::Source {
        version: recipe.version.clone(),
        problem: format!("cannot serialise the build facts: {e}"),
    })?;
    write_synced(&tmp.path().join(FACTS), &json)?;
    let tmp = tmp.keep();
    if let Err(error) = fs::rename(&tmp, &dir) {
        let _ = fs::remove_dir_all(&tmp);
        // Another build of the same key finished first: same bytes.
        if !dir.join(FACTS).is_file() {
            return Err(Error::Io {
                action: "move the kernel build into the cache",
                path: dir,
                error,
            });
        }
    }
    // Gigabytes of objects: the cache holds what is needed.
    let _ = fs::remove_dir_all(&tree);
    progress(&format!(
        "kernel: linux {} built in {:.0} s",
        facts.release, facts.build_seconds
    ));
    Ok(Built {
        key,
        bzimage: dir.join(BZIMAGE),
        config,
        facts,
        report,
        from_cache: false,
    })
}

/// The error for a configuration that lost required settings.
pub fn policy_error(report: Report) -> Error {
    Error::Policy {
        held: report.held,
        required: report.required,
        missing: report.describe_missing(),
        report: Box::new(report),
    }
}

fn load_cached(dir: &Path, key: &str, recipe: &Recipe) -> Result<Built, Error> {
    let damaged = |problem: String| Error::Damaged {
        path: dir.to_owned(),
        problem,
    };
    let facts_path = dir.join(FACTS);
    let facts: BuildFacts =
        serde_json::from_slice(&fs::read(&facts_path).map_err(io("read", &facts_path))?)
            .map_err(|e| damaged(format!("{FACTS}: {e}")))?;
    let bzimage = dir.join(BZIMAGE);
    let bytes = fs::read(&bzimage).map_err(io("read", &bzimage))?;
    if hex::encode(Sha256::digest(&bytes)) != facts.bzimage_sha256 {
        return Err(damaged(format!("{BZIMAGE} does not match {FACTS}")));
    }
    let config_path = dir.join(CONFIG);
    let config = fs::read_to_string(&config_path).map_err(io("read", &config_path))?;
    let report = policy::check(&recipe.settings, &Config::parse(&config));
    if !report.passed() {
        return Err(policy_error(report));
    }
    Ok(Built {
        key: key.to_owned(),
        bzimage,
        config,
        facts,
        report,
        from_cache: true,
    })
}

struct Source {
    dsc: PathBuf,
    files: Vec<(String, String)>,
}

/// The source package in the cache, downloaded through apt on a miss.
fn fetch_source(req: &Request, progress: &dyn Fn(&str)) -> Result<Source, Error> {
    let recipe = req.recipe;
    let bad = |problem: String| Error::Source {
        version: recipe.version.clone(),
        problem,
    };
    if recipe.version.is_empty()
        || !recipe
            .version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".+~-".contains(&b))
    {
        return Err(bad("not a Debian version".into()));
    }
    let root = req.cache_dir.join("kernel/source");
    let dir = root.join(format!("linux_{}", recipe.version));
    if !dir.join("SHA256SUMS").is_file() {
        if req.offline {
            return Err(Error::NotCached {
                version: recipe.version.clone(),
                path: dir,
            });
        }
        progress(&format!(
            "kernel: downloading the source of linux {} ({} {}; about 150 MB)",
            recipe.version, recipe.mirror, recipe.suite
        ));
        download_source(req, &root, &dir)?;
    }
    let sums_path = dir.join("SHA256SUMS");
    let sums = fs::read_to_string(&sums_path).map_err(io("read", &sums_path))?;
    let mut files = Vec::new();
    let mut dsc = None;
    for line in sums.lines() {
        let (sha, name) = line
            .split_once("  ")
            .ok_or_else(|| bad(format!("bad line in {}: {line:?}", sums_path.display())))?;
        let path = dir.join(name);
        let mut f = fs::File::open(&path).map_err(io("open", &path))?;
        let mut hasher = Sha256::new();
        std::io::copy(&mut f, &mut hasher).map_err(io("read", &path))?;
        if hex::encode(hasher.finalize()) != sha {
            return Err(Error::Damaged {
                path: dir.clone(),
                problem: format!("{name} does not match SHA256SUMS"),
            });
        }
        if name.ends_with(".dsc") {
            dsc = Some(path);
        }
        files.push((name.to_owned(), sha.to_owned()));
    }
    let dsc = dsc.ok_or_else(|| bad(format!("no .dsc in {}", dir.display())))?;
    Ok(Source { dsc, files })
}

fn download_source(req: &Request, root: &Path, dir: &Path) -> Result<(), Error> {
    let recipe = req.recipe;
    let apt = req.cache_dir.join("kernel/apt");
    for d in ["lists/partial", "archives/partial", "sourceparts"] {
        let p = apt.join(d);
        fs::create_dir_all(&p).map_err(io("create", &p))?;
    }
    let list = apt.join("sources.list");
    fs::write(
        &list,
        format!(
            "deb-src [signed-by={ARCHIVE_KEYRING}] {} {} main\n",
            recipe.mirror, recipe.suite
        ),
    )
    .map_err(io("write", &list))?;
    let status = apt.join("status");
    fs::write(&status, b"").map_err(io("write", &status))?;
    let options = |cmd: &mut Command| {
        cmd.arg("-q")
            .arg("-o")
            .arg(format!("Dir::Etc::SourceList={}", list.display()))
            .arg("-o")
            .arg(format!(
                "Dir::Etc::SourceParts={}",
                apt.join("sourceparts").display()
            ))
            .arg("-o")
            .arg(format!("Dir::State::Lists={}", apt.join("lists").display()))
            .arg("-o")
            .arg(format!("Dir::Cache={}", apt.display()))
            .arg("-o")
            .arg(format!("Dir::State::status={}", status.display()))
            .arg("-o")
            .arg("APT::Sandbox::User=root")
            .arg("-o")
            .arg("Debug::NoLocking=1");
    };
    let mut update = Command::new("apt-get");
    options(&mut update);
    run("apt-get update (deb-src)", update.arg("update"))?;
    fs::create_dir_all(root).map_err(io("create", root))?;
    let tmp = tempfile::Builder::new()
        .prefix(".source-")
        .tempdir_in(root)
        .map_err(io("create a directory in", root))?;
    let mut source = Command::new("apt-get");
    options(&mut source);
    run(
        "apt-get source",
        source
            .args(["source", "--download-only"])
            .arg(format!("linux={}", recipe.version))
            .current_dir(tmp.path()),
    )?;
    let mut sums = String::new();
    let mut names: Vec<String> = fs::read_dir(tmp.path())
        .map_err(io("read", tmp.path()))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in &names {
        let path = tmp.path().join(name);
        let bytes = fs::read(&path).map_err(io("read", &path))?;
        sums.push_str(&format!(
            "{}  {name}\n",
            hex::encode(Sha256::digest(&bytes))
        ));
    }
    if !names.iter().any(|n| n.ends_with(".dsc")) {
        return Err(Error::Source {
            version: recipe.version.clone(),
            problem: "apt-get source downloaded no .dsc".into(),
        });
    }
    write_synced(&tmp.path().join("SHA256SUMS"), sums.as_bytes())?;
    let tmp = tmp.keep();
    if let Err(error) = fs::rename(&tmp, dir) {
        let _ = fs::remove_dir_all(&tmp);
        // Another download finished first; its SHA256SUMS is checked anyway.
        if !dir.join("SHA256SUMS").is_file() {
            return Err(Error::Io {
                action: "move the kernel source into the cache",
                path: dir.to_owned(),
                error,
            });
        }
    }
    Ok(())
}

fn make_command(tree: &Path, timestamp: &str) -> Command {
    let mut cmd = Command::new("make");
    cmd.arg("-C")
        .arg(tree)
        .env("KBUILD_BUILD_TIMESTAMP", timestamp)
        .env("KBUILD_BUILD_USER", "clip")
        .env("KBUILD_BUILD_HOST", "clip")
        .env("KBUILD_BUILD_VERSION", "1")
        .env("LC_ALL", "C")
        .env("TZ", "UTC")
        .env_remove("KCONFIG_CONFIG")
        .env_remove("ARCH")
        .env_remove("CROSS_COMPILE");
    cmd
}

/// `2026-01-01 00:00:00 UTC` for `epoch`: what the kernel prints as its
/// build time (`uname -v`), from `date`.
pub fn timestamp(epoch: u64) -> Result<String, Error> {
    let out = run(
        "date",
        Command::new("date")
            .env("LC_ALL", "C")
            .args(["-u", "-d"])
            .arg(format!("@{epoch}"))
            .arg("+%Y-%m-%d %H:%M:%S UTC"),
    )?;
    Ok(out.trim().to_owned())
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let mut f = fs::File::create(path).map_err(io("create", path))?;
    f.write_all(bytes).map_err(io("write", path))?;
    f.sync_all().map_err(io("sync", path))
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        s.push(' ');
        s.push_str(&arg.to_string_lossy());
    }
    s
}

fn run(step: &'static str, cmd: &mut Command) -> Result<String, Error> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|error| Error::Spawn {
            step,
            command: describe(cmd),
            error,
        })?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        let mut text = String::from_utf8_lossy(&out.stderr).into_owned();
        text.push_str(&stdout);
        return Err(Error::Command {
            step,
            command: describe(cmd),
            status: out.status.to_string(),
            tail: tail(text.lines()),
        });
    }
    Ok(stdout)
}

/// Runs `cmd`, handing each line of its stdout to `line`; its stderr goes
/// to `stderr_log`, whose tail is the error message on failure.
fn run_streaming(
    step: &'static str,
    cmd: &mut Command,
    stderr_log: &Path,
    line: &mut dyn FnMut(&str),
) -> Result<(), Error> {
    let spawn_error = |cmd: &Command, error| Error::Spawn {
        step,
        command: describe(cmd),
        error,
    };
    let errors = fs::File::create(stderr_log).map_err(io("create", stderr_log))?;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(errors)
        .spawn()
        .map_err(|e| spawn_error(cmd, e))?;
    if let Some(stdout) = child.stdout.take() {
        for text in BufReader::new(stdout).lines() {
            let Ok(text) = text else { break };
            line(&text);
        }
    }
    let status = child.wait().map_err(|e| spawn_error(cmd, e))?;
    if !status.success() {
        let text = fs::read_to_string(stderr_log).unwrap_or_default();
        return Err(Error::Command {
            step,
            command: describe(cmd),
            status: status.to_string(),
            tail: tail(text.lines()),
        });
    }
    Ok(())
}

fn tail<'a>(lines: impl Iterator<Item = &'a str>) -> String {
    let mut last: VecDeque<&str> = VecDeque::new();
    for l in lines {
        if last.len() == TAIL_LINES {
            last.pop_front();
        }
        last.push_back(l);
    }
    last.into_iter().collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(timestamp(0).unwrap(), "1970-01-01 00:00:00 UTC");
        assert_eq!(timestamp(951_782_400).unwrap(), "2000-02-29 00:00:00 UTC");
        assert_eq!(timestamp(1_767_225_599).unwrap(), "2025-12-31 23:59:59 UTC");
    }

    #[test]
    fn the_key_ignores_reasons_but_not_settings() {
        let r = |text: &str| {
            Recipe::new(
                "trixie",
                "http://m",
                "6.12.1-1",
                &[("f".into(), text.into())],
                1,
            )
            .unwrap()
            .key()
        };
        assert_eq!(
            r("CONFIG_A=y # one\n"),
            r("CONFIG_A=y   # another reason\n")
        );
        assert_ne!(r("CONFIG_A=y # r\n"), r("CONFIG_A=n # r\n"));
    }
}
