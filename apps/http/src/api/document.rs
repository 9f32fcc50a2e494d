//! The OpenAPI document as served at `/openapi.json` and shown at `/docs`: poem-openapi's, plus
//! what its derive cannot say about our request bodies, so that the document describes exactly
//! what the server accepts:
//! - request objects, and the objects nested in them, refuse unknown properties
//!   (`additionalProperties: false`), as their `deny_unknown_fields` parsing does;
//! - optional request properties accept `null` (`nullable: true`): it means "none" on create and
//!   "clear" in a merge patch, as the parsing of `Option` and `MaybeUndefined` does;
//! - unsigned integers have the bounds of their type, which poem-openapi leaves out in places
//!   (map values).
//!
//! The same walk yields the methods each path allows, for the `Allow` header of a 405.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// The served document, and what it tells about routes.
#[derive(Debug, Clone)]
pub struct Document {
    /// The document, as JSON text.
    pub json: String,
    /// The allowed methods (uppercase) of each path template, e.g. `/v1/users/{id}`.
    pub methods: BTreeMap<String, BTreeSet<String>>,
    /// The operations (uppercase method, path template) that take a request body.
    pub with_body: BTreeSet<(String, String)>,
}

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

impl Document {
    /// Completes poem-openapi's `spec` (JSON text).
    ///
    /// # Panics
    /// When `spec` is not JSON, which poem-openapi never produces.
    pub fn from_spec(spec: &str) -> Self {
        let mut document: Value = serde_json::from_str(spec).expect("poem-openapi writes JSON");
        let mut request_schemas = BTreeSet::new();
        let mut methods = BTreeMap::new();
        let mut with_body = BTreeSet::new();
        if let Some(paths) = document["paths"].as_object() {
            for (path, operations) in paths {
                let allowed: &mut BTreeSet<String> = methods.entry(path.clone()).or_default();
                for method in METHODS.iter().filter(|m| operations.get(**m).is_some()) {
                    allowed.insert(method.to_uppercase());
                    if operations[*method].get("requestBody").is_some() {
                        with_body.insert((method.to_uppercase(), path.clone()));
                    }
                    let contents = operations[*method]["requestBody"]["content"].as_object();
                    for content in contents.into_iter().flat_map(|c| c.values()) {
                        if let Some(name) = content["schema"]["$ref"].as_str().and_then(|r| r.rsplit('/').next()) {
                            request_schemas.insert(name.to_owned());
                        }
                    }
                }
            }
        }
        // Objects nested in request bodies (an array's items, a property) are parsed the same way.
        let mut pending: Vec<String> = request_schemas.iter().cloned().collect();
        while let Some(name) = pending.pop() {
            let nested: Vec<String> = document["components"]["schemas"][&name]["properties"]
                .as_object()
                .into_iter()
                .flat_map(|properties| properties.values())
                .flat_map(|property| [&property["$ref"], &property["items"]["$ref"]])
                .filter_map(|reference| reference.as_str().and_then(|r| r.rsplit('/').next()))
                .map(str::to_owned)
                .collect();
            for child in nested {
                let is_object = document["components"]["schemas"][&child]["type"] == "object";
                if is_object && request_schemas.insert(child.clone()) {
                    pending.push(child);
                }
            }
        }
        for name in &request_schemas {
            let schema = &mut document["components"]["schemas"][name];
            let required: BTreeSet<String> = schema["required"]
                .as_array()
                .map(|names| names.iter().filter_map(|n| n.as_str().map(str::to_owned)).collect())
                .unwrap_or_default();
            if let Some(properties) = schema["properties"].as_object_mut() {
                for (property, definition) in properties.iter_mut() {
                    if !required.contains(property) && definition.get("$ref").is_none() {
                        definition["nullable"] = Value::Bool(true);
                    }
                }
            }
            schema["additionalProperties"] = Value::Bool(false);
        }
        declare_unsigned(&mut document);
        Self { json: document.to_string(), methods, with_body }
    }

    /// Whether the operation `method path` (a request path) takes a request body.
    pub fn takes_body(&self, method: &str, path: &str) -> bool {
        // Most requests (every GET) are answered here, without matching the path.
        if !self.with_body.iter().any(|(with, _)| with == method) {
            return false;
        }
        self.template_of(path).is_some_and(|template| self.with_body.contains(&(method.to_owned(), template.clone())))
    }

    /// The methods allowed on `path` (a request path, e.g. `/v1/users/0192...`), if it is one
    /// of the document's paths.
    pub fn allowed_methods(&self, path: &str) -> Option<&BTreeSet<String>> {
        self.template_of(path).and_then(|template| self.methods.get(template))
    }

    /// The path template `path` matches, e.g. `/v1/users/{id}` for `/v1/users/0192...`.
    fn template_of(&self, path: &str) -> Option<&String> {
        let path = path.trim_end_matches('/');
        self.methods.keys().find(|template| {
            let (mut pattern, mut segments) = (template.split('/'), path.split('/'));
            loop {
                match (pattern.next(), segments.next()) {
                    (None, None) => return true,
                    (Some(p), Some(s)) if p == s || (p.starts_with('{') && !s.is_empty()) => {}
                    _ => return false,
                }
            }
        })
    }
}

/// Gives every unsigned integer schema (format `uint8` to `uint64`) the `minimum` and `maximum`
/// of its type where poem-openapi leaves them out (map values, for instance): the server refuses
/// what lies outside.
fn declare_unsigned(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let integer = map.get("type").and_then(Value::as_str) == Some("integer");
            let largest = match map.get("format").and_then(Value::as_str) {
                Some("uint8") if integer => Some(u64::from(u8::MAX)),
                Some("uint16") if integer => Some(u64::from(u16::MAX)),
                Some("uint32") if integer => Some(u64::from(u32::MAX)),
                Some("uint64") if integer => Some(u64::MAX),
                _ => None,
            };
            if let Some(largest) = largest {
                map.entry("minimum").or_insert(Value::from(0));
                map.entry("maximum").or_insert(Value::from(largest));
            }
            map.values_mut().for_each(declare_unsigned);
        }
        Value::Array(items) => items.iter_mut().for_each(declare_unsigned),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_objects_are_closed_and_their_optional_properties_nullable() {
        let spec = serde_json::json!({
            "paths": { "/v1/things/{id}": {
                "patch": { "requestBody": { "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Thing" } } } } },
                "get": {}
            } },
            "components": { "schemas": {
                "Thing": { "type": "object", "required": ["a"], "properties": { "a": { "type": "string" }, "b": { "type": "string" } } },
                "Other": { "type": "object", "properties": { "c": { "type": "string" } } }
            } }
        });
        let document = Document::from_spec(&spec.to_string());
        let value: Value = serde_json::from_str(&document.json).unwrap();
        let thing = &value["components"]["schemas"]["Thing"];
        assert_eq!(thing["additionalProperties"], false);
        assert_eq!(thing["properties"]["a"].get("nullable"), None);
        assert_eq!(thing["properties"]["b"]["nullable"], true);
        assert_eq!(value["components"]["schemas"]["Other"].get("additionalProperties"), None);
        let allowed: Vec<&str> =
            document.allowed_methods("/v1/things/42").unwrap().iter().map(String::as_str).collect();
        assert_eq!(allowed, ["GET", "PATCH"]);
        assert!(document.allowed_methods("/v1/things").is_none());
        assert!(document.takes_body("PATCH", "/v1/things/42"));
        assert!(!document.takes_body("GET", "/v1/things/42"));
    }
}
