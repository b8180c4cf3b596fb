//! A private swtpm for tests: `swtpm socket --tpm2` with its state in a
//! temporary directory, stopped (killed) when dropped. Feature `swtpm`.
//!
//! Unix sockets by default; [`Swtpm::start_tcp`] listens on 127.0.0.1
//! instead, on two consecutive ports, for tpm2-tools' `swtpm` TCTI
//! (`TPM2TOOLS_TCTI=swtpm:host=127.0.0.1,port=P`). swtpm serves one
//! connection at a time: drop a [`Socket`] before running a tool.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::command::Tpm;
use crate::transport::Socket;

/// A running swtpm and its state directory.
#[derive(Debug)]
pub struct Swtpm {
    dir: tempfile::TempDir,
    child: Option<Child>,
    listen: Listen,
    started_up: bool,
}

#[derive(Debug, Clone, Copy)]
enum Listen {
    Unix,
    Tcp(u16),
}

impl Swtpm {
    /// A fresh TPM (new seeds), already through TPM2_Startup(CLEAR).
    pub fn start() -> Swtpm {
        Self::launch(Listen::Unix, true)
    }

    /// A fresh TPM that still needs TPM2_Startup.
    pub fn start_without_startup() -> Swtpm {
        Self::launch(Listen::Unix, false)
    }

    /// A fresh TPM on 127.0.0.1 (for tpm2-tools), through TPM2_Startup.
    pub fn start_tcp() -> Swtpm {
        for _ in 0..20 {
            let Some(port) = free_port_pair() else {
                continue;
            };
            let mut tpm = Self::launch_maybe(Listen::Tcp(port), true);
            if tpm.wait_ready() {
                return tpm;
            }
        }
        panic!("swtpm did not start on any of 20 port pairs on 127.0.0.1");
    }

    fn launch(listen: Listen, started_up: bool) -> Swtpm {
        let mut tpm = Self::launch_maybe(listen, started_up);
        assert!(
            tpm.wait_ready(),
            "swtpm did not start; its log: {}",
            tpm.log()
        );
        tpm
    }

    fn launch_maybe(listen: Listen, started_up: bool) -> Swtpm {
        let dir = tempfile::Builder::new()
            .prefix("swtpm-")
            .tempdir()
            .expect("a temporary directory for swtpm");
        std::fs::create_dir(dir.path().join("state")).expect("swtpm state directory");
        let mut tpm = Swtpm {
            dir,
            child: None,
            listen,
            started_up,
        };
        tpm.spawn();
        tpm
    }

    fn spawn(&mut self) {
        let d = self.dir.path();
        let (server, ctrl) = match self.listen {
            Listen::Unix => (
                format!("type=unixio,path={}", d.join("tpm.sock").display()),
                format!("type=unixio,path={}", d.join("ctrl.sock").display()),
            ),
            Listen::Tcp(port) => (
                format!("type=tcp,port={port},bindaddr=127.0.0.1"),
                format!("type=tcp,port={},bindaddr=127.0.0.1", port + 1),
            ),
        };
        let _ = std::fs::remove_file(d.join("tpm.sock"));
        let flags = if self.started_up {
            "not-need-init,startup-clear"
        } else {
            "not-need-init"
        };
        let child = Command::new("swtpm")
            .arg("socket")
            .arg("--tpm2")
            .args(["--server", &server, "--ctrl", &ctrl])
            .arg("--tpmstate")
            .arg(format!("dir={}", d.join("state").display()))
            .args(["--flags", flags])
            .arg("--log")
            .arg(format!("file={}", d.join("swtpm.log").display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run swtpm (Debian package swtpm): {e}"));
        self.child = Some(child);
    }

    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let exited = match &mut self.child {
                Some(child) => matches!(child.try_wait(), Ok(Some(_))),
                None => true,
            };
            if exited {
                return false;
            }
            let ready = match self.listen {
                Listen::Unix => std::os::unix::net::UnixStream::connect(self.socket_path()).is_ok(),
                Listen::Tcp(port) => {
                    std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok()
                }
            };
            if ready {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// The data channel's Unix socket.
    pub fn socket_path(&self) -> PathBuf {
        self.dir.path().join("tpm.sock")
    }

    /// Where the TPM's state files are.
    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// A scratch directory that goes away with the TPM.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A new connection to the data channel.
    pub fn socket(&self) -> Socket {
        match self.listen {
            Listen::Unix => Socket::unix(self.socket_path()),
            Listen::Tcp(port) => Socket::tcp(SocketAddr::from((Ipv4Addr::LOCALHOST, port))),
        }
        .unwrap_or_else(|e| panic!("cannot connect to swtpm: {e}; its log: {}", self.log()))
    }

    /// A [`Tpm`] over a new connection.
    pub fn tpm(&self) -> Tpm<Socket> {
        Tpm::new(self.socket())
    }

    /// The tpm2-tools TCTI string (TCP only).
    pub fn tcti(&self) -> String {
        match self.listen {
            Listen::Tcp(port) => format!("swtpm:host=127.0.0.1,port={port}"),
            Listen::Unix => panic!("tpm2-tools need Swtpm::start_tcp"),
        }
    }

    /// A reboot: swtpm stops and starts again on the same state, so
    /// persistent objects and seeds stay and PCRs are reset.
    pub fn reboot(&mut self) {
        self.stop();
        self.spawn();
        assert!(
            self.wait_ready(),
            "swtpm did not restart; its log: {}",
            self.log()
        );
    }

    /// swtpm's log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("swtpm.log")).unwrap_or_default()
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Swtpm {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A port P on 127.0.0.1 with P + 1 free too (swtpm's control channel).
fn free_port_pair() -> Option<u16> {
    let first = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).ok()?;
    let port = first.local_addr().ok()?.port();
    let next = port.checked_add(1)?;
    let _second = TcpListener::bind((Ipv4Addr::LOCALHOST, next)).ok()?;
    Some(port)
}
