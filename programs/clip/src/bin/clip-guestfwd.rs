//! `clip-guestfwd 127.0.0.1:PORT`: one guest connection of `clip boot
//! --update-server`, relayed to the host's loopback.
//!
//! QEMU's user network runs this once per TCP connection the guest opens to
//! the update server's address (`-netdev user,restrict=on,guestfwd=
//! tcp:10.0.2.100:80-cmd:clip-guestfwd 127.0.0.1:PORT`), with the
//! connection as stdin, stdout and stderr. It connects to the target and
//! copies bytes both ways: the guest's end of stream is passed on as a
//! half-close, and it ends when the server's side ends. It writes nothing
//! of its own (stderr is the guest's connection too); any failure closes
//! the connection, which the guest sees. Only loopback targets are
//! accepted, as `clip boot` only ever asks for one.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let target = match (args.next(), args.next()) {
        (Some(t), None) => t,
        _ => return ExitCode::from(2),
    };
    let Ok(addr) = target.parse::<SocketAddr>() else {
        return ExitCode::from(2);
    };
    if !addr.ip().is_loopback() {
        return ExitCode::from(2);
    }
    let Ok(server) = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) else {
        return ExitCode::FAILURE;
    };
    let Ok(mut to_server) = server.try_clone() else {
        return ExitCode::FAILURE;
    };
    let upstream = std::thread::spawn(move || {
        let _ = copy(&mut std::io::stdin().lock(), &mut to_server);
        let _ = to_server.shutdown(Shutdown::Write);
    });
    let mut from_server = server;
    let result = copy(&mut from_server, &mut std::io::stdout().lock());
    // The server is done: whatever the guest still sends goes nowhere.
    drop(upstream);
    if result.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Copies until the end of `from`, flushing each chunk.
fn copy(from: &mut dyn Read, to: &mut dyn Write) -> std::io::Result<()> {
    let mut buf = [0u8; 16 << 10];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        to.write_all(&buf[..n])?;
        to.flush()?;
    }
}
