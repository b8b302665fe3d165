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

use std::{collections::BTreeMap, sync::OnceLock};

use serde_json::{Map, Value};

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
    /// The contract of the provider an emulator core is named after, if it publishes one.
    pub fn for_provider(name: &str) -> Option<&'static Contract> {
        static CLERK: OnceLock<Option<Contract>> = OnceLock::new();
        static ATLAS: OnceLock<Option<Contract>> = OnceLock::new();
        static QOVERY: OnceLock<Option<Contract>> = OnceLock::new();
        static AUTH0: OnceLock<Option<Contract>> = OnceLock::new();
        let (cell, load): (_, fn() -> Result<Contract, String>) = match name {
            "clerk" => (&CLERK, || {
                Contract::openapi(
                    "clerk-enterprise-connections.yaml",
                    include_str!("../../contracts/clerk-enterprise-connections.yaml"),
                    &[],
                )
            }),
            "atlas" => (&ATLAS, || {
                Contract::openapi(
                    "atlas-federation-settings.yaml",
                    include_str!("../../contracts/atlas-federation-settings.yaml"),
                    &[],
                )
            }),
            "qovery" => (&QOVERY, || {
                Contract::openapi(
                    "qovery-enterprise-connection.yaml",
                    include_str!("../../contracts/qovery-enterprise-connection.yaml"),
                    &[],
                )
            }),
            "auth0" => (&AUTH0, || {
                Contract::auth0(
                    include_str!("../../contracts/auth0-connection-profiles.operations.yaml"),
                    include_str!("../../contracts/auth0-connection-profiles.models.yaml"),
                )
            }),
            _ => return None,
        };
        cell.get_or_init(|| match load() {
            Ok(c) => Some(c),
            Err(e) => {
                // A broken contract file is a bug in this repository: say so loudly, check nothing.
                tracing::error!(provider = name, error = %e, "contract does not load");
                None
            }
        })
        .as_ref()
    }

    /// Reads an OpenAPI 3.0 document.
    pub fn openapi(
        source: &'static str,
        yaml: &str,
        undescribed: &'static [&'static str],
    ) -> Result<Self, String> {
        let doc: Value = serde_yaml::from_str(yaml).map_err(|e| format!("{source}: {e}"))?;
        let root = std::sync::Arc::new(doc);
        let base = root
            .pointer("/servers/0/url")
            .and_then(Value::as_str)
            .and_then(|u| url::Url::parse(u).ok())
            .map(|u| u.path().trim_end_matches('/').to_string())
            .unwrap_or_default();
        let paths = root
            .get("paths")
            .and_then(Value::as_object)
            .ok_or_else(|| format!("{source}: no paths"))?;
        let mut operations = Vec::new();
        for (path, item) in paths {
            let Some(item) = item.as_object() else {
                continue;
            };
            let shared_params = item.get("parameters").cloned().unwrap_or(Value::Null);
            for (method, op) in item {
                if !["get", "put", "post", "patch", "delete"].contains(&method.as_str()) {
                    continue;
                }
                let mut query = BTreeMap::new();
                for params in [&shared_params, op.get("parameters").unwrap_or(&Value::Null)] {
                    for p in params.as_array().into_iter().flatten() {
                        let p = resolve(&root, p);
                        if p.get("in").and_then(Value::as_str) == Some("query")
                            && let Some(name) = p.get("name").and_then(Value::as_str)
                        {
                            let schema = p.get("schema").cloned().unwrap_or(Value::Bool(true));
                            query.insert(name.to_string(), schema);
                        }
                    }
                }
                let request = op
                    .get("requestBody")
                    .map(|b| resolve(&root, b))
                    .and_then(|b| body_of(&root, b));
                let mut responses = BTreeMap::new();
                for (status, r) in op
                    .get("responses")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                {
                    responses.insert(status.clone(), body_of(&root, resolve(&root, r)));
                }
                operations.push(Operation {
                    method: method.to_ascii_uppercase(),
                    segments: split(&format!("{base}{path}")),
                    query,
                    root: root.clone(),
                    request,
                    responses,
                });
            }
        }
        Ok(Self {
            source,
            operations,
            undescribed,
            errors_listed: true,
        })
    }

    /// Reads Auth0's description: the operations of go-auth0's Fern-generated mappings and the
    /// JSON Schemas of auth0-python's models. Neither names request models; a request body is held
    /// to `ConnectionProfile` with its read-only `id` left out.
    pub fn auth0(operations_yaml: &str, models_yaml: &str) -> Result<Self, String> {
        let source = "auth0-connection-profiles.*.yaml";
        let ops: Value = serde_yaml::from_str(operations_yaml).map_err(|e| format!("{e}"))?;
        let models: Value = serde_yaml::from_str(models_yaml).map_err(|e| format!("{e}"))?;
        let model = |name: &str| -> Result<Body, String> {
            let schema = models
                .pointer(&format!("/models/{name}"))
                .cloned()
                .ok_or_else(|| format!("{source}: no model {name}"))?;
            Ok(Body {
                media_types: vec!["application/json".into()],
                root: std::sync::Arc::new(schema.clone()),
                schema,
            })
        };
        let mut request = model("ConnectionProfile")?;
        if let Some(props) = request
            .schema
            .get_mut("properties")
            .and_then(Value::as_object_mut)
            && let Some(id) = props.get_mut("id").and_then(Value::as_object_mut)
        {
            id.insert("readOnly".into(), Value::Bool(true));
        }
        let mut operations = Vec::new();
        for op in ops
            .get("operations")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let method = op.get("method").and_then(Value::as_str).unwrap_or_default();
            let path = op.get("path").and_then(Value::as_str).unwrap_or_default();
            let status = match op.get("status") {
                Some(Value::Number(n)) => n.to_string(),
                Some(Value::String(s)) => s.clone(),
                _ => return Err(format!("{source}: {method} {path} has no status")),
            };
            // Fern's naming of the response models of each operation.
            let response = match (method, path.ends_with("{id}"), path.contains("/templates")) {
                ("GET", false, false) => Some("ListConnectionProfilesPaginatedResponseContent"),
                ("GET", false, true) => Some("ListConnectionProfileTemplateResponseContent"),
                ("GET", true, true) => Some("GetConnectionProfileTemplateResponseContent"),
                ("GET", true, false) => Some("GetConnectionProfileResponseContent"),
                ("POST", ..) => Some("CreateConnectionProfileResponseContent"),
                ("PATCH", ..) => Some("UpdateConnectionProfileResponseContent"),
                _ => None,
            };
            let mut query = BTreeMap::new();
            for name in op
                .get("query")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .map(|(k, _)| k)
            {
                query.insert(name.clone(), Value::Bool(true));
            }
            let mut responses = BTreeMap::new();
            responses.insert(status, response.map(model).transpose()?);
            operations.push(Operation {
                method: method.to_string(),
                segments: split(path),
                query,
                root: std::sync::Arc::new(Value::Null),
                request: ["POST", "PATCH"].contains(&method).then(|| request.clone()),
                responses,
            });
        }
        Ok(Self {
            source,
            operations,
            undescribed: &["/oauth/token"],
            errors_listed: false,
        })
    }

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

/// The JSON media type of a request body or response, if the description gives one.
fn body_of(root: &std::sync::Arc<Value>, item: &Value) -> Option<Body> {
    let content = item.get("content")?.as_object()?;
    let mut media_types = Vec::new();
    let mut schema = None;
    for (media, entry) in content {
        if media.contains("json") {
            media_types.push(media.clone());
            if schema.is_none() {
                schema = entry.get("schema").cloned();
            }
        }
    }
    Some(Body {
        media_types,
        schema: schema?,
        root: root.clone(),
    })
}

/// Follows `$ref`s (JSON pointers into `root`).
fn resolve<'a>(root: &'a Value, mut v: &'a Value) -> &'a Value {
    for _ in 0..16 {
        let Some(r) = v.get("$ref").and_then(Value::as_str) else {
            return v;
        };
        let Some(pointer) = r.strip_prefix('#') else {
            return v;
        };
        match root.pointer(pointer) {
            Some(target) => v = target,
            None => return v,
        }
    }
    v
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

#[derive(Clone, Copy, PartialEq)]
enum Direction {
    Request,
    Response,
}

/// A JSON Schema (OpenAPI 3.0 dialect: `nullable`, `readOnly`) check of one value.
struct Validator<'a> {
    root: &'a Value,
    direction: Direction,
    out: Vec<String>,
}

impl<'a> Validator<'a> {
    fn new(root: &'a Value, direction: Direction) -> Self {
        Self {
            root,
            direction,
            out: Vec::new(),
        }
    }

    fn check(&mut self, schema: &Value, value: &Value, at: &str) {
        let s = resolve(self.root, schema);
        let Some(obj) = s.as_object() else {
            if s == &Value::Bool(false) {
                self.out.push(format!("{at}: not allowed"));
            }
            return;
        };
        if obj.is_empty() {
            return;
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(branches) = obj.get(key).and_then(Value::as_array) {
                self.one_of(branches, value, at);
                return;
            }
        }
        if value.is_null() {
            let nullable = obj.get("nullable") == Some(&Value::Bool(true))
                || types(obj).contains(&"null")
                || (obj.get("type").is_none() && !obj.contains_key("enum"));
            if !nullable {
                self.out
                    .push(format!("{at}: null where the description allows none"));
            }
            return;
        }
        let ty = types(obj);
        if !ty.is_empty() && !ty.iter().any(|t| is_type(t, value)) {
            self.out.push(format!(
                "{at}: {} where the description says {}",
                kind(value),
                ty.join(" or ")
            ));
            return;
        }
        if let Some(allowed) = obj.get("enum").and_then(Value::as_array)
            && !allowed.contains(value)
        {
            self.out.push(format!(
                "{at}: {value} is not one of {}",
                Value::from(allowed.clone())
            ));
        }
        match value {
            Value::String(s) => {
                let n = s.chars().count() as u64;
                if let Some(min) = obj.get("minLength").and_then(Value::as_u64)
                    && n < min
                {
                    self.out
                        .push(format!("{at}: shorter than {min} characters"));
                }
                if let Some(max) = obj.get("maxLength").and_then(Value::as_u64)
                    && n > max
                {
                    self.out.push(format!("{at}: longer than {max} characters"));
                }
            }
            Value::Number(n) => {
                let n = n.as_f64().unwrap_or_default();
                if let Some(min) = obj.get("minimum").and_then(Value::as_f64)
                    && n < min
                {
                    self.out.push(format!("{at}: below the minimum {min}"));
                }
                if let Some(max) = obj.get("maximum").and_then(Value::as_f64)
                    && n > max
                {
                    self.out.push(format!("{at}: above the maximum {max}"));
                }
            }
            Value::Array(items) => {
                if let Some(max) = obj.get("maxItems").and_then(Value::as_u64)
                    && items.len() as u64 > max
                {
                    self.out.push(format!("{at}: more than {max} items"));
                }
                if let Some(min) = obj.get("minItems").and_then(Value::as_u64)
                    && (items.len() as u64) < min
                {
                    self.out.push(format!("{at}: fewer than {min} items"));
                }
                if let Some(item) = obj.get("items") {
                    for (i, v) in items.iter().enumerate() {
                        self.check(item, v, &format!("{at}[{i}]"));
                    }
                }
            }
            Value::Object(fields) => self.object(obj, fields, at),
            _ => {}
        }
    }

    /// `anyOf`/`oneOf`: the value must pass one branch. Fern's "any other value" branch (`{}`)
    /// next to real ones is left out, so that an enum is held to its values.
    fn one_of(&mut self, branches: &[Value], value: &Value, at: &str) {
        let real: Vec<&Value> = branches
            .iter()
            .filter(|b| b.as_object().is_none_or(|o| !o.is_empty()))
            .collect();
        let branches: Vec<&Value> = if real.is_empty() {
            branches.iter().collect()
        } else {
            real
        };
        let mut best: Option<Vec<String>> = None;
        for b in branches {
            let mut v = Validator::new(self.root, self.direction);
            v.check(b, value, at);
            if v.out.is_empty() {
                return;
            }
            if best.as_ref().is_none_or(|o| v.out.len() < o.len()) {
                best = Some(v.out);
            }
        }
        self.out.extend(best.unwrap_or_default());
    }

    fn object(&mut self, schema: &Map<String, Value>, fields: &Map<String, Value>, at: &str) {
        // Properties of this schema and of every `allOf` part (they describe one object).
        let mut props: Map<String, Value> = Map::new();
        let mut required: Vec<String> = Vec::new();
        let mut extra: Option<Value> = None;
        let mut parts = vec![schema.clone()];
        while let Some(part) = parts.pop() {
            if let Some(p) = part.get("properties").and_then(Value::as_object) {
                props.extend(p.clone());
            }
            for r in part
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(r) = r.as_str() {
                    required.push(r.to_string());
                }
            }
            match part.get("additionalProperties") {
                Some(Value::Object(a)) if !a.is_empty() => extra = Some(Value::Object(a.clone())),
                // A free-form object (`additionalProperties: true` and no `properties` at all,
                // e.g. Clerk's error `meta`) names no fields to hold a body to.
                Some(Value::Bool(true)) if !part.contains_key("properties") => {
                    extra = Some(Value::Bool(true))
                }
                _ => {}
            }
            for p in part
                .get("allOf")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(o) = resolve(self.root, p).as_object() {
                    parts.push(o.clone());
                }
            }
        }
        for r in &required {
            // OpenAPI 3.0: a required readOnly field is required in answers only, a required
            // writeOnly one in requests only.
            let only_other_way = props.get(r).is_some_and(|p| {
                let p = resolve(self.root, p);
                let flag = match self.direction {
                    Direction::Request => "readOnly",
                    Direction::Response => "writeOnly",
                };
                p.get(flag) == Some(&Value::Bool(true))
            });
            if !only_other_way && !fields.contains_key(r) {
                self.out
                    .push(format!("{at}: required field `{r}` is missing"));
            }
        }
        for (name, value) in fields {
            let field_at = format!("{at}.{name}");
            // A field the description requires is one it names, even where it forgets to give
            // its schema (Clerk's `authenticatable`).
            if !props.contains_key(name) && required.contains(name) {
                continue;
            }
            match props.get(name) {
                Some(p) => {
                    let p = resolve(self.root, p);
                    if self.direction == Direction::Request
                        && p.get("readOnly") == Some(&Value::Bool(true))
                    {
                        self.out
                            .push(format!("{field_at}: read-only in the description, sent"));
                    }
                    if self.direction == Direction::Response
                        && p.get("writeOnly") == Some(&Value::Bool(true))
                    {
                        self.out.push(format!(
                            "{field_at}: write-only in the description, returned"
                        ));
                    }
                    self.check(p, value, &field_at);
                }
                None => match &extra {
                    Some(schema) => self.check(schema, value, &field_at),
                    None => self
                        .out
                        .push(format!("{field_at}: not a field of the description")),
                },
            }
        }
    }
}

fn types(obj: &Map<String, Value>) -> Vec<&str> {
    match obj.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn is_type(ty: &str, v: &Value) -> bool {
    match ty {
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        "null" => v.is_null(),
        _ => true,
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn clerk() -> &'static Contract {
        Contract::for_provider("clerk").unwrap()
    }

    fn request(c: &Contract, method: &str, path: &str, body: Value) -> Vec<String> {
        let bytes = serde_json::to_vec(&body).unwrap();
        c.check_request(method, path, None, Some("application/json"), &bytes)
            .1
    }

    #[test]
    fn every_contract_loads_and_names_operations() {
        for p in ["clerk", "atlas", "qovery", "auth0"] {
            let c = Contract::for_provider(p).unwrap_or_else(|| panic!("{p} does not load"));
            assert!(
                c.operations.len() >= 3,
                "{p}: {} operations",
                c.operations.len()
            );
        }
        assert!(Contract::for_provider("loginradius").is_none());
    }

    #[test]
    fn a_misspelled_or_miscased_field_is_a_violation() {
        let good = json!({"name": "Acme", "domains": ["acme.com"], "provider": "saml_custom"});
        let path = "/v1/enterprise_connections";
        assert_eq!(
            request(clerk(), "POST", path, good.clone()),
            Vec::<String>::new()
        );
        let mut typo = good.clone();
        typo["domain"] = typo["domains"].take();
        typo.as_object_mut().unwrap().remove("domains");
        let v = request(clerk(), "POST", path, typo);
        assert!(
            v.iter().any(|m| m.contains("$.domain: not a field")),
            "{v:?}"
        );
        let mut cased = good;
        cased["Name"] = cased["name"].take();
        cased.as_object_mut().unwrap().remove("name");
        let v = request(clerk(), "POST", path, cased);
        assert!(v.iter().any(|m| m.contains("`name` is missing")), "{v:?}");
    }

    #[test]
    fn enum_values_types_and_statuses_are_held_to_the_description() {
        let c = clerk();
        let v = request(
            c,
            "POST",
            "/v1/enterprise_connections",
            json!({"name": "Acme", "domains": ["acme.com"], "provider": "saml_acme"}),
        );
        assert!(v.iter().any(|m| m.contains("is not one of")), "{v:?}");
        let (op, v) = c.check_request(
            "GET",
            "/v1/enterprise_connections",
            Some("limit=x"),
            None,
            b"",
        );
        assert!(v.iter().any(|m| m.contains("query `limit`")), "{v:?}");
        let op = op.unwrap();
        let v = c.check_response(op, 409, Some("application/json"), b"{}");
        assert!(v.iter().any(|m| m.contains("lists only")), "{v:?}");
        assert!(c.check_response(op, 429, None, b"").is_empty());
        assert!(c.check_response(op, 503, None, b"").is_empty());
        let v = c.check_response(
            op,
            200,
            Some("application/json"),
            br#"{"data": [], "total_count": "3"}"#,
        );
        assert!(v.iter().any(|m| m.contains("total_count")), "{v:?}");
    }

    #[test]
    fn a_required_read_only_field_is_required_in_answers_only() {
        let atlas = Contract::for_provider("atlas").unwrap();
        let path = "/api/atlas/v2/federationSettings/5d1113b25a115342acc2d1aa/connectedOrgConfigs/5df7a168f10fab3a00000003";
        let body = json!({"domainRestrictionEnabled": false});
        let bytes = serde_json::to_vec(&body).unwrap();
        let ct = "application/vnd.atlas.2023-01-01+json";
        let (op, v) = atlas.check_request("PATCH", path, None, Some(ct), &bytes);
        assert!(v.is_empty(), "{v:?}");
        let v = atlas.check_response(op.unwrap(), 200, Some(ct), &bytes);
        assert!(v.iter().any(|m| m.contains("`orgId` is missing")), "{v:?}");
        let sent = json!({"domainRestrictionEnabled": false, "orgId": "5df7a168f10fab3a00000003"});
        let bytes = serde_json::to_vec(&sent).unwrap();
        let (_, v) = atlas.check_request("PATCH", path, None, Some(ct), &bytes);
        assert!(v.iter().any(|m| m.contains("$.orgId: read-only")), "{v:?}");
    }

    #[test]
    fn literal_segments_win_over_templates() {
        let auth0 = Contract::for_provider("auth0").unwrap();
        let (op, v) = auth0.check_request(
            "GET",
            "/api/v2/connection-profiles/templates",
            None,
            None,
            b"",
        );
        assert!(v.is_empty(), "{v:?}");
        let op = &auth0.operations[op.unwrap()];
        assert_eq!(op.segments.last().map(String::as_str), Some("templates"));
    }

    #[test]
    fn read_only_fields_in_requests_and_unknown_routes_are_violations() {
        let auth0 = Contract::for_provider("auth0").unwrap();
        let v = request(
            auth0,
            "PATCH",
            "/api/v2/connection-profiles/cop_1",
            json!({"id": "cop_1", "name": "x"}),
        );
        assert!(v.iter().any(|m| m.contains("read-only")), "{v:?}");
        let (_, v) = auth0.check_request("GET", "/api/v2/connection-profile", None, None, b"");
        assert!(v.iter().any(|m| m.contains("not an operation")), "{v:?}");
        let (op, v) = auth0.check_request("POST", "/oauth/token", None, None, b"x");
        assert!(op.is_none() && v.is_empty(), "{v:?}");
    }
}
