//! Command output: a JSON object on stdout with `--json`, aligned text otherwise.

use std::io::{self, Write};

use serde_json::{Map, Value};

/// Writes one line to stdout. Errors (a closed pipe included) are returned,
/// not panicked on as `println!` would; `main` exits quietly on a broken pipe.
pub fn line(text: impl std::fmt::Display) -> io::Result<()> {
    writeln!(io::stdout().lock(), "{text}")
}

/// `text` as it is safe to show on a terminal: control characters (ESC
/// included, which would start an escape sequence), characters that reorder
/// or hide text (bidirectional controls, zero-width characters) and `\`
/// itself are written as escapes (`\x1b`, `\n`, `\u{202e}`, `\\`), so
/// untrusted bytes print as what they are and an escape is never ambiguous.
pub fn escape_text(text: &str) -> std::borrow::Cow<'_, str> {
    fn hidden(c: char) -> bool {
        c.is_control()
            || matches!(c, '\u{061c}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}'
                | '\u{2060}'..='\u{2069}' | '\u{feff}')
    }
    if !text.chars().any(|c| c == '\\' || hidden(c)) {
        return text.into();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if hidden(c) && u32::from(c) < 0x80 => {
                out.push_str(&format!("\\x{:02x}", u32::from(c)));
            }
            c if hidden(c) => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.into()
}

/// Writes `Label: value` lines with the values aligned.
pub fn labelled<'a>(lines: impl IntoIterator<Item = (&'a str, String)>) -> io::Result<()> {
    let lines: Vec<_> = lines.into_iter().collect();
    let width = lines.iter().map(|(l, _)| l.len()).max().unwrap_or(0) + 1;
    let mut out = io::stdout().lock();
    for (label, value) in lines {
        writeln!(out, "{:<width$} {value}", format!("{label}:"))?;
    }
    Ok(())
}

/// Ordered fields of one result, printed as JSON or as `Label: value` lines.
#[derive(Debug, Default)]
pub struct Report {
    fields: Vec<(&'static str, &'static str, Value)>,
}

impl Report {
    /// Adds a field: `key` for JSON, `label` for people.
    pub fn field(
        mut self,
        key: &'static str,
        label: &'static str,
        value: impl Into<Value>,
    ) -> Self {
        self.fields.push((key, label, value.into()));
        self
    }

    pub fn print(&self, json: bool) -> io::Result<()> {
        if json {
            let map: Map<String, Value> = self
                .fields
                .iter()
                .map(|(k, _, v)| ((*k).to_owned(), v.clone()))
                .collect();
            return line(Value::Object(map));
        }
        labelled(self.fields.iter().map(|(_, label, value)| {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Null => "-".to_owned(),
                other => other.to_string(),
            };
            (*label, text)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::escape_text;

    #[test]
    fn escapes_what_a_terminal_would_interpret() {
        assert_eq!(escape_text("quiet ro"), "quiet ro");
        assert_eq!(escape_text("NAME=é"), "NAME=é");
        assert_eq!(
            escape_text("a\x1b]0;x\x07b\tc\r\n\\"),
            "a\\x1b]0;x\\x07b\\tc\\r\\n\\\\"
        );
        assert_eq!(escape_text("\u{9b}31m"), "\\u{9b}31m");
        assert_eq!(escape_text("x\u{202e}y\u{200b}"), "x\\u{202e}y\\u{200b}");
        assert_eq!(escape_text("\x7f"), "\\x7f");
    }
}
