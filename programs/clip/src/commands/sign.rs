//! `clip sign` and `clip verify-signature`: Authenticode signatures of PE/EFI
//! images for UEFI Secure Boot (crate `authenticode`; format and semantics
//! in docs/formats/authenticode.md).
//!
//! `sign` replaces any existing signature (`--append` adds one instead),
//! checks its own output with the verifier, and writes OUT under a
//! temporary name, renamed into place once complete and synced. An
//! existing OUT, IN itself included, is replaced only with `--force`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use authenticode::{Certificate, Error as SignError, Gaps, RsaPrivateKey};
use clap::Args;
use serde_json::json;

use crate::IntegrityFailure;
use crate::output::Report;

#[derive(Debug, Args)]
pub struct SignArgs {
    /// RSA private key, PEM (PKCS#8 "PRIVATE KEY" or PKCS#1 "RSA PRIVATE KEY");
    /// the first private key in the file.
    #[arg(long, value_name = "KEY.pem")]
    key: PathBuf,
    /// X.509 certificate of the key (PEM or DER); embedded in the signature.
    /// Of a PEM bundle, the first certificate (as openssl x509 takes it).
    #[arg(long, value_name = "CERT")]
    cert: PathBuf,
    /// PE/EFI image to sign (only read).
    input: PathBuf,
    /// Where the signed image goes (may be INPUT itself, with --force).
    output: PathBuf,
    /// Replace OUTPUT if it exists.
    #[arg(long)]
    force: bool,
    /// Keep the signatures INPUT has and add this one after them.
    #[arg(long)]
    append: bool,
    /// Sign even if bytes between sections belong to no section: the
    /// signature does not cover them, and osslsigncode computes another
    /// digest for such an image (a warning names them). Overlapping
    /// sections are refused regardless.
    #[arg(long)]
    allow_gaps: bool,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Trusted certificate (PEM or DER): the signer must be it or be issued by it.
    /// Of a PEM bundle, the first certificate only.
    #[arg(long, value_name = "CERT")]
    cert: PathBuf,
    /// Signed PE/EFI image.
    file: PathBuf,
    /// Verify even if bytes between sections belong to no section (the
    /// signature does not cover them; a warning names them).
    #[arg(long)]
    allow_gaps: bool,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {what} {}", path.display()))
}

/// The RSA key of a PEM file: the first private key in it (text and other
/// blocks around it are skipped, as OpenSSL does).
pub(crate) fn load_key(path: &Path) -> Result<RsaPrivateKey> {
    let bytes = secureboot::der::zeroize::Zeroizing::new(read(path, "key file")?);
    authenticode::private_key_from_pem(&bytes)
        .with_context(|| format!("cannot use key file {}", path.display()))
}

/// The certificate of a PEM or DER file; of a PEM bundle the first, as
/// `openssl x509` takes it, with a warning naming it.
pub(crate) fn load_cert(path: &Path) -> Result<Certificate> {
    let mut certs = authenticode::certificates_from_pem_or_der(&read(path, "certificate")?)
        .with_context(|| format!("cannot use certificate {}", path.display()))?;
    if certs.len() > 1 {
        tracing::warn!(
            "{} holds {} certificates; using the first ({}), as openssl x509 does",
            path.display(),
            certs.len(),
            certs[0].tbs_certificate.subject
        );
    }
    Ok(certs.swap_remove(0))
}

pub fn sign(args: SignArgs) -> Result<()> {
    let key = load_key(&args.key)?;
    let cert = load_cert(&args.cert)?;
    match std::fs::symlink_metadata(&args.output) {
        Ok(meta) if meta.is_dir() => bail!("{} is a directory", args.output.display()),
        Ok(_) if !args.force => bail!(
            "{} already exists; pass --force to overwrite it",
            args.output.display()
        ),
        _ => {}
    }
    let image = read(&args.input, "image")?;
    let gaps = gap_policy(args.allow_gaps);
    let signed = if args.append {
        authenticode::append_signature_with(&image, &key, &cert, gaps)
    } else {
        authenticode::sign_with(&image, &key, &cert, gaps)
    }
    .map_err(|e| {
        let hint = match &e {
            SignError::Pe(p) => gap_hint(p),
            _ => "",
        };
        anyhow!("cannot sign {}: {e}{hint}", args.input.display())
    })?;
    // Never write a signature our own verifier (and so firmware) would refuse.
    let verified = authenticode::verify_with(&signed, &cert, gaps)
        .context("internal error: the signed image does not verify")?;
    warn_gaps(&args.input, &verified.gaps);
    let mode = std::fs::metadata(&args.input)
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or(0o644);
    crate::blockio::write_file_atomically(&args.output, &signed, mode, args.force)?;

    Report::default()
        .field("output", "Output", args.output.display().to_string())
        .field("size", "Size", signed.len())
        .field(
            "image_digest",
            "Image digest (SHA-256)",
            hex::encode(verified.image_digest),
        )
        .field("signer", "Signer", verified.signer.subject)
        .field("signatures", "Signatures", verified.entries)
        .print(args.json)?;
    Ok(())
}

fn gap_policy(allow: bool) -> Gaps {
    if allow { Gaps::Allow } else { Gaps::Refuse }
}

/// What to add to an error about a gap between sections.
fn gap_hint(e: &pe::Error) -> &'static str {
    if matches!(e, pe::Error::SectionGap(_)) {
        " (pass --allow-gaps to accept it anyway)"
    } else {
        ""
    }
}

fn warn_gaps(file: &Path, gaps: &[authenticode::Gap]) {
    for gap in gaps {
        tracing::warn!(
            "{}: {gap}; the signature does not cover them",
            file.display()
        );
    }
}

pub fn verify(args: VerifyArgs) -> Result<()> {
    let trusted = load_cert(&args.cert)?;
    let image = read(&args.file, "image")?;
    let v = match authenticode::verify_with(&image, &trusted, gap_policy(args.allow_gaps)) {
        Ok(v) => v,
        Err(SignError::Pe(e)) => {
            // Sections that overlap or leave gaps: a PE image, but one whose
            // signed bytes are ambiguous.
            if let pe::Error::SectionsOverlap { .. } | pe::Error::SectionGap(_) = e {
                bail!(
                    "cannot check the signature of {}: {e}{}",
                    args.file.display(),
                    gap_hint(&e)
                )
            }
            bail!("{} is not a PE image: {e}", args.file.display())
        }
        Err(e) => {
            if args.json {
                // The failure itself reaches stderr and the exit code either way.
                crate::output::line(
                    json!({"verified": false, "reason": e.reason(), "error": e.to_string()}),
                )
                .ok();
            }
            return Err(IntegrityFailure(format!(
                "{} failed signature verification: {e}",
                args.file.display()
            ))
            .into());
        }
    };
    warn_gaps(&args.file, &v.gaps);
    let signed_by = if v.signer.is_trusted_certificate {
        "trusted certificate"
    } else {
        "certificate issued by the trusted one"
    };
    Report::default()
        .field("verified", "Verified", true)
        .field("signature_index", "Signature index", v.index)
        .field("signatures", "Signatures", v.entries)
        .field("signer", "Signer", v.signer.subject)
        .field("issuer", "Issuer", v.signer.issuer)
        .field("serial", "Serial", v.signer.serial)
        .field("signed_by", "Signed by", signed_by)
        .field(
            "image_digest",
            "Image digest (SHA-256)",
            hex::encode(v.image_digest),
        )
        .field("checksum_valid", "Checksum valid", v.checksum_valid)
        .print(args.json)?;
    Ok(())
}
