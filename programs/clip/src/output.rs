//! Command output: a JSON object on stdout with `--json`, aligned text otherwise.

use serde_json::{Map, Value};

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

    pub fn print(&self, json: bool) {
        if json {
            let map: Map<String, Value> = self
                .fields
                .iter()
                .map(|(k, _, v)| ((*k).to_owned(), v.clone()))
                .collect();
            println!("{}", Value::Object(map));
            return;
        }
        let width = self
            .fields
            .iter()
            .map(|(_, l, _)| l.len())
            .max()
            .unwrap_or(0)
            + 1;
        for (_, label, value) in &self.fields {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Null => "-".to_owned(),
                other => other.to_string(),
            };
            println!("{:<width$} {text}", format!("{label}:"));
        }
    }
}
