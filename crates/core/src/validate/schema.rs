//! Layer 2: the document against the CRD's structural schema, then typed deserialization.
//!
//! The walk reports what the apiserver's schema validation and strict field validation would:
//! unknown fields, missing required fields, and length / size bounds. It also prunes what the
//! apiserver prunes (unknown fields, `null` for non-nullable fields) so that the typed layer and
//! the CEL layer see the object as the apiserver would. Types, enums and formats are left to
//! typed deserialization (serde with the field path), which reports the first such error.

use super::{CheckStatus, Ctx};
use kube::CustomResourceExt;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::sync::OnceLock;
use tenant_api::{PRStack, Tenant};

/// A CRD's openAPIV3Schema with its CEL rules compiled, made once per kind: compiling the
/// Tenant's rules took most of a validation's time, and the operator validates on every
/// reconcile.
pub(crate) struct CrdSchema {
    pub(crate) json: Value,
    pub(crate) cel: kube::core::cel::CompiledSchema,
}

/// A custom resource whose CRD schema the validator can walk.
pub(crate) trait Schema: CustomResourceExt {
    fn cell() -> &'static OnceLock<Option<CrdSchema>>;
}

impl Schema for Tenant {
    fn cell() -> &'static OnceLock<Option<CrdSchema>> {
        static CELL: OnceLock<Option<CrdSchema>> = OnceLock::new();
        &CELL
    }
}

impl Schema for PRStack {
    fn cell() -> &'static OnceLock<Option<CrdSchema>> {
        static CELL: OnceLock<Option<CrdSchema>> = OnceLock::new();
        &CELL
    }
}

/// The openAPIV3Schema of `K`'s CRD and its compiled CEL rules (made once).
pub(crate) fn crd_schema<K: Schema>(ctx: &mut Ctx) -> Option<&'static CrdSchema> {
    let schema = K::cell()
        .get_or_init(|| {
            let crd = K::crd();
            let s = crd
                .spec
                .versions
                .first()?
                .schema
                .as_ref()?
                .open_api_v3_schema
                .as_ref()?;
            let json = serde_json::to_value(s).ok()?;
            let cel = kube::core::cel::compile_schema(&json);
            Some(CrdSchema { json, cel })
        })
        .as_ref();
    if schema.is_none() {
        ctx.push(
            "schema.knownFields",
            "",
            CheckStatus::Fail,
            "the CRD has no openAPIV3Schema to validate against (a bug in the API types)",
        );
    }
    schema
}

#[derive(Default)]
struct Findings {
    unknown: Vec<(String, String)>,
    required: Vec<(String, String)>,
    bounds: Vec<(String, String)>,
}

/// Walks `doc` against `schema`, records the findings, and returns the pruned document.
pub(crate) fn walk(doc: &Value, schema: &Value, ctx: &mut Ctx) -> Value {
    let mut f = Findings::default();
    let pruned = match doc.as_object() {
        Some(obj) => {
            let mut out = Map::new();
            for (k, v) in obj {
                match k.as_str() {
                    // Not in the CRD's schema: the apiserver validates them itself (layer 1).
                    "apiVersion" | "kind" | "metadata" => {
                        out.insert(k.clone(), v.clone());
                    }
                    _ => match schema.get("properties").and_then(|p| p.get(k)) {
                        Some(s) => {
                            if let Some(v) = walk_value(s, v, k, &mut f) {
                                out.insert(k.clone(), v);
                            }
                        }
                        None => f.unknown.push((k.clone(), unknown_message(k))),
                    },
                }
            }
            required(schema, &out, "", &mut f);
            Value::Object(out)
        }
        None => doc.clone(),
    };
    ctx.check(
        "schema.knownFields",
        "",
        "every field is in the CRD schema",
        |g| {
            for (field, msg) in f.unknown {
                g.fail(field, msg);
            }
        },
    );
    ctx.check(
        "schema.required",
        "",
        "every required field is present",
        |g| {
            for (field, msg) in f.required {
                g.fail(field, msg);
            }
        },
    );
    ctx.check(
        "schema.bounds",
        "",
        "lengths and sizes within the CRD's bounds",
        |g| {
            for (field, msg) in f.bounds {
                g.fail(field, msg);
            }
        },
    );
    pruned
}

fn unknown_message(key: &str) -> String {
    format!(
        "unknown field {key:?} (the apiserver's strict field validation rejects it; check the spelling and the nesting)"
    )
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn required(schema: &Value, obj: &Map<String, Value>, path: &str, f: &mut Findings) {
    for r in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if !obj.contains_key(r) {
            f.required
                .push((join(path, r), "required field is missing".into()));
        }
    }
}

fn bound(schema: &Value, key: &str) -> Option<u64> {
    schema.get(key).and_then(Value::as_u64)
}

/// Returns the pruned value, or None when the apiserver would drop it (a null it prunes).
fn walk_value(schema: &Value, v: &Value, path: &str, f: &mut Findings) -> Option<Value> {
    if v.is_null() {
        let nullable = schema.get("nullable").and_then(Value::as_bool) == Some(true);
        return nullable.then_some(Value::Null);
    }
    let preserve = schema
        .get("x-kubernetes-preserve-unknown-fields")
        .and_then(Value::as_bool)
        == Some(true);
    match v {
        Value::Object(obj) => {
            if let (Some(max), len) = (bound(schema, "maxProperties"), obj.len())
                && len as u64 > max
            {
                f.bounds.push((
                    path.into(),
                    format!("has {len} entries; at most {max} allowed"),
                ));
            }
            let props = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties");
            let mut out = Map::new();
            for (k, child) in obj {
                let child_path = join(path, k);
                let child_schema = props.and_then(|p| p.get(k)).or(match additional {
                    Some(s @ Value::Object(_)) => Some(s),
                    _ => None,
                });
                match child_schema {
                    Some(s) => {
                        if let Some(c) = walk_value(s, child, &child_path, f) {
                            out.insert(k.clone(), c);
                        }
                    }
                    None if preserve || additional == Some(&Value::Bool(true)) => {
                        out.insert(k.clone(), child.clone());
                    }
                    // A schema without properties is an untyped object (e.g. `metadata`).
                    None if props.is_none() && additional.is_none() => {
                        out.insert(k.clone(), child.clone());
                    }
                    None => f.unknown.push((child_path, unknown_message(k))),
                }
            }
            required(schema, &out, path, f);
            Some(Value::Object(out))
        }
        Value::Array(items) => {
            let len = items.len() as u64;
            if let Some(max) = bound(schema, "maxItems").filter(|m| len > *m) {
                f.bounds.push((
                    path.into(),
                    format!("has {len} items; at most {max} allowed"),
                ));
            }
            if let Some(min) = bound(schema, "minItems").filter(|m| len < *m) {
                f.bounds.push((
                    path.into(),
                    format!("has {len} items; at least {min} required"),
                ));
            }
            let out = match schema.get("items") {
                Some(item_schema) => items
                    .iter()
                    .enumerate()
                    .filter_map(|(i, item)| {
                        walk_value(item_schema, item, &format!("{path}[{i}]"), f)
                    })
                    .collect(),
                None => items.clone(),
            };
            Some(Value::Array(out))
        }
        Value::String(s) => {
            // The apiserver counts characters (runes), not bytes.
            let len = s.chars().count() as u64;
            if let Some(max) = bound(schema, "maxLength").filter(|m| len > *m) {
                f.bounds.push((
                    path.into(),
                    format!("is {len} characters long; at most {max} allowed"),
                ));
            }
            if let Some(min) = bound(schema, "minLength").filter(|m| len < *m) {
                let msg = if len == 0 {
                    "must not be empty".to_string()
                } else {
                    format!("is {len} characters long; at least {min} required")
                };
                f.bounds.push((path.into(), msg));
            }
            Some(v.clone())
        }
        _ => Some(v.clone()),
    }
}

/// Deserializes the pruned document into `T`, reporting the first type, enum or format error
/// with its path.
pub(crate) fn typed<T: DeserializeOwned>(pruned: &Value, ctx: &mut Ctx) -> Option<T> {
    match serde_path_to_error::deserialize::<_, T>(pruned.clone()) {
        Ok(t) => {
            ctx.push(
                "schema.types",
                "",
                CheckStatus::Pass,
                "types, enums and formats match the CRD",
            );
            Some(t)
        }
        Err(e) => {
            let path = e.path().to_string();
            let path = if path == "." { String::new() } else { path };
            let inner = e.into_inner().to_string();
            if let Some(rest) = inner.strip_prefix("missing field `") {
                let name = rest.trim_end_matches('`');
                let field = join(&path, name);
                let already = ctx
                    .checks
                    .iter()
                    .any(|c| c.name == "schema.required" && c.field == field);
                if !already {
                    ctx.push(
                        "schema.required",
                        field,
                        CheckStatus::Fail,
                        "required field is missing",
                    );
                }
            } else {
                ctx.push(
                    "schema.types",
                    path,
                    CheckStatus::Fail,
                    serde_message(&inner),
                );
            }
            ctx.push(
                "schema.types",
                "",
                CheckStatus::Warn,
                "cross-field checks skipped: they need a document that deserializes (fix the type error and validate again)",
            );
            None
        }
    }
}

/// serde's messages quote with backticks; say `unknown variant "x", expected one of a, b`.
fn serde_message(msg: &str) -> String {
    let parts: Vec<&str> = msg.split('`').collect();
    if parts.len() < 3 {
        return msg.to_string();
    }
    if !msg.starts_with("unknown ") {
        return parts.concat();
    }
    let mut out = String::new();
    for (i, part) in parts.iter().enumerate() {
        if i % 2 == 0 {
            out.push_str(part);
        } else if i == 1 {
            out.push_str(&format!("{part:?}"));
        } else {
            out.push_str(part);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::serde_message;

    #[test]
    fn serde_messages_read_naturally() {
        assert_eq!(
            serde_message(
                "unknown variant `paranoid`, expected one of `strict`, `standard`, `permissive`"
            ),
            "unknown variant \"paranoid\", expected one of strict, standard, permissive"
        );
        assert_eq!(
            serde_message("invalid type: string \"x\", expected i32"),
            "invalid type: string \"x\", expected i32"
        );
        assert_eq!(
            serde_message("invalid type: integer `1`, expected a string"),
            "invalid type: integer 1, expected a string"
        );
    }
}
