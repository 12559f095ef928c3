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
use kube::api::{Api, PostParams};
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

fn refused(what: &str, r: kube::Result<Ingress>) -> Result<String> {
    match r {
        Err(kube::Error::Api(s)) if s.code == 403 || s.code == 422 => Ok(s.message),
        Err(e) => bail!("{what}: expected a refusal, got error {e}"),
        Ok(_) => bail!("{what}: expected a refusal, but it was allowed"),
    }
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

#[tokio::test]
#[ignore = "needs the local control plane: hack/test runs it"]
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
