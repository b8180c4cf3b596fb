//! Running helper programs with their output kept for error messages.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

use crate::Error;

/// Lines of output kept for an error message.
const TAIL_LINES: usize = 30;

/// The command as a shell-like string for messages.
pub(crate) fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        let arg = arg.to_string_lossy();
        s.push(' ');
        if arg.is_empty() || arg.contains(|c: char| c.is_whitespace() || "'\"$\\".contains(c)) {
            s.push('\'');
            s.push_str(&arg.replace('\'', r"'\''"));
            s.push('\'');
        } else {
            s.push_str(&arg);
        }
    }
    s
}

/// Runs `cmd` to completion; on failure the error carries the tail of its
/// stderr (and stdout). Returns stdout.
pub(crate) fn run(step: &'static str, cmd: &mut Command) -> Result<String, Error> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|error| spawn_error(step, cmd, error))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        let mut text = String::from_utf8_lossy(&out.stderr).into_owned();
        if !stdout.trim().is_empty() {
            text.push_str(&stdout);
        }
        return Err(Error::Command {
            step,
            command: describe(cmd),
            status: out.status.to_string(),
            tail: tail(text.lines()),
        });
    }
    Ok(stdout)
}

/// Runs `cmd`, handing each line of its stderr to `line` as it comes
/// (mmdebstrap reports its progress as `I: ...` lines on stderr); stdout is
/// collected and added to the error message on failure.
pub(crate) fn run_streaming(
    step: &'static str,
    cmd: &mut Command,
    line: &mut dyn FnMut(&str),
) -> Result<(), Error> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| spawn_error(step, cmd, error))?;
    let stdout = child.stdout.take().map(|mut out| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = out.read_to_end(&mut bytes);
            bytes
        })
    });
    let mut kept = VecDeque::with_capacity(TAIL_LINES);
    if let Some(stderr) = child.stderr.take() {
        let mut reader = BufReader::new(stderr);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) => break,
                Ok(_) => {
                    let text = String::from_utf8_lossy(&buf);
                    let text = text.trim_end();
                    line(text);
                    if kept.len() == TAIL_LINES {
                        kept.pop_front();
                    }
                    kept.push_back(text.to_owned());
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
    }
    let status = child
        .wait()
        .map_err(|error| spawn_error(step, cmd, error))?;
    let stdout = stdout.and_then(|t| t.join().ok()).unwrap_or_default();
    if !status.success() {
        let mut tail_text = kept.into_iter().collect::<Vec<_>>().join("\n");
        let stdout = String::from_utf8_lossy(&stdout);
        if !stdout.trim().is_empty() {
            tail_text.push('\n');
            tail_text.push_str(&tail(stdout.lines()));
        }
        return Err(Error::Command {
            step,
            command: describe(cmd),
            status: status.to_string(),
            tail: tail_text,
        });
    }
    Ok(())
}

fn spawn_error(step: &'static str, cmd: &Command, error: std::io::Error) -> Error {
    Error::Spawn {
        step,
        program: cmd.get_program().to_string_lossy().into_owned(),
        error,
    }
}

fn tail<'a>(lines: impl Iterator<Item = &'a str>) -> String {
    let all: Vec<&str> = lines.collect();
    all[all.len().saturating_sub(TAIL_LINES)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_quotes_arguments_with_spaces() {
        let mut cmd = Command::new("mmdebstrap");
        cmd.args([
            "--aptopt=APT::Install-Recommends \"false\"",
            "trixie",
            "it's",
        ]);
        assert_eq!(
            describe(&cmd),
            r#"mmdebstrap '--aptopt=APT::Install-Recommends "false"' trixie 'it'\''s'"#
        );
    }

    #[test]
    fn failure_carries_the_stderr_tail() {
        let err = run(
            "test step",
            Command::new("sh").args(["-c", "echo out; echo bad >&2; exit 3"]),
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("test step: `sh -c 'echo out; echo bad >&2; exit 3'` failed"),
            "{text}"
        );
        assert!(text.contains("bad") && text.contains("out"), "{text}");
    }

    #[test]
    fn streaming_sees_stderr_lines_and_the_exit_status() {
        let mut seen = Vec::new();
        run_streaming(
            "stream",
            Command::new("sh").args(["-c", "echo one >&2; echo out; echo two >&2"]),
            &mut |l| seen.push(l.to_owned()),
        )
        .unwrap();
        assert_eq!(seen, ["one", "two"]);
        let err = run_streaming(
            "stream",
            Command::new("sh").args(["-c", "echo err >&2; echo last; exit 1"]),
            &mut |_| {},
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("exit status: 1") && text.ends_with("err\nlast"),
            "{text}"
        );
    }

    #[test]
    fn missing_program_is_a_spawn_error() {
        let err = run("probe", &mut Command::new("/nonexistent/mkfs.erofs")).unwrap_err();
        assert!(matches!(err, Error::Spawn { .. }), "{err}");
    }
}
