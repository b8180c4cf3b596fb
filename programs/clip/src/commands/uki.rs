//! `clip uki`: build and inspect unified kernel images (UAPI "Unified Kernel
//! Image" specification), laid out as systemd's ukify v257 does; see
//! docs/formats/uki.md for inputs, layout and where we differ from ukify.
//! With a PCR-policy key, the UKI carries `.pcrpkey` and the signed PCR 11
//! policy `.pcrsig` (crates/measure; docs/tpm-policy.md).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use measure::{PcrSignature, PcrSignatures, Prediction};
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{Value, json};

use crate::output::{Report, escape_text};

#[derive(Debug, Subcommand)]
pub enum UkiCommand {
    /// Assemble a UKI from systemd-stub, a kernel, initrds, a command line and os-release.
    Build(Box<BuildArgs>),
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
    /// PCR-policy private key (PEM): predict the PCR 11 values systemd-stub
    /// will measure, sign them and embed the signatures as .pcrsig (ukify's
    /// --pcr-private-key).
    #[arg(long, value_name = "FILE")]
    pcr_private_key: Option<PathBuf>,
    /// PCR-policy public key (PEM SubjectPublicKeyInfo), embedded verbatim
    /// as .pcrpkey (ukify's --pcr-public-key). Default: derived from
    /// --pcr-private-key.
    #[arg(long, value_name = "FILE")]
    pcr_public_key: Option<PathBuf>,
    /// Boot phase path to sign PCR 11 for (repeatable; words joined by ':').
    /// Default: enter-initrd, where CLIP OS unseals (ukify's default is
    /// systemd-measure's four paths).
    #[arg(long = "phase", value_name = "PATH", requires = "pcr_private_key")]
    phases: Vec<String>,
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

    let policy = match &args.pcr_private_key {
        Some(key) => Some(PcrPolicy::load(
            key,
            args.pcr_public_key.as_deref(),
            &args.phases,
        )?),
        None => None,
    };
    // --pcr-public-key alone: .pcrpkey without signatures (as ukify).
    let pcrpkey_only = match (&policy, &args.pcr_public_key) {
        (None, Some(p)) => Some(PcrPolicy::load_public(p)?.1),
        _ => None,
    };
    let inputs = uki::Inputs {
        stub: &stub,
        linux: &linux,
        initrds: initrds.iter().map(Vec::as_slice).collect(),
        cmdline: Some(&cmdline),
        os_release: Some(&os_release),
        uname: uname.as_deref(),
        sbat: sbat.as_deref(),
        pcrpkey: pcrpkey_only.as_deref(),
        pcrsig: None,
    };
    let (image, prediction, signed) = match &policy {
        Some(policy) => {
            let signed = build_signed(&inputs, policy)?;
            (
                signed.image,
                Some(signed.prediction),
                Some(signed.signatures),
            )
        }
        None => {
            let image = uki::build(&inputs).context("cannot build the UKI")?;
            // Only reported: an image the prediction refuses still builds.
            let prediction = measure::predict_image(&image)
                .inspect_err(|e| tracing::warn!("no PCR 11 prediction for the UKI: {e}"))
                .ok();
            (image, prediction, None)
        }
    };
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
        .field(
            "pcr11_after_stub",
            "PCR 11 after the stub",
            prediction
                .as_ref()
                .map_or(Value::Null, |p| hex::encode(p.after_stub).into()),
        )
        .field(
            "pcr11_enter_initrd",
            "PCR 11 at enter-initrd",
            prediction.as_ref().map_or(Value::Null, |p| {
                hex::encode(p.at(measure::pcr::ENTER_INITRD)).into()
            }),
        )
        .field(
            "pcr_signatures",
            "PCR signatures",
            match (&prediction, signed) {
                (Some(p), Some((phases, s))) => signatures_json(p, &phases, &s),
                _ => Value::Null,
            },
        )
        .print(args.json)?;
    Ok(())
}

/// What signs a UKI's PCR 11 policy: the PCR-policy key, the public key
/// embedded as `.pcrpkey`, and the phase paths signed for.
#[derive(Debug)]
pub struct PcrPolicy {
    key: RsaPrivateKey,
    public: RsaPublicKey,
    /// `.pcrpkey`: the public key file verbatim, or the PEM of the key's
    /// public half (as `systemd-keyutil public` writes it).
    pcrpkey: Vec<u8>,
    /// Normalised, sorted, without duplicates (as systemd-measure takes
    /// `--phase`).
    phases: Vec<String>,
}

impl PcrPolicy {
    /// Reads the keys (the public key defaults to the private key's) and
    /// checks them: RSA-2048, exponent 65537, halves of one key. `phases`
    /// empty means [`measure::pcr::UNSEAL_PHASE`].
    pub fn load(private: &Path, public: Option<&Path>, phases: &[String]) -> Result<Self> {
        let pem = zeroize::Zeroizing::new(read(private, "PCR-policy private key")?);
        let key = keyfile::rsa_private_key(&pem)
            .with_context(|| format!("cannot use PCR-policy private key {}", private.display()))?;
        let (public, pcrpkey) = match public {
            Some(p) => {
                let (public, pem) = Self::load_public(p)?;
                if public != key.to_public_key() {
                    bail!(
                        "{} is not the public key of {}",
                        p.display(),
                        private.display()
                    );
                }
                (public, pem)
            }
            None => {
                let public = key.to_public_key();
                let pem = measure::signature::public_key_pem(&public)?;
                (public, pem.into_bytes())
            }
        };
        measure::signature::check_public_key(&public)
            .with_context(|| format!("cannot use PCR-policy key {}", private.display()))?;
        let mut phases: Vec<String> = if phases.is_empty() {
            vec![measure::pcr::UNSEAL_PHASE.to_owned()]
        } else {
            phases
                .iter()
                .map(|p| {
                    p.split(':')
                        .filter(|w| !w.is_empty())
                        .collect::<Vec<_>>()
                        .join(":")
                })
                .collect()
        };
        phases.sort();
        phases.dedup();
        Ok(Self {
            key,
            public,
            pcrpkey,
            phases,
        })
    }

    /// `pkfp` of the key, hex (as `.pcrsig` names it).
    pub fn pkfp(&self) -> Result<String> {
        Ok(hex::encode(measure::signature::fingerprint(&self.public)?))
    }

    /// A PCR-policy public key file: the key, and the file's bytes.
    fn load_public(path: &Path) -> Result<(RsaPublicKey, Vec<u8>)> {
        let bytes = read(path, "PCR-policy public key")?;
        let public = keyfile::rsa_public_key(&bytes)
            .with_context(|| format!("cannot use PCR-policy public key {}", path.display()))?;
        measure::signature::check_public_key(&public)
            .with_context(|| format!("cannot use PCR-policy public key {}", path.display()))?;
        Ok((public, bytes))
    }
}

/// A UKI with its signed PCR 11 policy.
#[derive(Debug)]
pub struct SignedUki {
    pub image: Vec<u8>,
    /// What systemd-stub will measure.
    pub prediction: Prediction,
    /// The phase paths signed, and the `.pcrsig` entries (same order).
    pub signatures: (Vec<String>, PcrSignatures),
}

/// Builds the UKI with `.pcrpkey`, predicts PCR 11 from its section table
/// as systemd-stub measures it, signs the value of each phase path and
/// rebuilds with `.pcrsig` (ukify's order: the signatures come after the
/// measurement and are not measured). `inputs.pcrpkey` and `.pcrsig` are
/// set here.
pub fn build_signed(inputs: &uki::Inputs<'_>, policy: &PcrPolicy) -> Result<SignedUki> {
    let mut inputs = inputs.clone();
    inputs.pcrpkey = Some(&policy.pcrpkey);
    inputs.pcrsig = None;
    let unsigned = uki::build(&inputs).context("cannot build the UKI")?;
    let prediction =
        measure::predict_image(&unsigned).context("cannot predict PCR 11 for the UKI")?;
    let mut rng = rand::rngs::OsRng;
    let signatures = PcrSignatures(
        policy
            .phases
            .iter()
            .map(|phase| {
                PcrSignature::sign(
                    &policy.key,
                    Some(&policy.public),
                    &prediction.at(phase),
                    &mut rng,
                )
            })
            .collect::<Result<_, _>>()
            .context("cannot sign the PCR 11 policy")?,
    );
    for s in &signatures.0 {
        s.verify(&policy.public)
            .context("internal error: the PCR signature does not verify")?;
    }
    // Anti-rollback (docs/anti-rollback.md): a release version the
    // rollback index cannot order is refused here, at build time; one it
    // can gets a second kind of entry, the approval of PolicyPCR(11 at
    // unseal) + PolicyNV(NV <= this release's index) with policyRef
    // "clip.rollback", which clip-init seals the state to. Not in
    // `signatures`: the manifest pairs those with the phases, and
    // systemd ignores an entry whose policy is not its PCR 11 policy.
    let mut entries = signatures.0.clone();
    if let Some(version) = release_version(inputs.os_release) {
        let index = rollback::index(&version).context("cannot build this release")?;
        let key = tpm2::PolicyKey::from_rsa(&policy.public)
            .context("the PCR-policy key is not a TPM policy key")?;
        let approved =
            rollback::tpm::release_policy(&key, &prediction.at(measure::pcr::UNSEAL_PHASE), index);
        let entry = PcrSignature::sign_approved(
            &policy.key,
            Some(&policy.public),
            &approved,
            rollback::tpm::POLICY_REF,
            &mut rng,
        )
        .context("cannot sign the anti-rollback policy")?;
        entry
            .verify_with_ref(&policy.public, rollback::tpm::POLICY_REF)
            .context("internal error: the anti-rollback signature does not verify")?;
        entries.push(entry);
    }
    let pcrsig = PcrSignatures(entries).to_ukify_json();
    inputs.pcrsig = Some(pcrsig.as_bytes());
    let image = uki::build(&inputs).context("cannot build the UKI")?;
    // .pcrsig is not measured: the image predicts as before.
    let again = measure::predict_image(&image).context("cannot predict PCR 11 for the UKI")?;
    if again != prediction {
        bail!("internal error: adding .pcrsig changed the PCR 11 prediction");
    }
    Ok(SignedUki {
        image,
        prediction,
        signatures: (policy.phases.clone(), signatures),
    })
}

/// `VERSION_ID` of an os-release, if it is a release version
/// (`contract::Version`).
fn release_version(os_release: Option<&[u8]>) -> Option<contract::Version> {
    let text = std::str::from_utf8(os_release?).ok()?;
    let value = text
        .lines()
        .find_map(|l| l.strip_prefix("VERSION_ID="))?
        .trim()
        .trim_matches('"');
    contract::Version::parse(value).ok()
}

/// `[{"phase", "pcr11", "policy", "pkfp"}]` for reports and the manifest.
pub fn signatures_json(
    prediction: &Prediction,
    phases: &[String],
    signatures: &PcrSignatures,
) -> Value {
    Value::Array(
        phases
            .iter()
            .zip(&signatures.0)
            .map(|(phase, s)| {
                json!({
                    "phase": phase,
                    "pcr11": hex::encode(prediction.at(phase)),
                    "policy": hex::encode(s.policy),
                    "pkfp": hex::encode(s.key_fingerprint),
                })
            })
            .collect(),
    )
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
