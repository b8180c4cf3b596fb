//! A software TPM 2.0 for the VM: `swtpm` (Debian package swtpm), its state
//! kept in a directory across runs.
//!
//! Started as
//! `swtpm socket --tpm2 --tpmstate dir=STATE --ctrl type=unixio,path=SOCK
//! --flags startup-clear`; QEMU connects to the control socket
//! (`-tpmdev emulator`) and passes the data channel over it. The socket
//! lives in a private temporary directory (a Unix socket path is limited to
//! 108 bytes, a state directory may be deeper). [`Swtpm`] stops swtpm when
//! dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{QemuError, io_err, which};

/// How long swtpm may take to create its socket.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long swtpm gets to exit after SIGTERM (it saves its state).
const STOP_GRACE: Duration = Duration::from_secs(3);

/// A running swtpm; stopped (SIGTERM, then SIGKILL) when dropped.
#[derive(Debug)]
pub struct Swtpm {
    child: Child,
    socket: PathBuf,
    state_dir: PathBuf,
    _socket_dir: tempfile::TempDir,
}

impl Swtpm {
    /// Starts swtpm with its state in `state_dir` (created, mode 0700; the
    /// TPM's seeds are secrets) and waits until its control socket exists.
    /// `CLIP_SWTPM` names another program.
    pub fn start(state_dir: &Path) -> Result<Self, QemuError> {
        let name = std::env::var("CLIP_SWTPM").unwrap_or_else(|_| "swtpm".into());
        let program = which(&name).ok_or_else(|| QemuError::NotFound {
            program: name.clone(),
            package: "swtpm",
        })?;
        if state_dir.to_string_lossy().contains(',') {
            // swtpm splits its options on commas, with no escaping.
            return Err(QemuError::Config(format!(
                "TPM state directory {} contains a comma, which swtpm cannot take",
                state_dir.display()
            )));
        }
        create_private_dir(state_dir)?;
        let socket_dir = tempfile::Builder::new()
            .prefix("clip-swtpm-")
            .tempdir()
            .map_err(io_err(
                "create a temporary directory in",
                std::env::temp_dir(),
            ))?;
        let socket = socket_dir.path().join("ctrl.sock");
        let log = socket_dir.path().join("swtpm.log");
        let log_file = std::fs::File::create(&log).map_err(io_err("create", &log))?;
        let mut cmd = Command::new(&program);
        cmd.args(["socket", "--tpm2", "--tpmstate"])
            .arg(opt("dir=", state_dir))
            .arg("--ctrl")
            .arg(opt("type=unixio,path=", &socket))
            .args(["--flags", "startup-clear"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file);
        tracing::info!(command = ?cmd, "starting swtpm");
        let child = cmd.spawn().map_err(|error| QemuError::Spawn {
            program: program.display().to_string(),
            error,
        })?;
        let mut tpm = Swtpm {
            child,
            socket,
            state_dir: state_dir.to_owned(),
            _socket_dir: socket_dir,
        };
        let end = Instant::now() + START_TIMEOUT;
        while !tpm.socket.exists() {
            if let Ok(Some(status)) = tpm.child.try_wait() {
                return Err(QemuError::Tpm(format!(
                    "swtpm exited ({status}) before creating its socket: {}",
                    std::fs::read_to_string(&log).unwrap_or_default().trim()
                )));
            }
            if Instant::now() >= end {
                return Err(QemuError::Tpm(format!(
                    "swtpm did not create {} within {} s",
                    tpm.socket.display(),
                    START_TIMEOUT.as_secs()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(tpm)
    }

    /// The control socket to give [`crate::VmBuilder::tpm`].
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Where the TPM keeps its state.
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }
}

impl Drop for Swtpm {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let pid = rustix::process::Pid::from_child(&self.child);
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
            let end = Instant::now() + STOP_GRACE;
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < end {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

fn opt(prefix: &str, path: &Path) -> std::ffi::OsString {
    let mut s = std::ffi::OsString::from(prefix);
    s.push(path.as_os_str());
    s
}

fn create_private_dir(dir: &Path) -> Result<(), QemuError> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io_err("create", dir))?;
    let meta = std::fs::metadata(dir).map_err(io_err("inspect", dir))?;
    if !meta.is_dir() {
        return Err(QemuError::Config(format!(
            "TPM state directory {} is not a directory",
            dir.display()
        )));
    }
    if meta.permissions().mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(io_err("restrict permissions of", dir))?;
    }
    Ok(())
}
