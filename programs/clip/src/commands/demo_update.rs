//! `clip demo --update`: v1 → v2 end to end (docs/update.md). The pieces
//! are the commands themselves, called with the arguments a person would
//! type: `clip build` (twice, one key set), `clip repo init` and
//! `publish`, the httpd server of `clip repo serve` on 127.0.0.1:0 with an
//! access log, and `clip boot --tpm --update-server` following the guest
//! across the update's reboot.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Parser};
use serde_json::{Value, json};

use super::{DemoArgs, STATUS_MARKER, compare};
use crate::IntegrityFailure;
use crate::commands::{boot, build, repo};

/// The text clip-updated's units write on the console (programs/clip-updated).
const INSTALLED: &str = "Installed: ";
const MARKED_GOOD: &str = "Marked good: ";
const DOWNLOADED: &str = "Downloaded: ";

/// A command's arguments parsed from the words one would type, so that the
/// demo runs with the same defaults as the command line.
fn parse_args<A: Args>(words: &[OsString]) -> Result<A> {
    #[derive(Parser)]
    struct Wrap<A: Args> {
        #[command(flatten)]
        args: A,
    }
    Ok(Wrap::<A>::try_parse_from(words)?.args)
}

/// A `clip repo` command parsed from the words one would type.
fn parse_repo(words: &[OsString]) -> Result<repo::RepoCommand> {
    #[derive(Parser)]
    struct Wrap {
        #[command(subcommand)]
        cmd: repo::RepoCommand,
    }
    Ok(Wrap::try_parse_from(words)?.cmd)
}

fn words<const N: usize>(items: [&dyn AsRef<std::ffi::OsStr>; N]) -> Vec<OsString> {
    items.iter().map(|w| w.as_ref().to_owned()).collect()
}

/// The version after `v`: the release of a pre-release (`5.0.0-alpha.1` →
/// `5.0.0`), else the next patch (`5.0.0` → `5.0.1`).
pub fn next_version(v: &str) -> Result<String> {
    let parsed = contract::Version::parse(v).with_context(|| format!("version {v:?}"))?;
    let next = match v.split_once('-') {
        Some((core, _)) => core.to_owned(),
        None => {
            let (head, patch) = v.rsplit_once('.').context("no patch number")?;
            let patch: u64 = patch.parse().context("patch number")?;
            format!("{head}.{}", patch + 1)
        }
    };
    let n = contract::Version::parse(&next).with_context(|| format!("version {next:?}"))?;
    if n <= parsed {
        bail!("{next} is not newer than {v}");
    }
    Ok(next)
}

fn read_manifest(out: &Path) -> Result<Value> {
    serde_json::from_slice(
        &std::fs::read(out.join(build::MANIFEST_FILE)).context("cannot read the manifest")?,
    )
    .context("cannot parse the manifest")
}

/// Every CLIP-STATUS line of the console, in order.
fn statuses(console: &str) -> Result<Vec<Value>> {
    console
        .lines()
        .filter_map(|l| l.split_once(STATUS_MARKER).map(|(_, j)| j.trim()))
        .map(|j| serde_json::from_str(j).with_context(|| format!("bad CLIP-STATUS line: {j}")))
        .collect()
}

/// The rest of the first console line holding `marker`, after it.
fn after<'a>(console: &'a str, marker: &str) -> Option<&'a str> {
    console
        .lines()
        .find_map(|l| l.split_once(marker).map(|(_, r)| r.trim()))
}

pub fn run(args: &DemoArgs) -> Result<()> {
    let cache = build::cache_dir(args.cache.as_deref())?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| cache.join("demo-update"));
    let (v1_out, v2_out, repo_dir) = (out.join("v1"), out.join("v2"), out.join("repo"));
    let keys = v1_out.join(build::KEYS_DIR);
    let programs: Vec<OsString> = match &args.programs {
        Some(p) => words([&"--programs", p]),
        None => Vec::new(),
    };
    let build_words = |out: &PathBuf, extra: Vec<OsString>| {
        let mut w = words([
            &"build",
            &args.product,
            &"--out",
            out,
            &"--cache",
            &cache,
            &"--force",
        ]);
        w.extend(programs.iter().cloned());
        w.extend(extra);
        w
    };

    eprintln!(
        "== clip build {} --out {}",
        args.product.display(),
        v1_out.display()
    );
    build::run(parse_args(&build_words(&v1_out, Vec::new()))?)?;
    let m1 = read_manifest(&v1_out)?;
    let v1 = m1["product"]["version"]
        .as_str()
        .context("the manifest has no product version")?
        .to_owned();
    let v2 = next_version(&v1)?;
    eprintln!(
        "== clip build {} --out {} --version {v2} --keys {}",
        args.product.display(),
        v2_out.display(),
        keys.display()
    );
    build::run(parse_args(&build_words(
        &v2_out,
        words([&"--version", &v2, &"--keys", &keys]),
    ))?)?;
    let m2 = read_manifest(&v2_out)?;

    eprintln!(
        "== clip repo init {0} && clip repo publish {0} {1}",
        repo_dir.display(),
        v2_out.display()
    );
    match std::fs::remove_dir_all(&repo_dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot remove {}", repo_dir.display())),
    }
    repo::run(parse_repo(&words([
        &"repo", &"init", &repo_dir, &"--keys", &keys,
    ]))?)?;
    repo::run(parse_repo(&words([
        &"repo", &"publish", &repo_dir, &v2_out, &"--keys", &keys,
    ]))?)?;

    let access_log_path = out.join("access.log");
    let access_log = std::fs::File::create(&access_log_path)
        .with_context(|| format!("cannot create {}", access_log_path.display()))?;
    let site = httpd::Site::new(&repo_dir)?.with_access_log(httpd::AccessLog::new(access_log));
    let server = httpd::Server::bind("127.0.0.1:0", site)?.spawn();
    let url = server.url();
    eprintln!("== clip repo serve {} (at {url})", repo_dir.display());

    let image = v1_out.join(build::IMAGE_FILE);
    // A fresh TPM (clip boot keeps swtpm's state beside the image): a
    // previous demo's v2 raised its anti-rollback minimum above v1.
    let tpm = v1_out.join("tpm");
    match std::fs::remove_dir_all(&tpm) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot remove {}", tpm.display())),
    }
    let serial = out.join("serial.log");
    let installed = format!("{INSTALLED}{v2} in slot b");
    // Boot 1 says "Marked good: <product>-a.conf is marked good already":
    // the text of boot 2 is the renamed entry (systemd-boot counted one try).
    let product = text(&m2["product"]["name"]);
    let marked_v2 = format!("{MARKED_GOOD}{product}-b+2-1.conf renamed to {product}-b.conf");
    eprintln!(
        "== clip boot {} --secure-boot --tpm --update-server {url} (QEMU, TCG: two boots, \
         a few minutes)",
        image.display()
    );
    let boot_args = boot::BootArgs {
        image: image.clone(),
        secure_boot: true,
        keys: Some(keys.clone()),
        tpm: true,
        timeout: args.timeout.max(1200),
        expect: vec![installed.clone(), marked_v2.clone()],
        refuse: vec!["clip-init: FATAL".to_owned(), "Access Denied".to_owned()],
        answer: Vec::new(),
        serial_log: Some(serial.clone()),
        memory: 1024,
        snapshot: false,
        max_boots: 2,
        no_reboot: false,
        update_server: Some(url.clone()),
        json: false,
    };
    let (report, ending) = boot::execute(&boot_args)?;
    drop(server);
    if let Some(e) = ending.error {
        return Err(e);
    }
    let console = std::fs::read_to_string(&serial)
        .with_context(|| format!("cannot read {}", serial.display()))?;
    let s = statuses(&console)?;
    let (Some(before), Some(now)) = (s.first(), s.last()) else {
        bail!("the console has no CLIP-STATUS line");
    };
    let downloaded = after(&console, DOWNLOADED).unwrap_or("?").to_owned();
    let marked = if console.contains(&marked_v2) {
        marked_v2[MARKED_GOOD.len()..].to_owned()
    } else {
        "not seen".to_owned()
    };
    let seconds = report.elapsed.as_secs_f64();

    let mut checks = vec![
        (
            format!("boot 1 ran {v1} from slot a"),
            before["version"] == v1.as_str() && before["slot"] == "a",
        ),
        (
            format!("clip-updated installed {v2} into slot b and rebooted"),
            console.contains(&installed) && report.boots.len() == 2,
        ),
        (format!("boot 2 ran {v2}"), now["version"] == v2.as_str()),
    ];
    checks.extend(compare(&m2, now, "b"));
    checks.push((
        format!("{v2} marked good (its entry lost the boot counter)"),
        console.contains(&marked_v2),
    ));
    checks.push((
        "the state partition kept (boot count 1 then 2)".into(),
        before["boot_count"] == 1 && now["boot_count"] == 2,
    ));

    if args.json {
        crate::output::line(json!({
            "before": {"version": v1, "slot": before["slot"], "status": before},
            "after": {"version": v2, "slot": now["slot"], "status": now},
            "marked_good": marked,
            "downloaded": downloaded,
            "serial_log": serial.display().to_string(),
            "access_log": access_log_path.display().to_string(),
            "seconds": seconds,
            "checks": checks.iter().map(|(what, ok)| json!({"check": what, "ok": ok})).collect::<Vec<_>>(),
        }))?;
    } else {
        crate::output::line(
            "Update report (CLIP-STATUS of each boot and clip-updated's lines, read from the console):",
        )?;
        crate::output::labelled([
            ("Before", format!("{v1}, slot {}", text(&before["slot"]))),
            (
                "Installed",
                after(&console, INSTALLED).unwrap_or("?").to_owned(),
            ),
            ("Downloaded", downloaded),
            (
                "After",
                format!("{}, slot {}", text(&now["version"]), text(&now["slot"])),
            ),
            ("Marked good", marked),
            ("Root hash", text(&now["root_hash"])),
            ("QEMU start to marked good", format!("{seconds:.1} s")),
        ])?;
        crate::output::line("")?;
        for (what, ok) in &checks {
            crate::output::line(format!("  [{}] {what}", if *ok { " ok " } else { "FAIL" }))?;
        }
    }
    let failed: Vec<&str> = checks
        .iter()
        .filter(|(_, ok)| !ok)
        .map(|(w, _)| w.as_str())
        .collect();
    if !failed.is_empty() {
        bail!(IntegrityFailure(format!(
            "the update was not shown end to end: {}",
            failed.join("; ")
        )));
    }
    Ok(())
}

fn text(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_version_is_newer() {
        assert_eq!(next_version("5.0.0-alpha.1").unwrap(), "5.0.0");
        assert_eq!(next_version("5.0.0").unwrap(), "5.0.1");
        assert_eq!(next_version("1.2.9").unwrap(), "1.2.10");
        assert!(next_version("5.0").is_err());
    }
}
