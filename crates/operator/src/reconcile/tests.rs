//! The controller on a mocked API server: the exact requests a reconcile makes (method, path,
//! body), with the watched state given up front. No control plane: `cargo test` runs these.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use kube::Client;
use kube::api::DynamicObject;
use kube::client::Body;
use kube::runtime::controller::Action;
use kube::runtime::reflector;
use kube::runtime::watcher;
use serde_json::{Value, json};
use tenant_api::{Phase, Tenant, TenantStatus, condition as c, labels};
use tenant_core::build;

use super::{Context, Watched, reconcile};
use crate::kinds::Kinds;
use crate::shared::SharedPolicies;
use crate::{Config, Metrics};

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

/// The API server side of the mock: hands out each request the reconcile makes, in order.
struct ApiServer(Handle);

/// One request the reconcile made.
struct Seen {
    method: String,
    /// Path and query.
    uri: String,
    body: Value,
}

impl ApiServer {
    /// The next request; panics if none comes within the deadline (generous: the first
    /// validation in a test process compiles the CRD's CEL rules, slowly in a debug build).
    async fn next(&mut self) -> (Seen, tower_test::mock::SendResponse<Response<Body>>) {
        let (req, send) = tokio::time::timeout(DEADLINE, self.0.next_request())
            .await
            .expect("a request before the deadline")
            .expect("the client is alive");
        let method = req.method().to_string();
        let uri = req.uri().to_string();
        let bytes = req.into_body().collect_bytes().await.unwrap_or_default();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (Seen { method, uri, body }, send)
    }

    /// Expects a request of `method` to a path starting with `path`, answers it with `answer`
    /// (or, when `answer` is null, with the request's own body; a status apply is answered with
    /// the Tenant carrying that status) and returns it.
    async fn expect(&mut self, method: &str, path: &str, answer: Value) -> Seen {
        let (seen, send) = self.next().await;
        assert_eq!(seen.method, method, "{} {}", seen.method, seen.uri);
        assert!(
            seen.uri.starts_with(path),
            "expected {method} {path}..., got {} {}",
            seen.method,
            seen.uri
        );
        let answer = match answer {
            Value::Null if seen.uri.contains("/status?") => {
                let mut t = serde_json::to_value(tenant(valid_spec())).unwrap();
                t["status"] = seen.body["status"].clone();
                t
            }
            Value::Null => seen.body.clone(),
            a => a,
        };
        send.send_response(
            Response::builder()
                .status(200)
                .body(Body::from(serde_json::to_vec(&answer).unwrap()))
                .unwrap(),
        );
        seen
    }
}

const DEADLINE: Duration = Duration::from_secs(20);
const NS: &str = "default";
const NAME: &str = "acme";
const UID: &str = "uid-acme";
const TENANT_NS: &str = "tenant-acme-production";
const TENANT_PATH: &str = "/apis/shop.pilab.hu/v1alpha1/namespaces/default/tenants/acme";
const EVENTS_PATH: &str = "/apis/events.k8s.io/v1/namespaces/default/events";

/// A stored Tenant: finalizer, uid, generation 1, phase Initialization (the CRD's default).
fn tenant(spec: Value) -> Tenant {
    let mut t: Tenant = serde_json::from_value(json!({
        "apiVersion": "shop.pilab.hu/v1alpha1",
        "kind": "Tenant",
        "metadata": {
            "name": NAME, "namespace": NS, "uid": UID, "generation": 1,
            "resourceVersion": "7", "finalizers": [labels::FINALIZER],
        },
        "spec": spec,
    }))
    .unwrap();
    t.status = Some(TenantStatus {
        phase: Some(Phase::Initialization),
        ..Default::default()
    });
    t
}

fn valid_spec() -> Value {
    json!({
        "tenantId": "acme", "tenantType": "production", "owner": "alice",
        "quota": {"cpuQuota": "2", "memoryQuota": "4Gi", "podQuota": 20},
    })
}

/// What the cluster holds once the Tenant's objects are in place: every desired object as the
/// API server would store it (a uid, an Active namespace, a quota with its status filled in).
fn live_objects(t: &Tenant, config: &Config) -> Vec<Value> {
    let bctx = config.build_context(&[], &[], &tenant_core::build::NO_RELEASES);
    build::tenant_objects(t, &bctx)
        .unwrap()
        .into_iter()
        .enumerate()
        .map(|(i, o)| {
            let mut v = o.manifest;
            v["metadata"]["uid"] = json!(format!("obj-{i}"));
            match o.kind.as_str() {
                "Namespace" => v["status"] = json!({"phase": "Active"}),
                "ResourceQuota" => v["status"] = json!({"hard": v["spec"]["hard"].clone()}),
                _ => {}
            }
            v
        })
        .collect()
}

/// A Context on the mocked API server, with `live` in the stores and `not_served` kinds
/// reported as not served (their CRD not installed).
fn context(tenant: &Tenant, live: &[Value], not_served: &[&str]) -> (Arc<Context>, ApiServer) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, NS);
    let kinds = Kinds::new();
    for k in kinds.all() {
        let served = !not_served.contains(&k.row.kind);
        let objects: Vec<DynamicObject> = live
            .iter()
            .filter(|v| v["kind"] == k.row.kind)
            .map(|v| serde_json::from_value(v.clone()).unwrap())
            .collect();
        k.fake(served, objects);
    }
    let (store, mut writer) = reflector::store::<Tenant>();
    writer.apply_watcher_event(&watcher::Event::Apply(tenant.clone()));
    let shared = SharedPolicies::default();
    shared.set_ok(true);
    let ctx = Context::new(
        client.clone(),
        Config::for_tests(),
        Arc::new(Metrics::new()),
        Watched {
            kinds: Arc::new(kinds),
            tenants: store,
            shared,
            pull_secrets: crate::pull_secrets::PullSecrets::new(Vec::new()),
            releases: crate::releases::Releases::fixed(Default::default()),
            data: Arc::new(crate::data::DataServers::new(
                client.clone(),
                "tenant-system".into(),
                Default::default(),
            )),
            backups: Arc::new(crate::backup::Backups::default()),
        },
    );
    (Arc::new(ctx), ApiServer(handle))
}

/// Runs one reconcile while `server` answers its requests; fails if it makes a request `server`
/// does not answer (it would wait for the answer until the deadline).
async fn run<F, Fut>(t: &Tenant, ctx: &Arc<Context>, server: F) -> Action
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let reconciling = tokio::spawn(reconcile(Arc::new(t.clone()), ctx.clone()));
    server().await;
    tokio::time::timeout(DEADLINE, reconciling)
        .await
        .expect("the reconcile finished (an unanswered request would block it)")
        .expect("the reconcile task did not panic")
        .expect("the reconcile succeeded")
}

fn condition<'a>(status: &'a Value, type_: &str) -> &'a Value {
    status["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == type_))
        .unwrap_or(&Value::Null)
}

#[tokio::test]
async fn a_no_op_reconcile_makes_no_request() {
    let config = Config::for_tests();
    let mut t = tenant(valid_spec());
    let live = live_objects(&t, &config);

    // First pass: everything is in place but the status says Initialization, so exactly one
    // request, the status apply; it records what the second pass will compare against.
    let (ctx, mut api) = context(&t, &live, &["PrometheusRule"]);
    let mut written = Value::Null;
    run(&t, &ctx, || async {
        let seen = api
            .expect("PATCH", &format!("{TENANT_PATH}/status?"), Value::Null)
            .await;
        assert!(
            seen.uri.contains("fieldManager=tenant-operator"),
            "{}",
            seen.uri
        );
        written = seen.body["status"].clone();
    })
    .await;
    assert_eq!(written["phase"], "Running", "{written}");
    assert_eq!(condition(&written, c::READY)["status"], "True");
    // The monitoring integration's CRD is not installed: reported, not blocking.
    assert_eq!(
        condition(&written, c::MONITORING_READY)["reason"],
        "CRDNotInstalled"
    );

    // Second pass with that status stored: no request at all.
    t.status = Some(serde_json::from_value(written).unwrap());
    let (ctx, mut api) = context(&t, &live, &["PrometheusRule"]);
    let action = run(&t, &ctx, || async {}).await;
    assert_eq!(action, Action::requeue(ctx.config.resync));
    assert!(
        tokio::time::timeout(Duration::from_millis(100), api.0.next_request())
            .await
            .is_err(),
        "no request after a no-op reconcile"
    );
}

#[tokio::test]
async fn a_reconcile_on_a_stale_cache_does_not_write_the_status_again() {
    let config = Config::for_tests();
    let t = tenant(valid_spec());
    let live = live_objects(&t, &config);
    let (ctx, mut api) = context(&t, &live, &["PrometheusRule"]);
    let mut written = Value::Null;
    run(&t, &ctx, || async {
        written = api
            .expect("PATCH", &format!("{TENANT_PATH}/status?"), Value::Null)
            .await
            .body["status"]
            .clone();
    })
    .await;
    // Triggered again (a namespace event) before the cache shows the write: the same version
    // of the Tenant, with the old status. No request; it looks again shortly.
    let action = run(&t, &ctx, || async {}).await;
    assert_eq!(action, Action::requeue(super::STALE_RETRY));
    assert!(
        tokio::time::timeout(Duration::from_millis(100), api.0.next_request())
            .await
            .is_err(),
        "no request on a stale cache"
    );
    // The cache catches up (a newer version): reconciled as usual, and nothing to write.
    let mut fresh = t.clone();
    fresh.metadata.resource_version = Some("8".into());
    fresh.status = Some(serde_json::from_value(written).unwrap());
    let action = run(&fresh, &ctx, || async {}).await;
    assert_eq!(action, Action::requeue(ctx.config.resync));
}

#[tokio::test]
async fn a_new_tenant_gets_its_finalizer() {
    let config = Config::for_tests();
    let mut t = tenant(valid_spec());
    t.metadata.finalizers = None;
    let live = live_objects(&t, &config);
    let (ctx, mut api) = context(&t, &live, &[]);
    let mut stored = serde_json::to_value(&t).unwrap();
    stored["metadata"]["finalizers"] = json!([labels::FINALIZER]);
    run(&t, &ctx, || async {
        let seen = api
            .expect("PATCH", &format!("{TENANT_PATH}?"), stored)
            .await;
        assert_eq!(
            seen.body["metadata"]["finalizers"],
            json!([labels::FINALIZER])
        );
        // Guarded by the resourceVersion read: a concurrent change to the list fails with 409.
        assert_eq!(seen.body["metadata"]["resourceVersion"], "7");
        // Then the rest of the reconcile: its status.
        api.expect("PATCH", &format!("{TENANT_PATH}/status?"), Value::Null)
            .await;
    })
    .await;
}

#[tokio::test]
async fn an_invalid_spec_gets_one_status_write_and_one_warning() {
    // The CRD accepts it; the cross-field check does not (two different CPU limits).
    let spec = json!({
        "tenantId": "acme", "tenantType": "production",
        "resourceLimits": {"cpuLimit": "2"},
        "quota": {"cpuLimit": "4"},
    });
    let t = tenant(spec);
    let (ctx, mut api) = context(&t, &[], &[]);
    let action = run(&t, &ctx, || async {
        let status = api
            .expect("PATCH", &format!("{TENANT_PATH}/status?"), Value::Null)
            .await
            .body["status"]
            .clone();
        assert_eq!(status["phase"], "Failed");
        let valid = condition(&status, c::SPEC_VALID);
        assert_eq!(valid["status"], "False");
        assert!(
            valid["message"]
                .as_str()
                .unwrap_or_default()
                .contains("spec.quota.cpuLimit"),
            "{valid}"
        );
        // Only the reconcile's own fields: no cost, no conditions of other writers.
        assert!(status.get("cost").is_none(), "{status}");
        let event = api.expect("POST", EVENTS_PATH, Value::Null).await.body;
        assert_eq!(event["type"], "Warning");
        assert_eq!(event["reason"], "InvalidSpec");
        assert_eq!(event["regarding"]["name"], NAME);
    })
    .await;
    // Only a spec change can help: no requeue.
    assert_eq!(action, Action::await_change());
}

#[tokio::test]
async fn a_foreign_namespace_is_a_conflict_and_is_not_written() {
    let t = tenant(valid_spec());
    // The namespace exists, created by someone else: not labelled, so in no store.
    let (ctx, mut api) = context(&t, &[], &[]);
    let foreign = json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": TENANT_NS, "uid": "theirs", "labels": {"team": "other"}},
        "status": {"phase": "Active"},
    });
    run(&t, &ctx, || async {
        api.expect("GET", &format!("/api/v1/namespaces/{TENANT_NS}"), foreign)
            .await;
        let status = api
            .expect("PATCH", &format!("{TENANT_PATH}/status?"), Value::Null)
            .await
            .body["status"]
            .clone();
        let ready = condition(&status, c::READY);
        assert_eq!(ready["reason"], "NamespaceConflict");
        assert!(
            status.get("namespace").is_none(),
            "not the tenant's: {status}"
        );
        let event = api.expect("POST", EVENTS_PATH, Value::Null).await.body;
        assert_eq!(event["reason"], "NamespaceConflict");
        // Nothing else: in particular no write to the namespace (the reconcile finishing
        // without another request shows it).
    })
    .await;
}
