//! [`said_once`]: no `error:` line says the same thing twice over.
//!
//! `clip` prints an error with its whole `source()` chain (`error: {:#}`),
//! each cause after a `": "`. An error whose message includes its cause and
//! also returns it from `source()` shows that cause twice ("…: X: X");
//! docs/conventions.md (Errors) forbids it. Included with
//! `#[path = "support/said_once.rs"] mod said_once;`; it lives in a
//! subdirectory so that cargo does not build it as a test binary of its own.

/// Panics unless `stderr` has an `error:` line, and if any `error:` line
/// repeats a run of its `": "`-separated parts right after itself.
pub fn said_once(stderr: &str) {
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert!(!lines.is_empty(), "no error: line in {stderr:?}");
    for line in lines {
        let parts: Vec<&str> = line.split(": ").collect();
        for k in 1..=parts.len() / 2 {
            for i in 0..=parts.len() - 2 * k {
                assert!(
                    parts[i..i + k] != parts[i + k..i + 2 * k],
                    "{:?} said twice in {line:?}",
                    parts[i..i + k].join(": ")
                );
            }
        }
    }
}
