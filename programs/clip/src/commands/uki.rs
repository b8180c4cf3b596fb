//! `clip uki`: build and inspect unified kernel images (UAPI "Unified Kernel
//! Image" specification), laid out as systemd's ukify v257 does; see
//! docs/formats/uki.md for inputs, layout and where we differ from ukify.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::output::{Report, escape_text};

#[derive(Debug, Subcommand)]
pub enum UkiCommand {
    /// Assemble a UKI from systemd-stub, a kernel, initrds, a command line and os-release.
    Build(BuildArgs),
    /// List the sections of a UKI (or any PE image) and the text sections' contents.
    Inspect {
        file: PathBuf,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// systemd-stub (e.g. /usr/lib/systemd/boot/efi/linuxx64.efi.stub).
    #[arg(long, value_name = "FILE")]
    stub: PathBuf,
    /// The kernel: a PE image with an EFI stub (x86 bzImage).
    #[arg(long, value_name = "FILE")]
    linux: PathBuf,
    /// An initrd; repeat for several, concatenated in order.
    #[arg(long, value_name = "FILE", required = true)]
    initrd: Vec<PathBuf>,
    /// Kernel command line, or @FILE to read it verbatim from FILE (text given
    /// directly has its whitespace runs collapsed, as ukify does).
    #[arg(long, value_name = "TEXT|@FILE")]
    cmdline: String,
    /// os-release file for the .osrel section.
    #[arg(long, value_name = "FILE")]
    os_release: PathBuf,
    /// Kernel release for .uname (default: read from the bzImage header).
    #[arg(long, value_name = "TEXT")]
    uname: Option<String>,
    /// SBAT CSV for the UKI (default: ukify's "uki" entry); merged after the
    /// stub's and the kernel's own entries.
    #[arg(long, value_name = "FILE")]
    sbat: Option<PathBuf>,
    /// Where to write the UKI.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Replace --out if it exists.
    #[arg(long)]
    force: bool,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run(cmd: UkiCommand) -> Result<()> {
    match cmd {
        UkiCommand::Build(args) => build(&args),
        UkiCommand::Inspect { file, json } => inspect(&file, json),
    }
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {what} {}", path.display()))
}

fn build(args: &BuildArgs) -> Result<()> {
    // Refuse early, before any work; the final rename checks again.
    if !args.force && args.out.symlink_metadata().is_ok() {
        bail!(
            "{} already exists (use --force to replace it)",
            args.out.display()
        );
    }
    let stub = read(&args.stub, "stub")?;
    let linux = read(&args.linux, "kernel")?;
    let initrds = args
        .initrd
        .iter()
        .map(|p| read(p, "initrd"))
        .collect::<Result<Vec<_>>>()?;
    let cmdline = match args.cmdline.strip_prefix('@') {
        Some(file) => read(Path::new(file), "command line file")?,
        None => uki::normalize_cmdline(&args.cmdline).into_bytes(),
    };
    let os_release = read(&args.os_release, "os-release file")?;
    let sbat = match &args.sbat {
        Some(p) => Some(
            String::from_utf8(read(p, "SBAT file")?)
                .with_context(|| format!("SBAT file {} is not UTF-8", p.display()))?,
        ),
        None => None,
    };
    let uname = match &args.uname {
        Some(u) => Some(u.clone()),
        None => {
            let found = uki::bzimage_release(&linux);
            match &found {
                Some(u) => tracing::info!("kernel release from the bzImage header: {u}"),
                None => tracing::warn!(
                    "{} has no kernel_version string; building without .uname",
                    args.linux.display()
                ),
            }
            found
        }
    };

    let inputs = uki::Inputs {
        stub: &stub,
        linux: &linux,
        initrds: initrds.iter().map(Vec::as_slice).collect(),
        cmdline: Some(&cmdline),
        os_release: Some(&os_release),
        uname: uname.as_deref(),
        sbat: sbat.as_deref(),
        pcrpkey: None,
        pcrsig: None,
    };
    let image = uki::build(&inputs).context("cannot build the UKI")?;
    // A stub with bytes after its sections (systemd 252's carries a COFF
    // symbol table there) leaves them between its sections and ours: the
    // UKI is still built, but signing it needs `clip sign --allow-gaps`.
    let digest =
        pe::authenticode_sha256_with(&image, pe::Gaps::Allow).context("cannot hash the UKI")?;
    let gaps = pe::PeFile::parse(&image)
        .and_then(|p| p.raw_data_gaps())
        .context("cannot read back the UKI")?;
    for gap in gaps {
        tracing::warn!(
            "the UKI has {gap} (from the stub); the signature would not cover them, \
             so `clip sign` refuses it unless given --allow-gaps"
        );
    }
    // A UKI holds no secret: rw-r--r-- like other build outputs.
    crate::blockio::write_file_atomically(&args.out, &image, 0o644, args.force)?;

    let report = uki::inspect(&image).context("cannot read back the UKI")?;
    Report::default()
        .field("output", "Output", args.out.display().to_string())
        .field("size", "Size", image.len())
        .field("uname", "Uname", uname.map_or(Value::Null, Value::from))
        .field("sections", "Sections", section_names(&report, args.json))
        .field(
            "authenticode_sha256",
            "Authenticode SHA-256",
            hex::encode(digest),
        )
        .print(args.json)?;
    Ok(())
}

/// The section names, space-separated; escaped for a terminal unless for JSON.
fn section_names(report: &uki::Inspection, json: bool) -> String {
    report
        .sections
        .iter()
        .map(|s| {
            if json {
                s.name.clone()
            } else {
                escape_text(&s.name).into_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Writes `text` to stdout; a closed pipe (`clip uki inspect x | head`)
/// ends the command quietly in `main`, as for every command.
fn emit(text: &str) -> Result<()> {
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .context("cannot write to stdout")
}

fn inspect(file: &Path, json: bool) -> Result<()> {
    use std::fmt::Write as _;
    let bytes = read(file, "image")?;
    let report =
        uki::inspect(&bytes).with_context(|| format!("cannot inspect {}", file.display()))?;
    if json {
        let sections: Vec<Value> = report
            .sections
            .iter()
            .map(|s| {
                json!({
                    "name": s.name,
                    "virtual_address": s.virtual_address,
                    "virtual_size": s.virtual_size,
                    "file_offset": s.file_offset,
                    "raw_size": s.raw_size,
                    "characteristics": s.characteristics,
                    "text": s.text,
                })
            })
            .collect();
        let text = |name: &str| report.text(name).map_or(Value::Null, Value::from);
        let cert = report
            .certificate_table
            .as_ref()
            .map_or(Value::Null, |r| json!({"offset": r.start, "size": r.len()}));
        let object = json!({
                "file": file.display().to_string(),
                "size": bytes.len(),
                "machine": report.machine,
                "subsystem": report.subsystem,
                "section_alignment": report.section_alignment,
                "file_alignment": report.file_alignment,
                "size_of_image": report.size_of_image,
                "certificate_table": cert,
                "sections": sections,
                "cmdline": text(".cmdline"),
                "osrel": text(".osrel"),
                "uname": text(".uname"),
                "sbat": text(".sbat"),
        });
        return emit(&format!("{object}\n"));
    }
    let mut out = String::new();
    writeln!(out, "File: {}", escape_text(&file.display().to_string()))?;
    writeln!(out, "Size: {}", bytes.len())?;
    match &report.certificate_table {
        Some(r) => writeln!(
            out,
            "Certificate table: {} bytes at {:#x}",
            r.len(),
            r.start
        )?,
        None => writeln!(out, "Certificate table: -")?,
    }
    writeln!(
        out,
        "{:<8} {:>10} {:>10} {:>10} {:>10}  {:>10}",
        "Section", "VirtAddr", "VirtSize", "FileOff", "RawSize", "Flags"
    )?;
    // Section names and texts are the image's bytes: escaped, so that
    // they cannot drive the terminal (JSON output escapes them itself).
    for s in &report.sections {
        writeln!(
            out,
            "{:<8} {:#10x} {:#10x} {:#10x} {:#10x}  {:#010x}",
            escape_text(&s.name),
            s.virtual_address,
            s.virtual_size,
            s.file_offset,
            s.raw_size,
            s.characteristics
        )?;
    }
    for s in &report.sections {
        if let Some(text) = &s.text {
            writeln!(out, "\n{}:", escape_text(&s.name))?;
            for line in text.split_terminator('\n') {
                writeln!(out, "  {}", escape_text(line))?;
            }
        }
    }
    emit(&out)
}
