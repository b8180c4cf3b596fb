//! `clip repo serve` as a user runs it: the URL it prints, a file fetched
//! with curl (the oracle client), the access log line in the Common Log
//! Format written to the file, and the refusal of a missing directory.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn serves_with_a_log() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    std::fs::write(repo.join("1.root.json"), b"{}\n").unwrap();
    let log = dir.path().join("access.log");
    let mut child = Child(
        Command::new(env!("CARGO_BIN_EXE_clip"))
            .args(["repo", "serve"])
            .arg(&repo)
            .args(["--listen", "127.0.0.1:0", "--access-log"])
            .arg(&log)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut first = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let prefix = format!("Serving {} at http://127.0.0.1:", repo.display());
    let port = first
        .strip_prefix(&prefix)
        .and_then(|rest| rest.strip_suffix("/\n"))
        .unwrap_or_else(|| panic!("{first:?} is not {prefix}PORT/"));
    let port: u16 = port.parse().unwrap();
    assert_ne!(port, 0, "a free port is picked and printed");
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .arg(format!("http://127.0.0.1:{port}/1.root.json"))
        .output()
        .expect("curl (the oracle client) must be installed: ./dev installs it");
    assert!(out.status.success());
    assert_eq!(out.stdout, b"{}\n");
    // Flushed per line: the line is there while the server still runs.
    let mut text = String::new();
    for _ in 0..50 {
        text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.ends_with('\n') {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let (start, rest) = text.split_once(" [").unwrap_or_else(|| panic!("{text:?}"));
    assert_eq!(start, "127.0.0.1 - -");
    let (_, rest) = rest.split_once("] ").unwrap();
    assert_eq!(rest, "\"GET /1.root.json HTTP/1.1\" 200 3\n");
    assert!(child.0.try_wait().unwrap().is_none(), "still serving");
}

#[test]
fn missing_repository() {
    let out = Command::new(env!("CARGO_BIN_EXE_clip"))
        .args([
            "repo",
            "serve",
            "/nonexistent/repo",
            "--listen",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: cannot serve /nonexistent/repo: No such file or directory (os error 2)\n"
    );
    assert!(out.stdout.is_empty());
}
