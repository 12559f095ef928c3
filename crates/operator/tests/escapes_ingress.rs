//! A host belongs to one tenant: a tenant admin cannot publish an Ingress for a host another
//! Tenant's `customDomain` holds (or a wildcard covering it), and, where the platform refuses
//! unclaimed hosts, for any host outside its own domain. The operator keeps the map of held
//! domains; the API server refuses (the `tenant-ingress-hosts` admission policy).
//!
//! A test binary of its own: the operator here watches every namespace (only such an operator
//! keeps the domain map), which would reach into other tests' Tenants.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use anyhow::{Result, bail, ensure};
use common::*;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, PostParams};
use kube::{Client, ResourceExt};
use serde_json::json;
use tenant_api::{Phase, Tenant};
use tenant_core::build::domains::{CONFIG_MAP, Unclaimed};
use testenv::{poll_until, unique_name};

fn ingress(host: &str) -> Ingress {
    serde_json::from_value(json!({
        "metadata": {"name": unique_name("web")},
        "spec": {"rules": [{"host": host, "http": {"paths": [{
            "path": "/", "pathType": "Prefix",
            "backend": {"service": {"name": "web", "port": {"number": 80}}},
        }]}}]},
    }))
    .expect("an Ingress")
}

async fn publish(client: &Client, ns: &str, host: &str) -> kube::Result<Ingress> {
    Api::<Ingress>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &ingress(host))
        .await
}

/// Waits until the domain map holds `domain` for `tenant_id`, and says `unclaimed`.
async fn map_holds(h: &Harness, domain: &str, tenant_id: &str, unclaimed: &str) -> Result<()> {
    let api: Api<ConfigMap> = Api::namespaced(h.admin.clone(), "tenant-system");
    let (domain, tenant_id, unclaimed) = (
        domain.to_string(),
        tenant_id.to_string(),
        unclaimed.to_string(),
    );
    poll_until("the domain map", TIMEOUT, || {
        let (api, domain, tenant_id, unclaimed) = (
            api.clone(),
            domain.clone(),
            tenant_id.clone(),
            unclaimed.clone(),
        );
        async move {
            let cm = api.get_opt(CONFIG_MAP).await.map_err(|e| e.to_string())?;
            let data = cm.and_then(|c| c.data).unwrap_or_default();
            if data.get(&domain) == Some(&tenant_id) && data.get("_unclaimed") == Some(&unclaimed) {
                Ok(())
            } else {
                Err(format!("{data:?}"))
            }
        }
    })
    .await?;
    Ok(())
}

fn tenant(h: &Harness, prefix: &str, owner: &str, domain: &str) -> Tenant {
    let mut t = h.tenant(prefix);
    t.spec.owner = Some(owner.into());
    t.spec.custom_domain = Some(domain.into());
    t
}

/// The same rule for Gateway API routes and Gateways, with the real Gateway API CRDs installed
/// and alice given the right to create them in her namespace (the tenant roles do not grant it;
/// a platform that offers Gateway API to tenants does).
async fn gateway_api_routes(
    h: &Harness,
    alice: &Client,
    ns: &str,
    own: &str,
    others: &str,
) -> Result<()> {
    let dir = testenv::component("gateway-api-crds")?;
    for f in ["httproutes", "gateways"] {
        let text =
            std::fs::read_to_string(dir.join(format!("gateway.networking.k8s.io_{f}.yaml")))?;
        apply_yaml(&h.admin, &text, None).await?;
    }
    let role = unique_name("gateway-routes");
    apply_yaml(
        &h.admin,
        &format!(
            "apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: {role}}}
rules:
- apiGroups: [gateway.networking.k8s.io]
  resources: [httproutes, gateways]
  verbs: [create, update, patch, get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: {role}, namespace: {ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: {role}}}
subjects: [{{kind: User, name: alice, apiGroup: rbac.authorization.k8s.io}}]
"
        ),
        None,
    )
    .await?;
    let route = |hostnames: Option<Vec<&str>>| {
        let mut spec = json!({"parentRefs": [{"name": "shared", "namespace": "gateways"}]});
        if let Some(h) = hostnames {
            spec["hostnames"] = json!(h);
        }
        serde_json::from_value::<DynamicObject>(json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": unique_name("route")}, "spec": spec,
        }))
    };
    let gvk = GroupVersionKind::gvk("gateway.networking.k8s.io", "v1", "HTTPRoute");
    let routes: Api<DynamicObject> =
        Api::namespaced_with(alice.clone(), ns, &ApiResource::from_gvk(&gvk));
    // RBAC and discovery of the new kind take a moment
    let own_route = route(Some(vec![own]))?;
    poll_until("alice's HTTPRoute for her own host", TIMEOUT, || {
        let (routes, r) = (routes.clone(), own_route.clone());
        async move {
            routes
                .create(&PostParams::default(), &r)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
    })
    .await?;
    for (what, r) in [
        ("another tenant's host", route(Some(vec![own, others]))?),
        ("no hostnames (a catch-all)", route(None)?),
    ] {
        match routes.create(&PostParams::default(), &r).await {
            Err(kube::Error::Api(s)) if s.code == 403 || s.code == 422 => ensure!(
                s.message.contains("ingress-hosts: HTTPRoute")
                    && (s.message.contains("belongs to another tenant")
                        || s.message.contains("covers hosts of another tenant")),
                "{what}: {}",
                s.message
            ),
            other => bail!("alice's HTTPRoute with {what}: expected a refusal, got {other:?}"),
        }
    }
    let gw_gvk = GroupVersionKind::gvk("gateway.networking.k8s.io", "v1", "Gateway");
    let gateways: Api<DynamicObject> =
        Api::namespaced_with(alice.clone(), ns, &ApiResource::from_gvk(&gw_gvk));
    let gw: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": {"name": unique_name("gw")},
        "spec": {"gatewayClassName": "shared", "listeners": [
            {"name": "web", "port": 80, "protocol": "HTTP", "hostname": others}
        ]},
    }))?;
    match gateways.create(&PostParams::default(), &gw).await {
        Err(kube::Error::Api(s)) if s.code == 403 || s.code == 422 => ensure!(
            s.message.contains("belongs to another tenant"),
            "{}",
            s.message
        ),
        other => {
            bail!("alice's Gateway for another tenant's host: expected a refusal, got {other:?}")
        }
    }
    Ok(())
}

#[tokio::test]
#[ignore = "needs the local control plane and hack/components: hack/test runs it"]
async fn a_tenant_cannot_publish_another_tenants_host() -> Result<()> {
    let h = Harness::new("op-hosts").await?;
    let op = h.start_operator_with(|c| c.watch_namespace = None).await?;
    let suffix = unique_name("d");
    let (a_host, b_host) = (
        format!("shop-a.{suffix}.example.com"),
        format!("shop-b.{suffix}.example.com"),
    );
    let a = tenant(&h, "hosts-a", "alice", &a_host);
    let b = tenant(&h, "hosts-b", "bob", &b_host);
    h.create(&a).await?;
    h.create(&b).await?;
    let a = h.wait_phase(&a.name_any(), Phase::Running).await?;
    h.wait_phase(&b.name_any(), Phase::Running).await?;
    let a_ns = status_namespace(&a)?;
    map_holds(&h, &a_host, &a.spec.tenant_id, "allow").await?;
    map_holds(&h, &b_host, &b.spec.tenant_id, "allow").await?;

    let alice = h.cp.client_as("alice").await?;
    publish(&alice, &a_ns, &a_host).await?;
    publish(&alice, &a_ns, &format!("free.{suffix}.example.org")).await?;
    for host in [b_host.clone(), format!("*.{suffix}.example.com")] {
        let msg = refused(
            &format!("alice publishing {host}"),
            publish(&alice, &a_ns, &host).await,
        )?;
        ensure!(msg.contains("belongs to another tenant"), "{msg}");
    }
    // A catch-all (a rule without host) would receive the other tenant's host too.
    let mut catch_all = ingress(&a_host);
    if let Some(rules) = catch_all.spec.as_mut().and_then(|s| s.rules.as_mut()) {
        rules[0].host = None;
    }
    let msg = refused(
        "alice publishing a catch-all Ingress",
        Api::<Ingress>::namespaced(alice.clone(), &a_ns)
            .create(&PostParams::default(), &catch_all)
            .await,
    )?;
    ensure!(msg.contains("covers hosts of another tenant"), "{msg}");

    gateway_api_routes(&h, &alice, &a_ns, &a_host, &b_host).await?;
    op.stop().await?;

    // The platform refuses unclaimed hosts: only the tenant's own domain.
    let op = h
        .start_operator_with(|c| {
            c.watch_namespace = None;
            c.unclaimed_hosts = Unclaimed::Refuse;
        })
        .await?;
    map_holds(&h, &a_host, &a.spec.tenant_id, "refuse").await?;
    let msg = refused(
        "an unclaimed host",
        publish(&alice, &a_ns, &format!("other.{suffix}.example.org")).await,
    )?;
    ensure!(
        msg.contains("not under this tenant's customDomain"),
        "{msg}"
    );
    publish(&alice, &a_ns, &a_host).await?;
    ensure!(op.health.is_ready(), "the operator stays healthy");
    h.teardown().await?;
    op.stop().await
}
