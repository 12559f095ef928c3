//! PRStack -> Tenant: the Tenant that runs what a PRStack runs, in the same namespace, so a
//! preview can be handed over to a Tenant without recreating its namespace or losing its data.
//! `kubectl tenant migrate` prints it; the hand-over of a live preview applies it.
//!
//! The mapping (decisions in docs/prstack.md):
//!
//! | PRStack | Tenant |
//! |---|---|
//! | `metadata.name`, `metadata.namespace` | the same (or `--name`) |
//! | `prNumber` | `tenantId` `pr-<n>` (or `--tenant-id`), `namespaceConfig.name` `pr-<n>-shop-pilab-hu` (the same namespace), `displayName` `PR #<n>` |
//! | `branch` | `description` |
//! | `imageTag`, `active`, `deployedAt`, `services` | the same fields |
//! | `mongoURI`, `natsURL`, `redisURL` | the same fields (those stores stay where they are) |
//! | (the PRStack's own isolated stores) | `dataStores.mode: Dedicated`: every store the PRStack does not point elsewhere runs in the namespace |
//! | `resourceLimits`, `backupConfig` | the same fields |
//! | (none) | `tenantType` `development` (or `--type staging`) |
//!
//! Anything else under `spec` (an older or newer PRStack schema) is listed as not mapped; so are
//! the PRStack's labels and annotations, which are copied only when they are plain metadata.

use serde_json::{Map, Value, json};
use tenant_api::{PRStack, Tenant, TenantType, labels};

/// The fields of a PRStack's spec this mapping knows.
const KNOWN: &[&str] = &[
    "prNumber",
    "branch",
    "imageTag",
    "active",
    "deployedAt",
    "services",
    "mongoURI",
    "natsURL",
    "redisURL",
    "resourceLimits",
    "backupConfig",
];

/// Annotation on the Tenant naming the PRStack it came from (`PRStack/<namespace>/<name>`).
pub const MIGRATED_FROM: &str = "shop.pilab.hu/migrated-from";

/// Choices the caller makes.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// `tenantId` (default `pr-<prNumber>`).
    pub tenant_id: Option<String>,
    /// `development` (default) or `staging`.
    pub tenant_type: Option<TenantType>,
    /// The Tenant's name (default: the PRStack's).
    pub name: Option<String>,
}

/// What could not be carried over.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Unmapped {
    /// JSON path in the PRStack.
    pub field: String,
    pub reason: String,
}

/// The result for one PRStack.
#[derive(Clone, Debug)]
pub struct Migration {
    /// `PRStack/<namespace>/<name>`.
    pub source: String,
    pub tenant: Tenant,
    pub unmapped: Vec<Unmapped>,
}

/// Why a document cannot be migrated at all.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}: not a PRStack (kind {1:?})")]
    NotAPRStack(String, String),
    #[error("{source_name}: {message}")]
    Invalid {
        source_name: String,
        message: String,
    },
}

fn invalid(source_name: &str, message: impl Into<String>) -> Error {
    Error::Invalid {
        source_name: source_name.to_string(),
        message: message.into(),
    }
}

/// The Tenant for one PRStack document (a whole object as read from a file or the cluster).
pub fn prstack_to_tenant(doc: &Value, opts: &Options) -> Result<Migration, Error> {
    let name = doc["metadata"]["name"].as_str().unwrap_or("").to_string();
    let namespace = doc["metadata"]["namespace"]
        .as_str()
        .unwrap_or("default")
        .to_string();
    let shown = format!("PRStack/{namespace}/{name}");
    let kind = doc["kind"].as_str().unwrap_or("");
    if kind != "PRStack" {
        return Err(Error::NotAPRStack(shown, kind.to_string()));
    }
    if name.is_empty() {
        return Err(invalid(&shown, "metadata.name is missing"));
    }
    // The typed PRStack: the fields this mapping reads, checked as the CRD checks them.
    let stack: PRStack = serde_json::from_value(doc.clone())
        .map_err(|e| invalid(&shown, format!("not a valid PRStack: {e}")))?;
    let spec = &stack.spec;
    if spec.pr_number <= 0 {
        return Err(invalid(&shown, "spec.prNumber must be a positive number"));
    }
    let mut unmapped = Vec::new();
    if let Some(fields) = doc["spec"].as_object() {
        for key in fields.keys().filter(|k| !KNOWN.contains(&k.as_str())) {
            unmapped.push(Unmapped {
                field: format!("spec.{key}"),
                reason: "not a field of the PRStack this tool knows; carry it over by hand if it matters".into(),
            });
        }
    }
    let tenant_type = opts.tenant_type.unwrap_or(TenantType::Development);
    if tenant_type == TenantType::Production {
        return Err(invalid(
            &shown,
            "a preview becomes a development or staging Tenant; make a production Tenant from it by hand",
        ));
    }
    let tenant_id = opts
        .tenant_id
        .clone()
        .unwrap_or_else(|| format!("pr-{}", spec.pr_number));
    let mut t = json!({
        "apiVersion": "shop.pilab.hu/v1alpha1",
        "kind": "Tenant",
        "metadata": {
            "name": opts.name.clone().unwrap_or_else(|| name.clone()),
            "namespace": namespace,
            "annotations": { MIGRATED_FROM: shown.clone() },
        },
        "spec": {
            "tenantId": tenant_id,
            "tenantType": tenant_type.as_str(),
            "displayName": format!("PR #{}", spec.pr_number),
            "namespaceConfig": { "name": spec.namespace_name() },
            "active": spec.active,
            "dataStores": { "mode": "Dedicated" },
        },
    });
    let s = t["spec"]
        .as_object_mut()
        .ok_or_else(|| invalid(&shown, "internal"))?;
    let mut put = |key: &str, v: Option<Value>| {
        if let Some(v) = v.filter(|v| !v.is_null()) {
            s.insert(key.to_string(), v);
        }
    };
    put(
        "description",
        spec.branch.as_ref().map(|b| {
            json!(format!(
                "Preview of pull request #{} (branch {b})",
                spec.pr_number
            ))
        }),
    );
    put("imageTag", spec.image_tag.clone().map(Value::from));
    put("deployedAt", doc["spec"].get("deployedAt").cloned());
    put("services", spec.services.clone().map(|v| json!(v)));
    put("mongoURI", spec.mongo_uri.clone().map(Value::from));
    put("natsURL", spec.nats_url.clone().map(Value::from));
    put("redisURL", spec.redis_url.clone().map(Value::from));
    put("resourceLimits", doc["spec"].get("resourceLimits").cloned());
    put("backupConfig", doc["spec"].get("backupConfig").cloned());
    // The PRStack's own labels go along; annotations only when they are not another tool's
    // bookkeeping (kubectl's last-applied configuration would describe the PRStack).
    if let Some(l) = doc["metadata"]["labels"]
        .as_object()
        .filter(|l| !l.is_empty())
    {
        t["metadata"]["labels"] = Value::Object(l.clone());
    }
    if let Some(a) = doc["metadata"]["annotations"].as_object() {
        let kept: Map<String, Value> = a
            .iter()
            .filter(|(k, _)| {
                if k.starts_with("kubectl.kubernetes.io/") || k.as_str() == MIGRATED_FROM {
                    unmapped.push(Unmapped {
                        field: format!("metadata.annotations.{k}"),
                        reason: "describes the PRStack object, not the preview".into(),
                    });
                    false
                } else {
                    true
                }
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (k, v) in kept {
            t["metadata"]["annotations"][k] = v;
        }
    }
    if doc.get("status").is_some_and(|s| !s.is_null()) {
        unmapped.push(Unmapped {
            field: "status".into(),
            reason: "the Tenant's status is the operator's to write".into(),
        });
    }
    let tenant: Tenant = serde_json::from_value(t)
        .map_err(|e| invalid(&shown, format!("the Tenant does not deserialize: {e}")))?;
    Ok(Migration {
        source: shown,
        tenant,
        unmapped,
    })
}

/// Annotation on a preview Tenant: a hash of everything else the PRStack controller wants it to
/// say, so a change (a field the PRStack no longer sets included) is applied once and an
/// unchanged PRStack writes nothing.
pub const PREVIEW_HASH: &str = "shop.pilab.hu/prstack-hash";

/// The field manager of the PRStack controller's writes (the preview Tenants, PRStack status).
pub const PRSTACK_FIELD_MANAGER: &str = "tenant-operator-prstack";

/// The Tenant the PRStack controller runs a PRStack's preview with: the mapping above (tenant
/// `pr-<n>`, development, the namespace `pr-<n>-shop-pilab-hu`, dedicated stores), under the
/// PRStack's name and namespace, with
/// - the PRStack as its controller ownerReference (deleting the PRStack deletes the Tenant, and
///   the Tenant's cleanup removes what it created), and the label [`labels::PRSTACK`];
/// - [`labels::ADOPT_NAMESPACE`]: a namespace of that name made by an earlier operator is
///   adopted as it is, data included;
/// - `customDomain` from the operator's preview host pattern (`{number}`), when one is set;
/// - [`PREVIEW_HASH`] over all of it.
///
/// The manifest is what the controller applies (server-side apply: only these fields).
pub fn preview_tenant(stack: &PRStack, host_pattern: &str) -> Result<Value, Error> {
    let name = stack.metadata.name.clone().unwrap_or_default();
    let namespace = stack
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    let shown = format!("PRStack/{namespace}/{name}");
    let spec = serde_json::to_value(&stack.spec).map_err(|e| invalid(&shown, e.to_string()))?;
    // Only the spec and the name: the PRStack's annotations and status are not the preview's.
    let doc = json!({
        "apiVersion": "shop.pilab.hu/v1alpha1",
        "kind": "PRStack",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    });
    let m = prstack_to_tenant(&doc, &Options::default())?;
    let mut spec =
        serde_json::to_value(&m.tenant.spec).map_err(|e| invalid(&shown, e.to_string()))?;
    if !host_pattern.is_empty() {
        spec["customDomain"] =
            json!(host_pattern.replace("{number}", &stack.spec.pr_number.to_string()));
    }
    let uid = stack
        .metadata
        .uid
        .clone()
        .ok_or_else(|| invalid(&shown, "metadata.uid is missing"))?;
    let mut labels_out = stack.metadata.labels.clone().unwrap_or_default();
    labels_out.insert(labels::PRSTACK.to_string(), name.clone());
    let mut t = json!({
        "apiVersion": "shop.pilab.hu/v1alpha1",
        "kind": "Tenant",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels_out,
            "annotations": { labels::ADOPT_NAMESPACE: "true" },
            "ownerReferences": [{
                "apiVersion": "shop.pilab.hu/v1alpha1",
                "kind": "PRStack",
                "name": name,
                "uid": uid,
                "controller": true,
            }],
        },
        "spec": spec,
    });
    let hash = fnv1a(&serde_json::to_string(&t).unwrap_or_default());
    t["metadata"]["annotations"][PREVIEW_HASH] = json!(hash);
    Ok(t)
}

/// Whether `tenant` is the preview Tenant of the PRStack with uid `uid` (its controller
/// ownerReference names it).
pub fn previews(tenant: &Tenant, uid: &str) -> bool {
    tenant
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|r| r.kind == "PRStack" && r.uid == uid && r.controller == Some(true))
}

/// FNV-1a, 64 bit, as hex.
fn fnv1a(s: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn stack(spec: Value) -> Value {
        json!({
            "apiVersion": "shop.pilab.hu/v1alpha1",
            "kind": "PRStack",
            "metadata": {"name": "pr-42", "namespace": "previews",
                "labels": {"team": "web"},
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}", "note": "x"}},
            "spec": spec,
        })
    }

    #[test]
    fn a_preview_becomes_a_development_tenant_in_the_same_namespace() {
        let m = prstack_to_tenant(
            &stack(
                json!({"prNumber": 42, "branch": "feat/cart", "imageTag": "pr-42-abc1234",
                "active": false, "services": ["api", "web"],
                "redisURL": "redis://cache.example:6379",
                "resourceLimits": {"cpuLimit": "2", "memoryLimit": "4Gi"},
                "backupConfig": {"enabled": true, "schedule": "0 3 * * *"}}),
            ),
            &Options::default(),
        )
        .unwrap();
        let t = &m.tenant;
        assert_eq!(t.metadata.name.as_deref(), Some("pr-42"));
        assert_eq!(t.metadata.namespace.as_deref(), Some("previews"));
        let s = &t.spec;
        assert_eq!(s.tenant_id, "pr-42");
        assert_eq!(s.tenant_type, TenantType::Development);
        assert_eq!(
            s.namespace_config.as_ref().and_then(|n| n.name.as_deref()),
            Some("pr-42-shop-pilab-hu")
        );
        assert_eq!(s.image_tag.as_deref(), Some("pr-42-abc1234"));
        assert!(!s.active);
        assert_eq!(s.services.as_ref().unwrap(), &["api", "web"]);
        assert_eq!(s.redis_url.as_deref(), Some("redis://cache.example:6379"));
        assert_eq!(
            s.data_stores.as_ref().and_then(|d| d.mode),
            Some(tenant_api::DataStoreMode::Dedicated)
        );
        assert!(
            s.backup_config
                .as_ref()
                .is_some_and(|b| b.enabled == Some(true))
        );
        assert!(s.description.as_deref().unwrap().contains("feat/cart"));
        let ann = t.metadata.annotations.as_ref().unwrap();
        assert_eq!(ann[MIGRATED_FROM], "PRStack/previews/pr-42");
        assert_eq!(ann["note"], "x");
        assert!(!ann.contains_key("kubectl.kubernetes.io/last-applied-configuration"));
        assert_eq!(t.metadata.labels.as_ref().unwrap()["team"], "web");
        // the Tenant is valid as the CRD and validate see it
        let doc = serde_json::to_value(t).unwrap();
        let report = crate::validate::validate_value(&doc);
        assert!(report.valid, "{:?}", report.errors);
        assert_eq!(
            m.unmapped,
            [Unmapped {
                field: "metadata.annotations.kubectl.kubernetes.io/last-applied-configuration"
                    .into(),
                reason: "describes the PRStack object, not the preview".into()
            }]
        );
    }

    #[test]
    fn unknown_fields_and_status_are_listed_and_options_apply() {
        let mut doc = stack(json!({"prNumber": 7, "githubRepo": "pilab/shop", "ttl": "3d"}));
        doc["status"] = json!({"phase": "Running"});
        let m = prstack_to_tenant(
            &doc,
            &Options {
                tenant_id: Some("shop-staging".into()),
                tenant_type: Some(TenantType::Staging),
                name: Some("shop-staging".into()),
            },
        )
        .unwrap();
        assert_eq!(m.tenant.spec.tenant_id, "shop-staging");
        assert_eq!(m.tenant.spec.tenant_type, TenantType::Staging);
        assert_eq!(m.tenant.metadata.name.as_deref(), Some("shop-staging"));
        let fields: Vec<&str> = m.unmapped.iter().map(|u| u.field.as_str()).collect();
        assert!(
            fields.contains(&"spec.githubRepo") && fields.contains(&"spec.ttl"),
            "{fields:?}"
        );
        assert!(fields.contains(&"status"), "{fields:?}");
    }

    #[test]
    fn bad_input_is_an_error_naming_the_object_not_a_panic() {
        let e = prstack_to_tenant(
            &json!({"kind": "Tenant", "metadata": {"name": "x"}}),
            &Options::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("not a PRStack"), "{e}");
        let e = prstack_to_tenant(&stack(json!({"prNumber": "many"})), &Options::default())
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("PRStack/previews/pr-42: not a valid PRStack"),
            "{e}"
        );
        let e =
            prstack_to_tenant(&stack(json!({"prNumber": -3})), &Options::default()).unwrap_err();
        assert!(e.to_string().contains("prNumber"), "{e}");
        let e = prstack_to_tenant(
            &stack(json!({"prNumber": 3})),
            &Options {
                tenant_type: Some(TenantType::Production),
                ..Options::default()
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains("development or staging"), "{e}");
        for garbage in [json!(null), json!([]), json!({"kind": "PRStack"})] {
            assert!(prstack_to_tenant(&garbage, &Options::default()).is_err());
        }
    }

    fn typed(spec: Value) -> PRStack {
        let mut doc = stack(spec);
        doc["metadata"]["uid"] = json!("uid-42");
        serde_json::from_value(doc).unwrap()
    }

    #[test]
    fn a_preview_tenant_is_owned_by_its_prstack_and_adopts_its_namespace() {
        let s = typed(json!({"prNumber": 42, "imageTag": "pr-42-abc", "services": ["api"]}));
        let t = preview_tenant(&s, "pr-{number}.preview.example.com").unwrap();
        assert_eq!(t["metadata"]["name"], "pr-42");
        assert_eq!(t["metadata"]["namespace"], "previews");
        assert_eq!(t["metadata"]["labels"][labels::PRSTACK], "pr-42");
        assert_eq!(t["metadata"]["labels"]["team"], "web");
        assert_eq!(
            t["metadata"]["annotations"][labels::ADOPT_NAMESPACE],
            "true"
        );
        assert!(t["metadata"]["annotations"].get("note").is_none());
        let r = &t["metadata"]["ownerReferences"][0];
        assert_eq!(
            (
                r["kind"].as_str(),
                r["uid"].as_str(),
                r["controller"].as_bool()
            ),
            (Some("PRStack"), Some("uid-42"), Some(true))
        );
        assert_eq!(t["spec"]["customDomain"], "pr-42.preview.example.com");
        assert_eq!(t["spec"]["namespaceConfig"]["name"], "pr-42-shop-pilab-hu");
        assert_eq!(t["spec"]["tenantType"], "development");
        assert_eq!(t["spec"]["dataStores"]["mode"], "Dedicated");
        let tenant: Tenant = serde_json::from_value(t).unwrap();
        assert!(previews(&tenant, "uid-42"));
        assert!(!previews(&tenant, "uid-other"));
        // No pattern: no host.
        let t = preview_tenant(&s, "").unwrap();
        assert!(t["spec"].get("customDomain").is_none());
    }

    #[test]
    fn the_preview_hash_follows_every_change_and_only_changes() {
        let hash = |spec: Value| {
            preview_tenant(&typed(spec), "").unwrap()["metadata"]["annotations"][PREVIEW_HASH]
                .as_str()
                .unwrap()
                .to_string()
        };
        let a = hash(json!({"prNumber": 42, "imageTag": "pr-42-abc", "services": ["api"]}));
        assert_eq!(
            a,
            hash(json!({"prNumber": 42, "imageTag": "pr-42-abc", "services": ["api"]}))
        );
        assert_ne!(
            a,
            hash(json!({"prNumber": 42, "imageTag": "pr-42-def", "services": ["api"]}))
        );
        // A field taken away changes it too.
        assert_ne!(a, hash(json!({"prNumber": 42, "services": ["api"]})));
        assert_ne!(
            a,
            hash(
                json!({"prNumber": 42, "imageTag": "pr-42-abc", "services": ["api"], "active": false})
            )
        );
    }

    #[test]
    fn a_prstack_without_uid_gives_no_preview() {
        let mut s = typed(json!({"prNumber": 42}));
        s.metadata.uid = None;
        assert!(preview_tenant(&s, "").is_err());
    }
}
