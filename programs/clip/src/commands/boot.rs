//! `clip boot`: boot a CLIP OS disk image under QEMU + OVMF and watch its
//! serial console (crates/qemu, docs/testing-qemu.md).
//!
//! The machine: q35 with SMM, TCG (KVM when usable), OVMF's Secure Boot
//! build, the image as a raw virtio disk written in place (state persists
//! across boots; `--snapshot` discards writes). `--secure-boot` enrolls the
//! PK/KEK/db certificates of a `clip keys generate` directory into a copy of
//! OVMF's variable store, so the firmware enforces Secure Boot; without it
//! the store has no keys (Setup Mode: Secure Boot off). `--tpm` attaches a
//! swtpm TPM 2.0 whose state persists in `<image dir>/tpm`.
//!
//! The run follows the guest across its reboots (QEMU resets the machine in
//! place: the same variable store, disk and TPM), so an `--expect` can wait
//! for text of a later boot; `--max-boots` (default [`DEFAULT_MAX_BOOTS`])
//! bounds them, `--no-reboot` is `--max-boots 1`. Reboots and power-offs are
//! told apart by QEMU's QMP events (crates/qemu), not by console text.
//!
//! `--update-server http://127.0.0.1:PORT[/PATH]` gives the guest a virtio
//! NIC on QEMU's user network with `restrict=on`: the guest reaches only
//! the update server's address of the contract
//! ([`contract::update::SERVER_ADDRESS`]:80), each connection relayed to
//! the host's PORT by `clip-guestfwd` (installed beside `clip`). Without it
//! the VM has no network device.
//!
//! Ends with 0 once every `--expect` text appeared (or, without any, when
//! the VM powered off), 3 as soon as a `--refuse` text appeared (a refused
//! boot), 1 on timeout, QEMU failure or a reboot past the last boot allowed.
//! Every wait is bounded by `--timeout`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use serde_json::{Value, json};

use crate::IntegrityFailure;
use crate::output::{self, Report};

/// The files of a `clip keys generate` directory that enrollment reads.
const KEY_FILES: [&str; 4] = ["owner.guid", "PK.crt", "KEK.crt", "db.crt"];
/// Longest accepted `--timeout` (a day): a bound, not a wish.
const MAX_TIMEOUT: u64 = 86_400;
/// Boots followed unless `--max-boots` says otherwise: an update's reboot
/// into the new slot and systemd-boot's three tries of a failing one fit.
pub(crate) const DEFAULT_MAX_BOOTS: u32 = 5;
/// Largest accepted `--max-boots`.
const MAX_BOOTS: u32 = 100;

#[derive(Debug, Args)]
pub struct BootArgs {
    /// Raw GPT disk image to boot (e.g. the output of `clip build`).
    pub(crate) image: PathBuf,
    /// Enforce Secure Boot: enroll the PK, KEK and db of --keys.
    #[arg(long)]
    pub(crate) secure_boot: bool,
    /// Key directory of `clip keys generate` (default: `keys` beside IMAGE).
    #[arg(long, value_name = "DIR")]
    pub(crate) keys: Option<PathBuf>,
    /// Attach a TPM 2.0 (swtpm; its state persists in `<IMAGE dir>/tpm`).
    #[arg(long)]
    pub(crate) tpm: bool,
    /// Give up after this many seconds (1 to 86400).
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    pub(crate) timeout: u64,
    /// Succeed once this text appeared on the console (repeatable: all of them).
    #[arg(long, value_name = "TEXT")]
    pub(crate) expect: Vec<String>,
    /// Fail with exit code 3 as soon as this text appears (repeatable), e.g.
    /// "Access Denied" or "clip-init: FATAL".
    #[arg(long, value_name = "TEXT")]
    pub(crate) refuse: Vec<String>,
    /// Type REPLY and Enter on the console the first time PROMPT appears
    /// (repeatable), e.g. a recovery key at clip-init's prompt.
    #[arg(long, num_args = 2, value_names = ["PROMPT", "REPLY"])]
    pub(crate) answer: Vec<String>,
    /// Serial console log (default: serial.log beside IMAGE).
    #[arg(long, value_name = "FILE")]
    pub(crate) serial_log: Option<PathBuf>,
    /// Guest memory in MiB (at least 128).
    #[arg(long, default_value_t = 1024, value_name = "MIB")]
    pub(crate) memory: u32,
    /// Discard the guest's writes to IMAGE when QEMU ends.
    #[arg(long)]
    pub(crate) snapshot: bool,
    /// Follow the guest across at most N boots (1 to 100): a reboot at the
    /// end of the Nth ends the run as a failure.
    #[arg(long, default_value_t = DEFAULT_MAX_BOOTS, value_name = "N")]
    pub(crate) max_boots: u32,
    /// A reboot ends the run (the same as --max-boots 1).
    #[arg(long, conflicts_with = "max_boots")]
    pub(crate) no_reboot: bool,
    /// Let the guest reach this server (http://127.0.0.1:PORT[/PATH] only)
    /// at http://10.0.2.100[/PATH], and nothing else.
    #[arg(long, value_name = "URL")]
    pub(crate) update_server: Option<String>,
    /// Print one JSON object.
    #[arg(long)]
    pub(crate) json: bool,
}

/// How a boot ended, for people and for `--json`.
pub(crate) struct Ending {
    pub(crate) result: &'static str,
    /// None: success.
    pub(crate) error: Option<anyhow::Error>,
}

pub fn run(args: BootArgs) -> Result<()> {
    let (report, ending) = execute(&args)?;
    print_report(&args, &report, &ending)?;
    match ending.error {
        None => Ok(()),
        Some(e) => Err(e),
    }
}

/// Boots and watches the console; how it ended is judged, not printed.
pub(crate) fn execute(args: &BootArgs) -> Result<(qemu::RunReport, Ending)> {
    if args.timeout == 0 || args.timeout > MAX_TIMEOUT {
        bail!(
            "--timeout {} is out of range: give 1 to {MAX_TIMEOUT} seconds",
            args.timeout
        );
    }
    if args.expect.iter().chain(&args.refuse).any(String::is_empty) {
        bail!("--expect and --refuse need a non-empty text");
    }
    if args.answer.chunks(2).any(|pair| pair[0].is_empty()) {
        bail!("--answer needs a non-empty PROMPT");
    }
    if args.max_boots == 0 || args.max_boots > MAX_BOOTS {
        bail!(
            "--max-boots {} is out of range: give 1 to {MAX_BOOTS}",
            args.max_boots
        );
    }
    let update_server = args
        .update_server
        .as_deref()
        .map(UpdateServer::parse)
        .transpose()?;
    let relay = update_server
        .as_ref()
        .map(|_| relay_program())
        .transpose()?;
    check_image(&args.image)?;
    let image_dir = parent_dir(&args.image);
    let firmware = firmware(args, &image_dir)?;
    let serial_log = args
        .serial_log
        .clone()
        .unwrap_or_else(|| image_dir.join("serial.log"));
    if serial_log.is_dir() {
        bail!("--serial-log {} is a directory", serial_log.display());
    }
    // The console on the terminal when someone is watching and nothing is
    // to be matched: the user ends the session (Ctrl-A X, or power off).
    let interactive = args.expect.is_empty()
        && args.answer.is_empty()
        && !args.json
        && std::io::stdout().is_terminal()
        && std::io::stdin().is_terminal();

    let tpm = if args.tpm {
        let dir = image_dir.join("tpm");
        Some(
            qemu::Swtpm::start(&dir)
                .with_context(|| format!("cannot start the TPM (state in {})", dir.display()))?,
        )
    } else {
        None
    };
    let mut builder = qemu::Vm::builder(firmware, image_dir.join("qemu"))
        .accel(qemu::Accel::Auto)
        .memory_mib(args.memory)
        .disk(&args.image, args.snapshot)
        .serial_log(&serial_log)
        .interactive(interactive)
        .max_boots(max_boots(args))
        // Matched: stop the VM right away.
        .after_match(Duration::ZERO);
    if let Some(t) = &tpm {
        builder = builder.tpm(t.socket());
    }
    for pair in args.answer.chunks(2) {
        builder = builder.answer(&pair[0], &pair[1]);
    }
    if let (Some(server), Some(relay)) = (&update_server, relay) {
        let guest = std::net::SocketAddrV4::new(
            contract::update::SERVER_ADDRESS,
            contract::update::SERVER_PORT,
        );
        builder = builder.guest_forward(
            guest,
            [
                relay.into_os_string(),
                format!("127.0.0.1:{}", server.port).into(),
            ],
        );
    }
    let vm = builder.build().context("invalid VM settings")?;

    let expect: Vec<&str> = args.expect.iter().map(String::as_str).collect();
    let refuse: Vec<&str> = args.refuse.iter().map(String::as_str).collect();
    let timeout = Duration::from_secs(args.timeout);
    if interactive {
        eprintln!(
            "Booting {} (console below; Ctrl-A X quits QEMU; log in {})",
            args.image.display(),
            serial_log.display()
        );
    }
    let spinner = (!interactive).then(|| spinner(&args.image));
    let mut last = String::new();
    let report = vm.run_watched(&expect, &refuse, timeout, &mut |line| {
        if let Some(s) = &spinner {
            let line = line.trim();
            if !line.is_empty() {
                last = line.chars().take(60).collect();
                s.set_message(format!("booting: {last}"));
            }
        }
    });
    if let Some(s) = spinner {
        s.finish_and_clear();
    }
    drop(tpm); // swtpm ends with QEMU
    let report = report.context("cannot run QEMU")?;
    let ending = judge(args, &report, timeout, interactive);
    Ok((report, ending))
}

/// `--update-server`: the host's loopback port and the URL's path.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct UpdateServer {
    pub(crate) port: u16,
    /// Empty or starting with `/`.
    pub(crate) path: String,
}

impl UpdateServer {
    pub(crate) fn parse(url: &str) -> Result<Self> {
        let refuse = |why: &str| {
            anyhow!(
                "--update-server {url:?}: {why}; only http://127.0.0.1:PORT[/PATH] is accepted \
                 (the guest's one forward goes to the host's loopback)"
            )
        };
        let rest = url
            .strip_prefix("http://127.0.0.1:")
            .ok_or_else(|| refuse("not a plain http URL on 127.0.0.1 with a port"))?;
        let (port, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let port = port
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0 && !port.starts_with('+'))
            .ok_or_else(|| refuse(&format!("{port:?} is not a TCP port (1 to 65535)")))?;
        if let Some(c) = path
            .chars()
            .find(|c| c.is_whitespace() || c.is_control() || matches!(c, '?' | '#'))
        {
            return Err(refuse(&format!(
                "the path may not contain {c:?} (no query, fragment or spaces)"
            )));
        }
        Ok(UpdateServer {
            port,
            path: path.to_owned(),
        })
    }

    /// The URL as the guest sees it.
    pub(crate) fn guest_url(&self) -> String {
        let base = contract::update::DEFAULT_SERVER_URL.trim_end_matches('/');
        if self.path.is_empty() {
            format!("{base}/")
        } else {
            format!("{base}{}", self.path)
        }
    }
}

/// `clip-guestfwd`, which QEMU runs for each guest connection: beside this
/// program (where `cargo install` and the build put it).
fn relay_program() -> Result<PathBuf> {
    let me = std::env::current_exe().context("cannot find where clip itself is")?;
    let relay = me.with_file_name("clip-guestfwd");
    if !relay.is_file() {
        bail!(
            "{} not found: --update-server needs clip-guestfwd installed beside clip",
            relay.display()
        );
    }
    Ok(relay)
}

/// The boots to follow: `--max-boots`, or 1 with `--no-reboot`.
pub(crate) fn max_boots(args: &BootArgs) -> u32 {
    if args.no_reboot { 1 } else { args.max_boots }
}

/// A clear error for a missing, odd or non-GPT image, before any QEMU.
fn check_image(image: &Path) -> Result<()> {
    let meta = std::fs::metadata(image)
        .with_context(|| format!("cannot open disk image {}", image.display()))?;
    if !meta.is_file() {
        bail!(
            "disk image {} is not a regular file (a raw GPT disk image is expected)",
            image.display()
        );
    }
    let file = std::fs::File::open(image)
        .with_context(|| format!("cannot open disk image {}", image.display()))?;
    gpt::Gpt::parse(meta.len(), |offset, buf| {
        std::os::unix::fs::FileExt::read_exact_at(&file, buf, offset)
    })
    .with_context(|| format!("{} is not a GPT disk image", image.display()))?;
    Ok(())
}

/// The directory holding `path` ("." for a bare file name).
fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// OVMF, with our keys enrolled when Secure Boot is asked for.
fn firmware(args: &BootArgs, image_dir: &Path) -> Result<qemu::Firmware> {
    let fw = qemu::Firmware::ovmf_secboot().context("cannot find the OVMF firmware")?;
    if !args.secure_boot {
        if args.keys.is_some() {
            bail!("--keys is only used with --secure-boot");
        }
        return Ok(fw);
    }
    let keys = args.keys.clone().unwrap_or_else(|| image_dir.join("keys"));
    if !keys.is_dir() {
        bail!(
            "key directory {} does not exist (make one with `clip keys generate`, or pass --keys)",
            keys.display()
        );
    }
    for name in KEY_FILES {
        let path = keys.join(name);
        if !path.is_file() {
            bail!(
                "key directory {} has no {name} (expected the files of `clip keys generate`)",
                keys.display()
            );
        }
    }
    let owner_path = keys.join("owner.guid");
    let owner = std::fs::read_to_string(&owner_path)
        .with_context(|| format!("cannot read {}", owner_path.display()))?;
    let set = qemu::SecureBootKeys {
        owner: owner.trim().to_owned(),
        pk: keys.join("PK.crt"),
        kek: vec![keys.join("KEK.crt")],
        db: vec![keys.join("db.crt")],
    };
    let cache = super::build::cache_dir(None)?.join("ovmf-vars");
    let vars = qemu::firmware::enroll_cached(&fw.vars, &set, &cache).with_context(|| {
        format!(
            "cannot enroll the Secure Boot keys of {} into the firmware variables",
            keys.display()
        )
    })?;
    Ok(fw.with_vars(vars))
}

fn spinner(image: &Path) -> indicatif::ProgressBar {
    // Drawn on stderr only when it is a terminal.
    let s = indicatif::ProgressBar::new_spinner();
    if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} [{elapsed}] {msg}") {
        s.set_style(style);
    }
    s.set_message(format!("booting {}", image.display()));
    s.enable_steady_tick(Duration::from_millis(120));
    s
}

fn judge(
    args: &BootArgs,
    report: &qemu::RunReport,
    timeout: Duration,
    interactive: bool,
) -> Ending {
    let log = report.serial_log.display();
    let missing: Vec<&str> = args
        .expect
        .iter()
        .zip(&report.seen)
        .filter(|(_, seen)| seen.is_none())
        .map(|(e, _)| e.as_str())
        .collect();
    let qemu_said = || {
        let s = report.stderr.trim();
        if s.is_empty() {
            String::new()
        } else {
            format!("; QEMU said: {s}")
        }
    };
    match &report.outcome {
        qemu::Outcome::Matched => Ending {
            result: "matched",
            error: None,
        },
        qemu::Outcome::Refused(line) => Ending {
            result: "refused",
            error: Some(anyhow!(IntegrityFailure(format!(
                "boot refused: the console showed {:?} (serial log {log})",
                line.trim()
            )))),
        },
        qemu::Outcome::Exited(status) if !status.success() => Ending {
            result: "qemu_failed",
            error: Some(anyhow!(
                "QEMU failed ({status}){} (serial log {log})",
                qemu_said()
            )),
        },
        // Interactive: the user may have quit QEMU (Ctrl-A X), which also
        // ends it with status 0.
        qemu::Outcome::Exited(_) if args.expect.is_empty() => Ending {
            result: if interactive { "ended" } else { "powered_off" },
            error: None,
        },
        qemu::Outcome::Rebooted => {
            let n = report.boots.len();
            let times = if n == 1 { "time" } else { "times" };
            let without = if missing.is_empty() {
                "powering off".to_owned()
            } else {
                format!("{} appearing", quoted(&missing))
            };
            Ending {
                result: "rebooted",
                error: Some(anyhow!(
                    "the guest rebooted {n} {times} without {without} (--max-boots {}; serial log {log})",
                    max_boots(args)
                )),
            }
        }
        qemu::Outcome::Exited(_) => Ending {
            result: "stopped",
            error: Some(anyhow!(
                "the VM stopped before {} appeared (serial log {log})",
                quoted(&missing)
            )),
        },
        qemu::Outcome::TimedOut if args.expect.is_empty() => Ending {
            result: "timed_out",
            error: Some(anyhow!(
                "the VM did not power off within {} s (serial log {log})",
                timeout.as_secs()
            )),
        },
        qemu::Outcome::TimedOut => Ending {
            result: "timed_out",
            error: Some(anyhow!(
                "timed out after {} s: {} never appeared (serial log {log})",
                timeout.as_secs(),
                quoted(&missing)
            )),
        },
    }
}

fn quoted(texts: &[&str]) -> String {
    texts
        .iter()
        .map(|t| format!("{t:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `{"url", "guest_url"}` of `--update-server`, or null.
fn update_server_json(args: &BootArgs) -> Value {
    match args
        .update_server
        .as_deref()
        .and_then(|u| Some((u, UpdateServer::parse(u).ok()?)))
    {
        Some((url, server)) => json!({"url": url, "guest_url": server.guest_url()}),
        None => Value::Null,
    }
}

fn print_report(args: &BootArgs, report: &qemu::RunReport, ending: &Ending) -> Result<()> {
    let secs = |d: Duration| (d.as_secs_f64() * 10.0).round() / 10.0;
    let expected: Vec<Value> = args
        .expect
        .iter()
        .zip(&report.seen)
        .map(|(text, seen)| {
            json!({
                "text": text,
                "seconds": seen.map(secs),
                "boot": seen.map(|d| report.boot_at(d)),
            })
        })
        .collect();
    let boots: Vec<Value> = report
        .boots
        .iter()
        .map(|b| {
            json!({
                "started_seconds": secs(b.started),
                "ended_seconds": secs(b.ended),
                "end": b.end.name(),
                "qemu_reason": match &b.end {
                    qemu::BootEnd::QemuEnded(reason) => Value::from(reason.clone()),
                    _ => Value::Null,
                },
            })
        })
        .collect();
    let refused = match &report.outcome {
        qemu::Outcome::Refused(line) => Value::from(line.trim()),
        _ => Value::Null,
    };
    if args.json {
        return Report::default()
            .field("result", "Result", ending.result)
            .field("image", "Image", args.image.display().to_string())
            .field("secure_boot", "Secure Boot", args.secure_boot)
            .field("tpm", "TPM", args.tpm)
            .field("seconds", "Seconds", secs(report.elapsed))
            .field("update_server", "Update server", update_server_json(args))
            .field("boot_count", "Boots", report.boots.len())
            .field("boots", "Boot", boots)
            .field("expected", "Expected", expected)
            .field("refused_line", "Refused", refused)
            .field(
                "serial_log",
                "Serial log",
                report.serial_log.display().to_string(),
            )
            .print(true)
            .context("cannot write the report");
    }
    let mut lines = vec![
        ("Result", ending.result.to_owned()),
        ("Seconds", format!("{:.1}", report.elapsed.as_secs_f64())),
    ];
    if let Value::Object(server) = update_server_json(args) {
        lines.push((
            "Update server",
            format!(
                "{} (in the guest: {})",
                server["url"].as_str().unwrap_or_default(),
                server["guest_url"].as_str().unwrap_or_default()
            ),
        ));
    }
    lines.push(("Boots", report.boots.len().to_string()));
    for (i, b) in report.boots.iter().enumerate() {
        lines.push((
            "Boot",
            format!(
                "{}: {:.1} s to {:.1} s, ended by {}",
                i + 1,
                b.started.as_secs_f64(),
                b.ended.as_secs_f64(),
                match &b.end {
                    qemu::BootEnd::QemuEnded(Some(reason)) => format!("qemu_ended ({reason})"),
                    end => end.name().to_owned(),
                }
            ),
        ));
    }
    for (text, seen) in args.expect.iter().zip(&report.seen) {
        let when = seen.map_or_else(
            || "not seen".to_owned(),
            |d| format!("{:.1} s (boot {})", d.as_secs_f64(), report.boot_at(d)),
        );
        lines.push(("Expected", format!("{text:?} at {when}")));
    }
    if let Value::String(line) = refused {
        lines.push(("Refused", line));
    }
    lines.push(("Serial log", report.serial_log.display().to_string()));
    output::labelled(lines).context("cannot write the report")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_of_a_bare_name_is_the_current_directory() {
        assert_eq!(parent_dir(Path::new("disk.img")), PathBuf::from("."));
        assert_eq!(parent_dir(Path::new("out/disk.img")), PathBuf::from("out"));
    }

    #[test]
    fn update_server_urls() {
        let ok = |url: &str, port: u16, path: &str, guest: &str| {
            let s = UpdateServer::parse(url).unwrap();
            assert_eq!(
                s,
                UpdateServer {
                    port,
                    path: path.into()
                }
            );
            assert_eq!(s.guest_url(), guest);
        };
        ok("http://127.0.0.1:8080", 8080, "", "http://10.0.2.100/");
        ok("http://127.0.0.1:1/", 1, "/", "http://10.0.2.100/");
        ok(
            "http://127.0.0.1:65535/repo/x",
            65535,
            "/repo/x",
            "http://10.0.2.100/repo/x",
        );
        for (url, why) in [
            ("https://127.0.0.1:8443", "not a plain http URL"),
            ("http://localhost:8080", "not a plain http URL"),
            ("http://10.0.0.1:80", "not a plain http URL"),
            ("http://127.0.0.1", "not a plain http URL"),
            ("http://user@127.0.0.1:80", "not a plain http URL"),
            ("http://127.0.0.1:0", "\"0\" is not a TCP port"),
            ("http://127.0.0.1:65536", "\"65536\" is not a TCP port"),
            ("http://127.0.0.1:+80", "\"+80\" is not a TCP port"),
            ("http://127.0.0.1:", "\"\" is not a TCP port"),
            ("http://127.0.0.1:80x/", "\"80x\" is not a TCP port"),
            ("http://127.0.0.1:80/a?b", "may not contain '?'"),
            ("http://127.0.0.1:80/a b", "may not contain ' '"),
        ] {
            let err = UpdateServer::parse(url).unwrap_err().to_string();
            assert!(err.contains(why), "{url}: {err}");
            assert!(
                err.contains("only http://127.0.0.1:PORT[/PATH] is accepted"),
                "{err}"
            );
        }
    }

    #[test]
    fn quoting_lists_every_text() {
        assert_eq!(quoted(&["a", "b c"]), "\"a\", \"b c\"");
    }
}
