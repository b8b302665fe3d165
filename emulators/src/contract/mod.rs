//! Contract checks: every request a client sends and every response an emulator gives, checked
//! against the provider's own description of the operation (`contracts/`, see its README for the
//! source and version of each file).
//!
//! The check is strict where a description is loose, because it guards against our own mistakes,
//! not the provider's: a body field the description does not name is a violation even where the
//! schema would allow extra properties (a misspelled or mis-cased field name is exactly that; only
//! a free-form object, `additionalProperties` without `properties`, takes any field), a
//! `readOnly` field in a request is one, and a status code the operation does not list is one
//! (429 and 5xx excepted: every provider documents those globally, not per operation). An enum
//! next to Fern's "any other value" escape (`anyOf: [{enum}, {}]`) is held to the enum. Formats
//! and patterns are not checked.

mod load;
mod schema;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde_json::Value;

use schema::{Direction, Validator};

/// One provider's description: its operations and the document their `$ref`s point into.
#[derive(Debug)]
pub struct Contract {
    /// File name under `contracts/`, for messages.
    pub source: &'static str,
    operations: Vec<Operation>,
    /// Paths the emulator serves that the description leaves out on purpose (e.g. Auth0's
    /// `/oauth/token`, described by the Authentication API, not the Management API).
    undescribed: &'static [&'static str],
    /// Whether 4xx answers must be listed per operation (Auth0's description lists none).
    errors_listed: bool,
}

#[derive(Debug)]
struct Operation {
    method: String,
    /// Path template split on `/`; `{name}` segments match any one segment.
    segments: Vec<String>,
    /// Query parameter name and schema (its refs resolve in `root`).
    query: BTreeMap<String, Value>,
    root: std::sync::Arc<Value>,
    /// Request body: accepted media types and the schema (with the document its refs resolve in).
    request: Option<Body>,
    /// Status code (or `default`) and, where the answer has a body, its media types and schema.
    responses: BTreeMap<String, Option<Body>>,
}

#[derive(Debug, Clone)]
struct Body {
    media_types: Vec<String>,
    schema: Value,
    root: std::sync::Arc<Value>,
}

impl Contract {
    /// Finds the operation `method path` is, preferring literal segments over templated ones
    /// (`/templates` before `/{id}`).
    fn operation(&self, method: &str, path: &str) -> Option<&Operation> {
        let segments = split(path);
        self.operations
            .iter()
            .filter(|op| op.method == method && op.segments.len() == segments.len())
            .filter(|op| {
                op.segments
                    .iter()
                    .zip(&segments)
                    .all(|(t, s)| t.starts_with('{') || t == s)
            })
            .max_by_key(|op| op.segments.iter().filter(|t| !t.starts_with('{')).count())
    }

    /// Checks a request; returns the operation it is (for [`Contract::check_response`]) and what
    /// it breaks.
    pub fn check_request(
        &self,
        method: &str,
        path: &str,
        query: Option<&str>,
        content_type: Option<&str>,
        body: &[u8],
    ) -> (Option<usize>, Vec<String>) {
        let mut out = Vec::new();
        if self.undescribed.contains(&path) {
            return (None, out);
        }
        let Some(op) = self.operation(method, path) else {
            out.push(format!(
                "{method} {path}: not an operation of {} (the provider does not describe it)",
                self.source
            ));
            return (None, out);
        };
        let index = self.operations.iter().position(|o| std::ptr::eq(o, op));
        let what = format!("{method} /{}", op.segments.join("/"));
        for (name, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            match op.query.get(name.as_ref()) {
                None => out.push(format!("{what}: query parameter `{name}` is not described")),
                Some(schema) => {
                    let typed = typed_query_value(schema, &value);
                    let mut v = Validator::new(&op.root, Direction::Request);
                    v.check(schema, &typed, &format!("query `{name}`"));
                    out.extend(v.out.into_iter().map(|m| format!("{what}: {m}")));
                }
            }
        }
        match (&op.request, body.is_empty()) {
            (None, false) => out.push(format!("{what}: sends a body; the operation takes none")),
            (Some(b), false) => {
                out.extend(b.check(&what, Direction::Request, content_type, body));
            }
            _ => {}
        }
        (index, out)
    }

    /// Checks the response to the request [`Contract::check_request`] matched as `operation`.
    pub fn check_response(
        &self,
        operation: usize,
        status: u16,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Vec<String> {
        let mut out = Vec::new();
        let Some(op) = self.operations.get(operation) else {
            return out;
        };
        let what = format!("{} /{} answered {status}", op.method, op.segments.join("/"));
        let declared = op
            .responses
            .get(&status.to_string())
            .or_else(|| op.responses.get(&format!("{}XX", status / 100)))
            .or_else(|| op.responses.get("default"));
        let Some(declared) = declared else {
            let global = status == 429 || status >= 500;
            let unlisted_error = !self.errors_listed && (400..500).contains(&status);
            if !global && !unlisted_error {
                let listed: Vec<&String> = op.responses.keys().collect();
                out.push(format!("{what}: the operation lists only {listed:?}"));
            }
            return out;
        };
        let Some(b) = declared else {
            return out;
        };
        if body.is_empty() {
            out.push(format!("{what}: empty body; the description gives one"));
            return out;
        }
        out.extend(b.check(&what, Direction::Response, content_type, body));
        out
    }
}

impl Body {
    /// The media type and the JSON of a request or answer body against this description.
    fn check(
        &self,
        what: &str,
        direction: Direction,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(ct) = content_type.map(media_type)
            && !self.media_types.iter().any(|m| m == ct)
        {
            out.push(format!(
                "{what}: Content-Type {ct} is not one of {:?}",
                self.media_types
            ));
        }
        let side = match direction {
            Direction::Request => "request body",
            Direction::Response => "response body",
        };
        match serde_json::from_slice::<Value>(body) {
            Ok(value) => {
                let mut v = Validator::new(&self.root, direction);
                v.check(&self.schema, &value, &format!("{side} $"));
                out.extend(v.out.into_iter().map(|m| format!("{what}: {m}")));
            }
            Err(e) => out.push(format!("{what}: {side} is not JSON: {e}")),
        }
        out
    }
}

fn split(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn media_type(content_type: &str) -> &str {
    content_type.split(';').next().unwrap_or_default().trim()
}

/// A query string value as the JSON type its schema names.
fn typed_query_value(schema: &Value, raw: &str) -> Value {
    let ty = schema
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("string");
    match ty {
        "integer" | "number" => raw
            .parse::<i64>()
            .map(Value::from)
            .or_else(|_| raw.parse::<f64>().map(Value::from))
            .unwrap_or_else(|_| Value::String(raw.into())),
        "boolean" => match raw {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => Value::String(raw.into()),
        },
        _ => Value::String(raw.into()),
    }
}
