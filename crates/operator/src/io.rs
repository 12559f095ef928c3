//! The operator's writes and reads of managed objects, by API resource: server-side apply with
//! the operator's field manager, uid-guarded deletes, and the few reads that do not come from a
//! cache. Errors are the client's; each reconcile step wraps them in its own variant.

use kube::Client;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, Preconditions};
use serde_json::Value;
use tenant_api::labels;
use tenant_core::Object;
use tenant_core::registry::ManagedKind;

use crate::cache::CachedRef;
use crate::error::api_code;

/// The API resource of a registered kind (no discovery: the registry names the plural).
pub fn resource(k: &ManagedKind) -> ApiResource {
    ApiResource {
        group: k.group.to_string(),
        version: k.version.to_string(),
        api_version: k.api_version(),
        kind: k.kind.to_string(),
        plural: k.plural.to_string(),
    }
}

fn dynamic_api(client: &Client, ar: &ApiResource, namespace: Option<&str>) -> Api<DynamicObject> {
    match namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, ar),
        None => Api::all_with(client.clone(), ar),
    }
}

/// An object as JSON without what the operator never reads (managedFields).
pub fn to_value(obj: DynamicObject) -> Value {
    let mut v = serde_json::to_value(obj).unwrap_or(Value::Null);
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
    v
}

/// Reads a live object (for objects no cache holds, such as a namespace not labelled as ours).
pub async fn get(
    client: &Client,
    ar: &ApiResource,
    namespace: Option<&str>,
    name: &str,
) -> Result<Option<DynamicObject>, kube::Error> {
    dynamic_api(client, ar, namespace).get_opt(name).await
}

/// Server-side applies `manifest` as `obj` with the operator's field manager (forced: the
/// operator is the only rightful writer of these fields) and returns what the server answered.
pub async fn apply(
    client: &Client,
    ar: &ApiResource,
    obj: &Object,
    manifest: &Value,
) -> Result<DynamicObject, kube::Error> {
    let params = PatchParams::apply(labels::FIELD_MANAGER).force();
    dynamic_api(client, ar, obj.namespace.as_deref())
        .patch(&obj.name, &params, &Patch::Apply(manifest))
        .await
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

/// The field managers other than the operator's (and `also_ours`) that the object records.
pub fn other_managers(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    also_ours: &[&str],
) -> Vec<String> {
    let mut managers: Vec<String> = meta
        .managed_fields
        .iter()
        .flatten()
        .filter_map(|m| m.manager.clone())
        .filter(|m| m != labels::FIELD_MANAGER && !also_ours.contains(&m.as_str()))
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
pub async fn apply_absent(
    client: &Client,
    ar: &ApiResource,
    obj: &Object,
) -> Result<Created, kube::Error> {
    let out = match apply(client, ar, obj, &obj.manifest).await {
        Ok(out) => out,
        // Where the operator's fence (deploy/operator/fence.yaml) is installed, the API server
        // refuses the apply outright: the object exists and is not a tenant's.
        Err(e) if fenced(&e) => {
            let managers = get(client, ar, obj.namespace.as_deref(), &obj.name)
                .await?
                .map(|o| other_managers(&o.metadata, &[]))
                .unwrap_or_default();
            return Ok(Created::Foreign { managers });
        }
        Err(e) => return Err(e),
    };
    let managers = other_managers(&out.metadata, &[]);
    if managers.is_empty() {
        return Ok(Created::Ours(to_value(out)));
    }
    let mut bare = serde_json::json!({
        "apiVersion": obj.api_version,
        "kind": obj.kind,
        "metadata": {"name": obj.name},
    });
    if let Some(ns) = &obj.namespace {
        bare["metadata"]["namespace"] = Value::String(ns.clone());
    }
    apply(client, ar, obj, &bare).await?;
    Ok(Created::Foreign { managers })
}

/// The name of the admission policy that fences the operator's own writes (deploy/operator/fence.yaml).
pub const FENCE: &str = "tenant-operator-fence";

/// Whether the API server refused a request because of the operator's fence.
pub fn fenced(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if matches!(s.code, 403 | 422) && s.message.contains(FENCE))
}

/// Deletes one object, guarded by its uid (so a recreated object of the same name is never hit).
/// Returns false when it was already gone, or replaced by another object of the same name.
pub async fn delete(client: &Client, ar: &ApiResource, r: &CachedRef) -> Result<bool, kube::Error> {
    let params = DeleteParams {
        preconditions: r.uid.clone().map(|uid| Preconditions {
            uid: Some(uid),
            resource_version: None,
        }),
        ..DeleteParams::background()
    };
    match dynamic_api(client, ar, r.namespace.as_deref())
        .delete(&r.name, &params)
        .await
    {
        Ok(_) => Ok(true),
        Err(e) if api_code(&e) == Some(404) => Ok(false),
        // 409: the uid precondition failed, the object was replaced by another one: not ours.
        Err(e) if api_code(&e) == Some(409) => Ok(false),
        Err(e) => Err(e),
    }
}
