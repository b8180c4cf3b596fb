//! Command output: a JSON object on stdout with `--json`, aligned text otherwise.

use std::io::{self, Write};

use serde_json::{Map, Value};

/// Writes one line to stdout. Errors (a closed pipe included) are returned,
/// not panicked on as `println!` would; `main` exits quietly on a broken pipe.
pub fn line(text: impl std::fmt::Display) -> io::Result<()> {
    writeln!(io::stdout().lock(), "{text}")
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
