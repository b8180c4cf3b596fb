//! QEMU's machine protocol (QMP, QEMU's docs/interop/qmp-spec.rst): the
//! events that say how each boot of a run ended.
//!
//! A watched run gives QEMU `-chardev socket,id=qmp,path=SOCK,server=on,
//! wait=on -mon chardev=qmp,mode=control`: QEMU waits for this client before
//! it starts the guest, so no event is missed. After the greeting the client
//! sends `qmp_capabilities`; a reader thread then passes every event on with
//! the time it arrived. The events used (QAPI `ShutdownCause`):
//!
//! - `RESET` with `"guest": true`: the guest rebooted and QEMU reset the
//!   machine in place (same process: RAM cleared, devices reset, the
//!   variable store, disks and TPM kept);
//! - `SHUTDOWN` with reason `guest-reset`: the guest rebooted and QEMU ends
//!   instead (`-no-reboot`, or `set-action reboot=shutdown` for the last boot
//!   allowed); reason `guest-shutdown`: the guest powered off; `host-*`:
//!   QEMU was told to quit (a signal, Ctrl-A X).

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::{QemuError, io_err};

/// Longest QMP message read (QEMU's events are a few hundred bytes).
const MAX_MESSAGE: u64 = 1 << 20;

/// One QMP event: its name, `data.reason` and `data.guest` when present,
/// and when it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Event {
    pub(crate) name: String,
    pub(crate) reason: Option<String>,
    pub(crate) guest: bool,
    pub(crate) at: Instant,
}

/// A connected QMP client.
pub(crate) struct Qmp {
    writer: UnixStream,
    events: mpsc::Receiver<Event>,
    reader: Option<JoinHandle<()>>,
}

impl Qmp {
    /// Connects to QEMU's QMP socket, retrying until it exists, for at most
    /// `limit` or until `alive` says QEMU is gone; enters command mode.
    pub(crate) fn connect(
        socket: &Path,
        limit: Duration,
        alive: &mut dyn FnMut() -> bool,
    ) -> Result<Self, QemuError> {
        let end = Instant::now() + limit;
        let stream = loop {
            match UnixStream::connect(socket) {
                Ok(s) => break s,
                Err(error) if Instant::now() >= end || !alive() => {
                    return Err(QemuError::Qmp(format!(
                        "cannot connect to QEMU's QMP socket {}: {error}",
                        socket.display()
                    )));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        };
        let writer = stream
            .try_clone()
            .map_err(io_err("duplicate the QMP socket", socket))?;
        let (tx, events) = mpsc::channel();
        let reader = std::thread::spawn(move || read_events(stream, &tx));
        let mut qmp = Qmp {
            writer,
            events,
            reader: Some(reader),
        };
        // The greeting comes first; the reader skips it. QEMU reads this
        // once it has sent it.
        qmp.writer
            .write_all(b"{\"execute\":\"qmp_capabilities\"}\n")
            .map_err(io_err("write to the QMP socket", socket))?;
        Ok(qmp)
    }

    /// Sends a command; its answer is not waited for (an error answer is
    /// logged by the reader).
    pub(crate) fn execute(&mut self, command: &str, arguments: Value) -> std::io::Result<()> {
        let mut line = json!({"execute": command, "arguments": arguments}).to_string();
        line.push('\n');
        self.writer.write_all(line.as_bytes())
    }

    /// The events that arrived so far.
    pub(crate) fn events(&self) -> Vec<Event> {
        self.events.try_iter().collect()
    }

    /// Once QEMU has exited: waits (at most `limit`) for the reader to see
    /// the end of the socket, so that the last events are in; returns them.
    pub(crate) fn last_events(&mut self, limit: Duration) -> Vec<Event> {
        let end = Instant::now() + limit;
        if let Some(reader) = self.reader.take() {
            while !reader.is_finished() && Instant::now() < end {
                std::thread::sleep(Duration::from_millis(5));
            }
            if reader.is_finished() {
                let _ = reader.join();
            }
        }
        self.events()
    }
}

impl Drop for Qmp {
    fn drop(&mut self) {
        // Ends the reader's read.
        let _ = self.writer.shutdown(std::net::Shutdown::Both);
    }
}

fn read_events(stream: UnixStream, tx: &mpsc::Sender<Event>) {
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = Vec::new();
        match (&mut reader).take(MAX_MESSAGE).read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let Ok(message) = serde_json::from_slice::<Value>(&line) else {
            tracing::warn!(line = %String::from_utf8_lossy(&line), "unreadable QMP message");
            continue;
        };
        if let Some(error) = message.get("error") {
            tracing::warn!(%error, "QMP command failed");
        }
        if let Some(event) = parse_event(&message, Instant::now()) {
            tracing::debug!(?event, "QMP event");
            if tx.send(event).is_err() {
                return;
            }
        }
    }
}

/// The event in a QMP message (`None` for the greeting and answers).
pub(crate) fn parse_event(message: &Value, at: Instant) -> Option<Event> {
    let name = message.get("event")?.as_str()?.to_owned();
    let data = message.get("data");
    let field = |key: &str| data.and_then(|d| d.get(key));
    Some(Event {
        name,
        reason: field("reason").and_then(Value::as_str).map(str::to_owned),
        guest: field("guest").and_then(Value::as_bool).unwrap_or(false),
        at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_carry_name_reason_and_origin() {
        let at = Instant::now();
        let msg: Value = serde_json::from_str(
            r#"{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "SHUTDOWN",
                "data": {"guest": true, "reason": "guest-reset"}}"#,
        )
        .unwrap();
        assert_eq!(
            parse_event(&msg, at),
            Some(Event {
                name: "SHUTDOWN".into(),
                reason: Some("guest-reset".into()),
                guest: true,
                at
            })
        );
        let greeting: Value = serde_json::from_str(r#"{"QMP": {"version": {}}}"#).unwrap();
        assert_eq!(parse_event(&greeting, at), None);
        let answer: Value = serde_json::from_str(r#"{"return": {}}"#).unwrap();
        assert_eq!(parse_event(&answer, at), None);
    }
}
