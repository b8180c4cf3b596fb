//! The one way the `clip` integration tests run a command: [`Run`] (exit code
//! and output of a finished command) and the functions that produce it.
//!
//! Included by each test support module (`common`, `sign_common`,
//! `keys_support`, `uki_support`) with
//! `#[path = "../support/run.rs"] mod run;`; it lives in a subdirectory so
//! that cargo does not build it as a test binary of its own.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// Exit status and output of one finished command.
#[derive(Debug)]
pub struct Run {
    /// The command line, for messages.
    pub what: String,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Panics, showing the command and its output, unless it exited with
    /// `code` without panicking, and wrote no terminal escape sequence to
    /// its stderr (a pipe here, never a terminal).
    pub fn expect(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "{}: expected exit code {code}, got {}\nstdout:\n{}\nstderr:\n{}",
            self.what, self.code, self.stdout, self.stderr
        );
        assert!(
            !self.stderr.contains('\x1b'),
            "{}: escape sequences on a stderr that is not a terminal:\n{:?}",
            self.what,
            self.stderr
        );
        self.no_panic()
    }

    /// Panics unless the command exited with 0 without panicking.
    pub fn assert_success(&self) -> &Self {
        self.expect(0)
    }

    /// Panics unless stderr contains `phrase`.
    pub fn stderr_has(&self, phrase: &str) -> &Self {
        assert!(
            self.stderr.contains(phrase),
            "{}: stderr does not mention {phrase:?}\nstdout:\n{}\nstderr:\n{}",
            self.what,
            self.stdout,
            self.stderr
        );
        self
    }

    /// Panics if the program panicked.
    pub fn no_panic(&self) -> &Self {
        assert!(
            !self.stderr.contains("panicked"),
            "{}: panicked\nstdout:\n{}\nstderr:\n{}",
            self.what,
            self.stdout,
            self.stderr
        );
        self
    }

    /// stdout parsed as one JSON value.
    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "{}: stdout is not one JSON value ({e})\nstdout:\n{}\nstderr:\n{}",
                self.what, self.stdout, self.stderr
            )
        })
    }
}

/// `cmd` as a shell-like line: its environment changes, program, arguments
/// and working directory.
fn describe(cmd: &Command) -> String {
    let mut parts: Vec<String> = cmd
        .get_envs()
        .filter_map(|(k, v)| Some(format!("{}={}", k.to_string_lossy(), v?.to_string_lossy())))
        .collect();
    parts.push(cmd.get_program().to_string_lossy().into_owned());
    parts.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    let mut what = parts.join(" ");
    if let Some(dir) = cmd.get_current_dir() {
        what = format!("{what} (in {})", dir.display());
    }
    what
}

/// Runs `cmd` (no localised messages, no log noise from clip) and collects
/// its output; panics when it cannot be started or is killed by a signal.
pub fn run_command(mut cmd: Command) -> Run {
    let what = describe(&cmd);
    let out = cmd
        .env("LC_ALL", "C")
        .env_remove("CLIP_LOG")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let code = out.status.code().unwrap_or_else(|| {
        panic!(
            "{what} was killed by a signal: {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
            out.status
        )
    });
    Run {
        what,
        code,
        stdout,
        stderr,
    }
}

/// Runs `program` with `args` (see [`run_command`]).
pub fn run_program<S: AsRef<OsStr>>(program: &Path, args: &[S]) -> Run {
    let mut cmd = Command::new(program);
    cmd.args(args);
    run_command(cmd)
}

/// Path of the `clip` binary under test.
pub fn clip_path() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_clip"))
}

/// Runs the `clip` binary under test.
pub fn clip<S: AsRef<OsStr>>(args: &[S]) -> Run {
    run_program(clip_path(), args)
}

/// Starts `clip repo serve REPO --listen 127.0.0.1:0 EXTRA...` and returns
/// the child and its URL (`http://127.0.0.1:PORT`, no trailing slash), read
/// from the first line it prints.
pub fn start_repo_server<S: AsRef<OsStr>>(
    repo: &Path,
    extra: &[S],
) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = Command::new(clip_path())
        .args(["repo", "serve"])
        .arg(repo)
        .args(["--listen", "127.0.0.1:0"])
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let url = first
        .trim()
        .rsplit(' ')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{first}");
    (child, url)
}
