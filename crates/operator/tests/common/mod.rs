//! Shared harness of the operator's integration tests (local control plane via `testenv`).
//!
//! Each test gets its own Tenant namespace and its own operator instance, scoped to that
//! namespace (`--watch-namespace`) and acting as the operator's service-account user with the
//! RBAC of `deploy/operator/rbac.yaml`, so tests can run in parallel without two operators
//! reconciling the same Tenant, and the least-privilege ClusterRole is exercised for real.
#![allow(dead_code, clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::{Client, ResourceExt};
use serde_json::Value;
use tenant_api::{Phase, Tenant};
use tenant_operator::{Config, Health, Metrics, Operator};
use testenv::{ControlPlane, OPERATOR_USER, poll_until, unique_name};
use tokio::sync::{OnceCell, oneshot};
use tokio::task::JoinHandle;

pub mod process;
pub mod proxy;

pub const TIMEOUT: Duration = Duration::from_secs(90);
pub const TEST_MANAGER: &str = "operator-tests";

pub fn repo_path(rel: &str) -> String {
    format!("{}/../../{rel}", env!("CARGO_MANIFEST_DIR"))
}

/// Server-side applies every document of a multi-document YAML text (as the admin).
pub async fn apply_yaml(
    client: &Client,
    text: &str,
    namespace_override: Option<&str>,
) -> Result<()> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text).context("parsing YAML")?;
    for mut doc in docs {
        if doc.is_null() {
            continue;
        }
        if let (Some(ns), Some(meta)) = (namespace_override, doc.get_mut("metadata"))
            && meta.get("namespace").is_some()
        {
            meta["namespace"] = Value::String(ns.to_string());
        }
        apply_value(client, &doc).await?;
    }
    Ok(())
}

pub async fn apply_value(client: &Client, doc: &Value) -> Result<DynamicObject> {
    let api_version = doc["apiVersion"].as_str().unwrap_or_default();
    let kind = doc["kind"].as_str().unwrap_or_default();
    let name = doc["metadata"]["name"].as_str().unwrap_or_default();
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let (ar, _) = kube::discovery::pinned_kind(client, &gvk).await?;
    let api: Api<DynamicObject> = match doc["metadata"]["namespace"].as_str() {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
        None => Api::all_with(client.clone(), &ar),
    };
    api.patch(
        name,
        &PatchParams::apply(TEST_MANAGER).force(),
        &Patch::Apply(doc),
    )
    .await
    .with_context(|| format!("applying {kind} {name}"))
}

/// Waits until the CRD `name` is Established (its kind served).
pub async fn wait_established(client: &Client, name: &str) -> Result<()> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    poll_until(&format!("CRD {name} established"), TIMEOUT, || {
        let crds = crds.clone();
        async move {
            let c = crds.get(name).await.map_err(|e| e.to_string())?;
            let ok = c.status.and_then(|s| s.conditions).is_some_and(|cs| {
                cs.iter()
                    .any(|c| c.type_ == "Established" && c.status == "True")
            });
            if ok {
                Ok(())
            } else {
                Err("not established".into())
            }
        }
    })
    .await?;
    Ok(())
}

/// The leader-election Role/RoleBinding of deploy/operator/rbac.yaml, placed in the test's
/// namespace (the Lease lives there, so parallel tests do not share one).
pub async fn lease_rbac(h: &Harness) -> Result<()> {
    let text = std::fs::read_to_string(repo_path("deploy/operator/rbac.yaml"))?;
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text)?;
    for mut d in docs
        .into_iter()
        .filter(|d| d["kind"] == "Role" || d["kind"] == "RoleBinding")
    {
        d["metadata"]["namespace"] = serde_json::json!(h.ns);
        apply_value(&h.admin, &d).await?;
    }
    Ok(())
}

static INSTALLED: OnceCell<()> = OnceCell::const_new();

/// CRDs (from the Rust types) and the operator's namespace, service account and RBAC, once per
/// test binary on the shared plane.
async fn install(client: &Client) -> Result<()> {
    INSTALLED.get_or_try_init(|| install_into(client)).await?;
    Ok(())
}

/// What [`install`] does, on any plane.
async fn install_into(client: &Client) -> Result<()> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for (_, crd) in tenant_api::crds() {
        let name = crd.name_any();
        crds.patch(
            &name,
            &PatchParams::apply(TEST_MANAGER).force(),
            &Patch::Apply(&crd),
        )
        .await
        .with_context(|| format!("installing CRD {name}"))?;
        wait_established(client, &name).await?;
    }
    for file in [
        "namespace.yaml",
        "serviceaccount.yaml",
        "rbac.yaml",
        "fence.yaml",
    ] {
        let text = std::fs::read_to_string(repo_path(&format!("deploy/operator/{file}")))?;
        apply_yaml(client, &text, None).await?;
    }
    // The domain map the ingress-hosts policy reads. A cluster-wide operator keeps it;
    // the tests' operators are scoped to their namespaces and do not, so without this
    // every Ingress (the operator's own included) would be refused for want of it.
    // Created only when absent: a test's cluster-wide operator takes it over.
    let maps: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(
        client.clone(),
        tenant_core::build::DEFAULT_OPERATOR_NAMESPACE,
    );
    let map: k8s_openapi::api::core::v1::ConfigMap = serde_json::from_value(serde_json::json!({
        "metadata": {"name": tenant_core::build::domains::CONFIG_MAP},
        "data": {tenant_core::build::domains::UNCLAIMED_KEY: "allow"},
    }))?;
    match maps.create(&PostParams::default(), &map).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 409 => {}
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

/// One test's world: the admin client and a fresh namespace for its Tenants.
pub struct Harness {
    pub cp: &'static ControlPlane,
    pub admin: Client,
    /// Namespace holding this test's Tenant objects (the operator instance watches only it).
    pub ns: String,
}

impl Harness {
    pub async fn new(prefix: &str) -> Result<Harness> {
        // RUST_LOG=tenant_operator=debug shows the operator's logs in failing tests' output.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let cp = ControlPlane::get().await?;
        let admin = cp.admin_client().await?;
        install(&admin).await?;
        Self::in_new_namespace(cp, admin, prefix).await
    }

    /// A harness on a plane of the test's own (a second cluster), with the CRDs and the
    /// operator's RBAC installed there.
    pub async fn on_plane(cp: &'static ControlPlane, prefix: &str) -> Result<Harness> {
        let admin = cp.admin_client().await?;
        install_into(&admin).await?;
        Self::in_new_namespace(cp, admin, prefix).await
    }

    /// The harness of a fresh test namespace named after `prefix`.
    async fn in_new_namespace(
        cp: &'static ControlPlane,
        admin: Client,
        prefix: &str,
    ) -> Result<Harness> {
        let ns = unique_name(prefix);
        let nsobj: Namespace =
            serde_json::from_value(serde_json::json!({"metadata": {"name": ns}}))?;
        Api::<Namespace>::all(admin.clone())
            .create(&PostParams::default(), &nsobj)
            .await
            .with_context(|| format!("creating test namespace {ns}"))?;
        Ok(Harness { cp, admin, ns })
    }

    pub fn tenants(&self) -> Api<Tenant> {
        Api::namespaced(self.admin.clone(), &self.ns)
    }

    /// An operator instance as the operator's service account, scoped to this test's namespace.
    pub async fn start_operator(&self) -> Result<RunningOperator> {
        self.start_operator_with(|_| {}).await
    }

    pub async fn start_operator_with(
        &self,
        tweak: impl FnOnce(&mut Config),
    ) -> Result<RunningOperator> {
        // The client the binary makes (its request and read deadlines), as the operator user.
        let kubeconfig =
            kube::config::Kubeconfig::read_from(self.cp.kubeconfig_path(OPERATOR_USER))?;
        let kube_config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?;
        let client = tenant_operator::client(kube_config)?;
        let mut config = Config::for_tests();
        config.watch_namespace = Some(self.ns.clone());
        config.identity = unique_name("op");
        config.wait_requeue = Duration::from_millis(500);
        tweak(&mut config);
        let op = Operator::bind(config, client).await?;
        let metrics = op.metrics();
        let health = op.health();
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(op.run(async move {
            let _ = rx.await;
        }));
        let running = RunningOperator {
            stop: Some(tx),
            handle,
            metrics,
            health,
        };
        Ok(running)
    }

    /// Tenants of an example file with unique tenantIds (and explicit namespace names),
    /// placed in this test's namespace; cross-references between them are renamed alike.
    pub fn example(&self, file: &str) -> Result<Vec<Tenant>> {
        let text = std::fs::read_to_string(repo_path(&format!("examples/{file}")))?;
        let docs: Vec<Tenant> =
            serde_saphyr::from_multiple(&text).with_context(|| format!("parsing {file}"))?;
        let renames: HashMap<String, String> = docs
            .iter()
            .map(|t| {
                (
                    t.spec.tenant_id.clone(),
                    unique_name(&t.spec.tenant_id[..t.spec.tenant_id.len().min(20)]),
                )
            })
            .collect();
        Ok(docs
            .into_iter()
            .map(|mut t| {
                let id = renames[&t.spec.tenant_id].clone();
                t.metadata = kube::api::ObjectMeta {
                    name: Some(id.clone()),
                    namespace: Some(self.ns.clone()),
                    ..Default::default()
                };
                if let Some(nc) = t.spec.namespace_config.as_mut()
                    && nc.name.is_some()
                {
                    nc.name = Some(id.clone());
                }
                if let Some(rbac) = t.spec.rbac.as_mut()
                    && let Some(allowed) = rbac.allowed_tenants.as_mut()
                {
                    for a in allowed.iter_mut() {
                        if let Some(n) = renames.get(a) {
                            *a = n.clone();
                        }
                    }
                }
                t.spec.tenant_id = id;
                t
            })
            .collect())
    }

    /// A minimal Tenant with a unique tenantId.
    pub fn tenant(&self, prefix: &str) -> Tenant {
        let id = unique_name(prefix);
        let mut t = Tenant::new(
            &id,
            tenant_api::TenantSpec::new(&id, tenant_api::TenantType::Development),
        );
        t.metadata.namespace = Some(self.ns.clone());
        t
    }

    pub async fn create(&self, t: &Tenant) -> Result<Tenant> {
        self.tenants()
            .create(&PostParams::default(), t)
            .await
            .with_context(|| format!("creating Tenant {}", t.name_any()))
    }

    pub async fn get(&self, name: &str) -> Result<Tenant> {
        Ok(self.tenants().get(name).await?)
    }

    /// Waits until the Tenant reports `phase` for its current generation.
    pub async fn wait_phase(&self, name: &str, phase: Phase) -> Result<Tenant> {
        let api = self.tenants();
        let name = name.to_string();
        Ok(poll_until(
            &format!("Tenant {name} in phase {phase:?}"),
            TIMEOUT,
            || {
                let api = api.clone();
                let name = name.clone();
                async move {
                    let t = api.get(&name).await.map_err(|e| e.to_string())?;
                    let st = t.status.clone().unwrap_or_default();
                    let current = st.observed_generation == t.metadata.generation;
                    if st.phase == Some(phase) && current {
                        Ok(t)
                    } else {
                        Err(format!(
                            "phase {:?}, observedGeneration {:?}/{:?}, conditions: {}",
                            st.phase,
                            st.observed_generation,
                            t.metadata.generation,
                            conditions(&t)
                        ))
                    }
                }
            },
        )
        .await?)
    }

    /// Deletes the Tenant and waits until it is gone (the operator must be running).
    pub async fn delete_and_wait(&self, name: &str) -> Result<()> {
        let api = self.tenants();
        match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        self.wait_tenant_gone(name).await
    }

    /// Waits until the Tenant `name` is gone (deleted and cleaned up).
    pub async fn wait_tenant_gone(&self, name: &str) -> Result<()> {
        let api = self.tenants();
        poll_until(&format!("Tenant {name} gone"), TIMEOUT, || {
            let api = api.clone();
            async move {
                match api.get_opt(name).await.map_err(|e| e.to_string())? {
                    None => Ok(()),
                    Some(t) => Err(format!("still there: {}", conditions(&t))),
                }
            }
        })
        .await?;
        Ok(())
    }

    /// Deletes every Tenant of the test (waiting for cleanup) and the test namespace.
    pub async fn teardown(&self) -> Result<()> {
        for t in self.tenants().list(&Default::default()).await? {
            self.delete_and_wait(&t.name_any()).await?;
        }
        let _ = Api::<Namespace>::all(self.admin.clone())
            .delete(&self.ns, &DeleteParams::default())
            .await;
        Ok(())
    }

    pub async fn namespace(&self, name: &str) -> Result<Option<Namespace>> {
        Ok(Api::<Namespace>::all(self.admin.clone())
            .get_opt(name)
            .await?)
    }

    /// Waits until namespace `name` no longer exists.
    pub async fn wait_namespace_gone(&self, name: &str) -> Result<()> {
        let api: Api<Namespace> = Api::all(self.admin.clone());
        let name = name.to_string();
        poll_until(&format!("namespace {name} gone"), TIMEOUT, || {
            let api = api.clone();
            let name = name.clone();
            async move {
                match api.get_opt(&name).await.map_err(|e| e.to_string())? {
                    None => Ok(()),
                    Some(ns) => Err(format!("phase {:?}", ns.status.and_then(|s| s.phase))),
                }
            }
        })
        .await?;
        Ok(())
    }
}

/// `type=status reason: message` of every condition, for failure messages.
pub fn conditions(t: &Tenant) -> String {
    t.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .map(|cs| {
            cs.iter()
                .map(|c| format!("{}={} {}: {}", c.type_, c.status, c.reason, c.message))
                .collect::<Vec<_>>()
                .join(" | ")
        })
        .unwrap_or_else(|| "no conditions".into())
}

pub fn condition<'a>(
    t: &'a Tenant,
    type_: &str,
) -> Option<&'a k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
    t.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

pub fn status_namespace(t: &Tenant) -> Result<String> {
    t.status
        .as_ref()
        .and_then(|s| s.namespace.clone())
        .ok_or_else(|| anyhow!("Tenant {} has no status.namespace", t.name_any()))
}

/// An in-process operator instance.
pub struct RunningOperator {
    stop: Option<oneshot::Sender<()>>,
    pub handle: JoinHandle<tenant_operator::Result<()>>,
    pub metrics: Arc<Metrics>,
    pub health: Health,
}

impl RunningOperator {
    pub async fn wait_ready(&self) -> Result<()> {
        let health = self.health.clone();
        poll_until("operator ready (caches synced)", TIMEOUT, || {
            let ok = health.is_ready();
            async move { if ok { Ok(()) } else { Err("not ready".into()) } }
        })
        .await?;
        Ok(())
    }

    /// Graceful stop; returns the operator's result.
    pub async fn stop(mut self) -> Result<()> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        match tokio::time::timeout(Duration::from_secs(30), &mut self.handle).await {
            Ok(Ok(r)) => r.map_err(|e| anyhow!("operator failed: {e}")),
            Ok(Err(e)) => bail!("operator task failed: {e}"),
            Err(_) => bail!("operator did not stop within 30 s"),
        }
    }
}

/// The objects of the kinds the operator manages in `namespace`, as `kind/name -> resourceVersion`.
pub async fn resource_versions(
    client: &Client,
    namespace: &str,
) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    // Every namespaced per-owner kind of the registry; optional kinds only where served.
    let kinds = tenant_core::registry::with_role(tenant_core::registry::Role::PerOwner)
        .filter(|k| k.namespaced);
    for k in kinds {
        let gvk = GroupVersionKind::gvk(k.group, k.version, k.kind);
        let ar = match kube::discovery::pinned_kind(client, &gvk).await {
            Ok((ar, _)) => ar,
            Err(_) if k.optional() => continue,
            Err(e) => return Err(e.into()),
        };
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &ar);
        for o in api.list(&Default::default()).await? {
            out.insert(
                format!("{}/{}", k.kind, o.name_any()),
                o.resource_version().unwrap_or_default(),
            );
        }
    }
    if let Some(ns) = Api::<Namespace>::all(client.clone())
        .get_opt(namespace)
        .await?
    {
        out.insert(
            format!("Namespace/{namespace}"),
            ns.resource_version().unwrap_or_default(),
        );
    }
    Ok(out)
}

/// Write requests by the operator's user in the audit log since `since` that touch one of
/// `namespaces` (objects in them, or the Namespace objects themselves).
pub fn operator_writes_since(
    cp: &ControlPlane,
    since: jiff::Timestamp,
    namespaces: &[String],
) -> Result<Vec<String>> {
    writes_since(cp, since, namespaces, Some(OPERATOR_USER), false)
}

/// Write requests in the audit log since `since`, by `user` (`None`: anyone), that touch one of
/// `namespaces` (objects in them, or the Namespace objects themselves) or, with `tenants`, any
/// Tenant; as `user verb resource[/subresource] namespace/name`.
pub fn writes_since(
    cp: &ControlPlane,
    since: jiff::Timestamp,
    namespaces: &[String],
    user: Option<&str>,
    tenants: bool,
) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for e in audit_events_since(cp, since)? {
        let who = e["user"]["username"].as_str().unwrap_or_default();
        if user.is_some_and(|u| u != who) {
            continue;
        }
        let verb = e["verb"].as_str().unwrap_or_default();
        if !matches!(
            verb,
            "create" | "update" | "patch" | "delete" | "deletecollection"
        ) {
            continue;
        }
        let obj = &e["objectRef"];
        let ns = obj["namespace"].as_str().unwrap_or_default();
        let name = obj["name"].as_str().unwrap_or_default();
        let res = obj["resource"].as_str().unwrap_or_default();
        let touches = (tenants && res == "tenants")
            || namespaces
                .iter()
                .any(|n| n == ns || (res == "namespaces" && n == name));
        if touches {
            let sub = obj["subresource"]
                .as_str()
                .map(|s| format!("/{s}"))
                .unwrap_or_default();
            out.push(format!("{who} {verb} {res}{sub} {ns}/{name}"));
        }
    }
    Ok(out)
}

/// The audit log's events of requests received at `since` or later.
pub fn audit_events_since(cp: &ControlPlane, since: jiff::Timestamp) -> Result<Vec<Value>> {
    Ok(cp
        .audit_events()?
        .into_iter()
        .filter(|e| {
            e["requestReceivedTimestamp"]
                .as_str()
                .and_then(|s| s.parse::<jiff::Timestamp>().ok())
                .is_some_and(|t| t >= since)
        })
        .collect())
}

/// `GET path` on 127.0.0.1:`port` (the operator's metrics server): status code and body.
pub async fn http_get(port: u16, path: &str) -> Result<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).await?;
    let code = buf
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = buf
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((code, body))
}

/// Polls `f` for `window`, failing as soon as it reports a difference (the opposite of
/// `poll_until`: proves something stays stable).
pub async fn stays_for<F, Fut>(what: &str, window: Duration, mut f: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let end = Instant::now() + window;
    while Instant::now() < end {
        if let Err(e) = f().await {
            bail!("{what} changed: {e}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(())
}

/// The platform's storage for dedicated data stores, as a platform with static provisioning has
/// it: a StorageClass without a provisioner (binding at once) and one PersistentVolume of each
/// size in `sizes` (`Delete`: the operator sets `Retain` where the tenant keeps its data).
/// Returns the class.
pub async fn static_storage(h: &Harness, sizes: &[&str]) -> Result<String> {
    let class = format!("static-{}", h.ns);
    apply_value(
        &h.admin,
        &serde_json::json!({
            "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
            "metadata": {"name": class},
            "provisioner": "kubernetes.io/no-provisioner",
            "volumeBindingMode": "Immediate",
            "reclaimPolicy": "Delete",
        }),
    )
    .await?;
    for (i, size) in sizes.iter().enumerate() {
        apply_value(
            &h.admin,
            &serde_json::json!({
                "apiVersion": "v1", "kind": "PersistentVolume",
                "metadata": {"name": format!("{class}-{i}")},
                "spec": {
                    "capacity": {"storage": size},
                    "accessModes": ["ReadWriteOnce"],
                    "persistentVolumeReclaimPolicy": "Delete",
                    "storageClassName": class,
                    "hostPath": {"path": format!("/tmp/{class}-{i}")},
                },
            }),
        )
        .await?;
    }
    Ok(class)
}

/// An object from its JSON (a test's literal).
pub fn from_json<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).expect("valid object JSON")
}

/// The API server refused (403 Forbidden or 422 Invalid, as RBAC, Pod Security and the
/// admission policies answer): its message. Anything else, success included, is a failure.
pub fn refused<T: std::fmt::Debug>(what: &str, r: Result<T, kube::Error>) -> Result<String> {
    match r {
        Err(kube::Error::Api(s)) if s.code == 403 || s.code == 422 => Ok(s.message),
        Err(e) => bail!("{what}: expected a refusal, got error {e}"),
        Ok(v) => bail!("{what}: expected a refusal, but it was allowed: {v:?}"),
    }
}

/// Waits until the API server's authorizer lets the user of `client` do `verb` on `resource`
/// (a "resource/subresource" path, in `group`, in `namespace` or cluster-wide), asked as that
/// user with a SelfSubjectAccessReview so its groups count. RBAC reads its bindings through a
/// cache, so a binding just written may not be in force yet: without this wait, a refusal
/// asserted next could be RBAC's instead of the admission rule under test, and an action
/// expected to succeed could fail.
pub async fn wait_allowed(
    client: &Client,
    verb: &str,
    group: &str,
    resource: &str,
    namespace: Option<&str>,
) -> Result<()> {
    use k8s_openapi::api::authorization::v1::SelfSubjectAccessReview;
    let (resource, subresource) = resource.split_once('/').unwrap_or((resource, ""));
    let review: SelfSubjectAccessReview = from_json(serde_json::json!({
        "spec": {"resourceAttributes": {
            "verb": verb, "group": group, "resource": resource,
            "subresource": subresource, "namespace": namespace.unwrap_or(""),
        }},
    }));
    let reviews: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let what = format!("allowed to {verb} {resource} {subresource} in {namespace:?}");
    poll_until(&what, TIMEOUT, || {
        let (reviews, review) = (reviews.clone(), review.clone());
        async move {
            let r = reviews
                .create(&PostParams::default(), &review)
                .await
                .map_err(|e| e.to_string())?;
            match r.status {
                Some(s) if s.allowed => Ok(()),
                s => Err(format!("not yet: {s:?}")),
            }
        }
    })
    .await?;
    Ok(())
}

/// Waits until `name` in `api` exists again with another uid than `deleted_uid` (the operator
/// made it again after a deletion); returns the time since `since`.
pub async fn wait_recreated<K>(
    api: &Api<K>,
    name: &str,
    deleted_uid: Option<String>,
    timeout: Duration,
    since: Instant,
) -> Result<Duration>
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned,
{
    let what = format!("the deleted {name} back");
    Ok(poll_until(&what, timeout, || {
        let (api, deleted_uid) = (api.clone(), deleted_uid.clone());
        async move {
            match api.get_opt(name).await.map_err(|e| e.to_string())? {
                Some(o) if o.uid() != deleted_uid => Ok(since.elapsed()),
                _ => Err(format!("{name} not back")),
            }
        }
    })
    .await?)
}

/// Waits until the Tenant `name` is Running with its current generation observed (an edit
/// reconciled); returns the time since `since`.
pub async fn wait_observed(
    h: &Harness,
    name: &str,
    timeout: Duration,
    since: Instant,
) -> Result<Duration> {
    Ok(
        poll_until(&format!("Tenant {name} reconciled"), timeout, || async {
            let t = h.get(name).await.map_err(|e| e.to_string())?;
            let st = t.status.clone().unwrap_or_default();
            if st.observed_generation == t.metadata.generation && st.phase == Some(Phase::Running) {
                Ok(since.elapsed())
            } else {
                Err(format!("{:?} {}", st.phase, conditions(&t)))
            }
        })
        .await?,
    )
}

/// A Tenant (changed by `f`) created and Running, with its namespace.
pub async fn running_tenant(
    h: &Harness,
    prefix: &str,
    f: impl FnOnce(&mut Tenant),
) -> Result<(Tenant, String)> {
    let mut t = h.tenant(prefix);
    f(&mut t);
    h.create(&t).await?;
    let t = h.wait_phase(&t.name_any(), Phase::Running).await?;
    let ns = status_namespace(&t)?;
    Ok((t, ns))
}

/// A pod spec that passes Pod Security "restricted" and the strict preset's admission rules,
/// asking for `resources` (`null`: none, so the namespace's LimitRange fills them in).
pub fn restricted_pod_spec(resources: Value) -> Value {
    let mut spec = serde_json::json!({
        "securityContext": {"runAsNonRoot": true, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{
            "name": "app",
            "image": "registry.k8s.io/pause:3.10",
            "imagePullPolicy": "Always",
            "securityContext": {
                "allowPrivilegeEscalation": false,
                "capabilities": {"drop": ["ALL"]},
                "appArmorProfile": {"type": "RuntimeDefault"}
            }
        }]
    });
    if !resources.is_null() {
        spec["containers"][0]["resources"] = resources;
    }
    spec
}

/// The `kubectl-tenant` binary: `KUBECTL_TENANT_BIN` when set (`hack/test` sets it to the one
/// its workspace test build made), else built here.
pub fn kubectl_tenant() -> Result<std::path::PathBuf> {
    if let Some(bin) = std::env::var_os("KUBECTL_TENANT_BIN") {
        let bin = std::path::PathBuf::from(bin);
        anyhow::ensure!(
            bin.exists(),
            "KUBECTL_TENANT_BIN {} does not exist",
            bin.display()
        );
        return Ok(bin);
    }
    let status = std::process::Command::new(env!("CARGO"))
        .args(["build", "-q", "--locked", "-p", "kubectl-tenant"])
        .current_dir(repo_path(""))
        .status()?;
    anyhow::ensure!(status.success(), "building kubectl-tenant");
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .and_then(|d| d.parent())
        .ok_or_else(|| anyhow::anyhow!("no target directory above {}", exe.display()))?;
    Ok(dir.join("kubectl-tenant"))
}
