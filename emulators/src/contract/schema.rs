//! The schema walk that checks one body against its schema.

use serde_json::{Map, Value};

/// Follows `$ref`s (JSON pointers into `root`).
pub(super) fn resolve<'a>(root: &'a Value, mut v: &'a Value) -> &'a Value {
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

#[derive(Clone, Copy, PartialEq)]
pub(super) enum Direction {
    Request,
    Response,
}

/// A JSON Schema (OpenAPI 3.0 dialect: `nullable`, `readOnly`) check of one value.
pub(super) struct Validator<'a> {
    root: &'a Value,
    direction: Direction,
    pub(super) out: Vec<String>,
}

impl<'a> Validator<'a> {
    pub(super) fn new(root: &'a Value, direction: Direction) -> Self {
        Self {
            root,
            direction,
            out: Vec::new(),
        }
    }

    pub(super) fn check(&mut self, schema: &Value, value: &Value, at: &str) {
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
