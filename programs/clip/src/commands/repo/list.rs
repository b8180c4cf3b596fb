//! `clip repo list REPO [--json]`: the releases the current signed targets
//! name, after verifying the repository as a client would (TUF spec
//! 1.0.31 §5: root chain from 1.root.json, timestamp, snapshot, targets,
//! expiry at the current time) and every target file against the length
//! and SHA-256 the targets give. A repository check too: anything that
//! does not verify is reported and exits 3.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::{Value, json};
use tuf::repository::{root_file_name, target_file_name};

use super::store::{METADATA_DIR, TARGETS_DIR, Unverified, now, verified};
use crate::{IntegrityFailure, output};

#[derive(Debug, Args)]
pub struct ListArgs {
    /// The repository.
    repo: PathBuf,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run(args: ListArgs) -> Result<()> {
    let repo = &args.repo;
    let fail = |e: anyhow::Error| -> anyhow::Error {
        IntegrityFailure(format!("{} does not verify: {e:#}", repo.display())).into()
    };
    // Nothing to check is not a check that failed (exit 1, not 3).
    let first = repo.join(METADATA_DIR).join(root_file_name(1));
    if !first.is_file() {
        bail!(
            "{} is not a repository: it has no {}",
            repo.display(),
            first.display()
        );
    }
    let client = verified(repo, now()?).map_err(|Unverified(e)| fail(e))?;
    let targets = client.targets().context("internal error: no targets")?;
    let mut problems = Vec::new();
    // product/version -> (release.json custom, files)
    let mut releases: BTreeMap<(String, String), Vec<Value>> = BTreeMap::new();
    for (name, target) in &targets.targets {
        let sha = target.hashes.get("sha256").cloned().unwrap_or_default();
        let path = repo.join(TARGETS_DIR).join(target_file_name(name, &sha));
        if let Err(e) = check_target(&client, name, &path) {
            problems.push(format!("{e:#}"));
        }
        let mut parts = name.splitn(3, '/');
        let (Some(product), Some(version), Some(file)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let custom = target.custom.as_ref().map(|c| &c["clip"]);
        let mut entry = json!({
            "target": name,
            "file": file,
            "stored_size": target.length,
        });
        if let Some(size) = custom.and_then(|c| c["length"].as_u64()) {
            entry["size"] = json!(size);
            entry["sha256"] = custom.map(|c| c["sha256"].clone()).unwrap_or(Value::Null);
            entry["file"] = json!(file.strip_suffix(".zst").unwrap_or(file));
        }
        releases
            .entry((product.to_owned(), version.to_owned()))
            .or_default()
            .push(entry);
    }
    let mut ordered: Vec<_> = releases.into_iter().collect();
    ordered.sort_by(|((pa, va), _), ((pb, vb), _)| {
        let parse = |v: &str| contract::Version::parse(v).ok();
        pa.cmp(pb).then_with(|| match (parse(va), parse(vb)) {
            (Some(a), Some(b)) => a.cmp(&b),
            _ => va.cmp(vb),
        })
    });
    let timestamp = client.timestamp().context("internal error: no timestamp")?;
    let report = json!({
        "repository": repo.display().to_string(),
        "targets_version": targets.version,
        "targets_expires": targets.expires.to_string(),
        "timestamp_version": timestamp.version,
        "timestamp_expires": timestamp.expires.to_string(),
        "releases": ordered.iter().map(|((product, version), files)| json!({
            "product": product,
            "version": version,
            "files": files,
        })).collect::<Vec<_>>(),
        "problems": problems,
    });
    if args.json {
        output::line(&report)?;
    } else {
        output::line(format_args!(
            "{}: targets version {} (expires {}), timestamp version {} (expires {})",
            repo.display(),
            targets.version,
            targets.expires,
            timestamp.version,
            timestamp.expires
        ))?;
        for ((product, version), files) in &ordered {
            let size: u64 = files.iter().filter_map(|f| f["size"].as_u64()).sum();
            let stored: u64 = files.iter().filter_map(|f| f["stored_size"].as_u64()).sum();
            output::line(format_args!(
                "{product} {version}: {} files, {size} bytes ({stored} stored)",
                files.len()
            ))?;
            for f in files {
                output::line(format_args!(
                    "  {} {} bytes ({} stored)",
                    f["file"].as_str().unwrap_or("-"),
                    f["size"].as_u64().map_or("-".to_owned(), |s| s.to_string()),
                    f["stored_size"]
                ))?;
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(IntegrityFailure(format!(
            "{} does not verify: {}",
            repo.display(),
            problems.join("; ")
        ))
        .into())
    }
}

/// Streams the stored file of target `name` through the client's verifier.
fn check_target(client: &tuf::Client, name: &str, path: &std::path::Path) -> Result<()> {
    let mut verifier = client.target_verifier(name)?;
    let mut file =
        fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        verifier.update(&buf[..n])?;
    }
    verifier.finish()?;
    Ok(())
}
