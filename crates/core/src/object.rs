//! A rendered Kubernetes object: its identity plus the full manifest to server-side apply.

use serde::Serialize;
use serde_json::Value;

/// What a redacted Secret value reads.
pub const REDACTED: &str = "<redacted>";

/// One object the operator manages, as the JSON manifest it applies.
#[derive(Clone, Debug, PartialEq)]
pub struct Object {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    /// `None` for cluster-scoped objects.
    pub namespace: Option<String>,
    /// The whole manifest, `apiVersion` and `kind` included.
    pub manifest: Value,
}

/// Building an object failed: only possible if a typed object does not serialize, a bug.
#[derive(Debug, thiserror::Error)]
#[error("cannot serialize {kind} {name}: {source}")]
pub struct ObjectError {
    pub kind: String,
    pub name: String,
    #[source]
    pub source: serde_json::Error,
}

impl Object {
    /// Wraps a typed k8s-openapi object (whose serialization carries apiVersion and kind).
    pub fn from_resource<K>(obj: &K) -> Result<Object, ObjectError>
    where
        K: k8s_openapi::Resource
            + k8s_openapi::Metadata<Ty = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>
            + Serialize,
    {
        let meta = obj.metadata();
        let name = meta.name.clone().unwrap_or_default();
        let manifest = serde_json::to_value(obj).map_err(|source| ObjectError {
            kind: K::KIND.to_string(),
            name: name.clone(),
            source,
        })?;
        Ok(Object {
            api_version: K::API_VERSION.to_string(),
            kind: K::KIND.to_string(),
            name,
            namespace: meta.namespace.clone(),
            manifest,
        })
    }

    /// Wraps an untyped manifest (for kinds without Rust types: Velero, prometheus-operator).
    /// The manifest must carry apiVersion, kind and metadata.name.
    pub fn from_value(manifest: Value) -> Object {
        let s = |p: &str| {
            manifest
                .pointer(p)
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        Object {
            api_version: s("/apiVersion").unwrap_or_default(),
            kind: s("/kind").unwrap_or_default(),
            name: s("/metadata/name").unwrap_or_default(),
            namespace: s("/metadata/namespace"),
            manifest,
        }
    }

    /// The manifest with every value of a Secret's `data` and `stringData` replaced by
    /// [`REDACTED`]: what may be printed or logged. Other kinds are returned as they are.
    pub fn redacted(&self) -> Value {
        let mut m = self.manifest.clone();
        if self.kind == "Secret" && self.api_version == "v1" {
            for field in ["data", "stringData"] {
                if let Some(Value::Object(data)) = m.get_mut(field) {
                    for v in data.values_mut() {
                        *v = Value::String(REDACTED.into());
                    }
                }
            }
        }
        m
    }

    /// `group/version/kind/namespace/name`, unique among one tenant's objects.
    pub fn key(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.api_version,
            self.kind,
            self.namespace.as_deref().unwrap_or(""),
            self.name
        )
    }
}
