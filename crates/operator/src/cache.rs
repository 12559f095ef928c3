//! Reflector stores of every managed child kind, watched cluster-wide with the managed-by label.
//!
//! One watch per kind feeds both the store (so a reconcile compares desired with live without a
//! GET) and the controller's triggers (so an edited or deleted child is restored promptly). The
//! stores keep whole objects minus `managedFields`, which is most of an object's size.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::{FutureExt, Stream};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, ApiResource};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tenant_api::{Tenant, labels};

/// The label selector of everything the operator manages.
pub fn managed_selector() -> String {
    format!("{}={}", labels::MANAGED_BY, labels::MANAGER)
}

/// Identity and ownership of one cached object (what pruning and cleanup need).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CachedRef {
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    pub uid: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub owner: Option<String>,
    pub owner_uid: Option<String>,
    pub deleting: bool,
}

impl CachedRef {
    fn from_meta(api_version: &str, kind: &str, meta: &ObjectMeta) -> CachedRef {
        let ann = |k: &str| meta.annotations.as_ref().and_then(|a| a.get(k)).cloned();
        CachedRef {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
            namespace: meta.namespace.clone(),
            name: meta.name.clone().unwrap_or_default(),
            uid: meta.uid.clone(),
            labels: meta.labels.clone().unwrap_or_default(),
            owner: ann(labels::OWNER),
            owner_uid: ann(labels::OWNER_UID),
            deleting: meta.deletion_timestamp.is_some(),
        }
    }

    /// Same key format as `tenant_core::Object::key`.
    pub fn key(&self) -> String {
        object_key(
            &self.api_version,
            &self.kind,
            self.namespace.as_deref(),
            &self.name,
        )
    }
}

/// `apiVersion/kind/namespace/name`, the identity `tenant_core::Object::key` uses.
pub fn object_key(api_version: &str, kind: &str, namespace: Option<&str>, name: &str) -> String {
    format!("{api_version}/{kind}/{}/{name}", namespace.unwrap_or(""))
}

/// A read-only view of one kind's store.
pub trait LiveCache: Send + Sync {
    fn api_version(&self) -> &str;
    fn kind(&self) -> &str;
    /// The API resource (plural, scope) of the kind.
    fn api_resource(&self) -> &ApiResource;
    /// The cached object as JSON (without managedFields).
    fn get(&self, namespace: Option<&str>, name: &str) -> Option<Value>;
    /// Identity and owner of every cached object whose owner annotation is `owner`.
    fn owned_by(&self, owner: &str) -> Vec<CachedRef>;
    /// Resolves once the initial list has been stored.
    fn wait_ready(&self) -> BoxFuture<'static, bool>;
}

struct TypedCache<K: Resource<DynamicType = ()> + Clone + 'static> {
    store: Store<K>,
    api_version: String,
    kind: String,
    resource: ApiResource,
}

impl<K> LiveCache for TypedCache<K>
where
    K: Resource<DynamicType = ()> + Clone + Serialize + Send + Sync + 'static,
{
    fn api_version(&self) -> &str {
        &self.api_version
    }
    fn kind(&self) -> &str {
        &self.kind
    }
    fn api_resource(&self) -> &ApiResource {
        &self.resource
    }
    fn get(&self, namespace: Option<&str>, name: &str) -> Option<Value> {
        let mut key = ObjectRef::<K>::new(name);
        if let Some(ns) = namespace {
            key = key.within(ns);
        }
        self.store
            .get(&key)
            .and_then(|obj| serde_json::to_value(&*obj).ok())
    }
    fn owned_by(&self, owner: &str) -> Vec<CachedRef> {
        // Filter on the annotation before building anything: this runs on every reconcile
        // over every cached object of the kind.
        self.store
            .state()
            .iter()
            .filter(|o| {
                o.meta()
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(labels::OWNER))
                    .map(String::as_str)
                    == Some(owner)
            })
            .map(|o| CachedRef::from_meta(&self.api_version, &self.kind, o.meta()))
            .collect()
    }
    fn wait_ready(&self) -> BoxFuture<'static, bool> {
        let store = self.store.clone();
        let kind = self.kind.clone();
        async move {
            let ok = wait_until_ready(&store).await;
            tracing::debug!(%kind, ok, "cache synced");
            ok
        }
        .boxed()
    }
}

/// The stores of every watched child kind, looked up by apiVersion and kind.
#[derive(Clone, Default)]
pub struct Caches {
    kinds: Vec<Arc<dyn LiveCache>>,
}

impl Caches {
    pub fn find(&self, api_version: &str, kind: &str) -> Option<&Arc<dyn LiveCache>> {
        self.kinds
            .iter()
            .find(|c| c.api_version() == api_version && c.kind() == kind)
    }

    pub fn all(&self) -> &[Arc<dyn LiveCache>] {
        &self.kinds
    }

    /// The cached Namespace `name` (only managed namespaces are cached).
    pub fn namespace(&self, name: &str) -> Option<Namespace> {
        self.find("v1", "Namespace")
            .and_then(|c| c.get(None, name))
            .and_then(|v| serde_json::from_value(v).ok())
    }

    /// Every cached object whose owner annotation names `owner` (`namespace/name`).
    pub fn owned_by(&self, owner: &str) -> Vec<CachedRef> {
        self.kinds.iter().flat_map(|c| c.owned_by(owner)).collect()
    }

    /// Resolves once every store has its initial list (false if a store's writer was dropped).
    pub fn wait_ready(&self) -> BoxFuture<'static, bool> {
        let waits: Vec<_> = self.kinds.iter().map(|c| c.wait_ready()).collect();
        async move {
            futures::future::join_all(waits)
                .await
                .into_iter()
                .all(|ok| ok)
        }
        .boxed()
    }

    /// Registers a store for `K` and returns the watch stream that keeps it current, which the
    /// caller must poll (the controller does, through `watches_stream`).
    pub fn watch<K>(
        &mut self,
        client: &Client,
    ) -> impl Stream<Item = Result<K, watcher::Error>> + Send + 'static
    where
        K: Resource<DynamicType = ()>
            + Clone
            + Serialize
            + DeserializeOwned
            + std::fmt::Debug
            + Send
            + Sync
            + 'static,
    {
        let (store, writer) = reflector::store::<K>();
        let api: Api<K> = Api::all(client.clone());
        let wc = watcher::Config::default().labels(&managed_selector());
        self.kinds.push(Arc::new(TypedCache::<K> {
            store,
            api_version: K::api_version(&()).into_owned(),
            kind: K::kind(&()).into_owned(),
            resource: ApiResource::erase::<K>(&()),
        }));
        watcher(api, wc)
            .default_backoff()
            .modify(|obj: &mut K| obj.managed_fields_mut().clear())
            .reflect(writer)
            .touched_objects()
    }
}

/// Waits until `store` has its initial list (false if its writer was dropped).
///
/// `Store::wait_until_ready` wakes only the *last* of several concurrent waiters (its readiness
/// is a oneshot channel with one waker slot), and the controller's applier already waits on the
/// Tenant store: so re-poll on a short timer instead of relying on the wake-up.
pub async fn wait_until_ready<K>(store: &Store<K>) -> bool
where
    K: Resource + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    loop {
        match tokio::time::timeout(
            std::time::Duration::from_millis(200),
            store.wait_until_ready(),
        )
        .await
        {
            Ok(result) => return result.is_ok(),
            Err(_elapsed) => continue,
        }
    }
}

/// The Tenant a managed object belongs to, from its owner annotation (`namespace/name`).
pub fn owner_of(meta: &ObjectMeta) -> Option<ObjectRef<Tenant>> {
    let owner = meta.annotations.as_ref()?.get(labels::OWNER)?;
    let (ns, name) = owner.split_once('/')?;
    if ns.is_empty() || name.is_empty() {
        return None;
    }
    Some(ObjectRef::new(name).within(ns))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(owner: Option<&str>) -> ObjectMeta {
        ObjectMeta {
            name: Some("x".into()),
            annotations: owner
                .map(|o| BTreeMap::from([(labels::OWNER.to_string(), o.to_string())])),
            ..Default::default()
        }
    }

    #[test]
    fn owner_annotation_maps_to_the_tenant() {
        let r = owner_of(&meta(Some("default/acme")));
        assert_eq!(r.as_ref().map(|r| r.name.as_str()), Some("acme"));
        assert_eq!(r.and_then(|r| r.namespace), Some("default".to_string()));
        assert!(owner_of(&meta(Some("acme"))).is_none());
        assert!(owner_of(&meta(Some("/acme"))).is_none());
        assert!(owner_of(&meta(None)).is_none());
    }

    #[test]
    fn cached_ref_key_matches_object_key_format() {
        let m = ObjectMeta {
            name: Some("tenant-quota".into()),
            namespace: Some("tenant-a-prod".into()),
            ..Default::default()
        };
        let r = CachedRef::from_meta("v1", "ResourceQuota", &m);
        assert_eq!(r.key(), "v1/ResourceQuota/tenant-a-prod/tenant-quota");
        let o = tenant_core::Object {
            api_version: "v1".into(),
            kind: "ResourceQuota".into(),
            name: "tenant-quota".into(),
            namespace: Some("tenant-a-prod".into()),
            manifest: Value::Null,
        };
        assert_eq!(o.key(), r.key());
    }
}
