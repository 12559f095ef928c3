//! Desired-vs-live comparison, server-side apply and pruning.
//!
//! A reconcile that has nothing to change must write nothing, so every desired object is first
//! compared with the live one from the cache: it is applied only when the desired manifest is not
//! a *subset* of the live object (see [`is_subset`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

use kube::Client;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, Preconditions};
use kube::core::GroupVersionKind;
use serde_json::Value;
use tenant_api::labels;
use tenant_core::Object;
use tenant_core::quantity::Quantity;

use crate::cache::{CachedRef, Caches};
use crate::error::{Error, Result, api_code};

/// Whether `desired` is contained in `live`: every key of a desired map is present in the live
/// map with a contained value; lists have the same length and contained elements in order;
/// strings that both parse as Kubernetes quantities compare by value (the API server
/// canonicalises `0.5` to `500m`); numbers compare by value. Extra live keys (defaults, status,
/// metadata the server adds) are tolerated. A desired "empty" value (`null`, `""`, `false`, `0`,
/// `{}`, `[]`, or a map of only empty values) matches an absent live key, because the API server
/// omits empty optional fields.
pub fn is_subset(desired: &Value, live: &Value) -> bool {
    match (desired, live) {
        (Value::Object(d), Value::Object(l)) => d.iter().all(|(k, dv)| match l.get(k) {
            Some(lv) => is_subset(dv, lv),
            None => is_empty(dv),
        }),
        (Value::Array(d), Value::Array(l)) => {
            d.len() == l.len() && d.iter().zip(l).all(|(a, b)| is_subset(a, b))
        }
        (Value::String(a), Value::String(b)) => a == b || quantities_equal(a, b),
        (Value::Number(a), Value::Number(b)) => a == b || a.as_f64() == b.as_f64(),
        (Value::Number(n), Value::String(s)) | (Value::String(s), Value::Number(n)) => {
            quantities_equal(&n.to_string(), s)
        }
        (d, l) => d == l || (is_empty(d) && is_empty(l)),
    }
}

/// The path of the first place where `desired` is not contained in `live` (for logs: why an
/// object is re-applied).
pub fn first_difference(desired: &Value, live: &Value) -> Option<String> {
    fn walk(d: &Value, l: Option<&Value>, path: &mut String) -> Option<String> {
        let Some(l) = l else {
            return (!is_empty(d)).then(|| format!("{path} (missing live)"));
        };
        match (d, l) {
            (Value::Object(dm), Value::Object(_)) => {
                for (k, dv) in dm {
                    let len = path.len();
                    path.push('/');
                    path.push_str(k);
                    let found = walk(dv, l.get(k), path);
                    path.truncate(len);
                    if found.is_some() {
                        return found;
                    }
                }
                None
            }
            (Value::Array(da), Value::Array(la)) if da.len() == la.len() => {
                for (i, (dv, lv)) in da.iter().zip(la).enumerate() {
                    let len = path.len();
                    path.push_str(&format!("/{i}"));
                    let found = walk(dv, Some(lv), path);
                    path.truncate(len);
                    if found.is_some() {
                        return found;
                    }
                }
                None
            }
            _ if is_subset(d, l) => None,
            _ => Some(format!("{path}: desired {d} live {l}")),
        }
    }
    walk(desired, Some(live), &mut String::new())
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.values().all(is_empty),
    }
}

fn quantities_equal(a: &str, b: &str) -> bool {
    match (Quantity::parse(a), Quantity::parse(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// Whether `desired` differs from `live` in a field the API server never lets change, so the
/// object must be deleted and created again: a RoleBinding's `roleRef` (it moves between a
/// shared ClusterRole and the tenant's own Role when `rbac.roles` overrides a built-in role).
pub fn needs_replace(desired: &Object, live: &Value) -> bool {
    match desired.kind.as_str() {
        "RoleBinding" | "ClusterRoleBinding" => {
            match (desired.manifest.get("roleRef"), live.get("roleRef")) {
                (Some(d), Some(l)) => !is_subset(d, l),
                _ => false,
            }
        }
        _ => false,
    }
}

/// Adds the owner-uid annotation (builders are pure and offline: they cannot know the uid).
pub fn stamp_owner_uid(obj: &mut Object, uid: &str) {
    if let Some(meta) = obj
        .manifest
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
    {
        let ann = meta
            .entry("annotations")
            .or_insert_with(|| Value::Object(Default::default()));
        if let Some(ann) = ann.as_object_mut() {
            ann.insert(
                labels::OWNER_UID.to_string(),
                Value::String(uid.to_string()),
            );
        }
    }
}

/// What pruning may delete: objects of this Tenant (owner annotation already matched by the
/// caller; uid and the selector labels checked here) that the desired set no longer contains.
/// Objects without the managed-by label never reach this point (the caches only hold labelled
/// objects), and the selector requires it again.
pub fn prune_candidates<'a>(
    owned: &'a [CachedRef],
    desired_keys: &HashSet<String>,
    uid: &str,
    selector: &BTreeMap<String, String>,
) -> Vec<&'a CachedRef> {
    owned
        .iter()
        .filter(|r| r.owner_uid.as_deref() == Some(uid))
        .filter(|r| selector.iter().all(|(k, v)| r.labels.get(k) == Some(v)))
        .filter(|r| r.labels.get(labels::MANAGED_BY).map(String::as_str) == Some(labels::MANAGER))
        .filter(|r| !r.deleting)
        .filter(|r| !desired_keys.contains(&r.key()))
        .collect()
}

/// Resolves apiVersion/kind to an API resource: from the caches for watched kinds, else by
/// discovery (remembered).
#[derive(Default)]
pub struct Resolver {
    discovered: Mutex<HashMap<(String, String), ApiResource>>,
}

impl Resolver {
    pub async fn resolve(
        &self,
        client: &Client,
        caches: &Caches,
        api_version: &str,
        kind: &str,
    ) -> Result<ApiResource> {
        if let Some(c) = caches.find(api_version, kind) {
            return Ok(c.api_resource().clone());
        }
        let key = (api_version.to_string(), kind.to_string());
        if let Some(ar) = self.lock().get(&key) {
            return Ok(ar.clone());
        }
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version),
        };
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let (ar, _caps) = kube::discovery::pinned_kind(client, &gvk)
            .await
            .map_err(|source| Error::Discovery {
                api_version: api_version.to_string(),
                kind: kind.to_string(),
                source,
            })?;
        self.lock().insert(key, ar.clone());
        Ok(ar)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), ApiResource>> {
        // A poisoned map only means another task panicked mid-insert; the data is still a cache.
        self.discovered
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn dynamic_api(client: &Client, ar: &ApiResource, namespace: Option<&str>) -> Api<DynamicObject> {
    match namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, ar),
        None => Api::all_with(client.clone(), ar),
    }
}

fn to_value(obj: DynamicObject) -> Result<Value> {
    let mut v = serde_json::to_value(obj).map_err(|source| Error::Serialize {
        what: "live object",
        source,
    })?;
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
    Ok(v)
}

/// Reads a live object (for kinds without a cache, and for the namespace claim check).
pub async fn get_live(
    client: &Client,
    ar: &ApiResource,
    namespace: Option<&str>,
    name: &str,
) -> Result<Option<Value>> {
    let api = dynamic_api(client, ar, namespace);
    match api.get_opt(name).await {
        Ok(Some(obj)) => to_value(obj).map(Some),
        Ok(None) => Ok(None),
        Err(source) => Err(Error::Read {
            kind: ar.kind.clone(),
            name: name.to_string(),
            source,
        }),
    }
}

/// Server-side applies `obj` with the operator's field manager (forced: the operator is the
/// only rightful writer of these fields) and returns the live object the server answered.
pub async fn server_side_apply(client: &Client, ar: &ApiResource, obj: &Object) -> Result<Value> {
    to_value(apply_manifest(client, ar, obj, &obj.manifest).await?)
}

async fn apply_manifest(
    client: &Client,
    ar: &ApiResource,
    obj: &Object,
    manifest: &Value,
) -> Result<DynamicObject> {
    let api = dynamic_api(client, ar, obj.namespace.as_deref());
    let params = PatchParams::apply(labels::FIELD_MANAGER).force();
    api.patch(&obj.name, &params, &Patch::Apply(manifest))
        .await
        .map_err(|source| Error::Apply {
            kind: obj.kind.clone(),
            name: obj.name.clone(),
            source,
        })
}

/// What applying an object the operator found absent came to.
#[derive(Debug)]
pub enum Created {
    /// The apply created it: the live object.
    Ours(Value),
    /// Someone else created it between the check and the apply (its managedFields name these
    /// other managers); the operator's fields were withdrawn again.
    Foreign { managers: Vec<String> },
}

/// The field managers other than the operator's that the object records.
pub fn other_managers(obj: &DynamicObject) -> Vec<String> {
    let mut managers: Vec<String> = obj
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .filter_map(|m| m.manager.clone())
        .filter(|m| m != labels::FIELD_MANAGER)
        .collect();
    managers.sort();
    managers.dedup();
    managers
}

/// Server-side applies an object the claim check found absent (the tenant's namespace). An apply
/// creates or updates, so if someone else created the object in between, the apply would take it
/// over: a live object whose managedFields name another manager was not created by this apply.
/// Then the operator withdraws its fields again (an apply of nothing but the name drops every
/// field only the operator owns) and reports the object as foreign.
pub async fn apply_absent(client: &Client, ar: &ApiResource, obj: &Object) -> Result<Created> {
    let out = apply_manifest(client, ar, obj, &obj.manifest).await?;
    let managers = other_managers(&out);
    if managers.is_empty() {
        return to_value(out).map(Created::Ours);
    }
    let mut bare = serde_json::json!({
        "apiVersion": obj.api_version,
        "kind": obj.kind,
        "metadata": {"name": obj.name},
    });
    if let Some(ns) = &obj.namespace {
        bare["metadata"]["namespace"] = Value::String(ns.clone());
    }
    apply_manifest(client, ar, obj, &bare).await?;
    Ok(Created::Foreign { managers })
}

/// Deletes one object, guarded by its uid (so a recreated object of the same name is never hit).
/// Returns false when it was already gone.
pub async fn delete(client: &Client, ar: &ApiResource, r: &CachedRef) -> Result<bool> {
    let api = dynamic_api(client, ar, r.namespace.as_deref());
    let params = DeleteParams {
        preconditions: r.uid.clone().map(|uid| Preconditions {
            uid: Some(uid),
            resource_version: None,
        }),
        ..DeleteParams::background()
    };
    match api.delete(&r.name, &params).await {
        Ok(_) => Ok(true),
        Err(e) if api_code(&e) == Some(404) => Ok(false),
        // 409: the uid precondition failed, the object was replaced by another one: not ours to delete.
        Err(e) if api_code(&e) == Some(409) => Ok(false),
        Err(source) => Err(Error::Delete {
            kind: r.kind.clone(),
            name: r.name.clone(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn extra_live_fields_are_tolerated() {
        let desired = json!({"metadata": {"name": "a", "labels": {"x": "1"}}, "spec": {"hard": {"pods": "10"}}});
        let live = json!({
            "metadata": {"name": "a", "uid": "u", "resourceVersion": "5", "labels": {"x": "1", "y": "2"}},
            "spec": {"hard": {"pods": "10"}, "scopes": null},
            "status": {"hard": {"pods": "10"}}
        });
        assert!(is_subset(&desired, &live));
    }

    #[test]
    fn changed_or_missing_values_are_not_a_subset() {
        let live = json!({"metadata": {"labels": {"x": "1"}}});
        assert!(!is_subset(
            &json!({"metadata": {"labels": {"x": "2"}}}),
            &live
        ));
        assert!(!is_subset(
            &json!({"metadata": {"labels": {"z": "1"}}}),
            &live
        ));
        assert!(!is_subset(&json!({"spec": {"a": 1}}), &live));
    }

    #[test]
    fn quantities_compare_by_value() {
        assert!(is_subset(&json!({"cpu": "0.5"}), &json!({"cpu": "500m"})));
        assert!(is_subset(
            &json!({"memory": "1Gi"}),
            &json!({"memory": "1024Mi"})
        ));
        assert!(is_subset(&json!({"cpu": "2"}), &json!({"cpu": "2000m"})));
        assert!(!is_subset(&json!({"cpu": "2"}), &json!({"cpu": "3"})));
        assert!(is_subset(&json!({"port": 53}), &json!({"port": 53})));
        assert!(is_subset(&json!({"n": 1}), &json!({"n": 1.0})));
        // Non-quantity strings compare exactly.
        assert!(!is_subset(&json!({"name": "abc"}), &json!({"name": "abd"})));
    }

    #[test]
    fn lists_compare_elementwise_with_the_same_rule() {
        let live = json!({"rules": [
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"], "resourceNames": null},
            {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list"]}
        ]});
        let same = json!({"rules": [
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
            {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list"]}
        ]});
        assert!(is_subset(&same, &live));
        let reordered = json!({"rules": [
            {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list"]},
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}
        ]});
        assert!(!is_subset(&reordered, &live));
        let shorter =
            json!({"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]});
        assert!(!is_subset(&shorter, &live));
    }

    #[test]
    fn empty_desired_values_match_absent_live_keys() {
        let live = json!({"spec": {"podSelector": {}}});
        assert!(is_subset(
            &json!({"spec": {"podSelector": {}, "ingress": [], "x": "", "f": false, "selector": {"matchLabels": {}}}}),
            &live
        ));
        assert!(!is_subset(&json!({"spec": {"ingress": [{}]}}), &live));
        assert!(!is_subset(&json!({"spec": {"enabled": true}}), &live));
    }

    #[test]
    fn a_changed_role_ref_needs_a_new_binding() {
        let binding = |kind: &str| {
            Object::from_value(json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": "tenant-admins", "namespace": "t"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": "tenant-admin"},
                "subjects": [{"kind": "User", "name": "alice"}]
            }))
        };
        let live = binding("Role").manifest;
        assert!(needs_replace(&binding("ClusterRole"), &live));
        assert!(!needs_replace(&binding("Role"), &live));
        // other kinds and other fields are patched in place
        let mut subjects_changed = binding("Role");
        subjects_changed.manifest["subjects"] = json!([{"kind": "User", "name": "bob"}]);
        assert!(!needs_replace(&subjects_changed, &live));
        let ns = Object::from_value(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}}),
        );
        assert!(!needs_replace(&ns, &json!({"metadata": {"name": "n"}})));
    }

    #[test]
    fn the_owner_uid_is_stamped_into_annotations() {
        let mut obj = Object::from_value(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}}),
        );
        stamp_owner_uid(&mut obj, "uid-1");
        assert_eq!(
            obj.manifest
                .pointer("/metadata/annotations/shop.pilab.hu~1owner-uid"),
            Some(&json!("uid-1"))
        );
    }

    fn cached(name: &str, uid: Option<&str>, labels: &[(&str, &str)]) -> CachedRef {
        CachedRef {
            api_version: "networking.k8s.io/v1".into(),
            kind: "NetworkPolicy".into(),
            namespace: Some("tenant-a-prod".into()),
            name: name.into(),
            uid: Some(format!("obj-{name}")),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            owner: Some("default/a".into()),
            owner_uid: uid.map(str::to_string),
            deleting: false,
        }
    }

    #[test]
    fn prune_only_touches_this_tenants_labelled_objects_not_desired() {
        let sel = BTreeMap::from([
            (labels::MANAGED_BY.to_string(), labels::MANAGER.to_string()),
            (labels::TENANT_ID.to_string(), "a".to_string()),
        ]);
        let full = [
            (labels::MANAGED_BY, labels::MANAGER),
            (labels::TENANT_ID, "a"),
        ];
        let owned = vec![
            cached("keep", Some("u1"), &full),
            cached("stale", Some("u1"), &full),
            cached("other-uid", Some("u0"), &full),
            cached("no-uid", None, &full),
            cached("no-label", Some("u1"), &[(labels::TENANT_ID, "a")]),
            cached(
                "other-tenant",
                Some("u1"),
                &[
                    (labels::MANAGED_BY, labels::MANAGER),
                    (labels::TENANT_ID, "b"),
                ],
            ),
        ];
        let desired: HashSet<String> = [owned[0].key()].into();
        let names: Vec<&str> = prune_candidates(&owned, &desired, "u1", &sel)
            .iter()
            .map(|r| r.name.as_str())
            .collect();
        assert_eq!(names, vec!["stale"]);
    }
}
