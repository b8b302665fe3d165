//! Reading a provider's description (OpenAPI, or Auth0's operations and models) into a [`Contract`].

use std::{collections::BTreeMap, sync::OnceLock};

use serde_json::Value;

use super::schema::resolve;
use super::{Body, Contract, Operation, split};

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
                    include_str!("../../../contracts/clerk-enterprise-connections.yaml"),
                    &[],
                )
            }),
            "atlas" => (&ATLAS, || {
                Contract::openapi(
                    "atlas-federation-settings.yaml",
                    include_str!("../../../contracts/atlas-federation-settings.yaml"),
                    &[],
                )
            }),
            "qovery" => (&QOVERY, || {
                Contract::openapi(
                    "qovery-enterprise-connection.yaml",
                    include_str!("../../../contracts/qovery-enterprise-connection.yaml"),
                    &[],
                )
            }),
            "auth0" => (&AUTH0, || {
                Contract::auth0(
                    include_str!("../../../contracts/auth0-connection-profiles.operations.yaml"),
                    include_str!("../../../contracts/auth0-connection-profiles.models.yaml"),
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
