//! Layer 1: is this a document of the expected kind, with the metadata every object needs?

use super::names;
use super::{CheckStatus, Ctx};
use serde_json::{Map, Value};
use tenant_api::{GROUP, VERSION};

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Tenant,
    PRStack,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Tenant => "Tenant",
            Kind::PRStack => "PRStack",
        }
    }
}

/// ObjectMeta fields (the CRD schema leaves `metadata` open; the apiserver does not).
const METADATA_FIELDS: [&str; 15] = [
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

/// Checks apiVersion, kind and metadata. Returns whether the later layers can run (the document
/// is an object of the expected kind and version).
pub(crate) fn document(doc: &Value, want: Kind, ctx: &mut Ctx) -> bool {
    let Some(obj) = doc.as_object() else {
        ctx.push(
            "document.shape",
            "",
            CheckStatus::Fail,
            format!(
                "the document must be a mapping (a Kubernetes object), not {}",
                json_type(doc)
            ),
        );
        return false;
    };
    let want_api = format!("{GROUP}/{VERSION}");
    let api_ok = match obj.get("apiVersion") {
        None => {
            ctx.push(
                "document.apiVersion",
                "apiVersion",
                CheckStatus::Fail,
                format!("required field is missing (must be {want_api})"),
            );
            false
        }
        Some(Value::String(v)) if *v == want_api => {
            ctx.push(
                "document.apiVersion",
                "apiVersion",
                CheckStatus::Pass,
                format!("is {want_api}"),
            );
            true
        }
        Some(Value::String(v)) => {
            let hint = match v.split_once('/') {
                Some((g, ver)) if g == GROUP => {
                    format!("version {ver} is not served; the only version is {VERSION}")
                }
                _ => format!("must be {want_api}"),
            };
            ctx.push(
                "document.apiVersion",
                "apiVersion",
                CheckStatus::Fail,
                format!("{v:?}: {hint}"),
            );
            false
        }
        Some(other) => {
            ctx.push(
                "document.apiVersion",
                "apiVersion",
                CheckStatus::Fail,
                format!("must be the string {want_api:?}, not {}", json_type(other)),
            );
            false
        }
    };
    let kind_ok = match obj.get("kind").and_then(Value::as_str) {
        None => {
            ctx.push(
                "document.kind",
                "kind",
                CheckStatus::Fail,
                format!("required field is missing (must be {})", want.as_str()),
            );
            false
        }
        Some(k) if k == want.as_str() => {
            ctx.push(
                "document.kind",
                "kind",
                CheckStatus::Pass,
                format!("is {k}"),
            );
            true
        }
        Some("PRStack") => {
            ctx.push(
                "document.kind",
                "kind",
                CheckStatus::Fail,
                "this is a PRStack, not a Tenant: validate_value checks Tenants (`kubectl tenant validate` checks PRStacks on their own terms; `kubectl tenant migrate` turns one into a Tenant)",
            );
            false
        }
        Some("Tenant") => {
            ctx.push(
                "document.kind",
                "kind",
                CheckStatus::Fail,
                "this is a Tenant, not a PRStack: validate_prstack_value checks PRStacks (use validate_value)",
            );
            false
        }
        Some(k) => {
            ctx.push(
                "document.kind",
                "kind",
                CheckStatus::Fail,
                format!(
                    "{k:?} is not a {}: this validator checks {GROUP} {} objects",
                    want.as_str(),
                    want.as_str()
                ),
            );
            false
        }
    };
    metadata(obj, ctx);
    api_ok && kind_ok
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

fn metadata(obj: &Map<String, Value>, ctx: &mut Ctx) {
    let empty = Map::new();
    let meta = match obj.get("metadata") {
        Some(Value::Object(m)) => m,
        None => &empty,
        Some(other) => {
            ctx.push(
                "metadata.name",
                "metadata",
                CheckStatus::Fail,
                format!("must be a mapping, not {}", json_type(other)),
            );
            return;
        }
    };
    ctx.check("metadata.name", "metadata.name", "present and a DNS subdomain", |g| {
        match meta.get("name") {
            None | Some(Value::Null) => g.fail(
                "metadata.name",
                "required field is missing (kubectl apply needs a name; generateName is not enough)",
            ),
            Some(Value::String(n)) => {
                if let Some(e) = names::dns_subdomain_error(n) {
                    g.fail("metadata.name", format!("{n:?} {e}"));
                }
            }
            Some(other) => g.fail("metadata.name", format!("must be a string, not {}", json_type(other))),
        }
    });
    ctx.check(
        "metadata.namespace",
        "metadata.namespace",
        "unset or a DNS label",
        |g| match meta.get("namespace") {
            None | Some(Value::Null) => {}
            Some(Value::String(n)) => {
                if let Some(e) = names::dns_label_error(n) {
                    g.fail("metadata.namespace", format!("{n:?} {e}"));
                }
            }
            Some(other) => g.fail(
                "metadata.namespace",
                format!("must be a string, not {}", json_type(other)),
            ),
        },
    );
    ctx.check("metadata.knownFields", "metadata", "only ObjectMeta fields", |g| {
        for key in meta.keys() {
            if !METADATA_FIELDS.contains(&key.as_str()) {
                g.fail(
                    format!("metadata.{key}"),
                    format!("unknown field {key:?} (the apiserver's strict field validation rejects it)"),
                );
            }
        }
    });
    ctx.check(
        "metadata.labels",
        "metadata.labels",
        "valid label keys and values",
        |g| {
            string_map(meta.get("labels"), "metadata.labels", g, |key, value, g| {
                let f = format!("metadata.labels[{key}]");
                if let Some(e) = names::qualified_name_error(key) {
                    g.fail(&f, format!("key {key:?}: {e}"));
                }
                if let Some(e) = names::label_value_error(value) {
                    g.fail(&f, format!("value {value:?}: {e}"));
                }
            });
        },
    );
    ctx.check(
        "metadata.annotations",
        "metadata.annotations",
        "valid annotation keys, total size within 256 KiB",
        |g| {
            let mut size = 0usize;
            string_map(
                meta.get("annotations"),
                "metadata.annotations",
                g,
                |key, value, g| {
                    size += key.len() + value.len();
                    if let Some(e) = names::qualified_name_error(key) {
                        g.fail(
                            format!("metadata.annotations[{key}]"),
                            format!("key {key:?}: {e}"),
                        );
                    }
                },
            );
            if size > names::ANNOTATIONS_MAX_BYTES {
                g.fail(
                    "metadata.annotations",
                    format!(
                        "total size {size} bytes exceeds the apiserver's limit of {} bytes",
                        names::ANNOTATIONS_MAX_BYTES
                    ),
                );
            }
        },
    );
}

/// Calls `f` for each entry of a string-to-string mapping, reporting entries that are not strings.
fn string_map(
    v: Option<&Value>,
    field: &str,
    g: &mut super::Group,
    mut f: impl FnMut(&str, &str, &mut super::Group),
) {
    match v {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (k, val) in m {
                match val {
                    Value::String(s) => f(k, s, g),
                    other => g.fail(
                        format!("{field}[{k}]"),
                        format!("must be a string, not {}", json_type(other)),
                    ),
                }
            }
        }
        Some(other) => g.fail(
            field,
            format!("must be a mapping of strings, not {}", json_type(other)),
        ),
    }
}
